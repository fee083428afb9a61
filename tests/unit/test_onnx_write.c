/*
 * test_onnx_write.c: the ONNX writer against the ONNX importer and ONNX's
 * own backend test suite.
 *
 * Every conformance case we pass (tests/conformance/expected_pass.txt) is
 * loaded, written back with lg_onnx_serialize and loaded again; the two
 * graphs must agree in every node, attribute, initializer and graph input
 * and output. With --mirror DIR the rewritten models are also written as a
 * copy of the suite (DIR/<group>/<case>/model.onnx beside links to the
 * original test data), which ctest then runs through ledge-conformance
 * (the suite's own expected outputs) and the onnx checker.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/onnx_write.h"
#include "formats/protobuf.h"
#include "formats/protobuf_write.h"
#include "harness.h"
#include "runtime/model.h"

static int failures_at_start;

static bool same_tensor(const lg_tensor *a, const lg_tensor *b) {
  if (a->dtype != b->dtype || !lg_shape_equal(a->rank, a->dims, b->rank, b->dims)) return false;
  size_t n = lg_tensor_bytes(a);
  return n == 0 || !memcmp(a->data, b->data, n);
}

static bool same_attr(const lg_attr *a, const lg_attr *b) {
  if (strcmp(a->name, b->name) || a->type != b->type) return false;
  switch (a->type) {
    case LG_ATTR_FLOAT: return !memcmp(&a->f, &b->f, sizeof a->f);
    case LG_ATTR_INT: return a->i == b->i;
    case LG_ATTR_STRING: return !strcmp(a->s, b->s);
    case LG_ATTR_TENSOR: return same_tensor(a->t, b->t);
    case LG_ATTR_FLOATS:
      return a->n == b->n && (!a->n || !memcmp(a->floats, b->floats, sizeof(float) * (size_t)a->n));
    case LG_ATTR_INTS:
      return a->n == b->n && (!a->n || !memcmp(a->ints, b->ints, sizeof(int64_t) * (size_t)a->n));
    case LG_ATTR_STRINGS:
      if (a->n != b->n) return false;
      for (int i = 0; i < a->n; i++)
        if (strcmp(a->strings[i], b->strings[i])) return false;
      return true;
    default: return true;
  }
}

static int defined_attrs(const lg_node *n) {
  int k = 0;
  for (int i = 0; i < n->n_attrs; i++) k += n->attrs[i].type != LG_ATTR_UNDEFINED;
  return k;
}

static const char *value_name(const lg_graph *g, int v) { return v >= 0 ? g->values[v].name : ""; }

/* The two graphs describe the same model. */
static void compare_graphs(const char *what, const lg_graph *a, const lg_graph *b) {
  int before = harness_failures;
  CHECK(a->n_inputs == b->n_inputs && a->n_outputs == b->n_outputs && a->n_nodes == b->n_nodes);
  if (harness_failures != before) {
    fprintf(stderr, "%s: graph sizes differ\n", what);
    return;
  }
  for (int i = 0; i < a->n_inputs; i++) {
    const lg_value *x = &a->values[a->inputs[i]], *y = &b->values[b->inputs[i]];
    CHECK(!strcmp(x->name, y->name) && x->t.dtype == y->t.dtype && x->t.rank == y->t.rank);
    for (int d = 0; d < x->t.rank && d < LEDGE_MAX_RANK; d++) {
      CHECK(x->t.dims[d] == y->t.dims[d]);
      if (x->dim_params && x->dim_params[d])
        CHECK(y->dim_params && y->dim_params[d] && !strcmp(x->dim_params[d], y->dim_params[d]));
    }
  }
  for (int i = 0; i < a->n_outputs; i++)
    CHECK(!strcmp(a->values[a->outputs[i]].name, b->values[b->outputs[i]].name));
  for (int i = 0; i < a->n_nodes; i++) {
    const lg_node *x = &a->nodes[i], *y = &b->nodes[i];
    CHECK(!strcmp(x->op_type, y->op_type) && !strcmp(x->domain, y->domain) &&
          !strcmp(x->name, y->name));
    CHECK(x->n_in == y->n_in && x->n_out == y->n_out && defined_attrs(x) == defined_attrs(y));
    if (x->n_in != y->n_in || x->n_out != y->n_out) continue;
    for (int k = 0; k < x->n_in; k++) {
      CHECK(!strcmp(value_name(a, x->in[k]), value_name(b, y->in[k])));
      if (x->in[k] >= 0 && a->values[x->in[k]].kind == LG_VALUE_CONSTANT)
        CHECK(y->in[k] >= 0 && same_tensor(&a->values[x->in[k]].t, &b->values[y->in[k]].t));
    }
    for (int k = 0; k < x->n_out; k++)
      CHECK(!strcmp(value_name(a, x->out[k]), value_name(b, y->out[k])));
    int ky = 0;
    for (int k = 0; k < x->n_attrs; k++) {
      if (x->attrs[k].type == LG_ATTR_UNDEFINED) continue;
      while (ky < y->n_attrs && y->attrs[ky].type == LG_ATTR_UNDEFINED) ky++;
      CHECK(ky < y->n_attrs && same_attr(&x->attrs[k], &y->attrs[ky]));
      ky++;
    }
  }
  if (harness_failures != before) fprintf(stderr, "%s: the rewritten graph differs\n", what);
}

static void mkdirs(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      mkdir(buf, 0777);
      *p = '/';
    }
  mkdir(buf, 0777);
}

/* Links the case's test_data_set_* folders beside the rewritten model. */
static void link_test_data(const char *case_dir, const char *mirror_dir) {
  for (int k = 0; k < 16; k++) {
    char src[4096], dst[4096];
    snprintf(src, sizeof src, "%s/test_data_set_%d", case_dir, k);
    if (access(src, F_OK) != 0) break;
    snprintf(dst, sizeof dst, "%s/test_data_set_%d", mirror_dir, k);
    unlink(dst);
    CHECK(symlink(src, dst) == 0);
  }
}

static int round_trip_suite(const char *mirror) {
  char list[4096];
  snprintf(list, sizeof list, "%s/tests/conformance/expected_pass.txt", LEDGE_SOURCE_DIR);
  FILE *f = fopen(list, "r");
  if (!f) {
    fprintf(stderr, "cannot read %s\n", list);
    return -1;
  }
  char line[512];
  int cases = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = 0;
    if (!*line || line[0] == '#') continue;
    char dir[4096], path[4096];
    snprintf(dir, sizeof dir, "%s/%s", ONNX_TESTDATA, line);
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    ledge_model *a = NULL, *b = NULL;
    CHECK_OK(ledge_model_load(path, &a));
    if (!a) continue;
    ledge_tensor_info *types = calloc((size_t)a->graph.n_outputs + 1, sizeof *types);
    CHECK_OK(lg_model_output_types(a, types));
    lg_onnx_write_options o = {0};
    o.opset = a->opset;
    o.ir_version = a->ir_version;
    o.output_types = types;
    uint8_t *buf = NULL;
    size_t size = 0;
    CHECK_OK(lg_onnx_serialize(&a->graph, &o, &buf, &size));
    if (buf) CHECK_OK(ledge_model_load_memory(buf, size, &b));
    if (b) {
      compare_graphs(line, &a->graph, &b->graph);
      CHECK(b->opset == a->opset);
    }
    if (buf && mirror) {
      char out_dir[4096], out[4096];
      snprintf(out_dir, sizeof out_dir, "%s/%s", mirror, line);
      mkdirs(out_dir);
      snprintf(out, sizeof out, "%s/model.onnx", out_dir);
      CHECK_OK(lg_write_file_atomic(out, buf, size));
      link_test_data(dir, out_dir);
    }
    free(buf);
    free(types);
    ledge_model_destroy(b);
    ledge_model_destroy(a);
    cases++;
  }
  fclose(f);
  return cases;
}

/* Length prefixes of every size class, read back by the reader. */
static void test_writer_lengths(void) {
  static const size_t sizes[] = {0, 1, 127, 128, 16383, 16384, 2097151, 2097152};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    lg_pb_writer w = {0};
    lg_pbw_varint(&w, 1, 300);
    lg_pbw_mark outer = lg_pbw_begin(&w, 2);
    lg_pbw_mark inner = lg_pbw_begin(&w, 3);
    uint8_t *body = calloc(sizes[s] + 1, 1);
    for (size_t i = 0; i < sizes[s]; i++) body[i] = (uint8_t)(i * 7);
    lg_pbw_raw(&w, body, sizes[s]);
    lg_pbw_end(&w, inner);
    lg_pbw_int64(&w, 4, -5);
    lg_pbw_end(&w, outer);
    CHECK(!w.failed);
    lg_pb_reader r = lg_pb_open(w.buf, w.len);
    lg_pb_field f;
    CHECK(lg_pb_next(&r, &f) && f.number == 1 && f.value == 300);
    CHECK(lg_pb_next(&r, &f) && f.number == 2 && f.wire == LG_PB_LEN);
    lg_pb_reader ir = lg_pb_open(f.data, f.len);
    lg_pb_field g;
    CHECK(lg_pb_next(&ir, &g) && g.number == 3 && g.len == sizes[s] &&
          (!g.len || !memcmp(g.data, body, g.len)));
    CHECK(lg_pb_next(&ir, &g) && g.number == 4 && (int64_t)g.value == -5);
    CHECK(!lg_pb_next(&ir, &g) && !ir.failed);
    CHECK(!lg_pb_next(&r, &f) && !r.failed);
    free(body);
    lg_pbw_free(&w);
  }
}

/* What the IR cannot express in ONNX fails with an error, not a bad file. */
static void test_unwritable(void) {
  lg_graph g;
  CHECK_OK(lg_graph_init(&g));
  int x = lg_graph_add_value(&g, "x");
  g.values[x].kind = LG_VALUE_INPUT;
  g.values[x].t.dtype = LEDGE_FLOAT32;
  g.values[x].t.rank = 1;
  g.values[x].t.dims[0] = 4;
  int y = lg_graph_add_value(&g, "y");
  int n = lg_graph_add_node(&g, "Relu", 1, 1);
  g.nodes[n].in[0] = x;
  g.nodes[n].out[0] = y;
  g.nodes[n].name = "relu";
  g.nodes[n].domain = "";
  g.values[y].producer = n;
  g.values[y].is_output = true;
  g.inputs = lg_pool_alloc(g.pool, sizeof(int));
  g.outputs = lg_pool_alloc(g.pool, sizeof(int));
  g.inputs[g.n_inputs++] = x;
  g.outputs[g.n_outputs++] = y;
  uint8_t *buf = NULL;
  size_t size = 0;
  /* y's type is unknown until inference and none was given. */
  CHECK(lg_onnx_serialize(&g, NULL, &buf, &size) == LEDGE_ERR_FORMAT && !buf);
  CHECK(strstr(ledge_last_error(), "'y'") != NULL);
  ledge_tensor_info types[1] = {{"y", LEDGE_FLOAT32, 1, {4}}};
  lg_onnx_write_options o = {0};
  o.opset = 14;
  o.output_types = types;
  CHECK_OK(lg_onnx_serialize(&g, &o, &buf, &size));
  ledge_model *m = NULL;
  CHECK_OK(ledge_model_load_memory(buf, size, &m));
  if (m) CHECK(m->opset == 14 && m->ir_version == 7 && !strcmp(m->graph.nodes[0].op_type, "Relu"));
  ledge_model_destroy(m);
  free(buf);
  lg_graph_free(&g);
}

int main(int argc, char **argv) {
  const char *mirror = argc > 2 && !strcmp(argv[1], "--mirror") ? argv[2] : NULL;
  failures_at_start = harness_failures;
  test_writer_lengths();
  test_unwritable();
  int cases = round_trip_suite(mirror);
  CHECK(cases > 900);
  printf("test_onnx_write: %d conformance models rewritten\n", cases);
  return harness_finish("test_onnx_write");
}
