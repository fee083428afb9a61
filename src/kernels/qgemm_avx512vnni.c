/* qgemm_avx512vnni.c: the AVX-512 VNNI int8 microkernel (an 8x32 tile of
 * int32 sums in 16 zmm, one vpdpbusd per 4 products of u8 activations and
 * s8 weights) and the AVX-512 requantizing store. Compiled per function for
 * these ISAs: dispatch (qgemm.c) picks them only where cpu.c found them. */
#include "kernels/qgemm.h"

#ifdef LG_HAVE_X86_QKERNELS
#include <immintrin.h>
#include <string.h>

#define TVNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define T512 __attribute__((target("avx512f,avx512bw,avx512vl")))

TVNNI void lg_qgemm_ukernel_8x32_vnni(int64_t kp, const void *a, const void *b, int32_t *acc) {
  const int8_t *ap = a;
  const uint8_t *bp = b;
  __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
          c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00,
          c70 = c00, c71 = c00;
  for (int64_t g = 0; g < kp / 4; g++) {
    __m512i b0 = _mm512_load_si512((const void *)bp),
            b1 = _mm512_load_si512((const void *)(bp + 64));
    __m512i av;
    int32_t w;
#define STEP(r)                                   \
  memcpy(&w, ap + 4 * r, 4);                      \
  av = _mm512_set1_epi32(w);                      \
  c##r##0 = _mm512_dpbusd_epi32(c##r##0, b0, av); \
  c##r##1 = _mm512_dpbusd_epi32(c##r##1, b1, av);
    STEP(0)
    STEP(1)
    STEP(2)
    STEP(3)
    STEP(4)
    STEP(5)
    STEP(6)
    STEP(7)
#undef STEP
    ap += 32;
    bp += 128;
  }
#define ROW(r)                                         \
  _mm512_store_si512((void *)(acc + 32 * r), c##r##0); \
  _mm512_store_si512((void *)(acc + 32 * r + 16), c##r##1);
  ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7)
#undef ROW
}

/* 16 sums + bias -> round(v * scale) + zp, clamped, as 16 int32. */
T512 static inline __m512i requant16(__m512i v, __m512d scale, __m512d lo, __m512d hi, __m512i zp,
                                     __m512i qmin, __m512i qmax) {
  __m512d d0 = _mm512_cvtepi32_pd(_mm512_castsi512_si256(v));
  __m512d d1 = _mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(v, 1));
  d0 = _mm512_min_pd(_mm512_max_pd(_mm512_mul_pd(d0, scale), lo), hi);
  d1 = _mm512_min_pd(_mm512_max_pd(_mm512_mul_pd(d1, scale), lo), hi);
  /* cvtpd rounds by MXCSR: to nearest, ties to even, as the reference's nearbyint. */
  __m512i q =
      _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtpd_epi32(d0)), _mm512_cvtpd_epi32(d1), 1);
  q = _mm512_add_epi32(q, zp);
  return _mm512_min_epi32(_mm512_max_epi32(q, qmin), qmax);
}

/* 16 int32 already within the output range -> 16 bytes in order. With
 * packs and a dword permute rather than vpmovdb, whose memory form is slow
 * on some cores. */
T512 static inline __m128i pack16(__m512i q, bool u8) {
  __m256i w = _mm256_packs_epi32(_mm512_castsi512_si256(q), _mm512_extracti64x4_epi64(q, 1));
  __m256i b = u8 ? _mm256_packus_epi16(w, w) : _mm256_packs_epi16(w, w);
  b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  return _mm256_castsi256_si128(b);
}

T512 void lg_qgemm_store_avx512(const lg_qgemm_epilogue *e, const int32_t *acc, int64_t ld_acc,
                                int rows, int cols, int64_t row0, void *c, int64_t rs, int64_t cs) {
  if ((e->out != LG_QOUT_U8 && e->out != LG_QOUT_S8) || cs != 1) {
    lg_qgemm_store_generic(e, acc, ld_acc, rows, cols, row0, c, rs, cs);
    return;
  }
  __m512d lo = _mm512_set1_pd(-1e9), hi = _mm512_set1_pd(1e9);
  bool u8 = e->out == LG_QOUT_U8;
  __m512i zp = _mm512_set1_epi32(e->zero_point), qmin = _mm512_set1_epi32(e->qmin),
          qmax = _mm512_set1_epi32(e->qmax);
  for (int r = 0; r < rows; r++) {
    int64_t i = row0 + r;
    __m512i bias = _mm512_set1_epi32(e->bias ? e->bias[i] : 0);
    __m512d scale = _mm512_set1_pd(e->scale[i]);
    __m512 scale_f = _mm512_set1_ps((float)e->scale[i]);
    const int32_t *ar = acc + r * ld_acc;
    uint8_t *dst = (uint8_t *)c + r * rs;
    for (int col = 0; col < cols; col += 16) {
      __mmask16 m = cols - col >= 16 ? 0xFFFF : (__mmask16)((1u << (cols - col)) - 1);
      __m512i v = _mm512_add_epi32(_mm512_maskz_loadu_epi32(m, ar + col), bias);
      /* In float first: x = v * scale is off from the double product by at
       * most 3 * 2^-24 relative, under 2^-12 where |x| < 1024 (beyond, the
       * result saturates whatever the rounding). So float rounds as double
       * unless x lies within 2^-11 of a tie: only then (rarely) redo the
       * vector in double. */
      __m512 x = _mm512_mul_ps(_mm512_cvtepi32_ps(v), scale_f);
      __m512 rx = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      __m512 dist = _mm512_abs_ps(_mm512_sub_ps(x, rx));
      __mmask16 near_tie =
          _mm512_cmp_ps_mask(dist, _mm512_set1_ps(0.5f - 1.0f / 2048), _CMP_GT_OQ) &
          _mm512_cmp_ps_mask(_mm512_abs_ps(x), _mm512_set1_ps(1024.0f), _CMP_LT_OQ);
      __mmask16 bad = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q); /* NaN scales: the double path */
      __m512i q;
      if ((near_tie | bad) & m) {
        q = requant16(v, scale, lo, hi, zp, qmin, qmax);
      } else {
        rx = _mm512_min_ps(_mm512_max_ps(rx, _mm512_set1_ps(-1e9f)), _mm512_set1_ps(1e9f));
        q = _mm512_add_epi32(_mm512_cvtps_epi32(rx), zp);
        q = _mm512_min_epi32(_mm512_max_epi32(q, qmin), qmax);
      }
      __m128i bytes = pack16(q, u8);
      if (m == 0xFFFF)
        _mm_storeu_si128((__m128i *)(dst + col), bytes);
      else
        _mm_mask_storeu_epi8(dst + col, m, bytes);
    }
  }
}
#endif

#ifdef LG_HAVE_X86_QKERNELS
/* QuantizeLinear per tensor: round_half_even(x / scale) + zp, clamped. The
 * division (not a multiply by the reciprocal) matches the reference. */
T512 void lg_quantize_f32_avx512(const float *x, int64_t n, float scale, float zp, float lo,
                                 float hi, bool u8, void *y) {
  __m512 vs = _mm512_set1_ps(scale), vz = _mm512_set1_ps(zp), vlo = _mm512_set1_ps(lo),
         vhi = _mm512_set1_ps(hi);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
    __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(m, x + i), vs);
    v = _mm512_add_ps(_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vz);
    /* max/min return the second operand for NaN: lo, where the reference stores 0 */
    v = _mm512_min_ps(_mm512_max_ps(v, vlo), vhi);
    __m512i q = _mm512_cvtps_epi32(v);
    if (u8)
      _mm_mask_storeu_epi8((uint8_t *)y + i, m, _mm512_cvtepi32_epi8(q));
    else
      _mm_mask_storeu_epi8((int8_t *)y + i, m, _mm512_cvtepi32_epi8(q));
  }
}
#endif

#ifdef LG_HAVE_X86_QKERNELS
/* The depthwise plane (see lg_qdw_plane) 16 outputs at a time, the sums
 * held in registers over all taps (accumulating in memory would stall on
 * masked store-to-load forwarding): widen the input bytes to int16,
 * subtract the zero point, and multiply-add two taps at once. Stride 2 reads byte pairs
 * as 16-bit lanes; a last column whose pair would end past the row is
 * added afterwards in scalar code. */
T512 void lg_qdw_plane_avx512(const lg_qdw_args *a) {
  int32_t *row = a->row;
  const int32_t zx = a->zx;
  const uint8_t flip = a->flip;
  const int64_t sw = a->sw;
  enum { MAX_KW = 16 };
  if (sw > 2 || a->kw > MAX_KW) {
    lg_qdw_plane(a);
    return;
  }
  /* Per kernel column: the output columns [lo, hi) whose reads lie in the
   * row (computed once: integer divisions cost more than the taps). */
  int64_t lo_kw[MAX_KW], hi_kw[MAX_KW];
  for (int64_t kw = 0; kw < a->kw; kw++) {
    int64_t off = kw * a->dw - a->pad_l;
    int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
    int64_t hi = a->w - off <= 0 ? 0 : (a->w - off - 1) / sw + 1;
    if (sw == 2) { /* the pair (2o, 2o + 1) must lie in the row */
      int64_t last = a->w - 2 - off;
      int64_t h2 = last < 0 ? 0 : last / 2 + 1;
      if (h2 < hi) hi = h2;
    }
    lo_kw[kw] = lo;
    hi_kw[kw] = hi;
  }
  __m256i vzx = _mm256_set1_epi16((short)zx), low8 = _mm256_set1_epi16(0xFF);
  __m128i vflip8 = _mm_set1_epi8((char)flip);
  __m256i vflip16 = _mm256_set1_epi16((short)(flip | flip << 8));
  int64_t lo_max = 0, hi_min = a->ow;
  for (int64_t kw = 0; kw < a->kw; kw++) {
    if (lo_kw[kw] > lo_max) lo_max = lo_kw[kw];
    if (hi_kw[kw] < hi_min) hi_min = hi_kw[kw];
  }
  for (int64_t oh = 0; oh < a->oh; oh++) {
    int64_t ih0 = oh * a->sh - a->pad_t, ih_last = ih0 + (a->kh - 1) * a->dh;
    bool rows_inside = ih0 >= 0 && ih_last < a->h;
    for (int64_t o0 = 0; o0 < a->ow; o0 += 16) {
      int64_t o1 = o0 + 16 < a->ow ? o0 + 16 : a->ow;
      if (rows_inside && o1 - o0 == 16 && o0 >= lo_max && o1 <= hi_min) {
        /* Interior: every tap reads 16 valid columns; no masks, no checks. */
        __m256i acc_lo = _mm256_setzero_si256(), acc_hi = acc_lo, pend = acc_lo;
        int32_t pend_w = 0;
        bool have = false;
        for (int64_t kh = 0; kh < a->kh; kh++) {
          const uint8_t *xr = a->x + (ih0 + kh * a->dh) * a->w + sw * o0 - a->pad_l;
          for (int64_t kw = 0; kw < a->kw; kw++) {
            int32_t wv = a->wk[kh * a->kw + kw];
            const uint8_t *p = xr + kw * a->dw;
            __m256i x =
                sw == 1
                    ? _mm256_cvtepu8_epi16(
                          _mm_xor_si128(_mm_loadu_si128((const __m128i *)p), vflip8))
                    : _mm256_and_si256(
                          _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)p), vflip16), low8);
            x = _mm256_sub_epi16(x, vzx);
            if (!have) {
              pend = x;
              pend_w = wv;
              have = true;
              continue;
            }
            __m256i wp =
                _mm256_set1_epi32((int32_t)(((uint32_t)(uint16_t)wv << 16) | (uint16_t)pend_w));
            acc_lo =
                _mm256_add_epi32(acc_lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(pend, x), wp));
            acc_hi =
                _mm256_add_epi32(acc_hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(pend, x), wp));
            have = false;
          }
        }
        if (have) {
          __m256i wp = _mm256_set1_epi32((int32_t)(uint16_t)pend_w), zero = _mm256_setzero_si256();
          acc_lo =
              _mm256_add_epi32(acc_lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(pend, zero), wp));
          acc_hi =
              _mm256_add_epi32(acc_hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(pend, zero), wp));
        }
        _mm256_storeu_si256((__m256i *)(row + o0), _mm256_permute2x128_si256(acc_lo, acc_hi, 0x20));
        _mm256_storeu_si256((__m256i *)(row + o0 + 8),
                            _mm256_permute2x128_si256(acc_lo, acc_hi, 0x31));
        continue;
      }
      /* Taps in pairs: their (x - zx) interleaved as 16-bit pairs, one
       * vpmaddwd adds both products (exact: |x - zx| <= 255). The
       * unpacks split outputs 0-3/8-11 (lo) and 4-7/12-15 (hi). */
      __m256i acc_lo = _mm256_setzero_si256(), acc_hi = acc_lo, pend = acc_lo;
      int32_t pend_w = 0;
      bool have = false;
      for (int64_t kh = 0; kh < a->kh; kh++) {
        int64_t ih = oh * a->sh - a->pad_t + kh * a->dh;
        if (ih < 0 || ih >= a->h) continue;
        const uint8_t *xr = a->x + ih * a->w;
        for (int64_t kw = 0; kw < a->kw; kw++) {
          int32_t wv = a->wk[kh * a->kw + kw];
          int64_t off = kw * a->dw - a->pad_l, lo = lo_kw[kw], hi = hi_kw[kw];
          if (lo < o0) lo = o0;
          if (hi > o1) hi = o1;
          if (wv == 0 || lo >= hi) continue;
          __mmask16 m = (__mmask16)(((1u << (hi - o0)) - 1) & ~((1u << (lo - o0)) - 1));
          __m256i x;
          if (sw == 1) {
            /* lanes before lo are masked: the pointer stays inside the row */
            __m128i b = _mm_maskz_loadu_epi8(m, xr + off + o0);
            x = _mm256_cvtepu8_epi16(_mm_xor_si128(b, vflip8));
          } else {
            __m256i b = _mm256_maskz_loadu_epi16(m, xr + off + 2 * o0);
            x = _mm256_and_si256(_mm256_xor_si256(b, vflip16), low8);
          }
          x = _mm256_maskz_sub_epi16(m, x, vzx);
          if (!have) {
            pend = x;
            pend_w = wv;
            have = true;
            continue;
          }
          __m256i wp =
              _mm256_set1_epi32((int32_t)(((uint32_t)(uint16_t)wv << 16) | (uint16_t)pend_w));
          acc_lo = _mm256_add_epi32(acc_lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(pend, x), wp));
          acc_hi = _mm256_add_epi32(acc_hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(pend, x), wp));
          have = false;
        }
      }
      if (have) {
        __m256i wp = _mm256_set1_epi32((int32_t)(uint16_t)pend_w);
        __m256i zero = _mm256_setzero_si256();
        acc_lo = _mm256_add_epi32(acc_lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(pend, zero), wp));
        acc_hi = _mm256_add_epi32(acc_hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(pend, zero), wp));
      }
      __m256i first = _mm256_permute2x128_si256(acc_lo, acc_hi, 0x20);
      __m256i second = _mm256_permute2x128_si256(acc_lo, acc_hi, 0x31);
      __mmask16 mo = (__mmask16)((1u << (o1 - o0)) - 1);
      _mm256_mask_storeu_epi32(row + o0, (__mmask8)(mo & 0xFF), first);
      _mm256_mask_storeu_epi32(row + o0 + 8, (__mmask8)(mo >> 8), second);
    }
    if (sw == 2) {
      /* columns the pair reads could not take */
      for (int64_t kh = 0; kh < a->kh; kh++) {
        int64_t ih = oh * a->sh - a->pad_t + kh * a->dh;
        if (ih < 0 || ih >= a->h) continue;
        const uint8_t *xr = a->x + ih * a->w;
        for (int64_t kw = 0; kw < a->kw; kw++) {
          int64_t off = kw * a->dw - a->pad_l;
          int64_t lo = off >= 0 ? 0 : (-off + 1) / 2;
          int64_t hi = a->w - off <= 0 ? 0 : (a->w - off - 1) / 2 + 1;
          int64_t last = a->w - 2 - off, h2 = last < 0 ? 0 : last / 2 + 1;
          if (hi > a->ow) hi = a->ow;
          if (h2 < lo) h2 = lo;
          for (int64_t o = h2; o < hi; o++)
            row[o] += a->wk[kh * a->kw + kw] * ((int32_t)(xr[off + 2 * o] ^ flip) - zx);
        }
      }
    }
    size_t out_bytes = a->epi->out == LG_QOUT_U8 || a->epi->out == LG_QOUT_S8 ? 1 : 4;
    a->store(a->epi, row, a->ow, 1, (int)a->ow, a->channel,
             (uint8_t *)a->y + (size_t)(oh * a->ow) * out_bytes, 0, 1);
  }
}
#endif

#ifdef LG_HAVE_X86_QKERNELS
/* DequantizeLinear per tensor: (q - zp) * scale in float, as the reference. */
T512 void lg_dequantize_u8_avx512(const void *q, int64_t n, bool u8, int32_t zp, float scale,
                                  float *y) {
  __m512i vz = _mm512_set1_epi32(zp);
  __m512 vs = _mm512_set1_ps(scale);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
    __m128i b = _mm_maskz_loadu_epi8(m, (const uint8_t *)q + i);
    __m512i v = u8 ? _mm512_cvtepu8_epi32(b) : _mm512_cvtepi8_epi32(b);
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(v, vz)), vs));
  }
}
#endif
