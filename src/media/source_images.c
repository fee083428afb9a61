/* media/source_images.c: a directory of images (or one image file) as a
 * frame source: files sorted by name, one frame each. See source.h. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "media/encode.h"
#include "media/source_internal.h"
#include "media/transform.h"

#define MAX_FILES 1000000

typedef struct {
  char *dir; /* NULL for a single file */
  char **names;
  size_t count, next;
  media_image current;
  char *path;
} images_state;

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void images_close(media_source *src) {
  images_state *s = src->impl;
  if (!s) return;
  for (size_t i = 0; i < s->count; i++) free(s->names[i]);
  free(s->names);
  free(s->dir);
  free(s->path);
  media_image_free(&s->current);
  free(s);
}

static ledge_status images_read(media_source *src, media_frame *frame, char *err, size_t err_size) {
  images_state *s = src->impl;
  media_image_free(&s->current);
  if (s->next >= s->count) {
    frame->end = 1;
    return LEDGE_OK;
  }
  const char *name = s->names[s->next];
  free(s->path);
  size_t len = (s->dir ? strlen(s->dir) + 1 : 0) + strlen(name) + 1;
  s->path = malloc(len);
  if (!s->path) return media_source_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  if (s->dir) snprintf(s->path, len, "%s/%s", s->dir, name);
  else snprintf(s->path, len, "%s", name);
  media_image img;
  ledge_status st = media_image_read_file(s->path, &img, err, err_size);
  if (st) return st;
  if (img.channels != 3) {
    st = media_convert(&img, 3, &s->current, err, err_size);
    media_image_free(&img);
    if (st) return st;
  } else {
    s->current = img;
  }
  frame->image = s->current;
  frame->name = name;
  double fps = src->options.fps > 0 ? src->options.fps : 1.0;
  frame->pts = (double)s->next / fps;
  s->next++;
  return LEDGE_OK;
}

static const media_source_ops images_ops = {images_read, images_close};

ledge_status media_source_open_images(media_source *src, const char *input, char *err, size_t err_size) {
  struct stat sb;
  if (stat(input, &sb)) return media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: %s", input, strerror(errno));
  images_state *s = calloc(1, sizeof *s);
  if (!s) return media_source_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  src->impl = s;
  src->ops = &images_ops;
  ledge_status st = LEDGE_OK;
  if (S_ISDIR(sb.st_mode)) {
    s->dir = strdup(input);
    DIR *d = opendir(input);
    if (!s->dir || !d) {
      st = media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: %s", input, strerror(errno));
      if (d) closedir(d);
      goto done;
    }
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.' || !media_is_image_path(e->d_name)) continue;
      if (s->count == MAX_FILES) break;
      if (s->count == cap) {
        cap = cap ? cap * 2 : 64;
        char **grown = realloc(s->names, cap * sizeof *grown);
        if (!grown) {
          st = media_source_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory listing %s", input);
          break;
        }
        s->names = grown;
      }
      if (!(s->names[s->count] = strdup(e->d_name))) {
        st = media_source_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory listing %s", input);
        break;
      }
      s->count++;
    }
    closedir(d);
    if (st) goto done;
    if (!s->count) {
      st = media_source_fail(err, err_size, LEDGE_ERR_FORMAT, "%s: no .jpg, .png or .ppm images in this directory",
                             input);
      goto done;
    }
    qsort(s->names, s->count, sizeof *s->names, by_name);
  } else if (S_ISREG(sb.st_mode)) {
    s->names = malloc(sizeof *s->names);
    if (!s->names || !(s->names[0] = strdup(input))) {
      st = media_source_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
      goto done;
    }
    s->count = 1;
  } else {
    st = media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: not a directory or an image file", input);
    goto done;
  }
  src->info.frame_count = (int64_t)s->count;
  src->info.fps = src->options.fps > 0 ? src->options.fps : 1.0;
  src->info.duration = (double)s->count / src->info.fps;
  snprintf(src->info.format, sizeof src->info.format, "images");
  if (s->count == 1 && !s->dir) {
    /* One file: its size is known now, and a bad file fails at open. */
    media_image probe;
    st = media_image_read_file(input, &probe, err, err_size);
    if (st) goto done;
    src->info.width = probe.width;
    src->info.height = probe.height;
    media_image_free(&probe);
  }
done:
  if (st) {
    images_close(src);
    src->impl = NULL;
  }
  return st;
}
