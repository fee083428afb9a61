/* outbox.h: the durable outbox. Every message the agent sends (events,
 * deployment status, metrics) is first a row in a SQLite database in WAL
 * mode; a row is deleted only after the broker acknowledged it (PUBACK), so
 * nothing acknowledged to a producer is lost across restarts. While offline
 * the outbox grows up to max_bytes; past that the lowest-priority, oldest rows
 * are dropped first and counted. Internal to src/agent. */
#ifndef LEDGE_AGENT_OUTBOX_H
#define LEDGE_AGENT_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ag_outbox ag_outbox;

typedef struct ag_outbox_row {
  int64_t seq;
  char topic[256];
  char *payload; /* malloc'd */
  int size;
  bool retain;
} ag_outbox_row;

ag_outbox *ag_outbox_open(const char *path, int64_t max_bytes, char *err);
void ag_outbox_close(ag_outbox *box);
void ag_outbox_set_limit(ag_outbox *box, int64_t max_bytes);

/* Appends a message (priority: higher survives longer). */
bool ag_outbox_add(ag_outbox *box, const char *topic, const void *payload, int size, int priority,
                   bool retain, char *err);
/* Up to max rows with seq > after, oldest first; returns the count. */
int ag_outbox_next(ag_outbox *box, int64_t after, ag_outbox_row *rows, int max);
void ag_outbox_row_free(ag_outbox_row *row);
bool ag_outbox_delete(ag_outbox *box, int64_t seq);

int64_t ag_outbox_count(ag_outbox *box);
int64_t ag_outbox_bytes(ag_outbox *box);
int64_t ag_outbox_dropped(ag_outbox *box); /* since the outbox was created */
void ag_outbox_count_dropped(ag_outbox *box, int64_t n);
/* A new unique message id for this device (persistent counter). */
int64_t ag_outbox_next_id(ag_outbox *box);

#endif
