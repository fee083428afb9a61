/*
 * test_tfjs.c: the JSON parser and the TF.js importer on small generated
 * models (checked against outputs computed here by hand) and on hostile
 * model.json files, which must fail with one clear error and never crash.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/json.h"
#include "harness.h"
#include "ledge/ledge.h"

#define CHECK_NEAR(a, b, tol) CHECK(fabs((double)(a) - (double)(b)) <= (tol))

static char dir[256];

static void write_file(const char *name, const void *data, size_t n) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "wb");
  CHECK(f != NULL);
  if (!f) return;
  fwrite(data, 1, n, f);
  fclose(f);
}

static ledge_status load_json(const char *json, ledge_model **m) {
  write_file("model.json", json, strlen(json));
  char p[512];
  snprintf(p, sizeof p, "%s/model.json", dir);
  *m = NULL;
  return ledge_model_load(p, m);
}

/* ---- JSON ---- */

static void test_json(void) {
  lg_json_doc *d;
  const char *ok = " {\"a\": [1, -2.5e3, true, false, null, \"x\\u00e9\\ud83d\\ude00\\n\"], \"b\": {}} ";
  CHECK(lg_json_parse(ok, strlen(ok), &d) == LEDGE_OK);
  const lg_json *a = lg_json_get(lg_json_root(d), "a");
  CHECK(a && a->n == 6);
  int64_t i;
  CHECK(lg_json_int(lg_json_at(a, 0), &i) && i == 1);
  CHECK(lg_json_at(a, 1)->num == -2500.0);
  CHECK(!strcmp(lg_json_str(lg_json_at(a, 5)), "x\xc3\xa9\xf0\x9f\x98\x80\n"));
  lg_json_free(d);
  const char *bad[] = {"", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "\"\\x\"", "\"abc", "[1 2]", "{1:2}",
                       "nul", "\"\\ud800\"", "[1]x", "\"\x01\"", "\"\xff\"", "NaN", "{\"a\" 1}"};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    d = NULL;
    CHECK(lg_json_parse(bad[k], strlen(bad[k]), &d) == LEDGE_ERR_FORMAT);
    CHECK(d == NULL);
  }
  /* Deep nesting is refused, not a stack overflow. */
  size_t n = 200000;
  char *deep = malloc(n);
  memset(deep, '[', n);
  CHECK(lg_json_parse(deep, n, &d) == LEDGE_ERR_FORMAT);
  CHECK(strstr(ledge_last_error(), "deep") != NULL);
  free(deep);
  /* int64 as strings (proto3 JSON) */
  CHECK(lg_json_parse("[\"-12\", \"1e3\", 3.5]", 19, &d) == LEDGE_OK);
  CHECK(lg_json_int(lg_json_at(lg_json_root(d), 0), &i) && i == -12);
  CHECK(!lg_json_int(lg_json_at(lg_json_root(d), 1), &i));
  CHECK(!lg_json_int(lg_json_at(lg_json_root(d), 2), &i));
  lg_json_free(d);
}

/* ---- a generated graph model: FusedConv2D(SAME)+Relu, then Mean ---- */

#define H 5
#define W 4
#define CI 2
#define CO 3
static float filt[3 * 3 * CI * CO], bias[CO], input[H * W * CI];

static const char *graph_json_fmt =
    "{\"format\": \"graph-model\", \"modelTopology\": {\"node\": ["
    "{\"name\": \"out\", \"op\": \"Mean\", \"input\": [\"conv\", \"axes\"], \"attr\": {\"keep_dims\": {\"b\": false}}},"
    "{\"name\": \"conv\", \"op\": \"_FusedConv2D\", \"input\": [\"x\", \"w\", \"b\"], \"attr\": {"
    "  \"strides\": {\"list\": {\"i\": [\"1\", \"2\", \"1\", \"1\"]}}, \"padding\": {\"s\": \"U0FNRQ==\"},"
    "  \"fused_ops\": {\"list\": {\"s\": [\"Qmlhc0FkZA==\", \"UmVsdQ==\"]}}, \"data_format\": {\"s\": \"TkhXQw==\"}}},"
    "{\"name\": \"x\", \"op\": \"Placeholder\", \"attr\": {\"dtype\": {\"type\": \"DT_FLOAT\"},"
    "  \"shape\": {\"shape\": {\"dim\": [{\"size\": \"1\"}, {\"size\": \"5\"}, {\"size\": \"4\"}, {\"size\": \"2\"}]}}}},"
    "{\"name\": \"w\", \"op\": \"Const\"}, {\"name\": \"b\", \"op\": \"Const\"}, {\"name\": \"axes\", \"op\": \"Const\"}"
    "]}, \"weightsManifest\": [{\"paths\": [\"%s\"], \"weights\": ["
    "{\"name\": \"w\", \"shape\": [3, 3, 2, 3], \"dtype\": \"float32\"%s},"
    "{\"name\": \"b\", \"shape\": [3], \"dtype\": \"float32\"},"
    "{\"name\": \"axes\", \"shape\": [2], \"dtype\": \"int32\"}]}]}";

/* Reference: conv NHWC stride (2,1), SAME padding (TF: extra at the end), relu, mean over H, W. */
static void reference(const float *f, float *out) {
  int oh = (H + 1) / 2, ow = W;
  int pad_h = ((oh - 1) * 2 + 3 - H) / 2, pad_w = ((ow - 1) + 3 - W) / 2;
  for (int o = 0; o < CO; o++) out[o] = 0;
  for (int y = 0; y < oh; y++)
    for (int x = 0; x < ow; x++)
      for (int o = 0; o < CO; o++) {
        double s = bias[o];
        for (int ky = 0; ky < 3; ky++)
          for (int kx = 0; kx < 3; kx++)
            for (int c = 0; c < CI; c++) {
              int iy = y * 2 + ky - pad_h, ix = x + kx - pad_w;
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
              s += input[(iy * W + ix) * CI + c] * f[((ky * 3 + kx) * CI + c) * CO + o];
            }
        out[o] += (float)(s > 0 ? s : 0) / (float)(oh * ow);
      }
}

static void run_graph(const char *quant, const void *wdata, size_t wbytes, const float *dequant, float tol) {
  char json[4096];
  uint8_t shard[4096];
  memcpy(shard, wdata, wbytes);
  memcpy(shard + wbytes, bias, sizeof bias);
  int32_t axes[2] = {1, 2};
  memcpy(shard + wbytes + sizeof bias, axes, sizeof axes);
  write_file("w.bin", shard, wbytes + sizeof bias + sizeof axes);
  snprintf(json, sizeof json, graph_json_fmt, "w.bin", quant);
  ledge_model *m;
  CHECK(load_json(json, &m) == LEDGE_OK);
  if (!m) {
    fprintf(stderr, "%s\n", ledge_last_error());
    return;
  }
  ledge_session *s;
  CHECK(ledge_session_create(m, NULL, &s) == LEDGE_OK);
  int64_t dims[4] = {1, H, W, CI};
  ledge_tensor *x;
  CHECK(ledge_tensor_wrap(LEDGE_FLOAT32, 4, dims, input, sizeof input, &x) == LEDGE_OK);
  CHECK(ledge_session_run(s, &x, 1, NULL, 0) == LEDGE_OK);
  const ledge_tensor *y;
  CHECK(ledge_session_output(s, 0, &y) == LEDGE_OK);
  float want[CO];
  reference(dequant, want);
  const float *got = ledge_tensor_data(y);
  CHECK(ledge_tensor_rank(y) == 2);
  for (int o = 0; o < CO; o++) CHECK_NEAR(got[o], want[o], tol);
  ledge_tensor_destroy(x);
  ledge_session_destroy(s);
  ledge_model_destroy(m);
}

static void test_graph_model(void) {
  for (int i = 0; i < (int)(sizeof filt / sizeof filt[0]); i++) filt[i] = sinf((float)i * 0.7f) * 0.5f;
  for (int i = 0; i < CO; i++) bias[i] = 0.1f * (float)(i - 1);
  for (int i = 0; i < H * W * CI; i++) input[i] = cosf((float)i * 0.3f);
  run_graph("", filt, sizeof filt, filt, 1e-5f);
  /* uint8-quantized filter: value = q * scale + min */
  size_t n = sizeof filt / sizeof filt[0];
  uint8_t q[sizeof filt / sizeof filt[0]];
  float deq[sizeof filt / sizeof filt[0]];
  for (size_t i = 0; i < n; i++) {
    q[i] = (uint8_t)lrintf((filt[i] + 0.5f) / (1.0f / 255));
    deq[i] = (float)(q[i] * (1.0 / 255) + -0.5);
  }
  run_graph(", \"quantization\": {\"dtype\": \"uint8\", \"min\": -0.5, \"scale\": 0.00392156862745098}", q, n, deq, 1e-5f);
  /* float16 */
  uint16_t hf[sizeof filt / sizeof filt[0]];
  for (size_t i = 0; i < n; i++) {
    float f = filt[i];
    uint32_t u;
    memcpy(&u, &f, 4);
    /* round-to-nearest half for |f| in the normal half range */
    uint32_t sign = u >> 31, exp = (u >> 23) & 0xFF, man = u & 0x7FFFFF;
    int e = (int)exp - 127 + 15;
    uint16_t h = 0;
    if (e > 0) h = (uint16_t)(sign << 15 | (uint32_t)e << 10 | (man >> 13));
    else h = (uint16_t)(sign << 15);
    hf[i] = h;
    uint32_t back = e > 0 ? (sign << 31 | (uint32_t)(e - 15 + 127) << 23 | (man >> 13) << 13) : sign << 31;
    memcpy(&deq[i], &back, 4);
  }
  run_graph(", \"quantization\": {\"dtype\": \"float16\"}", hf, sizeof hf, deq, 1e-5f);
}

/* ---- hostile model.json files ---- */

static void expect_fail(const char *json, const char *needle) {
  ledge_model *m;
  ledge_status st = load_json(json, &m);
  CHECK(st != LEDGE_OK);
  CHECK(m == NULL);
  if (needle && !strstr(ledge_last_error(), needle)) {
    fprintf(stderr, "expected '%s' in: %s\n", needle, ledge_last_error());
    CHECK(0);
  }
  ledge_model_destroy(m);
}

static void test_hostile(void) {
  char json[4096];
  snprintf(json, sizeof json, graph_json_fmt, "w.bin", "");
  /* every truncation of a valid file */
  size_t len = strlen(json);
  for (size_t cut = 1; cut < len; cut += 7) {
    char t[4096];
    memcpy(t, json, cut);
    t[cut] = 0;
    expect_fail(t, NULL);
  }
  /* bytes flipped one at a time: loads or fails, never crashes */
  for (size_t i = 0; i < len; i += 3) {
    char t[4096];
    memcpy(t, json, len + 1);
    t[i] ^= 0x5A;
    ledge_model *m = NULL;
    if (load_json(t, &m) == LEDGE_OK) ledge_model_destroy(m);
  }
  /* missing shard */
  snprintf(json, sizeof json, graph_json_fmt, "nope.bin", "");
  expect_fail(json, "nope.bin");
  /* shard path leaving the folder */
  snprintf(json, sizeof json, graph_json_fmt, "../w.bin", "");
  expect_fail(json, "leaves the model's folder");
  /* a shard shorter than the manifest says */
  write_file("short.bin", filt, 10);
  snprintf(json, sizeof json, graph_json_fmt, "short.bin", "");
  expect_fail(json, "shards hold");
  /* a lying shape */
  expect_fail("{\"modelTopology\": {\"node\": []}, \"weightsManifest\": [{\"paths\": [\"w.bin\"], \"weights\": "
              "[{\"name\": \"a\", \"shape\": [100000000000, 100000000], \"dtype\": \"float32\"}]}]}", NULL);
  expect_fail("{\"modelTopology\": {\"node\": []}, \"weightsManifest\": [{\"paths\": [\"w.bin\"], \"weights\": "
              "[{\"name\": \"a\", \"shape\": [-1], \"dtype\": \"float32\"}]}]}", "bad dimension");
  expect_fail("{\"modelTopology\": {\"node\": []}, \"weightsManifest\": [{\"paths\": [\"w.bin\"], \"weights\": "
              "[{\"name\": \"a\", \"shape\": [1], \"dtype\": \"complex64\"}]}]}", "complex64");
  /* unknown op, control flow, a cycle, a dangling input */
  expect_fail("{\"modelTopology\": {\"node\": [{\"name\": \"x\", \"op\": \"Placeholder\"},"
              "{\"name\": \"y\", \"op\": \"FrobnicateV2\", \"input\": [\"x\"]}]}}", "FrobnicateV2");
  expect_fail("{\"modelTopology\": {\"node\": [{\"name\": \"x\", \"op\": \"Placeholder\"},"
              "{\"name\": \"e\", \"op\": \"Enter\", \"input\": [\"x\"]}, {\"name\": \"y\", \"op\": \"Relu\", \"input\": [\"e\"]}]}}",
              "Enter");
  expect_fail("{\"modelTopology\": {\"node\": [{\"name\": \"a\", \"op\": \"Relu\", \"input\": [\"b\"]},"
              "{\"name\": \"b\", \"op\": \"Relu\", \"input\": [\"a\"]}, {\"name\": \"c\", \"op\": \"Relu\", \"input\": [\"a\"]}]}}",
              NULL);
  expect_fail("{\"modelTopology\": {\"node\": [{\"name\": \"a\", \"op\": \"Relu\", \"input\": [\"ghost\"]}]}}", "ghost");
  expect_fail("{\"modelTopology\": {\"node\": [{\"name\": \"a\", \"op\": \"Relu\", \"input\": [1]}]}}", NULL);
  expect_fail("{\"modelTopology\": {\"node\": [{\"name\": \"x\", \"op\": \"Placeholder\"},"
              "{\"name\": \"x\", \"op\": \"Relu\", \"input\": [\"x\"]}]}}", "twice");
  expect_fail("{\"modelTopology\": {\"node\": [{\"name\": \"c\", \"op\": \"Const\"}]}}", NULL);
  expect_fail("{\"modelTopology\": {}}", "neither");
  expect_fail("{}", "modelTopology");
  expect_fail("{\"format\": \"tfjs-weird\", \"modelTopology\": {\"node\": []}}", "tfjs-weird");
  /* layers models */
  expect_fail("{\"modelTopology\": {\"model_config\": {\"class_name\": \"Model\", \"config\": {\"layers\": ["
              "{\"class_name\": \"InputLayer\", \"name\": \"in\", \"config\": {\"batch_input_shape\": [null, 4, 4, 3]}},"
              "{\"class_name\": \"Conv3D\", \"name\": \"c\", \"config\": {}, \"inbound_nodes\": [[[\"in\", 0, 0, {}]]]}],"
              "\"output_layers\": [[\"c\", 0, 0]]}}}}", "Conv3D");
  expect_fail("{\"modelTopology\": {\"model_config\": {\"class_name\": \"Model\", \"config\": {\"layers\": ["
              "{\"class_name\": \"InputLayer\", \"name\": \"in\", \"config\": {\"batch_input_shape\": [null, 4, 4, 3]}},"
              "{\"class_name\": \"Conv2D\", \"name\": \"c\", \"config\": {\"kernel_size\": [3, 3]}, \"inbound_nodes\": [[[\"in\", 0, 0, {}]]]}],"
              "\"output_layers\": [[\"c\", 0, 0]]}}}}", "is missing");
}

/* A Sequential layers model: Dense(2) + softmax, weights inline in a shard. */
static void test_layers_model(void) {
  float w[3 * 2 + 2] = {1, -1, 0.5f, 2, -1, 0, 0.1f, -0.2f};
  write_file("d.bin", w, sizeof w);
  const char *json =
      "{\"format\": \"layers-model\", \"modelTopology\": {\"model_config\": {\"class_name\": \"Sequential\","
      "\"config\": {\"name\": \"s\", \"layers\": [{\"class_name\": \"Dense\", \"config\": {\"name\": \"d\","
      "\"units\": 2, \"activation\": \"softmax\", \"use_bias\": true, \"batch_input_shape\": [null, 3]}}]}}},"
      "\"weightsManifest\": [{\"paths\": [\"d.bin\"], \"weights\": [{\"name\": \"d/kernel\", \"shape\": [3, 2],"
      "\"dtype\": \"float32\"}, {\"name\": \"d/bias\", \"shape\": [2], \"dtype\": \"float32\"}]}]}";
  ledge_model *m;
  CHECK(load_json(json, &m) == LEDGE_OK);
  if (!m) {
    fprintf(stderr, "%s\n", ledge_last_error());
    return;
  }
  ledge_session *s;
  CHECK(ledge_session_create(m, NULL, &s) == LEDGE_OK);
  float xin[3] = {1, 2, 3};
  int64_t dims[2] = {1, 3};
  ledge_tensor *x;
  CHECK(ledge_tensor_wrap(LEDGE_FLOAT32, 2, dims, xin, sizeof xin, &x) == LEDGE_OK);
  CHECK(ledge_session_run(s, &x, 1, NULL, 0) == LEDGE_OK);
  const ledge_tensor *y;
  CHECK(ledge_session_output(s, 0, &y) == LEDGE_OK);
  double z0 = 1 * 1 + 2 * 0.5 + 3 * -1 + 0.1, z1 = 1 * -1 + 2 * 2 + 3 * 0 - 0.2;
  double p0 = 1 / (1 + exp(z1 - z0));
  const float *got = ledge_tensor_data(y);
  CHECK_NEAR(got[0], p0, 1e-6);
  CHECK_NEAR(got[1], 1 - p0, 1e-6);
  ledge_model_source src;
  CHECK(ledge_model_source_get(m, &src) == LEDGE_OK && !strcmp(src.format, "tfjs"));
  ledge_tensor_destroy(x);
  ledge_session_destroy(s);
  ledge_model_destroy(m);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/ledge-tfjs-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  test_json();
  test_graph_model();
  test_layers_model();
  test_hostile();
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return harness_finish("test_tfjs");
}
