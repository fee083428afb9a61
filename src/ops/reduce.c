/*
 * reduce.c: reductions (ReduceSum, ReduceMean, ReduceMax, ... over a set of
 * axes), ArgMax / ArgMin, TopK and CumSum.
 *
 * Reductions collapse the input shape into alternating groups of kept and
 * reduced dimensions (adjacent dimensions of the same kind merge, size-1
 * dimensions vanish), so that the usual cases (reducing trailing or leading
 * axes) become one long strided line per output element. Accumulation is in
 * double for every dtype; outputs are computed in parallel.
 */
#include <math.h>
#include <string.h>

#include "ops/op.h"

#define RED_PARALLEL_MIN 32768 /* below this many input elements, run serially */

/* ---- dtype helpers ---- */

/* Converts to int64 without undefined behaviour: truncates toward zero,
 * saturates, NaN gives 0. */
static int64_t double_to_int64(double v) {
  if (v != v) return 0;
  if (v >= 9223372036854775807.0) return INT64_MAX;
  if (v <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)v;
}

static void store_double(ledge_dtype dt, void *p, int64_t i, double v) {
  switch (dt) {
    case LEDGE_FLOAT32: ((float *)p)[i] = (float)v; break;
    case LEDGE_FLOAT64: ((double *)p)[i] = v; break;
    case LEDGE_FLOAT16: ((uint16_t *)p)[i] = lg_float_to_half((float)v); break;
    case LEDGE_INT8: ((int8_t *)p)[i] = (int8_t)double_to_int64(v); break;
    case LEDGE_INT16: ((int16_t *)p)[i] = (int16_t)double_to_int64(v); break;
    case LEDGE_INT32: ((int32_t *)p)[i] = (int32_t)double_to_int64(v); break;
    case LEDGE_INT64: ((int64_t *)p)[i] = double_to_int64(v); break;
    case LEDGE_UINT8: ((uint8_t *)p)[i] = (uint8_t)double_to_int64(v); break;
    case LEDGE_UINT16: ((uint16_t *)p)[i] = (uint16_t)double_to_int64(v); break;
    case LEDGE_UINT32: ((uint32_t *)p)[i] = (uint32_t)double_to_int64(v); break;
    case LEDGE_UINT64:
      ((uint64_t *)p)[i] = v >= 18446744073709551615.0 ? UINT64_MAX : v > 0 ? (uint64_t)v : 0;
      break;
    default: break;
  }
}

/* Stores an integer truncated to the dtype's width (two's complement wrap). */
static void store_wrapped(ledge_dtype dt, void *p, int64_t i, uint64_t v) {
  switch (dt) {
    case LEDGE_INT8:
    case LEDGE_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case LEDGE_INT16:
    case LEDGE_UINT16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case LEDGE_INT32:
    case LEDGE_UINT32: ((uint32_t *)p)[i] = (uint32_t)v; break;
    case LEDGE_INT64:
    case LEDGE_UINT64: ((uint64_t *)p)[i] = v; break;
    default: break;
  }
}

static lg_status check_input(const lg_node *node, const lg_tensor *x) {
  if (!x)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': input 0 is missing", node->op_type,
                    node->name);
  if (x->rank < 0 || x->rank > LEDGE_MAX_RANK || lg_tensor_count(x) < 0)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': input has an invalid shape", node->op_type,
                    node->name);
  if (!lg_dtype_is_numeric(x->dtype))
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': dtype %s is not supported", node->op_type,
                    node->name, ledge_dtype_name(x->dtype));
  return LEDGE_OK;
}

/* ---- Reduce* ---- */

typedef enum reduce_kind {
  RED_SUM,
  RED_MEAN,
  RED_MAX,
  RED_MIN,
  RED_PROD,
  RED_L1,
  RED_L2,
  RED_LOG_SUM,
  RED_LOG_SUM_EXP,
  RED_SUM_SQUARE
} reduce_kind;

static const struct {
  const char *name;
  reduce_kind kind;
} reduce_ops[] = {
    {"ReduceSum", RED_SUM},
    {"ReduceMean", RED_MEAN},
    {"ReduceMax", RED_MAX},
    {"ReduceMin", RED_MIN},
    {"ReduceProd", RED_PROD},
    {"ReduceL1", RED_L1},
    {"ReduceL2", RED_L2},
    {"ReduceLogSum", RED_LOG_SUM},
    {"ReduceLogSumExp", RED_LOG_SUM_EXP},
    {"ReduceSumSquare", RED_SUM_SQUARE},
};

static bool find_reduce_kind(const char *name, reduce_kind *kind) {
  for (size_t i = 0; i < sizeof reduce_ops / sizeof reduce_ops[0]; i++)
    if (!strcmp(reduce_ops[i].name, name)) {
      *kind = reduce_ops[i].kind;
      return true;
    }
  return false;
}

/* Which axes the node reduces. The axes come from the second input when it
 * is present (ReduceSum from opset 13, all reductions from opset 18), else
 * from the "axes" attribute. No axes means all of them, unless
 * noop_with_empty_axes is set, which makes the node an identity. */
static lg_status reduce_axes(const lg_node *node, lg_tensor *const *in, bool *reduced) {
  int rank = in[0]->rank;
  for (int d = 0; d < LEDGE_MAX_RANK; d++) reduced[d] = false;
  int64_t n_axes = 0;
  const lg_tensor *axes_in = node->n_in > 1 ? in[1] : NULL;
  const int64_t *axes_attr = NULL;
  if (axes_in) {
    LG_TRY(lg_require_const(node, axes_in, 1));
    if (axes_in->dtype != LEDGE_INT64 && axes_in->dtype != LEDGE_INT32)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': axes must be int64, not %s",
                      node->op_type, node->name, ledge_dtype_name(axes_in->dtype));
    n_axes = lg_tensor_count(axes_in);
  } else {
    n_axes = lg_attr_ints(node, "axes", &axes_attr);
    if (n_axes < 0) n_axes = 0;
  }
  if (n_axes == 0) {
    if (!lg_attr_int(node, "noop_with_empty_axes", 0))
      for (int d = 0; d < rank; d++) reduced[d] = true;
    return LEDGE_OK;
  }
  if (n_axes > rank)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': %lld axes for rank %d",
                    node->op_type, node->name, (long long)n_axes, rank);
  for (int64_t i = 0; i < n_axes; i++) {
    int64_t a = axes_in ? lg_tensor_get_int(axes_in, i) : axes_attr[i];
    int axis;
    if (!lg_normalize_axis(a, rank, &axis))
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': axis %lld is out of range",
                      node->op_type, node->name, (long long)a);
    if (reduced[axis])
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': axis %lld is repeated",
                      node->op_type, node->name, (long long)a);
    reduced[axis] = true;
  }
  return LEDGE_OK;
}

static lg_status reduce_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  reduce_kind kind;
  if (!find_reduce_kind(node->op_type, &kind))
    return lg_error(LEDGE_ERR_INTERNAL, "reduce: unknown op %s", node->op_type);
  LG_TRY(lg_check_io(node, out, 1, 2));
  LG_TRY(check_input(node, in[0]));
  bool reduced[LEDGE_MAX_RANK];
  LG_TRY(reduce_axes(node, in, reduced));
  bool keepdims = lg_attr_int(node, "keepdims", 1) != 0;
  int rank = 0;
  int64_t dims[LEDGE_MAX_RANK];
  for (int d = 0; d < in[0]->rank; d++) {
    if (!reduced[d])
      dims[rank++] = in[0]->dims[d];
    else if (keepdims)
      dims[rank++] = 1;
  }
  if (out[0]) {
    out[0]->dtype = in[0]->dtype;
    lg_tensor_set_shape(out[0], rank, dims);
  }
  return LEDGE_OK;
}

/* The input shape, collapsed into groups of kept and reduced dimensions. */
typedef struct reduce_plan {
  int n_keep, n_red;
  int64_t keep_dims[LEDGE_MAX_RANK], keep_stride[LEDGE_MAX_RANK];
  int64_t red_dims[LEDGE_MAX_RANK], red_stride[LEDGE_MAX_RANK];
  int64_t red_count; /* elements folded into each output */
} reduce_plan;

static void reduce_plan_init(reduce_plan *p, int rank, const int64_t *dims, const bool *reduced) {
  int64_t stride[LEDGE_MAX_RANK], s = 1;
  for (int d = rank - 1; d >= 0; d--) {
    stride[d] = s;
    s *= dims[d];
  }
  p->n_keep = p->n_red = 0;
  p->red_count = 1;
  int last_kind = -1; /* 0 keep, 1 reduce: the kind of the group added last */
  for (int d = 0; d < rank; d++) {
    if (reduced[d]) p->red_count *= dims[d];
    if (dims[d] == 1) continue;
    int64_t *gd = reduced[d] ? p->red_dims : p->keep_dims;
    int64_t *gs = reduced[d] ? p->red_stride : p->keep_stride;
    int *n = reduced[d] ? &p->n_red : &p->n_keep;
    if (last_kind == (int)reduced[d] && gs[*n - 1] == stride[d] * dims[d]) {
      gd[*n - 1] *= dims[d];
      gs[*n - 1] = stride[d];
    } else {
      gd[*n] = dims[d];
      gs[*n] = stride[d];
      (*n)++;
    }
    last_kind = reduced[d];
  }
}

/* A running accumulator. LogSumExp keeps the running maximum in m and the
 * sum of exp(x - m) in v, so that it never overflows. */
typedef struct accum {
  double v, m;
} accum;

static void accum_init(accum *a, reduce_kind kind) {
  a->m = -INFINITY;
  switch (kind) {
    case RED_MAX: a->v = -INFINITY; break;
    case RED_MIN: a->v = INFINITY; break;
    case RED_PROD: a->v = 1; break;
    default: a->v = 0; break;
  }
}

static inline void accum_add(accum *a, reduce_kind kind, double x) {
  switch (kind) {
    case RED_SUM:
    case RED_MEAN:
    case RED_LOG_SUM: a->v += x; break;
    case RED_MAX:
      if (x > a->v || x != x) a->v = x;
      break;
    case RED_MIN:
      if (x < a->v || x != x) a->v = x;
      break;
    case RED_PROD: a->v *= x; break;
    case RED_L1: a->v += fabs(x); break;
    case RED_L2:
    case RED_SUM_SQUARE: a->v += x * x; break;
    case RED_LOG_SUM_EXP:
      if (x > a->m) {
        a->v = a->v * exp(a->m - x) + 1;
        a->m = x;
      } else {
        a->v += exp(x - a->m);
      }
      break;
  }
}

static double accum_result(const accum *a, reduce_kind kind, int64_t count) {
  switch (kind) {
    case RED_MEAN: return a->v / (double)count;
    case RED_L2: return sqrt(a->v);
    case RED_LOG_SUM: return log(a->v);
    case RED_LOG_SUM_EXP: return a->m == -INFINITY ? -INFINITY : log(a->v) + a->m;
    default: return a->v;
  }
}

/* Folds n elements starting at element offset, stride apart. */
static void accum_line(accum *a, reduce_kind kind, const lg_tensor *x, int64_t offset, int64_t n,
                       int64_t stride) {
  if (x->dtype == LEDGE_FLOAT32) {
    const float *p = (const float *)x->data + offset;
    if (kind == RED_SUM || kind == RED_MEAN) { /* the common case, without the switch */
      double s = 0;
      for (int64_t i = 0; i < n; i++) s += p[i * stride];
      a->v += s;
      return;
    }
    for (int64_t i = 0; i < n; i++) accum_add(a, kind, p[i * stride]);
  } else {
    for (int64_t i = 0; i < n; i++)
      accum_add(a, kind, lg_tensor_get_double(x, offset + i * stride));
  }
}

typedef struct reduce_task {
  const reduce_plan *plan;
  reduce_kind kind;
  const lg_tensor *x;
  lg_tensor *y;
} reduce_task;

static void reduce_range(void *ctx, int64_t begin, int64_t end) {
  const reduce_task *t = ctx;
  const reduce_plan *p = t->plan;
  for (int64_t o = begin; o < end; o++) {
    int64_t base = 0, rem = o;
    for (int g = p->n_keep - 1; g >= 0; g--) {
      base += (rem % p->keep_dims[g]) * p->keep_stride[g];
      rem /= p->keep_dims[g];
    }
    accum a;
    accum_init(&a, t->kind);
    if (p->n_red == 0) {
      if (p->red_count > 0) accum_line(&a, t->kind, t->x, base, 1, 1);
    } else {
      /* Odometer over all reduced groups but the innermost, which is a line. */
      int inner = p->n_red - 1;
      int64_t idx[LEDGE_MAX_RANK] = {0}, off = base;
      for (;;) {
        accum_line(&a, t->kind, t->x, off, p->red_dims[inner], p->red_stride[inner]);
        int g = inner - 1;
        for (; g >= 0; g--) {
          idx[g]++;
          off += p->red_stride[g];
          if (idx[g] < p->red_dims[g]) break;
          off -= idx[g] * p->red_stride[g];
          idx[g] = 0;
        }
        if (g < 0) break;
      }
    }
    store_double(t->y->dtype, t->y->data, o, accum_result(&a, t->kind, p->red_count));
  }
}

static lg_status reduce_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                            const lg_exec *exec) {
  if (!out[0]) return LEDGE_OK;
  reduce_kind kind;
  if (!find_reduce_kind(node->op_type, &kind))
    return lg_error(LEDGE_ERR_INTERNAL, "reduce: unknown op %s", node->op_type);
  bool reduced[LEDGE_MAX_RANK];
  LG_TRY(reduce_axes(node, in, reduced));
  reduce_plan plan;
  reduce_plan_init(&plan, in[0]->rank, in[0]->dims, reduced);
  reduce_task t = {.plan = &plan, .kind = kind, .x = in[0], .y = out[0]};
  int64_t n_out = lg_tensor_count(out[0]);
  bool any_reduced = false;
  for (int d = 0; d < in[0]->rank; d++) any_reduced |= reduced[d];
  if (!any_reduced && in[0]->rank > 0) { /* noop_with_empty_axes: the output is the input */
    memcpy(out[0]->data, in[0]->data, lg_tensor_bytes(in[0]));
    return LEDGE_OK;
  }
  if (plan.red_count == 0) { /* an empty reduction: every output is the initial value */
    accum a;
    accum_init(&a, kind);
    for (int64_t o = 0; o < n_out; o++)
      store_double(out[0]->dtype, out[0]->data, o, accum_result(&a, kind, 0));
    return LEDGE_OK;
  }
  lg_threadpool *pool = exec && lg_tensor_count(in[0]) >= RED_PARALLEL_MIN ? exec->pool : NULL;
  lg_parallel_for(pool, n_out, reduce_range, &t);
  return LEDGE_OK;
}

/* ---- Shared: [outer, n, inner] views along one axis ---- */

typedef struct axis_view {
  int64_t outer, n, inner;
} axis_view;

static axis_view view_along(const lg_tensor *x, int axis) {
  axis_view v = {1, x->rank ? x->dims[axis] : 1, 1};
  for (int d = 0; d < axis; d++) v.outer *= x->dims[d];
  for (int d = axis + 1; d < x->rank; d++) v.inner *= x->dims[d];
  return v;
}

/* ---- ArgMax / ArgMin ---- */

static lg_status arg_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 1, 1));
  LG_TRY(check_input(node, in[0]));
  int rank = in[0]->rank, axis;
  int64_t a = lg_attr_int(node, "axis", 0);
  if (!lg_normalize_axis(a, rank, &axis))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': axis %lld is out of range",
                    node->op_type, node->name, (long long)a);
  if (in[0]->dims[axis] == 0)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': the reduced axis is empty", node->op_type,
                    node->name);
  bool keepdims = lg_attr_int(node, "keepdims", 1) != 0;
  int64_t dims[LEDGE_MAX_RANK];
  int r = 0;
  for (int d = 0; d < rank; d++) {
    if (d != axis)
      dims[r++] = in[0]->dims[d];
    else if (keepdims)
      dims[r++] = 1;
  }
  if (out[0]) {
    out[0]->dtype = LEDGE_INT64;
    lg_tensor_set_shape(out[0], r, dims);
  }
  return LEDGE_OK;
}

typedef struct arg_task {
  const lg_tensor *x;
  int64_t *y;
  axis_view v;
  bool is_max, last;
} arg_task;

static void arg_range(void *ctx, int64_t begin, int64_t end) {
  const arg_task *t = ctx;
  for (int64_t o = begin; o < end; o++) {
    int64_t outer = o / t->v.inner, inner = o % t->v.inner;
    int64_t base = outer * t->v.n * t->v.inner + inner, best_i = 0;
    double best = lg_tensor_get_double(t->x, base);
    for (int64_t i = 1; i < t->v.n; i++) {
      double x = lg_tensor_get_double(t->x, base + i * t->v.inner);
      bool better = t->is_max ? (t->last ? x >= best : x > best) : (t->last ? x <= best : x < best);
      if (better) {
        best = x;
        best_i = i;
      }
    }
    t->y[o] = best_i;
  }
}

static lg_status arg_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                         const lg_exec *exec) {
  if (!out[0]) return LEDGE_OK;
  int axis;
  if (!lg_normalize_axis(lg_attr_int(node, "axis", 0), in[0]->rank, &axis))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': axis is out of range", node->op_type,
                    node->name);
  arg_task t = {.x = in[0],
                .y = out[0]->data,
                .v = view_along(in[0], axis),
                .is_max = !strcmp(node->op_type, "ArgMax"),
                .last = lg_attr_int(node, "select_last_index", 0) != 0};
  if (t.v.n <= 0) return LEDGE_OK;
  lg_threadpool *pool = exec && lg_tensor_count(in[0]) >= RED_PARALLEL_MIN ? exec->pool : NULL;
  lg_parallel_for(pool, t.v.outer * t.v.inner, arg_range, &t);
  return LEDGE_OK;
}

/* ---- TopK ---- */

/* k comes from the "k" attribute before opset 10 and from input 1 after. */
static lg_status topk_k(const lg_node *node, lg_tensor *const *in, int64_t *k) {
  if (node->opset < 10) {
    if (!lg_attr_find(node, "k"))
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': attribute k is missing",
                      node->op_type, node->name);
    *k = lg_attr_int(node, "k", 0);
    return LEDGE_OK;
  }
  const lg_tensor *kt = node->n_in > 1 ? in[1] : NULL;
  LG_TRY(lg_require_const(node, kt, 1));
  if (lg_tensor_count(kt) != 1 || (kt->dtype != LEDGE_INT64 && kt->dtype != LEDGE_INT32))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': K must be one int64", node->op_type,
                    node->name);
  *k = lg_tensor_get_int(kt, 0);
  return LEDGE_OK;
}

static lg_status topk_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 1, 2));
  LG_TRY(check_input(node, in[0]));
  int rank = in[0]->rank, axis;
  int64_t a = lg_attr_int(node, "axis", -1), k;
  if (!lg_normalize_axis(a, rank, &axis))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': axis %lld is out of range",
                    node->op_type, node->name, (long long)a);
  LG_TRY(topk_k(node, in, &k));
  int64_t n = in[0]->dims[axis];
  if (k < 0 || k > n)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': k = %lld but the axis has %lld",
                    node->op_type, node->name, (long long)k, (long long)n);
  int64_t dims[LEDGE_MAX_RANK];
  memcpy(dims, in[0]->dims, sizeof dims);
  dims[axis] = k;
  if (out[0]) {
    out[0]->dtype = in[0]->dtype;
    lg_tensor_set_shape(out[0], rank, dims);
  }
  if (node->n_out > 1 && out[1]) {
    out[1]->dtype = LEDGE_INT64;
    lg_tensor_set_shape(out[1], rank, dims);
  }
  /* Scratch for the merge sort of one slice: indices and their merge buffer. */
  node->workspace = (size_t)n * 2 * sizeof(int64_t);
  return LEDGE_OK;
}

/* True if element i (value vi) goes before element j (vj): the larger (or
 * smaller) value first, ties broken by the lower index. */
static inline bool topk_before(double vi, int64_t i, double vj, int64_t j, bool largest) {
  if (vi != vj) return largest ? vi > vj : vi < vj;
  return i < j;
}

static inline double topk_value(const lg_tensor *x, int64_t off) {
  if (x->dtype == LEDGE_FLOAT32) return ((const float *)x->data)[off];
  return lg_tensor_get_double(x, off);
}

/* Stable bottom-up merge sort of idx[0..n) by the values of the slice. */
static void topk_sort(const lg_tensor *x, int64_t base, int64_t stride, int64_t *idx, int64_t *tmp,
                      int64_t n, bool largest) {
  for (int64_t width = 1; width < n; width *= 2) {
    for (int64_t lo = 0; lo < n; lo += 2 * width) {
      int64_t mid = lo + width < n ? lo + width : n;
      int64_t hi = lo + 2 * width < n ? lo + 2 * width : n;
      int64_t i = lo, j = mid, o = lo;
      while (i < mid && j < hi) {
        double vi = topk_value(x, base + idx[i] * stride);
        double vj = topk_value(x, base + idx[j] * stride);
        tmp[o++] = topk_before(vj, idx[j], vi, idx[i], largest) ? idx[j++] : idx[i++];
      }
      while (i < mid) tmp[o++] = idx[i++];
      while (j < hi) tmp[o++] = idx[j++];
    }
    memcpy(idx, tmp, (size_t)n * sizeof(int64_t));
  }
}

/* heap[i] goes after heap[j] in the output order (the heap's root is the
 * element that would leave first). */
static inline bool topk_after(const lg_tensor *x, int64_t base, int64_t stride, int64_t i,
                              int64_t j, bool largest) {
  return topk_before(topk_value(x, base + j * stride), j, topk_value(x, base + i * stride), i,
                     largest);
}

static void topk_sift_down(const lg_tensor *x, int64_t base, int64_t stride, int64_t *heap,
                           int64_t k, int64_t at, bool largest) {
  for (;;) {
    int64_t worst = at, l = 2 * at + 1, r = l + 1;
    if (l < k && topk_after(x, base, stride, heap[l], heap[worst], largest)) worst = l;
    if (r < k && topk_after(x, base, stride, heap[r], heap[worst], largest)) worst = r;
    if (worst == at) return;
    int64_t t = heap[at];
    heap[at] = heap[worst];
    heap[worst] = t;
    at = worst;
  }
}

/* The first k of a slice in output order, without sorting all of it: a heap
 * of the best k so far with the worst of them at the root, which a better
 * element replaces (O(n log k); CenterNet takes 100 of 1.3 million scores).
 * The order is total (ties by index), so this picks exactly what the full
 * sort would; the k chosen are then sorted. */
static void topk_select(const lg_tensor *x, int64_t base, int64_t stride, int64_t *idx,
                        int64_t *tmp, int64_t n, int64_t k, bool largest) {
  for (int64_t i = 0; i < k; i++) idx[i] = i;
  for (int64_t i = k / 2 - 1; i >= 0; i--) topk_sift_down(x, base, stride, idx, k, i, largest);
  for (int64_t i = k; i < n; i++) {
    if (topk_after(x, base, stride, idx[0], i, largest)) {
      idx[0] = i;
      topk_sift_down(x, base, stride, idx, k, 0, largest);
    }
  }
  topk_sort(x, base, stride, idx, tmp, k, largest);
}

static lg_status topk_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                          const lg_exec *exec) {
  int axis;
  int64_t k;
  if (!lg_normalize_axis(lg_attr_int(node, "axis", -1), in[0]->rank, &axis))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': axis is out of range", node->op_type,
                    node->name);
  LG_TRY(topk_k(node, in, &k));
  axis_view v = view_along(in[0], axis);
  if (k < 0 || k > v.n || !exec || !exec->workspace)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': k or workspace is invalid",
                    node->op_type, node->name);
  bool largest = lg_attr_int(node, "largest", 1) != 0;
  lg_tensor *values = out[0], *indices = node->n_out > 1 ? out[1] : NULL;
  size_t size = ledge_dtype_size(in[0]->dtype);
  int64_t *idx = exec->workspace, *tmp = idx + v.n;
  for (int64_t o = 0; o < v.outer; o++) {
    for (int64_t in_i = 0; in_i < v.inner; in_i++) {
      int64_t base = o * v.n * v.inner + in_i;
      if (k > 0 && k * 16 < v.n) {
        topk_select(in[0], base, v.inner, idx, tmp, v.n, k, largest);
      } else {
        for (int64_t i = 0; i < v.n; i++) idx[i] = i;
        topk_sort(in[0], base, v.inner, idx, tmp, v.n, largest);
      }
      for (int64_t i = 0; i < k; i++) {
        int64_t dst = (o * k + i) * v.inner + in_i;
        if (values)
          memcpy((char *)values->data + (size_t)dst * size,
                 (const char *)in[0]->data + (size_t)(base + idx[i] * v.inner) * size, size);
        if (indices) ((int64_t *)indices->data)[dst] = idx[i];
      }
    }
  }
  return LEDGE_OK;
}

/* ---- CumSum ---- */

static lg_status cumsum_axis(const lg_node *node, lg_tensor *const *in, int *axis) {
  const lg_tensor *at = node->n_in > 1 ? in[1] : NULL;
  if (!at || !at->data)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': axis input is missing",
                    node->op_type, node->name);
  if (lg_tensor_count(at) != 1 || (at->dtype != LEDGE_INT64 && at->dtype != LEDGE_INT32))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': axis must be one int32/int64",
                    node->op_type, node->name);
  int64_t a = lg_tensor_get_int(at, 0);
  if (!lg_normalize_axis(a, in[0]->rank, axis))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': axis %lld is out of range",
                    node->op_type, node->name, (long long)a);
  return LEDGE_OK;
}

static lg_status cumsum_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 2, 2));
  LG_TRY(check_input(node, in[0]));
  if (in[0]->rank < 1)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': input must have rank >= 1", node->op_type,
                    node->name);
  const lg_tensor *at = node->n_in > 1 ? in[1] : NULL;
  if (!at)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': axis input is missing",
                    node->op_type, node->name);
  if (at->data) {
    int axis;
    LG_TRY(cumsum_axis(node, in, &axis));
  }
  if (out[0]) {
    out[0]->dtype = in[0]->dtype;
    lg_tensor_set_shape(out[0], in[0]->rank, in[0]->dims);
  }
  return LEDGE_OK;
}

static lg_status cumsum_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                            const lg_exec *exec) {
  if (!out[0]) return LEDGE_OK;
  int axis;
  LG_TRY(cumsum_axis(node, in, &axis));
  bool exclusive = lg_attr_int(node, "exclusive", 0) != 0;
  bool reverse = lg_attr_int(node, "reverse", 0) != 0;
  axis_view v = view_along(in[0], axis);
  bool integer = !lg_dtype_is_float(in[0]->dtype);
  for (int64_t o = 0; o < v.outer; o++) {
    for (int64_t in_i = 0; in_i < v.inner; in_i++) {
      int64_t base = o * v.n * v.inner + in_i;
      double sum = 0;
      uint64_t isum = 0; /* integers wrap like the dtype would */
      for (int64_t j = 0; j < v.n; j++) {
        int64_t i = reverse ? v.n - 1 - j : j;
        int64_t at = base + i * v.inner;
        if (integer) {
          uint64_t x = (uint64_t)lg_tensor_get_int(in[0], at);
          if (!exclusive) isum += x;
          store_wrapped(out[0]->dtype, out[0]->data, at, isum);
          if (exclusive) isum += x;
        } else {
          double x = lg_tensor_get_double(in[0], at);
          if (!exclusive) sum += x;
          store_double(out[0]->dtype, out[0]->data, at, sum);
          if (exclusive) sum += x;
        }
      }
    }
  }
  return LEDGE_OK;
}

const lg_op_def lg_ops_reduce[] = {
    {"ReduceSum", "", reduce_infer, reduce_run, false},
    {"ReduceMean", "", reduce_infer, reduce_run, false},
    {"ReduceMax", "", reduce_infer, reduce_run, false},
    {"ReduceMin", "", reduce_infer, reduce_run, false},
    {"ReduceProd", "", reduce_infer, reduce_run, false},
    {"ReduceL1", "", reduce_infer, reduce_run, false},
    {"ReduceL2", "", reduce_infer, reduce_run, false},
    {"ReduceLogSum", "", reduce_infer, reduce_run, false},
    {"ReduceLogSumExp", "", reduce_infer, reduce_run, false},
    {"ReduceSumSquare", "", reduce_infer, reduce_run, false},
    {"ArgMax", "", arg_infer, arg_run, false},
    {"ArgMin", "", arg_infer, arg_run, false},
    {"TopK", "", topk_infer, topk_run, false},
    {"CumSum", "", cumsum_infer, cumsum_run, false},
    {0},
};
