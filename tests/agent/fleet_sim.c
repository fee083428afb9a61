/* fleet_sim.c: plays N simulated devices against a broker to measure a
 * rollout (not a test by itself; tests/agent/scale.sh drives it and
 * docs/scale.md reports it).
 *
 * Each device speaks ledged's protocol without the models: it subscribes to
 * its group's retained deployment topic, and on a deployment publishes
 * "received", then (after --work-ms, standing in for download, install and
 * health check) "succeeded" on ledge/<device>/deployment/status and its
 * retained ledge/<device>/status, all QoS 1. One thread drives every
 * connection with libmosquitto's non-blocking calls.
 *
 *   ledge-fleet-sim --broker mqtt://HOST:PORT --devices N --group G
 *                   [--tls CA CERT KEY] [--work-ms MS] [--timeout S]
 *
 * Prints "ready N" once all are connected and subscribed, then one JSON line
 * with the per-device latency from the deployment's "created" time to its
 * "succeeded" PUBACK (p50, p95, max) and message counts. */
#include <cjson/cJSON.h>
#include <mosquitto.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct device {
  struct mosquitto *mosq;
  int index;
  bool connected, subscribed;
  int64_t created_ms; /* the deployment's creation time, 0 until one arrives */
  int64_t done_at_ms; /* when "succeeded" may be sent */
  int succeeded_mid;
  int64_t latency_ms; /* -1 until acknowledged */
  char id[128];
} device;

static int n_devices, n_subscribed, n_done, work_ms;
static long published, received;
static char group[65];

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_connect(struct mosquitto *m, void *user, int rc) {
  device *d = user;
  if (rc) return;
  d->connected = true;
  char topic[128];
  snprintf(topic, sizeof topic, "ledge/groups/%s/deployment", group);
  mosquitto_subscribe(m, NULL, topic, 1);
}

static void on_subscribe(struct mosquitto *m, void *user, int mid, int n, const int *qos) {
  device *d = user;
  if (!d->subscribed) n_subscribed++;
  d->subscribed = true;
}

static void status(device *d, const char *state, int *mid) {
  char topic[128], body[512];
  snprintf(topic, sizeof topic, "ledge/sim-%05d/deployment/status", d->index);
  int n = snprintf(
      body, sizeof body,
      "{\"id\":\"sim-%05d-%ld\",\"device\":\"sim-%05d\",\"deployment\":\"%s\",\"state\":\"%s\"}",
      d->index, published, d->index, d->id, state);
  mosquitto_publish(d->mosq, mid, topic, n, body, 1, false);
  published++;
}

static void on_message(struct mosquitto *m, void *user, const struct mosquitto_message *msg) {
  device *d = user;
  received++;
  if (msg->payloadlen == 0 || d->created_ms) return;
  /* The envelope's payload is base64 JSON; the simulated device reads the
   * id and creation time (a real agent also verifies the signature). */
  cJSON *env = cJSON_ParseWithLength(msg->payload, (size_t)msg->payloadlen);
  const char *b64 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(env, "payload"));
  if (b64) {
    size_t len = strlen(b64);
    unsigned char *raw = malloc(len);
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; raw && i < len && b64[i] != '='; i++) {
      const char *p = strchr(tab, b64[i]);
      if (!p) break;
      acc = (acc << 6) | (uint32_t)(p - tab);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        raw[o++] = (unsigned char)(acc >> bits);
      }
    }
    cJSON *dep = raw ? cJSON_ParseWithLength((const char *)raw, o) : NULL;
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(dep, "id"));
    const char *created = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(dep, "created"));
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(dep, "sequence");
    if (id && cJSON_IsNumber(seq)) {
      snprintf(d->id, sizeof d->id, "%s", id);
      d->created_ms = (int64_t)seq->valuedouble; /* ledge fleet deploy: sequence = creation ms */
      (void)created;
      status(d, "received", NULL);
      d->done_at_ms = wall_ms() + work_ms;
    }
    cJSON_Delete(dep);
    free(raw);
  }
  cJSON_Delete(env);
}

static void on_publish(struct mosquitto *m, void *user, int mid) {
  device *d = user;
  if (d->succeeded_mid && mid == d->succeeded_mid && d->latency_ms < 0) {
    d->latency_ms = wall_ms() - d->created_ms;
    n_done++;
  }
}

static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  const char *broker = NULL, *ca = NULL, *cert = NULL, *key = NULL;
  int timeout_s = 300;
  snprintf(group, sizeof group, "sim");
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--broker") && i + 1 < argc)
      broker = argv[++i];
    else if (!strcmp(argv[i], "--devices") && i + 1 < argc)
      n_devices = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--group") && i + 1 < argc)
      snprintf(group, sizeof group, "%s", argv[++i]);
    else if (!strcmp(argv[i], "--work-ms") && i + 1 < argc)
      work_ms = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
      timeout_s = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--tls") && i + 3 < argc)
      ca = argv[++i], cert = argv[++i], key = argv[++i];
    else {
      fprintf(stderr,
              "usage: ledge-fleet-sim --broker mqtt://HOST:PORT --devices N [--group G] "
              "[--tls CA CERT KEY] [--work-ms MS] [--timeout S]\n");
      return 2;
    }
  }
  char host[256] = "127.0.0.1";
  int port = 1883;
  if (!broker || n_devices <= 0 || sscanf(broker, "%*[^:]://%255[^:]:%d", host, &port) < 1) {
    fprintf(stderr, "ledge-fleet-sim: --broker mqtt[s]://HOST:PORT and --devices N are required\n");
    return 2;
  }
  mosquitto_lib_init();
  device *devs = calloc((size_t)n_devices, sizeof *devs);
  struct pollfd *fds = calloc((size_t)n_devices, sizeof *fds);
  for (int i = 0; i < n_devices; i++) {
    device *d = &devs[i];
    char id[32];
    snprintf(id, sizeof id, "sim-%05d", i);
    d->index = i;
    d->latency_ms = -1;
    d->mosq = mosquitto_new(id, true, d);
    if (ca) mosquitto_tls_set(d->mosq, ca, NULL, cert, key, NULL);
    mosquitto_connect_callback_set(d->mosq, on_connect);
    mosquitto_subscribe_callback_set(d->mosq, on_subscribe);
    mosquitto_message_callback_set(d->mosq, on_message);
    mosquitto_publish_callback_set(d->mosq, on_publish);
    if (mosquitto_connect_async(d->mosq, host, port, 60) != MOSQ_ERR_SUCCESS) {
      fprintf(stderr, "ledge-fleet-sim: device %d cannot connect\n", i);
      return 1;
    }
  }
  bool ready = false;
  int64_t start = wall_ms(), last_misc = 0;
  while (n_done < n_devices && wall_ms() - start < (int64_t)timeout_s * 1000) {
    for (int i = 0; i < n_devices; i++) {
      fds[i].fd = mosquitto_socket(devs[i].mosq);
      fds[i].events = POLLIN | (mosquitto_want_write(devs[i].mosq) ? POLLOUT : 0);
      fds[i].revents = 0;
    }
    poll(fds, (nfds_t)n_devices, 5);
    int64_t now = wall_ms();
    for (int i = 0; i < n_devices; i++) {
      device *d = &devs[i];
      if (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) mosquitto_loop_read(d->mosq, 1);
      if (fds[i].revents & POLLOUT) mosquitto_loop_write(d->mosq, 1);
      if (d->created_ms && !d->succeeded_mid && now >= d->done_at_ms) {
        status(d, "succeeded", &d->succeeded_mid);
        char topic[64], body[256];
        snprintf(topic, sizeof topic, "ledge/sim-%05d/status", i);
        int n = snprintf(body, sizeof body,
                         "{\"device\":\"sim-%05d\",\"group\":\"%s\",\"state\":\"succeeded\","
                         "\"deployment\":\"%s\"}",
                         i, group, d->id);
        mosquitto_publish(d->mosq, NULL, topic, n, body, 1, true);
        published++;
      }
    }
    if (now - last_misc >= 100) {
      last_misc = now;
      for (int i = 0; i < n_devices; i++) mosquitto_loop_misc(devs[i].mosq);
    }
    if (!ready && n_subscribed == n_devices) {
      ready = true;
      printf("ready %d %.2f\n", n_devices, (double)(wall_ms() - start) / 1000.0);
      fflush(stdout);
    }
  }
  int64_t *lat = calloc((size_t)n_devices, sizeof *lat);
  int n = 0;
  for (int i = 0; i < n_devices; i++)
    if (devs[i].latency_ms >= 0) lat[n++] = devs[i].latency_ms;
  qsort(lat, (size_t)n, sizeof *lat, cmp64);
  printf(
      "{\"devices\":%d,\"succeeded\":%d,\"p50_ms\":%lld,\"p95_ms\":%lld,\"max_ms\":%lld,"
      "\"messages_in\":%ld,\"messages_out\":%ld,\"work_ms\":%d}\n",
      n_devices, n, n ? (long long)lat[n / 2] : -1LL,
      n ? (long long)lat[(n * 95) / 100 < n ? (n * 95) / 100 : n - 1] : -1LL,
      n ? (long long)lat[n - 1] : -1LL, received, published, work_ms);
  for (int i = 0; i < n_devices; i++) {
    mosquitto_disconnect(devs[i].mosq);
    mosquitto_loop_write(devs[i].mosq, 1);
    mosquitto_destroy(devs[i].mosq);
  }
  mosquitto_lib_cleanup();
  free(lat);
  free(fds);
  free(devs);
  return n == n_devices ? 0 : 1;
}
