/*
 * softmax.c: Softmax, LogSoftmax and Hardmax.
 *
 * Before opset 13 these ops coerce the input to 2-D at `axis` (default 1)
 * and normalize each row of [prod(dims[:axis]), prod(dims[axis:])]; from
 * opset 13 they normalize along the single dimension `axis` (default -1).
 * Both reduce to the same loop: `outer` groups of `length` values spaced
 * `inner` apart.
 */
#include <math.h>
#include <string.h>

#include "ops/op.h"

typedef enum softmax_kind { SOFTMAX, LOG_SOFTMAX, HARDMAX } softmax_kind;

typedef struct softmax_shape {
  softmax_kind kind;
  int64_t outer, length, inner;
} softmax_shape;

static lg_status softmax_analyze(const lg_node *node, const lg_tensor *x, softmax_shape *s) {
  s->kind = !strcmp(node->op_type, "LogSoftmax") ? LOG_SOFTMAX
            : !strcmp(node->op_type, "Hardmax")  ? HARDMAX
                                                 : SOFTMAX;
  bool legacy = node->opset > 0 && node->opset < 13;
  int64_t axis_attr = lg_attr_int(node, "axis", legacy ? 1 : -1);
  int axis;
  if (!lg_normalize_axis(axis_attr, x->rank, &axis))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT,
                    "%s node '%s': axis %lld is out of range for rank %d", node->op_type,
                    node->name, (long long)axis_attr, x->rank);
  for (int i = 0; i < x->rank; i++)
    if (x->dims[i] < 0)
      return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': negative dimension", node->op_type,
                      node->name);
  s->outer = lg_shape_count(axis, x->dims);
  if (legacy) {
    s->length = lg_shape_count(x->rank - axis, x->dims + axis);
    s->inner = 1;
  } else {
    s->length = x->dims[axis];
    s->inner = lg_shape_count(x->rank - axis - 1, x->dims + axis + 1);
  }
  if (s->outer < 0 || s->length < 0 || s->inner < 0)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': shape overflows", node->op_type, node->name);
  return LEDGE_OK;
}

static lg_status softmax_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 1, 1));
  LG_TRY(lg_check_float(node, in[0], 0));
  softmax_shape s;
  LG_TRY(softmax_analyze(node, in[0], &s));
  out[0]->dtype = in[0]->dtype;
  lg_tensor_set_shape(out[0], in[0]->rank, in[0]->dims);
  return LEDGE_OK;
}

typedef struct softmax_ctx {
  const softmax_shape *s;
  const float *x;
  float *y;
} softmax_ctx;

/* Each index of [begin, end) is one (outer, inner) lane of `length` values. */
static void softmax_lanes(void *ctx, int64_t begin, int64_t end) {
  const softmax_ctx *c = ctx;
  const softmax_shape *s = c->s;
  int64_t len = s->length, step = s->inner;
  for (int64_t lane = begin; lane < end; lane++) {
    int64_t base = (lane / s->inner) * len * s->inner + lane % s->inner;
    const float *x = c->x + base;
    float *y = c->y + base;
    if (len == 0) continue;
    float max = x[0];
    int64_t arg = 0;
    for (int64_t i = 1; i < len; i++)
      if (x[i * step] > max) {
        max = x[i * step];
        arg = i;
      }
    if (s->kind == HARDMAX) {
      for (int64_t i = 0; i < len; i++) y[i * step] = i == arg ? 1.0f : 0.0f;
      continue;
    }
    double sum = 0;
    if (s->kind == SOFTMAX) {
      for (int64_t i = 0; i < len; i++) {
        float e = expf(x[i * step] - max);
        y[i * step] = e;
        sum += e;
      }
      float scale = (float)(1.0 / sum);
      for (int64_t i = 0; i < len; i++) y[i * step] *= scale;
    } else {
      for (int64_t i = 0; i < len; i++) sum += expf(x[i * step] - max);
      float log_sum = (float)log(sum);
      for (int64_t i = 0; i < len; i++) y[i * step] = x[i * step] - max - log_sum;
    }
  }
}

static lg_status softmax_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                             const lg_exec *exec) {
  softmax_shape s;
  LG_TRY(softmax_analyze(node, in[0], &s));
  softmax_ctx c = {&s, in[0]->data, out[0]->data};
  int64_t lanes = s.outer * s.inner;
  lg_threadpool *pool = lanes * s.length < 16384 ? NULL : exec->pool;
  lg_parallel_for(pool, lanes, softmax_lanes, &c);
  return LEDGE_OK;
}

const lg_op_def lg_ops_softmax[] = {
    {"Softmax", "", softmax_infer, softmax_run, false, false},
    {"LogSoftmax", "", softmax_infer, softmax_run, false, false},
    {"Hardmax", "", softmax_infer, softmax_run, false, false},
    {0},
};
