/*
 * quantize_data.c: calibration samples from the data people have: an .npy
 * holding N preprocessed samples stacked on the first axis, a folder of
 * images (flat, or one subfolder per class), or an IDX image file
 * (Fashion-MNIST), for NCHW or NHWC inputs. Images are resized to the model input (the shorter side
 * to 256/224 of it, then a center crop, as torchvision evaluates), gray
 * images repeated over three channels when the model wants color, and
 * normalized as (pixel / 255 - mean) / std.
 */
#include "optimize/quantize_data.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "ledge/npy.h"
#include "media/transform.h"
#include "train/dataset.h"

struct lg_calib_data {
  int64_t total;  /* samples the data holds */
  int64_t count;  /* samples used */
  int64_t stride; /* sample i is total index i * stride (spread over classes) */
  int channels, height, width;
  bool nhwc;
  ledge_tensor *npy;      /* .npy */
  char **files;           /* flat image folder */
  train_dataset *dataset; /* IDX, class folders */
  lg_calib_data_options opt;
};

void lg_calib_data_options_init(lg_calib_data_options *o) {
  memset(o, 0, sizeof *o);
  o->samples = 100;
  o->mean[0] = 0.485f, o->mean[1] = 0.456f, o->mean[2] = 0.406f;
  o->std[0] = 0.229f, o->std[1] = 0.224f, o->std[2] = 0.225f;
}

static bool has_ext(const char *name, const char *ext) {
  size_t n = strlen(name), e = strlen(ext);
  return n > e && !strcasecmp(name + n - e, ext);
}

static bool is_image_name(const char *name) {
  return has_ext(name, ".jpg") || has_ext(name, ".jpeg") || has_ext(name, ".png");
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Image files directly in dir (sorted), or 0 when it has subfolders. */
static int64_t list_flat_images(const char *dir, char ***out) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  char **files = NULL;
  int64_t n = 0, cap = 0;
  bool subdirs = false;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(path, &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) subdirs = true;
    if (!S_ISREG(st.st_mode) || !is_image_name(e->d_name)) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **grown = realloc(files, sizeof(char *) * (size_t)cap);
      if (!grown) break;
      files = grown;
    }
    files[n++] = strdup(path);
  }
  closedir(d);
  if (subdirs && n == 0) {
    free(files);
    return 0;
  }
  qsort(files, (size_t)n, sizeof(char *), cmp_str);
  *out = files;
  return n;
}

void lg_calib_data_close(lg_calib_data *d) {
  if (!d) return;
  ledge_tensor_destroy(d->npy);
  if (d->files)
    for (int64_t i = 0; i < d->total; i++) free(d->files[i]);
  free(d->files);
  train_dataset_destroy(d->dataset);
  free(d);
}

lg_status lg_calib_data_open(const char *path, const ledge_tensor_info *input,
                             const lg_calib_data_options *opt, lg_calib_data **out) {
  *out = NULL;
  if (input->rank != 4)
    return lg_error(
        LEDGE_ERR_UNSUPPORTED,
        "calibration: the model input must be an NCHW image batch (rank 4), not rank %d",
        input->rank);
  lg_calib_data *d = calloc(1, sizeof *d);
  if (!d) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  d->opt = *opt;
  /* NCHW, or NHWC (TF.js models) when only the last dimension looks like channels. */
  d->nhwc =
      (input->dims[3] == 1 || input->dims[3] == 3) && input->dims[1] != 1 && input->dims[1] != 3;
  d->channels = (int)input->dims[d->nhwc ? 3 : 1];
  d->height = (int)input->dims[d->nhwc ? 1 : 2];
  d->width = (int)input->dims[d->nhwc ? 2 : 3];
  if (d->channels < 1 || d->channels > 4 || d->height < 1 || d->width < 1) {
    lg_calib_data_close(d);
    return lg_error(LEDGE_ERR_UNSUPPORTED,
                    "calibration: the model input needs a known channel count and size");
  }
  struct stat st;
  if (stat(path, &st) != 0) {
    lg_calib_data_close(d);
    return lg_error(LEDGE_ERR_IO, "calibration data '%s' does not exist", path);
  }
  lg_status s = LEDGE_OK;
  if (S_ISREG(st.st_mode) && has_ext(path, ".npy")) {
    s = ledge_npy_load(path, &d->npy);
    if (s == LEDGE_OK) {
      int64_t per = (int64_t)d->channels * d->height * d->width;
      int64_t n = ledge_tensor_count(d->npy);
      if (ledge_tensor_dtype(d->npy) != LEDGE_FLOAT32 || n % per || n == 0)
        s = lg_error(
            LEDGE_ERR_SHAPE,
            "calibration: '%s' must hold float32 samples of %dx%dx%d stacked on the first axis",
            path, d->channels, d->height, d->width);
      d->total = n / per;
    }
  } else if (S_ISDIR(st.st_mode) && (d->total = list_flat_images(path, &d->files)) > 0) {
    /* a flat folder of images */
  } else {
    if (d->total < 0) d->total = 0;
    char err[512] = "";
    s = train_dataset_open(path, NULL, &d->dataset, err, sizeof err);
    if (s != LEDGE_OK)
      s = lg_error(s, "calibration: %s", err);
    else
      d->total = train_dataset_count(d->dataset);
  }
  if (s == LEDGE_OK && d->total < 1)
    s = lg_error(LEDGE_ERR_INVALID_ARGUMENT, "calibration: '%s' holds no samples", path);
  if (s != LEDGE_OK) {
    lg_calib_data_close(d);
    return s;
  }
  d->count = opt->samples > 0 && opt->samples < d->total ? opt->samples : d->total;
  d->stride = d->total / d->count;
  if (d->stride < 1) d->stride = 1;
  *out = d;
  return LEDGE_OK;
}

int64_t lg_calib_data_count(const lg_calib_data *d) { return d->count; }
int64_t lg_calib_data_total(const lg_calib_data *d) { return d->total; }

static lg_status media_image_to_float_norm(const lg_calib_data *d, const media_image *img,
                                           float *dst, char *err, size_t err_size) {
  media_normalize norm;
  media_normalize_init(&norm);
  for (int c = 0; c < 4; c++) {
    norm.mean[c] = d->opt.mean[c];
    norm.std[c] = d->opt.std[c] != 0 ? d->opt.std[c] : 1.0f;
  }
  norm.layout = d->nhwc ? MEDIA_LAYOUT_NHWC : MEDIA_LAYOUT_NCHW;
  return media_image_to_float(img, &norm, dst, err, err_size);
}

/* Resize (shorter side to 256/224 of the target, center crop) and normalize. */
static lg_status image_to_input(const lg_calib_data *d, const media_image *img, float *dst) {
  char err[256] = "";
  media_image conv = {0}, sized = {0}, crop = {0};
  const media_image *src = img;
  lg_status s = LEDGE_OK;
  int want_c = d->channels == 1 ? 1 : 3;
  if (img->channels != want_c) {
    s = media_convert(img, want_c, &conv, err, sizeof err);
    src = &conv;
  }
  if (s == LEDGE_OK) {
    int shorter = d->height < d->width ? d->height : d->width;
    bool small = img->width <= d->width && img->height <= d->height; /* e.g. 28x28 Fashion-MNIST */
    if (small || d->opt.no_crop) {
      s = media_image_resize(src, d->width, d->height, &sized, err, sizeof err);
      if (s == LEDGE_OK) s = media_image_to_float_norm(d, &sized, dst, err, sizeof err);
    } else {
      s = media_image_resize_shorter(src, shorter * 256 / 224, &sized, err, sizeof err);
      if (s == LEDGE_OK)
        s = media_image_center_crop(&sized, d->width, d->height, &crop, err, sizeof err);
      if (s == LEDGE_OK) s = media_image_to_float_norm(d, &crop, dst, err, sizeof err);
    }
  }
  media_image_free(&conv);
  media_image_free(&sized);
  media_image_free(&crop);
  if (s != LEDGE_OK) return lg_error(s, "calibration: %s", err);
  return LEDGE_OK;
}

lg_status lg_calib_data_get(void *ctx, int64_t i, float *dst, int64_t n) {
  const lg_calib_data *d = ctx;
  int64_t per = (int64_t)d->channels * d->height * d->width;
  if (n != per)
    return lg_error(LEDGE_ERR_SHAPE, "calibration: a sample has %lld values, the input %lld",
                    (long long)per, (long long)n);
  int64_t index = (i * d->stride) % d->total;
  if (d->npy) {
    memcpy(dst, (const float *)ledge_tensor_data(d->npy) + index * per,
           sizeof(float) * (size_t)per);
    return LEDGE_OK;
  }
  media_image img = {0};
  char err[512] = "";
  lg_status s;
  if (d->files) {
    FILE *f = fopen(d->files[index], "rb");
    if (!f) return lg_error(LEDGE_ERR_IO, "calibration: cannot open '%s'", d->files[index]);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *bytes = size > 0 ? malloc((size_t)size) : NULL;
    bool ok = bytes && fread(bytes, 1, (size_t)size, f) == (size_t)size;
    fclose(f);
    if (!ok) {
      free(bytes);
      return lg_error(LEDGE_ERR_IO, "calibration: cannot read '%s'", d->files[index]);
    }
    s = media_image_decode(bytes, (size_t)size, &img, err, sizeof err);
    free(bytes);
    if (s != LEDGE_OK) return lg_error(s, "calibration: '%s': %s", d->files[index], err);
  } else {
    s = train_dataset_read(d->dataset, (long)index, &img, err, sizeof err);
    if (s != LEDGE_OK) return lg_error(s, "calibration: %s", err);
  }
  s = image_to_input(d, &img, dst);
  media_image_free(&img);
  return s;
}
