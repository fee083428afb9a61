/*
 * unary.c: elementwise operators with one input: activations, math
 * functions, rounding, logic and the NaN / Inf tests, plus Clip.
 *
 * Table-driven: each operator is one row naming a loop per dtype. The float
 * loops are written once as an expression in x (and the attributes alpha,
 * beta, gamma) and instantiated for float and double; <tgmath.h> makes exp,
 * log, tanh... pick the float or double function from the argument type.
 * float16 runs through the float32 loop in small blocks. Large tensors are
 * split over the thread pool.
 */
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "ops/op.h"
#include "runtime/vmath.h"

#define UN_CHUNK 16384       /* elements per parallel work item */
#define UN_PARALLEL_MIN 32768 /* below this many elements, run serially */
#define UN_HALF_BLOCK 256    /* float16 is converted in blocks of this size */
#define N_DTYPES 14          /* ledge_dtype values are 0..13 */

typedef struct unary_params {
  float alpha, beta, gamma;
  int detect_positive, detect_negative; /* IsInf */
} unary_params;

typedef void (*unary_loop)(const void *x, void *y, int64_t n, const unary_params *p);

/* A float loop: EXPR computes the output from x of type T (float or double)
 * and may use alpha, beta and gamma, already converted to T. */
#define FLOAT_LOOP(fname, TI, TO, EXPR)                                                            \
  static void fname(const void *x_, void *y_, int64_t n, const unary_params *p) {                 \
    typedef TI T;                                                                                  \
    const T *xs = x_;                                                                              \
    TO *ys = y_;                                                                                   \
    const T alpha = (T)p->alpha, beta = (T)p->beta, gamma = (T)p->gamma;                           \
    (void)alpha, (void)beta, (void)gamma;                                                          \
    for (int64_t i = 0; i < n; i++) {                                                              \
      const T x = xs[i];                                                                           \
      ys[i] = (TO)(EXPR);                                                                          \
    }                                                                                              \
  }
#define DEF_FLOAT(op, EXPR)                                                                        \
  FLOAT_LOOP(op##_f32, float, float, EXPR)                                                         \
  FLOAT_LOOP(op##_f64, double, double, EXPR)

/* An integer loop: EXPR in x of type T. */
#define INT_LOOP(fname, TI, EXPR)                                                                  \
  static void fname(const void *x_, void *y_, int64_t n, const unary_params *p) {                 \
    typedef TI T;                                                                                  \
    const T *xs = x_;                                                                              \
    T *ys = y_;                                                                                    \
    for (int64_t i = 0; i < n; i++) {                                                              \
      const T x = xs[i];                                                                           \
      ys[i] = (T)(EXPR);                                                                           \
    }                                                                                              \
  }
#define DEF_SINT(op, EXPR)                                                                         \
  INT_LOOP(op##_i8, int8_t, EXPR)                                                                  \
  INT_LOOP(op##_i16, int16_t, EXPR)                                                                \
  INT_LOOP(op##_i32, int32_t, EXPR)                                                                \
  INT_LOOP(op##_i64, int64_t, EXPR)
#define DEF_UINT(op, EXPR)                                                                         \
  INT_LOOP(op##_u8, uint8_t, EXPR)                                                                 \
  INT_LOOP(op##_u16, uint16_t, EXPR)                                                               \
  INT_LOOP(op##_u32, uint32_t, EXPR)                                                               \
  INT_LOOP(op##_u64, uint64_t, EXPR)

#define ONE ((T)1)
#define ZERO ((T)0)
/* Negation that wraps for the most negative integer instead of overflowing. */
#define WRAP_NEG(v) (T)(0 - (uint64_t)(v))

/* Softplus without overflow: log(1 + e^x) = max(x, 0) + log1p(e^-|x|). */
#define SOFTPLUS(v) ((v) > ZERO ? (v) : ZERO) + log1p(exp(-fabs(v)))
/* Sigmoid: for very negative x, exp(-x) overflows to inf and the result is
 * the correct 0, so the plain formula needs no branch. */
#define SIGMOID(v) (ONE / (ONE + exp(-(v))))
#define CLAMP01(v) ((v) < ZERO ? ZERO : ((v) > ONE ? ONE : (v)))

DEF_FLOAT(relu, x > ZERO ? x : ZERO)
DEF_SINT(relu, x > 0 ? x : 0)
DEF_FLOAT(leaky_relu, x >= ZERO ? x : alpha * x)
DEF_FLOAT(sigmoid, SIGMOID(x))
DEF_FLOAT(hard_sigmoid, CLAMP01(alpha * x + beta))
DEF_FLOAT(hard_swish, x * CLAMP01(x / (T)6 + (T)0.5))
DEF_FLOAT(tanh_, tanh(x))
DEF_FLOAT(elu, x >= ZERO ? x : alpha * expm1(x))
DEF_FLOAT(selu, x > ZERO ? gamma * x : gamma * (alpha * exp(x) - alpha))
DEF_FLOAT(celu, (x > ZERO ? x : ZERO) + (x < ZERO ? alpha * expm1(x / alpha) : ZERO))
DEF_FLOAT(softplus, SOFTPLUS(x))
DEF_FLOAT(softsign, x / (ONE + fabs(x)))
DEF_FLOAT(thresholded_relu, x > alpha ? x : ZERO)
DEF_FLOAT(mish, x * tanh(SOFTPLUS(x)))
/* Shrink: alpha is lambd, beta is bias. */
DEF_FLOAT(shrink, x < -alpha ? x + beta : (x > alpha ? x - beta : ZERO))
DEF_FLOAT(erf_, erf(x))
DEF_FLOAT(sqrt_, sqrt(x))
DEF_FLOAT(exp_, exp(x))
DEF_FLOAT(log_, log(x))
DEF_FLOAT(abs_, fabs(x))
DEF_SINT(abs_, x < 0 ? WRAP_NEG(x) : x)
DEF_UINT(abs_, x)
DEF_FLOAT(neg, -x)
DEF_SINT(neg, WRAP_NEG(x))
DEF_FLOAT(reciprocal, ONE / x)
DEF_FLOAT(floor_, floor(x))
DEF_FLOAT(ceil_, ceil(x))
DEF_FLOAT(round_, rint(x)) /* the default rounding mode rounds halves to even */
/* Sign keeps NaN (and returns zero for either zero). */
DEF_FLOAT(sign, x > ZERO ? ONE : (x < ZERO ? -ONE : x))
DEF_SINT(sign, x > 0 ? 1 : (x < 0 ? -1 : 0))
DEF_UINT(sign, x > 0 ? 1 : 0)
DEF_FLOAT(sin_, sin(x))
DEF_FLOAT(cos_, cos(x))
DEF_FLOAT(tan_, tan(x))
DEF_FLOAT(asin_, asin(x))
DEF_FLOAT(acos_, acos(x))
DEF_FLOAT(atan_, atan(x))
DEF_FLOAT(sinh_, sinh(x))
DEF_FLOAT(cosh_, cosh(x))
DEF_FLOAT(asinh_, asinh(x))
DEF_FLOAT(acosh_, acosh(x))
DEF_FLOAT(atanh_, atanh(x))

/* Bool outputs. */
FLOAT_LOOP(isnan_f32, float, uint8_t, isnan(x))
FLOAT_LOOP(isnan_f64, double, uint8_t, isnan(x))
#define IS_INF(v) (isinf(v) && ((v) > 0 ? p->detect_positive : p->detect_negative))
FLOAT_LOOP(isinf_f32, float, uint8_t, IS_INF(x))
FLOAT_LOOP(isinf_f64, double, uint8_t, IS_INF(x))
INT_LOOP(not_b, uint8_t, !x)

#define TABLE_FLOAT(op) [LEDGE_FLOAT32] = op##_f32, [LEDGE_FLOAT64] = op##_f64
#define TABLE_SINT(op)                                                                             \
  [LEDGE_INT8] = op##_i8, [LEDGE_INT16] = op##_i16, [LEDGE_INT32] = op##_i32,                      \
  [LEDGE_INT64] = op##_i64
#define TABLE_UINT(op)                                                                             \
  [LEDGE_UINT8] = op##_u8, [LEDGE_UINT16] = op##_u16, [LEDGE_UINT32] = op##_u32,                   \
  [LEDGE_UINT64] = op##_u64

typedef struct unary_op {
  const char *name;
  unary_loop loops[N_DTYPES]; /* by input dtype; float16 uses the float32 loop */
  bool bool_out;              /* output dtype is bool rather than the input's */
  float alpha, beta, gamma;   /* attribute defaults */
} unary_op;

#define FLOAT_OP(name, op) {name, {TABLE_FLOAT(op)}, false, 0, 0, 0}
#define FLOAT_OP_ATTRS(name, op, a, b, g) {name, {TABLE_FLOAT(op)}, false, a, b, g}

static const unary_op unary_ops[] = {
    {"Relu", {TABLE_FLOAT(relu), TABLE_SINT(relu)}, false, 0, 0, 0},
    FLOAT_OP_ATTRS("LeakyRelu", leaky_relu, 0.01f, 0, 0),
    FLOAT_OP("Sigmoid", sigmoid),
    FLOAT_OP_ATTRS("HardSigmoid", hard_sigmoid, 0.2f, 0.5f, 0),
    FLOAT_OP("HardSwish", hard_swish),
    FLOAT_OP("Tanh", tanh_),
    FLOAT_OP_ATTRS("Elu", elu, 1.0f, 0, 0),
    FLOAT_OP_ATTRS("Selu", selu, 1.67326319217681884765625f, 0, 1.05070102214813232421875f),
    FLOAT_OP_ATTRS("Celu", celu, 1.0f, 0, 0),
    FLOAT_OP("Softplus", softplus),
    FLOAT_OP("Softsign", softsign),
    FLOAT_OP_ATTRS("ThresholdedRelu", thresholded_relu, 1.0f, 0, 0),
    FLOAT_OP("Mish", mish),
    FLOAT_OP_ATTRS("Shrink", shrink, 0.5f, 0, 0),
    FLOAT_OP("Erf", erf_),
    FLOAT_OP("Sqrt", sqrt_),
    FLOAT_OP("Exp", exp_),
    FLOAT_OP("Log", log_),
    {"Abs", {TABLE_FLOAT(abs_), TABLE_SINT(abs_), TABLE_UINT(abs_)}, false, 0, 0, 0},
    {"Neg", {TABLE_FLOAT(neg), TABLE_SINT(neg)}, false, 0, 0, 0},
    FLOAT_OP("Reciprocal", reciprocal),
    FLOAT_OP("Floor", floor_),
    FLOAT_OP("Ceil", ceil_),
    FLOAT_OP("Round", round_),
    {"Sign", {TABLE_FLOAT(sign), TABLE_SINT(sign), TABLE_UINT(sign)}, false, 0, 0, 0},
    FLOAT_OP("Sin", sin_),
    FLOAT_OP("Cos", cos_),
    FLOAT_OP("Tan", tan_),
    FLOAT_OP("Asin", asin_),
    FLOAT_OP("Acos", acos_),
    FLOAT_OP("Atan", atan_),
    FLOAT_OP("Sinh", sinh_),
    FLOAT_OP("Cosh", cosh_),
    FLOAT_OP("Asinh", asinh_),
    FLOAT_OP("Acosh", acosh_),
    FLOAT_OP("Atanh", atanh_),
    {"IsNaN", {TABLE_FLOAT(isnan)}, true, 0, 0, 0},
    {"IsInf", {TABLE_FLOAT(isinf)}, true, 0, 0, 0},
    {"Not", {[LEDGE_BOOL] = not_b}, false, 0, 0, 0},
};

static const unary_op *find_unary_op(const char *name) {
  for (size_t i = 0; i < sizeof unary_ops / sizeof unary_ops[0]; i++)
    if (!strcmp(unary_ops[i].name, name)) return &unary_ops[i];
  return NULL;
}

static unary_loop find_loop(const unary_op *op, ledge_dtype dt) {
  if (dt == LEDGE_FLOAT16) dt = LEDGE_FLOAT32;
  return (unsigned)dt < N_DTYPES ? op->loops[dt] : NULL;
}

/* ---- The parallel driver ---- */

typedef struct unary_task {
  unary_loop loop;
  unary_params params;
  const void *x;
  void *y;
  size_t x_size, y_size;
  int64_t count;
  bool half_in, half_out; /* convert float16 around a float32 loop */
  bool vector_sigmoid;     /* float32 Sigmoid: lg_vsigmoid instead of the loop */
} unary_task;

static void unary_range(void *ctx, int64_t begin, int64_t end) {
  const unary_task *t = ctx;
  int64_t first = begin * UN_CHUNK;
  int64_t last = end * UN_CHUNK < t->count ? end * UN_CHUNK : t->count;
  if (!t->half_in) {
    t->loop((const char *)t->x + (size_t)first * t->x_size,
            (char *)t->y + (size_t)first * t->y_size, last - first, &t->params);
    return;
  }
  float xs[UN_HALF_BLOCK], ys[UN_HALF_BLOCK];
  const uint16_t *xh = t->x;
  for (int64_t start = first; start < last; start += UN_HALF_BLOCK) {
    int64_t len = last - start < UN_HALF_BLOCK ? last - start : UN_HALF_BLOCK;
    for (int64_t i = 0; i < len; i++) xs[i] = lg_half_to_float(xh[start + i]);
    if (t->half_out) {
      t->loop(xs, ys, len, &t->params);
      for (int64_t i = 0; i < len; i++) ((uint16_t *)t->y)[start + i] = lg_float_to_half(ys[i]);
    } else { /* bool output: the loop writes bytes directly */
      t->loop(xs, (char *)t->y + (size_t)start * t->y_size, len, &t->params);
    }
  }
}

static void unary_execute(unary_task *t, lg_threadpool *pool) {
  if (t->count <= 0) return;
  int64_t chunks = (t->count + UN_CHUNK - 1) / UN_CHUNK;
  if (t->count < UN_PARALLEL_MIN) pool = NULL;
  lg_parallel_for(pool, chunks, unary_range, t);
}

/* ---- The table-driven operators ---- */

static lg_status check_shape(const lg_node *node, const lg_tensor *x) {
  if (!x) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': input 0 is missing",
                          node->op_type, node->name);
  if (x->rank < 0 || x->rank > LEDGE_MAX_RANK || lg_tensor_count(x) < 0)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': input has an invalid shape", node->op_type,
                    node->name);
  return LEDGE_OK;
}

/* Everything about a run but the buffers is fixed at plan time: infer
 * resolves the op, its loop and attributes once into node->state (a
 * unary_task template), and run fills in the data pointers. */
static lg_status unary_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  const unary_op *op = find_unary_op(node->op_type);
  if (!op) return lg_error(LEDGE_ERR_INTERNAL, "unary: unknown op %s", node->op_type);
  LG_TRY(lg_check_io(node, out, 1, 1));
  LG_TRY(check_shape(node, in[0]));
  ledge_dtype dt = in[0]->dtype;
  unary_loop loop = find_loop(op, dt);
  if (!loop)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': dtype %s is not supported",
                    node->op_type, node->name, ledge_dtype_name(dt));
  if (!out[0]) return LEDGE_OK;
  out[0]->dtype = op->bool_out ? LEDGE_BOOL : dt;
  lg_tensor_set_shape(out[0], in[0]->rank, in[0]->dims);
  unary_task *t = calloc(1, sizeof *t);
  if (!t) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  t->loop = loop;
  if (!strcmp(op->name, "Shrink")) {
    t->params.alpha = lg_attr_float(node, "lambd", op->alpha);
    t->params.beta = lg_attr_float(node, "bias", op->beta);
  } else {
    t->params.alpha = lg_attr_float(node, "alpha", op->alpha);
    t->params.beta = lg_attr_float(node, "beta", op->beta);
    t->params.gamma = lg_attr_float(node, "gamma", op->gamma);
  }
  t->params.detect_positive = (int)lg_attr_int(node, "detect_positive", 1);
  t->params.detect_negative = (int)lg_attr_int(node, "detect_negative", 1);
  t->x_size = ledge_dtype_size(dt);
  t->y_size = ledge_dtype_size(out[0]->dtype);
  t->count = lg_tensor_count(in[0]);
  t->half_in = dt == LEDGE_FLOAT16;
  t->half_out = out[0]->dtype == LEDGE_FLOAT16;
  t->vector_sigmoid = dt == LEDGE_FLOAT32 && !strcmp(op->name, "Sigmoid"); /* the hot one */
  node->state = t;
  return LEDGE_OK;
}

static void sigmoid_range(void *ctx, int64_t begin, int64_t end) {
  const unary_task *t = ctx;
  int64_t first = begin * UN_CHUNK, last = end * UN_CHUNK < t->count ? end * UN_CHUNK : t->count;
  lg_vsigmoid((const float *)t->x + first, (float *)t->y + first, last - first);
}

static lg_status unary_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                           const lg_exec *exec) {
  if (!out[0] || !node->state) return LEDGE_OK;
  unary_task t = *(const unary_task *)node->state;
  t.x = in[0]->data;
  t.y = out[0]->data;
  if (t.vector_sigmoid) {
    lg_threadpool *pool = t.count < UN_PARALLEL_MIN || !exec ? NULL : exec->pool;
    lg_parallel_for(pool, (t.count + UN_CHUNK - 1) / UN_CHUNK, sigmoid_range, &t);
    return LEDGE_OK;
  }
  unary_execute(&t, exec ? exec->pool : NULL);
  return LEDGE_OK;
}

/* ---- Clip ----
 * Before opset 11 the bounds are float attributes; from 11 they are optional
 * scalar inputs of the input's dtype (integers included). A missing bound
 * does not clip. */

typedef void (*clip_loop)(const void *x, void *y, int64_t n, const void *lo, const void *hi);

#define CLIP_LOOP(fname, T)                                                                        \
  static void fname(const void *x_, void *y_, int64_t n, const void *lo_, const void *hi_) {      \
    const T *x = x_;                                                                               \
    T *y = y_;                                                                                     \
    const T lo = lo_ ? *(const T *)lo_ : (T)0, hi = hi_ ? *(const T *)hi_ : (T)0;                  \
    for (int64_t i = 0; i < n; i++) {                                                              \
      T v = x[i];                                                                                  \
      if (lo_ && v < lo) v = lo;                                                                   \
      if (hi_ && v > hi) v = hi;                                                                   \
      y[i] = v;                                                                                    \
    }                                                                                              \
  }
CLIP_LOOP(clip_f32, float)
CLIP_LOOP(clip_f64, double)
CLIP_LOOP(clip_i8, int8_t)
CLIP_LOOP(clip_i16, int16_t)
CLIP_LOOP(clip_i32, int32_t)
CLIP_LOOP(clip_i64, int64_t)
CLIP_LOOP(clip_u8, uint8_t)
CLIP_LOOP(clip_u16, uint16_t)
CLIP_LOOP(clip_u32, uint32_t)
CLIP_LOOP(clip_u64, uint64_t)

static void clip_f16(const void *x_, void *y_, int64_t n, const void *lo_, const void *hi_) {
  const uint16_t *x = x_;
  uint16_t *y = y_;
  float lo = lo_ ? lg_half_to_float(*(const uint16_t *)lo_) : 0;
  float hi = hi_ ? lg_half_to_float(*(const uint16_t *)hi_) : 0;
  for (int64_t i = 0; i < n; i++) {
    float v = lg_half_to_float(x[i]);
    if (lo_ && v < lo) v = lo;
    if (hi_ && v > hi) v = hi;
    y[i] = lg_float_to_half(v);
  }
}

static const clip_loop clip_loops[N_DTYPES] = {
    [LEDGE_FLOAT32] = clip_f32, [LEDGE_FLOAT64] = clip_f64, [LEDGE_FLOAT16] = clip_f16,
    [LEDGE_INT8] = clip_i8,     [LEDGE_INT16] = clip_i16,   [LEDGE_INT32] = clip_i32,
    [LEDGE_INT64] = clip_i64,   [LEDGE_UINT8] = clip_u8,    [LEDGE_UINT16] = clip_u16,
    [LEDGE_UINT32] = clip_u32,  [LEDGE_UINT64] = clip_u64,
};

static lg_status clip_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 1, node->opset < 11 ? 1 : 3));
  LG_TRY(check_shape(node, in[0]));
  ledge_dtype dt = in[0]->dtype;
  if ((unsigned)dt >= N_DTYPES || !clip_loops[dt])
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': dtype %s is not supported",
                    node->op_type, node->name, ledge_dtype_name(dt));
  if (node->opset < 11) {
    if (dt != LEDGE_FLOAT32 && dt != LEDGE_FLOAT64 && dt != LEDGE_FLOAT16)
      return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': dtype %s needs opset 11 or later",
                      node->op_type, node->name, ledge_dtype_name(dt));
  } else {
    for (int k = 1; k < 3 && k < node->n_in; k++) {
      if (!in[k]) continue;
      if (in[k]->dtype != dt)
        return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': bound %d has dtype %s, not %s",
                        node->op_type, node->name, k, ledge_dtype_name(in[k]->dtype),
                        ledge_dtype_name(dt));
      if (lg_tensor_count(in[k]) != 1)
        return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': bound %d must be a scalar",
                        node->op_type, node->name, k);
    }
  }
  if (out[0]) {
    out[0]->dtype = dt;
    lg_tensor_set_shape(out[0], in[0]->rank, in[0]->dims);
  }
  return LEDGE_OK;
}

typedef struct clip_task {
  clip_loop loop;
  const void *x, *lo, *hi;
  void *y;
  size_t size;
  int64_t count;
} clip_task;

static void clip_range(void *ctx, int64_t begin, int64_t end) {
  const clip_task *t = ctx;
  int64_t first = begin * UN_CHUNK;
  int64_t last = end * UN_CHUNK < t->count ? end * UN_CHUNK : t->count;
  t->loop((const char *)t->x + (size_t)first * t->size, (char *)t->y + (size_t)first * t->size,
          last - first, t->lo, t->hi);
}

static lg_status clip_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                          const lg_exec *exec) {
  if (!out[0]) return LEDGE_OK;
  ledge_dtype dt = in[0]->dtype;
  clip_task t = {.loop = (unsigned)dt < N_DTYPES ? clip_loops[dt] : NULL,
                 .x = in[0]->data, .y = out[0]->data, .size = ledge_dtype_size(dt),
                 .count = lg_tensor_count(in[0])};
  if (!t.loop) return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': dtype %s is not supported",
                               node->op_type, node->name, ledge_dtype_name(dt));
  /* Attribute bounds, converted to the input dtype (a float type here). */
  float lo_f, hi_f;
  double lo_d, hi_d;
  uint16_t lo_h, hi_h;
  if (node->opset < 11) {
    lo_f = lg_attr_float(node, "min", -INFINITY);
    hi_f = lg_attr_float(node, "max", INFINITY);
    lo_d = lo_f, hi_d = hi_f;
    lo_h = lg_float_to_half(lo_f), hi_h = lg_float_to_half(hi_f);
    t.lo = dt == LEDGE_FLOAT32 ? (const void *)&lo_f
           : dt == LEDGE_FLOAT64 ? (const void *)&lo_d
                                 : (const void *)&lo_h;
    t.hi = dt == LEDGE_FLOAT32 ? (const void *)&hi_f
           : dt == LEDGE_FLOAT64 ? (const void *)&hi_d
                                 : (const void *)&hi_h;
  } else {
    t.lo = node->n_in > 1 && in[1] && lg_tensor_count(in[1]) == 1 ? in[1]->data : NULL;
    t.hi = node->n_in > 2 && in[2] && lg_tensor_count(in[2]) == 1 ? in[2]->data : NULL;
  }
  if (t.count <= 0) return LEDGE_OK;
  lg_threadpool *pool = t.count < UN_PARALLEL_MIN || !exec ? NULL : exec->pool;
  lg_parallel_for(pool, (t.count + UN_CHUNK - 1) / UN_CHUNK, clip_range, &t);
  return LEDGE_OK;
}

const lg_op_def lg_ops_unary[] = {
    {"Relu", "", unary_infer, unary_run, false},
    {"LeakyRelu", "", unary_infer, unary_run, false},
    {"Sigmoid", "", unary_infer, unary_run, false},
    {"HardSigmoid", "", unary_infer, unary_run, false},
    {"HardSwish", "", unary_infer, unary_run, false},
    {"Tanh", "", unary_infer, unary_run, false},
    {"Elu", "", unary_infer, unary_run, false},
    {"Selu", "", unary_infer, unary_run, false},
    {"Celu", "", unary_infer, unary_run, false},
    {"Softplus", "", unary_infer, unary_run, false},
    {"Softsign", "", unary_infer, unary_run, false},
    {"ThresholdedRelu", "", unary_infer, unary_run, false},
    {"Mish", "", unary_infer, unary_run, false},
    {"Shrink", "", unary_infer, unary_run, false},
    {"Erf", "", unary_infer, unary_run, false},
    {"Sqrt", "", unary_infer, unary_run, false},
    {"Exp", "", unary_infer, unary_run, false},
    {"Log", "", unary_infer, unary_run, false},
    {"Abs", "", unary_infer, unary_run, false},
    {"Neg", "", unary_infer, unary_run, false},
    {"Reciprocal", "", unary_infer, unary_run, false},
    {"Floor", "", unary_infer, unary_run, false},
    {"Ceil", "", unary_infer, unary_run, false},
    {"Round", "", unary_infer, unary_run, false},
    {"Sign", "", unary_infer, unary_run, false},
    {"Sin", "", unary_infer, unary_run, false},
    {"Cos", "", unary_infer, unary_run, false},
    {"Tan", "", unary_infer, unary_run, false},
    {"Asin", "", unary_infer, unary_run, false},
    {"Acos", "", unary_infer, unary_run, false},
    {"Atan", "", unary_infer, unary_run, false},
    {"Sinh", "", unary_infer, unary_run, false},
    {"Cosh", "", unary_infer, unary_run, false},
    {"Asinh", "", unary_infer, unary_run, false},
    {"Acosh", "", unary_infer, unary_run, false},
    {"Atanh", "", unary_infer, unary_run, false},
    {"IsNaN", "", unary_infer, unary_run, false},
    {"IsInf", "", unary_infer, unary_run, false},
    {"Not", "", unary_infer, unary_run, false},
    {"Clip", "", clip_infer, clip_run, false},
    {0},
};
