/*
 * gridsample.c: GridSample (opset 16), sampling X [N, C, H, W] at the
 * normalized (x, y) positions of grid [N, Ho, Wo, 2] in [-1, 1], with
 * nearest, bilinear or bicubic interpolation and zeros, border or
 * reflection padding. It follows PyTorch's grid_sample, which ONNX's
 * definition matches: border and reflection move the continuous coordinate
 * for nearest and bilinear, and move each tap for bicubic.
 */
#include <math.h>
#include <string.h>

#include "ops/op.h"

enum { MODE_BILINEAR, MODE_NEAREST, MODE_BICUBIC };
enum { PAD_ZEROS, PAD_BORDER, PAD_REFLECTION };

typedef struct {
  int mode, padding;
  bool align;
} gs_params;

static lg_status gs_params_of(const lg_node *node, gs_params *p) {
  const char *mode = lg_attr_string(node, "mode", "bilinear"), *pad = lg_attr_string(node, "padding_mode", "zeros");
  p->align = lg_attr_int(node, "align_corners", 0) != 0;
  if (!strcmp(mode, "bilinear") || !strcmp(mode, "linear")) p->mode = MODE_BILINEAR;
  else if (!strcmp(mode, "nearest")) p->mode = MODE_NEAREST;
  else if (!strcmp(mode, "bicubic") || !strcmp(mode, "cubic")) p->mode = MODE_BICUBIC;
  else return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': unknown mode '%s'", node->op_type, node->name, mode);
  if (!strcmp(pad, "zeros")) p->padding = PAD_ZEROS;
  else if (!strcmp(pad, "border")) p->padding = PAD_BORDER;
  else if (!strcmp(pad, "reflection")) p->padding = PAD_REFLECTION;
  else return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': unknown padding_mode '%s'", node->op_type, node->name, pad);
  return LEDGE_OK;
}

static lg_status gs_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 2, 2));
  LG_TRY(lg_check_float(node, in[0], 0));
  LG_TRY(lg_check_float(node, in[1], 1));
  const lg_tensor *x = in[0], *g = in[1];
  if (x->rank != 4 || g->rank != 4 || g->dims[0] != x->dims[0] || g->dims[3] != 2)
    return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': X must be [N,C,H,W] and grid [N,Ho,Wo,2]", node->op_type, node->name);
  gs_params p;
  LG_TRY(gs_params_of(node, &p));
  int64_t dims[4] = {x->dims[0], x->dims[1], g->dims[1], g->dims[2]};
  out[0]->dtype = LEDGE_FLOAT32;
  lg_tensor_set_shape(out[0], 4, dims);
  return LEDGE_OK;
}

static double unnormalize(double c, int64_t size, bool align) {
  return align ? (c + 1) / 2 * (double)(size - 1) : ((c + 1) * (double)size - 1) / 2;
}

static double reflect(double c, double twice_low, double twice_high) {
  if (twice_low == twice_high) return 0;
  double lo = twice_low / 2, span = (twice_high - twice_low) / 2;
  c = fabs(c - lo);
  double extra = fmod(c, span);
  int64_t flips = (int64_t)floor(c / span);
  return flips % 2 == 0 ? extra + lo : span - extra + lo;
}

static double clip(double c, int64_t size) { return c < 0 ? 0 : c > (double)(size - 1) ? (double)(size - 1) : c; }

/* Border and reflection applied to a coordinate (continuous or a tap). */
static double pad_coord(double c, int64_t size, const gs_params *p) {
  if (p->padding == PAD_BORDER) return clip(c, size);
  if (p->padding == PAD_REFLECTION) {
    c = p->align ? reflect(c, 0, 2.0 * (double)(size - 1)) : reflect(c, -1, 2.0 * (double)size - 1);
    return clip(c, size);
  }
  return c;
}

static float pixel(const float *plane, int64_t h, int64_t w, int64_t y, int64_t x) {
  return y < 0 || y >= h || x < 0 || x >= w ? 0.0f : plane[y * w + x];
}

static double cubic(double t, int k) { /* the Keys kernel, A = -0.75, for taps k = 0..3 at offset t */
  const double A = -0.75;
  double d = fabs(t - (k - 1));
  if (d <= 1) return ((A + 2) * d - (A + 3)) * d * d + 1;
  if (d < 2) return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A;
  return 0;
}

static lg_status gs_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out, const lg_exec *exec) {
  gs_params p;
  LG_TRY(gs_params_of(node, &p));
  const lg_tensor *x = in[0];
  int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
  int64_t Ho = out[0]->dims[2], Wo = out[0]->dims[3];
  const float *grid = in[1]->data;
  float *y = out[0]->data;
  for (int64_t n = 0; n < N; n++)
    for (int64_t i = 0; i < Ho * Wo; i++) {
      double gx = unnormalize(grid[(n * Ho * Wo + i) * 2], W, p.align);
      double gy = unnormalize(grid[(n * Ho * Wo + i) * 2 + 1], H, p.align);
      if (p.mode != MODE_BICUBIC) gx = pad_coord(gx, W, &p), gy = pad_coord(gy, H, &p);
      for (int64_t c = 0; c < C; c++) {
        const float *plane = (const float *)x->data + (n * C + c) * H * W;
        double v;
        if (!(fabs(gx) < 1e15) || !(fabs(gy) < 1e15)) { /* NaN or far away: outside, and no overflow */
          v = 0;
        } else if (p.mode == MODE_NEAREST) {
          v = pixel(plane, H, W, (int64_t)nearbyint(gy), (int64_t)nearbyint(gx));
        } else if (p.mode == MODE_BILINEAR) {
          double x0 = floor(gx), y0 = floor(gy), tx = gx - x0, ty = gy - y0;
          int64_t ix = (int64_t)x0, iy = (int64_t)y0;
          v = (1 - ty) * ((1 - tx) * pixel(plane, H, W, iy, ix) + tx * pixel(plane, H, W, iy, ix + 1)) +
              ty * ((1 - tx) * pixel(plane, H, W, iy + 1, ix) + tx * pixel(plane, H, W, iy + 1, ix + 1));
        } else {
          double x0 = floor(gx), y0 = floor(gy), tx = gx - x0, ty = gy - y0;
          v = 0;
          for (int j = 0; j < 4; j++) {
            double row = 0;
            for (int k = 0; k < 4; k++) {
              double tap_x = pad_coord(x0 - 1 + k, W, &p), tap_y = pad_coord(y0 - 1 + j, H, &p);
              row += cubic(tx, k) * pixel(plane, H, W, (int64_t)tap_y, (int64_t)tap_x);
            }
            v += cubic(ty, j) * row;
          }
        }
        y[((n * C + c) * Ho * Wo) + i] = (float)v;
      }
    }
  return LEDGE_OK;
}

const lg_op_def lg_ops_gridsample[] = {
    {.name = "GridSample", .domain = "", .infer = gs_infer, .run = gs_run},
    {0},
};
