/*
 * ledge_format_selftest.c: making and running the self-test a .ledge file
 * may carry.
 *
 * Making one runs the model at optimization level 0 (every node as written)
 * with every node output made a graph output, and records the outputs in
 * full and each layer as a fingerprint (count, sum, sum of squares, largest
 * magnitude and 64 evenly spaced samples), a few hundred bytes per layer.
 *
 * Running one compares the optimized session's outputs with the recorded
 * ones and, layer by layer in graph order, the unoptimized graph's
 * fingerprints, so the report names the first layer that diverges; if only
 * the optimized outputs diverge, a fused kernel is to blame and the report
 * says so.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/ledge_format.h"
#include "runtime/model.h"

enum { SAMPLES = 64 };

lg_status lg_model_with_all_outputs(const ledge_model *m, ledge_model **out, int **layer_value,
                                    int *n_layers) {
  *out = NULL;
  *layer_value = NULL;
  *n_layers = 0;
  ledge_model *d = calloc(1, sizeof *d);
  if (!d) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  lg_status st = lg_graph_clone(&m->graph, &d->graph);
  if (st != LEDGE_OK) {
    free(d);
    return st;
  }
  d->opset = m->opset;
  d->format = m->format;
  lg_graph *g = &d->graph;
  int *outputs = lg_pool_alloc(g->pool, sizeof(int) * (size_t)(g->n_values + 1));
  int *layers = malloc(sizeof(int) * (size_t)(g->n_values + 1));
  if (!outputs || !layers) {
    free(layers);
    ledge_model_destroy(d);
    return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  }
  int n = 0;
  for (int i = 0; i < g->n_outputs; i++) outputs[n++] = g->outputs[i];
  for (int i = 0; i < g->n_nodes; i++) {
    const lg_node *node = &g->nodes[i];
    if (node->dead) continue;
    for (int k = 0; k < node->n_out; k++) {
      int v = node->out[k];
      if (v < 0) continue;
      layers[(*n_layers)++] = v;
      if (!g->values[v].is_output) {
        g->values[v].is_output = true;
        outputs[n++] = v;
      }
    }
  }
  g->outputs = outputs;
  g->n_outputs = n;
  *out = d;
  *layer_value = layers;
  return LEDGE_OK;
}

/* The output index of value v in the debug model. */
static int output_index(const lg_graph *g, int v) {
  for (int i = 0; i < g->n_outputs; i++)
    if (g->outputs[i] == v) return i;
  return -1;
}

static lg_status make_session(const ledge_model *m, int level, int threads, ledge_session **s) {
  ledge_session_options so;
  ledge_session_options_init(&so);
  so.optimization_level = level;
  so.num_threads = threads;
  return ledge_session_create(m, &so, s);
}

/* Sets input shapes from the tensors and runs. */
static lg_status run_with(ledge_session *s, ledge_tensor *const *inputs, int n) {
  for (int i = 0; i < n; i++)
    LG_TRY(ledge_session_set_input_shape(s, i, ledge_tensor_rank(inputs[i]),
                                         ledge_tensor_dims(inputs[i])));
  return ledge_session_run(s, inputs, n, NULL, 0);
}

/* Deterministic inputs like `ledge run` makes: floats in [-1, 1), small ints. */
static lg_status random_inputs(const ledge_model *m, ledge_tensor **out) {
  const lg_graph *g = &m->graph;
  for (int i = 0; i < g->n_inputs; i++) {
    const lg_value *v = &g->values[g->inputs[i]];
    if (v->t.rank < 0)
      return lg_error(LEDGE_ERR_SHAPE, "input '%s' has no known rank; give a self-test input",
                      v->name);
    int64_t dims[LEDGE_MAX_RANK];
    for (int d = 0; d < v->t.rank; d++) dims[d] = v->t.dims[d] < 0 ? 1 : v->t.dims[d];
    LG_TRY(ledge_tensor_create(v->t.dtype, v->t.rank, dims, &out[i]));
    uint64_t state = 0x9E3779B97F4A7C15ull ^ (uint64_t)i;
    int64_t count = ledge_tensor_count(out[i]);
    void *p = ledge_tensor_data(out[i]);
    for (int64_t k = 0; k < count; k++) {
      state ^= state << 13, state ^= state >> 7, state ^= state << 17;
      double u = (double)(state >> 11) / 9007199254740992.0;
      switch (v->t.dtype) {
        case LEDGE_FLOAT32: ((float *)p)[k] = (float)(u * 2 - 1); break;
        case LEDGE_FLOAT64: ((double *)p)[k] = u * 2 - 1; break;
        case LEDGE_FLOAT16: ((uint16_t *)p)[k] = lg_float_to_half((float)(u * 2 - 1)); break;
        case LEDGE_INT64: ((int64_t *)p)[k] = (int64_t)(u * 10); break;
        case LEDGE_INT32: ((int32_t *)p)[k] = (int32_t)(u * 10); break;
        case LEDGE_UINT8: ((uint8_t *)p)[k] = (uint8_t)(u * 256); break;
        case LEDGE_INT8: ((int8_t *)p)[k] = (int8_t)(u * 256 - 128); break;
        case LEDGE_BOOL: ((uint8_t *)p)[k] = u < 0.5; break;
        default: break;
      }
    }
  }
  return LEDGE_OK;
}

static void fingerprint(const lg_tensor *t, lg_ledge_layer *l, float *samples) {
  int64_t count = lg_tensor_count(t);
  l->count = count;
  l->sum = l->sum_squares = 0;
  double max_abs = 0;
  bool numeric = t->dtype != LEDGE_STRING && ledge_dtype_size(t->dtype) > 0 && t->data;
  for (int64_t i = 0; numeric && i < count; i++) {
    double x = lg_tensor_get_double(t, i);
    l->sum += x;
    l->sum_squares += x * x;
    if (fabs(x) > max_abs || isnan(x)) max_abs = isnan(x) ? NAN : fabs(x);
  }
  l->max_abs = (float)max_abs;
  l->n_samples = numeric ? (int)(count < SAMPLES ? count : SAMPLES) : 0;
  for (int k = 0; k < l->n_samples; k++)
    samples[k] = (float)lg_tensor_get_double(t, (int64_t)k * count / l->n_samples);
  l->samples = samples;
}

static char *pool_dup(lg_pool *pool, const char *s) {
  return lg_pool_strndup(pool, s ? s : "", s ? strlen(s) : 0);
}

static lg_status copy_tensor(lg_pool *pool, const ledge_tensor *src, lg_tensor *dst) {
  memset(dst, 0, sizeof *dst);
  dst->dtype = ledge_tensor_dtype(src);
  lg_tensor_set_shape(dst, ledge_tensor_rank(src), ledge_tensor_dims(src));
  size_t bytes = ledge_tensor_bytes(src);
  dst->data = lg_pool_alloc(pool, bytes ? bytes : 1);
  if (!dst->data) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  memcpy(dst->data, ledge_tensor_data(src), bytes);
  dst->capacity = bytes;
  return LEDGE_OK;
}

lg_status lg_ledge_selftest_make(const ledge_model *model, ledge_tensor *const *given,
                                 float tolerance, lg_pool *pool, lg_ledge_selftest *st) {
  memset(st, 0, sizeof *st);
  st->tolerance = tolerance > 0 ? tolerance : 1e-3f;
  const lg_graph *mg = &model->graph;
  int n_in = mg->n_inputs;
  ledge_tensor **inputs = calloc((size_t)n_in + 1, sizeof *inputs);
  if (!inputs) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  lg_status s = LEDGE_OK;
  if (given) {
    for (int i = 0; i < n_in; i++) inputs[i] = given[i];
  } else {
    s = random_inputs(model, inputs);
  }
  ledge_model *dbg = NULL;
  int *layer_value = NULL, n_layers = 0;
  ledge_session *session = NULL;
  if (s == LEDGE_OK) s = lg_model_with_all_outputs(model, &dbg, &layer_value, &n_layers);
  if (s == LEDGE_OK) s = make_session(dbg, 0, 0, &session);
  if (s == LEDGE_OK) s = run_with(session, inputs, n_in);
  if (s == LEDGE_OK) {
    st->n_inputs = n_in;
    st->n_outputs = mg->n_outputs;
    st->inputs = lg_pool_alloc(pool, sizeof(lg_tensor) * (size_t)(n_in + 1));
    st->input_names = lg_pool_alloc(pool, sizeof(char *) * (size_t)(n_in + 1));
    st->outputs = lg_pool_alloc(pool, sizeof(lg_tensor) * (size_t)(mg->n_outputs + 1));
    st->output_names = lg_pool_alloc(pool, sizeof(char *) * (size_t)(mg->n_outputs + 1));
    st->layers = lg_pool_alloc(pool, sizeof(lg_ledge_layer) * (size_t)(n_layers + 1));
    if (!st->inputs || !st->input_names || !st->outputs || !st->output_names || !st->layers)
      s = lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  }
  for (int i = 0; s == LEDGE_OK && i < n_in; i++) {
    st->input_names[i] = pool_dup(pool, mg->values[mg->inputs[i]].name);
    s = copy_tensor(pool, inputs[i], &st->inputs[i]);
  }
  for (int i = 0; s == LEDGE_OK && i < mg->n_outputs; i++) {
    const ledge_tensor *t;
    st->output_names[i] = pool_dup(pool, mg->values[mg->outputs[i]].name);
    s = ledge_session_output(session, i, &t);
    if (s == LEDGE_OK) s = copy_tensor(pool, t, &st->outputs[i]);
  }
  for (int k = 0; s == LEDGE_OK && k < n_layers; k++) {
    const lg_graph *g = &dbg->graph;
    int v = layer_value[k];
    const ledge_tensor *t;
    s = ledge_session_output(session, output_index(g, v), &t);
    if (s != LEDGE_OK) break;
    lg_ledge_layer *l = &st->layers[st->n_layers++];
    const lg_node *node = &g->nodes[g->values[v].producer];
    l->value = pool_dup(pool, g->values[v].name);
    l->node = pool_dup(pool, node->name);
    l->op_type = pool_dup(pool, node->op_type);
    float *samples = lg_pool_alloc(pool, sizeof(float) * SAMPLES);
    if (!samples)
      s = lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
    else
      fingerprint(t, l, samples);
  }
  ledge_session_destroy(session);
  ledge_model_destroy(dbg);
  free(layer_value);
  if (!given)
    for (int i = 0; i < n_in; i++) ledge_tensor_destroy(inputs[i]);
  free(inputs);
  if (s != LEDGE_OK) return lg_error_context(s, "cannot make the self-test: ");
  return LEDGE_OK;
}

/* Error of got against want, relative to want's largest magnitude. */
static double tensor_error(const ledge_tensor *got, const lg_tensor *want) {
  if (ledge_tensor_dtype(got) != want->dtype ||
      !lg_shape_equal(ledge_tensor_rank(got), ledge_tensor_dims(got), want->rank, want->dims))
    return INFINITY;
  int64_t n = lg_tensor_count(want);
  double scale = 0, err = 0;
  for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(lg_tensor_get_double(want, i)));
  scale = fmax(scale, 1e-6);
  for (int64_t i = 0; i < n; i++) {
    double a = lg_tensor_get_double(got, i), b = lg_tensor_get_double(want, i);
    if (isnan(a) != isnan(b)) return INFINITY;
    if (!isnan(a)) err = fmax(err, fabs(a - b) / scale);
  }
  return err;
}

static double layer_error(const lg_ledge_layer *got, const lg_ledge_layer *want) {
  if (got->count != want->count || got->n_samples != want->n_samples) return INFINITY;
  if (isnan(got->max_abs) != isnan(want->max_abs)) return INFINITY;
  double scale = fmax(isnan(want->max_abs) ? 0 : want->max_abs, 1e-6);
  double err = fabs((double)got->max_abs - want->max_abs) / scale;
  if (want->count > 0) err = fmax(err, fabs(got->sum - want->sum) / (double)want->count / scale);
  for (int k = 0; k < want->n_samples; k++) {
    if (isnan(got->samples[k]) != isnan(want->samples[k])) return INFINITY;
    if (!isnan(want->samples[k]))
      err = fmax(err, fabs((double)got->samples[k] - want->samples[k]) / scale);
  }
  return isnan(err) ? 0 : err;
}

lg_status lg_ledge_selftest_run(const ledge_model *model, const lg_ledge_selftest *st,
                                float tolerance, int threads, lg_ledge_selftest_report *rep) {
  memset(rep, 0, sizeof *rep);
  double tol = tolerance > 0 ? tolerance : st->tolerance;
  const lg_graph *mg = &model->graph;
  if (st->n_inputs != mg->n_inputs || st->n_outputs != mg->n_outputs)
    return lg_error(LEDGE_ERR_FORMAT,
                    "the self-test does not match the model's inputs and outputs");
  ledge_tensor **inputs = calloc((size_t)st->n_inputs + 1, sizeof *inputs);
  if (!inputs) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  lg_status s = LEDGE_OK;
  for (int i = 0; s == LEDGE_OK && i < st->n_inputs; i++) {
    s = ledge_tensor_create(st->inputs[i].dtype, st->inputs[i].rank, st->inputs[i].dims,
                            &inputs[i]);
    if (s == LEDGE_OK)
      memcpy(ledge_tensor_data(inputs[i]), st->inputs[i].data, lg_tensor_bytes(&st->inputs[i]));
  }
  /* 1. The optimized session, as the model will serve. */
  ledge_session *session = NULL;
  if (s == LEDGE_OK) s = make_session(model, 1, threads, &session);
  if (s == LEDGE_OK) s = run_with(session, inputs, st->n_inputs);
  int worst_output = -1;
  for (int i = 0; s == LEDGE_OK && i < st->n_outputs; i++) {
    const ledge_tensor *t;
    s = ledge_session_output(session, i, &t);
    double e = s == LEDGE_OK ? tensor_error(t, &st->outputs[i]) : 0;
    if (e > rep->max_output_error || isinf(e)) rep->max_output_error = e, worst_output = i;
  }
  ledge_session_destroy(session);
  /* 2. Every layer of the unoptimized graph, in order. */
  ledge_model *dbg = NULL;
  int *layer_value = NULL, n_layers = 0;
  session = NULL;
  if (s == LEDGE_OK) s = lg_model_with_all_outputs(model, &dbg, &layer_value, &n_layers);
  if (s == LEDGE_OK) s = make_session(dbg, 0, threads, &session);
  if (s == LEDGE_OK) s = run_with(session, inputs, st->n_inputs);
  float samples[SAMPLES];
  for (int k = 0; s == LEDGE_OK && k < st->n_layers; k++) {
    const lg_ledge_layer *want = &st->layers[k];
    int v = -1;
    for (int j = 0; j < n_layers && v < 0; j++)
      if (!strcmp(dbg->graph.values[layer_value[j]].name, want->value)) v = layer_value[j];
    if (v < 0) {
      s = lg_error(LEDGE_ERR_FORMAT, "the self-test names layer '%s', which the model lacks",
                   want->value);
      break;
    }
    const ledge_tensor *t;
    s = ledge_session_output(session, output_index(&dbg->graph, v), &t);
    if (s != LEDGE_OK) break;
    lg_ledge_layer got = {0};
    fingerprint(t, &got, samples);
    double e = layer_error(&got, want);
    rep->layers_checked++;
    if (e > tol && !rep->first_layer[0]) {
      snprintf(rep->first_layer, sizeof rep->first_layer, "%s (node '%s', %s)", want->value,
               want->node, want->op_type);
      rep->first_error = e;
    }
  }
  ledge_session_destroy(session);
  ledge_model_destroy(dbg);
  free(layer_value);
  for (int i = 0; i < st->n_inputs; i++) ledge_tensor_destroy(inputs[i]);
  free(inputs);
  if (s != LEDGE_OK) return lg_error_context(s, "self-test: ");
  bool outputs_ok = rep->max_output_error <= tol;
  rep->passed = outputs_ok && !rep->first_layer[0];
  if (rep->passed)
    snprintf(rep->message, sizeof rep->message,
             "self-test passed: %d outputs within %.3g (max error %.3g), %d layers agree",
             st->n_outputs, tol, rep->max_output_error, rep->layers_checked);
  else if (rep->first_layer[0])
    snprintf(
        rep->message, sizeof rep->message,
        "self-test FAILED: first diverging layer %s, error %.3g > %.3g (outputs: max error %.3g)",
        rep->first_layer, rep->first_error, tol, rep->max_output_error);
  else
    snprintf(rep->message, sizeof rep->message,
             "self-test FAILED: output '%s' diverges (error %.3g > %.3g) in the optimized graph, "
             "while every layer agrees "
             "unoptimized: a fused kernel computes differently",
             worst_output >= 0 ? st->output_names[worst_output] : "?", rep->max_output_error, tol);
  return LEDGE_OK;
}
