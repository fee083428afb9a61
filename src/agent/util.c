/* util.c: logging, durable file writes, directories, hex and base64. */
#include "agent/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static ag_log_level log_level = AG_LOG_INFO;

void ag_log_set_level(ag_log_level level) { log_level = level; }

bool ag_log_parse_level(const char *name, ag_log_level *out) {
  static const struct {
    const char *name;
    ag_log_level level;
  } levels[] = {{"error", AG_LOG_ERROR},
                {"warning", AG_LOG_WARN},
                {"warn", AG_LOG_WARN},
                {"info", AG_LOG_INFO},
                {"debug", AG_LOG_DEBUG}};
  for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
    if (!strcmp(name, levels[i].name)) {
      *out = levels[i].level;
      return true;
    }
  return false;
}

void ag_log(ag_log_level level, const char *fmt, ...) {
  if (level > log_level) return;
  static const char *names[8] = {"", "", "", "error", "warning", "", "info", "debug"};
  char line[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  /* One write per line so that lines of several processes never interleave. */
  char out[2200];
  int n = snprintf(out, sizeof out, "<%d>ledged: %s: %s\n", (int)level, names[level], line);
  if (n > (int)sizeof out - 1) n = (int)sizeof out - 1;
  ssize_t w = write(2, out, (size_t)n);
  (void)w;
}

bool ag_fail(char *err, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, AG_ERR_SIZE, fmt, ap);
    va_end(ap);
  }
  return false;
}

char *ag_read_file(const char *path, size_t *size, size_t max_size, char *err) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    ag_fail(err, "cannot open %s: %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap + 1);
  while (buf) {
    if (len == cap) {
      if (cap >= max_size) {
        ag_fail(err, "%s is larger than %zu bytes", path, max_size);
        free(buf);
        fclose(f);
        return NULL;
      }
      cap *= 2;
      char *grown = realloc(buf, cap + 1);
      if (!grown) break;
      buf = grown;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
  }
  bool bad = ferror(f);
  fclose(f);
  if (!buf || bad) {
    free(buf);
    ag_fail(err, "cannot read %s", path);
    return NULL;
  }
  if (len > max_size) {
    free(buf);
    ag_fail(err, "%s is larger than %zu bytes", path, max_size);
    return NULL;
  }
  buf[len] = 0;
  if (size) *size = len;
  return buf;
}

void ag_dirname(const char *path, char *out, size_t size) {
  snprintf(out, size, "%s", path);
  char *slash = strrchr(out, '/');
  if (!slash)
    snprintf(out, size, ".");
  else if (slash == out)
    out[1] = 0;
  else
    *slash = 0;
}

bool ag_fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return false;
  bool ok = fsync(fd) == 0;
  close(fd);
  return ok;
}

static bool write_all(int fd, const void *data, size_t size) {
  const char *p = data;
  while (size > 0) {
    ssize_t w = write(fd, p, size);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    size -= (size_t)w;
  }
  return true;
}

bool ag_write_file_atomic(const char *path, const void *data, size_t size, int mode, char *err) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, (int)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ag_fail(err, "cannot create %s: %s", tmp, strerror(errno));
  if (!write_all(fd, data, size) || fsync(fd) != 0) {
    int e = errno;
    close(fd);
    unlink(tmp);
    return ag_fail(err, "cannot write %s: %s", path, strerror(e));
  }
  if (close(fd) != 0 || rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    return ag_fail(err, "cannot write %s: %s", path, strerror(e));
  }
  char dir[4096];
  ag_dirname(path, dir, sizeof dir);
  ag_fsync_dir(dir);
  return true;
}

bool ag_mkdirs(const char *path, int mode, char *err) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, mode) != 0 && errno != EEXIST)
      return ag_fail(err, "cannot create %s: %s", buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, mode) != 0 && errno != EEXIST)
    return ag_fail(err, "cannot create %s: %s", buf, strerror(errno));
  return true;
}

bool ag_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

bool ag_remove_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return errno == ENOENT;
  if (!S_ISDIR(st.st_mode)) return unlink(path) == 0;
  DIR *d = opendir(path);
  if (!d) return false;
  struct dirent *e;
  bool ok = true;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char child[4096];
    snprintf(child, sizeof child, "%s/%s", path, e->d_name);
    ok &= ag_remove_tree(child);
  }
  closedir(d);
  return rmdir(path) == 0 && ok;
}

bool ag_copy_file(const char *from, const char *to, int mode, char *err) {
  int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0) return ag_fail(err, "cannot open %s: %s", from, strerror(errno));
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp-%d", to, (int)getpid());
  int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (out < 0) {
    close(in);
    return ag_fail(err, "cannot create %s: %s", tmp, strerror(errno));
  }
  char buf[65536];
  bool ok = true;
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = n == 0;
      break;
    }
    if (!write_all(out, buf, (size_t)n)) {
      ok = false;
      break;
    }
  }
  int e = errno;
  ok = ok && fsync(out) == 0;
  close(in);
  if (close(out) != 0) ok = false;
  if (ok && rename(tmp, to) != 0) ok = false;
  if (!ok) {
    unlink(tmp);
    return ag_fail(err, "cannot copy %s to %s: %s", from, to, strerror(e ? e : errno));
  }
  return true;
}

void ag_hex(const uint8_t *data, size_t size, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < size; i++) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 15];
  }
  out[2 * size] = 0;
}

bool ag_is_hex_digest(const char *s) {
  size_t n = 0;
  for (; s[n]; n++)
    if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f'))) return false;
  return n == 64;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *ag_base64_encode(const uint8_t *data, size_t size) {
  char *out = malloc((size + 2) / 3 * 4 + 1);
  if (!out) return NULL;
  size_t o = 0;
  for (size_t i = 0; i < size; i += 3) {
    uint32_t v = (uint32_t)data[i] << 16;
    if (i + 1 < size) v |= (uint32_t)data[i + 1] << 8;
    if (i + 2 < size) v |= data[i + 2];
    out[o++] = b64[(v >> 18) & 63];
    out[o++] = b64[(v >> 12) & 63];
    out[o++] = i + 1 < size ? b64[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < size ? b64[v & 63] : '=';
  }
  out[o] = 0;
  return out;
}

uint8_t *ag_base64_decode(const char *text, size_t *size) {
  size_t n = strlen(text);
  if (n % 4) return NULL;
  uint8_t *out = malloc(n / 4 * 3 + 1);
  if (!out) return NULL;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (int k = 0; k < 4; k++) {
      char c = text[i + k];
      const char *p = c ? strchr(b64, c) : NULL;
      if (c == '=' && i + 4 == n && k >= 2) {
        pad++;
        v <<= 6;
        continue;
      }
      if (!p || pad) {
        free(out);
        return NULL;
      }
      v = (v << 6) | (uint32_t)(p - b64);
    }
    out[o++] = (uint8_t)(v >> 16);
    if (pad < 2) out[o++] = (uint8_t)(v >> 8);
    if (pad < 1) out[o++] = (uint8_t)v;
  }
  *size = o;
  return out;
}

double ag_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int64_t ag_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ag_iso8601(int64_t ms, char *out, size_t size) {
  time_t s = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&s, &tm);
  char base[32];
  strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, size, "%s.%03dZ", base, (int)(ms % 1000));
}
