/* vmath.c: see vmath.h. exp by range reduction: x = k ln2 + r with
 * |r| <= ln2 / 2, exp(r) by its Taylor series to r^6 (relative error about
 * 1e-7), and 2^k written straight into the exponent bits. The AVX-512 and
 * AVX2 versions use intrinsics (compilers will not vectorize the clamps
 * without fast-math); the level follows lg_isa_active(), so LEDGE_ISA and
 * the tests exercise every path. */
#include "runtime/vmath.h"

#include <math.h>
#include <string.h>

#include "kernels/cpu.h"
#include "runtime/graph.h"
#include "runtime/vmath_simd.h"

static inline float exp_scalar(float x) {
  if (isnan(x)) return x;
  x = x < EXP_LO ? EXP_LO : (x > EXP_HI ? EXP_HI : x);
  int32_t k = (int32_t)lrintf(x * LOG2E);
  float kf = (float)k;
  float r = x - kf * LN2_HI - kf * LN2_LO;
  float p = 1.0f + r * (1.0f + r * (C2 + r * (C3 + r * (C4 + r * (C5 + r * C6)))));
  int32_t bits = (k + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

enum { OP_EXP, OP_SIGMOID, OP_SWISH };

static void apply_scalar(int op, const float *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    y[i] = op == OP_EXP       ? exp_scalar(v)
           : op == OP_SIGMOID ? 1.0f / (1.0f + exp_scalar(-v))
                              : v / (1.0f + exp_scalar(-v));
  }
}

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f"))) static void apply_avx512(int op, const float *x, float *y,
                                                            int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 v = _mm512_loadu_ps(x + i), out;
    if (op == OP_EXP)
      out = exp16(v);
    else {
      __m512 d = _mm512_add_ps(one, exp16(_mm512_sub_ps(zero, v)));
      out = _mm512_div_ps(op == OP_SIGMOID ? one : v, d);
    }
    _mm512_storeu_ps(y + i, out);
  }
  apply_scalar(op, x + i, y + i, n - i);
}

__attribute__((target("avx2,fma"))) static void apply_avx2(int op, const float *x, float *y,
                                                           int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i), out;
    if (op == OP_EXP)
      out = exp8(v);
    else {
      __m256 d = _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, v)));
      out = _mm256_div_ps(op == OP_SIGMOID ? one : v, d);
    }
    _mm256_storeu_ps(y + i, out);
  }
  apply_scalar(op, x + i, y + i, n - i);
}
#endif

static void apply(int op, const float *x, float *y, int64_t n) {
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
  lg_isa isa = lg_isa_active();
  if (isa >= LG_ISA_AVX512) {
    apply_avx512(op, x, y, n);
    return;
  }
  if (isa >= LG_ISA_AVX2) {
    apply_avx2(op, x, y, n);
    return;
  }
#endif
  apply_scalar(op, x, y, n);
}

void lg_vexp(const float *x, float *y, int64_t n) { apply(OP_EXP, x, y, n); }
void lg_vsigmoid(const float *x, float *y, int64_t n) { apply(OP_SIGMOID, x, y, n); }
void lg_vswish(const float *x, float *y, int64_t n) { apply(OP_SWISH, x, y, n); }

/* ---- lg_vact: every fused activation, vectorized ----
 * The piecewise-linear ones as 16-lane vector-extension loops compiled per
 * ISA level (GCC -O2 leaves the plain loops scalar); sigmoid and swish
 * through apply; tanh scalar. */

typedef float vact_vec __attribute__((vector_size(64)));
typedef int32_t vact_ivec __attribute__((vector_size(64)));

#define VACT_SELECT(m, a, b) ((vact_vec)(((m) & (vact_ivec)(a)) | (~(m) & (vact_ivec)(b))))

#define DEFINE_VACT(SUFFIX, ATTR)                                                 \
  ATTR static void vact_linear_##SUFFIX(const lg_act *act, float *x, int64_t n) { \
    int kind = act->kind;                                                         \
    float alpha = act->alpha, beta = act->beta;                                   \
    if (kind == LG_ACT_RELU) alpha = 0, beta = INFINITY;                          \
    if (kind == LG_ACT_HARD_SWISH) alpha = 1.0f / 6.0f, beta = 0.5f;              \
    vact_vec va = (vact_vec){0} + alpha, vb = (vact_vec){0} + beta;               \
    vact_vec zero = {0}, one = zero + 1.0f;                                       \
    int64_t i = 0;                                                                \
    for (; i + 16 <= n; i += 16) {                                                \
      vact_vec v, r;                                                              \
      memcpy(&v, x + i, sizeof v);                                                \
      if (kind == LG_ACT_RELU || kind == LG_ACT_CLIP) {                           \
        r = VACT_SELECT(v < va, va, v);                                           \
        r = VACT_SELECT(r > vb, vb, r);                                           \
      } else if (kind == LG_ACT_LEAKY_RELU) {                                     \
        r = VACT_SELECT(v >= zero, v, v * va);                                    \
      } else {                                                                    \
        vact_vec h = v * va + vb;                                                 \
        h = VACT_SELECT(h < zero, zero, h);                                       \
        h = VACT_SELECT(h > one, one, h);                                         \
        r = kind == LG_ACT_HARD_SWISH ? v * h : h;                                \
      }                                                                           \
      memcpy(x + i, &r, sizeof r);                                                \
    }                                                                             \
    for (; i < n; i++) x[i] = lg_act_scalar(act, x[i]);                           \
  }

DEFINE_VACT(generic, )
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
DEFINE_VACT(avx2, __attribute__((target("avx2,fma"))))
DEFINE_VACT(avx512, __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma"))))
#endif

void lg_vact(const lg_act *act, float *x, int64_t n) {
  switch (act->kind) {
    case LG_ACT_NONE: return;
    case LG_ACT_SIGMOID: lg_vsigmoid(x, x, n); return;
    case LG_ACT_SWISH: lg_vswish(x, x, n); return;
    case LG_ACT_RELU:
    case LG_ACT_CLIP:
    case LG_ACT_LEAKY_RELU:
    case LG_ACT_HARD_SIGMOID:
    case LG_ACT_HARD_SWISH: {
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
      lg_isa isa = lg_isa_active();
      if (isa >= LG_ISA_AVX512) {
        vact_linear_avx512(act, x, n);
        return;
      }
      if (isa >= LG_ISA_AVX2) {
        vact_linear_avx2(act, x, n);
        return;
      }
#endif
      vact_linear_generic(act, x, n);
      return;
    }
    default:
      for (int64_t i = 0; i < n; i++) x[i] = lg_act_scalar(act, x[i]);
  }
}
