/* cmd_compress.c: `ledge compress MODEL --bits B -o OUT.ledge`: weight
 * sharing by per-layer k-means and Huffman-coded indices (src/optimize/
 * compress.c), written as a .ledge file whose clustered tensors are decoded
 * at load; then the compressed model is checked against the original. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "formats/onnx_write.h"
#include "optimize/compress.h"
#include "runtime/model.h"

static void help(FILE *f) {
  fprintf(f,
          "usage: ledge compress MODEL --bits B -o OUT.ledge [options]\n"
          "Clusters every float32 weight tensor of at least --min-elements values into\n"
          "2^B shared values (1-D k-means, linear initialization), stores one index per\n"
          "weight, Huffman-coded, and writes a .ledge file (decoded at load). Then runs\n"
          "the original and the compressed model on the same deterministic input and\n"
          "reports how far the outputs moved.\n\n"
          "  --bits B            bits per index, 2..8 (required)\n"
          "  -o, --output FILE   the .ledge file to write (required)\n"
          "  --min-elements N    smaller tensors (biases, norms) stay float (default 1024)\n"
          "  --iterations I      k-means iterations at most (default 30)\n"
          "  --no-huffman        store the indices as packed B-bit fields\n"
          "  --json              print the report as JSON\n");
}

static long long file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

int cmd_compress(int argc, char **argv) {
  const char *in = NULL, *out = NULL, *value;
  long bits = 0, min_elements = 1024, iterations = 30;
  bool json = false, no_huffman = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      help(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--json"))
      json = true;
    else if (!strcmp(argv[i], "--no-huffman"))
      no_huffman = true;
    else if (cli_option(argc, argv, &i, "--bits", &value)) {
      if (!cli_parse_int("--bits", value, 2, 8, &bits)) return 2;
    } else if (cli_option(argc, argv, &i, "--min-elements", &value)) {
      if (!cli_parse_int("--min-elements", value, 1, 1L << 40, &min_elements)) return 2;
    } else if (cli_option(argc, argv, &i, "--iterations", &value)) {
      if (!cli_parse_int("--iterations", value, 1, 1000, &iterations)) return 2;
    } else if (cli_option(argc, argv, &i, "-o", &value) ||
               cli_option(argc, argv, &i, "--output", &value))
      out = value;
    else if (argv[i][0] != '-' && !in)
      in = argv[i];
    else
      return cli_fail("compress: unexpected argument '%s' (see ledge compress --help)", argv[i]);
  }
  if (!in || !out || !bits) {
    help(stderr);
    return 2;
  }
  size_t out_len = strlen(out);
  if (out_len < 6 || strcmp(out + out_len - 6, ".ledge"))
    return cli_fail("compress: the output must be a .ledge file");

  ledge_model *model;
  if (cli_load_model(in, &model, NULL)) return 1;
  const lg_graph *g = &model->graph;
  lg_compress_ctx ctx = {0};
  ctx.options.bits = (int)bits;
  ctx.options.min_elements = min_elements;
  ctx.options.iterations = (int)iterations;
  ctx.options.no_huffman = no_huffman;
  char method[64];
  snprintf(method, sizeof method, "k-means %ld-bit%s", bits, no_huffman ? "" : " + Huffman");
  const char *keys[64], *values[64];
  int n_meta = 0;
  for (int i = 0; model->ledge && i < model->ledge->n_meta && n_meta < 60; i++) {
    if (!strcmp(model->ledge->meta_keys[i], "compression")) continue;
    keys[n_meta] = model->ledge->meta_keys[i];
    values[n_meta++] = model->ledge->meta_values[i];
  }
  if (!model->ledge) {
    keys[n_meta] = "producer", values[n_meta++] = model->producer;
    keys[n_meta] = "source_format", values[n_meta++] = model->format;
  }
  keys[n_meta] = "compression", values[n_meta++] = method;
  ledge_tensor_info *types = calloc((size_t)g->n_outputs + 1, sizeof *types);
  lg_ledge_write_options o = {0};
  o.opset = model->opset;
  o.ir_version = model->ir_version;
  o.n_meta = n_meta;
  o.meta_keys = keys;
  o.meta_values = values;
  o.encode = lg_compress_encode;
  o.encode_ctx = &ctx;
  double t0 = cli_now();
  lg_status st = types ? lg_model_output_types(model, types) : LEDGE_ERR_NO_MEMORY;
  if (st == LEDGE_OK) {
    o.output_types = types;
    st = lg_ledge_write_file(g, &o, out);
  }
  if (st == LEDGE_OK && ctx.stats.error) st = ctx.stats.error;
  double seconds = cli_now() - t0;
  free(types);
  if (st != LEDGE_OK) {
    ledge_model_destroy(model);
    return cli_fail("compress: %s", ledge_last_error());
  }
  ledge_model *compressed;
  if (cli_load_model(out, &compressed, NULL)) {
    ledge_model_destroy(model);
    return 1;
  }
  double rel = 0, sqnr = 0;
  int top1 = 0;
  int rc = cli_compare_models(model, compressed, &rel, &sqnr, &top1);
  ledge_model_stats stats;
  ledge_model_stats_get(model, &stats);
  long long in_bytes = file_size(in), out_bytes = file_size(out);
  const lg_compress_stats *cs = &ctx.stats;
  if (!rc && json) {
    printf("{\"input\": ");
    cli_json_string(stdout, in);
    printf(", \"output\": ");
    cli_json_string(stdout, out);
    printf(
        ", \"bits\": %ld, \"huffman\": %s, \"input_bytes\": %lld, \"output_bytes\": %lld, "
        "\"ratio\": %.3f, "
        "\"weight_bytes\": %lld, \"tensors_clustered\": %d, \"weights_clustered\": %lld, "
        "\"clustered_raw_bytes\": %lld, \"clustered_encoded_bytes\": %lld, \"bits_per_weight\": "
        "%.3f, "
        "\"worst_tensor_sqnr_db\": %.2f, \"worst_tensor\": ",
        bits, no_huffman ? "false" : "true", in_bytes, out_bytes,
        out_bytes > 0 ? (double)in_bytes / out_bytes : 0, (long long)stats.weight_bytes,
        cs->tensors, (long long)cs->weights, (long long)cs->raw_bytes, (long long)cs->encoded_bytes,
        cs->weights ? 8.0 * cs->encoded_bytes / cs->weights : 0,
        cs->tensors ? cs->worst_sqnr_db : 0);
    cli_json_string(stdout, cs->worst_tensor);
    printf(
        ", \"output_max_rel_error\": %.6g, \"output_sqnr_db\": %.2f, \"top1_same\": %s, "
        "\"seconds\": %.3f}\n",
        rel, isinf(sqnr) ? 999.0 : sqnr, top1 ? "true" : "false", seconds);
  } else if (!rc) {
    printf("wrote %s: %.2f MB -> %.2f MB (%.1fx smaller), %s\n", out, in_bytes / 1e6,
           out_bytes / 1e6, out_bytes > 0 ? (double)in_bytes / out_bytes : 0, method);
    printf(
        "  %d tensors clustered: %lld weights, %.2f MB -> %.2f MB (%.2f bits per weight), worst "
        "SQNR %.1f dB (%s)\n",
        cs->tensors, (long long)cs->weights, cs->raw_bytes / 1e6, cs->encoded_bytes / 1e6,
        cs->weights ? 8.0 * cs->encoded_bytes / cs->weights : 0,
        cs->tensors ? cs->worst_sqnr_db : 0, cs->worst_tensor);
    printf("  outputs on a random input: max error %.3g of the scale, SQNR %.1f dB, top-1 %s\n",
           rel, sqnr, top1 ? "same" : "DIFFERENT");
  }
  ledge_model_destroy(compressed);
  ledge_model_destroy(model);
  return rc;
}
