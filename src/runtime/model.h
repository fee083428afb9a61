/* model.h: the model behind ledge_model: an imported graph after the
 * shape-independent passes, plus the mappings its constants live in. */
#ifndef LEDGE_MODEL_H
#define LEDGE_MODEL_H

#include "formats/onnx.h"
#include "runtime/graph.h"

struct ledge_model {
  lg_graph graph;
  lg_mapping file;  /* the model file, when loaded from a path */
  lg_mapping *maps; /* external data files */
  int n_maps;
  int opset;
  int64_t ir_version;
  char producer[64];
  char name[64];
  int64_t imported_nodes; /* before the passes */
  const char *format;     /* "onnx", "tfjs" or "ledge" */
  struct lg_ledge_info *ledge; /* what a .ledge file holds besides the graph, else NULL */
};

/* Fills info from value list[index] of g (for the model and session APIs). */
lg_status lg_value_info(const lg_graph *g, const int *list, int n, int index, ledge_tensor_info *info);

/* Model-level passes (passes.c): those that need no input shapes. */
lg_status lg_pass_fold_batchnorm(lg_graph *g);
lg_status lg_pass_fuse_activations(lg_graph *g);
lg_status lg_pass_fuse_swish(lg_graph *g);
lg_status lg_pass_fuse_residual(lg_graph *g);
lg_status lg_pass_eliminate_identity(lg_graph *g);
lg_status lg_pass_eliminate_dead(lg_graph *g);
/* Topologically orders live nodes; fails on a cycle. */
lg_status lg_pass_check_order(lg_graph *g);

#endif
