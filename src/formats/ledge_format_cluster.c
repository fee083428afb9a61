/* ledge_format_cluster.c: decoding clustered (weight-shared, entropy-coded)
 * tensors of .ledge files. */
#include "formats/ledge_format.h"

lg_status lg_ledge_decode_clustered(const uint8_t *blob, size_t size, float *out, int64_t count) {
  (void)blob;
  (void)size;
  (void)out;
  (void)count;
  return lg_error(LEDGE_ERR_UNSUPPORTED, "clustered tensors are not supported yet");
}
