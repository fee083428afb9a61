/*
 * quant.c: reference kernels of ONNX's quantization operators, the oracle
 * for the int8 kernels to come: QuantizeLinear, DequantizeLinear,
 * DynamicQuantizeLinear, MatMulInteger, QLinearMatMul, ConvInteger and
 * QLinearConv.
 *
 * Quantized values are q = saturate(round_half_even(x / scale) + zero_point)
 * and x = (q - zero_point) * scale, with a scale and zero point per tensor
 * or per slice along one axis. Integer products accumulate in int32.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/qgemm.h"
#include "ops/nn_common.h"

/* ---- Scalars and parameters ---- */

static bool is_q8(ledge_dtype d) { return d == LEDGE_UINT8 || d == LEDGE_INT8; }

static int32_t q8_get(const lg_tensor *t, int64_t i) {
  return t->dtype == LEDGE_UINT8 ? ((const uint8_t *)t->data)[i] : ((const int8_t *)t->data)[i];
}

/* Rounds half to even and saturates to the range of dtype. */
static void q_store(lg_tensor *t, int64_t i, double v) {
  double r = nearbyint(v); /* the default rounding mode is to nearest, ties to even */
  if (isnan(r)) r = 0;     /* a zero scale or NaN input: converting NaN would be undefined */
  if (t->dtype == LEDGE_UINT8)
    ((uint8_t *)t->data)[i] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
  else if (t->dtype == LEDGE_INT8)
    ((int8_t *)t->data)[i] = (int8_t)(r < -128 ? -128 : r > 127 ? 127 : r);
  else
    ((int32_t *)t->data)[i] = (int32_t)(r < -2147483648.0  ? -2147483648.0
                                        : r > 2147483647.0 ? 2147483647.0
                                                           : r);
}

/* A scale or zero point: one value, or one per slice of `axis` of a tensor
 * of shape dims. Returns the parameter index of flat element i. */
typedef struct {
  int64_t count; /* 1, or dims[axis] */
  int64_t inner; /* elements per slice step along axis */
} param_layout;

static lg_status param_check(const lg_node *node, const lg_tensor *p, const lg_tensor *x, int axis,
                             const char *what, param_layout *lay) {
  int64_t n = lg_tensor_count(p);
  lay->count = 1;
  lay->inner = 1;
  if (n == 1 && p->rank <= 1) return LEDGE_OK;
  if (p->rank != 1 || axis < 0 || axis >= x->rank || n != x->dims[axis])
    return lg_error(LEDGE_ERR_SHAPE,
                    "%s node '%s': %s must be a scalar or have one value per slice of axis %d",
                    node->op_type, node->name, what, axis);
  lay->count = n;
  lay->inner = lg_shape_count(x->rank - axis - 1, x->dims + axis + 1);
  return LEDGE_OK;
}

static inline int64_t param_index(const param_layout *lay, int64_t i) {
  return lay->count == 1 ? 0 : (i / lay->inner) % lay->count;
}

static int quant_axis(const lg_node *node, const lg_tensor *x) {
  int axis = 1;
  if (!lg_normalize_axis(lg_attr_int(node, "axis", 1), x->rank > 0 ? x->rank : 1, &axis)) axis = -1;
  return axis;
}

/* ---- QuantizeLinear / DequantizeLinear ---- */

static lg_status quantize_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 2, 3));
  const lg_tensor *x = in[0], *scale = in[1], *zp = node->n_in > 2 ? in[2] : NULL;
  if (!x || !scale)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': x and scale are required",
                    node->op_type, node->name);
  if (x->dtype != LEDGE_FLOAT32 && x->dtype != LEDGE_INT32)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': input dtype %s", node->op_type,
                    node->name, ledge_dtype_name(x->dtype));
  if (scale->dtype != LEDGE_FLOAT32)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': scale must be float32", node->op_type,
                    node->name);
  if (zp && !is_q8(zp->dtype))
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': zero point must be uint8 or int8",
                    node->op_type, node->name);
  param_layout lay;
  int axis = quant_axis(node, x);
  LG_TRY(param_check(node, scale, x, axis, "scale", &lay));
  if (zp) LG_TRY(param_check(node, zp, x, axis, "zero point", &lay));
  out[0]->dtype = zp ? zp->dtype : LEDGE_UINT8;
  lg_tensor_set_shape(out[0], x->rank, x->dims);
  return LEDGE_OK;
}

static lg_status quantize_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                              const lg_exec *exec) {
  const lg_tensor *x = in[0], *scale = in[1], *zp = node->n_in > 2 ? in[2] : NULL;
  if (x->dtype == LEDGE_FLOAT32 && lg_tensor_count(scale) == 1 &&
      (!zp || lg_tensor_count(zp) == 1) && is_q8(out[0]->dtype) &&
      lg_isa_active() != LG_ISA_REFERENCE) {
    bool u8 = out[0]->dtype == LEDGE_UINT8;
    lg_quantize_f32(lg_isa_active(), x->data, lg_tensor_count(x), ((const float *)scale->data)[0],
                    zp ? (float)q8_get(zp, 0) : 0.0f, u8 ? 0.0f : -128.0f, u8 ? 255.0f : 127.0f, u8,
                    out[0]->data);
    return LEDGE_OK;
  }
  int axis = quant_axis(node, x);
  param_layout ls, lz = {1, 1};
  LG_TRY(param_check(node, scale, x, axis, "scale", &ls));
  if (zp) LG_TRY(param_check(node, zp, x, axis, "zero point", &lz));
  int64_t n = lg_tensor_count(x);
  for (int64_t i = 0; i < n; i++) {
    float s = ((const float *)scale->data)[param_index(&ls, i)];
    double z = zp ? q8_get(zp, param_index(&lz, i)) : 0;
    /* Divide in float32 as the specification's reference does: a value
     * that lands on .5 in float32 may not in double. */
    float v = x->dtype == LEDGE_FLOAT32 ? ((const float *)x->data)[i] / s
                                        : (float)(lg_tensor_get_double(x, i) / s);
    q_store(out[0], i, nearbyint(v) + z);
  }
  return LEDGE_OK;
}

static lg_status dequantize_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 2, 3));
  const lg_tensor *x = in[0], *scale = in[1], *zp = node->n_in > 2 ? in[2] : NULL;
  if (!x || !scale)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': x and scale are required",
                    node->op_type, node->name);
  if (!is_q8(x->dtype) && x->dtype != LEDGE_INT32)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': input dtype %s", node->op_type,
                    node->name, ledge_dtype_name(x->dtype));
  if (scale->dtype != LEDGE_FLOAT32)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': scale must be float32", node->op_type,
                    node->name);
  if (zp && zp->dtype != x->dtype)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT,
                    "%s node '%s': zero point dtype differs from the input's", node->op_type,
                    node->name);
  param_layout lay;
  int axis = quant_axis(node, x);
  LG_TRY(param_check(node, scale, x, axis, "scale", &lay));
  if (zp) LG_TRY(param_check(node, zp, x, axis, "zero point", &lay));
  out[0]->dtype = LEDGE_FLOAT32;
  lg_tensor_set_shape(out[0], x->rank, x->dims);
  return LEDGE_OK;
}

static lg_status dequantize_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                                const lg_exec *exec) {
  const lg_tensor *x = in[0], *scale = in[1], *zp = node->n_in > 2 ? in[2] : NULL;
  if (is_q8(x->dtype) && lg_tensor_count(scale) == 1 && (!zp || lg_tensor_count(zp) == 1) &&
      lg_isa_active() != LG_ISA_REFERENCE) {
    lg_dequantize_8(lg_isa_active(), x->data, lg_tensor_count(x), x->dtype == LEDGE_UINT8,
                    zp ? q8_get(zp, 0) : 0, ((const float *)scale->data)[0], out[0]->data);
    return LEDGE_OK;
  }
  int axis = quant_axis(node, x);
  param_layout ls, lz = {1, 1};
  LG_TRY(param_check(node, scale, x, axis, "scale", &ls));
  if (zp) LG_TRY(param_check(node, zp, x, axis, "zero point", &lz));
  int64_t n = lg_tensor_count(x);
  float *y = out[0]->data;
  for (int64_t i = 0; i < n; i++) {
    int64_t q = lg_tensor_get_int(x, i), z = zp ? lg_tensor_get_int(zp, param_index(&lz, i)) : 0;
    y[i] = (float)(q - z) * ((const float *)scale->data)[param_index(&ls, i)];
  }
  return LEDGE_OK;
}

/* ---- DynamicQuantizeLinear: uint8 with a scale and zero point from the data ---- */

static lg_status dynq_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 1, 1));
  LG_TRY(lg_check_float(node, in[0], 0));
  if (node->n_out != 3 || !out[1] || !out[2])
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': needs its three outputs",
                    node->op_type, node->name);
  out[0]->dtype = LEDGE_UINT8;
  lg_tensor_set_shape(out[0], in[0]->rank, in[0]->dims);
  out[1]->dtype = LEDGE_FLOAT32;
  lg_tensor_set_shape(out[1], 0, NULL);
  out[2]->dtype = LEDGE_UINT8;
  lg_tensor_set_shape(out[2], 0, NULL);
  return LEDGE_OK;
}

static lg_status dynq_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                          const lg_exec *exec) {
  const float *x = in[0]->data;
  int64_t n = lg_tensor_count(in[0]);
  float lo = 0, hi = 0; /* the range always includes 0, so 0 is exact */
  for (int64_t i = 0; i < n; i++) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
  }
  float scale = (hi - lo) / 255.0f;
  double zp = scale > 0 ? nearbyint(-lo / scale) : 0;
  zp = zp < 0 ? 0 : zp > 255 ? 255 : zp;
  ((float *)out[1]->data)[0] = scale;
  ((uint8_t *)out[2]->data)[0] = (uint8_t)zp;
  for (int64_t i = 0; i < n; i++) q_store(out[0], i, scale > 0 ? nearbyint(x[i] / scale) + zp : zp);
  return LEDGE_OK;
}

/* ---- Integer matrix products ---- */

/* [..., M, K] x [..., K, N] with batch dimensions equal or absent on one
 * side (the common cases of quantized models). */
typedef struct {
  int64_t batch, m, k, n;
  bool a_batched, b_batched;
} imm_shape;

static lg_status imm_shape_of(const lg_node *node, const lg_tensor *a, const lg_tensor *b,
                              imm_shape *s, int *rank_out, int64_t *dims_out) {
  if (a->rank < 2 || b->rank < 2)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': operands must have rank >= 2",
                    node->op_type, node->name);
  s->m = a->dims[a->rank - 2];
  s->k = a->dims[a->rank - 1];
  s->n = b->dims[b->rank - 1];
  if (b->dims[b->rank - 2] != s->k)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': inner dimensions %lld and %lld differ",
                    node->op_type, node->name, (long long)s->k, (long long)b->dims[b->rank - 2]);
  const lg_tensor *big = a->rank >= b->rank ? a : b;
  int64_t ab = lg_shape_count(a->rank - 2, a->dims), bb = lg_shape_count(b->rank - 2, b->dims);
  if (ab != 1 && bb != 1 && !lg_shape_equal(a->rank - 2, a->dims, b->rank - 2, b->dims))
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': broadcasting between batch shapes",
                    node->op_type, node->name);
  s->batch = ab > bb ? ab : bb;
  s->a_batched = ab > 1;
  s->b_batched = bb > 1;
  *rank_out = big->rank;
  memcpy(dims_out, big->dims, sizeof(int64_t) * (size_t)big->rank);
  dims_out[big->rank - 2] = s->m;
  dims_out[big->rank - 1] = s->n;
  return LEDGE_OK;
}

/* acc[m, n] = sum_k (a[m,k] - za(m)) * (b[k,n] - zb(n)) for one batch. */
static void imm(const lg_tensor *a, int64_t a_off, const lg_tensor *za, const lg_tensor *b,
                int64_t b_off, const lg_tensor *zb, const imm_shape *s, int32_t *acc) {
  for (int64_t i = 0; i < s->m; i++) {
    int32_t zai = za ? q8_get(za, lg_tensor_count(za) == 1 ? 0 : i) : 0;
    for (int64_t j = 0; j < s->n; j++) {
      int32_t zbj = zb ? q8_get(zb, lg_tensor_count(zb) == 1 ? 0 : j) : 0;
      int64_t sum = 0; /* int64: hostile K must not overflow (undefined behaviour) */
      for (int64_t p = 0; p < s->k; p++)
        sum += (q8_get(a, a_off + i * s->k + p) - zai) * (q8_get(b, b_off + p * s->n + j) - zbj);
      acc[i * s->n + j] = (int32_t)(uint32_t)sum; /* int32 accumulation wraps, as the spec's does */
    }
  }
}

static lg_status check_zp(const lg_node *node, const lg_tensor *z, int64_t allowed,
                          const char *what) {
  if (!z) return LEDGE_OK;
  int64_t n = lg_tensor_count(z);
  if (!is_q8(z->dtype) || (n != 1 && n != allowed) || z->rank > 1)
    return lg_error(LEDGE_ERR_UNSUPPORTED,
                    "%s node '%s': %s must be a uint8/int8 scalar or vector of %lld", node->op_type,
                    node->name, what, (long long)allowed);
  return LEDGE_OK;
}

/* ---- Integer convolutions (2-D NCHW and 1-D/3-D through the shared window) ---- */

typedef struct {
  lg_window w;
  int64_t batch, cin, cout, group;
} qconv_shape;

static lg_status qconv_shape_of(const lg_node *node, const lg_tensor *x, const lg_tensor *wt,
                                qconv_shape *s) {
  if (x->rank < 3 || x->rank > 5 || wt->rank != x->rank)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': x and w must both be 3-D to 5-D", node->op_type,
                    node->name);
  s->batch = x->dims[0];
  s->cin = x->dims[1];
  s->cout = wt->dims[0];
  s->group = lg_attr_int(node, "group", 1);
  if (s->group < 1 || s->cin % s->group || s->cout % s->group || wt->dims[1] * s->group != s->cin)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': channels do not match the group count",
                    node->op_type, node->name);
  return lg_window_init(node, x->rank - 2, x->dims + 2, wt->dims + 2, false, &s->w);
}

/* acc[o, pixel] for one image, int32, zero points subtracted. */
static void qconv_image(const lg_tensor *x, int64_t image, int32_t zx, const lg_tensor *wt,
                        const lg_tensor *zw, const qconv_shape *s, int32_t *acc) {
  const lg_window *w = &s->w;
  int64_t cin_g = s->cin / s->group, cout_g = s->cout / s->group;
  int64_t in_plane = w->in[0] * w->in[1] * w->in[2], out_plane = w->out[0] * w->out[1] * w->out[2];
  int64_t ksize = w->kernel[0] * w->kernel[1] * w->kernel[2];
  for (int64_t o = 0; o < s->cout; o++) {
    int64_t g = o / cout_g;
    int32_t zwo = zw ? q8_get(zw, lg_tensor_count(zw) == 1 ? 0 : o) : 0;
    for (int64_t od = 0; od < w->out[0]; od++)
      for (int64_t oh = 0; oh < w->out[1]; oh++)
        for (int64_t ow = 0; ow < w->out[2]; ow++) {
          int64_t sum = 0;
          for (int64_t c = 0; c < cin_g; c++) {
            int64_t ci = g * cin_g + c;
            for (int64_t kd = 0; kd < w->kernel[0]; kd++)
              for (int64_t kh = 0; kh < w->kernel[1]; kh++)
                for (int64_t kw = 0; kw < w->kernel[2]; kw++) {
                  int64_t id = od * w->stride[0] - w->pad_begin[0] + kd * w->dilation[0];
                  int64_t ih = oh * w->stride[1] - w->pad_begin[1] + kh * w->dilation[1];
                  int64_t iw = ow * w->stride[2] - w->pad_begin[2] + kw * w->dilation[2];
                  if (id < 0 || id >= w->in[0] || ih < 0 || ih >= w->in[1] || iw < 0 ||
                      iw >= w->in[2])
                    continue;
                  int32_t xv = q8_get(x, (image * s->cin + ci) * in_plane +
                                             (id * w->in[1] + ih) * w->in[2] + iw) -
                               zx;
                  int32_t wv = q8_get(wt, (o * cin_g + c) * ksize +
                                              (kd * w->kernel[1] + kh) * w->kernel[2] + kw) -
                               zwo;
                  sum += xv * wv;
                }
          }
          acc[o * out_plane + (od * w->out[1] + oh) * w->out[2] + ow] = (int32_t)(uint32_t)sum;
        }
  }
}

static void qconv_out_shape(const qconv_shape *s, int rank, lg_tensor *out) {
  int64_t dims[5] = {s->batch, s->cout};
  for (int i = 0; i < rank - 2; i++) dims[2 + i] = s->w.out[3 - (rank - 2) + i];
  lg_tensor_set_shape(out, rank, dims);
}

/* ---- Fused activation of QLinearConv / QLinearMatMul ----
 * The QDQ pass (runtime/passes_quant.c) folds a Relu or Clip between the
 * float op and its QuantizeLinear into the node: it narrows the clamp of
 * the quantized output, which is what quantizing the activated value does. */

static void qact_bounds(const lg_node *node, double y_scale, int32_t zy, ledge_dtype out,
                        int32_t *qmin, int32_t *qmax) {
  *qmin = out == LEDGE_UINT8 ? 0 : -128;
  *qmax = out == LEDGE_UINT8 ? 255 : 127;
  double lo = -INFINITY, hi = INFINITY;
  if (node->act.kind == LG_ACT_RELU)
    lo = 0;
  else if (node->act.kind == LG_ACT_CLIP)
    lo = node->act.alpha, hi = node->act.beta;
  else
    return;
  if (lo > -INFINITY) {
    double q = nearbyint(lo / y_scale) + zy;
    if (q > *qmin) *qmin = q > *qmax ? *qmax : (int32_t)q;
  }
  if (hi < INFINITY) {
    double q = nearbyint(hi / y_scale) + zy;
    if (q < *qmax) *qmax = q < *qmin ? *qmin : (int32_t)q;
  }
}

/* Stores a requantized value into an int8/uint8 output within [qmin, qmax]. */
static void q_store_clamped(lg_tensor *t, int64_t i, double v, int32_t qmin, int32_t qmax) {
  double r = nearbyint(v);
  if (isnan(r)) r = 0;
  r = r < qmin ? qmin : r > qmax ? qmax : r;
  q_store(t, i, r);
}

/* ---- Optimized integer convolutions and matrix products (kernels/qgemm.h) ----
 *
 * infer packs constant weights (zero point subtracted) once into
 * node->state and folds the activation zero point into an int32 bias:
 *   sum (x - zx)(w - zw) + B = sum x (w - zw) + (B - zx * sum (w - zw)).
 * Convolutions take a depthwise kernel (one channel per group), a 1x1
 * stride-1 GEMM reading the input directly, or a GEMM over im2col rows
 * padded with the zero point. Matrix products with a constant 2-D B run
 * transposed, C^T = B^T A^T, so the weights are the packed operand.
 * Everything else (3-D, non-constant weights or parameters, LEDGE_ISA=
 * reference) runs the reference kernels above. */

enum { QFAST_GEMM_1X1 = 1, QFAST_GEMM_IM2COL, QFAST_DEPTHWISE, QFAST_MATMUL };

typedef struct qfast {
  int algo;
  const lg_qgemm_kernel *kern;
  size_t group_bytes; /* packed weight bytes per group */
  uint8_t flip, pad_byte;
  int32_t zx;
  lg_qgemm_epilogue epi; /* bias and scale point into this allocation */
  int16_t *dw;           /* depthwise weights, channel x kh x kw */
  lg_qdw_fn dw_kernel;
  uint8_t *packed;
} qfast;

static const char *const qfast_names[][4] = {
    [QFAST_GEMM_1X1] = {"qgemm-1x1/generic", "qgemm-1x1/avx2", "qgemm-1x1/avx512",
                        "qgemm-1x1/vnni"},
    [QFAST_GEMM_IM2COL] = {"qim2col-gemm/generic", "qim2col-gemm/avx2", "qim2col-gemm/avx512",
                           "qim2col-gemm/vnni"},
    [QFAST_DEPTHWISE] = {"qdepthwise/generic", "qdepthwise/avx2", "qdepthwise/avx512",
                         "qdepthwise/vnni"},
    [QFAST_MATMUL] = {"qgemm/generic", "qgemm/avx2", "qgemm/avx512", "qgemm/vnni"},
};

static const char *qfast_name(int algo, const lg_qgemm_kernel *kern, lg_isa isa) {
  int col = kern->kr == 4 ? 3 : isa == LG_ISA_AVX512 ? 2 : isa == LG_ISA_AVX2 ? 1 : 0;
  if (algo == QFAST_DEPTHWISE) col = isa == LG_ISA_AVX512 ? 2 : isa == LG_ISA_AVX2 ? 1 : 0;
  return qfast_names[algo][col];
}

static bool is_const(const lg_tensor *t) { return !t || t->data; }

/* Allocates a qfast with room for rows of bias and scale, dw_count depthwise
 * weights and packed_bytes of packed weights. */
static qfast *qfast_new(int64_t rows, int64_t dw_count, size_t packed_bytes) {
  size_t off_bias = lg_align_up(sizeof(qfast), 64);
  size_t off_scale = lg_align_up(off_bias + (size_t)rows * sizeof(int32_t), 64);
  size_t off_dw = lg_align_up(off_scale + (size_t)rows * sizeof(double), 64);
  size_t off_packed = lg_align_up(off_dw + (size_t)dw_count * sizeof(int16_t), 64);
  uint8_t *mem = lg_aligned_alloc(off_packed + packed_bytes + 64);
  if (!mem) return NULL;
  qfast *f = (qfast *)mem;
  f->epi.bias = (int32_t *)(mem + off_bias);
  f->epi.scale = (double *)(mem + off_scale);
  f->dw = (int16_t *)(mem + off_dw);
  f->packed = mem + off_packed;
  return f;
}

/* w - zw(row) as int16, rows x cols, and whether it all fits in int8. */
static int16_t *weights_minus_zp(const lg_tensor *w, const lg_tensor *zw, int64_t rows,
                                 int64_t cols, bool transposed, bool *fits_s8) {
  int16_t *a = malloc((size_t)(rows * cols > 0 ? rows * cols : 1) * sizeof(int16_t));
  if (!a) return NULL;
  *fits_s8 = true;
  for (int64_t i = 0; i < rows; i++) {
    int32_t z = zw ? q8_get(zw, lg_tensor_count(zw) == 1 ? 0 : i) : 0;
    for (int64_t p = 0; p < cols; p++) {
      int32_t v = q8_get(w, transposed ? p * rows + i : i * cols + p) - z;
      *fits_s8 &= v >= -128 && v <= 127;
      a[i * cols + p] = (int16_t)v;
    }
  }
  return a;
}

/* The weights of all groups (rows = cout, cols = k per row), packed per
 * group, plus the bias folding; NULL with an error on failure. */
static qfast *qfast_pack(const lg_node *node, lg_isa isa, const int16_t *a, int64_t rows,
                         int64_t cols, int64_t groups, bool fits_s8, int32_t zx,
                         const lg_tensor *bias, int algo) {
  const lg_qgemm_kernel *kern = lg_qgemm_kernel_for(isa, fits_s8);
  int64_t rows_g = rows / groups;
  size_t group_bytes = algo == QFAST_DEPTHWISE ? 0 : lg_qgemm_packed_a_bytes(kern, rows_g, cols);
  qfast *f =
      qfast_new(rows, algo == QFAST_DEPTHWISE ? rows * cols : 0, group_bytes * (size_t)groups);
  if (!f) {
    lg_error(LEDGE_ERR_NO_MEMORY, "%s node '%s': out of memory for packed weights", node->op_type,
             node->name);
    return NULL;
  }
  f->algo = algo;
  f->kern = kern;
  f->group_bytes = group_bytes;
  int32_t *b = (int32_t *)f->epi.bias;
  for (int64_t i = 0; i < rows; i++) {
    uint32_t sum = 0;
    for (int64_t p = 0; p < cols; p++) sum += (uint32_t)(int32_t)a[i * cols + p];
    uint32_t v = bias ? (uint32_t)((const int32_t *)bias->data)[i] : 0;
    /* Depthwise subtracts zx itself: padding must not contribute. */
    if (algo != QFAST_DEPTHWISE) v -= (uint32_t)zx * sum;
    b[i] = (int32_t)v;
  }
  if (algo == QFAST_DEPTHWISE) memcpy(f->dw, a, (size_t)(rows * cols) * sizeof(int16_t));
  for (int64_t g = 0; g < groups && group_bytes; g++)
    lg_qgemm_pack_a(kern, rows_g, cols, a + g * rows_g * cols, cols,
                    f->packed + (size_t)g * group_bytes);
  return f;
}

/* Plans a fast path for QLinearConv (qlinear) or ConvInteger. */
static lg_status qconv_plan_fast(lg_node *node, lg_tensor *const *in, const lg_tensor *y,
                                 const qconv_shape *s, bool qlinear) {
  lg_isa isa = lg_isa_active();
  const lg_window *w = &s->w;
  const lg_tensor *x = in[0], *wt = in[qlinear ? 3 : 1];
  const lg_tensor *zx_t = qlinear ? in[2] : node->n_in > 2 ? in[2] : NULL;
  const lg_tensor *zw_t = qlinear ? in[5] : node->n_in > 3 ? in[3] : NULL;
  const lg_tensor *bias = qlinear && node->n_in > 8 ? in[8] : NULL;
  if (isa == LG_ISA_REFERENCE || !wt->data || !is_const(zx_t) || !is_const(zw_t) ||
      !is_const(bias) || (zx_t && lg_tensor_count(zx_t) != 1) || s->batch < 1)
    return LEDGE_OK;
  if (qlinear && (!in[1]->data || !in[4]->data || !in[6]->data || !in[7]->data)) return LEDGE_OK;
  if (w->in[0] != 1 || w->out[0] != 1 || w->kernel[0] != 1 || w->pad_begin[0] || w->pad_end[0])
    return LEDGE_OK;
  int64_t out_count = w->out[1] * w->out[2];
  if (out_count < 1) return LEDGE_OK;
  int64_t cin_g = s->cin / s->group, cout_g = s->cout / s->group, kk = w->kernel[1] * w->kernel[2];
  int algo = cin_g == 1 && cout_g == 1 ? QFAST_DEPTHWISE
             : kk == 1 && w->stride[1] == 1 && w->stride[2] == 1 && !w->pad_begin[1] &&
                     !w->pad_begin[2] && !w->pad_end[1] && !w->pad_end[2]
                 ? QFAST_GEMM_1X1
                 : QFAST_GEMM_IM2COL;
  uint8_t zx_byte = zx_t ? ((const uint8_t *)zx_t->data)[0] : 0;
  uint8_t flip = x->dtype == LEDGE_INT8 ? 0x80 : 0;
  int32_t zx = (uint8_t)(zx_byte ^ flip);
  bool fits;
  int16_t *a = weights_minus_zp(wt, zw_t, s->cout, cin_g * kk, false, &fits);
  if (!a)
    return lg_error(LEDGE_ERR_NO_MEMORY, "%s node '%s': out of memory", node->op_type, node->name);
  qfast *f = qfast_pack(node, isa, a, s->cout, cin_g * kk, s->group, fits, zx, bias, algo);
  free(a);
  if (!f) return LEDGE_ERR_NO_MEMORY;
  f->flip = flip;
  f->pad_byte = zx_byte;
  f->dw_kernel = lg_qdw_kernel(isa);
  f->zx = zx;
  if (qlinear) {
    double x_scale = ((const float *)in[1]->data)[0], y_scale = ((const float *)in[6]->data)[0];
    bool per_channel = lg_tensor_count(in[4]) > 1;
    double *scale = (double *)f->epi.scale;
    for (int64_t o = 0; o < s->cout; o++) {
      double w_scale = ((const float *)in[4]->data)[per_channel ? o : 0];
      scale[o] = x_scale * w_scale / y_scale; /* the reference's expression, for equal rounding */
    }
    f->epi.out = y->dtype == LEDGE_UINT8 ? LG_QOUT_U8 : LG_QOUT_S8;
    f->epi.zero_point = q8_get(in[7], 0);
    qact_bounds(node, y_scale, f->epi.zero_point, y->dtype, &f->epi.qmin, &f->epi.qmax);
  } else {
    f->epi.out = LG_QOUT_S32;
  }
  node->state = f;
  node->workspace = 0;
  node->kernel = qfast_name(algo, f->kern, isa);
  return LEDGE_OK;
}

/* Row p = (channel, kh, kw) of the unfolded input of one group, output
 * pixels j0 .. j0 + cols - 1, the zero point in the padding. */
typedef struct qim2col_ctx {
  const lg_window *w;
  const uint8_t *x; /* the group's first channel */
  uint8_t pad;
} qim2col_ctx;

static const uint8_t *qim2col_row(const void *ctx, int64_t p, int64_t j0, int64_t cols,
                                  uint8_t *tmp) {
  const qim2col_ctx *c = ctx;
  const lg_window *w = c->w;
  int64_t kk = w->kernel[1] * w->kernel[2], ch = p / kk, tap = p % kk;
  int64_t kh = tap / w->kernel[2], kw = tap % w->kernel[2];
  int64_t out_w = w->out[2], in_h = w->in[1], in_w = w->in[2], sw = w->stride[2];
  const uint8_t *xc = c->x + ch * in_h * in_w;
  int64_t off_w = kw * w->dilation[2] - w->pad_begin[2];
  /* Output columns whose input column o * sw + off_w lies in [0, in_w). */
  int64_t c_lo = off_w >= 0 ? 0 : (-off_w + sw - 1) / sw;
  int64_t c_hi = in_w - off_w <= 0 ? 0 : (in_w - off_w - 1) / sw + 1;
  if (c_hi > out_w) c_hi = out_w;
  int64_t oh = j0 / out_w, ow = j0 % out_w;
  for (int64_t j = 0; j < cols;) {
    int64_t len = cols - j < out_w - ow ? cols - j : out_w - ow;
    int64_t ih = oh * w->stride[1] + kh * w->dilation[1] - w->pad_begin[1];
    uint8_t *d = tmp + j; /* output column o at d[o - ow] */
    if (ih < 0 || ih >= in_h) {
      memset(d, c->pad, (size_t)len);
    } else {
      const uint8_t *src = xc + ih * in_w + off_w;
      int64_t a = c_lo > ow ? c_lo : ow, b = c_hi < ow + len ? c_hi : ow + len;
      if (b < a) b = a = ow + len < a ? ow + len : a;
      if (a > ow) memset(d, c->pad, (size_t)(a - ow));
      if (sw == 1) {
        if (b > a) memcpy(d + (a - ow), src + a, (size_t)(b - a));
      } else {
        for (int64_t o = a; o < b; o++) d[o - ow] = src[o * sw];
      }
      if (ow + len > b) memset(d + (b - ow), c->pad, (size_t)(ow + len - b));
    }
    j += len;
    ow = 0;
    oh++;
  }
  return tmp;
}

typedef struct qdw_ctx {
  const qconv_shape *s;
  const qfast *f;
  const uint8_t *x;
  void *y;
  size_t out_bytes;
} qdw_ctx;

static void qdw_planes(void *ctx, int64_t begin, int64_t end) {
  const qdw_ctx *c = ctx;
  const lg_window *w = &c->s->w;
  /* One output row of sums: on the stack for any real image width, so that
   * runs allocate nothing. */
  int32_t stack_row[4096];
  int32_t *row = w->out[2] <= 4096 ? stack_row : malloc((size_t)w->out[2] * sizeof(int32_t));
  if (!row) return;
  int64_t in_count = w->in[1] * w->in[2], out_count = w->out[1] * w->out[2],
          kk = w->kernel[1] * w->kernel[2];
  for (int64_t plane = begin; plane < end; plane++) {
    int64_t ch = plane % c->s->cout;
    lg_qdw_args a = {.x = c->x + plane * in_count,
                     .h = w->in[1],
                     .w = w->in[2],
                     .flip = c->f->flip,
                     .zx = c->f->zx,
                     .wk = c->f->dw + ch * kk,
                     .kh = w->kernel[1],
                     .kw = w->kernel[2],
                     .sh = w->stride[1],
                     .sw = w->stride[2],
                     .dh = w->dilation[1],
                     .dw = w->dilation[2],
                     .pad_t = w->pad_begin[1],
                     .pad_l = w->pad_begin[2],
                     .oh = w->out[1],
                     .ow = w->out[2],
                     .channel = ch,
                     .y = (uint8_t *)c->y + (size_t)(plane * out_count) * c->out_bytes,
                     .epi = &c->f->epi,
                     .store = c->f->kern->store,
                     .row = row};
    c->f->dw_kernel(&a);
  }
  if (row != stack_row) free(row);
}

static void qconv_run_fast(const qfast *f, const qconv_shape *s, const lg_tensor *x, lg_tensor *y,
                           const lg_exec *exec) {
  const lg_window *w = &s->w;
  int64_t in_count = w->in[1] * w->in[2], out_count = w->out[1] * w->out[2];
  size_t out_bytes = f->epi.out == LG_QOUT_S32 || f->epi.out == LG_QOUT_F32 ? 4 : 1;
  if (f->algo == QFAST_DEPTHWISE) {
    qdw_ctx c = {s, f, x->data, y->data, out_bytes};
    lg_threadpool *pool = s->batch * s->cout * out_count < 4096 ? NULL : exec->pool;
    lg_parallel_for(pool, s->batch * s->cout, qdw_planes, &c);
    return;
  }
  int64_t cin_g = s->cin / s->group, cout_g = s->cout / s->group;
  for (int64_t image = 0; image < s->batch; image++)
    for (int64_t g = 0; g < s->group; g++) {
      const uint8_t *xg = (const uint8_t *)x->data + (image * s->cin + g * cin_g) * in_count;
      qim2col_ctx pc = {w, xg, f->pad_byte};
      lg_qgemm_desc d = {.kern = f->kern,
                         .m = cout_g,
                         .n = out_count,
                         .k = cin_g * w->kernel[1] * w->kernel[2],
                         .a_packed = f->packed + (size_t)g * f->group_bytes,
                         .b_flip = f->flip,
                         .c = (uint8_t *)y->data +
                              (size_t)((image * s->cout + g * cout_g) * out_count) * out_bytes,
                         .c_rs = out_count,
                         .c_cs = 1,
                         .epi = f->epi};
      d.epi.bias += g * cout_g;
      if (d.epi.scale) d.epi.scale += g * cout_g;
      if (f->algo == QFAST_GEMM_1X1) {
        d.b = xg;
        d.ldb = in_count;
      } else {
        d.b_row = qim2col_row;
        d.b_ctx = &pc;
      }
      lg_qgemm(&d, exec->pool);
    }
}

/* Matrix products: plans C^T = B^T A^T with B constant and 2-D. */
static lg_status qmatmul_plan_fast(lg_node *node, lg_tensor *const *in, const lg_tensor *y,
                                   const imm_shape *s, bool qlinear) {
  lg_isa isa = lg_isa_active();
  const lg_tensor *b = in[qlinear ? 3 : 1];
  const lg_tensor *za = qlinear ? in[2] : node->n_in > 2 ? in[2] : NULL;
  const lg_tensor *zb = qlinear ? in[5] : node->n_in > 3 ? in[3] : NULL;
  if (isa == LG_ISA_REFERENCE || !b->data || b->rank != 2 || !is_const(za) || !is_const(zb) ||
      (za && lg_tensor_count(za) != 1) || s->m * s->batch < 1)
    return LEDGE_OK;
  if (qlinear && (!in[1]->data || !in[4]->data || !in[6]->data || !in[7]->data)) return LEDGE_OK;
  uint8_t za_byte = za ? ((const uint8_t *)za->data)[0] : 0;
  uint8_t flip = in[0]->dtype == LEDGE_INT8 ? 0x80 : 0;
  int32_t zx = (uint8_t)(za_byte ^ flip);
  bool fits;
  int16_t *a = weights_minus_zp(b, zb, s->n, s->k, true, &fits);
  if (!a)
    return lg_error(LEDGE_ERR_NO_MEMORY, "%s node '%s': out of memory", node->op_type, node->name);
  qfast *f = qfast_pack(node, isa, a, s->n, s->k, 1, fits, zx, NULL, QFAST_MATMUL);
  free(a);
  if (!f) return LEDGE_ERR_NO_MEMORY;
  f->flip = flip;
  f->zx = zx;
  if (qlinear) {
    double a_scale = ((const float *)in[1]->data)[0], y_scale = ((const float *)in[6]->data)[0];
    bool per_col = lg_tensor_count(in[4]) > 1;
    double *scale = (double *)f->epi.scale;
    for (int64_t j = 0; j < s->n; j++) {
      double b_scale = ((const float *)in[4]->data)[per_col ? j : 0];
      scale[j] = a_scale * b_scale / y_scale;
    }
    f->epi.out = y->dtype == LEDGE_UINT8 ? LG_QOUT_U8 : LG_QOUT_S8;
    f->epi.zero_point = q8_get(in[7], 0);
    qact_bounds(node, y_scale, f->epi.zero_point, y->dtype, &f->epi.qmin, &f->epi.qmax);
  } else {
    f->epi.out = LG_QOUT_S32;
  }
  node->state = f;
  node->workspace = 0;
  node->kernel = qfast_name(QFAST_MATMUL, f->kern, isa);
  return LEDGE_OK;
}

/* Row p of A^T: column p of A (all batches' rows laid end to end). */
typedef struct qcol_ctx {
  const uint8_t *a;
  int64_t k;
} qcol_ctx;

static const uint8_t *qcol_row(const void *ctx, int64_t p, int64_t j0, int64_t cols, uint8_t *tmp) {
  const qcol_ctx *c = ctx;
  const uint8_t *src = c->a + j0 * c->k + p;
  for (int64_t j = 0; j < cols; j++) tmp[j] = src[j * c->k];
  return tmp;
}

static void qmatmul_run_fast(const qfast *f, const imm_shape *s, const lg_tensor *a, lg_tensor *y,
                             const lg_exec *exec) {
  qcol_ctx cc = {a->data, s->k};
  lg_qgemm_desc d = {.kern = f->kern,
                     .m = s->n,
                     .n = s->m * s->batch,
                     .k = s->k,
                     .a_packed = f->packed,
                     .b_row = qcol_row,
                     .b_ctx = &cc,
                     .b_flip = f->flip,
                     .c = y->data,
                     .c_rs = 1,
                     .c_cs = s->n,
                     .epi = f->epi};
  lg_qgemm(&d, exec->pool);
}

static lg_status matmul_integer_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 2, 4));
  if (!in[0] || !in[1] || !is_q8(in[0]->dtype) || !is_q8(in[1]->dtype))
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': A and B must be uint8 or int8",
                    node->op_type, node->name);
  imm_shape s;
  int rank;
  int64_t dims[LEDGE_MAX_RANK];
  LG_TRY(imm_shape_of(node, in[0], in[1], &s, &rank, dims));
  LG_TRY(check_zp(node, node->n_in > 2 ? in[2] : NULL, s.m, "a_zero_point"));
  LG_TRY(check_zp(node, node->n_in > 3 ? in[3] : NULL, s.n, "b_zero_point"));
  out[0]->dtype = LEDGE_INT32;
  lg_tensor_set_shape(out[0], rank, dims);
  node->macs = s.batch * s.m * s.n * s.k;
  return qmatmul_plan_fast(node, in, out[0], &s, false);
}

static lg_status matmul_integer_run(const lg_node *node, lg_tensor *const *in,
                                    lg_tensor *const *out, const lg_exec *exec) {
  imm_shape s;
  int rank;
  int64_t dims[LEDGE_MAX_RANK];
  LG_TRY(imm_shape_of(node, in[0], in[1], &s, &rank, dims));
  if (node->state) {
    qmatmul_run_fast(node->state, &s, in[0], out[0], exec);
    return LEDGE_OK;
  }
  for (int64_t bi = 0; bi < s.batch; bi++)
    imm(in[0], s.a_batched ? bi * s.m * s.k : 0, node->n_in > 2 ? in[2] : NULL, in[1],
        s.b_batched ? bi * s.k * s.n : 0, node->n_in > 3 ? in[3] : NULL, &s,
        (int32_t *)out[0]->data + bi * s.m * s.n);
  return LEDGE_OK;
}

/* QLinearMatMul(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp) */
static lg_status qlinear_matmul_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 8, 8));
  for (int i = 0; i < 8; i++)
    if (!in[i])
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': input %d is missing",
                      node->op_type, node->name, i);
  if (!is_q8(in[0]->dtype) || !is_q8(in[3]->dtype) || !is_q8(in[7]->dtype))
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': operands must be uint8 or int8",
                    node->op_type, node->name);
  imm_shape s;
  int rank;
  int64_t dims[LEDGE_MAX_RANK];
  LG_TRY(imm_shape_of(node, in[0], in[3], &s, &rank, dims));
  if (lg_tensor_count(in[1]) != 1 || lg_tensor_count(in[6]) != 1 || lg_tensor_count(in[7]) != 1 ||
      (lg_tensor_count(in[4]) != 1 && lg_tensor_count(in[4]) != s.n))
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': per-row scales of A are not supported",
                    node->op_type, node->name);
  LG_TRY(check_zp(node, in[2], s.m, "a_zero_point"));
  LG_TRY(check_zp(node, in[5], s.n, "b_zero_point"));
  out[0]->dtype = in[7]->dtype;
  lg_tensor_set_shape(out[0], rank, dims);
  node->workspace = (size_t)(s.m * s.n) * sizeof(int32_t);
  node->macs = s.batch * s.m * s.n * s.k;
  return qmatmul_plan_fast(node, in, out[0], &s, true);
}

static lg_status qlinear_matmul_run(const lg_node *node, lg_tensor *const *in,
                                    lg_tensor *const *out, const lg_exec *exec) {
  imm_shape s;
  int rank;
  int64_t dims[LEDGE_MAX_RANK];
  LG_TRY(imm_shape_of(node, in[0], in[3], &s, &rank, dims));
  if (node->state) {
    qmatmul_run_fast(node->state, &s, in[0], out[0], exec);
    return LEDGE_OK;
  }
  int32_t *acc = exec->workspace;
  double a_scale = ((const float *)in[1]->data)[0], y_scale = ((const float *)in[6]->data)[0];
  int32_t y_zp = q8_get(in[7], 0), qmin, qmax;
  qact_bounds(node, y_scale, y_zp, out[0]->dtype, &qmin, &qmax);
  bool per_col = lg_tensor_count(in[4]) > 1;
  for (int64_t bi = 0; bi < s.batch; bi++) {
    imm(in[0], s.a_batched ? bi * s.m * s.k : 0, in[2], in[3], s.b_batched ? bi * s.k * s.n : 0,
        in[5], &s, acc);
    for (int64_t i = 0; i < s.m * s.n; i++) {
      double b_scale = ((const float *)in[4]->data)[per_col ? i % s.n : 0];
      q_store_clamped(out[0], bi * s.m * s.n + i,
                      nearbyint(acc[i] * (a_scale * b_scale / y_scale)) + y_zp, qmin, qmax);
    }
  }
  return LEDGE_OK;
}

static lg_status conv_integer_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 2, 4));
  if (!in[0] || !in[1] || !is_q8(in[0]->dtype) || !is_q8(in[1]->dtype))
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': x and w must be uint8 or int8",
                    node->op_type, node->name);
  qconv_shape s;
  LG_TRY(qconv_shape_of(node, in[0], in[1], &s));
  LG_TRY(check_zp(node, node->n_in > 2 ? in[2] : NULL, 1, "x_zero_point"));
  LG_TRY(check_zp(node, node->n_in > 3 ? in[3] : NULL, s.cout, "w_zero_point"));
  out[0]->dtype = LEDGE_INT32;
  qconv_out_shape(&s, in[0]->rank, out[0]);
  node->macs =
      lg_tensor_count(out[0]) * (s.cin / s.group) * s.w.kernel[0] * s.w.kernel[1] * s.w.kernel[2];
  return qconv_plan_fast(node, in, out[0], &s, false);
}

static lg_status conv_integer_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                                  const lg_exec *exec) {
  qconv_shape s;
  LG_TRY(qconv_shape_of(node, in[0], in[1], &s));
  if (node->state) {
    qconv_run_fast(node->state, &s, in[0], out[0], exec);
    return LEDGE_OK;
  }
  int32_t zx = node->n_in > 2 && in[2] ? q8_get(in[2], 0) : 0;
  int64_t per_image = lg_tensor_count(out[0]) / (s.batch ? s.batch : 1);
  for (int64_t b = 0; b < s.batch; b++)
    qconv_image(in[0], b, zx, in[1], node->n_in > 3 ? in[3] : NULL, &s,
                (int32_t *)out[0]->data + b * per_image);
  return LEDGE_OK;
}

/* QLinearConv(x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B?) */
static lg_status qlinear_conv_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 8, 9));
  for (int i = 0; i < 8; i++)
    if (!in[i])
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': input %d is missing",
                      node->op_type, node->name, i);
  if (!is_q8(in[0]->dtype) || !is_q8(in[3]->dtype) || !is_q8(in[7]->dtype))
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': x, w and y must be uint8 or int8",
                    node->op_type, node->name);
  qconv_shape s;
  LG_TRY(qconv_shape_of(node, in[0], in[3], &s));
  if (lg_tensor_count(in[1]) != 1 || lg_tensor_count(in[6]) != 1 ||
      (lg_tensor_count(in[4]) != 1 && lg_tensor_count(in[4]) != s.cout))
    return lg_error(LEDGE_ERR_SHAPE,
                    "%s node '%s': scales must be per tensor (w_scale may be per output channel)",
                    node->op_type, node->name);
  LG_TRY(check_zp(node, in[2], 1, "x_zero_point"));
  LG_TRY(check_zp(node, in[5], s.cout, "w_zero_point"));
  const lg_tensor *bias = node->n_in > 8 ? in[8] : NULL;
  if (bias && (bias->dtype != LEDGE_INT32 || lg_tensor_count(bias) != s.cout))
    return lg_error(LEDGE_ERR_SHAPE,
                    "%s node '%s': bias must be int32 with one value per output channel",
                    node->op_type, node->name);
  out[0]->dtype = in[7]->dtype;
  qconv_out_shape(&s, in[0]->rank, out[0]);
  node->workspace = lg_tensor_count(out[0]) / (s.batch ? s.batch : 1) * sizeof(int32_t);
  node->macs =
      lg_tensor_count(out[0]) * (s.cin / s.group) * s.w.kernel[0] * s.w.kernel[1] * s.w.kernel[2];
  return qconv_plan_fast(node, in, out[0], &s, true);
}

static lg_status qlinear_conv_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                                  const lg_exec *exec) {
  qconv_shape s;
  LG_TRY(qconv_shape_of(node, in[0], in[3], &s));
  if (node->state) {
    qconv_run_fast(node->state, &s, in[0], out[0], exec);
    return LEDGE_OK;
  }
  int32_t *acc = exec->workspace;
  const lg_tensor *bias = node->n_in > 8 ? in[8] : NULL;
  double x_scale = ((const float *)in[1]->data)[0], y_scale = ((const float *)in[6]->data)[0];
  int32_t y_zp = q8_get(in[7], 0), qmin, qmax;
  qact_bounds(node, y_scale, y_zp, out[0]->dtype, &qmin, &qmax);
  bool per_channel = lg_tensor_count(in[4]) > 1;
  int64_t per_image = lg_tensor_count(out[0]) / (s.batch ? s.batch : 1),
          plane = per_image / (s.cout ? s.cout : 1);
  for (int64_t b = 0; b < s.batch; b++) {
    qconv_image(in[0], b, q8_get(in[2], 0), in[3], in[5], &s, acc);
    for (int64_t i = 0; i < per_image; i++) {
      int64_t o = i / plane;
      double w_scale = ((const float *)in[4]->data)[per_channel ? o : 0];
      int64_t v = (int64_t)acc[i] + (bias ? ((const int32_t *)bias->data)[o] : 0);
      q_store_clamped(out[0], b * per_image + i,
                      nearbyint((double)v * (x_scale * w_scale / y_scale)) + y_zp, qmin, qmax);
    }
  }
  return LEDGE_OK;
}

const lg_op_def lg_ops_quant[] = {
    {.name = "QuantizeLinear", .domain = "", .infer = quantize_infer, .run = quantize_run},
    {.name = "DequantizeLinear", .domain = "", .infer = dequantize_infer, .run = dequantize_run},
    {.name = "DynamicQuantizeLinear", .domain = "", .infer = dynq_infer, .run = dynq_run},
    {.name = "MatMulInteger",
     .domain = "",
     .infer = matmul_integer_infer,
     .run = matmul_integer_run},
    {.name = "QLinearMatMul",
     .domain = "",
     .infer = qlinear_matmul_infer,
     .run = qlinear_matmul_run},
    {.name = "ConvInteger", .domain = "", .infer = conv_integer_infer, .run = conv_integer_run},
    {.name = "QLinearConv", .domain = "", .infer = qlinear_conv_infer, .run = qlinear_conv_run},
    {0},
};
