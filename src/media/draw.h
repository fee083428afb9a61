/*
 * media/draw.h: annotations drawn on an RGB (or gray/RGBA) media_image, for
 * `--draw` outputs: box outlines, lines, filled points and small text labels
 * in a built-in 5x7 pixel font (digits, letters shown as capitals, and
 * " .,:;-+_/%()[]#=<>!?'"), scaled by an integer factor.
 *
 * Everything is clipped to the image: coordinates may lie outside it. The
 * color is {R, G, B} (gray images take R; RGBA keeps alpha). No allocation,
 * no failure.
 */
#ifndef LEDGE_MEDIA_DRAW_H
#define LEDGE_MEDIA_DRAW_H

#include "media/image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct media_color {
  uint8_t r, g, b;
} media_color;

/* Outline of the rectangle with corners (x0, y0) and (x1, y1) (inclusive),
 * `thickness` pixels wide, drawn inward. */
void media_draw_rect(media_image *img, int x0, int y0, int x1, int y1, media_color color, int thickness);

/* Filled rectangle. */
void media_draw_fill(media_image *img, int x0, int y0, int x1, int y1, media_color color);

/* Line from (x0, y0) to (x1, y1), `thickness` pixels wide. */
void media_draw_line(media_image *img, int x0, int y0, int x1, int y1, media_color color, int thickness);

/* Filled disc of the given radius centered at (x, y) (radius 0: one pixel). */
void media_draw_point(media_image *img, int x, int y, int radius, media_color color);

/* Text with its top-left corner at (x, y), glyphs 6*scale pixels apart. '\n'
 * starts a new line. Returns the width in pixels of the longest line. */
int media_draw_text(media_image *img, int x, int y, const char *text, media_color color, int scale);

/* Size in pixels media_draw_text would cover. */
void media_text_size(const char *text, int scale, int *width, int *height);

/* A label: text on a filled background box, placed above (x, y) if it fits,
 * else below it; for naming a detection box at its top-left corner. */
void media_draw_label(media_image *img, int x, int y, const char *text, media_color fg, media_color bg, int scale);

#ifdef __cplusplus
}
#endif

#endif /* LEDGE_MEDIA_DRAW_H */
