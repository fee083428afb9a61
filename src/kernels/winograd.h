/*
 * winograd.h: 3x3 stride-1 convolution by Winograd's minimal filtering
 * F(2x2, 3x3): each 4x4 input tile and 3x3 filter are transformed so that a
 * 2x2 output tile costs 16 multiplies instead of 36. The 16 transformed
 * positions become 16 independent GEMMs [M x C] x [C x tiles] on the packed
 * GEMM, with the filter transforms packed once at plan time.
 */
#ifndef LEDGE_KERNELS_WINOGRAD_H
#define LEDGE_KERNELS_WINOGRAD_H

#include "kernels/gemm.h"

/* Floats the packed transformed weights of an M x C x 3 x 3 filter take. */
size_t lg_winograd_packed_floats(const lg_gemm_kernel *kern, int64_t m, int64_t c);
/* False if out of memory (it needs 16 * m * c floats of scratch). */
bool lg_winograd_pack(const lg_gemm_kernel *kern, int64_t m, int64_t c, const float *w,
                      float *packed);
/* Scratch bytes for one image. */
size_t lg_winograd_workspace(int64_t m, int64_t c, int64_t oh, int64_t ow);

typedef struct lg_winograd_args {
  const lg_gemm_kernel *kern;
  const float *packed;
  int64_t c, h, w; /* input: c planes of h x w */
  int64_t pad_t, pad_l;
  int64_t m, oh, ow; /* output: m planes of oh x ow */
  const float *x;
  float *y;
  const float *bias;     /* or NULL */
  const float *residual; /* added before the activation, shaped like y; or NULL */
  const lg_act *act;
  float *workspace;
} lg_winograd_args;

/* Whether the transforms' stack scratch holds a row of tiles of this
 * output width (the caller uses another algorithm otherwise). */
bool lg_winograd_fits(int64_t oh, int64_t ow);

void lg_winograd_run(const lg_winograd_args *a, lg_threadpool *pool);

#endif
