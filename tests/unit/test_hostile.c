/* test_hostile.c: truncated, bit-flipped and size-lying model files, and
 * every crasher the fuzzer ever found, must end in a clean error (or a
 * model that works), never a crash. Runs each input through load, plan
 * and one run, as tests/fuzz/fuzz_onnx.c does. */
#include <dirent.h>
#include <sys/stat.h>
#include <string.h>

#include "harness.h"
#include "ledge/ledge.h"

/* The fuzz targets themselves, under other names, so every crasher is
 * replayed through every parser. */
#define LLVMFuzzerTestOneInput fuzz_onnx_one
#include "../fuzz/fuzz_onnx.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_npy_one
#include "../fuzz/fuzz_npy.c"
#undef LLVMFuzzerTestOneInput

static unsigned char *read_all(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *p = malloc(n > 0 ? (size_t)n : 1);
  *size = p && n > 0 && fread(p, 1, (size_t)n, f) == (size_t)n ? (size_t)n : 0;
  fclose(f);
  return p;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return rng;
}

static int mutated = 0;

static void run_one(const unsigned char *data, size_t size) {
  unsigned char *copy = malloc(size ? size : 1); /* exact size: ASan sees overreads */
  memcpy(copy, data, size);
  fuzz_onnx_one(copy, size);
  fuzz_npy_one(copy, size);
  free(copy);
  mutated++;
}

static void mutate_model(const char *path) {
  size_t size;
  unsigned char *model = read_all(path, &size);
  CHECK(model != NULL && size > 0);
  if (!model || !size) return;
  /* Every truncation of small files, a spread of them for larger ones. */
  size_t step = size < 4096 ? 1 : size / 2048;
  for (size_t n = 0; n < size; n += step) run_one(model, n);
  /* Bit flips and byte replacements (varints become huge lengths or dims). */
  unsigned char *buf = malloc(size);
  for (int k = 0; k < 3000; k++) {
    memcpy(buf, model, size);
    int edits = 1 + (int)(next() % 4);
    for (int e = 0; e < edits; e++) {
      size_t at = next() % size;
      if (next() % 2) buf[at] ^= (unsigned char)(1u << (next() % 8));
      else buf[at] = (unsigned char)next();
    }
    run_one(buf, size);
  }
  /* Size lying: every length-like byte set to 0x7f and 0xff. */
  for (size_t at = 0; at < size && at < 512; at++) {
    memcpy(buf, model, size);
    buf[at] = 0xff;
    run_one(buf, size);
    buf[at] = 0x7f;
    run_one(buf, size);
  }
  free(buf);
  free(model);
}

static void replay_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char path[4096];
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    /* Seeds of other fuzz targets live in subfolders: files only. */
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
    size_t size;
    unsigned char *p = read_all(path, &size);
    if (p) run_one(p, size);
    free(p);
  }
  closedir(d);
}

int main(void) {
  static const char *const models[] = {
      ONNX_TESTDATA "/node/test_conv_with_strides_padding/model.onnx",
      ONNX_TESTDATA "/node/test_reshape_negative_dim/model.onnx",
      ONNX_TESTDATA "/node/test_maxpool_2d_pads/model.onnx",
      ONNX_TESTDATA "/pytorch-converted/test_Conv2d_groups/model.onnx",
      ONNX_TESTDATA "/simple/test_gradient_of_add_and_mul/model.onnx",
      ONNX_TESTDATA "/node/test_resize_upsample_scales_linear/model.onnx",
      LEDGE_SOURCE_DIR "/tests/data/npy/arange_f4_2x3.npy",
  };
  for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) mutate_model(models[i]);
  replay_dir(LEDGE_SOURCE_DIR "/tests/fuzz/crashers");
  replay_dir(LEDGE_SOURCE_DIR "/tests/fuzz/seeds");
  printf("ran %d hostile inputs without a crash\n", mutated);
  CHECK(mutated > 1000);
  return harness_finish("test_hostile");
}
