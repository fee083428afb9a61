/*
 * ledge_format.h: the native .ledge model format (docs/format.md).
 *
 * A .ledge file is a 64-byte header, a table of checksummed sections and
 * the sections themselves: strings, a compact graph, a tensor table,
 * metadata, an optional self-test (reference input, expected outputs and
 * per-layer fingerprints) and 64-byte aligned tensor data. Loading maps the
 * file and points the constants into it: nothing proportional to the
 * weights is copied or allocated (compressed tensors excepted: they are
 * decoded at load).
 */
#ifndef LEDGE_LEDGE_FORMAT_H
#define LEDGE_LEDGE_FORMAT_H

#include "runtime/graph.h"

#define LG_LEDGE_MAGIC "\x89LEDGE\r\n"
enum { LG_LEDGE_VERSION_MAJOR = 1, LG_LEDGE_VERSION_MINOR = 0 };

/* Header flags. */
enum { LG_LEDGE_HAS_SELFTEST = 1u << 0, LG_LEDGE_HAS_COMPRESSED = 1u << 1 };

/* Tensor encodings in the tensor table. */
enum { LG_LEDGE_RAW = 0, LG_LEDGE_CLUSTERED = 1 };

/* CRC32C (Castagnoli), as iSCSI and ext4 use it. crc is 0 for a new sum. */
uint32_t lg_crc32c(uint32_t crc, const void *data, size_t size);

/* One layer's fingerprint in a self-test: summary statistics and evenly
 * spaced samples of a node output, enough to tell where two runs part. */
typedef struct lg_ledge_layer {
  const char *value; /* the node output's name */
  const char *node;  /* the producing node's name and op type */
  const char *op_type;
  int64_t count;
  double sum, sum_squares;
  float max_abs;
  int n_samples;
  const float *samples; /* values at i * count / n_samples */
} lg_ledge_layer;

/* A self-test: reference inputs, the outputs expected for them, and the
 * fingerprint of every node output on the way. */
typedef struct lg_ledge_selftest {
  float tolerance; /* max error relative to each tensor's largest magnitude */
  int n_inputs, n_outputs, n_layers;
  lg_tensor *inputs, *outputs; /* data points into the file */
  const char **input_names, **output_names;
  lg_ledge_layer *layers;
} lg_ledge_selftest;

/* What a loaded .ledge file holds besides the graph. */
typedef struct lg_ledge_info {
  unsigned version_major, version_minor;
  uint32_t flags;
  int n_meta;
  const char **meta_keys, **meta_values; /* point into the file */
  bool has_selftest;
  lg_ledge_selftest selftest;
  int opset;
  int64_t ir_version;
  int skipped_sections; /* unknown optional sections */
  int compressed_tensors;
  /* The clustered constants' encoded blobs (in the file), by value name, so
   * that rewriting the model keeps them as they are (lg_ledge_keep_encoded). */
  const char **clustered_names;
  const uint8_t **clustered_blobs;
  size_t *clustered_sizes;
  int n_clustered;
  /* The data section, whose checksum lg_ledge_verify_data checks on demand. */
  const uint8_t *data;
  size_t data_size;
  uint32_t data_crc;
  struct lg_pool *pool; /* owns the arrays above */
} lg_ledge_info;

/* True if data starts with the .ledge magic. */
bool lg_ledge_detect(const void *data, size_t size);

/* Reads a .ledge file held in data (a mapping that outlives g) into g
 * (initialized here) and *info (free with lg_ledge_info_free). Every offset,
 * size, dim and index is checked; the header, section table and every
 * section but the tensor data are checksummed here (the data's checksum
 * costs a pass over all weights, so lg_ledge_verify_data does it on demand,
 * as `ledge run --selftest` and LEDGE_VERIFY=1 do). On failure g is freed
 * and an error names the problem. */
lg_status lg_ledge_import(const uint8_t *data, size_t size, lg_graph *g, lg_ledge_info **info);

/* An encode callback for lg_ledge_write_options (ctx: the source model's
 * lg_ledge_info) that stores each constant that was clustered in the source
 * with its original blob, so converting a compressed .ledge keeps it
 * compressed, bit for bit. */
bool lg_ledge_keep_encoded(void *ctx, const lg_value *v, uint8_t **blob, size_t *blob_size);

/* Checks the tensor data's checksum. */
lg_status lg_ledge_verify_data(const lg_ledge_info *info);

/* A metadata value, or NULL. */
const char *lg_ledge_meta(const lg_ledge_info *info, const char *key);

void lg_ledge_info_free(lg_ledge_info *info);

/* What to write besides the graph. */
typedef struct lg_ledge_write_options {
  int opset;
  int64_t ir_version;
  int n_meta;
  const char *const *meta_keys;
  const char *const *meta_values;
  const lg_ledge_selftest *selftest; /* NULL: none */
  /* Types and shapes of the graph outputs, stored where the graph declares
   * none (lg_model_output_types finds them); may be NULL. */
  const ledge_tensor_info *output_types;
  /* Weight clustering (src/optimize/compress): NULL, or called for each
   * constant; returns true and fills *blob (malloc'd) to store the tensor
   * encoded as LG_LEDGE_CLUSTERED instead of raw. */
  bool (*encode)(void *ctx, const lg_value *v, uint8_t **blob, size_t *blob_size);
  void *encode_ctx;
} lg_ledge_write_options;

/* Serializes g into a malloc'd buffer. */
lg_status lg_ledge_serialize(const lg_graph *g, const lg_ledge_write_options *options,
                             uint8_t **out, size_t *size);
lg_status lg_ledge_write_file(const lg_graph *g, const lg_ledge_write_options *options,
                              const char *path);

/* Decoding a LG_LEDGE_CLUSTERED blob into count floats (ledge_format_cluster.c). */
lg_status lg_ledge_decode_clustered(const uint8_t *blob, size_t size, float *out, int64_t count);

/* Self-tests (ledge_format_selftest.c). */

/* A model over a clone of m's graph where every node output is a graph
 * output: the original outputs first, in order, then the others in node
 * order. layer_value (malloc'd) lists every node output's value index in
 * node order (*n_layers of them). */
lg_status lg_model_with_all_outputs(const ledge_model *m, ledge_model **out, int **layer_value,
                                    int *n_layers);

/* Runs the model on inputs (NULL: deterministic random ones, unknown dims
 * taken as 1) at optimization level 0 and records the outputs and every
 * layer's fingerprint into *st, allocated from pool. */
lg_status lg_ledge_selftest_make(const ledge_model *model, ledge_tensor *const *inputs,
                                 float tolerance, struct lg_pool *pool, lg_ledge_selftest *st);

typedef struct lg_ledge_selftest_report {
  bool passed;
  int layers_checked;
  double max_output_error; /* relative to each output's scale */
  double first_error;      /* error of the first diverging layer */
  char first_layer[256];   /* "value (node, op)" of the first layer beyond tolerance, or "" */
  char message[512];       /* one line for people */
} lg_ledge_selftest_report;

/* Runs a model's self-test: the optimized session's outputs against the
 * expected outputs, and the unoptimized graph's layers against their
 * fingerprints, naming the first layer that diverges. tolerance <= 0 uses
 * the file's. */
lg_status lg_ledge_selftest_run(const ledge_model *model, const lg_ledge_selftest *st,
                                float tolerance, int threads, lg_ledge_selftest_report *report);

#endif
