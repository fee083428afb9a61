/*
 * train/augment.h: from a decoded image to the float NCHW values a network
 * trains on, with the random augmentations of image-classification training.
 *
 * One sample goes through, in order:
 *   1. channels: gray is replicated to RGB, RGB becomes BT.601 gray, as the
 *      training shape asks (image_shape "1,28,28" or "3,224,224");
 *   2. size: with `resize` set, the shorter side is resized to it first;
 *      then, training: a random crop with `pad` pixels of zero padding when
 *      the image already has the training size (CIFAR-style), else a random
 *      resized crop (area fraction in [scale_min, scale_max], aspect ratio in
 *      [ratio_min, ratio_max]) resized to the training size (e.g. a 640x480
 *      frame to 224x224); evaluation: a center crop after `resize`, or a
 *      plain resize to the training size;
 *   3. horizontal flip with probability flip_prob;
 *   4. rotation by an angle in +-rotate_degrees and translation by up to
 *      +-translate of the size (one bilinear affine warp, zero fill);
 *   5. color jitter: brightness, contrast and saturation factors in
 *      [1 - x, 1 + x], hue shifted by up to +-hue of a turn (saturation and
 *      hue only for RGB);
 *   6. normalization: value = (pixel * scale - mean[c]) / std[c].
 *
 * augmentation_type picks steps 2-5 as the hosted algorithm does: "crop"
 * (random crop and flip), "crop_color" (+ color jitter),
 * "crop_color_transform" (+ rotation and translation); "none" does only the
 * resizing and normalization (and is what evaluation always uses).
 *
 * Determinism: the random choices for a sample come from a generator seeded
 * by (seed, epoch, sample index) only, so the values do not depend on thread
 * timing, batch composition or how many samples were drawn before.
 */
#ifndef LEDGE_TRAIN_AUGMENT_H
#define LEDGE_TRAIN_AUGMENT_H

#include <stdint.h>

#include "ledge/ledge.h"
#include "media/image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum train_augmentation {
  TRAIN_AUG_NONE = 0,
  TRAIN_AUG_CROP = 1,
  TRAIN_AUG_CROP_COLOR = 2,
  TRAIN_AUG_CROP_COLOR_TRANSFORM = 3
} train_augmentation;

/* "none", "crop", "crop_color", "crop_color_transform". */
const char *train_augmentation_name(train_augmentation type);
/* Parses one of those names; 0 if it is none of them. */
int train_augmentation_parse(const char *name, train_augmentation *out);

typedef struct train_augment_config {
  int channels, height, width; /* the training shape (image_shape C,H,W): 1 or 3 channels */
  train_augmentation type;
  int resize;                 /* > 0: resize the shorter side to this first (hosted `resize`) */
  int pad;                    /* random-crop padding when the image has the training size */
  float scale_min, scale_max; /* random resized crop: fraction of the area */
  float ratio_min, ratio_max; /* random resized crop: aspect ratio w/h */
  float flip_prob;            /* horizontal flip probability */
  float rotate_degrees;       /* transform: max rotation either way */
  float translate;            /* transform: max shift, fraction of the size */
  float brightness, contrast, saturation, hue; /* color jitter strengths */
  float scale;                                 /* pixel scale before mean/std (1/255) */
  float mean[3], std[3];                       /* per channel of the training shape */
} train_augment_config;

/* Defaults for a training shape and type: pad 4 (only when the image already
 * has the training size), scale [0.25, 1], ratio [3/4, 4/3], flip 0.5,
 * rotation 15 degrees, translation 0.1, brightness/contrast/saturation 0.4,
 * hue 0.05 (of a turn), scale 1/255, mean 0, std 1 (inputs in [0, 1]). */
void train_augment_defaults(train_augment_config *config, int channels, int height, int width,
                            train_augmentation type);

/* Sets mean/std to ImageNet's (RGB: 0.485 0.456 0.406 / 0.229 0.224 0.225;
 * gray: their luma 0.449 / 0.226), what ImageNet-pretrained backbones expect. */
void train_augment_imagenet_normalization(train_augment_config *config);

/* How a trained model wants its input prepared, saved beside it as
 * MODEL.preprocess.json so that `ledge eval` (and anyone serving the model)
 * prepares images the same way:
 *   {"image_shape": "3,224,224", "resize": 256, "scale": 0.003921569,
 *    "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
 * Only the evaluation fields are written (shape, resize, normalization). */
ledge_status train_augment_save_preprocess(const train_augment_config *config, const char *path,
                                           char *err, size_t err_size);
/* Reads such a file into config (fields present replace config's). */
ledge_status train_augment_load_preprocess(train_augment_config *config, const char *path,
                                           char *err, size_t err_size);
/* MODEL.onnx -> MODEL.preprocess.json (the extension replaced). */
void train_augment_preprocess_path(const char *model_path, char *out, size_t size);

/* Checks a config; one line in err on failure (e.g. "std[1] is 0"). */
ledge_status train_augment_check(const train_augment_config *config, char *err, size_t err_size);

/* Turns src into channels*height*width floats (NCHW, one sample) in out.
 * train = 1 applies the random steps of config->type with a generator
 * seeded by (seed, epoch, index); train = 0 only resizes and normalizes. */
ledge_status train_augment_apply(const train_augment_config *config, const media_image *src,
                                 int train, uint64_t seed, long epoch, long index, float *out,
                                 char *err, size_t err_size);

/* The generator behind it, for other deterministic choices (shuffles,
 * splits): splitmix64 over a 64-bit state. */
typedef struct train_rng {
  uint64_t state;
} train_rng;
void train_rng_seed(train_rng *rng, uint64_t seed, uint64_t stream_a, uint64_t stream_b);
uint64_t train_rng_next(train_rng *rng);
/* Uniform in [0, 1). */
double train_rng_uniform(train_rng *rng);
/* Uniform integer in [0, n) (n > 0). */
uint64_t train_rng_below(train_rng *rng, uint64_t n);
/* Fisher-Yates shuffle of n longs. */
void train_rng_shuffle(train_rng *rng, long *values, long n);

#ifdef __cplusplus
}
#endif

#endif /* LEDGE_TRAIN_AUGMENT_H */
