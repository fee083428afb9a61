/* media/source_internal.h: what each kind of frame source implements. */
#ifndef LEDGE_MEDIA_SOURCE_INTERNAL_H
#define LEDGE_MEDIA_SOURCE_INTERNAL_H

#include <stdarg.h>
#include <stdio.h>

#include "media/source.h"

typedef struct media_source_ops {
  ledge_status (*read)(media_source *src, media_frame *frame, char *err, size_t err_size);
  void (*close)(media_source *src);
} media_source_ops;

struct media_source {
  const media_source_ops *ops;
  media_source_info info;
  media_source_options options;
  int64_t next_index;
  int ended;
  void *impl; /* the kind's own state */
};

ledge_status media_source_open_video(media_source *src, const char *input, char *err, size_t err_size);
ledge_status media_source_open_camera(media_source *src, const char *input, char *err, size_t err_size);
ledge_status media_source_open_images(media_source *src, const char *input, char *err, size_t err_size);

static inline ledge_status media_source_fail(char *err, size_t err_size, ledge_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline ledge_status media_source_fail(char *err, size_t err_size, ledge_status st, const char *fmt, ...) {
  if (err && err_size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
  }
  return st;
}

#endif
