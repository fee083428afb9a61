/*
 * test_ops_nn.c: hand-computed cases for the neural-network operators
 * (conv, pool, norm, matmul, softmax), calling infer and run directly.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op.h"

static int failures = 0;

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                  \
      printf(__VA_ARGS__);                                                                         \
      printf("\n");                                                                                \
      failures++;                                                                                  \
    }                                                                                              \
  } while (0)

/* ---- Building nodes and tensors by hand ---- */

typedef struct test_node {
  lg_node node;
  lg_attr attrs[8];
} test_node;

static void node_init(test_node *t, const char *op_type, int opset, int n_in, int n_out) {
  memset(t, 0, sizeof *t);
  t->node.op_type = op_type;
  t->node.name = "test";
  t->node.domain = "";
  t->node.opset = opset;
  t->node.n_in = n_in;
  t->node.n_out = n_out;
  t->node.attrs = t->attrs;
}

static void attr_int(test_node *t, const char *name, int64_t v) {
  lg_attr *a = &t->attrs[t->node.n_attrs++];
  a->name = name;
  a->type = LG_ATTR_INT;
  a->i = v;
}

static void attr_float(test_node *t, const char *name, float v) {
  lg_attr *a = &t->attrs[t->node.n_attrs++];
  a->name = name;
  a->type = LG_ATTR_FLOAT;
  a->f = v;
}

static void attr_string(test_node *t, const char *name, const char *s) {
  lg_attr *a = &t->attrs[t->node.n_attrs++];
  a->name = name;
  a->type = LG_ATTR_STRING;
  a->s = s;
}

static void attr_ints(test_node *t, const char *name, int n, int64_t *v) {
  lg_attr *a = &t->attrs[t->node.n_attrs++];
  a->name = name;
  a->type = LG_ATTR_INTS;
  a->n = n;
  a->ints = v;
}

static lg_tensor tensor(int rank, const int64_t *dims, float *data) {
  lg_tensor t;
  memset(&t, 0, sizeof t);
  t.dtype = LEDGE_FLOAT32;
  lg_tensor_set_shape(&t, rank, dims);
  t.data = data;
  return t;
}

/* Infers and runs the node (serially and on a 2-thread pool); outputs get
 * heap buffers. Returns the status of infer or run. */
static lg_status run_node(test_node *t, lg_tensor **in, lg_tensor **out) {
  const lg_op_def *def = lg_op_find("", t->node.op_type);
  if (!def) return lg_error(LEDGE_ERR_UNSUPPORTED, "no operator %s", t->node.op_type);
  lg_status st = def->infer(&t->node, in, out);
  if (st != LEDGE_OK) return st;
  for (int i = 0; i < t->node.n_out; i++)
    if (out[i]) out[i]->data = calloc(1, lg_tensor_bytes(out[i]) + 16);
  void *workspace = t->node.workspace ? lg_aligned_alloc(t->node.workspace) : NULL;
  lg_threadpool *pool = NULL;
  lg_threadpool_create(2, &pool);
  lg_exec exec = {pool, workspace};
  st = def->run(&t->node, in, out, &exec);
  lg_threadpool_destroy(pool);
  lg_aligned_free(workspace);
  return st;
}

static void free_outputs(lg_tensor **out, int n) {
  for (int i = 0; i < n; i++)
    if (out[i]) {
      free(out[i]->data);
      out[i]->data = NULL;
    }
}

static void expect_values(const char *what, const lg_tensor *t, const float *want, int64_t n) {
  CHECK(lg_tensor_count(t) == n, "%s: %lld values, expected %lld", what,
        (long long)lg_tensor_count(t), (long long)n);
  if (lg_tensor_count(t) != n) return;
  for (int64_t i = 0; i < n; i++) {
    float got = ((const float *)t->data)[i];
    if (!(fabsf(got - want[i]) <= 1e-4f + 1e-4f * fabsf(want[i]))) {
      CHECK(0, "%s: [%lld] = %g, expected %g", what, (long long)i, got, want[i]);
      return;
    }
  }
}

static void expect_shape(const char *what, const lg_tensor *t, int rank, const int64_t *dims) {
  char a[64], b[64];
  CHECK(lg_shape_equal(t->rank, t->dims, rank, dims), "%s: shape %s, expected %s", what,
        lg_shape_str(t->rank, t->dims, a, sizeof a), lg_shape_str(rank, dims, b, sizeof b));
}

/* ---- Conv ---- */

static void test_conv_basic(void) {
  /* 1x1x3x3 input 0..8, 2x2 kernel of ones, bias 1: sums of 2x2 windows + 1. */
  float x[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8}, w[4] = {1, 1, 1, 1}, b[1] = {1};
  int64_t xd[4] = {1, 1, 3, 3}, wd[4] = {1, 1, 2, 2}, bd[1] = {1};
  lg_tensor tx = tensor(4, xd, x), tw = tensor(4, wd, w), tb = tensor(1, bd, b), ty;
  memset(&ty, 0, sizeof ty);
  lg_tensor *in[3] = {&tx, &tw, &tb}, *out[1] = {&ty};
  test_node t;
  node_init(&t, "Conv", 13, 3, 1);
  CHECK(run_node(&t, in, out) == LEDGE_OK, "Conv: %s", ledge_last_error());
  float want[4] = {9, 13, 21, 25};
  int64_t yd[4] = {1, 1, 2, 2};
  expect_shape("Conv basic", &ty, 4, yd);
  expect_values("Conv basic", &ty, want, 4);
  CHECK(t.node.macs == 16, "Conv macs %lld", (long long)t.node.macs);
  free_outputs(out, 1);

  /* Same input with pads 1, stride 2 and a fused Relu on a negative kernel. */
  float wn[4] = {-1, 0, 0, 1};
  tw.data = wn;
  int64_t pads[4] = {1, 1, 1, 1}, strides[2] = {2, 2};
  node_init(&t, "Conv", 13, 2, 1);
  attr_ints(&t, "pads", 4, pads);
  attr_ints(&t, "strides", 2, strides);
  t.node.act.kind = LG_ACT_RELU;
  CHECK(run_node(&t, in, out) == LEDGE_OK, "Conv pads: %s", ledge_last_error());
  /* Windows at rows/cols {-1,0}, {1,2}: y = x[i+1][j+1] - x[i][j] with zeros outside. */
  float want2[4] = {0, 2, 6, 4};
  expect_values("Conv pads/strides/relu", &ty, want2, 4);
  free_outputs(out, 1);

  /* SAME_UPPER keeps the spatial size. */
  node_init(&t, "Conv", 13, 2, 1);
  attr_string(&t, "auto_pad", "SAME_UPPER");
  tw.data = w;
  CHECK(run_node(&t, in, out) == LEDGE_OK, "Conv same: %s", ledge_last_error());
  float want3[9] = {8, 12, 7, 20, 24, 13, 13, 15, 8};
  expect_values("Conv SAME_UPPER", &ty, want3, 9);
  free_outputs(out, 1);
}

static void test_conv_groups_and_errors(void) {
  /* Depthwise: 2 channels, group 2, 1x1 kernels scaling by 2 and -1. */
  float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, w[2] = {2, -1};
  int64_t xd[4] = {1, 2, 2, 2}, wd[4] = {2, 1, 1, 1};
  lg_tensor tx = tensor(4, xd, x), tw = tensor(4, wd, w), ty;
  memset(&ty, 0, sizeof ty);
  lg_tensor *in[2] = {&tx, &tw}, *out[1] = {&ty};
  test_node t;
  node_init(&t, "Conv", 13, 2, 1);
  attr_int(&t, "group", 2);
  CHECK(run_node(&t, in, out) == LEDGE_OK, "Conv group: %s", ledge_last_error());
  float want[8] = {2, 4, 6, 8, -5, -6, -7, -8};
  expect_values("Conv depthwise", &ty, want, 8);
  free_outputs(out, 1);

  /* Channel mismatch (group 1 but W has 1 input channel for 2) is an error. */
  node_init(&t, "Conv", 13, 2, 1);
  CHECK(run_node(&t, in, out) == LEDGE_ERR_SHAPE, "Conv mismatch not rejected");
  /* Kernel larger than the input is an error, not a crash. */
  int64_t big[4] = {2, 1, 5, 5};
  float wbig[50] = {0};
  lg_tensor twb = tensor(4, big, wbig);
  lg_tensor *in2[2] = {&tx, &twb};
  node_init(&t, "Conv", 13, 2, 1);
  attr_int(&t, "group", 2);
  CHECK(run_node(&t, in2, out) == LEDGE_ERR_SHAPE, "Conv oversized kernel not rejected");
  /* A zero stride is rejected. */
  int64_t zero[2] = {0, 1};
  node_init(&t, "Conv", 13, 2, 1);
  attr_int(&t, "group", 2);
  attr_ints(&t, "strides", 2, zero);
  CHECK(run_node(&t, in, out) == LEDGE_ERR_INVALID_ARGUMENT, "Conv zero stride not rejected");
}

static void test_conv_transpose(void) {
  /* 1-D: x = [1, 2], kernel [1, 1, 1], stride 2 -> length (2-1)*2 + 3 = 5. */
  float x[2] = {1, 2}, w[3] = {1, 1, 1};
  int64_t xd[3] = {1, 1, 2}, wd[3] = {1, 1, 3}, strides[1] = {2};
  lg_tensor tx = tensor(3, xd, x), tw = tensor(3, wd, w), ty;
  memset(&ty, 0, sizeof ty);
  lg_tensor *in[2] = {&tx, &tw}, *out[1] = {&ty};
  test_node t;
  node_init(&t, "ConvTranspose", 13, 2, 1);
  attr_ints(&t, "strides", 1, strides);
  CHECK(run_node(&t, in, out) == LEDGE_OK, "ConvTranspose: %s", ledge_last_error());
  float want[5] = {1, 1, 3, 2, 2};
  expect_values("ConvTranspose 1d", &ty, want, 5);
  free_outputs(out, 1);

  /* output_shape 6 adds a zero at the end (negative total padding). */
  int64_t shape[1] = {6};
  attr_ints(&t, "output_shape", 1, shape);
  CHECK(run_node(&t, in, out) == LEDGE_OK, "ConvTranspose output_shape: %s", ledge_last_error());
  float want2[6] = {1, 1, 3, 2, 2, 0};
  expect_values("ConvTranspose output_shape", &ty, want2, 6);
  free_outputs(out, 1);
}

/* ---- Pooling ---- */

static void test_pools(void) {
  float x[16];
  for (int i = 0; i < 16; i++) x[i] = (float)i;
  int64_t xd[4] = {1, 1, 4, 4}, kernel[2] = {2, 2}, strides[2] = {2, 2};
  lg_tensor tx = tensor(4, xd, x), ty, ti;
  memset(&ty, 0, sizeof ty);
  memset(&ti, 0, sizeof ti);
  lg_tensor *in[1] = {&tx}, *out[2] = {&ty, &ti};
  test_node t;

  node_init(&t, "MaxPool", 12, 1, 2);
  attr_ints(&t, "kernel_shape", 2, kernel);
  attr_ints(&t, "strides", 2, strides);
  CHECK(run_node(&t, in, out) == LEDGE_OK, "MaxPool: %s", ledge_last_error());
  float want[4] = {5, 7, 13, 15};
  expect_values("MaxPool", &ty, want, 4);
  CHECK(ti.dtype == LEDGE_INT64 && ((int64_t *)ti.data)[3] == 15, "MaxPool indices");
  free_outputs(out, 2);

  /* ceil_mode with a 3x3 window, stride 2: windows at 0 and 2 (clipped). */
  int64_t k3[2] = {3, 3};
  node_init(&t, "AveragePool", 11, 1, 1);
  attr_ints(&t, "kernel_shape", 2, k3);
  attr_ints(&t, "strides", 2, strides);
  attr_int(&t, "ceil_mode", 1);
  CHECK(run_node(&t, in, out) == LEDGE_OK, "AveragePool: %s", ledge_last_error());
  float want2[4] = {5, 6.5f, 11, 12.5f};
  expect_values("AveragePool ceil", &ty, want2, 4);
  free_outputs(out, 1);

  /* count_include_pad: a 2x2 window at the padded corner sees one value. */
  int64_t pads[4] = {1, 1, 0, 0};
  node_init(&t, "AveragePool", 11, 1, 1);
  attr_ints(&t, "kernel_shape", 2, kernel);
  attr_ints(&t, "strides", 2, strides);
  attr_ints(&t, "pads", 4, pads);
  attr_int(&t, "count_include_pad", 1);
  CHECK(run_node(&t, in, out) == LEDGE_OK, "AveragePool pads: %s", ledge_last_error());
  CHECK(((float *)ty.data)[0] == 0.0f && ((float *)ty.data)[1] == (1 + 2) / 4.0f,
        "AveragePool count_include_pad");
  free_outputs(out, 1);

  node_init(&t, "GlobalAveragePool", 13, 1, 1);
  CHECK(run_node(&t, in, out) == LEDGE_OK, "GlobalAveragePool: %s", ledge_last_error());
  float want3[1] = {7.5f};
  int64_t gd[4] = {1, 1, 1, 1};
  expect_shape("GlobalAveragePool", &ty, 4, gd);
  expect_values("GlobalAveragePool", &ty, want3, 1);
  free_outputs(out, 1);

  /* A missing kernel_shape is an error. */
  node_init(&t, "MaxPool", 12, 1, 1);
  CHECK(run_node(&t, in, out) == LEDGE_ERR_INVALID_ARGUMENT, "MaxPool without kernel_shape");
}

/* ---- Normalization ---- */

static void test_norms(void) {
  float x[4] = {1, 2, 3, 4}, scale[2] = {1, 2}, bias[2] = {0, 1}, mean[2] = {1, 2},
        var[2] = {4, 1};
  int64_t xd[4] = {1, 2, 2, 1}, cd[1] = {2};
  lg_tensor tx = tensor(4, xd, x), ts = tensor(1, cd, scale), tb = tensor(1, cd, bias),
            tm = tensor(1, cd, mean), tv = tensor(1, cd, var), ty;
  memset(&ty, 0, sizeof ty);
  lg_tensor *in[5] = {&tx, &ts, &tb, &tm, &tv}, *out[1] = {&ty};
  test_node t;
  node_init(&t, "BatchNormalization", 15, 5, 1);
  attr_float(&t, "epsilon", 0.0f);
  CHECK(run_node(&t, in, out) == LEDGE_OK, "BatchNormalization: %s", ledge_last_error());
  float want[4] = {0, 0.5f, 3, 5};
  expect_values("BatchNormalization", &ty, want, 4);
  free_outputs(out, 1);

  /* InstanceNormalization of [1, 3] and [2, 4] per channel: +-1 scaled. */
  float x2[4] = {1, 3, 2, 4};
  tx.data = x2;
  lg_tensor *in2[3] = {&tx, &ts, &tb};
  node_init(&t, "InstanceNormalization", 6, 3, 1);
  attr_float(&t, "epsilon", 0.0f);
  CHECK(run_node(&t, in2, out) == LEDGE_OK, "InstanceNormalization: %s", ledge_last_error());
  float want2[4] = {-1, 1, -1, 3};
  expect_values("InstanceNormalization", &ty, want2, 4);
  free_outputs(out, 1);

  /* LayerNormalization over the last axis of [[1, 3], [2, 4]]. */
  int64_t ld[2] = {2, 2};
  lg_tensor tl = tensor(2, ld, x2), tmean, tinv;
  memset(&tmean, 0, sizeof tmean);
  memset(&tinv, 0, sizeof tinv);
  lg_tensor *in3[3] = {&tl, &ts, &tb}, *out3[3] = {&ty, &tmean, &tinv};
  node_init(&t, "LayerNormalization", 17, 3, 3);
  attr_float(&t, "epsilon", 0.0f);
  CHECK(run_node(&t, in3, out3) == LEDGE_OK, "LayerNormalization: %s", ledge_last_error());
  float want3[4] = {-1, 3, -1, 3}, want_mean[2] = {2, 3}, want_inv[2] = {1, 1};
  expect_values("LayerNormalization", &ty, want3, 4);
  expect_values("LayerNormalization mean", &tmean, want_mean, 2);
  expect_values("LayerNormalization inv_std", &tinv, want_inv, 2);
  free_outputs(out3, 3);

  /* LRN with size 1: x / (bias + alpha * x^2)^beta. */
  float x4[2] = {1, 2};
  int64_t rd[3] = {1, 2, 1};
  lg_tensor tr = tensor(3, rd, x4);
  lg_tensor *in4[1] = {&tr};
  node_init(&t, "LRN", 13, 1, 1);
  attr_int(&t, "size", 1);
  attr_float(&t, "alpha", 1.0f);
  attr_float(&t, "beta", 1.0f);
  attr_float(&t, "bias", 0.0f);
  CHECK(run_node(&t, in4, out) == LEDGE_OK, "LRN: %s", ledge_last_error());
  float want4[2] = {1, 0.5f};
  expect_values("LRN", &ty, want4, 2);
  free_outputs(out, 1);

  /* Scale of the wrong length is rejected. */
  int64_t bad[1] = {3};
  lg_tensor tbad = tensor(1, bad, x);
  lg_tensor *in5[5] = {&tx, &tbad, &tb, &tm, &tv};
  node_init(&t, "BatchNormalization", 15, 5, 1);
  CHECK(run_node(&t, in5, out) == LEDGE_ERR_SHAPE, "BatchNormalization bad scale accepted");
}

/* ---- MatMul and Gemm ---- */

static void test_matmul_gemm(void) {
  /* Broadcast batch: A [2, 1, 2] x B [2, 1] -> [2, 1, 1]. */
  float a[4] = {1, 2, 3, 4}, b[2] = {10, 1};
  int64_t ad[3] = {2, 1, 2}, bd[2] = {2, 1};
  lg_tensor ta = tensor(3, ad, a), tb = tensor(2, bd, b), ty;
  memset(&ty, 0, sizeof ty);
  lg_tensor *in[3] = {&ta, &tb, NULL}, *out[1] = {&ty};
  test_node t;
  node_init(&t, "MatMul", 13, 2, 1);
  CHECK(run_node(&t, in, out) == LEDGE_OK, "MatMul: %s", ledge_last_error());
  float want[2] = {12, 34};
  int64_t yd[3] = {2, 1, 1};
  expect_shape("MatMul", &ty, 3, yd);
  expect_values("MatMul", &ty, want, 2);
  free_outputs(out, 1);

  /* 1-D x 1-D is a dot product of rank 0. */
  int64_t vd[1] = {2};
  lg_tensor tv1 = tensor(1, vd, a), tv2 = tensor(1, vd, b);
  lg_tensor *in2[2] = {&tv1, &tv2};
  CHECK(run_node(&t, in2, out) == LEDGE_OK, "MatMul 1-D: %s", ledge_last_error());
  CHECK(ty.rank == 0 && ((float *)ty.data)[0] == 12, "MatMul 1-D dot");
  free_outputs(out, 1);

  /* A larger product exercises the blocked kernel's full and edge tiles. */
  enum { M = 37, K = 29, N = 43 };
  static float big_a[M * K], big_b[K * N], ref[M * N];
  for (int i = 0; i < M * K; i++) big_a[i] = (float)((i * 7) % 11) - 5;
  for (int i = 0; i < K * N; i++) big_b[i] = (float)((i * 5) % 13) - 6;
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      float s = 0;
      for (int p = 0; p < K; p++) s += big_a[i * K + p] * big_b[p * N + j];
      ref[i * N + j] = s;
    }
  int64_t mad[2] = {M, K}, mbd[2] = {K, N};
  lg_tensor tba = tensor(2, mad, big_a), tbb = tensor(2, mbd, big_b);
  lg_tensor *in3[2] = {&tba, &tbb};
  CHECK(run_node(&t, in3, out) == LEDGE_OK, "MatMul big: %s", ledge_last_error());
  expect_values("MatMul 37x29x43", &ty, ref, M * N);
  free_outputs(out, 1);

  /* Gemm with transB, alpha, beta and a row-vector C. */
  float ga[4] = {1, 2, 3, 4}, gb[4] = {1, 0, 1, 1}, gc[2] = {1, 2};
  int64_t sq[2] = {2, 2}, cdim[1] = {2};
  lg_tensor tga = tensor(2, sq, ga), tgb = tensor(2, sq, gb), tgc = tensor(1, cdim, gc);
  lg_tensor *in4[3] = {&tga, &tgb, &tgc};
  node_init(&t, "Gemm", 13, 3, 1);
  attr_int(&t, "transB", 1);
  attr_float(&t, "alpha", 2.0f);
  attr_float(&t, "beta", 0.5f);
  CHECK(run_node(&t, in4, out) == LEDGE_OK, "Gemm: %s", ledge_last_error());
  /* A * B^T = [[1, 3], [3, 7]]; *2 + [0.5, 1]. */
  float want4[4] = {2.5f, 7, 6.5f, 15};
  expect_values("Gemm", &ty, want4, 4);
  free_outputs(out, 1);

  /* Inner dimensions that differ are an error. */
  int64_t bad[2] = {3, 2};
  lg_tensor tbad = tensor(2, bad, big_b);
  lg_tensor *in5[2] = {&tga, &tbad};
  node_init(&t, "MatMul", 13, 2, 1);
  CHECK(run_node(&t, in5, out) == LEDGE_ERR_SHAPE, "MatMul mismatch accepted");
}

/* ---- Softmax family ---- */

static void test_softmax(void) {
  float x[4] = {0, (float)M_LN2, 1, 1};
  int64_t xd[2] = {2, 2};
  lg_tensor tx = tensor(2, xd, x), ty;
  memset(&ty, 0, sizeof ty);
  lg_tensor *in[1] = {&tx}, *out[1] = {&ty};
  test_node t;
  node_init(&t, "Softmax", 13, 1, 1);
  CHECK(run_node(&t, in, out) == LEDGE_OK, "Softmax: %s", ledge_last_error());
  float want[4] = {1.0f / 3, 2.0f / 3, 0.5f, 0.5f};
  expect_values("Softmax", &ty, want, 4);
  free_outputs(out, 1);

  /* Opset 11, axis 0: the whole tensor is one row. */
  node_init(&t, "Softmax", 11, 1, 1);
  attr_int(&t, "axis", 0);
  CHECK(run_node(&t, in, out) == LEDGE_OK, "Softmax legacy: %s", ledge_last_error());
  float total = 1 + 2 + (float)M_E * 2;
  float want2[4] = {1 / total, 2 / total, (float)M_E / total, (float)M_E / total};
  expect_values("Softmax opset 11 axis 0", &ty, want2, 4);
  free_outputs(out, 1);

  /* Opset 13, axis 0: columns. */
  node_init(&t, "LogSoftmax", 13, 1, 1);
  attr_int(&t, "axis", 0);
  CHECK(run_node(&t, in, out) == LEDGE_OK, "LogSoftmax: %s", ledge_last_error());
  float want3[4] = {-logf(1 + (float)M_E), logf(2 / (2 + (float)M_E)),
                    1 - logf(1 + (float)M_E), 1 - logf(2 + (float)M_E)};
  expect_values("LogSoftmax axis 0", &ty, want3, 4);
  free_outputs(out, 1);

  /* Hardmax takes the first of equal maxima. */
  node_init(&t, "Hardmax", 13, 1, 1);
  CHECK(run_node(&t, in, out) == LEDGE_OK, "Hardmax: %s", ledge_last_error());
  float want4[4] = {0, 1, 1, 0};
  expect_values("Hardmax", &ty, want4, 4);
  free_outputs(out, 1);

  node_init(&t, "Softmax", 13, 1, 1);
  attr_int(&t, "axis", 2);
  CHECK(run_node(&t, in, out) == LEDGE_ERR_INVALID_ARGUMENT, "Softmax bad axis accepted");
}

int main(void) {
  test_conv_basic();
  test_conv_groups_and_errors();
  test_conv_transpose();
  test_pools();
  test_norms();
  test_matmul_gemm();
  test_softmax();
  if (failures) {
    printf("%d check(s) failed\n", failures);
    return 1;
  }
  printf("all nn op checks passed\n");
  return 0;
}
