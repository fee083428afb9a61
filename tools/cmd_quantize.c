/* cmd_quantize.c: ledge quantize, post-training int8 quantization with
 * calibration (src/optimize/quantize.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "optimize/quantize.h"
#include "optimize/quantize_data.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: ledge quantize MODEL --calibration DATA -o OUT [options]\n"
          "Post-training int8 quantization: calibrates activation ranges on DATA and\n"
          "writes a QDQ model (int8 weights per channel or per tensor, int32 bias,\n"
          "uint8 activations per tensor) that ledge runs on its int8 kernels and any\n"
          "ONNX runtime runs as the same quantized network.\n"
          "\n"
          "  --calibration DATA   an .npy holding N preprocessed samples stacked on the\n"
          "                       first axis, a folder of images (flat or one subfolder\n"
          "                       per class), or an IDX image file\n"
          "  --samples N          calibration samples, spread over DATA (default 100)\n"
          "  --method M           minmax | percentile | entropy (default minmax)\n"
          "  --percentile P       for --method percentile: of |x| (default 99.999)\n"
          "  --per-channel        one weight scale per output channel (recommended)\n"
          "  --keep-float NODE... leave these nodes (node or output names) in float\n"
          "  -o, --output OUT     the quantized model: .ledge or .onnx\n"
          "  --format F           ledge | onnx-qdq (default: from OUT's extension,\n"
          "                       onnx-qdq unless it ends in .ledge)\n"
          "  --report             per-layer SQNR against float, time in float and int8,\n"
          "                       and kept-float suggestions\n"
          "  --eval DATA          data for the report (default: the calibration data)\n"
          "  --report-samples N   samples the report compares (default 8)\n"
          "  --mean R,G,B --std R,G,B   image normalization after /255 (ImageNet's by\n"
          "                       default; use 0 and 1 for models fed raw [0,1] pixels)\n"
          "  --threads N          threads for calibration (default: one per core)\n"
          "  --json               machine-readable summary on stdout\n");
}

static bool parse_triple(const char *text, float *v) {
  char *end;
  for (int i = 0; i < 3; i++) {
    v[i] = strtof(text, &end);
    if (end == text) return false;
    if (i < 2) {
      if (*end == '\0') {
        v[1] = v[2] = v[0];
        break;
      }
      if (*end != ',') return false;
      text = end + 1;
    } else if (*end != '\0') {
      return false;
    }
  }
  v[3] = v[2];
  return true;
}

static bool progress_on = true;
static void progress(const char *label, long done, long total) {
  if (progress_on) cli_progress(label, done, total);
}

static void json_number(FILE *f, double v) {
  if (isfinite(v))
    fprintf(f, "%.4g", v);
  else
    fprintf(f, "null");
}

int cmd_quantize(int argc, char **argv) {
  const char *model_path = NULL, *calib = NULL, *out_path = NULL, *format = NULL, *eval = NULL, *v;
  const char **keep = calloc((size_t)argc + 1, sizeof(char *));
  int n_keep = 0;
  bool report = false, json = false;
  long samples = 100, report_samples = 8, threads = 0;
  lg_quantize_options qo;
  lg_quantize_options_init(&qo);
  lg_calib_data_options dop;
  lg_calib_data_options_init(&dop);
  int rc = 0;
#define FAIL(...)               \
  do {                          \
    rc = cli_fail(__VA_ARGS__); \
    goto done;                  \
  } while (0)
  if (!keep) return cli_fail("out of memory");
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      goto done;
    } else if (cli_option(argc, argv, &i, "--calibration", &v)) {
      calib = v;
    } else if (cli_option(argc, argv, &i, "--samples", &v)) {
      if (!cli_parse_int("--samples", v, 1, 10000000, &samples)) {
        rc = 1; /* cli_parse_int said why */
        goto done;
      }
    } else if (cli_option(argc, argv, &i, "--report-samples", &v)) {
      if (!cli_parse_int("--report-samples", v, 1, 100000, &report_samples)) {
        rc = 1; /* cli_parse_int said why */
        goto done;
      }
    } else if (cli_option(argc, argv, &i, "--threads", &v)) {
      if (!cli_parse_int("--threads", v, 0, 1024, &threads)) {
        rc = 1; /* cli_parse_int said why */
        goto done;
      }
    } else if (cli_option(argc, argv, &i, "--method", &v)) {
      if (!strcmp(v, "minmax"))
        qo.method = LG_CALIB_MINMAX;
      else if (!strcmp(v, "percentile"))
        qo.method = LG_CALIB_PERCENTILE;
      else if (!strcmp(v, "entropy"))
        qo.method = LG_CALIB_ENTROPY;
      else
        FAIL("--method: '%s' is not one of minmax, percentile, entropy", v);
    } else if (cli_option(argc, argv, &i, "--percentile", &v)) {
      char *end;
      qo.percentile = strtod(v, &end);
      if (*end || !(qo.percentile > 50 && qo.percentile <= 100))
        FAIL("--percentile: expected a number in (50, 100]");
    } else if (!strcmp(a, "--per-channel")) {
      qo.per_channel = true;
    } else if (!strcmp(a, "--keep-float")) {
      int before = n_keep;
      while (i + 1 < argc && argv[i + 1][0] != '-') keep[n_keep++] = argv[++i];
      if (n_keep == before) FAIL("--keep-float: expected node names");
    } else if (cli_option(argc, argv, &i, "-o", &v) || cli_option(argc, argv, &i, "--output", &v)) {
      out_path = v;
    } else if (cli_option(argc, argv, &i, "--format", &v)) {
      format = v;
    } else if (cli_option(argc, argv, &i, "--eval", &v)) {
      eval = v;
    } else if (cli_option(argc, argv, &i, "--mean", &v)) {
      if (!parse_triple(v, dop.mean)) FAIL("--mean: expected R,G,B (or one value)");
    } else if (cli_option(argc, argv, &i, "--std", &v)) {
      if (!parse_triple(v, dop.std) || !dop.std[0] || !dop.std[1] || !dop.std[2])
        FAIL("--std: expected nonzero R,G,B (or one value)");
    } else if (!strcmp(a, "--report")) {
      report = true;
    } else if (!strcmp(a, "--json")) {
      json = true;
    } else if (a[0] == '-') {
      FAIL("quantize: unknown option '%s' (see ledge quantize --help)", a);
    } else if (!model_path) {
      model_path = a;
    } else {
      FAIL("quantize: unexpected argument '%s'", a);
    }
  }
  if (!model_path) {
    usage(stderr);
    rc = 2;
    goto done;
  }
  if (!calib) FAIL("quantize: --calibration DATA is required");
  if (!out_path) FAIL("quantize: -o OUT is required");
  size_t ol = strlen(out_path);
  bool ledge_ext = ol > 6 && !strcmp(out_path + ol - 6, ".ledge");
  if (format && strcmp(format, "onnx-qdq") && strcmp(format, "ledge"))
    FAIL("--format: '%s' is not one of onnx-qdq, ledge", format);
  bool write_ledge = format ? !strcmp(format, "ledge") : ledge_ext;
  qo.keep_float = keep;
  qo.n_keep_float = n_keep;
  qo.threads = (int)threads;
  qo.progress = progress;
  progress_on = !json;
  dop.samples = samples;

  ledge_model *model = NULL;
  double load_s = 0;
  if (cli_load_model(model_path, &model, &load_s)) {
    rc = 1;
    goto done;
  }
  ledge_tensor_info info;
  lg_calib_data *data = NULL, *eval_data = NULL;
  lg_quant_result r;
  memset(&r, 0, sizeof r);
  double t0 = cli_now();
  if (ledge_model_input_info(model, 0, &info) != LEDGE_OK ||
      lg_calib_data_open(calib, &info, &dop, &data) != LEDGE_OK) {
    rc = cli_fail_status("quantize");
    goto free_model;
  }
  lg_calib_source src = {lg_calib_data_count(data), lg_calib_data_get, data};
  if (lg_quantize_qdq(model, &src, &qo, &r) != LEDGE_OK) {
    rc = cli_fail_status("quantize");
    goto free_model;
  }
  double calib_s = cli_now() - t0;
  if ((write_ledge ? lg_quant_write_ledge(model, &r, out_path)
                   : lg_quant_write_onnx(model, &r, out_path)) != LEDGE_OK) {
    rc = cli_fail_status("quantize: writing the model");
    goto free_model;
  }
  double fp32_ms = 0, int8_ms = 0;
  bool overlap = false;
  if (report) {
    lg_calib_source rs = src;
    if (eval) {
      lg_calib_data_options eop = dop;
      eop.samples = report_samples;
      if (lg_calib_data_open(eval, &info, &eop, &eval_data) != LEDGE_OK) {
        rc = cli_fail_status("quantize: --eval");
        goto free_model;
      }
      rs = (lg_calib_source){lg_calib_data_count(eval_data), lg_calib_data_get, eval_data};
      overlap = !strcmp(eval, calib);
    } else {
      overlap = true;
    }
    if (lg_quant_report(model, &r, &rs, report_samples, 5, &fp32_ms, &int8_ms) != LEDGE_OK) {
      rc = cli_fail_status("quantize: report");
      goto free_model;
    }
  }
  const char *methods[] = {"minmax", "percentile", "entropy"};
  if (json) {
    printf("{\"model\": ");
    cli_json_string(stdout, model_path);
    printf(", \"output\": ");
    cli_json_string(stdout, out_path);
    printf(
        ", \"format\": \"%s\", \"method\": \"%s\", \"per_channel\": %s, \"samples\": %lld, "
        "\"calibration_s\": %.3f, \"quantized_layers\": %d, \"float_layers\": %d",
        write_ledge ? "ledge" : "onnx-qdq", methods[qo.method], qo.per_channel ? "true" : "false",
        (long long)r.samples, calib_s, r.n_quantized, r.n_kept);
    if (report) {
      printf(", \"report\": {\"evaluation_overlaps_calibration\": %s, \"fp32_ms\": ",
             overlap ? "true" : "false");
      json_number(stdout, fp32_ms);
      printf(", \"int8_ms\": ");
      json_number(stdout, int8_ms);
      printf(", \"samples\": %lld, \"top1_agreement\": ", (long long)r.report_samples);
      json_number(stdout, r.report_samples ? (double)r.top1_agree / (double)r.report_samples : NAN);
      printf(", \"output_sqnr_db\": ");
      json_number(stdout, r.output_sqnr_db);
      printf(", \"layers\": [");
      for (int l = 0; l < r.n_layers; l++) {
        const lg_quant_layer *y = &r.layers[l];
        printf("%s{\"name\": ", l ? ", " : "");
        cli_json_string(stdout, y->name);
        printf(", \"op_type\": \"%s\", \"quantized\": %s, \"sqnr_db\": ", y->op_type,
               y->quantized ? "true" : "false");
        json_number(stdout, y->sqnr_db);
        printf(", \"fp32_ms\": ");
        json_number(stdout, y->fp32_ms);
        printf(", \"int8_ms\": ");
        json_number(stdout, y->int8_ms);
        bool warn =
            y->quantized && (y->sqnr_db < 20 || (y->int8_ms > y->fp32_ms && y->fp32_ms > 0));
        printf(", \"suggest_keep_float\": %s}", warn ? "true" : "false");
      }
      printf("]}");
    }
    printf("}\n");
  } else {
    printf("quantized %d of %d layers (%s, %s weights, %lld calibration samples) in %.1f s -> %s\n",
           r.n_quantized, r.n_layers, methods[qo.method],
           qo.per_channel ? "per-channel" : "per-tensor", (long long)r.samples, calib_s, out_path);
    if (report) {
      printf("\n%-40s %-8s %9s %9s %9s %8s\n", "layer", "op", "SQNR dB", "fp32 ms", "int8 ms",
             "speedup");
      int suggestions = 0;
      for (int l = 0; l < r.n_layers; l++) {
        const lg_quant_layer *y = &r.layers[l];
        double sp = y->int8_ms > 0 ? y->fp32_ms / y->int8_ms : NAN;
        printf("%-40.40s %-8s %9.1f %9.3f %9.3f %7.2fx%s\n", y->name, y->op_type, y->sqnr_db,
               y->fp32_ms, y->int8_ms, sp, y->quantized ? "" : "  (float)");
      }
      printf("%-40s %-8s %9s %9.3f %9.3f %7.2fx\n", "whole model (1 thread)", "", "", fp32_ms,
             int8_ms, int8_ms > 0 ? fp32_ms / int8_ms : NAN);
      printf("model output: SQNR %.1f dB, top-1 agreement with float %lld of %lld samples\n",
             r.output_sqnr_db, (long long)r.top1_agree, (long long)r.report_samples);
      for (int l = 0; l < r.n_layers; l++) {
        const lg_quant_layer *y = &r.layers[l];
        if (!y->quantized) continue;
        if (y->sqnr_db < 20) {
          printf("warning: '%s' loses accuracy in int8 (SQNR %.1f dB < 20): try --keep-float %s\n",
                 y->name, y->sqnr_db, y->name);
          suggestions++;
        } else if (y->fp32_ms > 0 && y->int8_ms > y->fp32_ms) {
          printf("warning: '%s' is slower in int8 (%.3f ms vs %.3f ms): try --keep-float %s\n",
                 y->name, y->int8_ms, y->fp32_ms, y->name);
          suggestions++;
        }
      }
      if (!suggestions) printf("no layer loses more than 20 dB SQNR or runs slower in int8\n");
      if (overlap)
        printf(
            "warning: the report evaluates on calibration data (%s); pass --eval DATA with "
            "held-out samples\n",
            calib);
    }
  }
free_model:
  lg_quant_result_free(&r);
  lg_calib_data_close(data);
  lg_calib_data_close(eval_data);
  ledge_model_destroy(model);
done:
  free(keep);
  return rc;
#undef FAIL
}
