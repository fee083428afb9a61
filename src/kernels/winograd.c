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
#include "runtime/vmath.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/planes.h"

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
        for (int k = 0; k < 4; k++)
          u[(size_t)(r * 4 + k) * (size_t)(m * c) + (size_t)(i * c + j)] = v[k];
      }
    }
  for (int xi = 0; xi < 16; xi++)
    lg_gemm_pack_a(kern, m, c, u + (size_t)xi * (size_t)(m * c), c, 1, packed + xi * one);
  free(u);
  return true;
}

static int64_t tiles_of(int64_t n) { return (n + 1) / 2; }

size_t lg_winograd_workspace(int64_t m, int64_t c, int64_t oh, int64_t ow) {
  int64_t t = tiles_of(oh) * tiles_of(ow);
  /* V, M, and slack for the vector reads past M's last tile row. */
  return (size_t)(16 * (m + c) * t + 2 * LG_PLANE_VEC) * sizeof(float);
}

typedef struct wino_ctx {
  const lg_winograd_args *a;
  float *v, *mm;
  int64_t th, tw, t;
} wino_ctx;

/* The transforms run 16 tiles at a time, one tile per vector lane
 * (kernels/planes.h vector types; compiled per ISA level like the other
 * kernels). The input side reads a padded polyphase copy of the channel: the
 * 4x4 input tile (ty, tx) starts at padded (2ty, 2tx), so its element (r, k)
 * is phase (r % 2, k % 2) at row ty + r / 2, column tx + k / 2, and 16
 * neighbouring tiles are 16 consecutive floats. Results are stored to V and
 * read from M a tile row at a time; a vector running past a tile row's end
 * spills into the next row, which is written later (the last row is stored
 * partially), and reads past M's end land in the workspace's slack. */
enum { WINO_SCRATCH = 8192 };

#define DEFINE_WINO(SUFFIX, ATTR)                                                                 \
  /* V[xi][ch][tile] = (B^T d B)[xi] for the channels [begin, end). */                            \
  ATTR static void input_transform_##SUFFIX(void *ctx, int64_t begin, int64_t end) {              \
    const wino_ctx *c = ctx;                                                                      \
    const lg_winograd_args *a = c->a;                                                             \
    int64_t wq = c->tw + 1, stride = a->c * c->t;                                                 \
    int64_t band = (WINO_SCRATCH / 4 - LG_PLANE_SLACK) / wq - 1;                                  \
    if (band > c->th) band = c->th;                                                               \
    int64_t pf = (band + 1) * wq + LG_PLANE_SLACK;                                                \
    float scratch[WINO_SCRATCH] __attribute__((aligned(64)));                                     \
    for (int64_t ch = begin; ch < end; ch++) {                                                    \
      const float *x = a->x + ch * a->h * a->w;                                                   \
      float *dst0 = c->v + ch * c->t;                                                             \
      for (int64_t ty0 = 0; ty0 < c->th; ty0 += band) {                                           \
        int64_t rows = c->th - ty0 < band ? c->th - ty0 : band;                                   \
        for (int py = 0; py < 2; py++)                                                            \
          lg_plane_fill(x, a->h, a->w, 2, py, ty0, rows + 1, wq, a->pad_t, a->pad_l, 0.0f,        \
                        scratch + 2 * py * pf, scratch + (2 * py + 1) * pf);                      \
        for (int64_t i = 0; i < rows; i++) {                                                      \
          int64_t ty = ty0 + i;                                                                   \
          for (int64_t tx = 0; tx < c->tw; tx += LG_PLANE_VEC) {                                  \
            lg_pvec d[4][4], t[4][4];                                                             \
            for (int r = 0; r < 4; r++)                                                           \
              for (int k = 0; k < 4; k++)                                                         \
                memcpy(&d[r][k],                                                                  \
                       scratch + ((r % 2) * 2 + k % 2) * pf + (i + r / 2) * wq + tx + k / 2,      \
                       sizeof(lg_pvec));                                                          \
            for (int k = 0; k < 4; k++) {                                                         \
              t[0][k] = d[0][k] - d[2][k];                                                        \
              t[1][k] = d[1][k] + d[2][k];                                                        \
              t[2][k] = d[2][k] - d[1][k];                                                        \
              t[3][k] = d[1][k] - d[3][k];                                                        \
            }                                                                                     \
            lg_pvec o[16];                                                                        \
            for (int r = 0; r < 4; r++) {                                                         \
              o[r * 4 + 0] = t[r][0] - t[r][2];                                                   \
              o[r * 4 + 1] = t[r][1] + t[r][2];                                                   \
              o[r * 4 + 2] = t[r][2] - t[r][1];                                                   \
              o[r * 4 + 3] = t[r][1] - t[r][3];                                                   \
            }                                                                                     \
            float *dst = dst0 + ty * c->tw + tx;                                                  \
            int64_t n = c->tw - tx;                                                               \
            if (ty * c->tw + tx + LG_PLANE_VEC <= c->t) {                                         \
              for (int xi = 0; xi < 16; xi++) memcpy(dst + xi * stride, &o[xi], sizeof(lg_pvec)); \
            } else {                                                                              \
              for (int xi = 0; xi < 16; xi++)                                                     \
                for (int64_t j = 0; j < n; j++) dst[xi * stride + j] = o[xi][j];                  \
            }                                                                                     \
          }                                                                                       \
        }                                                                                         \
      }                                                                                           \
    }                                                                                             \
  }                                                                                               \
                                                                                                  \
  /* Y = A^T M A (+ bias, + residual, then the activation) for the output                         \
   * channels [begin, end). */                                                                    \
  ATTR static void output_transform_##SUFFIX(void *ctx, int64_t begin, int64_t end) {             \
    const wino_ctx *c = ctx;                                                                      \
    const lg_winograd_args *a = c->a;                                                             \
    int64_t stride = a->m * c->t, ow = a->ow, width = 2 * c->tw + 2 * LG_PLANE_VEC;               \
    const lg_act *act = a->act;                                                                   \
    bool simple =                                                                                 \
        act->kind == LG_ACT_NONE || act->kind == LG_ACT_RELU || act->kind == LG_ACT_CLIP;         \
    float amin = act->kind == LG_ACT_RELU   ? 0.0f                                                \
                 : act->kind == LG_ACT_CLIP ? act->alpha                                          \
                                            : -__builtin_inff();                                  \
    float amax = act->kind == LG_ACT_CLIP ? act->beta : __builtin_inff();                         \
    lg_pvec lo = (lg_pvec){0} + amin, hi = (lg_pvec){0} + amax;                                   \
    float rowbuf[2 * WINO_SCRATCH / 4] __attribute__((aligned(64)));                              \
    for (int64_t oc = begin; oc < end; oc++) {                                                    \
      float *y = a->y + oc * a->oh * ow;                                                          \
      const float *res = a->residual ? a->residual + oc * a->oh * ow : NULL;                      \
      lg_pvec bias = (lg_pvec){0} + (a->bias ? a->bias[oc] : 0.0f);                               \
      const float *m0 = c->mm + oc * c->t;                                                        \
      for (int64_t ty = 0; ty < c->th; ty++) {                                                    \
        for (int64_t tx = 0; tx < c->tw; tx += LG_PLANE_VEC) {                                    \
          lg_pvec m[16], s0[4], s1[4];                                                            \
          for (int xi = 0; xi < 16; xi++)                                                         \
            memcpy(&m[xi], m0 + xi * stride + ty * c->tw + tx, sizeof(lg_pvec));                  \
          for (int k = 0; k < 4; k++) {                                                           \
            s0[k] = m[k] + m[4 + k] + m[8 + k];                                                   \
            s1[k] = m[4 + k] - m[8 + k] - m[12 + k];                                              \
          }                                                                                       \
          lg_pvec o00 = s0[0] + s0[1] + s0[2] + bias, o01 = s0[1] - s0[2] - s0[3] + bias;         \
          lg_pvec o10 = s1[0] + s1[1] + s1[2] + bias, o11 = s1[1] - s1[2] - s1[3] + bias;         \
          lg_pvec r0a = LG_PVEC_ZIP_LO(o00, o01);                                    \
          lg_pvec r0b = LG_PVEC_ZIP_HI(o00, o01);                                     \
          lg_pvec r1a = LG_PVEC_ZIP_LO(o10, o11);                                    \
          lg_pvec r1b = LG_PVEC_ZIP_HI(o10, o11);                                     \
          memcpy(rowbuf + 2 * tx, &r0a, sizeof r0a);                                              \
          memcpy(rowbuf + 2 * tx + LG_PLANE_VEC, &r0b, sizeof r0b);                               \
          memcpy(rowbuf + width + 2 * tx, &r1a, sizeof r1a);                                      \
          memcpy(rowbuf + width + 2 * tx + LG_PLANE_VEC, &r1b, sizeof r1b);                       \
        }                                                                                         \
        for (int r = 0; r < 2 && 2 * ty + r < a->oh; r++) {                                       \
          float *yr = y + (2 * ty + r) * ow, *src = rowbuf + r * width;                           \
          if (res) {                                                                              \
            const float *rr = res + (2 * ty + r) * ow;                                            \
            int64_t q = 0;                                                                        \
            for (; q + LG_PLANE_VEC <= ow; q += LG_PLANE_VEC) {                                   \
              lg_pvec v, rv;                                                                      \
              memcpy(&v, src + q, sizeof v);                                                      \
              memcpy(&rv, rr + q, sizeof rv);                                                     \
              v += rv;                                                                            \
              memcpy(src + q, &v, sizeof v);                                                      \
            }                                                                                     \
            for (; q < ow; q++) src[q] += rr[q];                                                  \
          }                                                                                       \
          /* Other activations on whole vectors of the row buffer (its lanes                      \
           * past ow hold finite or junk values that are never stored). */                        \
          if (!simple) lg_vact(act, src, (ow + LG_PLANE_VEC - 1) / LG_PLANE_VEC * LG_PLANE_VEC);  \
          int64_t j = 0;                                                                          \
          for (; j + LG_PLANE_VEC <= ow; j += LG_PLANE_VEC) {                                     \
            lg_pvec v;                                                                            \
            memcpy(&v, src + j, sizeof v);                                                        \
            lg_pivec below = v<lo, above = v> hi;                                                 \
            lg_pivec bits = (below & (lg_pivec)lo) | (~below & (lg_pivec)v);                      \
            bits = (above & (lg_pivec)hi) | (~above & bits);                                      \
            memcpy(yr + j, &bits, sizeof bits);                                                   \
          }                                                                                       \
          for (; j < ow; j++) {                                                                   \
            float v = src[j] < amin ? amin : src[j];                                              \
            yr[j] = v > amax ? amax : v;                                                          \
          }                                                                                       \
        }                                                                                         \
      }                                                                                           \
    }                                                                                             \
  }

DEFINE_WINO(generic, )
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define HAVE_X86_WINO 1
DEFINE_WINO(avx2, __attribute__((target("avx2,fma"))))
DEFINE_WINO(avx512, __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma"))))
#endif

bool lg_winograd_fits(int64_t oh, int64_t ow) {
  int64_t tw = tiles_of(ow);
  (void)oh;
  return 4 * (2 * (tw + 1) + LG_PLANE_SLACK) <= WINO_SCRATCH &&
         2 * (2 * tw + 2 * LG_PLANE_VEC) <= 2 * WINO_SCRATCH / 4;
}

void lg_winograd_run(const lg_winograd_args *a, lg_threadpool *pool) {
  wino_ctx c = {a, a->workspace, NULL, tiles_of(a->oh), tiles_of(a->ow), 0};
  c.t = c.th * c.tw;
  c.mm = c.v + 16 * a->c * c.t;
  lg_range_fn in_fn = input_transform_generic, out_fn = output_transform_generic;
#ifdef HAVE_X86_WINO
  if (a->kern->isa == LG_ISA_AVX512) {
    in_fn = input_transform_avx512;
    out_fn = output_transform_avx512;
  } else if (a->kern->isa == LG_ISA_AVX2) {
    in_fn = input_transform_avx2;
    out_fn = output_transform_avx2;
  }
#endif
  lg_parallel_for(pool, a->c, in_fn, &c);
  size_t one = lg_gemm_packed_a_floats(a->kern, a->m, a->c);
  for (int xi = 0; xi < 16; xi++) {
    lg_gemm_desc d = {.kern = a->kern,
                      .m = a->m,
                      .n = c.t,
                      .k = a->c,
                      .a_packed = a->packed + xi * one,
                      .b = c.v + xi * a->c * c.t,
                      .ldb = c.t,
                      .c = c.mm + xi * a->m * c.t,
                      .ldc = c.t};
    lg_gemm(&d, pool);
  }
  lg_parallel_for(pool, a->m, out_fn, &c);
}
