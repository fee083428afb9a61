/*
 * qgemm.h: int8 matrix multiply (u8 activations x s8 weights -> s32) with a
 * requantizing epilogue, the engine under QLinearConv, ConvInteger,
 * QLinearMatMul, MatMulInteger and the convolutions the QDQ pass folds.
 *
 *   acc[i][j] = sum_p A[i][p] * B[p][j] + bias[i]            (int32, wrapping)
 *   C[i][j]   = clamp(round_half_even(acc * scale[i]) + zp, qmin, qmax)   (u8/s8)
 *             | acc                                                        (s32)
 *             | act(acc * scale[i])                                        (f32)
 *
 * A (weights, m x k) is packed once at plan time; the caller gives it as
 * int16 values with the weight zero point already subtracted, and folds the
 * activation zero point into bias (bias - zx * sum_p A[i][p]) so the kernels
 * multiply raw bytes. B (activations, k x n) is read row by row, from a
 * dense matrix or through a caller's function (im2col), and packed per
 * panel of NR columns. int8 activations are turned into uint8 by flipping
 * their top bit (x ^ 0x80 = x + 128); the caller adds 128 to zx.
 *
 * Two packed layouts:
 *   k4  (AVX-512 VNNI): A panel [k/4][MR][4] s8, B panel [k/4][NR][4] u8,
 *       one vpdpbusd per 4 products; needs A within [-128, 127].
 *   k2  (AVX2, portable): A panel [k/2][MR][2] s16, B panel [k/2][NR][2]
 *       s16, one vpmaddwd per 2 products. Exact for any A in int16: it
 *       avoids vpmaddubsw, whose 16-bit pair sums saturate for u8 x s8.
 * The requantization multiplies in double so the result is bit-exact with
 * the reference kernels (src/ops/quant.c) and ONNX's definition.
 */
#ifndef LEDGE_KERNELS_QGEMM_H
#define LEDGE_KERNELS_QGEMM_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/cpu.h"
#include "runtime/graph.h"
#include "runtime/threadpool.h"

typedef enum lg_qout {
  LG_QOUT_U8 = 0,
  LG_QOUT_S8,
  LG_QOUT_S32,
  LG_QOUT_F32,
} lg_qout;

/* What is applied as the int32 sums are stored. Row i uses bias[i] and
 * scale[i]; row0 (below) offsets both. */
typedef struct lg_qgemm_epilogue {
  lg_qout out;
  const int32_t *bias; /* per row, or NULL */
  const double *scale; /* per row (u8/s8/f32 outputs) */
  int32_t zero_point;  /* u8/s8 */
  int32_t qmin, qmax;  /* u8/s8: the clamp, narrowed by a fused ReLU/Clip */
  lg_act act;          /* f32 */
} lg_qgemm_epilogue;

/* Stores a rows x cols block of int32 sums acc[r * ld_acc + c], whose first
 * row is epilogue row row0, to c + r * rs + col * cs (in elements). */
typedef void (*lg_qgemm_store_fn)(const lg_qgemm_epilogue *e, const int32_t *acc, int64_t ld_acc,
                                  int rows, int cols, int64_t row0, void *c, int64_t rs,
                                  int64_t cs);

/* An MR x NR tile of sums over kp (a multiple of kr) packed rows. */
typedef void (*lg_qgemm_ukernel)(int64_t kp, const void *a, const void *b, int32_t *acc);

typedef struct lg_qgemm_kernel {
  lg_isa isa;
  int mr, nr, kr; /* kr 4: the k4 layout (8-bit); kr 2: the k2 layout (16-bit) */
  lg_qgemm_ukernel ukernel;
  lg_qgemm_store_fn store;
  const char *name; /* "vnni", "avx2", "generic" */
} lg_qgemm_kernel;

/* The kernel for an ISA level. a_fits_s8 says whether every (zero point
 * subtracted) weight lies in [-128, 127], as the k4 layout needs. */
const lg_qgemm_kernel *lg_qgemm_kernel_for(lg_isa isa, bool a_fits_s8);

/* Bytes a packed A of m x k takes. */
size_t lg_qgemm_packed_a_bytes(const lg_qgemm_kernel *kern, int64_t m, int64_t k);
/* Packs A, element (i, p) at a[i * row_stride + p]. */
void lg_qgemm_pack_a(const lg_qgemm_kernel *kern, int64_t m, int64_t k, const int16_t *a,
                     int64_t row_stride, void *packed);

/* Row p of B, columns j0 .. j0 + cols - 1: a pointer to cols bytes, either
 * into the source or into tmp (which holds at least cols bytes). */
typedef const uint8_t *(*lg_qgemm_row_fn)(const void *ctx, int64_t p, int64_t j0, int64_t cols,
                                          uint8_t *tmp);

typedef struct lg_qgemm_desc {
  const lg_qgemm_kernel *kern;
  int64_t m, n, k;
  const void *a_packed;
  /* B: dense (b, ldb) or b_row(b_ctx, ...) when b_row is set. */
  const uint8_t *b;
  int64_t ldb;
  lg_qgemm_row_fn b_row;
  const void *b_ctx;
  uint8_t b_flip; /* 0x80 when B holds int8 */
  void *c;
  int64_t c_rs, c_cs; /* element (i, j) of C at c + i * c_rs + j * c_cs */
  lg_qgemm_epilogue epi;
} lg_qgemm_desc;

void lg_qgemm(const lg_qgemm_desc *d, lg_threadpool *pool);

/* Depthwise int8 convolution of one channel plane: sums of
 * w[kh][kw] * (x[ih][iw] ^ flip - zx) over the window (padding contributes
 * nothing), + bias, stored through the epilogue as row `channel`. */
typedef struct lg_qdw_args {
  const uint8_t *x;
  int64_t h, w;
  uint8_t flip;
  int32_t zx;
  const int16_t *wk; /* kh x kw, zero point subtracted */
  int64_t kh, kw, sh, sw, dh, dw, pad_t, pad_l;
  int64_t oh, ow;
  int64_t channel;
  void *y; /* the output plane */
  const lg_qgemm_epilogue *epi;
  lg_qgemm_store_fn store;
  int32_t *row; /* scratch: ow int32 */
} lg_qdw_args;
void lg_qdw_plane(const lg_qdw_args *a);
typedef void (*lg_qdw_fn)(const lg_qdw_args *a);
/* The depthwise plane kernel of an ISA level. */
lg_qdw_fn lg_qdw_kernel(lg_isa isa);

/* QuantizeLinear per tensor, float -> uint8 (u8) or int8: y = clamp(
 * round_half_even(x / scale) + zp, lo, hi), vectorized where the ISA level
 * allows; bit-exact with the reference. */
void lg_quantize_f32(lg_isa isa, const float *x, int64_t n, float scale, float zp, float lo,
                     float hi, bool u8, void *y);

/* DequantizeLinear per tensor, uint8 (u8) or int8 -> float: y = (q - zp) *
 * scale, bit-exact with the reference. */
void lg_dequantize_8(lg_isa isa, const void *q, int64_t n, bool u8, int32_t zp, float scale,
                     float *y);

/* The portable store, also the fallback of the vector ones. */
void lg_qgemm_store_generic(const lg_qgemm_epilogue *e, const int32_t *acc, int64_t ld_acc,
                            int rows, int cols, int64_t row0, void *c, int64_t rs, int64_t cs);

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define LG_HAVE_X86_QKERNELS 1
void lg_qgemm_ukernel_8x32_vnni(int64_t kp, const void *a, const void *b, int32_t *acc);
void lg_qgemm_store_avx512(const lg_qgemm_epilogue *e, const int32_t *acc, int64_t ld_acc, int rows,
                           int cols, int64_t row0, void *c, int64_t rs, int64_t cs);
void lg_quantize_f32_avx512(const float *x, int64_t n, float scale, float zp, float lo, float hi,
                            bool u8, void *y);
void lg_qdw_plane_avx512(const lg_qdw_args *a);
void lg_dequantize_u8_avx512(const void *q, int64_t n, bool u8, int32_t zp, float scale, float *y);
void lg_qgemm_ukernel_6x16_avx2(int64_t kp, const void *a, const void *b, int32_t *acc);
void lg_qgemm_store_avx2(const lg_qgemm_epilogue *e, const int32_t *acc, int64_t ld_acc, int rows,
                         int cols, int64_t row0, void *c, int64_t rs, int64_t cs);
#endif

#endif
