/* trainer.c: a whole training run (see trainer.h). */
#include "train/trainer.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "train/dataset.h"
#include "train/distributed.h"
#include "train/export.h"
#include "train/loader.h"
#include "train/models.h"

void tr_train_config_defaults(tr_train_config *c) {
  memset(c, 0, sizeof *c);
  c->network = "resnet";
  c->num_layers = 18;
  c->backbone_lr_mult = 1.0f;
  c->image_c = 3;
  c->image_h = c->image_w = 224;
  c->mini_batch_size = 32;
  c->epochs = 30;
  c->schedule.kind = TR_SCHED_STEP;
  c->schedule.base_lr = 0.1f;
  c->schedule.factor = 0.1f;
  c->optim.kind = TR_OPT_SGD;
  c->optim.momentum = 0.9f;
  c->optim.weight_decay = 1e-4f;
  c->optim.beta1 = 0.9f;
  c->optim.beta2 = 0.999f;
  c->optim.rho = 0.9f;
  c->optim.epsilon = 1e-8f;
  c->augmentation_type = "crop";
  c->threads = 0;
  c->top_k = 1;
  c->checkpoint_frequency = 1;
  c->early_stopping_patience = 5;
  c->early_stopping_min_epochs = 10;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fmt_duration(double s, char *buf, size_t n) {
  long t = s > 0 && s < 1e8 ? (long)(s + 0.5) : 0;
  if (t >= 3600)
    snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else
    snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

/* One line, redrawn in place, when stderr is a terminal. */
static void progress_line(int epoch, int epochs, long done, long total, double loss, double acc,
                          double ips, double eta) {
  static int tty = -1;
  if (tty < 0) tty = isatty(2);
  if (!tty) return;
  int width = 24, filled = total > 0 ? (int)(width * done / total) : 0;
  char e[32];
  fmt_duration(eta, e, sizeof e);
  fprintf(stderr, "\repoch %d/%d [", epoch, epochs);
  for (int i = 0; i < width; i++) fputc(i < filled ? '=' : (i == filled ? '>' : ' '), stderr);
  fprintf(stderr, "] %ld/%ld loss %.4f acc %.2f%% %.0f img/s ETA %s\033[K", done, total, loss,
          100 * acc, ips, e);
  fflush(stderr);
}

typedef struct eval_result {
  double loss, accuracy, top_k;
  long count;
} eval_result;

static lg_status evaluate(tr_net *net, train_loader *ld, int top_k, float smoothing,
                          eval_result *r) {
  memset(r, 0, sizeof *r);
  tr_net_set_training(net, false);
  LG_TRY(train_loader_start(ld, 0, 0));
  train_batch b;
  double loss = 0;
  long hits = 0, topk = 0, n = 0;
  int got;
  while ((got = train_loader_next(ld, &b)) == 1) {
    if (b.count == 0) continue;
    LG_TRY(tr_net_forward(net, b.images, b.count));
    int64_t correct;
    loss += tr_net_loss(net, b.labels, smoothing, false, &correct) * b.count;
    hits += correct;
    const float *z = tr_net_logits(net);
    for (int i = 0; i < b.count; i++) {
      const float *zi = z + (int64_t)i * net->n_classes;
      int above = 0;
      for (int j = 0; j < net->n_classes; j++) above += zi[j] > zi[b.labels[i]];
      topk += above < top_k;
    }
    n += b.count;
  }
  tr_net_set_training(net, true);
  if (got < 0) return lg_error(LEDGE_ERR_IO, "%s", train_loader_error(ld));
  r->count = n;
  r->loss = n ? loss / n : 0;
  r->accuracy = n ? (double)hits / n : 0;
  r->top_k = n ? (double)topk / n : 0;
  return LEDGE_OK;
}

static void write_plot(const char *metrics, const char *png) {
  char script[8192];
  snprintf(script, sizeof script,
           "set terminal pngcairo size 1000,420\nset output '%s'\nset multiplot layout 1,2\n"
           "set xlabel 'epoch'\nset title 'loss'\nset key top right\n"
           "plot '%s.dat' using 1:2 with linespoints title 'train', '' using 1:4 with linespoints "
           "title 'validation'\n"
           "set title 'accuracy (%%)'\nset key bottom right\n"
           "plot '%s.dat' using 1:($3*100) with linespoints title 'train', '' using 1:($5*100) "
           "with linespoints title 'validation'\n"
           "unset multiplot\n",
           png, metrics, metrics);
  FILE *p = popen("gnuplot 2>/dev/null", "w");
  if (!p) {
    fprintf(stderr, "ledge train: cannot run gnuplot for %s\n", png);
    return;
  }
  fputs(script, p);
  if (pclose(p) != 0) fprintf(stderr, "ledge train: gnuplot failed to draw %s\n", png);
}

static int fail(const char *what) {
  fprintf(stderr, "ledge train: %s%s%s\n", what, *ledge_last_error() ? ": " : "",
          ledge_last_error());
  return 1;
}

/* A pruned model's zeros (ledge prune --method magnitude) stay zero through
 * fine-tuning: for every trainable weight tensor (rank >= 2) of a pretrained
 * network that is at least 10% exact zeros, the positions of its zeros,
 * written back to zero after every optimizer step. Without it the first step
 * would fill them in and the sparsity would be gone. */
typedef struct zero_mask {
  int value;
  int64_t n;
  int64_t *idx;
} zero_mask;

static void zero_masks_free(zero_mask *masks, int n) {
  for (int i = 0; i < n; i++) free(masks[i].idx);
  free(masks);
}

static int zero_masks_build(const tr_net *net, zero_mask **out, int64_t *zeros_out) {
  *out = NULL;
  *zeros_out = 0;
  zero_mask *masks = calloc((size_t)net->n_params + 1, sizeof *masks);
  if (!masks) return -1;
  int n = 0;
  for (int i = 0; i < net->n_params; i++) {
    const tr_value *v = &net->values[net->params[i]];
    if (v->frozen || v->rank < 2 || !v->data) continue;
    int64_t zeros = 0;
    for (int64_t k = 0; k < v->count; k++) zeros += v->data[k] == 0.0f;
    if (zeros * 10 < v->count) continue;
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)zeros);
    if (!idx) {
      zero_masks_free(masks, n);
      return -1;
    }
    int64_t m = 0;
    for (int64_t k = 0; k < v->count; k++)
      if (v->data[k] == 0.0f) idx[m++] = k;
    masks[n++] = (zero_mask){net->params[i], zeros, idx};
    *zeros_out += zeros;
  }
  *out = masks;
  return n;
}

static void zero_masks_apply(tr_net *net, const zero_mask *masks, int n) {
  for (int i = 0; i < n; i++) {
    float *d = net->values[masks[i].value].data;
    for (int64_t k = 0; k < masks[i].n; k++) d[masks[i].idx[k]] = 0.0f;
  }
}

int tr_open_data(const tr_train_config *cfg, train_dataset **all, train_dataset **train,
                 train_dataset **val) {
  char err[512];
  *all = *train = *val = NULL;
  train_dataset_options dopt;
  train_dataset_options_init(&dopt);
  dopt.limit = cfg->limit;
  dopt.num_classes = cfg->num_classes;
  if (train_dataset_open(cfg->train_path, &dopt, all, err, sizeof err) != LEDGE_OK) {
    fprintf(stderr, "ledge train: %s\n", err);
    return 1;
  }
  *train = *all;
  ledge_status st = LEDGE_OK;
  if (cfg->validation_path) {
    /* The same class indices on both sides: a validation folder that lacks a
     * class, or lists them in another order, must not shift the labels. */
    dopt.limit = cfg->validation_limit;
    dopt.classes = train_dataset_class_names(*all);
    dopt.num_classes_aligned = train_dataset_num_classes(*all);
    st = train_dataset_open(cfg->validation_path, &dopt, val, err, sizeof err);
  } else if (cfg->validation_group) {
    double fraction = cfg->validation_fraction > 0 ? cfg->validation_fraction : 0.2;
    st = train_dataset_split_by_group(*all, fraction, cfg->seed, cfg->validation_group, train, val,
                                      err, sizeof err);
  } else if (cfg->validation_fraction > 0) {
    st =
        train_dataset_split(*all, cfg->validation_fraction, cfg->seed, train, val, err, sizeof err);
  }
  if (st != LEDGE_OK) {
    fprintf(stderr, "ledge train: %s\n", err);
    if (*train != *all) train_dataset_destroy(*train);
    train_dataset_destroy(*all);
    *all = *train = *val = NULL;
    return 1;
  }
  if (*val && cfg->validation_group) {
    fprintf(stderr, "ledge train: validation by subject (%s): %ld samples, training %ld\n",
            cfg->validation_group, train_dataset_count(*val), train_dataset_count(*train));
  }
  return 0;
}

int tr_write_model_sidecars(const tr_train_config *cfg, const train_dataset *train,
                            const train_augment_config *preprocess) {
  char err[512], lp[4096], pp[4096];
  if (cfg->labels_path)
    snprintf(lp, sizeof lp, "%s", cfg->labels_path);
  else {
    snprintf(lp, sizeof lp, "%s", cfg->output_path);
    char *dot = strrchr(lp, '.');
    if (dot && !strchr(dot, '/')) *dot = 0;
    strncat(lp, ".labels.txt", sizeof lp - strlen(lp) - 1);
  }
  if (train_dataset_write_class_names(train, lp, err, sizeof err) != LEDGE_OK) {
    fprintf(stderr, "ledge train: %s\n", err);
    return 1;
  }
  train_augment_preprocess_path(cfg->output_path, pp, sizeof pp);
  if (train_augment_save_preprocess(preprocess, pp, err, sizeof err) != LEDGE_OK) {
    fprintf(stderr, "ledge train: %s\n", err);
    return 1;
  }
  fprintf(stderr, "ledge train: wrote %s, %s and %s\n", cfg->output_path, lp, pp);
  return 0;
}

int tr_train_run(const tr_train_config *cfg) {
  char err[512] = "";
  int rc = 1;
  train_dataset *train_all = NULL, *train = NULL, *val = NULL;
  train_loader *ld = NULL, *vld = NULL;
  tr_net *net = NULL;
  zero_mask *masks = NULL;
  int n_masks = 0;
  tr_optimizer *opt = NULL;
  FILE *metrics = NULL, *dat = NULL;
  char datpath[4096] = "";
  int rank = train_dist_rank(), world = train_dist_size();
  bool lead = rank == 0; /* the rank that prints, checkpoints and exports */

  if (!cfg->train_path) {
    fprintf(stderr, "ledge train: --train PATH is required\n");
    return 1;
  }
  if (cfg->cache_features) {
    if (!cfg->pretrained) {
      fprintf(stderr, "ledge train: --cache-features needs --pretrained MODEL\n");
      return 1;
    }
    return tr_train_cached(cfg);
  }
  if (cfg->num_classes < 2) {
    fprintf(stderr, "ledge train: num_classes is required (at least 2)\n");
    return 1;
  }
  if (tr_open_data(cfg, &train_all, &train, &val)) goto out;
  long n_train = train_dataset_count(train);
  if (n_train < 1) {
    fprintf(stderr, "ledge train: %s has no samples\n", cfg->train_path);
    goto out;
  }
  if (cfg->num_training_samples > 0 && cfg->num_training_samples != n_train && !cfg->limit)
    fprintf(stderr, "ledge train: note: num_training_samples is %ld but %s has %ld\n",
            cfg->num_training_samples, cfg->train_path, n_train);

  /* The network. */
  lg_graph g;
  int head_first = -1;
  lg_status st;
  if (cfg->pretrained)
    st =
        tr_load_pretrained(cfg->pretrained, cfg->cut, cfg->num_classes, cfg->seed, &g, &head_first);
  else
    st = tr_build_model(cfg->network, cfg->num_layers, cfg->image_c, cfg->image_h, cfg->image_w,
                        cfg->num_classes, cfg->seed, &g);
  if (st != LEDGE_OK) {
    rc = fail("cannot make the network");
    goto out;
  }
  tr_compile_opts co = {.max_batch = cfg->mini_batch_size,
                        .threads = cfg->threads,
                        .freeze_until = cfg->freeze_until,
                        .backbone_lr_mult = cfg->backbone_lr_mult,
                        .head_first_node = head_first};
  if ((st = tr_net_compile(&g, &co, &net)) != LEDGE_OK) {
    lg_graph_free(&g);
    rc = fail("cannot train this network");
    goto out;
  }
  if (net->in_c != cfg->image_c || net->in_h != cfg->image_h || net->in_w != cfg->image_w) {
    if (cfg->pretrained) {
      fprintf(stderr,
              "ledge train: note: %s takes %lldx%lldx%lld images; using that as image_shape\n",
              cfg->pretrained, (long long)net->in_c, (long long)net->in_h, (long long)net->in_w);
    }
  }
  net->rng ^= cfg->seed * 0x9E3779B97F4A7C15ull;
  if (!net->rng) net->rng = 1;
  if (net->n_classes != cfg->num_classes) {
    fprintf(stderr, "ledge train: the network has %d outputs, num_classes is %d\n", net->n_classes,
            cfg->num_classes);
    goto out;
  }
  if ((st = tr_optimizer_create(net, &cfg->optim, &opt)) != LEDGE_OK) {
    rc = fail("optimizer");
    goto out;
  }
  if (cfg->pretrained) {
    int64_t zeros = 0;
    n_masks = zero_masks_build(net, &masks, &zeros);
    if (n_masks < 0) {
      rc = fail("out of memory");
      goto out;
    }
    if (n_masks > 0 && lead)
      fprintf(stderr, "ledge train: %lld pruned weights in %d layers stay zero while fine-tuning\n",
              (long long)zeros, n_masks);
  }

  /* Loaders. */
  train_loader_options lo;
  train_loader_options_init(&lo, (int)net->in_c, (int)net->in_h, (int)net->in_w);
  lo.batch_size = cfg->mini_batch_size;
  lo.seed = cfg->seed;
  lo.drop_last = 1;
  lo.rank = rank;
  lo.world_size = world;
  train_augmentation aug = TRAIN_AUG_CROP;
  if (!train_augmentation_parse(cfg->augmentation_type, &aug)) {
    fprintf(
        stderr,
        "ledge train: augmentation_type '%s': use crop, crop_color, crop_color_transform or none\n",
        cfg->augmentation_type);
    goto out;
  }
  train_augment_defaults(&lo.transform, (int)net->in_c, (int)net->in_h, (int)net->in_w, aug);
  lo.transform.resize = cfg->resize;
  if (cfg->imagenet_normalization) train_augment_imagenet_normalization(&lo.transform);
  lo.augment = aug != TRAIN_AUG_NONE;
  if (train_loader_create(train, &lo, &ld, err, sizeof err) != LEDGE_OK) {
    fprintf(stderr, "ledge train: %s\n", err);
    goto out;
  }
  if (val) {
    train_loader_options vo = lo;
    vo.shuffle = 0;
    vo.augment = 0;
    vo.drop_last = 0;
    vo.rank = 0;
    vo.world_size = 1;
    if (lead && train_loader_create(val, &vo, &vld, err, sizeof err) != LEDGE_OK) {
      fprintf(stderr, "ledge train: %s\n", err);
      goto out;
    }
  }

  tr_progress pr = {.best_accuracy = -1, .best_epoch = -1};
  if (cfg->resume) {
    if (!cfg->checkpoint_path) {
      fprintf(stderr, "ledge train: --resume needs a checkpoint path (--checkpoint FILE)\n");
      goto out;
    }
    if (access(cfg->checkpoint_path, F_OK) == 0) {
      if (tr_checkpoint_load(cfg->checkpoint_path, net, opt, &pr) != LEDGE_OK) {
        rc = fail("cannot resume");
        goto out;
      }
      fprintf(stderr, "ledge train: resumed from %s after epoch %lld\n", cfg->checkpoint_path,
              (long long)pr.epochs_done);
    } else {
      fprintf(stderr, "ledge train: no checkpoint at %s yet; starting from the beginning\n",
              cfg->checkpoint_path);
    }
  }
  if (world > 1) { /* every rank starts from rank 0's weights and statistics */
    for (int i = 0; i < net->n_params; i++) {
      tr_value *v = &net->values[net->params[i]];
      if (train_dist_broadcast(v->data, sizeof(float) * (size_t)v->count, 0, err, sizeof err) !=
          LEDGE_OK) {
        fprintf(stderr, "ledge train: %s\n", err);
        goto out;
      }
    }
    for (int i = 0; i < net->n_states; i++) {
      tr_value *v = &net->values[net->states[i]];
      if (train_dist_broadcast(v->data, sizeof(float) * (size_t)v->count, 0, err, sizeof err) !=
          LEDGE_OK) {
        fprintf(stderr, "ledge train: %s\n", err);
        goto out;
      }
    }
  }
  if (cfg->metrics_path && lead) {
    metrics = fopen(cfg->metrics_path, pr.epochs_done > 0 ? "a" : "w");
    if (!metrics) {
      fprintf(stderr, "ledge train: cannot write %s: %s\n", cfg->metrics_path, strerror(errno));
      goto out;
    }
  }
  if (cfg->plot_path && lead) {
    snprintf(datpath, sizeof datpath, "%s.dat",
             cfg->metrics_path ? cfg->metrics_path : cfg->plot_path);
    dat = fopen(datpath, pr.epochs_done > 0 ? "a" : "w");
  }

  long per_epoch = train_loader_batches_per_epoch(ld);
  if (lead)
    fprintf(stderr,
            "ledge train: %s, %lld parameters (%lld trainable), %ld training samples, %ld "
            "steps/epoch, %d threads\n",
            cfg->pretrained ? cfg->pretrained : cfg->network,
            (long long)tr_net_param_count(net, false), (long long)tr_net_param_count(net, true),
            n_train, per_epoch, lg_threadpool_size(net->pool));
  double run_start = now_seconds();
  int epochs = cfg->epochs;
  eval_result last_val = {0};
  double last_train_acc = 0, last_train_loss = 0;
  bool stopped_early = false;
  double train_seconds = 0; /* the training steps alone (no validation, no startup) */
  long train_images = 0;
  for (int64_t epoch = pr.epochs_done; epoch < epochs; epoch++) {
    if ((st = train_loader_start(ld, (long)epoch, 0)) != LEDGE_OK) {
      rc = fail("loader");
      goto out;
    }
    double t0 = now_seconds(), loss_sum = 0;
    long seen = 0, hits = 0, done = 0;
    train_batch b;
    int got;
    float lr = 0;
    while ((got = train_loader_next(ld, &b)) == 1) {
      if (b.count == 0 && world == 1) continue;
      lr = tr_schedule_lr(&cfg->schedule,
                          (double)epoch + (double)done / (double)(per_epoch ? per_epoch : 1));
      int64_t correct = 0;
      double loss = 0;
      if (b.count > 0) {
        tr_net_forward(net, b.images, b.count);
        loss = tr_net_loss(net, b.labels, cfg->label_smoothing, true, &correct);
      }
      if (!isfinite(loss)) {
        fprintf(stderr, "\nledge train: the loss became %s at epoch %lld, step %ld; stopping. ",
                isnan(loss) ? "NaN" : "infinite", (long long)epoch + 1, done + 1);
        if (cfg->checkpoint_path && pr.epochs_done > 0)
          fprintf(stderr, "The last good checkpoint (epoch %lld) is kept at %s.",
                  (long long)pr.epochs_done, cfg->checkpoint_path);
        fprintf(stderr, " Try a lower learning_rate or clip_gradient.\n");
        rc = 2;
        goto out;
      }
      if (b.count > 0) {
        tr_net_backward(net);
      } else {
        for (int i = 0; i < net->n_params; i++) {
          tr_value *v = &net->values[net->params[i]];
          if (v->grad) memset(v->grad, 0, sizeof(float) * (size_t)v->count);
        }
      }
      if (world > 1)
        for (int i = 0; i < net->n_params; i++) {
          tr_value *v = &net->values[net->params[i]];
          if (v->grad &&
              train_dist_allreduce_mean(v->grad, (size_t)v->count, err, sizeof err) != LEDGE_OK) {
            fprintf(stderr, "ledge train: %s\n", err);
            goto out;
          }
        }
      tr_optimizer_step(opt, net, lr);
      zero_masks_apply(net, masks, n_masks);
      pr.steps++;
      loss_sum += loss * b.count;
      hits += (long)correct;
      seen += b.count;
      done++;
      double el = now_seconds() - t0;
      if (lead)
        progress_line((int)epoch + 1, epochs, done, per_epoch, seen ? loss_sum / seen : 0,
                      seen ? (double)hits / seen : 0, seen / el, el / done * (per_epoch - done));
      if (cfg->max_steps > 0 && pr.steps >= cfg->max_steps) break;
    }
    if (got < 0) {
      fprintf(stderr, "\nledge train: %s\n", train_loader_error(ld));
      goto out;
    }
    double secs = now_seconds() - t0;
    train_seconds += secs;
    train_images += seen;
    last_train_loss = seen ? loss_sum / seen : 0;
    last_train_acc = seen ? (double)hits / seen : 0;
    if (lead && isatty(2)) fputs("\r\033[K", stderr);
    bool have_val = false;
    if (vld) {
      if (evaluate(net, vld, cfg->top_k, cfg->label_smoothing, &last_val) != LEDGE_OK) {
        rc = fail("validation");
        goto out;
      }
      have_val = true;
    }
    pr.epochs_done = epoch + 1;
    if (lead)
      fprintf(stderr, "epoch %lld/%d: loss %.4f acc %.2f%%", (long long)epoch + 1, epochs,
              last_train_loss, 100 * last_train_acc);
    if (lead && have_val) {
      fprintf(stderr, "  val loss %.4f acc %.2f%%", last_val.loss, 100 * last_val.accuracy);
      if (cfg->top_k > 1) fprintf(stderr, " top-%d %.2f%%", cfg->top_k, 100 * last_val.top_k);
    }
    if (lead)
      fprintf(stderr, "  lr %.3g  %.0f img/s  %.1fs\n", lr, seen / (secs > 0 ? secs : 1), secs);
    if (metrics) {
      fprintf(metrics,
              "{\"epoch\":%lld,\"step\":%lld,\"train_loss\":%.6f,\"train_accuracy\":%.6f,"
              "\"learning_rate\":%.6g,"
              "\"images_per_second\":%.1f,\"seconds\":%.3f",
              (long long)epoch + 1, (long long)pr.steps, last_train_loss, last_train_acc, lr,
              seen / (secs > 0 ? secs : 1), secs);
      if (have_val) {
        fprintf(metrics, ",\"validation_loss\":%.6f,\"validation_accuracy\":%.6f", last_val.loss,
                last_val.accuracy);
        if (cfg->top_k > 1) fprintf(metrics, ",\"validation_top_k_accuracy\":%.6f", last_val.top_k);
      }
      fputs("}\n", metrics);
      fflush(metrics);
    }
    if (dat) {
      fprintf(dat, "%lld %g %g %g %g\n", (long long)epoch + 1, last_train_loss, last_train_acc,
              have_val ? last_val.loss : NAN, have_val ? last_val.accuracy : NAN);
      fflush(dat);
    }
    /* Early stopping on validation accuracy. */
    if (have_val) {
      if (last_val.accuracy > pr.best_accuracy + cfg->early_stopping_tolerance) {
        pr.best_accuracy = last_val.accuracy;
        pr.best_epoch = epoch + 1;
        pr.bad_epochs = 0;
      } else {
        pr.bad_epochs++;
      }
    }
    if (lead && cfg->checkpoint_path && cfg->checkpoint_frequency > 0 &&
        ((epoch + 1) % cfg->checkpoint_frequency == 0 || epoch + 1 == epochs)) {
      if (tr_checkpoint_save(cfg->checkpoint_path, net, opt, &pr) != LEDGE_OK) {
        rc = fail("checkpoint");
        goto out;
      }
    }
    if (cfg->max_steps > 0 && pr.steps >= cfg->max_steps) break;
    int stop = cfg->early_stopping && have_val && epoch + 1 >= cfg->early_stopping_min_epochs &&
               pr.bad_epochs >= cfg->early_stopping_patience;
    if (world > 1 && train_dist_broadcast(&stop, sizeof stop, 0, err, sizeof err) != LEDGE_OK) {
      fprintf(stderr, "ledge train: %s\n", err);
      goto out;
    }
    if (stop) {
      if (lead)
        fprintf(stderr,
                "ledge train: early stop: no validation improvement for %lld epochs (best %.2f%% "
                "at epoch %lld)\n",
                (long long)pr.bad_epochs, 100 * pr.best_accuracy, (long long)pr.best_epoch);
      stopped_early = true;
      break;
    }
  }
  if (dat) {
    fclose(dat);
    dat = NULL;
    if (cfg->plot_path) {
      char base[4096];
      snprintf(base, sizeof base, "%s", datpath);
      base[strlen(base) - 4] = 0;
      write_plot(base, cfg->plot_path);
    }
  }
  if (cfg->output_path && lead) {
    if (tr_export_onnx(net, cfg->output_path) != LEDGE_OK) {
      rc = fail("export");
      goto out;
    }
    if (tr_write_model_sidecars(cfg, train, &lo.transform)) goto out;
  }
  if (cfg->json && lead) {
    printf("{\"epochs\":%lld,\"steps\":%lld,\"train_loss\":%.6f,\"train_accuracy\":%.6f",
           (long long)pr.epochs_done, (long long)pr.steps, last_train_loss, last_train_acc);
    if (vld)
      printf(",\"validation_loss\":%.6f,\"validation_accuracy\":%.6f", last_val.loss,
             last_val.accuracy);
    printf(",\"early_stopped\":%s,\"images_per_second\":%.2f,\"seconds\":%.3f}\n",
           stopped_early ? "true" : "false", train_seconds > 0 ? train_images / train_seconds : 0.0,
           now_seconds() - run_start);
  }
  rc = 0;
out:
  if (metrics) fclose(metrics);
  if (dat) fclose(dat);
  train_loader_destroy(ld);
  train_loader_destroy(vld);
  tr_optimizer_destroy(opt);
  zero_masks_free(masks, n_masks);
  tr_net_destroy(net);
  if (train != train_all) train_dataset_destroy(train);
  train_dataset_destroy(train_all);
  train_dataset_destroy(val);
  return rc;
}
