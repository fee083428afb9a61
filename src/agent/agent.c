/* agent.c: ledged's main loop. One thread owns all state; libmosquitto's
 * network thread and the signal handlers only write a byte to a pipe. The
 * loop sleeps in poll() on that pipe, the components' event socket and the
 * inbox (inotify), so an idle agent uses no CPU between status heartbeats. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/store.h"
#include "ledge/ledge.h"

#define MAX_MESSAGE (120 * 1024) /* managed brokers take 128 KB */
#define INFLIGHT_WINDOW 16

static int signal_pipe = -1;
static ag_agent *signal_agent;

static void on_signal(int sig) {
  int saved = errno;
  if (signal_agent) {
    if (sig == SIGHUP)
      signal_agent->reload = 1;
    else if (sig == SIGTERM || sig == SIGINT)
      signal_agent->stop = 1;
  }
  char c = 's';
  if (signal_pipe >= 0) {
    ssize_t w = write(signal_pipe, &c, 1);
    (void)w;
  }
  errno = saved;
}

/* ---- Messages out -------------------------------------------------------- */

static void topic_for(ag_agent *a, const char *suffix, char *out, size_t size) {
  snprintf(out, size, "ledge/%s/%s", a->config.device, suffix);
}

bool ag_emit(ag_agent *a, const char *suffix, const char *json, int priority, bool retain) {
  char topic[256], err[AG_ERR_SIZE];
  topic_for(a, suffix, topic, sizeof topic);
  int size = (int)strlen(json);
  if (size > MAX_MESSAGE) {
    ag_log(AG_LOG_ERROR, "a %d-byte message to %s exceeds %d bytes; dropped", size, topic,
           MAX_MESSAGE);
    return false;
  }
  bool ok = ag_outbox_add(a->outbox, topic, json, size, priority, retain, err);
  if (!ok) ag_log(AG_LOG_ERROR, "%s", err);
  if (!a->holding_pump) ag_pump(a);
  return ok;
}

static void add_components(cJSON *obj, const ag_deployment *d) {
  cJSON *c = cJSON_AddObjectToObject(obj, "components");
  for (int i = 0; d && i < d->n_components; i++)
    cJSON_AddStringToObject(c, d->components[i].name, d->components[i].version);
}

void ag_report(ag_agent *a, const ag_deployment *d, const char *state, const char *reason,
               int progress) {
  cJSON *m = cJSON_CreateObject();
  char when[40];
  ag_iso8601(ag_wall_ms(), when, sizeof when);
  char id[64];
  snprintf(id, sizeof id, "%s-%lld", a->config.device, (long long)ag_outbox_next_id(a->outbox));
  cJSON_AddStringToObject(m, "id", id);
  cJSON_AddStringToObject(m, "device", a->config.device);
  cJSON_AddStringToObject(m, "deployment", d->id);
  cJSON_AddNumberToObject(m, "sequence", (double)d->sequence);
  cJSON_AddStringToObject(m, "state", state);
  if (reason) cJSON_AddStringToObject(m, "reason", reason);
  if (progress >= 0) cJSON_AddNumberToObject(m, "progress", progress);
  add_components(m, d);
  cJSON_AddStringToObject(m, "time", when);
  char *text = cJSON_PrintUnformatted(m);
  cJSON_Delete(m);
  /* Transitions outrank progress, which outranks nothing else. */
  if (text) ag_emit(a, "deployment/status", text, progress >= 0 ? 1 : 5, false);
  free(text);
}

void ag_publish_device_status(ag_agent *a) {
  if (!a->link || !a->connected) return;
  cJSON *m = cJSON_CreateObject();
  char when[40];
  ag_iso8601(ag_wall_ms(), when, sizeof when);
  cJSON_AddStringToObject(m, "device", a->config.device);
  cJSON_AddStringToObject(m, "group", a->config.group);
  cJSON_AddStringToObject(m, "state", a->state);
  if (a->reason[0]) cJSON_AddStringToObject(m, "reason", a->reason);
  cJSON_AddStringToObject(m, "deployment", a->committed.present ? a->committed.d->id : "");
  add_components(m, a->committed.present ? a->committed.d : NULL);
  cJSON *broken = cJSON_AddArrayToObject(m, "broken");
  for (int i = 0; i < a->n_children; i++)
    if (a->children[i].broken)
      cJSON_AddItemToArray(broken, cJSON_CreateString(a->children[i].component));
  cJSON_AddNumberToObject(m, "outbox_pending", (double)ag_outbox_count(a->outbox));
  cJSON_AddNumberToObject(m, "outbox_dropped", (double)ag_outbox_dropped(a->outbox));
  cJSON_AddNumberToObject(m, "uploads_pending", (double)ag_uploads_pending(a->uploads));
  cJSON_AddStringToObject(m, "last_seen", when);
  char *text = cJSON_PrintUnformatted(m);
  cJSON_Delete(m);
  char topic[256];
  topic_for(a, "status", topic, sizeof topic);
  int mid;
  if (text) ag_link_publish(a->link, topic, text, (int)strlen(text), true, &mid);
  free(text);
  a->next_status_at = ag_now() + a->config.status_interval_s;
}

/* ---- The MQTT side --------------------------------------------------------- */

static void publish_outbox(ag_agent *a) {
  while (a->connected && a->n_inflight < INFLIGHT_WINDOW) {
    ag_outbox_row rows[8];
    int want = INFLIGHT_WINDOW - a->n_inflight;
    int n = ag_outbox_next(a->outbox, a->published_upto, rows, want < 8 ? want : 8);
    if (n == 0) return;
    int i = 0;
    for (; i < n; i++) {
      int mid = 0;
      if (!ag_link_publish(a->link, rows[i].topic, rows[i].payload, rows[i].size, rows[i].retain,
                           &mid)) {
        /* A QoS 1 publish is queued even while disconnected, so a refusal is
         * permanent (e.g. over the broker's packet size): drop that row
         * rather than block everything behind it. */
        ag_log(AG_LOG_ERROR, "the broker cannot take a %d-byte message on %s; dropped",
               rows[i].size, rows[i].topic);
        ag_outbox_delete(a->outbox, rows[i].seq);
        ag_outbox_count_dropped(a->outbox, 1);
        a->published_upto = rows[i].seq;
        continue;
      }
      a->inflight_seq[a->n_inflight] = rows[i].seq;
      a->inflight_mid[a->n_inflight] = mid;
      a->n_inflight++;
      a->published_upto = rows[i].seq;
    }
    for (int k = 0; k < n; k++) ag_outbox_row_free(&rows[k]);
    if (i < n) return;
  }
}

/* Subscriptions are kept by net/mqtt across reconnects. */
static void subscribe_deployments(ag_agent *a) {
  char topic[256];
  snprintf(topic, sizeof topic, "ledge/groups/%s/deployment", a->config.group);
  ag_link_subscribe(a->link, topic);
  snprintf(topic, sizeof topic, "ledge/%s/deployment", a->config.device);
  ag_link_subscribe(a->link, topic);
}

static bool is_deployment_topic(ag_agent *a, const char *topic) {
  char group[256], device[256];
  snprintf(group, sizeof group, "ledge/groups/%s/deployment", a->config.group);
  snprintf(device, sizeof device, "ledge/%s/deployment", a->config.device);
  return !strcmp(topic, group) || !strcmp(topic, device);
}

static void drain_events(ag_agent *a);

void ag_pump(ag_agent *a) {
  drain_events(a);
  if (!a->link) return;
  ag_link_event ev;
  while (ag_link_poll(a->link, &ev)) {
    switch (ev.kind) {
      case AG_LINK_CONNECTED: {
        a->connected = true;
        ag_log(AG_LOG_INFO, "connected to %s (%lld messages waiting in the outbox)",
               a->config.broker, (long long)ag_outbox_count(a->outbox));
        ag_publish_device_status(a);
        break;
      }
      case AG_LINK_DISCONNECTED:
        if (a->connected) ag_log(AG_LOG_WARN, "disconnected from %s; retrying", a->config.broker);
        a->connected = false;
        break;
      case AG_LINK_ACK:
        for (int i = 0; i < a->n_inflight; i++)
          if (a->inflight_mid[i] == ev.mid) {
            ag_outbox_delete(a->outbox, a->inflight_seq[i]);
            memmove(&a->inflight_mid[i], &a->inflight_mid[i + 1],
                    sizeof(int) * (size_t)(a->n_inflight - i - 1));
            memmove(&a->inflight_seq[i], &a->inflight_seq[i + 1],
                    sizeof(int64_t) * (size_t)(a->n_inflight - i - 1));
            a->n_inflight--;
            break;
          }
        break;
      case AG_LINK_MESSAGE:
        if (ev.size > 0 && is_deployment_topic(a, ev.topic))
          ag_deployment_offer(a, ev.payload, (size_t)ev.size, "mqtt");
        break;
    }
    ag_link_event_free(&ev);
  }
  publish_outbox(a);
}

/* ---- Events from components ------------------------------------------------ */

/* A datagram is "SUFFIX PRIORITY\nPAYLOAD"; the agent wraps the payload in
 * {"id", "device", "time", "data"}, stores it in the outbox and, when the
 * sender has an address, answers "ok ID" once the row is on disk (or
 * "error REASON"), so a producer knows the event is durable. */
static void handle_datagram(ag_agent *a, char *buf, ssize_t n, const struct sockaddr_un *from,
                            socklen_t from_len) {
  buf[n] = 0;
  char *nl = memchr(buf, '\n', (size_t)n);
  char suffix[65], reply[128];
  int priority = 3;
  if (!nl || sscanf(buf, "%64s %d", suffix, &priority) < 1 || !ag_valid_name(suffix) ||
      !strcmp(suffix, "status") || !strcmp(suffix, "deployment") || priority < 0 || priority > 9) {
    ag_log(AG_LOG_WARN, "ignored a malformed event datagram");
    snprintf(reply, sizeof reply, "error malformed: expected 'SUFFIX PRIORITY\\nPAYLOAD'");
  } else if (!strcmp(suffix, "upload")) {
    /* {"file": PATH, "event_id": ID, "model_version": V, "time_ms": T} */
    cJSON *req = cJSON_Parse(nl + 1);
    const char *file = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "file"));
    const char *event_id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "event_id"));
    const char *version =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "model_version"));
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(req, "time_ms");
    char err[AG_ERR_SIZE] = "upload: expected {\"file\", \"event_id\"}";
    bool ok = file && event_id &&
              ag_uploads_add(a->uploads, file, event_id, version ? version : "",
                             cJSON_IsNumber(t) ? (int64_t)t->valuedouble : ag_wall_ms(), err);
    if (ok)
      snprintf(reply, sizeof reply, "ok %.100s", event_id);
    else
      snprintf(reply, sizeof reply, "error %.120s", err);
    cJSON_Delete(req);
  } else {
    cJSON *data = cJSON_Parse(nl + 1);
    cJSON *m = cJSON_CreateObject();
    char id[64], when[40];
    snprintf(id, sizeof id, "%s-%lld", a->config.device, (long long)ag_outbox_next_id(a->outbox));
    ag_iso8601(ag_wall_ms(), when, sizeof when);
    cJSON_AddStringToObject(m, "id", id);
    cJSON_AddStringToObject(m, "device", a->config.device);
    cJSON_AddStringToObject(m, "time", when);
    cJSON_AddNumberToObject(m, "priority", priority);
    if (data)
      cJSON_AddItemToObject(m, "data", data);
    else
      cJSON_AddStringToObject(m, "data", nl + 1);
    char *text = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    bool ok = text && ag_emit(a, suffix, text, priority, false);
    free(text);
    snprintf(reply, sizeof reply,
             ok ? "ok %s" : "error the outbox refused %s (see the agent's log)", id);
  }
  if (from_len > sizeof(sa_family_t))
    sendto(a->event_sock, reply, strlen(reply), MSG_DONTWAIT, (const struct sockaddr *)from,
           from_len);
}

/* Stores and confirms the components' event datagrams waiting on the socket.
 * ag_pump calls it, so the main loop and every wait inside a deployment (the
 * health window, downloads, lifecycle commands) answer producers promptly: a
 * producer that hears nothing for a while sends again, and a busy agent would
 * turn its events into duplicates. */
static void drain_events(ag_agent *a) {
  static char dgram[MAX_MESSAGE + 1];
  if (a->event_sock < 0 || a->draining_events) return;
  a->draining_events = true;
  for (int k = 0; k < 256; k++) {
    struct sockaddr_un from;
    socklen_t from_len = sizeof from;
    ssize_t n = recvfrom(a->event_sock, dgram, MAX_MESSAGE, 0, (struct sockaddr *)&from, &from_len);
    if (n <= 0) break;
    handle_datagram(a, dgram, n, &from, from_len);
  }
  a->draining_events = false;
}

/* The store's wait hook while an upload is on the network: components'
 * events are stored and confirmed (the main loop publishes them after the
 * upload), and nothing else starts: a deployment offered meanwhile waits for
 * the main loop rather than running inside the transfer. */
static void upload_wait(void *ctx) {
  ag_agent *a = ctx;
  bool held = a->holding_pump;
  a->holding_pump = true;
  drain_events(a);
  a->holding_pump = held;
}

static int open_event_socket(ag_agent *a, char *err) {
  snprintf(a->sock_path, sizeof a->sock_path, "%s/agent.sock", a->config.data_dir);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(a->sock_path) >= sizeof addr.sun_path) {
    ag_fail(err, "data_dir is too long for a socket path");
    return -1;
  }
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", a->sock_path);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    ag_fail(err, "socket: %s", strerror(errno));
    return -1;
  }
  unlink(a->sock_path);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    ag_fail(err, "cannot bind %s: %s", a->sock_path, strerror(errno));
    close(fd);
    return -1;
  }
  int size = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  return fd;
}

/* ledged --config C --emit SUFFIX PAYLOAD [--priority N]: sends one event. */
static int emit_main(const ag_config *c, const char *suffix, const char *payload, int priority) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s/agent.sock", c->data_dir);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  size_t size = strlen(suffix) + strlen(payload) + 16;
  char *buf = malloc(size);
  if (fd < 0 || !buf) return 1;
  /* An autobound (abstract) address, so that the agent can answer. */
  struct sockaddr_un self = {.sun_family = AF_UNIX};
  if (bind(fd, (struct sockaddr *)&self, sizeof(sa_family_t)) != 0) return 1;
  int n = snprintf(buf, size, "%s %d\n%s", suffix, priority, payload);
  ssize_t w = -1;
  /* The agent may be restarting (no socket yet, or a stale one): retry for 10 s. */
  double end = ag_now() + 10;
  do {
    w = sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&addr, sizeof addr);
    if (w >= 0 || (errno != EAGAIN && errno != ENOBUFS && errno != ECONNREFUSED && errno != ENOENT))
      break;
    poll(NULL, 0, 20);
  } while (ag_now() < end);
  int e = errno;
  free(buf);
  if (w < 0) {
    close(fd);
    fprintf(stderr, "ledged: cannot reach the agent at %s: %s\n", addr.sun_path, strerror(e));
    return 1;
  }
  char reply[256];
  struct pollfd p = {fd, POLLIN, 0};
  ssize_t r = poll(&p, 1, 10000) == 1 ? recv(fd, reply, sizeof reply - 1, 0) : -1;
  close(fd);
  if (r <= 0) {
    fprintf(stderr, "ledged: the agent did not confirm the event within 10 s\n");
    return 1;
  }
  reply[r] = 0;
  if (strncmp(reply, "ok ", 3)) {
    fprintf(stderr, "ledged: %s\n", reply);
    return 1;
  }
  printf("%s\n", reply + 3);
  return 0;
}

/* ledged --health-model PATH: loads the model with the ledge API and runs one
 * inference on deterministic inputs (exit 0), or says why not (exit 1). */
static int health_model_main(const char *path) {
  ledge_model *model = NULL;
  ledge_session *session = NULL;
  ledge_session_options opt;
  ledge_session_options_init(&opt);
  opt.num_threads = 1;
  if (ledge_model_load(path, &model) != LEDGE_OK) {
    fprintf(stderr, "cannot load the model: %s\n", ledge_last_error());
    return 1;
  }
  if (ledge_session_create(model, &opt, &session) != LEDGE_OK) {
    fprintf(stderr, "cannot create a session: %s\n", ledge_last_error());
    return 1;
  }
  int n = ledge_session_input_count(session);
  ledge_tensor *inputs[64] = {0};
  if (n > 64) n = 64;
  for (int i = 0; i < n; i++) {
    ledge_tensor_info info;
    ledge_session_input_info(session, i, &info);
    int64_t dims[LEDGE_MAX_RANK];
    int rank = info.rank < 0 ? 0 : info.rank;
    for (int k = 0; k < rank; k++) dims[k] = info.dims[k] < 0 ? 1 : info.dims[k];
    if (ledge_tensor_create(info.dtype, rank, dims, &inputs[i]) != LEDGE_OK) {
      fprintf(stderr, "cannot create input %s: %s\n", info.name, ledge_last_error());
      return 1;
    }
    if (info.dtype == LEDGE_FLOAT32) {
      float *p = ledge_tensor_data(inputs[i]);
      for (int64_t k = 0; k < ledge_tensor_count(inputs[i]); k++)
        p[k] = (float)((k * 7919) % 256) / 255.0f;
    }
  }
  if (ledge_session_run(session, inputs, n, NULL, 0) != LEDGE_OK) {
    fprintf(stderr, "inference failed: %s\n", ledge_last_error());
    return 1;
  }
  int outputs = ledge_session_output_count(session);
  for (int i = 0; i < n; i++) ledge_tensor_destroy(inputs[i]);
  ledge_session_destroy(session);
  ledge_model_destroy(model);
  printf("ok: one inference, %d outputs\n", outputs);
  return 0;
}

/* ---- Setup and the loop ------------------------------------------------------ */

static bool check_readable(const char *what, const char *path, char *err) {
  if (path[0] && access(path, R_OK) != 0)
    return ag_fail(err, "%s %s: %s", what, path, strerror(errno));
  return true;
}

static bool validate(const ag_config *c, ag_key **key, char *err) {
  if (!check_readable("ca_file", c->ca_file, err) ||
      !check_readable("cert_file", c->cert_file, err) ||
      !check_readable("key_file", c->key_file, err))
    return false;
  ag_key *k = ag_key_load_public(c->fleet_key, err);
  if (!k) return false;
  if (key)
    *key = k;
  else
    ag_key_destroy(k);
  if (!ag_mkdirs(c->data_dir, 0700, err)) return false;
  if (access(c->data_dir, W_OK) != 0)
    return ag_fail(err, "data_dir %s is not writable", c->data_dir);
  return true;
}

static void usage(void) {
  printf(
      "usage: ledged --config DEVDIR/ledged.conf [--check-config]\n"
      "       ledged --config DEVDIR/ledged.conf --emit TOPIC_SUFFIX PAYLOAD [--priority 0-9]\n"
      "\n"
      "The ledge edge agent: receives signed deployments over MQTT (retained on\n"
      "ledge/groups/<group>/deployment and ledge/<device>/deployment) or from its\n"
      "inbox directory, verifies, downloads, installs, runs, health-checks, commits\n"
      "or rolls back, and reports on ledge/<device>/deployment/status. Events that\n"
      "components send (--emit, or datagrams on DEVDIR/agent.sock) go through a\n"
      "durable outbox to ledge/<device>/<suffix>. SIGHUP reloads the config.\n"
      "See docs/deploy.md.\n");
}

static void reload(ag_agent *a) {
  a->reload = 0;
  ag_config next;
  char err[AG_ERR_SIZE];
  if (!ag_config_load(a->config.path, &next, err)) {
    ag_log(AG_LOG_ERROR, "reload: %s (keeping the current config)", err);
    return;
  }
  ag_key *key = NULL;
  if (!validate(&next, &key, err)) {
    ag_log(AG_LOG_ERROR, "reload: %s (keeping the current config)", err);
    return;
  }
  bool relink =
      strcmp(next.broker, a->config.broker) || strcmp(next.cert_file, a->config.cert_file) ||
      strcmp(next.key_file, a->config.key_file) || strcmp(next.ca_file, a->config.ca_file) ||
      strcmp(next.device, a->config.device) || strcmp(next.group, a->config.group);
  if (strcmp(next.data_dir, a->config.data_dir)) {
    ag_log(AG_LOG_WARN, "reload: data_dir changes need a restart; keeping %s", a->config.data_dir);
    snprintf(next.data_dir, sizeof next.data_dir, "%s", a->config.data_dir);
  }
  if (strcmp(next.group, a->config.group)) {
    /* Joining another group: its latest deployment applies even if it is
     * older than what the previous group had. */
    ag_log(AG_LOG_INFO, "group %s -> %s", a->config.group, next.group);
    a->highest_sequence = 0;
    if (!ag_state_save(a, err)) ag_log(AG_LOG_ERROR, "%s", err);
  }
  ag_key_destroy(a->fleet_key);
  a->fleet_key = key;
  a->config = next;
  ag_log_set_level(next.log_level);
  ag_outbox_set_limit(a->outbox, next.outbox_max_bytes);
  if (relink) {
    ag_link_destroy(a->link);
    a->link = NULL;
    a->connected = false;
    a->n_inflight = 0;
    a->published_upto = 0; /* unacknowledged rows go again on the new link */
    if (next.broker[0]) {
      a->link = ag_link_create(&a->config, a->wake_pipe[1], err);
      if (a->link)
        subscribe_deployments(a);
      else
        ag_log(AG_LOG_ERROR, "reload: %s", err);
    }
  }
  ag_log(AG_LOG_INFO, "configuration reloaded from %s", a->config.path);
}

int ledged_main(int argc, char **argv) {
  const char *config_path = NULL, *emit_suffix = NULL, *emit_payload = NULL;
  const char *upload_file = NULL, *upload_event = NULL, *upload_version = "";
  char upload_json[2048];
  bool check_only = false;
  int priority = 3;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage();
      return 0;
    } else if (!strcmp(argv[i], "--version")) {
      printf("ledged %s\n", ledge_version());
      return 0;
    } else if (!strcmp(argv[i], "--health-model") && i + 1 < argc) {
      return health_model_main(argv[i + 1]);
    } else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
      config_path = argv[++i];
    } else if (!strcmp(argv[i], "--check-config")) {
      check_only = true;
    } else if (!strcmp(argv[i], "--emit") && i + 2 < argc) {
      emit_suffix = argv[++i];
      emit_payload = argv[++i];
    } else if (!strcmp(argv[i], "--upload") && i + 1 < argc) {
      upload_file = argv[++i];
    } else if (!strcmp(argv[i], "--event-id") && i + 1 < argc) {
      upload_event = argv[++i];
    } else if (!strcmp(argv[i], "--model-version") && i + 1 < argc) {
      upload_version = argv[++i];
    } else if (!strcmp(argv[i], "--priority") && i + 1 < argc) {
      char *end;
      long p = strtol(argv[++i], &end, 10);
      if (*end || p < 0 || p > 9) {
        fprintf(stderr, "ledged: --priority must be 0-9\n");
        return 2;
      }
      priority = (int)p;
    } else {
      fprintf(stderr, "ledged: unknown or incomplete option '%s' (see --help)\n", argv[i]);
      return 2;
    }
  }
  if (!config_path) {
    fprintf(stderr, "ledged: --config PATH is required (see --help)\n");
    return 2;
  }
  char err[AG_ERR_SIZE];
  /* A fixed mmap threshold: large blocks (deployments) come from fresh zero
   * pages, resident only where written, and go back to the system when freed
   * (glibc's adaptive threshold would move them onto the heap for good). */
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  ag_agent *a = calloc(1, sizeof *a);
  if (!a) return 1;
  int rc = 1;
  a->event_sock = a->wake_pipe[0] = a->wake_pipe[1] = -1;
  int inotify_fd = -1;
  if (!ag_config_load(config_path, &a->config, err)) {
    fprintf(stderr, "ledged: %s\n", err);
    goto out;
  }
  if (upload_file) {
    if (!upload_event) {
      fprintf(stderr, "ledged: --upload needs --event-id ID\n");
      goto out;
    }
    char abs[1024];
    if (!realpath(upload_file, abs)) {
      fprintf(stderr, "ledged: %s: %s\n", upload_file, strerror(errno));
      goto out;
    }
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "file", abs);
    cJSON_AddStringToObject(req, "event_id", upload_event);
    cJSON_AddStringToObject(req, "model_version", upload_version);
    cJSON_PrintPreallocated(req, upload_json, sizeof upload_json, 0);
    cJSON_Delete(req);
    emit_suffix = "upload";
    emit_payload = upload_json;
  }
  if (emit_suffix) {
    rc = emit_main(&a->config, emit_suffix, emit_payload, priority);
    goto out;
  }
  if (!validate(&a->config, &a->fleet_key, err)) {
    fprintf(stderr, "ledged: %s\n", err);
    goto out;
  }
  if (check_only) {
    printf("%s: ok (device %s, group %s, broker %s, fleet key %s)\n", config_path, a->config.device,
           a->config.group, a->config.broker[0] ? a->config.broker : "none",
           ag_key_id(a->fleet_key));
    rc = 0;
    goto out;
  }
  ag_log_set_level(a->config.log_level);
  char path[1200];
  snprintf(path, sizeof path, "%s/logs", a->config.data_dir);
  if (!ag_mkdirs(path, 0700, err) || !ag_mkdirs(a->config.inbox_dir, 0700, err)) {
    ag_log(AG_LOG_ERROR, "%s", err);
    goto out;
  }
  snprintf(path, sizeof path, "%s/outbox.db", a->config.data_dir);
  a->outbox = ag_outbox_open(path, a->config.outbox_max_bytes, err);
  if (a->outbox) {
    char queue[1200];
    snprintf(queue, sizeof queue, "%s/uploads-queue", a->config.data_dir);
    a->uploads = ag_uploads_open(path, queue, err);
  }
  if (!a->outbox || !a->uploads || !ag_state_load(a, err)) {
    ag_log(AG_LOG_ERROR, "%s", err);
    goto out;
  }
  if (pipe2(a->wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) goto out;
  a->event_sock = open_event_socket(a, err);
  if (a->event_sock < 0) {
    ag_log(AG_LOG_ERROR, "%s", err);
    goto out;
  }
  ag_store_set_wait_hook(upload_wait, a);
  signal_pipe = a->wake_pipe[1];
  signal_agent = a;
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGCHLD, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGXFSZ, SIG_IGN); /* a file size limit gives EFBIG, a clear error, not a kill */
  inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd >= 0)
    inotify_add_watch(inotify_fd, a->config.inbox_dir, IN_CLOSE_WRITE | IN_MOVED_TO);

  if (a->config.broker[0]) {
    a->link = ag_link_create(&a->config, a->wake_pipe[1], err);
    if (!a->link) {
      ag_log(AG_LOG_ERROR, "%s", err);
      goto out;
    }
    subscribe_deployments(a);
  }
  ag_log(AG_LOG_INFO, "device %s (group %s) starting; data in %s; state %s", a->config.device,
         a->config.group, a->config.data_dir, a->state);
  ag_deploy_resume(a);
  ag_inbox_scan(a);

  double next_inbox_scan = ag_now() + 60;
  while (!a->stop) {
    double wait = ag_children_tick(a);
    double upload_wait = ag_uploads_tick(a->uploads, a->config.device, a->config.upload_store,
                                         &a->config.s3, a->config.upload_budget_bytes_per_hour);
    if (upload_wait < wait) wait = upload_wait;
    double now = ag_now();
    if (a->connected && a->next_status_at - now < wait) wait = a->next_status_at - now;
    if (next_inbox_scan - now < wait) wait = next_inbox_scan - now;
    if (wait < 0) wait = 0;
    struct pollfd fds[3] = {
        {a->wake_pipe[0], POLLIN, 0}, {a->event_sock, POLLIN, 0}, {inotify_fd, POLLIN, 0}};
    poll(fds, inotify_fd >= 0 ? 3 : 2, (int)(wait * 1000) + 1);
    char drain[256];
    while (read(a->wake_pipe[0], drain, sizeof drain) > 0) {
    }
    if (a->reload) reload(a);
    ag_pump(a);
    bool inbox = false;
    if (inotify_fd >= 0) {
      char ibuf[4096];
      while (read(inotify_fd, ibuf, sizeof ibuf) > 0) inbox = true;
    }
    if (inbox || ag_now() >= next_inbox_scan) {
      ag_inbox_scan(a);
      next_inbox_scan = ag_now() + 60;
    }
    while (a->incoming && !a->stop) {
      char *text = a->incoming;
      a->incoming = NULL;
      a->incoming_sequence = 0;
      ag_deployment_offer(a, text, strlen(text), "mqtt");
      free(text);
    }
    if (a->connected && ag_now() >= a->next_status_at) ag_publish_device_status(a);
  }
  ag_log(AG_LOG_INFO, "stopping");
  ag_children_stop(a);
  rc = 0;
out:
  ag_store_set_wait_hook(NULL, NULL);
  ag_link_destroy(a->link);
  ag_uploads_close(a->uploads);
  ag_outbox_close(a->outbox);
  ag_key_destroy(a->fleet_key);
  if (a->event_sock >= 0) {
    close(a->event_sock);
    unlink(a->sock_path);
  }
  if (inotify_fd >= 0) close(inotify_fd);
  free(a->incoming);
  ag_state_free(a);
  free(a);
  return rc;
}
