/* test_net_mqtt.c: src/net/url and src/net/mqtt against a real Mosquitto
 * broker on a loopback port (started and stopped here, persistence in a
 * temporary folder):
 *   URLs, good and bad; MQTT 5 properties both ways; the PUBACK callback with
 *   its context; a persistent session collecting QoS 1 messages while its
 *   client is away; a broker restart with a QoS 1 publish queued while it is
 *   down (delivered and acknowledged after the reconnect); the last will of a
 *   client that dies without DISCONNECT (a child process that _exits); a
 *   process that dies inside on_message gets the message again (libmosquitto
 *   acknowledges only after the callback);
 *   unsubscribe; MQTT 3.1.1; a refused connection explained; stop while the
 *   broker is unreachable. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "net/mqtt.h"
#include "net/url.h"

/* ---- A Mosquitto broker of our own -------------------------------------------------- */

static char workdir[256];
static int broker_port;
static pid_t broker_pid;

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &len))
    return -1;
  close(fd);
  return ntohs(a.sin_port);
}

static bool port_open(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

static void sleep_ms(int ms) {
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) && errno == EINTR) {
  }
}

static bool broker_start(void) {
  char conf[512], log[512];
  snprintf(conf, sizeof conf, "%s/broker.conf", workdir);
  snprintf(log, sizeof log, "%s/broker.log", workdir);
  FILE *f = fopen(conf, "w");
  if (!f) return false;
  const char *user = getenv("USER");
  fprintf(
      f,
      "listener %d 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\n",
      broker_port, workdir);
  if (getuid() == 0) fprintf(f, "user %s\n", user && *user ? user : "root");
  fclose(f);
  broker_pid = fork();
  if (broker_pid == 0) {
    /* the broker goes when this test goes, even by a crash, and holds none of
     * its pipes (ctest would wait for them) */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    FILE *out = freopen(log, "a", stderr);
    out = freopen(log, "a", stdout);
    (void)out;
    execlp("mosquitto", "mosquitto", "-c", conf, (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 400; i++) {
    if (port_open(broker_port)) return true;
    sleep_ms(25);
  }
  return false;
}

static void broker_stop(void) {
  if (broker_pid <= 0) return;
  kill(broker_pid, SIGTERM); /* SIGTERM: mosquitto saves its persistence file */
  waitpid(broker_pid, NULL, 0);
  broker_pid = 0;
}

/* ---- What a client saw ---------------------------------------------------------------- */

typedef struct seen_msg {
  char topic[128];
  char payload[256];
  size_t len;
  int qos;
  char response_topic[128];
  char correlation[64];
  size_t correlation_len;
  char content_type[64];
  char user[4][2][32];
  int n_user;
} seen_msg;

typedef struct observer {
  pthread_mutex_t lock;
  seen_msg msgs[64];
  int n_msgs;
  int connects, session_present;
  int acks;
  void *ack_ctx[64];
  int ack_reason[64];
  int subacks, suback_qos;
} observer;

static void obs_message(void *user, const net_mqtt_message *m) {
  observer *o = user;
  pthread_mutex_lock(&o->lock);
  if (o->n_msgs < 64) {
    seen_msg *s = &o->msgs[o->n_msgs++];
    memset(s, 0, sizeof *s);
    snprintf(s->topic, sizeof s->topic, "%s", m->topic);
    s->len = m->len < sizeof s->payload ? m->len : sizeof s->payload - 1;
    memcpy(s->payload, m->payload, s->len);
    s->qos = m->qos;
    if (m->props.response_topic)
      snprintf(s->response_topic, sizeof s->response_topic, "%s", m->props.response_topic);
    if (m->props.content_type)
      snprintf(s->content_type, sizeof s->content_type, "%s", m->props.content_type);
    if (m->props.correlation_len && m->props.correlation_len <= sizeof s->correlation) {
      memcpy(s->correlation, m->props.correlation, m->props.correlation_len);
      s->correlation_len = m->props.correlation_len;
    }
    for (int i = 0; i < m->props.n_user && i < 4; i++) {
      snprintf(s->user[i][0], 32, "%s", m->props.user[i].name);
      snprintf(s->user[i][1], 32, "%s", m->props.user[i].value);
      s->n_user++;
    }
  }
  pthread_mutex_unlock(&o->lock);
}

static void obs_connect(void *user, bool session_present) {
  observer *o = user;
  pthread_mutex_lock(&o->lock);
  o->connects++;
  o->session_present = session_present;
  pthread_mutex_unlock(&o->lock);
}

static void obs_published(void *user, int mid, void *ctx, int reason) {
  observer *o = user;
  (void)mid;
  pthread_mutex_lock(&o->lock);
  if (o->acks < 64) {
    o->ack_ctx[o->acks] = ctx;
    o->ack_reason[o->acks] = reason;
  }
  o->acks++;
  pthread_mutex_unlock(&o->lock);
}

static void obs_subscribed(void *user, const char *filter, int qos) {
  observer *o = user;
  (void)filter;
  pthread_mutex_lock(&o->lock);
  o->subacks++;
  o->suback_qos = qos;
  pthread_mutex_unlock(&o->lock);
}

static int obs_count(observer *o, int *field) {
  pthread_mutex_lock(&o->lock);
  int n = *field;
  pthread_mutex_unlock(&o->lock);
  return n;
}

/* Waits (at most 20 s, a hang guard, not a timing claim) until *field >= n. */
static bool wait_for(observer *o, int *field, int n) {
  for (int i = 0; i < 2000; i++) {
    if (obs_count(o, field) >= n) return true;
    sleep_ms(10);
  }
  return false;
}

static bool has_payload(observer *o, const char *payload) {
  pthread_mutex_lock(&o->lock);
  bool found = false;
  for (int i = 0; i < o->n_msgs; i++) found |= !strcmp(o->msgs[i].payload, payload);
  pthread_mutex_unlock(&o->lock);
  return found;
}

static bool wait_for_payload(observer *o, const char *payload) {
  for (int i = 0; i < 2000; i++) {
    if (has_payload(o, payload)) return true;
    sleep_ms(10);
  }
  return false;
}

static net_mqtt *client(observer *o, const char *id, bool clean, int protocol) {
  char url[64], err[300];
  snprintf(url, sizeof url, "mqtt://127.0.0.1:%d", broker_port);
  net_mqtt_config c;
  net_mqtt_config_init(&c);
  c.url = url;
  c.client_id = id;
  c.clean_start = clean;
  c.protocol = protocol;
  c.reconnect_min_ms = 50;
  c.reconnect_max_ms = 400;
  c.user = o;
  c.on_message = obs_message;
  c.on_connect = obs_connect;
  c.on_published = obs_published;
  c.on_subscribed = obs_subscribed;
  net_mqtt *m = NULL;
  if (net_mqtt_start(&c, &m, err, sizeof err) ||
      net_mqtt_wait_connected(m, 20000, err, sizeof err)) {
    fprintf(stderr, "client %s: %s\n", id, err);
    net_mqtt_stop(m, 0);
    return NULL;
  }
  return m;
}

static void obs_init(observer *o) {
  memset(o, 0, sizeof *o);
  pthread_mutex_init(&o->lock, NULL);
}

/* ---- The will child: connects with a last will, then dies without DISCONNECT --------- */

static int will_child(int port) {
  char url[64], err[300];
  snprintf(url, sizeof url, "mqtt://127.0.0.1:%d", port);
  net_mqtt_config c;
  net_mqtt_config_init(&c);
  c.url = url;
  c.client_id = "will-child";
  c.will_topic = "t/will";
  c.will_payload = "gone";
  c.will_len = 4;
  c.will_qos = 1;
  net_mqtt *m;
  if (net_mqtt_start(&c, &m, err, sizeof err) ||
      net_mqtt_wait_connected(m, 20000, err, sizeof err)) {
    fprintf(stderr, "will child: %s\n", err);
    _exit(2);
  }
  _exit(0); /* no DISCONNECT: the broker must publish the will */
}

/* ---- The crash child: dies inside on_message; the broker must send the message again ----- */

static void crash_on_message(void *user, const net_mqtt_message *m) {
  (void)user, (void)m;
  _exit(3); /* before the callback returns: no PUBACK may have left */
}

static void crash_on_subscribed(void *user, const char *filter, int qos) {
  (void)user, (void)filter, (void)qos;
  printf("subscribed\n");
  fflush(stdout);
}

static int crash_child(int port) {
  char url[64], err[300];
  snprintf(url, sizeof url, "mqtt://127.0.0.1:%d", port);
  net_mqtt_config c;
  net_mqtt_config_init(&c);
  c.url = url;
  c.client_id = "crashy";
  c.clean_start = false;
  c.on_message = crash_on_message;
  c.on_subscribed = crash_on_subscribed;
  net_mqtt *m;
  if (net_mqtt_start(&c, &m, err, sizeof err) ||
      net_mqtt_wait_connected(m, 20000, err, sizeof err)) {
    fprintf(stderr, "crash child: %s\n", err);
    _exit(2);
  }
  net_mqtt_subscribe(m, "t/crash", 1);
  sleep(30);
  _exit(4); /* the message never came */
}

/* ---- Tests ------------------------------------------------------------------------------ */

static void test_urls(void) {
  net_url u;
  char err[300];
  CHECK(net_url_parse("mqtt://127.0.0.1:1884", "mqtt,mqtts", &u, err, sizeof err) == 0);
  CHECK(!strcmp(u.host, "127.0.0.1") && u.port == 1884 && !u.tls && !strcmp(u.scheme, "mqtt"));
  CHECK(net_url_parse("MQTTS://broker.example", "mqtt,mqtts", &u, err, sizeof err) == 0);
  CHECK(!strcmp(u.host, "broker.example") && u.port == 8883 && u.tls);
  CHECK(net_url_parse("mqtt://[::1]:1883/x?y", NULL, &u, err, sizeof err) == 0);
  CHECK(!strcmp(u.host, "::1") && u.port == 1883 && !strcmp(u.path, "/x?y"));
  CHECK(net_url_parse("mqtts://dev:p@ss@host", NULL, &u, err, sizeof err) == 0);
  CHECK(!strcmp(u.user, "dev") && !strcmp(u.password, "p@ss") && !strcmp(u.host, "host"));
  CHECK(net_url_parse("https://h", NULL, &u, err, sizeof err) == 0 && u.port == 443 && u.tls);
  const char *bad[] = {
      "",           "127.0.0.1:1883", "http://h",      "mqtt://",         "mqtt://h:",
      "mqtt://h:0", "mqtt://h:65536", "mqtt://h:12ab", "mqtt://::1:1883", "mqtt://[::1",
      "mqtt://h h", "gopher://h"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = 0;
    int rc = net_url_parse(bad[i], "mqtt,mqtts", &u, err, sizeof err);
    CHECK(rc == -1 && err[0]);
    if (rc == 0) fprintf(stderr, "accepted bad URL '%s'\n", bad[i]);
  }
  CHECK(net_url_parse(NULL, NULL, &u, err, sizeof err) == -1);
}

static void test_config_errors(void) {
  char err[300] = "";
  net_mqtt *m = NULL;
  net_mqtt_config c;
  net_mqtt_config_init(&c);
  c.url = "mqtt://127.0.0.1:1";
  c.clean_start = false; /* persistent without a client id */
  CHECK(net_mqtt_start(&c, &m, err, sizeof err) == -1 && m == NULL && strstr(err, "client id"));
  net_mqtt_config_init(&c);
  c.url = "mqtts://127.0.0.1:1";
  c.ca_file = "/nonexistent/ca.pem";
  CHECK(net_mqtt_start(&c, &m, err, sizeof err) == -1 && strstr(err, "/nonexistent/ca.pem"));
  net_mqtt_config_init(&c);
  c.url = "mqtt://127.0.0.1:1";
  c.ca_file = "/etc/hostname";
  CHECK(net_mqtt_start(&c, &m, err, sizeof err) == -1 && strstr(err, "mqtts"));
  net_mqtt_config_init(&c);
  c.url = "tcp://127.0.0.1:1";
  CHECK(net_mqtt_start(&c, &m, err, sizeof err) == -1 && strstr(err, "tcp"));
}

static void test_refused_and_stop(void) {
  /* nothing listens there: the wait explains why, stop returns while retrying */
  char url[64], err[300] = "";
  snprintf(url, sizeof url, "mqtt://127.0.0.1:%d", free_port());
  net_mqtt_config c;
  net_mqtt_config_init(&c);
  c.url = url;
  c.reconnect_min_ms = 20;
  net_mqtt *m = NULL;
  CHECK(net_mqtt_start(&c, &m, err, sizeof err) == 0);
  if (!m) return;
  CHECK(net_mqtt_wait_connected(m, 500, err, sizeof err) == -1);
  CHECK(strstr(err, "127.0.0.1") != NULL);
  fprintf(stderr, "refused as expected: %s\n", err);
  CHECK(!net_mqtt_connected(m));
  CHECK(net_mqtt_publish(m, "t/x", "a", 1, 0, false, NULL, NULL, NULL, err, sizeof err) ==
        -1); /* QoS 0 offline */
  net_mqtt_stop(m, 1000);
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "--will-child")) return will_child(atoi(argv[2]));
  if (argc == 3 && !strcmp(argv[1], "--crash-child")) return crash_child(atoi(argv[2]));
  signal(SIGPIPE, SIG_IGN);
  test_urls();
  test_config_errors();
  test_refused_and_stop();

  snprintf(workdir, sizeof workdir, "%s/ledge-net-mqtt.XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(workdir)) return fprintf(stderr, "mkdtemp: %s\n", strerror(errno)), 1;
  broker_port = free_port();
  CHECK(broker_start());

  /* ---- MQTT 5 properties both ways, PUBACK with its context ---- */
  observer so, po;
  obs_init(&so);
  obs_init(&po);
  net_mqtt *sub = client(&so, "net-test-sub", false, 5);
  net_mqtt *pub = client(&po, "net-test-pub", true, 5);
  CHECK(sub && pub);
  if (!sub || !pub) goto out;
  CHECK(net_mqtt_subscribe(sub, "t/req", 1) == 0);
  CHECK(net_mqtt_subscribe(sub, "t/will", 1) == 0);
  CHECK(net_mqtt_subscribe(sub, "bad/#/filter", 1) == -1);
  CHECK(net_mqtt_subscribe(sub, "t/q2", 2) == -1);
  CHECK(wait_for(&so, &so.subacks, 2) && so.suback_qos == 1);
  static const char corr[] = {'c', 0, 'r', 1};
  net_mqtt_props props = {.response_topic = "t/reply/1",
                          .correlation = corr,
                          .correlation_len = sizeof corr,
                          .content_type = "image/jpeg",
                          .user = {{"device", "cam-7"}, {"seq", "42"}},
                          .n_user = 2};
  int marker = 0, mid = 0;
  char err[300];
  CHECK(net_mqtt_publish(pub, "t/req", "hello", 5, 1, false, &props, &marker, &mid, err,
                         sizeof err) == 0);
  CHECK(mid > 0);
  CHECK(wait_for(&so, &so.n_msgs, 1));
  CHECK(wait_for(&po, &po.acks, 1));
  CHECK(po.ack_ctx[0] == &marker && po.ack_reason[0] == 0);
  CHECK(net_mqtt_unacked(pub) == 0);
  seen_msg *s = &so.msgs[0];
  CHECK(!strcmp(s->topic, "t/req") && s->len == 5 && !memcmp(s->payload, "hello", 5) &&
        s->qos == 1);
  CHECK(!strcmp(s->response_topic, "t/reply/1") && !strcmp(s->content_type, "image/jpeg"));
  CHECK(s->correlation_len == sizeof corr && !memcmp(s->correlation, corr, sizeof corr));
  CHECK(s->n_user == 2 && !strcmp(s->user[0][0], "device") && !strcmp(s->user[0][1], "cam-7") &&
        !strcmp(s->user[1][0], "seq") && !strcmp(s->user[1][1], "42"));

  /* ---- last will of a client that vanishes ---- */
  {
    char port[16];
    snprintf(port, sizeof port, "%d", broker_port);
    pid_t child = fork();
    if (child == 0) {
      execl("/proc/self/exe", argv[0], "--will-child", port, (char *)NULL);
      _exit(127);
    }
    int status = 0;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(wait_for(&so, &so.n_msgs, 2));
    CHECK(!strcmp(so.msgs[1].topic, "t/will") && so.msgs[1].len == 4 &&
          !memcmp(so.msgs[1].payload, "gone", 4));
  }

  /* ---- a process killed inside on_message gets the message again ---- */
  {
    char port[16];
    snprintf(port, sizeof port, "%d", broker_port);
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t child = fork();
    if (child == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      execl("/proc/self/exe", argv[0], "--crash-child", port, (char *)NULL);
      _exit(127);
    }
    close(fds[1]);
    char line[32] = "";
    ssize_t got = read(fds[0], line, sizeof line - 1); /* "subscribed" */
    close(fds[0]);
    CHECK(got > 0 && !strncmp(line, "subscribed", 10));
    CHECK(net_mqtt_publish(pub, "t/crash", "again", 5, 1, false, NULL, NULL, NULL, err,
                           sizeof err) == 0);
    int status = 0;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);
    observer oc;
    obs_init(&oc);
    net_mqtt *back = client(&oc, "crashy", false, 5);
    CHECK(back != NULL);
    CHECK(back && wait_for_payload(&oc, "again"));
    net_mqtt_stop(back, 1000);
  }

  /* ---- persistent session: messages published while the subscriber is away ---- */
  net_mqtt_stop(sub, 1000);
  sub = NULL;
  for (int i = 0; i < 5; i++) {
    char body[16];
    int n = snprintf(body, sizeof body, "away-%d", i);
    CHECK(net_mqtt_publish(pub, "t/req", body, (size_t)n, 1, false, NULL, NULL, NULL, err,
                           sizeof err) == 0);
  }
  CHECK(net_mqtt_flush(pub, 20000) == 0); /* the broker holds them now */
  observer so2;
  obs_init(&so2);
  sub = client(&so2, "net-test-sub", false,
               5); /* same id: the session comes back, subscriptions too */
  CHECK(sub != NULL);
  if (!sub) goto out;
  CHECK(wait_for(&so2, &so2.n_msgs, 5));
  CHECK(so2.session_present == 1);
  for (int i = 0; i < 5 && i < so2.n_msgs; i++) {
    char body[16];
    snprintf(body, sizeof body, "away-%d", i);
    CHECK(!strcmp(so2.msgs[i].payload, body));
  }

  /* ---- broker restart: a QoS 1 publish queued while it is down ---- */
  broker_stop();
  for (int i = 0; i < 500 && (net_mqtt_connected(pub) || net_mqtt_connected(sub)); i++)
    sleep_ms(10);
  CHECK(!net_mqtt_connected(pub));
  int marker2 = 0, acks_before = obs_count(&po, &po.acks);
  CHECK(net_mqtt_publish(pub, "t/req", "while-down", 10, 1, false, NULL, &marker2, NULL, err,
                         sizeof err) == 0);
  CHECK(net_mqtt_unacked(pub) == 1);
  CHECK(broker_start());
  /* QoS 1 is at least once: the restarted broker may repeat an "away" message
   * whose PUBACK it had not saved, so look for ours rather than count. */
  CHECK(wait_for_payload(&so2, "while-down"));
  CHECK(wait_for(&po, &po.acks, acks_before + 1));
  CHECK(po.ack_ctx[acks_before] == &marker2 && po.ack_reason[acks_before] == 0);
  CHECK(obs_count(&so2, &so2.connects) >= 2);

  /* ---- unsubscribe: nothing more arrives ---- */
  CHECK(net_mqtt_unsubscribe(sub, "t/req", 20000) == 0);
  CHECK(net_mqtt_publish(pub, "t/req", "late", 4, 1, false, NULL, NULL, NULL, err, sizeof err) ==
        0);
  CHECK(net_mqtt_publish(pub, "t/will", "marker", 6, 1, false, NULL, NULL, NULL, err, sizeof err) ==
        0);
  CHECK(wait_for_payload(&so2, "marker"));
  CHECK(!has_payload(&so2, "late")); /* published before "marker", on the same connection */

  /* ---- MQTT 3.1.1: no properties travel, the payload does ---- */
  {
    observer o3;
    obs_init(&o3);
    net_mqtt *old = client(&o3, "net-test-311", true, 311);
    CHECK(old != NULL);
    if (old) {
      CHECK(net_mqtt_subscribe(old, "t/311", 1) == 0);
      CHECK(wait_for(&o3, &o3.subacks, 1));
      CHECK(net_mqtt_publish(pub, "t/311", "v5-to-311", 9, 1, false, &props, NULL, NULL, err,
                             sizeof err) == 0);
      CHECK(wait_for(&o3, &o3.n_msgs, 1));
      CHECK(!strcmp(o3.msgs[0].payload, "v5-to-311") && !o3.msgs[0].response_topic[0]);
      net_mqtt_stop(old, 1000);
    }
  }

out:
  net_mqtt_stop(sub, 1000);
  net_mqtt_stop(pub, 1000);
  broker_stop();
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", workdir);
  if (system(cmd)) {
  }
  return harness_finish("serve.net_mqtt");
}
