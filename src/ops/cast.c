/*
 * cast.c: Cast and CastLike between all numeric dtypes, bool and float16.
 *
 * Each element is read into the widest value of its class (double for
 * floats, int64 for signed integers and bool, uint64 for unsigned) and
 * written from there, so any pair of dtypes converts through one path.
 * Float to integer truncates toward zero; values out of the target's range
 * saturate to int64 first and then wrap to the target's width, never
 * invoking undefined behaviour. Strings and bfloat16 are not supported.
 */
#include <string.h>

#include "ops/op.h"

#define CAST_CHUNK 16384
#define CAST_PARALLEL_MIN 65536

typedef enum value_class { CLS_FLOAT, CLS_SIGNED, CLS_UNSIGNED } value_class;

typedef struct scalar {
  value_class cls;
  double d;
  int64_t i;
  uint64_t u;
} scalar;

static bool castable(ledge_dtype dt) {
  switch (dt) {
    case LEDGE_FLOAT32: case LEDGE_FLOAT64: case LEDGE_FLOAT16: case LEDGE_BOOL:
    case LEDGE_INT8: case LEDGE_INT16: case LEDGE_INT32: case LEDGE_INT64:
    case LEDGE_UINT8: case LEDGE_UINT16: case LEDGE_UINT32: case LEDGE_UINT64: return true;
    default: return false;
  }
}

static scalar load(ledge_dtype dt, const void *p, int64_t i) {
  scalar s = {CLS_SIGNED, 0, 0, 0};
  switch (dt) {
    case LEDGE_FLOAT32: s.cls = CLS_FLOAT, s.d = ((const float *)p)[i]; break;
    case LEDGE_FLOAT64: s.cls = CLS_FLOAT, s.d = ((const double *)p)[i]; break;
    case LEDGE_FLOAT16: s.cls = CLS_FLOAT, s.d = lg_half_to_float(((const uint16_t *)p)[i]); break;
    case LEDGE_BOOL: s.i = ((const uint8_t *)p)[i] != 0; break;
    case LEDGE_INT8: s.i = ((const int8_t *)p)[i]; break;
    case LEDGE_INT16: s.i = ((const int16_t *)p)[i]; break;
    case LEDGE_INT32: s.i = ((const int32_t *)p)[i]; break;
    case LEDGE_INT64: s.i = ((const int64_t *)p)[i]; break;
    case LEDGE_UINT8: s.cls = CLS_UNSIGNED, s.u = ((const uint8_t *)p)[i]; break;
    case LEDGE_UINT16: s.cls = CLS_UNSIGNED, s.u = ((const uint16_t *)p)[i]; break;
    case LEDGE_UINT32: s.cls = CLS_UNSIGNED, s.u = ((const uint32_t *)p)[i]; break;
    case LEDGE_UINT64: s.cls = CLS_UNSIGNED, s.u = ((const uint64_t *)p)[i]; break;
    default: break;
  }
  return s;
}

/* A double as the bits of an integer: truncated toward zero, saturated,
 * NaN as 0. Values beyond int64 keep their uint64 value when they fit. */
static uint64_t double_to_bits(double v) {
  if (v != v) return 0;
  if (v >= 18446744073709551615.0) return UINT64_MAX;
  if (v >= 9223372036854775808.0) return (uint64_t)v;
  if (v <= -9223372036854775808.0) return (uint64_t)INT64_MIN;
  return (uint64_t)(int64_t)v;
}

static void store(ledge_dtype dt, void *p, int64_t i, const scalar *s) {
  double d = s->cls == CLS_FLOAT ? s->d : s->cls == CLS_SIGNED ? (double)s->i : (double)s->u;
  uint64_t bits = s->cls == CLS_FLOAT ? double_to_bits(s->d)
                  : s->cls == CLS_SIGNED ? (uint64_t)s->i
                                         : s->u;
  switch (dt) {
    case LEDGE_FLOAT32: ((float *)p)[i] = (float)d; break;
    case LEDGE_FLOAT64: ((double *)p)[i] = d; break;
    case LEDGE_FLOAT16: ((uint16_t *)p)[i] = lg_float_to_half((float)d); break;
    case LEDGE_BOOL:
      ((uint8_t *)p)[i] = s->cls == CLS_FLOAT    ? s->d != 0
                          : s->cls == CLS_SIGNED ? s->i != 0
                                                 : s->u != 0;
      break;
    case LEDGE_INT8: case LEDGE_UINT8: ((uint8_t *)p)[i] = (uint8_t)bits; break;
    case LEDGE_INT16: case LEDGE_UINT16: ((uint16_t *)p)[i] = (uint16_t)bits; break;
    case LEDGE_INT32: case LEDGE_UINT32: ((uint32_t *)p)[i] = (uint32_t)bits; break;
    case LEDGE_INT64: case LEDGE_UINT64: ((uint64_t *)p)[i] = bits; break;
    default: break;
  }
}

typedef struct cast_task {
  ledge_dtype from, to;
  const void *x;
  void *y;
  int64_t count;
} cast_task;

static void cast_range(void *ctx, int64_t begin, int64_t end) {
  const cast_task *t = ctx;
  int64_t first = begin * CAST_CHUNK;
  int64_t last = end * CAST_CHUNK < t->count ? end * CAST_CHUNK : t->count;
  /* The conversions networks actually use, kept tight. */
  if (t->from == LEDGE_FLOAT16 && t->to == LEDGE_FLOAT32) {
    for (int64_t i = first; i < last; i++)
      ((float *)t->y)[i] = lg_half_to_float(((const uint16_t *)t->x)[i]);
    return;
  }
  if (t->from == LEDGE_FLOAT32 && t->to == LEDGE_FLOAT16) {
    for (int64_t i = first; i < last; i++)
      ((uint16_t *)t->y)[i] = lg_float_to_half(((const float *)t->x)[i]);
    return;
  }
  for (int64_t i = first; i < last; i++) {
    scalar s = load(t->from, t->x, i);
    store(t->to, t->y, i, &s);
  }
}

static lg_status cast_check(const lg_node *node, const lg_tensor *x, ledge_dtype to) {
  if (!x) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': input 0 is missing",
                          node->op_type, node->name);
  if (x->rank < 0 || x->rank > LEDGE_MAX_RANK || lg_tensor_count(x) < 0)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': input has an invalid shape", node->op_type,
                    node->name);
  if (!castable(x->dtype))
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': casting from %s is not supported",
                    node->op_type, node->name, ledge_dtype_name(x->dtype));
  if (!castable(to))
    return lg_error(LEDGE_ERR_UNSUPPORTED,
                    "%s node '%s': casting to %s (ONNX type %d) is not supported", node->op_type,
                    node->name, ledge_dtype_name(to), (int)to);
  return LEDGE_OK;
}

/* The target dtype: the "to" attribute for Cast, input 1's dtype for CastLike. */
static lg_status cast_target(const lg_node *node, lg_tensor *const *in, ledge_dtype *to) {
  if (!strcmp(node->op_type, "CastLike")) {
    if (node->n_in < 2 || !in[1])
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': target_type input is missing",
                      node->op_type, node->name);
    *to = in[1]->dtype;
    return LEDGE_OK;
  }
  if (!lg_attr_find(node, "to"))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': attribute 'to' is missing",
                    node->op_type, node->name);
  int64_t to_attr = lg_attr_int(node, "to", 0);
  *to = to_attr >= 0 && to_attr < 64 ? (ledge_dtype)to_attr : LEDGE_DTYPE_UNDEFINED;
  return LEDGE_OK;
}

static lg_status cast_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  ledge_dtype to = LEDGE_DTYPE_UNDEFINED;
  LG_TRY(lg_check_io(node, out, 1, strcmp(node->op_type, "CastLike") ? 1 : 2));
  LG_TRY(cast_target(node, in, &to));
  LG_TRY(cast_check(node, in[0], to));
  if (out[0]) {
    out[0]->dtype = to;
    lg_tensor_set_shape(out[0], in[0]->rank, in[0]->dims);
  }
  return LEDGE_OK;
}

static lg_status cast_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                          const lg_exec *exec) {
  if (!out[0]) return LEDGE_OK;
  ledge_dtype to = out[0]->dtype;
  LG_TRY(cast_check(node, in[0], to));
  int64_t count = lg_tensor_count(in[0]);
  if (count <= 0) return LEDGE_OK;
  if (in[0]->dtype == to) {
    memcpy(out[0]->data, in[0]->data, lg_tensor_bytes(in[0]));
    return LEDGE_OK;
  }
  cast_task t = {in[0]->dtype, to, in[0]->data, out[0]->data, count};
  lg_threadpool *pool = exec && count >= CAST_PARALLEL_MIN ? exec->pool : NULL;
  lg_parallel_for(pool, (count + CAST_CHUNK - 1) / CAST_CHUNK, cast_range, &t);
  return LEDGE_OK;
}

const lg_op_def lg_ops_cast[] = {
    {"Cast", "", cast_infer, cast_run, false},
    {"CastLike", "", cast_infer, cast_run, false},
    {0},
};
