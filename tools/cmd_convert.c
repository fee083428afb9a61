/* cmd_convert.c: `ledge convert IN OUT`: any model we read (ONNX, TF.js,
 * .ledge) written as ONNX or as the native .ledge format, chosen by OUT's
 * extension. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "formats/ledge_format.h"
#include "formats/onnx_write.h"
#include "ledge/npy.h"
#include "runtime/model.h"

static void help(FILE *f) {
  fprintf(
      f,
      "usage: ledge convert IN OUT [options]\n"
      "Converts a model. IN is any model ledge reads (.onnx, a TF.js model.json,\n"
      ".ledge); OUT's extension picks the format written: .onnx (a standard ONNX\n"
      "model any ONNX tool reads) or .ledge (the native format, docs/format.md).\n\n"
      "  --name NAME         model name stored in the output\n"
      "  --version V         model version (.ledge metadata; ONNX model_version if an integer)\n"
      "  --doc TEXT          description stored in the output\n"
      "  --meta KEY=VALUE    a metadata entry (repeatable; ONNX metadata_props)\n"
      "  --labels FILE       class labels, one per line (.ledge metadata 'labels')\n"
      "  --mean A,B,C        input preprocessing: per-channel mean (metadata 'input.mean')\n"
      "  --std A,B,C         input preprocessing: per-channel std (metadata 'input.std')\n"
      "  --layout L          input layout, e.g. NCHW or NHWC (metadata 'input.layout')\n"
      "  --color C           input color order, e.g. RGB or BGR (metadata 'input.color')\n"
      "  --selftest          .ledge: store a reference input, the expected outputs and\n"
      "                      every layer's fingerprint, for `ledge run OUT --selftest`\n"
      "  --input NAME=FILE   the self-test's input as .npy (repeatable; NAME may be\n"
      "                      omitted for a one-input model; default: random values)\n"
      "  --tolerance T       the self-test's tolerance, relative to each tensor's\n"
      "                      largest magnitude (default 1e-3)\n"
      "  --json              print a JSON summary of what was written\n");
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcasecmp(s + n - k, suffix);
}

enum { MAX_META = 64, MAX_INPUTS = 64 };

typedef struct meta_list {
  const char *keys[MAX_META], *values[MAX_META];
  int n;
} meta_list;

static bool meta_add(meta_list *m, const char *key, const char *value) {
  if (!value) return true;
  for (int i = 0; i < m->n; i++)
    if (!strcmp(m->keys[i], key)) {
      m->values[i] = value;
      return true;
    }
  if (m->n == MAX_META) return false;
  m->keys[m->n] = key;
  m->values[m->n++] = value;
  return true;
}

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = n >= 0 && n < (64 << 20) ? malloc((size_t)n + 1) : NULL;
  if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
    free(s);
    s = NULL;
  }
  if (s) {
    s[n] = 0;
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = 0;
  }
  fclose(f);
  return s;
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* Loads the --input tensors for the self-test, in the model's input order. */
static int load_inputs(const ledge_model *model, const char **specs, int n_specs,
                       ledge_tensor **inputs) {
  const lg_graph *g = &model->graph;
  for (int s = 0; s < n_specs; s++) {
    const char *eq = strchr(specs[s], '=');
    const char *file = eq ? eq + 1 : specs[s];
    int index = -1;
    if (eq) {
      for (int i = 0; i < g->n_inputs; i++)
        if (strlen(g->values[g->inputs[i]].name) == (size_t)(eq - specs[s]) &&
            !strncmp(g->values[g->inputs[i]].name, specs[s], (size_t)(eq - specs[s])))
          index = i;
      if (index < 0)
        return cli_fail("convert: the model has no input named '%.*s'", (int)(eq - specs[s]),
                        specs[s]);
    } else if (g->n_inputs != 1) {
      return cli_fail("convert: the model has %d inputs; write --input NAME=FILE", g->n_inputs);
    } else {
      index = 0;
    }
    if (ledge_npy_load(file, &inputs[index]) != LEDGE_OK)
      return cli_fail("convert: %s", ledge_last_error());
  }
  for (int i = 0; i < g->n_inputs; i++)
    if (!inputs[i])
      return cli_fail("convert: give every input with --input, or none (random values)");
  return 0;
}

int cmd_convert(int argc, char **argv) {
  const char *in = NULL, *out = NULL, *value, *name = NULL, *doc = NULL, *version = NULL,
             *labels_path = NULL;
  meta_list user = {0}, meta = {0};
  char meta_keys[MAX_META][256];
  const char *input_specs[MAX_INPUTS];
  int n_specs = 0;
  bool json = false, selftest = false;
  double tolerance = 1e-3;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      help(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--json"))
      json = true;
    else if (!strcmp(argv[i], "--selftest"))
      selftest = true;
    else if (cli_option(argc, argv, &i, "--name", &value))
      name = value;
    else if (cli_option(argc, argv, &i, "--doc", &value))
      doc = value;
    else if (cli_option(argc, argv, &i, "--version", &value))
      version = value;
    else if (cli_option(argc, argv, &i, "--labels", &value))
      labels_path = value;
    else if (cli_option(argc, argv, &i, "--mean", &value))
      meta_add(&user, "input.mean", value);
    else if (cli_option(argc, argv, &i, "--std", &value))
      meta_add(&user, "input.std", value);
    else if (cli_option(argc, argv, &i, "--layout", &value))
      meta_add(&user, "input.layout", value);
    else if (cli_option(argc, argv, &i, "--color", &value))
      meta_add(&user, "input.color", value);
    else if (cli_option(argc, argv, &i, "--input", &value)) {
      if (n_specs == MAX_INPUTS) return cli_fail("convert: too many --input options");
      input_specs[n_specs++] = value;
    } else if (cli_option(argc, argv, &i, "--tolerance", &value)) {
      char *end;
      tolerance = strtod(value, &end);
      if (*end || !(tolerance > 0) || tolerance > 1)
        return cli_fail("convert: --tolerance wants a number in (0, 1]");
    } else if (cli_option(argc, argv, &i, "--meta", &value)) {
      const char *eq = strchr(value, '=');
      if (!eq || eq == value || eq - value >= 256)
        return cli_fail("convert: --meta wants KEY=VALUE, not '%s'", value);
      snprintf(meta_keys[user.n], sizeof meta_keys[user.n], "%.*s", (int)(eq - value), value);
      if (!meta_add(&user, meta_keys[user.n], eq + 1))
        return cli_fail("convert: too many --meta options");
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
  if (to_onnx && (selftest || n_specs))
    return cli_fail("convert: --selftest and --input are for .ledge output");
  if (n_specs && !selftest)
    return cli_fail("convert: --input gives the self-test's input; add --selftest");
  char *labels = NULL;
  if (labels_path && !(labels = read_text(labels_path)))
    return cli_fail("convert: cannot read labels '%s'", labels_path);

  ledge_model *model;
  double load_s;
  if (cli_load_model(in, &model, &load_s)) {
    free(labels);
    return 1;
  }
  const lg_graph *g = &model->graph;
  /* Metadata: what the source had (a .ledge), then ours, then the user's. */
  for (int i = 0; model->ledge && i < model->ledge->n_meta; i++)
    meta_add(&meta, model->ledge->meta_keys[i], model->ledge->meta_values[i]);
  char created[32], by[64];
  time_t now = time(NULL);
  strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  snprintf(by, sizeof by, "ledge %s", ledge_version());
  if (!model->ledge) {
    meta_add(&meta, "producer", model->producer[0] ? model->producer : NULL);
    meta_add(&meta, "source", base_name(in));
    meta_add(&meta, "source_format", model->format);
  }
  meta_add(&meta, "converted_by", by);
  meta_add(&meta, "created", created);
  meta_add(&meta, "name", name ? name : model->name[0] ? model->name : NULL);
  meta_add(&meta, "version", version);
  meta_add(&meta, "description", doc);
  meta_add(&meta, "labels", labels);
  for (int i = 0; i < user.n; i++) meta_add(&meta, user.keys[i], user.values[i]);

  double t0 = cli_now();
  lg_status st = LEDGE_OK;
  int rc = 0;
  lg_pool *pool = lg_pool_create();
  lg_ledge_selftest test;
  ledge_tensor *inputs[MAX_INPUTS] = {0};
  ledge_tensor_info *types = calloc((size_t)g->n_outputs + 1, sizeof *types);
  if (!pool || !types)
    st = lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  else if (n_specs && g->n_inputs > MAX_INPUTS)
    rc = cli_fail("convert: the model has too many inputs");
  else if (n_specs)
    rc = load_inputs(model, input_specs, n_specs, inputs);
  if (st == LEDGE_OK && !rc) st = lg_model_output_types(model, types);
  if (st == LEDGE_OK && !rc && to_onnx) {
    lg_onnx_write_options o = {0};
    o.graph_name = name;
    o.doc_string = doc;
    o.n_metadata = meta.n;
    o.metadata_keys = meta.keys;
    o.metadata_values = meta.values;
    o.output_types = types;
    o.opset = model->opset;
    o.ir_version = model->ir_version;
    if (version) o.model_version = strtoll(version, NULL, 10);
    o.producer_name = "ledge";
    ledge_dtype *dtypes = NULL; /* for ops whose ONNX form depends on types */
    if (lg_onnx_needs_value_dtypes(g) && lg_model_value_dtypes(model, &dtypes) == LEDGE_OK)
      o.value_dtypes = dtypes;
    st = lg_onnx_write_file(g, &o, out);
    free(dtypes);
  } else if (st == LEDGE_OK && !rc) {
    lg_ledge_write_options o = {0};
    o.opset = model->opset;
    o.ir_version = model->ir_version;
    o.n_meta = meta.n;
    o.meta_keys = meta.keys;
    o.meta_values = meta.values;
    o.output_types = types;
    if (model->ledge && model->ledge->n_clustered) { /* keep compressed weights compressed */
      o.encode = lg_ledge_keep_encoded;
      o.encode_ctx = model->ledge;
    }
    if (selftest) {
      st = lg_ledge_selftest_make(model, n_specs ? inputs : NULL, (float)tolerance, pool, &test);
      o.selftest = &test;
    } else if (model->ledge && model->ledge->has_selftest) {
      o.selftest = &model->ledge->selftest; /* keep the one the source carries */
    }
    if (st == LEDGE_OK) st = lg_ledge_write_file(g, &o, out);
  }
  double write_s = cli_now() - t0;
  if (rc) {
    /* already reported */
  } else if (st != LEDGE_OK) {
    rc = cli_fail("convert: %s", ledge_last_error());
  } else {
    struct stat sb;
    long long bytes = stat(out, &sb) == 0 ? (long long)sb.st_size : -1;
    ledge_model_stats stats;
    ledge_model_stats_get(model, &stats);
    const char *format = to_onnx ? "onnx" : "ledge";
    bool has_test = to_ledge && (selftest || (model->ledge && model->ledge->has_selftest));
    if (json) {
      printf("{\"input\": ");
      cli_json_string(stdout, in);
      printf(", \"input_format\": \"%s\", \"output\": ", model->format);
      cli_json_string(stdout, out);
      printf(
          ", \"format\": \"%s\", \"bytes\": %lld, \"nodes\": %lld, \"parameters\": %lld, "
          "\"weight_bytes\": %lld, \"inputs\": %d, \"outputs\": %d, \"metadata\": %d, "
          "\"selftest\": %s, "
          "\"load_ms\": %.3f, \"write_ms\": %.3f}\n",
          format, bytes, (long long)stats.node_count, (long long)stats.parameter_count,
          (long long)stats.weight_bytes, ledge_model_input_count(model),
          ledge_model_output_count(model), to_onnx || meta.n ? meta.n : 0,
          has_test ? "true" : "false", load_s * 1e3, write_s * 1e3);
    } else {
      printf("wrote %s (%s, %.2f MB): %lld nodes, %lld parameters, %d inputs, %d outputs%s\n", out,
             format, bytes / 1e6, (long long)stats.node_count, (long long)stats.parameter_count,
             ledge_model_input_count(model), ledge_model_output_count(model),
             has_test ? ", with a self-test" : "");
    }
  }
  for (int i = 0; i < MAX_INPUTS; i++) ledge_tensor_destroy(inputs[i]);
  free(types);
  lg_pool_destroy(pool);
  free(labels);
  ledge_model_destroy(model);
  return rc;
}
