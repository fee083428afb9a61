/*
 * trainer.h: a whole training run, as `ledge train` does it: data, network,
 * epochs with a progress bar, validation, metrics, checkpoints, resume,
 * NaN stop, early stopping, export.
 */
#ifndef LEDGE_TRAIN_TRAINER_H
#define LEDGE_TRAIN_TRAINER_H

#include "train/augment.h"
#include "train/checkpoint.h"
#include "train/dataset.h"
#include "train/optim.h"

typedef struct tr_train_config {
  /* data */
  const char *train_path, *validation_path;
  long limit, validation_limit;
  double validation_fraction;   /* > 0 and no validation path: split the training set */
  const char *validation_group; /* split by subject: a regex over sample paths naming the
                                   group (train_dataset_split_by_group); NULL: by sample */
  /* network */
  const char *network; /* resnet, cnn, mlp */
  int num_layers;
  const char *pretrained; /* model file, or NULL */
  const char *cut;        /* pretrained: node to cut at (NULL: automatic) */
  const char *freeze_until;
  float backbone_lr_mult;
  int image_c, image_h, image_w;
  int num_classes;
  long num_training_samples; /* 0: not checked */
  /* optimization */
  int mini_batch_size, epochs;
  tr_schedule schedule;
  tr_optim_config optim;
  float label_smoothing;
  /* data augmentation */
  const char *augmentation_type; /* crop, crop_color, crop_color_transform, none */
  int resize;
  int imagenet_normalization; /* pretrained backbones: ImageNet mean/std */
  /* run */
  uint64_t seed;
  int threads;
  int top_k;
  const char *checkpoint_path; /* NULL: no checkpoints */
  int checkpoint_frequency;    /* epochs */
  int resume;
  const char *metrics_path, *plot_path;
  const char *output_path, *labels_path;
  int early_stopping, early_stopping_patience, early_stopping_min_epochs;
  double early_stopping_tolerance;
  int json;           /* print the final summary as JSON on stdout */
  long max_steps;     /* > 0: stop after this many steps (tests, benchmarks) */
  int cache_features; /* pretrained: frozen backbone run once by the runtime, head on cached
                         features */
} tr_train_config;

void tr_train_config_defaults(tr_train_config *cfg);
/* Runs it; returns a process exit code (0 done, 1 error, 2 stopped on NaN),
 * messages on stderr. */
int tr_train_run(const tr_train_config *cfg);
/* Opens the data as cfg says: *all is the training data as read, *train
 * the part trained on (all, or a view when validation is split off it), *val
 * the validation data or NULL: --validation PATH with its classes aligned to
 * the training set's by name, else validation_fraction of the training set,
 * split by subject when validation_group is set. Returns 0, or 1 after
 * printing the error (everything opened is released). */
int tr_open_data(const tr_train_config *cfg, train_dataset **all, train_dataset **train,
                 train_dataset **val);
/* Writes what goes beside an exported model: the class names (labels_path,
 * default MODEL.labels.txt) and how to prepare its input
 * (MODEL.preprocess.json). Returns 0, or 1 after printing the error. */
int tr_write_model_sidecars(const tr_train_config *cfg, const train_dataset *train,
                            const train_augment_config *preprocess);
/* The --cache-features mode (features.c). */
int tr_train_cached(const tr_train_config *cfg);

#endif
