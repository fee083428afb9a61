/* fuzz_ledge.c: libFuzzer target for the .ledge loader. Every input must
 * end in LEDGE_OK or a clear error: never a crash, a leak or undefined
 * behaviour.
 *
 * Checksums would stop almost every mutation at the header, so each input
 * is loaded twice: as it is (the checksum paths), and with its header,
 * section table and section checksums recomputed (the parsers behind
 * them). A file that loads has its data checksum verified, its self-test
 * (if small) run, and a session planned on it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/ledge_format.h"
#include "ledge/ledge.h"
#include "runtime/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t rd32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static uint64_t rd64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* Recomputes the checksums the layout's own fields allow, where they are in range. */
static void fix_checksums(uint8_t *file, size_t size) {
  if (size < 64) return;
  uint32_t count = rd32(file + 20);
  uint64_t table_at = rd64(file + 24);
  if (count <= 4096 && table_at <= size && (size - table_at) / 32 >= count) {
    uint8_t *table = file + table_at;
    for (uint32_t i = 0; i < count; i++) {
      uint8_t *e = table + 32 * (size_t)i;
      uint64_t at = rd64(e + 8), len = rd64(e + 16);
      if (at <= size && len <= size - at) {
        uint32_t crc = lg_crc32c(0, file + at, len);
        memcpy(e + 24, &crc, 4);
      }
    }
    uint32_t crc = lg_crc32c(0, table, 32 * (size_t)count);
    memcpy(file + 40, &crc, 4);
  }
  uint32_t crc = lg_crc32c(0, file, 60);
  memcpy(file + 60, &crc, 4);
}

static void load_and_use(const uint8_t *data, size_t size) {
  ledge_model *model;
  if (ledge_model_load_memory(data, size, &model) != LEDGE_OK) {
    if (!ledge_last_error()[0]) __builtin_trap(); /* every error says why */
    return;
  }
  lg_ledge_verify_data(model->ledge);
  ledge_session_options opt;
  ledge_session_options_init(&opt);
  opt.num_threads = 1;
  opt.memory_limit = 64 << 20;
  /* The self-test plans its own sessions without a memory limit: run it
   * only if the model plans for the self-test's inputs within one. */
  const lg_ledge_selftest *st = &model->ledge->selftest;
  bool small = model->ledge->has_selftest && st->n_inputs == model->graph.n_inputs &&
               model->graph.n_nodes <= 64;
  ledge_session *session;
  if (ledge_session_create(model, &opt, &session) == LEDGE_OK) {
    for (int i = 0; small && i < st->n_inputs; i++) {
      int64_t n = 1;
      for (int d = 0; d < st->inputs[i].rank && n <= (1 << 16); d++) n *= st->inputs[i].dims[d];
      small = n <= (1 << 16) && ledge_session_set_input_shape(session, i, st->inputs[i].rank,
                                                              st->inputs[i].dims) == LEDGE_OK;
    }
    ledge_session_stats stats;
    small =
        small && ledge_session_stats_get(session, &stats) == LEDGE_OK && stats.macs <= (16 << 20);
    ledge_session_destroy(session);
  } else {
    small = false;
  }
  if (small) {
    lg_ledge_selftest_report rep;
    lg_ledge_selftest_run(model, st, 0, 1, &rep);
  }
  ledge_model_destroy(model);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  load_and_use(data, size);
  if (size >= 64 && lg_ledge_detect(data, size)) {
    uint8_t *copy = malloc(size);
    if (!copy) return 0;
    memcpy(copy, data, size);
    fix_checksums(copy, size);
    load_and_use(copy, size);
    free(copy);
  }
  return 0;
}
