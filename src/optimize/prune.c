/* prune.c: magnitude and channel pruning on the graph IR (see prune.h). */
#include "optimize/prune.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_op(const lg_node *n, const char *op) { return !n->dead && !strcmp(n->op_type, op); }

static bool const_f32(const lg_graph *g, int v) {
  return v >= 0 && g->values[v].kind == LG_VALUE_CONSTANT &&
         g->values[v].t.dtype == LEDGE_FLOAT32 && g->values[v].t.data;
}

static lg_prune_layer *add_layer(lg_prune_result *r, const char *name, const char *op) {
  lg_prune_layer *grown = realloc(r->layers, (size_t)(r->n_layers + 1) * sizeof *grown);
  if (!grown) return NULL;
  r->layers = grown;
  lg_prune_layer *l = &r->layers[r->n_layers++];
  memset(l, 0, sizeof *l);
  snprintf(l->name, sizeof l->name, "%s", name ? name : "");
  snprintf(l->op_type, sizeof l->op_type, "%s", op);
  return l;
}

/* Gives a constant its own writable copy (it may point into the mapped
 * model file, which pruning must not touch), resized to new dims; the
 * copy's contents are gathered by the caller from `old`. Returns the old
 * data (a malloc'd copy the caller frees). */
static float *take_copy(lg_value *v, float **old_out) {
  int64_t n = lg_tensor_count(&v->t);
  float *old = malloc((size_t)(n > 0 ? n : 1) * sizeof *old);
  if (!old) return NULL;
  memcpy(old, v->t.data, (size_t)n * sizeof *old);
  *old_out = old;
  return old;
}

/* ---- magnitude ---- */

typedef struct ranked {
  float mag;
  int64_t index;
} ranked;

static int by_magnitude(const void *a, const void *b) {
  const ranked *x = a, *y = b;
  if (x->mag != y->mag) return x->mag < y->mag ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

lg_status lg_prune_magnitude(lg_graph *g, double sparsity, int64_t min_elements,
                             lg_prune_result *r) {
  memset(r, 0, sizeof *r);
  if (!(sparsity >= 0 && sparsity < 1))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "sparsity must be in [0, 1)");
  bool *done = calloc((size_t)g->n_values + 1, 1);
  if (!done) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  lg_status st = LEDGE_OK;
  for (int i = 0; i < g->n_nodes && st == LEDGE_OK; i++) {
    lg_node *n = &g->nodes[i];
    if (!(is_op(n, "Conv") || is_op(n, "Gemm") || is_op(n, "MatMul") ||
          is_op(n, "ConvTranspose")) ||
        n->n_in < 2)
      continue;
    int w = n->in[1];
    if (!const_f32(g, w) || done[w]) continue;
    lg_value *v = &g->values[w];
    int64_t count = lg_tensor_count(&v->t);
    if (count < min_elements || count < 2) continue;
    done[w] = true;
    float *old = NULL;
    ranked *order = malloc((size_t)count * sizeof *order);
    if (!order || !take_copy(v, &old) || lg_value_alloc_owned(v) != LEDGE_OK) {
      free(order);
      free(old);
      st = lg_error(LEDGE_ERR_NO_MEMORY, "out of memory pruning '%s'", v->name);
      break;
    }
    float *data = v->t.data;
    memcpy(data, old, (size_t)count * sizeof *data);
    for (int64_t k = 0; k < count; k++) order[k] = (ranked){fabsf(old[k]), k};
    qsort(order, (size_t)count, sizeof *order, by_magnitude);
    int64_t zeros = (int64_t)floor(sparsity * (double)count);
    for (int64_t k = 0; k < zeros; k++) data[order[k].index] = 0.0f;
    int64_t nonzero = 0;
    for (int64_t k = 0; k < count; k++) nonzero += data[k] != 0.0f;
    free(order);
    free(old);
    lg_prune_layer *l = add_layer(r, *n->name ? n->name : v->name, n->op_type);
    if (!l) {
      st = lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
      break;
    }
    l->before = count;
    l->after = nonzero;
    r->params_before += count;
    r->params_after += nonzero;
  }
  free(done);
  return st;
}

/* ---- channels ---- */

/* The single live consumer of value v (and which input it is), or NULL if
 * v is a graph output or has none or several. */
static lg_node *only_consumer(lg_graph *g, int v, int *slot) {
  if (g->values[v].is_output || lg_graph_use_count(g, v) != 1) return NULL;
  for (int i = 0; i < g->n_nodes; i++) {
    lg_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] == v) {
        if (slot) *slot = k;
        return n;
      }
  }
  return NULL;
}

static bool elementwise_activation(const lg_node *n) {
  static const char *const ops[] = {"Relu",        "LeakyRelu", "Sigmoid", "Tanh",
                                    "HardSigmoid", "HardSwish", "Elu",     "Selu",
                                    "Softplus",    "Clip",      NULL};
  for (const char *const *o = ops; *o; o++)
    if (is_op(n, *o)) return true;
  return false;
}

static int64_t group_of(const lg_node *n) { return lg_attr_int(n, "group", 1); }

typedef struct channel_score {
  double l1;
  int64_t c;
} channel_score;

static int by_l1(const void *a, const void *b) {
  const channel_score *x = a, *y = b;
  if (x->l1 != y->l1) return x->l1 < y->l1 ? -1 : 1;
  return x->c < y->c ? -1 : x->c > y->c;
}

/* Keeps the rows (first axis) of a constant listed in keep. */
static lg_status keep_rows(lg_value *v, const int64_t *keep, int64_t n_keep) {
  int64_t rows = v->t.dims[0], inner = lg_tensor_count(&v->t) / (rows ? rows : 1);
  float *old = NULL;
  if (!take_copy(v, &old)) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  v->t.dims[0] = n_keep;
  lg_status st = lg_value_alloc_owned(v);
  if (st == LEDGE_OK)
    for (int64_t k = 0; k < n_keep; k++)
      memcpy((float *)v->t.data + k * inner, old + keep[k] * inner, (size_t)inner * sizeof(float));
  free(old);
  return st;
}

/* Keeps the input channels (second axis) of a weight listed in keep. */
static lg_status keep_cols(lg_value *v, const int64_t *keep, int64_t n_keep) {
  int64_t rows = v->t.dims[0], cols = v->t.dims[1];
  int64_t inner = rows > 0 && cols > 0 ? lg_tensor_count(&v->t) / (rows * cols) : 1;
  float *old = NULL;
  if (!take_copy(v, &old)) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  v->t.dims[1] = n_keep;
  lg_status st = lg_value_alloc_owned(v);
  if (st == LEDGE_OK)
    for (int64_t r = 0; r < rows; r++)
      for (int64_t k = 0; k < n_keep; k++)
        memcpy((float *)v->t.data + (r * n_keep + k) * inner, old + (r * cols + keep[k]) * inner,
               (size_t)inner * sizeof(float));
  free(old);
  return st;
}

static bool single_use_const(lg_graph *g, int v, int64_t len) {
  return const_f32(g, v) && lg_graph_use_count(g, v) == 1 && g->values[v].t.rank >= 1 &&
         g->values[v].t.dims[0] == len;
}

lg_status lg_prune_channels(lg_graph *g, double ratio, lg_prune_result *r) {
  memset(r, 0, sizeof *r);
  if (!(ratio >= 0 && ratio < 1))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "ratio must be in [0, 1)");
  for (int i = 0; i < g->n_nodes; i++) {
    lg_node *a = &g->nodes[i];
    if (!is_op(a, "Conv") || group_of(a) != 1 || a->n_in < 2 || !const_f32(g, a->in[1])) continue;
    lg_value *wa = &g->values[a->in[1]];
    if (wa->t.rank != 4 || lg_graph_use_count(g, a->in[1]) != 1) continue;
    int64_t co = wa->t.dims[0];
    if (a->n_in >= 3 && a->in[2] >= 0 && !single_use_const(g, a->in[2], co)) continue;
    /* Follow the chain to the consuming Conv. */
    int chain[8], n_chain = 0, v = a->out[0], slot = 0;
    lg_node *c = only_consumer(g, v, &slot);
    bool ok = c != NULL;
    while (ok && !is_op(c, "Conv")) {
      if (n_chain == 8)
        ok = false;
      else if (is_op(c, "BatchNormalization") && slot == 0 && c->n_in == 5 && c->n_out >= 1) {
        for (int k = 1; k < 5 && ok; k++) ok = single_use_const(g, c->in[k], co);
      } else if (elementwise_activation(c) && slot == 0) {
        /* Clip's bounds must be scalars: per tensor, not per channel. */
        for (int k = 1; k < c->n_in && ok; k++)
          ok = c->in[k] < 0 || lg_tensor_count(&g->values[c->in[k]].t) == 1;
      } else {
        ok = false;
      }
      if (!ok) break;
      chain[n_chain++] = (int)(c - g->nodes);
      v = c->out[0];
      c = only_consumer(g, v, &slot);
      ok = c != NULL;
    }
    if (!ok || slot != 0 || group_of(c) != 1 || c->n_in < 2 || !const_f32(g, c->in[1])) continue;
    lg_value *wb = &g->values[c->in[1]];
    if (wb->t.rank != 4 || wb->t.dims[1] != co || lg_graph_use_count(g, c->in[1]) != 1) continue;
    int64_t drop = (int64_t)floor(ratio * (double)co);
    if (drop <= 0 || drop >= co) continue;

    /* The channels with the smallest L1 norm go; the rest keep their order. */
    int64_t per = lg_tensor_count(&wa->t) / co;
    channel_score *score = malloc((size_t)co * sizeof *score);
    int64_t *keep = malloc((size_t)co * sizeof *keep);
    bool *gone = calloc((size_t)co, 1);
    if (!score || !keep || !gone) {
      free(score), free(keep), free(gone);
      return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
    }
    const float *w = wa->t.data;
    for (int64_t k = 0; k < co; k++) {
      double s = 0;
      for (int64_t j = 0; j < per; j++) s += fabs(w[k * per + j]);
      score[k] = (channel_score){s, k};
    }
    qsort(score, (size_t)co, sizeof *score, by_l1);
    for (int64_t k = 0; k < drop; k++) gone[score[k].c] = true;
    int64_t n_keep = 0;
    for (int64_t k = 0; k < co; k++)
      if (!gone[k]) keep[n_keep++] = k;
    lg_status st = keep_rows(wa, keep, n_keep);
    if (st == LEDGE_OK && a->n_in >= 3 && a->in[2] >= 0)
      st = keep_rows(&g->values[a->in[2]], keep, n_keep);
    for (int k = 0; k < n_chain && st == LEDGE_OK; k++) {
      lg_node *b = &g->nodes[chain[k]];
      if (is_op(b, "BatchNormalization"))
        for (int p = 1; p < 5 && st == LEDGE_OK; p++)
          st = keep_rows(&g->values[b->in[p]], keep, n_keep);
    }
    if (st == LEDGE_OK) st = keep_cols(wb, keep, n_keep);
    /* Shapes the importer recorded for the activations in between change. */
    int vals[9] = {a->out[0]}, n_vals = 1;
    for (int k = 0; k < n_chain; k++) vals[n_vals++] = g->nodes[chain[k]].out[0];
    for (int k = 0; k < n_vals; k++) {
      lg_tensor *t = &g->values[vals[k]].t;
      if (t->rank >= 2 && t->dims[1] == co) t->dims[1] = n_keep;
    }
    free(score), free(keep), free(gone);
    if (st != LEDGE_OK) return st;
    lg_prune_layer *l = add_layer(r, *a->name ? a->name : wa->name, "Conv");
    if (!l) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
    l->before = co;
    l->after = n_keep;
    /* Weights of the two convolutions, before and after. */
    int64_t b_inner = lg_tensor_count(&wb->t) / n_keep;
    r->params_before += co * per + co * b_inner;
    r->params_after += n_keep * per + n_keep * b_inner;
  }
  return LEDGE_OK;
}

void lg_prune_result_free(lg_prune_result *r) {
  free(r->layers);
  memset(r, 0, sizeof *r);
}
