/* protobuf.c: see protobuf.h. */
#include "formats/protobuf.h"

#include <string.h>

bool lg_pb_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
  const uint8_t *p = *pp;
  uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (p >= end) return false;
    uint8_t b = *p++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *pp = p;
      *out = v;
      return true;
    }
  }
  return false;
}

static uint64_t load_le(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

bool lg_pb_next(lg_pb_reader *r, lg_pb_field *f) {
  if (r->failed || r->p >= r->end) return false;
  uint64_t key;
  if (!lg_pb_varint(&r->p, r->end, &key) || (key >> 3) == 0 || (key >> 3) > 0x1fffffff) goto bad;
  f->number = (uint32_t)(key >> 3);
  f->wire = (int)(key & 7);
  f->data = NULL;
  f->len = 0;
  f->value = 0;
  switch (f->wire) {
    case LG_PB_VARINT:
      if (!lg_pb_varint(&r->p, r->end, &f->value)) goto bad;
      return true;
    case LG_PB_FIXED64:
      if (r->end - r->p < 8) goto bad;
      f->value = load_le(r->p, 8);
      r->p += 8;
      return true;
    case LG_PB_FIXED32:
      if (r->end - r->p < 4) goto bad;
      f->value = load_le(r->p, 4);
      r->p += 4;
      return true;
    case LG_PB_LEN: {
      uint64_t len;
      if (!lg_pb_varint(&r->p, r->end, &len) || len > (uint64_t)(r->end - r->p)) goto bad;
      f->data = r->p;
      f->len = (size_t)len;
      r->p += len;
      return true;
    }
    default: /* groups (3, 4) are obsolete and unused by ONNX */
      goto bad;
  }
bad:
  r->failed = true;
  return false;
}

int64_t lg_pb_packed_count(const lg_pb_field *f, int elem_wire) {
  if (f->wire != LG_PB_LEN) return f->wire == elem_wire ? 1 : -1;
  if (elem_wire == LG_PB_FIXED32) return f->len % 4 ? -1 : (int64_t)(f->len / 4);
  if (elem_wire == LG_PB_FIXED64) return f->len % 8 ? -1 : (int64_t)(f->len / 8);
  int64_t n = 0;
  const uint8_t *p = f->data, *end = f->data + f->len;
  uint64_t v;
  while (p < end) {
    if (!lg_pb_varint(&p, end, &v)) return -1;
    n++;
  }
  return n;
}

void lg_pb_packed_open(lg_pb_packed *it, const lg_pb_field *f, int elem_wire) {
  memset(it, 0, sizeof *it);
  it->elem_wire = elem_wire;
  if (f->wire == LG_PB_LEN) {
    it->p = f->data;
    it->end = f->data + f->len;
  } else {
    it->single_pending = true;
    it->single = f->value;
  }
}

bool lg_pb_packed_next(lg_pb_packed *it, uint64_t *out) {
  if (it->single_pending) {
    it->single_pending = false;
    *out = it->single;
    return true;
  }
  if (!it->p || it->p >= it->end) return false;
  switch (it->elem_wire) {
    case LG_PB_VARINT: return lg_pb_varint(&it->p, it->end, out);
    case LG_PB_FIXED32:
      if (it->end - it->p < 4) return false;
      *out = load_le(it->p, 4);
      it->p += 4;
      return true;
    case LG_PB_FIXED64:
      if (it->end - it->p < 8) return false;
      *out = load_le(it->p, 8);
      it->p += 8;
      return true;
  }
  return false;
}
