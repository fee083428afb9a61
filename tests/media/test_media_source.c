/* test_media_source: frame sources on real clips and images, checked against
 * FFmpeg's own tools, and their errors.
 *
 * usage: test_media_source OPENCV_DATA_DIR SKIMAGE_DATA_DIR TMPDIR
 *
 * - Megamind.avi and vtest.avi (opencv-doc): the frame count and every
 *   frame's timestamp equal ffprobe's (best_effort_timestamp_time; ffprobe
 *   prints N/A for the last Megamind frame, which we place one frame period
 *   after the previous one); frame pixels compared with `ffmpeg -pix_fmt rgb24`
 *   are identical.
 * - A directory of images: sorted by name, non-images skipped, timestamps
 *   index / fps, a truncated JPEG in it a clear error at its frame.
 * - A text file, random bytes, an empty file, a missing file, a truncated
 *   clip, a closed loopback port, an unknown protocol; V4L2 paths that are not
 *   cameras (there is no camera, nor v4l2loopback, on the test machines). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "media/encode.h"
#include "media/source.h"

static const char *cv_dir, *sk_dir, *tmp_dir;

static void compare_with_ffmpeg(const char *path, int index, const media_image *ours, int max_tol, double mean_tol) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "ffmpeg -v error -i '%s' -vf 'select=eq(n\\,%d),scale=flags=bilinear+accurate_rnd,format=rgb24' "
           "-frames:v 1 -f rawvideo -pix_fmt rgb24 -", path, index);
  FILE *p = popen(cmd, "r");
  size_t bytes = (size_t)ours->width * ours->height * 3;
  uint8_t *raw = malloc(bytes + 1);
  size_t got = p && raw ? fread(raw, 1, bytes + 1, p) : 0;
  if (p) pclose(p);
  CHECK(ours->data && got == bytes);
  if (ours->data && got == bytes) {
    int worst = 0;
    double sum = 0;
    for (int y = 0; y < ours->height; y++)
      for (int x = 0; x < ours->width * 3; x++) {
        int e = abs(raw[(size_t)y * ours->width * 3 + x] - ours->data[y * ours->stride + x]);
        worst = e > worst ? e : worst;
        sum += e;
      }
    printf("  frame %d vs ffmpeg rgb24: max %d, mean %.4f\n", index, worst, sum / bytes);
    CHECK(worst <= max_tol && sum / bytes <= mean_tol);
  }
  free(raw);
}

static void check_video(const char *name, int frame_to_compare) {
  char path[1024], cmd[2048], err[512];
  snprintf(path, sizeof path, "%s/%s", cv_dir, name);
  printf("%s\n", name);
  /* ffprobe's timestamps, one per frame. */
  snprintf(cmd, sizeof cmd,
           "ffprobe -v error -select_streams v:0 -show_entries frame=best_effort_timestamp_time -of csv=p=0 '%s'", path);
  FILE *p = popen(cmd, "r");
  CHECK(p != NULL);
  if (!p) return;
  double *ref = NULL;
  int nref = 0, cap = 0;
  char line[128];
  while (fgets(line, sizeof line, p)) {
    if (nref == cap) ref = realloc(ref, sizeof *ref * (size_t)(cap = cap ? cap * 2 : 256));
    ref[nref++] = strncmp(line, "N/A", 3) ? atof(line) : NAN;
  }
  CHECK(pclose(p) == 0);

  media_source *src;
  CHECK_OK(media_source_open(path, NULL, &src, err, sizeof err));
  if (!src) {
    fprintf(stderr, "%s\n", err);
    free(ref);
    return;
  }
  media_source_info info;
  media_source_get_info(src, &info);
  printf("  %s %dx%d %.3f fps, %lld frames (container), ffprobe %d frames\n", info.format, info.width, info.height,
         info.fps, (long long)info.frame_count, nref);
  CHECK(info.kind == MEDIA_SOURCE_VIDEO && info.width > 0 && info.fps > 0);
  CHECK(info.frame_count == nref);
  int n = 0, bad_pts = 0, bad_size = 0;
  double prev = -1, max_err = 0;
  media_frame f;
  ledge_status st;
  media_image kept = {0}, first = {0};
  while (!(st = media_source_read(src, &f, err, sizeof err)) && !f.end) {
    if (f.image.width != info.width || f.image.height != info.height || f.image.channels != 3) bad_size++;
    if (!(f.pts > prev)) bad_pts++;
    if (n < nref) {
      double want = isnan(ref[n]) && n > 0 ? ref[n - 1] + 1.0 / info.fps : ref[n];
      double e = fabs(f.pts - want);
      if (e > max_err) max_err = e;
    }
    if (n == 0) {
      media_image_alloc(&first, f.image.width, f.image.height, 3, err, sizeof err);
      for (int y = 0; y < f.image.height; y++)
        memcpy(first.data + y * first.stride, f.image.data + y * f.image.stride, (size_t)f.image.width * 3);
    }
    if (n == frame_to_compare) {
      media_image_alloc(&kept, f.image.width, f.image.height, 3, err, sizeof err);
      for (int y = 0; y < f.image.height; y++)
        memcpy(kept.data + y * kept.stride, f.image.data + y * f.image.stride, (size_t)f.image.width * 3);
    }
    CHECK(f.index == n);
    prev = f.pts;
    n++;
  }
  CHECK(st == LEDGE_OK);
  printf("  read %d frames, max |pts - ffprobe| %.2g s\n", n, max_err);
  CHECK(n == nref);
  CHECK(bad_pts == 0 && bad_size == 0);
  CHECK(max_err < 1e-5);
  /* After the end: end again, no crash. */
  CHECK_OK(media_source_read(src, &f, err, sizeof err));
  CHECK(f.end);
  media_source_close(src);
  free(ref);

  /* Pixels: identical to ffmpeg's own decode and RGB conversion with the
   * same libswscale flags as ours (bilinear+accurate_rnd; ffmpeg's default,
   * bicubic without accurate rounding, differs by 0.6 levels on average). */
  compare_with_ffmpeg(path, 0, &first, 0, 0);
  compare_with_ffmpeg(path, frame_to_compare, &kept, 0, 0);
  media_image_free(&first);
  media_image_free(&kept);
}

static ledge_status open_err(const char *input, media_source_kind kind, char *err, size_t size) {
  media_source_options opt;
  memset(&opt, 0, sizeof opt);
  opt.kind = kind;
  opt.timeout_ms = 5000;
  media_source *src = NULL;
  ledge_status st = media_source_open(input, &opt, &src, err, size);
  printf("  %-40s -> %s: %s\n", input, ledge_status_name(st), st ? err : "(opened)");
  media_source_close(src);
  return st;
}

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (f) fwrite(data, 1, n, f), fclose(f);
}

static void copy_prefix(const char *from, const char *to, long n) {
  FILE *f = fopen(from, "rb");
  if (!f) return;
  char *buf = malloc((size_t)n);
  size_t got = fread(buf, 1, (size_t)n, f);
  fclose(f);
  write_bytes(to, buf, got);
  free(buf);
}

static void check_errors(void) {
  char err[512], path[1024], path2[1024];
  printf("errors\n");
  snprintf(path, sizeof path, "%s/notes.txt", tmp_dir);
  write_bytes(path, "this is not a video\n", 20);
  CHECK(open_err(path, MEDIA_SOURCE_AUTO, err, sizeof err) == LEDGE_ERR_FORMAT && strstr(err, "not a video"));
  snprintf(path, sizeof path, "%s/random.avi", tmp_dir);
  unsigned char junk[65536];
  unsigned x = 12345;
  for (size_t i = 0; i < sizeof junk; i++) x = x * 1103515245u + 12345u, junk[i] = (unsigned char)(x >> 16);
  write_bytes(path, junk, sizeof junk);
  CHECK(open_err(path, MEDIA_SOURCE_AUTO, err, sizeof err) == LEDGE_ERR_FORMAT && strstr(err, "not a video"));
  snprintf(path, sizeof path, "%s/empty.mp4", tmp_dir);
  write_bytes(path, "", 0);
  CHECK(open_err(path, MEDIA_SOURCE_AUTO, err, sizeof err) == LEDGE_ERR_FORMAT);
  snprintf(path, sizeof path, "%s/missing.avi", tmp_dir);
  CHECK(open_err(path, MEDIA_SOURCE_AUTO, err, sizeof err) == LEDGE_ERR_IO && strstr(err, "No such file"));
  CHECK(open_err("http://127.0.0.1:1/clip.avi", MEDIA_SOURCE_AUTO, err, sizeof err) == LEDGE_ERR_IO);
  CHECK(open_err("nosuchproto://clip", MEDIA_SOURCE_AUTO, err, sizeof err) == LEDGE_ERR_UNSUPPORTED);
  /* An audio-only file: a container without a video stream. */
  snprintf(path, sizeof path, "%s/tone.wav", tmp_dir);
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "ffmpeg -v error -y -f lavfi -i 'sine=frequency=440:duration=0.2' '%s'", path);
  if (system(cmd) == 0)
    CHECK(open_err(path, MEDIA_SOURCE_AUTO, err, sizeof err) == LEDGE_ERR_FORMAT && strstr(err, "without a video"));

  /* A truncated clip: the frames that are there, then the end; no crash. */
  snprintf(path, sizeof path, "%s/Megamind.avi", cv_dir);
  snprintf(path2, sizeof path2, "%s/truncated.avi", tmp_dir);
  copy_prefix(path, path2, 300000);
  media_source *src;
  CHECK_OK(media_source_open(path2, NULL, &src, err, sizeof err));
  if (src) {
    media_frame f;
    int n = 0;
    ledge_status st;
    while (!(st = media_source_read(src, &f, err, sizeof err)) && !f.end) n++;
    printf("  truncated clip: %d frames, then %s\n", n, st ? err : "end of stream");
    CHECK(n > 10 && n < 270);
    media_source_close(src);
  }

  /* Cameras: no device, not a device, not a V4L2 device. */
  CHECK(open_err("/dev/video99", MEDIA_SOURCE_AUTO, err, sizeof err) == LEDGE_ERR_IO && strstr(err, "no such camera"));
  CHECK(open_err("/dev/null", MEDIA_SOURCE_CAMERA, err, sizeof err) == LEDGE_ERR_IO && strstr(err, "not a V4L2"));
  snprintf(path, sizeof path, "%s/notes.txt", tmp_dir);
  CHECK(open_err(path, MEDIA_SOURCE_CAMERA, err, sizeof err) == LEDGE_ERR_IO && strstr(err, "not a V4L2"));

  /* Bad arguments. */
  CHECK(media_source_open(NULL, NULL, &src, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT);
  CHECK(media_source_open("", NULL, &src, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT);
  media_frame f;
  CHECK(media_source_read(NULL, &f, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT);
  media_source_close(NULL);
}

static void check_images(void) {
  char err[512], dir[1024], path[1200], from[1200];
  printf("image directory\n");
  snprintf(dir, sizeof dir, "%s/frames", tmp_dir);
  mkdir(dir, 0777);
  /* b_astronaut.png, a_messi.jpg, c_small.ppm (gray), notes.txt (skipped). */
  media_image img;
  snprintf(from, sizeof from, "%s/astronaut.png", sk_dir);
  CHECK_OK(media_image_read_file(from, &img, err, sizeof err));
  snprintf(path, sizeof path, "%s/b_astronaut.png", dir);
  CHECK_OK(media_image_write_file(path, &img, 90, err, sizeof err));
  media_image_free(&img);
  snprintf(from, sizeof from, "%s/messi5.jpg", cv_dir);
  snprintf(path, sizeof path, "%s/a_messi.jpg", dir);
  copy_prefix(from, path, 1 << 24);
  media_image gray;
  CHECK_OK(media_image_alloc(&gray, 8, 6, 1, err, sizeof err));
  gray.data[0] = 200;
  snprintf(path, sizeof path, "%s/c_small.pgm", dir);
  CHECK_OK(media_image_write_file(path, &gray, 90, err, sizeof err));
  media_image_free(&gray);
  snprintf(path, sizeof path, "%s/notes.txt", dir);
  write_bytes(path, "not an image", 12);

  media_source_options opt;
  memset(&opt, 0, sizeof opt);
  opt.fps = 4;
  media_source *src;
  CHECK_OK(media_source_open(dir, &opt, &src, err, sizeof err));
  if (src) {
    media_source_info info;
    media_source_get_info(src, &info);
    CHECK(info.kind == MEDIA_SOURCE_IMAGES && info.frame_count == 3);
    const char *names[3] = {"a_messi.jpg", "b_astronaut.png", "c_small.pgm"};
    const int widths[3] = {548, 512, 8};
    media_frame f;
    for (int i = 0; i < 3; i++) {
      CHECK_OK(media_source_read(src, &f, err, sizeof err));
      CHECK(!f.end && f.name && !strcmp(f.name, names[i]) && f.image.width == widths[i] && f.image.channels == 3);
      CHECK(fabs(f.pts - i * 0.25) < 1e-9 && f.index == i);
      printf("  %lld %s %dx%d pts %.2f\n", (long long)f.index, f.name, f.image.width, f.image.height, f.pts);
    }
    CHECK(f.image.data[0] == 200 && f.image.data[1] == 200 && f.image.data[2] == 200); /* gray -> RGB */
    CHECK_OK(media_source_read(src, &f, err, sizeof err));
    CHECK(f.end);
    media_source_close(src);
  }
  /* A truncated JPEG among them: a clear error at its frame. */
  snprintf(from, sizeof from, "%s/messi5.jpg", cv_dir);
  snprintf(path, sizeof path, "%s/d_truncated.jpg", dir);
  copy_prefix(from, path, 5000);
  CHECK_OK(media_source_open(dir, NULL, &src, err, sizeof err));
  if (src) {
    media_frame f;
    ledge_status st;
    int n = 0;
    while (!(st = media_source_read(src, &f, err, sizeof err)) && !f.end) n++;
    printf("  with a truncated JPEG: %d frames, then %s\n", n, err);
    CHECK(n == 3 && st == LEDGE_ERR_FORMAT && strstr(err, "d_truncated.jpg"));
    media_source_close(src);
  }
  /* One image file is a one-frame source; a truncated one fails at open. */
  snprintf(path, sizeof path, "%s/b_astronaut.png", dir);
  CHECK_OK(media_source_open(path, NULL, &src, err, sizeof err));
  if (src) {
    media_source_info info;
    media_source_get_info(src, &info);
    CHECK(info.frame_count == 1 && info.width == 512);
    media_source_close(src);
  }
  snprintf(path, sizeof path, "%s/d_truncated.jpg", dir);
  CHECK(open_err(path, MEDIA_SOURCE_AUTO, err, sizeof err) == LEDGE_ERR_FORMAT);
  snprintf(path, sizeof path, "%s/t.png", dir);
  snprintf(from, sizeof from, "%s/astronaut.png", sk_dir);
  copy_prefix(from, path, 20000);
  CHECK(open_err(path, MEDIA_SOURCE_AUTO, err, sizeof err) == LEDGE_ERR_FORMAT && strstr(err, "PNG"));
  /* An empty directory. */
  snprintf(path, sizeof path, "%s/empty", tmp_dir);
  mkdir(path, 0777);
  CHECK(open_err(path, MEDIA_SOURCE_AUTO, err, sizeof err) == LEDGE_ERR_FORMAT);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: test_media_source OPENCV_DATA SKIMAGE_DATA TMPDIR\n");
    return 2;
  }
  cv_dir = argv[1], sk_dir = argv[2], tmp_dir = argv[3];
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir); /* left over from an earlier run */
  if (system(cmd) != 0) return 1;
  mkdir(tmp_dir, 0777);
  check_video("Megamind.avi", 100);
  check_video("vtest.avi", 500);
  check_images();
  check_errors();
  return harness_finish("test_media_source");
}
