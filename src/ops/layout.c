/*
 * layout.c: operators that rearrange elements: Transpose, Concat, Split,
 * Slice, Tile, DepthToSpace and SpaceToDepth.
 *
 * All of them are dtype-agnostic (they copy by element size). Transpose,
 * Slice, DepthToSpace and SpaceToDepth are the same kernel underneath: a copy
 * whose source is a strided view of the input (strided_copy below).
 */
#include <string.h>

#include "ops/op.h"

#define MAX_TENSOR_BYTES ((int64_t)1 << 40)

/* Every operator here writes output 0; a node that omits it is malformed. */
static lg_status need_output(const lg_node *node, lg_tensor *const *out) {
  if (node->n_out < 1 || !out[0])
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': output 0 is missing",
                    node->op_type, node->name);
  return LEDGE_OK;
}
/* Below this many elements a copy is not worth waking the thread pool. */
#define PARALLEL_MIN_ELEMENTS ((int64_t)1 << 16)

static lg_status need_input(const lg_node *node, lg_tensor *const *in, int i) {
  if (i >= node->n_in || !in[i])
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': input %d is missing",
                    node->op_type, node->name, i);
  if (ledge_dtype_size(in[i]->dtype) == 0)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': input %d has unsupported dtype %s",
                    node->op_type, node->name, i, ledge_dtype_name(in[i]->dtype));
  return LEDGE_OK;
}

static lg_status check_shape(const lg_node *node, int rank, const int64_t *dims,
                             ledge_dtype dtype) {
  int64_t count = lg_shape_count(rank, dims);
  size_t elem = ledge_dtype_size(dtype);
  if (count < 0 || (elem && count > MAX_TENSOR_BYTES / (int64_t)elem)) {
    char buf[160];
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': invalid or too large shape %s", node->op_type,
                    node->name, lg_shape_str(rank, dims, buf, sizeof buf));
  }
  return LEDGE_OK;
}

/* ---- The strided copy ----
 * dst is contiguous with shape dims[rank]; element (i0..ik) comes from
 * src + sum(i_j * stride[j]) elements (strides may be negative or zero). */

typedef struct strided_copy_job {
  char *dst;
  const char *src;
  size_t elem;
  int rank;
  int64_t dims[LEDGE_MAX_RANK];
  int64_t stride[LEDGE_MAX_RANK];
} strided_copy_job;

/* Copies rows [begin, end) (a row is one run of the innermost dim). */
static void strided_copy_rows(void *ctx, int64_t begin, int64_t end) {
  const strided_copy_job *job = ctx;
  int rank = job->rank;
  int64_t inner = job->dims[rank - 1], inner_stride = job->stride[rank - 1];
  int64_t elem = (int64_t)job->elem;
  /* Multi-index of the first row. */
  int64_t idx[LEDGE_MAX_RANK] = {0};
  int64_t rest = begin;
  for (int i = rank - 2; i >= 0; i--) {
    idx[i] = rest % job->dims[i];
    rest /= job->dims[i];
  }
  char *dst = job->dst + begin * inner * elem;
  for (int64_t row = begin; row < end; row++) {
    int64_t off = 0;
    for (int i = 0; i < rank - 1; i++) off += idx[i] * job->stride[i];
    const char *src = job->src + off * elem;
    if (inner_stride == 1) {
      memcpy(dst, src, (size_t)(inner * elem));
    } else {
      switch (elem) {
        case 1:
          for (int64_t k = 0; k < inner; k++) dst[k] = src[k * inner_stride];
          break;
        case 2:
          for (int64_t k = 0; k < inner; k++)
            ((uint16_t *)dst)[k] = *(const uint16_t *)(src + k * inner_stride * 2);
          break;
        case 4:
          for (int64_t k = 0; k < inner; k++)
            ((uint32_t *)dst)[k] = *(const uint32_t *)(src + k * inner_stride * 4);
          break;
        case 8:
          for (int64_t k = 0; k < inner; k++)
            ((uint64_t *)dst)[k] = *(const uint64_t *)(src + k * inner_stride * 8);
          break;
        default:
          for (int64_t k = 0; k < inner; k++)
            memcpy(dst + k * elem, src + k * inner_stride * elem, (size_t)elem);
      }
    }
    dst += inner * elem;
    for (int i = rank - 2; i >= 0; i--) {
      if (++idx[i] < job->dims[i]) break;
      idx[i] = 0;
    }
  }
}

/* Runs the copy, merging dims that are contiguous in both source and
 * destination first so the inner loop is as long as possible. */
static void strided_copy(const lg_exec *exec, void *dst, const void *src, size_t elem, int rank,
                         const int64_t *dims, const int64_t *stride) {
  strided_copy_job job = {.dst = dst, .src = src, .elem = elem, .rank = 0};
  int64_t count = lg_shape_count(rank, dims);
  if (count <= 0) return;
  for (int i = 0; i < rank; i++) {
    if (dims[i] == 1) continue; /* size-1 dims do not move anything */
    if (job.rank > 0 && job.stride[job.rank - 1] == stride[i] * dims[i]) {
      job.dims[job.rank - 1] *= dims[i];
      job.stride[job.rank - 1] = stride[i];
    } else {
      job.dims[job.rank] = dims[i];
      job.stride[job.rank] = stride[i];
      job.rank++;
    }
  }
  if (job.rank == 0) { /* a single element */
    job.dims[0] = 1;
    job.stride[0] = 1;
    job.rank = 1;
  }
  int64_t rows = count / job.dims[job.rank - 1];
  if (exec && exec->pool && count >= PARALLEL_MIN_ELEMENTS && rows > 1)
    lg_parallel_for(exec->pool, rows, strided_copy_rows, &job);
  else
    strided_copy_rows(&job, 0, rows);
}

/* Contiguous element strides of a shape. */
static void contiguous_strides(int rank, const int64_t *dims, int64_t *stride) {
  int64_t s = 1;
  for (int i = rank - 1; i >= 0; i--) {
    stride[i] = s;
    s *= dims[i];
  }
}

/* ---- Transpose ---- */

static lg_status transpose_perm(const lg_node *node, int rank, int *perm) {
  const int64_t *p;
  int n = lg_attr_ints(node, "perm", &p);
  if (n < 0) {
    for (int i = 0; i < rank; i++) perm[i] = rank - 1 - i;
    return LEDGE_OK;
  }
  if (n != rank)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': perm has %d entries for rank %d",
                    node->op_type, node->name, n, rank);
  bool seen[LEDGE_MAX_RANK] = {false};
  for (int i = 0; i < n; i++) {
    int a;
    if (!lg_normalize_axis(p[i], rank, &a) || seen[a])
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': perm is not a permutation",
                      node->op_type, node->name);
    seen[a] = true;
    perm[i] = a;
  }
  return LEDGE_OK;
}

static lg_status transpose_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  LG_TRY(need_input(node, in, 0));
  int perm[LEDGE_MAX_RANK];
  LG_TRY(transpose_perm(node, in[0]->rank, perm));
  int64_t dims[LEDGE_MAX_RANK];
  for (int i = 0; i < in[0]->rank; i++) dims[i] = in[0]->dims[perm[i]];
  out[0]->dtype = in[0]->dtype;
  lg_tensor_set_shape(out[0], in[0]->rank, dims);
  return LEDGE_OK;
}

static lg_status transpose_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                               const lg_exec *exec) {
  int rank = in[0]->rank, perm[LEDGE_MAX_RANK];
  LG_TRY(transpose_perm(node, rank, perm));
  int64_t in_stride[LEDGE_MAX_RANK], stride[LEDGE_MAX_RANK];
  contiguous_strides(rank, in[0]->dims, in_stride);
  for (int i = 0; i < rank; i++) stride[i] = in_stride[perm[i]];
  strided_copy(exec, out[0]->data, in[0]->data, ledge_dtype_size(in[0]->dtype), rank,
               out[0]->dims, stride);
  return LEDGE_OK;
}

/* ---- Concat ---- */

static lg_status concat_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  if (node->n_in < 1) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': no inputs",
                                      node->op_type, node->name);
  LG_TRY(need_input(node, in, 0));
  const lg_attr *axis_attr = lg_attr_find(node, "axis");
  /* run reads axis with lg_attr_int: accept only what it reads the same way */
  if (!axis_attr || axis_attr->type != LG_ATTR_INT)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': attribute axis is missing or not an integer",
                    node->op_type, node->name);
  int rank = in[0]->rank, axis;
  if (!lg_normalize_axis(axis_attr->i, rank, &axis))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': axis %lld out of range for rank %d",
                    node->op_type, node->name, (long long)axis_attr->i, rank);
  int64_t dims[LEDGE_MAX_RANK];
  memcpy(dims, in[0]->dims, sizeof dims);
  dims[axis] = 0;
  for (int k = 0; k < node->n_in; k++) {
    LG_TRY(need_input(node, in, k));
    const lg_tensor *t = in[k];
    bool ok = t->rank == rank && t->dtype == in[0]->dtype;
    for (int i = 0; ok && i < rank; i++) ok = i == axis || t->dims[i] == dims[i];
    if (!ok) {
      char a[160], b[160];
      return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': input %d (%s %s) does not match input 0 "
                      "(%s %s) outside axis %d", node->op_type, node->name, k,
                      ledge_dtype_name(t->dtype), lg_shape_str(t->rank, t->dims, a, sizeof a),
                      ledge_dtype_name(in[0]->dtype),
                      lg_shape_str(rank, in[0]->dims, b, sizeof b), axis);
    }
    if (t->dims[axis] < 0 || dims[axis] > MAX_TENSOR_BYTES - t->dims[axis])
      return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': invalid dims", node->op_type, node->name);
    dims[axis] += t->dims[axis];
  }
  LG_TRY(check_shape(node, rank, dims, in[0]->dtype));
  out[0]->dtype = in[0]->dtype;
  lg_tensor_set_shape(out[0], rank, dims);
  return LEDGE_OK;
}

static lg_status concat_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                            const lg_exec *exec) {
  int rank = out[0]->rank, axis;
  lg_normalize_axis(lg_attr_int(node, "axis", 0), rank, &axis);
  size_t elem = ledge_dtype_size(out[0]->dtype);
  int64_t outer = lg_shape_count(axis, out[0]->dims);
  int64_t inner = lg_shape_count(rank - axis - 1, out[0]->dims + axis + 1);
  size_t out_block = (size_t)(out[0]->dims[axis] * inner) * elem;
  size_t offset = 0;
  for (int k = 0; k < node->n_in; k++) {
    size_t block = (size_t)(in[k]->dims[axis] * inner) * elem;
    if (block) {
      for (int64_t o = 0; o < outer; o++)
        memcpy((char *)out[0]->data + (size_t)o * out_block + offset,
               (const char *)in[k]->data + (size_t)o * block, block);
    }
    offset += block;
  }
  return LEDGE_OK;
}

/* ---- Split ---- */

/* The size of each output along the axis. */
static lg_status split_sizes(const lg_node *node, lg_tensor *const *in, int axis,
                             int64_t *sizes) {
  int64_t dim = in[0]->dims[axis];
  int n_out = node->n_out;
  int64_t split[64];
  int n;
  bool present;
  if (n_out > 64)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': more than 64 outputs", node->op_type,
                    node->name);
  LG_TRY(lg_read_int_list(node, in, 1, "split", 13, split, &n, 64, &present));
  if (present && n > 0) {
    if (n != n_out)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': split has %d entries for %d "
                      "outputs", node->op_type, node->name, n, n_out);
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
      if (split[i] < 0 || split[i] > dim)
        return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': invalid split %lld",
                        node->op_type, node->name, (long long)split[i]);
      sizes[i] = split[i];
      total += split[i];
    }
    if (total != dim)
      return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': split sums to %lld, the axis has %lld",
                      node->op_type, node->name, (long long)total, (long long)dim);
    return LEDGE_OK;
  }
  if (n_out < 1)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': no outputs", node->op_type,
                    node->name);
  /* Equal parts; opset 18 lets the last part be smaller. */
  int64_t part = (dim + n_out - 1) / n_out;
  if (dim % n_out != 0 && node->opset < 18)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': axis of size %lld does not split into %d "
                    "equal parts", node->op_type, node->name, (long long)dim, n_out);
  for (int i = 0; i < n_out; i++) {
    int64_t start = part * i;
    sizes[i] = start >= dim ? 0 : (dim - start < part ? dim - start : part);
  }
  return LEDGE_OK;
}

static lg_status split_axis(const lg_node *node, const lg_tensor *in, int *axis) {
  int64_t a = lg_attr_int(node, "axis", 0);
  if (!lg_normalize_axis(a, in->rank, axis))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': axis %lld out of range for rank %d",
                    node->op_type, node->name, (long long)a, in->rank);
  return LEDGE_OK;
}

static lg_status split_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_input(node, in, 0));
  int axis;
  LG_TRY(split_axis(node, in[0], &axis));
  int64_t sizes[64];
  LG_TRY(split_sizes(node, in, axis, sizes));
  for (int i = 0; i < node->n_out; i++) {
    if (!out[i]) continue;
    int64_t dims[LEDGE_MAX_RANK];
    memcpy(dims, in[0]->dims, sizeof dims);
    dims[axis] = sizes[i];
    out[i]->dtype = in[0]->dtype;
    lg_tensor_set_shape(out[i], in[0]->rank, dims);
  }
  return LEDGE_OK;
}

static lg_status split_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                           const lg_exec *exec) {
  int axis;
  LG_TRY(split_axis(node, in[0], &axis));
  int64_t sizes[64];
  LG_TRY(split_sizes(node, in, axis, sizes));
  int rank = in[0]->rank;
  size_t elem = ledge_dtype_size(in[0]->dtype);
  int64_t outer = lg_shape_count(axis, in[0]->dims);
  int64_t inner = lg_shape_count(rank - axis - 1, in[0]->dims + axis + 1);
  size_t in_block = (size_t)(in[0]->dims[axis] * inner) * elem;
  size_t offset = 0;
  for (int k = 0; k < node->n_out; k++) {
    size_t block = (size_t)(sizes[k] * inner) * elem;
    if (out[k] && block) {
      for (int64_t o = 0; o < outer; o++)
        memcpy((char *)out[k]->data + (size_t)o * block,
               (const char *)in[0]->data + (size_t)o * in_block + offset, block);
    }
    offset += block;
  }
  return LEDGE_OK;
}

/* ---- Slice ---- */

/* Per-axis first element and step of a Slice, and the output dims. */
static lg_status slice_plan(const lg_node *node, lg_tensor *const *in, int64_t *first,
                            int64_t *step, int64_t *dims) {
  int rank = in[0]->rank;
  int64_t starts[LEDGE_MAX_RANK], ends[LEDGE_MAX_RANK], axes[LEDGE_MAX_RANK],
      steps[LEDGE_MAX_RANK];
  int ns, ne, na = 0, nst = 0;
  bool present_s, present_e, present_a, present_st = false;
  LG_TRY(lg_read_int_list(node, in, 1, "starts", 10, starts, &ns, LEDGE_MAX_RANK, &present_s));
  LG_TRY(lg_read_int_list(node, in, 2, "ends", 10, ends, &ne, LEDGE_MAX_RANK, &present_e));
  LG_TRY(lg_read_int_list(node, in, 3, "axes", 10, axes, &na, LEDGE_MAX_RANK, &present_a));
  if (node->opset >= 10)
    LG_TRY(lg_read_int_list(node, in, 4, "steps", 10, steps, &nst, LEDGE_MAX_RANK, &present_st));
  if (!present_s || !present_e || ns != ne)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': starts and ends must be given "
                    "with the same length", node->op_type, node->name);
  if ((present_a && na != ns) || (present_st && nst != ns))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': axes and steps must have the "
                    "length of starts", node->op_type, node->name);
  for (int i = 0; i < rank; i++) {
    first[i] = 0;
    step[i] = 1;
    dims[i] = in[0]->dims[i];
  }
  bool seen[LEDGE_MAX_RANK] = {false};
  for (int k = 0; k < ns; k++) {
    int axis;
    int64_t a = present_a ? axes[k] : k;
    if (!lg_normalize_axis(a, rank, &axis) || seen[axis])
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': axis %lld is out of range for "
                      "rank %d or repeated", node->op_type, node->name, (long long)a, rank);
    seen[axis] = true;
    int64_t dim = in[0]->dims[axis], s = present_st ? steps[k] : 1;
    if (s == 0)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': step is zero", node->op_type,
                      node->name);
    int64_t start = starts[k], end = ends[k];
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    if (s > 0) {
      start = start < 0 ? 0 : start > dim ? dim : start;
      end = end < 0 ? 0 : end > dim ? dim : end;
    } else {
      start = start < 0 ? 0 : start > dim - 1 ? dim - 1 : start;
      end = end < -1 ? -1 : end > dim - 1 ? dim - 1 : end;
    }
    int64_t n = 0;
    /* Written as (span - 1) / |s| + 1 so huge steps cannot overflow. */
    if (s > 0 && end > start) n = (end - start - 1) / s + 1;
    if (s < 0 && end < start) n = s == INT64_MIN ? 1 : (start - end - 1) / (-s) + 1;
    first[axis] = n ? start : 0;
    step[axis] = s == INT64_MIN ? -1 : s;
    dims[axis] = n;
  }
  return LEDGE_OK;
}

static lg_status slice_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  LG_TRY(need_input(node, in, 0));
  int64_t first[LEDGE_MAX_RANK], step[LEDGE_MAX_RANK], dims[LEDGE_MAX_RANK];
  LG_TRY(slice_plan(node, in, first, step, dims));
  out[0]->dtype = in[0]->dtype;
  lg_tensor_set_shape(out[0], in[0]->rank, dims);
  return LEDGE_OK;
}

static lg_status slice_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                           const lg_exec *exec) {
  int rank = in[0]->rank;
  int64_t first[LEDGE_MAX_RANK], step[LEDGE_MAX_RANK], dims[LEDGE_MAX_RANK];
  LG_TRY(slice_plan(node, in, first, step, dims));
  if (lg_shape_count(rank, dims) == 0) return LEDGE_OK;
  int64_t in_stride[LEDGE_MAX_RANK], stride[LEDGE_MAX_RANK], offset = 0;
  contiguous_strides(rank, in[0]->dims, in_stride);
  for (int i = 0; i < rank; i++) {
    offset += first[i] * in_stride[i];
    stride[i] = step[i] * in_stride[i];
  }
  size_t elem = ledge_dtype_size(in[0]->dtype);
  strided_copy(exec, out[0]->data, (const char *)in[0]->data + offset * (int64_t)elem, elem, rank,
               dims, stride);
  return LEDGE_OK;
}

/* ---- Tile ---- */

static lg_status tile_repeats(const lg_node *node, lg_tensor *const *in, int64_t *repeats) {
  LG_TRY(need_input(node, in, 1));
  LG_TRY(lg_require_const(node, in[1], 1));
  int rank = in[0]->rank;
  if (in[1]->rank != 1 || in[1]->dims[0] != rank)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': repeats must be 1-D with %d "
                    "entries", node->op_type, node->name, rank);
  for (int i = 0; i < rank; i++) {
    repeats[i] = lg_tensor_get_int(in[1], i);
    if (repeats[i] < 0)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': negative repeat %lld",
                      node->op_type, node->name, (long long)repeats[i]);
  }
  return LEDGE_OK;
}

static lg_status tile_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  LG_TRY(need_input(node, in, 0));
  int64_t repeats[LEDGE_MAX_RANK], dims[LEDGE_MAX_RANK];
  LG_TRY(tile_repeats(node, in, repeats));
  for (int i = 0; i < in[0]->rank; i++) {
    if (repeats[i] && in[0]->dims[i] > MAX_TENSOR_BYTES / repeats[i])
      return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': output too large", node->op_type,
                      node->name);
    dims[i] = in[0]->dims[i] * repeats[i];
  }
  LG_TRY(check_shape(node, in[0]->rank, dims, in[0]->dtype));
  out[0]->dtype = in[0]->dtype;
  lg_tensor_set_shape(out[0], in[0]->rank, dims);
  return LEDGE_OK;
}

static lg_status tile_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                          const lg_exec *exec) {
  int rank = in[0]->rank;
  size_t elem = ledge_dtype_size(in[0]->dtype);
  int64_t count = lg_tensor_count(out[0]);
  if (count == 0) return LEDGE_OK;
  if (rank == 0) {
    memcpy(out[0]->data, in[0]->data, elem);
    return LEDGE_OK;
  }
  int64_t in_stride[LEDGE_MAX_RANK];
  contiguous_strides(rank, in[0]->dims, in_stride);
  int64_t in_row = in[0]->dims[rank - 1], out_row = out[0]->dims[rank - 1];
  size_t row_bytes = (size_t)in_row * elem;
  int64_t idx[LEDGE_MAX_RANK] = {0};
  char *dst = out[0]->data;
  /* For each output row, the source row is the output index modulo the
   * input dims; the row itself is the input row repeated. */
  for (int64_t r = 0; r < count / out_row; r++) {
    int64_t off = 0;
    for (int i = 0; i < rank - 1; i++) off += (idx[i] % in[0]->dims[i]) * in_stride[i];
    const char *src = (const char *)in[0]->data + off * (int64_t)elem;
    for (int64_t k = 0; k < out_row; k += in_row) {
      memcpy(dst, src, row_bytes);
      dst += row_bytes;
    }
    for (int i = rank - 2; i >= 0; i--) {
      if (++idx[i] < out[0]->dims[i]) break;
      idx[i] = 0;
    }
  }
  return LEDGE_OK;
}

/* ---- DepthToSpace, SpaceToDepth ----
 * Both are a reshape to 6-D, a transpose and a reshape back; we describe the
 * transposed 6-D view by strides into the input and run the strided copy. */

static lg_status blocks_check(const lg_node *node, lg_tensor *const *in, int64_t *b) {
  LG_TRY(need_input(node, in, 0));
  if (in[0]->rank != 4)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': input must be 4-D (NCHW), got rank %d",
                    node->op_type, node->name, in[0]->rank);
  *b = lg_attr_int(node, "blocksize", 0);
  if (*b <= 0 || *b > (1 << 20))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': invalid blocksize %lld",
                    node->op_type, node->name, (long long)*b);
  return LEDGE_OK;
}

static lg_status depth_to_space_infer(lg_node *node, lg_tensor *const *in,
                                      lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  int64_t b = 0;
  LG_TRY(blocks_check(node, in, &b));
  const char *mode = lg_attr_string(node, "mode", "DCR");
  if (strcmp(mode, "DCR") && strcmp(mode, "CRD"))
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': unknown mode '%s'", node->op_type,
                    node->name, mode);
  const int64_t *d = in[0]->dims;
  if (d[1] % (b * b) != 0)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': channels %lld not divisible by blocksize^2",
                    node->op_type, node->name, (long long)d[1]);
  if (d[2] > MAX_TENSOR_BYTES / b || d[3] > MAX_TENSOR_BYTES / b)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': output too large", node->op_type, node->name);
  int64_t dims[4] = {d[0], d[1] / (b * b), d[2] * b, d[3] * b};
  out[0]->dtype = in[0]->dtype;
  lg_tensor_set_shape(out[0], 4, dims);
  return LEDGE_OK;
}

static lg_status depth_to_space_run(const lg_node *node, lg_tensor *const *in,
                                    lg_tensor *const *out, const lg_exec *exec) {
  int64_t b = lg_attr_int(node, "blocksize", 1);
  const int64_t *d = in[0]->dims;
  int64_t c = d[1] / (b * b), h = d[2], w = d[3];
  bool crd = !strcmp(lg_attr_string(node, "mode", "DCR"), "CRD");
  /* The output viewed as [N, C', H, b1, W, b2]. */
  int64_t dims[6] = {d[0], c, h, b, w, b};
  int64_t stride[6];
  stride[0] = d[1] * h * w;
  stride[2] = w;
  stride[4] = 1;
  if (crd) { /* input channels are (C', b1, b2) */
    stride[1] = b * b * h * w;
    stride[3] = b * h * w;
    stride[5] = h * w;
  } else { /* DCR: input channels are (b1, b2, C') */
    stride[1] = h * w;
    stride[3] = b * c * h * w;
    stride[5] = c * h * w;
  }
  strided_copy(exec, out[0]->data, in[0]->data, ledge_dtype_size(in[0]->dtype), 6, dims, stride);
  return LEDGE_OK;
}

static lg_status space_to_depth_infer(lg_node *node, lg_tensor *const *in,
                                      lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  int64_t b = 0;
  LG_TRY(blocks_check(node, in, &b));
  const int64_t *d = in[0]->dims;
  if (d[2] % b || d[3] % b)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': H and W must be divisible by blocksize",
                    node->op_type, node->name);
  if (d[1] > MAX_TENSOR_BYTES / (b * b))
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': output too large", node->op_type, node->name);
  int64_t dims[4] = {d[0], d[1] * b * b, d[2] / b, d[3] / b};
  out[0]->dtype = in[0]->dtype;
  lg_tensor_set_shape(out[0], 4, dims);
  return LEDGE_OK;
}

static lg_status space_to_depth_run(const lg_node *node, lg_tensor *const *in,
                                    lg_tensor *const *out, const lg_exec *exec) {
  int64_t b = lg_attr_int(node, "blocksize", 1);
  const int64_t *d = in[0]->dims;
  int64_t c = d[1], h = d[2], w = d[3];
  /* The output viewed as [N, b1, b2, C, H/b, W/b]; input is [N, C, H/b, b1, W/b, b2]. */
  int64_t dims[6] = {d[0], b, b, c, h / b, w / b};
  int64_t stride[6] = {c * h * w, w, 1, h * w, b * w, b};
  strided_copy(exec, out[0]->data, in[0]->data, ledge_dtype_size(in[0]->dtype), 6, dims, stride);
  return LEDGE_OK;
}

/* ---- Trilu ----
 * Keeps the upper (or lower) triangle of the last two dims, counted from
 * diagonal k (an optional input, read at run, so it may be computed). */

static lg_status trilu_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  LG_TRY(need_input(node, in, 0));
  if (in[0]->rank < 2)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': input must have rank >= 2, got %d",
                    node->op_type, node->name, in[0]->rank);
  if (node->n_in > 1 && in[1] && (lg_tensor_count(in[1]) != 1 || in[1]->dtype != LEDGE_INT64))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': k must be one int64",
                    node->op_type, node->name);
  out[0]->dtype = in[0]->dtype;
  lg_tensor_set_shape(out[0], in[0]->rank, in[0]->dims);
  return LEDGE_OK;
}

static lg_status trilu_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                           const lg_exec *exec) {
  int rank = in[0]->rank;
  int64_t k = node->n_in > 1 && in[1] ? *(const int64_t *)in[1]->data : 0;
  bool upper = lg_attr_int(node, "upper", 1) != 0;
  int64_t rows = in[0]->dims[rank - 2], cols = in[0]->dims[rank - 1];
  int64_t count = lg_tensor_count(in[0]);
  size_t elem = ledge_dtype_size(in[0]->dtype);
  if (count == 0) return LEDGE_OK;
  if (out[0]->data != in[0]->data) memcpy(out[0]->data, in[0]->data, (size_t)count * elem);
  /* Clamp k so that j = i + k cannot overflow; beyond +-cols it changes nothing. */
  if (k > cols) k = cols;
  if (k < -rows - 1) k = -rows - 1;
  char *base = out[0]->data;
  for (int64_t m = 0; m < count / (rows * cols); m++) {
    for (int64_t i = 0; i < rows; i++) {
      char *row = base + (size_t)((m * rows + i) * cols) * elem;
      /* Upper keeps j >= i + k, so it zeroes [0, i + k); lower keeps j <= i + k. */
      int64_t edge = i + k;
      if (upper) {
        int64_t n = edge < 0 ? 0 : edge > cols ? cols : edge;
        memset(row, 0, (size_t)n * elem);
      } else {
        int64_t from = edge + 1 < 0 ? 0 : edge + 1 > cols ? cols : edge + 1;
        memset(row + (size_t)from * elem, 0, (size_t)(cols - from) * elem);
      }
    }
  }
  return LEDGE_OK;
}

/* ---- ReverseSequence ---- */

static lg_status reverse_sequence_axes(const lg_node *node, const lg_tensor *x, int *time_axis,
                                       int *batch_axis) {
  int64_t t = lg_attr_int(node, "time_axis", 0), b = lg_attr_int(node, "batch_axis", 1);
  if (x->rank < 2 || (t != 0 && t != 1) || (b != 0 && b != 1) || t == b)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': time_axis and batch_axis must be "
                    "0 and 1 in some order, on an input of rank >= 2", node->op_type, node->name);
  *time_axis = (int)t;
  *batch_axis = (int)b;
  return LEDGE_OK;
}

static lg_status reverse_sequence_infer(lg_node *node, lg_tensor *const *in,
                                        lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  LG_TRY(need_input(node, in, 0));
  LG_TRY(need_input(node, in, 1));
  int t = 0, b = 1;
  LG_TRY(reverse_sequence_axes(node, in[0], &t, &b));
  if (in[1]->rank != 1 || in[1]->dims[0] != in[0]->dims[b] ||
      (in[1]->dtype != LEDGE_INT64 && in[1]->dtype != LEDGE_INT32))
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': sequence_lens must be integers, one per "
                    "batch entry", node->op_type, node->name);
  out[0]->dtype = in[0]->dtype;
  lg_tensor_set_shape(out[0], in[0]->rank, in[0]->dims);
  return LEDGE_OK;
}

static lg_status reverse_sequence_run(const lg_node *node, lg_tensor *const *in,
                                      lg_tensor *const *out, const lg_exec *exec) {
  int t = 0, b = 1;
  LG_TRY(reverse_sequence_axes(node, in[0], &t, &b));
  const lg_tensor *x = in[0];
  int64_t steps = x->dims[t], batch = x->dims[b];
  int64_t inner = lg_shape_count(x->rank - 2, x->dims + 2);
  size_t elem = ledge_dtype_size(x->dtype), block = (size_t)inner * elem;
  /* Element strides, in blocks, of the time and batch axes. */
  int64_t time_stride = t == 0 ? batch : 1, batch_stride = b == 0 ? steps : 1;
  for (int64_t j = 0; j < batch; j++) {
    int64_t len = lg_tensor_get_int(in[1], j);
    if (len < 0 || len > steps)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': sequence length %lld is outside "
                      "0..%lld", node->op_type, node->name, (long long)len, (long long)steps);
    for (int64_t i = 0; i < steps; i++) {
      int64_t src = i < len ? len - 1 - i : i;
      memcpy((char *)out[0]->data + (size_t)(i * time_stride + j * batch_stride) * block,
             (const char *)x->data + (size_t)(src * time_stride + j * batch_stride) * block,
             block);
    }
  }
  return LEDGE_OK;
}

const lg_op_def lg_ops_layout[] = {
    {.name = "Transpose", .domain = "", .infer = transpose_infer, .run = transpose_run},
    {.name = "Concat", .domain = "", .infer = concat_infer, .run = concat_run,
     .alias = LG_ALIAS_CONCAT},
    {.name = "Split", .domain = "", .infer = split_infer, .run = split_run},
    {.name = "Slice", .domain = "", .infer = slice_infer, .run = slice_run},
    {.name = "Tile", .domain = "", .infer = tile_infer, .run = tile_run},
    {.name = "DepthToSpace", .domain = "",
     .infer = depth_to_space_infer, .run = depth_to_space_run},
    {.name = "SpaceToDepth", .domain = "",
     .infer = space_to_depth_infer, .run = space_to_depth_run},
    {.name = "Trilu", .domain = "", .infer = trilu_infer, .run = trilu_run},
    {.name = "ReverseSequence", .domain = "",
     .infer = reverse_sequence_infer, .run = reverse_sequence_run},
    {0},
};
