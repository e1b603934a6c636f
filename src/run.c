/* evf_run() and evf_job_run(): one whole job on one communicator (a private duplicate of it).
 * The sequence is parse -> agree -> open files -> agree -> partition -> scatter -> allocate
 * loops -> agree -> barrier/t0 -> each rank's loop, its records gathered to rank 0 a window at a
 * time (gather.c; with --journal they stream on the channel), rank 0 writing completed windows
 * -> agree -> rank 0 writes the rest, then prints.  Every branch
 * that could differ between ranks is preceded by evf_comm_agree(), so ranks never diverge. */
#define _DEFAULT_SOURCE
#include "evfarm/evfarm.h"

#include <inttypes.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <xxhash.h>

#include "clock.h"
#include "cli.h"
#include "collect.h"
#include "chan.h"
#include "comm.h"
#include "error.h"
#include "gather.h"
#include "guard.h"
#include "inputs.h"
#include "job.h"
#include "journal.h"
#include "output.h"
#include "partition.h"
#include "placement.h"
#include "progress.h"
#include "report.h"
#include "runner.h"
#include "stats.h"
#include "task.h"

const char *evf_version(void)
{
  return EVF_VERSION_STRING;
}

void evf_print_version(FILE *out, const char *prog)
{
  char mpi[512], ev[32];
  evf_comm_library_version(mpi, sizeof mpi);
  evf_runner_libev_version(ev, sizeof ev);
  fprintf(out, "%s %s\nMPI library: %s\nlibev: %s\n", prog, EVF_VERSION_STRING, mpi, ev);
}

struct progress {
  int rank;
  int show;                   /* print progress (--progress > 0) */
  struct evf_progress_view view; /* rank 0: what it shows (progress.c) */
  struct evf_chan *chan;      /* the channel: job-wide counts and dealing (chan.c) */
  char *msg;                  /* the job's message buffer */
  double last_take;           /* rank 0: when it last took a batch for itself */
  double iv, next_print;      /* progress every iv seconds: the next one at next_print */
  double tick_iv;             /* the runner's tick (iv, or shorter with --journal) */
  struct job *job;            /* where records go (their windows are gathered to rank 0) */
  int journal;                /* --journal */
};

static struct evf_progress_counts progress_mine(const struct evf_runner_counts *c)
{
  struct evf_progress_counts m = {c->done, c->failed, c->inflight};
  return m;
}

/* Every tick on every rank's loop: report this rank's counts; rank 0 prints the job's. */
static void journal_tick(struct job *j, double elapsed);

static void progress_tick(void *arg, const struct evf_runner_counts *c, double elapsed)
{
  struct progress *p = arg;
  if (p->journal)
    journal_tick(p->job, elapsed);
  if (!p->show || elapsed + p->tick_iv / 2 < p->next_print)
    return;
  p->next_print = p->iv * (floor((elapsed + p->tick_iv / 2) / p->iv) + 1);
  struct evf_progress_counts mine = progress_mine(c);
  struct evf_progress_counts all = evf_chan_update(p->chan, &mine);
  if (p->rank == 0)
    evf_progress_print(&p->view, &all, elapsed, 0);
}

/* Dynamic scheduling, from the runner: take what the channel deals (rank 0 from its pool, the
 * others from rank 0) while the runner is hungry; close it when nothing more will come.  Rank 0
 * takes one batch a call, and while it still has unstarted tasks at most one every
 * SELF_TAKE_GAP seconds, the pace at which it answers the others when busy: a rank that is
 * always hungry (--inflight 0 with --batch-size) must not empty the pool before the others have
 * asked.  Another rank loops once more after a deal, to ask again at once if hungry. */
#define SELF_TAKE_GAP 0.0005
static void stream_tick(struct job *j);
static void job_expect(struct job *j, const struct evf_batch *b);

static void feed(void *arg, struct evf_runner *r)
{
  struct progress *p = arg;
  if (p->job)
    stream_tick(p->job);
  for (;;) {
    struct evf_runner_counts c = evf_runner_counts(r);
    struct evf_progress_counts mine = progress_mine(&c);
    struct evf_batch b;
    const char *const *inputs = NULL;
    int hungry = evf_runner_hungry(r);
    double now = 0;
    if (p->rank == 0 && hungry && c.total - c.done - c.inflight > 0) {
      now = evf_clock_now();
      hungry = now - p->last_take >= SELF_TAKE_GAP;
    }
    int got = evf_chan_feed(p->chan, &mine, hungry, &b, &inputs);
    evf_runner_set_limit(r, evf_chan_limit(p->chan));
    /* Another rank closed before the last window opened: rank 0's loop failed.  Rank 0's own
     * pool running dry says nothing of the kind: its tasks beyond the limit start as windows
     * are written. */
    if (got < 0 && p->rank != 0 && !evf_chan_all_admitted(p->chan) && !evf_runner_draining(r))
      evf_runner_drain(r, 0);
    if (got < 0)
      evf_runner_close(r);
    if (got <= 0)
      return;
    if (evf_runner_add(r, &b, 1, inputs, p->msg))
      evf_guard_fatal(p->msg); /* more than N tasks dealt, or out of memory: a bug or no memory */
    if (p->job)
      job_expect(p->job, &b);
    if (p->rank == 0) {
      p->last_take = now ? now : evf_clock_now();
      return;
    }
  }
}

/* Everything a job holds, so one cleanup path releases it on every branch. */
struct job {
  MPI_Comm comm;                  /* the job's own duplicate of the caller's communicator */
  int rank, size;
  FILE *out, *err;
  struct evf_options opt;
  struct evf_outfile records_file, summary_file;
  struct evf_partition part;      /* rank 0 only */
  struct evf_batch *batches;      /* this rank's batches */
  size_t nbatches;
  const struct evf_task_kind *kind;
  void *records;                  /* rank 0 with --journal: all N by id (else the ring below;
                                     other ranks keep a record in its task's slot) */
  size_t rec_size;
  /* Without --journal: every rank's records come back to rank 0 window by window (gather.c),
   * where they go by id into a ring of two windows, written to --output and added to the
   * summary as each completes (collect.c). */
  struct evf_gather *gather;
  struct evf_collect *collect;
  struct evf_recwriter writer;
  struct evf_stats *stats;
  uint64_t window;                /* ids per window */
  uint64_t gather_window;         /* ids per gathered window: `window` when gated, else all */
  int gated;                      /* more ids than the ring: they start as windows are written */
  double output_s;                /* rank 0: seconds spent writing records */
  int dynamic;                    /* --schedule dynamic */
  struct evf_chan_stats sched;    /* rank 0: what the dealing did */
  struct evf_inputs inputs_all;   /* rank 0, kinds with an input file: every task's input */
  struct evf_inputs inputs;       /* this rank's tasks' inputs, in record order */
  char (*hosts)[EVF_HOST_LEN];    /* rank 0: the node name of every rank */
  unsigned char (*masks)[EVF_CPUMASK_BYTES]; /* rank 0: the CPU mask of every rank */
  int *cpus;                      /* rank 0: the CPUs the job may use on every rank's node */
  size_t nlocal;                  /* this rank's task count (dynamic: its first share) */
  size_t capacity;                /* most tasks this rank can run (dynamic: + the pool) */
  uint64_t ntodo;                 /* tasks this run (all N, less those a journal holds) */
  /* --journal.  Rank 0: `records` holds all N by id (record of id k at k-1), `have` says where
   * each came from (0 none, 1 the journal, 2 this run; its runner writes there by id); `runs`
   * is made at the end, for the summary, when not all N are this run's.  Other ranks: finished
   * records wait in `pend` until sent (at most JOURNAL_SEND_DELAY s). */
  struct evf_journal *journal;
  unsigned char *have;
  void *runs;
  uint64_t nruns, reused, torn;
  struct evf_journal_damage damage;
  char *pend;
  size_t npend;
  double pend_since, last_sync;
  int journal_failed;
  struct evf_chan *chan;
  volatile sig_atomic_t drain_signal; /* set by the guard: the first SIGUSR1/SIGTERM */
  uint64_t failed_now;            /* rank 0: failures of this run (--max-fails) */
  int draining;                   /* this rank drains */
  int term_drain;                 /* its grace is --term-grace (SIGTERM) */
  int partial;                    /* rank 0: some rank drained: not every id ran */
  struct evf_runner *runner;
  double t_enter, t0, wall;
  char msg[EVF_ERRMSG_LEN];
};

/* The default --window: rank 0's two windows of records take 2 x 64 MiB. */
#define EVF_WINDOW_BYTES (64u << 20)

static void job_free(struct job *j)
{
  evf_runner_free(j->runner);
  evf_recwriter_abandon(&j->writer);
  evf_outfile_discard(&j->records_file);
  evf_outfile_discard(&j->summary_file);
  evf_partition_free(&j->part);
  free(j->batches);
  free(j->records);
  evf_gather_free(j->gather);
  evf_collect_free(j->collect);
  evf_stats_free(j->stats);
  evf_journal_close(j->journal, j->msg);
  if (j->opt.journal)
    evf_guard_drain(NULL, 0);
  free(j->have);
  free(j->runs);
  free(j->pend);
  evf_inputs_free(&j->inputs);
  evf_inputs_free(&j->inputs_all);
  free(j->hosts);
  free(j->masks);
  free(j->cpus);
  evf_comm_free(&j->comm);
}

/* Agree on `rc` across ranks.  On an agreed failure, the rank that has a message prints it
 * (for bad input only rank 0 speaks, since every rank saw the same arguments) and the exit
 * code is returned; 0 means carry on. */
static int agree_or_report(struct job *j, int rc, int rank0_only)
{
  int all = evf_comm_agree(j->comm, rc);
  if (all == 0)
    return 0;
  /* Bad input seen by several ranks (each checks its own limits): the lowest says it, once. */
  int speaker = all == EVF_EUSAGE && !rank0_only ? evf_comm_agree(j->comm, rc ? j->rank : j->size)
                                                 : j->rank;
  if (rc != 0 && (!rank0_only || j->rank == 0) && speaker == j->rank) {
    if (rc == EVF_EUSAGE)
      evf_errorf(j->err, "%s (try 'evfarm --help')", j->msg);
    else if (j->size > 1)
      evf_errorf(j->err, "rank %d: %s", j->rank, j->msg);
    else
      evf_errorf(j->err, "%s", j->msg);
  } else if (rc == 0 && j->rank == 0 && rank0_only) {
    evf_errorf(j->err, "another rank rejected the job: %s", evf_strerror(all));
  }
  return evf_error_exit_code(all);
}

int evf_run(int argc, char **argv, MPI_Comm comm, FILE *out, FILE *err)
{
  /* Even the agreement on the arguments happens on a duplicate: never on the caller's own. */
  struct job j = {.comm = evf_comm_dup_fatal(comm), .out = out, .err = err};
  j.rank = evf_comm_rank(j.comm);
  j.size = evf_comm_size(j.comm);

  /* Every rank parses the same arguments; they agree before anyone acts on the result. */
  enum evf_cli_action action;
  int rc = evf_cli_parse(argc, argv, &j.opt, &action, j.msg);
  int code = agree_or_report(&j, rc, 1);
  evf_comm_free(&j.comm);
  if (code)
    return code;
  if (action == EVF_CLI_RUN)
    return evf_job_run(&j.opt, comm, out, err, NULL, NULL);
  if (j.rank == 0) {
    if (action == EVF_CLI_HELP)
      evf_cli_usage(out);
    else
      evf_print_version(out, "evfarm");
    fflush(out);
  }
  return 0;
}

/* With --journal, records travel to rank 0 on the channel in batches of up to EVF_STREAM_BATCH,
 * at most JOURNAL_SEND_DELAY seconds after the first of them ended; rank 0 writes them out every
 * tick and fsyncs every JOURNAL_SYNC_EVERY seconds and at the end. */
#define JOURNAL_SEND_BATCH EVF_STREAM_BATCH
#define JOURNAL_SEND_DELAY 0.5
/* Rank 0 writes at most this many records of a completed window per turn of its loop (about
 * a millisecond), so its own tasks and the others' requests are not held up. */
#define WRITE_STEP 4096
#define JOURNAL_SYNC_EVERY 2.0
/* Seconds a drain started by SIGTERM has, past --term-grace, to end before it gives up: Open
 * MPI's mpirun sends SIGKILL 1 s after the SIGTERM it forwards. */
#define TERM_MARGIN 0.5
/* With --journal every rank ticks this often: a drain order (a signal, --max-fails, another
 * rank's) is acted on within a tick, and rank 0 takes failures in as they come. */
#define JOURNAL_TICK 0.02

/* Rank 0, --journal: a record of this run (its own, or streamed in from another rank). */
static void journal_take(struct job *j, const struct evf_record *rec)
{
  if (rec->id < 1 || rec->id > j->opt.tasks || j->have[rec->id - 1] == 2 || j->nruns == j->ntodo)
    evf_guard_fatal("a streamed record with an id out of range or seen twice");
  struct evf_record *at = evf_record_at(j->records, j->rec_size, rec->id - 1);
  if (at != rec) /* rank 0's own runner writes in place */
    memcpy(at, rec, j->rec_size);
  j->have[rec->id - 1] = 2;
  j->nruns++;
  j->failed_now += rec->status != EVF_STATUS_OK;
  if (!j->journal_failed && evf_journal_append(j->journal, rec, 1, j->msg)) {
    j->journal_failed = 1;
    evf_errorf(j->err, "%s", j->msg); /* said now; the run ends with exit 3 */
  }
}

static void journal_records_in(void *arg, const void *recs, size_t len)
{
  struct job *j = arg;
  for (size_t at = 0; at + j->rec_size <= len; at += j->rec_size)
    journal_take(j, (const struct evf_record *)(const void *)((const char *)recs + at));
}

/* Another rank: send what waits. */
static void journal_send(struct job *j)
{
  if (!j->npend)
    return;
  evf_chan_send_records(j->chan, j->pend, j->npend * j->rec_size);
  j->pend = NULL;
  j->npend = 0;
}

/* From the runner: every final record of this rank. */
static void journal_done(void *arg, const struct evf_record *rec)
{
  struct job *j = arg;
  if (rec->status == EVF_STATUS_NOT_RUN && j->opt.journal)
    return; /* cancelled by a drain: left for --resume, never journaled */
  if (j->rank == 0) {
    journal_take(j, rec);
    return;
  }
  if (!j->pend && !(j->pend = malloc(JOURNAL_SEND_BATCH * j->rec_size)))
    evf_guard_fatal("out of memory for records on their way to rank 0");
  if (j->npend == 0)
    j->pend_since = evf_clock_now();
  memcpy(j->pend + j->npend++ * j->rec_size, rec, j->rec_size);
  /* --max-fails counts failures at rank 0: a failure goes at once (with what waits before it),
   * not up to JOURNAL_SEND_DELAY later, so the drain starts at the count asked for. */
  if (j->npend == JOURNAL_SEND_BATCH || (j->opt.max_fails && rec->status != EVF_STATUS_OK))
    journal_send(j);
  else if (j->npend % 64 == 0) /* the messages on their way need this rank's calls to move */
    evf_chan_progress(j->chan);
}

/* From the runner, without --journal: every final record of this rank waits in its window's
 * part for the window's gather. */
static void gather_done(void *arg, const struct evf_record *rec)
{
  struct job *j = arg;
  if (evf_gather_put(j->gather, rec))
    evf_guard_fatal("a record for no task of this rank's open windows, or out of memory");
}

/* A dealt batch's tasks are this rank's: their windows wait for their records. */
static void job_expect(struct job *j, const struct evf_batch *b)
{
  if (j->gather && evf_gather_expect(j->gather, b))
    evf_guard_fatal("a dealt batch for a window already gathered, or out of memory");
}

/* Rank 0, without --journal: its own record, in its place in the ring already. */
static void collect_done(void *arg, const struct evf_record *rec)
{
  struct job *j = arg;
  if (evf_collect_take(j->collect, rec))
    evf_guard_fatal("a record with an id out of range or seen twice");
}

/* Rank 0: a gathered window's records go by id into the ring, once it has room for them (the
 * window before the one being written is complete). */
static int gather_take(void *arg, uint64_t w, const void *recs, size_t n)
{
  struct job *j = arg;
  uint64_t last = (w + 1) * j->gather_window;
  if ((last < j->opt.tasks ? last : j->opt.tasks) > evf_collect_limit(j->collect))
    return 1;
  for (size_t k = 0; k < n; k++)
    if (evf_collect_take(j->collect, evf_record_cat(recs, j->rec_size, k)))
      evf_guard_fatal("a gathered record with an id out of its window or seen twice");
  return 0;
}

/* Rank 0, windows: write what completed (at most `max` records) and let the next ids start. */
static void write_windows(struct job *j, struct evf_runner *r, uint64_t max)
{
  double t = evf_clock_now();
  uint64_t n = evf_collect_step(j->collect, max);
  if (n) {
    j->output_s += evf_clock_now() - t;
    uint64_t lim = evf_collect_limit(j->collect);
    if (r)
      evf_runner_set_limit(r, lim);
    if (j->chan)
      evf_chan_set_limit(j->chan, lim);
  }
}

/* From the feed (windows, or dynamic scheduling): every rank posts the parts of its windows
 * that are ready and moves the gathers on; with windows, rank 0 writes a step of a completed
 * window.  With --journal, another rank moves its record messages on. */
static void stream_tick(struct job *j)
{
  if (j->gather)
    evf_gather_poll(j->gather, evf_chan_sealed_to(j->chan), 0);
  else if (j->rank != 0)
    evf_chan_progress(j->chan);
  if (j->collect && j->gated)
    write_windows(j, j->runner, WRITE_STEP);
}

/* Start draining this rank (once): a signal here, an order from another rank, --max-fails. */
static void drain_check(struct job *j)
{
  if (j->draining) {
    if (j->drain_signal == SIGTERM && !j->term_drain) { /* the launcher's SIGKILL follows */
      j->term_drain = 1;
      evf_runner_drain(j->runner, j->opt.term_grace);
    }
    return;
  }
  const char *why = NULL;
  if (j->drain_signal)
    why = j->drain_signal == SIGUSR1 ? "SIGUSR1" : "SIGTERM";
  else if (j->rank == 0 && j->opt.max_fails && j->failed_now >= j->opt.max_fails)
    why = "--max-fails";
  else if (evf_chan_drain_requested(j->chan))
    why = "another rank's drain";
  if (!why)
    return;
  j->draining = 1;
  /* SIGTERM is followed by the launcher's SIGKILL (mpirun's 1 s later): that drain is short. */
  j->term_drain = j->drain_signal == SIGTERM;
  double grace = j->term_drain ? j->opt.term_grace : j->opt.grace;
  evf_runner_drain(j->runner, grace);
  evf_chan_drain(j->chan);
  if (j->rank == 0)
    evf_errorf(j->err, "draining (%s): no task starts; tasks in flight get %g s, then the "
                       "journal and the outputs get what finished (exit 4; --resume goes on)",
               why, grace);
}

static void journal_tick(struct job *j, double elapsed)
{
  drain_check(j);
  if (j->rank != 0) {
    if (j->npend && evf_clock_now() - j->pend_since >= JOURNAL_SEND_DELAY - JOURNAL_TICK)
      journal_send(j);
    return;
  }
  int durable = elapsed - j->last_sync >= JOURNAL_SYNC_EVERY;
  if (!j->journal_failed && evf_journal_flush(j->journal, durable, j->msg)) {
    j->journal_failed = 1;
    evf_errorf(j->err, "%s", j->msg);
  }
  if (durable)
    j->last_sync = elapsed;
}

/* Rank 0, right after t0: the run's frame in the journal (when it started, on which ranks
 * and nodes), so a reader can tell this run's records from earlier runs' (their times count
 * from another t0). */
static void journal_mark_run(struct job *j)
{
  int *node_of = malloc((size_t)j->size * sizeof *node_of);
  const char **names = malloc((size_t)j->size * sizeof *names);
  int nnodes = node_of && names ? evf_placement_group((const char(*)[EVF_HOST_LEN])j->hosts,
                                                      j->size, node_of)
                                : -1;
  int rc = 0;
  if (nnodes < 0) {
    rc = evf_seterr(j->msg, EVF_ENOMEM, "--journal: out of memory");
  } else {
    for (int r = 0, next = 0; r < j->size; r++)
      if (node_of[r] == next) /* nodes are numbered by their lowest rank */
        names[next++] = j->hosts[r];
    struct evf_slurm sl;
    evf_placement_slurm(&sl);
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    double ago = evf_clock_now() - j->t0;
    struct evf_journal_run run = {
      .t0_unix_ns = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec - (int64_t)(ago * 1e9),
      .ranks = (uint32_t)j->size,
      .nodes = (uint32_t)nnodes,
      .todo = j->ntodo,
      .held = j->reused,
      .node_of = node_of,
      .version = EVF_VERSION_STRING,
      .slurm_job = sl.job_id,
      .node_names = names,
    };
    rc = evf_journal_run(j->journal, &run, j->msg);
  }
  if (rc) {
    j->journal_failed = 1;
    evf_errorf(j->err, "%s", j->msg); /* said now; the run ends with exit 3 */
  }
  free(node_of);
  free(names);
}

/* The task set a journal belongs to: what decides every task's id and parameters. */
static int journal_header(const struct job *j, char *h, size_t n)
{
  const struct evf_options *o = &j->opt;
  int len = snprintf(h, n,
                     "kind=%s tasks=%" PRIu32 " seed=%" PRIu64 " io_min=%.17g io_max=%.17g "
                     "cpu_min=%" PRIu32 " cpu_max=%" PRIu32 " cpu_skew=%.17g fail_rate=%.17g "
                     "hang_rate=%.17g record_size=%zu",
                     o->kind, o->tasks, o->seed, o->io_min, o->io_max, o->cpu_min, o->cpu_max,
                     o->cpu_skew, o->fail_rate, o->hang_rate, j->rec_size);
  if (j->kind->input_option && len > 0 && (size_t)len < n)
    len += snprintf(h + len, n - (size_t)len, " inputs=%zu inputs_xxh3=%016llx", j->inputs_all.n,
                    (unsigned long long)XXH3_64bits(j->inputs_all.buf, j->inputs_all.len));
  if (o->command && len > 0 && (size_t)len < n)
    len += snprintf(h + len, n - (size_t)len, " command_xxh3=%016llx",
                    (unsigned long long)XXH3_64bits(o->command, strlen(o->command)));
  return len > 0 && (size_t)len < n ? 0 : EVF_EUSAGE;
}

/* Rank 0, reading a journal back: keep the record (a later one of an id wins). */
static void journal_read_one(void *arg, const struct evf_record *rec)
{
  struct job *j = arg;
  if (rec->id < 1 || rec->id > j->opt.tasks)
    return; /* cannot be ours: the header matched, so only damage could do this */
  memcpy(evf_record_at(j->records, j->rec_size, rec->id - 1), rec, j->rec_size);
  j->have[rec->id - 1] = 1;
}

/* 1c. --journal: rank 0 opens it (reading it back with --resume) before any work; the ids it
 * holds are not run again (those that failed are, with --retry-failed). */
static int job_open_journal(struct job *j)
{
  j->ntodo = j->opt.tasks;
  if (!j->opt.journal)
    return 0;
  /* SIGUSR1/SIGTERM drain instead of stopping; a SIGTERM drain gives up (and cleans up) if it
   * has not ended --term-grace + 0.5 s later, before the launcher's SIGKILL. */
  evf_guard_drain(&j->drain_signal, j->opt.term_grace + TERM_MARGIN);
  int rc = 0;
  if (j->rank == 0) {
    char header[1024];
    uint64_t nread = 0;
    size_t n = j->opt.tasks;
    j->have = calloc(n ? n : 1, 1);
    if (posix_memalign(&j->records, 64, (n ? n : 1) * j->rec_size) != 0)
      j->records = NULL;
    if (!j->have || !j->records)
      rc = evf_seterr(j->msg, EVF_ENOMEM, "cannot allocate %zu records", n);
    if (rc == 0 && journal_header(j, header, sizeof header))
      rc = evf_seterr(j->msg, EVF_EUSAGE, "--journal: the task set does not fit a header");
    if (rc == 0)
      rc = evf_journal_open(&j->journal, j->opt.journal, header, j->rec_size, j->opt.resume,
                            journal_read_one, j, &nread, &j->torn, &j->damage, j->msg);
    /* Said even with --quiet: records were lost, and their ids run again. */
    if (rc == 0 && j->damage.stretches)
      evf_errorf(j->err, "--journal: '%s': %llu damaged stretch%s of %llu bytes in all skipped "
                         "(the first at byte %llu: a frame whose hash, magic or size is wrong); "
                         "the valid frames after %s kept; the records lost run again",
                 evf_clip(j->opt.journal), (unsigned long long)j->damage.stretches,
                 j->damage.stretches == 1 ? "" : "es", (unsigned long long)j->damage.bytes,
                 (unsigned long long)j->damage.first_at, j->damage.stretches == 1 ? "it" : "them");
    if (rc == 0 && j->torn)
      evf_errorf(j->err, "--journal: '%s': a torn tail of %llu bytes cut (a run that ended "
                         "mid-write); its records run again",
                 evf_clip(j->opt.journal), (unsigned long long)j->torn);
    for (size_t i = 0; rc == 0 && i < n; i++) {
      if (j->have[i] && j->opt.retry_failed &&
          evf_record_cat(j->records, j->rec_size, i)->status != EVF_STATUS_OK)
        j->have[i] = 0;
      j->reused += j->have[i] != 0;
    }
    j->ntodo = n - j->reused;
  }
  int code = agree_or_report(j, rc, 1);
  if (code)
    return code;
  j->ntodo = evf_comm_bcast_u64(j->comm, j->ntodo);
  return 0;
}

/* Rank 0: the ids still to run, as ranges. */
static int todo_ranges(const struct job *j, struct evf_batch **out, size_t *n)
{
  size_t cap = 16, k = 0;
  struct evf_batch *r = malloc(cap * sizeof *r);
  for (uint32_t i = 0; r && i < j->opt.tasks; i++) {
    if (j->have[i])
      continue;
    if (k && r[k - 1].first_id + r[k - 1].count == i + 1) {
      r[k - 1].count++;
      continue;
    }
    if (k == cap) {
      struct evf_batch *g = realloc(r, 2 * cap * sizeof *g);
      if (!g) {
        free(r);
        r = NULL;
        break;
      }
      r = g;
      cap *= 2;
    }
    r[k] = (struct evf_batch){i + 1, 1, (uint32_t)k};
    k++;
  }
  *out = r;
  *n = k;
  return r ? 0 : EVF_ENOMEM;
}

/* 1. Rank 0 prepares the output files before any work: an unwritable path is bad input, and
 * so are two options naming one file however spelt (./r.csv, a link, a hard link). */
static int job_open_outputs(struct job *j)
{
  int rc = 0;
  if (j->rank == 0) {
    if (j->opt.output)
      rc = evf_outfile_open(&j->records_file, "--output", j->opt.output, j->msg);
    if (rc == 0 && j->opt.json)
      rc = evf_outfile_open(&j->summary_file, "--json", j->opt.json, j->msg);
    if (rc == 0 && j->records_file.fp && j->summary_file.fp &&
        evf_outfile_same(&j->records_file, &j->summary_file))
      rc = evf_seterr(j->msg, EVF_EUSAGE, "--json: '%s' is also the --output file ('%s')",
                      evf_clip(j->opt.json), evf_clip(j->opt.output));
  }
  return agree_or_report(j, rc, 1);
}

/* 1b. Kinds with an input file (--urls): rank 0 reads and checks it before any work (a bad line
 * is bad input naming FILE:LINE); its input count is the job's task count. */
static int job_load_inputs(struct job *j)
{
  if (!j->kind->input_option)
    return 0;
  int rc = 0;
  if (j->rank == 0)
    rc = evf_inputs_read(&j->inputs_all, j->opt.inputs_option, j->opt.inputs,
                         j->kind->input_check, &j->opt, j->msg);
  int code = agree_or_report(j, rc, 1);
  if (code)
    return code;
  j->opt.tasks = (uint32_t)evf_comm_bcast_u64(j->comm, j->inputs_all.n);
  return 0;
}

/* 2. Rank 0 partitions the ids and scatters each rank its batch descriptors; every rank
 * allocates its records, and rank 0 learns where every rank runs. */
static int job_distribute(struct job *j)
{
  /* Dynamic: the first share fills a rank's slots and its low-water reserve (2 x --inflight),
   * so it need not ask before its first tasks end. */
  uint64_t first_min = j->opt.inflight ? 2 * (uint64_t)j->opt.inflight : j->ntodo;
  int rc = 0;
  j->window = j->opt.window ? j->opt.window : EVF_WINDOW_BYTES / j->rec_size;
  j->gated = !j->opt.journal && evf_collect_ring_size(j->opt.tasks, j->window) < j->opt.tasks;
  if (j->rank == 0 && j->reused) { /* a resumed run: only the ids the journal lacks */
    struct evf_batch *ranges = NULL;
    size_t nranges = 0;
    rc = todo_ranges(j, &ranges, &nranges);
    if (rc == 0)
      rc = evf_partition_plan_ranges(&j->part, j->opt.tasks, ranges, nranges, j->size,
                                     j->opt.batch_size, j->dynamic, first_min);
    free(ranges);
  } else if (j->rank == 0 && !j->opt.journal && j->window < j->opt.tasks) {
    rc = evf_partition_plan_windows(&j->part, j->opt.tasks, j->window, j->size,
                                    j->opt.batch_size, j->dynamic, first_min);
  } else if (j->rank == 0) {
    rc = j->dynamic ? evf_partition_plan_dynamic(&j->part, j->opt.tasks, j->size,
                                                 j->opt.batch_size, first_min)
                    : evf_partition_plan(&j->part, j->opt.tasks, j->size, j->opt.batch_size);
  }
  if (rc)
    evf_seterr(j->msg, rc, "cannot partition %u tasks: %s", (unsigned)j->opt.tasks,
               evf_strerror(rc));
  int code = agree_or_report(j, rc, 0);
  if (code)
    return code;
  rc = evf_comm_scatter_batches(j->comm, &j->part, &j->batches, &j->nbatches);
  if (rc) {
    if (j->rank == 0)
      evf_errorf(j->err, "cannot receive batches: %s", evf_strerror(rc));
    return evf_error_exit_code(rc);
  }
  for (size_t b = 0; b < j->nbatches; b++)
    j->nlocal += j->batches[b].count;
  if (j->kind->input_option) {
    rc = evf_comm_scatter_inputs(j->comm, &j->part, &j->inputs_all, j->batches, j->nbatches,
                                 &j->inputs);
    if (rc) {
      if (j->rank == 0)
        evf_errorf(j->err, "cannot send the tasks' inputs: %s", evf_strerror(rc));
      return evf_error_exit_code(rc);
    }
  }
  /* Dynamic: a rank may be dealt its first share and, at most, the whole pool. */
  uint64_t pool = 0;
  if (j->dynamic) {
    uint64_t first = 0;
    for (int r = 0; j->rank == 0 && r < j->size; r++)
      first += j->part.task_count[r];
    pool = evf_comm_bcast_u64(j->comm, j->rank == 0 ? j->ntodo - first : 0);
  }
  j->capacity = j->nlocal + pool;
  /* Records: rank 0 keeps them by id (all N with --journal, else a ring of two windows, written
   * out as windows complete); other ranks keep each in its task's slot until it is sent. */
  rc = 0;
  if (j->journal) {
    j->capacity = j->opt.tasks; /* rank 0's runner writes by id into the journal's array */
  } else if (j->rank == 0) {
    j->stats = evf_stats_new(j->size, j->kind->offloop_cpu);
    rc = j->stats ? 0 : EVF_ENOMEM;
    if (rc == 0 && j->records_file.fp)
      rc = evf_recwriter_init(&j->writer, j->records_file.fp, j->opt.format, j->kind);
    if (rc)
      evf_seterr(j->msg, rc, "out of memory");
  }
  if (j->rank == 0) {
    j->hosts = calloc((size_t)j->size, EVF_HOST_LEN);
    j->masks = calloc((size_t)j->size, EVF_CPUMASK_BYTES);
    j->cpus = calloc((size_t)j->size, sizeof *j->cpus);
  }
  if (rc == 0 && j->rank == 0 && !(j->hosts && j->masks && j->cpus))
    rc = evf_seterr(j->msg, EVF_ENOMEM, "out of memory");
  if ((code = agree_or_report(j, rc, 0)))
    return code;
  char host[EVF_HOST_LEN];
  unsigned char mask[EVF_CPUMASK_BYTES];
  evf_placement_host(host);
  evf_placement_cpumask(mask);
  evf_comm_gather_hosts(j->comm, host, mask, j->hosts, j->masks);
  if (j->rank == 0 && !j->journal) { /* hosts known: records can be written as they come */
    struct evf_collect_config cc = {
      .ntasks = j->opt.tasks,
      .window = j->window,
      .rec_size = j->rec_size,
      .nranks = j->size,
      .writer = j->records_file.fp ? &j->writer : NULL,
      .hosts = (const char(*)[EVF_HOST_LEN])j->hosts,
      .inputs = j->kind->input_option ? j->inputs_all.line : NULL,
      .stats = j->stats,
    };
    j->collect = evf_collect_new(&cc);
    rc = j->collect ? 0
                    : evf_seterr(j->msg, EVF_ENOMEM, "cannot allocate %llu records (--window)",
                                 (unsigned long long)evf_collect_ring_size(j->opt.tasks,
                                                                           j->window));
    if (rc == 0 && j->writer.buf)
      evf_recwriter_header(&j->writer);
  }
  if ((code = agree_or_report(j, rc, 0)) || j->opt.journal)
    return code;
  /* The records come back window by window: those of the ring's windows when ids are gated,
   * else all in one window, one gather at the end; at most EVF_GATHER_MAX_WINDOW ids (any size
   * up to the ring's fits it: a gathered window is placed once every id of it may run). */
  j->gather_window = j->gated ? j->window : (j->opt.tasks ? j->opt.tasks : 1);
  if (j->gather_window > EVF_GATHER_MAX_WINDOW)
    j->gather_window = EVF_GATHER_MAX_WINDOW;
  j->gather = evf_gather_new(j->comm, j->rec_size, j->opt.tasks, j->gather_window, gather_take, j);
  rc = j->gather ? 0 : evf_seterr(j->msg, EVF_ENOMEM, "cannot allocate the gathers of records");
  for (size_t b = 0; rc == 0 && b < j->nbatches; b++)
    if (evf_gather_expect(j->gather, &j->batches[b]))
      rc = evf_seterr(j->msg, EVF_ENOMEM, "cannot allocate the gathers of records");
  return agree_or_report(j, rc, 0);
}

/* 3. The run: every rank allocates its loop and slots, the ranks agree that all could (a rank
 * that cannot start is reported now, not after the others' whole workload), then t0 after a
 * barrier, one event loop per rank, progress across them.  Rank 0 keeps printing progress
 * after its own loop ends, until every rank's loop has. */
static int job_run_loops(struct job *j)
{
  struct progress prog = {.rank = j->rank, .msg = j->msg, .view = {.err = j->err}};
  uint64_t limit0 = j->gated ? evf_collect_ring_size(j->opt.tasks, j->window) : 0;
  struct evf_runner_config cfg = {
    .kind = j->kind,
    .inputs = j->kind->input_option ? j->inputs.line : NULL,
    .opt = &j->opt,
    .rank = j->rank,
    .inflight = j->opt.inflight,
    .tick = progress_tick,
    .tick_arg = &prog,
    .feed = j->dynamic || j->gated ? feed : NULL,
    .feed_arg = &prog,
    .feed_interval = 0.001,
    .capacity = j->capacity,
    /* Rank 0's runner writes its own records by id (into the ring of windows, or with
     * --journal all N); another rank's wait for their window's gather (with --journal they
     * stream to rank 0) */
    .done = j->opt.journal ? journal_done : j->rank == 0 ? collect_done : gather_done,
    .done_arg = j,
    .by_id = j->rank == 0,
    .ring = j->collect ? evf_collect_ring(j->collect) : 0,
    .limit = limit0,
  };
  int rc;
  void *records = j->rank != 0 ? NULL : j->collect ? evf_collect_records(j->collect) : j->records;
  j->runner = evf_runner_new(&cfg, j->batches, j->nbatches, records, &rc, j->msg);
  int code = agree_or_report(j, rc, 0);
  if (code)
    return code;
  prog.show = j->opt.progress > 0;
  prog.chan = evf_chan_new(j->comm, j->ntodo, j->dynamic, &j->part,
                           j->kind->input_option ? &j->inputs_all : NULL,
                           j->gated ? limit0 : j->opt.tasks, j->opt.tasks,
                           j->gather ? j->gather_window : 0);
  rc = prog.chan ? 0 : evf_seterr(j->msg, EVF_ENOMEM, "cannot allocate the channel");
  if ((code = agree_or_report(j, rc, 0)))
    return code;
  j->chan = prog.chan;
  prog.view.total = j->ntodo;
  prog.job = j;
  prog.journal = j->opt.journal != NULL;
  if (j->rank == 0 && j->opt.journal)
    evf_chan_on_records(prog.chan, journal_records_in, j);
  if (prog.show) {
    /* Rank 0 decides how it shows progress; every rank ticks at the interval that needs. */
    int bar = j->opt.progress_style == EVF_PROGRESS_BAR ||
              (j->opt.progress_style == EVF_PROGRESS_AUTO && isatty(fileno(j->err)));
    prog.view.bar = evf_comm_bcast_int(j->comm, j->rank == 0 ? bar : 0);
  }
  double iv = !prog.show ? INFINITY
              : prog.view.bar && j->opt.progress > EVF_PROGRESS_BAR_INTERVAL
                  ? EVF_PROGRESS_BAR_INTERVAL
                  : j->opt.progress;
  prog.iv = iv;
  prog.next_print = iv;
  cfg.tick_interval = prog.show ? iv : 0;
  if (prog.journal && !(cfg.tick_interval > 0 && cfg.tick_interval <= JOURNAL_TICK))
    cfg.tick_interval = JOURNAL_TICK; /* records on their way within JOURNAL_SEND_DELAY */
  prog.tick_iv = cfg.tick_interval;
  j->t0 = evf_comm_start_clock(j->comm);
  if (j->rank == 0 && j->journal)
    journal_mark_run(j);
  /* For the tests of what a fatal error on one rank does to the others (they must not wait
   * forever): EVFARM_TEST_FATAL=R makes rank R fail right after t0. */
  const char *fatal = getenv("EVFARM_TEST_FATAL");
  if (fatal && *fatal && atoi(fatal) == j->rank)
    evf_guard_fatal("EVFARM_TEST_FATAL: a fatal error on this rank, as a test asked");
  rc = evf_runner_run(j->runner, j->t0, j->msg);
  if (j->rank != 0 && j->opt.journal)
    journal_send(j); /* the last records go before the final report */
  /* The loop ended: every window not yet posted goes now, with what it has (a failed loop's
   * tasks may lack records: the ranks still match every gather, and rank 0 says what is
   * missing). */
  if (j->gather)
    evf_gather_poll(j->gather, UINT64_MAX, 1);
  struct evf_runner_counts rc_counts = evf_runner_counts(j->runner);
  struct evf_progress_counts mine = progress_mine(&rc_counts), all = mine;
  int chan_done = 0;
  for (;;) {
    double now = evf_clock_now();
    double until = prog.show ? j->t0 + iv * (floor((now - j->t0) / iv) + 1) : INFINITY;
    int gathering = j->gather && !evf_gather_done(j->gather);
    /* Windows and gathers: rank 0 writes and moves the gathers on between polls, and every
     * write may let more ids start. */
    if ((j->gated || gathering) && j->rank == 0 && until > now + 0.001)
      until = now + 0.001;
    if (!chan_done)
      chan_done = evf_chan_wait(prog.chan, &mine, until, &all);
    if (gathering) {
      evf_gather_poll(j->gather, UINT64_MAX, 1);
      gathering = !evf_gather_done(j->gather);
    }
    if (j->gated && j->rank == 0)
      write_windows(j, NULL, WRITE_STEP * 4);
    if (chan_done && !gathering)
      break;
    if (chan_done) { /* the other ranks' parts are on their way: poll asleep */
      struct timespec ts = {0, 200000};
      nanosleep(&ts, NULL);
    }
    double print_at = j->t0 + iv * (floor((now - j->t0) / iv) + 1);
    if (j->rank == 0 && prog.show && evf_clock_now() >= print_at) /* a print time passed */
      evf_progress_print(&prog.view, &all, evf_clock_now() - j->t0, 0);
  }
  if (j->rank == 0 && prog.view.drawn) /* the bar's last state, and the line ended */
    evf_progress_print(&prog.view, &all, evf_clock_now() - j->t0, 1);
  if (j->rank == 0) {
    j->partial = j->opt.journal && (j->draining || evf_chan_drain_requested(prog.chan));
    evf_chan_stats(prog.chan, &j->sched);
    j->sched.owner = NULL;
  }
  evf_chan_free(prog.chan);
  j->chan = NULL;
  if (j->size > 1) {
    /* A rank whose loop ended waits for the others asleep, not spinning in MPI on a core that
     * another rank (or, for http, the server on the same node) needs. */
    evf_comm_quiet_barrier(j->comm);
  }
  return agree_or_report(j, rc, 0);
}

/* Rank 0: the summary from the records (`stats`, or the n records at `recs`), with placement
 * and process figures. */
static int job_summarise(struct job *j, struct evf_summary *s, const void *recs, size_t n,
                         struct evf_stats *stats)
{
  struct evf_stats *own = NULL;
  if (!stats) {
    stats = own = evf_stats_new(j->size, j->kind->offloop_cpu);
    for (size_t i = 0; own && i < n; i++)
      evf_stats_add(own, evf_record_cat(recs, j->rec_size, i));
  }
  int rc = stats ? evf_summary_finish(s, stats, j->part.nbatches, j->wall) : EVF_ENOMEM;
  double offloop = stats ? evf_stats_offloop(stats) : 0;
  evf_stats_free(own);
  if (rc)
    return rc;
  s->output_s = j->output_s;
  s->window = j->opt.journal ? j->opt.tasks : j->window;
  s->output_bytes = j->writer.bytes + j->writer.len;
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    s->rank0_maxrss_kib = ru.ru_maxrss;
    s->rank0_process_cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
                           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
  }
  s->setup = j->t0 - j->t_enter;
  s->dynamic = j->dynamic;
  s->dealt = j->sched.deals;
  s->requests = j->sched.requests;
  s->max_request_latency = j->sched.max_latency;
  if (j->opt.journal) {
    s->journal = j->opt.journal;
    s->journal_appended = j->nruns;
    s->journal_resumed = j->reused;
    s->journal_torn = j->torn;
    s->journal_damaged = j->damage.bytes;
    s->partial = j->partial;
    s->not_run = j->ntodo - j->nruns;
  }
  int *node_of = malloc((size_t)j->size * sizeof *node_of);
  int nnodes = node_of ? evf_placement_group((const char(*)[EVF_HOST_LEN])j->hosts, j->size,
                                             node_of)
                       : -1;
  if (nnodes < 0 || evf_placement_node_cpus(node_of, nnodes, j->size,
                                            (const unsigned char(*)[EVF_CPUMASK_BYTES])j->masks,
                                            j->cpus) != 0) {
    free(node_of);
    evf_summary_free(s);
    return EVF_ENOMEM;
  }
  evf_summary_set_placement(s, (const char(*)[EVF_HOST_LEN])j->hosts, j->cpus);
  if (j->kind->offloop_cpu) {
    double cpu = offloop;
    int job_cpus = 0; /* each node's CPUs once (nodes are numbered by their lowest rank) */
    for (int r = 0, next = 0; r < j->size; r++)
      if (node_of[r] == next) {
        job_cpus += j->cpus[r];
        next++;
      }
    evf_summary_set_offloop(s, cpu, job_cpus);
  }
  free(node_of);
  evf_placement_slurm(&s->slurm);
  return 0;
}

/* Rank 0: write both files completely, then commit both (or neither). */
static int job_write(struct job *j, const struct evf_summary *s, int code)
{
  if (j->records_file.fp) {
    int rc = j->opt.journal /* records by id: the journal's and this run's */
                 ? evf_output_records(j->records_file.fp, j->opt.format, j->kind, j->records,
                                      j->opt.tasks, j->size,
                                      (const char(*)[EVF_HOST_LEN])j->hosts,
                                      j->kind->input_option ? j->inputs_all.line : NULL, j->have)
                 : evf_recwriter_free(&j->writer); /* written window by window */
    /* A writer that failed (out of memory, a write error) fails the file: it is never
     * committed without its records.  The reason is the system's (ENOSPC), not EIO. */
    if (rc && !j->records_file.err)
      j->records_file.err = rc == EVF_ENOMEM ? ENOMEM : errno ? errno : EIO;
    evf_outfile_check(&j->records_file);
  }
  if (j->summary_file.fp) {
    evf_report_json(j->summary_file.fp, &j->opt, s, code);
    evf_outfile_check(&j->summary_file);
  }
  struct evf_outfile *files[] = {&j->records_file, &j->summary_file};
  return evf_outfile_commit_all(files, 2, j->msg);
}

static int job_finish(struct job *j, evf_job_result_fn on_result, void *arg);

/* 4. Every record is at rank 0 once every rank's final report is (the records went before it):
 * the wall time ends there.  Rank 0 writes what remains of the windows.  5. Rank 0 summarises,
 * commits the files, and only then prints the summary (a reader that goes away cannot cost the
 * results).  Returns the job's exit code on rank 0. */
static int job_collect(struct job *j, evf_job_result_fn on_result, void *arg)
{
  j->wall = evf_clock_now() - j->t0;
  if (j->rank != 0)
    return 0;
  if (j->collect) {
    double t = evf_clock_now();
    evf_collect_step(j->collect, UINT64_MAX);
    j->output_s += evf_clock_now() - t;
    if (evf_collect_written(j->collect) != j->opt.tasks) {
      evf_errorf(j->err, "%llu of %llu records did not reach rank 0; no results written",
                 (unsigned long long)(j->opt.tasks - evf_collect_written(j->collect)),
                 (unsigned long long)j->opt.tasks);
      return EVF_EXIT_RUNTIME;
    }
  }
  return job_finish(j, on_result, arg);
}

/* Rank 0, every record in: check them (--journal), summarise, write, print. */
static int job_finish(struct job *j, evf_job_result_fn on_result, void *arg)
{
  const void *recs = j->records;
  size_t n = j->opt.tasks;
  uint64_t failed_earlier = 0;
  int rc = 0;
  if (j->opt.journal) {
    /* The summary is of this run's records: all N in place, or a copy of those that ran. */
    n = j->nruns;
    if (n != j->opt.tasks) {
      j->runs = malloc((n ? n : 1) * j->rec_size);
      if (!j->runs) {
        evf_errorf(j->err, "cannot summarise: out of memory; the journal has every record");
        return EVF_EXIT_RUNTIME;
      }
      for (size_t i = 0, k = 0; i < j->opt.tasks; i++)
        if (j->have[i] == 2)
          memcpy(evf_record_at(j->runs, j->rec_size, k++),
                 evf_record_cat(j->records, j->rec_size, i), j->rec_size);
      recs = j->runs;
    }
    if (j->nruns != j->ntodo && !j->partial)
      rc = evf_seterr(j->msg, EVF_ELOOP, "%llu of this run's %llu records did not reach rank 0",
                      (unsigned long long)(j->ntodo - j->nruns), (unsigned long long)j->ntodo);
    char jmsg[EVF_ERRMSG_LEN];
    if (evf_journal_close(j->journal, jmsg) || j->journal_failed) {
      evf_errorf(j->err, "%s", j->journal_failed ? "the journal is incomplete (see above)" : jmsg);
      j->journal_failed = 1;
    }
    j->journal = NULL;
    for (size_t i = 0; i < j->opt.tasks; i++)
      failed_earlier += j->have[i] == 1 &&
                        evf_record_cat(j->records, j->rec_size, i)->status != EVF_STATUS_OK;
    if (rc) {
      evf_errorf(j->err, "%s; no results written", j->msg);
      return EVF_EXIT_RUNTIME;
    }
  }
  struct evf_summary s;
  rc = job_summarise(j, &s, recs, n, j->stats);
  if (rc) {
    evf_errorf(j->err, "cannot summarise: %s", evf_strerror(rc));
    return EVF_EXIT_RUNTIME;
  }
  int code = s.failed || failed_earlier ? EVF_EXIT_TASKS : EVF_EXIT_OK;
  if (j->partial)
    code = EVF_EXIT_DRAINED;
  if (j->journal_failed)
    code = EVF_EXIT_RUNTIME;
  if (job_write(j, &s, code)) {
    evf_errorf(j->err, "%s; no results written", j->msg);
    code = EVF_EXIT_RUNTIME;
  }
  if (!j->opt.quiet)
    evf_report_text(j->out, &j->opt, &s);
  if (on_result)
    on_result(arg, &j->opt, &s);
  evf_summary_free(&s);
  return code;
}

int evf_job_run(const struct evf_options *opt, MPI_Comm comm, FILE *out, FILE *err,
                evf_job_result_fn on_result, void *arg)
{
  struct job j = {.out = out, .err = err, .opt = *opt};
  j.kind = evf_task_kind_find(opt->kind);
  j.dynamic = opt->schedule == EVF_SCHEDULE_DYNAMIC;
  j.rec_size = evf_task_record_size(j.kind);
  j.t_enter = evf_clock_now();
  j.comm = evf_comm_dup_fatal(comm);
  j.rank = evf_comm_rank(j.comm);
  j.size = evf_comm_size(j.comm);
  evf_guard_enter(j.rank);
  evf_guard_on_fatal(evf_comm_abort, &j.comm); /* a fatal error ends every rank */
  int code = job_open_outputs(&j);
  if (!code)
    code = job_load_inputs(&j);
  if (!code)
    code = job_open_journal(&j);
  if (!code)
    code = job_distribute(&j);
  if (!code)
    code = job_run_loops(&j);
  if (!code)
    code = evf_comm_bcast_int(j.comm, job_collect(&j, on_result, arg));
  evf_guard_on_fatal(NULL, NULL);
  job_free(&j);
  evf_guard_leave();
  return code;
}
