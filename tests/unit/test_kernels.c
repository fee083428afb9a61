/*
 * test_kernels.c: every optimized kernel against the reference kernel.
 *
 * Randomized convolutions (shapes, strides, pads, groups, dilations, odd
 * channel counts, fused activations) and GEMMs (sizes, accumulate, bias,
 * residual) and poolings (max/average, strides, pads, ceil_mode,
 * count_include_pad) run once with LG_ISA_REFERENCE (the oracle) and once at each
 * ISA level under test, serially and on a 2-thread pool. With LEDGE_ISA set,
 * only that level is tested (CTest registers one test per level); without
 * it, every level this CPU supports.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kernels/cpu.h"
#include "kernels/depthwise.h"
#include "kernels/gemm.h"
#include "ops/op.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 16);
}
static int rnd_int(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }
static float rnd_float(void) { return (float)(rnd() % 20001) / 10000.0f - 1.0f; }
static float *rnd_array(int64_t n) {
  float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  for (int64_t i = 0; i < n; i++) p[i] = rnd_float();
  return p;
}

typedef struct conv_case {
  int n, c, m, group, h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
  bool bias;
  lg_act act;
  bool residual; /* a fused residual Add (passes.c), added before act */
} conv_case;

static lg_tensor make_tensor(int rank, const int64_t *dims, float *data) {
  lg_tensor t;
  memset(&t, 0, sizeof t);
  t.dtype = LEDGE_FLOAT32;
  lg_tensor_set_shape(&t, rank, dims);
  t.data = data;
  return t;
}

static const char *last_kernel;

/* Infers and runs Conv at the given level; returns the output (malloc'd) or NULL. */
static float *run_conv(const conv_case *cc, lg_isa isa, const float *x, const float *wt,
                       const float *b, const float *res, lg_threadpool *pool, int64_t *count) {
  lg_isa_force(isa);
  int64_t xd[4] = {cc->n, cc->c, cc->h, cc->w}, wd[4] = {cc->m, cc->c / cc->group, cc->kh, cc->kw};
  int64_t bd[1] = {cc->m};
  lg_tensor tx = make_tensor(4, xd, (float *)x), tw = make_tensor(4, wd, (float *)wt);
  lg_tensor tb = make_tensor(1, bd, (float *)b), ty;
  memset(&ty, 0, sizeof ty);
  tx.data = NULL; /* activations are unknown at plan time */
  int64_t oh = (cc->h + cc->pt + cc->pb - ((cc->kh - 1) * cc->dh + 1)) / cc->sh + 1;
  int64_t ow = (cc->w + cc->pl + cc->pr - ((cc->kw - 1) * cc->dw + 1)) / cc->sw + 1;
  int64_t rd[4] = {cc->n, cc->m, oh, ow};
  lg_tensor tr = make_tensor(4, rd, (float *)res);
  lg_tensor *in[4] = {&tx, &tw, cc->bias || cc->residual ? &tb : NULL, &tr}, *out[1] = {&ty};
  if (!cc->bias) in[2] = NULL;
  int64_t strides[2] = {cc->sh, cc->sw}, dil[2] = {cc->dh, cc->dw};
  int64_t pads[4] = {cc->pt, cc->pl, cc->pb, cc->pr};
  lg_attr attrs[4] = {
      {.name = "strides", .type = LG_ATTR_INTS, .n = 2, .ints = strides},
      {.name = "dilations", .type = LG_ATTR_INTS, .n = 2, .ints = dil},
      {.name = "pads", .type = LG_ATTR_INTS, .n = 4, .ints = pads},
      {.name = "group", .type = LG_ATTR_INT, .i = cc->group},
  };
  lg_node node;
  memset(&node, 0, sizeof node);
  node.op_type = "Conv";
  node.name = "test";
  node.domain = "";
  node.opset = 13;
  node.n_in = cc->residual ? 4 : cc->bias ? 3 : 2;
  node.fused_add = cc->residual;
  node.n_out = 1;
  node.attrs = attrs;
  node.n_attrs = 4;
  node.act = cc->act;
  const lg_op_def *def = lg_op_find("", "Conv");
  node.op = def;
  lg_status st = def->infer(&node, in, out);
  CHECK(st == LEDGE_OK);
  if (st != LEDGE_OK) {
    fprintf(stderr, "infer: %s\n", ledge_last_error());
    return NULL;
  }
  tx.data = (float *)x;
  *count = lg_tensor_count(&ty);
  float *y = malloc((size_t)(*count > 0 ? *count : 1) * sizeof(float));
  for (int64_t i = 0; i < *count; i++) y[i] = NAN; /* every element must be written */
  ty.data = y;
  void *ws = node.workspace ? lg_aligned_alloc(node.workspace) : NULL;
  lg_exec exec = {pool, ws};
  st = def->run(&node, in, out, &exec);
  CHECK(st == LEDGE_OK);
  last_kernel = node.kernel ? node.kernel : "reference";
  lg_aligned_free(ws);
  free(node.state);
  return y;
}

static int conv_failures = 0;

static void check_conv(const conv_case *cc, lg_isa isa, lg_threadpool *pool, bool expect_fast) {
  int64_t wcount = (int64_t)cc->m * (cc->c / cc->group) * cc->kh * cc->kw;
  float *x = rnd_array((int64_t)cc->n * cc->c * cc->h * cc->w), *wt = rnd_array(wcount);
  float *b = rnd_array(cc->m);
  int64_t oh = (cc->h + cc->pt + cc->pb - ((cc->kh - 1) * cc->dh + 1)) / cc->sh + 1;
  int64_t ow = (cc->w + cc->pl + cc->pr - ((cc->kw - 1) * cc->dw + 1)) / cc->sw + 1;
  float *res = rnd_array((int64_t)cc->n * cc->m * oh * ow);
  int64_t n_ref = 0, n_got = 0;
  float *ref = run_conv(cc, LG_ISA_REFERENCE, x, wt, b, res, NULL, &n_ref);
  float *got = run_conv(cc, isa, x, wt, b, res, pool, &n_got);
  const char *kernel = last_kernel;
  bool ok = ref && got && n_ref == n_got;
  int64_t bad = -1;
  float scale = sqrtf((float)(cc->c / cc->group * cc->kh * cc->kw)) + 1.0f;
  for (int64_t i = 0; ok && i < n_ref; i++)
    if (!(fabsf(ref[i] - got[i]) <= 1e-5f * scale + 1e-5f * fabsf(ref[i]))) {
      ok = false;
      bad = i;
    }
  if (expect_fast && isa != LG_ISA_REFERENCE && !strcmp(kernel, "reference")) ok = false;
  if (getenv("TEST_KERNELS_VERBOSE"))
    printf("  %s: c%d m%d g%d %dx%d k%dx%d s%d\n", kernel, cc->c, cc->m, cc->group, cc->h, cc->w,
           cc->kh, cc->kw, cc->sh);
  CHECK(ok);
  if (!ok && conv_failures++ < 10)
    fprintf(stderr,
            "conv %s (%s, %s pool): n%d c%d m%d g%d %dx%d k%dx%d s%d,%d d%d,%d p%d,%d,%d,%d "
            "bias %d act %d residual %d: element %lld ref %g got %g\n",
            lg_isa_name(isa), kernel, pool ? "2-thread" : "no", cc->n, cc->c, cc->m, cc->group,
            cc->h, cc->w, cc->kh, cc->kw, cc->sh, cc->sw, cc->dh, cc->dw, cc->pt, cc->pl, cc->pb,
            cc->pr, cc->bias, (int)cc->act.kind, cc->residual, (long long)bad,
            bad >= 0 ? ref[bad] : 0, bad >= 0 ? got[bad] : 0);
  free(x);
  free(wt);
  free(b);
  free(res);
  free(ref);
  free(got);
}

static lg_act random_act(void) {
  lg_act a = {LG_ACT_NONE, 0, 0};
  switch (rnd_int(0, 9)) {
    case 1: a.kind = LG_ACT_RELU; break;
    case 2: a = (lg_act){LG_ACT_CLIP, 0.0f, 6.0f}; break;
    case 3: a = (lg_act){LG_ACT_CLIP, -0.25f, 0.5f}; break;
    case 4: a = (lg_act){LG_ACT_LEAKY_RELU, 0.1f, 0}; break;
    case 5: a.kind = LG_ACT_SIGMOID; break;
    case 6: a.kind = LG_ACT_HARD_SWISH; break;
    case 7: a.kind = LG_ACT_SWISH; break;
    case 8: a = (lg_act){LG_ACT_HARD_SIGMOID, 0.2f, 0.5f}; break;
    case 9: a.kind = LG_ACT_TANH; break;
    default: break;
  }
  return a;
}

static void random_conv_cases(lg_isa isa, lg_threadpool *pool, int count) {
  for (int t = 0; t < count; t++) {
    conv_case cc = {0};
    cc.n = rnd_int(1, 2);
    int kind = rnd_int(0, 3);
    cc.group = 1;
    if (kind == 0) { /* pointwise */
      cc.kh = cc.kw = 1;
      cc.c = rnd_int(1, 70);
      cc.m = rnd_int(4, 70);
    } else if (kind == 1) { /* depthwise */
      cc.kh = cc.kw = rnd_int(0, 1) ? 3 : 5;
      cc.c = cc.m = cc.group = rnd_int(1, 9);
    } else { /* general, sometimes grouped */
      cc.kh = rnd_int(1, 5);
      cc.kw = rnd_int(1, 5);
      cc.group = rnd_int(0, 2) ? 1 : rnd_int(2, 3);
      cc.c = cc.group * rnd_int(1, 9);
      cc.m = cc.group * rnd_int(4, 20);
    }
    cc.h = rnd_int(1, 19);
    cc.w = rnd_int(1, 37);
    cc.sh = rnd_int(1, 3);
    cc.sw = kind == 1 ? cc.sh : rnd_int(1, 3);
    if (kind == 1) cc.sh = cc.sw = rnd_int(1, 2);
    cc.dh = kind == 1 ? 1 : rnd_int(1, 2);
    cc.dw = kind == 1 ? 1 : rnd_int(1, 2);
    cc.pt = rnd_int(0, 2);
    cc.pl = rnd_int(0, 2);
    cc.pb = rnd_int(0, 2);
    cc.pr = rnd_int(0, 2);
    /* The kernel extent must fit the padded input. */
    while ((cc.kh - 1) * cc.dh + 1 > cc.h + cc.pt + cc.pb) cc.h++;
    while ((cc.kw - 1) * cc.dw + 1 > cc.w + cc.pl + cc.pr) cc.w++;
    cc.bias = rnd_int(0, 3) != 0;
    cc.act = random_act();
    cc.residual = rnd_int(0, 3) == 0;
    check_conv(&cc, isa, pool, kind != 3 || cc.m / cc.group >= 4);
  }
}

/* Winograd F(2x2, 3x3): tile rows shorter and longer than a vector (16
 * tiles), odd sizes, pads, fused residual. */
static void winograd_cases(lg_isa isa, lg_threadpool *pool, int count) {
  for (int t = 0; t < count; t++) {
    conv_case cc = {0};
    cc.n = rnd_int(1, 2);
    cc.group = 1;
    cc.c = rnd_int(16, 40);
    cc.m = rnd_int(16, 40);
    cc.kh = cc.kw = 3;
    cc.sh = cc.sw = cc.dh = cc.dw = 1;
    cc.h = rnd_int(3, 40);
    cc.w = rnd_int(3, 75);
    cc.pt = rnd_int(0, 2);
    cc.pl = rnd_int(0, 2);
    cc.pb = rnd_int(0, 2);
    cc.pr = rnd_int(0, 2);
    cc.bias = rnd_int(0, 3) != 0;
    cc.act = random_act();
    cc.residual = rnd_int(0, 1);
    bool expect_fast = (cc.h + cc.pt + cc.pb - 2) * (cc.w + cc.pl + cc.pr - 2) >= 16;
    check_conv(&cc, isa, pool, expect_fast);
  }
}

/* Shapes of the benchmark networks (and edges of the blocking). */
static void network_conv_cases(lg_isa isa, lg_threadpool *pool) {
  lg_act relu = {LG_ACT_RELU, 0, 0}, relu6 = {LG_ACT_CLIP, 0, 6}, none = {0, 0, 0};
  conv_case cases[] = {
      /* n c m g h w kh kw sh sw dh dw pt pl pb pr bias act */
      {1, 64, 64, 1, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true, relu},
      {1, 300, 40, 1, 7, 7, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, true, none},
      {1, 3, 32, 1, 33, 35, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, true, relu6},
      {1, 3, 64, 1, 40, 40, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, true, relu},
      {1, 130, 260, 1, 9, 9, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, false, none},
      {1, 32, 32, 32, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true, relu6},
      {1, 24, 24, 24, 29, 29, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, true, relu6},
      {1, 17, 17, 17, 15, 16, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, true, none},
      {2, 16, 16, 16, 14, 13, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2, true, relu},
      /* Depthwise planes that take several bands of the scratch, odd pads,
       * and one too wide for it (the row kernel's fallback). */
      {1, 3, 3, 3, 112, 112, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true, relu6},
      {1, 2, 2, 2, 113, 111, 3, 3, 2, 2, 1, 1, 0, 1, 1, 0, true, {LG_ACT_HARD_SWISH, 0, 0}},
      {1, 2, 2, 2, 57, 120, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2, true, {LG_ACT_SWISH, 0, 0}},
      {1, 2, 2, 2, 60, 75, 5, 5, 1, 1, 1, 1, 2, 1, 0, 2, false, relu},
      {1, 2, 2, 2, 4, 5000, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, true, relu},
      {1, 2, 2, 2, 6, 3000, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, true, none},
      {1, 40, 300, 1, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true, relu},
      /* Winograd: odd output sizes, asymmetric pads, no pads, batches */
      {1, 20, 24, 1, 7, 9, 3, 3, 1, 1, 1, 1, 0, 1, 2, 0, true, {LG_ACT_SIGMOID, 0, 0}},
      {2, 33, 17, 1, 10, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true, relu6},
      {1, 16, 16, 1, 6, 6, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, false, none},
      {1, 64, 40, 1, 17, 5, 3, 3, 1, 1, 1, 1, 2, 0, 1, 2, true, relu},
      {1, 16, 24, 1, 56, 56, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true, relu, true},
      /* Few input channels: the direct kernel (first layers), several bands,
       * output channels not a multiple of its block of 8, fused residual. */
      {1, 3, 32, 1, 224, 224, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, true, relu6},
      {1, 3, 16, 1, 65, 67, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, true, {LG_ACT_HARD_SWISH, 0, 0}},
      {2, 4, 13, 1, 30, 41, 5, 5, 1, 1, 1, 1, 2, 1, 0, 2, false, {LG_ACT_SWISH, 0, 0}, true},
      {1, 1, 5, 1, 20, 20, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, true, none},
      {1, 2, 9, 1, 9, 3000, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true, relu},
      /* im2col with a kernel wider than its table of column ranges (16) */
      {1, 5, 8, 1, 5, 40, 2, 17, 1, 1, 1, 1, 0, 3, 1, 3, true, relu},
      {1, 16, 16, 1, 35, 35, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, false, relu},
      {1, 16, 16, 1, 10, 130, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true, none, true},
      {1, 20, 16, 1, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true, {LG_ACT_HARD_SWISH, 0, 0}, true},
      {1, 40, 20, 1, 7, 7, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, true, relu, true},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    check_conv(&cases[i], isa, pool, true);
}

/* ---- Pooling: the plane kernels (kernels/pool2d.h) against the reference ---- */

typedef struct pool_case {
  const char *op; /* "MaxPool", "AveragePool" or "GlobalAveragePool" */
  int n, c, h, w, kh, kw, s, pt, pl, pb, pr, ceil_mode, include_pad;
} pool_case;

static float *run_pool(const pool_case *pc, lg_isa isa, const float *x, lg_threadpool *pool,
                       int64_t *count) {
  lg_isa_force(isa);
  int64_t xd[4] = {pc->n, pc->c, pc->h, pc->w};
  lg_tensor tx = make_tensor(4, xd, NULL), ty;
  memset(&ty, 0, sizeof ty);
  lg_tensor *in[1] = {&tx}, *out[1] = {&ty};
  int64_t kernel[2] = {pc->kh, pc->kw}, strides[2] = {pc->s, pc->s};
  int64_t pads[4] = {pc->pt, pc->pl, pc->pb, pc->pr};
  lg_attr attrs[5] = {
      {.name = "kernel_shape", .type = LG_ATTR_INTS, .n = 2, .ints = kernel},
      {.name = "strides", .type = LG_ATTR_INTS, .n = 2, .ints = strides},
      {.name = "pads", .type = LG_ATTR_INTS, .n = 4, .ints = pads},
      {.name = "ceil_mode", .type = LG_ATTR_INT, .i = pc->ceil_mode},
      {.name = "count_include_pad", .type = LG_ATTR_INT, .i = pc->include_pad},
  };
  lg_node node;
  memset(&node, 0, sizeof node);
  node.op_type = pc->op;
  node.name = "test";
  node.domain = "";
  node.opset = 13;
  node.n_in = 1;
  node.n_out = 1;
  bool global = !strcmp(pc->op, "GlobalAveragePool");
  node.attrs = global ? NULL : attrs;
  node.n_attrs = global ? 0 : 5;
  const lg_op_def *def = lg_op_find("", pc->op);
  node.op = def;
  lg_status st = def->infer(&node, in, out);
  CHECK(st == LEDGE_OK);
  if (st != LEDGE_OK) {
    fprintf(stderr, "infer: %s\n", ledge_last_error());
    return NULL;
  }
  tx.data = (float *)x;
  *count = lg_tensor_count(&ty);
  float *y = malloc((size_t)(*count > 0 ? *count : 1) * sizeof(float));
  for (int64_t i = 0; i < *count; i++) y[i] = NAN;
  ty.data = y;
  lg_exec exec = {pool, NULL};
  st = def->run(&node, in, out, &exec);
  CHECK(st == LEDGE_OK);
  last_kernel = node.kernel ? node.kernel : "reference";
  return y;
}

static void check_pool(const pool_case *pc, lg_isa isa, lg_threadpool *pool, bool expect_planes) {
  float *x = rnd_array((int64_t)pc->n * pc->c * pc->h * pc->w);
  int64_t n_ref = 0, n_got = 0;
  float *ref = run_pool(pc, LG_ISA_REFERENCE, x, NULL, &n_ref);
  float *got = run_pool(pc, isa, x, pool, &n_got);
  bool ok = ref && got && n_ref == n_got;
  int64_t bad = -1;
  for (int64_t i = 0; ok && i < n_ref; i++)
    if (!(fabsf(ref[i] - got[i]) <= 1e-5f + 1e-5f * fabsf(ref[i]))) {
      ok = false;
      bad = i;
    }
  if (expect_planes && !strstr(last_kernel, "planes")) ok = false;
  CHECK(ok);
  if (!ok)
    fprintf(stderr,
            "%s %s (%s): n%d c%d %dx%d k%dx%d s%d p%d,%d,%d,%d ceil %d include_pad %d: "
            "element %lld ref %g got %g\n",
            pc->op, lg_isa_name(isa), last_kernel, pc->n, pc->c, pc->h, pc->w, pc->kh, pc->kw,
            pc->s, pc->pt, pc->pl, pc->pb, pc->pr, pc->ceil_mode, pc->include_pad, (long long)bad,
            bad >= 0 ? ref[bad] : 0, bad >= 0 ? got[bad] : 0);
  free(x);
  free(ref);
  free(got);
}

static void pool_cases(lg_isa isa, lg_threadpool *pool) {
  pool_case fixed[] = {
      /* resnet, squeezenet (ceil_mode), inception (no pad; 3x3 s1 average) */
      {"MaxPool", 1, 8, 112, 112, 3, 3, 2, 1, 1, 1, 1, 0, 0},
      {"MaxPool", 1, 8, 111, 111, 3, 3, 2, 0, 0, 0, 0, 1, 0},
      {"MaxPool", 1, 8, 147, 147, 3, 3, 2, 0, 0, 0, 0, 0, 0},
      {"AveragePool", 1, 8, 35, 35, 3, 3, 1, 1, 1, 1, 1, 0, 1},
      {"AveragePool", 2, 3, 17, 17, 3, 3, 1, 1, 1, 1, 1, 0, 0},
      {"AveragePool", 1, 3, 9, 10, 2, 2, 2, 0, 0, 1, 1, 1, 1},
      {"MaxPool", 1, 2, 5, 3000, 3, 3, 1, 1, 1, 1, 1, 0, 0}, /* too wide: the row loop */
      {"GlobalAveragePool", 2, 5, 13, 11, 1, 1, 1, 0, 0, 0, 0, 0, 0},
      {"GlobalAveragePool", 1, 40, 112, 112, 1, 1, 1, 0, 0, 0, 0, 0, 0},
  };
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
    check_pool(&fixed[i], isa, pool, isa != LG_ISA_REFERENCE && i < 6);
  for (int t = 0; t < 60; t++) {
    pool_case pc = {rnd_int(0, 1) ? "MaxPool" : "AveragePool",
                    rnd_int(1, 2),
                    rnd_int(1, 5),
                    rnd_int(1, 30),
                    rnd_int(1, 40),
                    rnd_int(1, 7),
                    rnd_int(1, 7),
                    rnd_int(1, 3),
                    0,
                    0,
                    0,
                    0,
                    rnd_int(0, 1),
                    rnd_int(0, 1)};
    /* ONNX: pads smaller than the kernel; the window must fit the padded input. */
    pc.pt = rnd_int(0, pc.kh - 1);
    pc.pb = rnd_int(0, pc.kh - 1);
    pc.pl = rnd_int(0, pc.kw - 1);
    pc.pr = rnd_int(0, pc.kw - 1);
    while (pc.kh > pc.h + pc.pt + pc.pb) pc.h++;
    while (pc.kw > pc.w + pc.pl + pc.pr) pc.w++;
    check_pool(&pc, isa, pool, isa != LG_ISA_REFERENCE && pc.s <= 2);
  }
}

/* lg_gemm with every epilogue option against a plain triple loop. */
static void check_gemm(lg_isa isa, lg_threadpool *pool, int64_t m, int64_t n, int64_t k,
                       bool accumulate, bool bias, bool residual, lg_act act, bool in_place) {
  const lg_gemm_kernel *kern = lg_gemm_kernel_for(isa);
  float *a = rnd_array(m * k), *b = rnd_array(k * n), *bv = rnd_array(m), *r = rnd_array(m * n);
  float *c = rnd_array(m * n), *want = malloc((size_t)(m * n + 1) * sizeof(float));
  float *packed = lg_aligned_alloc(lg_gemm_packed_a_floats(kern, m, k) * sizeof(float) + 64);
  lg_gemm_pack_a(kern, m, k, a, k, 1, packed);
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = accumulate ? c[i * n + j] : 0.0;
      for (int64_t p = 0; p < k; p++) s += (double)a[i * k + p] * b[p * n + j];
      if (bias) s += bv[i];
      if (residual) s += r[i * n + j];
      want[i * n + j] = lg_act_scalar(&act, (float)s);
    }
  /* In place: A read with a row stride (k + 3, so rows do not abut). */
  int64_t lda = k + 3;
  float *a_strided = malloc((size_t)(m * lda + 1) * sizeof(float));
  for (int64_t i = 0; i < m; i++)
    for (int64_t p = 0; p < lda; p++) a_strided[i * lda + p] = p < k ? a[i * k + p] : NAN;
  lg_gemm_desc d = {.kern = kern,
                    .m = m,
                    .n = n,
                    .k = k,
                    .a_packed = in_place ? NULL : packed,
                    .a = a_strided,
                    .lda = lda,
                    .b = b,
                    .ldb = n,
                    .c = c,
                    .ldc = n,
                    .bias = bias ? bv : NULL,
                    .residual = residual ? r : NULL,
                    .ldr = n,
                    .act = act,
                    .accumulate = accumulate};
  lg_gemm(&d, pool);
  bool ok = true;
  for (int64_t i = 0; i < m * n && ok; i++)
    if (!(fabsf(want[i] - c[i]) <= 1e-4f * (1.0f + sqrtf((float)k)))) {
      ok = false;
      fprintf(stderr,
              "gemm %s m%lld n%lld k%lld acc %d bias %d res %d in place %d: [%lld] %g vs %g\n",
              lg_isa_name(isa), (long long)m, (long long)n, (long long)k, accumulate, bias,
              residual, in_place, (long long)i, c[i], want[i]);
    }
  CHECK(ok);
  free(a);
  free(b);
  free(bv);
  free(r);
  free(c);
  free(want);
  lg_aligned_free(packed);
  free(a_strided);
}

static void gemm_cases(lg_isa isa, lg_threadpool *pool) {
  for (int t = 0; t < 25; t++) {
    int64_t m = rnd_int(1, 70), n = rnd_int(1, 300), k = rnd_int(0, 300);
    check_gemm(isa, pool, m, n, k, rnd_int(0, 1), rnd_int(0, 1), rnd_int(0, 1), random_act(),
               rnd_int(0, 1));
  }
  for (int in_place = 0; in_place < 2; in_place++) {
    check_gemm(isa, pool, 256, 49, 1152, false, true, true, (lg_act){LG_ACT_RELU, 0, 0}, in_place);
    check_gemm(isa, pool, 8, 32, 128, false, false, false, (lg_act){0, 0, 0}, in_place);
    check_gemm(isa, pool, 13, 70, 300, true, true, false, (lg_act){0, 0, 0}, in_place);
  }
}

int main(void) {
  const char *env = getenv("LEDGE_ISA");
  lg_isa supported = lg_isa_supported(), first = LG_ISA_GENERIC, last = supported;
  if (env && *env) {
    lg_isa want = lg_isa_parse(env);
    CHECK(want != LG_ISA_COUNT);
    if (want == LG_ISA_COUNT) return harness_finish("test_kernels");
    if (want > supported) {
      printf("test_kernels: LEDGE_ISA=%s is not supported by this CPU (best: %s); skipped\n", env,
             lg_isa_name(supported));
      return 0;
    }
    first = last = want;
  }
  lg_threadpool *pool = NULL;
  CHECK_OK(lg_threadpool_create(2, &pool));
  for (int level = first; level <= (int)last; level++) {
    lg_isa isa = (lg_isa)level;
    printf("test_kernels: level %s\n", lg_isa_name(isa));
    CHECK(lg_isa_force(isa) == isa);
    network_conv_cases(isa, NULL);
    network_conv_cases(isa, pool);
    random_conv_cases(isa, NULL, 150);
    random_conv_cases(isa, pool, 100);
    winograd_cases(isa, NULL, 30);
    winograd_cases(isa, pool, 20);
    gemm_cases(isa, NULL);
    gemm_cases(isa, pool);
    pool_cases(isa, NULL);
    pool_cases(isa, pool);
  }
  lg_isa_force(LG_ISA_COUNT);
  lg_threadpool_destroy(pool);
  return harness_finish("test_kernels");
}
