/* agent.h: ledged, the edge agent: its state and the pieces of its main loop.
 * Internal to src/agent; tools/ledged.c calls ledged_main. */
#ifndef LEDGE_AGENT_AGENT_H
#define LEDGE_AGENT_AGENT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/config.h"
#include "agent/crypto.h"
#include "agent/outbox.h"
#include "agent/recipe.h"
#include "agent/upload.h"

/* ledged's entry point (argv as given to main). */
int ledged_main(int argc, char **argv);

typedef struct ag_link ag_link;

/* A supervised run process of one component. */
typedef struct ag_child {
  char component[65];
  char dir[1024];
  char cmd[1024];
  char recover_cmd[1024];
  double shutdown_timeout_s;
  pid_t pid;      /* 0 while waiting to restart */
  double started; /* monotonic time of the last start */
  double restart_at;
  int crashes; /* consecutive crashes without a run that lasted */
  double backoff_s;
  bool broken; /* three crashes without recovery */
} ag_child;

/* One deployment as the agent keeps it: the signed envelope (the source of
 * truth, re-verified when read back) and what it parsed to. */
typedef struct ag_held {
  bool present;
  char *envelope;
  ag_deployment *d; /* heap: a deployment is large and most slots are empty */
} ag_held;

typedef struct ag_agent {
  ag_config config;
  ag_key *fleet_key;
  ag_outbox *outbox;
  ag_uploads *uploads;
  ag_link *link;
  int wake_pipe[2]; /* signal handlers and the MQTT thread write here */
  int event_sock;   /* DEVDIR/agent.sock: datagrams from components */
  char sock_path[1100];

  /* Deployment state (state.json). */
  ag_held committed, previous, pending;
  char last_id[128]; /* the last deployment acted on (succeeded or failed) */
  int64_t highest_sequence;
  char state[32]; /* succeeded, failed-rolled-back, failed, received, ... */
  char reason[512];

  /* A deployment that arrived while another was being applied. */
  char *incoming;
  int64_t incoming_sequence;

  ag_child children[AG_MAX_COMPONENTS];
  int n_children;

  /* Outbox publishing. */
  int64_t inflight_seq[32];
  int inflight_mid[32];
  int n_inflight;
  int64_t published_upto;
  bool connected;
  bool draining_events; /* drain_events is on the stack (ag_emit pumps again) */
  bool holding_pump;    /* inside an upload's wait: ag_emit stores, the main loop publishes */
  double next_status_at;

  volatile sig_atomic_t stop, reload;
} ag_agent;

/* ---- deploy.c: the deployment state machine */
bool ag_state_load(ag_agent *a, char *err);
bool ag_state_save(ag_agent *a, char *err);
void ag_state_free(ag_agent *a);
/* Handles a signed deployment (from MQTT or the inbox): verifies, then
 * applies, supersedes or ignores it. source is "mqtt" or "inbox". */
void ag_deployment_offer(ag_agent *a, const char *envelope, size_t size, const char *source);
/* At start: resume an interrupted deployment or start the committed set. */
void ag_deploy_resume(ag_agent *a);
/* Scans the inbox directory for deployment files. */
void ag_inbox_scan(ag_agent *a);

/* ---- supervise.c: child processes */
bool ag_children_start(ag_agent *a, const ag_deployment *d, char *err);
void ag_children_stop(ag_agent *a);
/* Kills processes left by a previous run of this agent (found by the
 * environment marker every child inherits). */
void ag_kill_strays(ag_agent *a);
/* Reaps exited children and restarts due ones; returns seconds until the
 * next restart (or a large number). */
double ag_children_tick(ag_agent *a);
/* Runs `sh -c cmd` in dir with a timeout, logging to log_path; returns
 * true on exit status 0; err gives the reason otherwise. */
bool ag_run_command(ag_agent *a, const char *cmd, const char *dir, double timeout_s,
                    const char *log_path, const char *component, char *err);
/* Runs the model health check in a child process (ledged --health-model). */
bool ag_health_model(ag_agent *a, const char *model_path, double timeout_s, const char *log_path,
                     char *err);

/* ---- agent.c: the loop */
/* Processes what the MQTT thread queued and publishes from the outbox;
 * called from long operations so that status keeps flowing. */
void ag_pump(ag_agent *a);
/* Queues a message on ledge/<device>/<suffix> through the outbox. */
bool ag_emit(ag_agent *a, const char *suffix, const char *json, int priority, bool retain);
/* Reports a deployment status transition (outbox) and the device status. */
void ag_report(ag_agent *a, const ag_deployment *d, const char *state, const char *reason,
               int progress);
void ag_publish_device_status(ag_agent *a);

/* ---- link.c: the MQTT connection (libmosquitto). */
typedef enum {
  AG_LINK_CONNECTED,
  AG_LINK_DISCONNECTED,
  AG_LINK_MESSAGE,
  AG_LINK_ACK
} ag_link_event_kind;
typedef struct ag_link_event {
  ag_link_event_kind kind;
  int mid;
  char *topic;
  char *payload;
  int size;
} ag_link_event;
ag_link *ag_link_create(const ag_config *c, int wake_fd, char *err);
void ag_link_destroy(ag_link *link);
/* Next queued event; false when none. Free with ag_link_event_free. */
bool ag_link_poll(ag_link *link, ag_link_event *ev);
void ag_link_event_free(ag_link_event *ev);
/* QoS 1 publish; mid receives the id acknowledged later by an AG_LINK_ACK. */
bool ag_link_publish(ag_link *link, const char *topic, const void *payload, int size, bool retain,
                     int *mid);
bool ag_link_subscribe(ag_link *link, const char *topic);

#endif
