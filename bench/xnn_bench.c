/*
 * xnn_bench.c: the second peer, XNNPACK (the CPU engine inside TensorFlow
 * Lite; Debian libxnnpack-dev, linked here only, never into libledge),
 * driven through its subgraph API. It builds resnet50 or mobilenet_v2 by
 * architecture (torchvision's, batch norm folded into the convolutions as
 * every inference engine does, so conv + bias + fused ReLU/ReLU6), with
 * random weights, NHWC, batch 1, 224x224, and speaks the protocol of
 * bench/ledge_driver.c so that bench/bench.py interleaves it with ledge and
 * ONNX Runtime run by run:
 *
 *   start:  xnn_bench resnet50|mobilenet_v2 --threads N
 *   prints: {"ready": true, "startup_ms": .., "macs": ..}
 *   stdin:  "run K" -> {"times_ms": [..]};  "quit" -> {"peak_rss_kb": ..}
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <pthreadpool.h>
#include <xnnpack.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

/* ---- building the subgraph ---- */

typedef struct {
  xnn_subgraph_t g;
  void **blobs; /* static weights: must outlive the runtime */
  int n_blobs, cap_blobs;
  uint32_t seed;
  long long macs;
  int failed;
} net;

typedef struct {
  uint32_t id;
  size_t h, w, c;
} val;

static float frand(net *n) {
  n->seed = n->seed * 1664525u + 1013904223u;
  return (float)(n->seed >> 8) / 16777216.0f * 2 - 1; /* [-1, 1) */
}

static float *blob(net *n, size_t count, float scale) {
  float *p = malloc(sizeof(float) * count);
  for (size_t i = 0; i < count; i++) p[i] = frand(n) * scale;
  if (n->n_blobs == n->cap_blobs) {
    n->cap_blobs = n->cap_blobs * 2 + 64;
    n->blobs = realloc(n->blobs, sizeof(void *) * (size_t)n->cap_blobs);
  }
  n->blobs[n->n_blobs++] = p;
  return p;
}

static void check(net *n, enum xnn_status st, const char *what) {
  if (st != xnn_status_success && !n->failed) {
    fprintf(stderr, "xnn_bench: %s failed (status %d)\n", what, (int)st);
    n->failed = 1;
  }
}

static uint32_t tensor(net *n, size_t rank, const size_t *dims, const void *data, uint32_t ext, uint32_t flags) {
  uint32_t id = XNN_INVALID_VALUE_ID;
  check(n, xnn_define_tensor_value(n->g, xnn_datatype_fp32, rank, dims, data, ext, flags, &id), "tensor");
  return id;
}

static val activation(net *n, size_t h, size_t w, size_t c) {
  size_t dims[4] = {1, h, w, c};
  return (val){tensor(n, 4, dims, NULL, XNN_INVALID_VALUE_ID, 0), h, w, c};
}

/* Convolution k x k, stride s, padding k/2 (or pad), groups 1, with bias and
 * an output clamp [lo, hi]. */
static val conv(net *n, val x, size_t out_c, int k, int s, float lo, float hi) {
  int pad = k / 2;
  size_t oh = (x.h + 2 * (size_t)pad - (size_t)k) / (size_t)s + 1, ow = (x.w + 2 * (size_t)pad - (size_t)k) / (size_t)s + 1;
  size_t wd[4] = {out_c, (size_t)k, (size_t)k, x.c}, bd[1] = {out_c};
  float scale = sqrtf(3.0f / (float)(x.c * (size_t)k * (size_t)k));
  uint32_t w = tensor(n, 4, wd, blob(n, out_c * (size_t)k * (size_t)k * x.c, scale), XNN_INVALID_VALUE_ID, 0);
  uint32_t b = tensor(n, 1, bd, blob(n, out_c, 0.1f), XNN_INVALID_VALUE_ID, 0);
  val y = activation(n, oh, ow, out_c);
  check(n,
        xnn_define_convolution_2d(n->g, (uint32_t)pad, (uint32_t)pad, (uint32_t)pad, (uint32_t)pad, (uint32_t)k,
                                  (uint32_t)k, (uint32_t)s, (uint32_t)s, 1, 1, 1, x.c, out_c, lo, hi, x.id, w, b,
                                  y.id, 0),
        "convolution");
  n->macs += (long long)(oh * ow * out_c * x.c * (size_t)k * (size_t)k);
  return y;
}

static val depthwise(net *n, val x, int k, int s, float lo, float hi) {
  int pad = k / 2;
  size_t oh = (x.h + 2 * (size_t)pad - (size_t)k) / (size_t)s + 1, ow = (x.w + 2 * (size_t)pad - (size_t)k) / (size_t)s + 1;
  size_t wd[4] = {1, (size_t)k, (size_t)k, x.c}, bd[1] = {x.c};
  uint32_t w = tensor(n, 4, wd, blob(n, (size_t)k * (size_t)k * x.c, sqrtf(3.0f / (float)(k * k))),
                      XNN_INVALID_VALUE_ID, 0);
  uint32_t b = tensor(n, 1, bd, blob(n, x.c, 0.1f), XNN_INVALID_VALUE_ID, 0);
  val y = activation(n, oh, ow, x.c);
  check(n,
        xnn_define_depthwise_convolution_2d(n->g, (uint32_t)pad, (uint32_t)pad, (uint32_t)pad, (uint32_t)pad,
                                            (uint32_t)k, (uint32_t)k, (uint32_t)s, (uint32_t)s, 1, 1, 1, x.c, lo, hi,
                                            x.id, w, b, y.id, 0),
        "depthwise convolution");
  n->macs += (long long)(oh * ow * x.c * (size_t)k * (size_t)k);
  return y;
}

static val add(net *n, val a, val b, float lo, float hi) {
  val y = activation(n, a.h, a.w, a.c);
  check(n, xnn_define_add2(n->g, lo, hi, a.id, b.id, y.id, 0), "add");
  return y;
}

/* Global average pool + fully connected 1000 into the external output 1. */
static void head(net *n, val x) {
  size_t pd[4] = {1, 1, 1, x.c};
  uint32_t pooled = tensor(n, 4, pd, NULL, XNN_INVALID_VALUE_ID, 0);
  check(n, xnn_define_global_average_pooling_2d(n->g, -INFINITY, INFINITY, x.id, pooled, 0), "global pool");
  size_t wd[2] = {1000, x.c}, bd[1] = {1000}, od[2] = {1, 1000};
  uint32_t w = tensor(n, 2, wd, blob(n, 1000 * x.c, sqrtf(3.0f / (float)x.c)), XNN_INVALID_VALUE_ID, 0);
  uint32_t b = tensor(n, 1, bd, blob(n, 1000, 0.1f), XNN_INVALID_VALUE_ID, 0);
  uint32_t out = tensor(n, 2, od, NULL, 1, XNN_VALUE_FLAG_EXTERNAL_OUTPUT);
  check(n, xnn_define_fully_connected(n->g, -INFINITY, INFINITY, pooled, w, b, out, 0), "fully connected");
  n->macs += (long long)(1000 * x.c);
}

static val input(net *n) {
  size_t dims[4] = {1, 224, 224, 3};
  return (val){tensor(n, 4, dims, NULL, 0, XNN_VALUE_FLAG_EXTERNAL_INPUT), 224, 224, 3};
}

static void build_resnet50(net *n) {
  val x = conv(n, input(n), 64, 7, 2, 0, INFINITY);
  size_t ph = (x.h + 2 - 3) / 2 + 1, pw = (x.w + 2 - 3) / 2 + 1;
  val p = activation(n, ph, pw, x.c);
  check(n, xnn_define_max_pooling_2d(n->g, 1, 1, 1, 1, 3, 3, 2, 2, 1, 1, -INFINITY, INFINITY, x.id, p.id, 0),
        "max pool");
  x = p;
  static const int blocks[4] = {3, 4, 6, 3}, widths[4] = {64, 128, 256, 512};
  for (int stage = 0; stage < 4; stage++)
    for (int b = 0; b < blocks[stage]; b++) {
      int s = (b == 0 && stage > 0) ? 2 : 1;
      size_t w = (size_t)widths[stage], out = 4 * w;
      val y = conv(n, x, w, 1, 1, 0, INFINITY);
      y = conv(n, y, w, 3, s, 0, INFINITY);
      y = conv(n, y, out, 1, 1, -INFINITY, INFINITY);
      val shortcut = (s != 1 || x.c != out) ? conv(n, x, out, 1, s, -INFINITY, INFINITY) : x;
      x = add(n, y, shortcut, 0, INFINITY);
    }
  head(n, x);
}

static void build_mobilenet_v2(net *n) {
  val x = conv(n, input(n), 32, 3, 2, 0, 6);
  static const int cfg[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  for (int i = 0; i < 7; i++)
    for (int r = 0; r < cfg[i][2]; r++) {
      int s = r == 0 ? cfg[i][3] : 1;
      size_t out = (size_t)cfg[i][1];
      val y = x;
      if (cfg[i][0] != 1) y = conv(n, y, x.c * (size_t)cfg[i][0], 1, 1, 0, 6);
      y = depthwise(n, y, 3, s, 0, 6);
      y = conv(n, y, out, 1, 1, -INFINITY, INFINITY);
      x = (s == 1 && x.c == out) ? add(n, y, x, -INFINITY, INFINITY) : y;
    }
  x = conv(n, x, 1280, 1, 1, 0, 6);
  head(n, x);
}

int main(int argc, char **argv) {
  const char *arch = NULL;
  int threads = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
    else if (argv[i][0] != '-' && !arch) arch = argv[i];
    else {
      fprintf(stderr, "usage: xnn_bench resnet50|mobilenet_v2 [--threads N]   (stdin: run K, quit)\n");
      return strcmp(argv[i], "--help") ? 2 : 0;
    }
  }
  if (!arch || (strcmp(arch, "resnet50") && strcmp(arch, "mobilenet_v2"))) {
    printf("{\"error\": \"xnn_bench knows resnet50 and mobilenet_v2\"}\n");
    return 2;
  }
  double t0 = now_ms();
  if (xnn_initialize(NULL) != xnn_status_success) {
    printf("{\"error\": \"xnn_initialize failed\"}\n");
    return 1;
  }
  net n = {0};
  n.seed = 42;
  if (xnn_create_subgraph(2, 0, &n.g) != xnn_status_success) {
    printf("{\"error\": \"xnn_create_subgraph failed\"}\n");
    return 1;
  }
  if (!strcmp(arch, "resnet50"))
    build_resnet50(&n);
  else
    build_mobilenet_v2(&n);
  pthreadpool_t pool = threads > 1 ? pthreadpool_create((size_t)threads) : NULL;
  xnn_runtime_t rt = NULL;
  if (!n.failed) check(&n, xnn_create_runtime_v2(n.g, pool, 0, &rt), "create runtime");
  float *in = malloc(sizeof(float) * 224 * 224 * 3), *out = malloc(sizeof(float) * 1000);
  for (int i = 0; i < 224 * 224 * 3; i++) in[i] = frand(&n);
  struct xnn_external_value ext[2] = {{0, in}, {1, out}};
  if (!n.failed) check(&n, xnn_setup_runtime(rt, 2, ext), "setup runtime");
  double t1 = now_ms();
  if (!n.failed) check(&n, xnn_invoke_runtime(rt), "invoke");
  if (!n.failed) check(&n, xnn_invoke_runtime(rt), "invoke");
  if (n.failed) {
    printf("{\"error\": \"building the %s subgraph failed\"}\n", arch);
    return 1;
  }
  printf("{\"ready\": true, \"startup_ms\": %.3f, \"macs\": %lld, \"threads\": %d}\n", t1 - t0, n.macs, threads);
  fflush(stdout);
  char line[256];
  double *times = NULL;
  while (fgets(line, sizeof line, stdin)) {
    int k;
    if (sscanf(line, "run %d", &k) == 1 && k > 0 && k <= 100000) {
      times = realloc(times, sizeof *times * (size_t)k);
      for (int r = 0; r < k; r++) {
        double a = now_ms();
        xnn_invoke_runtime(rt);
        times[r] = now_ms() - a;
      }
      printf("{\"times_ms\": [");
      for (int r = 0; r < k; r++) printf("%s%.4f", r ? ", " : "", times[r]);
      printf("]}\n");
      fflush(stdout);
    } else if (!strncmp(line, "quit", 4)) {
      break;
    }
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("{\"peak_rss_kb\": %ld}\n", ru.ru_maxrss);
  fflush(stdout);
  free(times);
  xnn_delete_runtime(rt);
  xnn_delete_subgraph(n.g);
  if (pool) pthreadpool_destroy(pool);
  for (int i = 0; i < n.n_blobs; i++) free(n.blobs[i]);
  free(n.blobs);
  free(in);
  free(out);
  xnn_deinitialize();
  return 0;
}
