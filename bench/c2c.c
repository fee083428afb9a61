/*
 * c2c.c: core-to-core cache-line round trip. Two threads, pinned to two CPUs
 * when the affinity mask allows it, bounce one cache line: the first writes
 * an odd value and waits for the second to answer with the next even one.
 * One round trip is two cache-line transfers. Reports the median of several
 * batches in nanoseconds, which tells how far apart the two CPUs are (on a
 * virtual machine: whether the host placed the two vCPUs on sibling
 * hyper-threads, on cores sharing a cache, or further apart).
 *
 * Usage: c2c [--cpus A,B] [--iters N] [--batches B] [--json]
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  _Alignas(64) atomic_long flag;
  char pad[64 - sizeof(atomic_long)];
  long iters;
  int cpu;
  int pinned;
} shared_line;

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int pin(int cpu) {
  if (cpu < 0) return 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

static void *responder(void *arg) {
  shared_line *s = arg;
  s->pinned = pin(s->cpu);
  /* Answers every odd value v with v + 1; stops at -1. */
  long expect = 1;
  for (;;) {
    long v;
    while ((v = atomic_load_explicit(&s->flag, memory_order_acquire)) != expect)
      if (v < 0) return NULL;
    atomic_store_explicit(&s->flag, v + 1, memory_order_release);
    expect = v + 2;
  }
}

static int by_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  int cpu_a = -1, cpu_b = -1, json = 0, batches = 15;
  long iters = 20000;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--cpus") && i + 1 < argc) {
      if (sscanf(argv[++i], "%d,%d", &cpu_a, &cpu_b) != 2) cpu_a = cpu_b = -1;
    } else if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = atol(argv[++i]);
    else if (!strcmp(argv[i], "--batches") && i + 1 < argc) batches = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--json")) json = 1;
    else {
      fprintf(stderr, "usage: c2c [--cpus A,B] [--iters N] [--batches B] [--json]\n"
                      "Measures the cache-line round trip between two CPUs (default: the first two\n"
                      "this process may use).\n");
      return strcmp(argv[i], "--help") ? 2 : 0;
    }
  }
  if (iters < 100) iters = 100;
  if (batches < 1) batches = 1;
  if (batches > 1000) batches = 1000;
  if (cpu_a < 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0)
      for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set)) {
          if (cpu_a < 0) cpu_a = c;
          else if (cpu_b < 0) cpu_b = c;
        }
    if (cpu_b < 0) cpu_a = -1; /* one CPU only: measure unpinned */
  }
  shared_line *s = aligned_alloc(64, sizeof *s);
  memset(s, 0, sizeof *s);
  atomic_init(&s->flag, 0);
  s->cpu = cpu_b;
  int pinned_a = pin(cpu_a);
  pthread_t th;
  if (pthread_create(&th, NULL, responder, s)) {
    fprintf(stderr, "c2c: cannot start a thread\n");
    return 1;
  }
  double *ns = malloc(sizeof(double) * (size_t)batches);
  long v = 1;
  for (int b = -1; b < batches; b++) { /* batch -1 warms up */
    double t0 = now_ns();
    for (long i = 0; i < iters; i++, v += 2) {
      atomic_store_explicit(&s->flag, v, memory_order_release);
      while (atomic_load_explicit(&s->flag, memory_order_acquire) != v + 1) {
      }
    }
    if (b >= 0) ns[b] = (now_ns() - t0) / (double)iters;
  }
  atomic_store(&s->flag, -1);
  pthread_join(th, NULL);
  qsort(ns, (size_t)batches, sizeof *ns, by_double);
  double median = ns[batches / 2], best = ns[0];
  int pinned = pinned_a && s->pinned;
  if (json)
    printf("{\"cpus\": [%d, %d], \"pinned\": %s, \"round_trip_ns\": %.1f, \"best_ns\": %.1f, \"batches\": %d, "
           "\"iters\": %ld}\n",
           cpu_a, cpu_b, pinned ? "true" : "false", median, best, batches, iters);
  else
    printf("cache-line round trip CPU %d <-> CPU %d%s: median %.1f ns, best %.1f ns (%d batches of %ld)\n", cpu_a,
           cpu_b, pinned ? "" : " (not pinned)", median, best, batches, iters);
  free(ns);
  free(s);
  return 0;
}
