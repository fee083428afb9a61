/* store.c: file://, s3:// (SigV4) and https:// transfers with libcurl. */
#include "agent/store.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/crypto.h"
#include "agent/util.h"

void ag_s3_defaults(ag_s3 *s3) {
  memset(s3, 0, sizeof *s3);
  const char *region = getenv("AWS_REGION");
  const char *key = getenv("AWS_ACCESS_KEY_ID");
  const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
  snprintf(s3->region, sizeof s3->region, "%s", region && *region ? region : "us-east-1");
  snprintf(s3->access_key, sizeof s3->access_key, "%s", key ? key : "");
  snprintf(s3->secret_key, sizeof s3->secret_key, "%s", secret ? secret : "");
}

void ag_store_uri(const char *store_url, const char *key, char *out, size_t size) {
  size_t n = strlen(store_url);
  while (n > 0 && store_url[n - 1] == '/') n--;
  snprintf(out, size, "%.*s/%s", (int)n, store_url, key);
}

bool ag_uri_in_store(const char *uri, const char *store_url) {
  size_t n = strlen(store_url);
  while (n > 0 && store_url[n - 1] == '/') n--;
  if (n == 0 || strncmp(uri, store_url, n) != 0 || uri[n] != '/') return false;
  return strstr(uri + n, "/../") == NULL && strstr(uri + n, "/./") == NULL;
}

/* s3://BUCKET/KEY -> an https (or endpoint) URL, path-style. */
static bool s3_http_url(const ag_s3 *s3, const char *uri, char *out, size_t size, char *err) {
  const char *rest = uri + 5;
  const char *slash = strchr(rest, '/');
  if (!slash || slash == rest) return ag_fail(err, "%s: expected s3://BUCKET/KEY", uri);
  if (s3->endpoint[0]) {
    size_t n = strlen(s3->endpoint);
    while (n > 0 && s3->endpoint[n - 1] == '/') n--;
    snprintf(out, size, "%.*s/%s", (int)n, s3->endpoint, rest);
  } else {
    snprintf(out, size, "https://%.*s.s3.%s.amazonaws.com%s", (int)(slash - rest), rest, s3->region,
             slash);
  }
  return true;
}

static void s3_sign(CURL *curl, const ag_s3 *s3, char *sigv4, size_t sigv4_size, char *userpwd,
                    size_t up_size) {
  snprintf(sigv4, sigv4_size, "aws:amz:%s:s3", s3->region);
  snprintf(userpwd, up_size, "%s:%s", s3->access_key, s3->secret_key);
  curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4);
  curl_easy_setopt(curl, CURLOPT_USERPWD, userpwd);
}

typedef struct fetch_state {
  int fd;
  int64_t offset, written, max_size, total;
  ag_progress_fn progress;
  void *ctx;
  bool aborted, too_big, write_failed;
  int write_errno;
  long status;
  bool status_checked;
  CURL *curl;
} fetch_state;

static size_t on_data(char *data, size_t size, size_t n, void *userdata) {
  fetch_state *st = userdata;
  size_t bytes = size * n;
  if (!st->status_checked) {
    st->status_checked = true;
    curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &st->status);
    if (st->status == 200 && st->offset > 0) {
      /* The server ignored the Range: start over. */
      if (ftruncate(st->fd, 0) != 0 || lseek(st->fd, 0, SEEK_SET) != 0) return 0;
      st->offset = 0;
    }
    if (st->status != 200 && st->status != 206) return bytes; /* body is an error document */
  }
  if (st->status != 200 && st->status != 206) return bytes;
  if (st->offset + st->written + (int64_t)bytes > st->max_size) {
    st->too_big = true;
    return 0;
  }
  const char *p = data;
  size_t left = bytes;
  while (left > 0) {
    ssize_t w = write(st->fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      st->write_failed = true;
      st->write_errno = errno;
      return 0;
    }
    p += w;
    left -= (size_t)w;
  }
  st->written += (int64_t)bytes;
  return bytes;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
  fetch_state *st = userdata;
  if (st->progress &&
      !st->progress(st->ctx, st->offset + dlnow, dltotal ? st->offset + dltotal : st->max_size)) {
    st->aborted = true;
    return 1;
  }
  return 0;
}

static bool fetch_file(const char *path, fetch_state *st, char *err) {
  int in = open(path, O_RDONLY | O_CLOEXEC);
  if (in < 0) return ag_fail(err, "cannot open %s: %s", path, strerror(errno));
  if (lseek(in, st->offset, SEEK_SET) < 0) {
    close(in);
    return ag_fail(err, "cannot seek in %s", path);
  }
  struct stat sb;
  fstat(in, &sb);
  st->status = 206;
  st->status_checked = true;
  char buf[65536];
  bool ok = true;
  int64_t last = 0;
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ok = ag_fail(err, "cannot read %s: %s", path, strerror(errno));
    if (n <= 0) break;
    if (on_data(buf, 1, (size_t)n, st) != (size_t)n) {
      if (st->too_big)
        ok = ag_fail(err, "%s is larger than its recipe says (%lld bytes)", path,
                     (long long)st->max_size);
      else
        ok = ag_fail(err, "cannot write the download: %s", strerror(st->write_errno));
      break;
    }
    if (st->progress && st->written - last >= (1 << 20)) {
      last = st->written;
      if (!st->progress(st->ctx, st->offset + st->written, (int64_t)sb.st_size)) {
        st->aborted = true;
        ok = false;
        break;
      }
    }
  }
  close(in);
  return ok;
}

bool ag_fetch(const ag_s3 *s3, const char *uri, const char *part_path, int64_t max_size,
              ag_progress_fn progress, void *ctx, char *err) {
  fetch_state st = {.max_size = max_size, .progress = progress, .ctx = ctx};
  st.fd = open(part_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (st.fd < 0) return ag_fail(err, "cannot create %s: %s", part_path, strerror(errno));
  struct stat sb;
  fstat(st.fd, &sb);
  st.offset = sb.st_size;
  if (st.offset >= max_size) {
    close(st.fd);
    return true; /* already complete (or too big: the digest check decides) */
  }
  bool ok;
  if (!strncmp(uri, "file://", 7)) {
    ok = fetch_file(uri + 7, &st, err);
  } else if (!strncmp(uri, "https://", 8) || !strncmp(uri, "http://", 7) ||
             !strncmp(uri, "s3://", 5)) {
    char url[2048], sigv4[128], userpwd[512];
    ok = true;
    if (!strncmp(uri, "s3://", 5))
      ok = s3_http_url(s3, uri, url, sizeof url, err);
    else
      snprintf(url, sizeof url, "%s", uri);
    CURL *curl = ok ? curl_easy_init() : NULL;
    if (ok && !curl) ok = ag_fail(err, "cannot start a transfer");
    if (ok) {
      st.curl = curl;
      curl_easy_setopt(curl, CURLOPT_URL, url);
      curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
      curl_easy_setopt(curl, CURLOPT_WRITEDATA, &st);
      curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
      curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &st);
      curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
      curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 20L);
      /* A stalled link fails after 60 s under 100 B/s; the next attempt resumes. */
      curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 100L);
      curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
      curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
      if (s3 && s3->ca_file[0]) curl_easy_setopt(curl, CURLOPT_CAINFO, s3->ca_file);
      if (st.offset > 0) curl_easy_setopt(curl, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)st.offset);
      struct curl_slist *headers = NULL;
      if (!strncmp(uri, "s3://", 5)) {
        /* S3 requires the payload hash header; a GET has no payload to sign. */
        headers = curl_slist_append(headers, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        s3_sign(curl, s3, sigv4, sizeof sigv4, userpwd, sizeof userpwd);
      }
      CURLcode rc = curl_easy_perform(curl);
      curl_slist_free_all(headers);
      if (!st.status_checked) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &st.status);
      if (st.aborted)
        ok = ag_fail(err, "download of %s aborted", uri);
      else if (st.too_big)
        ok = ag_fail(err, "%s is larger than its recipe says (%lld bytes)", uri,
                     (long long)max_size);
      else if (st.write_failed)
        ok = ag_fail(err, "cannot write %s: %s", part_path, strerror(st.write_errno));
      else if (st.status == 416)
        ok = true; /* nothing left to fetch; the digest check decides */
      else if (rc != CURLE_OK)
        ok = ag_fail(err, "download of %s failed: %s", uri, curl_easy_strerror(rc));
      else if (st.status != 200 && st.status != 206)
        ok = ag_fail(err, "download of %s failed: HTTP %ld", uri, st.status);
      curl_easy_cleanup(curl);
    }
  } else {
    ok = ag_fail(err, "%s: unsupported URI scheme (file://, s3://, https://)", uri);
  }
  if (fsync(st.fd) != 0 && ok) ok = ag_fail(err, "cannot write %s: %s", part_path, strerror(errno));
  close(st.fd);
  if (!ok && st.aborted && err && !strstr(err, "aborted"))
    ag_fail(err, "download of %s aborted", uri);
  return ok;
}

typedef struct put_state {
  const char *data;
  int64_t size, pos;
  double last_hook;
} put_state;

static void (*wait_hook)(void *ctx);
static void *wait_hook_ctx;

void ag_store_set_wait_hook(void (*fn)(void *ctx), void *ctx) {
  wait_hook = fn;
  wait_hook_ctx = ctx;
}

static int on_put_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                           curl_off_t ulnow) {
  put_state *st = userdata;
  double now = ag_now();
  if (wait_hook && now - st->last_hook >= 0.1) {
    st->last_hook = now;
    wait_hook(wait_hook_ctx);
  }
  return 0;
}

static size_t on_read(char *buf, size_t size, size_t n, void *userdata) {
  put_state *st = userdata;
  size_t want = size * n;
  int64_t left = st->size - st->pos;
  if ((int64_t)want > left) want = (size_t)left;
  memcpy(buf, st->data + st->pos, want);
  st->pos += (int64_t)want;
  return want;
}

static size_t discard(char *data, size_t size, size_t n, void *userdata) { return size * n; }

bool ag_store_put(const ag_s3 *s3, const char *store_url, const char *key, const void *data,
                  int64_t size, const char *content_type, char *err) {
  return ag_store_put_meta(s3, store_url, key, data, size, content_type, NULL, err);
}

bool ag_store_put_meta(const ag_s3 *s3, const char *store_url, const char *key, const void *data,
                       int64_t size, const char *content_type, const char *const *meta, char *err) {
  char uri[2048];
  ag_store_uri(store_url, key, uri, sizeof uri);
  if (!strncmp(uri, "file://", 7)) {
    char dir[2048];
    ag_dirname(uri + 7, dir, sizeof dir);
    if (!ag_mkdirs(dir, 0755, err)) return false;
    return ag_write_file_atomic(uri + 7, data, (size_t)size, 0644, err);
  }
  if (strncmp(uri, "s3://", 5))
    return ag_fail(err, "%s: a store must be file:// or s3://", store_url);
  char url[2048], sigv4[128], userpwd[512], ctype[160];
  if (!s3_http_url(s3, uri, url, sizeof url, err)) return false;
  CURL *curl = curl_easy_init();
  if (!curl) return ag_fail(err, "cannot start a transfer");
  put_state st = {.data = data, .size = size};
  struct curl_slist *headers = NULL;
  snprintf(ctype, sizeof ctype, "Content-Type: %s",
           content_type ? content_type : "application/octet-stream");
  headers = curl_slist_append(headers, ctype);
  char digest[65], hash_header[100];
  ag_sha256_hex(data, (size_t)size, digest);
  snprintf(hash_header, sizeof hash_header, "x-amz-content-sha256: %s", digest);
  headers = curl_slist_append(headers, hash_header);
  for (int i = 0; meta && meta[i] && meta[i + 1]; i += 2) {
    char line[600];
    snprintf(line, sizeof line, "x-amz-meta-%s: %s", meta[i], meta[i + 1]);
    headers = curl_slist_append(headers, line);
  }
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
  curl_easy_setopt(curl, CURLOPT_READDATA, &st);
  curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_put_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &st);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 20L);
  /* A stalled store fails the attempt (it is retried) instead of holding the caller. */
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 100L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 20L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  if (s3->ca_file[0]) curl_easy_setopt(curl, CURLOPT_CAINFO, s3->ca_file);
  s3_sign(curl, s3, sigv4, sizeof sigv4, userpwd, sizeof userpwd);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) return ag_fail(err, "upload to %s failed: %s", uri, curl_easy_strerror(rc));
  if (status < 200 || status > 299)
    return ag_fail(err, "upload to %s failed: HTTP %ld", uri, status);
  return true;
}

bool ag_store_put_file(const ag_s3 *s3, const char *store_url, const char *key, const char *path,
                       char *err) {
  size_t size = 0;
  char *data = ag_read_file(path, &size, (size_t)4 << 30, err);
  if (!data) return false;
  bool ok = ag_store_put(s3, store_url, key, data, (int64_t)size, NULL, err);
  free(data);
  return ok;
}
