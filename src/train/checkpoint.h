/*
 * checkpoint.h: the training state on disk, written atomically.
 *
 * A checkpoint holds every parameter, the batch-norm running statistics,
 * the optimizer's moments and the position (epochs done, steps, the best
 * validation accuracy so far). It is written to PATH.tmp, flushed to disk
 * and renamed over PATH, so a crash or `kill -9` at any moment leaves
 * either the previous checkpoint or the new one, never a torn file.
 * Loading checks that the checkpoint belongs to the same network (the
 * parameter count and sizes) and says so clearly when it does not.
 */
#ifndef LEDGE_TRAIN_CHECKPOINT_H
#define LEDGE_TRAIN_CHECKPOINT_H

#include "train/optim.h"

typedef struct tr_progress {
  int64_t epochs_done;
  int64_t steps;
  double best_accuracy; /* validation, -1 if none yet */
  int64_t best_epoch;
  int64_t bad_epochs; /* early stopping: epochs without improvement */
} tr_progress;

lg_status tr_checkpoint_save(const char *path, const tr_net *net, const tr_optimizer *opt,
                             const tr_progress *progress);
lg_status tr_checkpoint_load(const char *path, tr_net *net, tr_optimizer *opt,
                             tr_progress *progress);

#endif
