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

#endif
