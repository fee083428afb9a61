/* fuzz_serve_decode.c: libFuzzer target for what `ledge serve` reads from
 * the network: request bodies (JSON instances, .npy, JPEG/PNG images) and the
 * MQTT JSON envelope (whose base64 "data" or "instances" then go through the
 * same decoders). Every input is offered to each of them, against the kinds of
 * input a served model declares (a float image NCHW with an unknown batch, an
 * int64 vector of fixed shape, a uint8 NHWC image); none may crash or leak. A
 * decoder either answers with one of its documented HTTP codes and a message,
 * or gives a tensor of the declared type and of the declared shape wherever
 * the shape is known.
 *
 * make fuzz FUZZ_TARGET=fuzz_serve_decode; crashers land in
 * tests/fuzz/crashers/fuzz_serve_decode-* and serve.fuzz_replay (built with
 * every configuration) feeds them, and the seeds in tests/serve/fuzz_seeds,
 * through this same function. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static serve_input_spec image_spec(void) {
  serve_input_spec s = {
      .dtype = LEDGE_FLOAT32, .rank = 4, .dims = {-1, 3, 12, 16}, .image_ok = true, .channels = 3};
  s.pre.width = 16;
  s.pre.height = 12;
  s.pre.resize_shorter = 14;
  s.pre.norm.scale = 1.0f / 255;
  for (int c = 0; c < 4; c++) s.pre.norm.mean[c] = 0.5f, s.pre.norm.std[c] = 0.25f;
  s.pre.norm.layout = MEDIA_LAYOUT_NCHW;
  return s;
}

static serve_input_spec vector_spec(void) {
  return (serve_input_spec){.dtype = LEDGE_INT64, .rank = 2, .dims = {1, 5}};
}

static serve_input_spec nhwc_spec(void) {
  serve_input_spec s = {
      .dtype = LEDGE_UINT8, .rank = 4, .dims = {1, 8, 8, 1}, .image_ok = true, .channels = 1};
  s.pre.width = 8;
  s.pre.height = 8;
  s.pre.norm.scale = 1;
  s.pre.norm.std[0] = 1;
  s.pre.norm.layout = MEDIA_LAYOUT_NHWC;
  return s;
}

static void check_decode(const serve_input_spec *spec, body_kind kind, const uint8_t *data,
                         size_t size) {
  char err[512];
  err[0] = 0;
  ledge_tensor *t = NULL;
  int code = serve_decode(spec, kind, data, size, &t, err, sizeof err);
  if (code) {
    /* a documented status, a message, and nothing allocated */
    if ((code != 400 && code != 413 && code != 415 && code != 500) || !err[0] || t)
      __builtin_trap();
    return;
  }
  if (!t || ledge_tensor_dtype(t) != spec->dtype || ledge_tensor_rank(t) != spec->rank)
    __builtin_trap();
  const int64_t *dims = ledge_tensor_dims(t);
  for (int d = 0; d < spec->rank; d++)
    if (dims[d] < 0 || (d > 0 && spec->dims[d] >= 0 && dims[d] != spec->dims[d])) __builtin_trap();
  /* touch every byte: a short buffer shows up under ASan */
  volatile uint8_t sum = 0;
  const uint8_t *p = ledge_tensor_data(t);
  for (size_t i = 0; i < ledge_tensor_bytes(t); i++) sum ^= p[i];
  (void)sum;
  ledge_tensor_destroy(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const serve_input_spec specs[] = {image_spec(), vector_spec(), nhwc_spec()};
  for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
    check_decode(&specs[i], BODY_JSON, data, size);
    check_decode(&specs[i], BODY_NPY, data, size);
    if (specs[i].image_ok) check_decode(&specs[i], BODY_IMAGE, data, size);
  }
  check_decode(&specs[0], (body_kind)0, data, size); /* no content type: 415 */

  serve_envelope env;
  memset(&env, 0, sizeof env);
  char err[512];
  err[0] = 0;
  if (serve_envelope_parse(data, size, &env, err, sizeof err) == 0) {
    if (env.kind != BODY_NPY && env.kind != BODY_JSON && env.kind != BODY_IMAGE) __builtin_trap();
    if (memchr(env.id, 0, sizeof env.id) == NULL ||
        memchr(env.client, 0, sizeof env.client) == NULL)
      __builtin_trap();
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
      if (env.kind != BODY_IMAGE || specs[i].image_ok)
        check_decode(&specs[i], env.kind, env.body, env.body_len);
  } else if (!err[0]) {
    __builtin_trap();
  }
  serve_envelope_free(&env);
  return 0;
}
