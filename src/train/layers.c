/*
 * layers.c: forward and backward of every layer the trainer knows, side by
 * side. Shapes are logical (N, C, H, W); rank-4 data are stored C x N x H x W
 * (engine.h), so a channel is one contiguous run of N*H*W floats and a
 * (channel, image) plane is at index c * N + n. Backward functions add into
 * the input gradients (a value may feed several nodes); the engine zeroes
 * them before a backward pass.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/engine.h"

#define VAL(net, i) (&(net)->values[(i)])
#define IN(nd, i) VAL(net, (nd)->in[i])
#define OUT(nd) VAL(net, (nd)->out[0])

/* Elementwise loops are split over the pool only when long enough to pay. */
static lg_threadpool *pool_for(tr_net *net, int64_t work) {
  return work >= 32768 ? net->pool : NULL;
}

void tr_value_strides4(const tr_value *v, int64_t d[4], int64_t s[4]) {
  int pad = 4 - v->rank;
  for (int i = 0; i < 4; i++) d[i] = i < pad ? 1 : v->dims[i - pad];
  if (v->rank == 4) { /* C x N x H x W */
    s[3] = 1;
    s[2] = d[3];
    s[0] = d[2] * d[3];
    s[1] = d[0] * s[0];
  } else {
    s[3] = 1;
    for (int i = 2; i >= 0; i--) s[i] = s[i + 1] * d[i + 1];
  }
  for (int i = 0; i < 4; i++)
    if (d[i] == 1) s[i] = 0;
}

/* ---- Elementwise activations ---- */

typedef struct elem_job {
  const tr_node *nd;
  const float *x, *y, *dy;
  float *out; /* y (forward) or dx (backward) */
} elem_job;

static void act_forward_range(void *ctx, int64_t b, int64_t e) {
  const elem_job *j = ctx;
  const tr_node *nd = j->nd;
  const float *x = j->x;
  float *y = j->out;
  float lo = nd->alpha, hi = nd->beta;
  switch (nd->op) {
    case TR_RELU:
      for (int64_t i = b; i < e; i++) y[i] = x[i] > 0 ? x[i] : 0;
      break;
    case TR_CLIP:
      for (int64_t i = b; i < e; i++) y[i] = x[i] < lo ? lo : (x[i] > hi ? hi : x[i]);
      break;
    case TR_LEAKY_RELU:
      for (int64_t i = b; i < e; i++) y[i] = x[i] > 0 ? x[i] : lo * x[i];
      break;
    case TR_HARD_SIGMOID:
      for (int64_t i = b; i < e; i++) {
        float v = lo * x[i] + hi;
        y[i] = v < 0 ? 0 : (v > 1 ? 1 : v);
      }
      break;
    case TR_HARD_SWISH:
      for (int64_t i = b; i < e; i++) {
        float v = x[i] / 6.0f + 0.5f;
        y[i] = x[i] * (v < 0 ? 0 : (v > 1 ? 1 : v));
      }
      break;
    case TR_SIGMOID:
      for (int64_t i = b; i < e; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
      break;
    case TR_TANH:
      for (int64_t i = b; i < e; i++) y[i] = tanhf(x[i]);
      break;
    default: break;
  }
}

static void act_backward_range(void *ctx, int64_t b, int64_t e) {
  const elem_job *j = ctx;
  const tr_node *nd = j->nd;
  const float *x = j->x, *y = j->y, *dy = j->dy;
  float *dx = j->out;
  float lo = nd->alpha, hi = nd->beta;
  switch (nd->op) {
    case TR_RELU:
      for (int64_t i = b; i < e; i++) dx[i] += x[i] > 0 ? dy[i] : 0;
      break;
    case TR_CLIP:
      for (int64_t i = b; i < e; i++) dx[i] += (x[i] > lo && x[i] < hi) ? dy[i] : 0;
      break;
    case TR_LEAKY_RELU:
      for (int64_t i = b; i < e; i++) dx[i] += x[i] > 0 ? dy[i] : lo * dy[i];
      break;
    case TR_HARD_SIGMOID:
      for (int64_t i = b; i < e; i++) {
        float v = lo * x[i] + hi;
        dx[i] += (v > 0 && v < 1) ? lo * dy[i] : 0;
      }
      break;
    case TR_HARD_SWISH:
      for (int64_t i = b; i < e; i++) {
        float g = x[i] < -3 ? 0 : (x[i] > 3 ? 1 : (2 * x[i] + 3) / 6.0f);
        dx[i] += g * dy[i];
      }
      break;
    case TR_SIGMOID:
      for (int64_t i = b; i < e; i++) dx[i] += dy[i] * y[i] * (1 - y[i]);
      break;
    case TR_TANH:
      for (int64_t i = b; i < e; i++) dx[i] += dy[i] * (1 - y[i] * y[i]);
      break;
    default: break;
  }
}

/* ---- Convolution ---- */

static void add_channel_bias(float *y, const float *bias, int64_t channels, int64_t run) {
  for (int64_t c = 0; c < channels; c++) {
    float b = bias[c];
    float *p = y + c * run;
    for (int64_t i = 0; i < run; i++) p[i] += b;
  }
}

static void sum_channels(const float *dy, float *db, int64_t channels, int64_t run) {
  for (int64_t c = 0; c < channels; c++) {
    double s = 0;
    const float *p = dy + c * run;
    for (int64_t i = 0; i < run; i++) s += p[i];
    db[c] += (float)s;
  }
}

static void conv_forward(tr_net *net, tr_node *nd) {
  tr_value *x = IN(nd, 0), *w = IN(nd, 1), *y = OUT(nd);
  tr_conv_geom g = nd->geom;
  g.n = net->batch;
  int64_t run = g.n * g.oh * g.ow;
  if (nd->op == TR_CONV) {
    tr_conv_forward(net->pool, &g, w->data, x->data, y->data, false);
    if (nd->n_in > 2 && nd->in[2] >= 0) add_channel_bias(y->data, IN(nd, 2)->data, g.c_small, run);
  } else { /* ConvTranspose: x is the small map, y the big one */
    int64_t big_run = g.n * g.h * g.w;
    memset(y->data, 0, sizeof(float) * (size_t)y->count);
    tr_conv_backward_data(net->pool, &g, w->data, x->data, y->data);
    if (nd->n_in > 2 && nd->in[2] >= 0)
      add_channel_bias(y->data, IN(nd, 2)->data, g.c_big, big_run);
  }
}

static void conv_backward(tr_net *net, tr_node *nd) {
  tr_value *x = IN(nd, 0), *w = IN(nd, 1), *y = OUT(nd);
  tr_value *b = nd->n_in > 2 && nd->in[2] >= 0 ? IN(nd, 2) : NULL;
  tr_conv_geom g = nd->geom;
  g.n = net->batch;
  if (nd->op == TR_CONV) {
    if (w->grad) tr_conv_backward_filter(net->pool, &g, y->grad, x->data, w->grad);
    if (b && b->grad) sum_channels(y->grad, b->grad, g.c_small, g.n * g.oh * g.ow);
    if (x->grad) tr_conv_backward_data(net->pool, &g, w->data, y->grad, x->grad);
  } else {
    if (w->grad) tr_conv_backward_filter(net->pool, &g, x->data, y->grad, w->grad);
    if (b && b->grad) sum_channels(y->grad, b->grad, g.c_big, g.n * g.h * g.w);
    if (x->grad) tr_conv_forward(net->pool, &g, w->data, y->grad, x->grad, true);
  }
}

/* ---- Batch normalization ---- */

typedef struct bn_job {
  tr_net *net;
  tr_node *nd;
} bn_job;

/* Channel c of a rank-4 value is x[c * m + i]; of a rank-2 [N, C] value x[i * C + c]. */
static void bn_layout(const tr_value *x, int64_t *channels, int64_t *m, int64_t *cs, int64_t *is) {
  *channels = x->dims[1];
  *m = x->count / *channels;
  if (x->rank == 4) {
    *cs = *m;
    *is = 1;
  } else {
    *cs = 1;
    *is = *channels;
  }
}

static void bn_forward_range(void *ctx, int64_t b, int64_t e) {
  const bn_job *j = ctx;
  tr_net *net = j->net;
  tr_node *nd = j->nd;
  tr_value *x = IN(nd, 0), *y = OUT(nd);
  const float *gamma = IN(nd, 1)->data, *beta = IN(nd, 2)->data;
  float *rmean = IN(nd, 3)->data, *rvar = IN(nd, 4)->data;
  int64_t channels, m, cs, is;
  bn_layout(x, &channels, &m, &cs, &is);
  for (int64_t c = b; c < e; c++) {
    const float *xc = x->data + c * cs;
    float *yc = y->data + c * cs;
    float mean, invstd;
    if (nd->train_mode) {
      /* One pass: sums in double around a shift (the first value), which
       * keeps E[x^2] - E[x]^2 accurate for activations far from zero. */
      double s = 0, s2 = 0, shift = xc[0];
      for (int64_t i = 0; i < m; i++) {
        double d = xc[i * is] - shift;
        s += d;
        s2 += d * d;
      }
      double mu = shift + s / (double)m;
      double var = s2 / (double)m - (s / (double)m) * (s / (double)m);
      if (var < 0) var = 0;
      mean = (float)mu;
      invstd = (float)(1.0 / sqrt(var + nd->epsilon));
      double unbiased = m > 1 ? var * (double)m / (double)(m - 1) : var;
      rmean[c] = nd->momentum * rmean[c] + (1 - nd->momentum) * (float)mu;
      rvar[c] = nd->momentum * rvar[c] + (1 - nd->momentum) * (float)unbiased;
    } else {
      mean = rmean[c];
      invstd = 1.0f / sqrtf(rvar[c] + nd->epsilon);
    }
    nd->saved[2 * c] = mean;
    nd->saved[2 * c + 1] = invstd;
    float sc = gamma[c] * invstd, sh = beta[c] - mean * sc;
    for (int64_t i = 0; i < m; i++) yc[i * is] = xc[i * is] * sc + sh;
  }
}

static void bn_backward_range(void *ctx, int64_t b, int64_t e) {
  const bn_job *j = ctx;
  tr_net *net = j->net;
  tr_node *nd = j->nd;
  tr_value *x = IN(nd, 0), *y = OUT(nd), *gv = IN(nd, 1), *bv = IN(nd, 2);
  int64_t channels, m, cs, is;
  bn_layout(x, &channels, &m, &cs, &is);
  for (int64_t c = b; c < e; c++) {
    const float *xc = x->data + c * cs, *dy = y->grad + c * cs;
    float mean = nd->saved[2 * c], invstd = nd->saved[2 * c + 1];
    double sdy = 0, sdyx = 0;
    for (int64_t i = 0; i < m; i++) {
      sdy += dy[i * is];
      sdyx += dy[i * is] * (xc[i * is] - mean);
    }
    double dgamma = sdyx * invstd, dbeta = sdy;
    if (gv->grad) gv->grad[c] += (float)dgamma;
    if (bv->grad) bv->grad[c] += (float)dbeta;
    if (!x->grad) continue;
    float *dx = x->grad + c * cs;
    float gamma = gv->data[c];
    if (nd->train_mode) {
      /* dx = gamma * invstd / m * (m * dy - sum(dy) - xhat * sum(dy * xhat)) */
      float k = gamma * invstd / (float)m;
      float a = (float)sdy, bq = (float)(dgamma);
      for (int64_t i = 0; i < m; i++) {
        float xhat = (xc[i * is] - mean) * invstd;
        dx[i * is] += k * ((float)m * dy[i * is] - a - xhat * bq);
      }
    } else {
      float k = gamma * invstd;
      for (int64_t i = 0; i < m; i++) dx[i * is] += k * dy[i * is];
    }
  }
}

/* ---- Pooling ---- */

typedef struct pool_job {
  tr_net *net;
  tr_node *nd;
} pool_job;

static void pool_dims(const tr_node *nd, const tr_value *x, const tr_value *y, int64_t *h,
                      int64_t *w, int64_t *oh, int64_t *ow) {
  *h = x->dims[2];
  *w = x->dims[3];
  *oh = y->dims[2];
  *ow = y->dims[3];
  (void)nd;
}

static void pool_forward_range(void *ctx, int64_t b, int64_t e) {
  const pool_job *j = ctx;
  tr_net *net = j->net;
  tr_node *nd = j->nd;
  tr_value *x = IN(nd, 0), *y = OUT(nd);
  int64_t h, w, oh, ow;
  pool_dims(nd, x, y, &h, &w, &oh, &ow);
  int64_t kh = nd->pool_k[0], kw = nd->pool_k[1], sh = nd->pool_s[0], sw = nd->pool_s[1];
  int64_t ph = nd->pool_p[0], pw = nd->pool_p[1], dh = nd->pool_d[0], dw = nd->pool_d[1];
  for (int64_t p = b; p < e; p++) {
    const float *xp = x->data + p * h * w;
    float *yp = y->data + p * oh * ow;
    int32_t *am = nd->op == TR_MAXPOOL ? nd->argmax + p * oh * ow : NULL;
    for (int64_t oy = 0; oy < oh; oy++)
      for (int64_t ox = 0; ox < ow; ox++) {
        if (nd->op == TR_MAXPOOL) {
          float best = -INFINITY;
          int32_t arg = -1;
          for (int64_t ky = 0; ky < kh; ky++) {
            int64_t iy = oy * sh - ph + ky * dh;
            if (iy < 0 || iy >= h) continue;
            for (int64_t kx = 0; kx < kw; kx++) {
              int64_t ix = ox * sw - pw + kx * dw;
              if (ix < 0 || ix >= w) continue;
              float v = xp[iy * w + ix];
              if (v > best || arg < 0) {
                best = v;
                arg = (int32_t)(iy * w + ix);
              }
            }
          }
          yp[oy * ow + ox] = best;
          am[oy * ow + ox] = arg;
        } else {
          double s = 0;
          int64_t cnt = 0;
          int64_t y0 = oy * sh - ph, x0 = ox * sw - pw;
          for (int64_t ky = 0; ky < kh; ky++) {
            int64_t iy = y0 + ky;
            if (iy < 0 || iy >= h) continue;
            for (int64_t kx = 0; kx < kw; kx++) {
              int64_t ix = x0 + kx;
              if (ix < 0 || ix >= w) continue;
              s += xp[iy * w + ix];
              cnt++;
            }
          }
          if (nd->count_include_pad) {
            int64_t y1 = y0 + kh < h + nd->pool_p[2] ? y0 + kh : h + nd->pool_p[2];
            int64_t x1 = x0 + kw < w + nd->pool_p[3] ? x0 + kw : w + nd->pool_p[3];
            cnt = (y1 - y0) * (x1 - x0);
          }
          yp[oy * ow + ox] = cnt ? (float)(s / (double)cnt) : 0.0f;
        }
      }
  }
}

static void pool_backward_range(void *ctx, int64_t b, int64_t e) {
  const pool_job *j = ctx;
  tr_net *net = j->net;
  tr_node *nd = j->nd;
  tr_value *x = IN(nd, 0), *y = OUT(nd);
  int64_t h, w, oh, ow;
  pool_dims(nd, x, y, &h, &w, &oh, &ow);
  int64_t kh = nd->pool_k[0], kw = nd->pool_k[1], sh = nd->pool_s[0], sw = nd->pool_s[1];
  int64_t ph = nd->pool_p[0], pw = nd->pool_p[1];
  for (int64_t p = b; p < e; p++) {
    float *dx = x->grad + p * h * w;
    const float *dy = y->grad + p * oh * ow;
    if (nd->op == TR_MAXPOOL) {
      const int32_t *am = nd->argmax + p * oh * ow;
      for (int64_t i = 0; i < oh * ow; i++)
        if (am[i] >= 0) dx[am[i]] += dy[i];
      continue;
    }
    for (int64_t oy = 0; oy < oh; oy++)
      for (int64_t ox = 0; ox < ow; ox++) {
        int64_t y0 = oy * sh - ph, x0 = ox * sw - pw, cnt = 0;
        for (int64_t ky = 0; ky < kh; ky++)
          for (int64_t kx = 0; kx < kw; kx++)
            cnt += (y0 + ky >= 0 && y0 + ky < h && x0 + kx >= 0 && x0 + kx < w);
        if (nd->count_include_pad) {
          int64_t y1 = y0 + kh < h + nd->pool_p[2] ? y0 + kh : h + nd->pool_p[2];
          int64_t x1 = x0 + kw < w + nd->pool_p[3] ? x0 + kw : w + nd->pool_p[3];
          cnt = (y1 - y0) * (x1 - x0);
        }
        if (!cnt) continue;
        float g = dy[oy * ow + ox] / (float)cnt;
        for (int64_t ky = 0; ky < kh; ky++) {
          int64_t iy = y0 + ky;
          if (iy < 0 || iy >= h) continue;
          for (int64_t kx = 0; kx < kw; kx++) {
            int64_t ix = x0 + kx;
            if (ix >= 0 && ix < w) dx[iy * w + ix] += g;
          }
        }
      }
  }
}

static void gap_forward_range(void *ctx, int64_t b, int64_t e) {
  const pool_job *j = ctx;
  tr_net *net = j->net;
  tr_node *nd = j->nd;
  tr_value *x = IN(nd, 0), *y = OUT(nd);
  int64_t hw = x->dims[2] * x->dims[3];
  for (int64_t p = b; p < e; p++) {
    double s = 0;
    const float *xp = x->data + p * hw;
    for (int64_t i = 0; i < hw; i++) s += xp[i];
    y->data[p] = (float)(s / (double)hw);
  }
}

static void gap_backward_range(void *ctx, int64_t b, int64_t e) {
  const pool_job *j = ctx;
  tr_net *net = j->net;
  tr_node *nd = j->nd;
  tr_value *x = IN(nd, 0), *y = OUT(nd);
  int64_t hw = x->dims[2] * x->dims[3];
  for (int64_t p = b; p < e; p++) {
    float g = y->grad[p] / (float)hw;
    float *dx = x->grad + p * hw;
    for (int64_t i = 0; i < hw; i++) dx[i] += g;
  }
}

/* ---- Gemm / MatMul ---- */

/* Strides of op(A) (M x K) and op(B) (K x N). */
static void gemm_strides(const tr_node *nd, int64_t m, int64_t k, int64_t n, int64_t *a_rs,
                         int64_t *a_cs, int64_t *b_rs, int64_t *b_cs) {
  if (nd->trans_a) {
    *a_rs = 1;
    *a_cs = m;
  } else {
    *a_rs = k;
    *a_cs = 1;
  }
  if (nd->trans_b) {
    *b_rs = 1;
    *b_cs = k;
  } else {
    *b_rs = n;
    *b_cs = 1;
  }
}

static void gemm_mkn(tr_net *net, const tr_node *nd, int64_t *m, int64_t *k, int64_t *n) {
  tr_value *a = IN(nd, 0), *b = IN(nd, 1);
  *m = nd->trans_a ? a->dims[1] : a->dims[0];
  *k = nd->trans_a ? a->dims[0] : a->dims[1];
  *n = nd->trans_b ? b->dims[0] : b->dims[1];
}

/* Strides of C broadcast to M x N. */
static void bias_strides(const tr_value *c, int64_t *rs, int64_t *cs) {
  int64_t d[4], s[4];
  tr_value_strides4(c, d, s);
  *rs = s[2];
  *cs = s[3];
}

static float *scratch(tr_net *net, int64_t floats) {
  if (floats > net->scratch_cap) {
    free(net->scratch);
    net->scratch = malloc(sizeof(float) * (size_t)floats);
    if (!net->scratch) abort();
    net->scratch_cap = floats;
  }
  return net->scratch;
}

static void gemm_forward(tr_net *net, tr_node *nd) {
  tr_value *a = IN(nd, 0), *b = IN(nd, 1), *y = OUT(nd);
  int64_t m, k, n, a_rs, a_cs, b_rs, b_cs;
  gemm_mkn(net, nd, &m, &k, &n);
  gemm_strides(nd, m, k, n, &a_rs, &a_cs, &b_rs, &b_cs);
  tr_matmul(net->pool, m, n, k, a->data, a_rs, a_cs, b->data, b_rs, b_cs, y->data, n, false, NULL);
  if (nd->alpha != 1.0f)
    for (int64_t i = 0; i < m * n; i++) y->data[i] *= nd->alpha;
  if (nd->n_in > 2 && nd->in[2] >= 0) {
    tr_value *c = IN(nd, 2);
    int64_t rs, cs;
    bias_strides(c, &rs, &cs);
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) y->data[i * n + j] += nd->beta * c->data[i * rs + j * cs];
  }
}

static void gemm_backward(tr_net *net, tr_node *nd) {
  tr_value *a = IN(nd, 0), *b = IN(nd, 1), *y = OUT(nd);
  int64_t m, k, n, a_rs, a_cs, b_rs, b_cs;
  gemm_mkn(net, nd, &m, &k, &n);
  gemm_strides(nd, m, k, n, &a_rs, &a_cs, &b_rs, &b_cs);
  const float *dy = y->grad;
  if (nd->alpha != 1.0f) {
    float *s = scratch(net, m * n);
    for (int64_t i = 0; i < m * n; i++) s[i] = nd->alpha * y->grad[i];
    dy = s;
  }
  if (a->grad) {
    /* d op(A) (M x K) = dY * op(B)^T; op(B)^T(j, p) = op(B)(p, j). */
    if (!nd->trans_a)
      tr_matmul(net->pool, m, k, n, dy, n, 1, b->data, b_cs, b_rs, a->grad, k, true, NULL);
    else /* dA (K x M) = op(B) * dY^T */
      tr_matmul(net->pool, k, m, n, b->data, b_rs, b_cs, dy, 1, n, a->grad, m, true, NULL);
  }
  if (b->grad) {
    /* d op(B) (K x N) = op(A)^T * dY */
    if (!nd->trans_b)
      tr_matmul(net->pool, k, n, m, a->data, a_cs, a_rs, dy, n, 1, b->grad, n, true, NULL);
    else /* dB (N x K) = dY^T * op(A) */
      tr_matmul(net->pool, n, k, m, dy, 1, n, a->data, a_rs, a_cs, b->grad, k, true, NULL);
  }
  if (nd->n_in > 2 && nd->in[2] >= 0 && IN(nd, 2)->grad) {
    tr_value *c = IN(nd, 2);
    int64_t rs, cs;
    bias_strides(c, &rs, &cs);
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) c->grad[i * rs + j * cs] += nd->beta * y->grad[i * n + j];
  }
}

/* ---- Broadcasting Add / Mul ---- */

static bool same_layout(const tr_value *a, const tr_value *b) {
  if (a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return false;
  return true;
}

typedef struct binary_job {
  const float *a, *b, *dy;
  float *y, *da, *db;
  bool mul;
} binary_job;

static void binary_flat_forward(void *ctx, int64_t s, int64_t e) {
  const binary_job *j = ctx;
  if (j->mul)
    for (int64_t i = s; i < e; i++) j->y[i] = j->a[i] * j->b[i];
  else
    for (int64_t i = s; i < e; i++) j->y[i] = j->a[i] + j->b[i];
}

static void binary_flat_backward(void *ctx, int64_t s, int64_t e) {
  const binary_job *j = ctx;
  for (int64_t i = s; i < e; i++) {
    float g = j->dy[i];
    if (j->da) j->da[i] += j->mul ? g * j->b[i] : g;
    if (j->db) j->db[i] += j->mul ? g * j->a[i] : g;
  }
}

static void binary_forward(tr_net *net, tr_node *nd) {
  tr_value *a = IN(nd, 0), *b = IN(nd, 1), *y = OUT(nd);
  bool mul = nd->op == TR_MUL;
  if (same_layout(a, y) && same_layout(b, y)) {
    binary_job j = {a->data, b->data, NULL, y->data, NULL, NULL, mul};
    lg_parallel_for(pool_for(net, y->count), y->count, binary_flat_forward, &j);
    return;
  }
  int64_t d[4], sy[4], da[4], sa[4], db[4], sb[4];
  tr_value_strides4(y, d, sy);
  tr_value_strides4(a, da, sa);
  tr_value_strides4(b, db, sb);
  for (int64_t i0 = 0; i0 < d[0]; i0++)
    for (int64_t i1 = 0; i1 < d[1]; i1++)
      for (int64_t i2 = 0; i2 < d[2]; i2++)
        for (int64_t i3 = 0; i3 < d[3]; i3++) {
          float av = a->data[i0 * sa[0] + i1 * sa[1] + i2 * sa[2] + i3 * sa[3]];
          float bv = b->data[i0 * sb[0] + i1 * sb[1] + i2 * sb[2] + i3 * sb[3]];
          y->data[i0 * sy[0] + i1 * sy[1] + i2 * sy[2] + i3 * sy[3]] = mul ? av * bv : av + bv;
        }
}

static void binary_backward(tr_net *net, tr_node *nd) {
  tr_value *a = IN(nd, 0), *b = IN(nd, 1), *y = OUT(nd);
  bool mul = nd->op == TR_MUL;
  if (same_layout(a, y) && same_layout(b, y)) {
    binary_job j = {a->data, b->data, y->grad, NULL, a->grad, b->grad, mul};
    lg_parallel_for(pool_for(net, y->count), y->count, binary_flat_backward, &j);
    return;
  }
  int64_t d[4], sy[4], da[4], sa[4], db[4], sb[4];
  tr_value_strides4(y, d, sy);
  tr_value_strides4(a, da, sa);
  tr_value_strides4(b, db, sb);
  for (int64_t i0 = 0; i0 < d[0]; i0++)
    for (int64_t i1 = 0; i1 < d[1]; i1++)
      for (int64_t i2 = 0; i2 < d[2]; i2++)
        for (int64_t i3 = 0; i3 < d[3]; i3++) {
          int64_t oa = i0 * sa[0] + i1 * sa[1] + i2 * sa[2] + i3 * sa[3];
          int64_t ob = i0 * sb[0] + i1 * sb[1] + i2 * sb[2] + i3 * sb[3];
          float g = y->grad[i0 * sy[0] + i1 * sy[1] + i2 * sy[2] + i3 * sy[3]];
          if (a->grad) a->grad[oa] += mul ? g * b->data[ob] : g;
          if (b->grad) b->grad[ob] += mul ? g * a->data[oa] : g;
        }
}

/* ---- Layout-changing copies: Concat, Flatten / Reshape ---- */

/* Logical (row-major NCHW) order to and from a value's storage. */
static void to_logical(const tr_value *v, const float *src, float *dst, bool accumulate) {
  int64_t d[4], s[4], l = 0;
  tr_value_strides4(v, d, s);
  for (int64_t i0 = 0; i0 < d[0]; i0++)
    for (int64_t i1 = 0; i1 < d[1]; i1++)
      for (int64_t i2 = 0; i2 < d[2]; i2++)
        for (int64_t i3 = 0; i3 < d[3]; i3++, l++) {
          float x = src[i0 * s[0] + i1 * s[1] + i2 * s[2] + i3 * s[3]];
          dst[l] = accumulate ? dst[l] + x : x;
        }
}

static void from_logical(const tr_value *v, const float *src, float *dst, bool accumulate) {
  int64_t d[4], s[4], l = 0;
  tr_value_strides4(v, d, s);
  for (int64_t i0 = 0; i0 < d[0]; i0++)
    for (int64_t i1 = 0; i1 < d[1]; i1++)
      for (int64_t i2 = 0; i2 < d[2]; i2++)
        for (int64_t i3 = 0; i3 < d[3]; i3++, l++) {
          float *p = dst + i0 * s[0] + i1 * s[1] + i2 * s[2] + i3 * s[3];
          *p = accumulate ? *p + src[l] : src[l];
        }
}

static void reshape_forward(tr_net *net, tr_node *nd) {
  tr_value *x = IN(nd, 0), *y = OUT(nd);
  if (x->rank != 4 && y->rank != 4) {
    memcpy(y->data, x->data, sizeof(float) * (size_t)y->count);
    return;
  }
  float *tmp = scratch(net, x->count);
  to_logical(x, x->data, tmp, false);
  from_logical(y, tmp, y->data, false);
}

static void reshape_backward(tr_net *net, tr_node *nd) {
  tr_value *x = IN(nd, 0), *y = OUT(nd);
  if (x->rank != 4 && y->rank != 4) {
    for (int64_t i = 0; i < y->count; i++) x->grad[i] += y->grad[i];
    return;
  }
  float *tmp = scratch(net, x->count);
  to_logical(y, y->grad, tmp, false);
  from_logical(x, tmp, x->grad, true);
}

/* Concat: element (i0..i3) of input k sits at axis offset off_k in y. */
static void concat_copy(tr_net *net, tr_node *nd, bool backward) {
  tr_value *y = OUT(nd);
  int64_t dy4[4], sy[4];
  tr_value_strides4(y, dy4, sy);
  int axis4 = nd->axis + (4 - y->rank);
  /* strides4 zeroes the strides of size-1 dims; recompute the axis stride. */
  int64_t full[4];
  {
    int64_t d[4];
    int pad = 4 - y->rank;
    for (int i = 0; i < 4; i++) d[i] = i < pad ? 1 : y->dims[i - pad];
    if (y->rank == 4) {
      full[3] = 1;
      full[2] = d[3];
      full[0] = d[2] * d[3];
      full[1] = d[0] * full[0];
    } else {
      full[3] = 1;
      for (int i = 2; i >= 0; i--) full[i] = full[i + 1] * d[i + 1];
    }
  }
  int64_t off = 0;
  for (int k = 0; k < nd->n_in; k++) {
    tr_value *x = IN(nd, k);
    int64_t d[4], s[4];
    tr_value_strides4(x, d, s);
    if (!backward || x->grad) {
      for (int64_t i0 = 0; i0 < d[0]; i0++)
        for (int64_t i1 = 0; i1 < d[1]; i1++)
          for (int64_t i2 = 0; i2 < d[2]; i2++)
            for (int64_t i3 = 0; i3 < d[3]; i3++) {
              int64_t idx[4] = {i0, i1, i2, i3};
              idx[axis4] += off;
              int64_t oy =
                  idx[0] * full[0] + idx[1] * full[1] + idx[2] * full[2] + idx[3] * full[3];
              int64_t ox = i0 * s[0] + i1 * s[1] + i2 * s[2] + i3 * s[3];
              if (backward)
                x->grad[ox] += y->grad[oy];
              else
                y->data[oy] = x->data[ox];
            }
    }
    off += d[axis4];
  }
  (void)sy;
}

/* ---- Dropout ---- */

static uint64_t rng_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

static void dropout_forward(tr_net *net, tr_node *nd) {
  tr_value *x = IN(nd, 0), *y = OUT(nd);
  if (!nd->train_mode || nd->ratio <= 0) {
    memcpy(y->data, x->data, sizeof(float) * (size_t)y->count);
    return;
  }
  float keep = 1.0f - nd->ratio, scale = 1.0f / keep;
  for (int64_t i = 0; i < y->count; i++) {
    float u = (float)(rng_next(&net->rng) >> 40) / (float)(1 << 24);
    nd->saved[i] = u < keep ? scale : 0.0f;
    y->data[i] = x->data[i] * nd->saved[i];
  }
}

static void dropout_backward(tr_net *net, tr_node *nd) {
  tr_value *x = IN(nd, 0), *y = OUT(nd);
  bool masked = nd->train_mode && nd->ratio > 0;
  for (int64_t i = 0; i < y->count; i++)
    x->grad[i] += masked ? y->grad[i] * nd->saved[i] : y->grad[i];
}

/* ---- Dispatch ---- */

void tr_forward_node(tr_net *net, tr_node *nd) {
  tr_value *y = OUT(nd);
  switch (nd->op) {
    case TR_CONV:
    case TR_CONV_TRANSPOSE: conv_forward(net, nd); break;
    case TR_BATCHNORM: {
      bn_job j = {net, nd};
      lg_parallel_for(pool_for(net, y->count), IN(nd, 0)->dims[1], bn_forward_range, &j);
      break;
    }
    case TR_RELU:
    case TR_CLIP:
    case TR_LEAKY_RELU:
    case TR_HARD_SWISH:
    case TR_HARD_SIGMOID:
    case TR_SIGMOID:
    case TR_TANH: {
      elem_job j = {nd, IN(nd, 0)->data, NULL, NULL, y->data};
      lg_parallel_for(pool_for(net, y->count), y->count, act_forward_range, &j);
      break;
    }
    case TR_MAXPOOL:
    case TR_AVGPOOL: {
      pool_job j = {net, nd};
      lg_parallel_for(pool_for(net, y->count * 4), y->dims[0] * y->dims[1], pool_forward_range, &j);
      break;
    }
    case TR_GLOBAL_AVGPOOL: {
      pool_job j = {net, nd};
      lg_parallel_for(pool_for(net, IN(nd, 0)->count), y->count, gap_forward_range, &j);
      break;
    }
    case TR_GEMM: gemm_forward(net, nd); break;
    case TR_ADD:
    case TR_MUL: binary_forward(net, nd); break;
    case TR_CONCAT: concat_copy(net, nd, false); break;
    case TR_RESHAPE: reshape_forward(net, nd); break;
    case TR_DROPOUT: dropout_forward(net, nd); break;
    case TR_IDENTITY: memcpy(y->data, IN(nd, 0)->data, sizeof(float) * (size_t)y->count); break;
  }
}

void tr_backward_node(tr_net *net, tr_node *nd) {
  tr_value *y = OUT(nd), *x = IN(nd, 0);
  switch (nd->op) {
    case TR_CONV:
    case TR_CONV_TRANSPOSE: conv_backward(net, nd); break;
    case TR_BATCHNORM: {
      bn_job j = {net, nd};
      lg_parallel_for(pool_for(net, y->count), x->dims[1], bn_backward_range, &j);
      break;
    }
    case TR_RELU:
    case TR_CLIP:
    case TR_LEAKY_RELU:
    case TR_HARD_SWISH:
    case TR_HARD_SIGMOID:
    case TR_SIGMOID:
    case TR_TANH: {
      if (!x->grad) break;
      elem_job j = {nd, x->data, y->data, y->grad, x->grad};
      lg_parallel_for(pool_for(net, y->count), y->count, act_backward_range, &j);
      break;
    }
    case TR_MAXPOOL:
    case TR_AVGPOOL: {
      if (!x->grad) break;
      pool_job j = {net, nd};
      lg_parallel_for(pool_for(net, y->count * 4), y->dims[0] * y->dims[1], pool_backward_range,
                      &j);
      break;
    }
    case TR_GLOBAL_AVGPOOL: {
      if (!x->grad) break;
      pool_job j = {net, nd};
      lg_parallel_for(pool_for(net, x->count), y->count, gap_backward_range, &j);
      break;
    }
    case TR_GEMM: gemm_backward(net, nd); break;
    case TR_ADD:
    case TR_MUL: binary_backward(net, nd); break;
    case TR_CONCAT: concat_copy(net, nd, true); break;
    case TR_RESHAPE:
      if (x->grad) reshape_backward(net, nd);
      break;
    case TR_DROPOUT:
      if (x->grad) dropout_backward(net, nd);
      break;
    case TR_IDENTITY:
      if (x->grad)
        for (int64_t i = 0; i < y->count; i++) x->grad[i] += y->grad[i];
      break;
  }
}
