/* cmd_interpret.c: ledge interpret: per-frame probabilities (JSON Lines on
 * stdin) -> alerts (JSON Lines on stdout); `ledge interpret evaluate` replays
 * simulated drives through it (interpret_eval.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pipeline/interpret.h"
#include "pipeline/interpret_config.h"

int cmd_interpret_evaluate(int argc, char **argv);
int cmd_interpret_fit(int argc, char **argv);

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: ledge interpret [--config FILE] [--smoothing none|ema|hmm] [--states]\n"
      "                       [--summary] [--input FILE]\n"
      "       ledge interpret evaluate --help      (simulated drives: precision, recall)\n"
      "       ledge interpret fit --help           (per-state thresholds from a replay)\n\n"
      "Reads one frame per line (JSON Lines, stdin unless --input):\n"
      "  {\"t\": seconds, \"probs\": {\"normal\": p, \"texting\": p, \"looking-away\": p,\n"
      "   \"on-phone\": p}, \"speed_kmh\": v}        (speed optional; no probs, \"face\": false\n"
      "                                            or \"state\": \"unknown\": driver not seen)\n"
      "and writes one line per alert, at the frame where it is raised:\n"
      "  {\"t\", \"state\", \"start\", \"duration\", \"confidence\", \"rule\"}\n"
      "with rule long-distraction | time-sharing | addw | phone-use.\n\n"
      "  --config FILE     interpreter settings (JSON; see docs/driver-monitor.md)\n"
      "  --smoothing MODE  override the configured smoothing\n"
      "  --states          also write state changes: {\"t\", \"event\": \"state\", \"state\",\n"
      "                    \"confidence\"}\n"
      "  --summary         at the end, write the trip summary (time per state, alerts)\n"
      "                    as one JSON line {\"event\": \"summary\", ...}\n"
      "  --input FILE      read frames from FILE instead of stdin\n");
}

static void write_summary(const interp *it) {
  interp_summary s;
  interp_get_summary(it, &s);
  printf("{\"event\": \"summary\", \"frames\": %d, \"seconds\": %.3f, \"seconds_in_state\": {",
         s.frames, s.frames ? s.last_t - s.first_t : 0.0);
  for (int i = 0; i <= INTERP_UNKNOWN; i++)
    printf("%s\"%s\": %.3f", i ? ", " : "", interp_state_name(i), s.seconds_in_state[i]);
  printf("}, \"alerts\": {");
  for (int r = 0; r < INTERP_RULE_COUNT; r++)
    printf("%s\"%s\": %d", r ? ", " : "", interp_rule_name(r), s.alerts[r]);
  printf("}}\n");
}

int cmd_interpret(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "evaluate")) return cmd_interpret_evaluate(argc - 1, argv + 1);
  if (argc >= 2 && !strcmp(argv[1], "fit")) return cmd_interpret_fit(argc - 1, argv + 1);
  interp_config config;
  interp_config_default(&config);
  const char *config_path = NULL, *smoothing = NULL, *input = NULL;
  bool states = false, summary = false;
  for (int i = 1; i < argc; i++) {
    const char *v;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    } else if (cli_option(argc, argv, &i, "--config", &v)) {
      config_path = v;
    } else if (cli_option(argc, argv, &i, "--smoothing", &v)) {
      smoothing = v;
    } else if (cli_option(argc, argv, &i, "--input", &v)) {
      input = v;
    } else if (!strcmp(argv[i], "--states")) {
      states = true;
    } else if (!strcmp(argv[i], "--summary")) {
      summary = true;
    } else {
      usage(stderr);
      return cli_fail("interpret: unknown argument '%s'", argv[i]);
    }
  }
  char err[256];
  if (config_path && interp_config_load(config_path, &config, err, sizeof err))
    return cli_fail("interpret: %s", err);
  if (smoothing) {
    if (!strcmp(smoothing, "none"))
      config.smoothing = INTERP_SMOOTH_NONE;
    else if (!strcmp(smoothing, "ema"))
      config.smoothing = INTERP_SMOOTH_EMA;
    else if (!strcmp(smoothing, "hmm"))
      config.smoothing = INTERP_SMOOTH_HMM;
    else
      return cli_fail("interpret: --smoothing must be none, ema or hmm");
  }
  const char *why = NULL;
  interp *it = interp_create(&config, &why);
  if (!it) return cli_fail("interpret: bad configuration: %s", why);

  FILE *in = stdin;
  if (input && !(in = fopen(input, "r"))) {
    interp_destroy(it);
    return cli_fail("interpret: cannot open %s: %s", input, strerror(errno));
  }
  /* Output is line-buffered so a consumer (a pipe to an MQTT publisher, a
   * status page) sees each alert as soon as it is raised. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  char *line = NULL;
  size_t cap = 0;
  long lineno = 0, bad = 0;
  ssize_t len;
  interp_alert alerts[INTERP_RULE_COUNT];
  char text[512];
  while ((len = getline(&line, &cap, in)) >= 0) {
    lineno++;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
    if (len == 0) continue;
    interp_frame frame;
    if (interp_frame_parse(line, &frame, err, sizeof err)) {
      /* One bad line must not end a trip's interpretation: it is reported
       * and skipped, and the exit status says some were. */
      if (bad++ < 10) fprintf(stderr, "ledge: interpret: line %ld: %s (skipped)\n", lineno, err);
      continue;
    }
    interp_change change;
    bool changed;
    int n = interp_feed(it, &frame, alerts, INTERP_RULE_COUNT, &change, &changed);
    if (n < 0) {
      if (bad++ < 10)
        fprintf(stderr, "ledge: interpret: line %ld: time %.3f goes backwards (skipped)\n", lineno,
                frame.t);
      continue;
    }
    if (states && changed)
      printf("{\"t\": %.3f, \"event\": \"state\", \"state\": \"%s\", \"confidence\": %.3f}\n",
             change.t, interp_state_name(change.state), change.confidence);
    for (int k = 0; k < n; k++) {
      interp_alert_format(&alerts[k], text, sizeof text);
      puts(text);
    }
  }
  free(line);
  if (in != stdin) fclose(in);
  if (summary) write_summary(it);
  interp_destroy(it);
  if (bad) return cli_fail("interpret: %ld of %ld lines were not valid frames", bad, lineno);
  return 0;
}
