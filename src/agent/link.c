/* link.c: the agent's MQTT connection, on net/mqtt (reconnects with backoff
 * and jitter, TLS client certificates, PUBACK notifications). Its callbacks
 * run on the network thread; here they only queue events and wake the main
 * loop through a pipe, so all agent state stays on the main thread. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "net/mqtt.h"

typedef struct queued {
  ag_link_event ev;
  struct queued *next;
} queued;

struct ag_link {
  net_mqtt *mqtt;
  pthread_mutex_t lock;
  queued *head, *tail;
  int wake_fd;
};

static void push(ag_link *link, ag_link_event ev) {
  queued *q = calloc(1, sizeof *q);
  if (!q) {
    ag_link_event_free(&ev);
    return;
  }
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

static void on_connect(void *user, bool session_present) {
  push(user, (ag_link_event){.kind = AG_LINK_CONNECTED});
}

static void on_disconnect(void *user, int reason) {
  push(user, (ag_link_event){.kind = AG_LINK_DISCONNECTED});
}

static void on_published(void *user, int mid, void *ack_ctx, int reason_code) {
  if (reason_code == 0) push(user, (ag_link_event){.kind = AG_LINK_ACK, .mid = mid});
}

static void on_message(void *user, const net_mqtt_message *m) {
  ag_link_event ev = {.kind = AG_LINK_MESSAGE, .size = (int)m->len};
  ev.topic = strdup(m->topic);
  ev.payload = malloc(m->len + 1);
  if (!ev.topic || !ev.payload) {
    ag_link_event_free(&ev);
    return;
  }
  memcpy(ev.payload, m->payload, m->len);
  ev.payload[m->len] = 0;
  push(user, ev);
}

static void on_log(void *user, const char *line) { ag_log(AG_LOG_DEBUG, "mqtt: %s", line); }

ag_link *ag_link_create(const ag_config *c, int wake_fd, char *err) {
  ag_link *link = calloc(1, sizeof *link);
  if (!link) return NULL;
  pthread_mutex_init(&link->lock, NULL);
  link->wake_fd = wake_fd;
  net_mqtt_config m;
  net_mqtt_config_init(&m);
  m.url = c->broker;
  m.client_id = c->device;
  /* 3.1.1: what every managed IoT broker accepts. A clean session:
   * deployments are retained (delivered again on every subscribe) and the
   * outbox, not the broker, keeps what is unsent. */
  m.protocol = 311;
  m.clean_start = true;
  m.keepalive_s = c->keepalive_s;
  if (!strncmp(c->broker, "mqtts://", 8)) {
    m.ca_file = c->ca_file;
    m.cert_file = c->cert_file;
    m.key_file = c->key_file;
  }
  m.reconnect_min_ms = 500;
  m.reconnect_max_ms = c->reconnect_max_s > 0 ? c->reconnect_max_s * 1000 : 30000;
  m.user = link;
  m.on_message = on_message;
  m.on_connect = on_connect;
  m.on_disconnect = on_disconnect;
  m.on_published = on_published;
  m.on_log = on_log;
  if (net_mqtt_start(&m, &link->mqtt, err, AG_ERR_SIZE) != 0) {
    ag_link_destroy(link);
    return NULL;
  }
  return link;
}

void ag_link_destroy(ag_link *link) {
  if (!link) return;
  net_mqtt_stop(link->mqtt, 1000);
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
  char err[256];
  if (net_mqtt_publish(link->mqtt, topic, payload, (size_t)size, 1, retain, NULL, NULL, mid, err,
                       sizeof err) != 0) {
    ag_log(AG_LOG_DEBUG, "publish to %s: %s", topic, err);
    return false;
  }
  return true;
}

bool ag_link_subscribe(ag_link *link, const char *topic) {
  return net_mqtt_subscribe(link->mqtt, topic, 1) == 0;
}
