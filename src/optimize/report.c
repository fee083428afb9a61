/* optimize/report.c: Markdown, JSON and gnuplot output of the `ledge
 * optimize` report (see report.h). */
#include "optimize/report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void lg_opt_variant_init(lg_opt_variant *v, const char *name, const char *description) {
  memset(v, 0, sizeof *v);
  snprintf(v->name, sizeof v->name, "%s", name);
  snprintf(v->description, sizeof v->description, "%s", description);
  v->file_bytes = -1;
  v->peak_rss_kb = -1;
  for (int t = 0; t < LG_OPT_MAX_THREADS; t++) v->latency_ms[t] = NAN;
  v->accuracy = NAN;
  v->top1_agreement = NAN;
  v->sqnr_db = NAN;
}

static const lg_opt_variant *baseline(const lg_opt_report *r) {
  return r->n_variants > 0 ? &r->variants[0] : NULL;
}

static void md_number(FILE *f, double v, const char *fmt) {
  if (isnan(v))
    fprintf(f, " - |");
  else if (isinf(v))
    fprintf(f, " exact |");
  else {
    fputc(' ', f);
    fprintf(f, fmt, v);
    fprintf(f, " |");
  }
}

void lg_opt_report_markdown(const lg_opt_report *r, FILE *f) {
  const lg_opt_variant *base = baseline(r);
  fprintf(f, "# ledge optimize: %s\n\n", r->model);
  fprintf(f, "Data: `%s`", r->data);
  if (r->eval_samples > 0) fprintf(f, " (accuracy over %ld labelled samples)", r->eval_samples);
  fprintf(f, ". Latency: median of %d interleaved runs per thread count.\n\n", r->runs);
  fprintf(f, "| variant | file | size (MB) | fp32 size / size | peak RSS (MB) |");
  for (int t = 0; t < r->n_threads; t++)
    fprintf(f, " latency %d thread%s (ms) |", r->threads[t], r->threads[t] > 1 ? "s" : "");
  fprintf(f, " accuracy (%%) | top-1 agreement (%%) | output SQNR (dB) |\n");
  fprintf(f, "|---|---|---:|---:|---:|");
  for (int t = 0; t < r->n_threads; t++) fprintf(f, "---:|");
  fprintf(f, "---:|---:|---:|\n");
  for (int i = 0; i < r->n_variants; i++) {
    const lg_opt_variant *v = &r->variants[i];
    const char *file = strrchr(v->path, '/');
    fprintf(f, "| %s | %s |", v->name, file ? file + 1 : v->path);
    md_number(f, v->file_bytes >= 0 ? v->file_bytes / 1e6 : NAN, "%.3f");
    md_number(f,
              v->file_bytes > 0 && base && base->file_bytes > 0
                  ? (double)base->file_bytes / (double)v->file_bytes
                  : NAN,
              "%.2fx");
    md_number(f, v->peak_rss_kb >= 0 ? v->peak_rss_kb / 1024.0 : NAN, "%.1f");
    for (int t = 0; t < r->n_threads; t++) md_number(f, v->latency_ms[t], "%.3f");
    md_number(f, 100 * v->accuracy, "%.2f");
    md_number(f, 100 * v->top1_agreement, "%.1f");
    md_number(f, v->sqnr_db, "%.1f");
    fputc('\n', f);
  }
  fprintf(f, "\n");
  for (int i = 0; i < r->n_variants; i++)
    fprintf(f, "- **%s**: %s\n", r->variants[i].name, r->variants[i].description);
  fprintf(f,
          "\nPeak RSS is that of a separate process loading the variant and running it on one "
          "thread. Top-1 agreement and SQNR compare each variant's first output with fp32's "
          "on %lld samples of the data.\n",
          base ? (long long)base->compared_samples : 0LL);
}

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

static void json_number(FILE *f, double v) {
  if (isfinite(v))
    fprintf(f, "%.6g", v);
  else
    fprintf(f, "null");
}

void lg_opt_report_json(const lg_opt_report *r, FILE *f) {
  fprintf(f, "{\"model\": ");
  json_string(f, r->model);
  fprintf(f, ", \"data\": ");
  json_string(f, r->data);
  fprintf(f, ", \"runs\": %d, \"threads\": [", r->runs);
  for (int t = 0; t < r->n_threads; t++) fprintf(f, "%s%d", t ? ", " : "", r->threads[t]);
  fprintf(f, "], \"eval_samples\": %ld, \"variants\": [", r->eval_samples);
  for (int i = 0; i < r->n_variants; i++) {
    const lg_opt_variant *v = &r->variants[i];
    fprintf(f, "%s{\"name\": ", i ? ", " : "");
    json_string(f, v->name);
    fprintf(f, ", \"description\": ");
    json_string(f, v->description);
    fprintf(f, ", \"path\": ");
    json_string(f, v->path);
    fprintf(f, ", \"file_bytes\": %lld, \"peak_rss_kb\": ", (long long)v->file_bytes);
    if (v->peak_rss_kb >= 0)
      fprintf(f, "%ld", v->peak_rss_kb);
    else
      fprintf(f, "null");
    fprintf(f, ", \"latency_ms\": {");
    for (int t = 0; t < r->n_threads; t++) {
      fprintf(f, "%s\"%d\": ", t ? ", " : "", r->threads[t]);
      json_number(f, v->latency_ms[t]);
    }
    fprintf(f, "}, \"accuracy\": ");
    json_number(f, v->accuracy);
    fprintf(f, ", \"top1_agreement\": ");
    json_number(f, v->top1_agreement);
    /* identical outputs: an infinite SQNR, written as null would read as
     * "not measured", so it is capped */
    fprintf(f, ", \"sqnr_db\": ");
    json_number(f, isinf(v->sqnr_db) ? 999.0 : v->sqnr_db);
    fprintf(f, ", \"compared_samples\": %lld}", (long long)v->compared_samples);
  }
  fprintf(f, "]}\n");
}

/* One gnuplot run: points (x, y) labelled with the variant names. */
static lg_status plot(const lg_opt_report *r, const char *png, const char *xlabel, bool log_x,
                      double (*x_of)(const lg_opt_variant *), const char *ylabel,
                      double (*y_of)(const lg_opt_variant *)) {
  char tmp[] = "/tmp/ledge-optimize-XXXXXX";
  int fd = mkstemp(tmp);
  if (fd < 0) return lg_error(LEDGE_ERR_IO, "optimize: cannot create a temporary file for a plot");
  FILE *d = fdopen(fd, "w");
  if (!d) {
    close(fd);
    unlink(tmp);
    return lg_error(LEDGE_ERR_IO, "optimize: cannot write a temporary file for a plot");
  }
  /* the title inside gnuplot's single quotes: the model's file name, quotes dropped */
  char title[256];
  const char *base = strrchr(r->model, '/') ? strrchr(r->model, '/') + 1 : r->model;
  size_t tl = 0;
  for (; *base && tl + 1 < sizeof title; base++)
    if (*base != '\'' && *base != '\\') title[tl++] = *base;
  title[tl] = 0;
  int points = 0;
  for (int i = 0; i < r->n_variants; i++) {
    double x = x_of(&r->variants[i]), y = y_of(&r->variants[i]);
    if (!isfinite(x) || !isfinite(y)) continue;
    fprintf(d, "%.9g %.9g \"%s\"\n", x, y, r->variants[i].name);
    points++;
  }
  fclose(d);
  if (!points) {
    unlink(tmp);
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "optimize: nothing to plot in %s", png);
  }
  FILE *g = popen("gnuplot 2>/dev/null", "w");
  if (!g) {
    unlink(tmp);
    return lg_error(LEDGE_ERR_IO, "optimize: cannot run gnuplot");
  }
  fprintf(g,
          "set terminal pngcairo size 900,600 font 'sans,10' noenhanced\nset output '%s'\n"
          "set title '%s'\nset xlabel '%s'\nset ylabel '%s'\nset grid\nset offsets graph "
          "0.08, graph 0.15, graph 0.1, graph 0.1\n%s"
          "plot '%s' using 1:2 with points pt 7 ps 1.5 notitle, '' using 1:2:3 with labels "
          "offset 0,1 notitle\n",
          png, title, xlabel, ylabel, log_x ? "set logscale x\n" : "", tmp);
  int rc = pclose(g);
  unlink(tmp);
  if (rc != 0 || access(png, R_OK) != 0)
    return lg_error(LEDGE_ERR_IO, "optimize: gnuplot failed drawing %s (is gnuplot installed?)",
                    png);
  return LEDGE_OK;
}

static bool have_accuracy;
static double x_size_mb(const lg_opt_variant *v) {
  return v->file_bytes > 0 ? v->file_bytes / 1e6 : NAN;
}
static double x_latency(const lg_opt_variant *v) { return v->latency_ms[0]; }
static double y_quality(const lg_opt_variant *v) {
  return 100 * (have_accuracy ? v->accuracy : v->top1_agreement);
}

lg_status lg_opt_report_plots(const lg_opt_report *r, const char *size_png,
                              const char *latency_png) {
  have_accuracy = r->n_variants > 0 && isfinite(r->variants[0].accuracy);
  const char *y = have_accuracy ? "top-1 accuracy (%)" : "top-1 agreement with fp32 (%)";
  lg_status s = plot(r, size_png, "file size (MB)", true, x_size_mb, y, y_quality);
  char xl[64];
  snprintf(xl, sizeof xl, "latency at %d thread%s (ms)", r->n_threads ? r->threads[0] : 1,
           r->n_threads && r->threads[0] > 1 ? "s" : "");
  if (s == LEDGE_OK) s = plot(r, latency_png, xl, false, x_latency, y, y_quality);
  return s;
}
