/*
 * resize.c: Resize (opsets 10, 11, 13+) and Upsample (opsets 7 and 9).
 *
 * Every mode is separable: an output coordinate on one axis maps to a source
 * coordinate (coordinate_transformation_mode), which picks a few source
 * indices with weights (nearest: one; linear: two; cubic: four). run builds
 * these per-axis tables in the workspace, then each output element is the
 * weighted sum over the tensor product of its axes' taps. Axes that map
 * one-to-one (the N and C of an image resize) collapse to a single tap, so
 * a 2-D bilinear resize of NCHW reads four values per output.
 *
 * Nearest works for every dtype (it copies elements); linear and cubic need
 * float32 or float64. The weights and the sums are in double, as ONNX's
 * reference implementation computes them.
 */
#include <math.h>
#include <string.h>

#include "ops/op.h"

#define MAX_TENSOR_BYTES ((int64_t)1 << 40)

/* Every operator here writes output 0; a node that omits it is malformed. */
static lg_status need_output(const lg_node *node, lg_tensor *const *out) {
  if (node->n_out < 1 || !out[0])
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': output 0 is missing",
                    node->op_type, node->name);
  return LEDGE_OK;
}
#define MAX_TAPS 4

typedef enum resize_mode { MODE_NEAREST, MODE_LINEAR, MODE_CUBIC } resize_mode;

typedef enum coord_mode {
  COORD_HALF_PIXEL,
  COORD_PYTORCH_HALF_PIXEL,
  COORD_ALIGN_CORNERS,
  COORD_ASYMMETRIC,
  COORD_TF_HALF_PIXEL_FOR_NN,
  COORD_TF_CROP_AND_RESIZE
} coord_mode;

typedef enum nearest_mode {
  NEAREST_ROUND_PREFER_FLOOR,
  NEAREST_ROUND_PREFER_CEIL,
  NEAREST_FLOOR,
  NEAREST_CEIL,
  NEAREST_SIMPLE /* Upsample and Resize-10: floor, or ceil when downsampling */
} nearest_mode;

/* Everything about a Resize or Upsample node except its per-axis tables. */
typedef struct resize_params {
  resize_mode mode;
  coord_mode coord;
  nearest_mode nearest;
  double cubic_a;
  bool exclude_outside;
  double extrapolation;
  int rank;
  double scale[LEDGE_MAX_RANK];     /* output / input, per axis */
  double out_width[LEDGE_MAX_RANK]; /* scale * input (not rounded), as the reference uses */
  int64_t out_dims[LEDGE_MAX_RANK];
  double roi_start[LEDGE_MAX_RANK], roi_end[LEDGE_MAX_RANK];
} resize_params;

static bool is_upsample(const lg_node *node) { return !strcmp(node->op_type, "Upsample"); }

static lg_status parse_mode(const lg_node *node, resize_params *p) {
  memset(p, 0, sizeof *p);
  const char *mode = lg_attr_string(node, "mode", "nearest");
  if (!strcmp(mode, "nearest")) p->mode = MODE_NEAREST;
  else if (!strcmp(mode, "linear") || !strcmp(mode, "bilinear")) p->mode = MODE_LINEAR;
  else if (!strcmp(mode, "cubic") && !is_upsample(node)) p->mode = MODE_CUBIC;
  else
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': unknown mode '%s'", node->op_type,
                    node->name, mode);
  p->coord = COORD_ASYMMETRIC;
  p->nearest = NEAREST_SIMPLE;
  p->cubic_a = -0.75;
  p->exclude_outside = false;
  p->extrapolation = 0.0;
  if (is_upsample(node) || node->opset < 11) return LEDGE_OK;

  const char *coord = lg_attr_string(node, "coordinate_transformation_mode", "half_pixel");
  if (!strcmp(coord, "half_pixel")) p->coord = COORD_HALF_PIXEL;
  else if (!strcmp(coord, "pytorch_half_pixel")) p->coord = COORD_PYTORCH_HALF_PIXEL;
  else if (!strcmp(coord, "align_corners")) p->coord = COORD_ALIGN_CORNERS;
  else if (!strcmp(coord, "asymmetric")) p->coord = COORD_ASYMMETRIC;
  else if (!strcmp(coord, "tf_half_pixel_for_nn")) p->coord = COORD_TF_HALF_PIXEL_FOR_NN;
  else if (!strcmp(coord, "tf_crop_and_resize")) p->coord = COORD_TF_CROP_AND_RESIZE;
  else
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': unknown "
                    "coordinate_transformation_mode '%s'", node->op_type, node->name, coord);
  const char *nearest = lg_attr_string(node, "nearest_mode", "round_prefer_floor");
  if (!strcmp(nearest, "round_prefer_floor")) p->nearest = NEAREST_ROUND_PREFER_FLOOR;
  else if (!strcmp(nearest, "round_prefer_ceil")) p->nearest = NEAREST_ROUND_PREFER_CEIL;
  else if (!strcmp(nearest, "floor")) p->nearest = NEAREST_FLOOR;
  else if (!strcmp(nearest, "ceil")) p->nearest = NEAREST_CEIL;
  else
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': unknown nearest_mode '%s'",
                    node->op_type, node->name, nearest);
  p->cubic_a = lg_attr_float(node, "cubic_coeff_a", -0.75f);
  p->exclude_outside = lg_attr_int(node, "exclude_outside", 0) != 0;
  p->extrapolation = lg_attr_float(node, "extrapolation_value", 0.0f);
  if (lg_attr_find(node, "antialias") && lg_attr_int(node, "antialias", 0))
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': antialias is not supported",
                    node->op_type, node->name);
  return LEDGE_OK;
}

/* Reads scales or sizes and fills scale, out_width and out_dims. The inputs
 * are (X, scales) for Upsample-9 and Resize-10, (X, roi, scales, sizes) from
 * Resize-11; Upsample-7 has a scales attribute. */
static lg_status parse_sizes(const lg_node *node, lg_tensor *const *in, resize_params *p,
                             bool need_roi) {
  const lg_tensor *x = in[0];
  int rank = x->rank;
  p->rank = rank;
  const lg_tensor *scales = NULL, *sizes = NULL, *roi = NULL;
  bool modern = !is_upsample(node) && node->opset >= 11;
  if (modern) {
    roi = node->n_in > 1 ? in[1] : NULL;
    scales = node->n_in > 2 ? in[2] : NULL;
    sizes = node->n_in > 3 ? in[3] : NULL;
  } else if (is_upsample(node) && node->opset < 9) {
    const float *a;
    int n = lg_attr_floats(node, "scales", &a);
    if (n != rank)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': scales must have %d entries",
                      node->op_type, node->name, rank);
    for (int i = 0; i < rank; i++) p->scale[i] = a[i];
  } else {
    scales = node->n_in > 1 ? in[1] : NULL;
    if (!scales)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': input scales is missing",
                      node->op_type, node->name);
  }
  /* An empty scales tensor means "use sizes" (Resize-11 had no way to omit it). */
  if (scales && lg_tensor_count(scales) == 0) scales = NULL;
  if (sizes && lg_tensor_count(sizes) == 0) sizes = NULL;
  if (modern && !scales == !sizes)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': exactly one of scales and sizes "
                    "must be given", node->op_type, node->name);
  if (!modern && !scales && !(is_upsample(node) && node->opset < 9))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': scales is empty", node->op_type,
                    node->name);
  if (scales) {
    LG_TRY(lg_require_const(node, scales, modern ? 2 : 1));
    if (lg_tensor_count(scales) != rank || (scales->dtype != LEDGE_FLOAT32 &&
                                            scales->dtype != LEDGE_FLOAT64))
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': scales must be %d floats",
                      node->op_type, node->name, rank);
    for (int i = 0; i < rank; i++) p->scale[i] = lg_tensor_get_double(scales, i);
  }
  for (int i = 0; i < rank; i++) {
    int64_t d = x->dims[i];
    if (sizes) {
      LG_TRY(lg_require_const(node, sizes, 3));
      if (lg_tensor_count(sizes) != rank || sizes->dtype != LEDGE_INT64)
        return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': sizes must be %d int64s",
                        node->op_type, node->name, rank);
      int64_t o = lg_tensor_get_int(sizes, i);
      if (o < 0 || o > MAX_TENSOR_BYTES)
        return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': invalid size %lld",
                        node->op_type, node->name, (long long)o);
      p->out_dims[i] = o;
      p->scale[i] = d > 0 ? (double)o / (double)d : 1.0;
      p->out_width[i] = (double)o;
    } else {
      double s = p->scale[i];
      if (!(s > 0) || !isfinite(s) || (double)d * s > (double)MAX_TENSOR_BYTES)
        return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': invalid scale %g on axis %d",
                        node->op_type, node->name, s, i);
      p->out_width[i] = (double)d * s;
      p->out_dims[i] = (int64_t)floor(p->out_width[i]);
    }
  }
  for (int i = 0; i < rank; i++) {
    p->roi_start[i] = 0.0;
    p->roi_end[i] = 1.0;
  }
  if (p->coord == COORD_TF_CROP_AND_RESIZE && need_roi) {
    if (!roi || lg_tensor_count(roi) != 2 * rank || !roi->data ||
        (roi->dtype != LEDGE_FLOAT32 && roi->dtype != LEDGE_FLOAT64))
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': tf_crop_and_resize needs a roi "
                      "of %d floats", node->op_type, node->name, 2 * rank);
    for (int i = 0; i < rank; i++) {
      p->roi_start[i] = lg_tensor_get_double(roi, i);
      p->roi_end[i] = lg_tensor_get_double(roi, rank + i);
    }
  }
  return LEDGE_OK;
}

static int taps_of(resize_mode mode) {
  return mode == MODE_NEAREST ? 1 : mode == MODE_LINEAR ? 2 : 4;
}

/* Workspace layout, per axis: out_dims * MAX_TAPS indices (int64), as many
 * weights (double), and one "outside" byte per output index (rounded up). */
static size_t axis_table_bytes(int64_t out_dim) {
  return (size_t)out_dim * MAX_TAPS * (sizeof(int64_t) + sizeof(double)) +
         lg_align_up((size_t)out_dim, 8);
}

static lg_status resize_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  if (node->n_in < 1 || !in[0])
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': input X is missing",
                    node->op_type, node->name);
  const lg_tensor *x = in[0];
  if (ledge_dtype_size(x->dtype) == 0)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': dtype %s is not supported",
                    node->op_type, node->name, ledge_dtype_name(x->dtype));
  resize_params p;
  LG_TRY(parse_mode(node, &p));
  if (p.mode != MODE_NEAREST && x->dtype != LEDGE_FLOAT32 && x->dtype != LEDGE_FLOAT64)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': %s interpolation needs float32 or "
                    "float64, not %s", node->op_type, node->name,
                    p.mode == MODE_LINEAR ? "linear" : "cubic", ledge_dtype_name(x->dtype));
  if (x->rank < 1)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': X must have rank >= 1", node->op_type,
                    node->name);
  LG_TRY(parse_sizes(node, in, &p, false));
  int64_t count = lg_shape_count(p.rank, p.out_dims);
  if (count < 0 || count > MAX_TENSOR_BYTES / (int64_t)ledge_dtype_size(x->dtype))
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': output too large", node->op_type, node->name);
  /* roi is read at run time, so that it may be computed; it must exist now. */
  if (p.coord == COORD_TF_CROP_AND_RESIZE &&
      (node->n_in < 2 || !in[1] || lg_tensor_count(in[1]) != 2 * p.rank))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': tf_crop_and_resize needs a roi "
                    "of %d floats", node->op_type, node->name, 2 * p.rank);
  size_t ws = 0;
  for (int i = 0; i < p.rank; i++) ws += axis_table_bytes(p.out_dims[i]);
  node->workspace = ws;
  out[0]->dtype = x->dtype;
  lg_tensor_set_shape(out[0], p.rank, p.out_dims);
  return LEDGE_OK;
}

/* ---- Per-axis tables ---- */

typedef struct axis_table {
  int taps;        /* 1 when every output index reads one source index with weight 1 */
  int64_t *index;  /* [out_dim][MAX_TAPS] source indices, clamped into range */
  double *weight;  /* [out_dim][MAX_TAPS] */
  uint8_t *outside; /* [out_dim]: tf_crop_and_resize extrapolates here */
} axis_table;

static void cubic_coeffs(double r, double a, double *c) {
  double s = 1.0 - r;
  c[0] = ((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a;
  c[1] = ((a + 2) * r - (a + 3)) * r * r + 1;
  c[2] = ((a + 2) * s - (a + 3)) * s * s + 1;
  c[3] = ((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a;
}

/* The source coordinate of output index x on axis i. */
static double source_coordinate(const resize_params *p, int i, int64_t in_dim, double x) {
  double scale = p->scale[i], width = p->out_width[i];
  switch (p->coord) {
    case COORD_HALF_PIXEL: return (x + 0.5) / scale - 0.5;
    case COORD_PYTORCH_HALF_PIXEL: return width > 1.0 ? (x + 0.5) / scale - 0.5 : -0.5;
    case COORD_ALIGN_CORNERS:
      return width == 1.0 ? 0.0 : x * (double)(in_dim - 1) / (width - 1.0);
    case COORD_ASYMMETRIC: return x / scale;
    case COORD_TF_HALF_PIXEL_FOR_NN: return (x + 0.5) / scale;
    case COORD_TF_CROP_AND_RESIZE: {
      double start = p->roi_start[i], end = p->roi_end[i];
      double span = (double)(in_dim - 1);
      if (width == 1.0) return (end - start) * span / 2.0 + start * span;
      return x * (end - start) * span / (width - 1.0) + start * span;
    }
  }
  return 0.0;
}

static int64_t clamp_index(int64_t k, int64_t n) { return k < 0 ? 0 : k >= n ? n - 1 : k; }

static void build_axis(const resize_params *p, int i, int64_t in_dim, axis_table *t) {
  int64_t out_dim = p->out_dims[i];
  int n = taps_of(p->mode);
  bool single = true;
  for (int64_t o = 0; o < out_dim; o++) {
    int64_t *idx = t->index + o * MAX_TAPS;
    double *w = t->weight + o * MAX_TAPS;
    double x = source_coordinate(p, i, in_dim, (double)o);
    t->outside[o] = p->coord == COORD_TF_CROP_AND_RESIZE &&
                    (x < 0.0 || x > (double)(in_dim - 1));
    for (int k = 0; k < MAX_TAPS; k++) {
      idx[k] = 0;
      w[k] = 0.0;
    }
    if (p->mode == MODE_NEAREST) {
      double f = floor(x), r = x - f;
      int64_t k;
      switch (p->nearest) {
        case NEAREST_ROUND_PREFER_FLOOR: k = (int64_t)(r <= 0.5 ? f : f + 1); break;
        case NEAREST_ROUND_PREFER_CEIL: k = (int64_t)(r < 0.5 ? f : f + 1); break;
        case NEAREST_FLOOR: k = (int64_t)f; break;
        case NEAREST_CEIL: k = (int64_t)ceil(x); break;
        default: k = p->scale[i] < 1.0 ? (int64_t)ceil(x) : (int64_t)f; break;
      }
      idx[0] = clamp_index(k, in_dim);
      w[0] = 1.0;
      continue;
    }
    /* Linear and cubic, following the reference's neighbor choice: the
     * taps are floor(x) - n/2 + 1 ... floor(x) + n/2, except that an exact
     * integer x is treated as x - 1 with ratio 1. */
    double f = floor(x), r = x - f;
    if (r == 0.0) {
      f -= 1.0;
      r = 1.0;
    }
    double c[MAX_TAPS];
    if (n == 2) {
      c[0] = 1.0 - r;
      c[1] = r;
    } else {
      cubic_coeffs(r, p->cubic_a, c);
    }
    int64_t first = (int64_t)f - (n / 2 - 1);
    double sum = 0.0;
    for (int k = 0; k < n; k++) {
      int64_t src = first + k;
      if (p->exclude_outside && (src < 0 || src >= in_dim)) c[k] = 0.0;
      sum += c[k];
    }
    for (int k = 0; k < n; k++) {
      idx[k] = clamp_index(first + k, in_dim);
      w[k] = p->exclude_outside && sum != 0.0 ? c[k] / sum : c[k];
    }
  }
  /* Collapse to one tap when every output reads exactly one source. */
  for (int64_t o = 0; o < out_dim && single; o++) {
    const double *w = t->weight + o * MAX_TAPS;
    int nonzero = 0, at = 0;
    for (int k = 0; k < n; k++)
      if (w[k] != 0.0) {
        nonzero++;
        at = k;
      }
    single = nonzero <= 1 && (nonzero == 0 || w[at] == 1.0);
  }
  if (single && n > 1) {
    for (int64_t o = 0; o < out_dim; o++) {
      int64_t *idx = t->index + o * MAX_TAPS;
      double *w = t->weight + o * MAX_TAPS;
      int at = 0;
      for (int k = 0; k < n; k++)
        if (w[k] != 0.0) at = k;
      idx[0] = idx[at];
      w[0] = w[at];
    }
    n = 1;
  }
  t->taps = n;
}

/* ---- Run ---- */

typedef struct resize_job {
  const resize_params *p;
  const lg_tensor *x;
  lg_tensor *y;
  axis_table axes[LEDGE_MAX_RANK];
  int64_t in_stride[LEDGE_MAX_RANK];
} resize_job;

static inline double load(ledge_dtype dtype, const void *base, int64_t i) {
  return dtype == LEDGE_FLOAT64 ? ((const double *)base)[i] : ((const float *)base)[i];
}

static inline void store(ledge_dtype dtype, void *base, int64_t i, double v) {
  if (dtype == LEDGE_FLOAT64) ((double *)base)[i] = v;
  else ((float *)base)[i] = (float)v;
}

/* Most outer-axis tap combinations a row gathers on the fast path (a 2-D
 * cubic resize needs 4, a 3-D one 16); more falls back to the slow path. */
#define MAX_ROW_COMBOS 256

/* One output row of nearest resizing: the outer axes fix a base offset, the
 * last axis picks one element per output. */
static void nearest_row(const resize_job *job, const int64_t *idx, int64_t out_base) {
  const resize_params *p = job->p;
  int rank = p->rank;
  size_t elem = ledge_dtype_size(job->x->dtype);
  const axis_table *last = &job->axes[rank - 1];
  int64_t row = p->out_dims[rank - 1], last_stride = job->in_stride[rank - 1];
  int64_t base = 0;
  for (int i = 0; i < rank - 1; i++)
    base += job->axes[i].index[idx[i] * MAX_TAPS] * job->in_stride[i];
  if (elem == 4) {
    const uint32_t *src = (const uint32_t *)job->x->data + base;
    uint32_t *dst = (uint32_t *)job->y->data + out_base;
    for (int64_t o = 0; o < row; o++) dst[o] = src[last->index[o * MAX_TAPS] * last_stride];
    return;
  }
  const char *src = (const char *)job->x->data + base * (int64_t)elem;
  char *dst = (char *)job->y->data + out_base * (int64_t)elem;
  for (int64_t o = 0; o < row; o++)
    memcpy(dst + o * (int64_t)elem, src + last->index[o * MAX_TAPS] * last_stride * (int64_t)elem,
           elem);
}

/* Lists the (offset, weight) pairs of the outer axes' taps for one row;
 * returns their number, or -1 if there are more than max. */
static int row_combos(const resize_job *job, const int64_t *idx, int64_t *off, double *w,
                      int max) {
  int rank = job->p->rank, n = 1;
  off[0] = 0;
  w[0] = 1.0;
  for (int i = 0; i < rank - 1; i++) {
    const axis_table *t = &job->axes[i];
    if (n * t->taps > max) return -1;
    /* Expand every existing combination by this axis's taps, in place from the back. */
    for (int c = n - 1; c >= 0; c--)
      for (int k = t->taps - 1; k >= 0; k--) {
        off[c * t->taps + k] = off[c] + t->index[idx[i] * MAX_TAPS + k] * job->in_stride[i];
        w[c * t->taps + k] = w[c] * t->weight[idx[i] * MAX_TAPS + k];
      }
    n *= t->taps;
  }
  return n;
}

/* Computes output rows [begin, end); a row is one run of the last axis. */
static void resize_rows(void *ctx, int64_t begin, int64_t end) {
  const resize_job *job = ctx;
  const resize_params *p = job->p;
  int rank = p->rank;
  ledge_dtype dtype = job->x->dtype;
  size_t elem = ledge_dtype_size(dtype);
  int64_t row = p->out_dims[rank - 1];
  int64_t idx[LEDGE_MAX_RANK] = {0};
  int64_t rest = begin;
  for (int i = rank - 2; i >= 0; i--) {
    idx[i] = rest % p->out_dims[i];
    rest /= p->out_dims[i];
  }
  const axis_table *last = &job->axes[rank - 1];
  int64_t last_stride = job->in_stride[rank - 1];
  int64_t combo_off[MAX_ROW_COMBOS];
  double combo_w[MAX_ROW_COMBOS];
  for (int64_t r = begin; r < end; r++) {
    int64_t out_base = r * row;
    bool outside = false, any_outside = false;
    for (int i = 0; i < rank - 1; i++) outside |= job->axes[i].outside[idx[i]] != 0;
    for (int64_t o = 0; o < row && !any_outside; o++) any_outside = last->outside[o] != 0;
    int n_combos = -1;
    if (p->mode == MODE_NEAREST && !outside && !any_outside) {
      nearest_row(job, idx, out_base);
    } else if (p->mode != MODE_NEAREST && !outside &&
               (n_combos = row_combos(job, idx, combo_off, combo_w, MAX_ROW_COMBOS)) > 0) {
      /* Fast path: the row's outer taps are fixed; each output adds its last-axis taps. */
      int taps = last->taps;
      for (int64_t o = 0; o < row; o++) {
        if (last->outside[o]) {
          store(dtype, job->y->data, out_base + o, p->extrapolation);
          continue;
        }
        const int64_t *li = last->index + o * MAX_TAPS;
        const double *lw = last->weight + o * MAX_TAPS;
        double sum = 0.0;
        if (dtype == LEDGE_FLOAT32) {
          const float *x = job->x->data;
          for (int c = 0; c < n_combos; c++) {
            const float *src = x + combo_off[c];
            double part = 0.0;
            for (int k = 0; k < taps; k++) part += lw[k] * src[li[k] * last_stride];
            sum += combo_w[c] * part;
          }
        } else {
          for (int c = 0; c < n_combos; c++) {
            double part = 0.0;
            for (int k = 0; k < taps; k++)
              part += lw[k] * load(dtype, job->x->data, combo_off[c] + li[k] * last_stride);
            sum += combo_w[c] * part;
          }
        }
        store(dtype, job->y->data, out_base + o, sum);
      }
    } else {
      /* General path: extrapolated rows, nearest with extrapolation, huge tap counts. */
      int64_t tap[LEDGE_MAX_RANK] = {0};
      for (int64_t o = 0; o < row; o++) {
        bool out_o = outside || last->outside[o];
        if (out_o) {
          if (dtype == LEDGE_FLOAT32 || dtype == LEDGE_FLOAT64)
            store(dtype, job->y->data, out_base + o, p->extrapolation);
          else /* integers (nearest only) extrapolate with zero */
            memset((char *)job->y->data + (out_base + o) * (int64_t)elem, 0, elem);
          continue;
        }
        if (p->mode == MODE_NEAREST) {
          int64_t off = last->index[o * MAX_TAPS] * last_stride;
          for (int i = 0; i < rank - 1; i++)
            off += job->axes[i].index[idx[i] * MAX_TAPS] * job->in_stride[i];
          memcpy((char *)job->y->data + (out_base + o) * (int64_t)elem,
                 (const char *)job->x->data + off * (int64_t)elem, elem);
          continue;
        }
        double sum = 0.0;
        for (int i = 0; i < rank - 1; i++) tap[i] = 0;
        for (;;) {
          double w = 1.0;
          int64_t off = 0;
          for (int i = 0; i < rank - 1; i++) {
            const axis_table *t = &job->axes[i];
            w *= t->weight[idx[i] * MAX_TAPS + tap[i]];
            off += t->index[idx[i] * MAX_TAPS + tap[i]] * job->in_stride[i];
          }
          if (w != 0.0) {
            for (int k = 0; k < last->taps; k++) {
              double wk = last->weight[o * MAX_TAPS + k];
              if (wk != 0.0)
                sum += w * wk *
                       load(dtype, job->x->data, off + last->index[o * MAX_TAPS + k] * last_stride);
            }
          }
          int i = rank - 2;
          for (; i >= 0; i--) {
            if (++tap[i] < job->axes[i].taps) break;
            tap[i] = 0;
          }
          if (i < 0) break;
        }
        store(dtype, job->y->data, out_base + o, sum);
      }
    }
    for (int i = rank - 2; i >= 0; i--) {
      if (++idx[i] < p->out_dims[i]) break;
      idx[i] = 0;
    }
  }
}

static lg_status resize_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                            const lg_exec *exec) {
  resize_params p;
  LG_TRY(parse_mode(node, &p));
  LG_TRY(parse_sizes(node, in, &p, true));
  int64_t count = lg_tensor_count(out[0]);
  if (count == 0) return LEDGE_OK;
  if (lg_tensor_count(in[0]) == 0)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': cannot resize an empty tensor to a "
                    "non-empty one", node->op_type, node->name);
  resize_job job = {.p = &p, .x = in[0], .y = out[0]};
  char *ws = exec->workspace;
  for (int i = 0; i < p.rank; i++) {
    axis_table *t = &job.axes[i];
    int64_t od = p.out_dims[i];
    t->index = (int64_t *)ws;
    t->weight = (double *)(ws + (size_t)od * MAX_TAPS * sizeof(int64_t));
    t->outside = (uint8_t *)(ws + (size_t)od * MAX_TAPS * (sizeof(int64_t) + sizeof(double)));
    ws += axis_table_bytes(od);
    build_axis(&p, i, in[0]->dims[i], t);
  }
  int64_t s = 1;
  for (int i = p.rank - 1; i >= 0; i--) {
    job.in_stride[i] = s;
    s *= in[0]->dims[i];
  }
  int64_t rows = count / p.out_dims[p.rank - 1];
  if (exec->pool && count >= 4096 && rows > 1)
    lg_parallel_for(exec->pool, rows, resize_rows, &job);
  else
    resize_rows(&job, 0, rows);
  return LEDGE_OK;
}

const lg_op_def lg_ops_resize[] = {
    {.name = "Resize", .domain = "", .infer = resize_infer, .run = resize_run},
    {.name = "Upsample", .domain = "", .infer = resize_infer, .run = resize_run},
    {0},
};
