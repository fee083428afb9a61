/*
 * media/encode.h: writing images (JPEG with libjpeg-turbo, PNG with libpng,
 * binary PPM/PGM) and reading image files (JPEG, PNG, PPM/PGM).
 *
 * Encoders take 1-channel (gray) or 3-channel (RGB) images; PNG also takes
 * RGBA. Encoded bytes are malloc'ed: free() them. Errors follow image.h: a
 * ledge_status and one line in err.
 */
#ifndef LEDGE_MEDIA_ENCODE_H
#define LEDGE_MEDIA_ENCODE_H

#include "media/image.h"

#ifdef __cplusplus
extern "C" {
#endif

/* quality 1..100 (libjpeg's scale; 90 is a good default). */
ledge_status media_encode_jpeg(const media_image *img, int quality, uint8_t **out, size_t *size,
                               char *err, size_t err_size);
ledge_status media_encode_png(const media_image *img, uint8_t **out, size_t *size, char *err,
                              size_t err_size);
/* Binary PPM (P6) for 3 channels, PGM (P5) for 1, maxval 255. */
ledge_status media_encode_ppm(const media_image *img, uint8_t **out, size_t *size, char *err,
                              size_t err_size);

/* Decodes a binary PPM (P6) or PGM (P5) with maxval 255 (comments allowed)
 * to a 3- or 1-channel image, within image.h's size limits. */
ledge_status media_decode_ppm(const void *data, size_t size, media_image *out, char *err,
                              size_t err_size);

/* Reads a JPEG, PNG (decoded to RGB, see image.h) or PPM/PGM file. Files
 * larger than 256 MB are refused. */
ledge_status media_image_read_file(const char *path, media_image *out, char *err, size_t err_size);

/* Writes img to path in the format its extension names: .jpg/.jpeg (quality
 * as above), .png, .ppm/.pgm. */
ledge_status media_image_write_file(const char *path, const media_image *img, int quality, char *err,
                                    size_t err_size);

/* 1 if the path's extension is one media_image_read_file reads. */
int media_is_image_path(const char *path);

#ifdef __cplusplus
}
#endif

#endif /* LEDGE_MEDIA_ENCODE_H */
