/*
 * binary.c: elementwise operators with several inputs and numpy-style
 * (multidirectional) broadcasting: arithmetic, comparisons, logic, Where,
 * PRelu, BitShift and the variadic Sum / Mean / Max / Min.
 *
 * One broadcasting iterator serves them all. It collapses the output shape
 * into as few dimensions as possible, so that the innermost loop runs over a
 * long stretch in which every operand either advances by one element or
 * stays put (a broadcast operand). A typed kernel then handles that stretch,
 * with the common "same shape" and "scalar operand" cases as tight loops the
 * compiler vectorizes. Work is split over the thread pool by rows and, for
 * long rows, by chunks of a row.
 */
#include <math.h>
#include <string.h>

#include "ops/op.h"

#define EW_MAX_OPERANDS 3     /* Where has three inputs */
#define EW_CHUNK 8192         /* elements per work item along the innermost dimension */
#define EW_PARALLEL_MIN 32768 /* below this many output elements, run serially */
#define EW_HALF_BLOCK 256     /* float16 is computed in float32 blocks of this size */

typedef struct ew_args ew_args;

/* Computes n outputs from the operands; step[k] is 1 if operand k advances
 * with the output, 0 if it is broadcast (the same element for all n). */
typedef void (*ew_kernel)(const ew_args *args, void *out, const void *const *in,
                          const int64_t *step, int64_t n);

struct ew_args {
  ew_kernel kernel;
  ew_kernel f32_kernel; /* for the float16 wrapper: the float32 kernel it calls */
  ledge_dtype out_dtype;
  int n_in;
  size_t out_size, in_size[EW_MAX_OPERANDS];
  const lg_act *act; /* fused activation for float32 outputs, or NULL */
};

/* ---- Typed kernels ----
 * BIN_KERNEL defines one kernel for input type TI and output type TO. EXPR
 * computes one output from x and y (the input elements) and may use T, the
 * input type. */
#define BIN_KERNEL(fname, TI, TO, EXPR)                                                          \
  static void fname(const ew_args *args, void *out_, const void *const *in, const int64_t *step, \
                    int64_t n) {                                                                 \
    typedef TI T;                                                                                \
    TO *out = out_;                                                                              \
    const T *a = in[0], *b = in[1];                                                              \
    if (step[0] && step[1]) {                                                                    \
      for (int64_t i = 0; i < n; i++) {                                                          \
        T x = a[i], y = b[i];                                                                    \
        out[i] = (TO)(EXPR);                                                                     \
      }                                                                                          \
    } else if (step[0]) {                                                                        \
      const T y = b[0];                                                                          \
      for (int64_t i = 0; i < n; i++) {                                                          \
        T x = a[i];                                                                              \
        out[i] = (TO)(EXPR);                                                                     \
      }                                                                                          \
    } else if (step[1]) {                                                                        \
      const T x = a[0];                                                                          \
      for (int64_t i = 0; i < n; i++) {                                                          \
        T y = b[i];                                                                              \
        out[i] = (TO)(EXPR);                                                                     \
      }                                                                                          \
    } else {                                                                                     \
      const T x = a[0], y = b[0];                                                                \
      const TO v = (TO)(EXPR);                                                                   \
      for (int64_t i = 0; i < n; i++) out[i] = v;                                                \
    }                                                                                            \
    (void)args;                                                                                  \
  }

/* Families of types: float32/float64, signed and unsigned integers. bool is
 * stored as uint8_t and uses the u8 kernels where an op accepts it. */
#define DEF_FLOAT(op, TO_SAME, EXPR)                \
  BIN_KERNEL(op##_f32, float, TO_SAME(float), EXPR) \
  BIN_KERNEL(op##_f64, double, TO_SAME(double), EXPR)
#define DEF_SINT(op, TO_SAME, EXPR)                     \
  BIN_KERNEL(op##_i8, int8_t, TO_SAME(int8_t), EXPR)    \
  BIN_KERNEL(op##_i16, int16_t, TO_SAME(int16_t), EXPR) \
  BIN_KERNEL(op##_i32, int32_t, TO_SAME(int32_t), EXPR) \
  BIN_KERNEL(op##_i64, int64_t, TO_SAME(int64_t), EXPR)
#define DEF_UINT(op, TO_SAME, EXPR)                       \
  BIN_KERNEL(op##_u8, uint8_t, TO_SAME(uint8_t), EXPR)    \
  BIN_KERNEL(op##_u16, uint16_t, TO_SAME(uint16_t), EXPR) \
  BIN_KERNEL(op##_u32, uint32_t, TO_SAME(uint32_t), EXPR) \
  BIN_KERNEL(op##_u64, uint64_t, TO_SAME(uint64_t), EXPR)
#define SAME(T) T
#define BOOL_OUT(T) uint8_t

#define TABLE_FLOAT(op) [LEDGE_FLOAT32] = op##_f32, [LEDGE_FLOAT64] = op##_f64
#define TABLE_INT(op)                                                           \
  [LEDGE_INT8] = op##_i8, [LEDGE_INT16] = op##_i16, [LEDGE_INT32] = op##_i32,   \
  [LEDGE_INT64] = op##_i64, [LEDGE_UINT8] = op##_u8, [LEDGE_UINT16] = op##_u16, \
  [LEDGE_UINT32] = op##_u32, [LEDGE_UINT64] = op##_u64

#define N_DTYPES 14 /* ledge_dtype values are 0..13 */
typedef ew_kernel kernel_table[N_DTYPES];

/* Integer arithmetic wraps around (two's complement) instead of being
 * undefined on overflow: compute in uint64_t and truncate. */
#define WRAP(op) (T)((uint64_t)x op(uint64_t) y)

/* Add, Sub, Mul */
DEF_FLOAT(add, SAME, x + y)
DEF_SINT(add, SAME, WRAP(+))
DEF_UINT(add, SAME, WRAP(+))
DEF_FLOAT(sub, SAME, x - y)
DEF_SINT(sub, SAME, WRAP(-))
DEF_UINT(sub, SAME, WRAP(-))
DEF_FLOAT(mul, SAME, x *y)
DEF_SINT(mul, SAME, WRAP(*))
DEF_UINT(mul, SAME, WRAP(*))

/* Div: integer division truncates; division by zero gives 0 rather than a
 * trap, and MIN / -1 wraps. */
DEF_FLOAT(div, SAME, x / y)
DEF_SINT(div, SAME, y == 0 ? 0 : (y == -1 ? (T)(0 - (uint64_t)x) : x / y))
DEF_UINT(div, SAME, y == 0 ? 0 : x / y)

/* Mod with fmod=0: the result has the sign of the divisor (Python's %). */
static inline double floor_mod_f64(double x, double y) {
  double r = fmod(x, y);
  if (r != 0 && ((r < 0) != (y < 0))) r += y;
  return r;
}
static inline float floor_mod_f32(float x, float y) { return (float)floor_mod_f64(x, y); }
#define SINT_FLOOR_MOD \
  (y == 0 || y == -1) ? 0 : (T)((x % y != 0 && ((x % y < 0) != (y < 0))) ? x % y + y : x % y)
DEF_SINT(mod, SAME, SINT_FLOOR_MOD)
DEF_UINT(mod, SAME, y == 0 ? 0 : x % y)
BIN_KERNEL(mod_f32, float, float, floor_mod_f32(x, y))
BIN_KERNEL(mod_f64, double, double, floor_mod_f64(x, y))
/* Mod with fmod=1: the result has the sign of the dividend (C's fmod and %). */
DEF_SINT(fmod, SAME, (y == 0 || y == -1) ? 0 : x % y)
DEF_UINT(fmod, SAME, y == 0 ? 0 : x % y)
BIN_KERNEL(fmod_f32, float, float, fmodf(x, y))
BIN_KERNEL(fmod_f64, double, double, fmod(x, y))

/* Max and Min propagate NaN like numpy (x != x only for a NaN). */
DEF_FLOAT(max, SAME, (x != x || x > y) ? x : y)
DEF_SINT(max, SAME, x > y ? x : y)
DEF_UINT(max, SAME, x > y ? x : y)
DEF_FLOAT(min, SAME, (x != x || x < y) ? x : y)
DEF_SINT(min, SAME, x < y ? x : y)
DEF_UINT(min, SAME, x < y ? x : y)

/* Comparisons: bool output. */
DEF_FLOAT(eq, BOOL_OUT, x == y)
DEF_SINT(eq, BOOL_OUT, x == y)
DEF_UINT(eq, BOOL_OUT, x == y)
DEF_FLOAT(lt, BOOL_OUT, x < y)
DEF_SINT(lt, BOOL_OUT, x < y)
DEF_UINT(lt, BOOL_OUT, x < y)
DEF_FLOAT(gt, BOOL_OUT, x > y)
DEF_SINT(gt, BOOL_OUT, x > y)
DEF_UINT(gt, BOOL_OUT, x > y)
DEF_FLOAT(le, BOOL_OUT, x <= y)
DEF_SINT(le, BOOL_OUT, x <= y)
DEF_UINT(le, BOOL_OUT, x <= y)
DEF_FLOAT(ge, BOOL_OUT, x >= y)
DEF_SINT(ge, BOOL_OUT, x >= y)
DEF_UINT(ge, BOOL_OUT, x >= y)

/* Logic on bool (one byte, 0 or 1; any non-zero byte counts as true). */
BIN_KERNEL(and_b, uint8_t, uint8_t, (x != 0) & (y != 0))
BIN_KERNEL(or_b, uint8_t, uint8_t, (x != 0) | (y != 0))
BIN_KERNEL(xor_b, uint8_t, uint8_t, (x != 0) ^ (y != 0))

/* BitShift: shifting by the type's width or more gives 0 (not undefined). */
#define SHL (y >= sizeof(T) * 8 ? 0 : (T)((uint64_t)x << y))
#define SHR (y >= sizeof(T) * 8 ? 0 : (T)(x >> y))
DEF_UINT(shl, SAME, SHL)
DEF_UINT(shr, SAME, SHR)

/* PRelu: y is the slope. float32 selects between x and x * y with a bit
 * mask: written as `x < 0 ? x * y : x`, GCC keeps a branch per element (it
 * may not speculate the multiply), which was 45% of facemesh's time on
 * sign-mixed activations; the mask form vectorizes. */
static inline float prelu_select_f32(float x, float y) {
  float p = x * y;
  uint32_t xb, pb;
  memcpy(&xb, &x, 4);
  memcpy(&pb, &p, 4);
  uint32_t m = 0u - (uint32_t)(x < 0);
  uint32_t r = (pb & m) | (xb & ~m);
  float out;
  memcpy(&out, &r, 4);
  return out;
}
BIN_KERNEL(prelu_f32, float, float, prelu_select_f32(x, y))
BIN_KERNEL(prelu_f64, double, double, x < 0 ? x * y : x)
DEF_SINT(prelu, SAME, x < 0 ? WRAP(*) : x)

static const kernel_table add_table = {TABLE_FLOAT(add), TABLE_INT(add)};
static const kernel_table sub_table = {TABLE_FLOAT(sub), TABLE_INT(sub)};
static const kernel_table mul_table = {TABLE_FLOAT(mul), TABLE_INT(mul)};
static const kernel_table div_table = {TABLE_FLOAT(div), TABLE_INT(div)};
static const kernel_table mod_table = {TABLE_FLOAT(mod), TABLE_INT(mod)};
static const kernel_table fmod_table = {TABLE_FLOAT(fmod), TABLE_INT(fmod)};
static const kernel_table max_table = {TABLE_FLOAT(max), TABLE_INT(max)};
static const kernel_table min_table = {TABLE_FLOAT(min), TABLE_INT(min)};
static const kernel_table eq_table = {TABLE_FLOAT(eq), TABLE_INT(eq), [LEDGE_BOOL] = eq_u8};
static const kernel_table lt_table = {TABLE_FLOAT(lt), TABLE_INT(lt)};
static const kernel_table gt_table = {TABLE_FLOAT(gt), TABLE_INT(gt)};
static const kernel_table le_table = {TABLE_FLOAT(le), TABLE_INT(le)};
static const kernel_table ge_table = {TABLE_FLOAT(ge), TABLE_INT(ge)};
static const kernel_table and_table = {[LEDGE_BOOL] = and_b};
static const kernel_table or_table = {[LEDGE_BOOL] = or_b};
static const kernel_table xor_table = {[LEDGE_BOOL] = xor_b};
static const kernel_table shl_table = {[LEDGE_UINT8] = shl_u8,
                                       [LEDGE_UINT16] = shl_u16,
                                       [LEDGE_UINT32] = shl_u32,
                                       [LEDGE_UINT64] = shl_u64};
static const kernel_table shr_table = {[LEDGE_UINT8] = shr_u8,
                                       [LEDGE_UINT16] = shr_u16,
                                       [LEDGE_UINT32] = shr_u32,
                                       [LEDGE_UINT64] = shr_u64};
static const kernel_table prelu_table = {
    TABLE_FLOAT(prelu), [LEDGE_INT8] = prelu_i8, [LEDGE_INT16] = prelu_i16,
    [LEDGE_INT32] = prelu_i32, [LEDGE_INT64] = prelu_i64};

/* float16 operands: convert blocks to float32, run the float32 kernel, and
 * convert the result back (or write it directly when the output is bool). */
static void half_kernel(const ew_args *args, void *out, const void *const *in, const int64_t *step,
                        int64_t n) {
  float xa[EW_HALF_BLOCK], xb[EW_HALF_BLOCK], res[EW_HALF_BLOCK];
  const uint16_t *a = in[0], *b = in[1];
  bool half_out = args->out_dtype == LEDGE_FLOAT16;
  for (int64_t start = 0; start < n; start += EW_HALF_BLOCK) {
    int64_t len = n - start < EW_HALF_BLOCK ? n - start : EW_HALF_BLOCK;
    for (int64_t i = 0; i < len; i++) {
      xa[i] = lg_half_to_float(a[(start + i) * step[0]]);
      xb[i] = lg_half_to_float(b[(start + i) * step[1]]);
    }
    const void *ops[2] = {xa, xb};
    const int64_t ones[2] = {1, 1};
    if (half_out) {
      args->f32_kernel(args, res, ops, ones, len);
      for (int64_t i = 0; i < len; i++) ((uint16_t *)out)[start + i] = lg_float_to_half(res[i]);
    } else {
      args->f32_kernel(args, (char *)out + start * args->out_size, ops, ones, len);
    }
  }
}

/* ---- Pow: the exponent may have another dtype than the base ---- */

static double load_double(ledge_dtype dt, const void *p, int64_t i) {
  switch (dt) {
    case LEDGE_FLOAT32: return ((const float *)p)[i];
    case LEDGE_FLOAT64: return ((const double *)p)[i];
    case LEDGE_FLOAT16: return lg_half_to_float(((const uint16_t *)p)[i]);
    case LEDGE_INT8: return ((const int8_t *)p)[i];
    case LEDGE_INT16: return ((const int16_t *)p)[i];
    case LEDGE_INT32: return ((const int32_t *)p)[i];
    case LEDGE_INT64: return (double)((const int64_t *)p)[i];
    case LEDGE_UINT8: return ((const uint8_t *)p)[i];
    case LEDGE_UINT16: return ((const uint16_t *)p)[i];
    case LEDGE_UINT32: return ((const uint32_t *)p)[i];
    case LEDGE_UINT64: return (double)((const uint64_t *)p)[i];
    default: return 0;
  }
}

static int64_t load_int(ledge_dtype dt, const void *p, int64_t i) {
  switch (dt) {
    case LEDGE_INT8: return ((const int8_t *)p)[i];
    case LEDGE_INT16: return ((const int16_t *)p)[i];
    case LEDGE_INT32: return ((const int32_t *)p)[i];
    case LEDGE_INT64: return ((const int64_t *)p)[i];
    case LEDGE_UINT8: return ((const uint8_t *)p)[i];
    case LEDGE_UINT16: return ((const uint16_t *)p)[i];
    case LEDGE_UINT32: return ((const uint32_t *)p)[i];
    case LEDGE_UINT64: return (int64_t)((const uint64_t *)p)[i];
    default: return 0;
  }
}

/* Stores an integer, truncating to the type's width (wrap-around). */
static void store_int(ledge_dtype dt, void *p, int64_t i, int64_t v) {
  switch (dt) {
    case LEDGE_INT8: ((int8_t *)p)[i] = (int8_t)v; break;
    case LEDGE_INT16: ((int16_t *)p)[i] = (int16_t)v; break;
    case LEDGE_INT32: ((int32_t *)p)[i] = (int32_t)v; break;
    case LEDGE_INT64: ((int64_t *)p)[i] = v; break;
    case LEDGE_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case LEDGE_UINT16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case LEDGE_UINT32: ((uint32_t *)p)[i] = (uint32_t)v; break;
    case LEDGE_UINT64: ((uint64_t *)p)[i] = (uint64_t)v; break;
    default: break;
  }
}

/* Converts a double to int64 without undefined behaviour: truncates toward
 * zero, saturates out-of-range values, maps NaN to 0. */
static int64_t double_to_int64(double v) {
  if (v != v) return 0;
  if (v >= 9223372036854775807.0) return INT64_MAX;
  if (v <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)v;
}

static void store_double(ledge_dtype dt, void *p, int64_t i, double v) {
  switch (dt) {
    case LEDGE_FLOAT32: ((float *)p)[i] = (float)v; break;
    case LEDGE_FLOAT64: ((double *)p)[i] = v; break;
    case LEDGE_FLOAT16: ((uint16_t *)p)[i] = lg_float_to_half((float)v); break;
    default: store_int(dt, p, i, double_to_int64(v)); break;
  }
}

/* Integer power by squaring, wrapping on overflow. A negative exponent
 * gives 1/x truncated: 1 for x == 1, +-1 for x == -1, 0 otherwise. */
static int64_t int_pow(int64_t base, int64_t exp) {
  if (exp < 0) {
    if (base == 1) return 1;
    if (base == -1) return (exp & 1) ? -1 : 1;
    return 0;
  }
  uint64_t result = 1, b = (uint64_t)base;
  uint64_t e = (uint64_t)exp;
  while (e) {
    if (e & 1) result *= b;
    b *= b;
    e >>= 1;
  }
  return (int64_t)result;
}

typedef struct pow_args {
  ew_args base;
  ledge_dtype a_dtype, b_dtype;
} pow_args;

static void pow_kernel(const ew_args *args, void *out, const void *const *in, const int64_t *step,
                       int64_t n) {
  const pow_args *pa = (const pow_args *)args;
  ledge_dtype ta = pa->a_dtype, tb = pa->b_dtype, to = args->out_dtype;
  if (ta == LEDGE_FLOAT32 && tb == LEDGE_FLOAT32) { /* the common case, kept tight */
    const float *a = in[0], *b = in[1];
    float *o = out;
    for (int64_t i = 0; i < n; i++) o[i] = powf(a[i * step[0]], b[i * step[1]]);
    return;
  }
  if (lg_dtype_is_integer(ta) && lg_dtype_is_integer(tb)) {
    for (int64_t i = 0; i < n; i++) {
      int64_t base = load_int(ta, in[0], i * step[0]);
      int64_t exponent = load_int(tb, in[1], i * step[1]);
      store_int(to, out, i, int_pow(base, exponent));
    }
    return;
  }
  for (int64_t i = 0; i < n; i++) {
    double base = load_double(ta, in[0], i * step[0]);
    double exponent = load_double(tb, in[1], i * step[1]);
    store_double(to, out, i, pow(base, exponent));
  }
}

/* ---- Where and copies: select by element size ---- */

#define WHERE_KERNEL(fname, T)                                                                   \
  static void fname(const ew_args *args, void *out_, const void *const *in, const int64_t *step, \
                    int64_t n) {                                                                 \
    T *out = out_;                                                                               \
    const uint8_t *c = in[0];                                                                    \
    const T *x = in[1], *y = in[2];                                                              \
    for (int64_t i = 0; i < n; i++) out[i] = c[i * step[0]] ? x[i * step[1]] : y[i * step[2]];   \
  }
WHERE_KERNEL(where_1, uint8_t)
WHERE_KERNEL(where_2, uint16_t)
WHERE_KERNEL(where_4, uint32_t)
WHERE_KERNEL(where_8, uint64_t)

#define COPY_KERNEL(fname, T)                                                                    \
  static void fname(const ew_args *args, void *out_, const void *const *in, const int64_t *step, \
                    int64_t n) {                                                                 \
    T *out = out_;                                                                               \
    const T *x = in[0];                                                                          \
    if (step[0])                                                                                 \
      memcpy(out, x, (size_t)n * sizeof(T));                                                     \
    else                                                                                         \
      for (int64_t i = 0; i < n; i++) out[i] = x[0];                                             \
  }
COPY_KERNEL(copy_1, uint8_t)
COPY_KERNEL(copy_2, uint16_t)
COPY_KERNEL(copy_4, uint32_t)
COPY_KERNEL(copy_8, uint64_t)

static ew_kernel by_size(size_t size, ew_kernel k1, ew_kernel k2, ew_kernel k4, ew_kernel k8) {
  switch (size) {
    case 1: return k1;
    case 2: return k2;
    case 4: return k4;
    case 8: return k8;
    default: return NULL;
  }
}

/* ---- The broadcasting iterator ---- */

typedef struct ew_plan {
  int rank;                                        /* collapsed rank, at least 1 */
  int64_t dims[LEDGE_MAX_RANK];                    /* collapsed output dims */
  int64_t stride[EW_MAX_OPERANDS][LEDGE_MAX_RANK]; /* element strides, 0 where broadcast */
  int n_in;
  int64_t count; /* output elements */
} ew_plan;

/* Builds the plan for an output of shape (rank, dims) and operands whose
 * shapes broadcast to it. */
static void ew_plan_init(ew_plan *p, int rank, const int64_t *dims, int n_in, const int *in_rank,
                         const int64_t (*in_dims)[LEDGE_MAX_RANK]) {
  int64_t stride[EW_MAX_OPERANDS][LEDGE_MAX_RANK];
  for (int k = 0; k < n_in; k++) {
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
      int kd = d - (rank - in_rank[k]);
      int64_t size = kd >= 0 ? in_dims[k][kd] : 1;
      stride[k][d] = size == 1 ? 0 : s;
      s *= size;
    }
  }
  p->n_in = n_in;
  p->count = lg_shape_count(rank, dims);
  p->rank = 0;
  for (int d = 0; d < rank; d++) {
    if (dims[d] == 1) continue; /* a dimension of one never moves */
    int last = p->rank - 1;
    bool merge = last >= 0;
    for (int k = 0; k < n_in && merge; k++) merge = p->stride[k][last] == stride[k][d] * dims[d];
    if (merge) {
      p->dims[last] *= dims[d];
      for (int k = 0; k < n_in; k++) p->stride[k][last] = stride[k][d];
    } else {
      p->dims[p->rank] = dims[d];
      for (int k = 0; k < n_in; k++) p->stride[k][p->rank] = stride[k][d];
      p->rank++;
    }
  }
  if (p->rank == 0) { /* a single element */
    p->rank = 1;
    p->dims[0] = 1;
    for (int k = 0; k < n_in; k++) p->stride[k][0] = 0;
  }
}

typedef struct ew_task {
  const ew_plan *plan;
  const ew_args *args;
  void *out;
  const void *in[EW_MAX_OPERANDS];
  int64_t inner, chunks_per_row;
} ew_task;

static void ew_range(void *ctx, int64_t begin, int64_t end) {
  const ew_task *t = ctx;
  const ew_plan *p = t->plan;
  const ew_args *args = t->args;
  int outer_rank = p->rank - 1;
  int64_t idx[LEDGE_MAX_RANK] = {0}, off[EW_MAX_OPERANDS] = {0};
  int64_t row = begin / t->chunks_per_row;
  /* Multi-index and operand offsets of the first row. */
  {
    int64_t rem = row;
    for (int d = outer_rank - 1; d >= 0; d--) {
      idx[d] = rem % p->dims[d];
      rem /= p->dims[d];
    }
    for (int k = 0; k < p->n_in; k++)
      for (int d = 0; d < outer_rank; d++) off[k] += idx[d] * p->stride[k][d];
  }
  int64_t step[EW_MAX_OPERANDS];
  for (int k = 0; k < p->n_in; k++) step[k] = p->stride[k][outer_rank] ? 1 : 0;

  for (int64_t w = begin; w < end; w++) {
    int64_t r = w / t->chunks_per_row, c = w % t->chunks_per_row;
    if (r != row) { /* rows are visited in order: advance the odometer by one */
      row = r;
      for (int d = outer_rank - 1; d >= 0; d--) {
        idx[d]++;
        for (int k = 0; k < p->n_in; k++) off[k] += p->stride[k][d];
        if (idx[d] < p->dims[d]) break;
        for (int k = 0; k < p->n_in; k++) off[k] -= idx[d] * p->stride[k][d];
        idx[d] = 0;
      }
    }
    int64_t start = c * EW_CHUNK;
    int64_t len = t->inner - start < EW_CHUNK ? t->inner - start : EW_CHUNK;
    const void *ptrs[EW_MAX_OPERANDS];
    for (int k = 0; k < p->n_in; k++)
      ptrs[k] = (const char *)t->in[k] + (size_t)(off[k] + start * step[k]) * args->in_size[k];
    void *o = (char *)t->out + (size_t)(r * t->inner + start) * args->out_size;
    args->kernel(args, o, ptrs, step, len);
    if (args->act && args->act->kind != LG_ACT_NONE && args->out_dtype == LEDGE_FLOAT32)
      lg_act_apply(args->act, o, len);
  }
}

/* Runs args->kernel over out = f(in...) with broadcasting. */
static void ew_execute(const ew_args *args, lg_tensor *out, const void *const *in_data,
                       const int *in_rank, const int64_t (*in_dims)[LEDGE_MAX_RANK],
                       lg_threadpool *pool) {
  ew_plan plan;
  ew_plan_init(&plan, out->rank, out->dims, args->n_in, in_rank, in_dims);
  if (plan.count <= 0) return;
  ew_task task = {.plan = &plan, .args = args, .out = out->data};
  for (int k = 0; k < args->n_in; k++) task.in[k] = in_data[k];
  task.inner = plan.dims[plan.rank - 1];
  task.chunks_per_row = (task.inner + EW_CHUNK - 1) / EW_CHUNK;
  int64_t rows = plan.count / task.inner;
  int64_t work = rows * task.chunks_per_row;
  if (plan.count < EW_PARALLEL_MIN) pool = NULL;
  lg_parallel_for(pool, work, ew_range, &task);
}

/* ---- Shapes ---- */

/* The shape operand k takes part in broadcasting with. Usually its own, but
 * before opset 7 Add/Sub/Mul/Div/Pow/logic ops had an explicit "broadcast"
 * attribute whose "axis" aligns B's dims at that axis of A, and PRelu
 * broadcast a 1-D slope along the channel axis. */
static void operand_shape(const lg_node *node, lg_tensor *const *in, int k, int *rank,
                          int64_t *dims) {
  const lg_tensor *t = in[k];
  *rank = t->rank;
  for (int d = 0; d < t->rank; d++) dims[d] = t->dims[d];
  if (node->opset >= 7 || k != 1 || !in[0]) return;
  const lg_tensor *a = in[0];
  if (!strcmp(node->op_type, "PRelu")) {
    if (t->rank == 1 && a->rank >= 2 && t->dims[0] == a->dims[1] && t->dims[0] != 1) {
      *rank = a->rank - 1; /* [C] -> [C,1,...,1], right-aligned against [N,C,...] */
      for (int d = 1; d < *rank; d++) dims[d] = 1;
    }
    return;
  }
  if (lg_attr_int(node, "broadcast", 0) != 1 || !lg_attr_find(node, "axis")) return;
  int64_t axis = lg_attr_int(node, "axis", 0);
  if (axis < 0) axis += a->rank;
  if (axis < 0 || axis + t->rank > a->rank) return; /* infer reports the mismatch */
  *rank = a->rank;
  for (int d = 0; d < a->rank; d++)
    dims[d] = (d >= axis && d < axis + t->rank) ? t->dims[d - axis] : 1;
}

/* Checks that all present inputs are there, collects their broadcast
 * shapes, and sets the broadcast output shape into (rank, dims). */
static lg_status broadcast_inputs(const lg_node *node, lg_tensor *const *in, int n_in, int *in_rank,
                                  int64_t (*in_dims)[LEDGE_MAX_RANK], int *rank, int64_t *dims) {
  *rank = 0;
  for (int k = 0; k < n_in; k++) {
    if (!in[k])
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': input %d is missing",
                      node->op_type, node->name, k);
    if (in[k]->rank < 0 || in[k]->rank > LEDGE_MAX_RANK || lg_tensor_count(in[k]) < 0)
      return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': input %d has an invalid shape", node->op_type,
                      node->name, k);
    operand_shape(node, in, k, &in_rank[k], in_dims[k]);
    if (k == 0) {
      *rank = in_rank[0];
      memcpy(dims, in_dims[0], sizeof(int64_t) * (size_t)in_rank[0]);
      continue;
    }
    int64_t tmp[LEDGE_MAX_RANK];
    int r;
    lg_status s = lg_broadcast_shape(*rank, dims, in_rank[k], in_dims[k], &r, tmp);
    if (s != LEDGE_OK) return lg_error_context(s, "%s node '%s': ", node->op_type, node->name);
    *rank = r;
    memcpy(dims, tmp, sizeof(int64_t) * (size_t)r);
  }
  if (lg_shape_count(*rank, dims) < 0)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': output shape is too large", node->op_type,
                    node->name);
  return LEDGE_OK;
}

/* ---- The operators ---- */

typedef enum bin_kind {
  BIN_ARITH,   /* output dtype = input dtype */
  BIN_COMPARE, /* bool output */
  BIN_LOGIC,   /* bool in, bool out */
} bin_kind;

typedef struct bin_op {
  const char *name;
  bin_kind kind;
  const kernel_table *table;
  bool half_ok; /* float16 computed through float32 */
} bin_op;

static const bin_op bin_ops[] = {
    {"Add", BIN_ARITH, &add_table, true},          {"Sub", BIN_ARITH, &sub_table, true},
    {"Mul", BIN_ARITH, &mul_table, true},          {"Div", BIN_ARITH, &div_table, true},
    {"Mod", BIN_ARITH, &mod_table, true},          {"PRelu", BIN_ARITH, &prelu_table, true},
    {"BitShift", BIN_ARITH, &shl_table, false},    {"Equal", BIN_COMPARE, &eq_table, true},
    {"Less", BIN_COMPARE, &lt_table, true},        {"Greater", BIN_COMPARE, &gt_table, true},
    {"LessOrEqual", BIN_COMPARE, &le_table, true}, {"GreaterOrEqual", BIN_COMPARE, &ge_table, true},
    {"And", BIN_LOGIC, &and_table, false},         {"Or", BIN_LOGIC, &or_table, false},
    {"Xor", BIN_LOGIC, &xor_table, false},
};

static const bin_op *find_bin_op(const char *name) {
  for (size_t i = 0; i < sizeof bin_ops / sizeof bin_ops[0]; i++)
    if (!strcmp(bin_ops[i].name, name)) return &bin_ops[i];
  return NULL;
}

/* The kernel for this node and input dtype, or NULL if unsupported. */
static ew_kernel bin_kernel(const lg_node *node, const bin_op *op, ledge_dtype dt,
                            ew_kernel *f32_kernel) {
  const kernel_table *table = op->table;
  if (!strcmp(op->name, "Mod") && lg_attr_int(node, "fmod", 0)) table = &fmod_table;
  if (!strcmp(op->name, "BitShift") && !strcmp(lg_attr_string(node, "direction", ""), "RIGHT"))
    table = &shr_table;
  if (dt == LEDGE_FLOAT16) {
    *f32_kernel = (*table)[LEDGE_FLOAT32];
    return op->half_ok && *f32_kernel ? half_kernel : NULL;
  }
  if ((unsigned)dt >= N_DTYPES) return NULL;
  return (*table)[dt];
}

static lg_status binary_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  const bin_op *op = find_bin_op(node->op_type);
  if (!op) return lg_error(LEDGE_ERR_INTERNAL, "binary: unknown op %s", node->op_type);
  LG_TRY(lg_check_io(node, out, 2, 2));
  int in_rank[2], rank;
  int64_t in_dims[2][LEDGE_MAX_RANK], dims[LEDGE_MAX_RANK];
  LG_TRY(broadcast_inputs(node, in, 2, in_rank, in_dims, &rank, dims));
  ledge_dtype dt = in[0]->dtype;
  if (in[1]->dtype != dt)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': inputs have dtypes %s and %s",
                    node->op_type, node->name, ledge_dtype_name(dt),
                    ledge_dtype_name(in[1]->dtype));
  if (!strcmp(op->name, "BitShift")) {
    const char *dir = lg_attr_string(node, "direction", "");
    if (strcmp(dir, "LEFT") && strcmp(dir, "RIGHT"))
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT,
                      "%s node '%s': direction must be LEFT or RIGHT, not '%s'", node->op_type,
                      node->name, dir);
  }
  if (!strcmp(op->name, "PRelu")) {
    /* The slope broadcasts to X, never the other way. */
    if (!lg_shape_equal(rank, dims, in[0]->rank, in[0]->dims))
      return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': slope does not broadcast to X", node->op_type,
                      node->name);
  }
  ew_kernel f32;
  if (!bin_kernel(node, op, dt, &f32))
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': dtype %s is not supported", node->op_type,
                    node->name, ledge_dtype_name(dt));
  if (out[0]) {
    out[0]->dtype = op->kind == BIN_ARITH ? dt : LEDGE_BOOL;
    lg_tensor_set_shape(out[0], rank, dims);
  }
  return LEDGE_OK;
}

static lg_status binary_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                            const lg_exec *exec) {
  if (!out[0]) return LEDGE_OK;
  const bin_op *op = find_bin_op(node->op_type);
  if (!op) return lg_error(LEDGE_ERR_INTERNAL, "binary: unknown op %s", node->op_type);
  int in_rank[2];
  int64_t in_dims[2][LEDGE_MAX_RANK];
  for (int k = 0; k < 2; k++) operand_shape(node, in, k, &in_rank[k], in_dims[k]);
  ew_args args = {.n_in = 2, .out_dtype = out[0]->dtype};
  args.kernel = bin_kernel(node, op, in[0]->dtype, &args.f32_kernel);
  if (!args.kernel)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': dtype %s is not supported", node->op_type,
                    node->name, ledge_dtype_name(in[0]->dtype));
  args.out_size = ledge_dtype_size(out[0]->dtype);
  args.in_size[0] = args.in_size[1] = ledge_dtype_size(in[0]->dtype);
  args.act = &node->act;
  const void *data[2] = {in[0]->data, in[1]->data};
  ew_execute(&args, out[0], data, in_rank, (const int64_t(*)[LEDGE_MAX_RANK])in_dims,
             exec ? exec->pool : NULL);
  return LEDGE_OK;
}

/* Pow(X: T, Y: T1) -> T, where the exponent's dtype may differ. */
static lg_status pow_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 2, 2));
  int in_rank[2], rank;
  int64_t in_dims[2][LEDGE_MAX_RANK], dims[LEDGE_MAX_RANK];
  LG_TRY(broadcast_inputs(node, in, 2, in_rank, in_dims, &rank, dims));
  for (int k = 0; k < 2; k++)
    if (!lg_dtype_is_float(in[k]->dtype) && !lg_dtype_is_integer(in[k]->dtype))
      return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': input %d has unsupported dtype %s",
                      node->op_type, node->name, k, ledge_dtype_name(in[k]->dtype));
  if (out[0]) {
    out[0]->dtype = in[0]->dtype;
    lg_tensor_set_shape(out[0], rank, dims);
  }
  return LEDGE_OK;
}

static lg_status pow_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                         const lg_exec *exec) {
  if (!out[0]) return LEDGE_OK;
  int in_rank[2];
  int64_t in_dims[2][LEDGE_MAX_RANK];
  for (int k = 0; k < 2; k++) operand_shape(node, in, k, &in_rank[k], in_dims[k]);
  pow_args pa = {.base = {.kernel = pow_kernel, .n_in = 2, .out_dtype = out[0]->dtype},
                 .a_dtype = in[0]->dtype,
                 .b_dtype = in[1]->dtype};
  pa.base.out_size = ledge_dtype_size(out[0]->dtype);
  pa.base.in_size[0] = ledge_dtype_size(in[0]->dtype);
  pa.base.in_size[1] = ledge_dtype_size(in[1]->dtype);
  const void *data[2] = {in[0]->data, in[1]->data};
  ew_execute(&pa.base, out[0], data, in_rank, (const int64_t(*)[LEDGE_MAX_RANK])in_dims,
             exec ? exec->pool : NULL);
  return LEDGE_OK;
}

/* Where(condition: bool, X: T, Y: T) -> T, broadcast three ways. */
static lg_status where_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 3, 3));
  int in_rank[3], rank;
  int64_t in_dims[3][LEDGE_MAX_RANK], dims[LEDGE_MAX_RANK];
  LG_TRY(broadcast_inputs(node, in, 3, in_rank, in_dims, &rank, dims));
  if (in[0]->dtype != LEDGE_BOOL)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': condition must be bool, not %s",
                    node->op_type, node->name, ledge_dtype_name(in[0]->dtype));
  if (in[1]->dtype != in[2]->dtype)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': X and Y have dtypes %s and %s",
                    node->op_type, node->name, ledge_dtype_name(in[1]->dtype),
                    ledge_dtype_name(in[2]->dtype));
  size_t size = ledge_dtype_size(in[1]->dtype);
  if (!by_size(size, where_1, where_2, where_4, where_8))
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': dtype %s is not supported", node->op_type,
                    node->name, ledge_dtype_name(in[1]->dtype));
  if (out[0]) {
    out[0]->dtype = in[1]->dtype;
    lg_tensor_set_shape(out[0], rank, dims);
  }
  return LEDGE_OK;
}

static lg_status where_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                           const lg_exec *exec) {
  if (!out[0]) return LEDGE_OK;
  int in_rank[3];
  int64_t in_dims[3][LEDGE_MAX_RANK];
  for (int k = 0; k < 3; k++) operand_shape(node, in, k, &in_rank[k], in_dims[k]);
  size_t size = ledge_dtype_size(in[1]->dtype);
  ew_args args = {.n_in = 3, .out_dtype = out[0]->dtype, .out_size = size};
  args.kernel = by_size(size, where_1, where_2, where_4, where_8);
  if (!args.kernel)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': bad dtype", node->op_type, node->name);
  args.in_size[0] = 1;
  args.in_size[1] = args.in_size[2] = size;
  const void *data[3] = {in[0]->data, in[1]->data, in[2]->data};
  ew_execute(&args, out[0], data, in_rank, (const int64_t(*)[LEDGE_MAX_RANK])in_dims,
             exec ? exec->pool : NULL);
  return LEDGE_OK;
}

/* ---- Variadic: Sum, Mean, Max, Min ----
 * The output starts as a broadcast copy of input 0 and folds in each further
 * input in place; Mean then divides by the input count. */

static const kernel_table *variadic_table(const char *name) {
  if (!strcmp(name, "Sum") || !strcmp(name, "Mean")) return &add_table;
  if (!strcmp(name, "Max")) return &max_table;
  if (!strcmp(name, "Min")) return &min_table;
  return NULL;
}

static lg_status variadic_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 1, 64));
  int rank = 0;
  int64_t dims[LEDGE_MAX_RANK];
  for (int k = 0; k < node->n_in; k++) {
    int r;
    int64_t tmp[LEDGE_MAX_RANK];
    if (!in[k])
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': input %d is missing",
                      node->op_type, node->name, k);
    if (in[k]->dtype != in[0]->dtype)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': inputs have dtypes %s and %s",
                      node->op_type, node->name, ledge_dtype_name(in[0]->dtype),
                      ledge_dtype_name(in[k]->dtype));
    if (in[k]->rank < 0 || in[k]->rank > LEDGE_MAX_RANK || lg_tensor_count(in[k]) < 0)
      return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': input %d has an invalid shape", node->op_type,
                      node->name, k);
    if (k == 0) {
      rank = in[0]->rank;
      memcpy(dims, in[0]->dims, sizeof(int64_t) * (size_t)rank);
      continue;
    }
    lg_status s = lg_broadcast_shape(rank, dims, in[k]->rank, in[k]->dims, &r, tmp);
    if (s != LEDGE_OK) return lg_error_context(s, "%s node '%s': ", node->op_type, node->name);
    rank = r;
    memcpy(dims, tmp, sizeof(int64_t) * (size_t)r);
  }
  ledge_dtype dt = in[0]->dtype;
  bool is_mean = !strcmp(node->op_type, "Mean");
  bool supported = dt == LEDGE_FLOAT16 ||
                   ((unsigned)dt < N_DTYPES && (*variadic_table(node->op_type))[dt] != NULL);
  if (!supported || (is_mean && !lg_dtype_is_float(dt)))
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': dtype %s is not supported", node->op_type,
                    node->name, ledge_dtype_name(dt));
  if (lg_shape_count(rank, dims) < 0)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': output shape is too large", node->op_type,
                    node->name);
  if (out[0]) {
    out[0]->dtype = dt;
    lg_tensor_set_shape(out[0], rank, dims);
  }
  return LEDGE_OK;
}

static lg_status variadic_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                              const lg_exec *exec) {
  lg_tensor *o = out[0];
  if (!o) return LEDGE_OK;
  lg_threadpool *pool = exec ? exec->pool : NULL;
  ledge_dtype dt = o->dtype;
  size_t size = ledge_dtype_size(dt);
  int ranks[2];
  int64_t dims[2][LEDGE_MAX_RANK];

  ew_args copy = {.n_in = 1, .out_dtype = dt, .out_size = size, .in_size = {size}};
  copy.kernel = by_size(size, copy_1, copy_2, copy_4, copy_8);
  if (!copy.kernel)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': bad dtype", node->op_type, node->name);
  ranks[0] = in[0]->rank;
  memcpy(dims[0], in[0]->dims, sizeof dims[0]);
  const void *first[1] = {in[0]->data};
  ew_execute(&copy, o, first, ranks, (const int64_t(*)[LEDGE_MAX_RANK])dims, pool);

  const kernel_table *table = variadic_table(node->op_type);
  ew_args fold = {.n_in = 2, .out_dtype = dt, .out_size = size, .in_size = {size, size}};
  if (dt == LEDGE_FLOAT16) {
    fold.kernel = half_kernel;
    fold.f32_kernel = (*table)[LEDGE_FLOAT32];
  } else {
    fold.kernel = (*table)[dt];
  }
  ranks[0] = o->rank;
  memcpy(dims[0], o->dims, sizeof dims[0]);
  for (int k = 1; k < node->n_in; k++) {
    ranks[1] = in[k]->rank;
    memcpy(dims[1], in[k]->dims, sizeof dims[1]);
    const void *data[2] = {o->data, in[k]->data};
    ew_execute(&fold, o, data, ranks, (const int64_t(*)[LEDGE_MAX_RANK])dims, pool);
  }

  if (!strcmp(node->op_type, "Mean") && node->n_in > 1) {
    /* Divide by the count, given as a scalar operand of the output dtype. */
    float count_f = (float)node->n_in;
    double count_d = node->n_in;
    uint16_t count_h = lg_float_to_half(count_f);
    const void *count = dt == LEDGE_FLOAT32   ? (const void *)&count_f
                        : dt == LEDGE_FLOAT64 ? (const void *)&count_d
                                              : (const void *)&count_h;
    fold.kernel = dt == LEDGE_FLOAT16 ? half_kernel : div_table[dt];
    fold.f32_kernel = div_f32;
    ranks[1] = 0;
    const void *data[2] = {o->data, count};
    ew_execute(&fold, o, data, ranks, (const int64_t(*)[LEDGE_MAX_RANK])dims, pool);
  }
  return LEDGE_OK;
}

const lg_op_def lg_ops_binary[] = {
    {"Add", "", binary_infer, binary_run, false},
    {"Sub", "", binary_infer, binary_run, false},
    {"Mul", "", binary_infer, binary_run, false},
    {"Div", "", binary_infer, binary_run, false},
    {"Mod", "", binary_infer, binary_run, false},
    {"PRelu", "", binary_infer, binary_run, false},
    {"BitShift", "", binary_infer, binary_run, false},
    {"Equal", "", binary_infer, binary_run, false},
    {"Less", "", binary_infer, binary_run, false},
    {"Greater", "", binary_infer, binary_run, false},
    {"LessOrEqual", "", binary_infer, binary_run, false},
    {"GreaterOrEqual", "", binary_infer, binary_run, false},
    {"And", "", binary_infer, binary_run, false},
    {"Or", "", binary_infer, binary_run, false},
    {"Xor", "", binary_infer, binary_run, false},
    {"Pow", "", pow_infer, pow_run, false},
    {"Where", "", where_infer, where_run, false},
    {"Sum", "", variadic_infer, variadic_run, false},
    {"Mean", "", variadic_infer, variadic_run, false},
    {"Max", "", variadic_infer, variadic_run, false},
    {"Min", "", variadic_infer, variadic_run, false},
    {0},
};
