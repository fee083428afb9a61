/* link.c: the agent's MQTT connection. libmosquitto runs its network loop in
 * its own thread and reconnects with backoff; its callbacks only queue events
 * and wake the main loop through a pipe, so all agent state stays on the main
 * thread. */
#include <mosquitto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"

typedef struct queued {
  ag_link_event ev;
  struct queued *next;
} queued;

struct ag_link {
  struct mosquitto *mosq;
  pthread_mutex_t lock;
  queued *head, *tail;
  int wake_fd;
  bool started;
};

static void push(ag_link *link, ag_link_event ev) {
  queued *q = calloc(1, sizeof *q);
  if (!q) return;
  q->ev = ev;
  pthread_mutex_lock(&link->lock);
  if (link->tail)
    link->tail->next = q;
  else
    link->head = q;
  link->tail = q;
  pthread_mutex_unlock(&link->lock);
  char c = 'm';
  ssize_t w = write(link->wake_fd, &c, 1);
  (void)w;
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc) {
  if (rc == 0)
    push(obj, (ag_link_event){.kind = AG_LINK_CONNECTED});
  else
    ag_log(AG_LOG_WARN, "broker refused the connection: %s", mosquitto_connack_string(rc));
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc) {
  push(obj, (ag_link_event){.kind = AG_LINK_DISCONNECTED});
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid) {
  push(obj, (ag_link_event){.kind = AG_LINK_ACK, .mid = mid});
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m) {
  ag_link_event ev = {.kind = AG_LINK_MESSAGE, .size = m->payloadlen};
  ev.topic = strdup(m->topic);
  ev.payload = malloc((size_t)m->payloadlen + 1);
  if (!ev.topic || !ev.payload) {
    free(ev.topic);
    free(ev.payload);
    return;
  }
  memcpy(ev.payload, m->payload, (size_t)m->payloadlen);
  ev.payload[m->payloadlen] = 0;
  push(obj, ev);
}

static bool parse_url(const char *url, char *host, size_t size, int *port, bool *tls) {
  *tls = !strncmp(url, "mqtts://", 8);
  const char *rest = url + (*tls ? 8 : 7);
  const char *colon = strrchr(rest, ':');
  *port = *tls ? 8883 : 1883;
  size_t n = colon ? (size_t)(colon - rest) : strlen(rest);
  if (n == 0 || n >= size) return false;
  memcpy(host, rest, n);
  host[n] = 0;
  if (colon) {
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 1 || p > 65535) return false;
    *port = (int)p;
  }
  return true;
}

ag_link *ag_link_create(const ag_config *c, int wake_fd, char *err) {
  char host[256];
  int port;
  bool tls;
  if (!parse_url(c->broker, host, sizeof host, &port, &tls)) {
    ag_fail(err, "broker URL %s is not mqtt[s]://HOST[:PORT]", c->broker);
    return NULL;
  }
  mosquitto_lib_init();
  ag_link *link = calloc(1, sizeof *link);
  if (!link) return NULL;
  pthread_mutex_init(&link->lock, NULL);
  link->wake_fd = wake_fd;
  /* A clean session: deployments are retained messages (delivered again on
   * every subscribe) and the outbox, not the broker, keeps what is unsent. */
  link->mosq = mosquitto_new(c->device, true, link);
  if (!link->mosq) {
    ag_fail(err, "cannot create the MQTT client");
    ag_link_destroy(link);
    return NULL;
  }
  mosquitto_int_option(link->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_connect_callback_set(link->mosq, on_connect);
  mosquitto_disconnect_callback_set(link->mosq, on_disconnect);
  mosquitto_publish_callback_set(link->mosq, on_publish);
  mosquitto_message_callback_set(link->mosq, on_message);
  mosquitto_reconnect_delay_set(link->mosq, 1, 30, true);
  mosquitto_max_inflight_messages_set(link->mosq, 20);
  if (tls) {
    int rc = mosquitto_tls_set(link->mosq, c->ca_file, NULL, c->cert_file, c->key_file, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
      ag_fail(err, "TLS setup failed (%s): check ca_file, cert_file, key_file",
              mosquitto_strerror(rc));
      ag_link_destroy(link);
      return NULL;
    }
  }
  /* connect_async: an unreachable broker is not an error; the loop retries. */
  int rc = mosquitto_connect_async(link->mosq, host, port, c->keepalive_s);
  if (rc != MOSQ_ERR_SUCCESS)
    ag_log(AG_LOG_WARN, "broker %s not reachable yet (%s); retrying", c->broker,
           mosquitto_strerror(rc));
  if (mosquitto_loop_start(link->mosq) != MOSQ_ERR_SUCCESS) {
    ag_fail(err, "cannot start the MQTT thread");
    ag_link_destroy(link);
    return NULL;
  }
  link->started = true;
  return link;
}

void ag_link_destroy(ag_link *link) {
  if (!link) return;
  if (link->mosq) {
    mosquitto_disconnect(link->mosq);
    if (link->started) mosquitto_loop_stop(link->mosq, true);
    mosquitto_destroy(link->mosq);
  }
  ag_link_event ev;
  while (ag_link_poll(link, &ev)) ag_link_event_free(&ev);
  pthread_mutex_destroy(&link->lock);
  free(link);
}

bool ag_link_poll(ag_link *link, ag_link_event *ev) {
  pthread_mutex_lock(&link->lock);
  queued *q = link->head;
  if (q) {
    link->head = q->next;
    if (!link->head) link->tail = NULL;
  }
  pthread_mutex_unlock(&link->lock);
  if (!q) return false;
  *ev = q->ev;
  free(q);
  return true;
}

void ag_link_event_free(ag_link_event *ev) {
  free(ev->topic);
  free(ev->payload);
  ev->topic = ev->payload = NULL;
}

bool ag_link_publish(ag_link *link, const char *topic, const void *payload, int size, bool retain,
                     int *mid) {
  return mosquitto_publish(link->mosq, mid, topic, size, payload, 1, retain) == MOSQ_ERR_SUCCESS;
}

bool ag_link_subscribe(ag_link *link, const char *topic) {
  return mosquitto_subscribe(link->mosq, NULL, topic, 1) == MOSQ_ERR_SUCCESS;
}
