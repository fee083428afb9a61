/* fuzz_train_data.c: libFuzzer target for the training data readers that
 * take untrusted files: IDX images + labels (gzipped or not), .lst lists and
 * augmented manifests. The first input byte picks the format; for IDX the
 * second byte says where the images file ends and the labels file begins.
 * The bytes are written to files (the readers work on paths) and the whole
 * dataset is opened and every sample read; any failure must come with a
 * message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/data_internal.h"
#include "train/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256];

static void write_file(const char *path, const uint8_t *data, size_t size) {
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  if (size) fwrite(data, 1, size, f);
  fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "/tmp/fuzz_train_data-XXXXXX");
    if (!mkdtemp(dir)) abort();
  }
  if (size < 2 || size > (1 << 20)) return 0;
  char path[512], labels[512], err[512];
  int mode = data[0] % 3;
  const uint8_t *body = data + 1;
  size_t n = size - 1;
  if (mode == 0) {
    body = data + 2;
    n = size - 2;
    size_t split = (size_t)data[1] * n / 256;
    snprintf(path, sizeof path, "%s/x-images-idx3-ubyte", dir);
    snprintf(labels, sizeof labels, "%s/x-labels-idx1-ubyte", dir);
    write_file(path, body, split);
    write_file(labels, body + split, n - split);
    /* the header parser alone, on the raw bytes */
    int nd;
    int64_t dims[4];
    size_t header;
    if (data_idx_parse_header(body, n, &nd, dims, &header, err, sizeof err) == LEDGE_OK &&
        (nd < 1 || nd > 4 || header > n))
      __builtin_trap();
  } else if (mode == 1) {
    snprintf(path, sizeof path, "%s/x.lst", dir);
    write_file(path, body, n);
  } else {
    snprintf(path, sizeof path, "%s/x.manifest", dir);
    write_file(path, body, n);
  }
  train_dataset_options opt;
  train_dataset_options_init(&opt);
  opt.limit = 64;
  train_dataset *ds = NULL;
  err[0] = 0;
  if (train_dataset_open(path, &opt, &ds, err, sizeof err) != LEDGE_OK) {
    if (!err[0] || ds) __builtin_trap();
    return 0;
  }
  long count = train_dataset_count(ds);
  if (count <= 0 || count > 64 || train_dataset_num_classes(ds) < 1) __builtin_trap();
  for (long i = 0; i < count; i++) {
    int label = train_dataset_label(ds, i);
    if (label < 0 || label >= train_dataset_num_classes(ds)) __builtin_trap();
    media_image img;
    err[0] = 0;
    if (train_dataset_read(ds, i, &img, err, sizeof err) == LEDGE_OK)
      media_image_free(&img);
    else if (!err[0])
      __builtin_trap();
  }
  for (int c = 0; c < train_dataset_num_classes(ds); c++)
    if (!train_dataset_class_name(ds, c)) __builtin_trap();
  train_dataset_destroy(ds);
  return 0;
}
