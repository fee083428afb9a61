/*
 * op.h: the contract between the runtime and an operator.
 *
 * Each operator is one lg_op_def: a name, an infer function that checks a
 * node and sets its outputs' dtypes and shapes, and a run function that
 * computes them. Operators live one family per file (src/ops/conv.c,
 * src/ops/binary.c, ...), each file exporting a table that registry.c lists.
 * To add an operator: write infer and run in the family's file, add a row to
 * its table, and add its conformance cases to tests/conformance/expected_pass.txt.
 *
 * The run functions here are the reference kernels: plain, readable C that
 * the optimized kernels are tested against. They must handle every dtype and
 * shape that infer accepts, and never read or write outside their tensors.
 */
#ifndef LEDGE_OP_H
#define LEDGE_OP_H

#include "runtime/graph.h"
#include "runtime/threadpool.h"

/* What a kernel gets besides its node and tensors. */
typedef struct lg_exec {
  lg_threadpool *pool; /* may be NULL: run serially */
  void *workspace;     /* node->workspace bytes of 64-byte aligned scratch */
} lg_exec;

struct lg_op_def {
  const char *name;   /* the ONNX op_type */
  const char *domain; /* "" for the default ONNX domain */
  /* Validates the node and sets every present output's dtype and shape
   * (lg_tensor_set_shape). in[i] is NULL for an omitted optional input; an
   * input whose data is already known (a constant, or folded) has data set,
   * otherwise data is NULL and only dtype and shape may be read. Shapes
   * that depend on the values of a non-constant input cannot be inferred:
   * return lg_error(LEDGE_ERR_SHAPE, ...) saying so. infer may set
   * node->state (freed with free()), node->workspace and node->macs. */
  lg_status (*infer)(lg_node *node, lg_tensor *const *in, lg_tensor *const *out);
  /* Computes the outputs, whose data buffers are ready and sized by infer. */
  lg_status (*run)(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                   const lg_exec *exec);
  /* True for ops that must not be evaluated at plan time even with constant
   * inputs (random generators). */
  bool no_fold;
  /* True for ops whose outputs depend only on input shapes (Shape, Size):
   * they are folded at plan time whenever those shapes are known. */
  bool shape_only;
  /* How output 0 may share memory with the inputs, so the planner can make
   * the node free (see runtime/planner.c): a view's output has exactly the
   * bytes of input 0 (Reshape, Flatten, ...); a concat's output is its
   * inputs laid end to end along attribute `axis`. */
  enum { LG_ALIAS_NONE = 0, LG_ALIAS_VIEW, LG_ALIAS_CONCAT } alias;
};

/* The operator for (domain, op_type), or NULL. "ai.onnx" is the default domain. */
const lg_op_def *lg_op_find(const char *domain, const char *op_type);

/* Calls fn(ctx, def) for every registered operator (for listings and docs). */
void lg_op_foreach(void (*fn)(void *ctx, const lg_op_def *def), void *ctx);

/* dtype families, as the operators' type constraints name them. */
static inline bool lg_dtype_is_float(ledge_dtype dt) {
  return dt == LEDGE_FLOAT32 || dt == LEDGE_FLOAT64 || dt == LEDGE_FLOAT16;
}
static inline bool lg_dtype_is_integer(ledge_dtype dt) {
  switch (dt) {
    case LEDGE_INT8:
    case LEDGE_INT16:
    case LEDGE_INT32:
    case LEDGE_INT64:
    case LEDGE_UINT8:
    case LEDGE_UINT16:
    case LEDGE_UINT32:
    case LEDGE_UINT64: return true;
    default: return false;
  }
}
static inline bool lg_dtype_is_numeric(ledge_dtype dt) {
  return lg_dtype_is_float(dt) || lg_dtype_is_integer(dt);
}

/* Helpers for infer functions. */
/* Fails with a clear message unless 'in' has one of the listed float dtypes. */
lg_status lg_check_float(const lg_node *node, const lg_tensor *in, int index);
/* Fails unless input index exists (present) and its data is known at plan time. */
lg_status lg_require_const(const lg_node *node, const lg_tensor *in, int index);

/* Fails unless the node has min_in..max_in inputs and its first output is
 * present. The in/out arrays hold exactly n_in and n_out entries: check
 * before reading past what the node declares. */
lg_status lg_check_io(const lg_node *node, lg_tensor *const *out, int min_in, int max_in);
/* Reads a 1-D list of at most max_n integers from attribute `attr` (opset <
 * input_opset) or from constant input `index` (from input_opset on). */
lg_status lg_read_int_list(const lg_node *node, lg_tensor *const *in, int index, const char *attr,
                           int input_opset, int64_t *vals, int *n, int max_n, bool *present);

#endif
