/*
 * perceive_cues.c: cue mode, which needs no labelled data. Pretrained vision
 * tasks give cues, and documented rules turn them into state probabilities:
 *
 *   face + face mesh + iris (every perceived frame): is the driver there,
 *     head yaw/pitch and gaze relative to the driver's own neutral, learnt
 *     during a calibration period (so posture and seat height do not count);
 *   hands (every hands_every-th): a hand held at the side of the head;
 *   pose (every pose_every-th): a wrist near an ear;
 *   objects (every objects_every-th): a `cell phone` near the face or low in
 *     the frame (the lap).
 *
 * Rules (docs/driver-monitor.md, "Cue mode"):
 *   looking-away = logistic(max(|dyaw|/yaw_deg, |dpitch|/pitch_deg, |dgaze|/gaze) - 1)
 *   on-phone     = max(phone near the face, hand or wrist at the ear)
 *   texting      = phone low in the frame, stronger with the head pitched down
 *   normal       = what is left; no face: unknown (never an alert).
 * The slower detectors' last findings are reused until they run again.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "media/draw.h"
#include "pipeline/perceive.h"
#include "vision/vision.h"

enum { STAGE_FACE, STAGE_HANDS, STAGE_POSE, STAGE_OBJECTS };

#define MAX_BOXES 8

typedef struct box {
  float x0, y0, x1, y1;
} box;

typedef struct cues {
  perceiver base;
  pipeline_config cfg;
  vision_detector *face, *hands, *pose, *objects;
  long n;
  /* calibration: the driver's neutral head pose and gaze */
  double calib_start;
  int calib_frames;
  double sum_yaw, sum_pitch, sum_gx, sum_gy;
  double yaw0, pitch0, gx0, gy0;
  bool calibrated;
  /* last findings */
  bool have_face;
  box face_box;
  box others[MAX_BOXES]; /* faces that are not the driver's */
  int n_others;
  float yaw, pitch, gaze_x, gaze_y;
  bool has_pose, has_gaze;
  box phones[MAX_BOXES];
  int n_phones;
  box hand_boxes[MAX_BOXES];
  int n_hands;
  float wrist[2][3]; /* x, y, score */
  float ear[2][3];
  bool have_pose_points;
  vision_result face_result; /* shallow: valid until the next face run */
  double p_away, p_phone, p_text;
} cues;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static double logistic(double x) { return 1.0 / (1.0 + exp(-x)); }

static double center_distance(const box *a, const box *b) {
  double ax = (a->x0 + a->x1) / 2, ay = (a->y0 + a->y1) / 2;
  double bx = (b->x0 + b->x1) / 2, by = (b->y0 + b->y1) / 2;
  return hypot(ax - bx, ay - by);
}

static int run_stage(cues *c, int stage, vision_detector *det, const media_image *frame,
                     vision_result *res, char *err, size_t err_size) {
  double t0 = now_ms();
  if (vision_detector_run(det, frame, res, err, err_size)) return -1;
  c->base.stage_ms[stage] += now_ms() - t0;
  c->base.stage_runs[stage]++;
  return 0;
}

static bool due(long n, int every) { return every > 0 && n % every == 0; }

static int cues_run(perceiver *p, const media_image *frame, double t, interp_frame *out, char *err,
                    size_t err_size) {
  cues *c = (cues *)p;
  const pipeline_config *cfg = &c->cfg;
  vision_result res;
  long n = c->n++;

  if (run_stage(c, STAGE_FACE, c->face, frame, &res, err, err_size)) return -1;
  c->face_result = res;
  c->have_face = res.count > 0;
  c->n_others = 0;
  for (int i = 1; i < res.count && c->n_others < MAX_BOXES; i++)
    c->others[c->n_others++] =
        (box){res.items[i].x0, res.items[i].y0, res.items[i].x1, res.items[i].y1};
  if (c->have_face) {
    const vision_item *f = &res.items[0]; /* the largest score: the driver */
    c->face_box = (box){f->x0, f->y0, f->x1, f->y1};
    c->has_pose = f->has_pose;
    c->has_gaze = f->has_gaze;
    c->yaw = f->yaw, c->pitch = f->pitch;
    c->gaze_x = f->gaze_x, c->gaze_y = f->gaze_y;
  }
  if (c->hands && due(n, cfg->hands_every)) {
    if (run_stage(c, STAGE_HANDS, c->hands, frame, &res, err, err_size)) return -1;
    c->n_hands = 0;
    for (int i = 0; i < res.count && c->n_hands < MAX_BOXES; i++)
      c->hand_boxes[c->n_hands++] =
          (box){res.items[i].x0, res.items[i].y0, res.items[i].x1, res.items[i].y1};
  }
  if (c->pose && due(n, cfg->pose_every)) {
    if (run_stage(c, STAGE_POSE, c->pose, frame, &res, err, err_size)) return -1;
    c->have_pose_points = res.count > 0 && res.items[0].point_count >= 17;
    if (c->have_pose_points) {
      const vision_point *k = res.items[0].points;
      /* MoveNet order: 3 left ear, 4 right ear, 9 left wrist, 10 right wrist. */
      for (int s = 0; s < 2; s++) {
        c->ear[s][0] = k[3 + s].x, c->ear[s][1] = k[3 + s].y, c->ear[s][2] = k[3 + s].score;
        c->wrist[s][0] = k[9 + s].x, c->wrist[s][1] = k[9 + s].y, c->wrist[s][2] = k[9 + s].score;
      }
    }
  }
  if (c->objects && due(n, cfg->objects_every)) {
    if (run_stage(c, STAGE_OBJECTS, c->objects, frame, &res, err, err_size)) return -1;
    c->n_phones = 0;
    for (int i = 0; i < res.count && c->n_phones < MAX_BOXES; i++)
      if (res.items[i].label && !strcmp(res.items[i].label, "cell phone"))
        c->phones[c->n_phones++] =
            (box){res.items[i].x0, res.items[i].y0, res.items[i].x1, res.items[i].y1};
  }

  memset(out->probs, 0, sizeof out->probs);
  if (!c->have_face || !c->has_pose) {
    out->known = false;
    snprintf(p->note, sizeof p->note, "no face");
    return 0;
  }
  /* Calibration: the first calibration_s seconds with a face set the
   * driver's neutral. */
  if (!c->calibrated) {
    if (c->calib_frames == 0) c->calib_start = t;
    c->calib_frames++;
    c->sum_yaw += c->yaw, c->sum_pitch += c->pitch;
    c->sum_gx += c->has_gaze ? c->gaze_x : 0, c->sum_gy += c->has_gaze ? c->gaze_y : 0;
    if (t - c->calib_start >= cfg->calibration_s) {
      c->yaw0 = c->sum_yaw / c->calib_frames, c->pitch0 = c->sum_pitch / c->calib_frames;
      c->gx0 = c->sum_gx / c->calib_frames, c->gy0 = c->sum_gy / c->calib_frames;
      c->calibrated = true;
    }
  }
  p->calibrating = !c->calibrated;
  double dyaw = c->yaw - c->yaw0, dpitch = c->pitch - c->pitch0;
  double dgx = c->has_gaze ? c->gaze_x - c->gx0 : 0, dgy = c->has_gaze ? c->gaze_y - c->gy0 : 0;
  double off = fmax(fmax(fabs(dyaw) / cfg->cue_yaw_deg, fabs(dpitch) / cfg->cue_pitch_deg),
                    hypot(dgx, dgy) / cfg->cue_gaze);
  c->p_away = logistic(6.0 * (off - 1.0));

  double fw = fmax(c->face_box.x1 - c->face_box.x0, 1.0);
  double phone_face = 0, phone_low = 0;
  for (int i = 0; i < c->n_phones; i++) {
    const box *ph = &c->phones[i];
    double d = center_distance(ph, &c->face_box) / fw;
    phone_face = fmax(phone_face, logistic(4.0 * (1.2 - d)));
    /* Below the chin by more than half a face: held in the lap or low. */
    double below = ((ph->y0 + ph->y1) / 2 - c->face_box.y1) / fw;
    phone_low = fmax(phone_low, logistic(4.0 * (below - 0.5)));
  }
  double hand_ear = 0;
  for (int i = 0; i < c->n_hands; i++) {
    double d = center_distance(&c->hand_boxes[i], &c->face_box) / fw;
    hand_ear = fmax(hand_ear, logistic(5.0 * (0.9 - d)));
  }
  if (c->have_pose_points)
    for (int w = 0; w < 2; w++)
      for (int e = 0; e < 2; e++)
        if (c->wrist[w][2] > 0.3 && c->ear[e][2] > 0.3) {
          double d = hypot(c->wrist[w][0] - c->ear[e][0], c->wrist[w][1] - c->ear[e][1]) / fw;
          hand_ear = fmax(hand_ear, logistic(5.0 * (0.8 - d)));
        }
  c->p_phone = fmax(phone_face, 0.8 * hand_ear);
  double head_down = logistic(6.0 * (-dpitch / cfg->cue_pitch_deg - 0.5));
  c->p_text = phone_low * (0.5 + 0.5 * head_down);

  double on_phone = c->p_phone, texting = c->p_text * (1.0 - on_phone);
  double away = c->p_away * (1.0 - fmax(on_phone, texting));
  out->probs[INTERP_ON_PHONE] = on_phone;
  out->probs[INTERP_TEXTING] = texting;
  out->probs[INTERP_LOOKING_AWAY] = away;
  out->probs[INTERP_NORMAL] = fmax(0.0, 1.0 - on_phone - texting - away);
  out->known = true;
  snprintf(p->note, sizeof p->note, "yaw %+.0f pitch %+.0f gaze %+.2f,%+.2f phones %d hands %d%s",
           dyaw, dpitch, dgx, dgy, c->n_phones, c->n_hands, p->calibrating ? " (calibrating)" : "");
  return 0;
}

static void cues_draw(perceiver *p, media_image *frame) {
  cues *c = (cues *)p;
  /* The driver only: other people in the frame are not our business. */
  vision_result driver = c->face_result;
  if (driver.count > 1) driver.count = 1;
  if (c->have_face) vision_draw(&driver, frame);
  media_color phone = {255, 60, 200}, hand = {60, 220, 255};
  for (int i = 0; i < c->n_phones; i++)
    media_draw_rect(frame, (int)c->phones[i].x0, (int)c->phones[i].y0, (int)c->phones[i].x1,
                    (int)c->phones[i].y1, phone, 2);
  for (int i = 0; i < c->n_hands; i++)
    media_draw_rect(frame, (int)c->hand_boxes[i].x0, (int)c->hand_boxes[i].y0,
                    (int)c->hand_boxes[i].x1, (int)c->hand_boxes[i].y1, hand, 1);
}

/* Pixelates a box (grown by a fifth, so hair and chin go too) in 12-pixel
 * blocks: unrecognisable, and still visibly "a person was here". */
static void pixelate(media_image *img, const box *b) {
  float w = b->x1 - b->x0, h = b->y1 - b->y0;
  int x0 = (int)fmaxf(0, b->x0 - w * 0.2f), y0 = (int)fmaxf(0, b->y0 - h * 0.2f);
  int x1 = (int)fminf((float)img->width, b->x1 + w * 0.2f),
      y1 = (int)fminf((float)img->height, b->y1 + h * 0.2f);
  const int block = 12, ch = img->channels;
  for (int by = y0; by < y1; by += block)
    for (int bx = x0; bx < x1; bx += block) {
      int ex = bx + block < x1 ? bx + block : x1, ey = by + block < y1 ? by + block : y1;
      long sum[4] = {0}, n = 0;
      for (int y = by; y < ey; y++)
        for (int x = bx; x < ex; x++, n++)
          for (int k = 0; k < ch; k++) sum[k] += img->data[y * img->stride + x * ch + k];
      if (!n) continue;
      for (int y = by; y < ey; y++)
        for (int x = bx; x < ex; x++)
          for (int k = 0; k < ch; k++)
            img->data[y * img->stride + x * ch + k] = (uint8_t)(sum[k] / n);
    }
}

static void cues_privacy(perceiver *p, media_image *frame) {
  cues *c = (cues *)p;
  for (int i = 0; i < c->n_others; i++) pixelate(frame, &c->others[i]);
}

static void cues_destroy(perceiver *p) {
  cues *c = (cues *)p;
  vision_detector_destroy(c->face);
  vision_detector_destroy(c->hands);
  vision_detector_destroy(c->pose);
  vision_detector_destroy(c->objects);
  free(c);
}

static int make_detector(vision_task task, int threads, vision_detector **out, char *err,
                         size_t err_size) {
  vision_options o;
  vision_options_init(&o, task);
  o.threads = threads;
  if (vision_detector_create(&o, out, err, err_size)) return -1;
  return 0;
}

int perceive_cues_create(const pipeline_config *config, perceiver **out, char *err,
                         size_t err_size) {
  cues *c = calloc(1, sizeof *c);
  if (!c) {
    snprintf(err, err_size, "out of memory");
    return -1;
  }
  c->cfg = *config;
  c->base.run = cues_run;
  c->base.draw = cues_draw;
  c->base.destroy = cues_destroy;
  c->base.privacy = cues_privacy;
  c->base.calibrating = config->calibration_s > 0;
  c->calibrated = config->calibration_s <= 0;
  c->base.stage_count = 4;
  c->base.stage_names[STAGE_FACE] = "face+mesh+iris";
  c->base.stage_names[STAGE_HANDS] = "hands";
  c->base.stage_names[STAGE_POSE] = "pose";
  c->base.stage_names[STAGE_OBJECTS] = "objects";
  int th = config->threads > 0 ? config->threads : 1;
  if (make_detector(VISION_TASK_IRIS, th, &c->face, err, err_size) ||
      (config->hands_every > 0 && make_detector(VISION_TASK_HANDS, th, &c->hands, err, err_size)) ||
      (config->pose_every > 0 && make_detector(VISION_TASK_POSE, th, &c->pose, err, err_size)) ||
      (config->objects_every > 0 &&
       make_detector(VISION_TASK_OBJECTS, th, &c->objects, err, err_size))) {
    cues_destroy(&c->base);
    return -1;
  }
  *out = &c->base;
  return 0;
}
