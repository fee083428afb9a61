/* serve/internal.h: what the parts of ledge serve share (not an API). */
#ifndef LEDGE_SERVE_INTERNAL_H
#define LEDGE_SERVE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ledge/ledge.h"
#include "serve/serve.h"

/* ---- Growable strings (response bodies) ---------------------------------- */

typedef struct sbuf {
  char *data;
  size_t len, cap;
  bool oom;
} sbuf;
void sb_put(sbuf *b, const void *data, size_t n);
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_json_string(sbuf *b, const char *s);
void sb_free(sbuf *b);

/* ---- Models --------------------------------------------------------------- */

/* One loaded version of a model: the weights (once) and one session per worker. */
typedef struct serve_version {
  atomic_int refs;
  int number; /* 1, 2, ... per slot */
  char *path;
  ledge_model *model;
  ledge_session **sessions; /* [n_workers] */
  int n_sessions;
  /* the first input, as declared (unknown dims resolved to 1) */
  ledge_tensor_info input;
  int batch_fixed; /* the batch dimension is a fixed 1: batched requests run sample by sample */
  /* images */
  ledge_tensor_info outputs[16]; /* as planned at the declared input shape */
  int n_outputs;
  bool image_ok; /* the input looks like an image: rank 4 with 1 or 3 channels */
  media_preprocess pre;
  int channels;
  int output_mode;
  char **labels;
  int n_labels;
} serve_version;

typedef struct serve_slot {
  char name[128];
  char source[4096]; /* the file it was loaded from (for --watch) */
  int64_t mtime_ns;
  serve_version *current; /* NULL until loaded; swapped under the registry lock */
  int next_number;
  atomic_int loading;
  char error[512]; /* why the last load failed */
} serve_slot;

/* ---- Jobs ------------------------------------------------------------------ */

typedef enum body_kind { BODY_NPY = 1, BODY_JSON = 2, BODY_IMAGE = 3 } body_kind;

typedef struct serve_job serve_job;
struct serve_job {
  atomic_int refs;
  atomic_int answered; /* 0 until the response is decided (worker or deadline) */
  int slot;
  serve_version *ver; /* reference held */
  body_kind kind;
  uint8_t *body;
  size_t body_len;
  bool want_npy;   /* respond with output 0 as .npy */
  int top_k;       /* > 0: labelled top-k */
  bool greengrass; /* the edge classification payload shape */
  double t_start, deadline;
  /* result */
  int code;
  char *resp;
  size_t resp_len;
  const char *resp_type;
  /* completion: called exactly once, from a worker or the deadline thread */
  void (*done)(serve_job *job);
  void *ctx;
  serve_job *next_live; /* deadline list */
  serve_job *prev_live;
};

/* ---- The server ------------------------------------------------------------ */

typedef struct serve_metrics serve_metrics;

typedef struct serve_server {
  serve_config cfg;
  serve_slot slots[SERVE_MAX_MODELS];
  int n_slots;
  pthread_mutex_t lock; /* slots' current pointers, queue, live list */
  pthread_cond_t queue_cv;
  pthread_cond_t live_cv;
  serve_job **queue;
  int queue_cap, queue_head, queue_len;
  serve_job *live; /* jobs not answered yet, for deadlines */
  int live_count;
  atomic_int inflight; /* accepted requests not yet sent back */
  atomic_bool ready;
  atomic_bool stopping;
  int n_workers;
  pthread_t *workers;
  pthread_t reaper;
  int test_delay_ms; /* LEDGE_SERVE_TEST_DELAY_MS: sleep in each run (tests only) */
  serve_metrics *metrics;
  char tmpdir[4096];
  double t0;
  void *http;
  void *mqtt;
} serve_server;

double serve_now(void);
void serve_log(serve_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* models.c */
int serve_slot_find(serve_server *s, const char *name); /* index or -1 */
serve_version *serve_acquire(serve_server *s, int slot); /* ref to current, or NULL */
void serve_release(serve_version *v);
/* Loads path as a new version of slot and swaps it in; blocking. */
int serve_load(serve_server *s, int slot, const char *path, char *err, size_t err_size);
void serve_models_json(serve_server *s, int only_slot, sbuf *out);
void serve_version_free(serve_version *v);

/* jobs.c */
serve_job *serve_job_new(void);
void serve_job_unref(serve_job *job);
/* Queues a job (takes one reference). Returns 0, or 503 when full or stopping. */
int serve_submit(serve_server *s, serve_job *job);
/* Answers a job with an error (JSON body); true if this call answered it. */
bool serve_job_fail(serve_job *job, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int serve_workers_start(serve_server *s);
void serve_workers_stop(serve_server *s);
int serve_queue_depth(serve_server *s);

/* decode.c: request bodies to an input tensor (fuzzed by tests/fuzz). */
typedef struct serve_input_spec {
  ledge_dtype dtype;
  int rank;
  int64_t dims[LEDGE_MAX_RANK]; /* -1 unknown */
  bool image_ok;
  media_preprocess pre;
  int channels;
} serve_input_spec;
/* Returns 0 or an HTTP status (400, 413, 415, 500) with a message in err. */
int serve_decode(const serve_input_spec *spec, body_kind kind, const uint8_t *body, size_t len,
                 ledge_tensor **out, char *err, size_t err_size);
/* Content-Type header to body kind; 0 if unsupported. */
body_kind serve_body_kind(const char *content_type);

/* MQTT envelope: {"id": ..., "client": ..., "content_type": ..., "data": base64} or
 * {"id": ..., "client": ..., "instances": [...]}. */
typedef struct serve_envelope {
  char id[256];
  char client[256];
  body_kind kind;
  uint8_t *body; /* malloc'd */
  size_t body_len;
  int top_k;
} serve_envelope;
int serve_envelope_parse(const uint8_t *payload, size_t len, serve_envelope *env, char *err, size_t err_size);
void serve_envelope_free(serve_envelope *env);

/* encode.c: outputs to a response body. */
typedef struct serve_result {
  int n;
  const char *names[16];
  ledge_tensor *tensors[16]; /* owned */
  int batch; /* samples in the request */
  bool batched_request; /* the request was a list of instances */
} serve_result;
int serve_encode(const serve_version *v, const serve_job *job, serve_result *r, sbuf *out,
                 const char **content_type, char *err, size_t err_size);
void serve_result_free(serve_result *r);

/* metrics.c */
serve_metrics *serve_metrics_new(int n_slots);
void serve_metrics_free(serve_metrics *m);
void serve_metrics_request(serve_metrics *m, int slot, int code, double seconds);
void serve_metrics_batch(serve_metrics *m, int size);
void serve_metrics_text(serve_server *s, sbuf *out);

/* journal.c: the MQTT worker's durable request journal (--mqtt-journal). */
typedef struct serve_journal serve_journal;
typedef struct serve_journal_entry {
  uint64_t seq;
  char *topic, *response_topic, *content_type; /* response_topic, content_type may be NULL */
  void *correlation;
  size_t correlation_len;
  void *payload;
  size_t len;
} serve_journal_entry;
/* Opens (creating) the journal; requests a previous run left unanswered are
 * kept for serve_journal_replay. Returns 0, or -1 with a reason. */
int serve_journal_open(const char *path, serve_journal **out, char *err, size_t err_size);
/* The pending entries (malloc'd array, ownership passes to the caller). */
int serve_journal_replay(serve_journal *j, serve_journal_entry **entries);
/* Appends a request and syncs it to disk; its seq, or 0 if it could not be written. */
uint64_t serve_journal_add(serve_journal *j, const serve_journal_entry *e);
/* The reply to seq has been acknowledged by the broker. */
void serve_journal_done(serve_journal *j, uint64_t seq);
long serve_journal_pending(serve_journal *j);
void serve_journal_entry_free(serve_journal_entry *e);
void serve_journal_close(serve_journal *j);

/* http.c, mqtt.c */
int serve_http_start(serve_server *s);
void serve_http_quiesce(serve_server *s);
void serve_http_stop(serve_server *s);
int serve_mqtt_start(serve_server *s);
void serve_mqtt_stop_intake(serve_server *s); /* unsubscribe: no new requests */
void serve_mqtt_stop(serve_server *s);

#endif
