/*
 * tf_extra.c: TensorFlow operators with no ONNX equivalent, used by the
 * TF.js importer (domain "ledge.tf").
 *
 *   TfFloorDiv  floor(a / b) with broadcasting: integer division rounds
 *               toward minus infinity (ONNX Div truncates), floats floor.
 *   TfFloorMod  a - floor(a / b) * b: the result takes the divisor's sign,
 *               for integers and floats alike (ONNX Mod needs fmod=1 for
 *               floats, which takes the dividend's sign).
 * Integer division by zero yields 0 rather than trapping.
 */
#include <math.h>
#include <string.h>

#include "ops/op.h"

static lg_status floor_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 2, 2));
  if (!in[0] || !in[1])
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': needs two inputs", node->op_type, node->name);
  if (in[0]->dtype != in[1]->dtype)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': inputs are %s and %s", node->op_type, node->name,
                    ledge_dtype_name(in[0]->dtype), ledge_dtype_name(in[1]->dtype));
  ledge_dtype dt = in[0]->dtype;
  if (dt != LEDGE_FLOAT32 && dt != LEDGE_INT32 && dt != LEDGE_INT64)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': %s is not supported", node->op_type, node->name,
                    ledge_dtype_name(dt));
  int rank;
  int64_t dims[LEDGE_MAX_RANK];
  LG_TRY(lg_broadcast_shape(in[0]->rank, in[0]->dims, in[1]->rank, in[1]->dims, &rank, dims));
  out[0]->dtype = dt;
  lg_tensor_set_shape(out[0], rank, dims);
  return LEDGE_OK;
}

/* Offset into t of the output element with multi-index idx (broadcast). */
static int64_t bcast_offset(const lg_tensor *t, int rank, const int64_t *idx) {
  int64_t off = 0, stride = 1;
  for (int i = t->rank - 1; i >= 0; i--) {
    int oi = i + rank - t->rank;
    int64_t d = t->dims[i];
    off += (d == 1 ? 0 : idx[oi]) * stride;
    stride *= d;
  }
  return off;
}

static int64_t floordiv_i(int64_t a, int64_t b) {
  if (b == 0) return 0;
  if (b == -1) return a == INT64_MIN ? INT64_MIN : -a;
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
  return q;
}

static int64_t floormod_i(int64_t a, int64_t b) {
  if (b == 0 || b == -1) return 0;
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

static lg_status floor_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out, const lg_exec *exec) {
  (void)exec;
  bool div = !strcmp(node->op_type, "TfFloorDiv");
  const lg_tensor *a = in[0], *b = in[1];
  lg_tensor *y = out[0];
  int rank = y->rank;
  int64_t n = lg_tensor_count(y);
  int64_t idx[LEDGE_MAX_RANK] = {0};
  for (int64_t i = 0; i < n; i++) {
    int64_t oa = bcast_offset(a, rank, idx), ob = bcast_offset(b, rank, idx);
    if (y->dtype == LEDGE_FLOAT32) {
      float x = ((const float *)a->data)[oa], d = ((const float *)b->data)[ob];
      ((float *)y->data)[i] = div ? floorf(x / d) : x - floorf(x / d) * d;
    } else if (y->dtype == LEDGE_INT32) {
      int64_t x = ((const int32_t *)a->data)[oa], d = ((const int32_t *)b->data)[ob];
      ((int32_t *)y->data)[i] = (int32_t)(div ? floordiv_i(x, d) : floormod_i(x, d));
    } else {
      int64_t x = ((const int64_t *)a->data)[oa], d = ((const int64_t *)b->data)[ob];
      ((int64_t *)y->data)[i] = div ? floordiv_i(x, d) : floormod_i(x, d);
    }
    for (int k = rank - 1; k >= 0; k--) {
      if (++idx[k] < y->dims[k]) break;
      idx[k] = 0;
    }
  }
  return LEDGE_OK;
}

const lg_op_def lg_ops_tf_extra[] = {
    {.name = "TfFloorDiv", .domain = "ledge.tf", .infer = floor_infer, .run = floor_run},
    {.name = "TfFloorMod", .domain = "ledge.tf", .infer = floor_infer, .run = floor_run},
    {.name = NULL},
};
