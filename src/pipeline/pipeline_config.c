/* pipeline_config.c: the pipeline's JSON configuration (docs/pipeline.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "pipeline/interpret_config.h"
#include "pipeline/pipeline.h"

void pipeline_config_default(pipeline_config *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->name, sizeof c->name, "driver-monitor");
  snprintf(c->version, sizeof c->version, "dev");
  c->rate_hz = 10;
  c->min_rate_hz = 3;
  c->max_rate_hz = 15;
  c->cpu_budget = 0.8;
  c->perception = PIPELINE_PERCEIVE_CUES;
  c->threads = 1;
  static const char *const labels[4] = {"normal", "texting", "looking-away", "on-phone"};
  for (int i = 0; i < 4; i++)
    snprintf(c->classifier_labels[i], sizeof c->classifier_labels[i], "%s", labels[i]);
  /* ImageNet statistics: what fine-tuned ImageNet backbones expect. */
  const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
  memcpy(c->classifier_mean, mean, sizeof mean);
  memcpy(c->classifier_std, std, sizeof std);
  c->classifier_crop_face = true;
  c->cue_yaw_deg = 30;
  c->cue_pitch_deg = 20;
  c->cue_gaze = 0.35;
  c->calibration_s = 5;
  c->hands_every = 10;
  c->pose_every = 5;
  c->objects_every = 30;
  interp_config_default(&c->interpret);
  snprintf(c->events_path, sizeof c->events_path, "-");
  /* Under ledged the agent names the device and listens for events. */
  const char *device = getenv("LEDGE_DEVICE"), *sock = getenv("LEDGE_AGENT_SOCKET");
  snprintf(c->device, sizeof c->device, "%s", device && *device ? device : "device");
  snprintf(c->agent_socket, sizeof c->agent_socket, "%s", sock ? sock : "");
  snprintf(c->status_bind, sizeof c->status_bind, "127.0.0.1");
  c->summary = true;
  c->stream_kbps = 1500; /* 640x480 H.264 at 30 frames/s, a typical camera stream */
  c->draw = true;
}

static int fail(char *err, size_t size, const char *what, const char *key) {
  snprintf(err, size, what, key);
  return -1;
}

static int get_string(const cJSON *obj, const char *key, char *dst, size_t size, char *err,
                      size_t err_size) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return 0;
  if (!cJSON_IsString(v)) return fail(err, err_size, "'%s' must be a string", key);
  if (strlen(v->valuestring) >= size) return fail(err, err_size, "'%s' is too long", key);
  snprintf(dst, size, "%s", v->valuestring);
  return 0;
}

static int get_number(const cJSON *obj, const char *key, double *dst, double lo, double hi,
                      char *err, size_t err_size) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return 0;
  if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi)) {
    snprintf(err, err_size, "'%s' must be a number in [%g, %g]", key, lo, hi);
    return -1;
  }
  *dst = v->valuedouble;
  return 0;
}

static int get_bool(const cJSON *obj, const char *key, bool *dst, char *err, size_t err_size) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return 0;
  if (!cJSON_IsBool(v)) return fail(err, err_size, "'%s' must be true or false", key);
  *dst = cJSON_IsTrue(v);
  return 0;
}

/* Every member of obj must be in `known` (NULL-terminated). */
static int check_members(const cJSON *obj, const char *section, const char *const *known, char *err,
                         size_t err_size) {
  for (const cJSON *m = obj->child; m; m = m->next) {
    bool ok = false;
    for (const char *const *k = known; *k && !ok; k++) ok = !strcmp(*k, m->string);
    if (!ok) {
      snprintf(err, err_size, "unknown member '%s' in \"%s\"", m->string, section);
      return -1;
    }
  }
  return 0;
}

static const cJSON *section(const cJSON *root, const char *name, char *err, size_t err_size,
                            int *rc) {
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, name);
  if (s && !cJSON_IsObject(s)) {
    snprintf(err, err_size, "\"%s\" must be an object", name);
    *rc = -1;
    return NULL;
  }
  return s;
}

static int apply(const cJSON *root, pipeline_config *c, char *err, size_t n) {
  static const char *const top[] = {"name",       "version",    "device", "source",    "schedule",
                                    "perception", "classifier", "cues",   "interpret", "sinks",
                                    "threads",    "replay",     NULL};
  if (check_members(root, "(top)", top, err, n)) return -1;
  if (get_string(root, "name", c->name, sizeof c->name, err, n) ||
      get_string(root, "version", c->version, sizeof c->version, err, n) ||
      get_string(root, "device", c->device, sizeof c->device, err, n) ||
      get_string(root, "replay", c->replay_path, sizeof c->replay_path, err, n))
    return -1;
  double threads = c->threads;
  if (get_number(root, "threads", &threads, 1, 64, err, n)) return -1;
  c->threads = (int)threads;
  int rc = 0;
  const cJSON *s;
  if ((s = section(root, "source", err, n, &rc))) {
    static const char *const k[] = {"input", "fps", "realtime", "loop", "max_frames", NULL};
    double max_frames = (double)c->max_frames;
    if (check_members(s, "source", k, err, n) ||
        get_string(s, "input", c->input, sizeof c->input, err, n) ||
        get_number(s, "fps", &c->source_fps, 0, 1000, err, n) ||
        get_bool(s, "realtime", &c->realtime, err, n) || get_bool(s, "loop", &c->loop, err, n) ||
        get_number(s, "max_frames", &max_frames, 0, 1e12, err, n))
      return -1;
    c->max_frames = (long)max_frames;
  }
  if (rc) return rc;
  if ((s = section(root, "schedule", err, n, &rc))) {
    static const char *const k[] = {"mode",        "rate_hz",    "min_rate_hz",
                                    "max_rate_hz", "cpu_budget", NULL};
    char mode[32] = "";
    if (check_members(s, "schedule", k, err, n) ||
        get_string(s, "mode", mode, sizeof mode, err, n) ||
        get_number(s, "rate_hz", &c->rate_hz, 0, 1000, err, n) ||
        get_number(s, "min_rate_hz", &c->min_rate_hz, 0.01, 1000, err, n) ||
        get_number(s, "max_rate_hz", &c->max_rate_hz, 0.01, 1000, err, n) ||
        get_number(s, "cpu_budget", &c->cpu_budget, 0, 64, err, n))
      return -1;
    if (*mode && strcmp(mode, "fixed") && strcmp(mode, "adaptive"))
      return fail(err, n, "%s", "schedule \"mode\" must be \"fixed\" or \"adaptive\"");
    c->adaptive = !strcmp(mode, "adaptive");
    if (c->adaptive && c->min_rate_hz > c->max_rate_hz)
      return fail(err, n, "%s", "schedule: min_rate_hz must be <= max_rate_hz");
  }
  if (rc) return rc;
  const cJSON *mode = cJSON_GetObjectItemCaseSensitive(root, "perception");
  if (mode) {
    const char *m = cJSON_GetStringValue(mode);
    if (m && !strcmp(m, "cues"))
      c->perception = PIPELINE_PERCEIVE_CUES;
    else if (m && !strcmp(m, "classifier"))
      c->perception = PIPELINE_PERCEIVE_CLASSIFIER;
    else if (m && !strcmp(m, "replay"))
      c->perception = PIPELINE_PERCEIVE_REPLAY;
    else
      return fail(err, n, "%s", "\"perception\" must be \"cues\", \"classifier\" or \"replay\"");
  }
  if ((s = section(root, "classifier", err, n, &rc))) {
    static const char *const k[] = {"model", "labels", "size",     "crop",
                                    "mean",  "std",    "ensemble", NULL};
    double size = c->classifier_size;
    char crop[16] = "";
    if (check_members(s, "classifier", k, err, n) ||
        get_string(s, "model", c->classifier_model, sizeof c->classifier_model, err, n) ||
        get_number(s, "size", &size, 0, 4096, err, n) ||
        get_string(s, "crop", crop, sizeof crop, err, n))
      return -1;
    c->classifier_size = (int)size;
    if (*crop && strcmp(crop, "face") && strcmp(crop, "center"))
      return fail(err, n, "%s", "classifier \"crop\" must be \"face\" or \"center\"");
    if (*crop) c->classifier_crop_face = !strcmp(crop, "face");
    const cJSON *ens = cJSON_GetObjectItemCaseSensitive(s, "ensemble");
    if (ens) {
      if (!cJSON_IsArray(ens) || cJSON_GetArraySize(ens) > 3)
        return fail(err, n, "%s", "classifier \"ensemble\" must list up to 3 more model paths");
      c->classifier_ensemble_count = 0;
      for (const cJSON *m = ens->child; m; m = m->next) {
        const char *path = cJSON_GetStringValue(m);
        if (!path || strlen(path) >= PIPELINE_PATH_MAX)
          return fail(err, n, "%s", "classifier \"ensemble\" entries must be model paths");
        snprintf(c->classifier_ensemble[c->classifier_ensemble_count++], PIPELINE_PATH_MAX, "%s",
                 path);
      }
    }
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(s, "labels");
    if (labels) {
      if (!cJSON_IsArray(labels) || cJSON_GetArraySize(labels) < 2 ||
          cJSON_GetArraySize(labels) > 4)
        return fail(err, n, "%s",
                    "classifier \"labels\" must list 2 to 4 state names in output order");
      memset(c->classifier_labels, 0, sizeof c->classifier_labels);
      int i = 0;
      for (const cJSON *l = labels->child; l; l = l->next, i++) {
        const char *name = cJSON_GetStringValue(l);
        if (!name || interp_state_from_name(name) < 0 ||
            interp_state_from_name(name) >= INTERP_STATE_COUNT)
          return fail(
              err, n,
              "classifier label '%s' is not a state (normal, texting, looking-away, on-phone)",
              name ? name : "?");
        snprintf(c->classifier_labels[i], sizeof c->classifier_labels[i], "%s", name);
      }
    }
    for (int which = 0; which < 2; which++) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, which ? "std" : "mean");
      if (!v) continue;
      if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 3)
        return fail(err, n, "classifier \"%s\" must be 3 numbers", which ? "std" : "mean");
      for (int i = 0; i < 3; i++) {
        const cJSON *x = cJSON_GetArrayItem(v, i);
        if (!cJSON_IsNumber(x) || (which && !(x->valuedouble > 0)))
          return fail(err, n, "classifier \"%s\" must be 3 numbers (std > 0)",
                      which ? "std" : "mean");
        (which ? c->classifier_std : c->classifier_mean)[i] = (float)x->valuedouble;
      }
    }
  }
  if (rc) return rc;
  if ((s = section(root, "cues", err, n, &rc))) {
    static const char *const k[] = {"yaw_deg",     "pitch_deg",  "gaze",          "calibration_s",
                                    "hands_every", "pose_every", "objects_every", NULL};
    double he = c->hands_every, pe = c->pose_every, oe = c->objects_every;
    if (check_members(s, "cues", k, err, n) ||
        get_number(s, "yaw_deg", &c->cue_yaw_deg, 1, 90, err, n) ||
        get_number(s, "pitch_deg", &c->cue_pitch_deg, 1, 90, err, n) ||
        get_number(s, "gaze", &c->cue_gaze, 0.01, 1, err, n) ||
        get_number(s, "calibration_s", &c->calibration_s, 0, 600, err, n) ||
        get_number(s, "hands_every", &he, 0, 1000, err, n) ||
        get_number(s, "pose_every", &pe, 0, 1000, err, n) ||
        get_number(s, "objects_every", &oe, 0, 1000, err, n))
      return -1;
    c->hands_every = (int)he;
    c->pose_every = (int)pe;
    c->objects_every = (int)oe;
  }
  if (rc) return rc;
  if ((s = section(root, "interpret", err, n, &rc)) &&
      interp_config_from_json(s, &c->interpret, err, n))
    return -1;
  if (rc) return rc;
  if ((s = section(root, "sinks", err, n, &rc))) {
    static const char *const k[] = {"events",      "mqtt", "alerts_dir", "status",       "summary",
                                    "stream_kbps", "draw", "agent",      "privacy_blur", NULL};
    if (check_members(s, "sinks", k, err, n) ||
        get_string(s, "events", c->events_path, sizeof c->events_path, err, n) ||
        get_string(s, "alerts_dir", c->alerts_dir, sizeof c->alerts_dir, err, n) ||
        get_string(s, "agent", c->agent_socket, sizeof c->agent_socket, err, n) ||
        get_bool(s, "summary", &c->summary, err, n) || get_bool(s, "draw", &c->draw, err, n) ||
        get_bool(s, "privacy_blur", &c->privacy_blur, err, n) ||
        get_bool(s, "console", &c->console, err, n) ||
        get_number(s, "stream_kbps", &c->stream_kbps, 0, 1e6, err, n))
      return -1;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(s, "mqtt");
    if (m) {
      static const char *const mk[] = {"url", "ca", "cert", "key", NULL};
      if (!cJSON_IsObject(m)) return fail(err, n, "%s", "sinks \"mqtt\" must be an object");
      if (check_members(m, "mqtt", mk, err, n) ||
          get_string(m, "url", c->mqtt_url, sizeof c->mqtt_url, err, n) ||
          get_string(m, "ca", c->mqtt_ca, sizeof c->mqtt_ca, err, n) ||
          get_string(m, "cert", c->mqtt_cert, sizeof c->mqtt_cert, err, n) ||
          get_string(m, "key", c->mqtt_key, sizeof c->mqtt_key, err, n))
        return -1;
    }
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(s, "status");
    if (st) {
      static const char *const sk[] = {"port", "bind", NULL};
      double port = c->status_port;
      if (!cJSON_IsObject(st)) return fail(err, n, "%s", "sinks \"status\" must be an object");
      if (check_members(st, "status", sk, err, n) ||
          get_number(st, "port", &port, -1, 65535, err, n) ||
          get_string(st, "bind", c->status_bind, sizeof c->status_bind, err, n))
        return -1;
      c->status_port = (int)port;
    }
  }
  return rc;
}

int pipeline_config_load(const char *path, pipeline_config *config, char *err, size_t err_size) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, err_size, "cannot open %s", path);
    return -1;
  }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  if (size < 0 || size > (4 << 20)) {
    fclose(f);
    snprintf(err, err_size, "%s: not a pipeline configuration (size)", path);
    return -1;
  }
  char *text = malloc((size_t)size + 1);
  size_t got = text ? fread(text, 1, (size_t)size, f) : 0;
  fclose(f);
  if (!text) {
    snprintf(err, err_size, "out of memory");
    return -1;
  }
  text[got] = 0;
  cJSON *root = cJSON_ParseWithLength(text, got);
  free(text);
  if (!root || !cJSON_IsObject(root)) {
    cJSON_Delete(root);
    snprintf(err, err_size, "%s is not a JSON object", path);
    return -1;
  }
  char why[256];
  int rc = apply(root, config, why, sizeof why);
  cJSON_Delete(root);
  if (rc) snprintf(err, err_size, "%s: %s", path, why);
  return rc;
}
