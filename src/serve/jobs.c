/* serve/jobs.c: the bounded queue, the worker pool, dynamic batching and the
 * deadline thread.
 *
 * A job is answered exactly once: by the worker that ran it or by the
 * deadline thread, whichever first flips job->answered. Jobs hold a reference
 * to the model version they were accepted for, so a swap never pulls weights
 * from under a running request. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "serve/internal.h"

serve_job *serve_job_new(void) {
  serve_job *job = calloc(1, sizeof *job);
  if (!job) return NULL;
  atomic_init(&job->refs, 1);
  atomic_init(&job->answered, 0);
  job->t_start = serve_now();
  return job;
}

void serve_job_unref(serve_job *job) {
  if (!job || atomic_fetch_sub(&job->refs, 1) != 1) return;
  serve_release(job->ver);
  free(job->body);
  free(job->resp);
  free(job);
}

static serve_server *server_of_job(serve_job *job);

/* Claims the right to answer; the winner fills the response and calls done. */
static bool claim(serve_job *job) {
  int expected = 0;
  return atomic_compare_exchange_strong(&job->answered, &expected, 1);
}

static void unlink_live(serve_server *s, serve_job *job) {
  pthread_mutex_lock(&s->lock);
  if (job->prev_live || s->live == job) {
    if (job->prev_live) job->prev_live->next_live = job->next_live;
    else s->live = job->next_live;
    if (job->next_live) job->next_live->prev_live = job->prev_live;
    job->next_live = job->prev_live = NULL;
    s->live_count--;
  }
  pthread_mutex_unlock(&s->lock);
}

static serve_server *g_server; /* the one server of this process */
static serve_server *server_of_job(serve_job *job) {
  (void)job;
  return g_server;
}

static void finish(serve_job *job, int code, char *resp, size_t len, const char *type) {
  serve_server *s = server_of_job(job);
  job->code = code;
  job->resp = resp;
  job->resp_len = len;
  job->resp_type = type;
  if (s) {
    unlink_live(s, job);
    serve_metrics_request(s->metrics, job->slot, code, serve_now() - job->t_start);
  }
  job->done(job);
}

bool serve_job_fail(serve_job *job, int code, const char *fmt, ...) {
  if (!claim(job)) return false;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  sbuf b = {0};
  sb_printf(&b, "{\"error\": ");
  sb_json_string(&b, msg);
  sb_printf(&b, ", \"code\": %d}", code);
  finish(job, code, b.data, b.len, "application/json");
  return true;
}

int serve_queue_depth(serve_server *s) {
  pthread_mutex_lock(&s->lock);
  int n = s->queue_len;
  pthread_mutex_unlock(&s->lock);
  return n;
}

int serve_submit(serve_server *s, serve_job *job) {
  g_server = s;
  pthread_mutex_lock(&s->lock);
  if (atomic_load(&s->stopping) || s->queue_len >= s->queue_cap) {
    pthread_mutex_unlock(&s->lock);
    return 503;
  }
  atomic_fetch_add(&job->refs, 1);
  job->deadline = job->t_start + s->cfg.timeout_ms / 1000.0;
  s->queue[(s->queue_head + s->queue_len++) % s->queue_cap] = job;
  job->next_live = s->live;
  job->prev_live = NULL;
  if (s->live) s->live->prev_live = job;
  s->live = job;
  s->live_count++;
  pthread_cond_signal(&s->queue_cv);
  pthread_cond_signal(&s->live_cv);
  pthread_mutex_unlock(&s->lock);
  return 0;
}

/* ---- Workers ------------------------------------------------------------------ */

typedef struct worker {
  serve_server *s;
  int id;
} worker;

static serve_input_spec spec_of(const serve_version *v) {
  serve_input_spec spec = {0};
  spec.dtype = v->input.dtype;
  spec.rank = v->input.rank;
  ledge_tensor_info declared;
  ledge_model_input_info(v->model, 0, &declared);
  for (int d = 0; d < spec.rank; d++) spec.dims[d] = declared.dims[d];
  if (v->image_ok) /* images come out at the preprocessing size */
    for (int d = 1; d < spec.rank; d++) spec.dims[d] = v->input.dims[d];
  spec.image_ok = v->image_ok;
  spec.pre = v->pre;
  spec.channels = v->channels;
  return spec;
}

/* Runs `in` (batch B along dim 0) on the session, sample by sample when the
 * model's batch is a fixed 1; gathers every output with B rows. */
static int run_batch(serve_server *s, ledge_session *session, const serve_version *v, ledge_tensor *in,
                     serve_result *r, char *err, size_t es) {
  int rank = ledge_tensor_rank(in);
  const int64_t *dims = ledge_tensor_dims(in);
  int64_t B = rank > 0 ? dims[0] : 1;
  int64_t runs = v->batch_fixed && B > 1 ? B : 1;
  size_t sample_bytes = ledge_tensor_bytes(in) / (size_t)(runs ? runs : 1);
  int64_t sd[LEDGE_MAX_RANK];
  memcpy(sd, dims, sizeof *sd * (size_t)rank);
  if (runs > 1) sd[0] = 1;
  int n_out = ledge_session_output_count(session);
  if (n_out > 16) n_out = 16;
  r->n = n_out;
  r->batch = (int)B;
  for (int64_t k = 0; k < runs; k++) {
    ledge_tensor *x = in;
    if (runs > 1 && ledge_tensor_wrap(ledge_tensor_dtype(in), rank, sd, (char *)ledge_tensor_data(in) + k * sample_bytes,
                                      sample_bytes, &x) != LEDGE_OK) {
      snprintf(err, es, "%s", ledge_last_error());
      return 500;
    }
    ledge_status st = ledge_session_run(session, &x, 1, NULL, 0);
    if (x != in) ledge_tensor_destroy(x);
    if (st != LEDGE_OK) {
      snprintf(err, es, "inference failed: %s", ledge_last_error());
      return st == LEDGE_ERR_SHAPE || st == LEDGE_ERR_INVALID_ARGUMENT ? 400 : 500;
    }
    for (int i = 0; i < n_out; i++) {
      const ledge_tensor *o;
      ledge_tensor_info info;
      ledge_session_output(session, i, &o);
      ledge_session_output_info(session, i, &info);
      r->names[i] = info.name;
      if (k == 0) {
        int orank = ledge_tensor_rank(o);
        int64_t od[LEDGE_MAX_RANK];
        memcpy(od, ledge_tensor_dims(o), sizeof *od * (size_t)orank);
        if (runs > 1) {
          if (orank == 0 || od[0] != 1) {
            snprintf(err, es, "output '%s' has no batch dimension; send one sample per request", info.name);
            return 400;
          }
          od[0] = runs;
        }
        if (ledge_tensor_create(ledge_tensor_dtype(o), orank, od, &r->tensors[i]) != LEDGE_OK) {
          snprintf(err, es, "%s", ledge_last_error());
          return 500;
        }
      }
      size_t bytes = ledge_tensor_bytes(o);
      if ((size_t)(k + 1) * bytes > ledge_tensor_bytes(r->tensors[i])) {
        snprintf(err, es, "output '%s' changed size between samples", info.name);
        return 500;
      }
      memcpy((char *)ledge_tensor_data(r->tensors[i]) + (size_t)k * bytes, ledge_tensor_data(o), bytes);
    }
  }
  if (s->test_delay_ms > 0) usleep((useconds_t)s->test_delay_ms * 1000);
  return 0;
}

static void answer_result(serve_job *job, const serve_version *v, serve_result *r) {
  sbuf out = {0};
  const char *type = "application/json";
  char err[512] = "";
  int code = serve_encode(v, job, r, &out, &type, err, sizeof err);
  if (code) {
    sb_free(&out);
    serve_job_fail(job, code, "cannot encode the response: %s", err[0] ? err : "out of memory");
    return;
  }
  if (!claim(job)) {
    sb_free(&out);
    return;
  }
  finish(job, 200, out.data, out.len, type);
}

/* Takes up to max jobs for version v from the queue (the caller holds the lock). */
static int take_same(serve_server *s, serve_version *v, serve_job **jobs, int have, int max) {
  for (int i = 0; i < s->queue_len && have < max;) {
    int idx = (s->queue_head + i) % s->queue_cap;
    serve_job *j = s->queue[idx];
    if (j->ver != v) {
      i++;
      continue;
    }
    jobs[have++] = j;
    /* remove entry i, keeping order */
    for (int k = i; k + 1 < s->queue_len; k++)
      s->queue[(s->queue_head + k) % s->queue_cap] = s->queue[(s->queue_head + k + 1) % s->queue_cap];
    s->queue_len--;
  }
  return have;
}

static void process(serve_server *s, int id, serve_job **jobs, int n) {
  serve_version *v = jobs[0]->ver;
  ledge_session *session = v->sessions[id];
  serve_input_spec spec = spec_of(v);
  ledge_tensor *inputs[64] = {0};
  char err[512];
  int good = 0;
  for (int i = 0; i < n; i++) {
    int code = serve_decode(&spec, jobs[i]->kind, jobs[i]->body, jobs[i]->body_len, &inputs[i], err, sizeof err);
    if (code) {
      serve_job_fail(jobs[i], code, "%s", err);
      inputs[i] = NULL;
    } else {
      good++;
    }
  }
  /* Dynamic batching: samples of one row each and the same shape run as one batch
   * when the model takes a dynamic batch. */
  int rank = v->input.rank;
  bool batch = good > 1 && !v->batch_fixed && rank > 0;
  ledge_tensor *first = NULL;
  for (int i = 0; i < n && batch; i++) {
    if (!inputs[i]) continue;
    if (!first) first = inputs[i];
    batch = ledge_tensor_dims(inputs[i])[0] == 1 && ledge_tensor_rank(inputs[i]) == rank &&
            !memcmp(ledge_tensor_dims(inputs[i]), ledge_tensor_dims(first), sizeof(int64_t) * (size_t)rank);
  }
  if (batch) {
    int64_t dims[LEDGE_MAX_RANK];
    memcpy(dims, ledge_tensor_dims(first), sizeof *dims * (size_t)rank);
    dims[0] = good;
    ledge_tensor *all = NULL;
    int code = ledge_tensor_create(ledge_tensor_dtype(first), rank, dims, &all) == LEDGE_OK ? 0 : 500;
    size_t row = ledge_tensor_bytes(first);
    int k = 0;
    for (int i = 0; i < n && !code; i++)
      if (inputs[i]) memcpy((char *)ledge_tensor_data(all) + (size_t)k++ * row, ledge_tensor_data(inputs[i]), row);
    serve_result r = {0};
    if (!code) code = run_batch(s, session, v, all, &r, err, sizeof err);
    serve_metrics_batch(s->metrics, good);
    k = 0;
    for (int i = 0; i < n; i++) {
      if (!inputs[i]) continue;
      if (code) {
        serve_job_fail(jobs[i], code, "%s", code == 500 && !err[0] ? "out of memory" : err);
        continue;
      }
      /* This job's row of every output. */
      serve_result one = {.n = r.n, .batch = 1, .batched_request = jobs[i]->kind == BODY_JSON};
      int fail = 0;
      for (int o = 0; o < r.n && !fail; o++) {
        const ledge_tensor *t = r.tensors[o];
        int orank = ledge_tensor_rank(t);
        int64_t od[LEDGE_MAX_RANK];
        memcpy(od, ledge_tensor_dims(t), sizeof *od * (size_t)orank);
        one.names[o] = r.names[o];
        if (orank == 0 || od[0] != good) {
          fail = 1;
          break;
        }
        od[0] = 1;
        size_t ob = ledge_tensor_bytes(t) / (size_t)good;
        if (ledge_tensor_create(ledge_tensor_dtype(t), orank, od, &one.tensors[o]) != LEDGE_OK) fail = 1;
        else memcpy(ledge_tensor_data(one.tensors[o]), (char *)ledge_tensor_data(t) + (size_t)k * ob, ob);
      }
      k++;
      if (fail) serve_job_fail(jobs[i], 500, "output has no batch dimension");
      else answer_result(jobs[i], v, &one);
      serve_result_free(&one);
    }
    serve_result_free(&r);
    ledge_tensor_destroy(all);
  } else {
    for (int i = 0; i < n; i++) {
      if (!inputs[i]) continue;
      if (atomic_load(&jobs[i]->answered)) continue; /* expired while waiting */
      serve_result r = {0};
      err[0] = 0;
      int code = run_batch(s, session, v, inputs[i], &r, err, sizeof err);
      serve_metrics_batch(s->metrics, 1);
      r.batched_request = jobs[i]->kind == BODY_JSON;
      if (code) serve_job_fail(jobs[i], code, "%s", err);
      else answer_result(jobs[i], v, &r);
      serve_result_free(&r);
    }
  }
  for (int i = 0; i < n; i++) ledge_tensor_destroy(inputs[i]);
}

static void *worker_main(void *arg) {
  worker *w = arg;
  serve_server *s = w->s;
  int max_batch = s->cfg.max_batch < 1 ? 1 : s->cfg.max_batch > 64 ? 64 : s->cfg.max_batch;
  for (;;) {
    serve_job *jobs[64];
    int n = 0;
    pthread_mutex_lock(&s->lock);
    while (s->queue_len == 0 && !atomic_load(&s->stopping))
      pthread_cond_wait(&s->queue_cv, &s->lock);
    if (s->queue_len == 0) { /* stopping and drained */
      pthread_mutex_unlock(&s->lock);
      break;
    }
    jobs[n++] = s->queue[s->queue_head];
    s->queue_head = (s->queue_head + 1) % s->queue_cap;
    s->queue_len--;
    serve_version *v = jobs[0]->ver;
    if (max_batch > 1 && !v->batch_fixed) {
      n = take_same(s, v, jobs, n, max_batch);
      if (n < max_batch && s->cfg.max_delay_ms > 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        long ns = until.tv_nsec + (long)s->cfg.max_delay_ms * 1000000L;
        until.tv_sec += ns / 1000000000L;
        until.tv_nsec = ns % 1000000000L;
        while (n < max_batch && !atomic_load(&s->stopping)) {
          if (pthread_cond_timedwait(&s->queue_cv, &s->lock, &until) != 0) {
            n = take_same(s, v, jobs, n, max_batch);
            break;
          }
          n = take_same(s, v, jobs, n, max_batch);
        }
      }
    }
    pthread_mutex_unlock(&s->lock);
    /* Drop the ones whose deadline passed while queued. */
    int k = 0;
    for (int i = 0; i < n; i++) {
      if (atomic_load(&jobs[i]->answered)) serve_job_unref(jobs[i]);
      else jobs[k++] = jobs[i];
    }
    if (k) process(s, w->id, jobs, k);
    for (int i = 0; i < k; i++) serve_job_unref(jobs[i]);
  }
  free(w);
  return NULL;
}

/* The deadline thread: answers 504 for jobs past their deadline, queued or running. */
static void *reaper_main(void *arg) {
  serve_server *s = arg;
  pthread_mutex_lock(&s->lock);
  while (!atomic_load(&s->stopping) || s->live) {
    double now = serve_now(), next = now + 0.5;
    serve_job *expired[64];
    int n = 0;
    for (serve_job *j = s->live; j && n < 64; j = j->next_live) {
      if (j->deadline <= now) {
        atomic_fetch_add(&j->refs, 1);
        expired[n++] = j;
      } else if (j->deadline < next) {
        next = j->deadline;
      }
    }
    if (n) {
      pthread_mutex_unlock(&s->lock);
      for (int i = 0; i < n; i++) {
        serve_job_fail(expired[i], 504, "the request took longer than the %d ms deadline", s->cfg.timeout_ms);
        serve_job_unref(expired[i]);
      }
      pthread_mutex_lock(&s->lock);
      continue;
    }
    if (atomic_load(&s->stopping) && !s->live) break;
    double wait = next - now;
    if (wait > 0.5) wait = 0.5;
    if (wait < 0.001) wait = 0.001;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long ns = until.tv_nsec + (long)(wait * 1e9);
    until.tv_sec += ns / 1000000000L;
    until.tv_nsec = ns % 1000000000L;
    pthread_cond_timedwait(&s->live_cv, &s->lock, &until);
  }
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

int serve_workers_start(serve_server *s) {
  g_server = s;
  s->workers = calloc((size_t)s->n_workers, sizeof *s->workers);
  if (!s->workers) return 1;
  for (int i = 0; i < s->n_workers; i++) {
    worker *w = malloc(sizeof *w);
    if (!w) return 1;
    *w = (worker){s, i};
    if (pthread_create(&s->workers[i], NULL, worker_main, w)) return 1;
  }
  return pthread_create(&s->reaper, NULL, reaper_main, s) != 0;
}

/* Called with stopping set: workers drain the queue and exit. */
void serve_workers_stop(serve_server *s) {
  pthread_mutex_lock(&s->lock);
  pthread_cond_broadcast(&s->queue_cv);
  pthread_cond_broadcast(&s->live_cv);
  pthread_mutex_unlock(&s->lock);
  for (int i = 0; i < s->n_workers; i++) pthread_join(s->workers[i], NULL);
  pthread_join(s->reaper, NULL);
  free(s->workers);
  s->workers = NULL;
}
