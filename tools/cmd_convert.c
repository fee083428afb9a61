/* cmd_convert.c: `ledge convert IN OUT`: any model we read (ONNX, TF.js,
 * .ledge) written as ONNX or as the native .ledge format, chosen by OUT's
 * extension. */
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "formats/onnx_write.h"
#include "runtime/model.h"

static void help(FILE *f) {
  fprintf(f,
          "usage: ledge convert IN OUT [options]\n"
          "Converts a model. IN is any model ledge reads (.onnx, a TF.js model.json,\n"
          ".ledge); OUT's extension picks the format written: .onnx (a standard ONNX\n"
          "model any ONNX tool reads) or .ledge (the native format, see docs/format.md).\n\n"
          "  --name NAME         model name stored in the output\n"
          "  --doc TEXT          doc string stored in the output\n"
          "  --meta KEY=VALUE    a metadata entry (repeatable; ONNX metadata_props)\n"
          "  --json              print a JSON summary of what was written\n");
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcasecmp(s + n - k, suffix);
}

enum { MAX_META = 64 };

int cmd_convert(int argc, char **argv) {
  const char *in = NULL, *out = NULL, *value, *name = NULL, *doc = NULL;
  const char *keys[MAX_META], *values[MAX_META];
  char meta_buf[MAX_META][512];
  int n_meta = 0;
  bool json = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      help(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--json"))
      json = true;
    else if (cli_option(argc, argv, &i, "--name", &value))
      name = value;
    else if (cli_option(argc, argv, &i, "--doc", &value))
      doc = value;
    else if (cli_option(argc, argv, &i, "--meta", &value)) {
      const char *eq = strchr(value, '=');
      if (!eq || eq == value) return cli_fail("convert: --meta wants KEY=VALUE, not '%s'", value);
      if (n_meta == MAX_META) return cli_fail("convert: too many --meta options");
      snprintf(meta_buf[n_meta], sizeof meta_buf[n_meta], "%.*s", (int)(eq - value), value);
      keys[n_meta] = meta_buf[n_meta];
      values[n_meta++] = eq + 1;
    } else if (argv[i][0] != '-' && !in)
      in = argv[i];
    else if (argv[i][0] != '-' && !out)
      out = argv[i];
    else
      return cli_fail("convert: unexpected argument '%s' (see ledge convert --help)", argv[i]);
  }
  if (!in || !out) {
    help(stderr);
    return 2;
  }
  bool to_onnx = ends_with(out, ".onnx");
  bool to_ledge = ends_with(out, ".ledge");
  if (!to_onnx && !to_ledge)
    return cli_fail("convert: OUT must end in .onnx or .ledge, not '%s'", out);

  ledge_model *model;
  double load_s;
  if (cli_load_model(in, &model, &load_s)) return 1;
  double t0 = cli_now();
  lg_status st;
  lg_onnx_write_options o = {0};
  o.graph_name = name;
  o.doc_string = doc;
  o.n_metadata = n_meta;
  o.metadata_keys = keys;
  o.metadata_values = values;
  if (to_onnx) {
    st = lg_onnx_write_model(model, &o, out);
  } else {
    st = lg_error(LEDGE_ERR_UNSUPPORTED, ".ledge output is not built yet");
  }
  double write_s = cli_now() - t0;
  int rc = 0;
  if (st != LEDGE_OK) {
    rc = cli_fail("convert: %s", ledge_last_error());
  } else {
    struct stat sb;
    long long bytes = stat(out, &sb) == 0 ? (long long)sb.st_size : -1;
    ledge_model_stats stats;
    ledge_model_stats_get(model, &stats);
    const char *format = to_onnx ? "onnx" : "ledge";
    if (json) {
      printf("{\"input\": ");
      cli_json_string(stdout, in);
      printf(", \"output\": ");
      cli_json_string(stdout, out);
      printf(
          ", \"format\": \"%s\", \"bytes\": %lld, \"nodes\": %lld, \"parameters\": %lld, "
          "\"weight_bytes\": %lld, \"inputs\": %d, \"outputs\": %d, \"load_ms\": %.3f, "
          "\"write_ms\": %.3f}\n",
          format, bytes, (long long)stats.node_count, (long long)stats.parameter_count,
          (long long)stats.weight_bytes, ledge_model_input_count(model),
          ledge_model_output_count(model), load_s * 1e3, write_s * 1e3);
    } else {
      printf("wrote %s (%s, %.2f MB): %lld nodes, %lld parameters, %d inputs, %d outputs\n", out,
             format, bytes / 1e6, (long long)stats.node_count, (long long)stats.parameter_count,
             ledge_model_input_count(model), ledge_model_output_count(model));
    }
  }
  ledge_model_destroy(model);
  return rc;
}
