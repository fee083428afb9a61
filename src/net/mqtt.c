/* net/mqtt.c: see mqtt.h.
 *
 * One network thread per connection runs libmosquitto's loop itself (not
 * mosquitto_loop_start) so that the first connection, which libmosquitto's
 * own thread does not retry, and every later one go through the same
 * backoff, and so that MQTT 5 CONNECT properties (session expiry) are sent on
 * each attempt. The client is put in threaded mode so that other threads may
 * publish: libmosquitto then queues their packets and wakes this thread to
 * write them, which also means an incoming QoS 1 message is acknowledged only
 * after on_message has returned. */
#include "net/mqtt.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "net/url.h"

typedef struct subscription {
  char *filter;
  int qos;
  int mid; /* of the last SUBSCRIBE sent, to name the filter in on_subscribed */
} subscription;

typedef struct pending_ack {
  int mid;
  void *ctx;
} pending_ack;

struct net_mqtt {
  net_mqtt_config cfg; /* strings below are private copies */
  net_url url;
  struct mosquitto *mosq;
  mosquitto_property *connect_props;
  pthread_t thread;
  bool thread_started;

  /* lock guards everything below; never held while calling the user's callbacks */
  pthread_mutex_t lock;
  pthread_cond_t cv;
  bool stopping;
  bool connected;
  char last_error[256];
  subscription *subs;
  int n_subs, cap_subs;
  pending_ack *acks; /* QoS 1 publishes waiting for PUBACK */
  int n_acks, cap_acks;
  int *unsub_mids; /* UNSUBSCRIBEs waiting for UNSUBACK */
  int n_unsub, cap_unsub;
  unsigned jitter_seed;
};

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void set_err(char *err, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t size, const char *fmt, ...) {
  if (!err || !size) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, size, fmt, ap);
  va_end(ap);
}

static void mlog(net_mqtt *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mlog(net_mqtt *m, const char *fmt, ...) {
  if (!m->cfg.on_log) return;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  m->cfg.on_log(m->cfg.user, line);
}

/* Remembers why the connection is down, for net_mqtt_wait_connected. */
static void note_error(net_mqtt *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_error(net_mqtt *m, const char *fmt, ...) {
  pthread_mutex_lock(&m->lock);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m->last_error, sizeof m->last_error, fmt, ap);
  va_end(ap);
  pthread_mutex_unlock(&m->lock);
}

static bool grow(void **array, int *cap, int need, size_t elem) {
  if (need <= *cap) return true;
  int n = *cap ? *cap * 2 : 16;
  while (n < need) n *= 2;
  void *p = realloc(*array, (size_t)n * elem);
  if (!p) return false;
  *array = p;
  *cap = n;
  return true;
}

static bool is_v5(const net_mqtt *m) { return m->cfg.protocol == 5; }

void net_mqtt_config_init(net_mqtt_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->protocol = 5;
  cfg->clean_start = true;
  cfg->session_expiry_s = 86400;
  cfg->keepalive_s = 30;
  cfg->reconnect_min_ms = 500;
  cfg->reconnect_max_ms = 30000;
}

/* ---- Properties ------------------------------------------------------------ */

/* Builds libmosquitto's property list from props (MQTT 5 only). */
static int props_encode(const net_mqtt_props *p, mosquitto_property **out) {
  *out = NULL;
  if (!p) return 0;
  int rc = 0;
  if (p->response_topic)
    rc |= mosquitto_property_add_string(out, MQTT_PROP_RESPONSE_TOPIC, p->response_topic);
  if (p->correlation && p->correlation_len) {
    if (p->correlation_len > 65535) return MOSQ_ERR_INVAL;
    rc |= mosquitto_property_add_binary(out, MQTT_PROP_CORRELATION_DATA, p->correlation,
                                        (uint16_t)p->correlation_len);
  }
  if (p->content_type)
    rc |= mosquitto_property_add_string(out, MQTT_PROP_CONTENT_TYPE, p->content_type);
  if (p->message_expiry_s)
    rc |= mosquitto_property_add_int32(out, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, p->message_expiry_s);
  if (p->payload_utf8)
    rc |= mosquitto_property_add_byte(out, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR, 1);
  for (int i = 0; i < p->n_user && i < NET_MQTT_MAX_USER_PROPS; i++)
    if (p->user[i].name && p->user[i].value)
      rc |= mosquitto_property_add_string_pair(out, MQTT_PROP_USER_PROPERTY, p->user[i].name,
                                               p->user[i].value);
  return rc;
}

/* Decodes what a request/response protocol needs; strings are malloc'd and
 * released by props_release. */
static void props_decode(const mosquitto_property *list, net_mqtt_props *p) {
  memset(p, 0, sizeof *p);
  for (const mosquitto_property *q = list; q; q = mosquitto_property_next(q)) {
    switch (mosquitto_property_identifier(q)) {
      case MQTT_PROP_RESPONSE_TOPIC: {
        char *s = NULL;
        if (!p->response_topic &&
            mosquitto_property_read_string(q, MQTT_PROP_RESPONSE_TOPIC, &s, false))
          p->response_topic = s;
        break;
      }
      case MQTT_PROP_CORRELATION_DATA: {
        void *data = NULL;
        uint16_t len = 0;
        if (!p->correlation &&
            mosquitto_property_read_binary(q, MQTT_PROP_CORRELATION_DATA, &data, &len, false)) {
          p->correlation = data;
          p->correlation_len = len;
        }
        break;
      }
      case MQTT_PROP_CONTENT_TYPE: {
        char *s = NULL;
        if (!p->content_type &&
            mosquitto_property_read_string(q, MQTT_PROP_CONTENT_TYPE, &s, false))
          p->content_type = s;
        break;
      }
      case MQTT_PROP_MESSAGE_EXPIRY_INTERVAL:
        mosquitto_property_read_int32(q, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, &p->message_expiry_s,
                                      false);
        break;
      case MQTT_PROP_PAYLOAD_FORMAT_INDICATOR: {
        uint8_t v = 0;
        if (mosquitto_property_read_byte(q, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR, &v, false))
          p->payload_utf8 = v == 1;
        break;
      }
      case MQTT_PROP_USER_PROPERTY: {
        char *name = NULL, *value = NULL;
        if (p->n_user < NET_MQTT_MAX_USER_PROPS &&
            mosquitto_property_read_string_pair(q, MQTT_PROP_USER_PROPERTY, &name, &value, false)) {
          p->user[p->n_user].name = name;
          p->user[p->n_user].value = value;
          p->n_user++;
        }
        break;
      }
      default: break;
    }
  }
}

static void props_release(net_mqtt_props *p) {
  free((void *)p->response_topic);
  free((void *)p->correlation);
  free((void *)p->content_type);
  for (int i = 0; i < p->n_user; i++) {
    free((void *)p->user[i].name);
    free((void *)p->user[i].value);
  }
  memset(p, 0, sizeof *p);
}

/* ---- libmosquitto callbacks (network thread) ---------------------------------- */

static void send_subscribe(net_mqtt *m, subscription *s) {
  int mid = 0;
  int rc = mosquitto_subscribe_v5(m->mosq, &mid, s->filter, s->qos, 0, NULL);
  if (rc == MOSQ_ERR_SUCCESS)
    s->mid = mid;
  else
    mlog(m, "mqtt: cannot subscribe to %s: %s", s->filter, mosquitto_strerror(rc));
}

static void cb_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
                       const mosquitto_property *props) {
  net_mqtt *m = obj;
  (void)mosq, (void)props;
  if (rc) {
    const char *why = is_v5(m) ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc);
    note_error(m, "connection refused by %s:%d: %s", m->url.host, m->url.port, why);
    mlog(m, "mqtt: connection refused by %s:%d: %s", m->url.host, m->url.port, why);
    return;
  }
  bool session_present = flags & 1;
  pthread_mutex_lock(&m->lock);
  m->connected = true;
  m->last_error[0] = 0;
  /* Resubscribe even when the broker kept the session: it costs one packet and
   * covers a broker that lost its state (restarted without persistence). */
  for (int i = 0; i < m->n_subs; i++) send_subscribe(m, &m->subs[i]);
  pthread_cond_broadcast(&m->cv);
  pthread_mutex_unlock(&m->lock);
  mlog(m, "mqtt: connected to %s:%d as %s (session %s)", m->url.host, m->url.port,
       m->cfg.client_id ? m->cfg.client_id : "(generated id)", session_present ? "resumed" : "new");
  if (m->cfg.on_connect) m->cfg.on_connect(m->cfg.user, session_present);
}

static void cb_disconnect(struct mosquitto *mosq, void *obj, int rc,
                          const mosquitto_property *props) {
  net_mqtt *m = obj;
  (void)mosq, (void)props;
  pthread_mutex_lock(&m->lock);
  bool was = m->connected, stopping = m->stopping;
  m->connected = false;
  pthread_cond_broadcast(&m->cv);
  pthread_mutex_unlock(&m->lock);
  if (!was) return;
  if (rc && !stopping) {
    note_error(m, "connection to %s:%d lost: %s", m->url.host, m->url.port, mosquitto_strerror(rc));
    mlog(m, "mqtt: connection to %s:%d lost (%s); reconnecting", m->url.host, m->url.port,
         mosquitto_strerror(rc));
  }
  if (m->cfg.on_disconnect) m->cfg.on_disconnect(m->cfg.user, rc);
}

static void cb_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg,
                       const mosquitto_property *props) {
  net_mqtt *m = obj;
  (void)mosq;
  if (!m->cfg.on_message) return;
  net_mqtt_message out = {
      .topic = msg->topic,
      .payload = msg->payload ? msg->payload : "",
      .len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0,
      .qos = msg->qos,
      .retain = msg->retain,
      .mid = msg->mid,
  };
  props_decode(props, &out.props);
  m->cfg.on_message(m->cfg.user, &out);
  props_release(&out.props);
}

static void cb_publish(struct mosquitto *mosq, void *obj, int mid, int reason,
                       const mosquitto_property *props) {
  net_mqtt *m = obj;
  (void)mosq, (void)props;
  void *ctx = NULL;
  pthread_mutex_lock(&m->lock);
  for (int i = 0; i < m->n_acks; i++)
    if (m->acks[i].mid == mid) {
      ctx = m->acks[i].ctx;
      m->acks[i] = m->acks[--m->n_acks];
      break;
    }
  pthread_cond_broadcast(&m->cv);
  pthread_mutex_unlock(&m->lock);
  if (m->cfg.on_published) m->cfg.on_published(m->cfg.user, mid, ctx, reason);
}

static void cb_subscribe(struct mosquitto *mosq, void *obj, int mid, int n, const int *granted,
                         const mosquitto_property *props) {
  net_mqtt *m = obj;
  (void)mosq, (void)props;
  char filter[512] = "";
  pthread_mutex_lock(&m->lock);
  for (int i = 0; i < m->n_subs; i++)
    if (m->subs[i].mid == mid) snprintf(filter, sizeof filter, "%s", m->subs[i].filter);
  pthread_mutex_unlock(&m->lock);
  int qos = n > 0 ? granted[0] : 0x80;
  if (qos >= 0x80)
    mlog(m, "mqtt: the broker refused the subscription to %s (reason 0x%02x)", filter, qos);
  else
    mlog(m, "mqtt: subscribed to %s (QoS %d)", filter, qos);
  if (m->cfg.on_subscribed) m->cfg.on_subscribed(m->cfg.user, filter, qos);
}

static void cb_unsubscribe(struct mosquitto *mosq, void *obj, int mid,
                           const mosquitto_property *props) {
  net_mqtt *m = obj;
  (void)mosq, (void)props;
  pthread_mutex_lock(&m->lock);
  for (int i = 0; i < m->n_unsub; i++)
    if (m->unsub_mids[i] == mid) m->unsub_mids[i] = m->unsub_mids[--m->n_unsub];
  pthread_cond_broadcast(&m->cv);
  pthread_mutex_unlock(&m->lock);
}

/* ---- The network thread -------------------------------------------------------- */

static bool stopping(net_mqtt *m) {
  pthread_mutex_lock(&m->lock);
  bool s = m->stopping;
  pthread_mutex_unlock(&m->lock);
  return s;
}

/* Sleeps ms (interrupted by net_mqtt_stop). */
static void backoff_sleep(net_mqtt *m, int ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += ms / 1000;
  until.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
  pthread_mutex_lock(&m->lock);
  while (!m->stopping && pthread_cond_timedwait(&m->cv, &m->lock, &until) != ETIMEDOUT) {
  }
  pthread_mutex_unlock(&m->lock);
}

static void *network_thread(void *arg) {
  net_mqtt *m = arg;
  int delay = m->cfg.reconnect_min_ms;
  while (!stopping(m)) {
    int rc = mosquitto_connect_bind_v5(m->mosq, m->url.host, m->url.port, m->cfg.keepalive_s, NULL,
                                       is_v5(m) ? m->connect_props : NULL);
    bool was_accepted = false;
    if (rc == MOSQ_ERR_SUCCESS) {
      while (!stopping(m)) {
        rc = mosquitto_loop(m->mosq, 200, 1);
        if (net_mqtt_connected(m)) was_accepted = true;
        if (rc != MOSQ_ERR_SUCCESS) break;
      }
      if (stopping(m)) break;
      if (rc != MOSQ_ERR_CONN_REFUSED) {
        /* keep the CONNACK refusal's reason: it says more than "refused" */
        bool have_reason;
        pthread_mutex_lock(&m->lock);
        have_reason = m->last_error[0] && !was_accepted;
        pthread_mutex_unlock(&m->lock);
        if (!have_reason)
          note_error(m, "connection to %s:%d failed: %s", m->url.host, m->url.port,
                     rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
      }
      pthread_mutex_lock(&m->lock);
      m->connected = false;
      pthread_cond_broadcast(&m->cv);
      pthread_mutex_unlock(&m->lock);
    } else {
      note_error(m, "cannot connect to %s:%d: %s", m->url.host, m->url.port,
                 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
    }
    if (was_accepted) delay = m->cfg.reconnect_min_ms;
    /* +-20% jitter, so that a fleet cut off together does not come back in step */
    int jitter = delay / 5
                     ? (int)(rand_r(&m->jitter_seed) % (unsigned)(2 * (delay / 5) + 1)) - delay / 5
                     : 0;
    backoff_sleep(m, delay + jitter);
    delay = delay * 2 > m->cfg.reconnect_max_ms ? m->cfg.reconnect_max_ms : delay * 2;
  }
  /* Stopping: say goodbye (no will), and let the DISCONNECT reach the socket. */
  if (net_mqtt_connected(m)) {
    mosquitto_disconnect_v5(m->mosq, 0, NULL);
    for (int i = 0; i < 20 && mosquitto_loop(m->mosq, 100, 1) == MOSQ_ERR_SUCCESS; i++) {
    }
  }
  return NULL;
}

/* ---- Public functions ------------------------------------------------------------ */

static void free_client(net_mqtt *m) {
  if (m->mosq) mosquitto_destroy(m->mosq);
  mosquitto_property_free_all(&m->connect_props);
  free((void *)m->cfg.url);
  free((void *)m->cfg.client_id);
  free((void *)m->cfg.username);
  free((void *)m->cfg.password);
  free((void *)m->cfg.ca_file);
  free((void *)m->cfg.cert_file);
  free((void *)m->cfg.key_file);
  free((void *)m->cfg.will_topic);
  free((void *)m->cfg.will_payload);
  for (int i = 0; i < m->n_subs; i++) free(m->subs[i].filter);
  free(m->subs);
  free(m->acks);
  free(m->unsub_mids);
  pthread_mutex_destroy(&m->lock);
  pthread_cond_destroy(&m->cv);
  free(m);
}

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void) { mosquitto_lib_init(); }

int net_mqtt_start(const net_mqtt_config *cfg, net_mqtt **out, char *err, size_t err_size) {
  *out = NULL;
  net_mqtt *m = calloc(1, sizeof *m);
  if (!m) {
    set_err(err, err_size, "out of memory");
    return -1;
  }
  pthread_mutex_init(&m->lock, NULL);
  pthread_cond_init(&m->cv, NULL);
  m->cfg = *cfg;
  m->cfg.url = dup_or_null(cfg->url);
  m->cfg.client_id = dup_or_null(cfg->client_id);
  m->cfg.username = dup_or_null(cfg->username);
  m->cfg.password = dup_or_null(cfg->password);
  m->cfg.ca_file = dup_or_null(cfg->ca_file);
  m->cfg.cert_file = dup_or_null(cfg->cert_file);
  m->cfg.key_file = dup_or_null(cfg->key_file);
  m->cfg.will_topic = dup_or_null(cfg->will_topic);
  m->cfg.will_payload = NULL;
  if (cfg->will_topic && cfg->will_len) {
    void *p = malloc(cfg->will_len);
    if (p) memcpy(p, cfg->will_payload, cfg->will_len);
    m->cfg.will_payload = p;
  }
  if (m->cfg.protocol != 5 && m->cfg.protocol != 311) m->cfg.protocol = 5;
  if (m->cfg.keepalive_s < 5) m->cfg.keepalive_s = 5;
  if (m->cfg.reconnect_min_ms < 10) m->cfg.reconnect_min_ms = 10;
  if (m->cfg.reconnect_max_ms < m->cfg.reconnect_min_ms)
    m->cfg.reconnect_max_ms = m->cfg.reconnect_min_ms;
  m->jitter_seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)m;

  int rc;
  if (net_url_parse(cfg->url, "mqtt,mqtts", &m->url, err, err_size)) goto fail_quiet;
  if (!cfg->clean_start && (!cfg->client_id || !cfg->client_id[0])) {
    set_err(err, err_size, "a persistent MQTT session needs a client id");
    goto fail_quiet;
  }
  if (cfg->will_topic && cfg->will_qos != 0 && cfg->will_qos != 1) {
    set_err(err, err_size, "the last will's QoS must be 0 or 1");
    goto fail_quiet;
  }
  pthread_once(&lib_once, lib_init);
  m->mosq = mosquitto_new(m->cfg.client_id && m->cfg.client_id[0] ? m->cfg.client_id : NULL,
                          cfg->clean_start, m);
  if (!m->mosq) {
    set_err(err, err_size, "cannot create an MQTT client: %s", strerror(errno));
    goto fail_quiet;
  }
  mosquitto_threaded_set(m->mosq, true);
  mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION,
                       is_v5(m) ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
  mosquitto_int_option(m->mosq, MOSQ_OPT_RECEIVE_MAXIMUM,
                       cfg->receive_maximum > 0 ? cfg->receive_maximum : 20);
  mosquitto_int_option(m->mosq, MOSQ_OPT_TCP_NODELAY, 1);
  mosquitto_connect_v5_callback_set(m->mosq, cb_connect);
  mosquitto_disconnect_v5_callback_set(m->mosq, cb_disconnect);
  mosquitto_message_v5_callback_set(m->mosq, cb_message);
  mosquitto_publish_v5_callback_set(m->mosq, cb_publish);
  mosquitto_subscribe_v5_callback_set(m->mosq, cb_subscribe);
  mosquitto_unsubscribe_v5_callback_set(m->mosq, cb_unsubscribe);

  const char *user = m->cfg.username ? m->cfg.username : m->url.user[0] ? m->url.user : NULL;
  const char *pass = m->cfg.password      ? m->cfg.password
                     : m->url.password[0] ? m->url.password
                                          : NULL;
  if (user && (rc = mosquitto_username_pw_set(m->mosq, user, pass))) {
    set_err(err, err_size, "MQTT credentials: %s", mosquitto_strerror(rc));
    goto fail_quiet;
  }
  if (m->url.tls) {
    if (!m->cfg.ca_file && m->cfg.cert_file) {
      set_err(err, err_size, "a client certificate needs the CA file of the broker too");
      goto fail_quiet;
    }
    if (!!m->cfg.cert_file != !!m->cfg.key_file) {
      set_err(err, err_size, "a client certificate needs its key (and a key its certificate)");
      goto fail_quiet;
    }
    const char *files[] = {m->cfg.ca_file, m->cfg.cert_file, m->cfg.key_file};
    for (int i = 0; i < 3; i++)
      if (files[i] && access(files[i], R_OK)) {
        set_err(err, err_size, "cannot read %s: %s", files[i], strerror(errno));
        goto fail_quiet;
      }
    if (m->cfg.ca_file)
      rc =
          mosquitto_tls_set(m->mosq, m->cfg.ca_file, NULL, m->cfg.cert_file, m->cfg.key_file, NULL);
    else
      rc = mosquitto_int_option(m->mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
    if (rc) {
      set_err(err, err_size, "MQTT TLS setup: %s", mosquitto_strerror(rc));
      goto fail_quiet;
    }
    if (cfg->tls_insecure) mosquitto_tls_insecure_set(m->mosq, true);
  } else if (m->cfg.cert_file || m->cfg.key_file || m->cfg.ca_file) {
    set_err(err, err_size, "certificates are given but the URL is %s:// (use mqtts://)",
            m->url.scheme);
    goto fail_quiet;
  }
  if (m->cfg.will_topic &&
      (rc = mosquitto_will_set_v5(m->mosq, m->cfg.will_topic, (int)cfg->will_len,
                                  m->cfg.will_payload, cfg->will_qos, cfg->will_retain, NULL))) {
    set_err(err, err_size, "MQTT last will: %s", mosquitto_strerror(rc));
    goto fail_quiet;
  }
  if (is_v5(m) && !cfg->clean_start)
    mosquitto_property_add_int32(&m->connect_props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
                                 cfg->session_expiry_s);
  snprintf(m->last_error, sizeof m->last_error, "not connected to %s:%d yet", m->url.host,
           m->url.port);
  /* *out is set first: callbacks may run (and publish through it) at once */
  *out = m;
  if (pthread_create(&m->thread, NULL, network_thread, m)) {
    *out = NULL;
    set_err(err, err_size, "cannot start the MQTT thread");
    goto fail_quiet;
  }
  m->thread_started = true;
  return 0;
fail_quiet:
  free_client(m);
  return -1;
}

bool net_mqtt_connected(const net_mqtt *m) {
  net_mqtt *mm = (net_mqtt *)m;
  pthread_mutex_lock(&mm->lock);
  bool c = mm->connected;
  pthread_mutex_unlock(&mm->lock);
  return c;
}

static struct timespec deadline_in(int ms) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  t.tv_sec += ms / 1000;
  t.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (t.tv_nsec >= 1000000000L) t.tv_sec++, t.tv_nsec -= 1000000000L;
  return t;
}

int net_mqtt_wait_connected(net_mqtt *m, int timeout_ms, char *err, size_t err_size) {
  struct timespec until = deadline_in(timeout_ms);
  pthread_mutex_lock(&m->lock);
  while (!m->connected && !m->stopping &&
         pthread_cond_timedwait(&m->cv, &m->lock, &until) != ETIMEDOUT) {
  }
  bool ok = m->connected;
  if (!ok) set_err(err, err_size, "%s", m->last_error);
  pthread_mutex_unlock(&m->lock);
  return ok ? 0 : -1;
}

int net_mqtt_subscribe(net_mqtt *m, const char *filter, int qos) {
  if (!filter || !*filter || (qos != 0 && qos != 1) ||
      mosquitto_sub_topic_check2(filter, strlen(filter)))
    return -1;
  pthread_mutex_lock(&m->lock);
  int rc = -1;
  if (grow((void **)&m->subs, &m->cap_subs, m->n_subs + 1, sizeof *m->subs)) {
    subscription *s = &m->subs[m->n_subs];
    s->filter = strdup(filter);
    s->qos = qos;
    s->mid = 0;
    if (s->filter) {
      m->n_subs++;
      if (m->connected) send_subscribe(m, s);
      rc = 0;
    }
  }
  pthread_mutex_unlock(&m->lock);
  return rc;
}

int net_mqtt_unsubscribe(net_mqtt *m, const char *filter, int timeout_ms) {
  pthread_mutex_lock(&m->lock);
  for (int i = 0; i < m->n_subs; i++)
    if (!strcmp(m->subs[i].filter, filter)) {
      free(m->subs[i].filter);
      m->subs[i--] = m->subs[--m->n_subs];
    }
  int mid = 0, rc = -1;
  if (m->connected && mosquitto_unsubscribe_v5(m->mosq, &mid, filter, NULL) == MOSQ_ERR_SUCCESS &&
      grow((void **)&m->unsub_mids, &m->cap_unsub, m->n_unsub + 1, sizeof *m->unsub_mids)) {
    m->unsub_mids[m->n_unsub++] = mid;
    if (pthread_equal(pthread_self(), m->thread)) {
      rc = 0; /* a callback cannot wait for its own thread */
    } else {
      struct timespec until = deadline_in(timeout_ms);
      for (;;) {
        bool waiting = false;
        for (int i = 0; i < m->n_unsub; i++) waiting |= m->unsub_mids[i] == mid;
        if (!waiting) {
          rc = 0;
          break;
        }
        if (!m->connected || pthread_cond_timedwait(&m->cv, &m->lock, &until) == ETIMEDOUT) break;
      }
    }
  }
  pthread_mutex_unlock(&m->lock);
  return rc;
}

char *net_mqtt_shared_filter(char *buf, size_t size, const char *group, const char *filter) {
  int n = group && group[0] ? snprintf(buf, size, "$share/%s/%s", group, filter)
                            : snprintf(buf, size, "%s", filter);
  return n >= 0 && (size_t)n < size ? buf : NULL;
}

int net_mqtt_publish(net_mqtt *m, const char *topic, const void *payload, size_t len, int qos,
                     bool retain, const net_mqtt_props *props, void *ack_ctx, int *mid_out,
                     char *err, size_t err_size) {
  if (qos != 0 && qos != 1) {
    set_err(err, err_size, "QoS %d is not offered (0 or 1)", qos);
    return -1;
  }
  if (len > 268435455u) {
    set_err(err, err_size, "payload of %zu bytes is over MQTT's limit", len);
    return -1;
  }
  mosquitto_property *list = NULL;
  if (is_v5(m) && props_encode(props, &list)) {
    mosquitto_property_free_all(&list);
    set_err(err, err_size, "invalid MQTT 5 properties");
    return -1;
  }
  int mid = 0;
  /* The lock is held across the call so that the PUBACK callback, which may
   * run before mosquitto_publish returns, finds ack_ctx already recorded. */
  pthread_mutex_lock(&m->lock);
  int rc = mosquitto_publish_v5(m->mosq, &mid, topic, (int)len, payload, qos, retain, list);
  /* QoS 1 while disconnected: libmosquitto keeps the message and sends it after
   * the reconnect; for us that is success. */
  if (rc == MOSQ_ERR_NO_CONN && qos == 1 && mid) rc = MOSQ_ERR_SUCCESS;
  if (rc == MOSQ_ERR_SUCCESS && qos == 1) {
    if (grow((void **)&m->acks, &m->cap_acks, m->n_acks + 1, sizeof *m->acks))
      m->acks[m->n_acks++] = (pending_ack){mid, ack_ctx};
  }
  pthread_mutex_unlock(&m->lock);
  mosquitto_property_free_all(&list);
  if (rc != MOSQ_ERR_SUCCESS) {
    set_err(err, err_size, "cannot publish to %s: %s", topic, mosquitto_strerror(rc));
    return -1;
  }
  if (mid_out) *mid_out = mid;
  return 0;
}

int net_mqtt_unacked(net_mqtt *m) {
  pthread_mutex_lock(&m->lock);
  int n = m->n_acks;
  pthread_mutex_unlock(&m->lock);
  return n;
}

int net_mqtt_flush(net_mqtt *m, int timeout_ms) {
  struct timespec until = deadline_in(timeout_ms);
  pthread_mutex_lock(&m->lock);
  while (m->n_acks > 0 && !m->stopping &&
         pthread_cond_timedwait(&m->cv, &m->lock, &until) != ETIMEDOUT) {
  }
  int n = m->n_acks;
  pthread_mutex_unlock(&m->lock);
  return n ? -1 : 0;
}

void net_mqtt_stop(net_mqtt *m, int flush_ms) {
  if (!m) return;
  if (flush_ms > 0 && net_mqtt_connected(m)) net_mqtt_flush(m, flush_ms);
  pthread_mutex_lock(&m->lock);
  m->stopping = true;
  pthread_cond_broadcast(&m->cv);
  pthread_mutex_unlock(&m->lock);
  if (m->thread_started) pthread_join(m->thread, NULL);
  free_client(m);
}
