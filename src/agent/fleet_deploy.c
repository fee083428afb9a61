/* fleet_deploy.c: `ledge fleet deploy | rollback | status`. A deployment is
 * the signed list of recipes for a group or a device, published retained with
 * QoS 1 so that a device that connects later (or joins the group) gets the
 * latest; every deployment is also kept in FLEET/deployments/<target>/ so that
 * rollback can publish the one before it again, under a new sequence. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/crypto.h"
#include "agent/fleet.h"
#include "agent/util.h"

/* ---- A short-lived MQTT session for the operator ---------------------------- */

typedef struct op_link {
  ag_link *link;
  int pipe[2];
} op_link;

static bool op_connect(op_link *op, const char *fleet_dir, const char *broker, char *err) {
  ag_config c;
  memset(&c, 0, sizeof c);
  snprintf(c.device, sizeof c.device, "ledge-fleet-%d", (int)getpid());
  snprintf(c.broker, sizeof c.broker, "%s", broker);
  snprintf(c.ca_file, sizeof c.ca_file, "%s/ca.pem", fleet_dir);
  snprintf(c.cert_file, sizeof c.cert_file, "%s/operator.pem", fleet_dir);
  snprintf(c.key_file, sizeof c.key_file, "%s/operator.key", fleet_dir);
  c.keepalive_s = 30;
  if (strncmp(broker, "mqtt://", 7) && strncmp(broker, "mqtts://", 8))
    return ag_fail(err, "--broker must be mqtts://HOST:PORT or mqtt://HOST:PORT");
  if (pipe2(op->pipe, O_CLOEXEC | O_NONBLOCK) != 0) return ag_fail(err, "pipe failed");
  ag_log_set_level(AG_LOG_ERROR);
  op->link = ag_link_create(&c, op->pipe[1], err);
  if (!op->link) return false;
  double end = ag_now() + 10;
  while (ag_now() < end) {
    ag_link_event ev;
    while (ag_link_poll(op->link, &ev)) {
      bool up = ev.kind == AG_LINK_CONNECTED;
      ag_link_event_free(&ev);
      if (up) return true;
    }
    struct pollfd p = {op->pipe[0], POLLIN, 0};
    poll(&p, 1, 100);
    char drain[64];
    while (read(op->pipe[0], drain, sizeof drain) > 0) {
    }
  }
  return ag_fail(err, "cannot connect to %s within 10 s", broker);
}

static void op_close(op_link *op) {
  ag_link_destroy(op->link);
  close(op->pipe[0]);
  close(op->pipe[1]);
}

static bool op_publish(op_link *op, const char *topic, const char *payload, bool retain,
                       char *err) {
  int mid = -1;
  if (!ag_link_publish(op->link, topic, payload, (int)strlen(payload), retain, &mid))
    return ag_fail(err, "cannot publish to %s", topic);
  double end = ag_now() + 10;
  while (ag_now() < end) {
    ag_link_event ev;
    while (ag_link_poll(op->link, &ev)) {
      bool acked = ev.kind == AG_LINK_ACK && ev.mid == mid;
      ag_link_event_free(&ev);
      if (acked) return true;
    }
    poll(NULL, 0, 20);
  }
  return ag_fail(err, "the broker did not acknowledge the deployment within 10 s");
}

/* ---- Deployments ------------------------------------------------------------- */

static void target_dir(const fleet_target *t, char *out, size_t size) {
  if (t->device)
    snprintf(out, size, "%s/deployments/device-%s", t->fleet_dir, t->device);
  else
    snprintf(out, size, "%s/deployments/group-%s", t->fleet_dir, t->group);
}

/* Signs and sends a deployment of the given recipe objects. */
static bool send_deployment(const fleet_target *t, cJSON *components, char *id_out, char *err) {
  if (!t->group == !t->device) return ag_fail(err, "give one of --group and --device");
  if (!ag_valid_name(t->group ? t->group : t->device))
    return ag_fail(err, "invalid group or device name");
  int64_t seq = ag_wall_ms();
  cJSON *d = cJSON_CreateObject();
  char id[128];
  snprintf(id, sizeof id, "%s-%lld", t->group ? t->group : t->device, (long long)seq);
  cJSON_AddStringToObject(d, "id", id);
  cJSON_AddNumberToObject(d, "sequence", (double)seq);
  cJSON *target = cJSON_AddObjectToObject(d, "target");
  cJSON_AddStringToObject(target, t->group ? "group" : "device", t->group ? t->group : t->device);
  char when[40];
  ag_iso8601(seq, when, sizeof when);
  cJSON_AddStringToObject(d, "created", when);
  cJSON_AddStringToObject(d, "failure_policy", t->failure_policy ? t->failure_policy : "rollback");
  cJSON_AddItemToObject(d, "components", components);
  char *payload = cJSON_PrintUnformatted(d);
  cJSON_Delete(d);
  if (!payload) return ag_fail(err, "out of memory");
  static ag_deployment check; /* large: not on the stack */
  bool ok = ag_deployment_parse(payload, &check, err);
  char path[1200];
  snprintf(path, sizeof path, "%s/signing.key", t->fleet_dir);
  ag_key *key = ok ? ag_key_load_private(path, err) : NULL;
  char *envelope = key ? ag_sign_envelope(key, payload, strlen(payload), err) : NULL;
  ag_key_destroy(key);
  free(payload);
  if (!envelope) return false;
  if (strlen(envelope) > 120 * 1024) {
    free(envelope);
    return ag_fail(err,
                   "the signed deployment is larger than 120 KB (managed brokers take 128 KB)");
  }
  char dir[1200];
  target_dir(t, dir, sizeof dir);
  snprintf(path, sizeof path, "%s/%019lld.json", dir, (long long)seq);
  ok = ag_mkdirs(dir, 0755, err) &&
       ag_write_file_atomic(path, envelope, strlen(envelope), 0644, err);
  if (ok && t->bundle_dir) {
    /* Offline delivery: the deployment and its artifacts, for an inbox. */
    ok = ag_mkdirs(t->bundle_dir, 0755, err);
    snprintf(path, sizeof path, "%s/deployment-%lld.json", t->bundle_dir, (long long)seq);
    ok = ok && ag_write_file_atomic(path, envelope, strlen(envelope), 0644, err);
    ag_s3 s3;
    ag_s3_defaults(&s3);
    const char *endpoint = getenv("LEDGE_S3_ENDPOINT");
    if (endpoint) snprintf(s3.endpoint, sizeof s3.endpoint, "%s", endpoint);
    for (int c = 0; ok && c < check.n_components; c++)
      for (int i = 0; ok && i < check.components[c].n_artifacts; i++) {
        const ag_artifact *a = &check.components[c].artifacts[i];
        char to[1400];
        snprintf(to, sizeof to, "%s/%s", t->bundle_dir, a->sha256);
        unlink(to);
        ok = ag_fetch(&s3, a->uri, to, a->size, NULL, NULL, err);
      }
  }
  if (ok && t->broker) {
    op_link op;
    char topic[256];
    if (t->group)
      snprintf(topic, sizeof topic, "ledge/groups/%s/deployment", t->group);
    else
      snprintf(topic, sizeof topic, "ledge/%s/deployment", t->device);
    ok = op_connect(&op, t->fleet_dir, t->broker, err) &&
         op_publish(&op, topic, envelope, true, err);
    op_close(&op);
  }
  free(envelope);
  if (ok && id_out) snprintf(id_out, 128, "%s", id);
  return ok;
}

bool fleet_deploy(const fleet_target *t, const char *const *names, int n, char *id_out, char *err) {
  if (n <= 0) return ag_fail(err, "name the components to deploy: NAME@VERSION ...");
  char path[1200];
  snprintf(path, sizeof path, "%s/signing.pub", t->fleet_dir);
  ag_key *pub = ag_key_load_public(path, err);
  if (!pub) return false;
  cJSON *components = cJSON_CreateArray();
  bool ok = true;
  for (int i = 0; ok && i < n; i++) {
    const char *at = strchr(names[i], '@');
    if (!at || at == names[i] || !at[1]) {
      ok = ag_fail(err, "'%s' is not NAME@VERSION", names[i]);
      break;
    }
    snprintf(path, sizeof path, "%s/recipes/%s.json", t->fleet_dir, names[i]);
    size_t size = 0;
    char *text = ag_read_file(path, &size, 1 << 20, err);
    if (!text) {
      ok = ag_fail(err, "%s was not published (no %s)", names[i], path);
      break;
    }
    char *recipe = ag_verify_envelope(pub, text, size, err);
    free(text);
    cJSON *json = recipe ? cJSON_Parse(recipe) : NULL;
    free(recipe);
    if (!json) {
      ok = err[0] ? false : ag_fail(err, "%s: damaged recipe", path);
      break;
    }
    cJSON_AddItemToArray(components, json);
  }
  ag_key_destroy(pub);
  if (!ok) {
    cJSON_Delete(components);
    return false;
  }
  return send_deployment(t, components, id_out, err);
}

static int compare_names(const void *x, const void *y) {
  return strcmp(*(char *const *)x, *(char *const *)y);
}

bool fleet_rollback(const fleet_target *t, char *id_out, char *err) {
  char dir[1200];
  target_dir(t, dir, sizeof dir);
  DIR *d = opendir(dir);
  if (!d) return ag_fail(err, "no deployment history in %s", dir);
  char *names[4096];
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < 4096)
    if (strstr(e->d_name, ".json") && e->d_name[0] != '.') names[n++] = strdup(e->d_name);
  closedir(d);
  qsort(names, (size_t)n, sizeof names[0], compare_names);
  bool ok =
      n >= 2 ? true : ag_fail(err, "nothing to roll back to: %s holds %d deployment(s)", dir, n);
  cJSON *components = NULL;
  if (ok) {
    char path[1400], key_path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, names[n - 2]);
    snprintf(key_path, sizeof key_path, "%s/signing.pub", t->fleet_dir);
    size_t size = 0;
    char *text = ag_read_file(path, &size, 1 << 20, err);
    ag_key *pub = text ? ag_key_load_public(key_path, err) : NULL;
    char *payload = pub ? ag_verify_envelope(pub, text, size, err) : NULL;
    cJSON *json = payload ? cJSON_Parse(payload) : NULL;
    components = json ? cJSON_DetachItemFromObjectCaseSensitive(json, "components") : NULL;
    cJSON_Delete(json);
    free(payload);
    ag_key_destroy(pub);
    free(text);
    ok = components != NULL;
    if (!ok && !err[0]) ag_fail(err, "%s is damaged", path);
  }
  for (int i = 0; i < n; i++) free(names[i]);
  return ok && send_deployment(t, components, id_out, err);
}

/* ---- Status ---------------------------------------------------------------------- */

static int compare_devices(const void *x, const void *y) {
  const cJSON *a = *(cJSON *const *)x, *b = *(cJSON *const *)y;
  return strcmp(cJSON_GetObjectItemCaseSensitive(a, "device")->valuestring,
                cJSON_GetObjectItemCaseSensitive(b, "device")->valuestring);
}

bool fleet_status(const char *fleet_dir, const char *broker, const char *group, double wait_s,
                  bool json, char *err) {
  op_link op;
  if (!op_connect(&op, fleet_dir, broker, err)) {
    op_close(&op);
    return false;
  }
  ag_link_subscribe(op.link, "ledge/+/status");
  /* Retained statuses arrive right after the subscription; wait for a quiet
   * moment (or wait_s at most). */
  cJSON *devices = cJSON_CreateObject();
  double start = ag_now(), last = start;
  while (ag_now() - start < wait_s && ag_now() - last < 1.0) {
    ag_link_event ev;
    while (ag_link_poll(op.link, &ev)) {
      if (ev.kind == AG_LINK_MESSAGE && ev.size > 0) {
        cJSON *s = cJSON_Parse(ev.payload);
        const cJSON *dev = cJSON_GetObjectItemCaseSensitive(s, "device");
        const cJSON *grp = cJSON_GetObjectItemCaseSensitive(s, "group");
        if (cJSON_IsString(dev) && cJSON_IsString(grp) && !strcmp(grp->valuestring, group)) {
          cJSON_DeleteItemFromObjectCaseSensitive(devices, dev->valuestring);
          cJSON_AddItemToObject(devices, dev->valuestring, s);
          s = NULL;
        }
        cJSON_Delete(s);
        last = ag_now();
      }
      ag_link_event_free(&ev);
    }
    poll(NULL, 0, 20);
  }
  op_close(&op);
  int n = cJSON_GetArraySize(devices);
  cJSON **list = calloc((size_t)n + 1, sizeof *list);
  int k = 0;
  cJSON *s;
  cJSON_ArrayForEach(s, devices) list[k++] = s;
  qsort(list, (size_t)n, sizeof *list, compare_devices);
  if (json) {
    cJSON *out = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemReferenceToArray(out, list[i]);
    char *text = cJSON_PrintUnformatted(out);
    printf("%s\n", text ? text : "[]");
    free(text);
    cJSON_Delete(out);
  } else {
    printf("%-20s %-20s %-32s %-26s %s\n", "DEVICE", "STATE", "COMPONENTS", "LAST SEEN", "REASON");
    for (int i = 0; i < n; i++) {
      char comps[512] = "";
      size_t len = 0;
      const cJSON *c;
      cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(list[i], "components")) {
        if (cJSON_IsString(c) && len < sizeof comps)
          len += (size_t)snprintf(comps + len, sizeof comps - len, "%s%s@%s", len ? "," : "",
                                  c->string, c->valuestring);
      }
      const cJSON *reason = cJSON_GetObjectItemCaseSensitive(list[i], "reason");
      printf("%-20s %-20s %-32s %-26s %s\n",
             cJSON_GetObjectItemCaseSensitive(list[i], "device")->valuestring,
             cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(list[i], "state")) ?: "?",
             len ? comps : "-",
             cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(list[i], "last_seen")) ?: "?",
             cJSON_IsString(reason) ? reason->valuestring : "");
    }
    if (n == 0) printf("(no device of group %s has reported)\n", group);
  }
  free(list);
  cJSON_Delete(devices);
  return true;
}
