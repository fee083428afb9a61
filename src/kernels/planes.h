/*
 * planes.h: the padded, polyphase plane copy shared by the depthwise and
 * pooling kernels (internal to src/kernels).
 *
 * A sliding-window kernel over a plane with padding and stride S in {1, 2}
 * copies a band of input rows into scratch first, padded with a fill value
 * (0 for convolution and average pooling, -inf for max pooling); for S = 2
 * rows and columns are also split into their even/odd phases. Window tap
 * (kh, kw) then reads phase (kh % S, kw % S) at the constant offset
 * (kh / S) * WQ + kw / S from the output's flat index q = row * WQ + col,
 * so the whole band is one contiguous vector loop with no edge cases (the
 * WQ - ow columns past each output row are computed and dropped).
 */
#ifndef LEDGE_KERNELS_PLANES_H
#define LEDGE_KERNELS_PLANES_H

#include <stdint.h>
#include <string.h>

enum { LG_PLANE_VEC = 16, LG_PLANE_SLACK = LG_PLANE_VEC + 8 };
/* GCC/clang vector extensions: one zmm with AVX-512, two ymm with AVX2,
 * four xmm on the generic level (auto-vectorization left this loop scalar). */
typedef float lg_pvec __attribute__((vector_size(LG_PLANE_VEC * sizeof(float))));
typedef int32_t lg_pivec __attribute__((vector_size(LG_PLANE_VEC * sizeof(float))));

/* The two-vector shuffles the kernels use, by lane number: clang and GCC 12+
 * have __builtin_shufflevector; older GCC only its own __builtin_shuffle. */
#if defined(__has_builtin) && __has_builtin(__builtin_shufflevector)
#define LG_PVEC_EVEN(a, b) \
  __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
#define LG_PVEC_ODD(a, b) \
  __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)
#define LG_PVEC_ZIP_LO(a, b) \
  __builtin_shufflevector(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define LG_PVEC_ZIP_HI(a, b) \
  __builtin_shufflevector(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)
#else
#define LG_PVEC_EVEN(a, b) \
  LG_PVEC_EVEN(a, b)
#define LG_PVEC_ODD(a, b) \
  LG_PVEC_ODD(a, b)
#define LG_PVEC_ZIP_LO(a, b) \
  __builtin_shuffle(a, b, (lg_pivec){0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23})
#define LG_PVEC_ZIP_HI(a, b) \
  __builtin_shuffle(a, b, (lg_pivec){8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31})
#endif

/* Copies padded rows [pr0, pr0 + rows) of one column phase px into dst
 * (row pr is input row pr*s + py - pad_t, column j is input column
 * j*s + px - pad_l), width wq, `fill` outside the input, then LG_PLANE_SLACK more.
 * For s = 2 both column phases are written in one pass over the input row
 * (px = 0 into dst, px = 1 into dst1), the interior 32 inputs at a time. */
__attribute__((always_inline)) static inline void lg_plane_fill(
    const float *x, int64_t h, int64_t w, int s, int py, int64_t pr0, int64_t rows, int64_t wq,
    int64_t pad_t, int64_t pad_l, float fill, float *dst, float *dst1) {
  for (int64_t i = 0; i < rows; i++) {
    float *d = dst + i * wq;
    int64_t iy = (pr0 + i) * s + py - pad_t;
    if (iy < 0 || iy >= h) {
      for (int64_t j = 0; j < wq; j++) d[j] = fill;
      if (s == 2)
        for (int64_t j = 0; j < wq; j++) dst1[i * wq + j] = fill;
      continue;
    }
    const float *xr = x + iy * w;
    if (s == 1) {
      /* Columns j with 0 <= j - pad_l < w: [lo, hi). */
      int64_t lo = pad_l < wq ? pad_l : wq, hi = w + pad_l < wq ? w + pad_l : wq;
      if (hi < lo) hi = lo;
      for (int64_t j = 0; j < lo; j++) d[j] = fill;
      memcpy(d + lo, xr + lo - pad_l, (size_t)(hi - lo) * sizeof(float));
      for (int64_t j = hi; j < wq; j++) d[j] = fill;
      continue;
    }
    float *d1 = dst1 + i * wq;
    /* Padded column c = 2j + px is input column c - pad_l. Vector part: j
     * in [jv0, jv1) with every input 2j - pad_l .. 2j - pad_l + 31 valid. */
    int64_t jv0 = (pad_l + 1) / 2, j = 0;
    for (; j < jv0 && j < wq; j++) {
      int64_t c0 = 2 * j - pad_l, c1 = c0 + 1;
      d[j] = c0 >= 0 && c0 < w ? xr[c0] : fill;
      d1[j] = c1 >= 0 && c1 < w ? xr[c1] : fill;
    }
    for (; j + LG_PLANE_VEC <= wq && 2 * j - pad_l + 2 * LG_PLANE_VEC <= w; j += LG_PLANE_VEC) {
      lg_pvec a, b;
      memcpy(&a, xr + 2 * j - pad_l, sizeof a);
      memcpy(&b, xr + 2 * j - pad_l + LG_PLANE_VEC, sizeof b);
      lg_pvec even = LG_PVEC_EVEN(a, b);
      lg_pvec odd = LG_PVEC_ODD(a, b);
      memcpy(d + j, &even, sizeof even);
      memcpy(d1 + j, &odd, sizeof odd);
    }
    for (; j < wq; j++) {
      int64_t c0 = 2 * j - pad_l, c1 = c0 + 1;
      d[j] = c0 >= 0 && c0 < w ? xr[c0] : fill;
      d1[j] = c1 >= 0 && c1 < w ? xr[c1] : fill;
    }
  }
  for (int j = 0; j < LG_PLANE_SLACK; j++) dst[rows * wq + j] = fill;
  if (s == 2)
    for (int j = 0; j < LG_PLANE_SLACK; j++) dst1[rows * wq + j] = fill;
}

#endif
