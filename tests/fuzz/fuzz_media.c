/* fuzz_media.c: libFuzzer target for the image decoders (JPEG and PNG through
 * media_image_decode, PPM/PGM through media_decode_ppm), which read
 * untrusted bytes from HTTP bodies, image directories and cameras. A decode
 * either fails with a message or gives an image within the limits, which
 * then survives a resize, a conversion and a PNG round trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media/encode.h"
#include "media/image.h"
#include "media/transform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[256];
  media_image img;
  err[0] = 0;
  ledge_status st = size >= 2 && data[0] == 'P' ? media_decode_ppm(data, size, &img, err, sizeof err)
                                                 : media_image_decode(data, size, &img, err, sizeof err);
  if (st != LEDGE_OK) {
    if (!err[0] || img.data) __builtin_trap(); /* a message, and nothing left allocated */
    return 0;
  }
  if (img.width <= 0 || img.height <= 0 || img.width > MEDIA_IMAGE_MAX_SIDE || img.height > MEDIA_IMAGE_MAX_SIDE)
    __builtin_trap();
  media_image small, gray;
  if (media_resize(&img, 17, 9, MEDIA_RESIZE_AREA, &small, err, sizeof err) != LEDGE_OK) __builtin_trap();
  if (media_convert(&small, 1, &gray, err, sizeof err) != LEDGE_OK) __builtin_trap();
  uint8_t *png;
  size_t png_size;
  if (media_encode_png(&small, &png, &png_size, err, sizeof err) != LEDGE_OK) __builtin_trap();
  media_image back;
  /* The decoder gives RGB: gray round-trips only in size. */
  if (media_image_decode(png, png_size, &back, err, sizeof err) != LEDGE_OK || back.width != 17 ||
      (small.channels == 3 && memcmp(back.data, small.data, 17 * 9 * 3)))
    __builtin_trap();
  free(png);
  media_image_free(&back);
  media_image_free(&gray);
  media_image_free(&small);
  media_image_free(&img);
  return 0;
}
