/* comm: the blocking collectives (the channel is chan.c, the gathers of records gather.c; no
 * other module calls MPI).  Every function is collective over `comm` unless it
 * says otherwise; the rest of evfarm sees plain arrays. */
#ifndef EVF_COMM_H
#define EVF_COMM_H

#include <mpi.h>
#include <stddef.h>

#include "inputs.h"
#include "partition.h"
#include "placement.h"
#include "record.h"
#include "stats.h"

int evf_comm_rank(MPI_Comm comm);   /* not collective */
int evf_comm_size(MPI_Comm comm);   /* not collective */

/* A duplicate of `comm` with MPI_ERRORS_ARE_FATAL, for one job: its traffic never meets the
 * caller's, and a caller's MPI_ERRORS_RETURN cannot turn an MPI error into a silent one.
 * Release with evf_comm_free(). */
MPI_Comm evf_comm_dup_fatal(MPI_Comm comm);

/* MPI_Abort on *(MPI_Comm *)comm with `code`: every process of the job ends (for
 * evf_guard_on_fatal: a failure on one rank outside a collective). */
void evf_comm_abort(void *comm, int code);

/* All ranks agree on a status: returns the minimum of `status` over the ranks, so any error
 * (negative) anywhere wins over 0 and the most severe (most negative) error wins over others. */
int evf_comm_agree(MPI_Comm comm, int status);

/* The ranks of `comm` with member != 0, as a new communicator ordered by rank; MPI_COMM_NULL on
 * the others.  Release with evf_comm_free(). */
MPI_Comm evf_comm_subset(MPI_Comm comm, int member);
void evf_comm_free(MPI_Comm *comm);   /* not collective on a null communicator */

/* Every rank's node name, on every rank: `all` holds size * EVF_HOST_LEN bytes. */
void evf_comm_allgather_hosts(MPI_Comm comm, const char mine[EVF_HOST_LEN],
                              char (*all)[EVF_HOST_LEN]);

/* A barrier that sleeps while it waits (polling every 0.5 ms), so ranks idle during a sweep
 * step do not spin on cores the running ranks need. */
void evf_comm_quiet_barrier(MPI_Comm comm);

/* The first line of MPI_Get_library_version() (the MPI library this process runs on, e.g.
 * "Open MPI v4.1.4, ..." or "MPICH Version: 4.0.2"), blanks squeezed, into buf (len >= 8);
 * callable before MPI_Init. */
void evf_comm_library_version(char *buf, size_t len);

/* Broadcast an unsigned 64-bit count from rank 0. */
unsigned long long evf_comm_bcast_u64(MPI_Comm comm, unsigned long long value);
/* Broadcast an int from rank 0. */
int evf_comm_bcast_int(MPI_Comm comm, int value);
/* Rank 0's string of at most len - 1 bytes (buf holds len) to every rank. */
void evf_comm_bcast_str(MPI_Comm comm, char *buf, size_t len);
/* The sum of every rank's value, on every rank. */
unsigned long long evf_comm_sum_u64(MPI_Comm comm, unsigned long long value);

/* Scatter batch descriptors: rank 0 passes its partition `p`; every rank receives its batches
 * in *batches (malloc'ed, caller frees) and their number in *nbatches.  Rank 0 must already
 * have agreed with the others that `p` exists.  Returns 0 or EVF_ENOMEM (agreed on all ranks). */
int evf_comm_scatter_batches(MPI_Comm comm, const struct evf_partition *p,
                             struct evf_batch **batches, size_t *nbatches);

/* Barrier, then the common t0 of the run: the earliest read of CLOCK_MONOTONIC after the
 * barrier among the ranks that share rank 0's clock (the same kernel); a rank on another node
 * reads its own.  Collective. */
double evf_comm_start_clock(MPI_Comm comm);

/* Gather every rank's node name and CPU mask to rank 0, into `all` (size * EVF_HOST_LEN bytes)
 * and `all_masks` (size * EVF_CPUMASK_BYTES); both are unused on other ranks. */
void evf_comm_gather_hosts(MPI_Comm comm, const char mine[EVF_HOST_LEN],
                           const unsigned char mask[EVF_CPUMASK_BYTES], char (*all)[EVF_HOST_LEN],
                           unsigned char (*all_masks)[EVF_CPUMASK_BYTES]);

/* Send every rank the inputs of its own tasks (kinds with an input file): rank 0 passes the
 * whole list `all` (by position) and its partition `p`; every rank passes its batches and
 * receives in *mine one input per task, in the order of its records (rank 0's point into
 * `all`), with its id when `ids` (a host-affine plan: every rank passes the same).  Returns 0,
 * or an EVF_E* code agreed on every rank. */
int evf_comm_scatter_inputs(MPI_Comm comm, const struct evf_partition *p,
                            const struct evf_inputs *all, const struct evf_batch *batches,
                            size_t nbatches, int ids, struct evf_inputs *mine);

/* Collective: v[0..n) summed over the ranks, in place on every rank. */
void evf_comm_sum_u64s(MPI_Comm comm, uint64_t *v, int n);
/* Collective: the largest `value` over the ranks, and the `name` (cap bytes, NUL-ended) of the
 * rank that has it (the lowest such rank) into every rank's `name`. */
double evf_comm_max_named(MPI_Comm comm, double value, char *name, size_t cap);
/* Collective: the largest value of any rank's, on every rank. */
double evf_comm_max_double(MPI_Comm comm, double value);
/* Collective: every rank's value into all[rank] on rank 0 (all: NULL elsewhere). */
void evf_comm_gather_u64(MPI_Comm comm, unsigned long long value, unsigned long long *all);

/* Collective: every rank's summary sums (stats.c) into rank 0's -- counts and sums summed,
 * maxima taken, the CPU work per distinct delay added -- so the summary and the lower bound of
 * records written by many ranks are made on rank 0 from reductions, not from the records.
 * Returns 0 or EVF_ENOMEM (the same on every rank for the first part). */
int evf_comm_reduce_stats(MPI_Comm comm, struct evf_stats *a);

#endif
