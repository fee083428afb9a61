/* deploy.c: the deployment state machine.
 *
 *   received -> downloading (progress) -> installing -> running -> succeeded
 *                                                              \-> failed-rolled-back (reason)
 *   (a bad signature is rejected; a download or install failure is failed,
 *    with the running set untouched; a newer deployment supersedes one still
 *    downloading)
 *
 * The durable state is DEVDIR/state.json, rewritten atomically (temporary
 * file, fsync, rename, fsync of the directory) at every step that matters: the
 * committed deployment (what runs), the previous one (for rollback), and the
 * pending one (being applied). Each is kept as its signed envelope and
 * verified again when read back. After a kill -9 or a power cut the agent
 * reads the file: a pending deployment is applied again from the start
 * (artifacts already stored and versions already installed are reused), else
 * the committed set is started. Components' processes die with the agent, so
 * two sets never run at once. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"

static void held_clear(ag_held *h) {
  free(h->envelope);
  free(h->d);
  h->envelope = NULL;
  h->d = NULL;
  h->present = false;
}

/* Verifies and parses an envelope into h. */
static bool held_set(ag_agent *a, ag_held *h, const char *envelope, char *err) {
  char *payload = ag_verify_envelope(a->fleet_key, envelope, strlen(envelope), err);
  if (!payload) return false;
  ag_deployment *d = malloc(sizeof *d);
  bool ok = d ? ag_deployment_parse(payload, d, err) : ag_fail(err, "out of memory");
  free(payload);
  char *copy = ok ? strdup(envelope) : NULL;
  if (!copy) {
    free(d);
    return ok ? ag_fail(err, "out of memory") : false;
  }
  held_clear(h);
  h->d = d;
  h->envelope = copy;
  h->present = true;
  return true;
}

static void held_move(ag_held *to, ag_held *from) {
  held_clear(to);
  *to = *from;
  from->envelope = NULL;
  from->d = NULL;
  from->present = false;
}

/* Takes the pending deployment out of a->pending (the caller frees it). */
static ag_deployment *take_pending(ag_agent *a) {
  ag_deployment *d = a->pending.d;
  a->pending.d = NULL;
  held_clear(&a->pending);
  return d;
}

static void path_in(ag_agent *a, char *out, size_t size, const char *fmt, const char *x) {
  char rel[1024];
  snprintf(rel, sizeof rel, fmt, x);
  snprintf(out, size, "%s/%s", a->config.data_dir, rel);
}

void ag_state_free(ag_agent *a) {
  held_clear(&a->committed);
  held_clear(&a->previous);
  held_clear(&a->pending);
}

bool ag_state_save(ag_agent *a, char *err) {
  cJSON *s = cJSON_CreateObject();
  const ag_held *held[] = {&a->committed, &a->previous, &a->pending};
  const char *names[] = {"committed", "previous", "pending"};
  for (int i = 0; i < 3; i++)
    if (held[i]->present)
      cJSON_AddStringToObject(s, names[i], held[i]->envelope);
    else
      cJSON_AddNullToObject(s, names[i]);
  cJSON_AddStringToObject(s, "last_id", a->last_id);
  cJSON_AddNumberToObject(s, "highest_sequence", (double)a->highest_sequence);
  cJSON_AddStringToObject(s, "state", a->state);
  cJSON_AddStringToObject(s, "reason", a->reason);
  char *text = cJSON_Print(s);
  cJSON_Delete(s);
  if (!text) return ag_fail(err, "out of memory");
  char path[1200];
  path_in(a, path, sizeof path, "%s", "state.json");
  bool ok = ag_write_file_atomic(path, text, strlen(text), 0600, err);
  free(text);
  return ok;
}

bool ag_state_load(ag_agent *a, char *err) {
  char path[1200];
  path_in(a, path, sizeof path, "%s", "state.json");
  held_clear(&a->committed);
  held_clear(&a->previous);
  held_clear(&a->pending);
  snprintf(a->state, sizeof a->state, "idle");
  a->reason[0] = a->last_id[0] = 0;
  a->highest_sequence = 0;
  if (!ag_exists(path)) return true;
  char *text = ag_read_file(path, NULL, 16 << 20, err);
  if (!text) return false;
  cJSON *s = cJSON_Parse(text);
  free(text);
  if (!s) return ag_fail(err, "%s is damaged (invalid JSON)", path);
  ag_held *held[] = {&a->committed, &a->previous, &a->pending};
  const char *names[] = {"committed", "previous", "pending"};
  bool ok = true;
  for (int i = 0; i < 3 && ok; i++) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(s, names[i]);
    if (cJSON_IsString(e)) {
      char why[AG_ERR_SIZE];
      if (!held_set(a, held[i], e->valuestring, why))
        ok = ag_fail(err, "%s: %s deployment: %s", path, names[i], why);
    }
  }
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, "last_id");
  if (cJSON_IsString(v)) snprintf(a->last_id, sizeof a->last_id, "%s", v->valuestring);
  v = cJSON_GetObjectItemCaseSensitive(s, "highest_sequence");
  if (cJSON_IsNumber(v)) a->highest_sequence = (int64_t)v->valuedouble;
  v = cJSON_GetObjectItemCaseSensitive(s, "state");
  if (cJSON_IsString(v)) snprintf(a->state, sizeof a->state, "%s", v->valuestring);
  v = cJSON_GetObjectItemCaseSensitive(s, "reason");
  if (cJSON_IsString(v)) snprintf(a->reason, sizeof a->reason, "%s", v->valuestring);
  cJSON_Delete(s);
  return ok;
}

/* ---- Artifacts --------------------------------------------------------- */

typedef struct progress_ctx {
  ag_agent *a;
  const ag_deployment *d;
  int64_t base, total;
  int last_percent;
  double last_report;
} progress_ctx;

static bool on_progress(void *ctx, int64_t done, int64_t total) {
  progress_ctx *p = ctx;
  int percent = p->total > 0 ? (int)((p->base + done) * 100 / p->total) : 0;
  if (percent > 100) percent = 100;
  double now = ag_now();
  if (percent != p->last_percent && now - p->last_report >= 1.0) {
    p->last_percent = percent;
    p->last_report = now;
    ag_report(p->a, p->d, "downloading", NULL, percent);
  }
  ag_pump(p->a);
  /* A newer deployment supersedes this one while it downloads. */
  return !(p->a->incoming && p->a->incoming_sequence > p->d->sequence) && !p->a->stop;
}

static bool uri_allowed(ag_agent *a, const char *uri) {
  for (int i = 0; i < a->config.n_stores; i++)
    if (ag_uri_in_store(uri, a->config.stores[i])) return true;
  return false;
}

/* Brings every artifact of d into store/sha256/<digest>, verified. */
static bool fetch_artifacts(ag_agent *a, const ag_deployment *d, char *err) {
  char dir[1200], partial_dir[1200];
  path_in(a, dir, sizeof dir, "%s", "store/sha256");
  path_in(a, partial_dir, sizeof partial_dir, "%s", "store/partial");
  if (!ag_mkdirs(dir, 0755, err) || !ag_mkdirs(partial_dir, 0755, err)) return false;
  progress_ctx p = {.a = a, .d = d, .last_percent = -1};
  for (int c = 0; c < d->n_components; c++)
    for (int i = 0; i < d->components[c].n_artifacts; i++)
      p.total += d->components[c].artifacts[i].size;
  for (int c = 0; c < d->n_components; c++) {
    const ag_component *comp = &d->components[c];
    for (int i = 0; i < comp->n_artifacts; i++) {
      const ag_artifact *art = &comp->artifacts[i];
      if (!uri_allowed(a, art->uri))
        return ag_fail(err, "%s: artifact %s is outside the configured stores", comp->name,
                       art->uri);
      char final[1400], part[1400], inbox[1400];
      snprintf(final, sizeof final, "%s/%s", dir, art->sha256);
      snprintf(part, sizeof part, "%s/%s", partial_dir, art->sha256);
      if (ag_exists(final)) {
        p.base += art->size;
        continue;
      }
      snprintf(inbox, sizeof inbox, "%s/%s", a->config.inbox_dir, art->sha256);
      bool ok;
      if (ag_exists(inbox)) {
        /* Delivered by hand (USB stick, service laptop) beside the deployment. */
        unlink(part);
        char uri[1500];
        snprintf(uri, sizeof uri, "file://%s", inbox);
        ok = ag_fetch(&a->config.s3, uri, part, art->size, on_progress, &p, err);
      } else {
        ag_log(AG_LOG_INFO, "downloading %s (%lld bytes)", art->uri, (long long)art->size);
        ok = ag_fetch(&a->config.s3, art->uri, part, art->size, on_progress, &p, err);
      }
      if (!ok) {
        /* A transfer error keeps the partial file for a resume; a file that
         * cannot be right is removed. */
        if (strstr(err, "larger than") || strstr(err, "No space left") || strstr(err, "too large"))
          unlink(part); /* nothing to resume, and the space is needed */
        return false;
      }
      char digest[65];
      int64_t size = 0;
      if (!ag_sha256_file(part, digest, &size, err)) return false;
      if (size != art->size || strcmp(digest, art->sha256)) {
        unlink(part);
        return ag_fail(err,
                       "%s: artifact %s rejected: %s (expected %lld bytes, sha256 %.12s..., got "
                       "%lld bytes, %.12s...)",
                       comp->name, art->name,
                       size != art->size ? "size mismatch" : "digest mismatch",
                       (long long)art->size, art->sha256, (long long)size, digest);
      }
      if (rename(part, final) != 0)
        return ag_fail(err, "cannot store %s: %s", art->name, strerror(errno));
      ag_fsync_dir(dir);
      p.base += art->size;
    }
  }
  ag_report(a, d, "downloading", NULL, 100);
  return true;
}

/* ---- Install ------------------------------------------------------------ */

static bool install_component(ag_agent *a, const ag_component *c, char *err) {
  char dir[1400], tmp[1400], marker[1500];
  snprintf(dir, sizeof dir, "%s/components/%s/%s", a->config.data_dir, c->name, c->version);
  snprintf(marker, sizeof marker, "%s/.installed", dir);
  if (ag_exists(marker)) return true;
  if (ag_exists(dir)) ag_remove_tree(dir); /* an install that never finished */
  snprintf(tmp, sizeof tmp, "%s/components/%s/.tmp-%s", a->config.data_dir, c->name, c->version);
  ag_remove_tree(tmp);
  if (!ag_mkdirs(tmp, 0755, err)) return false;
  for (int i = 0; i < c->n_artifacts; i++) {
    char from[1400], to[1600];
    snprintf(from, sizeof from, "%s/store/sha256/%s", a->config.data_dir, c->artifacts[i].sha256);
    snprintf(to, sizeof to, "%s/%s", tmp, c->artifacts[i].name);
    /* A hard link costs no space; content-addressed files are never changed. */
    if (link(from, to) != 0 && !ag_copy_file(from, to, 0644, err)) goto fail;
  }
  char path[1600];
  snprintf(path, sizeof path, "%s/config.json", tmp);
  if (!ag_write_file_atomic(path, c->configuration, strlen(c->configuration), 0644, err)) goto fail;
  if (c->install_cmd[0]) {
    char log[1400];
    snprintf(log, sizeof log, "%s/logs/%s.log", a->config.data_dir, c->name);
    char why[AG_ERR_SIZE];
    if (!ag_run_command(a, c->install_cmd, tmp, c->install_timeout_s, log, c->name, why)) {
      ag_fail(err, "%s: install failed: %s", c->name, why);
      goto fail;
    }
  }
  snprintf(path, sizeof path, "%s/.installed", tmp);
  if (!ag_write_file_atomic(path, "", 0, 0644, err)) goto fail;
  if (rename(tmp, dir) != 0) {
    ag_fail(err, "cannot install %s: %s", c->name, strerror(errno));
    goto fail;
  }
  char parent[1400];
  ag_dirname(dir, parent, sizeof parent);
  ag_fsync_dir(parent);
  return true;
fail:
  ag_remove_tree(tmp);
  return false;
}

/* components/<name>/current -> <version>, replaced atomically. */
static void link_current(ag_agent *a, const ag_deployment *d) {
  for (int i = 0; i < d->n_components; i++) {
    char cur[1400], tmp[1500];
    snprintf(cur, sizeof cur, "%s/components/%s/current", a->config.data_dir,
             d->components[i].name);
    snprintf(tmp, sizeof tmp, "%s.tmp", cur);
    unlink(tmp);
    if (symlink(d->components[i].version, tmp) == 0 && rename(tmp, cur) != 0) unlink(tmp);
  }
}

/* ---- Health ------------------------------------------------------------- */

static bool check_health(ag_agent *a, const ag_deployment *d, char *err) {
  double window = 0;
  for (int i = 0; i < d->n_components; i++) {
    const ag_component *c = &d->components[i];
    char dir[1400], log[1400];
    snprintf(dir, sizeof dir, "%s/components/%s/%s", a->config.data_dir, c->name, c->version);
    snprintf(log, sizeof log, "%s/logs/%s.health.log", a->config.data_dir, c->name);
    char why[AG_ERR_SIZE];
    if (c->health == AG_HEALTH_INFERENCE) {
      char model[1600];
      snprintf(model, sizeof model, "%s/%s", dir, c->health_artifact);
      if (!ag_health_model(a, model, c->health_timeout_s, log, why))
        return ag_fail(err, "%s: %s", c->name, why);
    } else if (c->health == AG_HEALTH_COMMAND) {
      if (!ag_run_command(a, c->health_cmd, dir, c->health_timeout_s, log, c->name, why))
        return ag_fail(err, "%s: health check failed: %s", c->name, why);
    }
    if (c->run_cmd[0] && c->health_window_s > window) window = c->health_window_s;
  }
  /* Repeated crashes soon after the start fail the deployment. */
  double end = ag_now() + window;
  while (ag_now() < end && !a->stop) {
    ag_children_tick(a);
    for (int i = 0; i < a->n_children; i++)
      if (a->children[i].broken)
        return ag_fail(err, "%s: crash loop (%d crashes after the start)", a->children[i].component,
                       a->children[i].crashes);
    ag_pump(a);
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return true;
}

/* ---- The state machine -------------------------------------------------- */

static void finish(ag_agent *a, const ag_deployment *d, const char *state, const char *reason) {
  snprintf(a->state, sizeof a->state, "%s", state);
  snprintf(a->reason, sizeof a->reason, "%s", reason ? reason : "");
  snprintf(a->last_id, sizeof a->last_id, "%s", d->id);
  char err[AG_ERR_SIZE];
  if (!ag_state_save(a, err)) ag_log(AG_LOG_ERROR, "%s", err);
  if (reason)
    ag_log(AG_LOG_ERROR, "deployment %s: %s: %s", d->id, state, reason);
  else
    ag_log(AG_LOG_INFO, "deployment %s: %s", d->id, state);
  ag_report(a, d, state, reason, -1);
  ag_publish_device_status(a);
}

/* Applies a->pending (already verified and saved). */
static void apply_pending(ag_agent *a) {
  ag_deployment *d = a->pending.d;
  char err[AG_ERR_SIZE] = "";
  snprintf(a->state, sizeof a->state, "downloading");
  if (!fetch_artifacts(a, d, err)) {
    if (a->stop) {
      /* SIGTERM: not a failure; the deployment stays pending and resumes
       * (with a Range request) at the next start. */
      ag_log(AG_LOG_INFO, "deployment %s interrupted by shutdown; it resumes at the next start",
             d->id);
      return;
    }
    bool superseded = a->incoming && a->incoming_sequence > d->sequence;
    d = take_pending(a);
    finish(a, d, superseded ? "superseded" : "failed",
           superseded ? "a newer deployment arrived" : err);
    free(d);
    return;
  }
  ag_report(a, d, "installing", NULL, -1);
  snprintf(a->state, sizeof a->state, "installing");
  for (int i = 0; i < d->n_components; i++) {
    if (!install_component(a, &d->components[i], err)) {
      d = take_pending(a);
      finish(a, d, "failed", err);
      free(d);
      return;
    }
  }
  /* Activation: the old set stops, the new set starts and must prove healthy. */
  ag_children_stop(a);
  snprintf(a->state, sizeof a->state, "running");
  bool ok = ag_children_start(a, d, err);
  ag_report(a, d, "running", NULL, -1);
  ok = ok && check_health(a, d, err);
  if (a->stop) {
    ag_log(AG_LOG_INFO, "deployment %s interrupted by shutdown; it resumes at the next start",
           d->id);
    return; /* the loop stops the new set; state.json still says pending */
  }
  if (ok || !d->rollback_on_failure) {
    held_move(&a->previous, &a->committed);
    held_move(&a->committed, &a->pending);
    link_current(a, a->committed.d);
    finish(a, a->committed.d, ok ? "succeeded" : "failed", ok ? NULL : err);
    return;
  }
  ag_children_stop(a);
  d = take_pending(a);
  char why[AG_ERR_SIZE + 64];
  snprintf(why, sizeof why, "%s", err);
  if (a->committed.present) {
    char err2[AG_ERR_SIZE];
    if (!ag_children_start(a, a->committed.d, err2)) ag_log(AG_LOG_ERROR, "rollback: %s", err2);
    link_current(a, a->committed.d);
  }
  finish(a, d, "failed-rolled-back", why);
  free(d);
}

void ag_deployment_offer(ag_agent *a, const char *envelope, size_t size, const char *source) {
  char err[AG_ERR_SIZE];
  char *text = malloc(size + 1);
  if (!text) return;
  memcpy(text, envelope, size);
  text[size] = 0;
  char *payload = ag_verify_envelope(a->fleet_key, text, size, err);
  ag_deployment *d = calloc(1, sizeof *d);
  if (!d) goto done;
  if (!payload || !ag_deployment_parse(payload, d, err)) {
    ag_log(AG_LOG_ERROR, "deployment from %s rejected: %s", source, err);
    /* Report it under its id if that much parsed; no components. */
    if (!d->id[0]) snprintf(d->id, sizeof d->id, "unknown");
    d->n_components = 0;
    ag_report(a, d, "rejected", err, -1);
    goto done;
  }
  if (d->group[0] ? strcmp(d->group, a->config.group) : strcmp(d->device, a->config.device)) {
    ag_log(AG_LOG_DEBUG, "deployment %s is for another target", d->id);
    goto done;
  }
  if (a->pending.present) {
    /* Busy applying one: remember the newest, the loop offers it next. */
    if (d->sequence > a->pending.d->sequence && d->sequence > a->incoming_sequence) {
      free(a->incoming);
      a->incoming = text;
      a->incoming_sequence = d->sequence;
      text = NULL;
    }
    goto done;
  }
  if (!strcmp(d->id, a->last_id) || (a->committed.present && !strcmp(d->id, a->committed.d->id))) {
    ag_log(AG_LOG_DEBUG, "deployment %s already applied (%s)", d->id, a->state);
    goto done;
  }
  if (d->sequence <= a->highest_sequence) {
    ag_log(AG_LOG_INFO, "deployment %s ignored: older than one already received", d->id);
    goto done;
  }
  ag_log(AG_LOG_INFO, "deployment %s received from %s (%d components)", d->id, source,
         d->n_components);
  if (!held_set(a, &a->pending, text, err)) goto done;
  a->highest_sequence = d->sequence;
  snprintf(a->state, sizeof a->state, "received");
  a->reason[0] = 0;
  if (!ag_state_save(a, err)) {
    /* Without a durable record nothing may change (e.g. the disk is full). */
    held_clear(&a->pending);
    ag_log(AG_LOG_ERROR, "deployment %s: %s", d->id, err);
    ag_report(a, d, "failed", err, -1);
    snprintf(a->state, sizeof a->state, "%s", a->committed.present ? "succeeded" : "idle");
    goto done;
  }
  ag_report(a, d, "received", NULL, -1);
  apply_pending(a);
done:
  free(d);
  free(payload);
  free(text);
}

void ag_deploy_resume(ag_agent *a) {
  char err[AG_ERR_SIZE];
  ag_kill_strays(a);
  if (a->pending.present) {
    /* The committed set runs while the interrupted deployment downloads and
     * installs again; activation stops it as usual. */
    if (a->committed.present && !ag_children_start(a, a->committed.d, err))
      ag_log(AG_LOG_ERROR, "%s", err);
    ag_log(AG_LOG_INFO, "resuming the interrupted deployment %s", a->pending.d->id);
    ag_report(a, a->pending.d, "received", "resumed after a restart", -1);
    apply_pending(a);
    return;
  }
  if (a->committed.present) {
    if (!ag_children_start(a, a->committed.d, err)) ag_log(AG_LOG_ERROR, "%s", err);
    ag_log(AG_LOG_INFO, "running deployment %s", a->committed.d->id);
  }
}

void ag_inbox_scan(ag_agent *a) {
  DIR *dir = opendir(a->config.inbox_dir);
  if (!dir) return;
  char names[32][256];
  int n = 0;
  struct dirent *e;
  while ((e = readdir(dir)) && n < 32) {
    size_t len = strlen(e->d_name);
    if (len > 5 && len < 256 && !strcmp(e->d_name + len - 5, ".json") && e->d_name[0] != '.')
      snprintf(names[n++], sizeof names[0], "%s", e->d_name);
  }
  closedir(dir);
  for (int i = 0; i < n; i++) {
    char path[1400], done_dir[1400], done[1700], err[AG_ERR_SIZE];
    snprintf(path, sizeof path, "%s/%s", a->config.inbox_dir, names[i]);
    size_t size = 0;
    char *text = ag_read_file(path, &size, 4 << 20, err);
    if (!text) {
      ag_log(AG_LOG_ERROR, "inbox: %s", err);
      continue;
    }
    ag_log(AG_LOG_INFO, "inbox: %s", names[i]);
    ag_deployment_offer(a, text, size, "inbox");
    free(text);
    snprintf(done_dir, sizeof done_dir, "%s/done", a->config.inbox_dir);
    ag_mkdirs(done_dir, 0755, NULL);
    snprintf(done, sizeof done, "%s/%s", done_dir, names[i]);
    if (rename(path, done) != 0) unlink(path);
  }
}
