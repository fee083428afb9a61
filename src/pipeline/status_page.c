/* status_page.c: the pipeline's live page over libmicrohttpd. */
#include "pipeline/status_page.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

typedef enum MHD_Result mhd_result;

#define TIMELINE_MAX 512 /* state changes kept for the page's timeline */
#define STATUS_JSON_MAX 65536

typedef struct timeline_entry {
  double t;
  interp_state state;
} timeline_entry;

struct status_page {
  struct MHD_Daemon *d;
  int port;
  char name[128], version[128];
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint8_t *jpeg;
  size_t jpeg_len;
  uint64_t seq; /* bumps with every frame */
  status_snapshot snap;
  char note[160], last_alert[512];
  timeline_entry timeline[TIMELINE_MAX];
  int tl_head, tl_count;
  int viewers;
  int stopping;
};

/* The page: the stream, the state in large type with its confidence, the
 * probabilities as bars, a timeline of the last minutes drawn from
 * /status.json, and the figures. Plain HTML + JS, no external resource. */
static const char page_html[] =
    "<!doctype html><html><head><meta charset='utf-8'><title>ledge driver monitor</title>"
    "<style>body{font-family:sans-serif;background:#111;color:#eee;margin:16px}"
    "#wrap{display:flex;gap:16px;flex-wrap:wrap}#stream{border:1px solid #444;max-width:640px}"
    "#state{font-size:40px;font-weight:bold}.normal{color:#6c6}.unknown{color:#999}"
    ".texting,.looking-away,.on-phone{color:#f64}.bar{height:14px;background:#48f;margin:2px 0}"
    "table{border-collapse:collapse}td{padding:2px 10px 2px 0}canvas{background:#222;border:1px "
    "solid #444}"
    "</style></head><body><h2 id='title'>ledge</h2><div id='wrap'><div>"
    "<img id='stream' src='/stream.mjpg' alt='live stream'></div><div>"
    "<div id='state' class='unknown'>&hellip;</div><div id='conf'></div><div id='probs'></div>"
    "<h3>Timeline (last 5 minutes)</h3><canvas id='tl' width='420' height='60'></canvas>"
    "<h3>Figures</h3><table id='fig'></table><h3>Last alert</h3><pre id='alert'>none</pre>"
    "</div></div><script>\n"
    "const "
    "colors={'normal':'#6c6','texting':'#f93','looking-away':'#f64','on-phone':'#c5f','unknown':'#"
    "666'};\n"
    "async function tick(){try{const r=await fetch('/status.json',{cache:'no-store'});const "
    "s=await r.json();\n"
    "document.getElementById('title').textContent=s.name+' '+s.version;\n"
    "const st=document.getElementById('state');st.textContent=s.calibrating?'calibrating':s.state;"
    "st.className=s.state;st.dataset.t=s.t;\n"
    "document.getElementById('conf').textContent='confidence '+s.confidence.toFixed(2)+' at "
    "t='+s.t.toFixed(1)+' s';\n"
    "document.getElementById('probs').innerHTML=Object.entries(s.probs).map(([k,v])=>"
    "`<div>${k} ${v.toFixed(2)}<div class='bar' "
    "style='width:${Math.round(v*200)}px'></div></div>`).join('');\n"
    "const f=[['frames',s.frames],['perceived',s.perceived],['fps',s.fps.toFixed(1)],"
    "['inference ms',s.perceive_ms.toFixed(1)],['CPU "
    "%',s.cpu_percent.toFixed(0)],['alerts',s.alerts],"
    "['outbox',s.outbox_depth<0?'-':s.outbox_depth],['model',s.version],['stage',s.note]];\n"
    "document.getElementById('fig').innerHTML=f.map(([k,v])=>`<tr><td>${k}</td><td "
    "id='fig-${k.split(' ')[0]}'>${v}</td></tr>`).join('');\n"
    "if(s.last_alert)document.getElementById('alert').textContent=JSON.stringify(s.last_alert);\n"
    "const c=document.getElementById('tl').getContext('2d');const "
    "W=420,H=60,span=300,t1=s.t,t0=t1-span;\n"
    "c.clearRect(0,0,W,H);const tl=s.timeline;for(let i=0;i<tl.length;i++){const "
    "a=Math.max(tl[i].t,t0);"
    "const b=i+1<tl.length?tl[i+1].t:t1;if(b<t0)continue;c.fillStyle=colors[tl[i].state]||'#666';"
    "c.fillRect((a-t0)/span*W,0,Math.max(1,(b-a)/span*W),H);}\n"
    "}catch(e){}setTimeout(tick,500);}tick();\n"
    "</script></body></html>";

static void snapshot_json(status_page *p, char *buf, size_t size) {
  const status_snapshot *s = &p->snap;
  int n = snprintf(buf, size,
                   "{\"name\": \"%s\", \"version\": \"%s\", \"t\": %.3f, \"state\": \"%s\", "
                   "\"confidence\": %.4f, \"calibrating\": %s, \"probs\": {",
                   p->name, p->version, s->t, interp_state_name(s->state), s->confidence,
                   s->calibrating ? "true" : "false");
  for (int i = 0; i < INTERP_STATE_COUNT && n < (int)size; i++)
    n += snprintf(buf + n, size - n, "%s\"%s\": %.4f", i ? ", " : "", interp_state_name(i),
                  s->probs[i]);
  if (n < (int)size)
    n +=
        snprintf(buf + n, size - n,
                 "}, \"fps\": %.2f, \"perceive_ms\": %.2f, \"cpu_percent\": %.1f, \"frames\": %ld, "
                 "\"perceived\": %ld, \"alerts\": %ld, \"outbox_depth\": %ld, \"note\": \"",
                 s->fps, s->perceive_ms, s->cpu_percent, s->frames, s->perceived, s->alerts,
                 s->outbox_depth);
  for (const char *c = p->note; *c && n < (int)size - 8; c++)
    if (*c >= 0x20 && *c != '"' && *c != '\\') buf[n++] = *c;
  if (n < (int)size)
    n += snprintf(buf + n, size - n, "\", \"last_alert\": %s, \"timeline\": [",
                  p->last_alert[0] ? p->last_alert : "null");
  for (int k = 0; k < p->tl_count && n < (int)size - 64; k++) {
    const timeline_entry *e =
        &p->timeline[(p->tl_head - p->tl_count + 1 + k + TIMELINE_MAX) % TIMELINE_MAX];
    n += snprintf(buf + n, size - n, "%s{\"t\": %.3f, \"state\": \"%s\"}", k ? ", " : "", e->t,
                  interp_state_name(e->state));
  }
  if (n < (int)size) snprintf(buf + n, size - n, "]}");
}

/* One MJPEG viewer: the part being sent and how far. */
typedef struct viewer {
  status_page *page;
  uint64_t seq;
  uint8_t *part;
  size_t len, off;
} viewer;

static ssize_t mjpeg_reader(void *cls, uint64_t pos, char *buf, size_t max) {
  viewer *v = cls;
  status_page *p = v->page;
  (void)pos;
  if (v->off == v->len) {
    pthread_mutex_lock(&p->mu);
    while (!p->stopping && (p->seq == v->seq || !p->jpeg)) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_sec += 1;
      pthread_cond_timedwait(&p->cv, &p->mu, &until);
    }
    if (p->stopping) {
      pthread_mutex_unlock(&p->mu);
      return MHD_CONTENT_READER_END_OF_STREAM;
    }
    char head[160];
    int hn = snprintf(head, sizeof head,
                      "--ledgeframe\r\nContent-Type: image/jpeg\r\nContent-Length: %zu\r\n\r\n",
                      p->jpeg_len);
    uint8_t *part = realloc(v->part, (size_t)hn + p->jpeg_len + 2);
    if (!part) {
      pthread_mutex_unlock(&p->mu);
      return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    v->part = part;
    memcpy(part, head, (size_t)hn);
    memcpy(part + hn, p->jpeg, p->jpeg_len);
    memcpy(part + hn + p->jpeg_len, "\r\n", 2);
    v->len = (size_t)hn + p->jpeg_len + 2;
    v->off = 0;
    v->seq = p->seq;
    pthread_mutex_unlock(&p->mu);
  }
  size_t n = v->len - v->off < max ? v->len - v->off : max;
  memcpy(buf, v->part + v->off, n);
  v->off += n;
  return (ssize_t)n;
}

static void viewer_free(void *cls) {
  viewer *v = cls;
  pthread_mutex_lock(&v->page->mu);
  v->page->viewers--;
  pthread_mutex_unlock(&v->page->mu);
  free(v->part);
  free(v);
}

static mhd_result send_buffer(struct MHD_Connection *c, int code, const char *type, void *data,
                              size_t len, enum MHD_ResponseMemoryMode mode) {
  struct MHD_Response *r = MHD_create_response_from_buffer(len, data, mode);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", type);
  MHD_add_response_header(r, "Cache-Control", "no-store");
  mhd_result ok = MHD_queue_response(c, (unsigned)code, r);
  MHD_destroy_response(r);
  return ok;
}

static mhd_result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                          const char *version, const char *upload, size_t *upload_size,
                          void **state) {
  status_page *p = cls;
  (void)version, (void)upload;
  if (!*state) { /* first call: headers only */
    *state = (void *)1;
    return MHD_YES;
  }
  if (*upload_size) {
    *upload_size = 0;
    return MHD_YES;
  }
  if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
    static const char msg[] = "{\"error\": \"method not allowed\"}";
    return send_buffer(c, 405, "application/json", (void *)msg, sizeof msg - 1,
                       MHD_RESPMEM_PERSISTENT);
  }
  if (!strcmp(url, "/") || !strcmp(url, "/index.html"))
    return send_buffer(c, 200, "text/html; charset=utf-8", (void *)page_html, sizeof page_html - 1,
                       MHD_RESPMEM_PERSISTENT);
  if (!strcmp(url, "/status.json")) {
    char *buf = malloc(STATUS_JSON_MAX);
    if (!buf) return MHD_NO;
    pthread_mutex_lock(&p->mu);
    snapshot_json(p, buf, STATUS_JSON_MAX);
    pthread_mutex_unlock(&p->mu);
    return send_buffer(c, 200, "application/json", buf, strlen(buf), MHD_RESPMEM_MUST_FREE);
  }
  if (!strcmp(url, "/frame.jpg")) {
    pthread_mutex_lock(&p->mu);
    void *copy = p->jpeg ? malloc(p->jpeg_len) : NULL;
    size_t len = p->jpeg_len;
    if (copy) memcpy(copy, p->jpeg, len);
    pthread_mutex_unlock(&p->mu);
    if (!copy) {
      static const char msg[] = "{\"error\": \"no frame yet\"}";
      return send_buffer(c, 503, "application/json", (void *)msg, sizeof msg - 1,
                         MHD_RESPMEM_PERSISTENT);
    }
    return send_buffer(c, 200, "image/jpeg", copy, len, MHD_RESPMEM_MUST_FREE);
  }
  if (!strcmp(url, "/stream.mjpg")) {
    viewer *v = calloc(1, sizeof *v);
    if (!v) return MHD_NO;
    v->page = p;
    pthread_mutex_lock(&p->mu);
    p->viewers++;
    pthread_mutex_unlock(&p->mu);
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024,
                                                               mjpeg_reader, v, viewer_free);
    if (!r) {
      viewer_free(v);
      return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "multipart/x-mixed-replace; boundary=ledgeframe");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    mhd_result ok = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ok;
  }
  static const char msg[] = "{\"error\": \"not found\"}";
  return send_buffer(c, 404, "application/json", (void *)msg, sizeof msg - 1,
                     MHD_RESPMEM_PERSISTENT);
}

int status_page_start(const char *bind, int port, const char *name, const char *version,
                      status_page **out, char *err, size_t err_size) {
  status_page *p = calloc(1, sizeof *p);
  if (!p) {
    snprintf(err, err_size, "out of memory");
    return -1;
  }
  snprintf(p->name, sizeof p->name, "%s", name);
  snprintf(p->version, sizeof p->version, "%s", version);
  for (char *c = p->name; *c; c++)
    if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) *c = '_';
  for (char *c = p->version; *c; c++)
    if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) *c = '_';
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->snap.outbox_depth = -1;
  p->snap.state = INTERP_UNKNOWN;
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, bind && *bind ? bind : "127.0.0.1", &addr.sin_addr) != 1) {
    snprintf(err, err_size, "status page: bad bind address '%s'", bind);
    status_page_stop(p);
    return -1;
  }
  p->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
                          (uint16_t)port, NULL, NULL, handler, p, MHD_OPTION_SOCK_ADDR,
                          (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT, (unsigned)32,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                          MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_END);
  if (!p->d) {
    snprintf(err, err_size, "status page: cannot listen on %s:%d (in use?)", bind, port);
    status_page_stop(p);
    return -1;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(p->d, MHD_DAEMON_INFO_BIND_PORT);
  p->port = info ? info->port : port;
  *out = p;
  return 0;
}

int status_page_port(const status_page *page) { return page->port; }

void status_page_update(status_page *p, const uint8_t *jpeg, size_t jpeg_len,
                        const status_snapshot *snap) {
  uint8_t *copy = NULL;
  if (jpeg && jpeg_len && (copy = malloc(jpeg_len))) memcpy(copy, jpeg, jpeg_len);
  pthread_mutex_lock(&p->mu);
  if (copy) {
    free(p->jpeg);
    p->jpeg = copy;
    p->jpeg_len = jpeg_len;
    p->seq++;
  }
  p->snap = *snap;
  snprintf(p->note, sizeof p->note, "%s", snap->note ? snap->note : "");
  if (snap->last_alert) snprintf(p->last_alert, sizeof p->last_alert, "%s", snap->last_alert);
  p->snap.note = NULL;
  p->snap.last_alert = NULL;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

void status_page_state_change(status_page *p, double t, interp_state state) {
  pthread_mutex_lock(&p->mu);
  p->tl_head = (p->tl_head + 1) % TIMELINE_MAX;
  p->timeline[p->tl_head] = (timeline_entry){t, state};
  if (p->tl_count < TIMELINE_MAX) p->tl_count++;
  pthread_mutex_unlock(&p->mu);
}

int status_page_viewers(status_page *p) {
  pthread_mutex_lock(&p->mu);
  int n = p->viewers;
  pthread_mutex_unlock(&p->mu);
  return n;
}

void status_page_stop(status_page *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->stopping = 1;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  if (p->d) MHD_stop_daemon(p->d);
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  free(p->jpeg);
  free(p);
}
