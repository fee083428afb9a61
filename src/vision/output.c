/* vision/output.c: results as pictures (vision_draw) and as JSON, and the
 * names of keypoints. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "media/draw.h"
#include "vision/vision.h"

static const char *const pose_names[17] = {
    "nose",           "left_eye",   "right_eye",   "left_ear",   "right_ear",   "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip",      "left_knee",  "right_knee",  "left_ankle", "right_ankle"};
static const char *const face_names[6] = {"right_eye", "left_eye",  "nose",
                                          "mouth",     "right_ear", "left_ear"};
static const char *const hand_names[21] = {
    "wrist",     "thumb_cmc", "thumb_mcp",  "thumb_ip",   "thumb_tip",  "index_mcp",  "index_pip",
    "index_dip", "index_tip", "middle_mcp", "middle_pip", "middle_dip", "middle_tip", "ring_mcp",
    "ring_pip",  "ring_dip",  "ring_tip",   "pinky_mcp",  "pinky_pip",  "pinky_dip",  "pinky_tip"};

const char *vision_point_name(vision_task task, int index) {
  if (index < 0) return NULL;
  switch (task) {
    case VISION_TASK_POSE: return index < 17 ? pose_names[index] : NULL;
    case VISION_TASK_FACE: return index < 6 ? face_names[index] : NULL;
    case VISION_TASK_HANDS: return index < 21 ? hand_names[index] : NULL;
    case VISION_TASK_IRIS:
      if (index >= 468 && index < 478) return index < 473 ? "right_iris" : "left_iris";
      return NULL;
    default: return NULL;
  }
}

/* Skeleton edges. */
static const int pose_edges[][2] = {{0, 1},   {0, 2},   {1, 3},   {2, 4},  {5, 6},  {5, 7},
                                    {7, 9},   {6, 8},   {8, 10},  {5, 11}, {6, 12}, {11, 12},
                                    {11, 13}, {13, 15}, {12, 14}, {14, 16}};
static const int hand_edges[][2] = {{0, 1},   {1, 2},   {2, 3},   {3, 4},   {0, 5},   {5, 6},
                                    {6, 7},   {7, 8},   {5, 9},   {9, 10},  {10, 11}, {11, 12},
                                    {9, 13},  {13, 14}, {14, 15}, {15, 16}, {13, 17}, {0, 17},
                                    {17, 18}, {18, 19}, {19, 20}};

static const media_color green = {40, 220, 60}, yellow = {255, 220, 0}, red = {255, 40, 40},
                         cyan = {0, 220, 255}, black = {0, 0, 0}, white = {255, 255, 255};

static int lround_i(float v) { return (int)lrintf(fmaxf(-1e6f, fminf(1e6f, v))); }

void vision_draw(const vision_result *r, media_image *img) {
  if (!r || !img || !img->data) return;
  const int big = img->width > 1200 ? 3 : img->width > 500 ? 2 : 1;
  if (r->task == VISION_TASK_CLASSIFY) {
    int y = 4 * big;
    for (int i = 0; i < r->count; i++) {
      char text[160];
      snprintf(text, sizeof text, "%s %.2f", r->items[i].label ? r->items[i].label : "?",
               r->items[i].score);
      media_draw_label(img, 4 * big, y + 9 * big + 2, text, i ? white : black, i ? black : yellow,
                       big);
      y += 10 * big + 2;
    }
    return;
  }
  for (int i = 0; i < r->count; i++) {
    const vision_item *it = &r->items[i];
    const vision_point *p = it->points;
    media_color box = r->task == VISION_TASK_OBJECTS ? yellow : green;
    int thick = big;
    if (r->task != VISION_TASK_FACE_MESH && r->task != VISION_TASK_IRIS)
      media_draw_rect(img, lround_i(it->x0), lround_i(it->y0), lround_i(it->x1), lround_i(it->y1),
                      box, thick);
    switch (r->task) {
      case VISION_TASK_POSE:
        for (size_t e = 0; e < sizeof pose_edges / sizeof *pose_edges; e++) {
          const vision_point *a = &p[pose_edges[e][0]], *b = &p[pose_edges[e][1]];
          if (a->score >= 0.3f && b->score >= 0.3f)
            media_draw_line(img, lround_i(a->x), lround_i(a->y), lround_i(b->x), lround_i(b->y),
                            cyan, big);
        }
        for (int k = 0; k < it->point_count; k++)
          if (p[k].score >= 0.3f)
            media_draw_point(img, lround_i(p[k].x), lround_i(p[k].y), 2 * big, red);
        break;
      case VISION_TASK_HANDS:
        for (size_t e = 0; e < sizeof hand_edges / sizeof *hand_edges; e++) {
          const vision_point *a = &p[hand_edges[e][0]], *b = &p[hand_edges[e][1]];
          media_draw_line(img, lround_i(a->x), lround_i(a->y), lround_i(b->x), lround_i(b->y), cyan,
                          big);
        }
        for (int k = 0; k < it->point_count; k++)
          media_draw_point(img, lround_i(p[k].x), lround_i(p[k].y), big + 1, red);
        break;
      case VISION_TASK_FACE:
        for (int k = 0; k < it->point_count; k++)
          media_draw_point(img, lround_i(p[k].x), lround_i(p[k].y), big + 1, red);
        break;
      default:
        for (int k = 0; k < it->point_count && k < 468; k++)
          media_draw_point(img, lround_i(p[k].x), lround_i(p[k].y), big > 1 ? 1 : 0, green);
        for (int k = 468; k < it->point_count; k++)
          media_draw_point(img, lround_i(p[k].x), lround_i(p[k].y), big, red);
        break;
    }
    char text[200];
    int n = snprintf(text, sizeof text, "%s %.2f", it->label ? it->label : "", it->score);
    if (it->has_pose && n > 0 && n < (int)sizeof text)
      n += snprintf(text + n, sizeof text - (size_t)n, " yaw %.0f pitch %.0f roll %.0f", it->yaw,
                    it->pitch, it->roll);
    if (it->has_gaze && n > 0 && n < (int)sizeof text)
      snprintf(text + n, sizeof text - (size_t)n, " gaze %.2f %.2f", it->gaze_x, it->gaze_y);
    /* keep the label inside the picture: shift it left where it would run off */
    int tw, th, lx = lround_i(it->x0);
    media_text_size(text, big, &tw, &th);
    if (lx + tw + 4 * big > img->width) lx = img->width - tw - 4 * big;
    media_draw_label(img, lx < 0 ? 0 : lx, lround_i(it->y0), text, black, box, big);
  }
}

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

/* Numbers with 2 decimals (pixels) or 4 (scores); JSON has no NaN. */
static void num(FILE *f, float v, int decimals) {
  if (!isfinite(v)) v = 0;
  fprintf(f, "%.*f", decimals, v);
}

void vision_result_write_json(FILE *f, const vision_result *r, const char *extra) {
  fputc('{', f);
  if (extra && *extra) fprintf(f, "%s,", extra);
  fprintf(f, "\"task\":");
  json_string(f, vision_task_name(r->task));
  fprintf(f, ",\"width\":%d,\"height\":%d,\"items\":[", r->frame_width, r->frame_height);
  for (int i = 0; i < r->count; i++) {
    const vision_item *it = &r->items[i];
    if (i) fputc(',', f);
    fprintf(f, "{\"box\":[");
    num(f, it->x0, 2), fputc(',', f), num(f, it->y0, 2), fputc(',', f);
    num(f, it->x1, 2), fputc(',', f), num(f, it->y1, 2);
    fprintf(f, "],\"score\":");
    num(f, it->score, 4);
    if (it->label) fprintf(f, ",\"label\":"), json_string(f, it->label);
    if (it->class_id >= 0) fprintf(f, ",\"class\":%d", it->class_id);
    if (it->point_count) {
      fprintf(f, ",\"points\":[");
      for (int k = 0; k < it->point_count; k++) {
        const vision_point *p = &it->points[k];
        fprintf(f, "%s[", k ? "," : "");
        num(f, p->x, 2), fputc(',', f), num(f, p->y, 2), fputc(',', f), num(f, p->z, 2),
            fputc(',', f);
        num(f, p->score, 4);
        fputc(']', f);
      }
      fputc(']', f);
      if (vision_point_name(r->task, 0)) {
        fprintf(f, ",\"point_names\":[");
        for (int k = 0; k < it->point_count; k++) {
          if (k) fputc(',', f);
          json_string(f, vision_point_name(r->task, k) ? vision_point_name(r->task, k) : "");
        }
        fputc(']', f);
      }
    }
    if (it->has_pose) {
      fprintf(f, ",\"pose\":{\"yaw\":");
      num(f, it->yaw, 2);
      fprintf(f, ",\"pitch\":");
      num(f, it->pitch, 2);
      fprintf(f, ",\"roll\":");
      num(f, it->roll, 2);
      fputc('}', f);
    }
    if (it->has_gaze) {
      fprintf(f, ",\"gaze\":{\"x\":");
      num(f, it->gaze_x, 3);
      fprintf(f, ",\"y\":");
      num(f, it->gaze_y, 3);
      fputc('}', f);
    }
    fputc('}', f);
  }
  fprintf(f, "]}");
}
