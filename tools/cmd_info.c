/* cmd_info.c: `ledge info MODEL` describes a model. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void help(FILE *f) {
  fprintf(f,
          "usage: ledge info MODEL [--json]\n"
          "Describes a model: inputs, outputs, operator histogram, parameter count,\n"
          "multiply-accumulates of one run and the planned arena size.\n"
          "Unknown input dimensions (e.g. a symbolic batch) are taken as 1.\n\n"
          "  --json   print one JSON object instead of text\n");
}

static void print_values(FILE *f, ledge_session *s, bool inputs, bool json) {
  int n = inputs ? ledge_session_input_count(s) : ledge_session_output_count(s);
  for (int i = 0; i < n; i++) {
    ledge_tensor_info info;
    if (inputs) ledge_session_input_info(s, i, &info);
    else ledge_session_output_info(s, i, &info);
    char dims[256];
    if (json) {
      fprintf(f, "%s{\"name\": ", i ? ", " : "");
      cli_json_string(f, info.name);
      fprintf(f, ", \"dtype\": \"%s\", \"shape\": [", ledge_dtype_name(info.dtype));
      for (int d = 0; d < info.rank; d++) fprintf(f, "%s%lld", d ? ", " : "", (long long)info.dims[d]);
      fprintf(f, "]}");
    } else {
      fprintf(f, "  %-24s %-8s %s\n", info.name, ledge_dtype_name(info.dtype), cli_dims(&info, dims, sizeof dims));
    }
  }
}

int cmd_info(int argc, char **argv) {
  const char *path = NULL;
  bool json = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      help(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--json")) json = true;
    else if (argv[i][0] != '-' && !path) path = argv[i];
    else return cli_fail("info: unexpected argument '%s' (see ledge info --help)", argv[i]);
  }
  if (!path) {
    help(stderr);
    return 2;
  }
  ledge_model *model;
  ledge_session *session;
  double load_s;
  if (cli_load_model(path, &model, &load_s)) return 1;
  if (cli_create_session(model, 1, false, &session)) {
    ledge_model_destroy(model);
    return 1;
  }
  ledge_model_stats ms;
  ledge_session_stats ss;
  ledge_model_source src;
  ledge_model_stats_get(model, &ms);
  ledge_session_stats_get(session, &ss);
  ledge_model_source_get(model, &src);
  int n_types = ledge_model_op_type_count(model);
  FILE *f = stdout;
  if (json) {
    fprintf(f, "{\"model\": ");
    cli_json_string(f, path);
    fprintf(f, ", \"format\": \"%s\", \"producer\": ", src.format);
    cli_json_string(f, src.producer);
    fprintf(f, ", \"opset\": %d, \"inputs\": [", src.opset);
    print_values(f, session, true, true);
    fprintf(f, "], \"outputs\": [");
    print_values(f, session, false, true);
    fprintf(f, "], \"operators\": {");
    for (int i = 0; i < n_types; i++) {
      const char *name;
      int64_t count;
      ledge_model_op_type(model, i, &name, &count);
      fprintf(f, "%s", i ? ", " : "");
      cli_json_string(f, name);
      fprintf(f, ": %lld", (long long)count);
    }
    fprintf(f,
            "}, \"nodes\": %lld, \"planned_nodes\": %lld, \"parameters\": %lld, \"weight_bytes\": %lld, "
            "\"macs\": %lld, \"arena_bytes\": %lld, \"intermediate_bytes\": %lld, \"load_ms\": %.3f}\n",
            (long long)ms.node_count, (long long)ss.node_count, (long long)ms.parameter_count,
            (long long)ms.weight_bytes, (long long)ss.macs, (long long)ss.arena_bytes,
            (long long)ss.intermediate_bytes, load_s * 1e3);
  } else {
    fprintf(f, "model      %s (%s, producer '%s', opset %d)\n", path, src.format, src.producer, src.opset);
    fprintf(f, "inputs\n");
    print_values(f, session, true, false);
    fprintf(f, "outputs\n");
    print_values(f, session, false, false);
    fprintf(f, "operators  %lld nodes (%lld after folding and fusion)\n", (long long)ms.node_count,
            (long long)ss.node_count);
    for (int i = 0; i < n_types; i++) {
      const char *name;
      int64_t count;
      ledge_model_op_type(model, i, &name, &count);
      fprintf(f, "  %-24s %lld\n", name, (long long)count);
    }
    fprintf(f, "parameters %.2fM (%.1f MB of weights)\n", ms.parameter_count / 1e6, ms.weight_bytes / 1e6);
    fprintf(f, "MACs       %.3f G per run\n", ss.macs / 1e9);
    fprintf(f, "arena      %.2f MB (intermediates would take %.2f MB unshared)\n", ss.arena_bytes / 1e6,
            ss.intermediate_bytes / 1e6);
    fprintf(f, "load       %.2f ms\n", load_s * 1e3);
  }
  ledge_session_destroy(session);
  ledge_model_destroy(model);
  return 0;
}
