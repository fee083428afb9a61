/* train/augment.c: per-sample resizing, random augmentation and
 * normalization into float NCHW. See augment.h for the order of the steps. */
#include "train/augment.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media/transform.h"

#include <cjson/cJSON.h>
#include <errno.h>

static ledge_status aug_fail(char *err, size_t err_size, ledge_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static ledge_status aug_fail(char *err, size_t err_size, ledge_status st, const char *fmt, ...) {
  if (err && err_size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
  }
  return st;
}

/* ---- generator ----------------------------------------------------------- */

static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void train_rng_seed(train_rng *rng, uint64_t seed, uint64_t stream_a, uint64_t stream_b) {
  rng->state = mix64(seed + 0x9E3779B97F4A7C15ull) ^ mix64(stream_a * 0xD1B54A32D192ED03ull + 1) ^
               mix64(stream_b * 0x8CB92BA72F3D8DD7ull + 2);
}

uint64_t train_rng_next(train_rng *rng) {
  rng->state += 0x9E3779B97F4A7C15ull;
  return mix64(rng->state);
}

double train_rng_uniform(train_rng *rng) { return (double)(train_rng_next(rng) >> 11) * 0x1.0p-53; }

uint64_t train_rng_below(train_rng *rng, uint64_t n) {
  /* rejection keeps it unbiased */
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t r;
  do r = train_rng_next(rng);
  while (r >= limit);
  return r % n;
}

void train_rng_shuffle(train_rng *rng, long *values, long n) {
  for (long i = n - 1; i > 0; i--) {
    long j = (long)train_rng_below(rng, (uint64_t)i + 1);
    long t = values[i];
    values[i] = values[j];
    values[j] = t;
  }
}

static float uniform_in(train_rng *rng, float lo, float hi) {
  return lo + (hi - lo) * (float)train_rng_uniform(rng);
}

/* ---- configuration ------------------------------------------------------- */

static const char *const augmentation_names[] = {"none", "crop", "crop_color",
                                                 "crop_color_transform"};

const char *train_augmentation_name(train_augmentation type) {
  return (unsigned)type < 4 ? augmentation_names[type] : "unknown";
}

int train_augmentation_parse(const char *name, train_augmentation *out) {
  for (int k = 0; k < 4; k++)
    if (!strcmp(name, augmentation_names[k])) {
      *out = (train_augmentation)k;
      return 1;
    }
  return 0;
}

void train_augment_defaults(train_augment_config *config, int channels, int height, int width,
                            train_augmentation type) {
  memset(config, 0, sizeof *config);
  config->channels = channels;
  config->height = height;
  config->width = width;
  config->type = type;
  config->pad = 4;
  config->scale_min = 0.25f;
  config->scale_max = 1.0f;
  config->ratio_min = 3.0f / 4.0f;
  config->ratio_max = 4.0f / 3.0f;
  config->flip_prob = 0.5f;
  config->rotate_degrees = 15.0f;
  config->translate = 0.1f;
  config->brightness = 0.4f;
  config->contrast = 0.4f;
  config->saturation = 0.4f;
  config->hue = 0.05f;
  config->scale = 1.0f / 255.0f;
  for (int c = 0; c < 3; c++) {
    config->mean[c] = 0.0f;
    config->std[c] = 1.0f;
  }
}

void train_augment_imagenet_normalization(train_augment_config *config) {
  static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
  if (config->channels == 1) {
    config->mean[0] = 0.449f;
    config->std[0] = 0.226f;
    return;
  }
  for (int c = 0; c < 3; c++) {
    config->mean[c] = mean[c];
    config->std[c] = std[c];
  }
}

ledge_status train_augment_check(const train_augment_config *c, char *err, size_t err_size) {
  if (c->channels != 1 && c->channels != 3)
    return aug_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                    "image_shape must have 1 or 3 channels, not %d", c->channels);
  if (c->height <= 0 || c->width <= 0 || c->height > MEDIA_IMAGE_MAX_SIDE ||
      c->width > MEDIA_IMAGE_MAX_SIDE)
    return aug_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                    "image_shape %dx%d is not a usable size", c->height, c->width);
  if ((unsigned)c->type > TRAIN_AUG_CROP_COLOR_TRANSFORM)
    return aug_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "unknown augmentation type %d",
                    (int)c->type);
  if (c->resize < 0 || c->resize > MEDIA_IMAGE_MAX_SIDE)
    return aug_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "resize %d is out of range",
                    c->resize);
  if (c->pad < 0 || c->pad > 4096)
    return aug_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "crop padding %d is out of range",
                    c->pad);
  if (!(c->scale_min > 0 && c->scale_min <= c->scale_max && c->scale_max <= 1))
    return aug_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                    "random resized crop scale must satisfy 0 < min <= max <= 1 (got %g, %g)",
                    c->scale_min, c->scale_max);
  if (!(c->ratio_min > 0 && c->ratio_min <= c->ratio_max))
    return aug_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                    "random resized crop ratio must satisfy 0 < min <= max (got %g, %g)",
                    c->ratio_min, c->ratio_max);
  if (!(c->flip_prob >= 0 && c->flip_prob <= 1))
    return aug_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                    "flip probability %g is not in [0, 1]", c->flip_prob);
  if (!(c->rotate_degrees >= 0 && c->rotate_degrees <= 180) ||
      !(c->translate >= 0 && c->translate <= 1))
    return aug_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                    "rotation must be in [0, 180] degrees and translation in [0, 1]");
  if (!(c->brightness >= 0 && c->brightness < 1) || !(c->contrast >= 0 && c->contrast < 1) ||
      !(c->saturation >= 0 && c->saturation < 1) || !(c->hue >= 0 && c->hue <= 0.5))
    return aug_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                    "color jitter strengths must be in [0, 1) (hue in [0, 0.5])");
  if (!(c->scale > 0) || !isfinite(c->scale))
    return aug_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "pixel scale %g must be positive",
                    c->scale);
  for (int k = 0; k < c->channels; k++)
    if (!(c->std[k] != 0) || !isfinite(c->std[k]) || !isfinite(c->mean[k]))
      return aug_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                      "std[%d] is %g; it must be finite and non-zero", k, c->std[k]);
  return LEDGE_OK;
}

/* ---- geometry ------------------------------------------------------------ */

/* Replaces *cur (owned when *owned) by next, freeing the old one if owned. */
static void take(const media_image **cur, media_image *owned_slot, int *owned, media_image *next) {
  if (*owned) media_image_free(owned_slot);
  *owned_slot = *next;
  *cur = owned_slot;
  *owned = 1;
}

/* Shrinking is antialiased (PIL/torchvision style); enlarging is plain bilinear. */
static ledge_status resize_to(const media_image *src, int w, int h, media_image *dst, char *err,
                              size_t err_size) {
  return media_resize(src, w, h, MEDIA_RESIZE_BILINEAR_AA, dst, err, err_size);
}

/* Random resized crop (torchvision's RandomResizedCrop): ten tries at an area
 * fraction and log-uniform aspect ratio; otherwise the whole image, its
 * aspect clamped to the allowed range. */
static void pick_resized_crop(const train_augment_config *c, train_rng *rng, int w, int h, int *x,
                              int *y, int *cw, int *ch) {
  double area = (double)w * h;
  double log_lo = log(c->ratio_min), log_hi = log(c->ratio_max);
  for (int attempt = 0; attempt < 10; attempt++) {
    double target = area * uniform_in(rng, c->scale_min, c->scale_max);
    double ratio = exp(log_lo + (log_hi - log_lo) * train_rng_uniform(rng));
    int tw = (int)lround(sqrt(target * ratio)), th = (int)lround(sqrt(target / ratio));
    if (tw > 0 && th > 0 && tw <= w && th <= h) {
      *cw = tw;
      *ch = th;
      *x = (int)train_rng_below(rng, (uint64_t)(w - tw) + 1);
      *y = (int)train_rng_below(rng, (uint64_t)(h - th) + 1);
      return;
    }
  }
  double in_ratio = (double)w / h;
  if (in_ratio < c->ratio_min) {
    *cw = w;
    *ch = (int)lround(w / c->ratio_min);
  } else if (in_ratio > c->ratio_max) {
    *ch = h;
    *cw = (int)lround(h * c->ratio_max);
  } else {
    *cw = w;
    *ch = h;
  }
  if (*cw < 1) *cw = 1;
  if (*ch < 1) *ch = 1;
  if (*cw > w) *cw = w;
  if (*ch > h) *ch = h;
  *x = (w - *cw) / 2;
  *y = (h - *ch) / 2;
}

/* Rotation about the center by `degrees` and a shift of (tx, ty) pixels, by
 * inverse mapping with bilinear sampling; outside the source is 0. */
static ledge_status affine_warp(const media_image *src, float degrees, float tx, float ty,
                                media_image *dst, char *err, size_t err_size) {
  ledge_status st = media_image_alloc(dst, src->width, src->height, src->channels, err, err_size);
  if (st) return st;
  const float rad = degrees * (float)M_PI / 180.0f;
  const float cs = cosf(rad), sn = sinf(rad);
  const float cx = 0.5f * (float)src->width, cy = 0.5f * (float)src->height;
  const int w = src->width, h = src->height, nc = src->channels;
  for (int y = 0; y < h; y++) {
    uint8_t *row = dst->data + (size_t)y * dst->stride;
    for (int x = 0; x < w; x++) {
      /* output pixel center, moved back by the shift and rotated back */
      float ox = (float)x + 0.5f - cx - tx, oy = (float)y + 0.5f - cy - ty;
      float sx = cs * ox + sn * oy + cx - 0.5f, sy = -sn * ox + cs * oy + cy - 0.5f;
      int x0 = (int)floorf(sx), y0 = (int)floorf(sy);
      float fx = sx - (float)x0, fy = sy - (float)y0;
      for (int k = 0; k < nc; k++) {
        float acc = 0;
        for (int dy = 0; dy < 2; dy++)
          for (int dx = 0; dx < 2; dx++) {
            int px = x0 + dx, py = y0 + dy;
            if (px < 0 || py < 0 || px >= w || py >= h) continue;
            float wgt = (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy);
            acc += wgt * src->data[(size_t)py * src->stride + (size_t)px * nc + k];
          }
        int v = (int)lrintf(acc);
        row[x * nc + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
      }
    }
  }
  return LEDGE_OK;
}

/* ---- color --------------------------------------------------------------- */

/* Brightness, contrast and saturation as torchvision's ColorJitter defines
 * them (blend with black, with the mean gray, with the pixel's gray), hue as
 * a rotation of the chroma plane in YIQ; values are in [0, 1]. */
static void color_jitter(const train_augment_config *c, train_rng *rng, float *v, int pixels,
                         int nc) {
  float b = uniform_in(rng, 1 - c->brightness, 1 + c->brightness);
  float k = uniform_in(rng, 1 - c->contrast, 1 + c->contrast);
  float s = uniform_in(rng, 1 - c->saturation, 1 + c->saturation);
  float hue = uniform_in(rng, -c->hue, c->hue);
  size_t n = (size_t)pixels * nc;
  for (size_t i = 0; i < n; i++) v[i] = fminf(1.0f, v[i] * b);
  double gray_sum = 0;
  for (int p = 0; p < pixels; p++) {
    const float *q = v + (size_t)p * nc;
    gray_sum += nc == 3 ? 0.299f * q[0] + 0.587f * q[1] + 0.114f * q[2] : q[0];
  }
  float mean = (float)(gray_sum / pixels);
  for (size_t i = 0; i < n; i++) v[i] = fminf(1.0f, fmaxf(0.0f, (v[i] - mean) * k + mean));
  if (nc != 3) return;
  float angle = hue * 2.0f * (float)M_PI, hc = cosf(angle), hs = sinf(angle);
  for (int p = 0; p < pixels; p++) {
    float *q = v + (size_t)p * 3;
    float g = 0.299f * q[0] + 0.587f * q[1] + 0.114f * q[2];
    for (int j = 0; j < 3; j++) q[j] = fminf(1.0f, fmaxf(0.0f, (q[j] - g) * s + g));
    if (hue != 0.0f) {
      float y = 0.299f * q[0] + 0.587f * q[1] + 0.114f * q[2];
      float i = 0.596f * q[0] - 0.274f * q[1] - 0.322f * q[2];
      float qq = 0.211f * q[0] - 0.523f * q[1] + 0.312f * q[2];
      float i2 = i * hc - qq * hs, q2 = i * hs + qq * hc;
      float r = y + 0.956f * i2 + 0.621f * q2;
      float gg = y - 0.272f * i2 - 0.647f * q2;
      float bb = y - 1.106f * i2 + 1.703f * q2;
      q[0] = fminf(1.0f, fmaxf(0.0f, r));
      q[1] = fminf(1.0f, fmaxf(0.0f, gg));
      q[2] = fminf(1.0f, fmaxf(0.0f, bb));
    }
  }
}

/* ---- the whole sample ---------------------------------------------------- */

ledge_status train_augment_apply(const train_augment_config *c, const media_image *src, int train,
                                 uint64_t seed, long epoch, long index, float *out, char *err,
                                 size_t err_size) {
  const int W = c->width, H = c->height, C = c->channels;
  if (!src || !src->data || src->width <= 0 || src->height <= 0)
    return aug_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "empty image");
  if (C != 1 && C != 3)
    return aug_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                    "training images have 1 or 3 channels, not %d", C);
  int random = train && c->type != TRAIN_AUG_NONE;
  train_rng rng;
  train_rng_seed(&rng, seed, (uint64_t)epoch, (uint64_t)index);

  const media_image *cur = src;
  media_image held = {0}, next = {0};
  int owned = 0;
  ledge_status st = LEDGE_OK;
  static const uint8_t black[4] = {0, 0, 0, 0};

  if (src->channels != C) {
    if ((st = media_convert(src, C, &next, err, err_size))) goto done;
    take(&cur, &held, &owned, &next);
  }
  if (c->resize > 0) {
    int w = cur->width, h = cur->height;
    int nw, nh;
    if (w <= h) {
      nw = c->resize;
      nh = (int)lround((double)h * c->resize / w);
    } else {
      nh = c->resize;
      nw = (int)lround((double)w * c->resize / h);
    }
    if (nw < 1) nw = 1;
    if (nh < 1) nh = 1;
    if (nw != w || nh != h) {
      if ((st = resize_to(cur, nw, nh, &next, err, err_size))) goto done;
      take(&cur, &held, &owned, &next);
    }
  }

  if (random && (c->resize > 0 || (cur->width == W && cur->height == H))) {
    /* a random W x H window, reaching up to `pad` pixels (or the size
     * difference) outside the image, which reads as zero padding */
    int lo_x = -c->pad, hi_x = cur->width - W + c->pad;
    int lo_y = -c->pad, hi_y = cur->height - H + c->pad;
    if (hi_x < lo_x) lo_x = hi_x = (cur->width - W) / 2;
    if (hi_y < lo_y) lo_y = hi_y = (cur->height - H) / 2;
    int x = lo_x + (int)train_rng_below(&rng, (uint64_t)(hi_x - lo_x) + 1);
    int y = lo_y + (int)train_rng_below(&rng, (uint64_t)(hi_y - lo_y) + 1);
    if (x != 0 || y != 0 || cur->width != W || cur->height != H) {
      if ((st = media_crop_fill(cur, x, y, W, H, black, &next, err, err_size))) goto done;
      take(&cur, &held, &owned, &next);
    }
  } else if (random) {
    int x, y, cw, ch;
    pick_resized_crop(c, &rng, cur->width, cur->height, &x, &y, &cw, &ch);
    if ((st = media_image_crop(cur, x, y, cw, ch, &next, err, err_size))) goto done;
    take(&cur, &held, &owned, &next);
    if ((st = resize_to(cur, W, H, &next, err, err_size))) goto done;
    take(&cur, &held, &owned, &next);
  } else if (cur->width != W || cur->height != H) {
    if (c->resize > 0 && cur->width >= W && cur->height >= H)
      st = media_image_center_crop(cur, W, H, &next, err, err_size);
    else
      st = resize_to(cur, W, H, &next, err, err_size);
    if (st) goto done;
    take(&cur, &held, &owned, &next);
  }

  int flip = random && train_rng_uniform(&rng) < c->flip_prob;
  if (random && c->type == TRAIN_AUG_CROP_COLOR_TRANSFORM &&
      (c->rotate_degrees > 0 || c->translate > 0)) {
    float degrees = uniform_in(&rng, -c->rotate_degrees, c->rotate_degrees);
    float tx = uniform_in(&rng, -c->translate, c->translate) * (float)W;
    float ty = uniform_in(&rng, -c->translate, c->translate) * (float)H;
    if ((st = affine_warp(cur, degrees, tx, ty, &next, err, err_size))) goto done;
    take(&cur, &held, &owned, &next);
  }

  /* pixels to [0, 1] floats (HWC), flipped as we go */
  size_t pixels = (size_t)W * H;
  float *v = malloc(sizeof *v * pixels * C);
  if (!v) {
    st = aug_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
    goto done;
  }
  for (int y = 0; y < H; y++) {
    const uint8_t *row = cur->data + (size_t)y * cur->stride;
    for (int x = 0; x < W; x++) {
      int sx = flip ? W - 1 - x : x;
      for (int k = 0; k < C; k++)
        v[((size_t)y * W + x) * C + k] = row[sx * C + k] * (1.0f / 255.0f);
    }
  }
  if (random && c->type >= TRAIN_AUG_CROP_COLOR) color_jitter(c, &rng, v, (int)pixels, C);
  /* value = (pixel * scale - mean) / std, with pixel = v * 255 */
  for (int k = 0; k < C; k++) {
    float mul = c->scale * 255.0f / c->std[k], add = -c->mean[k] / c->std[k];
    float *plane = out + (size_t)k * pixels;
    for (size_t p = 0; p < pixels; p++) plane[p] = v[p * C + k] * mul + add;
  }
  free(v);

done:
  if (owned) media_image_free(&held);
  return st;
}

/* ---- the preprocessing a model expects ----------------------------------- */

void train_augment_preprocess_path(const char *model_path, char *out, size_t size) {
  snprintf(out, size, "%s", model_path);
  char *slash = strrchr(out, '/'), *dot = strrchr(out, '.');
  if (dot && (!slash || dot > slash)) *dot = 0;
  strncat(out, ".preprocess.json", size - strlen(out) - 1);
}

ledge_status train_augment_save_preprocess(const train_augment_config *c, const char *path,
                                           char *err, size_t err_size) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) return aug_fail(err, err_size, LEDGE_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
  fprintf(f, "{\"image_shape\": \"%d,%d,%d\", \"resize\": %d, \"scale\": %.9g, \"mean\": [",
          c->channels, c->height, c->width, c->resize, c->scale);
  for (int k = 0; k < c->channels; k++) fprintf(f, "%s%.9g", k ? ", " : "", c->mean[k]);
  fprintf(f, "], \"std\": [");
  for (int k = 0; k < c->channels; k++) fprintf(f, "%s%.9g", k ? ", " : "", c->std[k]);
  fprintf(f, "]}\n");
  int bad = ferror(f);
  bad |= fclose(f);
  if (bad || rename(tmp, path) != 0) {
    remove(tmp);
    return aug_fail(err, err_size, LEDGE_ERR_IO, "cannot write %s: %s", path, strerror(errno));
  }
  return LEDGE_OK;
}

/* Reads up to max numbers of a JSON array (or a single number). */
static int json_floats(const cJSON *item, float *out, int max) {
  if (cJSON_IsNumber(item)) {
    out[0] = (float)item->valuedouble;
    return 1;
  }
  if (!cJSON_IsArray(item)) return -1;
  int n = 0;
  const cJSON *v;
  cJSON_ArrayForEach(v, item) {
    if (!cJSON_IsNumber(v) || n == max) return -1;
    out[n++] = (float)v->valuedouble;
  }
  return n;
}

ledge_status train_augment_load_preprocess(train_augment_config *c, const char *path, char *err,
                                           size_t err_size) {
  FILE *f = fopen(path, "rb");
  if (!f) return aug_fail(err, err_size, LEDGE_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  char text[8192];
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = 0;
  cJSON *root = cJSON_Parse(text);
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return aug_fail(err, err_size, LEDGE_ERR_FORMAT, "%s is not a JSON object", path);
  }
  train_augment_config next = *c;
  ledge_status st = LEDGE_OK;
  const cJSON *shape = cJSON_GetObjectItemCaseSensitive(root, "image_shape");
  const cJSON *resize = cJSON_GetObjectItemCaseSensitive(root, "resize");
  const cJSON *scale = cJSON_GetObjectItemCaseSensitive(root, "scale");
  if (shape) {
    int ch, h, w;
    if (!cJSON_IsString(shape) || sscanf(shape->valuestring, "%d,%d,%d", &ch, &h, &w) != 3)
      st = aug_fail(err, err_size, LEDGE_ERR_FORMAT, "%s: image_shape must be \"C,H,W\"", path);
    else
      next.channels = ch, next.height = h, next.width = w;
  }
  if (st == LEDGE_OK && resize) {
    if (!cJSON_IsNumber(resize) || resize->valuedouble < 0 || resize->valuedouble > 8192)
      st = aug_fail(err, err_size, LEDGE_ERR_FORMAT, "%s: resize must be 0 to 8192", path);
    else
      next.resize = (int)resize->valuedouble;
  }
  if (st == LEDGE_OK && scale) {
    if (!cJSON_IsNumber(scale))
      st = aug_fail(err, err_size, LEDGE_ERR_FORMAT, "%s: scale must be a number", path);
    else
      next.scale = (float)scale->valuedouble;
  }
  const char *keys[2] = {"mean", "std"};
  for (int k = 0; k < 2 && st == LEDGE_OK; k++) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, keys[k]);
    if (!item) continue;
    float v[3] = {0, 0, 0};
    int got = json_floats(item, v, 3);
    if (got != 1 && got != next.channels) {
      st = aug_fail(err, err_size, LEDGE_ERR_FORMAT, "%s: %s needs 1 or %d numbers", path, keys[k],
                    next.channels);
      break;
    }
    float *dst = k ? next.std : next.mean;
    for (int j = 0; j < 3; j++) dst[j] = v[got == 1 ? 0 : (j < got ? j : 0)];
  }
  cJSON_Delete(root);
  if (st == LEDGE_OK) st = train_augment_check(&next, err, err_size);
  if (st == LEDGE_OK) *c = next;
  return st;
}
