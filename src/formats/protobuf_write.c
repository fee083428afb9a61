/* protobuf_write.c: the protobuf wire-format writer (see protobuf_write.h). */
#include "formats/protobuf_write.h"

#include <stdlib.h>
#include <string.h>

#include "formats/protobuf.h"

/* Room a length prefix is given while its body is written: enough for any
 * length below 2^35, so closing only ever moves the body back. */
enum { LENGTH_SLOT = 5 };

void lg_pbw_free(lg_pb_writer *w) {
  free(w->buf);
  w->buf = NULL;
  w->len = w->cap = 0;
}

bool lg_pbw_reserve(lg_pb_writer *w, size_t n) {
  if (w->failed) return false;
  if (n > SIZE_MAX / 2 - w->len) {
    w->failed = true;
    return false;
  }
  if (w->len + n <= w->cap) return true;
  size_t cap = w->cap ? w->cap : 4096;
  while (cap < w->len + n) cap *= 2;
  uint8_t *p = realloc(w->buf, cap);
  if (!p) {
    w->failed = true;
    return false;
  }
  w->buf = p;
  w->cap = cap;
  return true;
}

void lg_pbw_raw(lg_pb_writer *w, const void *data, size_t n) {
  if (!n || !lg_pbw_reserve(w, n)) return;
  memcpy(w->buf + w->len, data, n);
  w->len += n;
}

static size_t encode_varint(uint8_t *out, uint64_t v) {
  size_t k = 0;
  while (v >= 0x80) {
    out[k++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  out[k++] = (uint8_t)v;
  return k;
}

void lg_pbw_raw_varint(lg_pb_writer *w, uint64_t v) {
  if (!lg_pbw_reserve(w, 10)) return;
  w->len += encode_varint(w->buf + w->len, v);
}

void lg_pbw_tag(lg_pb_writer *w, uint32_t field, int wire) {
  lg_pbw_raw_varint(w, ((uint64_t)field << 3) | (uint64_t)wire);
}

void lg_pbw_varint(lg_pb_writer *w, uint32_t field, uint64_t v) {
  lg_pbw_tag(w, field, LG_PB_VARINT);
  lg_pbw_raw_varint(w, v);
}

void lg_pbw_int64(lg_pb_writer *w, uint32_t field, int64_t v) {
  lg_pbw_varint(w, field, (uint64_t)v);
}

void lg_pbw_float(lg_pb_writer *w, uint32_t field, float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  uint8_t b[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
  lg_pbw_tag(w, field, LG_PB_FIXED32);
  lg_pbw_raw(w, b, 4);
}

void lg_pbw_bytes(lg_pb_writer *w, uint32_t field, const void *data, size_t n) {
  lg_pbw_tag(w, field, LG_PB_LEN);
  lg_pbw_raw_varint(w, n);
  lg_pbw_raw(w, data, n);
}

void lg_pbw_string(lg_pb_writer *w, uint32_t field, const char *s) {
  if (s) lg_pbw_bytes(w, field, s, strlen(s));
}

lg_pbw_mark lg_pbw_begin(lg_pb_writer *w, uint32_t field) {
  lg_pbw_tag(w, field, LG_PB_LEN);
  if (!lg_pbw_reserve(w, LENGTH_SLOT)) return 0;
  w->len += LENGTH_SLOT;
  return w->len;
}

void lg_pbw_end(lg_pb_writer *w, lg_pbw_mark mark) {
  if (w->failed) return;
  size_t body = w->len - mark;
  if (body > INT32_MAX) {
    w->failed = true;
    return;
  }
  uint8_t prefix[10];
  size_t k = encode_varint(prefix, body);
  uint8_t *slot = w->buf + mark - LENGTH_SLOT;
  memcpy(slot, prefix, k);
  if (k < LENGTH_SLOT) {
    memmove(slot + k, w->buf + mark, body);
    w->len -= LENGTH_SLOT - k;
  }
}

void lg_pbw_packed_int64(lg_pb_writer *w, uint32_t field, const int64_t *v, int n) {
  if (n <= 0) return;
  lg_pbw_mark m = lg_pbw_begin(w, field);
  for (int i = 0; i < n; i++) lg_pbw_raw_varint(w, (uint64_t)v[i]);
  lg_pbw_end(w, m);
}

void lg_pbw_packed_float(lg_pb_writer *w, uint32_t field, const float *v, int n) {
  if (n <= 0) return;
  lg_pbw_mark m = lg_pbw_begin(w, field);
  for (int i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &v[i], 4);
    uint8_t b[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    lg_pbw_raw(w, b, 4);
  }
  lg_pbw_end(w, m);
}
