/* graph.c: the IR's storage, attribute lookup and fused activations. */
#include "runtime/graph.h"

#include "runtime/vmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Pool ---- */

typedef struct lg_pool_block {
  struct lg_pool_block *next;
  size_t used, size;
  _Alignas(16) unsigned char data[];
} lg_pool_block;

struct lg_pool {
  lg_pool_block *head;
};

lg_pool *lg_pool_create(void) { return calloc(1, sizeof(lg_pool)); }

void lg_pool_destroy(lg_pool *pool) {
  if (!pool) return;
  for (lg_pool_block *b = pool->head, *next; b; b = next) {
    next = b->next;
    free(b);
  }
  free(pool);
}

void *lg_pool_alloc(lg_pool *pool, size_t bytes) {
  bytes = lg_align_up(bytes ? bytes : 1, 16);
  lg_pool_block *b = pool->head;
  if (!b || b->size - b->used < bytes) {
    size_t size = bytes > 65536 ? bytes : 65536;
    b = malloc(sizeof(lg_pool_block) + size);
    if (!b) return NULL;
    b->size = size;
    b->used = 0;
    b->next = pool->head;
    pool->head = b;
  }
  void *p = b->data + b->used;
  b->used += bytes;
  memset(p, 0, bytes);
  return p;
}

char *lg_pool_strndup(lg_pool *pool, const char *s, size_t n) {
  char *p = lg_pool_alloc(pool, n + 1);
  if (p) {
    memcpy(p, s, n);
    p[n] = 0;
  }
  return p;
}

/* ---- Graph ---- */

lg_status lg_graph_init(lg_graph *g) {
  memset(g, 0, sizeof *g);
  g->pool = lg_pool_create();
  return g->pool ? LEDGE_OK : lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
}

void lg_graph_free(lg_graph *g) {
  if (!g) return;
  for (int i = 0; i < g->n_values; i++)
    if (g->values[i].owned) lg_aligned_free(g->values[i].owned);
  for (int i = 0; i < g->n_nodes; i++) free(g->nodes[i].state);
  free(g->values);
  free(g->nodes);
  lg_pool_destroy(g->pool);
  memset(g, 0, sizeof *g);
}

static bool grow(void **arr, int *cap, int need, size_t elem) {
  if (need <= *cap) return true;
  int ncap = *cap ? *cap * 2 : 64;
  while (ncap < need) ncap *= 2;
  void *p = realloc(*arr, (size_t)ncap * elem);
  if (!p) return false;
  memset((char *)p + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
  *arr = p;
  *cap = ncap;
  return true;
}

int lg_graph_add_value(lg_graph *g, const char *name) {
  if (!grow((void **)&g->values, &g->cap_values, g->n_values + 1, sizeof(lg_value))) {
    lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
    return -1;
  }
  lg_value *v = &g->values[g->n_values];
  memset(v, 0, sizeof *v);
  v->name = lg_pool_strndup(g->pool, name ? name : "", name ? strlen(name) : 0);
  v->producer = -1;
  v->arena_offset = -1;
  return g->n_values++;
}

int lg_graph_find_value(const lg_graph *g, const char *name) {
  for (int i = g->n_values - 1; i >= 0; i--)
    if (!strcmp(g->values[i].name, name)) return i;
  return -1;
}

int lg_graph_add_node(lg_graph *g, const char *op_type, int n_in, int n_out) {
  if (!grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(lg_node))) {
    lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
    return -1;
  }
  lg_node *n = &g->nodes[g->n_nodes];
  memset(n, 0, sizeof *n);
  n->op_type = lg_pool_strndup(g->pool, op_type, strlen(op_type));
  n->name = "";
  n->domain = "";
  n->n_in = n_in;
  n->n_out = n_out;
  n->in = lg_pool_alloc(g->pool, sizeof(int) * (size_t)(n_in ? n_in : 1));
  n->out = lg_pool_alloc(g->pool, sizeof(int) * (size_t)(n_out ? n_out : 1));
  if (!n->op_type || !n->in || !n->out) {
    lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
    return -1;
  }
  for (int i = 0; i < n_in; i++) n->in[i] = -1;
  for (int i = 0; i < n_out; i++) n->out[i] = -1;
  return g->n_nodes++;
}

lg_status lg_graph_clone(const lg_graph *src, lg_graph *dst) {
  LG_TRY(lg_graph_init(dst));
  dst->values = malloc(sizeof(lg_value) * (size_t)(src->n_values ? src->n_values : 1));
  dst->nodes = malloc(sizeof(lg_node) * (size_t)(src->n_nodes ? src->n_nodes : 1));
  dst->inputs = lg_pool_alloc(dst->pool, sizeof(int) * (size_t)(src->n_inputs + 1));
  dst->outputs = lg_pool_alloc(dst->pool, sizeof(int) * (size_t)(src->n_outputs + 1));
  if (!dst->values || !dst->nodes || !dst->inputs || !dst->outputs) {
    lg_graph_free(dst);
    return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  }
  /* memcpy with a NULL source is undefined even for 0 bytes: a graph may have no nodes. */
  if (src->n_values) memcpy(dst->values, src->values, sizeof(lg_value) * (size_t)src->n_values);
  dst->n_values = dst->cap_values = src->n_values;
  for (int i = 0; i < dst->n_values; i++) dst->values[i].owned = NULL; /* shared, not owned */
  if (src->n_inputs) memcpy(dst->inputs, src->inputs, sizeof(int) * (size_t)src->n_inputs);
  dst->n_inputs = src->n_inputs;
  if (src->n_outputs) memcpy(dst->outputs, src->outputs, sizeof(int) * (size_t)src->n_outputs);
  dst->n_outputs = src->n_outputs;
  /* Node arrays and attributes are shared with the source (read-only). */
  if (src->n_nodes) memcpy(dst->nodes, src->nodes, sizeof(lg_node) * (size_t)src->n_nodes);
  dst->n_nodes = dst->cap_nodes = src->n_nodes;
  for (int i = 0; i < dst->n_nodes; i++) {
    lg_node *n = &dst->nodes[i];
    n->state = NULL;
    int *in = lg_pool_alloc(dst->pool, sizeof(int) * (size_t)(n->n_in + 1));
    int *out = lg_pool_alloc(dst->pool, sizeof(int) * (size_t)(n->n_out + 1));
    if (!in || !out) {
      lg_graph_free(dst);
      return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
    }
    if (n->n_in) memcpy(in, n->in, sizeof(int) * (size_t)n->n_in);
    if (n->n_out) memcpy(out, n->out, sizeof(int) * (size_t)n->n_out);
    n->in = in;
    n->out = out;
  }
  return LEDGE_OK;
}

int lg_graph_use_count(const lg_graph *g, int v) {
  int uses = g->values[v].is_output ? 1 : 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const lg_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->n_in; k++) uses += n->in[k] == v;
  }
  return uses;
}

lg_status lg_value_alloc_owned(lg_value *v) {
  int64_t count = lg_tensor_count(&v->t);
  size_t esize = ledge_dtype_size(v->t.dtype);
  if (count < 0 || esize == 0 || (uint64_t)count > SIZE_MAX / 2 / esize)
    return lg_error(LEDGE_ERR_SHAPE, "value '%s': cannot allocate this shape", v->name);
  if (v->owned) lg_aligned_free(v->owned);
  v->owned = lg_aligned_alloc((size_t)count * esize);
  if (!v->owned) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory for value '%s'", v->name);
  v->t.data = v->owned;
  v->t.capacity = (size_t)count * esize;
  return LEDGE_OK;
}

/* ---- Attributes ---- */

const lg_attr *lg_attr_find(const lg_node *node, const char *name) {
  for (int i = 0; i < node->n_attrs; i++)
    if (!strcmp(node->attrs[i].name, name)) return &node->attrs[i];
  return NULL;
}

int64_t lg_attr_int(const lg_node *node, const char *name, int64_t def) {
  const lg_attr *a = lg_attr_find(node, name);
  return a && a->type == LG_ATTR_INT ? a->i : def;
}

float lg_attr_float(const lg_node *node, const char *name, float def) {
  const lg_attr *a = lg_attr_find(node, name);
  if (!a) return def;
  if (a->type == LG_ATTR_FLOAT) return a->f;
  if (a->type == LG_ATTR_INT) return (float)a->i;
  return def;
}

const char *lg_attr_string(const lg_node *node, const char *name, const char *def) {
  const lg_attr *a = lg_attr_find(node, name);
  return a && a->type == LG_ATTR_STRING ? a->s : def;
}

int lg_attr_ints(const lg_node *node, const char *name, const int64_t **out) {
  const lg_attr *a = lg_attr_find(node, name);
  if (!a || a->type != LG_ATTR_INTS) return -1;
  *out = a->ints;
  return a->n;
}

int lg_attr_floats(const lg_node *node, const char *name, const float **out) {
  const lg_attr *a = lg_attr_find(node, name);
  if (!a || a->type != LG_ATTR_FLOATS) return -1;
  *out = a->floats;
  return a->n;
}

const lg_tensor *lg_attr_tensor(const lg_node *node, const char *name) {
  const lg_attr *a = lg_attr_find(node, name);
  return a && a->type == LG_ATTR_TENSOR ? a->t : NULL;
}

/* ---- Fused activations ---- */

float lg_act_scalar(const lg_act *act, float x) {
  switch (act->kind) {
    case LG_ACT_NONE: return x;
    case LG_ACT_RELU: return x > 0 ? x : 0;
    case LG_ACT_CLIP: return x < act->alpha ? act->alpha : (x > act->beta ? act->beta : x);
    case LG_ACT_LEAKY_RELU: return x >= 0 ? x : act->alpha * x;
    case LG_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case LG_ACT_HARD_SIGMOID: {
      float y = act->alpha * x + act->beta;
      return y < 0 ? 0 : (y > 1 ? 1 : y);
    }
    case LG_ACT_HARD_SWISH: {
      float y = x / 6.0f + 0.5f;
      return x * (y < 0 ? 0 : (y > 1 ? 1 : y));
    }
    case LG_ACT_TANH: return tanhf(x);
    case LG_ACT_SWISH: return x / (1.0f + expf(-x));
  }
  return x;
}

void lg_act_apply(const lg_act *act, float *x, int64_t n) {
  switch (act->kind) {
    case LG_ACT_NONE: return;
    case LG_ACT_RELU:
      for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0;
      return;
    case LG_ACT_SIGMOID: lg_vsigmoid(x, x, n); return;
    case LG_ACT_SWISH: lg_vswish(x, x, n); return;
    default:
      for (int64_t i = 0; i < n; i++) x[i] = lg_act_scalar(act, x[i]);
  }
}
