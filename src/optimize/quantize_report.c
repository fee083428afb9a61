/*
 * quantize_report.c: what quantization did to each layer (see quantize.h):
 * the SQNR of its int8 output against float, 10 log10(sum ref^2 / sum
 * (ref - int8)^2) over the samples, and its time in float and in int8 from
 * profiled single-thread sessions of both graphs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optimize/quantize.h"
#include "runtime/model.h"

static lg_status with_outputs(const lg_graph *src, const int *vals, int n, lg_graph *dst) {
  LG_TRY(lg_graph_clone(src, dst));
  int *outs = lg_pool_alloc(dst->pool, sizeof(int) * (size_t)(dst->n_outputs + n + 1));
  if (!outs) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  memcpy(outs, dst->outputs, sizeof(int) * (size_t)dst->n_outputs);
  int count = dst->n_outputs;
  for (int i = 0; i < n; i++) {
    if (vals[i] < 0 || dst->values[vals[i]].is_output) continue;
    dst->values[vals[i]].is_output = true;
    outs[count++] = vals[i];
  }
  dst->outputs = outs;
  dst->n_outputs = count;
  return LEDGE_OK;
}

static int out_pos(const lg_graph *g, int v) {
  for (int i = 0; i < g->n_outputs; i++)
    if (g->outputs[i] == v) return i;
  return -1;
}

static lg_status make_session(const ledge_model *like, const lg_graph *g, int threads, bool profile,
                              ledge_model **m, ledge_session **s) {
  *m = lg_graph_model(like, g);
  if (!*m) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  ledge_session_options o;
  ledge_session_options_init(&o);
  o.num_threads = threads;
  o.profile = profile;
  return ledge_session_create(*m, &o, s);
}

static lg_status make_input(const ledge_model *model, ledge_tensor **t) {
  ledge_tensor_info info;
  LG_TRY(ledge_model_input_info(model, 0, &info));
  int64_t dims[LEDGE_MAX_RANK];
  for (int d = 0; d < info.rank; d++) dims[d] = info.dims[d] < 0 ? 1 : info.dims[d];
  return ledge_tensor_create(LEDGE_FLOAT32, info.rank, dims, t);
}

/* Mean time per run of each layer (by node name) and of the whole graph. */
static lg_status time_layers(const ledge_model *like, const lg_graph *g,
                             const lg_calib_source *source, int runs, lg_quant_layer *layers,
                             int n_layers, bool int8, double *total_ms) {
  ledge_model *m = NULL;
  ledge_session *s = NULL;
  ledge_tensor *in = NULL;
  lg_status st = make_session(like, g, 1, true, &m, &s);
  if (st == LEDGE_OK) st = make_input(like, &in);
  if (st == LEDGE_OK)
    st = source->get(source->ctx, 0, ledge_tensor_data(in), ledge_tensor_count(in));
  if (st == LEDGE_OK) st = ledge_session_run(s, &in, 1, NULL, 0);
  if (st == LEDGE_OK) ledge_session_profile_reset(s);
  for (int r = 0; r < runs && st == LEDGE_OK; r++) st = ledge_session_run(s, &in, 1, NULL, 0);
  *total_ms = 0;
  for (int p = 0; st == LEDGE_OK && p < ledge_session_profile_count(s); p++) {
    ledge_node_profile np;
    if (ledge_session_profile_get(s, p, &np) != LEDGE_OK || np.runs < 1) continue;
    double ms = np.total_ms / (double)np.runs;
    *total_ms += ms;
    for (int l = 0; l < n_layers; l++)
      if (np.name && !strcmp(np.name, layers[l].name)) {
        if (int8)
          layers[l].int8_ms += ms;
        else
          layers[l].fp32_ms += ms;
      }
  }
  ledge_tensor_destroy(in);
  ledge_session_destroy(s);
  lg_graph_model_free(m);
  return st;
}

lg_status lg_quant_report(const ledge_model *model, lg_quant_result *r,
                          const lg_calib_source *source, int64_t samples, int runs,
                          double *fp32_total_ms, double *int8_total_ms) {
  if (samples > source->count) samples = source->count;
  int n = r->n_layers;
  int *fv = malloc(sizeof(int) * (size_t)(n + 1)), *qv = malloc(sizeof(int) * (size_t)(n + 1));
  double *sig = calloc((size_t)n + 1, sizeof(double)),
         *noise = calloc((size_t)n + 1, sizeof(double));
  if (!fv || !qv || !sig || !noise) {
    free(fv);
    free(qv);
    free(sig);
    free(noise);
    return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  }
  for (int l = 0; l < n; l++) {
    fv[l] = r->layers[l].output_value;
    qv[l] = -1;
    if (r->layers[l].quantized) {
      char name[300];
      snprintf(name, sizeof name, "%s_dequantized", r->layers[l].output_name);
      qv[l] = lg_graph_find_value(&r->graph, name);
    }
    r->layers[l].fp32_ms = r->layers[l].int8_ms = 0;
    r->layers[l].sqnr_db = NAN;
  }
  lg_graph fg, qg;
  memset(&fg, 0, sizeof fg);
  memset(&qg, 0, sizeof qg);
  ledge_model *fm = NULL, *qm = NULL;
  ledge_session *fs = NULL, *qs = NULL;
  ledge_tensor *in = NULL;
  lg_status st = with_outputs(&r->float_graph, fv, n, &fg);
  if (st == LEDGE_OK) st = with_outputs(&r->graph, qv, n, &qg);
  if (st == LEDGE_OK) st = make_session(model, &fg, 0, false, &fm, &fs);
  if (st == LEDGE_OK) st = make_session(model, &qg, 0, false, &qm, &qs);
  if (st == LEDGE_OK) st = make_input(model, &in);
  double out_sig = 0, out_noise = 0;
  r->top1_agree = r->report_samples = 0;
  for (int64_t i = 0; i < samples && st == LEDGE_OK; i++) {
    st = source->get(source->ctx, i, ledge_tensor_data(in), ledge_tensor_count(in));
    if (st == LEDGE_OK) st = ledge_session_run(fs, &in, 1, NULL, 0);
    if (st == LEDGE_OK) st = ledge_session_run(qs, &in, 1, NULL, 0);
    const ledge_tensor *fo, *qo;
    if (st == LEDGE_OK && ledge_session_output(fs, 0, &fo) == LEDGE_OK &&
        ledge_session_output(qs, 0, &qo) == LEDGE_OK && ledge_tensor_dtype(fo) == LEDGE_FLOAT32 &&
        ledge_tensor_dtype(qo) == LEDGE_FLOAT32 &&
        ledge_tensor_count(fo) == ledge_tensor_count(qo) && ledge_tensor_count(fo) > 0) {
      const float *x = ledge_tensor_data(fo), *y = ledge_tensor_data(qo);
      int64_t best_x = 0, best_y = 0;
      for (int64_t k = 0; k < ledge_tensor_count(fo); k++) {
        out_sig += (double)x[k] * x[k];
        out_noise += ((double)x[k] - y[k]) * ((double)x[k] - y[k]);
        if (x[k] > x[best_x]) best_x = k;
        if (y[k] > y[best_y]) best_y = k;
      }
      r->top1_agree += best_x == best_y;
      r->report_samples++;
    }
    for (int l = 0; l < n && st == LEDGE_OK; l++) {
      if (qv[l] < 0) continue;
      const ledge_tensor *a, *b;
      st = ledge_session_output(fs, out_pos(&fg, fv[l]), &a);
      if (st == LEDGE_OK) st = ledge_session_output(qs, out_pos(&qg, qv[l]), &b);
      if (st != LEDGE_OK) break;
      if (ledge_tensor_count(a) != ledge_tensor_count(b)) continue;
      const float *x = ledge_tensor_data(a), *y = ledge_tensor_data(b);
      for (int64_t k = 0; k < ledge_tensor_count(a); k++) {
        sig[l] += (double)x[k] * x[k];
        noise[l] += ((double)x[k] - y[k]) * ((double)x[k] - y[k]);
      }
    }
  }
  for (int l = 0; l < n; l++)
    if (qv[l] >= 0 && samples > 0)
      r->layers[l].sqnr_db = noise[l] > 0 ? 10.0 * log10(sig[l] / noise[l]) : INFINITY;
  r->output_sqnr_db = out_noise > 0 ? 10.0 * log10(out_sig / out_noise) : INFINITY;
  ledge_tensor_destroy(in);
  ledge_session_destroy(fs);
  ledge_session_destroy(qs);
  lg_graph_model_free(fm);
  lg_graph_model_free(qm);
  lg_graph_free(&fg);
  lg_graph_free(&qg);
  free(fv);
  free(qv);
  free(sig);
  free(noise);
  if (st == LEDGE_OK && runs > 0)
    st = time_layers(model, &r->float_graph, source, runs, r->layers, n, false, fp32_total_ms);
  if (st == LEDGE_OK && runs > 0)
    st = time_layers(model, &r->graph, source, runs, r->layers, n, true, int8_total_ms);
  return st;
}
