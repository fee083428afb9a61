/* outbox.c: SQLite (WAL) outbox with a size cap and priority-based dropping. */
#include "agent/outbox.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/util.h"

struct ag_outbox {
  sqlite3 *db;
  int64_t max_bytes, bytes, count;
};

static bool exec(ag_outbox *box, const char *sql, char *err) {
  char *msg = NULL;
  if (sqlite3_exec(box->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    ag_fail(err, "outbox: %s", msg ? msg : sqlite3_errmsg(box->db));
    sqlite3_free(msg);
    return false;
  }
  return true;
}

static int64_t query_int(ag_outbox *box, const char *sql) {
  sqlite3_stmt *st;
  int64_t v = 0;
  if (sqlite3_prepare_v2(box->db, sql, -1, &st, NULL) != SQLITE_OK) return 0;
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

ag_outbox *ag_outbox_open(const char *path, int64_t max_bytes, char *err) {
  ag_outbox *box = calloc(1, sizeof *box);
  if (!box) return NULL;
  box->max_bytes = max_bytes;
  if (sqlite3_open_v2(path, &box->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK) {
    ag_fail(err, "cannot open the outbox %s: %s", path,
            box->db ? sqlite3_errmsg(box->db) : "out of memory");
    ag_outbox_close(box);
    return NULL;
  }
  sqlite3_busy_timeout(box->db, 5000);
  /* WAL with synchronous=FULL: a row is on disk when the insert returns. */
  if (!exec(box, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", err) ||
      !exec(box,
            "CREATE TABLE IF NOT EXISTS outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT "
            "NOT NULL,"
            " payload BLOB NOT NULL, priority INTEGER NOT NULL, retain INTEGER NOT NULL);"
            "CREATE INDEX IF NOT EXISTS outbox_drop ON outbox(priority, seq);"
            "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
            "INSERT OR IGNORE INTO meta VALUES('dropped', 0);"
            "INSERT OR IGNORE INTO meta VALUES('next_id', 1);",
            err)) {
    ag_outbox_close(box);
    return NULL;
  }
  box->bytes =
      query_int(box, "SELECT COALESCE(SUM(length(payload) + length(topic)), 0) FROM outbox");
  box->count = query_int(box, "SELECT COUNT(*) FROM outbox");
  return box;
}

void ag_outbox_close(ag_outbox *box) {
  if (!box) return;
  sqlite3_close(box->db);
  free(box);
}

void ag_outbox_set_limit(ag_outbox *box, int64_t max_bytes) { box->max_bytes = max_bytes; }

int64_t ag_outbox_next_id(ag_outbox *box) {
  int64_t id = query_int(box, "SELECT value FROM meta WHERE key='next_id'");
  exec(box, "UPDATE meta SET value = value + 1 WHERE key='next_id'", NULL);
  return id;
}

bool ag_outbox_add(ag_outbox *box, const char *topic, const void *payload, int size, int priority,
                   bool retain, char *err) {
  int64_t need = size + (int64_t)strlen(topic);
  if (box->max_bytes > 0 && need > box->max_bytes)
    return ag_fail(err, "outbox: a %d-byte message exceeds the cap", size);
  if (!exec(box, "BEGIN IMMEDIATE", err)) return false;
  /* Make room: the lowest priority goes first, the oldest within a priority;
   * never a row of higher priority than the new one. */
  int64_t dropped = 0;
  while (box->max_bytes > 0 && box->bytes + need > box->max_bytes && box->count > 0) {
    sqlite3_stmt *st;
    sqlite3_prepare_v2(box->db,
                       "SELECT seq, length(payload) + length(topic), priority FROM outbox ORDER BY "
                       "priority, seq LIMIT 1",
                       -1, &st, NULL);
    int64_t seq = -1, bytes = 0, prio = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
      seq = sqlite3_column_int64(st, 0);
      bytes = sqlite3_column_int64(st, 1);
      prio = sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    if (seq < 0 || prio > priority) break;
    sqlite3_prepare_v2(box->db, "DELETE FROM outbox WHERE seq = ?", -1, &st, NULL);
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_step(st);
    sqlite3_finalize(st);
    box->bytes -= bytes;
    box->count--;
    dropped++;
  }
  bool fits = box->max_bytes <= 0 || box->bytes + need <= box->max_bytes;
  bool ok = true;
  if (fits) {
    sqlite3_stmt *st;
    sqlite3_prepare_v2(box->db,
                       "INSERT INTO outbox(topic, payload, priority, retain) VALUES(?, ?, ?, ?)",
                       -1, &st, NULL);
    sqlite3_bind_text(st, 1, topic, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, payload, size, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, priority);
    sqlite3_bind_int(st, 4, retain);
    ok = sqlite3_step(st) == SQLITE_DONE;
    if (!ok) ag_fail(err, "outbox: %s", sqlite3_errmsg(box->db));
    sqlite3_finalize(st);
  } else {
    dropped++; /* the new message itself has the lowest priority */
  }
  if (ok && dropped) {
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE meta SET value = value + %lld WHERE key='dropped'",
             (long long)dropped);
    ok = exec(box, sql, err);
  }
  if (!ok) {
    exec(box, "ROLLBACK", NULL);
    box->bytes =
        query_int(box, "SELECT COALESCE(SUM(length(payload) + length(topic)), 0) FROM outbox");
    box->count = query_int(box, "SELECT COUNT(*) FROM outbox");
    return false;
  }
  if (!exec(box, "COMMIT", err)) {
    exec(box, "ROLLBACK", NULL);
    box->bytes =
        query_int(box, "SELECT COALESCE(SUM(length(payload) + length(topic)), 0) FROM outbox");
    box->count = query_int(box, "SELECT COUNT(*) FROM outbox");
    return false;
  }
  if (fits) {
    box->bytes += need;
    box->count++;
  }
  return true;
}

int ag_outbox_next(ag_outbox *box, int64_t after, ag_outbox_row *rows, int max) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(
          box->db,
          "SELECT seq, topic, payload, retain FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", -1,
          &st, NULL) != SQLITE_OK)
    return 0;
  sqlite3_bind_int64(st, 1, after);
  sqlite3_bind_int(st, 2, max);
  int n = 0;
  while (n < max && sqlite3_step(st) == SQLITE_ROW) {
    ag_outbox_row *r = &rows[n];
    r->seq = sqlite3_column_int64(st, 0);
    snprintf(r->topic, sizeof r->topic, "%s", (const char *)sqlite3_column_text(st, 1));
    r->size = sqlite3_column_bytes(st, 2);
    r->payload = malloc((size_t)r->size + 1);
    if (!r->payload) break;
    memcpy(r->payload, sqlite3_column_blob(st, 2), (size_t)r->size);
    r->payload[r->size] = 0;
    r->retain = sqlite3_column_int(st, 3);
    n++;
  }
  sqlite3_finalize(st);
  return n;
}

void ag_outbox_row_free(ag_outbox_row *row) {
  free(row->payload);
  row->payload = NULL;
}

bool ag_outbox_delete(ag_outbox *box, int64_t seq) {
  sqlite3_stmt *st;
  sqlite3_prepare_v2(box->db,
                     "DELETE FROM outbox WHERE seq = ? RETURNING length(payload) + length(topic)",
                     -1, &st, NULL);
  sqlite3_bind_int64(st, 1, seq);
  bool found = sqlite3_step(st) == SQLITE_ROW;
  if (found) {
    box->bytes -= sqlite3_column_int64(st, 0);
    box->count--;
  }
  sqlite3_finalize(st);
  return found;
}

int64_t ag_outbox_count(ag_outbox *box) { return box->count; }
int64_t ag_outbox_bytes(ag_outbox *box) { return box->bytes; }
int64_t ag_outbox_dropped(ag_outbox *box) {
  return query_int(box, "SELECT value FROM meta WHERE key='dropped'");
}

void ag_outbox_count_dropped(ag_outbox *box, int64_t n) {
  char sql[128];
  snprintf(sql, sizeof sql, "UPDATE meta SET value = value + %lld WHERE key='dropped'",
           (long long)n);
  exec(box, sql, NULL);
}
