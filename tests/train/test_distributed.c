/* test_distributed.c: data-parallel collectives. Run alone it is a world of
 * one (no MPI started); under `mpirun -np 2` (train.distributed_mpi2) each
 * rank loads its shard of Fashion-MNIST, computes the mean image of its
 * batch as a stand-in gradient, and the allreduced mean must equal the mean
 * over the global batch computed by one process. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "train/distributed.h"
#include "train/loader.h"

#define TEST_IMAGES "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"

static void batch_mean(const train_batch *b, float *out) {
  memset(out, 0, sizeof(float) * 784);
  for (int j = 0; j < b->count; j++)
    for (int p = 0; p < 784; p++) out[p] += b->images[(size_t)j * 784 + p];
  for (int p = 0; p < 784; p++) out[p] /= (float)b->count;
}

int main(int argc, char **argv) {
  char err[512];
  CHECK_OK(train_dist_init(&argc, &argv, err, sizeof err));
  int rank = train_dist_rank(), size = train_dist_size();
  CHECK(rank >= 0 && rank < size);
  if (getenv("EXPECT_WORLD")) CHECK(size == atoi(getenv("EXPECT_WORLD")));

  /* allreduce of known values: mean over ranks of (rank + 1) * (i + 1) */
  float v[1000];
  for (int i = 0; i < 1000; i++) v[i] = (float)(rank + 1) * (float)(i + 1);
  CHECK_OK(train_dist_allreduce_mean(v, 1000, err, sizeof err));
  int ok = 1;
  for (int i = 0; i < 1000; i++) ok &= fabsf(v[i] - (size + 1) * 0.5f * (i + 1)) <= 1e-4f * (i + 1);
  CHECK(ok);
  double sums[2] = {1.0, (double)rank};
  CHECK_OK(train_dist_allreduce_sum(sums, 2, err, sizeof err));
  CHECK(sums[0] == size && sums[1] == size * (size - 1) / 2.0);
  int token = rank == 0 ? 12345 : -1;
  CHECK_OK(train_dist_broadcast(&token, sizeof token, 0, err, sizeof err));
  CHECK(token == 12345);
  CHECK(train_dist_broadcast(&token, sizeof token, size, err, sizeof err) != LEDGE_OK);
  CHECK_OK(train_dist_barrier(err, sizeof err));

  /* sharded batches: averaged per-rank means == the global batch's mean */
  train_dataset_options dopt;
  train_dataset_options_init(&dopt);
  dopt.limit = 640;
  train_dataset *ds = NULL;
  CHECK_OK(train_dataset_open(TEST_IMAGES, &dopt, &ds, err, sizeof err));
  if (ds) {
    train_loader_options o;
    train_loader_options_init(&o, 1, 28, 28);
    o.batch_size = 16;
    o.seed = 3;
    o.transform.type = TRAIN_AUG_CROP_COLOR_TRANSFORM;
    o.rank = rank;
    o.world_size = size;
    train_loader *mine, *global;
    CHECK_OK(train_loader_create(ds, &o, &mine, err, sizeof err));
    o.rank = 0;
    o.world_size = 1;
    o.batch_size = 16 * size;
    CHECK_OK(train_loader_create(ds, &o, &global, err, sizeof err));
    if (mine && global) {
      CHECK(train_loader_batches_per_epoch(mine) == 640 / (16 * size));
      train_loader_start(mine, 1, 0);
      train_loader_start(global, 1, 0);
      train_batch bm, bg;
      float gm[784], gg[784];
      double worst = 0;
      long steps = 0;
      while (train_loader_next(mine, &bm) == 1) {
        CHECK(train_loader_next(global, &bg) == 1);
        batch_mean(&bm, gm);
        CHECK_OK(train_dist_allreduce_mean(gm, 784, err, sizeof err));
        batch_mean(&bg, gg);
        for (int p = 0; p < 784; p++) {
          double d = fabs((double)gm[p] - gg[p]);
          if (d > worst) worst = d;
        }
        steps++;
      }
      CHECK(steps == 640 / (16 * size));
      CHECK(worst < 1e-5);
      if (rank == 0)
        printf("world %d: %ld steps, max |allreduced - global| = %.3g\n", size, steps, worst);
    }
    train_loader_destroy(mine);
    train_loader_destroy(global);
    train_dataset_destroy(ds);
  }
  train_dist_finalize();
  return harness_finish("train.test_distributed");
}
