/* cmd_serve.c: `ledge serve`: an inference endpoint over HTTP(S) and MQTT. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "net/url.h"
#include "serve/serve.h"

static void help(FILE *f) {
  fprintf(
      f,
      "usage: ledge serve --model NAME=PATH [--model NAME=PATH ...] [options]\n"
      "Serves models over HTTP (the hosted-model container contract) and MQTT.\n"
      "  GET /ping                      200 when every model is loaded and warm, else 503\n"
      "  POST /invocations              the first model; bodies application/x-npy,\n"
      "  POST /models/NAME/invocations  application/json {\"instances\": [...]}, image/jpeg,\n"
      "                                 image/png, application/x-image; ?top_k=K for labels\n"
      "  GET /models, GET /models/NAME  name, version, inputs, outputs\n"
      "  PUT /models/NAME               body: a model file (or {\"path\": ...}); swapped in\n"
      "                                 without downtime\n"
      "  GET /metrics                   Prometheus text format\n"
      "Preprocessing comes from MODEL.json next to the model (see docs/serve.md) or flags.\n\n"
      "  --model NAME=PATH      a model (repeatable; the first is the default; PATH alone: NAME\n"
      "                         is the file name without extension)\n"
      "  --host ADDR            IPv4 address to listen on (default 0.0.0.0)\n"
      "  --port N               port (default 8080; 0 = any free port, printed on stdout)\n"
      "  --threads N            worker sessions per model (default: one per core)\n"
      "  --intra-threads N      threads inside each session (default 1)\n"
      "  --queue N              requests that may wait for a worker; beyond it 503 + Retry-After\n"
      "                         (default 4 x threads)\n"
      "  --max-batch N          run up to N queued requests as one batch (dynamic batch models)\n"
      "  --max-delay-ms MS      wait up to MS for a batch to fill (default 0)\n"
      "  --timeout-ms MS        per-request deadline, then 504 (default 60000)\n"
      "  --max-body BYTES       request body limit, then 413 (default 6291456)\n"
      "  --io-timeout S         idle connection timeout: slow headers or bodies (default 15)\n"
      "  --tls-cert F --tls-key F   serve HTTPS\n"
      "  --watch                reload a model when its file changes\n"
      "  --resize N             image: resize the shorter side to N, then center crop\n"
      "  --mean R,G,B --std R,G,B --scale S   image normalization: (pixel*S - mean)/std\n"
      "                         (default S 1/255, mean 0, std 1)\n"
      "  --labels FILE          class names, one per line\n"
      "  --no-http              MQTT only\n"
      "  --mqtt URL             mqtt://HOST:PORT or mqtts://HOST:PORT: answer requests on\n"
      "                         ledge/infer/<model>/request\n"
      "  --mqtt-ca F --mqtt-cert F --mqtt-key F   TLS with a client certificate\n"
      "  --mqtt-client-id ID    (default ledge-serve-<pid>; keep it fixed for a persistent "
      "session)\n"
      "  --mqtt-group G         shared subscription group (default ledge; \"\" = plain "
      "subscription)\n"
      "  --mqtt-protocol 5|311  MQTT version (default 5)\n"
      "  --mqtt-session-expiry S  seconds the broker keeps this worker's session (and queues\n"
      "                         its requests) while it is away (default 86400; 0 = drop it at\n"
      "                         once, so a dead worker in a shared group strands nothing new)\n"
      "  --mqtt-format ledge|greengrass   reply payload shape (default ledge)\n"
      "  --mqtt-journal FILE    keep each request on disk until its reply is acknowledged, so\n"
      "                         a worker killed with SIGKILL answers them when it restarts\n"
      "  --json-log             log lines as JSON\n"
      "  --quiet                no log lines\n");
}

static bool parse_floats(const char *name, const char *text, float *out) {
  char *end;
  for (int i = 0; i < 3; i++) {
    out[i] = strtof(text, &end);
    if (end == text || (i < 2 && *end != ',') || (i == 2 && *end)) {
      cli_fail("%s takes three numbers like 0.485,0.456,0.406, not '%s'", name, text);
      return false;
    }
    text = end + 1;
  }
  return true;
}

int cmd_serve(int argc, char **argv) {
  serve_config cfg;
  serve_config_init(&cfg);
  static char names[SERVE_MAX_MODELS][128];
  const char *value;
  long v;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      help(stdout);
      return 0;
    } else if (cli_option(argc, argv, &i, "--model", &value)) {
      if (cfg.n_models == SERVE_MAX_MODELS)
        return cli_fail("serve: at most %d models", SERVE_MAX_MODELS);
      const char *eq = strchr(value, '=');
      if (eq)
        snprintf(names[cfg.n_models], sizeof names[0], "%.*s", (int)(eq - value), value);
      else {
        const char *base = strrchr(value, '/') ? strrchr(value, '/') + 1 : value;
        snprintf(names[cfg.n_models], sizeof names[0], "%.*s", (int)strcspn(base, "."), base);
      }
      const char *n = names[cfg.n_models];
      if (!*n || strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
                     strlen(n))
        return cli_fail("serve: model name '%s' must use letters, digits, '-', '_' and '.'", n);
      for (int k = 0; k < cfg.n_models; k++)
        if (!strcmp(cfg.model_names[k], n)) return cli_fail("serve: model '%s' is given twice", n);
      cfg.model_names[cfg.n_models] = n;
      cfg.model_paths[cfg.n_models++] = eq ? eq + 1 : value;
    } else if (cli_option(argc, argv, &i, "--host", &value))
      cfg.host = value;
    else if (cli_option(argc, argv, &i, "--port", &value)) {
      if (!cli_parse_int("--port", value, 0, 65535, &v)) return 2;
      cfg.port = (int)v;
    } else if (cli_option(argc, argv, &i, "--threads", &value)) {
      if (!cli_parse_int("--threads", value, 1, 256, &v)) return 2;
      cfg.workers = (int)v;
    } else if (cli_option(argc, argv, &i, "--intra-threads", &value)) {
      if (!cli_parse_int("--intra-threads", value, 0, 256, &v)) return 2;
      cfg.intra_threads = (int)v;
    } else if (cli_option(argc, argv, &i, "--queue", &value)) {
      if (!cli_parse_int("--queue", value, 1, 1000000, &v)) return 2;
      cfg.queue_size = (int)v;
    } else if (cli_option(argc, argv, &i, "--max-batch", &value)) {
      if (!cli_parse_int("--max-batch", value, 1, 64, &v)) return 2;
      cfg.max_batch = (int)v;
    } else if (cli_option(argc, argv, &i, "--max-delay-ms", &value)) {
      if (!cli_parse_int("--max-delay-ms", value, 0, 10000, &v)) return 2;
      cfg.max_delay_ms = (int)v;
    } else if (cli_option(argc, argv, &i, "--timeout-ms", &value)) {
      if (!cli_parse_int("--timeout-ms", value, 1, 3600000, &v)) return 2;
      cfg.timeout_ms = (int)v;
    } else if (cli_option(argc, argv, &i, "--max-body", &value)) {
      if (!cli_parse_int("--max-body", value, 1, 1L << 31, &v)) return 2;
      cfg.max_body = v;
    } else if (cli_option(argc, argv, &i, "--io-timeout", &value)) {
      if (!cli_parse_int("--io-timeout", value, 1, 3600, &v)) return 2;
      cfg.io_timeout_s = (int)v;
    } else if (cli_option(argc, argv, &i, "--tls-cert", &value))
      cfg.tls_cert = value;
    else if (cli_option(argc, argv, &i, "--tls-key", &value))
      cfg.tls_key = value;
    else if (!strcmp(argv[i], "--watch"))
      cfg.watch = true;
    else if (!strcmp(argv[i], "--no-http"))
      cfg.http = false;
    else if (!strcmp(argv[i], "--json-log"))
      cfg.json_log = true;
    else if (!strcmp(argv[i], "--quiet"))
      cfg.quiet = true;
    else if (cli_option(argc, argv, &i, "--resize", &value)) {
      if (!cli_parse_int("--resize", value, 1, 8192, &v)) return 2;
      cfg.pre.resize_shorter = (int)v;
      cfg.pre_given = true;
    } else if (cli_option(argc, argv, &i, "--mean", &value)) {
      if (!parse_floats("--mean", value, cfg.pre.norm.mean)) return 2;
      cfg.pre_given = cfg.pre.have_norm = true;
    } else if (cli_option(argc, argv, &i, "--std", &value)) {
      if (!parse_floats("--std", value, cfg.pre.norm.std)) return 2;
      if (!cfg.pre.norm.std[0] || !cfg.pre.norm.std[1] || !cfg.pre.norm.std[2])
        return cli_fail("--std must not be 0");
      cfg.pre_given = cfg.pre.have_norm = true;
    } else if (cli_option(argc, argv, &i, "--scale", &value)) {
      char *end;
      cfg.pre.norm.scale = strtof(value, &end);
      if (*end || !cfg.pre.norm.scale)
        return cli_fail("--scale must be a non-zero number, not '%s'", value);
      cfg.pre_given = cfg.pre.have_norm = true;
    } else if (cli_option(argc, argv, &i, "--labels", &value)) {
      cfg.pre.labels_file = value;
      cfg.pre_given = true;
    } else if (cli_option(argc, argv, &i, "--mqtt", &value))
      cfg.mqtt_url = value;
    else if (cli_option(argc, argv, &i, "--mqtt-ca", &value))
      cfg.mqtt_ca = value;
    else if (cli_option(argc, argv, &i, "--mqtt-cert", &value))
      cfg.mqtt_cert = value;
    else if (cli_option(argc, argv, &i, "--mqtt-key", &value))
      cfg.mqtt_key = value;
    else if (cli_option(argc, argv, &i, "--mqtt-client-id", &value))
      cfg.mqtt_client_id = value;
    else if (cli_option(argc, argv, &i, "--mqtt-group", &value))
      cfg.mqtt_group = value;
    else if (cli_option(argc, argv, &i, "--mqtt-prefix", &value))
      cfg.mqtt_prefix = value;
    else if (cli_option(argc, argv, &i, "--mqtt-protocol", &value)) {
      if (strcmp(value, "5") && strcmp(value, "311"))
        return cli_fail("--mqtt-protocol is 5 or 311, not '%s'", value);
      cfg.mqtt_protocol = atoi(value);
    } else if (cli_option(argc, argv, &i, "--mqtt-session-expiry", &value)) {
      if (!cli_parse_int("--mqtt-session-expiry", value, 0, 4294967295L, &v)) return 2;
      cfg.mqtt_session_expiry_s = (long)v;
    } else if (cli_option(argc, argv, &i, "--mqtt-journal", &value)) {
      cfg.mqtt_journal = value;
    } else if (cli_option(argc, argv, &i, "--mqtt-format", &value)) {
      if (strcmp(value, "ledge") && strcmp(value, "greengrass"))
        return cli_fail("--mqtt-format is ledge or greengrass, not '%s'", value);
      cfg.mqtt_format = value;
    } else
      return cli_fail("serve: unexpected argument '%s' (see ledge serve --help)", argv[i]);
  }
  if (!cfg.n_models) {
    help(stderr);
    return 2;
  }
  if (!cfg.tls_cert != !cfg.tls_key) return cli_fail("serve: --tls-cert and --tls-key go together");
  if (!cfg.http && !cfg.mqtt_url) return cli_fail("serve: --no-http needs --mqtt");
  if ((cfg.mqtt_cert || cfg.mqtt_key) && (!cfg.mqtt_cert || !cfg.mqtt_key))
    return cli_fail("serve: --mqtt-cert and --mqtt-key go together");
  if (cfg.mqtt_url) {
    net_url url;
    char err[400];
    if (net_url_parse(cfg.mqtt_url, "mqtt,mqtts", &url, err, sizeof err))
      return cli_fail("serve: --mqtt: %s (mqtt://HOST:PORT or mqtts://HOST:PORT)", err);
    if (!url.tls && (cfg.mqtt_ca || cfg.mqtt_cert))
      return cli_fail("serve: --mqtt-ca/--mqtt-cert need an mqtts:// URL, not '%s'", cfg.mqtt_url);
  }
  return serve_main(&cfg);
}
