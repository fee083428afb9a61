/*
 * interpret_eval.h: measuring the interpreter instead of assuming it works.
 *
 * Simulated drives: ground-truth state timelines (normal driving with short
 * and long glances away, bursts of visual time-sharing, texting and phone
 * calls) and, from them, per-frame predictions at a chosen inference rate
 * with realistic noise (flicker to a wrong state, dropouts where the driver
 * is not found, texting/on-phone confusions). The alerts that the truth
 * itself raises (interpreted with no smoothing at 30 frames/s) are the
 * reference; a system's alerts are matched against them to give precision,
 * recall, false alerts per hour and latency.
 */
#ifndef LEDGE_PIPELINE_INTERPRET_EVAL_H
#define LEDGE_PIPELINE_INTERPRET_EVAL_H

#include "pipeline/interpret.h"

typedef struct interp_eval_options {
  double hours; /* simulated driving time */
  unsigned seed;
  double speed_kmh; /* constant speed signal, < 0 for none */
  double flicker;   /* probability a frame's top state is a wrong one */
  double dropout;   /* probability a frame finds no driver */
  double confusion; /* probability texting and on-phone are swapped */
  /* How sure the classifier is of each state when it shows it: the top
   * probability (0.5..0.95) is multiplied by this (1: as is; < 1: a class the
   * model is never very sure of, the case per-state thresholds are for). */
  double confidence[INTERP_STATE_COUNT];
} interp_eval_options;

typedef struct interp_eval_result {
  double rate_hz; /* inference rate */
  int truth_alerts, alerts, matched;
  double precision, recall;
  double false_per_hour;
  double mean_latency_s; /* alert time minus the reference alert's time, matched ones */
  long frames;           /* inferences made: the CPU cost */
} interp_eval_result;

void interp_eval_options_default(interp_eval_options *options);

/* Simulates options->hours of driving, interprets predictions made at
 * rate_hz with config, and scores them. Returns 0, or -1 on a bad
 * configuration or out of memory. */
int interp_evaluate(const interp_eval_options *options, const interp_config *config, double rate_hz,
                    interp_eval_result *result);

/* The configuration of the naive baseline: every frame at face value, no
 * smoothing, no debouncing, no hysteresis; the rules as in config. */
void interp_config_raw(const interp_config *config, interp_config *raw);

/* A labelled replay: frames (as `ledge interpret` reads them) with the true
 * state of each. */
typedef struct interp_replay {
  interp_frame *frames;
  interp_state *labels;
  long n;
} interp_replay;

void interp_replay_free(interp_replay *replay);

/* Simulated drive (as interp_evaluate) as a labelled replay at rate_hz. */
int interp_simulate(const interp_eval_options *options, double rate_hz, interp_replay *out);

/* Reads a labelled replay: JSON Lines of frames with "label": a state name.
 * Returns 0, or -1 with one line in err. */
int interp_replay_load(const char *path, interp_replay *out, char *err, size_t err_size);
/* Writes one as JSON Lines (t, probs or face:false, label, speed_kmh if set). */
int interp_replay_save(const char *path, const interp_replay *replay);

/* Scores config on a replay: reference alerts from its labels (no
 * smoothing), candidate alerts from its probabilities. */
int interp_score(const interp_replay *replay, const interp_config *config,
                 interp_eval_result *result);

/* Fits the per-state entry thresholds of *config on a replay (coordinate
 * search over 0.2..0.8, maximizing F1 of the alerts, then fewer false
 * alerts). *before and *after (may be NULL) get the scores. */
int interp_fit_thresholds(const interp_replay *replay, interp_config *config,
                          interp_eval_result *before, interp_eval_result *after);

#endif
