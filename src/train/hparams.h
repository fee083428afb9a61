/*
 * train/hparams.h: the hyperparameters of hosted image-classification
 * training, with its names and defaults, read from command-line flags or
 * from the hyperparameters.json a hosted training job receives (an object
 * whose values are all strings: {"epochs": "30", "image_shape": "3,224,224"}).
 *
 * Every name is accepted with underscores or dashes, so `--mini-batch-size
 * 64`, `--mini_batch_size=64` and {"mini_batch_size": "64"} are the same.
 * Values are parsed strictly ("64x" is an error) and range-checked when set;
 * train_hparams_validate checks what needs all of them (required values,
 * combinations). Every error is one line naming the hyperparameter:
 * "mini_batch_size: '0' is out of range (1 to 1048576)".
 *
 *   name                      default       notes
 *   num_classes               (required)    2 or more
 *   num_training_samples      (required)    for the schedule and the log
 *   num_layers                152           18 34 50 101 152 200, CIFAR-style 20 32 44 56 110
 *   image_shape               3,224,224     C,H,W (C 1 or 3)
 *   mini_batch_size           32
 *   epochs                    30
 *   learning_rate             0.1
 *   lr_scheduler_factor       0.1           multiply the rate by this at each step epoch
 *   lr_scheduler_step         (none)        comma list of epochs, e.g. "10,20"
 *   optimizer                 sgd           sgd adam rmsprop nag
 *   momentum                  0.9           sgd, nag
 *   weight_decay              0.0001
 *   beta_1, beta_2, eps       0.9 0.999 1e-8 (adam); gamma 0.9 (rmsprop decay)
 *   augmentation_type         (none)        crop crop_color crop_color_transform
 *   use_pretrained_model      0             0 or 1
 *   resize                    (none)        shorter side before cropping
 *   top_k                     5             report top-k accuracy
 *   checkpoint_frequency      1             epochs between checkpoints
 *   early_stopping            False         True/False (or 1/0)
 *   early_stopping_min_epochs 10
 *   early_stopping_patience   5
 *   early_stopping_tolerance  0.0           relative improvement that counts
 *   multi_label               0             only 0 is supported
 *   use_weighted_loss         0             weight the loss by inverse class frequency
 *   precision_dtype           float32       only float32 is supported
 *   kv_store                  (none)        accepted for compatibility (dist_sync = MPI here)
 *   ledge's additions:
 *   seed                      0             shuffles, augmentation, initialization
 *   label_smoothing           0.0
 *   lr_scheduler              step          step or cosine
 *   warmup_epochs             0             linear warmup (cosine or step)
 *   clip_gradient             0             clip gradients to this global norm (0: off)
 *   validation_fraction       0             hold out this share of --train when no --validation
 */
#ifndef LEDGE_TRAIN_HPARAMS_H
#define LEDGE_TRAIN_HPARAMS_H

#include <stdint.h>
#include <stdio.h>

#include "ledge/ledge.h"
#include "train/augment.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TRAIN_MAX_LR_STEPS 32

typedef struct train_hparams {
  int num_classes;
  long num_training_samples;
  int num_layers;
  int image_shape[3]; /* C, H, W */
  int mini_batch_size;
  int epochs;
  double learning_rate;
  double lr_scheduler_factor;
  int lr_scheduler_step[TRAIN_MAX_LR_STEPS];
  int lr_scheduler_step_count;
  char optimizer[16];
  double momentum;
  double weight_decay;
  double beta_1, beta_2, eps, gamma;
  train_augmentation augmentation_type;
  int use_pretrained_model;
  int resize;
  int top_k;
  int checkpoint_frequency;
  int early_stopping;
  int early_stopping_min_epochs;
  int early_stopping_patience;
  double early_stopping_tolerance;
  int multi_label;
  int use_weighted_loss;
  char precision_dtype[16];
  char kv_store[16];
  uint64_t seed;
  double label_smoothing;
  char lr_scheduler[16];
  int warmup_epochs;
  double clip_gradient;
  double validation_fraction;
  uint64_t set_mask; /* bit k: the k-th table entry was given (train_hparams_is_set) */
} train_hparams;

/* Fills hp with the defaults above; nothing is marked as set. */
void train_hparams_defaults(train_hparams *hp);

/* Sets one hyperparameter by name (underscores or dashes, a leading "--"
 * allowed) from its text. LEDGE_ERR_INVALID_ARGUMENT with a message for an
 * unknown name or a bad value; hp is unchanged then. */
ledge_status train_hparams_set(train_hparams *hp, const char *name, const char *value, char *err,
                               size_t err_size);

/* If argv[*i] is a hyperparameter flag ("--epochs 5" or "--epochs=5"),
 * applies it, advances *i past it and sets *matched = 1; otherwise leaves
 * everything alone with *matched = 0. A known flag with a bad or missing
 * value is an error. */
ledge_status train_hparams_parse_flag(train_hparams *hp, int argc, char **argv, int *i,
                                      int *matched, char *err, size_t err_size);

/* Applies a hyperparameters.json file: one JSON object whose values are
 * strings (numbers and booleans are accepted too). Keys starting with
 * "sagemaker_" or "_" are ignored (hosted jobs add their own); any other
 * unknown key is an error, so that a misspelt name is never silently lost. */
ledge_status train_hparams_load_json(train_hparams *hp, const char *path, char *err,
                                     size_t err_size);

/* Whether `name` was set by a flag or the JSON file. */
int train_hparams_is_set(const train_hparams *hp, const char *name);

/* Checks the whole set: required values present (num_classes and
 * num_training_samples; pass require_counts = 0 when the caller fills them
 * from the data afterwards), steps ascending and below epochs, and
 * combinations the trainer does not support. */
ledge_status train_hparams_validate(const train_hparams *hp, int require_counts, char *err,
                                    size_t err_size);

/* The learning rate for epoch `epoch` (0-based, fractional within an epoch
 * for warmup/cosine) under the schedule: step (times lr_scheduler_factor at
 * each epoch of lr_scheduler_step) or cosine (to 0 at `epochs`), after a
 * linear warmup of warmup_epochs. */
double train_hparams_learning_rate(const train_hparams *hp, double epoch);

/* Writes all hyperparameters as one JSON object with string values (the
 * hyperparameters.json form, readable by train_hparams_load_json). */
void train_hparams_write_json(const train_hparams *hp, FILE *f);

/* Prints the flag list with defaults (for --help). */
void train_hparams_print_help(FILE *f);

#ifdef __cplusplus
}
#endif

#endif /* LEDGE_TRAIN_HPARAMS_H */
