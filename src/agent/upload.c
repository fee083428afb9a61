/* upload.c: the upload queue (see upload.h). */
#include "agent/upload.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/recipe.h"
#include "agent/util.h"

#define MAX_BACKOFF_S 3600.0
#define MAX_IMAGE (16 << 20)

struct ag_uploads {
  sqlite3 *db;
  char queue_dir[1024];
  /* The bandwidth budget's bucket, in bytes, as of wall-clock time at_ms;
   * kept in the database so that a restart does not refill it. */
  double tokens;
  int64_t at_ms;
  bool bucket_loaded;
  int64_t done;
};

ag_uploads *ag_uploads_open(const char *db_path, const char *queue_dir, char *err) {
  ag_uploads *u = calloc(1, sizeof *u);
  if (!u) return NULL;
  snprintf(u->queue_dir, sizeof u->queue_dir, "%s", queue_dir);
  if (!ag_mkdirs(queue_dir, 0700, err)) {
    free(u);
    return NULL;
  }
  if (sqlite3_open_v2(db_path, &u->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
          SQLITE_OK ||
      sqlite3_exec(u->db,
                   "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                   "CREATE TABLE IF NOT EXISTS uploads(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                   " event_id TEXT NOT NULL, model_version TEXT NOT NULL, time_ms INTEGER NOT NULL,"
                   " size INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
                   " next_at INTEGER NOT NULL DEFAULT 0);"
                   "CREATE TABLE IF NOT EXISTS upload_budget(id INTEGER PRIMARY KEY CHECK (id = 1),"
                   " tokens REAL NOT NULL, at_ms INTEGER NOT NULL);",
                   NULL, NULL, NULL) != SQLITE_OK) {
    ag_fail(err, "cannot open the upload queue %s: %s", db_path,
            u->db ? sqlite3_errmsg(u->db) : "");
    ag_uploads_close(u);
    return NULL;
  }
  sqlite3_busy_timeout(u->db, 5000);
  return u;
}

void ag_uploads_close(ag_uploads *u) {
  if (!u) return;
  sqlite3_close(u->db);
  free(u);
}

void ag_upload_key(const char *device, int64_t time_ms, const char *event_id, char *out,
                   size_t size) {
  time_t s = (time_t)(time_ms / 1000);
  struct tm tm;
  gmtime_r(&s, &tm);
  snprintf(out, size, "%s/%04d/%02d/%02d/%s.jpg", device, tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, event_id);
}

static void queued_path(ag_uploads *u, const char *event_id, char *out, size_t size) {
  snprintf(out, size, "%s/%s.jpg", u->queue_dir, event_id);
}

bool ag_uploads_add(ag_uploads *u, const char *src, const char *event_id, const char *model_version,
                    int64_t time_ms, char *err) {
  if (!ag_valid_name(event_id))
    return ag_fail(err, "event id '%s' must be 1-64 of [A-Za-z0-9._-]", event_id);
  size_t size = 0;
  char *data = ag_read_file(src, &size, MAX_IMAGE, err);
  if (!data) return false;
  bool jpeg = size > 3 && (unsigned char)data[0] == 0xFF && (unsigned char)data[1] == 0xD8;
  char path[1200];
  queued_path(u, event_id, path, sizeof path);
  bool ok = jpeg ? ag_write_file_atomic(path, data, size, 0600, err)
                 : ag_fail(err, "%s is not a JPEG", src);
  free(data);
  if (!ok) return false;
  sqlite3_stmt *st;
  sqlite3_prepare_v2(
      u->db, "INSERT INTO uploads(event_id, model_version, time_ms, size) VALUES(?, ?, ?, ?)", -1,
      &st, NULL);
  sqlite3_bind_text(st, 1, event_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, model_version ? model_version : "", -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, time_ms);
  sqlite3_bind_int64(st, 4, (int64_t)size);
  ok = sqlite3_step(st) == SQLITE_DONE;
  if (!ok) ag_fail(err, "upload queue: %s", sqlite3_errmsg(u->db));
  sqlite3_finalize(st);
  if (!ok) unlink(path);
  return ok;
}

static int64_t count(ag_uploads *u) {
  sqlite3_stmt *st;
  int64_t n = 0;
  sqlite3_prepare_v2(u->db, "SELECT COUNT(*) FROM uploads", -1, &st, NULL);
  if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

int64_t ag_uploads_pending(ag_uploads *u) { return count(u); }
int64_t ag_uploads_done(ag_uploads *u) { return u->done; }

static bool upload_one(ag_uploads *u, const char *device, const char *store, const ag_s3 *s3,
                       const char *event_id, const char *model_version, int64_t time_ms,
                       char *err) {
  char path[1200], key[512], when[40];
  queued_path(u, event_id, path, sizeof path);
  size_t size = 0;
  char *data = ag_read_file(path, &size, MAX_IMAGE, err);
  if (!data) return false;
  ag_upload_key(device, time_ms, event_id, key, sizeof key);
  ag_iso8601(time_ms, when, sizeof when);
  const char *meta[] = {"device", device,          "time",        when, "event-id",
                        event_id, "model-version", model_version, NULL};
  bool ok = ag_store_put_meta(s3, store, key, data, (int64_t)size, "image/jpeg", meta, err);
  free(data);
  if (ok && !strncmp(store, "file://", 7)) {
    /* A local store keeps the metadata in a sidecar beside the image. */
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "device", device);
    cJSON_AddStringToObject(m, "time", when);
    cJSON_AddStringToObject(m, "event_id", event_id);
    cJSON_AddStringToObject(m, "model_version", model_version);
    char *text = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    char sidecar[600];
    snprintf(sidecar, sizeof sidecar, "%.*s.json", (int)(strlen(key) - 4), key);
    ok = text &&
         ag_store_put(s3, store, sidecar, text, (int64_t)strlen(text), "application/json", err);
    free(text);
  }
  if (ok) unlink(path);
  return ok;
}

double ag_uploads_tick(ag_uploads *u, const char *device, const char *store, const ag_s3 *s3,
                       int64_t budget_bytes_per_hour) {
  if (budget_bytes_per_hour > 0) {
    int64_t wall = ag_wall_ms();
    if (!u->bucket_loaded) {
      sqlite3_stmt *st;
      sqlite3_prepare_v2(u->db, "SELECT tokens, at_ms FROM upload_budget WHERE id = 1", -1, &st,
                         NULL);
      if (sqlite3_step(st) == SQLITE_ROW) {
        u->tokens = sqlite3_column_double(st, 0);
        u->at_ms = sqlite3_column_int64(st, 1);
      } else {
        u->tokens = (double)budget_bytes_per_hour; /* a full hour's budget to start with */
        u->at_ms = wall;
      }
      sqlite3_finalize(st);
      u->bucket_loaded = true;
    }
    if (wall > u->at_ms)
      u->tokens += (double)(wall - u->at_ms) / 1000.0 * (double)budget_bytes_per_hour / 3600.0;
    if (u->tokens > (double)budget_bytes_per_hour) u->tokens = (double)budget_bytes_per_hour;
    u->at_ms = wall;
  }
  for (int n = 0; n < 8; n++) {
    sqlite3_stmt *st;
    sqlite3_prepare_v2(
        u->db,
        "SELECT seq, event_id, model_version, time_ms, size, attempts, next_at FROM uploads"
        " ORDER BY next_at, seq LIMIT 1",
        -1, &st, NULL);
    if (sqlite3_step(st) != SQLITE_ROW) {
      sqlite3_finalize(st);
      return 1e9;
    }
    int64_t seq = sqlite3_column_int64(st, 0);
    char event_id[80], model_version[80];
    snprintf(event_id, sizeof event_id, "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(model_version, sizeof model_version, "%s", (const char *)sqlite3_column_text(st, 2));
    int64_t time_ms = sqlite3_column_int64(st, 3), size = sqlite3_column_int64(st, 4);
    int attempts = sqlite3_column_int(st, 5);
    int64_t next_at_ms = sqlite3_column_int64(st, 6);
    sqlite3_finalize(st);
    int64_t wall = ag_wall_ms();
    if (next_at_ms > wall) return (double)(next_at_ms - wall) / 1000.0;
    if (budget_bytes_per_hour > 0) {
      /* An image larger than the whole budget goes when the bucket is full. */
      double need = (double)size < (double)budget_bytes_per_hour ? (double)size
                                                                 : (double)budget_bytes_per_hour;
      if (u->tokens < need) return (need - u->tokens) * 3600.0 / (double)budget_bytes_per_hour;
    }
    char err[AG_ERR_SIZE], path[1200];
    queued_path(u, event_id, path, sizeof path);
    if (!ag_exists(path)) {
      ag_log(AG_LOG_WARN, "upload of %s dropped: its queued copy is gone", event_id);
      sqlite3_prepare_v2(u->db, "DELETE FROM uploads WHERE seq = ?", -1, &st, NULL);
      sqlite3_bind_int64(st, 1, seq);
      sqlite3_step(st);
      sqlite3_finalize(st);
      continue;
    }
    if (upload_one(u, device, store, s3, event_id, model_version, time_ms, err)) {
      if (budget_bytes_per_hour > 0) {
        u->tokens -= (double)size;
        sqlite3_prepare_v2(u->db, "INSERT OR REPLACE INTO upload_budget VALUES(1, ?, ?)", -1, &st,
                           NULL);
        sqlite3_bind_double(st, 1, u->tokens);
        sqlite3_bind_int64(st, 2, u->at_ms);
        sqlite3_step(st);
        sqlite3_finalize(st);
      }
      sqlite3_prepare_v2(u->db, "DELETE FROM uploads WHERE seq = ?", -1, &st, NULL);
      sqlite3_bind_int64(st, 1, seq);
      sqlite3_step(st);
      sqlite3_finalize(st);
      u->done++;
      ag_log(AG_LOG_DEBUG, "uploaded %s (%lld bytes)", event_id, (long long)size);
      continue;
    }
    double backoff = 1.0;
    for (int i = 0; i < attempts && backoff < MAX_BACKOFF_S; i++) backoff *= 2;
    if (backoff > MAX_BACKOFF_S) backoff = MAX_BACKOFF_S;
    ag_log(AG_LOG_WARN, "upload of %s failed (attempt %d, next in %.0f s): %s", event_id,
           attempts + 1, backoff, err);
    sqlite3_prepare_v2(u->db,
                       "UPDATE uploads SET attempts = attempts + 1, next_at = ? WHERE seq = ?", -1,
                       &st, NULL);
    sqlite3_bind_int64(st, 1, wall + (int64_t)(backoff * 1000));
    sqlite3_bind_int64(st, 2, seq);
    sqlite3_step(st);
    sqlite3_finalize(st);
    return backoff < 1 ? 1 : 0.05; /* the next row may be due */
  }
  return 0;
}
