/* cmd_optimize.c: `ledge optimize MODEL --data DATA`: makes the optimized
 * variants of a model with the optimize library (int8 quantization, channel
 * and magnitude pruning, k-means compression, and combinations), measures
 * each one (file size, peak RSS of a process running it, latency per thread
 * count, accuracy through `ledge eval` or agreement with fp32) and writes the
 * trade-off report (src/optimize/report.h). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "formats/ledge_format.h"
#include "formats/onnx_write.h"
#include "optimize/compress.h"
#include "optimize/prune.h"
#include "optimize/quantize.h"
#include "optimize/quantize_data.h"
#include "optimize/report.h"
#include "runtime/model.h"
#include "train/augment.h"
#include "train/dataset.h"

extern char **environ;

static void help(FILE *f) {
  fprintf(
      f,
      "usage: ledge optimize MODEL --data DATA [-o OUTDIR] [--json] [--plot] [options]\n"
      "Makes the optimized variants of MODEL and measures the trade-off of each:\n"
      "  fp32                  MODEL as .ledge\n"
      "  int8                  post-training quantization calibrated on DATA (per channel)\n"
      "  channels              channel pruning at --ratio (smaller dense network)\n"
      "  magnitude             magnitude pruning at --sparsity (zeros, same shapes)\n"
      "  compressed            k-means weight sharing at --bits + Huffman coding\n"
      "  channels+int8         channel pruning, then int8\n"
      "  magnitude+compressed  magnitude pruning, then compression (Deep Compression)\n"
      "For each: file size, peak RSS of a process running it, median latency at each\n"
      "thread count, and top-1 accuracy on DATA when it has labels (as `ledge eval`\n"
      "measures it), plus top-1 agreement with fp32 and the output SQNR on --samples\n"
      "samples. Fine-tuning after pruning is not done here (ledge train --pretrained).\n\n"
      "  --data DATA          IDX images (labels beside them), a folder with one\n"
      "                       subfolder per class, a .lst, a .manifest, a flat folder of\n"
      "                       images or an .npy of preprocessed samples (no labels)\n"
      "  -o, --output OUTDIR  where the variants and the report go (default optimized)\n"
      "  --json               print the report as one JSON object on stdout\n"
      "  --plot               also draw OUTDIR/accuracy_vs_size.png and\n"
      "                       OUTDIR/accuracy_vs_latency.png (needs gnuplot)\n"
      "  --samples N          calibration samples and samples compared with fp32\n"
      "                       (default 100)\n"
      "  --limit N            evaluate accuracy on the first N labelled samples only\n"
      "  --threads-list T,..  thread counts to time (default 1,2)\n"
      "  --runs N             timed runs per variant and thread count (default 20)\n"
      "  --ratio R            channel pruning ratio (default 0.3)\n"
      "  --sparsity S         magnitude pruning sparsity (default 0.5)\n"
      "  --bits B             compression bits per weight index, 2..8 (default 4)\n"
      "  --imagenet-normalization  inputs normalized with ImageNet's mean/std (for\n"
      "                       ImageNet-trained models without a preprocess file)\n"
      "Input normalization for calibration comes from MODEL.preprocess.json (written by\n"
      "ledge train) when it exists, else inputs are pixels / 255 (or ImageNet-normalized); it and\n"
      "MODEL.labels.txt are copied beside every variant, so `ledge eval` prepares the\n"
      "data the same way for all of them.\n");
}

typedef struct options {
  const char *model, *data, *outdir;
  bool json, plot, imagenet;
  long samples, limit, runs, bits;
  double ratio, sparsity;
  int n_threads, threads[LG_OPT_MAX_THREADS];
} options;

static long long file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

static int parse_threads(const char *text, options *o) {
  o->n_threads = 0;
  const char *p = text;
  while (*p) {
    char *end;
    errno = 0;
    long t = strtol(p, &end, 10);
    if (end == p || errno || t < 1 || t > 1024 || o->n_threads == LG_OPT_MAX_THREADS)
      return cli_fail("optimize: --threads-list must be up to %d thread counts like 1,2",
                      LG_OPT_MAX_THREADS);
    o->threads[o->n_threads++] = (int)t;
    p = end;
    if (*p == ',')
      p++;
    else if (*p)
      return cli_fail("optimize: --threads-list must be thread counts like 1,2, not '%s'", text);
  }
  if (!o->n_threads) return cli_fail("optimize: --threads-list is empty");
  return 0;
}

static int parse_fraction(const char *name, const char *text, double *out) {
  char *end;
  *out = strtod(text, &end);
  if (end == text || *end || !(*out >= 0 && *out < 1))
    return cli_fail("optimize: %s must be a fraction in [0, 1), not '%s'", name, text);
  return 0;
}

/* MODEL.onnx -> MODEL.labels.txt (ledge train's and ledge eval's naming). */
static void labels_path(const char *model, char *out, size_t size) {
  snprintf(out, size, "%s", model);
  char *slash = strrchr(out, '/'), *dot = strrchr(out, '.');
  if (dot && (!slash || dot > slash)) *dot = 0;
  strncat(out, ".labels.txt", size - strlen(out) - 1);
}

static int copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb");
  if (!in) return 0; /* nothing to copy */
  FILE *out = fopen(to, "wb");
  int rc = 0;
  if (!out) {
    rc = cli_fail("optimize: cannot write %s: %s", to, strerror(errno));
  } else {
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
      if (fwrite(buf, 1, n, out) != n) rc = cli_fail("optimize: cannot write %s", to);
    if (fclose(out) != 0 && !rc) rc = cli_fail("optimize: cannot write %s", to);
  }
  fclose(in);
  return rc;
}

/* The preprocessing and labels files that go beside MODEL go beside each
 * variant too, so `ledge eval VARIANT` prepares inputs as for MODEL. */
static int copy_sidecars(const char *model, const char *variant) {
  char a[4096], b[4096];
  train_augment_preprocess_path(model, a, sizeof a);
  train_augment_preprocess_path(variant, b, sizeof b);
  if (copy_file(a, b)) return 1;
  labels_path(model, a, sizeof a);
  labels_path(variant, b, sizeof b);
  return copy_file(a, b);
}

/* Writes graph g (of a model like `like`) as .ledge; encode may be NULL. */
static int write_ledge(const ledge_model *like, const lg_graph *g, lg_compress_ctx *compress,
                       const char *what, const char *path) {
  ledge_tensor_info *types = calloc((size_t)like->graph.n_outputs + 1, sizeof *types);
  lg_status st = types ? lg_model_output_types(like, types) : LEDGE_ERR_NO_MEMORY;
  if (st == LEDGE_OK) {
    const char *keys[] = {"optimization"}, *values[] = {what};
    lg_ledge_write_options o = {0};
    o.opset = like->opset;
    o.ir_version = like->ir_version;
    o.output_types = types;
    o.n_meta = 1;
    o.meta_keys = keys;
    o.meta_values = values;
    if (compress) {
      o.encode = lg_compress_encode;
      o.encode_ctx = compress;
    }
    st = lg_ledge_write_file(g, &o, path);
    if (st == LEDGE_OK && compress && compress->stats.error) st = compress->stats.error;
  }
  free(types);
  return st == LEDGE_OK ? 0 : cli_fail("optimize: writing %s: %s", path, ledge_last_error());
}

static int compress_to(const ledge_model *m, const options *o, const char *what, const char *path) {
  lg_compress_ctx ctx = {0};
  ctx.options.bits = (int)o->bits;
  ctx.options.min_elements = 1024;
  ctx.options.iterations = 30;
  return write_ledge(m, &m->graph, &ctx, what, path);
}

static int quantize_to(const ledge_model *m, const lg_calib_data_options *dop, const options *o,
                       const char *path) {
  ledge_tensor_info info;
  lg_calib_data *data = NULL;
  lg_quant_result r;
  memset(&r, 0, sizeof r);
  int rc = 0;
  if (ledge_model_input_info(m, 0, &info) != LEDGE_OK ||
      lg_calib_data_open(o->data, &info, dop, &data) != LEDGE_OK) {
    rc = cli_fail_status("optimize: calibration data");
  } else {
    lg_quantize_options qo;
    lg_quantize_options_init(&qo);
    qo.per_channel = true;
    lg_calib_source src = {lg_calib_data_count(data), lg_calib_data_get, data};
    if (lg_quantize_qdq(m, &src, &qo, &r) != LEDGE_OK)
      rc = cli_fail_status("optimize: int8 quantization");
    else if (lg_quant_write_ledge(m, &r, path) != LEDGE_OK)
      rc = cli_fail_status("optimize: writing the int8 model");
  }
  lg_quant_result_free(&r);
  lg_calib_data_close(data);
  return rc;
}

/* Runs this program as `ledge ARGS...` with stdout and stderr sent to files
 * (NULL: /dev/null); posix_spawn (vfork semantics) so the child's peak RSS
 * is its own, not this process's. Returns the exit status (-1: no start). */
static int spawn_self(char *const *args, const char *out_path, const char *err_path,
                      long *peak_rss_kb) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return -1;
  self[n] = 0;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_path ? out_path : "/dev/null",
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path ? err_path : "/dev/null",
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid;
  int rc = posix_spawn(&pid, self, &fa, NULL, args, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  while (wait4(pid, &status, 0, &ru) < 0)
    if (errno != EINTR) return -1;
  if (peak_rss_kb) *peak_rss_kb = ru.ru_maxrss;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The last line of a log file, for an error message. */
static void last_line(const char *path, char *out, size_t size) {
  out[0] = 0;
  FILE *f = fopen(path, "r");
  if (!f) return;
  char line[1024];
  while (fgets(line, sizeof line, f)) {
    char *cr = strrchr(line, '\r');
    const char *text = cr ? cr + 1 : line;
    if (*text && *text != '\n') snprintf(out, size, "%s", text);
  }
  fclose(f);
  size_t len = strlen(out);
  if (len && out[len - 1] == '\n') out[len - 1] = 0;
}

/* VmHWM of this process: the peak resident set of its own address space.
 * (getrusage's ru_maxrss would not do in a spawned child: Linux carries the
 * parent's peak over into the child across exec.) */
static long peak_rss_of_this_mm(void) {
  FILE *f = fopen("/proc/self/status", "r");
  long kb = -1;
  char line[256];
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmHWM:", 6)) kb = strtol(line + 6, NULL, 10);
  if (f) fclose(f);
  return kb;
}

/* `ledge optimize --measure-rss MODEL` (internal, run in a child process):
 * loads MODEL, runs it three times on 1 thread and prints its peak RSS in KB. */
static int measure_rss_child(const char *path) {
  ledge_model *m = NULL;
  ledge_session *s = NULL;
  ledge_tensor **in = NULL;
  int rc = cli_load_model(path, &m, NULL);
  if (!rc) rc = cli_create_session(m, 1, false, &s);
  int n_in = s ? ledge_session_input_count(s) : 0;
  if (!rc && !(in = calloc((size_t)n_in + 1, sizeof *in))) rc = cli_fail("out of memory");
  for (int i = 0; i < n_in && !rc; i++) rc = cli_random_input(s, i, 0, &in[i]);
  for (int r = 0; r < 3 && !rc; r++)
    if (ledge_session_run(s, in, n_in, NULL, 0)) rc = cli_fail_status("optimize: run");
  if (!rc) printf("%ld\n", peak_rss_of_this_mm());
  for (int i = 0; in && i < n_in; i++) ledge_tensor_destroy(in[i]);
  free(in);
  ledge_session_destroy(s);
  ledge_model_destroy(m);
  return rc;
}

/* Peak RSS of a fresh process that loads VARIANT and runs it (1 thread). */
static int measure_rss(lg_opt_variant *v) {
  char out[4200], log[4200], why[512];
  snprintf(out, sizeof out, "%s.rss", v->path);
  snprintf(log, sizeof log, "%s.rss.log", v->path);
  char *args[] = {"ledge", "optimize", "--measure-rss", v->path, NULL};
  int rc = spawn_self(args, out, log, NULL);
  FILE *f = fopen(out, "r");
  long kb = -1;
  if (f && fscanf(f, "%ld", &kb) != 1) kb = -1;
  if (f) fclose(f);
  unlink(out);
  if (rc != 0 || kb < 0) {
    last_line(log, why, sizeof why);
    unlink(log);
    return cli_fail("optimize: running %s in a child process failed: %s", v->path,
                    why[0] ? why : "no message");
  }
  unlink(log);
  v->peak_rss_kb = kb;
  return 0;
}

/* Accuracy as `ledge eval VARIANT DATA --json` measures it; its JSON is kept
 * beside the variant. */
static int measure_accuracy(lg_opt_variant *v, const options *o, long *samples) {
  char json_path[4200], log_path[4200], limit[32];
  snprintf(json_path, sizeof json_path, "%s.eval.json", v->path);
  snprintf(log_path, sizeof log_path, "%s.eval.log", v->path);
  snprintf(limit, sizeof limit, "%ld", o->limit);
  char *args[] = {"ledge", "eval", v->path, (char *)o->data, "--json", NULL, NULL, NULL, NULL};
  int na = 5;
  if (o->limit > 0) args[na++] = "--limit", args[na++] = limit;
  if (o->imagenet) args[na++] = "--imagenet-normalization";
  int rc = spawn_self(args, json_path, log_path, NULL);
  if (rc != 0) {
    char why[512];
    last_line(log_path, why, sizeof why);
    return cli_fail("optimize: evaluating %s failed: %s", v->path, why[0] ? why : "no message");
  }
  unlink(log_path);
  FILE *f = fopen(json_path, "r");
  char buf[4096] = "";
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  if (f) fclose(f);
  buf[n] = 0;
  const char *acc = strstr(buf, "\"accuracy\": "), *cnt = strstr(buf, "\"samples\": ");
  if (!acc || !cnt) return cli_fail("optimize: no accuracy in %s", json_path);
  v->accuracy = strtod(acc + 12, NULL);
  *samples = strtol(cnt + 11, NULL, 10);
  return 0;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Median latency of every variant at `threads` threads, runs interleaved
 * across the variants so that drift in the machine's speed hits all alike. */
static int measure_latency(lg_opt_report *r, ledge_model **models, int t, int runs) {
  int n = r->n_variants, rc = 0;
  ledge_session **s = calloc((size_t)n, sizeof *s);
  ledge_tensor ***in = calloc((size_t)n, sizeof *in);
  int *n_in = calloc((size_t)n, sizeof *n_in);
  double *times = calloc((size_t)n * (size_t)runs + 1, sizeof *times);
  if (!s || !in || !n_in || !times) rc = cli_fail("out of memory");
  for (int k = 0; k < n && !rc; k++) {
    rc = cli_create_session(models[k], r->threads[t], false, &s[k]);
    if (rc) break;
    n_in[k] = ledge_session_input_count(s[k]);
    in[k] = calloc((size_t)n_in[k] + 1, sizeof *in[k]);
    if (!in[k]) rc = cli_fail("out of memory");
    for (int i = 0; i < n_in[k] && !rc; i++) rc = cli_random_input(s[k], i, 0, &in[k][i]);
    if (!rc && ledge_session_run(s[k], in[k], n_in[k], NULL, 0))
      rc = cli_fail_status("optimize: warm-up run");
  }
  for (int run = 0; run < runs && !rc; run++) {
    for (int k = 0; k < n && !rc; k++) {
      double t0 = cli_now();
      if (ledge_session_run(s[k], in[k], n_in[k], NULL, 0)) rc = cli_fail_status("optimize: run");
      times[(size_t)k * runs + run] = (cli_now() - t0) * 1000;
    }
    cli_progress("timing", run + 1, runs);
  }
  for (int k = 0; k < n && !rc; k++) {
    double *tk = times + (size_t)k * runs;
    qsort(tk, (size_t)runs, sizeof *tk, by_value);
    r->variants[k].latency_ms[t] = runs % 2 ? tk[runs / 2] : (tk[runs / 2 - 1] + tk[runs / 2]) / 2;
  }
  for (int k = 0; s && k < n; k++) {
    for (int i = 0; in && in[k] && i < n_in[k]; i++) ledge_tensor_destroy(in[k][i]);
    if (in) free(in[k]);
    ledge_session_destroy(s[k]);
  }
  free(s);
  free(in);
  free(n_in);
  free(times);
  return rc;
}

/* Top-1 agreement and output SQNR of every variant against fp32 (variant 0)
 * on the data's samples, as the calibration reads them. */
static int measure_agreement(lg_opt_report *r, ledge_model **models,
                             const lg_calib_data_options *dop, const options *o) {
  int n = r->n_variants, rc = 0;
  ledge_tensor_info info;
  lg_calib_data *data = NULL;
  if (ledge_model_input_info(models[0], 0, &info) != LEDGE_OK ||
      lg_calib_data_open(o->data, &info, dop, &data) != LEDGE_OK)
    return cli_fail_status("optimize: reading the data");
  ledge_session **s = calloc((size_t)n, sizeof *s);
  ledge_tensor **in = calloc((size_t)n, sizeof *in);
  double *signal = calloc((size_t)n, sizeof(double)), *noise = calloc((size_t)n, sizeof(double));
  int64_t *agree = calloc((size_t)n, sizeof *agree), count = lg_calib_data_count(data);
  float *ref = NULL;
  if (!s || !in || !signal || !noise || !agree) rc = cli_fail("out of memory");
  for (int k = 0; k < n && !rc; k++) {
    rc = cli_create_session(models[k], 0, false, &s[k]);
    if (!rc && ledge_session_input_count(s[k]) != 1)
      rc = cli_fail("optimize: comparing outputs needs a model with one input");
    if (!rc) rc = cli_random_input(s[k], 0, 0, &in[k]);
  }
  int64_t n_ref = 0;
  for (int64_t i = 0; i < count && !rc; i++) {
    int64_t ref_top = 0;
    for (int k = 0; k < n && !rc; k++) {
      int64_t elems = ledge_tensor_count(in[k]);
      if (ledge_tensor_dtype(in[k]) != LEDGE_FLOAT32) {
        rc = cli_fail("optimize: comparing outputs needs a float input");
        break;
      }
      if (lg_calib_data_get(data, i, ledge_tensor_data(in[k]), elems) != LEDGE_OK ||
          ledge_session_run(s[k], &in[k], 1, NULL, 0) != LEDGE_OK) {
        rc = cli_fail_status("optimize: running a sample");
        break;
      }
      const ledge_tensor *out;
      ledge_session_output(s[k], 0, &out);
      if (ledge_tensor_dtype(out) != LEDGE_FLOAT32) {
        rc = cli_fail("optimize: comparing outputs needs a float output");
        break;
      }
      const float *y = ledge_tensor_data(out);
      int64_t m = ledge_tensor_count(out), top = 0;
      for (int64_t j = 1; j < m; j++)
        if (y[j] > y[top]) top = j;
      if (k == 0) {
        free(ref);
        ref = malloc((size_t)m * sizeof *ref + 1);
        if (!ref) {
          rc = cli_fail("out of memory");
          break;
        }
        memcpy(ref, y, (size_t)m * sizeof *ref);
        n_ref = m;
        ref_top = top;
      } else if (m != n_ref) {
        rc = cli_fail("optimize: variant %s has %lld outputs, fp32 %lld", r->variants[k].name,
                      (long long)m, (long long)n_ref);
        break;
      }
      for (int64_t j = 0; j < m; j++) {
        double d = (double)ref[j] - y[j];
        signal[k] += (double)ref[j] * ref[j];
        noise[k] += d * d;
      }
      agree[k] += top == ref_top;
    }
    cli_progress("comparing", (long)(i + 1), (long)count);
  }
  for (int k = 0; k < n && !rc; k++) {
    r->variants[k].compared_samples = count;
    r->variants[k].top1_agreement = count ? (double)agree[k] / (double)count : NAN;
    r->variants[k].sqnr_db = noise[k] > 0 ? 10 * log10(signal[k] / noise[k]) : INFINITY;
  }
  for (int k = 0; s && k < n; k++) {
    if (in) ledge_tensor_destroy(in[k]);
    ledge_session_destroy(s[k]);
  }
  free(s);
  free(in);
  free(signal);
  free(noise);
  free(agree);
  free(ref);
  lg_calib_data_close(data);
  return rc;
}

enum {
  FP32,
  INT8,
  CHANNELS,
  MAGNITUDE,
  COMPRESSED,
  CHANNELS_INT8,
  MAGNITUDE_COMPRESSED,
  N_VARIANTS
};

int cmd_optimize(int argc, char **argv) {
  options o = {0};
  o.outdir = "optimized";
  o.samples = 100;
  o.runs = 20;
  o.bits = 4;
  o.ratio = 0.3;
  o.sparsity = 0.5;
  o.n_threads = 2;
  o.threads[0] = 1;
  o.threads[1] = 2;
  const char *v;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      help(stdout);
      return 0;
    } else if (cli_option(argc, argv, &i, "--measure-rss", &v)) {
      return measure_rss_child(v);
    } else if (cli_option(argc, argv, &i, "--data", &v)) {
      o.data = v;
    } else if (cli_option(argc, argv, &i, "-o", &v) || cli_option(argc, argv, &i, "--output", &v)) {
      o.outdir = v;
    } else if (!strcmp(a, "--json")) {
      o.json = true;
    } else if (!strcmp(a, "--plot")) {
      o.plot = true;
    } else if (!strcmp(a, "--imagenet-normalization")) {
      o.imagenet = true;
    } else if (cli_option(argc, argv, &i, "--samples", &v)) {
      if (!cli_parse_int("--samples", v, 1, 1000000, &o.samples)) return 1;
    } else if (cli_option(argc, argv, &i, "--limit", &v)) {
      if (!cli_parse_int("--limit", v, 1, 1L << 40, &o.limit)) return 1;
    } else if (cli_option(argc, argv, &i, "--runs", &v)) {
      if (!cli_parse_int("--runs", v, 1, 100000, &o.runs)) return 1;
    } else if (cli_option(argc, argv, &i, "--bits", &v)) {
      if (!cli_parse_int("--bits", v, 2, 8, &o.bits)) return 1;
    } else if (cli_option(argc, argv, &i, "--threads-list", &v)) {
      if (parse_threads(v, &o)) return 1;
    } else if (cli_option(argc, argv, &i, "--ratio", &v)) {
      if (parse_fraction("--ratio", v, &o.ratio)) return 1;
    } else if (cli_option(argc, argv, &i, "--sparsity", &v)) {
      if (parse_fraction("--sparsity", v, &o.sparsity)) return 1;
    } else if (a[0] == '-') {
      return cli_fail("optimize: unknown option '%s' (see ledge optimize --help)", a);
    } else if (!o.model) {
      o.model = a;
    } else {
      return cli_fail("optimize: unexpected argument '%s'", a);
    }
  }
  if (!o.model) {
    help(stderr);
    return 2;
  }
  if (!o.data) return cli_fail("optimize: --data DATA is required (see ledge optimize --help)");
  if (access(o.data, R_OK) != 0)
    return cli_fail("optimize: cannot read the data '%s': %s", o.data, strerror(errno));
  if (mkdir(o.outdir, 0755) != 0 && errno != EEXIST)
    return cli_fail("optimize: cannot create %s: %s", o.outdir, strerror(errno));

  ledge_model *model = NULL, *models[N_VARIANTS] = {0};
  lg_opt_variant variants[N_VARIANTS];
  lg_opt_report report = {0};
  report.model = o.model;
  report.data = o.data;
  report.runs = (int)o.runs;
  report.n_threads = o.n_threads;
  memcpy(report.threads, o.threads, sizeof o.threads);
  report.variants = variants;
  report.n_variants = N_VARIANTS;
  if (cli_load_model(o.model, &model, NULL)) return 1;

  /* calibration and comparison inputs normalized as the model was trained */
  lg_calib_data_options dop;
  lg_calib_data_options_init(&dop);
  dop.samples = o.samples;
  if (!o.imagenet) /* else lg_calib_data's default: ImageNet's */
    for (int c = 0; c < 4; c++) dop.mean[c] = 0, dop.std[c] = 1;
  char pre_path[4096], err[512];
  train_augment_preprocess_path(o.model, pre_path, sizeof pre_path);
  int rc = 0;
  if (access(pre_path, R_OK) == 0) {
    train_augment_config pre;
    train_augment_defaults(&pre, 3, 1, 1, TRAIN_AUG_NONE);
    if (train_augment_load_preprocess(&pre, pre_path, err, sizeof err)) {
      rc = cli_fail("optimize: %s", err);
      goto out;
    }
    for (int c = 0; c < 4; c++) {
      dop.mean[c] = pre.mean[c < 3 ? c : 2];
      dop.std[c] = pre.std[c < 3 ? c : 2];
    }
  }

  struct {
    const char *name, *file;
    char what[128];
  } plan[N_VARIANTS] = {
      {"fp32", "fp32.ledge", "the input model, float32"},
      {"int8", "int8.ledge", ""},
      {"channels", "channels.ledge", ""},
      {"magnitude", "magnitude.ledge", ""},
      {"compressed", "compressed.ledge", ""},
      {"channels+int8", "channels-int8.ledge", ""},
      {"magnitude+compressed", "magnitude-compressed.ledge", ""},
  };
  snprintf(plan[INT8].what, sizeof plan[INT8].what,
           "int8 post-training quantization, per-channel weights, minmax calibration on %ld "
           "samples",
           o.samples);
  snprintf(plan[CHANNELS].what, sizeof plan[CHANNELS].what,
           "channel pruning (L1), ratio %g, no fine-tuning", o.ratio);
  snprintf(plan[MAGNITUDE].what, sizeof plan[MAGNITUDE].what,
           "magnitude pruning, sparsity %g, no fine-tuning", o.sparsity);
  snprintf(plan[COMPRESSED].what, sizeof plan[COMPRESSED].what,
           "k-means weight sharing, %ld bits, Huffman-coded indices", o.bits);
  snprintf(plan[CHANNELS_INT8].what, sizeof plan[CHANNELS_INT8].what,
           "channel pruning (ratio %g), then int8", o.ratio);
  snprintf(plan[MAGNITUDE_COMPRESSED].what, sizeof plan[MAGNITUDE_COMPRESSED].what,
           "magnitude pruning (sparsity %g), then %ld-bit k-means + Huffman", o.sparsity, o.bits);
  for (int k = 0; k < N_VARIANTS; k++) {
    lg_opt_variant_init(&variants[k], plan[k].name, plan[k].what);
    snprintf(variants[k].path, sizeof variants[k].path, "%s/%s", o.outdir, plan[k].file);
  }

  /* 1. make the variants */
  long steps = N_VARIANTS * 3 + 1, step = 0;
  for (int k = 0; k < N_VARIANTS && !rc; k++) {
    const char *path = variants[k].path;
    ledge_model *work = NULL;
    lg_prune_result pr;
    memset(&pr, 0, sizeof pr);
    switch (k) {
      case FP32: rc = write_ledge(model, &model->graph, NULL, plan[k].what, path); break;
      case INT8: rc = quantize_to(model, &dop, &o, path); break;
      case CHANNELS:
      case MAGNITUDE:
        rc = cli_load_model(o.model, &work, NULL);
        if (!rc &&
            (k == CHANNELS ? lg_prune_channels(&work->graph, o.ratio, &pr)
                           : lg_prune_magnitude(&work->graph, o.sparsity, 1024, &pr)) != LEDGE_OK)
          rc = cli_fail_status("optimize: pruning");
        if (!rc) rc = write_ledge(model, &work->graph, NULL, plan[k].what, path);
        lg_prune_result_free(&pr);
        ledge_model_destroy(work);
        break;
      case COMPRESSED: rc = compress_to(model, &o, plan[k].what, path); break;
      case CHANNELS_INT8: rc = quantize_to(models[CHANNELS], &dop, &o, path); break;
      case MAGNITUDE_COMPRESSED: rc = compress_to(models[MAGNITUDE], &o, plan[k].what, path); break;
    }
    if (!rc) rc = copy_sidecars(o.model, path);
    if (!rc) rc = cli_load_model(path, &models[k], NULL);
    if (!rc) variants[k].file_bytes = file_size(path);
    cli_progress("optimize", ++step, steps);
  }

  /* 2. memory, accuracy */
  train_dataset *labelled = NULL;
  train_dataset_options dso;
  train_dataset_options_init(&dso);
  bool has_labels = !rc && train_dataset_open(o.data, &dso, &labelled, err, sizeof err) == LEDGE_OK;
  train_dataset_destroy(labelled);
  for (int k = 0; k < N_VARIANTS && !rc; k++) {
    rc = measure_rss(&variants[k]);
    if (!rc && has_labels) rc = measure_accuracy(&variants[k], &o, &report.eval_samples);
    cli_progress("optimize", ++step, steps);
  }
  /* 3. agreement with fp32, latency */
  if (!rc) rc = measure_agreement(&report, models, &dop, &o);
  cli_progress("optimize", ++step, steps);
  for (int t = 0; t < o.n_threads && !rc; t++)
    rc = measure_latency(&report, models, t, (int)o.runs);
  cli_progress("optimize", steps, steps);

  /* 4. the report */
  if (!rc) {
    char path[4200];
    snprintf(path, sizeof path, "%s/report.md", o.outdir);
    FILE *f = fopen(path, "w");
    if (!f) {
      rc = cli_fail("optimize: cannot write %s: %s", path, strerror(errno));
    } else {
      lg_opt_report_markdown(&report, f);
      if (fclose(f) != 0) rc = cli_fail("optimize: cannot write %s", path);
    }
    snprintf(path, sizeof path, "%s/report.json", o.outdir);
    f = rc ? NULL : fopen(path, "w");
    if (!rc && !f) {
      rc = cli_fail("optimize: cannot write %s: %s", path, strerror(errno));
    } else if (f) {
      lg_opt_report_json(&report, f);
      if (fclose(f) != 0) rc = cli_fail("optimize: cannot write %s", path);
    }
  }
  if (!rc && o.plot) {
    char size_png[4200], latency_png[4200];
    snprintf(size_png, sizeof size_png, "%s/accuracy_vs_size.png", o.outdir);
    snprintf(latency_png, sizeof latency_png, "%s/accuracy_vs_latency.png", o.outdir);
    if (lg_opt_report_plots(&report, size_png, latency_png) != LEDGE_OK)
      rc = cli_fail("%s", ledge_last_error());
  }
  if (!rc) {
    if (o.json)
      lg_opt_report_json(&report, stdout);
    else
      lg_opt_report_markdown(&report, stdout);
  }
out:
  for (int k = 0; k < N_VARIANTS; k++) ledge_model_destroy(models[k]);
  ledge_model_destroy(model);
  return rc;
}
