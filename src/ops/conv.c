/*
 * conv.c: Conv and ConvTranspose over 1, 2 or 3 spatial dimensions (NCHW).
 *
 * Conv lowers each (image, group) to one matrix multiply: the weights
 * [M/g, C/g * kernel] times the input unfolded into columns (im2col, in the
 * node's workspace) [C/g * kernel, output pixels]. A pointwise convolution
 * multiplies the input directly. Convolutions with very few output channels
 * per group (depthwise ones) use a direct loop, parallel over channels.
 * ConvTranspose is the transpose: weights^T times input gives columns that
 * are scattered back (col2im) into the output.
 *
 * This file also owns the window geometry (kernel, strides, dilations, pads,
 * auto_pad) that the pooling operators share.
 */
#include <stdlib.h>
#include <string.h>

#include "kernels/depthwise.h"
#include "kernels/direct.h"
#include "kernels/gemm.h"
#include "kernels/winograd.h"
#include "ops/nn_common.h"
#include "runtime/vmath.h"

/* ---- Window geometry (shared with pool.c) ---- */

/* Limits that keep all index arithmetic far from int64 overflow. */
#define WINDOW_ATTR_MAX ((int64_t)1 << 31)

static lg_status read_spatial_attr(const lg_node *node, const char *name, int count, int64_t def,
                                   int64_t min, int64_t *out) {
  const int64_t *values;
  int got = lg_attr_ints(node, name, &values);
  if (got < 0) {
    for (int i = 0; i < count; i++) out[i] = def;
    return LEDGE_OK;
  }
  if (got != count)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': %s has %d values, expected %d",
                    node->op_type, node->name, name, got, count);
  for (int i = 0; i < count; i++) {
    if (values[i] < min || values[i] >= WINDOW_ATTR_MAX)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': %s[%d] = %lld is out of range",
                      node->op_type, node->name, name, i, (long long)values[i]);
    out[i] = values[i];
  }
  return LEDGE_OK;
}

static void window_clear(lg_window *w, int n) {
  memset(w, 0, sizeof *w);
  w->n = n;
  for (int i = 0; i < 3; i++) {
    w->in[i] = w->out[i] = w->kernel[i] = w->stride[i] = w->dilation[i] = 1;
  }
}

lg_status lg_window_init(const lg_node *node, int n, const int64_t *in_dims, const int64_t *kernel,
                         bool ceil_mode, lg_window *w) {
  if (n < 1 || n > 3)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': %d spatial dimensions (1 to 3 supported)",
                    node->op_type, node->name, n);
  window_clear(w, n);
  int64_t strides[3], dilations[3], pads[6];
  LG_TRY(read_spatial_attr(node, "strides", n, 1, 1, strides));
  LG_TRY(read_spatial_attr(node, "dilations", n, 1, 1, dilations));
  LG_TRY(read_spatial_attr(node, "pads", 2 * n, 0, 0, pads));
  const char *auto_pad = lg_attr_string(node, "auto_pad", "NOTSET");
  bool same_upper = !strcmp(auto_pad, "SAME_UPPER"), same_lower = !strcmp(auto_pad, "SAME_LOWER");
  bool valid = !strcmp(auto_pad, "VALID");
  if (!same_upper && !same_lower && !valid && strcmp(auto_pad, "NOTSET") && *auto_pad)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': unknown auto_pad '%s'",
                    node->op_type, node->name, auto_pad);
  for (int i = 0; i < n; i++) {
    int s = 3 - n + i;
    if (kernel[i] < 1 || kernel[i] >= WINDOW_ATTR_MAX)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': kernel size %lld is out of range",
                      node->op_type, node->name, (long long)kernel[i]);
    if (in_dims[i] < 0 || in_dims[i] >= ((int64_t)1 << 40))
      return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': spatial size %lld is out of range",
                      node->op_type, node->name, (long long)in_dims[i]);
    w->in[s] = in_dims[i];
    w->kernel[s] = kernel[i];
    w->stride[s] = strides[i];
    w->dilation[s] = dilations[i];
    int64_t extent = (kernel[i] - 1) * dilations[i] + 1; /* dilated kernel size */
    int64_t out;
    if (same_upper || same_lower) {
      out = (in_dims[i] + strides[i] - 1) / strides[i];
      int64_t total = (out - 1) * strides[i] + extent - in_dims[i];
      if (total < 0) total = 0;
      w->pad_begin[s] = same_upper ? total / 2 : total - total / 2;
      w->pad_end[s] = total - w->pad_begin[s];
    } else {
      if (!valid) {
        w->pad_begin[s] = pads[i];
        w->pad_end[s] = pads[n + i];
      }
      int64_t span = in_dims[i] + w->pad_begin[s] + w->pad_end[s] - extent;
      if (span < 0)
        return lg_error(LEDGE_ERR_SHAPE,
                        "%s node '%s': kernel extent %lld exceeds padded input size %lld",
                        node->op_type, node->name, (long long)extent,
                        (long long)(in_dims[i] + w->pad_begin[s] + w->pad_end[s]));
      if (ceil_mode) {
        out = (span + strides[i] - 1) / strides[i] + 1;
        /* The last window must start inside the input or its left padding. */
        if ((out - 1) * strides[i] >= in_dims[i] + w->pad_begin[s]) out--;
      } else {
        out = span / strides[i] + 1;
      }
    }
    w->out[s] = out;
  }
  return LEDGE_OK;
}

/* Positions o in [0, count) for which o * stride + offset lies in [0, limit):
 * sets [*lo, *hi). Used to skip padding without a test per element. */
static void valid_range(int64_t count, int64_t limit, int64_t stride, int64_t offset, int64_t *lo,
                        int64_t *hi) {
  int64_t l = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  int64_t h = limit - 1 - offset < 0 ? 0 : (limit - 1 - offset) / stride + 1;
  if (l > count) l = count;
  if (h > count) h = count;
  if (h < l) h = l;
  *lo = l;
  *hi = h;
}

static int64_t window_in_count(const lg_window *w) { return w->in[0] * w->in[1] * w->in[2]; }
static int64_t window_out_count(const lg_window *w) { return w->out[0] * w->out[1] * w->out[2]; }
static int64_t window_kernel_count(const lg_window *w) {
  return w->kernel[0] * w->kernel[1] * w->kernel[2];
}

/* ---- Conv ---- */

typedef struct conv_shape {
  int64_t batch, in_channels, out_channels, group;
  lg_window w;
  bool has_bias;
  bool pointwise; /* 1x1 kernel, stride 1, no padding: the input is already the column matrix */
  bool direct;    /* few output channels per group: use the direct loop */
} conv_shape;

static lg_status conv_analyze(const lg_node *node, lg_tensor *const *in, conv_shape *s) {
  const lg_tensor *x = in[0], *wt = in[1], *b = node->n_in > 2 ? in[2] : NULL;
  if (x->rank < 3 || x->rank > 5 || wt->rank != x->rank)
    return lg_error(LEDGE_ERR_SHAPE,
                    "%s node '%s': X (rank %d) and W (rank %d) must have the same rank, 3 to 5",
                    node->op_type, node->name, x->rank, wt->rank);
  int n = x->rank - 2;
  s->batch = x->dims[0];
  s->in_channels = x->dims[1];
  s->out_channels = wt->dims[0];
  s->group = lg_attr_int(node, "group", 1);
  if (lg_tensor_count(x) < 0 || lg_tensor_count(wt) < 0 || wt->dims[1] > s->in_channels)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': invalid X or W shape", node->op_type,
                    node->name);
  if (s->group < 1 || s->group > WINDOW_ATTR_MAX || s->out_channels < 1 ||
      s->out_channels % s->group || wt->dims[1] * s->group != s->in_channels || s->batch < 0)
    return lg_error(LEDGE_ERR_SHAPE,
                    "%s node '%s': channels do not match: X has %lld, W is [%lld, %lld, ...], "
                    "group %lld",
                    node->op_type, node->name, (long long)s->in_channels,
                    (long long)s->out_channels, (long long)wt->dims[1], (long long)s->group);
  const int64_t *kernel_attr;
  int nk = lg_attr_ints(node, "kernel_shape", &kernel_attr);
  if (nk >= 0) {
    if (nk != n)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT,
                      "%s node '%s': kernel_shape has %d values, "
                      "expected %d",
                      node->op_type, node->name, nk, n);
    for (int i = 0; i < n; i++)
      if (kernel_attr[i] != wt->dims[2 + i])
        return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': kernel_shape does not match W's shape",
                        node->op_type, node->name);
  }
  LG_TRY(lg_window_init(node, n, x->dims + 2, wt->dims + 2, false, &s->w));
  s->has_bias = b != NULL;
  if (b && (b->rank != 1 || b->dims[0] != s->out_channels))
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': B must be a vector of %lld values",
                    node->op_type, node->name, (long long)s->out_channels);
  const lg_window *w = &s->w;
  s->pointwise = true;
  for (int i = 0; i < 3; i++)
    if (w->kernel[i] != 1 || w->stride[i] != 1 || w->pad_begin[i] || w->pad_end[i])
      s->pointwise = false;
  s->direct = s->out_channels / s->group < 4;
  return LEDGE_OK;
}

/* ---- Optimized Conv (src/kernels) ----
 *
 * infer picks an algorithm per layer from its shape and the ISA level
 * (kernels/cpu.h) and packs the weights once into node->state:
 *   - depthwise 3x3/5x5, stride 1 or 2: a dedicated kernel per channel plane;
 *   - everything else with at least 4 output channels per group: packed GEMM
 *     (kernels/gemm.h) per (image, group), with B read straight from the
 *     input for a 1x1 stride-1 convolution and unfolded panel by panel
 *     (im2col without a full column matrix) otherwise.
 * Bias and the fused activation are applied as the results are stored.
 * Whatever is not covered (3-D, non-constant weights, LEDGE_ISA=reference)
 * runs the reference kernel below. */

enum {
  CONV_REFERENCE = 0,
  CONV_GEMM_1X1,
  CONV_GEMM_IM2COL,
  CONV_DEPTHWISE,
  CONV_WINOGRAD,
  CONV_DIRECT,
  CONV_ALGO_COUNT
};

typedef struct conv_fast {
  int algo;
  /* im2col: unfold the whole input into the workspace once, then a dense
   * GEMM. For strided 1x1 convolutions (ResNet's downsampling): unfolding
   * is then just subsampling, and doing it once beats gathering each panel
   * again for every block of output channels. */
  bool full_im2col;
  const lg_gemm_kernel *kern;
  lg_dw_fn dw;
  size_t group_stride; /* floats between the packed weights of two groups */
  float *packed;       /* 64-byte aligned, inside this allocation */
} conv_fast;

static const char *const conv_kernel_names[CONV_ALGO_COUNT][LG_ISA_COUNT] = {
    [CONV_GEMM_1X1] = {"gemm-1x1/generic", "gemm-1x1/generic", "gemm-1x1/avx2", "gemm-1x1/avx512"},
    [CONV_GEMM_IM2COL] = {"im2col-gemm/generic", "im2col-gemm/generic", "im2col-gemm/avx2",
                          "im2col-gemm/avx512"},
    [CONV_DEPTHWISE] = {"depthwise/generic", "depthwise/generic", "depthwise/avx2",
                        "depthwise/avx512"},
    [CONV_DIRECT] = {"direct-few-channels/generic", "direct-few-channels/generic",
                     "direct-few-channels/avx2", "direct-few-channels/avx512"},
    [CONV_WINOGRAD] = {"winograd-f2x2/generic", "winograd-f2x2/generic", "winograd-f2x2/avx2",
                       "winograd-f2x2/avx512"},
};

/* Only 1-D and 2-D windows (the depth slot neutral) take the fast paths. */
static bool window_is_2d(const lg_window *w) {
  return w->in[0] == 1 && w->out[0] == 1 && w->kernel[0] == 1 && !w->pad_begin[0] && !w->pad_end[0];
}

/* The few-input-channel direct kernel (kernels/direct.h) for this layer,
 * its arguments filled in when a is given. */
static lg_direct_fn conv_direct_kernel(lg_isa isa, const conv_shape *s, lg_direct_args *a,
                                       const lg_act *act) {
  const lg_window *w = &s->w;
  lg_direct_args args = {.c = s->in_channels,
                         .h = w->in[1],
                         .w = w->in[2],
                         .m = s->out_channels,
                         .oh = w->out[1],
                         .ow = w->out[2],
                         .kh = w->kernel[1],
                         .kw = w->kernel[2],
                         .stride = w->stride[2],
                         .pad_t = w->pad_begin[1],
                         .pad_l = w->pad_begin[2],
                         .act = act};
  if (a) *a = args;
  return lg_direct_kernel(isa, &args);
}

typedef struct direct_ctx {
  lg_direct_fn fn;
  const lg_direct_args *a;
  const float *x;
  float *y;
} direct_ctx;

static void direct_blocks(void *ctx, int64_t begin, int64_t end) {
  const direct_ctx *c = ctx;
  int64_t m1 = end * 8 < c->a->m ? end * 8 : c->a->m;
  c->fn(c->a, c->x, c->y, begin * 8, m1);
}

static lg_status conv_plan_fast(lg_node *node, lg_tensor *const *in, const conv_shape *s) {
  lg_isa isa = lg_isa_active();
  const lg_window *w = &s->w;
  if (isa == LG_ISA_REFERENCE || !in[1]->data || !window_is_2d(w) || s->batch < 1 ||
      window_out_count(w) < 1)
    return LEDGE_OK;
  int algo = CONV_REFERENCE;
  lg_dw_fn dw = NULL;
  int64_t in_per_group = s->in_channels / s->group, out_per_group = s->out_channels / s->group;
  if (in_per_group == 1 && out_per_group == 1 && w->kernel[1] == w->kernel[2] &&
      w->stride[1] == w->stride[2] && w->dilation[1] == 1 && w->dilation[2] == 1 &&
      (dw = lg_depthwise_kernel(isa, (int)w->kernel[2], (int)w->stride[2])))
    algo = CONV_DEPTHWISE;
  /* Winograd from 10x10 outputs up: below that (resnet's 7x7 stage) its 16
   * GEMMs have too few tiles to amortize streaming the 16/9 larger
   * transformed weights, and im2col GEMM measured faster. */
  else if (s->group == 1 && w->kernel[1] == 3 && w->kernel[2] == 3 && w->stride[1] == 1 &&
           w->stride[2] == 1 && w->dilation[1] == 1 && w->dilation[2] == 1 &&
           s->in_channels >= 16 && s->out_channels >= 16 && window_out_count(w) >= 100 &&
           lg_winograd_fits(w->out[1], w->out[2]))
    algo = CONV_WINOGRAD;
  else if (!s->direct && in_per_group >= 1 && !s->pointwise && s->group == 1 &&
           w->stride[1] == w->stride[2] && w->dilation[1] == 1 && w->dilation[2] == 1 &&
           conv_direct_kernel(lg_gemm_kernel_for(isa)->isa, s, NULL, NULL))
    algo = CONV_DIRECT;
  else if (!s->direct && in_per_group >= 1)
    algo = s->pointwise ? CONV_GEMM_1X1 : CONV_GEMM_IM2COL;
  if (algo == CONV_REFERENCE) return LEDGE_OK;

  const lg_gemm_kernel *kern = lg_gemm_kernel_for(isa);
  int64_t rows = in_per_group * window_kernel_count(w);
  /* Depthwise keeps a plain copy of its weights: like the packed ones, it
   * lets the session release the file's pages (lg_conv_holds_weights). */
  /* The GEMM paths read W in place (lg_gemm_desc.a): no second copy. */
  size_t group_floats = algo == CONV_DIRECT      ? 0
                        : algo == CONV_DEPTHWISE ? (size_t)(out_per_group * rows)
                        : algo == CONV_WINOGRAD
                            ? lg_winograd_packed_floats(kern, s->out_channels, s->in_channels)
                            : 0;
  size_t bytes = sizeof(conv_fast) + LG_ALIGNMENT + group_floats * (size_t)s->group * sizeof(float);
  conv_fast *f = malloc(bytes);
  if (!f)
    return lg_error(LEDGE_ERR_NO_MEMORY, "%s node '%s': out of memory for packed weights",
                    node->op_type, node->name);
  f->algo = algo;
  f->full_im2col = false;
  f->kern = kern;
  f->dw = dw;
  f->group_stride = group_floats;
  f->packed = (float *)lg_align_up((size_t)((char *)f + sizeof *f), LG_ALIGNMENT);
  const float *wt = in[1]->data;
  if (algo == CONV_WINOGRAD) {
    if (!lg_winograd_pack(kern, s->out_channels, s->in_channels, wt, f->packed)) {
      free(f);
      return lg_error(LEDGE_ERR_NO_MEMORY, "%s node '%s': out of memory for packed weights",
                      node->op_type, node->name);
    }
    node->workspace = lg_winograd_workspace(s->out_channels, s->in_channels, w->out[1], w->out[2]);
  }
  if (algo == CONV_DEPTHWISE)
    memcpy(f->packed, wt, (size_t)s->out_channels * (size_t)rows * sizeof(float));
  for (int64_t g = 0;
       g < s->group && group_floats && algo != CONV_WINOGRAD && algo != CONV_DEPTHWISE; g++)
    lg_gemm_pack_a(kern, out_per_group, rows, wt + g * out_per_group * rows, rows, 1,
                   f->packed + g * group_floats);
  if (algo == CONV_GEMM_IM2COL && w->kernel[1] == 1 && w->kernel[2] == 1) {
    f->full_im2col = true;
    node->workspace = (size_t)(rows * window_out_count(w)) * sizeof(float);
  }
  node->state = f;
  node->kernel = conv_kernel_names[algo][kern->isa == LG_ISA_GENERIC ? LG_ISA_GENERIC : isa];
  if (algo == CONV_DEPTHWISE) node->kernel = conv_kernel_names[algo][isa];
  return LEDGE_OK;
}

/* Unfolds one group of one image into columns (also the reference path's
 * im2col, defined with it below). */
typedef struct im2col_ctx {
  const lg_window *w;
  const float *x; /* the group's first input channel */
  float *cols;
} im2col_ctx;
static void im2col_rows(void *ctx, int64_t begin, int64_t end);

/* Fills a KC x NR panel of the unfolded input (rows (c, kh, kw), columns
 * output pixels) for the packed GEMM, straight from the input. */
typedef struct im2col_pack_ctx {
  const lg_window *w;
  const float *x; /* the group's first input channel */
  int64_t n;      /* output pixels */
} im2col_pack_ctx;

static void im2col_pack(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int nr, float *panel) {
  const im2col_pack_ctx *c = ctx;
  const lg_window *w = c->w;
  int64_t out_w = w->out[2], kh_n = w->kernel[1], kw_n = w->kernel[2];
  int64_t in_h = w->in[1], in_w = w->in[2];
  int64_t cols = c->n - j0 < nr ? c->n - j0 : nr;
  int64_t oh0 = j0 / out_w, ow0 = j0 % out_w;
  /* Row p0 + p is (ch, kh, kw), stepped incrementally (no divisions per
   * row); the valid output columns of each kw are computed once. */
  enum { RANGES_MAX = 16 };
  int64_t range_lo[RANGES_MAX], range_hi[RANGES_MAX];
  for (int64_t kw = 0; kw < kw_n && kw < RANGES_MAX; kw++)
    valid_range(out_w, in_w, w->stride[2], kw * w->dilation[2] - w->pad_begin[2], &range_lo[kw],
                &range_hi[kw]);
  int64_t ch = p0 / (kh_n * kw_n), kh = p0 % (kh_n * kw_n) / kw_n, kw = p0 % kw_n;
  for (int64_t p = 0; p < kc; p++) {
    if (p > 0 && ++kw == kw_n) {
      kw = 0;
      if (++kh == kh_n) {
        kh = 0;
        ch++;
      }
    }
    const float *xc = c->x + ch * in_h * in_w;
    float *dst = panel + p * nr;
    int64_t off_w = kw * w->dilation[2] - w->pad_begin[2], lo, hi;
    if (kw < RANGES_MAX) {
      lo = range_lo[kw];
      hi = range_hi[kw];
    } else {
      valid_range(out_w, in_w, w->stride[2], off_w, &lo, &hi);
    }
    int64_t jj = 0, oh = oh0, ow = ow0;
    while (jj < cols) {
      int64_t len = cols - jj < out_w - ow ? cols - jj : out_w - ow;
      int64_t ih = oh * w->stride[1] + kh * w->dilation[1] - w->pad_begin[1];
      float *d = dst + jj;
      if (ih < 0 || ih >= in_h) {
        memset(d, 0, (size_t)len * sizeof(float));
      } else {
        const float *src = xc + ih * in_w;
        /* The valid columns of this segment: [a, b) within [ow, ow + len). */
        int64_t a = lo > ow ? lo : ow, b = hi < ow + len ? hi : ow + len;
        if (a > ow + len) a = ow + len;
        if (b < a) b = a;
        for (int64_t o = ow; o < a; o++) d[o - ow] = 0;
        if (w->stride[2] == 1) {
          if (b > a) memcpy(d + (a - ow), src + a + off_w, (size_t)(b - a) * sizeof(float));
        } else {
          for (int64_t o = a; o < b; o++) d[o - ow] = src[o * w->stride[2] + off_w];
        }
        for (int64_t o = b; o < ow + len; o++) d[o - ow] = 0;
      }
      jj += len;
      ow = 0;
      oh++;
    }
    for (int64_t j = cols; j < nr; j++) dst[j] = 0;
  }
}

typedef struct dw_ctx {
  const conv_shape *s;
  const conv_fast *f;
  const float *x, *wt, *bias;
  float *y;
  const lg_act *act;
} dw_ctx;

static void dw_planes(void *ctx, int64_t begin, int64_t end) {
  const dw_ctx *c = ctx;
  const lg_window *w = &c->s->w;
  int64_t channels = c->s->out_channels, in_count = window_in_count(w);
  int64_t out_count = window_out_count(w), kk = w->kernel[1] * w->kernel[2];
  for (int64_t plane = begin; plane < end; plane++) {
    int64_t m = plane % channels;
    c->f->dw(c->x + plane * in_count, w->in[1], w->in[2], c->wt + m * kk,
             c->bias ? c->bias[m] : 0.0f, c->y + plane * out_count, w->out[1], w->out[2],
             w->pad_begin[1], w->pad_begin[2], c->act);
  }
}

/* act is applied last; residual (NULL or an output-shaped tensor added
 * before act) is taken only by the GEMM paths, see conv_run. */
static void conv_run_fast(const lg_node *node, const conv_fast *f, const conv_shape *s,
                          const float *x, const float *wt, const float *bias, float *y,
                          const lg_act *act, const float *residual, const lg_exec *exec) {
  const lg_window *w = &s->w;
  int64_t in_count = window_in_count(w), out_count = window_out_count(w);
  if (f->algo == CONV_DEPTHWISE) {
    dw_ctx c = {s, f, x, f->packed, bias, y, act};
    lg_threadpool *pool = s->batch * s->out_channels * out_count < 4096 ? NULL : exec->pool;
    lg_parallel_for(pool, s->batch * s->out_channels, dw_planes, &c);
    return;
  }
  if (f->algo == CONV_DIRECT) {
    lg_direct_args a;
    lg_direct_fn fn = conv_direct_kernel(f->kern->isa, s, &a, act);
    a.weights = wt;
    a.bias = bias;
    for (int64_t image = 0; image < s->batch && fn; image++) {
      direct_ctx c = {fn, &a, x + image * s->in_channels * in_count,
                      y + image * s->out_channels * out_count};
      lg_parallel_for(exec->pool, (s->out_channels + 7) / 8, direct_blocks, &c);
    }
    return;
  }
  if (f->algo == CONV_WINOGRAD) {
    for (int64_t image = 0; image < s->batch; image++) {
      lg_winograd_args a = {
          .kern = f->kern,
          .packed = f->packed,
          .c = s->in_channels,
          .h = w->in[1],
          .w = w->in[2],
          .pad_t = w->pad_begin[1],
          .pad_l = w->pad_begin[2],
          .m = s->out_channels,
          .oh = w->out[1],
          .ow = w->out[2],
          .x = x + image * s->in_channels * in_count,
          .y = y + image * s->out_channels * out_count,
          .bias = bias,
          .residual = residual ? residual + image * s->out_channels * out_count : NULL,
          .act = act,
          .workspace = exec->workspace};
      lg_winograd_run(&a, exec->pool);
    }
    return;
  }
  int64_t in_per_group = s->in_channels / s->group, out_per_group = s->out_channels / s->group;
  int64_t rows = in_per_group * window_kernel_count(w);
  for (int64_t image = 0; image < s->batch; image++)
    for (int64_t g = 0; g < s->group; g++) {
      const float *xg = x + (image * s->in_channels + g * in_per_group) * in_count;
      im2col_pack_ctx pc = {w, xg, out_count};
      lg_gemm_desc d = {.kern = f->kern,
                        .m = out_per_group,
                        .n = out_count,
                        .k = rows,
                        .a = wt + g * out_per_group * rows,
                        .lda = rows,
                        .c = y + (image * s->out_channels + g * out_per_group) * out_count,
                        .ldc = out_count,
                        .bias = bias ? bias + g * out_per_group : NULL,
                        .act = *act};
      if (residual) {
        d.residual = residual + (image * s->out_channels + g * out_per_group) * out_count;
        d.ldr = out_count;
      }
      if (f->algo == CONV_GEMM_1X1) {
        d.b = xg;
        d.ldb = in_count;
      } else if (f->full_im2col) {
        im2col_ctx c = {w, xg, exec->workspace};
        lg_threadpool *pool = rows * out_count < 16384 ? NULL : exec->pool;
        lg_parallel_for(pool, rows, im2col_rows, &c);
        d.b = exec->workspace;
        d.ldb = out_count;
      } else {
        d.pack_b = im2col_pack;
        d.pack_ctx = &pc;
      }
      lg_gemm(&d, exec->pool);
    }
}

bool lg_conv_holds_weights(const lg_node *node) {
  if (!node->state || strcmp(node->op_type, "Conv") || *node->domain) return false;
  int algo = ((const conv_fast *)node->state)->algo;
  return algo == CONV_WINOGRAD || algo == CONV_DEPTHWISE;
}

static lg_status conv_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 2, node->fused_add ? 4 : 3));
  if (node->fused_add && (node->n_in != 4 || !in[3] || in[3]->dtype != LEDGE_FLOAT32))
    return lg_error(LEDGE_ERR_INTERNAL, "%s node '%s': fused residual input is missing",
                    node->op_type, node->name);
  LG_TRY(lg_check_float(node, in[0], 0));
  LG_TRY(lg_check_float(node, in[1], 1));
  if (node->n_in > 2 && in[2]) LG_TRY(lg_check_float(node, in[2], 2));
  conv_shape s;
  LG_TRY(conv_analyze(node, in, &s));
  int64_t dims[5] = {s.batch, s.out_channels};
  int n = s.w.n;
  for (int i = 0; i < n; i++) dims[2 + i] = s.w.out[3 - n + i];
  if (lg_shape_count(2 + n, dims) < 0)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': output shape overflows", node->op_type,
                    node->name);
  out[0]->dtype = LEDGE_FLOAT32;
  lg_tensor_set_shape(out[0], 2 + n, dims);
  if (node->fused_add && !lg_shape_equal(in[3]->rank, in[3]->dims, 2 + n, dims))
    return lg_error(LEDGE_ERR_INTERNAL, "%s node '%s': fused residual has the wrong shape",
                    node->op_type, node->name);
  int64_t rows = s.in_channels / s.group * window_kernel_count(&s.w);
  int64_t cols = window_out_count(&s.w);
  if (rows > ((int64_t)1 << 40) / (cols ? cols : 1))
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': convolution too large", node->op_type,
                    node->name);
  node->workspace = s.direct || s.pointwise ? 0 : (size_t)(rows * cols) * sizeof(float);
  node->macs = s.batch * s.out_channels * cols * rows;
  size_t reference_workspace = node->workspace;
  node->workspace = 0;
  LG_TRY(conv_plan_fast(node, in, &s));
  if (!node->state) node->workspace = reference_workspace;
  return LEDGE_OK;
}

/* Unfolds one group of one image into columns: row (c, kd, kh, kw), column
 * (od, oh, ow) holds the input under that kernel tap, or 0 in the padding. */

static void im2col_rows(void *ctx, int64_t begin, int64_t end) {
  const im2col_ctx *c = ctx;
  const lg_window *w = c->w;
  int64_t kernel_count = window_kernel_count(w), out_count = window_out_count(w);
  for (int64_t r = begin; r < end; r++) {
    int64_t ch = r / kernel_count, tap = r % kernel_count;
    int64_t kw = tap % w->kernel[2], kh = tap / w->kernel[2] % w->kernel[1],
            kd = tap / (w->kernel[2] * w->kernel[1]);
    const float *xc = c->x + ch * window_in_count(w);
    float *dst = c->cols + r * out_count;
    int64_t w_lo, w_hi, off_w = kw * w->dilation[2] - w->pad_begin[2];
    valid_range(w->out[2], w->in[2], w->stride[2], off_w, &w_lo, &w_hi);
    for (int64_t od = 0; od < w->out[0]; od++) {
      int64_t id = od * w->stride[0] + kd * w->dilation[0] - w->pad_begin[0];
      for (int64_t oh = 0; oh < w->out[1]; oh++) {
        int64_t ih = oh * w->stride[1] + kh * w->dilation[1] - w->pad_begin[1];
        float *row = dst + (od * w->out[1] + oh) * w->out[2];
        if (id < 0 || id >= w->in[0] || ih < 0 || ih >= w->in[1]) {
          memset(row, 0, (size_t)w->out[2] * sizeof(float));
          continue;
        }
        const float *src = xc + (id * w->in[1] + ih) * w->in[2];
        for (int64_t ow = 0; ow < w_lo; ow++) row[ow] = 0;
        if (w->stride[2] == 1 && w_hi > w_lo)
          memcpy(row + w_lo, src + w_lo + off_w, (size_t)(w_hi - w_lo) * sizeof(float));
        else
          for (int64_t ow = w_lo; ow < w_hi; ow++) row[ow] = src[ow * w->stride[2] + off_w];
        for (int64_t ow = w_hi; ow < w->out[2]; ow++) row[ow] = 0;
      }
    }
  }
}

/* The direct loop: one task per (image, output channel) plane. */
typedef struct conv_direct_ctx {
  const conv_shape *s;
  const float *x, *wt, *bias;
  float *y;
} conv_direct_ctx;

static void conv_direct_planes(void *ctx, int64_t begin, int64_t end) {
  const conv_direct_ctx *c = ctx;
  const conv_shape *s = c->s;
  const lg_window *w = &s->w;
  int64_t in_per_group = s->in_channels / s->group, out_per_group = s->out_channels / s->group;
  int64_t in_count = window_in_count(w), out_count = window_out_count(w);
  int64_t kernel_count = window_kernel_count(w);
  for (int64_t plane = begin; plane < end; plane++) {
    int64_t image = plane / s->out_channels, m = plane % s->out_channels;
    int64_t group = m / out_per_group;
    float *y = c->y + plane * out_count;
    float bias = c->bias ? c->bias[m] : 0.0f;
    for (int64_t i = 0; i < out_count; i++) y[i] = bias;
    for (int64_t ci = 0; ci < in_per_group; ci++) {
      const float *x = c->x + (image * s->in_channels + group * in_per_group + ci) * in_count;
      const float *wk = c->wt + (m * in_per_group + ci) * kernel_count;
      for (int64_t kd = 0; kd < w->kernel[0]; kd++)
        for (int64_t kh = 0; kh < w->kernel[1]; kh++)
          for (int64_t kw = 0; kw < w->kernel[2]; kw++) {
            float wv = wk[(kd * w->kernel[1] + kh) * w->kernel[2] + kw];
            int64_t off_w = kw * w->dilation[2] - w->pad_begin[2], lo, hi;
            valid_range(w->out[2], w->in[2], w->stride[2], off_w, &lo, &hi);
            for (int64_t od = 0; od < w->out[0]; od++) {
              int64_t id = od * w->stride[0] + kd * w->dilation[0] - w->pad_begin[0];
              if (id < 0 || id >= w->in[0]) continue;
              for (int64_t oh = 0; oh < w->out[1]; oh++) {
                int64_t ih = oh * w->stride[1] + kh * w->dilation[1] - w->pad_begin[1];
                if (ih < 0 || ih >= w->in[1]) continue;
                const float *src = x + (id * w->in[1] + ih) * w->in[2];
                float *dst = y + (od * w->out[1] + oh) * w->out[2];
                if (w->stride[2] == 1)
                  for (int64_t ow = lo; ow < hi; ow++) dst[ow] += wv * src[ow + off_w];
                else
                  for (int64_t ow = lo; ow < hi; ow++)
                    dst[ow] += wv * src[ow * w->stride[2] + off_w];
              }
            }
          }
    }
  }
}

static lg_status conv_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                          const lg_exec *exec) {
  conv_shape s;
  LG_TRY(conv_analyze(node, in, &s));
  const float *x = in[0]->data, *wt = in[1]->data;
  const float *bias = s.has_bias ? in[2]->data : NULL;
  float *y = out[0]->data;
  const lg_window *w = &s.w;
  int64_t in_count = window_in_count(w), out_count = window_out_count(w);
  int64_t in_per_group = s.in_channels / s.group, out_per_group = s.out_channels / s.group;
  int64_t rows = in_per_group * window_kernel_count(w);

  /* A fused residual Add (passes.c) is added before the activation: the
   * GEMM paths do it as they store; the others add it afterwards. */
  const float *residual = node->fused_add ? in[3]->data : NULL;
  int64_t total = s.batch * s.out_channels * out_count;
  if (node->state) {
    const conv_fast *f = node->state;
    bool in_epilogue =
        f->algo == CONV_GEMM_1X1 || f->algo == CONV_GEMM_IM2COL || f->algo == CONV_WINOGRAD;
    if (!residual || in_epilogue) {
      conv_run_fast(node, f, &s, x, wt, bias, y, &node->act, residual, exec);
      return LEDGE_OK;
    }
    const lg_act none = {LG_ACT_NONE, 0, 0};
    conv_run_fast(node, f, &s, x, wt, bias, y, &none, NULL, exec);
    for (int64_t i = 0; i < total; i++) y[i] += residual[i];
    lg_vact(&node->act, y, total);
    return LEDGE_OK;
  }
  if (s.direct) {
    conv_direct_ctx c = {&s, x, wt, bias, y};
    lg_parallel_for(exec->pool, s.batch * s.out_channels, conv_direct_planes, &c);
  } else {
    for (int64_t m = 0; m < s.batch * s.out_channels; m++) {
      float b = bias ? bias[m % s.out_channels] : 0.0f;
      for (int64_t i = 0; i < out_count; i++) y[m * out_count + i] = b;
    }
    for (int64_t image = 0; image < s.batch; image++)
      for (int64_t g = 0; g < s.group; g++) {
        const float *xg = x + (image * s.in_channels + g * in_per_group) * in_count;
        const float *cols = xg;
        if (!s.pointwise) {
          im2col_ctx c = {w, xg, exec->workspace};
          lg_threadpool *pool = rows * out_count < 16384 ? NULL : exec->pool;
          lg_parallel_for(pool, rows, im2col_rows, &c);
          cols = exec->workspace;
        }
        lg_sgemm_args args = {.m = out_per_group,
                              .n = out_count,
                              .k = rows,
                              .a = wt + g * out_per_group * rows,
                              .a_row_stride = rows,
                              .a_col_stride = 1,
                              .b = cols,
                              .ldb = out_count,
                              .c = y + (image * s.out_channels + g * out_per_group) * out_count,
                              .ldc = out_count,
                              .alpha = 1.0f};
        lg_sgemm(&args, exec->pool);
      }
  }
  if (residual)
    for (int64_t i = 0; i < total; i++) y[i] += residual[i];
  lg_act_apply(&node->act, y, total);
  return LEDGE_OK;
}

/* ---- ConvTranspose ---- */

typedef struct deconv_shape {
  int64_t batch, in_channels, out_channels, group;
  lg_window w; /* in: the input's spatial dims; out: the output's */
  bool has_bias;
} deconv_shape;

static lg_status deconv_analyze(const lg_node *node, lg_tensor *const *in, deconv_shape *s) {
  const lg_tensor *x = in[0], *wt = in[1], *b = node->n_in > 2 ? in[2] : NULL;
  if (x->rank < 3 || x->rank > 5 || wt->rank != x->rank)
    return lg_error(LEDGE_ERR_SHAPE,
                    "%s node '%s': X (rank %d) and W (rank %d) must have the same rank, 3 to 5",
                    node->op_type, node->name, x->rank, wt->rank);
  int n = x->rank - 2;
  s->batch = x->dims[0];
  s->in_channels = x->dims[1];
  s->group = lg_attr_int(node, "group", 1);
  if (lg_tensor_count(x) < 0 || lg_tensor_count(wt) < 0)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': invalid X or W shape", node->op_type,
                    node->name);
  if (s->group < 1 || s->group > WINDOW_ATTR_MAX || wt->dims[0] != s->in_channels ||
      s->in_channels % s->group || wt->dims[1] < 1 || s->batch < 0)
    return lg_error(LEDGE_ERR_SHAPE,
                    "%s node '%s': channels do not match: X has %lld, W is [%lld, %lld, ...], "
                    "group %lld",
                    node->op_type, node->name, (long long)s->in_channels, (long long)wt->dims[0],
                    (long long)wt->dims[1], (long long)s->group);
  s->out_channels = wt->dims[1] * s->group;
  const int64_t *kernel_attr;
  int nk = lg_attr_ints(node, "kernel_shape", &kernel_attr);
  if (nk >= 0 && nk != n)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': kernel_shape has %d values",
                    node->op_type, node->name, nk);
  for (int i = 0; nk >= 0 && i < n; i++)
    if (kernel_attr[i] != wt->dims[2 + i])
      return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': kernel_shape does not match W's shape",
                      node->op_type, node->name);

  /* Reuse the window reader for strides, dilations and pads, then derive the
   * output size the transposed way. */
  lg_window *w = &s->w;
  window_clear(w, n);
  int64_t strides[3], dilations[3], pads[6], out_pad[3], out_shape[3];
  LG_TRY(read_spatial_attr(node, "strides", n, 1, 1, strides));
  LG_TRY(read_spatial_attr(node, "dilations", n, 1, 1, dilations));
  LG_TRY(read_spatial_attr(node, "pads", 2 * n, 0, 0, pads));
  LG_TRY(read_spatial_attr(node, "output_padding", n, 0, 0, out_pad));
  const int64_t *shape_attr;
  int n_shape = lg_attr_ints(node, "output_shape", &shape_attr);
  if (n_shape >= 0) {
    /* Some exporters include the batch and channel dimensions. */
    if (n_shape != n && n_shape != n + 2)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': output_shape has %d values",
                      node->op_type, node->name, n_shape);
    for (int i = 0; i < n; i++) {
      out_shape[i] = shape_attr[n_shape - n + i];
      if (out_shape[i] < 0 || out_shape[i] >= ((int64_t)1 << 40))
        return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': output_shape is out of range",
                        node->op_type, node->name);
    }
  }
  const char *auto_pad = lg_attr_string(node, "auto_pad", "NOTSET");
  bool same_upper = !strcmp(auto_pad, "SAME_UPPER"), same_lower = !strcmp(auto_pad, "SAME_LOWER");
  if (!same_upper && !same_lower && strcmp(auto_pad, "VALID") && strcmp(auto_pad, "NOTSET") &&
      *auto_pad)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': unknown auto_pad '%s'",
                    node->op_type, node->name, auto_pad);
  if (!strcmp(auto_pad, "VALID"))
    for (int i = 0; i < 2 * n; i++) pads[i] = 0;
  for (int i = 0; i < n; i++) {
    int sl = 3 - n + i;
    int64_t k = wt->dims[2 + i];
    if (k < 1 || k >= WINDOW_ATTR_MAX || x->dims[2 + i] < 0 || x->dims[2 + i] >= ((int64_t)1 << 40))
      return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': kernel or input size out of range",
                      node->op_type, node->name);
    w->in[sl] = x->dims[2 + i];
    w->kernel[sl] = k;
    w->stride[sl] = strides[i];
    w->dilation[sl] = dilations[i];
    int64_t extent = (k - 1) * dilations[i] + 1;
    int64_t full = strides[i] * (w->in[sl] - 1) + out_pad[i] + extent; /* unpadded output */
    if (n_shape >= 0 || same_upper || same_lower) {
      int64_t target = n_shape >= 0 ? out_shape[i] : w->in[sl] * strides[i];
      int64_t total = full - target;
      /* Floor division, so that a negative total (output larger than the
       * inputs cover) leaves zeros at the end. */
      int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
      if (same_upper) {
        w->pad_begin[sl] = half;
        w->pad_end[sl] = total - half;
      } else {
        w->pad_begin[sl] = total - half;
        w->pad_end[sl] = half;
      }
      w->out[sl] = target;
    } else {
      w->pad_begin[sl] = pads[i];
      w->pad_end[sl] = pads[n + i];
      w->out[sl] = full - pads[i] - pads[n + i];
      if (w->out[sl] < 0)
        return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': pads exceed the output size", node->op_type,
                        node->name);
    }
  }
  s->has_bias = b != NULL;
  if (b && (b->rank != 1 || b->dims[0] != s->out_channels))
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': B must be a vector of %lld values",
                    node->op_type, node->name, (long long)s->out_channels);
  return LEDGE_OK;
}

static lg_status deconv_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 2, 3));
  LG_TRY(lg_check_float(node, in[0], 0));
  LG_TRY(lg_check_float(node, in[1], 1));
  if (node->n_in > 2 && in[2]) LG_TRY(lg_check_float(node, in[2], 2));
  deconv_shape s;
  LG_TRY(deconv_analyze(node, in, &s));
  int n = s.w.n;
  int64_t dims[5] = {s.batch, s.out_channels};
  for (int i = 0; i < n; i++) dims[2 + i] = s.w.out[3 - n + i];
  if (lg_shape_count(2 + n, dims) < 0)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': output shape overflows", node->op_type,
                    node->name);
  out[0]->dtype = LEDGE_FLOAT32;
  lg_tensor_set_shape(out[0], 2 + n, dims);
  int64_t rows = s.out_channels / s.group * window_kernel_count(&s.w);
  int64_t cols = window_in_count(&s.w);
  if (rows > ((int64_t)1 << 40) / (cols ? cols : 1))
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': convolution too large", node->op_type,
                    node->name);
  node->workspace = (size_t)(rows * cols) * sizeof(float);
  node->macs =
      s.batch * s.in_channels * cols * (s.out_channels / s.group) * window_kernel_count(&s.w);
  return LEDGE_OK;
}

/* Adds columns (row (m, kd, kh, kw), column = input position) into the
 * output planes of one group; one task per output channel m. */
typedef struct col2im_ctx {
  const lg_window *w;
  const float *cols;
  float *y; /* the group's first output channel */
} col2im_ctx;

static void col2im_channels(void *ctx, int64_t begin, int64_t end) {
  const col2im_ctx *c = ctx;
  const lg_window *w = c->w;
  int64_t kernel_count = window_kernel_count(w), in_count = window_in_count(w);
  int64_t out_count = window_out_count(w);
  for (int64_t m = begin; m < end; m++) {
    float *y = c->y + m * out_count;
    for (int64_t tap = 0; tap < kernel_count; tap++) {
      int64_t kw = tap % w->kernel[2], kh = tap / w->kernel[2] % w->kernel[1],
              kd = tap / (w->kernel[2] * w->kernel[1]);
      const float *src = c->cols + (m * kernel_count + tap) * in_count;
      int64_t off_w = kw * w->dilation[2] - w->pad_begin[2], lo, hi;
      valid_range(w->in[2], w->out[2], w->stride[2], off_w, &lo, &hi);
      for (int64_t id = 0; id < w->in[0]; id++) {
        int64_t od = id * w->stride[0] + kd * w->dilation[0] - w->pad_begin[0];
        if (od < 0 || od >= w->out[0]) continue;
        for (int64_t ih = 0; ih < w->in[1]; ih++) {
          int64_t oh = ih * w->stride[1] + kh * w->dilation[1] - w->pad_begin[1];
          if (oh < 0 || oh >= w->out[1]) continue;
          const float *row = src + (id * w->in[1] + ih) * w->in[2];
          float *dst = y + (od * w->out[1] + oh) * w->out[2];
          for (int64_t iw = lo; iw < hi; iw++) dst[iw * w->stride[2] + off_w] += row[iw];
        }
      }
    }
  }
}

static lg_status deconv_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                            const lg_exec *exec) {
  deconv_shape s;
  LG_TRY(deconv_analyze(node, in, &s));
  const float *x = in[0]->data, *wt = in[1]->data;
  const float *bias = s.has_bias ? in[2]->data : NULL;
  float *y = out[0]->data;
  const lg_window *w = &s.w;
  int64_t in_count = window_in_count(w), out_count = window_out_count(w);
  int64_t in_per_group = s.in_channels / s.group, out_per_group = s.out_channels / s.group;
  int64_t rows = out_per_group * window_kernel_count(w);
  float *cols = exec->workspace;

  for (int64_t m = 0; m < s.batch * s.out_channels; m++) {
    float b = bias ? bias[m % s.out_channels] : 0.0f;
    for (int64_t i = 0; i < out_count; i++) y[m * out_count + i] = b;
  }
  /* With nothing to scatter (an empty input or kernel), Y is the bias. */
  for (int64_t image = 0; image < s.batch && rows * in_count > 0; image++)
    for (int64_t g = 0; g < s.group; g++) {
      memset(cols, 0, (size_t)(rows * in_count) * sizeof(float));
      /* W's group slice is [C/g, rows]; the product needs its transpose. */
      lg_sgemm_args args = {.m = rows,
                            .n = in_count,
                            .k = in_per_group,
                            .a = wt + g * in_per_group * rows,
                            .a_row_stride = 1,
                            .a_col_stride = rows,
                            .b = x + (image * s.in_channels + g * in_per_group) * in_count,
                            .ldb = in_count,
                            .c = cols,
                            .ldc = in_count,
                            .alpha = 1.0f};
      lg_sgemm(&args, exec->pool);
      col2im_ctx c = {w, cols, y + (image * s.out_channels + g * out_per_group) * out_count};
      lg_parallel_for(exec->pool, out_per_group, col2im_channels, &c);
    }
  lg_act_apply(&node->act, y, s.batch * s.out_channels * out_count);
  return LEDGE_OK;
}

const lg_op_def lg_ops_conv[] = {
    {"Conv", "", conv_infer, conv_run, false, false},
    {"ConvTranspose", "", deconv_infer, deconv_run, false, false},
    {0},
};
