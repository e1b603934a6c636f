/* The runner: one libev loop on one rank running that rank's batches (and, under dynamic
 * scheduling, those its feed adds while it runs), at most `inflight` tasks at a time, each I/O
 * attempt under its deadline (--timeout), transient failures retried after a backoff
 * (--retries).  It knows nothing of MPI; it fills the rank's records and returns. */
#ifndef EVF_RUNNER_H
#define EVF_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "partition.h"
#include "record.h"
#include "task.h"

struct evf_options;

/* A rank's counts of its tasks. */
struct evf_runner_counts {
  uint64_t total;     /* tasks of this rank */
  uint64_t done;      /* with a final record */
  uint64_t failed;    /* of those, status not ok */
  uint64_t inflight;  /* started and not done (an attempt running, or waiting for its retry) */
  uint64_t groups_done, groups_active; /* the kind's groups() (http: hosts), or 0 */
};

/* Called from a loop timer every tick_interval seconds while tasks remain. */
typedef void (*evf_runner_tick_fn)(void *arg, const struct evf_runner_counts *c, double elapsed);

struct evf_runner;
/* Dynamic scheduling: the runner's only way to more work.  Called from the loop while the
 * runner is open: after a task ends whenever the runner is hungry (evf_runner_hungry), else at
 * most every feed_interval/2 seconds, and every feed_interval seconds from a timer (which keeps
 * an open runner's loop alive while it waits for batches: it sleeps between calls).  It may add
 * batches (evf_runner_add) or close the runner (evf_runner_close); it must not block. */
typedef void (*evf_runner_feed_fn)(void *arg, struct evf_runner *r);

struct evf_runner_config {
  const struct evf_task_kind *kind;
  const struct evf_options *opt;
  int rank;                   /* written into every record */
  uint32_t inflight;          /* most tasks in flight; 0 = all */
  double tick_interval;       /* seconds; 0 = no ticks */
  evf_runner_tick_fn tick;
  void *tick_arg;
  const char *const *inputs;  /* kinds with inputs: the input of the k-th initial task */
  const uint32_t *ids;        /* host-affine plans: the id of the k-th initial task (batches are
                                 ranges of positions, hostplan.h); NULL: ids are positions */
  evf_runner_feed_fn feed;    /* NULL: the initial batches are all (the runner starts closed) */
  void *feed_arg;
  double feed_interval;       /* seconds (> 0 with a feed) */
  uint64_t capacity;          /* with a feed: most records `records` holds */
  int by_id;                  /* the record of task id k goes to records[k - 1] (rank 0 with
                                 --journal: every record of the job by id), not in turn; with
                                 ring > 0 to records[(k - 1) % ring] (rank 0's window ring) */
  uint64_t ring;
  uint64_t limit;             /* the highest id that may start (0: any); evf_runner_set_limit()
                                 raises it */
  /* Called with every final record as it is completed (it goes to its window's part for the
   * gather, or to rank 0 on the channel with --journal), or NULL.
   * With `records` NULL the record lives in the task's slot and is valid only during the call. */
  void (*done)(void *arg, const struct evf_record *rec);
  void *done_arg;
  /* evf_task_sync(): make the records done so far survive a kill (NULL: nothing to do). */
  void (*sync)(void *arg);
  /* evf_task_fail(): the rank failed, say so now (NULL: said when the run returns). */
  void (*fail)(void *arg, int code, const char *msg);
  void *sync_arg;              /* for both */
  /* evf_turn_send(): a turn message to another rank (NULL: the kind asks none). */
  void (*turn)(void *arg, const struct evf_turn *m);
  void *turn_arg;
};

/* Everything a run needs, allocated before it starts (the task slots and the loop), so a rank
 * that cannot start says so before t0, not after the others' whole workload.  The tasks are
 * those of batches[0..nbatches), in order, then those of the batches the feed adds; the record
 * of the k-th (counting through the batches) goes to the k-th record of `records` (records of
 * evf_task_record_size(cfg->kind) bytes; by id with cfg->by_id), where it stays (a task's
 * record never moves); with `records` NULL, to its slot (cfg->done takes it from there).  `cfg`
 * and `records` must outlive the runner (the batches are copied).  Slots: --inflight, or with
 * 0 the most tasks the rank can have (mapped, used as needed).  The kind's open() runs here (an
 * http rank checks its open-file limit).
 * Returns the runner with *rc = 0, or NULL with *rc a negative EVF_E* code and `msg` set. */
struct evf_runner *evf_runner_new(const struct evf_runner_config *cfg,
                                  const struct evf_batch *batches, size_t nbatches,
                                  void *records, int *rc, char *msg);
/* Run every task until the runner is closed and every task added has a record; record times
 * are relative to t0 (evf_clock_now() at the start barrier).  Returns 0 when every task has a
 * record (whatever its status), or a negative EVF_E* code with `msg` set. */
int evf_runner_run(struct evf_runner *r, double t0, char *msg);
/* From the feed: more batches (inputs: one per task of them, in order, or NULL; they must
 * outlive the runner), started at once in free slots.  Returns 0, or EVF_ENOMEM with msg set
 * when they do not fit in cfg->capacity. */
int evf_runner_add(struct evf_runner *r, const struct evf_batch *batches, size_t n,
                   const char *const *inputs, const uint32_t *ids, char *msg);
/* No batch will be added: the loop ends when the tasks added have ended (and, with cfg->turn,
 * once released). */
void evf_runner_close(struct evf_runner *r);
/* With cfg->turn the runner is held from the start: its loop runs on after its tasks have
 * ended (a drain's too), serving other ranks' turns, until this. */
void evf_runner_release(struct evf_runner *r);
/* Stop early (a drain; called again, it may only shorten the grace): no task starts from now on (the batches' unstarted tasks get no
 * record), a task waiting for a retry ends at once, the I/O attempts in flight may end within
 * `grace` seconds (a transient failure is not retried) and are then cancelled; each task that
 * did not finish gets status not_run (the done callback sees it), and the runner is closed.
 * From the loop (a tick), or before evf_runner_run(). */
void evf_runner_drain(struct evf_runner *r, double grace);
int evf_runner_draining(const struct evf_runner *r);
/* Open, with at most as many tasks not yet started as it has slots (its low-water mark: a rank
 * asks for more while the tasks it holds can still keep every slot busy for one more round),
 * none of them held back by the limit. */
int evf_runner_hungry(struct evf_runner *r);
/* Let tasks with ids up to `limit` start (a limit only rises); while the next task waits for it,
 * the runner stays alive and its feed keeps being called, even once closed. */
void evf_runner_set_limit(struct evf_runner *r, uint64_t limit);
/* The backoff before retry `attempt` (1 = after the first failed attempt) of task `id`:
 * uniform in [0, min(delay * 2^(attempt-1), max_delay)), drawn from the generator's stream
 * EVF_STREAM_RETRY for (seed, id, attempt). */
double evf_runner_backoff(const struct evf_options *opt, uint32_t id, unsigned attempt);
/* After evf_runner_run(): the kind's finish() on this rank (0 when it has none), its figures
 * into fig[0..EVF_KIND_FIGURES) (zeroed first). */
int evf_runner_finish(struct evf_runner *r, uint64_t *fig, char *msg);
/* The kind's bound(), or 0 with what "" (not opened, or a kind without one). */
double evf_runner_bound(struct evf_runner *r, char *what, size_t cap);
/* A turn message for this rank's kind (from the channel). */
void evf_runner_turn(struct evf_runner *r, const struct evf_turn *m);
/* Turns the kind owes other ranks (0 without any). */
uint64_t evf_runner_owed(struct evf_runner *r);
/* Tasks waiting for a turn rank 0 holds (0 without any). */
uint64_t evf_runner_held_turns(struct evf_runner *r);
/* Tasks with a final record so far. */
uint64_t evf_runner_done(const struct evf_runner *r);
/* All the counts so far. */
struct evf_runner_counts evf_runner_counts(const struct evf_runner *r);
void evf_runner_free(struct evf_runner *r);
/* libev's version as "MAJOR.MINOR", the one linked in (ev_version_major/minor). */
void evf_runner_libev_version(char *buf, size_t len);

/* The allocator evfarm gives libev (ev_set_allocator): libev cannot handle a failed
 * allocation, so instead of libev's abort() it removes the temporary files, says which rank
 * ran out of memory, and ends the process with exit code 3. */
void *evf_runner_ev_realloc(void *ptr, long size);

#endif
