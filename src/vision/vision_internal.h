/* vision_internal.h: what the task modules share (not part of the API). */
#ifndef LEDGE_VISION_INTERNAL_H
#define LEDGE_VISION_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "vision/vision.h"

/* Writes a printf-style message into err (if given) and returns st. */
ledge_status vision_fail(char *err, size_t err_size, ledge_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A loaded model with one planned session and its NHWC input. */
typedef struct vision_model {
  char *path;
  ledge_model *model;
  ledge_session *session;
  ledge_tensor *input;
  ledge_dtype input_dtype;
  int height, width, channels; /* of the input, NHWC batch 1 */
} vision_model;

/* Loads path (a model file or NULL for the task's default of `role`) and
 * plans it with a fixed batch of 1. */
ledge_status vision_model_open(vision_model *m, vision_task task, int role, const char *path,
                               int threads, char *err, size_t err_size);
void vision_model_close(vision_model *m);
/* Runs on the input tensor (filled by the caller). */
ledge_status vision_model_run(vision_model *m, char *err, size_t err_size);
/* The output with this name (NULL if none), its element count in *count. */
const float *vision_model_output(const vision_model *m, const char *name, int64_t *count);
/* Output index i's data, count and last dimension. */
const float *vision_model_output_at(const vision_model *m, int index, int64_t *count,
                                    int64_t *last_dim);

/* A square or rectangular window of the frame, in frame pixels: the model's
 * input pixel (u, v) (0..in_w, 0..in_h, edges) is frame point
 * (x0 + u * w / in_w, y0 + v * h / in_h). Used for letterboxes (a window
 * larger than the frame, centered) and crops alike. */
typedef struct vision_window {
  float x0, y0, w, h;
  float angle; /* radians: the window turned about its center (hands); 0 elsewhere */
} vision_window;

/* Frame point of the model's input point (u, v) for a model of in_w x in_h. */
void vision_window_map(vision_window win, int in_w, int in_h, float u, float v, float *x, float *y);

/* Samples the window bilinearly at the model's pixel centers into m->input
 * (float32 or int32, NHWC, 1 or 3 channels: gray is BT.601 luma), as
 * value = pixel * scale + offset; pixels outside the frame are 0 (black)
 * before scaling. flip mirrors left-right. */
ledge_status vision_sample(vision_model *m, const media_image *frame, vision_window win,
                           float scale, float offset, int flip, char *err, size_t err_size);
/* The whole frame, centered in a square window (letterbox) or stretched. */
vision_window vision_window_letterbox(const media_image *frame);
vision_window vision_window_stretch(const media_image *frame);
/* A square window centered at (cx, cy) with side `side`. */
vision_window vision_window_square(float cx, float cy, float side);

/* Candidate boxes for non-maximum suppression. */
typedef struct vision_box {
  float x0, y0, x1, y1, score;
  int index; /* caller's: which anchor or row it came from */
} vision_box;

/* Sorts boxes by score (best first) and keeps those that overlap no better
 * kept box by more than iou; at most max_keep. Returns the number kept (at
 * the start of boxes). */
int vision_nms(vision_box *boxes, int count, float iou, int max_keep);
float vision_iou(const vision_box *a, const vision_box *b);

static inline float vision_sigmoid(float x) { return 1.0f / (1.0f + __builtin_expf(-x)); }

/* The result arrays a detector owns, grown as needed. */
typedef struct vision_store {
  vision_item *items;
  int item_cap;
  vision_point *points;
  int point_cap;
  int point_used;
  int count;
} vision_store;

void vision_store_reset(vision_store *s);
/* Appends an item with room for n points (zeroed); NULL when out of memory. */
vision_item *vision_store_add(vision_store *s, int n_points);
/* The points of an item added since the last finish (the array may move). */
vision_point *vision_store_points(vision_store *s, vision_item *it);
void vision_store_free(vision_store *s);
/* Fixes the items' point pointers after growth and sorts by score. */
void vision_store_finish(vision_store *s, vision_result *out, vision_task task,
                         const media_image *frame);

/* The task modules: each keeps its state in `state`. */
typedef struct vision_module {
  ledge_status (*create)(vision_detector *det, char *err, size_t err_size);
  ledge_status (*run)(vision_detector *det, const media_image *frame, char *err, size_t err_size);
  void (*destroy)(vision_detector *det);
} vision_module;

struct vision_detector {
  vision_options options;
  vision_model models[3]; /* by role: main, detector, iris */
  vision_store store;
  void *state;
  char **labels;
  int label_count;
};

extern const vision_module vision_face_module, vision_face_mesh_module, vision_hands_module,
    vision_pose_module, vision_objects_module, vision_classify_module;

/* Face detection (BlazeFace) into the store: boxes in frame pixels with 6
 * keypoints. Shared by face, face-mesh and iris. */
ledge_status vision_face_detect(vision_detector *det, vision_model *m, const media_image *frame,
                                char *err, size_t err_size);

/* COCO's 80 class names (objects). */
extern const char *const vision_coco_labels[80];

#endif
