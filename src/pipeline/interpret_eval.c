/* interpret_eval.c: simulated drives scored against their own ground truth. */
#include "pipeline/interpret_eval.h"

#include "pipeline/interpret_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct segment {
  double start, end;
  interp_state state;
} segment;

typedef struct timeline {
  segment *seg;
  int n, cap;
} timeline;

typedef struct alert_list {
  interp_alert *a;
  int n, cap;
} alert_list;

/* xorshift64*: deterministic under a seed on every platform. */
static double uniform(unsigned long long *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return (double)((*s * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}
static double between(unsigned long long *s, double lo, double hi) {
  return lo + (hi - lo) * uniform(s);
}

static int add_segment(timeline *tl, double start, double len, interp_state state) {
  if (tl->n == tl->cap) {
    int cap = tl->cap ? tl->cap * 2 : 1024;
    segment *grown = realloc(tl->seg, (size_t)cap * sizeof *grown);
    if (!grown) return -1;
    tl->seg = grown;
    tl->cap = cap;
  }
  tl->seg[tl->n++] = (segment){start, start + len, state};
  return 0;
}

static int add_alert(alert_list *l, const interp_alert *a) {
  if (l->n == l->cap) {
    int cap = l->cap ? l->cap * 2 : 256;
    interp_alert *grown = realloc(l->a, (size_t)cap * sizeof *grown);
    if (!grown) return -1;
    l->a = grown;
    l->cap = cap;
  }
  l->a[l->n++] = *a;
  return 0;
}

/* A drive: normal stretches (mean 25 s) between distraction events drawn
 * from a mix that matches what naturalistic-driving studies describe:
 * mostly short glances, some long ones, bursts of visual time-sharing,
 * texting and phone calls. */
static int simulate_drive(const interp_eval_options *o, timeline *tl) {
  unsigned long long s =
      0x9E3779B97F4A7C15ULL ^ ((unsigned long long)o->seed * 0xD1B54A32D192ED03ULL);
  if (!s) s = 1;
  double t = 0, end = o->hours * 3600.0;
  while (t < end) {
    double normal = 2.0 - 23.0 * log(1.0 - uniform(&s));
    if (add_segment(tl, t, normal, INTERP_NORMAL)) return -1;
    t += normal;
    double kind = uniform(&s);
    if (kind < 0.40) { /* short glance at the mirror or the radio */
      if (add_segment(tl, t, between(&s, 0.5, 2.0), INTERP_LOOKING_AWAY)) return -1;
    } else if (kind < 0.60) { /* long glance */
      if (add_segment(tl, t, between(&s, 3.5, 8.0), INTERP_LOOKING_AWAY)) return -1;
    } else if (kind < 0.75) { /* visual time-sharing: many glances with quick looks back */
      int glances = 6 + (int)(uniform(&s) * 5);
      for (int g = 0; g < glances; g++) {
        if (add_segment(tl, t, between(&s, 1.5, 2.5), INTERP_LOOKING_AWAY)) return -1;
        t = tl->seg[tl->n - 1].end;
        if (add_segment(tl, t, between(&s, 0.4, 1.0), INTERP_NORMAL)) return -1;
        t = tl->seg[tl->n - 1].end;
      }
      continue;
    } else if (kind < 0.90) { /* texting */
      if (add_segment(tl, t, between(&s, 2.0, 12.0), INTERP_TEXTING)) return -1;
    } else { /* a call held to the ear */
      if (add_segment(tl, t, between(&s, 8.0, 40.0), INTERP_ON_PHONE)) return -1;
    }
    t = tl->seg[tl->n - 1].end;
  }
  return 0;
}

static interp_state truth_at(const timeline *tl, int *cursor, double t) {
  while (*cursor + 1 < tl->n && tl->seg[*cursor].end <= t) (*cursor)++;
  return tl->seg[*cursor].state;
}

/* Feeds frames at rate_hz; noisy=false gives the truth one-hot. */
static int interpret_run(const interp_eval_options *o, const interp_config *config,
                         const timeline *tl, double rate_hz, bool noisy, alert_list *out,
                         long *frames) {
  interp *it = interp_create(config, NULL);
  if (!it) return -1;
  unsigned long long s = 0xA0761D6478BD642FULL ^
                         ((unsigned long long)(o->seed + 1) * 0x2545F4914F6CDD1DULL) ^
                         (unsigned long long)(rate_hz * 1000.0);
  if (!s) s = 1;
  int cursor = 0;
  double end = tl->seg[tl->n - 1].end;
  long count = 0;
  interp_alert alerts[INTERP_RULE_COUNT];
  int rc = 0;
  for (long k = 0;; k++) {
    double t = (double)k / rate_hz;
    if (t >= end) break;
    interp_state truth = truth_at(tl, &cursor, t);
    interp_frame f = {.t = t, .known = true, .speed_kmh = o->speed_kmh};
    interp_state shown = truth;
    if (noisy) {
      if (uniform(&s) < o->dropout) {
        f.known = false;
      } else {
        if (uniform(&s) < o->flicker)
          shown = (interp_state)((truth + 1 + (int)(uniform(&s) * 3)) % 4);
        if ((shown == INTERP_TEXTING || shown == INTERP_ON_PHONE) && uniform(&s) < o->confusion)
          shown = shown == INTERP_TEXTING ? INTERP_ON_PHONE : INTERP_TEXTING;
        /* The top state gets 0.5..0.95 (times its confidence factor); the
         * rest share what is left. */
        double top = between(&s, 0.5, 0.95) * o->confidence[shown], w[INTERP_STATE_COUNT], wsum = 0;
        for (int i = 0; i < INTERP_STATE_COUNT; i++) {
          w[i] = i == (int)shown ? 0 : uniform(&s) + 0.05;
          wsum += w[i];
        }
        for (int i = 0; i < INTERP_STATE_COUNT; i++)
          f.probs[i] = i == (int)shown ? top : (1.0 - top) * w[i] / wsum;
      }
    } else {
      f.probs[truth] = 1.0;
    }
    count++;
    int n = interp_feed(it, &f, alerts, INTERP_RULE_COUNT, NULL, NULL);
    for (int i = 0; i < n && rc == 0; i++) rc = add_alert(out, &alerts[i]);
    if (rc) break;
  }
  interp_destroy(it);
  if (frames) *frames = count;
  return rc;
}

/* Same rule, and close in time: single-glance and phone alerts by the start
 * of the distraction, time-sharing (a window property) by when raised. */
static bool matches(const interp_alert *ref, const interp_alert *a) {
  if (ref->rule != a->rule) return false;
  if (a->rule == INTERP_RULE_TIME_SHARING) return fabs(a->t - ref->t) <= 10.0;
  return fabs(a->start - ref->start) <= 2.0;
}

void interp_eval_options_default(interp_eval_options *o) {
  memset(o, 0, sizeof *o);
  o->hours = 2.0;
  o->seed = 1;
  o->speed_kmh = -1;
  o->flicker = 0.15;
  o->dropout = 0.05;
  o->confusion = 0.2;
  for (int i = 0; i < INTERP_STATE_COUNT; i++) o->confidence[i] = 1.0;
}

void interp_config_raw(const interp_config *config, interp_config *raw) {
  *raw = *config;
  raw->smoothing = INTERP_SMOOTH_NONE;
  raw->hysteresis = 0;
  raw->min_state_s = 0;
  raw->min_state_frames = 1;
}

int interp_evaluate(const interp_eval_options *o, const interp_config *config, double rate_hz,
                    interp_eval_result *r) {
  memset(r, 0, sizeof *r);
  r->rate_hz = rate_hz;
  if (!(rate_hz > 0) || !(o->hours > 0)) return -1;
  timeline tl = {0};
  alert_list ref = {0}, got = {0};
  interp_config truth_config;
  interp_config_raw(config, &truth_config);
  /* The reference never loses the driver, so its gap rule never fires. */
  truth_config.max_gap_s = 1.0;
  int rc = simulate_drive(o, &tl);
  if (!rc) rc = interpret_run(o, &truth_config, &tl, 30.0, false, &ref, NULL);
  if (!rc) rc = interpret_run(o, config, &tl, rate_hz, true, &got, &r->frames);
  if (!rc) {
    bool *used = calloc((size_t)ref.n + 1, 1);
    double latency = 0;
    if (!used) rc = -1;
    for (int i = 0; !rc && i < got.n; i++)
      for (int j = 0; j < ref.n; j++)
        if (!used[j] && matches(&ref.a[j], &got.a[i])) {
          used[j] = true;
          r->matched++;
          latency += got.a[i].t - ref.a[j].t;
          break;
        }
    free(used);
    r->truth_alerts = ref.n;
    r->alerts = got.n;
    r->precision = got.n ? (double)r->matched / got.n : 1.0;
    r->recall = ref.n ? (double)r->matched / ref.n : 1.0;
    r->false_per_hour = (got.n - r->matched) / o->hours;
    r->mean_latency_s = r->matched ? latency / r->matched : 0;
  }
  free(tl.seg);
  free(ref.a);
  free(got.a);
  return rc;
}

/* ---- labelled replays, scoring and threshold fitting -------------------- */

void interp_replay_free(interp_replay *r) {
  free(r->frames);
  free(r->labels);
  memset(r, 0, sizeof *r);
}

static int replay_push(interp_replay *r, long *cap, const interp_frame *f, interp_state label) {
  if (r->n == *cap) {
    long c = *cap ? *cap * 2 : 4096;
    interp_frame *fr = realloc(r->frames, (size_t)c * sizeof *fr);
    if (!fr) return -1;
    r->frames = fr;
    interp_state *lb = realloc(r->labels, (size_t)c * sizeof *lb);
    if (!lb) return -1;
    r->labels = lb;
    *cap = c;
  }
  r->frames[r->n] = *f;
  r->labels[r->n++] = label;
  return 0;
}

int interp_simulate(const interp_eval_options *o, double rate_hz, interp_replay *out) {
  memset(out, 0, sizeof *out);
  if (!(rate_hz > 0) || !(o->hours > 0)) return -1;
  timeline tl = {0};
  if (simulate_drive(o, &tl)) {
    free(tl.seg);
    return -1;
  }
  /* Same noise model as interpret_run, kept in one place by replaying its
   * frames through a collecting pass. */
  unsigned long long s = 0xA0761D6478BD642FULL ^
                         ((unsigned long long)(o->seed + 1) * 0x2545F4914F6CDD1DULL) ^
                         (unsigned long long)(rate_hz * 1000.0);
  if (!s) s = 1;
  int cursor = 0, rc = 0;
  long cap = 0;
  double end = tl.seg[tl.n - 1].end;
  for (long k = 0; rc == 0; k++) {
    double t = (double)k / rate_hz;
    if (t >= end) break;
    interp_state truth = truth_at(&tl, &cursor, t);
    interp_frame f = {.t = t, .known = true, .speed_kmh = o->speed_kmh};
    interp_state shown = truth;
    if (uniform(&s) < o->dropout) {
      f.known = false;
    } else {
      if (uniform(&s) < o->flicker)
        shown = (interp_state)((truth + 1 + (int)(uniform(&s) * 3)) % 4);
      if ((shown == INTERP_TEXTING || shown == INTERP_ON_PHONE) && uniform(&s) < o->confusion)
        shown = shown == INTERP_TEXTING ? INTERP_ON_PHONE : INTERP_TEXTING;
      double top = between(&s, 0.5, 0.95) * o->confidence[shown], w[INTERP_STATE_COUNT], wsum = 0;
      for (int i = 0; i < INTERP_STATE_COUNT; i++) {
        w[i] = i == (int)shown ? 0 : uniform(&s) + 0.05;
        wsum += w[i];
      }
      for (int i = 0; i < INTERP_STATE_COUNT; i++)
        f.probs[i] = i == (int)shown ? top : (1.0 - top) * w[i] / wsum;
    }
    rc = replay_push(out, &cap, &f, truth);
  }
  free(tl.seg);
  if (rc) interp_replay_free(out);
  return rc;
}

int interp_replay_load(const char *path, interp_replay *out, char *err, size_t err_size) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, err_size, "cannot open %s", path);
    return -1;
  }
  char *line = NULL, why[200];
  size_t lcap = 0;
  long cap = 0, lineno = 0;
  int rc = 0;
  while (rc == 0 && getline(&line, &lcap, f) >= 0) {
    lineno++;
    if (line[0] == '\n' || !line[0]) continue;
    interp_frame fr;
    if (interp_frame_parse(line, &fr, why, sizeof why)) {
      snprintf(err, err_size, "%s line %ld: %s", path, lineno, why);
      rc = -1;
      break;
    }
    /* The label: the one member frames do not otherwise have. */
    const char *l = strstr(line, "\"label\"");
    char name[32] = "";
    if (l) sscanf(l, "\"label\" : \"%31[^\"]\"", name);
    if (l && !name[0]) sscanf(l, "\"label\": \"%31[^\"]\"", name);
    int label = name[0] ? interp_state_from_name(name) : -1;
    if (label < 0) {
      snprintf(err, err_size, "%s line %ld: \"label\" (a state name) is missing or unknown", path,
               lineno);
      rc = -1;
    } else if (out->n && fr.t < out->frames[out->n - 1].t) {
      snprintf(err, err_size, "%s line %ld: time goes backwards", path, lineno);
      rc = -1;
    } else if (replay_push(out, &cap, &fr, (interp_state)label)) {
      snprintf(err, err_size, "out of memory");
      rc = -1;
    }
  }
  free(line);
  fclose(f);
  if (rc == 0 && out->n == 0) {
    snprintf(err, err_size, "%s holds no frames", path);
    rc = -1;
  }
  if (rc) interp_replay_free(out);
  return rc;
}

int interp_replay_save(const char *path, const interp_replay *r) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  for (long i = 0; i < r->n; i++) {
    const interp_frame *fr = &r->frames[i];
    fprintf(f, "{\"t\": %.4f, ", fr->t);
    if (fr->known) {
      fprintf(f, "\"probs\": {");
      for (int k = 0; k < INTERP_STATE_COUNT; k++)
        fprintf(f, "%s\"%s\": %.4f", k ? ", " : "", interp_state_name(k), fr->probs[k]);
      fprintf(f, "}, ");
    } else {
      fprintf(f, "\"face\": false, ");
    }
    if (fr->speed_kmh >= 0) fprintf(f, "\"speed_kmh\": %.1f, ", fr->speed_kmh);
    fprintf(f, "\"label\": \"%s\"}\n", interp_state_name(r->labels[i]));
  }
  return fclose(f) ? -1 : 0;
}

static int run_frames(const interp_replay *r, const interp_config *config, bool truth,
                      alert_list *out) {
  interp *it = interp_create(config, NULL);
  if (!it) return -1;
  interp_alert alerts[INTERP_RULE_COUNT];
  int rc = 0;
  for (long i = 0; i < r->n && rc == 0; i++) {
    interp_frame f = r->frames[i];
    if (truth) {
      memset(f.probs, 0, sizeof f.probs);
      f.known = true;
      f.probs[r->labels[i]] = 1.0;
    }
    int n = interp_feed(it, &f, alerts, INTERP_RULE_COUNT, NULL, NULL);
    for (int k = 0; k < n && rc == 0; k++) rc = add_alert(out, &alerts[k]);
  }
  interp_destroy(it);
  return rc;
}

int interp_score(const interp_replay *r, const interp_config *config, interp_eval_result *res) {
  memset(res, 0, sizeof *res);
  if (r->n < 2) return -1;
  double hours = (r->frames[r->n - 1].t - r->frames[0].t) / 3600.0;
  res->rate_hz = (r->n - 1) / fmax(r->frames[r->n - 1].t - r->frames[0].t, 1e-9);
  res->frames = r->n;
  interp_config truth_config;
  interp_config_raw(config, &truth_config);
  alert_list ref = {0}, got = {0};
  int rc = run_frames(r, &truth_config, true, &ref);
  if (!rc) rc = run_frames(r, config, false, &got);
  bool *used = rc ? NULL : calloc((size_t)ref.n + 1, 1);
  if (!rc && !used) rc = -1;
  double latency = 0;
  for (int i = 0; !rc && i < got.n; i++)
    for (int j = 0; j < ref.n; j++)
      if (!used[j] && matches(&ref.a[j], &got.a[i])) {
        used[j] = true;
        res->matched++;
        latency += got.a[i].t - ref.a[j].t;
        break;
      }
  free(used);
  res->truth_alerts = ref.n;
  res->alerts = got.n;
  res->precision = got.n ? (double)res->matched / got.n : 1.0;
  res->recall = ref.n ? (double)res->matched / ref.n : 1.0;
  res->false_per_hour = hours > 0 ? (got.n - res->matched) / hours : 0;
  res->mean_latency_s = res->matched ? latency / res->matched : 0;
  free(ref.a);
  free(got.a);
  return rc;
}

static double f1(const interp_eval_result *r) {
  return r->precision + r->recall > 0 ? 2 * r->precision * r->recall / (r->precision + r->recall)
                                      : 0;
}

static bool better(const interp_eval_result *a, const interp_eval_result *b) {
  double fa = f1(a), fb = f1(b);
  if (fabs(fa - fb) > 1e-9) return fa > fb;
  return a->false_per_hour < b->false_per_hour;
}

int interp_fit_thresholds(const interp_replay *r, interp_config *config, interp_eval_result *before,
                          interp_eval_result *after) {
  interp_eval_result best;
  if (interp_score(r, config, &best)) return -1;
  if (before) *before = best;
  /* Coordinate search: each distraction state's threshold in turn over a
   * grid, three rounds (the states interact through the episode rules). */
  for (int round = 0; round < 3; round++) {
    bool moved = false;
    for (int s = INTERP_TEXTING; s <= INTERP_ON_PHONE; s++) {
      double keep = config->enter_threshold[s], best_value = keep;
      for (double v = 0.2; v <= 0.801; v += 0.05) {
        if (fabs(v - keep) < 1e-9) continue;
        config->enter_threshold[s] = v;
        interp_eval_result res;
        if (interp_score(r, config, &res)) return -1;
        if (better(&res, &best)) {
          best = res;
          best_value = v;
          moved = true;
        }
      }
      config->enter_threshold[s] = best_value;
    }
    if (!moved) break;
  }
  if (after) *after = best;
  return 0;
}
