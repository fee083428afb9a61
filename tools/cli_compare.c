/* cli_compare.c: what the model-changing commands (prune, compress, ...)
 * report: how far a changed model's outputs moved from the original's on the
 * same inputs, and how fast each runs. */
#include <math.h>
#include <stdlib.h>

#include "cli.h"

int cli_compare_models(ledge_model *a, ledge_model *b, double *rel, double *sqnr, int *top1_same) {
  ledge_session *sa = NULL, *sb = NULL;
  if (cli_create_session(a, 0, false, &sa) || cli_create_session(b, 0, false, &sb)) {
    ledge_session_destroy(sa);
    return 1;
  }
  int n_in = ledge_session_input_count(sa), rc = 0;
  ledge_tensor **inputs = calloc((size_t)n_in + 1, sizeof *inputs);
  if (!inputs) rc = cli_fail("out of memory");
  for (int i = 0; i < n_in && !rc; i++) rc = cli_random_input(sa, i, 0, &inputs[i]);
  if (!rc && (ledge_session_run(sa, inputs, n_in, NULL, 0) ||
              ledge_session_run(sb, inputs, n_in, NULL, 0)))
    rc = cli_fail_status("running the models");
  *rel = 0;
  *top1_same = 1;
  double signal = 0, noise = 0;
  for (int o = 0; !rc && o < ledge_session_output_count(sa); o++) {
    const ledge_tensor *x, *y;
    ledge_session_output(sa, o, &x);
    ledge_session_output(sb, o, &y);
    if (ledge_tensor_dtype(x) != LEDGE_FLOAT32 || ledge_tensor_count(x) != ledge_tensor_count(y))
      continue;
    const float *p = ledge_tensor_data(x), *q = ledge_tensor_data(y);
    int64_t n = ledge_tensor_count(x), am = 0, bm = 0;
    double scale = 0, err = 0;
    for (int64_t i = 0; i < n; i++) {
      scale = fmax(scale, fabs(p[i]));
      err = fmax(err, fabs((double)p[i] - q[i]));
      signal += (double)p[i] * p[i];
      noise += ((double)p[i] - q[i]) * ((double)p[i] - q[i]);
      if (p[i] > p[am]) am = i;
      if (q[i] > q[bm]) bm = i;
    }
    *rel = fmax(*rel, scale > 0 ? err / scale : err);
    if (o == 0) *top1_same = am == bm;
  }
  *sqnr = noise > 0 ? 10 * log10(signal / noise) : INFINITY;
  for (int i = 0; inputs && i < n_in; i++) ledge_tensor_destroy(inputs[i]);
  free(inputs);
  ledge_session_destroy(sa);
  ledge_session_destroy(sb);
  return rc;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int cli_compare_latency(ledge_model *a, ledge_model *b, int threads, int runs, double *ms_a,
                        double *ms_b) {
  ledge_session *s[2] = {NULL, NULL};
  ledge_tensor **in[2] = {NULL, NULL};
  double *t[2] = {calloc((size_t)runs + 1, sizeof(double)),
                  calloc((size_t)runs + 1, sizeof(double))};
  int n_in[2] = {0, 0}, rc = t[0] && t[1] ? 0 : cli_fail("out of memory");
  ledge_model *m[2] = {a, b};
  for (int k = 0; k < 2 && !rc; k++) {
    rc = cli_create_session(m[k], threads, false, &s[k]);
    if (rc) break;
    n_in[k] = ledge_session_input_count(s[k]);
    in[k] = calloc((size_t)n_in[k] + 1, sizeof *in[k]);
    if (!in[k]) rc = cli_fail("out of memory");
    for (int i = 0; i < n_in[k] && !rc; i++) rc = cli_random_input(s[k], i, 0, &in[k][i]);
    if (!rc && ledge_session_run(s[k], in[k], n_in[k], NULL, 0))
      rc = cli_fail_status("warm-up run");
  }
  /* Interleaved, so drift in the machine's speed hits both alike. */
  for (int r = 0; r < runs && !rc; r++)
    for (int k = 0; k < 2 && !rc; k++) {
      double t0 = cli_now();
      if (ledge_session_run(s[k], in[k], n_in[k], NULL, 0)) rc = cli_fail_status("run");
      t[k][r] = (cli_now() - t0) * 1000;
    }
  if (!rc) {
    qsort(t[0], (size_t)runs, sizeof(double), by_value);
    qsort(t[1], (size_t)runs, sizeof(double), by_value);
    *ms_a = t[0][runs / 2];
    *ms_b = t[1][runs / 2];
  }
  for (int k = 0; k < 2; k++) {
    for (int i = 0; in[k] && i < n_in[k]; i++) ledge_tensor_destroy(in[k][i]);
    free(in[k]);
    ledge_session_destroy(s[k]);
    free(t[k]);
  }
  return rc;
}
