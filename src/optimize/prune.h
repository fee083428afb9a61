/*
 * prune.h: pruning, on the imported graph (before any session pass).
 *
 *   magnitude  unstructured: in every Conv, Gemm and MatMul weight of at
 *              least min_elements values, the fraction `sparsity` of the
 *              smallest magnitudes becomes exactly zero (ties broken by
 *              position, so the count is exact). Fine-tuning keeps the zeros
 *              as a mask (ledge train --pretrained ... keeps exact zeros of
 *              pruned layers at zero).
 *   channels   structured: in every Conv (group 1) whose output reaches
 *              exactly one other Conv (group 1) through nothing but
 *              BatchNormalization and element-wise activations, the fraction
 *              `ratio` of output channels with the smallest L1 norm is
 *              removed, with the matching BatchNormalization entries and the
 *              consumer's input channels: a smaller dense network that runs
 *              faster. Channels feeding an Add, a Concat, a graph output or
 *              several consumers are kept (their count is tied elsewhere).
 */
#ifndef LEDGE_OPTIMIZE_PRUNE_H
#define LEDGE_OPTIMIZE_PRUNE_H

#include <stdint.h>

#include "runtime/graph.h"

typedef struct lg_prune_layer {
  char name[128]; /* the node (or its weight) */
  char op_type[16];
  int64_t before; /* magnitude: weights; channels: output channels */
  int64_t after;  /* magnitude: non-zero weights left; channels: channels left */
} lg_prune_layer;

typedef struct lg_prune_result {
  lg_prune_layer *layers;
  int n_layers;
  int64_t params_before, params_after; /* float32 weights of the pruned layers (non-zero after) */
} lg_prune_result;

lg_status lg_prune_magnitude(lg_graph *g, double sparsity, int64_t min_elements,
                             lg_prune_result *result);
lg_status lg_prune_channels(lg_graph *g, double ratio, lg_prune_result *result);
void lg_prune_result_free(lg_prune_result *result);

#endif
