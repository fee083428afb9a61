/*
 * ledge_format.c: reading and writing .ledge files (layout in
 * docs/format.md). All integers are little endian; every structure is read
 * through a bounds-checked cursor, every count is checked against the bytes
 * that could hold it before anything is allocated for it.
 */
#include "formats/ledge_format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/name_map.h"
#include "formats/onnx_write.h"
#include "formats/protobuf_write.h"
#include "ops/op.h"

#define FORMAT_ERROR(...) lg_error(LEDGE_ERR_FORMAT, __VA_ARGS__)

enum { HEADER_SIZE = 64, SECTION_ENTRY_SIZE = 32, DATA_ALIGN = 64 };
enum { NO_STRING = 0xFFFFFFFFu };

/* Section types: four ASCII characters read as a little-endian u32. */
#define FOURCC(a, b, c, d) \
  ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define SECTION_STRINGS FOURCC('S', 'T', 'R', 'S')
#define SECTION_GRAPH FOURCC('G', 'R', 'P', 'H')
#define SECTION_TENSORS FOURCC('T', 'E', 'N', 'S')
#define SECTION_DATA FOURCC('D', 'A', 'T', 'A')
#define SECTION_META FOURCC('M', 'E', 'T', 'A')
#define SECTION_SELFTEST FOURCC('S', 'E', 'L', 'F')

/* Section flags. */
enum { SECTION_REQUIRED = 1u << 0, SECTION_LAZY_CHECKSUM = 1u << 1 };

/* Value flags in the graph section. */
enum { VALUE_OUTPUT = 1, VALUE_SHAPE_KNOWN = 2, VALUE_DIM_PARAMS = 4, VALUE_DECLARED = 8 };

static bool little_endian(void) {
  const uint16_t one = 1;
  return *(const uint8_t *)&one == 1;
}

bool lg_ledge_detect(const void *data, size_t size) {
  return data && size >= 8 && !memcmp(data, LG_LEDGE_MAGIC, 8);
}

/* ======================================================================
 * Writing
 * ====================================================================== */

static void put(lg_pb_writer *w, const void *p, size_t n) { lg_pbw_raw(w, p, n); }
static void put_u8(lg_pb_writer *w, uint8_t v) { put(w, &v, 1); }
static void put_u16(lg_pb_writer *w, uint16_t v) { put(w, &v, 2); }
static void put_u32(lg_pb_writer *w, uint32_t v) { put(w, &v, 4); }
static void put_i32(lg_pb_writer *w, int32_t v) { put(w, &v, 4); }
static void put_u64(lg_pb_writer *w, uint64_t v) { put(w, &v, 8); }
static void put_i64(lg_pb_writer *w, int64_t v) { put(w, &v, 8); }
static void put_f32(lg_pb_writer *w, float v) { put(w, &v, 4); }
static void put_f64(lg_pb_writer *w, double v) { put(w, &v, 8); }

static void pad_to(lg_pb_writer *w, size_t align) {
  static const uint8_t zeros[DATA_ALIGN];
  size_t rem = w->len % align;
  if (rem) put(w, zeros, align - rem);
}

typedef struct writer {
  lg_pb_writer strs, graph, tens, data, meta, self;
  lg_name_map str_index;
  uint32_t n_tensors;
  int *tensor_of_value;
  const lg_ledge_write_options *o;
  int compressed;
} writer;

static uint32_t str_ref(writer *wr, const char *s) {
  if (!s) return NO_STRING;
  int at = lg_name_map_get(&wr->str_index, s);
  if (at >= 0) return (uint32_t)at;
  uint32_t off = (uint32_t)wr->strs.len;
  put(&wr->strs, s, strlen(s) + 1);
  if (!lg_name_map_put(&wr->str_index, s, (int)off)) wr->strs.failed = true;
  return off;
}

/* Appends a tensor (its data to DATA, its entry to TENS); returns its index. */
static lg_status add_tensor(writer *wr, const char *name, const lg_tensor *t, const lg_value *v,
                            uint32_t *index) {
  if (t->dtype == LEDGE_STRING || ledge_dtype_size(t->dtype) == 0)
    return lg_error(LEDGE_ERR_UNSUPPORTED,
                    "tensor '%s' has element type %s, which cannot be written", name ? name : "",
                    ledge_dtype_name(t->dtype));
  int64_t count = lg_tensor_count(t);
  if (count < 0 || t->rank < 0 || t->rank > LEDGE_MAX_RANK)
    return FORMAT_ERROR("tensor '%s' has no known shape", name ? name : "");
  size_t bytes = (size_t)count * ledge_dtype_size(t->dtype);
  if (bytes && !t->data) return FORMAT_ERROR("tensor '%s' has no data", name ? name : "");
  uint8_t *blob = NULL;
  size_t blob_size = 0;
  uint8_t encoding = LG_LEDGE_RAW;
  if (v && wr->o->encode && wr->o->encode(wr->o->encode_ctx, v, &blob, &blob_size))
    encoding = LG_LEDGE_CLUSTERED;
  pad_to(&wr->data, DATA_ALIGN);
  uint64_t offset = wr->data.len;
  if (encoding == LG_LEDGE_CLUSTERED) {
    put(&wr->data, blob, blob_size);
    free(blob);
    wr->compressed++;
  } else {
    put(&wr->data, t->data, bytes);
  }
  put_u32(&wr->tens, str_ref(wr, name));
  put_u8(&wr->tens, (uint8_t)t->dtype);
  put_u8(&wr->tens, (uint8_t)t->rank);
  put_u8(&wr->tens, encoding);
  put_u8(&wr->tens, 0); /* quantization: none (reserved for per-tensor/per-axis params) */
  for (int d = 0; d < t->rank; d++) put_i64(&wr->tens, t->dims[d]);
  put_u64(&wr->tens, offset);
  put_u64(&wr->tens, encoding == LG_LEDGE_CLUSTERED ? blob_size : bytes);
  *index = wr->n_tensors++;
  return LEDGE_OK;
}

static lg_status write_graph(writer *wr, const lg_graph *g) {
  lg_pb_writer *w = &wr->graph;
  /* Only what live nodes and outputs use; indices are renumbered densely. */
  int *new_index = malloc(sizeof(int) * (size_t)(g->n_values + 1));
  uint8_t *used = calloc((size_t)g->n_values + 1, 1);
  if (!new_index || !used) {
    free(new_index);
    free(used);
    return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  }
  int n_nodes = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const lg_node *n = &g->nodes[i];
    if (n->dead) continue;
    n_nodes++;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0) used[n->in[k]] = 1;
    for (int k = 0; k < n->n_out; k++)
      if (n->out[k] >= 0) used[n->out[k]] = 1;
  }
  for (int i = 0; i < g->n_inputs; i++) used[g->inputs[i]] = 1;
  for (int i = 0; i < g->n_outputs; i++) used[g->outputs[i]] = 1;
  int n_values = 0;
  for (int v = 0; v < g->n_values; v++) new_index[v] = used[v] ? n_values++ : -1;

  put_u32(w, (uint32_t)n_values);
  put_u32(w, (uint32_t)n_nodes);
  put_u32(w, (uint32_t)g->n_inputs);
  put_u32(w, (uint32_t)g->n_outputs);
  put_u32(w, (uint32_t)wr->o->opset);
  put_u32(w, 0);
  put_i64(w, wr->o->ir_version);
  lg_status st = LEDGE_OK;
  for (int v = 0; v < g->n_values && st == LEDGE_OK; v++) {
    if (!used[v]) continue;
    const lg_value *val = &g->values[v];
    bool constant = val->kind == LG_VALUE_CONSTANT;
    int rank = constant || val->kind == LG_VALUE_INPUT ? val->t.rank : -1;
    /* An output's declared type: the graph's, else the one the caller found. */
    lg_tensor found = {0};
    const lg_tensor *declared = val->declared;
    for (int i = 0;
         !declared && wr->o->output_types && val->kind == LG_VALUE_ACTIVATION && i < g->n_outputs;
         i++) {
      const ledge_tensor_info *ti = &wr->o->output_types[i];
      if (g->outputs[i] != v || ti->dtype == LEDGE_DTYPE_UNDEFINED) continue;
      found.dtype = ti->dtype;
      found.rank = ti->rank;
      for (int d = 0; d < ti->rank && d < LEDGE_MAX_RANK; d++) found.dims[d] = ti->dims[d];
      declared = &found;
    }
    uint8_t flags = (val->is_output ? VALUE_OUTPUT : 0) |
                    (val->shape_known && rank >= 0 ? VALUE_SHAPE_KNOWN : 0) |
                    (val->dim_params && rank > 0 ? VALUE_DIM_PARAMS : 0) |
                    (declared ? VALUE_DECLARED : 0);
    put_u32(w, str_ref(wr, val->name));
    put_u8(w, (uint8_t)val->kind);
    put_u8(w, (uint8_t)(constant || val->kind == LG_VALUE_INPUT ? val->t.dtype : 0));
    put_u8(w, (uint8_t)(int8_t)rank);
    put_u8(w, flags);
    for (int d = 0; d < rank; d++) put_i64(w, val->t.dims[d]);
    if (constant) {
      uint32_t ti = 0;
      st = add_tensor(wr, val->name, &val->t, val, &ti);
      put_u32(w, ti);
    }
    if (flags & VALUE_DIM_PARAMS)
      for (int d = 0; d < rank; d++) put_u32(w, str_ref(wr, val->dim_params[d]));
    if (flags & VALUE_DECLARED) {
      put_u8(w, (uint8_t)declared->dtype);
      put_u8(w, (uint8_t)(int8_t)declared->rank);
      for (int d = 0; d < declared->rank; d++) put_i64(w, declared->dims[d]);
    }
  }
  for (int i = 0; i < g->n_nodes && st == LEDGE_OK; i++) {
    const lg_node *n = &g->nodes[i];
    if (n->dead) continue;
    put_u32(w, str_ref(wr, n->op_type));
    put_u32(w, str_ref(wr, n->domain ? n->domain : ""));
    put_u32(w, str_ref(wr, n->name ? n->name : ""));
    put_u32(w, (uint32_t)n->opset);
    int n_attrs = 0;
    for (int a = 0; a < n->n_attrs; a++) n_attrs += n->attrs[a].type != LG_ATTR_UNDEFINED;
    put_u16(w, (uint16_t)n->n_in);
    put_u16(w, (uint16_t)n->n_out);
    put_u16(w, (uint16_t)n_attrs);
    put_u16(w, 0);
    for (int k = 0; k < n->n_in; k++) put_i32(w, n->in[k] >= 0 ? new_index[n->in[k]] : -1);
    for (int k = 0; k < n->n_out; k++) put_i32(w, n->out[k] >= 0 ? new_index[n->out[k]] : -1);
    for (int ai = 0; ai < n->n_attrs && st == LEDGE_OK; ai++) {
      const lg_attr *a = &n->attrs[ai];
      if (a->type == LG_ATTR_UNDEFINED) continue;
      put_u32(w, str_ref(wr, a->name));
      put_u8(w, (uint8_t)a->type);
      switch (a->type) {
        case LG_ATTR_FLOAT: put_f32(w, a->f); break;
        case LG_ATTR_INT: put_i64(w, a->i); break;
        case LG_ATTR_STRING: put_u32(w, str_ref(wr, a->s ? a->s : "")); break;
        case LG_ATTR_TENSOR: {
          uint32_t ti = 0;
          if (!a->t) {
            st = FORMAT_ERROR("node '%s': tensor attribute '%s' has no tensor", n->name, a->name);
            break;
          }
          st = add_tensor(wr, NULL, a->t, NULL, &ti);
          put_u32(w, ti);
          break;
        }
        case LG_ATTR_FLOATS:
          put_u32(w, (uint32_t)a->n);
          for (int k = 0; k < a->n; k++) put_f32(w, a->floats[k]);
          break;
        case LG_ATTR_INTS:
          put_u32(w, (uint32_t)a->n);
          for (int k = 0; k < a->n; k++) put_i64(w, a->ints[k]);
          break;
        case LG_ATTR_STRINGS:
          put_u32(w, (uint32_t)a->n);
          for (int k = 0; k < a->n; k++)
            put_u32(w, str_ref(wr, a->strings[k] ? a->strings[k] : ""));
          break;
        default:
          st = lg_error(LEDGE_ERR_UNSUPPORTED,
                        "node '%s' (%s): attribute '%s' of type %d cannot be written", n->name,
                        n->op_type, a->name, (int)a->type);
      }
    }
  }
  for (int i = 0; i < g->n_inputs; i++) put_i32(w, new_index[g->inputs[i]]);
  for (int i = 0; i < g->n_outputs; i++) put_i32(w, new_index[g->outputs[i]]);
  free(new_index);
  free(used);
  return st;
}

static lg_status write_selftest(writer *wr, const lg_ledge_selftest *st) {
  lg_pb_writer *w = &wr->self;
  put_f32(w, st->tolerance);
  put_u32(w, (uint32_t)st->n_inputs);
  put_u32(w, (uint32_t)st->n_outputs);
  put_u32(w, (uint32_t)st->n_layers);
  for (int i = 0; i < st->n_inputs + st->n_outputs; i++) {
    bool in = i < st->n_inputs;
    const char *name = in ? st->input_names[i] : st->output_names[i - st->n_inputs];
    const lg_tensor *t = in ? &st->inputs[i] : &st->outputs[i - st->n_inputs];
    uint32_t ti = 0;
    LG_TRY(add_tensor(wr, name, t, NULL, &ti));
    put_u32(w, str_ref(wr, name));
    put_u32(w, ti);
  }
  for (int i = 0; i < st->n_layers; i++) {
    const lg_ledge_layer *l = &st->layers[i];
    put_u32(w, str_ref(wr, l->value));
    put_u32(w, str_ref(wr, l->node));
    put_u32(w, str_ref(wr, l->op_type));
    put_i64(w, l->count);
    put_f64(w, l->sum);
    put_f64(w, l->sum_squares);
    put_f32(w, l->max_abs);
    put_u32(w, (uint32_t)l->n_samples);
    for (int k = 0; k < l->n_samples; k++) put_f32(w, l->samples[k]);
  }
  return LEDGE_OK;
}

lg_status lg_ledge_serialize(const lg_graph *g, const lg_ledge_write_options *options,
                             uint8_t **out, size_t *size) {
  *out = NULL;
  *size = 0;
  if (!little_endian())
    return lg_error(LEDGE_ERR_UNSUPPORTED,
                    ".ledge files are written on little-endian machines only");
  lg_ledge_write_options defaults = {0};
  writer wr = {0};
  wr.o = options ? options : &defaults;
  put_u8(&wr.strs, 0); /* offset 0 is the empty string */
  lg_name_map_put(&wr.str_index, "", 0);
  lg_status st = write_graph(&wr, g);
  if (st == LEDGE_OK && wr.o->selftest) st = write_selftest(&wr, wr.o->selftest);
  if (st == LEDGE_OK) {
    put_u32(&wr.meta, (uint32_t)wr.o->n_meta);
    for (int i = 0; i < wr.o->n_meta; i++) {
      put_u32(&wr.meta, str_ref(&wr, wr.o->meta_keys[i]));
      put_u32(&wr.meta, str_ref(&wr, wr.o->meta_values[i] ? wr.o->meta_values[i] : ""));
    }
  }
  /* The tensor table starts with its count. */
  lg_pb_writer tens = {0};
  put_u32(&tens, wr.n_tensors);
  put(&tens, wr.tens.buf, wr.tens.len);

  struct {
    uint32_t type, flags;
    lg_pb_writer *body;
  } sections[] = {
      {SECTION_STRINGS, SECTION_REQUIRED, &wr.strs},
      {SECTION_GRAPH, SECTION_REQUIRED, &wr.graph},
      {SECTION_TENSORS, SECTION_REQUIRED, &tens},
      {SECTION_META, 0, &wr.meta},
      {SECTION_SELFTEST, 0, &wr.self},
      {SECTION_DATA, SECTION_REQUIRED | SECTION_LAZY_CHECKSUM, &wr.data},
  };
  int n_sections = (int)(sizeof sections / sizeof sections[0]);
  if (!wr.o->selftest) n_sections--, sections[4] = sections[5];
  lg_pb_writer file = {0};
  bool failed = wr.strs.failed || wr.graph.failed || tens.failed || wr.data.failed ||
                wr.meta.failed || wr.self.failed;
  if (st == LEDGE_OK && !failed) {
    uint8_t header[HEADER_SIZE] = {0};
    put(&file, header, HEADER_SIZE);
    uint64_t table_offset = file.len;
    uint8_t table[SECTION_ENTRY_SIZE * 8] = {0};
    put(&file, table, (size_t)n_sections * SECTION_ENTRY_SIZE);
    for (int s = 0; s < n_sections; s++) {
      pad_to(&file, DATA_ALIGN);
      uint64_t offset = file.len;
      lg_pb_writer *b = sections[s].body;
      put(&file, b->buf, b->len);
      uint8_t *e = table + s * SECTION_ENTRY_SIZE;
      uint64_t len = b->len;
      uint32_t crc = lg_crc32c(0, b->buf, b->len);
      memcpy(e, &sections[s].type, 4);
      memcpy(e + 4, &sections[s].flags, 4);
      memcpy(e + 8, &offset, 8);
      memcpy(e + 16, &len, 8);
      memcpy(e + 24, &crc, 4);
    }
    if (!file.failed) {
      memcpy(file.buf + table_offset, table, (size_t)n_sections * SECTION_ENTRY_SIZE);
      uint8_t *h = file.buf;
      uint16_t major = LG_LEDGE_VERSION_MAJOR, minor = LG_LEDGE_VERSION_MINOR;
      uint32_t flags = (wr.o->selftest ? LG_LEDGE_HAS_SELFTEST : 0) |
                       (wr.compressed ? LG_LEDGE_HAS_COMPRESSED : 0);
      uint32_t header_size = HEADER_SIZE, count = (uint32_t)n_sections;
      uint64_t file_size = file.len;
      uint32_t table_crc = lg_crc32c(0, table, (size_t)n_sections * SECTION_ENTRY_SIZE);
      memcpy(h, LG_LEDGE_MAGIC, 8);
      memcpy(h + 8, &major, 2);
      memcpy(h + 10, &minor, 2);
      memcpy(h + 12, &flags, 4);
      memcpy(h + 16, &header_size, 4);
      memcpy(h + 20, &count, 4);
      memcpy(h + 24, &table_offset, 8);
      memcpy(h + 32, &file_size, 8);
      memcpy(h + 40, &table_crc, 4);
      uint32_t header_crc = lg_crc32c(0, h, 60);
      memcpy(h + 60, &header_crc, 4);
    }
    failed = file.failed;
  }
  if (st == LEDGE_OK && failed)
    st = lg_error(LEDGE_ERR_NO_MEMORY, "out of memory writing a .ledge file");
  lg_pbw_free(&wr.strs);
  lg_pbw_free(&wr.graph);
  lg_pbw_free(&wr.tens);
  lg_pbw_free(&tens);
  lg_pbw_free(&wr.data);
  lg_pbw_free(&wr.meta);
  lg_pbw_free(&wr.self);
  lg_name_map_free(&wr.str_index);
  if (st != LEDGE_OK) {
    lg_pbw_free(&file);
    return st;
  }
  *out = file.buf;
  *size = file.len;
  return LEDGE_OK;
}

lg_status lg_ledge_write_file(const lg_graph *g, const lg_ledge_write_options *options,
                              const char *path) {
  uint8_t *buf;
  size_t size;
  LG_TRY(lg_ledge_serialize(g, options, &buf, &size));
  lg_status st = lg_write_file_atomic(path, buf, size);
  free(buf);
  return st;
}

/* ======================================================================
 * Reading
 * ====================================================================== */

typedef struct cursor {
  const uint8_t *p, *end;
  bool bad;
} cursor;

static bool take(cursor *c, void *out, size_t n) {
  if (c->bad || (size_t)(c->end - c->p) < n) {
    c->bad = true;
    memset(out, 0, n);
    return false;
  }
  memcpy(out, c->p, n);
  c->p += n;
  return true;
}
static uint8_t get_u8(cursor *c) {
  uint8_t v;
  take(c, &v, 1);
  return v;
}
static uint16_t get_u16(cursor *c) {
  uint16_t v;
  take(c, &v, 2);
  return v;
}
static uint32_t get_u32(cursor *c) {
  uint32_t v;
  take(c, &v, 4);
  return v;
}
static int32_t get_i32(cursor *c) {
  int32_t v;
  take(c, &v, 4);
  return v;
}
static uint64_t get_u64(cursor *c) {
  uint64_t v;
  take(c, &v, 8);
  return v;
}
static int64_t get_i64(cursor *c) {
  int64_t v;
  take(c, &v, 8);
  return v;
}
static float get_f32(cursor *c) {
  float v;
  take(c, &v, 4);
  return v;
}
static double get_f64(cursor *c) {
  double v;
  take(c, &v, 8);
  return v;
}
static size_t left(const cursor *c) { return c->bad ? 0 : (size_t)(c->end - c->p); }

typedef struct section {
  uint32_t type, flags, crc;
  const uint8_t *data;
  size_t size;
} section;

typedef struct reader {
  const uint8_t *file;
  size_t file_size;
  section strs, graph, tens, data, meta, self;
  bool have_strs, have_graph, have_tens, have_data, have_meta, have_self;
  lg_graph *g;
  lg_ledge_info *info;
  lg_tensor *tensors; /* the tensor table, data resolved */
  const char **tensor_names;
  size_t *stored; /* bytes of each clustered tensor's blob; 0 for raw tensors */
  uint32_t n_tensors;
} reader;

static void fourcc_str(uint32_t t, char out[5]) {
  for (int i = 0; i < 4; i++) {
    char ch = (char)(t >> (8 * i));
    out[i] = ch >= 32 && ch < 127 ? ch : '?';
  }
  out[4] = 0;
}

/* A string reference: NULL for NO_STRING, else a NUL-terminated string in STRS. */
static bool get_str(reader *r, cursor *c, const char **out) {
  uint32_t ref = get_u32(c);
  if (c->bad) return false;
  if (ref == NO_STRING) {
    *out = NULL;
    return true;
  }
  if (ref >= r->strs.size) return false;
  *out = (const char *)r->strs.data + ref;
  return true;
}

static bool valid_dtype(unsigned dt) { return dt >= 1 && dt <= 13 && dt != LEDGE_STRING; }

static lg_status read_header(reader *r) {
  const uint8_t *h = r->file;
  if (r->file_size < HEADER_SIZE)
    return FORMAT_ERROR(".ledge file is truncated: %zu bytes, less than its header", r->file_size);
  if (!lg_ledge_detect(h, r->file_size)) return FORMAT_ERROR("not a .ledge file (bad magic)");
  uint32_t header_crc;
  memcpy(&header_crc, h + 60, 4);
  if (lg_crc32c(0, h, 60) != header_crc)
    return FORMAT_ERROR(".ledge header checksum mismatch: the file is corrupt");
  uint16_t major, minor;
  uint32_t flags, header_size, count, table_crc;
  uint64_t table_offset, file_size;
  memcpy(&major, h + 8, 2);
  memcpy(&minor, h + 10, 2);
  memcpy(&flags, h + 12, 4);
  memcpy(&header_size, h + 16, 4);
  memcpy(&count, h + 20, 4);
  memcpy(&table_offset, h + 24, 8);
  memcpy(&file_size, h + 32, 8);
  memcpy(&table_crc, h + 40, 4);
  if (major != LG_LEDGE_VERSION_MAJOR)
    return lg_error(LEDGE_ERR_UNSUPPORTED,
                    ".ledge format version %u.%u is not readable by this ledge (it reads %d.x)",
                    major, minor, LG_LEDGE_VERSION_MAJOR);
  r->info->version_major = major;
  r->info->version_minor = minor;
  r->info->flags = flags;
  if (file_size != r->file_size)
    return FORMAT_ERROR(".ledge file is %s: %zu bytes, its header says %llu",
                        file_size > r->file_size ? "truncated" : "too long", r->file_size,
                        (unsigned long long)file_size);
  if (header_size < HEADER_SIZE || header_size > r->file_size)
    return FORMAT_ERROR(".ledge header size %u is invalid", header_size);
  if (count == 0 || count > 4096) return FORMAT_ERROR(".ledge section count %u is invalid", count);
  if (table_offset < header_size || table_offset > r->file_size ||
      (r->file_size - table_offset) / SECTION_ENTRY_SIZE < count)
    return FORMAT_ERROR(".ledge section table lies outside the file");
  const uint8_t *table = r->file + table_offset;
  if (lg_crc32c(0, table, (size_t)count * SECTION_ENTRY_SIZE) != table_crc)
    return FORMAT_ERROR(".ledge section table checksum mismatch: the file is corrupt");
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t *e = table + (size_t)i * SECTION_ENTRY_SIZE;
    section s;
    uint64_t offset, size;
    memcpy(&s.type, e, 4);
    memcpy(&s.flags, e + 4, 4);
    memcpy(&offset, e + 8, 8);
    memcpy(&size, e + 16, 8);
    memcpy(&s.crc, e + 24, 4);
    char name[5];
    fourcc_str(s.type, name);
    if (offset > r->file_size || size > r->file_size - offset)
      return FORMAT_ERROR(".ledge section '%s' lies outside the file", name);
    if (offset % 8)
      return FORMAT_ERROR(".ledge section '%s' at offset %llu is misaligned", name,
                          (unsigned long long)offset);
    s.data = r->file + offset;
    s.size = (size_t)size;
    section *slot = NULL;
    bool *have = NULL;
    switch (s.type) {
      case SECTION_STRINGS: slot = &r->strs, have = &r->have_strs; break;
      case SECTION_GRAPH: slot = &r->graph, have = &r->have_graph; break;
      case SECTION_TENSORS: slot = &r->tens, have = &r->have_tens; break;
      case SECTION_DATA: slot = &r->data, have = &r->have_data; break;
      case SECTION_META: slot = &r->meta, have = &r->have_meta; break;
      case SECTION_SELFTEST: slot = &r->self, have = &r->have_self; break;
      default:
        if (s.flags & SECTION_REQUIRED)
          return lg_error(LEDGE_ERR_UNSUPPORTED,
                          ".ledge file needs a newer ledge: it has a required section '%s'", name);
        r->info->skipped_sections++;
        continue;
    }
    if (*have) return FORMAT_ERROR(".ledge file has two '%s' sections", name);
    if (s.type == SECTION_DATA && offset % DATA_ALIGN)
      return FORMAT_ERROR(".ledge data section at offset %llu is not %d-byte aligned",
                          (unsigned long long)offset, DATA_ALIGN);
    if (!(s.flags & SECTION_LAZY_CHECKSUM) && lg_crc32c(0, s.data, s.size) != s.crc)
      return FORMAT_ERROR(".ledge section '%s' checksum mismatch: the file is corrupt", name);
    *slot = s;
    *have = true;
  }
  if (!r->have_strs || !r->have_graph || !r->have_tens || !r->have_data)
    return FORMAT_ERROR(".ledge file lacks a required section (strings, graph, tensors or data)");
  if (r->strs.size == 0 || r->strs.data[r->strs.size - 1] != 0)
    return FORMAT_ERROR(".ledge string table is malformed");
  r->info->data = r->data.data;
  r->info->data_size = r->data.size;
  r->info->data_crc = r->data.crc;
  return LEDGE_OK;
}

static lg_status read_tensors(reader *r) {
  cursor c = {r->tens.data, r->tens.data + r->tens.size, false};
  uint32_t n = get_u32(&c);
  if (c.bad || n > left(&c) / 24) return FORMAT_ERROR(".ledge tensor table is malformed");
  r->n_tensors = n;
  lg_ledge_info *info = r->info;
  info->clustered_names = lg_pool_alloc(info->pool, sizeof(char *) * ((size_t)n + 1));
  info->clustered_blobs = lg_pool_alloc(info->pool, sizeof(uint8_t *) * ((size_t)n + 1));
  info->clustered_sizes = lg_pool_alloc(info->pool, sizeof(size_t) * ((size_t)n + 1));
  if (!info->clustered_names || !info->clustered_blobs || !info->clustered_sizes)
    return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  r->tensors = lg_pool_alloc(r->g->pool, sizeof(lg_tensor) * ((size_t)n + 1));
  r->tensor_names = lg_pool_alloc(r->g->pool, sizeof(char *) * ((size_t)n + 1));
  r->stored = lg_pool_alloc(r->g->pool, sizeof(size_t) * ((size_t)n + 1));
  if (!r->tensors || !r->tensor_names || !r->stored)
    return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  for (uint32_t i = 0; i < n; i++) {
    lg_tensor *t = &r->tensors[i];
    const char *name;
    if (!get_str(r, &c, &name)) return FORMAT_ERROR(".ledge tensor %u has a bad name", i);
    r->tensor_names[i] = name;
    const char *shown = name ? name : "(attribute)";
    unsigned dtype = get_u8(&c);
    int rank = (int8_t)get_u8(&c);
    unsigned encoding = get_u8(&c);
    unsigned quant = get_u8(&c);
    if (c.bad) return FORMAT_ERROR(".ledge tensor table is truncated");
    if (!valid_dtype(dtype))
      return FORMAT_ERROR(".ledge tensor '%s' has an invalid element type %u", shown, dtype);
    if (rank < 0 || rank > LEDGE_MAX_RANK)
      return FORMAT_ERROR(".ledge tensor '%s' has an invalid rank %d", shown, rank);
    if (quant != 0)
      return lg_error(LEDGE_ERR_UNSUPPORTED,
                      ".ledge tensor '%s' uses quantization scheme %u, unknown here", shown, quant);
    t->dtype = (ledge_dtype)dtype;
    t->rank = rank;
    for (int d = 0; d < rank; d++) {
      t->dims[d] = get_i64(&c);
      if (t->dims[d] < 0) return FORMAT_ERROR(".ledge tensor '%s' has a negative dimension", shown);
    }
    uint64_t offset = get_u64(&c), stored = get_u64(&c);
    if (c.bad) return FORMAT_ERROR(".ledge tensor table is truncated");
    int64_t count = lg_tensor_count(t);
    size_t esize = ledge_dtype_size(t->dtype);
    if (count < 0 || (uint64_t)count > SIZE_MAX / 8 / esize)
      return FORMAT_ERROR(".ledge tensor '%s' has too many elements", shown);
    size_t bytes = (size_t)count * esize;
    if (offset > r->data.size || stored > r->data.size - offset)
      return FORMAT_ERROR(".ledge tensor '%s' lies outside the data section", shown);
    if (offset % DATA_ALIGN)
      return FORMAT_ERROR(".ledge tensor '%s' data offset %llu is not %d-byte aligned", shown,
                          (unsigned long long)offset, DATA_ALIGN);
    const uint8_t *p = r->data.data + offset;
    t->capacity = bytes;
    if (encoding == LG_LEDGE_RAW) {
      if (stored != bytes)
        return FORMAT_ERROR(".ledge tensor '%s' holds %llu bytes, its shape needs %zu", shown,
                            (unsigned long long)stored, bytes);
      if ((uintptr_t)p % esize == 0) {
        t->data = (void *)p; /* in place: the zero-copy case */
      } else {               /* a caller's buffer that is not aligned: copy */
        t->data = lg_pool_alloc(r->g->pool, bytes ? bytes : 1);
        if (!t->data) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
        memcpy(t->data, p, bytes);
      }
    } else if (encoding == LG_LEDGE_CLUSTERED) {
      if (t->dtype != LEDGE_FLOAT32)
        return FORMAT_ERROR(".ledge tensor '%s' is clustered but not float32", shown);
      t->data = (void *)p; /* the encoded blob, decoded when a constant binds it */
      r->stored[i] = (size_t)stored;
      r->info->compressed_tensors++;
    } else {
      return lg_error(LEDGE_ERR_UNSUPPORTED, ".ledge tensor '%s' uses encoding %u, unknown here",
                      shown, encoding);
    }
  }
  return LEDGE_OK;
}

/* Gives constant value v the tensor ti, decoding a clustered one. */
static lg_status bind_constant(reader *r, lg_value *v, uint32_t ti) {
  lg_tensor *t = &r->tensors[ti];
  if (!r->stored[ti]) {
    v->t = *t;
    return LEDGE_OK;
  }
  int64_t count = lg_tensor_count(t);
  /* Every element costs at least one bit of the blob: a shape that claims
   * more cannot make us allocate for it. */
  if ((uint64_t)count / 8 > r->stored[ti])
    return FORMAT_ERROR(
        ".ledge tensor '%s' claims %lld elements, more than its %zu encoded bytes can hold",
        v->name, (long long)count, r->stored[ti]);
  lg_tensor decoded = *t;
  float *out = lg_aligned_alloc((size_t)count * sizeof(float) + 1);
  if (!out) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory decoding '%s'", v->name);
  lg_status st = lg_ledge_decode_clustered(t->data, r->stored[ti], out, count);
  if (st != LEDGE_OK) {
    lg_aligned_free(out);
    return lg_error_context(st, ".ledge tensor '%s': ", v->name);
  }
  decoded.data = out;
  decoded.capacity = (size_t)count * sizeof(float);
  v->t = decoded;
  v->owned = out;
  lg_ledge_info *info = r->info;
  int k = info->n_clustered++;
  info->clustered_names[k] = v->name;
  info->clustered_blobs[k] = t->data;
  info->clustered_sizes[k] = r->stored[ti];
  return LEDGE_OK;
}

static lg_status read_attr(reader *r, cursor *c, lg_node *n, lg_attr *a) {
  lg_pool *pool = r->g->pool;
  if (!get_str(r, c, &a->name) || !a->name)
    return FORMAT_ERROR(".ledge node '%s' has a bad attribute name", n->name);
  a->type = (lg_attr_type)get_u8(c);
  uint32_t count = 0;
  switch (a->type) {
    case LG_ATTR_FLOAT: a->f = get_f32(c); break;
    case LG_ATTR_INT: a->i = get_i64(c); break;
    case LG_ATTR_STRING:
      if (!get_str(r, c, &a->s) || !a->s)
        return FORMAT_ERROR(".ledge attribute '%s' has a bad string", a->name);
      break;
    case LG_ATTR_TENSOR: {
      uint32_t ti = get_u32(c);
      if (c->bad || ti >= r->n_tensors)
        return FORMAT_ERROR(".ledge attribute '%s' refers to a missing tensor", a->name);
      if (r->stored[ti])
        return FORMAT_ERROR(".ledge attribute '%s' is a clustered tensor", a->name);
      a->t = &r->tensors[ti];
      break;
    }
    case LG_ATTR_FLOATS:
    case LG_ATTR_INTS:
    case LG_ATTR_STRINGS: {
      count = get_u32(c);
      size_t elem = a->type == LG_ATTR_FLOATS ? 4 : a->type == LG_ATTR_INTS ? 8 : 4;
      if (c->bad || count > INT32_MAX || count > left(c) / elem)
        return FORMAT_ERROR(".ledge attribute '%s' has a bad element count", a->name);
      a->n = (int)count;
      a->floats = lg_pool_alloc(pool, sizeof(float) * (a->type == LG_ATTR_FLOATS ? count + 1 : 1));
      a->ints = lg_pool_alloc(pool, sizeof(int64_t) * (a->type == LG_ATTR_INTS ? count + 1 : 1));
      a->strings =
          lg_pool_alloc(pool, sizeof(char *) * (a->type == LG_ATTR_STRINGS ? count + 1 : 1));
      if (!a->floats || !a->ints || !a->strings)
        return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
      for (uint32_t k = 0; k < count; k++) {
        if (a->type == LG_ATTR_FLOATS)
          a->floats[k] = get_f32(c);
        else if (a->type == LG_ATTR_INTS)
          a->ints[k] = get_i64(c);
        else if (!get_str(r, c, &a->strings[k]) || !a->strings[k])
          return FORMAT_ERROR(".ledge attribute '%s' has a bad string", a->name);
      }
      break;
    }
    default:
      return FORMAT_ERROR(".ledge attribute '%s' has an invalid type %d", a->name, (int)a->type);
  }
  if (c->bad) return FORMAT_ERROR(".ledge graph is truncated in attribute '%s'", a->name);
  return LEDGE_OK;
}

static lg_status read_graph(reader *r) {
  lg_graph *g = r->g;
  cursor c = {r->graph.data, r->graph.data + r->graph.size, false};
  uint32_t n_values = get_u32(&c), n_nodes = get_u32(&c), n_inputs = get_u32(&c),
           n_outputs = get_u32(&c);
  uint32_t opset = get_u32(&c);
  get_u32(&c);
  int64_t ir_version = get_i64(&c);
  if (c.bad) return FORMAT_ERROR(".ledge graph section is truncated");
  /* Each value takes at least 8 bytes, each node 24, each input/output 4. */
  if (n_values > left(&c) / 8 || n_nodes > left(&c) / 24 || n_inputs > n_values ||
      n_outputs > n_values || n_outputs == 0 || opset > 10000)
    return FORMAT_ERROR(".ledge graph counts are invalid");
  r->info->opset = (int)opset;
  r->info->ir_version = ir_version;
  g->values = calloc((size_t)n_values + 1, sizeof(lg_value));
  g->nodes = calloc((size_t)n_nodes + 1, sizeof(lg_node));
  g->inputs = lg_pool_alloc(g->pool, sizeof(int) * ((size_t)n_inputs + 1));
  g->outputs = lg_pool_alloc(g->pool, sizeof(int) * ((size_t)n_outputs + 1));
  if (!g->values || !g->nodes || !g->inputs || !g->outputs)
    return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  g->cap_values = (int)n_values + 1;
  g->cap_nodes = (int)n_nodes + 1;
  for (uint32_t i = 0; i < n_values; i++) {
    lg_value *v = &g->values[i];
    g->n_values++;
    v->producer = -1;
    v->arena_offset = -1;
    if (!get_str(r, &c, &v->name) || !v->name)
      return FORMAT_ERROR(".ledge value %u has a bad name", i);
    unsigned kind = get_u8(&c), dtype = get_u8(&c);
    int rank = (int8_t)get_u8(&c);
    unsigned flags = get_u8(&c);
    if (c.bad) return FORMAT_ERROR(".ledge graph section is truncated");
    if (kind > LG_VALUE_INPUT)
      return FORMAT_ERROR(".ledge value '%s' has an invalid kind %u", v->name, kind);
    if (rank < -1 || rank > LEDGE_MAX_RANK)
      return FORMAT_ERROR(".ledge value '%s' has an invalid rank %d", v->name, rank);
    if (kind == LG_VALUE_INPUT && !valid_dtype(dtype))
      return FORMAT_ERROR(".ledge input '%s' has an invalid element type", v->name);
    v->kind = (lg_value_kind)kind;
    v->is_output = flags & VALUE_OUTPUT;
    v->shape_known = flags & VALUE_SHAPE_KNOWN;
    v->t.dtype = kind == LG_VALUE_ACTIVATION ? LEDGE_DTYPE_UNDEFINED : (ledge_dtype)dtype;
    v->t.rank = kind == LG_VALUE_ACTIVATION ? 0 : rank;
    for (int d = 0; d < rank; d++) {
      int64_t dim = get_i64(&c);
      if (dim < -1) return FORMAT_ERROR(".ledge value '%s' has an invalid dimension", v->name);
      if (kind != LG_VALUE_ACTIVATION) v->t.dims[d] = dim;
    }
    if (kind == LG_VALUE_CONSTANT) {
      uint32_t ti = get_u32(&c);
      if (c.bad || ti >= r->n_tensors)
        return FORMAT_ERROR(".ledge constant '%s' refers to a missing tensor", v->name);
      lg_tensor *t = &r->tensors[ti];
      if (t->dtype != v->t.dtype || !lg_shape_equal(t->rank, t->dims, rank, v->t.dims))
        return FORMAT_ERROR(".ledge constant '%s' disagrees with its tensor's type or shape",
                            v->name);
      LG_TRY(bind_constant(r, v, ti));
      v->shape_known = true;
    }
    if (flags & VALUE_DIM_PARAMS) {
      if (rank <= 0) return FORMAT_ERROR(".ledge value '%s' has dim names but no dims", v->name);
      const char **names = lg_pool_alloc(g->pool, sizeof(char *) * LEDGE_MAX_RANK);
      if (!names) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
      for (int d = 0; d < rank; d++)
        if (!get_str(r, &c, &names[d]))
          return FORMAT_ERROR(".ledge value '%s' has a bad dim name", v->name);
      v->dim_params = names;
    }
    if (flags & VALUE_DECLARED) {
      lg_tensor *decl = lg_pool_alloc(g->pool, sizeof *decl);
      if (!decl) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
      unsigned ddt = get_u8(&c);
      int drank = (int8_t)get_u8(&c);
      if (!valid_dtype(ddt) || drank < -1 || drank > LEDGE_MAX_RANK)
        return FORMAT_ERROR(".ledge output '%s' has an invalid declared type", v->name);
      decl->dtype = (ledge_dtype)ddt;
      decl->rank = drank;
      for (int d = 0; d < drank; d++) decl->dims[d] = get_i64(&c);
      v->declared = decl;
    }
    if (c.bad) return FORMAT_ERROR(".ledge graph section is truncated");
  }
  for (uint32_t i = 0; i < n_nodes; i++) {
    lg_node *n = &g->nodes[i];
    g->n_nodes++;
    const char *op_type, *domain, *name;
    if (!get_str(r, &c, &op_type) || !get_str(r, &c, &domain) || !get_str(r, &c, &name) ||
        !op_type || !domain || !name)
      return FORMAT_ERROR(".ledge node %u has bad names", i);
    n->op_type = op_type;
    n->domain = domain;
    n->name = name;
    n->opset = (int)get_u32(&c);
    int n_in = get_u16(&c), n_out = get_u16(&c), n_attrs = get_u16(&c);
    get_u16(&c);
    if (c.bad || (size_t)(n_in + n_out) > left(&c) / 4 || (size_t)n_attrs > left(&c) / 5)
      return FORMAT_ERROR(".ledge node '%s' is truncated", name);
    n->n_in = n_in;
    n->n_out = n_out;
    n->n_attrs = n_attrs;
    n->in = lg_pool_alloc(g->pool, sizeof(int) * (size_t)(n_in + 1));
    n->out = lg_pool_alloc(g->pool, sizeof(int) * (size_t)(n_out + 1));
    n->attrs = lg_pool_alloc(g->pool, sizeof(lg_attr) * (size_t)(n_attrs + 1));
    if (!n->in || !n->out || !n->attrs) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
    for (int k = 0; k < n_in; k++) {
      int v = get_i32(&c);
      if (v < -1 || v >= (int)n_values)
        return FORMAT_ERROR(".ledge node '%s' reads a value that does not exist", name);
      if (v >= 0 && g->values[v].kind == LG_VALUE_ACTIVATION && g->values[v].producer < 0)
        return FORMAT_ERROR(".ledge node '%s' reads '%s' before any node computes it", name,
                            g->values[v].name);
      n->in[k] = v;
    }
    for (int k = 0; k < n_out; k++) {
      int v = get_i32(&c);
      if (v < -1 || v >= (int)n_values)
        return FORMAT_ERROR(".ledge node '%s' writes a value that does not exist", name);
      if (v >= 0 && (g->values[v].kind != LG_VALUE_ACTIVATION || g->values[v].producer >= 0))
        return FORMAT_ERROR(".ledge node '%s' writes '%s', which is not its own output", name,
                            g->values[v].name);
      if (v >= 0) g->values[v].producer = (int)i;
      n->out[k] = v;
    }
    for (int k = 0; k < n_attrs; k++) LG_TRY(read_attr(r, &c, n, &n->attrs[k]));
    n->op = lg_op_find(domain, op_type);
    if (!n->op)
      return lg_error(LEDGE_ERR_UNSUPPORTED, "unsupported operator '%s%s%s' (node '%s')",
                      *domain ? domain : "", *domain ? "." : "", op_type, name);
  }
  for (uint32_t i = 0; i < n_inputs; i++) {
    int v = get_i32(&c);
    if (v < 0 || v >= (int)n_values || g->values[v].kind != LG_VALUE_INPUT)
      return FORMAT_ERROR(".ledge graph input %u is not an input value", i);
    g->inputs[g->n_inputs++] = v;
  }
  for (uint32_t i = 0; i < n_outputs; i++) {
    int v = get_i32(&c);
    if (v < 0 || v >= (int)n_values)
      return FORMAT_ERROR(".ledge graph output %u does not exist", i);
    if (g->values[v].kind == LG_VALUE_ACTIVATION && g->values[v].producer < 0)
      return FORMAT_ERROR(".ledge graph output '%s' is not computed by any node",
                          g->values[v].name);
    g->values[v].is_output = true;
    g->outputs[g->n_outputs++] = v;
  }
  if (c.bad) return FORMAT_ERROR(".ledge graph section is truncated");
  return LEDGE_OK;
}

static lg_status read_meta(reader *r) {
  cursor c = {r->meta.data, r->meta.data + r->meta.size, false};
  uint32_t n = get_u32(&c);
  if (c.bad || n > left(&c) / 8) return FORMAT_ERROR(".ledge metadata section is malformed");
  lg_ledge_info *info = r->info;
  info->meta_keys = lg_pool_alloc(info->pool, sizeof(char *) * ((size_t)n + 1));
  info->meta_values = lg_pool_alloc(info->pool, sizeof(char *) * ((size_t)n + 1));
  if (!info->meta_keys || !info->meta_values) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  for (uint32_t i = 0; i < n; i++) {
    if (!get_str(r, &c, &info->meta_keys[i]) || !get_str(r, &c, &info->meta_values[i]) ||
        !info->meta_keys[i] || !info->meta_values[i])
      return FORMAT_ERROR(".ledge metadata entry %u is malformed", i);
    info->n_meta++;
  }
  return LEDGE_OK;
}

static lg_status read_selftest(reader *r) {
  cursor c = {r->self.data, r->self.data + r->self.size, false};
  lg_ledge_selftest *st = &r->info->selftest;
  lg_pool *pool = r->info->pool;
  st->tolerance = get_f32(&c);
  uint32_t n_in = get_u32(&c), n_out = get_u32(&c), n_layers = get_u32(&c);
  if (c.bad || (uint64_t)n_in + n_out > left(&c) / 8 || n_layers > left(&c) / 40 ||
      !(st->tolerance >= 0))
    return FORMAT_ERROR(".ledge self-test section is malformed");
  st->inputs = lg_pool_alloc(pool, sizeof(lg_tensor) * ((size_t)n_in + 1));
  st->outputs = lg_pool_alloc(pool, sizeof(lg_tensor) * ((size_t)n_out + 1));
  st->input_names = lg_pool_alloc(pool, sizeof(char *) * ((size_t)n_in + 1));
  st->output_names = lg_pool_alloc(pool, sizeof(char *) * ((size_t)n_out + 1));
  st->layers = lg_pool_alloc(pool, sizeof(lg_ledge_layer) * ((size_t)n_layers + 1));
  if (!st->inputs || !st->outputs || !st->input_names || !st->output_names || !st->layers)
    return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  for (uint32_t i = 0; i < n_in + n_out; i++) {
    bool in = i < n_in;
    const char *name;
    if (!get_str(r, &c, &name) || !name)
      return FORMAT_ERROR(".ledge self-test tensor %u has a bad name", i);
    uint32_t ti = get_u32(&c);
    if (c.bad || ti >= r->n_tensors || r->stored[ti])
      return FORMAT_ERROR(".ledge self-test tensor '%s' is missing", name);
    if (in)
      st->inputs[i] = r->tensors[ti], st->input_names[i] = name;
    else
      st->outputs[i - n_in] = r->tensors[ti], st->output_names[i - n_in] = name;
  }
  st->n_inputs = (int)n_in;
  st->n_outputs = (int)n_out;
  for (uint32_t i = 0; i < n_layers; i++) {
    lg_ledge_layer *l = &st->layers[i];
    if (!get_str(r, &c, &l->value) || !get_str(r, &c, &l->node) || !get_str(r, &c, &l->op_type) ||
        !l->value || !l->node || !l->op_type)
      return FORMAT_ERROR(".ledge self-test layer %u has bad names", i);
    l->count = get_i64(&c);
    l->sum = get_f64(&c);
    l->sum_squares = get_f64(&c);
    l->max_abs = get_f32(&c);
    uint32_t ns = get_u32(&c);
    if (c.bad || ns > left(&c) / 4 || l->count < 0)
      return FORMAT_ERROR(".ledge self-test layer '%s' is malformed", l->value);
    l->n_samples = (int)ns;
    float *samples = lg_pool_alloc(pool, sizeof(float) * ((size_t)ns + 1));
    if (!samples) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
    for (uint32_t k = 0; k < ns; k++) samples[k] = get_f32(&c);
    l->samples = samples;
    st->n_layers++;
  }
  if (c.bad) return FORMAT_ERROR(".ledge self-test section is truncated");
  r->info->has_selftest = true;
  return LEDGE_OK;
}

lg_status lg_ledge_import(const uint8_t *data, size_t size, lg_graph *g, lg_ledge_info **out) {
  *out = NULL;
  if (!little_endian())
    return lg_error(LEDGE_ERR_UNSUPPORTED, ".ledge files are read on little-endian machines only");
  LG_TRY(lg_graph_init(g));
  lg_ledge_info *info = calloc(1, sizeof *info);
  if (info) info->pool = lg_pool_create();
  if (!info || !info->pool) {
    free(info);
    lg_graph_free(g);
    return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  }
  reader r = {0};
  r.file = data;
  r.file_size = size;
  r.g = g;
  r.info = info;
  lg_status st = read_header(&r);
  if (st == LEDGE_OK) st = read_tensors(&r);
  if (st == LEDGE_OK) st = read_graph(&r);
  if (st == LEDGE_OK && r.have_meta) st = read_meta(&r);
  if (st == LEDGE_OK && r.have_self) st = read_selftest(&r);
  if (st != LEDGE_OK) {
    lg_graph_free(g);
    lg_ledge_info_free(info);
    return st;
  }
  *out = info;
  return LEDGE_OK;
}

bool lg_ledge_keep_encoded(void *ctx, const lg_value *v, uint8_t **blob, size_t *blob_size) {
  const lg_ledge_info *info = ctx;
  for (int i = 0; info && i < info->n_clustered; i++) {
    if (strcmp(info->clustered_names[i], v->name)) continue;
    *blob = malloc(info->clustered_sizes[i]);
    if (!*blob) return false;
    memcpy(*blob, info->clustered_blobs[i], info->clustered_sizes[i]);
    *blob_size = info->clustered_sizes[i];
    return true;
  }
  return false;
}

lg_status lg_ledge_verify_data(const lg_ledge_info *info) {
  if (lg_crc32c(0, info->data, info->data_size) != info->data_crc)
    return FORMAT_ERROR(".ledge data section checksum mismatch: the weights are corrupt");
  return LEDGE_OK;
}

const char *lg_ledge_meta(const lg_ledge_info *info, const char *key) {
  if (!info) return NULL;
  for (int i = info->n_meta - 1; i >= 0; i--)
    if (!strcmp(info->meta_keys[i], key)) return info->meta_values[i];
  return NULL;
}

void lg_ledge_info_free(lg_ledge_info *info) {
  if (!info) return;
  lg_pool_destroy(info->pool);
  free(info);
}
