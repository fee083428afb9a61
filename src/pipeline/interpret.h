/*
 * interpret.h: temporal interpretation of per-frame driver-state
 * probabilities into alerts.
 *
 * A classifier (or the cue stage) gives, for each processed frame, a
 * probability for each of four states: normal, texting, looking-away and
 * on-phone. Single frames flicker, drop out and get confused; what a driver
 * and a fleet operator care about is whether the driver's eyes or hands were
 * off the driving task for long enough to matter. The interpreter smooths the
 * probabilities over time, debounces state changes with per-state thresholds
 * and hysteresis, tracks distraction episodes, and raises alerts by the
 * published rules:
 *
 *   long-distraction  one continuous distraction of long_glance_s (3 s) or
 *                     more (used when no speed signal is given, or below the
 *                     ADDW speed range);
 *   addw              the EU advanced driver distraction warning: eyes off
 *                     the road for 6 s at 20-50 km/h, 3.5 s above 50 km/h
 *                     (selected by the speed signal when one is given);
 *   time-sharing      more than 10 s of distraction in total within 30 s
 *                     (quick glances back to the road do not reset it);
 *   phone-use         texting or on-phone held for phone_min_s.
 *
 * Texting and on-phone count as distraction for every rule. Frames whose
 * state is unknown (no face, driver not visible) never raise a distraction
 * alert; at standstill (speed below standstill_kmh) no alert is raised.
 *
 * The interpreter is pure computation: frames in, alerts out, no I/O, no
 * allocation after creation, so it runs the same on a device, in `ledge
 * interpret` and in the evaluation replays.
 */
#ifndef LEDGE_PIPELINE_INTERPRET_H
#define LEDGE_PIPELINE_INTERPRET_H

#include <stdbool.h>
#include <stddef.h>

typedef enum interp_state {
  INTERP_NORMAL = 0,
  INTERP_TEXTING,
  INTERP_LOOKING_AWAY,
  INTERP_ON_PHONE,
  INTERP_STATE_COUNT,
  INTERP_UNKNOWN = INTERP_STATE_COUNT
} interp_state;

typedef enum interp_rule {
  INTERP_RULE_LONG_DISTRACTION = 0,
  INTERP_RULE_TIME_SHARING,
  INTERP_RULE_ADDW,
  INTERP_RULE_PHONE_USE,
  INTERP_RULE_COUNT
} interp_rule;

typedef enum interp_smoothing {
  INTERP_SMOOTH_NONE = 0, /* every frame taken at face value */
  INTERP_SMOOTH_EMA,      /* exponential moving average with time constant ema_tau_s */
  INTERP_SMOOTH_HMM       /* forward filter of a sticky hidden Markov model */
} interp_smoothing;

typedef struct interp_config {
  interp_smoothing smoothing;
  double ema_tau_s;        /* EMA time constant */
  double hmm_switch_per_s; /* HMM: expected state switches per second */
  double hmm_evidence;     /* HMM: exponent on the classifier's probabilities (< 1 trusts
                              one frame less: classifiers are overconfident) */
  double enter_threshold[INTERP_STATE_COUNT]; /* smoothed probability to enter a state */
  double hysteresis;       /* a state is kept until it drops below enter - hysteresis */
  double min_state_s;      /* a new state must persist this long to be accepted */
  double min_state_frames; /* ... and over this many consecutive frames */
  double max_gap_s;        /* unknown frames or missing frames up to this long keep an episode */
  double long_glance_s;    /* long-distraction */
  double timesharing_window_s;
  double timesharing_total_s;
  double timesharing_cooldown_s;
  double addw_low_kmh, addw_high_kmh; /* ADDW speed range and the split between thresholds */
  double addw_low_s, addw_high_s;     /* eyes-off time at addw_low..high and above high */
  double standstill_kmh;              /* below this speed no alert is raised */
  double phone_min_s;                 /* phone-use */
  bool rule_enabled[INTERP_RULE_COUNT];
} interp_config;

/* One frame. probs[] need not sum to one (they are normalized); known=false
 * marks a frame whose state is unknown. speed_kmh < 0 means "no speed". */
typedef struct interp_frame {
  double t;
  double probs[INTERP_STATE_COUNT];
  bool known;
  double speed_kmh;
} interp_frame;

typedef struct interp_alert {
  double t;           /* when it was raised */
  interp_state state; /* the dominant distraction state */
  double start;       /* when the distraction began */
  double duration;    /* eyes-off time that raised it (time-sharing: the total in the window) */
  double confidence;  /* mean smoothed probability of distraction over the episode */
  interp_rule rule;
} interp_alert;

/* A change of the accepted (debounced) state, for status pages and sinks. */
typedef struct interp_change {
  double t;
  interp_state state;
  double confidence;
} interp_change;

typedef struct interp_summary {
  double seconds_in_state[INTERP_STATE_COUNT + 1]; /* incl. unknown */
  int alerts[INTERP_RULE_COUNT];
  int frames;
  double first_t, last_t;
} interp_summary;

typedef struct interp interp;

/* The defaults described above. */
void interp_config_default(interp_config *config);

/* Creates an interpreter; NULL (with *error set to a static message) when the
 * configuration is inconsistent. */
interp *interp_create(const interp_config *config, const char **error);
void interp_destroy(interp *it);

/* Feeds one frame (times must not decrease; a frame earlier than the last is
 * rejected with -1). Writes up to max_alerts alerts raised at this frame into
 * alerts and returns their count. *change (if not NULL) is set and *changed
 * true when the accepted state changed at this frame. */
int interp_feed(interp *it, const interp_frame *frame, interp_alert *alerts, int max_alerts,
                interp_change *change, bool *changed);

/* The accepted state now, and its smoothed probability. */
interp_state interp_current(const interp *it, double *confidence);
void interp_get_summary(const interp *it, interp_summary *summary);

const char *interp_state_name(interp_state state);
const char *interp_rule_name(interp_rule rule);
/* Index of a state or rule by name, or -1. */
int interp_state_from_name(const char *name);
int interp_rule_from_name(const char *name);

#endif
