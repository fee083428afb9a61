/*
 * tfjs_layers.c: Keras layers models (TF.js "layers-model", model_config)
 * -> lg_graph, with the same layout tracking and helpers as graph models.
 *
 * Functional models (class Model / Functional, layers with inbound_nodes)
 * and Sequential models are read. Weights are found by "<layer>/<weight>"
 * (or a name ending so). Tensors are keyed "<layer>" for a layer's first
 * call and "<layer>:<node>:<tensor>" otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/tfjs_internal.h"

typedef struct lctx {
  tfjs_im *im;
  const lg_json *layer, *cfg;
  const char *name, *cls;
  tf_ref *in[64];
  int n_in;
  char key[512]; /* the output tensor key */
} lctx;

static lg_status set_out(lctx *c, int nhwc, int nchw, int rank) {
  if (nhwc < 0 && nchw < 0) return LEDGE_ERR_FORMAT;
  return tf_ref_add(c->im, c->key, nhwc, nchw, rank) < 0 ? LEDGE_ERR_NO_MEMORY : LEDGE_OK;
}

#define CHECK_V(v)                           \
  do {                                       \
    if ((v) < 0) return LEDGE_ERR_FORMAT;   \
  } while (0)

/* ---- config access ---- */

static const lg_json *cfg(const lctx *c, const char *k) { return lg_json_get(c->cfg, k); }

static int64_t cfg_int(const lctx *c, const char *k, int64_t def) {
  int64_t v;
  return lg_json_int(cfg(c, k), &v) ? v : def;
}

static double cfg_num(const lctx *c, const char *k, double def) {
  double v;
  return lg_json_double(cfg(c, k), &v) ? v : def;
}

static const char *cfg_str(const lctx *c, const char *k, const char *def) {
  const char *s = lg_json_str(cfg(c, k));
  return s ? s : def;
}

/* A pair like kernel_size / strides: [a, b] or a single integer. */
static bool cfg_pair(const lctx *c, const char *k, int64_t out[2], int64_t def) {
  const lg_json *v = cfg(c, k);
  if (!v || v->type == LG_JSON_NULL) {
    out[0] = out[1] = def;
    return true;
  }
  if (lg_json_int(v, &out[0])) {
    out[1] = out[0];
    return out[0] > 0;
  }
  if (v->type != LG_JSON_ARRAY || v->n != 2 || !lg_json_int(&v->items[0], &out[0]) ||
      !lg_json_int(&v->items[1], &out[1]))
    return false;
  return out[0] > 0 && out[1] > 0;
}

static lg_status check_channels_last(lctx *c) {
  const char *df = cfg_str(c, "data_format", "channels_last");
  if (strcmp(df, "channels_last"))
    return lg_error(LEDGE_ERR_UNSUPPORTED, "layer '%s' (%s): data_format %s is not supported", c->name, c->cls, df);
  return LEDGE_OK;
}

/* The constant weight "<layer>/<w>", or -1 (no error set) if absent. */
static int weight(lctx *c, const char *w) {
  char k[600];
  snprintf(k, sizeof k, "%s/%s", c->name, w);
  int v = lg_name_map_get(&c->im->weights, k);
  if (v >= 0) return v;
  /* Some exports prefix the model name: find "<prefix>/<layer>/<w>". */
  const lg_name_map *m = &c->im->weights;
  size_t kl = strlen(k);
  for (size_t i = 0; i < m->cap; i++) {
    const char *key = m->keys[i];
    if (!key) continue;
    size_t n = strlen(key);
    if (n > kl && key[n - kl - 1] == '/' && !strcmp(key + n - kl, k)) return m->vals[i];
  }
  return -1;
}

static lg_status need_weight(lctx *c, const char *w, int *v) {
  *v = weight(c, w);
  if (*v < 0) return lg_error(LEDGE_ERR_FORMAT, "layer '%s' (%s): weight '%s/%s' is missing", c->name, c->cls, c->name, w);
  return LEDGE_OK;
}

static lg_status activation_of(const char *name, tf_act *act, float *alpha) {
  *alpha = 0;
  static const struct { const char *n; tf_act a; } map[] = {
      {"linear", TF_ACT_NONE}, {"relu", TF_ACT_RELU}, {"relu6", TF_ACT_RELU6}, {"sigmoid", TF_ACT_SIGMOID},
      {"tanh", TF_ACT_TANH}, {"elu", TF_ACT_ELU}, {"softmax", TF_ACT_SOFTMAX}, {"swish", TF_ACT_SWISH},
      {"silu", TF_ACT_SWISH}, {"hard_sigmoid", TF_ACT_HARD_SIGMOID}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (!strcmp(map[i].n, name)) {
      *act = map[i].a;
      return LEDGE_OK;
    }
  return lg_error(LEDGE_ERR_UNSUPPORTED, "activation '%s' is not supported", name);
}

/* Applies the layer's "activation" to y (layout kept); hint names the result. */
static int layer_act(lctx *c, int y, bool nchw, const char *hint) {
  tf_act act = TF_ACT_NONE;
  float alpha = 0;
  if (activation_of(cfg_str(c, "activation", "linear"), &act, &alpha) != LEDGE_OK) {
    lg_error_context(LEDGE_ERR_UNSUPPORTED, "layer '%s' (%s): ", c->name, c->cls);
    return -1;
  }
  if (act == TF_ACT_SOFTMAX && nchw) {
    lg_error(LEDGE_ERR_UNSUPPORTED, "layer '%s': softmax on a 4-D convolution output is not supported", c->name);
    return -1;
  }
  return tf_apply_act(c->im, y, act, alpha, hint);
}

static void hint_nchw(lctx *c, char *buf, size_t size) { snprintf(buf, size, "%s#nchw", c->key); }

/* ---- layers ---- */

static lg_status l_input(lctx *c) {
  tfjs_im *im = c->im;
  const lg_json *shape = cfg(c, "batch_input_shape");
  if (!shape) shape = cfg(c, "batch_shape");
  if (!shape || shape->type != LG_JSON_ARRAY || shape->n > LEDGE_MAX_RANK)
    return lg_error(LEDGE_ERR_FORMAT, "input layer '%s' has no batch_input_shape", c->name);
  int v = lg_graph_add_value(im->g, c->name);
  if (v < 0) return LEDGE_ERR_NO_MEMORY;
  lg_value *val = &im->g->values[v];
  val->kind = LG_VALUE_INPUT;
  const char *dt = cfg_str(c, "dtype", "float32");
  val->t.dtype = !strcmp(dt, "int32") ? LEDGE_INT32 : LEDGE_FLOAT32;
  val->t.rank = shape->n;
  bool known = true;
  for (int i = 0; i < shape->n; i++) {
    int64_t d;
    if (!lg_json_int(&shape->items[i], &d) || d < 0) d = -1, known = false;
    val->t.dims[i] = d;
  }
  val->shape_known = known;
  lg_graph *g = im->g;
  int *ni = lg_pool_alloc(g->pool, sizeof(int) * (size_t)(g->n_inputs + 1));
  if (!ni) return TF_NOMEM();
  if (g->n_inputs) memcpy(ni, g->inputs, sizeof(int) * (size_t)g->n_inputs);
  ni[g->n_inputs++] = v;
  g->inputs = ni;
  return set_out(c, v, -1, shape->n);
}

static lg_status l_conv(lctx *c) {
  tfjs_im *im = c->im;
  LG_TRY(check_channels_last(c));
  bool depthwise = !strcmp(c->cls, "DepthwiseConv2D"), separable = !strcmp(c->cls, "SeparableConv2D");
  int64_t ks[2], st[2], dl[2];
  if (!cfg_pair(c, "kernel_size", ks, 0) || !cfg_pair(c, "strides", st, 1) || !cfg_pair(c, "dilation_rate", dl, 1))
    return lg_error(LEDGE_ERR_FORMAT, "layer '%s' (%s): bad kernel_size, strides or dilation_rate", c->name, c->cls);
  if (cfg_int(c, "groups", 1) != 1) return lg_error(LEDGE_ERR_UNSUPPORTED, "layer '%s': grouped convolution is not supported", c->name);
  const char *pad = cfg_str(c, "padding", "valid");
  bool same = !strcmp(pad, "same");
  if (!same && strcmp(pad, "valid")) return lg_error(LEDGE_ERR_UNSUPPORTED, "layer '%s': padding %s is not supported", c->name, pad);
  int x = tf_nchw(im, c->in[0]);
  CHECK_V(x);
  int kernel, bias = -1;
  if (cfg(c, "use_bias") == NULL || cfg(c, "use_bias")->type == LG_JSON_TRUE) LG_TRY(need_weight(c, "bias", &bias));
  char h[600];
  bool has_act = strcmp(cfg_str(c, "activation", "linear"), "linear") != 0;
  if (separable) {
    int pw;
    LG_TRY(need_weight(c, "depthwise_kernel", &kernel));
    LG_TRY(need_weight(c, "pointwise_kernel", &pw));
    snprintf(h, sizeof h, "%s/depthwise", c->key);
    int64_t one[2] = {1, 1};
    x = tf_conv(im, x, kernel, -1, 1, st, dl, same, NULL, h);
    CHECK_V(x);
    if (has_act) snprintf(h, sizeof h, "%s/conv", c->key);
    else hint_nchw(c, h, sizeof h);
    x = tf_conv(im, x, pw, bias, 0, one, one, true, NULL, h);
  } else {
    LG_TRY(need_weight(c, depthwise ? "depthwise_kernel" : "kernel", &kernel));
    if (has_act) snprintf(h, sizeof h, "%s/conv", c->key);
    else hint_nchw(c, h, sizeof h);
    x = tf_conv(im, x, kernel, bias, depthwise ? 1 : 0, st, dl, same, NULL, h);
  }
  CHECK_V(x);
  if (has_act) {
    hint_nchw(c, h, sizeof h);
    x = layer_act(c, x, true, h);
    CHECK_V(x);
  }
  return set_out(c, -1, x, 4);
}

static lg_status l_batchnorm(lctx *c) {
  tfjs_im *im = c->im;
  tf_ref *r = c->in[0];
  int64_t axis = cfg_int(c, "axis", -1);
  const lg_json *ax = cfg(c, "axis");
  if (ax && ax->type == LG_JSON_ARRAY && ax->n == 1) lg_json_int(&ax->items[0], &axis);
  int mean, var, gamma = weight(c, "gamma"), beta = weight(c, "beta");
  LG_TRY(need_weight(c, "moving_mean", &mean));
  LG_TRY(need_weight(c, "moving_variance", &var));
  const lg_tensor *mt = tf_const(im, mean);
  if (!mt || mt->rank != 1) return lg_error(LEDGE_ERR_FORMAT, "layer '%s': moving_mean must be 1-D", c->name);
  int64_t C = mt->dims[0];
  if (gamma < 0 || beta < 0) {
    float *ones = malloc(sizeof(float) * (size_t)(C ? C : 1));
    if (!ones) return TF_NOMEM();
    for (int64_t i = 0; i < C; i++) ones[i] = 1.0f;
    if (gamma < 0) gamma = tf_const_new(im, c->name, LEDGE_FLOAT32, 1, &C, ones);
    if (beta < 0) beta = tf_const_new(im, c->name, LEDGE_FLOAT32, 1, &C, NULL);
    free(ones);
    CHECK_V(gamma);
    CHECK_V(beta);
  }
  bool last = axis == -1 || (r->rank > 0 && axis == r->rank - 1);
  if (!last) return lg_error(LEDGE_ERR_UNSUPPORTED, "layer '%s': batch norm over axis %lld is not supported", c->name, (long long)axis);
  char h[600];
  int x, y, n;
  if (r->rank == 4) {
    x = tf_nchw(im, r);
    CHECK_V(x);
    hint_nchw(c, h, sizeof h);
    int ins[5] = {x, gamma, beta, mean, var};
    n = tf_node(im, "BatchNormalization", h, 5, ins, 1, &y);
    CHECK_V(n);
    LG_TRY(tf_attr_float(im, n, "epsilon", (float)cfg_num(c, "epsilon", 1e-3)));
    return set_out(c, -1, y, 4);
  }
  /* Rank 2 (after Dense): BatchNormalization treats axis 1 as channels. */
  x = tf_nhwc(im, r);
  CHECK_V(x);
  int ins[5] = {x, gamma, beta, mean, var};
  n = tf_node(im, "BatchNormalization", c->key, 5, ins, 1, &y);
  CHECK_V(n);
  LG_TRY(tf_attr_float(im, n, "epsilon", (float)cfg_num(c, "epsilon", 1e-3)));
  return set_out(c, y, -1, r->rank);
}

static lg_status l_activation(lctx *c) {
  tfjs_im *im = c->im;
  tf_ref *r = c->in[0];
  tf_act act = TF_ACT_NONE;
  float alpha = 0;
  if (!strcmp(c->cls, "Activation")) {
    LG_TRY(activation_of(cfg_str(c, "activation", "linear"), &act, &alpha));
  } else if (!strcmp(c->cls, "ReLU")) {
    const lg_json *mv = cfg(c, "max_value");
    double slope = cfg_num(c, "negative_slope", 0), thr = cfg_num(c, "threshold", 0);
    if (slope != 0 || thr != 0)
      return lg_error(LEDGE_ERR_UNSUPPORTED, "layer '%s' (ReLU): negative_slope and threshold are not supported", c->name);
    double m;
    if (mv && mv->type != LG_JSON_NULL && lg_json_double(mv, &m)) act = TF_ACT_CLIP, alpha = (float)m;
    else act = TF_ACT_RELU;
  } else if (!strcmp(c->cls, "LeakyReLU")) {
    act = TF_ACT_LEAKY, alpha = (float)cfg_num(c, "alpha", 0.3);
  } else if (!strcmp(c->cls, "Softmax")) {
    if (cfg_int(c, "axis", -1) != -1) return lg_error(LEDGE_ERR_UNSUPPORTED, "layer '%s': softmax axis must be -1", c->name);
    act = TF_ACT_SOFTMAX;
  } else if (!strcmp(c->cls, "ELU")) {
    act = TF_ACT_ELU;
  }
  bool nchw = r->nchw >= 0 && act != TF_ACT_SOFTMAX;
  if (act == TF_ACT_NONE) return set_out(c, r->nhwc, r->nchw, r->rank);
  int x = nchw ? r->nchw : tf_nhwc(im, r);
  CHECK_V(x);
  char h[600];
  if (nchw) hint_nchw(c, h, sizeof h);
  else snprintf(h, sizeof h, "%s", c->key);
  int y = tf_apply_act(im, x, act, alpha, h);
  CHECK_V(y);
  return set_out(c, nchw ? -1 : y, nchw ? y : -1, r->rank);
}

static lg_status l_zero_pad(lctx *c) {
  tfjs_im *im = c->im;
  LG_TRY(check_channels_last(c));
  const lg_json *p = cfg(c, "padding");
  int64_t t = 1, b = 1, l = 1, r = 1, v;
  if (p && lg_json_int(p, &v)) t = b = l = r = v;
  else if (p && p->type == LG_JSON_ARRAY && p->n == 2) {
    const lg_json *a = &p->items[0], *bb = &p->items[1];
    if (lg_json_int(a, &t) && lg_json_int(bb, &l)) b = t, r = l;
    else if (a->type == LG_JSON_ARRAY && bb->type == LG_JSON_ARRAY && a->n == 2 && bb->n == 2 &&
             lg_json_int(&a->items[0], &t) && lg_json_int(&a->items[1], &b) && lg_json_int(&bb->items[0], &l) &&
             lg_json_int(&bb->items[1], &r)) {
    } else return lg_error(LEDGE_ERR_FORMAT, "layer '%s' (ZeroPadding2D): bad padding", c->name);
  }
  int x = tf_nchw(im, c->in[0]);
  CHECK_V(x);
  int64_t pads[8] = {0, 0, t, l, 0, 0, b, r};
  int ins[2] = {x, tf_const_i64(im, 8, pads)};
  char h[600];
  hint_nchw(c, h, sizeof h);
  int y = tf_op1(im, "Pad", h, 2, ins);
  CHECK_V(y);
  return set_out(c, -1, y, 4);
}

static lg_status l_pool(lctx *c) {
  tfjs_im *im = c->im;
  LG_TRY(check_channels_last(c));
  bool max = strstr(c->cls, "Max") != NULL;
  char h[600];
  hint_nchw(c, h, sizeof h);
  if (!strncmp(c->cls, "Global", 6)) {
    int x = tf_nchw(im, c->in[0]);
    CHECK_V(x);
    bool keep = cfg(c, "keepdims") && cfg(c, "keepdims")->type == LG_JSON_TRUE;
    int64_t axes[2] = {2, 3};
    int y;
    int n = tf_node(im, max ? "ReduceMax" : "ReduceMean", keep ? h : c->key, 1, &x, 1, &y);
    CHECK_V(n);
    LG_TRY(tf_attr_ints(im, n, "axes", 2, axes));
    LG_TRY(tf_attr_int(im, n, "keepdims", keep));
    return keep ? set_out(c, -1, y, 4) : set_out(c, y, -1, 2);
  }
  int64_t ps[2], st[2];
  if (!cfg_pair(c, "pool_size", ps, 2)) return lg_error(LEDGE_ERR_FORMAT, "layer '%s': bad pool_size", c->name);
  if (!cfg_pair(c, "strides", st, 0)) return lg_error(LEDGE_ERR_FORMAT, "layer '%s': bad strides", c->name);
  if (st[0] == 0) st[0] = ps[0], st[1] = ps[1];
  const char *pad = cfg_str(c, "padding", "valid");
  int x = tf_nchw(im, c->in[0]);
  CHECK_V(x);
  int y;
  int n = tf_node(im, max ? "MaxPool" : "AveragePool", h, 1, &x, 1, &y);
  CHECK_V(n);
  LG_TRY(tf_attr_ints(im, n, "kernel_shape", 2, ps));
  LG_TRY(tf_attr_ints(im, n, "strides", 2, st));
  LG_TRY(tf_attr_str(im, n, "auto_pad", !strcmp(pad, "same") ? "SAME_UPPER" : "VALID"));
  return set_out(c, -1, y, 4);
}

static lg_status l_merge(lctx *c) {
  tfjs_im *im = c->im;
  if (c->n_in < 1) return lg_error(LEDGE_ERR_FORMAT, "layer '%s' (%s) has no inputs", c->name, c->cls);
  bool concat = !strcmp(c->cls, "Concatenate");
  bool nchw = true;
  for (int i = 0; i < c->n_in; i++) nchw &= c->in[i]->rank == 4;
  bool any = false;
  for (int i = 0; i < c->n_in; i++) any |= c->in[i]->nchw >= 0;
  nchw &= any;
  int ins[64];
  for (int i = 0; i < c->n_in; i++) {
    ins[i] = nchw ? tf_nchw(im, c->in[i]) : tf_nhwc(im, c->in[i]);
    CHECK_V(ins[i]);
  }
  char h[600];
  if (nchw) hint_nchw(c, h, sizeof h);
  else snprintf(h, sizeof h, "%s", c->key);
  int y;
  if (concat) {
    int64_t axis = cfg_int(c, "axis", -1);
    int rank = c->in[0]->rank;
    if (axis < 0 && rank > 0) axis += rank;
    if (nchw) {
      static const int map[4] = {0, 2, 3, 1};
      if (axis < 0 || axis > 3) return lg_error(LEDGE_ERR_FORMAT, "layer '%s': bad concat axis", c->name);
      axis = map[axis];
    }
    int n = tf_node(im, "Concat", h, c->n_in, ins, 1, &y);
    CHECK_V(n);
    LG_TRY(tf_attr_int(im, n, "axis", axis));
  } else {
    const char *op = !strcmp(c->cls, "Add") ? "Sum" : !strcmp(c->cls, "Maximum") ? "Max"
                     : !strcmp(c->cls, "Minimum") ? "Min" : !strcmp(c->cls, "Average") ? "Mean" : NULL;
    if (op) {
      y = tf_op1(im, op, h, c->n_in, ins);
    } else if (!strcmp(c->cls, "Multiply")) {
      y = ins[0];
      for (int i = 1; i < c->n_in; i++) {
        int two[2] = {y, ins[i]};
        y = tf_op1(im, "Mul", h, 2, two);
      }
    } else { /* Subtract */
      if (c->n_in != 2) return lg_error(LEDGE_ERR_FORMAT, "layer '%s' (Subtract) needs 2 inputs", c->name);
      y = tf_op1(im, "Sub", h, 2, ins);
    }
  }
  CHECK_V(y);
  return set_out(c, nchw ? -1 : y, nchw ? y : -1, c->in[0]->rank);
}

static lg_status l_dense(lctx *c) {
  tfjs_im *im = c->im;
  int kernel, bias = -1;
  LG_TRY(need_weight(c, "kernel", &kernel));
  if (cfg(c, "use_bias") == NULL || cfg(c, "use_bias")->type == LG_JSON_TRUE) LG_TRY(need_weight(c, "bias", &bias));
  int x = tf_nhwc(im, c->in[0]);
  CHECK_V(x);
  bool has_act = strcmp(cfg_str(c, "activation", "linear"), "linear") != 0;
  char h[600];
  snprintf(h, sizeof h, "%s%s", c->key, has_act ? "/dense" : "");
  int y;
  if (c->in[0]->rank == 2) {
    int ins[3] = {x, kernel, bias};
    y = tf_op1(im, "Gemm", h, bias >= 0 ? 3 : 2, ins);
  } else {
    char hm[640];
    snprintf(hm, sizeof hm, "%s/matmul", c->key);
    int ins[2] = {x, kernel};
    y = tf_op1(im, "MatMul", bias >= 0 ? hm : h, 2, ins);
    if (bias >= 0) {
      int a[2] = {y, bias};
      y = tf_op1(im, "Add", h, 2, a);
    }
  }
  CHECK_V(y);
  if (has_act) y = layer_act(c, y, false, c->key);
  CHECK_V(y);
  return set_out(c, y, -1, c->in[0]->rank);
}

static lg_status l_flatten(lctx *c) {
  int x = tf_nhwc(c->im, c->in[0]);
  CHECK_V(x);
  int y;
  int n = tf_node(c->im, "Flatten", c->key, 1, &x, 1, &y);
  CHECK_V(n);
  LG_TRY(tf_attr_int(c->im, n, "axis", 1));
  return set_out(c, y, -1, 2);
}

static lg_status l_reshape(lctx *c) {
  const lg_json *ts = cfg(c, "target_shape");
  if (!ts || ts->type != LG_JSON_ARRAY || ts->n + 1 > LEDGE_MAX_RANK)
    return lg_error(LEDGE_ERR_FORMAT, "layer '%s' (Reshape): bad target_shape", c->name);
  int64_t shape[LEDGE_MAX_RANK];
  shape[0] = 0; /* keep the batch */
  for (int i = 0; i < ts->n; i++)
    if (!lg_json_int(&ts->items[i], &shape[i + 1]) || shape[i + 1] < -1)
      return lg_error(LEDGE_ERR_FORMAT, "layer '%s' (Reshape): bad target_shape", c->name);
  int ins[2] = {tf_nhwc(c->im, c->in[0]), tf_const_i64(c->im, ts->n + 1, shape)};
  CHECK_V(ins[0]);
  CHECK_V(ins[1]);
  int y = tf_op1(c->im, "Reshape", c->key, 2, ins);
  CHECK_V(y);
  return set_out(c, y, -1, ts->n + 1);
}

static lg_status l_upsample(lctx *c) {
  tfjs_im *im = c->im;
  LG_TRY(check_channels_last(c));
  int64_t sz[2];
  if (!cfg_pair(c, "size", sz, 2)) return lg_error(LEDGE_ERR_FORMAT, "layer '%s': bad size", c->name);
  const char *interp = cfg_str(c, "interpolation", "nearest");
  bool bilinear = !strcmp(interp, "bilinear");
  if (!bilinear && strcmp(interp, "nearest"))
    return lg_error(LEDGE_ERR_UNSUPPORTED, "layer '%s': interpolation %s is not supported", c->name, interp);
  int x = tf_nchw(im, c->in[0]);
  CHECK_V(x);
  float scales[4] = {1, 1, (float)sz[0], (float)sz[1]};
  int64_t four = 4;
  int ins[3] = {x, -1, tf_const_new(im, c->name, LEDGE_FLOAT32, 1, &four, scales)};
  CHECK_V(ins[2]);
  char h[600];
  hint_nchw(c, h, sizeof h);
  int y;
  int n = tf_node(im, "Resize", h, 3, ins, 1, &y);
  CHECK_V(n);
  LG_TRY(tf_attr_str(im, n, "mode", bilinear ? "linear" : "nearest"));
  LG_TRY(tf_attr_str(im, n, "coordinate_transformation_mode", bilinear ? "half_pixel" : "asymmetric"));
  if (!bilinear) LG_TRY(tf_attr_str(im, n, "nearest_mode", "floor"));
  return set_out(c, -1, y, 4);
}

static lg_status l_identity(lctx *c) {
  tf_ref r = *c->in[0];
  return set_out(c, r.nhwc, r.nchw, r.rank);
}

static const struct {
  const char *cls;
  lg_status (*fn)(lctx *c);
} l_ops[] = {
    {"Conv2D", l_conv}, {"DepthwiseConv2D", l_conv}, {"SeparableConv2D", l_conv},
    {"BatchNormalization", l_batchnorm}, {"Activation", l_activation}, {"ReLU", l_activation},
    {"LeakyReLU", l_activation}, {"Softmax", l_activation}, {"ELU", l_activation},
    {"ZeroPadding2D", l_zero_pad}, {"MaxPooling2D", l_pool}, {"AveragePooling2D", l_pool},
    {"GlobalAveragePooling2D", l_pool}, {"GlobalMaxPooling2D", l_pool},
    {"Add", l_merge}, {"Concatenate", l_merge}, {"Multiply", l_merge}, {"Subtract", l_merge},
    {"Maximum", l_merge}, {"Minimum", l_merge}, {"Average", l_merge},
    {"Dense", l_dense}, {"Flatten", l_flatten}, {"Reshape", l_reshape}, {"UpSampling2D", l_upsample},
    {"Dropout", l_identity}, {"SpatialDropout2D", l_identity}, {"GaussianNoise", l_identity},
    {"GaussianDropout", l_identity}, {"AlphaDropout", l_identity}, {"ActivityRegularization", l_identity},
};

/* ---- structure ---- */

static void tensor_key(char *buf, size_t size, const char *layer, int64_t node, int64_t tensor) {
  if (node == 0 && tensor == 0) snprintf(buf, size, "%s", layer);
  else snprintf(buf, size, "%s:%lld:%lld", layer, (long long)node, (long long)tensor);
}

/* Reads one [layer, node, tensor, kwargs] reference. */
static lg_status parse_ref(const lg_json *e, char *key, size_t size, const char *who) {
  int64_t node = 0, tensor = 0;
  const char *ln = lg_json_str(lg_json_at(e, 0));
  if (!ln || !lg_json_int(lg_json_at(e, 1), &node) || !lg_json_int(lg_json_at(e, 2), &tensor))
    return lg_error(LEDGE_ERR_FORMAT, "layer '%s': bad inbound node entry", who);
  tensor_key(key, size, ln, node, tensor);
  return LEDGE_OK;
}

static lg_status run_layer(tfjs_im *im, const lg_json *layer, const lg_json *call, int call_index,
                           const char *prev_key) {
  lctx c = {0};
  c.im = im;
  c.layer = layer;
  c.cls = lg_json_str(lg_json_get(layer, "class_name"));
  c.cfg = lg_json_get(layer, "config");
  c.name = lg_json_str(lg_json_get(layer, "name"));
  if (!c.name) c.name = lg_json_str(lg_json_get(c.cfg, "name"));
  if (!c.cls || !c.name || !c.cfg) return lg_error(LEDGE_ERR_FORMAT, "a layer has no class_name, name or config");
  tensor_key(c.key, sizeof c.key, c.name, call_index, 0);
  if (!strcmp(c.cls, "InputLayer")) return l_input(&c);
  if (call) {
    if (call->type != LG_JSON_ARRAY)
      return lg_error(LEDGE_ERR_UNSUPPORTED, "layer '%s': this inbound_nodes format is not supported", c.name);
    for (int i = 0; i < call->n; i++) {
      char key[600];
      LG_TRY(parse_ref(&call->items[i], key, sizeof key, c.name));
      if (c.n_in == 64) return lg_error(LEDGE_ERR_UNSUPPORTED, "layer '%s' has more than 64 inputs", c.name);
      c.in[c.n_in] = tf_ref_get(im, key);
      if (!c.in[c.n_in]) return lg_error(LEDGE_ERR_FORMAT, "layer '%s' reads '%s', which no earlier layer makes", c.name, key);
      c.n_in++;
    }
  } else if (prev_key) {
    c.in[0] = tf_ref_get(im, prev_key);
    if (!c.in[0]) return LEDGE_ERR_INTERNAL;
    c.n_in = 1;
  }
  if (c.n_in < 1) return lg_error(LEDGE_ERR_FORMAT, "layer '%s' (%s) has no inputs", c.name, c.cls);
  for (size_t i = 0; i < sizeof l_ops / sizeof l_ops[0]; i++)
    if (!strcmp(l_ops[i].cls, c.cls)) {
      lg_status st = l_ops[i].fn(&c);
      if (st != LEDGE_OK && !strstr(ledge_last_error(), c.name))
        return lg_error_context(st, "layer '%s' (%s): ", c.name, c.cls);
      return st;
    }
  return lg_error(LEDGE_ERR_UNSUPPORTED, "unsupported Keras layer %s (layer '%s')", c.cls, c.name);
}

static lg_status add_output(tfjs_im *im, const char *key, const char *name) {
  tf_ref *r = tf_ref_get(im, key);
  if (!r) return lg_error(LEDGE_ERR_FORMAT, "output '%s' is not made by any layer", key);
  int v = tf_nhwc(im, r);
  if (v < 0) return LEDGE_ERR_FORMAT;
  lg_graph *g = im->g;
  if (strcmp(g->values[v].name, name) || g->values[v].kind != LG_VALUE_ACTIVATION || g->values[v].is_output) {
    v = tf_op1(im, "Identity", name, 1, &v);
    if (v < 0) return LEDGE_ERR_FORMAT;
  }
  int *no = lg_pool_alloc(g->pool, sizeof(int) * (size_t)(g->n_outputs + 1));
  if (!no) return TF_NOMEM();
  if (g->n_outputs) memcpy(no, g->outputs, sizeof(int) * (size_t)g->n_outputs);
  no[g->n_outputs++] = v;
  g->outputs = no;
  g->values[v].is_output = true;
  return LEDGE_OK;
}

lg_status tf_import_layers(tfjs_im *im, const lg_json *topology) {
  const lg_json *mc = lg_json_get(topology, "model_config");
  if (!mc) mc = topology;
  const char *cls = lg_json_str(lg_json_get(mc, "class_name"));
  const lg_json *config = lg_json_get(mc, "config");
  if (!cls || !config) return lg_error(LEDGE_ERR_FORMAT, "model_config has no class_name or config");
  bool sequential = !strcmp(cls, "Sequential");
  if (!sequential && strcmp(cls, "Model") && strcmp(cls, "Functional"))
    return lg_error(LEDGE_ERR_UNSUPPORTED, "Keras model class %s is not supported", cls);
  const lg_json *layers = config->type == LG_JSON_ARRAY ? config : lg_json_get(config, "layers");
  if (!layers || layers->type != LG_JSON_ARRAY || layers->n == 0) return lg_error(LEDGE_ERR_FORMAT, "model_config has no layers");
  if (sequential) {
    /* An implicit input from the first layer's batch_input_shape. */
    const lg_json *first = &layers->items[0];
    const char *fcls = lg_json_str(lg_json_get(first, "class_name"));
    char prev[600] = "input";
    if (!fcls || strcmp(fcls, "InputLayer")) {
      lg_json in_layer = {0};
      const lg_json *fcfg = lg_json_get(first, "config");
      const lg_json *bis = lg_json_get(fcfg, "batch_input_shape");
      if (!bis) return lg_error(LEDGE_ERR_FORMAT, "Sequential model: the first layer has no batch_input_shape");
      /* Build {class_name: InputLayer, name: input, config: {batch_input_shape}} by hand. */
      static const char *keys_l[3] = {"class_name", "name", "config"};
      static const char *keys_c[1] = {"batch_input_shape"};
      lg_json items_l[3], items_c[1];
      memset(items_l, 0, sizeof items_l);
      items_l[0].type = LG_JSON_STRING, items_l[0].str = "InputLayer", items_l[0].len = 10;
      items_l[1].type = LG_JSON_STRING, items_l[1].str = "input", items_l[1].len = 5;
      items_c[0] = *bis;
      items_l[2].type = LG_JSON_OBJECT, items_l[2].n = 1, items_l[2].items = items_c, items_l[2].keys = keys_c;
      in_layer.type = LG_JSON_OBJECT, in_layer.n = 3, in_layer.items = items_l, in_layer.keys = keys_l;
      LG_TRY(run_layer(im, &in_layer, NULL, 0, NULL));
    }
    for (int i = 0; i < layers->n; i++) {
      const lg_json *l = &layers->items[i];
      LG_TRY(run_layer(im, l, NULL, 0, prev));
      const char *nm = lg_json_str(lg_json_get(l, "name"));
      if (!nm) nm = lg_json_str(lg_json_get(lg_json_get(l, "config"), "name"));
      snprintf(prev, sizeof prev, "%s", nm ? nm : "");
    }
    return add_output(im, prev, prev);
  }
  for (int i = 0; i < layers->n; i++) {
    const lg_json *l = &layers->items[i];
    const lg_json *calls = lg_json_get(l, "inbound_nodes");
    const char *lcls = lg_json_str(lg_json_get(l, "class_name"));
    if (lcls && (!strcmp(lcls, "Model") || !strcmp(lcls, "Functional") || !strcmp(lcls, "Sequential")))
      return lg_error(LEDGE_ERR_UNSUPPORTED, "nested Keras models are not supported (layer %d)", i);
    if (!calls || calls->type != LG_JSON_ARRAY || calls->n == 0) {
      LG_TRY(run_layer(im, l, NULL, 0, NULL));
      continue;
    }
    for (int k = 0; k < calls->n; k++) LG_TRY(run_layer(im, l, &calls->items[k], k, NULL));
  }
  const lg_json *outs = lg_json_get(config, "output_layers");
  if (!outs || outs->type != LG_JSON_ARRAY || outs->n == 0) return lg_error(LEDGE_ERR_FORMAT, "model_config has no output_layers");
  for (int i = 0; i < outs->n; i++) {
    char key[600];
    LG_TRY(parse_ref(&outs->items[i], key, sizeof key, "output_layers"));
    LG_TRY(add_output(im, key, lg_json_str(lg_json_at(&outs->items[i], 0))));
  }
  return LEDGE_OK;
}
