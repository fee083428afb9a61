/* cmd_run.c: `ledge run MODEL` runs a model once on .npy (or random) inputs. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "formats/ledge_format.h"
#include "ledge/npy.h"
#include "runtime/model.h"

static void help(FILE *f) {
  fprintf(f,
          "usage: ledge run MODEL [--input NAME=FILE.npy ...] [--output-dir DIR] [options]\n"
          "Runs a model once. Inputs not given are filled with deterministic random\n"
          "values. Prints a summary of each output; with --output-dir writes each\n"
          "output as DIR/<output name>.npy.\n\n"
          "  --input NAME=FILE  an input tensor as .npy (repeatable; NAME may be omitted\n"
          "                     for a model with one input)\n"
          "  --output-dir DIR   write outputs as .npy files (the folder is created)\n"
          "  --threads N        threads (default: one per core)\n"
          "  --top K            classes to list for classifier-shaped outputs (default 5)\n"
          "  --seed S           seed of the random inputs (default 0)\n"
          "  --json             print the summary as JSON\n"
          "  --selftest         check a .ledge model against the reference input and\n"
          "                     outputs it carries (ledge convert --selftest): the\n"
          "                     weights' checksum, the outputs, and layer by layer the\n"
          "                     first layer that diverges; exit status 1 if it fails\n"
          "  --tolerance T      the self-test's tolerance (default: the file's)\n");
}

/* Output names become file names: keep them inside the folder. */
static void file_name_for(const char *name, char *out, size_t size) {
  size_t k = 0;
  for (const char *p = name; *p && k + 1 < size; p++)
    out[k++] = (*p == '/' || *p == '\\' || (*p == '.' && p == name)) ? '_' : *p;
  out[k] = 0;
  if (!k) snprintf(out, size, "output");
}

typedef struct {
  int64_t index;
  float score;
} scored;

static int by_score(const void *a, const void *b) {
  const scored *x = a, *y = b;
  if (x->score != y->score) return x->score < y->score ? 1 : -1;
  return x->index < y->index ? -1 : 1;
}

static void summarize(FILE *f, const char *name, const ledge_tensor *t, int top, bool json,
                      bool first) {
  ledge_tensor_info info = {name, ledge_tensor_dtype(t), ledge_tensor_rank(t), {0}};
  for (int d = 0; d < info.rank; d++) info.dims[d] = ledge_tensor_dims(t)[d];
  char dims[256];
  int64_t n = ledge_tensor_count(t);
  double mn = INFINITY, mx = -INFINITY, sum = 0;
  bool is_f32 = info.dtype == LEDGE_FLOAT32;
  const float *x = ledge_tensor_data(t);
  if (is_f32)
    for (int64_t i = 0; i < n; i++) {
      mn = x[i] < mn ? x[i] : mn;
      mx = x[i] > mx ? x[i] : mx;
      sum += x[i];
    }
  /* A classifier output: float [1, C] or [C] with C > 1. */
  int64_t classes = info.rank == 2 && info.dims[0] == 1 ? info.dims[1]
                    : info.rank == 1                    ? info.dims[0]
                                                        : 0;
  int k = is_f32 && classes > 1 ? (int)(top < classes ? top : classes) : 0;
  scored *best = NULL;
  if (k > 0 && (best = malloc(sizeof *best * (size_t)classes))) {
    for (int64_t i = 0; i < classes; i++) best[i] = (scored){i, x[i]};
    qsort(best, (size_t)classes, sizeof *best, by_score);
  } else {
    k = 0;
  }
  if (json) {
    fprintf(f, "%s{\"name\": ", first ? "" : ", ");
    cli_json_string(f, name);
    fprintf(f, ", \"dtype\": \"%s\", \"shape\": [", ledge_dtype_name(info.dtype));
    for (int d = 0; d < info.rank; d++)
      fprintf(f, "%s%lld", d ? ", " : "", (long long)info.dims[d]);
    fprintf(f, "]");
    if (is_f32 && n > 0)
      fprintf(f, ", \"min\": %.9g, \"max\": %.9g, \"mean\": %.9g", mn, mx, sum / (double)n);
    if (k) {
      fprintf(f, ", \"top\": [");
      for (int i = 0; i < k; i++)
        fprintf(f, "%s{\"index\": %lld, \"score\": %.9g}", i ? ", " : "", (long long)best[i].index,
                best[i].score);
      fprintf(f, "]");
    }
    fprintf(f, "}");
  } else {
    fprintf(f, "%-24s %-8s %-16s", name, ledge_dtype_name(info.dtype),
            cli_dims(&info, dims, sizeof dims));
    if (is_f32 && n > 0) fprintf(f, " min %.5g  max %.5g  mean %.5g", mn, mx, sum / (double)n);
    fprintf(f, "\n");
    if (k) {
      fprintf(f, "  top-%d:", k);
      for (int i = 0; i < k; i++)
        fprintf(f, "  #%lld (%.4f)", (long long)best[i].index, best[i].score);
      fprintf(f, "\n");
    }
  }
  free(best);
}

/* ledge run MODEL --selftest: the health check a device runs before serving. */
static int run_selftest(const char *path, int threads, double tolerance, bool json) {
  ledge_model *model;
  double load_s;
  if (cli_load_model(path, &model, &load_s)) return 1;
  int rc = 0;
  lg_ledge_selftest_report rep = {0};
  if (!model->ledge || !model->ledge->has_selftest) {
    rc = cli_fail(
        "run: %s carries no self-test (write it with ledge convert IN OUT.ledge --selftest)", path);
  } else if (lg_ledge_verify_data(model->ledge) != LEDGE_OK) {
    snprintf(rep.message, sizeof rep.message, "self-test FAILED: %s", ledge_last_error());
    rc = 1;
  } else if (lg_ledge_selftest_run(model, &model->ledge->selftest, (float)tolerance, threads,
                                   &rep) != LEDGE_OK) {
    rc = cli_fail("run: %s", ledge_last_error());
    rep.message[0] = 0;
  } else {
    rc = rep.passed ? 0 : 1;
  }
  if (rep.message[0]) {
    if (json) {
      printf("{\"model\": ");
      cli_json_string(stdout, path);
      printf(
          ", \"selftest\": {\"passed\": %s, \"layers_checked\": %d, \"max_output_error\": %.6g, "
          "\"first_diverging_layer\": ",
          rc ? "false" : "true", rep.layers_checked, rep.max_output_error);
      if (rep.first_layer[0])
        cli_json_string(stdout, rep.first_layer);
      else
        printf("null");
      printf(", \"first_layer_error\": %.6g, \"message\": ", rep.first_error);
      cli_json_string(stdout, rep.message);
      printf("}, \"load_ms\": %.3f}\n", load_s * 1e3);
    } else {
      printf("%s\n", rep.message);
    }
  }
  ledge_model_destroy(model);
  return rc;
}

int cmd_run(int argc, char **argv) {
  const char *path = NULL, *out_dir = NULL, *value;
  const char *input_specs[64];
  int n_specs = 0;
  long threads = 0, top = 5, seed = 0;
  bool json = false, selftest = false;
  double tolerance = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      help(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--json"))
      json = true;
    else if (!strcmp(argv[i], "--selftest"))
      selftest = true;
    else if (cli_option(argc, argv, &i, "--tolerance", &value)) {
      char *end;
      tolerance = strtod(value, &end);
      if (*end || !(tolerance > 0) || tolerance > 1)
        return cli_fail("run: --tolerance wants a number in (0, 1]");
    } else if (cli_option(argc, argv, &i, "--input", &value)) {
      if (n_specs == 64) return cli_fail("run: too many --input options");
      input_specs[n_specs++] = value;
    } else if (cli_option(argc, argv, &i, "--output-dir", &value))
      out_dir = value;
    else if (cli_option(argc, argv, &i, "--threads", &value)) {
      if (!cli_parse_int("--threads", value, 0, 1024, &threads)) return 2;
    } else if (cli_option(argc, argv, &i, "--top", &value)) {
      if (!cli_parse_int("--top", value, 0, 1000000, &top)) return 2;
    } else if (cli_option(argc, argv, &i, "--seed", &value)) {
      if (!cli_parse_int("--seed", value, 0, 2147483647, &seed)) return 2;
    } else if (argv[i][0] != '-' && !path)
      path = argv[i];
    else
      return cli_fail("run: unexpected argument '%s' (see ledge run --help)", argv[i]);
  }
  if (!path) {
    help(stderr);
    return 2;
  }
  if (selftest) return run_selftest(path, (int)threads, tolerance, json);
  ledge_model *model;
  ledge_session *session;
  double load_s;
  if (cli_load_model(path, &model, &load_s)) return 1;
  ledge_session_options opt;
  ledge_session_options_init(&opt);
  opt.num_threads = (int)threads;
  if (ledge_session_create(model, &opt, &session) != LEDGE_OK) {
    ledge_model_destroy(model);
    return cli_fail_status("cannot create a session");
  }
  int n_in = ledge_session_input_count(session), rc = 0;
  ledge_tensor **inputs = calloc((size_t)n_in + 1, sizeof *inputs);
  for (int s = 0; s < n_specs && !rc; s++) {
    const char *eq = strchr(input_specs[s], '=');
    char name[512];
    const char *file = eq ? eq + 1 : input_specs[s];
    int index = 0;
    if (eq) {
      snprintf(name, sizeof name, "%.*s", (int)(eq - input_specs[s]), input_specs[s]);
      index = ledge_session_input_index(session, name);
      if (index < 0) rc = cli_fail("run: the model has no input named '%s'", name);
    } else if (n_in != 1) {
      rc = cli_fail("run: the model has %d inputs; write --input NAME=FILE", n_in);
    }
    if (!rc && ledge_npy_load(file, &inputs[index]) != LEDGE_OK)
      rc = cli_fail("run: %s", ledge_last_error());
  }
  if (!rc) {
    /* Plan for the given inputs' shapes first, so random ones match them. */
    for (int i = 0; i < n_in && !rc; i++)
      if (inputs[i] && ledge_session_set_input_shape(session, i, ledge_tensor_rank(inputs[i]),
                                                     ledge_tensor_dims(inputs[i])) != LEDGE_OK)
        rc = cli_fail_status("run");
    for (int i = 0; i < n_in && !rc; i++) {
      ledge_tensor_info info;
      ledge_session_input_info(session, i, &info);
      bool unknown = info.rank < 0;
      for (int d = 0; d < info.rank; d++) unknown |= info.dims[d] < 0;
      if (!inputs[i] && unknown) {
        for (int d = 0; d < info.rank; d++) info.dims[d] = info.dims[d] < 0 ? 1 : info.dims[d];
        if (info.rank < 0 ||
            ledge_session_set_input_shape(session, i, info.rank, info.dims) != LEDGE_OK)
          rc = cli_fail("run: input '%s' has an unknown shape; give it with --input", info.name);
      }
    }
    for (int i = 0; i < n_in && !rc; i++)
      if (!inputs[i]) rc = cli_random_input(session, i, (unsigned)seed, &inputs[i]);
  }
  double run_s = 0;
  if (!rc) {
    double t0 = cli_now();
    if (ledge_session_run(session, inputs, n_in, NULL, 0) != LEDGE_OK) rc = cli_fail_status("run");
    run_s = cli_now() - t0;
  }
  if (!rc && out_dir && mkdir(out_dir, 0777) != 0 && errno != EEXIST)
    rc = cli_fail("run: cannot create '%s': %s", out_dir, strerror(errno));
  int n_out = ledge_session_output_count(session);
  if (!rc && json)
    printf("{\"model\": \"%s\", \"load_ms\": %.3f, \"run_ms\": %.3f, \"outputs\": [", path,
           load_s * 1e3, run_s * 1e3);
  for (int i = 0; i < n_out && !rc; i++) {
    const ledge_tensor *t;
    ledge_tensor_info info;
    ledge_session_output(session, i, &t);
    ledge_session_output_info(session, i, &info);
    summarize(stdout, info.name, t, (int)top, json, i == 0);
    if (out_dir) {
      char file[512], full[4096];
      file_name_for(info.name, file, sizeof file);
      snprintf(full, sizeof full, "%s/%s.npy", out_dir, file);
      if (ledge_npy_save(full, t) != LEDGE_OK) rc = cli_fail("run: %s", ledge_last_error());
    }
  }
  if (!rc) {
    if (json)
      printf("], \"peak_rss_kb\": %ld}\n", cli_peak_rss_kb());
    else
      printf("load %.2f ms, run %.2f ms, peak RSS %.1f MB\n", load_s * 1e3, run_s * 1e3,
             cli_peak_rss_kb() / 1024.0);
  }
  for (int i = 0; i < n_in; i++) ledge_tensor_destroy(inputs[i]);
  free(inputs);
  ledge_session_destroy(session);
  ledge_model_destroy(model);
  return rc;
}
