/*
 * conv_grad.c: the GEMM-based primitives under Conv and ConvTranspose and
 * their gradients, on the runtime's packed GEMM (kernels/gemm.h).
 *
 * Tensors are channel-major (C x N x H x W, see engine.h), so for group g:
 *   forward        y_g[Cout_g x N*OH*OW]  = W_g[Cout_g x K] * im2col(x_g)[K x N*OH*OW]
 *   backward data  dx_g += col2im(W_g^T[K x Cout_g] * dy_g)
 *   backward filt  dW_g += dy_g * im2col(x_g)^T      (K = Cin_g * KH * KW)
 * im2col is never materialized for the forward pass or the filter gradient:
 * the GEMM packs its B panels straight from the image through a callback.
 * The filter gradient's reduction runs over N*OH*OW, which is long while
 * Cout_g x K is small, so it is split over threads by that reduction with
 * one partial result per thread, summed at the end.
 */
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/gemm.h"
#include "train/engine.h"

static const lg_gemm_kernel *kernel(void) { return lg_gemm_kernel_for(lg_isa_active()); }

/* ---- Strided matrix multiply ---- */

typedef struct strided_b {
  const float *b;
  int64_t rs, cs, n;
} strided_b;

static void pack_strided(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int nr,
                         float *panel) {
  const strided_b *s = ctx;
  for (int64_t p = 0; p < kc; p++) {
    const float *row = s->b + (p0 + p) * s->rs;
    float *dst = panel + p * nr;
    for (int j = 0; j < nr; j++) dst[j] = j0 + j < s->n ? row[(j0 + j) * s->cs] : 0.0f;
  }
}

void tr_matmul(lg_threadpool *pool, int64_t m, int64_t n, int64_t k, const float *a, int64_t a_rs,
               int64_t a_cs, const float *b, int64_t b_rs, int64_t b_cs, float *c, int64_t ldc,
               bool accumulate, const float *bias) {
  if (m <= 0 || n <= 0) return;
  const lg_gemm_kernel *kern = kernel();
  float *packed = malloc(sizeof(float) * (lg_gemm_packed_a_floats(kern, m, k) + 1));
  if (!packed) abort(); /* a few MB at most; the engine sized everything at compile */
  lg_gemm_pack_a(kern, m, k, a, a_rs, a_cs, packed);
  strided_b sb = {b, b_rs, b_cs, n};
  lg_gemm_desc d = {.kern = kern,
                    .m = m,
                    .n = n,
                    .k = k,
                    .a_packed = packed,
                    .c = c,
                    .ldc = ldc,
                    .bias = bias,
                    .accumulate = accumulate};
  if (b_cs == 1) {
    d.b = b;
    d.ldb = b_rs;
  } else {
    d.pack_b = pack_strided;
    d.pack_ctx = &sb;
  }
  lg_gemm(&d, pool);
  free(packed);
}

/* ---- Padded maps ----
 * The packing loops read a zero-padded copy of the big map (C x N x HP x WP)
 * so that they need no bounds checks: every tap of every output position
 * lands inside it. The backward-data pass scatters into such a padded
 * buffer and adds its interior back. */

typedef struct padded {
  const float *x;        /* channel 0 of the padded (or original) map */
  float *owned;          /* the copy, or NULL when the map needs no padding */
  int64_t hp, wp, plane; /* plane = N * HP * WP */
} padded;

static void padded_dims(const tr_conv_geom *g, int64_t *hp, int64_t *wp) {
  int64_t need_h = (g->oh - 1) * g->sh + (g->kh - 1) * g->dh + 1;
  int64_t need_w = (g->ow - 1) * g->sw + (g->kw - 1) * g->dw + 1;
  *hp = need_h > g->ph + g->h ? need_h : g->ph + g->h;
  *wp = need_w > g->pw + g->w ? need_w : g->pw + g->w;
}

typedef struct pad_job {
  const tr_conv_geom *g;
  const float *src;
  float *dst;
  int64_t hp, wp;
  bool add_back; /* dst (unpadded) += interior of src (padded) */
} pad_job;

static void pad_planes(void *ctx, int64_t b, int64_t e) {
  const pad_job *j = ctx;
  const tr_conv_geom *g = j->g;
  for (int64_t p = b; p < e; p++) { /* p = channel * N + image */
    if (j->add_back) {
      const float *src = j->src + p * j->hp * j->wp;
      float *dst = j->dst + p * g->h * g->w;
      for (int64_t y = 0; y < g->h; y++) {
        const float *s = src + (y + g->ph) * j->wp + g->pw;
        float *d = dst + y * g->w;
        for (int64_t x = 0; x < g->w; x++) d[x] += s[x];
      }
    } else {
      const float *src = j->src + p * g->h * g->w;
      float *dst = j->dst + p * j->hp * j->wp;
      memset(dst, 0, sizeof(float) * (size_t)(j->hp * j->wp));
      for (int64_t y = 0; y < g->h; y++)
        memcpy(dst + (y + g->ph) * j->wp + g->pw, src + y * g->w, sizeof(float) * (size_t)g->w);
    }
  }
}

static padded pad_map(lg_threadpool *pool, const tr_conv_geom *g, const float *x,
                      int64_t channels) {
  padded p = {x, NULL, 0, 0, 0};
  padded_dims(g, &p.hp, &p.wp);
  p.plane = g->n * p.hp * p.wp;
  if (g->ph == 0 && g->pw == 0 && p.hp == g->h && p.wp == g->w) return p;
  p.owned = malloc(sizeof(float) * (size_t)(channels * p.plane + 1));
  if (!p.owned) abort();
  pad_job j = {g, x, p.owned, p.hp, p.wp, false};
  lg_parallel_for(pool, channels * g->n, pad_planes, &j);
  p.x = p.owned;
  return p;
}

/* ---- im2col through the GEMM's B packing ---- */

enum { MAX_NR = 64 };

typedef struct im2col_ctx {
  const tr_conv_geom *g;
  const padded *pm; /* the group's padded map */
  int64_t rows;     /* K = Cin_g * KH * KW */
  int64_t j_base;   /* first position (filter gradient chunks) */
} im2col_ctx;

/* Offset of tap k = (ci, ky, kx) from a position's window origin. */
static inline int64_t tap_offset(const tr_conv_geom *g, const padded *pm, int64_t k) {
  int64_t khw = g->kh * g->kw, ci = k / khw, r = k % khw;
  return ci * pm->plane + (r / g->kw) * g->dh * pm->wp + (r % g->kw) * g->dw;
}

/* Offset of output position j's window origin. */
static inline int64_t position_offset(const tr_conv_geom *g, const padded *pm, int64_t j) {
  int64_t ohw = g->oh * g->ow, ni = j / ohw, r = j % ohw;
  return ni * pm->hp * pm->wp + (r / g->ow) * g->sh * pm->wp + (r % g->ow) * g->sw;
}

/* Panel of B(p, j) = im2col(k = p, position = j). With stride 1 a panel's
 * positions form a few runs that are contiguous in the padded map. */
static void pack_im2col(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int nr, float *panel) {
  const im2col_ctx *c = ctx;
  const tr_conv_geom *g = c->g;
  const padded *pm = c->pm;
  int64_t total = g->n * g->oh * g->ow;
  int cols = total - j0 < nr ? (int)(total - j0) : nr;
  int64_t base[MAX_NR];
  int run_start[MAX_NR + 1], runs = 0;
  for (int jj = 0; jj < cols; jj++) {
    base[jj] = position_offset(g, pm, j0 + jj);
    if (jj == 0 || g->sw != 1 || base[jj] != base[jj - 1] + 1) run_start[runs++] = jj;
  }
  run_start[runs] = cols;
  for (int64_t p = 0; p < kc; p++) {
    const float *src = pm->x + tap_offset(g, pm, p0 + p);
    float *dst = panel + p * nr;
    if (g->sw == 1) {
      for (int r = 0; r < runs; r++) { /* short runs: a loop beats a memcpy call */
        int a = run_start[r], len = run_start[r + 1] - a;
        const float *s = src + base[a];
        float *d = dst + a;
        for (int t = 0; t < len; t++) d[t] = s[t];
      }
    } else {
      for (int jj = 0; jj < cols; jj++) dst[jj] = src[base[jj]];
    }
    for (int jj = cols; jj < nr; jj++) dst[jj] = 0.0f;
  }
}

/* Panel of B(p, kk) = im2col(k = kk, position = j_base + p): the transposed
 * im2col of the filter gradient (a gather with precomputed tap offsets). */
static void pack_im2col_t(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int nr,
                          float *panel) {
  const im2col_ctx *c = ctx;
  const tr_conv_geom *g = c->g;
  const padded *pm = c->pm;
  int cols = c->rows - j0 < nr ? (int)(c->rows - j0) : nr;
  int64_t off[MAX_NR];
  for (int kk = 0; kk < cols; kk++) off[kk] = tap_offset(g, pm, j0 + kk);
  for (int64_t p = 0; p < kc; p++) {
    const float *src = pm->x + position_offset(g, pm, c->j_base + p0 + p);
    float *dst = panel + p * nr;
    for (int kk = 0; kk < cols; kk++) dst[kk] = src[off[kk]];
    for (int kk = cols; kk < nr; kk++) dst[kk] = 0.0f;
  }
}

static bool is_pointwise(const tr_conv_geom *g) {
  return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0 &&
         g->oh == g->h && g->ow == g->w;
}

void tr_conv_forward(lg_threadpool *pool, const tr_conv_geom *g, const float *w, const float *x_big,
                     float *y_small, bool accumulate) {
  const lg_gemm_kernel *kern = kernel();
  int64_t cin_g = g->c_big / g->group, cout_g = g->c_small / g->group;
  int64_t k = cin_g * g->kh * g->kw, total = g->n * g->oh * g->ow, in_total = g->n * g->h * g->w;
  float *packed = malloc(sizeof(float) * (lg_gemm_packed_a_floats(kern, cout_g, k) + 1));
  if (!packed) abort();
  bool pointwise = is_pointwise(g);
  padded pm = {0};
  if (!pointwise) pm = pad_map(pool, g, x_big, g->c_big);
  for (int64_t gi = 0; gi < g->group; gi++) {
    lg_gemm_pack_a(kern, cout_g, k, w + gi * cout_g * k, k, 1, packed);
    padded gm = pm;
    gm.x = pm.x + gi * cin_g * pm.plane;
    im2col_ctx ctx = {g, &gm, k, 0};
    lg_gemm_desc d = {.kern = kern,
                      .m = cout_g,
                      .n = total,
                      .k = k,
                      .a_packed = packed,
                      .c = y_small + gi * cout_g * total,
                      .ldc = total,
                      .accumulate = accumulate};
    if (pointwise) {
      d.b = x_big + gi * cin_g * in_total;
      d.ldb = total;
    } else {
      d.pack_b = pack_im2col;
      d.pack_ctx = &ctx;
    }
    lg_gemm(&d, pool);
  }
  free(pm.owned);
  free(packed);
}

/* ---- col2im ---- */

typedef struct col2im_job {
  const tr_conv_geom *g;
  const float *col; /* K x (imgs * OH * OW) */
  float *dxp;       /* the group's first channel of the padded gradient */
  int64_t hp, wp, n0, imgs;
} col2im_job;

static void col2im_channels(void *ctx, int64_t begin, int64_t end) {
  const col2im_job *jb = ctx;
  const tr_conv_geom *g = jb->g;
  int64_t ohw = g->oh * g->ow, hwp = jb->hp * jb->wp, cols = jb->imgs * ohw;
  for (int64_t ci = begin; ci < end; ci++)
    for (int64_t ky = 0; ky < g->kh; ky++)
      for (int64_t kx = 0; kx < g->kw; kx++) {
        const float *row = jb->col + ((ci * g->kh + ky) * g->kw + kx) * cols;
        for (int64_t nl = 0; nl < jb->imgs; nl++) {
          float *plane =
              jb->dxp + (ci * g->n + jb->n0 + nl) * hwp + ky * g->dh * jb->wp + kx * g->dw;
          const float *src = row + nl * ohw;
          for (int64_t oy = 0; oy < g->oh; oy++) {
            float *drow = plane + oy * g->sh * jb->wp;
            const float *srow = src + oy * g->ow;
            if (g->sw == 1)
              for (int64_t ox = 0; ox < g->ow; ox++) drow[ox] += srow[ox];
            else
              for (int64_t ox = 0; ox < g->ow; ox++) drow[ox * g->sw] += srow[ox];
          }
        }
      }
}

enum { COL_CAP_FLOATS = 1 << 21 }; /* 8 MB of columns per chunk of images */

void tr_conv_backward_data(lg_threadpool *pool, const tr_conv_geom *g, const float *w,
                           const float *dy_small, float *dx_big) {
  int64_t cin_g = g->c_big / g->group, cout_g = g->c_small / g->group;
  int64_t k = cin_g * g->kh * g->kw, ohw = g->oh * g->ow, total = g->n * ohw;
  int64_t in_total = g->n * g->h * g->w;
  if (is_pointwise(g)) {
    for (int64_t gi = 0; gi < g->group; gi++)
      tr_matmul(pool, cin_g, total, cout_g, w + gi * cout_g * k, 1, k,
                dy_small + gi * cout_g * total, total, 1, dx_big + gi * cin_g * in_total, in_total,
                true, NULL);
    return;
  }
  if (g->sh == 1 && g->sw == 1 && g->ph <= g->dh * (g->kh - 1) && g->pw <= g->dw * (g->kw - 1)) {
    /* Stride 1: dx is the convolution of dy with the flipped, transposed
     * kernels, a forward convolution of the same shape as the forward pass
     * (no column buffer, no scatter). */
    float *wt = malloc(sizeof(float) * (size_t)(g->c_small * k + 1));
    if (!wt) abort();
    int64_t khw = g->kh * g->kw;
    for (int64_t gi = 0; gi < g->group; gi++)
      for (int64_t co = 0; co < cout_g; co++)
        for (int64_t ci = 0; ci < cin_g; ci++) {
          const float *src = w + ((gi * cout_g + co) * cin_g + ci) * khw;
          float *dst = wt + ((gi * cin_g + ci) * cout_g + co) * khw;
          for (int64_t t = 0; t < khw; t++) dst[t] = src[khw - 1 - t];
        }
    tr_conv_geom t = *g;
    t.c_big = g->c_small;
    t.h = g->oh;
    t.w = g->ow;
    t.c_small = g->c_big;
    t.oh = g->h;
    t.ow = g->w;
    t.ph = g->dh * (g->kh - 1) - g->ph;
    t.pw = g->dw * (g->kw - 1) - g->pw;
    tr_conv_forward(pool, &t, wt, dy_small, dx_big, true);
    free(wt);
    return;
  }
  int64_t hp, wp;
  padded_dims(g, &hp, &wp);
  bool direct = g->ph == 0 && g->pw == 0 && hp == g->h && wp == g->w;
  float *dxp = direct ? dx_big : calloc((size_t)(g->c_big * g->n * hp * wp + 1), sizeof(float));
  if (!dxp) abort();
  int64_t imgs = COL_CAP_FLOATS / (k * ohw > 0 ? k * ohw : 1);
  if (imgs < 1) imgs = 1;
  if (imgs > g->n) imgs = g->n;
  float *col = malloc(sizeof(float) * (size_t)(k * imgs * ohw + 1));
  if (!col) abort();
  for (int64_t gi = 0; gi < g->group; gi++)
    for (int64_t n0 = 0; n0 < g->n; n0 += imgs) {
      int64_t cnt = g->n - n0 < imgs ? g->n - n0 : imgs;
      tr_matmul(pool, k, cnt * ohw, cout_g, w + gi * cout_g * k, 1, k,
                dy_small + gi * cout_g * total + n0 * ohw, total, 1, col, cnt * ohw, false, NULL);
      col2im_job jb = {g, col, dxp + gi * cin_g * g->n * hp * wp, hp, wp, n0, cnt};
      lg_parallel_for(pool, cin_g, col2im_channels, &jb);
    }
  free(col);
  if (!direct) {
    pad_job j = {g, dxp, dx_big, hp, wp, true};
    lg_parallel_for(pool, g->c_big * g->n, pad_planes, &j);
    free(dxp);
  }
}

/* ---- Filter gradient ---- */

typedef struct filter_job {
  const tr_conv_geom *g;
  const float *dy;  /* group's first output channel */
  const padded *pm; /* the group's padded input */
  float *partials;  /* chunks x Cout_g x K */
  int64_t chunks, cout_g, k, total;
} filter_job;

static void filter_chunk(void *ctx, int thread, int64_t begin, int64_t end) {
  (void)thread;
  const filter_job *jb = ctx;
  const lg_gemm_kernel *kern = kernel();
  for (int64_t c = begin; c < end; c++) {
    int64_t j0 = jb->total * c / jb->chunks, j1 = jb->total * (c + 1) / jb->chunks;
    float *part = jb->partials + c * jb->cout_g * jb->k;
    if (j1 <= j0) {
      memset(part, 0, sizeof(float) * (size_t)(jb->cout_g * jb->k));
      continue;
    }
    float *packed =
        malloc(sizeof(float) * (lg_gemm_packed_a_floats(kern, jb->cout_g, j1 - j0) + 1));
    if (!packed) abort();
    lg_gemm_pack_a(kern, jb->cout_g, j1 - j0, jb->dy + j0, jb->total, 1, packed);
    im2col_ctx ic = {jb->g, jb->pm, jb->k, j0};
    lg_gemm_desc d = {.kern = kern,
                      .m = jb->cout_g,
                      .n = jb->k,
                      .k = j1 - j0,
                      .a_packed = packed,
                      .c = part,
                      .ldc = jb->k,
                      .pack_b = pack_im2col_t,
                      .pack_ctx = &ic};
    lg_gemm(&d, NULL);
    free(packed);
  }
}

void tr_conv_backward_filter(lg_threadpool *pool, const tr_conv_geom *g, const float *dy_small,
                             const float *x_big, float *dw) {
  int64_t cin_g = g->c_big / g->group, cout_g = g->c_small / g->group;
  int64_t k = cin_g * g->kh * g->kw, total = g->n * g->oh * g->ow, in_total = g->n * g->h * g->w;
  int64_t chunks = lg_threadpool_size(pool);
  if (total < 512 * chunks) chunks = 1;
  float *partials = malloc(sizeof(float) * (size_t)(chunks * cout_g * k + 1));
  if (!partials) abort();
  padded pm = pad_map(pool, g, x_big, g->c_big);
  (void)in_total;
  for (int64_t gi = 0; gi < g->group; gi++) {
    padded gm = pm;
    gm.x = pm.x + gi * cin_g * pm.plane;
    filter_job jb = {g, dy_small + gi * cout_g * total, &gm, partials, chunks, cout_g, k, total};
    lg_parallel_for_indexed(chunks > 1 ? pool : NULL, chunks, filter_chunk, &jb);
    float *dwg = dw + gi * cout_g * k;
    for (int64_t c = 0; c < chunks; c++) {
      const float *part = partials + c * cout_g * k;
      for (int64_t i = 0; i < cout_g * k; i++) dwg[i] += part[i];
    }
  }
  free(pm.owned);
  free(partials);
}
