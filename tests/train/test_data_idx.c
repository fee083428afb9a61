/* test_data_idx.c: IDX datasets (Fashion-MNIST as Debian ships it) and the
 * batch loader. The pixel and label values are checked against Python's
 * gzip + numpy reading of the same files (an independent reader); the loader
 * is checked for coverage, determinism, sharding and exact eval values. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "harness.h"
#include "train/dataset.h"
#include "train/loader.h"

#define FMNIST "/usr/share/datasets/fashion-mnist"
#define TEST_IMAGES FMNIST "/t10k-images-idx3-ubyte.gz"

static char tmpdir[1024];

/* Reads the first bytes of a gzipped file (decompressed) into a new buffer. */
static uint8_t *gunzip_prefix(const char *path, size_t n, size_t *got) {
  gzFile f = gzopen(path, "rb");
  uint8_t *buf = malloc(n);
  int r = f ? gzread(f, buf, (unsigned)n) : -1;
  if (f) gzclose(f);
  *got = r > 0 ? (size_t)r : 0;
  return buf;
}

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return;
  fwrite(data, 1, n, f);
  fclose(f);
}

static void check_against_numpy(const train_dataset *ds) {
  /* Python reads the same gzip files with its own gzip and numpy */
  const char *script =
      "/usr/bin/python3 -c \""
      "import gzip,numpy as np\n"
      "x=np.frombuffer(gzip.open('" TEST_IMAGES
      "').read(),np.uint8,offset=16).reshape(-1,28,28)\n"
      "y=np.frombuffer(gzip.open('" FMNIST
      "/t10k-labels-idx1-ubyte.gz').read(),np.uint8,offset=8)\n"
      "print(len(x),*np.bincount(y,minlength=10))\n"
      "print(*[int(x[i].astype(np.int64).sum()) for i in (0,1,4321,9999)])\n"
      "print(*[int(x[i,r,c]) for (i,r,c) in ((0,14,14),(77,3,20),(9999,27,0))])\n"
      "print(*y[:20])\"";
  FILE *p = popen(script, "r");
  CHECK(p != NULL);
  if (!p) return;
  long n, hist[10], sums[4], px[3], first[20];
  int ok = fscanf(p, "%ld", &n) == 1;
  for (int c = 0; c < 10; c++) ok &= fscanf(p, "%ld", &hist[c]) == 1;
  for (int k = 0; k < 4; k++) ok &= fscanf(p, "%ld", &sums[k]) == 1;
  for (int k = 0; k < 3; k++) ok &= fscanf(p, "%ld", &px[k]) == 1;
  for (int k = 0; k < 20; k++) ok &= fscanf(p, "%ld", &first[k]) == 1;
  pclose(p);
  CHECK(ok);
  if (!ok) return;
  CHECK(train_dataset_count(ds) == n);
  long mine[10] = {0};
  for (long i = 0; i < train_dataset_count(ds); i++) mine[train_dataset_label(ds, i)]++;
  for (int c = 0; c < 10; c++) CHECK(mine[c] == hist[c]);
  for (int k = 0; k < 20; k++) CHECK(train_dataset_label(ds, k) == first[k]);
  const long idx[4] = {0, 1, 4321, 9999};
  for (int k = 0; k < 4; k++) {
    media_image img;
    char err[256];
    CHECK_OK(train_dataset_read(ds, idx[k], &img, err, sizeof err));
    long s = 0;
    for (int i = 0; i < 28 * 28; i++) s += img.data[i];
    CHECK(s == sums[k]);
    CHECK(img.width == 28 && img.height == 28 && img.channels == 1);
    media_image_free(&img);
  }
  const long at[3][3] = {{0, 14, 14}, {77, 3, 20}, {9999, 27, 0}};
  for (int k = 0; k < 3; k++) {
    media_image img;
    char err[256];
    CHECK_OK(train_dataset_read(ds, at[k][0], &img, err, sizeof err));
    CHECK(img.data && img.data[at[k][1] * img.stride + at[k][2]] == px[k]);
    media_image_free(&img);
  }
}

static void test_open_fashion_mnist(void) {
  train_dataset *ds;
  char err[512];
  ledge_status st = train_dataset_open(TEST_IMAGES, NULL, &ds, err, sizeof err);
  CHECK(st == LEDGE_OK);
  if (st) {
    fprintf(stderr, "%s\n", err);
    return;
  }
  CHECK(train_dataset_get_format(ds) == TRAIN_DATA_IDX);
  CHECK(train_dataset_num_classes(ds) == 10);
  CHECK(!strcmp(train_dataset_class_name(ds, 0), "T-shirt/top"));
  CHECK(!strcmp(train_dataset_class_name(ds, 9), "Ankle boot"));
  int c, h, w;
  train_dataset_sample_shape(ds, &c, &h, &w);
  CHECK(c == 1 && h == 28 && w == 28);
  check_against_numpy(ds);
  char name[128];
  CHECK(
      !strcmp(train_dataset_sample_name(ds, 5, name, sizeof name), "t10k-images-idx3-ubyte.gz#5"));

  /* --limit reads only the first N */
  train_dataset_options opt;
  train_dataset_options_init(&opt);
  opt.limit = 300;
  train_dataset *small;
  CHECK_OK(train_dataset_open(TEST_IMAGES, &opt, &small, err, sizeof err));
  if (small) {
    CHECK(train_dataset_count(small) == 300);
    for (long i = 0; i < 300; i++)
      CHECK(train_dataset_label(small, i) == train_dataset_label(ds, i));
    train_dataset_destroy(small);
  }
  /* num_classes smaller than the labels: a clear error */
  opt.limit = 0;
  opt.num_classes = 5;
  train_dataset *bad = NULL;
  st = train_dataset_open(TEST_IMAGES, &opt, &bad, err, sizeof err);
  CHECK(st == LEDGE_ERR_FORMAT && bad == NULL && strstr(err, "out of range for num_classes 5"));

  /* stratified split: every class keeps its share, views are disjoint */
  train_dataset *tr, *va;
  CHECK_OK(train_dataset_split(ds, 0.1, 42, &tr, &va, err, sizeof err));
  if (tr && va) {
    CHECK(train_dataset_count(va) == 1000 && train_dataset_count(tr) == 9000);
    long per[10] = {0};
    for (long i = 0; i < train_dataset_count(va); i++) per[train_dataset_label(va, i)]++;
    for (int k = 0; k < 10; k++) CHECK(per[k] == 100);
    /* the same seed gives the same split; the view outlives its parent's handle */
    train_dataset *tr2, *va2;
    CHECK_OK(train_dataset_split(ds, 0.1, 42, &tr2, &va2, err, sizeof err));
    int same = 1;
    for (long i = 0; i < 1000; i++) {
      char a[64], b[64];
      same &= !strcmp(train_dataset_sample_name(va, i, a, sizeof a),
                      train_dataset_sample_name(va2, i, b, sizeof b));
    }
    CHECK(same);
    train_dataset_destroy(tr2);
    train_dataset_destroy(va2);
  }
  train_dataset_destroy(ds);
  if (va) {
    media_image img;
    CHECK_OK(train_dataset_read(va, 999, &img, err, sizeof err));
    media_image_free(&img);
  }
  train_dataset_destroy(tr);
  train_dataset_destroy(va);
}

/* Uncompressed copies, the dotted MNIST naming, and broken files. */
static void test_variants_and_bad_files(void) {
  char images[1200], labels[1200], err[512];
  size_t n_img, n_lab;
  const size_t keep = 16 + 50 * 784;
  uint8_t *img = gunzip_prefix(TEST_IMAGES, keep, &n_img);
  uint8_t *lab = gunzip_prefix(FMNIST "/t10k-labels-idx1-ubyte.gz", 8 + 50, &n_lab);
  CHECK(n_img == keep && n_lab == 58);
  /* a 50-image IDX pair, uncompressed, in the dotted spelling */
  img[4] = img[5] = img[6] = 0, img[7] = 50;
  lab[4] = lab[5] = lab[6] = 0, lab[7] = 50;
  snprintf(images, sizeof images, "%s/t10k-images.idx3-ubyte", tmpdir);
  snprintf(labels, sizeof labels, "%s/t10k-labels.idx1-ubyte", tmpdir);
  write_bytes(images, img, keep);
  write_bytes(labels, lab, 58);
  train_dataset *ds = NULL;
  CHECK_OK(train_dataset_open(images, NULL, &ds, err, sizeof err));
  if (ds) {
    CHECK(train_dataset_count(ds) == 50);
    media_image a;
    CHECK_OK(train_dataset_read(ds, 49, &a, err, sizeof err));
    CHECK(a.data && !memcmp(a.data, img + 16 + 49 * 784, 784));
    media_image_free(&a);
    train_dataset_destroy(ds);
  }
  /* labels count differs from images */
  lab[7] = 49;
  write_bytes(labels, lab, 57);
  ledge_status st = train_dataset_open(images, NULL, &ds, err, sizeof err);
  CHECK(st == LEDGE_ERR_SHAPE && strstr(err, "49 labels"));
  /* truncated images */
  lab[7] = 50;
  write_bytes(labels, lab, 58);
  write_bytes(images, img, keep - 100);
  st = train_dataset_open(images, NULL, &ds, err, sizeof err);
  CHECK(st == LEDGE_ERR_FORMAT && strstr(err, "truncated"));
  /* labels missing */
  remove(labels);
  write_bytes(images, img, keep);
  st = train_dataset_open(images, NULL, &ds, err, sizeof err);
  CHECK(st == LEDGE_ERR_IO && strstr(err, "no labels file"));
  /* not a dataset at all */
  snprintf(images, sizeof images, "%s/random.bin", tmpdir);
  write_bytes(images, "\x12\x34garbage", 9);
  st = train_dataset_open(images, NULL, &ds, err, sizeof err);
  CHECK(st == LEDGE_ERR_FORMAT && strstr(err, "not a dataset"));
  /* an IDX with a float element type */
  snprintf(images, sizeof images, "%s/float-images-idx3-ubyte", tmpdir);
  img[2] = 0x0D;
  write_bytes(images, img, keep);
  st = train_dataset_open(images, NULL, &ds, err, sizeof err);
  CHECK(st == LEDGE_ERR_UNSUPPORTED);
  st = train_dataset_open("/nonexistent/data", NULL, &ds, err, sizeof err);
  CHECK(st == LEDGE_ERR_IO && ds == NULL);
  free(img);
  free(lab);
}

static void test_loader(void) {
  train_dataset_options dopt;
  train_dataset_options_init(&dopt);
  dopt.limit = 1000;
  train_dataset *ds;
  char err[512];
  if (train_dataset_open(TEST_IMAGES, &dopt, &ds, err, sizeof err)) {
    CHECK(0);
    return;
  }
  train_loader_options o;
  train_loader_options_init(&o, 1, 28, 28);
  o.batch_size = 64;
  o.seed = 7;
  o.augment = 0;
  train_loader *ld;
  CHECK_OK(train_loader_create(ds, &o, &ld, err, sizeof err));
  CHECK(train_loader_batches_per_epoch(ld) == 16); /* 15 full + 1 of 40 */
  CHECK(train_loader_samples_per_epoch(ld) == 1000);

  /* eval mode: exactly pixel / 255; every sample once per epoch */
  int *seen = calloc(1000, sizeof *seen);
  long *order0 = malloc(sizeof *order0 * 1000);
  CHECK_OK(train_loader_start(ld, 0, 0));
  train_batch b;
  long total = 0, batches = 0;
  int exact = 1, labels_ok = 1;
  while (train_loader_next(ld, &b) == 1) {
    CHECK(b.index == batches && b.epoch == 0);
    for (int j = 0; j < b.count; j++) {
      long i = b.indices[j];
      seen[i]++;
      order0[total + j] = i;
      labels_ok &= b.labels[j] == train_dataset_label(ds, i);
      media_image img;
      train_dataset_read(ds, i, &img, err, sizeof err);
      for (int p = 0; p < 784; p++)
        exact &= fabsf(b.images[(size_t)j * 784 + p] - img.data[p] / 255.0f) < 1e-6f;
      media_image_free(&img);
    }
    total += b.count;
    batches++;
  }
  CHECK(total == 1000 && batches == 16);
  CHECK(exact && labels_ok);
  int once = 1;
  for (int i = 0; i < 1000; i++) once &= seen[i] == 1;
  CHECK(once);
  /* the end stays the end */
  CHECK(train_loader_next(ld, &b) == 0);

  /* another epoch: another order; the same epoch again: the same order */
  CHECK_OK(train_loader_start(ld, 1, 0));
  long k = 0;
  int differs = 0;
  while (train_loader_next(ld, &b) == 1)
    for (int j = 0; j < b.count; j++) differs |= b.indices[j] != order0[k++];
  CHECK(differs && k == 1000);
  CHECK_OK(train_loader_start(ld, 0, 3)); /* resume mid-epoch */
  k = 3 * 64;
  int same = 1;
  while (train_loader_next(ld, &b) == 1)
    for (int j = 0; j < b.count; j++) same &= b.indices[j] == order0[k++];
  CHECK(same && k == 1000);
  /* restart while batches are in flight */
  CHECK_OK(train_loader_start(ld, 0, 0));
  CHECK(train_loader_next(ld, &b) == 1);
  CHECK_OK(train_loader_start(ld, 0, 5));
  CHECK(train_loader_next(ld, &b) == 1 && b.index == 5 && b.indices[0] == order0[5 * 64]);
  train_loader_destroy(ld);

  /* sharding: 2 ranks x 32 see exactly what 1 rank x 64 sees, in halves */
  o.drop_last = 1;
  train_loader *r0, *r1, *all;
  o.rank = 0, o.world_size = 2, o.batch_size = 32;
  CHECK_OK(train_loader_create(ds, &o, &r0, err, sizeof err));
  o.rank = 1;
  CHECK_OK(train_loader_create(ds, &o, &r1, err, sizeof err));
  o.rank = 0, o.world_size = 1, o.batch_size = 64;
  CHECK_OK(train_loader_create(ds, &o, &all, err, sizeof err));
  CHECK(train_loader_batches_per_epoch(r0) == 15 && train_loader_batches_per_epoch(r1) == 15 &&
        train_loader_batches_per_epoch(all) == 15);
  train_loader_start(r0, 2, 0);
  train_loader_start(r1, 2, 0);
  train_loader_start(all, 2, 0);
  train_batch b0, b1, ba;
  int shard_ok = 1;
  long steps = 0;
  while (train_loader_next(all, &ba) == 1) {
    shard_ok &= train_loader_next(r0, &b0) == 1 && train_loader_next(r1, &b1) == 1;
    if (!shard_ok) break;
    shard_ok &= b0.count == 32 && b1.count == 32 && ba.count == 64;
    shard_ok &= !memcmp(b0.indices, ba.indices, 32 * sizeof(long)) &&
                !memcmp(b1.indices, ba.indices + 32, 32 * sizeof(long));
    shard_ok &= !memcmp(b0.images, ba.images, 32 * 784 * sizeof(float)) &&
                !memcmp(b1.images, ba.images + 32 * 784, 32 * 784 * sizeof(float));
    steps++;
  }
  CHECK(shard_ok && steps == 15);
  CHECK(train_loader_next(r0, &b0) == 0 && train_loader_next(r1, &b1) == 0);
  train_loader_destroy(r0);
  train_loader_destroy(r1);
  train_loader_destroy(all);

  /* augmentation on: deterministic across loaders and prefetch depths */
  o.augment = 1;
  o.transform.type = TRAIN_AUG_CROP_COLOR_TRANSFORM;
  o.prefetch = 1;
  o.workers = 1;
  train_loader *a1, *a2;
  CHECK_OK(train_loader_create(ds, &o, &a1, err, sizeof err));
  o.prefetch = 4;
  o.workers = 3; /* batches finish out of order, arrive in order */
  CHECK_OK(train_loader_create(ds, &o, &a2, err, sizeof err));
  train_loader_start(a1, 3, 0);
  train_loader_start(a2, 3, 0);
  int det = 1, changed = 0;
  train_batch x1, x2;
  while (train_loader_next(a1, &x1) == 1) {
    det &= train_loader_next(a2, &x2) == 1 && x1.count == x2.count &&
           !memcmp(x1.images, x2.images, sizeof(float) * 784 * (size_t)x1.count);
    media_image img;
    train_dataset_read(ds, x1.indices[0], &img, err, sizeof err);
    for (int p = 0; p < 784; p++) changed |= x1.images[p] != img.data[p] / 255.0f;
    media_image_free(&img);
  }
  CHECK(det && changed);
  /* restarts while several workers are busy */
  for (int r = 0; r < 20; r++) {
    CHECK_OK(train_loader_start(a2, 3, (long)(r % 7)));
    int got = train_loader_next(a2, &x2);
    CHECK(got == 1 && x2.index == r % 7 && x2.epoch == 3);
  }
  train_loader_stats stats;
  train_loader_get_stats(a1, &stats);
  CHECK(stats.samples == 960 && stats.skipped == 0);
  train_loader_destroy(a1);
  train_loader_destroy(a2);

  /* bad options: clear errors */
  o.batch_size = 0;
  CHECK(train_loader_create(ds, &o, &a1, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT);
  o.batch_size = 2000;
  CHECK(train_loader_create(ds, &o, &a1, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT &&
        strstr(err, "fewer than one batch"));
  o.batch_size = 8;
  o.rank = 2, o.world_size = 2;
  CHECK(train_loader_create(ds, &o, &a1, err, sizeof err) == LEDGE_ERR_INVALID_ARGUMENT);
  free(seen);
  free(order0);
  train_dataset_destroy(ds);
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "%s/data_idx_tmp", LEDGE_BUILD_DIR);
  mkdir(tmpdir, 0755);
  test_open_fashion_mnist();
  test_variants_and_bad_files();
  test_loader();
  return harness_finish("train.test_data_idx");
}
