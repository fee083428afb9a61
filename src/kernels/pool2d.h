/*
 * pool2d.h: 2-D max and average pooling over one NCHW plane, stride 1 or 2
 * (the same in both dimensions), dilation 1, windows up to 7x7, with the
 * padded polyphase copy of kernels/planes.h: one contiguous vector loop per
 * band of output rows instead of a bounds check per tap.
 */
#ifndef LEDGE_KERNELS_POOL2D_H
#define LEDGE_KERNELS_POOL2D_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/cpu.h"

typedef struct lg_pool2d_args {
  int64_t h, w;   /* input plane */
  int64_t oh, ow; /* output plane */
  int64_t kh, kw, stride;
  int64_t pad_t, pad_l, pad_b, pad_r;
  bool is_max;
  /* Average: divide by the taps inside the padded input (true) or inside
   * the input only (false), as ONNX AveragePool's count_include_pad. */
  bool count_include_pad;
} lg_pool2d_args;

/* y[oh][ow] = max or mean over the window at (oh*S - pad_t, ow*S - pad_l). */
typedef void (*lg_pool2d_fn)(const lg_pool2d_args *a, const float *x, float *y);

/* The kernel for this ISA level and shape, or NULL where it does not apply
 * (reference level, other strides, windows over 7, planes too wide for the
 * scratch). */
lg_pool2d_fn lg_pool2d_kernel(lg_isa isa, const lg_pool2d_args *a);

#endif
