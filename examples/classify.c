/* classify.c: the smallest complete use of the C API. Loads an image
 * classifier (ONNX), runs it on a .npy input and prints the top-5 classes.
 *
 *   build/bin/classify resnet50.onnx input.npy
 */
#include <stdio.h>
#include <stdlib.h>

#include "ledge/ledge.h"
#include "ledge/npy.h"

static int fail(const char *what) {
  fprintf(stderr, "classify: %s: %s\n", what, ledge_last_error());
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: classify MODEL.onnx INPUT.npy\n");
    return 2;
  }
  ledge_model *model;
  ledge_session *session;
  ledge_tensor *input;
  if (ledge_model_load(argv[1], &model) != LEDGE_OK) return fail("load");
  if (ledge_session_create(model, NULL, &session) != LEDGE_OK) return fail("session");
  if (ledge_npy_load(argv[2], &input) != LEDGE_OK) return fail("input");
  if (ledge_session_run(session, &input, 1, NULL, 0) != LEDGE_OK) return fail("run");

  const ledge_tensor *scores;
  ledge_session_output(session, 0, &scores);
  const float *p = ledge_tensor_data(scores);
  int64_t n = ledge_tensor_count(scores);
  int best[5] = {-1, -1, -1, -1, -1};
  for (int k = 0; k < 5 && k < n; k++)
    for (int64_t i = 0; i < n; i++) {
      int taken = 0;
      for (int j = 0; j < k; j++) taken |= best[j] == i;
      if (!taken && (best[k] < 0 || p[i] > p[best[k]])) best[k] = (int)i;
    }
  for (int k = 0; k < 5 && k < n; k++) printf("class %4d  score %.4f\n", best[k], p[best[k]]);

  ledge_tensor_destroy(input);
  ledge_session_destroy(session);
  ledge_model_destroy(model);
  return 0;
}
