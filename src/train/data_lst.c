/* train/data_lst.c: .lst list files as MXNet's im2rec and hosted
 * image-classification training use them: one sample per line,
 * `index<TAB>label<TAB>relative/path`, labels from 0 (written "3" or
 * "3.000000"). Paths are relative to the .lst file's folder (or
 * options.image_root). Blank lines are ignored; a line with several labels
 * (multi-label) is refused with its line number. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "train/data_internal.h"

/* The largest label accepted (a guard against garbage, far above any real
 * class count). */
#define DATA_MAX_LABEL 1000000

/* Parses a label written as an integer or an integral float. */
static int parse_label(const char *text, long *label) {
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (end == text || *end || errno || !isfinite(v)) return -1;
  if (v != floor(v) || v < 0 || v > DATA_MAX_LABEL) return -2;
  *label = (long)v;
  return 0;
}

int data_lst_parse_line(char *line, long *label, char **path, char *why, size_t why_size) {
  char *fields[8];
  int n = 0;
  char *p = line;
  fields[n++] = p;
  while (*p) {
    if (*p == '\t') {
      *p = '\0';
      if (n == 8) break;
      fields[n++] = p + 1;
    }
    p++;
  }
  if (n < 3) {
    snprintf(why, why_size, "expected index<TAB>label<TAB>path, found %d field(s)", n);
    return -1;
  }
  if (n > 3) {
    snprintf(why, why_size, "%d labels on one line (multi-label lists are not supported)", n - 2);
    return -1;
  }
  char *end;
  errno = 0;
  (void)strtod(fields[0], &end);
  if (end == fields[0] || *end || errno) {
    snprintf(why, why_size, "index '%.40s' is not a number", fields[0]);
    return -1;
  }
  int bad = parse_label(fields[1], label);
  if (bad) {
    snprintf(
        why, why_size,
        bad == -1 ? "label '%.40s' is not a number" : "label '%.40s' is not a non-negative integer",
        fields[1]);
    return -1;
  }
  if (!fields[2][0]) {
    snprintf(why, why_size, "empty image path");
    return -1;
  }
  *path = fields[2];
  return 0;
}

ledge_status data_lst_open(data_source *src, const train_dataset_options *options, char *err,
                           size_t err_size) {
  uint8_t *data;
  size_t size;
  ledge_status st = data_read_file(src->path, (size_t)1 << 31, &data, &size, err, err_size);
  if (st) return st;
  char *root =
      options && options->image_root ? strdup(options->image_root) : data_dirname(src->path);
  if (!root) {
    free(data);
    return data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  }
  long limit = options ? options->limit : 0;
  long cap = 0, line_no = 0;
  size_t pos = 0;
  while (pos < size && st == LEDGE_OK) {
    size_t end = pos;
    while (end < size && data[end] != '\n') end++;
    line_no++;
    size_t len = end - pos;
    while (len && (data[pos + len - 1] == '\r' || data[pos + len - 1] == ' ')) len--;
    if (memchr(data + pos, '\0', len)) {
      st = data_fail(err, err_size, LEDGE_ERR_FORMAT, "%s:%ld: a NUL byte (not a text list)",
                     src->path, line_no);
      break;
    }
    char *line = strndup((const char *)data + pos, len);
    pos = end + 1;
    if (!line) {
      st = data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
      break;
    }
    int blank = 1;
    for (char *q = line; *q; q++)
      if (!isspace((unsigned char)*q)) blank = 0;
    if (blank || (limit > 0 && src->count >= limit)) {
      free(line);
      continue;
    }
    long label;
    char *rel, why[160];
    if (data_lst_parse_line(line, &label, &rel, why, sizeof why)) {
      st = data_fail(err, err_size, LEDGE_ERR_FORMAT, "%s:%ld: %s", src->path, line_no, why);
      free(line);
      break;
    }
    if (options && options->num_classes > 0 && label >= options->num_classes) {
      st = data_fail(err, err_size, LEDGE_ERR_FORMAT,
                     "%s:%ld: label %ld is out of range for num_classes %d", src->path, line_no,
                     label, options->num_classes);
      free(line);
      break;
    }
    char *full = data_join_path(root, rel);
    free(line);
    if (!full) {
      st = data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
      break;
    }
    struct stat sb;
    if (stat(full, &sb) != 0 || !S_ISREG(sb.st_mode)) {
      src->skipped++; /* listed but missing: counted, not fatal */
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
  return st;
}
