/*
 * planner.c: greedy-by-size offset assignment. Tensors are placed largest
 * first, each at the lowest offset that does not overlap a placed tensor
 * alive at the same time. This is the classic heuristic used by mobile
 * runtimes; on CNN chains it comes close to the peak of live bytes.
 */
#include "runtime/planner.h"

#include <stdlib.h>

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

lg_status lg_plan_memory(lg_graph *g, const int *order, int n_order, lg_memory_plan *plan) {
  plan->arena_bytes = plan->intermediate_bytes = plan->workspace_bytes = plan->workspace_offset = 0;
  int *first = malloc(sizeof(int) * (size_t)(g->n_values + 1));
  int *last = malloc(sizeof(int) * (size_t)(g->n_values + 1));
  interval *iv = malloc(sizeof(interval) * (size_t)(g->n_values + 1));
  interval **placed = malloc(sizeof(interval *) * (size_t)(g->n_values + 1));
  interval **conf = malloc(sizeof(interval *) * (size_t)(g->n_values + 1));
  if (!first || !last || !iv || !placed || !conf) {
    free(first), free(last), free(iv), free(placed), free(conf);
    return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  }
  for (int v = 0; v < g->n_values; v++) {
    first[v] = -1;
    last[v] = -1;
    g->values[v].arena_offset = -1;
  }
  size_t workspace = 0;
  for (int k = 0; k < n_order; k++) {
    const lg_node *n = &g->nodes[order[k]];
    if (n->workspace > workspace) workspace = n->workspace;
    for (int i = 0; i < n->n_out; i++)
      if (n->out[i] >= 0 && g->values[n->out[i]].kind == LG_VALUE_ACTIVATION && first[n->out[i]] < 0)
        first[n->out[i]] = k, last[n->out[i]] = k;
    for (int i = 0; i < n->n_in; i++)
      if (n->in[i] >= 0 && first[n->in[i]] >= 0) last[n->in[i]] = k;
  }
  int count = 0;
  for (int v = 0; v < g->n_values; v++) {
    if (first[v] < 0) continue;
    interval *it = &iv[count++];
    it->value = v;
    it->first = first[v];
    it->last = g->values[v].is_output ? n_order : last[v];
    it->size = (int64_t)lg_align_up(lg_tensor_bytes(&g->values[v].t), LG_ALIGNMENT);
    if (it->size == 0) it->size = LG_ALIGNMENT; /* empty tensors still get a valid pointer */
    it->offset = -1;
    plan->intermediate_bytes += it->size;
  }
  qsort(iv, (size_t)count, sizeof *iv, by_size_desc);
  int n_placed = 0;
  int64_t arena = 0;
  for (int i = 0; i < count; i++) {
    interval *it = &iv[i];
    /* Tensors alive at the same time, by offset: take the first gap that fits. */
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
  plan->workspace_offset = arena;
  plan->workspace_bytes = (int64_t)lg_align_up(workspace, LG_ALIGNMENT);
  plan->arena_bytes = arena + plan->workspace_bytes;
  if (plan->arena_bytes == 0) plan->arena_bytes = LG_ALIGNMENT;
  free(first), free(last), free(iv), free(placed), free(conf);
  return LEDGE_OK;
}
