/* train/data_folder.c: a folder with one subfolder per class holding JPEG
 * and PNG files (torchvision's ImageFolder layout). Classes are the
 * subfolder names in sorted order; hidden entries are ignored; files with
 * other extensions are ignored; a class folder without images is an error
 * (its label would exist with nothing to learn it from). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "train/data_internal.h"

typedef struct name_list {
  char **names;
  long count, cap;
} name_list;

static int list_push(name_list *l, const char *name) {
  if (l->count == l->cap) {
    long cap = l->cap ? l->cap * 2 : 64;
    char **grown = realloc(l->names, sizeof *grown * (size_t)cap);
    if (!grown) return -1;
    l->names = grown;
    l->cap = cap;
  }
  if (!(l->names[l->count] = strdup(name))) return -1;
  l->count++;
  return 0;
}

static void list_free(name_list *l) {
  for (long i = 0; i < l->count; i++) free(l->names[i]);
  free(l->names);
  memset(l, 0, sizeof *l);
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_image_name(const char *name) {
  const char *dot = strrchr(name, '.');
  return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

/* Lists the entries of dir that are directories (want_dirs) or image files,
 * sorted by name. */
static ledge_status list_dir(const char *dir, int want_dirs, name_list *out, char *err,
                             size_t err_size) {
  DIR *d = opendir(dir);
  if (!d) return data_fail(err, err_size, LEDGE_ERR_IO, "cannot open %s: %s", dir, strerror(errno));
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char *full = data_join_path(dir, e->d_name);
    struct stat st;
    int ok = full && stat(full, &st) == 0;
    free(full);
    if (!ok) continue;
    int keep = want_dirs ? S_ISDIR(st.st_mode) : (S_ISREG(st.st_mode) && is_image_name(e->d_name));
    if (keep && list_push(out, e->d_name)) {
      closedir(d);
      return data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory listing %s", dir);
    }
  }
  closedir(d);
  if (out->count) qsort(out->names, (size_t)out->count, sizeof *out->names, compare_names);
  return LEDGE_OK;
}

ledge_status data_folder_open(data_source *src, const train_dataset_options *options, char *err,
                              size_t err_size) {
  name_list classes = {0};
  ledge_status st = list_dir(src->path, 1, &classes, err, err_size);
  if (st) return st;
  if (classes.count == 0) {
    list_free(&classes);
    return data_fail(
        err, err_size, LEDGE_ERR_FORMAT,
        "%s has no class subfolders (expected one folder of JPEG/PNG images per class)", src->path);
  }
  if (options && options->num_classes > 0 && classes.count > options->num_classes) {
    long n = classes.count;
    list_free(&classes);
    return data_fail(err, err_size, LEDGE_ERR_FORMAT,
                     "%s has %ld class folders but num_classes is %d", src->path, n,
                     options->num_classes);
  }
  /* list every class, then take the samples round-robin across classes so
   * that --limit N gives a balanced subset rather than the first classes */
  long limit = options ? options->limit : 0;
  name_list *files = calloc((size_t)classes.count, sizeof *files);
  char **class_dirs = calloc((size_t)classes.count, sizeof *class_dirs);
  long total = 0;
  if (!files || !class_dirs) st = data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  for (long c = 0; st == LEDGE_OK && c < classes.count; c++) {
    class_dirs[c] = data_join_path(src->path, classes.names[c]);
    st = class_dirs[c] ? list_dir(class_dirs[c], 0, &files[c], err, err_size)
                       : data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
    if (st == LEDGE_OK && files[c].count == 0)
      st = data_fail(err, err_size, LEDGE_ERR_FORMAT, "class folder %s holds no JPEG or PNG images",
                     class_dirs[c]);
    if (st == LEDGE_OK) total += files[c].count;
  }
  if (st == LEDGE_OK) {
    long n = limit > 0 && limit < total ? limit : total;
    src->files = calloc((size_t)n, sizeof *src->files);
    src->labels = calloc((size_t)n, sizeof *src->labels);
    if (!src->files || !src->labels)
      st = data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
    for (long round = 0; st == LEDGE_OK && src->count < n; round++)
      for (long c = 0; c < classes.count && src->count < n; c++) {
        if (round >= files[c].count) continue;
        char *full = data_join_path(class_dirs[c], files[c].names[round]);
        if (!full) {
          st = data_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
          break;
        }
        src->files[src->count] = full;
        src->labels[src->count] = (int32_t)c;
        src->count++;
      }
  }
  for (long c = 0; files && c < classes.count; c++) list_free(&files[c]);
  for (long c = 0; class_dirs && c < classes.count; c++) free(class_dirs[c]);
  free(files);
  free(class_dirs);
  if (st == LEDGE_OK) {
    /* the folder names are the class names, in label order */
    src->class_names = classes.names;
    src->num_classes = (int)classes.count;
    classes.names = NULL;
    classes.count = 0;
  }
  list_free(&classes);
  return st;
}
