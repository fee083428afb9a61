/* cmd_interpret_eval.c: ledge interpret evaluate: simulated drives through
 * the interpreter at several inference rates, against the naive baseline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pipeline/interpret_config.h"
#include "pipeline/interpret_eval.h"

#define MAX_RATES 16

static void usage(FILE *f) {
  fprintf(f,
          "usage: ledge interpret evaluate [--hours H] [--rates R1,R2,...] [--seed N]\n"
          "                                [--flicker P] [--dropout P] [--confusion P]\n"
          "                                [--speed KMH] [--confidence STATE=F] [--config FILE]\n"
          "                                [--dump REPLAY.jsonl] [--json] [--plot OUT.png]\n\n"
          "Simulates H hours of driving (default 2) with glances, time-sharing, texting and\n"
          "calls; makes noisy per-frame predictions from it (flicker 0.15, dropout 0.05,\n"
          "texting/on-phone confusion 0.2 by default) and scores the alerts against those\n"
          "the ground truth raises: precision, recall, false alerts per hour, latency.\n"
          "Compares the naive baseline (every frame at 30 Hz taken at face value) with\n"
          "the configured interpretation at each rate (default 30,15,10,5,3,2,1 Hz).\n");
}

static int parse_rates(const char *text, double *rates, int *n) {
  *n = 0;
  const char *p = text;
  while (*p) {
    char *end;
    double r = strtod(p, &end);
    if (end == p || !(r > 0 && r <= 1000) || *n == MAX_RATES) return -1;
    rates[(*n)++] = r;
    p = *end == ',' ? end + 1 : end;
    if (*end && *end != ',') return -1;
  }
  return *n ? 0 : -1;
}

static bool parse_fraction(const char *name, const char *text, double *out) {
  char *end;
  double v = strtod(text, &end);
  if (end == text || *end || !(v >= 0 && v <= 1)) {
    cli_fail("interpret evaluate: %s must be a number in [0, 1]", name);
    return false;
  }
  *out = v;
  return true;
}

static int plot(const char *path, const interp_eval_result *raw, const interp_eval_result *res,
                int n) {
  FILE *g = popen("gnuplot 2>/dev/null", "w");
  if (!g) return cli_fail("interpret evaluate: cannot run gnuplot for --plot");
  fprintf(
      g,
      "set terminal pngcairo size 900,520 font 'sans,11'\nset output '%s'\n"
      "set title 'Alerts from noisy per-frame predictions: interpreted vs every frame raw'\n"
      "set xlabel 'inference rate (frames/s)'\nset logscale x\nset xrange [0.8:40]\nset ylabel "
      "'precision, recall'\n"
      "set yrange [0:1.05]\nset y2label 'false alerts per hour'\nset y2tics\nset ytics nomirror\n"
      "set key bottom right\nset grid\n",
      path);
  fprintf(g,
          "plot '-' using 1:2 with linespoints lw 2 title 'precision (interpreted)', "
          "'-' using 1:2 with linespoints lw 2 title 'recall (interpreted)', "
          "'-' using 1:2 axes x1y2 with linespoints lw 2 title 'false alerts/h (interpreted)', "
          "%.4f with lines dt 2 title 'precision (raw, 30 Hz)', "
          "%.4f with lines dt 3 title 'recall (raw, 30 Hz)', "
          "%.4f axes x1y2 with lines dt 4 title 'false alerts/h (raw, 30 Hz)'\n",
          raw->precision, raw->recall, raw->false_per_hour);
  for (int k = 0; k < 3; k++) {
    for (int i = 0; i < n; i++)
      fprintf(g, "%g %g\n", res[i].rate_hz,
              k == 0   ? res[i].precision
              : k == 1 ? res[i].recall
                       : res[i].false_per_hour);
    fprintf(g, "e\n");
  }
  int rc = pclose(g);
  if (rc != 0) return cli_fail("interpret evaluate: gnuplot failed (is gnuplot installed?)");
  return 0;
}

int cmd_interpret_evaluate(int argc, char **argv) {
  interp_eval_options o;
  interp_eval_options_default(&o);
  interp_config config;
  interp_config_default(&config);
  double rates[MAX_RATES] = {30, 15, 10, 5, 3, 2, 1};
  int n_rates = 7;
  const char *plot_path = NULL, *config_path = NULL, *dump_path = NULL;
  bool json = false;
  for (int i = 1; i < argc; i++) {
    const char *v;
    long seed;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    } else if (cli_option(argc, argv, &i, "--hours", &v)) {
      char *end;
      o.hours = strtod(v, &end);
      if (end == v || *end || !(o.hours > 0 && o.hours <= 1000))
        return cli_fail("interpret evaluate: --hours must be in (0, 1000]");
    } else if (cli_option(argc, argv, &i, "--rates", &v)) {
      if (parse_rates(v, rates, &n_rates))
        return cli_fail("interpret evaluate: --rates must be a comma list of rates in (0, 1000]");
    } else if (cli_option(argc, argv, &i, "--seed", &v)) {
      if (!cli_parse_int("--seed", v, 0, 0x7fffffff, &seed)) return 1;
      o.seed = (unsigned)seed;
    } else if (cli_option(argc, argv, &i, "--flicker", &v)) {
      if (!parse_fraction("--flicker", v, &o.flicker)) return 1;
    } else if (cli_option(argc, argv, &i, "--dropout", &v)) {
      if (!parse_fraction("--dropout", v, &o.dropout)) return 1;
    } else if (cli_option(argc, argv, &i, "--confusion", &v)) {
      if (!parse_fraction("--confusion", v, &o.confusion)) return 1;
    } else if (cli_option(argc, argv, &i, "--speed", &v)) {
      char *end;
      o.speed_kmh = strtod(v, &end);
      if (end == v || *end || !(o.speed_kmh >= 0 && o.speed_kmh < 400))
        return cli_fail("interpret evaluate: --speed must be in [0, 400) km/h");
    } else if (cli_option(argc, argv, &i, "--config", &v)) {
      config_path = v;
    } else if (cli_option(argc, argv, &i, "--dump", &v)) {
      dump_path = v;
    } else if (cli_option(argc, argv, &i, "--confidence", &v)) {
      char name[32];
      double f;
      int state = -1;
      if (sscanf(v, "%31[^=]=%lf", name, &f) == 2) state = interp_state_from_name(name);
      if (state < 0 || state >= INTERP_STATE_COUNT || !(f > 0 && f <= 1))
        return cli_fail("interpret evaluate: --confidence takes STATE=F with F in (0, 1]");
      o.confidence[state] = f;
    } else if (cli_option(argc, argv, &i, "--plot", &v)) {
      plot_path = v;
    } else if (!strcmp(argv[i], "--json")) {
      json = true;
    } else {
      usage(stderr);
      return cli_fail("interpret evaluate: unknown argument '%s'", argv[i]);
    }
  }
  char err[256];
  if (config_path && interp_config_load(config_path, &config, err, sizeof err))
    return cli_fail("interpret evaluate: %s", err);
  const char *why = NULL;
  interp *probe = interp_create(&config, &why);
  if (!probe) return cli_fail("interpret evaluate: bad configuration: %s", why);
  interp_destroy(probe);

  interp_config raw_config;
  interp_config_raw(&config, &raw_config);
  interp_eval_result raw, res[MAX_RATES];
  if (interp_evaluate(&o, &raw_config, 30.0, &raw))
    return cli_fail("interpret evaluate: simulation failed (out of memory?)");
  for (int i = 0; i < n_rates; i++) {
    cli_progress("evaluating", i, n_rates);
    if (interp_evaluate(&o, &config, rates[i], &res[i]))
      return cli_fail("interpret evaluate: simulation failed (out of memory?)");
  }
  cli_progress("evaluating", n_rates, n_rates);

  if (json) {
    printf(
        "{\"hours\": %g, \"seed\": %u, \"flicker\": %g, \"dropout\": %g, \"confusion\": %g, "
        "\"reference_alerts\": %d, \"results\": [",
        o.hours, o.seed, o.flicker, o.dropout, o.confusion, raw.truth_alerts);
    for (int i = -1; i < n_rates; i++) {
      const interp_eval_result *r = i < 0 ? &raw : &res[i];
      printf(
          "%s{\"system\": \"%s\", \"rate_hz\": %g, \"frames\": %ld, \"alerts\": %d, "
          "\"matched\": %d, \"precision\": %.4f, \"recall\": %.4f, \"false_per_hour\": %.3f, "
          "\"mean_latency_s\": %.3f}",
          i < 0 ? "" : ", ", i < 0 ? "raw" : "interpreted", r->rate_hz, r->frames, r->alerts,
          r->matched, r->precision, r->recall, r->false_per_hour, r->mean_latency_s);
    }
    printf("]}\n");
  } else {
    printf(
        "%.1f h simulated, %d reference alerts; noise: flicker %.2f, dropout %.2f, "
        "confusion %.2f\n\n",
        o.hours, raw.truth_alerts, o.flicker, o.dropout, o.confusion);
    printf("%-12s %7s %9s %7s %9s %7s %9s %9s\n", "system", "rate", "frames", "alerts", "precision",
           "recall", "false/h", "latency");
    for (int i = -1; i < n_rates; i++) {
      const interp_eval_result *r = i < 0 ? &raw : &res[i];
      printf("%-12s %5g/s %9ld %7d %9.3f %7.3f %9.1f %8.2fs\n", i < 0 ? "raw" : "interpreted",
             r->rate_hz, r->frames, r->alerts, r->precision, r->recall, r->false_per_hour,
             r->mean_latency_s);
    }
  }
  if (dump_path) {
    interp_replay replay;
    if (interp_simulate(&o, rates[0], &replay))
      return cli_fail("interpret evaluate: simulation failed");
    int rc = interp_replay_save(dump_path, &replay);
    interp_replay_free(&replay);
    if (rc) return cli_fail("interpret evaluate: cannot write %s", dump_path);
  }
  if (plot_path) return plot(plot_path, &raw, res, n_rates);
  return 0;
}

static void fit_usage(FILE *f) {
  fprintf(f,
          "usage: ledge interpret fit --input REPLAY.jsonl [--config FILE] [--json]\n\n"
          "Fits per-state thresholds on a labelled replay: frames as `ledge interpret` reads\n"
          "them, each with \"label\": its true state. The alerts its labels raise are the\n"
          "reference; the thresholds of texting, looking-away and on-phone are searched\n"
          "(0.2..0.8) for the best F1 of the alerts, then the fewest false alerts.\n"
          "Writes the fitted configuration (the input --config with its thresholds\n"
          "replaced) as JSON on stdout, ready for --config; the scores before and after\n"
          "go to stderr (--json: one object with both and the configuration).\n");
}

int cmd_interpret_fit(int argc, char **argv) {
  interp_config config;
  interp_config_default(&config);
  const char *input = NULL, *config_path = NULL;
  bool json = false;
  for (int i = 1; i < argc; i++) {
    const char *v;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fit_usage(stdout);
      return 0;
    } else if (cli_option(argc, argv, &i, "--input", &v)) {
      input = v;
    } else if (cli_option(argc, argv, &i, "--config", &v)) {
      config_path = v;
    } else if (!strcmp(argv[i], "--json")) {
      json = true;
    } else {
      fit_usage(stderr);
      return cli_fail("interpret fit: unknown argument '%s'", argv[i]);
    }
  }
  if (!input) {
    fit_usage(stderr);
    return cli_fail("interpret fit: --input REPLAY.jsonl is required");
  }
  char err[512];
  if (config_path && interp_config_load(config_path, &config, err, sizeof err))
    return cli_fail("interpret fit: %s", err);
  interp_replay replay;
  if (interp_replay_load(input, &replay, err, sizeof err))
    return cli_fail("interpret fit: %s", err);
  interp_eval_result before, after;
  int rc = interp_fit_thresholds(&replay, &config, &before, &after);
  interp_replay_free(&replay);
  if (rc) return cli_fail("interpret fit: bad configuration or out of memory");
  char thresholds[256];
  int n = snprintf(thresholds, sizeof thresholds, "{");
  for (int s = INTERP_TEXTING; s <= INTERP_ON_PHONE; s++)
    n += snprintf(thresholds + n, sizeof thresholds - n, "%s\"%s\": %.2f",
                  s > INTERP_TEXTING ? ", " : "", interp_state_name(s), config.enter_threshold[s]);
  snprintf(thresholds + n, sizeof thresholds - n, "}");
  if (json) {
    printf(
        "{\"thresholds\": %s, \"before\": {\"precision\": %.4f, \"recall\": %.4f, "
        "\"false_per_hour\": %.3f, "
        "\"alerts\": %d, \"reference_alerts\": %d}, \"after\": {\"precision\": %.4f, \"recall\": "
        "%.4f, "
        "\"false_per_hour\": %.3f, \"alerts\": %d, \"reference_alerts\": %d}}\n",
        thresholds, before.precision, before.recall, before.false_per_hour, before.alerts,
        before.truth_alerts, after.precision, after.recall, after.false_per_hour, after.alerts,
        after.truth_alerts);
  } else {
    fprintf(stderr, "before: precision %.3f recall %.3f, %.1f false alerts/h\n", before.precision,
            before.recall, before.false_per_hour);
    fprintf(stderr, "after:  precision %.3f recall %.3f, %.1f false alerts/h\n", after.precision,
            after.recall, after.false_per_hour);
    printf("{\"thresholds\": %s}\n", thresholds);
  }
  return 0;
}
