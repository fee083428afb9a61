/* test_data_mutations.c: the fuzz target fuzz_train_data run without
 * libFuzzer, on its seeds and on a few thousand deterministic mutations of
 * them (bit flips, byte changes, truncations, duplications), so that every
 * build (ASan + UBSan in `make test`) exercises the IDX, .lst and manifest
 * readers on hostile bytes. Fails by crashing or by the target's traps. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/fuzz_train_data.c"
#include "harness.h"
#include "train/augment.h"

#define SEEDS LEDGE_SOURCE_DIR "/tests/fuzz/seeds/train_data"

static uint8_t *load(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *buf = malloc(1 << 16);
  *size = fread(buf, 1, 1 << 16, f);
  fclose(f);
  return buf;
}

int main(void) {
  DIR *d = opendir(SEEDS);
  CHECK(d != NULL);
  if (!d) return harness_finish("train.test_data_mutations");
  struct dirent *e;
  int seeds = 0;
  long runs = 0;
  train_rng rng;
  train_rng_seed(&rng, 2026, 0, 0);
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", SEEDS, e->d_name);
    size_t size;
    uint8_t *seed = load(path, &size);
    if (!seed || size < 2) {
      free(seed);
      continue;
    }
    seeds++;
    LLVMFuzzerTestOneInput(seed, size);
    uint8_t *m = malloc(2 * size + 16);
    for (int k = 0; k < 400; k++) {
      memcpy(m, seed, size);
      size_t n = size;
      int edits = 1 + (int)train_rng_below(&rng, 4);
      for (int j = 0; j < edits; j++) {
        size_t at = 1 + train_rng_below(&rng, n - 1); /* keep the format byte */
        switch (train_rng_below(&rng, 5)) {
          case 0: m[at] ^= (uint8_t)(1u << train_rng_below(&rng, 8)); break;
          case 1: m[at] = (uint8_t)train_rng_next(&rng); break;
          case 2:
            m[at] = (uint8_t[]){0, 0xFF, '\t', '\n', '"', '{', '-', '9'}[train_rng_below(&rng, 8)];
            break;
          case 3: n = at > 2 ? at : n; break; /* truncate */
          case 4:
            if (n + 8 <= 2 * size + 16) { /* duplicate a few bytes */
              memmove(m + at + 8, m + at, n - at);
              n += 8;
            }
            break;
        }
      }
      LLVMFuzzerTestOneInput(m, n);
      runs++;
    }
    free(m);
    free(seed);
  }
  closedir(d);
  CHECK(seeds == 3 && runs == 1200);
  return harness_finish("train.test_data_mutations");
}
