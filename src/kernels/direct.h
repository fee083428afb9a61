/*
 * direct.h: direct convolution for layers with very few input channels (the
 * first layer of a network: 3 channels in, 16-64 out, 3x3 stride 2), where
 * an im2col GEMM spends more time unfolding the input than multiplying.
 * Same padded polyphase planes as the depthwise kernel (kernels/planes.h),
 * one set per input channel; each loaded input vector feeds 8 output
 * channels' accumulators.
 */
#ifndef LEDGE_KERNELS_DIRECT_H
#define LEDGE_KERNELS_DIRECT_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/cpu.h"
#include "runtime/graph.h"

typedef struct lg_direct_args {
  int64_t c, h, w;        /* input: c planes of h x w */
  int64_t m, oh, ow;      /* output: m planes of oh x ow */
  int64_t kh, kw, stride; /* kernel and stride (both dimensions) */
  int64_t pad_t, pad_l;
  const float *weights; /* [m][c][kh][kw] */
  const float *bias;    /* [m] or NULL */
  const lg_act *act;
} lg_direct_args;

/* Output channels [m0, m1) of one image. */
typedef void (*lg_direct_fn)(const lg_direct_args *a, const float *x, float *y, int64_t m0,
                             int64_t m1);

/* The kernel for this ISA and shape, or NULL where it does not apply (more
 * than 4 input channels, kernels over 7, strides other than 1 or 2, planes
 * too wide for its scratch, the reference level). */
lg_direct_fn lg_direct_kernel(lg_isa isa, const lg_direct_args *a);

#endif
