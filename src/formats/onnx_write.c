/*
 * onnx_write.c: lg_graph -> ONNX ModelProto (field numbers of onnx.proto).
 *
 * Constants are written as raw_data in the file's byte order (little
 * endian, as ONNX requires on the machines we run on); the IR's dtype
 * codes are ONNX's TensorProto.DataType codes, so they are written as is.
 */
#include "formats/onnx_write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/ledge_format.h"
#include "formats/protobuf_write.h"
#include "runtime/model.h"

/* onnx.proto field numbers. */
enum {
  MODEL_IR_VERSION = 1,
  MODEL_PRODUCER_NAME = 2,
  MODEL_PRODUCER_VERSION = 3,
  MODEL_DOMAIN = 4,
  MODEL_VERSION = 5,
  MODEL_DOC = 6,
  MODEL_GRAPH = 7,
  MODEL_OPSET_IMPORT = 8,
  MODEL_METADATA = 14
};
enum {
  GRAPH_NODE = 1,
  GRAPH_NAME = 2,
  GRAPH_INITIALIZER = 5,
  GRAPH_DOC = 10,
  GRAPH_INPUT = 11,
  GRAPH_OUTPUT = 12
};
enum {
  NODE_INPUT = 1,
  NODE_OUTPUT = 2,
  NODE_NAME = 3,
  NODE_OP_TYPE = 4,
  NODE_ATTRIBUTE = 5,
  NODE_DOMAIN = 7
};
enum {
  ATTR_NAME = 1,
  ATTR_F = 2,
  ATTR_I = 3,
  ATTR_S = 4,
  ATTR_T = 5,
  ATTR_FLOATS = 7,
  ATTR_INTS = 8,
  ATTR_STRINGS = 9,
  ATTR_TYPE = 20
};
enum { TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_NAME = 8, TENSOR_RAW_DATA = 9 };

#define FORMAT_ERROR(...) lg_error(LEDGE_ERR_FORMAT, __VA_ARGS__)

static lg_status write_tensor(lg_pb_writer *w, uint32_t field, const char *name,
                              const lg_tensor *t) {
  if (t->dtype == LEDGE_STRING || ledge_dtype_size(t->dtype) == 0)
    return lg_error(LEDGE_ERR_UNSUPPORTED,
                    "tensor '%s' has element type %s, which cannot be written", name ? name : "",
                    ledge_dtype_name(t->dtype));
  int64_t count = lg_tensor_count(t);
  if (count < 0 || t->rank < 0)
    return FORMAT_ERROR("tensor '%s' has no known shape", name ? name : "");
  size_t bytes = (size_t)count * ledge_dtype_size(t->dtype);
  if (bytes && !t->data) return FORMAT_ERROR("tensor '%s' has no data", name ? name : "");
  lg_pbw_mark m = lg_pbw_begin(w, field);
  lg_pbw_packed_int64(w, TENSOR_DIMS, t->dims, t->rank);
  lg_pbw_varint(w, TENSOR_DATA_TYPE, (uint64_t)t->dtype);
  if (name) lg_pbw_string(w, TENSOR_NAME, name);
  lg_pbw_bytes(w, TENSOR_RAW_DATA, t->data, bytes);
  lg_pbw_end(w, m);
  return LEDGE_OK;
}

static lg_status write_attribute(lg_pb_writer *w, const lg_node *n, const lg_attr *a) {
  if (a->type == LG_ATTR_UNDEFINED) return LEDGE_OK; /* nothing known to write */
  if (a->type == LG_ATTR_GRAPH)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s' (%s): graph attribute '%s' cannot be written",
                    n->name, n->op_type, a->name);
  lg_pbw_mark m = lg_pbw_begin(w, NODE_ATTRIBUTE);
  lg_pbw_string(w, ATTR_NAME, a->name);
  switch (a->type) {
    case LG_ATTR_FLOAT: lg_pbw_float(w, ATTR_F, a->f); break;
    case LG_ATTR_INT: lg_pbw_int64(w, ATTR_I, a->i); break;
    case LG_ATTR_STRING: lg_pbw_string(w, ATTR_S, a->s ? a->s : ""); break;
    case LG_ATTR_TENSOR:
      if (!a->t)
        return FORMAT_ERROR("node '%s': tensor attribute '%s' has no tensor", n->name, a->name);
      LG_TRY(write_tensor(w, ATTR_T, NULL, a->t));
      break;
    case LG_ATTR_FLOATS: lg_pbw_packed_float(w, ATTR_FLOATS, a->floats, a->n); break;
    case LG_ATTR_INTS: lg_pbw_packed_int64(w, ATTR_INTS, a->ints, a->n); break;
    case LG_ATTR_STRINGS:
      for (int i = 0; i < a->n; i++)
        lg_pbw_string(w, ATTR_STRINGS, a->strings[i] ? a->strings[i] : "");
      break;
    default:
      return FORMAT_ERROR("node '%s': attribute '%s' has unknown type %d", n->name, a->name,
                          (int)a->type);
  }
  lg_pbw_varint(w, ATTR_TYPE, (uint64_t)a->type);
  lg_pbw_end(w, m);
  return LEDGE_OK;
}

static lg_status write_node(lg_pb_writer *w, const lg_graph *g, const lg_node *n) {
  lg_pbw_mark m = lg_pbw_begin(w, GRAPH_NODE);
  for (int i = 0; i < n->n_in; i++)
    lg_pbw_string(w, NODE_INPUT, n->in[i] >= 0 ? g->values[n->in[i]].name : "");
  for (int i = 0; i < n->n_out; i++)
    lg_pbw_string(w, NODE_OUTPUT, n->out[i] >= 0 ? g->values[n->out[i]].name : "");
  if (n->name && *n->name) lg_pbw_string(w, NODE_NAME, n->name);
  lg_pbw_string(w, NODE_OP_TYPE, n->op_type);
  for (int i = 0; i < n->n_attrs; i++) LG_TRY(write_attribute(w, n, &n->attrs[i]));
  if (n->domain && *n->domain) lg_pbw_string(w, NODE_DOMAIN, n->domain);
  lg_pbw_end(w, m);
  return LEDGE_OK;
}

/* ---- TF ops without an ONNX equivalent, as standard ONNX ops ----
 * TfFloorDiv and TfFloorMod (src/ops/tf_extra.c) floor where ONNX's Div
 * truncates: for integers, FloorMod is Mod with fmod=0 (the divisor's
 * sign) and FloorDiv is (a - FloorMod(a, b)) / b, exact; for floats,
 * FloorDiv is Floor(a / b) and FloorMod is a - Floor(a / b) * b. */

typedef enum { TF_NONE, TF_FLOOR_DIV, TF_FLOOR_MOD } tf_kind;

static tf_kind tf_op(const lg_node *n) {
  if (!n->domain || strcmp(n->domain, "ledge.tf") || n->n_in != 2 || n->n_out != 1 ||
      n->in[0] < 0 || n->in[1] < 0 || n->out[0] < 0)
    return TF_NONE;
  if (!strcmp(n->op_type, "TfFloorDiv")) return TF_FLOOR_DIV;
  if (!strcmp(n->op_type, "TfFloorMod")) return TF_FLOOR_MOD;
  return TF_NONE;
}

bool lg_onnx_needs_value_dtypes(const lg_graph *g) {
  for (int i = 0; i < g->n_nodes; i++)
    if (!g->nodes[i].dead && tf_op(&g->nodes[i]) != TF_NONE) return true;
  return false;
}

static ledge_dtype value_dtype(const lg_graph *g, const lg_onnx_write_options *o, int v) {
  if (g->values[v].kind != LG_VALUE_ACTIVATION) return g->values[v].t.dtype;
  return o->value_dtypes ? o->value_dtypes[v] : LEDGE_DTYPE_UNDEFINED;
}

/* The type a ledge.tf node computes on if it can be written in standard
 * ONNX, else LEDGE_DTYPE_UNDEFINED. */
static ledge_dtype tf_expandable(const lg_graph *g, const lg_onnx_write_options *o,
                                 const lg_node *n) {
  if (tf_op(n) == TF_NONE) return LEDGE_DTYPE_UNDEFINED;
  ledge_dtype dt = value_dtype(g, o, n->in[0]);
  return dt == LEDGE_FLOAT32 || dt == LEDGE_INT32 || dt == LEDGE_INT64 ? dt : LEDGE_DTYPE_UNDEFINED;
}

static void simple_node(lg_pb_writer *w, const char *op, const char *name, const char *a,
                        const char *b, const char *out, int fmod) {
  lg_pbw_mark m = lg_pbw_begin(w, GRAPH_NODE);
  lg_pbw_string(w, NODE_INPUT, a);
  if (b) lg_pbw_string(w, NODE_INPUT, b);
  lg_pbw_string(w, NODE_OUTPUT, out);
  lg_pbw_string(w, NODE_NAME, name);
  lg_pbw_string(w, NODE_OP_TYPE, op);
  if (fmod >= 0) {
    lg_pbw_mark am = lg_pbw_begin(w, NODE_ATTRIBUTE);
    lg_pbw_string(w, ATTR_NAME, "fmod");
    lg_pbw_int64(w, ATTR_I, fmod);
    lg_pbw_varint(w, ATTR_TYPE, LG_ATTR_INT);
    lg_pbw_end(w, am);
  }
  lg_pbw_end(w, m);
}

static void write_tf_node(lg_pb_writer *w, const lg_graph *g, const lg_node *n, ledge_dtype dt) {
  const char *a = g->values[n->in[0]].name, *b = g->values[n->in[1]].name,
             *y = g->values[n->out[0]].name;
  const char *base = n->name && *n->name ? n->name : y;
  char t1[512], t2[512], t3[512], n1[512], n2[512], n3[512], n4[512];
  snprintf(t1, sizeof t1, "%s/ledge_t1", y);
  snprintf(t2, sizeof t2, "%s/ledge_t2", y);
  snprintf(t3, sizeof t3, "%s/ledge_t3", y);
  snprintf(n1, sizeof n1, "%s/ledge_1", base);
  snprintf(n2, sizeof n2, "%s/ledge_2", base);
  snprintf(n3, sizeof n3, "%s/ledge_3", base);
  snprintf(n4, sizeof n4, "%s/ledge_4", base);
  bool is_int = dt != LEDGE_FLOAT32;
  if (tf_op(n) == TF_FLOOR_MOD && is_int) {
    simple_node(w, "Mod", base, a, b, y, 0);
  } else if (tf_op(n) == TF_FLOOR_DIV && is_int) {
    simple_node(w, "Mod", n1, a, b, t1, 0);
    simple_node(w, "Sub", n2, a, t1, t2, -1);
    simple_node(w, "Div", base, t2, b, y, -1);
  } else if (tf_op(n) == TF_FLOOR_DIV) {
    simple_node(w, "Div", n1, a, b, t1, -1);
    simple_node(w, "Floor", base, t1, NULL, y, -1);
  } else {
    simple_node(w, "Div", n1, a, b, t1, -1);
    simple_node(w, "Floor", n2, t1, NULL, t2, -1);
    simple_node(w, "Mul", n3, t2, b, t3, -1);
    simple_node(w, "Sub", n4, a, t3, y, -1);
  }
}

/* A ValueInfoProto: name, element type, and the shape if the rank is known.
 * Unknown dims keep their symbolic name, or get a unique one. */
static void write_value_info(lg_pb_writer *w, uint32_t field, const lg_value *v, ledge_dtype dtype,
                             int rank, const int64_t *dims, int *unnamed) {
  lg_pbw_mark m = lg_pbw_begin(w, field);
  lg_pbw_string(w, 1, v->name);
  lg_pbw_mark type = lg_pbw_begin(w, 2);
  lg_pbw_mark tensor = lg_pbw_begin(w, 1);
  lg_pbw_varint(w, 1, (uint64_t)dtype);
  if (rank >= 0) {
    lg_pbw_mark shape = lg_pbw_begin(w, 2);
    for (int d = 0; d < rank; d++) {
      lg_pbw_mark dim = lg_pbw_begin(w, 1);
      if (dims[d] >= 0) {
        lg_pbw_int64(w, 1, dims[d]);
      } else if (v->dim_params && v->dim_params[d]) {
        lg_pbw_string(w, 2, v->dim_params[d]);
      } else {
        char name[32];
        snprintf(name, sizeof name, "unk__%d", (*unnamed)++);
        lg_pbw_string(w, 2, name);
      }
      lg_pbw_end(w, dim);
    }
    lg_pbw_end(w, shape);
  }
  lg_pbw_end(w, tensor);
  lg_pbw_end(w, type);
  lg_pbw_end(w, m);
}

/* The IR version an opset needs (onnx/docs/Versioning.md), never below 4. */
static int64_t ir_for_opset(int opset) {
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  if (opset >= 15) return 8;
  if (opset >= 12) return 7;
  if (opset >= 11) return 6;
  if (opset >= 10) return 5;
  return 4;
}

static lg_status serialize(const lg_graph *g, const lg_onnx_write_options *o, lg_pb_writer *w) {
  int opset = o->opset;
  for (int i = 0; i < g->n_nodes && opset <= 0; i++)
    if (!g->nodes[i].dead && g->nodes[i].opset > opset) opset = g->nodes[i].opset;
  if (opset <= 0) opset = 13;
  int64_t ir = ir_for_opset(opset);
  if (o->ir_version > ir) ir = o->ir_version;

  /* Constants and graph inputs used by live nodes or outputs. */
  uint8_t *used = calloc((size_t)g->n_values + 1, 1);
  if (!used) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  for (int i = 0; i < g->n_nodes; i++) {
    const lg_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0) used[n->in[k]] = 1;
  }
  for (int i = 0; i < g->n_outputs; i++) used[g->outputs[i]] = 1;

  lg_pbw_varint(w, MODEL_IR_VERSION, (uint64_t)ir);
  lg_pbw_string(w, MODEL_PRODUCER_NAME, o->producer_name ? o->producer_name : "ledge");
  lg_pbw_string(w, MODEL_PRODUCER_VERSION,
                o->producer_version ? o->producer_version : ledge_version());
  if (o->domain) lg_pbw_string(w, MODEL_DOMAIN, o->domain);
  if (o->model_version) lg_pbw_int64(w, MODEL_VERSION, o->model_version);
  if (o->doc_string) lg_pbw_string(w, MODEL_DOC, o->doc_string);

  lg_status st = LEDGE_OK;
  lg_pbw_mark gm = lg_pbw_begin(w, MODEL_GRAPH);
  for (int i = 0; i < g->n_nodes && st == LEDGE_OK; i++) {
    const lg_node *n = &g->nodes[i];
    if (n->dead) continue;
    ledge_dtype tf_dt = tf_expandable(g, o, n);
    if (tf_dt != LEDGE_DTYPE_UNDEFINED)
      write_tf_node(w, g, n, tf_dt);
    else
      st = write_node(w, g, n);
  }
  lg_pbw_string(w, GRAPH_NAME, o->graph_name && *o->graph_name ? o->graph_name : "ledge");
  for (int v = 0; v < g->n_values && st == LEDGE_OK; v++) {
    const lg_value *val = &g->values[v];
    if (val->kind != LG_VALUE_CONSTANT || !used[v]) continue;
    st = write_tensor(w, GRAPH_INITIALIZER, val->name, &val->t);
    if (st != LEDGE_OK) lg_error_context(st, "initializer '%s': ", val->name);
  }
  if (o->doc_string) lg_pbw_string(w, GRAPH_DOC, o->doc_string);
  int unnamed = 0;
  for (int i = 0; i < g->n_inputs && st == LEDGE_OK; i++) {
    const lg_value *val = &g->values[g->inputs[i]];
    if (val->kind != LG_VALUE_INPUT) continue; /* made constant by a pass */
    write_value_info(w, GRAPH_INPUT, val, val->t.dtype, val->t.rank, val->t.dims, &unnamed);
  }
  for (int i = 0; i < g->n_outputs && st == LEDGE_OK; i++) {
    const lg_value *val = &g->values[g->outputs[i]];
    ledge_dtype dt = val->t.dtype;
    int rank = val->kind != LG_VALUE_ACTIVATION && val->shape_known ? val->t.rank : -1;
    const int64_t *dims = val->t.dims;
    if (val->declared && (dt == LEDGE_DTYPE_UNDEFINED || rank < 0)) {
      dt = val->declared->dtype;
      rank = val->declared->rank;
      dims = val->declared->dims;
    } else if (o->output_types && (dt == LEDGE_DTYPE_UNDEFINED || rank < 0)) {
      dt = o->output_types[i].dtype;
      rank = o->output_types[i].rank;
      dims = o->output_types[i].dims;
    }
    if (dt == LEDGE_DTYPE_UNDEFINED) {
      st = FORMAT_ERROR("the element type of output '%s' is not known", val->name);
      break;
    }
    write_value_info(w, GRAPH_OUTPUT, val, dt, rank, dims, &unnamed);
  }
  lg_pbw_end(w, gm);
  free(used);
  if (st != LEDGE_OK) return st;

  /* One opset import per domain the nodes use. */
  lg_pbw_mark om = lg_pbw_begin(w, MODEL_OPSET_IMPORT);
  lg_pbw_string(w, 1, "");
  lg_pbw_int64(w, 2, opset);
  lg_pbw_end(w, om);
  for (int i = 0; i < g->n_nodes; i++) {
    const char *d = g->nodes[i].domain;
    if (g->nodes[i].dead || !d || !*d || !strcmp(d, "ai.onnx")) continue;
    if (tf_expandable(g, o, &g->nodes[i]) != LEDGE_DTYPE_UNDEFINED)
      continue; /* written as ONNX ops */
    bool seen = false;
    for (int k = 0; k < i && !seen; k++)
      seen = !g->nodes[k].dead && g->nodes[k].domain && !strcmp(g->nodes[k].domain, d) &&
             tf_expandable(g, o, &g->nodes[k]) == LEDGE_DTYPE_UNDEFINED;
    if (seen) continue;
    om = lg_pbw_begin(w, MODEL_OPSET_IMPORT);
    lg_pbw_string(w, 1, d);
    lg_pbw_int64(w, 2, 1);
    lg_pbw_end(w, om);
  }
  for (int i = 0; i < o->n_metadata; i++) {
    lg_pbw_mark mm = lg_pbw_begin(w, MODEL_METADATA);
    lg_pbw_string(w, 1, o->metadata_keys[i]);
    lg_pbw_string(w, 2, o->metadata_values[i] ? o->metadata_values[i] : "");
    lg_pbw_end(w, mm);
  }
  return LEDGE_OK;
}

lg_status lg_onnx_serialize(const lg_graph *g, const lg_onnx_write_options *options, uint8_t **out,
                            size_t *size) {
  *out = NULL;
  *size = 0;
  lg_onnx_write_options defaults = {0};
  lg_pb_writer w = {0};
  lg_status st = serialize(g, options ? options : &defaults, &w);
  if (st == LEDGE_OK && w.failed)
    st = lg_error(LEDGE_ERR_NO_MEMORY,
                  "the model does not fit a protobuf (2 GiB) or memory ran out");
  if (st != LEDGE_OK) {
    lg_pbw_free(&w);
    return st;
  }
  *out = w.buf;
  *size = w.len;
  return LEDGE_OK;
}

lg_status lg_write_file_atomic(const char *path, const void *data, size_t size) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "path is too long");
  FILE *f = fopen(tmp, "wb");
  if (!f) return lg_error(LEDGE_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
  bool ok = fwrite(data, 1, size, f) == size;
  ok = fflush(f) == 0 && ok;
  int err = errno;
  ok = fclose(f) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) {
    if (ok) err = errno;
    unlink(tmp);
    return lg_error(LEDGE_ERR_IO, "cannot write '%s': %s", path, strerror(err));
  }
  return LEDGE_OK;
}

lg_status lg_onnx_write_file(const lg_graph *g, const lg_onnx_write_options *options,
                             const char *path) {
  uint8_t *buf;
  size_t size;
  LG_TRY(lg_onnx_serialize(g, options, &buf, &size));
  lg_status st = lg_write_file_atomic(path, buf, size);
  free(buf);
  return st;
}

/* Plans a session with the inputs' unknown dims set to `fill` and reads the
 * outputs' types and shapes. */
static lg_status plan_outputs(const ledge_model *model, int64_t fill, ledge_tensor_info *out) {
  ledge_session_options so;
  ledge_session_options_init(&so);
  so.num_threads = 1;
  so.optimization_level = 0;
  ledge_session *s = NULL;
  lg_status st = ledge_session_create(model, &so, &s);
  for (int i = 0; st == LEDGE_OK && i < ledge_session_input_count(s); i++) {
    ledge_tensor_info info;
    st = ledge_session_input_info(s, i, &info);
    if (st != LEDGE_OK) break;
    if (info.rank < 0) {
      st = lg_error(LEDGE_ERR_SHAPE, "input '%s' has no known rank", info.name);
      break;
    }
    for (int d = 0; d < info.rank; d++)
      if (info.dims[d] < 0) info.dims[d] = fill;
    st = ledge_session_set_input_shape(s, i, info.rank, info.dims);
  }
  for (int i = 0; st == LEDGE_OK && i < model->graph.n_outputs; i++)
    st = ledge_session_output_info(s, i, &out[i]);
  ledge_session_destroy(s);
  return st;
}

lg_status lg_model_output_types(const ledge_model *model, ledge_tensor_info *out) {
  const lg_graph *g = &model->graph;
  int n = g->n_outputs;
  bool all_declared = true;
  for (int i = 0; i < n; i++) {
    const lg_value *v = &g->values[g->outputs[i]];
    const lg_tensor *t = v->declared ? v->declared : v->kind != LG_VALUE_ACTIVATION ? &v->t : NULL;
    if (!t || t->dtype == LEDGE_DTYPE_UNDEFINED || t->rank < 0) {
      all_declared = false;
      break;
    }
    memset(&out[i], 0, sizeof out[i]);
    out[i].name = v->name;
    out[i].dtype = t->dtype;
    out[i].rank = t->rank;
    for (int d = 0; d < t->rank && d < LEDGE_MAX_RANK; d++) out[i].dims[d] = t->dims[d];
  }
  if (all_declared) return LEDGE_OK; /* what the file said: no planning needed */
  bool dynamic = false;
  for (int i = 0; i < g->n_inputs; i++) {
    const lg_value *v = &g->values[g->inputs[i]];
    for (int d = 0; d < v->t.rank; d++) dynamic |= v->t.dims[d] < 0;
  }
  ledge_tensor_info *other = calloc((size_t)n + 1, sizeof *other);
  if (!other) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  lg_status st = plan_outputs(model, 1, out);
  if (st == LEDGE_OK && dynamic) st = plan_outputs(model, 2, other);
  for (int i = 0; st == LEDGE_OK && dynamic && i < n; i++) {
    if (other[i].rank != out[i].rank) {
      out[i].rank = -1;
      continue;
    }
    for (int d = 0; d < out[i].rank; d++)
      if (other[i].dims[d] != out[i].dims[d]) out[i].dims[d] = -1;
  }
  free(other);
  for (int i = 0; st == LEDGE_OK && i < n; i++) out[i].name = g->values[g->outputs[i]].name;
  if (st != LEDGE_OK) return lg_error_context(st, "cannot infer the output types: ");
  return LEDGE_OK;
}

lg_status lg_model_value_dtypes(const ledge_model *model, ledge_dtype **out) {
  const lg_graph *mg = &model->graph;
  *out = calloc((size_t)mg->n_values + 1, sizeof **out);
  if (!*out) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  for (int v = 0; v < mg->n_values; v++) (*out)[v] = mg->values[v].t.dtype;
  ledge_model *all = NULL;
  int *layer_value = NULL, n_layers = 0;
  lg_status st = lg_model_with_all_outputs(model, &all, &layer_value, &n_layers);
  ledge_tensor_info *types = NULL;
  if (st == LEDGE_OK) {
    types = calloc((size_t)all->graph.n_outputs + 1, sizeof *types);
    st = types ? plan_outputs(all, 1, types) : lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  }
  for (int i = 0; st == LEDGE_OK && i < all->graph.n_outputs; i++)
    (*out)[all->graph.outputs[i]] = types[i].dtype;
  free(types);
  free(layer_value);
  ledge_model_destroy(all);
  if (st != LEDGE_OK) {
    free(*out);
    *out = NULL;
    return lg_error_context(st, "cannot infer the value types: ");
  }
  return LEDGE_OK;
}

lg_status lg_onnx_write_model(const ledge_model *model, const lg_onnx_write_options *options,
                              const char *path) {
  lg_onnx_write_options o = {0};
  if (options) o = *options;
  ledge_tensor_info *types = calloc((size_t)model->graph.n_outputs + 1, sizeof *types);
  if (!types) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  lg_status st = lg_model_output_types(model, types);
  if (st == LEDGE_OK) {
    if (!o.opset) o.opset = model->opset;
    if (!o.ir_version) o.ir_version = model->ir_version;
    if (!o.graph_name && model->name[0]) o.graph_name = model->name;
    if (!o.output_types) o.output_types = types;
    ledge_dtype *dtypes = NULL;
    if (!o.value_dtypes && lg_onnx_needs_value_dtypes(&model->graph) &&
        lg_model_value_dtypes(model, &dtypes) == LEDGE_OK)
      o.value_dtypes = dtypes; /* without them, ledge.tf ops stay custom */
    st = lg_onnx_write_file(&model->graph, &o, path);
    free(dtypes);
  }
  free(types);
  return st;
}
