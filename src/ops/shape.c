/*
 * shape.c: operators that compute, change or create shapes without doing
 * arithmetic on the elements: Shape, Size, Reshape, Flatten, Squeeze,
 * Unsqueeze, Identity, Dropout (inference), Constant, ConstantOfShape,
 * Expand, Range and EyeLike.
 *
 * Everything here moves bytes by element size, so every dtype works. Many of
 * these operators carry shape computations (Shape -> Gather -> Concat ->
 * Reshape) that the runtime folds at plan time, so int64 results are exact.
 */
#include <math.h>
#include <string.h>

#include "ops/op.h"

/* Largest byte size we accept for one tensor; keeps size arithmetic far from
 * overflow when shapes come from hostile files. */
#define MAX_TENSOR_BYTES ((int64_t)1 << 40)

/* Every operator here writes output 0; a node that omits it is malformed. */
static lg_status need_output(const lg_node *node, lg_tensor *const *out) {
  if (node->n_out < 1 || !out[0])
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': output 0 is missing", node->op_type,
                    node->name);
  return LEDGE_OK;
}

/* Fails unless the shape is valid (non-negative dims, rank within limits) and
 * its byte size is sane. */
static lg_status check_shape(const lg_node *node, int rank, const int64_t *dims,
                             ledge_dtype dtype) {
  if (rank < 0 || rank > LEDGE_MAX_RANK)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': rank %d is outside 0..%d", node->op_type,
                    node->name, rank, LEDGE_MAX_RANK);
  int64_t count = lg_shape_count(rank, dims);
  size_t elem = ledge_dtype_size(dtype);
  if (count < 0 || (elem && count > MAX_TENSOR_BYTES / (int64_t)elem)) {
    char buf[160];
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': invalid or too large shape %s", node->op_type,
                    node->name, lg_shape_str(rank, dims, buf, sizeof buf));
  }
  return LEDGE_OK;
}

static lg_status need_input(const lg_node *node, lg_tensor *const *in, int i) {
  if (i >= node->n_in || !in[i])
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': input %d is missing", node->op_type,
                    node->name, i);
  return LEDGE_OK;
}

static bool has_output(const lg_node *node, lg_tensor *const *out, int i) {
  return i < node->n_out && out[i];
}

/* Copies the input to the output as bytes; used by every operator whose
 * output has the input's elements in the same order. */
static lg_status run_copy(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                          const lg_exec *exec) {
  if (out[0]->data != in[0]->data) memmove(out[0]->data, in[0]->data, lg_tensor_bytes(in[0]));
  return LEDGE_OK;
}

/* ---- Shape, Size ---- */

/* Shape's slice of dims [start, end) after opset 15's clamping rules. */
static void shape_range(const lg_node *node, int rank, int *start, int *end) {
  int64_t s = 0, e = rank;
  if (node->opset >= 15) {
    s = lg_attr_int(node, "start", 0);
    e = lg_attr_int(node, "end", rank);
  }
  if (s < 0) s += rank;
  if (e < 0) e += rank;
  s = s < 0 ? 0 : s > rank ? rank : s;
  e = e < 0 ? 0 : e > rank ? rank : e;
  *start = (int)s;
  *end = (int)(e < s ? s : e);
}

static lg_status shape_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  LG_TRY(need_input(node, in, 0));
  int start, end;
  shape_range(node, in[0]->rank, &start, &end);
  int64_t dims[1] = {end - start};
  out[0]->dtype = LEDGE_INT64;
  lg_tensor_set_shape(out[0], 1, dims);
  return LEDGE_OK;
}

static lg_status shape_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                           const lg_exec *exec) {
  int start, end;
  shape_range(node, in[0]->rank, &start, &end);
  int64_t *o = out[0]->data;
  for (int i = start; i < end; i++) o[i - start] = in[0]->dims[i];
  return LEDGE_OK;
}

static lg_status size_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  LG_TRY(need_input(node, in, 0));
  out[0]->dtype = LEDGE_INT64;
  lg_tensor_set_shape(out[0], 0, NULL);
  return LEDGE_OK;
}

static lg_status size_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                          const lg_exec *exec) {
  *(int64_t *)out[0]->data = lg_tensor_count(in[0]);
  return LEDGE_OK;
}

/* ---- Reshape ---- */

static lg_status reshape_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  LG_TRY(need_input(node, in, 0));
  int64_t shape[LEDGE_MAX_RANK];
  int n = 0;
  bool present;
  LG_TRY(lg_read_int_list(node, in, 1, "shape", 5, shape, &n, LEDGE_MAX_RANK, &present));
  if (!present)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': the target shape is missing",
                    node->op_type, node->name);
  bool allow_zero = node->opset >= 14 && lg_attr_int(node, "allowzero", 0) != 0;
  int64_t in_count = lg_tensor_count(in[0]);
  int infer_at = -1;
  int64_t known = 1;
  for (int i = 0; i < n; i++) {
    if (shape[i] == 0 && !allow_zero) {
      if (i >= in[0]->rank)
        return lg_error(LEDGE_ERR_SHAPE,
                        "%s node '%s': shape[%d] = 0 copies a dim the input "
                        "(rank %d) does not have",
                        node->op_type, node->name, i, in[0]->rank);
      shape[i] = in[0]->dims[i];
    }
    if (shape[i] == -1) {
      if (infer_at >= 0)
        return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': more than one -1 in the target shape",
                        node->op_type, node->name);
      infer_at = i;
      continue;
    }
    if (shape[i] < 0)
      return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': invalid target dim %lld", node->op_type,
                      node->name, (long long)shape[i]);
    if (shape[i] != 0 && known > INT64_MAX / shape[i])
      return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': target shape overflows", node->op_type,
                      node->name);
    known *= shape[i];
  }
  if (infer_at >= 0) {
    if (known == 0 || in_count % known != 0)
      return lg_error(LEDGE_ERR_SHAPE,
                      "%s node '%s': cannot infer the -1 dim: %lld elements "
                      "into blocks of %lld",
                      node->op_type, node->name, (long long)in_count, (long long)known);
    shape[infer_at] = in_count / known;
    known = in_count;
  }
  if (known != in_count) {
    char a[160], b[160];
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': cannot reshape %s into %s", node->op_type,
                    node->name, lg_shape_str(in[0]->rank, in[0]->dims, a, sizeof a),
                    lg_shape_str(n, shape, b, sizeof b));
  }
  out[0]->dtype = in[0]->dtype;
  lg_tensor_set_shape(out[0], n, shape);
  return LEDGE_OK;
}

/* ---- Flatten ---- */

static lg_status flatten_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  LG_TRY(need_input(node, in, 0));
  int rank = in[0]->rank;
  int64_t axis = lg_attr_int(node, "axis", 1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis > rank)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': axis %lld out of range for rank %d",
                    node->op_type, node->name, (long long)lg_attr_int(node, "axis", 1), rank);
  int64_t dims[2];
  dims[0] = lg_shape_count((int)axis, in[0]->dims);
  dims[1] = lg_shape_count(rank - (int)axis, in[0]->dims + axis);
  LG_TRY(check_shape(node, 2, dims, in[0]->dtype));
  out[0]->dtype = in[0]->dtype;
  lg_tensor_set_shape(out[0], 2, dims);
  return LEDGE_OK;
}

/* ---- Squeeze, Unsqueeze ---- */

static lg_status squeeze_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  LG_TRY(need_input(node, in, 0));
  int rank = in[0]->rank;
  int64_t axes[LEDGE_MAX_RANK];
  int n;
  bool present;
  LG_TRY(lg_read_int_list(node, in, 1, "axes", 13, axes, &n, LEDGE_MAX_RANK, &present));
  bool drop[LEDGE_MAX_RANK] = {false};
  if (!present) {
    for (int i = 0; i < rank; i++) drop[i] = in[0]->dims[i] == 1;
  }
  for (int k = 0; k < n; k++) {
    int a;
    if (!lg_normalize_axis(axes[k], rank, &a))
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT,
                      "%s node '%s': axis %lld out of range for "
                      "rank %d",
                      node->op_type, node->name, (long long)axes[k], rank);
    if (in[0]->dims[a] != 1)
      return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': cannot squeeze axis %d of size %lld",
                      node->op_type, node->name, a, (long long)in[0]->dims[a]);
    drop[a] = true;
  }
  int64_t dims[LEDGE_MAX_RANK];
  int r = 0;
  for (int i = 0; i < rank; i++)
    if (!drop[i]) dims[r++] = in[0]->dims[i];
  out[0]->dtype = in[0]->dtype;
  lg_tensor_set_shape(out[0], r, dims);
  return LEDGE_OK;
}

static lg_status unsqueeze_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  LG_TRY(need_input(node, in, 0));
  int64_t axes[LEDGE_MAX_RANK];
  int n;
  bool present;
  LG_TRY(lg_read_int_list(node, in, 1, "axes", 13, axes, &n, LEDGE_MAX_RANK, &present));
  if (!present)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': axes are missing", node->op_type,
                    node->name);
  int rank = in[0]->rank + n;
  if (rank > LEDGE_MAX_RANK)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': output rank %d exceeds %d", node->op_type,
                    node->name, rank, LEDGE_MAX_RANK);
  bool inserted[LEDGE_MAX_RANK] = {false};
  for (int k = 0; k < n; k++) {
    int a;
    if (!lg_normalize_axis(axes[k], rank, &a) || inserted[a])
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT,
                      "%s node '%s': axis %lld is out of range for "
                      "rank %d or repeated",
                      node->op_type, node->name, (long long)axes[k], rank);
    inserted[a] = true;
  }
  int64_t dims[LEDGE_MAX_RANK];
  for (int i = 0, j = 0; i < rank; i++) dims[i] = inserted[i] ? 1 : in[0]->dims[j++];
  out[0]->dtype = in[0]->dtype;
  lg_tensor_set_shape(out[0], rank, dims);
  return LEDGE_OK;
}

/* ---- Identity, Dropout ---- */

static lg_status identity_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  LG_TRY(need_input(node, in, 0));
  if (ledge_dtype_size(in[0]->dtype) == 0)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': dtype %s is not supported", node->op_type,
                    node->name, ledge_dtype_name(in[0]->dtype));
  out[0]->dtype = in[0]->dtype;
  lg_tensor_set_shape(out[0], in[0]->rank, in[0]->dims);
  return LEDGE_OK;
}

/* Dropout at inference is the identity, and its mask is all ones. Training
 * mode with a non-zero ratio is random, which a deterministic runtime does
 * not offer: that is an error, at plan time when training_mode and ratio are
 * known then, otherwise when run sees them. */
static lg_status dropout_check_mode(const lg_node *node, lg_tensor *const *in) {
  if (node->opset < 12 || node->n_in < 3 || !in[2] || !in[2]->data) return LEDGE_OK;
  if (lg_tensor_count(in[2]) != 1)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': training_mode must be a scalar",
                    node->op_type, node->name);
  bool training = lg_tensor_get_int(in[2], 0) != 0;
  double ratio = 0.5;
  if (node->n_in > 1 && in[1]) {
    if (!in[1]->data) return LEDGE_OK; /* decided at run */
    if (lg_tensor_count(in[1]) != 1)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': ratio must be a scalar",
                      node->op_type, node->name);
    ratio = lg_tensor_get_double(in[1], 0);
  }
  if (training && ratio != 0.0)
    return lg_error(LEDGE_ERR_UNSUPPORTED,
                    "%s node '%s': training mode (random dropout) is "
                    "not supported",
                    node->op_type, node->name);
  return LEDGE_OK;
}

static lg_status dropout_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  LG_TRY(identity_infer(node, in, out));
  for (int i = 1; i < 3 && i < node->n_in; i++)
    if (in[i] && (lg_tensor_count(in[i]) != 1 || ledge_dtype_size(in[i]->dtype) == 0))
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': input %d must be a scalar",
                      node->op_type, node->name, i);
  LG_TRY(dropout_check_mode(node, in));
  if (node->opset < 7 && lg_attr_int(node, "is_test", 0) == 0)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': training mode is not supported",
                    node->op_type, node->name);
  if (has_output(node, out, 1)) {
    /* The mask is bool from opset 10 on, the input's type before. */
    out[1]->dtype = node->opset >= 10 ? LEDGE_BOOL : in[0]->dtype;
    lg_tensor_set_shape(out[1], in[0]->rank, in[0]->dims);
  }
  return LEDGE_OK;
}

static lg_status dropout_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                             const lg_exec *exec) {
  LG_TRY(dropout_check_mode(node, in));
  if (has_output(node, out, 0)) run_copy(node, in, out, exec);
  if (has_output(node, out, 1)) {
    int64_t count = lg_tensor_count(out[1]);
    if (out[1]->dtype == LEDGE_BOOL) {
      memset(out[1]->data, 1, (size_t)count);
    } else {
      /* Old opsets: a mask of the input's type, all ones. */
      size_t elem = ledge_dtype_size(out[1]->dtype);
      for (int64_t i = 0; i < count; i++) {
        char *dst = (char *)out[1]->data + i * (int64_t)elem;
        switch (out[1]->dtype) {
          case LEDGE_FLOAT32: *(float *)dst = 1.0f; break;
          case LEDGE_FLOAT64: *(double *)dst = 1.0; break;
          case LEDGE_FLOAT16: *(uint16_t *)dst = lg_float_to_half(1.0f); break;
          default:
            memset(dst, 0, elem);
            *dst = 1;
            break; /* little-endian integer one */
        }
      }
    }
  }
  return LEDGE_OK;
}

/* ---- Constant ---- */

/* What a Constant node holds: a tensor attribute, or one of the scalar/list
 * attributes, which become float32 or int64 tensors. */
typedef struct constant_source {
  const lg_tensor *tensor;
  const float *floats;
  const int64_t *ints;
  float one_float;
  int64_t one_int;
  int n;
  int rank; /* 0 for value_float / value_int, 1 for the lists */
} constant_source;

static lg_status constant_find(const lg_node *node, constant_source *src) {
  memset(src, 0, sizeof *src);
  const lg_attr *a;
  if ((src->tensor = lg_attr_tensor(node, "value"))) return LEDGE_OK;
  if ((a = lg_attr_find(node, "value_float")) && a->type == LG_ATTR_FLOAT) {
    src->one_float = a->f;
    src->floats = &src->one_float;
    src->n = 1;
    return LEDGE_OK;
  }
  if ((a = lg_attr_find(node, "value_int")) && a->type == LG_ATTR_INT) {
    src->one_int = a->i;
    src->ints = &src->one_int;
    src->n = 1;
    return LEDGE_OK;
  }
  if ((a = lg_attr_find(node, "value_floats")) && a->type == LG_ATTR_FLOATS) {
    src->floats = a->floats;
    src->n = a->n;
    src->rank = 1;
    return LEDGE_OK;
  }
  if ((a = lg_attr_find(node, "value_ints")) && a->type == LG_ATTR_INTS) {
    src->ints = a->ints;
    src->n = a->n;
    src->rank = 1;
    return LEDGE_OK;
  }
  return lg_error(LEDGE_ERR_UNSUPPORTED,
                  "%s node '%s': no supported value attribute (value, "
                  "value_float(s), value_int(s)); sparse and string constants are unsupported",
                  node->op_type, node->name);
}

static lg_status constant_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  constant_source src;
  LG_TRY(constant_find(node, &src));
  if (src.tensor) {
    const lg_tensor *t = src.tensor;
    if (ledge_dtype_size(t->dtype) == 0)
      return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': dtype %s is not supported",
                      node->op_type, node->name, ledge_dtype_name(t->dtype));
    LG_TRY(check_shape(node, t->rank, t->dims, t->dtype));
    if (!t->data && lg_tensor_count(t) > 0)
      return lg_error(LEDGE_ERR_FORMAT, "%s node '%s': the value tensor has no data", node->op_type,
                      node->name);
    out[0]->dtype = t->dtype;
    lg_tensor_set_shape(out[0], t->rank, t->dims);
    return LEDGE_OK;
  }
  int64_t dims[1] = {src.n};
  out[0]->dtype = src.floats ? LEDGE_FLOAT32 : LEDGE_INT64;
  lg_tensor_set_shape(out[0], src.rank, dims);
  return LEDGE_OK;
}

static lg_status constant_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                              const lg_exec *exec) {
  constant_source src;
  LG_TRY(constant_find(node, &src));
  if (src.tensor) {
    size_t bytes = lg_tensor_bytes(src.tensor);
    if (bytes) memcpy(out[0]->data, src.tensor->data, bytes);
  } else if (src.floats) {
    memcpy(out[0]->data, src.floats, (size_t)src.n * sizeof(float));
  } else {
    memcpy(out[0]->data, src.ints, (size_t)src.n * sizeof(int64_t));
  }
  return LEDGE_OK;
}

/* ---- ConstantOfShape ---- */

static lg_status constant_of_shape_infer(lg_node *node, lg_tensor *const *in,
                                         lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  LG_TRY(need_input(node, in, 0));
  LG_TRY(lg_require_const(node, in[0], 0));
  int64_t n = lg_tensor_count(in[0]);
  if (in[0]->rank != 1 || n > LEDGE_MAX_RANK)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT,
                    "%s node '%s': the shape must be a 1-D tensor "
                    "of at most %d dims",
                    node->op_type, node->name, LEDGE_MAX_RANK);
  int64_t dims[LEDGE_MAX_RANK];
  for (int64_t i = 0; i < n; i++) dims[i] = lg_tensor_get_int(in[0], i);
  const lg_tensor *value = lg_attr_tensor(node, "value");
  ledge_dtype dtype = LEDGE_FLOAT32;
  if (value) {
    if (lg_tensor_count(value) != 1 || !value->data || ledge_dtype_size(value->dtype) == 0)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT,
                      "%s node '%s': value must hold one element "
                      "of a numeric type",
                      node->op_type, node->name);
    dtype = value->dtype;
  }
  LG_TRY(check_shape(node, (int)n, dims, dtype));
  out[0]->dtype = dtype;
  lg_tensor_set_shape(out[0], (int)n, dims);
  return LEDGE_OK;
}

static lg_status constant_of_shape_run(const lg_node *node, lg_tensor *const *in,
                                       lg_tensor *const *out, const lg_exec *exec) {
  const lg_tensor *value = lg_attr_tensor(node, "value");
  int64_t count = lg_tensor_count(out[0]);
  if (!value) {
    memset(out[0]->data, 0, (size_t)count * sizeof(float));
    return LEDGE_OK;
  }
  size_t elem = ledge_dtype_size(value->dtype);
  for (int64_t i = 0; i < count; i++)
    memcpy((char *)out[0]->data + (size_t)i * elem, value->data, elem);
  return LEDGE_OK;
}

/* ---- Expand ---- */

static lg_status expand_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  LG_TRY(need_input(node, in, 0));
  LG_TRY(need_input(node, in, 1));
  LG_TRY(lg_require_const(node, in[1], 1));
  int64_t n = lg_tensor_count(in[1]);
  if (in[1]->rank != 1 || n > LEDGE_MAX_RANK)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT,
                    "%s node '%s': the shape must be a 1-D tensor "
                    "of at most %d dims",
                    node->op_type, node->name, LEDGE_MAX_RANK);
  int64_t shape[LEDGE_MAX_RANK], dims[LEDGE_MAX_RANK];
  for (int64_t i = 0; i < n; i++) {
    shape[i] = lg_tensor_get_int(in[1], i);
    if (shape[i] < 0)
      return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': negative dim %lld in the shape",
                      node->op_type, node->name, (long long)shape[i]);
  }
  int rank;
  lg_status st = lg_broadcast_shape(in[0]->rank, in[0]->dims, (int)n, shape, &rank, dims);
  if (st != LEDGE_OK) return lg_error_context(st, "%s node '%s': ", node->op_type, node->name);
  LG_TRY(check_shape(node, rank, dims, in[0]->dtype));
  out[0]->dtype = in[0]->dtype;
  lg_tensor_set_shape(out[0], rank, dims);
  return LEDGE_OK;
}

/* Copies src (broadcast to dst's shape, aligned at the trailing dims) into
 * dst, one contiguous innermost row at a time. */
static void broadcast_copy(const lg_tensor *src, lg_tensor *dst) {
  int rank = dst->rank;
  size_t elem = ledge_dtype_size(dst->dtype);
  int64_t count = lg_tensor_count(dst);
  if (count == 0) return;
  /* Element strides of src as seen through dst's dims (0 where broadcast). */
  int64_t stride[LEDGE_MAX_RANK], s = 1;
  for (int i = rank - 1; i >= 0; i--) {
    int j = i - (rank - src->rank);
    int64_t d = j >= 0 ? src->dims[j] : 1;
    stride[i] = d == 1 ? 0 : s;
    s *= d;
  }
  int64_t inner = rank ? dst->dims[rank - 1] : 1;
  int64_t inner_stride = rank ? stride[rank - 1] : 0;
  int64_t idx[LEDGE_MAX_RANK] = {0};
  const char *in = src->data;
  char *o = dst->data;
  for (int64_t row = 0; row < count / inner; row++) {
    int64_t off = 0;
    for (int i = 0; i < rank - 1; i++) off += idx[i] * stride[i];
    if (inner_stride) {
      memcpy(o, in + off * (int64_t)elem, (size_t)inner * elem);
    } else {
      for (int64_t k = 0; k < inner; k++)
        memcpy(o + k * (int64_t)elem, in + off * (int64_t)elem, elem);
    }
    o += inner * (int64_t)elem;
    for (int i = rank - 2; i >= 0; i--) {
      if (++idx[i] < dst->dims[i]) break;
      idx[i] = 0;
    }
  }
}

static lg_status expand_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                            const lg_exec *exec) {
  broadcast_copy(in[0], out[0]);
  return LEDGE_OK;
}

/* ---- Range ---- */

static bool range_dtype_ok(ledge_dtype d) {
  return d == LEDGE_FLOAT32 || d == LEDGE_FLOAT64 || d == LEDGE_INT16 || d == LEDGE_INT32 ||
         d == LEDGE_INT64;
}

static lg_status range_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  for (int i = 0; i < 3; i++) {
    LG_TRY(need_input(node, in, i));
    LG_TRY(lg_require_const(node, in[i], i));
    if (lg_tensor_count(in[i]) != 1 || in[i]->dtype != in[0]->dtype)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT,
                      "%s node '%s': start, limit and delta must be "
                      "scalars of one dtype",
                      node->op_type, node->name);
  }
  ledge_dtype dtype = in[0]->dtype;
  if (!range_dtype_ok(dtype))
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': dtype %s is not supported", node->op_type,
                    node->name, ledge_dtype_name(dtype));
  int64_t n;
  if (lg_dtype_is_float(dtype)) {
    double start = lg_tensor_get_double(in[0], 0), limit = lg_tensor_get_double(in[1], 0);
    double delta = lg_tensor_get_double(in[2], 0);
    double steps = ceil((limit - start) / delta);
    if (delta == 0 || !isfinite(steps) || steps > (double)MAX_TENSOR_BYTES)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': invalid range", node->op_type,
                      node->name);
    n = steps > 0 ? (int64_t)steps : 0;
  } else {
    int64_t start = lg_tensor_get_int(in[0], 0), limit = lg_tensor_get_int(in[1], 0);
    int64_t delta = lg_tensor_get_int(in[2], 0);
    if (delta == 0)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': delta is zero", node->op_type,
                      node->name);
    /* The operands come from int16/int32/int64 tensors; compute in double
     * for the overflow check, exactly in integers for the count. */
    double span = ((double)limit - (double)start) / (double)delta;
    if (span > (double)MAX_TENSOR_BYTES)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': range too long", node->op_type,
                      node->name);
    if (span <= 0) {
      n = 0;
    } else {
      int64_t diff;
      if (__builtin_sub_overflow(limit, start, &diff))
        return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': range overflows", node->op_type,
                        node->name);
      n = diff / delta + (diff % delta != 0);
    }
  }
  int64_t dims[1] = {n};
  LG_TRY(check_shape(node, 1, dims, dtype));
  out[0]->dtype = dtype;
  lg_tensor_set_shape(out[0], 1, dims);
  return LEDGE_OK;
}

static lg_status range_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                           const lg_exec *exec) {
  int64_t n = out[0]->dims[0];
  switch (out[0]->dtype) {
    case LEDGE_FLOAT32: {
      float start = *(const float *)in[0]->data, delta = *(const float *)in[2]->data;
      for (int64_t i = 0; i < n; i++) ((float *)out[0]->data)[i] = start + (float)i * delta;
      break;
    }
    case LEDGE_FLOAT64: {
      double start = *(const double *)in[0]->data, delta = *(const double *)in[2]->data;
      for (int64_t i = 0; i < n; i++) ((double *)out[0]->data)[i] = start + (double)i * delta;
      break;
    }
    default: {
      int64_t start = lg_tensor_get_int(in[0], 0), delta = lg_tensor_get_int(in[2], 0);
      for (int64_t i = 0; i < n; i++) {
        /* Unsigned arithmetic wraps instead of overflowing on hostile values. */
        int64_t v = (int64_t)((uint64_t)start + (uint64_t)i * (uint64_t)delta);
        switch (out[0]->dtype) {
          case LEDGE_INT16: ((int16_t *)out[0]->data)[i] = (int16_t)v; break;
          case LEDGE_INT32: ((int32_t *)out[0]->data)[i] = (int32_t)v; break;
          default: ((int64_t *)out[0]->data)[i] = v; break;
        }
      }
    }
  }
  return LEDGE_OK;
}

/* ---- EyeLike ---- */

static lg_status eyelike_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  LG_TRY(need_input(node, in, 0));
  if (in[0]->rank != 2)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': input must be 2-D, got rank %d", node->op_type,
                    node->name, in[0]->rank);
  int64_t dtype = lg_attr_int(node, "dtype", in[0]->dtype);
  if (dtype == LEDGE_STRING || ledge_dtype_size((ledge_dtype)dtype) == 0)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': dtype %lld is not supported",
                    node->op_type, node->name, (long long)dtype);
  out[0]->dtype = (ledge_dtype)dtype;
  lg_tensor_set_shape(out[0], 2, in[0]->dims);
  return LEDGE_OK;
}

static lg_status eyelike_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                             const lg_exec *exec) {
  int64_t rows = out[0]->dims[0], cols = out[0]->dims[1];
  int64_t k = lg_attr_int(node, "k", 0);
  size_t elem = ledge_dtype_size(out[0]->dtype);
  memset(out[0]->data, 0, (size_t)(rows * cols) * elem);
  for (int64_t r = 0; r < rows; r++) {
    int64_t c = r + k;
    if (c < 0 || c >= cols) continue;
    char *dst = (char *)out[0]->data + (r * cols + c) * (int64_t)elem;
    switch (out[0]->dtype) {
      case LEDGE_FLOAT32: *(float *)dst = 1.0f; break;
      case LEDGE_FLOAT64: *(double *)dst = 1.0; break;
      case LEDGE_FLOAT16: *(uint16_t *)dst = lg_float_to_half(1.0f); break;
      default: *dst = 1; break; /* integers and bool: little-endian one */
    }
  }
  return LEDGE_OK;
}

const lg_op_def lg_ops_shape[] = {
    {"Shape", "", shape_infer, shape_run, false, true},
    {"Size", "", size_infer, size_run, false, true},
    {.name = "Reshape",
     .domain = "",
     .infer = reshape_infer,
     .run = run_copy,
     .alias = LG_ALIAS_VIEW},
    {.name = "Flatten",
     .domain = "",
     .infer = flatten_infer,
     .run = run_copy,
     .alias = LG_ALIAS_VIEW},
    {.name = "Squeeze",
     .domain = "",
     .infer = squeeze_infer,
     .run = run_copy,
     .alias = LG_ALIAS_VIEW},
    {.name = "Unsqueeze",
     .domain = "",
     .infer = unsqueeze_infer,
     .run = run_copy,
     .alias = LG_ALIAS_VIEW},
    {.name = "Identity",
     .domain = "",
     .infer = identity_infer,
     .run = run_copy,
     .alias = LG_ALIAS_VIEW},
    {.name = "Dropout", .domain = "", .infer = dropout_infer, .run = dropout_run},
    {.name = "Constant", .domain = "", .infer = constant_infer, .run = constant_run},
    {.name = "ConstantOfShape",
     .domain = "",
     .infer = constant_of_shape_infer,
     .run = constant_of_shape_run},
    {.name = "Expand", .domain = "", .infer = expand_infer, .run = expand_run},
    {.name = "Range", .domain = "", .infer = range_infer, .run = range_run},
    {.name = "EyeLike", .domain = "", .infer = eyelike_infer, .run = eyelike_run},
    {0},
};
