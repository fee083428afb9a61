/*
 * threadpool.h: a small fixed pool of worker threads for data-parallel loops.
 *
 * Behaviour, in short (details in threadpool.c):
 * - A pool of N threads runs every loop on exactly N threads: the caller's
 *   thread plus N - 1 workers. It never starts more, whatever the loop size.
 * - Between loops a worker spins for a bounded time (LEDGE_SPIN_US
 *   microseconds, default LG_SPIN_US_DEFAULT) so that the back-to-back loops
 *   of one inference do not pay a wake-up each; after that it sleeps on a
 *   condition variable, so an idle session costs no CPU.
 * - LEDGE_AFFINITY=1 pins worker i to the i-th CPU the process may run on
 *   (the caller's thread is left alone). Failure to pin, e.g. under a
 *   restrictive cpuset, is silently ignored: affinity is a hint.
 * - A loop started from inside a loop of the same pool runs serially on the
 *   calling thread (no deadlock, no oversubscription). Loops started from
 *   two outside threads at once are serialized.
 */
#ifndef LEDGE_THREADPOOL_H
#define LEDGE_THREADPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/core.h"

typedef struct lg_threadpool lg_threadpool;

/* Microseconds a worker spins after a loop before it sleeps. 4 ms: long
 * enough to bridge every gap inside one inference (with 1 ms, 2-thread
 * latency at 6 requests/s was up to 1.3x an always-spinning pool's here),
 * short enough that CPU use is nil from 5 ms after a request (bench/idle_cpu). */
#define LG_SPIN_US_DEFAULT 4000

/* Creates a pool that runs loops on n_threads threads in total (the caller's
 * thread included). n_threads <= 0 means one per CPU this process may use
 * (its affinity mask). At most LG_MAX_THREADS. */
#define LG_MAX_THREADS 1024
lg_status lg_threadpool_create(int n_threads, lg_threadpool **out);
/* Stops and joins the workers. The pool must be idle (no loop running). */
void lg_threadpool_destroy(lg_threadpool *pool);
int lg_threadpool_size(const lg_threadpool *pool); /* 1 for NULL */

/* Splits [0, n) into min(n, size) contiguous chunks of near-equal length and
 * calls fn(ctx, begin, end) on each, on the threads of the pool; returns when
 * all are done. A NULL pool runs fn(ctx, 0, n) on the caller's thread. Never
 * allocates. */
typedef void (*lg_range_fn)(void *ctx, int64_t begin, int64_t end);
void lg_parallel_for(lg_threadpool *pool, int64_t n, lg_range_fn fn, void *ctx);

/* The same, and fn also gets the index in [0, size) of the thread running
 * the chunk, for per-thread scratch: no two chunks running at the same time
 * share an index. The caller's thread is index 0 (also for a NULL pool). */
typedef void (*lg_indexed_range_fn)(void *ctx, int thread, int64_t begin, int64_t end);
void lg_parallel_for_indexed(lg_threadpool *pool, int64_t n, lg_indexed_range_fn fn, void *ctx);

/* Dynamic schedule: splits [0, n) into up to min(n, LG_MAX_TASKS) near-equal
 * contiguous pieces that threads claim one at a time as they become free, so
 * uneven work, or a thread the OS preempted, does not hold the loop back.
 * fn may run many times on one thread (same thread index rules as above). */
#define LG_MAX_TASKS 2047
void lg_parallel_for_dynamic(lg_threadpool *pool, int64_t n, lg_indexed_range_fn fn, void *ctx);

/* The index of the calling thread in the pool whose loop it is running, or 0
 * outside any loop. */
int lg_threadpool_thread_index(void);

/* Per-thread scratch owned by the pool, for kernels whose tasks need a
 * private buffer: lg_threadpool_reserve_scratch grows the buffer of every
 * thread index at once, on the caller's thread, so that a worker's first
 * share of a later loop never allocates (a session's runs allocate nothing
 * once warm). It fails (false) for a NULL pool, inside one of the pool's
 * own loops (the buffers may be in use), or out of memory; the caller then
 * finds its scratch elsewhere. lg_threadpool_scratch(pool, index) is the
 * buffer of thread `index` (64-byte aligned, at least the reserved size). */
bool lg_threadpool_reserve_scratch(lg_threadpool *pool, size_t size);
void *lg_threadpool_scratch(const lg_threadpool *pool, int thread);

/* Workers currently pinned to a CPU (LEDGE_AFFINITY=1); 0 otherwise. */
int lg_threadpool_pinned(const lg_threadpool *pool);

#endif
