/*
 * engine.h: the training engine.
 *
 * A network is an lg_graph (built by name in models.c or imported from
 * ONNX / TF.js / .ledge by the runtime's loaders). tr_net_compile turns it
 * into a training program: one tr_node per graph node with its shapes,
 * buffers for every activation (all kept for the backward pass), a gradient
 * buffer for every value a gradient flows through, and the trainable
 * parameters (the float constants that feed Conv, ConvTranspose, Gemm,
 * MatMul, BatchNormalization, Add and Mul).
 *
 * Layout: a rank-4 value (logical N x C x H x W) is stored channel-major,
 * C x N x H x W ("CNHW"), so that a convolution over the whole batch is one
 * GEMM per group (weights [Cout x K] times the im2col of the batch
 * [K x N*OH*OW]) whose output is already in that layout, a 1x1 convolution
 * reads its input as the GEMM's B matrix in place, and batch normalization
 * reads each channel as one contiguous run. Values of other ranks are plain
 * row-major. The export and the runtime see ordinary NCHW graphs.
 *
 * Gradients only flow where they are needed: a value needs a gradient when
 * it is a trainable parameter or is computed from one. Frozen layers (and
 * everything before the first trainable parameter) cost no backward work.
 */
#ifndef LEDGE_TRAIN_ENGINE_H
#define LEDGE_TRAIN_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/graph.h"
#include "runtime/threadpool.h"

typedef enum tr_op {
  TR_CONV,
  TR_CONV_TRANSPOSE,
  TR_BATCHNORM,
  TR_RELU,
  TR_CLIP,
  TR_LEAKY_RELU,
  TR_HARD_SWISH,
  TR_HARD_SIGMOID,
  TR_SIGMOID,
  TR_TANH,
  TR_MAXPOOL,
  TR_AVGPOOL,
  TR_GLOBAL_AVGPOOL,
  TR_GEMM,
  TR_ADD,
  TR_MUL,
  TR_CONCAT,
  TR_RESHAPE, /* Flatten and Reshape: the same elements in logical order */
  TR_DROPOUT,
  TR_IDENTITY,
} tr_op;

typedef enum tr_value_kind {
  TR_ACTIVATION = 0,
  TR_INPUT,
  TR_PARAM, /* trainable (unless frozen) float constant */
  TR_STATE, /* running mean / variance of a batch normalization */
  TR_CONST, /* other constants (shapes), not used as floats */
} tr_value_kind;

typedef struct tr_value {
  tr_value_kind kind;
  int graph_value; /* index in the source graph */
  int rank;
  int64_t dims[4];  /* logical dims, batch first for activations */
  int64_t count;    /* elements at the current batch size */
  int64_t capacity; /* elements allocated */
  float *data;
  float *grad;     /* NULL where no gradient flows */
  bool needs_grad; /* a gradient flows into this value */
  bool frozen;     /* a parameter that does not train */
  float lr_mult;   /* learning-rate multiplier of a parameter (backbone LR) */
  bool decay;      /* weight decay applies (weights, not biases or BN) */
} tr_value;

/* Geometry of a 2-D convolution from a "big" map (H x W) to a "small" one
 * (OH x OW); ConvTranspose runs it the other way. */
typedef struct tr_conv_geom {
  int64_t n, c_big, h, w, c_small, oh, ow;
  int64_t kh, kw, sh, sw, ph, pw, dh, dw, group;
} tr_conv_geom;

typedef struct tr_node {
  tr_op op;
  int graph_node;
  const char *name;
  int n_in, n_out;
  int in[8];
  int out[2];
  /* attributes */
  tr_conv_geom geom; /* Conv, ConvTranspose */
  int64_t pool_k[2], pool_s[2], pool_p[4], pool_d[2];
  bool count_include_pad, ceil_mode;
  float alpha, beta;       /* Clip bounds, LeakyRelu/HardSigmoid, Gemm scales */
  bool trans_a, trans_b;   /* Gemm */
  float epsilon, momentum; /* BatchNormalization */
  int axis;                /* Concat */
  float ratio;             /* Dropout */
  bool train_mode;         /* BatchNormalization / Dropout train behaviour now */
  bool frozen;             /* no parameter of this node trains */
  /* saved for the backward pass */
  float *saved;    /* BN: mean and inverse std per channel; Dropout: mask */
  int32_t *argmax; /* MaxPool */
  int64_t saved_cap, argmax_cap;
} tr_node;

typedef struct tr_net {
  lg_graph graph; /* the network; parameters live in its constants */
  tr_value *values;
  int n_values;
  tr_node *nodes;
  int n_nodes;
  int input;  /* value index of the image input */
  int output; /* value index of the logits [N x classes] */
  int64_t max_batch, batch;
  int64_t in_c, in_h, in_w;
  int n_classes;
  int *params; /* value indices of all float parameters (trainable or not) */
  int n_params;
  int *states; /* BN running statistics */
  int n_states;
  lg_threadpool *pool;
  bool training;
  uint64_t rng; /* dropout */
  float *scratch;
  int64_t scratch_cap;
} tr_net;

/* Options of compilation. */
typedef struct tr_compile_opts {
  int64_t max_batch;
  int threads;              /* 0: one per CPU */
  const char *freeze_until; /* node or value name: it and everything before are frozen */
  float backbone_lr_mult;   /* LR multiplier of parameters before the head (1 = same) */
  int head_first_node;      /* first node of the new head (for backbone_lr_mult), -1 if none */
  bool any_output;          /* accept an output that is not [N x classes] (shape probes) */
} tr_compile_opts;

/* Takes ownership of *graph (moved into net->graph; *graph is left empty).
 * The graph has one input [N, C, H, W] (N may be anything) and one output
 * [N, classes]. */
lg_status tr_net_compile(lg_graph *graph, const tr_compile_opts *opts, tr_net **out);
void tr_net_destroy(tr_net *net);

/* Copies a batch of images (NCHW floats, n <= max_batch) in and runs the
 * network forward; the logits are then at tr_net_logits. */
lg_status tr_net_forward(tr_net *net, const float *images, int64_t n);
const float *tr_net_logits(const tr_net *net);
/* Softmax cross-entropy with label smoothing of the last forward: returns
 * the mean loss, sets *correct to the number of top-1 hits and, when grad
 * is true, writes d(loss)/d(logits) for the backward pass. */
double tr_net_loss(tr_net *net, const int32_t *labels, float label_smoothing, bool grad,
                   int64_t *correct);
/* Backward from the logits' gradient: parameter gradients are overwritten. */
lg_status tr_net_backward(tr_net *net);
void tr_net_set_training(tr_net *net, bool training);

/* Parameter elements (all, or only the trainable ones). The parameters and
 * running statistics live in the graph's constants (the values alias them),
 * so the graph always holds the current weights for export. */
int64_t tr_net_param_count(const tr_net *net, bool trainable_only);

/* ---- kernels (tr_*.c) ---- */
void tr_forward_node(tr_net *net, tr_node *nd);
void tr_backward_node(tr_net *net, tr_node *nd);

/* C[m x n] (+)= A[m x k] B[k x n] with arbitrary strides, on the GEMM. */
void tr_matmul(lg_threadpool *pool, int64_t m, int64_t n, int64_t k, const float *a, int64_t a_rs,
               int64_t a_cs, const float *b, int64_t b_rs, int64_t b_cs, float *c, int64_t ldc,
               bool accumulate, const float *bias);

void tr_conv_forward(lg_threadpool *pool, const tr_conv_geom *g, const float *w, const float *x_big,
                     float *y_small, bool accumulate);
void tr_conv_backward_data(lg_threadpool *pool, const tr_conv_geom *g, const float *w,
                           const float *dy_small, float *dx_big);
void tr_conv_backward_filter(lg_threadpool *pool, const tr_conv_geom *g, const float *dy_small,
                             const float *x_big, float *dw);

/* Physical strides of the logical dims of v (rank padded to 4 at the front). */
void tr_value_strides4(const tr_value *v, int64_t dims4[4], int64_t strides4[4]);

#endif
