/*
 * serve/serve.h: `ledge serve`, an inference service over HTTP(S) and MQTT.
 *
 * One process loads each model once (weights shared), keeps a fixed pool of
 * workers (each with its own ledge_session per model, so runs never lock),
 * and feeds them from one bounded queue. The HTTP front end (libmicrohttpd)
 * and the MQTT worker (libmosquitto) only parse and enqueue; decoding,
 * preprocessing, inference and response encoding happen on the workers. See
 * docs/serve.md for the routes, topics and payloads.
 */
#ifndef LEDGE_SERVE_H
#define LEDGE_SERVE_H

#include <stdbool.h>
#include <stddef.h>

#include "media/image.h"

#define SERVE_MAX_MODELS 16

/* Image preprocessing for a model, from its sidecar JSON or from flags.
 * Unset fields (0) are derived from the model's declared input shape. */
typedef struct serve_preprocess {
  int width, height;      /* input size (default: the model's) */
  int resize_shorter;     /* resize the shorter side to this, then center crop; 0 = straight resize */
  bool have_norm;         /* mean/std/scale were given */
  media_normalize norm;   /* default: scale 1/255, mean 0, std 1 */
  bool layout_given;      /* NCHW/NHWC given explicitly (else from the shape) */
  int output_mode;        /* 0 auto softmax, 1 always softmax, 2 raw */
  const char *labels_file;
} serve_preprocess;

typedef struct serve_config {
  const char *model_names[SERVE_MAX_MODELS];
  const char *model_paths[SERVE_MAX_MODELS];
  int n_models;
  const char *host; /* address to listen on (default 0.0.0.0) */
  int port;         /* default 8080; 0 picks a free port (printed) */
  int workers;      /* worker sessions (default: cores) */
  int intra_threads;/* threads inside each session (default 1) */
  int queue_size;   /* jobs waiting beyond the running ones (default 4 x workers) */
  int max_batch, max_delay_ms;
  int timeout_ms;        /* per-request deadline (default 60000) */
  long max_body;         /* bytes (default 6 MB) */
  long max_model_bytes;  /* PUT /models/NAME body limit (default 1 GB) */
  int io_timeout_s;      /* idle connection timeout: slow headers and bodies (default 15) */
  int retry_after_s;     /* Retry-After on 503 (default 1) */
  const char *tls_cert, *tls_key;
  bool http; /* false with --no-http */
  bool watch;
  const char *model_dir; /* where PUT bodies are stored (default: a temp dir) */
  serve_preprocess pre;  /* flag-given preprocessing, used when no sidecar */
  bool pre_given;
  /* MQTT */
  const char *mqtt_url; /* mqtt://HOST:PORT or mqtts://HOST:PORT */
  const char *mqtt_ca, *mqtt_cert, *mqtt_key;
  const char *mqtt_client_id; /* default ledge-serve-<host>-<pid> */
  const char *mqtt_group;     /* shared subscription group (default "ledge"); "" = plain subscription */
  const char *mqtt_prefix;    /* default "ledge/infer" */
  int mqtt_protocol;          /* 5 (default) or 311 */
  const char *mqtt_format;    /* "ledge" (default) or "greengrass" */
  int mqtt_max_payload;       /* default 131072 */
  long mqtt_session_expiry_s; /* default 86400 */
  const char *mqtt_journal;   /* file: requests survive SIGKILL until their reply is acknowledged */
  bool json_log;
  bool quiet;
} serve_config;

void serve_config_init(serve_config *cfg);

/* Runs the service until SIGTERM or SIGINT, then drains in-flight requests
 * and returns 0; returns 1 (after printing one line) if it cannot start. */
int serve_main(const serve_config *cfg);

#endif
