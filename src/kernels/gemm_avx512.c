/* gemm_avx512.c: the AVX-512F GEMM microkernel, an 8x32 tile in 16 zmm
 * accumulators. Compiled for AVX-512 per function: the library still runs on
 * CPUs without it (dispatch picks this kernel only where cpu.c found it). */
#include "kernels/gemm.h"

#ifdef LG_HAVE_X86_KERNELS
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))

T512 static inline __m512 act512(__m512 v, const lg_act *act) {
  if (act->kind == LG_ACT_RELU) return _mm512_max_ps(v, _mm512_setzero_ps());
  if (act->kind == LG_ACT_CLIP)
    return _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(act->alpha)), _mm512_set1_ps(act->beta));
  return v;
}

T512 void lg_gemm_ukernel_8x32_avx512(int64_t kc, const float *a, const float *b, float *c,
                                      int64_t ldc, int rows, int cols, int flags,
                                      const lg_gemm_epilogue *e) {
  __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
         c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00,
         c70 = c00, c71 = c00;
  for (int64_t p = 0; p < kc; p++) {
    __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
    __m512 av;
#define STEP(r)                                \
  av = _mm512_set1_ps(a[r]);                   \
  c##r##0 = _mm512_fmadd_ps(av, b0, c##r##0);  \
  c##r##1 = _mm512_fmadd_ps(av, b1, c##r##1);
    STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6) STEP(7)
#undef STEP
    a += 8;
    b += 32;
  }
  __mmask16 m0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
  __mmask16 m1 = cols >= 32 ? 0xFFFF : cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1) : 0;
  const lg_act *act = e->act;
  bool other_act = (flags & LG_GEMM_FINAL) && act->kind != LG_ACT_NONE &&
                   act->kind != LG_ACT_RELU && act->kind != LG_ACT_CLIP;
#define ROW(r)                                                                            \
  if (r < rows) {                                                                         \
    float *cr = c + r * ldc;                                                              \
    __m512 v0 = c##r##0, v1 = c##r##1;                                                    \
    if (flags & LG_GEMM_ACCUMULATE) {                                                     \
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, cr));                              \
      v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, cr + 16));                         \
    }                                                                                     \
    if (flags & LG_GEMM_BIAS) {                                                           \
      __m512 bv = _mm512_set1_ps(e->bias[r]);                                             \
      v0 = _mm512_add_ps(v0, bv);                                                         \
      v1 = _mm512_add_ps(v1, bv);                                                         \
    }                                                                                     \
    if (flags & LG_GEMM_FINAL) {                                                          \
      if (e->residual) {                                                                  \
        const float *rr = e->residual + r * e->ldr;                                       \
        v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, rr));                            \
        v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, rr + 16));                       \
      }                                                                                   \
      v0 = act512(v0, act);                                                               \
      v1 = act512(v1, act);                                                               \
    }                                                                                     \
    _mm512_mask_storeu_ps(cr, m0, v0);                                                    \
    _mm512_mask_storeu_ps(cr + 16, m1, v1);                                               \
    if (other_act) lg_act_apply(act, cr, cols);                                           \
  }
  ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7)
#undef ROW
}
#endif
