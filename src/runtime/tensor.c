/* tensor.c: the public ledge_tensor API. */
#include <stdlib.h>
#include <string.h>

#include "runtime/core.h"

static lg_status check_shape(ledge_dtype dtype, int rank, const int64_t *dims, size_t *bytes) {
  if (ledge_dtype_size(dtype) == 0)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "tensor dtype %d is not a numeric type", (int)dtype);
  if (rank < 0 || rank > LEDGE_MAX_RANK || (rank > 0 && !dims))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "tensor rank %d is out of range 0..%d", rank, LEDGE_MAX_RANK);
  int64_t n = lg_shape_count(rank, dims);
  if (n < 0 || (uint64_t)n > SIZE_MAX / 2 / ledge_dtype_size(dtype))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "tensor shape is negative or too large");
  *bytes = (size_t)n * ledge_dtype_size(dtype);
  return LEDGE_OK;
}

ledge_status ledge_tensor_create(ledge_dtype dtype, int rank, const int64_t *dims, ledge_tensor **out) {
  size_t bytes = 0;
  if (!out) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "out is NULL");
  *out = NULL;
  LG_TRY(check_shape(dtype, rank, dims, &bytes));
  lg_tensor *t = calloc(1, sizeof *t);
  void *data = lg_aligned_alloc(bytes);
  if (!t || !data) {
    free(t);
    lg_aligned_free(data);
    return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory for a tensor of %zu bytes", bytes);
  }
  t->dtype = dtype;
  lg_tensor_set_shape(t, rank, dims);
  t->data = data;
  t->owns_data = true;
  t->capacity = bytes;
  *out = t;
  return LEDGE_OK;
}

ledge_status ledge_tensor_wrap(ledge_dtype dtype, int rank, const int64_t *dims, void *data,
                               size_t data_bytes, ledge_tensor **out) {
  size_t bytes = 0;
  if (!out) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "out is NULL");
  *out = NULL;
  LG_TRY(check_shape(dtype, rank, dims, &bytes));
  if (data_bytes < bytes || (!data && bytes))
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "buffer of %zu bytes is too small for the tensor's %zu", data_bytes, bytes);
  lg_tensor *t = calloc(1, sizeof *t);
  if (!t) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  t->dtype = dtype;
  lg_tensor_set_shape(t, rank, dims);
  t->data = data;
  t->capacity = data_bytes;
  *out = t;
  return LEDGE_OK;
}

void ledge_tensor_destroy(ledge_tensor *t) {
  if (!t) return;
  if (t->owns_data) lg_aligned_free(t->data);
  free(t);
}

ledge_dtype ledge_tensor_dtype(const ledge_tensor *t) { return t->dtype; }
int ledge_tensor_rank(const ledge_tensor *t) { return t->rank; }
const int64_t *ledge_tensor_dims(const ledge_tensor *t) { return t->dims; }
int64_t ledge_tensor_count(const ledge_tensor *t) { return lg_tensor_count(t); }
size_t ledge_tensor_bytes(const ledge_tensor *t) { return lg_tensor_bytes(t); }
void *ledge_tensor_data(const ledge_tensor *t) { return t->data; }
