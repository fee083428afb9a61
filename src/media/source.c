/* media/source.c: the frame-source interface: picks a kind, forwards reads.
 * See source.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "media/encode.h"
#include "media/source_internal.h"

const char *media_source_kind_name(media_source_kind kind) {
  switch (kind) {
    case MEDIA_SOURCE_AUTO: return "auto";
    case MEDIA_SOURCE_VIDEO: return "video";
    case MEDIA_SOURCE_CAMERA: return "camera";
    case MEDIA_SOURCE_IMAGES: return "images";
  }
  return "unknown";
}

static media_source_kind guess_kind(const char *input) {
  if (!strncmp(input, "/dev/video", 10) || !strncmp(input, "/dev/v4l/", 9)) return MEDIA_SOURCE_CAMERA;
  struct stat sb;
  if (!stat(input, &sb)) {
    if (S_ISDIR(sb.st_mode)) return MEDIA_SOURCE_IMAGES;
    if (S_ISCHR(sb.st_mode)) return MEDIA_SOURCE_CAMERA;
    if (S_ISREG(sb.st_mode) && media_is_image_path(input)) return MEDIA_SOURCE_IMAGES;
  }
  return MEDIA_SOURCE_VIDEO;
}

ledge_status media_source_open(const char *input, const media_source_options *options, media_source **out,
                               char *err, size_t err_size) {
  if (!out) return media_source_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "no output source");
  *out = NULL;
  if (!input || !*input) return media_source_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "no input given");
  media_source *src = calloc(1, sizeof *src);
  if (!src) return media_source_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  if (options) src->options = *options;
  if (src->options.timeout_ms <= 0) src->options.timeout_ms = 10000;
  media_source_kind kind = src->options.kind ? src->options.kind : guess_kind(input);
  src->info.frame_count = -1;
  src->info.duration = -1;
  src->info.kind = kind;
  ledge_status st;
  switch (kind) {
    case MEDIA_SOURCE_VIDEO: st = media_source_open_video(src, input, err, err_size); break;
    case MEDIA_SOURCE_CAMERA: st = media_source_open_camera(src, input, err, err_size); break;
    case MEDIA_SOURCE_IMAGES: st = media_source_open_images(src, input, err, err_size); break;
    default: st = media_source_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "unknown source kind %d", (int)kind);
  }
  if (st) {
    free(src);
    return st;
  }
  *out = src;
  return LEDGE_OK;
}

void media_source_get_info(const media_source *src, media_source_info *info) {
  if (src && info) *info = src->info;
}

ledge_status media_source_read(media_source *src, media_frame *frame, char *err, size_t err_size) {
  if (!frame) return media_source_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "no output frame");
  memset(frame, 0, sizeof *frame);
  if (!src) return media_source_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "no source");
  if (src->ended) {
    frame->end = 1;
    frame->index = src->next_index;
    return LEDGE_OK;
  }
  ledge_status st = src->ops->read(src, frame, err, err_size);
  if (st) return st;
  frame->index = src->next_index;
  if (frame->end) src->ended = 1;
  else src->next_index++;
  return LEDGE_OK;
}

void media_source_close(media_source *src) {
  if (!src) return;
  if (src->ops && src->ops->close) src->ops->close(src);
  free(src);
}
