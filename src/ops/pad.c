/*
 * pad.c: Pad, in modes constant, reflect, edge and wrap.
 *
 * Before opset 11 the pads and the constant value are attributes; from 11 on
 * they are inputs (pads must be a constant, since the output shape depends on
 * it; the value may be computed). Opset 18's optional axes input is honored.
 * Negative pads crop. Data moves by element size, so every dtype works.
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

typedef enum pad_mode { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP } pad_mode;

/* What infer and run both need: the mode and the per-axis pads. */
typedef struct pad_plan {
  pad_mode mode;
  int rank;
  int64_t begin[LEDGE_MAX_RANK], end[LEDGE_MAX_RANK];
} pad_plan;

static lg_status pad_make_plan(const lg_node *node, lg_tensor *const *in, pad_plan *plan) {
  if (node->n_in < 1 || !in[0])
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': input 0 is missing",
                    node->op_type, node->name);
  const lg_tensor *x = in[0];
  if (ledge_dtype_size(x->dtype) == 0)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': dtype %s is not supported",
                    node->op_type, node->name, ledge_dtype_name(x->dtype));
  int rank = x->rank;
  plan->rank = rank;
  const char *mode = lg_attr_string(node, "mode", "constant");
  if (!strcmp(mode, "constant")) plan->mode = PAD_CONSTANT;
  else if (!strcmp(mode, "reflect")) plan->mode = PAD_REFLECT;
  else if (!strcmp(mode, "edge")) plan->mode = PAD_EDGE;
  else if (!strcmp(mode, "wrap")) plan->mode = PAD_WRAP;
  else
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': unknown mode '%s'", node->op_type,
                    node->name, mode);

  /* pads: [x1_begin, x2_begin, ..., x1_end, x2_end, ...] over `axes`. */
  int64_t pads[2 * LEDGE_MAX_RANK];
  int64_t axes[LEDGE_MAX_RANK];
  int n_pads, n_axes = rank;
  for (int i = 0; i < rank; i++) axes[i] = i;
  if (node->opset < 11) {
    const int64_t *a;
    n_pads = lg_attr_ints(node, "pads", &a);
    if (n_pads < 0) n_pads = lg_attr_ints(node, "paddings", &a); /* opset 1 */
    if (n_pads != 2 * rank)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': pads must have %d entries",
                      node->op_type, node->name, 2 * rank);
    memcpy(pads, a, (size_t)n_pads * sizeof *pads);
  } else {
    if (node->n_in < 2 || !in[1])
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': input pads is missing",
                      node->op_type, node->name);
    LG_TRY(lg_require_const(node, in[1], 1));
    if (node->n_in > 3 && in[3]) { /* axes (opset 18) */
      LG_TRY(lg_require_const(node, in[3], 3));
      int64_t n = lg_tensor_count(in[3]);
      if (in[3]->rank != 1 || n > rank)
        return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': invalid axes", node->op_type,
                        node->name);
      n_axes = (int)n;
      bool seen[LEDGE_MAX_RANK] = {false};
      for (int i = 0; i < n_axes; i++) {
        int a;
        if (!lg_normalize_axis(lg_tensor_get_int(in[3], i), rank, &a) || seen[a])
          return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': invalid or repeated axis",
                          node->op_type, node->name);
        seen[a] = true;
        axes[i] = a;
      }
    }
    int64_t n = lg_tensor_count(in[1]);
    if (in[1]->rank > 1 || n != 2 * n_axes)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': pads must have %d entries, "
                      "got %lld", node->op_type, node->name, 2 * n_axes, (long long)n);
    n_pads = (int)n;
    for (int i = 0; i < n_pads; i++) pads[i] = lg_tensor_get_int(in[1], i);
  }
  for (int i = 0; i < rank; i++) plan->begin[i] = plan->end[i] = 0;
  for (int i = 0; i < n_axes; i++) {
    plan->begin[axes[i]] = pads[i];
    plan->end[axes[i]] = pads[i + n_axes];
  }
  for (int i = 0; i < rank; i++) {
    int64_t d = x->dims[i], b = plan->begin[i], e = plan->end[i];
    if (b > MAX_TENSOR_BYTES || e > MAX_TENSOR_BYTES || b < -d || e < -d || d + b + e < 0)
      return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': pads %lld,%lld invalid for axis %d of "
                      "size %lld", node->op_type, node->name, (long long)b, (long long)e, i,
                      (long long)d);
    /* Non-constant modes read the input to fill the border: it must not be empty. */
    if (plan->mode != PAD_CONSTANT && d == 0 && (b > 0 || e > 0))
      return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': cannot pad an empty axis in this mode",
                      node->op_type, node->name);
  }
  return LEDGE_OK;
}

static lg_status pad_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(need_output(node, out));
  pad_plan plan;
  LG_TRY(pad_make_plan(node, in, &plan));
  if (node->opset >= 11 && node->n_in > 2 && in[2]) {
    if (in[2]->dtype != in[0]->dtype || lg_tensor_count(in[2]) != 1)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': constant_value must be one "
                      "element of the input's dtype", node->op_type, node->name);
  }
  int64_t dims[LEDGE_MAX_RANK];
  for (int i = 0; i < plan.rank; i++) dims[i] = in[0]->dims[i] + plan.begin[i] + plan.end[i];
  int64_t count = lg_shape_count(plan.rank, dims);
  if (count < 0 || count > MAX_TENSOR_BYTES / (int64_t)ledge_dtype_size(in[0]->dtype))
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': output too large", node->op_type, node->name);
  out[0]->dtype = in[0]->dtype;
  lg_tensor_set_shape(out[0], plan.rank, dims);
  return LEDGE_OK;
}

/* Writes the constant (given as a double, from the attribute) in dtype. */
static void store_value(ledge_dtype dtype, double v, void *dst) {
  switch (dtype) {
    case LEDGE_FLOAT32: *(float *)dst = (float)v; break;
    case LEDGE_FLOAT64: *(double *)dst = v; break;
    case LEDGE_FLOAT16: *(uint16_t *)dst = lg_float_to_half((float)v); break;
    case LEDGE_INT8: *(int8_t *)dst = (int8_t)v; break;
    case LEDGE_UINT8: case LEDGE_BOOL: *(uint8_t *)dst = (uint8_t)v; break;
    case LEDGE_INT16: *(int16_t *)dst = (int16_t)v; break;
    case LEDGE_UINT16: *(uint16_t *)dst = (uint16_t)v; break;
    case LEDGE_INT32: *(int32_t *)dst = (int32_t)v; break;
    case LEDGE_UINT32: *(uint32_t *)dst = (uint32_t)v; break;
    case LEDGE_INT64: *(int64_t *)dst = (int64_t)v; break;
    case LEDGE_UINT64: *(uint64_t *)dst = (uint64_t)v; break;
    default: break;
  }
}

/* The source coordinate for output coordinate o on an axis of size d, or -1
 * where the constant fills. */
static int64_t source_coord(pad_mode mode, int64_t o, int64_t begin, int64_t d) {
  int64_t s = o - begin;
  if (s >= 0 && s < d) return s;
  switch (mode) {
    case PAD_CONSTANT: return -1;
    case PAD_EDGE: return s < 0 ? 0 : d - 1;
    case PAD_WRAP: {
      int64_t m = s % d;
      return m < 0 ? m + d : m;
    }
    case PAD_REFLECT: {
      if (d == 1) return 0;
      /* Reflection without repeating the edge has period 2(d-1). */
      int64_t period = 2 * (d - 1);
      int64_t m = s % period;
      if (m < 0) m += period;
      return m < d ? m : period - m;
    }
  }
  return -1;
}

static lg_status pad_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                         const lg_exec *exec) {
  pad_plan plan;
  LG_TRY(pad_make_plan(node, in, &plan));
  const lg_tensor *x = in[0];
  size_t elem = ledge_dtype_size(x->dtype);
  unsigned char value[16] = {0};
  if (node->opset >= 11) {
    if (node->n_in > 2 && in[2] && lg_tensor_count(in[2]) == 1) memcpy(value, in[2]->data, elem);
  } else {
    store_value(x->dtype, lg_attr_float(node, "value", 0.0f), value);
  }
  int rank = plan.rank;
  int64_t count = lg_tensor_count(out[0]);
  if (count == 0) return LEDGE_OK;
  char *dst = out[0]->data;
  if (rank == 0) {
    memcpy(dst, x->data, elem);
    return LEDGE_OK;
  }
  int64_t in_stride[LEDGE_MAX_RANK], s = 1;
  for (int i = rank - 1; i >= 0; i--) {
    in_stride[i] = s;
    s *= x->dims[i];
  }
  const int64_t *od = out[0]->dims;
  int64_t row = od[rank - 1], d_last = x->dims[rank - 1], b_last = plan.begin[rank - 1];
  /* The part of an output row that copies straight from the input row. */
  int64_t copy_from = b_last > 0 ? b_last : 0;
  int64_t copy_to = b_last + d_last < row ? b_last + d_last : row;
  int64_t idx[LEDGE_MAX_RANK] = {0};
  for (int64_t r = 0; r < count / row; r++, dst += row * (int64_t)elem) {
    int64_t off = 0;
    bool fill = false;
    for (int i = 0; i < rank - 1; i++) {
      int64_t c = source_coord(plan.mode, idx[i], plan.begin[i], x->dims[i]);
      if (c < 0) fill = true;
      off += c * in_stride[i];
    }
    if (fill) {
      for (int64_t k = 0; k < row; k++) memcpy(dst + k * (int64_t)elem, value, elem);
    } else {
      const char *src = (const char *)x->data + off * (int64_t)elem;
      for (int64_t k = 0; k < copy_from; k++) {
        int64_t c = source_coord(plan.mode, k, b_last, d_last);
        memcpy(dst + k * (int64_t)elem, c < 0 ? (const char *)value : src + c * (int64_t)elem,
               elem);
      }
      if (copy_to > copy_from)
        memcpy(dst + copy_from * (int64_t)elem, src + (copy_from - b_last) * (int64_t)elem,
               (size_t)(copy_to - copy_from) * elem);
      for (int64_t k = copy_to > copy_from ? copy_to : copy_from; k < row; k++) {
        int64_t c = source_coord(plan.mode, k, b_last, d_last);
        memcpy(dst + k * (int64_t)elem, c < 0 ? (const char *)value : src + c * (int64_t)elem,
               elem);
      }
    }
    for (int i = rank - 2; i >= 0; i--) {
      if (++idx[i] < od[i]) break;
      idx[i] = 0;
    }
  }
  return LEDGE_OK;
}

const lg_op_def lg_ops_pad[] = {
    {.name = "Pad", .domain = "", .infer = pad_infer, .run = pad_run},
    {0},
};
