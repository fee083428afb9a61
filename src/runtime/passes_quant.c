/*
 * passes_quant.c: QDQ folding (see passes_quant.h).
 *
 * A QDQ model (what ONNX Runtime's quantizer and `ledge quantize --format
 * onnx-qdq` write) keeps float operators and marks where values are
 * quantized: DequantizeLinear in front of each input, QuantizeLinear after
 * the output. Run literally, every convolution would dequantize its int8
 * weights and activations and compute in float. This pass rewrites the
 * Conv (or MatMul) node in place into QLinearConv (QLinearMatMul): its
 * position already follows every input it needs, and the QuantizeLinear's
 * consumers all follow it, so topological order is kept. The unused
 * DequantizeLinear and QuantizeLinear nodes are marked dead.
 */
#include "runtime/passes_quant.h"

#include <math.h>
#include <string.h>

#include "ops/op.h"

static bool is_op(const lg_node *n, const char *type) {
  return !n->dead && !strcmp(n->op_type, type) && !*n->domain;
}

static bool is_const(const lg_graph *g, int v) {
  return v >= 0 && g->values[v].kind == LG_VALUE_CONSTANT && g->values[v].t.data;
}

/* The live node producing v, or NULL. */
static lg_node *producer(lg_graph *g, int v) {
  if (v < 0 || g->values[v].producer < 0) return NULL;
  lg_node *n = &g->nodes[g->values[v].producer];
  return n->dead ? NULL : n;
}

/* The single live consumer of v (v not a graph output), or NULL. */
static lg_node *only_consumer(lg_graph *g, int v) {
  if (g->values[v].is_output || lg_graph_use_count(g, v) != 1) return NULL;
  for (int i = 0; i < g->n_nodes; i++) {
    lg_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] == v) return n;
  }
  return NULL;
}

/* A DequantizeLinear whose output is v: its quantized input, scale and zero
 * point (-1 when absent). Scale and zero point must be constants; with
 * want_const_q, the quantized input too. */
typedef struct dq_info {
  lg_node *node;
  int q, scale, zp;
} dq_info;

/* The dtype of a quantized value. Before shape inference an activation's is
 * known only from what produced it: a QuantizeLinear gives its zero
 * point's type (uint8 without one), a node this pass made its y_zp's. */
static ledge_dtype q_dtype(lg_graph *g, int v) {
  lg_node *p = producer(g, v);
  if (g->values[v].kind == LG_VALUE_CONSTANT || !p) return g->values[v].t.dtype;
  if (is_op(p, "QuantizeLinear"))
    return p->n_in > 2 && p->in[2] >= 0 ? g->values[p->in[2]].t.dtype : LEDGE_UINT8;
  if ((is_op(p, "QLinearConv") || is_op(p, "QLinearMatMul")) && p->n_in > 7 && p->in[7] >= 0)
    return g->values[p->in[7]].t.dtype; /* folded earlier in this pass */
  return g->values[v].t.dtype;
}

static bool match_dq(lg_graph *g, int v, bool want_const_q, dq_info *d) {
  lg_node *n = producer(g, v);
  if (!n || !is_op(n, "DequantizeLinear") || n->n_in < 2) return false;
  d->node = n;
  d->q = n->in[0];
  d->scale = n->in[1];
  d->zp = n->n_in > 2 ? n->in[2] : -1;
  if (!is_const(g, d->scale) || (d->zp >= 0 && !is_const(g, d->zp))) return false;
  if (want_const_q && !is_const(g, d->q)) return false;
  if (g->values[d->scale].t.dtype != LEDGE_FLOAT32) return false;
  ledge_dtype qt = q_dtype(g, d->q);
  return qt == LEDGE_UINT8 || qt == LEDGE_INT8 || qt == LEDGE_INT32;
}

static int64_t count_of(const lg_graph *g, int v) { return lg_tensor_count(&g->values[v].t); }

/* An int8 zero point of the dtype of q, value 0 (for a DQ without one). */
static int zero_zp(lg_graph *g, ledge_dtype dt) {
  int v = lg_graph_add_value(g, "");
  if (v < 0) return -1;
  lg_value *val = &g->values[v];
  val->kind = LG_VALUE_CONSTANT;
  val->shape_known = true;
  val->t.dtype = dt;
  lg_tensor_set_shape(&val->t, 0, NULL);
  return lg_value_alloc_owned(val) == LEDGE_OK ? v : -1;
}

/* An int32 bias from a float one: round(b / (x_scale * w_scale[o])). */
static int quantize_bias(lg_graph *g, int b, int x_scale, int w_scale, int64_t cout) {
  int v = lg_graph_add_value(g, "");
  if (v < 0) return -1;
  lg_value *val = &g->values[v];
  val->kind = LG_VALUE_CONSTANT;
  val->shape_known = true;
  val->t.dtype = LEDGE_INT32;
  int64_t dims[1] = {cout};
  lg_tensor_set_shape(&val->t, 1, dims);
  if (lg_value_alloc_owned(val) != LEDGE_OK) return -1;
  const float *bf = g->values[b].t.data, *xs = g->values[x_scale].t.data,
              *ws = g->values[w_scale].t.data;
  bool per_channel = count_of(g, w_scale) > 1;
  int32_t *bq = g->values[v].t.data;
  for (int64_t o = 0; o < cout; o++) {
    double s = (double)xs[0] * ws[per_channel ? o : 0];
    double q = s > 0 ? nearbyint(bf[o] / s) : 0;
    bq[o] = (int32_t)(q < -2147483647.0 ? -2147483647.0 : q > 2147483647.0 ? 2147483647.0 : q);
  }
  return v;
}

/* A float scalar known before inference: a constant, or the output of a
 * Constant node (exporters write Clip's bounds so). */
static bool const_float(lg_graph *g, int v, float *out) {
  const lg_tensor *t = NULL;
  if (is_const(g, v)) {
    t = &g->values[v].t;
  } else {
    lg_node *p = producer(g, v);
    if (p && is_op(p, "Constant")) t = lg_attr_tensor(p, "value");
  }
  if (!t || !t->data || t->dtype != LEDGE_FLOAT32 || lg_tensor_count(t) != 1) return false;
  *out = ((const float *)t->data)[0];
  return true;
}

/* After the float op: an optional Relu or Clip (constant bounds), then a
 * QuantizeLinear with constant per-tensor parameters. */
typedef struct q_tail {
  lg_node *act_node, *q;
  lg_act act;
} q_tail;

static bool match_tail(lg_graph *g, int y, q_tail *t) {
  memset(t, 0, sizeof *t);
  lg_node *n = only_consumer(g, y);
  if (!n) return false;
  if (is_op(n, "Relu") || is_op(n, "Clip")) {
    if (n->n_out != 1) return false;
    if (is_op(n, "Relu")) {
      t->act.kind = LG_ACT_RELU;
    } else {
      float lo = -INFINITY, hi = INFINITY;
      if (n->opset < 11) {
        lo = lg_attr_float(n, "min", -INFINITY);
        hi = lg_attr_float(n, "max", INFINITY);
      } else {
        for (int k = 1; k < n->n_in && k < 3; k++) {
          int v = n->in[k];
          if (v < 0) continue;
          float bound;
          if (!const_float(g, v, &bound)) return false;
          if (k == 1)
            lo = bound;
          else
            hi = bound;
        }
      }
      t->act = (lg_act){LG_ACT_CLIP, lo, hi};
    }
    t->act_node = n;
    n = only_consumer(g, n->out[0]);
    if (!n) return false;
  }
  if (!is_op(n, "QuantizeLinear") || n->n_in < 2 || n->n_out != 1) return false;
  if (!is_const(g, n->in[1]) || count_of(g, n->in[1]) != 1) return false;
  if (n->n_in > 2 && n->in[2] >= 0) {
    if (!is_const(g, n->in[2]) || count_of(g, n->in[2]) != 1) return false;
    ledge_dtype dt = g->values[n->in[2]].t.dtype;
    if (dt != LEDGE_UINT8 && dt != LEDGE_INT8) return false;
  }
  t->q = n;
  return true;
}

static void kill_if_unused(lg_graph *g, lg_node *n) {
  if (!n || n->dead) return;
  for (int k = 0; k < n->n_out; k++)
    if (n->out[k] >= 0 && lg_graph_use_count(g, n->out[k]) > 0) return;
  n->dead = true;
}

/* Rewrites node index ni into op_type with the given inputs, producing the
 * QuantizeLinear's output, and retires what became unused. */
static lg_status rewrite(lg_graph *g, int ni, const char *op_type, const int *ins, int n_in,
                         const q_tail *t, dq_info *const *dqs, int n_dqs) {
  int *in = lg_pool_alloc(g->pool, sizeof(int) * (size_t)n_in);
  if (!in) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  memcpy(in, ins, sizeof(int) * (size_t)n_in);
  lg_node *n = &g->nodes[ni];
  int y = t->q->out[0];
  n->op_type = op_type;
  n->op = lg_op_find("", op_type);
  n->in = in;
  n->n_in = n_in;
  n->out[0] = y;
  n->act = t->act;
  g->values[y].producer = ni;
  t->q->dead = true;
  if (t->act_node) t->act_node->dead = true;
  for (int i = 0; i < n_dqs; i++) kill_if_unused(g, dqs[i]->node);
  return LEDGE_OK;
}

static lg_status fold_conv(lg_graph *g, int ni) {
  lg_node *conv = &g->nodes[ni];
  if (conv->n_in < 2 || conv->n_out != 1 || conv->fused_add || conv->act.kind != LG_ACT_NONE)
    return LEDGE_OK;
  dq_info dx, dw, db;
  if (!match_dq(g, conv->in[0], false, &dx) || !match_dq(g, conv->in[1], true, &dw))
    return LEDGE_OK;
  ledge_dtype xt = q_dtype(g, dx.q), wt = q_dtype(g, dw.q);
  if (xt == LEDGE_INT32 || wt == LEDGE_INT32 || count_of(g, dx.scale) != 1) return LEDGE_OK;
  const lg_tensor *w = &g->values[dw.q].t;
  if (w->rank < 3) return LEDGE_OK;
  int64_t cout = w->dims[0];
  int64_t nws = count_of(g, dw.scale);
  if (nws != 1 && (nws != cout || lg_attr_int(dw.node, "axis", 1) != 0)) return LEDGE_OK;
  if (dw.zp >= 0 && count_of(g, dw.zp) != nws) return LEDGE_OK;
  int bias = -1;
  bool bias_dq = false;
  if (conv->n_in > 2 && conv->in[2] >= 0) {
    int b = conv->in[2];
    if (match_dq(g, b, true, &db) && g->values[db.q].t.dtype == LEDGE_INT32 &&
        count_of(g, db.q) == cout &&
        (db.zp < 0 || !((const int32_t *)g->values[db.zp].t.data)[0])) {
      bias = db.q; /* its scale is x_scale * w_scale by construction */
      bias_dq = true;
    } else if (is_const(g, b) && g->values[b].t.dtype == LEDGE_FLOAT32 && count_of(g, b) == cout) {
      bias = b; /* quantized below, once the match is certain */
    } else {
      return LEDGE_OK;
    }
  }
  q_tail t;
  if (!match_tail(g, conv->out[0], &t)) return LEDGE_OK;
  if (bias >= 0 && !bias_dq) {
    bias = quantize_bias(g, bias, dx.scale, dw.scale, cout);
    if (bias < 0) return LEDGE_ERR_NO_MEMORY;
  }
  int xz = dx.zp >= 0 ? dx.zp : zero_zp(g, xt), wz = dw.zp >= 0 ? dw.zp : zero_zp(g, wt);
  int yz = t.q->n_in > 2 && t.q->in[2] >= 0 ? t.q->in[2] : zero_zp(g, LEDGE_UINT8);
  if (xz < 0 || wz < 0 || yz < 0) return LEDGE_ERR_NO_MEMORY;
  int ins[9] = {dx.q, dx.scale, xz, dw.q, dw.scale, wz, t.q->in[1], yz, bias};
  dq_info *dqs[3] = {&dx, &dw, &db};
  return rewrite(g, ni, "QLinearConv", ins, bias >= 0 ? 9 : 8, &t, dqs, bias_dq ? 3 : 2);
}

static lg_status fold_matmul(lg_graph *g, int ni) {
  lg_node *mm = &g->nodes[ni];
  if (mm->n_in != 2 || mm->n_out != 1 || mm->act.kind != LG_ACT_NONE) return LEDGE_OK;
  dq_info da, db;
  if (!match_dq(g, mm->in[0], false, &da) || !match_dq(g, mm->in[1], false, &db)) return LEDGE_OK;
  ledge_dtype at = q_dtype(g, da.q), bt = q_dtype(g, db.q);
  if (at == LEDGE_INT32 || bt == LEDGE_INT32 || count_of(g, da.scale) != 1) return LEDGE_OK;
  int64_t nbs = count_of(g, db.scale);
  if (nbs != 1) {
    const lg_tensor *b = &g->values[db.q].t;
    if (b->rank != 2 || nbs != b->dims[1] || lg_attr_int(db.node, "axis", 1) != 1) return LEDGE_OK;
  }
  q_tail t;
  if (!match_tail(g, mm->out[0], &t)) return LEDGE_OK;
  int az = da.zp >= 0 ? da.zp : zero_zp(g, at), bz = db.zp >= 0 ? db.zp : zero_zp(g, bt);
  int yz = t.q->n_in > 2 && t.q->in[2] >= 0 ? t.q->in[2] : zero_zp(g, LEDGE_UINT8);
  if (az < 0 || bz < 0 || yz < 0) return LEDGE_ERR_NO_MEMORY;
  int ins[8] = {da.q, da.scale, az, db.q, db.scale, bz, t.q->in[1], yz};
  dq_info *dqs[2] = {&da, &db};
  return rewrite(g, ni, "QLinearMatMul", ins, 8, &t, dqs, 2);
}

lg_status lg_pass_fold_qdq(lg_graph *g) {
  for (int i = 0; i < g->n_nodes; i++) {
    lg_node *n = &g->nodes[i];
    if (is_op(n, "Conv"))
      LG_TRY(fold_conv(g, i));
    else if (is_op(n, "MatMul"))
      LG_TRY(fold_matmul(g, i));
  }
  return LEDGE_OK;
}
