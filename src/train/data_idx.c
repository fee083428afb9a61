/* train/data_idx.c: IDX image and label files (LeCun's MNIST format, also
 * Fashion-MNIST's), gzipped or not; zlib reads both transparently.
 *
 * An IDX file is: two zero bytes, a type byte (0x08 = unsigned byte), the
 * number of dimensions, then each dimension as a big-endian uint32, then the
 * data row-major. Images are N x H x W (gray) or N x H x W x C; labels N. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#include "train/data_internal.h"

/* The most bytes of pixels an IDX dataset may hold in memory. */
#define IDX_MAX_BYTES ((int64_t)8 << 30)

ledge_status data_idx_parse_header(const uint8_t *data, size_t size, int *ndims, int64_t dims[4],
                                   size_t *header_bytes, char *err, size_t err_size) {
  if (size < 4 || data[0] != 0 || data[1] != 0)
    return data_fail(err, err_size, LEDGE_ERR_FORMAT, "not an IDX file (bad magic number)");
  if (data[2] != 0x08)
    return data_fail(err, err_size, LEDGE_ERR_UNSUPPORTED,
                     "IDX element type 0x%02x is not supported (only unsigned bytes, 0x08)",
                     data[2]);
  int n = data[3];
  if (n < 1 || n > 4)
    return data_fail(err, err_size, LEDGE_ERR_FORMAT,
                     "IDX file has %d dimensions (1 to 4 expected)", n);
  if (size < 4 + 4 * (size_t)n)
    return data_fail(err, err_size, LEDGE_ERR_FORMAT, "IDX header is truncated");
  for (int d = 0; d < n; d++) {
    const uint8_t *p = data + 4 + 4 * d;
    dims[d] = ((int64_t)p[0] << 24) | ((int64_t)p[1] << 16) | ((int64_t)p[2] << 8) | p[3];
  }
  *ndims = n;
  *header_bytes = 4 + 4 * (size_t)n;
  return LEDGE_OK;
}

/* Reads exactly n bytes (chunked: gzread takes an unsigned count). */
static int gz_read_all(gzFile f, uint8_t *dst, size_t n) {
  while (n) {
    unsigned chunk = n > (1u << 30) ? (1u << 30) : (unsigned)n;
    int got = gzread(f, dst, chunk);
    if (got <= 0) return -1;
    dst += got;
    n -= (size_t)got;
  }
  return 0;
}

/* Opens an IDX file and reads its header; *f is left at the data. */
static ledge_status idx_open(const char *path, gzFile *f, int *ndims, int64_t dims[4], char *err,
                             size_t err_size) {
  *f = gzopen(path, "rb");
  if (!*f)
    return data_fail(err, err_size, LEDGE_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  gzbuffer(*f, 1 << 17);
  uint8_t header[4 + 16];
  int got = gzread(*f, header, 4);
  if (got == 4 && header[3] >= 1 && header[3] <= 4) {
    int more = gzread(*f, header + 4, 4u * header[3]);
    if (more > 0) got += more;
  }
  size_t header_bytes;
  char why[160];
  ledge_status st = data_idx_parse_header(header, got > 0 ? (size_t)got : 0, ndims, dims,
                                          &header_bytes, why, sizeof why);
  if (st) {
    gzclose(*f);
    *f = NULL;
    return data_fail(err, err_size, st, "%s: %s", path, why);
  }
  return LEDGE_OK;
}

/* Replaces the first `from` in s by `to` (in place in a buffer of size cap). */
static int replace_once(char *s, size_t cap, const char *from, const char *to) {
  char *at = strstr(s, from);
  if (!at) return 0;
  size_t a = strlen(from), b = strlen(to), rest = strlen(at + a);
  if ((size_t)(at - s) + b + rest + 1 > cap) return 0;
  memmove(at + b, at + a, rest + 1);
  memcpy(at, to, b);
  return 1;
}

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The labels file beside an images file by the standard naming:
 * train-images-idx3-ubyte[.gz] -> train-labels-idx1-ubyte[.gz] (gzipped or
 * not, whichever exists), t10k-images.idx3-ubyte -> t10k-labels.idx1-ubyte. */
static int find_labels_path(const char *images, char *out, size_t cap) {
  const char *base = strrchr(images, '/');
  base = base ? base + 1 : images;
  size_t dir_len = (size_t)(base - images);
  char name[1024];
  if (strlen(base) >= sizeof name || dir_len + sizeof name > cap) return 0;
  strcpy(name, base);
  int changed = replace_once(name, sizeof name, "images", "labels");
  changed |= replace_once(name, sizeof name, "idx3", "idx1") |
             replace_once(name, sizeof name, "idx4", "idx1");
  if (!changed) return 0;
  /* the name as is, then with .gz toggled */
  char alt[1024 + 4];
  size_t len = strlen(name);
  if (len > 3 && !strcmp(name + len - 3, ".gz"))
    snprintf(alt, sizeof alt, "%.*s", (int)(len - 3), name);
  else
    snprintf(alt, sizeof alt, "%s.gz", name);
  const char *candidates[2] = {name, alt};
  for (int k = 0; k < 2; k++) {
    snprintf(out, cap, "%.*s%s", (int)dir_len, images, candidates[k]);
    if (file_exists(out)) return 1;
  }
  return 0;
}

ledge_status data_idx_open(data_source *src, const train_dataset_options *options, char *err,
                           size_t err_size) {
  gzFile f;
  int ndims;
  int64_t dims[4];
  ledge_status st = idx_open(src->path, &f, &ndims, dims, err, err_size);
  if (st) return st;
  if (ndims != 3 && ndims != 4) {
    gzclose(f);
    return data_fail(err, err_size, LEDGE_ERR_FORMAT,
                     "%s is an IDX file with %d dimension(s), not images (N x H x W[ x C]); pass "
                     "the images file, its labels are found beside it",
                     src->path, ndims);
  }
  int64_t n = dims[0], h = dims[1], w = dims[2], c = ndims == 4 ? dims[3] : 1;
  if (h <= 0 || w <= 0 || h > MEDIA_IMAGE_MAX_SIDE || w > MEDIA_IMAGE_MAX_SIDE ||
      (c != 1 && c != 3)) {
    gzclose(f);
    return data_fail(err, err_size, LEDGE_ERR_FORMAT,
                     "%s: images of %lldx%lld with %lld channel(s) are not supported", src->path,
                     (long long)h, (long long)w, (long long)c);
  }
  long limit = options ? options->limit : 0;
  int64_t use = (limit > 0 && limit < n) ? limit : n;
  int64_t sample_bytes = h * w * c;
  if (use * sample_bytes > IDX_MAX_BYTES) {
    gzclose(f);
    return data_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                     "%s: %lld images of %lld bytes exceed the %lld-byte limit (use --limit)",
                     src->path, (long long)use, (long long)sample_bytes, (long long)IDX_MAX_BYTES);
  }

  /* labels: given, or found beside the images */
  char labels_path[4096];
  if (options && options->labels_path) {
    snprintf(labels_path, sizeof labels_path, "%s", options->labels_path);
  } else if (!find_labels_path(src->path, labels_path, sizeof labels_path)) {
    gzclose(f);
    return data_fail(err, err_size, LEDGE_ERR_IO,
                     "%s: no labels file found beside it (expected e.g. train-labels-idx1-ubyte.gz "
                     "for train-images-idx3-ubyte.gz)",
                     src->path);
  }
  gzFile lf;
  int lndims;
  int64_t ldims[4];
  st = idx_open(labels_path, &lf, &lndims, ldims, err, err_size);
  if (st) {
    gzclose(f);
    return st;
  }
  if (lndims != 1 || ldims[0] != n) {
    gzclose(f);
    gzclose(lf);
    if (lndims != 1)
      return data_fail(err, err_size, LEDGE_ERR_FORMAT,
                       "%s: a labels file has 1 dimension, this one has %d", labels_path, lndims);
    return data_fail(err, err_size, LEDGE_ERR_SHAPE,
                     "%s holds %lld labels but %s holds %lld images", labels_path,
                     (long long)ldims[0], src->path, (long long)n);
  }

  src->pixels = malloc((size_t)(use > 0 ? use * sample_bytes : 1));
  src->labels = malloc(sizeof *src->labels * (size_t)(use ? use : 1));
  uint8_t *raw_labels = malloc((size_t)(use ? use : 1));
  if (!src->pixels || !src->labels || !raw_labels) {
    free(raw_labels);
    gzclose(f);
    gzclose(lf);
    return data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory for %lld images",
                     (long long)use);
  }
  int bad_images = gz_read_all(f, src->pixels, (size_t)(use * sample_bytes));
  int bad_labels = gz_read_all(lf, raw_labels, (size_t)use);
  gzclose(f);
  gzclose(lf);
  if (bad_images || bad_labels) {
    free(raw_labels);
    return data_fail(err, err_size, LEDGE_ERR_FORMAT, "%s is truncated (or not a valid gzip file)",
                     bad_images ? src->path : labels_path);
  }
  for (int64_t i = 0; i < use; i++) src->labels[i] = raw_labels[i];
  free(raw_labels);
  src->count = (long)use;
  src->channels = (int)c;
  src->height = (int)h;
  src->width = (int)w;
  return LEDGE_OK;
}
