/*
 * tfjs.c: TensorFlow.js model.json -> lg_graph (see tfjs.h).
 *
 * This file holds what both formats share (weights, tensor references with
 * their layouts, the helpers that emit ONNX nodes) and the graph-model
 * importer; the Keras layers-model importer is tfjs_layers.c.
 */
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/onnx.h"
#include "formats/tfjs_internal.h"
#include "ops/op.h"

#define TF_OPSET 13
#define MAX_NODE_ATTRS 10

/* ---- name map ---- */

/* ---- values and nodes ---- */

static int new_value(tfjs_im *im, const char *name) {
  int v = lg_graph_add_value(im->g, name);
  return v;
}

int tf_node(tfjs_im *im, const char *op_type, const char *hint, int n_in, const int *ins, int n_out,
            int *outs) {
  const char *domain = !strncmp(op_type, "Tf", 2) ? "ledge.tf" : "";
  const lg_op_def *def = lg_op_find(domain, op_type);
  if (!def) {
    lg_error(LEDGE_ERR_UNSUPPORTED, "operator %s is not available (needed for '%s')", op_type,
             hint);
    return -1;
  }
  lg_graph *g = im->g;
  int ni = lg_graph_add_node(g, op_type, n_in, n_out);
  if (ni < 0) return -1;
  lg_node *node = &g->nodes[ni];
  node->op = def;
  node->domain = domain;
  node->opset = TF_OPSET;
  node->name = lg_pool_strndup(g->pool, hint, strlen(hint));
  node->attrs = lg_pool_alloc(g->pool, sizeof(lg_attr) * MAX_NODE_ATTRS);
  if (!node->name || !node->attrs) {
    TF_NOMEM();
    return -1;
  }
  for (int i = 0; i < n_in; i++) node->in[i] = ins[i];
  for (int k = 0; k < n_out; k++) {
    char nm[512];
    if (k == 0)
      snprintf(nm, sizeof nm, "%s", hint);
    else
      snprintf(nm, sizeof nm, "%s:%d", hint, k);
    int v = new_value(im, nm);
    if (v < 0) return -1;
    g->values[v].producer = ni;
    g->nodes[ni].out[k] = v;
    if (outs) outs[k] = v;
  }
  return ni;
}

int tf_op1(tfjs_im *im, const char *op_type, const char *hint, int n_in, const int *ins) {
  int out;
  for (int i = 0; i < n_in; i++)
    if (ins[i] < -1) return -1; /* an earlier step failed */
  if (tf_node(im, op_type, hint, n_in, ins, 1, &out) < 0) return -1;
  return out;
}

static lg_attr *new_attr(tfjs_im *im, int node, const char *name, lg_attr_type type) {
  lg_node *n = &im->g->nodes[node];
  if (n->n_attrs >= MAX_NODE_ATTRS) {
    lg_error(LEDGE_ERR_INTERNAL, "too many attributes on '%s'", n->name);
    return NULL;
  }
  lg_attr *a = &n->attrs[n->n_attrs++];
  memset(a, 0, sizeof *a);
  a->name = name;
  a->type = type;
  return a;
}

lg_status tf_attr_int(tfjs_im *im, int node, const char *name, int64_t v) {
  lg_attr *a = new_attr(im, node, name, LG_ATTR_INT);
  if (!a) return LEDGE_ERR_INTERNAL;
  a->i = v;
  return LEDGE_OK;
}

lg_status tf_attr_float(tfjs_im *im, int node, const char *name, float v) {
  lg_attr *a = new_attr(im, node, name, LG_ATTR_FLOAT);
  if (!a) return LEDGE_ERR_INTERNAL;
  a->f = v;
  return LEDGE_OK;
}

lg_status tf_attr_str(tfjs_im *im, int node, const char *name, const char *v) {
  lg_attr *a = new_attr(im, node, name, LG_ATTR_STRING);
  if (!a) return LEDGE_ERR_INTERNAL;
  a->s = v; /* callers pass string literals */
  return LEDGE_OK;
}

lg_status tf_attr_ints(tfjs_im *im, int node, const char *name, int n, const int64_t *v) {
  lg_attr *a = new_attr(im, node, name, LG_ATTR_INTS);
  if (!a) return LEDGE_ERR_INTERNAL;
  a->n = n;
  a->ints = lg_pool_alloc(im->g->pool, sizeof(int64_t) * (size_t)(n + 1));
  if (!a->ints) return TF_NOMEM();
  memcpy(a->ints, v, sizeof(int64_t) * (size_t)n);
  return LEDGE_OK;
}

/* ---- constants ---- */

const lg_tensor *tf_const(const tfjs_im *im, int v) {
  if (v < 0 || v >= im->g->n_values) return NULL;
  const lg_value *val = &im->g->values[v];
  return val->kind == LG_VALUE_CONSTANT && val->t.data ? &val->t : NULL;
}

int tf_const_new(tfjs_im *im, const char *hint, ledge_dtype dt, int rank, const int64_t *dims,
                 const void *data) {
  char nm[512];
  snprintf(nm, sizeof nm, "%s#c%d", hint, im->uniq++);
  int v = new_value(im, nm);
  if (v < 0) return -1;
  lg_value *val = &im->g->values[v];
  val->kind = LG_VALUE_CONSTANT;
  val->shape_known = true;
  val->t.dtype = dt;
  lg_tensor_set_shape(&val->t, rank, dims);
  if (lg_value_alloc_owned(val) != LEDGE_OK) return -1;
  if (data) memcpy(val->owned, data, lg_tensor_bytes(&val->t));
  return v;
}

int tf_const_i64(tfjs_im *im, int n, const int64_t *vals) {
  int64_t d = n;
  return tf_const_new(im, "ints", LEDGE_INT64, 1, &d, vals);
}

int tf_const_f32_scalar(tfjs_im *im, float v) {
  return tf_const_new(im, "scalar", LEDGE_FLOAT32, 0, NULL, &v);
}

int tf_const_ints(const tfjs_im *im, int v, int64_t *vals, int max) {
  const lg_tensor *t = tf_const(im, v);
  if (!t || (t->dtype != LEDGE_INT32 && t->dtype != LEDGE_INT64)) return -1;
  int64_t n = lg_tensor_count(t);
  if (n < 0 || n > max) return -1;
  for (int64_t i = 0; i < n; i++) vals[i] = lg_tensor_get_int(t, i);
  return (int)n;
}

int tf_const_permute(tfjs_im *im, int v, const int *perm, bool to4) {
  const lg_tensor *t = tf_const(im, v);
  if (!t) return -1;
  int rank = t->rank;
  int64_t dims[4];
  if (rank > 4 || (!to4 && rank != 4)) {
    lg_error(LEDGE_ERR_INTERNAL, "cannot permute a rank-%d constant", rank);
    return -1;
  }
  for (int i = 0; i < 4; i++) dims[i] = i < 4 - rank ? 1 : t->dims[i - (4 - rank)];
  int64_t odims[4];
  for (int i = 0; i < 4; i++) odims[i] = dims[perm[i]];
  int o = tf_const_new(im, im->g->values[v].name, t->dtype, 4, odims, NULL);
  if (o < 0) return -1;
  t = tf_const(im, v); /* values may have moved */
  size_t es = ledge_dtype_size(t->dtype);
  const uint8_t *src = t->data;
  uint8_t *dst = im->g->values[o].owned;
  int64_t st[4] = {dims[1] * dims[2] * dims[3], dims[2] * dims[3], dims[3], 1};
  int64_t k = 0;
  for (int64_t a = 0; a < odims[0]; a++)
    for (int64_t b = 0; b < odims[1]; b++)
      for (int64_t c = 0; c < odims[2]; c++)
        for (int64_t d = 0; d < odims[3]; d++, k++) {
          int64_t idx[4] = {a, b, c, d}, off = 0;
          for (int i = 0; i < 4; i++) off += idx[i] * st[perm[i]];
          memcpy(dst + (size_t)k * es, src + (size_t)off * es, es);
        }
  return o;
}

/* ---- tensor references ---- */

int tf_ref_add(tfjs_im *im, const char *name, int nhwc, int nchw, int rank) {
  if (im->n_refs == im->cap_refs) {
    int ncap = im->cap_refs ? im->cap_refs * 2 : 256;
    tf_ref *nr = realloc(im->refs, sizeof *nr * (size_t)ncap);
    if (!nr) {
      TF_NOMEM();
      return -1;
    }
    im->refs = nr;
    im->cap_refs = ncap;
  }
  char *key = lg_pool_strndup(im->g->pool, name, strlen(name));
  if (!key) {
    TF_NOMEM();
    return -1;
  }
  int r = im->n_refs++;
  im->refs[r] = (tf_ref){nhwc, nchw, rank};
  if (!lg_name_map_put(&im->tensors, key, r)) {
    TF_NOMEM();
    return -1;
  }
  return r;
}

tf_ref *tf_ref_get(tfjs_im *im, const char *name) {
  int r = lg_name_map_get(&im->tensors, name);
  return r < 0 ? NULL : &im->refs[r];
}

static int transpose4(tfjs_im *im, int v, const int64_t *perm, const char *suffix) {
  char hint[512];
  snprintf(hint, sizeof hint, "%s%s", im->g->values[v].name, suffix);
  int out;
  int n = tf_node(im, "Transpose", hint, 1, &v, 1, &out);
  if (n < 0 || tf_attr_ints(im, n, "perm", 4, perm) != LEDGE_OK) return -1;
  return out;
}

int tf_nhwc(tfjs_im *im, tf_ref *r) {
  if (r->nhwc >= 0) return r->nhwc;
  if (r->nchw < 0) {
    lg_error(LEDGE_ERR_INTERNAL, "tensor has no value");
    return -1;
  }
  static const int64_t to_nhwc[4] = {0, 2, 3, 1};
  const char *nm = im->g->values[r->nchw].name;
  char hint[512];
  size_t len = strlen(nm);
  /* "x#nchw" becomes "x" again. */
  if (len > 5 && !strcmp(nm + len - 5, "#nchw"))
    snprintf(hint, sizeof hint, "%.*s", (int)(len - 5), nm);
  else
    snprintf(hint, sizeof hint, "%s#nhwc", nm);
  int out;
  int n = tf_node(im, "Transpose", hint, 1, &r->nchw, 1, &out);
  if (n < 0 || tf_attr_ints(im, n, "perm", 4, to_nhwc) != LEDGE_OK) return -1;
  r->nhwc = out;
  return out;
}

int tf_nchw(tfjs_im *im, tf_ref *r) {
  if (r->nchw >= 0) return r->nchw;
  static const int64_t to_nchw[4] = {0, 3, 1, 2};
  if (r->rank != 4) {
    lg_error(LEDGE_ERR_UNSUPPORTED, "'%s' must be a 4-D NHWC tensor here",
             im->g->values[r->nhwc].name);
    return -1;
  }
  const lg_tensor *c = tf_const(im, r->nhwc);
  if (c) {
    static const int p[4] = {0, 3, 1, 2};
    r->nchw = tf_const_permute(im, r->nhwc, p, false);
    return r->nchw;
  }
  r->nchw = transpose4(im, r->nhwc, to_nchw, "#nchw");
  return r->nchw;
}

/* ---- activations and convolution ---- */

int tf_apply_act(tfjs_im *im, int x, tf_act act, float alpha, const char *hint) {
  int ins[3] = {x, -1, -1};
  switch (act) {
    case TF_ACT_NONE: return x;
    case TF_ACT_RELU: return tf_op1(im, "Relu", hint, 1, ins);
    case TF_ACT_SIGMOID: return tf_op1(im, "Sigmoid", hint, 1, ins);
    case TF_ACT_TANH: return tf_op1(im, "Tanh", hint, 1, ins);
    case TF_ACT_ELU: return tf_op1(im, "Elu", hint, 1, ins);
    case TF_ACT_RELU6:
    case TF_ACT_CLIP:
      ins[1] = tf_const_f32_scalar(im, 0.0f);
      ins[2] = tf_const_f32_scalar(im, act == TF_ACT_RELU6 ? 6.0f : alpha);
      return tf_op1(im, "Clip", hint, 3, ins);
    case TF_ACT_LEAKY: {
      int out;
      int n = tf_node(im, "LeakyRelu", hint, 1, ins, 1, &out);
      if (n < 0 || tf_attr_float(im, n, "alpha", alpha) != LEDGE_OK) return -1;
      return out;
    }
    case TF_ACT_HARD_SIGMOID: {
      int out;
      int n = tf_node(im, "HardSigmoid", hint, 1, ins, 1, &out);
      if (n < 0 || tf_attr_float(im, n, "alpha", 0.2f) != LEDGE_OK) return -1;
      return out;
    }
    case TF_ACT_SWISH: {
      char h[512];
      snprintf(h, sizeof h, "%s/sigmoid", hint);
      ins[1] = tf_op1(im, "Sigmoid", h, 1, ins);
      return tf_op1(im, "Mul", hint, 2, ins);
    }
    case TF_ACT_SOFTMAX: {
      int out;
      int n = tf_node(im, "Softmax", hint, 1, ins, 1, &out);
      if (n < 0 || tf_attr_int(im, n, "axis", -1) != LEDGE_OK) return -1;
      return out;
    }
  }
  return -1;
}

int tf_conv(tfjs_im *im, int x, int filter, int bias, int kind, const int64_t strides[2],
            const int64_t dil[2], bool same, const int64_t *pads, const char *hint) {
  const lg_tensor *f = tf_const(im, filter);
  if (!f || f->rank != 4 || f->dtype != LEDGE_FLOAT32) {
    lg_error(LEDGE_ERR_UNSUPPORTED, "'%s': the filter must be a constant 4-D float tensor", hint);
    return -1;
  }
  int64_t H = f->dims[0], W = f->dims[1], I = f->dims[2], O = f->dims[3];
  int64_t odims[4], group = 1;
  if (kind == 0) {
    odims[0] = O, odims[1] = I;
  } else {
    odims[0] = I * O, odims[1] = 1, group = I;
  }
  odims[2] = H, odims[3] = W;
  char h[512];
  snprintf(h, sizeof h, "%s/weights", hint);
  int w = tf_const_new(im, h, LEDGE_FLOAT32, 4, odims, NULL);
  if (w < 0) return -1;
  f = tf_const(im, filter);
  const float *src = f->data;
  float *dst = im->g->values[w].owned;
  for (int64_t y = 0; y < H; y++)
    for (int64_t xx = 0; xx < W; xx++)
      for (int64_t i = 0; i < I; i++)
        for (int64_t o = 0; o < O; o++) {
          float val = src[((y * W + xx) * I + i) * O + o];
          if (kind == 0)
            dst[((o * I + i) * H + y) * W + xx] = val;
          else
            dst[((i * O + o) * H + y) * W + xx] = val;
        }
  int ins[3] = {x, w, bias};
  int out;
  int n = tf_node(im, "Conv", hint, bias >= 0 ? 3 : 2, ins, 1, &out);
  if (n < 0) return -1;
  int64_t ks[2] = {H, W};
  if (tf_attr_ints(im, n, "kernel_shape", 2, ks) || tf_attr_ints(im, n, "strides", 2, strides) ||
      tf_attr_ints(im, n, "dilations", 2, dil) || tf_attr_int(im, n, "group", group))
    return -1;
  if (pads) {
    int64_t p[4] = {pads[0], pads[1], pads[2], pads[3]};
    if (tf_attr_ints(im, n, "pads", 4, p)) return -1;
  } else if (tf_attr_str(im, n, "auto_pad", same ? "SAME_UPPER" : "VALID")) {
    return -1;
  }
  return out;
}

/* ---- base64 (attribute strings in proto3 JSON are bytes) ---- */

static int b64val(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

/* Decodes into out (NUL-terminated, at most size-1 bytes); false if invalid. */
static bool b64_decode(const char *s, char *out, size_t size) {
  size_t k = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (; *s && *s != '='; s++) {
    int v = b64val(*s);
    if (v < 0) return false;
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (k + 1 >= size) return false;
      out[k++] = (char)((acc >> bits) & 0xFF);
    }
  }
  out[k] = 0;
  return true;
}

/* ---- weights ---- */

static bool safe_rel_path(const char *p) {
  if (!*p || p[0] == '/' || strstr(p, "..") || strchr(p, '\\')) return false;
  return true;
}

static lg_status read_file(const char *path, uint8_t **data, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return lg_error(LEDGE_ERR_IO, "cannot open weight file '%s': %s", path, strerror(errno));
  if (fseek(f, 0, SEEK_END) != 0) {
    fclose(f);
    return lg_error(LEDGE_ERR_IO, "cannot read '%s'", path);
  }
  long n = ftell(f);
  if (n < 0) {
    fclose(f);
    return lg_error(LEDGE_ERR_IO, "cannot read '%s'", path);
  }
  rewind(f);
  *size = (size_t)n;
  *data = malloc(*size ? *size : 1);
  if (!*data) {
    fclose(f);
    return TF_NOMEM();
  }
  if (*size && fread(*data, 1, *size, f) != *size) {
    fclose(f);
    free(*data);
    return lg_error(LEDGE_ERR_IO, "cannot read '%s'", path);
  }
  fclose(f);
  return LEDGE_OK;
}

static lg_status parse_dims(const lg_json *shape, int *rank, int64_t *dims, const char *what) {
  if (!shape || shape->type != LG_JSON_ARRAY) return TF_FORMAT("%s has no shape", what);
  if (shape->n > LEDGE_MAX_RANK)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s has more than %d dimensions", what, LEDGE_MAX_RANK);
  for (int i = 0; i < shape->n; i++) {
    if (!lg_json_int(&shape->items[i], &dims[i]) || dims[i] < 0 || dims[i] > ((int64_t)1 << 40))
      return TF_FORMAT("%s has a bad dimension", what);
  }
  *rank = shape->n;
  int64_t c = lg_shape_count(*rank, dims);
  if (c < 0 || c > ((int64_t)1 << 34)) return TF_FORMAT("%s is too large", what);
  return LEDGE_OK;
}

/* Decodes one manifest entry at buf[*off...] into a new constant value. */
static lg_status load_weight(tfjs_im *im, const lg_json *w, const uint8_t *buf, size_t size,
                             size_t *off) {
  const char *name = lg_json_str(lg_json_get(w, "name"));
  const char *dtype = lg_json_str(lg_json_get(w, "dtype"));
  if (!name || !*name || !dtype)
    return TF_FORMAT("weights manifest: an entry has no name or dtype");
  int rank = 0;
  int64_t dims[LEDGE_MAX_RANK];
  char what[300];
  snprintf(what, sizeof what, "weight '%s'", name);
  LG_TRY(parse_dims(lg_json_get(w, "shape"), &rank, dims, what));
  int64_t count = lg_shape_count(rank, dims);
  ledge_dtype dt;
  if (!strcmp(dtype, "float32"))
    dt = LEDGE_FLOAT32;
  else if (!strcmp(dtype, "int32"))
    dt = LEDGE_INT32;
  else if (!strcmp(dtype, "bool"))
    dt = LEDGE_BOOL;
  else
    return lg_error(LEDGE_ERR_UNSUPPORTED, "weight '%s' has dtype %s, which is not supported", name,
                    dtype);
  const lg_json *q = lg_json_get(w, "quantization");
  const char *qdt = q ? lg_json_str(lg_json_get(q, "dtype")) : NULL;
  if (q && !qdt) return TF_FORMAT("weight '%s': quantization has no dtype", name);
  size_t es;
  int qkind = 0; /* 0 raw, 1 uint8, 2 uint16, 3 float16 */
  if (!q)
    es = dt == LEDGE_BOOL ? 1 : 4;
  else if (!strcmp(qdt, "uint8"))
    es = 1, qkind = 1;
  else if (!strcmp(qdt, "uint16"))
    es = 2, qkind = 2;
  else if (!strcmp(qdt, "float16"))
    es = 2, qkind = 3;
  else
    return lg_error(LEDGE_ERR_UNSUPPORTED, "weight '%s': quantization dtype %s is not supported",
                    name, qdt);
  double qmin = 0, qscale = 1;
  if (qkind == 1 || qkind == 2) {
    if (!lg_json_double(lg_json_get(q, "min"), &qmin) ||
        !lg_json_double(lg_json_get(q, "scale"), &qscale))
      return TF_FORMAT("weight '%s': quantization needs min and scale", name);
  }
  if ((uint64_t)count > (SIZE_MAX / 8) || (size_t)count * es > size - *off)
    return TF_FORMAT("weight '%s' needs %lld bytes past offset %zu but the shards hold %zu", name,
                     (long long)((uint64_t)count * es), *off, size);
  const uint8_t *p = buf + *off;
  *off += (size_t)count * es;
  char *vname = lg_pool_strndup(im->g->pool, name, strlen(name));
  if (!vname) return TF_NOMEM();
  int v = new_value(im, vname);
  if (v < 0) return LEDGE_ERR_NO_MEMORY;
  lg_value *val = &im->g->values[v];
  val->kind = LG_VALUE_CONSTANT;
  val->shape_known = true;
  val->t.dtype = dt;
  lg_tensor_set_shape(&val->t, rank, dims);
  LG_TRY(lg_value_alloc_owned(val));
  void *dst = val->owned;
  for (int64_t i = 0; i < count; i++) {
    double x;
    if (qkind == 0) {
      if (dt == LEDGE_BOOL) {
        ((uint8_t *)dst)[i] = p[i] != 0;
        continue;
      }
      memcpy((uint8_t *)dst + i * 4, p + i * 4, 4);
      if (dt == LEDGE_FLOAT32 && fabsf(((float *)dst)[i]) < FLT_MIN) ((float *)dst)[i] = 0.0f;
      continue;
    } else if (qkind == 1) {
      x = p[i] * qscale + qmin;
    } else if (qkind == 2) {
      uint16_t u;
      memcpy(&u, p + i * 2, 2);
      x = u * qscale + qmin;
    } else {
      uint16_t u;
      memcpy(&u, p + i * 2, 2);
      x = lg_half_to_float(u);
    }
    if (dt == LEDGE_FLOAT32) {
      float f = (float)x;
      /* Subnormal weights change nothing but make float math crawl. */
      ((float *)dst)[i] = fabsf(f) < FLT_MIN ? 0.0f : f;
    } else if (dt == LEDGE_INT32)
      ((int32_t *)dst)[i] = (int32_t)lrint(x);
    else
      ((uint8_t *)dst)[i] = x != 0;
  }
  if (!lg_name_map_put(&im->weights, vname, v)) return TF_NOMEM();
  return LEDGE_OK;
}

static lg_status load_weights(tfjs_im *im, const lg_json *manifest) {
  if (!manifest) return LEDGE_OK;
  if (manifest->type != LG_JSON_ARRAY) return TF_FORMAT("weightsManifest is not a list");
  for (int gi = 0; gi < manifest->n; gi++) {
    const lg_json *group = &manifest->items[gi];
    const lg_json *paths = lg_json_get(group, "paths");
    const lg_json *weights = lg_json_get(group, "weights");
    if (!paths || paths->type != LG_JSON_ARRAY || !weights || weights->type != LG_JSON_ARRAY)
      return TF_FORMAT("weightsManifest group %d needs 'paths' and 'weights' lists", gi);
    if (weights->n == 0) continue;
    if (!im->base_dir)
      return lg_error(
          LEDGE_ERR_UNSUPPORTED,
          "the model's weights are in shard files, which a model loaded from memory cannot read");
    uint8_t *buf = NULL;
    size_t size = 0;
    lg_status st = LEDGE_OK;
    for (int pi = 0; pi < paths->n && st == LEDGE_OK; pi++) {
      const char *rel = lg_json_str(&paths->items[pi]);
      if (!rel || !safe_rel_path(rel)) {
        st = TF_FORMAT("weight shard path '%s' leaves the model's folder", rel ? rel : "?");
        break;
      }
      char path[PATH_MAX];
      snprintf(path, sizeof path, "%s/%s", im->base_dir, rel);
      uint8_t *part = NULL;
      size_t n = 0;
      st = read_file(path, &part, &n);
      if (st != LEDGE_OK) break;
      uint8_t *nb = size + n > size ? realloc(buf, size + n + 1) : NULL;
      if (!nb) {
        free(part);
        st = TF_NOMEM();
        break;
      }
      buf = nb;
      memcpy(buf + size, part, n);
      size += n;
      free(part);
    }
    size_t off = 0;
    for (int wi = 0; wi < weights->n && st == LEDGE_OK; wi++)
      st = load_weight(im, &weights->items[wi], buf, size, &off);
    free(buf);
    LG_TRY(st);
  }
  return LEDGE_OK;
}

/* ---- graph models: TF node attributes ---- */

static const lg_json *attr(const lg_json *node, const char *name) {
  return lg_json_get(lg_json_get(node, "attr"), name);
}

static int64_t attr_i(const lg_json *node, const char *name, int64_t def) {
  int64_t v;
  return lg_json_int(lg_json_get(attr(node, name), "i"), &v) ? v : def;
}

static float attr_f(const lg_json *node, const char *name, float def) {
  double v;
  return lg_json_double(lg_json_get(attr(node, name), "f"), &v) ? (float)v : def;
}

static bool attr_b(const lg_json *node, const char *name, bool def) {
  const lg_json *b = lg_json_get(attr(node, name), "b");
  if (!b) return def;
  return b->type == LG_JSON_TRUE;
}

/* A string attribute (base64 bytes) decoded into buf; def if absent. */
static const char *attr_s(const lg_json *node, const char *name, char *buf, size_t size,
                          const char *def) {
  const char *s = lg_json_str(lg_json_get(attr(node, name), "s"));
  if (!s || !b64_decode(s, buf, size)) return def;
  return buf;
}

static int attr_list_i(const lg_json *node, const char *name, int64_t *vals, int max) {
  const lg_json *l = lg_json_get(lg_json_get(attr(node, name), "list"), "i");
  if (!l) return lg_json_get(attr(node, name), "list") ? 0 : -1;
  if (l->type != LG_JSON_ARRAY || l->n > max) return -1;
  for (int i = 0; i < l->n; i++)
    if (!lg_json_int(&l->items[i], &vals[i])) return -1;
  return l->n;
}

static ledge_dtype tf_dtype(const char *s) {
  if (!s) return LEDGE_DTYPE_UNDEFINED;
  static const struct {
    const char *n;
    ledge_dtype d;
  } map[] = {{"DT_FLOAT", LEDGE_FLOAT32}, {"DT_INT32", LEDGE_INT32},    {"DT_INT64", LEDGE_INT64},
             {"DT_BOOL", LEDGE_BOOL},     {"DT_UINT8", LEDGE_UINT8},    {"DT_INT8", LEDGE_INT8},
             {"DT_HALF", LEDGE_FLOAT16},  {"DT_DOUBLE", LEDGE_FLOAT64}, {"DT_INT16", LEDGE_INT16}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (!strcmp(map[i].n, s)) return map[i].d;
  return LEDGE_DTYPE_UNDEFINED;
}

static ledge_dtype attr_type(const lg_json *node, const char *name) {
  return tf_dtype(lg_json_str(lg_json_get(attr(node, name), "type")));
}

/* ---- graph models: operator table ---- */

typedef struct gctx {
  tfjs_im *im;
  const lg_json *node;
  const char *name; /* the TF node name = its output tensor name */
  const char *op;
  tf_ref *in[64];
  int n_in;
} gctx;

typedef lg_status (*op_fn)(gctx *c);

/* Registers output k of the current node. */
static lg_status set_out(gctx *c, int k, int nhwc, int nchw, int rank) {
  if ((nhwc < 0 && nchw < 0)) return LEDGE_ERR_INTERNAL;
  char nm[512];
  if (k == 0)
    snprintf(nm, sizeof nm, "%s", c->name);
  else
    snprintf(nm, sizeof nm, "%s:%d", c->name, k);
  return tf_ref_add(c->im, nm, nhwc, nchw, rank) < 0 ? LEDGE_ERR_NO_MEMORY : LEDGE_OK;
}

static lg_status need_inputs(gctx *c, int n) {
  if (c->n_in < n)
    return TF_FORMAT("node '%s' (%s) needs %d inputs, has %d", c->name, c->op, n, c->n_in);
  return LEDGE_OK;
}

#define CHECK_V(v)                        \
  do {                                    \
    if ((v) < 0) return LEDGE_ERR_FORMAT; \
  } while (0)

/* hint names: the NHWC output takes the TF name, the NCHW one "name#nchw". */
static void hint_nchw(gctx *c, char *buf, size_t size) { snprintf(buf, size, "%s#nchw", c->name); }

static tf_act act_from_name(const char *s) {
  if (!strcmp(s, "Relu")) return TF_ACT_RELU;
  if (!strcmp(s, "Relu6")) return TF_ACT_RELU6;
  if (!strcmp(s, "Sigmoid")) return TF_ACT_SIGMOID;
  if (!strcmp(s, "Tanh")) return TF_ACT_TANH;
  if (!strcmp(s, "Elu")) return TF_ACT_ELU;
  if (!strcmp(s, "LeakyRelu")) return TF_ACT_LEAKY;
  return TF_ACT_NONE;
}

/* A 1-D per-channel constant made ready to broadcast against NCHW: [C,1,1]. */
static int channel_const_nchw(tfjs_im *im, int v) {
  const lg_tensor *t = tf_const(im, v);
  if (!t) return -1;
  if (lg_tensor_count(t) == 1) return v;
  static const int p[4] = {0, 3, 1, 2};
  return tf_const_permute(im, v, p, true);
}

static lg_status op_conv(gctx *c) {
  tfjs_im *im = c->im;
  bool fused = c->op[0] == '_' || !strncmp(c->op, "Fused", 5);
  bool depthwise = strstr(c->op, "Depthwise") != NULL;
  LG_TRY(need_inputs(c, 2));
  char buf[64], fmt[16];
  const char *df = attr_s(c->node, "data_format", fmt, sizeof fmt, "NHWC");
  if (strcmp(df, "NHWC"))
    return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s' (%s): data_format %s is not supported",
                    c->name, c->op, df);
  int64_t st[8] = {1, 1, 1, 1}, dl[8] = {1, 1, 1, 1}, ep[16];
  if (attr_list_i(c->node, "strides", st, 8) < 0) st[1] = st[2] = 1;
  int nd = attr_list_i(c->node, "dilations", dl, 8);
  if (nd != 4) dl[1] = dl[2] = 1;
  const char *pad = attr_s(c->node, "padding", buf, sizeof buf, "VALID");
  int64_t pads[4];
  bool explicit_pad = !strcmp(pad, "EXPLICIT");
  if (explicit_pad) {
    if (attr_list_i(c->node, "explicit_paddings", ep, 16) != 8)
      return TF_FORMAT("node '%s': explicit_paddings needs 8 values", c->name);
    pads[0] = ep[2], pads[1] = ep[4], pads[2] = ep[3], pads[3] = ep[5];
  } else if (strcmp(pad, "SAME") && strcmp(pad, "VALID")) {
    return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s': padding %s is not supported", c->name, pad);
  }
  int x = tf_nchw(im, c->in[0]);
  CHECK_V(x);
  int bias = -1;
  tf_act act = TF_ACT_NONE;
  int prelu = -1;
  bool bn = false;
  if (fused) {
    const lg_json *ops = lg_json_get(lg_json_get(attr(c->node, "fused_ops"), "list"), "s");
    int n_ops = ops && ops->type == LG_JSON_ARRAY ? ops->n : 0;
    for (int i = 0; i < n_ops; i++) {
      char fo[32];
      const char *s = lg_json_str(&ops->items[i]);
      if (!s || !b64_decode(s, fo, sizeof fo))
        return TF_FORMAT("node '%s': bad fused_ops", c->name);
      if (!strcmp(fo, "BiasAdd") || !strcmp(fo, "Add")) {
        LG_TRY(need_inputs(c, 3));
        bias = c->in[2]->nhwc;
        if (!tf_const(im, bias) || tf_const(im, bias)->rank != 1) {
          return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s': the fused bias must be a 1-D constant",
                          c->name);
        }
      } else if (!strcmp(fo, "FusedBatchNorm")) {
        LG_TRY(need_inputs(c, 6));
        bn = true;
      } else if (!strcmp(fo, "Prelu")) {
        LG_TRY(need_inputs(c, 4));
        prelu = c->in[3]->nhwc;
      } else if ((act = act_from_name(fo)) == TF_ACT_NONE) {
        return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s' (%s): fused op %s is not supported",
                        c->name, c->op, fo);
      }
    }
  }
  char h[512];
  snprintf(h, sizeof h, "%s/conv", c->name);
  int64_t s2[2] = {st[1], st[2]}, d2[2] = {dl[1], dl[2]};
  int y = tf_conv(im, x, c->in[1]->nhwc, bias, depthwise ? 1 : 0, s2, d2, !strcmp(pad, "SAME"),
                  explicit_pad ? pads : NULL,
                  (act == TF_ACT_NONE && prelu < 0 && !bn) ? (hint_nchw(c, h, sizeof h), h) : h);
  CHECK_V(y);
  if (bn) {
    int ins[5] = {y, c->in[2]->nhwc, c->in[3]->nhwc, c->in[4]->nhwc, c->in[5]->nhwc};
    int out;
    snprintf(h, sizeof h, "%s/bn", c->name);
    int n = tf_node(im, "BatchNormalization", h, 5, ins, 1, &out);
    CHECK_V(n);
    LG_TRY(tf_attr_float(im, n, "epsilon", attr_f(c->node, "epsilon", 1e-3f)));
    y = out;
  }
  if (act != TF_ACT_NONE || prelu >= 0) {
    hint_nchw(c, h, sizeof h);
    if (prelu >= 0) {
      int ins[2] = {y, channel_const_nchw(im, prelu)};
      y = tf_op1(im, "PRelu", h, 2, ins);
    } else {
      y = tf_apply_act(im, y, act, attr_f(c->node, "leakyrelu_alpha", 0.2f), h);
    }
    CHECK_V(y);
  }
  return set_out(c, 0, -1, y, 4);
}

static lg_status op_unary(gctx *c) {
  LG_TRY(need_inputs(c, 1));
  static const struct {
    const char *tf, *onnx;
  } map[] = {{"Relu", "Relu"},         {"Sigmoid", "Sigmoid"}, {"Tanh", "Tanh"},
             {"Elu", "Elu"},           {"Exp", "Exp"},         {"Log", "Log"},
             {"Sqrt", "Sqrt"},         {"Neg", "Neg"},         {"Abs", "Abs"},
             {"Floor", "Floor"},       {"Ceil", "Ceil"},       {"Reciprocal", "Reciprocal"},
             {"Round", "Round"},       {"Sign", "Sign"},       {"Softplus", "Softplus"},
             {"Softsign", "Softsign"}, {"Sin", "Sin"},         {"Cos", "Cos"},
             {"LogicalNot", "Not"},    {"Erf", "Erf"}};
  tf_ref *r = c->in[0];
  bool nchw = r->nchw >= 0;
  int x = nchw ? r->nchw : r->nhwc;
  char h[512];
  if (nchw)
    hint_nchw(c, h, sizeof h);
  else
    snprintf(h, sizeof h, "%s", c->name);
  int y = -1;
  tfjs_im *im = c->im;
  if (!strcmp(c->op, "Relu6"))
    y = tf_apply_act(im, x, TF_ACT_RELU6, 0, h);
  else if (!strcmp(c->op, "LeakyRelu"))
    y = tf_apply_act(im, x, TF_ACT_LEAKY, attr_f(c->node, "alpha", 0.2f), h);
  else if (!strcmp(c->op, "Rsqrt")) {
    char h2[600];
    snprintf(h2, sizeof h2, "%s/sqrt", h);
    int s = tf_op1(im, "Sqrt", h2, 1, &x);
    y = tf_op1(im, "Reciprocal", h, 1, &s);
  } else if (!strcmp(c->op, "Square")) {
    int ins[2] = {x, x};
    y = tf_op1(im, "Mul", h, 2, ins);
  } else {
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
      if (!strcmp(map[i].tf, c->op)) y = tf_op1(im, map[i].onnx, h, 1, &x);
  }
  CHECK_V(y);
  return set_out(c, 0, nchw ? -1 : y, nchw ? y : -1, r->rank);
}

/* Operand of an elementwise op in NCHW, or -1 if it cannot be had cheaply. */
static int operand_nchw(tfjs_im *im, tf_ref *r) {
  if (r->nchw >= 0) return r->nchw;
  const lg_tensor *t = tf_const(im, r->nhwc);
  if (t) {
    if (lg_tensor_count(t) == 1 && t->rank <= 4) return r->nhwc;
    if (t->rank > 4) return -1;
    static const int p[4] = {0, 3, 1, 2};
    return tf_const_permute(im, r->nhwc, p, true);
  }
  if (r->rank == 4) return tf_nchw(im, r);
  return -1;
}

static int max_rank(const tf_ref *a, const tf_ref *b) {
  return a->rank < 0 || b->rank < 0 ? -1 : a->rank > b->rank ? a->rank : b->rank;
}

static lg_status binary(gctx *c, const char *onnx, tf_ref *a, tf_ref *b) {
  tfjs_im *im = c->im;
  char h[512];
  bool want_nchw = (a->nchw >= 0 || b->nchw >= 0) && max_rank(a, b) == 4;
  if (want_nchw) {
    int va = operand_nchw(im, a), vb = operand_nchw(im, b);
    if (va >= 0 && vb >= 0) {
      hint_nchw(c, h, sizeof h);
      int ins[2] = {va, vb};
      int y = tf_op1(im, onnx, h, 2, ins);
      CHECK_V(y);
      return set_out(c, 0, -1, y, 4);
    }
    lg_error_clear();
  }
  int ins[2] = {tf_nhwc(im, a), tf_nhwc(im, b)};
  CHECK_V(ins[0]);
  CHECK_V(ins[1]);
  int y = tf_op1(im, onnx, c->name, 2, ins);
  CHECK_V(y);
  return set_out(c, 0, y, -1, max_rank(a, b));
}

static lg_status op_binary(gctx *c) {
  LG_TRY(need_inputs(c, 2));
  static const struct {
    const char *tf, *onnx;
  } map[] = {{"Add", "Add"},
             {"AddV2", "Add"},
             {"BiasAdd", "Add"},
             {"Sub", "Sub"},
             {"Mul", "Mul"},
             {"RealDiv", "Div"},
             {"Div", "Div"},
             {"Maximum", "Max"},
             {"Minimum", "Min"},
             {"Pow", "Pow"},
             {"Equal", "Equal"},
             {"Less", "Less"},
             {"Greater", "Greater"},
             {"LessEqual", "LessOrEqual"},
             {"GreaterEqual", "GreaterOrEqual"},
             {"LogicalAnd", "And"},
             {"LogicalOr", "Or"},
             {"Prelu", "PRelu"}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (!strcmp(map[i].tf, c->op)) return binary(c, map[i].onnx, c->in[0], c->in[1]);
  return lg_error(LEDGE_ERR_INTERNAL, "no mapping for %s", c->op);
}

/* SquaredDifference: (a-b)^2 as Sub then Mul. */
static lg_status op_squared_difference(gctx *c) {
  LG_TRY(need_inputs(c, 2));
  tfjs_im *im = c->im;
  int a = tf_nhwc(im, c->in[0]), b = tf_nhwc(im, c->in[1]);
  CHECK_V(a);
  CHECK_V(b);
  char h[512];
  snprintf(h, sizeof h, "%s/diff", c->name);
  int ins[2] = {a, b};
  int d = tf_op1(im, "Sub", h, 2, ins);
  int sq[2] = {d, d};
  int y = tf_op1(im, "Mul", c->name, 2, sq);
  CHECK_V(y);
  return set_out(c, 0, y, -1, max_rank(c->in[0], c->in[1]));
}

static lg_status op_addn(gctx *c) {
  LG_TRY(need_inputs(c, 1));
  tfjs_im *im = c->im;
  bool nchw = true;
  for (int i = 0; i < c->n_in; i++) nchw &= c->in[i]->nchw >= 0;
  int ins[64];
  for (int i = 0; i < c->n_in; i++) {
    ins[i] = nchw ? c->in[i]->nchw : tf_nhwc(im, c->in[i]);
    CHECK_V(ins[i]);
  }
  char h[512];
  if (nchw)
    hint_nchw(c, h, sizeof h);
  else
    snprintf(h, sizeof h, "%s", c->name);
  int y = tf_op1(im, "Sum", h, c->n_in, ins);
  CHECK_V(y);
  return set_out(c, 0, nchw ? -1 : y, nchw ? y : -1, c->in[0]->rank);
}

static lg_status op_pool(gctx *c) {
  LG_TRY(need_inputs(c, 1));
  tfjs_im *im = c->im;
  int64_t k[8], s[8];
  char buf[32];
  if (attr_list_i(c->node, "ksize", k, 8) != 4 || attr_list_i(c->node, "strides", s, 8) != 4)
    return TF_FORMAT("node '%s' (%s): ksize and strides need 4 values", c->name, c->op);
  const char *pad = attr_s(c->node, "padding", buf, sizeof buf, "VALID");
  int x = tf_nchw(im, c->in[0]);
  CHECK_V(x);
  char h[512];
  hint_nchw(c, h, sizeof h);
  int y;
  int n = tf_node(im, !strcmp(c->op, "MaxPool") ? "MaxPool" : "AveragePool", h, 1, &x, 1, &y);
  CHECK_V(n);
  int64_t ks[2] = {k[1], k[2]}, ss[2] = {s[1], s[2]};
  LG_TRY(tf_attr_ints(im, n, "kernel_shape", 2, ks));
  LG_TRY(tf_attr_ints(im, n, "strides", 2, ss));
  LG_TRY(tf_attr_str(im, n, "auto_pad", !strcmp(pad, "SAME") ? "SAME_UPPER" : "VALID"));
  return set_out(c, 0, -1, y, 4);
}

static const int nhwc_to_nchw_axis[4] = {0, 2, 3, 1};

static lg_status op_reduce(gctx *c) {
  LG_TRY(need_inputs(c, 2));
  tfjs_im *im = c->im;
  int64_t axes[8];
  int na = tf_const_ints(im, c->in[1]->nhwc, axes, 8);
  if (na < 0)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s' (%s): the axes must be constant", c->name,
                    c->op);
  bool keep = attr_b(c->node, "keep_dims", false);
  const char *onnx = !strcmp(c->op, "Mean")  ? "ReduceMean"
                     : !strcmp(c->op, "Sum") ? "ReduceSum"
                     : !strcmp(c->op, "Max") ? "ReduceMax"
                     : !strcmp(c->op, "Min") ? "ReduceMin"
                                             : "ReduceProd";
  tf_ref *r = c->in[0];
  bool nchw = false;
  if (r->nchw >= 0 && r->rank == 4) {
    bool h = false, w = false;
    for (int i = 0; i < na; i++) {
      int64_t a = axes[i] < 0 ? axes[i] + 4 : axes[i];
      h |= a == 1, w |= a == 2;
    }
    nchw = keep || (h && w);
  }
  int64_t oaxes[8];
  for (int i = 0; i < na; i++) {
    int64_t a = axes[i];
    if (nchw) {
      if (a < 0) a += 4;
      if (a < 0 || a > 3) return TF_FORMAT("node '%s': axis out of range", c->name);
      a = nhwc_to_nchw_axis[a];
    }
    oaxes[i] = a;
  }
  int x = nchw ? r->nchw : tf_nhwc(im, r);
  CHECK_V(x);
  char h[512];
  if (nchw && keep)
    hint_nchw(c, h, sizeof h);
  else
    snprintf(h, sizeof h, "%s", c->name);
  int y, n;
  if (!strcmp(onnx, "ReduceSum")) {
    int ins[2] = {x, tf_const_i64(im, na, oaxes)};
    n = tf_node(im, onnx, h, 2, ins, 1, &y);
  } else {
    n = tf_node(im, onnx, h, 1, &x, 1, &y);
    if (n >= 0) LG_TRY(tf_attr_ints(im, n, "axes", na, oaxes));
  }
  CHECK_V(n);
  LG_TRY(tf_attr_int(im, n, "keepdims", keep));
  int rank = r->rank < 0 ? -1 : keep ? r->rank : r->rank - na;
  if (nchw && keep) return set_out(c, 0, -1, y, rank);
  return set_out(c, 0, y, -1, rank);
}

static lg_status op_pad(gctx *c) {
  LG_TRY(need_inputs(c, 2));
  tfjs_im *im = c->im;
  int64_t p[16];
  int np = tf_const_ints(im, c->in[1]->nhwc, p, 16);
  const lg_tensor *pt = tf_const(im, c->in[1]->nhwc);
  if (np < 0 || np % 2 || !pt || pt->rank != 2)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s' (%s): paddings must be a constant [rank, 2]",
                    c->name, c->op);
  int rank = np / 2;
  tf_ref *r = c->in[0];
  bool nchw = r->nchw >= 0 && rank == 4;
  int64_t pads[16];
  for (int i = 0; i < rank; i++) {
    int src = nchw ? (int[]){0, 3, 1, 2}[i] : i;
    pads[i] = p[src * 2], pads[rank + i] = p[src * 2 + 1];
  }
  int ins[3] = {nchw ? r->nchw : tf_nhwc(im, r), tf_const_i64(im, 2 * rank, pads), -1};
  CHECK_V(ins[0]);
  CHECK_V(ins[1]);
  char buf[32];
  const char *mode = "constant";
  if (!strcmp(c->op, "PadV2") && c->n_in >= 3) ins[2] = c->in[2]->nhwc;
  if (!strcmp(c->op, "MirrorPad")) {
    const char *m = attr_s(c->node, "mode", buf, sizeof buf, "REFLECT");
    if (strcmp(m, "REFLECT"))
      return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s': MirrorPad mode %s is not supported",
                      c->name, m);
    mode = "reflect";
  }
  char h[512];
  if (nchw)
    hint_nchw(c, h, sizeof h);
  else
    snprintf(h, sizeof h, "%s", c->name);
  int y;
  int n = tf_node(im, "Pad", h, ins[2] >= 0 ? 3 : 2, ins, 1, &y);
  CHECK_V(n);
  LG_TRY(tf_attr_str(im, n, "mode", mode));
  return set_out(c, 0, nchw ? -1 : y, nchw ? y : -1, rank);
}

/* An int64 version of an integer tensor (constants converted, others cast). */
static int as_i64(tfjs_im *im, tf_ref *r, const char *hint) {
  int v = tf_nhwc(im, r);
  if (v < 0) return -1;
  const lg_tensor *t = tf_const(im, v);
  if (t && t->dtype == LEDGE_INT64) return v;
  if (t) {
    int64_t n = lg_tensor_count(t);
    int o = tf_const_new(im, hint, LEDGE_INT64, t->rank, t->dims, NULL);
    if (o < 0) return -1;
    t = tf_const(im, v);
    for (int64_t i = 0; i < n; i++)
      ((int64_t *)im->g->values[o].owned)[i] = lg_tensor_get_int(t, i);
    return o;
  }
  int y;
  int n = tf_node(im, "Cast", hint, 1, &v, 1, &y);
  if (n < 0 || tf_attr_int(im, n, "to", LEDGE_INT64)) return -1;
  return y;
}

static int cast_to(tfjs_im *im, int v, ledge_dtype dt, const char *hint) {
  int y;
  int n = tf_node(im, "Cast", hint, 1, &v, 1, &y);
  if (n < 0 || tf_attr_int(im, n, "to", dt)) return -1;
  return y;
}

static lg_status op_reshape(gctx *c) {
  LG_TRY(need_inputs(c, 2));
  tfjs_im *im = c->im;
  char h[512];
  snprintf(h, sizeof h, "%s/shape", c->name);
  int ins[2] = {tf_nhwc(im, c->in[0]), as_i64(im, c->in[1], h)};
  CHECK_V(ins[0]);
  CHECK_V(ins[1]);
  int y = tf_op1(im, "Reshape", c->name, 2, ins);
  CHECK_V(y);
  const lg_tensor *s = tf_const(im, ins[1]);
  return set_out(c, 0, y, -1, s && s->rank == 1 ? (int)s->dims[0] : -1);
}

static lg_status op_squeeze(gctx *c) {
  LG_TRY(need_inputs(c, 1));
  tfjs_im *im = c->im;
  int64_t axes[8];
  int na = attr_list_i(c->node, "squeeze_dims", axes, 8);
  if (na < 0) na = attr_list_i(c->node, "axis", axes, 8);
  int ins[2] = {tf_nhwc(im, c->in[0]), na > 0 ? tf_const_i64(im, na, axes) : -1};
  CHECK_V(ins[0]);
  int y = tf_op1(im, "Squeeze", c->name, na > 0 ? 2 : 1, ins);
  CHECK_V(y);
  return set_out(c, 0, y, -1, na > 0 && c->in[0]->rank >= 0 ? c->in[0]->rank - na : -1);
}

static lg_status op_expand_dims(gctx *c) {
  LG_TRY(need_inputs(c, 2));
  tfjs_im *im = c->im;
  int64_t axis[1];
  if (tf_const_ints(im, c->in[1]->nhwc, axis, 1) != 1)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s' (ExpandDims): the axis must be a constant",
                    c->name);
  int ins[2] = {tf_nhwc(im, c->in[0]), tf_const_i64(im, 1, axis)};
  CHECK_V(ins[0]);
  int y = tf_op1(im, "Unsqueeze", c->name, 2, ins);
  CHECK_V(y);
  return set_out(c, 0, y, -1, c->in[0]->rank >= 0 ? c->in[0]->rank + 1 : -1);
}

static lg_status op_concat(gctx *c) {
  LG_TRY(need_inputs(c, 2));
  tfjs_im *im = c->im;
  int n = c->n_in - 1;
  int64_t axis;
  if (tf_const_ints(im, c->in[n]->nhwc, &axis, 1) != 1)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s' (ConcatV2): the axis must be a constant",
                    c->name);
  bool any_nchw = false, all4 = true;
  for (int i = 0; i < n; i++) {
    any_nchw |= c->in[i]->nchw >= 0;
    all4 &= c->in[i]->rank == 4;
  }
  bool nchw = any_nchw && all4;
  int ins[64];
  for (int i = 0; i < n; i++) {
    ins[i] = nchw ? tf_nchw(im, c->in[i]) : tf_nhwc(im, c->in[i]);
    CHECK_V(ins[i]);
  }
  if (nchw) {
    if (axis < 0) axis += 4;
    if (axis < 0 || axis > 3) return TF_FORMAT("node '%s': concat axis out of range", c->name);
    axis = nhwc_to_nchw_axis[axis];
  }
  char h[512];
  if (nchw)
    hint_nchw(c, h, sizeof h);
  else
    snprintf(h, sizeof h, "%s", c->name);
  int y;
  int ni = tf_node(im, "Concat", h, n, ins, 1, &y);
  CHECK_V(ni);
  LG_TRY(tf_attr_int(im, ni, "axis", axis));
  return set_out(c, 0, nchw ? -1 : y, nchw ? y : -1, c->in[0]->rank);
}

static lg_status op_pack(gctx *c) {
  LG_TRY(need_inputs(c, 1));
  tfjs_im *im = c->im;
  int64_t axis = attr_i(c->node, "axis", 0);
  int ins[64];
  for (int i = 0; i < c->n_in; i++) {
    char h[512];
    snprintf(h, sizeof h, "%s/unsqueeze%d", c->name, i);
    int u[2] = {tf_nhwc(im, c->in[i]), tf_const_i64(im, 1, &axis)};
    CHECK_V(u[0]);
    ins[i] = tf_op1(im, "Unsqueeze", h, 2, u);
    CHECK_V(ins[i]);
  }
  int y;
  int n = tf_node(im, "Concat", c->name, c->n_in, ins, 1, &y);
  CHECK_V(n);
  LG_TRY(tf_attr_int(im, n, "axis", axis));
  return set_out(c, 0, y, -1, c->in[0]->rank >= 0 ? c->in[0]->rank + 1 : -1);
}

static lg_status op_unpack(gctx *c) {
  LG_TRY(need_inputs(c, 1));
  tfjs_im *im = c->im;
  int64_t axis = attr_i(c->node, "axis", 0), num = attr_i(c->node, "num", -1);
  if (num < 1 || num > 64)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s' (Unpack): num must be 1..64", c->name);
  int x = tf_nhwc(im, c->in[0]);
  CHECK_V(x);
  int outs[64];
  char h[512];
  snprintf(h, sizeof h, "%s/split", c->name);
  int n = tf_node(im, "Split", h, 1, &x, (int)num, outs);
  CHECK_V(n);
  LG_TRY(tf_attr_int(im, n, "axis", axis));
  for (int k = 0; k < num; k++) {
    char nm[512];
    if (k == 0)
      snprintf(nm, sizeof nm, "%s", c->name);
    else
      snprintf(nm, sizeof nm, "%s:%d", c->name, k);
    int s[2] = {outs[k], tf_const_i64(im, 1, &axis)};
    int y = tf_op1(im, "Squeeze", nm, 2, s);
    CHECK_V(y);
    LG_TRY(set_out(c, k, y, -1, c->in[0]->rank >= 0 ? c->in[0]->rank - 1 : -1));
  }
  return LEDGE_OK;
}

static lg_status op_split(gctx *c) {
  tfjs_im *im = c->im;
  bool v = !strcmp(c->op, "SplitV");
  LG_TRY(need_inputs(c, v ? 3 : 2));
  int64_t axis, sizes[64];
  int num = (int)attr_i(c->node, "num_split", -1);
  if (tf_const_ints(im, c->in[v ? 2 : 0]->nhwc, &axis, 1) != 1)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s' (%s): the axis must be a constant", c->name,
                    c->op);
  int ns = 0;
  if (v) {
    ns = tf_const_ints(im, c->in[1]->nhwc, sizes, 64);
    if (ns < 1)
      return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s' (SplitV): size_splits must be a constant",
                      c->name);
    for (int i = 0; i < ns; i++)
      if (sizes[i] < 0)
        return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s' (SplitV): a -1 size is not supported",
                        c->name);
    num = ns;
  }
  if (num < 1 || num > 64)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s' (%s): 1..64 outputs are supported", c->name,
                    c->op);
  tf_ref *r = c->in[v ? 0 : 1];
  bool nchw = r->nchw >= 0 && r->rank == 4;
  if (nchw) {
    if (axis < 0) axis += 4;
    if (axis < 0 || axis > 3) return TF_FORMAT("node '%s': axis out of range", c->name);
    axis = nhwc_to_nchw_axis[axis];
  }
  int ins[2] = {nchw ? r->nchw : tf_nhwc(im, r), v ? tf_const_i64(im, ns, sizes) : -1};
  CHECK_V(ins[0]);
  int outs[64];
  char h[512];
  if (nchw)
    hint_nchw(c, h, sizeof h);
  else
    snprintf(h, sizeof h, "%s", c->name);
  int n = tf_node(im, "Split", h, v ? 2 : 1, ins, num, outs);
  CHECK_V(n);
  LG_TRY(tf_attr_int(im, n, "axis", axis));
  for (int k = 0; k < num; k++)
    LG_TRY(set_out(c, k, nchw ? -1 : outs[k], nchw ? outs[k] : -1, r->rank));
  return LEDGE_OK;
}

static lg_status op_strided_slice(gctx *c) {
  LG_TRY(need_inputs(c, 4));
  tfjs_im *im = c->im;
  int64_t b[16], e[16], s[16];
  int nb = tf_const_ints(im, c->in[1]->nhwc, b, 16), ne = tf_const_ints(im, c->in[2]->nhwc, e, 16),
      ns = tf_const_ints(im, c->in[3]->nhwc, s, 16);
  if (nb < 0 || nb != ne || nb != ns)
    return lg_error(
        LEDGE_ERR_UNSUPPORTED,
        "node '%s' (StridedSlice): begin, end and strides must be constants of one length",
        c->name);
  int64_t bm = attr_i(c->node, "begin_mask", 0), em = attr_i(c->node, "end_mask", 0);
  int64_t elm = attr_i(c->node, "ellipsis_mask", 0), nam = attr_i(c->node, "new_axis_mask", 0);
  int64_t sam = attr_i(c->node, "shrink_axis_mask", 0);
  const int rank = c->in[0]->rank;
  if (elm && rank < 0)
    return lg_error(LEDGE_ERR_UNSUPPORTED,
                    "node '%s' (StridedSlice): an ellipsis needs the input's rank", c->name);
  /* Walk the spec: a normal or shrinking entry slices the next input dim,
   * the ellipsis skips the dims the other entries leave over (full slices),
   * a new axis consumes no input dim and becomes a size-1 output dim. */
  int real = 0;
  for (int i = 0; i < nb; i++)
    if (!(elm >> i & 1) && !(nam >> i & 1)) real++;
  int64_t starts[16], ends[16], axes[16], steps[16], sq[16], newaxes[16];
  int n = 0, nsq = 0, nnew = 0, dim = 0, out_dim = 0;
  bool seen_ellipsis = false;
  for (int i = 0; i < nb; i++) {
    if (elm >> i & 1) {
      if (seen_ellipsis) return TF_FORMAT("node '%s' (StridedSlice): two ellipses", c->name);
      seen_ellipsis = true;
      int skip = rank - real;
      if (skip < 0)
        return TF_FORMAT("node '%s' (StridedSlice): more slices than input dims", c->name);
      dim += skip, out_dim += skip;
      continue;
    }
    if (nam >> i & 1) {
      newaxes[nnew++] = out_dim++;
      continue;
    }
    if (s[i] == 0) return TF_FORMAT("node '%s' (StridedSlice): stride 0", c->name);
    int64_t st = b[i], en = e[i], step = s[i];
    if (sam >> i & 1) {
      en = st == -1 ? INT64_MAX : st + 1;
      step = 1;
      sq[nsq++] = dim;
    } else {
      if (bm >> i & 1) st = step > 0 ? 0 : INT64_MAX;
      if (em >> i & 1) en = step > 0 ? INT64_MAX : INT64_MIN;
      out_dim++;
    }
    starts[n] = st, ends[n] = en, axes[n] = dim, steps[n] = step;
    n++, dim++;
  }
  if (rank >= 0 && dim > rank)
    return TF_FORMAT("node '%s' (StridedSlice): more slices than input dims", c->name);
  int x = tf_nhwc(im, c->in[0]);
  CHECK_V(x);
  char h[512];
  int y = x;
  if (n) {
    snprintf(h, sizeof h, "%s%s", c->name, nsq || nnew ? "/slice" : "");
    int ins[5] = {x, tf_const_i64(im, n, starts), tf_const_i64(im, n, ends),
                  tf_const_i64(im, n, axes), tf_const_i64(im, n, steps)};
    y = tf_op1(im, "Slice", h, 5, ins);
    CHECK_V(y);
  }
  if (nsq) {
    snprintf(h, sizeof h, "%s%s", c->name, nnew ? "/squeeze" : "");
    int q[2] = {y, tf_const_i64(im, nsq, sq)};
    y = tf_op1(im, "Squeeze", h, 2, q);
    CHECK_V(y);
  }
  if (nnew) {
    int q[2] = {y, tf_const_i64(im, nnew, newaxes)};
    y = tf_op1(im, "Unsqueeze", c->name, 2, q);
    CHECK_V(y);
  }
  if (!n && !nsq && !nnew) {
    int ident = tf_op1(im, "Identity", c->name, 1, &x);
    CHECK_V(ident);
    y = ident;
  }
  return set_out(c, 0, y, -1, rank >= 0 ? rank - nsq + nnew : -1);
}

static lg_status op_slice(gctx *c) {
  LG_TRY(need_inputs(c, 3));
  tfjs_im *im = c->im;
  int64_t b[16], sz[16], e[16], axes[16];
  int nb = tf_const_ints(im, c->in[1]->nhwc, b, 16), ns = tf_const_ints(im, c->in[2]->nhwc, sz, 16);
  if (nb < 0 || nb != ns)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s' (Slice): begin and size must be constants",
                    c->name);
  for (int i = 0; i < nb; i++) {
    e[i] = sz[i] < 0 ? INT64_MAX : b[i] + sz[i];
    axes[i] = i;
  }
  int ins[4] = {tf_nhwc(im, c->in[0]), tf_const_i64(im, nb, b), tf_const_i64(im, nb, e),
                tf_const_i64(im, nb, axes)};
  CHECK_V(ins[0]);
  int y = tf_op1(im, "Slice", c->name, 4, ins);
  CHECK_V(y);
  return set_out(c, 0, y, -1, c->in[0]->rank);
}

static lg_status op_transpose(gctx *c) {
  LG_TRY(need_inputs(c, 2));
  tfjs_im *im = c->im;
  int64_t perm[LEDGE_MAX_RANK];
  int np = tf_const_ints(im, c->in[1]->nhwc, perm, LEDGE_MAX_RANK);
  if (np < 0)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s' (Transpose): perm must be a constant",
                    c->name);
  int x = tf_nhwc(im, c->in[0]);
  CHECK_V(x);
  int y;
  int n = tf_node(im, "Transpose", c->name, 1, &x, 1, &y);
  CHECK_V(n);
  LG_TRY(tf_attr_ints(im, n, "perm", np, perm));
  return set_out(c, 0, y, -1, np);
}

static lg_status op_resize(gctx *c) {
  LG_TRY(need_inputs(c, 2));
  tfjs_im *im = c->im;
  bool nearest = !strcmp(c->op, "ResizeNearestNeighbor");
  bool ac = attr_b(c->node, "align_corners", false),
       hp = attr_b(c->node, "half_pixel_centers", false);
  int x = tf_nchw(im, c->in[0]);
  CHECK_V(x);
  char h[512];
  /* sizes = Shape(x)[0:2] ++ size: folds to a constant once shapes are known. */
  snprintf(h, sizeof h, "%s/shape", c->name);
  int shp = tf_op1(im, "Shape", h, 1, &x);
  int64_t z = 0, two = 2;
  snprintf(h, sizeof h, "%s/nc", c->name);
  int sl[3] = {shp, tf_const_i64(im, 1, &z), tf_const_i64(im, 1, &two)};
  int nc = tf_op1(im, "Slice", h, 3, sl);
  snprintf(h, sizeof h, "%s/hw", c->name);
  int hw = as_i64(im, c->in[1], h);
  snprintf(h, sizeof h, "%s/sizes", c->name);
  int cc[2] = {nc, hw};
  int sizes;
  int cn = tf_node(im, "Concat", h, 2, cc, 1, &sizes);
  CHECK_V(cn);
  LG_TRY(tf_attr_int(im, cn, "axis", 0));
  hint_nchw(c, h, sizeof h);
  int ins[4] = {x, -1, -1, sizes};
  int y;
  int n = tf_node(im, "Resize", h, 4, ins, 1, &y);
  CHECK_V(n);
  LG_TRY(tf_attr_str(im, n, "mode", nearest ? "nearest" : "linear"));
  const char *coord = ac   ? "align_corners"
                      : hp ? (nearest ? "tf_half_pixel_for_nn" : "half_pixel")
                           : "asymmetric";
  LG_TRY(tf_attr_str(im, n, "coordinate_transformation_mode", coord));
  if (nearest) LG_TRY(tf_attr_str(im, n, "nearest_mode", ac ? "round_prefer_ceil" : "floor"));
  return set_out(c, 0, -1, y, 4);
}

static lg_status op_conv_transpose(gctx *c) {
  LG_TRY(need_inputs(c, 3));
  tfjs_im *im = c->im;
  int64_t os[4], st[8];
  char buf[32];
  if (tf_const_ints(im, c->in[0]->nhwc, os, 4) != 4)
    return lg_error(LEDGE_ERR_UNSUPPORTED,
                    "node '%s' (Conv2DBackpropInput): output_shape must be a constant", c->name);
  if (attr_list_i(c->node, "strides", st, 8) != 4)
    return TF_FORMAT("node '%s': strides need 4 values", c->name);
  const char *pad = attr_s(c->node, "padding", buf, sizeof buf, "VALID");
  const lg_tensor *f = tf_const(im, c->in[1]->nhwc);
  if (!f || f->rank != 4 || f->dtype != LEDGE_FLOAT32)
    return lg_error(LEDGE_ERR_UNSUPPORTED,
                    "node '%s': the filter must be a constant 4-D float tensor", c->name);
  int64_t H = f->dims[0], W = f->dims[1], O = f->dims[2], I = f->dims[3];
  int64_t wd[4] = {I, O, H, W};
  char h[512];
  snprintf(h, sizeof h, "%s/weights", c->name);
  int w = tf_const_new(im, h, LEDGE_FLOAT32, 4, wd, NULL);
  CHECK_V(w);
  f = tf_const(im, c->in[1]->nhwc);
  const float *src = f->data;
  float *dst = im->g->values[w].owned;
  for (int64_t y = 0; y < H; y++)
    for (int64_t x = 0; x < W; x++)
      for (int64_t o = 0; o < O; o++)
        for (int64_t i = 0; i < I; i++)
          dst[((i * O + o) * H + y) * W + x] = src[((y * W + x) * O + o) * I + i];
  int64_t pads[4] = {0, 0, 0, 0}, outpad[2] = {0, 0};
  int64_t k[2] = {H, W}, s[2] = {st[1], st[2]};
  for (int d = 0; d < 2; d++) {
    int64_t out = os[1 + d];
    int64_t in = !strcmp(pad, "SAME") ? (out + s[d] - 1) / s[d] : (out - k[d]) / s[d] + 1;
    int64_t full = (in - 1) * s[d] + k[d];
    int64_t total = full - out;
    if (total >= 0) {
      pads[d] = total / 2;
      pads[d + 2] = total - total / 2;
    } else {
      outpad[d] = -total;
    }
  }
  int x = tf_nchw(im, c->in[2]);
  CHECK_V(x);
  hint_nchw(c, h, sizeof h);
  int ins[2] = {x, w};
  int y;
  int n = tf_node(im, "ConvTranspose", h, 2, ins, 1, &y);
  CHECK_V(n);
  LG_TRY(tf_attr_ints(im, n, "kernel_shape", 2, k));
  LG_TRY(tf_attr_ints(im, n, "strides", 2, s));
  LG_TRY(tf_attr_ints(im, n, "pads", 4, pads));
  if (outpad[0] || outpad[1]) LG_TRY(tf_attr_ints(im, n, "output_padding", 2, outpad));
  return set_out(c, 0, -1, y, 4);
}

static lg_status op_depth_space(gctx *c) {
  LG_TRY(need_inputs(c, 1));
  tfjs_im *im = c->im;
  int x = tf_nchw(im, c->in[0]);
  CHECK_V(x);
  char h[512];
  hint_nchw(c, h, sizeof h);
  int y;
  bool d2s = !strcmp(c->op, "DepthToSpace");
  int n = tf_node(im, d2s ? "DepthToSpace" : "SpaceToDepth", h, 1, &x, 1, &y);
  CHECK_V(n);
  LG_TRY(tf_attr_int(im, n, "blocksize", attr_i(c->node, "block_size", 2)));
  if (d2s) LG_TRY(tf_attr_str(im, n, "mode", "DCR"));
  return set_out(c, 0, -1, y, 4);
}

static lg_status op_cast(gctx *c) {
  LG_TRY(need_inputs(c, 1));
  ledge_dtype dt = attr_type(c->node, "DstT");
  if (dt == LEDGE_DTYPE_UNDEFINED)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s' (Cast): unsupported target type", c->name);
  tf_ref *r = c->in[0];
  bool nchw = r->nchw >= 0;
  char h[512];
  if (nchw)
    hint_nchw(c, h, sizeof h);
  else
    snprintf(h, sizeof h, "%s", c->name);
  int y = cast_to(c->im, nchw ? r->nchw : r->nhwc, dt, h);
  CHECK_V(y);
  return set_out(c, 0, nchw ? -1 : y, nchw ? y : -1, r->rank);
}

static lg_status op_softmax(gctx *c) {
  LG_TRY(need_inputs(c, 1));
  int x = tf_nhwc(c->im, c->in[0]);
  CHECK_V(x);
  int y = tf_apply_act(c->im, x, !strcmp(c->op, "Softmax") ? TF_ACT_SOFTMAX : TF_ACT_SOFTMAX, 0,
                       c->name);
  CHECK_V(y);
  return set_out(c, 0, y, -1, c->in[0]->rank);
}

static lg_status op_matmul(gctx *c) {
  LG_TRY(need_inputs(c, 2));
  tfjs_im *im = c->im;
  bool ta = attr_b(c->node, "transpose_a", false), tb = attr_b(c->node, "transpose_b", false);
  int a = tf_nhwc(im, c->in[0]), b = tf_nhwc(im, c->in[1]);
  CHECK_V(a);
  CHECK_V(b);
  int bias = -1;
  tf_act act = TF_ACT_NONE;
  if (!strcmp(c->op, "_FusedMatMul")) {
    const lg_json *ops = lg_json_get(lg_json_get(attr(c->node, "fused_ops"), "list"), "s");
    for (int i = 0; ops && ops->type == LG_JSON_ARRAY && i < ops->n; i++) {
      char fo[32];
      const char *s = lg_json_str(&ops->items[i]);
      if (!s || !b64_decode(s, fo, sizeof fo))
        return TF_FORMAT("node '%s': bad fused_ops", c->name);
      if (!strcmp(fo, "BiasAdd")) {
        LG_TRY(need_inputs(c, 3));
        bias = tf_nhwc(im, c->in[2]);
      } else if ((act = act_from_name(fo)) == TF_ACT_NONE) {
        return lg_error(LEDGE_ERR_UNSUPPORTED,
                        "node '%s' (_FusedMatMul): fused op %s is not supported", c->name, fo);
      }
    }
  }
  char h[512];
  snprintf(h, sizeof h, "%s%s", c->name, act != TF_ACT_NONE ? "/gemm" : "");
  int ins[3] = {a, b, bias};
  int y;
  int n = tf_node(im, "Gemm", h, bias >= 0 ? 3 : 2, ins, 1, &y);
  CHECK_V(n);
  LG_TRY(tf_attr_int(im, n, "transA", ta));
  LG_TRY(tf_attr_int(im, n, "transB", tb));
  if (act != TF_ACT_NONE)
    y = tf_apply_act(im, y, act, attr_f(c->node, "leakyrelu_alpha", 0.2f), c->name);
  CHECK_V(y);
  return set_out(c, 0, y, -1, 2);
}

static lg_status op_batch_matmul(gctx *c) {
  LG_TRY(need_inputs(c, 2));
  tfjs_im *im = c->im;
  if (attr_b(c->node, "adj_x", false) || attr_b(c->node, "adj_y", false))
    return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s' (%s): adjoint inputs are not supported",
                    c->name, c->op);
  int ins[2] = {tf_nhwc(im, c->in[0]), tf_nhwc(im, c->in[1])};
  CHECK_V(ins[0]);
  CHECK_V(ins[1]);
  int y = tf_op1(im, "MatMul", c->name, 2, ins);
  CHECK_V(y);
  return set_out(c, 0, y, -1, max_rank(c->in[0], c->in[1]));
}

static lg_status op_batchnorm(gctx *c) {
  LG_TRY(need_inputs(c, 5));
  tfjs_im *im = c->im;
  int ins[5] = {tf_nchw(im, c->in[0]), c->in[1]->nhwc, c->in[2]->nhwc, c->in[3]->nhwc,
                c->in[4]->nhwc};
  CHECK_V(ins[0]);
  char h[512];
  hint_nchw(c, h, sizeof h);
  int y;
  int n = tf_node(im, "BatchNormalization", h, 5, ins, 1, &y);
  CHECK_V(n);
  LG_TRY(tf_attr_float(im, n, "epsilon", attr_f(c->node, "epsilon", 1e-3f)));
  return set_out(c, 0, -1, y, 4);
}

static lg_status op_argmax(gctx *c) {
  LG_TRY(need_inputs(c, 2));
  tfjs_im *im = c->im;
  int64_t axis;
  if (tf_const_ints(im, c->in[1]->nhwc, &axis, 1) != 1)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s' (%s): the axis must be a constant", c->name,
                    c->op);
  int x = tf_nhwc(im, c->in[0]);
  CHECK_V(x);
  char h[512];
  snprintf(h, sizeof h, "%s/i64", c->name);
  int y;
  int n = tf_node(im, !strcmp(c->op, "ArgMax") ? "ArgMax" : "ArgMin", h, 1, &x, 1, &y);
  CHECK_V(n);
  LG_TRY(tf_attr_int(im, n, "axis", axis));
  LG_TRY(tf_attr_int(im, n, "keepdims", 0));
  /* TF.js computes indices in int32. */
  y = cast_to(im, y, LEDGE_INT32, c->name);
  CHECK_V(y);
  return set_out(c, 0, y, -1, c->in[0]->rank >= 0 ? c->in[0]->rank - 1 : -1);
}

static lg_status op_gather(gctx *c) {
  tfjs_im *im = c->im;
  bool nd = !strcmp(c->op, "GatherNd");
  LG_TRY(need_inputs(c, nd ? 2 : 3));
  int64_t axis = 0;
  if (!nd && tf_const_ints(im, c->in[2]->nhwc, &axis, 1) != 1)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s' (GatherV2): the axis must be a constant",
                    c->name);
  if (!nd && attr_i(c->node, "batch_dims", 0) != 0)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s' (GatherV2): batch_dims is not supported",
                    c->name);
  char h[512];
  snprintf(h, sizeof h, "%s/idx", c->name);
  int ins[2] = {tf_nhwc(im, c->in[0]), as_i64(im, c->in[1], h)};
  CHECK_V(ins[0]);
  CHECK_V(ins[1]);
  int y;
  int n = tf_node(im, nd ? "GatherND" : "Gather", c->name, 2, ins, 1, &y);
  CHECK_V(n);
  if (!nd) LG_TRY(tf_attr_int(im, n, "axis", axis));
  return set_out(c, 0, y, -1, -1);
}

static lg_status op_shape(gctx *c) {
  LG_TRY(need_inputs(c, 1));
  tfjs_im *im = c->im;
  int x = tf_nhwc(im, c->in[0]);
  CHECK_V(x);
  char h[512];
  snprintf(h, sizeof h, "%s/i64", c->name);
  int s = tf_op1(im, "Shape", h, 1, &x);
  CHECK_V(s);
  ledge_dtype dt = attr_type(c->node, "out_type");
  int y = cast_to(im, s, dt == LEDGE_INT64 ? LEDGE_INT64 : LEDGE_INT32, c->name);
  CHECK_V(y);
  return set_out(c, 0, y, -1, 1);
}

static lg_status op_select(gctx *c) {
  LG_TRY(need_inputs(c, 3));
  tfjs_im *im = c->im;
  int ins[3] = {tf_nhwc(im, c->in[0]), tf_nhwc(im, c->in[1]), tf_nhwc(im, c->in[2])};
  for (int i = 0; i < 3; i++) CHECK_V(ins[i]);
  int y = tf_op1(im, "Where", c->name, 3, ins);
  CHECK_V(y);
  return set_out(c, 0, y, -1, c->in[1]->rank);
}

/* Size(x): the element count, as int32 (or int64 if out_type says). */
static lg_status op_size(gctx *c) {
  LG_TRY(need_inputs(c, 1));
  tfjs_im *im = c->im;
  int x = tf_nhwc(im, c->in[0]);
  CHECK_V(x);
  char h[512];
  snprintf(h, sizeof h, "%s/i64", c->name);
  int s = tf_op1(im, "Size", h, 1, &x);
  CHECK_V(s);
  ledge_dtype dt = attr_type(c->node, "out_type");
  int y = cast_to(im, s, dt == LEDGE_INT64 ? LEDGE_INT64 : LEDGE_INT32, c->name);
  CHECK_V(y);
  return set_out(c, 0, y, -1, 0);
}

/* Fill(dims, value): the scalar value expanded to dims. */
static lg_status op_fill(gctx *c) {
  LG_TRY(need_inputs(c, 2));
  tfjs_im *im = c->im;
  char h[512];
  snprintf(h, sizeof h, "%s/dims", c->name);
  int ins[2] = {tf_nhwc(im, c->in[1]), as_i64(im, c->in[0], h)};
  CHECK_V(ins[0]);
  CHECK_V(ins[1]);
  int y = tf_op1(im, "Expand", c->name, 2, ins);
  CHECK_V(y);
  int64_t dims[8];
  return set_out(c, 0, y, -1, tf_const_ints(im, ins[1], dims, 8));
}

/* Range(start, limit, delta): ONNX Range has the same meaning. */
static lg_status op_range(gctx *c) {
  LG_TRY(need_inputs(c, 3));
  tfjs_im *im = c->im;
  int ins[3] = {tf_nhwc(im, c->in[0]), tf_nhwc(im, c->in[1]), tf_nhwc(im, c->in[2])};
  for (int i = 0; i < 3; i++) CHECK_V(ins[i]);
  int y = tf_op1(im, "Range", c->name, 3, ins);
  CHECK_V(y);
  return set_out(c, 0, y, -1, 1);
}

/* SparseToDense(indices, output_shape, values, default): default expanded
 * to the output shape, then ScatterND of the values at the indices (one
 * index per row; a 1-D index list addresses a 1-D output). */
static lg_status op_sparse_to_dense(gctx *c) {
  LG_TRY(need_inputs(c, 4));
  tfjs_im *im = c->im;
  char h[512];
  snprintf(h, sizeof h, "%s/shape", c->name);
  int shape = as_i64(im, c->in[1], h);
  int idx = tf_nhwc(im, c->in[0]), vals = tf_nhwc(im, c->in[2]), def = tf_nhwc(im, c->in[3]);
  CHECK_V(shape);
  CHECK_V(idx);
  CHECK_V(vals);
  CHECK_V(def);
  snprintf(h, sizeof h, "%s/default", c->name);
  int dense_in[2] = {def, shape};
  int dense = tf_op1(im, "Expand", h, 2, dense_in);
  CHECK_V(dense);
  snprintf(h, sizeof h, "%s/indices", c->name);
  int i64 = cast_to(im, idx, LEDGE_INT64, h);
  CHECK_V(i64);
  if (c->in[0]->rank < 0)
    return lg_error(LEDGE_ERR_UNSUPPORTED,
                    "node '%s' (SparseToDense): the indices' rank must be known", c->name);
  if (c->in[0]->rank <= 1) {
    /* 0-D: one index; 1-D: N indices of a 1-D output -> [N, 1] */
    snprintf(h, sizeof h, "%s/rows", c->name);
    int64_t rows[2] = {-1, 1};
    int r_in[2] = {i64, tf_const_i64(im, 2, rows)};
    i64 = tf_op1(im, "Reshape", h, 2, r_in);
    CHECK_V(i64);
  }
  /* values: a scalar or one per index -> one per row */
  snprintf(h, sizeof h, "%s/count", c->name);
  int shape_of = tf_op1(im, "Shape", h, 1, &i64);
  CHECK_V(shape_of);
  int64_t zero = 0, one = 1;
  snprintf(h, sizeof h, "%s/n", c->name);
  int n_in[3] = {shape_of, tf_const_i64(im, 1, &zero), tf_const_i64(im, 1, &one)};
  int n = tf_op1(im, "Slice", h, 3, n_in);
  CHECK_V(n);
  snprintf(h, sizeof h, "%s/updates", c->name);
  int u_in[2] = {vals, n};
  int updates = tf_op1(im, "Expand", h, 2, u_in);
  CHECK_V(updates);
  int s_in[3] = {dense, i64, updates};
  int y = tf_op1(im, "ScatterND", c->name, 3, s_in);
  CHECK_V(y);
  int64_t dims[8];
  int nd = tf_const_ints(im, shape, dims, 8);
  return set_out(c, 0, y, -1, nd);
}

static lg_status op_tile(gctx *c) {
  LG_TRY(need_inputs(c, 2));
  tfjs_im *im = c->im;
  char h[512];
  snprintf(h, sizeof h, "%s/reps", c->name);
  int ins[2] = {tf_nhwc(im, c->in[0]), as_i64(im, c->in[1], h)};
  CHECK_V(ins[0]);
  CHECK_V(ins[1]);
  int y = tf_op1(im, "Tile", c->name, 2, ins);
  CHECK_V(y);
  return set_out(c, 0, y, -1, c->in[0]->rank);
}

static lg_status op_topk(gctx *c) {
  LG_TRY(need_inputs(c, 2));
  tfjs_im *im = c->im;
  char h[512];
  snprintf(h, sizeof h, "%s/k", c->name);
  int k = as_i64(im, c->in[1], h);
  CHECK_V(k);
  /* ONNX TopK takes K as a 1-D tensor. */
  int64_t one = 1;
  snprintf(h, sizeof h, "%s/k1", c->name);
  int rs[2] = {k, tf_const_i64(im, 1, &one)};
  int k1 = tf_op1(im, "Reshape", h, 2, rs);
  int ins[2] = {tf_nhwc(im, c->in[0]), k1};
  CHECK_V(ins[0]);
  CHECK_V(ins[1]);
  int outs[2];
  snprintf(h, sizeof h, "%s/topk", c->name);
  int n = tf_node(im, "TopK", h, 2, ins, 2, outs);
  CHECK_V(n);
  LG_TRY(tf_attr_int(im, n, "axis", -1));
  LG_TRY(tf_attr_int(im, n, "sorted", 1));
  char nm[512];
  snprintf(nm, sizeof nm, "%s:1", c->name);
  int idx = cast_to(im, outs[1], LEDGE_INT32, nm);
  CHECK_V(idx);
  /* Values keep the TF name through an Identity so the output is named. */
  int v = tf_op1(im, "Identity", c->name, 1, &outs[0]);
  CHECK_V(v);
  LG_TRY(set_out(c, 0, v, -1, c->in[0]->rank));
  return set_out(c, 1, idx, -1, c->in[0]->rank);
}

static lg_status op_floor_div_mod(gctx *c) {
  LG_TRY(need_inputs(c, 2));
  tfjs_im *im = c->im;
  int ins[2] = {tf_nhwc(im, c->in[0]), tf_nhwc(im, c->in[1])};
  CHECK_V(ins[0]);
  CHECK_V(ins[1]);
  int y = tf_op1(im, !strcmp(c->op, "FloorDiv") ? "TfFloorDiv" : "TfFloorMod", c->name, 2, ins);
  CHECK_V(y);
  return set_out(c, 0, y, -1, max_rank(c->in[0], c->in[1]));
}

static lg_status op_identity(gctx *c) {
  int n = !strcmp(c->op, "IdentityN") ? c->n_in : 1;
  LG_TRY(need_inputs(c, 1));
  for (int k = 0; k < n; k++) {
    tf_ref r = *c->in[k];
    LG_TRY(set_out(c, k, r.nhwc, r.nchw, r.rank));
  }
  return LEDGE_OK;
}

static const struct {
  const char *op;
  op_fn fn;
} g_ops[] = {
    {"Identity", op_identity},
    {"IdentityN", op_identity},
    {"StopGradient", op_identity},
    {"Snapshot", op_identity},
    {"Conv2D", op_conv},
    {"_FusedConv2D", op_conv},
    {"DepthwiseConv2dNative", op_conv},
    {"FusedDepthwiseConv2dNative", op_conv},
    {"Relu", op_unary},
    {"Relu6", op_unary},
    {"LeakyRelu", op_unary},
    {"Sigmoid", op_unary},
    {"Tanh", op_unary},
    {"Elu", op_unary},
    {"Exp", op_unary},
    {"Log", op_unary},
    {"Sqrt", op_unary},
    {"Rsqrt", op_unary},
    {"Square", op_unary},
    {"Neg", op_unary},
    {"Abs", op_unary},
    {"Floor", op_unary},
    {"Ceil", op_unary},
    {"Reciprocal", op_unary},
    {"Round", op_unary},
    {"Sign", op_unary},
    {"Softplus", op_unary},
    {"Softsign", op_unary},
    {"Sin", op_unary},
    {"Cos", op_unary},
    {"LogicalNot", op_unary},
    {"Erf", op_unary},
    {"Add", op_binary},
    {"AddV2", op_binary},
    {"BiasAdd", op_binary},
    {"Sub", op_binary},
    {"Mul", op_binary},
    {"RealDiv", op_binary},
    {"Div", op_binary},
    {"Maximum", op_binary},
    {"Minimum", op_binary},
    {"Pow", op_binary},
    {"Prelu", op_binary},
    {"Equal", op_binary},
    {"Less", op_binary},
    {"Greater", op_binary},
    {"LessEqual", op_binary},
    {"GreaterEqual", op_binary},
    {"LogicalAnd", op_binary},
    {"LogicalOr", op_binary},
    {"SquaredDifference", op_squared_difference},
    {"AddN", op_addn},
    {"FloorDiv", op_floor_div_mod},
    {"FloorMod", op_floor_div_mod},
    {"MaxPool", op_pool},
    {"AvgPool", op_pool},
    {"Mean", op_reduce},
    {"Sum", op_reduce},
    {"Max", op_reduce},
    {"Min", op_reduce},
    {"Prod", op_reduce},
    {"Pad", op_pad},
    {"PadV2", op_pad},
    {"MirrorPad", op_pad},
    {"Reshape", op_reshape},
    {"Squeeze", op_squeeze},
    {"ExpandDims", op_expand_dims},
    {"ConcatV2", op_concat},
    {"Pack", op_pack},
    {"Unpack", op_unpack},
    {"Split", op_split},
    {"SplitV", op_split},
    {"StridedSlice", op_strided_slice},
    {"Slice", op_slice},
    {"Transpose", op_transpose},
    {"ResizeBilinear", op_resize},
    {"ResizeNearestNeighbor", op_resize},
    {"Conv2DBackpropInput", op_conv_transpose},
    {"DepthToSpace", op_depth_space},
    {"SpaceToDepth", op_depth_space},
    {"Cast", op_cast},
    {"Softmax", op_softmax},
    {"MatMul", op_matmul},
    {"_FusedMatMul", op_matmul},
    {"BatchMatMul", op_batch_matmul},
    {"BatchMatMulV2", op_batch_matmul},
    {"FusedBatchNorm", op_batchnorm},
    {"FusedBatchNormV3", op_batchnorm},
    {"ArgMax", op_argmax},
    {"ArgMin", op_argmax},
    {"GatherV2", op_gather},
    {"GatherNd", op_gather},
    {"Shape", op_shape},
    {"Select", op_select},
    {"SelectV2", op_select},
    {"Tile", op_tile},
    {"TopKV2", op_topk},
    {"Range", op_range},
    {"SparseToDense", op_sparse_to_dense},
    {"Fill", op_fill},
    {"Size", op_size},
};

static op_fn find_op(const char *op) {
  for (size_t i = 0; i < sizeof g_ops / sizeof g_ops[0]; i++)
    if (!strcmp(g_ops[i].op, op)) return g_ops[i].fn;
  return NULL;
}

static bool is_control_flow(const char *op) {
  static const char *const cf[] = {"Enter",
                                   "Exit",
                                   "Switch",
                                   "Merge",
                                   "LoopCond",
                                   "NextIteration",
                                   "While",
                                   "StatelessWhile",
                                   "If",
                                   "StatelessIf",
                                   "TensorListReserve",
                                   "TensorListSetItem",
                                   "TensorListGetItem",
                                   "TensorListStack",
                                   "TensorListFromTensor"};
  for (size_t i = 0; i < sizeof cf / sizeof cf[0]; i++)
    if (!strcmp(cf[i], op)) return true;
  return false;
}

/* ---- graph models: structure ---- */

/* Splits "node:k" into the node name (into buf) and k; NULL for "^ctrl". */
static const char *split_input(const char *s, char *buf, size_t size, int *k) {
  *k = 0;
  if (!s || s[0] == '^') return NULL;
  snprintf(buf, size, "%s", s);
  char *colon = strrchr(buf, ':');
  if (colon && colon[1]) {
    char *end;
    long v = strtol(colon + 1, &end, 10);
    if (!*end && v >= 0 && v < 1024) {
      *colon = 0;
      *k = (int)v;
    }
  }
  return buf;
}

typedef struct gmodel {
  const lg_json *nodes;
  lg_name_map by_name; /* node name -> index */
  char *state;         /* 0 new, 1 on the stack, 2 emitted */
} gmodel;

static lg_status emit_node(tfjs_im *im, gmodel *gm, int idx) {
  const lg_json *node = &gm->nodes->items[idx];
  gctx c = {0};
  c.im = im;
  c.node = node;
  c.name = lg_json_str(lg_json_get(node, "name"));
  c.op = lg_json_str(lg_json_get(node, "op"));
  if (!strcmp(c.op, "Const")) {
    int v = lg_name_map_get(&im->weights, c.name);
    if (v < 0) return TF_FORMAT("Const node '%s' has no entry in the weights manifest", c.name);
    return set_out(&c, 0, v, -1, im->g->values[v].t.rank);
  }
  if (!strcmp(c.op, "Placeholder")) {
    int v = new_value(im, c.name);
    if (v < 0) return LEDGE_ERR_NO_MEMORY;
    lg_value *val = &im->g->values[v];
    val->kind = LG_VALUE_INPUT;
    ledge_dtype dt = attr_type(node, "dtype");
    val->t.dtype = dt == LEDGE_DTYPE_UNDEFINED ? LEDGE_FLOAT32 : dt;
    const lg_json *shape = lg_json_get(attr(node, "shape"), "shape");
    const lg_json *dims = lg_json_get(shape, "dim");
    bool known = true;
    if (dims && dims->type == LG_JSON_ARRAY && dims->n <= LEDGE_MAX_RANK) {
      val->t.rank = dims->n;
      for (int i = 0; i < dims->n; i++) {
        int64_t d;
        if (!lg_json_int(lg_json_get(&dims->items[i], "size"), &d) || d < 0) d = -1, known = false;
        val->t.dims[i] = d;
      }
    } else if (shape && !lg_json_get(shape, "unknownRank") && !dims) {
      val->t.rank = 0; /* a scalar */
    } else {
      val->t.rank = -1;
      known = false;
    }
    val->shape_known = known;
    int *ni = lg_pool_alloc(im->g->pool, sizeof(int) * (size_t)(im->g->n_inputs + 1));
    if (!ni) return TF_NOMEM();
    if (im->g->n_inputs) memcpy(ni, im->g->inputs, sizeof(int) * (size_t)im->g->n_inputs);
    ni[im->g->n_inputs++] = v;
    im->g->inputs = ni;
    return set_out(&c, 0, v, -1, val->t.rank);
  }
  const lg_json *inputs = lg_json_get(node, "input");
  for (int i = 0; inputs && i < inputs->n; i++) {
    char buf[512];
    int k;
    const char *nm = split_input(lg_json_str(&inputs->items[i]), buf, sizeof buf, &k);
    if (!nm) continue;
    if (c.n_in == 64)
      return lg_error(LEDGE_ERR_UNSUPPORTED, "node '%s' has more than 64 inputs", c.name);
    char key[600];
    if (k == 0)
      snprintf(key, sizeof key, "%s", nm);
    else
      snprintf(key, sizeof key, "%s:%d", nm, k);
    tf_ref *r = tf_ref_get(im, key);
    if (!r)
      return TF_FORMAT("node '%s' (%s) reads '%s', which no node produces", c.name, c.op, key);
    c.in[c.n_in++] = r;
  }
  op_fn fn = find_op(c.op);
  if (!fn)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "unsupported TF operator %s (node '%s')", c.op, c.name);
  lg_status st = fn(&c);
  if (st != LEDGE_OK && !strstr(ledge_last_error(), c.name))
    return lg_error_context(st, "node '%s' (%s): ", c.name, c.op);
  return st;
}

/* Emits node idx after everything it reads, without recursion. */
static lg_status visit(tfjs_im *im, gmodel *gm, int root) {
  if (gm->state[root] == 2) return LEDGE_OK;
  int n = gm->nodes->n;
  int *stack = malloc(sizeof(int) * (size_t)n * 2 + sizeof(int));
  if (!stack) return TF_NOMEM();
  int sp = 0;
  stack[sp++] = root;
  stack[sp++] = 0;
  gm->state[root] = 1;
  lg_status st = LEDGE_OK;
  while (sp && st == LEDGE_OK) {
    int idx = stack[sp - 2], pos = stack[sp - 1];
    const lg_json *node = &gm->nodes->items[idx];
    const lg_json *inputs = lg_json_get(node, "input");
    int n_inputs = inputs && inputs->type == LG_JSON_ARRAY ? inputs->n : 0;
    if (pos < n_inputs) {
      stack[sp - 1] = pos + 1;
      char buf[512];
      int k;
      const char *nm = split_input(lg_json_str(&inputs->items[pos]), buf, sizeof buf, &k);
      if (!nm) continue;
      int dep = lg_name_map_get(&gm->by_name, nm);
      if (dep < 0) {
        st = TF_FORMAT("node '%s' reads '%s', which is not in the graph",
                       lg_json_str(lg_json_get(node, "name")), nm);
        break;
      }
      if (gm->state[dep] == 2) continue;
      if (gm->state[dep] == 1) {
        st =
            lg_error(LEDGE_ERR_UNSUPPORTED,
                     "the graph has a cycle through node '%s' (control flow is not supported)", nm);
        break;
      }
      const char *dop = lg_json_str(lg_json_get(&gm->nodes->items[dep], "op"));
      if (is_control_flow(dop)) {
        st = lg_error(LEDGE_ERR_UNSUPPORTED,
                      "control flow is not supported: TF operator %s (node '%s')", dop, nm);
        break;
      }
      if (strcmp(dop, "Const") && strcmp(dop, "Placeholder") && !find_op(dop)) {
        st = lg_error(LEDGE_ERR_UNSUPPORTED, "unsupported TF operator %s (node '%s')", dop, nm);
        break;
      }
      gm->state[dep] = 1;
      stack[sp++] = dep;
      stack[sp++] = 0;
      continue;
    }
    st = emit_node(im, gm, idx);
    gm->state[idx] = 2;
    sp -= 2;
  }
  free(stack);
  return st;
}

/* Makes TF tensor `tensor` a graph output named `out_name` (":0" dropped). */
static lg_status add_output(tfjs_im *im, const char *tensor, const char *out_name) {
  char key[600], buf[512], oname[600];
  int k;
  const char *nm = split_input(tensor, buf, sizeof buf, &k);
  if (!nm) return TF_FORMAT("bad output name '%s'", tensor);
  if (k == 0)
    snprintf(key, sizeof key, "%s", nm);
  else
    snprintf(key, sizeof key, "%s:%d", nm, k);
  snprintf(oname, sizeof oname, "%s", out_name);
  size_t ol = strlen(oname);
  if (ol > 2 && !strcmp(oname + ol - 2, ":0")) oname[ol - 2] = 0;
  tf_ref *r = tf_ref_get(im, key);
  if (!r) return TF_FORMAT("output '%s' is not produced by the graph", key);
  int v = tf_nhwc(im, r);
  if (v < 0) return LEDGE_ERR_FORMAT;
  lg_graph *g = im->g;
  if (strcmp(g->values[v].name, oname)) {
    if (g->values[v].kind == LG_VALUE_ACTIVATION && !g->values[v].is_output) {
      char *nn = lg_pool_strndup(g->pool, oname, strlen(oname));
      if (!nn) return TF_NOMEM();
      g->values[v].name = nn;
    } else {
      v = tf_op1(im, "Identity", oname, 1, &v);
      if (v < 0) return LEDGE_ERR_FORMAT;
    }
  } else if (g->values[v].kind != LG_VALUE_ACTIVATION) {
    /* An output that is a constant or an input: give it its own node. */
    v = tf_op1(im, "Identity", oname, 1, &v);
    if (v < 0) return LEDGE_ERR_FORMAT;
  }
  int *no = lg_pool_alloc(g->pool, sizeof(int) * (size_t)(g->n_outputs + 1));
  if (!no) return TF_NOMEM();
  if (g->n_outputs) memcpy(no, g->outputs, sizeof(int) * (size_t)g->n_outputs);
  no[g->n_outputs++] = v;
  g->outputs = no;
  g->values[v].is_output = true;
  return LEDGE_OK;
}

/* Converted TF.js graphs often keep a per-channel shift (a folded batch
 * norm) as Conv2D followed by a separate AddV2 of a [C] constant, which
 * becomes Conv + a broadcast Add of [1, C, 1, 1] here. When the Conv's
 * output feeds only that Add, the constant becomes the Conv's bias and the
 * Add goes (handlandmark-full spent 40% of its time in such Adds). */
static lg_status fold_conv_bias(tfjs_im *im) {
  lg_graph *g = im->g;
  for (int ai = 0; ai < g->n_nodes; ai++) {
    lg_node *add = &g->nodes[ai];
    if (add->dead || strcmp(add->op_type, "Add") || (add->domain && *add->domain) ||
        add->n_in != 2 || add->n_out != 1 || add->out[0] < 0)
      continue;
    for (int side = 0; side < 2; side++) {
      int x = add->in[side], cv = add->in[1 - side];
      if (x < 0 || cv < 0 || g->values[x].producer < 0 || g->values[x].is_output ||
          lg_graph_use_count(g, x) != 1)
        continue;
      int ci = g->values[x].producer;
      lg_node *conv = &g->nodes[ci];
      if (conv->dead || strcmp(conv->op_type, "Conv") || conv->n_out != 1 || conv->n_in < 2)
        continue;
      const lg_tensor *w = tf_const(im, conv->in[1]), *c = tf_const(im, cv);
      if (!w || !c || w->rank != 4 || w->dtype != LEDGE_FLOAT32 || c->dtype != LEDGE_FLOAT32)
        continue;
      const int64_t cout = w->dims[0];
      bool per_channel = (c->rank == 4 && c->dims[0] == 1 && c->dims[1] == cout &&
                          c->dims[2] == 1 && c->dims[3] == 1) ||
                         (c->rank == 3 && c->dims[0] == cout && c->dims[1] == 1 && c->dims[2] == 1);
      const lg_tensor *old = conv->n_in > 2 && conv->in[2] >= 0 ? tf_const(im, conv->in[2]) : NULL;
      if (!per_channel ||
          (conv->n_in > 2 && conv->in[2] >= 0 && (!old || lg_tensor_count(old) != cout)))
        continue;
      char h[512];
      snprintf(h, sizeof h, "%s/bias",
               g->values[add->out[0]].name ? g->values[add->out[0]].name : "conv");
      int64_t d1 = cout;
      int b = tf_const_new(im, h, LEDGE_FLOAT32, 1, &d1, NULL);
      if (b < 0) return TF_NOMEM();
      /* tf_const_new may move g->values and g->nodes stay put; re-read */
      add = &g->nodes[ai];
      conv = &g->nodes[ci];
      c = tf_const(im, cv);
      old = conv->n_in > 2 && conv->in[2] >= 0 ? tf_const(im, conv->in[2]) : NULL;
      float *dst = g->values[b].owned;
      for (int64_t o = 0; o < cout; o++)
        dst[o] = ((const float *)c->data)[o] + (old ? ((const float *)old->data)[o] : 0.0f);
      if (conv->n_in < 3) {
        int *in = lg_pool_alloc(g->pool, sizeof(int) * 3);
        if (!in) return TF_NOMEM();
        in[0] = conv->in[0];
        in[1] = conv->in[1];
        conv->in = in;
        conv->n_in = 3;
      }
      conv->in[2] = b;
      int y = add->out[0];
      conv->out[0] = y;
      g->values[y].producer = ci;
      add->dead = true;
      break;
    }
  }
  return LEDGE_OK;
}

static lg_status import_graph_model(tfjs_im *im, const lg_json *topology, const lg_json *root) {
  gmodel gm = {0};
  gm.nodes = lg_json_get(topology, "node");
  if (!gm.nodes || gm.nodes->type != LG_JSON_ARRAY)
    return TF_FORMAT("modelTopology has no node list");
  if (lg_json_get(lg_json_get(topology, "library"), "function") &&
      lg_json_get(lg_json_get(topology, "library"), "function")->n > 0)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "graph functions (control flow) are not supported");
  int n = gm.nodes->n;
  gm.state = calloc((size_t)n + 1, 1);
  bool *consumed = calloc((size_t)n + 1, 1);
  lg_status st = (!gm.state || !consumed) ? TF_NOMEM() : LEDGE_OK;
  for (int i = 0; i < n && st == LEDGE_OK; i++) {
    const lg_json *node = &gm.nodes->items[i];
    const char *name = lg_json_str(lg_json_get(node, "name"));
    const char *op = lg_json_str(lg_json_get(node, "op"));
    const lg_json *in = lg_json_get(node, "input");
    if (!name || !*name || !op)
      st = TF_FORMAT("node %d has no name or op", i);
    else if (in && in->type != LG_JSON_ARRAY)
      st = TF_FORMAT("node '%s': input is not a list", name);
    else if (lg_name_map_get(&gm.by_name, name) >= 0)
      st = TF_FORMAT("node name '%s' is used twice", name);
    else if (!lg_name_map_put(&gm.by_name, name, i))
      st = TF_NOMEM();
    for (int k = 0; st == LEDGE_OK && in && k < in->n; k++)
      if (!lg_json_str(&in->items[k])) st = TF_FORMAT("node '%s': an input is not a string", name);
  }
  for (int i = 0; i < n && st == LEDGE_OK; i++) {
    const lg_json *in = lg_json_get(&gm.nodes->items[i], "input");
    for (int k = 0; in && k < in->n; k++) {
      char buf[512];
      int kk;
      const char *nm = split_input(lg_json_str(&in->items[k]), buf, sizeof buf, &kk);
      int d = nm ? lg_name_map_get(&gm.by_name, nm) : -1;
      if (d >= 0) consumed[d] = true;
    }
  }
  /* Outputs: the signature's, else every node nothing reads (as TF.js does). */
  const char *outs[1024], *out_names[1024];
  int n_outs = 0;
  const lg_json *sig = lg_json_get(root, "signature");
  if (!sig) sig = lg_json_get(lg_json_get(root, "userDefinedMetadata"), "signature");
  const lg_json *sig_out = lg_json_get(sig, "outputs");
  if (st == LEDGE_OK && sig_out && sig_out->type == LG_JSON_OBJECT && sig_out->n > 0) {
    for (int i = 0; i < sig_out->n && n_outs < 1024; i++) {
      const char *nm = lg_json_str(lg_json_get(&sig_out->items[i], "name"));
      if (!nm)
        st = TF_FORMAT("signature output '%s' has no name", sig_out->keys[i]);
      else
        out_names[n_outs] = sig_out->keys[i], outs[n_outs++] = nm;
    }
  } else {
    for (int i = 0; i < n && st == LEDGE_OK && n_outs < 1024; i++) {
      const lg_json *node = &gm.nodes->items[i];
      const char *op = lg_json_str(lg_json_get(node, "op"));
      if (consumed[i] || !strcmp(op, "Const") || !strcmp(op, "NoOp") || !strcmp(op, "Placeholder"))
        continue;
      outs[n_outs] = out_names[n_outs] = lg_json_str(lg_json_get(node, "name"));
      n_outs++;
    }
  }
  if (st == LEDGE_OK && n_outs == 0) st = TF_FORMAT("the graph has no outputs");
  for (int i = 0; i < n_outs && st == LEDGE_OK; i++) {
    char buf[512];
    int k;
    const char *nm = split_input(outs[i], buf, sizeof buf, &k);
    int idx = nm ? lg_name_map_get(&gm.by_name, nm) : -1;
    if (idx < 0) {
      st = TF_FORMAT("output '%s' is not a node of the graph", outs[i]);
      break;
    }
    const char *op = lg_json_str(lg_json_get(&gm.nodes->items[idx], "op"));
    if (is_control_flow(op))
      st = lg_error(LEDGE_ERR_UNSUPPORTED,
                    "control flow is not supported: TF operator %s (node '%s')", op, nm);
    else if (strcmp(op, "Const") && strcmp(op, "Placeholder") && !find_op(op))
      st = lg_error(LEDGE_ERR_UNSUPPORTED, "unsupported TF operator %s (node '%s')", op, nm);
    else
      st = visit(im, &gm, idx);
  }
  for (int i = 0; i < n_outs && st == LEDGE_OK; i++) st = add_output(im, outs[i], out_names[i]);
  if (st == LEDGE_OK) st = fold_conv_bias(im);
  free(gm.state);
  free(consumed);
  lg_name_map_free(&gm.by_name);
  return st;
}

/* ---- entry points ---- */

bool lg_tfjs_detect(const void *data, size_t size) {
  const char *s = data;
  size_t i = 0;
  if (size >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) i = 3;
  while (i < size && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
  return i < size && s[i] == '{';
}

lg_status lg_tfjs_import(const char *json, size_t len, const char *base_dir, lg_graph *g,
                         lg_tfjs_info *info) {
  LG_TRY(lg_graph_init(g));
  lg_json_doc *doc = NULL;
  lg_status st = lg_json_parse(json, len, &doc);
  if (st != LEDGE_OK) {
    lg_graph_free(g);
    return lg_error_context(st, "model.json: ");
  }
  const lg_json *root = lg_json_root(doc);
  tfjs_im im = {0};
  im.g = g;
  im.base_dir = base_dir;
  const lg_json *topo = lg_json_get(root, "modelTopology");
  const char *format = lg_json_str(lg_json_get(root, "format"));
  if (info) {
    memset(info, 0, sizeof *info);
    const char *by = lg_json_str(lg_json_get(root, "convertedBy"));
    if (!by) by = lg_json_str(lg_json_get(root, "generatedBy"));
    if (!by && topo) by = lg_json_str(lg_json_get(topo, "keras_version"));
    snprintf(info->producer, sizeof info->producer, "%s", by ? by : "");
  }
  if (!root || root->type != LG_JSON_OBJECT || !topo || topo->type != LG_JSON_OBJECT) {
    st = TF_FORMAT("not a TensorFlow.js model: no modelTopology object");
  } else {
    bool graph = lg_json_get(topo, "node") != NULL;
    bool layers = lg_json_get(topo, "model_config") || lg_json_get(topo, "class_name");
    if (format && strcmp(format, "graph-model") && strcmp(format, "layers-model"))
      st = lg_error(LEDGE_ERR_UNSUPPORTED, "TF.js model format '%s' is not supported", format);
    else if (!graph && !layers)
      st = TF_FORMAT(
          "not a TensorFlow.js model: modelTopology has neither a node list nor a model_config");
    if (st == LEDGE_OK) st = load_weights(&im, lg_json_get(root, "weightsManifest"));
    if (st == LEDGE_OK) {
      if (info)
        snprintf(info->format, sizeof info->format, "%s", graph ? "graph-model" : "layers-model");
      st = graph ? import_graph_model(&im, topo, root) : tf_import_layers(&im, topo);
    }
  }
  lg_name_map_free(&im.weights);
  lg_name_map_free(&im.tensors);
  free(im.refs);
  lg_json_free(doc);
  if (st == LEDGE_OK && g->n_outputs == 0) st = TF_FORMAT("the model has no outputs");
  if (st != LEDGE_OK) lg_graph_free(g);
  return st;
}
