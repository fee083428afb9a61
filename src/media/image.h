/*
 * media/image.h: still images for ledge: decode JPEG and PNG, resize, crop,
 * and turn pixels into the float tensor a vision model expects.
 *
 * The unit of exchange is media_image: an 8-bit, interleaved (HWC) picture
 * with 1, 3 or 4 channels that owns its pixels. Decoders always give RGB
 * (3 channels): grayscale, palette and alpha images are converted, so that a
 * model sees the same layout whatever the client sent. Frame sources (video
 * files, cameras) are expected to produce media_image too, so the transforms
 * below serve every input path.
 *
 * Errors: every fallible function returns a ledge_status and, on failure,
 * writes one line to err (err_size bytes, may be NULL/0) such as
 * "not a JPEG or PNG image" or "image is 20000x20000, larger than the
 * 8192x8192 limit". Hostile input (truncated files, lying headers, huge
 * dimensions) never crashes and never allocates more than the limit allows;
 * on failure the output image is left empty.
 *
 * Thread safety: no global state; any function may be called from any thread.
 */
#ifndef LEDGE_MEDIA_IMAGE_H
#define LEDGE_MEDIA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "ledge/ledge.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An 8-bit interleaved image: pixel (x, y) channel c is
 * data[y * stride + x * channels + c]. */
typedef struct media_image {
  int width, height;
  int channels; /* 1 (gray), 3 (RGB) or 4 (RGBA) */
  size_t stride; /* bytes per row (>= width * channels) */
  uint8_t *data; /* owned; free with media_image_free */
} media_image;

/* The largest width or height the decoders accept (decompression bombs). */
#define MEDIA_IMAGE_MAX_SIDE 8192
/* The most pixels the decoders accept. */
#define MEDIA_IMAGE_MAX_PIXELS (40 * 1000 * 1000)

typedef enum media_format {
  MEDIA_FORMAT_UNKNOWN = 0,
  MEDIA_FORMAT_JPEG = 1,
  MEDIA_FORMAT_PNG = 2
} media_format;

/* Which format the bytes start with (by magic number, not by trust). */
media_format media_image_sniff(const void *data, size_t size);

/* Allocates a zero-filled image. */
ledge_status media_image_alloc(media_image *img, int width, int height, int channels, char *err,
                               size_t err_size);

/* Frees the pixels and zeroes the struct. Safe on an empty image. */
void media_image_free(media_image *img);

/* Decodes a JPEG or PNG held in memory to RGB8 (3 channels). Errors:
 * LEDGE_ERR_FORMAT for bytes that are not a valid image, LEDGE_ERR_UNSUPPORTED
 * for a valid one we cannot decode (e.g. CMYK JPEG), LEDGE_ERR_INVALID_ARGUMENT
 * when it is larger than the limits above, LEDGE_ERR_NO_MEMORY. */
ledge_status media_image_decode(const void *data, size_t size, media_image *out, char *err,
                                size_t err_size);

/* Resizes src to width x height with bilinear interpolation, half-pixel
 * centers (the convention of PIL, OpenCV INTER_LINEAR without antialiasing,
 * ONNX Resize "half_pixel"). Any channel count. */
ledge_status media_image_resize(const media_image *src, int width, int height, media_image *dst,
                                char *err, size_t err_size);

/* Resizes so that the shorter side becomes `shorter` pixels, keeping the
 * aspect ratio (the longer side is rounded to the nearest pixel). */
ledge_status media_image_resize_shorter(const media_image *src, int shorter, media_image *dst,
                                        char *err, size_t err_size);

/* Copies the width x height rectangle at (x, y); it must lie inside src. */
ledge_status media_image_crop(const media_image *src, int x, int y, int width, int height,
                              media_image *dst, char *err, size_t err_size);

/* Crops the centered width x height rectangle (offsets rounded down, as
 * torchvision's CenterCrop does); it must fit inside src. */
ledge_status media_image_center_crop(const media_image *src, int width, int height,
                                     media_image *dst, char *err, size_t err_size);

/* How pixels become model input values: value = (pixel * scale - mean[c]) / std[c]
 * for channel c, written planar (NCHW: all of channel 0, then 1, ...) or
 * interleaved (NHWC). With bgr set, channels are written in B, G, R order
 * (mean/std are then given in that order too). */
typedef enum media_layout { MEDIA_LAYOUT_NCHW = 0, MEDIA_LAYOUT_NHWC = 1 } media_layout;

typedef struct media_normalize {
  float scale;   /* e.g. 1/255 to map pixels to [0, 1] */
  float mean[4]; /* per output channel, after scale */
  float std[4];  /* per output channel, after scale; must not be 0 */
  media_layout layout;
  int bgr; /* 1: reverse the order of 3-channel pixels */
} media_normalize;

/* Identity normalization scaled to [0, 1]: scale 1/255, mean 0, std 1, NCHW. */
void media_normalize_init(media_normalize *norm);

/* Writes img as float32 values (img->height * img->width * img->channels of
 * them) into out, laid out and normalized as norm says. */
ledge_status media_image_to_float(const media_image *img, const media_normalize *norm, float *out,
                                  char *err, size_t err_size);

/* The usual classification preprocessing in one call: decode, resize the
 * shorter side to `resize_shorter` (0: resize straight to width x height),
 * center crop to width x height, normalize into out (width*height*3 floats).
 * This is what `ledge serve` applies to image request bodies. */
typedef struct media_preprocess {
  int width, height;  /* the model's input size */
  int resize_shorter; /* 0 = resize to exactly width x height, no crop */
  media_normalize norm;
} media_preprocess;

ledge_status media_preprocess_image(const void *data, size_t size, const media_preprocess *pre,
                                    float *out, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif /* LEDGE_MEDIA_IMAGE_H */
