/* train/distributed.c: rank, size and collectives over MPI when built with
 * it (LEDGE_HAVE_MPI, set by src/train/CMakeLists.txt when Open MPI is
 * found) and launched by mpirun; a world of one otherwise. See
 * distributed.h. */
#include "train/distributed.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef LEDGE_HAVE_MPI
#include <mpi.h>
#endif

static int dist_initialized; /* train_dist_init ran */
static int dist_mpi;         /* ... and started MPI */
static int dist_rank, dist_size = 1;

static ledge_status dist_fail(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static ledge_status dist_fail(char *err, size_t err_size, const char *fmt, ...) {
  if (err && err_size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
  }
  return LEDGE_ERR_IO;
}

int train_dist_compiled(void) {
#ifdef LEDGE_HAVE_MPI
  return 1;
#else
  return 0;
#endif
}

/* Started by mpirun/srun? (Open MPI sets OMPI_COMM_WORLD_SIZE; PMIx and PMI
 * launchers set PMIX_RANK / PMI_RANK.) */
static int launched_by_mpi(void) {
  return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

#ifdef LEDGE_HAVE_MPI
static ledge_status mpi_check(int rc, const char *what, char *err, size_t err_size) {
  if (rc == MPI_SUCCESS) return LEDGE_OK;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", rc);
  return dist_fail(err, err_size, "MPI %s failed on rank %d: %s", what, dist_rank, msg);
}
#endif

ledge_status train_dist_init(int *argc, char ***argv, char *err, size_t err_size) {
  if (dist_initialized) return LEDGE_OK;
  dist_initialized = 1;
  dist_rank = 0;
  dist_size = 1;
  if (!launched_by_mpi()) return LEDGE_OK;
#ifdef LEDGE_HAVE_MPI
  int already = 0;
  MPI_Initialized(&already);
  if (!already) {
    int rc = MPI_Init(argc, argv);
    if (rc != MPI_SUCCESS) {
      dist_initialized = 0;
      return mpi_check(rc, "MPI_Init", err, err_size);
    }
    dist_mpi = 1;
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &dist_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &dist_size);
  return LEDGE_OK;
#else
  (void)argc;
  (void)argv;
  if (getenv("OMPI_COMM_WORLD_SIZE") && atoi(getenv("OMPI_COMM_WORLD_SIZE")) > 1) {
    dist_initialized = 0;
    return dist_fail(err, err_size,
                     "started by mpirun, but this ledge was built without MPI (install "
                     "libopenmpi-dev and rebuild)");
  }
  return LEDGE_OK;
#endif
}

int train_dist_rank(void) { return dist_rank; }
int train_dist_size(void) { return dist_size; }

/* MPI counts are ints: big buffers go in chunks. */
#define DIST_CHUNK ((size_t)1 << 28)

ledge_status train_dist_allreduce_mean(float *buf, size_t n, char *err, size_t err_size) {
  if (dist_size == 1) return LEDGE_OK;
#ifdef LEDGE_HAVE_MPI
  for (size_t off = 0; off < n; off += DIST_CHUNK) {
    size_t count = n - off < DIST_CHUNK ? n - off : DIST_CHUNK;
    ledge_status st = mpi_check(
        MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
        "allreduce", err, err_size);
    if (st) return st;
  }
  const float scale = 1.0f / (float)dist_size;
  for (size_t i = 0; i < n; i++) buf[i] *= scale;
  return LEDGE_OK;
#else
  (void)buf;
  (void)n;
  return dist_fail(err, err_size, "no MPI in this build");
#endif
}

ledge_status train_dist_allreduce_sum(double *buf, size_t n, char *err, size_t err_size) {
  if (dist_size == 1) return LEDGE_OK;
#ifdef LEDGE_HAVE_MPI
  for (size_t off = 0; off < n; off += DIST_CHUNK) {
    size_t count = n - off < DIST_CHUNK ? n - off : DIST_CHUNK;
    ledge_status st = mpi_check(
        MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
        "allreduce", err, err_size);
    if (st) return st;
  }
  return LEDGE_OK;
#else
  (void)buf;
  (void)n;
  return dist_fail(err, err_size, "no MPI in this build");
#endif
}

ledge_status train_dist_broadcast(void *buf, size_t bytes, int root, char *err, size_t err_size) {
  if (root < 0 || root >= dist_size)
    return dist_fail(err, err_size, "broadcast root %d is not a rank (world of %d)", root,
                     dist_size);
  if (dist_size == 1) return LEDGE_OK;
#ifdef LEDGE_HAVE_MPI
  for (size_t off = 0; off < bytes; off += DIST_CHUNK) {
    size_t count = bytes - off < DIST_CHUNK ? bytes - off : DIST_CHUNK;
    ledge_status st =
        mpi_check(MPI_Bcast((char *)buf + off, (int)count, MPI_BYTE, root, MPI_COMM_WORLD),
                  "broadcast", err, err_size);
    if (st) return st;
  }
  return LEDGE_OK;
#else
  (void)buf;
  (void)bytes;
  return dist_fail(err, err_size, "no MPI in this build");
#endif
}

ledge_status train_dist_barrier(char *err, size_t err_size) {
  if (dist_size == 1) return LEDGE_OK;
#ifdef LEDGE_HAVE_MPI
  return mpi_check(MPI_Barrier(MPI_COMM_WORLD), "barrier", err, err_size);
#else
  return dist_fail(err, err_size, "no MPI in this build");
#endif
}

void train_dist_finalize(void) {
#ifdef LEDGE_HAVE_MPI
  if (dist_mpi) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
#endif
  dist_mpi = 0;
  dist_initialized = 0;
  dist_rank = 0;
  dist_size = 1;
}
