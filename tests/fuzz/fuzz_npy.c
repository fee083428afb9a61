/* fuzz_npy.c: libFuzzer target for the .npy parser (ledge_npy_parse), which
 * reads untrusted bytes in `ledge run --input` and in serving bodies. A
 * parsed tensor must be exactly as large as its header says. */
#include <stdint.h>
#include <stdlib.h>

#include "ledge/ledge.h"
#include "ledge/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ledge_tensor *t;
  if (ledge_npy_parse(data, size, &t) != LEDGE_OK) {
    if (!ledge_last_error()[0]) __builtin_trap();
    return 0;
  }
  if (ledge_tensor_bytes(t) > size) __builtin_trap(); /* the data came from the input */
  void *out;
  size_t out_size;
  if (ledge_npy_encode(t, &out, &out_size) == LEDGE_OK) {
    ledge_tensor *back;
    if (ledge_npy_parse(out, out_size, &back) != LEDGE_OK) __builtin_trap(); /* round trip */
    ledge_tensor_destroy(back);
    free(out);
  }
  ledge_tensor_destroy(t);
  return 0;
}
