/* vision/classify.c: any image classifier with an NHWC input -> top-k labels.
 *
 * The frame is stretched to the model's input and scaled to 0..1 (nsfwjs and
 * most Keras/TF.js classifiers), or to -1..1 for a gray model named like
 * human-models' emotion classifier, which was trained on that range. Gray
 * inputs get BT.601 luma. The scores are the first output; a softmax is
 * applied when they are not already probabilities.
 *
 * Labels: the file given in the options (one per line), else labels.txt
 * beside the model, else the built-in list of a known model (nsfwjs,
 * emotion), else "class N".
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vision/vision_internal.h"

static const char *const nsfwjs_labels[] = {"Drawing", "Hentai", "Neutral", "Porn", "Sexy"};
static const char *const emotion_labels[] = {"angry", "disgust",  "fear",   "happy",
                                             "sad",   "surprise", "neutral"};

typedef struct classify_state {
  float *probs;
  int *order;
  int classes;
  float scale, offset;
  char **names;   /* class_id -> label (owned by det->labels or static) */
  char **numbers; /* "class N" strings when no labels are known */
} classify_state;

static ledge_status read_labels(vision_detector *det, const char *path, int required, char *err,
                                size_t err_size) {
  FILE *f = fopen(path, "r");
  if (!f) {
    if (required)
      return vision_fail(err, err_size, LEDGE_ERR_IO, "cannot open labels file %s", path);
    return LEDGE_OK;
  }
  char line[1024];
  int cap = 0;
  while (fgets(line, sizeof line, f)) {
    size_t n = strlen(line);
    while (n && isspace((unsigned char)line[n - 1])) line[--n] = 0;
    if (det->label_count == cap) {
      cap = cap ? cap * 2 : 64;
      char **p = realloc(det->labels, (size_t)cap * sizeof *p);
      if (!p) {
        fclose(f);
        return vision_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
      }
      det->labels = p;
    }
    if (!(det->labels[det->label_count] = strdup(line))) {
      fclose(f);
      return vision_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
    }
    det->label_count++;
  }
  fclose(f);
  return LEDGE_OK;
}

static ledge_status classify_create(vision_detector *det, char *err, size_t err_size) {
  vision_model *m = &det->models[0];
  ledge_status st = vision_model_open(m, det->options.task, 0, det->options.model,
                                      det->options.threads, err, err_size);
  if (st) return st;
  if (ledge_session_output_count(m->session) < 1)
    return vision_fail(err, err_size, LEDGE_ERR_UNSUPPORTED, "%s: no outputs", m->path);
  ledge_tensor_info info;
  ledge_session_output_info(m->session, 0, &info);
  int64_t classes = 1;
  for (int i = 0; i < info.rank; i++) classes *= info.dims[i] > 0 ? info.dims[i] : 1;
  if (info.dtype != LEDGE_FLOAT32 || classes < 1 || classes > 100000)
    return vision_fail(err, err_size, LEDGE_ERR_UNSUPPORTED,
                       "%s: the first output is not a float score vector", m->path);
  classify_state *cs = calloc(1, sizeof *cs);
  if (!cs) return vision_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  det->state = cs;
  cs->classes = (int)classes;
  cs->probs = malloc((size_t)classes * sizeof *cs->probs);
  cs->order = malloc((size_t)classes * sizeof *cs->order);
  cs->names = calloc((size_t)classes, sizeof *cs->names);
  if (!cs->probs || !cs->order || !cs->names)
    return vision_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");

  const char *base = strrchr(m->path, '/');
  base = base ? base + 1 : m->path;
  const int is_emotion = m->channels == 1 && strstr(base, "emotion");
  const int is_nsfwjs = strstr(m->path, "nsfwjs") != NULL;
  cs->scale = is_emotion ? 2.0f / 255 : 1.0f / 255;
  cs->offset = is_emotion ? -1.0f : 0.0f;

  if (det->options.labels) {
    if ((st = read_labels(det, det->options.labels, 1, err, err_size))) return st;
  } else {
    char path[1200];
    snprintf(path, sizeof path, "%.*s%slabels.txt", (int)(base - m->path), m->path, "");
    if ((st = read_labels(det, path, 0, err, err_size))) return st;
  }
  if (det->label_count) {
    if (det->label_count < classes)
      return vision_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                         "labels: %d lines for %lld classes", det->label_count, (long long)classes);
    for (int i = 0; i < classes; i++) cs->names[i] = det->labels[i];
  } else if (is_nsfwjs && classes == 5) {
    for (int i = 0; i < 5; i++) cs->names[i] = (char *)nsfwjs_labels[i];
  } else if (is_emotion && classes == 7) {
    for (int i = 0; i < 7; i++) cs->names[i] = (char *)emotion_labels[i];
  } else {
    cs->numbers = calloc((size_t)classes, sizeof *cs->numbers);
    if (!cs->numbers) return vision_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; i < classes; i++) {
      char buf[32];
      snprintf(buf, sizeof buf, "class %d", i);
      if (!(cs->numbers[i] = strdup(buf)))
        return vision_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
      cs->names[i] = cs->numbers[i];
    }
  }
  return LEDGE_OK;
}

static ledge_status classify_run(vision_detector *det, const media_image *frame, char *err,
                                 size_t err_size) {
  vision_model *m = &det->models[0];
  classify_state *cs = det->state;
  ledge_status st = vision_sample(m, frame, vision_window_stretch(frame), cs->scale, cs->offset, 0,
                                  err, err_size);
  if (st || (st = vision_model_run(m, err, err_size))) return st;
  int64_t n;
  const float *d = vision_model_output_at(m, 0, &n, NULL);
  if (!d || n != cs->classes)
    return vision_fail(err, err_size, LEDGE_ERR_INTERNAL, "%s: output changed size", m->path);
  /* probabilities already? */
  double sum = 0;
  int probs = 1;
  float mx = -INFINITY;
  for (int i = 0; i < cs->classes; i++) {
    if (!(d[i] >= 0 && d[i] <= 1)) probs = 0;
    sum += d[i];
    if (d[i] > mx) mx = d[i];
  }
  if (probs && fabs(sum - 1) < 1e-2) {
    memcpy(cs->probs, d, (size_t)cs->classes * sizeof *d);
  } else {
    double z = 0;
    for (int i = 0; i < cs->classes; i++) z += exp((double)d[i] - mx);
    for (int i = 0; i < cs->classes; i++) cs->probs[i] = (float)(exp((double)d[i] - mx) / z);
  }
  int k = det->options.max_results > 0 ? det->options.max_results : 5;
  if (k > cs->classes) k = cs->classes;
  /* top k by selection (k is small); ties keep the lower class first */
  for (int i = 0; i < cs->classes; i++) cs->order[i] = i;
  for (int i = 0; i < k; i++) {
    int best = i;
    for (int j = i + 1; j < cs->classes; j++)
      if (cs->probs[cs->order[j]] > cs->probs[cs->order[best]]) best = j;
    int t = cs->order[i];
    cs->order[i] = cs->order[best];
    cs->order[best] = t;
  }
  for (int i = 0; i < k; i++) {
    int c = cs->order[i];
    if (det->options.min_score > 0 && cs->probs[c] < det->options.min_score) break;
    vision_item *it = vision_store_add(&det->store, 0);
    if (!it) return vision_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
    it->x0 = 0, it->y0 = 0, it->x1 = (float)frame->width, it->y1 = (float)frame->height;
    it->score = cs->probs[c];
    it->class_id = c;
    it->label = cs->names[c];
  }
  return LEDGE_OK;
}

static void classify_destroy(vision_detector *det) {
  classify_state *cs = det->state;
  if (!cs) return;
  if (cs->numbers)
    for (int i = 0; i < cs->classes; i++) free(cs->numbers[i]);
  free(cs->numbers);
  free(cs->names);
  free(cs->probs);
  free(cs->order);
  free(cs);
  det->state = NULL;
}

const vision_module vision_classify_module = {classify_create, classify_run, classify_destroy};
