/* cmd_bench.c: `ledge bench MODEL` measures load time, latency and memory. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void help(FILE *f) {
  fprintf(f,
          "usage: ledge bench MODEL [--threads N] [--runs K] [--warmup W] [--json]\n"
          "Loads the model, plans a session, runs it W times to warm up and K times\n"
          "measured, and reports median, min and mean latency, load and plan time,\n"
          "the arena size and the peak resident memory.\n\n"
          "  --threads N  threads (default: one per core)\n"
          "  --runs K     measured runs (default 20)\n"
          "  --warmup W   unmeasured runs first (default 2)\n"
          "  --json       print one JSON object\n");
}

static int by_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int cmd_bench(int argc, char **argv) {
  const char *path = NULL, *value;
  long threads = 0, runs = 20, warmup = 2;
  bool json = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      help(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--json")) json = true;
    else if (cli_option(argc, argv, &i, "--threads", &value)) {
      if (!cli_parse_int("--threads", value, 0, 1024, &threads)) return 2;
    } else if (cli_option(argc, argv, &i, "--runs", &value)) {
      if (!cli_parse_int("--runs", value, 1, 100000000, &runs)) return 2;
    } else if (cli_option(argc, argv, &i, "--warmup", &value)) {
      if (!cli_parse_int("--warmup", value, 0, 1000000, &warmup)) return 2;
    } else if (argv[i][0] != '-' && !path) path = argv[i];
    else return cli_fail("bench: unexpected argument '%s' (see ledge bench --help)", argv[i]);
  }
  if (!path) {
    help(stderr);
    return 2;
  }
  long rss_start = cli_current_rss_kb();
  ledge_model *model;
  ledge_session *session;
  double load_s;
  if (cli_load_model(path, &model, &load_s)) return 1;
  long rss_loaded = cli_current_rss_kb();
  long peak_after_load = cli_peak_rss_kb();
  double t0 = cli_now();
  if (cli_create_session(model, (int)threads, &session)) {
    ledge_model_destroy(model);
    return 1;
  }
  double plan_s = cli_now() - t0;
  int n_in = ledge_session_input_count(session), rc = 0;
  ledge_tensor **inputs = calloc((size_t)n_in + 1, sizeof *inputs);
  for (int i = 0; i < n_in && !rc; i++) rc = cli_random_input(session, i, 0, &inputs[i]);
  double *times = calloc((size_t)runs, sizeof *times);
  for (long r = 0; r < warmup + runs && !rc; r++) {
    double s = cli_now();
    if (ledge_session_run(session, inputs, n_in, NULL, 0) != LEDGE_OK) rc = cli_fail_status("bench");
    if (r >= warmup) times[r - warmup] = cli_now() - s;
    cli_progress("bench", r + 1, warmup + runs);
  }
  if (!rc) {
    qsort(times, (size_t)runs, sizeof *times, by_double);
    double sum = 0;
    for (long r = 0; r < runs; r++) sum += times[r];
    double median = runs % 2 ? times[runs / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2;
    ledge_session_stats ss;
    ledge_session_stats_get(session, &ss);
    long peak = cli_peak_rss_kb();
    double gmacs = ss.macs / 1e9;
    if (json)
      printf("{\"model\": \"%s\", \"threads\": %ld, \"runs\": %ld, \"median_ms\": %.4f, \"min_ms\": %.4f, "
             "\"mean_ms\": %.4f, \"load_ms\": %.4f, \"plan_ms\": %.4f, \"arena_bytes\": %lld, \"macs\": %lld, "
             "\"rss_before_load_kb\": %ld, \"rss_after_load_kb\": %ld, \"peak_rss_after_load_kb\": %ld, \"peak_rss_kb\": %ld}\n",
             path, threads, runs, median * 1e3, times[0] * 1e3, sum / (double)runs * 1e3, load_s * 1e3, plan_s * 1e3,
             (long long)ss.arena_bytes, (long long)ss.macs, rss_start, rss_loaded, peak_after_load, peak);
    else {
      printf("model     %s\n", path);
      printf("latency   median %.3f ms, min %.3f ms, mean %.3f ms over %ld runs (%ld threads)\n", median * 1e3,
             times[0] * 1e3, sum / (double)runs * 1e3, runs, threads);
      if (gmacs > 0) printf("compute   %.3f GMACs per run, %.2f GMAC/s at the median\n", gmacs, gmacs / median);
      printf("load      %.3f ms (RSS %.1f -> %.1f MB), plan %.3f ms\n", load_s * 1e3, rss_start / 1024.0,
             rss_loaded / 1024.0, plan_s * 1e3);
      printf("memory    arena %.2f MB, peak RSS %.1f MB\n", ss.arena_bytes / 1e6, peak / 1024.0);
    }
  }
  for (int i = 0; i < n_in; i++) ledge_tensor_destroy(inputs[i]);
  free(inputs);
  free(times);
  ledge_session_destroy(session);
  ledge_model_destroy(model);
  return rc;
}
