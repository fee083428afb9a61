/* test_vmath.c: the vectorized exp, sigmoid and swish against libm, at
 * every ISA level this machine has, over a sweep that includes the
 * saturation regions, zeros, infinities, NaN and odd lengths (tails). */
#include <math.h>

#include "harness.h"
#include "kernels/cpu.h"
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
      if (!isnan(x[i])) worst_sig = fmaxf(worst_sig, fabsf(y[i] - (float)want)); /* absolute: in [0, 1] */
    }
    CHECK(isnan(y[0]) && y[1] == 1.0f && y[2] >= 0.0f && y[2] < 1e-30f && y[3] == 0.5f);
    lg_vswish(x, y, N);
    for (int i = 6; i < N; i++) {
      double want = (double)x[i] / (1.0 + exp(-(double)x[i]));
      worst_swish = fmaxf(worst_swish, (float)(fabs(y[i] - want) / (fabs(want) + 1e-6)));
    }
    CHECK(isnan(y[0]));
    printf("%-9s exp rel %.2g, sigmoid abs %.2g, swish rel %.2g\n", lg_isa_name((lg_isa)isa), worst_exp,
           worst_sig, worst_swish);
    CHECK(worst_exp < 1e-6f);
    CHECK(worst_sig < 1e-6f);
    CHECK(worst_swish < 1e-5f);
  }
  lg_isa_force(LG_ISA_COUNT);
  return harness_finish("test_vmath");
}
