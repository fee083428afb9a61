/*
 * models.h: networks for training, as lg_graphs: built by name (ResNet-N,
 * CIFAR-style ResNets, simple CNNs) with freshly initialized weights, or
 * taken from a pretrained model file whose head is cut off and replaced by
 * a new classifier.
 */
#ifndef LEDGE_TRAIN_MODELS_H
#define LEDGE_TRAIN_MODELS_H

#include <stdint.h>

#include "runtime/graph.h"

/* ---- Building graphs ---- */

typedef struct tr_builder {
  lg_graph *g;
  uint64_t rng;
  int counter; /* for unique names */
} tr_builder;

void tr_builder_init(tr_builder *b, lg_graph *g, uint64_t seed);
int tr_b_input(tr_builder *b, const char *name, int64_t c, int64_t h, int64_t w);
void tr_b_output(tr_builder *b, int v);
/* A float constant of the given shape: 'h' He-normal (std sqrt(2/fan_in)),
 * 'u' uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), 'z' zeros, 'o' ones, 'n'
 * normal with std `scale`. */
int tr_b_param(tr_builder *b, const char *name, int rank, const int64_t *dims, char init,
               int64_t fan_in, float scale);
/* A node with inputs and one output; returns the output value (-1 on failure). */
int tr_b_node(tr_builder *b, const char *op_type, const char *name, int n_in, const int *in);
int tr_b_last_node(const tr_builder *b);
lg_status tr_b_attr_int(tr_builder *b, int node, const char *name, int64_t v);
lg_status tr_b_attr_float(tr_builder *b, int node, const char *name, float v);
lg_status tr_b_attr_ints(tr_builder *b, int node, const char *name, int n, const int64_t *v);

int tr_b_conv(tr_builder *b, int x, int64_t cin, int64_t cout, int64_t k, int64_t stride,
              int64_t pad, int64_t group, bool bias);
int tr_b_bn(tr_builder *b, int x, int64_t c);
int tr_b_unary(tr_builder *b, const char *op_type, int x);
int tr_b_maxpool(tr_builder *b, int x, int64_t k, int64_t s, int64_t p);
int tr_b_gap(tr_builder *b, int x);
int tr_b_flatten(tr_builder *b, int x);
int tr_b_dense(tr_builder *b, int x, int64_t in, int64_t out);
int tr_b_add(tr_builder *b, int x, int y);
int tr_b_dropout(tr_builder *b, int x, float ratio);

/* ---- Networks by name ---- */

/* Builds `name` for images c x h x w and `classes` outputs into g:
 *   resnet  with num_layers 18, 34, 50, 101, 152, 200 (ImageNet ResNet-v1;
 *           for images up to 64 px the stem is a 3x3 convolution without
 *           max pooling) or 20, 32, 44, 56, 110 (CIFAR-style, 3 stages of
 *           16/32/64 channels)
 *   cnn     two blocks of two 3x3 conv+BN+ReLU layers (32, 64 channels),
 *           each followed by 2x2 max pooling, then a 256-wide dense layer
 *           with dropout and the classifier
 *   lenet   LeNet-5 (5x5 convolutions of 6 and 16 channels, ReLU, max pooling,
 *           dense 120 and 84): small and quick
 *   mlp     one hidden layer of 256
 *   linear  a linear classifier on the raw pixels (a baseline)
 * Returns an error naming the accepted values for anything else. */
lg_status tr_build_model(const char *name, int num_layers, int64_t c, int64_t h, int64_t w,
                         int classes, uint64_t seed, lg_graph *g);

/* Loads a pretrained model (.onnx, model.json, .ledge), cuts it at node or
 * value `cut` (NULL or "": automatically before the final classifier: the
 * last Gemm/MatMul, or the last Conv feeding a global pooling whose output
 * is the model output), flattens what is left if needed and attaches a new
 * dense classifier for `classes`. *head_first_node receives the index of
 * the first new node. The input's batch dim may be anything. */
lg_status tr_load_pretrained(const char *path, const char *cut, int classes, uint64_t seed,
                             lg_graph *g, int *head_first_node);

/* The first part of tr_load_pretrained: the model cut at `cut` (or
 * automatically), its output the cut value (*cut_value), nothing after it,
 * every constant owned by g. */
lg_status tr_load_backbone(const char *path, const char *cut, lg_graph *g, int *cut_value);

#endif
