/* qgemm_avx2.c: the AVX2 int8 microkernel over the k2 layout (a 6x16 tile
 * of int32 sums in 12 ymm, one vpmaddwd per 2 products of 16-bit values:
 * exact for any weights, unlike vpmaddubsw whose 16-bit pair sums saturate
 * for u8 x s8) and the AVX2 requantizing store. */
#include "kernels/qgemm.h"

#ifdef LG_HAVE_X86_QKERNELS
#include <immintrin.h>
#include <string.h>

#define T256 __attribute__((target("avx2,fma")))

T256 void lg_qgemm_ukernel_6x16_avx2(int64_t kp, const void *a, const void *b, int32_t *acc) {
  const int16_t *ap = a, *bp = b;
  __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
          c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t g = 0; g < kp / 2; g++) {
    __m256i b0 = _mm256_load_si256((const __m256i *)bp),
            b1 = _mm256_load_si256((const __m256i *)(bp + 16));
    __m256i av;
    int32_t w;
#define STEP(r)                                                   \
  memcpy(&w, ap + 2 * r, 4);                                      \
  av = _mm256_set1_epi32(w);                                      \
  c##r##0 = _mm256_add_epi32(c##r##0, _mm256_madd_epi16(b0, av)); \
  c##r##1 = _mm256_add_epi32(c##r##1, _mm256_madd_epi16(b1, av));
    STEP(0)
    STEP(1)
    STEP(2)
    STEP(3)
    STEP(4) STEP(5)
#undef STEP
        ap += 12;
    bp += 32;
  }
#define ROW(r)                                            \
  _mm256_store_si256((__m256i *)(acc + 16 * r), c##r##0); \
  _mm256_store_si256((__m256i *)(acc + 16 * r + 8), c##r##1);
  ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
}

T256 void lg_qgemm_store_avx2(const lg_qgemm_epilogue *e, const int32_t *acc, int64_t ld_acc,
                              int rows, int cols, int64_t row0, void *c, int64_t rs, int64_t cs) {
  if ((e->out != LG_QOUT_U8 && e->out != LG_QOUT_S8) || cs != 1 || cols < 8) {
    lg_qgemm_store_generic(e, acc, ld_acc, rows, cols, row0, c, rs, cs);
    return;
  }
  __m256d lo = _mm256_set1_pd(-1e9), hi = _mm256_set1_pd(1e9);
  __m256i zp = _mm256_set1_epi32(e->zero_point), qmin = _mm256_set1_epi32(e->qmin),
          qmax = _mm256_set1_epi32(e->qmax);
  int vec_cols = cols / 8 * 8;
  for (int r = 0; r < rows; r++) {
    int64_t i = row0 + r;
    __m256i bias = _mm256_set1_epi32(e->bias ? e->bias[i] : 0);
    __m256d scale = _mm256_set1_pd(e->scale[i]);
    const int32_t *ar = acc + r * ld_acc;
    uint8_t *dst = (uint8_t *)c + r * rs;
    for (int col = 0; col < vec_cols; col += 8) {
      __m256i v = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(ar + col)), bias);
      __m256d d0 = _mm256_cvtepi32_pd(_mm256_castsi256_si128(v));
      __m256d d1 = _mm256_cvtepi32_pd(_mm256_extracti128_si256(v, 1));
      d0 = _mm256_min_pd(_mm256_max_pd(_mm256_mul_pd(d0, scale), lo), hi);
      d1 = _mm256_min_pd(_mm256_max_pd(_mm256_mul_pd(d1, scale), lo), hi);
      __m256i q = _mm256_set_m128i(_mm256_cvtpd_epi32(d1), _mm256_cvtpd_epi32(d0));
      q = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(q, zp), qmin), qmax);
      /* In range already: pack to 16 then 8 bits without further saturation. */
      __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
      __m128i w8 = e->out == LG_QOUT_U8 ? _mm_packus_epi16(w16, w16) : _mm_packs_epi16(w16, w16);
      _mm_storel_epi64((__m128i *)(dst + col), w8);
    }
    if (vec_cols < cols)
      lg_qgemm_store_generic(e, ar + vec_cols, ld_acc, 1, cols - vec_cols, i, dst + vec_cols, rs,
                             cs);
  }
}
#endif
