/* test_fuzz_replay.c (serve.fuzz_replay): the serve decoders' fuzz target
 * (tests/fuzz/fuzz_serve_decode.c, linked in) run without libFuzzer over
 *  - every crasher `make fuzz FUZZ_TARGET=fuzz_serve_decode` has saved
 *    (tests/fuzz/crashers/fuzz_serve_decode-*), so a fixed bug stays fixed;
 *  - the seeds in tests/serve/fuzz_seeds (valid bodies and envelopes of each
 *    kind, checked to decode), and 300 deterministic corruptions of each:
 *    truncations, bit flips, and bytes spliced from another seed.
 * The target traps on a crash, a leak (under ASan) or a broken invariant. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "serve/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct blob {
  uint8_t *data;
  size_t size;
  char name[256];
} blob;

static uint8_t *slurp(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
  *size = p ? fread(p, 1, (size_t)(n > 0 ? n : 0), f) : 0;
  fclose(f);
  return p;
}

/* Files of dir whose names start with prefix (all if NULL). */
static int load_dir(const char *dir, const char *prefix, blob *out, int max) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < max) {
    if (e->d_name[0] == '.' || (prefix && strncmp(e->d_name, prefix, strlen(prefix)))) continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    out[n].data = slurp(path, &out[n].size);
    snprintf(out[n].name, sizeof out[n].name, "%s", e->d_name);
    if (out[n].data) n++;
  }
  closedir(d);
  return n;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return rng;
}

int main(void) {
  static blob crashers[256], seeds[64];
  int n_crash =
      load_dir(LEDGE_SOURCE_DIR "/tests/fuzz/crashers", "fuzz_serve_decode", crashers, 256);
  int n_seed = load_dir(LEDGE_SOURCE_DIR "/tests/serve/fuzz_seeds", NULL, seeds, 64);
  CHECK(n_seed >= 10);
  for (int i = 0; i < n_crash; i++) LLVMFuzzerTestOneInput(crashers[i].data, crashers[i].size);

  /* The seeds are what they claim: each decodes through its own path. */
  serve_input_spec vec = {.dtype = LEDGE_INT64, .rank = 2, .dims = {1, 5}};
  for (int i = 0; i < n_seed; i++) {
    const blob *b = &seeds[i];
    LLVMFuzzerTestOneInput(b->data, b->size);
    char err[256];
    if (!strncmp(b->name, "envelope_", 9)) {
      serve_envelope env = {0};
      int rc = serve_envelope_parse(b->data, b->size, &env, err, sizeof err);
      CHECK(rc == 0 && env.id[0] && env.client[0] && env.kind);
      serve_envelope_free(&env);
    } else if (!strcmp(b->name, "instances_vec.json") || !strcmp(b->name, "i64_1x5.npy")) {
      ledge_tensor *t = NULL;
      int rc =
          serve_decode(&vec, b->name[0] == 'i' && strstr(b->name, ".npy") ? BODY_NPY : BODY_JSON,
                       b->data, b->size, &t, err, sizeof err);
      CHECK(rc == 0 && t && ledge_tensor_dims(t)[1] == 5);
      if (rc) fprintf(stderr, "%s: %s\n", b->name, err);
      ledge_tensor_destroy(t);
    }
  }

  int runs = 0;
  size_t cap = 1 << 16;
  uint8_t *buf = malloc(cap);
  for (int i = 0; i < n_seed; i++) {
    const blob *b = &seeds[i];
    for (int k = 0; k < 300; k++) {
      size_t n = b->size < cap ? b->size : cap;
      memcpy(buf, b->data, n);
      switch (k % 3) {
        case 0: /* truncate */ n = (size_t)(next() % (n + 1)); break;
        case 1: /* flip a few bits */
          for (int f = 0; f < 1 + (int)(next() % 4) && n; f++)
            buf[next() % n] ^= (uint8_t)(1u << (next() % 8));
          break;
        default: { /* splice another seed's bytes in */
          const blob *o = &seeds[next() % (uint64_t)n_seed];
          size_t at = n ? (size_t)(next() % n) : 0, take = o->size ? (size_t)(next() % o->size) : 0;
          if (at + take > cap) take = cap - at;
          memcpy(buf + at, o->data, take);
          if (at + take > n) n = at + take;
        }
      }
      LLVMFuzzerTestOneInput(buf, n);
      runs++;
    }
  }
  free(buf);
  printf("replayed %d crashers, %d seeds, %d corruptions\n", n_crash, n_seed, runs);
  for (int i = 0; i < n_crash; i++) free(crashers[i].data);
  for (int i = 0; i < n_seed; i++) free(seeds[i].data);
  return harness_finish("serve.fuzz_replay");
}
