/* agent_sink.h: events handed to the edge agent (ledged) that supervises this
 * process: datagrams "SUFFIX PRIORITY\nPAYLOAD" on $LEDGE_AGENT_SOCKET, each
 * confirmed "ok <id>" once the agent has it in its durable outbox (see
 * docs/deploy.md). The agent then publishes them on ledge/<device>/<SUFFIX>
 * when the broker is reachable, in order, and keeps them while it is not. */
#ifndef LEDGE_PIPELINE_AGENT_SINK_H
#define LEDGE_PIPELINE_AGENT_SINK_H

#include <stddef.h>

typedef struct agent_sink agent_sink;

/* Opens a sink to the agent's socket path. Returns 0, or -1 with one line. */
int agent_sink_open(const char *socket_path, agent_sink **out, char *err, size_t err_size);
/* Sends one event and waits (up to timeout_ms, retrying while the agent
 * restarts) for its confirmation. Returns 0, or -1 with one line. */
int agent_sink_emit(agent_sink *s, const char *suffix, int priority, const char *json,
                    int timeout_ms, char *err, size_t err_size);
void agent_sink_close(agent_sink *s);

#endif
