/*
 * threadpool.h: a small fixed pool of worker threads for data-parallel loops.
 */
#ifndef LEDGE_THREADPOOL_H
#define LEDGE_THREADPOOL_H

#include <stdint.h>

#include "runtime/core.h"

typedef struct lg_threadpool lg_threadpool;

/* Creates a pool that runs loops on n_threads threads in total (the caller's
 * thread included). n_threads <= 0 means one per online core. */
lg_status lg_threadpool_create(int n_threads, lg_threadpool **out);
void lg_threadpool_destroy(lg_threadpool *pool);
int lg_threadpool_size(const lg_threadpool *pool); /* 1 for NULL */

/* Splits [0, n) into contiguous chunks and calls fn(ctx, begin, end) on each,
 * on all threads of the pool; returns when all are done. A NULL pool runs
 * fn(ctx, 0, n) on the caller's thread. Never allocates. */
typedef void (*lg_range_fn)(void *ctx, int64_t begin, int64_t end);
void lg_parallel_for(lg_threadpool *pool, int64_t n, lg_range_fn fn, void *ctx);

#endif
