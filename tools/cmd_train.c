/* cmd_train.c: ledge train: hyperparameters from flags or hyperparameters.json,
 * everything else in src/train/trainer.c. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train/distributed.h"
#include "train/hparams.h"
#include "train/trainer.h"

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: ledge train --train PATH [--validation PATH] --num-classes N [options] -o "
      "MODEL.onnx\n"
      "\n"
      "Trains a CNN on labelled images, from scratch or from a pretrained model, and exports it.\n"
      "PATH is an IDX images file (labels found beside it), a folder with one subfolder per\n"
      "class, a .lst list file or an augmented manifest (JSON Lines).\n"
      "\n"
      "Data and network:\n"
      "  --train PATH               training data (required)\n"
      "  --validation PATH          validation data (else validation_fraction of --train)\n"
      "  --limit N                  use only the first N training samples\n"
      "  --validation-limit N       use only the first N validation samples\n"
      "  --validation-group REGEX   split validation off --train by subject: REGEX over each\n"
      "                             sample's path names its group (e.g. 'p[0-9]+' for the\n"
      "                             driver); whole groups go to validation (validation_fraction,\n"
      "                             default 0.2), so no driver is on both sides\n"
      "  --network NAME             resnet (num_layers), cnn, lenet, mlp or linear (default "
      "resnet)\n"
      "  --pretrained FILE          start from this model (.onnx, model.json, .ledge); its head\n"
      "                             is cut and a new classifier for num_classes attached\n"
      "  --cut NODE                 cut the pretrained model at this node/value (default: just\n"
      "                             before its final classifier)\n"
      "  --freeze-until NODE        freeze this layer and every one before it\n"
      "  --backbone-lr-mult X       learning-rate multiplier of the pretrained layers (default 1)\n"
      "  --cache-features           frozen backbone: run it once per image with the inference\n"
      "                             runtime (any operator), train only the new head on the\n"
      "                             cached features (no augmentation)\n"
      "  --imagenet-normalization   normalize inputs with ImageNet's mean/std\n"
      "  --hyperparameters FILE     hyperparameters.json (string values); flags override it\n"
      "\n"
      "Run and output:\n"
      "  -o, --output MODEL.onnx    export the trained model (BN folded), MODEL.labels.txt and\n"
      "                             MODEL.preprocess.json (input size and normalization)\n"
      "  --labels FILE              where to write the class names instead\n"
      "  --checkpoint FILE          write a checkpoint every checkpoint_frequency epochs (atomic)\n"
      "  --resume                   continue from --checkpoint if it exists\n"
      "  --metrics FILE.jsonl       one JSON object per epoch\n"
      "  --plot FILE.png            loss and accuracy curves (gnuplot)\n"
      "  --threads N                threads for the training step (default: all CPUs)\n"
      "  --max-steps N              stop after N steps (smoke tests, benchmarks)\n"
      "  --json                     print a JSON summary on stdout\n"
      "\n"
      "Run it under mpirun -np N for data-parallel training (docs/training.md).\n"
      "\n");
  train_hparams_print_help(f);
}

int cmd_train(int argc, char **argv) {
  char err[512];
  if (train_dist_init(&argc, &argv, err, sizeof err) != LEDGE_OK) return cli_fail("%s", err);
  train_hparams hp;
  train_hparams_defaults(&hp);
  tr_train_config cfg;
  tr_train_config_defaults(&cfg);
  const char *hp_json = NULL;
  /* The JSON file first, so that flags override it. */
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--hyperparameters") && i + 1 < argc) hp_json = argv[i + 1];
  if (hp_json && train_hparams_load_json(&hp, hp_json, err, sizeof err) != LEDGE_OK)
    return cli_fail("%s", err);
  for (int i = 1; i < argc; i++) {
    const char *v = NULL;
    long n;
    int matched = 0;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    }
    if (cli_option(argc, argv, &i, "--hyperparameters", &v)) continue;
    if (cli_option(argc, argv, &i, "--train", &v))
      cfg.train_path = v;
    else if (cli_option(argc, argv, &i, "--validation", &v))
      cfg.validation_path = v;
    else if (cli_option(argc, argv, &i, "--validation-group", &v))
      cfg.validation_group = v;
    else if (cli_option(argc, argv, &i, "--limit", &v)) {
      if (!cli_parse_int("--limit", v, 1, 1L << 40, &n)) return 1;
      cfg.limit = n;
    } else if (cli_option(argc, argv, &i, "--validation-limit", &v)) {
      if (!cli_parse_int("--validation-limit", v, 1, 1L << 40, &n)) return 1;
      cfg.validation_limit = n;
    } else if (cli_option(argc, argv, &i, "--network", &v))
      cfg.network = v;
    else if (cli_option(argc, argv, &i, "--pretrained", &v))
      cfg.pretrained = v;
    else if (cli_option(argc, argv, &i, "--cut", &v))
      cfg.cut = v;
    else if (cli_option(argc, argv, &i, "--freeze-until", &v))
      cfg.freeze_until = v;
    else if (cli_option(argc, argv, &i, "--backbone-lr-mult", &v)) {
      char *end;
      cfg.backbone_lr_mult = strtof(v, &end);
      if (*end || end == v || cfg.backbone_lr_mult < 0)
        return cli_fail("--backbone-lr-mult: '%s' is not a rate multiplier", v);
    } else if (!strcmp(argv[i], "--imagenet-normalization"))
      cfg.imagenet_normalization = 1;
    else if (!strcmp(argv[i], "--cache-features"))
      cfg.cache_features = 1;
    else if (cli_option(argc, argv, &i, "-o", &v) || cli_option(argc, argv, &i, "--output", &v))
      cfg.output_path = v;
    else if (cli_option(argc, argv, &i, "--labels", &v))
      cfg.labels_path = v;
    else if (cli_option(argc, argv, &i, "--checkpoint", &v))
      cfg.checkpoint_path = v;
    else if (!strcmp(argv[i], "--resume"))
      cfg.resume = 1;
    else if (cli_option(argc, argv, &i, "--metrics", &v))
      cfg.metrics_path = v;
    else if (cli_option(argc, argv, &i, "--plot", &v))
      cfg.plot_path = v;
    else if (cli_option(argc, argv, &i, "--threads", &v)) {
      if (!cli_parse_int("--threads", v, 1, 1024, &n)) return 1;
      cfg.threads = (int)n;
    } else if (cli_option(argc, argv, &i, "--max-steps", &v)) {
      if (!cli_parse_int("--max-steps", v, 1, 1L << 40, &n)) return 1;
      cfg.max_steps = n;
    } else if (!strcmp(argv[i], "--json"))
      cfg.json = 1;
    else {
      if (train_hparams_parse_flag(&hp, argc, argv, &i, &matched, err, sizeof err) != LEDGE_OK)
        return cli_fail("%s", err);
      if (!matched) return cli_fail("unknown option '%s' (see ledge train --help)", argv[i]);
      i--; /* it advanced past the flag; the loop advances too */
    }
  }
  if (!cfg.train_path) return cli_fail("--train PATH is required (see ledge train --help)");
  if (train_hparams_validate(&hp, 0, err, sizeof err) != LEDGE_OK) return cli_fail("%s", err);
  if (hp.num_classes < 2) return cli_fail("num_classes is required (--num-classes N)");
  if (hp.use_pretrained_model && !cfg.pretrained)
    return cli_fail("use_pretrained_model 1 needs --pretrained FILE (ledge downloads nothing)");
  if (hp.multi_label) return cli_fail("multi_label 1 is not supported");
  if (hp.use_weighted_loss) return cli_fail("use_weighted_loss 1 is not supported yet");

  cfg.num_classes = hp.num_classes;
  cfg.num_training_samples = hp.num_training_samples;
  cfg.num_layers = hp.num_layers;
  cfg.image_c = hp.image_shape[0];
  cfg.image_h = hp.image_shape[1];
  cfg.image_w = hp.image_shape[2];
  cfg.mini_batch_size = hp.mini_batch_size;
  cfg.epochs = hp.epochs;
  cfg.schedule.base_lr = (float)hp.learning_rate;
  cfg.schedule.factor = (float)hp.lr_scheduler_factor;
  cfg.schedule.n_steps = hp.lr_scheduler_step_count < 32 ? hp.lr_scheduler_step_count : 32;
  for (int k = 0; k < cfg.schedule.n_steps; k++) cfg.schedule.steps[k] = hp.lr_scheduler_step[k];
  cfg.schedule.kind = !strcmp(hp.lr_scheduler, "cosine") ? TR_SCHED_COSINE : TR_SCHED_STEP;
  cfg.schedule.warmup_epochs = (float)hp.warmup_epochs;
  cfg.schedule.epochs = hp.epochs;
  if (!tr_optimizer_parse(hp.optimizer, &cfg.optim.kind))
    return cli_fail("optimizer '%s' is not known", hp.optimizer);
  cfg.optim.momentum = (float)hp.momentum;
  cfg.optim.weight_decay = (float)hp.weight_decay;
  cfg.optim.beta1 = (float)hp.beta_1;
  cfg.optim.beta2 = (float)hp.beta_2;
  cfg.optim.epsilon = (float)hp.eps;
  cfg.optim.rho = (float)hp.gamma;
  cfg.optim.clip_gradient = (float)hp.clip_gradient;
  cfg.label_smoothing = (float)hp.label_smoothing;
  cfg.augmentation_type = train_augmentation_name(hp.augmentation_type);
  cfg.resize = hp.resize;
  cfg.seed = hp.seed;
  cfg.top_k = hp.top_k;
  cfg.checkpoint_frequency = hp.checkpoint_frequency;
  cfg.early_stopping = hp.early_stopping;
  cfg.early_stopping_patience = hp.early_stopping_patience;
  cfg.early_stopping_min_epochs = hp.early_stopping_min_epochs;
  cfg.early_stopping_tolerance = hp.early_stopping_tolerance;
  cfg.validation_fraction = hp.validation_fraction;
  int rc = tr_train_run(&cfg);
  train_dist_finalize();
  return rc;
}
