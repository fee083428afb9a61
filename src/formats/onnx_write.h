/*
 * onnx_write.h: lg_graph -> ONNX ModelProto, the inverse of onnx.h.
 *
 * Everything the IR holds is written: nodes with their attributes and
 * domains, constants of every dtype as initializers (raw_data, little
 * endian), graph inputs with their shapes and symbolic dims, outputs with
 * their element types, opset imports for every domain used, and the model's
 * metadata (producer, doc string, metadata_props).
 */
#ifndef LEDGE_ONNX_WRITE_H
#define LEDGE_ONNX_WRITE_H

#include "runtime/graph.h"

typedef struct lg_onnx_write_options {
  int opset;          /* of the default domain; 0 means the highest opset a node says */
  int64_t ir_version; /* 0: what the opset needs (at least 4, so initializers need not be inputs) */
  const char *producer_name;    /* default "ledge" */
  const char *producer_version; /* default: ledge_version() */
  const char *domain;           /* model domain, may be NULL */
  int64_t model_version;
  const char *doc_string;
  const char *graph_name; /* default "ledge" */
  int n_metadata;         /* metadata_props entries */
  const char *const *metadata_keys;
  const char *const *metadata_values;
  /* Types and shapes of the graph outputs (dims -1 where they vary with the
   * inputs), used where the IR has none yet (outputs get theirs from
   * inference); may be NULL. */
  const ledge_tensor_info *output_types;
  /* Element types of every value of the graph (indexed like g->values), for
   * rewriting ops of the ledge.tf domain into standard ONNX ops, which
   * depends on their types; may be NULL (then those ops stay custom). */
  const ledge_dtype *value_dtypes;
} lg_onnx_write_options;

/* Serializes g into a malloc'd buffer (*out, *size). */
lg_status lg_onnx_serialize(const lg_graph *g, const lg_onnx_write_options *options, uint8_t **out,
                            size_t *size);

/* Serializes g and writes it to path (through a temporary file renamed into
 * place, so a failure never leaves half a model behind). */
lg_status lg_onnx_write_file(const lg_graph *g, const lg_onnx_write_options *options,
                             const char *path);

/* Writes a loaded model: opset, IR version, producer and output types come
 * from the model; options (may be NULL) add or override metadata. */
lg_status lg_onnx_write_model(const ledge_model *model, const lg_onnx_write_options *options,
                              const char *path);

/* The element type and shape of each graph output of a model (out has one
 * entry per output), found by planning a session twice, with the inputs'
 * unknown dims taken as 1 and then as 2: output dims that differ are
 * dynamic (-1). Names point into the model. */
lg_status lg_model_output_types(const ledge_model *model, ledge_tensor_info *out);

/* The element type of every value of a model (malloc'd, n_values entries),
 * found by planning it with every node output kept (unknown dims as 1). */
lg_status lg_model_value_dtypes(const ledge_model *model, ledge_dtype **out);

/* True if g has nodes whose ONNX form depends on value types (see
 * value_dtypes above). */
bool lg_onnx_needs_value_dtypes(const lg_graph *g);

/* Writes size bytes to path through a temporary file renamed into place. */
lg_status lg_write_file_atomic(const char *path, const void *data, size_t size);

#endif
