/* serve/journal.c: the MQTT worker's request journal (--mqtt-journal FILE).
 *
 * libmosquitto acknowledges an incoming QoS 1 request as soon as our message
 * callback returns, and it has no manual acknowledgement. From then on the
 * broker will not send the request again, so a worker killed with SIGKILL
 * before its reply reached the broker would lose it. The journal closes that
 * window: the callback appends the request to this file and fdatasyncs it
 * before returning (so before the PUBACK leaves), and the request is marked
 * done only when the broker has acknowledged the reply. On start, requests
 * not marked done are run again and answered.
 *
 * The file is a sequence of records:
 *   u32 magic "LGJ1" | u8 type (1 request, 2 done) | u64 seq | u32 body length |
 *   body | u32 CRC-32 of type..body
 * A request body is five length-prefixed (u32) fields: topic, response topic,
 * correlation data, content type, payload. A torn record at the end (the
 * process died while writing it) fails its CRC and is ignored: that request
 * was never acknowledged, so the broker sends it again. Integers are
 * little-endian. On open the file is compacted to the pending requests; it is
 * truncated whenever nothing is pending and it has grown past 8 MB. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serve/internal.h"

#define JOURNAL_MAGIC 0x314a474cu /* "LGJ1" */
#define REC_REQUEST 1
#define REC_DONE 2
#define TRUNCATE_AT (8l << 20)

struct serve_journal {
  pthread_mutex_t lock;
  int fd;
  char path[4096];
  uint64_t next_seq;
  long pending;
  long size;
  serve_journal_entry *replay; /* pending entries found at open */
  int n_replay;
};

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
}
static uint32_t crc32_of(const uint8_t *p, size_t n) {
  pthread_once(&crc_once, crc_init);
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

static void put_u32(sbuf *b, uint32_t v) {
  uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  sb_put(b, x, 4);
}
static void put_u64(sbuf *b, uint64_t v) {
  put_u32(b, (uint32_t)v);
  put_u32(b, (uint32_t)(v >> 32));
}
static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const uint8_t *p) { return get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

static void put_field(sbuf *b, const void *data, size_t len) {
  put_u32(b, (uint32_t)len);
  if (len) sb_put(b, data, len);
}

/* One record (magic .. crc) for type/seq/entry into b. */
static void encode_record(sbuf *b, int type, uint64_t seq, const serve_journal_entry *e) {
  put_u32(b, JOURNAL_MAGIC);
  size_t start = b->len;
  uint8_t t = (uint8_t)type;
  sb_put(b, &t, 1);
  put_u64(b, seq);
  sbuf body = {0};
  if (e) {
    put_field(&body, e->topic, strlen(e->topic));
    put_field(&body, e->response_topic, e->response_topic ? strlen(e->response_topic) : 0);
    put_field(&body, e->correlation, e->correlation_len);
    put_field(&body, e->content_type, e->content_type ? strlen(e->content_type) : 0);
    put_field(&body, e->payload, e->len);
  }
  put_u32(b, (uint32_t)body.len);
  if (body.len) sb_put(b, body.data, body.len);
  sb_free(&body);
  if (!b->oom) put_u32(b, crc32_of((const uint8_t *)b->data + start, b->len - start));
}

static bool write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n, len -= (size_t)n;
  }
  return true;
}

/* Reads a length-prefixed field as a NUL-terminated malloc'd copy. */
static bool take_field(const uint8_t **p, const uint8_t *end, char **out, size_t *len) {
  if (end - *p < 4) return false;
  uint32_t n = get_u32(*p);
  *p += 4;
  if ((size_t)(end - *p) < n) return false;
  *out = malloc((size_t)n + 1);
  if (!*out) return false;
  memcpy(*out, *p, n);
  (*out)[n] = 0;
  *p += n;
  if (len) *len = n;
  return true;
}

void serve_journal_entry_free(serve_journal_entry *e) {
  free(e->topic);
  free(e->response_topic);
  free(e->correlation);
  free(e->content_type);
  free(e->payload);
  memset(e, 0, sizeof *e);
}

static bool decode_request(const uint8_t *p, const uint8_t *end, serve_journal_entry *e) {
  memset(e, 0, sizeof *e);
  size_t clen = 0, plen = 0;
  bool ok = take_field(&p, end, &e->topic, NULL) && take_field(&p, end, &e->response_topic, NULL) &&
            take_field(&p, end, (char **)&e->correlation, &clen) &&
            take_field(&p, end, &e->content_type, NULL) &&
            take_field(&p, end, (char **)&e->payload, &plen) && p == end;
  e->correlation_len = clen;
  e->len = plen;
  if (ok && !e->response_topic[0]) free(e->response_topic), e->response_topic = NULL;
  if (ok && !e->content_type[0]) free(e->content_type), e->content_type = NULL;
  if (!ok) serve_journal_entry_free(e);
  return ok;
}

/* Parses the old file: pending requests (in order) and the highest seq. */
static int load(serve_journal *j, const uint8_t *data, size_t size, char *err, size_t err_size) {
  size_t pos = 0;
  uint64_t max_seq = 0;
  while (size - pos >= 4 + 1 + 8 + 4 + 4) {
    const uint8_t *r = data + pos;
    if (get_u32(r) != JOURNAL_MAGIC) break;
    uint32_t body_len = get_u32(r + 13);
    if (size - pos - 21 < body_len) break;
    size_t crc_at = 17 + (size_t)body_len;
    if (crc32_of(r + 4, crc_at - 4) != get_u32(r + crc_at)) break;
    int type = r[4];
    uint64_t seq = get_u64(r + 5);
    if (seq > max_seq) max_seq = seq;
    if (type == REC_REQUEST) {
      serve_journal_entry e;
      if (!decode_request(r + 17, r + crc_at, &e)) break;
      e.seq = seq;
      serve_journal_entry *grown = realloc(j->replay, (size_t)(j->n_replay + 1) * sizeof *grown);
      if (!grown) {
        serve_journal_entry_free(&e);
        snprintf(err, err_size, "out of memory reading %s", j->path);
        return -1;
      }
      j->replay = grown;
      j->replay[j->n_replay++] = e;
    } else if (type == REC_DONE) {
      for (int i = 0; i < j->n_replay; i++)
        if (j->replay[i].seq == seq) {
          serve_journal_entry_free(&j->replay[i]);
          memmove(&j->replay[i], &j->replay[i + 1],
                  (size_t)(j->n_replay - i - 1) * sizeof *j->replay);
          j->n_replay--;
          break;
        }
    }
    pos += crc_at + 4;
  }
  j->next_seq = max_seq + 1;
  return 0;
}

static void sync_dir_of(const char *path) {
  char copy[4096];
  snprintf(copy, sizeof copy, "%s", path);
  int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

int serve_journal_open(const char *path, serve_journal **out, char *err, size_t err_size) {
  *out = NULL;
  serve_journal *j = calloc(1, sizeof *j);
  if (!j) return snprintf(err, err_size, "out of memory"), -1;
  pthread_mutex_init(&j->lock, NULL);
  j->fd = -1;
  snprintf(j->path, sizeof j->path, "%s", path);
  /* read what a previous run left */
  int fd = open(path, O_RDONLY);
  if (fd >= 0) {
    struct stat st;
    uint8_t *data = NULL;
    size_t size = 0;
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
      data = malloc((size_t)st.st_size);
      while (data && size < (size_t)st.st_size) {
        ssize_t n = read(fd, data + size, (size_t)st.st_size - size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        size += (size_t)n;
      }
    }
    close(fd);
    if (st.st_size > 0 && !data) {
      snprintf(err, err_size, "out of memory reading %s", path);
      goto fail;
    }
    int rc = load(j, data, size, err, err_size);
    free(data);
    if (rc) goto fail;
  } else if (errno != ENOENT) {
    snprintf(err, err_size, "cannot read the journal %s: %s", path, strerror(errno));
    goto fail;
  } else {
    j->next_seq = 1;
  }
  /* compact: the pending requests only, replacing the file atomically */
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) {
    snprintf(err, err_size, "cannot write the journal %s: %s", tmp, strerror(errno));
    goto fail;
  }
  sbuf b = {0};
  for (int i = 0; i < j->n_replay; i++)
    encode_record(&b, REC_REQUEST, j->replay[i].seq, &j->replay[i]);
  bool ok = !b.oom && (!b.len || write_all(fd, b.data, b.len)) && fsync(fd) == 0;
  j->size = (long)b.len;
  sb_free(&b);
  close(fd);
  if (!ok || rename(tmp, path)) {
    snprintf(err, err_size, "cannot write the journal %s: %s", path, strerror(errno));
    unlink(tmp);
    goto fail;
  }
  sync_dir_of(path);
  j->fd = open(path, O_WRONLY | O_APPEND);
  if (j->fd < 0) {
    snprintf(err, err_size, "cannot open the journal %s: %s", path, strerror(errno));
    goto fail;
  }
  j->pending = j->n_replay;
  *out = j;
  return 0;
fail:
  serve_journal_close(j);
  return -1;
}

int serve_journal_replay(serve_journal *j, serve_journal_entry **entries) {
  *entries = j->replay;
  int n = j->n_replay;
  j->replay = NULL;
  j->n_replay = 0;
  return n;
}

uint64_t serve_journal_add(serve_journal *j, const serve_journal_entry *e) {
  sbuf b = {0};
  pthread_mutex_lock(&j->lock);
  uint64_t seq = j->next_seq++;
  encode_record(&b, REC_REQUEST, seq, e);
  bool ok = !b.oom && write_all(j->fd, b.data, b.len) && fdatasync(j->fd) == 0;
  if (ok) {
    j->size += (long)b.len;
    j->pending++;
  }
  pthread_mutex_unlock(&j->lock);
  sb_free(&b);
  return ok ? seq : 0;
}

void serve_journal_done(serve_journal *j, uint64_t seq) {
  if (!j || !seq) return;
  sbuf b = {0};
  encode_record(&b, REC_DONE, seq, NULL);
  pthread_mutex_lock(&j->lock);
  /* No sync: if this record is lost the request is answered again after a
   * crash, which QoS 1 consumers must accept anyway. */
  if (!b.oom && write_all(j->fd, b.data, b.len)) j->size += (long)b.len;
  if (--j->pending <= 0) {
    j->pending = 0;
    if (j->size > TRUNCATE_AT && ftruncate(j->fd, 0) == 0) j->size = 0;
  }
  pthread_mutex_unlock(&j->lock);
  sb_free(&b);
}

long serve_journal_pending(serve_journal *j) {
  pthread_mutex_lock(&j->lock);
  long n = j->pending;
  pthread_mutex_unlock(&j->lock);
  return n;
}

void serve_journal_close(serve_journal *j) {
  if (!j) return;
  if (j->fd >= 0) {
    fsync(j->fd);
    close(j->fd);
  }
  for (int i = 0; i < j->n_replay; i++) serve_journal_entry_free(&j->replay[i]);
  free(j->replay);
  pthread_mutex_destroy(&j->lock);
  free(j);
}
