/* tfjs_layers.c: Keras layers models (model_config) -> lg_graph. */
#include "formats/tfjs_internal.h"

lg_status tf_import_layers(tfjs_im *im, const lg_json *topology) {
  (void)im;
  (void)topology;
  return lg_error(LEDGE_ERR_UNSUPPORTED, "TF.js layers models are not supported yet");
}
