/* train/loader.c: worker threads that decode and augment batches into a
 * ring of `prefetch` slots ahead of the training step. See loader.h.
 *
 * The ring: a worker claims slot `assigned % prefetch` for the next batch
 * number (batches are handed out in order), fills it outside the lock and
 * marks it ready; the consumer takes slot `head % prefetch` once it is ready,
 * so batches arrive in order whichever worker finishes first, and returns it
 * (head++) on its next call. train_loader_start bumps a generation number,
 * waits for the fills in flight (their batches are dropped), then resets the
 * ring. */
#include "train/loader.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct loader_slot {
  float *images;
  int32_t *labels;
  long *indices;
  int count;
  int ready; /* filled for the current generation, not yet consumed */
  long epoch, index;
} loader_slot;

struct train_loader {
  const train_dataset *dataset;
  train_loader_options opt;
  long n;               /* samples in the dataset */
  long batches;         /* per epoch, per rank */
  long samples;         /* per epoch, this rank */
  size_t sample_floats; /* C * H * W */
  long *order;          /* the current epoch's permutation */
  int prefetch;         /* slots in the ring (at least workers + 1) */
  loader_slot *slots;

  pthread_t *threads;
  int threads_started;
  pthread_mutex_t lock;
  pthread_cond_t changed; /* any state change; both sides wait on it */
  long generation;
  long epoch;        /* epoch being produced and consumed */
  long produce_next; /* next batch the worker makes */
  long consume_next; /* next batch the consumer receives */
  long head;         /* the next slot to consume (counter; slot = head % prefetch) */
  long assigned;     /* slots handed to workers (counter) */
  int filling;       /* fills in progress */
  int lent;          /* the consumer holds slot head % prefetch */
  int active;        /* an epoch is started */
  int stop;
  int fatal;

  long delivered, skipped;
  double decode_seconds;
  char error[512];
};

static ledge_status loader_fail(char *err, size_t err_size, ledge_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static ledge_status loader_fail(char *err, size_t err_size, ledge_status st, const char *fmt, ...) {
  if (err && err_size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
  }
  return st;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void train_loader_options_init(train_loader_options *o, int channels, int height, int width) {
  memset(o, 0, sizeof *o);
  o->batch_size = 32;
  o->shuffle = 1;
  o->world_size = 1;
  o->prefetch = 2;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  o->workers = cpus >= 8 ? (int)(cpus / 4 < 8 ? cpus / 4 : 8) : 1;
  o->augment = 1;
  train_augment_defaults(&o->transform, channels, height, width, TRAIN_AUG_CROP);
}

/* The range of epoch positions batch b of this rank covers. */
static void batch_range(const train_loader *ld, long b, long *from, long *to) {
  long global = (long)ld->opt.batch_size * ld->opt.world_size;
  long start = b * global + (long)ld->opt.rank * ld->opt.batch_size;
  long end = start + ld->opt.batch_size;
  if (start > ld->n) start = ld->n;
  if (end > ld->n) end = ld->n;
  *from = start;
  *to = end;
}

/* Decodes and augments one batch into slot; called without the lock. */
static void fill_slot(train_loader *ld, loader_slot *slot, long count, long epoch) {
  char why[512];
  int kept = 0;
  for (long j = 0; j < count; j++) {
    long index = slot->indices[j];
    media_image img;
    ledge_status st = train_dataset_read(ld->dataset, index, &img, why, sizeof why);
    if (st == LEDGE_OK) {
      st =
          train_augment_apply(&ld->opt.transform, &img, ld->opt.augment, ld->opt.seed, epoch, index,
                              slot->images + (size_t)kept * ld->sample_floats, why, sizeof why);
      media_image_free(&img);
    }
    if (st != LEDGE_OK) {
      pthread_mutex_lock(&ld->lock);
      ld->skipped++;
      if (!ld->error[0]) snprintf(ld->error, sizeof ld->error, "skipped: %s", why);
      pthread_mutex_unlock(&ld->lock);
      continue;
    }
    slot->indices[kept] = index;
    slot->labels[kept] = train_dataset_label(ld->dataset, index);
    kept++;
  }
  slot->count = kept;
}

static void *worker_main(void *arg) {
  train_loader *ld = arg;
  pthread_mutex_lock(&ld->lock);
  for (;;) {
    while (!ld->stop && (!ld->active || ld->produce_next >= ld->batches ||
                         ld->assigned - ld->head >= ld->prefetch))
      pthread_cond_wait(&ld->changed, &ld->lock);
    if (ld->stop) break;
    long generation = ld->generation, epoch = ld->epoch, b = ld->produce_next++;
    loader_slot *slot = &ld->slots[ld->assigned++ % ld->prefetch];
    long from, to;
    batch_range(ld, b, &from, &to);
    for (long p = from; p < to; p++) slot->indices[p - from] = ld->order[p];
    slot->ready = 0;
    ld->filling++;
    pthread_mutex_unlock(&ld->lock);

    double t0 = now_seconds();
    fill_slot(ld, slot, to - from, epoch);
    slot->epoch = epoch;
    slot->index = b;
    double spent = now_seconds() - t0;

    pthread_mutex_lock(&ld->lock);
    ld->decode_seconds += spent;
    ld->filling--;
    if (generation == ld->generation) slot->ready = 1; /* else restarted meanwhile: dropped */
    pthread_cond_broadcast(&ld->changed);
  }
  pthread_mutex_unlock(&ld->lock);
  return NULL;
}

ledge_status train_loader_create(const train_dataset *dataset, const train_loader_options *options,
                                 train_loader **out, char *err, size_t err_size) {
  *out = NULL;
  const train_loader_options *o = options;
  if (o->batch_size <= 0 || o->batch_size > (1 << 20))
    return loader_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                       "mini_batch_size must be between 1 and %d, not %d", 1 << 20, o->batch_size);
  if (o->world_size < 1 || o->rank < 0 || o->rank >= o->world_size)
    return loader_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                       "rank %d is not within a world of %d process(es)", o->rank, o->world_size);
  if (o->prefetch < 1 || o->prefetch > 64)
    return loader_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                       "prefetch must be between 1 and 64, not %d", o->prefetch);
  if (o->workers < 1 || o->workers > 64)
    return loader_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                       "workers must be between 1 and 64, not %d", o->workers);
  ledge_status st = train_augment_check(&o->transform, err, err_size);
  if (st) return st;
  long n = train_dataset_count(dataset);
  long global = (long)o->batch_size * o->world_size;
  int drop = o->drop_last || o->world_size > 1;
  long batches = drop ? n / global : (n + global - 1) / global;
  if (batches == 0)
    return loader_fail(err, err_size, LEDGE_ERR_INVALID_ARGUMENT,
                       "%ld samples are fewer than one batch of %ld%s", n, global,
                       o->world_size > 1 ? " across all ranks" : "");

  train_loader *ld = calloc(1, sizeof *ld);
  if (!ld) return loader_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  ld->dataset = dataset;
  ld->opt = *o;
  ld->n = n;
  ld->batches = batches;
  for (long b = 0; b < batches; b++) {
    long from, to;
    batch_range(ld, b, &from, &to);
    ld->samples += to - from;
  }
  ld->sample_floats = (size_t)o->transform.channels * o->transform.height * o->transform.width;
  ld->order = malloc(sizeof *ld->order * (size_t)n);
  ld->prefetch = o->prefetch > o->workers ? o->prefetch : o->workers + 1;
  ld->slots = calloc((size_t)ld->prefetch, sizeof *ld->slots);
  ld->threads = calloc((size_t)o->workers, sizeof *ld->threads);
  int ok = ld->order && ld->slots && ld->threads;
  for (int s = 0; ok && s < ld->prefetch; s++) {
    loader_slot *slot = &ld->slots[s];
    slot->images = malloc(sizeof *slot->images * ld->sample_floats * (size_t)o->batch_size);
    slot->labels = malloc(sizeof *slot->labels * (size_t)o->batch_size);
    slot->indices = malloc(sizeof *slot->indices * (size_t)o->batch_size);
    ok = slot->images && slot->labels && slot->indices;
  }
  pthread_mutex_init(&ld->lock, NULL);
  pthread_cond_init(&ld->changed, NULL);
  if (!ok) {
    train_loader_destroy(ld);
    return loader_fail(err, err_size, LEDGE_ERR_NO_MEMORY,
                       "out of memory for %d batches of %d samples", o->prefetch, o->batch_size);
  }
  for (int w = 0; w < o->workers; w++) {
    if (pthread_create(&ld->threads[w], NULL, worker_main, ld) != 0) {
      train_loader_destroy(ld);
      return loader_fail(err, err_size, LEDGE_ERR_INTERNAL, "cannot start the loader threads");
    }
    ld->threads_started++;
  }
  *out = ld;
  return LEDGE_OK;
}

void train_loader_destroy(train_loader *ld) {
  if (!ld) return;
  if (ld->threads_started) {
    pthread_mutex_lock(&ld->lock);
    ld->stop = 1;
    pthread_cond_broadcast(&ld->changed);
    pthread_mutex_unlock(&ld->lock);
    for (int w = 0; w < ld->threads_started; w++) pthread_join(ld->threads[w], NULL);
  }
  free(ld->threads);
  pthread_mutex_destroy(&ld->lock);
  pthread_cond_destroy(&ld->changed);
  if (ld->slots)
    for (int s = 0; s < ld->prefetch; s++) {
      free(ld->slots[s].images);
      free(ld->slots[s].labels);
      free(ld->slots[s].indices);
    }
  free(ld->slots);
  free(ld->order);
  free(ld);
}

long train_loader_batches_per_epoch(const train_loader *ld) { return ld->batches; }
long train_loader_samples_per_epoch(const train_loader *ld) { return ld->samples; }

ledge_status train_loader_start(train_loader *ld, long epoch, long first_batch) {
  if (epoch < 0 || first_batch < 0 || first_batch > ld->batches) {
    pthread_mutex_lock(&ld->lock);
    snprintf(ld->error, sizeof ld->error, "cannot start epoch %ld at batch %ld (of %ld)", epoch,
             first_batch, ld->batches);
    pthread_mutex_unlock(&ld->lock);
    return LEDGE_ERR_INVALID_ARGUMENT;
  }
  pthread_mutex_lock(&ld->lock);
  ld->generation++;
  ld->active = 0;
  /* fills in flight still write their slots: let them end before reuse */
  while (ld->filling > 0) pthread_cond_wait(&ld->changed, &ld->lock);
  ld->epoch = epoch;
  ld->produce_next = ld->consume_next = first_batch;
  ld->head = ld->assigned = 0;
  for (int s = 0; s < ld->prefetch; s++) ld->slots[s].ready = 0;
  ld->lent = 0;
  for (long i = 0; i < ld->n; i++) ld->order[i] = i;
  if (ld->opt.shuffle) {
    train_rng rng;
    train_rng_seed(&rng, ld->opt.seed, 0x5u, (uint64_t)epoch);
    train_rng_shuffle(&rng, ld->order, ld->n);
  }
  ld->active = 1;
  pthread_cond_broadcast(&ld->changed);
  pthread_mutex_unlock(&ld->lock);
  return LEDGE_OK;
}

int train_loader_next(train_loader *ld, train_batch *batch) {
  memset(batch, 0, sizeof *batch);
  pthread_mutex_lock(&ld->lock);
  for (;;) {
    if (ld->lent) {
      ld->lent = 0;
      ld->head++;
      pthread_cond_broadcast(&ld->changed);
    }
    if (!ld->active || ld->consume_next >= ld->batches) {
      pthread_mutex_unlock(&ld->lock);
      return 0;
    }
    loader_slot *slot = &ld->slots[ld->head % ld->prefetch];
    while (!slot->ready && !ld->fatal) pthread_cond_wait(&ld->changed, &ld->lock);
    if (ld->fatal) {
      pthread_mutex_unlock(&ld->lock);
      return -1;
    }
    slot->ready = 0;
    ld->consume_next++;
    ld->lent = 1;
    /* one process has nobody to keep in step with: skip a batch that lost
     * every sample rather than hand the step an empty one */
    if (slot->count == 0 && ld->opt.world_size == 1) continue;
    ld->delivered += slot->count;
    batch->count = slot->count;
    batch->images = slot->images;
    batch->labels = slot->labels;
    batch->indices = slot->indices;
    batch->epoch = slot->epoch;
    batch->index = slot->index;
    pthread_mutex_unlock(&ld->lock);
    return 1;
  }
}

void train_loader_get_stats(const train_loader *ld, train_loader_stats *stats) {
  train_loader *m = (train_loader *)ld;
  pthread_mutex_lock(&m->lock);
  stats->samples = ld->delivered;
  stats->skipped = ld->skipped;
  stats->decode_seconds = ld->decode_seconds;
  pthread_mutex_unlock(&m->lock);
}

const char *train_loader_error(const train_loader *ld) { return ld->error; }
