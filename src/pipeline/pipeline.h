/*
 * pipeline.h: sources -> stages -> sinks, described in JSON.
 *
 *   source      a camera, video file, stream or image folder (media/source.h),
 *               read at its own pace or paced to real time
 *   schedule    which frames are perceived: a fixed rate, or adaptive within a
 *               CPU budget (more often while the state is uncertain or
 *               changing, less while it is stable)
 *   perception  frame -> probabilities over the driver states: "cues" (face,
 *               face mesh, iris, hands, pose, objects and documented rules),
 *               "classifier" (a fine-tuned model on the driver crop) or
 *               "replay" (probabilities from a JSON Lines file, for replays)
 *   interpret   temporal interpretation (interpret.h)
 *   sinks       events as JSON Lines, MQTT events, annotated alert frames,
 *               a live status page, a trip summary
 *
 * The configuration format is documented in docs/pipeline.md. The same file
 * runs under `ledge pipeline run` and as a component deployed to ledged.
 */
#ifndef LEDGE_PIPELINE_H
#define LEDGE_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline/interpret.h"

#define PIPELINE_PATH_MAX 1024

typedef enum pipeline_perception {
  PIPELINE_PERCEIVE_CUES = 0,
  PIPELINE_PERCEIVE_CLASSIFIER,
  PIPELINE_PERCEIVE_REPLAY
} pipeline_perception;

typedef struct pipeline_config {
  char name[128];
  char version[128]; /* model/deployment version shown on the status page and in events */

  /* source */
  char input[PIPELINE_PATH_MAX];
  double source_fps; /* image folders: timestamps; cameras: requested rate (0: default) */
  bool realtime;     /* pace files to their timestamps (cameras are real time anyway) */
  bool loop;         /* start a file again at its end, time running on (demos, soak tests) */
  long max_frames;   /* 0: the whole source */

  /* schedule */
  bool adaptive;
  double rate_hz;     /* fixed rate (0: every frame) */
  double min_rate_hz; /* adaptive: while stable */
  double max_rate_hz; /* adaptive: while uncertain or changing */
  double cpu_budget;  /* adaptive: fraction of one core perception may use (0: no cap) */

  /* perception */
  pipeline_perception perception;
  int threads;
  char classifier_model[PIPELINE_PATH_MAX];
  /* more classifiers whose probabilities are averaged with the first (an
   * ensemble: often more accurate, always costlier: each member's time is
   * reported) */
  char classifier_ensemble[3][PIPELINE_PATH_MAX];
  int classifier_ensemble_count;
  char classifier_labels[4][32]; /* the model's outputs, in order, as state names */
  int classifier_size;           /* input side (square), 0: from the model */
  bool classifier_crop_face;     /* crop to the driver's face (needs the face detector) */
  float classifier_mean[3], classifier_std[3];
  char replay_path[PIPELINE_PATH_MAX];
  /* cue rules: degrees of head yaw/pitch off the calibrated neutral that count
   * as looking away, the calibration period, and how often the slower
   * detectors run relative to the face stages */
  double cue_yaw_deg, cue_pitch_deg, cue_gaze;
  double calibration_s;
  int hands_every, pose_every, objects_every;

  interp_config interpret;

  /* sinks */
  char events_path[PIPELINE_PATH_MAX]; /* "-" stdout, "" none */
  char mqtt_url[PIPELINE_PATH_MAX];
  char mqtt_ca[PIPELINE_PATH_MAX], mqtt_cert[PIPELINE_PATH_MAX], mqtt_key[PIPELINE_PATH_MAX];
  char device[128];                     /* default: $LEDGE_DEVICE (set by ledged), else "device" */
  char agent_socket[PIPELINE_PATH_MAX]; /* events to ledged: default $LEDGE_AGENT_SOCKET; "" none */
  char alerts_dir[PIPELINE_PATH_MAX];
  int status_port; /* 0: no status page; -1: any free port */
  char status_bind[64];
  bool summary;
  bool console;       /* a readable timeline of states and alerts on stderr */
  double stream_kbps; /* what streaming the video would cost, for the summary */
  bool draw;          /* annotate frames (alerts, status page) */
  bool privacy_blur;  /* pixelate every face but the driver's in frames that leave the device */
} pipeline_config;

void pipeline_config_default(pipeline_config *config);

/* Reads a pipeline configuration (JSON) onto the defaults. Unknown members
 * are errors. Returns 0, or -1 with one line in err. */
int pipeline_config_load(const char *path, pipeline_config *config, char *err, size_t err_size);

typedef struct pipeline_stats {
  long frames, perceived, alerts, state_changes;
  double seconds;          /* source time covered */
  double wall_s;           /* wall time taken */
  double perceive_ms_mean; /* mean perception latency */
  double stage_ms[8];      /* mean ms per run of each perception stage */
  long stage_runs[8];      /* how often each ran */
  char stage_names[8][32]; /* cues: face+mesh+iris, hands, pose, objects; classifier: each model */
  int stage_count;
  long bytes_sent; /* events + uploaded frames */
  double seconds_in_state[INTERP_STATE_COUNT + 1];
  int alerts_by_rule[INTERP_RULE_COUNT];
} pipeline_stats;

/* Runs the pipeline until the source ends, max_frames, or *stop becomes true
 * (from a signal handler). Progress and events go to the sinks; stats (may be
 * NULL) are filled at the end. Returns 0, or -1 with one line in err. */
int pipeline_run(const pipeline_config *config, volatile int *stop, pipeline_stats *stats,
                 char *err, size_t err_size);

/* The status page's address once the pipeline has started it, for callers that
 * asked for any free port (-1); "" before. */
const char *pipeline_status_url(void);

#endif
