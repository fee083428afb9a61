/* cmd_pipeline.c: ledge pipeline run CONFIG.json: source -> perception ->
 * interpretation -> sinks, as the configuration says (docs/pipeline.md). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pipeline/pipeline.h"

static volatile int stop_requested;
static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: ledge pipeline run CONFIG.json [--input SOURCE] [--max-frames N] [--realtime] "
          "[--loop]\n"
          "                          [--status-port PORT] [--events FILE] [--alerts-dir DIR]\n"
          "                          [--mqtt URL] [--device NAME] [--threads N] [--console] "
          "[--json]\n\n"
          "Runs a pipeline: a source (video file, stream, /dev/videoN camera or image folder),\n"
          "perception (cues, classifier or replay), temporal interpretation, and sinks\n"
          "(events as JSON Lines, MQTT events on ledge/<device>/events, annotated alert\n"
          "frames, a live status page, a trip summary). The options override the file.\n"
          "--console prints a readable timeline of states and alerts and the trip summary.\n"
          "At the end it prints the per-stage latency and the schedule (--json: one object).\n"
          "SIGINT/SIGTERM stop it cleanly (the summary is still written).\n");
}

int cmd_pipeline(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "run"))
    return cli_fail("pipeline: unknown action '%s' (try: ledge pipeline run CONFIG.json)", argv[1]);
  pipeline_config cfg;
  pipeline_config_default(&cfg);
  const char *config_path = NULL;
  bool json = false;
  char err[512];
  /* The file first, then the options over it. */
  for (int i = 2; i < argc; i++)
    if (argv[i][0] != '-' && (i == 2 || argv[i - 1][0] != '-')) {
      config_path = argv[i];
      break;
    }
  if (config_path && pipeline_config_load(config_path, &cfg, err, sizeof err))
    return cli_fail("pipeline: %s", err);
  for (int i = 2; i < argc; i++) {
    const char *v;
    long n;
    if (argv[i] == config_path) continue;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    } else if (cli_option(argc, argv, &i, "--input", &v)) {
      snprintf(cfg.input, sizeof cfg.input, "%s", v);
    } else if (cli_option(argc, argv, &i, "--max-frames", &v)) {
      if (!cli_parse_int("--max-frames", v, 0, 1L << 40, &n)) return 1;
      cfg.max_frames = n;
    } else if (cli_option(argc, argv, &i, "--status-port", &v)) {
      if (!cli_parse_int("--status-port", v, 0, 65535, &n)) return 1;
      cfg.status_port = n ? (int)n : -1;
    } else if (cli_option(argc, argv, &i, "--events", &v)) {
      snprintf(cfg.events_path, sizeof cfg.events_path, "%s", v);
    } else if (cli_option(argc, argv, &i, "--alerts-dir", &v)) {
      snprintf(cfg.alerts_dir, sizeof cfg.alerts_dir, "%s", v);
    } else if (cli_option(argc, argv, &i, "--mqtt", &v)) {
      snprintf(cfg.mqtt_url, sizeof cfg.mqtt_url, "%s", v);
    } else if (cli_option(argc, argv, &i, "--device", &v)) {
      snprintf(cfg.device, sizeof cfg.device, "%s", v);
    } else if (cli_option(argc, argv, &i, "--threads", &v)) {
      if (!cli_parse_int("--threads", v, 1, 64, &n)) return 1;
      cfg.threads = (int)n;
    } else if (!strcmp(argv[i], "--loop")) {
      cfg.loop = true;
    } else if (!strcmp(argv[i], "--console")) {
      cfg.console = true;
    } else if (!strcmp(argv[i], "--realtime")) {
      cfg.realtime = true;
    } else if (!strcmp(argv[i], "--json")) {
      json = true;
    } else {
      usage(stderr);
      return cli_fail("pipeline: unknown argument '%s'", argv[i]);
    }
  }
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  pipeline_stats st;
  if (pipeline_run(&cfg, &stop_requested, &st, err, sizeof err))
    return cli_fail("pipeline: %s", err);
  FILE *f = json ? stdout : stderr;
  if (json) {
    fprintf(f,
            "{\"frames\": %ld, \"perceived\": %ld, \"alerts\": %ld, \"seconds\": %.3f, \"wall_s\": "
            "%.3f, "
            "\"perceive_ms_mean\": %.3f, \"stages_ms\": {",
            st.frames, st.perceived, st.alerts, st.seconds, st.wall_s, st.perceive_ms_mean);
    for (int i = 0; i < st.stage_count; i++)
      fprintf(f, "%s\"%s\": %.3f", i ? ", " : "", st.stage_names[i], st.stage_ms[i]);
    fprintf(f, "}, \"stage_runs\": {");
    for (int i = 0; i < st.stage_count; i++)
      fprintf(f, "%s\"%s\": %ld", i ? ", " : "", st.stage_names[i], st.stage_runs[i]);
    fprintf(f, "}, \"bytes_sent\": %ld}\n", st.bytes_sent);
  } else {
    fprintf(
        f,
        "ledge: pipeline: %ld frames (%.1f s of source) in %.1f s, %ld perceived (%.1f ms each), "
        "%ld alerts\n",
        st.frames, st.seconds, st.wall_s, st.perceived, st.perceive_ms_mean, st.alerts);
    fprintf(f, "ledge: pipeline: per run:");
    for (int i = 0; i < st.stage_count; i++)
      fprintf(f, "%s %s %.1f ms (%ld runs)", i ? "," : "", st.stage_names[i], st.stage_ms[i],
              st.stage_runs[i]);
    fprintf(f, "\n");
  }
  return 0;
}
