/*
 * signal.c: ONNX's signal-processing operators (opset 17), the front end
 * of audio models on devices (keyword spotting, sound events): the window
 * functions, DFT, STFT and MelWeightMatrix.
 *
 * Complex tensors are real tensors with a last dimension of 2 (re, im), as
 * ONNX defines them. The transforms are direct O(n^2) DFTs evaluated in
 * double: exact enough to be the reference, and audio frames are short.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static lg_status scalar_int(const lg_node *node, lg_tensor *const *in, int index, int64_t *out) {
  LG_TRY(lg_require_const(node, in[index], index));
  if (lg_tensor_count(in[index]) != 1)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': input %d must be a scalar", node->op_type, node->name, index);
  *out = lg_tensor_get_int(in[index], 0);
  return LEDGE_OK;
}

static void store(lg_tensor *t, int64_t i, double v) {
  if (t->dtype == LEDGE_FLOAT64) ((double *)t->data)[i] = v;
  else if (t->dtype == LEDGE_FLOAT16) ((uint16_t *)t->data)[i] = lg_float_to_half((float)v);
  else ((float *)t->data)[i] = (float)v;
}

static lg_status float_output_dtype(const lg_node *node, ledge_dtype *out) {
  int64_t dt = lg_attr_int(node, "output_datatype", LEDGE_FLOAT32);
  if (dt != LEDGE_FLOAT32 && dt != LEDGE_FLOAT64 && dt != LEDGE_FLOAT16)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': output_datatype %lld is not supported", node->op_type,
                    node->name, (long long)dt);
  *out = (ledge_dtype)dt;
  return LEDGE_OK;
}

/* ---- Windows ---- */

static lg_status window_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 1, 1));
  int64_t size;
  LG_TRY(scalar_int(node, in, 0, &size));
  if (size < 0 || size > (1 << 24))
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': window size %lld is out of range", node->op_type, node->name,
                    (long long)size);
  LG_TRY(float_output_dtype(node, &out[0]->dtype));
  lg_tensor_set_shape(out[0], 1, &size);
  return LEDGE_OK;
}

/* sum_k a_k cos(2 pi k n / N) with alternating signs: the cosine-sum family. */
static lg_status window_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out, const lg_exec *exec) {
  double a[3] = {0};
  if (!strcmp(node->op_type, "HannWindow")) a[0] = 0.5, a[1] = 0.5;
  else if (!strcmp(node->op_type, "HammingWindow")) a[0] = 25.0 / 46.0, a[1] = 1 - 25.0 / 46.0;
  else a[0] = 0.42, a[1] = 0.5, a[2] = 0.08; /* Blackman */
  int64_t n = out[0]->dims[0];
  double denom = lg_attr_int(node, "periodic", 1) ? (double)n : (double)(n - 1);
  for (int64_t i = 0; i < n; i++) {
    double x = denom > 0 ? 2 * M_PI * (double)i / denom : 0;
    store(out[0], i, a[0] - a[1] * cos(x) + a[2] * cos(2 * x));
  }
  return LEDGE_OK;
}

/* ---- DFT ---- */

typedef struct dft_plan {
  int axis, rank; /* axis into the signal dims (excludes the complex dim) */
  int64_t n_in, n, n_out; /* samples read, transform length, bins written */
  int64_t outer, inner;  /* elements before and after the axis */
  bool complex_in, inverse;
} dft_plan;

static lg_status dft_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 1, 3));
  const lg_tensor *x = in[0];
  if (!x) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': the input is missing", node->op_type, node->name);
  if (x->dtype != LEDGE_FLOAT32 && x->dtype != LEDGE_FLOAT64)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': dtype %s", node->op_type, node->name, ledge_dtype_name(x->dtype));
  if (x->rank < 3 || (x->dims[x->rank - 1] != 1 && x->dims[x->rank - 1] != 2))
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': input must be [batch, ..., 1 or 2]", node->op_type, node->name);
  dft_plan p = {0};
  p.rank = x->rank - 1;
  int64_t axis = lg_attr_int(node, "axis", 1);
  if (node->n_in > 2 && in[2]) LG_TRY(scalar_int(node, in, 2, &axis));
  if (axis < 0) axis += x->rank;
  if (axis < 1 || axis >= p.rank)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': axis %lld is not a signal axis", node->op_type, node->name, (long long)axis);
  p.axis = (int)axis;
  p.complex_in = x->dims[x->rank - 1] == 2;
  p.inverse = lg_attr_int(node, "inverse", 0) != 0;
  bool onesided = lg_attr_int(node, "onesided", 0) != 0;
  if (onesided && p.complex_in)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': onesided needs a real input", node->op_type, node->name);
  p.n = x->dims[axis];
  if (node->n_in > 1 && in[1]) LG_TRY(scalar_int(node, in, 1, &p.n));
  if (p.n < 1 || p.n > (1 << 24))
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': dft_length %lld is out of range", node->op_type, node->name, (long long)p.n);
  p.n_in = x->dims[axis] < p.n ? x->dims[axis] : p.n; /* zero-padded or truncated */
  p.n_out = onesided ? p.n / 2 + 1 : p.n;
  p.outer = lg_shape_count(axis, x->dims);
  p.inner = lg_shape_count(p.rank - axis - 1, x->dims + axis + 1);
  int64_t dims[LEDGE_MAX_RANK];
  memcpy(dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
  dims[axis] = p.n_out;
  dims[x->rank - 1] = 2;
  out[0]->dtype = x->dtype;
  lg_tensor_set_shape(out[0], x->rank, dims);
  node->state = malloc(sizeof p);
  if (!node->state) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  memcpy(node->state, &p, sizeof p);
  return LEDGE_OK;
}

static double get(const lg_tensor *t, int64_t i) {
  return t->dtype == LEDGE_FLOAT64 ? ((const double *)t->data)[i] : ((const float *)t->data)[i];
}

/* One transform: n_in samples at x_at(k) (complex pairs), n_out bins out. */
static void dft_line(const lg_tensor *x, int64_t x0, int64_t x_step, bool complex_in, const lg_tensor *w, int64_t n_in,
                     int64_t n, int64_t n_out, bool inverse, lg_tensor *y, int64_t y0, int64_t y_step) {
  double sign = inverse ? 1 : -1;
  for (int64_t f = 0; f < n_out; f++) {
    double re = 0, im = 0;
    for (int64_t k = 0; k < n_in; k++) {
      int64_t at = x0 + k * x_step;
      double xr = complex_in ? get(x, 2 * at) : get(x, at), xi = complex_in ? get(x, 2 * at + 1) : 0;
      if (w) {
        double wk = get(w, k);
        xr *= wk;
        xi *= wk;
      }
      double angle = sign * 2 * M_PI * (double)((f * k) % n) / (double)n; /* exact phase for large f*k */
      double c = cos(angle), s = sin(angle);
      re += xr * c - xi * s;
      im += xr * s + xi * c;
    }
    if (inverse) re /= (double)n, im /= (double)n;
    store(y, 2 * (y0 + f * y_step), re);
    store(y, 2 * (y0 + f * y_step) + 1, im);
  }
}

static lg_status dft_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out, const lg_exec *exec) {
  const dft_plan *p = node->state;
  const lg_tensor *x = in[0];
  int64_t len_in = x->dims[p->axis];
  for (int64_t o = 0; o < p->outer; o++)
    for (int64_t i = 0; i < p->inner; i++)
      dft_line(x, o * len_in * p->inner + i, p->inner, p->complex_in, NULL, p->n_in, p->n, p->n_out, p->inverse,
               out[0], o * p->n_out * p->inner + i, p->inner);
  return LEDGE_OK;
}

/* ---- STFT ---- */

typedef struct stft_plan {
  int64_t batch, length, step, frame, frames, bins;
  bool complex_in;
} stft_plan;

static lg_status stft_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 2, 4));
  const lg_tensor *x = in[0], *window = node->n_in > 2 ? in[2] : NULL;
  if (!x) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': the signal is missing", node->op_type, node->name);
  if (x->dtype != LEDGE_FLOAT32 && x->dtype != LEDGE_FLOAT64)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': dtype %s", node->op_type, node->name, ledge_dtype_name(x->dtype));
  if (x->rank != 3 || (x->dims[2] != 1 && x->dims[2] != 2))
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': signal must be [batch, length, 1 or 2]", node->op_type, node->name);
  stft_plan p = {x->dims[0], x->dims[1], 0, 0, 0, 0, x->dims[2] == 2};
  LG_TRY(scalar_int(node, in, 1, &p.step));
  if (window && (window->rank != 1 || window->dtype != x->dtype))
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': window must be 1-D of the signal's dtype", node->op_type, node->name);
  if (node->n_in > 3 && in[3]) LG_TRY(scalar_int(node, in, 3, &p.frame));
  else if (window) p.frame = window->dims[0];
  else return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': needs a window or a frame_length", node->op_type, node->name);
  if (window && window->dims[0] != p.frame)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': window length differs from frame_length", node->op_type, node->name);
  if (p.step < 1 || p.frame < 1 || p.frame > p.length)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': frame_step %lld / frame_length %lld do not fit a signal of %lld",
                    node->op_type, node->name, (long long)p.step, (long long)p.frame, (long long)p.length);
  bool onesided = lg_attr_int(node, "onesided", 1) != 0;
  if (onesided && p.complex_in)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': onesided needs a real signal", node->op_type, node->name);
  p.frames = 1 + (p.length - p.frame) / p.step;
  p.bins = onesided ? p.frame / 2 + 1 : p.frame;
  int64_t dims[4] = {p.batch, p.frames, p.bins, 2};
  out[0]->dtype = x->dtype;
  lg_tensor_set_shape(out[0], 4, dims);
  node->state = malloc(sizeof p);
  if (!node->state) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  memcpy(node->state, &p, sizeof p);
  return LEDGE_OK;
}

static lg_status stft_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out, const lg_exec *exec) {
  const stft_plan *p = node->state;
  const lg_tensor *window = node->n_in > 2 ? in[2] : NULL;
  for (int64_t b = 0; b < p->batch; b++)
    for (int64_t f = 0; f < p->frames; f++)
      dft_line(in[0], b * p->length + f * p->step, 1, p->complex_in, window, p->frame, p->frame, p->bins, false, out[0],
               (b * p->frames + f) * p->bins, 1);
  return LEDGE_OK;
}

/* ---- MelWeightMatrix ---- */

typedef struct mel_plan {
  int64_t mels, dft_length, sample_rate;
  double lower_hz, upper_hz;
} mel_plan;

static lg_status scalar_double(const lg_node *node, lg_tensor *const *in, int index, double *out) {
  LG_TRY(lg_require_const(node, in[index], index));
  if (lg_tensor_count(in[index]) != 1)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': input %d must be a scalar", node->op_type, node->name, index);
  *out = lg_tensor_get_double(in[index], 0);
  return LEDGE_OK;
}

static lg_status mel_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 5, 5));
  mel_plan p;
  LG_TRY(scalar_int(node, in, 0, &p.mels));
  LG_TRY(scalar_int(node, in, 1, &p.dft_length));
  LG_TRY(scalar_int(node, in, 2, &p.sample_rate));
  LG_TRY(scalar_double(node, in, 3, &p.lower_hz));
  LG_TRY(scalar_double(node, in, 4, &p.upper_hz));
  if (p.mels < 1 || p.mels > 4096 || p.dft_length < 1 || p.dft_length > (1 << 20) || p.sample_rate < 1 ||
      !(p.lower_hz >= 0) || !(p.upper_hz > p.lower_hz))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': bins, length, rate or edges out of range", node->op_type, node->name);
  LG_TRY(float_output_dtype(node, &out[0]->dtype));
  int64_t dims[2] = {p.dft_length / 2 + 1, p.mels};
  lg_tensor_set_shape(out[0], 2, dims);
  node->state = malloc(sizeof p);
  if (!node->state) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  memcpy(node->state, &p, sizeof p);
  node->workspace = sizeof(int64_t) * (size_t)(p.mels + 2);
  return LEDGE_OK;
}

/* Triangular filters whose edges are equally spaced on the mel scale
 * (2595 log10(1 + hz / 700)), mapped to DFT bins as ONNX's reference does. */
static lg_status mel_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out, const lg_exec *exec) {
  const mel_plan *p = node->state;
  int64_t *edge = exec->workspace, bins = p->dft_length / 2 + 1;
  double lo = 2595 * log10(1 + p->lower_hz / 700), hi = 2595 * log10(1 + p->upper_hz / 700);
  double step = (hi - lo) / (double)(p->mels + 2);
  for (int64_t i = 0; i < p->mels + 2; i++) {
    double hz = 700 * (pow(10, ((double)i * step + lo) / 2595) - 1);
    edge[i] = (int64_t)floor((double)(p->dft_length + 1) * hz / (double)p->sample_rate);
    if (edge[i] < 0) edge[i] = 0;
    if (edge[i] >= bins) edge[i] = bins - 1;
  }
  memset(out[0]->data, 0, lg_tensor_bytes(out[0]));
  for (int64_t m = 0; m < p->mels; m++) {
    int64_t lower = edge[m], center = edge[m + 1], higher = edge[m + 2];
    if (center == lower) store(out[0], center * p->mels + m, 1);
    else
      for (int64_t j = lower; j <= center; j++) store(out[0], j * p->mels + m, (double)(j - lower) / (double)(center - lower));
    for (int64_t j = center; j < higher; j++) store(out[0], j * p->mels + m, (double)(higher - j) / (double)(higher - center));
  }
  return LEDGE_OK;
}

const lg_op_def lg_ops_signal[] = {
    {.name = "HannWindow", .domain = "", .infer = window_infer, .run = window_run},
    {.name = "HammingWindow", .domain = "", .infer = window_infer, .run = window_run},
    {.name = "BlackmanWindow", .domain = "", .infer = window_infer, .run = window_run},
    {.name = "DFT", .domain = "", .infer = dft_infer, .run = dft_run},
    {.name = "STFT", .domain = "", .infer = stft_infer, .run = stft_run},
    {.name = "MelWeightMatrix", .domain = "", .infer = mel_infer, .run = mel_run},
    {0},
};
