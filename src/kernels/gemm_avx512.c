/* gemm_avx512.c: the AVX-512F GEMM microkernel, an 8x32 tile in 16 zmm
 * accumulators. Compiled for AVX-512 per function: the library still runs on
 * CPUs without it (dispatch picks this kernel only where cpu.c found it). */
#include "kernels/gemm.h"
#include "runtime/vmath.h"
#include "runtime/vmath_simd.h"

#ifdef LG_HAVE_X86_KERNELS
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))

/* Every activation but tanh in registers (sigmoid and swish with the exp of
 * runtime/vmath_simd.h): a call per row of the tile cost as much as the
 * multiply in the small-K expand layers of EfficientNet. */
T512 static inline __m512 act512(__m512 v, const lg_act *act) {
  switch (act->kind) {
    case LG_ACT_RELU: return _mm512_max_ps(v, _mm512_setzero_ps());
    case LG_ACT_CLIP:
      return _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(act->alpha)), _mm512_set1_ps(act->beta));
    case LG_ACT_LEAKY_RELU:
      return _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v,
                                _mm512_set1_ps(act->alpha));
    case LG_ACT_HARD_SIGMOID:
    case LG_ACT_HARD_SWISH: {
      bool swish = act->kind == LG_ACT_HARD_SWISH;
      __m512 h = _mm512_fmadd_ps(v, _mm512_set1_ps(swish ? 1.0f / 6.0f : act->alpha),
                                 _mm512_set1_ps(swish ? 0.5f : act->beta));
      h = _mm512_min_ps(_mm512_max_ps(h, _mm512_setzero_ps()), _mm512_set1_ps(1.0f));
      return swish ? _mm512_mul_ps(v, h) : h;
    }
    case LG_ACT_SIGMOID:
    case LG_ACT_SWISH: {
      __m512 one = _mm512_set1_ps(1.0f);
      __m512 d = _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), v)));
      return _mm512_div_ps(act->kind == LG_ACT_SIGMOID ? one : v, d);
    }
    default: return v;
  }
}

T512 void lg_gemm_ukernel_8x32_avx512(int64_t kc, const float *a, int64_t lda, const float *b,
                                      float *c, int64_t ldc, int rows, int cols, int flags,
                                      const lg_gemm_epilogue *e) {
  __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
         c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00,
         c70 = c00, c71 = c00;
  __m512 av;
#define STEP(r, A)                            \
  av = _mm512_set1_ps(A);                     \
  c##r##0 = _mm512_fmadd_ps(av, b0, c##r##0); \
  c##r##1 = _mm512_fmadd_ps(av, b1, c##r##1);
#define HALF(r, A)        \
  av = _mm512_set1_ps(A); \
  c##r##0 = _mm512_fmadd_ps(av, b0, c##r##0);
  /* A tile at most 16 wide (the last panel of N = 196, 784, ...) does half the
   * multiplies. */
  bool half = cols <= 16;
  if (lda) {
    /* A read in place, row r at a + r * lda; rows past `rows` repeat the last. */
    const float *a0 = a, *a1 = a + (rows > 1) * lda, *a2 = a + (rows > 2 ? 2 : rows - 1) * lda,
                *a3 = a + (rows > 3 ? 3 : rows - 1) * lda,
                *a4 = a + (rows > 4 ? 4 : rows - 1) * lda,
                *a5 = a + (rows > 5 ? 5 : rows - 1) * lda,
                *a6 = a + (rows > 6 ? 6 : rows - 1) * lda,
                *a7 = a + (rows > 7 ? 7 : rows - 1) * lda;
    if (half) {
      for (int64_t p = 0; p < kc; p++) {
        __m512 b0 = _mm512_load_ps(b);
        HALF(0, a0[p])
        HALF(1, a1[p]) HALF(2, a2[p]) HALF(3, a3[p]) HALF(4, a4[p]) HALF(5, a5[p]) HALF(6, a6[p])
            HALF(7, a7[p]) b += 32;
      }
    } else {
      for (int64_t p = 0; p < kc; p++) {
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
        STEP(0, a0[p])
        STEP(1, a1[p]) STEP(2, a2[p]) STEP(3, a3[p]) STEP(4, a4[p]) STEP(5, a5[p]) STEP(6, a6[p])
            STEP(7, a7[p]) b += 32;
      }
    }
  } else if (half) {
    for (int64_t p = 0; p < kc; p++) {
      __m512 b0 = _mm512_load_ps(b);
      HALF(0, a[0])
      HALF(1, a[1]) HALF(2, a[2]) HALF(3, a[3]) HALF(4, a[4]) HALF(5, a[5]) HALF(6, a[6])
          HALF(7, a[7]) a += 8;
      b += 32;
    }
  } else {
    for (int64_t p = 0; p < kc; p++) {
      __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
      STEP(0, a[0])
      STEP(1, a[1]) STEP(2, a[2]) STEP(3, a[3]) STEP(4, a[4]) STEP(5, a[5]) STEP(6, a[6])
          STEP(7, a[7]) a += 8;
      b += 32;
    }
  }
#undef HALF
#undef STEP
  __mmask16 m0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
  __mmask16 m1 = cols >= 32 ? 0xFFFF : cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1) : 0;
  const lg_act *act = e->act;
  bool other_act = (flags & LG_GEMM_FINAL) && act->kind == LG_ACT_TANH;
#define ROW(r)                                                      \
  if (r < rows) {                                                   \
    float *cr = c + r * ldc;                                        \
    __m512 v0 = c##r##0, v1 = c##r##1;                              \
    if (flags & LG_GEMM_ACCUMULATE) {                               \
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, cr));        \
      v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, cr + 16));   \
    }                                                               \
    if (flags & LG_GEMM_BIAS) {                                     \
      __m512 bv = _mm512_set1_ps(e->bias[r]);                       \
      v0 = _mm512_add_ps(v0, bv);                                   \
      v1 = _mm512_add_ps(v1, bv);                                   \
    }                                                               \
    if (flags & LG_GEMM_FINAL) {                                    \
      if (e->residual) {                                            \
        const float *rr = e->residual + r * e->ldr;                 \
        v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, rr));      \
        v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, rr + 16)); \
      }                                                             \
      v0 = act512(v0, act);                                         \
      v1 = act512(v1, act);                                         \
    }                                                               \
    _mm512_mask_storeu_ps(cr, m0, v0);                              \
    _mm512_mask_storeu_ps(cr + 16, m1, v1);                         \
    if (other_act) lg_vact(act, cr, cols);                          \
  }
  ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7)
#undef ROW
}
#endif
