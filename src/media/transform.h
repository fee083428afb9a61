/*
 * media/transform.h: geometric and color transforms on media_image (see
 * image.h for the image type, decoding and float normalization).
 *
 * Resizing is where frameworks disagree. Each method below names the
 * convention it reproduces; coordinates are given for an output index i, an
 * input size `in`, an output size `out` and scale = in / out:
 *
 *   method                        source position / window          same as
 *   ----------------------------  --------------------------------  -----------------------------------
 *   MEDIA_RESIZE_BILINEAR         s = (i + 0.5) * scale - 0.5,      PyTorch interpolate(bilinear,
 *                                 clamped to [0, in - 1]; 2 taps     align_corners=False, antialias=False),
 *                                                                    TF2 tf.image.resize(bilinear,
 *                                                                    antialias=False), TF1 resize_bilinear
 *                                                                    (half_pixel_centers=True), OpenCV
 *                                                                    INTER_LINEAR, ONNX Resize half_pixel;
 *                                                                    = media_image_resize in image.h
 *   MEDIA_RESIZE_BILINEAR_ALIGN   s = i * (in - 1) / (out - 1)      PyTorch align_corners=True,
 *                                                                    TF1 resize_bilinear(align_corners=True)
 *   MEDIA_RESIZE_BILINEAR_TF1     s = i * scale (asymmetric)        TF1 resize_bilinear defaults
 *                                                                    (both flags false; TF.js default)
 *   MEDIA_RESIZE_BILINEAR_AA      triangle filter widened by         PIL Image.resize(BILINEAR),
 *                                 max(scale, 1) around (i+0.5)*scale torchvision Resize (PIL images, or
 *                                 (antialiased when shrinking)       tensors with antialias=True), TF2
 *                                                                    tf.image.resize(antialias=True)
 *   MEDIA_RESIZE_AREA             box [i*scale, (i+1)*scale), input  TF tf.image.resize(area) /
 *                                 pixels weighted by the fraction    resize_area, OpenCV INTER_AREA when
 *                                 of them the box covers             shrinking
 *   MEDIA_RESIZE_AREA_ADAPTIVE    pixels floor(i*scale) ..           PyTorch interpolate(mode='area')
 *                                 ceil((i+1)*scale) - 1, equal       = adaptive_avg_pool2d
 *                                 weights
 *   MEDIA_RESIZE_NEAREST          floor(i * scale)                  PyTorch 'nearest', TF1 nearest
 *                                                                    defaults, OpenCV INTER_NEAREST
 *   MEDIA_RESIZE_NEAREST_EXACT    floor((i + 0.5) * scale)          PyTorch 'nearest-exact', TF2
 *                                                                    tf.image.resize(nearest)
 *
 * The two area methods agree when in is a multiple of out (and so do
 * BILINEAR and BILINEAR_AA when enlarging). All methods compute in float and
 * round to the nearest 8-bit value once; libraries that round between the
 * horizontal and the vertical pass (PIL) differ by at most 1.
 *
 * Errors follow image.h: a ledge_status, and one line in err on failure.
 * Output images are allocated by the call (free with media_image_free) and
 * left empty on failure. No global state; thread-safe.
 */
#ifndef LEDGE_MEDIA_TRANSFORM_H
#define LEDGE_MEDIA_TRANSFORM_H

#include "media/image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum media_resize_method {
  MEDIA_RESIZE_BILINEAR = 0,
  MEDIA_RESIZE_BILINEAR_ALIGN = 1,
  MEDIA_RESIZE_BILINEAR_TF1 = 2,
  MEDIA_RESIZE_BILINEAR_AA = 3,
  MEDIA_RESIZE_AREA = 4,
  MEDIA_RESIZE_AREA_ADAPTIVE = 5,
  MEDIA_RESIZE_NEAREST = 6,
  MEDIA_RESIZE_NEAREST_EXACT = 7
} media_resize_method;

/* "bilinear", "bilinear-align", "bilinear-tf1", "bilinear-aa", "area",
 * "area-adaptive", "nearest", "nearest-exact". */
const char *media_resize_method_name(media_resize_method method);
/* Parses one of the names above; false if it is none of them. */
int media_resize_method_parse(const char *name, media_resize_method *out);

/* A copy of src (any channel count). */
ledge_status media_image_copy(const media_image *src, media_image *dst, char *err, size_t err_size);

/* Resizes src (1, 3 or 4 channels) to width x height with the given method. */
ledge_status media_resize(const media_image *src, int width, int height, media_resize_method method,
                          media_image *dst, char *err, size_t err_size);

/* Copies the width x height rectangle at (x, y), which may reach outside src:
 * pixels outside are `fill` (one value per channel; NULL means black). */
ledge_status media_crop_fill(const media_image *src, int x, int y, int width, int height,
                             const uint8_t fill[4], media_image *dst, char *err, size_t err_size);

/* TF's tf.image.crop_and_resize for one box: box = {y1, x1, y2, x2} in
 * normalized coordinates (0..1 spans the image; boxes may be flipped or reach
 * outside), sampled bilinearly at y1*(H-1) + i*(y2-y1)*(H-1)/(height-1)
 * (the box center when height is 1), and likewise for x. Samples outside the
 * image are `fill` (NULL: 0), as TF's extrapolation_value. */
ledge_status media_crop_and_resize(const media_image *src, const float box[4], int width, int height,
                                   const uint8_t fill[4], media_image *dst, char *err, size_t err_size);

/* Where a letterboxed image came from: output = input * scale + pad. */
typedef struct media_letterbox_info {
  float scale;              /* output pixels per input pixel (the fitted side's) */
  int pad_x, pad_y;         /* offset of the resized content in the output */
  int content_w, content_h; /* size of the resized content */
  int src_w, src_h;         /* size of the source image */
} media_letterbox_info;

/* Resizes src to fit inside width x height keeping its aspect ratio (the
 * fitted side is exact, the other rounded to nearest), centers it and fills
 * the borders with `fill` (NULL: black); YOLO-style letterbox. info (may be
 * NULL) receives the mapping. */
ledge_status media_letterbox(const media_image *src, int width, int height, media_resize_method method,
                             const uint8_t fill[4], media_image *dst, media_letterbox_info *info,
                             char *err, size_t err_size);

/* Maps a point of the letterboxed output back to source image coordinates
 * (pixel edges: 0 and content_w map to 0 and src_w). */
void media_letterbox_unmap(const media_letterbox_info *info, float x, float y, float *src_x, float *src_y);

/* Converts between 1 (gray), 3 (RGB) and 4 (RGBA) channels: gray is
 * ITU-R BT.601 luma, round(0.299 R + 0.587 G + 0.114 B) (PIL convert("L"),
 * OpenCV COLOR_RGB2GRAY); alpha is dropped, or 255 when added; gray is
 * replicated into R, G and B. */
ledge_status media_convert(const media_image *src, int channels, media_image *dst, char *err,
                           size_t err_size);

/* Swaps channels 0 and 2 in place (RGB <-> BGR, RGBA <-> BGRA). */
void media_swap_rb(media_image *img);

/* Packed YUYV 4:2:2 (V4L2_PIX_FMT_YUYV: Y0 U Y1 V), BT.601 limited range, to
 * RGB; width must be even. stride is bytes per input row (0: width * 2). */
ledge_status media_yuyv_to_rgb(const uint8_t *yuyv, size_t stride, int width, int height,
                               media_image *dst, char *err, size_t err_size);

/* HWC <-> CHW. The u8 forms write/read img->height*img->width*img->channels
 * bytes; the float forms work on plain arrays. */
void media_hwc_to_chw_u8(const media_image *img, uint8_t *out);
ledge_status media_chw_to_image(const uint8_t *planes, int channels, int height, int width,
                                media_image *dst, char *err, size_t err_size);
void media_hwc_to_chw_f32(const float *in, int height, int width, int channels, float *out);
void media_chw_to_hwc_f32(const float *in, int channels, int height, int width, float *out);

/* The inverse of media_image_to_float (image.h): pixel = (value * std + mean)
 * / scale, rounded and clamped to 0..255, from the layout and channel order
 * norm says. For looking at what a model was given. */
ledge_status media_image_from_float(const float *values, int channels, int height, int width,
                                    const media_normalize *norm, media_image *dst, char *err,
                                    size_t err_size);

#ifdef __cplusplus
}
#endif

#endif /* LEDGE_MEDIA_TRANSFORM_H */
