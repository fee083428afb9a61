/* vmath.h: vectorized elementwise math for the hot activations, with
 * AVX-512 and AVX2 versions picked by the active ISA level (LEDGE_ISA) and
 * portable C elsewhere. Accuracy: within about 1e-7 relative of expf over
 * the float range; NaN stays NaN; sigmoid saturates cleanly. */
#ifndef LEDGE_VMATH_H
#define LEDGE_VMATH_H

#include <stdint.h>

/* y[i] = exp(x[i]) (x clamped to [-87, 88], so no inf and no subnormal). */
void lg_vexp(const float *x, float *y, int64_t n);
/* y[i] = 1 / (1 + exp(-x[i])). x and y may be the same array. */
void lg_vsigmoid(const float *x, float *y, int64_t n);
/* y[i] = x[i] / (1 + exp(-x[i])): SiLU / Swish. x and y may be the same array. */
void lg_vswish(const float *x, float *y, int64_t n);

/* Applies a fused activation (runtime/graph.h) in place: every kind but
 * tanh vectorized. Same results as lg_act_scalar up to rounding. */
struct lg_act;
void lg_vact(const struct lg_act *act, float *x, int64_t n);

#endif
