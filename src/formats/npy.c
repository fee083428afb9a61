/* npy.c: NumPy .npy files in and out (see include/ledge/npy.h for the rules). */
#include "ledge/npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/core.h"

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* The first bytes of a file: magic (6), version (2), header length (2 or 4). */
enum { PRELUDE_V1 = 10, PRELUDE_V2 = 12 };

/* The header of a real file is a few hundred bytes; numpy itself refuses
 * headers over 10000 bytes by default. A bound keeps a hostile length field
 * from making ledge_npy_load allocate gigabytes before it parses anything. */
enum { MAX_HEADER_BYTES = 1 << 20 };

/* What a header says. */
typedef struct npy_header {
  ledge_dtype dtype;
  bool swap_bytes; /* stored in the other byte order than this machine's */
  bool fortran_order;
  int rank;
  int64_t dims[LEDGE_MAX_RANK];
  size_t data_offset; /* bytes from the start of the file to the elements */
  size_t data_bytes;  /* bytes of the elements */
} npy_header;

static bool host_is_little_endian(void) {
  const uint16_t one = 1;
  return *(const unsigned char *)&one == 1;
}

/* ---- Header parsing ---------------------------------------------------- */

/* A cursor over the header text. The text is not NUL-terminated: every read
 * checks the end. */
typedef struct cursor {
  const char *p, *end;
} cursor;

static void skip_space(cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
    c->p++;
}

/* Consumes ch (after whitespace) if it is next; false otherwise. */
static bool accept(cursor *c, char ch) {
  skip_space(c);
  if (c->p < c->end && *c->p == ch) {
    c->p++;
    return true;
  }
  return false;
}

/* Reads a quoted Python string literal (no escapes: none appear in valid
 * headers) into buf. */
static bool read_string(cursor *c, char *buf, size_t size) {
  skip_space(c);
  if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return false;
  char quote = *c->p++;
  size_t n = 0;
  while (c->p < c->end && *c->p != quote) {
    if (*c->p == '\\' || n + 1 >= size) return false;
    buf[n++] = *c->p++;
  }
  if (c->p >= c->end) return false;
  c->p++; /* closing quote */
  buf[n] = 0;
  return true;
}

static bool read_word(cursor *c, const char *word) {
  skip_space(c);
  size_t n = strlen(word);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return false;
  c->p += n;
  return true;
}

/* Reads a non-negative decimal integer (Python may write a trailing L in old
 * files: accept it). */
static bool read_dim(cursor *c, int64_t *out) {
  skip_space(c);
  if (c->p >= c->end || *c->p < '0' || *c->p > '9') return false;
  int64_t v = 0;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
    int digit = *c->p++ - '0';
    if (v > (INT64_MAX - digit) / 10) return false;
    v = v * 10 + digit;
  }
  if (c->p < c->end && *c->p == 'L') c->p++;
  *out = v;
  return true;
}

/* Reads a shape tuple: "()", "(5,)", "(2, 3)" or "(2, 3,)". */
static lg_status read_shape(cursor *c, npy_header *h) {
  if (!accept(c, '(')) return lg_error(LEDGE_ERR_FORMAT, "npy: 'shape' is not a tuple");
  h->rank = 0;
  if (accept(c, ')')) return LEDGE_OK;
  for (;;) {
    int64_t dim;
    if (!read_dim(c, &dim))
      return lg_error(LEDGE_ERR_FORMAT, "npy: 'shape' holds something other than a dimension");
    if (h->rank >= LEDGE_MAX_RANK)
      return lg_error(LEDGE_ERR_FORMAT, "npy: shape has more than %d dimensions", LEDGE_MAX_RANK);
    h->dims[h->rank++] = dim;
    if (accept(c, ')')) return LEDGE_OK;
    if (!accept(c, ',')) return lg_error(LEDGE_ERR_FORMAT, "npy: malformed 'shape' tuple");
    if (accept(c, ')')) return LEDGE_OK;
  }
}

/* Maps a descr such as "<f4" to a dtype and byte order. */
static lg_status parse_descr(const char *descr, npy_header *h) {
  static const struct {
    const char *code;
    ledge_dtype dtype;
  } types[] = {
      {"f4", LEDGE_FLOAT32}, {"f8", LEDGE_FLOAT64}, {"f2", LEDGE_FLOAT16}, {"i1", LEDGE_INT8},
      {"i2", LEDGE_INT16},   {"i4", LEDGE_INT32},   {"i8", LEDGE_INT64},   {"u1", LEDGE_UINT8},
      {"u2", LEDGE_UINT16},  {"u4", LEDGE_UINT32},  {"u8", LEDGE_UINT64},  {"b1", LEDGE_BOOL},
      {"?", LEDGE_BOOL},     {"b", LEDGE_INT8},     {"B", LEDGE_UINT8},
  };
  char order = descr[0];
  const char *code = descr;
  if (order == '<' || order == '>' || order == '|' || order == '=') code++;
  else order = '=';
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    if (strcmp(code, types[i].code) != 0) continue;
    h->dtype = types[i].dtype;
    bool file_little = order == '<' || (order != '>' && host_is_little_endian());
    h->swap_bytes = ledge_dtype_size(h->dtype) > 1 && file_little != host_is_little_endian();
    return LEDGE_OK;
  }
  return lg_error(LEDGE_ERR_UNSUPPORTED,
                  "npy: element type '%s' is not supported (float16/32/64, int8-64, uint8-64 "
                  "and bool are)",
                  descr);
}

/* Parses the dict literal of a header: exactly the keys 'descr',
 * 'fortran_order' and 'shape', in any order. */
static lg_status parse_dict(const char *text, size_t length, npy_header *h) {
  cursor c = {text, text + length};
  bool have_descr = false, have_order = false, have_shape = false;
  if (!accept(&c, '{')) return lg_error(LEDGE_ERR_FORMAT, "npy: header is not a dict");
  while (!accept(&c, '}')) {
    char key[32];
    if (!read_string(&c, key, sizeof key) || !accept(&c, ':'))
      return lg_error(LEDGE_ERR_FORMAT, "npy: malformed header dict");
    if (strcmp(key, "descr") == 0) {
      char descr[16];
      skip_space(&c);
      if (c.p < c.end && (*c.p == '[' || *c.p == '('))
        return lg_error(LEDGE_ERR_UNSUPPORTED, "npy: structured arrays are not supported");
      if (!read_string(&c, descr, sizeof descr))
        return lg_error(LEDGE_ERR_FORMAT, "npy: 'descr' is not a type string");
      LG_TRY(parse_descr(descr, h));
      have_descr = true;
    } else if (strcmp(key, "fortran_order") == 0) {
      if (read_word(&c, "True")) h->fortran_order = true;
      else if (read_word(&c, "False")) h->fortran_order = false;
      else return lg_error(LEDGE_ERR_FORMAT, "npy: 'fortran_order' is not True or False");
      have_order = true;
    } else if (strcmp(key, "shape") == 0) {
      LG_TRY(read_shape(&c, h));
      have_shape = true;
    } else {
      return lg_error(LEDGE_ERR_FORMAT, "npy: unexpected key '%s' in header", key);
    }
    if (!accept(&c, ',')) {
      if (!accept(&c, '}')) return lg_error(LEDGE_ERR_FORMAT, "npy: malformed header dict");
      break;
    }
  }
  if (!have_descr || !have_order || !have_shape)
    return lg_error(LEDGE_ERR_FORMAT, "npy: header lacks '%s'",
                    !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
  skip_space(&c);
  if (c.p != c.end) return lg_error(LEDGE_ERR_FORMAT, "npy: unexpected text after header dict");
  return LEDGE_OK;
}

/* Reads the prelude at the start of a file (avail bytes at data) and reports
 * how long the whole header is, prelude included. */
static lg_status parse_prelude(const unsigned char *data, size_t avail, size_t *prelude,
                               size_t *header_end) {
  if (avail < PRELUDE_V1 || memcmp(data, npy_magic, sizeof npy_magic) != 0)
    return lg_error(LEDGE_ERR_FORMAT, "npy: not a .npy file (bad magic)");
  unsigned major = data[6], minor = data[7];
  size_t length;
  if (major == 1) {
    *prelude = PRELUDE_V1;
    length = (size_t)data[8] | (size_t)data[9] << 8;
  } else if (major == 2 || major == 3) {
    if (avail < PRELUDE_V2) return lg_error(LEDGE_ERR_FORMAT, "npy: truncated header");
    *prelude = PRELUDE_V2;
    length = (size_t)data[8] | (size_t)data[9] << 8 | (size_t)data[10] << 16 |
             (size_t)data[11] << 24;
  } else {
    return lg_error(LEDGE_ERR_FORMAT, "npy: unknown format version %u.%u", major, minor);
  }
  if (length > MAX_HEADER_BYTES)
    return lg_error(LEDGE_ERR_FORMAT, "npy: header length %zu is implausibly large", length);
  *header_end = *prelude + length;
  return LEDGE_OK;
}

/* Parses a complete header (header_end bytes at data) into h. */
static lg_status parse_header(const unsigned char *data, size_t prelude, size_t header_end,
                              npy_header *h) {
  memset(h, 0, sizeof *h);
  const char *text = (const char *)data + prelude;
  size_t length = header_end - prelude;
  if (memchr(text, 0, length)) return lg_error(LEDGE_ERR_FORMAT, "npy: NUL byte in header");
  LG_TRY(parse_dict(text, length, h));
  int64_t count = lg_shape_count(h->rank, h->dims);
  size_t element = ledge_dtype_size(h->dtype);
  if (count < 0 || (uint64_t)count > SIZE_MAX / element)
    return lg_error(LEDGE_ERR_FORMAT, "npy: shape's element count overflows");
  h->data_offset = header_end;
  h->data_bytes = (size_t)count * element;
  return LEDGE_OK;
}

/* ---- Turning raw elements into a tensor -------------------------------- */

static void swap_elements(unsigned char *p, size_t bytes, size_t element) {
  for (size_t i = 0; i + element <= bytes; i += element)
    for (size_t a = i, b = i + element - 1; a < b; a++, b--) {
      unsigned char t = p[a];
      p[a] = p[b];
      p[b] = t;
    }
}

/* Rewrites a Fortran-order (first index fastest) array in C order. */
static lg_status fortran_to_c(ledge_tensor *t) {
  size_t element = ledge_dtype_size(t->dtype);
  size_t bytes = lg_tensor_bytes(t);
  if (t->rank < 2 || bytes == 0) return LEDGE_OK; /* same layout either way */
  unsigned char *copy = malloc(bytes);
  if (!copy)
    return lg_error(LEDGE_ERR_NO_MEMORY, "npy: out of memory transposing %zu bytes", bytes);
  memcpy(copy, t->data, bytes);
  int64_t index[LEDGE_MAX_RANK] = {0};
  int64_t count = lg_tensor_count(t);
  unsigned char *dst = t->data;
  for (int64_t i = 0; i < count; i++) { /* i walks C order; index is its multi-index */
    int64_t src = 0;
    for (int d = t->rank - 1; d >= 0; d--) src = src * t->dims[d] + index[d];
    memcpy(dst + (size_t)i * element, copy + (size_t)src * element, element);
    for (int d = t->rank - 1; d >= 0 && ++index[d] == t->dims[d]; d--) index[d] = 0;
  }
  free(copy);
  return LEDGE_OK;
}

/* Brings freshly read elements into the form the runtime expects. */
static lg_status finish_tensor(ledge_tensor *t, const npy_header *h) {
  if (h->swap_bytes) swap_elements(t->data, h->data_bytes, ledge_dtype_size(t->dtype));
  if (t->dtype == LEDGE_BOOL) { /* ledge's bools are 0 or 1; numpy's should be too */
    unsigned char *p = t->data;
    for (size_t i = 0; i < h->data_bytes; i++) p[i] = p[i] != 0;
  }
  if (h->fortran_order) return fortran_to_c(t);
  return LEDGE_OK;
}

ledge_status ledge_npy_parse(const void *data, size_t size, ledge_tensor **out) {
  if (!out) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "npy: NULL output pointer");
  *out = NULL;
  if (!data && size) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "npy: NULL data");
  const unsigned char *bytes = data;
  size_t prelude = 0, header_end = 0;
  npy_header h;
  LG_TRY(parse_prelude(bytes, size, &prelude, &header_end));
  if (header_end > size) return lg_error(LEDGE_ERR_FORMAT, "npy: truncated header");
  LG_TRY(parse_header(bytes, prelude, header_end, &h));
  if (h.data_bytes > size - h.data_offset)
    return lg_error(LEDGE_ERR_FORMAT, "npy: truncated data (%zu bytes expected, %zu present)",
                    h.data_bytes, size - h.data_offset);
  ledge_tensor *t;
  LG_TRY(ledge_tensor_create(h.dtype, h.rank, h.dims, &t));
  if (h.data_bytes) memcpy(t->data, bytes + h.data_offset, h.data_bytes);
  lg_status status = finish_tensor(t, &h);
  if (status != LEDGE_OK) {
    ledge_tensor_destroy(t);
    return status;
  }
  *out = t;
  return LEDGE_OK;
}

/* ---- Loading from a file ----------------------------------------------- */

static lg_status read_exactly(FILE *f, void *buf, size_t n, const char *path, const char *what) {
  if (fread(buf, 1, n, f) == n) return LEDGE_OK;
  if (ferror(f)) return lg_error(LEDGE_ERR_IO, "npy: cannot read '%s': %s", path, strerror(errno));
  return lg_error(LEDGE_ERR_FORMAT, "npy: '%s' is truncated (in the %s)", path, what);
}

static lg_status load_from_stream(FILE *f, const char *path, ledge_tensor **out) {
  unsigned char start[PRELUDE_V2];
  size_t got = fread(start, 1, sizeof start, f);
  if (ferror(f)) return lg_error(LEDGE_ERR_IO, "npy: cannot read '%s': %s", path, strerror(errno));
  size_t prelude = 0, header_end = 0;
  LG_TRY(parse_prelude(start, got, &prelude, &header_end));
  if (got < header_end && got < sizeof start) /* the file ended inside the header */
    return lg_error(LEDGE_ERR_FORMAT, "npy: '%s' is truncated (in the header)", path);

  /* The header, with the prelude in front so that offsets match the file's. */
  unsigned char *header = malloc(header_end > got ? header_end : got);
  if (!header) return lg_error(LEDGE_ERR_NO_MEMORY, "npy: out of memory");
  memcpy(header, start, got);
  lg_status status = LEDGE_OK;
  if (header_end > got) status = read_exactly(f, header + got, header_end - got, path, "header");
  npy_header h;
  if (status == LEDGE_OK) status = parse_header(header, prelude, header_end, &h);
  /* A short prelude-sized read may already hold data bytes past the header. */
  size_t early = got > header_end ? got - header_end : 0;
  unsigned char early_bytes[PRELUDE_V2];
  if (early) memcpy(early_bytes, header + header_end, early);
  free(header);
  if (status != LEDGE_OK) return status;

  /* Refuse a shape that the file cannot hold before allocating for it. */
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
      (uint64_t)st.st_size < (uint64_t)h.data_offset + h.data_bytes)
    return lg_error(LEDGE_ERR_FORMAT,
                    "npy: '%s' is truncated (header promises %zu data bytes, file has %lld)", path,
                    h.data_bytes, (long long)st.st_size - (long long)h.data_offset);

  ledge_tensor *t;
  LG_TRY(ledge_tensor_create(h.dtype, h.rank, h.dims, &t));
  size_t head = early < h.data_bytes ? early : h.data_bytes;
  if (head) memcpy(t->data, early_bytes, head);
  status = read_exactly(f, (unsigned char *)t->data + head, h.data_bytes - head, path, "data");
  if (status == LEDGE_OK) status = finish_tensor(t, &h);
  if (status != LEDGE_OK) {
    ledge_tensor_destroy(t);
    return status;
  }
  *out = t;
  return LEDGE_OK;
}

ledge_status ledge_npy_load(const char *path, ledge_tensor **out) {
  if (!out) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "npy: NULL output pointer");
  *out = NULL;
  if (!path) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "npy: NULL path");
  FILE *f = fopen(path, "rb");
  if (!f) return lg_error(LEDGE_ERR_IO, "npy: cannot open '%s': %s", path, strerror(errno));
  lg_status status = load_from_stream(f, path, out);
  fclose(f);
  if (status != LEDGE_OK && strstr(ledge_last_error(), path) == NULL)
    lg_error_context(status, "%s: ", path);
  return status;
}

/* ---- Writing ----------------------------------------------------------- */

static const char *descr_of(ledge_dtype dtype) {
  switch (dtype) {
    case LEDGE_FLOAT32: return "<f4";
    case LEDGE_FLOAT64: return "<f8";
    case LEDGE_FLOAT16: return "<f2";
    case LEDGE_INT8: return "|i1";
    case LEDGE_INT16: return "<i2";
    case LEDGE_INT32: return "<i4";
    case LEDGE_INT64: return "<i8";
    case LEDGE_UINT8: return "|u1";
    case LEDGE_UINT16: return "<u2";
    case LEDGE_UINT32: return "<u4";
    case LEDGE_UINT64: return "<u8";
    case LEDGE_BOOL: return "|b1";
    default: return NULL;
  }
}

/* A header never needs more than this: the dict's fixed text plus at most
 * LEDGE_MAX_RANK dimensions of 20 digits, padded to 64 bytes. */
enum { MAX_WRITTEN_HEADER = 512 };

/* Builds the prelude and padded header for t into buf; returns its length,
 * or 0 with an error recorded. */
static size_t build_header(const ledge_tensor *t, unsigned char *buf) {
  const char *descr = descr_of(t->dtype);
  if (!descr) {
    lg_error(LEDGE_ERR_UNSUPPORTED, "npy: cannot write tensors of dtype %s",
             ledge_dtype_name(t->dtype));
    return 0;
  }
  if (t->rank < 0 || t->rank > LEDGE_MAX_RANK || lg_tensor_count(t) < 0) {
    lg_error(LEDGE_ERR_INVALID_ARGUMENT, "npy: tensor has an invalid shape");
    return 0;
  }
  char dict[MAX_WRITTEN_HEADER];
  size_t n = (size_t)snprintf(dict, sizeof dict,
                              "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
  /* numpy's tuple syntax: "()", "(5,)", "(2, 3)". */
  for (int i = 0; i < t->rank; i++)
    n += (size_t)snprintf(dict + n, sizeof dict - n, "%s%lld", i ? ", " : "",
                          (long long)t->dims[i]);
  n += (size_t)snprintf(dict + n, sizeof dict - n, "%s), }", t->rank == 1 ? "," : "");
  /* Pad with spaces and a final newline so that the data starts 64-byte aligned. */
  size_t total = lg_align_up(PRELUDE_V1 + n + 1, 64);
  memcpy(buf, npy_magic, sizeof npy_magic);
  buf[6] = 1;
  buf[7] = 0;
  size_t length = total - PRELUDE_V1;
  buf[8] = (unsigned char)(length & 0xff);
  buf[9] = (unsigned char)(length >> 8);
  memcpy(buf + PRELUDE_V1, dict, n);
  memset(buf + PRELUDE_V1 + n, ' ', total - PRELUDE_V1 - n - 1);
  buf[total - 1] = '\n';
  return total;
}

static lg_status check_tensor(const ledge_tensor *t) {
  if (!t) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "npy: NULL tensor");
  if (!t->data && lg_tensor_count(t) > 0 && ledge_dtype_size(t->dtype) > 0)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "npy: tensor has no data");
  return LEDGE_OK;
}

/* Copies count elements to dst in little-endian order. */
static void copy_little_endian(void *dst, const void *src, size_t bytes, size_t element) {
  memcpy(dst, src, bytes);
  if (!host_is_little_endian()) swap_elements(dst, bytes, element);
}

ledge_status ledge_npy_encode(const ledge_tensor *t, void **out, size_t *size) {
  if (!out || !size) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "npy: NULL output pointer");
  *out = NULL;
  *size = 0;
  LG_TRY(check_tensor(t));
  unsigned char header[MAX_WRITTEN_HEADER];
  size_t header_bytes = build_header(t, header);
  if (!header_bytes) return LEDGE_ERR_UNSUPPORTED;
  size_t data_bytes = lg_tensor_bytes(t);
  unsigned char *buf = malloc(header_bytes + data_bytes);
  if (!buf)
    return lg_error(LEDGE_ERR_NO_MEMORY, "npy: out of memory encoding %zu bytes", data_bytes);
  memcpy(buf, header, header_bytes);
  if (data_bytes)
    copy_little_endian(buf + header_bytes, t->data, data_bytes, ledge_dtype_size(t->dtype));
  *out = buf;
  *size = header_bytes + data_bytes;
  return LEDGE_OK;
}

ledge_status ledge_npy_save(const char *path, const ledge_tensor *t) {
  if (!path) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "npy: NULL path");
  LG_TRY(check_tensor(t));
  unsigned char header[MAX_WRITTEN_HEADER];
  size_t header_bytes = build_header(t, header);
  if (!header_bytes) return LEDGE_ERR_UNSUPPORTED;
  FILE *f = fopen(path, "wb");
  if (!f) return lg_error(LEDGE_ERR_IO, "npy: cannot create '%s': %s", path, strerror(errno));
  size_t data_bytes = lg_tensor_bytes(t);
  bool ok = fwrite(header, 1, header_bytes, f) == header_bytes;
  if (ok && data_bytes) {
    if (host_is_little_endian()) {
      ok = fwrite(t->data, 1, data_bytes, f) == data_bytes;
    } else { /* write through a small buffer so the tensor is left untouched */
      size_t element = ledge_dtype_size(t->dtype);
      unsigned char chunk[4096];
      for (size_t off = 0; ok && off < data_bytes; off += sizeof chunk) {
        size_t n = data_bytes - off < sizeof chunk ? data_bytes - off : sizeof chunk;
        copy_little_endian(chunk, (const unsigned char *)t->data + off, n, element);
        ok = fwrite(chunk, 1, n, f) == n;
      }
    }
  }
  int saved_errno = errno;
  if (fclose(f) != 0 && ok) {
    ok = false;
    saved_errno = errno;
  }
  if (!ok)
    return lg_error(LEDGE_ERR_IO, "npy: cannot write '%s': %s", path, strerror(saved_errno));
  return LEDGE_OK;
}
