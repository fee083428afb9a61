/* test_api.c: the public API's contract: handles, errors, named inputs and
 * outputs, caller-provided outputs, and a session that runs 100,000 times
 * without its resident memory growing. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "ledge/ledge.h"

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long size = 0, resident = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
    fclose(f);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void test_errors(void) {
  ledge_model *m = (ledge_model *)1;
  CHECK(ledge_model_load("/nonexistent/model.onnx", &m) == LEDGE_ERR_IO);
  CHECK(m == NULL);
  CHECK(strstr(ledge_last_error(), "/nonexistent/model.onnx") != NULL);
  CHECK(ledge_model_load(NULL, &m) == LEDGE_ERR_INVALID_ARGUMENT);
  const char junk[] = "this is not a protobuf at all";
  CHECK(ledge_model_load_memory(junk, sizeof junk, &m) == LEDGE_ERR_FORMAT);
  CHECK(strlen(ledge_last_error()) > 0);
  CHECK(strcmp(ledge_status_name(LEDGE_ERR_SHAPE), "LEDGE_ERR_SHAPE") == 0);
  CHECK(ledge_dtype_size(LEDGE_FLOAT32) == 4 && ledge_dtype_size(LEDGE_INT64) == 8);
  ledge_tensor *t;
  int64_t bad[2] = {2, -1};
  CHECK(ledge_tensor_create(LEDGE_FLOAT32, 2, bad, &t) == LEDGE_ERR_INVALID_ARGUMENT);
}

/* A convolution model from ONNX's suite: y = Conv(x, W) with pads and strides. */
static void test_session(void) {
  ledge_model *m;
  CHECK_OK(ledge_model_load(ONNX_TESTDATA "/node/test_conv_with_strides_padding/model.onnx", &m));
  if (!m) return;
  CHECK(ledge_model_input_count(m) == 2 && ledge_model_output_count(m) == 1);
  ledge_tensor_info info;
  CHECK_OK(ledge_model_input_info(m, 0, &info));
  CHECK(strcmp(info.name, "x") == 0 && info.dtype == LEDGE_FLOAT32 && info.rank == 4);
  CHECK(ledge_model_input_info(m, 5, &info) == LEDGE_ERR_INVALID_ARGUMENT);

  ledge_session_options opt;
  ledge_session_options_init(&opt);
  opt.num_threads = 2;
  ledge_session *s;
  CHECK_OK(ledge_session_create(m, &opt, &s));
  CHECK(ledge_session_input_index(s, "W") == 1 && ledge_session_input_index(s, "nope") == -1);
  CHECK(ledge_session_output_index(s, "y") == 0);
  CHECK_OK(ledge_session_output_info(s, 0, &info));
  CHECK(info.rank == 4 && info.dims[2] == 4 && info.dims[3] == 3); /* 7x5 input, stride 2, pad 1 */

  int64_t xd[4] = {1, 1, 7, 5}, wd[4] = {1, 1, 3, 3}, yd[4] = {1, 1, 4, 3};
  ledge_tensor *x, *w, *y;
  CHECK_OK(ledge_tensor_create(LEDGE_FLOAT32, 4, xd, &x));
  CHECK_OK(ledge_tensor_create(LEDGE_FLOAT32, 4, wd, &w));
  float ybuf[12];
  CHECK_OK(ledge_tensor_wrap(LEDGE_FLOAT32, 4, yd, ybuf, sizeof ybuf, &y));
  float *xp = ledge_tensor_data(x), *wp = ledge_tensor_data(w);
  for (int i = 0; i < 35; i++) xp[i] = (float)i;
  for (int i = 0; i < 9; i++) wp[i] = 1.0f;
  ledge_tensor *inputs[2] = {x, w}, *outputs[1] = {y};
  CHECK_OK(ledge_session_run(s, inputs, 2, outputs, 1));
  /* The suite's expected values for this case. */
  static const float want[12] = {12, 27, 24, 63, 108, 81, 123, 198, 141, 112, 177, 124};
  int bad_values = 0;
  for (int i = 0; i < 12; i++) bad_values += fabsf(ybuf[i] - want[i]) > 1e-4f;
  CHECK(bad_values == 0);
  const ledge_tensor *out;
  CHECK_OK(ledge_session_output(s, 0, &out));
  CHECK(memcmp(ledge_tensor_data(out), ybuf, sizeof ybuf) == 0);

  /* Wrong input dtype and count give errors, not crashes. */
  ledge_tensor *wrong;
  CHECK_OK(ledge_tensor_create(LEDGE_INT64, 4, xd, &wrong));
  ledge_tensor *bad_inputs[2] = {wrong, w};
  CHECK(ledge_session_run(s, bad_inputs, 2, NULL, 0) == LEDGE_ERR_INVALID_ARGUMENT);
  CHECK(ledge_session_run(s, inputs, 1, NULL, 0) == LEDGE_ERR_INVALID_ARGUMENT);
  ledge_tensor_destroy(wrong);

  /* 100,000 runs: resident memory must not grow (no allocation per run). */
  /* Warm up first: the first runs fault in code, stacks and stdio buffers. */
  for (int i = 0; i < 10000; i++) ledge_session_run(s, inputs, 2, outputs, 1);
  rss_kb();
  for (int i = 0; i < 10000; i++) ledge_session_run(s, inputs, 2, outputs, 1);
  long before = rss_kb();
  ledge_status st = LEDGE_OK;
  for (int i = 0; i < 100000 && st == LEDGE_OK; i++) st = ledge_session_run(s, inputs, 2, outputs, 1);
  long after = rss_kb();
  CHECK(st == LEDGE_OK);
  printf("RSS before %ld kB, after 100000 runs %ld kB\n", before, after);
  CHECK(after - before <= 64); /* a leak of one byte per run would show 98 kB */

  ledge_tensor_destroy(x);
  ledge_tensor_destroy(w);
  ledge_tensor_destroy(y);
  ledge_session_destroy(s);
  ledge_model_destroy(m);
}

static void test_profile(void) {
  ledge_model *m;
  CHECK_OK(ledge_model_load(ONNX_TESTDATA "/node/test_conv_with_strides_padding/model.onnx", &m));
  if (!m) return;
  ledge_session_options opt;
  ledge_session_options_init(&opt);
  opt.profile = 1;
  ledge_session *s;
  CHECK_OK(ledge_session_create(m, &opt, &s));
  int64_t xd[4] = {1, 1, 7, 5}, wd[4] = {1, 1, 3, 3};
  ledge_tensor *x, *w;
  CHECK_OK(ledge_tensor_create(LEDGE_FLOAT32, 4, xd, &x));
  CHECK_OK(ledge_tensor_create(LEDGE_FLOAT32, 4, wd, &w));
  ledge_tensor *inputs[2] = {x, w};
  for (int i = 0; i < 3; i++) CHECK_OK(ledge_session_run(s, inputs, 2, NULL, 0));
  CHECK(ledge_session_profile_count(s) == 1);
  ledge_node_profile p;
  CHECK_OK(ledge_session_profile_get(s, 0, &p));
  CHECK(!strcmp(p.op_type, "Conv") && p.runs == 3 && p.total_ms >= 0 && p.macs == 4 * 3 * 9);
  ledge_session_profile_reset(s);
  CHECK_OK(ledge_session_profile_get(s, 0, &p));
  CHECK(p.runs == 0 && p.total_ms == 0);
  CHECK(ledge_session_profile_get(s, 1, &p) == LEDGE_ERR_INVALID_ARGUMENT);
  ledge_tensor_destroy(x);
  ledge_tensor_destroy(w);
  ledge_session_destroy(s);
  ledge_model_destroy(m);
}

int main(void) {
  test_errors();
  test_profile();
  test_session();
  return harness_finish("test_api");
}
