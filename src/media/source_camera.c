/* media/source_camera.c: V4L2 cameras (/dev/videoN) with mmap streaming,
 * MJPEG (decoded with libjpeg-turbo) or YUYV (converted here). See source.h.
 *
 * Format choice: YUYV up to 640x480 (no decode cost), MJPEG above it (USB
 * bandwidth makes raw YUYV slow at large sizes), whichever of the two the
 * camera has otherwise. A few damaged MJPEG frames in a row are skipped
 * (cameras often send some while starting); more is an error. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/videodev2.h>

#include "media/source_internal.h"
#include "media/transform.h"

#define NUM_BUFFERS 4
#define MAX_BAD_FRAMES 8

typedef struct {
  int fd;
  uint32_t pixfmt;
  int width, height;
  uint32_t bytesperline;
  void *map[NUM_BUFFERS];
  size_t map_len[NUM_BUFFERS];
  int nbuf;
  int streaming;
  int have_t0;
  double t0;
  media_image current;
  char input[256];
} camera_state;

static int xioctl(int fd, unsigned long req, void *arg) {
  int r;
  do r = ioctl(fd, req, arg);
  while (r == -1 && errno == EINTR);
  return r;
}

static void fourcc(uint32_t f, char out[5]) {
  for (int i = 0; i < 4; i++) {
    char c = (char)((f >> (8 * i)) & 0xFF);
    out[i] = c >= 32 && c < 127 ? c : '?';
  }
  out[4] = 0;
}

static void camera_close(media_source *src) {
  camera_state *s = src->impl;
  if (!s) return;
  if (s->streaming) {
    enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    xioctl(s->fd, VIDIOC_STREAMOFF, &type);
  }
  for (int i = 0; i < s->nbuf; i++)
    if (s->map[i] && s->map[i] != MAP_FAILED) munmap(s->map[i], s->map_len[i]);
  if (s->fd >= 0) close(s->fd);
  media_image_free(&s->current);
  free(s);
  src->impl = NULL;
}

static ledge_status camera_read(media_source *src, media_frame *out, char *err, size_t err_size) {
  camera_state *s = src->impl;
  for (int bad = 0;;) {
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    int r;
    do r = poll(&p, 1, src->options.timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r == 0)
      return media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: no frame within %d ms", s->input,
                               src->options.timeout_ms);
    if (r < 0) return media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: poll: %s", s->input, strerror(errno));
    struct v4l2_buffer buf;
    memset(&buf, 0, sizeof buf);
    buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    buf.memory = V4L2_MEMORY_MMAP;
    if (xioctl(s->fd, VIDIOC_DQBUF, &buf)) {
      if (errno == EAGAIN) continue;
      if (errno == ENODEV) return media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: camera disconnected", s->input);
      return media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: VIDIOC_DQBUF: %s", s->input, strerror(errno));
    }
    if (buf.index >= (unsigned)s->nbuf) return media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: bad buffer", s->input);
    const uint8_t *data = s->map[buf.index];
    size_t used = buf.bytesused <= s->map_len[buf.index] ? buf.bytesused : s->map_len[buf.index];
    media_image_free(&s->current);
    ledge_status st;
    char msg[200];
    if (s->pixfmt == V4L2_PIX_FMT_YUYV) {
      if (used < (size_t)s->bytesperline * s->height)
        st = media_source_fail(msg, sizeof msg, LEDGE_ERR_FORMAT, "short YUYV frame (%zu bytes)", used);
      else
        st = media_yuyv_to_rgb(data, s->bytesperline, s->width, s->height, &s->current, msg, sizeof msg);
    } else {
      st = media_image_decode(data, used, &s->current, msg, sizeof msg);
    }
    double t = buf.timestamp.tv_sec + buf.timestamp.tv_usec * 1e-6;
    xioctl(s->fd, VIDIOC_QBUF, &buf);
    if (st) {
      if (st == LEDGE_ERR_FORMAT && ++bad <= MAX_BAD_FRAMES) continue;
      return media_source_fail(err, err_size, st, "%s: %s", s->input, msg);
    }
    if (!s->have_t0) s->t0 = t, s->have_t0 = 1;
    out->image = s->current;
    out->pts = t - s->t0;
    return LEDGE_OK;
  }
}

static const media_source_ops camera_ops = {camera_read, camera_close};

ledge_status media_source_open_camera(media_source *src, const char *input, char *err, size_t err_size) {
  camera_state *s = calloc(1, sizeof *s);
  if (!s) return media_source_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  s->fd = -1;
  src->impl = s;
  src->ops = &camera_ops;
  snprintf(s->input, sizeof s->input, "%s", input);
  ledge_status st = LEDGE_OK;
  struct stat sb;
  if (stat(input, &sb)) {
    st = media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: no such camera (%s)", input, strerror(errno));
    goto done;
  }
  if (!S_ISCHR(sb.st_mode)) {
    st = media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: not a V4L2 camera (not a character device)", input);
    goto done;
  }
  s->fd = open(input, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (s->fd < 0) {
    st = media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: cannot open the camera: %s", input, strerror(errno));
    goto done;
  }
  struct v4l2_capability cap;
  memset(&cap, 0, sizeof cap);
  if (xioctl(s->fd, VIDIOC_QUERYCAP, &cap)) {
    st = media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: not a V4L2 device (%s)", input, strerror(errno));
    goto done;
  }
  uint32_t caps = (cap.capabilities & V4L2_CAP_DEVICE_CAPS) ? cap.device_caps : cap.capabilities;
  if (!(caps & V4L2_CAP_VIDEO_CAPTURE) || !(caps & V4L2_CAP_STREAMING)) {
    st = media_source_fail(err, err_size, LEDGE_ERR_UNSUPPORTED,
                           "%s (%s): not a streaming video capture device (e.g. a metadata node)", input,
                           (const char *)cap.card);
    goto done;
  }
  int have_yuyv = 0, have_mjpeg = 0;
  char seen[128] = "";
  for (int i = 0; i < 64; i++) {
    struct v4l2_fmtdesc d;
    memset(&d, 0, sizeof d);
    d.index = (unsigned)i;
    d.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    if (xioctl(s->fd, VIDIOC_ENUM_FMT, &d)) break;
    if (d.pixelformat == V4L2_PIX_FMT_YUYV) have_yuyv = 1;
    if (d.pixelformat == V4L2_PIX_FMT_MJPEG || d.pixelformat == V4L2_PIX_FMT_JPEG) have_mjpeg = 1;
    char f[5];
    fourcc(d.pixelformat, f);
    if (strlen(seen) + 6 < sizeof seen) strcat(strcat(seen, *seen ? " " : ""), f);
  }
  int w = src->options.width > 0 ? src->options.width : 640, h = src->options.height > 0 ? src->options.height : 480;
  if (have_yuyv && (!have_mjpeg || (int64_t)w * h <= 640 * 480)) s->pixfmt = V4L2_PIX_FMT_YUYV;
  else if (have_mjpeg) s->pixfmt = V4L2_PIX_FMT_MJPEG;
  else {
    st = media_source_fail(err, err_size, LEDGE_ERR_UNSUPPORTED, "%s: the camera offers %s, not MJPEG or YUYV", input,
                           *seen ? seen : "no formats");
    goto done;
  }
  struct v4l2_format fmt;
  memset(&fmt, 0, sizeof fmt);
  fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  fmt.fmt.pix.width = (unsigned)w;
  fmt.fmt.pix.height = (unsigned)h;
  fmt.fmt.pix.pixelformat = s->pixfmt;
  fmt.fmt.pix.field = V4L2_FIELD_ANY;
  if (xioctl(s->fd, VIDIOC_S_FMT, &fmt)) {
    st = media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: VIDIOC_S_FMT: %s", input, strerror(errno));
    goto done;
  }
  if (fmt.fmt.pix.pixelformat == V4L2_PIX_FMT_JPEG) fmt.fmt.pix.pixelformat = V4L2_PIX_FMT_MJPEG;
  s->pixfmt = fmt.fmt.pix.pixelformat;
  s->width = (int)fmt.fmt.pix.width;
  s->height = (int)fmt.fmt.pix.height;
  s->bytesperline = fmt.fmt.pix.bytesperline ? fmt.fmt.pix.bytesperline : (uint32_t)s->width * 2;
  if ((s->pixfmt != V4L2_PIX_FMT_YUYV && s->pixfmt != V4L2_PIX_FMT_MJPEG) || s->width <= 0 || s->height <= 0 ||
      s->width > MEDIA_IMAGE_MAX_SIDE || s->height > MEDIA_IMAGE_MAX_SIDE) {
    st = media_source_fail(err, err_size, LEDGE_ERR_UNSUPPORTED, "%s: the driver chose an unusable format", input);
    goto done;
  }
  if (src->options.fps > 0) {
    struct v4l2_streamparm parm;
    memset(&parm, 0, sizeof parm);
    parm.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    parm.parm.capture.timeperframe.numerator = 1000;
    parm.parm.capture.timeperframe.denominator = (unsigned)(src->options.fps * 1000 + 0.5);
    xioctl(s->fd, VIDIOC_S_PARM, &parm); /* a request: drivers may ignore it */
  }
  struct v4l2_streamparm parm;
  memset(&parm, 0, sizeof parm);
  parm.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  if (!xioctl(s->fd, VIDIOC_G_PARM, &parm) && parm.parm.capture.timeperframe.numerator)
    src->info.fps = (double)parm.parm.capture.timeperframe.denominator / parm.parm.capture.timeperframe.numerator;
  struct v4l2_requestbuffers req;
  memset(&req, 0, sizeof req);
  req.count = NUM_BUFFERS;
  req.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  req.memory = V4L2_MEMORY_MMAP;
  if (xioctl(s->fd, VIDIOC_REQBUFS, &req) || req.count < 1) {
    st = media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: cannot get capture buffers: %s", input, strerror(errno));
    goto done;
  }
  s->nbuf = req.count < NUM_BUFFERS ? (int)req.count : NUM_BUFFERS;
  for (int i = 0; i < s->nbuf; i++) {
    struct v4l2_buffer buf;
    memset(&buf, 0, sizeof buf);
    buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    buf.memory = V4L2_MEMORY_MMAP;
    buf.index = (unsigned)i;
    if (xioctl(s->fd, VIDIOC_QUERYBUF, &buf)) {
      st = media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: VIDIOC_QUERYBUF: %s", input, strerror(errno));
      goto done;
    }
    s->map_len[i] = buf.length;
    s->map[i] = mmap(NULL, buf.length, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, buf.m.offset);
    if (s->map[i] == MAP_FAILED) {
      st = media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: mmap: %s", input, strerror(errno));
      goto done;
    }
    if (xioctl(s->fd, VIDIOC_QBUF, &buf)) {
      st = media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: VIDIOC_QBUF: %s", input, strerror(errno));
      goto done;
    }
  }
  enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  if (xioctl(s->fd, VIDIOC_STREAMON, &type)) {
    st = media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: VIDIOC_STREAMON: %s", input, strerror(errno));
    goto done;
  }
  s->streaming = 1;
  src->info.width = s->width;
  src->info.height = s->height;
  char f[5];
  fourcc(s->pixfmt, f);
  snprintf(src->info.format, sizeof src->info.format, "v4l2/%s", f);
done:
  if (st) camera_close(src);
  return st;
}
