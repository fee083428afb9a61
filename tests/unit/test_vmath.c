/* test_vmath.c: the vectorized exp, sigmoid and swish against libm, at
 * every ISA level this machine has, over a sweep that includes the
 * saturation regions, zeros, infinities, NaN and odd lengths (tails). */
#include <math.h>

#include "harness.h"
#include "kernels/cpu.h"
#include "runtime/graph.h"
#include "runtime/vmath.h"

static float rel_err(float got, double want) {
  if (isnan(want)) return isnan(got) ? 0 : INFINITY;
  double scale = fabs(want) > 1e-30 ? fabs(want) : 1e-30;
  return (float)(fabs(got - want) / scale);
}

int main(void) {
  enum { N = 20011 }; /* odd: every path has a tail */
  static float x[N], y[N];
  for (int i = 0; i < N; i++) x[i] = -100.0f + 200.0f * (float)i / (float)(N - 1);
  x[0] = NAN, x[1] = INFINITY, x[2] = -INFINITY, x[3] = 0.0f, x[4] = -0.0f, x[5] = 1e-30f;
  for (int isa = LG_ISA_REFERENCE; isa <= (int)lg_isa_supported(); isa++) {
    lg_isa_force((lg_isa)isa);
    float worst_exp = 0, worst_sig = 0, worst_swish = 0;
    lg_vexp(x, y, N);
    for (int i = 0; i < N; i++)
      if (x[i] > -87 && x[i] < 88) worst_exp = fmaxf(worst_exp, rel_err(y[i], exp((double)x[i])));
    CHECK(isnan(y[0]));
    lg_vsigmoid(x, y, N);
    for (int i = 0; i < N; i++) {
      double want = 1.0 / (1.0 + exp(-(double)x[i]));
      if (!isnan(x[i]))
        worst_sig = fmaxf(worst_sig, fabsf(y[i] - (float)want)); /* absolute: in [0, 1] */
    }
    CHECK(isnan(y[0]) && y[1] == 1.0f && y[2] >= 0.0f && y[2] < 1e-30f && y[3] == 0.5f);
    lg_vswish(x, y, N);
    for (int i = 6; i < N; i++) {
      double want = (double)x[i] / (1.0 + exp(-(double)x[i]));
      worst_swish = fmaxf(worst_swish, (float)(fabs(y[i] - want) / (fabs(want) + 1e-6)));
    }
    CHECK(isnan(y[0]));
    printf("%-9s exp rel %.2g, sigmoid abs %.2g, swish rel %.2g\n", lg_isa_name((lg_isa)isa),
           worst_exp, worst_sig, worst_swish);
    CHECK(worst_exp < 1e-6f);
    CHECK(worst_sig < 1e-6f);
    CHECK(worst_swish < 1e-5f);

    /* lg_vact against lg_act_scalar, every kind, on finite inputs over a
     * range that crosses every kink (lengths with and without a tail). */
    const lg_act acts[] = {{LG_ACT_RELU, 0, 0},
                           {LG_ACT_CLIP, -0.5f, 6.0f},
                           {LG_ACT_LEAKY_RELU, 0.1f, 0},
                           {LG_ACT_SIGMOID, 0, 0},
                           {LG_ACT_HARD_SIGMOID, 0.2f, 0.5f},
                           {LG_ACT_HARD_SWISH, 0, 0},
                           {LG_ACT_TANH, 0, 0},
                           {LG_ACT_SWISH, 0, 0}};
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++)
      for (int len = 1; len < 70; len += 17) {
        float v[70], want[70];
        for (int i = 0; i < len; i++) {
          v[i] = -8.0f + 16.0f * (float)i / (float)len;
          want[i] = lg_act_scalar(&acts[a], v[i]);
        }
        lg_vact(&acts[a], v, len);
        float worst = 0;
        for (int i = 0; i < len; i++)
          worst = fmaxf(worst, fabsf(v[i] - want[i]) / (fabsf(want[i]) + 1e-3f));
        CHECK(worst < 1e-5f);
        if (!(worst < 1e-5f))
          printf("lg_vact kind %d length %d at %s: relative error %g\n", (int)acts[a].kind, len,
                 lg_isa_name((lg_isa)isa), worst);
      }
  }
  lg_isa_force(LG_ISA_COUNT);
  return harness_finish("test_vmath");
}
