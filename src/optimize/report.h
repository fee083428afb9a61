/*
 * optimize/report.h: the trade-off report of `ledge optimize`: one row per
 * model variant (fp32, int8, pruned, compressed, combinations) with its file
 * size, peak memory, latency per thread count and accuracy, written as a
 * Markdown table, as JSON, and as two gnuplot PNGs (accuracy against size,
 * accuracy against latency).
 *
 * Measurements that were not taken are NAN (accuracy without labels) or -1
 * (sizes, memory), and come out as "-" in Markdown and null in JSON.
 */
#ifndef LEDGE_OPTIMIZE_REPORT_H
#define LEDGE_OPTIMIZE_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "runtime/core.h"

#define LG_OPT_MAX_THREADS 8

typedef struct lg_opt_variant {
  char name[32];         /* "fp32", "int8", "channels+int8", ... */
  char description[128]; /* how it was made */
  char path[1024];       /* the model file */
  int64_t file_bytes;
  long peak_rss_kb;                      /* of a process loading and running it; -1 unknown */
  double latency_ms[LG_OPT_MAX_THREADS]; /* median, per entry of the report's threads */
  double accuracy;                       /* top-1 on the labelled data; NAN without labels */
  double top1_agreement;                 /* argmax equal to fp32's, fraction; NAN unknown */
  double sqnr_db;                        /* output against fp32's; INFINITY when identical */
  int64_t compared_samples;              /* for top1_agreement and sqnr_db */
} lg_opt_variant;

typedef struct lg_opt_report {
  const char *model, *data;
  int n_threads;
  int threads[LG_OPT_MAX_THREADS]; /* thread counts the latency columns are for */
  int runs;                        /* timed runs per variant and thread count */
  long eval_samples;               /* labelled samples the accuracy is over (0: none) */
  int n_variants;
  lg_opt_variant *variants;
} lg_opt_report;

/* Initializes a variant with nothing measured. */
void lg_opt_variant_init(lg_opt_variant *v, const char *name, const char *description);

void lg_opt_report_markdown(const lg_opt_report *r, FILE *f);
void lg_opt_report_json(const lg_opt_report *r, FILE *f);
/* Draws accuracy (or top-1 agreement without labels) against file size and
 * against latency at the first thread count, with gnuplot. */
lg_status lg_opt_report_plots(const lg_opt_report *r, const char *size_png,
                              const char *latency_png);

#endif
