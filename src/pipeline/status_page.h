/* status_page.h: a pipeline's live status page on a local port:
 *   GET /             the page (stream, state, timeline, figures)
 *   GET /stream.mjpg  the annotated frames as MJPEG (multipart/x-mixed-replace)
 *   GET /frame.jpg    the latest annotated frame
 *   GET /status.json  state, confidence, fps, latency, CPU, versions, timeline
 * Served by libmicrohttpd, one thread per connection, so a slow viewer never
 * holds up the pipeline: the pipeline only swaps in the newest frame. */
#ifndef LEDGE_PIPELINE_STATUS_PAGE_H
#define LEDGE_PIPELINE_STATUS_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/interpret.h"

typedef struct status_page status_page;

typedef struct status_snapshot {
  double t; /* source time of the frame */
  interp_state state;
  double confidence;
  double probs[INTERP_STATE_COUNT];
  bool calibrating;
  double fps;         /* frames processed per second (wall) */
  double perceive_ms; /* last perception latency */
  double cpu_percent; /* process CPU over the last second, % of one core */
  long frames, perceived, alerts;
  const char *note;       /* the perception stage's last line */
  const char *last_alert; /* JSON of the last alert, or NULL */
  long outbox_depth;      /* events not yet acknowledged by the broker, -1 if no broker */
} status_snapshot;

/* Starts serving on bind:port (port 0: any free port). Returns 0, or -1 with
 * one line in err. */
int status_page_start(const char *bind, int port, const char *name, const char *version,
                      status_page **out, char *err, size_t err_size);
/* The port it listens on. */
int status_page_port(const status_page *page);
/* Publishes the newest annotated frame (a JPEG, copied) and figures. */
void status_page_update(status_page *page, const uint8_t *jpeg, size_t jpeg_len,
                        const status_snapshot *snap);
/* Records a change of state for the timeline. */
void status_page_state_change(status_page *page, double t, interp_state state);
/* Number of viewers of the MJPEG stream right now (so frames are encoded only
 * when someone looks). */
int status_page_viewers(status_page *page);
void status_page_stop(status_page *page);

#endif
