/* vision/face.c: face detection (BlazeFace), face mesh with head pose, and
 * iris landmarks with a gaze estimate.
 *
 * BlazeFace (MediaPipe's short- and full-range detectors, as converted in
 * human-models: blazeface-front takes 128x128, blazeface-back 256x256) sees
 * the frame letterboxed into a square, scaled to -1..1. Its 896 anchors sit
 * at the cell centers of a grid of stride size/16 (2 anchors per cell) and
 * one of stride size/8 (6 per cell), in that order. Each anchor regresses a
 * logit, a box center offset and size, and 6 keypoints (right eye, left eye,
 * nose, mouth, right ear, left ear; the subject's sides), all in input
 * pixels relative to the anchor.
 *
 * FaceMesh takes a 192x192 crop, scaled to 0..1, of a square around the
 * detected face enlarged 1.5x, and gives 468 landmarks (x, y, z) in crop
 * pixels plus a face score. The iris model takes a 64x64 crop around each
 * eye (2.3x the distance between the eye's corners; the subject's left eye
 * mirrored) and gives 71 eye-contour points and 5 iris points.
 *
 * Head pose follows the usual landmark-frame construction: the face's x axis
 * runs from cheek 234 to cheek 454, its y axis from forehead 10 to chin 152,
 * z is their cross product; the rotation matrix with these rows is turned
 * into yaw, pitch and roll.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vision/vision_internal.h"

#define FACE_KEYPOINTS 6
#define MESH_POINTS 468
#define IRIS_POINTS 5
#define DEG (180.0f / 3.14159265358979f)
#define MAX_TRACKS 16
/* tracking re-runs the detector at least this often, to find new faces */
#define DETECT_EVERY 10

typedef struct face_state {
  float *anchors; /* x, y in input pixels */
  int anchor_count;
  vision_box *boxes;
  /* the detections of the current frame, copied out of the store (mesh
   * tasks replace them with mesh results) */
  vision_item *faces;
  vision_point *face_points;
  /* tracking (options.track): the crop windows the last frame's meshes
   * give for the next frame */
  vision_window tracks[MAX_TRACKS], next[MAX_TRACKS];
  int n_tracks, since_detect, frame_w, frame_h;
} face_state;

static ledge_status make_anchors(face_state *fs, int size, char *err, size_t err_size) {
  const int strides[2] = {size / 16, size / 8}, per_cell[2] = {2, 6};
  int total = 0;
  for (int l = 0; l < 2; l++) {
    int g = (size + strides[l] - 1) / strides[l];
    total += g * g * per_cell[l];
  }
  fs->anchors = malloc((size_t)total * 2 * sizeof(float));
  fs->boxes = malloc((size_t)total * sizeof(vision_box));
  if (!fs->anchors || !fs->boxes)
    return vision_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  int n = 0;
  for (int l = 0; l < 2; l++) {
    int g = (size + strides[l] - 1) / strides[l];
    for (int y = 0; y < g; y++)
      for (int x = 0; x < g; x++)
        for (int k = 0; k < per_cell[l]; k++) {
          fs->anchors[2 * n] = strides[l] * (x + 0.5f);
          fs->anchors[2 * n + 1] = strides[l] * (y + 0.5f);
          n++;
        }
  }
  fs->anchor_count = n;
  return LEDGE_OK;
}

/* The detector's outputs come in two pairs (scores and regressors for the
 * 512 fine anchors, then for the 384 coarse ones) or as one [896, 17]
 * tensor. Finds them by shape. */
typedef struct blaze_outputs {
  const float *score[2], *reg[2];
  int64_t n[2];
  int parts;
  const float *joint; /* [896, 17] */
} blaze_outputs;

static int find_outputs(const vision_model *m, int anchors, blaze_outputs *o) {
  memset(o, 0, sizeof *o);
  int count = ledge_session_output_count(m->session);
  const float *s1 = NULL, *s2 = NULL, *r1 = NULL, *r2 = NULL;
  int64_t ns1 = 0, ns2 = 0, nr1 = 0, nr2 = 0;
  for (int i = 0; i < count; i++) {
    int64_t n, last;
    const float *d = vision_model_output_at(m, i, &n, &last);
    if (!d) continue;
    if (last == 17 && n == (int64_t)anchors * 17) o->joint = d;
    if (last == 1) {
      if (!s1 || n > ns1)
        s2 = s1, ns2 = ns1, s1 = d, ns1 = n;
      else
        s2 = d, ns2 = n;
    } else if (last == 16) {
      if (!r1 || n / 16 > nr1)
        r2 = r1, nr2 = nr1, r1 = d, nr1 = n / 16;
      else
        r2 = d, nr2 = n / 16;
    }
  }
  if (o->joint) return 1;
  if (s1 && r1 && ns1 == nr1 && (!s2 || (r2 && ns2 == nr2)) && ns1 + ns2 == anchors) {
    o->score[0] = s1, o->reg[0] = r1, o->n[0] = ns1;
    o->score[1] = s2, o->reg[1] = r2, o->n[1] = ns2;
    return 1;
  }
  return 0;
}

static float face_min_score(const vision_detector *det) {
  return det->options.min_score > 0 ? det->options.min_score : 0.5f;
}

static int face_max(const vision_detector *det) {
  return det->options.max_results > 0 ? det->options.max_results : 4;
}

ledge_status vision_face_detect(vision_detector *det, vision_model *m, const media_image *frame,
                                char *err, size_t err_size) {
  face_state *fs = det->state;
  vision_window win = vision_window_letterbox(frame);
  ledge_status st = vision_sample(m, frame, win, 1.0f / 127.5f, -1.0f, 0, err, err_size);
  if (st || (st = vision_model_run(m, err, err_size))) return st;
  blaze_outputs o;
  if (!find_outputs(m, fs->anchor_count, &o))
    return vision_fail(
        err, err_size, LEDGE_ERR_UNSUPPORTED,
        "%s: outputs do not look like BlazeFace's (%d anchors of score + 16 regressors)", m->path,
        fs->anchor_count);
  const float size = (float)m->width, to_frame = win.w / size, min_score = face_min_score(det);
  const float min_logit = logf(min_score / (1 - min_score + 1e-9f));
  int n = 0;
  for (int a = 0; a < fs->anchor_count; a++) {
    const float *reg;
    float logit;
    if (o.joint) {
      logit = o.joint[a * 17];
      reg = o.joint + a * 17 + 1;
    } else {
      int part = a < o.n[0] ? 0 : 1;
      int64_t k = part ? a - o.n[0] : a;
      logit = o.score[part][k];
      reg = o.reg[part] + k * 16;
    }
    if (!(logit >= min_logit)) continue;
    float cx = fs->anchors[2 * a] + reg[0], cy = fs->anchors[2 * a + 1] + reg[1], w = reg[2],
          h = reg[3];
    if (!(w > 0 && h > 0)) continue;
    vision_box *b = &fs->boxes[n++];
    b->x0 = cx - w / 2, b->y0 = cy - h / 2, b->x1 = cx + w / 2, b->y1 = cy + h / 2;
    b->score = vision_sigmoid(logit > 80 ? 80 : logit);
    b->index = a;
  }
  float iou = det->options.iou_threshold > 0 ? det->options.iou_threshold : 0.3f;
  int kept = vision_nms(fs->boxes, n, iou, face_max(det));
  for (int i = 0; i < kept; i++) {
    const vision_box *b = &fs->boxes[i];
    int a = b->index;
    const float *reg;
    if (o.joint)
      reg = o.joint + a * 17 + 1;
    else {
      int part = a < o.n[0] ? 0 : 1;
      reg = o.reg[part] + (part ? a - o.n[0] : a) * 16;
    }
    vision_item *it = vision_store_add(&det->store, FACE_KEYPOINTS);
    if (!it) return vision_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
    it->x0 = win.x0 + b->x0 * to_frame, it->y0 = win.y0 + b->y0 * to_frame;
    it->x1 = win.x0 + b->x1 * to_frame, it->y1 = win.y0 + b->y1 * to_frame;
    it->score = b->score;
    it->label = "face";
    vision_point *p = vision_store_points(&det->store, it);
    for (int k = 0; k < FACE_KEYPOINTS; k++) {
      p[k].x = win.x0 + (fs->anchors[2 * a] + reg[4 + 2 * k]) * to_frame;
      p[k].y = win.y0 + (fs->anchors[2 * a + 1] + reg[5 + 2 * k]) * to_frame;
      p[k].score = 1;
    }
  }
  return LEDGE_OK;
}

static void face_state_free(face_state *fs) {
  if (!fs) return;
  free(fs->anchors);
  free(fs->boxes);
  free(fs->faces);
  free(fs->face_points);
  free(fs);
}

static ledge_status face_state_create(vision_detector *det, vision_model *m, char *err,
                                      size_t err_size) {
  face_state *fs = calloc(1, sizeof *fs);
  if (!fs) return vision_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  det->state = fs;
  if (m->width != m->height || m->width < 16 || m->width % 16 || m->channels != 3)
    return vision_fail(
        err, err_size, LEDGE_ERR_UNSUPPORTED,
        "%s: a BlazeFace model takes a square RGB input of a multiple of 16, not %dx%dx%d", m->path,
        m->height, m->width, m->channels);
  return make_anchors(fs, m->width, err, err_size);
}

/* ---- face --------------------------------------------------------------- */

static ledge_status face_create(vision_detector *det, char *err, size_t err_size) {
  ledge_status st = vision_model_open(&det->models[0], det->options.task, 0, det->options.model,
                                      det->options.threads, err, err_size);
  if (st) return st;
  return face_state_create(det, &det->models[0], err, err_size);
}

static ledge_status face_run(vision_detector *det, const media_image *frame, char *err,
                             size_t err_size) {
  return vision_face_detect(det, &det->models[0], frame, err, err_size);
}

static void face_destroy(vision_detector *det) {
  face_state_free(det->state);
  det->state = NULL;
}

const vision_module vision_face_module = {face_create, face_run, face_destroy};

/* ---- face-mesh and iris ------------------------------------------------- */

static void normalize3(float v[3]) {
  float n = sqrtf(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
  if (n > 0) v[0] /= n, v[1] /= n, v[2] /= n;
}

static void cross3(const float a[3], const float b[3], float out[3]) {
  out[0] = a[1] * b[2] - a[2] * b[1];
  out[1] = a[2] * b[0] - a[0] * b[2];
  out[2] = a[0] * b[1] - a[1] * b[0];
}

/* Yaw, pitch, roll (degrees) from the mesh; see the comment at the top. */
static void head_pose(const vision_point *p, float *yaw, float *pitch, float *roll) {
  float x[3] = {p[454].x - p[234].x, p[454].y - p[234].y, p[454].z - p[234].z};
  float y[3] = {p[152].x - p[10].x, p[152].y - p[10].y, p[152].z - p[10].z};
  float z[3];
  normalize3(x);
  normalize3(y);
  cross3(x, y, z);
  normalize3(z);
  cross3(y, z, x); /* make x exactly orthogonal to y and z */
  /* rows x, y, z: r00 = x[0], r10 = y[0], r11 = y[1], r12 = y[2], r20 = z[0] */
  *yaw = atan2f(z[0], x[0]) * DEG;
  *pitch = -atan2f(y[2], y[1]) * DEG;
  *roll = -atan2f(y[0], sqrtf(x[0] * x[0] + z[0] * z[0])) * DEG;
}

/* The mesh model's outputs: landmarks (1404) and the face score (1). */
static ledge_status mesh_outputs(const vision_model *m, const float **mesh, float *score, char *err,
                                 size_t err_size) {
  *mesh = NULL;
  *score = 1;
  int count = ledge_session_output_count(m->session);
  int has_score = 0;
  for (int i = 0; i < count; i++) {
    int64_t n;
    const float *d = vision_model_output_at(m, i, &n, NULL);
    if (!d) continue;
    if (n == MESH_POINTS * 3)
      *mesh = d;
    else if (n == 1)
      *score = d[0], has_score = 1;
  }
  if (!*mesh)
    return vision_fail(err, err_size, LEDGE_ERR_UNSUPPORTED,
                       "%s: no output of 468x3 landmarks (not a FaceMesh model)", m->path);
  /* converted meshes end in a Sigmoid; others give a logit */
  if (has_score && (*score < 0 || *score > 1)) *score = vision_sigmoid(*score);
  return LEDGE_OK;
}

/* Runs the iris model on one eye (corners a, b of the mesh) and writes the 5
 * iris points; returns the eye's gaze offsets. */
static ledge_status eye_iris(vision_model *m, const media_image *frame, const vision_point *mesh,
                             int a, int b, int flip, vision_point *iris, float *gx, float *gy,
                             char *err, size_t err_size) {
  float cx = (mesh[a].x + mesh[b].x) / 2, cy = (mesh[a].y + mesh[b].y) / 2;
  float width = hypotf(mesh[a].x - mesh[b].x, mesh[a].y - mesh[b].y);
  vision_window win = vision_window_square(cx, cy, fmaxf(width * 2.3f, 4.0f));
  /* level the eye in the crop: its corners left to right as seen */
  const vision_point *l = mesh[a].x <= mesh[b].x ? &mesh[a] : &mesh[b],
                     *r = l == &mesh[a] ? &mesh[b] : &mesh[a];
  win.angle = atan2f(r->y - l->y, r->x - l->x);
  ledge_status st = vision_sample(m, frame, win, 1.0f / 255, 0, flip, err, err_size);
  if (st || (st = vision_model_run(m, err, err_size))) return st;
  int64_t n;
  const float *d = vision_model_output_at(m, 0, &n, NULL);
  if (!d || n < 76 * 3)
    return vision_fail(err, err_size, LEDGE_ERR_UNSUPPORTED,
                       "%s: expected 76x3 eye and iris points", m->path);
  float z_eye = (mesh[a].z + mesh[b].z) / 2;
  for (int k = 0; k < IRIS_POINTS; k++) {
    const float *q = d + (71 + k) * 3;
    float u = flip ? m->width - q[0] : q[0];
    vision_window_map(win, m->width, m->height, u, q[1], &iris[k].x, &iris[k].y);
    iris[k].z = z_eye; /* the model's iris depth is unreliable: take the eye's */
    iris[k].score = 1;
  }
  /* the iris centre's offset along and across the eye, in half eye widths */
  float half = width / 2 > 1e-3f ? width / 2 : 1e-3f, c = cosf(win.angle), sn = sinf(win.angle);
  float dx = iris[0].x - cx, dy = iris[0].y - cy;
  *gx = fmaxf(-1, fminf(1, (c * dx + sn * dy) / half));
  *gy = fmaxf(-1, fminf(1, (-sn * dx + c * dy) / half));
  return LEDGE_OK;
}

static ledge_status mesh_create(vision_detector *det, char *err, size_t err_size) {
  const vision_options *o = &det->options;
  ledge_status st =
      vision_model_open(&det->models[1], o->task, 1, o->detector_model, o->threads, err, err_size);
  if (st || (st = face_state_create(det, &det->models[1], err, err_size))) return st;
  if ((st = vision_model_open(&det->models[0], o->task, 0, o->model, o->threads, err, err_size)))
    return st;
  if (det->models[0].channels != 3)
    return vision_fail(err, err_size, LEDGE_ERR_UNSUPPORTED, "%s: the mesh model must take RGB",
                       det->models[0].path);
  if (o->task == VISION_TASK_IRIS &&
      (st = vision_model_open(&det->models[2], o->task, 2, o->iris_model, o->threads, err,
                              err_size)))
    return st;
  return LEDGE_OK;
}

/* The crop for the next mesh: the mesh's box centre (in the crop, mapped
 * to the frame), 1.5x its larger side, turned so that its eye corners 33 and
 * 263 lie level. */
static vision_window window_from_mesh(vision_window win, const vision_model *mm,
                                      const float *mesh) {
  float lx = 1e30f, ly = 1e30f, hx = -1e30f, hy = -1e30f;
  for (int k = 0; k < MESH_POINTS; k++) {
    lx = fminf(lx, mesh[3 * k]), hx = fmaxf(hx, mesh[3 * k]);
    ly = fminf(ly, mesh[3 * k + 1]), hy = fmaxf(hy, mesh[3 * k + 1]);
  }
  if (!(hx > lx && hy > ly)) return win;
  float mx, my, ax, ay, bx, by;
  vision_window_map(win, mm->width, mm->height, (lx + hx) / 2, (ly + hy) / 2, &mx, &my);
  vision_window_map(win, mm->width, mm->height, mesh[3 * 33], mesh[3 * 33 + 1], &ax, &ay);
  vision_window_map(win, mm->width, mm->height, mesh[3 * 263], mesh[3 * 263 + 1], &bx, &by);
  vision_window next =
      vision_window_square(mx, my, fmaxf(hx - lx, hy - ly) * (win.w / mm->width) * 1.5f);
  next.angle = atan2f(by - ay, bx - ax);
  return next;
}

/* Copies the detector's faces out of the store (it is refilled with meshes)
 * as crop windows: 1.5x the face, turned so that the detector's eye
 * keypoints lie level (the subject's right eye is on the image's left).
 * With tracking, faces already followed are skipped. */
static ledge_status detect_windows(vision_detector *det, const media_image *frame,
                                   vision_window *wins, int *n, char *err, size_t err_size) {
  face_state *fs = det->state;
  ledge_status st = vision_face_detect(det, &det->models[1], frame, err, err_size);
  if (st) return st;
  for (int i = 0; i < det->store.count && *n < MAX_TRACKS; i++) {
    const vision_item *face = &det->store.items[i];
    const vision_point *kp = vision_store_points(&det->store, &det->store.items[i]);
    float cx = (face->x0 + face->x1) / 2, cy = (face->y0 + face->y1) / 2;
    int followed = 0;
    for (int t = 0; t < fs->n_tracks && !followed; t++) {
      float tx = fs->tracks[t].x0 + fs->tracks[t].w / 2,
            ty = fs->tracks[t].y0 + fs->tracks[t].h / 2;
      followed = fabsf(cx - tx) < fs->tracks[t].w / 3 && fabsf(cy - ty) < fs->tracks[t].h / 3;
    }
    if (followed) continue;
    vision_window w =
        vision_window_square(cx, cy, fmaxf(face->x1 - face->x0, face->y1 - face->y0) * 1.5f);
    w.angle = atan2f(kp[1].y - kp[0].y, kp[1].x - kp[0].x);
    wins[(*n)++] = w;
  }
  vision_store_reset(&det->store);
  return LEDGE_OK;
}

static ledge_status mesh_run(vision_detector *det, const media_image *frame, char *err,
                             size_t err_size) {
  face_state *fs = det->state;
  const int track = det->options.track;
  if (!track || frame->width != fs->frame_w || frame->height != fs->frame_h) fs->n_tracks = 0;
  fs->frame_w = frame->width, fs->frame_h = frame->height;
  /* the windows to run the mesh on: tracked faces first (one pass each),
   * then new detections (two passes) */
  vision_window wins[MAX_TRACKS];
  int n = 0, tracked = 0;
  for (int t = 0; t < fs->n_tracks; t++) wins[n++] = fs->tracks[t];
  tracked = n;
  ledge_status st;
  int detected = 0;
  if (!track || !fs->n_tracks || ++fs->since_detect >= DETECT_EVERY) {
    if ((st = detect_windows(det, frame, wins, &n, err, err_size))) return st;
    fs->since_detect = 0;
    detected = 1;
  }
  const int max_faces = face_max(det);
retry:;
  int n_next = 0;
  const int iris = det->options.task == VISION_TASK_IRIS;
  const float min_score = det->options.min_score > 0 ? det->options.min_score : 0.5f;
  vision_model *mm = &det->models[0];
  for (int f = 0; f < n && det->store.count < max_faces; f++) {
    vision_window win = wins[f];
    const float *mesh;
    float score;
    /* a new face: the detector's box, then the box and roll of the first
     * mesh (closer to the crop the model was trained on); a tracked face
     * starts from the last frame's mesh already */
    const int passes = f < tracked ? 1 : 2;
    for (int pass = 0; pass < passes; pass++) {
      if ((st = vision_sample(mm, frame, win, 1.0f / 255, 0, 0, err, err_size)) ||
          (st = vision_model_run(mm, err, err_size)) ||
          (st = mesh_outputs(mm, &mesh, &score, err, err_size)))
        return st;
      if (pass + 1 < passes) win = window_from_mesh(win, mm, mesh);
    }
    if (score < min_score) continue;
    /* the same face found twice (a new detection of a tracked face) */
    vision_window nw = window_from_mesh(win, mm, mesh);
    int dup = 0;
    for (int t = 0; t < n_next && !dup; t++)
      dup = fabsf(fs->next[t].x0 - nw.x0) < nw.w / 4 && fabsf(fs->next[t].y0 - nw.y0) < nw.h / 4;
    if (dup) continue;
    if (n_next < MAX_TRACKS) fs->next[n_next++] = nw;
    vision_item *it = vision_store_add(&det->store, MESH_POINTS + (iris ? 2 * IRIS_POINTS : 0));
    if (!it) return vision_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
    vision_point *p = vision_store_points(&det->store, it);
    const float s = win.w / mm->width;
    float lx = 1e30f, ly = 1e30f, hx = -1e30f, hy = -1e30f;
    for (int k = 0; k < MESH_POINTS; k++) {
      vision_window_map(win, mm->width, mm->height, mesh[3 * k], mesh[3 * k + 1], &p[k].x, &p[k].y);
      p[k].z = mesh[3 * k + 2] * s;
      p[k].score = 1;
      lx = fminf(lx, p[k].x), hx = fmaxf(hx, p[k].x), ly = fminf(ly, p[k].y);
      hy = fmaxf(hy, p[k].y);
    }
    it->x0 = lx, it->y0 = ly, it->x1 = hx, it->y1 = hy;
    it->score = score;
    it->label = "face";
    it->has_pose = 1;
    head_pose(p, &it->yaw, &it->pitch, &it->roll);
    if (iris) {
      float g1x, g1y, g2x, g2y;
      /* the subject's right eye (corners 33, 133), then the left (263, 362), mirrored */
      if ((st = eye_iris(&det->models[2], frame, p, 33, 133, 0, p + MESH_POINTS, &g1x, &g1y, err,
                         err_size)) ||
          (st = eye_iris(&det->models[2], frame, p, 263, 362, 1, p + MESH_POINTS + IRIS_POINTS,
                         &g2x, &g2y, err, err_size)))
        return st;
      it->has_gaze = 1;
      it->gaze_x = (g1x + g2x) / 2;
      it->gaze_y = (g1y + g2y) / 2;
    }
  }
  if (track && !n_next && !detected) {
    /* every followed face was lost (a cut, a turn away): look again now */
    fs->n_tracks = 0;
    n = tracked = 0;
    if ((st = detect_windows(det, frame, wins, &n, err, err_size))) return st;
    fs->since_detect = 0;
    detected = 1;
    goto retry;
  }
  if (track) {
    memcpy(fs->tracks, fs->next, (size_t)n_next * sizeof *fs->next);
    fs->n_tracks = n_next;
  }
  return LEDGE_OK;
}

const vision_module vision_face_mesh_module = {mesh_create, mesh_run, face_destroy};
