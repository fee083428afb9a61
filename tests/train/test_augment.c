/* test_augment.c: augmentation invariants and determinism; the evaluation
 * resize (640x480 -> 224x224, and resize 256 + center crop 224) against
 * PIL's antialiased bilinear resize of the same image. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "train/augment.h"
#include "train/dataset.h"

#define TEST_IMAGES "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"

static float max_diff(const float *a, const float *b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; i++) m = fmaxf(m, fabsf(a[i] - b[i]));
  return m;
}

static uint8_t *read_raw(const char *path, size_t n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *buf = malloc(n);
  size_t got = fread(buf, 1, n, f);
  fclose(f);
  if (got != n) {
    free(buf);
    return NULL;
  }
  return buf;
}

/* PIL makes a 640x480 RGB frame, its 224x224 resize, and Resize(256) +
 * CenterCrop(224) as torchvision does it on PIL images. */
static void test_against_pil(void) {
  char dir[1024], cmd[4096], err[256];
  snprintf(dir, sizeof dir, "%s/augment", LEDGE_BUILD_DIR);
  snprintf(
      cmd, sizeof cmd,
      "mkdir -p %s && /usr/bin/python3 -c \"\n"
      "import numpy as np; from PIL import Image\n"
      "r=np.random.default_rng(1); y,x=np.mgrid[0:480,0:640]\n"
      "a=np.stack([(x*255//639),(y*255//479),((x+y)%%256)],-1).astype(np.int32)\n"
      "a=np.clip(a+r.integers(-40,40,a.shape),0,255).astype(np.uint8)\n"
      "im=Image.fromarray(a,'RGB'); im.save('%s/frame.png')\n"
      "open('%s/frame.rgb','wb').write(a.tobytes())\n"
      "open('%s/r224.rgb','wb').write(np.asarray(im.resize((224,224),Image.BILINEAR)).tobytes())\n"
      "s=im.resize((341,256),Image.BILINEAR); l=int(round((341-224)/2.0)); "
      "t=int(round((256-224)/2.0))\n"
      "open('%s/c224.rgb','wb').write(np.asarray(s.crop((l,t,l+224,t+224))).tobytes())\n\"",
      dir, dir, dir, dir, dir);
  CHECK(system(cmd) == 0);
  char path[1200];
  snprintf(path, sizeof path, "%s/frame.rgb", dir);
  uint8_t *frame = read_raw(path, 640 * 480 * 3);
  snprintf(path, sizeof path, "%s/r224.rgb", dir);
  uint8_t *r224 = read_raw(path, 224 * 224 * 3);
  snprintf(path, sizeof path, "%s/c224.rgb", dir);
  uint8_t *c224 = read_raw(path, 224 * 224 * 3);
  CHECK(frame && r224 && c224);
  if (frame && r224 && c224) {
    media_image src = {640, 480, 3, 640 * 3, frame};
    train_augment_config c;
    train_augment_defaults(&c, 3, 224, 224, TRAIN_AUG_CROP);
    float *out = malloc(sizeof(float) * 3 * 224 * 224),
          *want = malloc(sizeof(float) * 3 * 224 * 224);
    const uint8_t *refs[2] = {r224, c224};
    for (int k = 0; k < 2; k++) {
      c.resize = k ? 256 : 0;
      CHECK_OK(train_augment_apply(&c, &src, 0, 0, 0, 0, out, err, sizeof err));
      for (int ch = 0; ch < 3; ch++)
        for (int p = 0; p < 224 * 224; p++) want[ch * 224 * 224 + p] = refs[k][p * 3 + ch] / 255.0f;
      /* PIL rounds between its two passes: at most one level apart */
      float d = max_diff(out, want, 3 * 224 * 224);
      if (d > 1.01f / 255) fprintf(stderr, "resize case %d: max diff %g levels\n", k, d * 255);
      CHECK(d <= 1.01f / 255);
    }
    /* training from a frame: random resized crops of the training size */
    c.resize = 0;
    c.type = TRAIN_AUG_CROP_COLOR_TRANSFORM;
    float *again = malloc(sizeof(float) * 3 * 224 * 224);
    CHECK_OK(train_augment_apply(&c, &src, 1, 9, 2, 77, out, err, sizeof err));
    CHECK_OK(train_augment_apply(&c, &src, 1, 9, 2, 77, again, err, sizeof err));
    CHECK(!memcmp(out, again, sizeof(float) * 3 * 224 * 224));
    CHECK_OK(train_augment_apply(&c, &src, 1, 9, 3, 77, again, err, sizeof err));
    CHECK(memcmp(out, again, sizeof(float) * 3 * 224 * 224) != 0);
    free(again);
    free(out);
    free(want);
  }
  free(frame);
  free(r224);
  free(c224);
}

static void test_invariants(void) {
  train_dataset *ds = NULL;
  char err[256];
  train_dataset_options opt;
  train_dataset_options_init(&opt);
  opt.limit = 64;
  CHECK_OK(train_dataset_open(TEST_IMAGES, &opt, &ds, err, sizeof err));
  if (!ds) return;
  float plain[784], out[784], again[784];
  train_augment_config c;
  int shifted = 0, flipped_exact = 1, shift_ok = 1, det = 1, gray_ok = 1, range_ok = 1;
  for (long i = 0; i < 64; i++) {
    media_image img;
    train_dataset_read(ds, i, &img, err, sizeof err);
    train_augment_defaults(&c, 1, 28, 28, TRAIN_AUG_CROP);
    CHECK_OK(train_augment_apply(&c, &img, 0, 1, 0, i, plain, err, sizeof err));

    /* flip only: the mirror image, exactly */
    c.pad = 0;
    c.flip_prob = 1;
    train_augment_apply(&c, &img, 1, 1, 0, i, out, err, sizeof err);
    for (int y = 0; y < 28; y++)
      for (int x = 0; x < 28; x++) flipped_exact &= out[y * 28 + x] == plain[y * 28 + 27 - x];

    /* padded crop: a shift by at most 4 pixels with zeros coming in */
    c.pad = 4;
    c.flip_prob = 0;
    train_augment_apply(&c, &img, 1, 1, 5, i, out, err, sizeof err);
    int found = 0;
    for (int dy = -4; dy <= 4 && !found; dy++)
      for (int dx = -4; dx <= 4 && !found; dx++) {
        int match = 1;
        for (int y = 0; y < 28 && match; y++)
          for (int x = 0; x < 28 && match; x++) {
            int sy = y + dy, sx = x + dx;
            float want = (sy < 0 || sx < 0 || sy >= 28 || sx >= 28) ? 0 : plain[sy * 28 + sx];
            match = out[y * 28 + x] == want;
          }
        if (match) {
          found = 1;
          shifted |= dx != 0 || dy != 0;
        }
      }
    shift_ok &= found;

    /* everything on: deterministic per (seed, epoch, index), values in range */
    train_augment_defaults(&c, 1, 28, 28, TRAIN_AUG_CROP_COLOR_TRANSFORM);
    train_augment_apply(&c, &img, 1, 3, 1, i, out, err, sizeof err);
    train_augment_apply(&c, &img, 1, 3, 1, i, again, err, sizeof err);
    det &= !memcmp(out, again, sizeof out);
    for (int p = 0; p < 784; p++) range_ok &= out[p] >= 0 && out[p] <= 1;

    /* color jitter keeps a gray picture gray when it is made RGB */
    train_augment_defaults(&c, 3, 28, 28, TRAIN_AUG_CROP_COLOR);
    float rgb[3 * 784];
    train_augment_apply(&c, &img, 1, 3, 1, i, rgb, err, sizeof err);
    for (int p = 0; p < 784; p++)
      gray_ok &= fabsf(rgb[p] - rgb[784 + p]) < 1e-5f && fabsf(rgb[p] - rgb[2 * 784 + p]) < 1e-5f;
    media_image_free(&img);
  }
  CHECK(flipped_exact && shift_ok && shifted && det && range_ok && gray_ok);

  /* a rotation-and-translation-free transform is the crop type's output */
  media_image img;
  train_dataset_read(ds, 3, &img, err, sizeof err);
  train_augment_defaults(&c, 1, 28, 28, TRAIN_AUG_CROP_COLOR_TRANSFORM);
  c.rotate_degrees = 0;
  c.translate = 0;
  c.brightness = c.contrast = c.saturation = c.hue = 0;
  train_augment_apply(&c, &img, 1, 8, 0, 3, out, err, sizeof err);
  c.type = TRAIN_AUG_CROP;
  train_augment_apply(&c, &img, 1, 8, 0, 3, again, err, sizeof err);
  CHECK(max_diff(out, again, 784) < 1e-6f);
  media_image_free(&img);
  train_dataset_destroy(ds);

  /* a constant frame stays constant through a random resized crop and
   * rotation keeps its center; ImageNet normalization of a known pixel */
  media_image flat;
  media_image_alloc(&flat, 640, 480, 3, err, sizeof err);
  for (size_t p = 0; p < 640 * 480; p++) {
    flat.data[p * 3] = 255;
    flat.data[p * 3 + 1] = 0;
    flat.data[p * 3 + 2] = 128;
  }
  train_augment_defaults(&c, 3, 64, 64, TRAIN_AUG_CROP_COLOR_TRANSFORM);
  c.brightness = c.contrast = c.saturation = c.hue = 0;
  train_augment_imagenet_normalization(&c);
  float *v = malloc(sizeof(float) * 3 * 64 * 64);
  CHECK_OK(train_augment_apply(&c, &flat, 1, 1, 0, 0, v, err, sizeof err));
  const float want[3] = {(1 - 0.485f) / 0.229f, (0 - 0.456f) / 0.224f,
                         (128 / 255.0f - 0.406f) / 0.225f};
  for (int ch = 0; ch < 3; ch++) CHECK(fabsf(v[ch * 4096 + 32 * 64 + 32] - want[ch]) < 1e-4f);
  c.type = TRAIN_AUG_CROP;
  CHECK_OK(train_augment_apply(&c, &flat, 1, 1, 0, 0, v, err, sizeof err));
  int constant = 1;
  for (int ch = 0; ch < 3; ch++)
    for (int p = 0; p < 4096; p++) constant &= fabsf(v[ch * 4096 + p] - want[ch]) < 1e-4f;
  CHECK(constant);
  free(v);
  media_image_free(&flat);

  /* bad configurations */
  train_augment_defaults(&c, 3, 32, 32, TRAIN_AUG_CROP);
  c.std[1] = 0;
  CHECK(train_augment_check(&c, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT &&
        strstr(err, "std[1]"));
  train_augment_defaults(&c, 2, 32, 32, TRAIN_AUG_CROP);
  CHECK(train_augment_check(&c, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT);
  train_augment_defaults(&c, 3, 32, 32, TRAIN_AUG_CROP);
  c.scale_min = 0;
  CHECK(train_augment_check(&c, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT);
  /* the preprocessing file round-trips */
  char path[1024];
  snprintf(path, sizeof path, "%s/model.preprocess.json", LEDGE_BUILD_DIR);
  char derived[1024];
  train_augment_preprocess_path("/x/model.onnx", derived, sizeof derived);
  CHECK(!strcmp(derived, "/x/model.preprocess.json"));
  train_augment_defaults(&c, 3, 224, 160, TRAIN_AUG_CROP);
  c.resize = 256;
  train_augment_imagenet_normalization(&c);
  CHECK_OK(train_augment_save_preprocess(&c, path, err, sizeof err));
  train_augment_config back;
  train_augment_defaults(&back, 1, 1, 1, TRAIN_AUG_NONE);
  CHECK_OK(train_augment_load_preprocess(&back, path, err, sizeof err));
  CHECK(back.channels == 3 && back.height == 224 && back.width == 160 && back.resize == 256);
  CHECK(fabsf(back.mean[2] - 0.406f) < 1e-7f && fabsf(back.std[0] - 0.229f) < 1e-7f &&
        fabsf(back.scale - 1 / 255.0f) < 1e-9f);
  FILE *f = fopen(path, "w");
  if (f) {
    fputs("{\"image_shape\": \"3,32,32\", \"std\": [1, 0, 1]}", f);
    fclose(f);
  }
  CHECK(train_augment_load_preprocess(&back, path, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT &&
        strstr(err, "std[1]"));
  train_augmentation a;
  CHECK(train_augmentation_parse("crop_color_transform", &a) &&
        a == TRAIN_AUG_CROP_COLOR_TRANSFORM);
  CHECK(!train_augmentation_parse("rotate", &a));
}

static void test_rng(void) {
  train_rng r;
  train_rng_seed(&r, 42, 0, 0);
  long hist[10] = {0};
  for (int i = 0; i < 100000; i++) hist[train_rng_below(&r, 10)]++;
  int flat = 1;
  for (int k = 0; k < 10; k++) flat &= hist[k] > 9500 && hist[k] < 10500;
  CHECK(flat);
  long v[100];
  for (int i = 0; i < 100; i++) v[i] = i;
  train_rng_shuffle(&r, v, 100);
  int seen[100] = {0}, moved = 0;
  for (int i = 0; i < 100; i++) seen[v[i]]++, moved += v[i] != i;
  int perm = 1;
  for (int i = 0; i < 100; i++) perm &= seen[i] == 1;
  CHECK(perm && moved > 80);
}

int main(void) {
  test_rng();
  test_invariants();
  test_against_pil();
  return harness_finish("train.test_augment");
}
