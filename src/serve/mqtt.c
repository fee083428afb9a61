/* serve/mqtt.c: the MQTT worker (on net/mqtt.h, over libmosquitto).
 *
 * Subscribes (QoS 1, one connection) to <prefix>/<model>/request for every
 * model, through the shared subscription $share/<group>/... when a group is
 * set (MQTT 5), so that any number of workers split one request stream and
 * the broker balances them. The session is persistent (fixed client id,
 * clean start off, a session expiry of a day), so QoS 1 requests published
 * while the worker was away are delivered when it returns; net/mqtt
 * reconnects with exponential backoff and resubscribes.
 *
 * A request is either a raw body (JPEG, PNG, .npy or JSON instances; the
 * MQTT 5 content-type property or the magic bytes say which) or the JSON
 * envelope {"id", "client", "content_type", "data": base64} /
 * {"id", "client", "instances": [...]}. The reply goes to the MQTT 5
 * response topic with the request's correlation data, or else to
 * <prefix>/<model>/response/<client>. Replies are
 * {"id", "model", "version", "worker", "code", "result" | "error"}, or the
 * edge classification shape with --mqtt-format greengrass. A request seen
 * twice (a QoS 1 redelivery) is answered once. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/mqtt.h"
#include "serve/internal.h"

#define RECENT 4096

typedef struct mqtt_state {
  net_mqtt *client;
  serve_server *s;
  char client_id[128];
  pthread_mutex_t lock;
  uint64_t recent[RECENT]; /* hashes of requests already taken */
  int recent_pos;
  serve_journal *journal; /* --mqtt-journal, or NULL */
  atomic_bool taking;     /* false while the journal is replayed: new messages wait */
  atomic_long answered, repeats, replayed;
} mqtt_state;

typedef struct mqtt_req {
  mqtt_state *m;
  char *reply_topic;
  void *correlation;
  int correlation_len;
  char id[256];
  char model[128];
  uint64_t journal_seq; /* marked done when the broker acknowledges the reply */
} mqtt_req;

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

/* True if this request was seen before (and remembers it otherwise). */
static bool seen(mqtt_state *m, uint64_t key) {
  pthread_mutex_lock(&m->lock);
  for (int i = 0; i < RECENT; i++)
    if (m->recent[i] == key) {
      pthread_mutex_unlock(&m->lock);
      return true;
    }
  m->recent[m->recent_pos] = key;
  m->recent_pos = (m->recent_pos + 1) % RECENT;
  pthread_mutex_unlock(&m->lock);
  return false;
}

static void publish(mqtt_req *r, const void *payload, size_t len) {
  net_mqtt_props props = {.correlation = r->correlation,
                          .correlation_len = (size_t)r->correlation_len,
                          .content_type = "application/json"};
  char err[300];
  atomic_fetch_add(&r->m->answered, 1);
  if (net_mqtt_publish(r->m->client, r->reply_topic, payload, len, 1, false, &props,
                       (void *)(uintptr_t)r->journal_seq, NULL, err, sizeof err)) {
    serve_log(r->m->s, "mqtt: %s", err);
    serve_journal_done(r->m->journal, r->journal_seq); /* nothing more we can do for it */
  }
  r->journal_seq = 0;
}

/* A reply reached the broker: its request need not survive a crash any more. */
static void on_published(void *user, int mid, void *ack_ctx, int reason_code) {
  mqtt_state *m = user;
  (void)mid;
  if (reason_code >= 0x80)
    serve_log(m->s, "mqtt: the broker refused a reply (reason 0x%02x)", reason_code);
  serve_journal_done(m->journal, (uint64_t)(uintptr_t)ack_ctx);
}

static void reply(mqtt_req *r, int code, const char *type, const char *body, size_t len,
                  int version, bool raw) {
  if (raw && code == 200) {
    publish(r, body, len);
    return;
  }
  sbuf b = {0};
  sb_put(&b, "{\"id\": ", 7);
  sb_json_string(&b, r->id);
  sb_put(&b, ", \"model\": ", 11);
  sb_json_string(&b, r->model);
  sb_printf(&b, ", \"version\": %d, \"worker\": ", version);
  sb_json_string(&b, r->m->client_id);
  sb_printf(&b, ", \"code\": %d, ", code);
  if (code == 200 && type && !strcmp(type, "application/json")) {
    sb_put(&b, "\"result\": ", 10);
    sb_put(&b, body, len);
  } else if (code == 200) {
    sb_put(&b, "\"error\": \"binary results are not sent over MQTT\"", 49);
  } else {
    /* body is {"error": ..., "code": N}: lift its message */
    const char *e = body ? strstr(body, "\"error\": ") : NULL;
    if (e) {
      const char *end = strstr(e, ", \"code\"");
      sb_put(&b, e, end ? (size_t)(end - e) : strlen(e));
    } else {
      sb_put(&b, "\"error\": \"failed\"", 17);
    }
  }
  sb_put(&b, "}", 1);
  if (b.data) publish(r, b.data, b.len);
  sb_free(&b);
}

static void req_free(mqtt_req *r) {
  serve_journal_done(r->m->journal, r->journal_seq); /* dropped without a reply */
  free(r->reply_topic);
  free(r->correlation);
  free(r);
}

static void job_done(serve_job *job) {
  mqtt_req *r = job->ctx;
  reply(r, job->code, job->resp_type, job->resp, job->resp_len, job->ver ? job->ver->number : 0,
        job->greengrass);
  serve_server *s = r->m->s;
  req_free(r);
  atomic_fetch_sub(&s->inflight, 1);
}

static void error_reply(mqtt_req *r, int code, const char *msg) {
  sbuf b = {0};
  sb_put(&b, "{\"error\": ", 10);
  sb_json_string(&b, msg);
  sb_printf(&b, ", \"code\": %d}", code);
  reply(r, code, "application/json", b.data, b.len, 0, false);
  sb_free(&b);
}

/* Takes one request: from the broker (journal_seq 0: journaled here when a
 * journal is kept) or replayed from the journal (its seq). */
static void take_request(mqtt_state *m, const net_mqtt_message *msg, uint64_t journal_seq) {
  serve_server *s = m->s;
  /* <prefix>/<model>/request */
  size_t plen = strlen(s->cfg.mqtt_prefix);
  const char *t = msg->topic;
  if (strncmp(t, s->cfg.mqtt_prefix, plen) || t[plen] != '/') return;
  const char *name = t + plen + 1, *slash = strchr(name, '/');
  if (!slash || strcmp(slash, "/request")) return;
  mqtt_req *r = calloc(1, sizeof *r);
  if (!r) return;
  r->m = m;
  snprintf(r->model, sizeof r->model, "%.*s", (int)(slash - name), name);
  char *ctype = msg->props.content_type ? strdup(msg->props.content_type) : NULL;
  if (msg->props.response_topic) r->reply_topic = strdup(msg->props.response_topic);
  if (msg->props.correlation_len && (r->correlation = malloc(msg->props.correlation_len))) {
    memcpy(r->correlation, msg->props.correlation, msg->props.correlation_len);
    r->correlation_len = (int)msg->props.correlation_len;
  }
  const uint8_t *payload = msg->payload;
  size_t len = msg->len;
  serve_envelope env = {0};
  char err[512] = "";
  int code = 0;
  bool envelope = len > 0 && payload[0] == '{' &&
                  (!ctype || !strncmp(ctype, "application/json", 16)) &&
                  serve_envelope_parse(payload, len, &env, err, sizeof err) == 0;
  if (!envelope && len > 0 && payload[0] == '{') {
    /* a JSON object that is not an envelope: keep its id and client for the reply */
    serve_envelope_free(&env);
    serve_envelope_parse(payload, len, &env, err, sizeof err);
    char id[256], client[256];
    memcpy(id, env.id, sizeof id);
    memcpy(client, env.client, sizeof client);
    serve_envelope_free(&env);
    memcpy(env.id, id, sizeof id);
    memcpy(env.client, client, sizeof client);
    code = 400;
  }
  snprintf(r->id, sizeof r->id, "%s", env.id);
  if (!r->reply_topic && env.client[0]) {
    char topic[600];
    snprintf(topic, sizeof topic, "%s/%s/response/%s", s->cfg.mqtt_prefix, r->model, env.client);
    r->reply_topic = strdup(topic);
  }
  if (!r->reply_topic) {
    serve_log(s, "mqtt: request on %s has no response topic and no client id; dropped", t);
    serve_envelope_free(&env);
    free(ctype);
    req_free(r);
    return;
  }
  uint64_t key = fnv(fnv(fnv(0xcbf29ce484222325ull, r->reply_topic, strlen(r->reply_topic)),
                         r->correlation ? r->correlation : (void *)"", (size_t)r->correlation_len),
                     r->id, strlen(r->id));
  if ((r->correlation || r->id[0]) && seen(m, key)) {
    atomic_fetch_add(&m->repeats, 1);
    serve_journal_done(m->journal, journal_seq);
    serve_envelope_free(&env);
    free(ctype);
    req_free(r);
    return;
  }
  if (journal_seq) {
    r->journal_seq = journal_seq;
  } else if (m->journal) {
    /* On disk before this callback returns, that is before libmosquitto sends
     * the PUBACK that makes the broker forget the request. */
    serve_journal_entry e = {.topic = (char *)msg->topic,
                             .response_topic = (char *)msg->props.response_topic,
                             .content_type = (char *)msg->props.content_type,
                             .correlation = (void *)msg->props.correlation,
                             .correlation_len = msg->props.correlation_len,
                             .payload = (void *)msg->payload,
                             .len = msg->len};
    r->journal_seq = serve_journal_add(m->journal, &e);
    if (!r->journal_seq)
      serve_log(s, "mqtt: cannot write the journal; request %s is not crash-safe", r->id);
  }
  if ((long)len > s->cfg.mqtt_max_payload) {
    snprintf(err, sizeof err, "payload of %zu bytes is over the %d-byte limit", len,
             s->cfg.mqtt_max_payload);
    code = 413;
  }
  int slot = serve_slot_find(s, r->model);
  if (!code && slot < 0) {
    snprintf(err, sizeof err, "no model named '%s'", r->model);
    code = 404;
  }
  body_kind kind = 0;
  uint8_t *body = NULL;
  size_t body_len = 0;
  if (!code && envelope) {
    kind = env.kind;
    body = env.body, body_len = env.body_len;
    env.body = NULL;
  } else if (!code) {
    kind = ctype ? serve_body_kind(ctype) : 0;
    if (!kind) {
      media_format f = media_image_sniff(payload, len);
      kind = f ? BODY_IMAGE : len >= 6 && !memcmp(payload, "\x93NUMPY", 6) ? BODY_NPY : BODY_JSON;
    }
    body = malloc(len ? len : 1);
    if (body)
      memcpy(body, payload, len), body_len = len;
    else
      code = 500;
  }
  serve_version *v = NULL;
  if (!code && !(v = serve_acquire(s, slot))) {
    snprintf(err, sizeof err, "model '%s' is loading", r->model);
    code = 503;
  }
  serve_job *job = NULL;
  if (!code && !(job = serve_job_new())) code = 500;
  if (code) {
    if (!err[0]) snprintf(err, sizeof err, "cannot take the request");
    error_reply(r, code, err);
    serve_metrics_request(s->metrics, slot, code, 0);
    serve_release(v);
    free(body);
    serve_envelope_free(&env);
    free(ctype);
    req_free(r);
    return;
  }
  job->slot = slot;
  job->ver = v;
  job->kind = kind;
  job->body = body;
  job->body_len = body_len;
  job->top_k = env.top_k;
  job->greengrass = !strcmp(s->cfg.mqtt_format, "greengrass");
  job->done = job_done;
  job->ctx = r;
  serve_envelope_free(&env);
  free(ctype);
  /* Backpressure instead of refusals: a full queue holds this (network)
   * thread, so the broker keeps the rest of the stream until there is room. */
  double give_up = serve_now() + s->cfg.timeout_ms / 1000.0;
  while ((code = serve_submit(s, job)) == 503 && !atomic_load(&s->stopping) &&
         serve_now() < give_up)
    usleep(2000);
  if (code) {
    error_reply(r, code, "server busy: queue full");
    serve_metrics_request(s->metrics, slot, code, 0);
    req_free(r);
    job->ctx = NULL;
  } else {
    atomic_fetch_add(&s->inflight, 1);
  }
  serve_job_unref(job); /* the queue holds its own reference */
}

static void on_message(void *user, const net_mqtt_message *msg) {
  mqtt_state *m = user;
  /* Requests from a previous run are taken first, so that a redelivery of one
   * of them is recognized as a repeat. */
  while (!atomic_load(&m->taking)) usleep(1000);
  take_request(m, msg, 0);
}

/* Answers what the journal holds from a run that did not finish. */
static void replay_journal(mqtt_state *m) {
  serve_journal_entry *entries = NULL;
  int n = serve_journal_replay(m->journal, &entries);
  if (n) serve_log(m->s, "mqtt: journal: answering %d request(s) left by the previous run", n);
  for (int i = 0; i < n; i++) {
    net_mqtt_message msg = {
        .topic = entries[i].topic, .payload = entries[i].payload, .len = entries[i].len, .qos = 1};
    msg.props.response_topic = entries[i].response_topic;
    msg.props.content_type = entries[i].content_type;
    msg.props.correlation = entries[i].correlation;
    msg.props.correlation_len = entries[i].correlation_len;
    take_request(m, &msg, entries[i].seq);
    atomic_fetch_add(&m->replayed, 1);
    serve_journal_entry_free(&entries[i]);
  }
  free(entries);
}

/* The filter a slot's requests arrive on: shared when a group is set (MQTT 5). */
static char *request_filter(serve_server *s, int slot, char *buf, size_t size) {
  char topic[400];
  snprintf(topic, sizeof topic, "%s/%s/request", s->cfg.mqtt_prefix, s->slots[slot].name);
  bool shared = s->cfg.mqtt_group && s->cfg.mqtt_group[0] && s->cfg.mqtt_protocol == 5;
  return net_mqtt_shared_filter(buf, size, shared ? s->cfg.mqtt_group : NULL, topic);
}

static void on_log(void *user, const char *line) {
  mqtt_state *m = user;
  serve_log(m->s, "%s", line);
}

int serve_mqtt_start(serve_server *s) {
  mqtt_state *m = calloc(1, sizeof *m);
  if (!m) return 1;
  m->s = s;
  pthread_mutex_init(&m->lock, NULL);
  if (s->cfg.mqtt_client_id)
    snprintf(m->client_id, sizeof m->client_id, "%s", s->cfg.mqtt_client_id);
  else
    snprintf(m->client_id, sizeof m->client_id, "ledge-serve-%d", (int)getpid());
  net_mqtt_config c;
  net_mqtt_config_init(&c);
  c.url = s->cfg.mqtt_url;
  c.client_id = m->client_id;
  c.protocol = s->cfg.mqtt_protocol;
  /* Persistent session: QoS 1 requests published while the worker is away
   * wait in the broker until it returns. */
  c.clean_start = false;
  c.session_expiry_s = (uint32_t)s->cfg.mqtt_session_expiry_s;
  c.ca_file = s->cfg.mqtt_ca;
  c.cert_file = s->cfg.mqtt_cert;
  c.key_file = s->cfg.mqtt_key;
  c.receive_maximum = 2 * s->n_workers + 2;
  c.reconnect_min_ms = 250;
  c.reconnect_max_ms = 30000;
  c.user = m;
  c.on_message = on_message;
  c.on_published = on_published;
  c.on_log = on_log;
  char err[400];
  if (s->cfg.mqtt_journal &&
      serve_journal_open(s->cfg.mqtt_journal, &m->journal, err, sizeof err)) {
    serve_log(s, "mqtt: %s", err);
    pthread_mutex_destroy(&m->lock);
    free(m);
    return 1;
  }
  atomic_store(&m->taking, m->journal == NULL);
  if (net_mqtt_start(&c, &m->client, err, sizeof err)) {
    serve_log(s, "mqtt: %s", err);
    serve_journal_close(m->journal);
    pthread_mutex_destroy(&m->lock);
    free(m);
    return 1;
  }
  /* The broker has to accept us (TLS client certificate, credentials) within
   * 10 s; a worker that is refused says why and exits. */
  if (net_mqtt_wait_connected(m->client, 10000, err, sizeof err)) {
    serve_log(s, "mqtt: cannot connect: %s", err);
    atomic_store(&m->taking, true);
    net_mqtt_stop(m->client, 0);
    serve_journal_close(m->journal);
    pthread_mutex_destroy(&m->lock);
    free(m);
    return 1;
  }
  if (m->journal) {
    replay_journal(m);
    atomic_store(&m->taking, true);
  }
  for (int i = 0; i < s->n_slots; i++) {
    char filter[512];
    if (!request_filter(s, i, filter, sizeof filter) || net_mqtt_subscribe(m->client, filter, 1))
      serve_log(s, "mqtt: cannot subscribe for model %s (invalid topic)", s->slots[i].name);
  }
  s->mqtt = m;
  return 0;
}

/* On shutdown a worker in a shared group unsubscribes first, so the broker
 * sends the rest of the stream to the other workers while this one finishes
 * what it took. A worker without a group keeps its subscription: its
 * persistent session queues requests until it returns. */
void serve_mqtt_stop_intake(serve_server *s) {
  mqtt_state *m = s->mqtt;
  if (!m) return;
  if (!(s->cfg.mqtt_group && s->cfg.mqtt_group[0] && s->cfg.mqtt_protocol == 5)) return;
  for (int i = 0; i < s->n_slots; i++) {
    char filter[512];
    if (request_filter(s, i, filter, sizeof filter)) net_mqtt_unsubscribe(m->client, filter, 2000);
  }
}

void serve_mqtt_stop(serve_server *s) {
  mqtt_state *m = s->mqtt;
  if (!m) return;
  /* the last replies leave (and are acknowledged) before the DISCONNECT */
  net_mqtt_stop(m->client, 5000);
  serve_log(
      s,
      "mqtt: answered %ld request(s), ignored %ld repeated deliveries, %ld taken from the journal",
      atomic_load(&m->answered), atomic_load(&m->repeats), atomic_load(&m->replayed));
  if (m->journal) {
    long left = serve_journal_pending(m->journal);
    if (left)
      serve_log(
          s, "mqtt: journal: %ld request(s) without an acknowledged reply, kept for the next run",
          left);
    serve_journal_close(m->journal);
  }
  pthread_mutex_destroy(&m->lock);
  free(m);
  s->mqtt = NULL;
}
