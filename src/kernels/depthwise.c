/*
 * depthwise.c: depthwise convolution kernels (see depthwise.h).
 *
 * Each output row is computed in one pass: for the columns whose whole
 * window lies inside the input, all K*K taps are summed in registers (the
 * kernel size and stride are compile-time constants, so the compiler
 * unrolls the taps and vectorizes over the columns); rows whose window
 * crosses the top or bottom edge, and the few border columns, take a
 * checked path. The same C is compiled once per ISA level with a target
 * attribute, so each level gets its own vector width.
 */
#include "kernels/depthwise.h"
#include "runtime/vmath.h"

#include <string.h>

#include "kernels/planes.h"

#if defined(__GNUC__) && !defined(__clang__)
#define DW_CONTRACT , optimize("fp-contract=fast")
#define DW_GENERIC __attribute__((optimize("fp-contract=fast")))
#else
#define DW_CONTRACT /* clang contracts a*b+c into FMA where the target has it */
#define DW_GENERIC
#endif

static inline float dw_act(const lg_act *act, float v) {
  switch (act->kind) {
    case LG_ACT_NONE: return v;
    case LG_ACT_RELU: return v > 0 ? v : 0;
    case LG_ACT_CLIP: return v < act->alpha ? act->alpha : (v > act->beta ? act->beta : v);
    default: return lg_act_scalar(act, v);
  }
}

/* Columns ow with ow*S - pad_l >= 0 and ow*S - pad_l + K - 1 < w: [lo, hi). */
static inline void dw_interior(int64_t ow_count, int64_t w, int k, int s, int64_t pad_l,
                               int64_t *lo, int64_t *hi) {
  int64_t l = (pad_l + s - 1) / s;
  int64_t h = w - k + pad_l < 0 ? 0 : (w - k + pad_l) / s + 1;
  if (l > ow_count) l = ow_count;
  if (h > ow_count) h = ow_count;
  if (h < l) h = l;
  *lo = l;
  *hi = h;
}

/* One output element with bounds checks. */
static inline float dw_point(const float *x, int64_t h, int64_t w, const float *wk, int k, int s,
                             int64_t oy, int64_t ox, int64_t pad_t, int64_t pad_l, float bias) {
  float sum = bias;
  for (int kh = 0; kh < k; kh++) {
    int64_t iy = oy * s + kh - pad_t;
    if (iy < 0 || iy >= h) continue;
    for (int kw = 0; kw < k; kw++) {
      int64_t ix = ox * s + kw - pad_l;
      if (ix >= 0 && ix < w) sum += wk[kh * k + kw] * x[iy * w + ix];
    }
  }
  return sum;
}

#define DEFINE_DW(NAME, K, S, ATTR)                                                           \
  ATTR static void NAME(const float *x, int64_t h, int64_t w, const float *wk, float bias,    \
                        float *y, int64_t oh, int64_t ow, int64_t pad_t, int64_t pad_l,       \
                        const lg_act *act) {                                                  \
    float wt[K * K];                                                                          \
    for (int i = 0; i < K * K; i++) wt[i] = wk[i];                                            \
    int64_t lo, hi;                                                                           \
    dw_interior(ow, w, K, S, pad_l, &lo, &hi);                                                \
    bool simple_act =                                                                         \
        act->kind == LG_ACT_NONE || act->kind == LG_ACT_RELU || act->kind == LG_ACT_CLIP;     \
    float amin = act->kind == LG_ACT_RELU   ? 0.0f                                            \
                 : act->kind == LG_ACT_CLIP ? act->alpha                                      \
                                            : -__builtin_inff();                              \
    float amax = act->kind == LG_ACT_CLIP ? act->beta : __builtin_inff();                     \
    for (int64_t oy = 0; oy < oh; oy++) {                                                     \
      float *yr = y + oy * ow;                                                                \
      int64_t iy0 = oy * S - pad_t;                                                           \
      for (int64_t ox = 0; ox < lo; ox++)                                                     \
        yr[ox] = dw_point(x, h, w, wk, K, S, oy, ox, pad_t, pad_l, bias);                     \
      for (int64_t ox = hi; ox < ow; ox++)                                                    \
        yr[ox] = dw_point(x, h, w, wk, K, S, oy, ox, pad_t, pad_l, bias);                     \
      if (iy0 >= 0 && iy0 + K <= h) {                                                         \
        const float *xr = x + iy0 * w - pad_l;                                                \
        for (int64_t ox = lo; ox < hi; ox++) {                                                \
          float sum = bias;                                                                   \
          for (int kh = 0; kh < K; kh++)                                                      \
            for (int kw = 0; kw < K; kw++) sum += wt[kh * K + kw] * xr[kh * w + ox * S + kw]; \
          sum = sum < amin ? amin : sum;                                                      \
          yr[ox] = sum > amax ? amax : sum;                                                   \
        }                                                                                     \
      } else {                                                                                \
        for (int64_t ox = lo; ox < hi; ox++) yr[ox] = bias;                                   \
        for (int kh = 0; kh < K; kh++) {                                                      \
          int64_t iy = iy0 + kh;                                                              \
          if (iy < 0 || iy >= h) continue;                                                    \
          const float *xr = x + iy * w - pad_l;                                               \
          for (int kw = 0; kw < K; kw++) {                                                    \
            float wv = wt[kh * K + kw];                                                       \
            for (int64_t ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox * S + kw];              \
          }                                                                                   \
        }                                                                                     \
        if (simple_act)                                                                       \
          for (int64_t ox = lo; ox < hi; ox++) {                                              \
            float v = yr[ox] < amin ? amin : yr[ox];                                          \
            yr[ox] = v > amax ? amax : v;                                                     \
          }                                                                                   \
      }                                                                                       \
      if (simple_act) {                                                                       \
        for (int64_t ox = 0; ox < lo; ox++) yr[ox] = dw_act(act, yr[ox]);                     \
        for (int64_t ox = hi; ox < ow; ox++) yr[ox] = dw_act(act, yr[ox]);                    \
      } else {                                                                                \
        /* The interior already went through the (identity) clamp. */                         \
        lg_vact(act, yr, ow);                                                                 \
      }                                                                                       \
    }                                                                                         \
  }

/* ---- The banded, zero-padded ("flat") kernel ----
 *
 * The row kernel above vectorizes only over the interior columns of each
 * row, so on the small planes of late MobileNet/EfficientNet layers (7x7,
 * 14x14) almost everything ran on the scalar border path. This one copies a
 * band of input rows into a zero-padded scratch first; for stride 2 the copy
 * also splits rows and columns into their four even/odd phases (polyphase).
 * Every tap then reads a plane at a constant offset from the output's flat
 * index q = row * WQ + col:
 *
 *   out[q] = bias + sum over taps t of w[t] * phase[t][q + off[t]]
 *
 * so the whole band is one contiguous vector loop, with no edge cases. The
 * WQ - ow columns past the end of each row are computed and dropped. The
 * scratch lives on the stack (it stays in L1); a plane too wide for it falls
 * back to the row kernel. */

enum { DW_SCRATCH = 10240 };

#define DEFINE_DW_FLAT(NAME, ROWS_NAME, K, S, ATTR)                                             \
  ATTR static void NAME(const float *x, int64_t h, int64_t w, const float *wk, float bias,      \
                        float *y, int64_t oh, int64_t ow, int64_t pad_t, int64_t pad_l,         \
                        const lg_act *act) {                                                    \
    enum { PHASES = S * S, HALO = (K - 1) / S, TAPS = K * K };                                  \
    int64_t wq = ow - 1 + (K + S - 1) / S; /* flat row width (per phase for S = 2) */           \
    int64_t fixed = PHASES * (HALO * wq + LG_PLANE_SLACK) + LG_PLANE_VEC;                       \
    int64_t band = (DW_SCRATCH - fixed) / ((PHASES + 1) * wq);                                  \
    if (band < 1 || wq > DW_SCRATCH) {                                                          \
      ROWS_NAME(x, h, w, wk, bias, y, oh, ow, pad_t, pad_l, act);                               \
      return;                                                                                   \
    }                                                                                           \
    if (band > oh) band = oh;                                                                   \
    float scratch[DW_SCRATCH] __attribute__((aligned(64)));                                     \
    int64_t phase_floats = (band + HALO) * wq + LG_PLANE_SLACK;                                 \
    float *out = scratch + PHASES * phase_floats;                                               \
    float wt[TAPS];                                                                             \
    int64_t off[TAPS];                                                                          \
    for (int kh = 0; kh < K; kh++)                                                              \
      for (int kw = 0; kw < K; kw++) {                                                          \
        int t = kh * K + kw, phase = (kh % S) * S + kw % S;                                     \
        wt[t] = wk[t];                                                                          \
        off[t] = phase * phase_floats + (kh / S) * wq + kw / S;                                 \
      }                                                                                         \
    bool simple_act =                                                                           \
        act->kind == LG_ACT_NONE || act->kind == LG_ACT_RELU || act->kind == LG_ACT_CLIP;       \
    float amin = act->kind == LG_ACT_RELU   ? 0.0f                                              \
                 : act->kind == LG_ACT_CLIP ? act->alpha                                        \
                                            : -__builtin_inff();                                \
    float amax = act->kind == LG_ACT_CLIP ? act->beta : __builtin_inff();                       \
    for (int64_t oy0 = 0; oy0 < oh; oy0 += band) {                                              \
      int64_t rows = oh - oy0 < band ? oh - oy0 : band;                                         \
      for (int py = 0; py < S; py++)                                                            \
        lg_plane_fill(x, h, w, S, py, oy0, rows + HALO, wq, pad_t, pad_l, 0.0f,                 \
                      scratch + py * S * phase_floats, scratch + (py * S + 1) * phase_floats);  \
      int64_t n = rows * wq;                                                                    \
      lg_pvec lo_v = (lg_pvec){0} + amin, hi_v = (lg_pvec){0} + amax;                           \
      for (int64_t q = 0; q < n; q += LG_PLANE_VEC) {                                           \
        lg_pvec acc = (lg_pvec){0} + bias, v;                                                   \
        for (int t = 0; t < TAPS; t++) {                                                        \
          memcpy(&v, scratch + off[t] + q, sizeof v);                                           \
          acc += wt[t] * v;                                                                     \
        }                                                                                       \
        lg_pivec below = acc<lo_v, above = acc> hi_v;                                           \
        lg_pivec bits = (below & (lg_pivec)lo_v) | (~below & (lg_pivec)acc);                    \
        bits = (above & (lg_pivec)hi_v) | (~above & bits);                                      \
        memcpy(out + q, &bits, sizeof bits);                                                    \
      }                                                                                         \
      /* Other activations over the whole band at once: whole vectors,                          \
       * where a 7- or 14-wide row would have been all tail. */                                 \
      if (!simple_act) lg_vact(act, out, (n + LG_PLANE_VEC - 1) / LG_PLANE_VEC * LG_PLANE_VEC); \
      for (int64_t i = 0; i < rows; i++)                                                        \
        memcpy(y + (oy0 + i) * ow, out + i * wq, (size_t)ow * sizeof(float));                   \
    }                                                                                           \
  }

#define DEFINE_DW_SET(SUFFIX, ATTR)                               \
  DEFINE_DW(dw3s1_rows_##SUFFIX, 3, 1, ATTR)                      \
  DEFINE_DW(dw3s2_rows_##SUFFIX, 3, 2, ATTR)                      \
  DEFINE_DW(dw5s1_rows_##SUFFIX, 5, 1, ATTR)                      \
  DEFINE_DW(dw5s2_rows_##SUFFIX, 5, 2, ATTR)                      \
  DEFINE_DW_FLAT(dw3s1_##SUFFIX, dw3s1_rows_##SUFFIX, 3, 1, ATTR) \
  DEFINE_DW_FLAT(dw3s2_##SUFFIX, dw3s2_rows_##SUFFIX, 3, 2, ATTR) \
  DEFINE_DW_FLAT(dw5s1_##SUFFIX, dw5s1_rows_##SUFFIX, 5, 1, ATTR) \
  DEFINE_DW_FLAT(dw5s2_##SUFFIX, dw5s2_rows_##SUFFIX, 5, 2, ATTR)

DEFINE_DW_SET(generic, DW_GENERIC)
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define HAVE_X86_DW 1
DEFINE_DW_SET(avx2, __attribute__((target("avx2,fma") DW_CONTRACT)))
DEFINE_DW_SET(avx512, __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma") DW_CONTRACT)))
#endif

lg_dw_fn lg_depthwise_kernel(lg_isa isa, int k, int stride) {
  if ((k != 3 && k != 5) || (stride != 1 && stride != 2) || isa == LG_ISA_REFERENCE) return NULL;
  int idx = (k == 5) * 2 + (stride == 2);
  static const lg_dw_fn generic[4] = {dw3s1_generic, dw3s2_generic, dw5s1_generic, dw5s2_generic};
#ifdef HAVE_X86_DW
  static const lg_dw_fn avx2[4] = {dw3s1_avx2, dw3s2_avx2, dw5s1_avx2, dw5s2_avx2};
  static const lg_dw_fn avx512[4] = {dw3s1_avx512, dw3s2_avx512, dw5s1_avx512, dw5s2_avx512};
  if (isa == LG_ISA_AVX512) return avx512[idx];
  if (isa == LG_ISA_AVX2) return avx2[idx];
#endif
  return generic[idx];
}
