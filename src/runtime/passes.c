/*
 * passes.c: graph rewrites. Each pass keeps the graph valid: a node it
 * removes is marked dead and its consumers are rewired first.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/model.h"

lg_status lg_pass_check_order(lg_graph *g) {
  for (int i = 0; i < g->n_nodes; i++) {
    const lg_node *n = &g->nodes[i];
    for (int k = 0; k < n->n_in; k++) {
      int v = n->in[k];
      if (v >= 0 && g->values[v].producer >= i)
        return lg_error(LEDGE_ERR_FORMAT,
                        "node '%s' reads '%s' before it is computed (cycle or bad order)", n->name,
                        g->values[v].name);
    }
  }
  return LEDGE_OK;
}

static bool is_op(const lg_node *n, const char *type) {
  return !n->dead && !strcmp(n->op_type, type) && !*n->domain;
}

static bool is_const_f32(const lg_graph *g, int v, int64_t count) {
  if (v < 0) return false;
  const lg_value *val = &g->values[v];
  return val->kind == LG_VALUE_CONSTANT && val->t.data && val->t.dtype == LEDGE_FLOAT32 &&
         (count < 0 || lg_tensor_count(&val->t) == count);
}

/* Replaces every use of value `from` by `to` in live nodes. */
static void replace_uses(lg_graph *g, int from, int to) {
  for (int i = 0; i < g->n_nodes; i++) {
    lg_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] == from) n->in[k] = to;
  }
}

static int add_const_like(lg_graph *g, const char *name, const lg_tensor *shape_of) {
  lg_tensor shape = *shape_of; /* shape_of may point into g->values, which may move */
  int v = lg_graph_add_value(g, name);
  if (v < 0) return -1;
  lg_value *val = &g->values[v];
  val->kind = LG_VALUE_CONSTANT;
  val->shape_known = true;
  val->t.dtype = LEDGE_FLOAT32;
  lg_tensor_set_shape(&val->t, shape.rank, shape.dims);
  if (lg_value_alloc_owned(val) != LEDGE_OK) return -1;
  return v;
}

/* Conv followed by BatchNormalization (inference) becomes one Conv whose
 * weights and bias absorb the normalization:
 *   W'[o] = W[o] * gamma[o] / sqrt(var[o] + eps)
 *   b'[o] = (b[o] - mean[o]) * gamma[o] / sqrt(var[o] + eps) + beta[o] */
lg_status lg_pass_fold_batchnorm(lg_graph *g) {
  for (int bi = 0; bi < g->n_nodes; bi++) {
    lg_node *bn = &g->nodes[bi];
    if (!is_op(bn, "BatchNormalization") || bn->n_in < 5) continue;
    bool extra_outputs = false;
    for (int k = 1; k < bn->n_out; k++) extra_outputs |= bn->out[k] >= 0;
    if (extra_outputs || lg_attr_int(bn, "training_mode", 0)) continue;
    int x = bn->in[0];
    if (x < 0 || g->values[x].producer < 0) continue;
    lg_node *conv = &g->nodes[g->values[x].producer];
    if (!is_op(conv, "Conv") || conv->n_out != 1 || g->values[x].is_output ||
        lg_graph_use_count(g, x) != 1)
      continue;
    if (!is_const_f32(g, conv->in[1], -1) || g->values[conv->in[1]].t.rank < 3) continue;
    int64_t cout = g->values[conv->in[1]].t.dims[0];
    bool has_bias = conv->n_in > 2 && conv->in[2] >= 0;
    if (has_bias && !is_const_f32(g, conv->in[2], cout)) continue;
    bool ok = true;
    for (int k = 1; k < 5; k++) ok &= is_const_f32(g, bn->in[k], cout);
    if (!ok) continue;
    float eps = lg_attr_float(bn, "epsilon", 1e-5f);

    int w_new = add_const_like(g, "", &g->values[conv->in[1]].t);
    int64_t bias_shape[1] = {cout};
    lg_tensor bias_like = {0};
    lg_tensor_set_shape(&bias_like, 1, bias_shape);
    int b_new = w_new >= 0 ? add_const_like(g, "", &bias_like) : -1;
    if (w_new < 0 || b_new < 0)
      return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory folding BatchNormalization");
    bn = &g->nodes[bi]; /* nodes did not move, but keep the pattern obvious */
    conv = &g->nodes[g->values[x].producer];
    const lg_tensor *w = &g->values[conv->in[1]].t;
    const float *gamma = g->values[bn->in[1]].t.data, *beta = g->values[bn->in[2]].t.data;
    const float *mean = g->values[bn->in[3]].t.data, *var = g->values[bn->in[4]].t.data;
    const float *bias = has_bias ? g->values[conv->in[2]].t.data : NULL;
    float *wn = g->values[w_new].t.data, *bnew = g->values[b_new].t.data;
    int64_t per_out = lg_tensor_count(w) / (cout ? cout : 1);
    for (int64_t o = 0; o < cout; o++) {
      float s = gamma[o] / sqrtf(var[o] + eps);
      for (int64_t j = 0; j < per_out; j++)
        wn[o * per_out + j] = ((const float *)w->data)[o * per_out + j] * s;
      bnew[o] = ((bias ? bias[o] : 0.0f) - mean[o]) * s + beta[o];
    }
    if (conv->n_in < 3) {
      int *in = lg_pool_alloc(g->pool, sizeof(int) * 3);
      if (!in) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
      in[0] = conv->in[0];
      in[1] = conv->in[1];
      conv->in = in;
      conv->n_in = 3;
    }
    conv->in[1] = w_new;
    conv->in[2] = b_new;
    int y = bn->out[0];
    conv->out[0] = y;
    g->values[y].producer = g->values[x].producer;
    bn->dead = true;
  }
  return LEDGE_OK;
}

/* Reads the activation a node computes, if it is one we can fuse. */
static bool activation_of(const lg_graph *g, const lg_node *n, lg_act *act) {
  if (n->dead || *n->domain || n->n_in < 1 || n->n_out != 1) return false;
  memset(act, 0, sizeof *act);
  const char *t = n->op_type;
  if (!strcmp(t, "Relu"))
    act->kind = LG_ACT_RELU;
  else if (!strcmp(t, "Sigmoid"))
    act->kind = LG_ACT_SIGMOID;
  else if (!strcmp(t, "Tanh"))
    act->kind = LG_ACT_TANH;
  else if (!strcmp(t, "HardSwish"))
    act->kind = LG_ACT_HARD_SWISH;
  else if (!strcmp(t, "LeakyRelu")) {
    act->kind = LG_ACT_LEAKY_RELU;
    act->alpha = lg_attr_float(n, "alpha", 0.01f);
  } else if (!strcmp(t, "HardSigmoid")) {
    act->kind = LG_ACT_HARD_SIGMOID;
    act->alpha = lg_attr_float(n, "alpha", 0.2f);
    act->beta = lg_attr_float(n, "beta", 0.5f);
  } else if (!strcmp(t, "Clip")) {
    act->kind = LG_ACT_CLIP;
    act->alpha = -INFINITY;
    act->beta = INFINITY;
    if (n->opset < 11) {
      act->alpha = lg_attr_float(n, "min", -INFINITY);
      act->beta = lg_attr_float(n, "max", INFINITY);
    } else {
      for (int k = 1; k < 3 && k < n->n_in; k++) {
        int v = n->in[k];
        if (v < 0) continue;
        if (!is_const_f32(g, v, 1)) return false;
        float x = *(const float *)g->values[v].t.data;
        if (k == 1)
          act->alpha = x;
        else
          act->beta = x;
      }
    }
  } else {
    return false;
  }
  return true;
}

/* An activation whose input is the single use of a Conv, ConvTranspose,
 * Gemm, MatMul or Add output is applied by that producer instead. Runs after
 * shape inference, so only float32 producers are fused. */
lg_status lg_pass_fuse_activations(lg_graph *g) {
  static const char *const producers[] = {"Conv", "ConvTranspose", "Gemm", "MatMul", "Add"};
  for (int ai = 0; ai < g->n_nodes; ai++) {
    lg_node *a = &g->nodes[ai];
    lg_act act;
    if (!activation_of(g, a, &act)) continue;
    int x = a->in[0];
    if (x < 0 || g->values[x].producer < 0 || g->values[x].is_output) continue;
    if (g->values[x].t.dtype != LEDGE_FLOAT32 || lg_graph_use_count(g, x) != 1) continue;
    lg_node *p = &g->nodes[g->values[x].producer];
    if (p->dead || p->act.kind != LG_ACT_NONE || p->n_out != 1 || *p->domain) continue;
    bool fusable = false;
    for (size_t k = 0; k < sizeof producers / sizeof producers[0]; k++)
      fusable |= !strcmp(p->op_type, producers[k]);
    if (!fusable) continue;
    int y = a->out[0];
    if (y < 0 || !lg_shape_equal(g->values[x].t.rank, g->values[x].t.dims, g->values[y].t.rank,
                                 g->values[y].t.dims))
      continue;
    p->act = act;
    p->out[0] = y;
    g->values[y].producer = g->values[x].producer;
    a->dead = true;
  }
  return LEDGE_OK;
}

/* Mul(x, Sigmoid(x)) is SiLU (Swish), Mul(x, HardSigmoid(x; 1/6, 0.5)) is
 * HardSwish: when x comes from a producer that can apply an activation and
 * is used by just those two nodes, the producer applies it and both nodes
 * go. EfficientNet and MobileNetV3 are made of these. */
lg_status lg_pass_fuse_swish(lg_graph *g) {
  static const char *const producers[] = {"Conv", "ConvTranspose", "Gemm", "MatMul", "Add"};
  for (int mi = 0; mi < g->n_nodes; mi++) {
    lg_node *mul = &g->nodes[mi];
    if (!is_op(mul, "Mul") || mul->n_in != 2 || mul->n_out != 1 || mul->out[0] < 0) continue;
    for (int side = 0; side < 2; side++) {
      int x = mul->in[side], sv = mul->in[1 - side];
      if (x < 0 || sv < 0 || g->values[sv].producer < 0 || g->values[x].producer < 0) continue;
      lg_node *sig = &g->nodes[g->values[sv].producer];
      /* HardSigmoid(x; 1/6, 0.5) times x is HardSwish: how exporters write
       * MobileNetV3's activation for opsets before 14. */
      bool hard = is_op(sig, "HardSigmoid") &&
                  fabsf(lg_attr_float(sig, "alpha", 0.2f) - 1.0f / 6.0f) < 1e-6f &&
                  lg_attr_float(sig, "beta", 0.5f) == 0.5f;
      if ((!is_op(sig, "Sigmoid") && !hard) || sig->n_in < 1 || sig->in[0] != x) continue;
      lg_node *p = &g->nodes[g->values[x].producer];
      bool fusable = false;
      for (size_t k = 0; k < sizeof producers / sizeof producers[0]; k++)
        fusable |= is_op(p, producers[k]);
      int y = mul->out[0];
      if (!fusable || p->act.kind != LG_ACT_NONE || p->n_out != 1 ||
          g->values[x].t.dtype != LEDGE_FLOAT32 || g->values[x].is_output ||
          g->values[sv].is_output || lg_graph_use_count(g, x) != 2 ||
          lg_graph_use_count(g, sv) != 1 ||
          !lg_shape_equal(g->values[x].t.rank, g->values[x].t.dims, g->values[y].t.rank,
                          g->values[y].t.dims))
        continue;
      p->act.kind = hard ? LG_ACT_HARD_SWISH : LG_ACT_SWISH;
      p->out[0] = y;
      g->values[y].producer = g->values[x].producer;
      sig->dead = true;
      mul->dead = true;
      break;
    }
  }
  return LEDGE_OK;
}

/* Add(Conv(...), r), the residual connection of ResNets and MobileNets,
 * becomes one Conv that adds r as it stores its output (and then takes the
 * activation after the Add, fused by lg_pass_fuse_activations). r must be
 * computed before the Conv runs and have the output's shape exactly. */
lg_status lg_pass_fuse_residual(lg_graph *g) {
  for (int ai = 0; ai < g->n_nodes; ai++) {
    lg_node *add = &g->nodes[ai];
    if (!is_op(add, "Add") || add->n_in != 2 || add->n_out != 1 || add->out[0] < 0 ||
        add->act.kind != LG_ACT_NONE)
      continue;
    for (int side = 0; side < 2; side++) {
      int x = add->in[side], r = add->in[1 - side], y = add->out[0];
      if (x < 0 || r < 0 || x == r || g->values[x].producer < 0) continue;
      int ci = g->values[x].producer;
      lg_node *conv = &g->nodes[ci];
      if (!is_op(conv, "Conv") || conv->fused_add || conv->act.kind != LG_ACT_NONE ||
          conv->n_out != 1)
        continue;
      const lg_value *xv = &g->values[x], *rv = &g->values[r];
      if (xv->t.dtype != LEDGE_FLOAT32 || rv->t.dtype != LEDGE_FLOAT32 || xv->is_output ||
          lg_graph_use_count(g, x) != 1 ||
          !lg_shape_equal(xv->t.rank, xv->t.dims, rv->t.rank, rv->t.dims) ||
          !lg_shape_equal(xv->t.rank, xv->t.dims, g->values[y].t.rank, g->values[y].t.dims) ||
          rv->producer >= ci) /* r must exist when the Conv runs */
        continue;
      int *in = lg_pool_alloc(g->pool, sizeof(int) * 4);
      if (!in) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
      for (int k = 0; k < 3; k++) in[k] = k < conv->n_in ? conv->in[k] : -1;
      in[3] = r;
      conv->in = in;
      conv->n_in = 4;
      conv->fused_add = true;
      conv->out[0] = y;
      g->values[y].producer = ci;
      add->dead = true;
      break;
    }
  }
  return LEDGE_OK;
}

/* Identity and inference-mode Dropout forward their input unchanged. */
lg_status lg_pass_eliminate_identity(lg_graph *g) {
  for (int i = 0; i < g->n_nodes; i++) {
    lg_node *n = &g->nodes[i];
    if (n->dead || *n->domain) continue;
    bool identity = !strcmp(n->op_type, "Identity");
    if (!strcmp(n->op_type, "Dropout")) {
      bool mask_used = n->n_out > 1 && n->out[1] >= 0 && lg_graph_use_count(g, n->out[1]) > 0;
      bool training = n->n_in > 2 && n->in[2] >= 0;
      identity = !mask_used && !training;
    }
    if (!identity || n->n_in < 1 || n->in[0] < 0 || n->out[0] < 0) continue;
    int x = n->in[0], y = n->out[0];
    if (g->values[y].is_output) continue; /* keep the output's name */
    replace_uses(g, y, x);
    n->dead = true;
  }
  return LEDGE_OK;
}

lg_status lg_pass_eliminate_dead(lg_graph *g) {
  int *uses = calloc((size_t)g->n_values + 1, sizeof(int));
  if (!uses) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  for (int v = 0; v < g->n_values; v++) uses[v] = g->values[v].is_output;
  for (int i = 0; i < g->n_nodes; i++)
    if (!g->nodes[i].dead)
      for (int k = 0; k < g->nodes[i].n_in; k++)
        if (g->nodes[i].in[k] >= 0) uses[g->nodes[i].in[k]]++;
  for (int i = g->n_nodes - 1; i >= 0; i--) {
    lg_node *n = &g->nodes[i];
    if (n->dead) continue;
    bool used = false;
    for (int k = 0; k < n->n_out; k++) used |= n->out[k] >= 0 && uses[n->out[k]] > 0;
    if (used) continue;
    n->dead = true;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0) uses[n->in[k]]--;
  }
  free(uses);
  return LEDGE_OK;
}
