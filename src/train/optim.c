/* optim.c: optimizers, schedules, gradient clipping (see optim.h). */
#include "train/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {"sgd", "nag", "adam", "adamw", "rmsprop"};

bool tr_optimizer_parse(const char *name, tr_optimizer_kind *out) {
  for (int i = 0; i < 5; i++)
    if (!strcmp(name, names[i])) {
      *out = (tr_optimizer_kind)i;
      return true;
    }
  return false;
}

const char *tr_optimizer_name(tr_optimizer_kind kind) { return names[kind]; }

int tr_optimizer_slots(const tr_optimizer *opt) {
  return opt->cfg.kind == TR_OPT_ADAM || opt->cfg.kind == TR_OPT_ADAMW ? 2 : 1;
}

lg_status tr_optimizer_create(const tr_net *net, const tr_optim_config *cfg, tr_optimizer **out) {
  tr_optimizer *o = calloc(1, sizeof *o);
  if (!o) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  o->cfg = *cfg;
  o->values = calloc((size_t)net->n_params + 1, sizeof(int));
  o->m = calloc((size_t)net->n_params + 1, sizeof(float *));
  o->v = calloc((size_t)net->n_params + 1, sizeof(float *));
  if (!o->values || !o->m || !o->v) goto oom;
  for (int i = 0; i < net->n_params; i++) {
    const tr_value *v = &net->values[net->params[i]];
    if (!v->grad) continue;
    int k = o->n++;
    o->values[k] = net->params[i];
    o->m[k] = calloc((size_t)v->count, sizeof(float));
    if (!o->m[k]) goto oom;
    if (tr_optimizer_slots(o) == 2) {
      o->v[k] = calloc((size_t)v->count, sizeof(float));
      if (!o->v[k]) goto oom;
    }
  }
  *out = o;
  return LEDGE_OK;
oom:
  tr_optimizer_destroy(o);
  return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory for the optimizer state");
}

void tr_optimizer_destroy(tr_optimizer *o) {
  if (!o) return;
  for (int i = 0; i < o->n; i++) {
    free(o->m[i]);
    free(o->v[i]);
  }
  free(o->m);
  free(o->v);
  free(o->values);
  free(o);
}

double tr_optimizer_step(tr_optimizer *o, tr_net *net, float lr) {
  const tr_optim_config *c = &o->cfg;
  double sq = 0;
  for (int k = 0; k < o->n; k++) {
    const tr_value *v = &net->values[o->values[k]];
    for (int64_t i = 0; i < v->count; i++) sq += (double)v->grad[i] * v->grad[i];
  }
  double norm = sqrt(sq);
  float clip = 1.0f;
  if (c->clip_gradient > 0 && norm > c->clip_gradient) clip = (float)(c->clip_gradient / norm);
  o->step++;
  double bc1 = 1.0 - pow(c->beta1, (double)o->step), bc2 = 1.0 - pow(c->beta2, (double)o->step);
  for (int k = 0; k < o->n; k++) {
    tr_value *v = &net->values[o->values[k]];
    float *w = v->data, *g = v->grad, *m = o->m[k], *s = o->v[k];
    float rate = lr * v->lr_mult, wd = v->decay ? c->weight_decay : 0.0f;
    int64_t n = v->count;
    switch (c->kind) {
      case TR_OPT_SGD:
        for (int64_t i = 0; i < n; i++) {
          float gi = g[i] * clip + wd * w[i];
          m[i] = c->momentum * m[i] + gi;
          w[i] -= rate * m[i];
        }
        break;
      case TR_OPT_NAG:
        for (int64_t i = 0; i < n; i++) {
          float gi = g[i] * clip + wd * w[i];
          m[i] = c->momentum * m[i] + gi;
          w[i] -= rate * (gi + c->momentum * m[i]);
        }
        break;
      case TR_OPT_ADAM:
      case TR_OPT_ADAMW: {
        bool decoupled = c->kind == TR_OPT_ADAMW;
        float a = (float)(rate * sqrt(bc2) / bc1);
        for (int64_t i = 0; i < n; i++) {
          float gi = g[i] * clip + (decoupled ? 0.0f : wd * w[i]);
          m[i] = c->beta1 * m[i] + (1 - c->beta1) * gi;
          s[i] = c->beta2 * s[i] + (1 - c->beta2) * gi * gi;
          if (decoupled) w[i] -= rate * wd * w[i];
          w[i] -= a * m[i] / (sqrtf(s[i]) + c->epsilon * (float)sqrt(bc2));
        }
        break;
      }
      case TR_OPT_RMSPROP:
        for (int64_t i = 0; i < n; i++) {
          float gi = g[i] * clip + wd * w[i];
          m[i] = c->rho * m[i] + (1 - c->rho) * gi * gi;
          w[i] -= rate * gi / (sqrtf(m[i]) + c->epsilon);
        }
        break;
    }
  }
  return norm;
}

bool tr_schedule_parse_steps(tr_schedule *s, const char *list) {
  s->n_steps = 0;
  if (!list || !*list) return true;
  const char *p = list;
  while (*p) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || v < 1 || v > 1000000 || s->n_steps >= 32) return false;
    s->steps[s->n_steps++] = (int)v;
    p = end;
    while (*p == ' ') p++;
    if (*p == ',')
      p++;
    else if (*p)
      return false;
  }
  return true;
}

float tr_schedule_lr(const tr_schedule *s, double epoch) {
  double lr = s->base_lr;
  if (s->kind == TR_SCHED_STEP) {
    for (int i = 0; i < s->n_steps; i++)
      if (epoch >= s->steps[i]) lr *= s->factor;
  } else {
    double span = s->epochs - s->warmup_epochs;
    double t = span > 0 ? (epoch - s->warmup_epochs) / span : 1.0;
    if (t < 0) t = 0;
    if (t > 1) t = 1;
    lr = s->min_lr + (s->base_lr - s->min_lr) * 0.5 * (1 + cos(3.14159265358979 * t));
  }
  if (s->warmup_epochs > 0 && epoch < s->warmup_epochs) lr *= epoch / s->warmup_epochs;
  return (float)lr;
}
