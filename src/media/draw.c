/* media/draw.c: boxes, lines, points and text on images. See draw.h. */
#include "media/draw.h"

#include <stdlib.h>
#include <string.h>

/* The 5x7 font: 7 rows per glyph, bit 4 is the leftmost column. Drawn for
 * this project. */
typedef struct {
  char c;
  uint8_t rows[7];
} glyph;

static const glyph font[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}}, {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}}, {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}}, {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}}, {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}}, {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}}, {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}}, {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}}, {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}}, {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}}, {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}}, {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {' ', {0, 0, 0, 0, 0, 0, 0}},                      {'.', {0, 0, 0, 0, 0, 0x0C, 0x0C}},
    {',', {0, 0, 0, 0, 0x0C, 0x04, 0x08}},             {':', {0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0}},
    {';', {0, 0x0C, 0x0C, 0, 0x0C, 0x04, 0x08}},       {'-', {0, 0, 0, 0x1F, 0, 0, 0}},
    {'+', {0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0}},       {'_', {0, 0, 0, 0, 0, 0, 0x1F}},
    {'/', {0, 0x01, 0x02, 0x04, 0x08, 0x10, 0}},       {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}}, {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {'[', {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E}}, {']', {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E}},
    {'#', {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A}}, {'=', {0, 0, 0x1F, 0, 0x1F, 0, 0}},
    {'<', {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}}, {'>', {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}},
    {'!', {0x04, 0x04, 0x04, 0x04, 0x04, 0, 0x04}},    {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04}},
    {'\'', {0x04, 0x04, 0x08, 0, 0, 0, 0}},
};
static const uint8_t unknown_glyph[7] = {0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F};

static const uint8_t *glyph_rows(char c) {
  if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
  for (size_t i = 0; i < sizeof font / sizeof font[0]; i++)
    if (font[i].c == c) return font[i].rows;
  return unknown_glyph;
}

static int usable(const media_image *img) {
  return img && img->data && img->width > 0 && img->height > 0 && img->channels >= 1 && img->channels <= 4;
}

static inline void put(media_image *img, int x, int y, media_color c) {
  if (x < 0 || y < 0 || x >= img->width || y >= img->height) return;
  uint8_t *p = img->data + (size_t)y * img->stride + (size_t)x * img->channels;
  if (img->channels < 3) p[0] = c.r;
  else p[0] = c.r, p[1] = c.g, p[2] = c.b;
}

void media_draw_fill(media_image *img, int x0, int y0, int x1, int y1, media_color color) {
  if (!usable(img)) return;
  if (x0 > x1) { int t = x0; x0 = x1; x1 = t; }
  if (y0 > y1) { int t = y0; y0 = y1; y1 = t; }
  if (x0 < 0) x0 = 0;
  if (y0 < 0) y0 = 0;
  if (x1 >= img->width) x1 = img->width - 1;
  if (y1 >= img->height) y1 = img->height - 1;
  for (int y = y0; y <= y1; y++)
    for (int x = x0; x <= x1; x++) put(img, x, y, color);
}

void media_draw_rect(media_image *img, int x0, int y0, int x1, int y1, media_color color, int thickness) {
  if (!usable(img)) return;
  if (x0 > x1) { int t = x0; x0 = x1; x1 = t; }
  if (y0 > y1) { int t = y0; y0 = y1; y1 = t; }
  if (thickness < 1) thickness = 1;
  int t = thickness - 1;
  media_draw_fill(img, x0, y0, x1, y0 + t < y1 ? y0 + t : y1, color);
  media_draw_fill(img, x0, y1 - t > y0 ? y1 - t : y0, x1, y1, color);
  media_draw_fill(img, x0, y0, x0 + t < x1 ? x0 + t : x1, y1, color);
  media_draw_fill(img, x1 - t > x0 ? x1 - t : x0, y0, x1, y1, color);
}

void media_draw_point(media_image *img, int x, int y, int radius, media_color color) {
  if (!usable(img)) return;
  if (radius < 0) radius = 0;
  if (radius > 4096) radius = 4096;
  for (int dy = -radius; dy <= radius; dy++)
    for (int dx = -radius; dx <= radius; dx++)
      if (dx * dx + dy * dy <= radius * radius + radius) put(img, x + dx, y + dy, color);
}

void media_draw_line(media_image *img, int x0, int y0, int x1, int y1, media_color color, int thickness) {
  if (!usable(img)) return;
  /* Keep the walk bounded for absurd coordinates. */
  const int lim = 1 << 20;
  if (abs(x0) > lim || abs(x1) > lim || abs(y0) > lim || abs(y1) > lim) return;
  int r = thickness > 1 ? thickness / 2 : 0;
  int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, e = dx + dy;
  for (;;) {
    if (r) media_draw_point(img, x0, y0, r, color);
    else put(img, x0, y0, color);
    if (x0 == x1 && y0 == y1) break;
    int e2 = 2 * e;
    if (e2 >= dy) e += dy, x0 += sx;
    if (e2 <= dx) e += dx, y0 += sy;
  }
}

void media_text_size(const char *text, int scale, int *width, int *height) {
  if (scale < 1) scale = 1;
  int cols = 0, max = 0, lines = text && *text ? 1 : 0;
  for (const char *p = text ? text : ""; *p; p++) {
    if (*p == '\n') lines++, cols = 0;
    else if (++cols > max) max = cols;
  }
  if (width) *width = max ? (max * 6 - 1) * scale : 0;
  if (height) *height = lines ? (lines * 9 - 2) * scale : 0;
}

int media_draw_text(media_image *img, int x, int y, const char *text, media_color color, int scale) {
  if (!text) return 0;
  if (scale < 1) scale = 1;
  if (scale > 64) scale = 64;
  int w;
  media_text_size(text, scale, &w, NULL);
  if (!usable(img)) return w;
  int cx = x, cy = y;
  for (const char *p = text; *p; p++) {
    if (*p == '\n') {
      cx = x, cy += 9 * scale;
      continue;
    }
    const uint8_t *rows = glyph_rows(*p);
    for (int r = 0; r < 7; r++)
      for (int c = 0; c < 5; c++)
        if (rows[r] & (0x10 >> c))
          for (int sy = 0; sy < scale; sy++)
            for (int sx = 0; sx < scale; sx++) put(img, cx + c * scale + sx, cy + r * scale + sy, color);
    cx += 6 * scale;
  }
  return w;
}

void media_draw_label(media_image *img, int x, int y, const char *text, media_color fg, media_color bg, int scale) {
  if (!usable(img) || !text || !*text) return;
  if (scale < 1) scale = 1;
  int w, h, pad = scale;
  media_text_size(text, scale, &w, &h);
  int top = y - h - 2 * pad >= 0 ? y - h - 2 * pad : y;
  media_draw_fill(img, x, top, x + w + 2 * pad - 1, top + h + 2 * pad - 1, bg);
  media_draw_text(img, x + pad, top + pad, text, fg, scale);
}
