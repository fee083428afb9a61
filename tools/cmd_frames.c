/* cmd_frames.c: `ledge frames INPUT` lists (and optionally saves) the frames
 * of a source: a video file or stream, a V4L2 camera, a directory of images.
 * It is how a person checks that a source works. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "media/encode.h"
#include "media/source.h"

static void help(FILE *f) {
  fprintf(f,
          "usage: ledge frames INPUT [--every N] [--max N] [--out DIR] [--format jpg|png|ppm] [--json]\n"
          "                          [--kind video|camera|images] [--size WxH] [--fps F] [--timeout MS]\n"
          "Reads every frame of a source and lists them with their timestamps:\n"
          "  INPUT  a video file (avi, mp4, mkv, ...) or stream URL (rtsp://, http://, ...),\n"
          "         a V4L2 camera (/dev/videoN), or a directory of .jpg/.png/.ppm images\n\n"
          "  --every N      list (and save) every Nth frame only (default 1); all are decoded\n"
          "  --max N        stop after N frames have been read\n"
          "  --out DIR      save the listed frames as DIR/frame_000000.jpg, ... (DIR is created)\n"
          "  --format F     image format for --out: jpg (default), png or ppm\n"
          "  --json         print one JSON object instead of text\n"
          "  --kind K       force the source kind instead of guessing it from INPUT\n"
          "  --size WxH     camera capture size (default 640x480)\n"
          "  --fps F        camera frame rate to request; for images, the rate for timestamps\n"
          "  --timeout MS   give up when a stream or camera sends nothing for MS ms (default 10000)\n");
}

int cmd_frames(int argc, char **argv) {
  const char *input = NULL, *out_dir = NULL, *format = "jpg", *value;
  long every = 1, max = -1, timeout = 0;
  bool json = false;
  media_source_options opt;
  memset(&opt, 0, sizeof opt);
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      help(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--json")) {
      json = true;
    } else if (cli_option(argc, argv, &i, "--every", &value)) {
      if (!cli_parse_int("--every", value, 1, 1000000000, &every)) return 2;
    } else if (cli_option(argc, argv, &i, "--max", &value)) {
      if (!cli_parse_int("--max", value, 0, 1000000000000L, &max)) return 2;
    } else if (cli_option(argc, argv, &i, "--timeout", &value)) {
      if (!cli_parse_int("--timeout", value, 1, 3600000, &timeout)) return 2;
      opt.timeout_ms = (int)timeout;
    } else if (cli_option(argc, argv, &i, "--out", &value)) {
      out_dir = value;
    } else if (cli_option(argc, argv, &i, "--format", &value)) {
      if (strcmp(value, "jpg") && strcmp(value, "png") && strcmp(value, "ppm"))
        return cli_fail("frames: --format must be jpg, png or ppm, not '%s'", value), 2;
      format = value;
    } else if (cli_option(argc, argv, &i, "--kind", &value)) {
      if (!strcmp(value, "video")) opt.kind = MEDIA_SOURCE_VIDEO;
      else if (!strcmp(value, "camera")) opt.kind = MEDIA_SOURCE_CAMERA;
      else if (!strcmp(value, "images")) opt.kind = MEDIA_SOURCE_IMAGES;
      else return cli_fail("frames: --kind must be video, camera or images, not '%s'", value), 2;
    } else if (cli_option(argc, argv, &i, "--size", &value)) {
      int w, h;
      char end;
      if (sscanf(value, "%dx%d%c", &w, &h, &end) != 2 || w <= 0 || h <= 0 || w > 8192 || h > 8192)
        return cli_fail("frames: --size must be WIDTHxHEIGHT, e.g. 640x480, not '%s'", value), 2;
      opt.width = w, opt.height = h;
    } else if (cli_option(argc, argv, &i, "--fps", &value)) {
      char *end;
      double fps = strtod(value, &end);
      if (*end || !(fps > 0 && fps <= 1000))
        return cli_fail("frames: --fps must be a number from 0 to 1000, not '%s'", value), 2;
      opt.fps = fps;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      return cli_fail("frames: unknown option '%s' (see ledge frames --help)", argv[i]), 2;
    } else if (!input) {
      input = argv[i];
    } else {
      return cli_fail("frames: unexpected argument '%s' (see ledge frames --help)", argv[i]), 2;
    }
  }
  if (!input) {
    help(stderr);
    return 2;
  }
  if (out_dir && mkdir(out_dir, 0777) && errno != EEXIST) return cli_fail("%s: %s", out_dir, strerror(errno));

  char err[512];
  media_source *src;
  if (media_source_open(input, &opt, &src, err, sizeof err)) return cli_fail("%s", err);
  media_source_info info;
  media_source_get_info(src, &info);
  FILE *o = stdout;
  if (json) {
    fprintf(o, "{\"input\": ");
    cli_json_string(o, input);
    fprintf(o, ", \"kind\": \"%s\", \"format\": ", media_source_kind_name(info.kind));
    cli_json_string(o, info.format);
    fprintf(o, ", \"width\": %d, \"height\": %d, \"fps\": %.6g, \"frame_count\": %lld, \"duration\": %.6g,\n \"frames\": [",
            info.width, info.height, info.fps, (long long)info.frame_count, info.duration);
  } else {
    fprintf(o, "%s: %s (%s)", input, media_source_kind_name(info.kind), info.format);
    if (info.width) fprintf(o, ", %dx%d", info.width, info.height);
    if (info.fps > 0) fprintf(o, ", %.3f fps", info.fps);
    if (info.frame_count >= 0) fprintf(o, ", %lld frames", (long long)info.frame_count);
    if (info.duration >= 0) fprintf(o, ", %.3f s", info.duration);
    fprintf(o, "\n");
  }
  double t0 = cli_now(), last_pts = 0;
  long listed = 0;
  int64_t count = 0;
  int rc = 0;
  for (;;) {
    if (max >= 0 && count >= max) break;
    media_frame f;
    if (media_source_read(src, &f, err, sizeof err)) {
      if (json) fprintf(o, "]}\n");
      fflush(o);
      rc = cli_fail("%s", err);
      break;
    }
    if (f.end) break;
    count++;
    last_pts = f.pts;
    if (info.frame_count > 0) cli_progress("frames", (long)count, (long)info.frame_count);
    if (f.index % every) continue;
    char path[4096] = "";
    if (out_dir) {
      snprintf(path, sizeof path, "%s/frame_%06lld.%s", out_dir, (long long)f.index, format);
      if (media_image_write_file(path, &f.image, 90, err, sizeof err)) {
        if (json) fprintf(o, "]}\n");
        rc = cli_fail("%s", err);
        break;
      }
    }
    if (json) {
      fprintf(o, "%s\n  {\"index\": %lld, \"pts\": %.6f, \"width\": %d, \"height\": %d", listed ? "," : "",
              (long long)f.index, f.pts, f.image.width, f.image.height);
      if (f.name) fprintf(o, ", \"name\": "), cli_json_string(o, f.name);
      if (*path) fprintf(o, ", \"file\": "), cli_json_string(o, path);
      fprintf(o, "}");
    } else {
      fprintf(o, "frame %6lld  pts %10.6f  %dx%d", (long long)f.index, f.pts, f.image.width, f.image.height);
      if (f.name) fprintf(o, "  %s", f.name);
      if (*path) fprintf(o, "  -> %s", path);
      fprintf(o, "\n");
    }
    listed++;
  }
  if (!rc) {
    double secs = cli_now() - t0;
    double rate = secs > 0 ? count / secs : 0;
    if (json)
      fprintf(o, "],\n \"count\": %lld, \"last_pts\": %.6f, \"decode_fps\": %.1f}\n", (long long)count, last_pts, rate);
    else
      fprintf(o, "%lld frames, last pts %.6f s, read at %.1f frames/s\n", (long long)count, last_pts, rate);
  }
  media_source_close(src);
  return rc;
}
