/*
 * test_gradcheck.c: every layer's hand-written backward pass against
 * central finite differences of the loss, on odd shapes.
 *
 * Each case is a small network: input -> 1x1 Conv with bias (so that the
 * gradient of the layer under test with respect to its input is checked
 * through this convolution's parameters) -> the layer(s) under test ->
 * Flatten -> Gemm -> softmax cross-entropy with label smoothing 0.1. For
 * every trainable parameter a few entries are perturbed by +-eps and
 * (L(w+eps) - L(w-eps)) / 2eps is compared with the analytic gradient.
 *
 * Tolerance: the engine computes in float32, so the difference quotient has
 * a rounding error of about 1e-7 * |L| / eps ~ 3e-5 with eps = 3e-3 and
 * |L| ~ 1, and the truncation error is O(eps^2). Kinks (ReLU, max pooling,
 * Clip) can make an entry straddle a corner; with inputs drawn at random
 * that is rare, and the check allows |analytic - numeric| <= 2e-3 +
 * 3e-2 * |numeric|, far below the size of any real mistake (a wrong sign,
 * a missing term or a misplaced index changes the gradient by O(1) of
 * itself). Each case also requires that the gradients are not all ~0, so
 * that it cannot pass vacuously.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "train/engine.h"
#include "train/models.h"

enum { N = 3, CLASSES = 5 };

static uint64_t seed_state = 12345;
static double urand(void) {
  seed_state = seed_state * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(seed_state >> 11) / 9007199254740992.0;
}

static double eval_loss(tr_net *net, const float *x, const int32_t *labels) {
  uint64_t rng = net->rng;
  tr_net_forward(net, x, N);
  net->rng = rng; /* the same dropout mask on every evaluation */
  return tr_net_loss(net, labels, 0.1f, false, NULL);
}

/* Builds input -> conv1x1 -> (body) -> head, compiles, checks. */
typedef int (*body_fn)(tr_builder *b, int x, int64_t *c, int64_t *h, int64_t *w);

static void check_case(const char *name, int64_t c, int64_t h, int64_t w, body_fn body) {
  lg_graph g;
  lg_graph_init(&g);
  tr_builder b;
  tr_builder_init(&b, &g, 7);
  int x = tr_b_input(&b, "data", c, h, w);
  int64_t c2 = c + 1;
  x = tr_b_conv(&b, x, c, c2, 1, 1, 0, 1, true);
  int64_t cc = c2, hh = h, ww = w;
  x = body(&b, x, &cc, &hh, &ww);
  if (hh > 0) x = tr_b_flatten(&b, x);
  int64_t feat = hh > 0 ? cc * hh * ww : cc;
  x = tr_b_dense(&b, x, feat, CLASSES);
  tr_b_output(&b, x);
  if (x < 0) {
    fprintf(stderr, "%s: could not build: %s\n", name, ledge_last_error());
    CHECK(0);
    lg_graph_free(&g);
    return;
  }
  tr_compile_opts opts = {.max_batch = N, .threads = 2, .head_first_node = -1};
  tr_net *net = NULL;
  ledge_status st = tr_net_compile(&g, &opts, &net);
  CHECK_OK(st);
  if (st != LEDGE_OK) {
    fprintf(stderr, "  in case %s\n", name);
    lg_graph_free(&g);
    return;
  }
  int64_t in_count = N * c * h * w;
  float *xin = malloc(sizeof(float) * (size_t)in_count);
  for (int64_t i = 0; i < in_count; i++) xin[i] = (float)(urand() * 2 - 1);
  int32_t labels[N];
  for (int i = 0; i < N; i++) labels[i] = (int32_t)(urand() * CLASSES) % CLASSES;
  /* analytic */
  uint64_t rng = net->rng;
  CHECK_OK(tr_net_forward(net, xin, N));
  net->rng = rng;
  tr_net_loss(net, labels, 0.1f, true, NULL);
  CHECK_OK(tr_net_backward(net));
  int bad = 0, checked = 0;
  double max_grad = 0;
  const double eps = 3e-3;
  for (int p = 0; p < net->n_params; p++) {
    tr_value *v = &net->values[net->params[p]];
    if (!v->grad) continue;
    float *saved = malloc(sizeof(float) * (size_t)v->count);
    memcpy(saved, v->grad, sizeof(float) * (size_t)v->count);
    int samples = v->count < 6 ? (int)v->count : 6;
    for (int s = 0; s < samples; s++) {
      int64_t i = v->count <= 6 ? s : (int64_t)(urand() * (double)v->count) % v->count;
      float orig = v->data[i];
      v->data[i] = orig + (float)eps;
      double lp = eval_loss(net, xin, labels);
      v->data[i] = orig - (float)eps;
      double lm = eval_loss(net, xin, labels);
      v->data[i] = orig;
      double num = (lp - lm) / (2 * eps), ana = saved[i];
      checked++;
      if (fabs(ana) > max_grad) max_grad = fabs(ana);
      if (fabs(ana - num) > 2e-3 + 3e-2 * fabs(num)) {
        bad++;
        fprintf(stderr, "%s: param %s[%lld]: analytic %.6g numeric %.6g\n", name,
                net->graph.values[net->params[p]].name, (long long)i, ana, num);
      }
    }
    free(saved);
  }
  printf("%-28s %3d gradient entries checked, %d off, max |g| %.3g\n", name, checked, bad,
         max_grad);
  CHECK(bad == 0);
  CHECK(checked > 0 && max_grad > 1e-4);
  free(xin);
  tr_net_destroy(net);
}

/* ---- Bodies ---- */

static int body_conv_s2(tr_builder *b, int x, int64_t *c, int64_t *h, int64_t *w) {
  int y = tr_b_conv(b, x, *c, 4, 3, 2, 1, 1, true);
  *c = 4;
  *h = (*h + 2 - 3) / 2 + 1;
  *w = (*w + 2 - 3) / 2 + 1;
  return y;
}

static int body_conv_group_dilated(tr_builder *b, int x, int64_t *c, int64_t *h, int64_t *w) {
  /* c is 4 here: 2 groups, dilation 2, asymmetric pads */
  int64_t wd[4] = {6, *c / 2, 3, 2};
  int ins[3] = {x, tr_b_param(b, "gw", 4, wd, 'h', 6, 0), -1};
  int y = tr_b_node(b, "Conv", "gconv", 2, ins);
  int nd = tr_b_last_node(b);
  int64_t dil[2] = {2, 1}, pads[4] = {1, 0, 2, 1}, st[2] = {1, 2};
  tr_b_attr_ints(b, nd, "dilations", 2, dil);
  tr_b_attr_ints(b, nd, "pads", 4, pads);
  tr_b_attr_ints(b, nd, "strides", 2, st);
  tr_b_attr_int(b, nd, "group", 2);
  *h = (*h + 3 - ((3 - 1) * 2 + 1)) / 1 + 1;
  *w = (*w + 1 - 2) / 2 + 1;
  *c = 6;
  return y;
}

static int body_depthwise(tr_builder *b, int x, int64_t *c, int64_t *h, int64_t *w) {
  int y = tr_b_conv(b, x, *c, *c, 3, 1, 1, *c, false);
  return tr_b_unary(b, "Relu", y);
}

static int body_pointwise(tr_builder *b, int x, int64_t *c, int64_t *h, int64_t *w) {
  int y = tr_b_conv(b, x, *c, 7, 1, 1, 0, 1, false);
  *c = 7;
  return y;
}

static int body_convt(tr_builder *b, int x, int64_t *c, int64_t *h, int64_t *w) {
  int64_t wd[4] = {*c, 3, 3, 3};
  int ins[3] = {x, tr_b_param(b, "tw", 4, wd, 'h', 9, 0), -1};
  int64_t bd = 3;
  ins[2] = tr_b_param(b, "tb", 1, &bd, 'n', 0, 0.1f);
  int y = tr_b_node(b, "ConvTranspose", "convt", 3, ins);
  int nd = tr_b_last_node(b);
  int64_t st[2] = {2, 2}, pads[4] = {1, 0, 1, 1}, op[2] = {1, 0};
  tr_b_attr_ints(b, nd, "strides", 2, st);
  tr_b_attr_ints(b, nd, "pads", 4, pads);
  tr_b_attr_ints(b, nd, "output_padding", 2, op);
  *h = 2 * (*h - 1) + 1 + 3 - 2;
  *w = 2 * (*w - 1) + 0 + 3 - 1;
  *c = 3;
  return y;
}

static int body_convt_group(tr_builder *b, int x, int64_t *c, int64_t *h, int64_t *w) {
  /* c is 4: 2 groups of 2 -> 2 x 1 = 2 output channels, dilation 2 */
  int64_t wd[4] = {*c, 1, 2, 2};
  int ins[2] = {x, tr_b_param(b, "tw", 4, wd, 'h', 4, 0)};
  int y = tr_b_node(b, "ConvTranspose", "convtg", 2, ins);
  int nd = tr_b_last_node(b);
  int64_t dil[2] = {2, 2};
  tr_b_attr_ints(b, nd, "dilations", 2, dil);
  tr_b_attr_int(b, nd, "group", 2);
  *h = *h - 1 + 3;
  *w = *w - 1 + 3;
  *c = 2;
  return y;
}

static int body_bn(tr_builder *b, int x, int64_t *c, int64_t *h, int64_t *w) {
  return tr_b_unary(b, "Relu", tr_b_bn(b, x, *c));
}

static int body_bn_dense(tr_builder *b, int x, int64_t *c, int64_t *h, int64_t *w) {
  x = tr_b_flatten(b, x);
  int64_t f = *c * *h * *w;
  x = tr_b_dense(b, x, f, 6);
  x = tr_b_bn(b, x, 6);
  *c = 6;
  *h = -1; /* already flat */
  return x;
}

static const char *act_name;
static int body_act(tr_builder *b, int x, int64_t *c, int64_t *h, int64_t *w) {
  if (!strcmp(act_name, "Clip")) {
    int y = tr_b_node(b, "Clip", NULL, 1, &x);
    tr_b_attr_float(b, tr_b_last_node(b), "min", -0.3f);
    tr_b_attr_float(b, tr_b_last_node(b), "max", 0.4f);
    return y;
  }
  int y = tr_b_unary(b, act_name, x);
  if (!strcmp(act_name, "LeakyRelu")) tr_b_attr_float(b, tr_b_last_node(b), "alpha", 0.1f);
  return y;
}

static int body_maxpool(tr_builder *b, int x, int64_t *c, int64_t *h, int64_t *w) {
  int y = tr_b_maxpool(b, x, 3, 2, 1);
  *h = (*h + 2 - 3) / 2 + 1;
  *w = (*w + 2 - 3) / 2 + 1;
  return y;
}

static int include_pad;
static int body_avgpool(tr_builder *b, int x, int64_t *c, int64_t *h, int64_t *w) {
  int y = tr_b_node(b, "AveragePool", NULL, 1, &x);
  int nd = tr_b_last_node(b);
  int64_t k[2] = {3, 2}, s[2] = {2, 1}, p[4] = {1, 0, 1, 1};
  tr_b_attr_ints(b, nd, "kernel_shape", 2, k);
  tr_b_attr_ints(b, nd, "strides", 2, s);
  tr_b_attr_ints(b, nd, "pads", 4, p);
  tr_b_attr_int(b, nd, "count_include_pad", include_pad);
  tr_b_attr_int(b, nd, "ceil_mode", 1);
  /* ceil((h + 2 - 3) / 2) + 1 */
  int64_t in_h = *h;
  *h = (in_h + 2 - 3 + 1) / 2 + 1;
  if ((*h - 1) * 2 >= in_h + 1) (*h)--;
  *w = (*w + 1 - 2) / 1 + 1;
  return y;
}

static int body_gap(tr_builder *b, int x, int64_t *c, int64_t *h, int64_t *w) {
  *h = *w = 1;
  return tr_b_gap(b, x);
}

static int body_residual(tr_builder *b, int x, int64_t *c, int64_t *h, int64_t *w) {
  int y = tr_b_conv(b, x, *c, *c, 3, 1, 1, 1, false);
  y = tr_b_bn(b, y, *c);
  return tr_b_unary(b, "Relu", tr_b_add(b, y, x));
}

static int body_add_bcast(tr_builder *b, int x, int64_t *c, int64_t *h, int64_t *w) {
  int64_t d[3] = {*c, 1, *w};
  int p = tr_b_param(b, "addp", 3, d, 'n', 0, 0.5f);
  return tr_b_add(b, x, p);
}

static int body_mul(tr_builder *b, int x, int64_t *c, int64_t *h, int64_t *w) {
  /* squeeze-excitation-like: x * sigmoid(gap(x)) broadcast, and x * param */
  int s = tr_b_unary(b, "Sigmoid", tr_b_gap(b, x));
  int ins[2] = {x, s};
  int y = tr_b_node(b, "Mul", NULL, 2, ins);
  int64_t d[4] = {1, *c, 1, 1};
  int ins2[2] = {y, tr_b_param(b, "mulp", 4, d, 'n', 0, 1.0f)};
  return tr_b_node(b, "Mul", NULL, 2, ins2);
}

static int body_concat(tr_builder *b, int x, int64_t *c, int64_t *h, int64_t *w) {
  int y = tr_b_conv(b, x, *c, 2, 3, 1, 1, 1, false);
  int ins[2] = {y, x};
  int z = tr_b_node(b, "Concat", NULL, 2, ins);
  tr_b_attr_int(b, tr_b_last_node(b), "axis", 1);
  *c += 2;
  return z;
}

static int body_reshape_matmul(tr_builder *b, int x, int64_t *c, int64_t *h, int64_t *w) {
  int64_t two = 2;
  int sv = lg_graph_add_value(b->g, "shape");
  lg_value *v = &b->g->values[sv];
  v->kind = LG_VALUE_CONSTANT;
  v->t.dtype = LEDGE_INT64;
  lg_tensor_set_shape(&v->t, 1, &two);
  lg_value_alloc_owned(v);
  ((int64_t *)v->owned)[0] = 0;
  ((int64_t *)v->owned)[1] = -1;
  int ins[2] = {x, sv};
  int y = tr_b_node(b, "Reshape", NULL, 2, ins);
  int64_t f = *c * *h * *w, wd[2] = {f, 4};
  int ins2[2] = {y, tr_b_param(b, "mm", 2, wd, 'u', f, 0)};
  y = tr_b_node(b, "MatMul", NULL, 2, ins2);
  y = tr_b_dropout(b, y, 0.25f);
  *c = 4;
  *h = -1;
  return y;
}

static int body_gemm_plain(tr_builder *b, int x, int64_t *c, int64_t *h, int64_t *w) {
  x = tr_b_flatten(b, x);
  int64_t f = *c * *h * *w, wd[2] = {f, 5}, bd[2] = {1, 5};
  int ins[3] = {x, tr_b_param(b, "gw", 2, wd, 'u', f, 0), tr_b_param(b, "gb", 2, bd, 'n', 0, 0.1f)};
  int y = tr_b_node(b, "Gemm", NULL, 3, ins);
  tr_b_attr_float(b, tr_b_last_node(b), "alpha", 0.7f);
  tr_b_attr_float(b, tr_b_last_node(b), "beta", 1.3f);
  y = tr_b_unary(b, "Tanh", y);
  *c = 5;
  *h = -1;
  return y;
}

static int body_resnet_block(tr_builder *b, int x, int64_t *c, int64_t *h, int64_t *w) {
  /* a downsampling basic block with a projection shortcut */
  int y = tr_b_unary(b, "Relu", tr_b_bn(b, tr_b_conv(b, x, *c, 6, 3, 2, 1, 1, false), 6));
  y = tr_b_bn(b, tr_b_conv(b, y, 6, 6, 3, 1, 1, 1, false), 6);
  int sc = tr_b_bn(b, tr_b_conv(b, x, *c, 6, 1, 2, 0, 1, false), 6);
  *c = 6;
  *h = (*h - 1) / 2 + 1;
  *w = (*w - 1) / 2 + 1;
  return tr_b_unary(b, "Relu", tr_b_add(b, y, sc));
}

/* Frozen layers: no gradient buffers, and the rest unchanged. */
static void check_freezing(void) {
  lg_graph g1, g2;
  CHECK_OK(tr_build_model("resnet", 20, 1, 9, 7, 3, 5, &g1));
  CHECK_OK(tr_build_model("resnet", 20, 1, 9, 7, 3, 5, &g2));
  tr_compile_opts o1 = {.max_batch = 2, .threads = 1, .head_first_node = -1};
  tr_compile_opts o2 = o1;
  o2.freeze_until = "conv4"; /* conv1, bn2 and conv4 */
  tr_net *a = NULL, *f = NULL;
  CHECK_OK(tr_net_compile(&g1, &o1, &a));
  CHECK_OK(tr_net_compile(&g2, &o2, &f));
  if (!a || !f) return;
  float x[2 * 63];
  for (int i = 0; i < 126; i++) x[i] = (float)urand();
  int32_t labels[2] = {0, 2};
  int frozen = 0;
  for (int p = 0; p < f->n_params; p++) frozen += f->values[f->params[p]].grad == NULL;
  CHECK(frozen == 4); /* conv1.weight, bn2.weight, bn2.bias, conv4.weight */
  CHECK(tr_net_param_count(f, true) < tr_net_param_count(f, false));
  tr_net_set_training(a, false); /* eval-mode BN everywhere: same function */
  tr_net_set_training(f, false);
  CHECK_OK(tr_net_forward(a, x, 2));
  tr_net_loss(a, labels, 0, true, NULL);
  CHECK_OK(tr_net_backward(a));
  CHECK_OK(tr_net_forward(f, x, 2));
  tr_net_loss(f, labels, 0, true, NULL);
  CHECK_OK(tr_net_backward(f));
  int same = 1;
  for (int p = 0; p < f->n_params; p++) {
    tr_value *vf = &f->values[f->params[p]], *va = &a->values[a->params[p]];
    if (!vf->grad) continue;
    for (int64_t i = 0; i < vf->count; i++)
      if (fabsf(vf->grad[i] - va->grad[i]) > 1e-5f + 1e-4f * fabsf(va->grad[i])) same = 0;
  }
  CHECK(same);
  tr_net_destroy(a);
  tr_net_destroy(f);
}

int main(void) {
  check_case("conv 3x3 stride 2 + bias", 2, 7, 5, body_conv_s2);
  check_case("conv groups dilation pads", 3, 8, 7, body_conv_group_dilated);
  check_case("conv depthwise + relu", 2, 5, 6, body_depthwise);
  check_case("conv 1x1", 2, 5, 3, body_pointwise);
  check_case("convtranspose stride 2", 2, 4, 3, body_convt);
  check_case("convtranspose groups", 3, 3, 4, body_convt_group);
  check_case("batchnorm (train) 4-D", 2, 5, 3, body_bn);
  check_case("batchnorm (train) 2-D", 2, 3, 3, body_bn_dense);
  const char *acts[] = {"Relu", "Clip", "LeakyRelu", "HardSwish", "HardSigmoid", "Sigmoid", "Tanh"};
  for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
    act_name = acts[i];
    char name[64];
    snprintf(name, sizeof name, "activation %s", acts[i]);
    check_case(name, 2, 4, 3, body_act);
  }
  check_case("maxpool 3x3 s2 p1", 2, 7, 6, body_maxpool);
  include_pad = 0;
  check_case("averagepool ceil", 2, 6, 5, body_avgpool);
  include_pad = 1;
  check_case("averagepool ceil incl. pad", 2, 6, 5, body_avgpool);
  check_case("global average pool", 2, 5, 3, body_gap);
  check_case("residual add", 2, 5, 4, body_residual);
  check_case("add broadcast param", 2, 3, 5, body_add_bcast);
  check_case("mul broadcast (SE)", 2, 4, 3, body_mul);
  check_case("concat channels", 2, 4, 5, body_concat);
  check_case("reshape matmul dropout", 2, 3, 3, body_reshape_matmul);
  check_case("gemm alpha beta tanh", 2, 3, 2, body_gemm_plain);
  check_case("resnet block", 2, 7, 5, body_resnet_block);
  check_freezing();
  return harness_finish("train.test_gradcheck");
}
