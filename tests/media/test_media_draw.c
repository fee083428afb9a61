/* test_media_draw: annotations land where they should, clip at the edges,
 * and a labelled picture of a real image is written for a person to look at
 * (ARGV[2], if given). usage: test_media_draw [IMAGE OUT.jpg] */
#include <string.h>

#include "harness.h"
#include "media/draw.h"
#include "media/encode.h"

static int count(const media_image *img, media_color c) {
  int n = 0;
  for (int y = 0; y < img->height; y++)
    for (int x = 0; x < img->width; x++) {
      const uint8_t *p = img->data + y * img->stride + x * 3;
      n += p[0] == c.r && p[1] == c.g && p[2] == c.b;
    }
  return n;
}

int main(int argc, char **argv) {
  char err[256];
  media_image img;
  CHECK_OK(media_image_alloc(&img, 64, 48, 3, err, sizeof err));
  const media_color red = {255, 0, 0}, green = {0, 255, 0}, white = {255, 255, 255}, blue = {0, 0, 255};
  media_draw_rect(&img, 10, 10, 19, 19, red, 1); /* 10x10 outline: 36 pixels */
  CHECK(count(&img, red) == 36);
  media_draw_rect(&img, 10, 10, 19, 19, red, 2); /* 2 wide: 100 - 36 = 64 */
  CHECK(count(&img, red) == 64);
  media_draw_fill(&img, 60, 40, 100, 100, green); /* clipped to 4x8 */
  CHECK(count(&img, green) == 32);
  media_draw_line(&img, 0, 0, 63, 0, blue, 1);
  CHECK(count(&img, blue) == 64);
  media_draw_line(&img, -1000, 30, 1000, 30, white, 1); /* clipped */
  CHECK(count(&img, white) == 64);
  media_draw_point(&img, 40, 20, 0, green);
  CHECK(count(&img, green) == 33);
  int w, h;
  media_text_size("AB\nC", 2, &w, &h);
  CHECK(w == 22 && h == 32);
  memset(img.data, 0, img.stride * img.height);
  CHECK(media_draw_text(&img, 1, 1, "1", white, 1) == 5);
  CHECK(count(&img, white) == 10); /* the glyph '1' has 10 pixels */
  media_draw_text(&img, 60, 45, "clipped text", white, 3);
  media_draw_label(&img, 0, 0, "face 0.98", white, red, 1); /* no room above: below */
  CHECK(img.data[0] == 255 && img.data[1] == 0);
  media_draw_text(NULL, 0, 0, "x", white, 1);
  media_draw_line(&img, 0, 0, 1 << 30, 5, white, 3);
  media_image_free(&img);

  if (argc >= 3) {
    CHECK_OK(media_image_read_file(argv[1], &img, err, sizeof err));
    if (img.data) {
      /* Hand-placed around the astronaut's face (skimage astronaut.png). */
      media_draw_rect(&img, 160, 60, 290, 220, green, 3);
      media_draw_label(&img, 160, 60, "face 0.99", white, green, 2);
      media_draw_point(&img, 200, 125, 4, red);
      media_draw_point(&img, 255, 125, 4, red);
      media_draw_line(&img, 200, 125, 255, 125, blue, 2);
      media_draw_text(&img, 8, 490, "ledge 0123456789 ABC xyz %:/()", white, 1);
      CHECK_OK(media_image_write_file(argv[2], &img, 90, err, sizeof err));
      media_image_free(&img);
    }
  }
  return harness_finish("test_media_draw");
}
