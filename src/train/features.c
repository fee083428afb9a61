/*
 * features.c: `ledge train --pretrained MODEL --cache-features`: the
 * backbone stays frozen and is run once per image by the inference runtime
 * (any operator it supports, NHWC TF.js models included), its features are
 * cached in memory, and only a new dense classifier trains on them, epoch
 * after epoch, at the cost of a matrix multiply. The export stitches the
 * trained classifier onto the cut model.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "formats/onnx_write.h"
#include "runtime/model.h"
#include "train/dataset.h"
#include "train/loader.h"
#include "train/models.h"
#include "train/trainer.h"

static int isatty_stderr(void) { return isatty(2); }

typedef struct feature_set {
  float *x; /* n x f */
  int32_t *y;
  long n;
} feature_set;

static double seconds_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* How images are prepared for the backbone (no augmentation: features are
 * computed once); also what the export's MODEL.preprocess.json records. */
static void feature_input(const tr_train_config *cfg, int c, int h, int w,
                          train_augment_config *out) {
  train_augment_defaults(out, c, h, w, TRAIN_AUG_NONE);
  out->resize = cfg->resize;
  if (cfg->imagenet_normalization) train_augment_imagenet_normalization(out);
}

/* Runs the backbone over a dataset (no augmentation: features are computed
 * once). */
static int extract(ledge_session *s, const train_dataset *ds, bool nhwc, int c, int h, int w,
                   const tr_train_config *cfg, int64_t features, feature_set *out,
                   const char *what) {
  char err[512];
  train_loader_options lo;
  train_loader_options_init(&lo, c, h, w);
  lo.batch_size = 16;
  lo.shuffle = 0;
  lo.augment = 0;
  lo.seed = cfg->seed;
  feature_input(cfg, c, h, w, &lo.transform);
  train_loader *ld = NULL;
  if (train_loader_create(ds, &lo, &ld, err, sizeof err) != LEDGE_OK) {
    fprintf(stderr, "ledge train: %s\n", err);
    return 1;
  }
  long total = train_dataset_count(ds);
  out->x = malloc(sizeof(float) * (size_t)(total * features + 1));
  out->y = malloc(sizeof(int32_t) * (size_t)(total + 1));
  float *buf = malloc(sizeof(float) * (size_t)(16 * c * h * w));
  int rc = 1;
  if (!out->x || !out->y || !buf) {
    fprintf(stderr, "ledge train: out of memory for %s features\n", what);
    goto done;
  }
  train_loader_start(ld, 0, 0);
  train_batch b;
  int got;
  double t0 = seconds_now();
  while ((got = train_loader_next(ld, &b)) == 1) {
    if (!b.count) continue;
    const float *in = b.images;
    if (nhwc) { /* NCHW batch -> NHWC model input */
      for (int i = 0; i < b.count; i++)
        for (int ch = 0; ch < c; ch++)
          for (int p = 0; p < h * w; p++)
            buf[((int64_t)i * h * w + p) * c + ch] = b.images[((int64_t)i * c + ch) * h * w + p];
      in = buf;
    }
    /* One image per run: models exported with a fixed batch of 1 are common. */
    int64_t dims[4] = {1, nhwc ? h : c, nhwc ? w : h, nhwc ? c : w};
    size_t bytes = sizeof(float) * (size_t)(c * h * w);
    for (int i = 0; i < b.count; i++) {
      ledge_tensor *t = NULL;
      if (ledge_tensor_wrap(LEDGE_FLOAT32, 4, dims, (void *)(in + (int64_t)i * c * h * w), bytes,
                            &t) != LEDGE_OK ||
          ledge_session_run(s, &t, 1, NULL, 0) != LEDGE_OK) {
        fprintf(stderr, "ledge train: backbone: %s\n", ledge_last_error());
        ledge_tensor_destroy(t);
        goto done;
      }
      ledge_tensor_destroy(t);
      const ledge_tensor *o = NULL;
      ledge_session_output(s, 0, &o);
      if (ledge_tensor_count(o) != features) {
        fprintf(stderr, "ledge train: the backbone's output changed size\n");
        goto done;
      }
      memcpy(out->x + (out->n + i) * features, ledge_tensor_data(o),
             sizeof(float) * (size_t)features);
    }
    memcpy(out->y + out->n, b.labels, sizeof(int32_t) * (size_t)b.count);
    out->n += b.count;
    double el = seconds_now() - t0;
    fprintf(stderr, isatty_stderr() ? "\r%s features: %ld/%ld images, %.1f images/s\033[K" : "",
            what, out->n, total, out->n / (el > 0 ? el : 1));
  }
  if (got < 0) {
    fprintf(stderr, "\nledge train: %s\n", train_loader_error(ld));
    goto done;
  }
  fprintf(stderr, "%sledge train: %s features: %ld images, %lld values each, %.1f images/s\n",
          isatty_stderr() ? "\r\033[K" : "", what, out->n, (long long)features,
          out->n / (seconds_now() - t0 > 0 ? seconds_now() - t0 : 1));
  rc = 0;
done:
  free(buf);
  train_loader_destroy(ld);
  return rc;
}

static double evaluate_head(tr_net *net, const feature_set *fs, int64_t f, int batch,
                            double *loss) {
  long hits = 0;
  double l = 0;
  tr_net_set_training(net, false);
  for (long i = 0; i < fs->n; i += batch) {
    int n = (int)(fs->n - i < batch ? fs->n - i : batch);
    tr_net_forward(net, fs->x + i * f, n);
    int64_t correct;
    l += tr_net_loss(net, fs->y + i, 0, false, &correct) * n;
    hits += (long)correct;
  }
  tr_net_set_training(net, true);
  *loss = fs->n ? l / fs->n : 0;
  return fs->n ? (double)hits / fs->n : 0;
}

/* The cut model with the trained classifier appended, written as ONNX. */
static lg_status export_stitched(lg_graph *backbone, int cut, int64_t features, const tr_net *head,
                                 int classes, const char *path) {
  lg_graph g;
  LG_TRY(lg_graph_clone(backbone, &g));
  tr_builder b;
  tr_builder_init(&b, &g, 1);
  b.counter = 2000;
  g.values[cut].is_output = false;
  g.n_outputs = 0;
  int x = g.values[cut].t.rank == 2 ? cut : tr_b_flatten(&b, cut);
  int y = tr_b_dense(&b, x, features, classes);
  lg_status st = LEDGE_OK;
  if (y < 0) st = lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  if (st == LEDGE_OK) {
    tr_b_output(&b, y);
    /* the head's parameters, in creation order: weight, bias */
    const lg_node *gemm = &g.nodes[tr_b_last_node(&b)];
    for (int k = 0; k < 2; k++) {
      const tr_value *hv = &head->values[head->params[k]];
      lg_value *gv = &g.values[gemm->in[1 + k]];
      memcpy(gv->owned, hv->data, sizeof(float) * (size_t)hv->count);
    }
    ledge_tensor_info out;
    memset(&out, 0, sizeof out);
    out.name = g.values[y].name;
    out.dtype = LEDGE_FLOAT32;
    out.rank = 2;
    out.dims[0] = -1;
    out.dims[1] = classes;
    lg_onnx_write_options o;
    memset(&o, 0, sizeof o);
    o.producer_name = "ledge train";
    o.output_types = &out;
    st = lg_onnx_write_file(&g, &o, path);
  }
  lg_graph_free(&g);
  return st;
}

int tr_train_cached(const tr_train_config *cfg) {
  int rc = 1;
  train_dataset *train_all = NULL, *train = NULL, *val = NULL;
  lg_graph bb;
  int cut = -1;
  ledge_model *m = NULL;
  ledge_session *s = NULL;
  tr_net *head = NULL;
  tr_optimizer *opt = NULL;
  feature_set tf = {0}, vf = {0};
  if (tr_open_data(cfg, &train_all, &train, &val)) return 1;
  if (tr_load_backbone(cfg->pretrained, cfg->cut, &bb, &cut) != LEDGE_OK) {
    fprintf(stderr, "ledge train: %s\n", ledge_last_error());
    goto out;
  }
  m = calloc(1, sizeof *m);
  if (!m) goto out;
  m->graph = bb; /* the session's model; bb stays valid for the export */
  ledge_session_options so;
  ledge_session_options_init(&so);
  so.num_threads = cfg->threads;
  ledge_tensor_info in;
  if (ledge_session_create(m, &so, &s) != LEDGE_OK ||
      ledge_session_input_info(s, 0, &in) != LEDGE_OK) {
    fprintf(stderr, "ledge train: %s: %s\n", cfg->pretrained, ledge_last_error());
    goto out;
  }
  if (in.rank != 4) {
    fprintf(stderr, "ledge train: %s: the input must be an image batch (4-D)\n", cfg->pretrained);
    goto out;
  }
  bool nhwc = (in.dims[3] == 1 || in.dims[3] == 3) && in.dims[1] != 1 && in.dims[1] != 3;
  int c = (int)(nhwc ? in.dims[3] : in.dims[1]), h = (int)(nhwc ? in.dims[1] : in.dims[2]),
      w = (int)(nhwc ? in.dims[2] : in.dims[3]);
  if (c <= 0 || h <= 0 || w <= 0) {
    c = cfg->image_c;
    h = cfg->image_h;
    w = cfg->image_w;
  }
  int64_t dims[4] = {1, nhwc ? h : c, nhwc ? w : h, nhwc ? c : w};
  ledge_tensor_info oi;
  if (ledge_session_set_input_shape(s, 0, 4, dims) != LEDGE_OK ||
      ledge_session_output_info(s, 0, &oi) != LEDGE_OK) {
    fprintf(stderr, "ledge train: %s: %s\n", cfg->pretrained, ledge_last_error());
    goto out;
  }
  int64_t features = 1;
  for (int i = 1; i < oi.rank; i++) features *= oi.dims[i];
  fprintf(stderr,
          "ledge train: frozen backbone %s (%s input %dx%dx%d) cut at '%s': %lld features\n",
          cfg->pretrained, nhwc ? "NHWC" : "NCHW", c, h, w, oi.name, (long long)features);
  if (extract(s, train, nhwc, c, h, w, cfg, features, &tf, "training") ||
      (val && extract(s, val, nhwc, c, h, w, cfg, features, &vf, "validation")))
    goto out;
  /* The head: features [N, F, 1, 1] -> Flatten -> Gemm. */
  lg_graph hg;
  if (lg_graph_init(&hg) != LEDGE_OK) goto out;
  tr_builder b;
  tr_builder_init(&b, &hg, cfg->seed);
  int x = tr_b_input(&b, "features", features, 1, 1);
  tr_b_output(&b, tr_b_dense(&b, tr_b_flatten(&b, x), features, cfg->num_classes));
  tr_compile_opts co = {
      .max_batch = cfg->mini_batch_size, .threads = cfg->threads, .head_first_node = -1};
  if (tr_net_compile(&hg, &co, &head) != LEDGE_OK ||
      tr_optimizer_create(head, &cfg->optim, &opt) != LEDGE_OK) {
    fprintf(stderr, "ledge train: %s\n", ledge_last_error());
    goto out;
  }
  long *order = malloc(sizeof(long) * (size_t)(tf.n + 1));
  float *bx = malloc(sizeof(float) * (size_t)(cfg->mini_batch_size * features));
  int32_t *by = malloc(sizeof(int32_t) * (size_t)cfg->mini_batch_size);
  if (!order || !bx || !by) {
    free(order);
    free(bx);
    free(by);
    goto out;
  }
  for (long i = 0; i < tf.n; i++) order[i] = i;
  long per_epoch = tf.n / cfg->mini_batch_size;
  double vacc = 0, vloss = 0, tacc = 0, tloss = 0;
  for (int epoch = 0; epoch < cfg->epochs; epoch++) {
    train_rng r;
    train_rng_seed(&r, cfg->seed, 0x68656164, (uint64_t)epoch);
    train_rng_shuffle(&r, order, tf.n);
    for (long k = 0; k < per_epoch; k++) {
      for (int i = 0; i < cfg->mini_batch_size; i++) {
        long j = order[k * cfg->mini_batch_size + i];
        memcpy(bx + (int64_t)i * features, tf.x + j * features, sizeof(float) * (size_t)features);
        by[i] = tf.y[j];
      }
      float lr = tr_schedule_lr(&cfg->schedule, epoch + (double)k / (double)per_epoch);
      tr_net_forward(head, bx, cfg->mini_batch_size);
      tr_net_loss(head, by, cfg->label_smoothing, true, NULL);
      tr_net_backward(head);
      tr_optimizer_step(opt, head, lr);
    }
    tacc = evaluate_head(head, &tf, features, cfg->mini_batch_size, &tloss);
    if (val) vacc = evaluate_head(head, &vf, features, cfg->mini_batch_size, &vloss);
    fprintf(stderr, "epoch %d/%d: loss %.4f acc %.2f%%", epoch + 1, cfg->epochs, tloss, 100 * tacc);
    if (val) fprintf(stderr, "  val loss %.4f acc %.2f%%", vloss, 100 * vacc);
    fputc('\n', stderr);
  }
  free(order);
  free(bx);
  free(by);
  if (cfg->output_path) {
    if (export_stitched(&m->graph, cut, features, head, cfg->num_classes, cfg->output_path) !=
        LEDGE_OK) {
      fprintf(stderr, "ledge train: export: %s\n", ledge_last_error());
      goto out;
    }
    train_augment_config pre;
    feature_input(cfg, c, h, w, &pre);
    if (tr_write_model_sidecars(cfg, train, &pre)) goto out;
  }
  if (cfg->json) {
    printf(
        "{\"epochs\":%d,\"train_samples\":%ld,\"features\":%lld,\"train_loss\":%.6f,\"train_"
        "accuracy\":%.6f",
        cfg->epochs, tf.n, (long long)features, tloss, tacc);
    if (val)
      printf(",\"validation_samples\":%ld,\"validation_loss\":%.6f,\"validation_accuracy\":%.6f",
             vf.n, vloss, vacc);
    printf("}\n");
  }
  rc = 0;
out:
  free(tf.x);
  free(tf.y);
  free(vf.x);
  free(vf.y);
  tr_optimizer_destroy(opt);
  tr_net_destroy(head);
  ledge_session_destroy(s);
  if (m) {
    lg_graph_free(&m->graph);
    free(m);
  } else if (cut >= 0) {
    lg_graph_free(&bb);
  }
  if (train != train_all) train_dataset_destroy(train);
  train_dataset_destroy(train_all);
  train_dataset_destroy(val);
  return rc;
}
