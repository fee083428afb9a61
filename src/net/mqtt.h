/*
 * net/mqtt.h: one MQTT connection (libmosquitto underneath) for the parts of
 * ledge that talk to a broker: the `ledge serve` MQTT worker and the edge
 * agent `ledged`.
 *
 * What it does for you:
 *  - connects to mqtt://HOST:PORT or mqtts://HOST:PORT (CA, client
 *    certificate and key), MQTT 5 or 3.1.1, with a clean or a persistent
 *    session under a fixed client id;
 *  - keeps the connection up: on a refusal or a lost connection it retries
 *    with exponential backoff (reconnect_min_ms doubling up to
 *    reconnect_max_ms, +-20% jitter so a fleet does not reconnect in step),
 *    and resubscribes everything net_mqtt_subscribe() was given;
 *  - decodes the MQTT 5 properties a request/response protocol needs
 *    (response topic, correlation data, content type, user properties, message
 *    expiry) on the way in and encodes them on the way out;
 *  - tells you when a QoS 1 message you published has been acknowledged by the
 *    broker (PUBACK), with a pointer you chose at publish time, so a durable
 *    outbox can delete an entry only once the broker owns it;
 *  - a last will, published by the broker if the connection dies uncleanly;
 *  - a stop that any thread (not a callback) may call once.
 *
 * Threads. net_mqtt_start() starts one network thread per connection; every
 * callback runs on it, one at a time. Publish, subscribe and unsubscribe may
 * be called from any thread, including from callbacks. A callback that blocks
 * stalls the connection (keepalives included): hand slow work to a worker.
 *
 * Delivery, precisely (see docs/serve.md, "What survives a crash"):
 *  - Incoming QoS 1: the callback runs before libmosquitto acknowledges the
 *    message, and the acknowledgement leaves only after the callback returns.
 *    A process killed inside the callback gets the message again (from a
 *    persistent session). Once the callback has returned the broker considers
 *    the message delivered: anything the application has not made durable by
 *    then is lost on SIGKILL. libmosquitto 2.0 has no manual acknowledgement.
 *  - Outgoing QoS 1: a message is kept in this process's memory until the
 *    broker acknowledges it, and resent (flagged DUP) after a reconnect, even
 *    a reconnect with a new TCP connection; it is lost if this process dies
 *    first. Hence on_published: delete your durable copy there, not before.
 *  - QoS 2 is not offered: managed IoT brokers do not accept it.
 *
 * Typical use (an inference worker):
 *
 *   net_mqtt_config c;
 *   net_mqtt_config_init(&c);
 *   c.url = "mqtts://broker:8883"; c.ca_file = "ca.pem";
 *   c.cert_file = "dev.pem"; c.key_file = "dev.key";
 *   c.client_id = "worker-1"; c.clean_start = false;
 *   c.on_message = on_request; c.user = &app;
 *   net_mqtt *m;
 *   if (net_mqtt_start(&c, &m, err, sizeof err) ||
 *       net_mqtt_wait_connected(m, 10000, err, sizeof err)) die(err);
 *   net_mqtt_subscribe(m, "$share/ledge/ledge/infer/tiny/request", 1);
 *   ...
 *   net_mqtt_publish(m, reply_topic, body, len, 1, false, &props, NULL, NULL);
 *   ...
 *   net_mqtt_stop(m, 2000);
 */
#ifndef LEDGE_NET_MQTT_H
#define LEDGE_NET_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct net_mqtt net_mqtt;

#define NET_MQTT_MAX_USER_PROPS 16

typedef struct net_mqtt_user_prop {
  const char *name, *value;
} net_mqtt_user_prop;

/* MQTT 5 properties of a PUBLISH. All optional (NULL / 0); ignored over
 * MQTT 3.1.1, where a request/response protocol must carry them in the
 * payload instead. */
typedef struct net_mqtt_props {
  const char *response_topic;
  const void *correlation;
  size_t correlation_len; /* at most 65535 */
  const char *content_type;
  uint32_t message_expiry_s; /* 0: never expires */
  bool payload_utf8;         /* payload format indicator: UTF-8 text */
  net_mqtt_user_prop user[NET_MQTT_MAX_USER_PROPS];
  int n_user;
} net_mqtt_props;

/* A received message; everything in it is valid only during the callback. */
typedef struct net_mqtt_message {
  const char *topic; /* the topic it was published to (not the $share filter) */
  const void *payload;
  size_t len;
  int qos;
  bool retain;
  int mid;              /* the packet id (QoS 1), for logs */
  net_mqtt_props props; /* user properties beyond NET_MQTT_MAX_USER_PROPS are dropped */
} net_mqtt_message;

typedef struct net_mqtt_config {
  const char *url;           /* mqtt://HOST[:1883] or mqtts://HOST[:8883]; user:password@ allowed */
  const char *client_id;     /* required when clean_start is false */
  int protocol;              /* 5 (default) or 311 */
  bool clean_start;          /* false: persistent session (subscriptions and queued QoS 1 kept) */
  uint32_t session_expiry_s; /* MQTT 5, persistent sessions: how long the broker keeps it (default 1
                                day) */
  int keepalive_s;           /* default 30 */
  const char *username, *password; /* override the URL's */
  /* TLS (mqtts): ca_file verifies the broker (default: the system's CAs);
   * cert_file + key_file authenticate this client. */
  const char *ca_file, *cert_file, *key_file;
  bool tls_insecure; /* skip the broker's host name check (tests with IP certs only) */
  int reconnect_min_ms, reconnect_max_ms; /* default 500 and 30000 */
  int receive_maximum; /* MQTT 5: unacknowledged QoS 1 messages the broker may send at once (0: 20)
                        */
  /* Last will: published by the broker when this client vanishes without DISCONNECT. */
  const char *will_topic;
  const void *will_payload;
  size_t will_len;
  int will_qos;
  bool will_retain;

  /* Callbacks, all on the network thread; any may be NULL. */
  void *user;
  void (*on_message)(void *user, const net_mqtt_message *msg);
  /* CONNACK accepted; session_present: the broker still had our session. */
  void (*on_connect)(void *user, bool session_present);
  /* The connection went away (reason: a libmosquitto/MQTT reason, 0 when we
   * disconnected on purpose). Reconnection is automatic. */
  void (*on_disconnect)(void *user, int reason);
  /* A QoS 1 publish was acknowledged (reason_code 0), or refused by the broker
   * (MQTT 5 reason code >= 0x80: not authorized, quota exceeded, ...). For
   * QoS 0 it is called once the message is written to the socket. `ack_ctx`
   * is what was given to net_mqtt_publish. Not called for messages still
   * unacknowledged at net_mqtt_stop. */
  void (*on_published)(void *user, int mid, void *ack_ctx, int reason_code);
  /* A SUBACK: granted_qos is 0/1, or >= 0x80 when the broker refused the filter. */
  void (*on_subscribed)(void *user, const char *filter, int granted_qos);
  /* One-line human-readable events: connected, refused, lost, subscribe failures. */
  void (*on_log)(void *user, const char *line);
} net_mqtt_config;

void net_mqtt_config_init(net_mqtt_config *cfg);

/* Validates the configuration, sets up TLS and starts the network thread,
 * which connects in the background (and keeps retrying). The strings in cfg
 * are copied. *out is set before the thread starts, so callbacks (which may
 * run before this returns: a resumed session delivers at once) can use it. Returns 0, or -1 with a
 * one-line reason (bad URL, unreadable certificate, ...). Does not wait for the broker: see
 * net_mqtt_wait_connected. */
int net_mqtt_start(const net_mqtt_config *cfg, net_mqtt **out, char *err, size_t err_size);

/* Waits until the broker has accepted the connection (CONNACK success).
 * Returns 0, or -1 after timeout_ms with the last reason the connection failed
 * ("connection refused: not authorized", "TLS handshake failed", ...). */
int net_mqtt_wait_connected(net_mqtt *m, int timeout_ms, char *err, size_t err_size);
bool net_mqtt_connected(const net_mqtt *m);

/* Subscribes now (when connected) and after every reconnect. qos 0 or 1.
 * A shared subscription is just a filter: see net_mqtt_shared_filter.
 * Returns 0, or -1 for an invalid filter or qos. */
int net_mqtt_subscribe(net_mqtt *m, const char *filter, int qos);

/* Forgets the filter and unsubscribes; waits up to timeout_ms for the broker's
 * UNSUBACK (so nothing new arrives for it afterwards) unless called from a
 * callback. Returns 0, or -1 if not acknowledged in time (not connected). */
int net_mqtt_unsubscribe(net_mqtt *m, const char *filter, int timeout_ms);

/* "$share/<group>/<filter>" into buf (or filter itself when group is NULL or
 * empty). Returns buf, or NULL when it does not fit. */
char *net_mqtt_shared_filter(char *buf, size_t size, const char *group, const char *filter);

/* Publishes at qos 0 or 1. props may be NULL. For QoS 1 the message is
 * queued even while disconnected and sent after the reconnect; on_published
 * reports its PUBACK with ack_ctx. *mid (may be NULL) gets the packet id.
 * Returns 0, or -1 with a reason (payload over the broker's maximum packet
 * size, invalid topic, QoS 0 while disconnected, ...). */
int net_mqtt_publish(net_mqtt *m, const char *topic, const void *payload, size_t len, int qos,
                     bool retain, const net_mqtt_props *props, void *ack_ctx, int *mid, char *err,
                     size_t err_size);

/* QoS 1 messages published and not yet acknowledged. */
int net_mqtt_unacked(net_mqtt *m);

/* Waits until every QoS 1 publish so far is acknowledged; 0, or -1 after timeout_ms. */
int net_mqtt_flush(net_mqtt *m, int timeout_ms);

/* Stops: waits up to flush_ms for outgoing QoS 1 acknowledgements, sends
 * DISCONNECT (the will is not published), joins the network thread and frees
 * everything. Call once, from any thread but the network thread (never from a
 * callback). NULL is fine. */
void net_mqtt_stop(net_mqtt *m, int flush_ms);

#endif
