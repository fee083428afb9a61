/*
 * direct.c: direct convolution for few input channels (see direct.h).
 *
 * Per band of output rows, every input channel is copied into its padded
 * polyphase planes (planes.h); tap (c, kh, kw) then reads plane (c, kh % S,
 * kw % S) at a constant offset from the output's flat index, and 8 output
 * channels accumulate from each loaded vector of 16 positions. Bias and the
 * activation are applied on the band's flat buffer, whose rows are then
 * copied out. Compiled once per ISA level, like depthwise.c.
 */
#include "kernels/direct.h"

#include "kernels/planes.h"
#include "runtime/vmath.h"

enum { DIRECT_SCRATCH = 10240, DIRECT_MB = 8, DIRECT_MAX_C = 4, DIRECT_MAX_K = 7 };

/* Rows per band and the flat row width; 0 if a single row does not fit. */
static int64_t direct_band(const lg_direct_args *a, int64_t *wq_out) {
  int64_t s = a->stride, planes = a->c * s * s, halo = (a->kh - 1) / s;
  int64_t wq = a->ow - 1 + (a->kw + s - 1) / s;
  *wq_out = wq;
  if (wq > DIRECT_SCRATCH) return 0;
  int64_t fixed = planes * (halo * wq + LG_PLANE_SLACK) + DIRECT_MB * LG_PLANE_VEC;
  int64_t band = (DIRECT_SCRATCH - fixed) / ((planes + DIRECT_MB) * wq);
  return band < 1 ? 0 : band > a->oh ? a->oh : band;
}

#define DEFINE_DIRECT(NAME, S, ATTR)                                                            \
  ATTR static void NAME(const lg_direct_args *a, const float *x, float *y, int64_t m0,          \
                        int64_t m1) {                                                           \
    int64_t wq, band = direct_band(a, &wq);                                                     \
    int64_t halo = (a->kh - 1) / S, ow = a->ow, oh = a->oh;                                     \
    float scratch[DIRECT_SCRATCH] __attribute__((aligned(64)));                                 \
    int64_t pf = (band + halo) * wq + LG_PLANE_SLACK; /* floats per plane */                    \
    int64_t planes = a->c * S * S;                                                              \
    int64_t out_stride = band * wq + LG_PLANE_VEC; /* per output channel in the buffer */       \
    float *out = scratch + planes * pf;                                                         \
    int taps = (int)(a->c * a->kh * a->kw);                                                     \
    int64_t off[DIRECT_MAX_C * DIRECT_MAX_K * DIRECT_MAX_K];                                    \
    for (int c = 0; c < a->c; c++)                                                              \
      for (int kh = 0; kh < a->kh; kh++)                                                        \
        for (int kw = 0; kw < a->kw; kw++)                                                      \
          off[(c * a->kh + kh) * a->kw + kw] =                                                  \
              (c * S * S + (kh % S) * S + kw % S) * pf + (kh / S) * wq + kw / S;                \
    const lg_act *act = a->act;                                                                 \
    bool simple =                                                                               \
        act->kind == LG_ACT_NONE || act->kind == LG_ACT_RELU || act->kind == LG_ACT_CLIP;       \
    float amin = act->kind == LG_ACT_RELU   ? 0.0f                                              \
                 : act->kind == LG_ACT_CLIP ? act->alpha                                        \
                                            : -__builtin_inff();                                \
    float amax = act->kind == LG_ACT_CLIP ? act->beta : __builtin_inff();                       \
    lg_pvec lo = (lg_pvec){0} + amin, hi = (lg_pvec){0} + amax;                                 \
    for (int64_t oy0 = 0; oy0 < oh; oy0 += band) {                                              \
      int64_t rows = oh - oy0 < band ? oh - oy0 : band;                                         \
      for (int64_t c = 0; c < a->c; c++)                                                        \
        for (int py = 0; py < S; py++)                                                          \
          lg_plane_fill(x + c * a->h * a->w, a->h, a->w, S, py, oy0, rows + halo, wq, a->pad_t, \
                        a->pad_l, 0.0f, scratch + (c * S * S + py * S) * pf,                    \
                        scratch + (c * S * S + py * S + 1) * pf);                               \
      int64_t n = rows * wq, nv = (n + LG_PLANE_VEC - 1) / LG_PLANE_VEC * LG_PLANE_VEC;         \
      for (int64_t mb = m0; mb < m1; mb += DIRECT_MB) {                                         \
        int mcount = m1 - mb < DIRECT_MB ? (int)(m1 - mb) : DIRECT_MB;                          \
        const float *wm[DIRECT_MB];                                                             \
        float bias[DIRECT_MB];                                                                  \
        for (int j = 0; j < DIRECT_MB; j++) {                                                   \
          int64_t m = mb + (j < mcount ? j : mcount - 1);                                       \
          wm[j] = a->weights + m * taps;                                                        \
          bias[j] = a->bias ? a->bias[m] : 0.0f;                                                \
        }                                                                                       \
        for (int64_t q = 0; q < n; q += LG_PLANE_VEC) {                                         \
          lg_pvec acc[DIRECT_MB], v;                                                            \
          for (int j = 0; j < DIRECT_MB; j++) acc[j] = (lg_pvec){0} + bias[j];                  \
          for (int t = 0; t < taps; t++) {                                                      \
            memcpy(&v, scratch + off[t] + q, sizeof v);                                         \
            for (int j = 0; j < DIRECT_MB; j++) acc[j] += wm[j][t] * v;                         \
          }                                                                                     \
          for (int j = 0; j < DIRECT_MB; j++) {                                                 \
            lg_pivec below = acc[j]<lo, above = acc[j]> hi;                                     \
            lg_pivec bits = (below & (lg_pivec)lo) | (~below & (lg_pivec)acc[j]);               \
            bits = (above & (lg_pivec)hi) | (~above & bits);                                    \
            memcpy(out + j * out_stride + q, &bits, sizeof bits);                               \
          }                                                                                     \
        }                                                                                       \
        for (int j = 0; j < mcount; j++) {                                                      \
          float *o = out + j * out_stride, *ym = y + (mb + j) * oh * ow;                        \
          if (!simple) lg_vact(act, o, nv);                                                     \
          for (int64_t i = 0; i < rows; i++)                                                    \
            memcpy(ym + (oy0 + i) * ow, o + i * wq, (size_t)ow * sizeof(float));                \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
  }

#define DEFINE_DIRECT_SET(SUFFIX, ATTR)      \
  DEFINE_DIRECT(direct_s1_##SUFFIX, 1, ATTR) \
  DEFINE_DIRECT(direct_s2_##SUFFIX, 2, ATTR)

#if defined(__GNUC__) && !defined(__clang__)
#define DIRECT_CONTRACT , optimize("fp-contract=fast")
#define DIRECT_GENERIC __attribute__((optimize("fp-contract=fast")))
#else
#define DIRECT_CONTRACT
#define DIRECT_GENERIC
#endif

DEFINE_DIRECT_SET(generic, DIRECT_GENERIC)
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define HAVE_X86_DIRECT 1
DEFINE_DIRECT_SET(avx2, __attribute__((target("avx2,fma") DIRECT_CONTRACT)))
DEFINE_DIRECT_SET(avx512,
                  __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma") DIRECT_CONTRACT)))
#endif

lg_direct_fn lg_direct_kernel(lg_isa isa, const lg_direct_args *a) {
  int64_t wq;
  if (isa == LG_ISA_REFERENCE || a->c < 1 || a->c > DIRECT_MAX_C || a->kh < 1 || a->kw < 1 ||
      a->kh > DIRECT_MAX_K || a->kw > DIRECT_MAX_K || (a->stride != 1 && a->stride != 2) ||
      a->m < 1 || a->oh < 1 || a->ow < 1 || a->h < 1 || a->w < 1 || direct_band(a, &wq) < 1)
    return NULL;
  int s2 = a->stride == 2;
#ifdef HAVE_X86_DIRECT
  if (isa == LG_ISA_AVX512) return s2 ? direct_s2_avx512 : direct_s1_avx512;
  if (isa == LG_ISA_AVX2) return s2 ? direct_s2_avx2 : direct_s1_avx2;
#endif
  return s2 ? direct_s2_generic : direct_s1_generic;
}
