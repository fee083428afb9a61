/* perceive_classifier.c: classifier mode: a model fine-tuned on labelled
 * driver frames (ledge train), run on the driver crop. Its outputs are named
 * by state (pipeline "labels"), so any class order works; a softmax is
 * applied when the outputs are not probabilities already. An ensemble
 * averages the probabilities of up to four such models, each timed on its
 * own so its CPU cost is visible. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledge/ledge.h"
#include "media/draw.h"
#include "media/transform.h"
#include "pipeline/perceive.h"

#define MAX_MEMBERS 4
#define MAX_OUTPUTS 64

typedef struct member {
  ledge_model *model;
  ledge_session *session;
  ledge_tensor *input;
  int width, height;
  bool nhwc;
  int state_of_output[MAX_OUTPUTS]; /* output index -> interp_state, -1 for unmapped */
  int n_outputs;
  media_image resized;
  char name[32];
} member;

typedef struct classifier {
  perceiver base;
  member members[MAX_MEMBERS];
  int n_members;
  media_normalize norm;
  float crop[4]; /* the crop used, in frame pixels */
} classifier;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* One member on the crop: its state probabilities added into probs. */
static int member_run(classifier *c, member *m, const media_image *frame, double *probs, char *err,
                      size_t err_size) {
  static const uint8_t fill[4] = {0, 0, 0, 255};
  float box[4] = {c->crop[1] / frame->height, c->crop[0] / frame->width, c->crop[3] / frame->height,
                  c->crop[2] / frame->width};
  media_image_free(&m->resized);
  if (media_crop_and_resize(frame, box, m->width, m->height, fill, &m->resized, err, err_size))
    return -1;
  media_normalize norm = c->norm;
  norm.layout = m->nhwc ? MEDIA_LAYOUT_NHWC : MEDIA_LAYOUT_NCHW;
  if (media_image_to_float(&m->resized, &norm, ledge_tensor_data(m->input), err, err_size))
    return -1;
  const ledge_tensor *y;
  if (ledge_session_run(m->session, &m->input, 1, NULL, 0) ||
      ledge_session_output(m->session, 0, &y)) {
    snprintf(err, err_size, "classifier %s: %s", m->name, ledge_last_error());
    return -1;
  }
  const float *v = ledge_tensor_data(y);
  int n = (int)ledge_tensor_count(y);
  if (n != m->n_outputs) {
    snprintf(err, err_size, "classifier %s: %d outputs, expected %d", m->name, n, m->n_outputs);
    return -1;
  }
  double sum = 0, mx = -INFINITY, e[MAX_OUTPUTS], total = 0;
  bool probabilities = true;
  for (int i = 0; i < n; i++) {
    if (!(v[i] >= 0 && v[i] <= 1)) probabilities = false;
    sum += v[i];
    if (v[i] > mx) mx = v[i];
  }
  if (fabs(sum - 1.0) > 1e-3) probabilities = false;
  for (int i = 0; i < n; i++) total += e[i] = probabilities ? v[i] : exp(v[i] - mx);
  for (int i = 0; i < n; i++)
    if (m->state_of_output[i] >= 0) probs[m->state_of_output[i]] += e[i] / total;
  return 0;
}

static int classifier_run(perceiver *p, const media_image *frame, double t, interp_frame *out,
                          char *err, size_t err_size) {
  classifier *c = (classifier *)p;
  (void)t;
  /* The driver's side of a cabin camera: a centered square keeps the aspect
   * the model was trained on. */
  float side = (float)(frame->width < frame->height ? frame->width : frame->height);
  c->crop[0] = (frame->width - side) / 2;
  c->crop[1] = (frame->height - side) / 2;
  c->crop[2] = c->crop[0] + side;
  c->crop[3] = c->crop[1] + side;
  double probs[INTERP_STATE_COUNT] = {0};
  for (int k = 0; k < c->n_members; k++) {
    double t0 = now_ms();
    if (member_run(c, &c->members[k], frame, probs, err, err_size)) return -1;
    p->stage_ms[k] += now_ms() - t0;
    p->stage_runs[k]++;
  }
  interp_state top = INTERP_NORMAL;
  for (int s = 0; s < INTERP_STATE_COUNT; s++) {
    out->probs[s] = probs[s] / c->n_members;
    if (out->probs[s] > out->probs[top]) top = s;
  }
  out->known = true;
  snprintf(p->note, sizeof p->note, "classifier%s %s %.2f", c->n_members > 1 ? "s (ensemble)" : "",
           interp_state_name(top), out->probs[top]);
  return 0;
}

static void classifier_draw(perceiver *p, media_image *frame) {
  classifier *c = (classifier *)p;
  media_color box = {60, 200, 255};
  media_draw_rect(frame, (int)c->crop[0], (int)c->crop[1], (int)c->crop[2] - 1, (int)c->crop[3] - 1,
                  box, 2);
}

static void classifier_destroy(perceiver *p) {
  classifier *c = (classifier *)p;
  for (int k = 0; k < c->n_members; k++) {
    member *m = &c->members[k];
    ledge_tensor_destroy(m->input);
    ledge_session_destroy(m->session);
    ledge_model_destroy(m->model);
    media_image_free(&m->resized);
  }
  free(c);
}

static int member_open(const pipeline_config *config, const char *path, member *m, char *err,
                       size_t err_size) {
  const char *base = strrchr(path, '/');
  snprintf(m->name, sizeof m->name, "%s", base ? base + 1 : path);
  ledge_session_options opt;
  ledge_session_options_init(&opt);
  opt.num_threads = config->threads > 0 ? config->threads : 1;
  if (ledge_model_load(path, &m->model) || ledge_session_create(m->model, &opt, &m->session)) {
    snprintf(err, err_size, "classifier %s: %s", path, ledge_last_error());
    return -1;
  }
  ledge_tensor_info in;
  ledge_session_input_info(m->session, 0, &in);
  if (in.rank != 4 || in.dtype != LEDGE_FLOAT32) {
    snprintf(err, err_size, "classifier %s: the input must be a float image batch (rank 4)", path);
    return -1;
  }
  m->nhwc = in.dims[3] == 3 && in.dims[1] != 3;
  int side = config->classifier_size ? config->classifier_size : 224;
  int64_t h = in.dims[m->nhwc ? 1 : 2], w = in.dims[m->nhwc ? 2 : 3];
  m->height = h > 0 ? (int)h : side;
  m->width = w > 0 ? (int)w : side;
  int64_t dims[4] = {1, m->nhwc ? m->height : 3, m->nhwc ? m->width : m->height,
                     m->nhwc ? 3 : m->width};
  if (ledge_tensor_create(LEDGE_FLOAT32, 4, dims, &m->input) ||
      ledge_session_set_input_shape(m->session, 0, 4, dims)) {
    snprintf(err, err_size, "classifier %s: %s", path, ledge_last_error());
    return -1;
  }
  ledge_tensor_info o;
  ledge_session_output_info(m->session, 0, &o);
  int64_t count = 1;
  for (int i = 0; i < o.rank; i++) count *= o.dims[i] > 0 ? o.dims[i] : 1;
  if (count < 2 || count > MAX_OUTPUTS) {
    snprintf(err, err_size, "classifier %s: %lld outputs; a state classifier has 2 to %d", path,
             (long long)count, MAX_OUTPUTS);
    return -1;
  }
  m->n_outputs = (int)count;
  int mapped = 0;
  for (int i = 0; i < m->n_outputs; i++) {
    m->state_of_output[i] = -1;
    if (i < 4 && config->classifier_labels[i][0]) {
      int s = interp_state_from_name(config->classifier_labels[i]);
      if (s >= 0 && s < INTERP_STATE_COUNT) m->state_of_output[i] = s, mapped++;
    }
  }
  if (!mapped) {
    snprintf(err, err_size, "classifier: \"labels\" must name the states of the model's outputs");
    return -1;
  }
  return 0;
}

int perceive_classifier_create(const pipeline_config *config, perceiver **out, char *err,
                               size_t err_size) {
  if (!config->classifier_model[0]) {
    snprintf(err, err_size, "classifier mode needs \"classifier\": {\"model\": ...}");
    return -1;
  }
  classifier *c = calloc(1, sizeof *c);
  if (!c) {
    snprintf(err, err_size, "out of memory");
    return -1;
  }
  c->base.run = classifier_run;
  c->base.draw = classifier_draw;
  c->base.destroy = classifier_destroy;
  const char *paths[MAX_MEMBERS] = {config->classifier_model};
  int n = 1;
  for (int i = 0; i < config->classifier_ensemble_count && n < MAX_MEMBERS; i++)
    paths[n++] = config->classifier_ensemble[i];
  for (int k = 0; k < n; k++) {
    c->n_members = k + 1;
    if (member_open(config, paths[k], &c->members[k], err, err_size)) {
      classifier_destroy(&c->base);
      return -1;
    }
    c->base.stage_names[k] = c->members[k].name;
  }
  c->base.stage_count = n;
  media_normalize_init(&c->norm);
  for (int i = 0; i < 3; i++) {
    c->norm.mean[i] = config->classifier_mean[i];
    c->norm.std[i] = config->classifier_std[i];
  }
  *out = &c->base;
  return 0;
}
