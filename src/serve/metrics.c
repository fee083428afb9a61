/* serve/metrics.c: counters for GET /metrics (Prometheus text format 0.0.4). */
#include <stdlib.h>
#include <string.h>

#include "serve/internal.h"

static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
#define N_BUCKETS (int)(sizeof buckets / sizeof buckets[0])
#define N_CODES 16
#define MAX_BATCH_BUCKET 64

typedef struct {
  int code;
  long count;
} code_count;

typedef struct {
  code_count codes[N_CODES];
  long hist[N_BUCKETS + 1];
  double sum;
  long count;
} slot_metrics;

struct serve_metrics {
  pthread_mutex_t lock;
  int n_slots;
  slot_metrics *slots; /* n_slots + 1: the last one is "no model" */
  long batches[MAX_BATCH_BUCKET + 1];
  long batch_count, batch_sum;
};

serve_metrics *serve_metrics_new(int n_slots) {
  serve_metrics *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->slots = calloc((size_t)n_slots + 1, sizeof *m->slots);
  if (!m->slots) {
    free(m);
    return NULL;
  }
  m->n_slots = n_slots;
  pthread_mutex_init(&m->lock, NULL);
  return m;
}

void serve_metrics_free(serve_metrics *m) {
  if (!m) return;
  pthread_mutex_destroy(&m->lock);
  free(m->slots);
  free(m);
}

void serve_metrics_request(serve_metrics *m, int slot, int code, double seconds) {
  if (!m) return;
  if (slot < 0 || slot >= m->n_slots) slot = m->n_slots;
  pthread_mutex_lock(&m->lock);
  slot_metrics *s = &m->slots[slot];
  for (int i = 0; i < N_CODES; i++) {
    if (s->codes[i].code == code || s->codes[i].code == 0) {
      s->codes[i].code = code;
      s->codes[i].count++;
      break;
    }
  }
  int b = 0;
  while (b < N_BUCKETS && seconds > buckets[b]) b++;
  s->hist[b]++;
  s->sum += seconds;
  s->count++;
  pthread_mutex_unlock(&m->lock);
}

void serve_metrics_batch(serve_metrics *m, int size) {
  if (!m) return;
  pthread_mutex_lock(&m->lock);
  m->batches[size > MAX_BATCH_BUCKET ? MAX_BATCH_BUCKET : size]++;
  m->batch_count++;
  m->batch_sum += size;
  pthread_mutex_unlock(&m->lock);
}

void serve_metrics_text(serve_server *srv, sbuf *out) {
  serve_metrics *m = srv->metrics;
  sb_printf(out, "# HELP ledge_requests_total Inference requests answered, by model and HTTP status code.\n"
                 "# TYPE ledge_requests_total counter\n");
  pthread_mutex_lock(&m->lock);
  for (int i = 0; i <= m->n_slots; i++) {
    const char *name = i < m->n_slots ? srv->slots[i].name : "";
    for (int k = 0; k < N_CODES && m->slots[i].codes[k].code; k++) {
      sb_put(out, "ledge_requests_total{model=", 27);
      sb_json_string(out, name);
      sb_printf(out, ",code=\"%d\"} %ld\n", m->slots[i].codes[k].code, m->slots[i].codes[k].count);
    }
  }
  sb_printf(out, "# HELP ledge_request_duration_seconds Time from accepting a request to its answer.\n"
                 "# TYPE ledge_request_duration_seconds histogram\n");
  for (int i = 0; i < m->n_slots; i++) {
    long cum = 0;
    for (int b = 0; b <= N_BUCKETS; b++) {
      cum += m->slots[i].hist[b];
      sb_put(out, "ledge_request_duration_seconds_bucket{model=", 44);
      sb_json_string(out, srv->slots[i].name);
      if (b < N_BUCKETS) sb_printf(out, ",le=\"%g\"} %ld\n", buckets[b], cum);
      else sb_printf(out, ",le=\"+Inf\"} %ld\n", cum);
    }
    sb_put(out, "ledge_request_duration_seconds_sum{model=", 41);
    sb_json_string(out, srv->slots[i].name);
    sb_printf(out, "} %.6f\n", m->slots[i].sum);
    sb_put(out, "ledge_request_duration_seconds_count{model=", 43);
    sb_json_string(out, srv->slots[i].name);
    sb_printf(out, "} %ld\n", m->slots[i].count);
  }
  sb_printf(out, "# HELP ledge_batch_size Samples per model run.\n# TYPE ledge_batch_size histogram\n");
  long cum = 0;
  for (int b = 1; b <= MAX_BATCH_BUCKET; b *= 2) {
    for (int k = b / 2 + 1; k <= b; k++) cum += m->batches[k];
    sb_printf(out, "ledge_batch_size_bucket{le=\"%d\"} %ld\n", b, cum);
  }
  sb_printf(out, "ledge_batch_size_bucket{le=\"+Inf\"} %ld\nledge_batch_size_sum %ld\nledge_batch_size_count %ld\n",
            m->batch_count, m->batch_sum, m->batch_count);
  pthread_mutex_unlock(&m->lock);
  sb_printf(out, "# HELP ledge_queue_depth Requests waiting for a worker.\n# TYPE ledge_queue_depth gauge\n"
                 "ledge_queue_depth %d\n", serve_queue_depth(srv));
  sb_printf(out, "# HELP ledge_queue_capacity Requests that may wait before 503.\n# TYPE ledge_queue_capacity gauge\n"
                 "ledge_queue_capacity %d\n", srv->queue_cap);
  sb_printf(out, "# HELP ledge_inflight_requests Requests accepted and not yet answered.\n"
                 "# TYPE ledge_inflight_requests gauge\nledge_inflight_requests %d\n", atomic_load(&srv->inflight));
  sb_printf(out, "# HELP ledge_workers Worker sessions per model.\n# TYPE ledge_workers gauge\nledge_workers %d\n",
            srv->n_workers);
  sb_printf(out, "# HELP ledge_model_version Loaded version of each model (0 = not loaded).\n"
                 "# TYPE ledge_model_version gauge\n");
  for (int i = 0; i < srv->n_slots; i++) {
    serve_version *v = serve_acquire(srv, i);
    sb_put(out, "ledge_model_version{model=", 26);
    sb_json_string(out, srv->slots[i].name);
    sb_printf(out, "} %d\n", v ? v->number : 0);
    serve_release(v);
  }
  sb_printf(out, "# HELP ledge_ready 1 when every model is loaded and warm.\n# TYPE ledge_ready gauge\nledge_ready %d\n",
            atomic_load(&srv->ready) ? 1 : 0);
}
