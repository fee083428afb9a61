/* vmath.c: see vmath.h. exp by range reduction: x = k ln2 + r with
 * |r| <= ln2 / 2, exp(r) by its Taylor series to r^6 (relative error about
 * 1e-7), and 2^k written straight into the exponent bits. The AVX-512 and
 * AVX2 versions use intrinsics (compilers will not vectorize the clamps
 * without fast-math); the level follows lg_isa_active(), so LEDGE_ISA and
 * the tests exercise every path. */
#include "runtime/vmath.h"

#include <math.h>
#include <string.h>

#include "kernels/cpu.h"
#include "runtime/graph.h"

static const float EXP_HI = 88.0f, EXP_LO = -87.0f, LOG2E = 1.44269504088896341f;
static const float LN2_HI = 0.693145751953125f, LN2_LO = 1.428606765330187e-06f;
static const float C2 = 0.5f, C3 = 0.166666672f, C4 = 0.0416666679f, C5 = 0.00833333377f,
                   C6 = 0.00138888892f;

static inline float exp_scalar(float x) {
  if (isnan(x)) return x;
  x = x < EXP_LO ? EXP_LO : (x > EXP_HI ? EXP_HI : x);
  int32_t k = (int32_t)lrintf(x * LOG2E);
  float kf = (float)k;
  float r = x - kf * LN2_HI - kf * LN2_LO;
  float p = 1.0f + r * (1.0f + r * (C2 + r * (C3 + r * (C4 + r * (C5 + r * C6)))));
  int32_t bits = (k + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

enum { OP_EXP, OP_SIGMOID, OP_SWISH };

static void apply_scalar(int op, const float *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    y[i] = op == OP_EXP       ? exp_scalar(v)
           : op == OP_SIGMOID ? 1.0f / (1.0f + exp_scalar(-v))
                              : v / (1.0f + exp_scalar(-v));
  }
}

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#include <immintrin.h>

/* Max/min return the second operand when either is NaN: put x second so
 * NaN flows through, and the int conversion of NaN is never used (the
 * product with NaN p stays NaN). */
#define EXP_BODY(P, V, VI, x)                                \
  V c = P##_min_ps(P##_set1_ps(EXP_HI), x);                  \
  c = P##_max_ps(P##_set1_ps(EXP_LO), c);                    \
  VI k = P##_cvtps_epi32(P##_mul_ps(c, P##_set1_ps(LOG2E))); \
  V kf = P##_cvtepi32_ps(k);                                 \
  V r = P##_fnmadd_ps(kf, P##_set1_ps(LN2_HI), c);           \
  r = P##_fnmadd_ps(kf, P##_set1_ps(LN2_LO), r);             \
  V p = P##_fmadd_ps(r, P##_set1_ps(C6), P##_set1_ps(C5));   \
  p = P##_fmadd_ps(r, p, P##_set1_ps(C4));                   \
  p = P##_fmadd_ps(r, p, P##_set1_ps(C3));                   \
  p = P##_fmadd_ps(r, p, P##_set1_ps(C2));                   \
  p = P##_fmadd_ps(r, p, P##_set1_ps(1.0f));                 \
  p = P##_fmadd_ps(r, p, P##_set1_ps(1.0f));

__attribute__((target("avx512f"))) static inline __m512 exp16(__m512 x) {
  EXP_BODY(_mm512, __m512, __m512i, x)
  __m512 scale =
      _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(k, _mm512_set1_epi32(127)), 23));
  return _mm512_mul_ps(p, scale);
}

__attribute__((target("avx512f"))) static void apply_avx512(int op, const float *x, float *y,
                                                            int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 v = _mm512_loadu_ps(x + i), out;
    if (op == OP_EXP)
      out = exp16(v);
    else {
      __m512 d = _mm512_add_ps(one, exp16(_mm512_sub_ps(zero, v)));
      out = _mm512_div_ps(op == OP_SIGMOID ? one : v, d);
    }
    _mm512_storeu_ps(y + i, out);
  }
  apply_scalar(op, x + i, y + i, n - i);
}

__attribute__((target("avx2,fma"))) static inline __m256 exp8(__m256 x) {
  EXP_BODY(_mm256, __m256, __m256i, x)
  __m256 scale =
      _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
  return _mm256_mul_ps(p, scale);
}

__attribute__((target("avx2,fma"))) static void apply_avx2(int op, const float *x, float *y,
                                                           int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i), out;
    if (op == OP_EXP)
      out = exp8(v);
    else {
      __m256 d = _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, v)));
      out = _mm256_div_ps(op == OP_SIGMOID ? one : v, d);
    }
    _mm256_storeu_ps(y + i, out);
  }
  apply_scalar(op, x + i, y + i, n - i);
}
#endif

static void apply(int op, const float *x, float *y, int64_t n) {
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
  lg_isa isa = lg_isa_active();
  if (isa >= LG_ISA_AVX512) {
    apply_avx512(op, x, y, n);
    return;
  }
  if (isa >= LG_ISA_AVX2) {
    apply_avx2(op, x, y, n);
    return;
  }
#endif
  apply_scalar(op, x, y, n);
}

void lg_vexp(const float *x, float *y, int64_t n) { apply(OP_EXP, x, y, n); }
void lg_vsigmoid(const float *x, float *y, int64_t n) { apply(OP_SIGMOID, x, y, n); }
void lg_vswish(const float *x, float *y, int64_t n) { apply(OP_SWISH, x, y, n); }

/* ---- lg_vact: every fused activation, vectorized ----
 * The piecewise-linear ones as 16-lane vector-extension loops compiled per
 * ISA level (GCC -O2 leaves the plain loops scalar); sigmoid and swish
 * through apply; tanh scalar. */

typedef float vact_vec __attribute__((vector_size(64)));
typedef int32_t vact_ivec __attribute__((vector_size(64)));

#define VACT_SELECT(m, a, b) ((vact_vec)(((m) & (vact_ivec)(a)) | (~(m) & (vact_ivec)(b))))

#define DEFINE_VACT(SUFFIX, ATTR)                                                 \
  ATTR static void vact_linear_##SUFFIX(const lg_act *act, float *x, int64_t n) { \
    int kind = act->kind;                                                         \
    float alpha = act->alpha, beta = act->beta;                                   \
    if (kind == LG_ACT_RELU) alpha = 0, beta = INFINITY;                          \
    if (kind == LG_ACT_HARD_SWISH) alpha = 1.0f / 6.0f, beta = 0.5f;              \
    vact_vec va = (vact_vec){0} + alpha, vb = (vact_vec){0} + beta;               \
    vact_vec zero = {0}, one = zero + 1.0f;                                       \
    int64_t i = 0;                                                                \
    for (; i + 16 <= n; i += 16) {                                                \
      vact_vec v, r;                                                              \
      memcpy(&v, x + i, sizeof v);                                                \
      if (kind == LG_ACT_RELU || kind == LG_ACT_CLIP) {                           \
        r = VACT_SELECT(v < va, va, v);                                           \
        r = VACT_SELECT(r > vb, vb, r);                                           \
      } else if (kind == LG_ACT_LEAKY_RELU) {                                     \
        r = VACT_SELECT(v >= zero, v, v * va);                                    \
      } else {                                                                    \
        vact_vec h = v * va + vb;                                                 \
        h = VACT_SELECT(h < zero, zero, h);                                       \
        h = VACT_SELECT(h > one, one, h);                                         \
        r = kind == LG_ACT_HARD_SWISH ? v * h : h;                                \
      }                                                                           \
      memcpy(x + i, &r, sizeof r);                                                \
    }                                                                             \
    for (; i < n; i++) x[i] = lg_act_scalar(act, x[i]);                           \
  }

DEFINE_VACT(generic, )
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
DEFINE_VACT(avx2, __attribute__((target("avx2,fma"))))
DEFINE_VACT(avx512, __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma"))))
#endif

void lg_vact(const lg_act *act, float *x, int64_t n) {
  switch (act->kind) {
    case LG_ACT_NONE: return;
    case LG_ACT_SIGMOID: lg_vsigmoid(x, x, n); return;
    case LG_ACT_SWISH: lg_vswish(x, x, n); return;
    case LG_ACT_RELU:
    case LG_ACT_CLIP:
    case LG_ACT_LEAKY_RELU:
    case LG_ACT_HARD_SIGMOID:
    case LG_ACT_HARD_SWISH: {
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
      lg_isa isa = lg_isa_active();
      if (isa >= LG_ISA_AVX512) {
        vact_linear_avx512(act, x, n);
        return;
      }
      if (isa >= LG_ISA_AVX2) {
        vact_linear_avx2(act, x, n);
        return;
      }
#endif
      vact_linear_generic(act, x, n);
      return;
    }
    default:
      for (int64_t i = 0; i < n; i++) x[i] = lg_act_scalar(act, x[i]);
  }
}
