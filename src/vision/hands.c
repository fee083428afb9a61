/* vision/hands.c: hand detection (MediaPipe's palm detector, human-models
 * handdetect, 256x256) and 21 hand landmarks (handlandmark-full, 224x224).
 *
 * The palm detector sees the frame letterboxed, scaled to -1..1. Its 2944
 * anchors sit at cell centers of grids of stride 8 (2 per cell), 16 (2 per
 * cell) and 32 (6 per cell), in that order; each regresses a logit, a box
 * (center offset, size) and 7 palm keypoints (0: wrist, 2: middle finger
 * base), in input pixels relative to the anchor.
 *
 * The landmark model wants the hand upright: its crop is the palm box turned
 * so that wrist -> middle finger points up, shifted half a box toward the
 * fingers and enlarged 2.6x (MediaPipe's palm-to-hand rectangle), sampled at
 * 224x224 scaled to 0..1. It gives 21 points (x, y, z) in crop pixels and a
 * presence logit; points are turned back into the frame.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vision/vision_internal.h"

#define HAND_POINTS 21
#define PALM_POINTS 7

#define MAX_HANDS 16
/* tracking re-runs the palm detector at least this often */
#define DETECT_EVERY 10

typedef struct hands_state {
  float *anchors;
  int anchor_count;
  vision_box *boxes;
  /* tracking (options.track): the crops the last frame's landmarks give */
  vision_window tracks[MAX_HANDS], next[MAX_HANDS];
  int n_tracks, since_detect, frame_w, frame_h;
} hands_state;

static ledge_status hands_create(vision_detector *det, char *err, size_t err_size) {
  const vision_options *o = &det->options;
  vision_model *pd = &det->models[1], *lm = &det->models[0];
  ledge_status st = vision_model_open(pd, o->task, 1, o->detector_model, o->threads, err, err_size);
  if (st || (st = vision_model_open(lm, o->task, 0, o->model, o->threads, err, err_size)))
    return st;
  if (pd->width != pd->height || pd->width % 32 || pd->channels != 3)
    return vision_fail(err, err_size, LEDGE_ERR_UNSUPPORTED,
                       "%s: the palm detector takes a square RGB input", pd->path);
  hands_state *hs = calloc(1, sizeof *hs);
  if (!hs) return vision_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  det->state = hs;
  const int strides[3] = {8, 16, 32}, per_cell[3] = {2, 2, 6}, size = pd->width;
  int total = 0;
  for (int l = 0; l < 3; l++) total += (size / strides[l]) * (size / strides[l]) * per_cell[l];
  hs->anchors = malloc((size_t)total * 2 * sizeof(float));
  hs->boxes = malloc((size_t)total * sizeof(vision_box));
  if (!hs->anchors || !hs->boxes)
    return vision_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  int n = 0;
  for (int l = 0; l < 3; l++) {
    int g = size / strides[l];
    for (int y = 0; y < g; y++)
      for (int x = 0; x < g; x++)
        for (int k = 0; k < per_cell[l]; k++) {
          hs->anchors[2 * n] = strides[l] * (x + 0.5f);
          hs->anchors[2 * n + 1] = strides[l] * (y + 0.5f);
          n++;
        }
  }
  hs->anchor_count = n;
  return LEDGE_OK;
}

/* Palm detections as landmark crops (appended to crops; palms inside a
 * tracked crop are skipped). */
static ledge_status palm_crops(vision_detector *det, const media_image *frame, vision_window *crops,
                               int *n, char *err, size_t err_size) {
  hands_state *hs = det->state;
  vision_model *pd = &det->models[1];
  vision_window win = vision_window_letterbox(frame);
  ledge_status st = vision_sample(pd, frame, win, 1.0f / 127.5f, -1.0f, 0, err, err_size);
  if (st || (st = vision_model_run(pd, err, err_size))) return st;
  int64_t cnt, last;
  const float *d = vision_model_output_at(pd, 0, &cnt, &last);
  if (!d || last != 1 + 4 + 2 * PALM_POINTS || cnt != (int64_t)hs->anchor_count * last)
    return vision_fail(err, err_size, LEDGE_ERR_UNSUPPORTED,
                       "%s: expected %d anchors of 19 values (a palm detector)", pd->path,
                       hs->anchor_count);
  const float min_score = det->options.min_score > 0 ? det->options.min_score : 0.5f;
  const float min_logit = logf(min_score / (1 - min_score + 1e-9f));
  int count = 0;
  for (int a = 0; a < hs->anchor_count; a++) {
    const float *q = d + a * 19;
    if (!(q[0] >= min_logit) || !(q[3] > 0 && q[4] > 0)) continue;
    float cx = hs->anchors[2 * a] + q[1], cy = hs->anchors[2 * a + 1] + q[2];
    vision_box *b = &hs->boxes[count++];
    b->x0 = cx - q[3] / 2, b->y0 = cy - q[4] / 2, b->x1 = cx + q[3] / 2, b->y1 = cy + q[4] / 2;
    b->score = vision_sigmoid(q[0] > 80 ? 80 : q[0]);
    b->index = a;
  }
  const float iou = det->options.iou_threshold > 0 ? det->options.iou_threshold : 0.3f;
  int kept = vision_nms(hs->boxes, count, iou, MAX_HANDS);
  const float s = win.w / pd->width;
  for (int i = 0; i < kept && *n < MAX_HANDS; i++) {
    const vision_box *b = &hs->boxes[i];
    const float *q = d + b->index * 19;
    float ax = hs->anchors[2 * b->index], ay = hs->anchors[2 * b->index + 1];
    /* palm box and its direction, in frame pixels */
    float cx = win.x0 + (b->x0 + b->x1) / 2 * s, cy = win.y0 + (b->y0 + b->y1) / 2 * s;
    int followed = 0;
    for (int t = 0; t < hs->n_tracks && !followed; t++) {
      float tx = hs->tracks[t].x0 + hs->tracks[t].w / 2,
            ty = hs->tracks[t].y0 + hs->tracks[t].h / 2;
      followed = fabsf(cx - tx) < hs->tracks[t].w / 3 && fabsf(cy - ty) < hs->tracks[t].h / 3;
    }
    if (followed) continue;
    float side = fmaxf(b->x1 - b->x0, b->y1 - b->y0) * s;
    float wx = win.x0 + (ax + q[5]) * s, wy = win.y0 + (ay + q[6]) * s; /* wrist */
    float mx = win.x0 + (ax + q[5 + 4]) * s,
          my = win.y0 + (ay + q[6 + 4]) * s; /* middle finger base */
    /* angle that turns "up" (0, -1) into wrist -> finger */
    float angle = atan2f(mx - wx, -(my - wy));
    float ux = sinf(angle), uy = -cosf(angle);
    vision_window crop =
        vision_window_square(cx + ux * 0.5f * side, cy + uy * 0.5f * side, side * 2.6f);
    crop.angle = angle;
    crops[(*n)++] = crop;
  }
  return LEDGE_OK;
}

/* The crop for the next frame from a hand's landmarks (frame pixels): turned
 * so that wrist (0) -> middle finger base (9) points up, around the
 * landmarks' box in that frame, 2x its larger side, shifted a little toward
 * the fingers (MediaPipe's landmarks-to-rectangle). */
static vision_window crop_from_landmarks(const vision_point *p) {
  float angle = atan2f(p[9].x - p[0].x, -(p[9].y - p[0].y));
  float c = cosf(angle), s = sinf(angle);
  float lu = 1e30f, lv = 1e30f, hu = -1e30f, hv = -1e30f;
  for (int k = 0; k < HAND_POINTS; k++) {
    /* coordinates in the turned frame: u along the crop's x, v along its y */
    float u = c * p[k].x + s * p[k].y, v = -s * p[k].x + c * p[k].y;
    lu = fminf(lu, u), hu = fmaxf(hu, u), lv = fminf(lv, v), hv = fmaxf(hv, v);
  }
  float side = fmaxf(hu - lu, hv - lv) * 2.0f;
  float mu = (lu + hu) / 2, mv = (lv + hv) / 2 - 0.1f * side; /* toward the fingers (up) */
  vision_window w = vision_window_square(c * mu - s * mv, s * mu + c * mv, side);
  w.angle = angle;
  return w;
}

static ledge_status hands_run(vision_detector *det, const media_image *frame, char *err,
                              size_t err_size) {
  hands_state *hs = det->state;
  vision_model *lm = &det->models[0];
  const int track = det->options.track;
  if (!track || frame->width != hs->frame_w || frame->height != hs->frame_h) hs->n_tracks = 0;
  hs->frame_w = frame->width, hs->frame_h = frame->height;
  vision_window crops[MAX_HANDS];
  int n = 0, detected = 0, n_next = 0;
  for (int t = 0; t < hs->n_tracks; t++) crops[n++] = hs->tracks[t];
  ledge_status st;
  if (!track || !hs->n_tracks || ++hs->since_detect >= DETECT_EVERY) {
    if ((st = palm_crops(det, frame, crops, &n, err, err_size))) return st;
    hs->since_detect = 0;
    detected = 1;
  }
  const float min_score = det->options.min_score > 0 ? det->options.min_score : 0.5f;
  const int max_hands = det->options.max_results > 0 ? det->options.max_results : 2;
retry:
  for (int i = 0; i < n && det->store.count < max_hands; i++) {
    vision_window crop = crops[i];
    if ((st = vision_sample(lm, frame, crop, 1.0f / 255, 0, 0, err, err_size)) ||
        (st = vision_model_run(lm, err, err_size)))
      return st;
    int64_t np, ns;
    const float *pts = vision_model_output(lm, "Identity", &np);
    const float *presence = vision_model_output(lm, "Identity_1", &ns);
    if (!pts || np != HAND_POINTS * 3) pts = vision_model_output_at(lm, 0, &np, NULL);
    if (!pts || np != HAND_POINTS * 3)
      return vision_fail(err, err_size, LEDGE_ERR_UNSUPPORTED, "%s: expected 21x3 hand landmarks",
                         lm->path);
    float score = presence && ns == 1 ? vision_sigmoid(presence[0]) : 1.0f;
    if (score < min_score) continue;
    vision_point p[HAND_POINTS];
    float lx = 1e30f, ly = 1e30f, hx = -1e30f, hy = -1e30f, zs = crop.w / lm->width;
    for (int k = 0; k < HAND_POINTS; k++) {
      vision_window_map(crop, lm->width, lm->height, pts[3 * k], pts[3 * k + 1], &p[k].x, &p[k].y);
      p[k].z = pts[3 * k + 2] * zs;
      p[k].score = 1;
      lx = fminf(lx, p[k].x), hx = fmaxf(hx, p[k].x), ly = fminf(ly, p[k].y);
      hy = fmaxf(hy, p[k].y);
    }
    /* the same hand found twice (a palm detection of a tracked hand) */
    vision_window nw = crop_from_landmarks(p);
    int dup = 0;
    for (int t = 0; t < n_next && !dup; t++)
      dup = fabsf(hs->next[t].x0 - nw.x0) < nw.w / 4 && fabsf(hs->next[t].y0 - nw.y0) < nw.h / 4;
    if (dup) continue;
    if (n_next < MAX_HANDS) hs->next[n_next++] = nw;
    vision_item *it = vision_store_add(&det->store, HAND_POINTS);
    if (!it) return vision_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
    memcpy(vision_store_points(&det->store, it), p, sizeof p);
    it->x0 = lx, it->y0 = ly, it->x1 = hx, it->y1 = hy;
    it->score = score;
    it->label = "hand";
  }
  if (track && !n_next && !detected) {
    /* every followed hand was lost: look again now */
    hs->n_tracks = 0;
    n = 0;
    if ((st = palm_crops(det, frame, crops, &n, err, err_size))) return st;
    hs->since_detect = 0;
    detected = 1;
    goto retry;
  }
  if (track) {
    memcpy(hs->tracks, hs->next, (size_t)n_next * sizeof *hs->next);
    hs->n_tracks = n_next;
  }
  return LEDGE_OK;
}

static void hands_destroy(vision_detector *det) {
  hands_state *hs = det->state;
  if (hs) {
    free(hs->anchors);
    free(hs->boxes);
  }
  free(hs);
  det->state = NULL;
}

const vision_module vision_hands_module = {hands_create, hands_run, hands_destroy};
