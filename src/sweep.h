/* sweep: the same workload at a series of sizes -- rank counts or node counts -- inside one
 * mpirun or allocation, by running evf_job_run() on sub-communicators of the first ranks (as
 * mdtest sweeps its first/last/stride sizes).  Warm-up rounds, then measured rounds, each
 * running every size (interleaved, so machine drift weighs on all sizes alike); strong
 * (fixed total tasks) or weak (fixed tasks per rank).  Rank 0 writes every run's summary to
 * PREFIX.json and one CSV row per measured run to PREFIX.csv. */
#ifndef EVF_SWEEP_H
#define EVF_SWEEP_H

#include <mpi.h>
#include <stdio.h>

/* The whole sweep program: argv as given to evfarm-sweep.  Collective over comm; returns an
 * enum evf_exit value, the same on every rank. */
int evf_sweep_run(int argc, char **argv, MPI_Comm comm, FILE *out, FILE *err);

#endif
