/*
 * threadpool.c: workers that sleep on a condition variable between loops.
 * A loop is published as a generation number; each thread takes the chunk
 * with its own index, so dispatch needs no queue and no allocation.
 */
#include "runtime/threadpool.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct lg_threadpool {
  int n_threads; /* including the caller */
  pthread_t *workers;
  pthread_mutex_t mu;
  pthread_cond_t wake, done;
  uint64_t generation;
  int pending; /* workers still running the current loop */
  bool stop;
  /* the current loop */
  int64_t n;
  lg_range_fn fn;
  void *ctx;
};

typedef struct {
  lg_threadpool *pool;
  int index;
} worker_arg;

static void run_chunk(lg_threadpool *p, int index) {
  int64_t chunk = (p->n + p->n_threads - 1) / p->n_threads;
  int64_t begin = chunk * index, end = begin + chunk;
  if (end > p->n) end = p->n;
  if (begin < end) p->fn(p->ctx, begin, end);
}

static void *worker_main(void *arg) {
  worker_arg *wa = arg;
  lg_threadpool *p = wa->pool;
  int index = wa->index;
  free(wa);
  uint64_t seen = 0;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->stop && p->generation == seen) pthread_cond_wait(&p->wake, &p->mu);
    if (p->stop) break;
    seen = p->generation;
    pthread_mutex_unlock(&p->mu);
    run_chunk(p, index);
    pthread_mutex_lock(&p->mu);
    if (--p->pending == 0) pthread_cond_signal(&p->done);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

lg_status lg_threadpool_create(int n_threads, lg_threadpool **out) {
  *out = NULL;
  if (n_threads <= 0) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    n_threads = cores > 0 ? (int)cores : 1;
  }
  if (n_threads > 256) n_threads = 256;
  lg_threadpool *p = calloc(1, sizeof *p);
  if (!p) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  p->n_threads = n_threads;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->done, NULL);
  if (n_threads > 1) {
    p->workers = calloc((size_t)n_threads - 1, sizeof(pthread_t));
    if (!p->workers) {
      lg_threadpool_destroy(p);
      return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
    }
    for (int i = 1; i < n_threads; i++) {
      worker_arg *wa = malloc(sizeof *wa);
      if (!wa || pthread_create(&p->workers[i - 1], NULL, worker_main, wa ? (wa->pool = p, wa->index = i, wa) : NULL)) {
        free(wa);
        p->n_threads = i; /* join only those started */
        lg_threadpool_destroy(p);
        return lg_error(LEDGE_ERR_NO_MEMORY, "cannot start worker thread");
      }
    }
  }
  *out = p;
  return LEDGE_OK;
}

void lg_threadpool_destroy(lg_threadpool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->stop = true;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  for (int i = 1; i < p->n_threads && p->workers; i++) pthread_join(p->workers[i - 1], NULL);
  free(p->workers);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->wake);
  pthread_cond_destroy(&p->done);
  free(p);
}

int lg_threadpool_size(const lg_threadpool *p) { return p ? p->n_threads : 1; }

void lg_parallel_for(lg_threadpool *p, int64_t n, lg_range_fn fn, void *ctx) {
  if (n <= 0) return;
  if (!p || p->n_threads == 1 || n == 1) {
    fn(ctx, 0, n);
    return;
  }
  pthread_mutex_lock(&p->mu);
  p->n = n;
  p->fn = fn;
  p->ctx = ctx;
  p->pending = p->n_threads - 1;
  p->generation++;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  run_chunk(p, 0);
  pthread_mutex_lock(&p->mu);
  while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
  pthread_mutex_unlock(&p->mu);
}
