/* media_internal.h: helpers the media files share (not part of any API). */
#ifndef LEDGE_MEDIA_INTERNAL_H
#define LEDGE_MEDIA_INTERNAL_H

#include <stddef.h>

#include "ledge/ledge.h"
#include "media/image.h"

/* Writes a printf-style message into err (if given) and returns st. */
ledge_status media_fail(char *err, size_t err_size, ledge_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* True if img describes a usable 1-, 3- or 4-channel 8-bit image. */
int media_image_ok(const media_image *img);

#endif
