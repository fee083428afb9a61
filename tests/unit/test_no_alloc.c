/* test_no_alloc.c: ledge_session_run never allocates once a session is
 * planned. The test replaces the allocator (glibc allows a program to
 * define malloc and friends) with counting wrappers, then runs every model
 * of ONNX's backend suite (node, pytorch-converted, pytorch-operator): after one warm
 * run, ten more runs must make no allocator call at all, on 1 and 2
 * threads. Sanitizer builds keep their own allocator, so there the runs
 * happen but nothing is counted.
 *   test_no_alloc MODEL...  checks these models instead (any format ledge
 *   loads: an int8 .ledge from `ledge quantize`, say; tests/optimize). */
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "ledge/ledge.h"

#if defined(__SANITIZE_ADDRESS__)
#define COUNTING 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COUNTING 0
#endif
#endif
#ifndef COUNTING
#define COUNTING 1
#endif

static volatile long allocations;

#if COUNTING
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

void *malloc(size_t n) {
  __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED);
  return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
  __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED);
  return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
  __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED);
  return __libc_realloc(p, n);
}
int posix_memalign(void **p, size_t align, size_t n) {
  __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED);
  *p = __libc_memalign(align, n);
  return *p ? 0 : 12; /* ENOMEM */
}
void *aligned_alloc(size_t align, size_t n) {
  __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED);
  return __libc_memalign(align, n);
}
void free(void *p) { __libc_free(p); }
#endif

static int models = 0, silent = 0;

/* dir is a test case folder holding model.onnx, or a model file itself;
 * a model file given on the command line must load and run. */
static void check_model(const char *dir, int threads, bool must_run) {
  char path[1024];
  snprintf(path, sizeof path, must_run ? "%s" : "%s/model.onnx", dir);
  ledge_model *m;
  if (ledge_model_load(path, &m) != LEDGE_OK) {
    if (must_run) fprintf(stderr, "%s: %s\n", path, ledge_last_error());
    CHECK(!must_run);
    return;
  }
  ledge_session_options opt;
  ledge_session_options_init(&opt);
  opt.num_threads = threads;
  ledge_session *s;
  if (ledge_session_create(m, &opt, &s) != LEDGE_OK) {
    ledge_model_destroy(m);
    return;
  }
  int n = ledge_session_input_count(s);
  ledge_tensor *inputs[16] = {0};
  bool ok = n <= 16;
  for (int i = 0; i < n && ok; i++) {
    ledge_tensor_info info;
    ledge_session_input_info(s, i, &info);
    for (int d = 0; d < info.rank; d++) ok &= info.dims[d] >= 0;
    ok = ok && ledge_tensor_create(info.dtype, info.rank, info.dims, &inputs[i]) == LEDGE_OK;
  }
  bool ran = ok && ledge_session_run(s, inputs, n, NULL, 0) == LEDGE_OK;
  if (must_run) CHECK(ran);
  if (ran) {
    long before = allocations;
    for (int r = 0; r < 10; r++) CHECK(ledge_session_run(s, inputs, n, NULL, 0) == LEDGE_OK);
    long made = allocations - before;
    if (made) fprintf(stderr, "%s (%d threads): %ld allocations in 10 runs\n", dir, threads, made);
    CHECK(made == 0);
    models++;
    silent += made == 0;
  }
  for (int i = 0; i < 16; i++) ledge_tensor_destroy(inputs[i]);
  ledge_session_destroy(s);
  ledge_model_destroy(m);
}

int main(int argc, char **argv) {
  if (argc > 1) {
    for (int threads = 1; threads <= 2; threads++)
      for (int i = 1; i < argc; i++) check_model(argv[i], threads, true);
    printf("%d model runs checked (%s), %d made no allocation\n", models,
           COUNTING ? "allocator counted" : "sanitizer build: not counted", silent);
    return harness_finish("test_no_alloc");
  }
  static const char *const suites[] = {ONNX_TESTDATA "/pytorch-converted",
                                       ONNX_TESTDATA "/pytorch-operator", ONNX_TESTDATA "/node"};
  for (int threads = 1; threads <= 2; threads++)
    for (size_t k = 0; k < sizeof suites / sizeof suites[0]; k++) {
      DIR *d = opendir(suites[k]);
      CHECK(d != NULL);
      if (!d) continue;
      struct dirent *e;
      while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", suites[k], e->d_name);
        check_model(dir, threads, false);
      }
      closedir(d);
    }
  printf("%d model runs checked (%s), %d made no allocation\n", models,
         COUNTING ? "allocator counted" : "sanitizer build: not counted", silent);
  CHECK(models > 1500);
  if (COUNTING) CHECK(allocations > 1000); /* the wrappers really counted (loading allocates) */
  return harness_finish("test_no_alloc");
}
