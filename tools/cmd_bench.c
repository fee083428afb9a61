/* cmd_bench.c: `ledge bench MODEL` measures load time, latency and memory,
 * and with --profile where the time goes: per node, per op type, and per
 * convolution algorithm and ISA. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void help(FILE *f) {
  fprintf(f,
          "usage: ledge bench MODEL [--threads N] [--runs K] [--warmup W] [--profile [--top T]] [--json]\n"
          "Loads the model, plans a session, runs it W times to warm up and K times\n"
          "measured, and reports median, min and mean latency, load and plan time,\n"
          "the arena size, the peak resident memory and the achieved GFLOP/s\n"
          "(2 x multiply-accumulates of conv and gemm / median latency).\n\n"
          "  --threads N  threads (default: one per CPU this process may use)\n"
          "  --runs K     measured runs (default 20)\n"
          "  --warmup W   unmeasured runs first (default 2)\n"
          "  --profile    time every node over the measured runs and print, per node,\n"
          "               the mean time, its share, the kernel that ran (algorithm and\n"
          "               ISA, e.g. im2col+sgemm/avx2) and the GFLOP/s it achieved; then\n"
          "               the same summed per op type and per conv algorithm\n"
          "  --top T      with --profile: list only the T slowest nodes (default: all,\n"
          "               in execution order)\n"
          "  --json       print one JSON object (with --profile: \"profile\" holds\n"
          "               \"nodes\", \"op_types\" and \"kernels\" arrays)\n");
}

static int by_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* One node of the profile, or one group (op type, kernel). */
typedef struct {
  const char *name, *op_type, *kernel;
  double ms; /* mean per run */
  long long macs;
  int count, index;
} prof_row;

static int by_ms_desc(const void *a, const void *b) {
  double x = ((const prof_row *)a)->ms, y = ((const prof_row *)b)->ms;
  return x > y ? -1 : x < y;
}

static double gflops(long long macs, double ms) { return ms > 0 && macs > 0 ? 2.0 * (double)macs / (ms * 1e6) : 0; }

/* Adds row r into the group keyed by key (a pointer to a string) in groups. */
static void group_add(prof_row *groups, int *n, const char *key, bool by_kernel, const prof_row *r) {
  for (int i = 0; i < *n; i++) {
    const char *k = by_kernel ? groups[i].kernel : groups[i].op_type;
    if (!strcmp(k, key)) {
      groups[i].ms += r->ms;
      groups[i].macs += r->macs;
      groups[i].count++;
      return;
    }
  }
  groups[*n] = *r;
  groups[*n].count = 1;
  (*n)++;
}

/* The last `width` characters of s, marked with ".." when cut. */
static const char *tail(const char *s, int width, char *buf, size_t size) {
  int len = (int)strlen(s);
  if (len <= width) return s;
  snprintf(buf, size, "..%s", s + len - (width - 2));
  return buf;
}

/* "im2col+sgemm/avx2" -> algorithm "im2col+sgemm", isa "avx2"; no slash: isa "". */
static void split_kernel(const char *kernel, char *algo, size_t asize, const char **isa) {
  const char *slash = strrchr(kernel, '/');
  size_t len = slash ? (size_t)(slash - kernel) : strlen(kernel);
  if (len >= asize) len = asize - 1;
  memcpy(algo, kernel, len);
  algo[len] = 0;
  *isa = slash ? slash + 1 : "";
}

static void print_profile(ledge_session *session, double total_ms, long top, bool json) {
  int count = ledge_session_profile_count(session);
  prof_row *rows = calloc((size_t)count + 1, sizeof *rows);
  prof_row *ops = calloc((size_t)count + 1, sizeof *ops);
  prof_row *kernels = calloc((size_t)count + 1, sizeof *kernels);
  int n_ops = 0, n_kernels = 0;
  long long runs = 0;
  double sum_ms = 0;
  for (int i = 0; i < count; i++) {
    ledge_node_profile np;
    if (ledge_session_profile_get(session, i, &np) != LEDGE_OK) continue;
    runs = np.runs;
    rows[i] = (prof_row){np.name ? np.name : "", np.op_type ? np.op_type : "?", np.kernel ? np.kernel : "?",
                         np.runs > 0 ? np.total_ms / (double)np.runs : 0, (long long)np.macs, 1, i};
    sum_ms += rows[i].ms;
    group_add(ops, &n_ops, rows[i].op_type, false, &rows[i]);
    if (rows[i].macs > 0) group_add(kernels, &n_kernels, rows[i].kernel, true, &rows[i]);
  }
  qsort(ops, (size_t)n_ops, sizeof *ops, by_ms_desc);
  qsort(kernels, (size_t)n_kernels, sizeof *kernels, by_ms_desc);
  prof_row *shown = rows;
  int n_shown = count;
  prof_row *sorted = NULL;
  if (top > 0 && top < count) {
    sorted = malloc(sizeof *sorted * (size_t)count);
    memcpy(sorted, rows, sizeof *sorted * (size_t)count);
    qsort(sorted, (size_t)count, sizeof *sorted, by_ms_desc);
    shown = sorted;
    n_shown = (int)top;
  }
  double denom = sum_ms > 0 ? sum_ms : 1;
  char algo[128], buf[128];
  const char *isa;
  if (json) {
    printf(", \"profile\": {\"runs\": %lld, \"node_ms_sum\": %.4f, \"nodes\": [", runs, sum_ms);
    for (int i = 0; i < n_shown; i++) {
      const prof_row *r = &shown[i];
      split_kernel(r->kernel, algo, sizeof algo, &isa);
      printf("%s{\"index\": %d, \"name\": ", i ? ", " : "", r->index);
      cli_json_string(stdout, r->name);
      printf(", \"op_type\": ");
      cli_json_string(stdout, r->op_type);
      printf(", \"kernel\": ");
      cli_json_string(stdout, r->kernel);
      printf(", \"algorithm\": ");
      cli_json_string(stdout, algo);
      printf(", \"isa\": ");
      cli_json_string(stdout, isa);
      printf(", \"ms\": %.5f, \"percent\": %.3f, \"macs\": %lld, \"gflops\": %.3f}", r->ms, 100 * r->ms / denom,
             r->macs, gflops(r->macs, r->ms));
    }
    printf("], \"op_types\": [");
    for (int i = 0; i < n_ops; i++) {
      printf("%s{\"op_type\": ", i ? ", " : "");
      cli_json_string(stdout, ops[i].op_type);
      printf(", \"nodes\": %d, \"ms\": %.5f, \"percent\": %.3f, \"macs\": %lld, \"gflops\": %.3f}", ops[i].count,
             ops[i].ms, 100 * ops[i].ms / denom, ops[i].macs, gflops(ops[i].macs, ops[i].ms));
    }
    printf("], \"kernels\": [");
    for (int i = 0; i < n_kernels; i++) {
      split_kernel(kernels[i].kernel, algo, sizeof algo, &isa);
      printf("%s{\"kernel\": ", i ? ", " : "");
      cli_json_string(stdout, kernels[i].kernel);
      printf(", \"algorithm\": ");
      cli_json_string(stdout, algo);
      printf(", \"isa\": ");
      cli_json_string(stdout, isa);
      printf(", \"nodes\": %d, \"ms\": %.5f, \"percent\": %.3f, \"macs\": %lld, \"gflops\": %.3f}",
             kernels[i].count, kernels[i].ms, 100 * kernels[i].ms / denom, kernels[i].macs,
             gflops(kernels[i].macs, kernels[i].ms));
    }
    printf("]}");
  } else {
    printf("\nprofile   mean per run over %lld runs; nodes sum to %.3f ms of %.3f ms median latency\n", runs, sum_ms,
           total_ms);
    if (sorted) printf("          the %d slowest of %d nodes\n", n_shown, count);
    printf("\n%4s  %-36s %-18s %-22s %-8s %9s %6s %8s %8s\n", "#", "node", "op", "algorithm", "isa", "ms", "%",
           "MMACs", "GFLOP/s");
    for (int i = 0; i < n_shown; i++) {
      const prof_row *r = &shown[i];
      split_kernel(r->kernel, algo, sizeof algo, &isa);
      char nbuf[64], abuf[64];
      printf("%4d  %-36s %-18.18s %-22s %-8.8s %9.4f %6.2f", r->index, tail(r->name, 36, nbuf, sizeof nbuf),
             r->op_type, tail(algo, 22, abuf, sizeof abuf), isa, r->ms, 100 * r->ms / denom);
      if (r->macs > 0)
        printf(" %8.2f %8.2f\n", r->macs / 1e6, gflops(r->macs, r->ms));
      else
        printf(" %8s %8s\n", "", "");
    }
    printf("\n%-18s %6s %10s %7s %9s %8s\n", "op type", "nodes", "ms", "%", "MMACs", "GFLOP/s");
    for (int i = 0; i < n_ops; i++) {
      printf("%-18.18s %6d %10.4f %7.2f", ops[i].op_type, ops[i].count, ops[i].ms, 100 * ops[i].ms / denom);
      if (ops[i].macs > 0)
        printf(" %9.2f %8.2f\n", ops[i].macs / 1e6, gflops(ops[i].macs, ops[i].ms));
      else
        printf("\n");
    }
    if (n_kernels) {
      printf("\n%-30s %-8s %6s %10s %7s %9s %8s\n", "kernel (conv, gemm)", "isa", "nodes", "ms", "%", "MMACs",
             "GFLOP/s");
      for (int i = 0; i < n_kernels; i++) {
        split_kernel(kernels[i].kernel, algo, sizeof algo, &isa);
        printf("%-30s %-8.8s %6d %10.4f %7.2f %9.2f %8.2f\n", tail(algo, 30, buf, sizeof buf), isa, kernels[i].count,
               kernels[i].ms, 100 * kernels[i].ms / denom, kernels[i].macs / 1e6,
               gflops(kernels[i].macs, kernels[i].ms));
      }
    }
  }
  free(sorted);
  free(rows);
  free(ops);
  free(kernels);
}

int cmd_bench(int argc, char **argv) {
  const char *path = NULL, *value;
  long threads = 0, runs = 20, warmup = 2, top = 0;
  bool json = false, profile = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      help(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--json")) json = true;
    else if (!strcmp(argv[i], "--profile")) profile = true;
    else if (cli_option(argc, argv, &i, "--threads", &value)) {
      if (!cli_parse_int("--threads", value, 0, 1024, &threads)) return 2;
    } else if (cli_option(argc, argv, &i, "--runs", &value)) {
      if (!cli_parse_int("--runs", value, 1, 100000000, &runs)) return 2;
    } else if (cli_option(argc, argv, &i, "--warmup", &value)) {
      if (!cli_parse_int("--warmup", value, 0, 1000000, &warmup)) return 2;
    } else if (cli_option(argc, argv, &i, "--top", &value)) {
      if (!cli_parse_int("--top", value, 1, 100000000, &top)) return 2;
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
  if (cli_create_session(model, (int)threads, profile, &session)) {
    ledge_model_destroy(model);
    return 1;
  }
  double plan_s = cli_now() - t0;
  int n_in = ledge_session_input_count(session), rc = 0;
  ledge_tensor **inputs = calloc((size_t)n_in + 1, sizeof *inputs);
  for (int i = 0; i < n_in && !rc; i++) rc = cli_random_input(session, i, 0, &inputs[i]);
  double *times = calloc((size_t)runs, sizeof *times);
  for (long r = 0; r < warmup + runs && !rc; r++) {
    if (r == warmup && profile) ledge_session_profile_reset(session);
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
    if (json) {
      printf("{\"model\": ");
      cli_json_string(stdout, path);
      printf(", \"threads\": %ld, \"runs\": %ld, \"median_ms\": %.4f, \"min_ms\": %.4f, "
             "\"mean_ms\": %.4f, \"load_ms\": %.4f, \"plan_ms\": %.4f, \"arena_bytes\": %lld, \"macs\": %lld, "
             "\"gflops\": %.3f, \"rss_before_load_kb\": %ld, \"rss_after_load_kb\": %ld, "
             "\"peak_rss_after_load_kb\": %ld, \"peak_rss_kb\": %ld",
             threads, runs, median * 1e3, times[0] * 1e3, sum / (double)runs * 1e3, load_s * 1e3, plan_s * 1e3,
             (long long)ss.arena_bytes, (long long)ss.macs, 2 * gmacs / median, rss_start, rss_loaded,
             peak_after_load, peak);
      if (profile) print_profile(session, median * 1e3, top, true);
      printf("}\n");
    } else {
      printf("model     %s\n", path);
      printf("latency   median %.3f ms, min %.3f ms, mean %.3f ms over %ld runs (%ld threads)\n", median * 1e3,
             times[0] * 1e3, sum / (double)runs * 1e3, runs, threads);
      if (gmacs > 0)
        printf("compute   %.3f GMACs per run, %.2f GFLOP/s at the median\n", gmacs, 2 * gmacs / median);
      printf("load      %.3f ms (RSS %.1f -> %.1f MB), plan %.3f ms\n", load_s * 1e3, rss_start / 1024.0,
             rss_loaded / 1024.0, plan_s * 1e3);
      printf("memory    arena %.2f MB, peak RSS %.1f MB\n", ss.arena_bytes / 1e6, peak / 1024.0);
      if (profile) print_profile(session, median * 1e3, top, false);
    }
  }
  for (int i = 0; i < n_in; i++) ledge_tensor_destroy(inputs[i]);
  free(inputs);
  free(times);
  ledge_session_destroy(session);
  ledge_model_destroy(model);
  return rc;
}
