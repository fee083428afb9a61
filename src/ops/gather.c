/*
 * gather.c: indexed reads and writes: Gather, GatherElements, GatherND,
 * ScatterElements (and its deprecated name Scatter) and ScatterND.
 *
 * Indices come from the data of a tensor, so they are hostile by default:
 * every index is range-checked at run time, and an out-of-range index is an
 * error (LEDGE_ERR_INVALID_ARGUMENT), never a read or write outside a tensor.
 * Data moves by element size, so every dtype works; scatter reductions (add,
 * mul, max, min) need arithmetic and support the usual numeric dtypes.
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

static lg_status need_input(const lg_node *node, lg_tensor *const *in, int i) {
  if (i >= node->n_in || !in[i])
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': input %d is missing",
                    node->op_type, node->name, i);
  if (ledge_dtype_size(in[i]->dtype) == 0)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': input %d has unsupported dtype %s",
                    node->op_type, node->name, i, ledge_dtype_name(in[i]->dtype));
  return LEDGE_OK;
}

static lg_status check_indices(const lg_node *node, const lg_tensor *t, int i) {
  if (t->dtype != LEDGE_INT64 && t->dtype != LEDGE_INT32)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': indices (input %d) must be int32 or "
                    "int64, not %s", node->op_type, node->name, i, ledge_dtype_name(t->dtype));
  return LEDGE_OK;
}

static inline int64_t index_at(const lg_tensor *t, int64_t i) {
  return t->dtype == LEDGE_INT64 ? ((const int64_t *)t->data)[i]
                                 : ((const int32_t *)t->data)[i];
}

/* Resolves a possibly negative index against dim; false if out of range. */
static inline bool resolve_index(int64_t idx, int64_t dim, int64_t *out) {
  if (idx < 0) idx += dim;
  if (idx < 0 || idx >= dim) return false;
  *out = idx;
  return true;
}

static lg_status index_error(const lg_node *node, int64_t idx, int64_t dim) {
  return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': index %lld is out of range for a "
                  "dimension of size %lld", node->op_type, node->name, (long long)idx,
                  (long long)dim);
}

static lg_status get_axis(const lg_node *node, int rank, int *axis) {
  /* OneHot counts its default axis from the end; the others from the start. */
  int64_t a = lg_attr_int(node, "axis", !strcmp(node->op_type, "OneHot") ? -1 : 0);
  if (!lg_normalize_axis(a, rank, axis))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': axis %lld out of range for rank %d",
                    node->op_type, node->name, (long long)a, rank);
  return LEDGE_OK;
}

static void contiguous_strides(int rank, const int64_t *dims, int64_t *stride) {
  int64_t s = 1;
  for (int i = rank - 1; i >= 0; i--) {
    stride[i] = s;
    s *= dims[i];
  }
}

/* ---- Gather ---- */

static lg_status gather_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  LG_TRY(need_input(node, in, 0));
  LG_TRY(need_input(node, in, 1));
  LG_TRY(check_indices(node, in[1], 1));
  const lg_tensor *data = in[0], *indices = in[1];
  int axis;
  LG_TRY(get_axis(node, data->rank, &axis));
  int rank = data->rank - 1 + indices->rank;
  if (rank > LEDGE_MAX_RANK)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': output rank %d exceeds %d",
                    node->op_type, node->name, rank, LEDGE_MAX_RANK);
  int64_t dims[LEDGE_MAX_RANK];
  int r = 0;
  for (int i = 0; i < axis; i++) dims[r++] = data->dims[i];
  for (int i = 0; i < indices->rank; i++) dims[r++] = indices->dims[i];
  for (int i = axis + 1; i < data->rank; i++) dims[r++] = data->dims[i];
  int64_t count = lg_shape_count(rank, dims);
  if (count < 0 || count > MAX_TENSOR_BYTES / (int64_t)ledge_dtype_size(data->dtype))
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': output too large", node->op_type, node->name);
  /* Constant indices can be checked now, which gives the error at load. */
  if (indices->data) {
    int64_t n = lg_tensor_count(indices), unused;
    for (int64_t i = 0; i < n; i++)
      if (!resolve_index(index_at(indices, i), data->dims[axis], &unused))
        return index_error(node, index_at(indices, i), data->dims[axis]);
  }
  out[0]->dtype = data->dtype;
  lg_tensor_set_shape(out[0], rank, dims);
  return LEDGE_OK;
}

static lg_status gather_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                            const lg_exec *exec) {
  const lg_tensor *data = in[0], *indices = in[1];
  int axis;
  LG_TRY(get_axis(node, data->rank, &axis));
  size_t elem = ledge_dtype_size(data->dtype);
  int64_t outer = lg_shape_count(axis, data->dims);
  int64_t dim = data->dims[axis];
  int64_t inner = lg_shape_count(data->rank - axis - 1, data->dims + axis + 1);
  int64_t n = lg_tensor_count(indices);
  size_t block = (size_t)inner * elem;
  char *dst = out[0]->data;
  const char *src = data->data;
  for (int64_t o = 0; o < outer; o++) {
    for (int64_t j = 0; j < n; j++) {
      int64_t idx;
      if (!resolve_index(index_at(indices, j), dim, &idx))
        return index_error(node, index_at(indices, j), dim);
      memcpy(dst, src + (size_t)((o * dim + idx) * inner) * elem, block);
      dst += block;
    }
  }
  return LEDGE_OK;
}

/* ---- GatherElements ---- */

static lg_status gather_elements_infer(lg_node *node, lg_tensor *const *in,
                                       lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  LG_TRY(need_input(node, in, 0));
  LG_TRY(need_input(node, in, 1));
  LG_TRY(check_indices(node, in[1], 1));
  int axis;
  LG_TRY(get_axis(node, in[0]->rank, &axis));
  if (in[1]->rank != in[0]->rank)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': indices rank %d differs from data rank %d",
                    node->op_type, node->name, in[1]->rank, in[0]->rank);
  /* Outside the axis, indices may not reach past data. */
  for (int i = 0; i < in[0]->rank; i++)
    if (i != axis && in[1]->dims[i] > in[0]->dims[i])
      return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': indices dim %d (%lld) exceeds data's "
                      "(%lld)", node->op_type, node->name, i, (long long)in[1]->dims[i],
                      (long long)in[0]->dims[i]);
  out[0]->dtype = in[0]->dtype;
  lg_tensor_set_shape(out[0], in[1]->rank, in[1]->dims);
  return LEDGE_OK;
}

/* Walks every element of `indices` (shape dims) and calls visit with the
 * flat index into indices and the offset of the addressed element of a
 * tensor with strides `stride`, whose `axis` coordinate comes from the index.
 * Shared by GatherElements and ScatterElements. */
typedef lg_status (*element_visit)(void *ctx, int64_t i, int64_t offset);

static lg_status walk_elements(const lg_node *node, const lg_tensor *indices, int axis,
                               const int64_t *target_dims, element_visit visit, void *ctx) {
  int rank = indices->rank;
  int64_t stride[LEDGE_MAX_RANK], idx[LEDGE_MAX_RANK] = {0};
  contiguous_strides(rank, target_dims, stride);
  int64_t n = lg_tensor_count(indices);
  for (int64_t i = 0; i < n; i++) {
    int64_t k;
    if (!resolve_index(index_at(indices, i), target_dims[axis], &k))
      return index_error(node, index_at(indices, i), target_dims[axis]);
    int64_t off = k * stride[axis];
    for (int d = 0; d < rank; d++)
      if (d != axis) off += idx[d] * stride[d];
    LG_TRY(visit(ctx, i, off));
    for (int d = rank - 1; d >= 0; d--) {
      if (++idx[d] < indices->dims[d]) break;
      idx[d] = 0;
    }
  }
  return LEDGE_OK;
}

typedef struct element_copy {
  char *dst;
  const char *src;
  size_t elem;
} element_copy;

static lg_status gather_element(void *ctx, int64_t i, int64_t offset) {
  element_copy *c = ctx;
  memcpy(c->dst + (size_t)i * c->elem, c->src + (size_t)offset * c->elem, c->elem);
  return LEDGE_OK;
}

static lg_status gather_elements_run(const lg_node *node, lg_tensor *const *in,
                                     lg_tensor *const *out, const lg_exec *exec) {
  int axis;
  LG_TRY(get_axis(node, in[0]->rank, &axis));
  element_copy c = {out[0]->data, in[0]->data, ledge_dtype_size(in[0]->dtype)};
  return walk_elements(node, in[1], axis, in[0]->dims, gather_element, &c);
}

/* ---- GatherND ---- */

static lg_status gather_nd_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  LG_TRY(need_input(node, in, 0));
  LG_TRY(need_input(node, in, 1));
  if (in[1]->dtype != LEDGE_INT64)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': indices must be int64", node->op_type,
                    node->name);
  const lg_tensor *data = in[0], *indices = in[1];
  int64_t b = node->opset >= 12 ? lg_attr_int(node, "batch_dims", 0) : 0;
  int q = indices->rank, r = data->rank;
  if (q < 1 || b < 0 || b >= q || b >= r)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': invalid batch_dims %lld for ranks "
                    "%d and %d", node->op_type, node->name, (long long)b, r, q);
  int64_t m = indices->dims[q - 1];
  if (m < 1 || m > r - b)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': index tuples of length %lld do not fit data "
                    "of rank %d with %lld batch dims", node->op_type, node->name, (long long)m, r,
                    (long long)b);
  for (int i = 0; i < b; i++)
    if (indices->dims[i] != data->dims[i])
      return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': batch dim %d differs", node->op_type,
                      node->name, i);
  int rank = (q - 1) + (r - (int)b - (int)m);
  if (rank > LEDGE_MAX_RANK)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': output rank too large", node->op_type,
                    node->name);
  int64_t dims[LEDGE_MAX_RANK];
  int k = 0;
  for (int i = 0; i < q - 1; i++) dims[k++] = indices->dims[i];
  for (int i = (int)(b + m); i < r; i++) dims[k++] = data->dims[i];
  out[0]->dtype = data->dtype;
  lg_tensor_set_shape(out[0], rank, dims);
  return LEDGE_OK;
}

/* Offset (in elements) of the slice addressed by the index tuple `tuple` of
 * length m into data dims [first, first + m), within one batch. */
static lg_status nd_offset(const lg_node *node, const int64_t *tuple, int64_t m,
                           const int64_t *dims, const int64_t *stride, int first, int64_t *off) {
  *off = 0;
  for (int64_t j = 0; j < m; j++) {
    int64_t k;
    if (!resolve_index(tuple[j], dims[first + j], &k))
      return index_error(node, tuple[j], dims[first + j]);
    *off += k * stride[first + j];
  }
  return LEDGE_OK;
}

static lg_status gather_nd_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                               const lg_exec *exec) {
  const lg_tensor *data = in[0], *indices = in[1];
  int b = node->opset >= 12 ? (int)lg_attr_int(node, "batch_dims", 0) : 0;
  int q = indices->rank, r = data->rank;
  int64_t m = indices->dims[q - 1];
  int64_t stride[LEDGE_MAX_RANK];
  contiguous_strides(r, data->dims, stride);
  int64_t batches = lg_shape_count(b, data->dims);
  int64_t per_batch = lg_shape_count(q - 1 - b, indices->dims + b);
  int64_t slice = lg_shape_count(r - b - (int)m, data->dims + b + m);
  int64_t batch_stride = b > 0 ? stride[b - 1] : 0;
  size_t elem = ledge_dtype_size(data->dtype);
  const int64_t *tuples = indices->data;
  char *dst = out[0]->data;
  for (int64_t bi = 0; bi < batches; bi++) {
    for (int64_t t = 0; t < per_batch; t++) {
      int64_t off;
      LG_TRY(nd_offset(node, tuples + (bi * per_batch + t) * m, m, data->dims, stride, b, &off));
      memcpy(dst, (const char *)data->data + (size_t)(bi * batch_stride + off) * elem,
             (size_t)slice * elem);
      dst += (size_t)slice * elem;
    }
  }
  return LEDGE_OK;
}

/* ---- Scatter reductions ---- */

typedef enum reduction { REDUCE_NONE, REDUCE_ADD, REDUCE_MUL, REDUCE_MAX, REDUCE_MIN } reduction;

static lg_status get_reduction(const lg_node *node, ledge_dtype dtype, reduction *red) {
  const char *s = lg_attr_string(node, "reduction", "none");
  if (!strcmp(s, "none")) *red = REDUCE_NONE;
  else if (!strcmp(s, "add")) *red = REDUCE_ADD;
  else if (!strcmp(s, "mul")) *red = REDUCE_MUL;
  else if (!strcmp(s, "max")) *red = REDUCE_MAX;
  else if (!strcmp(s, "min")) *red = REDUCE_MIN;
  else
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': unknown reduction '%s'", node->op_type,
                    node->name, s);
  bool numeric = dtype == LEDGE_FLOAT32 || dtype == LEDGE_FLOAT64 || dtype == LEDGE_INT32 ||
                 dtype == LEDGE_INT64 || dtype == LEDGE_UINT8 || dtype == LEDGE_INT8;
  if (*red != REDUCE_NONE && !numeric)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': reduction '%s' on dtype %s",
                    node->op_type, node->name, s, ledge_dtype_name(dtype));
  return LEDGE_OK;
}

#define REDUCE_CASE(T)                                                                             \
  {                                                                                                \
    T a = *(T *)dst, v = *(const T *)src;                                                          \
    switch (red) {                                                                                 \
      case REDUCE_ADD: a = (T)(a + v); break;                                                      \
      case REDUCE_MUL: a = (T)(a * v); break;                                                      \
      case REDUCE_MAX: a = a > v ? a : v; break;                                                   \
      default: a = a < v ? a : v; break;                                                           \
    }                                                                                              \
    *(T *)dst = a;                                                                                 \
    return;                                                                                        \
  }

/* dst = reduce(dst, src) for one element. Integer add/mul wrap like the
 * unsigned hardware does instead of overflowing. */
static void reduce_element(reduction red, ledge_dtype dtype, size_t elem, char *dst,
                           const char *src) {
  if (red == REDUCE_NONE) {
    memcpy(dst, src, elem);
    return;
  }
  switch (dtype) {
    case LEDGE_FLOAT32: REDUCE_CASE(float)
    case LEDGE_FLOAT64: REDUCE_CASE(double)
    case LEDGE_UINT8: REDUCE_CASE(uint8_t)
    case LEDGE_INT8: REDUCE_CASE(int8_t)
    case LEDGE_INT32: {
      int32_t a = *(int32_t *)dst, v = *(const int32_t *)src;
      if (red == REDUCE_ADD) a = (int32_t)((uint32_t)a + (uint32_t)v);
      else if (red == REDUCE_MUL) a = (int32_t)((uint32_t)a * (uint32_t)v);
      else if (red == REDUCE_MAX) a = a > v ? a : v;
      else a = a < v ? a : v;
      *(int32_t *)dst = a;
      return;
    }
    default: {
      int64_t a = *(int64_t *)dst, v = *(const int64_t *)src;
      if (red == REDUCE_ADD) a = (int64_t)((uint64_t)a + (uint64_t)v);
      else if (red == REDUCE_MUL) a = (int64_t)((uint64_t)a * (uint64_t)v);
      else if (red == REDUCE_MAX) a = a > v ? a : v;
      else a = a < v ? a : v;
      *(int64_t *)dst = a;
      return;
    }
  }
}

/* ---- ScatterElements (and Scatter) ---- */

static lg_status scatter_elements_infer(lg_node *node, lg_tensor *const *in,
                                        lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  for (int i = 0; i < 3; i++) LG_TRY(need_input(node, in, i));
  LG_TRY(check_indices(node, in[1], 1));
  int axis;
  LG_TRY(get_axis(node, in[0]->rank, &axis));
  reduction red;
  LG_TRY(get_reduction(node, in[0]->dtype, &red));
  if (in[1]->rank != in[0]->rank || !lg_shape_equal(in[1]->rank, in[1]->dims, in[2]->rank,
                                                    in[2]->dims) || in[2]->dtype != in[0]->dtype)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': indices and updates must have one shape, "
                    "of data's rank, and updates data's dtype", node->op_type, node->name);
  for (int i = 0; i < in[0]->rank; i++)
    if (i != axis && in[1]->dims[i] > in[0]->dims[i])
      return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': indices dim %d exceeds data's",
                      node->op_type, node->name, i);
  out[0]->dtype = in[0]->dtype;
  lg_tensor_set_shape(out[0], in[0]->rank, in[0]->dims);
  return LEDGE_OK;
}

typedef struct element_scatter {
  char *dst;
  const char *updates;
  size_t elem;
  ledge_dtype dtype;
  reduction red;
} element_scatter;

static lg_status scatter_element(void *ctx, int64_t i, int64_t offset) {
  element_scatter *s = ctx;
  reduce_element(s->red, s->dtype, s->elem, s->dst + (size_t)offset * s->elem,
                 s->updates + (size_t)i * s->elem);
  return LEDGE_OK;
}

static lg_status scatter_elements_run(const lg_node *node, lg_tensor *const *in,
                                      lg_tensor *const *out, const lg_exec *exec) {
  int axis;
  LG_TRY(get_axis(node, in[0]->rank, &axis));
  element_scatter s = {out[0]->data, in[2]->data, ledge_dtype_size(in[0]->dtype), in[0]->dtype,
                       REDUCE_NONE};
  LG_TRY(get_reduction(node, in[0]->dtype, &s.red));
  if (out[0]->data != in[0]->data) memmove(out[0]->data, in[0]->data, lg_tensor_bytes(in[0]));
  return walk_elements(node, in[1], axis, in[0]->dims, scatter_element, &s);
}

/* ---- ScatterND ---- */

static lg_status scatter_nd_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  for (int i = 0; i < 3; i++) LG_TRY(need_input(node, in, i));
  if (in[1]->dtype != LEDGE_INT64)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': indices must be int64", node->op_type,
                    node->name);
  reduction red;
  LG_TRY(get_reduction(node, in[0]->dtype, &red));
  const lg_tensor *data = in[0], *indices = in[1], *updates = in[2];
  int q = indices->rank, r = data->rank;
  int64_t k = q > 0 ? indices->dims[q - 1] : 0;
  if (q < 1 || k < 1 || k > r)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': invalid index tuple length", node->op_type,
                    node->name);
  /* updates must be indices.shape[:-1] + data.shape[k:]. */
  int64_t want[LEDGE_MAX_RANK * 2];
  int n = 0;
  for (int i = 0; i < q - 1; i++) want[n++] = indices->dims[i];
  for (int i = (int)k; i < r; i++) want[n++] = data->dims[i];
  if (updates->dtype != data->dtype || !lg_shape_equal(updates->rank, updates->dims, n, want))
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': updates have the wrong shape or dtype",
                    node->op_type, node->name);
  out[0]->dtype = data->dtype;
  lg_tensor_set_shape(out[0], r, data->dims);
  return LEDGE_OK;
}

static lg_status scatter_nd_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                                const lg_exec *exec) {
  const lg_tensor *data = in[0], *indices = in[1], *updates = in[2];
  reduction red;
  LG_TRY(get_reduction(node, data->dtype, &red));
  int q = indices->rank, r = data->rank;
  int64_t k = indices->dims[q - 1];
  int64_t stride[LEDGE_MAX_RANK];
  contiguous_strides(r, data->dims, stride);
  int64_t tuples = lg_shape_count(q - 1, indices->dims);
  int64_t slice = lg_shape_count(r - (int)k, data->dims + k);
  size_t elem = ledge_dtype_size(data->dtype);
  if (out[0]->data != data->data) memmove(out[0]->data, data->data, lg_tensor_bytes(data));
  const int64_t *idx = indices->data;
  for (int64_t t = 0; t < tuples; t++) {
    int64_t off;
    LG_TRY(nd_offset(node, idx + t * k, k, data->dims, stride, 0, &off));
    char *dst = (char *)out[0]->data + (size_t)off * elem;
    const char *src = (const char *)updates->data + (size_t)(t * slice) * elem;
    if (red == REDUCE_NONE) {
      memcpy(dst, src, (size_t)slice * elem);
    } else {
      for (int64_t j = 0; j < slice; j++)
        reduce_element(red, data->dtype, elem, dst + (size_t)j * elem, src + (size_t)j * elem);
    }
  }
  return LEDGE_OK;
}

/* ---- Compress ----
 * Keeps the slices along axis (or the elements of the flattened input)
 * whose condition entry is true. The output size depends on the condition's
 * values, so the condition must be known at plan time. */

static lg_status compress_plan(const lg_node *node, lg_tensor *const *in, int *axis,
                               int64_t *kept) {
  LG_TRY(need_input(node, in, 0));
  LG_TRY(need_input(node, in, 1));
  LG_TRY(lg_require_const(node, in[1], 1));
  const lg_tensor *x = in[0], *cond = in[1];
  *axis = -1;
  if (lg_attr_find(node, "axis")) LG_TRY(get_axis(node, x->rank, axis));
  int64_t dim = *axis < 0 ? lg_tensor_count(x) : x->dims[*axis];
  int64_t n = lg_tensor_count(cond);
  if (cond->rank != 1 || n > dim)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': condition must be 1-D and no longer than "
                    "the axis (%lld)", node->op_type, node->name, (long long)dim);
  *kept = 0;
  for (int64_t i = 0; i < n; i++) *kept += lg_tensor_get_int(cond, i) != 0;
  return LEDGE_OK;
}

static lg_status compress_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  int axis = -1;
  int64_t kept = 0;
  LG_TRY(compress_plan(node, in, &axis, &kept));
  int64_t dims[LEDGE_MAX_RANK];
  int rank = 1;
  dims[0] = kept;
  if (axis >= 0) {
    rank = in[0]->rank;
    memcpy(dims, in[0]->dims, sizeof dims);
    dims[axis] = kept;
  }
  out[0]->dtype = in[0]->dtype;
  lg_tensor_set_shape(out[0], rank, dims);
  return LEDGE_OK;
}

static lg_status compress_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                              const lg_exec *exec) {
  int axis = -1;
  int64_t kept = 0;
  LG_TRY(compress_plan(node, in, &axis, &kept));
  const lg_tensor *x = in[0], *cond = in[1];
  size_t elem = ledge_dtype_size(x->dtype);
  int64_t outer = 1, dim = lg_tensor_count(x), inner = 1;
  if (axis >= 0) {
    outer = lg_shape_count(axis, x->dims);
    dim = x->dims[axis];
    inner = lg_shape_count(x->rank - axis - 1, x->dims + axis + 1);
  }
  size_t block = (size_t)inner * elem;
  int64_t n = lg_tensor_count(cond);
  char *dst = out[0]->data;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < n; i++)
      if (lg_tensor_get_int(cond, i)) {
        memcpy(dst, (const char *)x->data + (size_t)(o * dim + i) * block, block);
        dst += block;
      }
  return LEDGE_OK;
}

/* ---- OneHot ---- */

static lg_status onehot_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  for (int i = 0; i < 3; i++) LG_TRY(need_input(node, in, i));
  LG_TRY(lg_require_const(node, in[1], 1));
  if (lg_tensor_count(in[1]) != 1 || lg_tensor_count(in[2]) != 2)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': depth must be one value and "
                    "values two", node->op_type, node->name);
  double depth_f = lg_tensor_get_double(in[1], 0);
  if (!(depth_f >= 1) || depth_f > (double)MAX_TENSOR_BYTES)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': invalid depth %g", node->op_type,
                    node->name, depth_f);
  int rank = in[0]->rank + 1, axis;
  if (rank > LEDGE_MAX_RANK)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': output rank too large", node->op_type,
                    node->name);
  LG_TRY(get_axis(node, rank, &axis));
  int64_t dims[LEDGE_MAX_RANK];
  for (int i = 0, j = 0; i < rank; i++) dims[i] = i == axis ? (int64_t)depth_f : in[0]->dims[j++];
  int64_t count = lg_shape_count(rank, dims);
  if (count < 0 || count > MAX_TENSOR_BYTES / (int64_t)ledge_dtype_size(in[2]->dtype))
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': output too large", node->op_type, node->name);
  out[0]->dtype = in[2]->dtype;
  lg_tensor_set_shape(out[0], rank, dims);
  return LEDGE_OK;
}

static lg_status onehot_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                            const lg_exec *exec) {
  int rank = out[0]->rank, axis;
  LG_TRY(get_axis(node, rank, &axis));
  int64_t depth = out[0]->dims[axis];
  int64_t outer = lg_shape_count(axis, out[0]->dims);
  int64_t inner = lg_shape_count(rank - axis - 1, out[0]->dims + axis + 1);
  size_t elem = ledge_dtype_size(out[0]->dtype);
  const char *off_value = in[2]->data, *on_value = (const char *)in[2]->data + elem;
  char *dst = out[0]->data;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t d = 0; d < depth; d++)
      for (int64_t i = 0; i < inner; i++) {
        /* Indices may be of any numeric type; fractional ones truncate. */
        double v = lg_tensor_get_double(in[0], o * inner + i);
        int64_t idx = (v < 0 ? (int64_t)v + depth : (int64_t)v);
        memcpy(dst, idx == d ? on_value : off_value, elem);
        dst += elem;
      }
  return LEDGE_OK;
}

const lg_op_def lg_ops_gather[] = {
    {.name = "Gather", .domain = "", .infer = gather_infer, .run = gather_run},
    {.name = "GatherElements", .domain = "",
     .infer = gather_elements_infer, .run = gather_elements_run},
    {.name = "GatherND", .domain = "", .infer = gather_nd_infer, .run = gather_nd_run},
    {.name = "ScatterElements", .domain = "",
     .infer = scatter_elements_infer, .run = scatter_elements_run},
    {.name = "Scatter", .domain = "", .infer = scatter_elements_infer, .run = scatter_elements_run},
    {.name = "ScatterND", .domain = "", .infer = scatter_nd_infer, .run = scatter_nd_run},
    {.name = "Compress", .domain = "", .infer = compress_infer, .run = compress_run},
    {.name = "OneHot", .domain = "", .infer = onehot_infer, .run = onehot_run},
    {0},
};
