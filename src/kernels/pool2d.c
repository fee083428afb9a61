/*
 * pool2d.c: max and average pooling on padded polyphase planes (see
 * pool2d.h and planes.h). The padding is -inf for max and 0 for average;
 * the average's divisor depends only on the output position and is the
 * product of a row count and a column count, applied as the band's rows
 * are copied out. Compiled once per ISA level, like depthwise.c.
 */
#include "kernels/pool2d.h"

#include <math.h>

#include "kernels/planes.h"

enum { POOL_SCRATCH = 10240, POOL_MAX_K = 7 };

/* Taps of a window starting at `start` (in input coordinates, width k)
 * that lie in [begin, end). */
static inline int64_t taps_inside(int64_t start, int64_t k, int64_t begin, int64_t end) {
  int64_t lo = start > begin ? start : begin, hi = start + k < end ? start + k : end;
  return hi > lo ? hi - lo : 0;
}

static int64_t pool_band(const lg_pool2d_args *a, int64_t *wq_out) {
  int64_t s = a->stride, phases = s * s, halo = (a->kh - 1) / s;
  int64_t wq = a->ow - 1 + (a->kw + s - 1) / s;
  int64_t fixed = phases * (halo * wq + LG_PLANE_SLACK) + LG_PLANE_VEC + a->ow;
  *wq_out = wq;
  if (wq > POOL_SCRATCH) return 0;
  int64_t band = (POOL_SCRATCH - fixed) / ((phases + 1) * wq);
  return band < 1 ? 0 : band > a->oh ? a->oh : band;
}

#define DEFINE_POOL(NAME, S, ATTR)                                                              \
  ATTR static void NAME(const lg_pool2d_args *a, const float *x, float *y) {                    \
    int64_t wq, band = pool_band(a, &wq);                                                       \
    int64_t halo = (a->kh - 1) / S, ow = a->ow, oh = a->oh;                                     \
    float scratch[POOL_SCRATCH] __attribute__((aligned(64)));                                   \
    int64_t phase_floats = (band + halo) * wq + LG_PLANE_SLACK;                                 \
    float *out = scratch + S * S * phase_floats;                                                \
    float *inv_w = out + band * wq + LG_PLANE_VEC; /* 1 / column count, for averages */         \
    int taps = (int)(a->kh * a->kw);                                                            \
    int64_t off[POOL_MAX_K * POOL_MAX_K];                                                       \
    for (int kh = 0; kh < a->kh; kh++)                                                          \
      for (int kw = 0; kw < a->kw; kw++)                                                        \
        off[kh * a->kw + kw] = ((kh % S) * S + kw % S) * phase_floats + (kh / S) * wq + kw / S; \
    float fill = a->is_max ? -INFINITY : 0.0f;                                                  \
    if (!a->is_max)                                                                             \
      for (int64_t ox = 0; ox < ow; ox++) {                                                     \
        int64_t c = ox * S - a->pad_l;                                                          \
        int64_t n = a->count_include_pad ? taps_inside(c, a->kw, -a->pad_l, a->w + a->pad_r)    \
                                         : taps_inside(c, a->kw, 0, a->w);                      \
        inv_w[ox] = n > 0 ? 1.0f / (float)n : 0.0f;                                             \
      }                                                                                         \
    for (int64_t oy0 = 0; oy0 < oh; oy0 += band) {                                              \
      int64_t rows = oh - oy0 < band ? oh - oy0 : band;                                         \
      for (int py = 0; py < S; py++)                                                            \
        lg_plane_fill(x, a->h, a->w, S, py, oy0, rows + halo, wq, a->pad_t, a->pad_l, fill,     \
                      scratch + py * S * phase_floats, scratch + (py * S + 1) * phase_floats);  \
      int64_t n = rows * wq;                                                                    \
      for (int64_t q = 0; q < n; q += LG_PLANE_VEC) {                                           \
        lg_pvec acc = (lg_pvec){0} + fill, v;                                                   \
        if (a->is_max) {                                                                        \
          for (int t = 0; t < taps; t++) {                                                      \
            memcpy(&v, scratch + off[t] + q, sizeof v);                                         \
            lg_pivec gt = v > acc;                                                              \
            acc = (lg_pvec)((gt & (lg_pivec)v) | (~gt & (lg_pivec)acc));                        \
          }                                                                                     \
        } else {                                                                                \
          for (int t = 0; t < taps; t++) {                                                      \
            memcpy(&v, scratch + off[t] + q, sizeof v);                                         \
            acc += v;                                                                           \
          }                                                                                     \
        }                                                                                       \
        memcpy(out + q, &acc, sizeof acc);                                                      \
      }                                                                                         \
      for (int64_t i = 0; i < rows; i++) {                                                      \
        float *yr = y + (oy0 + i) * ow;                                                         \
        const float *src = out + i * wq;                                                        \
        if (a->is_max) {                                                                        \
          memcpy(yr, src, (size_t)ow * sizeof(float));                                          \
          continue;                                                                             \
        }                                                                                       \
        int64_t r = (oy0 + i) * S - a->pad_t;                                                   \
        int64_t nh = a->count_include_pad ? taps_inside(r, a->kh, -a->pad_t, a->h + a->pad_b)   \
                                          : taps_inside(r, a->kh, 0, a->h);                     \
        float inv_h = nh > 0 ? 1.0f / (float)nh : 0.0f;                                         \
        for (int64_t ox = 0; ox < ow; ox++) yr[ox] = src[ox] * inv_h * inv_w[ox];               \
      }                                                                                         \
    }                                                                                           \
  }

#define DEFINE_POOL_SET(SUFFIX, ATTR)    \
  DEFINE_POOL(pool_s1_##SUFFIX, 1, ATTR) \
  DEFINE_POOL(pool_s2_##SUFFIX, 2, ATTR)

DEFINE_POOL_SET(generic, )
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define HAVE_X86_POOL 1
DEFINE_POOL_SET(avx2, __attribute__((target("avx2,fma"))))
DEFINE_POOL_SET(avx512, __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma"))))
#endif

lg_pool2d_fn lg_pool2d_kernel(lg_isa isa, const lg_pool2d_args *a) {
  int64_t wq;
  if (isa == LG_ISA_REFERENCE || (a->stride != 1 && a->stride != 2) || a->kh < 1 || a->kw < 1 ||
      a->kh > POOL_MAX_K || a->kw > POOL_MAX_K || a->oh < 1 || a->ow < 1 || a->h < 1 || a->w < 1 ||
      pool_band(a, &wq) < 1)
    return NULL;
  int s2 = a->stride == 2;
#ifdef HAVE_X86_POOL
  if (isa == LG_ISA_AVX512) return s2 ? pool_s2_avx512 : pool_s1_avx512;
  if (isa == LG_ISA_AVX2) return s2 ? pool_s2_avx2 : pool_s1_avx2;
#endif
  return s2 ? pool_s2_generic : pool_s1_generic;
}
