/*
 * optim.h: optimizers, learning-rate schedules and gradient clipping.
 *
 *   sgd      v = momentum * v + g;            w -= lr * v
 *   nag      v = momentum * v + g;            w -= lr * (g + momentum * v)   (Nesterov)
 *   adam     m, v moments (beta1, beta2), bias-corrected; weight decay as L2 in g
 *   adamw    the same with decoupled weight decay: w -= lr * wd * w
 *   rmsprop  s = rho * s + (1 - rho) g^2;     w -= lr * g / (sqrt(s) + eps)
 * where g = gradient + weight_decay * w (sgd, nag, adam, rmsprop). Weight
 * decay applies to weights (rank >= 2), not to biases or batch-norm
 * parameters. Each parameter's rate is scaled by its lr_mult (a lower
 * backbone rate when fine-tuning).
 */
#ifndef LEDGE_TRAIN_OPTIM_H
#define LEDGE_TRAIN_OPTIM_H

#include <stdio.h>

#include "train/engine.h"

typedef enum tr_optimizer_kind {
  TR_OPT_SGD,
  TR_OPT_NAG,
  TR_OPT_ADAM,
  TR_OPT_ADAMW,
  TR_OPT_RMSPROP
} tr_optimizer_kind;

/* Parses sgd, nag, adam, adamw, rmsprop; false if none. */
bool tr_optimizer_parse(const char *name, tr_optimizer_kind *out);
const char *tr_optimizer_name(tr_optimizer_kind kind);

typedef struct tr_optim_config {
  tr_optimizer_kind kind;
  float momentum; /* sgd, nag */
  float weight_decay;
  float beta1, beta2;  /* adam, adamw */
  float rho;           /* rmsprop */
  float epsilon;       /* adam, adamw, rmsprop */
  float clip_gradient; /* > 0: clip the global gradient norm to this */
} tr_optim_config;

typedef struct tr_optimizer {
  tr_optim_config cfg;
  int n;       /* trainable parameters */
  int *values; /* their value indices */
  float **m, **v;
  int64_t step;
} tr_optimizer;

lg_status tr_optimizer_create(const tr_net *net, const tr_optim_config *cfg, tr_optimizer **out);
void tr_optimizer_destroy(tr_optimizer *opt);
/* Applies one update with learning rate lr; returns the gradient norm
 * before clipping. */
double tr_optimizer_step(tr_optimizer *opt, tr_net *net, float lr);
/* Slots of state per parameter element (1 or 2), for checkpoints. */
int tr_optimizer_slots(const tr_optimizer *opt);

/* ---- Schedules ---- */

typedef enum tr_schedule_kind { TR_SCHED_STEP, TR_SCHED_COSINE } tr_schedule_kind;

typedef struct tr_schedule {
  tr_schedule_kind kind;
  float base_lr;
  float factor;  /* step: multiplied at each listed epoch */
  int steps[32]; /* step: epochs (1-based boundaries) where the rate drops */
  int n_steps;
  float warmup_epochs; /* linear warmup from 0 (both kinds) */
  int epochs;          /* cosine: the whole run */
  float min_lr;        /* cosine: the floor */
} tr_schedule;

/* Parses a comma list of epochs ("10,20") into s->steps; false on junk. */
bool tr_schedule_parse_steps(tr_schedule *s, const char *list);
/* The rate at a fractional epoch (0 = start of training). */
float tr_schedule_lr(const tr_schedule *s, double epoch);

#endif
