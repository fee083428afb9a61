/*
 * gemm.c: the packed GEMM driver, A packing, and the portable microkernel.
 *
 * Blocking: C is cut into tasks of (up to) MC rows x NC columns, run in
 * parallel. Inside a task, K is cut into blocks of KC; for each block, each
 * NR-column panel of B is packed once into a small buffer on the stack (it
 * stays in L1) and multiplied with every MR-row panel of the task's packed A
 * (which stays in L2). The first K block stores (or adds to) C with the
 * bias; the last one adds the residual and applies the activation, so C is
 * written once per K block and activations never take an extra pass.
 */
#include "kernels/gemm.h"

#include <string.h>

enum { PANEL_FLOATS = 4096, MC_MAX = 256 };

/* ---- Portable microkernel: a 4x8 tile the compiler keeps in registers ---- */

enum { GEN_MR = 4, GEN_NR = 8 };

static inline float act_fast(const lg_act *act, float v) {
  switch (act->kind) {
    case LG_ACT_NONE: return v;
    case LG_ACT_RELU: return v > 0 ? v : 0;
    case LG_ACT_CLIP: return v < act->alpha ? act->alpha : (v > act->beta ? act->beta : v);
    default: return lg_act_scalar(act, v);
  }
}

static void ukernel_generic(int64_t kc, const float *a, int64_t lda, const float *b, float *c,
                            int64_t ldc, int rows, int cols, int flags, const lg_gemm_epilogue *e) {
  float acc[GEN_MR][GEN_NR];
  for (int i = 0; i < GEN_MR; i++)
    for (int j = 0; j < GEN_NR; j++) acc[i][j] = 0;
  if (lda) {
    const float *ar[GEN_MR];
    for (int i = 0; i < GEN_MR; i++) ar[i] = a + (i < rows ? i : rows - 1) * lda;
    for (int64_t p = 0; p < kc; p++) {
      const float *bp = b + p * GEN_NR;
      for (int i = 0; i < GEN_MR; i++)
        for (int j = 0; j < GEN_NR; j++) acc[i][j] += ar[i][p] * bp[j];
    }
  } else {
    for (int64_t p = 0; p < kc; p++) {
      const float *bp = b + p * GEN_NR, *ap = a + p * GEN_MR;
      for (int i = 0; i < GEN_MR; i++)
        for (int j = 0; j < GEN_NR; j++) acc[i][j] += ap[i] * bp[j];
    }
  }
  for (int i = 0; i < rows; i++) {
    float *ci = c + i * ldc;
    float bias = (flags & LG_GEMM_BIAS) ? e->bias[i] : 0.0f;
    for (int j = 0; j < cols; j++) {
      float v = acc[i][j] + bias;
      if (flags & LG_GEMM_ACCUMULATE) v += ci[j];
      if (flags & LG_GEMM_FINAL) {
        if (e->residual) v += e->residual[i * e->ldr + j];
        v = act_fast(e->act, v);
      }
      ci[j] = v;
    }
  }
}

static const lg_gemm_kernel kernels[LG_ISA_COUNT] = {
    [LG_ISA_REFERENCE] = {LG_ISA_GENERIC, GEN_MR, GEN_NR, 256, ukernel_generic, "generic"},
    [LG_ISA_GENERIC] = {LG_ISA_GENERIC, GEN_MR, GEN_NR, 256, ukernel_generic, "generic"},
#ifdef LG_HAVE_X86_KERNELS
    [LG_ISA_AVX2] = {LG_ISA_AVX2, 6, 16, 256, lg_gemm_ukernel_6x16_avx2, "avx2"},
    [LG_ISA_AVX512] = {LG_ISA_AVX512, 8, 32, 128, lg_gemm_ukernel_8x32_avx512, "avx512"},
#else
    [LG_ISA_AVX2] = {LG_ISA_GENERIC, GEN_MR, GEN_NR, 256, ukernel_generic, "generic"},
    [LG_ISA_AVX512] = {LG_ISA_GENERIC, GEN_MR, GEN_NR, 256, ukernel_generic, "generic"},
#endif
};

const lg_gemm_kernel *lg_gemm_kernel_for(lg_isa isa) {
  return &kernels[isa < LG_ISA_COUNT ? isa : LG_ISA_GENERIC];
}

size_t lg_gemm_packed_a_floats(const lg_gemm_kernel *kern, int64_t m, int64_t k) {
  int64_t panels = (m + kern->mr - 1) / kern->mr;
  return (size_t)(panels * kern->mr * k);
}

void lg_gemm_pack_a(const lg_gemm_kernel *kern, int64_t m, int64_t k, const float *a,
                    int64_t row_stride, int64_t col_stride, float *packed) {
  int mr = kern->mr;
  for (int64_t q = 0; q * mr < m; q++) {
    float *dst = packed + q * mr * k;
    for (int64_t p = 0; p < k; p++)
      for (int r = 0; r < mr; r++) {
        int64_t i = q * mr + r;
        dst[p * mr + r] = i < m ? a[i * row_stride + p * col_stride] : 0.0f;
      }
  }
}

static void pack_b_dense(const lg_gemm_desc *d, int64_t p0, int64_t kc, int64_t j0, int nr,
                         float *panel) {
  int64_t cols = d->n - j0 < nr ? d->n - j0 : nr;
  const float *src = d->b + p0 * d->ldb + j0;
  if (cols == nr) {
    for (int64_t p = 0; p < kc; p++)
      memcpy(panel + p * nr, src + p * d->ldb, (size_t)nr * sizeof(float));
  } else {
    for (int64_t p = 0; p < kc; p++) {
      memcpy(panel + p * nr, src + p * d->ldb, (size_t)cols * sizeof(float));
      memset(panel + p * nr + cols, 0, (size_t)(nr - cols) * sizeof(float));
    }
  }
}

typedef struct gemm_plan {
  const lg_gemm_desc *d;
  int64_t mc, nc, m_blocks, n_blocks, kc, k_blocks;
} gemm_plan;

static void gemm_task(const gemm_plan *pl, int64_t task) {
  const lg_gemm_desc *d = pl->d;
  const lg_gemm_kernel *kern = d->kern;
  int mr = kern->mr, nr = kern->nr;
  int64_t mb = task % pl->m_blocks, nb = task / pl->m_blocks;
  int64_t i0 = mb * pl->mc, i1 = i0 + pl->mc < d->m ? i0 + pl->mc : d->m;
  int64_t j0 = nb * pl->nc, j1 = j0 + pl->nc < d->n ? j0 + pl->nc : d->n;
  float panel[PANEL_FLOATS] __attribute__((aligned(64)));
  for (int64_t kb = 0; kb < pl->k_blocks; kb++) {
    int64_t p0 = kb * pl->kc, kc = d->k - p0 < pl->kc ? d->k - p0 : pl->kc;
    int flags = 0;
    if (kb > 0 || d->accumulate) flags |= LG_GEMM_ACCUMULATE;
    if (kb == 0 && d->bias) flags |= LG_GEMM_BIAS;
    if (kb == pl->k_blocks - 1) flags |= LG_GEMM_FINAL;
    for (int64_t j = j0; j < j1; j += nr) {
      int cols = j1 - j < nr ? (int)(j1 - j) : nr;
      if (d->pack_b)
        d->pack_b(d->pack_ctx, p0, kc, j, nr, panel);
      else
        pack_b_dense(d, p0, kc, j, nr, panel);
      for (int64_t i = i0; i < i1; i += mr) {
        int rows = i1 - i < mr ? (int)(i1 - i) : mr;
        lg_gemm_epilogue e = {d->bias ? d->bias + i : NULL,
                              d->residual ? d->residual + i * d->ldr + j : NULL, d->ldr, &d->act};
        if (d->a_packed)
          kern->ukernel(kc, d->a_packed + i * d->k + p0 * mr, 0, panel, d->c + i * d->ldc + j,
                        d->ldc, rows, cols, flags, &e);
        else
          kern->ukernel(kc, d->a + i * d->lda + p0, d->lda, panel, d->c + i * d->ldc + j, d->ldc,
                        rows, cols, flags, &e);
      }
    }
  }
}

static void gemm_tasks(void *ctx, int64_t begin, int64_t end) {
  for (int64_t t = begin; t < end; t++) gemm_task(ctx, t);
}

static int64_t round_up(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

void lg_gemm(const lg_gemm_desc *d, lg_threadpool *pool) {
  if (d->m <= 0 || d->n <= 0) return;
  const lg_gemm_kernel *kern = d->kern;
  int mr = kern->mr, nr = kern->nr;
  gemm_plan pl = {.d = d};
  if (d->k <= 0) {
    /* An empty sum: C gets the epilogue alone. */
    for (int64_t i = 0; i < d->m; i++)
      for (int64_t j = 0; j < d->n; j++) {
        float *c = d->c + i * d->ldc + j;
        float v = (d->accumulate ? *c : 0.0f) + (d->bias ? d->bias[i] : 0.0f);
        if (d->residual) v += d->residual[i * d->ldr + j];
        *c = act_fast(&d->act, v);
      }
    return;
  }
  int64_t k = d->k;
  pl.k_blocks = (k + kern->kc - 1) / kern->kc;
  pl.kc = (k + pl.k_blocks - 1) / pl.k_blocks;
  pl.mc = round_up(d->m < MC_MAX ? d->m : MC_MAX, mr);
  pl.nc = round_up(d->n < 8 * nr ? d->n : 8 * nr, nr);
  int threads = lg_threadpool_size(pool);
  if (d->m * d->n * d->k < 65536) threads = 1;
  for (;;) {
    pl.m_blocks = (d->m + pl.mc - 1) / pl.mc;
    pl.n_blocks = (d->n + pl.nc - 1) / pl.nc;
    if (threads <= 1 || pl.m_blocks * pl.n_blocks >= 4 * threads) break;
    if (pl.nc > 2 * nr)
      pl.nc = round_up(pl.nc / 2, nr);
    else if (pl.mc > 4 * mr)
      pl.mc = round_up(pl.mc / 2, mr);
    else if (pl.nc > nr)
      pl.nc = nr;
    else if (pl.mc > mr)
      pl.mc = round_up(pl.mc / 2, mr);
    else
      break;
  }
  lg_parallel_for(threads > 1 ? pool : NULL, pl.m_blocks * pl.n_blocks, gemm_tasks, &pl);
}
