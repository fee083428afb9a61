/*
 * ledge_driver.c: ledge's side of bench/bench.py. Loads one model, keeps the
 * session resident and runs it on command, so that the orchestrator can
 * interleave ledge and ONNX Runtime run by run. Same protocol as
 * bench/ort_bench.js --serve:
 *
 *   start:    ledge_driver MODEL --threads N
 *   prints:   {"ready": true, "load_ms": .., "create_ms": .., "startup_ms": .., "macs": .., ...}
 *   stdin:    "run K"  -> runs K times back to back, prints {"times_ms": [..], "cpu_ms": [..]}
 *             (cpu_ms: the process's CPU time per run, all threads)
 *             "quit"   -> prints {"peak_rss_kb": ..} and exits (also at EOF)
 * Every reply is one line of JSON on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ledge/ledge.h"

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

/* CPU time of the whole process (all its threads): on a machine shared with
 * other work, less disturbed than wall time by being descheduled. */
static double cpu_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static long peak_rss_kb(void) {
  struct rusage ru;
  return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

static int fail(const char *what) {
  printf("{\"error\": \"%s: %s\"}\n", what, ledge_last_error());
  fflush(stdout);
  return 1;
}

int main(int argc, char **argv) {
  const char *path = NULL;
  int threads = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--threads") && i + 1 < argc)
      threads = atoi(argv[++i]);
    else if (argv[i][0] != '-' && !path)
      path = argv[i];
    else {
      fprintf(stderr,
              "usage: ledge_driver MODEL [--threads N]   (commands on stdin: run K, quit)\n");
      return strcmp(argv[i], "--help") ? 2 : 0;
    }
  }
  if (!path) {
    fprintf(stderr, "usage: ledge_driver MODEL [--threads N]   (commands on stdin: run K, quit)\n");
    return 2;
  }
  double t0 = now_ms();
  ledge_model *model;
  if (ledge_model_load(path, &model) != LEDGE_OK) return fail("load");
  double t1 = now_ms();
  ledge_session_options opt;
  ledge_session_options_init(&opt);
  opt.num_threads = threads;
  ledge_session *s;
  if (ledge_session_create(model, &opt, &s) != LEDGE_OK) return fail("session");
  int n_in = ledge_session_input_count(s);
  if (n_in > 16) return fail("too many inputs");
  ledge_tensor *in[16] = {0};
  for (int i = 0; i < n_in; i++) {
    ledge_tensor_info info;
    ledge_session_input_info(s, i, &info);
    int64_t dims[LEDGE_MAX_RANK];
    for (int d = 0; d < info.rank; d++) dims[d] = info.dims[d] < 0 ? 1 : info.dims[d];
    if (ledge_session_set_input_shape(s, i, info.rank, dims) != LEDGE_OK) return fail("plan");
    if (ledge_tensor_create(info.dtype, info.rank, dims, &in[i]) != LEDGE_OK) return fail("input");
    if (info.dtype == LEDGE_FLOAT32) {
      float *p = ledge_tensor_data(in[i]);
      uint32_t st = 12345;
      for (int64_t k = 0; k < ledge_tensor_count(in[i]); k++) {
        st = st * 1103515245u + 12345u;
        p[k] = (float)st / 4294967296.0f * 2 - 1;
      }
    }
  }
  double t2 = now_ms();
  if (ledge_session_run(s, in, n_in, NULL, 0) != LEDGE_OK) return fail("run");
  if (ledge_session_run(s, in, n_in, NULL, 0) != LEDGE_OK) return fail("run");
  ledge_session_stats st;
  ledge_session_stats_get(s, &st);
  printf(
      "{\"ready\": true, \"load_ms\": %.3f, \"create_ms\": %.3f, \"startup_ms\": %.3f, \"macs\": "
      "%lld, "
      "\"arena_bytes\": %lld, \"threads\": %d, \"version\": \"%s\", \"peak_rss_after_load_kb\": "
      "%ld}\n",
      t1 - t0, t2 - t1, t2 - t0, (long long)st.macs, (long long)st.arena_bytes, threads,
      ledge_version(), peak_rss_kb());
  fflush(stdout);
  char line[256];
  double *times = NULL;
  int rc = 0;
  while (fgets(line, sizeof line, stdin)) {
    int k;
    if (sscanf(line, "run %d", &k) == 1 && k > 0 && k <= 100000) {
      times = realloc(times, sizeof *times * 2 * (size_t)k);
      for (int r = 0; r < k; r++) {
        double a = now_ms(), ca = cpu_ms();
        if (ledge_session_run(s, in, n_in, NULL, 0) != LEDGE_OK) {
          rc = fail("run");
          break;
        }
        times[r] = now_ms() - a;
        times[k + r] = cpu_ms() - ca;
      }
      if (rc) break;
      printf("{\"times_ms\": [");
      for (int r = 0; r < k; r++) printf("%s%.4f", r ? ", " : "", times[r]);
      printf("], \"cpu_ms\": [");
      for (int r = 0; r < k; r++) printf("%s%.4f", r ? ", " : "", times[k + r]);
      printf("]}\n");
      fflush(stdout);
    } else if (!strncmp(line, "quit", 4)) {
      break;
    } else {
      printf("{\"error\": \"unknown command\"}\n");
      fflush(stdout);
    }
  }
  if (!rc) printf("{\"peak_rss_kb\": %ld}\n", peak_rss_kb());
  fflush(stdout);
  free(times);
  for (int i = 0; i < n_in; i++) ledge_tensor_destroy(in[i]);
  ledge_session_destroy(s);
  ledge_model_destroy(model);
  return rc;
}
