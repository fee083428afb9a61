/* test_threadpool.c: the thread pool: every index covered exactly once under
 * many threads and sizes, thread indices in range and never shared at once,
 * nested loops serialized, loops from several outside threads, sleeping and
 * waking workers, create/destroy while idle. No timing is asserted. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "runtime/threadpool.h"

typedef struct {
  atomic_int *hits;
  int64_t n;
  atomic_int bad_range;
} cover_ctx;

static void cover(void *vctx, int64_t begin, int64_t end) {
  cover_ctx *c = vctx;
  if (begin < 0 || end > c->n || begin >= end) atomic_fetch_add(&c->bad_range, 1);
  for (int64_t i = begin; i < end && i >= 0 && i < c->n; i++) atomic_fetch_add(&c->hits[i], 1);
}

static int check_cover(lg_threadpool *pool, int64_t n) {
  cover_ctx c = {calloc((size_t)n + 1, sizeof(atomic_int)), n, 0};
  lg_parallel_for(pool, n, cover, &c);
  int ok = atomic_load(&c.bad_range) == 0;
  for (int64_t i = 0; i < n; i++) ok &= atomic_load(&c.hits[i]) == 1;
  free(c.hits);
  return ok;
}

/* Indexed: every thread index in range; no index used by two chunks at once. */
typedef struct {
  int size;
  atomic_int *busy; /* per thread index */
  atomic_int bad, calls;
  atomic_llong sum;
} indexed_ctx;

static void indexed(void *vctx, int thread, int64_t begin, int64_t end) {
  indexed_ctx *c = vctx;
  if (thread < 0 || thread >= c->size) {
    atomic_fetch_add(&c->bad, 1);
    return;
  }
  if (atomic_fetch_add(&c->busy[thread], 1) != 0) atomic_fetch_add(&c->bad, 1);
  if (lg_threadpool_thread_index() != thread) atomic_fetch_add(&c->bad, 1);
  long long s = 0;
  for (int64_t i = begin; i < end; i++) s += i;
  atomic_fetch_add(&c->sum, s);
  atomic_fetch_add(&c->calls, 1);
  atomic_fetch_sub(&c->busy[thread], 1);
}

/* Nested: an inner loop on the same pool inside each outer chunk. */
typedef struct {
  lg_threadpool *pool;
  atomic_llong inner_sum;
  atomic_int inner_calls;
} nested_ctx;

static void nested_inner(void *vctx, int64_t begin, int64_t end) {
  nested_ctx *c = vctx;
  atomic_fetch_add(&c->inner_calls, 1);
  atomic_fetch_add(&c->inner_sum, end - begin);
}

static void nested_outer(void *vctx, int64_t begin, int64_t end) {
  nested_ctx *c = vctx;
  for (int64_t i = begin; i < end; i++) lg_parallel_for(c->pool, 100, nested_inner, c);
}

/* Several outside threads sharing one pool. */
typedef struct {
  lg_threadpool *pool;
  int ok;
} shared_arg;

static void *shared_user(void *varg) {
  shared_arg *a = varg;
  a->ok = 1;
  for (int r = 0; r < 200; r++) a->ok &= check_cover(a->pool, 1 + r % 37);
  return NULL;
}

static void sleep_ms(int ms) {
  struct timespec t = {0, ms * 1000000L};
  nanosleep(&t, NULL);
}

int main(void) {
  /* A NULL pool and a one-thread pool run inline. */
  CHECK(lg_threadpool_size(NULL) == 1);
  CHECK(check_cover(NULL, 1000));
  lg_threadpool *one;
  CHECK_OK(lg_threadpool_create(1, &one));
  CHECK(lg_threadpool_size(one) == 1);
  CHECK(check_cover(one, 17));
  lg_threadpool_destroy(one);

  /* Default size: at least one thread. */
  lg_threadpool *dflt;
  CHECK_OK(lg_threadpool_create(0, &dflt));
  CHECK(lg_threadpool_size(dflt) >= 1);
  lg_threadpool_destroy(dflt);

  /* Exact sizes, ranges covered exactly once, many sizes (more threads than
   * cores on purpose). */
  int sizes[] = {2, 3, 4, 7, 16, 33};
  for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
    lg_threadpool *pool;
    CHECK_OK(lg_threadpool_create(sizes[si], &pool));
    CHECK(lg_threadpool_size(pool) == sizes[si]);
    int ok = 1;
    int64_t ns[] = {0, 1, 2, 3, 5, 31, 32, 33, 64, 100, 1001, 65537};
    for (int rep = 0; rep < 20; rep++)
      for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) ok &= ns[k] == 0 || check_cover(pool, ns[k]);
    CHECK(ok);

    indexed_ctx ic = {sizes[si], calloc((size_t)sizes[si], sizeof(atomic_int)), 0, 0, 0};
    for (int rep = 0; rep < 500; rep++) lg_parallel_for_indexed(pool, 1000, indexed, &ic);
    CHECK(atomic_load(&ic.bad) == 0);
    CHECK(atomic_load(&ic.sum) == 500LL * 999 * 1000 / 2);
    CHECK(atomic_load(&ic.calls) == 500 * (sizes[si] < 1000 ? sizes[si] : 1000));
    free(ic.busy);

    /* Dynamic schedule: every index once, indices never shared at once. */
    indexed_ctx dc = {sizes[si], calloc((size_t)sizes[si], sizeof(atomic_int)), 0, 0, 0};
    int64_t dn[] = {1, 2, 7, 100, 2047, 2048, 5000, 100000};
    long long want = 0;
    int64_t want_calls = 0;
    for (size_t k = 0; k < sizeof dn / sizeof *dn; k++) {
      lg_parallel_for_dynamic(pool, dn[k], indexed, &dc);
      want += (long long)dn[k] * (dn[k] - 1) / 2;
      want_calls += dn[k] < LG_MAX_TASKS ? dn[k] : LG_MAX_TASKS;
    }
    CHECK(atomic_load(&dc.bad) == 0);
    CHECK(atomic_load(&dc.sum) == want);
    CHECK(atomic_load(&dc.calls) == want_calls);
    free(dc.busy);

    /* Nested loops run serially inside the outer chunk and finish. */
    nested_ctx nc = {pool, 0, 0};
    lg_parallel_for(pool, 10, nested_outer, &nc);
    CHECK(atomic_load(&nc.inner_sum) == 10 * 100);
    CHECK(atomic_load(&nc.inner_calls) == 10);
    lg_threadpool_destroy(pool);
  }

  /* Workers that went to sleep wake for the next loop. */
  setenv("LEDGE_SPIN_US", "0", 1);
  lg_threadpool *sleepy;
  CHECK_OK(lg_threadpool_create(3, &sleepy));
  for (int r = 0; r < 5; r++) {
    sleep_ms(5);
    CHECK(check_cover(sleepy, 300));
  }
  for (int r = 0; r < 2000; r++) CHECK(check_cover(sleepy, 1 + r % 5));
  lg_threadpool_destroy(sleepy);

  /* A spinning pool, and affinity requested (never fatal). */
  setenv("LEDGE_SPIN_US", "100000", 1);
  setenv("LEDGE_AFFINITY", "1", 1);
  lg_threadpool *spinny;
  CHECK_OK(lg_threadpool_create(4, &spinny));
  CHECK(lg_threadpool_pinned(spinny) >= 0 && lg_threadpool_pinned(spinny) <= 3);
  for (int r = 0; r < 2000; r++) CHECK(check_cover(spinny, 1 + r % 9));
  lg_threadpool_destroy(spinny);
  unsetenv("LEDGE_AFFINITY");
  unsetenv("LEDGE_SPIN_US");

  /* Loops from several outside threads on one pool are serialized. */
  lg_threadpool *shared;
  CHECK_OK(lg_threadpool_create(3, &shared));
  pthread_t users[4];
  shared_arg args[4];
  for (int i = 0; i < 4; i++) {
    args[i] = (shared_arg){shared, 0};
    pthread_create(&users[i], NULL, shared_user, &args[i]);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(users[i], NULL);
    CHECK(args[i].ok);
  }
  lg_threadpool_destroy(shared);

  /* Create and destroy while idle, never having run a loop, many times. */
  for (int r = 0; r < 50; r++) {
    lg_threadpool *p;
    CHECK_OK(lg_threadpool_create(1 + r % 6, &p));
    if (r % 2) sleep_ms(1);
    lg_threadpool_destroy(p);
  }
  lg_threadpool_destroy(NULL);
  return harness_finish("test_threadpool");
}
