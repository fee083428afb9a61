/* interpret.c: per-frame state probabilities -> debounced states -> alerts. */
#include "pipeline/interpret.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Distraction episodes remembered for the time-sharing window. Episodes
 * shorter than min_state_s are never accepted, so a 30 s window holds far
 * fewer than this; the oldest is overwritten if it ever fills. */
#define EPISODE_RING 256

typedef struct episode {
  double start, end; /* end < 0 while open */
  double conf_sum;
  int frames;
  double state_time[INTERP_STATE_COUNT];
} episode;

struct interp {
  interp_config cfg;
  bool have_last;
  double last_t;
  double smoothed[INTERP_STATE_COUNT];
  bool have_smoothed;

  interp_state accepted;
  interp_state pending;
  double pending_since;
  int pending_frames;
  double unknown_since; /* < 0 when the last frame was known */
  double speed;         /* last known speed, < 0 if none yet */

  episode ring[EPISODE_RING];
  int ring_head, ring_count; /* ring_head: index of the newest */
  bool episode_open;
  bool single_alerted; /* long-distraction / addw raised for the open episode */
  double phone_start;  /* < 0 when not in texting/on-phone */
  bool phone_alerted;
  double phone_time[INTERP_STATE_COUNT];
  double last_timesharing_alert;

  interp_summary summary;
};

static const char *const state_names[] = {"normal", "texting", "looking-away", "on-phone",
                                          "unknown"};
static const char *const rule_names[] = {"long-distraction", "time-sharing", "addw", "phone-use"};

const char *interp_state_name(interp_state state) {
  return (unsigned)state <= INTERP_UNKNOWN ? state_names[state] : "?";
}
const char *interp_rule_name(interp_rule rule) {
  return (unsigned)rule < INTERP_RULE_COUNT ? rule_names[rule] : "?";
}
int interp_state_from_name(const char *name) {
  for (int i = 0; i <= INTERP_UNKNOWN; i++)
    if (!strcmp(name, state_names[i])) return i;
  return -1;
}
int interp_rule_from_name(const char *name) {
  for (int i = 0; i < INTERP_RULE_COUNT; i++)
    if (!strcmp(name, rule_names[i])) return i;
  return -1;
}

static bool is_distraction(interp_state s) {
  return s == INTERP_TEXTING || s == INTERP_LOOKING_AWAY || s == INTERP_ON_PHONE;
}
static bool is_phone(interp_state s) { return s == INTERP_TEXTING || s == INTERP_ON_PHONE; }

void interp_config_default(interp_config *c) {
  memset(c, 0, sizeof *c);
  c->smoothing = INTERP_SMOOTH_HMM;
  c->ema_tau_s = 0.5;
  c->hmm_switch_per_s = 0.5;
  c->hmm_evidence = 1.0;
  for (int i = 0; i < INTERP_STATE_COUNT; i++) c->enter_threshold[i] = 0.5;
  c->hysteresis = 0.1;
  c->min_state_s = 0.3;
  c->min_state_frames = 2;
  c->max_gap_s = 1.0;
  c->long_glance_s = 3.0;
  c->timesharing_window_s = 30.0;
  c->timesharing_total_s = 10.0;
  c->timesharing_cooldown_s = 30.0;
  c->addw_low_kmh = 20.0;
  c->addw_high_kmh = 50.0;
  c->addw_low_s = 6.0;
  c->addw_high_s = 3.5;
  c->standstill_kmh = 1.0;
  c->phone_min_s = 5.0;
  for (int i = 0; i < INTERP_RULE_COUNT; i++) c->rule_enabled[i] = true;
}

interp *interp_create(const interp_config *config, const char **error) {
  const interp_config *c = config;
  const char *bad = NULL;
  if (c->smoothing == INTERP_SMOOTH_EMA && !(c->ema_tau_s > 0))
    bad = "ema_tau_s must be > 0";
  else if (c->smoothing == INTERP_SMOOTH_HMM && !(c->hmm_switch_per_s > 0))
    bad = "hmm_switch_per_s must be > 0";
  else if (c->smoothing == INTERP_SMOOTH_HMM && !(c->hmm_evidence > 0 && c->hmm_evidence <= 1))
    bad = "hmm_evidence must be in (0, 1]";
  else if (!(c->min_state_frames >= 1 && c->min_state_frames <= 1000))
    bad = "min_state_frames must be in [1, 1000]";
  else if (!(c->hysteresis >= 0 && c->hysteresis < 1))
    bad = "hysteresis must be in [0, 1)";
  else if (!(c->min_state_s >= 0) || !(c->max_gap_s >= 0))
    bad = "durations must be >= 0";
  else if (!(c->long_glance_s > 0) || !(c->addw_low_s > 0) || !(c->addw_high_s > 0) ||
           !(c->phone_min_s > 0))
    bad = "alert durations must be > 0";
  else if (!(c->timesharing_window_s > 0) || !(c->timesharing_total_s > 0) ||
           c->timesharing_total_s > c->timesharing_window_s)
    bad = "time-sharing needs 0 < total <= window";
  else if (!(c->addw_low_kmh <= c->addw_high_kmh))
    bad = "addw_low_kmh must be <= addw_high_kmh";
  for (int i = 0; !bad && i < INTERP_STATE_COUNT; i++)
    if (!(c->enter_threshold[i] > 0 && c->enter_threshold[i] <= 1))
      bad = "thresholds must be in (0, 1]";
  if (bad) {
    if (error) *error = bad;
    return NULL;
  }
  interp *it = calloc(1, sizeof *it);
  if (!it) {
    if (error) *error = "out of memory";
    return NULL;
  }
  it->cfg = *c;
  it->accepted = INTERP_UNKNOWN;
  it->pending = INTERP_UNKNOWN;
  it->unknown_since = -1;
  it->speed = -1;
  it->phone_start = -1;
  it->ring_head = -1;
  it->last_timesharing_alert = -INFINITY;
  return it;
}

void interp_destroy(interp *it) { free(it); }

interp_state interp_current(const interp *it, double *confidence) {
  if (confidence)
    *confidence = it->accepted < INTERP_STATE_COUNT ? it->smoothed[it->accepted] : 0.0;
  return it->accepted;
}

void interp_get_summary(const interp *it, interp_summary *summary) { *summary = it->summary; }

static episode *open_episode(interp *it) {
  return it->episode_open ? &it->ring[it->ring_head] : NULL;
}

static void start_episode(interp *it, double start) {
  it->ring_head = (it->ring_head + 1) % EPISODE_RING;
  if (it->ring_count < EPISODE_RING) it->ring_count++;
  episode *e = &it->ring[it->ring_head];
  memset(e, 0, sizeof *e);
  e->start = start;
  e->end = -1;
  it->episode_open = true;
  it->single_alerted = false;
}

static void end_episode(interp *it, double end) {
  episode *e = open_episode(it);
  if (!e) return;
  e->end = end > e->start ? end : e->start;
  it->episode_open = false;
  it->phone_start = -1;
  it->phone_alerted = false;
}

static void smooth(interp *it, const double *p, double dt) {
  const interp_config *c = &it->cfg;
  double *s = it->smoothed;
  if (!it->have_smoothed || c->smoothing == INTERP_SMOOTH_NONE) {
    memcpy(s, p, sizeof it->smoothed);
    it->have_smoothed = true;
    return;
  }
  if (c->smoothing == INTERP_SMOOTH_EMA) {
    double alpha = 1.0 - exp(-dt / c->ema_tau_s);
    for (int i = 0; i < INTERP_STATE_COUNT; i++) s[i] += alpha * (p[i] - s[i]);
    return;
  }
  /* HMM forward step: a sticky transition (the driver keeps a state for
   * 1/hmm_switch_per_s seconds on average), then the classifier's output
   * taken as a likelihood (floored so one confident wrong frame cannot zero
   * a state out). */
  double stay = exp(-c->hmm_switch_per_s * dt);
  double total = 0;
  double post[INTERP_STATE_COUNT];
  for (int i = 0; i < INTERP_STATE_COUNT; i++) {
    double prior = stay * s[i] + (1.0 - stay) * (1.0 - s[i]) / (INTERP_STATE_COUNT - 1);
    post[i] = prior * pow(p[i] + 0.02, c->hmm_evidence);
    total += post[i];
  }
  for (int i = 0; i < INTERP_STATE_COUNT; i++) s[i] = total > 0 ? post[i] / total : 0.25;
}

/* The state the smoothed probabilities argue for, with per-state entry
 * thresholds and hysteresis around the accepted state. */
static interp_state candidate_state(const interp *it) {
  const double *s = it->smoothed;
  const interp_config *c = &it->cfg;
  interp_state best = INTERP_TEXTING;
  for (interp_state d = INTERP_TEXTING; d <= INTERP_ON_PHONE; d++)
    if (s[d] > s[best]) best = d;
  if (s[best] >= c->enter_threshold[best]) return best;
  if (is_distraction(it->accepted) &&
      s[it->accepted] >= c->enter_threshold[it->accepted] - c->hysteresis)
    return it->accepted;
  return INTERP_NORMAL;
}

static interp_state dominant(const double *state_time) {
  interp_state best = INTERP_LOOKING_AWAY;
  for (interp_state d = INTERP_TEXTING; d <= INTERP_ON_PHONE; d++)
    if (state_time[d] > state_time[best]) best = d;
  return best;
}

static void push_alert(interp *it, interp_alert *alerts, int max_alerts, int *n, double t,
                       interp_state state, double start, double duration, double confidence,
                       interp_rule rule) {
  if (!it->cfg.rule_enabled[rule]) return;
  it->summary.alerts[rule]++;
  if (*n >= max_alerts) return;
  interp_alert *a = &alerts[(*n)++];
  a->t = t;
  a->state = state;
  a->start = start;
  a->duration = duration;
  a->confidence = confidence;
  a->rule = rule;
}

/* Time-sharing: eyes-off time within [t - window, t] over at least two
 * episodes (one long glance is the single-glance rules' business). */
static void check_time_sharing(interp *it, double t, interp_alert *alerts, int max_alerts, int *n) {
  const interp_config *c = &it->cfg;
  double from = t - c->timesharing_window_s;
  double total = 0, conf = 0, first = t;
  int frames = 0, episodes = 0;
  double state_time[INTERP_STATE_COUNT] = {0};
  for (int k = 0; k < it->ring_count; k++) {
    const episode *e = &it->ring[(it->ring_head - k + EPISODE_RING) % EPISODE_RING];
    double end = e->end < 0 ? t : e->end;
    if (end <= from) break; /* older ones end earlier still */
    double start = e->start > from ? e->start : from;
    total += end - start;
    if (start < first) first = start;
    conf += e->conf_sum;
    frames += e->frames;
    for (int s = 0; s < INTERP_STATE_COUNT; s++) state_time[s] += e->state_time[s];
    episodes++;
  }
  if (episodes >= 2 && total > c->timesharing_total_s &&
      t - it->last_timesharing_alert >= c->timesharing_cooldown_s) {
    it->last_timesharing_alert = t;
    push_alert(it, alerts, max_alerts, n, t, dominant(state_time), first, total,
               frames ? conf / frames : 0, INTERP_RULE_TIME_SHARING);
  }
}

int interp_feed(interp *it, const interp_frame *f, interp_alert *alerts, int max_alerts,
                interp_change *change, bool *changed) {
  const interp_config *c = &it->cfg;
  int n = 0;
  if (changed) *changed = false;
  if (!isfinite(f->t) || (it->have_last && f->t < it->last_t)) return -1;
  double dt = it->have_last ? f->t - it->last_t : 0;
  interp_state before = it->accepted;

  /* Time since the last frame is charged to the state held during it; a gap
   * longer than max_gap_s is time nobody saw, charged to unknown. */
  it->summary.frames++;
  if (!it->have_last) it->summary.first_t = f->t;
  it->summary.last_t = f->t;
  it->summary.seconds_in_state[dt > c->max_gap_s ? INTERP_UNKNOWN : it->accepted] += dt;
  if (f->speed_kmh >= 0) it->speed = f->speed_kmh;

  if (it->have_last && dt > c->max_gap_s) {
    /* Dropped frames: the episode cannot be assumed to go on through them. */
    end_episode(it, it->last_t);
    it->accepted = INTERP_UNKNOWN;
    it->pending = INTERP_UNKNOWN;
    it->have_smoothed = false;
  }
  it->have_last = true;
  it->last_t = f->t;

  if (!f->known) {
    if (it->unknown_since < 0) it->unknown_since = f->t;
    if (f->t - it->unknown_since >= c->max_gap_s && it->accepted != INTERP_UNKNOWN) {
      end_episode(it, it->unknown_since);
      it->accepted = INTERP_UNKNOWN;
      it->pending = INTERP_UNKNOWN;
      it->have_smoothed = false;
    }
    goto done;
  }
  it->unknown_since = -1;

  double p[INTERP_STATE_COUNT], sum = 0;
  for (int i = 0; i < INTERP_STATE_COUNT; i++) {
    p[i] = isfinite(f->probs[i]) && f->probs[i] > 0 ? f->probs[i] : 0;
    sum += p[i];
  }
  if (!(sum > 0)) goto done; /* nothing to go on: treated like a dropped frame */
  for (int i = 0; i < INTERP_STATE_COUNT; i++) p[i] /= sum;
  smooth(it, p, dt);

  interp_state cand = candidate_state(it);
  if (cand == it->accepted) {
    it->pending = cand;
  } else {
    if (cand != it->pending) {
      it->pending = cand;
      it->pending_since = f->t;
      it->pending_frames = 0;
    }
    it->pending_frames++;
    /* From unknown, the first known state is taken at once: there is no
     * earlier state to protect from flicker. */
    if (it->accepted == INTERP_UNKNOWN ||
        (f->t - it->pending_since >= c->min_state_s && it->pending_frames >= c->min_state_frames)) {
      double since = it->accepted == INTERP_UNKNOWN ? f->t : it->pending_since;
      if (is_distraction(cand) && !it->episode_open) start_episode(it, since);
      if (!is_distraction(cand)) end_episode(it, since);
      if (is_phone(cand) && it->phone_start < 0) {
        it->phone_start = since;
        it->phone_alerted = false;
        memset(it->phone_time, 0, sizeof it->phone_time);
      }
      if (!is_phone(cand)) it->phone_start = -1;
      it->accepted = cand;
    }
  }

  episode *e = open_episode(it);
  if (e) {
    e->state_time[it->accepted] += dt;
    e->conf_sum += it->smoothed[INTERP_TEXTING] + it->smoothed[INTERP_LOOKING_AWAY] +
                   it->smoothed[INTERP_ON_PHONE];
    e->frames++;
    if (it->phone_start >= 0) it->phone_time[it->accepted] += dt;

    bool moving = it->speed < 0 || it->speed >= c->standstill_kmh;
    if (moving) {
      double eyes_off = f->t - e->start;
      double conf = e->frames ? e->conf_sum / e->frames : 0;
      bool addw = it->speed >= c->addw_low_kmh;
      double limit = !addw ? c->long_glance_s
                           : (it->speed > c->addw_high_kmh ? c->addw_high_s : c->addw_low_s);
      if (!it->single_alerted && eyes_off >= limit) {
        it->single_alerted = true;
        push_alert(it, alerts, max_alerts, &n, f->t, dominant(e->state_time), e->start, eyes_off,
                   conf, addw ? INTERP_RULE_ADDW : INTERP_RULE_LONG_DISTRACTION);
      }
      if (it->phone_start >= 0 && !it->phone_alerted && f->t - it->phone_start >= c->phone_min_s) {
        it->phone_alerted = true;
        interp_state ps = it->phone_time[INTERP_ON_PHONE] > it->phone_time[INTERP_TEXTING]
                              ? INTERP_ON_PHONE
                              : INTERP_TEXTING;
        push_alert(it, alerts, max_alerts, &n, f->t, ps, it->phone_start, f->t - it->phone_start,
                   it->smoothed[INTERP_TEXTING] + it->smoothed[INTERP_ON_PHONE],
                   INTERP_RULE_PHONE_USE);
      }
    }
  }
  if (it->speed < 0 || it->speed >= c->standstill_kmh)
    check_time_sharing(it, f->t, alerts, max_alerts, &n);

done:
  if (it->accepted != before && changed && change) {
    *changed = true;
    change->t = f->t;
    change->state = it->accepted;
    change->confidence = it->accepted < INTERP_STATE_COUNT ? it->smoothed[it->accepted] : 0;
  }
  return n;
}
