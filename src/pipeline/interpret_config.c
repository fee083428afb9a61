/* interpret_config.c: interpreter configuration and frames from JSON. */
#include "pipeline/interpret_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

typedef struct number_field {
  const char *name;
  size_t offset;
} number_field;

#define FIELD(f) \
  { #f, offsetof(interp_config, f) }
static const number_field number_fields[] = {
    FIELD(ema_tau_s),
    FIELD(hmm_switch_per_s),
    FIELD(hmm_evidence),
    FIELD(min_state_frames),
    FIELD(hysteresis),
    FIELD(min_state_s),
    FIELD(max_gap_s),
    FIELD(long_glance_s),
    FIELD(timesharing_window_s),
    FIELD(timesharing_total_s),
    FIELD(timesharing_cooldown_s),
    FIELD(addw_low_kmh),
    FIELD(addw_high_kmh),
    FIELD(addw_low_s),
    FIELD(addw_high_s),
    FIELD(standstill_kmh),
    FIELD(phone_min_s),
};
#undef FIELD

static int fail(char *err, size_t size, const char *fmt, const char *what) {
  snprintf(err, size, fmt, what);
  return -1;
}

int interp_config_from_json(const cJSON *object, interp_config *config, char *err,
                            size_t err_size) {
  if (!cJSON_IsObject(object))
    return fail(err, err_size, "%s", "configuration must be a JSON object");
  for (const cJSON *m = object->child; m; m = m->next) {
    const char *key = m->string;
    bool done = false;
    for (size_t i = 0; i < sizeof number_fields / sizeof number_fields[0]; i++) {
      if (strcmp(key, number_fields[i].name)) continue;
      if (!cJSON_IsNumber(m)) return fail(err, err_size, "'%s' must be a number", key);
      *(double *)((char *)config + number_fields[i].offset) = m->valuedouble;
      done = true;
    }
    if (done) continue;
    if (!strcmp(key, "smoothing")) {
      const char *s = cJSON_GetStringValue(m);
      if (s && !strcmp(s, "none"))
        config->smoothing = INTERP_SMOOTH_NONE;
      else if (s && !strcmp(s, "ema"))
        config->smoothing = INTERP_SMOOTH_EMA;
      else if (s && !strcmp(s, "hmm"))
        config->smoothing = INTERP_SMOOTH_HMM;
      else
        return fail(err, err_size, "%s", "'smoothing' must be \"none\", \"ema\" or \"hmm\"");
    } else if (!strcmp(key, "thresholds")) {
      if (!cJSON_IsObject(m)) return fail(err, err_size, "%s", "'thresholds' must be an object");
      for (const cJSON *t = m->child; t; t = t->next) {
        int s = interp_state_from_name(t->string);
        if (s < 0 || s >= INTERP_STATE_COUNT)
          return fail(err, err_size, "unknown state '%s' in thresholds", t->string);
        if (!cJSON_IsNumber(t))
          return fail(err, err_size, "threshold of '%s' must be a number", t->string);
        config->enter_threshold[s] = t->valuedouble;
      }
    } else if (!strcmp(key, "rules")) {
      if (!cJSON_IsObject(m)) return fail(err, err_size, "%s", "'rules' must be an object");
      for (const cJSON *r = m->child; r; r = r->next) {
        int rule = interp_rule_from_name(r->string);
        if (rule < 0) return fail(err, err_size, "unknown rule '%s'", r->string);
        if (!cJSON_IsBool(r))
          return fail(err, err_size, "rule '%s' must be true or false", r->string);
        config->rule_enabled[rule] = cJSON_IsTrue(r);
      }
    } else {
      return fail(err, err_size, "unknown configuration member '%s'", key);
    }
  }
  return 0;
}

int interp_config_load(const char *path, interp_config *config, char *err, size_t err_size) {
  FILE *f = fopen(path, "rb");
  if (!f) return fail(err, err_size, "cannot open %s", path);
  char *text = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len + 4096 + 1 > cap) {
      cap = (cap ? cap * 2 : 8192);
      if (cap > (16u << 20)) {
        free(text);
        fclose(f);
        return fail(err, err_size, "%s is too large for a configuration", path);
      }
      char *grown = realloc(text, cap);
      if (!grown) break;
      text = grown;
    }
    size_t got = fread(text + len, 1, cap - len - 1, f);
    len += got;
    if (got == 0) break;
  }
  fclose(f);
  if (!text) return fail(err, err_size, "%s", "out of memory");
  text[len] = 0;
  cJSON *root = cJSON_ParseWithLength(text, len);
  free(text);
  if (!root) return fail(err, err_size, "%s is not valid JSON", path);
  /* A pipeline configuration may hold the interpreter's settings under
   * "interpret"; a file of its own holds them at the top. */
  const cJSON *section = cJSON_GetObjectItemCaseSensitive(root, "interpret");
  int rc = interp_config_from_json(section ? section : root, config, err, err_size);
  cJSON_Delete(root);
  return rc;
}

int interp_frame_parse(const char *line, interp_frame *frame, char *err, size_t err_size) {
  memset(frame, 0, sizeof *frame);
  frame->speed_kmh = -1;
  cJSON *root = cJSON_Parse(line);
  if (!root || !cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return fail(err, err_size, "%s", "not a JSON object");
  }
  int rc = -1;
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "t");
  const cJSON *probs = cJSON_GetObjectItemCaseSensitive(root, "probs");
  const cJSON *speed = cJSON_GetObjectItemCaseSensitive(root, "speed_kmh");
  const cJSON *state = cJSON_GetObjectItemCaseSensitive(root, "state");
  const cJSON *face = cJSON_GetObjectItemCaseSensitive(root, "face");
  if (!cJSON_IsNumber(t) || !isfinite(t->valuedouble)) {
    fail(err, err_size, "%s", "\"t\" (seconds) is missing or not a number");
    goto out;
  }
  frame->t = t->valuedouble;
  if (speed && !cJSON_IsNull(speed)) {
    if (!cJSON_IsNumber(speed) || !(speed->valuedouble >= 0)) {
      fail(err, err_size, "%s", "\"speed_kmh\" must be a number >= 0");
      goto out;
    }
    frame->speed_kmh = speed->valuedouble;
  }
  bool unknown = cJSON_IsFalse(face) ||
                 (cJSON_GetStringValue(state) && !strcmp(cJSON_GetStringValue(state), "unknown"));
  if (!unknown && cJSON_IsObject(probs)) {
    for (const cJSON *p = probs->child; p; p = p->next) {
      int s = interp_state_from_name(p->string);
      if (s < 0 || s >= INTERP_STATE_COUNT) {
        fail(err, err_size, "unknown state '%s' in probs", p->string);
        goto out;
      }
      if (!cJSON_IsNumber(p) || !(p->valuedouble >= 0 && p->valuedouble <= 1)) {
        fail(err, err_size, "probability of '%s' must be a number in [0, 1]", p->string);
        goto out;
      }
      frame->probs[s] = p->valuedouble;
    }
    frame->known = true;
  } else if (!unknown && probs && !cJSON_IsNull(probs)) {
    fail(err, err_size, "%s", "\"probs\" must be an object of state probabilities");
    goto out;
  }
  rc = 0;
out:
  cJSON_Delete(root);
  return rc;
}

int interp_alert_format(const interp_alert *a, char *buf, size_t size) {
  return snprintf(buf, size,
                  "{\"t\": %.3f, \"state\": \"%s\", \"start\": %.3f, \"duration\": %.3f, "
                  "\"confidence\": %.3f, \"rule\": \"%s\"}",
                  a->t, interp_state_name(a->state), a->start, a->duration, a->confidence,
                  interp_rule_name(a->rule));
}
