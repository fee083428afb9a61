/* serve/encode.c: model outputs to response bodies.
 *
 * A classifier (one float output of shape [N, C] or [C], C > 1) answers as
 * the hosted image-classification algorithm does: the list of probabilities
 * for every class ([p0, p1, ...]), or {"predictions": [[...], ...]} for a
 * list of instances. With top_k, each sample becomes a labelled list
 * [{"index", "label", "probability"}, ...]. Other models answer
 * {"outputs": [{"name", "dtype", "shape", "data"}]}. Accept:
 * application/x-npy gives output 0 as a .npy file, untouched. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledge/npy.h"
#include "serve/internal.h"

void serve_result_free(serve_result *r) {
  for (int i = 0; i < r->n; i++) ledge_tensor_destroy(r->tensors[i]);
  memset(r, 0, sizeof *r);
}

/* Rows of a classifier output, or 0 if it is not one. */
static int64_t classes_of(const serve_result *r, int64_t *rows) {
  if (r->n != 1 || ledge_tensor_dtype(r->tensors[0]) != LEDGE_FLOAT32) return 0;
  const ledge_tensor *t = r->tensors[0];
  const int64_t *d = ledge_tensor_dims(t);
  if (ledge_tensor_rank(t) == 2 && d[1] > 1) return *rows = d[0], d[1];
  if (ledge_tensor_rank(t) == 1 && d[0] > 1) return *rows = 1, d[0];
  return 0;
}

static void probabilities(float *x, int64_t n, int mode) {
  if (mode == 2) return;
  if (mode == 0) {
    double sum = 0;
    bool in_range = true;
    for (int64_t i = 0; i < n; i++) {
      in_range &= x[i] >= 0 && x[i] <= 1;
      sum += x[i];
    }
    if (in_range && fabs(sum - 1) < 1e-3) return; /* already probabilities */
  }
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
  double sum = 0;
  for (int64_t i = 0; i < n; i++) sum += (x[i] = expf(x[i] - mx));
  for (int64_t i = 0; i < n; i++) x[i] = (float)(x[i] / sum);
}

typedef struct {
  int64_t index;
  float p;
} scored;

static int by_p(const void *a, const void *b) {
  const scored *x = a, *y = b;
  if (x->p != y->p) return x->p < y->p ? 1 : -1;
  return x->index < y->index ? -1 : 1;
}

static scored *rank_classes(const float *p, int64_t n) {
  scored *s = malloc(sizeof *s * (size_t)n);
  if (!s) return NULL;
  for (int64_t i = 0; i < n; i++) s[i] = (scored){i, p[i]};
  qsort(s, (size_t)n, sizeof *s, by_p);
  return s;
}

static const char *label_of(const serve_version *v, int64_t i, char *buf, size_t size) {
  if (i < v->n_labels) return v->labels[i];
  snprintf(buf, size, "%lld", (long long)i);
  return buf;
}

static void put_float(sbuf *out, double x) {
  if (isfinite(x)) sb_printf(out, "%.9g", x);
  else sb_put(out, "null", 4); /* JSON has no NaN or infinity */
}

int serve_encode(const serve_version *v, const serve_job *job, serve_result *r, sbuf *out,
                 const char **content_type, char *err, size_t err_size) {
  if (job->want_npy) {
    void *bytes;
    size_t n;
    if (ledge_npy_encode(r->tensors[0], &bytes, &n) != LEDGE_OK) {
      snprintf(err, err_size, "%s", ledge_last_error());
      return 500;
    }
    sb_put(out, bytes, n);
    free(bytes);
    *content_type = "application/x-npy";
    return out->oom ? 500 : 0;
  }
  *content_type = "application/json";
  int64_t rows = 0, classes = classes_of(r, &rows);
  if (classes) {
    float *x = ledge_tensor_data(r->tensors[0]);
    for (int64_t b = 0; b < rows; b++) probabilities(x + b * classes, classes, v->output_mode);
    if (job->greengrass) {
      char ts[64];
      time_t now = time(NULL);
      struct tm tm;
      gmtime_r(&now, &tm);
      strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
      int k = job->top_k > 0 ? job->top_k : 5;
      scored *s = rank_classes(x, classes);
      if (!s) return 500;
      sb_printf(out, "{\"timestamp\": \"%s\", \"inference-type\": \"classification\", \"inference-results\": [", ts);
      for (int64_t i = 0; i < k && i < classes; i++) {
        char lb[32];
        sb_put(out, i ? ", {\"Label\": " : "{\"Label\": ", i ? 12 : 10);
        sb_json_string(out, label_of(v, s[i].index, lb, sizeof lb));
        sb_put(out, ", \"Score\": ", 11);
        put_float(out, s[i].p);
        sb_put(out, "}", 1);
      }
      sb_put(out, "]}", 2);
      free(s);
      return out->oom ? 500 : 0;
    }
    bool wrap = r->batched_request || rows > 1;
    if (wrap) sb_put(out, "{\"predictions\": [", 17);
    for (int64_t b = 0; b < rows; b++) {
      const float *p = x + b * classes;
      if (b) sb_put(out, ", ", 2);
      sb_put(out, "[", 1);
      if (job->top_k > 0) {
        scored *s = rank_classes(p, classes);
        if (!s) return 500;
        for (int64_t i = 0; i < job->top_k && i < classes; i++) {
          char lb[32];
          sb_printf(out, "%s{\"index\": %lld, \"label\": ", i ? ", " : "", (long long)s[i].index);
          sb_json_string(out, label_of(v, s[i].index, lb, sizeof lb));
          sb_put(out, ", \"probability\": ", 17);
          put_float(out, s[i].p);
          sb_put(out, "}", 1);
        }
        free(s);
      } else {
        for (int64_t i = 0; i < classes; i++) {
          if (i) sb_put(out, ", ", 2);
          put_float(out, p[i]);
        }
      }
      sb_put(out, "]", 1);
    }
    if (wrap) sb_put(out, "]}", 2);
    return out->oom ? 500 : 0;
  }
  sb_put(out, "{\"outputs\": [", 13);
  for (int i = 0; i < r->n; i++) {
    const ledge_tensor *t = r->tensors[i];
    if (i) sb_put(out, ", ", 2);
    sb_put(out, "{\"name\": ", 9);
    sb_json_string(out, r->names[i]);
    sb_printf(out, ", \"dtype\": \"%s\", \"shape\": [", ledge_dtype_name(ledge_tensor_dtype(t)));
    for (int d = 0; d < ledge_tensor_rank(t); d++) sb_printf(out, "%s%lld", d ? ", " : "", (long long)ledge_tensor_dims(t)[d]);
    sb_put(out, "], \"data\": [", 12);
    int64_t n = ledge_tensor_count(t);
    const void *p = ledge_tensor_data(t);
    for (int64_t k = 0; k < n; k++) {
      if (k) sb_put(out, ", ", 2);
      switch (ledge_tensor_dtype(t)) {
        case LEDGE_FLOAT32: put_float(out, ((const float *)p)[k]); break;
        case LEDGE_FLOAT64: put_float(out, ((const double *)p)[k]); break;
        case LEDGE_INT64: sb_printf(out, "%lld", (long long)((const int64_t *)p)[k]); break;
        case LEDGE_INT32: sb_printf(out, "%d", ((const int32_t *)p)[k]); break;
        case LEDGE_UINT8: case LEDGE_BOOL: sb_printf(out, "%u", ((const uint8_t *)p)[k]); break;
        case LEDGE_INT8: sb_printf(out, "%d", ((const int8_t *)p)[k]); break;
        default: sb_put(out, "null", 4); break;
      }
    }
    sb_put(out, "]}", 2);
  }
  sb_put(out, "]}", 2);
  return out->oom ? 500 : 0;
}
