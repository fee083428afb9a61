/*
 * media/source.h: frame sources behind one interface. A source yields RGB
 * frames (media_image, 3 channels) with a timestamp, then reports the end of
 * the stream, or fails with one clear line.
 *
 *   kind    input                                   how
 *   ------  --------------------------------------  ----------------------------------
 *   video   a video file (avi, mp4, mkv, ...) or a   FFmpeg: libavformat demuxes,
 *           network stream (rtsp://, http://, ...)   libavcodec decodes, libswscale
 *                                                    converts to RGB
 *   camera  /dev/videoN (V4L2)                       mmap streaming, MJPEG or YUYV
 *   images  a directory of JPEG/PNG/PPM files        sorted by name, one frame each
 *           (or one image file)
 *
 * media_source_open picks the kind from the input (a /dev/video* path is a
 * camera, a directory or image file is images, anything else is video)
 * unless options say otherwise.
 *
 * Timestamps: seconds from the start of the stream: the presentation time for
 * video (the first frame is at 0 when the container starts at 0), the
 * driver's capture time minus the first frame's for cameras, and index / fps
 * for images (fps from options, default 1).
 *
 * Usage:
 *   media_source *src;
 *   media_frame f;
 *   if (media_source_open(path, NULL, &src, err, sizeof err)) ...
 *   while (!(st = media_source_read(src, &f, err, sizeof err)) && !f.end) {
 *     ... f.image is valid until the next read or close ...
 *   }
 *   media_source_close(src);
 *
 * A source is used by one thread at a time. The frame's pixels belong to the
 * source; copy them (media_image_copy) to keep them past the next read.
 */
#ifndef LEDGE_MEDIA_SOURCE_H
#define LEDGE_MEDIA_SOURCE_H

#include <stdint.h>

#include "media/image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum media_source_kind {
  MEDIA_SOURCE_AUTO = 0,
  MEDIA_SOURCE_VIDEO = 1,
  MEDIA_SOURCE_CAMERA = 2,
  MEDIA_SOURCE_IMAGES = 3
} media_source_kind;

/* "auto", "video", "camera", "images". */
const char *media_source_kind_name(media_source_kind kind);

typedef struct media_source_options {
  media_source_kind kind; /* AUTO: decided from the input */
  int width, height;      /* camera: requested capture size (0: 640x480) */
  double fps;             /* camera: requested rate (0: driver default); images: rate for timestamps (0: 1) */
  int timeout_ms;         /* video streams and cameras: give up on a read after this (0: 10000) */
} media_source_options;

typedef struct media_source_info {
  media_source_kind kind;
  int width, height;   /* frame size (0 if it may vary, e.g. a directory of images) */
  double fps;          /* nominal frame rate (0 if unknown) */
  int64_t frame_count; /* frames in the source if known, else -1 */
  double duration;     /* seconds if known, else -1 */
  char format[64];     /* "avi/mpeg4", "v4l2/YUYV", "images" */
} media_source_info;

typedef struct media_frame {
  media_image image; /* RGB; owned by the source, valid until the next read */
  int64_t index;     /* 0, 1, 2, ... in the order read */
  double pts;        /* seconds, see above */
  const char *name;  /* images: the file name; else NULL */
  int end;           /* 1: end of stream (no image) */
} media_frame;

typedef struct media_source media_source;

/* Opens a source. Errors: LEDGE_ERR_IO (missing file or device, no permission,
 * network failure), LEDGE_ERR_FORMAT (not a video, no video stream, an empty
 * directory), LEDGE_ERR_UNSUPPORTED (a camera without MJPEG or YUYV, a codec
 * FFmpeg lacks), LEDGE_ERR_INVALID_ARGUMENT. */
ledge_status media_source_open(const char *input, const media_source_options *options, media_source **out,
                               char *err, size_t err_size);

/* What the source knows about itself (after open). */
void media_source_get_info(const media_source *src, media_source_info *info);

/* Reads the next frame into *frame: LEDGE_OK with frame->end set at the end
 * of the stream (and on every read after it). A frame that cannot be decoded
 * is an error (LEDGE_ERR_FORMAT) for images and cameras; video decoders skip
 * damaged packets as players do and fail only when nothing more decodes. */
ledge_status media_source_read(media_source *src, media_frame *frame, char *err, size_t err_size);

/* Closes the source and frees everything it owns. NULL is a no-op. */
void media_source_close(media_source *src);

#ifdef __cplusplus
}
#endif

#endif /* LEDGE_MEDIA_SOURCE_H */
