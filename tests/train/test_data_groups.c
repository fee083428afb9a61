/* test_data_groups.c: splitting by subject (train_dataset_split_by_group).
 * A .lst data set of real PNG files whose paths name their subject (eight
 * drivers, p01..p08, five frames each, two classes): no subject may land in
 * both views, validation holds whole subjects and at least the fraction
 * asked, the split is deterministic under a seed, and bad patterns or data
 * give one clear error. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "media/encode.h"
#include "train/dataset.h"

static void subject_of(const train_dataset *ds, long i, char *out) {
  char name[4096];
  train_dataset_sample_name(ds, i, name, sizeof name);
  const char *p = strstr(name, "/p");
  snprintf(out, 8, "%.3s", p ? p + 1 : "?");
}

int main(void) {
  char dir[1024], lst[1100], path[1200], err[512];
  snprintf(dir, sizeof dir, "%s/groups", LEDGE_BUILD_DIR);
  mkdir(dir, 0755);
  snprintf(lst, sizeof lst, "%s/frames.lst", dir);
  FILE *f = fopen(lst, "w");
  CHECK(f != NULL);
  if (!f) return harness_finish("test_data_groups");
  media_image img;
  CHECK_OK(media_image_alloc(&img, 8, 8, 3, err, sizeof err));
  long index = 0;
  for (int s = 1; s <= 8; s++) {
    snprintf(path, sizeof path, "%s/p%02d", dir, s);
    mkdir(path, 0755);
    for (int k = 0; k < 5; k++) {
      memset(img.data, 16 * s + k, img.stride * 8);
      snprintf(path, sizeof path, "%s/p%02d/frame%d.png", dir, s, k);
      CHECK_OK(media_image_write_file(path, &img, 90, err, sizeof err));
      fprintf(f, "%ld\t%d\tp%02d/frame%d.png\n", index++, k % 2, s, k);
    }
  }
  media_image_free(&img);
  fclose(f);

  train_dataset *ds = NULL, *tr = NULL, *va = NULL, *tr2 = NULL, *va2 = NULL;
  CHECK_OK(train_dataset_open(lst, NULL, &ds, err, sizeof err));
  if (!ds) return harness_finish("test_data_groups");
  CHECK(train_dataset_count(ds) == 40);
  CHECK_OK(train_dataset_split_by_group(ds, 0.25, 7, "p[0-9]+", &tr, &va, err, sizeof err));
  if (tr && va) {
    CHECK(train_dataset_count(tr) + train_dataset_count(va) == 40);
    CHECK(train_dataset_count(va) >= 10 && train_dataset_count(va) % 5 == 0);
    /* no subject on both sides */
    int overlap = 0;
    for (long i = 0; i < train_dataset_count(va); i++) {
      char a[8], b[8];
      subject_of(va, i, a);
      for (long j = 0; j < train_dataset_count(tr); j++) {
        subject_of(tr, j, b);
        overlap += !strcmp(a, b);
      }
    }
    CHECK(overlap == 0);
    /* deterministic under the seed */
    CHECK_OK(train_dataset_split_by_group(ds, 0.25, 7, "p[0-9]+", &tr2, &va2, err, sizeof err));
    int same = tr2 && va2 && train_dataset_count(va2) == train_dataset_count(va);
    for (long i = 0; same && i < train_dataset_count(va); i++) {
      char a[8], b[8];
      subject_of(va, i, a);
      subject_of(va2, i, b);
      same = !strcmp(a, b);
    }
    CHECK(same);
  }
  train_dataset_destroy(tr), train_dataset_destroy(va), train_dataset_destroy(tr2),
      train_dataset_destroy(va2);
  /* a capture group names the subject too */
  tr = va = NULL;
  CHECK_OK(train_dataset_split_by_group(ds, 0.5, 1, "/(p[0-9]+)/", &tr, &va, err, sizeof err));
  CHECK(tr && va && train_dataset_count(va) == 20);
  train_dataset_destroy(tr), train_dataset_destroy(va);
  /* errors: no match, one group, a bad pattern, a bad fraction */
  tr = va = NULL;
  CHECK(train_dataset_split_by_group(ds, 0.25, 1, "driver[0-9]+", &tr, &va, err, sizeof err) !=
        LEDGE_OK);
  CHECK(strstr(err, "does not match") && strstr(err, "frame0.png") && !tr && !va);
  CHECK(train_dataset_split_by_group(ds, 0.25, 1, "frame", &tr, &va, err, sizeof err) != LEDGE_OK);
  CHECK(strstr(err, "1 group(s)") != NULL);
  CHECK(train_dataset_split_by_group(ds, 0.25, 1, "p[0-9", &tr, &va, err, sizeof err) != LEDGE_OK);
  CHECK(strstr(err, "group pattern") != NULL);
  CHECK(train_dataset_split_by_group(ds, 1.5, 1, "p[0-9]+", &tr, &va, err, sizeof err) != LEDGE_OK);
  train_dataset_destroy(ds);
  return harness_finish("test_data_groups");
}
