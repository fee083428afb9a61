/*
 * test_ledge_format.c: the .ledge format.
 *
 * - Round trip: every conformance model we pass, written as .ledge and read
 *   back, is the same graph; with --mirror DIR the .ledge copies are written
 *   as a copy of the suite for ledge-conformance (which loads by magic, so
 *   DIR/<case>/model.onnx holds .ledge bytes) to check against ONNX's own
 *   expected outputs.
 * - Zero copy: constants point into the loaded buffer.
 * - Hostile files: every truncation, flipped bytes, huge dims, misaligned
 *   offsets, unknown sections, newer versions: clear errors, never a crash.
 * - Self-test: passes on the file as written, and names the first layer
 *   that diverges when a weight is changed under a valid checksum.
 */
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/ledge_format.h"
#include "harness.h"
#include "ops/op.h"
#include "runtime/model.h"

/* ---- Reading the layout as docs/format.md describes it ---- */

#define FOURCC(a, b, c, d) \
  ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

static uint32_t rd32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static uint64_t rd64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* The section table entry of a section type, or NULL. */
static uint8_t *section_entry(uint8_t *file, uint32_t type) {
  uint32_t count = rd32(file + 20);
  uint8_t *table = file + rd64(file + 24);
  for (uint32_t i = 0; i < count; i++)
    if (rd32(table + 32 * i) == type) return table + 32 * i;
  return NULL;
}

/* Recomputes every checksum after an edit: sections, table, header. */
static void fix_checksums(uint8_t *file) {
  uint32_t count = rd32(file + 20);
  uint8_t *table = file + rd64(file + 24);
  for (uint32_t i = 0; i < count; i++) {
    uint8_t *e = table + 32 * i;
    wr32(e + 24, lg_crc32c(0, file + rd64(e + 8), rd64(e + 16)));
  }
  wr32(file + 40, lg_crc32c(0, table, 32 * (size_t)count));
  wr32(file + 60, lg_crc32c(0, file, 60));
}

/* A copy of the file with one more section (type, flags, body) appended:
 * the table moves to the end so it has room. */
static uint8_t *with_extra_section(const uint8_t *file, size_t size, uint32_t type, uint32_t flags,
                                   const char *body, size_t *out_size) {
  uint32_t count = rd32(file + 20);
  const uint8_t *table = file + rd64(file + 24);
  size_t body_at = (size + 63) / 64 * 64, body_len = strlen(body);
  size_t table_at = (body_at + body_len + 63) / 64 * 64;
  size_t total = table_at + 32 * ((size_t)count + 1);
  uint8_t *out = calloc(total, 1);
  memcpy(out, file, size);
  memcpy(out + body_at, body, body_len);
  memcpy(out + table_at, table, 32 * (size_t)count);
  uint8_t *e = out + table_at + 32 * count;
  wr32(e, type);
  wr32(e + 4, flags);
  wr64(e + 8, body_at);
  wr64(e + 16, body_len);
  wr32(out + 20, count + 1);
  wr64(out + 24, table_at);
  wr64(out + 32, total);
  fix_checksums(out);
  *out_size = total;
  return out;
}

/* ---- Graph comparison ---- */

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

static const char *value_name(const lg_graph *g, int v) { return v >= 0 ? g->values[v].name : ""; }

static void compare_graphs(const char *what, const lg_graph *a, const lg_graph *b) {
  int before = harness_failures;
  CHECK(a->n_inputs == b->n_inputs && a->n_outputs == b->n_outputs && a->n_nodes == b->n_nodes);
  if (harness_failures != before) return;
  for (int i = 0; i < a->n_inputs; i++) {
    const lg_value *x = &a->values[a->inputs[i]], *y = &b->values[b->inputs[i]];
    CHECK(!strcmp(x->name, y->name) && x->t.dtype == y->t.dtype && x->t.rank == y->t.rank &&
          x->shape_known == y->shape_known);
    for (int d = 0; d < x->t.rank; d++) CHECK(x->t.dims[d] == y->t.dims[d]);
  }
  for (int i = 0; i < a->n_outputs; i++)
    CHECK(!strcmp(a->values[a->outputs[i]].name, b->values[b->outputs[i]].name));
  for (int i = 0; i < a->n_nodes; i++) {
    const lg_node *x = &a->nodes[i], *y = &b->nodes[i];
    CHECK(!strcmp(x->op_type, y->op_type) && !strcmp(x->domain, y->domain) &&
          !strcmp(x->name, y->name) && x->opset == y->opset && x->op == y->op);
    CHECK(x->n_in == y->n_in && x->n_out == y->n_out);
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
      CHECK(ky < y->n_attrs && same_attr(&x->attrs[k], &y->attrs[ky]));
      ky++;
    }
    CHECK(ky == y->n_attrs);
  }
  if (harness_failures != before) fprintf(stderr, "%s: the .ledge graph differs\n", what);
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

static uint8_t *serialize_model(const ledge_model *m, const lg_ledge_selftest *st, size_t *size) {
  lg_ledge_write_options o = {0};
  o.opset = m->opset;
  o.ir_version = m->ir_version;
  o.selftest = st;
  const char *keys[] = {"name", "labels"}, *values[] = {"test model", "cat\ndog"};
  o.n_meta = 2;
  o.meta_keys = keys;
  o.meta_values = values;
  uint8_t *buf = NULL;
  CHECK_OK(lg_ledge_serialize(&m->graph, &o, &buf, size));
  return buf;
}

static int round_trip_suite(const char *mirror) {
  char list[4096];
  snprintf(list, sizeof list, "%s/tests/conformance/expected_pass.txt", LEDGE_SOURCE_DIR);
  FILE *f = fopen(list, "r");
  if (!f) return -1;
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
    size_t size = 0;
    uint8_t *buf = serialize_model(a, NULL, &size);
    /* The loader reads constants in place: give it a 64-byte aligned copy, as a mapping is. */
    uint8_t *aligned = buf ? lg_aligned_alloc(size) : NULL;
    if (aligned) {
      memcpy(aligned, buf, size);
      CHECK_OK(ledge_model_load_memory(aligned, size, &b));
    }
    if (b) {
      compare_graphs(line, &a->graph, &b->graph);
      CHECK(b->opset == a->opset && !strcmp(b->format, "ledge") && !strcmp(b->name, "test model"));
      CHECK(lg_ledge_meta(b->ledge, "labels") &&
            !strcmp(lg_ledge_meta(b->ledge, "labels"), "cat\ndog"));
      CHECK_OK(lg_ledge_verify_data(b->ledge));
      for (int v = 0; v < b->graph.n_values; v++) { /* zero copy: constants live in the buffer */
        const lg_value *val = &b->graph.values[v];
        if (val->kind == LG_VALUE_CONSTANT && lg_tensor_bytes(&val->t))
          CHECK((uint8_t *)val->t.data >= aligned && (uint8_t *)val->t.data < aligned + size &&
                (uintptr_t)val->t.data % 64 == 0 && !val->owned);
      }
    }
    if (buf && mirror) {
      char out_dir[4096], out[4096];
      snprintf(out_dir, sizeof out_dir, "%s/%s", mirror, line);
      mkdirs(out_dir);
      snprintf(out, sizeof out, "%s/model.onnx", out_dir);
      FILE *o = fopen(out, "wb");
      CHECK(o && fwrite(buf, 1, size, o) == size);
      if (o) fclose(o);
      for (int k = 0; k < 16; k++) {
        char src[4096], dst[4096];
        snprintf(src, sizeof src, "%s/test_data_set_%d", dir, k);
        if (access(src, F_OK) != 0) break;
        snprintf(dst, sizeof dst, "%s/test_data_set_%d", out_dir, k);
        unlink(dst);
        CHECK(symlink(src, dst) == 0);
      }
    }
    ledge_model_destroy(b);
    lg_aligned_free(aligned);
    free(buf);
    ledge_model_destroy(a);
    cases++;
  }
  fclose(f);
  return cases;
}

/* ---- A small network built here: Conv -> Relu -> Conv ---- */

static int add_const(lg_graph *g, const char *name, int rank, const int64_t *dims, unsigned seed) {
  int v = lg_graph_add_value(g, name);
  lg_value *val = &g->values[v];
  val->kind = LG_VALUE_CONSTANT;
  val->shape_known = true;
  val->t.dtype = LEDGE_FLOAT32;
  lg_tensor_set_shape(&val->t, rank, dims);
  lg_value_alloc_owned(val);
  float *p = val->t.data;
  for (int64_t i = 0; i < lg_tensor_count(&val->t); i++)
    p[i] = (float)sin(seed * 7.1 + (double)i * 0.37) * 0.5f;
  return v;
}

static int add_node(lg_graph *g, const char *type, const char *name, int n_in, const int *in,
                    int out) {
  int n = lg_graph_add_node(g, type, n_in, 1);
  lg_node *node = &g->nodes[n];
  node->name = name;
  node->opset = 13;
  node->op = lg_op_find("", type);
  for (int i = 0; i < n_in; i++) node->in[i] = in[i];
  node->out[0] = out;
  g->values[out].producer = n;
  return n;
}

static ledge_model *small_network(void) {
  ledge_model *m = calloc(1, sizeof *m);
  lg_graph *g = &m->graph;
  lg_graph_init(g);
  m->opset = 13;
  m->format = "onnx";
  int x = lg_graph_add_value(g, "x");
  g->values[x].kind = LG_VALUE_INPUT;
  g->values[x].shape_known = true;
  g->values[x].t.dtype = LEDGE_FLOAT32;
  int64_t xd[] = {1, 2, 6, 6}, w1d[] = {3, 2, 3, 3}, b1d[] = {3}, w2d[] = {2, 3, 1, 1};
  lg_tensor_set_shape(&g->values[x].t, 4, xd);
  int w1 = add_const(g, "w1", 4, w1d, 1), b1 = add_const(g, "b1", 1, b1d, 2),
      w2 = add_const(g, "w2", 4, w2d, 3);
  int h = lg_graph_add_value(g, "h"), r = lg_graph_add_value(g, "r"),
      y = lg_graph_add_value(g, "y");
  add_node(g, "Conv", "conv1", 3, (int[]){x, w1, b1}, h);
  add_node(g, "Relu", "relu1", 1, (int[]){h}, r);
  add_node(g, "Conv", "conv2", 2, (int[]){r, w2}, y);
  g->values[y].is_output = true;
  g->inputs = lg_pool_alloc(g->pool, sizeof(int));
  g->outputs = lg_pool_alloc(g->pool, sizeof(int));
  g->inputs[g->n_inputs++] = x;
  g->outputs[g->n_outputs++] = y;
  return m;
}

static uint8_t *aligned_copy(const uint8_t *buf, size_t size) {
  uint8_t *p = lg_aligned_alloc(size);
  memcpy(p, buf, size);
  return p;
}

/* Loading fails with a message containing want (and nothing leaks or crashes). */
static void expect_failure(const char *what, const uint8_t *buf, size_t size, ledge_status status,
                           const char *want) {
  uint8_t *copy = aligned_copy(buf, size ? size : 1);
  ledge_model *m = NULL;
  ledge_status st = ledge_model_load_memory(copy, size, &m);
  CHECK(st != LEDGE_OK && !m);
  if (st == LEDGE_OK || (status && st != status) || (want && !strstr(ledge_last_error(), want)))
    fprintf(stderr, "%s: got %s: %s (wanted %s)\n", what, ledge_status_name(st),
            st ? ledge_last_error() : "", want ? want : "");
  if (status) CHECK(st == status);
  if (want) CHECK(st != LEDGE_OK && strstr(ledge_last_error(), want) != NULL);
  ledge_model_destroy(m);
  lg_aligned_free(copy);
}

static void test_hostile(void) {
  ledge_model *net = small_network();
  size_t size = 0;
  uint8_t *good = serialize_model(net, NULL, &size);
  if (!good) return;
  ledge_model *m = NULL;
  uint8_t *copy = aligned_copy(good, size);
  CHECK_OK(ledge_model_load_memory(copy, size, &m));
  ledge_model_destroy(m);
  lg_aligned_free(copy);

  /* Every truncation. */
  for (size_t n = 0; n < size; n++) {
    uint8_t *c = aligned_copy(good, n ? n : 1);
    m = NULL;
    CHECK(ledge_model_load_memory(c, n, &m) != LEDGE_OK && !m);
    lg_aligned_free(c);
  }
  expect_failure("truncated", good, size - 1, LEDGE_ERR_FORMAT, "truncated");

  /* Every byte flipped: outside the weights, the checksums catch it; inside,
   * the data checksum does (on demand). Never a crash. */
  uint8_t *data_entry = section_entry(good, FOURCC('D', 'A', 'T', 'A'));
  size_t data_at = rd64(data_entry + 8), data_len = rd64(data_entry + 16);
  int caught = 0, flips = 0;
  for (size_t i = 0; i < size; i++) {
    uint8_t *c = aligned_copy(good, size);
    c[i] ^= 0x5A;
    m = NULL;
    ledge_status st = ledge_model_load_memory(c, size, &m);
    if (i >= data_at && i < data_at + data_len) {
      CHECK(st == LEDGE_OK && m && lg_ledge_verify_data(m->ledge) == LEDGE_ERR_FORMAT);
    } else {
      bool padding = st == LEDGE_OK; /* alignment padding between sections */
      caught += !padding;
      flips++;
    }
    ledge_model_destroy(m);
    lg_aligned_free(c);
  }
  CHECK(caught > flips * 3 / 4);

  /* Huge dims under valid checksums: the tensor table's first entry. */
  uint8_t *bad = aligned_copy(good, size);
  uint8_t *tens = bad + rd64(section_entry(bad, FOURCC('T', 'E', 'N', 'S')) + 8);
  /* entry 0: u32 count, then u32 name, u8 dtype, u8 rank, u8 enc, u8 quant, dims... */
  wr64(tens + 4 + 8, (uint64_t)1 << 40);
  fix_checksums(bad);
  expect_failure("huge dims", bad, size, LEDGE_ERR_FORMAT, "bytes");
  wr64(tens + 4 + 8, (uint64_t)1 << 62);
  fix_checksums(bad);
  expect_failure("overflowing dims", bad, size, LEDGE_ERR_FORMAT, "too many elements");
  lg_aligned_free(bad);

  /* A misaligned data offset: first tensor of w1 [3,2,3,3] (rank 4). */
  bad = aligned_copy(good, size);
  tens = bad + rd64(section_entry(bad, FOURCC('T', 'E', 'N', 'S')) + 8);
  uint64_t off = rd64(tens + 4 + 8 + 4 * 8);
  wr64(tens + 4 + 8 + 4 * 8, off + 4);
  fix_checksums(bad);
  expect_failure("misaligned", bad, size, LEDGE_ERR_FORMAT, "aligned");
  /* An offset past the data. */
  wr64(tens + 4 + 8 + 4 * 8, (uint64_t)1 << 40);
  fix_checksums(bad);
  expect_failure("outside", bad, size, LEDGE_ERR_FORMAT, "outside the data section");
  lg_aligned_free(bad);

  /* Section table outside the file, bad checksums. */
  bad = aligned_copy(good, size);
  wr64(bad + 24, size + 100);
  wr32(bad + 60, lg_crc32c(0, bad, 60));
  expect_failure("table outside", bad, size, LEDGE_ERR_FORMAT, "outside the file");
  lg_aligned_free(bad);
  bad = aligned_copy(good, size);
  bad[9] ^= 1; /* version byte, header checksum left stale */
  expect_failure("header checksum", bad, size, LEDGE_ERR_FORMAT, "header checksum");
  lg_aligned_free(bad);
  bad = aligned_copy(good, size);
  bad[rd64(section_entry(bad, FOURCC('G', 'R', 'P', 'H')) + 8) + 3] ^= 1;
  expect_failure("graph checksum", bad, size, LEDGE_ERR_FORMAT, "'GRPH' checksum");
  lg_aligned_free(bad);

  /* Versions: a newer major is refused, a newer minor is read. */
  bad = aligned_copy(good, size);
  wr32(bad + 8, 2);
  fix_checksums(bad);
  expect_failure("major 2", bad, size, LEDGE_ERR_UNSUPPORTED, "version 2.0");
  wr32(bad + 8, 1 | 7u << 16);
  fix_checksums(bad);
  m = NULL;
  CHECK_OK(ledge_model_load_memory(bad, size, &m));
  if (m) CHECK(m->ledge->version_minor == 7);
  ledge_model_destroy(m);
  lg_aligned_free(bad);

  /* Unknown sections: optional ones are skipped, required ones refused. */
  size_t n2 = 0;
  uint8_t *extra =
      with_extra_section(good, size, FOURCC('N', 'E', 'W', '!'), 0, "from the future", &n2);
  copy = aligned_copy(extra, n2);
  m = NULL;
  CHECK_OK(ledge_model_load_memory(copy, n2, &m));
  if (m) CHECK(m->ledge->skipped_sections == 1 && m->graph.n_nodes == 3);
  ledge_model_destroy(m);
  lg_aligned_free(copy);
  free(extra);
  extra = with_extra_section(good, size, FOURCC('N', 'E', 'W', '!'), 1, "from the future", &n2);
  expect_failure("required unknown section", extra, n2, LEDGE_ERR_UNSUPPORTED,
                 "required section 'NEW!'");
  free(extra);

  /* Not a .ledge file at all, and an empty buffer. */
  expect_failure("empty", (const uint8_t *)"", 0, 0, NULL);
  free(good);
  ledge_model_destroy(net);
}

static void test_selftest(void) {
  ledge_model *net = small_network();
  lg_pool *pool = lg_pool_create();
  lg_ledge_selftest st;
  CHECK_OK(lg_ledge_selftest_make(net, NULL, 1e-4f, pool, &st));
  CHECK(st.n_inputs == 1 && st.n_outputs == 1 && st.n_layers == 3);
  size_t size = 0;
  uint8_t *buf = serialize_model(net, &st, &size);
  lg_pool_destroy(pool);
  if (!buf) return;
  uint8_t *copy = aligned_copy(buf, size);
  ledge_model *m = NULL;
  CHECK_OK(ledge_model_load_memory(copy, size, &m));
  lg_ledge_selftest_report rep;
  if (m) {
    CHECK(m->ledge->has_selftest && m->ledge->selftest.n_layers == 3 &&
          !strcmp(m->ledge->selftest.layers[1].value, "r") &&
          !strcmp(m->ledge->selftest.layers[2].op_type, "Conv"));
    CHECK_OK(lg_ledge_selftest_run(m, &m->ledge->selftest, 0, 1, &rep));
    CHECK(rep.passed && rep.layers_checked == 3 && rep.max_output_error <= 1e-4);
  }
  ledge_model_destroy(m);
  /* Change one weight of conv2 under a valid checksum: conv2 is named. */
  int64_t w2_at = -1;
  const uint8_t *tens = copy + rd64(section_entry(copy, FOURCC('T', 'E', 'N', 'S')) + 8);
  const uint8_t *data = copy + rd64(section_entry(copy, FOURCC('D', 'A', 'T', 'A')) + 8);
  const char *strs = (const char *)copy + rd64(section_entry(copy, FOURCC('S', 'T', 'R', 'S')) + 8);
  const uint8_t *e = tens + 4;
  for (uint32_t i = 0; i < rd32(tens); i++) {
    int rank = e[5];
    if (!strcmp(strs + rd32(e), "w2")) w2_at = (int64_t)rd64(e + 8 + 8 * rank);
    e += 8 + 8 * rank + 16;
  }
  CHECK(w2_at >= 0);
  if (w2_at >= 0) {
    float w;
    memcpy(&w, data + w2_at, 4);
    w += 0.25f;
    memcpy(copy + (data - copy) + w2_at, &w, 4);
    fix_checksums(copy);
    m = NULL;
    CHECK_OK(ledge_model_load_memory(copy, size, &m));
    if (m) {
      CHECK_OK(lg_ledge_verify_data(m->ledge));
      CHECK_OK(lg_ledge_selftest_run(m, &m->ledge->selftest, 0, 1, &rep));
      CHECK(!rep.passed && strstr(rep.first_layer, "y (node 'conv2', Conv)") == rep.first_layer);
      printf("%s\n", rep.message);
      CHECK(strstr(rep.message, "first diverging layer y") != NULL);
    }
    ledge_model_destroy(m);
  }
  lg_aligned_free(copy);
  free(buf);
  ledge_model_destroy(net);
}

/* Loading from a file maps it and allocates nothing proportional to the
 * weights: a 4 MB MatMul weight stays in the mapping. */
static void test_zero_copy_file(void) {
  ledge_model *m = calloc(1, sizeof *m);
  lg_graph *g = &m->graph;
  lg_graph_init(g);
  m->opset = 13;
  int x = lg_graph_add_value(g, "x");
  g->values[x].kind = LG_VALUE_INPUT;
  g->values[x].shape_known = true;
  g->values[x].t.dtype = LEDGE_FLOAT32;
  int64_t xd[] = {1, 1024}, wd[] = {1024, 1024};
  lg_tensor_set_shape(&g->values[x].t, 2, xd);
  int w = add_const(g, "w", 2, wd, 5);
  int y = lg_graph_add_value(g, "y");
  add_node(g, "MatMul", "matmul", 2, (int[]){x, w}, y);
  g->values[y].is_output = true;
  g->inputs = lg_pool_alloc(g->pool, sizeof(int));
  g->outputs = lg_pool_alloc(g->pool, sizeof(int));
  g->inputs[g->n_inputs++] = x;
  g->outputs[g->n_outputs++] = y;
  const char *path = "test_ledge_format_zero_copy.ledge";
  CHECK_OK(lg_ledge_write_file(g, NULL, path));
  struct mallinfo2 before = mallinfo2();
  ledge_model *loaded = NULL;
  CHECK_OK(ledge_model_load(path, &loaded));
  struct mallinfo2 after = mallinfo2();
  size_t allocated = (after.uordblks - before.uordblks) + (after.hblkhd - before.hblkhd);
  CHECK(allocated < 4 * 1024 * 1024 / 20);
  if (loaded) {
    const lg_value *lw = &loaded->graph.values[lg_graph_find_value(&loaded->graph, "w")];
    const uint8_t *base = loaded->file.addr;
    CHECK((const uint8_t *)lw->t.data > base &&
          (const uint8_t *)lw->t.data < base + loaded->file.size);
    CHECK((uintptr_t)lw->t.data % 64 == 0 && !memcmp(lw->t.data, g->values[w].t.data, 4 << 20));
    /* And it runs: y = x W against a direct sum. */
    ledge_session *s = NULL;
    ledge_tensor *in = NULL;
    const ledge_tensor *out = NULL;
    CHECK_OK(ledge_session_create(loaded, NULL, &s));
    CHECK_OK(ledge_tensor_create(LEDGE_FLOAT32, 2, xd, &in));
    if (s && in) {
      float *xi = ledge_tensor_data(in);
      for (int i = 0; i < 1024; i++) xi[i] = (float)((i % 7) - 3) * 0.25f;
      CHECK_OK(ledge_session_run(s, &in, 1, NULL, 0));
      CHECK_OK(ledge_session_output(s, 0, &out));
      const float *W = g->values[w].t.data, *yo = out ? ledge_tensor_data(out) : NULL;
      for (int j = 0; yo && j < 1024; j += 97) {
        double want = 0;
        for (int i = 0; i < 1024; i++) want += (double)xi[i] * W[(size_t)i * 1024 + (size_t)j];
        CHECK(fabs(yo[j] - want) <= 1e-3 * (1 + fabs(want)));
      }
    }
    ledge_tensor_destroy(in);
    ledge_session_destroy(s);
  }
  ledge_model_destroy(loaded);
  ledge_model_destroy(m);
  unlink(path);
}

static void test_crc(void) {
  /* The CRC32C check value (RFC 3720's test vectors): "123456789" -> E3069283. */
  CHECK(lg_crc32c(0, "123456789", 9) == 0xE3069283u);
  uint8_t zeros[32] = {0};
  CHECK(lg_crc32c(0, zeros, 32) == 0x8A9136AAu);
  /* Incremental equals one pass, at any split and alignment. */
  uint8_t buf[300];
  for (int i = 0; i < 300; i++) buf[i] = (uint8_t)(i * 31 + 7);
  uint32_t whole = lg_crc32c(0, buf, 300);
  for (int split = 0; split <= 300; split += 13)
    CHECK(lg_crc32c(lg_crc32c(0, buf, (size_t)split), buf + split, 300 - (size_t)split) == whole);
}

int main(int argc, char **argv) {
  const char *mirror = argc > 2 && !strcmp(argv[1], "--mirror") ? argv[2] : NULL;
  test_crc();
  test_hostile();
  test_selftest();
  test_zero_copy_file();
  int cases = round_trip_suite(mirror);
  CHECK(cases > 900);
  printf("test_ledge_format: %d conformance models round-tripped\n", cases);
  return harness_finish("test_ledge_format");
}
