/* cmd_fleet.c: `ledge fleet`, the operator's side of ledged (src/agent/fleet*.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/fleet.h"
#include "agent/recipe.h"
#include "agent/util.h"
#include "cli.h"

static const char *usage_text =
    "usage: ledge fleet keygen --fleet DIR [--broker-host HOST ...]\n"
    "       ledge fleet provision DEVICE --fleet DIR --group G --broker URL [--store URL] "
    "[--s3-endpoint URL] --out DEVDIR\n"
    "       ledge fleet publish NAME@VERSION --model FILE --fleet DIR --store URL [--s3-endpoint "
    "URL] [--run CMD]\n"
    "       ledge fleet publish COMPONENT_DIR --fleet DIR --store URL [--s3-endpoint URL]\n"
    "                          (publish: --public-url URL when devices fetch the store's files "
    "from a web server)\n"
    "       ledge fleet deploy --fleet DIR --broker URL (--group G | --device D) NAME@VERSION ...\n"
    "                          [--failure-policy rollback|do-nothing] [--bundle DIR (offline, for "
    "an inbox)]\n"
    "       ledge fleet rollback --fleet DIR --broker URL (--group G | --device D)\n"
    "       ledge fleet status --fleet DIR --broker URL --group G [--json] [--wait SECONDS]\n"
    "       ledge fleet cert NAME --fleet DIR --out DIR [--server --host HOST ...]\n"
    "\n"
    "Broker URLs: mqtts://HOST:PORT (client certificates from the fleet dir) or\n"
    "mqtt://HOST:PORT on loopback. Stores: file:///DIR, s3://BUCKET/PREFIX (with\n"
    "--s3-endpoint for S3-compatible servers; credentials from AWS_ACCESS_KEY_ID,\n"
    "AWS_SECRET_ACCESS_KEY, AWS_REGION), https:// (downloads). See docs/deploy.md.\n";

typedef struct fleet_args {
  const char *fleet, *broker, *group, *device, *store, *out, *model, *run, *bundle, *policy,
      *endpoint, *public_url;
  const char *hosts[16];
  int n_hosts;
  const char *positional[64];
  int n_positional;
  bool json, server;
  double wait_s;
} fleet_args;

static bool parse(int argc, char **argv, fleet_args *a) {
  memset(a, 0, sizeof *a);
  a->wait_s = 3;
  for (int i = 2; i < argc; i++) {
    const char *v;
    if (cli_option(argc, argv, &i, "--fleet", &a->fleet) ||
        cli_option(argc, argv, &i, "--broker", &a->broker) ||
        cli_option(argc, argv, &i, "--group", &a->group) ||
        cli_option(argc, argv, &i, "--device", &a->device) ||
        cli_option(argc, argv, &i, "--store", &a->store) ||
        cli_option(argc, argv, &i, "--out", &a->out) ||
        cli_option(argc, argv, &i, "--model", &a->model) ||
        cli_option(argc, argv, &i, "--run", &a->run) ||
        cli_option(argc, argv, &i, "--bundle", &a->bundle) ||
        cli_option(argc, argv, &i, "--failure-policy", &a->policy) ||
        cli_option(argc, argv, &i, "--s3-endpoint", &a->endpoint) ||
        cli_option(argc, argv, &i, "--public-url", &a->public_url))
      continue;
    if (cli_option(argc, argv, &i, "--broker-host", &v) ||
        cli_option(argc, argv, &i, "--host", &v)) {
      if (a->n_hosts < 16) a->hosts[a->n_hosts++] = v;
    } else if (cli_option(argc, argv, &i, "--wait", &v)) {
      long s;
      if (!cli_parse_int("--wait", v, 1, 3600, &s)) return false;
      a->wait_s = (double)s;
    } else if (!strcmp(argv[i], "--json")) {
      a->json = true;
    } else if (!strcmp(argv[i], "--server")) {
      a->server = true;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      cli_fail("fleet: unknown or incomplete option '%s' (see ledge fleet --help)", argv[i]);
      return false;
    } else if (a->n_positional < 64) {
      a->positional[a->n_positional++] = argv[i];
    }
  }
  return true;
}

static bool need(const char *value, const char *flag, const char *cmd) {
  if (value) return true;
  cli_fail("fleet %s: %s is required (see ledge fleet --help)", cmd, flag);
  return false;
}

static void s3_from(const fleet_args *a, ag_s3 *s3) {
  ag_s3_defaults(s3);
  if (a->endpoint) snprintf(s3->endpoint, sizeof s3->endpoint, "%s", a->endpoint);
}

int cmd_fleet(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    fputs(usage_text, argc < 2 ? stderr : stdout);
    return argc < 2 ? 1 : 0;
  }
  const char *cmd = argv[1];
  for (int i = 2; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(usage_text, stdout);
      return 0;
    }
  fleet_args a;
  if (!parse(argc, argv, &a)) return 1;
  char err[AG_ERR_SIZE] = "";
  ag_s3 s3;
  s3_from(&a, &s3);
  if (!need(a.fleet, "--fleet DIR", cmd)) return 1;

  if (!strcmp(cmd, "keygen")) {
    if (!fleet_keygen(a.fleet, a.hosts, a.n_hosts, err)) return cli_fail("fleet keygen: %s", err);
    if (a.json)
      printf("{\"fleet\":\"%s\"}\n", a.fleet);
    else
      printf(
          "fleet keys in %s: ca.pem/ca.key (device CA), signing.key/signing.pub (deployments),\n"
          "operator.pem/.key (this tool's client certificate), broker.pem/.key (the broker's)\n",
          a.fleet);
    return 0;
  }
  if (!strcmp(cmd, "cert")) {
    if (a.n_positional != 1 || !need(a.out, "--out DIR", cmd))
      return cli_fail("fleet cert: give one NAME");
    char cert[1200], key[1200];
    if (!ag_mkdirs(a.out, 0700, err)) return cli_fail("fleet cert: %s", err);
    snprintf(cert, sizeof cert, "%s/%s.pem", a.out, a.positional[0]);
    snprintf(key, sizeof key, "%s/%s.key", a.out, a.positional[0]);
    if (!fleet_issue_cert(a.fleet, a.positional[0], a.server, a.hosts, a.n_hosts, cert, key, err))
      return cli_fail("fleet cert: %s", err);
    printf("%s\n%s\n", cert, key);
    return 0;
  }
  if (!strcmp(cmd, "provision")) {
    if (a.n_positional != 1) return cli_fail("fleet provision: give one DEVICE name");
    if (!need(a.group, "--group G", cmd) || !need(a.broker, "--broker URL", cmd) ||
        !need(a.out, "--out DEVDIR", cmd))
      return 1;
    if (!fleet_provision(a.fleet, a.positional[0], a.group, a.broker, a.store, &s3, a.out, err))
      return cli_fail("fleet provision: %s", err);
    if (a.json)
      printf("{\"device\":\"%s\",\"config\":\"%s/ledged.conf\"}\n", a.positional[0], a.out);
    else
      printf("device %s provisioned: run `ledged --config %s/ledged.conf`\n", a.positional[0],
             a.out);
    return 0;
  }
  if (!strcmp(cmd, "publish")) {
    if (a.n_positional != 1)
      return cli_fail("fleet publish: give NAME@VERSION --model FILE, or COMPONENT_DIR");
    if (!need(a.store, "--store URL", cmd)) return 1;
    const char *what = a.positional[0];
    if (a.model) {
      char name[65], uri[2048];
      const char *at = strchr(what, '@');
      if (!at || (size_t)(at - what) >= sizeof name)
        return cli_fail("fleet publish: '%s' is not NAME@VERSION", what);
      snprintf(name, sizeof name, "%.*s", (int)(at - what), what);
      if (!ag_valid_name(name) || !ag_valid_name(at + 1))
        return cli_fail("fleet publish: name and version must be 1-64 of [A-Za-z0-9._-]");
      if (!fleet_publish_model(a.fleet, name, at + 1, a.model, a.store, a.public_url, &s3, a.run,
                               uri, err))
        return cli_fail("fleet publish: %s", err);
      if (a.json)
        printf("{\"component\":\"%s\",\"artifact\":\"%s\"}\n", what, uri);
      else
        printf("published %s (%s)\n", what, uri);
      return 0;
    }
    char name[65], version[65];
    if (!fleet_publish_dir(a.fleet, what, a.store, a.public_url, &s3, name, version, err))
      return cli_fail("fleet publish: %s", err);
    if (a.json)
      printf("{\"component\":\"%s@%s\"}\n", name, version);
    else
      printf("published %s@%s\n", name, version);
    return 0;
  }
  fleet_target t = {.fleet_dir = a.fleet,
                    .broker = a.broker,
                    .group = a.group,
                    .device = a.device,
                    .bundle_dir = a.bundle,
                    .failure_policy = a.policy};
  if (!strcmp(cmd, "deploy") || !strcmp(cmd, "rollback")) {
    if (!a.broker && !a.bundle)
      return cli_fail("fleet %s: --broker URL is required (or --bundle DIR)", cmd);
    if (!a.group == !a.device)
      return cli_fail("fleet %s: give one of --group G and --device D", cmd);
    if (a.policy && strcmp(a.policy, "rollback") && strcmp(a.policy, "do-nothing"))
      return cli_fail("fleet %s: --failure-policy must be rollback or do-nothing", cmd);
    char id[128];
    bool ok = !strcmp(cmd, "deploy") ? fleet_deploy(&t, a.positional, a.n_positional, id, err)
                                     : fleet_rollback(&t, id, err);
    if (!ok) return cli_fail("fleet %s: %s", cmd, err);
    if (a.json)
      printf("{\"deployment\":\"%s\"}\n", id);
    else
      printf("deployment %s published\n", id);
    return 0;
  }
  if (!strcmp(cmd, "status")) {
    if (!need(a.broker, "--broker URL", cmd) || !need(a.group, "--group G", cmd)) return 1;
    if (!fleet_status(a.fleet, a.broker, a.group, a.wait_s, a.json, err))
      return cli_fail("fleet status: %s", err);
    return 0;
  }
  return cli_fail(
      "fleet: unknown command '%s' (keygen, provision, publish, deploy, status, rollback, cert)",
      cmd);
}
