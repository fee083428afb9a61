/* serve/http.c: the HTTP(S) front end on libmicrohttpd.
 *
 * MHD's polling threads only read requests and write responses: an
 * inference request is queued and its connection suspended until a worker
 * (or the deadline thread) answers, so /ping and /metrics are answered at
 * once however busy the workers are. Model loads (PUT /models/NAME) run on a
 * thread of their own. Slow clients are cut off by MHD's idle timeout. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <microhttpd.h>

#include "serve/internal.h"

#if MHD_VERSION < 0x00097002
typedef int mhd_result;
#else
typedef enum MHD_Result mhd_result;
#endif

enum route { R_NONE, R_INVOKE, R_PUT_MODEL };

typedef struct conn {
  enum route route;
  int slot;
  struct MHD_Connection *mhd;
  serve_server *s;
  sbuf body;
  bool too_large;
  int early_code; /* 413/415 decided before the body is read */
  /* PUT /models/NAME */
  FILE *upload;
  char upload_path[4200];
  long upload_bytes;
  bool upload_json;
  int put_code;
  char *put_resp;
  atomic_bool put_done;
  /* invocations */
  serve_job *job;
  int submit_code;
  bool suspended;
  bool own_loading; /* this request set its slot's loading flag */
} conn;

static mhd_result respond(struct MHD_Connection *c, int code, const char *type, const void *body, size_t len,
                          int retry_after) {
  struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  if (type) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  if (retry_after > 0) {
    char v[16];
    snprintf(v, sizeof v, "%d", retry_after);
    MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, v);
  }
  mhd_result ret = MHD_queue_response(c, (unsigned)code, r);
  MHD_destroy_response(r);
  return ret;
}

static mhd_result respond_error(serve_server *s, struct MHD_Connection *c, int code, const char *msg) {
  sbuf b = {0};
  sb_put(&b, "{\"error\": ", 10);
  sb_json_string(&b, msg);
  sb_printf(&b, ", \"code\": %d}", code);
  mhd_result r = respond(c, code, "application/json", b.data ? b.data : "", b.len, code == 503 ? s->cfg.retry_after_s : 0);
  sb_free(&b);
  return r;
}

static void job_done(serve_job *job) {
  conn *k = job->ctx;
  MHD_resume_connection(k->mhd);
}

static void *put_thread(void *arg) {
  conn *k = arg;
  serve_server *s = k->s;
  char err[512] = "";
  char path[4200];
  snprintf(path, sizeof path, "%s", k->upload_path);
  if (k->upload_json) {
    /* {"path": "..."} */
    path[0] = 0;
    const char *p = k->body.data ? strstr(k->body.data, "\"path\"") : NULL;
    if (p && (p = strchr(p + 6, '"'))) {
      const char *e = strchr(p + 1, '"');
      if (e) snprintf(path, sizeof path, "%.*s", (int)(e - p - 1), p + 1);
    }
  }
  int code;
  if (!path[0]) {
    code = 400;
    snprintf(err, sizeof err, "JSON body must be {\"path\": \"/path/to/model.onnx\"}");
  } else {
    code = serve_load(s, k->slot, path, err, sizeof err) ? 400 : 200;
  }
  atomic_store(&s->slots[k->slot].loading, 0);
  sbuf b = {0};
  if (code == 200) serve_models_json(s, k->slot, &b);
  else {
    sb_put(&b, "{\"error\": ", 10);
    sb_json_string(&b, err);
    sb_printf(&b, ", \"code\": %d}", code);
  }
  k->put_code = code;
  k->put_resp = b.data ? b.data : strdup("{}");
  atomic_store(&k->put_done, true);
  MHD_resume_connection(k->mhd);
  return NULL;
}

/* Adds a slot for a new model name (PUT of an unknown name). */
static int add_slot(serve_server *s, const char *name) {
  pthread_mutex_lock(&s->lock);
  int i = -1;
  for (int k = 0; k < s->n_slots; k++)
    if (!strcmp(s->slots[k].name, name)) i = k;
  if (i < 0 && s->n_slots < SERVE_MAX_MODELS) {
    i = s->n_slots;
    snprintf(s->slots[i].name, sizeof s->slots[i].name, "%s", name);
    s->n_slots++;
  }
  pthread_mutex_unlock(&s->lock);
  return i;
}

static bool valid_name(const char *n) {
  if (!*n || strlen(n) >= 128) return false;
  for (; *n; n++)
    if (!(isalnum((unsigned char)*n) || *n == '-' || *n == '_' || *n == '.')) return false;
  return true;
}

static mhd_result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                          const char *version, const char *upload_data, size_t *upload_data_size,
                          void **con_cls) {
  serve_server *s = cls;
  conn *k = *con_cls;
  if (!k) {
    /* First call: headers are in; decide the route. */
    k = calloc(1, sizeof *k);
    if (!k) return MHD_NO;
    *con_cls = k;
    k->mhd = c;
    k->s = s;
    k->slot = -1;
    bool post = !strcmp(method, "POST"), put = !strcmp(method, "PUT");
    if (!strcmp(url, "/invocations") || (!strncmp(url, "/models/", 8) && strstr(url + 8, "/") &&
                                         !strcmp(strchr(url + 8, '/'), "/invocations"))) {
      if (!post) return k->early_code = 405, MHD_YES;
      k->route = R_INVOKE;
      if (url[1] == 'm') {
        char name[160];
        snprintf(name, sizeof name, "%.*s", (int)(strchr(url + 8, '/') - (url + 8)), url + 8);
        k->slot = serve_slot_find(s, name);
        if (k->slot < 0) k->early_code = 404;
      } else {
        k->slot = 0;
      }
      const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
      if (len && strtoll(len, NULL, 10) > s->cfg.max_body) k->early_code = 413;
      const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
      if (!k->early_code && !serve_body_kind(ct)) k->early_code = 415;
    } else if (put && !strncmp(url, "/models/", 8) && !strchr(url + 8, '/')) {
      if (!valid_name(url + 8)) return k->early_code = 400, MHD_YES;
      k->route = R_PUT_MODEL;
      k->slot = add_slot(s, url + 8);
      if (k->slot < 0) return k->early_code = 507, MHD_YES;
      const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
      if (len && strtoll(len, NULL, 10) > s->cfg.max_model_bytes) return k->early_code = 413, MHD_YES;
      int expected = 0;
      if (!atomic_compare_exchange_strong(&s->slots[k->slot].loading, &expected, 1))
        return k->early_code = 409, MHD_YES;
      k->own_loading = true;
      const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
      k->upload_json = ct && !strncasecmp(ct, "application/json", 16);
      if (!k->upload_json) {
        static atomic_int counter;
        snprintf(k->upload_path, sizeof k->upload_path, "%s/%s.%d.onnx", s->tmpdir, url + 8,
                 atomic_fetch_add(&counter, 1));
        k->upload = fopen(k->upload_path, "wb");
        if (!k->upload) {
          atomic_store(&s->slots[k->slot].loading, 0);
          k->own_loading = false;
          return k->early_code = 500, MHD_YES;
        }
      }
    }
    return MHD_YES;
  }

  if (*upload_data_size) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (k->early_code) return MHD_YES; /* discard */
    if (k->route == R_INVOKE) {
      if (k->body.len + n > (size_t)s->cfg.max_body) k->too_large = true;
      else sb_put(&k->body, upload_data, n);
    } else if (k->route == R_PUT_MODEL) {
      k->upload_bytes += (long)n;
      if (k->upload_bytes > s->cfg.max_model_bytes) k->too_large = true;
      else if (k->upload) {
        if (fwrite(upload_data, 1, n, k->upload) != n) k->too_large = true;
      } else if (k->body.len + n < (1 << 16)) {
        sb_put(&k->body, upload_data, n);
      } else {
        k->too_large = true;
      }
    }
    return MHD_YES;
  }

  /* The request is complete (or we are resumed). */
  if (k->early_code) {
    if (k->own_loading) {
      atomic_store(&s->slots[k->slot].loading, 0);
      k->own_loading = false;
    }
    static const struct {
      int code;
      const char *msg;
    } msgs[] = {{405, "method not allowed"},
                {404, "no such model"},
                {413, "request body larger than the limit"},
                {415, "unsupported Content-Type: use application/x-npy, application/json, image/jpeg, image/png "
                      "or application/x-image"},
                {400, "model names use letters, digits, '-', '_' and '.'"},
                {409, "this model is already being loaded"},
                {507, "too many models"},
                {500, "cannot store the upload"}};
    const char *msg = "error";
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++)
      if (msgs[i].code == k->early_code) msg = msgs[i].msg;
    if (k->route == R_INVOKE) serve_metrics_request(s->metrics, k->slot, k->early_code, 0);
    char buf[160];
    if (k->early_code == 413) {
      snprintf(buf, sizeof buf, "request body larger than the %ld-byte limit", s->cfg.max_body);
      msg = buf;
    }
    return respond_error(s, c, k->early_code, msg);
  }

  if (k->route == R_INVOKE) {
    if (k->job) {
      /* Resumed: the job is answered. */
      serve_job *j = k->job;
      return respond(c, j->code, j->resp_type, j->resp ? j->resp : "", j->resp_len, j->code == 503 ? s->cfg.retry_after_s : 0);
    }
    if (k->submit_code) return respond_error(s, c, k->submit_code, "server busy");
    if (k->too_large) {
      char buf[160];
      snprintf(buf, sizeof buf, "request body larger than the %ld-byte limit", s->cfg.max_body);
      return respond_error(s, c, 413, buf);
    }
    serve_version *v = serve_acquire(s, k->slot);
    if (!v) {
      serve_metrics_request(s->metrics, k->slot, 503, 0);
      return respond_error(s, c, 503, "model is loading");
    }
    serve_job *j = serve_job_new();
    if (!j) {
      serve_release(v);
      return respond_error(s, c, 500, "out of memory");
    }
    j->slot = k->slot;
    j->ver = v;
    j->kind = serve_body_kind(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE));
    j->body = (uint8_t *)k->body.data;
    j->body_len = k->body.len;
    k->body.data = NULL;
    k->body.len = k->body.cap = 0;
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    if (accept && strstr(accept, "application/x-npy")) j->want_npy = true;
    if (accept && strstr(accept, "verbose=true")) j->top_k = 1 << 30;
    const char *topk = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "top_k");
    if (topk) {
      long t = strtol(topk, NULL, 10);
      j->top_k = t > 0 ? (int)(t > 1 << 30 ? 1 << 30 : t) : 0;
    }
    j->done = job_done;
    j->ctx = k;
    MHD_suspend_connection(c);
    int code = serve_submit(s, j);
    if (code) {
      serve_job_unref(j);
      k->submit_code = code;
      serve_metrics_request(s->metrics, k->slot, code, 0);
      MHD_resume_connection(c);
      return MHD_YES;
    }
    atomic_fetch_add(&s->inflight, 1);
    k->job = j;
    return MHD_YES;
  }

  if (k->route == R_PUT_MODEL) {
    if (atomic_load(&k->put_done)) return respond(c, k->put_code, "application/json", k->put_resp, strlen(k->put_resp), 0);
    if (k->upload) {
      if (fclose(k->upload) != 0) k->too_large = true;
      k->upload = NULL;
    }
    if (k->too_large) {
      atomic_store(&s->slots[k->slot].loading, 0);
      k->own_loading = false;
      unlink(k->upload_path);
      return respond_error(s, c, 413, "model upload larger than the limit (or the disk is full)");
    }
    pthread_t t;
    MHD_suspend_connection(c);
    atomic_fetch_add(&s->inflight, 1);
    if (pthread_create(&t, NULL, put_thread, k)) {
      atomic_fetch_sub(&s->inflight, 1);
      atomic_store(&s->slots[k->slot].loading, 0);
      k->put_code = 500;
      k->put_resp = strdup("{\"error\": \"cannot start a loader thread\", \"code\": 500}");
      atomic_store(&k->put_done, true);
      MHD_resume_connection(c);
      return MHD_YES;
    }
    pthread_detach(t);
    return MHD_YES;
  }

  /* Cheap routes, answered on the polling thread. */
  bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
  if (!strcmp(url, "/ping")) {
    if (!get) return respond_error(s, c, 405, "method not allowed");
    bool ready = atomic_load(&s->ready);
    const char *b = ready ? "{\"status\": \"ready\"}" : "{\"status\": \"loading\"}";
    return respond(c, ready ? 200 : 503, "application/json", b, strlen(b), ready ? 0 : s->cfg.retry_after_s);
  }
  if (!strcmp(url, "/metrics") && get) {
    sbuf b = {0};
    serve_metrics_text(s, &b);
    mhd_result r = respond(c, 200, "text/plain; version=0.0.4", b.data ? b.data : "", b.len, 0);
    sb_free(&b);
    return r;
  }
  if ((!strcmp(url, "/models") || !strncmp(url, "/models/", 8)) && get) {
    int only = -1;
    if (url[7] == '/') {
      only = serve_slot_find(s, url + 8);
      if (only < 0) return respond_error(s, c, 404, "no such model");
    }
    sbuf b = {0};
    serve_models_json(s, only, &b);
    mhd_result r = respond(c, 200, "application/json", b.data ? b.data : "", b.len, 0);
    sb_free(&b);
    return r;
  }
  (void)version;
  return respond_error(s, c, 404, "no such route: see GET /ping, POST /invocations, GET /models, GET /metrics");
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
  serve_server *s = cls;
  conn *k = *con_cls;
  (void)c, (void)toe;
  if (!k) return;
  if (k->job) {
    serve_job_unref(k->job);
    atomic_fetch_sub(&s->inflight, 1);
  }
  if (k->route == R_PUT_MODEL && (k->put_resp || atomic_load(&k->put_done))) atomic_fetch_sub(&s->inflight, 1);
  if (k->upload) {
    fclose(k->upload);
    unlink(k->upload_path);
  }
  if (k->own_loading && !atomic_load(&k->put_done) && !k->put_resp) atomic_store(&s->slots[k->slot].loading, 0);
  free(k->put_resp);
  sb_free(&k->body);
  free(k);
  *con_cls = NULL;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = malloc(1 << 20);
  size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
  fclose(f);
  if (buf) buf[n] = 0;
  return buf;
}

typedef struct http_state {
  struct MHD_Daemon *d;
  char *cert, *key;
} http_state;

int serve_http_start(serve_server *s) {
  http_state *h = calloc(1, sizeof *h);
  if (!h) return 1;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  if (s->cfg.tls_cert) {
    h->cert = slurp(s->cfg.tls_cert);
    h->key = slurp(s->cfg.tls_key);
    if (!h->cert || !h->key) {
      serve_log(s, "cannot read %s", !h->cert ? s->cfg.tls_cert : s->cfg.tls_key);
      free(h->cert), free(h->key), free(h);
      return 1;
    }
    flags |= MHD_USE_TLS;
  }
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)s->cfg.port);
  if (inet_pton(AF_INET, s->cfg.host, &addr.sin_addr) != 1) {
    serve_log(s, "--host must be an IPv4 address, not '%s'", s->cfg.host);
    free(h);
    return 1;
  }
  struct MHD_OptionItem tls[] = {
      {h->cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, h->cert},
      {h->key ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, h->key},
      {MHD_OPTION_END, 0, NULL}};
  h->d = MHD_start_daemon(flags, (uint16_t)s->cfg.port, NULL, NULL, handler, s,
                          MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                          MHD_OPTION_THREAD_POOL_SIZE, (unsigned)2,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg.io_timeout_s,
                          MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
                          MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)256,
                          MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                          MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                          MHD_OPTION_ARRAY, tls,
                          MHD_OPTION_END);
  if (!h->d) {
    serve_log(s, "cannot listen on %s:%d: %s", s->cfg.host, s->cfg.port, strerror(errno));
    free(h->cert), free(h->key), free(h);
    return 1;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
  int port = info ? info->port : s->cfg.port;
  s->cfg.port = port;
  s->http = h;
  serve_log(s, "listening on %s://%s:%d", s->cfg.tls_cert ? "https" : "http", s->cfg.host, port);
  return 0;
}

void serve_http_quiesce(serve_server *s) {
  http_state *h = s->http;
  if (!h) return;
  MHD_socket fd = MHD_quiesce_daemon(h->d);
  if (fd != MHD_INVALID_SOCKET) close(fd);
}

void serve_http_stop(serve_server *s) {
  http_state *h = s->http;
  if (!h) return;
  MHD_stop_daemon(h->d);
  free(h->cert);
  free(h->key);
  free(h);
  s->http = NULL;
}
