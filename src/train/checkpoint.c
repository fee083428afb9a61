/* checkpoint.c: training state written atomically (see checkpoint.h). */
#include "train/checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char MAGIC[8] = {'L', 'G', 'C', 'K', 'P', 'T', '1', 0};

typedef struct ckpt_header {
  char magic[8];
  int32_t n_params, n_states, optimizer, slots;
  int64_t epochs_done, steps, best_epoch, bad_epochs, opt_step;
  double best_accuracy;
  uint64_t rng;
} ckpt_header;

static bool write_all(FILE *f, const void *p, size_t bytes) {
  return fwrite(p, 1, bytes, f) == bytes;
}
static bool read_all(FILE *f, void *p, size_t bytes) { return fread(p, 1, bytes, f) == bytes; }

lg_status tr_checkpoint_save(const char *path, const tr_net *net, const tr_optimizer *opt,
                             const tr_progress *pr) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) return lg_error(LEDGE_ERR_IO, "cannot write checkpoint %s: %s", tmp, strerror(errno));
  ckpt_header h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, MAGIC, 8);
  h.n_params = net->n_params;
  h.n_states = net->n_states;
  h.optimizer = (int32_t)opt->cfg.kind;
  h.slots = tr_optimizer_slots(opt);
  h.epochs_done = pr->epochs_done;
  h.steps = pr->steps;
  h.best_epoch = pr->best_epoch;
  h.bad_epochs = pr->bad_epochs;
  h.best_accuracy = pr->best_accuracy;
  h.opt_step = opt->step;
  h.rng = net->rng;
  bool ok = write_all(f, &h, sizeof h);
  int k = 0;
  for (int i = 0; i < net->n_params && ok; i++) {
    const tr_value *v = &net->values[net->params[i]];
    int64_t count = v->count;
    ok = write_all(f, &count, sizeof count) && write_all(f, v->data, sizeof(float) * (size_t)count);
    /* optimizer state of trainable parameters, zeros for frozen ones */
    bool has = k < opt->n && opt->values[k] == net->params[i];
    for (int s = 0; s < h.slots && ok; s++) {
      const float *src = has ? (s == 0 ? opt->m[k] : opt->v[k]) : NULL;
      if (src)
        ok = write_all(f, src, sizeof(float) * (size_t)count);
      else
        for (int64_t j = 0; j < count && ok; j++) {
          float z = 0;
          ok = write_all(f, &z, sizeof z);
        }
    }
    if (has) k++;
  }
  for (int i = 0; i < net->n_states && ok; i++) {
    const tr_value *v = &net->values[net->states[i]];
    int64_t count = v->count;
    ok = write_all(f, &count, sizeof count) && write_all(f, v->data, sizeof(float) * (size_t)count);
  }
  ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
  if (fclose(f) != 0) ok = false;
  if (!ok || rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    return lg_error(LEDGE_ERR_IO, "cannot write checkpoint %s: %s", path, strerror(e));
  }
  return LEDGE_OK;
}

lg_status tr_checkpoint_load(const char *path, tr_net *net, tr_optimizer *opt, tr_progress *pr) {
  FILE *f = fopen(path, "rb");
  if (!f) return lg_error(LEDGE_ERR_IO, "cannot open checkpoint %s: %s", path, strerror(errno));
  ckpt_header h;
  lg_status st = LEDGE_OK;
  if (!read_all(f, &h, sizeof h) || memcmp(h.magic, MAGIC, 8)) {
    st = lg_error(LEDGE_ERR_FORMAT, "%s is not a ledge checkpoint", path);
    goto done;
  }
  if (h.n_params != net->n_params || h.n_states != net->n_states) {
    st = lg_error(
        LEDGE_ERR_FORMAT,
        "%s was written for another network (%d parameters, this one has %d); use the same "
        "model flags as the run that wrote it",
        path, h.n_params, net->n_params);
    goto done;
  }
  if (h.optimizer != (int32_t)opt->cfg.kind || h.slots != tr_optimizer_slots(opt)) {
    st = lg_error(LEDGE_ERR_FORMAT, "%s was written with optimizer %s, this run uses %s", path,
                  h.optimizer >= 0 && h.optimizer < 5
                      ? tr_optimizer_name((tr_optimizer_kind)h.optimizer)
                      : "?",
                  tr_optimizer_name(opt->cfg.kind));
    goto done;
  }
  int k = 0;
  for (int i = 0; i < net->n_params; i++) {
    tr_value *v = &net->values[net->params[i]];
    int64_t count;
    if (!read_all(f, &count, sizeof count) || count != v->count) {
      st = lg_error(LEDGE_ERR_FORMAT, "%s: parameter %d has another size than this network's", path,
                    i);
      goto done;
    }
    bool has = k < opt->n && opt->values[k] == net->params[i];
    bool ok = read_all(f, v->data, sizeof(float) * (size_t)count);
    for (int s = 0; s < h.slots && ok; s++) {
      float *dst = has ? (s == 0 ? opt->m[k] : opt->v[k]) : NULL;
      if (dst)
        ok = read_all(f, dst, sizeof(float) * (size_t)count);
      else
        ok = fseek(f, (long)(sizeof(float) * (size_t)count), SEEK_CUR) == 0;
    }
    if (!ok) {
      st = lg_error(LEDGE_ERR_FORMAT, "%s is truncated", path);
      goto done;
    }
    if (has) k++;
  }
  for (int i = 0; i < net->n_states; i++) {
    tr_value *v = &net->values[net->states[i]];
    int64_t count;
    if (!read_all(f, &count, sizeof count) || count != v->count ||
        !read_all(f, v->data, sizeof(float) * (size_t)count)) {
      st = lg_error(LEDGE_ERR_FORMAT, "%s is truncated or belongs to another network", path);
      goto done;
    }
  }
  pr->epochs_done = h.epochs_done;
  pr->steps = h.steps;
  pr->best_accuracy = h.best_accuracy;
  pr->best_epoch = h.best_epoch;
  pr->bad_epochs = h.bad_epochs;
  opt->step = h.opt_step;
  net->rng = h.rng;
done:
  fclose(f);
  return st;
}
