/*
 * core.h: what every part of libledge shares: the tensor struct behind the
 * public handle, error reporting, and small helpers for shapes and memory.
 */
#ifndef LEDGE_CORE_H
#define LEDGE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ledge/ledge.h"

typedef ledge_status lg_status;

/* The tensor behind ledge_tensor. Inside the runtime, operators see tensors
 * whose data points into the arena, into a mapped file or into heap memory;
 * a tensor never says which, except through owns_data. */
struct ledge_tensor {
  ledge_dtype dtype;
  int rank;
  int64_t dims[LEDGE_MAX_RANK];
  void *data;
  bool owns_data;  /* data was allocated by lg_aligned_alloc and is freed with the tensor */
  size_t capacity; /* bytes available at data (for wrapped and owned tensors) */
};
typedef struct ledge_tensor lg_tensor;

/* ---- Errors ---- */

/* Records a printf-style message as the calling thread's last error and
 * returns status, so that error paths read `return lg_error(...)`. */
lg_status lg_error(lg_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepends context ("while loading x: ") to the current message. */
lg_status lg_error_context(lg_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void lg_error_clear(void);

#define LG_TRY(expr)                                                                                \
  do {                                                                                             \
    lg_status lg_try_status_ = (expr);                                                             \
    if (lg_try_status_ != LEDGE_OK) return lg_try_status_;                                         \
  } while (0)

/* ---- Shapes ---- */

/* Elements of a shape; 1 for rank 0. Returns -1 on overflow or a negative dim. */
int64_t lg_shape_count(int rank, const int64_t *dims);
static inline int64_t lg_tensor_count(const lg_tensor *t) { return lg_shape_count(t->rank, t->dims); }
static inline size_t lg_tensor_bytes(const lg_tensor *t) {
  return (size_t)lg_tensor_count(t) * ledge_dtype_size(t->dtype);
}
/* Sets rank and dims of t. */
void lg_tensor_set_shape(lg_tensor *t, int rank, const int64_t *dims);
bool lg_shape_equal(int ra, const int64_t *a, int rb, const int64_t *b);
/* Formats a shape as "[1,3,224,224]" into buf (returns buf). */
const char *lg_shape_str(int rank, const int64_t *dims, char *buf, size_t size);
/* Multidirectional (numpy) broadcast of two shapes into out; SHAPE error if
 * they do not broadcast. */
lg_status lg_broadcast_shape(int ra, const int64_t *a, int rb, const int64_t *b, int *rank_out,
                             int64_t *out);
/* Normalizes a possibly negative axis against rank; false if out of range. */
bool lg_normalize_axis(int64_t axis, int rank, int *out);

/* Reads element i of a tensor of any integer or float dtype as int64/double.
 * Used for shape-carrying tensors (Reshape's shape, Slice's starts...). */
int64_t lg_tensor_get_int(const lg_tensor *t, int64_t i);
double lg_tensor_get_double(const lg_tensor *t, int64_t i);

/* ---- Memory ---- */

#define LG_ALIGNMENT 64
void *lg_aligned_alloc(size_t bytes); /* zero-filled, LG_ALIGNMENT aligned; NULL on failure */
void lg_aligned_free(void *p);
static inline size_t lg_align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

/* Half-precision conversion (IEEE 754 binary16), for weights and Cast. */
float lg_half_to_float(uint16_t h);
uint16_t lg_float_to_half(float f);

#endif
