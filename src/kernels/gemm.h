/*
 * gemm.h: packed, cache-blocked single-precision matrix multiply with fused
 * epilogue, the engine under Conv (1x1 directly, others through im2col
 * panels) and, where it pays, Gemm/MatMul.
 *
 *   C[m x n] = (accumulate ? C : 0) + A[m x k] * B[k x n]  (+ bias[i]) (+ R) -> act
 *
 * A (the weights) is packed once, at plan time, into panels of MR rows:
 * panel q holds A[q*MR + r][p] at [p * MR + r], zero-padded past m. B is
 * packed on the fly, per KC x NR panel, from a dense row-major matrix or by
 * a caller's function (im2col). The register tile MR x NR and KC depend on
 * the ISA level, so a packed A is only valid for the level it was packed for.
 */
#ifndef LEDGE_KERNELS_GEMM_H
#define LEDGE_KERNELS_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/cpu.h"
#include "runtime/graph.h"
#include "runtime/threadpool.h"

/* Flags of one microkernel call. */
enum {
  LG_GEMM_ACCUMULATE = 1, /* add the product to C instead of storing it */
  LG_GEMM_BIAS = 2,       /* add bias[row] */
  LG_GEMM_FINAL = 4,      /* last K block: add the residual, apply the activation */
};

/* What the microkernel applies when it stores C. bias is already offset to
 * the tile's first row, residual to the tile's first element. */
typedef struct lg_gemm_epilogue {
  const float *bias;
  const float *residual; /* element (i, j) at residual[i * ldr + j], or NULL */
  int64_t ldr;
  const lg_act *act; /* never NULL */
} lg_gemm_epilogue;

/* C[rows x cols] (rows <= MR, cols <= NR) from A and a packed B panel
 * (kc x NR). A is a packed panel (kc x MR) when lda is 0; otherwise it is
 * read in place, element (r, p) at a[r * lda + p] for r < rows. */
typedef void (*lg_gemm_ukernel)(int64_t kc, const float *a, int64_t lda, const float *b, float *c,
                                int64_t ldc, int rows, int cols, int flags,
                                const lg_gemm_epilogue *e);

typedef struct lg_gemm_kernel {
  lg_isa isa;
  int mr, nr, kc;
  lg_gemm_ukernel ukernel;
  const char *name; /* "avx512", ... */
} lg_gemm_kernel;

/* The GEMM microkernel of an ISA level (reference gets the generic one). */
const lg_gemm_kernel *lg_gemm_kernel_for(lg_isa isa);

/* Floats a packed A of m x k takes. */
size_t lg_gemm_packed_a_floats(const lg_gemm_kernel *kern, int64_t m, int64_t k);
/* Packs A, element (i, p) at a[i * row_stride + p * col_stride]. */
void lg_gemm_pack_a(const lg_gemm_kernel *kern, int64_t m, int64_t k, const float *a,
                    int64_t row_stride, int64_t col_stride, float *packed);

/* Fills panel[p * nr + j] for p < kc, j < nr with B(p0 + p, j0 + j), zero
 * for j0 + j >= n. */
typedef void (*lg_gemm_pack_b_fn)(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int nr,
                                  float *panel);

typedef struct lg_gemm_desc {
  const lg_gemm_kernel *kern;
  int64_t m, n, k;
  /* A: packed by lg_gemm_pack_a, or (a_packed NULL) read in place, row-major
   * with row stride lda: no packed copy, at the cost of MR load streams. */
  const float *a_packed;
  const float *a;
  int64_t lda;
  /* B: dense row-major (b, ldb), or pack_b(pack_ctx, ...) when pack_b is set. */
  const float *b;
  int64_t ldb;
  lg_gemm_pack_b_fn pack_b;
  const void *pack_ctx;
  float *c;
  int64_t ldc;
  const float *bias;     /* per row of C, or NULL */
  const float *residual; /* m x n with row stride ldr, or NULL */
  int64_t ldr;
  lg_act act;
  bool accumulate; /* C += product (bias and residual still apply once) */
} lg_gemm_desc;

void lg_gemm(const lg_gemm_desc *d, lg_threadpool *pool);

/* The per-ISA microkernels (gemm_avx2.c, gemm_avx512.c); NULL-free only
 * where the compiler can target them (LG_HAVE_X86_KERNELS). */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define LG_HAVE_X86_KERNELS 1
void lg_gemm_ukernel_6x16_avx2(int64_t kc, const float *a, int64_t lda, const float *b, float *c,
                               int64_t ldc, int rows, int cols, int flags,
                               const lg_gemm_epilogue *e);
void lg_gemm_ukernel_8x32_avx512(int64_t kc, const float *a, int64_t lda, const float *b, float *c,
                                 int64_t ldc, int rows, int cols, int flags,
                                 const lg_gemm_epilogue *e);
#endif

#endif
