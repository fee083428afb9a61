/*
 * json.c: strict recursive-descent JSON parser (see json.h).
 */
#include "formats/json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Allocation: blocks freed together ---- */

typedef struct block {
  struct block *next;
  size_t used, cap;
  _Alignas(16) unsigned char data[];
} block;

struct lg_json_doc {
  block *blocks;
  lg_json root;
};

static void *doc_alloc(lg_json_doc *d, size_t bytes) {
  bytes = (bytes + 15) & ~(size_t)15;
  block *b = d->blocks;
  if (!b || b->cap - b->used < bytes) {
    size_t cap = bytes > 65536 ? bytes : 65536;
    b = malloc(sizeof *b + cap);
    if (!b) return NULL;
    b->cap = cap;
    b->used = 0;
    b->next = d->blocks;
    d->blocks = b;
  }
  void *p = b->data + b->used;
  b->used += bytes;
  return p;
}

void lg_json_free(lg_json_doc *d) {
  if (!d) return;
  block *b = d->blocks;
  while (b) {
    block *n = b->next;
    free(b);
    b = n;
  }
  free(d);
}

const lg_json *lg_json_root(const lg_json_doc *d) { return d ? &d->root : NULL; }

/* ---- Parser ---- */

typedef struct parser {
  const char *s;
  size_t len, pos;
  lg_json_doc *doc;
  lg_status err;
} parser;

static lg_status fail(parser *p, const char *what) {
  if (p->err == LEDGE_OK)
    p->err = lg_error(LEDGE_ERR_FORMAT, "JSON: %s at byte %zu", what, p->pos);
  return p->err;
}

static void skip_ws(parser *p) {
  while (p->pos < p->len) {
    char c = p->s[p->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    p->pos++;
  }
}

static int hex4(parser *p) {
  if (p->len - p->pos < 4) return -1;
  int v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p->s[p->pos + (size_t)i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  p->pos += 4;
  return v;
}

static size_t put_utf8(char *o, uint32_t cp) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Length of a valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  size_t k;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) k = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) k = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) k = 4, cp = c & 0x07;
  else return 0;
  if (n < k) return 0;
  for (size_t i = 1; i < k; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (s[i] & 0x3F);
  }
  if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return k;
}

/* Parses a string at p->pos (which is at the opening quote). */
static lg_status parse_string(parser *p, const char **out, size_t *out_len) {
  p->pos++; /* quote */
  /* First pass: find the end and an upper bound on the decoded size. */
  size_t start = p->pos, end = start;
  while (end < p->len && p->s[end] != '"') {
    if (p->s[end] == '\\') end++;
    end++;
  }
  if (end >= p->len) return fail(p, "unterminated string");
  char *buf = doc_alloc(p->doc, end - start + 1);
  if (!buf) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  size_t k = 0;
  while (p->pos < end) {
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c < 0x20) return fail(p, "control character in string");
    if (c != '\\') {
      size_t n = utf8_seq((const unsigned char *)p->s + p->pos, end - p->pos);
      if (!n) return fail(p, "invalid UTF-8 in string");
      memcpy(buf + k, p->s + p->pos, n);
      k += n;
      p->pos += n;
      continue;
    }
    p->pos++;
    char e = p->s[p->pos++];
    switch (e) {
      case '"': buf[k++] = '"'; break;
      case '\\': buf[k++] = '\\'; break;
      case '/': buf[k++] = '/'; break;
      case 'b': buf[k++] = '\b'; break;
      case 'f': buf[k++] = '\f'; break;
      case 'n': buf[k++] = '\n'; break;
      case 'r': buf[k++] = '\r'; break;
      case 't': buf[k++] = '\t'; break;
      case 'u': {
        int u = hex4(p);
        if (u < 0) return fail(p, "bad \\u escape");
        uint32_t cp = (uint32_t)u;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return fail(p, "lone low surrogate");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (p->pos + 2 > end || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') return fail(p, "lone high surrogate");
          p->pos += 2;
          int lo = hex4(p);
          if (lo < 0xDC00 || lo > 0xDFFF) return fail(p, "bad surrogate pair");
          cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
        }
        /* \uXXXX takes 6 input bytes and writes at most 3 (4 for a pair of 12). */
        k += put_utf8(buf + k, cp);
        break;
      }
      default: p->pos--; return fail(p, "bad escape in string");
    }
  }
  buf[k] = 0;
  p->pos = end + 1;
  *out = buf;
  *out_len = k;
  return LEDGE_OK;
}

static lg_status parse_number(parser *p, lg_json *v) {
  size_t s = p->pos, i = s;
  if (i < p->len && p->s[i] == '-') i++;
  if (i >= p->len) return fail(p, "bad number");
  if (p->s[i] == '0') i++;
  else if (p->s[i] >= '1' && p->s[i] <= '9') while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9') i++;
  else return fail(p, "bad number");
  if (i < p->len && p->s[i] == '.') {
    i++;
    size_t d = i;
    while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9') i++;
    if (i == d) { p->pos = i; return fail(p, "bad number"); }
  }
  if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
    i++;
    if (i < p->len && (p->s[i] == '+' || p->s[i] == '-')) i++;
    size_t d = i;
    while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9') i++;
    if (i == d) { p->pos = i; return fail(p, "bad number"); }
  }
  char tmp[64];
  size_t n = i - s;
  char *buf = n < sizeof tmp ? tmp : malloc(n + 1);
  if (!buf) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  memcpy(buf, p->s + s, n);
  buf[n] = 0;
  v->type = LG_JSON_NUMBER;
  v->num = strtod(buf, NULL);
  if (buf != tmp) free(buf);
  p->pos = i;
  return LEDGE_OK;
}

static lg_status parse_value(parser *p, lg_json *v, int depth);

/* A growable list of parsed elements, copied into the document when done. */
typedef struct vec {
  lg_json *items;
  const char **keys;
  int n, cap;
} vec;

static bool vec_push(vec *x, bool with_keys) {
  if (x->n < x->cap) return true;
  int ncap = x->cap ? x->cap * 2 : 8;
  if (ncap > (1 << 28)) return false;
  lg_json *ni = realloc(x->items, sizeof *ni * (size_t)ncap);
  if (!ni) return false;
  x->items = ni;
  if (with_keys) {
    const char **nk = realloc(x->keys, sizeof *nk * (size_t)ncap);
    if (!nk) return false;
    x->keys = nk;
  }
  x->cap = ncap;
  return true;
}

static lg_status parse_container(parser *p, lg_json *v, int depth, bool object) {
  if (depth >= LG_JSON_MAX_DEPTH) return fail(p, "nesting is too deep");
  char close = object ? '}' : ']';
  p->pos++;
  vec x = {0};
  lg_status st = LEDGE_OK;
  skip_ws(p);
  if (p->pos < p->len && p->s[p->pos] == close) {
    p->pos++;
  } else {
    for (;;) {
      if (!vec_push(&x, object)) { st = lg_error(LEDGE_ERR_NO_MEMORY, "out of memory"); break; }
      memset(&x.items[x.n], 0, sizeof x.items[x.n]);
      skip_ws(p);
      if (object) {
        size_t klen;
        if (p->pos >= p->len || p->s[p->pos] != '"') { st = fail(p, "expected a string key"); break; }
        if ((st = parse_string(p, &x.keys[x.n], &klen)) != LEDGE_OK) break;
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':') { st = fail(p, "expected ':'"); break; }
        p->pos++;
      }
      if ((st = parse_value(p, &x.items[x.n], depth + 1)) != LEDGE_OK) break;
      x.n++;
      skip_ws(p);
      if (p->pos < p->len && p->s[p->pos] == ',') { p->pos++; continue; }
      if (p->pos < p->len && p->s[p->pos] == close) { p->pos++; break; }
      st = fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
      break;
    }
  }
  if (st == LEDGE_OK) {
    v->type = object ? LG_JSON_OBJECT : LG_JSON_ARRAY;
    v->n = x.n;
    if (x.n) {
      v->items = doc_alloc(p->doc, sizeof *v->items * (size_t)x.n);
      if (object) v->keys = doc_alloc(p->doc, sizeof *v->keys * (size_t)x.n);
      if (!v->items || (object && !v->keys)) st = lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
      else {
        memcpy(v->items, x.items, sizeof *v->items * (size_t)x.n);
        if (object) memcpy(v->keys, x.keys, sizeof *v->keys * (size_t)x.n);
      }
    }
  }
  free(x.items);
  free(x.keys);
  return st;
}

static bool literal(parser *p, const char *word) {
  size_t n = strlen(word);
  if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n)) return false;
  p->pos += n;
  return true;
}

static lg_status parse_value(parser *p, lg_json *v, int depth) {
  skip_ws(p);
  if (p->pos >= p->len) return fail(p, "unexpected end of input");
  char c = p->s[p->pos];
  switch (c) {
    case '{': return parse_container(p, v, depth, true);
    case '[': return parse_container(p, v, depth, false);
    case '"': v->type = LG_JSON_STRING; return parse_string(p, &v->str, &v->len);
    case 't': if (literal(p, "true")) { v->type = LG_JSON_TRUE; return LEDGE_OK; } break;
    case 'f': if (literal(p, "false")) { v->type = LG_JSON_FALSE; return LEDGE_OK; } break;
    case 'n': if (literal(p, "null")) { v->type = LG_JSON_NULL; return LEDGE_OK; } break;
    default:
      if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p, v);
      break;
  }
  return fail(p, "unexpected character");
}

lg_status lg_json_parse(const char *text, size_t len, lg_json_doc **out) {
  *out = NULL;
  if (!text) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "JSON: no text");
  lg_json_doc *d = calloc(1, sizeof *d);
  if (!d) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  parser p = {text, len, 0, d, LEDGE_OK};
  /* A UTF-8 byte order mark is tolerated. */
  if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) p.pos = 3;
  lg_status st = parse_value(&p, &d->root, 0);
  if (st == LEDGE_OK) {
    skip_ws(&p);
    if (p.pos != p.len) st = fail(&p, "trailing characters after the document");
  }
  if (st != LEDGE_OK) {
    lg_json_free(d);
    return st;
  }
  *out = d;
  return LEDGE_OK;
}

/* ---- Access ---- */

const lg_json *lg_json_get(const lg_json *obj, const char *key) {
  if (!obj || obj->type != LG_JSON_OBJECT || !key) return NULL;
  for (int i = obj->n - 1; i >= 0; i--)
    if (!strcmp(obj->keys[i], key)) return &obj->items[i];
  return NULL;
}

const lg_json *lg_json_at(const lg_json *arr, int i) {
  if (!arr || arr->type != LG_JSON_ARRAY || i < 0 || i >= arr->n) return NULL;
  return &arr->items[i];
}

const char *lg_json_str(const lg_json *v) { return v && v->type == LG_JSON_STRING ? v->str : NULL; }

bool lg_json_int(const lg_json *v, int64_t *out) {
  if (!v) return false;
  if (v->type == LG_JSON_NUMBER) {
    if (!(v->num >= -9.2233720368547758e18 && v->num < 9.2233720368547758e18)) return false;
    if (v->num != floor(v->num)) return false;
    *out = (int64_t)v->num;
    return true;
  }
  if (v->type == LG_JSON_STRING) {
    if (v->len == 0 || v->len > 20) return false;
    char *end;
    errno = 0;
    long long x = strtoll(v->str, &end, 10);
    if (errno || *end || end != v->str + v->len) return false;
    *out = x;
    return true;
  }
  return false;
}

bool lg_json_double(const lg_json *v, double *out) {
  if (!v) return false;
  if (v->type == LG_JSON_NUMBER) {
    *out = v->num;
    return true;
  }
  if (v->type == LG_JSON_STRING) {
    if (!strcmp(v->str, "NaN")) { *out = NAN; return true; }
    if (!strcmp(v->str, "Infinity")) { *out = INFINITY; return true; }
    if (!strcmp(v->str, "-Infinity")) { *out = -INFINITY; return true; }
    if (v->len == 0 || v->len > 64) return false;
    char *end;
    double x = strtod(v->str, &end);
    if (*end || end != v->str + v->len) return false;
    *out = x;
    return true;
  }
  return false;
}
