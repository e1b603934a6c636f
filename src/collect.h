/* collect: rank 0's records of a run by task id, in a ring of two windows (--window), written to
 * the --output file in id order and folded into the summary as each window completes, so rank
 * 0's memory does not grow with the task count.  No MPI: the channel (chan.c) and rank 0's own
 * runner hand records in; run.c asks how far tasks may start (the limit: ids of at most two
 * windows are in flight or waiting, so a record always has its place). */
#ifndef EVF_COLLECT_H
#define EVF_COLLECT_H

#include <stddef.h>
#include <stdint.h>

#include "output.h"
#include "placement.h"
#include "record.h"
#include "stats.h"

struct evf_collect_config {
  uint32_t ntasks;                      /* ids 1..ntasks */
  uint64_t window;                      /* ids per window (>= 1) */
  size_t rec_size;
  int nranks;
  struct evf_recwriter *writer;         /* the --output file, or NULL */
  const char (*hosts)[EVF_HOST_LEN];    /* [nranks] node of each rank */
  const char *const *inputs;            /* [ntasks] input of each id, or NULL */
  struct evf_stats *stats;              /* every record is added, in id order */
};

/* Records in the ring for `ntasks` ids in windows of `window`: two windows, or every id when
 * that is no more. */
uint64_t evf_collect_ring_size(uint64_t ntasks, uint64_t window);

struct evf_collect;
/* NULL when out of memory.  `cfg` is copied. */
struct evf_collect *evf_collect_new(const struct evf_collect_config *cfg);
void evf_collect_free(struct evf_collect *c);
/* The ring: the record of id k lives at record (k - 1) % evf_collect_ring() (rank 0's runner
 * writes its own there). */
void *evf_collect_records(struct evf_collect *c);
uint64_t evf_collect_ring(const struct evf_collect *c);
/* A final record of this run (in the ring already, or copied there).  Returns 0, or -1 for an
 * id outside the ids that may run now, or one seen twice. */
int evf_collect_take(struct evf_collect *c, const struct evf_record *rec);
/* A record the journal holds, for an id this run does not run (one that came earlier is
 * replaced: journals are read in run order).  Returns 0, or -1 for an id outside the ids that
 * may run now, or one this run has a record of. */
int evf_collect_held(struct evf_collect *c, const struct evf_record *rec);
/* The window being written will get no more records (every gather of it taken, the loops
 * ended: a drained run's window, or records lost): write the records it has, in id order,
 * missing ids left out and counted, and go on to the next window.  Returns how many. */
uint64_t evf_collect_skip(struct evf_collect *c);
/* Ids left out by evf_collect_skip(). */
uint64_t evf_collect_missing(const struct evf_collect *c);
/* The ids of the window being written: *first..*last (none left: *first > ntasks). */
void evf_collect_window_of(const struct evf_collect *c, uint64_t *first, uint64_t *last);
/* Records written so far: this run's (they go into the stats), and the journal's that are not
 * ok. */
uint64_t evf_collect_ran(const struct evf_collect *c);
uint64_t evf_collect_held_failed(const struct evf_collect *c);
/* Write out (this run's added to the stats) up to `max` records of completed windows, in id order.
 * Returns how many. */
uint64_t evf_collect_step(struct evf_collect *c, uint64_t max);
/* The highest id that may start now: the end of the window after the one being written. */
uint64_t evf_collect_limit(const struct evf_collect *c);
/* Ids written so far (1..this). */
uint64_t evf_collect_written(const struct evf_collect *c);

#endif
