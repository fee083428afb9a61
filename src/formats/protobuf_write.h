/*
 * protobuf_write.h: a small writer of the protobuf wire format, the
 * counterpart of protobuf.h. Messages are appended to one growing buffer;
 * a sub-message is opened with lg_pbw_begin and closed with lg_pbw_end,
 * which writes its length in front of it (the body is moved once by the
 * few bytes the length needs). An allocation failure sets `failed` and
 * turns every later call into a no-op, so callers check once at the end.
 */
#ifndef LEDGE_PROTOBUF_WRITE_H
#define LEDGE_PROTOBUF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lg_pb_writer {
  uint8_t *buf;
  size_t len, cap;
  bool failed;
} lg_pb_writer;

/* Where an open sub-message starts (returned by lg_pbw_begin). */
typedef size_t lg_pbw_mark;

void lg_pbw_free(lg_pb_writer *w);
/* Makes room for n more bytes; false (and failed set) if it cannot. */
bool lg_pbw_reserve(lg_pb_writer *w, size_t n);

void lg_pbw_raw(lg_pb_writer *w, const void *data, size_t n);
void lg_pbw_raw_varint(lg_pb_writer *w, uint64_t v);
void lg_pbw_tag(lg_pb_writer *w, uint32_t field, int wire);

void lg_pbw_varint(lg_pb_writer *w, uint32_t field, uint64_t v);
void lg_pbw_int64(lg_pb_writer *w, uint32_t field, int64_t v); /* two's complement, as int64 */
void lg_pbw_float(lg_pb_writer *w, uint32_t field, float v);   /* FIXED32 */
void lg_pbw_bytes(lg_pb_writer *w, uint32_t field, const void *data, size_t n);
void lg_pbw_string(lg_pb_writer *w, uint32_t field, const char *s); /* NULL writes nothing */

/* Opens a length-delimited sub-message (or packed array) of field. */
lg_pbw_mark lg_pbw_begin(lg_pb_writer *w, uint32_t field);
/* Closes it: writes its length. Fails if the body exceeds 2 GiB (protobuf's limit). */
void lg_pbw_end(lg_pb_writer *w, lg_pbw_mark mark);

/* Packed repeated scalars. */
void lg_pbw_packed_int64(lg_pb_writer *w, uint32_t field, const int64_t *v, int n);
void lg_pbw_packed_float(lg_pb_writer *w, uint32_t field, const float *v, int n);

#endif
