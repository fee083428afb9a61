/*
 * quantize.c: calibration and the QDQ rewrite (see quantize.h).
 */
#include "optimize/quantize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/ledge_format.h"
#include "formats/onnx_write.h"
#include "ops/op.h"
#include "runtime/model.h"

enum { HIST_BINS = 2048 };

void lg_quantize_options_init(lg_quantize_options *o) {
  memset(o, 0, sizeof *o);
  o->method = LG_CALIB_MINMAX;
  o->percentile = 99.999;
}

ledge_model *lg_graph_model(const ledge_model *like, const lg_graph *g) {
  ledge_model *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->graph = *g;
  m->opset = like->opset;
  m->ir_version = like->ir_version;
  memcpy(m->producer, like->producer, sizeof m->producer);
  memcpy(m->name, like->name, sizeof m->name);
  return m;
}

void lg_graph_model_free(ledge_model *m) { free(m); }

void lg_quant_result_free(lg_quant_result *r) {
  if (!r) return;
  lg_graph_free(&r->graph);
  lg_graph_free(&r->float_graph);
  free(r->layers);
  memset(r, 0, sizeof *r);
}

/* ---- Graph helpers ---- */

static bool is_op(const lg_node *n, const char *type) {
  return !n->dead && !strcmp(n->op_type, type) && !*n->domain;
}

static bool is_const_f32(const lg_graph *g, int v) {
  return v >= 0 && g->values[v].kind == LG_VALUE_CONSTANT && g->values[v].t.data &&
         g->values[v].t.dtype == LEDGE_FLOAT32;
}

static lg_node *only_consumer(lg_graph *g, int v) {
  if (g->values[v].is_output || lg_graph_use_count(g, v) != 1) return NULL;
  for (int i = 0; i < g->n_nodes; i++) {
    lg_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] == v) return n;
  }
  return NULL;
}

/* Marks values as graph outputs (appended after the model's own). */
static lg_status add_outputs(lg_graph *g, const int *vals, int n) {
  int *outs = lg_pool_alloc(g->pool, sizeof(int) * (size_t)(g->n_outputs + n + 1));
  if (!outs) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  memcpy(outs, g->outputs, sizeof(int) * (size_t)g->n_outputs);
  int count = g->n_outputs;
  for (int i = 0; i < n; i++) {
    if (g->values[vals[i]].is_output) continue;
    g->values[vals[i]].is_output = true;
    outs[count++] = vals[i];
  }
  g->outputs = outs;
  g->n_outputs = count;
  return LEDGE_OK;
}

static int output_position(const lg_graph *g, int v) {
  for (int i = 0; i < g->n_outputs; i++)
    if (g->outputs[i] == v) return i;
  return -1;
}

static int new_const(lg_graph *g, const char *name, ledge_dtype dt, int rank, const int64_t *dims) {
  int v = lg_graph_add_value(g, name);
  if (v < 0) return -1;
  lg_value *val = &g->values[v];
  val->kind = LG_VALUE_CONSTANT;
  val->shape_known = true;
  val->t.dtype = dt;
  lg_tensor_set_shape(&val->t, rank, dims);
  return lg_value_alloc_owned(val) == LEDGE_OK ? v : -1;
}

static int new_node(lg_graph *g, const char *op_type, const char *name, int opset, const int *in,
                    int n_in, int out, int axis) {
  int ni = lg_graph_add_node(g, op_type, n_in, 1);
  if (ni < 0) return -1;
  lg_node *n = &g->nodes[ni];
  n->op_type = lg_pool_strndup(g->pool, op_type, strlen(op_type));
  n->name = lg_pool_strndup(g->pool, name, strlen(name));
  n->domain = "";
  n->opset = opset;
  n->op = lg_op_find("", op_type);
  memcpy(n->in, in, sizeof(int) * (size_t)n_in);
  n->out[0] = out;
  if (axis >= 0) {
    lg_attr *a = lg_pool_alloc(g->pool, sizeof *a);
    if (!a) return -1;
    a->name = "axis";
    a->type = LG_ATTR_INT;
    a->i = axis;
    n->attrs = a;
    n->n_attrs = 1;
  }
  g->values[out].producer = ni;
  g->values[out].kind = LG_VALUE_ACTIVATION;
  return ni;
}

/* Kahn's algorithm: nodes appended by the rewrite move to where their
 * inputs are ready. Dead nodes are dropped. */
static lg_status toposort(lg_graph *g) {
  int n = g->n_nodes;
  lg_node *sorted = malloc(sizeof(lg_node) * (size_t)(n + 1));
  bool *done = calloc((size_t)n + 1, 1), *ready = calloc((size_t)g->n_values + 1, 1);
  if (!sorted || !done || !ready) {
    free(sorted);
    free(done);
    free(ready);
    return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  }
  int live = 0, emitted = 0;
  for (int i = 0; i < n; i++) live += !g->nodes[i].dead;
  for (int v = 0; v < g->n_values; v++) ready[v] = g->values[v].kind != LG_VALUE_ACTIVATION;
  for (bool progress = true; progress && emitted < live;) {
    progress = false;
    for (int i = 0; i < n; i++) {
      lg_node *nd = &g->nodes[i];
      if (done[i] || nd->dead) continue;
      bool ok = true;
      for (int k = 0; k < nd->n_in && ok; k++) ok = nd->in[k] < 0 || ready[nd->in[k]];
      if (!ok) continue;
      done[i] = true;
      sorted[emitted++] = *nd;
      for (int k = 0; k < nd->n_out; k++)
        if (nd->out[k] >= 0) ready[nd->out[k]] = true;
      progress = true;
    }
  }
  free(done);
  free(ready);
  if (emitted < live) {
    free(sorted);
    return lg_error(LEDGE_ERR_INTERNAL, "quantize: the rewritten graph has a cycle");
  }
  for (int i = 0; i < n; i++)
    if (g->nodes[i].dead) free(g->nodes[i].state);
  free(g->nodes);
  g->nodes = sorted;
  g->n_nodes = emitted;
  g->cap_nodes = n + 1;
  for (int v = 0; v < g->n_values; v++) g->values[v].producer = -1;
  for (int i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_out; k++)
      if (g->nodes[i].out[k] >= 0) g->values[g->nodes[i].out[k]].producer = i;
  return LEDGE_OK;
}

/* ---- Calibration statistics ---- */

typedef struct calib_stat {
  int value;
  double lo, hi, absmax;
  double *hist; /* HIST_BINS of |x| over [0, absmax] (second pass) */
} calib_stat;

static void stat_minmax(calib_stat *s, const float *x, int64_t n) {
  double lo = s->lo, hi = s->hi;
  for (int64_t i = 0; i < n; i++) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
  }
  s->lo = lo;
  s->hi = hi;
  s->absmax = fmax(fabs(lo), fabs(hi));
}

static void stat_hist(calib_stat *s, const float *x, int64_t n) {
  if (s->absmax <= 0) return;
  double k = HIST_BINS / s->absmax;
  for (int64_t i = 0; i < n; i++) {
    int b = (int)(fabsf(x[i]) * k);
    s->hist[b >= HIST_BINS ? HIST_BINS - 1 : b < 0 ? 0 : b] += 1;
  }
}

static double percentile_threshold(const calib_stat *s, double pct) {
  double total = 0;
  for (int b = 0; b < HIST_BINS; b++) total += s->hist[b];
  double want = total * pct / 100.0, run = 0;
  for (int b = 0; b < HIST_BINS; b++) {
    run += s->hist[b];
    if (run >= want) return (b + 1) * s->absmax / HIST_BINS;
  }
  return s->absmax;
}

/* The threshold T minimizing KL(P || Q), P the histogram clipped at T (the
 * outliers added to its last bin), Q that histogram quantized to `levels`
 * levels (each level's mass spread evenly over its nonzero bins). */
static double entropy_threshold(const calib_stat *s, int levels) {
  const double *h = s->hist;
  double best_kl = INFINITY;
  int best = HIST_BINS;
  double *p = malloc(sizeof(double) * HIST_BINS), *q = malloc(sizeof(double) * HIST_BINS);
  if (!p || !q) {
    free(p);
    free(q);
    return s->absmax;
  }
  double tail = 0;
  for (int b = levels; b < HIST_BINS; b++) tail += h[b];
  for (int i = levels; i <= HIST_BINS; i += 4) {
    /* tail = mass at bins >= i */
    double outliers = 0;
    for (int b = i; b < HIST_BINS; b++) outliers += h[b];
    memcpy(p, h, sizeof(double) * (size_t)i);
    p[i - 1] += outliers;
    for (int lvl = 0; lvl < levels; lvl++) {
      int b0 = (int)((int64_t)lvl * i / levels), b1 = (int)((int64_t)(lvl + 1) * i / levels);
      double mass = 0;
      int nonzero = 0;
      for (int b = b0; b < b1; b++) {
        mass += h[b];
        nonzero += h[b] > 0;
      }
      for (int b = b0; b < b1; b++) q[b] = h[b] > 0 && nonzero ? mass / nonzero : 0;
    }
    double sp = 0, sq = 0;
    for (int b = 0; b < i; b++) {
      sp += p[b];
      sq += q[b];
    }
    if (sp <= 0 || sq <= 0) continue;
    double kl = 0;
    for (int b = 0; b < i; b++) {
      double pb = p[b] / sp, qb = q[b] / sq;
      if (pb > 0) kl += qb > 0 ? pb * log(pb / qb) : pb * 20.0; /* a bin Q cannot express */
    }
    if (kl < best_kl) {
      best_kl = kl;
      best = i;
    }
  }
  (void)tail;
  free(p);
  free(q);
  return (best + 0.5) * s->absmax / HIST_BINS;
}

/* uint8 parameters for [lo, hi] (widened to include 0). */
static void u8_params(double lo, double hi, float *scale, uint8_t *zp) {
  if (lo > 0) lo = 0;
  if (hi < 0) hi = 0;
  double s = (hi - lo) / 255.0;
  if (!(s > 0) || !isfinite(s)) s = 1.0;
  double z = nearbyint(-lo / s);
  *scale = (float)s;
  *zp = (uint8_t)(z < 0 ? 0 : z > 255 ? 255 : z);
}

/* ---- The rewrite ---- */

typedef struct qctx {
  lg_graph *g;
  int opset;
  const lg_quantize_options *opt;
} qctx;

/* A prefix for the names of the values made from v: its name, or
 * "ledge_value_<index>" for an unnamed value (a pass's folded weights), so
 * that every name in the written model is unique. */
static void base_name(const lg_graph *g, int v, char *buf, size_t size) {
  const char *name = g->values[v].name;
  if (name && *name)
    snprintf(buf, size, "%s", name);
  else
    snprintf(buf, size, "ledge_value_%d", v);
  char probe[260];
  snprintf(probe, sizeof probe, "%s_quantized", buf);
  if (lg_graph_find_value(g, probe) >= 0)
    snprintf(buf, size, "%s_%d", name && *name ? name : "ledge_value", v);
}

/* Symmetric int8 weights: element (c, j) at w[c * cs + j * js], C channels
 * (one scale each when per_channel) of J elements. Returns the DQ output. */
static int quantize_weights(qctx *q, int wv, int64_t channels, int64_t per, int64_t cs, int64_t js,
                            int axis, bool per_channel, float *scales_out) {
  lg_graph *g = q->g;
  lg_tensor wt = g->values[wv].t;
  char name[300];
  char base[200];
  base_name(g, wv, base, sizeof base);
  snprintf(name, sizeof name, "%s_quantized", base);
  int wq = new_const(g, name, LEDGE_INT8, wt.rank, wt.dims);
  int64_t sd[1] = {channels};
  snprintf(name, sizeof name, "%s_scale", base);
  int sv = new_const(g, name, LEDGE_FLOAT32, per_channel ? 1 : 0, sd);
  snprintf(name, sizeof name, "%s_zero_point", base);
  int zv = new_const(g, name, LEDGE_INT8, per_channel ? 1 : 0, sd);
  snprintf(name, sizeof name, "%s_dequantized", base);
  int dv = lg_graph_add_value(g, name);
  if (wq < 0 || sv < 0 || zv < 0 || dv < 0) return -1;
  const float *w = wt.data;
  int8_t *qd = g->values[wq].t.data;
  float *sc = g->values[sv].t.data;
  double global = 0;
  for (int64_t c = 0; c < channels; c++)
    for (int64_t j = 0; j < per; j++) global = fmax(global, fabs(w[c * cs + j * js]));
  for (int64_t c = 0; c < channels; c++) {
    double m = 0;
    if (per_channel)
      for (int64_t j = 0; j < per; j++) m = fmax(m, fabs(w[c * cs + j * js]));
    else
      m = global;
    float s = m > 0 ? (float)(m / 127.0) : 1.0f;
    if (per_channel || c == 0) sc[per_channel ? c : 0] = s;
    scales_out[c] = s;
    for (int64_t j = 0; j < per; j++) {
      double r = nearbyint(w[c * cs + j * js] / s);
      qd[c * cs + j * js] = (int8_t)(r < -127 ? -127 : r > 127 ? 127 : r);
    }
  }
  int ins[3] = {wq, sv, zv};
  snprintf(name, sizeof name, "%s_DequantizeLinear", base);
  if (new_node(g, "DequantizeLinear", name, q->opset, ins, 3, dv, per_channel ? axis : -1) < 0)
    return -1;
  g->values[dv].t.dtype = LEDGE_FLOAT32;
  return dv;
}

/* int32 bias = round(b / (x_scale * w_scale[c])); returns the DQ output. */
static int quantize_bias(qctx *q, int bv, int64_t channels, float x_scale, const float *w_scales) {
  lg_graph *g = q->g;
  char name[300];
  char base[200];
  base_name(g, bv, base, sizeof base);
  int64_t d[1] = {channels};
  snprintf(name, sizeof name, "%s_quantized", base);
  int bq = new_const(g, name, LEDGE_INT32, 1, d);
  snprintf(name, sizeof name, "%s_scale", base);
  int sv = new_const(g, name, LEDGE_FLOAT32, 1, d);
  snprintf(name, sizeof name, "%s_zero_point", base);
  int zv = new_const(g, name, LEDGE_INT32, 1, d);
  snprintf(name, sizeof name, "%s_dequantized", base);
  int dv = lg_graph_add_value(g, name);
  if (bq < 0 || sv < 0 || zv < 0 || dv < 0) return -1;
  const float *b = g->values[bv].t.data;
  int32_t *qd = g->values[bq].t.data;
  float *sc = g->values[sv].t.data;
  for (int64_t c = 0; c < channels; c++) {
    /* float32 product, as the runtimes compute the bias scale */
    float s = x_scale * w_scales[c];
    sc[c] = s;
    double r = s > 0 ? nearbyint(b[c] / (double)s) : 0;
    qd[c] = (int32_t)(r < -2147483647.0 ? -2147483647.0 : r > 2147483647.0 ? 2147483647.0 : r);
  }
  int ins[3] = {bq, sv, zv};
  snprintf(name, sizeof name, "%s_DequantizeLinear", base);
  if (new_node(g, "DequantizeLinear", name, q->opset, ins, 3, dv, 0) < 0) return -1;
  g->values[dv].t.dtype = LEDGE_FLOAT32;
  return dv;
}

/* v -> QuantizeLinear -> DequantizeLinear; every other reader of v reads
 * the dequantized value. Returns the DQ output. */
static int insert_qdq(qctx *q, int v, float scale, uint8_t zp) {
  lg_graph *g = q->g;
  char name[300];
  char base[200];
  base_name(g, v, base, sizeof base);
  snprintf(name, sizeof name, "%s_scale", base);
  int sv = new_const(g, name, LEDGE_FLOAT32, 0, NULL);
  snprintf(name, sizeof name, "%s_zero_point", base);
  int zv = new_const(g, name, LEDGE_UINT8, 0, NULL);
  snprintf(name, sizeof name, "%s_quantized", base);
  int qv = lg_graph_add_value(g, name);
  snprintf(name, sizeof name, "%s_dequantized", base);
  int dv = lg_graph_add_value(g, name);
  if (sv < 0 || zv < 0 || qv < 0 || dv < 0) return -1;
  ((float *)g->values[sv].t.data)[0] = scale;
  ((uint8_t *)g->values[zv].t.data)[0] = zp;
  for (int i = 0; i < g->n_nodes; i++) {
    lg_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] == v) n->in[k] = dv;
  }
  int qin[3] = {v, sv, zv}, din[3] = {qv, sv, zv};
  snprintf(name, sizeof name, "%s_QuantizeLinear", base);
  if (new_node(g, "QuantizeLinear", name, q->opset, qin, 3, qv, -1) < 0) return -1;
  snprintf(name, sizeof name, "%s_DequantizeLinear", base);
  if (new_node(g, "DequantizeLinear", name, q->opset, din, 3, dv, -1) < 0) return -1;
  g->values[qv].t.dtype = LEDGE_UINT8;
  g->values[dv].t.dtype = LEDGE_FLOAT32;
  return dv;
}

static bool keep_float(const lg_quantize_options *o, const lg_graph *g, const lg_node *n) {
  for (int i = 0; i < o->n_keep_float; i++)
    if (!strcmp(o->keep_float[i], n->name) ||
        (n->out[0] >= 0 && !strcmp(o->keep_float[i], g->values[n->out[0]].name)))
      return true;
  return false;
}

/* The layers: every Conv with constant float weights, every MatMul with a
 * constant 2-D float B. */
static lg_status find_layers(lg_graph *g, const lg_quantize_options *o, lg_quant_result *r) {
  r->layers = calloc((size_t)g->n_nodes + 1, sizeof(lg_quant_layer));
  if (!r->layers) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  for (int i = 0; i < g->n_nodes; i++) {
    lg_node *n = &g->nodes[i];
    bool conv = is_op(n, "Conv") && n->n_in >= 2 && is_const_f32(g, n->in[1]) &&
                g->values[n->in[1]].t.rank >= 3 &&
                (n->n_in < 3 || n->in[2] < 0 || is_const_f32(g, n->in[2]));
    bool matmul = is_op(n, "MatMul") && n->n_in == 2 && is_const_f32(g, n->in[1]) &&
                  g->values[n->in[1]].t.rank == 2;
    if (!conv && !matmul) continue;
    lg_quant_layer *l = &r->layers[r->n_layers++];
    snprintf(l->name, sizeof l->name, "%s", *n->name ? n->name : g->values[n->out[0]].name);
    snprintf(l->op_type, sizeof l->op_type, "%s", n->op_type);
    int out = n->out[0];
    lg_node *act = only_consumer(g, out);
    if (act && (is_op(act, "Relu") || is_op(act, "Clip")) && act->n_out == 1) out = act->out[0];
    l->output_value = out;
    snprintf(l->output_name, sizeof l->output_name, "%s", g->values[out].name);
    l->quantized = !keep_float(o, g, n);
    if (l->quantized)
      r->n_quantized++;
    else
      r->n_kept++;
  }
  return LEDGE_OK;
}

/* strcmp() == 0 as a loop: GCC's -Wstringop-overread misjudges the node
 * strings' sizes here under -fsanitize=address. */
static bool same_text(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

static int find_layer_node(const lg_graph *g, const lg_quant_layer *l) {
  for (int i = 0; i < g->n_nodes; i++) {
    const lg_node *n = &g->nodes[i];
    if (n->dead || !same_text(n->op_type, l->op_type)) continue;
    const char *name = *n->name ? n->name : g->values[n->out[0]].name;
    if (same_text(name, l->name)) return i;
  }
  return -1;
}

lg_status lg_quantize_qdq(const ledge_model *model, const lg_calib_source *source,
                          const lg_quantize_options *opt, lg_quant_result *r) {
  memset(r, 0, sizeof *r);
  lg_quantize_options defaults;
  if (!opt) {
    lg_quantize_options_init(&defaults);
    opt = &defaults;
  }
  if (!source || source->count < 1)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "quantize: no calibration samples");
  const lg_graph *mg = &model->graph;
  if (mg->n_inputs != 1)
    return lg_error(LEDGE_ERR_UNSUPPORTED,
                    "quantize: models with %d inputs are not supported (one image input)",
                    mg->n_inputs);
  lg_status st = lg_graph_clone(mg, &r->float_graph);
  if (st != LEDGE_OK) return st;
  lg_graph *fg = &r->float_graph;
  LG_TRY(lg_pass_fold_batchnorm(fg));
  LG_TRY(lg_pass_eliminate_identity(fg));
  LG_TRY(lg_pass_eliminate_dead(fg));
  LG_TRY(find_layers(fg, opt, r));
  if (!r->n_quantized)
    return lg_error(LEDGE_ERR_UNSUPPORTED,
                    "quantize: no convolution or MatMul with constant weights to quantize");

  /* The tensors to calibrate: inputs and outputs of the quantized layers. */
  int *track = malloc(sizeof(int) * (size_t)(2 * r->n_layers + 1));
  calib_stat *stats = calloc((size_t)(2 * r->n_layers + 1), sizeof(calib_stat));
  if (!track || !stats) {
    free(track);
    free(stats);
    return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  }
  int n_track = 0;
  for (int i = 0; i < r->n_layers; i++) {
    if (!r->layers[i].quantized) continue;
    int ni = find_layer_node(fg, &r->layers[i]);
    int cand[2] = {fg->nodes[ni].in[0], r->layers[i].output_value};
    for (int c = 0; c < 2; c++) {
      bool seen = false;
      for (int k = 0; k < n_track; k++) seen |= track[k] == cand[c];
      if (!seen) track[n_track++] = cand[c];
    }
  }

  /* Calibration: the float graph with those tensors as extra outputs. */
  lg_graph cg;
  st = lg_graph_clone(fg, &cg);
  if (st == LEDGE_OK) st = add_outputs(&cg, track, n_track);
  ledge_model *cm = st == LEDGE_OK ? lg_graph_model(model, &cg) : NULL;
  ledge_session *s = NULL;
  ledge_tensor *input = NULL;
  float *buf = NULL;
  int64_t count = 0;
  if (st == LEDGE_OK && !cm) st = lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  if (st == LEDGE_OK) {
    ledge_session_options so;
    ledge_session_options_init(&so);
    so.num_threads = opt->threads;
    st = ledge_session_create(cm, &so, &s);
  }
  if (st == LEDGE_OK) {
    ledge_tensor_info info;
    st = ledge_model_input_info(model, 0, &info);
    int64_t dims[LEDGE_MAX_RANK];
    for (int d = 0; st == LEDGE_OK && d < info.rank; d++)
      dims[d] = info.dims[d] < 0 ? 1 : info.dims[d];
    if (st == LEDGE_OK) st = ledge_tensor_create(LEDGE_FLOAT32, info.rank, dims, &input);
    if (st == LEDGE_OK) {
      buf = ledge_tensor_data(input);
      count = ledge_tensor_count(input);
    }
  }
  for (int k = 0; k < n_track; k++) {
    stats[k].value = track[k];
    stats[k].lo = INFINITY;
    stats[k].hi = -INFINITY;
  }
  int passes = opt->method == LG_CALIB_MINMAX ? 1 : 2;
  for (int pass = 0; pass < passes && st == LEDGE_OK; pass++) {
    if (pass == 1)
      for (int k = 0; k < n_track && st == LEDGE_OK; k++)
        if (!(stats[k].hist = calloc(HIST_BINS, sizeof(double))))
          st = lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
    for (int64_t i = 0; i < source->count && st == LEDGE_OK; i++) {
      st = source->get(source->ctx, i, buf, count);
      if (st == LEDGE_OK) st = ledge_session_run(s, &input, 1, NULL, 0);
      for (int k = 0; k < n_track && st == LEDGE_OK; k++) {
        const ledge_tensor *t;
        st = ledge_session_output(s, output_position(&cg, track[k]), &t);
        if (st != LEDGE_OK) break;
        if (ledge_tensor_dtype(t) != LEDGE_FLOAT32) {
          st = lg_error(LEDGE_ERR_UNSUPPORTED, "quantize: tensor '%s' is not float32",
                        cg.values[track[k]].name);
          break;
        }
        if (pass == 0)
          stat_minmax(&stats[k], ledge_tensor_data(t), ledge_tensor_count(t));
        else
          stat_hist(&stats[k], ledge_tensor_data(t), ledge_tensor_count(t));
      }
      if (opt->progress)
        opt->progress(passes > 1 ? (pass ? "histograms" : "ranges") : "calibrating", (long)i + 1,
                      (long)source->count);
    }
  }
  r->samples = source->count;
  ledge_tensor_destroy(input);
  ledge_session_destroy(s);
  lg_graph_model_free(cm);
  lg_graph_free(&cg);
  free(track);

  /* The QDQ rewrite of a copy of the float graph. */
  if (st == LEDGE_OK) st = lg_graph_clone(fg, &r->graph);
  qctx q = {&r->graph, model->opset < 13 ? 13 : model->opset, opt};
  r->opset = q.opset;
  lg_graph *g = &r->graph;
  float *act_scale = calloc((size_t)g->n_values + 1, sizeof(float));
  if (!act_scale && st == LEDGE_OK) st = lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  for (int k = 0; k < n_track && st == LEDGE_OK; k++) {
    calib_stat *c = &stats[k];
    double lo = c->lo, hi = c->hi;
    if (!isfinite(lo) || !isfinite(hi)) lo = hi = 0;
    if (opt->method != LG_CALIB_MINMAX && c->absmax > 0) {
      double t = opt->method == LG_CALIB_PERCENTILE ? percentile_threshold(c, opt->percentile)
                                                    : entropy_threshold(c, lo >= 0 ? 255 : 128);
      lo = fmax(lo, -t);
      hi = fmin(hi, t);
    }
    float scale;
    uint8_t zp;
    u8_params(lo, hi, &scale, &zp);
    act_scale[c->value] = scale;
    for (int i = 0; i < r->n_layers; i++)
      if (r->layers[i].output_value == c->value) {
        r->layers[i].x_min = (float)lo;
        r->layers[i].x_max = (float)hi;
      }
    if (insert_qdq(&q, c->value, scale, zp) < 0) st = LEDGE_ERR_NO_MEMORY;
  }
  for (int i = 0; i < r->n_layers && st == LEDGE_OK; i++) {
    lg_quant_layer *l = &r->layers[i];
    if (!l->quantized) continue;
    int ni = find_layer_node(g, l);
    lg_node *n = &g->nodes[ni];
    /* The layer's input now reads the DQ output; its scale is the source's. */
    int xdq = n->in[0];
    int xsrc = g->values[xdq].producer >= 0 ? g->nodes[g->values[xdq].producer].in[0] : -1;
    int xorig =
        xsrc >= 0 && g->values[xsrc].producer >= 0 ? g->nodes[g->values[xsrc].producer].in[0] : -1;
    float x_scale = xorig >= 0 ? act_scale[xorig] : 0;
    int wv = n->in[1];
    lg_tensor wt = g->values[wv].t;
    int64_t channels = !strcmp(l->op_type, "Conv") ? wt.dims[0] : wt.dims[1];
    float *wscales = malloc(sizeof(float) * (size_t)(channels + 1));
    if (!wscales) {
      st = lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
      break;
    }
    int wdq;
    if (!strcmp(l->op_type, "Conv")) {
      int64_t per = lg_tensor_count(&wt) / (channels ? channels : 1);
      wdq = quantize_weights(&q, wv, channels, per, per, 1, 0, opt->per_channel, wscales);
    } else {
      wdq = quantize_weights(&q, wv, channels, wt.dims[0], 1, wt.dims[1], 1, opt->per_channel,
                             wscales);
    }
    n = &g->nodes[ni]; /* nodes may have moved */
    if (wdq < 0)
      st = LEDGE_ERR_NO_MEMORY;
    else
      n->in[1] = wdq;
    if (st == LEDGE_OK && n->n_in > 2 && n->in[2] >= 0 && x_scale > 0) {
      int bdq = quantize_bias(&q, n->in[2], channels, x_scale, wscales);
      n = &g->nodes[ni];
      if (bdq < 0)
        st = LEDGE_ERR_NO_MEMORY;
      else
        n->in[2] = bdq;
    }
    free(wscales);
  }
  for (int k = 0; k < n_track; k++) free(stats[k].hist);
  free(stats);
  free(act_scale);
  if (st == LEDGE_OK) st = lg_pass_eliminate_dead(g);
  if (st == LEDGE_OK) st = toposort(g);
  if (st != LEDGE_OK) lg_quant_result_free(r);
  return st;
}

lg_status lg_quant_write_onnx(const ledge_model *model, const lg_quant_result *r,
                              const char *path) {
  int n_out = model->graph.n_outputs;
  ledge_tensor_info *types = calloc((size_t)n_out + 1, sizeof *types);
  if (!types) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  lg_status st = lg_model_output_types(model, types);
  lg_onnx_write_options o;
  memset(&o, 0, sizeof o);
  o.opset = r->opset;
  o.doc_string = "int8 QDQ model written by ledge quantize";
  o.output_types = st == LEDGE_OK ? types : NULL;
  st = lg_onnx_write_file(&r->graph, &o, path);
  free(types);
  return st;
}

lg_status lg_quant_write_ledge(const ledge_model *model, const lg_quant_result *r,
                               const char *path) {
  int n_out = model->graph.n_outputs;
  ledge_tensor_info *types = calloc((size_t)n_out + 1, sizeof *types);
  if (!types) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  lg_status st = lg_model_output_types(model, types);
  const char *keys[] = {"quantization"}, *values[] = {"int8 QDQ (ledge quantize)"};
  lg_ledge_write_options o;
  memset(&o, 0, sizeof o);
  o.opset = r->opset;
  o.n_meta = 1;
  o.meta_keys = keys;
  o.meta_values = values;
  o.output_types = st == LEDGE_OK ? types : NULL;
  st = lg_ledge_write_file(&r->graph, &o, path);
  free(types);
  return st;
}
