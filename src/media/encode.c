/* media/encode.c: JPEG, PNG and PPM encoders, the PPM decoder, image files.
 * See encode.h. */
#include "media/encode.h"
#include "media/media_internal.h"

#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <png.h>

#define MAX_FILE_BYTES (256u << 20)

/* ---- JPEG ------------------------------------------------------------------- */

typedef struct {
  struct jpeg_error_mgr mgr;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
} jpeg_error;

static void jpeg_error_exit(j_common_ptr cinfo) {
  jpeg_error *e = (jpeg_error *)cinfo->err;
  e->mgr.format_message(cinfo, e->message);
  longjmp(e->jump, 1);
}

static void jpeg_quiet(j_common_ptr cinfo, int level) { (void)cinfo, (void)level; }

ledge_status media_encode_jpeg(const media_image *img, int quality, uint8_t **out, size_t *size,
                               char *err, size_t err_size) {
  if (!out || !size) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "jpeg: no output");
  *out = NULL;
  *size = 0;
  if (!media_image_ok(img) || img->channels == 4)
    return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "jpeg: needs a gray or RGB image");
  if (quality < 1 || quality > 100)
    return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "jpeg: quality %d is not in 1..100", quality);
  struct jpeg_compress_struct cinfo;
  jpeg_error jerr;
  /* Written by libjpeg through their addresses (so kept in memory, valid
   * after a longjmp). */
  unsigned char *mbuf = NULL;
  unsigned long mlen = 0;
  memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = jpeg_std_error(&jerr.mgr);
  jerr.mgr.error_exit = jpeg_error_exit;
  jerr.mgr.emit_message = jpeg_quiet;
  if (setjmp(jerr.jump)) {
    jpeg_destroy_compress(&cinfo);
    free(mbuf);
    return media_fail(err, err_size, LEDGE_ERR_INTERNAL, "jpeg: %s", jerr.message);
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &mbuf, &mlen);
  cinfo.image_width = (JDIMENSION)img->width;
  cinfo.image_height = (JDIMENSION)img->height;
  cinfo.input_components = img->channels;
  cinfo.in_color_space = img->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = img->data + (size_t)cinfo.next_scanline * img->stride;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  *out = mbuf;
  *size = mlen;
  return LEDGE_OK;
}

/* ---- PNG -------------------------------------------------------------------- */

ledge_status media_encode_png(const media_image *img, uint8_t **out, size_t *size, char *err,
                              size_t err_size) {
  if (!out || !size) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "png: no output");
  *out = NULL;
  *size = 0;
  if (!media_image_ok(img)) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "png: no image");
  png_image png;
  memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  png.width = (png_uint_32)img->width;
  png.height = (png_uint_32)img->height;
  png.format = img->channels == 1 ? PNG_FORMAT_GRAY : img->channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
  png_alloc_size_t len = 0;
  if (!png_image_write_to_memory(&png, NULL, &len, 0, img->data, (png_int_32)img->stride, NULL) || !len)
    return media_fail(err, err_size, LEDGE_ERR_INTERNAL, "png: %s", png.message);
  uint8_t *buf = malloc(len);
  if (!buf) return media_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "png: out of memory");
  if (!png_image_write_to_memory(&png, buf, &len, 0, img->data, (png_int_32)img->stride, NULL)) {
    free(buf);
    return media_fail(err, err_size, LEDGE_ERR_INTERNAL, "png: %s", png.message);
  }
  *out = buf;
  *size = len;
  return LEDGE_OK;
}

/* ---- PPM -------------------------------------------------------------------- */

ledge_status media_encode_ppm(const media_image *img, uint8_t **out, size_t *size, char *err,
                              size_t err_size) {
  if (!out || !size) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "ppm: no output");
  *out = NULL;
  *size = 0;
  if (!media_image_ok(img) || img->channels == 4)
    return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "ppm: needs a gray or RGB image");
  char header[64];
  int h = snprintf(header, sizeof header, "P%c\n%d %d\n255\n", img->channels == 1 ? '5' : '6', img->width,
                   img->height);
  size_t row = (size_t)img->width * img->channels, len = (size_t)h + row * img->height;
  uint8_t *buf = malloc(len);
  if (!buf) return media_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "ppm: out of memory");
  memcpy(buf, header, (size_t)h);
  for (int y = 0; y < img->height; y++) memcpy(buf + h + (size_t)y * row, img->data + (size_t)y * img->stride, row);
  *out = buf;
  *size = len;
  return LEDGE_OK;
}

/* Reads a header number, skipping whitespace and # comments. */
static int ppm_number(const uint8_t *p, size_t size, size_t *pos, long *value) {
  for (;;) {
    while (*pos < size && isspace(p[*pos])) (*pos)++;
    if (*pos < size && p[*pos] == '#') {
      while (*pos < size && p[*pos] != '\n') (*pos)++;
      continue;
    }
    break;
  }
  long v = 0;
  int digits = 0;
  while (*pos < size && isdigit(p[*pos]) && digits < 9) v = v * 10 + (p[(*pos)++] - '0'), digits++;
  if (!digits || (*pos < size && isdigit(p[*pos]))) return 0;
  *value = v;
  return 1;
}

ledge_status media_decode_ppm(const void *data, size_t size, media_image *out, char *err,
                              size_t err_size) {
  if (!out) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "ppm: no output image");
  memset(out, 0, sizeof *out);
  const uint8_t *p = data;
  if (!p || size < 2 || p[0] != 'P' || (p[1] != '6' && p[1] != '5'))
    return media_fail(err, err_size, LEDGE_ERR_FORMAT, "not a binary PPM/PGM image");
  int channels = p[1] == '6' ? 3 : 1;
  size_t pos = 2;
  long w, h, maxval;
  if (!ppm_number(p, size, &pos, &w) || !ppm_number(p, size, &pos, &h) || !ppm_number(p, size, &pos, &maxval))
    return media_fail(err, err_size, LEDGE_ERR_FORMAT, "PPM header is malformed or truncated");
  if (maxval != 255)
    return media_fail(err, err_size, LEDGE_ERR_UNSUPPORTED, "PPM maxval %ld is not supported (only 255)", maxval);
  if (pos >= size || !isspace(p[pos])) return media_fail(err, err_size, LEDGE_ERR_FORMAT, "PPM header is truncated");
  pos++;
  if (w <= 0 || h <= 0 || w > MEDIA_IMAGE_MAX_SIDE || h > MEDIA_IMAGE_MAX_SIDE || w * h > MEDIA_IMAGE_MAX_PIXELS)
    return media_fail(err, err_size, w <= 0 || h <= 0 ? LEDGE_ERR_FORMAT : LEDGE_ERR_INVALID_ARGUMENT,
                "PPM image is %ldx%ld, outside the limits (1..%d per side)", w, h, MEDIA_IMAGE_MAX_SIDE);
  size_t row = (size_t)w * channels;
  if (size - pos < row * (size_t)h)
    return media_fail(err, err_size, LEDGE_ERR_FORMAT, "PPM data is truncated (%zu of %zu bytes)", size - pos,
                row * (size_t)h);
  ledge_status st = media_image_alloc(out, (int)w, (int)h, channels, err, err_size);
  if (st) return st;
  for (long y = 0; y < h; y++) memcpy(out->data + (size_t)y * out->stride, p + pos + (size_t)y * row, row);
  return LEDGE_OK;
}

/* ---- Files ------------------------------------------------------------------ */

static const char *extension(const char *path) {
  const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
  return dot && (!slash || dot > slash) ? dot + 1 : "";
}

int media_is_image_path(const char *path) {
  const char *e = extension(path);
  return !strcasecmp(e, "jpg") || !strcasecmp(e, "jpeg") || !strcasecmp(e, "png") || !strcasecmp(e, "ppm") ||
         !strcasecmp(e, "pgm");
}

ledge_status media_image_read_file(const char *path, media_image *out, char *err, size_t err_size) {
  if (!out) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "no output image");
  memset(out, 0, sizeof *out);
  FILE *f = path ? fopen(path, "rb") : NULL;
  if (!f) return media_fail(err, err_size, LEDGE_ERR_IO, "%s: %s", path ? path : "(null)", strerror(errno));
  struct stat sb;
  if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode)) {
    fclose(f);
    return media_fail(err, err_size, LEDGE_ERR_IO, "%s: not a regular file", path);
  }
  if ((uint64_t)sb.st_size > MAX_FILE_BYTES) {
    fclose(f);
    return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "%s: %lld bytes is too large for an image", path,
                (long long)sb.st_size);
  }
  size_t len = (size_t)sb.st_size;
  uint8_t *buf = malloc(len ? len : 1);
  if (!buf) {
    fclose(f);
    return media_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "%s: out of memory", path);
  }
  size_t got = fread(buf, 1, len, f);
  fclose(f);
  if (got != len) {
    free(buf);
    return media_fail(err, err_size, LEDGE_ERR_IO, "%s: short read", path);
  }
  char msg[256] = "";
  ledge_status st;
  if (len >= 2 && buf[0] == 'P' && (buf[1] == '5' || buf[1] == '6'))
    st = media_decode_ppm(buf, len, out, msg, sizeof msg);
  else
    st = media_image_decode(buf, len, out, msg, sizeof msg);
  free(buf);
  if (st) return media_fail(err, err_size, st, "%s: %s", path, msg);
  return LEDGE_OK;
}

ledge_status media_image_write_file(const char *path, const media_image *img, int quality, char *err,
                                    size_t err_size) {
  if (!path) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "no output path");
  const char *e = extension(path);
  uint8_t *buf = NULL;
  size_t len = 0;
  char msg[256] = "";
  ledge_status st;
  if (!strcasecmp(e, "jpg") || !strcasecmp(e, "jpeg")) {
    if (media_image_ok(img) && img->channels == 4) {
      /* JPEG has no alpha: drop it. */
      media_image rgb;
      st = media_image_alloc(&rgb, img->width, img->height, 3, msg, sizeof msg);
      if (!st) {
        for (int y = 0; y < img->height; y++)
          for (int x = 0; x < img->width; x++)
            memcpy(rgb.data + (size_t)y * rgb.stride + 3 * (size_t)x, img->data + (size_t)y * img->stride + 4 * (size_t)x, 3);
        st = media_encode_jpeg(&rgb, quality, &buf, &len, msg, sizeof msg);
        media_image_free(&rgb);
      }
    } else {
      st = media_encode_jpeg(img, quality, &buf, &len, msg, sizeof msg);
    }
  } else if (!strcasecmp(e, "png")) {
    st = media_encode_png(img, &buf, &len, msg, sizeof msg);
  } else if (!strcasecmp(e, "ppm") || !strcasecmp(e, "pgm")) {
    st = media_encode_ppm(img, &buf, &len, msg, sizeof msg);
  } else {
    return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "%s: unknown image extension (use .jpg, .png or .ppm)",
                path);
  }
  if (st) return media_fail(err, err_size, st, "%s: %s", path, msg);
  FILE *f = fopen(path, "wb");
  if (!f) {
    free(buf);
    return media_fail(err, err_size, LEDGE_ERR_IO, "%s: %s", path, strerror(errno));
  }
  size_t put = fwrite(buf, 1, len, f);
  free(buf);
  if (fclose(f) != 0 || put != len) return media_fail(err, err_size, LEDGE_ERR_IO, "%s: write failed", path);
  return LEDGE_OK;
}
