/* evf_run() and evf_job_run(): one whole job on one communicator (a private duplicate of it):
 * its sequence, its inputs and outputs opened, the plan scattered, the loops with their progress
 * and dealing (the journal is job_journal.c, the records' way to the output job_results.c, the
 * end on rank 0 job_summary.c).  The sequence is parse -> agree -> open files -> agree -> partition -> scatter -> allocate
 * loops -> agree -> barrier/t0 -> each rank's loop, its records gathered to rank 0 a window at a
 * time (gather.c; with --journal each rank also appends them to its file), rank 0 writing
 * completed windows
 * -> agree -> rank 0 writes the rest, then prints.  Every branch
 * that could differ between ranks is preceded by evf_comm_agree(), so ranks never diverge. */
#define _DEFAULT_SOURCE
#include "evfarm/evfarm.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "chan.h"
#include "owners.h"
#include "clock.h"
#include "comm.h"
#include "gather.h"
#include "hostplan.h"
#include "guard.h"
#include "job_internal.h"
#include "progress.h"
#include "runner.h"

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
  int serve;                  /* turns at other ranks' hosts (evf_chan_serve): the runner is
                                 closed when rank 0 ends every loop, not when the feed is */
  int fed;                    /* nothing more will be dealt to this rank */
};

static struct evf_progress_counts progress_mine(const struct evf_runner_counts *c)
{
  struct evf_progress_counts m = {c->done, c->failed, c->inflight, c->groups_done,
                                  c->groups_active};
  return m;
}

/* Every tick on every rank's loop: report this rank's counts; rank 0 prints the job's. */
static void progress_tick(void *arg, const struct evf_runner_counts *c, double elapsed)
{
  struct progress *p = arg;
  struct evf_progress_counts mine = progress_mine(c);
  if (p->journal)
    evf_job_journal_tick(p->job, &mine, elapsed);
  if (!p->show || elapsed + p->tick_iv / 2 < p->next_print)
    return;
  p->next_print = p->iv * (floor((elapsed + p->tick_iv / 2) / p->iv) + 1);
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

/* Turns: the kind's messages from other ranks, then whether this rank is idle (nothing more
 * dealt, every task ended, no turn owed): once rank 0 has heard every rank is, the loops end. */
static void serve(struct progress *p, struct evf_runner *r)
{
  struct evf_turn m;
  while (evf_chan_turn_next(p->chan, &m))
    evf_runner_turn(r, &m);
  struct evf_runner_counts c = evf_runner_counts(r);
  evf_chan_idle(p->chan, (p->fed || evf_runner_draining(r)) && c.done == c.total &&
                            evf_runner_owed(r) == 0);
  if (evf_chan_ended(p->chan)) {
    evf_runner_close(r);
    evf_runner_release(r);
  }
}

static void feed(void *arg, struct evf_runner *r)
{
  struct progress *p = arg;
  if (p->job)
    evf_job_stream_tick(p->job);
  for (;;) {
    struct evf_runner_counts c = evf_runner_counts(r);
    struct evf_progress_counts mine = progress_mine(&c);
    struct evf_batch b;
    const char *const *inputs = NULL;
    const uint32_t *ids = NULL;
    int hungry = evf_runner_hungry(r);
    /* Every task in flight waits for a turn rank 0 holds until its host's batch is dealt: ask
     * for batches (the pool must run on), though they cannot start yet. */
    if (!hungry && p->serve && !p->fed && c.inflight > 0 &&
        evf_runner_held_turns(r) == c.inflight)
      hungry = 1;
    double now = 0;
    if (p->rank == 0 && hungry && c.total - c.done - c.inflight > 0) {
      now = evf_clock_now();
      hungry = now - p->last_take >= SELF_TAKE_GAP;
    }
    int got = evf_chan_feed(p->chan, &mine, hungry, &b, &inputs, &ids);
    evf_runner_set_limit(r, evf_chan_limit(p->chan));
    /* Another rank closed before the last window opened: rank 0's loop failed.  Rank 0's own
     * pool running dry says nothing of the kind: its tasks beyond the limit start as windows
     * are written. */
    if (got < 0 && p->rank != 0 && !evf_chan_all_admitted(p->chan) && !evf_runner_draining(r))
      evf_runner_drain(r, 0);
    if (got < 0) {
      p->fed = 1;
      if (!p->serve)
        evf_runner_close(r);
    }
    if (got <= 0)
      break;
    if (evf_runner_draining(r)) /* a deal that crossed the drain: its tasks stay for --resume */
      break;
    /* Expected before it is added: adding starts tasks, and one may end at once (an io_start
     * that fails, an http URL robots.txt disallows) with its record. */
    if (p->job)
      evf_job_expect(p->job, &b);
    if (evf_runner_add(r, &b, 1, inputs, ids, p->msg))
      evf_guard_fatal(p->msg); /* more than N tasks dealt, or out of memory: a bug or no memory */
    if (p->rank == 0) {
      p->last_take = now ? now : evf_clock_now();
      break;
    }
  }
  if (p->serve)
    serve(p, r);
}

/* evf_turn_send() from the kind: on the channel. */
static void job_turn(void *arg, const struct evf_turn *m)
{
  struct progress *p = arg;
  evf_chan_turn_send(p->chan, m);
}


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
  evf_gather_free(j->gather);
  evf_writers_free(j->writers);
  free(j->writer_bytes);
  evf_collect_free(j->collect);
  evf_stats_free(j->stats);
  evf_journal_close(j->journal, j->msg);
  evf_journal_reader_close(j->feed_rd);
  for (size_t f = 0; j->jindex && f < j->jdir.n; f++)
    free(j->jindex[f].c);
  free(j->jindex);
  evf_journal_dir_close(&j->jdir);
  if (j->opt.journal)
    evf_guard_drain(NULL, 0);
  free(j->held);
  free(j->jpath);
  evf_inputs_free(&j->inputs);
  evf_inputs_free(&j->inputs_pos);
  evf_inputs_free(&j->inputs_all);
  free(j->perm);
  free(j->hosts);
  free(j->masks);
  free(j->cpus);
  evf_comm_free(&j->comm);
}

/* Agree on `rc` across ranks.  On an agreed failure, the rank that has a message prints it
 * (for bad input only rank 0 speaks, since every rank saw the same arguments) and the exit
 * code is returned; 0 means carry on. */
int evf_job_agree(struct job *j, int rc, int rank0_only)
{
  int all = evf_comm_agree(j->comm, rc);
  if (all == 0)
    return 0;
  /* Bad input seen by several ranks (each checks its own limits): the lowest says it, once. */
  int speaker = all == EVF_EUSAGE && !rank0_only ? evf_comm_agree(j->comm, rc ? j->rank : j->size)
                                                 : j->rank;
  if (rc != 0 && (!rank0_only || j->rank == 0) && speaker == j->rank && !j->said) {
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
  int code = evf_job_agree(&j, rc, 1);
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
  return evf_job_agree(j, rc, 1);
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
  int code = evf_job_agree(j, rc, 1);
  if (code)
    return code;
  j->opt.tasks = (uint32_t)evf_comm_bcast_u64(j->comm, j->inputs_all.n);
  return 0;
}

/* 2a. Who writes the records.  The records come back a gathered window at a time: with gated
 * ids, a ring window in GATHER_PARTS (a rank's part leaves as soon as its tasks in a 16th of a
 * window end, and a root's buffer is a 16th of a window: measured, np 2 and 4, 10^7 empty
 * tasks, whole windows cost 19-28 % of the records per second and 40-55 MiB at rank 0,
 * sixteenths 7-10 % and 3 MiB); else all ids in one, one gather at the end.  At most
 * EVF_GATHER_MAX_WINDOW ids (any size up to the ring's fits it).  With gated ids the windows are
 * spread over writers (--writers R, every rank by default): rank 0 decides, as only it knows
 * the output file and the journal.  Rank 0 alone writes them when one writer is asked for or
 * there is one rank, when ids fit in two windows (one gather), when a resumed run places the
 * journal's records (rank 0 reads it), for kinds with an input file (rank 0 holds the inputs)
 * and for an output that is no file of its own (a FIFO, a device, /dev/stdout). */
static uint64_t job_gather_window(const struct job *j)
{
  uint64_t g = j->gated ? (j->window + GATHER_PARTS - 1) / GATHER_PARTS
                        : (j->opt.tasks ? j->opt.tasks : 1);
  return g > EVF_GATHER_MAX_WINDOW ? EVF_GATHER_MAX_WINDOW : g;
}

static void job_spread(struct job *j)
{
  j->gather_window = job_gather_window(j);
  int r = j->opt.writers == 0 || j->opt.writers > (uint32_t)j->size ? j->size : (int)j->opt.writers;
  int spread = r > 1 && j->gated && !j->kind->input_option && !j->kind->write_ext;
  if (j->rank == 0 && (j->reused || (j->records_file.fp && j->records_file.in_place)))
    spread = 0;
  j->nwriters = evf_comm_bcast_int(j->comm, spread ? r : 0);
}

/* 2b. Spread writers: rank 0 has written the header; the temporary file gets its name (an
 * anonymous one could not be opened by the others), every rank opens it for MPI-IO and
 * writes its windows after the header. */
static int job_open_writers(struct job *j)
{
  char path[4096] = "";
  int rc = 0;
  unsigned long long base = 0;
  if (j->rank == 0 && j->records_file.fp) {
    evf_recwriter_flush(&j->writer);
    errno = 0;
    const char *tmp = fflush(j->records_file.fp) == 0 ? evf_outfile_temp_name(&j->records_file)
                                                      : NULL;
    off_t at = ftello(j->records_file.fp);
    int e = !tmp || at < 0 ? (errno ? errno : EIO) : strlen(tmp) >= sizeof path ? ENAMETOOLONG : 0;
    if (e)
      rc = evf_seterr(j->msg, EVF_EIO, "cannot write '%s': %s", evf_clip(j->opt.output),
                      strerror(e));
    else
      snprintf(path, sizeof path, "%s", tmp);
    base = (unsigned long long)(at > 0 ? at : 0);
  }
  if (evf_comm_bcast_int(j->comm, rc)) /* rank 0 says why */
    return j->rank == 0 ? rc : 0;
  evf_comm_bcast_str(j->comm, path, sizeof path);
  base = evf_comm_bcast_u64(j->comm, base);
  struct evf_writers_config wc = {
    .ntasks = j->opt.tasks,
    .window = j->gather_window,
    .nwriters = j->nwriters,
    .rec_size = j->rec_size,
    .kind = j->kind,
    .fmt = j->opt.format,
    .hosts = (const char(*)[EVF_HOST_LEN])j->hosts,
    .stats = j->stats,
  };
  return evf_writers_new(j->comm, &wc, path[0] ? path : NULL, base, &j->writers, j->msg);
}

/* 2a. Rank 0, a host-affine plan (the kind's grouped()): the inputs numbered by their key (a
 * URL's host name), each host's ids given to one rank (hostplan.h), the inputs by position. */
static int job_plan_hosts(struct job *j, uint64_t first_min, uint32_t *most_hosts)
{
  struct evf_batch *ranges = NULL;
  size_t nranges = 0;
  uint32_t nhosts = 0;
  uint32_t *host_of = malloc((j->inputs_all.n ? j->inputs_all.n : 1) * sizeof *host_of);
  int rc = host_of ? 0 : EVF_ENOMEM;
  if (rc == 0)
    rc = evf_hostplan_number(j->inputs_all.line, j->inputs_all.n, j->kind->group_key, host_of,
                             &nhosts);
  if (rc == 0 && j->reused)
    rc = evf_job_todo_ranges(j, &ranges, &nranges);
  if (rc == 0)
    rc = evf_hostplan(&j->part, &j->perm, j->opt.tasks, j->window, job_gather_window(j),
                      j->reused ? ranges : NULL,
                      nranges, j->size, j->opt.batch_size, j->dynamic, first_min, host_of,
                      nhosts, most_hosts);
  if (rc == 0)
    rc = evf_inputs_permuted(&j->inputs_pos, &j->inputs_all, j->perm, j->opt.tasks);
  free(ranges);
  free(host_of);
  return rc;
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
  j->gated = evf_collect_ring_size(j->opt.tasks, j->window) < j->opt.tasks;
  j->grouped = j->kind->grouped && j->kind->grouped(&j->opt);
  /* A host dealt in one window and then another could run on two ranks at once around their
   * boundary: with several windows, hosts keep one rank for the whole job (static). */
  if (j->grouped && j->dynamic && (j->window < j->opt.tasks || job_gather_window(j) < j->opt.tasks))
    j->dynamic = 0;
  /* With a delay, a host takes (its requests - 1) x delay on any rank: every host starts at
   * once, owned for the whole job (static), and each gets a slot for the page waiting for its
   * turn besides the one in flight. */
  int spaced = j->grouped && (j->opt.host_delay > 0 || j->opt.host_delay_jitter > 0);
  if (spaced)
    j->dynamic = 0;
  uint32_t most_hosts = 0;
  if (j->grouped) {
    if (j->rank == 0)
      rc = job_plan_hosts(j, first_min, &most_hosts);
  } else if (j->rank == 0 && j->reused) { /* a resumed run: only the ids the journal lacks */
    struct evf_batch *ranges = NULL;
    size_t nranges = 0;
    rc = evf_job_todo_ranges(j, &ranges, &nranges);
    if (rc == 0 && j->window < j->opt.tasks)
      rc = evf_partition_plan_windows(&j->part, j->opt.tasks, j->window, ranges, nranges,
                                      j->size, j->opt.batch_size, j->dynamic, first_min);
    else if (rc == 0)
      rc = evf_partition_plan_ranges(&j->part, j->opt.tasks, ranges, nranges, j->size,
                                     j->opt.batch_size, j->dynamic, first_min);
    free(ranges);
  } else if (j->rank == 0 && j->window < j->opt.tasks) {
    rc = evf_partition_plan_windows(&j->part, j->opt.tasks, j->window, NULL, 0, j->size,
                                    j->opt.batch_size, j->dynamic, first_min);
  } else if (j->rank == 0) {
    rc = j->dynamic ? evf_partition_plan_dynamic(&j->part, j->opt.tasks, j->size,
                                                 j->opt.batch_size, first_min)
                    : evf_partition_plan(&j->part, j->opt.tasks, j->size, j->opt.batch_size);
  }
  if (rc)
    evf_seterr(j->msg, rc, "cannot partition %u tasks: %s", (unsigned)j->opt.tasks,
               evf_strerror(rc));
  int code = evf_job_agree(j, rc, 0);
  if (code)
    return code;
  if (spaced && j->opt.inflight_auto) {
    uint64_t want = 2 * evf_comm_bcast_u64(j->comm, most_hosts) + 16;
    struct rlimit rl; /* as many as this rank's open files allow (two per transfer) */
    uint64_t most = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY
                        ? (rl.rlim_max > 128 ? (rl.rlim_max - 64) / 2 : 32)
                        : UINT32_MAX;
    want = want < most ? want : most;
    if (want > j->opt.inflight)
      j->opt.inflight = (uint32_t)(want < UINT32_MAX ? want : UINT32_MAX);
  }
  rc = evf_comm_scatter_batches(j->comm, &j->part, &j->batches, &j->nbatches);
  if (rc) {
    if (j->rank == 0)
      evf_errorf(j->err, "cannot receive batches: %s", evf_strerror(rc));
    return evf_error_exit_code(rc);
  }
  for (size_t b = 0; b < j->nbatches; b++)
    j->nlocal += j->batches[b].count;
  if (j->kind->input_option) {
    rc = evf_comm_scatter_inputs(j->comm, &j->part, j->grouped ? &j->inputs_pos : &j->inputs_all,
                                 j->batches, j->nbatches, j->grouped, &j->inputs);
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
  /* Records: with spread writers (job_spread), window w of the gathers is placed, summed and
   * written by rank w % R; else rank 0 keeps them by id in a ring of two windows, written out
   * as windows complete.  Other ranks keep each in its window's part until it is gathered. */
  job_spread(j);
  rc = 0;
  if (j->rank == 0 || j->nwriters) {
    j->stats = evf_stats_new(j->size, j->kind->offloop_cpu);
    rc = j->stats ? 0 : evf_seterr(j->msg, EVF_ENOMEM, "out of memory");
  }
  if (rc == 0 && j->rank == 0 && j->records_file.fp) {
    rc = evf_recwriter_init(&j->writer, j->records_file.fp, j->opt.format, j->kind);
    if (rc)
      evf_seterr(j->msg, rc, "out of memory");
    else
      evf_recwriter_header(&j->writer);
  }
  if (j->rank == 0 || j->nwriters)
    j->hosts = calloc((size_t)j->size, EVF_HOST_LEN);
  if (j->rank == 0) {
    j->masks = calloc((size_t)j->size, EVF_CPUMASK_BYTES);
    j->cpus = calloc((size_t)j->size, sizeof *j->cpus);
  }
  if (rc == 0 && (j->rank == 0 || j->nwriters) && !j->hosts)
    rc = evf_seterr(j->msg, EVF_ENOMEM, "out of memory");
  if (rc == 0 && j->rank == 0 && !(j->masks && j->cpus))
    rc = evf_seterr(j->msg, EVF_ENOMEM, "out of memory");
  if ((code = evf_job_agree(j, rc, 0)))
    return code;
  char host[EVF_HOST_LEN];
  unsigned char mask[EVF_CPUMASK_BYTES];
  evf_placement_host(host);
  evf_placement_cpumask(mask);
  evf_comm_gather_hosts(j->comm, host, mask, j->hosts, j->masks);
  if (j->nwriters) /* every writer names the node of each record's rank */
    evf_comm_allgather_hosts(j->comm, host, j->hosts);
  if (j->nwriters) {
    rc = job_open_writers(j);
  } else if (j->rank == 0) { /* hosts known: records can be written as they come */
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
    if (rc == 0) /* the journal's records, in their places */
      rc = evf_job_journal_feed(j, UINT64_MAX);
  }
  if ((code = evf_job_agree(j, rc, 0)))
    return code;
  j->gather = evf_gather_new(j->comm, j->rec_size, j->opt.tasks, j->gather_window, j->nwriters,
                             j->nwriters ? evf_writers_take : evf_job_gather_take,
                             j->nwriters ? (void *)j->writers : (void *)j);
  rc = j->gather ? 0 : evf_seterr(j->msg, EVF_ENOMEM, "cannot allocate the gathers of records");
  for (size_t b = 0; rc == 0 && b < j->nbatches; b++)
    if (evf_gather_expect(j->gather, &j->batches[b]))
      rc = evf_seterr(j->msg, EVF_ENOMEM, "cannot allocate the gathers of records");
  return evf_job_agree(j, rc, 0);
}

/* From the runner: this rank failed (a kind's evf_task_fail: the WARC directory is full): said
 * now, not when the other ranks have finished. */
static void job_failed_now(void *arg, int code, const char *msg)
{
  struct job *j = arg;
  (void)code;
  if (j->size > 1)
    evf_errorf(j->err, "rank %d: %s", j->rank, msg);
  else
    evf_errorf(j->err, "%s", msg);
  j->said = 1;
}

/* 3. The run: every rank allocates its loop and slots, the ranks agree that all could (a rank
 * that cannot start is reported now, not after the others' whole workload), then t0 after a
 * barrier, one event loop per rank, progress across them.  Rank 0 keeps printing progress
 * after its own loop ends, until every rank's loop has. */
static int job_run_loops(struct job *j)
{
  struct progress prog = {.rank = j->rank, .msg = j->msg, .view = {.err = j->err}};
  uint64_t limit0 = j->gated ? evf_collect_ring_size(j->opt.tasks, j->window) : 0;
  /* Redirects to a host another rank owns wait for their turn there (task.h's turns). */
  int serving = j->size > 1 && j->grouped && j->kind->turn != NULL;
  struct evf_runner_config cfg = {
    .kind = j->kind,
    .inputs = j->kind->input_option ? j->inputs.line : NULL,
    .ids = j->inputs.ids,
    .opt = &j->opt,
    .rank = j->rank,
    .inflight = j->opt.inflight,
    .tick = progress_tick,
    .tick_arg = &prog,
    .feed = j->dynamic || j->gated || serving ? feed : NULL,
    .feed_arg = &prog,
    .feed_interval = 0.001,
    .capacity = j->capacity,
    /* Rank 0's runner writes its own records by id into the ring of windows (one writer);
     * every other record waits for its window's gather (with --journal each goes into its
     * journal first) */
    .done = j->opt.journal ? evf_job_journal_done
            : j->collect   ? evf_job_collect_done
                           : evf_job_gather_done,
    .done_arg = j,
    .by_id = j->collect != NULL,
    .ring = j->collect ? evf_collect_ring(j->collect) : 0,
    .limit = limit0,
    .sync = j->opt.journal ? evf_job_journal_sync : NULL,
    .fail = job_failed_now,
    .sync_arg = j,
    .turn = serving ? job_turn : NULL,
    .turn_arg = &prog,
  };
  int rc;
  void *records = j->collect ? evf_collect_records(j->collect) : NULL;
  j->runner = evf_runner_new(&cfg, j->batches, j->nbatches, records, &rc, j->msg);
  int code = evf_job_agree(j, rc, 0);
  if (code)
    return code;
  prog.show = j->opt.progress > 0;
  prog.chan = evf_chan_new(j->comm, j->ntodo, j->dynamic, &j->part,
                           !j->kind->input_option ? NULL
                           : j->grouped           ? &j->inputs_pos
                                                  : &j->inputs_all,
                           j->grouped, j->gated ? limit0 : j->opt.tasks, j->opt.tasks,
                           j->gather_window);
  rc = prog.chan ? 0 : evf_seterr(j->msg, EVF_ENOMEM, "cannot allocate the channel");
  if ((code = evf_job_agree(j, rc, 0)))
    return code;
  j->chan = prog.chan;
  if (serving) {
    struct evf_owners *owners = NULL;
    if (j->rank == 0 &&
        !(owners = evf_owners_new(&j->part, &j->inputs_pos, j->kind->group_key)))
      rc = evf_seterr(j->msg, EVF_ENOMEM, "cannot allocate the table of host owners");
    if ((code = evf_job_agree(j, rc, 0))) {
      evf_owners_free(owners);
      return code;
    }
    evf_chan_serve(prog.chan, owners);
    prog.serve = 1;
  }
  prog.view.total = j->ntodo;
  prog.view.groups = j->grouped ? j->kind->group_name : NULL;
  prog.job = j;
  prog.journal = j->opt.journal != NULL;
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
    cfg.tick_interval = JOURNAL_TICK; /* the journal's buffer written out every tick */
  prog.tick_iv = cfg.tick_interval;
  j->t0 = evf_comm_start_clock(j->comm);
  if (j->rank == 0 && j->journal)
    evf_job_journal_mark_run(j);
  /* For the tests of what a fatal error on one rank does to the others (they must not wait
   * forever): EVFARM_TEST_FATAL=R makes rank R fail right after t0. */
  const char *fatal = getenv("EVFARM_TEST_FATAL");
  if (fatal && *fatal && atoi(fatal) == j->rank)
    evf_guard_fatal("EVFARM_TEST_FATAL: a fatal error on this rank, as a test asked");
  rc = evf_runner_run(j->runner, j->t0, j->msg);
  /* The loop ended: every window not yet posted goes now, with what it has (a failed loop's
   * tasks may lack records: the ranks still match every gather, and rank 0 says what is
   * missing). */
  evf_gather_poll(j->gather, UINT64_MAX, 1);
  struct evf_runner_counts rc_counts = evf_runner_counts(j->runner);
  struct evf_progress_counts mine = progress_mine(&rc_counts), all = mine;
  int chan_done = 0;
  for (;;) {
    double now = evf_clock_now();
    double until = prog.show ? j->t0 + iv * (floor((now - j->t0) / iv) + 1) : INFINITY;
    int gathering = !evf_gather_done(j->gather);
    int writing = j->writers && !evf_writers_done(j->writers);
    /* Windows and gathers: rank 0 writes and moves the gathers on between polls, and every
     * write may let more ids start. */
    if ((j->gated || gathering || writing) && j->rank == 0 && until > now + 0.001)
      until = now + 0.001;
    if (!chan_done)
      chan_done = evf_chan_wait(prog.chan, &mine, until, &all);
    if (gathering) {
      evf_gather_poll(j->gather, UINT64_MAX, 1);
      gathering = !evf_gather_done(j->gather);
    }
    if (j->writers) {
      evf_job_spread_poll(j, NULL, WRITE_STEP * 4);
      writing = !evf_writers_done(j->writers);
    } else if (j->gated && j->rank == 0) {
      evf_job_write_windows(j, NULL, WRITE_STEP * 4, 1);
    }
    if (chan_done && !gathering && !writing)
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
  /* The kind finishes what it kept (http: the WARC files closed), and its figures are summed. */
  char fmsg[EVF_ERRMSG_LEN];
  j->kind_bound = evf_runner_bound(j->runner, j->kind_bound_by, sizeof j->kind_bound_by);
  int frc = evf_runner_finish(j->runner, j->kind_fig, fmsg);
  if (frc && rc == 0) {
    rc = frc;
    memcpy(j->msg, fmsg, sizeof fmsg);
  }
  if (j->kind->finish)
    evf_comm_sum_u64s(j->comm, j->kind_fig, EVF_KIND_FIGURES);
  if (j->kind->bound) /* its own limits' bound, the largest of any rank's, and what sets it */
    j->kind_bound = evf_comm_max_named(j->comm, j->kind_bound, j->kind_bound_by,
                                       sizeof j->kind_bound_by);
  if (j->size > 1) {
    /* A rank whose loop ended waits for the others asleep, not spinning in MPI on a core that
     * another rank (or, for http, the server on the same node) needs. */
    evf_comm_quiet_barrier(j->comm);
  }
  return evf_job_agree(j, rc, 0);
}

int evf_job_run(const struct evf_options *opt, MPI_Comm comm, FILE *out, FILE *err,
                evf_job_result_fn on_result, void *arg)
{
  struct job j = {.out = out, .err = err, .opt = *opt, .jdir = {.lock_fd = -1}};
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
    code = evf_job_open_journal(&j);
  if (!code)
    code = job_distribute(&j);
  if (!code)
    code = job_run_loops(&j);
  if (!code)
    code = evf_comm_bcast_int(j.comm, evf_job_collect(&j, on_result, arg));
  evf_guard_on_fatal(NULL, NULL);
  job_free(&j);
  evf_guard_leave();
  return code;
}
