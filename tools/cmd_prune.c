/* cmd_prune.c: ledge prune MODEL --method magnitude --sparsity S | --method
 * channels --ratio R -o OUT: pruning on the graph IR (src/optimize/prune.c),
 * written as ONNX or .ledge, then the pruned model checked against the
 * original (output error, SQNR, top-1) and both timed. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "formats/ledge_format.h"
#include "formats/onnx_write.h"
#include "optimize/prune.h"
#include "runtime/model.h"

static void help(FILE *f) {
  fprintf(
      f,
      "usage: ledge prune MODEL --method magnitude --sparsity S -o OUT.onnx|OUT.ledge [options]\n"
      "       ledge prune MODEL --method channels --ratio R -o OUT.onnx|OUT.ledge [options]\n\n"
      "magnitude: in every Conv/Gemm/MatMul weight of at least --min-elements values, the\n"
      "  fraction S of the smallest magnitudes becomes zero (unstructured; fine-tune with\n"
      "  ledge train --pretrained OUT, which keeps the zeros).\n"
      "channels: in every Conv whose output reaches one other Conv through only\n"
      "  BatchNormalization and activations, the fraction R of output channels with the\n"
      "  smallest L1 norm is removed with the consumer's input channels: a smaller dense\n"
      "  network that runs faster.\n\n"
      "Then both models run on the same input (output error, SQNR, top-1 agreement) and\n"
      "are timed (median of --runs interleaved runs, --threads threads).\n\n"
      "  --min-elements N   magnitude: smaller weights stay dense (default 1024)\n"
      "  --runs N           timing runs per model (default 20; 0 skips timing)\n"
      "  --threads N        threads for timing (default 1)\n"
      "  --json             one JSON object with the report\n");
}

static long long file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcmp(s + n - k, suffix);
}

int cmd_prune(int argc, char **argv) {
  const char *in = NULL, *out = NULL, *method = NULL, *v;
  double amount = -1;
  long min_elements = 1024, runs = 20, threads = 1;
  bool json = false, have_amount = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      help(stdout);
      return 0;
    } else if (cli_option(argc, argv, &i, "--method", &method)) {
    } else if (cli_option(argc, argv, &i, "--sparsity", &v) ||
               cli_option(argc, argv, &i, "--ratio", &v)) {
      char *end;
      amount = strtod(v, &end);
      if (end == v || *end || !(amount >= 0 && amount < 1))
        return cli_fail("prune: %s must be a fraction in [0, 1)", argv[i - 1]);
      have_amount = true;
    } else if (cli_option(argc, argv, &i, "-o", &out) ||
               cli_option(argc, argv, &i, "--output", &out)) {
    } else if (cli_option(argc, argv, &i, "--min-elements", &v)) {
      if (!cli_parse_int("--min-elements", v, 1, 1L << 40, &min_elements)) return 1;
    } else if (cli_option(argc, argv, &i, "--runs", &v)) {
      if (!cli_parse_int("--runs", v, 0, 100000, &runs)) return 1;
    } else if (cli_option(argc, argv, &i, "--threads", &v)) {
      if (!cli_parse_int("--threads", v, 1, 256, &threads)) return 1;
    } else if (!strcmp(argv[i], "--json")) {
      json = true;
    } else if (argv[i][0] != '-' && !in) {
      in = argv[i];
    } else {
      help(stderr);
      return cli_fail("prune: unknown argument '%s'", argv[i]);
    }
  }
  if (!in || !out || !method || !have_amount) {
    help(stderr);
    return cli_fail("prune: MODEL, --method, --sparsity/--ratio and -o are required");
  }
  bool magnitude = !strcmp(method, "magnitude");
  if (!magnitude && strcmp(method, "channels"))
    return cli_fail("prune: --method must be magnitude or channels");
  bool to_ledge = ends_with(out, ".ledge");
  if (!to_ledge && !ends_with(out, ".onnx"))
    return cli_fail("prune: OUT must end in .onnx or .ledge");

  ledge_model *original = NULL, *model = NULL;
  double load_s;
  if (cli_load_model(in, &original, &load_s) || cli_load_model(in, &model, &load_s)) {
    ledge_model_destroy(original);
    return 1;
  }
  lg_prune_result r;
  lg_status st = magnitude ? lg_prune_magnitude(&model->graph, amount, min_elements, &r)
                           : lg_prune_channels(&model->graph, amount, &r);
  if (st == LEDGE_OK) {
    if (!to_ledge) {
      st = lg_onnx_write_model(model, NULL, out);
    } else {
      ledge_tensor_info *types = calloc((size_t)model->graph.n_outputs + 1, sizeof *types);
      st = types ? lg_model_output_types(original, types) : LEDGE_ERR_NO_MEMORY;
      if (st == LEDGE_OK) {
        lg_ledge_write_options o = {0};
        o.opset = model->opset;
        o.ir_version = model->ir_version;
        o.output_types = types;
        st = lg_ledge_write_file(&model->graph, &o, out);
      }
      free(types);
    }
  }
  int rc = 0;
  if (st != LEDGE_OK) rc = cli_fail("prune: %s", ledge_last_error());
  ledge_model *pruned = NULL;
  double rel = 0, sqnr = 0, ms_before = 0, ms_after = 0;
  int top1 = 0;
  if (!rc) rc = cli_load_model(out, &pruned, &load_s);
  if (!rc) rc = cli_compare_models(original, pruned, &rel, &sqnr, &top1);
  if (!rc && runs > 0)
    rc = cli_compare_latency(original, pruned, (int)threads, (int)runs, &ms_before, &ms_after);
  if (!rc) {
    long long size_in = file_size(in), size_out = file_size(out);
    if (json) {
      printf("{\"method\": \"%s\", \"amount\": %g, \"layers\": [", method, amount);
      for (int i = 0; i < r.n_layers; i++) {
        printf("%s{\"name\": ", i ? ", " : "");
        cli_json_string(stdout, r.layers[i].name);
        printf(", \"op\": \"%s\", \"before\": %lld, \"after\": %lld}", r.layers[i].op_type,
               (long long)r.layers[i].before, (long long)r.layers[i].after);
      }
      printf(
          "], \"params_before\": %lld, \"params_after\": %lld, \"bytes_before\": %lld, "
          "\"bytes_after\": %lld, "
          "\"max_rel_error\": %.6g, \"sqnr_db\": %.2f, \"top1_same\": %s",
          (long long)r.params_before, (long long)r.params_after, size_in, size_out, rel,
          sqnr > 1e9 ? 999.0 : sqnr, top1 ? "true" : "false");
      if (runs > 0)
        printf(", \"ms_before\": %.3f, \"ms_after\": %.3f, \"threads\": %ld", ms_before, ms_after,
               threads);
      printf("}\n");
    } else {
      printf("%s pruning of %s: %d layer(s)\n", method, in, r.n_layers);
      for (int i = 0; i < r.n_layers; i++)
        printf("  %-40s %-6s %lld -> %lld %s\n", r.layers[i].name, r.layers[i].op_type,
               (long long)r.layers[i].before, (long long)r.layers[i].after,
               magnitude ? "non-zero" : "channels");
      printf("weights of pruned layers: %lld -> %lld %s\n", (long long)r.params_before,
             (long long)r.params_after, magnitude ? "non-zero" : "");
      printf("file: %lld -> %lld bytes (%s)\n", size_in, size_out, out);
      printf(
          "outputs vs the original: max error %.3g of the output scale, SQNR %.1f dB, top-1 %s\n",
          rel, sqnr, top1 ? "same" : "differs");
      if (runs > 0)
        printf("latency (%ld thread%s, median of %ld): %.2f ms -> %.2f ms (%.2fx)\n", threads,
               threads > 1 ? "s" : "", runs, ms_before, ms_after,
               ms_after > 0 ? ms_before / ms_after : 0);
    }
  }
  lg_prune_result_free(&r);
  ledge_model_destroy(pruned);
  ledge_model_destroy(model);
  ledge_model_destroy(original);
  return rc;
}
