/* models.c: networks built by name, and pretrained models with a new head. */
#include "train/models.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/model.h"
#include "train/engine.h"

/* ---- Builder ---- */

static uint64_t rng_u64(uint64_t *s) {
  /* splitmix64: cheap, and every seed (0 included) gives a good stream */
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *s) {
  return ((double)(rng_u64(s) >> 11) + 0.5) / 9007199254740992.0;
}

static double rng_normal(uint64_t *s) {
  double u = rng_uniform(s), v = rng_uniform(s);
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

void tr_builder_init(tr_builder *b, lg_graph *g, uint64_t seed) {
  b->g = g;
  b->rng = seed * 0x2545F4914F6CDD1Dull + 1;
  b->counter = 0;
}

static int append_index(lg_graph *g, int **arr, int *n, int v) {
  int *na = lg_pool_alloc(g->pool, sizeof(int) * (size_t)(*n + 1));
  if (!na) return -1;
  if (*n) memcpy(na, *arr, sizeof(int) * (size_t)*n);
  na[(*n)++] = v;
  *arr = na;
  return v;
}

int tr_b_input(tr_builder *b, const char *name, int64_t c, int64_t h, int64_t w) {
  int v = lg_graph_add_value(b->g, name);
  if (v < 0) return -1;
  lg_value *val = &b->g->values[v];
  val->kind = LG_VALUE_INPUT;
  int64_t d[4] = {1, c, h, w};
  val->t.dtype = LEDGE_FLOAT32;
  lg_tensor_set_shape(&val->t, 4, d);
  val->shape_known = true;
  return append_index(b->g, &b->g->inputs, &b->g->n_inputs, v);
}

void tr_b_output(tr_builder *b, int v) {
  if (v < 0) return;
  b->g->values[v].is_output = true;
  append_index(b->g, &b->g->outputs, &b->g->n_outputs, v);
}

int tr_b_param(tr_builder *b, const char *name, int rank, const int64_t *dims, char init,
               int64_t fan_in, float scale) {
  int v = lg_graph_add_value(b->g, name);
  if (v < 0) return -1;
  lg_value *val = &b->g->values[v];
  val->kind = LG_VALUE_CONSTANT;
  val->t.dtype = LEDGE_FLOAT32;
  lg_tensor_set_shape(&val->t, rank, dims);
  val->shape_known = true;
  if (lg_value_alloc_owned(val) != LEDGE_OK) return -1;
  float *p = val->owned;
  int64_t n = lg_tensor_count(&val->t);
  double he = sqrt(2.0 / (double)(fan_in > 0 ? fan_in : 1)),
         un = 1.0 / sqrt((double)(fan_in > 0 ? fan_in : 1));
  for (int64_t i = 0; i < n; i++) switch (init) {
      case 'h': p[i] = (float)(rng_normal(&b->rng) * he); break;
      case 'u': p[i] = (float)((2 * rng_uniform(&b->rng) - 1) * un); break;
      case 'o': p[i] = 1.0f; break;
      case 'n': p[i] = (float)(rng_normal(&b->rng) * scale); break;
      default: p[i] = 0.0f; break;
    }
  return v;
}

int tr_b_node(tr_builder *b, const char *op_type, const char *name, int n_in, const int *in) {
  for (int i = 0; i < n_in; i++)
    if (in[i] < 0) return -1;
  int ni = lg_graph_add_node(b->g, op_type, n_in, 1);
  if (ni < 0) return -1;
  char buf[96];
  if (!name) {
    snprintf(buf, sizeof buf, "%s_%d", op_type, ++b->counter);
    name = buf;
  }
  lg_node *n = &b->g->nodes[ni];
  n->name = lg_pool_strndup(b->g->pool, name, strlen(name));
  for (int i = 0; i < n_in; i++) n->in[i] = in[i];
  int v = lg_graph_add_value(b->g, name);
  if (v < 0) return -1;
  n = &b->g->nodes[ni];
  n->out[0] = v;
  b->g->values[v].kind = LG_VALUE_ACTIVATION;
  b->g->values[v].t.dtype = LEDGE_FLOAT32;
  b->g->values[v].producer = ni;
  return v;
}

int tr_b_last_node(const tr_builder *b) { return b->g->n_nodes - 1; }

static lg_attr *new_attr(tr_builder *b, int node, const char *name) {
  lg_node *n = &b->g->nodes[node];
  lg_attr *na = lg_pool_alloc(b->g->pool, sizeof(lg_attr) * (size_t)(n->n_attrs + 1));
  if (!na) return NULL;
  if (n->n_attrs) memcpy(na, n->attrs, sizeof(lg_attr) * (size_t)n->n_attrs);
  n->attrs = na;
  lg_attr *a = &na[n->n_attrs++];
  memset(a, 0, sizeof *a);
  a->name = lg_pool_strndup(b->g->pool, name, strlen(name));
  return a;
}

lg_status tr_b_attr_int(tr_builder *b, int node, const char *name, int64_t v) {
  lg_attr *a = new_attr(b, node, name);
  if (!a) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  a->type = LG_ATTR_INT;
  a->i = v;
  return LEDGE_OK;
}

lg_status tr_b_attr_float(tr_builder *b, int node, const char *name, float v) {
  lg_attr *a = new_attr(b, node, name);
  if (!a) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  a->type = LG_ATTR_FLOAT;
  a->f = v;
  return LEDGE_OK;
}

lg_status tr_b_attr_ints(tr_builder *b, int node, const char *name, int n, const int64_t *v) {
  lg_attr *a = new_attr(b, node, name);
  if (!a) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  a->type = LG_ATTR_INTS;
  a->n = n;
  a->ints = lg_pool_alloc(b->g->pool, sizeof(int64_t) * (size_t)(n ? n : 1));
  if (!a->ints) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  memcpy(a->ints, v, sizeof(int64_t) * (size_t)n);
  return LEDGE_OK;
}

int tr_b_conv(tr_builder *b, int x, int64_t cin, int64_t cout, int64_t k, int64_t stride,
              int64_t pad, int64_t group, bool bias) {
  char name[64];
  int id = ++b->counter;
  snprintf(name, sizeof name, "conv%d.weight", id);
  int64_t wd[4] = {cout, cin / group, k, k};
  int w = tr_b_param(b, name, 4, wd, 'h', cin / group * k * k, 0);
  int ins[3] = {x, w, -1};
  if (bias) {
    snprintf(name, sizeof name, "conv%d.bias", id);
    ins[2] = tr_b_param(b, name, 1, &cout, 'z', 0, 0);
  }
  snprintf(name, sizeof name, "conv%d", id);
  int y = tr_b_node(b, "Conv", name, bias ? 3 : 2, ins);
  if (y < 0) return -1;
  int nd = tr_b_last_node(b);
  int64_t ks[2] = {k, k}, st[2] = {stride, stride}, pd[4] = {pad, pad, pad, pad};
  if (tr_b_attr_ints(b, nd, "kernel_shape", 2, ks) || tr_b_attr_ints(b, nd, "strides", 2, st) ||
      tr_b_attr_ints(b, nd, "pads", 4, pd) || tr_b_attr_int(b, nd, "group", group))
    return -1;
  return y;
}

int tr_b_bn(tr_builder *b, int x, int64_t c) {
  char name[64];
  int id = ++b->counter;
  const char *parts[4] = {"weight", "bias", "running_mean", "running_var"};
  const char inits[4] = {'o', 'z', 'z', 'o'};
  int ins[5] = {x};
  for (int i = 0; i < 4; i++) {
    snprintf(name, sizeof name, "bn%d.%s", id, parts[i]);
    ins[i + 1] = tr_b_param(b, name, 1, &c, inits[i], 0, 0);
  }
  snprintf(name, sizeof name, "bn%d", id);
  int y = tr_b_node(b, "BatchNormalization", name, 5, ins);
  if (y < 0) return -1;
  if (tr_b_attr_float(b, tr_b_last_node(b), "epsilon", 1e-5f)) return -1;
  if (tr_b_attr_float(b, tr_b_last_node(b), "momentum", 0.9f)) return -1;
  return y;
}

int tr_b_unary(tr_builder *b, const char *op_type, int x) {
  return tr_b_node(b, op_type, NULL, 1, &x);
}

int tr_b_maxpool(tr_builder *b, int x, int64_t k, int64_t s, int64_t p) {
  int y = tr_b_node(b, "MaxPool", NULL, 1, &x);
  if (y < 0) return -1;
  int nd = tr_b_last_node(b);
  int64_t ks[2] = {k, k}, st[2] = {s, s}, pd[4] = {p, p, p, p};
  if (tr_b_attr_ints(b, nd, "kernel_shape", 2, ks) || tr_b_attr_ints(b, nd, "strides", 2, st) ||
      tr_b_attr_ints(b, nd, "pads", 4, pd))
    return -1;
  return y;
}

int tr_b_gap(tr_builder *b, int x) { return tr_b_node(b, "GlobalAveragePool", NULL, 1, &x); }

int tr_b_flatten(tr_builder *b, int x) {
  int y = tr_b_node(b, "Flatten", NULL, 1, &x);
  if (y < 0 || tr_b_attr_int(b, tr_b_last_node(b), "axis", 1)) return -1;
  return y;
}

int tr_b_dense(tr_builder *b, int x, int64_t in, int64_t out) {
  char name[64];
  int id = ++b->counter;
  snprintf(name, sizeof name, "fc%d.weight", id);
  int64_t wd[2] = {out, in};
  int ins[3] = {x, tr_b_param(b, name, 2, wd, 'u', in, 0), -1};
  snprintf(name, sizeof name, "fc%d.bias", id);
  ins[2] = tr_b_param(b, name, 1, &out, 'z', 0, 0);
  snprintf(name, sizeof name, "fc%d", id);
  int y = tr_b_node(b, "Gemm", name, 3, ins);
  if (y < 0 || tr_b_attr_int(b, tr_b_last_node(b), "transB", 1)) return -1;
  return y;
}

int tr_b_add(tr_builder *b, int x, int y) {
  int ins[2] = {x, y};
  return tr_b_node(b, "Add", NULL, 2, ins);
}

int tr_b_dropout(tr_builder *b, int x, float ratio) {
  int y = tr_b_node(b, "Dropout", NULL, 1, &x);
  if (y < 0 || tr_b_attr_float(b, tr_b_last_node(b), "ratio", ratio)) return -1;
  return y;
}

/* ---- ResNets ---- */

static int conv_bn(tr_builder *b, int x, int64_t cin, int64_t cout, int64_t k, int64_t s,
                   bool relu) {
  int y = tr_b_conv(b, x, cin, cout, k, s, k / 2, 1, false);
  y = tr_b_bn(b, y, cout);
  return relu ? tr_b_unary(b, "Relu", y) : y;
}

static int basic_block(tr_builder *b, int x, int64_t cin, int64_t cout, int64_t s) {
  int y = conv_bn(b, x, cin, cout, 3, s, true);
  y = conv_bn(b, y, cout, cout, 3, 1, false);
  int sc = x;
  if (s != 1 || cin != cout) sc = conv_bn(b, x, cin, cout, 1, s, false);
  return tr_b_unary(b, "Relu", tr_b_add(b, y, sc));
}

static int bottleneck(tr_builder *b, int x, int64_t cin, int64_t mid, int64_t s) {
  int64_t cout = mid * 4;
  int y = conv_bn(b, x, cin, mid, 1, 1, true);
  y = conv_bn(b, y, mid, mid, 3, s, true);
  y = conv_bn(b, y, mid, cout, 1, 1, false);
  int sc = x;
  if (s != 1 || cin != cout) sc = conv_bn(b, x, cin, cout, 1, s, false);
  return tr_b_unary(b, "Relu", tr_b_add(b, y, sc));
}

static lg_status build_resnet(tr_builder *b, int layers, int64_t c, int64_t h, int64_t w,
                              int classes) {
  int x = tr_b_input(b, "data", c, h, w);
  int64_t ch;
  const int cifar[] = {20, 32, 44, 56, 110};
  for (size_t i = 0; i < sizeof cifar / sizeof cifar[0]; i++)
    if (layers == cifar[i]) {
      int n = (layers - 2) / 6;
      x = conv_bn(b, x, c, 16, 3, 1, true);
      ch = 16;
      for (int stage = 0; stage < 3; stage++) {
        int64_t width = 16 << stage;
        for (int k = 0; k < n; k++) {
          x = basic_block(b, x, ch, width, (stage > 0 && k == 0) ? 2 : 1);
          ch = width;
        }
      }
      x = tr_b_flatten(b, tr_b_gap(b, x));
      tr_b_output(b, tr_b_dense(b, x, ch, classes));
      return x < 0 ? lg_error(LEDGE_ERR_NO_MEMORY, "out of memory") : LEDGE_OK;
    }
  static const struct {
    int layers, blocks[4];
    bool bottleneck;
  } table[] = {{18, {2, 2, 2, 2}, false},  {34, {3, 4, 6, 3}, false},  {50, {3, 4, 6, 3}, true},
               {101, {3, 4, 23, 3}, true}, {152, {3, 8, 36, 3}, true}, {200, {3, 24, 36, 3}, true}};
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    if (table[i].layers != layers) continue;
    if (h <= 64 && w <= 64) {
      x = conv_bn(b, x, c, 64, 3, 1, true);
    } else {
      x = conv_bn(b, x, c, 64, 7, 2, true);
      x = tr_b_maxpool(b, x, 3, 2, 1);
    }
    ch = 64;
    for (int stage = 0; stage < 4; stage++) {
      int64_t width = 64 << stage;
      for (int k = 0; k < table[i].blocks[stage]; k++) {
        int64_t s = (stage > 0 && k == 0) ? 2 : 1;
        if (table[i].bottleneck) {
          x = bottleneck(b, x, ch, width, s);
          ch = width * 4;
        } else {
          x = basic_block(b, x, ch, width, s);
          ch = width;
        }
      }
    }
    x = tr_b_flatten(b, tr_b_gap(b, x));
    tr_b_output(b, tr_b_dense(b, x, ch, classes));
    return x < 0 ? lg_error(LEDGE_ERR_NO_MEMORY, "out of memory") : LEDGE_OK;
  }
  return lg_error(
      LEDGE_ERR_INVALID_ARGUMENT,
      "num_layers %d: ResNet takes 18, 34, 50, 101, 152, 200 or (CIFAR-style) 20, 32, 44, 56, 110",
      layers);
}

lg_status tr_build_model(const char *name, int num_layers, int64_t c, int64_t h, int64_t w,
                         int classes, uint64_t seed, lg_graph *g) {
  if (c < 1 || h < 1 || w < 1 || classes < 2)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "image shape and at least 2 classes are needed");
  LG_TRY(lg_graph_init(g));
  tr_builder b;
  tr_builder_init(&b, g, seed);
  lg_status st = LEDGE_OK;
  if (!strcmp(name, "resnet")) {
    st = build_resnet(&b, num_layers, c, h, w, classes);
  } else if (!strcmp(name, "cnn")) {
    int x = tr_b_input(&b, "data", c, h, w);
    x = conv_bn(&b, x, c, 32, 3, 1, true);
    x = conv_bn(&b, x, 32, 32, 3, 1, true);
    x = tr_b_maxpool(&b, x, 2, 2, 0);
    x = conv_bn(&b, x, 32, 64, 3, 1, true);
    x = conv_bn(&b, x, 64, 64, 3, 1, true);
    x = tr_b_maxpool(&b, x, 2, 2, 0);
    x = tr_b_flatten(&b, x);
    int64_t f = 64 * (h / 4) * (w / 4);
    x = tr_b_unary(&b, "Relu", tr_b_dense(&b, x, f, 256));
    x = tr_b_dropout(&b, x, 0.3f);
    tr_b_output(&b, tr_b_dense(&b, x, 256, classes));
    if (x < 0) st = lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  } else if (!strcmp(name, "lenet")) {
    /* LeNet-5 with ReLU and max pooling: small enough for quick tests */
    int x = tr_b_input(&b, "data", c, h, w);
    x = tr_b_maxpool(&b, tr_b_unary(&b, "Relu", tr_b_conv(&b, x, c, 6, 5, 1, 2, 1, true)), 2, 2, 0);
    x = tr_b_maxpool(&b, tr_b_unary(&b, "Relu", tr_b_conv(&b, x, 6, 16, 5, 1, 0, 1, true)), 2, 2,
                     0);
    int64_t f = 16 * ((h / 2 - 4) / 2) * ((w / 2 - 4) / 2);
    if (h < 12 || w < 12) {
      lg_graph_free(g);
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "lenet needs images of at least 12x12");
    }
    x = tr_b_unary(&b, "Relu", tr_b_dense(&b, tr_b_flatten(&b, x), f, 120));
    x = tr_b_unary(&b, "Relu", tr_b_dense(&b, x, 120, 84));
    tr_b_output(&b, tr_b_dense(&b, x, 84, classes));
    if (x < 0) st = lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  } else if (!strcmp(name, "linear")) {
    /* a linear classifier on the raw pixels (a baseline) */
    int x = tr_b_flatten(&b, tr_b_input(&b, "data", c, h, w));
    tr_b_output(&b, tr_b_dense(&b, x, c * h * w, classes));
    if (x < 0) st = lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  } else if (!strcmp(name, "mlp")) {
    int x = tr_b_flatten(&b, tr_b_input(&b, "data", c, h, w));
    x = tr_b_unary(&b, "Relu", tr_b_dense(&b, x, c * h * w, 256));
    tr_b_output(&b, tr_b_dense(&b, x, 256, classes));
    if (x < 0) st = lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  } else {
    st = lg_error(LEDGE_ERR_INVALID_ARGUMENT,
                  "unknown network '%s' (resnet, cnn, lenet, mlp or linear)", name);
  }
  if (st != LEDGE_OK) lg_graph_free(g);
  return st;
}

/* ---- Pretrained models ---- */

/* Marks every node not needed for the outputs dead. */
static void keep_needed(lg_graph *g) {
  char *need = calloc((size_t)g->n_values + 1, 1);
  if (!need) return;
  for (int i = 0; i < g->n_outputs; i++) need[g->outputs[i]] = 1;
  for (int k = g->n_nodes - 1; k >= 0; k--) {
    lg_node *n = &g->nodes[k];
    if (n->dead) continue;
    bool used = false;
    for (int o = 0; o < n->n_out; o++) used |= n->out[o] >= 0 && need[n->out[o]];
    if (!used) {
      n->dead = true;
      continue;
    }
    for (int i = 0; i < n->n_in; i++)
      if (n->in[i] >= 0) need[n->in[i]] = 1;
  }
  free(need);
}

static int auto_cut(const lg_graph *g) {
  for (int k = g->n_nodes - 1; k >= 0; k--) {
    const lg_node *n = &g->nodes[k];
    if (n->dead) continue;
    if (!strcmp(n->op_type, "Gemm") || !strcmp(n->op_type, "MatMul")) return n->in[0];
    if (!strcmp(n->op_type, "Conv") && n->in[0] >= 0) {
      int p = g->values[n->in[0]].producer;
      if (p >= 0 && (!strcmp(g->nodes[p].op_type, "GlobalAveragePool") ||
                     !strcmp(g->nodes[p].op_type, "AveragePool")))
        return n->in[0];
    }
  }
  return -1;
}

lg_status tr_load_backbone(const char *path, const char *cut, lg_graph *g, int *cut_value) {
  ledge_model *m = NULL;
  LG_TRY(ledge_model_load(path, &m));
  /* Take the graph itself (a clone would share the model's names and
   * attributes), and own every constant so that the file can be closed. */
  *g = m->graph;
  memset(&m->graph, 0, sizeof m->graph);
  lg_status st = LEDGE_OK;
  for (int i = 0; i < g->n_values && st == LEDGE_OK; i++) {
    lg_value *v = &g->values[i];
    if (v->kind != LG_VALUE_CONSTANT || !v->t.data || v->owned) continue;
    const void *src = v->t.data;
    size_t bytes = lg_tensor_bytes(&v->t);
    st = lg_value_alloc_owned(v);
    if (st == LEDGE_OK) memcpy(v->owned, src, bytes);
  }
  ledge_model_destroy(m);
  if (st != LEDGE_OK) goto fail;
  int cv = -1;
  if (cut && *cut) {
    for (int k = 0; k < g->n_nodes && cv < 0; k++)
      if (g->nodes[k].name && !strcmp(g->nodes[k].name, cut)) cv = g->nodes[k].out[0];
    if (cv < 0) cv = lg_graph_find_value(g, cut);
    if (cv < 0) {
      st = lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s: no node or value named '%s' to cut at", path,
                    cut);
      goto fail;
    }
  } else {
    cv = auto_cut(g);
    if (cv < 0) {
      st = lg_error(LEDGE_ERR_INVALID_ARGUMENT,
                    "%s: no final classifier found; name the cut with --cut", path);
      goto fail;
    }
  }
  for (int i = 0; i < g->n_outputs; i++) g->values[g->outputs[i]].is_output = false;
  g->n_outputs = 0;
  g->outputs = lg_pool_alloc(g->pool, sizeof(int));
  g->outputs[g->n_outputs++] = cv;
  g->values[cv].is_output = true;
  keep_needed(g);
  /* The input's batch: any. */
  for (int i = 0; i < g->n_inputs; i++) {
    lg_value *v = &g->values[g->inputs[i]];
    if (v->kind == LG_VALUE_INPUT && v->t.rank == 4 && v->t.dims[0] <= 0) v->t.dims[0] = 1;
  }
  *cut_value = cv;
  return LEDGE_OK;
fail:
  lg_graph_free(g);
  return st;
}

lg_status tr_load_pretrained(const char *path, const char *cut, int classes, uint64_t seed,
                             lg_graph *g, int *head_first_node) {
  int cv = -1;
  LG_TRY(tr_load_backbone(path, cut, g, &cv));
  lg_status st = LEDGE_OK;
  /* The shape of the cut value: compile the backbone alone. */
  lg_graph probe;
  if ((st = lg_graph_clone(g, &probe)) != LEDGE_OK) goto fail;
  tr_compile_opts po = {.max_batch = 1, .threads = 1, .head_first_node = -1, .any_output = true};
  tr_net *pn = NULL;
  st = tr_net_compile(&probe, &po, &pn);
  if (st != LEDGE_OK) {
    lg_graph_free(&probe);
    lg_error_context(st, "%s: ", path);
    goto fail;
  }
  tr_value cutv = pn->values[cv];
  tr_net_destroy(pn);
  int64_t features = cutv.count;
  g->values[cv].is_output = false;
  g->n_outputs = 0;
  tr_builder b;
  tr_builder_init(&b, g, seed);
  b.counter = 1000;
  *head_first_node = g->n_nodes;
  int x = cv;
  if (cutv.rank != 2) x = tr_b_flatten(&b, x);
  int y = tr_b_dense(&b, x, features, classes);
  if (y < 0) {
    st = lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
    goto fail;
  }
  tr_b_output(&b, y);
  return LEDGE_OK;
fail:
  lg_graph_free(g);
  return st;
}
