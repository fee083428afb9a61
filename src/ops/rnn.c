/*
 * rnn.c: ONNX's recurrent layers RNN, GRU and LSTM, one shared driver.
 *
 * Shapes (layout 0): X [T, B, I], W [D, G*H, I], R [D, G*H, H],
 * B [D, 2*G*H] (input bias then recurrence bias), sequence_lens [B],
 * initial_h / initial_c [D, B, H], P [D, 3*H] (LSTM peepholes i, o, f).
 * Outputs: Y [T, D, B, H], Y_h [D, B, H], Y_c [D, B, H] (LSTM).
 * layout 1 (opset 14) puts the batch first: X [B, T, I], Y [B, T, D, H],
 * Y_h and Y_c [B, D, H]. G is 1 (RNN), 3 (GRU: z, r, h) or 4 (LSTM: i, o,
 * f, c). Steps past a sequence's length produce zeros in Y and leave its
 * state as it was; the reverse direction runs backwards from the last
 * valid step.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ops/op.h"

typedef enum { CELL_RNN, CELL_GRU, CELL_LSTM } cell_kind;

typedef enum {
  F_RELU,
  F_TANH,
  F_SIGMOID,
  F_AFFINE,
  F_LEAKY,
  F_THRESHOLDED,
  F_SCALED_TANH,
  F_HARD_SIGMOID,
  F_ELU,
  F_SOFTSIGN,
  F_SOFTPLUS
} act_kind;

typedef struct {
  act_kind kind;
  float alpha, beta;
} act_fn;

typedef struct rnn_state {
  cell_kind cell;
  int gates, dirs, layout;
  int64_t seq, batch, input, hidden;
  float clip; /* 0: none */
  bool linear_before_reset;
  act_fn f[2][3]; /* per direction: f, g, h as the cell uses them */
} rnn_state;

static float apply(const act_fn *a, float x) {
  switch (a->kind) {
    case F_RELU: return x > 0 ? x : 0;
    case F_TANH: return tanhf(x);
    case F_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case F_AFFINE: return a->alpha * x + a->beta;
    case F_LEAKY: return x >= 0 ? x : a->alpha * x;
    case F_THRESHOLDED: return x > a->alpha ? x : 0;
    case F_SCALED_TANH: return a->alpha * tanhf(a->beta * x);
    case F_HARD_SIGMOID: {
      float y = a->alpha * x + a->beta;
      return y < 0 ? 0 : y > 1 ? 1 : y;
    }
    case F_ELU: return x >= 0 ? x : a->alpha * (expf(x) - 1);
    case F_SOFTSIGN: return x / (1 + fabsf(x));
    case F_SOFTPLUS: return logf(1 + expf(x));
  }
  return x;
}

/* Parses one activation name, taking its alpha/beta from the attribute
 * lists in order (only the functions that have parameters consume them). */
static lg_status parse_act(const lg_node *node, const char *name, int *ai, int *bi, act_fn *out) {
  static const struct {
    const char *name;
    act_kind kind;
    int n_alpha, n_beta;
    float alpha, beta;
  } table[] = {
      {"Relu", F_RELU, 0, 0, 0, 0},
      {"Tanh", F_TANH, 0, 0, 0, 0},
      {"Sigmoid", F_SIGMOID, 0, 0, 0, 0},
      {"Affine", F_AFFINE, 1, 1, 1, 0},
      {"LeakyRelu", F_LEAKY, 1, 0, 0.01f, 0},
      {"ThresholdedRelu", F_THRESHOLDED, 1, 0, 1, 0},
      {"ScaledTanh", F_SCALED_TANH, 1, 1, 1, 1},
      {"HardSigmoid", F_HARD_SIGMOID, 1, 1, 0.2f, 0.5f},
      {"Elu", F_ELU, 1, 0, 1, 0},
      {"Softsign", F_SOFTSIGN, 0, 0, 0, 0},
      {"Softplus", F_SOFTPLUS, 0, 0, 0, 0},
  };
  const float *alphas = NULL, *betas = NULL;
  int n_alphas = lg_attr_floats(node, "activation_alpha", &alphas);
  int n_betas = lg_attr_floats(node, "activation_beta", &betas);
  for (size_t k = 0; k < sizeof table / sizeof table[0]; k++) {
    if (strcasecmp(table[k].name, name)) continue;
    out->kind = table[k].kind;
    out->alpha = table[k].alpha;
    out->beta = table[k].beta;
    if (table[k].n_alpha && *ai < n_alphas) out->alpha = alphas[(*ai)++];
    if (table[k].n_beta && *bi < n_betas) out->beta = betas[(*bi)++];
    return LEDGE_OK;
  }
  return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': activation '%s' is not supported",
                  node->op_type, node->name, name);
}

static lg_status rnn_infer_common(lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                                  cell_kind cell) {
  static const int gates_of[] = {1, 3, 4}, funcs_of[] = {1, 2, 3}, max_in_of[] = {6, 6, 8},
                   max_out_of[] = {2, 2, 3};
  /* Every output is optional here (Y_h alone is common), so no lg_check_io. */
  if (node->n_in < 3 || node->n_in > max_in_of[cell] || node->n_out < 1 ||
      node->n_out > max_out_of[cell])
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': has %d inputs and %d outputs",
                    node->op_type, node->name, node->n_in, node->n_out);
  for (int i = 0; i < 3; i++) LG_TRY(lg_check_float(node, in[i], i));
  rnn_state st = {0};
  st.cell = cell;
  st.gates = gates_of[cell];
  st.layout = (int)lg_attr_int(node, "layout", 0);
  const char *direction = lg_attr_string(node, "direction", "forward");
  st.dirs = !strcmp(direction, "bidirectional") ? 2 : 1;
  if (strcmp(direction, "forward") && strcmp(direction, "reverse") && st.dirs == 1)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': unknown direction '%s'",
                    node->op_type, node->name, direction);
  if (lg_attr_int(node, "input_forget", 0))
    return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': input_forget is not supported",
                    node->op_type, node->name);
  st.clip = lg_attr_float(node, "clip", 0);
  st.linear_before_reset = lg_attr_int(node, "linear_before_reset", 0) != 0;
  const lg_tensor *x = in[0], *w = in[1], *r = in[2];
  if (x->rank != 3 || w->rank != 3 || r->rank != 3 || (st.layout != 0 && st.layout != 1))
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': X, W and R must be 3-D (layout 0 or 1)",
                    node->op_type, node->name);
  st.seq = x->dims[st.layout ? 1 : 0];
  st.batch = x->dims[st.layout ? 0 : 1];
  st.input = x->dims[2];
  st.hidden = lg_attr_int(node, "hidden_size", w->dims[1] / st.gates);
  /* Bounded before any product: a hostile hidden_size must not overflow. */
  if (st.hidden < 1 || st.hidden > (INT64_C(1) << 31))
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': hidden_size %lld is out of range",
                    node->op_type, node->name, (long long)st.hidden);
  int64_t gh = st.gates * st.hidden;
  if (st.hidden < 1 || w->dims[0] != st.dirs || w->dims[1] != gh || w->dims[2] != st.input ||
      r->dims[0] != st.dirs || r->dims[1] != gh || r->dims[2] != st.hidden)
    return lg_error(LEDGE_ERR_SHAPE,
                    "%s node '%s': W or R does not match hidden_size %lld and %d direction(s)",
                    node->op_type, node->name, (long long)st.hidden, st.dirs);
  const lg_tensor *b = node->n_in > 3 ? in[3] : NULL, *lens = node->n_in > 4 ? in[4] : NULL;
  const lg_tensor *h0 = node->n_in > 5 ? in[5] : NULL, *c0 = node->n_in > 6 ? in[6] : NULL;
  const lg_tensor *p = node->n_in > 7 ? in[7] : NULL;
  if (b && (b->dtype != LEDGE_FLOAT32 || lg_tensor_count(b) != st.dirs * 2 * gh))
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': B must hold %lld floats", node->op_type,
                    node->name, (long long)(st.dirs * 2 * gh));
  if (lens && ((lens->dtype != LEDGE_INT32 && lens->dtype != LEDGE_INT64) ||
               lg_tensor_count(lens) != st.batch))
    return lg_error(LEDGE_ERR_SHAPE,
                    "%s node '%s': sequence_lens must hold one int per batch entry", node->op_type,
                    node->name);
  for (int k = 0; k < 2; k++) {
    const lg_tensor *s0 = k ? c0 : h0;
    if (s0 && (s0->dtype != LEDGE_FLOAT32 || lg_tensor_count(s0) != st.dirs * st.batch * st.hidden))
      return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': initial state must be [%d, %lld, %lld]",
                      node->op_type, node->name, st.dirs, (long long)st.batch,
                      (long long)st.hidden);
  }
  if (p && (p->dtype != LEDGE_FLOAT32 || lg_tensor_count(p) != st.dirs * 3 * st.hidden))
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': P must hold %lld floats", node->op_type,
                    node->name, (long long)(st.dirs * 3 * st.hidden));

  /* Activations: defaults per cell, or the attribute's list (per direction). */
  static const char *const defaults[3][3] = {
      {"Tanh"}, {"Sigmoid", "Tanh"}, {"Sigmoid", "Tanh", "Tanh"}};
  const lg_attr *acts = lg_attr_find(node, "activations");
  int n_funcs = funcs_of[cell], ai = 0, bi = 0;
  if (acts && acts->type == LG_ATTR_STRINGS && acts->n != n_funcs * st.dirs)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': activations needs %d names",
                    node->op_type, node->name, n_funcs * st.dirs);
  for (int d = 0; d < st.dirs; d++)
    for (int k = 0; k < n_funcs; k++)
      LG_TRY(parse_act(node,
                       acts && acts->type == LG_ATTR_STRINGS ? acts->strings[d * n_funcs + k]
                                                             : defaults[cell][k],
                       &ai, &bi, &st.f[d][k]));

  node->state = malloc(sizeof st);
  if (!node->state) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  memcpy(node->state, &st, sizeof st);
  /* scratch: gate pre-activations of x and h, the new h, z and r (GRU),
   * and h and c for when Y_h / Y_c are not wanted */
  node->workspace = sizeof(float) * (size_t)(2 * gh + 5 * st.hidden);
  double macs = (double)st.dirs * (double)st.seq * (double)st.batch * (double)gh *
                (double)(st.input + st.hidden);
  node->macs = macs < 9e18 ? (int64_t)macs : INT64_MAX;

  int64_t y_dims[4] = {st.seq, st.dirs, st.batch, st.hidden};
  if (st.layout) y_dims[0] = st.batch, y_dims[1] = st.seq, y_dims[2] = st.dirs;
  int64_t s_dims[3] = {st.dirs, st.batch, st.hidden};
  if (st.layout) s_dims[0] = st.batch, s_dims[1] = st.dirs;
  for (int k = 0; k < node->n_out; k++) {
    if (!out[k]) continue;
    out[k]->dtype = LEDGE_FLOAT32;
    if (k == 0)
      lg_tensor_set_shape(out[k], 4, y_dims);
    else
      lg_tensor_set_shape(out[k], 3, s_dims);
  }
  return LEDGE_OK;
}

static float clipped(const rnn_state *st, float v) {
  if (st->clip > 0) v = v < -st->clip ? -st->clip : v > st->clip ? st->clip : v;
  return v;
}

/* Offsets of Y[t, d, b, :] and of a state [d, b, :] in either layout. */
static int64_t y_offset(const rnn_state *st, int64_t t, int d, int64_t b) {
  return (st->layout ? (b * st->seq + t) * st->dirs + d : (t * st->dirs + d) * st->batch + b) *
         st->hidden;
}
static int64_t state_offset(const rnn_state *st, int d, int64_t b) {
  return (st->layout ? b * st->dirs + d : d * st->batch + b) * st->hidden;
}

static lg_status rnn_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out,
                         const lg_exec *exec) {
  const rnn_state *st = node->state;
  const float *x = in[0]->data;
  const lg_tensor *b = node->n_in > 3 ? in[3] : NULL, *lens = node->n_in > 4 ? in[4] : NULL;
  const lg_tensor *h0 = node->n_in > 5 ? in[5] : NULL, *c0 = node->n_in > 6 ? in[6] : NULL;
  const lg_tensor *p = node->n_in > 7 ? in[7] : NULL;
  lg_tensor *y = out[0], *yh = node->n_out > 1 ? out[1] : NULL,
            *yc = node->n_out > 2 ? out[2] : NULL;
  int64_t H = st->hidden, B = st->batch, I = st->input, T = st->seq, gh = st->gates * H;
  float *xg = exec->workspace, *hg = xg + gh, *hn = hg + gh, *z = hn + H, *r = z + H;
  for (int64_t bi = 0; bi < B && lens; bi++) {
    int64_t len = lg_tensor_get_int(lens, bi);
    if (len < 0 || len > T)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT,
                      "%s node '%s': sequence length %lld is outside [0, %lld]", node->op_type,
                      node->name, (long long)len, (long long)T);
  }
  if (y) memset(y->data, 0, lg_tensor_bytes(y));
  bool reverse_only = !strcmp(lg_attr_string(node, "direction", "forward"), "reverse");
  for (int d = 0; d < st->dirs; d++) {
    const float *W = (const float *)in[1]->data + d * gh * I,
                *R = (const float *)in[2]->data + d * gh * H;
    const float *Wb = b ? (const float *)b->data + d * 2 * gh : NULL, *Rb = Wb ? Wb + gh : NULL;
    const float *P = p ? (const float *)p->data + d * 3 * H : NULL;
    const act_fn *f = st->f[d];
    bool reverse = st->dirs == 2 ? d == 1 : reverse_only;
    for (int64_t bi = 0; bi < B; bi++) {
      /* The state of this sequence lives in the Y_h / Y_c slots (or scratch). */
      float *h = yh ? (float *)yh->data + state_offset(st, d, bi) : r + H;
      float *c = yc ? (float *)yc->data + state_offset(st, d, bi) : r + 2 * H;
      for (int64_t j = 0; j < H; j++) {
        h[j] = h0 ? ((const float *)h0->data)[(d * B + bi) * H + j] : 0;
        c[j] = c0 ? ((const float *)c0->data)[(d * B + bi) * H + j] : 0;
      }
      int64_t len = lens ? lg_tensor_get_int(lens, bi) : T;
      for (int64_t step = 0; step < len; step++) {
        int64_t t = reverse ? len - 1 - step : step;
        const float *xt = x + (st->layout ? bi * T + t : t * B + bi) * I;
        /* GRU without linear_before_reset applies R_h to (r * h), so its h
         * gate row waits until r is known. */
        int64_t h_rows = st->cell == CELL_GRU && !st->linear_before_reset ? 2 * H : gh;
        for (int64_t g = 0; g < gh; g++) {
          float sx = Wb ? Wb[g] : 0;
          for (int64_t k = 0; k < I; k++) sx += xt[k] * W[g * I + k];
          xg[g] = sx;
        }
        for (int64_t g = 0; g < h_rows; g++) {
          float sh = Rb ? Rb[g] : 0;
          for (int64_t k = 0; k < H; k++) sh += h[k] * R[g * H + k];
          hg[g] = sh;
        }
        if (st->cell == CELL_RNN) {
          for (int64_t j = 0; j < H; j++) hn[j] = apply(&f[0], clipped(st, xg[j] + hg[j]));
        } else if (st->cell == CELL_GRU) {
          for (int64_t j = 0; j < H; j++) {
            z[j] = apply(&f[0], clipped(st, xg[j] + hg[j]));
            r[j] = apply(&f[0], clipped(st, xg[H + j] + hg[H + j]));
          }
          for (int64_t j = 0; j < H; j++) {
            float rec;
            if (st->linear_before_reset) {
              rec = r[j] * hg[2 * H + j];
            } else {
              rec = Rb ? Rb[2 * H + j] : 0;
              for (int64_t k = 0; k < H; k++) rec += r[k] * h[k] * R[(2 * H + j) * H + k];
            }
            float hh = apply(&f[1], clipped(st, xg[2 * H + j] + rec));
            hn[j] = (1 - z[j]) * hh + z[j] * h[j];
          }
        } else { /* LSTM: gates i, o, f, c; peepholes i, o, f */
          for (int64_t j = 0; j < H; j++) {
            float i_ = apply(&f[0], clipped(st, xg[j] + hg[j] + (P ? P[j] * c[j] : 0)));
            float f_ = apply(
                &f[0], clipped(st, xg[2 * H + j] + hg[2 * H + j] + (P ? P[2 * H + j] * c[j] : 0)));
            float g_ = apply(&f[1], clipped(st, xg[3 * H + j] + hg[3 * H + j]));
            c[j] = f_ * c[j] + i_ * g_;
            float o_ = apply(&f[0], clipped(st, xg[H + j] + hg[H + j] + (P ? P[H + j] * c[j] : 0)));
            hn[j] = o_ * apply(&f[2], c[j]);
          }
        }
        memcpy(h, hn, sizeof(float) * (size_t)H);
        if (y) memcpy((float *)y->data + y_offset(st, t, d, bi), hn, sizeof(float) * (size_t)H);
      }
    }
  }
  return LEDGE_OK;
}

static lg_status rnn_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  return rnn_infer_common(node, in, out, CELL_RNN);
}
static lg_status gru_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  return rnn_infer_common(node, in, out, CELL_GRU);
}
static lg_status lstm_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  return rnn_infer_common(node, in, out, CELL_LSTM);
}

const lg_op_def lg_ops_rnn[] = {
    {.name = "RNN", .domain = "", .infer = rnn_infer, .run = rnn_run},
    {.name = "GRU", .domain = "", .infer = gru_infer, .run = rnn_run},
    {.name = "LSTM", .domain = "", .infer = lstm_infer, .run = rnn_run},
    {0},
};
