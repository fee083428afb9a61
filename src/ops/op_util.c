/* op_util.c: checks shared by the infer functions of all operator families. */
#include "ops/op.h"

lg_status lg_check_float(const lg_node *node, const lg_tensor *in, int index) {
  if (!in) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': input %d is missing",
                           node->op_type, node->name, index);
  if (in->dtype != LEDGE_FLOAT32)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': input %d has dtype %s; only float32 is supported",
                    node->op_type, node->name, index, ledge_dtype_name(in->dtype));
  return LEDGE_OK;
}

lg_status lg_require_const(const lg_node *node, const lg_tensor *in, int index) {
  if (!in) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': input %d is missing",
                           node->op_type, node->name, index);
  if (!in->data)
    return lg_error(LEDGE_ERR_SHAPE,
                    "%s node '%s': input %d must be known before running (a constant), "
                    "because the output shape depends on its values",
                    node->op_type, node->name, index);
  return LEDGE_OK;
}
