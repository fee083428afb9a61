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

/* ---- im2col through the GEMM's B packing ---- */

enum { MAX_NR = 64 };

typedef struct im2col_ctx {
  const tr_conv_geom *g;
  const float *x; /* first channel of the group, big map */
  int64_t rows;   /* K = Cin_g * KH * KW */
  int64_t j_base; /* first position (filter gradient chunks) */
} im2col_ctx;

/* Panel of B(p, j) = im2col(k = p, position = j). */
static void pack_im2col(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int nr, float *panel) {
  const im2col_ctx *c = ctx;
  const tr_conv_geom *g = c->g;
  int64_t ohw = g->oh * g->ow, total = g->n * ohw, hw = g->h * g->w, plane = g->n * hw;
  int64_t base[MAX_NR], iy0[MAX_NR], ix0[MAX_NR];
  for (int jj = 0; jj < nr; jj++) {
    int64_t j = j0 + jj;
    if (j < total) {
      int64_t ni = j / ohw, r = j % ohw, oy = r / g->ow, ox = r % g->ow;
      base[jj] = ni * hw;
      iy0[jj] = oy * g->sh - g->ph;
      ix0[jj] = ox * g->sw - g->pw;
    } else {
      base[jj] = 0;
      iy0[jj] = -((int64_t)1 << 40); /* never in range: a zero column */
      ix0[jj] = 0;
    }
  }
  int64_t khw = g->kh * g->kw;
  for (int64_t p = 0; p < kc; p++) {
    int64_t k = p0 + p, ci = k / khw, r = k % khw, ky = r / g->kw, kx = r % g->kw;
    const float *xc = c->x + ci * plane;
    int64_t oyd = ky * g->dh, oxd = kx * g->dw;
    float *dst = panel + p * nr;
    for (int jj = 0; jj < nr; jj++) {
      int64_t iy = iy0[jj] + oyd, ix = ix0[jj] + oxd;
      dst[jj] = ((uint64_t)iy < (uint64_t)g->h && (uint64_t)ix < (uint64_t)g->w)
                    ? xc[base[jj] + iy * g->w + ix]
                    : 0.0f;
    }
  }
}

/* Panel of B(p, kk) = im2col(k = kk, position = j_base + p): the transposed
 * im2col of the filter gradient. */
static void pack_im2col_t(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int nr,
                          float *panel) {
  const im2col_ctx *c = ctx;
  const tr_conv_geom *g = c->g;
  int64_t ohw = g->oh * g->ow, hw = g->h * g->w, plane = g->n * hw, khw = g->kh * g->kw;
  int64_t coff[MAX_NR], kyo[MAX_NR], kxo[MAX_NR];
  for (int kk = 0; kk < nr; kk++) {
    int64_t k = j0 + kk;
    if (k < c->rows) {
      int64_t ci = k / khw, r = k % khw;
      coff[kk] = ci * plane;
      kyo[kk] = (r / g->kw) * g->dh;
      kxo[kk] = (r % g->kw) * g->dw;
    } else {
      coff[kk] = 0;
      kyo[kk] = -((int64_t)1 << 40);
      kxo[kk] = 0;
    }
  }
  for (int64_t p = 0; p < kc; p++) {
    int64_t j = c->j_base + p0 + p;
    int64_t ni = j / ohw, r = j % ohw, oy = r / g->ow, ox = r % g->ow;
    int64_t base = ni * hw, iy0 = oy * g->sh - g->ph, ix0 = ox * g->sw - g->pw;
    float *dst = panel + p * nr;
    for (int kk = 0; kk < nr; kk++) {
      int64_t iy = iy0 + kyo[kk], ix = ix0 + kxo[kk];
      dst[kk] = ((uint64_t)iy < (uint64_t)g->h && (uint64_t)ix < (uint64_t)g->w)
                    ? c->x[coff[kk] + base + iy * g->w + ix]
                    : 0.0f;
    }
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
  for (int64_t gi = 0; gi < g->group; gi++) {
    lg_gemm_pack_a(kern, cout_g, k, w + gi * cout_g * k, k, 1, packed);
    im2col_ctx ctx = {g, x_big + gi * cin_g * in_total, k, 0};
    lg_gemm_desc d = {.kern = kern,
                      .m = cout_g,
                      .n = total,
                      .k = k,
                      .a_packed = packed,
                      .c = y_small + gi * cout_g * total,
                      .ldc = total,
                      .accumulate = accumulate};
    if (is_pointwise(g)) {
      d.b = ctx.x;
      d.ldb = total;
    } else {
      d.pack_b = pack_im2col;
      d.pack_ctx = &ctx;
    }
    lg_gemm(&d, pool);
  }
  free(packed);
}

/* ---- col2im ---- */

typedef struct col2im_job {
  const tr_conv_geom *g;
  const float *col; /* K x (imgs * OH * OW) */
  float *dx;        /* first channel of the group */
  int64_t n0, imgs;
} col2im_job;

static void col2im_channels(void *ctx, int64_t begin, int64_t end) {
  const col2im_job *jb = ctx;
  const tr_conv_geom *g = jb->g;
  int64_t ohw = g->oh * g->ow, hw = g->h * g->w, cols = jb->imgs * ohw;
  for (int64_t ci = begin; ci < end; ci++)
    for (int64_t ky = 0; ky < g->kh; ky++)
      for (int64_t kx = 0; kx < g->kw; kx++) {
        const float *row = jb->col + ((ci * g->kh + ky) * g->kw + kx) * cols;
        for (int64_t nl = 0; nl < jb->imgs; nl++) {
          float *plane = jb->dx + (ci * g->n + jb->n0 + nl) * hw;
          const float *src = row + nl * ohw;
          for (int64_t oy = 0; oy < g->oh; oy++) {
            int64_t iy = oy * g->sh - g->ph + ky * g->dh;
            if ((uint64_t)iy >= (uint64_t)g->h) continue;
            float *drow = plane + iy * g->w;
            const float *srow = src + oy * g->ow;
            int64_t ix = kx * g->dw - g->pw;
            for (int64_t ox = 0; ox < g->ow; ox++, ix += g->sw)
              if ((uint64_t)ix < (uint64_t)g->w) drow[ix] += srow[ox];
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
      col2im_job jb = {g, col, dx_big + gi * cin_g * in_total, n0, cnt};
      lg_parallel_for(pool, cin_g, col2im_channels, &jb);
    }
  free(col);
}

/* ---- Filter gradient ---- */

typedef struct filter_job {
  const tr_conv_geom *g;
  const float *dy; /* group's first output channel */
  const float *x;  /* group's first input channel */
  float *partials; /* chunks x Cout_g x K */
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
    im2col_ctx ic = {jb->g, jb->x, jb->k, j0};
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
  for (int64_t gi = 0; gi < g->group; gi++) {
    filter_job jb = {g,
                     dy_small + gi * cout_g * total,
                     x_big + gi * cin_g * in_total,
                     partials,
                     chunks,
                     cout_g,
                     k,
                     total};
    lg_parallel_for_indexed(chunks > 1 ? pool : NULL, chunks, filter_chunk, &jb);
    float *dwg = dw + gi * cout_g * k;
    for (int64_t c = 0; c < chunks; c++) {
      const float *part = partials + c * cout_g * k;
      for (int64_t i = 0; i < cout_g * k; i++) dwg[i] += part[i];
    }
  }
  free(partials);
}
