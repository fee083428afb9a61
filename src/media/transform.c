/* media/transform.c: resizing with every framework's convention, crops,
 * letterbox, color conversion, layout changes. See transform.h.
 *
 * Resizing is separable: a table of (first input index, tap count, weights)
 * per output column and per output row, a horizontal pass into float rows
 * (cached in a ring as tall as the vertical window) and a vertical pass that
 * is a plain multiply-add over contiguous floats, which the compiler
 * vectorizes (SSE/AVX on x86-64, NEON on aarch64) without intrinsics. */
#include "media/transform.h"
#include "media/media_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline uint8_t to_u8(float v) {
  return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)(v + 0.5f);
}

static const char *const method_names[] = {"bilinear", "bilinear-align", "bilinear-tf1", "bilinear-aa",
                                           "area",     "area-adaptive",  "nearest",      "nearest-exact"};

const char *media_resize_method_name(media_resize_method method) {
  if ((unsigned)method < sizeof method_names / sizeof method_names[0]) return method_names[method];
  return "unknown";
}

int media_resize_method_parse(const char *name, media_resize_method *out) {
  for (unsigned i = 0; name && i < sizeof method_names / sizeof method_names[0]; i++)
    if (!strcmp(name, method_names[i])) {
      *out = (media_resize_method)i;
      return 1;
    }
  return 0;
}

ledge_status media_image_copy(const media_image *src, media_image *dst, char *err, size_t err_size) {
  if (!dst) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "copy: no output image");
  memset(dst, 0, sizeof *dst);
  if (!media_image_ok(src)) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "copy: no image");
  ledge_status st = media_image_alloc(dst, src->width, src->height, src->channels, err, err_size);
  if (st) return st;
  for (int y = 0; y < src->height; y++)
    memcpy(dst->data + (size_t)y * dst->stride, src->data + (size_t)y * src->stride,
           (size_t)src->width * src->channels);
  return LEDGE_OK;
}

/* ---- Resampling tables ------------------------------------------------------ */

typedef struct {
  int n;      /* output size */
  int maxn;   /* taps per output (the widest window) */
  int *start; /* first input index per output */
  int *count; /* taps per output (<= maxn) */
  float *w;   /* n * maxn weights */
} wtable;

static void wtable_free(wtable *t) {
  free(t->start);
  free(t->count);
  free(t->w);
  memset(t, 0, sizeof *t);
}

/* Triangle (bilinear) filter. */
static double tri(double x) {
  x = fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

static int wtable_make(int in, int out, media_resize_method m, wtable *t) {
  memset(t, 0, sizeof *t);
  double scale = (double)in / out;
  int maxn;
  switch (m) {
    case MEDIA_RESIZE_BILINEAR_AA: maxn = (int)ceil((scale > 1 ? scale : 1.0)) * 2 + 1; break;
    case MEDIA_RESIZE_AREA:
    case MEDIA_RESIZE_AREA_ADAPTIVE: maxn = (int)ceil(scale) + 2; break;
    case MEDIA_RESIZE_NEAREST:
    case MEDIA_RESIZE_NEAREST_EXACT: maxn = 1; break;
    default: maxn = 2; break;
  }
  if (maxn > in) maxn = in;
  t->n = out;
  t->maxn = maxn;
  t->start = malloc(sizeof *t->start * (size_t)out);
  t->count = malloc(sizeof *t->count * (size_t)out);
  t->w = calloc((size_t)out * (size_t)maxn, sizeof *t->w);
  if (!t->start || !t->count || !t->w) {
    wtable_free(t);
    return 0;
  }
  for (int i = 0; i < out; i++) {
    float *w = t->w + (size_t)i * maxn;
    int start = 0, count = 1;
    w[0] = 1.0f;
    switch (m) {
      case MEDIA_RESIZE_BILINEAR:
      case MEDIA_RESIZE_BILINEAR_ALIGN:
      case MEDIA_RESIZE_BILINEAR_TF1: {
        double s;
        if (m == MEDIA_RESIZE_BILINEAR) s = (i + 0.5) * scale - 0.5;
        else if (m == MEDIA_RESIZE_BILINEAR_ALIGN) s = out > 1 ? (double)i * (in - 1) / (out - 1) : 0.0;
        else s = i * scale;
        if (s < 0) s = 0;
        if (s > in - 1) s = in - 1;
        int i0 = (int)s;
        double f = s - i0;
        start = i0;
        if (i0 + 1 < in && f > 0) {
          count = 2;
          w[0] = (float)(1.0 - f);
          w[1] = (float)f;
        }
        break;
      }
      case MEDIA_RESIZE_BILINEAR_AA: {
        /* PIL's convention: the window is evaluated at input pixel centers. */
        double support = scale > 1 ? scale : 1.0, center = (i + 0.5) * scale;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in) hi = in;
        if (hi - lo > maxn) hi = lo + maxn;
        double sum = 0;
        for (int j = lo; j < hi; j++) sum += tri((j - center + 0.5) / support);
        start = lo;
        count = hi - lo;
        for (int j = lo; j < hi; j++) w[j - lo] = (float)(sum > 0 ? tri((j - center + 0.5) / support) / sum : 0);
        if (count <= 0) start = lo < in ? lo : in - 1, count = 1, w[0] = 1.0f;
        break;
      }
      case MEDIA_RESIZE_AREA: {
        double lo = i * scale, hi = (i + 1) * scale;
        int j0 = (int)floor(lo), j1 = (int)ceil(hi);
        if (j1 > in) j1 = in;
        if (j1 <= j0) j1 = j0 + 1;
        if (j1 - j0 > maxn) j1 = j0 + maxn;
        double sum = 0;
        for (int j = j0; j < j1; j++) sum += fmin(hi, j + 1.0) - fmax(lo, (double)j);
        start = j0;
        count = j1 - j0;
        for (int j = j0; j < j1; j++) w[j - j0] = (float)((fmin(hi, j + 1.0) - fmax(lo, (double)j)) / sum);
        break;
      }
      case MEDIA_RESIZE_AREA_ADAPTIVE: {
        int j0 = (int)((int64_t)i * in / out), j1 = (int)(((int64_t)(i + 1) * in + out - 1) / out);
        if (j1 - j0 > maxn) j1 = j0 + maxn;
        start = j0;
        count = j1 - j0;
        for (int k = 0; k < count; k++) w[k] = 1.0f / count;
        break;
      }
      case MEDIA_RESIZE_NEAREST:
      case MEDIA_RESIZE_NEAREST_EXACT: {
        /* PyTorch computes these in float; so do we, to pick the same pixel. */
        float fs = (float)in / (float)out;
        int j = (int)floorf(m == MEDIA_RESIZE_NEAREST ? (float)i * fs : ((float)i + 0.5f) * fs);
        start = j < in ? j : in - 1;
        break;
      }
    }
    t->start[i] = start;
    t->count[i] = count;
  }
  return 1;
}

/* One horizontal pass of an input row into dst_w * C floats. */
static void hpass(const uint8_t *src, int c, const wtable *tx, float *out) {
  const int maxn = tx->maxn;
  for (int x = 0; x < tx->n; x++) {
    const float *w = tx->w + (size_t)x * maxn;
    const uint8_t *s = src + (size_t)tx->start[x] * c;
    int n = tx->count[x];
    if (c == 3) {
      float a = 0, b = 0, d = 0;
      for (int k = 0; k < n; k++) a += w[k] * s[3 * k], b += w[k] * s[3 * k + 1], d += w[k] * s[3 * k + 2];
      out[3 * x] = a, out[3 * x + 1] = b, out[3 * x + 2] = d;
    } else {
      for (int ch = 0; ch < c; ch++) {
        float a = 0;
        for (int k = 0; k < n; k++) a += w[k] * s[k * c + ch];
        out[x * c + ch] = a;
      }
    }
  }
}

ledge_status media_resize(const media_image *src, int width, int height, media_resize_method method,
                          media_image *dst, char *err, size_t err_size) {
  if (!dst) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "resize: no output image");
  memset(dst, 0, sizeof *dst);
  if (!media_image_ok(src)) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "resize: no image");
  if ((unsigned)method > MEDIA_RESIZE_NEAREST_EXACT)
    return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "resize: unknown method %d", (int)method);
  ledge_status st = media_image_alloc(dst, width, height, src->channels, err, err_size);
  if (st) return st;
  wtable tx, ty;
  int ok = wtable_make(src->width, width, method, &tx);
  ok = wtable_make(src->height, height, method, &ty) && ok;
  const int c = src->channels;
  const size_t rowlen = (size_t)width * c;
  float *ring = ok ? malloc(sizeof(float) * rowlen * (size_t)ty.maxn) : NULL;
  int *tag = ok ? malloc(sizeof(int) * (size_t)ty.maxn) : NULL;
  float *acc = ok ? malloc(sizeof(float) * rowlen) : NULL;
  if (!ring || !tag || !acc) {
    free(ring), free(tag), free(acc);
    wtable_free(&tx), wtable_free(&ty);
    media_image_free(dst);
    return media_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "resize: out of memory");
  }
  for (int k = 0; k < ty.maxn; k++) tag[k] = -1;
  for (int y = 0; y < height; y++) {
    const float *w = ty.w + (size_t)y * ty.maxn;
    int n = ty.count[y];
    for (int k = 0; k < n; k++) {
      int r = ty.start[y] + k, slot = r % ty.maxn;
      float *row = ring + (size_t)slot * rowlen;
      if (tag[slot] != r) {
        hpass(src->data + (size_t)r * src->stride, c, &tx, row);
        tag[slot] = r;
      }
      float wk = w[k];
      if (k == 0)
        for (size_t j = 0; j < rowlen; j++) acc[j] = wk * row[j];
      else
        for (size_t j = 0; j < rowlen; j++) acc[j] += wk * row[j];
    }
    uint8_t *d = dst->data + (size_t)y * dst->stride;
    for (size_t j = 0; j < rowlen; j++) d[j] = to_u8(acc[j]);
  }
  free(ring), free(tag), free(acc);
  wtable_free(&tx), wtable_free(&ty);
  return LEDGE_OK;
}

/* ---- Crops and letterbox ---------------------------------------------------- */

static void fill_image(media_image *img, const uint8_t fill[4]) {
  if (!fill) return; /* media_image_alloc zero-fills */
  for (int y = 0; y < img->height; y++) {
    uint8_t *d = img->data + (size_t)y * img->stride;
    for (int x = 0; x < img->width; x++)
      for (int ch = 0; ch < img->channels; ch++) d[x * img->channels + ch] = fill[ch];
  }
}

ledge_status media_crop_fill(const media_image *src, int x, int y, int width, int height,
                             const uint8_t fill[4], media_image *dst, char *err, size_t err_size) {
  if (!dst) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "crop: no output image");
  memset(dst, 0, sizeof *dst);
  if (!media_image_ok(src)) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "crop: no image");
  ledge_status st = media_image_alloc(dst, width, height, src->channels, err, err_size);
  if (st) return st;
  fill_image(dst, fill);
  int64_t x0 = x > 0 ? x : 0, y0 = y > 0 ? y : 0;
  int64_t x1 = (int64_t)x + width < src->width ? (int64_t)x + width : src->width;
  int64_t y1 = (int64_t)y + height < src->height ? (int64_t)y + height : src->height;
  const int c = src->channels;
  for (int64_t r = y0; r < y1 && x0 < x1; r++)
    memcpy(dst->data + (size_t)(r - y) * dst->stride + (size_t)(x0 - x) * c,
           src->data + (size_t)r * src->stride + (size_t)x0 * c, (size_t)(x1 - x0) * c);
  return LEDGE_OK;
}

ledge_status media_crop_and_resize(const media_image *src, const float box[4], int width, int height,
                                   const uint8_t fill[4], media_image *dst, char *err, size_t err_size) {
  if (!dst) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "crop_and_resize: no output image");
  memset(dst, 0, sizeof *dst);
  if (!media_image_ok(src) || !box) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "crop_and_resize: no image");
  for (int k = 0; k < 4; k++)
    if (!isfinite(box[k]) || fabsf(box[k]) > 1e6f)
      return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "crop_and_resize: box coordinate %g", box[k]);
  ledge_status st = media_image_alloc(dst, width, height, src->channels, err, err_size);
  if (st) return st;
  const int c = src->channels, H = src->height, W = src->width;
  const double y1 = box[0], x1 = box[1], y2 = box[2], x2 = box[3];
  const double hs = height > 1 ? (y2 - y1) * (H - 1) / (height - 1) : 0;
  const double ws = width > 1 ? (x2 - x1) * (W - 1) / (width - 1) : 0;
  for (int i = 0; i < height; i++) {
    double in_y = height > 1 ? y1 * (H - 1) + i * hs : 0.5 * (y1 + y2) * (H - 1);
    uint8_t *d = dst->data + (size_t)i * dst->stride;
    if (in_y < 0 || in_y > H - 1) {
      for (int x = 0; x < width; x++)
        for (int ch = 0; ch < c; ch++) d[x * c + ch] = fill ? fill[ch] : 0;
      continue;
    }
    int top = (int)floor(in_y), bot = (int)ceil(in_y);
    float ly = (float)(in_y - top);
    const uint8_t *rt = src->data + (size_t)top * src->stride, *rb = src->data + (size_t)bot * src->stride;
    for (int x = 0; x < width; x++) {
      double in_x = width > 1 ? x1 * (W - 1) + x * ws : 0.5 * (x1 + x2) * (W - 1);
      if (in_x < 0 || in_x > W - 1) {
        for (int ch = 0; ch < c; ch++) d[x * c + ch] = fill ? fill[ch] : 0;
        continue;
      }
      int l = (int)floor(in_x), r = (int)ceil(in_x);
      float lx = (float)(in_x - l);
      for (int ch = 0; ch < c; ch++) {
        float t = rt[l * c + ch] + (rt[r * c + ch] - rt[l * c + ch]) * lx;
        float b = rb[l * c + ch] + (rb[r * c + ch] - rb[l * c + ch]) * lx;
        d[x * c + ch] = to_u8(t + (b - t) * ly);
      }
    }
  }
  return LEDGE_OK;
}

ledge_status media_letterbox(const media_image *src, int width, int height, media_resize_method method,
                             const uint8_t fill[4], media_image *dst, media_letterbox_info *info,
                             char *err, size_t err_size) {
  if (!dst) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "letterbox: no output image");
  memset(dst, 0, sizeof *dst);
  if (!media_image_ok(src)) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "letterbox: no image");
  if (width <= 0 || height <= 0)
    return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "letterbox: size %dx%d", width, height);
  double sx = (double)width / src->width, sy = (double)height / src->height;
  int cw, ch;
  double scale;
  if (sx <= sy) {
    scale = sx;
    cw = width;
    ch = (int)lround(src->height * sx);
  } else {
    scale = sy;
    ch = height;
    cw = (int)lround(src->width * sy);
  }
  if (cw < 1) cw = 1;
  if (ch < 1) ch = 1;
  if (cw > width) cw = width;
  if (ch > height) ch = height;
  media_image content;
  ledge_status st = media_resize(src, cw, ch, method, &content, err, err_size);
  if (st) return st;
  st = media_image_alloc(dst, width, height, src->channels, err, err_size);
  if (st) {
    media_image_free(&content);
    return st;
  }
  fill_image(dst, fill);
  int px = (width - cw) / 2, py = (height - ch) / 2;
  for (int y = 0; y < ch; y++)
    memcpy(dst->data + (size_t)(y + py) * dst->stride + (size_t)px * src->channels,
           content.data + (size_t)y * content.stride, (size_t)cw * src->channels);
  media_image_free(&content);
  if (info) *info = (media_letterbox_info){(float)scale, px, py, cw, ch, src->width, src->height};
  return LEDGE_OK;
}

void media_letterbox_unmap(const media_letterbox_info *info, float x, float y, float *src_x, float *src_y) {
  if (src_x) *src_x = info->content_w > 0 ? (x - info->pad_x) * info->src_w / info->content_w : 0;
  if (src_y) *src_y = info->content_h > 0 ? (y - info->pad_y) * info->src_h / info->content_h : 0;
}

/* ---- Color ------------------------------------------------------------------ */

static inline uint8_t luma(uint8_t r, uint8_t g, uint8_t b) {
  return (uint8_t)((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
}

ledge_status media_convert(const media_image *src, int channels, media_image *dst, char *err,
                           size_t err_size) {
  if (!dst) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "convert: no output image");
  memset(dst, 0, sizeof *dst);
  if (!media_image_ok(src)) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "convert: no image");
  ledge_status st = media_image_alloc(dst, src->width, src->height, channels, err, err_size);
  if (st) return st;
  const int ci = src->channels, co = channels;
  for (int y = 0; y < src->height; y++) {
    const uint8_t *s = src->data + (size_t)y * src->stride;
    uint8_t *d = dst->data + (size_t)y * dst->stride;
    for (int x = 0; x < src->width; x++, s += ci, d += co) {
      uint8_t r, g, b, a = ci == 4 ? s[3] : 255;
      if (ci == 1) r = g = b = s[0];
      else r = s[0], g = s[1], b = s[2];
      if (co == 1) d[0] = ci == 1 ? s[0] : luma(r, g, b);
      else {
        d[0] = r, d[1] = g, d[2] = b;
        if (co == 4) d[3] = a;
      }
    }
  }
  return LEDGE_OK;
}

void media_swap_rb(media_image *img) {
  if (!media_image_ok(img) || img->channels < 3) return;
  const int c = img->channels;
  for (int y = 0; y < img->height; y++) {
    uint8_t *p = img->data + (size_t)y * img->stride;
    for (int x = 0; x < img->width; x++, p += c) {
      uint8_t t = p[0];
      p[0] = p[2];
      p[2] = t;
    }
  }
}

static inline uint8_t clip8(int v) { return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v; }

ledge_status media_yuyv_to_rgb(const uint8_t *yuyv, size_t stride, int width, int height,
                               media_image *dst, char *err, size_t err_size) {
  if (!dst) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "yuyv: no output image");
  memset(dst, 0, sizeof *dst);
  if (!yuyv || width <= 0 || (width & 1))
    return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "yuyv: width %d must be even and positive", width);
  if (!stride) stride = (size_t)width * 2;
  if (stride < (size_t)width * 2)
    return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "yuyv: stride %zu is less than 2 x width", stride);
  ledge_status st = media_image_alloc(dst, width, height, 3, err, err_size);
  if (st) return st;
  for (int y = 0; y < height; y++) {
    const uint8_t *s = yuyv + (size_t)y * stride;
    uint8_t *d = dst->data + (size_t)y * dst->stride;
    for (int x = 0; x < width; x += 2, s += 4, d += 6) {
      int u = s[1] - 128, v = s[3] - 128;
      int rv = 409 * v + 128, guv = -100 * u - 208 * v + 128, bu = 516 * u + 128;
      int c0 = 298 * (s[0] - 16), c1 = 298 * (s[2] - 16);
      d[0] = clip8((c0 + rv) >> 8), d[1] = clip8((c0 + guv) >> 8), d[2] = clip8((c0 + bu) >> 8);
      d[3] = clip8((c1 + rv) >> 8), d[4] = clip8((c1 + guv) >> 8), d[5] = clip8((c1 + bu) >> 8);
    }
  }
  return LEDGE_OK;
}

/* ---- Layout ----------------------------------------------------------------- */

void media_hwc_to_chw_u8(const media_image *img, uint8_t *out) {
  if (!media_image_ok(img) || !out) return;
  const int c = img->channels;
  const size_t plane = (size_t)img->width * img->height;
  for (int y = 0; y < img->height; y++) {
    const uint8_t *s = img->data + (size_t)y * img->stride;
    size_t p = (size_t)y * img->width;
    for (int x = 0; x < img->width; x++)
      for (int ch = 0; ch < c; ch++) out[ch * plane + p + x] = s[x * c + ch];
  }
}

ledge_status media_chw_to_image(const uint8_t *planes, int channels, int height, int width,
                                media_image *dst, char *err, size_t err_size) {
  if (!dst) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "chw: no output image");
  memset(dst, 0, sizeof *dst);
  if (!planes) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "chw: no input");
  ledge_status st = media_image_alloc(dst, width, height, channels, err, err_size);
  if (st) return st;
  const size_t plane = (size_t)width * height;
  for (int y = 0; y < height; y++) {
    uint8_t *d = dst->data + (size_t)y * dst->stride;
    size_t p = (size_t)y * width;
    for (int x = 0; x < width; x++)
      for (int ch = 0; ch < channels; ch++) d[x * channels + ch] = planes[ch * plane + p + x];
  }
  return LEDGE_OK;
}

void media_hwc_to_chw_f32(const float *in, int height, int width, int channels, float *out) {
  const size_t plane = (size_t)width * height;
  for (size_t p = 0; p < plane; p++)
    for (int ch = 0; ch < channels; ch++) out[ch * plane + p] = in[p * channels + ch];
}

void media_chw_to_hwc_f32(const float *in, int channels, int height, int width, float *out) {
  const size_t plane = (size_t)width * height;
  for (size_t p = 0; p < plane; p++)
    for (int ch = 0; ch < channels; ch++) out[p * channels + ch] = in[ch * plane + p];
}

ledge_status media_image_from_float(const float *values, int channels, int height, int width,
                                    const media_normalize *norm, media_image *dst, char *err,
                                    size_t err_size) {
  if (!dst) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "from_float: no output image");
  memset(dst, 0, sizeof *dst);
  if (!values || !norm) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "from_float: missing argument");
  if (norm->scale == 0) return media_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "from_float: scale is 0");
  ledge_status st = media_image_alloc(dst, width, height, channels, err, err_size);
  if (st) return st;
  const size_t plane = (size_t)width * height;
  const int reverse = norm->bgr && channels >= 3;
  for (int y = 0; y < height; y++) {
    uint8_t *d = dst->data + (size_t)y * dst->stride;
    for (int x = 0; x < width; x++) {
      size_t p = (size_t)y * width + x;
      for (int k = 0; k < channels; k++) {
        int o = reverse && k < 3 ? 2 - k : k;
        float v = norm->layout == MEDIA_LAYOUT_NCHW ? values[(size_t)o * plane + p] : values[p * channels + o];
        d[x * channels + k] = to_u8((v * norm->std[o] + norm->mean[o]) / norm->scale);
      }
    }
  }
  return LEDGE_OK;
}
