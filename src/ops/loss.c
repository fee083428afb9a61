/*
 * loss.c: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss, the loss
 * functions of ONNX (opset 12+). Both take class scores of shape
 * [N, C, d1, ..., dk] and integer targets of shape [N, d1, ..., dk]:
 *
 *   nll[n, d]   = -x[n, t, d] * w[t]      with t = target[n, d]
 *                 (0, with weight 0, where t == ignore_index)
 *   sce         = nll over log_softmax(scores) along C
 *
 * reduction "none" returns the per-element losses, "sum" their sum, and
 * "mean" their sum divided by the sum of the applied weights.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op.h"

typedef enum { REDUCE_NONE, REDUCE_SUM, REDUCE_MEAN } reduction;

typedef struct loss_state {
  reduction reduce;
  bool has_ignore;
  int64_t ignore_index;
  int64_t batch, classes, inner; /* scores viewed as [batch, classes, inner] */
} loss_state;

static lg_status loss_infer_common(lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                                   int max_out) {
  LG_TRY(lg_check_io(node, out, 2, 3));
  if (node->n_out > max_out)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': has %d outputs, at most %d",
                    node->op_type, node->name, node->n_out, max_out);
  const lg_tensor *x = in[0], *t = in[1], *w = node->n_in > 2 ? in[2] : NULL;
  if (!x || !t)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': scores and targets are required",
                    node->op_type, node->name);
  if (x->dtype != LEDGE_FLOAT32 && x->dtype != LEDGE_FLOAT64)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': scores of dtype %s are not supported",
                    node->op_type, node->name, ledge_dtype_name(x->dtype));
  if (t->dtype != LEDGE_INT64 && t->dtype != LEDGE_INT32)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': targets must be int32 or int64",
                    node->op_type, node->name);
  bool shapes_ok = x->rank >= 2 && t->rank == x->rank - 1 && t->dims[0] == x->dims[0];
  for (int i = 2; shapes_ok && i < x->rank; i++) shapes_ok = t->dims[i - 1] == x->dims[i];
  if (!shapes_ok) {
    char a[128], b[128];
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': scores %s and targets %s do not match [N,C,...] / [N,...]",
                    node->op_type, node->name, lg_shape_str(x->rank, x->dims, a, sizeof a),
                    lg_shape_str(t->rank, t->dims, b, sizeof b));
  }
  if (w && (w->dtype != x->dtype || w->rank != 1 || w->dims[0] != x->dims[1]))
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': weights must be a %s vector of C = %lld values",
                    node->op_type, node->name, ledge_dtype_name(x->dtype), (long long)x->dims[1]);
  const char *r = lg_attr_string(node, "reduction", "mean");
  loss_state st = {0};
  if (!strcmp(r, "none")) st.reduce = REDUCE_NONE;
  else if (!strcmp(r, "sum")) st.reduce = REDUCE_SUM;
  else if (!strcmp(r, "mean")) st.reduce = REDUCE_MEAN;
  else
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': unknown reduction '%s'", node->op_type,
                    node->name, r);
  const lg_attr *ig = lg_attr_find(node, "ignore_index");
  st.has_ignore = ig && ig->type == LG_ATTR_INT;
  st.ignore_index = st.has_ignore ? ig->i : 0;
  st.batch = x->dims[0];
  st.classes = x->dims[1];
  st.inner = lg_shape_count(x->rank - 2, x->dims + 2);
  node->state = malloc(sizeof st);
  if (!node->state) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  memcpy(node->state, &st, sizeof st);

  out[0]->dtype = x->dtype;
  if (st.reduce == REDUCE_NONE) lg_tensor_set_shape(out[0], t->rank, t->dims);
  else lg_tensor_set_shape(out[0], 0, NULL);
  if (max_out > 1 && node->n_out > 1 && out[1]) { /* log_prob */
    out[1]->dtype = x->dtype;
    lg_tensor_set_shape(out[1], x->rank, x->dims);
  }
  /* log_softmax needs one row of C scores of scratch per position */
  node->workspace = (size_t)st.classes * sizeof(double);
  return LEDGE_OK;
}

static double get(const lg_tensor *t, int64_t i) {
  return t->dtype == LEDGE_FLOAT64 ? ((const double *)t->data)[i] : ((const float *)t->data)[i];
}

static void set(lg_tensor *t, int64_t i, double v) {
  if (t->dtype == LEDGE_FLOAT64) ((double *)t->data)[i] = v;
  else ((float *)t->data)[i] = (float)v;
}

/* The shared core: per-element losses from log-probabilities read by
 * logp(ctx, n, c, d), reduced as the node says. */
static lg_status nll(const lg_node *node, const lg_tensor *target, const lg_tensor *weight,
                     lg_tensor *out, double (*logp)(const void *ctx, int64_t n, int64_t c, int64_t d),
                     const void *ctx) {
  const loss_state *st = node->state;
  double sum = 0, weight_sum = 0;
  for (int64_t n = 0; n < st->batch; n++)
    for (int64_t d = 0; d < st->inner; d++) {
      int64_t i = n * st->inner + d;
      int64_t c = lg_tensor_get_int(target, i);
      double loss = 0, w = 0;
      if (!(st->has_ignore && c == st->ignore_index)) {
        if (c < 0 || c >= st->classes)
          return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': target %lld is outside [0, %lld)",
                          node->op_type, node->name, (long long)c, (long long)st->classes);
        w = weight ? get(weight, c) : 1.0;
        loss = -logp(ctx, n, c, d) * w;
      }
      if (st->reduce == REDUCE_NONE) set(out, i, loss);
      sum += loss;
      weight_sum += w;
    }
  if (st->reduce == REDUCE_SUM) set(out, 0, sum);
  if (st->reduce == REDUCE_MEAN) set(out, 0, sum / weight_sum);
  return LEDGE_OK;
}

/* ---- NegativeLogLikelihoodLoss ---- */

typedef struct {
  const lg_tensor *x;
  int64_t classes, inner;
} scores_view;

static double read_score(const void *ctx, int64_t n, int64_t c, int64_t d) {
  const scores_view *v = ctx;
  return get(v->x, (n * v->classes + c) * v->inner + d);
}

static lg_status nll_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  return loss_infer_common(node, in, out, 1);
}

static lg_status nll_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                         const lg_exec *exec) {
  const loss_state *st = node->state;
  scores_view v = {in[0], st->classes, st->inner};
  return nll(node, in[1], node->n_in > 2 ? in[2] : NULL, out[0], read_score, &v);
}

/* ---- SoftmaxCrossEntropyLoss ---- */

static lg_status sce_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  return loss_infer_common(node, in, out, 2);
}

/* log_softmax along C into `logp` ([N, C, inner], the log_prob output or the
 * scores' own layout in the workspace-free case), one position at a time. */
static void log_softmax(const lg_tensor *x, lg_tensor *logp, const loss_state *st, double *row) {
  for (int64_t n = 0; n < st->batch; n++)
    for (int64_t d = 0; d < st->inner; d++) {
      double mx = -INFINITY, sum = 0;
      for (int64_t c = 0; c < st->classes; c++) {
        row[c] = get(x, (n * st->classes + c) * st->inner + d);
        if (row[c] > mx) mx = row[c];
      }
      for (int64_t c = 0; c < st->classes; c++) sum += exp(row[c] - mx);
      double lse = mx + log(sum);
      for (int64_t c = 0; c < st->classes; c++) set(logp, (n * st->classes + c) * st->inner + d, row[c] - lse);
    }
}

typedef struct {
  const lg_tensor *x;
  const loss_state *st;
  double *row;
} lazy_logp;

/* Without a log_prob output, each needed log-probability is computed from
 * its row directly (the loss reads one entry per position). */
static double lazy_read(const void *ctx, int64_t n, int64_t c, int64_t d) {
  const lazy_logp *l = ctx;
  const loss_state *st = l->st;
  double mx = -INFINITY, sum = 0;
  for (int64_t k = 0; k < st->classes; k++) {
    double s = get(l->x, (n * st->classes + k) * st->inner + d);
    if (s > mx) mx = s;
  }
  for (int64_t k = 0; k < st->classes; k++) sum += exp(get(l->x, (n * st->classes + k) * st->inner + d) - mx);
  return get(l->x, (n * st->classes + c) * st->inner + d) - mx - log(sum);
}

static lg_status sce_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                         const lg_exec *exec) {
  const loss_state *st = node->state;
  lg_tensor *log_prob = node->n_out > 1 ? out[1] : NULL;
  if (log_prob) {
    log_softmax(in[0], log_prob, st, exec->workspace);
    scores_view v = {log_prob, st->classes, st->inner};
    return nll(node, in[1], node->n_in > 2 ? in[2] : NULL, out[0], read_score, &v);
  }
  lazy_logp l = {in[0], st, exec->workspace};
  return nll(node, in[1], node->n_in > 2 ? in[2] : NULL, out[0], lazy_read, &l);
}

const lg_op_def lg_ops_loss[] = {
    {.name = "NegativeLogLikelihoodLoss", .domain = "", .infer = nll_infer, .run = nll_run},
    {.name = "SoftmaxCrossEntropyLoss", .domain = "", .infer = sce_infer, .run = sce_run},
    {0},
};
