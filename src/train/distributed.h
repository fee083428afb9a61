/*
 * train/distributed.h: data-parallel training over MPI (Open MPI): each
 * process (rank) trains on its shard of the data (train_loader's rank and
 * world_size) and the gradients are averaged across ranks after every step,
 * so that N ranks with batch b compute what one process with batch N*b
 * computes.
 *
 *   train_dist_init(&argc, &argv, err, sizeof err);   // MPI_Init only under mpirun
 *   ... loader options: rank = train_dist_rank(), world_size = train_dist_size()
 *   train_dist_broadcast(weights, bytes, 0);          // everyone starts from rank 0's weights
 *   each step: backward, then train_dist_allreduce_mean(grads, n), then the update
 *   train_dist_finalize();
 *
 * Without mpirun (or in a build without MPI) everything still works as a
 * world of one: rank 0, size 1, and the collectives return at once. MPI is
 * initialized only when the process was started by an MPI launcher
 * (OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_RANK in the environment), so that
 * a plain `ledge train` never pays for, nor depends on, an MPI runtime.
 *
 * Errors: MPI is set to return errors instead of aborting; a failed
 * collective is LEDGE_ERR_IO with MPI's message in err.
 *
 * Thread safety: call from one thread (the training loop) only; the state is
 * per process, as MPI's is.
 */
#ifndef LEDGE_TRAIN_DISTRIBUTED_H
#define LEDGE_TRAIN_DISTRIBUTED_H

#include <stddef.h>

#include "ledge/ledge.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 if this build can run over MPI. */
int train_dist_compiled(void);

/* Initializes MPI when launched by mpirun (argc/argv may be NULL); else a
 * world of one. Safe to call more than once. */
ledge_status train_dist_init(int *argc, char ***argv, char *err, size_t err_size);

/* This process's rank and the number of processes (0 and 1 without MPI). */
int train_dist_rank(void);
int train_dist_size(void);

/* In place: buf becomes the element-wise mean of every rank's buf (n floats,
 * the same n on every rank). */
ledge_status train_dist_allreduce_mean(float *buf, size_t n, char *err, size_t err_size);

/* In place: the element-wise sum over ranks, in double (metrics: loss sums,
 * correct counts, sample counts). */
ledge_status train_dist_allreduce_sum(double *buf, size_t n, char *err, size_t err_size);

/* Copies root's bytes to every rank (initial weights, a resumed checkpoint). */
ledge_status train_dist_broadcast(void *buf, size_t bytes, int root, char *err, size_t err_size);

/* Waits for every rank. */
ledge_status train_dist_barrier(char *err, size_t err_size);

/* Shuts MPI down if train_dist_init started it. */
void train_dist_finalize(void);

#ifdef __cplusplus
}
#endif

#endif /* LEDGE_TRAIN_DISTRIBUTED_H */
