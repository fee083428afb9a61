/* gemm_avx2.c: the AVX2/FMA GEMM microkernel, a 6x16 tile in 12 ymm
 * accumulators. Compiled for AVX2 per function: the library still runs on
 * CPUs without it (dispatch picks this kernel only where cpu.c found it). */
#include "kernels/gemm.h"
#include "runtime/vmath.h"
#include "runtime/vmath_simd.h"

#ifdef LG_HAVE_X86_KERNELS
#include <immintrin.h>

#define T256 __attribute__((target("avx2,fma")))

/* Every activation but tanh in registers (as in gemm_avx512.c). */
T256 static inline __m256 act256(__m256 v, const lg_act *act) {
  switch (act->kind) {
    case LG_ACT_RELU: return _mm256_max_ps(v, _mm256_setzero_ps());
    case LG_ACT_CLIP:
      return _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(act->alpha)), _mm256_set1_ps(act->beta));
    case LG_ACT_LEAKY_RELU:
      return _mm256_blendv_ps(v, _mm256_mul_ps(v, _mm256_set1_ps(act->alpha)),
                              _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ));
    case LG_ACT_HARD_SIGMOID:
    case LG_ACT_HARD_SWISH: {
      bool swish = act->kind == LG_ACT_HARD_SWISH;
      __m256 h = _mm256_fmadd_ps(v, _mm256_set1_ps(swish ? 1.0f / 6.0f : act->alpha),
                                 _mm256_set1_ps(swish ? 0.5f : act->beta));
      h = _mm256_min_ps(_mm256_max_ps(h, _mm256_setzero_ps()), _mm256_set1_ps(1.0f));
      return swish ? _mm256_mul_ps(v, h) : h;
    }
    case LG_ACT_SIGMOID:
    case LG_ACT_SWISH: {
      __m256 one = _mm256_set1_ps(1.0f);
      __m256 d = _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), v)));
      return _mm256_div_ps(act->kind == LG_ACT_SIGMOID ? one : v, d);
    }
    default: return v;
  }
}

static const int32_t mask_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

T256 void lg_gemm_ukernel_6x16_avx2(int64_t kc, const float *a, int64_t lda, const float *b,
                                    float *c, int64_t ldc, int rows, int cols, int flags,
                                    const lg_gemm_epilogue *e) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
         c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  __m256 av;
#define STEP(r, A)                            \
  av = _mm256_broadcast_ss(A);                \
  c##r##0 = _mm256_fmadd_ps(av, b0, c##r##0); \
  c##r##1 = _mm256_fmadd_ps(av, b1, c##r##1);
  if (lda) {
    /* A read in place, row r at a + r * lda; rows past `rows` repeat the last. */
    const float *a0 = a, *a1 = a + (rows > 1) * lda, *a2 = a + (rows > 2 ? 2 : rows - 1) * lda,
                *a3 = a + (rows > 3 ? 3 : rows - 1) * lda,
                *a4 = a + (rows > 4 ? 4 : rows - 1) * lda,
                *a5 = a + (rows > 5 ? 5 : rows - 1) * lda;
    for (int64_t p = 0; p < kc; p++) {
      __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
      STEP(0, a0 + p)
      STEP(1, a1 + p) STEP(2, a2 + p) STEP(3, a3 + p) STEP(4, a4 + p) STEP(5, a5 + p) b += 16;
    }
  } else {
    for (int64_t p = 0; p < kc; p++) {
      __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
      STEP(0, a) STEP(1, a + 1) STEP(2, a + 2) STEP(3, a + 3) STEP(4, a + 4) STEP(5, a + 5) a += 6;
      b += 16;
    }
  }
#undef STEP
  int n0 = cols >= 8 ? 8 : cols, n1 = cols >= 16 ? 8 : cols > 8 ? cols - 8 : 0;
  __m256i m0 = _mm256_loadu_si256((const __m256i *)(mask_table + 8 - n0));
  __m256i m1 = _mm256_loadu_si256((const __m256i *)(mask_table + 8 - n1));
  const lg_act *act = e->act;
  bool other_act = (flags & LG_GEMM_FINAL) && act->kind == LG_ACT_TANH;
#define ROW(r)                                                  \
  if (r < rows) {                                               \
    float *cr = c + r * ldc;                                    \
    __m256 v0 = c##r##0, v1 = c##r##1;                          \
    if (flags & LG_GEMM_ACCUMULATE) {                           \
      v0 = _mm256_add_ps(v0, _mm256_maskload_ps(cr, m0));       \
      v1 = _mm256_add_ps(v1, _mm256_maskload_ps(cr + 8, m1));   \
    }                                                           \
    if (flags & LG_GEMM_BIAS) {                                 \
      __m256 bv = _mm256_set1_ps(e->bias[r]);                   \
      v0 = _mm256_add_ps(v0, bv);                               \
      v1 = _mm256_add_ps(v1, bv);                               \
    }                                                           \
    if (flags & LG_GEMM_FINAL) {                                \
      if (e->residual) {                                        \
        const float *rr = e->residual + r * e->ldr;             \
        v0 = _mm256_add_ps(v0, _mm256_maskload_ps(rr, m0));     \
        v1 = _mm256_add_ps(v1, _mm256_maskload_ps(rr + 8, m1)); \
      }                                                         \
      v0 = act256(v0, act);                                     \
      v1 = act256(v1, act);                                     \
    }                                                           \
    if (cols == 16) {                                           \
      _mm256_storeu_ps(cr, v0);                                 \
      _mm256_storeu_ps(cr + 8, v1);                             \
    } else {                                                    \
      _mm256_maskstore_ps(cr, m0, v0);                          \
      _mm256_maskstore_ps(cr + 8, m1, v1);                      \
    }                                                           \
    if (other_act) lg_vact(act, cr, cols);                      \
  }
  ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
}
#endif
