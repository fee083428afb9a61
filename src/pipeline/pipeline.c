/* pipeline.c: the loop: read a frame, perceive it when the schedule says so,
 * interpret, and hand events, alert frames and the live view to the sinks. */
#include "pipeline/pipeline.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "media/draw.h"
#include "media/encode.h"
#include "media/source.h"
#include "media/transform.h"
#include "net/mqtt.h"
#include "pipeline/agent_sink.h"
#include "pipeline/interpret_config.h"
#include "pipeline/perceive.h"
#include "pipeline/status_page.h"

static char status_url[128];
const char *pipeline_status_url(void) { return status_url; }

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Unix time in milliseconds: event ids and upload timestamps. */
static long long wall_ms_now(void) {
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  return (long long)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec * 1e-6;
}

static const media_color state_colors[INTERP_STATE_COUNT + 1] = {
    {80, 200, 80}, {255, 150, 40}, {255, 80, 60}, {200, 90, 255}, {150, 150, 150}};

typedef struct sinks {
  const pipeline_config *cfg;
  FILE *events;
  net_mqtt *mqtt;
  agent_sink *agent;
  char topic[256];
  status_page *page;
  long bytes_sent;
  long event_seq;
} sinks;

/* One event line to the events file and MQTT (QoS 1: the broker keeps it for
 * a subscriber that is away; while the broker is away, the client queues). */
static void emit(sinks *s, const char *json, int priority) {
  if (s->events) {
    fputs(json, s->events);
    fputc('\n', s->events);
    fflush(s->events);
  }
  if (s->agent) {
    char err[256] = "";
    if (agent_sink_emit(s->agent, "events", priority, json, 30000, err, sizeof err))
      fprintf(stderr, "ledge: pipeline: %s\n", err);
    else
      s->bytes_sent += (long)strlen(json) + 32;
  }
  if (s->mqtt) {
    char err[200];
    if (net_mqtt_publish(s->mqtt, s->topic, json, strlen(json), 1, false, NULL, NULL, NULL, err,
                         sizeof err))
      fprintf(stderr, "ledge: pipeline: MQTT publish failed: %s\n", err);
    else
      s->bytes_sent += (long)strlen(json) + (long)strlen(s->topic) + 8;
  }
}

static void annotate(media_image *img, const perceiver *p, interp_state state, double confidence,
                     bool calibrating, double t, bool alert) {
  char text[200];
  snprintf(text, sizeof text, "%s %.2f  t=%.1fs",
           calibrating ? "calibrating" : interp_state_name(state), confidence, t);
  media_color fg = {255, 255, 255};
  media_draw_label(img, 6, 6, text, fg, state_colors[state], 2);
  if (p->note[0])
    media_draw_label(img, 6, img->height - 24, p->note, fg, (media_color){40, 40, 40}, 1);
  if (alert)
    media_draw_rect(img, 0, 0, img->width - 1, img->height - 1, (media_color){255, 40, 40}, 6);
}

static int mkdir_p(const char *path) {
  char buf[PIPELINE_PATH_MAX];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *c = buf + 1; *c; c++)
    if (*c == '/') {
      *c = 0;
      if (mkdir(buf, 0755) && errno != EEXIST) return -1;
      *c = '/';
    }
  return mkdir(buf, 0755) && errno != EEXIST ? -1 : 0;
}

int pipeline_run(const pipeline_config *cfg, volatile int *stop, pipeline_stats *stats, char *err,
                 size_t err_size) {
  pipeline_stats st = {0};
  sinks sk = {.cfg = cfg};
  perceiver *per = NULL;
  media_source *src = NULL;
  interp *it = NULL;
  media_image canvas = {0};
  int rc = -1;
  char why[256];

  if (!cfg->input[0]) {
    snprintf(err, err_size, "no source: set \"source\": {\"input\": ...} or --input");
    return -1;
  }
  const char *bad = NULL;
  if (!(it = interp_create(&cfg->interpret, &bad))) {
    snprintf(err, err_size, "interpret: %s", bad);
    return -1;
  }
  int prc = cfg->perception == PIPELINE_PERCEIVE_REPLAY
                ? perceive_replay_create(cfg, &per, why, sizeof why)
            : cfg->perception == PIPELINE_PERCEIVE_CLASSIFIER
                ? perceive_classifier_create(cfg, &per, why, sizeof why)
                : perceive_cues_create(cfg, &per, why, sizeof why);
  if (prc) {
    snprintf(err, err_size, "%s", why);
    goto out;
  }
  media_source_options so = {.fps = cfg->source_fps};
  if (media_source_open(cfg->input, &so, &src, why, sizeof why)) {
    snprintf(err, err_size, "%s", why);
    goto out;
  }
  if (cfg->events_path[0]) {
    sk.events = !strcmp(cfg->events_path, "-") ? stdout : fopen(cfg->events_path, "a");
    if (!sk.events) {
      snprintf(err, err_size, "cannot open events file %s", cfg->events_path);
      goto out;
    }
  }
  if (cfg->alerts_dir[0] && mkdir_p(cfg->alerts_dir)) {
    snprintf(err, err_size, "cannot create %s: %s", cfg->alerts_dir, strerror(errno));
    goto out;
  }
  if (cfg->mqtt_url[0]) {
    net_mqtt_config mc;
    net_mqtt_config_init(&mc);
    mc.url = cfg->mqtt_url;
    mc.client_id = cfg->device;
    mc.clean_start = false;
    mc.ca_file = cfg->mqtt_ca[0] ? cfg->mqtt_ca : NULL;
    mc.cert_file = cfg->mqtt_cert[0] ? cfg->mqtt_cert : NULL;
    mc.key_file = cfg->mqtt_key[0] ? cfg->mqtt_key : NULL;
    snprintf(sk.topic, sizeof sk.topic, "ledge/%s/events", cfg->device);
    if (net_mqtt_start(&mc, &sk.mqtt, why, sizeof why)) {
      snprintf(err, err_size, "MQTT: %s", why);
      goto out;
    }
    /* The broker may be down: events queue in the client and go out once it
     * is back, so a missing broker delays, never stops, the pipeline. */
    if (net_mqtt_wait_connected(sk.mqtt, 3000, why, sizeof why))
      fprintf(stderr, "ledge: pipeline: broker not reachable yet (%s); events will queue\n", why);
  }
  if (cfg->agent_socket[0] && agent_sink_open(cfg->agent_socket, &sk.agent, why, sizeof why)) {
    snprintf(err, err_size, "%s", why);
    goto out;
  }
  if (cfg->status_port) {
    if (status_page_start(cfg->status_bind, cfg->status_port < 0 ? 0 : cfg->status_port, cfg->name,
                          cfg->version, &sk.page, why, sizeof why)) {
      snprintf(err, err_size, "%s", why);
      goto out;
    }
    snprintf(status_url, sizeof status_url, "http://%s:%d/", cfg->status_bind,
             status_page_port(sk.page));
    fprintf(stderr, "ledge: pipeline: status page at %s\n", status_url);
  }

  double wall0 = wall_now(), cpu0 = cpu_seconds(), cpu_mark_wall = wall0, cpu_mark = cpu0;
  double pts_offset = 0, last_pts = NAN, frame_step = 1.0 / 25;
  double cpu_percent = 0, first_pts = NAN, next_due = -INFINITY, last_change_t = -INFINITY;
  double perceive_ms_sum = 0, last_perceive_ms = 0, last_jpeg_wall = -INFINITY;
  interp_frame last = {.known = false, .speed_kmh = -1};
  interp_state state = INTERP_UNKNOWN;
  double confidence = 0;
  char last_alert_json[512] = "";
  long alert_seq = 0, state_seq = 0;
  /* Every event carries an event_id unique across runs and devices, so that
   * a consumer drops a copy (a producer that heard no confirmation sends
   * again). Alerts: DEVICE-WALLMS-N (also their frame's name); state
   * changes: DEVICE-RUNMS-sN; the summary: DEVICE-RUNMS-summary. */
  long long run_ms = wall_ms_now();
  for (;;) {
    if (stop && *stop) break;
    if (cfg->max_frames && st.frames >= cfg->max_frames) break;
    media_frame fr;
    if (media_source_read(src, &fr, why, sizeof why)) {
      snprintf(err, err_size, "%s", why);
      goto out;
    }
    if (fr.end && cfg->loop && st.frames > 0) {
      /* Again from the start, time running on from where it ended. */
      media_source_close(src);
      src = NULL;
      if (media_source_open(cfg->input, &so, &src, why, sizeof why)) {
        snprintf(err, err_size, "%s", why);
        goto out;
      }
      pts_offset = last_pts + frame_step;
      if (media_source_read(src, &fr, why, sizeof why)) {
        snprintf(err, err_size, "%s", why);
        goto out;
      }
    }
    if (fr.end) break;
    double t = fr.pts + pts_offset;
    if (!isnan(last_pts) && t - last_pts > 0 && t - last_pts < 1.0) frame_step = t - last_pts;
    last_pts = t;
    if (isnan(first_pts)) first_pts = t;
    if (cfg->realtime) {
      double ahead = (t - first_pts) - (wall_now() - wall0);
      if (ahead > 0) usleep((useconds_t)(ahead * 1e6));
    }
    st.frames++;
    st.seconds = t - first_pts;

    /* Schedule: perceive this frame? Adaptive: fast while the state is
     * uncertain, changing or not normal; slow while it is stable normal;
     * never more than the CPU budget allows at the measured latency. */
    double rate = cfg->rate_hz;
    if (cfg->adaptive) {
      bool unsettled =
          per->calibrating || state != INTERP_NORMAL || confidence < 0.8 || t - last_change_t < 3.0;
      rate = unsettled ? cfg->max_rate_hz : cfg->min_rate_hz;
      double mean_ms = st.perceived ? perceive_ms_sum / st.perceived : 0;
      if (cfg->cpu_budget > 0 && mean_ms > 0 && rate > cfg->cpu_budget * 1000.0 / mean_ms)
        rate = cfg->cpu_budget * 1000.0 / mean_ms;
    }
    bool perceive = rate <= 0 || t >= next_due - 1e-6;
    interp_alert alerts[INTERP_RULE_COUNT];
    int n_alerts = 0;
    if (perceive) {
      next_due =
          (next_due < t - 1.0 / (rate > 0 ? rate : 1) ? t : next_due) + (rate > 0 ? 1.0 / rate : 0);
      double p0 = wall_now();
      interp_frame f = {.t = t, .speed_kmh = -1};
      if (per->run(per, &fr.image, t, &f, why, sizeof why)) {
        snprintf(err, err_size, "%s", why);
        goto out;
      }
      last_perceive_ms = (wall_now() - p0) * 1000.0;
      perceive_ms_sum += last_perceive_ms;
      st.perceived++;
      /* While the cue stage calibrates it has no judgement to give yet. */
      if (per->calibrating) f.known = false;
      last = f;
      interp_change change;
      bool changed;
      n_alerts = interp_feed(it, &f, alerts, INTERP_RULE_COUNT, &change, &changed);
      if (n_alerts < 0) n_alerts = 0;
      state = interp_current(it, &confidence);
      if (changed) {
        st.state_changes++;
        last_change_t = t;
        char json[512];
        snprintf(json, sizeof json,
                 "{\"type\": \"state\", \"event_id\": \"%s-%lld-s%ld\", \"device\": \"%s\", "
                 "\"t\": %.3f, \"state\": \"%s\", \"confidence\": %.3f, \"model_version\": \"%s\"}",
                 cfg->device, run_ms, ++state_seq, cfg->device, change.t,
                 interp_state_name(change.state), change.confidence, cfg->version);
        emit(&sk, json, 5);
        if (cfg->console)
          fprintf(stderr, "%8.1f s  %-13s %.2f\n", change.t, interp_state_name(change.state),
                  change.confidence);
        if (sk.page) status_page_state_change(sk.page, change.t, change.state);
      }
    }
    bool viewers =
        sk.page && (status_page_viewers(sk.page) > 0 || wall_now() - last_jpeg_wall > 1.0);
    if ((n_alerts && cfg->alerts_dir[0]) || viewers) {
      media_image_free(&canvas);
      if (media_image_copy(&fr.image, &canvas, why, sizeof why)) {
        snprintf(err, err_size, "%s", why);
        goto out;
      }
      /* Faces other than the driver's are hidden before anything is drawn
       * or encoded: what must not leave the car does not. */
      if (cfg->privacy_blur && per->privacy) per->privacy(per, &canvas);
      if (cfg->draw) {
        per->draw(per, &canvas);
        annotate(&canvas, per, state, confidence, per->calibrating, t, n_alerts > 0);
      }
    }
    for (int k = 0; k < n_alerts; k++) {
      st.alerts++;
      st.alerts_by_rule[alerts[k].rule]++;
      char alert_json[256], json[2048], image[PIPELINE_PATH_MAX + 256] = "";
      interp_alert_format(&alerts[k], alert_json, sizeof alert_json);
      /* Unique across runs and devices: the upload's key and the event's id. */
      char event_id[200];
      long long wall_ms = wall_ms_now();
      snprintf(event_id, sizeof event_id, "%s-%lld-%ld", cfg->device, wall_ms, ++alert_seq);
      if (cfg->alerts_dir[0]) {
        uint8_t *jpeg = NULL;
        size_t len = 0;
        snprintf(image, sizeof image, "%s/%s.jpg", cfg->alerts_dir, event_id);
        if (media_encode_jpeg(&canvas, 85, &jpeg, &len, why, sizeof why) == LEDGE_OK) {
          FILE *f = fopen(image, "wb");
          bool ok = f && fwrite(jpeg, 1, len, f) == len;
          if (f && fclose(f)) ok = false;
          if (!ok) {
            fprintf(stderr, "ledge: pipeline: cannot write %s\n", image);
            image[0] = 0;
          } else {
            st.bytes_sent += (long)len; /* what the upload queue will send */
          }
          free(jpeg);
        }
        /* Under ledged the frame goes through its durable upload queue. */
        char full[PATH_MAX];
        if (image[0] && sk.agent && realpath(image, full)) {
          char req[PATH_MAX + 512], uerr[256] = "";
          snprintf(req, sizeof req,
                   "{\"file\": \"%s\", \"event_id\": \"%s\", \"model_version\": \"%s\", "
                   "\"time_ms\": %lld}",
                   full, event_id, cfg->version, wall_ms);
          if (agent_sink_emit(sk.agent, "upload", 0, req, 30000, uerr, sizeof uerr))
            fprintf(stderr, "ledge: pipeline: upload of %s: %s\n", image, uerr);
        }
      }
      /* The alert's own fields first (the `ledge interpret` line), then
       * where it came from. */
      alert_json[strlen(alert_json) - 1] = 0;
      snprintf(json, sizeof json,
               "%s, \"type\": \"alert\", \"event_id\": \"%s\", \"device\": \"%s\", "
               "\"model_version\": \"%s\", \"image\": \"%s\"}",
               alert_json, event_id, cfg->device, cfg->version, image);
      emit(&sk, json, 8);
      if (cfg->console)
        fprintf(stderr, "%8.1f s  ALERT %s: %s for %.1f s since %.1f s (confidence %.2f)%s%s\n",
                alerts[k].t, interp_rule_name(alerts[k].rule), interp_state_name(alerts[k].state),
                alerts[k].duration, alerts[k].start, alerts[k].confidence, image[0] ? " -> " : "",
                image);
      snprintf(last_alert_json, sizeof last_alert_json, "%s}", alert_json);
    }
    if (sk.page) {
      double w = wall_now();
      if (w - cpu_mark_wall >= 1.0) {
        double c = cpu_seconds();
        cpu_percent = 100.0 * (c - cpu_mark) / (w - cpu_mark_wall);
        cpu_mark = c;
        cpu_mark_wall = w;
      }
      status_snapshot snap = {.t = t,
                              .state = state,
                              .confidence = confidence,
                              .calibrating = per->calibrating,
                              .perceive_ms = last_perceive_ms,
                              .cpu_percent = cpu_percent,
                              .frames = st.frames,
                              .perceived = st.perceived,
                              .alerts = st.alerts,
                              .note = per->note,
                              .last_alert = last_alert_json[0] ? last_alert_json : NULL,
                              .outbox_depth = sk.mqtt ? net_mqtt_unacked(sk.mqtt) : -1};
      snap.fps = st.frames / fmax(w - wall0, 1e-3);
      memcpy(snap.probs, last.probs, sizeof snap.probs);
      uint8_t *jpeg = NULL;
      size_t len = 0;
      if (viewers && canvas.data &&
          media_encode_jpeg(&canvas, 75, &jpeg, &len, why, sizeof why) == LEDGE_OK)
        last_jpeg_wall = w;
      status_page_update(sk.page, jpeg, len, &snap);
      free(jpeg);
    }
  }
  rc = 0;
  st.wall_s = wall_now() - wall0;
  st.perceive_ms_mean = st.perceived ? perceive_ms_sum / st.perceived : 0;
  st.stage_count = per->stage_count;
  for (int i = 0; i < per->stage_count && i < 8; i++) {
    st.stage_ms[i] = per->stage_runs[i] ? per->stage_ms[i] / per->stage_runs[i] : 0;
    st.stage_runs[i] = per->stage_runs[i];
    snprintf(st.stage_names[i], sizeof st.stage_names[i], "%s", per->stage_names[i]);
  }
  interp_summary sum;
  interp_get_summary(it, &sum);
  memcpy(st.seconds_in_state, sum.seconds_in_state, sizeof st.seconds_in_state);
  st.bytes_sent += sk.bytes_sent;
  if (cfg->summary) {
    /* The trip summary is an event like the others, so it reaches the fleet. */
    char json[1024];
    int n =
        snprintf(json, sizeof json,
                 "{\"type\": \"summary\", \"event_id\": \"%s-%lld-summary\", \"device\": \"%s\", "
                 "\"frames\": %ld, \"perceived\": %ld, \"seconds\": %.3f, \"seconds_in_state\": {",
                 cfg->device, run_ms, cfg->device, st.frames, st.perceived, st.seconds);
    for (int i = 0; i <= INTERP_UNKNOWN; i++)
      n += snprintf(json + n, sizeof json - n, "%s\"%s\": %.2f", i ? ", " : "",
                    interp_state_name(i), st.seconds_in_state[i]);
    n += snprintf(json + n, sizeof json - n, "}, \"alerts\": {");
    for (int r = 0; r < INTERP_RULE_COUNT; r++)
      n += snprintf(json + n, sizeof json - n, "%s\"%s\": %d", r ? ", " : "", interp_rule_name(r),
                    st.alerts_by_rule[r]);
    double streaming = cfg->stream_kbps * 1000.0 / 8.0 * st.seconds;
    snprintf(json + n, sizeof json - n,
             "}, \"bytes_sent\": %ld, \"streaming_bytes\": %.0f, \"stream_kbps_assumed\": %g, "
             "\"perceive_ms_mean\": %.2f}",
             st.bytes_sent, streaming, cfg->stream_kbps, st.perceive_ms_mean);
    emit(&sk, json, 7);
    if (cfg->console) {
      fprintf(stderr, "\ntrip summary: %.1f s of video, %ld frames, %ld perceived (%.1f ms each)\n",
              st.seconds, st.frames, st.perceived, st.perceive_ms_mean);
      for (int i = 0; i <= INTERP_UNKNOWN; i++)
        if (st.seconds_in_state[i] > 0)
          fprintf(stderr, "  %-13s %6.1f s\n", interp_state_name(i), st.seconds_in_state[i]);
      fprintf(stderr, "  alerts: %ld", st.alerts);
      for (int r = 0; r < INTERP_RULE_COUNT; r++)
        if (st.alerts_by_rule[r])
          fprintf(stderr, ", %s %d", interp_rule_name(r), st.alerts_by_rule[r]);
      fprintf(stderr,
              "\n  sent %ld bytes (events and alert frames) instead of %.0f for streaming the "
              "video at %g kbit/s\n",
              st.bytes_sent, streaming, cfg->stream_kbps);
    }
  }
out:
  if (stats) *stats = st;
  (void)cpu0;
  media_image_free(&canvas);
  if (sk.mqtt) net_mqtt_stop(sk.mqtt, 3000);
  agent_sink_close(sk.agent);
  if (sk.page) status_page_stop(sk.page);
  status_url[0] = 0;
  if (sk.events && sk.events != stdout) fclose(sk.events);
  media_source_close(src);
  if (per) per->destroy(per);
  interp_destroy(it);
  return rc;
}
