/*
 * planner.c: static memory planning in two steps.
 *
 * 1. Aliasing. Some outputs need no memory of their own: a view (Reshape,
 *    Flatten, Squeeze, Unsqueeze, Identity) has exactly its input's bytes,
 *    and the inputs of a Concat along its outermost non-trivial axis can be
 *    written by their producers straight into their slice of the output.
 *    Such values join an alias group: a root value that owns the memory and
 *    members at fixed byte offsets inside it. The node that would have
 *    copied becomes free and is skipped at run time.
 * 2. Placement, greedy by size. Roots are placed largest first, each at the
 *    lowest offset that does not overlap a placed root alive at the same
 *    time (a group is alive from its first member's birth to its last
 *    member's last use). This is the classic heuristic of mobile runtimes;
 *    on CNN chains it comes close to the peak of live bytes.
 */
#include "runtime/planner.h"

#include <stdlib.h>
#include <string.h>

#include "ops/op.h"

typedef struct {
  int value;
  int first, last; /* positions in the execution order */
  int64_t size;
  int64_t offset;
} interval;

static int by_size_desc(const void *a, const void *b) {
  const interval *x = a, *y = b;
  if (x->size != y->size) return x->size < y->size ? 1 : -1;
  return x->first - y->first;
}

static int by_offset(const void *a, const void *b) {
  const interval *x = *(interval *const *)a, *y = *(interval *const *)b;
  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

typedef struct {
  int *parent;     /* alias parent value, -1 for a root */
  int64_t *delta;  /* byte offset inside the parent */
} alias_forest;

static int root_of(const alias_forest *af, int v, int64_t *delta) {
  int64_t d = 0;
  while (af->parent[v] >= 0) {
    d += af->delta[v];
    v = af->parent[v];
  }
  if (delta) *delta = d;
  return v;
}

/* Values that may join an alias group: intermediates a node produced. */
static bool aliasable(const lg_graph *g, int v) {
  return v >= 0 && g->values[v].kind == LG_VALUE_ACTIVATION && g->values[v].producer >= 0 &&
         ledge_dtype_size(g->values[v].t.dtype) > 0;
}

static bool try_view(lg_graph *g, alias_forest *af, const lg_node *n) {
  if (n->n_in < 1 || n->n_out < 1) return false;
  int in = n->in[0], out = n->out[0];
  if (!aliasable(g, in) || !aliasable(g, out) || af->parent[out] >= 0) return false;
  if (lg_tensor_bytes(&g->values[in].t) != lg_tensor_bytes(&g->values[out].t)) return false;
  if (root_of(af, in, NULL) == out) return false;
  af->parent[out] = in;
  af->delta[out] = 0;
  return true;
}

static bool try_concat(lg_graph *g, alias_forest *af, const lg_node *n) {
  if (n->n_out < 1 || !aliasable(g, n->out[0]) || af->parent[n->out[0]] >= 0) return false;
  const lg_tensor *out = &g->values[n->out[0]].t;
  int axis;
  if (!lg_normalize_axis(lg_attr_int(n, "axis", 1), out->rank, &axis)) return false;
  for (int d = 0; d < axis; d++)
    if (out->dims[d] != 1) return false; /* the slices would not be contiguous */
  int roots[64];
  if (n->n_in < 1 || n->n_in > 64) return false;
  int64_t offset = 0;
  for (int k = 0; k < n->n_in; k++) {
    int v = n->in[k];
    if (!aliasable(g, v)) return false;
    int64_t d;
    int r = root_of(af, v, &d);
    /* The input must be its whole group (so the group fits the slice), must
     * not be the output itself, and must not appear twice. */
    if (d != 0 || lg_tensor_bytes(&g->values[r].t) != lg_tensor_bytes(&g->values[v].t) || r == n->out[0]) return false;
    for (int j = 0; j < k; j++)
      if (roots[j] == r) return false;
    roots[k] = r;
    /* Slices start where kernels may expect aligned memory. */
    if (offset % LG_ALIGNMENT) return false;
    offset += (int64_t)lg_tensor_bytes(&g->values[v].t);
  }
  if (offset != (int64_t)lg_tensor_bytes(out)) return false;
  offset = 0;
  for (int k = 0; k < n->n_in; k++) {
    af->parent[roots[k]] = n->out[0];
    af->delta[roots[k]] = offset;
    offset += (int64_t)lg_tensor_bytes(&g->values[n->in[k]].t);
  }
  return true;
}

lg_status lg_plan_memory(lg_graph *g, const int *order, int n_order, bool alias, uint8_t *skip,
                         lg_memory_plan *plan) {
  plan->arena_bytes = plan->intermediate_bytes = plan->workspace_bytes = plan->workspace_offset = 0;
  plan->aliased_nodes = 0;
  size_t nv = (size_t)g->n_values + 1;
  int *first = malloc(sizeof(int) * nv), *last = malloc(sizeof(int) * nv);
  interval *iv = malloc(sizeof(interval) * nv);
  interval **placed = malloc(sizeof(interval *) * nv), **conf = malloc(sizeof(interval *) * nv);
  alias_forest af = {malloc(sizeof(int) * nv), malloc(sizeof(int64_t) * nv)};
  int *slot = malloc(sizeof(int) * nv);
  if (!first || !last || !iv || !placed || !conf || !af.parent || !af.delta || !slot) {
    free(first), free(last), free(iv), free(placed), free(conf), free(af.parent), free(af.delta), free(slot);
    return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  }
  for (int v = 0; v < g->n_values; v++) {
    first[v] = last[v] = -1;
    af.parent[v] = -1;
    af.delta[v] = 0;
    g->values[v].arena_offset = -1;
  }
  for (int k = 0; k < n_order; k++) skip[k] = 0;

  /* Lifetimes, and the alias groups. */
  size_t workspace = 0;
  for (int k = 0; k < n_order; k++) {
    const lg_node *n = &g->nodes[order[k]];
    for (int i = 0; i < n->n_out; i++)
      if (n->out[i] >= 0 && g->values[n->out[i]].kind == LG_VALUE_ACTIVATION && first[n->out[i]] < 0)
        first[n->out[i]] = k, last[n->out[i]] = k;
    for (int i = 0; i < n->n_in; i++)
      if (n->in[i] >= 0 && first[n->in[i]] >= 0) last[n->in[i]] = k;
    bool free_node = false;
    if (alias && n->op->alias == LG_ALIAS_VIEW) free_node = try_view(g, &af, n);
    else if (alias && n->op->alias == LG_ALIAS_CONCAT) free_node = try_concat(g, &af, n);
    if (free_node) {
      skip[k] = 1;
      plan->aliased_nodes++;
    } else if (n->workspace > workspace) {
      workspace = n->workspace;
    }
  }
  for (int v = 0; v < g->n_values; v++)
    if (first[v] >= 0 && g->values[v].is_output) last[v] = n_order;

  /* One interval per group root, spanning all its members. */
  int count = 0;
  for (int v = 0; v < g->n_values; v++) {
    slot[v] = -1;
    if (first[v] < 0) continue;
    int64_t bytes = (int64_t)lg_align_up(lg_tensor_bytes(&g->values[v].t), LG_ALIGNMENT);
    plan->intermediate_bytes += bytes ? bytes : LG_ALIGNMENT;
    if (af.parent[v] >= 0) continue;
    interval *it = &iv[count];
    slot[v] = count++;
    it->value = v;
    it->first = first[v];
    it->last = last[v];
    it->size = bytes ? bytes : LG_ALIGNMENT; /* empty tensors still get a valid pointer */
    it->offset = -1;
  }
  for (int v = 0; v < g->n_values; v++) {
    if (first[v] < 0 || af.parent[v] < 0) continue;
    interval *it = &iv[slot[root_of(&af, v, NULL)]];
    if (first[v] < it->first) it->first = first[v];
    if (last[v] > it->last) it->last = last[v];
  }

  qsort(iv, (size_t)count, sizeof *iv, by_size_desc);
  int n_placed = 0;
  int64_t arena = 0;
  for (int i = 0; i < count; i++) {
    interval *it = &iv[i];
    /* Roots alive at the same time, by offset: take the first gap that fits. */
    int n_conf = 0;
    for (int j = 0; j < n_placed; j++)
      if (placed[j]->first <= it->last && it->first <= placed[j]->last) conf[n_conf++] = placed[j];
    qsort(conf, (size_t)n_conf, sizeof *conf, by_offset);
    int64_t offset = 0;
    for (int j = 0; j < n_conf; j++) {
      if (conf[j]->offset >= offset + it->size) break;
      if (conf[j]->offset + conf[j]->size > offset) offset = conf[j]->offset + conf[j]->size;
    }
    it->offset = offset;
    placed[n_placed++] = it;
    if (offset + it->size > arena) arena = offset + it->size;
  }
  for (int i = 0; i < count; i++) g->values[iv[i].value].arena_offset = iv[i].offset;
  for (int v = 0; v < g->n_values; v++) {
    if (first[v] < 0 || af.parent[v] < 0) continue;
    int64_t delta;
    int r = root_of(&af, v, &delta);
    g->values[v].arena_offset = g->values[r].arena_offset + delta;
  }
  plan->workspace_offset = arena;
  plan->workspace_bytes = (int64_t)lg_align_up(workspace, LG_ALIGNMENT);
  plan->arena_bytes = arena + plan->workspace_bytes;
  if (plan->arena_bytes == 0) plan->arena_bytes = LG_ALIGNMENT;
  free(first), free(last), free(iv), free(placed), free(conf), free(af.parent), free(af.delta), free(slot);
  return LEDGE_OK;
}
