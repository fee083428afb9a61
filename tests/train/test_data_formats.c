/* test_data_formats.c: image-folder, .lst and manifest datasets written by
 * PIL (make_data.py) from Fashion-MNIST images, checked against the IDX
 * originals (PNG exactly, JPEG within its loss); bad data gives clear
 * errors or counted skips. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "train/dataset.h"
#include "train/loader.h"

#define TEST_IMAGES "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
#define COUNT 200

static char dir[1024];
static long expect_idx[COUNT];
static int expect_label[COUNT];
static char expect_path[COUNT][128];
static train_dataset *idx;

static const char *at(const char *rel) {
  static char buf[4][1200];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", dir, rel);
  return buf[k];
}

static int load_expectations(void) {
  FILE *f = fopen(at("expect.tsv"), "r");
  if (!f) return 0;
  int n = 0;
  while (n < COUNT &&
         fscanf(f, "%ld\t%d\t%127s", &expect_idx[n], &expect_label[n], expect_path[n]) == 3)
    n++;
  fclose(f);
  return n;
}

/* Mean absolute difference between a decoded sample (RGB from the file) and
 * the IDX gray original. */
static double pixel_error(const train_dataset *ds, long i, long idx_index) {
  media_image a, b;
  char err[256];
  if (train_dataset_read(ds, i, &a, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return 1e9;
  }
  train_dataset_read(idx, idx_index, &b, err, sizeof err);
  double sum = 0;
  if (a.width != 28 || a.height != 28 || a.channels != 3) sum = 1e9;
  for (int p = 0; sum < 1e9 && p < 784; p++)
    for (int c = 0; c < 3; c++) sum += fabs((double)a.data[p * 3 + c] - b.data[p]);
  media_image_free(&a);
  media_image_free(&b);
  return sum / (784 * 3);
}

/* Finds which expectation a sample is, by its path. */
static int which(const train_dataset *ds, long i) {
  char name[1200];
  train_dataset_sample_name(ds, i, name, sizeof name);
  for (int k = 0; k < COUNT; k++) {
    size_t a = strlen(name), b = strlen(expect_path[k]);
    if (a >= b && !strcmp(name + a - b, expect_path[k])) return k;
  }
  return -1;
}

static void check_dataset(const char *path, train_dataset_format format, int names_from_data) {
  train_dataset *ds = NULL;
  char err[512];
  CHECK_OK(train_dataset_open(path, NULL, &ds, err, sizeof err));
  if (!ds) {
    fprintf(stderr, "%s\n", err);
    return;
  }
  CHECK(train_dataset_get_format(ds) == format);
  CHECK(train_dataset_count(ds) == COUNT);
  CHECK(train_dataset_num_classes(ds) == 10);
  int all_found = 1, labels_ok = 1, png_exact = 1, jpeg_close = 1, order_ok = 1;
  for (long i = 0; i < train_dataset_count(ds); i++) {
    int k = which(ds, i);
    if (k < 0) {
      all_found = 0;
      continue;
    }
    if (format != TRAIN_DATA_FOLDER) order_ok &= k == i; /* list order is kept */
    int label = train_dataset_label(ds, i);
    if (format == TRAIN_DATA_FOLDER) {
      /* folder labels are sorted folder names: the class name must be the
       * folder the file is in */
      char want[64];
      const char *slash = strchr(expect_path[k] + 7, '/');
      snprintf(want, sizeof want, "%.*s", (int)(slash - (expect_path[k] + 7)), expect_path[k] + 7);
      labels_ok &= !strcmp(train_dataset_class_name(ds, label), want);
    } else {
      labels_ok &= label == expect_label[k];
    }
    double e = pixel_error(ds, i, expect_idx[k]);
    if (strstr(expect_path[k], ".png"))
      png_exact &= e == 0;
    else
      jpeg_close &= e < 4.0;
  }
  CHECK(all_found && labels_ok && png_exact && jpeg_close && order_ok);
  /* names from the data: sorted folder names, or the manifest's metadata */
  if (format == TRAIN_DATA_FOLDER)
    CHECK(!strcmp(train_dataset_class_name(ds, 0), "Ankle_boot") &&
          !strcmp(train_dataset_class_name(ds, 9), "Trouser"));
  if (names_from_data && format == TRAIN_DATA_MANIFEST)
    CHECK(!strcmp(train_dataset_class_name(ds, 9), "Ankle_boot"));

  /* the loader turns them into what the IDX loader gives (PNG: exactly) */
  train_loader_options o;
  train_loader_options_init(&o, 1, 28, 28);
  o.batch_size = 50;
  o.augment = 0;
  o.shuffle = 0;
  train_loader *ld = NULL;
  CHECK_OK(train_loader_create(ds, &o, &ld, err, sizeof err));
  if (ld) {
    train_loader_start(ld, 0, 0);
    train_batch b;
    int same = 1;
    long n = 0;
    while (train_loader_next(ld, &b) == 1) {
      for (int j = 0; j < b.count; j++, n++) {
        int k = which(ds, b.indices[j]);
        if (k < 0 || !strstr(expect_path[k], ".png")) continue;
        media_image img;
        train_dataset_read(idx, expect_idx[k], &img, err, sizeof err);
        for (int p = 0; p < 784; p++)
          same &= fabsf(b.images[(size_t)j * 784 + p] - img.data[p] / 255.0f) < 1e-6f;
        media_image_free(&img);
      }
    }
    CHECK(same && n == COUNT);
    train_loader_destroy(ld);
  }
  /* --limit: the first N; for folders, classes taken in turn */
  train_dataset_options opt;
  train_dataset_options_init(&opt);
  opt.limit = 30;
  train_dataset *small = NULL;
  CHECK_OK(train_dataset_open(path, &opt, &small, err, sizeof err));
  if (small) {
    CHECK(train_dataset_count(small) == 30 && train_dataset_num_classes(small) == 10);
    if (format == TRAIN_DATA_FOLDER) {
      int per[10] = {0};
      for (long i = 0; i < 30; i++) per[train_dataset_label(small, i)]++;
      int balanced = 1;
      for (int c = 0; c < 10; c++) balanced &= per[c] == 3;
      CHECK(balanced);
    }
    train_dataset_destroy(small);
  }
  train_dataset_destroy(ds);
}

static void expect_error(const char *rel, const train_dataset_options *opt, ledge_status want,
                         const char *message) {
  train_dataset *ds = NULL;
  char err[512] = "";
  ledge_status st = train_dataset_open(at(rel), opt, &ds, err, sizeof err);
  CHECK(st == want && ds == NULL);
  if (!strstr(err, message)) fprintf(stderr, "%s: unexpected message: %s\n", rel, err);
  CHECK(strstr(err, message) != NULL);
  train_dataset_destroy(ds);
}

static void test_bad_data(void) {
  char err[512];
  expect_error("bad/empty_class", NULL, LEDGE_ERR_FORMAT, "holds no JPEG or PNG images");
  expect_error("negative_label.lst", NULL, LEDGE_ERR_FORMAT,
               "negative_label.lst:2: label '-1' is not a non-negative integer");
  expect_error("text_label.lst", NULL, LEDGE_ERR_FORMAT, "label 'shoe' is not a number");
  expect_error("two_fields.lst", NULL, LEDGE_ERR_FORMAT, "found 2 field(s)");
  expect_error("multi_label.lst", NULL, LEDGE_ERR_FORMAT, "multi-label");
  train_dataset_options opt;
  train_dataset_options_init(&opt);
  opt.num_classes = 10;
  expect_error("big_label.lst", &opt, LEDGE_ERR_FORMAT,
               "big_label.lst:2: label 12 is out of range for num_classes 10");
  expect_error("s3.manifest", NULL, LEDGE_ERR_FORMAT, "is a URL");
  expect_error("broken.manifest", NULL, LEDGE_ERR_FORMAT, "broken.manifest:2: not a JSON object");
  expect_error("nolabel.manifest", NULL, LEDGE_ERR_FORMAT, "no \"class\" label");

  /* a listed file that does not exist: skipped and counted */
  train_dataset *ds = NULL;
  CHECK_OK(train_dataset_open(at("missing_file.lst"), NULL, &ds, err, sizeof err));
  if (ds) {
    CHECK(train_dataset_count(ds) == 2 && train_dataset_skipped(ds) == 1);
    train_dataset_destroy(ds);
  }
  /* labels given as strings; another label key */
  CHECK_OK(train_dataset_open(at("strlabel.manifest"), NULL, &ds, err, sizeof err));
  if (ds) {
    CHECK(train_dataset_count(ds) == 2 && train_dataset_label(ds, 0) == 3 &&
          train_dataset_num_classes(ds) == 4);
    train_dataset_destroy(ds);
  }
  opt.num_classes = 0;
  opt.label_attribute = "label";
  CHECK_OK(train_dataset_open(at("nolabel.manifest"), &opt, &ds, err, sizeof err));
  if (ds) {
    CHECK(train_dataset_count(ds) == 1 && train_dataset_label(ds, 0) == 1);
    train_dataset_destroy(ds);
  }

  /* aligning to another class list: named data is mapped by name, a class
   * outside the list is an error, index-labelled data keeps its labels */
  {
    const char *reversed[10];
    train_dataset *folder = NULL, *aligned = NULL;
    CHECK_OK(train_dataset_open(at("folder"), NULL, &folder, err, sizeof err));
    for (int c = 0; folder && c < 10; c++) reversed[c] = train_dataset_class_name(folder, 9 - c);
    train_dataset_options_init(&opt);
    opt.classes = reversed;
    opt.num_classes_aligned = 10;
    CHECK_OK(train_dataset_open(at("folder"), &opt, &aligned, err, sizeof err));
    if (folder && aligned) {
      int mapped = train_dataset_count(aligned) == train_dataset_count(folder);
      for (long i = 0; mapped && i < train_dataset_count(folder); i++)
        mapped = train_dataset_label(aligned, i) == 9 - train_dataset_label(folder, i);
      CHECK(mapped && !strcmp(train_dataset_class_name(aligned, 0), reversed[0]));
    }
    train_dataset_destroy(aligned);
    aligned = NULL;
    /* the manifest names its classes in Fashion-MNIST order: aligned to the
     * folder's sorted order, labels follow the names */
    opt.classes = folder ? train_dataset_class_names(folder) : NULL;
    CHECK_OK(train_dataset_open(at("train.manifest"), &opt, &aligned, err, sizeof err));
    if (folder && aligned) {
      int same = 1;
      for (long i = 0; i < train_dataset_count(aligned); i++) {
        int k = which(aligned, i);
        for (long j = 0; k >= 0 && j < train_dataset_count(folder); j++)
          if (which(folder, j) == k)
            same &= train_dataset_label(folder, j) == train_dataset_label(aligned, i);
      }
      CHECK(same);
    }
    train_dataset_destroy(aligned);
    aligned = NULL;
    opt.num_classes_aligned = 9; /* the last class missing */
    CHECK(train_dataset_open(at("folder"), &opt, &aligned, err, sizeof err) == LEDGE_ERR_FORMAT &&
          strstr(err, "is not one of the 9 training classes"));
    opt.num_classes_aligned = 10;
    CHECK_OK(train_dataset_open(at("list.lst"), &opt, &aligned, err, sizeof err));
    if (aligned) CHECK(train_dataset_label(aligned, 0) == expect_label[0]);
    train_dataset_destroy(aligned);
    train_dataset_destroy(folder);
    train_dataset_options_init(&opt);
  }

  /* unreadable images among good ones, and other sizes and modes: the
   * loader skips and counts the broken ones and resizes the rest */
  CHECK_OK(train_dataset_open(at("bad/mixed"), NULL, &ds, err, sizeof err));
  if (!ds) return;
  CHECK(train_dataset_count(ds) == 9 && train_dataset_num_classes(ds) == 2);
  for (int channels = 1; channels <= 3; channels += 2) {
    train_loader_options o;
    train_loader_options_init(&o, channels, 32, 32);
    o.batch_size = 4;
    o.transform.type = TRAIN_AUG_CROP_COLOR_TRANSFORM;
    train_loader *ld = NULL;
    CHECK_OK(train_loader_create(ds, &o, &ld, err, sizeof err));
    if (!ld) continue;
    long delivered = 0;
    for (int epoch = 0; epoch < 3; epoch++) {
      train_loader_start(ld, epoch, 0);
      train_batch b;
      while (train_loader_next(ld, &b) == 1) {
        delivered += b.count;
        int finite = 1;
        for (long v = 0; v < (long)b.count * channels * 32 * 32; v++)
          finite &= isfinite(b.images[v]) && b.images[v] >= 0 && b.images[v] <= 1;
        CHECK(finite);
      }
    }
    train_loader_stats stats;
    train_loader_get_stats(ld, &stats);
    CHECK(delivered == 3 * 7 && stats.skipped == 3 * 2 && stats.samples == delivered);
    CHECK(strstr(train_loader_error(ld), "skipped:") != NULL);
    train_loader_destroy(ld);
  }
  train_dataset_destroy(ds);
}

int main(void) {
  snprintf(dir, sizeof dir, "%s/formats", LEDGE_BUILD_DIR);
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/train/make_data.py %s %d", LEDGE_SOURCE_DIR,
           dir, COUNT);
  if (system(cmd) != 0) {
    fprintf(stderr, "make_data.py failed\n");
    return 1;
  }
  char err[512];
  CHECK(load_expectations() == COUNT);
  CHECK_OK(train_dataset_open(TEST_IMAGES, NULL, &idx, err, sizeof err));
  if (!idx) return harness_finish("train.test_data_formats");
  check_dataset(at("folder"), TRAIN_DATA_FOLDER, 1);
  check_dataset(at("list.lst"), TRAIN_DATA_LST, 0);
  check_dataset(at("train.manifest"), TRAIN_DATA_MANIFEST, 1);
  test_bad_data();
  train_dataset_destroy(idx);
  return harness_finish("train.test_data_formats");
}
