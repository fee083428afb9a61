/* vision/pose.c: single-person pose with MoveNet (Lightning 192x192,
 * Thunder 256x256).
 *
 * MoveNet takes the frame letterboxed into its square input as int32 pixel
 * values 0..255 and gives 17 COCO keypoints as (y, x, score), y and x
 * normalized to the input square; they are mapped back through the
 * letterbox. The person's box spans the keypoints above the score threshold
 * and its score is their mean score.
 */
#include <math.h>
#include <string.h>

#include "vision/vision_internal.h"

#define POSE_POINTS 17

static ledge_status pose_create(vision_detector *det, char *err, size_t err_size) {
  vision_model *m = &det->models[0];
  ledge_status st = vision_model_open(m, det->options.task, 0, det->options.model,
                                      det->options.threads, err, err_size);
  if (st) return st;
  if (m->channels != 3 || m->width != m->height)
    return vision_fail(err, err_size, LEDGE_ERR_UNSUPPORTED, "%s: MoveNet takes a square RGB input",
                       m->path);
  return LEDGE_OK;
}

static ledge_status pose_run(vision_detector *det, const media_image *frame, char *err,
                             size_t err_size) {
  vision_model *m = &det->models[0];
  vision_window win = vision_window_letterbox(frame);
  ledge_status st = vision_sample(m, frame, win, 1, 0, 0, err, err_size);
  if (st || (st = vision_model_run(m, err, err_size))) return st;
  int64_t n;
  const float *d = vision_model_output_at(m, 0, &n, NULL);
  if (!d || n != POSE_POINTS * 3)
    return vision_fail(err, err_size, LEDGE_ERR_UNSUPPORTED,
                       "%s: expected 17x3 keypoints (single-pose MoveNet), got %lld values",
                       m->path, (long long)n);
  const float min_score = det->options.min_score > 0 ? det->options.min_score : 0.3f;
  float lx = 1e30f, ly = 1e30f, hx = -1e30f, hy = -1e30f, sum = 0;
  int good = 0;
  vision_point pts[POSE_POINTS];
  for (int k = 0; k < POSE_POINTS; k++) {
    pts[k].x = win.x0 + d[3 * k + 1] * win.w;
    pts[k].y = win.y0 + d[3 * k] * win.h;
    pts[k].z = 0;
    pts[k].score = d[3 * k + 2];
    sum += pts[k].score;
    if (pts[k].score >= min_score) {
      good++;
      lx = fminf(lx, pts[k].x), hx = fmaxf(hx, pts[k].x), ly = fminf(ly, pts[k].y),
      hy = fmaxf(hy, pts[k].y);
    }
  }
  if (good < 3) return LEDGE_OK; /* nobody there */
  vision_item *it = vision_store_add(&det->store, POSE_POINTS);
  if (!it) return vision_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  memcpy(vision_store_points(&det->store, it), pts, sizeof pts);
  it->x0 = lx, it->y0 = ly, it->x1 = hx, it->y1 = hy;
  it->score = sum / POSE_POINTS;
  it->label = "person";
  return LEDGE_OK;
}

const vision_module vision_pose_module = {pose_create, pose_run, NULL};
