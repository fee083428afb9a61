/* perceive_replay.c: probabilities from a JSON Lines file (the format of
 * `ledge interpret`), matched to frames by time: replays of recorded
 * predictions over the video they came from, and tests of everything after
 * perception. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media/draw.h"
#include "pipeline/interpret_config.h"
#include "pipeline/perceive.h"

typedef struct replay {
  perceiver base;
  interp_frame *frames;
  long count, next;
  interp_frame last;
  bool have_last;
} replay;

static int replay_run(perceiver *p, const media_image *frame, double t, interp_frame *out,
                      char *err, size_t err_size) {
  replay *r = (replay *)p;
  while (r->next < r->count && r->frames[r->next].t <= t + 1e-6) {
    r->last = r->frames[r->next++];
    r->have_last = true;
  }
  /* A recorded frame counts for up to a second; after that the driver was
   * not seen. */
  if (r->have_last && t - r->last.t <= 1.0) {
    memcpy(out->probs, r->last.probs, sizeof out->probs);
    out->known = r->last.known;
  } else {
    out->known = false;
  }
  snprintf(p->note, sizeof p->note, "replay %s", out->known ? "" : "(no record)");
  p->stage_runs[0]++;
  return 0;
}

static void replay_draw(perceiver *p, media_image *frame) { (void)p, (void)frame; }

static void replay_destroy(perceiver *p) {
  replay *r = (replay *)p;
  free(r->frames);
  free(r);
}

int perceive_replay_create(const pipeline_config *config, perceiver **out, char *err,
                           size_t err_size) {
  FILE *f = fopen(config->replay_path, "r");
  if (!f) {
    snprintf(err, err_size, "cannot open replay file %s", config->replay_path);
    return -1;
  }
  replay *r = calloc(1, sizeof *r);
  char *line = NULL;
  size_t cap = 0;
  long lineno = 0, alloc = 0;
  ssize_t len;
  int rc = r ? 0 : -1;
  if (!r) snprintf(err, err_size, "out of memory");
  while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
    lineno++;
    if (len <= 1) continue;
    interp_frame fr;
    char why[200];
    if (interp_frame_parse(line, &fr, why, sizeof why)) {
      snprintf(err, err_size, "%s line %ld: %s", config->replay_path, lineno, why);
      rc = -1;
    } else if (r->count && fr.t < r->frames[r->count - 1].t) {
      snprintf(err, err_size, "%s line %ld: time goes backwards", config->replay_path, lineno);
      rc = -1;
    } else {
      if (r->count == alloc) {
        alloc = alloc ? alloc * 2 : 1024;
        interp_frame *grown = realloc(r->frames, (size_t)alloc * sizeof *grown);
        if (!grown) {
          snprintf(err, err_size, "out of memory");
          rc = -1;
          break;
        }
        r->frames = grown;
      }
      r->frames[r->count++] = fr;
    }
  }
  free(line);
  fclose(f);
  if (rc) {
    if (r) replay_destroy(&r->base);
    return -1;
  }
  r->base.run = replay_run;
  r->base.draw = replay_draw;
  r->base.destroy = replay_destroy;
  r->base.stage_count = 1;
  r->base.stage_names[0] = "replay";
  *out = &r->base;
  return 0;
}
