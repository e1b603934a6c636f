/* job: one evfarm job on one communicator, from parsed options to the summary.  evf_run()
 * parses argv and calls it once; the sweep (sweep.c) calls it once per size and repetition on
 * sub-communicators and takes each summary through a callback. */
#ifndef EVF_JOB_H
#define EVF_JOB_H

#include <mpi.h>
#include <stdio.h>

#include "cli.h"
#include "stats.h"

/* Called on rank 0 of the job's communicator with the finished summary (valid during the call). */
typedef void (*evf_job_result_fn)(void *arg, const struct evf_options *opt,
                                  const struct evf_summary *s);

/* Run the job described by `opt` on `comm` (collective).  Rank 0 creates the --output/--json
 * files first (an unwritable path is bad input, agreed by every rank), prints the summary to
 * `out` unless opt->quiet, and messages to `err`.  Returns an enum evf_exit value, the same on
 * every rank. */
int evf_job_run(const struct evf_options *opt, MPI_Comm comm, FILE *out, FILE *err,
                evf_job_result_fn on_result, void *arg);

#endif
