/* media/image.c: JPEG (libjpeg-turbo) and PNG (libpng) decoding, bilinear
 * resize, crops and normalization to float tensors. See image.h. */
#include "media/image.h"
#include "media/media_internal.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

media_format media_image_sniff(const void *data, size_t size) {
  const unsigned char *p = data;
  if (size >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return MEDIA_FORMAT_JPEG;
  if (size >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8)) return MEDIA_FORMAT_PNG;
  return MEDIA_FORMAT_UNKNOWN;
}

static ledge_status check_size(int width, int height, char *err, size_t err_size) {
  if (width <= 0 || height <= 0)
    return media_fail(err, err_size, LEDGE_ERR_FORMAT, "image has an empty size (%dx%d)", width, height);
  if (width > MEDIA_IMAGE_MAX_SIDE || height > MEDIA_IMAGE_MAX_SIDE ||
      (int64_t)width * height > MEDIA_IMAGE_MAX_PIXELS)
    return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                "image is %dx%d, larger than the limit (%d per side, %d pixels)", width, height,
                MEDIA_IMAGE_MAX_SIDE, MEDIA_IMAGE_MAX_PIXELS);
  return LEDGE_OK;
}

ledge_status media_image_alloc(media_image *img, int width, int height, int channels, char *err,
                               size_t err_size) {
  memset(img, 0, sizeof *img);
  if (channels != 1 && channels != 3 && channels != 4)
    return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "images have 1, 3 or 4 channels, not %d",
                channels);
  ledge_status st = check_size(width, height, err, err_size);
  if (st) return st;
  size_t stride = (size_t)width * (size_t)channels;
  img->data = calloc((size_t)height, stride);
  if (!img->data) return media_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory for a %dx%d image", width, height);
  img->width = width;
  img->height = height;
  img->channels = channels;
  img->stride = stride;
  return LEDGE_OK;
}

void media_image_free(media_image *img) {
  if (!img) return;
  free(img->data);
  memset(img, 0, sizeof *img);
}

/* ---- JPEG ---------------------------------------------------------------- */

typedef struct {
  struct jpeg_error_mgr mgr;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
} jpeg_error;

static void jpeg_error_exit(j_common_ptr cinfo) {
  jpeg_error *e = (jpeg_error *)cinfo->err;
  e->mgr.format_message(cinfo, e->message);
  if (!e->message[0]) snprintf(e->message, sizeof e->message, "decoder error");
  longjmp(e->jump, 1);
}

/* Warnings are ignored, except a premature end of data: a truncated file is
 * an error, not a picture with a gray bottom. */
static void jpeg_warning(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
    jpeg_error *e = (jpeg_error *)cinfo->err;
    snprintf(e->message, sizeof e->message, "the data is truncated");
    longjmp(e->jump, 1);
  }
}

static ledge_status decode_jpeg(const void *data, size_t size, media_image *out, char *err,
                                size_t err_size) {
  struct jpeg_decompress_struct cinfo;
  jpeg_error jerr;
  /* Written after setjmp and read after longjmp: must be volatile. */
  media_image *volatile img = out;
  volatile ledge_status status = LEDGE_ERR_FORMAT;
  memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = jpeg_std_error(&jerr.mgr);
  jerr.mgr.error_exit = jpeg_error_exit;
  jerr.mgr.emit_message = jpeg_warning;
  jerr.message[0] = 0;
  if (setjmp(jerr.jump)) {
    if (jerr.message[0] == 0) jerr.mgr.format_message((j_common_ptr)&cinfo, jerr.message);
    jpeg_destroy_decompress(&cinfo);
    media_image_free(img);
    if (status == LEDGE_ERR_FORMAT)
      media_fail(err, err_size, LEDGE_ERR_FORMAT, "not a valid JPEG image: %s", jerr.message);
    return status;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, (const unsigned char *)data, (unsigned long)size);
  jpeg_read_header(&cinfo, TRUE);
  ledge_status st = check_size((int)cinfo.image_width, (int)cinfo.image_height, err, err_size);
  if (st) {
    jpeg_destroy_decompress(&cinfo);
    return st;
  }
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&cinfo);
    return media_fail(err, err_size, LEDGE_ERR_UNSUPPORTED, "CMYK JPEG images are not supported");
  }
  cinfo.out_color_space = JCS_RGB;
  cinfo.mem->max_memory_to_use = 512L << 20;
  jpeg_start_decompress(&cinfo);
  if (cinfo.output_components != 3) {
    jpeg_destroy_decompress(&cinfo);
    return media_fail(err, err_size, LEDGE_ERR_UNSUPPORTED, "JPEG decodes to %d channels, not RGB",
                cinfo.output_components);
  }
  status = media_image_alloc(img, (int)cinfo.output_width, (int)cinfo.output_height, 3, err, err_size);
  if (status) {
    jpeg_destroy_decompress(&cinfo);
    return status;
  }
  status = LEDGE_ERR_FORMAT;
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = img->data + (size_t)cinfo.output_scanline * img->stride;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return LEDGE_OK;
}

/* ---- PNG ------------------------------------------------------------------ */

static ledge_status decode_png(const void *data, size_t size, media_image *out, char *err,
                               size_t err_size) {
  png_image png;
  memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&png, data, size)) {
    ledge_status st = media_fail(err, err_size, LEDGE_ERR_FORMAT, "not a valid PNG image: %s", png.message);
    png_image_free(&png);
    return st;
  }
  ledge_status st = check_size((int)png.width, (int)png.height, err, err_size);
  if (st) {
    png_image_free(&png);
    return st;
  }
  /* Read as RGBA and drop alpha ourselves: no compositing, no gamma change,
   * the same pixels PIL's convert("RGB") gives. */
  png.format = PNG_FORMAT_RGBA;
  size_t rgba_stride = (size_t)png.width * 4;
  uint8_t *rgba = malloc(rgba_stride * png.height);
  if (!rgba) {
    png_image_free(&png);
    return media_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory decoding a PNG");
  }
  if (!png_image_finish_read(&png, NULL, rgba, (png_int_32)rgba_stride, NULL)) {
    st = media_fail(err, err_size, LEDGE_ERR_FORMAT, "not a valid PNG image: %s", png.message);
    png_image_free(&png);
    free(rgba);
    return st;
  }
  st = media_image_alloc(out, (int)png.width, (int)png.height, 3, err, err_size);
  if (!st) {
    for (size_t y = 0; y < png.height; y++) {
      const uint8_t *s = rgba + y * rgba_stride;
      uint8_t *d = out->data + y * out->stride;
      for (size_t x = 0; x < png.width; x++) d[3 * x] = s[4 * x], d[3 * x + 1] = s[4 * x + 1], d[3 * x + 2] = s[4 * x + 2];
    }
  }
  png_image_free(&png);
  free(rgba);
  return st;
}

ledge_status media_image_decode(const void *data, size_t size, media_image *out, char *err,
                                size_t err_size) {
  if (!out) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "no output image");
  memset(out, 0, sizeof *out);
  if (!data || !size) return media_fail(err, err_size, LEDGE_ERR_FORMAT, "empty image");
  switch (media_image_sniff(data, size)) {
    case MEDIA_FORMAT_JPEG: return decode_jpeg(data, size, out, err, err_size);
    case MEDIA_FORMAT_PNG: return decode_png(data, size, out, err, err_size);
    default: return media_fail(err, err_size, LEDGE_ERR_FORMAT, "not a JPEG or PNG image");
  }
}

/* ---- Transforms ----------------------------------------------------------- */

typedef struct {
  int i0, i1;
  float w1; /* weight of i1; i0 gets 1 - w1 */
} tap;

static void taps(int src, int dst, tap *t) {
  double scale = (double)src / dst;
  for (int i = 0; i < dst; i++) {
    double s = (i + 0.5) * scale - 0.5;
    if (s < 0) s = 0;
    int i0 = (int)s;
    if (i0 > src - 1) i0 = src - 1;
    int i1 = i0 + 1 < src ? i0 + 1 : src - 1;
    t[i] = (tap){i0, i1, (float)(s - i0)};
  }
}

ledge_status media_image_resize(const media_image *src, int width, int height, media_image *dst,
                                char *err, size_t err_size) {
  if (!src || !src->data || !dst) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "resize: no image");
  ledge_status st = media_image_alloc(dst, width, height, src->channels, err, err_size);
  if (st) return st;
  tap *tx = malloc(sizeof *tx * (size_t)width), *ty = malloc(sizeof *ty * (size_t)height);
  if (!tx || !ty) {
    free(tx), free(ty);
    media_image_free(dst);
    return media_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "resize: out of memory");
  }
  taps(src->width, width, tx);
  taps(src->height, height, ty);
  int c = src->channels;
  for (int y = 0; y < height; y++) {
    const uint8_t *r0 = src->data + (size_t)ty[y].i0 * src->stride;
    const uint8_t *r1 = src->data + (size_t)ty[y].i1 * src->stride;
    float wy = ty[y].w1;
    uint8_t *d = dst->data + (size_t)y * dst->stride;
    for (int x = 0; x < width; x++) {
      int a = tx[x].i0 * c, b = tx[x].i1 * c;
      float wx = tx[x].w1;
      for (int k = 0; k < c; k++) {
        float top = r0[a + k] + (r0[b + k] - r0[a + k]) * wx;
        float bot = r1[a + k] + (r1[b + k] - r1[a + k]) * wx;
        float v = top + (bot - top) * wy;
        d[x * c + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lrintf(v));
      }
    }
  }
  free(tx);
  free(ty);
  return LEDGE_OK;
}

ledge_status media_image_resize_shorter(const media_image *src, int shorter, media_image *dst,
                                        char *err, size_t err_size) {
  if (!src || !src->data) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "resize: no image");
  if (shorter <= 0) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "resize: size must be positive");
  int w, h;
  if (src->width <= src->height) {
    w = shorter;
    h = (int)((int64_t)shorter * src->height / src->width);
  } else {
    h = shorter;
    w = (int)((int64_t)shorter * src->width / src->height);
  }
  return media_image_resize(src, w < 1 ? 1 : w, h < 1 ? 1 : h, dst, err, err_size);
}

ledge_status media_image_crop(const media_image *src, int x, int y, int width, int height,
                              media_image *dst, char *err, size_t err_size) {
  if (!src || !src->data || !dst) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "crop: no image");
  if (x < 0 || y < 0 || width <= 0 || height <= 0 || x > src->width - width || y > src->height - height)
    return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "crop %dx%d at (%d, %d) is outside the %dx%d image",
                width, height, x, y, src->width, src->height);
  ledge_status st = media_image_alloc(dst, width, height, src->channels, err, err_size);
  if (st) return st;
  for (int r = 0; r < height; r++)
    memcpy(dst->data + (size_t)r * dst->stride, src->data + (size_t)(y + r) * src->stride + (size_t)x * src->channels,
           (size_t)width * src->channels);
  return LEDGE_OK;
}

ledge_status media_image_center_crop(const media_image *src, int width, int height,
                                     media_image *dst, char *err, size_t err_size) {
  if (!src || !src->data) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "crop: no image");
  return media_image_crop(src, (src->width - width) / 2, (src->height - height) / 2, width, height, dst,
                          err, err_size);
}

void media_normalize_init(media_normalize *norm) {
  memset(norm, 0, sizeof *norm);
  norm->scale = 1.0f / 255.0f;
  for (int c = 0; c < 4; c++) norm->std[c] = 1.0f;
  norm->layout = MEDIA_LAYOUT_NCHW;
}

ledge_status media_image_to_float(const media_image *img, const media_normalize *norm, float *out,
                                  char *err, size_t err_size) {
  if (!img || !img->data || !norm || !out)
    return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "normalize: missing argument");
  int c = img->channels;
  float mul[4], add[4];
  for (int k = 0; k < c; k++) {
    if (norm->std[k] == 0) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "normalize: std is 0");
    mul[k] = norm->scale / norm->std[k];
    add[k] = -norm->mean[k] / norm->std[k];
  }
  size_t plane = (size_t)img->width * img->height;
  int reverse = norm->bgr && c >= 3;
  for (int y = 0; y < img->height; y++) {
    const uint8_t *row = img->data + (size_t)y * img->stride;
    for (int x = 0; x < img->width; x++) {
      size_t p = (size_t)y * img->width + x;
      for (int k = 0; k < c; k++) {
        int o = reverse && k < 3 ? 2 - k : k; /* output channel */
        float v = row[x * c + k] * mul[o] + add[o];
        if (norm->layout == MEDIA_LAYOUT_NCHW) out[(size_t)o * plane + p] = v;
        else out[p * c + o] = v;
      }
    }
  }
  return LEDGE_OK;
}

ledge_status media_preprocess_image(const void *data, size_t size, const media_preprocess *pre,
                                    float *out, char *err, size_t err_size) {
  media_image img, tmp, fin;
  ledge_status st = media_image_decode(data, size, &img, err, err_size);
  if (st) return st;
  if (pre->resize_shorter > 0) {
    st = media_image_resize_shorter(&img, pre->resize_shorter, &tmp, err, err_size);
    media_image_free(&img);
    if (st) return st;
    if (tmp.width < pre->width || tmp.height < pre->height) {
      /* A crop larger than the resized image: resize straight to it. */
      st = media_image_resize(&tmp, pre->width, pre->height, &fin, err, err_size);
    } else {
      st = media_image_center_crop(&tmp, pre->width, pre->height, &fin, err, err_size);
    }
    media_image_free(&tmp);
  } else {
    st = media_image_resize(&img, pre->width, pre->height, &fin, err, err_size);
    media_image_free(&img);
  }
  if (st) return st;
  st = media_image_to_float(&fin, &pre->norm, out, err, err_size);
  media_image_free(&fin);
  return st;
}

/* ---- Helpers shared by the media files (media_internal.h) ---- */

ledge_status media_fail(char *err, size_t err_size, ledge_status st, const char *fmt, ...) {
  if (err && err_size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
  }
  return st;
}

int media_image_ok(const media_image *img) {
  return img && img->data && img->width > 0 && img->height > 0 &&
         (img->channels == 1 || img->channels == 3 || img->channels == 4) &&
         img->stride >= (size_t)img->width * (size_t)img->channels;
}
