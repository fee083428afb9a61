/*
 * norm.c: BatchNormalization, InstanceNormalization, LRN,
 * LayerNormalization and MeanVarianceNormalization (float32).
 *
 * Statistics are accumulated in double precision: the tensors are small per
 * reduction, and it keeps the results close to the float64 references.
 */
#include <math.h>
#include <string.h>

#include "ops/op.h"

static lg_status check_nchw(const lg_node *node, const lg_tensor *x, int min_rank) {
  if (x->rank < min_rank)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': input must have rank >= %d (got %d)",
                    node->op_type, node->name, min_rank, x->rank);
  if (lg_tensor_count(x) < 0)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': invalid input shape", node->op_type,
                    node->name);
  return LEDGE_OK;
}

/* Fails unless input `index` is a float32 vector of `count` values. */
static lg_status check_channel_vector(const lg_node *node, lg_tensor *const *in, int index,
                                      int64_t count) {
  LG_TRY(lg_check_float(node, in[index], index));
  const lg_tensor *t = in[index];
  if (lg_tensor_count(t) != count || (t->rank != 1 && count != 1))
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': input %d must be a vector of %lld values",
                    node->op_type, node->name, index, (long long)count);
  return LEDGE_OK;
}

/* ---- BatchNormalization ---- */

static lg_status batchnorm_check(const lg_node *node, lg_tensor *const *in, bool *training) {
  if (node->n_in < 5)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': needs 5 inputs (has %d)",
                    node->op_type, node->name, node->n_in);
  LG_TRY(lg_check_float(node, in[0], 0));
  LG_TRY(check_nchw(node, in[0], 2));
  for (int i = 1; i < 5; i++) LG_TRY(check_channel_vector(node, in, i, in[0]->dims[1]));
  if (lg_attr_int(node, "spatial", 1) == 0)
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': spatial=0 is not supported",
                    node->op_type, node->name);
  *training = lg_attr_int(node, "training_mode", 0) != 0;
  return LEDGE_OK;
}

static lg_status batchnorm_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 5, 5));
  bool training = false;
  LG_TRY(batchnorm_check(node, in, &training));
  out[0]->dtype = LEDGE_FLOAT32;
  lg_tensor_set_shape(out[0], in[0]->rank, in[0]->dims);
  for (int i = 1; i < node->n_out; i++) {
    if (!out[i]) continue;
    /* Opset 14+ training mode has running mean and variance outputs; the
     * older saved_mean/saved_var training outputs are not computed. */
    if (!training || i > 2)
      return lg_error(LEDGE_ERR_UNSUPPORTED,
                      "%s node '%s': output %d is a training output; only inference mode "
                      "(or training_mode=1 with running mean/var outputs) is supported",
                      node->op_type, node->name, i);
    out[i]->dtype = LEDGE_FLOAT32;
    lg_tensor_set_shape(out[i], 1, in[0]->dims + 1);
  }
  return LEDGE_OK;
}

typedef struct batchnorm_ctx {
  const float *x, *scale, *bias, *mean, *var;
  float *y, *running_mean, *running_var;
  int64_t batch, channels, plane;
  float epsilon, momentum;
  bool training;
} batchnorm_ctx;

/* One task per channel: the statistics (in training mode) and the
 * normalization of every image's plane of that channel. */
static void batchnorm_channels(void *ctx, int64_t begin, int64_t end) {
  const batchnorm_ctx *c = ctx;
  for (int64_t ch = begin; ch < end; ch++) {
    double mean = c->mean[ch], var = c->var[ch];
    if (c->training) {
      double sum = 0, sq = 0, count = (double)(c->batch * c->plane);
      for (int64_t n = 0; n < c->batch; n++) {
        const float *x = c->x + (n * c->channels + ch) * c->plane;
        for (int64_t i = 0; i < c->plane; i++) sum += x[i];
      }
      mean = count > 0 ? sum / count : 0;
      for (int64_t n = 0; n < c->batch; n++) {
        const float *x = c->x + (n * c->channels + ch) * c->plane;
        for (int64_t i = 0; i < c->plane; i++) sq += (x[i] - mean) * (x[i] - mean);
      }
      var = count > 0 ? sq / count : 0;
      if (c->running_mean)
        c->running_mean[ch] = (float)(c->mean[ch] * c->momentum + mean * (1 - c->momentum));
      if (c->running_var)
        c->running_var[ch] = (float)(c->var[ch] * c->momentum + var * (1 - c->momentum));
    }
    float a = (float)(c->scale[ch] / sqrt(var + c->epsilon));
    float b = (float)(c->bias[ch] - mean * a);
    for (int64_t n = 0; n < c->batch; n++) {
      const float *x = c->x + (n * c->channels + ch) * c->plane;
      float *y = c->y + (n * c->channels + ch) * c->plane;
      for (int64_t i = 0; i < c->plane; i++) y[i] = x[i] * a + b;
    }
  }
}

static lg_status batchnorm_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                               const lg_exec *exec) {
  bool training = false;
  LG_TRY(batchnorm_check(node, in, &training));
  const lg_tensor *x = in[0];
  batchnorm_ctx c = {
      .x = x->data, .scale = in[1]->data, .bias = in[2]->data, .mean = in[3]->data,
      .var = in[4]->data, .y = out[0]->data,
      .running_mean = node->n_out > 1 && out[1] ? out[1]->data : NULL,
      .running_var = node->n_out > 2 && out[2] ? out[2]->data : NULL,
      .batch = x->dims[0], .channels = x->dims[1],
      .plane = lg_shape_count(x->rank - 2, x->dims + 2),
      .epsilon = lg_attr_float(node, "epsilon", 1e-5f),
      .momentum = lg_attr_float(node, "momentum", 0.9f), .training = training};
  lg_threadpool *pool = lg_tensor_count(x) < 65536 ? NULL : exec->pool;
  lg_parallel_for(pool, c.channels, batchnorm_channels, &c);
  return LEDGE_OK;
}

/* ---- InstanceNormalization ---- */

static lg_status instancenorm_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 3, 3));
  LG_TRY(lg_check_float(node, in[0], 0));
  LG_TRY(check_nchw(node, in[0], 3));
  if (node->n_in < 3)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': needs 3 inputs", node->op_type,
                    node->name);
  LG_TRY(check_channel_vector(node, in, 1, in[0]->dims[1]));
  LG_TRY(check_channel_vector(node, in, 2, in[0]->dims[1]));
  out[0]->dtype = LEDGE_FLOAT32;
  lg_tensor_set_shape(out[0], in[0]->rank, in[0]->dims);
  return LEDGE_OK;
}

typedef struct plane_norm_ctx {
  const float *x, *scale, *bias;
  float *y;
  int64_t channels, plane;
  float epsilon;
} plane_norm_ctx;

static void instancenorm_planes(void *ctx, int64_t begin, int64_t end) {
  const plane_norm_ctx *c = ctx;
  for (int64_t p = begin; p < end; p++) {
    const float *x = c->x + p * c->plane;
    float *y = c->y + p * c->plane;
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < c->plane; i++) sum += x[i];
    double mean = c->plane ? sum / (double)c->plane : 0;
    for (int64_t i = 0; i < c->plane; i++) sq += (x[i] - mean) * (x[i] - mean);
    double var = c->plane ? sq / (double)c->plane : 0;
    int64_t ch = p % c->channels;
    float a = (float)(c->scale[ch] / sqrt(var + c->epsilon));
    float b = (float)(c->bias[ch] - mean * a);
    for (int64_t i = 0; i < c->plane; i++) y[i] = x[i] * a + b;
  }
}

static lg_status instancenorm_run(const lg_node *node, lg_tensor *const *in,
                                  lg_tensor *const *out, const lg_exec *exec) {
  const lg_tensor *x = in[0];
  plane_norm_ctx c = {x->data, in[1]->data, in[2]->data, out[0]->data, x->dims[1],
                      lg_shape_count(x->rank - 2, x->dims + 2),
                      lg_attr_float(node, "epsilon", 1e-5f)};
  lg_threadpool *pool = lg_tensor_count(x) < 65536 ? NULL : exec->pool;
  lg_parallel_for(pool, x->dims[0] * x->dims[1], instancenorm_planes, &c);
  return LEDGE_OK;
}

/* ---- LRN ---- */

static lg_status lrn_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 1, 1));
  LG_TRY(lg_check_float(node, in[0], 0));
  LG_TRY(check_nchw(node, in[0], 2));
  int64_t size = lg_attr_int(node, "size", 0);
  if (size < 1 || size > ((int64_t)1 << 31))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': size must be positive",
                    node->op_type, node->name);
  out[0]->dtype = LEDGE_FLOAT32;
  lg_tensor_set_shape(out[0], in[0]->rank, in[0]->dims);
  return LEDGE_OK;
}

typedef struct lrn_ctx {
  const float *x;
  float *y;
  int64_t channels, plane, size;
  float alpha, beta, bias;
} lrn_ctx;

static void lrn_planes(void *ctx, int64_t begin, int64_t end) {
  const lrn_ctx *c = ctx;
  /* The window around channel ch is [ch - floor((size-1)/2), ch + ceil((size-1)/2)]. */
  int64_t before = (c->size - 1) / 2, after = c->size - 1 - before;
  for (int64_t p = begin; p < end; p++) {
    int64_t n = p / c->channels, ch = p % c->channels;
    int64_t lo = ch - before < 0 ? 0 : ch - before;
    int64_t hi = ch + after >= c->channels ? c->channels - 1 : ch + after;
    const float *x = c->x + p * c->plane;
    float *y = c->y + p * c->plane;
    for (int64_t i = 0; i < c->plane; i++) {
      double sq = 0;
      for (int64_t k = lo; k <= hi; k++) {
        float v = c->x[(n * c->channels + k) * c->plane + i];
        sq += (double)v * v;
      }
      y[i] = (float)(x[i] / pow(c->bias + c->alpha / (double)c->size * sq, c->beta));
    }
  }
}

static lg_status lrn_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                         const lg_exec *exec) {
  const lg_tensor *x = in[0];
  lrn_ctx c = {x->data, out[0]->data, x->dims[1], lg_shape_count(x->rank - 2, x->dims + 2),
               lg_attr_int(node, "size", 1), lg_attr_float(node, "alpha", 1e-4f),
               lg_attr_float(node, "beta", 0.75f), lg_attr_float(node, "bias", 1.0f)};
  lg_threadpool *pool = lg_tensor_count(x) < 16384 ? NULL : exec->pool;
  lg_parallel_for(pool, x->dims[0] * x->dims[1], lrn_planes, &c);
  return LEDGE_OK;
}

/* ---- LayerNormalization ---- */

typedef struct layernorm_shape {
  int axis;
  int64_t outer, inner; /* rows, and the normalized size of each row */
} layernorm_shape;

/* Whether input `index` (Scale or B) broadcasts to the normalized shape
 * dims[axis:]; *exact says it has exactly that many elements (in order). */
static lg_status layernorm_check_param(const lg_node *node, const lg_tensor *x, const lg_tensor *p,
                                       int index, int axis, int64_t inner, bool *exact) {
  LG_TRY(lg_check_float(node, p, index));
  int norm_rank = x->rank - axis;
  bool ok = p->rank <= norm_rank;
  for (int i = 0; ok && i < p->rank; i++) {
    int64_t want = x->dims[x->rank - p->rank + i];
    if (p->dims[i] != want && p->dims[i] != 1) ok = false;
  }
  if (!ok)
    return lg_error(LEDGE_ERR_SHAPE,
                    "%s node '%s': input %d does not broadcast to the normalized shape",
                    node->op_type, node->name, index);
  *exact = lg_tensor_count(p) == inner;
  return LEDGE_OK;
}

static lg_status layernorm_analyze(const lg_node *node, lg_tensor *const *in, layernorm_shape *s) {
  const lg_tensor *x = in[0];
  LG_TRY(lg_check_float(node, x, 0));
  LG_TRY(check_nchw(node, x, 1));
  int64_t axis_attr = lg_attr_int(node, "axis", -1);
  if (!lg_normalize_axis(axis_attr, x->rank, &s->axis))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': axis %lld is out of range",
                    node->op_type, node->name, (long long)axis_attr);
  s->outer = lg_shape_count(s->axis, x->dims);
  s->inner = lg_shape_count(x->rank - s->axis, x->dims + s->axis);
  if (node->n_in < 2 || !in[1])
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': Scale is missing", node->op_type,
                    node->name);
  bool exact;
  LG_TRY(layernorm_check_param(node, x, in[1], 1, s->axis, s->inner, &exact));
  if (node->n_in > 2 && in[2])
    LG_TRY(layernorm_check_param(node, x, in[2], 2, s->axis, s->inner, &exact));
  return LEDGE_OK;
}

static lg_status layernorm_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 1, 3));
  layernorm_shape s;
  LG_TRY(layernorm_analyze(node, in, &s));
  const lg_tensor *x = in[0];
  out[0]->dtype = LEDGE_FLOAT32;
  lg_tensor_set_shape(out[0], x->rank, x->dims);
  int64_t stat_dims[LEDGE_MAX_RANK];
  for (int i = 0; i < x->rank; i++) stat_dims[i] = i < s.axis ? x->dims[i] : 1;
  for (int i = 1; i < 3 && i < node->n_out; i++)
    if (out[i]) {
      out[i]->dtype = LEDGE_FLOAT32;
      lg_tensor_set_shape(out[i], x->rank, stat_dims);
    }
  return LEDGE_OK;
}

/* Offset into a parameter (Scale or B) right-aligned against the normalized
 * shape, for position j of a row; size-1 dimensions repeat. */
static int64_t broadcast_offset(const lg_tensor *p, const int64_t *norm_dims, int norm_rank,
                                int64_t j) {
  int64_t offset = 0, scale = 1;
  for (int d = norm_rank - 1, pd = p->rank - 1; d >= 0; d--, pd--) {
    int64_t coord = j % norm_dims[d];
    j /= norm_dims[d];
    if (pd < 0) continue;
    if (p->dims[pd] != 1) offset += coord * scale;
    scale *= p->dims[pd];
  }
  return offset;
}

typedef struct layernorm_ctx {
  const layernorm_shape *s;
  const lg_tensor *x, *scale, *bias;
  float *y, *mean_out, *inv_std_out;
  float epsilon;
} layernorm_ctx;

static void layernorm_rows(void *ctx, int64_t begin, int64_t end) {
  const layernorm_ctx *c = ctx;
  int64_t inner = c->s->inner;
  int norm_rank = c->x->rank - c->s->axis;
  const int64_t *norm_dims = c->x->dims + c->s->axis;
  bool scale_exact = lg_tensor_count(c->scale) == inner;
  bool bias_exact = c->bias && lg_tensor_count(c->bias) == inner;
  const float *scale = c->scale->data, *bias = c->bias ? c->bias->data : NULL;
  for (int64_t r = begin; r < end; r++) {
    const float *x = (const float *)c->x->data + r * inner;
    float *y = c->y + r * inner;
    double sum = 0, sq = 0;
    for (int64_t j = 0; j < inner; j++) sum += x[j];
    double mean = inner ? sum / (double)inner : 0;
    for (int64_t j = 0; j < inner; j++) sq += (x[j] - mean) * (x[j] - mean);
    double inv_std = 1.0 / sqrt((inner ? sq / (double)inner : 0) + c->epsilon);
    for (int64_t j = 0; j < inner; j++) {
      float sv = scale[scale_exact ? j : broadcast_offset(c->scale, norm_dims, norm_rank, j)];
      float bv = !bias ? 0.0f
                       : bias[bias_exact ? j : broadcast_offset(c->bias, norm_dims, norm_rank, j)];
      y[j] = (float)((x[j] - mean) * inv_std) * sv + bv;
    }
    if (c->mean_out) c->mean_out[r] = (float)mean;
    if (c->inv_std_out) c->inv_std_out[r] = (float)inv_std;
  }
}

static lg_status layernorm_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                               const lg_exec *exec) {
  layernorm_shape s;
  LG_TRY(layernorm_analyze(node, in, &s));
  layernorm_ctx c = {&s, in[0], in[1], node->n_in > 2 ? in[2] : NULL, out[0]->data,
                     node->n_out > 1 && out[1] ? out[1]->data : NULL,
                     node->n_out > 2 && out[2] ? out[2]->data : NULL,
                     lg_attr_float(node, "epsilon", 1e-5f)};
  lg_threadpool *pool = lg_tensor_count(in[0]) < 65536 ? NULL : exec->pool;
  lg_parallel_for(pool, s.outer, layernorm_rows, &c);
  return LEDGE_OK;
}

/* ---- MeanVarianceNormalization ---- */

typedef struct mvn_shape {
  int rank;
  bool reduced[LEDGE_MAX_RANK];
  int64_t groups, group_size;
} mvn_shape;

static lg_status mvn_analyze(const lg_node *node, const lg_tensor *x, mvn_shape *s) {
  LG_TRY(lg_check_float(node, x, 0));
  LG_TRY(check_nchw(node, x, 1));
  memset(s, 0, sizeof *s);
  s->rank = x->rank;
  static const int64_t default_axes[] = {0, 2, 3};
  const int64_t *axes;
  int n = lg_attr_ints(node, "axes", &axes);
  if (n < 0) {
    axes = default_axes;
    n = 3;
  }
  for (int i = 0; i < n; i++) {
    int axis;
    if (!lg_normalize_axis(axes[i], x->rank, &axis))
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': axis %lld is out of range",
                      node->op_type, node->name, (long long)axes[i]);
    s->reduced[axis] = true;
  }
  s->groups = s->group_size = 1;
  for (int d = 0; d < x->rank; d++) {
    if (s->reduced[d]) s->group_size *= x->dims[d];
    else s->groups *= x->dims[d];
  }
  return LEDGE_OK;
}

static lg_status mvn_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 1, 1));
  mvn_shape s;
  LG_TRY(mvn_analyze(node, in[0], &s));
  out[0]->dtype = LEDGE_FLOAT32;
  lg_tensor_set_shape(out[0], in[0]->rank, in[0]->dims);
  return LEDGE_OK;
}

typedef struct mvn_ctx {
  const mvn_shape *s;
  const lg_tensor *x;
  float *y;
} mvn_ctx;

/* Offset of element `i` of a group: the group's coordinates fill the kept
 * dimensions, i's the reduced ones. */
static int64_t mvn_offset(const mvn_shape *s, const int64_t *dims, int64_t group, int64_t i) {
  int64_t offset = 0, stride = 1;
  for (int d = s->rank - 1; d >= 0; d--) {
    int64_t coord;
    if (s->reduced[d]) {
      coord = i % dims[d];
      i /= dims[d];
    } else {
      coord = group % dims[d];
      group /= dims[d];
    }
    offset += coord * stride;
    stride *= dims[d];
  }
  return offset;
}

static void mvn_groups(void *ctx, int64_t begin, int64_t end) {
  const mvn_ctx *c = ctx;
  const mvn_shape *s = c->s;
  const float *x = c->x->data;
  for (int64_t g = begin; g < end; g++) {
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < s->group_size; i++) sum += x[mvn_offset(s, c->x->dims, g, i)];
    double mean = s->group_size ? sum / (double)s->group_size : 0;
    for (int64_t i = 0; i < s->group_size; i++) {
      double v = x[mvn_offset(s, c->x->dims, g, i)] - mean;
      sq += v * v;
    }
    /* As ONNX's function body: (X - mean) / (sqrt(variance) + 1e-9). */
    double denom = sqrt(s->group_size ? sq / (double)s->group_size : 0) + 1e-9;
    for (int64_t i = 0; i < s->group_size; i++) {
      int64_t o = mvn_offset(s, c->x->dims, g, i);
      c->y[o] = (float)((x[o] - mean) / denom);
    }
  }
}

static lg_status mvn_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                         const lg_exec *exec) {
  mvn_shape s;
  LG_TRY(mvn_analyze(node, in[0], &s));
  mvn_ctx c = {&s, in[0], out[0]->data};
  lg_threadpool *pool = lg_tensor_count(in[0]) < 65536 ? NULL : exec->pool;
  lg_parallel_for(pool, s.groups, mvn_groups, &c);
  return LEDGE_OK;
}

const lg_op_def lg_ops_norm[] = {
    {"BatchNormalization", "", batchnorm_infer, batchnorm_run, false, false},
    {"InstanceNormalization", "", instancenorm_infer, instancenorm_run, false, false},
    {"LRN", "", lrn_infer, lrn_run, false, false},
    {"LayerNormalization", "", layernorm_infer, layernorm_run, false, false},
    {"MeanVarianceNormalization", "", mvn_infer, mvn_run, false, false},
    {0},
};
