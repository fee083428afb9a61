/*
 * test_qkernels.c: the int8 kernels (src/kernels/qgemm*) against the
 * reference kernels of src/ops/quant.c, which the ONNX conformance cases
 * check in turn.
 *
 * Randomized QLinearConv / ConvInteger (1x1, im2col, depthwise, grouped;
 * strides, pads, dilations; uint8 and int8 activations and weights with
 * zero points; per-tensor and per-channel scales; int32 bias; fused ReLU and
 * Clip) and QLinearMatMul / MatMulInteger (batched A, per-column scales)
 * run once with LG_ISA_REFERENCE (the oracle) and once at each ISA level,
 * serially and on a 2-thread pool. The results must be identical: the
 * requantization rounds in double exactly as the reference does. lg_qgemm
 * itself is also checked against a plain triple loop. With LEDGE_ISA set,
 * only that level is tested (CTest registers one test per level).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kernels/cpu.h"
#include "kernels/qgemm.h"
#include "ops/op.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 16);
}
static int rnd_int(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }

/* A small tensor with its own storage. */
typedef struct tbuf {
  lg_tensor t;
  void *mem;
} tbuf;

static tbuf make(ledge_dtype dt, int rank, const int64_t *dims) {
  tbuf b;
  memset(&b, 0, sizeof b);
  b.t.dtype = dt;
  lg_tensor_set_shape(&b.t, rank, dims);
  size_t bytes = lg_tensor_bytes(&b.t);
  b.mem = calloc(bytes ? bytes : 1, 1);
  b.t.data = b.mem;
  return b;
}

static tbuf make_q8(ledge_dtype dt, int rank, const int64_t *dims) {
  tbuf b = make(dt, rank, dims);
  int64_t n = lg_tensor_count(&b.t);
  for (int64_t i = 0; i < n; i++) ((uint8_t *)b.mem)[i] = (uint8_t)rnd();
  return b;
}

static tbuf make_scalar_f(float v) {
  tbuf b = make(LEDGE_FLOAT32, 0, NULL);
  ((float *)b.mem)[0] = v;
  return b;
}

static tbuf make_zp(ledge_dtype dt, int64_t count, int lo, int hi) {
  int64_t dims[1] = {count};
  tbuf b = make(dt, count == 1 ? 0 : 1, dims);
  for (int64_t i = 0; i < count; i++) {
    int v = rnd_int(lo, hi);
    if (dt == LEDGE_UINT8)
      ((uint8_t *)b.mem)[i] = (uint8_t)v;
    else
      ((int8_t *)b.mem)[i] = (int8_t)(v - 128);
  }
  return b;
}

static const char *last_kernel;

/* Infers (activations unknown, everything else constant) and runs op at
 * the given level; returns the output bytes (malloc'd) or NULL. */
static void *run_op(const char *op_type, lg_isa isa, tbuf *inputs, int n_in, lg_attr *attrs,
                    int n_attrs, lg_act act, int activation_inputs, lg_threadpool *pool,
                    size_t *bytes) {
  lg_isa_force(isa);
  lg_tensor *in[9], y, *out[1] = {&y};
  lg_tensor copies[9];
  for (int i = 0; i < n_in; i++) {
    copies[i] = inputs[i].t;
    in[i] = inputs[i].mem ? &copies[i] : NULL;
  }
  memset(&y, 0, sizeof y);
  /* Input 0 (and input 3 for a non-constant case) is unknown at plan time. */
  for (int i = 0; i < n_in; i++)
    if (in[i] && (activation_inputs >> i & 1)) copies[i].data = NULL;
  lg_node node;
  memset(&node, 0, sizeof node);
  node.op_type = op_type;
  node.name = "test";
  node.domain = "";
  node.opset = 13;
  node.n_in = n_in;
  node.n_out = 1;
  node.attrs = attrs;
  node.n_attrs = n_attrs;
  node.act = act;
  const lg_op_def *def = lg_op_find("", op_type);
  node.op = def;
  lg_status st = def->infer(&node, in, out);
  CHECK(st == LEDGE_OK);
  if (st != LEDGE_OK) {
    fprintf(stderr, "infer: %s\n", ledge_last_error());
    return NULL;
  }
  for (int i = 0; i < n_in; i++) copies[i].data = inputs[i].mem;
  *bytes = lg_tensor_bytes(&y);
  void *data = malloc(*bytes ? *bytes : 1);
  memset(data, 0xA5, *bytes); /* every element must be written */
  y.data = data;
  void *ws = node.workspace ? lg_aligned_alloc(node.workspace) : NULL;
  lg_exec exec = {pool, ws};
  st = def->run(&node, in, out, &exec);
  CHECK(st == LEDGE_OK);
  last_kernel = node.kernel ? node.kernel : "reference";
  lg_aligned_free(ws);
  free(node.state);
  return data;
}

static int failures_reported = 0;
static int fast_runs, vnni_runs, total_runs; /* that the fast paths really ran */

static void compare(const char *what, lg_isa isa, void *ref, size_t n_ref, void *got,
                    size_t n_got) {
  bool ok = ref && got && n_ref == n_got && !memcmp(ref, got, n_ref);
  total_runs++;
  fast_runs += strcmp(last_kernel, "reference") != 0;
  vnni_runs += strstr(last_kernel, "vnni") != NULL;
  CHECK(ok);
  if (!ok && failures_reported++ < 10) {
    size_t first = 0;
    while (ref && got && first < n_ref && ((uint8_t *)ref)[first] == ((uint8_t *)got)[first])
      first++;
    fprintf(stderr, "  %s at %s (%s): byte %zu of %zu differs\n", what, lg_isa_name(isa),
            last_kernel, first, n_ref);
  }
  free(ref);
  free(got);
}

/* ---- Convolutions ---- */

typedef struct qconv_case {
  int n, c, m, group, h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
  ledge_dtype xt, wt, yt;
  bool per_channel, bias, integer;
  lg_act act;
} qconv_case;

static void check_qconv(const qconv_case *cc, lg_isa isa, lg_threadpool *pool) {
  int64_t xd[4] = {cc->n, cc->c, cc->h, cc->w}, wd[4] = {cc->m, cc->c / cc->group, cc->kh, cc->kw};
  int64_t bd[1] = {cc->m};
  tbuf x = make_q8(cc->xt, 4, xd), w = make_q8(cc->wt, 4, wd);
  /* Weights of int8 models are symmetric (zero point 0); uint8 ones sit
   * around 128; sometimes anywhere (the k2 path then takes over from VNNI). */
  int wz_lo = cc->wt == LEDGE_INT8 ? 128
              : rnd_int(0, 3)      ? 120
                                   : 0,
      wz_hi = cc->wt == LEDGE_INT8 ? 128
              : rnd_int(0, 3)      ? 136
                                   : 255;
  if (cc->wt == LEDGE_INT8 && rnd_int(0, 3) == 0) wz_lo = 100, wz_hi = 150;
  tbuf xs = make_scalar_f(0.01f + (float)rnd_int(1, 100) / 1000.0f);
  tbuf xz = make_zp(cc->xt, 1, 0, 255);
  tbuf ws = make(LEDGE_FLOAT32, cc->per_channel ? 1 : 0, bd);
  for (int64_t i = 0; i < lg_tensor_count(&ws.t); i++)
    ((float *)ws.mem)[i] = 0.001f + (float)rnd_int(1, 100) / 20000.0f;
  tbuf wz = make_zp(cc->wt, cc->per_channel && cc->wt == LEDGE_UINT8 ? cc->m : 1, wz_lo, wz_hi);
  tbuf ys = make_scalar_f(0.02f + (float)rnd_int(1, 100) / 500.0f);
  tbuf yz = make_zp(cc->yt, 1, 0, 255);
  tbuf b = make(LEDGE_INT32, 1, bd);
  for (int i = 0; i < cc->m; i++) ((int32_t *)b.mem)[i] = rnd_int(-20000, 20000);
  int64_t strides[2] = {cc->sh, cc->sw}, dil[2] = {cc->dh, cc->dw},
          pads[4] = {cc->pt, cc->pl, cc->pb, cc->pr};
  lg_attr attrs[4] = {
      {.name = "strides", .type = LG_ATTR_INTS, .n = 2, .ints = strides},
      {.name = "dilations", .type = LG_ATTR_INTS, .n = 2, .ints = dil},
      {.name = "pads", .type = LG_ATTR_INTS, .n = 4, .ints = pads},
      {.name = "group", .type = LG_ATTR_INT, .i = cc->group},
  };
  size_t n_ref = 0, n_got = 0;
  void *ref, *got;
  if (cc->integer) {
    tbuf ins[4] = {x, w, xz, wz};
    ref = run_op("ConvInteger", LG_ISA_REFERENCE, ins, 4, attrs, 4, cc->act, 1, NULL, &n_ref);
    got = run_op("ConvInteger", isa, ins, 4, attrs, 4, cc->act, 1, pool, &n_got);
  } else {
    tbuf ins[9] = {x, xs, xz, w, ws, wz, ys, yz, b};
    int n_in = cc->bias ? 9 : 8;
    ref = run_op("QLinearConv", LG_ISA_REFERENCE, ins, n_in, attrs, 4, cc->act, 1, NULL, &n_ref);
    got = run_op("QLinearConv", isa, ins, n_in, attrs, 4, cc->act, 1, pool, &n_got);
  }
  char what[256];
  snprintf(what, sizeof what,
           "%s n%d c%d m%d g%d %dx%d k%dx%d s%dx%d d%dx%d p%d,%d,%d,%d x%s w%s y%s pc%d b%d act%d",
           cc->integer ? "ConvInteger" : "QLinearConv", cc->n, cc->c, cc->m, cc->group, cc->h,
           cc->w, cc->kh, cc->kw, cc->sh, cc->sw, cc->dh, cc->dw, cc->pt, cc->pl, cc->pb, cc->pr,
           ledge_dtype_name(cc->xt), ledge_dtype_name(cc->wt), ledge_dtype_name(cc->yt),
           cc->per_channel, cc->bias, cc->act.kind);
  compare(what, isa, ref, n_ref, got, n_got);
  tbuf all[] = {x, w, xs, xz, ws, wz, ys, yz, b};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i].mem);
}

static qconv_case random_qconv(void) {
  qconv_case cc;
  memset(&cc, 0, sizeof cc);
  int kind = rnd_int(0, 3); /* 0: 1x1, 1: general, 2: depthwise, 3: grouped */
  cc.n = rnd_int(1, 2);
  cc.group = 1;
  cc.c = rnd_int(1, 40);
  cc.m = rnd_int(1, 40);
  cc.kh = cc.kw = 1;
  cc.sh = cc.sw = cc.dh = cc.dw = 1;
  if (kind == 1) {
    cc.kh = rnd_int(1, 5);
    cc.kw = rnd_int(1, 5);
    cc.sh = rnd_int(1, 3);
    cc.sw = rnd_int(1, 3);
    cc.dh = rnd_int(1, 2);
    cc.dw = rnd_int(1, 2);
  } else if (kind == 2 || kind == 3) {
    cc.kh = cc.kw = rnd_int(0, 2) ? 3 : 5;
    cc.sh = cc.sw = rnd_int(1, 2);
    cc.group = rnd_int(1, 12);
    cc.c = cc.group * (kind == 2 ? 1 : rnd_int(1, 4));
    cc.m = cc.group * (kind == 2 ? 1 : rnd_int(1, 4));
  } else if (rnd_int(0, 2) == 0) {
    cc.sh = cc.sw = 2;
  }
  cc.h = rnd_int(cc.kh, 20);
  cc.w = rnd_int(cc.kw, 20);
  int max_pad = cc.kh > 1 ? cc.kh - 1 : 0, max_pad_w = cc.kw > 1 ? cc.kw - 1 : 0;
  cc.pt = rnd_int(0, max_pad);
  cc.pb = rnd_int(0, max_pad);
  cc.pl = rnd_int(0, max_pad_w);
  cc.pr = rnd_int(0, max_pad_w);
  if ((cc.h + cc.pt + cc.pb - cc.dh * (cc.kh - 1) - 1) < 0) cc.dh = 1;
  if ((cc.w + cc.pl + cc.pr - cc.dw * (cc.kw - 1) - 1) < 0) cc.dw = 1;
  cc.xt = rnd_int(0, 3) ? LEDGE_UINT8 : LEDGE_INT8;
  cc.wt = rnd_int(0, 3) ? LEDGE_INT8 : LEDGE_UINT8;
  cc.yt = rnd_int(0, 3) ? LEDGE_UINT8 : LEDGE_INT8;
  cc.per_channel = rnd_int(0, 1);
  cc.bias = rnd_int(0, 3) > 0;
  cc.integer = rnd_int(0, 4) == 0;
  int act = rnd_int(0, 5);
  if (!cc.integer && act == 1) cc.act.kind = LG_ACT_RELU;
  if (!cc.integer && act == 2) cc.act = (lg_act){LG_ACT_CLIP, 0.0f, 6.0f};
  return cc;
}

/* The layer shapes of the networks this serves (resnet50, mobilenet_v2). */
static void network_qconv_cases(lg_isa isa, lg_threadpool *pool) {
  static const int shapes[][8] = {
      /* c, m, group, h, k, s, pad, n */
      {3, 32, 1, 56, 3, 2, 1, 1},      {64, 64, 1, 28, 1, 1, 0, 1},   {64, 64, 1, 14, 3, 1, 1, 1},
      {64, 256, 1, 14, 1, 1, 0, 1},    {256, 128, 1, 14, 1, 2, 0, 1}, {96, 96, 96, 28, 3, 2, 1, 1},
      {144, 144, 144, 28, 3, 1, 1, 2}, {32, 32, 32, 30, 3, 1, 1, 1},  {512, 40, 1, 7, 3, 1, 1, 1},
  };
  for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
    const int *s = shapes[i];
    qconv_case cc = {.n = s[7],
                     .c = s[0],
                     .m = s[1],
                     .group = s[2],
                     .h = s[3],
                     .w = s[3],
                     .kh = s[4],
                     .kw = s[4],
                     .sh = s[5],
                     .sw = s[5],
                     .dh = 1,
                     .dw = 1,
                     .pt = s[6],
                     .pl = s[6],
                     .pb = s[6],
                     .pr = s[6],
                     .xt = LEDGE_UINT8,
                     .wt = LEDGE_INT8,
                     .yt = LEDGE_UINT8,
                     .per_channel = true,
                     .bias = true,
                     .act = {LG_ACT_RELU, 0, 0}};
    check_qconv(&cc, isa, pool);
  }
}

/* ---- Matrix products ---- */

static void check_qmatmul(lg_isa isa, lg_threadpool *pool, int batch, int m, int k, int n,
                          bool integer) {
  int64_t ad[3] = {batch, m, k}, bd[2] = {k, n}, nd[1] = {n};
  ledge_dtype at = rnd_int(0, 3) ? LEDGE_UINT8 : LEDGE_INT8,
              bt = rnd_int(0, 2) ? LEDGE_INT8 : LEDGE_UINT8;
  ledge_dtype yt = rnd_int(0, 3) ? LEDGE_UINT8 : LEDGE_INT8;
  tbuf a = make_q8(at, batch > 1 ? 3 : 2, batch > 1 ? ad : ad + 1), b = make_q8(bt, 2, bd);
  tbuf as = make_scalar_f(0.01f + (float)rnd_int(1, 100) / 1000.0f), az = make_zp(at, 1, 0, 255);
  bool per_col = rnd_int(0, 1);
  tbuf bs = make(LEDGE_FLOAT32, per_col ? 1 : 0, nd);
  for (int64_t i = 0; i < lg_tensor_count(&bs.t); i++)
    ((float *)bs.mem)[i] = 0.001f + (float)rnd_int(1, 100) / 20000.0f;
  tbuf bz = make_zp(bt, bt == LEDGE_UINT8 && per_col ? n : 1, bt == LEDGE_INT8 ? 128 : 110,
                    bt == LEDGE_INT8 ? 128 : 146);
  tbuf ys = make_scalar_f(0.05f + (float)rnd_int(1, 100) / 200.0f), yz = make_zp(yt, 1, 0, 255);
  size_t n_ref = 0, n_got = 0;
  void *ref, *got;
  lg_act none = {LG_ACT_NONE, 0, 0};
  if (integer) {
    tbuf ins[4] = {a, b, az, bz};
    ref = run_op("MatMulInteger", LG_ISA_REFERENCE, ins, 4, NULL, 0, none, 1, NULL, &n_ref);
    got = run_op("MatMulInteger", isa, ins, 4, NULL, 0, none, 1, pool, &n_got);
  } else {
    tbuf ins[8] = {a, as, az, b, bs, bz, ys, yz};
    ref = run_op("QLinearMatMul", LG_ISA_REFERENCE, ins, 8, NULL, 0, none, 1, NULL, &n_ref);
    got = run_op("QLinearMatMul", isa, ins, 8, NULL, 0, none, 1, pool, &n_got);
  }
  char what[128];
  snprintf(what, sizeof what, "%s %dx%dx%d x %dx%d", integer ? "MatMulInteger" : "QLinearMatMul",
           batch, m, k, k, n);
  compare(what, isa, ref, n_ref, got, n_got);
  tbuf all[] = {a, b, as, az, bs, bz, ys, yz};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i].mem);
}

/* ---- lg_qgemm against a triple loop (int32 out, strided C) ---- */

static void check_qgemm(lg_isa isa, lg_threadpool *pool, int64_t m, int64_t n, int64_t k) {
  bool fits = rnd_int(0, 1);
  int16_t *a = malloc((size_t)(m * k + 1) * sizeof(int16_t));
  uint8_t *b = malloc((size_t)(k * n + 1));
  int32_t *bias = malloc((size_t)(m + 1) * sizeof(int32_t)),
          *c = calloc((size_t)(m * n + 1), sizeof(int32_t));
  for (int64_t i = 0; i < m * k; i++)
    a[i] = (int16_t)(fits ? rnd_int(-128, 127) : rnd_int(-255, 255));
  for (int64_t i = 0; i < k * n; i++) b[i] = (uint8_t)rnd();
  for (int64_t i = 0; i < m; i++) bias[i] = rnd_int(-100000, 100000);
  const lg_qgemm_kernel *kern = lg_qgemm_kernel_for(isa, fits);
  void *packed = lg_aligned_alloc(lg_qgemm_packed_a_bytes(kern, m, k));
  lg_qgemm_pack_a(kern, m, k, a, k, packed);
  bool transposed = rnd_int(0, 1);
  lg_qgemm_desc d = {.kern = kern,
                     .m = m,
                     .n = n,
                     .k = k,
                     .a_packed = packed,
                     .b = b,
                     .ldb = n,
                     .c = c,
                     .c_rs = transposed ? 1 : n,
                     .c_cs = transposed ? m : 1,
                     .epi = {.out = LG_QOUT_S32, .bias = bias}};
  lg_qgemm(&d, pool);
  bool ok = true;
  for (int64_t i = 0; i < m && ok; i++)
    for (int64_t j = 0; j < n && ok; j++) {
      int64_t s = bias[i];
      for (int64_t p = 0; p < k; p++) s += (int64_t)a[i * k + p] * b[p * n + j];
      ok = c[transposed ? j * m + i : i * n + j] == (int32_t)s;
    }
  CHECK(ok);
  if (!ok)
    fprintf(stderr, "  qgemm %s (%s) m%lld n%lld k%lld differs\n", lg_isa_name(isa), kern->name,
            (long long)m, (long long)n, (long long)k);
  lg_aligned_free(packed);
  free(a);
  free(b);
  free(bias);
  free(c);
}

/* ---- QuantizeLinear per tensor (ties, saturation, both output types) ---- */

static void check_quantize_linear(lg_isa isa, int64_t n) {
  int64_t dims[1] = {n};
  tbuf x = make(LEDGE_FLOAT32, 1, dims);
  float scale = 0.05f + (float)rnd_int(1, 50) / 100.0f;
  for (int64_t i = 0; i < n; i++) {
    int kind = rnd_int(0, 3);
    /* exact ties (k + 0.5) * scale, huge values, and ordinary ones */
    float v = kind == 0   ? ((float)rnd_int(-300, 300) + 0.5f) * scale
              : kind == 1 ? (float)rnd_int(-1000000, 1000000)
                          : (float)rnd_int(-20000, 20000) / 100.0f;
    ((float *)x.mem)[i] = v;
  }
  ledge_dtype yt = rnd_int(0, 1) ? LEDGE_UINT8 : LEDGE_INT8;
  tbuf s = make_scalar_f(scale), z = make_zp(yt, 1, 0, 255);
  tbuf ins[3] = {x, s, z};
  lg_act none = {LG_ACT_NONE, 0, 0};
  size_t n_ref = 0, n_got = 0;
  void *ref = run_op("QuantizeLinear", LG_ISA_REFERENCE, ins, 3, NULL, 0, none, 1, NULL, &n_ref);
  void *got = run_op("QuantizeLinear", isa, ins, 3, NULL, 0, none, 1, NULL, &n_got);
  compare("QuantizeLinear", isa, ref, n_ref, got, n_got);
  /* and back */
  int64_t qd[1] = {n};
  tbuf q = make_q8(yt, 1, qd);
  tbuf dins[3] = {q, s, z};
  ref = run_op("DequantizeLinear", LG_ISA_REFERENCE, dins, 3, NULL, 0, none, 1, NULL, &n_ref);
  got = run_op("DequantizeLinear", isa, dins, 3, NULL, 0, none, 1, NULL, &n_got);
  compare("DequantizeLinear", isa, ref, n_ref, got, n_got);
  free(x.mem);
  free(s.mem);
  free(z.mem);
  free(q.mem);
}

int main(void) {
  const char *env = getenv("LEDGE_ISA");
  lg_isa supported = lg_isa_supported(), first = LG_ISA_GENERIC, last = supported;
  if (env && *env) {
    lg_isa want = lg_isa_parse(env);
    CHECK(want != LG_ISA_COUNT);
    if (want == LG_ISA_COUNT) return harness_finish("test_qkernels");
    if (want == LG_ISA_REFERENCE) return harness_finish("test_qkernels");
    if (want > supported) {
      printf("test_qkernels: LEDGE_ISA=%s is not supported by this CPU (best: %s); skipped\n", env,
             lg_isa_name(supported));
      return 0;
    }
    first = last = want;
  }
  lg_threadpool *pool = NULL;
  CHECK_OK(lg_threadpool_create(2, &pool));
  for (int level = first; level <= (int)last; level++) {
    lg_isa isa = (lg_isa)level;
    printf("test_qkernels: level %s%s\n", lg_isa_name(isa),
           isa == LG_ISA_AVX512 && lg_cpu_features_get()->avx512vnni ? " (VNNI)" : "");
    CHECK(lg_isa_force(isa) == isa);
    network_qconv_cases(isa, NULL);
    network_qconv_cases(isa, pool);
    for (int i = 0; i < 200; i++) {
      qconv_case cc = random_qconv();
      check_qconv(&cc, isa, i % 2 ? pool : NULL);
    }
    for (int i = 0; i < 60; i++)
      check_qmatmul(isa, i % 2 ? pool : NULL, rnd_int(1, 3), rnd_int(1, 40), rnd_int(1, 70),
                    rnd_int(1, 70), rnd_int(0, 2) == 0);
    check_qmatmul(isa, pool, 1, 1, 2048, 1000, false);
    for (int i = 0; i < 60; i++)
      check_qgemm(isa, i % 2 ? pool : NULL, rnd_int(1, 70), rnd_int(1, 100), rnd_int(1, 300));
    check_qgemm(isa, pool, 256, 300, 1152);
    for (int i = 0; i < 20; i++) check_quantize_linear(isa, rnd_int(1, 1000));
    printf("  %d of %d operator runs took a fast path (%d VNNI)\n", fast_runs, total_runs,
           vnni_runs);
    CHECK(fast_runs + 40 == total_runs); /* Quantize/DequantizeLinear name no kernel */
    fast_runs = vnni_runs = total_runs = 0;
  }
  lg_isa_force(LG_ISA_COUNT);
  lg_threadpool_destroy(pool);
  return harness_finish("test_qkernels");
}
