/* evfarm: run many I/O-bound tasks with one libev event loop per MPI rank.
 *
 * The whole program is one call, so tests (and other programs) can run a job on any
 * communicator and capture its output.  main() is a thin wrapper around evf_run(). */
#ifndef EVFARM_EVFARM_H
#define EVFARM_EVFARM_H

#include <stdio.h>
#include <mpi.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Exit codes of evf_run() and of the evfarm program. */
enum evf_exit {
  EVF_EXIT_OK = 0,        /* every task finished with status ok */
  EVF_EXIT_TASKS = 1,     /* the job ran, but at least one task failed */
  EVF_EXIT_USAGE = 2,     /* bad input: options, values or output files */
  EVF_EXIT_RUNTIME = 3,   /* the job could not run or its results could not be written */
  EVF_EXIT_DRAINED = 4    /* stopped early (SIGUSR1, SIGTERM or --max-fails) with --journal:
                             what finished is written and journaled; --resume goes on */
};

/* Run one evfarm job on `comm` with the command line argv[0..argc-1] (argv[0] is the program
 * name).  Every rank of `comm` must call it with the same arguments; it is collective.
 * Rank 0 writes the summary (or --help/--version) to `out` and messages to `err`; other ranks
 * write nothing.  Returns an enum evf_exit value, the same on every rank.  MPI must be
 * initialised; evf_run() never calls exit() or MPI_Abort(). */
int evf_run(int argc, char **argv, MPI_Comm comm, FILE *out, FILE *err);

/* The version string, e.g. "0.1.0". */
const char *evf_version(void);

/* What --version prints: "PROG VERSION", then the MPI library this process runs on (the first
 * line of MPI_Get_library_version) and the libev linked in -- what a bug report needs. */
void evf_print_version(FILE *out, const char *prog);

#ifdef __cplusplus
}
#endif
#endif
