/*
 * protobuf.h: a zero-copy reader of the protobuf wire format. It walks the
 * fields of one message in place; length-delimited fields (strings, bytes,
 * sub-messages, packed arrays) come back as pointers into the buffer. Every
 * length is checked against the end of the buffer before it is used.
 */
#ifndef LEDGE_PROTOBUF_H
#define LEDGE_PROTOBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { LG_PB_VARINT = 0, LG_PB_FIXED64 = 1, LG_PB_LEN = 2, LG_PB_FIXED32 = 5 };

typedef struct lg_pb_reader {
  const uint8_t *p, *end;
  bool failed; /* a malformed field was met; the walk stopped */
} lg_pb_reader;

typedef struct lg_pb_field {
  uint32_t number;
  int wire;
  uint64_t value;      /* VARINT, FIXED32 and FIXED64 values (bit patterns) */
  const uint8_t *data; /* LEN: the bytes */
  size_t len;
} lg_pb_field;

static inline lg_pb_reader lg_pb_open(const void *data, size_t len) {
  lg_pb_reader r = {(const uint8_t *)data, (const uint8_t *)data + len, false};
  return r;
}

/* Reads the next field. Returns false at the end of the message or on a
 * malformed field (then r->failed is set). */
bool lg_pb_next(lg_pb_reader *r, lg_pb_field *f);

/* Reads a varint from [*p, end); false if truncated or longer than 10 bytes. */
bool lg_pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *out);

/* Counts the elements of a repeated scalar field given one occurrence:
 * a packed LEN field holds many, an unpacked one holds one. elem_wire is the
 * element's wire type (VARINT, FIXED32, FIXED64). Returns -1 if malformed. */
int64_t lg_pb_packed_count(const lg_pb_field *f, int elem_wire);

/* Iterates the elements of a packed or unpacked repeated scalar field. */
typedef struct lg_pb_packed {
  const uint8_t *p, *end;
  int elem_wire;
  bool single_pending;
  uint64_t single;
} lg_pb_packed;
void lg_pb_packed_open(lg_pb_packed *it, const lg_pb_field *f, int elem_wire);
bool lg_pb_packed_next(lg_pb_packed *it, uint64_t *out);

#endif
