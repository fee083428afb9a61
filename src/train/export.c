/* export.c: the trained network as an inference model (see export.h). */
#include "train/export.h"

#include <stdio.h>
#include <string.h>

#include "formats/onnx_write.h"
#include "runtime/model.h"

lg_status tr_export_graph(const tr_net *net, lg_graph *g) {
  LG_TRY(lg_graph_clone(&net->graph, g));
  lg_status st = LEDGE_OK;
  /* Dropout is the identity at inference. */
  for (int i = 0; i < g->n_nodes; i++) {
    lg_node *n = &g->nodes[i];
    if (!n->dead && !strcmp(n->op_type, "Dropout")) {
      n->op_type = "Identity";
      n->n_in = 1;
      n->n_out = 1;
      n->n_attrs = 0;
    }
  }
  /* Any batch size. */
  for (int i = 0; i < g->n_inputs; i++) {
    lg_value *v = &g->values[g->inputs[i]];
    if (v->kind == LG_VALUE_INPUT && v->t.rank >= 1) v->t.dims[0] = -1;
  }
  if ((st = lg_pass_fold_batchnorm(g)) == LEDGE_OK &&
      (st = lg_pass_eliminate_identity(g)) == LEDGE_OK)
    st = lg_pass_eliminate_dead(g);
  /* The folded constants are unnamed; ONNX wants every initializer named. */
  for (int i = 0; i < g->n_values && st == LEDGE_OK; i++) {
    lg_value *v = &g->values[i];
    if (v->name && *v->name) continue;
    char name[48];
    int len = snprintf(name, sizeof name, "folded_%d", i);
    v->name = lg_pool_strndup(g->pool, name, (size_t)len);
    if (!v->name) st = lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  }
  if (st != LEDGE_OK) lg_graph_free(g);
  return st;
}

lg_status tr_export_onnx(const tr_net *net, const char *path) {
  lg_graph g;
  LG_TRY(tr_export_graph(net, &g));
  ledge_tensor_info out;
  memset(&out, 0, sizeof out);
  out.name = g.values[g.outputs[0]].name;
  out.dtype = LEDGE_FLOAT32;
  out.rank = 2;
  out.dims[0] = -1;
  out.dims[1] = net->n_classes;
  lg_onnx_write_options o;
  memset(&o, 0, sizeof o);
  o.opset = 13; /* what the built networks need; a pretrained model's own may be higher */
  for (int i = 0; i < g.n_nodes; i++)
    if (!g.nodes[i].dead && !*g.nodes[i].domain && g.nodes[i].opset > o.opset)
      o.opset = g.nodes[i].opset;
  o.producer_name = "ledge train";
  o.graph_name = "ledge_train";
  o.output_types = &out;
  lg_status st = lg_onnx_write_file(&g, &o, path);
  lg_graph_free(&g);
  if (st != LEDGE_OK) lg_error_context(st, "writing %s: ", path);
  return st;
}
