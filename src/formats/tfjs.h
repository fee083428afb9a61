/*
 * tfjs.h: the TensorFlow.js importer. Reads a model.json (graph models:
 * a GraphDef-like node list; layers models: a Keras model_config) and its
 * weight shards, and produces the same lg_graph IR as the ONNX importer,
 * made of ONNX operators, so no TF-specific kernels are needed.
 *
 * Layout: TF tensors are NHWC. Each TF tensor may exist in the IR as an NHWC
 * value, an NCHW value, or both; convolutions, pooling, resizing and batch
 * norm read NCHW, elementwise operators follow their inputs, and Transposes
 * are inserted only where a layout change is really needed. Graph inputs
 * and outputs keep TF's NHWC layout, so a user feeds the same tensors as to
 * TF.js. Weights (float32, float16, uint8/uint16-quantized) are decoded once
 * at import into buffers the constant values own; HWIO filters become OIHW.
 */
#ifndef LEDGE_TFJS_H
#define LEDGE_TFJS_H

#include "runtime/graph.h"

typedef struct lg_tfjs_info {
  char format[32];   /* "graph-model" or "layers-model" */
  char producer[64]; /* generatedBy / convertedBy / keras version */
} lg_tfjs_info;

/* True if data looks like a TF.js model.json (a JSON object: its first
 * non-blank byte is '{'). */
bool lg_tfjs_detect(const void *data, size_t size);

/* Imports model.json text into g (initialized here). Weight shard paths are
 * resolved inside base_dir (NULL: a model that needs shards fails). On
 * failure g is freed and an error naming the problem is set. */
lg_status lg_tfjs_import(const char *json, size_t len, const char *base_dir, lg_graph *g,
                         lg_tfjs_info *info);

#endif
