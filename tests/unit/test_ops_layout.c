/* test_ops_layout.c: hand-computed cases for the shape and data-movement
 * operators (shape.c, layout.c, gather.c, pad.c, resize.c), calling each
 * operator's infer and run directly, plus hostile inputs that must fail
 * cleanly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op.h"

static int failures;

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: CHECK(%s) failed (last error: %s)\n", __FILE__, __LINE__, #cond,     \
              ledge_last_error());                                                                 \
      failures++;                                                                                  \
    }                                                                                              \
  } while (0)

/* ---- Building nodes and tensors ---- */

static lg_tensor tensor(ledge_dtype dtype, int rank, const int64_t *dims, const void *data) {
  lg_tensor t;
  memset(&t, 0, sizeof t);
  t.dtype = dtype;
  lg_tensor_set_shape(&t, rank, dims);
  t.data = (void *)data;
  return t;
}

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

static lg_attr attr_floats(const char *name, float *v, int n) {
  lg_attr a = {.name = name, .type = LG_ATTR_FLOATS, .floats = v, .n = n};
  return a;
}

static lg_attr attr_string(const char *name, const char *s) {
  lg_attr a = {.name = name, .type = LG_ATTR_STRING, .s = s};
  return a;
}

/* One operator call: infer, then (if infer succeeded and run is wanted) run
 * into freshly allocated outputs. Outputs are freed by free_outputs. */
typedef struct op_call {
  const char *op;
  int opset;
  lg_attr *attrs;
  int n_attrs;
  lg_tensor *in[8];
  int n_in;
  lg_tensor out[8];
  int n_out;
} op_call;

static lg_status call_op(op_call *c, bool run) {
  const lg_op_def *def = lg_op_find("", c->op);
  if (!def) return lg_error(LEDGE_ERR_UNSUPPORTED, "no operator %s", c->op);
  lg_node node;
  memset(&node, 0, sizeof node);
  int ins[8], outs[8];
  for (int i = 0; i < 8; i++) ins[i] = outs[i] = i;
  node.op = def;
  node.name = "test";
  node.op_type = c->op;
  node.domain = "";
  node.opset = c->opset;
  node.n_in = c->n_in;
  node.n_out = c->n_out ? c->n_out : 1;
  node.in = ins;
  node.out = outs;
  node.attrs = c->attrs;
  node.n_attrs = c->n_attrs;
  lg_tensor *out[8];
  for (int i = 0; i < node.n_out; i++) {
    memset(&c->out[i], 0, sizeof c->out[i]);
    out[i] = &c->out[i];
  }
  lg_status st = def->infer(&node, c->in, out);
  if (st == LEDGE_OK && run) {
    for (int i = 0; i < node.n_out; i++) {
      c->out[i].data = lg_aligned_alloc(lg_tensor_bytes(&c->out[i]));
      c->out[i].owns_data = true;
    }
    void *ws = node.workspace ? lg_aligned_alloc(node.workspace) : NULL;
    lg_exec exec = {NULL, ws};
    st = def->run(&node, c->in, out, &exec);
    lg_aligned_free(ws);
  }
  free(node.state);
  return st;
}

static void free_outputs(op_call *c) {
  for (int i = 0; i < 8; i++) {
    if (c->out[i].owns_data) lg_aligned_free(c->out[i].data);
    c->out[i].data = NULL;
    c->out[i].owns_data = false;
  }
}

static bool shape_is(const lg_tensor *t, int rank, const int64_t *dims) {
  return lg_shape_equal(t->rank, t->dims, rank, dims);
}

static bool floats_are(const lg_tensor *t, const float *want, int64_t n) {
  if (t->dtype != LEDGE_FLOAT32 || lg_tensor_count(t) != n) return false;
  for (int64_t i = 0; i < n; i++)
    if (fabsf(((const float *)t->data)[i] - want[i]) > 1e-5f) {
      fprintf(stderr, "  element %lld: got %g want %g\n", (long long)i,
              ((const float *)t->data)[i], want[i]);
      return false;
    }
  return true;
}

static bool ints_are(const lg_tensor *t, const int64_t *want, int64_t n) {
  if (lg_tensor_count(t) != n) return false;
  for (int64_t i = 0; i < n; i++)
    if (lg_tensor_get_int(t, i) != want[i]) {
      fprintf(stderr, "  element %lld: got %lld want %lld\n", (long long)i,
              (long long)lg_tensor_get_int(t, i), (long long)want[i]);
      return false;
    }
  return true;
}

static float iota_f[64];
static int64_t iota_i[64];

/* ---- shape.c ---- */

static void test_reshape(void) {
  int64_t xd[3] = {2, 3, 4}, sd[1] = {2};
  int64_t shape[2] = {0, -1};
  lg_tensor x = tensor(LEDGE_FLOAT32, 3, xd, iota_f), s = tensor(LEDGE_INT64, 1, sd, shape);
  op_call c = {.op = "Reshape", .opset = 14, .in = {&x, &s}, .n_in = 2};
  CHECK(call_op(&c, true) == LEDGE_OK);
  CHECK(shape_is(&c.out[0], 2, (int64_t[]){2, 12}));
  CHECK(floats_are(&c.out[0], iota_f, 24));
  free_outputs(&c);

  /* allowzero keeps a literal 0, which then cannot hold 24 elements. */
  lg_attr az = attr_int("allowzero", 1);
  c.attrs = &az;
  c.n_attrs = 1;
  CHECK(call_op(&c, false) == LEDGE_ERR_SHAPE);

  /* Two -1, a mismatch, and a shape that is not known at plan time. */
  int64_t bad[2] = {-1, -1};
  s.data = bad;
  c.n_attrs = 0;
  CHECK(call_op(&c, false) == LEDGE_ERR_SHAPE);
  int64_t huge[2] = {INT64_MAX, 3};
  s.data = huge;
  CHECK(call_op(&c, false) == LEDGE_ERR_SHAPE);
  s.data = NULL;
  CHECK(call_op(&c, false) == LEDGE_ERR_SHAPE);
}

static void test_squeeze_unsqueeze(void) {
  int64_t xd[3] = {1, 3, 1};
  lg_tensor x = tensor(LEDGE_FLOAT32, 3, xd, iota_f);
  /* Opset 11: attribute; no axes squeezes every 1. */
  op_call c = {.op = "Squeeze", .opset = 11, .in = {&x}, .n_in = 1};
  CHECK(call_op(&c, true) == LEDGE_OK);
  CHECK(shape_is(&c.out[0], 1, (int64_t[]){3}));
  free_outputs(&c);
  /* Opset 13: input; -1 is the last axis. */
  int64_t axes[1] = {-1}, ad[1] = {1};
  lg_tensor a = tensor(LEDGE_INT64, 1, ad, axes);
  c.opset = 13;
  c.in[1] = &a;
  c.n_in = 2;
  CHECK(call_op(&c, true) == LEDGE_OK);
  CHECK(shape_is(&c.out[0], 2, (int64_t[]){1, 3}));
  free_outputs(&c);
  axes[0] = 1; /* size 3: cannot squeeze */
  CHECK(call_op(&c, false) == LEDGE_ERR_SHAPE);

  int64_t uaxes[2] = {0, -1};
  lg_attr ua = attr_ints("axes", uaxes, 2);
  op_call u = {.op = "Unsqueeze", .opset = 11, .attrs = &ua, .n_attrs = 1, .in = {&x}, .n_in = 1};
  CHECK(call_op(&u, true) == LEDGE_OK);
  CHECK(shape_is(&u.out[0], 5, (int64_t[]){1, 1, 3, 1, 1}));
  free_outputs(&u);
  uaxes[1] = 0; /* repeated */
  CHECK(call_op(&u, false) == LEDGE_ERR_INVALID_ARGUMENT);
}

static void test_shape_size_flatten(void) {
  int64_t xd[4] = {2, 3, 4, 5};
  lg_tensor x = tensor(LEDGE_FLOAT32, 4, xd, NULL); /* data unknown: Shape needs none */
  lg_attr se[2] = {attr_int("start", 1), attr_int("end", -1)};
  op_call c = {.op = "Shape", .opset = 15, .attrs = se, .n_attrs = 2, .in = {&x}, .n_in = 1};
  CHECK(call_op(&c, true) == LEDGE_OK);
  CHECK(c.out[0].dtype == LEDGE_INT64 && ints_are(&c.out[0], (int64_t[]){3, 4}, 2));
  free_outputs(&c);

  op_call s = {.op = "Size", .opset = 13, .in = {&x}, .n_in = 1};
  CHECK(call_op(&s, true) == LEDGE_OK);
  CHECK(s.out[0].rank == 0 && ints_are(&s.out[0], (int64_t[]){120}, 1));
  free_outputs(&s);

  lg_attr ax = attr_int("axis", -1);
  op_call f = {.op = "Flatten", .opset = 13, .attrs = &ax, .n_attrs = 1, .in = {&x}, .n_in = 1};
  CHECK(call_op(&f, false) == LEDGE_OK);
  CHECK(shape_is(&f.out[0], 2, (int64_t[]){24, 5}));
  ax.i = 5;
  CHECK(call_op(&f, false) == LEDGE_ERR_INVALID_ARGUMENT);
}

static void test_constants(void) {
  /* ConstantOfShape int32 7 of shape [2,3]. */
  int32_t seven = 7;
  int64_t one[1] = {1}, sd[1] = {2}, shape[2] = {2, 3};
  lg_tensor value = tensor(LEDGE_INT32, 1, one, &seven);
  lg_attr va = {.name = "value", .type = LG_ATTR_TENSOR, .t = &value};
  lg_tensor s = tensor(LEDGE_INT64, 1, sd, shape);
  op_call c = {.op = "ConstantOfShape", .opset = 9, .attrs = &va, .n_attrs = 1, .in = {&s},
               .n_in = 1};
  CHECK(call_op(&c, true) == LEDGE_OK);
  CHECK(c.out[0].dtype == LEDGE_INT32 && ints_are(&c.out[0], (int64_t[]){7, 7, 7, 7, 7, 7}, 6));
  free_outputs(&c);
  shape[1] = -3;
  CHECK(call_op(&c, false) == LEDGE_ERR_SHAPE);

  /* Constant value_ints. */
  int64_t vals[3] = {4, -5, 6};
  lg_attr vi = attr_ints("value_ints", vals, 3);
  op_call k = {.op = "Constant", .opset = 13, .attrs = &vi, .n_attrs = 1};
  CHECK(call_op(&k, true) == LEDGE_OK);
  CHECK(k.out[0].dtype == LEDGE_INT64 && ints_are(&k.out[0], vals, 3));
  free_outputs(&k);

  /* Range: int64 with negative delta, float. */
  int64_t r0 = 10, r1 = 1, r2 = -3;
  lg_tensor a = tensor(LEDGE_INT64, 0, NULL, &r0), b = tensor(LEDGE_INT64, 0, NULL, &r1),
            d = tensor(LEDGE_INT64, 0, NULL, &r2);
  op_call r = {.op = "Range", .opset = 11, .in = {&a, &b, &d}, .n_in = 3};
  CHECK(call_op(&r, true) == LEDGE_OK);
  CHECK(ints_are(&r.out[0], (int64_t[]){10, 7, 4}, 3));
  free_outputs(&r);
  r2 = 0;
  CHECK(call_op(&r, false) == LEDGE_ERR_INVALID_ARGUMENT);
  r0 = INT64_MIN, r1 = INT64_MAX, r2 = INT64_MAX; /* hostile: must not overflow */
  CHECK(call_op(&r, false) != LEDGE_OK || lg_tensor_count(&r.out[0]) <= 3);
  float f0 = 1.0f, f1 = 2.0f, f2 = 0.25f;
  lg_tensor fa = tensor(LEDGE_FLOAT32, 0, NULL, &f0), fb = tensor(LEDGE_FLOAT32, 0, NULL, &f1),
            fd = tensor(LEDGE_FLOAT32, 0, NULL, &f2);
  op_call rf = {.op = "Range", .opset = 11, .in = {&fa, &fb, &fd}, .n_in = 3};
  CHECK(call_op(&rf, true) == LEDGE_OK);
  CHECK(floats_are(&rf.out[0], (float[]){1.0f, 1.25f, 1.5f, 1.75f}, 4));
  free_outputs(&rf);

  /* EyeLike k=1 as int64. */
  int64_t ed[2] = {2, 3};
  lg_tensor e = tensor(LEDGE_FLOAT32, 2, ed, NULL);
  lg_attr ea[2] = {attr_int("k", 1), attr_int("dtype", LEDGE_INT64)};
  op_call ey = {.op = "EyeLike", .opset = 9, .attrs = ea, .n_attrs = 2, .in = {&e}, .n_in = 1};
  CHECK(call_op(&ey, true) == LEDGE_OK);
  CHECK(ints_are(&ey.out[0], (int64_t[]){0, 1, 0, 0, 0, 1}, 6));
  free_outputs(&ey);
}

static void test_expand_dropout(void) {
  int64_t xd[2] = {3, 1}, sd[1] = {3}, shape[3] = {2, 1, 2};
  float x3[3] = {1, 2, 3};
  lg_tensor x = tensor(LEDGE_FLOAT32, 2, xd, x3), s = tensor(LEDGE_INT64, 1, sd, shape);
  op_call c = {.op = "Expand", .opset = 13, .in = {&x, &s}, .n_in = 2};
  CHECK(call_op(&c, true) == LEDGE_OK);
  CHECK(shape_is(&c.out[0], 3, (int64_t[]){2, 3, 2}));
  CHECK(floats_are(&c.out[0], (float[]){1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}, 12));
  free_outputs(&c);
  shape[2] = 4;
  shape[1] = 2; /* 3 vs 2: does not broadcast */
  CHECK(call_op(&c, false) == LEDGE_ERR_SHAPE);

  op_call d = {.op = "Dropout", .opset = 13, .in = {&x}, .n_in = 1, .n_out = 2};
  CHECK(call_op(&d, true) == LEDGE_OK);
  CHECK(floats_are(&d.out[0], x3, 3));
  CHECK(d.out[1].dtype == LEDGE_BOOL && ints_are(&d.out[1], (int64_t[]){1, 1, 1}, 3));
  free_outputs(&d);
  /* Training mode with a ratio is random: unsupported. */
  float ratio = 0.5f;
  uint8_t training = 1;
  lg_tensor r = tensor(LEDGE_FLOAT32, 0, NULL, &ratio), t = tensor(LEDGE_BOOL, 0, NULL, &training);
  d.in[1] = &r;
  d.in[2] = &t;
  d.n_in = 3;
  CHECK(call_op(&d, false) == LEDGE_ERR_UNSUPPORTED);
}

/* ---- layout.c ---- */

static void test_transpose_concat_split(void) {
  int64_t xd[2] = {2, 3};
  lg_tensor x = tensor(LEDGE_FLOAT32, 2, xd, iota_f);
  op_call t = {.op = "Transpose", .opset = 13, .in = {&x}, .n_in = 1};
  CHECK(call_op(&t, true) == LEDGE_OK);
  CHECK(shape_is(&t.out[0], 2, (int64_t[]){3, 2}));
  CHECK(floats_are(&t.out[0], (float[]){0, 3, 1, 4, 2, 5}, 6));
  free_outputs(&t);
  int64_t perm[2] = {0, 0};
  lg_attr pa = attr_ints("perm", perm, 2);
  t.attrs = &pa;
  t.n_attrs = 1;
  CHECK(call_op(&t, false) == LEDGE_ERR_INVALID_ARGUMENT);

  /* A 3-D transpose with a permutation that keeps no dim in place. */
  int64_t yd[3] = {2, 3, 4}, p3[3] = {2, 0, 1};
  lg_tensor y = tensor(LEDGE_FLOAT32, 3, yd, iota_f);
  lg_attr p3a = attr_ints("perm", p3, 3);
  op_call t3 = {.op = "Transpose", .opset = 13, .attrs = &p3a, .n_attrs = 1, .in = {&y}, .n_in = 1};
  CHECK(call_op(&t3, true) == LEDGE_OK);
  CHECK(shape_is(&t3.out[0], 3, (int64_t[]){4, 2, 3}));
  bool ok = true;
  for (int k = 0; k < 4; k++)
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 3; j++)
        ok &= ((float *)t3.out[0].data)[k * 6 + i * 3 + j] == (float)(i * 12 + j * 4 + k);
  CHECK(ok);
  free_outputs(&t3);

  int64_t ad[1] = {2}, bd[1] = {3};
  lg_tensor a = tensor(LEDGE_INT64, 1, ad, iota_i), b = tensor(LEDGE_INT64, 1, bd, iota_i + 10);
  lg_attr axis0 = attr_int("axis", 0);
  op_call c = {.op = "Concat", .opset = 13, .attrs = &axis0, .n_attrs = 1, .in = {&a, &b},
               .n_in = 2};
  CHECK(call_op(&c, true) == LEDGE_OK);
  CHECK(ints_are(&c.out[0], (int64_t[]){0, 1, 10, 11, 12}, 5));
  free_outputs(&c);

  /* Split [2,3] on axis 1 into [1,2] (opset 11 attribute). */
  int64_t split[2] = {1, 2};
  lg_attr sa[2] = {attr_int("axis", 1), attr_ints("split", split, 2)};
  op_call s = {.op = "Split", .opset = 11, .attrs = sa, .n_attrs = 2, .in = {&x}, .n_in = 1,
               .n_out = 2};
  CHECK(call_op(&s, true) == LEDGE_OK);
  CHECK(floats_are(&s.out[0], (float[]){0, 3}, 2));
  CHECK(floats_are(&s.out[1], (float[]){1, 2, 4, 5}, 4));
  free_outputs(&s);
  split[1] = 3; /* sums to 4 */
  CHECK(call_op(&s, false) == LEDGE_ERR_SHAPE);
}

static void test_slice(void) {
  int64_t xd[1] = {10}, one[1] = {1};
  lg_tensor x = tensor(LEDGE_FLOAT32, 1, xd, iota_f);
  int64_t starts = -1, ends = -100, axes = 0, steps = -3;
  lg_tensor s = tensor(LEDGE_INT64, 1, one, &starts), e = tensor(LEDGE_INT64, 1, one, &ends),
            a = tensor(LEDGE_INT64, 1, one, &axes), st = tensor(LEDGE_INT64, 1, one, &steps);
  op_call c = {.op = "Slice", .opset = 13, .in = {&x, &s, &e, &a, &st}, .n_in = 5};
  CHECK(call_op(&c, true) == LEDGE_OK);
  CHECK(floats_are(&c.out[0], (float[]){9, 6, 3, 0}, 4));
  free_outputs(&c);
  /* Huge values clamp; INT64_MIN step takes one element. */
  starts = INT64_MAX, ends = INT64_MIN, steps = INT64_MIN;
  CHECK(call_op(&c, true) == LEDGE_OK);
  CHECK(floats_are(&c.out[0], (float[]){9}, 1));
  free_outputs(&c);
  starts = 2, ends = INT64_MAX, steps = INT64_MAX;
  CHECK(call_op(&c, true) == LEDGE_OK);
  CHECK(floats_are(&c.out[0], (float[]){2}, 1));
  free_outputs(&c);
  steps = 0;
  CHECK(call_op(&c, false) == LEDGE_ERR_INVALID_ARGUMENT);

  /* Opset 9 attributes on a 2-D tensor. */
  int64_t yd[2] = {3, 4}, as[2] = {1, 0}, ae[2] = {3, 2};
  lg_tensor y = tensor(LEDGE_FLOAT32, 2, yd, iota_f);
  lg_attr attrs[2] = {attr_ints("starts", as, 2), attr_ints("ends", ae, 2)};
  op_call o = {.op = "Slice", .opset = 9, .attrs = attrs, .n_attrs = 2, .in = {&y}, .n_in = 1};
  CHECK(call_op(&o, true) == LEDGE_OK);
  CHECK(floats_are(&o.out[0], (float[]){4, 5, 8, 9}, 4));
  free_outputs(&o);
}

static void test_tile_depth_space(void) {
  int64_t xd[2] = {1, 2}, rd[1] = {2}, reps[2] = {2, 2};
  lg_tensor x = tensor(LEDGE_FLOAT32, 2, xd, iota_f), r = tensor(LEDGE_INT64, 1, rd, reps);
  op_call t = {.op = "Tile", .opset = 13, .in = {&x, &r}, .n_in = 2};
  CHECK(call_op(&t, true) == LEDGE_OK);
  CHECK(shape_is(&t.out[0], 2, (int64_t[]){2, 4}));
  CHECK(floats_are(&t.out[0], (float[]){0, 1, 0, 1, 0, 1, 0, 1}, 8));
  free_outputs(&t);
  reps[0] = -1;
  CHECK(call_op(&t, false) == LEDGE_ERR_INVALID_ARGUMENT);

  int64_t dd[4] = {1, 8, 1, 1};
  lg_tensor d = tensor(LEDGE_FLOAT32, 4, dd, iota_f);
  lg_attr da[2] = {attr_int("blocksize", 2), attr_string("mode", "DCR")};
  op_call c = {.op = "DepthToSpace", .opset = 13, .attrs = da, .n_attrs = 2, .in = {&d},
               .n_in = 1};
  CHECK(call_op(&c, true) == LEDGE_OK);
  CHECK(shape_is(&c.out[0], 4, (int64_t[]){1, 2, 2, 2}));
  CHECK(floats_are(&c.out[0], (float[]){0, 2, 4, 6, 1, 3, 5, 7}, 8));
  /* SpaceToDepth undoes DCR. */
  lg_attr sa = attr_int("blocksize", 2);
  op_call s = {.op = "SpaceToDepth", .opset = 13, .attrs = &sa, .n_attrs = 1, .in = {&c.out[0]},
               .n_in = 1};
  CHECK(call_op(&s, true) == LEDGE_OK);
  CHECK(shape_is(&s.out[0], 4, dd) && floats_are(&s.out[0], iota_f, 8));
  free_outputs(&s);
  free_outputs(&c);
  da[1].s = "CRD";
  CHECK(call_op(&c, true) == LEDGE_OK);
  CHECK(floats_are(&c.out[0], (float[]){0, 1, 2, 3, 4, 5, 6, 7}, 8));
  free_outputs(&c);
  da[0].i = 3; /* 8 channels do not hold 3x3 blocks */
  CHECK(call_op(&c, false) == LEDGE_ERR_SHAPE);
}

/* ---- gather.c ---- */

static void test_gather(void) {
  int64_t xd[2] = {3, 2}, id[1] = {2};
  int64_t idx[2] = {-1, 0};
  lg_tensor x = tensor(LEDGE_FLOAT32, 2, xd, iota_f), i = tensor(LEDGE_INT64, 1, id, idx);
  op_call g = {.op = "Gather", .opset = 13, .in = {&x, &i}, .n_in = 2};
  CHECK(call_op(&g, true) == LEDGE_OK);
  CHECK(floats_are(&g.out[0], (float[]){4, 5, 0, 1}, 4));
  free_outputs(&g);
  /* Out of range: an error at run time (indices unknown at infer). */
  idx[0] = 3;
  i.data = NULL;
  op_call late = {.op = "Gather", .opset = 13, .in = {&x, &i}, .n_in = 2};
  CHECK(call_op(&late, false) == LEDGE_OK);
  i.data = idx;
  CHECK(call_op(&late, true) == LEDGE_ERR_INVALID_ARGUMENT);
  free_outputs(&late);
  idx[0] = -4;
  CHECK(call_op(&g, false) == LEDGE_ERR_INVALID_ARGUMENT);

  /* GatherElements on axis 1. */
  int64_t ed[2] = {3, 1}, eidx[3] = {1, 0, -1};
  lg_tensor ei = tensor(LEDGE_INT64, 2, ed, eidx);
  lg_attr ax = attr_int("axis", 1);
  op_call ge = {.op = "GatherElements", .opset = 13, .attrs = &ax, .n_attrs = 1, .in = {&x, &ei},
                .n_in = 2};
  CHECK(call_op(&ge, true) == LEDGE_OK);
  CHECK(floats_are(&ge.out[0], (float[]){1, 2, 5}, 3));
  free_outputs(&ge);

  /* GatherND with batch_dims 1: data [2,2,2], indices [2,1,1]. */
  int64_t nd[3] = {2, 2, 2}, nid[3] = {2, 1, 1}, nidx[2] = {1, 0};
  lg_tensor n = tensor(LEDGE_FLOAT32, 3, nd, iota_f), ni = tensor(LEDGE_INT64, 3, nid, nidx);
  lg_attr bd = attr_int("batch_dims", 1);
  op_call gn = {.op = "GatherND", .opset = 13, .attrs = &bd, .n_attrs = 1, .in = {&n, &ni},
                .n_in = 2};
  CHECK(call_op(&gn, true) == LEDGE_OK);
  CHECK(shape_is(&gn.out[0], 3, (int64_t[]){2, 1, 2}));
  CHECK(floats_are(&gn.out[0], (float[]){2, 3, 4, 5}, 4));
  free_outputs(&gn);

  /* ScatterND with add and a duplicate index. */
  int64_t sd[1] = {4}, sid[2] = {2, 1}, sidx[2] = {1, 1}, ud[1] = {2};
  float data[4] = {1, 1, 1, 1}, upd[2] = {2, 3};
  lg_tensor sdt = tensor(LEDGE_FLOAT32, 1, sd, data), si = tensor(LEDGE_INT64, 2, sid, sidx),
            su = tensor(LEDGE_FLOAT32, 1, ud, upd);
  lg_attr red = attr_string("reduction", "add");
  op_call sn = {.op = "ScatterND", .opset = 16, .attrs = &red, .n_attrs = 1,
                .in = {&sdt, &si, &su}, .n_in = 3};
  CHECK(call_op(&sn, true) == LEDGE_OK);
  CHECK(floats_are(&sn.out[0], (float[]){1, 6, 1, 1}, 4));
  free_outputs(&sn);
  sidx[1] = 4;
  CHECK(call_op(&sn, true) == LEDGE_ERR_INVALID_ARGUMENT);
  free_outputs(&sn);

  /* ScatterElements (no reduction) with a negative index. */
  int64_t xd1[2] = {1, 3}, eid1[2] = {1, 2}, ei1[2] = {-1, 0};
  float sdata[3] = {0, 0, 0}, su1[2] = {7, 8};
  lg_tensor sx = tensor(LEDGE_FLOAT32, 2, xd1, sdata), sei = tensor(LEDGE_INT64, 2, eid1, ei1),
            seu = tensor(LEDGE_FLOAT32, 2, eid1, su1);
  op_call se = {.op = "ScatterElements", .opset = 13, .attrs = &ax, .n_attrs = 1,
                .in = {&sx, &sei, &seu}, .n_in = 3};
  CHECK(call_op(&se, true) == LEDGE_OK);
  CHECK(floats_are(&se.out[0], (float[]){8, 0, 7}, 3));
  free_outputs(&se);
}

/* ---- pad.c ---- */

static void test_pad(void) {
  int64_t xd[1] = {3}, pd[1] = {2};
  float x3[3] = {1, 2, 3};
  int64_t pads[2] = {2, 2};
  lg_tensor x = tensor(LEDGE_FLOAT32, 1, xd, x3), p = tensor(LEDGE_INT64, 1, pd, pads);
  lg_attr mode = attr_string("mode", "reflect");
  op_call c = {.op = "Pad", .opset = 13, .attrs = &mode, .n_attrs = 1, .in = {&x, &p}, .n_in = 2};
  CHECK(call_op(&c, true) == LEDGE_OK);
  CHECK(floats_are(&c.out[0], (float[]){3, 2, 1, 2, 3, 2, 1}, 7));
  free_outputs(&c);
  mode.s = "edge";
  CHECK(call_op(&c, true) == LEDGE_OK);
  CHECK(floats_are(&c.out[0], (float[]){1, 1, 1, 2, 3, 3, 3}, 7));
  free_outputs(&c);
  /* Constant with a value input; then a negative pad that crops. */
  float v = 9;
  lg_tensor val = tensor(LEDGE_FLOAT32, 0, NULL, &v);
  mode.s = "constant";
  pads[0] = 1;
  pads[1] = -1;
  c.in[2] = &val;
  c.n_in = 3;
  CHECK(call_op(&c, true) == LEDGE_OK);
  CHECK(floats_are(&c.out[0], (float[]){9, 1, 2}, 3));
  free_outputs(&c);
  pads[1] = -5; /* crops more than there is */
  CHECK(call_op(&c, false) == LEDGE_ERR_SHAPE);

  /* Opset 2: pads and value as attributes, 2-D. */
  int64_t yd[2] = {2, 2}, ap[4] = {0, 1, 1, 0};
  float y4[4] = {1, 2, 3, 4};
  lg_tensor y = tensor(LEDGE_FLOAT32, 2, yd, y4);
  lg_attr attrs[2] = {attr_ints("pads", ap, 4), attr_float("value", -1)};
  op_call o = {.op = "Pad", .opset = 2, .attrs = attrs, .n_attrs = 2, .in = {&y}, .n_in = 1};
  CHECK(call_op(&o, true) == LEDGE_OK);
  CHECK(floats_are(&o.out[0], (float[]){-1, 1, 2, -1, 3, 4, -1, -1, -1}, 9));
  free_outputs(&o);
}

/* ---- resize.c ---- */

static void test_resize(void) {
  int64_t xd[4] = {1, 1, 2, 2}, sd[1] = {4}, empty[1] = {0};
  float x4[4] = {1, 2, 3, 4}, scales[4] = {1, 1, 2, 2};
  lg_tensor x = tensor(LEDGE_FLOAT32, 4, xd, x4), s = tensor(LEDGE_FLOAT32, 1, sd, scales);
  lg_tensor roi = tensor(LEDGE_FLOAT32, 1, empty, NULL);
  lg_attr nearest = attr_string("mode", "nearest");
  op_call c = {.op = "Resize", .opset = 13, .attrs = &nearest, .n_attrs = 1,
               .in = {&x, &roi, &s}, .n_in = 3};
  CHECK(call_op(&c, true) == LEDGE_OK);
  CHECK(shape_is(&c.out[0], 4, (int64_t[]){1, 1, 4, 4}));
  CHECK(floats_are(&c.out[0],
                   (float[]){1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}, 16));
  free_outputs(&c);

  /* Linear, align_corners, to sizes [1,1,3,3]: the centre is the mean. */
  int64_t sizes[4] = {1, 1, 3, 3};
  lg_tensor sz = tensor(LEDGE_INT64, 1, sd, sizes);
  lg_attr lin[2] = {attr_string("mode", "linear"),
                    attr_string("coordinate_transformation_mode", "align_corners")};
  op_call l = {.op = "Resize", .opset = 13, .attrs = lin, .n_attrs = 2,
               .in = {&x, &roi, NULL, &sz}, .n_in = 4};
  CHECK(call_op(&l, true) == LEDGE_OK);
  CHECK(floats_are(&l.out[0], (float[]){1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4}, 9));
  free_outputs(&l);

  /* Upsample-7 nearest with a scales attribute. */
  float up[4] = {1, 1, 1, 2};
  lg_attr ua[2] = {attr_string("mode", "nearest"), attr_floats("scales", up, 4)};
  op_call u = {.op = "Upsample", .opset = 7, .attrs = ua, .n_attrs = 2, .in = {&x}, .n_in = 1};
  CHECK(call_op(&u, true) == LEDGE_OK);
  CHECK(floats_are(&u.out[0], (float[]){1, 1, 2, 2, 3, 3, 4, 4}, 8));
  free_outputs(&u);

  /* Both scales and sizes, or a negative scale, are errors. */
  l.in[2] = &s;
  CHECK(call_op(&l, false) == LEDGE_ERR_INVALID_ARGUMENT);
  scales[2] = -1;
  CHECK(call_op(&c, false) == LEDGE_ERR_INVALID_ARGUMENT);
}

/* ---- Hostile inputs ----
 * Random small shapes and random (often invalid) integer and float inputs
 * for every operator: each call must either fail with an error or produce
 * its output without touching memory outside the tensors (the sanitizer
 * build checks the latter). Deterministic, so a failure reproduces. */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static int64_t rnd(int64_t lo, int64_t hi) { /* inclusive */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return lo + (int64_t)(rng_state % (uint64_t)(hi - lo + 1));
}

static void test_hostile(void) {
  static const char *const ops[] = {
      "Reshape", "Slice", "Pad", "Gather", "Tile", "Expand", "Transpose", "Split",
      "Resize", "DepthToSpace", "SpaceToDepth", "Squeeze", "Unsqueeze", "Range",
      "ConstantOfShape", "GatherElements", "GatherND", "ScatterND", "ScatterElements",
      "Trilu", "Concat", "Flatten", "Shape", "Upsample", "EyeLike", "ReverseSequence",
      "Compress", "OneHot"};
  static float data[4][1024];
  static int64_t ints[4][16];
  static float floats[16];
  for (int k = 0; k < 1024; k++)
    for (int j = 0; j < 4; j++) data[j][k] = (float)k;
  for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
    int ok = 0;
    for (int iter = 0; iter < 2000; iter++) {
      lg_tensor t[6];
      int64_t dims[6][LEDGE_MAX_RANK];
      op_call c = {.op = ops[o], .opset = (int)rnd(7, 18)};
      c.n_in = (int)rnd(1, 5);
      for (int i = 0; i < c.n_in; i++) {
        int rank = (int)rnd(0, 4);
        for (int d = 0; d < rank; d++) dims[i][d] = rnd(0, 4);
        if (i == 0 || rnd(0, 3) == 0) {
          t[i] = tensor(LEDGE_FLOAT32, rank, dims[i], data[i % 4]);
        } else {
          /* A short integer list (shape-like), or random floats for scales. */
          int64_t n = rnd(0, 8);
          int64_t one[1] = {n};
          for (int j = 0; j < 16; j++) {
            ints[i % 4][j] = rnd(-3, 5);
            floats[j] = (float)rnd(-2, 8) / 2.0f;
          }
          bool as_float = !strcmp(ops[o], "Resize") && rnd(0, 1);
          t[i] = tensor(as_float ? LEDGE_FLOAT32 : LEDGE_INT64, rnd(0, 2) ? 1 : 0, one,
                        as_float ? (void *)floats : (void *)ints[i % 4]);
          if (t[i].rank == 0) t[i].dims[0] = 0;
          if (t[i].rank == 0 && !as_float) ints[i % 4][0] = rnd(-3, 3);
        }
        c.in[i] = rnd(0, 9) ? &t[i] : NULL;
      }
      c.in[0] = &t[0];
      /* Shape the inputs some operators need, so that their run is reached. */
      static int64_t index_data[1024];
      for (int j = 0; j < 1024; j++) index_data[j] = rnd(-5, 5);
      if (!strcmp(ops[o], "Range")) {
        bool f = rnd(0, 1);
        c.n_in = 3;
        for (int i = 0; i < 3; i++) {
          t[i] = tensor(f ? LEDGE_FLOAT32 : LEDGE_INT64, 0, NULL,
                        f ? (void *)&floats[i] : (void *)&ints[i][0]);
          c.in[i] = &t[i];
        }
      } else if (strstr(ops[o], "Scatter") || strstr(ops[o], "GatherElements") ||
                 strstr(ops[o], "GatherND")) {
        t[1] = tensor(LEDGE_INT64, t[0].rank, t[0].dims, index_data);
        if (t[0].rank > 0 && rnd(0, 1)) t[1].dims[t[0].rank - 1] = rnd(1, 3);
        t[2] = tensor(LEDGE_FLOAT32, t[1].rank, t[1].dims, data[2]);
        if (strstr(ops[o], "ND") && t[1].rank > 0) t[2].rank = t[1].rank - 1;
        c.in[1] = &t[1];
        c.in[2] = &t[2];
        c.n_in = 3;
      }
      lg_attr attrs[4];
      int64_t list[4] = {rnd(-4, 4), rnd(-4, 4), rnd(-4, 4), rnd(-4, 4)};
      attrs[0] = attr_int("axis", rnd(-5, 5));
      attrs[1] = attr_ints(rnd(0, 1) ? "perm" : "axes", list, (int)rnd(0, 4));
      attrs[2] = attr_int("blocksize", rnd(-1, 3));
      static const char *const modes[] = {"linear", "reflect", "edge", "nearest", "cubic", "CRD"};
      attrs[3] = attr_string("mode", modes[rnd(0, 5)]);
      c.attrs = attrs;
      c.n_attrs = (int)rnd(0, 4);
      c.n_out = (int)rnd(1, 3);
      ok += call_op(&c, true) == LEDGE_OK;
      free_outputs(&c);
    }
    if (getenv("LEDGE_TEST_VERBOSE")) printf("hostile %s: %d of 2000 ran\n", ops[o], ok);
  }
}

int main(void) {
  for (int i = 0; i < 64; i++) {
    iota_f[i] = (float)i;
    iota_i[i] = i;
  }
  test_reshape();
  test_squeeze_unsqueeze();
  test_shape_size_flatten();
  test_constants();
  test_expand_dropout();
  test_transpose_concat_split();
  test_slice();
  test_tile_depth_space();
  test_gather();
  test_pad();
  test_resize();
  test_hostile();
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("test_ops_layout: all checks passed\n");
  return 0;
}
