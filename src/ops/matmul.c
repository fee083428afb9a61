/*
 * matmul.c: MatMul and Gemm, and the blocked single-precision matrix
 * multiply (lg_sgemm) that Conv and ConvTranspose reuse.
 *
 * The multiply is plain C written so that the compiler vectorizes its inner
 * block: a tile of C (4x8 portably, 6x16 with AVX2/FMA, chosen at run time)
 * lives in local accumulators while k runs over a chunk of A's columns and
 * B's rows; B's rows must be contiguous, A may have any strides (it is read
 * one scalar at a time and broadcast).
 */
#include <string.h>

#include "ops/nn_common.h"

enum {
  MAX_TILE_ROWS = 8,  /* the largest micro tile any ISA variant uses */
  MAX_TILE_COLS = 16,
  K_CHUNK = 256,   /* rows of B kept hot in cache while a panel of C is updated */
  TASK_ROWS = 48,  /* a parallel task: this many rows of C (a multiple of every tile height) */
  TASK_COLS = 256, /* ... by this many columns */
};

/* A micro kernel: C[0..R, 0..C] += alpha * A[0..R, 0..kc] * B[0..kc, 0..C]. */
typedef void (*micro_tile_fn)(int64_t kc, const float *a, int64_t ars, int64_t acs,
                              const float *b, int64_t ldb, float *c, int64_t ldc, float alpha);

/* Defines a micro kernel for a ROWS x COLS tile. The body is plain C with
 * constant trip counts, so the compiler unrolls it and keeps the tile in
 * vector registers; ATTR selects the instruction set it may use. */
#define DEFINE_MICRO_TILE(NAME, ROWS, COLS, ATTR)                                                  \
  ATTR static void NAME(int64_t kc, const float *a, int64_t ars, int64_t acs, const float *b,     \
                        int64_t ldb, float *c, int64_t ldc, float alpha) {                         \
    float acc[ROWS][COLS] = {{0}};                                                                 \
    for (int64_t p = 0; p < kc; p++) {                                                             \
      const float *brow = b + p * ldb;                                                             \
      for (int i = 0; i < ROWS; i++) {                                                             \
        float av = a[i * ars + p * acs];                                                           \
        for (int j = 0; j < COLS; j++) acc[i][j] += av * brow[j];                                  \
      }                                                                                            \
    }                                                                                              \
    for (int i = 0; i < ROWS; i++)                                                                 \
      for (int j = 0; j < COLS; j++) c[i * ldc + j] += alpha * acc[i][j];                          \
  }

/* Portable: 4x8 fits the 16 SSE (or NEON) registers with room for B. */
DEFINE_MICRO_TILE(micro_tile_4x8, 4, 8, )

#if defined(__GNUC__) && defined(__x86_64__)
#define HAVE_X86_DISPATCH 1
/* AVX2 + FMA: a 6x16 tile in 12 of the 16 ymm registers. Written with GCC
 * vector types, since plain loops of this size get spilled to memory. */
typedef float vec8 __attribute__((vector_size(32)));

__attribute__((target("avx2,fma"))) static inline vec8 load8(const float *p) {
  vec8 v;
  memcpy(&v, p, sizeof v);
  return v;
}

#if defined(__clang__)
#define LG_FP_CONTRACT /* clang contracts a*b+c into FMA under target("fma") by default */
#else
#define LG_FP_CONTRACT , optimize("fp-contract=fast")
#endif
__attribute__((target("avx2,fma") LG_FP_CONTRACT)) static void micro_tile_6x16_avx2(
    int64_t kc, const float *a, int64_t ars, int64_t acs, const float *b, int64_t ldb, float *c,
    int64_t ldc, float alpha) {
  vec8 acc[6][2];
  for (int i = 0; i < 6; i++) acc[i][0] = acc[i][1] = (vec8){0};
  for (int64_t p = 0; p < kc; p++) {
    vec8 b0 = load8(b + p * ldb), b1 = load8(b + p * ldb + 8);
    for (int i = 0; i < 6; i++) {
      float av = a[i * ars + p * acs];
      vec8 va = {av, av, av, av, av, av, av, av};
      acc[i][0] += va * b0;
      acc[i][1] += va * b1;
    }
  }
  vec8 valpha = {alpha, alpha, alpha, alpha, alpha, alpha, alpha, alpha};
  for (int i = 0; i < 6; i++)
    for (int h = 0; h < 2; h++) {
      vec8 out = load8(c + i * ldc + h * 8) + valpha * acc[i][h];
      memcpy(c + i * ldc + h * 8, &out, sizeof out);
    }
}
#endif

typedef struct micro_kernel {
  micro_tile_fn full;
  int rows, cols;
} micro_kernel;

static micro_kernel select_kernel(void) {
#ifdef HAVE_X86_DISPATCH
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return (micro_kernel){micro_tile_6x16_avx2, 6, 16};
#endif
  return (micro_kernel){micro_tile_4x8, 4, 8};
}

/* The same for a partial tile at the bottom or right edge. */
static void micro_tile_edge(int rows, int cols, int64_t kc, const float *a, int64_t ars,
                            int64_t acs, const float *b, int64_t ldb, float *c, int64_t ldc,
                            float alpha) {
  float acc[MAX_TILE_ROWS][MAX_TILE_COLS] = {{0}};
  for (int64_t p = 0; p < kc; p++) {
    const float *brow = b + p * ldb;
    for (int i = 0; i < rows; i++) {
      float av = a[i * ars + p * acs];
      for (int j = 0; j < cols; j++) acc[i][j] += av * brow[j];
    }
  }
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++) c[i * ldc + j] += alpha * acc[i][j];
}

typedef struct sgemm_job {
  const lg_sgemm_args *g;
  micro_kernel kernel;
} sgemm_job;

/* Computes the block of C at rows [i0, i1) and columns [j0, j1). */
static void sgemm_block(const sgemm_job *job, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  const lg_sgemm_args *g = job->g;
  int tile_rows = job->kernel.rows, tile_cols = job->kernel.cols;
  for (int64_t p0 = 0; p0 < g->k; p0 += K_CHUNK) {
    int64_t kc = g->k - p0 < K_CHUNK ? g->k - p0 : K_CHUNK;
    const float *bp = g->b + p0 * g->ldb;
    for (int64_t j = j0; j < j1; j += tile_cols) {
      int cols = j1 - j < tile_cols ? (int)(j1 - j) : tile_cols;
      for (int64_t i = i0; i < i1; i += tile_rows) {
        int rows = i1 - i < tile_rows ? (int)(i1 - i) : tile_rows;
        const float *ap = g->a + i * g->a_row_stride + p0 * g->a_col_stride;
        float *cp = g->c + i * g->ldc + j;
        if (rows == tile_rows && cols == tile_cols)
          job->kernel.full(kc, ap, g->a_row_stride, g->a_col_stride, bp + j, g->ldb, cp, g->ldc,
                           g->alpha);
        else
          micro_tile_edge(rows, cols, kc, ap, g->a_row_stride, g->a_col_stride, bp + j, g->ldb,
                          cp, g->ldc, g->alpha);
      }
    }
  }
}

static void sgemm_tasks(void *ctx, int64_t begin, int64_t end) {
  const sgemm_job *job = ctx;
  const lg_sgemm_args *g = job->g;
  int64_t col_tasks = (g->n + TASK_COLS - 1) / TASK_COLS;
  for (int64_t t = begin; t < end; t++) {
    int64_t i0 = (t / col_tasks) * TASK_ROWS, j0 = (t % col_tasks) * TASK_COLS;
    int64_t i1 = i0 + TASK_ROWS < g->m ? i0 + TASK_ROWS : g->m;
    int64_t j1 = j0 + TASK_COLS < g->n ? j0 + TASK_COLS : g->n;
    sgemm_block(job, i0, i1, j0, j1);
  }
}

void lg_sgemm(const lg_sgemm_args *g, lg_threadpool *pool) {
  if (g->m <= 0 || g->n <= 0 || g->k <= 0) return;
  sgemm_job job = {g, select_kernel()};
  int64_t tasks = ((g->m + TASK_ROWS - 1) / TASK_ROWS) * ((g->n + TASK_COLS - 1) / TASK_COLS);
  /* Small products are not worth waking the pool for. */
  if (g->m * g->n * g->k < 32768) pool = NULL;
  lg_parallel_for(pool, tasks, sgemm_tasks, &job);
}

/* ------------------------------------------------------------------------ */
/* MatMul: numpy semantics. 1-D operands gain a dimension that the output
 * then drops; leading (batch) dimensions broadcast. */

typedef struct matmul_shape {
  int64_t m, n, k;
  int batch_rank;                   /* rank of the broadcast batch shape */
  int64_t batch[LEDGE_MAX_RANK];    /* broadcast batch dims */
  int64_t a_batch[LEDGE_MAX_RANK];  /* A's batch dims, right-aligned, 1-padded */
  int64_t b_batch[LEDGE_MAX_RANK];  /* B's batch dims, right-aligned, 1-padded */
  int64_t batch_count;
} matmul_shape;

static lg_status matmul_analyze(const lg_node *node, const lg_tensor *a, const lg_tensor *b,
                                matmul_shape *s, int *out_rank, int64_t *out_dims) {
  if (a->rank < 1 || b->rank < 1)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': operands must have rank >= 1 (got %d and %d)",
                    node->op_type, node->name, a->rank, b->rank);
  memset(s, 0, sizeof *s);
  int64_t ka = a->dims[a->rank - 1];
  s->m = a->rank >= 2 ? a->dims[a->rank - 2] : 1;
  int64_t kb = b->rank >= 2 ? b->dims[b->rank - 2] : b->dims[0];
  s->n = b->rank >= 2 ? b->dims[b->rank - 1] : 1;
  if (ka != kb)
    return lg_error(LEDGE_ERR_SHAPE,
                    "%s node '%s': inner dimensions differ (A has %lld columns, B %lld rows)",
                    node->op_type, node->name, (long long)ka, (long long)kb);
  s->k = ka;
  if (s->k < 0 || s->m < 0 || s->n < 0)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': negative dimension", node->op_type, node->name);
  int a_batch_rank = a->rank > 2 ? a->rank - 2 : 0, b_batch_rank = b->rank > 2 ? b->rank - 2 : 0;
  LG_TRY(lg_broadcast_shape(a_batch_rank, a->dims, b_batch_rank, b->dims, &s->batch_rank,
                            s->batch));
  for (int i = 0; i < s->batch_rank; i++) {
    int ia = i - (s->batch_rank - a_batch_rank), ib = i - (s->batch_rank - b_batch_rank);
    s->a_batch[i] = ia >= 0 ? a->dims[ia] : 1;
    s->b_batch[i] = ib >= 0 ? b->dims[ib] : 1;
  }
  s->batch_count = lg_shape_count(s->batch_rank, s->batch);
  int rank = 0;
  for (int i = 0; i < s->batch_rank; i++) out_dims[rank++] = s->batch[i];
  if (a->rank >= 2) out_dims[rank++] = s->m;
  if (b->rank >= 2) out_dims[rank++] = s->n;
  *out_rank = rank;
  if (s->batch_count < 0 || lg_shape_count(rank, out_dims) < 0)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': output shape overflows", node->op_type,
                    node->name);
  return LEDGE_OK;
}

static lg_status matmul_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 2, 2));
  LG_TRY(lg_check_float(node, in[0], 0));
  LG_TRY(lg_check_float(node, in[1], 1));
  matmul_shape s;
  int rank = 0;
  int64_t dims[LEDGE_MAX_RANK];
  LG_TRY(matmul_analyze(node, in[0], in[1], &s, &rank, dims));
  out[0]->dtype = LEDGE_FLOAT32;
  lg_tensor_set_shape(out[0], rank, dims);
  node->macs = s.batch_count * s.m * s.n * s.k;
  return LEDGE_OK;
}

static lg_status matmul_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                            const lg_exec *exec) {
  matmul_shape s;
  int rank = 0;
  int64_t dims[LEDGE_MAX_RANK];
  LG_TRY(matmul_analyze(node, in[0], in[1], &s, &rank, dims));
  const float *a = in[0]->data, *b = in[1]->data;
  float *y = out[0]->data;
  memset(y, 0, (size_t)(s.batch_count * s.m * s.n) * sizeof(float));
  for (int64_t bi = 0; bi < s.batch_count; bi++) {
    /* Decompose the batch index and map it to A's and B's (broadcast) batches. */
    int64_t rem = bi, a_index = 0, b_index = 0, a_scale = 1, b_scale = 1;
    for (int d = s.batch_rank - 1; d >= 0; d--) {
      int64_t coord = rem % s.batch[d];
      rem /= s.batch[d];
      a_index += (s.a_batch[d] == 1 ? 0 : coord) * a_scale;
      b_index += (s.b_batch[d] == 1 ? 0 : coord) * b_scale;
      a_scale *= s.a_batch[d];
      b_scale *= s.b_batch[d];
    }
    lg_sgemm_args g = {.m = s.m, .n = s.n, .k = s.k,
                       .a = a + a_index * s.m * s.k, .a_row_stride = s.k, .a_col_stride = 1,
                       .b = b + b_index * s.k * s.n, .ldb = s.n,
                       .c = y + bi * s.m * s.n, .ldc = s.n, .alpha = 1.0f};
    lg_sgemm(&g, exec->pool);
  }
  lg_act_apply(&node->act, y, s.batch_count * s.m * s.n);
  return LEDGE_OK;
}

/* ------------------------------------------------------------------------ */
/* Gemm: Y = alpha * op(A) * op(B) + beta * C, C unidirectionally broadcast. */

typedef struct gemm_shape {
  int64_t m, n, k;
  bool trans_a, trans_b;
} gemm_shape;

static lg_status gemm_analyze(const lg_node *node, lg_tensor *const *in, gemm_shape *s) {
  const lg_tensor *a = in[0], *b = in[1], *c = node->n_in > 2 ? in[2] : NULL;
  if (a->rank != 2 || b->rank != 2)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': A and B must be 2-D (got rank %d and %d)",
                    node->op_type, node->name, a->rank, b->rank);
  s->trans_a = lg_attr_int(node, "transA", 0) != 0;
  s->trans_b = lg_attr_int(node, "transB", 0) != 0;
  s->m = s->trans_a ? a->dims[1] : a->dims[0];
  s->k = s->trans_a ? a->dims[0] : a->dims[1];
  int64_t kb = s->trans_b ? b->dims[1] : b->dims[0];
  s->n = s->trans_b ? b->dims[0] : b->dims[1];
  if (kb != s->k)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': inner dimensions differ (%lld vs %lld)",
                    node->op_type, node->name, (long long)s->k, (long long)kb);
  if (c) {
    if (c->rank > 2)
      return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': C must have rank <= 2 (got %d)",
                      node->op_type, node->name, c->rank);
    int64_t cm = c->rank == 2 ? c->dims[0] : 1, cn = c->rank >= 1 ? c->dims[c->rank - 1] : 1;
    if ((cm != 1 && cm != s->m) || (cn != 1 && cn != s->n))
      return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': C does not broadcast to [%lld,%lld]",
                      node->op_type, node->name, (long long)s->m, (long long)s->n);
  }
  return LEDGE_OK;
}

static lg_status gemm_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 2, 3));
  LG_TRY(lg_check_float(node, in[0], 0));
  LG_TRY(lg_check_float(node, in[1], 1));
  if (node->n_in > 2 && in[2]) LG_TRY(lg_check_float(node, in[2], 2));
  gemm_shape s;
  LG_TRY(gemm_analyze(node, in, &s));
  int64_t dims[2] = {s.m, s.n};
  out[0]->dtype = LEDGE_FLOAT32;
  lg_tensor_set_shape(out[0], 2, dims);
  if (lg_shape_count(2, dims) < 0 || lg_shape_count(2, in[1]->dims) < 0)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': invalid dimensions", node->op_type,
                    node->name);
  /* With B transposed, rows of op(B) are strided: the kernel either takes
   * dot products (few rows of A) or repacks B into the workspace. */
  node->workspace = s.trans_b && s.m > 4 ? (size_t)(s.k * s.n) * sizeof(float) : 0;
  node->macs = s.m * s.n * s.k;
  return LEDGE_OK;
}

typedef struct gemm_dot_ctx {
  const gemm_shape *s;
  const float *a, *bt;
  float *y;
  float alpha;
} gemm_dot_ctx;

/* Y[i, j] += alpha * dot(op(A) row i, B row j), for B stored transposed [N, K]. */
static void gemm_dot_columns(void *ctx, int64_t begin, int64_t end) {
  const gemm_dot_ctx *d = ctx;
  const gemm_shape *s = d->s;
  int64_t a_rs = s->trans_a ? 1 : s->k, a_cs = s->trans_a ? s->m : 1;
  for (int64_t j = begin; j < end; j++) {
    const float *brow = d->bt + j * s->k;
    for (int64_t i = 0; i < s->m; i++) {
      const float *arow = d->a + i * a_rs;
      /* Eight partial sums let the compiler vectorize the reduction. */
      float part[8] = {0};
      int64_t p = 0;
      if (a_cs == 1)
        for (; p + 8 <= s->k; p += 8)
          for (int u = 0; u < 8; u++) part[u] += arow[p + u] * brow[p + u];
      float sum = 0;
      for (; p < s->k; p++) sum += arow[p * a_cs] * brow[p];
      for (int u = 0; u < 8; u++) sum += part[u];
      d->y[i * s->n + j] += d->alpha * sum;
    }
  }
}

static lg_status gemm_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                          const lg_exec *exec) {
  gemm_shape s;
  LG_TRY(gemm_analyze(node, in, &s));
  float alpha = lg_attr_float(node, "alpha", 1.0f), beta = lg_attr_float(node, "beta", 1.0f);
  const float *a = in[0]->data, *b = in[1]->data;
  const lg_tensor *c = node->n_in > 2 ? in[2] : NULL;
  float *y = out[0]->data;

  /* Y starts as beta * C (broadcast), or zero. */
  if (c && beta != 0.0f) {
    const float *cd = c->data;
    int64_t cm = c->rank == 2 ? c->dims[0] : 1, cn = c->rank >= 1 ? c->dims[c->rank - 1] : 1;
    for (int64_t i = 0; i < s.m; i++)
      for (int64_t j = 0; j < s.n; j++)
        y[i * s.n + j] = beta * cd[(cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j)];
  } else {
    memset(y, 0, (size_t)(s.m * s.n) * sizeof(float));
  }

  if (s.trans_b && s.m <= 4) {
    gemm_dot_ctx d = {&s, a, b, y, alpha};
    lg_threadpool *pool = s.m * s.n * s.k < 32768 ? NULL : exec->pool;
    lg_parallel_for(pool, s.n, gemm_dot_columns, &d);
  } else {
    const float *bp = b;
    if (s.trans_b) {
      /* Repack B [N, K] into [K, N] so that the kernel reads its rows contiguously. */
      float *packed = exec->workspace;
      for (int64_t j = 0; j < s.n; j++)
        for (int64_t p = 0; p < s.k; p++) packed[p * s.n + j] = b[j * s.k + p];
      bp = packed;
    }
    lg_sgemm_args g = {.m = s.m, .n = s.n, .k = s.k, .a = a,
                       .a_row_stride = s.trans_a ? 1 : s.k, .a_col_stride = s.trans_a ? s.m : 1,
                       .b = bp, .ldb = s.n, .c = y, .ldc = s.n, .alpha = alpha};
    lg_sgemm(&g, exec->pool);
  }
  lg_act_apply(&node->act, y, s.m * s.n);
  return LEDGE_OK;
}

const lg_op_def lg_ops_matmul[] = {
    {"MatMul", "", matmul_infer, matmul_run, false, false},
    {"Gemm", "", gemm_infer, gemm_run, false, false},
    {0},
};
