/* nms_tool.c: runs vision_nms (src/vision) on boxes read from stdin, for
 * nms_vs_tfjs.js, which checks its choices against TF.js's
 * tf.image.nonMaxSuppression.
 *
 *   nms_tool IOU MAX < boxes      (a line "x0 y0 x1 y1 score" per box)
 *   prints the indices kept, best first, one per line */
#include <stdio.h>
#include <stdlib.h>

#include "vision/vision_internal.h"

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: nms_tool IOU MAX < boxes\n");
    return 2;
  }
  float iou = strtof(argv[1], NULL);
  int max = atoi(argv[2]), n = 0, cap = 1024;
  vision_box *b = malloc((size_t)cap * sizeof *b);
  if (!b) return 1;
  while (n < cap &&
         scanf("%f %f %f %f %f", &b[n].x0, &b[n].y0, &b[n].x1, &b[n].y1, &b[n].score) == 5) {
    b[n].index = n;
    n++;
  }
  int kept = vision_nms(b, n, iou, max);
  for (int i = 0; i < kept; i++) printf("%d\n", b[i].index);
  free(b);
  return 0;
}
