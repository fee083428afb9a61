/* agent_sink.c: events to ledged's durable outbox over its datagram socket. */
#include "pipeline/agent_sink.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct agent_sink {
  int fd;
  struct sockaddr_un agent;
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int agent_sink_open(const char *socket_path, agent_sink **out, char *err, size_t err_size) {
  agent_sink *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, err_size, "out of memory");
    return -1;
  }
  s->agent.sun_family = AF_UNIX;
  if (strlen(socket_path) >= sizeof s->agent.sun_path) {
    snprintf(err, err_size, "agent socket path is too long: %s", socket_path);
    free(s);
    return -1;
  }
  snprintf(s->agent.sun_path, sizeof s->agent.sun_path, "%s", socket_path);
  s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  /* An autobound (abstract) address of our own, so the agent can answer. */
  struct sockaddr_un self = {.sun_family = AF_UNIX};
  if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&self, sizeof(sa_family_t))) {
    snprintf(err, err_size, "agent socket: %s", strerror(errno));
    if (s->fd >= 0) close(s->fd);
    free(s);
    return -1;
  }
  *out = s;
  return 0;
}

int agent_sink_emit(agent_sink *s, const char *suffix, int priority, const char *json,
                    int timeout_ms, char *err, size_t err_size) {
  size_t size = strlen(suffix) + strlen(json) + 16;
  char *buf = malloc(size);
  if (!buf) {
    snprintf(err, err_size, "out of memory");
    return -1;
  }
  int n = snprintf(buf, size, "%s %d\n%s", suffix, priority, json);
  double end = now_s() + timeout_ms / 1000.0;
  int rc = -1;
  /* A datagram on a Unix socket is not lost: it waits in the agent's queue
   * while the agent is busy (activating a deployment, say), so one send is
   * waited for patiently. It is sent again only when no answer comes in 5 s
   * (the agent restarted and its socket is new) or the socket is not there
   * yet; a duplicate then is harmless (consumers deduplicate by event_id). */
  while (rc && now_s() < end) {
    ssize_t w = sendto(s->fd, buf, (size_t)n, 0, (struct sockaddr *)&s->agent, sizeof s->agent);
    if (w < 0) {
      if (errno != EAGAIN && errno != ENOBUFS && errno != ECONNREFUSED && errno != ENOENT) {
        snprintf(err, err_size, "agent socket %s: %s", s->agent.sun_path, strerror(errno));
        break;
      }
      poll(NULL, 0, 50);
      continue;
    }
    struct pollfd p = {s->fd, POLLIN, 0};
    int wait_ms = (int)((end - now_s()) * 1000);
    if (wait_ms > 5000) wait_ms = 5000;
    if (wait_ms < 1) wait_ms = 1;
    if (poll(&p, 1, wait_ms) == 1) {
      char reply[128];
      ssize_t r = recv(s->fd, reply, sizeof reply - 1, 0);
      if (r > 0) {
        reply[r] = 0;
        if (!strncmp(reply, "ok", 2)) {
          rc = 0;
        } else {
          snprintf(err, err_size, "the agent refused the event: %.100s", reply);
          break;
        }
      }
    }
  }
  if (rc && !err[0])
    snprintf(err, err_size, "the agent at %s did not confirm the event", s->agent.sun_path);
  free(buf);
  return rc;
}

void agent_sink_close(agent_sink *s) {
  if (!s) return;
  close(s->fd);
  free(s);
}
