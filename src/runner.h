/* The runner: one libev loop on one rank running that rank's batches, at most `inflight` tasks
 * at a time.  It knows nothing of MPI; it fills the rank's records and returns. */
#ifndef EVF_RUNNER_H
#define EVF_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "partition.h"
#include "record.h"
#include "task.h"

struct evf_options;

/* Called from a loop timer every tick_interval seconds while tasks remain. */
typedef void (*evf_runner_tick_fn)(void *arg, uint64_t done, uint64_t total, double elapsed);

struct evf_runner_config {
  const struct evf_task_kind *kind;
  const struct evf_options *opt;
  int rank;                   /* written into every record */
  double t0;                  /* evf_clock_now() at the start barrier; record times are relative */
  uint32_t inflight;          /* most tasks in flight; 0 = all */
  double tick_interval;       /* seconds; 0 = no ticks */
  evf_runner_tick_fn tick;
  void *tick_arg;
};

/* Run the tasks of batches[0..nbatches) in order; the record of the k-th task (counting through
 * the batches) goes to records[k].  Returns 0 when every task has a record (whatever its
 * status), or a negative EVF_E* code with `msg` set. */
int evf_runner_run(const struct evf_runner_config *cfg, const struct evf_batch *batches,
                   size_t nbatches, struct evf_record *records, char *msg);

#endif
