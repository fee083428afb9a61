/* upload.h: the durable upload queue for the frames that matter. A queued
 * image is copied into DEVDIR/uploads-queue and recorded in the outbox
 * database; it is uploaded to the upload store (S3 with SigV4, or the default
 * local directory) under <device>/<yyyy>/<mm>/<dd>/<event-id>.jpg with its
 * metadata (device, time, event id, model version), with retries and
 * exponential backoff, within a bandwidth budget in bytes per hour (a token
 * bucket). Internal to src/agent. */
#ifndef LEDGE_AGENT_UPLOAD_H
#define LEDGE_AGENT_UPLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/store.h"

typedef struct ag_uploads ag_uploads;

ag_uploads *ag_uploads_open(const char *db_path, const char *queue_dir, char *err);
void ag_uploads_close(ag_uploads *u);
/* Queues a copy of src (a JPEG) for event_id taken at time_ms. */
bool ag_uploads_add(ag_uploads *u, const char *src, const char *event_id, const char *model_version,
                    int64_t time_ms, char *err);
/* Uploads what is due and fits the budget (at most a few per call);
 * returns the seconds until the next attempt (large when idle). */
double ag_uploads_tick(ag_uploads *u, const char *device, const char *store, const ag_s3 *s3,
                       int64_t budget_bytes_per_hour);
int64_t ag_uploads_pending(ag_uploads *u);
int64_t ag_uploads_done(ag_uploads *u);

/* The object key: <device>/<yyyy>/<mm>/<dd>/<event-id>.jpg (UTC). */
void ag_upload_key(const char *device, int64_t time_ms, const char *event_id, char *out,
                   size_t size);

#endif
