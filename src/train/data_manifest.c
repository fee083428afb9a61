/* train/data_manifest.c: augmented manifests (JSON Lines) as hosted
 * image-classification training reads them, one object per line:
 *
 *   {"source-ref": "images/cat1.jpg", "class": 3,
 *    "class-metadata": {"class-name": "cat", ...}}
 *
 * The label key is "class" unless options.label_attribute names another
 * (its metadata object is then "<key>-metadata"). A label may be a number
 * or a string holding one. Relative source-ref paths start from the
 * manifest's folder (or options.image_root); s3:// references are refused
 * with a message (nothing here downloads). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "train/data_internal.h"

#define DATA_MAX_LABEL 1000000

int data_manifest_parse_line(const char *line, const char *label_attribute, long *label,
                             char **path, char **class_name, char *why, size_t why_size) {
  *path = NULL;
  *class_name = NULL;
  const char *key = label_attribute ? label_attribute : "class";
  cJSON *obj = cJSON_Parse(line);
  if (!obj || !cJSON_IsObject(obj)) {
    snprintf(why, why_size, "not a JSON object");
    cJSON_Delete(obj);
    return -1;
  }
  int rc = -1;
  const cJSON *ref = cJSON_GetObjectItemCaseSensitive(obj, "source-ref");
  const cJSON *value = cJSON_GetObjectItemCaseSensitive(obj, key);
  double v = NAN;
  if (!cJSON_IsString(ref) || !ref->valuestring[0]) {
    snprintf(why, why_size, "no \"source-ref\" string");
    goto done;
  }
  if (!strncmp(ref->valuestring, "s3://", 5) || strstr(ref->valuestring, "://")) {
    snprintf(why, why_size, "source-ref '%.80s' is a URL; copy the images here and use local paths",
             ref->valuestring);
    goto done;
  }
  if (cJSON_IsNumber(value)) {
    v = value->valuedouble;
  } else if (cJSON_IsString(value)) {
    char *end;
    v = strtod(value->valuestring, &end);
    if (end == value->valuestring || *end) v = NAN;
  } else {
    snprintf(why, why_size, "no \"%.40s\" label", key);
    goto done;
  }
  if (!isfinite(v) || v != floor(v) || v < 0 || v > DATA_MAX_LABEL) {
    snprintf(why, why_size, "label \"%.40s\" is not a non-negative integer", key);
    goto done;
  }
  *label = (long)v;
  char meta_key[128];
  snprintf(meta_key, sizeof meta_key, "%s-metadata", key);
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, meta_key);
  const cJSON *name =
      cJSON_IsObject(meta) ? cJSON_GetObjectItemCaseSensitive(meta, "class-name") : NULL;
  if (cJSON_IsString(name) && name->valuestring[0]) *class_name = strdup(name->valuestring);
  *path = strdup(ref->valuestring);
  rc = *path ? 0 : -1;
  if (rc) snprintf(why, why_size, "out of memory");
done:
  cJSON_Delete(obj);
  return rc;
}

ledge_status data_manifest_open(data_source *src, const train_dataset_options *options, char *err,
                                size_t err_size) {
  uint8_t *data;
  size_t size;
  ledge_status st = data_read_file(src->path, (size_t)1 << 31, &data, &size, err, err_size);
  if (st) return st;
  char *root =
      options && options->image_root ? strdup(options->image_root) : data_dirname(src->path);
  const char *key = options && options->label_attribute ? options->label_attribute : "class";
  if (!root) {
    free(data);
    return data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  }
  long limit = options ? options->limit : 0;
  long cap = 0, line_no = 0;
  int names_cap = 0;
  size_t pos = 0;
  while (pos < size && st == LEDGE_OK) {
    size_t end = pos;
    while (end < size && data[end] != '\n') end++;
    line_no++;
    size_t len = end - pos;
    int blank = 1;
    for (size_t k = 0; k < len; k++)
      if (!isspace(data[pos + k])) blank = 0;
    if (blank || (limit > 0 && src->count >= limit)) {
      pos = end + 1;
      continue;
    }
    if (memchr(data + pos, '\0', len)) {
      st = data_fail(err, err_size, LEDGE_ERR_FORMAT, "%s:%ld: a NUL byte (not JSON Lines)",
                     src->path, line_no);
      break;
    }
    char *line = strndup((const char *)data + pos, len);
    pos = end + 1;
    if (!line) {
      st = data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
      break;
    }
    long label;
    char *rel, *class_name, why[200];
    int bad = data_manifest_parse_line(line, key, &label, &rel, &class_name, why, sizeof why);
    free(line);
    if (bad) {
      st = data_fail(err, err_size, LEDGE_ERR_FORMAT, "%s:%ld: %s", src->path, line_no, why);
      break;
    }
    if (options && options->num_classes > 0 && label >= options->num_classes) {
      st = data_fail(err, err_size, LEDGE_ERR_FORMAT,
                     "%s:%ld: label %ld is out of range for num_classes %d", src->path, line_no,
                     label, options->num_classes);
      free(rel);
      free(class_name);
      break;
    }
    if (class_name) {
      /* remember the first name seen for each label */
      if (label >= names_cap) {
        int cap_names = (int)label + 16;
        char **grown = realloc(src->class_names, sizeof *grown * (size_t)cap_names);
        if (!grown) {
          free(rel);
          free(class_name);
          st = data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
          break;
        }
        for (int c = names_cap; c < cap_names; c++) grown[c] = NULL;
        src->class_names = grown;
        names_cap = cap_names;
        src->num_classes = names_cap; /* so that a failure frees them all */
      }
      if (!src->class_names[label])
        src->class_names[label] = class_name;
      else
        free(class_name);
    }
    char *full = data_join_path(root, rel);
    free(rel);
    if (!full) {
      st = data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
      break;
    }
    struct stat sb;
    if (stat(full, &sb) != 0 || !S_ISREG(sb.st_mode)) {
      src->skipped++;
      free(full);
      continue;
    }
    if (src->count == cap) {
      cap = cap ? cap * 2 : 1024;
      char **grown_files = realloc(src->files, sizeof *grown_files * (size_t)cap);
      if (grown_files) src->files = grown_files;
      int32_t *grown_labels = realloc(src->labels, sizeof *grown_labels * (size_t)cap);
      if (grown_labels) src->labels = grown_labels;
      if (!grown_files || !grown_labels) {
        free(full);
        st = data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
        break;
      }
    }
    src->files[src->count] = full;
    src->labels[src->count] = (int32_t)label;
    src->count++;
  }
  free(root);
  free(data);
  if (st == LEDGE_OK && src->class_names) {
    /* names beyond the largest label are dropped by data_finish_labels' count */
    int max_label = -1;
    for (long i = 0; i < src->count; i++)
      if (src->labels[i] > max_label) max_label = src->labels[i];
    for (int c = max_label + 1; c < src->num_classes; c++) {
      free(src->class_names[c]);
      src->class_names[c] = NULL;
    }
    if (max_label + 1 < src->num_classes) src->num_classes = max_label + 1 > 0 ? max_label + 1 : 0;
  }
  return st;
}
