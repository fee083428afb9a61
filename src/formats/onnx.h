/*
 * onnx.h: the ONNX importer. It reads a ModelProto straight from the
 * (mapped) file with the protobuf reader, turning initializers into constant
 * values whose data stays in the file.
 */
#ifndef LEDGE_ONNX_H
#define LEDGE_ONNX_H

#include "runtime/graph.h"

typedef struct lg_mapping {
  void *addr;
  size_t size;
} lg_mapping;

typedef struct lg_onnx_import {
  /* in */
  const uint8_t *data; /* the serialized ModelProto */
  size_t size;
  bool writable;        /* data may be modified in place (a private file mapping) */
  const char *base_dir; /* folder for external data files; NULL forbids them */
  /* out */
  int64_t ir_version;
  int opset; /* of the default domain */
  char producer[64];
  char graph_name[64];
  lg_mapping *maps; /* external data files mapped for the constants; unmap when done */
  int n_maps, cap_maps;
} lg_onnx_import;

/* Imports a model into g (initialized here). On failure g is freed and an
 * error naming the problem is set. */
lg_status lg_onnx_import_model(lg_onnx_import *imp, lg_graph *g);

/* Parses one serialized TensorProto (as in the conformance suite's .pb files)
 * into t. Its data is heap memory that the caller frees with
 * lg_aligned_free(*owned); name (may be NULL) receives a malloc'd copy of
 * the tensor's name or NULL. */
lg_status lg_onnx_parse_tensor_copy(const void *data, size_t size, lg_tensor *t, void **owned,
                                    char **name);

/* Maps a whole file read-only-private (copy on write); size 0 files fail. */
lg_status lg_map_file(const char *path, bool writable, lg_mapping *out);
void lg_unmap(lg_mapping *m);

#endif
