/*
 * ledge_format_cluster.c: decoding clustered tensors of .ledge files
 * (written by src/optimize/compress.c). A blob is
 *
 *   u8 version (1), u8 bits, u8 coding (0 packed, 1 Huffman), u8 reserved,
 *   u16 centroids K (1..256), u16 reserved, i64 count, f32 centroid[K],
 *   Huffman only: u8 code length[K] (0 = unused, else 1..15),
 *   u64 payload bytes, payload.
 *
 * Packed payloads hold `bits` bits per index, most significant bit first.
 * Huffman payloads hold canonical codes (shorter codes first, equal lengths
 * by symbol), most significant bit first. Every field is checked: a blob
 * that lies ends in an error, never an out-of-bounds read.
 */
#include <stdlib.h>
#include <string.h>

#include "formats/ledge_format.h"

enum { MAX_CODE_BITS = 15 };

#define FORMAT_ERROR(...) lg_error(LEDGE_ERR_FORMAT, __VA_ARGS__)

/* Reads bits most significant first, zero past the end (the caller checks
 * how many it consumed). */
typedef struct bit_reader {
  const uint8_t *p, *end;
  uint64_t buf;
  int have;
  uint64_t consumed;
} bit_reader;

static inline void refill(bit_reader *r) {
  while (r->have <= 56) {
    r->buf |= (uint64_t)(r->p < r->end ? *r->p++ : 0) << (56 - r->have);
    r->have += 8;
  }
}

static inline uint32_t peek(bit_reader *r, int n) { return (uint32_t)(r->buf >> (64 - n)); }

static inline void skip(bit_reader *r, int n) {
  r->buf <<= n;
  r->have -= n;
  r->consumed += (uint64_t)n;
}

lg_status lg_ledge_decode_clustered(const uint8_t *blob, size_t size, float *out, int64_t count) {
  if (size < 16) return FORMAT_ERROR("clustered tensor header is truncated");
  unsigned version = blob[0], bits = blob[1], coding = blob[2];
  uint16_t k;
  int64_t stored_count;
  memcpy(&k, blob + 4, 2);
  memcpy(&stored_count, blob + 8, 8);
  if (version != 1)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "clustered tensor version %u is unknown here", version);
  if (bits < 1 || bits > 8 || k < 1 || k > (1u << bits) || coding > 1)
    return FORMAT_ERROR("clustered tensor header is invalid (bits %u, %u centroids, coding %u)",
                        bits, k, coding);
  if (stored_count != count)
    return FORMAT_ERROR("clustered tensor holds %lld values, its shape needs %lld",
                        (long long)stored_count, (long long)count);
  size_t at = 16;
  if ((size - at) / 4 < k) return FORMAT_ERROR("clustered tensor centroids are truncated");
  float centroids[256];
  memcpy(centroids, blob + at, 4 * (size_t)k);
  at += 4 * (size_t)k;
  uint8_t lengths[256] = {0};
  if (coding == 1) {
    if (size - at < k) return FORMAT_ERROR("clustered tensor code lengths are truncated");
    memcpy(lengths, blob + at, k);
    at += k;
  }
  uint64_t payload;
  if (size - at < 8) return FORMAT_ERROR("clustered tensor is truncated");
  memcpy(&payload, blob + at, 8);
  at += 8;
  if (payload != size - at) return FORMAT_ERROR("clustered tensor payload size is inconsistent");
  bit_reader r = {blob + at, blob + size, 0, 0, 0};

  if (coding == 0) {
    if ((uint64_t)count > payload * 8 / bits)
      return FORMAT_ERROR("clustered tensor payload is truncated");
    for (int64_t i = 0; i < count; i++) {
      refill(&r);
      uint32_t idx = peek(&r, (int)bits);
      skip(&r, (int)bits);
      if (idx >= k) return FORMAT_ERROR("clustered tensor index %u is out of range", idx);
      out[i] = centroids[idx];
    }
    return LEDGE_OK;
  }

  /* Canonical Huffman: check the lengths describe a prefix code, then
   * fill a table indexed by the next MAX_CODE_BITS bits. */
  int max_len = 0;
  uint32_t kraft = 0; /* in units of 2^-MAX_CODE_BITS */
  for (unsigned s = 0; s < k; s++) {
    if (lengths[s] > MAX_CODE_BITS)
      return FORMAT_ERROR("clustered tensor code length %u is too long", lengths[s]);
    if (lengths[s]) kraft += 1u << (MAX_CODE_BITS - lengths[s]);
    if (lengths[s] > max_len) max_len = lengths[s];
  }
  if (max_len == 0 || kraft > (1u << MAX_CODE_BITS))
    return FORMAT_ERROR("clustered tensor code lengths are invalid");
  uint16_t *table = calloc((size_t)1 << max_len, sizeof *table); /* symbol + 1, 0 = no code */
  uint8_t *table_len = calloc((size_t)1 << max_len, 1);
  if (!table || !table_len) {
    free(table);
    free(table_len);
    return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  }
  uint32_t code = 0;
  for (int len = 1; len <= max_len; len++) {
    for (unsigned s = 0; s < k; s++) {
      if (lengths[s] != len) continue;
      uint32_t first = code << (max_len - len), n = 1u << (max_len - len);
      for (uint32_t j = 0; j < n; j++) {
        table[first + j] = (uint16_t)(s + 1);
        table_len[first + j] = (uint8_t)len;
      }
      code++;
    }
    code <<= 1;
  }
  lg_status st = LEDGE_OK;
  for (int64_t i = 0; i < count; i++) {
    refill(&r);
    uint32_t idx = peek(&r, max_len);
    if (!table[idx]) {
      st = FORMAT_ERROR("clustered tensor holds an invalid code");
      break;
    }
    out[i] = centroids[table[idx] - 1];
    skip(&r, table_len[idx]);
  }
  if (st == LEDGE_OK && r.consumed > payload * 8)
    st = FORMAT_ERROR("clustered tensor payload is truncated");
  free(table);
  free(table_len);
  return st;
}
