/* test_hparams.c: hyperparameters from flags and hyperparameters.json (the
 * string-valued form hosted training jobs receive), defaults, range errors,
 * and the learning-rate schedule. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "train/hparams.h"

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

int main(void) {
  char err[512];
  train_hparams hp;
  train_hparams_defaults(&hp);
  /* the hosted algorithm's defaults */
  CHECK(hp.num_layers == 152 && hp.mini_batch_size == 32 && hp.epochs == 30);
  CHECK(hp.image_shape[0] == 3 && hp.image_shape[1] == 224 && hp.image_shape[2] == 224);
  CHECK(hp.learning_rate == 0.1 && hp.lr_scheduler_factor == 0.1 && hp.momentum == 0.9);
  CHECK(hp.weight_decay == 0.0001 && !strcmp(hp.optimizer, "sgd") && hp.top_k == 5);
  CHECK(hp.use_pretrained_model == 0 && hp.augmentation_type == TRAIN_AUG_NONE);
  CHECK(train_hparams_validate(&hp, 1, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT &&
        strstr(err, "num_classes is required"));

  /* flags, as the issue writes them */
  char *argv[] = {"train",
                  "--epochs",
                  "50",
                  "--learning-rate",
                  "0.001",
                  "--mini-batch-size",
                  "64",
                  "--image-shape",
                  "3,224,224",
                  "--num-classes",
                  "4",
                  "--optimizer",
                  "sgd",
                  "--lr-scheduler-factor",
                  "0.1",
                  "--lr-scheduler-step",
                  "5",
                  "--augmentation-type",
                  "crop_color_transform",
                  "--num_training_samples=1000",
                  "--train",
                  "data/",
                  "--num-layers",
                  "18"};
  int argc = (int)(sizeof argv / sizeof argv[0]);
  int other = 0;
  for (int i = 1; i < argc;) {
    int matched;
    CHECK_OK(train_hparams_parse_flag(&hp, argc, argv, &i, &matched, err, sizeof err));
    if (!matched) {
      other++;
      i += 2; /* --train data/: not a hyperparameter */
    }
  }
  CHECK(other == 1);
  CHECK(hp.epochs == 50 && fabs(hp.learning_rate - 0.001) < 1e-15 && hp.mini_batch_size == 64);
  CHECK(hp.num_classes == 4 && hp.num_training_samples == 1000 && hp.num_layers == 18);
  CHECK(hp.lr_scheduler_step_count == 1 && hp.lr_scheduler_step[0] == 5);
  CHECK(hp.augmentation_type == TRAIN_AUG_CROP_COLOR_TRANSFORM);
  CHECK(train_hparams_is_set(&hp, "mini-batch-size") && !train_hparams_is_set(&hp, "momentum"));
  CHECK_OK(train_hparams_validate(&hp, 1, err, sizeof err));

  /* the step schedule: 0.001 until epoch 5, then 0.0001 */
  CHECK(fabs(train_hparams_learning_rate(&hp, 4.9) - 0.001) < 1e-15);
  CHECK(fabs(train_hparams_learning_rate(&hp, 5.0) - 0.0001) < 1e-15);
  CHECK_OK(train_hparams_set(&hp, "lr_scheduler_step", "10,20", err, sizeof err));
  CHECK(fabs(train_hparams_learning_rate(&hp, 25) - 0.001 * 0.01) < 1e-15);
  CHECK_OK(train_hparams_set(&hp, "lr_scheduler", "cosine", err, sizeof err));
  CHECK(fabs(train_hparams_learning_rate(&hp, 0) - 0.001) < 1e-15);
  CHECK(fabs(train_hparams_learning_rate(&hp, 25) - 0.0005) < 1e-12);
  CHECK(train_hparams_learning_rate(&hp, 50) < 1e-15);

  /* bad values: one line naming the hyperparameter, value unchanged */
  struct {
    const char *name, *value, *expect;
  } bad[] = {
      {"mini_batch_size", "0", "mini_batch_size: '0' is out of range"},
      {"mini_batch_size", "64x", "not an integer"},
      {"epochs", "2.5", "not an integer"},
      {"learning_rate", "fast", "not a number"},
      {"optimizer", "adagrad", "not one of sgd|adam|rmsprop|nag"},
      {"image_shape", "3,224", "not C,H,W"},
      {"image_shape", "4,32,32", "1 (gray) or 3 (RGB)"},
      {"lr_scheduler_step", "20,10", "must increase"},
      {"augmentation_type", "rotate", "not one of crop"},
      {"early_stopping", "maybe", "not True or False"},
      {"momentum", "1.5", "out of range"},
      {"learning_rat", "0.1", "unknown hyperparameter"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    train_hparams before = hp;
    ledge_status st = train_hparams_set(&hp, bad[k].name, bad[k].value, err, sizeof err);
    CHECK(st == LEDGE_ERR_INVALID_ARGUMENT);
    if (!strstr(err, bad[k].expect)) fprintf(stderr, "unexpected message: %s\n", err);
    CHECK(strstr(err, bad[k].expect) != NULL);
    CHECK(!memcmp(&before, &hp, sizeof hp));
  }
  char *missing[] = {"train", "--epochs"};
  int i = 1, matched;
  CHECK(train_hparams_parse_flag(&hp, 2, missing, &i, &matched, err, sizeof err) != LEDGE_OK &&
        matched && strstr(err, "needs a value"));

  /* validation across values */
  train_hparams v;
  train_hparams_defaults(&v);
  train_hparams_set(&v, "num_classes", "10", err, sizeof err);
  train_hparams_set(&v, "num_training_samples", "60000", err, sizeof err);
  train_hparams_set(&v, "epochs", "10", err, sizeof err);
  train_hparams_set(&v, "lr_scheduler_step", "5,10", err, sizeof err);
  CHECK(train_hparams_validate(&v, 1, err, sizeof err) != LEDGE_OK && strstr(err, "never apply"));
  train_hparams_set(&v, "lr_scheduler_step", "5", err, sizeof err);
  train_hparams_set(&v, "num_layers", "19", err, sizeof err);
  CHECK(train_hparams_validate(&v, 1, err, sizeof err) != LEDGE_OK && strstr(err, "num_layers"));
  train_hparams_set(&v, "num_layers", "20", err, sizeof err);
  CHECK_OK(train_hparams_validate(&v, 1, err, sizeof err));

  /* hyperparameters.json as a hosted job gets it: every value a string */
  char path[1024];
  snprintf(path, sizeof path, "%s/hyperparameters.json", LEDGE_BUILD_DIR);
  write_text(path,
             "{\"num_classes\": \"4\", \"num_training_samples\": \"1200\", \"epochs\": \"12\","
             " \"mini_batch_size\": \"16\", \"image_shape\": \"3,224,224\","
             " \"learning_rate\": \"0.01\", \"lr_scheduler_step\": \"4,8\","
             " \"use_pretrained_model\": \"1\", \"early_stopping\": \"True\","
             " \"augmentation_type\": \"crop_color\", \"sagemaker_program\": \"ignored\"}");
  train_hparams j;
  train_hparams_defaults(&j);
  CHECK_OK(train_hparams_load_json(&j, path, err, sizeof err));
  CHECK(j.num_classes == 4 && j.num_training_samples == 1200 && j.epochs == 12);
  CHECK(j.mini_batch_size == 16 && j.learning_rate == 0.01 && j.lr_scheduler_step_count == 2);
  CHECK(j.use_pretrained_model == 1 && j.early_stopping == 1);
  CHECK(j.augmentation_type == TRAIN_AUG_CROP_COLOR);
  CHECK_OK(train_hparams_validate(&j, 1, err, sizeof err));

  /* round trip through the writer */
  char out_path[1024];
  snprintf(out_path, sizeof out_path, "%s/hyperparameters-out.json", LEDGE_BUILD_DIR);
  FILE *f = fopen(out_path, "w");
  if (f) {
    train_hparams_write_json(&j, f);
    fclose(f);
  }
  train_hparams back;
  train_hparams_defaults(&back);
  CHECK_OK(train_hparams_load_json(&back, out_path, err, sizeof err));
  back.set_mask = j.set_mask = 0;
  CHECK(!memcmp(&back, &j, sizeof j));

  /* a bad file changes nothing and names the key */
  write_text(path, "{\"epochs\": \"5\", \"mini_batch_size\": \"-3\"}");
  train_hparams before = j;
  CHECK(train_hparams_load_json(&j, path, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT &&
        strstr(err, "mini_batch_size"));
  CHECK(!memcmp(&before, &j, sizeof j));
  write_text(path, "{\"epochs\": \"5\", \"learnig_rate\": \"0.1\"}");
  CHECK(train_hparams_load_json(&j, path, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT &&
        strstr(err, "learnig_rate"));
  write_text(path, "[1, 2]");
  CHECK(train_hparams_load_json(&j, path, err, sizeof err) == LEDGE_ERR_FORMAT);
  write_text(path, "{\"epochs\": ");
  CHECK(train_hparams_load_json(&j, path, err, sizeof err) == LEDGE_ERR_FORMAT);
  CHECK(train_hparams_load_json(&j, "/nonexistent.json", err, sizeof err) == LEDGE_ERR_IO);
  return harness_finish("train.test_hparams");
}
