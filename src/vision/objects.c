/* vision/objects.c: COCO object detection with CenterNet (MobileNetV3
 * CenterNet, 512x512).
 *
 * The frame is stretched to the model's square input as float pixel values
 * 0..255 (the model normalizes inside). The graph ends in its own top-100
 * decoding ('tower_0/detections': x0, y0, x1, y1 in input pixels, score,
 * class 0..79); we drop low scores, suppress overlaps class-agnostically and
 * map the boxes back to the frame.
 */
#include <math.h>
#include <stdlib.h>

#include "vision/vision_internal.h"

const char *const vision_coco_labels[80] = {"person",        "bicycle",      "car",
                                            "motorcycle",    "airplane",     "bus",
                                            "train",         "truck",        "boat",
                                            "traffic light", "fire hydrant", "stop sign",
                                            "parking meter", "bench",        "bird",
                                            "cat",           "dog",          "horse",
                                            "sheep",         "cow",          "elephant",
                                            "bear",          "zebra",        "giraffe",
                                            "backpack",      "umbrella",     "handbag",
                                            "tie",           "suitcase",     "frisbee",
                                            "skis",          "snowboard",    "sports ball",
                                            "kite",          "baseball bat", "baseball glove",
                                            "skateboard",    "surfboard",    "tennis racket",
                                            "bottle",        "wine glass",   "cup",
                                            "fork",          "knife",        "spoon",
                                            "bowl",          "banana",       "apple",
                                            "sandwich",      "orange",       "broccoli",
                                            "carrot",        "hot dog",      "pizza",
                                            "donut",         "cake",         "chair",
                                            "couch",         "potted plant", "bed",
                                            "dining table",  "toilet",       "tv",
                                            "laptop",        "mouse",        "remote",
                                            "keyboard",      "cell phone",   "microwave",
                                            "oven",          "toaster",      "sink",
                                            "refrigerator",  "book",         "clock",
                                            "vase",          "scissors",     "teddy bear",
                                            "hair drier",    "toothbrush"};

typedef struct objects_state {
  vision_box *boxes;
  int capacity;
} objects_state;

static ledge_status objects_create(vision_detector *det, char *err, size_t err_size) {
  vision_model *m = &det->models[0];
  ledge_status st = vision_model_open(m, det->options.task, 0, det->options.model,
                                      det->options.threads, err, err_size);
  if (st) return st;
  if (m->channels != 3)
    return vision_fail(err, err_size, LEDGE_ERR_UNSUPPORTED, "%s: expected an RGB input", m->path);
  if (ledge_session_output_index(m->session, "tower_0/detections") < 0)
    return vision_fail(
        err, err_size, LEDGE_ERR_UNSUPPORTED,
        "%s: no 'tower_0/detections' output (a CenterNet model as in human-models is expected)",
        m->path);
  objects_state *os = calloc(1, sizeof *os);
  if (!os) return vision_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  det->state = os;
  return LEDGE_OK;
}

static ledge_status objects_run(vision_detector *det, const media_image *frame, char *err,
                                size_t err_size) {
  vision_model *m = &det->models[0];
  objects_state *os = det->state;
  vision_window win = vision_window_stretch(frame);
  ledge_status st = vision_sample(m, frame, win, 1, 0, 0, err, err_size);
  if (st || (st = vision_model_run(m, err, err_size))) return st;
  int64_t n;
  const float *d = vision_model_output(m, "tower_0/detections", &n);
  if (!d || n % 6)
    return vision_fail(err, err_size, LEDGE_ERR_UNSUPPORTED, "%s: detections are not rows of 6",
                       m->path);
  int rows = (int)(n / 6);
  if (rows > os->capacity) {
    vision_box *b = realloc(os->boxes, (size_t)rows * sizeof *b);
    if (!b) return vision_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
    os->boxes = b;
    os->capacity = rows;
  }
  const float min_score = det->options.min_score > 0 ? det->options.min_score : 0.3f;
  int count = 0;
  for (int r = 0; r < rows; r++) {
    const float *q = d + r * 6;
    if (!(q[4] >= min_score) || !(q[5] >= 0 && q[5] < 80)) continue;
    vision_box *b = &os->boxes[count++];
    b->x0 = q[0], b->y0 = q[1], b->x1 = q[2], b->y1 = q[3], b->score = q[4], b->index = r;
  }
  const float iou = det->options.iou_threshold > 0 ? det->options.iou_threshold : 0.4f;
  int kept = vision_nms(os->boxes, count, iou,
                        det->options.max_results > 0 ? det->options.max_results : 20);
  const float sx = win.w / m->width, sy = win.h / m->height;
  for (int i = 0; i < kept; i++) {
    const vision_box *b = &os->boxes[i];
    vision_item *it = vision_store_add(&det->store, 0);
    if (!it) return vision_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
    it->x0 = fmaxf(0, win.x0 + b->x0 * sx), it->y0 = fmaxf(0, win.y0 + b->y0 * sy);
    it->x1 = fminf(frame->width, win.x0 + b->x1 * sx),
    it->y1 = fminf(frame->height, win.y0 + b->y1 * sy);
    it->score = b->score;
    it->class_id = (int)d[b->index * 6 + 5];
    it->label = vision_coco_labels[it->class_id];
  }
  return LEDGE_OK;
}

static void objects_destroy(vision_detector *det) {
  objects_state *os = det->state;
  if (os) free(os->boxes);
  free(os);
  det->state = NULL;
}

const vision_module vision_objects_module = {objects_create, objects_run, objects_destroy};
