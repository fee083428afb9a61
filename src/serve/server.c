/* serve/server.c: start-up, readiness, --watch and graceful shutdown. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "serve/internal.h"

void serve_config_init(serve_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->host = "0.0.0.0";
  cfg->port = 8080;
  cfg->intra_threads = 1;
  cfg->max_batch = 1;
  cfg->max_delay_ms = 0;
  cfg->timeout_ms = 60000;
  cfg->max_body = 6L * 1024 * 1024;
  cfg->max_model_bytes = 1L << 30;
  cfg->io_timeout_s = 15;
  cfg->retry_after_s = 1;
  cfg->http = true;
  cfg->mqtt_group = "ledge";
  cfg->mqtt_prefix = "ledge/infer";
  cfg->mqtt_protocol = 5;
  cfg->mqtt_format = "ledge";
  cfg->mqtt_max_payload = 128 * 1024;
  cfg->mqtt_session_expiry_s = 86400;
  memset(&cfg->pre, 0, sizeof cfg->pre);
  media_normalize_init(&cfg->pre.norm);
}

/* Removes our own mkdtemp folder and the uploads in it (flat files only). */
static void remove_tmpdir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char path[4400];
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') {
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      unlink(path);
    }
  closedir(d);
  rmdir(dir);
}

static void check_watch(serve_server *s) {
  for (int i = 0; i < s->n_slots; i++) {
    char path[4096];
    int64_t old;
    pthread_mutex_lock(&s->lock);
    snprintf(path, sizeof path, "%s", s->slots[i].source);
    old = s->slots[i].mtime_ns;
    pthread_mutex_unlock(&s->lock);
    struct stat st;
    if (!path[0] || stat(path, &st) != 0) continue;
    int64_t now = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if (now == old) continue;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&s->slots[i].loading, &expected, 1)) continue;
    char err[512];
    serve_log(s, "model %s changed on disk; loading it", s->slots[i].name);
    if (serve_load(s, i, path, err, sizeof err)) {
      serve_log(s, "model %s: reload failed, keeping the running version: %s", s->slots[i].name, err);
      pthread_mutex_lock(&s->lock);
      s->slots[i].mtime_ns = now; /* do not retry until it changes again */
      pthread_mutex_unlock(&s->lock);
    }
    atomic_store(&s->slots[i].loading, 0);
  }
}

int serve_main(const serve_config *cfg) {
  serve_server *s = calloc(1, sizeof *s);
  if (!s) return 1;
  s->cfg = *cfg;
  s->t0 = serve_now();
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  s->n_workers = cfg->workers > 0 ? cfg->workers : (int)(cores > 0 ? cores : 1);
  s->queue_cap = cfg->queue_size > 0 ? cfg->queue_size : 4 * s->n_workers;
  s->queue = calloc((size_t)s->queue_cap, sizeof *s->queue);
  s->metrics = serve_metrics_new(SERVE_MAX_MODELS);
  const char *delay = getenv("LEDGE_SERVE_TEST_DELAY_MS");
  s->test_delay_ms = delay ? atoi(delay) : 0;
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->queue_cv, NULL);
  pthread_cond_init(&s->live_cv, NULL);
  for (int i = 0; i < cfg->n_models; i++) {
    snprintf(s->slots[i].name, sizeof s->slots[i].name, "%s", cfg->model_names[i]);
    snprintf(s->slots[i].source, sizeof s->slots[i].source, "%s", cfg->model_paths[i]);
  }
  s->n_slots = cfg->n_models;
  if (cfg->model_dir) snprintf(s->tmpdir, sizeof s->tmpdir, "%s", cfg->model_dir);
  else {
    const char *t = getenv("TMPDIR");
    snprintf(s->tmpdir, sizeof s->tmpdir, "%s/ledge-serve-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(s->tmpdir)) s->tmpdir[0] = 0;
  }
  if (!s->queue || !s->metrics || !s->tmpdir[0]) {
    fprintf(stderr, "ledge: serve: cannot allocate the server (or make a temporary folder)\n");
    return 1;
  }

  /* Signals are taken by this thread with sigtimedwait; every other thread
   * inherits the mask. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  signal(SIGPIPE, SIG_IGN);

  int rc = 0;
  /* HTTP first, so that /ping answers (503) while the models load. */
  if (cfg->http && serve_http_start(s)) rc = 1;
  if (!rc && serve_workers_start(s)) {
    serve_log(s, "cannot start the workers");
    rc = 1;
  }
  if (!rc && !cfg->quiet) {
    /* A machine-readable line for scripts that start us on port 0. */
    if (cfg->http) printf("{\"event\": \"listening\", \"port\": %d}\n", s->cfg.port);
    fflush(stdout);
  }
  bool stop = false;
  for (int i = 0; i < s->n_slots && !rc; i++) {
    char err[512];
    atomic_store(&s->slots[i].loading, 1);
    if (serve_load(s, i, s->slots[i].source, err, sizeof err)) {
      fprintf(stderr, "ledge: serve: model '%s': %s\n", s->slots[i].name, err);
      rc = 1;
    }
    atomic_store(&s->slots[i].loading, 0);
    struct timespec zero = {0, 0};
    if (sigtimedwait(&sigs, NULL, &zero) > 0) stop = true, i = s->n_slots;
  }
  if (!rc && !stop) {
    atomic_store(&s->ready, true);
    serve_log(s, "ready: %d model(s), %d workers, queue %d", s->n_slots, s->n_workers, s->queue_cap);
    if (cfg->mqtt_url && serve_mqtt_start(s)) rc = 1;
  }
  while (!rc && !stop) {
    struct timespec tick = {1, 0};
    int sig = sigtimedwait(&sigs, NULL, &tick);
    if (sig > 0) {
      serve_log(s, "%s: finishing %d in-flight request(s)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                atomic_load(&s->inflight));
      break;
    }
    if (cfg->watch) check_watch(s);
  }

  /* Graceful shutdown: stop taking work, finish what was accepted, exit. */
  atomic_store(&s->ready, false);
  serve_http_quiesce(s);
  serve_mqtt_stop_intake(s);
  atomic_store(&s->stopping, true);
  double until = serve_now() + 25;
  while (atomic_load(&s->inflight) > 0 && serve_now() < until) usleep(10000);
  serve_workers_stop(s);
  serve_mqtt_stop(s);
  /* Responses that were handed to MHD are sent before it stops. */
  serve_http_stop(s);
  for (int i = 0; i < SERVE_MAX_MODELS; i++) serve_release(s->slots[i].current);
  serve_metrics_free(s->metrics);
  free(s->queue);
  if (!cfg->model_dir) remove_tmpdir(s->tmpdir);
  free(s);
  if (!rc) fprintf(stderr, "ledge serve: stopped\n");
  return rc;
}
