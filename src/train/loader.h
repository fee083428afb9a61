/*
 * train/loader.h: batches for the training step, decoded and augmented on
 * worker threads ahead of it.
 *
 *   train_loader *ld;
 *   train_loader_create(dataset, &options, &ld, err, sizeof err);
 *   for (epoch = 0; epoch < epochs; epoch++) {
 *     train_loader_start(ld, epoch, 0);
 *     train_batch b;
 *     while (train_loader_next(ld, &b) == 1)
 *       step(b.images, b.labels, b.count);   // float NCHW, int32 labels
 *   }
 *   train_loader_destroy(ld);
 *
 * Order: with shuffle on, epoch e visits the samples in a permutation drawn
 * from (seed, e); the same on every rank. Batches are taken from it in runs
 * of batch_size * world_size (the global batch); rank r gets the r-th slice
 * of each, so N ranks with batch b see exactly the samples one process with
 * batch N*b sees, and gradients averaged over ranks equal that process's.
 * With world_size > 1 an incomplete last global batch is dropped, so that
 * every rank takes the same number of steps (allreduce needs them all).
 *
 * Bad samples (images that fail to decode) are left out of their batch and
 * counted (train_loader_stats); the first message is kept. A batch may then
 * hold fewer than batch_size samples; with world_size > 1 it may hold none
 * (count 0: still take part in the allreduce, with zero gradients).
 *
 * Memory: prefetch batches of batch_size*C*H*W floats, allocated at create.
 */
#ifndef LEDGE_TRAIN_LOADER_H
#define LEDGE_TRAIN_LOADER_H

#include <stdint.h>

#include "train/augment.h"
#include "train/dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct train_loader train_loader;

typedef struct train_loader_options {
  int batch_size; /* samples per batch on this rank */
  int shuffle;    /* 1: a new permutation every epoch; 0: dataset order */
  uint64_t seed;  /* shuffles and augmentation */
  int rank;       /* this process's shard, 0 <= rank < world_size */
  int world_size; /* number of data-parallel processes (1: all data here) */
  int drop_last;  /* 1: drop an incomplete last batch (always so with world_size > 1) */
  int prefetch;   /* batches prepared ahead of the consumer (>= 1; default 2; at least
                     workers + 1 are used) */
  int workers;    /* decoding threads, each preparing whole batches (default: 1 up to
                     7 CPUs, then one per 4 CPUs, at most 8); batches still arrive in order */
  int augment;    /* 1: random augmentation (training); 0: resize + normalize only */
  train_augment_config transform; /* training shape, augmentation and normalization */
} train_loader_options;

/* Defaults: batch 32, shuffle on, seed 0, rank 0 of 1, keep the last batch,
 * prefetch 2, workers by CPU count, augmentation on, transform = train_augment_defaults(C, H, W,
 * TRAIN_AUG_CROP). */
void train_loader_options_init(train_loader_options *options, int channels, int height, int width);

/* A batch lent by the loader; valid until the next train_loader_next,
 * train_loader_start or train_loader_destroy. */
typedef struct train_batch {
  int count;             /* samples in it (<= batch_size) */
  const float *images;   /* count x C x H x W, NCHW */
  const int32_t *labels; /* count labels */
  const long *indices;   /* count dataset indices, for messages */
  long epoch;            /* the epoch it belongs to */
  long index;            /* its number within the epoch, from 0 */
} train_batch;

/* Creates a loader over dataset (which must outlive it). Starts its worker
 * thread idle; nothing is decoded until train_loader_start. */
ledge_status train_loader_create(const train_dataset *dataset, const train_loader_options *options,
                                 train_loader **out, char *err, size_t err_size);

/* Stops the worker and frees everything (NULL is a no-op). */
void train_loader_destroy(train_loader *loader);

/* Batches one rank gets per epoch. */
long train_loader_batches_per_epoch(const train_loader *loader);
/* Samples this rank sees per epoch (after dropping). */
long train_loader_samples_per_epoch(const train_loader *loader);

/* Begins (or restarts, e.g. on resume) epoch `epoch` at batch `first_batch`;
 * batches already prepared for another position are discarded. */
ledge_status train_loader_start(train_loader *loader, long epoch, long first_batch);

/* Waits for the next batch of the current epoch. Returns 1 with *batch
 * filled, 0 at the end of the epoch, -1 on a fatal error (out of memory;
 * message in train_loader_error). */
int train_loader_next(train_loader *loader, train_batch *batch);

typedef struct train_loader_stats {
  long samples;          /* samples delivered since create */
  long skipped;          /* samples left out because they failed to decode */
  double decode_seconds; /* worker time spent decoding + augmenting */
} train_loader_stats;
void train_loader_get_stats(const train_loader *loader, train_loader_stats *stats);

/* The first skip or fatal error message, or "" if none. */
const char *train_loader_error(const train_loader *loader);

#ifdef __cplusplus
}
#endif

#endif /* LEDGE_TRAIN_LOADER_H */
