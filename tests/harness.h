/* harness.h: a minimal test harness: CHECK records a failure and goes on,
 * TEST_MAIN's caller returns the exit code CTest reads. */
#ifndef LEDGE_TEST_HARNESS_H
#define LEDGE_TEST_HARNESS_H

#include <stdio.h>
#include <stdlib.h>

static int harness_failures = 0, harness_checks = 0;

#define CHECK(cond)                                                                 \
  do {                                                                              \
    harness_checks++;                                                               \
    if (!(cond)) {                                                                  \
      harness_failures++;                                                           \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
    }                                                                               \
  } while (0)

#define CHECK_OK(expr)                                                              \
  do {                                                                              \
    ledge_status check_ok_st_ = (expr);                                             \
    harness_checks++;                                                               \
    if (check_ok_st_ != LEDGE_OK) {                                                 \
      harness_failures++;                                                           \
      fprintf(stderr, "%s:%d: %s failed: %s: %s\n", __FILE__, __LINE__, #expr,      \
              ledge_status_name(check_ok_st_), ledge_last_error());                 \
    }                                                                               \
  } while (0)

static inline int harness_finish(const char *name) {
  printf("%s: %d passed, %d failed\n", name, harness_checks - harness_failures, harness_failures);
  return harness_failures ? 1 : 0;
}

/* Where Debian's libonnx-testdata puts ONNX's backend test cases. */
#ifndef ONNX_TESTDATA
#define ONNX_TESTDATA "/usr/share/libonnx-testdata/data"
#endif

#endif
