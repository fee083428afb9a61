/* test_media_transform: decode, resize, crop, normalize and color conversion
 * against PIL, PyTorch and torchvision on real images (references made at
 * test time by make_refs.py), plus self-contained checks of letterbox,
 * layouts, YUYV and the encoders.
 *
 * usage: test_media_transform REFDIR IMAGE...   (REFDIR from make_refs.py)
 *
 * Tolerances (8-bit outputs vs float references): every pixel within 0.51
 * of the reference, i.e. our result is the reference correctly rounded (0.5)
 * up to float noise, and on average within 0.26 (rounding of a uniform
 * fraction averages 0.25); PIL's antialiased resize rounds between its two
 * passes, so there each pixel is within 1 and on average within 0.15. Decoding: PNG exact, JPEG
 * exact (both PIL and we use libjpeg-turbo's default islow IDCT and fancy
 * upsampling). The classification pipeline: within 1/255/std (one 8-bit step
 * after normalization) everywhere. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ledge/npy.h"
#include "media/encode.h"
#include "media/image.h"
#include "media/transform.h"

static const char *refdir;

static ledge_tensor *load_ref(const char *stem, const char *name) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s.%s.npy", refdir, stem, name);
  ledge_tensor *t = NULL;
  if (ledge_npy_load(path, &t)) {
    fprintf(stderr, "cannot load %s: %s\n", path, ledge_last_error());
    harness_failures++;
    return NULL;
  }
  return t;
}

/* Max and mean abs difference between an image and a HWC (or HW) reference. */
static int compare(const media_image *img, const ledge_tensor *ref, double *max_diff, double *mean_diff) {
  const int64_t *d = ledge_tensor_dims(ref);
  int rank = ledge_tensor_rank(ref);
  int c = rank == 3 ? (int)d[2] : 1;
  if (d[0] != img->height || d[1] != img->width || c != img->channels) {
    fprintf(stderr, "shape mismatch: image %dx%dx%d, reference %lldx%lldx%d\n", img->height, img->width,
            img->channels, (long long)d[0], (long long)d[1], c);
    return 0;
  }
  double mx = 0, sum = 0;
  size_t n = (size_t)img->width * img->height * c;
  for (size_t i = 0; i < n; i++) {
    size_t y = i / ((size_t)img->width * c), rest = i % ((size_t)img->width * c);
    double a = img->data[y * img->stride + rest];
    double b = ledge_tensor_dtype(ref) == LEDGE_UINT8 ? ((const uint8_t *)ledge_tensor_data(ref))[i]
                                                             : ((const float *)ledge_tensor_data(ref))[i];
    double e = fabs(a - b);
    if (e > mx) mx = e;
    sum += e;
  }
  *max_diff = mx;
  *mean_diff = sum / n;
  return 1;
}

static void check_close(const char *what, const media_image *img, const ledge_tensor *ref, double max_tol,
                        double mean_tol) {
  double mx = 1e9, mean = 1e9;
  int ok = ref && compare(img, ref, &mx, &mean);
  printf("  %-28s max %.3f mean %.4f\n", what, mx, mean);
  CHECK(ok && mx <= max_tol && mean <= mean_tol);
}

static void test_image(const char *path) {
  char err[256];
  const char *slash = strrchr(path, '/');
  char stem[256];
  snprintf(stem, sizeof stem, "%s", slash ? slash + 1 : path);
  char *dot = strrchr(stem, '.');
  if (dot) *dot = 0;
  printf("%s\n", stem);

  media_image img;
  ledge_status st = media_image_read_file(path, &img, err, sizeof err);
  CHECK(st == LEDGE_OK);
  if (st) {
    fprintf(stderr, "%s\n", err);
    return;
  }
  ledge_tensor *ref = load_ref(stem, "decoded");
  check_close("decode", &img, ref, 0, 0);
  ledge_tensor_destroy(ref);

  media_image gray;
  CHECK_OK(media_convert(&img, 1, &gray, err, sizeof err));
  ref = load_ref(stem, "gray");
  check_close("gray (PIL convert L)", &gray, ref, 0, 0);
  ledge_tensor_destroy(ref);
  media_image_free(&gray);

  static const struct {
    const char *name;
    media_resize_method m;
  } methods[] = {{"bilinear", MEDIA_RESIZE_BILINEAR},         {"bilinear-align", MEDIA_RESIZE_BILINEAR_ALIGN},
                 {"bilinear-tf1", MEDIA_RESIZE_BILINEAR_TF1}, {"bilinear-aa", MEDIA_RESIZE_BILINEAR_AA},
                 {"area", MEDIA_RESIZE_AREA},                 {"area-adaptive", MEDIA_RESIZE_AREA_ADAPTIVE},
                 {"nearest", MEDIA_RESIZE_NEAREST},           {"nearest-exact", MEDIA_RESIZE_NEAREST_EXACT}};
  for (int up = 0; up < 2; up++) {
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
      media_image out;
      int w = up ? 700 : 224, h = up ? 610 : 160;
      CHECK_OK(media_resize(&img, w, h, methods[i].m, &out, err, sizeof err));
      char name[64];
      snprintf(name, sizeof name, "%s%s", methods[i].name, up ? ".up" : "");
      ref = load_ref(stem, name);
      check_close(name, &out, ref, 0.51, 0.26);
      ledge_tensor_destroy(ref);
      media_image_free(&out);
    }
  }
  /* image.h's resize is the half-pixel bilinear one. */
  media_image a, b;
  CHECK_OK(media_resize(&img, 224, 160, MEDIA_RESIZE_BILINEAR, &a, err, sizeof err));
  CHECK_OK(media_image_resize(&img, 224, 160, &b, err, sizeof err));
  double mx = 9, mean = 9;
  int max_byte = 0;
  for (int y = 0; y < 160; y++)
    for (int x = 0; x < 224 * 3; x++) {
      int e = abs(a.data[y * a.stride + x] - b.data[y * b.stride + x]);
      if (e > max_byte) max_byte = e;
    }
  printf("  %-28s max %d\n", "vs media_image_resize", max_byte);
  CHECK(max_byte <= 1);
  media_image_free(&a);
  media_image_free(&b);

  media_image pil;
  CHECK_OK(media_resize(&img, 224, 160, MEDIA_RESIZE_BILINEAR_AA, &pil, err, sizeof err));
  ref = load_ref(stem, "pil-aa");
  check_close("bilinear-aa vs PIL", &pil, ref, 1.0, 0.15);
  ledge_tensor_destroy(ref);
  media_image_free(&pil);

  /* torchvision Resize(256) + CenterCrop(224) + ToTensor + Normalize. */
  media_image r256, crop;
  int sw = img.width <= img.height ? 256 : (int)((int64_t)256 * img.width / img.height);
  int sh = img.width <= img.height ? (int)((int64_t)256 * img.height / img.width) : 256;
  CHECK_OK(media_resize(&img, sw, sh, MEDIA_RESIZE_BILINEAR_AA, &r256, err, sizeof err));
  CHECK_OK(media_image_center_crop(&r256, 224, 224, &crop, err, sizeof err));
  media_normalize norm;
  media_normalize_init(&norm);
  const float mean_[3] = {0.485f, 0.456f, 0.406f}, std_[3] = {0.229f, 0.224f, 0.225f};
  for (int c = 0; c < 3; c++) norm.mean[c] = mean_[c], norm.std[c] = std_[c];
  float *x = malloc(sizeof(float) * 3 * 224 * 224);
  CHECK_OK(media_image_to_float(&crop, &norm, x, err, sizeof err));
  ref = load_ref(stem, "classify");
  if (ref && x) {
    const float *r = ledge_tensor_data(ref);
    mx = 0, mean = 0;
    double worst_ok = 1.0;
    for (int i = 0; i < 3 * 224 * 224; i++) {
      double e = fabs(x[i] - r[i]);
      mx = e > mx ? e : mx;
      mean += e;
      double tol = 1.0 / 255.0 / std_[i / (224 * 224)] + 1e-5;
      if (e > tol) worst_ok = 0;
    }
    printf("  %-28s max %.5f mean %.6f (tolerance one 8-bit step, %.4f)\n", "torchvision classify", mx,
           mean / (3 * 224 * 224), 1.0 / 255.0 / 0.224);
    CHECK(worst_ok == 1.0);
  }
  ledge_tensor_destroy(ref);
  free(x);

  media_image_free(&r256);
  media_image_free(&crop);

  media_image car;
  const float box[4] = {0.1f, 0.2f, 0.7f, 0.9f};
  CHECK_OK(media_crop_and_resize(&img, box, 96, 64, NULL, &car, err, sizeof err));
  ref = load_ref(stem, "car");
  check_close("crop_and_resize (TF)", &car, ref, 0.51, 0.26);
  ledge_tensor_destroy(ref);
  media_image_free(&car);
  media_image_free(&img);
}

/* Self-contained checks that need no reference files. */
static void test_local(void) {
  char err[256];
  media_image img;
  CHECK_OK(media_image_alloc(&img, 40, 20, 3, err, sizeof err));
  for (int y = 0; y < 20; y++)
    for (int x = 0; x < 40; x++)
      for (int c = 0; c < 3; c++) img.data[y * img.stride + x * 3 + c] = (uint8_t)(x * 5 + y * 3 + c * 50);

  /* Letterbox 40x20 into 32x32: content 32x16 at y offset 8. */
  media_image lb;
  media_letterbox_info info;
  const uint8_t grey[4] = {114, 114, 114, 114};
  CHECK_OK(media_letterbox(&img, 32, 32, MEDIA_RESIZE_BILINEAR, grey, &lb, &info, err, sizeof err));
  CHECK(info.content_w == 32 && info.content_h == 16 && info.pad_x == 0 && info.pad_y == 8);
  CHECK(lb.data[0] == 114 && lb.data[31 * lb.stride + 31 * 3 + 2] == 114);
  CHECK(lb.data[8 * lb.stride] != 114 || lb.data[8 * lb.stride + 1] != 114);
  float sx, sy;
  media_letterbox_unmap(&info, 16, 16, &sx, &sy);
  CHECK(fabsf(sx - 20) < 1e-4f && fabsf(sy - 10) < 1e-4f);
  media_image_free(&lb);

  /* Crop reaching outside the image fills. */
  media_image cf;
  CHECK_OK(media_crop_fill(&img, -5, 15, 10, 10, grey, &cf, err, sizeof err));
  CHECK(cf.data[0] == 114 && cf.data[5 * 3] == img.data[15 * img.stride] && cf.data[5 * cf.stride + 5 * 3] == 114);
  media_image_free(&cf);
  CHECK_OK(media_crop_fill(&img, 1000, 1000, 4, 4, NULL, &cf, err, sizeof err));
  CHECK(cf.data[0] == 0);
  media_image_free(&cf);

  /* HWC -> CHW -> HWC, float and u8. */
  uint8_t *planes = malloc(40 * 20 * 3);
  media_hwc_to_chw_u8(&img, planes);
  CHECK(planes[0] == img.data[0] && planes[800] == img.data[1] && planes[1600 + 41] == img.data[img.stride + 3 + 2]);
  media_image back;
  CHECK_OK(media_chw_to_image(planes, 3, 20, 40, &back, err, sizeof err));
  CHECK(!memcmp(back.data, img.data, 40 * 20 * 3));
  media_image_free(&back);
  free(planes);
  float f[24], g[24], h[24];
  for (int i = 0; i < 24; i++) f[i] = (float)i;
  media_hwc_to_chw_f32(f, 2, 4, 3, g);
  CHECK(g[0] == 0 && g[1] == 3 && g[8] == 1);
  media_chw_to_hwc_f32(g, 3, 2, 4, h);
  CHECK(!memcmp(f, h, sizeof f));

  /* Normalize and back, NHWC BGR. */
  media_normalize norm;
  media_normalize_init(&norm);
  norm.layout = MEDIA_LAYOUT_NHWC;
  norm.bgr = 1;
  norm.mean[0] = 0.4f, norm.std[0] = 0.2f, norm.mean[2] = 0.6f, norm.std[2] = 0.3f;
  float *t = malloc(sizeof(float) * 40 * 20 * 3);
  CHECK_OK(media_image_to_float(&img, &norm, t, err, sizeof err));
  CHECK(fabsf(t[0] - (img.data[2] / 255.0f - 0.4f) / 0.2f) < 1e-5f);
  CHECK_OK(media_image_from_float(t, 3, 20, 40, &norm, &back, err, sizeof err));
  CHECK(!memcmp(back.data, img.data, 40 * 20 * 3));
  media_image_free(&back);
  free(t);

  /* Swap R and B twice is the identity. */
  CHECK_OK(media_image_copy(&img, &back, err, sizeof err));
  media_swap_rb(&back);
  CHECK(back.data[0] == img.data[2] && back.data[2] == img.data[0]);
  media_swap_rb(&back);
  CHECK(!memcmp(back.data, img.data, 40 * 20 * 3));
  media_image_free(&back);

  /* Gray <-> RGB <-> RGBA. */
  media_image rgba, rgb2;
  CHECK_OK(media_convert(&img, 4, &rgba, err, sizeof err));
  CHECK(rgba.data[3] == 255 && rgba.data[4] == img.data[3]);
  CHECK_OK(media_convert(&rgba, 3, &rgb2, err, sizeof err));
  CHECK(!memcmp(rgb2.data, img.data, 40 * 20 * 3));
  media_image_free(&rgba);
  media_image_free(&rgb2);

  /* YUYV: black, white and pure colors (BT.601 limited range). */
  const uint8_t yuyv[8] = {16, 128, 235, 128, 81, 90, 81, 240}; /* black, white | red, red */
  media_image yuv;
  CHECK_OK(media_yuyv_to_rgb(yuyv, 4, 2, 2, &yuv, err, sizeof err));
  CHECK(yuv.data[0] == 0 && yuv.data[1] == 0 && yuv.data[2] == 0);
  CHECK(yuv.data[3] == 255 && yuv.data[4] == 255 && yuv.data[5] == 255);
  const uint8_t *red = yuv.data + yuv.stride;
  CHECK(red[0] >= 250 && red[1] <= 3 && red[2] <= 3);
  media_image_free(&yuv);
  CHECK(media_yuyv_to_rgb(yuyv, 0, 3, 1, &yuv, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT);

  /* Encoders: PNG and PPM round trips are exact, JPEG is close. */
  uint8_t *buf;
  size_t len;
  media_image dec;
  CHECK_OK(media_encode_png(&img, &buf, &len, err, sizeof err));
  CHECK_OK(media_image_decode(buf, len, &dec, err, sizeof err));
  CHECK(dec.width == 40 && !memcmp(dec.data, img.data, 40 * 20 * 3));
  media_image_free(&dec);
  free(buf);
  CHECK_OK(media_encode_ppm(&img, &buf, &len, err, sizeof err));
  CHECK_OK(media_decode_ppm(buf, len, &dec, err, sizeof err));
  CHECK(dec.width == 40 && !memcmp(dec.data, img.data, 40 * 20 * 3));
  media_image_free(&dec);
  /* Truncated PPM: one clear error. */
  CHECK(media_decode_ppm(buf, len - 1, &dec, err, sizeof err) == LEDGE_ERR_FORMAT && strstr(err, "truncated"));
  CHECK(media_decode_ppm(buf, 5, &dec, err, sizeof err) == LEDGE_ERR_FORMAT);
  free(buf);
  CHECK_OK(media_encode_jpeg(&img, 95, &buf, &len, err, sizeof err));
  CHECK_OK(media_image_decode(buf, len, &dec, err, sizeof err));
  double total = 0;
  for (int i = 0; i < 40 * 20 * 3; i++) total += abs(dec.data[i] - img.data[i]);
  printf("jpeg q95 round trip: mean error %.2f\n", total / (40 * 20 * 3));
  CHECK(dec.width == 40 && dec.height == 20 && total / (40 * 20 * 3) < 8);
  media_image_free(&dec);
  free(buf);
  CHECK(media_encode_jpeg(&img, 0, &buf, &len, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT);

  /* Bad arguments: clear errors, no crash. */
  media_image bad;
  CHECK(media_resize(&img, 0, 10, MEDIA_RESIZE_BILINEAR, &bad, err, sizeof err) != LEDGE_OK);
  CHECK(media_resize(NULL, 10, 10, MEDIA_RESIZE_BILINEAR, &bad, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT);
  CHECK(media_resize(&img, 10, 10, (media_resize_method)99, &bad, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT);
  CHECK(media_convert(&img, 2, &bad, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT);
  const float nanbox[4] = {NAN, 0, 1, 1};
  CHECK(media_crop_and_resize(&img, nanbox, 4, 4, NULL, &bad, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT);
  CHECK(media_image_write_file("/nonexistent-dir/x.png", &img, 90, err, sizeof err) == LEDGE_ERR_IO);
  CHECK(media_image_write_file("x.gif", &img, 90, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT);

  /* Every method, 1x1 and extreme ratios. */
  for (int m = 0; m <= MEDIA_RESIZE_NEAREST_EXACT; m++) {
    media_image o;
    CHECK_OK(media_resize(&img, 1, 1, (media_resize_method)m, &o, err, sizeof err));
    media_image_free(&o);
    CHECK_OK(media_resize(&img, 333, 3, (media_resize_method)m, &o, err, sizeof err));
    media_image_free(&o);
    media_resize_method back_m;
    CHECK(media_resize_method_parse(media_resize_method_name((media_resize_method)m), &back_m) && (int)back_m == m);
  }
  media_image_free(&img);
}

int main(int argc, char **argv) {
  test_local();
  if (argc >= 2) {
    refdir = argv[1];
    for (int i = 2; i < argc; i++) test_image(argv[i]);
  }
  return harness_finish("test_media_transform");
}
