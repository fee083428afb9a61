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

#include <string.h>

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

#define DEFINE_DW(NAME, K, S, ATTR)                                                              \
  ATTR static void NAME(const float *x, int64_t h, int64_t w, const float *wk, float bias,       \
                        float *y, int64_t oh, int64_t ow, int64_t pad_t, int64_t pad_l,          \
                        const lg_act *act) {                                                     \
    float wt[K * K];                                                                             \
    for (int i = 0; i < K * K; i++) wt[i] = wk[i];                                               \
    int64_t lo, hi;                                                                              \
    dw_interior(ow, w, K, S, pad_l, &lo, &hi);                                                   \
    bool simple_act = act->kind == LG_ACT_NONE || act->kind == LG_ACT_RELU ||                    \
                      act->kind == LG_ACT_CLIP;                                                  \
    float amin = act->kind == LG_ACT_RELU ? 0.0f : act->kind == LG_ACT_CLIP ? act->alpha       \
                                                                           : -__builtin_inff(); \
    float amax = act->kind == LG_ACT_CLIP ? act->beta : __builtin_inff();                        \
    for (int64_t oy = 0; oy < oh; oy++) {                                                        \
      float *yr = y + oy * ow;                                                                   \
      int64_t iy0 = oy * S - pad_t;                                                              \
      for (int64_t ox = 0; ox < lo; ox++)                                                        \
        yr[ox] = dw_point(x, h, w, wk, K, S, oy, ox, pad_t, pad_l, bias);                        \
      for (int64_t ox = hi; ox < ow; ox++)                                                       \
        yr[ox] = dw_point(x, h, w, wk, K, S, oy, ox, pad_t, pad_l, bias);                        \
      if (iy0 >= 0 && iy0 + K <= h) {                                                            \
        const float *xr = x + iy0 * w - pad_l;                                                   \
        for (int64_t ox = lo; ox < hi; ox++) {                                                   \
          float sum = bias;                                                                      \
          for (int kh = 0; kh < K; kh++)                                                         \
            for (int kw = 0; kw < K; kw++) sum += wt[kh * K + kw] * xr[kh * w + ox * S + kw];    \
          sum = sum < amin ? amin : sum;                                                         \
          yr[ox] = sum > amax ? amax : sum;                                                      \
        }                                                                                        \
      } else {                                                                                   \
        for (int64_t ox = lo; ox < hi; ox++) yr[ox] = bias;                                      \
        for (int kh = 0; kh < K; kh++) {                                                         \
          int64_t iy = iy0 + kh;                                                                 \
          if (iy < 0 || iy >= h) continue;                                                       \
          const float *xr = x + iy * w - pad_l;                                                  \
          for (int kw = 0; kw < K; kw++) {                                                       \
            float wv = wt[kh * K + kw];                                                          \
            for (int64_t ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox * S + kw];                 \
          }                                                                                      \
        }                                                                                        \
        if (simple_act)                                                                          \
          for (int64_t ox = lo; ox < hi; ox++) {                                                 \
            float v = yr[ox] < amin ? amin : yr[ox];                                             \
            yr[ox] = v > amax ? amax : v;                                                        \
          }                                                                                      \
      }                                                                                          \
      if (simple_act) {                                                                          \
        for (int64_t ox = 0; ox < lo; ox++) yr[ox] = dw_act(act, yr[ox]);                        \
        for (int64_t ox = hi; ox < ow; ox++) yr[ox] = dw_act(act, yr[ox]);                       \
      } else {                                                                                   \
        /* The interior already went through the (identity) clamp. */                            \
        lg_act_apply(act, yr, ow);                                                               \
      }                                                                                          \
    }                                                                                            \
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

enum { DW_VEC = 16, DW_SCRATCH = 10240, DW_SLACK = DW_VEC + 8 };
/* GCC/clang vector extensions: one zmm with AVX-512, two ymm with AVX2,
 * four xmm on the generic level (auto-vectorization left this loop scalar). */
typedef float dw_vec __attribute__((vector_size(DW_VEC * sizeof(float))));
typedef int32_t dw_ivec __attribute__((vector_size(DW_VEC * sizeof(float))));

/* Copies padded rows [pr0, pr0 + rows) of one column phase px into dst
 * (row pr is input row pr*s + py - pad_t, column j is input column
 * j*s + px - pad_l), width wq, zero outside the input, then DW_SLACK zeros.
 * For s = 2 both column phases are written in one pass over the input row
 * (px = 0 into dst, px = 1 into dst1), the interior 32 inputs at a time. */
__attribute__((always_inline)) static inline void dw_fill_phase(
    const float *x, int64_t h, int64_t w, int s, int py, int64_t pr0, int64_t rows, int64_t wq,
    int64_t pad_t, int64_t pad_l, float *dst, float *dst1) {
  for (int64_t i = 0; i < rows; i++) {
    float *d = dst + i * wq;
    int64_t iy = (pr0 + i) * s + py - pad_t;
    if (iy < 0 || iy >= h) {
      memset(d, 0, (size_t)wq * sizeof(float));
      if (s == 2) memset(dst1 + i * wq, 0, (size_t)wq * sizeof(float));
      continue;
    }
    const float *xr = x + iy * w;
    if (s == 1) {
      /* Columns j with 0 <= j - pad_l < w: [lo, hi). */
      int64_t lo = pad_l < wq ? pad_l : wq, hi = w + pad_l < wq ? w + pad_l : wq;
      if (hi < lo) hi = lo;
      for (int64_t j = 0; j < lo; j++) d[j] = 0;
      memcpy(d + lo, xr + lo - pad_l, (size_t)(hi - lo) * sizeof(float));
      for (int64_t j = hi; j < wq; j++) d[j] = 0;
      continue;
    }
    float *d1 = dst1 + i * wq;
    /* Padded column c = 2j + px is input column c - pad_l. Vector part: j
     * in [jv0, jv1) with every input 2j - pad_l .. 2j - pad_l + 31 valid. */
    int64_t jv0 = (pad_l + 1) / 2, j = 0;
    for (; j < jv0 && j < wq; j++) {
      int64_t c0 = 2 * j - pad_l, c1 = c0 + 1;
      d[j] = c0 >= 0 && c0 < w ? xr[c0] : 0.0f;
      d1[j] = c1 >= 0 && c1 < w ? xr[c1] : 0.0f;
    }
    for (; j + DW_VEC <= wq && 2 * j - pad_l + 2 * DW_VEC <= w; j += DW_VEC) {
      dw_vec a, b;
      memcpy(&a, xr + 2 * j - pad_l, sizeof a);
      memcpy(&b, xr + 2 * j - pad_l + DW_VEC, sizeof b);
      dw_vec even = __builtin_shuffle(a, b, (dw_ivec){0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22,
                                                        24, 26, 28, 30});
      dw_vec odd = __builtin_shuffle(a, b, (dw_ivec){1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23,
                                                       25, 27, 29, 31});
      memcpy(d + j, &even, sizeof even);
      memcpy(d1 + j, &odd, sizeof odd);
    }
    for (; j < wq; j++) {
      int64_t c0 = 2 * j - pad_l, c1 = c0 + 1;
      d[j] = c0 >= 0 && c0 < w ? xr[c0] : 0.0f;
      d1[j] = c1 >= 0 && c1 < w ? xr[c1] : 0.0f;
    }
  }
  memset(dst + rows * wq, 0, DW_SLACK * sizeof(float));
  if (s == 2) memset(dst1 + rows * wq, 0, DW_SLACK * sizeof(float));
}

#define DEFINE_DW_FLAT(NAME, ROWS_NAME, K, S, ATTR)                                              \
  ATTR static void NAME(const float *x, int64_t h, int64_t w, const float *wk, float bias,       \
                        float *y, int64_t oh, int64_t ow, int64_t pad_t, int64_t pad_l,          \
                        const lg_act *act) {                                                     \
    enum { PHASES = S * S, HALO = (K - 1) / S, TAPS = K * K };                                   \
    int64_t wq = ow - 1 + (K + S - 1) / S; /* flat row width (per phase for S = 2) */            \
    int64_t fixed = PHASES * (HALO * wq + DW_SLACK) + DW_VEC;                                    \
    int64_t band = (DW_SCRATCH - fixed) / ((PHASES + 1) * wq);                                   \
    if (band < 1 || wq > DW_SCRATCH) {                                                           \
      ROWS_NAME(x, h, w, wk, bias, y, oh, ow, pad_t, pad_l, act);                                \
      return;                                                                                    \
    }                                                                                            \
    if (band > oh) band = oh;                                                                    \
    float scratch[DW_SCRATCH] __attribute__((aligned(64)));                                     \
    int64_t phase_floats = (band + HALO) * wq + DW_SLACK;                                        \
    float *out = scratch + PHASES * phase_floats;                                                \
    float wt[TAPS];                                                                              \
    int64_t off[TAPS];                                                                           \
    for (int kh = 0; kh < K; kh++)                                                               \
      for (int kw = 0; kw < K; kw++) {                                                           \
        int t = kh * K + kw, phase = (kh % S) * S + kw % S;                                      \
        wt[t] = wk[t];                                                                           \
        off[t] = phase * phase_floats + (kh / S) * wq + kw / S;                                  \
      }                                                                                          \
    bool simple_act = act->kind == LG_ACT_NONE || act->kind == LG_ACT_RELU ||                    \
                      act->kind == LG_ACT_CLIP;                                                  \
    float amin = act->kind == LG_ACT_RELU ? 0.0f : act->kind == LG_ACT_CLIP ? act->alpha       \
                                                                           : -__builtin_inff(); \
    float amax = act->kind == LG_ACT_CLIP ? act->beta : __builtin_inff();                        \
    for (int64_t oy0 = 0; oy0 < oh; oy0 += band) {                                               \
      int64_t rows = oh - oy0 < band ? oh - oy0 : band;                                          \
      for (int py = 0; py < S; py++)                                                             \
        dw_fill_phase(x, h, w, S, py, oy0, rows + HALO, wq, pad_t, pad_l,                        \
                      scratch + py * S * phase_floats, scratch + (py * S + 1) * phase_floats);   \
      int64_t n = rows * wq;                                                                     \
      dw_vec lo_v = (dw_vec){0} + amin, hi_v = (dw_vec){0} + amax;                              \
      for (int64_t q = 0; q < n; q += DW_VEC) {                                                  \
        dw_vec acc = (dw_vec){0} + bias, v;                                                      \
        for (int t = 0; t < TAPS; t++) {                                                         \
          memcpy(&v, scratch + off[t] + q, sizeof v);                                            \
          acc += wt[t] * v;                                                                      \
        }                                                                                        \
        dw_ivec below = acc < lo_v, above = acc > hi_v;                                          \
        dw_ivec bits = (below & (dw_ivec)lo_v) | (~below & (dw_ivec)acc);                        \
        bits = (above & (dw_ivec)hi_v) | (~above & bits);                                        \
        memcpy(out + q, &bits, sizeof bits);                                                     \
      }                                                                                          \
      for (int64_t i = 0; i < rows; i++) {                                                       \
        float *yr = y + (oy0 + i) * ow;                                                          \
        memcpy(yr, out + i * wq, (size_t)ow * sizeof(float));                                    \
        if (!simple_act) lg_act_apply(act, yr, ow);                                              \
      }                                                                                          \
    }                                                                                            \
  }

#define DEFINE_DW_SET(SUFFIX, ATTR)                                  \
  DEFINE_DW(dw3s1_rows_##SUFFIX, 3, 1, ATTR)                         \
  DEFINE_DW(dw3s2_rows_##SUFFIX, 3, 2, ATTR)                         \
  DEFINE_DW(dw5s1_rows_##SUFFIX, 5, 1, ATTR)                         \
  DEFINE_DW(dw5s2_rows_##SUFFIX, 5, 2, ATTR)                         \
  DEFINE_DW_FLAT(dw3s1_##SUFFIX, dw3s1_rows_##SUFFIX, 3, 1, ATTR)    \
  DEFINE_DW_FLAT(dw3s2_##SUFFIX, dw3s2_rows_##SUFFIX, 3, 2, ATTR)    \
  DEFINE_DW_FLAT(dw5s1_##SUFFIX, dw5s1_rows_##SUFFIX, 5, 1, ATTR)    \
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
