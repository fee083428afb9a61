/*
 * test_ops_elementwise.c: hand-computed cases for the unary, binary,
 * reduction and cast operators, calling infer and run directly.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op.h"

static int failures;

#define CHECK(cond)                                                                \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      fprintf(stderr, "%s:%d: CHECK failed: %s (%s)\n", __FILE__, __LINE__, #cond, \
              ledge_last_error());                                                 \
      failures++;                                                                  \
    }                                                                              \
  } while (0)

static lg_tensor tensor(ledge_dtype dt, int rank, const int64_t *dims, void *data) {
  lg_tensor t;
  memset(&t, 0, sizeof t);
  t.dtype = dt;
  lg_tensor_set_shape(&t, rank, dims);
  t.data = data;
  return t;
}

static lg_node make_node(const char *op_type, int opset, int n_in, int n_out, lg_attr *attrs,
                         int n_attrs) {
  lg_node n;
  memset(&n, 0, sizeof n);
  n.op_type = op_type;
  n.name = "test";
  n.domain = "";
  n.opset = opset;
  n.n_in = n_in;
  n.n_out = n_out;
  n.attrs = attrs;
  n.n_attrs = n_attrs;
  n.op = lg_op_find("", op_type);
  return n;
}

/* Runs infer, allocates the outputs, runs. Returns the status; the caller
 * frees out[i]->data. */
static lg_status run_node(lg_node *node, lg_tensor **in, lg_tensor **out, lg_threadpool *pool) {
  if (!node->op) return lg_error(LEDGE_ERR_UNSUPPORTED, "no op %s", node->op_type);
  lg_status s = node->op->infer(node, in, out);
  if (s != LEDGE_OK) return s;
  for (int i = 0; i < node->n_out; i++)
    if (out[i]) out[i]->data = lg_aligned_alloc(lg_tensor_bytes(out[i]));
  void *ws = node->workspace ? lg_aligned_alloc(node->workspace) : NULL;
  lg_exec exec = {pool, ws};
  s = node->op->run(node, in, out, &exec);
  lg_aligned_free(ws);
  free(node->state); /* as the session does when it drops a plan */
  node->state = NULL;
  return s;
}

static bool near(double a, double b) { return fabs(a - b) <= 1e-5 + 1e-5 * fabs(b); }

static lg_attr attr_int(const char *name, int64_t v) {
  lg_attr a = {.name = name, .type = LG_ATTR_INT, .i = v};
  return a;
}
static lg_attr attr_float(const char *name, float v) {
  lg_attr a = {.name = name, .type = LG_ATTR_FLOAT, .f = v};
  return a;
}
static lg_attr attr_ints(const char *name, int64_t *v, int n) {
  lg_attr a = {.name = name, .type = LG_ATTR_INTS, .ints = v, .n = n};
  return a;
}

static void test_add_broadcast_with_act(void) {
  float a[6] = {1, -2, 3, -4, 5, -6}, b[3] = {10, -10, 0};
  lg_tensor ta = tensor(LEDGE_FLOAT32, 2, (int64_t[]){2, 3}, a);
  lg_tensor tb = tensor(LEDGE_FLOAT32, 1, (int64_t[]){3}, b), to = {0};
  lg_tensor *in[] = {&ta, &tb}, *out[] = {&to};
  lg_node n = make_node("Add", 14, 2, 1, NULL, 0);
  n.act.kind = LG_ACT_RELU;
  CHECK(run_node(&n, in, out, NULL) == LEDGE_OK);
  CHECK(to.rank == 2 && to.dims[0] == 2 && to.dims[1] == 3);
  const float want[6] = {11, 0, 3, 6, 0, 0};
  for (int i = 0; i < 6; i++) CHECK(near(((float *)to.data)[i], want[i]));
  lg_aligned_free(to.data);
}

static void test_int_arith(void) {
  int32_t a[4] = {7, -7, INT32_MIN, 5}, b[4] = {2, 2, -1, 0};
  lg_tensor ta = tensor(LEDGE_INT32, 1, (int64_t[]){4}, a);
  lg_tensor tb = tensor(LEDGE_INT32, 1, (int64_t[]){4}, b), to = {0};
  lg_tensor *in[] = {&ta, &tb}, *out[] = {&to};
  /* Division truncates; MIN / -1 wraps; x / 0 gives 0 instead of trapping. */
  lg_node n = make_node("Div", 14, 2, 1, NULL, 0);
  CHECK(run_node(&n, in, out, NULL) == LEDGE_OK);
  int32_t *y = to.data;
  CHECK(y[0] == 3 && y[1] == -3 && y[2] == INT32_MIN && y[3] == 0);
  lg_aligned_free(to.data);
  /* Mod: fmod=0 takes the divisor's sign, fmod=1 the dividend's. */
  int32_t c[4] = {-4, 7, 5, -5}, d[4] = {3, -3, 0, 3};
  lg_tensor tc = tensor(LEDGE_INT32, 1, (int64_t[]){4}, c);
  lg_tensor td = tensor(LEDGE_INT32, 1, (int64_t[]){4}, d);
  lg_tensor *in2[] = {&tc, &td};
  lg_node m = make_node("Mod", 13, 2, 1, NULL, 0);
  CHECK(run_node(&m, in2, out, NULL) == LEDGE_OK);
  y = to.data;
  CHECK(y[0] == 2 && y[1] == -2 && y[2] == 0 && y[3] == 1);
  lg_aligned_free(to.data);
  lg_attr fm = attr_int("fmod", 1);
  lg_node m2 = make_node("Mod", 13, 2, 1, &fm, 1);
  CHECK(run_node(&m2, in2, out, NULL) == LEDGE_OK);
  y = to.data;
  CHECK(y[0] == -1 && y[1] == 1 && y[2] == 0 && y[3] == -2);
  lg_aligned_free(to.data);
  /* Mismatched dtypes are an error. */
  lg_tensor tf = tensor(LEDGE_FLOAT32, 1, (int64_t[]){4}, c);
  lg_tensor *bad[] = {&ta, &tf};
  lg_node add = make_node("Add", 14, 2, 1, NULL, 0);
  CHECK(add.op->infer(&add, bad, out) != LEDGE_OK);
}

static void test_compare_where_pow(void) {
  float a[3] = {1, 2, 3}, b[1] = {2};
  lg_tensor ta = tensor(LEDGE_FLOAT32, 1, (int64_t[]){3}, a);
  lg_tensor tb = tensor(LEDGE_FLOAT32, 0, NULL, b), tc = {0};
  lg_tensor *in[] = {&ta, &tb}, *out[] = {&tc};
  lg_node n = make_node("GreaterOrEqual", 16, 2, 1, NULL, 0);
  CHECK(run_node(&n, in, out, NULL) == LEDGE_OK);
  CHECK(tc.dtype == LEDGE_BOOL);
  uint8_t *c = tc.data;
  CHECK(c[0] == 0 && c[1] == 1 && c[2] == 1);

  /* Where(c [3], x [2,1], y scalar) -> [2,3] */
  float x[2] = {10, 20}, yv[1] = {-1};
  lg_tensor tx = tensor(LEDGE_FLOAT32, 2, (int64_t[]){2, 1}, x);
  lg_tensor ty = tensor(LEDGE_FLOAT32, 0, NULL, yv), tw = {0};
  lg_tensor *win[] = {&tc, &tx, &ty}, *wout[] = {&tw};
  lg_node w = make_node("Where", 16, 3, 1, NULL, 0);
  CHECK(run_node(&w, win, wout, NULL) == LEDGE_OK);
  CHECK(tw.rank == 2 && tw.dims[0] == 2 && tw.dims[1] == 3);
  const float want[6] = {-1, 10, 10, -1, 20, 20};
  for (int i = 0; i < 6; i++) CHECK(((float *)tw.data)[i] == want[i]);
  lg_aligned_free(tw.data);
  lg_aligned_free(tc.data);

  /* Pow with an int64 base and a float exponent keeps the base's dtype. */
  int64_t base[3] = {2, 3, -2};
  float e[3] = {3, 0.5f, 2};
  lg_tensor tbase = tensor(LEDGE_INT64, 1, (int64_t[]){3}, base);
  lg_tensor te = tensor(LEDGE_FLOAT32, 1, (int64_t[]){3}, e), tp = {0};
  lg_tensor *pin[] = {&tbase, &te}, *pout[] = {&tp};
  lg_node p = make_node("Pow", 15, 2, 1, NULL, 0);
  CHECK(run_node(&p, pin, pout, NULL) == LEDGE_OK);
  CHECK(tp.dtype == LEDGE_INT64);
  int64_t *pv = tp.data;
  CHECK(pv[0] == 8 && pv[1] == 1 && pv[2] == 4);
  lg_aligned_free(tp.data);
}

static void test_variadic(void) {
  float a[2] = {1, 5}, b[1] = {3}, c[2] = {2, 1};
  lg_tensor ta = tensor(LEDGE_FLOAT32, 1, (int64_t[]){2}, a);
  lg_tensor tb = tensor(LEDGE_FLOAT32, 1, (int64_t[]){1}, b);
  lg_tensor tc = tensor(LEDGE_FLOAT32, 1, (int64_t[]){2}, c), to = {0};
  lg_tensor *in[] = {&ta, &tb, &tc}, *out[] = {&to};
  lg_node mean = make_node("Mean", 13, 3, 1, NULL, 0);
  CHECK(run_node(&mean, in, out, NULL) == LEDGE_OK);
  CHECK(near(((float *)to.data)[0], 2) && near(((float *)to.data)[1], 3));
  lg_aligned_free(to.data);
  lg_node max = make_node("Max", 13, 3, 1, NULL, 0);
  CHECK(run_node(&max, in, out, NULL) == LEDGE_OK);
  CHECK(((float *)to.data)[0] == 3 && ((float *)to.data)[1] == 5);
  lg_aligned_free(to.data);
}

/* A large broadcast over several rows and chunks, on a thread pool,
 * against a plain triple loop. */
static void test_parallel_broadcast(void) {
  enum { A = 3, B = 5, C = 20000 };
  float *x = malloc(sizeof(float) * A * B * C), y[B];
  for (int i = 0; i < A * B * C; i++) x[i] = (float)(i % 97);
  for (int j = 0; j < B; j++) y[j] = (float)(j * 1000);
  lg_tensor tx = tensor(LEDGE_FLOAT32, 3, (int64_t[]){A, B, C}, x);
  lg_tensor ty = tensor(LEDGE_FLOAT32, 2, (int64_t[]){B, 1}, y), to = {0};
  lg_tensor *in[] = {&tx, &ty}, *out[] = {&to};
  lg_threadpool *pool = NULL;
  CHECK(lg_threadpool_create(4, &pool) == LEDGE_OK);
  lg_node n = make_node("Sub", 14, 2, 1, NULL, 0);
  CHECK(run_node(&n, in, out, pool) == LEDGE_OK);
  int bad = 0;
  for (int a = 0; a < A; a++)
    for (int b = 0; b < B; b++)
      for (int c = 0; c < C; c++) {
        int i = (a * B + b) * C + c;
        if (((float *)to.data)[i] != x[i] - y[b]) bad++;
      }
  CHECK(bad == 0);
  lg_aligned_free(to.data);
  lg_threadpool_destroy(pool);
  free(x);
}

static void test_unary(void) {
  float x[6] = {-1.5f, -0.5f, 0.5f, 1.5f, 2.5f, INFINITY};
  lg_tensor tx = tensor(LEDGE_FLOAT32, 1, (int64_t[]){6}, x), to = {0};
  lg_tensor *in[] = {&tx}, *out[] = {&to};
  lg_node r = make_node("Round", 11, 1, 1, NULL, 0);
  CHECK(run_node(&r, in, out, NULL) == LEDGE_OK);
  const float want[5] = {-2, -0.0f, 0, 2, 2}; /* halves to even */
  for (int i = 0; i < 5; i++) CHECK(((float *)to.data)[i] == want[i]);
  lg_aligned_free(to.data);

  lg_attr la = attr_float("alpha", 0.1f);
  lg_node lr = make_node("LeakyRelu", 16, 1, 1, &la, 1);
  CHECK(run_node(&lr, in, out, NULL) == LEDGE_OK);
  CHECK(near(((float *)to.data)[0], -0.15) && near(((float *)to.data)[3], 1.5));
  lg_aligned_free(to.data);

  lg_attr neg = attr_int("detect_negative", 0);
  lg_node isinf_node = make_node("IsInf", 10, 1, 1, &neg, 1);
  CHECK(run_node(&isinf_node, in, out, NULL) == LEDGE_OK);
  CHECK(to.dtype == LEDGE_BOOL && ((uint8_t *)to.data)[5] == 1 && ((uint8_t *)to.data)[0] == 0);
  lg_aligned_free(to.data);

  /* Clip on int8 with only a max input (opset 13). */
  int8_t xi[4] = {-128, -1, 5, 127}, hi = 4;
  lg_tensor txi = tensor(LEDGE_INT8, 1, (int64_t[]){4}, xi);
  lg_tensor thi = tensor(LEDGE_INT8, 0, NULL, &hi);
  lg_tensor *cin[] = {&txi, NULL, &thi};
  lg_node clip = make_node("Clip", 13, 3, 1, NULL, 0);
  CHECK(run_node(&clip, cin, out, NULL) == LEDGE_OK);
  int8_t *ci = to.data;
  CHECK(ci[0] == -128 && ci[1] == -1 && ci[2] == 4 && ci[3] == 4);
  lg_aligned_free(to.data);

  /* Clip opset 6: attributes. */
  lg_attr bounds[2] = {attr_float("min", -1), attr_float("max", 1)};
  lg_node clip6 = make_node("Clip", 6, 1, 1, bounds, 2);
  CHECK(run_node(&clip6, in, out, NULL) == LEDGE_OK);
  CHECK(((float *)to.data)[0] == -1 && ((float *)to.data)[2] == 0.5f && ((float *)to.data)[5] == 1);
  lg_aligned_free(to.data);

  /* float16 through the float32 loop. */
  uint16_t h[2] = {lg_float_to_half(-2), lg_float_to_half(3)};
  lg_tensor th = tensor(LEDGE_FLOAT16, 1, (int64_t[]){2}, h);
  lg_tensor *hin[] = {&th};
  lg_node absn = make_node("Abs", 13, 1, 1, NULL, 0);
  CHECK(run_node(&absn, hin, out, NULL) == LEDGE_OK);
  CHECK(to.dtype == LEDGE_FLOAT16 && lg_half_to_float(((uint16_t *)to.data)[0]) == 2);
  lg_aligned_free(to.data);

  /* Strings are refused with an error, not a crash. */
  lg_tensor ts = tensor(LEDGE_STRING, 1, (int64_t[]){2}, h);
  lg_tensor *sin_[] = {&ts};
  CHECK(absn.op->infer(&absn, sin_, out) == LEDGE_ERR_UNSUPPORTED);
}

static void test_reduce(void) {
  /* [2,3,2] */
  float x[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  lg_tensor tx = tensor(LEDGE_FLOAT32, 3, (int64_t[]){2, 3, 2}, x), to = {0};
  lg_tensor *in[] = {&tx}, *out[] = {&to};
  int64_t axes[2] = {0, -1};
  lg_attr at[2] = {attr_ints("axes", axes, 2), attr_int("keepdims", 0)};
  lg_node mean = make_node("ReduceMean", 13, 1, 1, at, 2);
  CHECK(run_node(&mean, in, out, NULL) == LEDGE_OK);
  CHECK(to.rank == 1 && to.dims[0] == 3);
  /* axis 1 index 0: {1,2,7,8} -> 4.5; index 1: {3,4,9,10} -> 6.5; index 2 -> 8.5 */
  CHECK(near(((float *)to.data)[0], 4.5) && near(((float *)to.data)[1], 6.5) &&
        near(((float *)to.data)[2], 8.5));
  lg_aligned_free(to.data);

  lg_node lse = make_node("ReduceLogSumExp", 13, 1, 1, NULL, 0);
  CHECK(run_node(&lse, in, out, NULL) == LEDGE_OK);
  CHECK(to.rank == 3 && to.dims[0] == 1 && to.dims[2] == 1);
  double s = 0;
  for (int i = 0; i < 12; i++) s += exp(x[i]);
  CHECK(near(((float *)to.data)[0], log(s)));
  lg_aligned_free(to.data);

  /* ReduceSum opset 13 with an empty axes input and noop_with_empty_axes. */
  int64_t none[1] = {0};
  lg_tensor tax = tensor(LEDGE_INT64, 1, (int64_t[]){0}, none);
  lg_tensor *sin_[] = {&tx, &tax};
  lg_attr noop = attr_int("noop_with_empty_axes", 1);
  lg_node sum = make_node("ReduceSum", 13, 2, 1, &noop, 1);
  CHECK(run_node(&sum, sin_, out, NULL) == LEDGE_OK);
  CHECK(to.rank == 3 && ((float *)to.data)[11] == 12);
  lg_aligned_free(to.data);

  /* ArgMax along axis 1 with ties, first and last index. */
  float t[6] = {1, 3, 3, 0, 0, 0};
  lg_tensor tt = tensor(LEDGE_FLOAT32, 2, (int64_t[]){2, 3}, t);
  lg_tensor *ain[] = {&tt};
  lg_attr aa[2] = {attr_int("axis", 1), attr_int("select_last_index", 1)};
  lg_node am = make_node("ArgMax", 13, 1, 1, aa, 1);
  CHECK(run_node(&am, ain, out, NULL) == LEDGE_OK);
  CHECK(to.dtype == LEDGE_INT64 && ((int64_t *)to.data)[0] == 1 && ((int64_t *)to.data)[1] == 0);
  lg_aligned_free(to.data);
  lg_node am_last = make_node("ArgMax", 13, 1, 1, aa, 2);
  CHECK(run_node(&am_last, ain, out, NULL) == LEDGE_OK);
  CHECK(((int64_t *)to.data)[0] == 2 && ((int64_t *)to.data)[1] == 2);
  lg_aligned_free(to.data);

  /* TopK k=2 along the last axis, ties to the lower index. */
  int64_t k = 2;
  lg_tensor tk = tensor(LEDGE_INT64, 1, (int64_t[]){1}, &k), tv = {0}, ti = {0};
  lg_tensor *kin[] = {&tt, &tk}, *kout[] = {&tv, &ti};
  lg_node topk = make_node("TopK", 11, 2, 2, NULL, 0);
  CHECK(run_node(&topk, kin, kout, NULL) == LEDGE_OK);
  int64_t *ix = ti.data;
  CHECK(ix[0] == 1 && ix[1] == 2 && ix[2] == 0 && ix[3] == 1);
  CHECK(((float *)tv.data)[0] == 3 && ((float *)tv.data)[2] == 0);
  lg_aligned_free(tv.data);
  lg_aligned_free(ti.data);
  k = 4; /* more than the axis has */
  CHECK(topk.op->infer(&topk, kin, kout) != LEDGE_OK);

  /* A small k of a long axis (the selection path, not the full sort), with
   * many ties, largest and smallest, along the last axis and along axis 0
   * (strided): the same elements in the same order as picking the best
   * remaining element k times. */
  enum { LONG_N = 3000, LONG_K = 12 };
  static float lx[2 * LONG_N];
  for (int i = 0; i < 2 * LONG_N; i++) lx[i] = (float)((i * 7919) % 53) - 20.0f;
  for (int variant = 0; variant < 4; variant++) {
    bool largest = variant % 2 == 0, along_rows = variant >= 2;
    int64_t dims[2] = {along_rows ? LONG_N : 2, along_rows ? 2 : LONG_N};
    lg_tensor tl = tensor(LEDGE_FLOAT32, 2, dims, lx), tlk = {0}, lv = {0}, li = {0};
    int64_t kk = LONG_K;
    tlk = tensor(LEDGE_INT64, 1, (int64_t[]){1}, &kk);
    lg_tensor *lin[] = {&tl, &tlk}, *lout[] = {&lv, &li};
    lg_attr la[2] = {attr_int("axis", along_rows ? 0 : 1), attr_int("largest", largest)};
    lg_node ltopk = make_node("TopK", 11, 2, 2, la, 2);
    CHECK(run_node(&ltopk, lin, lout, NULL) == LEDGE_OK);
    for (int slice = 0; slice < 2; slice++) {
      bool used[LONG_N] = {false};
      for (int r = 0; r < LONG_K; r++) {
        int best = -1;
        for (int i = 0; i < LONG_N; i++) {
          float vi = lx[along_rows ? i * 2 + slice : slice * LONG_N + i];
          float vb = best < 0 ? 0 : lx[along_rows ? best * 2 + slice : slice * LONG_N + best];
          if (!used[i] && (best < 0 || (largest ? vi > vb : vi < vb))) best = i;
        }
        used[best] = true;
        int64_t pos = along_rows ? r * 2 + slice : slice * LONG_K + r;
        CHECK(((int64_t *)li.data)[pos] == best);
        CHECK(((float *)lv.data)[pos] == lx[along_rows ? best * 2 + slice : slice * LONG_N + best]);
      }
    }
    lg_aligned_free(lv.data);
    lg_aligned_free(li.data);
  }

  /* CumSum, exclusive and reversed. */
  int32_t cx[4] = {1, 2, 3, 4}, axis = 0;
  lg_tensor tcx = tensor(LEDGE_INT32, 1, (int64_t[]){4}, cx);
  lg_tensor tca = tensor(LEDGE_INT32, 0, NULL, &axis);
  lg_tensor *cin[] = {&tcx, &tca};
  lg_attr ca[2] = {attr_int("exclusive", 1), attr_int("reverse", 1)};
  lg_node cs = make_node("CumSum", 14, 2, 1, ca, 2);
  CHECK(run_node(&cs, cin, out, NULL) == LEDGE_OK);
  int32_t *cy = to.data;
  CHECK(cy[0] == 9 && cy[1] == 7 && cy[2] == 4 && cy[3] == 0);
  lg_aligned_free(to.data);
}

static void test_cast(void) {
  float x[5] = {-1.7f, 2.9f, 0, 1e20f, NAN};
  lg_tensor tx = tensor(LEDGE_FLOAT32, 1, (int64_t[]){5}, x), to = {0};
  lg_tensor *in[] = {&tx}, *out[] = {&to};
  lg_attr to_int = attr_int("to", LEDGE_INT32);
  lg_node c = make_node("Cast", 13, 1, 1, &to_int, 1);
  CHECK(run_node(&c, in, out, NULL) == LEDGE_OK);
  int32_t *y = to.data;
  CHECK(to.dtype == LEDGE_INT32 && y[0] == -1 && y[1] == 2 && y[2] == 0);
  lg_aligned_free(to.data);

  lg_attr to_bool = attr_int("to", LEDGE_BOOL);
  lg_node cb = make_node("Cast", 13, 1, 1, &to_bool, 1);
  CHECK(run_node(&cb, in, out, NULL) == LEDGE_OK);
  uint8_t *b = to.data;
  CHECK(b[0] == 1 && b[2] == 0);
  lg_aligned_free(to.data);

  double like = 0;
  lg_tensor tl = tensor(LEDGE_FLOAT64, 0, NULL, &like);
  lg_tensor *lin[] = {&tx, &tl};
  lg_node cl = make_node("CastLike", 15, 2, 1, NULL, 0);
  CHECK(run_node(&cl, lin, out, NULL) == LEDGE_OK);
  CHECK(to.dtype == LEDGE_FLOAT64 && ((double *)to.data)[1] == (double)2.9f);
  lg_aligned_free(to.data);

  lg_attr to_str = attr_int("to", LEDGE_STRING);
  lg_node cs = make_node("Cast", 13, 1, 1, &to_str, 1);
  CHECK(cs.op->infer(&cs, in, out) == LEDGE_ERR_UNSUPPORTED);
}

int main(void) {
  test_add_broadcast_with_act();
  test_int_arith();
  test_compare_where_pow();
  test_variadic();
  test_parallel_broadcast();
  test_unary();
  test_reduce();
  test_cast();
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("test_ops_elementwise: all checks passed\n");
  return 0;
}
