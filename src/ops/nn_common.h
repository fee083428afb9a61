/* nn_common.h: what the neural-network families share: the window geometry
 * of convolution and pooling (conv.c) and the blocked matrix multiply
 * (matmul.c) that Conv and Gemm run on. */
#ifndef LEDGE_NN_COMMON_H
#define LEDGE_NN_COMMON_H

#include "ops/op.h"

/* Spatial geometry of a windowed operator. Always stored as 3-D: an
 * operator with n spatial dimensions uses the last n slots, and the leading
 * slots are neutral (size 1, stride 1, no padding). */
typedef struct lg_window {
  int n; /* spatial dimensions, 1 to 3 */
  int64_t in[3], out[3], kernel[3], stride[3], dilation[3], pad_begin[3], pad_end[3];
} lg_window;

/* Reads strides, dilations, pads and auto_pad of a node and computes the
 * output extent (conv.c). */
lg_status lg_window_init(const lg_node *node, int n, const int64_t *in_dims, const int64_t *kernel,
                         bool ceil_mode, lg_window *w);

/* C += alpha * A * B, single precision, blocked and threaded (matmul.c). */
typedef struct lg_sgemm_args {
  int64_t m, n, k;
  const float *a; /* element (i, p) at a[i * a_row_stride + p * a_col_stride] */
  int64_t a_row_stride, a_col_stride;
  const float *b; /* element (p, j) at b[p * ldb + j] */
  int64_t ldb;
  float *c; /* element (i, j) at c[i * ldc + j]; the product is added to it */
  int64_t ldc;
  float alpha;
} lg_sgemm_args;
void lg_sgemm(const lg_sgemm_args *g, lg_threadpool *pool);

/* True when a planned Conv node runs from its own copy of the weights (packed
 * at plan time) and never reads its W input again, so that the session may
 * release the model file's pages holding W. */
bool lg_conv_holds_weights(const lg_node *node);

#endif
