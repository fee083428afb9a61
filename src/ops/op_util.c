/* op_util.c: checks shared by the infer functions of all operator families. */
#include "ops/op.h"

#include <string.h>

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

/* Fails unless the node has min_in..max_in inputs and its first output is
 * present (the arrays the runtime passes hold exactly n_in and n_out entries). */
lg_status lg_check_io(const lg_node *node, lg_tensor *const *out, int min_in, int max_in) {
  if (node->n_in < min_in || node->n_in > max_in)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': has %d inputs, expected %d to %d",
                    node->op_type, node->name, node->n_in, min_in, max_in);
  if (node->n_out < 1 || !out[0])
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': its first output is missing",
                    node->op_type, node->name);
  return LEDGE_OK;
}

/* Reads a 1-D list of integers from an attribute (before opset input_opset)
 * or from constant input `index`. *present says whether it was given. */
lg_status lg_read_int_list(const lg_node *node, lg_tensor *const *in, int index,
                               const char *attr, int input_opset, int64_t *vals, int *n,
                               int max_n, bool *present) {
  *present = false;
  *n = 0;
  if (node->opset < input_opset) {
    const int64_t *a;
    int na = lg_attr_ints(node, attr, &a);
    if (na < 0) return LEDGE_OK;
    if (na > max_n)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': too many %s (%d)",
                      node->op_type, node->name, attr, na);
    memcpy(vals, a, (size_t)na * sizeof *vals);
    *n = na;
    *present = true;
    return LEDGE_OK;
  }
  if (index >= node->n_in || !in[index]) return LEDGE_OK;
  LG_TRY(lg_require_const(node, in[index], index));
  int64_t count = lg_tensor_count(in[index]);
  if (in[index]->rank > 1 || count < 0 || count > max_n)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': input %d (%s) must be a 1-D list "
                    "of at most %d values", node->op_type, node->name, index, attr, max_n);
  for (int64_t i = 0; i < count; i++) vals[i] = lg_tensor_get_int(in[index], i);
  *n = (int)count;
  *present = true;
  return LEDGE_OK;
}
