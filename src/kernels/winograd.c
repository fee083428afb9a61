/*
 * winograd.c: F(2x2, 3x3) convolution (see winograd.h).
 *
 *   U = G g G^T (plan time)   V = B^T d B   M = U . V (16 GEMMs)   Y = A^T M A
 *
 * with B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5;
 * .5 -.5 .5; 0 0 1], A^T = [1 1 1 0; 0 1 -1 -1]. The workspace holds V as
 * 16 matrices [C x T] and M as 16 matrices [M x T], T = output tiles.
 */
#include "kernels/winograd.h"

#include <stdlib.h>
#include <string.h>

size_t lg_winograd_packed_floats(const lg_gemm_kernel *kern, int64_t m, int64_t c) {
  return 16 * lg_gemm_packed_a_floats(kern, m, c);
}

bool lg_winograd_pack(const lg_gemm_kernel *kern, int64_t m, int64_t c, const float *w,
                      float *packed) {
  size_t one = lg_gemm_packed_a_floats(kern, m, c);
  float *u = malloc((size_t)(16 * m * c + 1) * sizeof(float));
  if (!u) return false;
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < c; j++) {
      const float *g = w + (i * c + j) * 9;
      float t[4][3]; /* G g */
      for (int col = 0; col < 3; col++) {
        float g0 = g[col], g1 = g[3 + col], g2 = g[6 + col];
        t[0][col] = g0;
        t[1][col] = 0.5f * (g0 + g1 + g2);
        t[2][col] = 0.5f * (g0 - g1 + g2);
        t[3][col] = g2;
      }
      for (int r = 0; r < 4; r++) { /* (G g) G^T */
        float a0 = t[r][0], a1 = t[r][1], a2 = t[r][2];
        float v[4] = {a0, 0.5f * (a0 + a1 + a2), 0.5f * (a0 - a1 + a2), a2};
        for (int k = 0; k < 4; k++) u[(size_t)(r * 4 + k) * (size_t)(m * c) + (size_t)(i * c + j)] = v[k];
      }
    }
  for (int xi = 0; xi < 16; xi++) lg_gemm_pack_a(kern, m, c, u + (size_t)xi * (size_t)(m * c), c, 1, packed + xi * one);
  free(u);
  return true;
}

static int64_t tiles_of(int64_t n) { return (n + 1) / 2; }

size_t lg_winograd_workspace(int64_t m, int64_t c, int64_t oh, int64_t ow) {
  int64_t t = tiles_of(oh) * tiles_of(ow);
  return (size_t)(16 * (m + c) * t) * sizeof(float);
}

typedef struct wino_ctx {
  const lg_winograd_args *a;
  float *v, *mm;
  int64_t th, tw, t;
} wino_ctx;

/* V[xi][ch][tile] = (B^T d B)[xi] for every tile of channels [begin, end). */
static void input_transform(void *ctx, int64_t begin, int64_t end) {
  const wino_ctx *c = ctx;
  const lg_winograd_args *a = c->a;
  int64_t plane = c->t, stride = a->c * c->t;
  for (int64_t ch = begin; ch < end; ch++) {
    const float *x = a->x + ch * a->h * a->w;
    for (int64_t ty = 0; ty < c->th; ty++)
      for (int64_t tx = 0; tx < c->tw; tx++) {
        int64_t y0 = ty * 2 - a->pad_t, x0 = tx * 2 - a->pad_l;
        float d[4][4];
        if (y0 >= 0 && x0 >= 0 && y0 + 4 <= a->h && x0 + 4 <= a->w) {
          for (int r = 0; r < 4; r++)
            for (int k = 0; k < 4; k++) d[r][k] = x[(y0 + r) * a->w + x0 + k];
        } else {
          for (int r = 0; r < 4; r++)
            for (int k = 0; k < 4; k++) {
              int64_t yy = y0 + r, xx = x0 + k;
              d[r][k] = yy >= 0 && yy < a->h && xx >= 0 && xx < a->w ? x[yy * a->w + xx] : 0.0f;
            }
        }
        float t[4][4];
        for (int k = 0; k < 4; k++) {
          t[0][k] = d[0][k] - d[2][k];
          t[1][k] = d[1][k] + d[2][k];
          t[2][k] = d[2][k] - d[1][k];
          t[3][k] = d[1][k] - d[3][k];
        }
        float *dst = c->v + ch * plane + ty * c->tw + tx;
        for (int r = 0; r < 4; r++) {
          dst[(r * 4 + 0) * stride] = t[r][0] - t[r][2];
          dst[(r * 4 + 1) * stride] = t[r][1] + t[r][2];
          dst[(r * 4 + 2) * stride] = t[r][2] - t[r][1];
          dst[(r * 4 + 3) * stride] = t[r][1] - t[r][3];
        }
      }
  }
}

/* Y = A^T M A for every tile of output channels [begin, end), plus bias and act. */
static void output_transform(void *ctx, int64_t begin, int64_t end) {
  const wino_ctx *c = ctx;
  const lg_winograd_args *a = c->a;
  int64_t stride = a->m * c->t;
  for (int64_t oc = begin; oc < end; oc++) {
    float *y = a->y + oc * a->oh * a->ow;
    float bias = a->bias ? a->bias[oc] : 0.0f;
    for (int64_t ty = 0; ty < c->th; ty++)
      for (int64_t tx = 0; tx < c->tw; tx++) {
        const float *src = c->mm + oc * c->t + ty * c->tw + tx;
        float m[4][4];
        for (int r = 0; r < 4; r++)
          for (int k = 0; k < 4; k++) m[r][k] = src[(r * 4 + k) * stride];
        float s[2][4];
        for (int k = 0; k < 4; k++) {
          s[0][k] = m[0][k] + m[1][k] + m[2][k];
          s[1][k] = m[1][k] - m[2][k] - m[3][k];
        }
        for (int r = 0; r < 2; r++) {
          int64_t yy = ty * 2 + r;
          if (yy >= a->oh) break;
          float o0 = s[r][0] + s[r][1] + s[r][2] + bias, o1 = s[r][1] - s[r][2] - s[r][3] + bias;
          int64_t xx = tx * 2;
          y[yy * a->ow + xx] = lg_act_scalar(a->act, o0);
          if (xx + 1 < a->ow) y[yy * a->ow + xx + 1] = lg_act_scalar(a->act, o1);
        }
      }
  }
}

void lg_winograd_run(const lg_winograd_args *a, lg_threadpool *pool) {
  wino_ctx c = {a, a->workspace, NULL, tiles_of(a->oh), tiles_of(a->ow), 0};
  c.t = c.th * c.tw;
  c.mm = c.v + 16 * a->c * c.t;
  lg_parallel_for(pool, a->c, input_transform, &c);
  size_t one = lg_gemm_packed_a_floats(a->kern, a->m, a->c);
  for (int xi = 0; xi < 16; xi++) {
    lg_gemm_desc d = {.kern = a->kern, .m = a->m, .n = c.t, .k = a->c,
                      .a_packed = a->packed + xi * one, .b = c.v + xi * a->c * c.t, .ldb = c.t,
                      .c = c.mm + xi * a->m * c.t, .ldc = c.t};
    lg_gemm(&d, pool);
  }
  lg_parallel_for(pool, a->m, output_transform, &c);
}
