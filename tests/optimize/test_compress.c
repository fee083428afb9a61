/*
 * test_compress.c: invariants of weight clustering + Huffman coding
 * (src/optimize/compress.c) and of decoding it (ledge_format_cluster.c):
 *
 * - every decoded value is one of at most 2^b centroids, and it is the
 *   centroid nearest the original weight;
 * - more bits never lose accuracy (SQNR rises with b, about 6 dB a bit on
 *   Gaussian weights), and Huffman coding never costs more than packing;
 * - tensors with at most 2^b distinct values come back exactly;
 * - a .ledge file with clustered tensors loads them decoded and runs;
 * - hostile blobs (every truncation, bad code lengths, lying counts) end in
 *   errors.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/op.h"
#include "optimize/compress.h"
#include "runtime/model.h"

static uint64_t rng = 0x243F6A8885A308D3ull;
static double uniform(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}
static float gaussian(void) {
  return (float)(sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform()));
}

static double sqnr_db(const float *a, const float *b, int64_t n) {
  double s = 0, e = 0;
  for (int64_t i = 0; i < n; i++)
    s += (double)a[i] * a[i], e += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
  return e > 0 ? 10 * log10(s / e) : INFINITY;
}

static void test_invariants(void) {
  enum { N = 20000 };
  float *w = malloc(sizeof(float) * N), *d = malloc(sizeof(float) * N),
        *p = malloc(sizeof(float) * N);
  for (int i = 0; i < N; i++) w[i] = 0.05f * gaussian();
  double last = -INFINITY;
  for (int bits = 2; bits <= 8; bits++) {
    lg_compress_options o = {bits, 1, 0, false}; /* default iterations */
    uint8_t *blob = NULL, *packed = NULL;
    size_t size = 0, packed_size = 0;
    double reported;
    CHECK_OK(lg_compress_tensor(w, N, &o, &blob, &size, &reported));
    o.no_huffman = true;
    CHECK_OK(lg_compress_tensor(w, N, &o, &packed, &packed_size, NULL));
    if (!blob || !packed) continue;
    CHECK_OK(lg_ledge_decode_clustered(blob, size, d, N));
    CHECK_OK(lg_ledge_decode_clustered(packed, packed_size, p, N));
    CHECK(!memcmp(d, p, sizeof(float) * N)); /* the coding changes nothing */
    CHECK(size <= packed_size + 256); /* Huffman never costs more (beyond its code lengths) */
    CHECK(packed_size <= 16 + 4 * 256 + 8 + ((size_t)N * bits + 7) / 8);
    /* decoded values: at most 2^b distinct, each the centroid nearest its weight */
    float centroids[256];
    int k = 0;
    for (int i = 0; i < N; i++) {
      int j = 0;
      while (j < k && centroids[j] != d[i]) j++;
      if (j == k && k < 256) centroids[k++] = d[i];
    }
    CHECK(k <= (1 << bits) && k >= (1 << bits) / 2);
    int misassigned = 0;
    for (int i = 0; i < N; i++)
      for (int j = 0; j < k; j++)
        if (fabsf(w[i] - centroids[j]) < fabsf(w[i] - d[i]) * (1 - 1e-6f) - 1e-9f) {
          misassigned++;
          break;
        }
    CHECK(misassigned == 0);
    double s = sqnr_db(w, d, N);
    CHECK(fabs(s - reported) < 1e-6 * fabs(s) + 1e-9);
    CHECK(s > last + 3); /* each bit buys accuracy (about 6 dB on Gaussian weights) */
    CHECK(size * 8.0 / N < bits + 0.1); /* Huffman-coded indices take fewer bits than b */
    /* within 5 dB of the best any scalar quantizer does on a Gaussian
     * (Lloyd-Max: 9.30 dB at 2 bits, 14.62 at 3, then Panter-Dite's 6.02 b - 4.35) */
    double best = bits == 2 ? 9.30 : bits == 3 ? 14.62 : 6.02 * bits - 4.35;
    CHECK(s > best - 5 && s < best + 0.5);
    printf("bits %d: %zu bytes Huffman (%.2f bits/weight), %zu packed, SQNR %.1f dB\n", bits, size,
           8.0 * size / N, packed_size, s);
    last = s;
    free(blob);
    free(packed);
  }
  /* Few distinct values come back exactly; a constant too. */
  for (int i = 0; i < N; i++) w[i] = (float)(i % 3) - 1.0f;
  lg_compress_options o = {2, 1, 30, false};
  uint8_t *blob = NULL;
  size_t size = 0;
  CHECK_OK(lg_compress_tensor(w, N, &o, &blob, &size, NULL));
  if (blob) CHECK_OK(lg_ledge_decode_clustered(blob, size, d, N));
  CHECK(!memcmp(w, d, sizeof(float) * N));
  free(blob);
  for (int i = 0; i < N; i++) w[i] = 0.75f;
  CHECK_OK(lg_compress_tensor(w, N, &o, &blob, &size, NULL));
  if (blob) CHECK_OK(lg_ledge_decode_clustered(blob, size, d, N));
  CHECK(!memcmp(w, d, sizeof(float) * N) && size < 64 + N / 8 + 16);
  free(blob);
  /* NaN weights are refused (and stay raw in a file). */
  w[5] = NAN;
  CHECK(lg_compress_tensor(w, N, &o, &blob, &size, NULL) == LEDGE_ERR_INVALID_ARGUMENT && !blob);
  free(w);
  free(d);
  free(p);
}

static void test_hostile_blobs(void) {
  enum { N = 3000 };
  float w[N], d[N];
  for (int i = 0; i < N; i++) w[i] = gaussian();
  lg_compress_options o = {5, 1, 30, false};
  uint8_t *blob = NULL;
  size_t size = 0;
  CHECK_OK(lg_compress_tensor(w, N, &o, &blob, &size, NULL));
  if (!blob) return;
  for (size_t n = 0; n < size; n++) CHECK(lg_ledge_decode_clustered(blob, n, d, N) != LEDGE_OK);
  CHECK(lg_ledge_decode_clustered(blob, size, d, N - 1) == LEDGE_ERR_FORMAT); /* count disagrees */
  uint8_t *bad = malloc(size);
  uint16_t k;
  memcpy(&k, blob + 4, 2);
  size_t lengths_at = 16 + 4 * (size_t)k;
  memcpy(bad, blob, size);
  for (int s = 0; s < k; s++) bad[lengths_at + s] = 1; /* Kraft sum > 1 */
  CHECK(lg_ledge_decode_clustered(bad, size, d, N) == LEDGE_ERR_FORMAT);
  memcpy(bad, blob, size);
  bad[lengths_at] = 40; /* too long */
  CHECK(lg_ledge_decode_clustered(bad, size, d, N) == LEDGE_ERR_FORMAT);
  memcpy(bad, blob, size);
  bad[1] = 9; /* bits */
  CHECK(lg_ledge_decode_clustered(bad, size, d, N) == LEDGE_ERR_FORMAT);
  memcpy(bad, blob, size);
  bad[0] = 2; /* version */
  CHECK(lg_ledge_decode_clustered(bad, size, d, N) == LEDGE_ERR_UNSUPPORTED);
  /* Random payload bytes: an error or some values, never a crash. */
  for (int t = 0; t < 200; t++) {
    memcpy(bad, blob, size);
    for (int j = 0; j < 8; j++)
      bad[lengths_at + (size_t)(uniform() * (double)(size - lengths_at))] ^= (uint8_t)(1 + t);
    lg_ledge_decode_clustered(bad, size, d, N);
  }
  free(bad);
  free(blob);
}

/* A MatMul whose 256x256 weight is clustered in a .ledge file. */
static void test_file(void) {
  ledge_model *m = calloc(1, sizeof *m);
  lg_graph *g = &m->graph;
  lg_graph_init(g);
  m->opset = 13;
  int x = lg_graph_add_value(g, "x");
  g->values[x].kind = LG_VALUE_INPUT;
  g->values[x].shape_known = true;
  g->values[x].t.dtype = LEDGE_FLOAT32;
  int64_t xd[] = {1, 256}, wd[] = {256, 256}, bd[] = {256};
  lg_tensor_set_shape(&g->values[x].t, 2, xd);
  int w = lg_graph_add_value(g, "w"), b = lg_graph_add_value(g, "b");
  int vs[2] = {w, b};
  for (int k = 0; k < 2; k++) {
    lg_value *v = &g->values[vs[k]];
    v->kind = LG_VALUE_CONSTANT;
    v->shape_known = true;
    v->t.dtype = LEDGE_FLOAT32;
    lg_tensor_set_shape(&v->t, k ? 1 : 2, k ? bd : wd);
    lg_value_alloc_owned(v);
    for (int64_t i = 0; i < lg_tensor_count(&v->t); i++)
      ((float *)v->t.data)[i] = 0.1f * gaussian();
  }
  int h = lg_graph_add_value(g, "h"), y = lg_graph_add_value(g, "y");
  int n1 = lg_graph_add_node(g, "MatMul", 2, 1), n2 = lg_graph_add_node(g, "Add", 2, 1);
  g->nodes[n1].op = lg_op_find("", "MatMul");
  g->nodes[n2].op = lg_op_find("", "Add");
  g->nodes[n1].opset = g->nodes[n2].opset = 13;
  g->nodes[n1].in[0] = x, g->nodes[n1].in[1] = w, g->nodes[n1].out[0] = h,
  g->values[h].producer = n1;
  g->nodes[n2].in[0] = h, g->nodes[n2].in[1] = b, g->nodes[n2].out[0] = y,
  g->values[y].producer = n2;
  g->values[y].is_output = true;
  g->inputs = lg_pool_alloc(g->pool, sizeof(int));
  g->outputs = lg_pool_alloc(g->pool, sizeof(int));
  g->inputs[g->n_inputs++] = x;
  g->outputs[g->n_outputs++] = y;

  lg_compress_ctx ctx = {0};
  ctx.options.bits = 6;
  ctx.options.min_elements = 1024;
  lg_ledge_write_options o = {0};
  o.opset = 13;
  o.encode = lg_compress_encode;
  o.encode_ctx = &ctx;
  uint8_t *buf = NULL;
  size_t size = 0;
  CHECK_OK(lg_ledge_serialize(g, &o, &buf, &size));
  CHECK(ctx.stats.tensors == 1 && ctx.stats.weights == 65536 && ctx.stats.worst_sqnr_db > 25);
  CHECK(size < 65536 * 4 / 5); /* 6 bits and less per weight */
  uint8_t *copy = buf ? lg_aligned_alloc(size) : NULL;
  ledge_model *loaded = NULL;
  if (copy) {
    memcpy(copy, buf, size);
    CHECK_OK(ledge_model_load_memory(copy, size, &loaded));
  }
  if (loaded) {
    CHECK(loaded->ledge->compressed_tensors == 1);
    const lg_value *lw = &loaded->graph.values[lg_graph_find_value(&loaded->graph, "w")];
    const lg_value *lb = &loaded->graph.values[lg_graph_find_value(&loaded->graph, "b")];
    CHECK(lw->owned && lw->t.data == lw->owned); /* decoded at load */
    CHECK(!lb->owned &&
          !memcmp(lb->t.data, g->values[b].t.data, 1024)); /* the bias stays raw, in place */
    CHECK(sqnr_db(g->values[w].t.data, lw->t.data, 65536) > 25);
    /* It runs, and y = x W' + b for the decoded W'. */
    ledge_session *s = NULL;
    ledge_tensor *in = NULL;
    const ledge_tensor *out = NULL;
    CHECK_OK(ledge_session_create(loaded, NULL, &s));
    CHECK_OK(ledge_tensor_create(LEDGE_FLOAT32, 2, xd, &in));
    if (s && in) {
      float *xi = ledge_tensor_data(in);
      for (int i = 0; i < 256; i++) xi[i] = gaussian();
      CHECK_OK(ledge_session_run(s, &in, 1, NULL, 0));
      CHECK_OK(ledge_session_output(s, 0, &out));
      const float *W = lw->t.data, *B = lb->t.data, *yo = out ? ledge_tensor_data(out) : NULL;
      for (int j = 0; yo && j < 256; j += 5) {
        double want = B[j];
        for (int i = 0; i < 256; i++) want += (double)xi[i] * W[i * 256 + j];
        CHECK(fabs(yo[j] - want) <= 1e-4 * (1 + fabs(want)));
      }
    }
    ledge_tensor_destroy(in);
    ledge_session_destroy(s);
    /* Rewriting a compressed model keeps its blobs bit for bit. */
    CHECK(loaded->ledge->n_clustered == 1 && !strcmp(loaded->ledge->clustered_names[0], "w"));
    lg_ledge_write_options again = {0};
    again.opset = 13;
    again.encode = lg_ledge_keep_encoded;
    again.encode_ctx = loaded->ledge;
    uint8_t *buf2 = NULL;
    size_t size2 = 0;
    CHECK_OK(lg_ledge_serialize(&loaded->graph, &again, &buf2, &size2));
    CHECK(size2 == size && buf2 && !memcmp(buf2, buf, size));
    free(buf2);
  }
  ledge_model_destroy(loaded);
  lg_aligned_free(copy);
  free(buf);
  ledge_model_destroy(m);
}

int main(void) {
  test_invariants();
  test_hostile_blobs();
  test_file();
  return harness_finish("test_compress");
}
