/* model.c: loading models and describing them (the public ledge_model API). */
#include "runtime/model.h"

#include "formats/ledge_format.h"
#include "formats/tfjs.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static lg_status finish_load(ledge_model *m, const uint8_t *data, size_t size, bool writable,
                             const char *base_dir) {
  if (lg_ledge_detect(data, size)) { /* the native format */
    m->format = "ledge";
    LG_TRY(lg_ledge_import(data, size, &m->graph, &m->ledge));
    const char *producer = lg_ledge_meta(m->ledge, "producer"), *name = lg_ledge_meta(m->ledge, "name");
    snprintf(m->producer, sizeof m->producer, "%s", producer ? producer : "ledge");
    snprintf(m->name, sizeof m->name, "%s", name ? name : "");
    m->opset = m->ledge->opset;
    m->ir_version = m->ledge->ir_version;
    m->imported_nodes = m->graph.n_nodes;
    const char *verify = getenv("LEDGE_VERIFY"); /* also check the weights' checksum */
    if (verify && *verify && strcmp(verify, "0")) LG_TRY(lg_ledge_verify_data(m->ledge));
    return lg_pass_check_order(&m->graph);
  }
  if (lg_tfjs_detect(data, size)) { /* a TensorFlow.js model.json */
    m->format = "tfjs";
    lg_tfjs_info info;
    LG_TRY(lg_tfjs_import((const char *)data, size, base_dir, &m->graph, &info));
    snprintf(m->producer, sizeof m->producer, "TensorFlow.js %s%s%s", info.format, *info.producer ? " " : "", info.producer);
    snprintf(m->name, sizeof m->name, "%s", info.format);
    m->opset = 13;
    m->imported_nodes = m->graph.n_nodes;
    return lg_pass_check_order(&m->graph);
  }
  m->format = "onnx";
  lg_onnx_import imp = {0};
  imp.data = data;
  imp.size = size;
  imp.writable = writable;
  imp.base_dir = base_dir;
  lg_status st = lg_onnx_import_model(&imp, &m->graph);
  m->maps = imp.maps;
  m->n_maps = imp.n_maps;
  if (st != LEDGE_OK) return st;
  m->opset = imp.opset;
  m->ir_version = imp.ir_version;
  memcpy(m->producer, imp.producer, sizeof m->producer);
  memcpy(m->name, imp.graph_name, sizeof m->name);
  m->imported_nodes = m->graph.n_nodes;
  return lg_pass_check_order(&m->graph);
}

ledge_status ledge_model_load(const char *path, ledge_model **out) {
  if (!path || !out) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "path and out must not be NULL");
  *out = NULL;
  ledge_model *m = calloc(1, sizeof *m);
  if (!m) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  lg_status st = lg_map_file(path, true, &m->file);
  if (st == LEDGE_OK) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    st = finish_load(m, m->file.addr, m->file.size, true, dirname(dir));
  }
  if (st != LEDGE_OK) {
    lg_error_context(st, "%s: ", path);
    ledge_model_destroy(m);
    return st;
  }
  *out = m;
  return LEDGE_OK;
}

ledge_status ledge_model_load_memory(const void *data, size_t size, ledge_model **out) {
  if (!data || !out) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "data and out must not be NULL");
  *out = NULL;
  ledge_model *m = calloc(1, sizeof *m);
  if (!m) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  lg_status st = finish_load(m, data, size, false, NULL);
  if (st != LEDGE_OK) {
    ledge_model_destroy(m);
    return st;
  }
  *out = m;
  return LEDGE_OK;
}

void ledge_model_destroy(ledge_model *m) {
  if (!m) return;
  lg_graph_free(&m->graph);
  lg_ledge_info_free(m->ledge);
  for (int i = 0; i < m->n_maps; i++) lg_unmap(&m->maps[i]);
  free(m->maps);
  lg_unmap(&m->file);
  free(m);
}

int ledge_model_input_count(const ledge_model *m) { return m ? m->graph.n_inputs : 0; }
int ledge_model_output_count(const ledge_model *m) { return m ? m->graph.n_outputs : 0; }

static void fill_info(const lg_value *v, ledge_tensor_info *info) {
  memset(info, 0, sizeof *info);
  info->name = v->name;
  info->dtype = v->t.dtype;
  info->rank = v->t.rank;
  for (int i = 0; i < v->t.rank && i < LEDGE_MAX_RANK; i++) info->dims[i] = v->t.dims[i];
}

lg_status lg_value_info(const lg_graph *g, const int *list, int n, int index, ledge_tensor_info *info) {
  if (!info || index < 0 || index >= n)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "index %d is out of range (0..%d)", index, n - 1);
  fill_info(&g->values[list[index]], info);
  return LEDGE_OK;
}

ledge_status ledge_model_input_info(const ledge_model *m, int index, ledge_tensor_info *info) {
  if (!m) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "model is NULL");
  return lg_value_info(&m->graph, m->graph.inputs, m->graph.n_inputs, index, info);
}

ledge_status ledge_model_output_info(const ledge_model *m, int index, ledge_tensor_info *info) {
  if (!m) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "model is NULL");
  return lg_value_info(&m->graph, m->graph.outputs, m->graph.n_outputs, index, info);
}

ledge_status ledge_model_stats_get(const ledge_model *m, ledge_model_stats *s) {
  if (!m || !s) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "model and stats must not be NULL");
  memset(s, 0, sizeof *s);
  const lg_graph *g = &m->graph;
  for (int i = 0; i < g->n_nodes; i++) s->node_count += !g->nodes[i].dead;
  for (int i = 0; i < g->n_values; i++) {
    const lg_value *v = &g->values[i];
    if (v->kind != LG_VALUE_CONSTANT) continue;
    s->weight_bytes += (int64_t)lg_tensor_bytes(&v->t);
    if (v->t.dtype == LEDGE_FLOAT32 || v->t.dtype == LEDGE_FLOAT16 || v->t.dtype == LEDGE_FLOAT64)
      s->parameter_count += lg_tensor_count(&v->t);
  }
  return LEDGE_OK;
}

/* The histogram is computed on demand: it is for tools, not the hot path. */
typedef struct {
  const char *name;
  int64_t count;
} op_count;

static int by_count_desc(const void *a, const void *b) {
  const op_count *x = a, *y = b;
  if (x->count != y->count) return x->count < y->count ? 1 : -1;
  return strcmp(x->name, y->name);
}

static int histogram(const ledge_model *m, op_count *out) {
  int n = 0;
  for (int i = 0; i < m->graph.n_nodes; i++) {
    const lg_node *node = &m->graph.nodes[i];
    int k = 0;
    while (k < n && strcmp(out[k].name, node->op_type)) k++;
    if (k == n) out[n++] = (op_count){node->op_type, 0};
    out[k].count++;
  }
  qsort(out, (size_t)n, sizeof *out, by_count_desc);
  return n;
}

int ledge_model_op_type_count(const ledge_model *m) {
  if (!m) return 0;
  op_count *h = malloc(sizeof *h * (size_t)(m->graph.n_nodes + 1));
  if (!h) return 0;
  int n = histogram(m, h);
  free(h);
  return n;
}

ledge_status ledge_model_op_type(const ledge_model *m, int index, const char **op_type, int64_t *count) {
  if (!m || !op_type || !count) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "NULL argument");
  op_count *h = malloc(sizeof *h * (size_t)(m->graph.n_nodes + 1));
  if (!h) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  int n = histogram(m, h);
  if (index < 0 || index >= n) {
    free(h);
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "op type index %d is out of range", index);
  }
  *op_type = h[index].name;
  *count = h[index].count;
  free(h);
  return LEDGE_OK;
}

ledge_status ledge_model_source_get(const ledge_model *m, ledge_model_source *src) {
  if (!m || !src) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "NULL argument");
  src->format = m->format ? m->format : "onnx";
  src->producer = m->producer;
  src->graph_name = m->name;
  src->opset = m->opset;
  return LEDGE_OK;
}
