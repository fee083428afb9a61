/*
 * depthwise.h: depthwise 2-D convolution (one filter per channel, no
 * channel mixing) for 3x3 and 5x5 kernels, stride 1 or 2, dilation 1, with
 * the bias and activation fused. One call computes one channel plane.
 */
#ifndef LEDGE_KERNELS_DEPTHWISE_H
#define LEDGE_KERNELS_DEPTHWISE_H

#include "kernels/cpu.h"
#include "runtime/graph.h"

/* y[oh][ow] = act(bias + sum_{kh,kw} w[kh][kw] * x[oh*S + kh - pad_t][ow*S + kw - pad_l]),
 * with x zero outside [0,H) x [0,W). */
typedef void (*lg_dw_fn)(const float *x, int64_t h, int64_t w, const float *wk, float bias,
                         float *y, int64_t oh, int64_t ow, int64_t pad_t, int64_t pad_l,
                         const lg_act *act);

/* The kernel for this ISA, kernel size (3 or 5) and stride (1 or 2), or NULL. */
lg_dw_fn lg_depthwise_kernel(lg_isa isa, int k, int stride);

#endif
