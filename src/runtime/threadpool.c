/*
 * threadpool.c: workers that spin briefly, then sleep, between loops.
 *
 * A loop is published as one 64-bit atomic word, `state`:
 *   bits 22..63  generation (one per loop)
 *   bits 11..21  number of chunks of this loop
 *   bits  0..10  next chunk to claim
 * Every thread, the caller included, claims chunks with a compare-and-swap
 * that also checks the generation, so a late worker can never take a chunk of
 * a loop other than the one it saw; the loop's fields (fn, ctx, n) are
 * written before the word is published and stay put until every claimed
 * chunk has counted itself in `done`. A worker that is slow to wake simply
 * finds its chunk taken by a thread that finished early.
 *
 * Waiting: a worker polls `state` for spin_ns after its last chunk (yielding
 * now and then, for oversubscribed machines), then
 * registers in n_sleeping and sleeps on `wake`; a caller publishing a loop
 * broadcasts only if someone sleeps. The caller waits for `done` the same
 * way (spin, then sleep on `finished`). Both hand-offs use sequentially
 * consistent operations on both sides (store mine, load theirs), so either
 * the sleeper sees the new value or the publisher sees the sleeper, and the
 * mutex around check-and-wait makes the wake-up impossible to lose.
 */
#include "runtime/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NEXT_BITS 11 /* LG_MAX_TASKS = 2^11 - 1 */
#define NCH_SHIFT NEXT_BITS
#define GEN_SHIFT (2 * NEXT_BITS)
#define FIELD_MASK ((1u << NEXT_BITS) - 1)
#define STATE_NEXT(s) ((uint32_t)((s)&FIELD_MASK))
#define STATE_NCH(s) ((uint32_t)(((s) >> NCH_SHIFT) & FIELD_MASK))
#define STATE_GEN(s) ((s) >> GEN_SHIFT)

typedef struct {
  lg_threadpool *pool;
  int index;
} worker_arg;

struct lg_threadpool {
  /* Written by the caller once per loop, read by workers. */
  _Alignas(64) _Atomic uint64_t state;
  int64_t n;
  lg_range_fn fn;
  lg_indexed_range_fn fn_indexed;
  void *ctx;
  uint64_t generation;
  /* Written by workers as chunks finish. */
  _Alignas(64) atomic_uint done;
  _Alignas(64) atomic_int n_sleeping;
  atomic_int caller_waiting;
  atomic_bool stop;
  int n_threads; /* including the caller */
  int pinned;
  int64_t spin_ns;
  pthread_t *workers;
  worker_arg *args;
  pthread_mutex_t mu; /* guards the sleeps on wake and finished */
  pthread_cond_t wake, finished;
  pthread_mutex_t caller_mu; /* one loop at a time */
  void **scratch;            /* per thread index; see lg_threadpool_reserve_scratch */
  size_t scratch_size;
};

/* The pool whose loop this thread is running (or whose worker it is), and
 * its index there. */
static _Thread_local lg_threadpool *tl_pool;
static _Thread_local int tl_index;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  __asm__ __volatile__("yield" ::: "memory");
#endif
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Called every 64 polls of a spin: true once the spin has lasted spin_ns.
 * Every 1024 polls it also yields the CPU, which costs next to nothing when
 * no other thread wants this CPU and, on an oversubscribed machine (more
 * runnable threads than CPUs), hands the slice to one that has work instead
 * of burning it. */
static bool spin_check(int64_t t0, int64_t spin_ns, unsigned polls) {
  if ((polls & 1023) == 0) sched_yield();
  return now_ns() - t0 > spin_ns;
}

static void run_chunk(lg_threadpool *p, int index, uint32_t chunk, uint32_t nch) {
  int64_t base = p->n / nch, rem = p->n % nch;
  int64_t begin = base * chunk + (chunk < rem ? chunk : rem);
  int64_t end = begin + base + (chunk < rem ? 1 : 0);
  if (p->fn_indexed)
    p->fn_indexed(p->ctx, index, begin, end);
  else
    p->fn(p->ctx, begin, end);
}

/* Claims and runs chunks of the loop published as s until none is left. */
static void run_claims(lg_threadpool *p, uint64_t s, int index) {
  uint64_t gen = STATE_GEN(s);
  for (;;) {
    uint32_t next = STATE_NEXT(s), nch = STATE_NCH(s);
    if (next >= nch) return;
    if (atomic_compare_exchange_weak(&p->state, &s, s + 1)) {
      run_chunk(p, index, next, nch);
      if (atomic_fetch_add(&p->done, 1) + 1 == nch && atomic_load(&p->caller_waiting)) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_signal(&p->finished);
        pthread_mutex_unlock(&p->mu);
      }
      s = atomic_load(&p->state);
    }
    if (STATE_GEN(s) != gen) return;
  }
}

/* Returns the state of a loop newer than `seen`, or 0 when stopping. */
static uint64_t wait_for_work(lg_threadpool *p, uint64_t seen) {
  uint64_t s;
  if (p->spin_ns > 0) {
    int64_t t0 = now_ns();
    for (unsigned i = 1;; i++) {
      s = atomic_load_explicit(&p->state, memory_order_acquire);
      if (STATE_GEN(s) != seen) return s;
      if (atomic_load_explicit(&p->stop, memory_order_relaxed)) return 0;
      cpu_relax();
      if ((i & 63) == 0 && spin_check(t0, p->spin_ns, i)) break;
    }
  }
  pthread_mutex_lock(&p->mu);
  atomic_fetch_add(&p->n_sleeping, 1);
  for (;;) {
    s = atomic_load(&p->state);
    if (STATE_GEN(s) != seen || atomic_load(&p->stop)) break;
    pthread_cond_wait(&p->wake, &p->mu);
  }
  atomic_fetch_sub(&p->n_sleeping, 1);
  pthread_mutex_unlock(&p->mu);
  return atomic_load(&p->stop) ? 0 : s;
}

static void *worker_main(void *arg) {
  worker_arg *wa = arg;
  lg_threadpool *p = wa->pool;
  tl_pool = p;
  tl_index = wa->index;
  uint64_t seen = 0;
  for (;;) {
    uint64_t s = wait_for_work(p, seen);
    if (!s) break;
    seen = STATE_GEN(s);
    run_claims(p, s, wa->index);
  }
  return NULL;
}

/* CPUs this process may run on, in order; returns how many (0 if unknown). */
static int allowed_cpus(int *cpus, int max) {
#ifdef __linux__
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
  int n = 0;
  for (int c = 0; c < CPU_SETSIZE && n < max; c++)
    if (CPU_ISSET(c, &set)) {
      if (cpus) cpus[n] = c;
      n++;
    }
  return n;
#else
  (void)cpus;
  (void)max;
  return 0;
#endif
}

static int64_t spin_ns_from_env(void) {
  const char *e = getenv("LEDGE_SPIN_US");
  if (!e || !*e) return (int64_t)LG_SPIN_US_DEFAULT * 1000;
  char *end;
  long long us = strtoll(e, &end, 10);
  if (*end || us < 0) return (int64_t)LG_SPIN_US_DEFAULT * 1000;
  if (us > 1000000000LL) us = 1000000000LL; /* effectively forever */
  return (int64_t)us * 1000;
}

static void pin_workers(lg_threadpool *p) {
#ifdef __linux__
  const char *e = getenv("LEDGE_AFFINITY");
  if (!e || strcmp(e, "1") != 0) return;
  int cpus[CPU_SETSIZE];
  int n = allowed_cpus(cpus, CPU_SETSIZE);
  if (n <= 1) return;
  for (int i = 1; i < p->n_threads; i++) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpus[i % n], &set);
    /* A hint: a restrictive cpuset or a sandbox may refuse, and that is fine. */
    if (pthread_setaffinity_np(p->workers[i - 1], sizeof set, &set) == 0) p->pinned++;
  }
#else
  (void)p;
#endif
}

lg_status lg_threadpool_create(int n_threads, lg_threadpool **out) {
  *out = NULL;
  if (n_threads <= 0) {
    n_threads = allowed_cpus(NULL, CPU_SETSIZE);
    if (n_threads <= 0) {
      long cores = sysconf(_SC_NPROCESSORS_ONLN);
      n_threads = cores > 0 ? (int)cores : 1;
    }
  }
  if (n_threads > LG_MAX_THREADS) n_threads = LG_MAX_THREADS;
  lg_threadpool *p = calloc(1, sizeof *p);
  if (!p) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  p->n_threads = 1; /* workers are counted in as they start */
  p->spin_ns = spin_ns_from_env();
  pthread_mutex_init(&p->mu, NULL);
  pthread_mutex_init(&p->caller_mu, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->finished, NULL);
  if (n_threads > 1) {
    p->workers = calloc((size_t)n_threads - 1, sizeof(pthread_t));
    p->args = calloc((size_t)n_threads - 1, sizeof(worker_arg));
    if (!p->workers || !p->args) {
      lg_threadpool_destroy(p);
      return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
    }
    /* The window kernels keep up to 48 KB of scratch on the stack (in L1):
     * ask for at least 1 MB where the C library's default is smaller (musl:
     * 128 KB). */
    pthread_attr_t attr;
    bool have_attr = pthread_attr_init(&attr) == 0;
    size_t stack = 0;
    if (have_attr && pthread_attr_getstacksize(&attr, &stack) == 0 && stack < ((size_t)1 << 20))
      pthread_attr_setstacksize(&attr, (size_t)1 << 20);
    for (int i = 1; i < n_threads; i++) {
      p->args[i - 1] = (worker_arg){p, i};
      if (pthread_create(&p->workers[i - 1], have_attr ? &attr : NULL, worker_main,
                         &p->args[i - 1])) {
        if (have_attr) pthread_attr_destroy(&attr);
        lg_threadpool_destroy(p);
        return lg_error(LEDGE_ERR_NO_MEMORY, "cannot start worker thread %d of %d", i, n_threads);
      }
      p->n_threads = i + 1;
    }
    if (have_attr) pthread_attr_destroy(&attr);
    pin_workers(p);
  }
  *out = p;
  return LEDGE_OK;
}

void lg_threadpool_destroy(lg_threadpool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  atomic_store(&p->stop, true);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  for (int i = 1; i < p->n_threads; i++) pthread_join(p->workers[i - 1], NULL);
  for (int i = 0; p->scratch && i < p->n_threads; i++) free(p->scratch[i]);
  free(p->scratch);
  free(p->workers);
  free(p->args);
  pthread_mutex_destroy(&p->mu);
  pthread_mutex_destroy(&p->caller_mu);
  pthread_cond_destroy(&p->wake);
  pthread_cond_destroy(&p->finished);
  free(p);
}

bool lg_threadpool_reserve_scratch(lg_threadpool *p, size_t size) {
  if (!p || tl_pool == p) return false;
  if (p->scratch && p->scratch_size >= size) return true;
  if (!p->scratch && !(p->scratch = calloc((size_t)p->n_threads, sizeof *p->scratch))) return false;
  size = (size + 63) / 64 * 64;
  for (int i = 0; i < p->n_threads; i++) {
    void *b = NULL;
    if (posix_memalign(&b, 64, size) != 0) return false; /* the slots keep at least the old size */
    free(p->scratch[i]);
    p->scratch[i] = b;
  }
  p->scratch_size = size;
  return true;
}

void *lg_threadpool_scratch(const lg_threadpool *p, int thread) { return p->scratch[thread]; }

int lg_threadpool_size(const lg_threadpool *p) { return p ? p->n_threads : 1; }
int lg_threadpool_pinned(const lg_threadpool *p) { return p ? p->pinned : 0; }
int lg_threadpool_thread_index(void) { return tl_pool ? tl_index : 0; }

static void parallel_run(lg_threadpool *p, int64_t n, lg_range_fn fn, lg_indexed_range_fn fni,
                         void *ctx, int64_t max_chunks) {
  if (n <= 0) return;
  if (!p || p->n_threads == 1 || n == 1 || tl_pool == p) {
    /* Serial: no pool, nothing to split, or a loop nested in one of this
     * pool's loops (its threads are all busy with the outer loop). */
    if (fni)
      fni(ctx, tl_pool == p ? tl_index : 0, 0, n);
    else
      fn(ctx, 0, n);
    return;
  }
  pthread_mutex_lock(&p->caller_mu);
  lg_threadpool *saved_pool = tl_pool;
  int saved_index = tl_index;
  tl_pool = p;
  tl_index = 0;
  uint32_t nch = (uint32_t)(n < max_chunks ? n : max_chunks);
  p->n = n;
  p->fn = fn;
  p->fn_indexed = fni;
  p->ctx = ctx;
  atomic_store_explicit(&p->done, 0, memory_order_relaxed);
  p->generation++;
  uint64_t s = (p->generation << GEN_SHIFT) | ((uint64_t)nch << NCH_SHIFT);
  atomic_store(&p->state, s);
  if (atomic_load(&p->n_sleeping) > 0) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
  }
  run_claims(p, s, 0);
  if (atomic_load_explicit(&p->done, memory_order_acquire) != nch) {
    int64_t t0 = now_ns();
    for (unsigned i = 1; atomic_load_explicit(&p->done, memory_order_acquire) != nch; i++) {
      cpu_relax();
      if ((i & 63) == 0 && spin_check(t0, p->spin_ns, i)) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->caller_waiting, 1);
        while (atomic_load(&p->done) != nch) pthread_cond_wait(&p->finished, &p->mu);
        atomic_store(&p->caller_waiting, 0);
        pthread_mutex_unlock(&p->mu);
        break;
      }
    }
  }
  tl_pool = saved_pool;
  tl_index = saved_index;
  pthread_mutex_unlock(&p->caller_mu);
}

void lg_parallel_for(lg_threadpool *p, int64_t n, lg_range_fn fn, void *ctx) {
  parallel_run(p, n, fn, NULL, ctx, p ? p->n_threads : 1);
}

void lg_parallel_for_indexed(lg_threadpool *p, int64_t n, lg_indexed_range_fn fn, void *ctx) {
  parallel_run(p, n, NULL, fn, ctx, p ? p->n_threads : 1);
}

void lg_parallel_for_dynamic(lg_threadpool *p, int64_t n, lg_indexed_range_fn fn, void *ctx) {
  parallel_run(p, n, NULL, fn, ctx, LG_MAX_TASKS);
}
