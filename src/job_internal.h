/* The job's private parts, shared by the files that run one (src/run.c: the sequence, dealing
 * and the loops; job_journal.c: --journal, the drain; job_results.c: records into windows and
 * their gathers; job_summary.c: the summary, the files, the exit code).  Nothing outside the
 * job includes this: the API is job.h and evfarm.h. */
#ifndef EVF_JOB_INTERNAL_H
#define EVF_JOB_INTERNAL_H

#include <mpi.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "chan.h"
#include "cli.h"
#include "collect.h"
#include "error.h"
#include "gather.h"
#include "inputs.h"
#include "job.h"
#include "journal.h"
#include "output.h"
#include "partition.h"
#include "placement.h"
#include "record.h"
#include "runner.h"
#include "stats.h"
#include "task.h"
#include "writers.h"

/* Rank 0 writes at most this many records of a completed window per turn of its loop (about
 * a millisecond), so its own tasks and the others' requests are not held up. */
#define WRITE_STEP 4096
/* With --journal every rank fsyncs its file this often (and at the end); it writes its buffer
 * out every JOURNAL_TICK. */
#define JOURNAL_SYNC_EVERY 2.0
/* Seconds a drain started by SIGTERM has, past --term-grace, to end before it gives up: Open
 * MPI's mpirun sends SIGKILL 1 s after the SIGTERM it forwards. */
#define TERM_MARGIN 0.5
/* With --journal every rank ticks this often: its journal's buffer goes to the file (a rank
 * killed loses at most this much), a drain order (a signal, --max-fails, another rank's) is
 * acted on within a tick, and with --max-fails the failures reach rank 0 as they come. */
#define JOURNAL_TICK 0.02
/* Records per chunk of a journal file's index (rank 0, resumed: 16 bytes a chunk). */
#define JOURNAL_CHUNK 4096
/* Chunks of held records rank 0 reads per turn of its loop (each about 300 KiB of sim
 * records, under a millisecond). */
#define FEED_STEP 2
/* With windows, each ring window's records are gathered in this many parts. */
#define GATHER_PARTS 16

/* Everything a job holds, so one cleanup path releases it on every branch. */
/* A journal file's index (rank 0, resumed): chunk k holds JOURNAL_CHUNK records (the last
 * fewer) whose frames start at c[k].at (up to c[k + 1].at) and whose ids lie in lo..hi. */
struct evf_jchunk {
  uint64_t at;
  uint32_t lo, hi;
};
struct evf_jindex {
  struct evf_jchunk *c;
  size_t n, cap;
  uint32_t in_last;               /* records in c[n - 1] */
  int version;                    /* the file's format */
};

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
  size_t rec_size;
  /* Every rank's records come back to rank 0 window by window (gather.c), where they go by id
   * into a ring of two windows, written to --output and added to the summary as each completes
   * (collect.c); with --journal, the records the journal holds are placed there too. */
  struct evf_gather *gather;
  struct evf_collect *collect;    /* rank 0, when it writes every window (writers 1) */
  /* With spread writers (j->writers, on every rank) window w of the gathers is written by rank
   * w % nwriters (writers.c): no ring on rank 0, every rank's records gathered, the summary's
   * sums reduced after the loops. */
  struct evf_writers *writers;
  int nwriters;
  uint64_t spread_limit;          /* rank 0: the limit last set from the writers */
  uint64_t spread_records, spread_missing; /* rank 0, after the loops: every writer's, summed */
  unsigned long long spread_bytes;
  unsigned long long *writer_bytes; /* rank 0: [size] bytes each rank wrote */
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
  int grouped;                    /* host-affine plan (the kind's grouped()): batches are ranges
                                     of positions, each input travels with its id */
  uint32_t *perm;                 /* rank 0, grouped: the id of each position (hostplan.h) */
  struct evf_inputs inputs_pos;   /* rank 0, grouped: the inputs by position */
  char (*hosts)[EVF_HOST_LEN];    /* rank 0: the node name of every rank */
  unsigned char (*masks)[EVF_CPUMASK_BYTES]; /* rank 0: the CPU mask of every rank */
  int *cpus;                      /* rank 0: the CPUs the job may use on every rank's node */
  size_t nlocal;                  /* this rank's task count (dynamic: its first share) */
  size_t capacity;                /* most tasks this rank can run (dynamic: + the pool) */
  uint64_t ntodo;                 /* tasks this run (all N, less those a journal holds) */
  /* --journal: rank 0 holds the directory (its lock, its files) and, when it held records,
   * `held`: a bit per id, set for those this run leaves to the journal; every rank appends to
   * its own file `jpath` of this run. */
  struct evf_journal_dir jdir;
  char jheader[1024];             /* the task set's header words */
  char *jpath;
  struct evf_journal *journal;
  uint64_t *held;
  uint64_t reused, torn;
  /* Rank 0, resumed: where each file's records lie (a chunk of JOURNAL_CHUNK records: its
   * first frame's offset and the ids it spans), so the held records of a window are read
   * again when the ring takes that window in; the windows up to `fed_to` have theirs in. */
  struct evf_jindex *jindex;      /* [jdir.n] */
  size_t jreading;                /* the file the first pass reads */
  void *kind_resume;              /* the kind's resume() context while reading */
  int kind_resume_rc;             /* its first failure */
  uint64_t fed_to;
  int feeding;                    /* the window feed_first..feed_last is being fed: */
  uint64_t feed_first, feed_last;
  size_t feed_f, feed_c;          /* the file and chunk read next */
  struct evf_journal_reader *feed_rd; /* file feed_f, open */
  struct evf_journal_damage damage;
  double last_sync;
  int journal_failed;             /* this rank's journal failed */
  unsigned long long appended, journals_failed; /* every rank's, summed after the loops */
  unsigned long long failed_reported; /* another rank: the failures rank 0 was told of */
  struct evf_chan *chan;
  volatile sig_atomic_t drain_signal; /* set by the guard: the first SIGUSR1/SIGTERM */
  uint64_t failed_now;            /* rank 0: failures of this run (--max-fails) */
  int draining;                   /* this rank drains */
  int term_drain;                 /* its grace is --term-grace (SIGTERM) */
  int partial;                    /* rank 0: some rank drained: not every id ran */
  struct evf_runner *runner;
  uint64_t kind_fig[EVF_KIND_FIGURES]; /* the kind's figures (finish()), summed over the ranks */
  double kind_bound;              /* the kind's bound(), the largest over the ranks */
  char kind_bound_by[160];        /* what sets it */
  int said;                       /* this rank's failure was said when it happened */
  double t_enter, t0, wall;
  char msg[EVF_ERRMSG_LEN];
};

/* src/run.c */
/* Agree on `rc` across ranks; on an agreed failure the rank with a message prints it.  Returns
 * the exit code, 0 to carry on. */
int evf_job_agree(struct job *j, int rc, int rank0_only);

/* src/job_journal.c: --journal and the drain */
int evf_job_open_journal(struct job *j);
int evf_job_held(const struct job *j, uint64_t id);
int evf_job_todo_ranges(const struct job *j, struct evf_batch **out, size_t *n);
int evf_job_journal_feed(struct job *j, uint64_t max_chunks);
void evf_job_journal_mark_run(struct job *j);
void evf_job_journal_done(void *arg, const struct evf_record *rec);
void evf_job_journal_sync(void *arg);
void evf_job_journal_tick(struct job *j, const struct evf_progress_counts *mine, double elapsed);
void evf_job_journal_end(struct job *j);

/* src/job_results.c: records into their windows, the gathers, rank 0's writing */
void evf_job_expect(struct job *j, const struct evf_batch *b);
void evf_job_gather_done(void *arg, const struct evf_record *rec);
void evf_job_collect_done(void *arg, const struct evf_record *rec);
int evf_job_gather_take(void *arg, uint64_t w, const void *recs, size_t n);
void evf_job_write_windows(struct job *j, struct evf_runner *r, uint64_t max, int ended);
void evf_job_stream_tick(struct job *j);
void evf_job_spread_poll(struct job *j, struct evf_runner *r, uint64_t max);

/* src/job_summary.c: after the loops, rank 0 summarises, writes and prints; the exit code */
int evf_job_collect(struct job *j, evf_job_result_fn on_result, void *arg);

#endif
