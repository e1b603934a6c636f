/* The end of a job on rank 0 (see job_internal.h): what is left of the windows written, the
 * records checked, the summary made (stats.c, placement), both files written and committed
 * (or neither), the summary printed, and the exit code decided. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "clock.h"
#include "comm.h"
#include "guard.h"
#include "evfarm/evfarm.h"
#include "job_internal.h"
#include "report.h"

/* Rank 0: the summary from this run's records (added to `stats` as they were written), with
 * placement and process figures. */
static int job_summarise(struct job *j, struct evf_summary *s, struct evf_stats *stats)
{
  int rc = evf_summary_finish(s, stats, j->part.nbatches, j->wall);
  double offloop = evf_stats_offloop(stats);
  if (rc)
    return rc;
  s->output_s = j->output_s;
  memcpy(s->kind_fig, j->kind_fig, sizeof s->kind_fig);
  evf_summary_set_kind_bound(s, j->kind_bound, j->kind_bound_by);
  s->window = j->window;
  s->output_bytes = j->writers ? j->spread_bytes : j->writer.bytes + j->writer.len;
  s->writers = j->nwriters ? j->nwriters : 1;
  s->rank_output_bytes = j->writer_bytes;
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
    s->journal_appended = j->appended;
    s->journal_resumed = j->reused;
    s->journal_torn = j->torn;
    s->journal_damaged = j->damage.bytes;
    s->partial = j->partial;
    s->not_run = j->ntodo - (j->collect ? evf_collect_ran(j->collect) : j->spread_records);
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
    int rc = evf_recwriter_free(&j->writer); /* written window by window */
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

/* Rank 0, every record written: summarise, write, print. */
static int job_finish(struct job *j, evf_job_result_fn on_result, void *arg)
{
  uint64_t failed_earlier = j->collect ? evf_collect_held_failed(j->collect) : 0;
  int rc = 0;
  if (j->journals_failed)
    evf_errorf(j->err, "the journal is incomplete (see above)");
  struct evf_summary s;
  rc = job_summarise(j, &s, j->stats);
  if (rc) {
    evf_errorf(j->err, "cannot summarise: %s", evf_strerror(rc));
    return EVF_EXIT_RUNTIME;
  }
  int code = s.failed || failed_earlier ? EVF_EXIT_TASKS : EVF_EXIT_OK;
  if (j->partial)
    code = EVF_EXIT_DRAINED;
  if (j->journals_failed)
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

/* 4'. Spread writers (collective): every window is written and summed by its writer; the
 * file is synced and closed on every rank, the sums reduced to rank 0, and rank 0 summarises
 * and commits as with one writer.  A write that failed on any rank fails the file (the system's
 * reason, ENOSPC, is the one said). */
static int spread_collect(struct job *j, evf_job_result_fn on_result, void *arg)
{
  int err = evf_writers_close(j->writers);
  int rc = evf_comm_reduce_stats(j->comm, j->stats);
  uint64_t v[3] = {evf_writers_records(j->writers), evf_writers_missing(j->writers),
                   evf_writers_bytes(j->writers)};
  evf_comm_sum_u64s(j->comm, v, 3);
  double secs = evf_comm_max_double(j->comm, evf_writers_seconds(j->writers));
  err = evf_comm_agree(j->comm, -err); /* the MIN of -errno: some rank's errno, or 0 */
  if (j->rank == 0 && !(j->writer_bytes = calloc((size_t)j->size, sizeof *j->writer_bytes)))
    evf_guard_fatal("out of memory");
  evf_comm_gather_u64(j->comm, evf_writers_bytes(j->writers), j->writer_bytes);
  if (j->rank != 0)
    return 0;
  if (rc) {
    evf_errorf(j->err, "cannot summarise: %s", evf_strerror(rc));
    return EVF_EXIT_RUNTIME;
  }
  j->spread_records = v[0];
  j->spread_missing = v[1];
  j->spread_bytes = v[2];
  j->output_s = secs;
  if (err && j->records_file.fp && !j->records_file.err)
    j->records_file.err = -err;
  uint64_t lost = j->partial ? 0 : j->spread_missing;
  if (lost) {
    evf_errorf(j->err, "%llu of %llu records did not reach their writers; no results written",
               (unsigned long long)lost, (unsigned long long)j->opt.tasks);
    return EVF_EXIT_RUNTIME;
  }
  return job_finish(j, on_result, arg);
}

/* 4. Every record is at rank 0 once every rank's final report is in and every window's gather
 * has completed (the loops' end waited for both): the wall time ends there.  Rank 0 writes
 * what remains of the windows.  5. Rank 0 summarises, commits the files, and only then prints
 * the summary (a reader that goes away cannot cost the results).  Returns the job's exit code
 * on rank 0. */
int evf_job_collect(struct job *j, evf_job_result_fn on_result, void *arg)
{
  j->wall = evf_clock_now() - j->t0;
  evf_job_journal_end(j);
  if (j->writers)
    return spread_collect(j, on_result, arg);
  if (j->rank != 0)
    return 0;
  /* What is left of the windows (and the journal's records in them); a drained run's windows
   * with what finished, the ids that did not left out. */
  for (uint64_t before = UINT64_MAX; evf_collect_written(j->collect) != before;) {
    before = evf_collect_written(j->collect);
    evf_job_write_windows(j, NULL, UINT64_MAX, 1);
  }
  uint64_t lost = j->opt.tasks - evf_collect_written(j->collect) +
                  (j->partial ? 0 : evf_collect_missing(j->collect));
  if (lost) {
    evf_errorf(j->err, "%llu of %llu records did not reach rank 0; no results written",
               (unsigned long long)lost, (unsigned long long)j->opt.tasks);
    return EVF_EXIT_RUNTIME;
  }
  return job_finish(j, on_result, arg);
}
