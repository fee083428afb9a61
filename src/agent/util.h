/* util.h: what the agent's files share: logging, files written durably,
 * directories, hex and base64. Internal to src/agent. */
#ifndef LEDGE_AGENT_UTIL_H
#define LEDGE_AGENT_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Logging: one line per message on stderr, with a level prefix that
 * journald understands (<3> error, <4> warning, <6> info, <7> debug). */
typedef enum { AG_LOG_ERROR = 3, AG_LOG_WARN = 4, AG_LOG_INFO = 6, AG_LOG_DEBUG = 7 } ag_log_level;
void ag_log_set_level(ag_log_level level);
bool ag_log_parse_level(const char *name, ag_log_level *out);
void ag_log(ag_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- Errors: the agent's functions return false and leave a one-line reason
 * in a caller buffer of AG_ERR_SIZE bytes. */
#define AG_ERR_SIZE 512
bool ag_fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- Files */
/* Reads a whole file (NUL-terminated); NULL with err set on failure. */
char *ag_read_file(const char *path, size_t *size, size_t max_size, char *err);
/* Writes path durably: a temporary file beside it, fsync, rename over path,
 * fsync of the directory. Readers see the old or the new content, never a mix. */
bool ag_write_file_atomic(const char *path, const void *data, size_t size, int mode, char *err);
bool ag_fsync_dir(const char *dir);
bool ag_mkdirs(const char *path, int mode, char *err);
/* Removes a file or a directory tree (missing is fine). */
bool ag_remove_tree(const char *path);
bool ag_exists(const char *path);
/* Copies a file (to a temporary name, then renamed into place after fsync). */
bool ag_copy_file(const char *from, const char *to, int mode, char *err);
/* The directory part of a path, in a static-free caller buffer. */
void ag_dirname(const char *path, char *out, size_t size);

/* ---- Encodings */
void ag_hex(const uint8_t *data, size_t size, char *out);  /* out: 2*size+1 */
bool ag_is_hex_digest(const char *s);                      /* 64 lowercase hex digits */
char *ag_base64_encode(const uint8_t *data, size_t size);  /* malloc'd */
uint8_t *ag_base64_decode(const char *text, size_t *size); /* malloc'd; NULL if invalid */

/* ---- Time */
double ag_now(void);                                 /* monotonic seconds */
int64_t ag_wall_ms(void);                            /* milliseconds since the epoch */
void ag_iso8601(int64_t ms, char *out, size_t size); /* 2026-11-25T18:30:00.123Z */

#endif
