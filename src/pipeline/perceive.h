/* perceive.h: the perception stage of a pipeline: a frame in, probabilities
 * over the driver states out (or "driver not seen"), plus what it found drawn
 * on the frame. One implementation per mode: cues, classifier, replay. */
#ifndef LEDGE_PIPELINE_PERCEIVE_H
#define LEDGE_PIPELINE_PERCEIVE_H

#include "media/image.h"
#include "pipeline/pipeline.h"

#define PERCEIVE_MAX_STAGES 8

typedef struct perceiver perceiver;
struct perceiver {
  /* Perceives one frame at time t: out->probs and out->known (t and speed are
   * the caller's). Returns 0, or -1 with one line in err. */
  int (*run)(perceiver *p, const media_image *frame, double t, interp_frame *out, char *err,
             size_t err_size);
  /* Draws the last result (crop box, landmarks, cue values) on a frame. */
  void (*draw)(perceiver *p, media_image *frame);
  void (*destroy)(perceiver *p);
  /* Optional: hides (pixelates) every face except the driver's, for frames
   * that leave the car. NULL when the stage knows no faces. */
  void (*privacy)(perceiver *p, media_image *frame);
  /* True while the stage learns the driver's neutral pose: no judgement yet. */
  bool calibrating;
  /* Per-stage timing for reports: names and accumulated milliseconds. */
  int stage_count;
  const char *stage_names[PERCEIVE_MAX_STAGES];
  double stage_ms[PERCEIVE_MAX_STAGES];
  long stage_runs[PERCEIVE_MAX_STAGES];
  /* A short line describing the last result, for the status page ("face
   * yaw -12 pitch 3", "classifier texting 0.91"). */
  char note[160];
};

int perceive_replay_create(const pipeline_config *config, perceiver **out, char *err,
                           size_t err_size);
int perceive_classifier_create(const pipeline_config *config, perceiver **out, char *err,
                               size_t err_size);
int perceive_cues_create(const pipeline_config *config, perceiver **out, char *err,
                         size_t err_size);

#endif
