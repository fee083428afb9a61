/*
 * onnx.c: ONNX ModelProto -> lg_graph.
 *
 * Field numbers are those of onnx.proto. The file is walked in place: names
 * are copied into the graph's pool, tensor data is not. raw_data that is not
 * aligned for its element type is moved a few bytes back inside a private
 * (copy-on-write) mapping, over the tag bytes already read, so that kernels
 * can read it directly; only read-only buffers fall back to a heap copy.
 */
#include "formats/onnx.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/name_map.h"
#include "formats/protobuf.h"
#include "ops/op.h"

/* ---- File mapping ---- */

lg_status lg_map_file(const char *path, bool writable, lg_mapping *out) {
  out->addr = NULL;
  out->size = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return lg_error(LEDGE_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return lg_error(LEDGE_ERR_IO, "'%s' is not a regular file", path);
  }
  if (st.st_size == 0) {
    close(fd);
    return lg_error(LEDGE_ERR_FORMAT, "'%s' is empty", path);
  }
  void *addr = mmap(NULL, (size_t)st.st_size, PROT_READ | (writable ? PROT_WRITE : 0),
                    MAP_PRIVATE, fd, 0);
  close(fd);
  if (addr == MAP_FAILED) return lg_error(LEDGE_ERR_IO, "cannot map '%s': %s", path, strerror(errno));
  out->addr = addr;
  out->size = (size_t)st.st_size;
  return LEDGE_OK;
}

void lg_unmap(lg_mapping *m) {
  if (m->addr) munmap(m->addr, m->size);
  m->addr = NULL;
}

/* ---- Import state ---- */

typedef struct importer {
  lg_onnx_import *imp;
  lg_graph *g;
  lg_name_map names;
} importer;

static char *pool_str(lg_graph *g, const lg_pb_field *f) {
  return lg_pool_strndup(g->pool, (const char *)f->data, f->len);
}

#define FORMAT_ERROR(...) lg_error(LEDGE_ERR_FORMAT, __VA_ARGS__)

/* ---- TensorProto ---- */

enum {
  TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_SEGMENT = 3, TENSOR_FLOAT_DATA = 4,
  TENSOR_INT32_DATA = 5, TENSOR_STRING_DATA = 6, TENSOR_INT64_DATA = 7, TENSOR_NAME = 8,
  TENSOR_RAW_DATA = 9, TENSOR_DOUBLE_DATA = 10, TENSOR_UINT64_DATA = 11,
  TENSOR_EXTERNAL_DATA = 13, TENSOR_DATA_LOCATION = 14
};

/* Where a parsed tensor's data should come from; decided before copying. */
typedef struct tensor_src {
  const uint8_t *msg;   /* start of the TensorProto message */
  const uint8_t *raw;   /* raw_data bytes, if present */
  size_t raw_len;
  bool has_typed;       /* some typed repeated field was present */
  bool external;
  const char *ext_location; /* borrowed, NUL-less: ext_location_len */
  size_t ext_location_len;
  int64_t ext_offset, ext_length;
} tensor_src;

static bool valid_dtype(uint64_t dt) { return dt >= 1 && dt <= 13; }

/* Types ONNX defines that we do not compute on: complex64/128 (14, 15),
 * bfloat16 (16) and the float8 family (17-20), int4/uint4 (21, 22). */
static lg_status check_dtype(uint64_t dt) {
  static const char *const names[] = {"complex64", "complex128", "bfloat16", "float8e4m3fn", "float8e4m3fnuz",
                                      "float8e5m2", "float8e5m2fnuz", "uint4", "int4"};
  if (valid_dtype(dt)) return LEDGE_OK;
  if (dt >= 14 && dt <= 22)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "element type %s is not supported", names[dt - 14]);
  return lg_error(LEDGE_ERR_FORMAT, "unknown element type %llu", (unsigned long long)dt);
}

/* Which typed field carries a dtype's values, and its element wire type. */
static void typed_field_for(ledge_dtype dt, uint32_t *field, int *wire) {
  switch (dt) {
    case LEDGE_FLOAT32: *field = TENSOR_FLOAT_DATA; *wire = LG_PB_FIXED32; return;
    case LEDGE_FLOAT64: *field = TENSOR_DOUBLE_DATA; *wire = LG_PB_FIXED64; return;
    case LEDGE_INT64: *field = TENSOR_INT64_DATA; *wire = LG_PB_VARINT; return;
    case LEDGE_UINT32: case LEDGE_UINT64: *field = TENSOR_UINT64_DATA; *wire = LG_PB_VARINT; return;
    case LEDGE_STRING: *field = TENSOR_STRING_DATA; *wire = LG_PB_LEN; return;
    default: *field = TENSOR_INT32_DATA; *wire = LG_PB_VARINT; return;
  }
}

static void store_elem(void *dst, int64_t i, ledge_dtype dt, uint64_t bits) {
  switch (dt) {
    case LEDGE_FLOAT32: { uint32_t u = (uint32_t)bits; memcpy((float *)dst + i, &u, 4); break; }
    case LEDGE_FLOAT64: memcpy((double *)dst + i, &bits, 8); break;
    case LEDGE_INT64: ((int64_t *)dst)[i] = (int64_t)bits; break;
    case LEDGE_UINT64: ((uint64_t *)dst)[i] = bits; break;
    case LEDGE_UINT32: ((uint32_t *)dst)[i] = (uint32_t)bits; break;
    case LEDGE_INT32: ((int32_t *)dst)[i] = (int32_t)bits; break;
    case LEDGE_INT16: ((int16_t *)dst)[i] = (int16_t)bits; break;
    case LEDGE_UINT16: case LEDGE_FLOAT16: ((uint16_t *)dst)[i] = (uint16_t)bits; break;
    case LEDGE_INT8: ((int8_t *)dst)[i] = (int8_t)bits; break;
    case LEDGE_UINT8: ((uint8_t *)dst)[i] = (uint8_t)bits; break;
    case LEDGE_BOOL: ((uint8_t *)dst)[i] = bits != 0; break;
    default: break;
  }
}

/* Reads the header fields of a TensorProto (dtype, dims, name) and where its
 * data lives, without touching the data. */
static lg_status scan_tensor(const uint8_t *data, size_t len, lg_tensor *t, tensor_src *src,
                             const uint8_t **name, size_t *name_len) {
  memset(t, 0, sizeof *t);
  memset(src, 0, sizeof *src);
  src->msg = data;
  if (name) *name = NULL, *name_len = 0;
  lg_pb_reader r = lg_pb_open(data, len);
  lg_pb_field f;
  int rank = 0;
  int64_t dims[LEDGE_MAX_RANK];
  uint64_t data_type = 0;
  bool has_location = false;
  while (lg_pb_next(&r, &f)) {
    switch (f.number) {
      case TENSOR_DIMS: {
        lg_pb_packed it;
        uint64_t v;
        if (f.wire != LG_PB_VARINT && f.wire != LG_PB_LEN) return FORMAT_ERROR("tensor dims are malformed");
        lg_pb_packed_open(&it, &f, LG_PB_VARINT);
        while (lg_pb_packed_next(&it, &v)) {
          if (rank >= LEDGE_MAX_RANK)
            return lg_error(LEDGE_ERR_UNSUPPORTED, "tensor has more than %d dimensions", LEDGE_MAX_RANK);
          if ((int64_t)v < 0) return FORMAT_ERROR("tensor has a negative dimension");
          dims[rank++] = (int64_t)v;
        }
        break;
      }
      case TENSOR_DATA_TYPE: data_type = f.value; break;
      case TENSOR_SEGMENT: return lg_error(LEDGE_ERR_UNSUPPORTED, "segmented tensors are not supported");
      case TENSOR_NAME:
        if (f.wire != LG_PB_LEN) return FORMAT_ERROR("tensor name is malformed");
        if (name) *name = f.data, *name_len = f.len;
        break;
      case TENSOR_RAW_DATA:
        if (f.wire != LG_PB_LEN) return FORMAT_ERROR("tensor raw_data is malformed");
        src->raw = f.data;
        src->raw_len = f.len;
        break;
      case TENSOR_FLOAT_DATA: case TENSOR_INT32_DATA: case TENSOR_STRING_DATA: case TENSOR_INT64_DATA:
      case TENSOR_DOUBLE_DATA: case TENSOR_UINT64_DATA:
        src->has_typed = true;
        break;
      case TENSOR_DATA_LOCATION: has_location = f.value == 1; break;
      case TENSOR_EXTERNAL_DATA: {
        if (f.wire != LG_PB_LEN) return FORMAT_ERROR("tensor external_data is malformed");
        lg_pb_reader er = lg_pb_open(f.data, f.len);
        lg_pb_field ef;
        const uint8_t *key = NULL, *val = NULL;
        size_t key_len = 0, val_len = 0;
        while (lg_pb_next(&er, &ef)) {
          if (ef.wire != LG_PB_LEN) continue;
          if (ef.number == 1) key = ef.data, key_len = ef.len;
          if (ef.number == 2) val = ef.data, val_len = ef.len;
        }
        if (er.failed || !key || !val) return FORMAT_ERROR("tensor external_data entry is malformed");
        char num[32];
        if (key_len == 8 && !memcmp(key, "location", 8)) {
          src->ext_location = (const char *)val;
          src->ext_location_len = val_len;
        } else if ((key_len == 6 && !memcmp(key, "offset", 6)) || (key_len == 6 && !memcmp(key, "length", 6))) {
          if (val_len == 0 || val_len >= sizeof num) return FORMAT_ERROR("bad external data %.*s", (int)key_len, key);
          memcpy(num, val, val_len);
          num[val_len] = 0;
          char *endp;
          errno = 0;
          long long x = strtoll(num, &endp, 10);
          if (*endp || errno || x < 0) return FORMAT_ERROR("bad external data %.*s", (int)key_len, key);
          if (key[0] == 'o') src->ext_offset = x;
          else src->ext_length = x;
        }
        break;
      }
      default: break;
    }
  }
  if (r.failed) return FORMAT_ERROR("tensor message is truncated or malformed");
  LG_TRY(check_dtype(data_type));
  t->dtype = (ledge_dtype)data_type;
  lg_tensor_set_shape(t, rank, dims);
  if (lg_tensor_count(t) < 0) return FORMAT_ERROR("tensor has too many elements");
  src->external = has_location;
  if (src->external && !src->ext_location) return FORMAT_ERROR("external tensor has no location");
  return LEDGE_OK;
}

/* Counts the values in the typed repeated field of a TensorProto, or -1. */
static int64_t count_typed(const uint8_t *msg, size_t len, ledge_dtype dt) {
  uint32_t field;
  int wire;
  typed_field_for(dt, &field, &wire);
  if (dt == LEDGE_STRING) return -1;
  lg_pb_reader r = lg_pb_open(msg, len);
  lg_pb_field f;
  int64_t n = 0;
  while (lg_pb_next(&r, &f)) {
    if (f.number != field) continue;
    int64_t c = lg_pb_packed_count(&f, wire);
    if (c < 0) return -1;
    n += c;
  }
  return r.failed ? -1 : n;
}

/* Copies the typed repeated field of a TensorProto into dst (count elements). */
static lg_status decode_typed(const uint8_t *msg, size_t len, ledge_dtype dt, void *dst, int64_t count) {
  uint32_t field;
  int wire;
  typed_field_for(dt, &field, &wire);
  if (dt == LEDGE_STRING) return lg_error(LEDGE_ERR_UNSUPPORTED, "string tensors are not supported");
  lg_pb_reader r = lg_pb_open(msg, len);
  lg_pb_field f;
  int64_t i = 0;
  while (lg_pb_next(&r, &f)) {
    if (f.number != field) continue;
    if (f.wire != LG_PB_LEN && f.wire != wire) return FORMAT_ERROR("tensor data field has the wrong wire type");
    lg_pb_packed it;
    uint64_t v;
    lg_pb_packed_open(&it, &f, wire);
    while (lg_pb_packed_next(&it, &v)) {
      if (i >= count) return FORMAT_ERROR("tensor holds more values than its shape says");
      store_elem(dst, i++, dt, v);
    }
    if (it.p && it.p != it.end) return FORMAT_ERROR("tensor data field is malformed");
  }
  if (r.failed) return FORMAT_ERROR("tensor message is malformed");
  if (i != count)
    return FORMAT_ERROR("tensor holds %lld values but its shape needs %lld", (long long)i, (long long)count);
  return LEDGE_OK;
}

/* Resolves the data of a scanned tensor: in place when possible, else into
 * a heap buffer returned in *owned. */
static lg_status load_tensor_data(lg_onnx_import *imp, const uint8_t *msg, size_t msg_len,
                                  lg_tensor *t, const tensor_src *src, void **owned) {
  *owned = NULL;
  int64_t count = lg_tensor_count(t);
  size_t esize = ledge_dtype_size(t->dtype);
  if (t->dtype == LEDGE_STRING) return lg_error(LEDGE_ERR_UNSUPPORTED, "string tensors are not supported");
  if ((uint64_t)count > SIZE_MAX / 4 / esize) return FORMAT_ERROR("tensor is too large");
  size_t bytes = (size_t)count * esize;
  t->capacity = bytes;

  if (src->external) {
    if (!imp || !imp->base_dir)
      return lg_error(LEDGE_ERR_UNSUPPORTED, "tensor data is in an external file, which a model loaded from memory cannot use");
    /* The location must stay inside the model's folder. */
    char rel[PATH_MAX], path[PATH_MAX];
    if (src->ext_location_len == 0 || src->ext_location_len >= sizeof rel) return FORMAT_ERROR("bad external data location");
    memcpy(rel, src->ext_location, src->ext_location_len);
    rel[src->ext_location_len] = 0;
    if (rel[0] == '/' || strstr(rel, "..") || strlen(rel) != src->ext_location_len)
      return FORMAT_ERROR("external data location '%s' leaves the model's folder", rel);
    snprintf(path, sizeof path, "%s/%s", imp->base_dir, rel);
    lg_mapping m;
    LG_TRY(lg_map_file(path, false, &m));
    uint64_t length = src->ext_length ? (uint64_t)src->ext_length : (m.size > (uint64_t)src->ext_offset ? m.size - (uint64_t)src->ext_offset : 0);
    if ((uint64_t)src->ext_offset > m.size || length > m.size - (uint64_t)src->ext_offset || length != bytes) {
      lg_unmap(&m);
      return FORMAT_ERROR("external data for a tensor of %zu bytes does not fit '%s'", bytes, rel);
    }
    if (imp->n_maps == imp->cap_maps) {
      int ncap = imp->cap_maps ? imp->cap_maps * 2 : 4;
      lg_mapping *nm = realloc(imp->maps, sizeof *nm * (size_t)ncap);
      if (!nm) {
        lg_unmap(&m);
        return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
      }
      imp->maps = nm;
      imp->cap_maps = ncap;
    }
    imp->maps[imp->n_maps++] = m;
    const uint8_t *p = (const uint8_t *)m.addr + src->ext_offset;
    if ((uintptr_t)p % esize == 0) {
      t->data = (void *)p;
      return LEDGE_OK;
    }
    *owned = lg_aligned_alloc(bytes);
    if (!*owned) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
    memcpy(*owned, p, bytes);
    t->data = *owned;
    return LEDGE_OK;
  }

  if (src->raw) {
    if (src->raw_len != bytes)
      return FORMAT_ERROR("tensor raw_data has %zu bytes but its shape needs %zu", src->raw_len, bytes);
    size_t misalign = (uintptr_t)src->raw % esize;
    if (misalign == 0) {
      t->data = (void *)src->raw;
      return LEDGE_OK;
    }
    /* Slide the bytes back over the tag and length in front of them. */
    if (imp && imp->writable && (size_t)(src->raw - src->msg) >= misalign) {
      uint8_t *dst = (uint8_t *)src->raw - misalign;
      memmove(dst, src->raw, bytes);
      t->data = dst;
      return LEDGE_OK;
    }
    *owned = lg_aligned_alloc(bytes);
    if (!*owned) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
    memcpy(*owned, src->raw, bytes);
    t->data = *owned;
    return LEDGE_OK;
  }

  /* Count what the file really holds before allocating what its dims claim,
   * so a lying shape cannot make us allocate (and zero) gigabytes. */
  int64_t held = count_typed(msg, msg_len, t->dtype);
  if (held < 0) return FORMAT_ERROR("tensor data field is malformed");
  if (held != count)
    return FORMAT_ERROR("tensor holds %lld values but its shape needs %lld", (long long)held, (long long)count);
  *owned = lg_aligned_alloc(bytes);
  if (!*owned) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  t->data = *owned;
  if (count == 0) return LEDGE_OK;
  lg_status st = decode_typed(msg, msg_len, t->dtype, *owned, count);
  if (st != LEDGE_OK) {
    lg_aligned_free(*owned);
    *owned = NULL;
    t->data = NULL;
  }
  return st;
}

lg_status lg_onnx_parse_tensor_copy(const void *data, size_t size, lg_tensor *t, void **owned,
                                    char **name) {
  tensor_src src;
  const uint8_t *nm;
  size_t nm_len;
  *owned = NULL;
  if (name) *name = NULL;
  LG_TRY(scan_tensor(data, size, t, &src, &nm, &nm_len));
  if (src.external) return lg_error(LEDGE_ERR_UNSUPPORTED, "external tensor data is not supported here");
  LG_TRY(load_tensor_data(NULL, data, size, t, &src, owned));
  if (!*owned) { /* in place: copy so the caller owns it */
    size_t bytes = lg_tensor_bytes(t);
    *owned = lg_aligned_alloc(bytes);
    if (!*owned) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
    memcpy(*owned, t->data, bytes);
    t->data = *owned;
  }
  if (name && nm) {
    *name = malloc(nm_len + 1);
    if (*name) {
      memcpy(*name, nm, nm_len);
      (*name)[nm_len] = 0;
    }
  }
  return LEDGE_OK;
}

/* ---- ValueInfoProto ---- */

/* Reads a ValueInfoProto's name and tensor type. Types other than tensors
 * (sequences, maps, optionals) are unsupported. */
static lg_status parse_value_info(importer *im, const lg_pb_field *vi, char **name, lg_tensor *t,
                                  bool *has_shape, const char ***dim_params) {
  lg_pb_reader r = lg_pb_open(vi->data, vi->len);
  lg_pb_field f;
  *name = NULL;
  *has_shape = false;
  if (dim_params) *dim_params = NULL;
  memset(t, 0, sizeof *t);
  bool has_type = false;
  while (lg_pb_next(&r, &f)) {
    if (f.wire != LG_PB_LEN) continue;
    if (f.number == 1) {
      *name = pool_str(im->g, &f);
    } else if (f.number == 2) { /* TypeProto */
      lg_pb_reader tr = lg_pb_open(f.data, f.len);
      lg_pb_field tf;
      while (lg_pb_next(&tr, &tf)) {
        if (tf.wire != LG_PB_LEN) continue;
        if (tf.number != 1) {
          /* sequence_type (4), map_type (5), optional_type (9), sparse (8) */
          return lg_error(LEDGE_ERR_UNSUPPORTED, "value '%s' is not a tensor (type field %u); only tensors are supported",
                          *name ? *name : "?", tf.number);
        }
        has_type = true;
        lg_pb_reader ttr = lg_pb_open(tf.data, tf.len);
        lg_pb_field ttf;
        while (lg_pb_next(&ttr, &ttf)) {
          if (ttf.number == 1 && ttf.wire == LG_PB_VARINT) {
            LG_TRY(check_dtype(ttf.value));
            t->dtype = (ledge_dtype)ttf.value;
          } else if (ttf.number == 2 && ttf.wire == LG_PB_LEN) {
            *has_shape = true;
            lg_pb_reader sr = lg_pb_open(ttf.data, ttf.len);
            lg_pb_field sf;
            while (lg_pb_next(&sr, &sf)) {
              if (sf.number != 1 || sf.wire != LG_PB_LEN) continue;
              if (t->rank >= LEDGE_MAX_RANK)
                return lg_error(LEDGE_ERR_UNSUPPORTED, "value has more than %d dimensions", LEDGE_MAX_RANK);
              int64_t d = -1;
              lg_pb_reader dr = lg_pb_open(sf.data, sf.len);
              lg_pb_field df;
              while (lg_pb_next(&dr, &df)) {
                if (df.number == 1 && df.wire == LG_PB_VARINT) d = (int64_t)df.value;
                if (df.number == 2 && df.wire == LG_PB_LEN && df.len && dim_params) {
                  if (!*dim_params) *dim_params = lg_pool_alloc(im->g->pool, sizeof(char *) * LEDGE_MAX_RANK);
                  if (!*dim_params) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
                  (*dim_params)[t->rank] = pool_str(im->g, &df);
                }
              }
              if (dr.failed) return FORMAT_ERROR("dimension is malformed");
              t->dims[t->rank++] = d < 0 ? -1 : d;
            }
            if (sr.failed) return FORMAT_ERROR("shape is malformed");
          }
        }
        if (ttr.failed) return FORMAT_ERROR("tensor type is malformed");
      }
      if (tr.failed) return FORMAT_ERROR("type is malformed");
    }
  }
  if (r.failed) return FORMAT_ERROR("value info is malformed");
  if (!*name) return FORMAT_ERROR("value info has no name");
  (void)has_type;
  return LEDGE_OK;
}

/* ---- AttributeProto ---- */

static lg_status parse_attr_tensor(importer *im, const lg_pb_field *f, lg_tensor **out) {
  lg_tensor *t = lg_pool_alloc(im->g->pool, sizeof *t);
  if (!t) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  tensor_src src;
  LG_TRY(scan_tensor(f->data, f->len, t, &src, NULL, NULL));
  void *owned = NULL;
  LG_TRY(load_tensor_data(im->imp, f->data, f->len, t, &src, &owned));
  if (owned) { /* move heap copies into the pool so the graph frees them */
    size_t bytes = lg_tensor_bytes(t);
    void *p = lg_pool_alloc(im->g->pool, bytes);
    if (!p) {
      lg_aligned_free(owned);
      return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
    }
    memcpy(p, owned, bytes);
    lg_aligned_free(owned);
    t->data = p;
  }
  *out = t;
  return LEDGE_OK;
}

static lg_status parse_attribute(importer *im, const lg_pb_field *af, lg_attr *a) {
  lg_graph *g = im->g;
  memset(a, 0, sizeof *a);
  lg_pb_reader r = lg_pb_open(af->data, af->len);
  lg_pb_field f;
  int64_t n_floats = 0, n_ints = 0, n_strings = 0;
  bool seen_f = false, seen_i = false, seen_s = false, seen_t = false, seen_g = false;
  /* first pass: scalars, name, type and counts */
  while (lg_pb_next(&r, &f)) {
    switch (f.number) {
      case 1: if (f.wire == LG_PB_LEN) a->name = pool_str(g, &f); break;
      case 20: a->type = (lg_attr_type)f.value; break;
      case 2: { uint32_t u = (uint32_t)f.value; memcpy(&a->f, &u, 4); seen_f = true; break; }
      case 3: a->i = (int64_t)f.value; seen_i = true; break;
      case 4: if (f.wire == LG_PB_LEN) { a->s = pool_str(g, &f); seen_s = true; } break;
      case 5: if (f.wire == LG_PB_LEN) { LG_TRY(parse_attr_tensor(im, &f, &a->t)); seen_t = true; } break;
      case 6: seen_g = true; break;
      case 7: { int64_t c = lg_pb_packed_count(&f, LG_PB_FIXED32); if (c < 0) return FORMAT_ERROR("attribute floats are malformed"); n_floats += c; break; }
      case 8: { int64_t c = lg_pb_packed_count(&f, LG_PB_VARINT); if (c < 0) return FORMAT_ERROR("attribute ints are malformed"); n_ints += c; break; }
      case 9: if (f.wire == LG_PB_LEN) n_strings++; break;
      default: break;
    }
  }
  if (r.failed) return FORMAT_ERROR("attribute is malformed");
  if (!a->name) return FORMAT_ERROR("attribute has no name");
  if (n_floats > INT_MAX || n_ints > INT_MAX || n_strings > INT_MAX) return FORMAT_ERROR("attribute is too large");
  if (a->type == LG_ATTR_UNDEFINED) { /* IR version 1 models omit the type */
    if (seen_f) a->type = LG_ATTR_FLOAT;
    else if (seen_i) a->type = LG_ATTR_INT;
    else if (seen_s) a->type = LG_ATTR_STRING;
    else if (seen_t) a->type = LG_ATTR_TENSOR;
    else if (seen_g) a->type = LG_ATTR_GRAPH;
    else if (n_floats) a->type = LG_ATTR_FLOATS;
    else if (n_ints) a->type = LG_ATTR_INTS;
    else if (n_strings) a->type = LG_ATTR_STRINGS;
  }
  if (a->type == LG_ATTR_STRING && !a->s) a->s = "";
  if (a->type == LG_ATTR_FLOATS || a->type == LG_ATTR_INTS || a->type == LG_ATTR_STRINGS) {
    a->n = (int)(a->type == LG_ATTR_FLOATS ? n_floats : a->type == LG_ATTR_INTS ? n_ints : n_strings);
    a->floats = lg_pool_alloc(g->pool, sizeof(float) * (size_t)(n_floats + 1));
    a->ints = lg_pool_alloc(g->pool, sizeof(int64_t) * (size_t)(n_ints + 1));
    a->strings = lg_pool_alloc(g->pool, sizeof(char *) * (size_t)(n_strings + 1));
    if (!a->floats || !a->ints || !a->strings) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
    int nf = 0, ni = 0, ns = 0;
    r = lg_pb_open(af->data, af->len);
    while (lg_pb_next(&r, &f)) {
      lg_pb_packed it;
      uint64_t v;
      if (f.number == 7) {
        lg_pb_packed_open(&it, &f, LG_PB_FIXED32);
        while (nf < n_floats && lg_pb_packed_next(&it, &v)) {
          uint32_t u = (uint32_t)v;
          memcpy(&a->floats[nf++], &u, 4);
        }
      } else if (f.number == 8) {
        lg_pb_packed_open(&it, &f, LG_PB_VARINT);
        while (ni < n_ints && lg_pb_packed_next(&it, &v)) a->ints[ni++] = (int64_t)v;
      } else if (f.number == 9 && f.wire == LG_PB_LEN && ns < n_strings) {
        a->strings[ns++] = pool_str(g, &f);
      }
    }
  }
  return LEDGE_OK;
}

/* ---- Graph ---- */

enum { GRAPH_NODE = 1, GRAPH_INITIALIZER = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12, GRAPH_SPARSE_INITIALIZER = 15 };

static lg_status add_named_value(importer *im, const char *name, int *out) {
  int v = lg_graph_add_value(im->g, name);
  if (v < 0) return LEDGE_ERR_NO_MEMORY;
  if (!lg_name_map_put(&im->names, im->g->values[v].name, v)) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  *out = v;
  return LEDGE_OK;
}

static lg_status import_initializer(importer *im, const lg_pb_field *f) {
  lg_tensor t;
  tensor_src src;
  const uint8_t *nm;
  size_t nm_len;
  LG_TRY(scan_tensor(f->data, f->len, &t, &src, &nm, &nm_len));
  if (!nm || nm_len == 0) return FORMAT_ERROR("an initializer has no name");
  char *name = lg_pool_strndup(im->g->pool, (const char *)nm, nm_len);
  if (!name) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  void *owned = NULL;
  lg_status st = load_tensor_data(im->imp, f->data, f->len, &t, &src, &owned);
  if (st != LEDGE_OK) return lg_error_context(st, "initializer '%s': ", name);
  int v = -1;
  st = add_named_value(im, name, &v);
  if (st != LEDGE_OK) {
    lg_aligned_free(owned);
    return st;
  }
  lg_value *val = &im->g->values[v];
  val->kind = LG_VALUE_CONSTANT;
  val->t = t;
  val->owned = owned;
  val->shape_known = true;
  return LEDGE_OK;
}

static lg_status import_node(importer *im, const lg_pb_field *nf, int opset) {
  lg_graph *g = im->g;
  lg_pb_reader r = lg_pb_open(nf->data, nf->len);
  lg_pb_field f;
  int n_in = 0, n_out = 0, n_attrs = 0;
  const char *op_type = NULL, *name = "", *domain = "";
  while (lg_pb_next(&r, &f)) {
    if (f.wire != LG_PB_LEN) continue;
    if (f.number == 1) n_in++;
    else if (f.number == 2) n_out++;
    else if (f.number == 3) name = pool_str(g, &f);
    else if (f.number == 4) op_type = pool_str(g, &f);
    else if (f.number == 7) domain = pool_str(g, &f);
    else if (f.number == 5) n_attrs++;
  }
  if (r.failed) return FORMAT_ERROR("node '%s' is malformed", name ? name : "");
  if (!op_type || !name || !domain) return op_type ? lg_error(LEDGE_ERR_NO_MEMORY, "out of memory") : FORMAT_ERROR("a node has no op_type");
  int ni = lg_graph_add_node(g, op_type, n_in, n_out);
  if (ni < 0) return LEDGE_ERR_NO_MEMORY;
  lg_node *node = &g->nodes[ni];
  node->name = name;
  node->domain = domain;
  node->opset = opset;
  node->n_attrs = n_attrs;
  node->attrs = lg_pool_alloc(g->pool, sizeof(lg_attr) * (size_t)(n_attrs + 1));
  if (!node->attrs) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  node->op = lg_op_find(domain, op_type);
  if (!node->op)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "unsupported operator '%s%s%s' (node '%s')", *domain ? domain : "",
                    *domain ? "." : "", op_type, name);
  int ii = 0, oi = 0, ai = 0;
  r = lg_pb_open(nf->data, nf->len);
  while (lg_pb_next(&r, &f)) {
    if (f.wire != LG_PB_LEN) continue;
    if (f.number == 1) {
      char *in_name = pool_str(g, &f);
      if (!in_name) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
      if (!*in_name) {
        node->in[ii++] = -1; /* omitted optional input */
        continue;
      }
      int v = lg_name_map_get(&im->names, in_name);
      if (v < 0)
        return FORMAT_ERROR("node '%s' (%s) reads '%s', which no earlier node, input or initializer defines", name,
                            op_type, in_name);
      node->in[ii++] = v;
    } else if (f.number == 2) {
      char *out_name = pool_str(g, &f);
      if (!out_name) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
      if (!*out_name) {
        node->out[oi++] = -1;
        continue;
      }
      int v = -1;
      LG_TRY(add_named_value(im, out_name, &v));
      node = &g->nodes[ni]; /* values may have moved; nodes did not, but stay safe */
      g->values[v].producer = ni;
      node->out[oi++] = v;
    } else if (f.number == 5) {
      lg_status st = parse_attribute(im, &f, &node->attrs[ai]);
      if (st != LEDGE_OK) return lg_error_context(st, "node '%s' (%s): ", name, op_type);
      ai++;
    }
  }
  return LEDGE_OK;
}

static lg_status import_graph(importer *im, const uint8_t *data, size_t len, int opset) {
  lg_graph *g = im->g;
  lg_pb_reader r;
  lg_pb_field f;
  /* 1. initializers */
  r = lg_pb_open(data, len);
  while (lg_pb_next(&r, &f)) {
    if (f.number == GRAPH_SPARSE_INITIALIZER) return lg_error(LEDGE_ERR_UNSUPPORTED, "sparse initializers are not supported");
    if (f.number == GRAPH_INITIALIZER && f.wire == LG_PB_LEN) LG_TRY(import_initializer(im, &f));
  }
  if (r.failed) return FORMAT_ERROR("graph is truncated or malformed");
  /* 2. inputs (an input that is also an initializer keeps the initializer's value) */
  int n_inputs = 0, n_outputs = 0;
  r = lg_pb_open(data, len);
  while (lg_pb_next(&r, &f)) {
    if (f.number == GRAPH_INPUT) n_inputs++;
    if (f.number == GRAPH_OUTPUT) n_outputs++;
  }
  g->inputs = lg_pool_alloc(g->pool, sizeof(int) * (size_t)(n_inputs + 1));
  g->outputs = lg_pool_alloc(g->pool, sizeof(int) * (size_t)(n_outputs + 1));
  if (!g->inputs || !g->outputs) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  r = lg_pb_open(data, len);
  while (lg_pb_next(&r, &f)) {
    if (f.number != GRAPH_INPUT || f.wire != LG_PB_LEN) continue;
    char *name;
    lg_tensor t;
    bool has_shape;
    int existing = -1;
    const char **dim_params = NULL;
    lg_status st = parse_value_info(im, &f, &name, &t, &has_shape, &dim_params);
    if (st == LEDGE_ERR_UNSUPPORTED && name && (existing = lg_name_map_get(&im->names, name)) >= 0) continue;
    LG_TRY(st);
    existing = lg_name_map_get(&im->names, name);
    if (existing >= 0) {
      if (g->values[existing].kind != LG_VALUE_CONSTANT) return FORMAT_ERROR("graph input '%s' is declared twice", name);
      continue;
    }
    if (t.dtype == LEDGE_DTYPE_UNDEFINED) return FORMAT_ERROR("graph input '%s' has no element type", name);
    if (t.dtype == LEDGE_STRING) return lg_error(LEDGE_ERR_UNSUPPORTED, "graph input '%s' is a string tensor", name);
    int v = -1;
    LG_TRY(add_named_value(im, name, &v));
    lg_value *val = &g->values[v];
    val->kind = LG_VALUE_INPUT;
    val->t = t;
    val->shape_known = has_shape && lg_tensor_count(&t) >= 0;
    val->dim_params = dim_params;
    if (!has_shape) val->t.rank = -1; /* unknown rank */
    g->inputs[g->n_inputs++] = v;
  }
  /* 3. nodes */
  r = lg_pb_open(data, len);
  while (lg_pb_next(&r, &f))
    if (f.number == GRAPH_NODE && f.wire == LG_PB_LEN) LG_TRY(import_node(im, &f, opset));
  /* 4. outputs */
  r = lg_pb_open(data, len);
  while (lg_pb_next(&r, &f)) {
    if (f.number != GRAPH_OUTPUT || f.wire != LG_PB_LEN) continue;
    char *name;
    lg_tensor t;
    bool has_shape;
    const char **dim_params = NULL;
    LG_TRY(parse_value_info(im, &f, &name, &t, &has_shape, &dim_params));
    int v = lg_name_map_get(&im->names, name);
    if (v < 0) return FORMAT_ERROR("graph output '%s' is not produced by any node", name);
    if (t.dtype != LEDGE_DTYPE_UNDEFINED && g->values[v].kind == LG_VALUE_ACTIVATION) {
      lg_tensor *declared = lg_pool_alloc(g->pool, sizeof *declared);
      if (!declared) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
      *declared = t;
      if (!has_shape) declared->rank = -1;
      g->values[v].declared = declared;
      g->values[v].dim_params = dim_params;
    }
    g->values[v].is_output = true;
    g->outputs[g->n_outputs++] = v;
  }
  if (g->n_outputs == 0) return FORMAT_ERROR("graph has no outputs");
  return LEDGE_OK;
}

lg_status lg_onnx_import_model(lg_onnx_import *imp, lg_graph *g) {
  LG_TRY(lg_graph_init(g));
  importer im = {imp, g, {0}};
  lg_pb_reader r = lg_pb_open(imp->data, imp->size);
  lg_pb_field f;
  const uint8_t *graph_data = NULL;
  size_t graph_len = 0;
  int opset = -1;
  imp->opset = 0;
  imp->ir_version = 0;
  imp->producer[0] = 0;
  imp->graph_name[0] = 0;
  while (lg_pb_next(&r, &f)) {
    if (f.number == 1 && f.wire == LG_PB_VARINT) imp->ir_version = (int64_t)f.value;
    else if (f.number == 2 && f.wire == LG_PB_LEN)
      snprintf(imp->producer, sizeof imp->producer, "%.*s", (int)(f.len < 63 ? f.len : 63), (const char *)f.data);
    else if (f.number == 7 && f.wire == LG_PB_LEN) graph_data = f.data, graph_len = f.len;
    else if (f.number == 8 && f.wire == LG_PB_LEN) {
      lg_pb_reader or = lg_pb_open(f.data, f.len);
      lg_pb_field of;
      bool default_domain = true;
      int64_t version = 0;
      while (lg_pb_next(&or, &of)) {
        if (of.number == 1 && of.wire == LG_PB_LEN)
          default_domain = of.len == 0 || (of.len == 7 && !memcmp(of.data, "ai.onnx", 7));
        if (of.number == 2 && of.wire == LG_PB_VARINT) version = (int64_t)of.value;
      }
      if (default_domain && version > 0 && version < 1000) opset = (int)version;
    }
  }
  lg_status st = LEDGE_OK;
  if (r.failed) st = FORMAT_ERROR("not an ONNX model: the protobuf is truncated or malformed");
  else if (!graph_data) st = FORMAT_ERROR("not an ONNX model: it has no graph");
  if (st == LEDGE_OK && opset < 0) opset = 1; /* no opset_import: the oldest rules */
  if (st == LEDGE_OK) {
    imp->opset = opset;
    lg_pb_reader gr = lg_pb_open(graph_data, graph_len);
    while (lg_pb_next(&gr, &f))
      if (f.number == 2 && f.wire == LG_PB_LEN)
        snprintf(imp->graph_name, sizeof imp->graph_name, "%.*s", (int)(f.len < 63 ? f.len : 63), (const char *)f.data);
    st = import_graph(&im, graph_data, graph_len, opset);
  }
  lg_name_map_free(&im.names);
  if (st != LEDGE_OK) lg_graph_free(g);
  return st;
}
