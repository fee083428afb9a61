/* fuzz_onnx.c: libFuzzer target for the ONNX loader and planner. Any input
 * must end in LEDGE_OK or a clear error: never a crash, a leak, or undefined
 * behaviour. Models that load are planned and run on zero inputs under a
 * memory limit, since shapes come from the file. Inputs are capped at 64K
 * elements so that legitimately heavy models (a 60x80 pooling window over a
 * large image, found by the fuzzer) do not read as hangs. */
#include <stdint.h>
#include <string.h>

#include "ledge/ledge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ledge_model *model;
  if (ledge_model_load_memory(data, size, &model) != LEDGE_OK) {
    if (!ledge_last_error()[0]) __builtin_trap(); /* every error says why */
    return 0;
  }
  ledge_session_options opt;
  ledge_session_options_init(&opt);
  opt.num_threads = 1;
  opt.memory_limit = 64 << 20;
  ledge_session *session;
  if (ledge_session_create(model, &opt, &session) == LEDGE_OK) {
    int n = ledge_session_input_count(session);
    ledge_tensor *inputs[16] = {0};
    int ok = n <= 16;
    for (int i = 0; i < n && ok; i++) {
      ledge_tensor_info info;
      ledge_session_input_info(session, i, &info);
      int64_t count = 1;
      for (int d = 0; d < info.rank && count <= (1 << 16); d++) count *= info.dims[d] < 0 ? 0 : info.dims[d];
      ok = info.rank >= 0 && count <= (1 << 16) &&
           ledge_tensor_create(info.dtype, info.rank, info.dims, &inputs[i]) == LEDGE_OK;
    }
    /* A model may legitimately ask for more work than a fuzzer can wait
     * for (a 3-D ConvTranspose of 229M MACs was found): plan, don't run. */
    ledge_session_stats stats;
    if (ok && ledge_session_stats_get(session, &stats) == LEDGE_OK && stats.macs > (16 << 20)) ok = 0;
    if (ok) ledge_session_run(session, inputs, n, NULL, 0);
    for (int i = 0; i < 16; i++) ledge_tensor_destroy(inputs[i]);
    ledge_session_destroy(session);
  }
  ledge_model_destroy(model);
  return 0;
}
