/* chan: the channel, the one way ranks talk while their loops run (src/chan.c; the collectives
 * are in comm.c).  The states of each side and their transitions are in docs/design.md. */
#ifndef EVF_CHAN_H
#define EVF_CHAN_H

#include <mpi.h>
#include <stddef.h>

#include "inputs.h"
#include "partition.h"

/* The channel: the one way ranks talk while their loops run, point-to-point messages on a
 * private duplicate of the communicator, sent and polled from loop watchers (never a collective
 * inside a loop, never a blocking wait for another rank's loop).
 * - Progress: every rank reports its counts (tasks done, failed, in flight) to rank 0, which
 *   sums the latest report of each.
 * - Dynamic scheduling: rank 0 holds the batches not yet dealt (the pool); a rank that runs low
 *   sends a request and gets the next batch (with its tasks' inputs) or, once the pool is empty,
 *   a close.  Rank 0 feeds itself from the pool without messages, and closes every rank as soon
 *   as the pool is empty, so no rank waits for an answer at the end.
 * After its loop every rank calls evf_chan_wait(): the others send a final report and read what
 * rank 0 sends up to its answer (BYE), rank 0 receives until it has every rank's, so no
 * message is left in flight either way. */
struct evf_chan;
struct evf_owners;
struct evf_turn;
struct evf_progress_counts {
  unsigned long long done;      /* tasks with a final record */
  unsigned long long failed;    /* of those, not ok */
  unsigned long long inflight;  /* started, not yet done (waiting for a retry included) */
  unsigned long long groups_done, groups_active; /* the kind's groups (http: hosts), or 0 */
};
/* Collective.  `total`: the job's task count.  `dynamic`: batches beyond the first share are
 * dealt from rank 0's `part` (a dynamic plan; rank 0 only; NULL elsewhere), with the inputs in
 * `inputs` (rank 0, kinds with an input file, by position; else NULL); both must outlive the
 * channel.  `ids` (every rank alike): a host-affine plan's deals carry each input's id.
 * `limit`: the highest id that may start at first (the same on every rank), `last_id` the
 * job's last: below it, rank 0 raises the limit with evf_chan_set_limit() (windows), and a rank
 * is closed only once it has the last limit.  `window`: ids per gathered window (gather.h): rank
 * 0 tells every open rank when a window more is wholly dealt (evf_chan_sealed_to); 0 for none.
 * NULL (on every rank) when a rank cannot allocate it. */
struct evf_chan *evf_chan_new(MPI_Comm comm, unsigned long long total, int dynamic,
                              const struct evf_partition *part, const struct evf_inputs *inputs,
                              int ids, unsigned long long limit, unsigned long long last_id,
                              unsigned long long window);
/* Rank 0: ids up to `limit` may start now; it goes to every rank from rank 0's polls.  Other
 * ranks read it with evf_chan_limit() (updated by evf_chan_feed). */
void evf_chan_set_limit(struct evf_chan *c, unsigned long long limit);
unsigned long long evf_chan_limit(const struct evf_chan *c);
/* No id up to this will be dealt to this rank any more (ULLONG_MAX once nothing more comes):
 * its part of a window that ends there is complete once its tasks in it end. */
unsigned long long evf_chan_sealed_to(const struct evf_chan *c);
/* The limit admits every id (always, without windows).  A rank closed before that drains: rank
 * 0 closes early only when its own loop failed. */
int evf_chan_all_admitted(const struct evf_chan *c);
/* The job-wide task count. */
unsigned long long evf_chan_total(const struct evf_chan *c);
/* From the progress tick: ranks other than 0 send their counts (unless their previous report is
 * still in flight); rank 0 takes in what arrived (and answers requests).  Returns the job-wide
 * counts as far as rank 0 knows (on other ranks, their own). */
struct evf_progress_counts evf_chan_update(struct evf_chan *c,
                                           const struct evf_progress_counts *mine);
/* Another rank: send its counts now, unless its previous report is still in flight (returns 0
 * then, 1 when sent): --max-fails sends each new failure count as it comes. */
int evf_chan_report(struct evf_chan *c, const struct evf_progress_counts *mine);
/* From the runner's feed, never blocking.  Rank 0 answers the requests that arrived and, when
 * `hungry`, takes the next batch for itself.  Another rank reads a deal or its close if one
 * came, and when `hungry` and nothing is outstanding, asks.  Returns 1 with *batch, *inputs
 * (one per task, or NULL) and *ids (each task's id with a host-affine plan, else NULL; both
 * valid until evf_chan_free) set, 0 for nothing yet, -1 once closed:
 * nothing more will come. */
int evf_chan_feed(struct evf_chan *c, const struct evf_progress_counts *mine, int hungry,
                  struct evf_batch *batch, const char *const **inputs, const uint32_t **ids);
/* After the loop, on every rank.  Other ranks send their final report and return 1.  Rank 0
 * receives reports until every other rank's final one is in (returns 1) or the clock passes
 * `until` (returns 0: print the counts so far, and call again), sleeping between polls; *all
 * gets the job-wide counts. */
int evf_chan_wait(struct evf_chan *c, const struct evf_progress_counts *mine, double until,
                  struct evf_progress_counts *all);
/* A drain (--journal: SIGUSR1, SIGTERM, --max-fails): evf_chan_drain() on the rank that starts
 * it tells rank 0 (another rank) or every rank (rank 0, which also stops dealing);
 * evf_chan_drain_requested() polls for such an order (never blocks) and says whether this rank
 * must drain. */
void evf_chan_drain(struct evf_chan *c);
int evf_chan_drain_requested(struct evf_chan *c);
/* Rank 0, after evf_chan_wait() returned 1: what the dealing did. */
struct evf_chan_stats {
  unsigned long long deals;     /* batches dealt on request */
  unsigned long long requests;  /* requests received */
  double max_latency;           /* the worst time a rank waited from a request to the answer */
  const int *owner;             /* dynamic: the rank of every batch (until evf_chan_free) */
};
void evf_chan_stats(const struct evf_chan *c, struct evf_chan_stats *s);
/* Turns at another rank's host (task.h's struct evf_turn), when a rank's kind asks them: every
 * ASK goes to rank 0, which finds the host name's owner in `owners` (rank 0's; NULL elsewhere;
 * the channel frees it) and passes it on, holds it while the name's batch is still in the pool,
 * or answers YOURS (a name no task has) or GONE (the owner's loop has ended); ANSWERs and
 * NOTEs go back and forth through rank 0 the same way.  A rank's loop then ends only when
 * rank 0 says so (evf_chan_ended): once every rank is idle (evf_chan_idle: nothing more dealt,
 * no task left, no turn owed) and no turn is open, so a rank serves the others' turns at its
 * hosts until none can come.  Call on every rank before the loops, or never. */
void evf_chan_serve(struct evf_chan *c, struct evf_owners *owners);
/* From the kind (through the runner): a turn message to the rank it names (the channel sets
 * the requester of an ASK and the owner of an ANSWER). */
void evf_chan_turn_send(struct evf_chan *c, const struct evf_turn *m);
/* The next turn message for this rank's kind: 1 with *m set (its url valid until the next
 * call), 0 when none has come. */
int evf_chan_turn_next(struct evf_chan *c, struct evf_turn *m);
/* From the feed: whether this rank is idle now (its feed closed, every task ended, no turn
 * owed and none waiting in evf_chan_turn_next). */
void evf_chan_idle(struct evf_chan *c, int idle);
/* Rank 0 has said every rank is idle and no turn is open: the loops may end. */
int evf_chan_ended(const struct evf_chan *c);
/* After evf_chan_wait() returned 1 (every rank): release. */
void evf_chan_free(struct evf_chan *c);

#endif
