/*
 * graph.h: the graph IR every importer produces and every pass, planner and
 * kernel consumes.
 *
 * A graph is two flat arrays: values (tensors: constants, inputs and the
 * intermediates operators produce) and nodes (operators, in topological
 * order) that refer to values by index. Constants may point into a mapped
 * model file; nothing here copies weights unless a pass rewrites them.
 */
#ifndef LEDGE_GRAPH_H
#define LEDGE_GRAPH_H

#include "runtime/core.h"

typedef struct lg_op_def lg_op_def;
typedef struct lg_graph lg_graph;

/* ---- Values ---- */

typedef enum lg_value_kind {
  LG_VALUE_ACTIVATION = 0, /* produced by a node at run time */
  LG_VALUE_CONSTANT = 1,   /* data known before running (weights, folded) */
  LG_VALUE_INPUT = 2       /* supplied by the caller at run time */
} lg_value_kind;

typedef struct lg_value {
  const char *name;
  lg_value_kind kind;
  lg_tensor t;          /* dtype and shape (dims -1 if unknown); data for constants */
  bool shape_known;     /* set by the importer for typed inputs, by inference otherwise */
  bool is_output;       /* a graph output */
  void *owned;          /* heap data this value owns (folded or rewritten constants) */
  int producer;         /* index of the producing node, -1 for constants and inputs */
  int64_t arena_offset; /* planner: byte offset in the session arena, -1 if none */
  /* Symbolic names of unknown dims (ONNX dim_param) of graph inputs and
   * outputs, kept so that writers can emit them again: NULL, or rank
   * entries (NULL where none). */
  const char **dim_params;
  /* Graph outputs: the dtype and shape (dims -1 if unknown, rank -1 if
   * none) the model file declares, for writers; NULL if it declares none. */
  const lg_tensor *declared;
} lg_value;

/* ---- Attributes ---- */

/* Attribute types, numbered as ONNX's AttributeProto.AttributeType. */
typedef enum lg_attr_type {
  LG_ATTR_UNDEFINED = 0,
  LG_ATTR_FLOAT = 1,
  LG_ATTR_INT = 2,
  LG_ATTR_STRING = 3,
  LG_ATTR_TENSOR = 4,
  LG_ATTR_GRAPH = 5,
  LG_ATTR_FLOATS = 6,
  LG_ATTR_INTS = 7,
  LG_ATTR_STRINGS = 8
} lg_attr_type;

typedef struct lg_attr {
  const char *name;
  lg_attr_type type;
  float f;
  int64_t i;
  const char *s; /* NUL-terminated copy of a STRING attribute */
  int n;         /* element count of FLOATS / INTS / STRINGS */
  float *floats;
  int64_t *ints;
  const char **strings;
  lg_tensor *t; /* TENSOR attribute (data may point into the model file) */
} lg_attr;

/* ---- Fused activation ----
 * Passes fold an activation that follows Conv, Gemm, MatMul or Add into the
 * producer; the producer's kernel applies it to its output in place. */
typedef enum lg_act_kind {
  LG_ACT_NONE = 0,
  LG_ACT_RELU,
  LG_ACT_CLIP,       /* min(max(x, alpha), beta): Relu6 is Clip(0, 6) */
  LG_ACT_LEAKY_RELU, /* alpha */
  LG_ACT_SIGMOID,
  LG_ACT_HARD_SIGMOID, /* max(0, min(1, alpha*x + beta)) */
  LG_ACT_HARD_SWISH,
  LG_ACT_TANH,
  LG_ACT_SWISH /* x * sigmoid(x) (SiLU): Mul(x, Sigmoid(x)) fused by a pass */
} lg_act_kind;

typedef struct lg_act {
  lg_act_kind kind;
  float alpha, beta;
} lg_act;

/* Applies act to n floats in place. */
void lg_act_apply(const lg_act *act, float *x, int64_t n);
float lg_act_scalar(const lg_act *act, float x);

/* ---- Nodes ---- */

typedef struct lg_node {
  const lg_op_def *op;
  const char *name;
  const char *op_type;
  const char *domain; /* "" for the default ONNX domain */
  int opset;          /* the opset version of the node's domain in the model */
  int n_in, n_out;
  int *in;  /* value indices; -1 for an omitted optional input */
  int *out; /* value indices; -1 for an omitted optional output */
  int n_attrs;
  lg_attr *attrs;
  lg_act act;       /* fused activation, LG_ACT_NONE unless a pass set it */
  bool fused_add;   /* Conv: input 3 (same shape as the output) is added before act */
  void *state;      /* op-private data made by infer (freed with free()) */
  size_t workspace; /* scratch bytes the op needs at run, set by infer */
  int64_t macs;     /* multiply-accumulates per run, set by infer (0 if not counted) */
  const char *kernel; /* static string naming the implementation infer chose (profiles) */
  bool dead;        /* removed by a pass; skipped everywhere */
} lg_node;

/* Attribute lookup. The defaults are returned when the attribute is absent. */
const lg_attr *lg_attr_find(const lg_node *node, const char *name);
int64_t lg_attr_int(const lg_node *node, const char *name, int64_t def);
float lg_attr_float(const lg_node *node, const char *name, float def);
const char *lg_attr_string(const lg_node *node, const char *name, const char *def);
/* Returns the count and sets *out, or -1 if absent. */
int lg_attr_ints(const lg_node *node, const char *name, const int64_t **out);
int lg_attr_floats(const lg_node *node, const char *name, const float **out);
const lg_tensor *lg_attr_tensor(const lg_node *node, const char *name);

/* ---- Graph ---- */

struct lg_graph {
  lg_value *values;
  int n_values, cap_values;
  lg_node *nodes;
  int n_nodes, cap_nodes;
  int *inputs; /* value indices of the runtime inputs, in model order */
  int n_inputs;
  int *outputs; /* value indices of the outputs, in model order */
  int n_outputs;
  struct lg_pool *pool; /* owns names, attribute arrays and node arrays */
};

/* A bump allocator: everything a graph owns besides tensor data is carved
 * from it and freed at once with the graph. */
typedef struct lg_pool lg_pool;
lg_pool *lg_pool_create(void);
void lg_pool_destroy(lg_pool *pool);
void *lg_pool_alloc(lg_pool *pool, size_t bytes); /* zero-filled, 16-byte aligned */
char *lg_pool_strndup(lg_pool *pool, const char *s, size_t n);

lg_status lg_graph_init(lg_graph *g);
void lg_graph_free(lg_graph *g);
/* Adds a value and returns its index (or -1 with an error set). */
int lg_graph_add_value(lg_graph *g, const char *name);
/* Index of the value with this name, or -1. Linear; for import-time use. */
int lg_graph_find_value(const lg_graph *g, const char *name);
/* Adds a node with room for n_in inputs and n_out outputs; returns its index. */
int lg_graph_add_node(lg_graph *g, const char *op_type, int n_in, int n_out);
/* Deep copy of the structure; constant data is shared, not copied, except
 * data the source owns, which the copy shares too (the source must outlive it). */
lg_status lg_graph_clone(const lg_graph *src, lg_graph *dst);
/* Number of live (non-dead) nodes consuming value v, plus one if v is an output. */
int lg_graph_use_count(const lg_graph *g, int v);
/* Gives value v heap-owned data of its current shape and dtype (zero-filled). */
lg_status lg_value_alloc_owned(lg_value *v);

/* Convenience accessors for kernels: the tensor of input i / output i of a
 * node, or NULL for an omitted optional one. */
static inline lg_tensor *lg_node_input(const lg_graph *g, const lg_node *n, int i) {
  return (i < n->n_in && n->in[i] >= 0) ? &g->values[n->in[i]].t : NULL;
}
static inline lg_tensor *lg_node_output(const lg_graph *g, const lg_node *n, int i) {
  return (i < n->n_out && n->out[i] >= 0) ? &g->values[n->out[i]].t : NULL;
}

#endif
