/* train/dataset.c: opening a dataset by path, views (subset, split), class
 * names, and the helpers the format readers share. See dataset.h. */
#include "train/dataset.h"

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#include "train/augment.h"
#include "train/data_internal.h"

struct train_dataset {
  data_source *src;
  long count;
  long *indices; /* NULL: the identity over src (a fresh open) */
};

ledge_status data_fail(char *err, size_t err_size, ledge_status st, const char *fmt, ...) {
  if (err && err_size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
  }
  return st;
}

void train_dataset_options_init(train_dataset_options *options) {
  memset(options, 0, sizeof *options);
}

const char *train_dataset_format_name(train_dataset_format format) {
  switch (format) {
    case TRAIN_DATA_IDX: return "idx";
    case TRAIN_DATA_FOLDER: return "folder";
    case TRAIN_DATA_LST: return "lst";
    case TRAIN_DATA_MANIFEST: return "manifest";
  }
  return "unknown";
}

/* ---- shared helpers ------------------------------------------------------ */

ledge_status data_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *size,
                            char *err, size_t err_size) {
  *data = NULL;
  *size = 0;
  FILE *f = fopen(path, "rb");
  if (!f)
    return data_fail(err, err_size, LEDGE_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  size_t cap = 1 << 16, n = 0;
  uint8_t *buf = malloc(cap);
  if (!buf) {
    fclose(f);
    return data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory reading %s", path);
  }
  for (;;) {
    if (n == cap) {
      if (cap >= max_bytes) {
        free(buf);
        fclose(f);
        return data_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                         "%s is larger than the %zu-byte limit", path, max_bytes);
      }
      cap = cap * 2 > max_bytes ? max_bytes : cap * 2;
      uint8_t *grown = realloc(buf, cap);
      if (!grown) {
        free(buf);
        fclose(f);
        return data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory reading %s", path);
      }
      buf = grown;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  int failed = ferror(f);
  fclose(f);
  if (failed) {
    free(buf);
    return data_fail(err, err_size, LEDGE_ERR_IO, "cannot read %s", path);
  }
  *data = buf;
  *size = n;
  return LEDGE_OK;
}

char *data_join_path(const char *dir, const char *rel) {
  if (rel[0] == '/' || !dir || !dir[0] || !strcmp(dir, ".")) return strdup(rel);
  size_t a = strlen(dir), b = strlen(rel);
  char *out = malloc(a + b + 2);
  if (!out) return NULL;
  memcpy(out, dir, a);
  size_t k = a;
  if (a && dir[a - 1] != '/') out[k++] = '/';
  memcpy(out + k, rel, b + 1);
  return out;
}

char *data_dirname(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return strdup(".");
  if (slash == path) return strdup("/");
  return strndup(path, (size_t)(slash - path));
}

static const char *const fashion_mnist_names[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/* Reads one name per line (trailing whitespace trimmed, empty lines kept as
 * names only if inside the list). Returns the count read, -1 on I/O error. */
static int read_class_names(const char *path, char ***names_out, char *err, size_t err_size) {
  uint8_t *data;
  size_t size;
  *names_out = NULL;
  if (data_read_file(path, 16 << 20, &data, &size, err, err_size)) return -1;
  int cap = 16, n = 0;
  char **names = malloc(sizeof *names * (size_t)cap);
  size_t pos = 0;
  while (names && pos < size) {
    size_t end = pos;
    while (end < size && data[end] != '\n') end++;
    size_t len = end - pos;
    while (len && isspace(data[pos + len - 1])) len--;
    if (n == cap) {
      cap *= 2;
      char **grown = realloc(names, sizeof *names * (size_t)cap);
      if (!grown) break;
      names = grown;
    }
    names[n] = strndup((const char *)data + pos, len);
    if (!names[n]) break;
    n++;
    pos = end + 1;
  }
  free(data);
  while (n && names[n - 1][0] == '\0') free(names[--n]); /* trailing blank lines */
  *names_out = names;
  return n;
}

static int path_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

ledge_status data_finish_labels(data_source *src, const train_dataset_options *options, char *err,
                                size_t err_size) {
  int32_t max_label = -1;
  for (long i = 0; i < src->count; i++)
    if (src->labels[i] > max_label) max_label = src->labels[i];
  int wanted = options ? options->num_classes : 0;
  if (wanted > 0 && max_label >= wanted) {
    long at = 0;
    while (src->labels[at] != max_label) at++;
    return data_fail(err, err_size, LEDGE_ERR_FORMAT,
                     "%s: label %d (sample %ld) is out of range for num_classes %d", src->path,
                     (int)max_label, at, wanted);
  }
  int num_classes = wanted > 0 ? wanted : max_label + 1;
  /* a folder's classes all count, even those --limit left without samples */
  if (src->class_names && src->num_classes > num_classes) num_classes = src->num_classes;
  if (num_classes <= 0)
    return data_fail(err, err_size, LEDGE_ERR_FORMAT, "%s: no samples", src->path);
  if (src->class_names && src->num_classes < num_classes) {
    /* names came with the data (folder, manifest) but fewer than the classes */
    char **grown = realloc(src->class_names, sizeof *grown * (size_t)num_classes);
    if (!grown) return data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
    for (int c = src->num_classes; c < num_classes; c++) grown[c] = NULL;
    src->class_names = grown;
  }
  if (!src->class_names) {
    src->class_names = calloc((size_t)num_classes, sizeof *src->class_names);
    if (!src->class_names) return data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
    /* classes.txt beside the data, or the file named in the options */
    char *names_path = NULL;
    if (options && options->class_names_path) {
      names_path = strdup(options->class_names_path);
    } else {
      struct stat st;
      char *dir = (stat(src->path, &st) == 0 && S_ISDIR(st.st_mode)) ? strdup(src->path)
                                                                     : data_dirname(src->path);
      names_path = dir ? data_join_path(dir, "classes.txt") : NULL;
      free(dir);
      if (names_path && !path_exists(names_path)) {
        free(names_path);
        names_path = NULL;
      }
    }
    if (names_path) {
      char **names;
      int n = read_class_names(names_path, &names, err, err_size);
      free(names_path);
      if (n < 0) return LEDGE_ERR_IO;
      for (int c = 0; c < n; c++) {
        if (c < num_classes)
          src->class_names[c] = names[c];
        else
          free(names[c]);
      }
      free(names);
    } else if (src->format == TRAIN_DATA_IDX && num_classes == 10 &&
               (strstr(src->path, "fashion") || strstr(src->path, "Fashion"))) {
      for (int c = 0; c < 10; c++) src->class_names[c] = strdup(fashion_mnist_names[c]);
    }
  }
  for (int c = 0; c < num_classes; c++) {
    if (!src->class_names[c] || !src->class_names[c][0]) {
      free(src->class_names[c]);
      char name[16];
      snprintf(name, sizeof name, "%d", c);
      src->class_names[c] = strdup(name);
    }
    if (!src->class_names[c]) return data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  }
  src->num_classes = num_classes;
  return LEDGE_OK;
}

/* ---- open and views ------------------------------------------------------ */

static void source_release(data_source *src) {
  if (!src || atomic_fetch_sub(&src->refs, 1) != 1) return;
  if (src->files)
    for (long i = 0; i < src->count; i++) free(src->files[i]);
  free(src->files);
  if (src->class_names)
    for (int c = 0; c < src->num_classes; c++) free(src->class_names[c]);
  free(src->class_names);
  free(src->labels);
  free(src->pixels);
  free(src->path);
  free(src);
}

static int has_suffix(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && !strcasecmp(s + a - b, suffix);
}

/* IDX data start with two zero bytes, a type byte and a dimension count. */
static int looks_like_idx(const char *path) {
  gzFile f = gzopen(path, "rb");
  if (!f) return 0;
  unsigned char magic[4];
  int n = gzread(f, magic, 4);
  gzclose(f);
  return n == 4 && magic[0] == 0 && magic[1] == 0 && magic[2] >= 0x08 && magic[2] <= 0x0E &&
         magic[3] >= 1 && magic[3] <= 4;
}

/* Maps the labels of data that names its classes onto options->classes by
 * name, and adopts that list as the class names. */
static ledge_status align_classes(data_source *src, const train_dataset_options *options, char *err,
                                  size_t err_size) {
  int n = options->num_classes_aligned;
  if (n < 1) return data_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "no classes to align to");
  int named = src->class_names != NULL;
  for (int c = 0; named && c < src->num_classes; c++) named = src->class_names[c] != NULL;
  if (named) {
    int *map = malloc(sizeof *map * (size_t)src->num_classes);
    if (!map) return data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
    for (int c = 0; c < src->num_classes; c++) {
      map[c] = -1;
      for (int k = 0; k < n && map[c] < 0; k++)
        if (options->classes[k] && !strcmp(options->classes[k], src->class_names[c])) map[c] = k;
      if (map[c] < 0) {
        ledge_status st = data_fail(err, err_size, LEDGE_ERR_FORMAT,
                                    "%s: class '%s' is not one of the %d training classes",
                                    src->path, src->class_names[c], n);
        free(map);
        return st;
      }
    }
    for (long i = 0; i < src->count; i++)
      if (src->labels[i] >= 0 && src->labels[i] < src->num_classes)
        src->labels[i] = map[src->labels[i]];
    free(map);
  }
  for (long i = 0; i < src->count; i++)
    if (src->labels[i] >= n)
      return data_fail(err, err_size, LEDGE_ERR_FORMAT,
                       "%s: label %d (sample %ld) is out of range for the %d training classes",
                       src->path, (int)src->labels[i], i, n);
  char **names = calloc((size_t)n, sizeof *names);
  if (!names) return data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  for (int k = 0; k < n; k++) {
    names[k] = strdup(options->classes[k] ? options->classes[k] : "");
    if (!names[k]) {
      for (int j = 0; j < k; j++) free(names[j]);
      free(names);
      return data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
    }
  }
  if (src->class_names)
    for (int c = 0; c < src->num_classes; c++) free(src->class_names[c]);
  free(src->class_names);
  src->class_names = names;
  src->num_classes = n;
  return LEDGE_OK;
}

const char *const *train_dataset_class_names(const train_dataset *dataset) {
  return (const char *const *)dataset->src->class_names;
}

ledge_status train_dataset_open(const char *path, const train_dataset_options *options,
                                train_dataset **out, char *err, size_t err_size) {
  *out = NULL;
  if (!path || !path[0])
    return data_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "no dataset path given");
  if (options && options->limit < 0)
    return data_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "limit must not be negative");
  struct stat st;
  if (stat(path, &st) != 0)
    return data_fail(err, err_size, LEDGE_ERR_IO, "cannot open %s: %s", path, strerror(errno));

  data_source *src = calloc(1, sizeof *src);
  if (!src) return data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  atomic_init(&src->refs, 1);
  src->path = strdup(path);
  if (!src->path) {
    free(src);
    return data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  }
  ledge_status status;
  if (S_ISDIR(st.st_mode)) {
    src->format = TRAIN_DATA_FOLDER;
    status = data_folder_open(src, options, err, err_size);
  } else if (has_suffix(path, ".lst")) {
    src->format = TRAIN_DATA_LST;
    status = data_lst_open(src, options, err, err_size);
  } else if (has_suffix(path, ".manifest") || has_suffix(path, ".jsonl") ||
             has_suffix(path, ".json")) {
    src->format = TRAIN_DATA_MANIFEST;
    status = data_manifest_open(src, options, err, err_size);
  } else if (looks_like_idx(path)) {
    src->format = TRAIN_DATA_IDX;
    status = data_idx_open(src, options, err, err_size);
  } else {
    status = data_fail(err, err_size, LEDGE_ERR_FORMAT,
                       "%s is not a dataset: expected an IDX file (gzipped or not), a folder with "
                       "one subfolder per class, a .lst file or a .manifest/.jsonl manifest",
                       path);
  }
  if (status == LEDGE_OK && src->count == 0)
    status = data_fail(err, err_size, LEDGE_ERR_FORMAT, "%s holds no usable samples%s", path,
                       src->skipped ? " (every listed image is missing)" : "");
  if (status == LEDGE_OK && options && options->classes)
    status = align_classes(src, options, err, err_size);
  if (status == LEDGE_OK) status = data_finish_labels(src, options, err, err_size);
  if (status != LEDGE_OK) {
    source_release(src);
    return status;
  }
  train_dataset *ds = calloc(1, sizeof *ds);
  if (!ds) {
    source_release(src);
    return data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  }
  ds->src = src;
  ds->count = src->count;
  *out = ds;
  return LEDGE_OK;
}

void train_dataset_destroy(train_dataset *dataset) {
  if (!dataset) return;
  source_release(dataset->src);
  free(dataset->indices);
  free(dataset);
}

static long source_index(const train_dataset *ds, long i) {
  return ds->indices ? ds->indices[i] : i;
}

train_dataset_format train_dataset_get_format(const train_dataset *dataset) {
  return dataset->src->format;
}
long train_dataset_count(const train_dataset *dataset) { return dataset->count; }
int train_dataset_num_classes(const train_dataset *dataset) { return dataset->src->num_classes; }
long train_dataset_skipped(const train_dataset *dataset) { return dataset->src->skipped; }

const char *train_dataset_class_name(const train_dataset *dataset, int label) {
  if (label < 0 || label >= dataset->src->num_classes) return "?";
  return dataset->src->class_names[label];
}

int train_dataset_label(const train_dataset *dataset, long i) {
  if (i < 0 || i >= dataset->count) return -1;
  return dataset->src->labels[source_index(dataset, i)];
}

void train_dataset_sample_shape(const train_dataset *dataset, int *channels, int *height,
                                int *width) {
  *channels = dataset->src->channels;
  *height = dataset->src->height;
  *width = dataset->src->width;
}

const char *train_dataset_sample_name(const train_dataset *dataset, long i, char *buf,
                                      size_t size) {
  if (i < 0 || i >= dataset->count) {
    snprintf(buf, size, "sample %ld (out of range)", i);
    return buf;
  }
  long k = source_index(dataset, i);
  if (dataset->src->files) {
    snprintf(buf, size, "%s", dataset->src->files[k]);
  } else {
    const char *base = strrchr(dataset->src->path, '/');
    snprintf(buf, size, "%s#%ld", base ? base + 1 : dataset->src->path, k);
  }
  return buf;
}

ledge_status train_dataset_read(const train_dataset *dataset, long i, media_image *out, char *err,
                                size_t err_size) {
  memset(out, 0, sizeof *out);
  if (i < 0 || i >= dataset->count)
    return data_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                     "sample %ld is out of range (0..%ld)", i, dataset->count - 1);
  const data_source *src = dataset->src;
  long k = source_index(dataset, i);
  if (src->pixels) {
    ledge_status st = media_image_alloc(out, src->width, src->height, src->channels, err, err_size);
    if (st) return st;
    size_t bytes = (size_t)src->width * (size_t)src->height * (size_t)src->channels;
    memcpy(out->data, src->pixels + (size_t)k * bytes, bytes);
    return LEDGE_OK;
  }
  uint8_t *data;
  size_t size;
  ledge_status st = data_read_file(src->files[k], 256u << 20, &data, &size, err, err_size);
  if (st) return st;
  char why[256];
  st = media_image_decode(data, size, out, why, sizeof why);
  free(data);
  if (st) return data_fail(err, err_size, st, "%s: %s", src->files[k], why);
  return LEDGE_OK;
}

ledge_status train_dataset_subset(const train_dataset *dataset, const long *indices, long n,
                                  train_dataset **out, char *err, size_t err_size) {
  *out = NULL;
  if (n < 0) return data_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "negative subset size");
  for (long j = 0; j < n; j++)
    if (indices[j] < 0 || indices[j] >= dataset->count)
      return data_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                       "subset index %ld is out of range (0..%ld)", indices[j], dataset->count - 1);
  train_dataset *ds = calloc(1, sizeof *ds);
  long *map = malloc(sizeof *map * (size_t)(n ? n : 1));
  if (!ds || !map) {
    free(ds);
    free(map);
    return data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  }
  for (long j = 0; j < n; j++) map[j] = source_index(dataset, indices[j]);
  ds->src = dataset->src;
  atomic_fetch_add(&ds->src->refs, 1);
  ds->count = n;
  ds->indices = map;
  *out = ds;
  return LEDGE_OK;
}

static int compare_long(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

ledge_status train_dataset_split(const train_dataset *dataset, double fraction, uint64_t seed,
                                 train_dataset **train, train_dataset **validation, char *err,
                                 size_t err_size) {
  *train = *validation = NULL;
  if (!(fraction > 0.0 && fraction < 1.0))
    return data_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                     "validation fraction must be between 0 and 1 (exclusive), not %g", fraction);
  long n = dataset->count;
  int classes = dataset->src->num_classes;
  long *order = malloc(sizeof *order * (size_t)n);
  long *start = calloc((size_t)classes + 1, sizeof *start);
  long *fill = calloc((size_t)classes, sizeof *fill);
  long *val = malloc(sizeof *val * (size_t)n);
  long *trn = malloc(sizeof *trn * (size_t)n);
  ledge_status status = LEDGE_OK;
  if (!order || !start || !fill || !val || !trn) {
    status = data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
    goto done;
  }
  /* bucket the samples by class (counting sort keeps file order inside) */
  for (long i = 0; i < n; i++) start[train_dataset_label(dataset, i) + 1]++;
  for (int c = 0; c < classes; c++) start[c + 1] += start[c];
  for (long i = 0; i < n; i++) {
    int c = train_dataset_label(dataset, i);
    order[start[c] + fill[c]++] = i;
  }
  /* shuffle each class and give its first round(fraction * size) to validation;
   * the rounding remainder is carried so the total is round(fraction * n) */
  long n_val = 0, n_trn = 0;
  double carry = 0.0;
  train_rng rng;
  train_rng_seed(&rng, seed, 0x5b1u, 0);
  for (int c = 0; c < classes; c++) {
    long size = start[c + 1] - start[c];
    train_rng_shuffle(&rng, order + start[c], size);
    double want = fraction * (double)size + carry;
    long take = (long)(want + 0.5);
    if (take > size) take = size;
    carry = want - (double)take;
    for (long j = 0; j < size; j++) {
      if (j < take)
        val[n_val++] = order[start[c] + j];
      else
        trn[n_trn++] = order[start[c] + j];
    }
  }
  if (n_val == 0 || n_trn == 0) {
    status = data_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                       "a validation fraction of %g of %ld samples leaves %s empty", fraction, n,
                       n_val == 0 ? "the validation set" : "the training set");
    goto done;
  }
  /* keep each view in dataset order: deterministic, and reading IDX/file
   * lists front to back stays cache-friendly */
  qsort(trn, (size_t)n_trn, sizeof *trn, compare_long);
  qsort(val, (size_t)n_val, sizeof *val, compare_long);
  status = train_dataset_subset(dataset, trn, n_trn, train, err, err_size);
  if (status == LEDGE_OK)
    status = train_dataset_subset(dataset, val, n_val, validation, err, err_size);
  if (status != LEDGE_OK) {
    train_dataset_destroy(*train);
    *train = NULL;
  }
done:
  free(order);
  free(start);
  free(fill);
  free(val);
  free(trn);
  return status;
}

typedef struct group_of {
  char *key;
  long sample;
} group_of;

static int compare_group(const void *a, const void *b) {
  const group_of *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c ? c : (x->sample > y->sample) - (x->sample < y->sample);
}

ledge_status train_dataset_split_by_group(const train_dataset *dataset, double fraction,
                                          uint64_t seed, const char *group_pattern,
                                          train_dataset **train, train_dataset **validation,
                                          char *err, size_t err_size) {
  *train = *validation = NULL;
  if (!(fraction > 0.0 && fraction < 1.0))
    return data_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                     "validation fraction must be between 0 and 1 (exclusive), not %g", fraction);
  regex_t re;
  int rc = regcomp(&re, group_pattern, REG_EXTENDED);
  if (rc) {
    char why[160];
    regerror(rc, &re, why, sizeof why);
    return data_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT, "group pattern '%s': %s",
                     group_pattern, why);
  }
  long n = dataset->count;
  group_of *g = calloc((size_t)n + 1, sizeof *g);
  long *starts = calloc((size_t)n + 1, sizeof *starts);
  long *trn = malloc(sizeof *trn * (size_t)(n + 1)), *val = malloc(sizeof *val * (size_t)(n + 1));
  ledge_status status = LEDGE_OK;
  long n_groups = 0, n_val = 0, n_trn = 0;
  if (!g || !starts || !trn || !val) {
    status = data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
    goto done;
  }
  for (long i = 0; i < n && status == LEDGE_OK; i++) {
    char name[4096];
    regmatch_t m[2];
    train_dataset_sample_name(dataset, i, name, sizeof name);
    if (regexec(&re, name, 2, m, 0)) {
      status = data_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                         "sample %s does not match the group pattern '%s'", name, group_pattern);
      break;
    }
    regmatch_t k = m[1].rm_so >= 0 ? m[1] : m[0];
    g[i].key = strndup(name + k.rm_so, (size_t)(k.rm_eo - k.rm_so));
    g[i].sample = i;
    if (!g[i].key) status = data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  }
  if (status != LEDGE_OK) goto done;
  /* Sort by key, then the groups are runs; shuffle the runs' order. */
  qsort(g, (size_t)n, sizeof *g, compare_group);
  for (long i = 0; i < n; i++)
    if (i == 0 || strcmp(g[i].key, g[i - 1].key)) starts[n_groups++] = i;
  if (n_groups < 2) {
    status = data_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                       "the group pattern '%s' finds %ld group(s); a split by group needs two or more",
                       group_pattern, n_groups);
    goto done;
  }
  long *order = malloc(sizeof *order * (size_t)n_groups);
  if (!order) {
    status = data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
    goto done;
  }
  for (long k = 0; k < n_groups; k++) order[k] = k;
  train_rng rng;
  train_rng_seed(&rng, seed, 0x9a0u, 0);
  train_rng_shuffle(&rng, order, n_groups);
  long want = (long)(fraction * (double)n + 0.5);
  for (long k = 0; k < n_groups; k++) {
    long gi = order[k], end = gi + 1 < n_groups ? starts[gi + 1] : n;
    /* The last group always trains, so neither view is empty. */
    bool to_val = n_val < want && k < n_groups - 1;
    for (long i = starts[gi]; i < end; i++) {
      if (to_val) val[n_val++] = g[i].sample;
      else trn[n_trn++] = g[i].sample;
    }
  }
  free(order);
  qsort(trn, (size_t)n_trn, sizeof *trn, compare_long);
  qsort(val, (size_t)n_val, sizeof *val, compare_long);
  status = train_dataset_subset(dataset, trn, n_trn, train, err, err_size);
  if (status == LEDGE_OK) status = train_dataset_subset(dataset, val, n_val, validation, err, err_size);
  if (status != LEDGE_OK) {
    train_dataset_destroy(*train);
    *train = NULL;
  }
done:
  for (long i = 0; g && i < n; i++) free(g[i].key);
  free(g);
  free(starts);
  free(trn);
  free(val);
  regfree(&re);
  return status;
}

ledge_status train_dataset_write_class_names(const train_dataset *dataset, const char *path,
                                             char *err, size_t err_size) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f)
    return data_fail(err, err_size, LEDGE_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
  for (int c = 0; c < dataset->src->num_classes; c++)
    fprintf(f, "%s\n", dataset->src->class_names[c]);
  int bad = ferror(f);
  bad |= fclose(f);
  if (bad || rename(tmp, path) != 0) {
    remove(tmp);
    return data_fail(err, err_size, LEDGE_ERR_IO, "cannot write %s: %s", path, strerror(errno));
  }
  return LEDGE_OK;
}
