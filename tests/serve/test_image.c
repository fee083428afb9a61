/* test_image.c: src/media/image on real pictures (skimage's sample data) and
 * hostile bytes, and the serve request decoders on garbage. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ledge/ledge.h"
#include "media/image.h"
#include "serve/internal.h"

#define SKIMAGE "/usr/lib/python3/dist-packages/skimage/data/"

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n + 1);
  *len = fread(b, 1, (size_t)n, f);
  fclose(f);
  return b;
}

static void hostile(const uint8_t *data, size_t len) {
  char err[256];
  media_image img;
  /* every prefix length class, and bit flips: never crash, never leak */
  size_t cuts[] = {0, 1, 2, 3, 8, 16, 33, 100, len / 4, len / 2};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    if (cuts[i] >= len) continue;
    ledge_status st = media_image_decode(data, cuts[i], &img, err, sizeof err);
    CHECK(st != LEDGE_OK);
    CHECK(img.data == NULL);
    CHECK(err[0] != 0);
  }
  uint8_t *copy = malloc(len);
  uint64_t state = 12345;
  for (int round = 0; round < 200; round++) {
    memcpy(copy, data, len);
    for (int k = 0; k < 4; k++) {
      state ^= state << 13, state ^= state >> 7, state ^= state << 17;
      copy[state % len] ^= (uint8_t)(1u << (state >> 60 & 7));
    }
    if (media_image_decode(copy, len, &img, err, sizeof err) == LEDGE_OK) {
      CHECK(img.channels == 3 && img.width > 0 && img.height > 0);
      media_image_free(&img);
    }
  }
  free(copy);
}

int main(void) {
  char err[256];
  media_image img, out;
  size_t len;
  uint8_t *png = slurp(SKIMAGE "chelsea.png", &len);
  CHECK(png != NULL);
  if (png) {
    CHECK(media_image_sniff(png, len) == MEDIA_FORMAT_PNG);
    CHECK_OK(media_image_decode(png, len, &img, err, sizeof err));
    CHECK(img.width == 451 && img.height == 300 && img.channels == 3);
    /* identity resize, center crop geometry, shorter-side resize */
    CHECK_OK(media_image_resize(&img, img.width, img.height, &out, err, sizeof err));
    CHECK(!memcmp(out.data, img.data, img.stride * (size_t)img.height));
    media_image_free(&out);
    CHECK_OK(media_image_resize_shorter(&img, 100, &out, err, sizeof err));
    CHECK(out.height == 100 && out.width == 150);
    media_image_free(&out);
    CHECK_OK(media_image_center_crop(&img, 11, 7, &out, err, sizeof err));
    CHECK(out.width == 11 && out.height == 7);
    CHECK(!memcmp(out.data, img.data + (size_t)146 * img.stride + 220 * 3, 33));
    media_image_free(&out);
    CHECK(media_image_crop(&img, 400, 0, 100, 10, &out, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT);
    media_image_free(&img);
    hostile(png, len);
    free(png);
  }
  uint8_t *jpg = slurp(SKIMAGE "hubble_deep_field.jpg", &len);
  CHECK(jpg != NULL);
  if (jpg) {
    CHECK(media_image_sniff(jpg, len) == MEDIA_FORMAT_JPEG);
    CHECK_OK(media_image_decode(jpg, len, &img, err, sizeof err));
    CHECK(img.width > 0 && img.height > 0 && img.channels == 3);
    media_image_free(&img);
    hostile(jpg, len);
    free(jpg);
  }
  /* grayscale PNG becomes RGB with equal channels */
  uint8_t *gray = slurp(SKIMAGE "camera.png", &len);
  if (gray) {
    CHECK_OK(media_image_decode(gray, len, &img, err, sizeof err));
    CHECK(img.channels == 3 && img.data[0] == img.data[1] && img.data[1] == img.data[2]);
    media_image_free(&img);
    free(gray);
  }
  /* bilinear: a 2x2 image to 1x1 is the average */
  CHECK_OK(media_image_alloc(&img, 2, 2, 1, err, sizeof err));
  img.data[0] = 0, img.data[1] = 100, img.data[2] = 100, img.data[3] = 200;
  CHECK_OK(media_image_resize(&img, 1, 1, &out, err, sizeof err));
  CHECK(out.data[0] == 100);
  media_image_free(&out);
  media_image_free(&img);
  /* normalization, NCHW and NHWC */
  CHECK_OK(media_image_alloc(&img, 2, 1, 3, err, sizeof err));
  for (int i = 0; i < 6; i++) img.data[i] = (uint8_t)(i * 51);
  media_normalize norm;
  media_normalize_init(&norm);
  norm.mean[1] = 0.5f, norm.std[1] = 2.0f;
  float f[6];
  CHECK_OK(media_image_to_float(&img, &norm, f, err, sizeof err));
  CHECK(fabsf(f[0] - 0.0f) < 1e-6f && fabsf(f[1] - 0.6f) < 1e-6f);          /* R plane */
  CHECK(fabsf(f[2] - (0.2f - 0.5f) / 2) < 1e-6f);                           /* G plane */
  norm.layout = MEDIA_LAYOUT_NHWC;
  CHECK_OK(media_image_to_float(&img, &norm, f, err, sizeof err));
  CHECK(fabsf(f[3] - 0.6f) < 1e-6f);
  media_image_free(&img);
  /* garbage */
  CHECK(media_image_decode("GIF89a", 6, &img, err, sizeof err) == LEDGE_ERR_FORMAT);
  CHECK(media_image_decode(NULL, 0, &img, err, sizeof err) == LEDGE_ERR_FORMAT);
  /* a PNG header that claims 100000 x 100000 pixels is refused before allocating */
  static const uint8_t huge[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                 0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0, 8, 2, 0, 0, 0, 0x9a, 0x3c, 0x8e, 0x2b};
  ledge_status st = media_image_decode(huge, sizeof huge, &img, err, sizeof err);
  CHECK(st != LEDGE_OK);

  /* request decoders */
  serve_input_spec spec = {.dtype = LEDGE_FLOAT32, .rank = 2, .dims = {-1, 3}};
  ledge_tensor *t = NULL;
  const char *bad[] = {"", "{", "[", "[[1,2]]", "{\"instances\": [[1,2,3],[4,5]]}", "{\"x\": 1}", "[[\"a\",1,2]]",
                       "[[[[[[[[[[1]]]]]]]]]]", "nan", "{\"instances\": []}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK(serve_decode(&spec, BODY_JSON, (const uint8_t *)bad[i], strlen(bad[i]), &t, err, sizeof err) == 400);
    CHECK(t == NULL);
  }
  const char *good = "{\"instances\": [[1, 2, 3], [4, 5, 6]]}";
  CHECK(serve_decode(&spec, BODY_JSON, (const uint8_t *)good, strlen(good), &t, err, sizeof err) == 0);
  if (t) {
    CHECK(ledge_tensor_dims(t)[0] == 2 && ((float *)ledge_tensor_data(t))[5] == 6);
    ledge_tensor_destroy(t);
  }
  CHECK(serve_decode(&spec, BODY_IMAGE, (const uint8_t *)"x", 1, &t, err, sizeof err) == 415);
  CHECK(serve_decode(&spec, BODY_NPY, (const uint8_t *)"\x93NUMPY", 6, &t, err, sizeof err) == 400);
  serve_envelope env;
  const char *e1 = "{\"id\": 7, \"client\": \"a/b\", \"data\": \"/9j/\"}";
  CHECK(serve_envelope_parse((const uint8_t *)e1, strlen(e1), &env, err, sizeof err) == 0);
  CHECK(!strcmp(env.id, "7") && !strcmp(env.client, "a_b") && env.body_len == 3 && env.body[0] == 0xff);
  serve_envelope_free(&env);
  const char *e2 = "{\"id\": 1, \"data\": \"!!\"}";
  CHECK(serve_envelope_parse((const uint8_t *)e2, strlen(e2), &env, err, sizeof err) == 400);
  serve_envelope_free(&env);
  return harness_finish("serve.image");
}
