/* serve/decode.c: request bodies (.npy, JSON instances, JPEG/PNG images, the
 * MQTT envelope) to input tensors. Everything here takes hostile bytes: it is
 * what tests/fuzz/fuzz_serve_decode.c fuzzes. */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "ledge/npy.h"
#include "serve/internal.h"

static int fail(char *err, size_t size, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t size, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, size, fmt, ap);
  va_end(ap);
  return code;
}

body_kind serve_body_kind(const char *ct) {
  if (!ct) return 0;
  while (*ct == ' ') ct++;
  size_t n = strcspn(ct, "; ");
  static const struct {
    const char *type;
    body_kind kind;
  } types[] = {{"application/x-npy", BODY_NPY},      {"application/npy", BODY_NPY},
               {"application/json", BODY_JSON},       {"image/jpeg", BODY_IMAGE},
               {"image/jpg", BODY_IMAGE},             {"image/png", BODY_IMAGE},
               {"application/x-image", BODY_IMAGE}};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (strlen(types[i].type) == n && !strncasecmp(ct, types[i].type, n)) return types[i].kind;
  return 0;
}

static double get_f64(const void *p, ledge_dtype t, int64_t i) {
  switch (t) {
    case LEDGE_FLOAT32: return ((const float *)p)[i];
    case LEDGE_FLOAT64: return ((const double *)p)[i];
    case LEDGE_UINT8: case LEDGE_BOOL: return ((const uint8_t *)p)[i];
    case LEDGE_INT8: return ((const int8_t *)p)[i];
    case LEDGE_UINT16: return ((const uint16_t *)p)[i];
    case LEDGE_INT16: return ((const int16_t *)p)[i];
    case LEDGE_INT32: return ((const int32_t *)p)[i];
    case LEDGE_UINT32: return ((const uint32_t *)p)[i];
    case LEDGE_INT64: return (double)((const int64_t *)p)[i];
    case LEDGE_UINT64: return (double)((const uint64_t *)p)[i];
    default: return 0;
  }
}

static void set_f64(void *p, ledge_dtype t, int64_t i, double v) {
  /* Out-of-range values saturate instead of invoking undefined conversions. */
#define CLAMP(lo, hi) (v != v ? 0 : v < (lo) ? (lo) : v > (hi) ? (hi) : v)
  switch (t) {
    case LEDGE_FLOAT32: ((float *)p)[i] = (float)CLAMP(-3.4e38, 3.4e38); break;
    case LEDGE_FLOAT64: ((double *)p)[i] = v; break;
    case LEDGE_UINT8: ((uint8_t *)p)[i] = (uint8_t)CLAMP(0, 255); break;
    case LEDGE_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    case LEDGE_INT8: ((int8_t *)p)[i] = (int8_t)CLAMP(-128, 127); break;
    case LEDGE_UINT16: ((uint16_t *)p)[i] = (uint16_t)CLAMP(0, 65535); break;
    case LEDGE_INT16: ((int16_t *)p)[i] = (int16_t)CLAMP(-32768, 32767); break;
    case LEDGE_INT32: ((int32_t *)p)[i] = (int32_t)CLAMP(-2147483648.0, 2147483647.0); break;
    case LEDGE_UINT32: ((uint32_t *)p)[i] = (uint32_t)CLAMP(0, 4294967295.0); break;
    case LEDGE_INT64: ((int64_t *)p)[i] = (int64_t)CLAMP(-9.2e18, 9.2e18); break;
    case LEDGE_UINT64: ((uint64_t *)p)[i] = (uint64_t)CLAMP(0, 1.8e19); break;
    default: break;
  }
#undef CLAMP
}

static bool numeric(ledge_dtype t) {
  return t != LEDGE_STRING && t != LEDGE_FLOAT16 && t != LEDGE_DTYPE_UNDEFINED && ledge_dtype_size(t) > 0;
}

/* Checks a request tensor's shape against the model's input; a tensor with
 * one dimension less gets a batch dimension of 1. */
static int check_shape(const serve_input_spec *spec, int *rank, int64_t *dims, char *err, size_t es) {
  if (*rank == spec->rank - 1) {
    memmove(dims + 1, dims, sizeof *dims * (size_t)*rank);
    dims[0] = 1;
    (*rank)++;
  }
  char want[160] = "", got[160] = "";
  size_t k = 0, g = 0;
  for (int d = 0; d < *rank && g < sizeof got; d++) g += (size_t)snprintf(got + g, sizeof got - g, d ? "x%lld" : "%lld", (long long)dims[d]);
  bool ok = *rank == spec->rank && (*rank == 0 || dims[0] >= 1);
  for (int d = 1; ok && d < *rank; d++) ok = spec->dims[d] < 0 || spec->dims[d] == dims[d];
  if (!ok) {
    k = 0;
    for (int d = 0; d < spec->rank && k < sizeof want; d++) {
      if (d == 0 || spec->dims[d] < 0) k += (size_t)snprintf(want + k, sizeof want - k, d ? "x?" : "N");
      else k += (size_t)snprintf(want + k, sizeof want - k, "x%lld", (long long)spec->dims[d]);
    }
    return fail(err, es, 400, "input has shape %s; the model takes %s", *rank ? got : "scalar", want);
  }
  return 0;
}

static int decode_npy(const serve_input_spec *spec, const uint8_t *body, size_t len, ledge_tensor **out,
                      char *err, size_t es) {
  ledge_tensor *t = NULL;
  if (ledge_npy_parse(body, len, &t) != LEDGE_OK) return fail(err, es, 400, "bad .npy body: %s", ledge_last_error());
  int rank = ledge_tensor_rank(t);
  int64_t dims[LEDGE_MAX_RANK + 1];
  memcpy(dims, ledge_tensor_dims(t), sizeof *dims * (size_t)rank);
  int rc = check_shape(spec, &rank, dims, err, es);
  ledge_dtype have = ledge_tensor_dtype(t);
  if (!rc && have != spec->dtype && (!numeric(have) || !numeric(spec->dtype)))
    rc = fail(err, es, 400, "input is %s; the model takes %s", ledge_dtype_name(have), ledge_dtype_name(spec->dtype));
  if (rc) {
    ledge_tensor_destroy(t);
    return rc;
  }
  ledge_tensor *r;
  if (ledge_tensor_create(spec->dtype, rank, dims, &r) != LEDGE_OK) {
    ledge_tensor_destroy(t);
    return fail(err, es, 413, "input too large: %s", ledge_last_error());
  }
  int64_t n = ledge_tensor_count(t);
  if (have == spec->dtype) memcpy(ledge_tensor_data(r), ledge_tensor_data(t), ledge_tensor_bytes(t));
  else
    for (int64_t i = 0; i < n; i++) set_f64(ledge_tensor_data(r), spec->dtype, i, get_f64(ledge_tensor_data(t), have, i));
  ledge_tensor_destroy(t);
  *out = r;
  return 0;
}

/* Shape of a nested JSON list, following first elements. */
static int json_shape(const cJSON *x, int *rank, int64_t *dims, char *err, size_t es) {
  *rank = 0;
  while (cJSON_IsArray(x)) {
    if (*rank == LEDGE_MAX_RANK) return fail(err, es, 400, "instances nest deeper than %d levels", LEDGE_MAX_RANK);
    int n = cJSON_GetArraySize(x);
    if (n == 0) return fail(err, es, 400, "instances contain an empty list");
    dims[(*rank)++] = n;
    x = x->child;
  }
  if (!cJSON_IsNumber(x) && !cJSON_IsBool(x)) return fail(err, es, 400, "instances must be nested lists of numbers");
  return 0;
}

static int json_fill(const cJSON *x, int level, int rank, const int64_t *dims, ledge_tensor *t, int64_t *pos,
                     char *err, size_t es) {
  if (level == rank) {
    if (cJSON_IsNumber(x)) set_f64(ledge_tensor_data(t), ledge_tensor_dtype(t), (*pos)++, x->valuedouble);
    else if (cJSON_IsBool(x)) set_f64(ledge_tensor_data(t), ledge_tensor_dtype(t), (*pos)++, cJSON_IsTrue(x));
    else return fail(err, es, 400, "instances must be nested lists of numbers (found a non-number)");
    return 0;
  }
  if (!cJSON_IsArray(x) || cJSON_GetArraySize(x) != dims[level])
    return fail(err, es, 400, "instances are ragged: every list at depth %d must have %lld items", level + 1,
                (long long)dims[level]);
  const cJSON *e;
  cJSON_ArrayForEach(e, x) {
    int rc = json_fill(e, level + 1, rank, dims, t, pos, err, es);
    if (rc) return rc;
  }
  return 0;
}

static int decode_json(const serve_input_spec *spec, const uint8_t *body, size_t len, ledge_tensor **out,
                       char *err, size_t es) {
  cJSON *j = cJSON_ParseWithLength((const char *)body, len);
  if (!j) return fail(err, es, 400, "body is not valid JSON");
  const cJSON *x = j;
  if (cJSON_IsObject(j)) {
    x = cJSON_GetObjectItem(j, "instances");
    if (!x) x = cJSON_GetObjectItem(j, "inputs");
    if (!x) {
      cJSON_Delete(j);
      return fail(err, es, 400, "JSON body must be {\"instances\": [...]}");
    }
  }
  int rank;
  int64_t dims[LEDGE_MAX_RANK + 1];
  int rc = json_shape(x, &rank, dims, err, es);
  if (!rc && !numeric(spec->dtype))
    rc = fail(err, es, 415, "the model's input is %s; send it as .npy", ledge_dtype_name(spec->dtype));
  int64_t given_rank = rank;
  if (!rc) rc = check_shape(spec, &rank, dims, err, es);
  ledge_tensor *t = NULL;
  if (!rc && ledge_tensor_create(spec->dtype, rank, dims, &t) != LEDGE_OK)
    rc = fail(err, es, 413, "input too large: %s", ledge_last_error());
  int64_t pos = 0;
  if (!rc) rc = json_fill(x, 0, (int)given_rank, rank == given_rank ? dims : dims + 1, t, &pos, err, es);
  cJSON_Delete(j);
  if (rc) {
    ledge_tensor_destroy(t);
    return rc;
  }
  *out = t;
  return 0;
}

static int decode_image(const serve_input_spec *spec, const uint8_t *body, size_t len, ledge_tensor **out,
                        char *err, size_t es) {
  if (!spec->image_ok)
    return fail(err, es, 415, "the model's input is not an image; send application/x-npy or application/json");
  int64_t dims[4] = {1, 0, 0, 0};
  if (spec->pre.norm.layout == MEDIA_LAYOUT_NCHW) dims[1] = spec->channels, dims[2] = spec->pre.height, dims[3] = spec->pre.width;
  else dims[1] = spec->pre.height, dims[2] = spec->pre.width, dims[3] = spec->channels;
  ledge_tensor *t;
  if (ledge_tensor_create(LEDGE_FLOAT32, 4, dims, &t) != LEDGE_OK) return fail(err, es, 500, "%s", ledge_last_error());
  char msg[256];
  ledge_status st = media_preprocess_image(body, len, &spec->pre, ledge_tensor_data(t), msg, sizeof msg);
  if (st) {
    ledge_tensor_destroy(t);
    return fail(err, es, st == LEDGE_ERR_INVALID_ARGUMENT ? 413 : st == LEDGE_ERR_NO_MEMORY ? 500 : 400, "%s", msg);
  }
  *out = t;
  return 0;
}

int serve_decode(const serve_input_spec *spec, body_kind kind, const uint8_t *body, size_t len,
                 ledge_tensor **out, char *err, size_t err_size) {
  *out = NULL;
  if (!body || !len) return fail(err, err_size, 400, "empty request body");
  switch (kind) {
    case BODY_NPY: return decode_npy(spec, body, len, out, err, err_size);
    case BODY_JSON: return decode_json(spec, body, len, out, err, err_size);
    case BODY_IMAGE: return decode_image(spec, body, len, out, err, err_size);
    default: return fail(err, err_size, 415, "unsupported content type");
  }
}

/* ---- MQTT envelope ------------------------------------------------------------ */

static int b64_value(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

/* Decodes standard or URL-safe base64 (padding optional, whitespace skipped). */
static uint8_t *b64_decode(const char *s, size_t *len) {
  size_t n = strlen(s);
  uint8_t *out = malloc(n / 4 * 3 + 4);
  if (!out) return NULL;
  uint32_t acc = 0;
  int bits = 0;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '=') break;
    if (isspace(c)) continue;
    int v = b64_value(c);
    if (v < 0) {
      free(out);
      return NULL;
    }
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[k++] = (uint8_t)(acc >> bits);
    }
  }
  *len = k;
  return out;
}

int serve_envelope_parse(const uint8_t *payload, size_t len, serve_envelope *env, char *err, size_t es) {
  memset(env, 0, sizeof *env);
  cJSON *j = cJSON_ParseWithLength((const char *)payload, len);
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return fail(err, es, 400, "request is not a JSON envelope");
  }
  const cJSON *x;
  int rc = 0;
  if ((x = cJSON_GetObjectItem(j, "id"))) {
    if (cJSON_IsString(x)) snprintf(env->id, sizeof env->id, "%s", x->valuestring);
    else if (cJSON_IsNumber(x)) snprintf(env->id, sizeof env->id, "%.17g", x->valuedouble);
  }
  if ((x = cJSON_GetObjectItem(j, "client")) && cJSON_IsString(x)) {
    snprintf(env->client, sizeof env->client, "%s", x->valuestring);
    /* A client id becomes one topic level: no separators or wildcards. */
    for (char *p = env->client; *p; p++)
      if (*p == '/' || *p == '+' || *p == '#') *p = '_';
  }
  if ((x = cJSON_GetObjectItem(j, "top_k")) && cJSON_IsNumber(x) && x->valuedouble > 0)
    env->top_k = x->valuedouble > 1000 ? 1000 : (int)x->valuedouble;
  const cJSON *data = cJSON_GetObjectItem(j, "data");
  if (cJSON_IsString(data)) {
    const cJSON *ct = cJSON_GetObjectItem(j, "content_type");
    env->kind = cJSON_IsString(ct) ? serve_body_kind(ct->valuestring) : BODY_IMAGE;
    if (!env->kind) rc = fail(err, es, 415, "unsupported content_type");
    else if (!(env->body = b64_decode(data->valuestring, &env->body_len)))
      rc = fail(err, es, 400, "\"data\" is not valid base64");
  } else if (cJSON_GetObjectItem(j, "instances") || cJSON_GetObjectItem(j, "inputs")) {
    env->kind = BODY_JSON;
    env->body = malloc(len ? len : 1);
    if (env->body) memcpy(env->body, payload, len), env->body_len = len;
    else rc = fail(err, es, 500, "out of memory");
  } else {
    rc = fail(err, es, 400, "envelope has neither \"data\" (base64) nor \"instances\"");
  }
  cJSON_Delete(j);
  return rc;
}

void serve_envelope_free(serve_envelope *env) {
  free(env->body);
  memset(env, 0, sizeof *env);
}
