/* test_npy.c: .npy reading and writing: numpy-written fixtures (tests/data/npy,
 * made by make_fixtures.py there), round trips, and hostile files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledge/npy.h"
#include "runtime/core.h"

static int failures;

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: CHECK(%s) failed (last error: %s)\n", __FILE__, __LINE__, #cond,     \
              ledge_last_error());                                                                 \
      failures++;                                                                                  \
    }                                                                                              \
  } while (0)

/* The fixture directory: $LEDGE_NPY_FIXTURES, else tests/data/npy beside this
 * source file (CMake passes absolute source paths, so __FILE__ finds it). */
static const char *fixture(const char *name) {
  static char path[4096];
  const char *dir = getenv("LEDGE_NPY_FIXTURES");
  if (dir) {
    snprintf(path, sizeof path, "%s/%s", dir, name);
  } else {
    char here[4000];
    snprintf(here, sizeof here, "%s", __FILE__);
    char *slash = strrchr(here, '/');
    if (slash) *slash = 0;
    else snprintf(here, sizeof here, ".");
    snprintf(path, sizeof path, "%s/../data/npy/%s", here, name);
  }
  return path;
}

/* Element i of t as a double, whatever its dtype. */
static double element(const ledge_tensor *t, int64_t i) { return lg_tensor_get_double(t, i); }

/* Loads a fixture holding arange(count) of the given dtype and shape. */
static void check_arange_fixture(const char *name, ledge_dtype dtype, int rank,
                                 const int64_t *dims) {
  ledge_tensor *t = NULL;
  ledge_status s = ledge_npy_load(fixture(name), &t);
  CHECK(s == LEDGE_OK);
  if (s != LEDGE_OK) {
    fprintf(stderr, "  while loading %s\n", name);
    return;
  }
  CHECK(ledge_tensor_dtype(t) == dtype);
  CHECK(lg_shape_equal(ledge_tensor_rank(t), ledge_tensor_dims(t), rank, dims));
  int64_t count = ledge_tensor_count(t);
  for (int64_t i = 0; i < count; i++) {
    double want = dtype == LEDGE_BOOL ? (double)(i % 2) : (double)i;
    if (element(t, i) != want) {
      fprintf(stderr, "%s: element %lld is %g, expected %g\n", name, (long long)i, element(t, i),
              want);
      failures++;
      break;
    }
  }
  ledge_tensor_destroy(t);
}

static void test_numpy_fixtures(void) {
  static const struct {
    const char *code;
    ledge_dtype dtype;
  } types[] = {
      {"f4", LEDGE_FLOAT32}, {"f8", LEDGE_FLOAT64}, {"f2", LEDGE_FLOAT16}, {"i1", LEDGE_INT8},
      {"i2", LEDGE_INT16},   {"i4", LEDGE_INT32},   {"i8", LEDGE_INT64},   {"u1", LEDGE_UINT8},
      {"u2", LEDGE_UINT16},  {"u4", LEDGE_UINT32},  {"u8", LEDGE_UINT64},  {"b1", LEDGE_BOOL},
  };
  const int64_t dims_2x3[] = {2, 3};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    char name[64];
    snprintf(name, sizeof name, "arange_%s_2x3.npy", types[i].code);
    check_arange_fixture(name, types[i].dtype, 2, dims_2x3);
  }
  check_arange_fixture("v2_f4_2x3.npy", LEDGE_FLOAT32, 2, dims_2x3);
  check_arange_fixture("v3_f4_2x3.npy", LEDGE_FLOAT32, 2, dims_2x3);
  check_arange_fixture("bigendian_i4_2x3.npy", LEDGE_INT32, 2, dims_2x3);
  check_arange_fixture("bigendian_f4_2x3.npy", LEDGE_FLOAT32, 2, dims_2x3);
  const int64_t dims_5[] = {5}, dims_0x3[] = {0, 3}, dims_2x3x2[] = {2, 3, 2};
  check_arange_fixture("vector_f8_5.npy", LEDGE_FLOAT64, 1, dims_5);
  check_arange_fixture("empty_f4_0x3.npy", LEDGE_FLOAT32, 2, dims_0x3);
  check_arange_fixture("fortran_f4_2x3x2.npy", LEDGE_FLOAT32, 3, dims_2x3x2);
  const int64_t dims_rank8[] = {1, 2, 1, 2, 1, 2, 1, 2};
  check_arange_fixture("rank8_u1.npy", LEDGE_UINT8, 8, dims_rank8);

  ledge_tensor *t = NULL;
  CHECK(ledge_npy_load(fixture("scalar_i8.npy"), &t) == LEDGE_OK);
  if (t) {
    CHECK(ledge_tensor_rank(t) == 0 && ledge_tensor_count(t) == 1);
    CHECK(((int64_t *)ledge_tensor_data(t))[0] == 42);
    ledge_tensor_destroy(t);
  }

  t = NULL;
  CHECK(ledge_npy_load(fixture("complex_c8_2.npy"), &t) == LEDGE_ERR_UNSUPPORTED && t == NULL);
  CHECK(strstr(ledge_last_error(), "c8") != NULL);
  CHECK(ledge_npy_load(fixture("does-not-exist.npy"), &t) == LEDGE_ERR_IO && t == NULL);
}

/* Encodes, parses back and saves/loads back a tensor of each dtype and a few
 * shapes, checking the bytes survive exactly. */
static void test_round_trip(void) {
  const ledge_dtype dtypes[] = {LEDGE_FLOAT32, LEDGE_FLOAT64, LEDGE_FLOAT16, LEDGE_INT8,
                                LEDGE_INT16,   LEDGE_INT32,   LEDGE_INT64,   LEDGE_UINT8,
                                LEDGE_UINT16,  LEDGE_UINT32,  LEDGE_UINT64,  LEDGE_BOOL};
  const struct {
    int rank;
    int64_t dims[LEDGE_MAX_RANK];
  } shapes[] = {{0, {0}}, {1, {7}}, {2, {3, 4}}, {4, {1, 3, 5, 2}}, {2, {0, 5}},
                {8, {1, 1, 2, 1, 1, 3, 1, 1}}};
  char path[] = "/tmp/ledge_test_npy_XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  if (fd >= 0) close(fd);
  for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
      ledge_tensor *t = NULL;
      CHECK(ledge_tensor_create(dtypes[d], shapes[s].rank, shapes[s].dims, &t) == LEDGE_OK);
      if (!t) continue;
      unsigned char *p = ledge_tensor_data(t);
      size_t bytes = ledge_tensor_bytes(t);
      for (size_t i = 0; i < bytes; i++)
        p[i] = dtypes[d] == LEDGE_BOOL ? (unsigned char)(i % 3 == 0) : (unsigned char)(i * 37 + 11);

      void *encoded = NULL;
      size_t size = 0;
      CHECK(ledge_npy_encode(t, &encoded, &size) == LEDGE_OK);
      CHECK(size % 64 == 0 || bytes % 64 != 0); /* the data starts 64-byte aligned */
      ledge_tensor *back = NULL;
      CHECK(ledge_npy_parse(encoded, size, &back) == LEDGE_OK);
      if (back) {
        CHECK(ledge_tensor_dtype(back) == dtypes[d]);
        CHECK(lg_shape_equal(back->rank, back->dims, t->rank, t->dims));
        CHECK(bytes == 0 || memcmp(ledge_tensor_data(back), p, bytes) == 0);
        ledge_tensor_destroy(back);
      }

      /* The file path gives the same bytes as the in-memory encoding. */
      back = NULL;
      CHECK(ledge_npy_save(path, t) == LEDGE_OK);
      FILE *f = fopen(path, "rb");
      if (f && encoded) {
        unsigned char *file_bytes = malloc(size + 1);
        CHECK(fread(file_bytes, 1, size + 1, f) == size);
        CHECK(memcmp(file_bytes, encoded, size) == 0);
        free(file_bytes);
      }
      if (f) fclose(f);
      CHECK(ledge_npy_load(path, &back) == LEDGE_OK);
      if (back) {
        CHECK(lg_shape_equal(back->rank, back->dims, t->rank, t->dims));
        CHECK(bytes == 0 || memcmp(ledge_tensor_data(back), p, bytes) == 0);
        ledge_tensor_destroy(back);
      }
      free(encoded);
      ledge_tensor_destroy(t);
    }
  }

  /* The exact header numpy would write for a float32 [2,3] tensor. */
  const int64_t dims[] = {2, 3};
  ledge_tensor *t = NULL;
  CHECK(ledge_tensor_create(LEDGE_FLOAT32, 2, dims, &t) == LEDGE_OK);
  void *encoded = NULL;
  size_t size = 0;
  if (t) CHECK(ledge_npy_encode(t, &encoded, &size) == LEDGE_OK);
  if (encoded) {
    const char *want = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    CHECK(size == 128 + 24);
    CHECK(memcmp((char *)encoded + 10, want, strlen(want)) == 0);
    CHECK(((char *)encoded)[127] == '\n');
    free(encoded);
    encoded = NULL;
  }

  /* Tensors .npy cannot hold, and bad arguments. */
  char cells[6] = {0};
  lg_tensor strings = {.dtype = LEDGE_STRING, .rank = 2, .dims = {2, 3}, .data = cells};
  CHECK(ledge_npy_encode(&strings, &encoded, &size) == LEDGE_ERR_UNSUPPORTED && !encoded);
  CHECK(ledge_npy_save(path, &strings) == LEDGE_ERR_UNSUPPORTED);
  lg_tensor no_data = {.dtype = LEDGE_FLOAT32, .rank = 2, .dims = {2, 3}, .data = NULL};
  CHECK(ledge_npy_encode(&no_data, &encoded, &size) == LEDGE_ERR_INVALID_ARGUMENT);
  CHECK(ledge_npy_save(NULL, NULL) == LEDGE_ERR_INVALID_ARGUMENT);
  CHECK(ledge_npy_encode(NULL, &encoded, &size) == LEDGE_ERR_INVALID_ARGUMENT);
  CHECK(ledge_npy_parse(NULL, 0, NULL) == LEDGE_ERR_INVALID_ARGUMENT);
  ledge_tensor *unused = NULL;
  CHECK(ledge_npy_load(NULL, &unused) == LEDGE_ERR_INVALID_ARGUMENT && !unused);
  if (t) CHECK(ledge_npy_save("/nonexistent-dir/x.npy", t) == LEDGE_ERR_IO);
  ledge_tensor_destroy(t);
  unlink(path);
}

/* Builds a v1.0 file from a header dict and payload. */
static size_t make_file(unsigned char *buf, const char *dict, size_t payload) {
  size_t n = strlen(dict);
  memcpy(buf, "\x93NUMPY\x01\x00", 8);
  buf[8] = (unsigned char)(n & 0xff);
  buf[9] = (unsigned char)(n >> 8);
  memcpy(buf + 10, dict, n);
  memset(buf + 10 + n, 0x3f, payload);
  return 10 + n + payload;
}

static void expect_rejected(const char *what, const void *data, size_t size, ledge_status want) {
  ledge_tensor *t = (ledge_tensor *)1; /* must be reset to NULL */
  ledge_status got = ledge_npy_parse(data, size, &t);
  if (got != want || t != NULL) {
    fprintf(stderr, "hostile case '%s': got %s (t=%p), expected %s; message: %s\n", what,
            ledge_status_name(got), (void *)t, ledge_status_name(want), ledge_last_error());
    failures++;
    if (got == LEDGE_OK) ledge_tensor_destroy(t);
  } else if (strchr(ledge_last_error(), '\n') || !ledge_last_error()[0]) {
    fprintf(stderr, "hostile case '%s': message is not one line: '%s'\n", what,
            ledge_last_error());
    failures++;
  }
}

static void test_hostile(void) {
  static unsigned char buf[1 << 16];
  const ledge_status F = LEDGE_ERR_FORMAT;
  expect_rejected("empty", buf, 0, F);
  expect_rejected("bad magic", "\x93NUMPX\x01\x00\x10\x00", 10, F);
  expect_rejected("version 4", "\x93NUMPY\x04\x00\x10\x00", 10, F);
  expect_rejected("prelude only", "\x93NUMPY\x01\x00", 8, F);
  expect_rejected("v2 short prelude", "\x93NUMPY\x02\x00\x10\x00", 10, F);
  expect_rejected("header past end", "\x93NUMPY\x01\x00\xff\x00{}", 12, F);
  expect_rejected("huge v2 header", "\x93NUMPY\x02\x00\xff\xff\xff\xff{", 13, F);

  size_t n;
  const char *good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  n = make_file(buf, good, 24);
  ledge_tensor *t = NULL;
  CHECK(ledge_npy_parse(buf, n, &t) == LEDGE_OK); /* the template itself is fine */
  ledge_tensor_destroy(t);
  expect_rejected("truncated data", buf, n - 1, F);
  for (size_t cut = 0; cut < n - 24; cut++) expect_rejected("truncated header", buf, cut, F);

  n = make_file(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000000000, "
                     "1000000000), }", 8);
  expect_rejected("overflowing shape", buf, n, F);
  n = make_file(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
                8);
  expect_rejected("dimension overflows int64", buf, n, F);
  n = make_file(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (4000000000,), }", 8);
  expect_rejected("lying size", buf, n, F);
  n = make_file(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 3), }", 8);
  expect_rejected("negative dimension", buf, n, F);
  n = make_file(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 8);
  expect_rejected("rank 9", buf, n, F);
  n = make_file(buf, "{'descr': '<f4', 'fortran_order': False}", 8);
  expect_rejected("no shape", buf, n, F);
  n = make_file(buf, "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", 8);
  expect_rejected("bad fortran_order", buf, n, F);
  n = make_file(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 8);
  expect_rejected("extra key", buf, n, F);
  n = make_file(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } trailing", 8);
  expect_rejected("trailing text", buf, n, F);
  n = make_file(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,, }", 8);
  expect_rejected("broken tuple", buf, n, F);
  n = make_file(buf, "{'descr': '<f4", 8);
  expect_rejected("unterminated string", buf, n, F);
  n = make_file(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), ", 8);
  expect_rejected("unterminated dict", buf, n, F);
  n = make_file(buf, "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", 16);
  expect_rejected("object array", buf, n, LEDGE_ERR_UNSUPPORTED);
  n = make_file(buf, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 16);
  expect_rejected("structured array", buf, n, LEDGE_ERR_UNSUPPORTED);
  n = make_file(buf, "{'descr': '<U8', 'fortran_order': False, 'shape': (2,), }", 64);
  expect_rejected("unicode strings", buf, n, LEDGE_ERR_UNSUPPORTED);
  n = make_file(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8);
  buf[20] = 0;
  expect_rejected("NUL in header", buf, n, F);

  /* A bool file with bytes other than 0 and 1 is normalized, not rejected. */
  n = make_file(buf, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", 0);
  buf[n] = 0;
  buf[n + 1] = 1;
  buf[n + 2] = 0x80;
  t = NULL;
  CHECK(ledge_npy_parse(buf, n + 3, &t) == LEDGE_OK);
  if (t) {
    const unsigned char *b = ledge_tensor_data(t);
    CHECK(b[0] == 0 && b[1] == 1 && b[2] == 1);
    ledge_tensor_destroy(t);
  }

  /* Every prefix and a few corruptions of a real file fail cleanly or parse. */
  FILE *f = fopen(fixture("fortran_f4_2x3x2.npy"), "rb");
  CHECK(f != NULL);
  if (f) {
    size_t size = fread(buf, 1, sizeof buf, f);
    fclose(f);
    for (size_t cut = 0; cut < size; cut++) expect_rejected("prefix of a real file", buf, cut, F);
    for (size_t i = 0; i < size; i += 3) {
      unsigned char saved = buf[i];
      buf[i] ^= 0x5a;
      t = NULL;
      if (ledge_npy_parse(buf, size, &t) == LEDGE_OK) ledge_tensor_destroy(t);
      buf[i] = saved;
    }
  }

  /* The file reader refuses the same lies before allocating. */
  char path[] = "/tmp/ledge_test_npy_XXXXXX";
  int fd = mkstemp(path);
  if (fd >= 0) {
    n = make_file(buf, "{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000), }",
                  16);
    CHECK(write(fd, buf, n) == (ssize_t)n);
    close(fd);
    t = NULL;
    CHECK(ledge_npy_load(path, &t) == LEDGE_ERR_FORMAT && t == NULL);
    CHECK(strstr(ledge_last_error(), "truncated") != NULL);
    unlink(path);
  }
}

int main(void) {
  test_numpy_fixtures();
  test_round_trip();
  test_hostile();
  if (failures) {
    fprintf(stderr, "test_npy: %d check(s) failed\n", failures);
    return 1;
  }
  printf("test_npy: all checks passed\n");
  return 0;
}
