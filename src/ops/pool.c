/*
 * pool.c: MaxPool, AveragePool, LpPool and their global forms (NCHW, 1 to 3
 * spatial dimensions for the windowed ones, any number for the global ones).
 *
 * One generic window loop serves every windowed pooling: it visits the taps
 * of a window that fall inside the input (padding never contributes a value)
 * and reduces them in double precision. Values are read and written through
 * small dtype switches so that MaxPool also covers int8/uint8/float64.
 * That loop is the oracle; float32 2-D windows take a fast path: the padded
 * plane kernels of kernels/pool2d.h (stride 1 or 2, windows up to 7x7), or
 * else a row loop in float with the tap ranges computed once per row.
 */
#include <math.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/planes.h"
#include "kernels/pool2d.h"
#include "ops/nn_common.h"

typedef enum pool_kind { POOL_MAX, POOL_AVERAGE, POOL_LP } pool_kind;

static inline double load_value(const void *data, ledge_dtype dtype, int64_t i) {
  switch (dtype) {
    case LEDGE_FLOAT64: return ((const double *)data)[i];
    case LEDGE_INT8: return ((const int8_t *)data)[i];
    case LEDGE_UINT8: return ((const uint8_t *)data)[i];
    case LEDGE_FLOAT16: return lg_half_to_float(((const uint16_t *)data)[i]);
    default: return ((const float *)data)[i];
  }
}

static inline void store_value(void *data, ledge_dtype dtype, int64_t i, double v) {
  switch (dtype) {
    case LEDGE_FLOAT64: ((double *)data)[i] = v; break;
    case LEDGE_INT8: ((int8_t *)data)[i] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v); break;
    case LEDGE_UINT8: ((uint8_t *)data)[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); break;
    case LEDGE_FLOAT16: ((uint16_t *)data)[i] = lg_float_to_half((float)v); break;
    default: ((float *)data)[i] = (float)v; break;
  }
}

typedef struct pool_shape {
  pool_kind kind;
  int64_t batch, channels;
  lg_window w;
  bool count_include_pad;
  bool column_major_indices; /* MaxPool storage_order = 1 */
  double p;                  /* LpPool's exponent */
} pool_shape;

static pool_kind kind_of(const lg_node *node) {
  if (!strcmp(node->op_type, "MaxPool")) return POOL_MAX;
  if (!strcmp(node->op_type, "LpPool")) return POOL_LP;
  return POOL_AVERAGE;
}

static lg_status pool_analyze(const lg_node *node, const lg_tensor *x, pool_shape *s) {
  memset(s, 0, sizeof *s);
  s->kind = kind_of(node);
  bool ints_ok = s->kind == POOL_MAX;
  if (!lg_dtype_is_float(x->dtype) &&
      !(ints_ok && (x->dtype == LEDGE_INT8 || x->dtype == LEDGE_UINT8)))
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': dtype %s is not supported", node->op_type,
                    node->name, ledge_dtype_name(x->dtype));
  if (x->rank < 3 || x->rank > 5)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': input must have rank 3 to 5 (got %d)",
                    node->op_type, node->name, x->rank);
  int n = x->rank - 2;
  const int64_t *kernel;
  int nk = lg_attr_ints(node, "kernel_shape", &kernel);
  if (nk != n)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT,
                    "%s node '%s': kernel_shape must have %d values (has %d)", node->op_type,
                    node->name, n, nk < 0 ? 0 : nk);
  bool ceil_mode = lg_attr_int(node, "ceil_mode", 0) != 0;
  LG_TRY(lg_window_init(node, n, x->dims + 2, kernel, ceil_mode, &s->w));
  s->batch = x->dims[0];
  s->channels = x->dims[1];
  if (s->batch < 0 || s->channels < 0)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': negative dimension", node->op_type, node->name);
  s->count_include_pad = lg_attr_int(node, "count_include_pad", 0) != 0;
  s->column_major_indices = lg_attr_int(node, "storage_order", 0) != 0;
  s->p = (double)lg_attr_int(node, "p", 2);
  if (s->kind == POOL_LP && s->p <= 0)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': p must be positive", node->op_type,
                    node->name);
  return LEDGE_OK;
}

static bool pool_fast_ok(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                         const pool_shape *s);
static lg_pool2d_fn pool_plane_kernel(const lg_node *node, lg_tensor *const *in,
                                      lg_tensor *const *out, const pool_shape *s,
                                      lg_pool2d_args *a);

static lg_status pool_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 1, 1));
  if (!in[0])
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': input is missing", node->op_type,
                    node->name);
  pool_shape s;
  LG_TRY(pool_analyze(node, in[0], &s));
  int n = s.w.n;
  int64_t dims[5] = {s.batch, s.channels};
  for (int i = 0; i < n; i++) dims[2 + i] = s.w.out[3 - n + i];
  if (lg_shape_count(2 + n, dims) < 0)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': output shape overflows", node->op_type,
                    node->name);
  out[0]->dtype = in[0]->dtype;
  lg_tensor_set_shape(out[0], 2 + n, dims);
  static const char *const plane_names[2][LG_ISA_COUNT] = {
      {"", "avgpool-planes/generic", "avgpool-planes/avx2", "avgpool-planes/avx512"},
      {"", "maxpool-planes/generic", "maxpool-planes/avx2", "maxpool-planes/avx512"}};
  lg_pool2d_args a;
  if (pool_plane_kernel(node, in, out, &s, &a))
    node->kernel = plane_names[s.kind == POOL_MAX][lg_isa_active()];
  else if (pool_fast_ok(node, in, out, &s))
    node->kernel = s.kind == POOL_MAX ? "maxpool-2d" : "avgpool-2d";
  if (node->n_out > 1 && out[1]) {
    if (s.kind != POOL_MAX)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': has only one output",
                      node->op_type, node->name);
    out[1]->dtype = LEDGE_INT64;
    lg_tensor_set_shape(out[1], 2 + n, dims);
  }
  return LEDGE_OK;
}

typedef struct pool_ctx {
  const pool_shape *s;
  const lg_tensor *x;
  lg_tensor *y;
  int64_t *indices; /* MaxPool's optional second output */
} pool_ctx;

/* Kernel taps [lo, hi) of one dimension whose input position start + k * dilation
 * lies in [begin, end). */
static void tap_range(int64_t start, int64_t dilation, int64_t kernel, int64_t begin, int64_t end,
                      int64_t *lo, int64_t *hi) {
  int64_t l = start >= begin ? 0 : (begin - start + dilation - 1) / dilation;
  int64_t h = end - 1 - start < 0 ? 0 : (end - 1 - start) / dilation + 1;
  if (h > kernel) h = kernel;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

static void pool_planes(void *ctx, int64_t begin, int64_t end) {
  const pool_ctx *c = ctx;
  const pool_shape *s = c->s;
  const lg_window *w = &s->w;
  int64_t in_count = w->in[0] * w->in[1] * w->in[2];
  int64_t out_count = w->out[0] * w->out[1] * w->out[2];
  for (int64_t plane = begin; plane < end; plane++) {
    int64_t in_base = plane * in_count, out_base = plane * out_count;
    for (int64_t o = 0; o < out_count; o++) {
      int64_t opos[3] = {o / (w->out[1] * w->out[2]), o / w->out[2] % w->out[1], o % w->out[2]};
      int64_t start[3], lo[3], hi[3], padded_taps = 1;
      for (int d = 0; d < 3; d++) {
        start[d] = opos[d] * w->stride[d] - w->pad_begin[d];
        tap_range(start[d], w->dilation[d], w->kernel[d], 0, w->in[d], &lo[d], &hi[d]);
        int64_t plo, phi;
        tap_range(start[d], w->dilation[d], w->kernel[d], -w->pad_begin[d],
                  w->in[d] + w->pad_end[d], &plo, &phi);
        padded_taps *= phi - plo;
      }
      double acc = s->kind == POOL_MAX ? -INFINITY : 0.0;
      int64_t best = -1, taps = 0;
      for (int64_t kd = lo[0]; kd < hi[0]; kd++) {
        int64_t id = start[0] + kd * w->dilation[0];
        for (int64_t kh = lo[1]; kh < hi[1]; kh++) {
          int64_t ih = start[1] + kh * w->dilation[1];
          for (int64_t kw = lo[2]; kw < hi[2]; kw++) {
            int64_t iw = start[2] + kw * w->dilation[2];
            int64_t index = (id * w->in[1] + ih) * w->in[2] + iw;
            double v = load_value(c->x->data, c->x->dtype, in_base + index);
            taps++;
            if (s->kind == POOL_MAX) {
              if (v > acc || best < 0) {
                acc = v;
                best = index;
                if (s->column_major_indices) best = id + w->in[0] * (ih + w->in[1] * iw);
              }
            } else if (s->kind == POOL_AVERAGE) {
              acc += v;
            } else {
              acc += pow(fabs(v), s->p);
            }
          }
        }
      }
      if (s->kind == POOL_AVERAGE) {
        int64_t divisor = s->count_include_pad ? padded_taps : taps;
        acc = divisor > 0 ? acc / (double)divisor : 0.0;
      } else if (s->kind == POOL_LP) {
        acc = pow(acc, 1.0 / s->p);
      }
      store_value(c->y->data, c->y->dtype, out_base + o, acc);
      if (c->indices) c->indices[out_base + o] = best < 0 ? 0 : in_base + best;
    }
  }
}

/* The fast path: float32, 1-D or 2-D windows, no indices output. Row by row
 * with the valid tap ranges computed once per row and column, in float. */
static bool pool_fast_ok(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                         const pool_shape *s) {
  const lg_window *w = &s->w;
  const lg_tensor *x = in[0];
  return lg_isa_active() != LG_ISA_REFERENCE && x->dtype == LEDGE_FLOAT32 && s->kind != POOL_LP &&
         !(node->n_out > 1 && out[1]) && w->in[0] == 1 && w->out[0] == 1 && w->kernel[0] == 1 &&
         !w->pad_begin[0] && !w->pad_end[0];
}

static void pool_planes_fast(void *ctx, int64_t begin, int64_t end) {
  const pool_ctx *c = ctx;
  const pool_shape *s = c->s;
  const lg_window *w = &s->w;
  int64_t ih_n = w->in[1], iw_n = w->in[2], oh_n = w->out[1], ow_n = w->out[2];
  for (int64_t plane = begin; plane < end; plane++) {
    const float *x = (const float *)c->x->data + plane * ih_n * iw_n;
    float *y = (float *)c->y->data + plane * oh_n * ow_n;
    for (int64_t oh = 0; oh < oh_n; oh++) {
      int64_t sh = oh * w->stride[1] - w->pad_begin[1], hlo, hhi, phlo, phhi;
      tap_range(sh, w->dilation[1], w->kernel[1], 0, ih_n, &hlo, &hhi);
      tap_range(sh, w->dilation[1], w->kernel[1], -w->pad_begin[1], ih_n + w->pad_end[1], &phlo,
                &phhi);
      for (int64_t ow = 0; ow < ow_n; ow++) {
        int64_t sw = ow * w->stride[2] - w->pad_begin[2], wlo = 0, whi = w->kernel[2], pwlo, pwhi;
        if (sw < 0 || sw + (w->kernel[2] - 1) * w->dilation[2] >= iw_n)
          tap_range(sw, w->dilation[2], w->kernel[2], 0, iw_n, &wlo, &whi);
        float acc;
        if (s->kind == POOL_MAX) {
          acc = -INFINITY;
          bool first = true;
          for (int64_t kh = hlo; kh < hhi; kh++) {
            const float *row = x + (sh + kh * w->dilation[1]) * iw_n + sw;
            for (int64_t kw = wlo; kw < whi; kw++) {
              float v = row[kw * w->dilation[2]];
              if (v > acc || first) acc = v;
              first = false;
            }
          }
        } else {
          tap_range(sw, w->dilation[2], w->kernel[2], -w->pad_begin[2], iw_n + w->pad_end[2], &pwlo,
                    &pwhi);
          acc = 0;
          for (int64_t kh = hlo; kh < hhi; kh++) {
            const float *row = x + (sh + kh * w->dilation[1]) * iw_n + sw;
            for (int64_t kw = wlo; kw < whi; kw++) acc += row[kw * w->dilation[2]];
          }
          int64_t divisor =
              s->count_include_pad ? (phhi - phlo) * (pwhi - pwlo) : (hhi - hlo) * (whi - wlo);
          acc = divisor > 0 ? acc / (float)divisor : 0.0f;
        }
        y[oh * ow_n + ow] = acc;
      }
    }
  }
}

/* The vectorized plane kernel (kernels/pool2d.h) where it applies: 2-D,
 * equal strides of 1 or 2, no dilation, windows up to 7x7. */
static lg_pool2d_fn pool_plane_kernel(const lg_node *node, lg_tensor *const *in,
                                      lg_tensor *const *out, const pool_shape *s,
                                      lg_pool2d_args *a) {
  const lg_window *w = &s->w;
  if (!pool_fast_ok(node, in, out, s) || w->dilation[1] != 1 || w->dilation[2] != 1 ||
      w->stride[1] != w->stride[2])
    return NULL;
  *a = (lg_pool2d_args){.h = w->in[1],
                        .w = w->in[2],
                        .oh = w->out[1],
                        .ow = w->out[2],
                        .kh = w->kernel[1],
                        .kw = w->kernel[2],
                        .stride = w->stride[1],
                        .pad_t = w->pad_begin[1],
                        .pad_l = w->pad_begin[2],
                        .pad_b = w->pad_end[1],
                        .pad_r = w->pad_end[2],
                        .is_max = s->kind == POOL_MAX,
                        .count_include_pad = s->count_include_pad};
  return lg_pool2d_kernel(lg_isa_active(), a);
}

typedef struct pool2d_ctx {
  lg_pool2d_fn fn;
  const lg_pool2d_args *a;
  const float *x;
  float *y;
} pool2d_ctx;

static void pool2d_planes(void *ctx, int64_t begin, int64_t end) {
  const pool2d_ctx *c = ctx;
  int64_t in_count = c->a->h * c->a->w, out_count = c->a->oh * c->a->ow;
  for (int64_t plane = begin; plane < end; plane++)
    c->fn(c->a, c->x + plane * in_count, c->y + plane * out_count);
}

static lg_status pool_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                          const lg_exec *exec) {
  pool_shape s;
  LG_TRY(pool_analyze(node, in[0], &s));
  pool_ctx c = {&s, in[0], out[0], node->n_out > 1 && out[1] ? out[1]->data : NULL};
  lg_pool2d_args a;
  lg_pool2d_fn fn = pool_plane_kernel(node, in, out, &s, &a);
  if (fn) {
    pool2d_ctx pc = {fn, &a, in[0]->data, out[0]->data};
    lg_threadpool *pool = lg_tensor_count(out[0]) < 4096 ? NULL : exec->pool;
    lg_parallel_for(pool, s.batch * s.channels, pool2d_planes, &pc);
    return LEDGE_OK;
  }
  if (pool_fast_ok(node, in, out, &s)) {
    lg_threadpool *pool = lg_tensor_count(out[0]) < 4096 ? NULL : exec->pool;
    lg_parallel_for(pool, s.batch * s.channels, pool_planes_fast, &c);
    return LEDGE_OK;
  }
  lg_parallel_for(exec->pool, s.batch * s.channels, pool_planes, &c);
  return LEDGE_OK;
}

/* ---- GlobalAveragePool, GlobalMaxPool, GlobalLpPool ---- */

static lg_status global_pool_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 1, 1));
  const lg_tensor *x = in[0];
  if (!x)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': input is missing", node->op_type,
                    node->name);
  if (!lg_dtype_is_float(x->dtype))
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': dtype %s is not supported", node->op_type,
                    node->name, ledge_dtype_name(x->dtype));
  if (x->rank < 2 || lg_tensor_count(x) < 0)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': input must have rank >= 2 (got %d)",
                    node->op_type, node->name, x->rank);
  int64_t dims[LEDGE_MAX_RANK];
  for (int i = 0; i < x->rank; i++) dims[i] = i < 2 ? x->dims[i] : 1;
  out[0]->dtype = x->dtype;
  lg_tensor_set_shape(out[0], x->rank, dims);
  return LEDGE_OK;
}

typedef struct global_ctx {
  pool_kind kind;
  double p;
  const lg_tensor *x;
  lg_tensor *y;
  int64_t plane_size;
} global_ctx;

static void global_planes(void *ctx, int64_t begin, int64_t end) {
  const global_ctx *c = ctx;
  for (int64_t plane = begin; plane < end; plane++) {
    int64_t base = plane * c->plane_size;
    double acc = c->kind == POOL_MAX ? -INFINITY : 0.0;
    if (c->x->dtype == LEDGE_FLOAT32 && c->kind == POOL_AVERAGE) {
      /* 16 float partial sums (a dependency chain of plane/16 adds, not one
       * of plane adds), folded in double. */
      const float *x = (const float *)c->x->data + base;
      lg_pvec part = {0}, v;
      int64_t i = 0;
      for (; i + LG_PLANE_VEC <= c->plane_size; i += LG_PLANE_VEC) {
        memcpy(&v, x + i, sizeof v);
        part += v;
      }
      for (int j = 0; j < LG_PLANE_VEC; j++) acc += part[j];
      for (; i < c->plane_size; i++) acc += x[i];
    } else {
      for (int64_t i = 0; i < c->plane_size; i++) {
        double v = load_value(c->x->data, c->x->dtype, base + i);
        if (c->kind == POOL_MAX)
          acc = v > acc ? v : acc;
        else if (c->kind == POOL_AVERAGE)
          acc += v;
        else
          acc += pow(fabs(v), c->p);
      }
    }
    if (c->kind == POOL_AVERAGE) acc = c->plane_size ? acc / (double)c->plane_size : 0.0;
    if (c->kind == POOL_LP) acc = pow(acc, 1.0 / c->p);
    store_value(c->y->data, c->y->dtype, plane, acc);
  }
}

static lg_status global_pool_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                                 const lg_exec *exec) {
  const lg_tensor *x = in[0];
  pool_kind kind = !strcmp(node->op_type, "GlobalMaxPool")  ? POOL_MAX
                   : !strcmp(node->op_type, "GlobalLpPool") ? POOL_LP
                                                            : POOL_AVERAGE;
  global_ctx c = {kind, (double)lg_attr_int(node, "p", 2), x, out[0],
                  lg_shape_count(x->rank - 2, x->dims + 2)};
  lg_threadpool *pool = lg_tensor_count(x) < 65536 ? NULL : exec->pool;
  lg_parallel_for(pool, x->dims[0] * x->dims[1], global_planes, &c);
  return LEDGE_OK;
}

const lg_op_def lg_ops_pool[] = {
    {"MaxPool", "", pool_infer, pool_run, false, false},
    {"AveragePool", "", pool_infer, pool_run, false, false},
    {"LpPool", "", pool_infer, pool_run, false, false},
    {"GlobalAveragePool", "", global_pool_infer, global_pool_run, false, false},
    {"GlobalMaxPool", "", global_pool_infer, global_pool_run, false, false},
    {"GlobalLpPool", "", global_pool_infer, global_pool_run, false, false},
    {0},
};
