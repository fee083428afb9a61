/*
 * gemm_bench.c: ledge's GEMM and convolution throughput on the shapes of
 * resnet50, beside OpenBLAS sgemm (Debian libopenblas-dev, linked here only)
 * and the measured FMA peak.
 *
 * ledge is driven through its public API: every case is a one-node ONNX
 * model built in memory (Conv with the weights as an initializer, so they
 * are pre-packed at session creation exactly as in a network; NCHW, batch
 * 1). The GEMM it amounts to is M = output channels, N = output pixels,
 * K = input channels x kernel area; OpenBLAS gets that GEMM on the same
 * data (no im2col, which flatters OpenBLAS for 3x3). The two are
 * interleaved in rounds and the median round is reported.
 *
 * Usage: gemm_bench [--threads N] [--reps R] [--rounds P] [--peak GFLOPS] [--json]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledge/ledge.h"

#ifdef LEDGE_BENCH_OPENBLAS
#include <cblas.h>
void openblas_set_num_threads(int num_threads);
#endif

/* ---- a minimal protobuf writer, enough for a one-node ONNX model ---- */

typedef struct {
  uint8_t *p;
  size_t n, cap;
} buf;

static void put(buf *b, const void *data, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 64;
    b->p = realloc(b->p, b->cap);
  }
  memcpy(b->p + b->n, data, n);
  b->n += n;
}
static void varint(buf *b, uint64_t v) {
  uint8_t t[10];
  int n = 0;
  do {
    t[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v);
  put(b, t, (size_t)n);
}
static void field_varint(buf *b, int field, uint64_t v) {
  varint(b, (uint64_t)field << 3);
  varint(b, v);
}
static void field_bytes(buf *b, int field, const void *data, size_t n) {
  varint(b, (uint64_t)field << 3 | 2);
  varint(b, n);
  put(b, data, n);
}
static void field_str(buf *b, int field, const char *s) { field_bytes(b, field, s, strlen(s)); }
static void field_msg(buf *b, int field, buf *m) {
  field_bytes(b, field, m->p, m->n);
  free(m->p);
  *m = (buf){0};
}

/* ValueInfoProto for a float tensor. */
static void value_info(buf *g, int field, const char *name, int rank, const int64_t *dims) {
  buf shape = {0}, tt = {0}, type = {0}, vi = {0};
  for (int i = 0; i < rank; i++) {
    buf dim = {0};
    field_varint(&dim, 1, (uint64_t)dims[i]);
    field_msg(&shape, 1, &dim);
  }
  field_varint(&tt, 1, 1); /* FLOAT */
  field_msg(&tt, 2, &shape);
  field_msg(&type, 1, &tt);
  field_str(&vi, 1, name);
  field_msg(&vi, 2, &type);
  field_msg(g, field, &vi);
}

static void initializer(buf *g, const char *name, int rank, const int64_t *dims, const float *data, size_t n) {
  buf t = {0};
  for (int i = 0; i < rank; i++) field_varint(&t, 1, (uint64_t)dims[i]);
  field_varint(&t, 2, 1);
  field_str(&t, 8, name);
  field_bytes(&t, 9, data, n * sizeof(float));
  field_msg(g, 5, &t);
}

static void attr_ints(buf *node, const char *name, int n, const int64_t *v) {
  buf a = {0};
  field_str(&a, 1, name);
  for (int i = 0; i < n; i++) field_varint(&a, 8, (uint64_t)v[i]);
  field_varint(&a, 20, 7); /* INTS */
  field_msg(node, 5, &a);
}

/* Conv(x [1,cin,h,w], w [cout,cin,k,k]) with pads k/2, stride 1. */
static buf conv_model(int cin, int cout, int h, int w, int k, const float *weights) {
  buf g = {0}, node = {0}, opset = {0}, model = {0};
  field_str(&node, 1, "x");
  field_str(&node, 1, "w");
  field_str(&node, 2, "y");
  field_str(&node, 4, "Conv");
  int64_t ks[2] = {k, k}, pads[4] = {k / 2, k / 2, k / 2, k / 2};
  attr_ints(&node, "kernel_shape", 2, ks);
  attr_ints(&node, "pads", 4, pads);
  field_msg(&g, 1, &node);
  field_str(&g, 2, "gemm_bench");
  int64_t wd[4] = {cout, cin, k, k}, xd[4] = {1, cin, h, w}, yd[4] = {1, cout, h, w};
  initializer(&g, "w", 4, wd, weights, (size_t)cout * cin * k * k);
  value_info(&g, 11, "x", 4, xd);
  value_info(&g, 12, "y", 4, yd);
  field_varint(&model, 1, 8); /* ir_version */
  field_str(&opset, 1, "");
  field_varint(&opset, 2, 13);
  field_msg(&model, 8, &opset);
  field_msg(&model, 7, &g);
  return model;
}

/* ---- timing ---- */

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int by_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static float frand(uint32_t *s) {
  *s = *s * 1664525u + 1013904223u;
  return (float)(*s >> 8) / 16777216.0f - 0.5f;
}

typedef struct {
  const char *name;
  int cin, cout, hw, k;
} shape;

int main(int argc, char **argv) {
  int threads = 1, reps = 10, rounds = 5, json = 0;
  double peak = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--peak") && i + 1 < argc) peak = atof(argv[++i]);
    else if (!strcmp(argv[i], "--json")) json = 1;
    else {
      fprintf(stderr, "usage: gemm_bench [--threads N] [--reps R] [--rounds P] [--peak GFLOPS] [--json]\n"
                      "GFLOP/s of ledge's convolutions (resnet50 shapes) and of OpenBLAS sgemm on the\n"
                      "equivalent GEMM; --peak (per core) adds the fraction of the FMA peak.\n");
      return strcmp(argv[i], "--help") ? 2 : 0;
    }
  }
  if (threads < 1) threads = 1;
  if (reps < 1) reps = 1;
  if (rounds < 1) rounds = 1;
  if (rounds > 100) rounds = 100;
  /* resnet50's large layers: 1x1 reduce/expand and 3x3 of each stage. */
  static const shape shapes[] = {
      {"s1 1x1 64->256", 64, 256, 56, 1},    {"s1 1x1 256->64", 256, 64, 56, 1},
      {"s1 3x3 64->64", 64, 64, 56, 3},      {"s2 1x1 512->128", 512, 128, 28, 1},
      {"s2 3x3 128->128", 128, 128, 28, 3},  {"s3 1x1 256->1024", 256, 1024, 14, 1},
      {"s3 1x1 1024->256", 1024, 256, 14, 1}, {"s3 3x3 256->256", 256, 256, 14, 3},
      {"s4 1x1 2048->512", 2048, 512, 7, 1}, {"s4 3x3 512->512", 512, 512, 7, 3},
  };
  int n_shapes = (int)(sizeof shapes / sizeof *shapes);
#ifdef LEDGE_BENCH_OPENBLAS
  openblas_set_num_threads(threads);
  const int have_blas = 1;
#else
  const int have_blas = 0;
#endif
  if (json) printf("{\"threads\": %d, \"peak_gflops_per_core\": %.2f, \"cases\": [", threads, peak);
  else
    printf("%-20s %6s %6s %6s %12s %9s %14s %9s\n", "layer (resnet50)", "M", "N", "K", "ledge GFLOP/s",
           "% peak", "OpenBLAS GF/s", "% peak");
  int rc = 0;
  for (int si = 0; si < n_shapes && !rc; si++) {
    const shape *sh = &shapes[si];
    int64_t m = sh->cout, n = (int64_t)sh->hw * sh->hw, k = (int64_t)sh->cin * sh->k * sh->k;
    double flops = 2.0 * (double)m * (double)n * (double)k;
    uint32_t seed = 1;
    float *wts = malloc(sizeof(float) * (size_t)(m * k));
    float *x = malloc(sizeof(float) * (size_t)(k * n)); /* also the GEMM's B */
    float *c = malloc(sizeof(float) * (size_t)(m * n));
    for (int64_t i = 0; i < m * k; i++) wts[i] = frand(&seed);
    for (int64_t i = 0; i < k * n; i++) x[i] = frand(&seed);
    buf model_bytes = conv_model(sh->cin, sh->cout, sh->hw, sh->hw, sh->k, wts);
    ledge_model *model = NULL;
    ledge_session *s = NULL;
    ledge_tensor *in = NULL;
    ledge_session_options opt;
    ledge_session_options_init(&opt);
    opt.num_threads = threads;
    int64_t xd[4] = {1, sh->cin, sh->hw, sh->hw};
    if (ledge_model_load_memory(model_bytes.p, model_bytes.n, &model) != LEDGE_OK ||
        ledge_session_create(model, &opt, &s) != LEDGE_OK ||
        ledge_tensor_create(LEDGE_FLOAT32, 4, xd, &in) != LEDGE_OK) {
      fprintf(stderr, "gemm_bench: %s: %s\n", sh->name, ledge_last_error());
      rc = 1;
    } else {
      memcpy(ledge_tensor_data(in), x, sizeof(float) * (size_t)(sh->cin * sh->hw * sh->hw));
      double tl[100], tb[100];
      for (int w = 0; w < 2; w++) ledge_session_run(s, &in, 1, NULL, 0);
#ifdef LEDGE_BENCH_OPENBLAS
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, wts, (int)k, x, (int)n,
                  0.0f, c, (int)n);
#endif
      for (int r = 0; r < rounds; r++) {
        double t0 = now_s();
        for (int i = 0; i < reps; i++) ledge_session_run(s, &in, 1, NULL, 0);
        tl[r] = (now_s() - t0) / reps;
        tb[r] = 0;
#ifdef LEDGE_BENCH_OPENBLAS
        t0 = now_s();
        for (int i = 0; i < reps; i++)
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, wts, (int)k, x,
                      (int)n, 0.0f, c, (int)n);
        tb[r] = (now_s() - t0) / reps;
#endif
      }
      qsort(tl, (size_t)rounds, sizeof(double), by_double);
      qsort(tb, (size_t)rounds, sizeof(double), by_double);
      double gl = flops / tl[rounds / 2] / 1e9, gb = have_blas ? flops / tb[rounds / 2] / 1e9 : 0;
      double full = peak > 0 ? peak * threads : 0;
      if (json)
        printf("%s{\"layer\": \"%s\", \"m\": %lld, \"n\": %lld, \"k\": %lld, \"ledge_gflops\": %.2f, "
               "\"ledge_peak_fraction\": %.3f, \"openblas_gflops\": %.2f, \"openblas_peak_fraction\": %.3f}",
               si ? ", " : "", sh->name, (long long)m, (long long)n, (long long)k, gl, full ? gl / full : 0, gb,
               full && have_blas ? gb / full : 0);
      else {
        printf("%-20s %6lld %6lld %6lld %12.1f %8.0f%% ", sh->name, (long long)m, (long long)n, (long long)k, gl,
               full ? 100 * gl / full : 0);
        if (have_blas)
          printf("%14.1f %8.0f%%\n", gb, full ? 100 * gb / full : 0);
        else
          printf("%14s\n", "(no OpenBLAS)");
      }
    }
    ledge_tensor_destroy(in);
    ledge_session_destroy(s);
    ledge_model_destroy(model);
    free(model_bytes.p);
    free(wts);
    free(x);
    free(c);
  }
  if (json) printf("], \"openblas\": %s}\n", have_blas ? "true" : "false");
  return rc;
}
