/* Task kinds: each kind (sim, http; exec later) is one file exporting one const table of
 * functions.  The runner owns the scheduling, the records, the clock, the per-task deadline
 * (--timeout) and the retries (--retries); a kind plans a task's parameters, runs its I/O
 * phase on the loop, cancels it on demand, and runs its CPU phase on the loop thread. */
#ifndef EVF_TASK_H
#define EVF_TASK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "record.h"

struct ev_loop;
struct evf_task;

/* A turn at a host another rank owns (http: a redirect to a host name dealt to another rank),
 * asked of that rank, so the host's limits hold for the whole job there.  The channel carries
 * these between the kinds of two ranks (through rank 0, which knows every name's owner):
 * ASK (requester -> owner): `seq`, `url`, `robots_gen`;
 * ANSWER (owner -> requester): `seq`, `value` (enum evf_turn_answer), `ticket` (GRANT), the
 *   robots.txt fetch's status, curl code and `robots_gen` (NO_ROBOTS);
 * NOTE (requester -> owner, a granted turn): `seq`, `ticket`, `value` (enum evf_turn_note). */
enum evf_turn_type { EVF_TURN_ASK = 1, EVF_TURN_ANSWER, EVF_TURN_NOTE };
enum evf_turn_answer {
  EVF_TURN_GRANT = 1, /* go now: the request counts at the owner (its delay, its connections) */
  EVF_TURN_YOURS,     /* nobody owns the name: it is the requester's from now on */
  EVF_TURN_DISALLOWED,/* the host's robots.txt disallows the URL */
  EVF_TURN_NO_ROBOTS, /* the host's robots.txt could not be fetched (as a failed request) */
  EVF_TURN_GONE,      /* the owner's loop has ended (a drain, a failure) */
  EVF_TURN_HELD       /* not an end: the name's batch is not dealt yet, the answer comes when
                         it is (a rank whose tasks all wait so asks for batches) */
};
enum evf_turn_note {
  EVF_TURN_BEGUN = 1, /* the request went out: the host's next turn counts from now */
  EVF_TURN_SENT,      /* the granted request ended, after going out */
  EVF_TURN_UNSENT     /* the granted request ended without going out */
};
struct evf_turn {
  int type;           /* enum evf_turn_type */
  int requester;      /* the asking rank (the channel sets it) */
  int owner;          /* the owning rank (the channel sets it on an ANSWER) */
  uint32_t seq;       /* the requester's number of the turn */
  uint32_t ticket;    /* the owner's number of a granted turn */
  int value;
  int robots_http, robots_curl;
  uint32_t robots_gen; /* NO_ROBOTS: which of the host's robots.txt fetches failed; ASK: the
                          failed one that refused the task's last attempt, or 0 (the owner
                          fetches a failed robots.txt again only for a retry it refused, as
                          for its own tasks) */
  const char *url;    /* ASK */
};
/* Whether this rank's tasks ask turns of other ranks (more than one rank, hosts dealt), and
 * send one (from a loop callback; the channel copies it). */
int evf_turn_on(struct ev_loop *loop);
void evf_turn_send(struct ev_loop *loop, const struct evf_turn *m);

struct evf_task_kind {
  const char *name;
  size_t state_size;  /* bytes of private state per in-flight task (evf_task_state()) */
  size_t ext_size;    /* bytes of the kind's record extension (evf_task_ext()), a multiple of 8 */
  /* The --timeout deadline of an attempt starts when the kind calls evf_task_io_begun() (http:
   * curl has a connection; queueing for one and connecting have their own limits), not when
   * io_start() returns. */
  int deadline_on_begun;

  /* Name of the option whose file gives one input per task (a URL, a command), or NULL: the
   * tasks are then 1..--tasks.  Rank 0 reads the file (inputs.c) and sends each rank the
   * inputs of its tasks; evf_task_input() gives a task its own. */
  const char *input_option;
  const char *input_column;  /* its column in the records (rank 0 writes it from its list) */
  /* Is `line` a valid input for these options?  0, or nonzero with `why` (EVF_ERRMSG_LEN bytes)
   * set.  NULL: any. */
  int (*input_check)(const struct evf_options *opt, const char *line, char *why);
  /* Inputs grouped by a key (http: a URL's host name) whose tasks all go to one rank, so limits
   * per group hold for the whole job there (hostplan.h): grouped(opt) says whether (http: a
   * per-host limit applies), group_key() writes an input's key (its length; 0: none).  NULL:
   * never. */
  int (*grouped)(const struct evf_options *opt);
  size_t (*group_key)(const char *input, char *buf, size_t cap);
  /* Progress by group (http: hosts): queued() is told each task's input as the rank receives
   * it, groups() says how many groups of those have every task ended and how many have some
   * task started and not ended; group_name names them ("hosts").  NULL: none. */
  void (*queued)(void *shared, const char *input);
  void (*groups)(void *shared, uint64_t *done, uint64_t *active);
  const char *group_name;

  /* Fill the planned fields of `rec` (iterations, the I/O delay...) for task rec->id; a pure
   * function of the options and the id, so every rank count plans the same tasks.  May be NULL. */
  void (*plan)(const struct evf_options *opt, struct evf_record *rec);

  /* Per-rank set-up before t0 for `nslots` tasks in flight on `loop` (NULL: none): returns 0
   * and the kind's shared state in *shared, or an EVF_E* code with `msg` set.  close() releases
   * it after the loop has ended. */
  int (*open)(struct ev_loop *loop, const struct evf_options *opt, uint64_t nslots,
              void **shared, char *msg);
  void (*close)(void *shared);

  /* Start one attempt of the I/O phase of `t`.  On success return 0 and, later, call
   * evf_task_io_done() or evf_task_io_end() from a loop callback exactly once (unless the
   * attempt is cancelled).  On failure return a nonzero enum evf_status: the task ends with it,
   * and it is not retried. */
  int (*io_start)(struct evf_task *t);

  /* Stop the attempt in flight (its deadline passed): release what it holds (timers,
   * connections); io_done/io_end must then never be called for it.  NULL: the kind cannot be
   * cancelled, and --timeout is refused for it. */
  void (*cancel)(struct evf_task *t);

  /* Run the CPU phase on the loop thread; fill rec->value and the extension and return an enum
   * evf_status (the task's final status). */
  int (*cpu_run)(struct evf_task *t);

  /* The task's status is final after an attempt that ended (not after a failed io_start, a
   * cancel or a drain that leaves the task for --resume): keep what that attempt produced
   * (http: its request and response in the WARC files) and return the status to record, which
   * the kind may change (evf_task_fail() for a failure of the rank).  NULL: nothing kept. */
  int (*keep)(struct evf_task *t, int status);
  /* --resume, on rank 0 before any task runs: called with every record the journal holds (in
   * journal order), then once with rec NULL to repair what an earlier run that was killed left
   * (http: cut each WARC file left open after the last response a journaled record points at,
   * so no response is kept twice).  *ctx starts NULL and is the kind's; the NULL call frees it.
   * Returns 0, or an EVF_E* code with msg set; notes go to `err`.  NULL: nothing to repair. */
  int (*resume)(const struct evf_options *opt, void **ctx, const struct evf_record *rec,
                FILE *err, char *msg);
  /* After the loop has ended, on every rank: finish what the rank kept (http: close its WARC
   * file) and set its figures fig[0..EVF_KIND_FIGURES), summed over the ranks for the summary.
   * Returns 0, or an EVF_E* code with msg set.  NULL: nothing to finish. */
  int (*finish)(void *shared, uint64_t *fig, char *msg);
  /* After the loop, before finish(): a lower bound on the run's wall that the kind's own
   * limits set (http: a host's requests, at least its delay apart: (requests - 1) x delay, the
   * largest over this rank's hosts), seconds, and what sets it into what[0..cap) (NUL-ended);
   * the largest over the ranks goes into the summary's T_lb.  NULL: none. */
  double (*bound)(void *shared, char *what, size_t cap);
  /* Those figures summed over the ranks, in the summary: a line of text (ending in a newline),
   * and members of its JSON object (each starting with ",\n  "); NULL: none. */
  void (*summary_text)(FILE *out, const struct evf_options *opt, const uint64_t *fig);
  void (*summary_json)(FILE *out, const struct evf_options *opt, const uint64_t *fig);

  /* CPU seconds a record's task used off the loop, on the node's other cores (exec: its
   * child's user + system time), for the summary's bound; NULL: none. */
  double (*offloop_cpu)(const struct evf_record *rec);

  /* The extension's columns: the CSV header text appended after the common columns (starting
   * with a comma), and one record's fields in CSV (starting with a comma) or as JSON members
   * (starting with a comma).  NULL when ext_size is 0. */
  const char *csv_header;
  void (*write_ext)(FILE *fp, enum evf_format fmt, const struct evf_record *rec);
  /* Turns at another rank's host (struct evf_turn): a message for this rank's kind, and how
   * many turns it still owes other ranks (asked and not yet ended: the rank's loop must run
   * on while any is).  NULL: the kind never asks. */
  void (*turn)(void *shared, const struct evf_turn *m);
  uint64_t (*owed)(void *shared);
  /* Tasks whose turn rank 0 holds (EVF_TURN_HELD), without an answer yet. */
  uint64_t (*held)(void *shared);
};

/* How many figures a kind's finish() reports. */
#define EVF_KIND_FIGURES 8

/* Everything a kind may touch of an in-flight task. */
struct evf_task {
  struct evf_runner *runner;  /* owner; opaque to kinds */
  struct evf_record *rec;     /* this task's record, in the rank's record array */
};

/* The kind's private state of `t` (state_size bytes, max-aligned). */
void *evf_task_state(struct evf_task *t);
/* The record extension of `t` (ext_size bytes, 8-aligned). */
void *evf_task_ext(struct evf_task *t);
/* The extension of a record of this kind (records are struct evf_record + extension). */
static inline const void *evf_record_ext(const struct evf_record *rec)
{
  return (const void *)(rec + 1);
}
/* The kind's shared state (from open()), or NULL. */
void *evf_task_shared(struct evf_task *t);
/* The task's input line (kinds with an input_option), or NULL. */
const char *evf_task_input(struct evf_task *t);
/* The event loop the task runs on. */
struct ev_loop *evf_task_loop(struct evf_task *t);
/* The options of the job. */
const struct evf_options *evf_task_options(struct evf_task *t);

/* Report the end of an I/O attempt with an enum evf_status.  A failure the kind calls
 * `transient` is retried while attempts remain (--retries), after the backoff delay or
 * `retry_after` seconds (the server's Retry-After), whichever is longer; any other end runs the
 * CPU phase when the status is EVF_STATUS_OK, completes the record and may reuse `t` for the
 * next task before returning. */
void evf_task_io_end(struct evf_task *t, int status, int transient, double retry_after);
/* The attempt in flight has really begun (http: curl has a connection for it, after waiting
 * for one under --host-connections): its --timeout deadline counts from now.  Only the first
 * call of an attempt counts (curl calls back again at every redirect): one deadline covers
 * the attempt's every hop. */
void evf_task_io_begun(struct evf_task *t);
/* The attempt in flight waits again without a request on the wire (http: a redirect's next hop
 * waits for its host's turn): its deadline stops, and the next evf_task_io_begun() resumes it
 * with the time it had left. */
void evf_task_io_wait(struct evf_task *t);
/* evf_task_io_end(t, status, status is EVF_STATUS_IO_ERROR or EVF_STATUS_TIMEOUT, 0). */
void evf_task_io_done(struct evf_task *t, int status);

/* Make the records completed so far survive a kill of this process (the journal's buffer
 * written out) before the kind makes final something that they describe (http: a WARC file
 * closed and renamed). */
void evf_task_sync(struct evf_task *t);
/* A failure of the rank, not of one task (http: the WARC directory is full): said at once (the
 * job's fail callback), no task starts any more, those in flight end as not run, and the
 * runner's run returns `code` with `msg`.  From a loop callback; the first failure counts. */
void evf_task_fail(struct evf_task *t, int code, const char *msg);

/* For a kind's open(): make sure this rank may open `need` files for `nslots` tasks in flight
 * (`what`: "transfers", "commands"), raising the soft RLIMIT_NOFILE toward the hard one.
 * Returns 0, or EVF_EUSAGE with msg "--inflight: ... open files ...". */
int evf_task_reserve_files(uint64_t need, uint64_t nslots, const char *what, char *msg);

/* Size of one record of this kind (struct evf_record + ext_size). */
size_t evf_task_record_size(const struct evf_task_kind *k);

/* Registry: the kind called `name`, or NULL. */
const struct evf_task_kind *evf_task_kind_find(const char *name);
/* "sim, ..." for messages. */
const char *evf_task_kind_names(void);

extern const struct evf_task_kind evf_task_kind_sim;
extern const struct evf_task_kind evf_task_kind_http;
extern const struct evf_task_kind evf_task_kind_exec;

#endif
