/* test_vision_api.c: the C API of src/vision at its edges: options out of
 * range, missing and unfit models, frames that are not RGB or are tiny or
 * extreme, results that survive until the next run, and the JSON writer
 * (parsed back with cJSON). Real models and a real picture (skimage's
 * astronaut.png), so that every edge runs through real inference.
 *
 * Usage: test_vision_api SKIMAGE_DATA_DIR WORK_DIR */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "media/encode.h"
#include "vision/vision.h"

static int failures;
#define CHECK(cond, ...) \
  do {                   \
    if (cond) {          \
      printf("ok   ");   \
    } else {             \
      printf("FAIL ");   \
      failures++;        \
    }                    \
    printf(__VA_ARGS__); \
    printf("\n");        \
  } while (0)

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: test_vision_api SKIMAGE_DATA_DIR WORK_DIR\n");
    return 2;
  }
  char path[1024], err[1024];
  snprintf(path, sizeof path, "%s/astronaut.png", argv[1]);
  media_image img;
  if (media_image_read_file(path, &img, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }

  /* task names */
  for (int t = 0; t < VISION_TASK_COUNT; t++) {
    vision_task back;
    CHECK(vision_task_parse(vision_task_name((vision_task)t), &back) && back == (vision_task)t,
          "task %s parses back", vision_task_name((vision_task)t));
  }
  vision_task dummy;
  CHECK(!vision_task_parse("gaze", &dummy) && !vision_task_parse(NULL, &dummy),
        "unknown task names are refused");

  /* options out of range */
  vision_options o;
  vision_detector *det = NULL;
  vision_options_init(&o, VISION_TASK_FACE);
  o.min_score = 1.5f;
  CHECK(vision_detector_create(&o, &det, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT && !det &&
            *err,
        "min_score 1.5 is refused: %s", err);
  vision_options_init(&o, VISION_TASK_FACE);
  o.threads = -1;
  CHECK(vision_detector_create(&o, &det, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT && !det,
        "threads -1 is refused");
  vision_options_init(&o, (vision_task)42);
  CHECK(vision_detector_create(&o, &det, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT && !det,
        "task 42 is refused: %s", err);

  /* missing and unfit models */
  vision_options_init(&o, VISION_TASK_FACE);
  snprintf(path, sizeof path, "%s/no-such-model.json", argv[2]);
  o.model = path;
  ledge_status st = vision_detector_create(&o, &det, err, sizeof err);
  CHECK(st != LEDGE_OK && !det && strstr(err, "no-such-model.json"),
        "a missing model names the file: %s", err);
  char fm[1024];
  CHECK(vision_default_model(VISION_TASK_POSE, 0, fm, sizeof fm), "pose has a default model: %s",
        fm);
  char mesh_model[1024];
  vision_default_model(VISION_TASK_FACE_MESH, 0, mesh_model, sizeof mesh_model);
  o.model = mesh_model; /* facemesh is no face detector */
  st = vision_detector_create(&o, &det, err, sizeof err);
  if (st == LEDGE_OK) {
    vision_result r;
    st = vision_detector_run(det, &img, &r, err, sizeof err);
    vision_detector_destroy(det);
    det = NULL;
  }
  CHECK(st == LEDGE_ERR_UNSUPPORTED,
        "a FaceMesh model given as the face detector fails clearly: %s", err);
  CHECK(!vision_default_model(VISION_TASK_FACE, 2, fm, sizeof fm), "face has no iris model: %s",
        fm);

  /* the default face detector on edge frames */
  vision_options_init(&o, VISION_TASK_FACE);
  CHECK(vision_detector_create(&o, &det, err, sizeof err) == LEDGE_OK && det,
        "face detector created");
  if (!det) return 1;
  CHECK(strstr(vision_detector_model_path(det, 0), "blazeface-back.json") != NULL,
        "default model %s", vision_detector_model_path(det, 0));
  vision_result r;
  media_image gray = {0};
  if (media_image_alloc(&gray, 64, 64, 1, err, sizeof err) == LEDGE_OK) {
    CHECK(vision_detector_run(det, &gray, &r, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT &&
              r.count == 0,
          "a gray frame is refused: %s", err);
    media_image_free(&gray);
  }
  media_image empty = {0};
  CHECK(vision_detector_run(det, &empty, &r, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT,
        "an empty frame is refused");
  const int sizes[][2] = {{1, 1}, {4000, 3}, {3, 4000}, {17, 9}};
  for (int i = 0; i < 4; i++) {
    media_image tiny = {0};
    if (media_image_alloc(&tiny, sizes[i][0], sizes[i][1], 3, err, sizeof err)) continue;
    memset(tiny.data, 128, tiny.stride * (size_t)tiny.height);
    st = vision_detector_run(det, &tiny, &r, err, sizeof err);
    CHECK(st == LEDGE_OK && r.count == 0 && r.frame_width == sizes[i][0],
          "a flat %dx%d frame: no face", sizes[i][0], sizes[i][1]);
    media_image_free(&tiny);
  }

  /* the real picture: one face, and the result stays valid until the next run */
  CHECK(vision_detector_run(det, &img, &r, err, sizeof err) == LEDGE_OK && r.count == 1,
        "astronaut: one face");
  if (r.count == 1) {
    const vision_item *f = &r.items[0];
    CHECK(
        f->point_count == 6 && f->points && f->x0 > 150 && f->x1 < 300 && f->y0 > 50 && f->y1 < 200,
        "face box %.0f,%.0f..%.0f,%.0f with 6 keypoints", f->x0, f->y0, f->x1, f->y1);
    CHECK(!strcmp(vision_point_name(VISION_TASK_FACE, 2), "nose") &&
              f->points[2].x > f->points[0].x && f->points[2].x < f->points[1].x,
          "the nose lies between the eyes");
    /* JSON, parsed back */
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    vision_result_write_json(mem, &r, "\"frame\":7");
    fclose(mem);
    cJSON *j = cJSON_Parse(buf);
    const cJSON *items = cJSON_GetObjectItem(j, "items");
    const cJSON *first = cJSON_GetArrayItem(items, 0);
    const cJSON *box = cJSON_GetObjectItem(first, "box"),
                *pts = cJSON_GetObjectItem(first, "points");
    CHECK(j && cJSON_GetObjectItem(j, "frame") && cJSON_GetObjectItem(j, "frame")->valueint == 7 &&
              !strcmp(cJSON_GetObjectItem(j, "task")->valuestring, "face") &&
              cJSON_GetArraySize(items) == 1 && cJSON_GetArraySize(box) == 4 &&
              cJSON_GetArraySize(pts) == 6 &&
              fabs(cJSON_GetArrayItem(box, 0)->valuedouble - f->x0) < 0.01,
          "the JSON parses and says the same (%zu bytes)", len);
    cJSON_Delete(j);
    free(buf);
    /* drawing changes pixels on the face only */
    media_image copy = {0};
    if (media_image_alloc(&copy, img.width, img.height, 3, err, sizeof err) == LEDGE_OK) {
      for (int y = 0; y < img.height; y++)
        memcpy(copy.data + y * copy.stride, img.data + y * img.stride, (size_t)img.width * 3);
      vision_draw(&r, &copy);
      long changed = 0, far = 0;
      for (int y = 0; y < img.height; y++)
        for (int x = 0; x < img.width; x++)
          if (memcmp(copy.data + y * copy.stride + x * 3, img.data + y * img.stride + x * 3, 3)) {
            changed++;
            far += x < 140 || x > 320 || y > 210;
          }
      CHECK(changed > 200 && far == 0, "vision_draw changed %ld pixels, none far from the face",
            changed);
      media_image_free(&copy);
    }
  }
  vision_detector_destroy(det);
  vision_detector_destroy(NULL);

  /* every task on the same picture, twice (the second run reuses the sessions) */
  for (int t = 0; t < VISION_TASK_COUNT; t++) {
    vision_options_init(&o, (vision_task)t);
    det = NULL;
    if (vision_detector_create(&o, &det, err, sizeof err)) {
      CHECK(0, "%s: %s", vision_task_name((vision_task)t), err);
      continue;
    }
    int counts[2] = {-1, -1};
    float x0[2] = {0, 0};
    for (int k = 0; k < 2; k++)
      if (vision_detector_run(det, &img, &r, err, sizeof err) == LEDGE_OK) {
        counts[k] = r.count;
        x0[k] = r.count ? r.items[0].x0 : 0;
      }
    /* no bare hand in this picture: hands may find none */
    const int least = t == VISION_TASK_HANDS ? 0 : 1;
    CHECK(counts[0] >= least && counts[0] == counts[1] && x0[0] == x0[1],
          "%s: %d item(s), the same on a second run", vision_task_name((vision_task)t), counts[0]);
    vision_detector_destroy(det);
  }
  media_image_free(&img);
  printf(failures ? "%d check(s) failed\n" : "all checks passed\n", failures);
  return failures ? 1 : 0;
}
