/* perceive_classifier.c: classifier mode: a model fine-tuned on labelled
 * driver frames (ledge train), run on the driver crop. Its outputs are named
 * by state (pipeline "labels"), so any class order works; a softmax is
 * applied when the outputs are not probabilities already. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledge/ledge.h"
#include "media/draw.h"
#include "media/transform.h"
#include "pipeline/perceive.h"

typedef struct classifier {
  perceiver base;
  ledge_model *model;
  ledge_session *session;
  ledge_tensor *input;
  int width, height;
  bool nhwc;
  int state_of_output[64]; /* output index -> interp_state, -1 for unmapped */
  int n_outputs;
  media_normalize norm;
  media_image resized;
  float crop[4]; /* the crop used, in frame pixels */
  interp_state top;
  double top_p;
} classifier;

static int classifier_run(perceiver *p, const media_image *frame, double t, interp_frame *out,
                          char *err, size_t err_size) {
  classifier *c = (classifier *)p;
  /* The driver's side of a cabin camera: the whole frame unless a face stage
   * gives a crop; a centered square keeps the aspect the model was trained on. */
  float side = (float)(frame->width < frame->height ? frame->width : frame->height);
  c->crop[0] = (frame->width - side) / 2;
  c->crop[1] = (frame->height - side) / 2;
  c->crop[2] = c->crop[0] + side;
  c->crop[3] = c->crop[1] + side;
  static const uint8_t fill[4] = {0, 0, 0, 255};
  media_image_free(&c->resized);
  float box[4] = {c->crop[1] / frame->height, c->crop[0] / frame->width, c->crop[3] / frame->height,
                  c->crop[2] / frame->width};
  if (media_crop_and_resize(frame, box, c->width, c->height, fill, &c->resized, err, err_size))
    return -1;
  if (media_image_to_float(&c->resized, &c->norm, ledge_tensor_data(c->input), err, err_size))
    return -1;
  if (ledge_session_run(c->session, &c->input, 1, NULL, 0)) {
    snprintf(err, err_size, "classifier: %s", ledge_last_error());
    return -1;
  }
  const ledge_tensor *y;
  if (ledge_session_output(c->session, 0, &y)) {
    snprintf(err, err_size, "classifier: %s", ledge_last_error());
    return -1;
  }
  const float *v = ledge_tensor_data(y);
  int n = (int)ledge_tensor_count(y);
  if (n != c->n_outputs) {
    snprintf(err, err_size, "classifier: %d outputs, expected %d", n, c->n_outputs);
    return -1;
  }
  double sum = 0, mx = -INFINITY;
  bool probabilities = true;
  for (int i = 0; i < n; i++) {
    if (!(v[i] >= 0 && v[i] <= 1)) probabilities = false;
    sum += v[i];
    if (v[i] > mx) mx = v[i];
  }
  if (fabs(sum - 1.0) > 1e-3) probabilities = false;
  double total = 0, e[64];
  for (int i = 0; i < n; i++) total += e[i] = probabilities ? v[i] : exp(v[i] - mx);
  memset(out->probs, 0, sizeof out->probs);
  for (int i = 0; i < n; i++)
    if (c->state_of_output[i] >= 0) out->probs[c->state_of_output[i]] += e[i] / total;
  out->known = true;
  c->top = INTERP_NORMAL;
  for (int s = 0; s < INTERP_STATE_COUNT; s++)
    if (out->probs[s] > out->probs[c->top]) c->top = s;
  c->top_p = out->probs[c->top];
  snprintf(p->note, sizeof p->note, "classifier %s %.2f", interp_state_name(c->top), c->top_p);
  (void)t;
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
  ledge_tensor_destroy(c->input);
  ledge_session_destroy(c->session);
  ledge_model_destroy(c->model);
  media_image_free(&c->resized);
  free(c);
}

int perceive_classifier_create(const pipeline_config *config, perceiver **out, char *err,
                               size_t err_size) {
  classifier *c = calloc(1, sizeof *c);
  if (!c) {
    snprintf(err, err_size, "out of memory");
    return -1;
  }
  c->base.run = classifier_run;
  c->base.draw = classifier_draw;
  c->base.destroy = classifier_destroy;
  c->base.stage_count = 1;
  c->base.stage_names[0] = "classifier";
  ledge_session_options opt;
  ledge_session_options_init(&opt);
  opt.num_threads = config->threads > 0 ? config->threads : 1;
  if (ledge_model_load(config->classifier_model, &c->model) ||
      ledge_session_create(c->model, &opt, &c->session)) {
    snprintf(err, err_size, "classifier %s: %s", config->classifier_model, ledge_last_error());
    classifier_destroy(&c->base);
    return -1;
  }
  ledge_tensor_info in;
  ledge_session_input_info(c->session, 0, &in);
  if (in.rank != 4 || in.dtype != LEDGE_FLOAT32) {
    snprintf(err, err_size, "classifier %s: the input must be a float image batch (rank 4)",
             config->classifier_model);
    classifier_destroy(&c->base);
    return -1;
  }
  c->nhwc = in.dims[3] == 3 && in.dims[1] != 3;
  int side = config->classifier_size;
  c->height = in.dims[c->nhwc ? 1 : 2] > 0 ? (int)in.dims[c->nhwc ? 1 : 2] : (side ? side : 224);
  c->width = in.dims[c->nhwc ? 2 : 3] > 0 ? (int)in.dims[c->nhwc ? 2 : 3] : (side ? side : 224);
  int64_t dims[4] = {1, c->nhwc ? c->height : 3, c->nhwc ? c->width : c->height,
                     c->nhwc ? 3 : c->width};
  if (ledge_tensor_create(LEDGE_FLOAT32, 4, dims, &c->input) ||
      ledge_session_set_input_shape(c->session, 0, 4, dims)) {
    snprintf(err, err_size, "classifier %s: %s", config->classifier_model, ledge_last_error());
    classifier_destroy(&c->base);
    return -1;
  }
  ledge_tensor_info o;
  ledge_session_output_info(c->session, 0, &o);
  int64_t count = 1;
  for (int i = 0; i < o.rank; i++) count *= o.dims[i] > 0 ? o.dims[i] : 1;
  if (count < 2 || count > 64) {
    snprintf(err, err_size, "classifier %s: %lld outputs; a state classifier has 2 to 64",
             config->classifier_model, (long long)count);
    classifier_destroy(&c->base);
    return -1;
  }
  c->n_outputs = (int)count;
  int mapped = 0;
  for (int i = 0; i < c->n_outputs; i++) {
    c->state_of_output[i] = -1;
    if (i < 4 && config->classifier_labels[i][0]) {
      int s = interp_state_from_name(config->classifier_labels[i]);
      if (s >= 0 && s < INTERP_STATE_COUNT) c->state_of_output[i] = s, mapped++;
    }
  }
  if (!mapped) {
    snprintf(err, err_size, "classifier: \"labels\" must name the states of the model's outputs");
    classifier_destroy(&c->base);
    return -1;
  }
  media_normalize_init(&c->norm);
  c->norm.layout = c->nhwc ? MEDIA_LAYOUT_NHWC : MEDIA_LAYOUT_NCHW;
  for (int i = 0; i < 3; i++) {
    c->norm.mean[i] = config->classifier_mean[i];
    c->norm.std[i] = config->classifier_std[i];
  }
  *out = &c->base;
  return 0;
}
