/* optimize/quantize_data.h: calibration samples for `ledge quantize` from
 * an .npy of stacked samples, a folder of images or an IDX file (see
 * quantize_data.c). */
#ifndef LEDGE_OPTIMIZE_QUANTIZE_DATA_H
#define LEDGE_OPTIMIZE_QUANTIZE_DATA_H

#include <stdbool.h>

#include "optimize/quantize.h"

typedef struct lg_calib_data lg_calib_data;

typedef struct lg_calib_data_options {
  int64_t samples;       /* at most this many, spread evenly over the data (0: all) */
  float mean[4], std[4]; /* image normalization per channel, after /255 (default ImageNet) */
  bool no_crop;          /* resize images straight to the input size */
} lg_calib_data_options;

void lg_calib_data_options_init(lg_calib_data_options *options);

/* Opens path for a model whose (NCHW) input is described by input. */
lg_status lg_calib_data_open(const char *path, const ledge_tensor_info *input,
                             const lg_calib_data_options *options, lg_calib_data **out);
void lg_calib_data_close(lg_calib_data *d);
int64_t lg_calib_data_count(const lg_calib_data *d); /* samples used */
int64_t lg_calib_data_total(const lg_calib_data *d); /* samples held */
/* lg_calib_source.get over an lg_calib_data (ctx). */
lg_status lg_calib_data_get(void *ctx, int64_t i, float *dst, int64_t n);

#endif
