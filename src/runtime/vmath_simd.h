/* vmath_simd.h: the vectorized exp of vmath.c as inline functions, for the
 * kernels that apply sigmoid and swish in registers (internal to the
 * runtime and kernels). See vmath.c for the method and accuracy. */
#ifndef LEDGE_VMATH_SIMD_H
#define LEDGE_VMATH_SIMD_H

static const float EXP_HI = 88.0f, EXP_LO = -87.0f, LOG2E = 1.44269504088896341f;
static const float LN2_HI = 0.693145751953125f, LN2_LO = 1.428606765330187e-06f;
static const float C2 = 0.5f, C3 = 0.166666672f, C4 = 0.0416666679f, C5 = 0.00833333377f,
                   C6 = 0.00138888892f;

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

__attribute__((target("avx2,fma"))) static inline __m256 exp8(__m256 x) {
  EXP_BODY(_mm256, __m256, __m256i, x)
  __m256 scale =
      _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
  return _mm256_mul_ps(p, scale);
}

#endif

#endif
