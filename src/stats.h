/* stats: what rank 0 computes from the records: per-rank load, the lower bound on
 * the wall time and the efficiency.  Pure functions of the records. */
#ifndef EVF_STATS_H
#define EVF_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "placement.h"
#include "record.h"

/* The lower bound on the wall time of P ranks, from the planned I/O delays io_i and the measured
 * CPU times c_i:
 *   T_lb = max( max_i (io_i + c_i),  max_t ( t + sum_{j: io_j >= t} c_j / P ) )
 * The first term: no task can end before its own I/O and CPU phases.  The second: at time t,
 * the CPU work of every task whose I/O ends at or after t is still to be done, and P cores do
 * it no faster than its sum over P (the maximum is taken at t = one of the io_j). */
struct evf_bound {
  double t_lb;            /* seconds: the larger of the two terms */
  double task_term;       /* seconds: max_i (io_i + c_i) */
  double backlog_term;    /* seconds: max_t (t + sum c_j / P) */
  double backlog_at;      /* seconds: the t at which the backlog term peaks */
  double offloop_term;    /* seconds: CPU used off the loops (exec's children) over the job's
                             CPUs; 0 for kinds without such work */
  double kind_term;       /* seconds: the kind's own limits (http: the politeness of its busiest
                             host, (requests - 1) x delay); 0: none */
  char kind_by[160];      /* what sets kind_term */
};

/* Compute the bound of n records (of `stride` bytes each) on nranks ranks.  Returns 0 or
 * EVF_ENOMEM. */
int evf_bound_compute(const void *recs, size_t stride, size_t n, int nranks, struct evf_bound *b);

/* Rank counts of the model curve in the summary: 1, 2, 4, ..., 4096. */
#define EVF_MODEL_POINTS 13

struct evf_minmax {
  double min, mean, max;
};

struct evf_summary {
  uint64_t tasks;
  int ranks;
  uint64_t batches;
  double wall;                          /* seconds, rank 0: t0 -> every record at rank 0 */
  double tasks_per_second;              /* tasks / wall */
  struct evf_bound bound;
  double efficiency;                    /* bound.t_lb / wall */
  double max_io;                        /* seconds: the largest planned I/O delay */
  double cpu_total;                     /* seconds: the sum of the measured CPU times */
  uint64_t status_count[EVF_STATUS_COUNT];
  uint64_t failed;                      /* tasks whose status is not ok */
  uint64_t retried;                     /* tasks that took more than one attempt */
  uint64_t kind_fig[8];                 /* the kind's figures (task.h: EVF_KIND_FIGURES), summed
                                           over the ranks; set by the caller */
  double offloop_cpu;                   /* seconds of CPU the tasks used off the loops (exec:
                                           their children's user + system time) */
  int job_cpus;                         /* CPUs the job may use, over its nodes (0: unknown) */
  struct evf_minmax rank_tasks;         /* tasks per rank */
  struct evf_minmax rank_busy;          /* seconds of CPU phases per rank */
  struct evf_minmax rank_idle;          /* seconds per rank: wall - busy */
  double imbalance;                     /* max busy / mean busy (1 when no busy time) */
  double setup;                         /* seconds, rank 0: job start -> t0 (files, partition,
                                           scatter, barrier); set by the caller */
  double last_end;                      /* seconds since t0: the latest end of any task */
  double collect;                       /* seconds: wall - last_end, the records' tail */
  double output_s;                      /* seconds rank 0 spent writing records (--output) */
  unsigned long long output_bytes;      /* bytes of records written (header not counted) */
  uint64_t window;                      /* ids per window of records on rank 0 (--journal: all) */
  int writers;                          /* ranks that wrote the windows (1: rank 0) */
  const unsigned long long *rank_output_bytes; /* [ranks] bytes of records each rank wrote, or
                                           NULL (rank 0 wrote them all); not owned */
  int io_bound;                         /* T_lb < 1.1 x the longest I/O delay: more ranks
                                           cannot shorten the run by more than 10 % */
  int model_ranks[EVF_MODEL_POINTS];    /* 1, 2, 4, ... */
  double model_t_lb[EVF_MODEL_POINTS];  /* T_lb of these tasks at model_ranks[k] ranks */
  int nodes;                            /* distinct node names (0 when unknown) */
  int oversubscribed;                   /* some node runs more ranks than it has CPUs online */
  const int *rank_cpus;                 /* [ranks] CPUs of each rank's node, or NULL */
  long rank0_maxrss_kib;                /* rank 0's peak resident memory (getrusage), KiB */
  double rank0_process_cpu;             /* seconds of CPU rank 0's process used (user + sys) */
  const char (*rank_host)[EVF_HOST_LEN]; /* [ranks] node of each rank, or NULL; not owned */
  int *node_of;                         /* [ranks] node index of each rank (nodes numbered in
                                           the order of their lowest rank), or NULL; owned */
  struct evf_slurm slurm;               /* the Slurm job around rank 0 (all NULL outside) */
  int dynamic;                          /* --schedule dynamic (set by the caller) */
  uint64_t dealt;                       /* dynamic: batches dealt on request during the run */
  uint64_t requests;                    /* dynamic: requests rank 0 received */
  double max_request_latency;           /* dynamic: seconds, the worst wait from a rank's request
                                           to its answer */
  const char *journal;                  /* --journal path, or NULL (set by the caller) */
  uint64_t journal_appended;            /* records this run appended to it */
  uint64_t journal_resumed;             /* ids whose record came from an earlier run */
  uint64_t journal_torn;                /* bytes of a cut tail dropped when it was read */
  uint64_t journal_damaged;             /* bytes of damaged frames skipped when it was read */
  int partial;                          /* drained: some ids of this run did not run */
  uint64_t not_run;                     /* ids of this run left for --resume */
  uint64_t *per_rank_tasks;             /* [ranks] */
  double *per_rank_busy;                /* [ranks] */
};

/* The summary's figures as records come in, one at a time, in any order: per-rank counts and
 * busy time, statuses, and for the bound the CPU work per distinct I/O delay (a table of the
 * delays, not of the records: memory does not grow with the task count).  `offloop` (or NULL)
 * gives a record's CPU used off the loops (exec). */
struct evf_stats;
struct evf_stats *evf_stats_new(int nranks, double (*offloop)(const struct evf_record *));
void evf_stats_add(struct evf_stats *a, const struct evf_record *r);
double evf_stats_offloop(const struct evf_stats *a);
/* For a reduction across ranks (comm.c): the sums as three vectors -- counts (summed), sums
 * (summed) and maxima -- of evf_stats_nu/nd/nm() entries, and the CPU work per distinct
 * delay.  evf_stats_import() replaces the vectors with reduced ones; evf_stats_add_delays()
 * adds another rank's delays to the table.  evf_stats_delays() fills `io_us` and `cpu` (room
 * for evf_stats_ndelays() entries each). */
size_t evf_stats_nu(const struct evf_stats *a);
size_t evf_stats_nd(const struct evf_stats *a);
#define EVF_STATS_NM 3
void evf_stats_export(const struct evf_stats *a, uint64_t *u, double *d, double *m);
void evf_stats_import(struct evf_stats *a, const uint64_t *u, const double *d, const double *m);
size_t evf_stats_ndelays(const struct evf_stats *a);
void evf_stats_delays(const struct evf_stats *a, uint64_t *io_us, double *cpu);
int evf_stats_add_delays(struct evf_stats *a, const uint64_t *io_us, const double *cpu,
                         size_t n);
void evf_stats_free(struct evf_stats *a);
/* The summary of the records added (as evf_summary_compute of them; the delay table is used
 * up: call once).  Returns 0 or EVF_ENOMEM. */
int evf_summary_finish(struct evf_summary *s, struct evf_stats *a, uint64_t batches, double wall);

/* Summarise n records (of `stride` bytes each) of a run on nranks ranks that took
 * `wall` seconds.  Returns 0 or EVF_ENOMEM; release with evf_summary_free(). */
int evf_summary_compute(struct evf_summary *s, const void *recs, size_t stride, size_t n,
                        int nranks, uint64_t batches, double wall);
void evf_summary_free(struct evf_summary *s);

/* Attach where the ranks ran (arrays of s->ranks entries, not copied; cpus may be NULL) and
 * derive the node of each rank (evf_placement_group), the node count and whether any node ran
 * more ranks than the job may use CPUs there. */
void evf_summary_set_placement(struct evf_summary *s, const char (*hosts)[EVF_HOST_LEN],
                               const int *cpus);

/* Work done off the loops (exec's children, `cpu` seconds in all) runs on the job's `job_cpus`
 * CPUs: no schedule ends before cpu / job_cpus, a third term of the bound (efficiency and
 * bound_by follow).  Call after evf_summary_set_placement(). */
/* The kind's term (task.h bound()): T_lb becomes the larger of it and the rest. */
void evf_summary_set_kind_bound(struct evf_summary *s, double term, const char *by);
void evf_summary_set_offloop(struct evf_summary *s, double cpu, int job_cpus);

#endif
