/* core.c: errors, shapes, dtypes and aligned memory. */
#include "runtime/core.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Errors: one message per thread, so concurrent sessions never mix them. */

static _Thread_local char last_error[1024];

lg_status lg_error(lg_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return status;
}

lg_status lg_error_context(lg_status status, const char *fmt, ...) {
  char prefix[512], old[sizeof last_error];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, last_error, sizeof old);
  snprintf(last_error, sizeof last_error, "%s%s", prefix, old);
  return status;
}

void lg_error_clear(void) { last_error[0] = 0; }

const char *ledge_last_error(void) { return last_error; }

const char *ledge_status_name(ledge_status s) {
  switch (s) {
    case LEDGE_OK: return "LEDGE_OK";
    case LEDGE_ERR_INVALID_ARGUMENT: return "LEDGE_ERR_INVALID_ARGUMENT";
    case LEDGE_ERR_IO: return "LEDGE_ERR_IO";
    case LEDGE_ERR_FORMAT: return "LEDGE_ERR_FORMAT";
    case LEDGE_ERR_UNSUPPORTED: return "LEDGE_ERR_UNSUPPORTED";
    case LEDGE_ERR_SHAPE: return "LEDGE_ERR_SHAPE";
    case LEDGE_ERR_NO_MEMORY: return "LEDGE_ERR_NO_MEMORY";
    case LEDGE_ERR_INTERNAL: return "LEDGE_ERR_INTERNAL";
  }
  return "LEDGE_ERR_UNKNOWN";
}

#define STR2(x) #x
#define STR(x) STR2(x)
const char *ledge_version(void) {
  return STR(LEDGE_VERSION_MAJOR) "." STR(LEDGE_VERSION_MINOR) "." STR(LEDGE_VERSION_PATCH);
}

/* ---- dtypes ---- */

size_t ledge_dtype_size(ledge_dtype d) {
  switch (d) {
    case LEDGE_FLOAT32: case LEDGE_INT32: case LEDGE_UINT32: return 4;
    case LEDGE_UINT8: case LEDGE_INT8: case LEDGE_BOOL: return 1;
    case LEDGE_UINT16: case LEDGE_INT16: case LEDGE_FLOAT16: return 2;
    case LEDGE_INT64: case LEDGE_FLOAT64: case LEDGE_UINT64: return 8;
    default: return 0;
  }
}

const char *ledge_dtype_name(ledge_dtype d) {
  switch (d) {
    case LEDGE_FLOAT32: return "float32";
    case LEDGE_UINT8: return "uint8";
    case LEDGE_INT8: return "int8";
    case LEDGE_UINT16: return "uint16";
    case LEDGE_INT16: return "int16";
    case LEDGE_INT32: return "int32";
    case LEDGE_INT64: return "int64";
    case LEDGE_STRING: return "string";
    case LEDGE_BOOL: return "bool";
    case LEDGE_FLOAT16: return "float16";
    case LEDGE_FLOAT64: return "float64";
    case LEDGE_UINT32: return "uint32";
    case LEDGE_UINT64: return "uint64";
    default: return "undefined";
  }
}

/* ---- Shapes ---- */

int64_t lg_shape_count(int rank, const int64_t *dims) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) {
    if (dims[i] < 0) return -1;
    if (dims[i] != 0 && n > INT64_MAX / dims[i]) return -1;
    n *= dims[i];
  }
  return n;
}

void lg_tensor_set_shape(lg_tensor *t, int rank, const int64_t *dims) {
  t->rank = rank;
  for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
  for (int i = rank; i < LEDGE_MAX_RANK; i++) t->dims[i] = 0;
}

bool lg_shape_equal(int ra, const int64_t *a, int rb, const int64_t *b) {
  if (ra != rb) return false;
  for (int i = 0; i < ra; i++)
    if (a[i] != b[i]) return false;
  return true;
}

const char *lg_shape_str(int rank, const int64_t *dims, char *buf, size_t size) {
  size_t k = 0;
  k += (size_t)snprintf(buf + k, size - k, "[");
  for (int i = 0; i < rank && k < size; i++)
    k += (size_t)snprintf(buf + k, size - k, i ? ",%lld" : "%lld", (long long)dims[i]);
  if (k < size) snprintf(buf + k, size - k, "]");
  return buf;
}

lg_status lg_broadcast_shape(int ra, const int64_t *a, int rb, const int64_t *b, int *rank_out,
                             int64_t *out) {
  int r = ra > rb ? ra : rb;
  for (int i = 0; i < r; i++) {
    int64_t da = i < r - ra ? 1 : a[i - (r - ra)];
    int64_t db = i < r - rb ? 1 : b[i - (r - rb)];
    if (da == db || db == 1) out[i] = da;
    else if (da == 1) out[i] = db;
    else {
      char sa[128], sb[128];
      return lg_error(LEDGE_ERR_SHAPE, "shapes %s and %s do not broadcast",
                      lg_shape_str(ra, a, sa, sizeof sa), lg_shape_str(rb, b, sb, sizeof sb));
    }
  }
  *rank_out = r;
  return LEDGE_OK;
}

bool lg_normalize_axis(int64_t axis, int rank, int *out) {
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return false;
  *out = (int)axis;
  return true;
}

int64_t lg_tensor_get_int(const lg_tensor *t, int64_t i) {
  const void *p = t->data;
  switch (t->dtype) {
    case LEDGE_INT64: return ((const int64_t *)p)[i];
    case LEDGE_INT32: return ((const int32_t *)p)[i];
    case LEDGE_INT16: return ((const int16_t *)p)[i];
    case LEDGE_INT8: return ((const int8_t *)p)[i];
    case LEDGE_UINT8: case LEDGE_BOOL: return ((const uint8_t *)p)[i];
    case LEDGE_UINT16: return ((const uint16_t *)p)[i];
    case LEDGE_UINT32: return ((const uint32_t *)p)[i];
    case LEDGE_UINT64: return (int64_t)((const uint64_t *)p)[i];
    case LEDGE_FLOAT32: return (int64_t)((const float *)p)[i];
    case LEDGE_FLOAT64: return (int64_t)((const double *)p)[i];
    case LEDGE_FLOAT16: return (int64_t)lg_half_to_float(((const uint16_t *)p)[i]);
    default: return 0;
  }
}

double lg_tensor_get_double(const lg_tensor *t, int64_t i) {
  switch (t->dtype) {
    case LEDGE_FLOAT32: return ((const float *)t->data)[i];
    case LEDGE_FLOAT64: return ((const double *)t->data)[i];
    case LEDGE_FLOAT16: return lg_half_to_float(((const uint16_t *)t->data)[i]);
    case LEDGE_UINT64: return (double)((const uint64_t *)t->data)[i];
    default: return (double)lg_tensor_get_int(t, i);
  }
}

/* ---- Memory ---- */

/* No machine this runs on has 2^44 bytes (16 TiB) to give: a request that
 * large comes from a hostile or broken model's shapes, and is refused here
 * as out of memory rather than handed to an allocator that may abort on it
 * (sanitizers do) or overcommit it. */
#define LG_ALLOC_LIMIT ((size_t)1 << 44)

void *lg_aligned_alloc(size_t bytes) {
  void *p = NULL;
  if (bytes > LG_ALLOC_LIMIT) return NULL;
  if (posix_memalign(&p, LG_ALIGNMENT, bytes ? lg_align_up(bytes, LG_ALIGNMENT) : LG_ALIGNMENT))
    return NULL;
  memset(p, 0, bytes ? lg_align_up(bytes, LG_ALIGNMENT) : LG_ALIGNMENT);
  return p;
}

void lg_aligned_free(void *p) { free(p); }

/* ---- float16 ---- */

float lg_half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 31, man = h & 1023;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) bits = sign;
    else { /* subnormal: normalize */
      float f = ldexpf((float)man, -24);
      return sign ? -f : f;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t lg_float_to_half(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) /* inf or nan */
    return sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0);
  if (absx >= 0x477ff000u) return sign | 0x7c00; /* overflow rounds to inf */
  if (absx < 0x38800000u) {                       /* subnormal half or zero */
    float a;
    memcpy(&a, &absx, 4);
    return sign | (uint16_t)lrintf(a * 16777216.0f); /* a / 2^-24, round to nearest even */
  }
  /* normal: round mantissa to nearest even */
  uint32_t rounded = absx + 0xfffu + ((absx >> 13) & 1u);
  return sign | (uint16_t)((rounded - 0x38000000u) >> 13);
}
