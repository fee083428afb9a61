/*
 * session.c: planning and running a model.
 *
 * Planning happens once per set of input shapes: the model's graph is
 * copied, the passes run, every node's output shape is inferred and nodes
 * whose inputs are all known are evaluated on the spot (constant folding),
 * and the memory planner places every remaining intermediate in one arena.
 * Running then only walks a prepared list of (node, tensors) and calls
 * kernels: it allocates nothing.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ops/nn_common.h"
#include "ops/op.h"
#include "runtime/model.h"
#include "runtime/passes_quant.h"
#include "runtime/planner.h"

#define LG_SMALL_INPUT_BYTES 512

struct ledge_session {
  const ledge_model *model;
  ledge_session_options options;
  lg_threadpool *pool;
  lg_graph g; /* the planned copy of the model's graph */
  bool planned;
  lg_tensor *input_shapes; /* per input: the shape to plan for (rank -1 = unknown) */
  /* the plan */
  int *order; /* live nodes in execution order */
  int n_order;
  lg_tensor **io; /* per planned node: n_in input then n_out output tensor pointers */
  int *io_start;
  uint8_t *arena;
  int64_t arena_bytes, workspace_offset, workspace_bytes, intermediate_bytes, macs;
  lg_tensor *outputs; /* views of the graph outputs after a run */
  /* Small inputs (shape tensors, scalars) are visible to shape inference, so
   * a model whose output shape depends on an input's values can be planned;
   * the plan then holds for those values only, kept here. */
  double *profile_ms; /* per planned node, when options.profile */
  int64_t profile_runs;
  uint8_t (*snapshot)[LG_SMALL_INPUT_BYTES];
  bool *snapshot_valid;
};

void ledge_session_options_init(ledge_session_options *o) {
  memset(o, 0, sizeof *o);
  o->num_threads = 0;
  o->optimization_level = 1;
}

static void clear_plan(ledge_session *s) {
  lg_graph_free(&s->g);
  free(s->order);
  free(s->io);
  free(s->io_start);
  free(s->profile_ms);
  s->profile_ms = NULL;
  s->profile_runs = 0;
  lg_aligned_free(s->arena);
  s->order = NULL;
  s->io = NULL;
  s->io_start = NULL;
  s->arena = NULL;
  s->n_order = 0;
  s->planned = false;
}

/* Fails if the plan would use more memory than the session may. */
static lg_status charge(ledge_session *s, int64_t *used, int64_t bytes) {
  *used += bytes;
  if (s->options.memory_limit > 0 && *used > s->options.memory_limit)
    return lg_error(LEDGE_ERR_NO_MEMORY,
                    "the plan needs over %lld bytes, more than the session's limit of %lld",
                    (long long)*used, (long long)s->options.memory_limit);
  return LEDGE_OK;
}

/* Runs a node whose inputs are all known, at plan time, into owned buffers. */
static lg_status fold_node(ledge_session *s, int64_t *used, lg_graph *g, lg_node *n, lg_tensor **in,
                           lg_tensor **out) {
  for (int k = 0; k < n->n_out; k++) {
    if (n->out[k] < 0) continue;
    LG_TRY(charge(s, used, (int64_t)lg_tensor_bytes(&g->values[n->out[k]].t)));
    LG_TRY(lg_value_alloc_owned(&g->values[n->out[k]]));
    out[k] = &g->values[n->out[k]].t;
  }
  void *ws = n->workspace ? lg_aligned_alloc(n->workspace) : NULL;
  if (n->workspace && !ws) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  lg_exec exec = {NULL, ws};
  lg_status st = n->op->run(n, in, out, &exec);
  lg_aligned_free(ws);
  if (st != LEDGE_OK) return st;
  for (int k = 0; k < n->n_out; k++)
    if (n->out[k] >= 0) g->values[n->out[k]].kind = LG_VALUE_CONSTANT;
  n->dead = true;
  return LEDGE_OK;
}

/* Shape inference and constant folding, in one walk in topological order. */
/* ---- Releasing the file pages of weights the kernels have copied ----
 *
 * A model loaded from a path keeps its constants in a private mapping of
 * the file. Convolutions pack their weights at plan time and never read the
 * originals again, so those pages would double the resident weights. Pages
 * of such a tensor that are still the file's clean page-cache pages (never
 * written: the importer slides misaligned tensors in place, which turns
 * their pages into private copies) are dropped with MADV_DONTNEED: a later
 * reader (another session, a replan, a writer) faults them in from the file
 * again, exactly as after the kernel reclaimed them under memory pressure.
 * /proc/self/pagemap tells the two apart (bit 61: file page; 62: swapped;
 * 63: present); where it cannot be read nothing is released. */

#define PAGEMAP_PRESENT (1ull << 63)
#define PAGEMAP_SWAPPED (1ull << 62)
#define PAGEMAP_FILE (1ull << 61)

static void release_clean_pages(int pagemap, uintptr_t begin, uintptr_t end, uintptr_t page) {
  uintptr_t lo = (begin + page - 1) / page * page, hi = end / page * page;
  uint64_t entries[512];
  for (uintptr_t at = lo; at < hi;) {
    size_t n = (size_t)((hi - at) / page);
    if (n > 512) n = 512;
    off_t where = (off_t)(at / page * sizeof(uint64_t));
    if (pread(pagemap, entries, n * sizeof(uint64_t), where) != (ssize_t)(n * sizeof(uint64_t)))
      return;
    /* Runs of pages that are clean file pages or were never touched. */
    size_t i = 0;
    while (i < n) {
      bool clean = !(entries[i] & PAGEMAP_SWAPPED) &&
                   (!(entries[i] & PAGEMAP_PRESENT) || (entries[i] & PAGEMAP_FILE));
      size_t j = i + 1;
      while (j < n) {
        bool c = !(entries[j] & PAGEMAP_SWAPPED) &&
                 (!(entries[j] & PAGEMAP_PRESENT) || (entries[j] & PAGEMAP_FILE));
        if (c != clean) break;
        j++;
      }
      if (clean) madvise((void *)(at + i * page), (j - i) * page, MADV_DONTNEED);
      i = j;
    }
    at += n * page;
  }
}

/* Releases the clean file pages of constant value v (if it lives in the
 * model file's mapping). */
static void release_value_pages(const ledge_session *s, int v) {
  const lg_mapping *file = &s->model->file;
  const lg_value *val = &s->g.values[v];
  long page = sysconf(_SC_PAGESIZE);
  uintptr_t map_lo = (uintptr_t)file->addr, map_hi = map_lo + file->size;
  uintptr_t lo = (uintptr_t)val->t.data, hi = lo + lg_tensor_bytes(&val->t);
  if (!file->addr || page <= 0 || val->kind != LG_VALUE_CONSTANT || !val->t.data || val->owned ||
      lo < map_lo || hi > map_hi || hi - lo < (uintptr_t)page || getenv("LEDGE_KEEP_WEIGHT_PAGES"))
    return;
  int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pagemap < 0) return;
  release_clean_pages(pagemap, lo, hi, (uintptr_t)page);
  close(pagemap);
}

/* Right after a Conv packed W that nothing else reads, so that the
 * originals and the packed copies are never resident together. */
static void release_after_infer(const ledge_session *s, const lg_node *n) {
  if (n->n_in > 1 && n->in[1] >= 0 && lg_conv_holds_weights(n) &&
      lg_graph_use_count(&s->g, n->in[1]) == 1)
    release_value_pages(s, n->in[1]);
}

/* After planning: weights shared by several nodes that all hold copies. */
static void release_packed_weights(ledge_session *s) {
  lg_graph *g = &s->g;
  if (!s->model->file.addr) return;
  uint8_t *needed = calloc((size_t)g->n_values + 1, 1), *held = calloc((size_t)g->n_values + 1, 1);
  if (!needed || !held) {
    free(needed);
    free(held);
    return;
  }
  for (int i = 0; i < g->n_nodes; i++) {
    const lg_node *n = &g->nodes[i];
    if (n->dead) continue;
    bool holds = lg_conv_holds_weights(n);
    for (int k = 0; k < n->n_in; k++) {
      if (n->in[k] < 0) continue;
      if (k == 1 && holds)
        held[n->in[k]] = 1;
      else
        needed[n->in[k]] = 1;
    }
  }
  for (int v = 0; v < g->n_values; v++)
    if (held[v] && !needed[v] && lg_graph_use_count(g, v) > 1) release_value_pages(s, v);
  free(needed);
  free(held);
}

static lg_status infer_and_fold(ledge_session *s, int max_io, int64_t *used) {
  lg_graph *g = &s->g;
  lg_tensor **in = calloc((size_t)max_io + 1, sizeof *in),
            **out = calloc((size_t)max_io + 1, sizeof *out);
  if (!in || !out) {
    free(in);
    free(out);
    return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  }
  lg_status st = LEDGE_OK;
  for (int i = 0; i < g->n_nodes && st == LEDGE_OK; i++) {
    lg_node *n = &g->nodes[i];
    if (n->dead) continue;
    bool all_const = true;
    /* Slots past this node's arity stay NULL, so an op that reads too far
     * fails on NULL instead of seeing the previous node's tensors. */
    memset(in, 0, sizeof *in * ((size_t)max_io + 1));
    memset(out, 0, sizeof *out * ((size_t)max_io + 1));
    for (int k = 0; k < n->n_in && st == LEDGE_OK; k++) {
      in[k] = NULL;
      if (n->in[k] < 0) continue;
      lg_value *v = &g->values[n->in[k]];
      if (!v->shape_known)
        st = lg_error(LEDGE_ERR_SHAPE,
                      "the shape of '%s' is not known; give the session its input shapes", v->name);
      in[k] = &v->t;
      all_const &= v->kind == LG_VALUE_CONSTANT;
    }
    for (int k = 0; k < n->n_out; k++) {
      out[k] = NULL;
      if (n->out[k] < 0) continue;
      lg_value *v = &g->values[n->out[k]];
      memset(&v->t, 0, sizeof v->t);
      out[k] = &v->t;
    }
    if (st != LEDGE_OK) break;
    free(n->state);
    n->state = NULL;
    n->workspace = 0;
    n->macs = 0;
    n->kernel = NULL;
    st = n->op->infer(n, in, out);
    if (st == LEDGE_OK) release_after_infer(s, n);
    for (int k = 0; k < n->n_out && st == LEDGE_OK; k++) {
      if (!out[k]) continue;
      if (out[k]->dtype == LEDGE_DTYPE_UNDEFINED || ledge_dtype_size(out[k]->dtype) == 0 ||
          lg_tensor_count(out[k]) < 0)
        st = lg_error(LEDGE_ERR_INTERNAL, "output %d has no valid dtype or shape after inference",
                      k);
      g->values[n->out[k]].shape_known = true;
    }
    if (st == LEDGE_OK && (all_const || n->op->shape_only) && !n->op->no_fold)
      st = fold_node(s, used, g, n, in, out);
    if (st != LEDGE_OK) lg_error_context(st, "node '%s' (%s): ", n->name, n->op_type);
  }
  free(in);
  free(out);
  return st;
}

static bool is_small(const lg_tensor *t) { return lg_tensor_bytes(t) <= LG_SMALL_INPUT_BYTES; }

static lg_status plan_with(ledge_session *s, ledge_tensor *const *inputs) {
  clear_plan(s);
  const lg_graph *mg = &s->model->graph;
  lg_graph *g = &s->g;
  LG_TRY(lg_graph_clone(mg, g));
  for (int i = 0; i < g->n_inputs; i++) {
    lg_value *v = &g->values[g->inputs[i]];
    const lg_tensor *shape = &s->input_shapes[i];
    if (shape->rank < 0 || lg_tensor_count(shape) < 0)
      return lg_error(LEDGE_ERR_SHAPE, "input '%s' has an unknown shape; set it before running",
                      v->name);
    lg_tensor_set_shape(&v->t, shape->rank, shape->dims);
    v->shape_known = true;
    s->snapshot_valid[i] = false;
    if (inputs && is_small(&v->t) && inputs[i]->data) {
      /* Specialize the plan on this input's values: it becomes a constant,
       * and run replans if the values ever change. */
      memcpy(s->snapshot[i], inputs[i]->data, lg_tensor_bytes(&v->t));
      s->snapshot_valid[i] = true;
      v->t.data = s->snapshot[i];
      v->kind = LG_VALUE_CONSTANT;
    }
  }
  int opt = s->options.optimization_level;
  if (opt >= 1) LG_TRY(lg_pass_fold_batchnorm(g));
  if (opt >= 1) LG_TRY(lg_pass_fold_qdq(g));
  int max_io = 1;
  for (int i = 0; i < g->n_nodes; i++) {
    if (g->nodes[i].n_in > max_io) max_io = g->nodes[i].n_in;
    if (g->nodes[i].n_out > max_io) max_io = g->nodes[i].n_out;
  }
  int64_t used = 0;
  LG_TRY(infer_and_fold(s, max_io, &used));
  if (opt >= 1) {
    LG_TRY(lg_pass_eliminate_identity(g));
    LG_TRY(lg_pass_fuse_swish(g));
    LG_TRY(lg_pass_fuse_residual(g));
    LG_TRY(lg_pass_fuse_activations(g));
  }
  LG_TRY(lg_pass_eliminate_dead(g));

  /* Execution order and the per-node tensor lists. */
  s->order = malloc(sizeof(int) * (size_t)(g->n_nodes + 1));
  s->io_start = malloc(sizeof(int) * (size_t)(g->n_nodes + 1));
  int64_t n_io = 0;
  for (int i = 0; i < g->n_nodes; i++)
    if (!g->nodes[i].dead) n_io += g->nodes[i].n_in + g->nodes[i].n_out;
  s->io = calloc((size_t)n_io + 1, sizeof(lg_tensor *));
  if (s->options.profile) s->profile_ms = calloc((size_t)g->n_nodes + 1, sizeof(double));
  if (!s->order || !s->io_start || !s->io || (s->options.profile && !s->profile_ms))
    return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  int64_t pos = 0;
  s->macs = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    lg_node *n = &g->nodes[i];
    if (n->dead) continue;
    s->io_start[s->n_order] = (int)pos;
    s->order[s->n_order++] = i;
    for (int k = 0; k < n->n_in; k++) s->io[pos++] = n->in[k] >= 0 ? &g->values[n->in[k]].t : NULL;
    for (int k = 0; k < n->n_out; k++)
      s->io[pos++] = n->out[k] >= 0 ? &g->values[n->out[k]].t : NULL;
    s->macs += n->macs;
  }

  /* One arena for every intermediate, placed by lifetime. */
  lg_memory_plan mp;
  uint8_t *skip = calloc((size_t)s->n_order + 1, 1);
  if (!skip) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  lg_status st = lg_plan_memory(g, s->order, s->n_order, opt >= 1, skip, &mp);
  if (st != LEDGE_OK) {
    free(skip);
    return st;
  }
  /* Nodes the planner made free (views, concats in place) never run. */
  int kept = 0;
  for (int k = 0; k < s->n_order; k++) {
    if (skip[k]) continue;
    s->order[kept] = s->order[k];
    s->io_start[kept] = s->io_start[k];
    kept++;
  }
  s->n_order = kept;
  free(skip);
  s->arena_bytes = mp.arena_bytes;
  s->workspace_offset = mp.workspace_offset;
  s->workspace_bytes = mp.workspace_bytes;
  s->intermediate_bytes = mp.intermediate_bytes;
  LG_TRY(charge(s, &used, s->arena_bytes));
  s->arena = lg_aligned_alloc((size_t)s->arena_bytes);
  if (!s->arena)
    return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory for a %lld-byte arena",
                    (long long)s->arena_bytes);
  for (int v = 0; v < g->n_values; v++) {
    lg_value *val = &g->values[v];
    if (val->arena_offset >= 0) {
      val->t.data = s->arena + val->arena_offset;
      val->t.capacity = lg_tensor_bytes(&val->t);
    }
  }
  s->planned = true;
  return LEDGE_OK;
}

/* Plans without looking at input values; only if some shape needs them
 * (a Reshape whose shape is an input) plans again with the small inputs'
 * values visible, and remembers them. */
static lg_status plan(ledge_session *s, ledge_tensor *const *inputs) {
  lg_status st = plan_with(s, NULL);
  if (st == LEDGE_ERR_SHAPE && inputs) st = plan_with(s, inputs);
  if (st == LEDGE_OK) release_packed_weights(s);
  return st;
}

ledge_status ledge_session_create(const ledge_model *model, const ledge_session_options *options,
                                  ledge_session **out) {
  if (!model || !out) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "model and out must not be NULL");
  *out = NULL;
  ledge_session *s = calloc(1, sizeof *s);
  if (!s) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  s->model = model;
  if (options)
    s->options = *options;
  else
    ledge_session_options_init(&s->options);
  const lg_graph *mg = &model->graph;
  s->input_shapes = calloc((size_t)mg->n_inputs + 1, sizeof(lg_tensor));
  s->outputs = calloc((size_t)mg->n_outputs + 1, sizeof(lg_tensor));
  s->snapshot = calloc((size_t)mg->n_inputs + 1, sizeof *s->snapshot);
  s->snapshot_valid = calloc((size_t)mg->n_inputs + 1, sizeof(bool));
  if (!s->input_shapes || !s->outputs || !s->snapshot || !s->snapshot_valid) {
    ledge_session_destroy(s);
    return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  }
  bool all_known = true;
  for (int i = 0; i < mg->n_inputs; i++) {
    const lg_value *v = &mg->values[mg->inputs[i]];
    s->input_shapes[i] = v->t;
    s->input_shapes[i].data = NULL;
    if (!v->shape_known) s->input_shapes[i].rank = v->t.rank < 0 ? -1 : v->t.rank;
    all_known &= v->shape_known;
  }
  lg_status st = lg_threadpool_create(s->options.num_threads, &s->pool);
  if (st == LEDGE_OK && all_known) {
    st = plan(s, NULL);
    if (st == LEDGE_ERR_SHAPE && mg->n_inputs > 0) {
      /* Maybe a shape depends on input values: plan at the first run. */
      clear_plan(s);
      st = LEDGE_OK;
    }
  }
  if (st != LEDGE_OK) {
    ledge_session_destroy(s);
    return st;
  }
  *out = s;
  return LEDGE_OK;
}

void ledge_session_destroy(ledge_session *s) {
  if (!s) return;
  clear_plan(s);
  lg_threadpool_destroy(s->pool);
  free(s->input_shapes);
  free(s->outputs);
  free(s->snapshot);
  free(s->snapshot_valid);
  free(s);
}

static int find_name(const lg_graph *g, const int *list, int n, const char *name) {
  if (!name) return -1;
  for (int i = 0; i < n; i++)
    if (!strcmp(g->values[list[i]].name, name)) return i;
  return -1;
}

int ledge_session_input_index(const ledge_session *s, const char *name) {
  const lg_graph *g = &s->model->graph;
  return find_name(g, g->inputs, g->n_inputs, name);
}

int ledge_session_output_index(const ledge_session *s, const char *name) {
  const lg_graph *g = &s->model->graph;
  return find_name(g, g->outputs, g->n_outputs, name);
}

int ledge_session_input_count(const ledge_session *s) { return s->model->graph.n_inputs; }
int ledge_session_output_count(const ledge_session *s) { return s->model->graph.n_outputs; }

ledge_status ledge_session_input_info(const ledge_session *s, int index, ledge_tensor_info *info) {
  const lg_graph *g = s->planned ? &s->g : &s->model->graph;
  return lg_value_info(g, g->inputs, g->n_inputs, index, info);
}

ledge_status ledge_session_output_info(const ledge_session *s, int index, ledge_tensor_info *info) {
  const lg_graph *g = s->planned ? &s->g : &s->model->graph;
  return lg_value_info(g, g->outputs, g->n_outputs, index, info);
}

/* Checks a requested shape against the model's declared one. */
static lg_status check_input_shape(const ledge_session *s, int index, int rank,
                                   const int64_t *dims) {
  const lg_value *v = &s->model->graph.values[s->model->graph.inputs[index]];
  char want[256], got[256];
  if (rank < 0 || rank > LEDGE_MAX_RANK || (rank > 0 && !dims))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "input '%s': rank %d is out of range", v->name,
                    rank);
  for (int i = 0; i < rank; i++)
    if (dims[i] < 0)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "input '%s': dimension %d is negative", v->name,
                      i);
  if (v->t.rank < 0) return LEDGE_OK;
  bool ok = v->t.rank == rank;
  for (int i = 0; ok && i < rank; i++) ok = v->t.dims[i] < 0 || v->t.dims[i] == dims[i];
  if (!ok)
    return lg_error(LEDGE_ERR_SHAPE, "input '%s' has shape %s but the model expects %s", v->name,
                    lg_shape_str(rank, dims, got, sizeof got),
                    lg_shape_str(v->t.rank, v->t.dims, want, sizeof want));
  return LEDGE_OK;
}

ledge_status ledge_session_set_input_shape(ledge_session *s, int index, int rank,
                                           const int64_t *dims) {
  if (!s || index < 0 || index >= s->model->graph.n_inputs)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "input index %d is out of range", index);
  LG_TRY(check_input_shape(s, index, rank, dims));
  lg_tensor_set_shape(&s->input_shapes[index], rank, dims);
  for (int i = 0; i < s->model->graph.n_inputs; i++)
    if (s->input_shapes[i].rank < 0 || lg_tensor_count(&s->input_shapes[i]) < 0) {
      s->planned = false;
      return LEDGE_OK; /* plan once every input is known */
    }
  lg_status st = plan(s, NULL);
  if (st != LEDGE_OK) clear_plan(s);
  return st;
}

ledge_status ledge_session_run(ledge_session *s, ledge_tensor *const *inputs, int n_inputs,
                               ledge_tensor *const *outputs, int n_outputs) {
  if (!s) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "session is NULL");
  const lg_graph *mg = &s->model->graph;
  if (n_inputs != mg->n_inputs || (n_inputs > 0 && !inputs))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "the model has %d inputs but %d were given",
                    mg->n_inputs, n_inputs);
  if (outputs && n_outputs != mg->n_outputs)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "the model has %d outputs but %d were given",
                    mg->n_outputs, n_outputs);

  bool replan = !s->planned;
  for (int i = 0; i < n_inputs; i++) {
    const lg_tensor *t = inputs[i];
    const lg_value *v = &mg->values[mg->inputs[i]];
    if (!t) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "input '%s' is NULL", v->name);
    if (t->dtype != v->t.dtype)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "input '%s' must be %s, not %s", v->name,
                      ledge_dtype_name(v->t.dtype), ledge_dtype_name(t->dtype));
    if (!lg_shape_equal(t->rank, t->dims, s->input_shapes[i].rank, s->input_shapes[i].dims)) {
      LG_TRY(check_input_shape(s, i, t->rank, t->dims));
      lg_tensor_set_shape(&s->input_shapes[i], t->rank, t->dims);
      replan = true;
    }
    if (!t->data && lg_tensor_count(t) > 0)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "input '%s' has no data", v->name);
    if (s->planned && s->snapshot_valid[i] &&
        memcmp(s->snapshot[i], t->data, lg_tensor_bytes(t)) != 0)
      replan = true;
  }
  if (replan) {
    lg_status st = plan(s, inputs);
    if (st != LEDGE_OK) {
      clear_plan(s);
      return st;
    }
  }
  lg_graph *g = &s->g;
  for (int i = 0; i < n_inputs; i++) g->values[g->inputs[i]].t.data = inputs[i]->data;

  lg_exec exec = {s->pool, s->arena + s->workspace_offset};
  /* LEDGE_PROFILE_CLOCK=cpu times nodes by the calling thread's CPU time:
   * with one thread, steadier than wall time on a machine shared with
   * other work (with more, it misses the workers' share). */
  clockid_t clock = CLOCK_MONOTONIC;
  const char *clock_env = s->profile_ms ? getenv("LEDGE_PROFILE_CLOCK") : NULL;
  if (clock_env && !strcmp(clock_env, "cpu")) clock = CLOCK_THREAD_CPUTIME_ID;
  for (int k = 0; k < s->n_order; k++) {
    const lg_node *n = &g->nodes[s->order[k]];
    lg_tensor **io = s->io + s->io_start[k];
    struct timespec t0, t1;
    if (s->profile_ms) clock_gettime(clock, &t0);
    lg_status st = n->op->run(n, io, io + n->n_in, &exec);
    if (st != LEDGE_OK) return lg_error_context(st, "node '%s' (%s): ", n->name, n->op_type);
    if (s->profile_ms) {
      clock_gettime(clock, &t1);
      s->profile_ms[k] +=
          (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-6;
    }
  }
  if (s->profile_ms) s->profile_runs++;

  for (int i = 0; i < g->n_outputs; i++) {
    const lg_tensor *t = &g->values[g->outputs[i]].t;
    s->outputs[i] = *t;
    s->outputs[i].owns_data = false;
    if (outputs && outputs[i]) {
      lg_tensor *o = outputs[i];
      if (o->dtype != t->dtype || lg_tensor_count(o) != lg_tensor_count(t))
        return lg_error(LEDGE_ERR_INVALID_ARGUMENT,
                        "output '%s' needs a %s tensor of %lld elements",
                        g->values[g->outputs[i]].name, ledge_dtype_name(t->dtype),
                        (long long)lg_tensor_count(t));
      if (o->data != t->data) memcpy(o->data, t->data, lg_tensor_bytes(t));
    }
  }
  return LEDGE_OK;
}

ledge_status ledge_session_output(const ledge_session *s, int index, const ledge_tensor **out) {
  if (!s || !out || index < 0 || index >= s->model->graph.n_outputs)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "output index %d is out of range", index);
  if (!s->planned) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "the session has not run yet");
  *out = &s->outputs[index];
  return LEDGE_OK;
}

ledge_status ledge_session_stats_get(const ledge_session *s, ledge_session_stats *st) {
  if (!s || !st) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "session and stats must not be NULL");
  if (!s->planned)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT,
                    "the session is not planned yet (input shapes unknown)");
  memset(st, 0, sizeof *st);
  st->arena_bytes = s->arena_bytes;
  st->intermediate_bytes = s->intermediate_bytes;
  st->workspace_bytes = s->workspace_bytes;
  st->node_count = s->n_order;
  st->macs = s->macs;
  return LEDGE_OK;
}

int ledge_session_profile_count(const ledge_session *s) {
  return s && s->profile_ms ? s->n_order : 0;
}

ledge_status ledge_session_profile_get(const ledge_session *s, int index, ledge_node_profile *out) {
  if (!s || !out) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "session and out must not be NULL");
  if (!s->profile_ms)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "the session was not created with profile = 1");
  if (index < 0 || index >= s->n_order)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "profile index %d is out of range", index);
  const lg_node *n = &s->g.nodes[s->order[index]];
  out->name = n->name;
  out->op_type = n->op_type;
  out->kernel = n->kernel ? n->kernel : n->op_type;
  out->runs = s->profile_runs;
  out->total_ms = s->profile_ms[index];
  out->macs = n->macs;
  return LEDGE_OK;
}

void ledge_session_profile_reset(ledge_session *s) {
  if (!s || !s->profile_ms) return;
  memset(s->profile_ms, 0, sizeof(double) * (size_t)s->n_order);
  s->profile_runs = 0;
}
