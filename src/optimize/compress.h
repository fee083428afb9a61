/*
 * compress.h: weight sharing and entropy coding (Deep Compression's second
 * and third stages) for .ledge files.
 *
 * Each large float32 constant is clustered by 1-D k-means into 2^bits
 * centroids (linear initialization, as Han et al. found best), then stored
 * as its centroids plus one index per weight, the indices Huffman-coded
 * (canonical codes, lengths limited to 15 bits). The blob layout is
 * documented in docs/format.md; ledge_format_cluster.c decodes it at load.
 */
#ifndef LEDGE_COMPRESS_H
#define LEDGE_COMPRESS_H

#include "formats/ledge_format.h"

typedef struct lg_compress_options {
  int bits;             /* 2..8: 2^bits centroids per tensor */
  int64_t min_elements; /* smaller constants stay raw (biases, norms); default 1024 */
  int iterations;       /* k-means iterations at most; default 30 */
  bool no_huffman;      /* store indices as packed bits instead of Huffman codes */
} lg_compress_options;

typedef struct lg_compress_stats {
  int tensors;           /* clustered */
  int64_t weights;       /* elements clustered */
  int64_t raw_bytes;     /* their float32 bytes */
  int64_t encoded_bytes; /* their encoded blobs */
  double worst_sqnr_db;  /* of the clustered tensors against their floats */
  char worst_tensor[128];
  lg_status error; /* the first failure, if any */
} lg_compress_stats;

/* Encodes n floats into a clustered blob (malloc'd); sqnr_db (may be NULL)
 * receives the signal-to-quantization-noise ratio of the result. */
lg_status lg_compress_tensor(const float *w, int64_t n, const lg_compress_options *o,
                             uint8_t **blob, size_t *size, double *sqnr_db);

/* The encode callback of lg_ledge_write_options; ctx is an lg_compress_ctx. */
typedef struct lg_compress_ctx {
  lg_compress_options options;
  lg_compress_stats stats;
} lg_compress_ctx;
bool lg_compress_encode(void *ctx, const lg_value *v, uint8_t **blob, size_t *size);

#endif
