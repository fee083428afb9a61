/*
 * engine.c: compiling an lg_graph into a training program, and running it
 * forward and backward (the layers themselves are in layers.c and
 * conv_grad.c).
 */
#include "train/engine.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/nn_common.h"

/* ---- Compilation ---- */

static tr_op op_from_type(const char *t, bool *ok) {
  static const struct {
    const char *name;
    tr_op op;
  } map[] = {{"Conv", TR_CONV},
             {"ConvTranspose", TR_CONV_TRANSPOSE},
             {"BatchNormalization", TR_BATCHNORM},
             {"Relu", TR_RELU},
             {"Clip", TR_CLIP},
             {"Relu6", TR_CLIP},
             {"LeakyRelu", TR_LEAKY_RELU},
             {"HardSwish", TR_HARD_SWISH},
             {"HardSigmoid", TR_HARD_SIGMOID},
             {"Sigmoid", TR_SIGMOID},
             {"Tanh", TR_TANH},
             {"MaxPool", TR_MAXPOOL},
             {"AveragePool", TR_AVGPOOL},
             {"GlobalAveragePool", TR_GLOBAL_AVGPOOL},
             {"Gemm", TR_GEMM},
             {"MatMul", TR_GEMM},
             {"Add", TR_ADD},
             {"Mul", TR_MUL},
             {"Concat", TR_CONCAT},
             {"Flatten", TR_RESHAPE},
             {"Reshape", TR_RESHAPE},
             {"Dropout", TR_DROPOUT},
             {"Identity", TR_IDENTITY}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (!strcmp(map[i].name, t)) {
      *ok = true;
      return map[i].op;
    }
  *ok = false;
  return TR_IDENTITY;
}

/* Which inputs of an op are parameters (trainable floats) or running stats. */
static tr_value_kind const_role(tr_op op, int input) {
  switch (op) {
    case TR_CONV:
    case TR_CONV_TRANSPOSE: return input >= 1 ? TR_PARAM : TR_CONST;
    case TR_BATCHNORM:
      return input == 1 || input == 2 ? TR_PARAM : (input >= 3 ? TR_STATE : TR_CONST);
    case TR_GEMM:
    case TR_ADD:
    case TR_MUL:
    case TR_CONCAT: return TR_PARAM;
    default: return TR_CONST;
  }
}

static void set_shape(tr_value *v, int rank, const int64_t *dims) {
  v->rank = rank;
  int64_t c = 1;
  for (int i = 0; i < rank; i++) {
    v->dims[i] = dims[i];
    c *= dims[i];
  }
  v->count = c;
}

static lg_status node_error(const lg_node *n, const char *what) {
  return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s' (%s): %s", n->name ? n->name : "?", n->op_type,
                  what);
}

/* Reads a scalar float from an optional constant input, or def. */
static float const_scalar(const lg_graph *g, const lg_node *n, int i, float def) {
  if (i >= n->n_in || n->in[i] < 0) return def;
  const lg_value *v = &g->values[n->in[i]];
  if (v->kind != LG_VALUE_CONSTANT || !v->t.data || lg_tensor_count(&v->t) < 1) return def;
  return (float)lg_tensor_get_double(&v->t, 0);
}

/* Computes the node's attributes and output shape (batch N = 1 here; the
 * batch dim is rescaled per run). */
static lg_status compile_node(tr_net *net, int gi, tr_node *nd) {
  const lg_graph *g = &net->graph;
  const lg_node *n = &g->nodes[gi];
  tr_value *vals = net->values;
  tr_value *x = &vals[n->in[0]];
  tr_value *y = &vals[n->out[0]];
  if (x->rank == 0) return node_error(n, "its input has no known shape");
  int64_t od[4] = {0};
  int orank = x->rank;
  memcpy(od, x->dims, sizeof od);
  nd->alpha = 1.0f;
  nd->beta = 1.0f;
  switch (nd->op) {
    case TR_CONV:
    case TR_CONV_TRANSPOSE: {
      if (x->rank != 4) return node_error(n, "only 2-D convolutions train");
      tr_value *w = &vals[n->in[1]];
      if (w->rank != 4) return node_error(n, "weights must be 4-D");
      int64_t group = lg_attr_int(n, "group", 1);
      tr_conv_geom *cg = &nd->geom;
      cg->group = group;
      cg->kh = w->dims[2];
      cg->kw = w->dims[3];
      if (nd->op == TR_CONV) {
        if (x->dims[1] != w->dims[1] * group || w->dims[0] % group)
          return node_error(n, "channels do not match the weights and groups");
        lg_window win;
        int64_t kern[2] = {cg->kh, cg->kw};
        LG_TRY(lg_window_init(n, 2, x->dims + 2, kern, false, &win));
        cg->c_big = x->dims[1];
        cg->h = x->dims[2];
        cg->w = x->dims[3];
        cg->c_small = w->dims[0];
        cg->oh = win.out[1];
        cg->ow = win.out[2];
        cg->sh = win.stride[1];
        cg->sw = win.stride[2];
        cg->ph = win.pad_begin[1];
        cg->pw = win.pad_begin[2];
        cg->dh = win.dilation[1];
        cg->dw = win.dilation[2];
        od[1] = cg->c_small;
        od[2] = cg->oh;
        od[3] = cg->ow;
      } else {
        if (x->dims[1] != w->dims[0] || w->dims[0] % group)
          return node_error(n, "channels do not match the weights and groups");
        const int64_t *s = NULL, *p = NULL, *d = NULL, *op = NULL;
        int ns = lg_attr_ints(n, "strides", &s), np = lg_attr_ints(n, "pads", &p);
        int nd_ = lg_attr_ints(n, "dilations", &d), nop = lg_attr_ints(n, "output_padding", &op);
        if (lg_attr_find(n, "output_shape")) return node_error(n, "output_shape is not supported");
        const char *ap = lg_attr_string(n, "auto_pad", "NOTSET");
        if (strcmp(ap, "NOTSET") && *ap) return node_error(n, "auto_pad is not supported");
        cg->sh = ns == 2 ? s[0] : 1;
        cg->sw = ns == 2 ? s[1] : 1;
        cg->dh = nd_ == 2 ? d[0] : 1;
        cg->dw = nd_ == 2 ? d[1] : 1;
        int64_t pt = np == 4 ? p[0] : 0, pl = np == 4 ? p[1] : 0, pb = np == 4 ? p[2] : 0,
                pr = np == 4 ? p[3] : 0;
        int64_t oph = nop == 2 ? op[0] : 0, opw = nop == 2 ? op[1] : 0;
        cg->c_small = x->dims[1];
        cg->oh = x->dims[2];
        cg->ow = x->dims[3];
        cg->c_big = w->dims[1] * group;
        cg->h = cg->sh * (cg->oh - 1) + oph + (cg->kh - 1) * cg->dh + 1 - pt - pb;
        cg->w = cg->sw * (cg->ow - 1) + opw + (cg->kw - 1) * cg->dw + 1 - pl - pr;
        cg->ph = pt;
        cg->pw = pl;
        if (cg->h <= 0 || cg->w <= 0) return node_error(n, "output would be empty");
        od[1] = cg->c_big;
        od[2] = cg->h;
        od[3] = cg->w;
      }
      int bi = n->n_in > 2 ? n->in[2] : -1;
      if (bi >= 0 && vals[bi].count != od[1]) return node_error(n, "bias size does not match");
      break;
    }
    case TR_BATCHNORM: {
      if (x->rank != 4 && x->rank != 2) return node_error(n, "input must be 2-D or 4-D");
      for (int i = 1; i < 5; i++)
        if (i >= n->n_in || n->in[i] < 0 || vals[n->in[i]].count != x->dims[1])
          return node_error(n, "scale, bias, mean and var must have one value per channel");
      nd->epsilon = lg_attr_float(n, "epsilon", 1e-5f);
      nd->momentum = lg_attr_float(n, "momentum", 0.9f);
      nd->saved_cap = 2 * x->dims[1];
      break;
    }
    case TR_CLIP:
      if (!strcmp(n->op_type, "Relu6")) {
        nd->alpha = 0;
        nd->beta = 6;
      } else if (lg_attr_find(n, "min") || lg_attr_find(n, "max")) {
        nd->alpha = lg_attr_float(n, "min", -FLT_MAX);
        nd->beta = lg_attr_float(n, "max", FLT_MAX);
      } else {
        nd->alpha = const_scalar(g, n, 1, -FLT_MAX);
        nd->beta = const_scalar(g, n, 2, FLT_MAX);
      }
      break;
    case TR_LEAKY_RELU: nd->alpha = lg_attr_float(n, "alpha", 0.01f); break;
    case TR_HARD_SIGMOID:
      nd->alpha = lg_attr_float(n, "alpha", 0.2f);
      nd->beta = lg_attr_float(n, "beta", 0.5f);
      break;
    case TR_RELU:
    case TR_HARD_SWISH:
    case TR_SIGMOID:
    case TR_TANH:
    case TR_IDENTITY: break;
    case TR_MAXPOOL:
    case TR_AVGPOOL: {
      if (x->rank != 4) return node_error(n, "only 2-D pooling trains");
      const int64_t *k = NULL;
      if (lg_attr_ints(n, "kernel_shape", &k) != 2)
        return node_error(n, "kernel_shape must have 2 values");
      lg_window win;
      LG_TRY(lg_window_init(n, 2, x->dims + 2, k, lg_attr_int(n, "ceil_mode", 0) != 0, &win));
      nd->pool_k[0] = k[0];
      nd->pool_k[1] = k[1];
      nd->pool_s[0] = win.stride[1];
      nd->pool_s[1] = win.stride[2];
      nd->pool_p[0] = win.pad_begin[1];
      nd->pool_p[1] = win.pad_begin[2];
      nd->pool_p[2] = win.pad_end[1];
      nd->pool_p[3] = win.pad_end[2];
      nd->pool_d[0] = win.dilation[1];
      nd->pool_d[1] = win.dilation[2];
      if (nd->op == TR_AVGPOOL && (win.dilation[1] != 1 || win.dilation[2] != 1))
        return node_error(n, "dilated average pooling is not supported");
      nd->count_include_pad = lg_attr_int(n, "count_include_pad", 0) != 0;
      if (n->n_out > 1 && n->out[1] >= 0)
        return node_error(n, "the Indices output is not supported");
      od[2] = win.out[1];
      od[3] = win.out[2];
      break;
    }
    case TR_GLOBAL_AVGPOOL:
      if (x->rank != 4) return node_error(n, "input must be 4-D");
      od[2] = od[3] = 1;
      break;
    case TR_GEMM: {
      tr_value *b = &vals[n->in[1]];
      bool matmul = !strcmp(n->op_type, "MatMul");
      if (x->rank != 2 || b->rank != 2) return node_error(n, "only 2-D matrices train");
      nd->trans_a = !matmul && lg_attr_int(n, "transA", 0);
      nd->trans_b = !matmul && lg_attr_int(n, "transB", 0);
      nd->alpha = matmul ? 1.0f : lg_attr_float(n, "alpha", 1.0f);
      nd->beta = matmul ? 1.0f : lg_attr_float(n, "beta", 1.0f);
      if (nd->trans_a) return node_error(n, "transA on the batch input is not supported");
      int64_t k = x->dims[1], kb = nd->trans_b ? b->dims[1] : b->dims[0];
      if (k != kb) return node_error(n, "inner dimensions do not match");
      od[1] = nd->trans_b ? b->dims[0] : b->dims[1];
      if (n->n_in > 2 && n->in[2] >= 0) {
        tr_value *c = &vals[n->in[2]];
        if (c->kind == TR_ACTIVATION || c->rank > 2 ||
            (c->rank >= 1 && c->dims[c->rank - 1] != od[1] && c->dims[c->rank - 1] != 1) ||
            (c->rank == 2 && c->dims[0] != 1))
          return node_error(n, "C must be a constant vector broadcast over the batch");
      }
      break;
    }
    case TR_ADD:
    case TR_MUL: {
      tr_value *b = &vals[n->in[1]];
      /* The batch dim of activations is 1 here; broadcast logically. */
      int r;
      int64_t bd[LEDGE_MAX_RANK];
      if (x->kind != TR_ACTIVATION && b->kind == TR_ACTIVATION)
        return node_error(n, "put the activation first");
      LG_TRY(lg_broadcast_shape(x->rank, x->dims, b->rank, b->dims, &r, bd));
      if (r != x->rank) return node_error(n, "the constant operand may not add dimensions");
      for (int i = 0; i < r; i++) od[i] = bd[i];
      if (b->kind == TR_ACTIVATION && b->rank != x->rank)
        return node_error(n, "activations of different ranks");
      break;
    }
    case TR_CONCAT: {
      int64_t axis = lg_attr_int(n, "axis", 1);
      int a;
      if (!lg_normalize_axis(axis, x->rank, &a) || a == 0) return node_error(n, "bad axis");
      nd->axis = a;
      od[a] = 0;
      for (int i = 0; i < n->n_in; i++) {
        tr_value *v = &vals[n->in[i]];
        if (v->rank != x->rank || v->kind != TR_ACTIVATION)
          return node_error(n, "inputs must be activations of one rank");
        for (int d = 1; d < x->rank; d++)
          if (d != a && v->dims[d] != x->dims[d]) return node_error(n, "input shapes differ");
        od[a] += v->dims[a];
      }
      break;
    }
    case TR_RESHAPE: {
      int64_t per = x->count; /* batch is 1 here */
      if (!strcmp(n->op_type, "Flatten")) {
        if (lg_attr_int(n, "axis", 1) != 1) return node_error(n, "only axis 1 trains");
        orank = 2;
        od[0] = 1;
        od[1] = per;
      } else {
        if (n->n_in < 2 || n->in[1] < 0) return node_error(n, "needs a shape");
        const lg_value *sv = &g->values[n->in[1]];
        if (sv->kind != LG_VALUE_CONSTANT || !sv->t.data)
          return node_error(n, "the shape must be constant");
        int64_t cnt = lg_tensor_count(&sv->t);
        if (cnt < 1 || cnt > 4) return node_error(n, "target rank must be 1 to 4");
        orank = (int)cnt;
        if (orank == 1) return node_error(n, "a reshape must keep the batch dimension");
        int64_t known = 1;
        int infer = -1;
        od[0] = 1; /* the batch is kept, whatever the model says */
        for (int i = 1; i < orank; i++) {
          int64_t d = lg_tensor_get_int(&sv->t, i);
          if (d == 0) d = i < x->rank ? x->dims[i] : 1;
          if (d == -1) {
            infer = i;
            d = 1;
          }
          od[i] = d;
          known *= d;
        }
        if (infer >= 0) od[infer] = known ? per / known : 0;
        int64_t c = 1;
        for (int i = 1; i < orank; i++) c *= od[i];
        if (c != per) return node_error(n, "the shape does not keep the element count per sample");
      }
      break;
    }
    case TR_DROPOUT:
      nd->ratio = lg_attr_float(n, "ratio", const_scalar(g, n, 1, 0.5f));
      if (nd->ratio < 0 || nd->ratio >= 1) return node_error(n, "ratio must be in [0, 1)");
      break;
  }
  for (int i = 1; i < n->n_out; i++)
    if (n->out[i] >= 0 && lg_graph_use_count(g, n->out[i]) > 0)
      return node_error(n, "only the first output may be used");
  set_shape(y, orank, od);
  y->kind = TR_ACTIVATION;
  return LEDGE_OK;
}

static lg_status take_param(tr_net *net, int vi, tr_value_kind role) {
  tr_value *v = &net->values[vi];
  lg_value *gv = &net->graph.values[vi];
  if (v->kind == TR_PARAM || v->kind == TR_STATE) return LEDGE_OK;
  if (gv->t.dtype != LEDGE_FLOAT32 || !gv->t.data)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "constant '%s' must be float32 to train", gv->name);
  if (!gv->owned) { /* copy weights out of the mapped file so they can change */
    void *old = gv->t.data;
    size_t bytes = lg_tensor_bytes(&gv->t);
    LG_TRY(lg_value_alloc_owned(gv));
    memcpy(gv->owned, old, bytes);
  }
  v->kind = role;
  v->data = gv->owned;
  v->lr_mult = 1.0f;
  v->decay = gv->t.rank >= 2;
  return LEDGE_OK;
}

static lg_status alloc_value(tr_net *net, tr_value *v) {
  int64_t per = v->count; /* at batch 1 */
  v->capacity = per * net->max_batch;
  v->data = lg_aligned_alloc(sizeof(float) * (size_t)(v->capacity + 1));
  if (!v->data) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory for activations");
  if (v->needs_grad) {
    v->grad = lg_aligned_alloc(sizeof(float) * (size_t)(v->capacity + 1));
    if (!v->grad) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory for gradients");
  }
  return LEDGE_OK;
}

static int find_node_named(const lg_graph *g, const char *name) {
  for (int i = 0; i < g->n_nodes; i++) {
    const lg_node *n = &g->nodes[i];
    if (n->dead) continue;
    if (n->name && !strcmp(n->name, name)) return i;
    for (int k = 0; k < n->n_out; k++)
      if (n->out[k] >= 0 && g->values[n->out[k]].name && !strcmp(g->values[n->out[k]].name, name))
        return i;
  }
  return -1;
}

lg_status tr_net_compile(lg_graph *graph, const tr_compile_opts *opts, tr_net **out) {
  *out = NULL;
  tr_net *net = calloc(1, sizeof *net);
  if (!net) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  net->graph = *graph;
  memset(graph, 0, sizeof *graph);
  lg_graph *g = &net->graph;
  lg_status st = LEDGE_OK;
  net->max_batch = opts->max_batch > 0 ? opts->max_batch : 1;
  net->rng = 0x9E3779B97F4A7C15ull;
  net->values = calloc((size_t)g->n_values + 1, sizeof(tr_value));
  net->nodes = calloc((size_t)g->n_nodes + 1, sizeof(tr_node));
  net->params = calloc((size_t)g->n_values + 1, sizeof(int));
  net->states = calloc((size_t)g->n_values + 1, sizeof(int));
  if (!net->values || !net->nodes || !net->params || !net->states) {
    st = lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
    goto fail;
  }
  net->n_values = g->n_values;
  for (int i = 0; i < g->n_values; i++) {
    net->values[i].kind = TR_CONST;
    net->values[i].graph_value = i;
    net->values[i].lr_mult = 1.0f;
    const lg_value *gv = &g->values[i];
    if (gv->kind == LG_VALUE_CONSTANT)
      set_shape(&net->values[i], gv->t.rank <= 4 ? gv->t.rank : 0, gv->t.dims);
  }
  /* The image input: the first non-constant graph input. */
  net->input = -1;
  for (int i = 0; i < g->n_inputs; i++)
    if (g->values[g->inputs[i]].kind == LG_VALUE_INPUT) {
      net->input = g->inputs[i];
      break;
    }
  if (net->input < 0 || g->n_outputs < 1) {
    st = lg_error(LEDGE_ERR_INVALID_ARGUMENT, "the network needs an input and an output");
    goto fail;
  }
  {
    const lg_value *in = &g->values[net->input];
    if (in->t.rank != 4 || in->t.dims[1] <= 0 || in->t.dims[2] <= 0 || in->t.dims[3] <= 0) {
      char buf[64];
      st = lg_error(LEDGE_ERR_SHAPE,
                    "input '%s' must be N x C x H x W with known C, H, W (it is %s)", in->name,
                    lg_shape_str(in->t.rank, in->t.dims, buf, sizeof buf));
      goto fail;
    }
    int64_t d[4] = {1, in->t.dims[1], in->t.dims[2], in->t.dims[3]};
    net->in_c = d[1];
    net->in_h = d[2];
    net->in_w = d[3];
    set_shape(&net->values[net->input], 4, d);
    net->values[net->input].kind = TR_INPUT;
  }
  net->output = g->outputs[0];

  int freeze_node = -1;
  if (opts->freeze_until && *opts->freeze_until) {
    freeze_node = find_node_named(g, opts->freeze_until);
    if (freeze_node < 0) {
      st = lg_error(LEDGE_ERR_INVALID_ARGUMENT, "no layer named '%s' to freeze up to",
                    opts->freeze_until);
      goto fail;
    }
  }

  for (int i = 0; i < g->n_nodes; i++) {
    const lg_node *n = &g->nodes[i];
    if (n->dead) continue;
    tr_node *nd = &net->nodes[net->n_nodes];
    bool ok;
    nd->op = op_from_type(n->op_type, &ok);
    nd->graph_node = i;
    nd->name = n->name ? n->name : n->op_type;
    if (!ok || (n->domain && *n->domain)) {
      st = node_error(n, "this operator has no backward pass in ledge train");
      goto fail;
    }
    if (n->act.kind != LG_ACT_NONE || n->fused_add) {
      st = node_error(n, "fused operators cannot train");
      goto fail;
    }
    if (n->n_in < 1 || n->in[0] < 0 || n->n_out < 1 || n->out[0] < 0) {
      st = node_error(n, "missing input or output");
      goto fail;
    }
    nd->frozen = i <= freeze_node;
    int n_in = nd->op == TR_RESHAPE || nd->op == TR_CLIP || nd->op == TR_DROPOUT ? 1 : n->n_in;
    if (n_in > 8) {
      st = node_error(n, "too many inputs");
      goto fail;
    }
    nd->n_in = n_in;
    nd->n_out = 1;
    nd->out[0] = n->out[0];
    for (int k = 0; k < n_in; k++) {
      int vi = n->in[k];
      nd->in[k] = vi;
      if (vi < 0) {
        if (k < 2) {
          st = node_error(n, "missing input");
          goto fail;
        }
        continue;
      }
      if (g->values[vi].kind == LG_VALUE_CONSTANT) {
        tr_value_kind role = const_role(nd->op, k);
        if (role == TR_CONST) {
          st = node_error(n, "a constant where an activation is expected");
          goto fail;
        }
        if ((st = take_param(net, vi, role)) != LEDGE_OK) goto fail;
        if (role == TR_PARAM && nd->frozen) net->values[vi].frozen = true;
        if (role == TR_PARAM && opts->head_first_node >= 0 && i < opts->head_first_node)
          net->values[vi].lr_mult = opts->backbone_lr_mult;
      } else if (net->values[vi].kind != TR_ACTIVATION && net->values[vi].kind != TR_INPUT) {
        st = node_error(n, "an input has not been computed before this node");
        goto fail;
      }
    }
    if (nd->op == TR_GEMM && net->values[nd->in[1]].kind == TR_ACTIVATION &&
        net->values[nd->in[0]].kind != TR_ACTIVATION && net->values[nd->in[0]].kind != TR_INPUT) {
      st = node_error(n, "the first operand must be the activation");
      goto fail;
    }
    if ((st = compile_node(net, i, nd)) != LEDGE_OK) goto fail;
    net->n_nodes++;
  }
  if (net->values[net->output].kind != TR_ACTIVATION ||
      (!opts->any_output && net->values[net->output].rank != 2)) {
    st = lg_error(LEDGE_ERR_SHAPE, "the network's output must be 2-D logits [N x classes]");
    goto fail;
  }
  net->n_classes = (int)net->values[net->output].dims[1];

  /* Parameters, their gradients, and where gradients flow. */
  for (int i = 0; i < net->n_values; i++) {
    tr_value *v = &net->values[i];
    if (v->kind == TR_PARAM) {
      net->params[net->n_params++] = i;
      v->needs_grad = !v->frozen;
      if (v->needs_grad) {
        v->grad = lg_aligned_alloc(sizeof(float) * (size_t)(v->count + 1));
        if (!v->grad) {
          st = lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
          goto fail;
        }
      }
    } else if (v->kind == TR_STATE) {
      net->states[net->n_states++] = i;
    }
  }
  for (int k = 0; k < net->n_nodes; k++) {
    tr_node *nd = &net->nodes[k];
    bool any = false;
    for (int i = 0; i < nd->n_in; i++)
      if (nd->in[i] >= 0 && net->values[nd->in[i]].needs_grad) any = true;
    net->values[nd->out[0]].needs_grad = any;
  }
  if ((st = alloc_value(net, &net->values[net->input])) != LEDGE_OK) goto fail;
  net->values[net->output].needs_grad = true; /* the loss writes its gradient */
  for (int k = 0; k < net->n_nodes; k++) {
    tr_node *nd = &net->nodes[k];
    tr_value *y = &net->values[nd->out[0]];
    if ((st = alloc_value(net, y)) != LEDGE_OK) goto fail;
    if (nd->op == TR_DROPOUT) nd->saved_cap = y->capacity;
    if (nd->saved_cap) {
      nd->saved = calloc((size_t)nd->saved_cap, sizeof(float));
      if (!nd->saved) {
        st = lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
        goto fail;
      }
    }
    if (nd->op == TR_MAXPOOL) {
      nd->argmax = calloc((size_t)y->capacity + 1, sizeof(int32_t));
      if (!nd->argmax) {
        st = lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
        goto fail;
      }
    }
  }
  if ((st = lg_threadpool_create(opts->threads, &net->pool)) != LEDGE_OK) goto fail;
  net->training = true;
  *out = net;
  return LEDGE_OK;
fail:
  tr_net_destroy(net);
  return st;
}

void tr_net_destroy(tr_net *net) {
  if (!net) return;
  for (int i = 0; i < net->n_values; i++) {
    tr_value *v = &net->values[i];
    if (v->kind == TR_ACTIVATION || v->kind == TR_INPUT) lg_aligned_free(v->data);
    lg_aligned_free(v->grad);
  }
  for (int k = 0; k < net->n_nodes; k++) {
    free(net->nodes[k].saved);
    free(net->nodes[k].argmax);
  }
  if (net->pool) lg_threadpool_destroy(net->pool);
  free(net->values);
  free(net->nodes);
  free(net->params);
  free(net->states);
  free(net->scratch);
  lg_graph_free(&net->graph);
  free(net);
}

void tr_net_set_training(tr_net *net, bool training) { net->training = training; }

/* ---- Running ---- */

static void set_batch(tr_net *net, int64_t n) {
  net->batch = n;
  for (int i = 0; i < net->n_values; i++) {
    tr_value *v = &net->values[i];
    if (v->kind != TR_ACTIVATION && v->kind != TR_INPUT) continue;
    if (v->rank == 0 || !v->data) continue;
    int64_t per = v->capacity / net->max_batch;
    v->dims[0] = n;
    v->count = per * n;
  }
}

lg_status tr_net_forward(tr_net *net, const float *images, int64_t n) {
  if (n < 1 || n > net->max_batch)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "batch of %lld images, the network takes 1 to %lld",
                    (long long)n, (long long)net->max_batch);
  set_batch(net, n);
  /* NCHW -> CNHW */
  tr_value *x = &net->values[net->input];
  int64_t c = net->in_c, hw = net->in_h * net->in_w;
  for (int64_t i = 0; i < n; i++)
    for (int64_t ch = 0; ch < c; ch++)
      memcpy(x->data + (ch * n + i) * hw, images + (i * c + ch) * hw, sizeof(float) * (size_t)hw);
  for (int k = 0; k < net->n_nodes; k++) {
    tr_node *nd = &net->nodes[k];
    nd->train_mode = net->training && !(nd->op == TR_BATCHNORM && nd->frozen);
    tr_forward_node(net, nd);
  }
  return LEDGE_OK;
}

const float *tr_net_logits(const tr_net *net) { return net->values[net->output].data; }

double tr_net_loss(tr_net *net, const int32_t *labels, float smoothing, bool grad,
                   int64_t *correct) {
  tr_value *y = &net->values[net->output];
  int64_t n = net->batch, k = net->n_classes;
  double total = 0;
  int64_t hits = 0;
  for (int64_t i = 0; i < n; i++) {
    const float *z = y->data + i * k;
    float mx = z[0];
    int64_t arg = 0;
    for (int64_t j = 1; j < k; j++)
      if (z[j] > mx) {
        mx = z[j];
        arg = j;
      }
    hits += arg == labels[i];
    double s = 0;
    for (int64_t j = 0; j < k; j++) s += exp((double)z[j] - mx);
    double lse = log(s) + mx;
    double off = smoothing / (double)k, on = 1.0 - smoothing + off;
    for (int64_t j = 0; j < k; j++) {
      double q = j == labels[i] ? on : off;
      double logp = (double)z[j] - lse;
      if (q > 0) total -= q * logp;
      if (grad) y->grad[i * k + j] = (float)((exp(logp) - q) / (double)n);
    }
  }
  if (correct) *correct = hits;
  return total / (double)n;
}

lg_status tr_net_backward(tr_net *net) {
  for (int i = 0; i < net->n_values; i++) {
    tr_value *v = &net->values[i];
    if (!v->grad || i == net->output) continue;
    memset(v->grad, 0, sizeof(float) * (size_t)v->count);
  }
  for (int k = net->n_nodes - 1; k >= 0; k--) {
    tr_node *nd = &net->nodes[k];
    if (!net->values[nd->out[0]].needs_grad) continue;
    tr_backward_node(net, nd);
  }
  return LEDGE_OK;
}

int64_t tr_net_param_count(const tr_net *net, bool trainable_only) {
  int64_t c = 0;
  for (int i = 0; i < net->n_params; i++) {
    const tr_value *v = &net->values[net->params[i]];
    if (!trainable_only || !v->frozen) c += v->count;
  }
  return c;
}
