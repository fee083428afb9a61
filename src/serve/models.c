/* serve/models.c: the model registry: loading, sidecar metadata, warm-up,
 * versions and the zero-downtime swap. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "serve/internal.h"

static int fail(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, size, fmt, ap);
  va_end(ap);
  return 1;
}

int serve_slot_find(serve_server *s, const char *name) {
  for (int i = 0; i < s->n_slots; i++)
    if (!strcmp(s->slots[i].name, name)) return i;
  return -1;
}

serve_version *serve_acquire(serve_server *s, int slot) {
  pthread_mutex_lock(&s->lock);
  serve_version *v = s->slots[slot].current;
  if (v) atomic_fetch_add(&v->refs, 1);
  pthread_mutex_unlock(&s->lock);
  return v;
}

void serve_version_free(serve_version *v) {
  if (!v) return;
  for (int i = 0; i < v->n_sessions; i++) ledge_session_destroy(v->sessions[i]);
  free(v->sessions);
  ledge_model_destroy(v->model);
  for (int i = 0; i < v->n_labels; i++) free(v->labels[i]);
  free(v->labels);
  free(v->path);
  free(v);
}

void serve_release(serve_version *v) {
  if (v && atomic_fetch_sub(&v->refs, 1) == 1) serve_version_free(v);
}

static char *read_file(const char *path, size_t max, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = malloc(max + 1);
  size_t n = buf ? fread(buf, 1, max, f) : 0;
  fclose(f);
  if (!buf) return NULL;
  buf[n] = 0;
  if (len) *len = n;
  return buf;
}

static int add_label(serve_version *v, const char *text, size_t n) {
  char **p = realloc(v->labels, sizeof *p * (size_t)(v->n_labels + 1));
  if (!p) return 1;
  v->labels = p;
  if (!(p[v->n_labels] = strndup(text, n))) return 1;
  v->n_labels++;
  return 0;
}

static int load_labels_file(serve_version *v, const char *path, char *err, size_t err_size) {
  char *text = read_file(path, 16 << 20, NULL);
  if (!text) return fail(err, err_size, "cannot read labels file '%s': %s", path, strerror(errno));
  for (char *line = text; *line;) {
    char *end = strchr(line, '\n');
    size_t n = end ? (size_t)(end - line) : strlen(line);
    size_t m = n;
    while (m && (line[m - 1] == '\r' || line[m - 1] == ' ')) m--;
    if (add_label(v, line, m)) {
      free(text);
      return fail(err, err_size, "out of memory");
    }
    line += n + (end ? 1 : 0);
  }
  free(text);
  return 0;
}

static bool float_list(const cJSON *a, float *out, int n) {
  if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) return false;
  for (int i = 0; i < n; i++) {
    const cJSON *x = cJSON_GetArrayItem(a, i);
    if (!cJSON_IsNumber(x)) return false;
    out[i] = (float)x->valuedouble;
  }
  return true;
}

/* The sidecar: MODEL.json next to MODEL.onnx (or MODEL.onnx.json). */
static int read_sidecar(const char *model_path, serve_preprocess *pre, cJSON **labels, bool *found,
                        char *err, size_t err_size) {
  char path[4200];
  snprintf(path, sizeof path, "%s", model_path);
  char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
  if (dot && (!slash || dot > slash)) strcpy(dot, ".json");
  else strncat(path, ".json", sizeof path - strlen(path) - 1);
  size_t len;
  char *text = read_file(path, 1 << 20, &len);
  if (!text) {
    snprintf(path, sizeof path, "%s.json", model_path);
    text = read_file(path, 1 << 20, &len);
  }
  *found = text != NULL;
  if (!text) return 0;
  cJSON *j = cJSON_ParseWithLength(text, len);
  free(text);
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return fail(err, err_size, "sidecar '%s' is not a JSON object", path);
  }
  const cJSON *x;
  int bad = 0;
  if ((x = cJSON_GetObjectItem(j, "resize"))) {
    if (cJSON_IsNumber(x) && x->valueint > 0 && x->valueint <= 8192) pre->resize_shorter = x->valueint;
    else bad = fail(err, err_size, "sidecar '%s': resize must be a positive size", path);
  }
  if ((x = cJSON_GetObjectItem(j, "size"))) {
    if (cJSON_IsNumber(x) && x->valueint > 0 && x->valueint <= 8192) pre->width = pre->height = x->valueint;
    else if (cJSON_IsArray(x) && cJSON_GetArraySize(x) == 2 && cJSON_GetArrayItem(x, 0)->valueint > 0 &&
             cJSON_GetArrayItem(x, 1)->valueint > 0) {
      pre->height = cJSON_GetArrayItem(x, 0)->valueint; /* [height, width] */
      pre->width = cJSON_GetArrayItem(x, 1)->valueint;
    } else bad = fail(err, err_size, "sidecar '%s': size must be N or [height, width]", path);
  }
  if ((x = cJSON_GetObjectItem(j, "scale"))) {
    if (cJSON_IsNumber(x) && x->valuedouble != 0) pre->norm.scale = (float)x->valuedouble, pre->have_norm = true;
    else bad = fail(err, err_size, "sidecar '%s': scale must be a non-zero number", path);
  }
  if ((x = cJSON_GetObjectItem(j, "mean"))) {
    if (float_list(x, pre->norm.mean, 3)) pre->have_norm = true;
    else bad = fail(err, err_size, "sidecar '%s': mean must be a list of 3 numbers", path);
  }
  if ((x = cJSON_GetObjectItem(j, "std"))) {
    if (float_list(x, pre->norm.std, 3) && pre->norm.std[0] && pre->norm.std[1] && pre->norm.std[2])
      pre->have_norm = true;
    else bad = fail(err, err_size, "sidecar '%s': std must be a list of 3 non-zero numbers", path);
  }
  if ((x = cJSON_GetObjectItem(j, "layout"))) {
    if (cJSON_IsString(x) && !strcmp(x->valuestring, "NCHW")) pre->norm.layout = MEDIA_LAYOUT_NCHW, pre->layout_given = true;
    else if (cJSON_IsString(x) && !strcmp(x->valuestring, "NHWC")) pre->norm.layout = MEDIA_LAYOUT_NHWC, pre->layout_given = true;
    else bad = fail(err, err_size, "sidecar '%s': layout must be \"NCHW\" or \"NHWC\"", path);
  }
  if ((x = cJSON_GetObjectItem(j, "bgr"))) pre->norm.bgr = cJSON_IsTrue(x);
  if ((x = cJSON_GetObjectItem(j, "output"))) {
    if (cJSON_IsString(x) && !strcmp(x->valuestring, "auto")) pre->output_mode = 0;
    else if (cJSON_IsString(x) && !strcmp(x->valuestring, "softmax")) pre->output_mode = 1;
    else if (cJSON_IsString(x) && !strcmp(x->valuestring, "raw")) pre->output_mode = 2;
    else bad = fail(err, err_size, "sidecar '%s': output must be \"auto\", \"softmax\" or \"raw\"", path);
  }
  if ((x = cJSON_GetObjectItem(j, "labels"))) *labels = cJSON_DetachItemViaPointer(j, (cJSON *)x);
  if ((x = cJSON_GetObjectItem(j, "labels_file")) && cJSON_IsString(x)) {
    /* relative to the sidecar's folder */
    static _Thread_local char lf[4200];
    if (x->valuestring[0] == '/') snprintf(lf, sizeof lf, "%s", x->valuestring);
    else {
      char *sl = strrchr(path, '/');
      snprintf(lf, sizeof lf, "%.*s%s", sl ? (int)(sl - path + 1) : 0, path, x->valuestring);
    }
    pre->labels_file = lf;
  }
  cJSON_Delete(j);
  return bad;
}

static int setup_version(serve_server *s, serve_version *v, char *err, size_t err_size) {
  if (ledge_model_input_count(v->model) != 1)
    return fail(err, err_size, "'%s' has %d inputs; ledge serve runs models with one input", v->path,
                ledge_model_input_count(v->model));
  serve_preprocess pre = s->cfg.pre;
  if (!s->cfg.pre_given) memset(&pre, 0, sizeof pre), media_normalize_init(&pre.norm);
  cJSON *labels = NULL;
  bool found = false;
  if (read_sidecar(v->path, &pre, &labels, &found, err, err_size)) {
    cJSON_Delete(labels);
    return 1;
  }
  ledge_tensor_info info;
  ledge_model_input_info(v->model, 0, &info);
  if (info.rank < 0) return fail(err, err_size, "input '%s' has an unknown rank", info.name);
  v->batch_fixed = info.rank > 0 && info.dims[0] == 1;
  /* Image inputs: [N, C, H, W] with C 1 or 3, or [N, H, W, C]. */
  int c = 0, h = 0, w = 0;
  media_layout layout = pre.norm.layout;
  if (info.rank == 4 && info.dtype == LEDGE_FLOAT32) {
    bool nchw = info.dims[1] == 1 || info.dims[1] == 3, nhwc = info.dims[3] == 1 || info.dims[3] == 3;
    if (!pre.layout_given) layout = nchw ? MEDIA_LAYOUT_NCHW : MEDIA_LAYOUT_NHWC;
    if (layout == MEDIA_LAYOUT_NCHW && nchw) c = (int)info.dims[1], h = (int)info.dims[2], w = (int)info.dims[3];
    if (layout == MEDIA_LAYOUT_NHWC && nhwc) c = (int)info.dims[3], h = (int)info.dims[1], w = (int)info.dims[2];
  }
  if (pre.width > 0) w = pre.width, h = pre.height;
  /* Unknown spatial dimensions need a size from the sidecar or flags. */
  for (int d = 0; d < info.rank; d++)
    if (info.dims[d] < 0) info.dims[d] = 1;
  if (c == 3 && h > 0 && w > 0) {
    v->image_ok = true;
    v->channels = c;
    if (layout == MEDIA_LAYOUT_NCHW) info.dims[2] = h, info.dims[3] = w;
    else info.dims[1] = h, info.dims[2] = w;
  }
  v->input = info;
  v->pre.width = w;
  v->pre.height = h;
  v->pre.resize_shorter = pre.resize_shorter;
  v->pre.norm = pre.norm;
  v->pre.norm.layout = layout;
  v->output_mode = pre.output_mode;
  if (cJSON_IsArray(labels)) {
    const cJSON *l;
    cJSON_ArrayForEach(l, labels) if (add_label(v, cJSON_IsString(l) ? l->valuestring : "", strlen(cJSON_IsString(l) ? l->valuestring : ""))) {
      cJSON_Delete(labels);
      return fail(err, err_size, "out of memory");
    }
  }
  cJSON_Delete(labels);
  if (!v->n_labels && pre.labels_file && load_labels_file(v, pre.labels_file, err, err_size)) return 1;
  /* One session per worker, planned and warmed at the declared shape. */
  v->sessions = calloc((size_t)s->n_workers, sizeof *v->sessions);
  if (!v->sessions) return fail(err, err_size, "out of memory");
  ledge_tensor *zeros = NULL;
  if (ledge_tensor_create(info.dtype, info.rank, info.dims, &zeros) != LEDGE_OK)
    return fail(err, err_size, "cannot make a warm-up input: %s", ledge_last_error());
  ledge_session_options opt;
  ledge_session_options_init(&opt);
  opt.num_threads = s->cfg.intra_threads;
  int rc = 0;
  for (int i = 0; i < s->n_workers && !rc; i++) {
    if (ledge_session_create(v->model, &opt, &v->sessions[i]) != LEDGE_OK) {
      rc = fail(err, err_size, "cannot create a session: %s", ledge_last_error());
      break;
    }
    v->n_sessions++;
    if (ledge_session_set_input_shape(v->sessions[i], 0, info.rank, info.dims) != LEDGE_OK ||
        ledge_session_run(v->sessions[i], &zeros, 1, NULL, 0) != LEDGE_OK)
      rc = fail(err, err_size, "warm-up run failed: %s", ledge_last_error());
  }
  ledge_tensor_destroy(zeros);
  if (!rc) {
    v->n_outputs = ledge_session_output_count(v->sessions[0]);
    if (v->n_outputs > 16) v->n_outputs = 16;
    for (int k = 0; k < v->n_outputs; k++) ledge_session_output_info(v->sessions[0], k, &v->outputs[k]);
  }
  if (!rc && s->test_delay_ms > 0) usleep((useconds_t)s->test_delay_ms * 1000);
  return rc;
}

int serve_load(serve_server *s, int slot, const char *path, char *err, size_t err_size) {
  serve_slot *sl = &s->slots[slot];
  serve_version *v = calloc(1, sizeof *v);
  if (!v || !(v->path = strdup(path))) {
    free(v);
    return fail(err, err_size, "out of memory");
  }
  atomic_init(&v->refs, 1);
  struct stat st;
  int64_t mtime = stat(path, &st) == 0 ? (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec : 0;
  double t0 = serve_now();
  int rc = 0;
  if (ledge_model_load(path, &v->model) != LEDGE_OK) rc = fail(err, err_size, "%s", ledge_last_error());
  else rc = setup_version(s, v, err, err_size);
  if (rc) {
    serve_version_free(v);
    pthread_mutex_lock(&s->lock);
    snprintf(sl->error, sizeof sl->error, "%s", err);
    pthread_mutex_unlock(&s->lock);
    return rc;
  }
  pthread_mutex_lock(&s->lock);
  serve_version *old = sl->current;
  v->number = ++sl->next_number;
  sl->current = v;
  sl->error[0] = 0;
  sl->mtime_ns = mtime;
  if (path != sl->source) snprintf(sl->source, sizeof sl->source, "%s", path);
  pthread_mutex_unlock(&s->lock);
  serve_release(old);
  serve_log(s, "model %s version %d ready (%s, %.0f ms to load and warm %d sessions)", sl->name, v->number,
            path, (serve_now() - t0) * 1e3, v->n_sessions);
  return 0;
}

static void info_json(sbuf *out, const ledge_tensor_info *info) {
  sb_put(out, "{\"name\": ", 9);
  sb_json_string(out, info->name);
  sb_printf(out, ", \"dtype\": \"%s\", \"shape\": [", ledge_dtype_name(info->dtype));
  for (int d = 0; d < info->rank; d++) sb_printf(out, "%s%lld", d ? ", " : "", (long long)info->dims[d]);
  sb_put(out, "]}", 2);
}

void serve_models_json(serve_server *s, int only_slot, sbuf *out) {
  if (only_slot < 0) sb_put(out, "{\"models\": [", 12);
  for (int i = 0; i < s->n_slots; i++) {
    if (only_slot >= 0 && i != only_slot) continue;
    serve_version *v = serve_acquire(s, i);
    if (only_slot < 0 && i) sb_put(out, ", ", 2);
    sb_put(out, "{\"name\": ", 9);
    sb_json_string(out, s->slots[i].name);
    sb_printf(out, ", \"ready\": %s, \"loading\": %s", v ? "true" : "false",
              atomic_load(&s->slots[i].loading) ? "true" : "false");
    if (v) {
      sb_printf(out, ", \"version\": %d, \"path\": ", v->number);
      sb_json_string(out, v->path);
      sb_put(out, ", \"inputs\": [", 13);
      for (int k = 0; k < ledge_model_input_count(v->model); k++) {
        ledge_tensor_info info;
        ledge_model_input_info(v->model, k, &info);
        if (k) sb_put(out, ", ", 2);
        info_json(out, &info);
      }
      sb_put(out, "], \"outputs\": [", 15);
      for (int k = 0; k < v->n_outputs; k++) {
        if (k) sb_put(out, ", ", 2);
        info_json(out, &v->outputs[k]);
      }
      sb_put(out, "]", 1);
      if (v->image_ok)
        sb_printf(out, ", \"image\": {\"width\": %d, \"height\": %d, \"resize\": %d, \"layout\": \"%s\"}",
                  v->pre.width, v->pre.height, v->pre.resize_shorter,
                  v->pre.norm.layout == MEDIA_LAYOUT_NCHW ? "NCHW" : "NHWC");
      sb_printf(out, ", \"labels\": %d", v->n_labels);
    }
    pthread_mutex_lock(&s->lock);
    if (s->slots[i].error[0]) {
      sb_put(out, ", \"error\": ", 11);
      sb_json_string(out, s->slots[i].error);
    }
    pthread_mutex_unlock(&s->lock);
    sb_put(out, "}", 1);
    serve_release(v);
  }
  if (only_slot < 0) sb_put(out, "]}", 2);
}
