/* evf_run() and evf_job_run(): one whole job on one communicator.  The sequence is parse ->
 * agree -> open files -> agree -> partition -> scatter -> barrier/t0 -> each rank's loop ->
 * agree -> gather -> rank 0 writes.  Every branch that could differ between ranks is preceded
 * by evf_comm_agree(), so ranks never diverge. */
#include "evfarm/evfarm.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "clock.h"
#include "cli.h"
#include "comm.h"
#include "error.h"
#include "job.h"
#include "output.h"
#include "partition.h"
#include "placement.h"
#include "report.h"
#include "runner.h"
#include "stats.h"
#include "task.h"

const char *evf_version(void)
{
  return EVF_VERSION_STRING;
}

struct progress {
  FILE *err;
  int rank;
  struct evf_progress *comm;  /* the job-wide count (comm.c) */
};

/* Every --progress seconds on every rank's loop: report this rank's count; rank 0 prints the
 * job's. */
static void progress_tick(void *arg, uint64_t done, uint64_t total, double elapsed)
{
  struct progress *p = arg;
  (void)total;
  unsigned long long all = evf_comm_progress_update(p->comm, done);
  unsigned long long n = evf_comm_progress_total(p->comm);
  if (p->rank == 0) {
    fprintf(p->err, "evfarm: progress: %llu of %llu tasks done (%.0f%%) at %.1f s\n", all, n,
            n ? 100.0 * (double)all / (double)n : 100.0, elapsed);
    fflush(p->err);
  }
}

/* Everything a job holds, so one cleanup path releases it on every branch. */
struct job {
  MPI_Comm comm;
  int rank, size;
  FILE *out, *err;
  struct evf_options opt;
  struct evf_outfile records_file, summary_file;
  struct evf_partition part;      /* rank 0 only */
  struct evf_batch *batches;      /* this rank's batches */
  size_t nbatches;
  struct evf_record *records;     /* rank 0: all N; others: their own */
  char (*hosts)[EVF_HOST_LEN];    /* rank 0: the node name of every rank */
  int *cpus;                      /* rank 0: the online CPUs of every rank's node */
  size_t nlocal;                  /* this rank's task count */
  char msg[EVF_ERRMSG_LEN];
};

static void job_free(struct job *j)
{
  evf_outfile_discard(&j->records_file);
  evf_outfile_discard(&j->summary_file);
  evf_partition_free(&j->part);
  free(j->batches);
  free(j->records);
  free(j->hosts);
  free(j->cpus);
}

/* Agree on `rc` across ranks.  On an agreed failure, the rank that has a message prints it
 * (for bad input only rank 0 speaks, since every rank saw the same arguments) and the exit
 * code is returned; 0 means carry on. */
static int agree_or_report(struct job *j, int rc, int rank0_only)
{
  int all = evf_comm_agree(j->comm, rc);
  if (all == 0)
    return 0;
  if (rc != 0 && (!rank0_only || j->rank == 0)) {
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

static int write_outputs(struct job *j, const struct evf_summary *s, int code)
{
  int rc = 0;
  if (j->records_file.fp) {
    rc = evf_output_records(j->records_file.fp, j->opt.format, j->records, &j->part,
                            (const char(*)[EVF_HOST_LEN])j->hosts);
    if (rc)
      evf_seterr(j->msg, rc, "%s: cannot write", j->records_file.path);
    else
      rc = evf_outfile_commit(&j->records_file, j->msg);
  }
  if (!rc && j->summary_file.fp) {
    evf_report_json(j->summary_file.fp, &j->opt, s, code);
    rc = evf_outfile_commit(&j->summary_file, j->msg);
  }
  return rc;
}

int evf_run(int argc, char **argv, MPI_Comm comm, FILE *out, FILE *err)
{
  struct job j = {.comm = comm, .out = out, .err = err};
  j.rank = evf_comm_rank(comm);
  j.size = evf_comm_size(comm);

  /* Every rank parses the same arguments; they agree before anyone acts on the result. */
  enum evf_cli_action action;
  int rc = evf_cli_parse(argc, argv, &j.opt, &action, j.msg);
  int code = agree_or_report(&j, rc, 1);
  if (code)
    return code;
  if (action == EVF_CLI_RUN)
    return evf_job_run(&j.opt, comm, out, err, NULL, NULL);
  if (j.rank == 0) {
    if (action == EVF_CLI_HELP)
      evf_cli_usage(out);
    else
      fprintf(out, "evfarm %s\n", EVF_VERSION_STRING);
    fflush(out);
  }
  return 0;
}

int evf_job_run(const struct evf_options *opt, MPI_Comm comm, FILE *out, FILE *err,
                evf_job_result_fn on_result, void *arg)
{
  struct job j = {.comm = comm, .out = out, .err = err, .opt = *opt};
  double t_enter = evf_clock_now();
  j.rank = evf_comm_rank(comm);
  j.size = evf_comm_size(comm);

  /* 1. Rank 0 creates the output files before any work: an unwritable path is bad input. */
  int rc = 0;
  if (j.rank == 0) {
    if (j.opt.output)
      rc = evf_outfile_open(&j.records_file, "--output", j.opt.output, j.msg);
    if (rc == 0 && j.opt.json)
      rc = evf_outfile_open(&j.summary_file, "--json", j.opt.json, j.msg);
  }
  int code = agree_or_report(&j, rc, 1);
  if (code) {
    job_free(&j);
    return code;
  }

  /* 2. Rank 0 partitions the ids and scatters each rank its batch descriptors. */
  rc = j.rank == 0 ? evf_partition_plan(&j.part, j.opt.tasks, j.size, j.opt.batch_size) : 0;
  if (rc)
    evf_seterr(j.msg, rc, "cannot partition %u tasks: %s", (unsigned)j.opt.tasks, evf_strerror(rc));
  if ((code = agree_or_report(&j, rc, 0)))
    goto done;
  rc = evf_comm_scatter_batches(comm, &j.part, &j.batches, &j.nbatches);
  if (rc) {
    code = evf_error_exit_code(rc);
    if (j.rank == 0)
      evf_errorf(err, "cannot receive batches: %s", evf_strerror(rc));
    goto done;
  }
  for (size_t b = 0; b < j.nbatches; b++)
    j.nlocal += j.batches[b].count;
  size_t nrec = j.rank == 0 ? j.opt.tasks : j.nlocal;
  /* One record per cache line: the loop touches each record once, at a random moment. */
  if (posix_memalign((void **)&j.records, 64, (nrec ? nrec : 1) * sizeof *j.records) != 0)
    j.records = NULL;
  if (j.rank == 0) {
    j.hosts = calloc((size_t)j.size, EVF_HOST_LEN);
    j.cpus = calloc((size_t)j.size, sizeof *j.cpus);
  }
  rc = j.records && (j.rank != 0 || (j.hosts && j.cpus))
           ? 0
           : evf_seterr(j.msg, EVF_ENOMEM, "cannot allocate %zu records", nrec);
  if ((code = agree_or_report(&j, rc, 0)))
    goto done;
  char host[EVF_HOST_LEN];
  evf_placement_host(host);
  evf_comm_gather_hosts(comm, host, evf_placement_cpus(), j.hosts, j.cpus);

  /* 3. The run: t0 after a barrier, one event loop per rank, progress across them. */
  const struct evf_task_kind *kind = evf_task_kind_find(j.opt.kind);
  struct progress prog = {err, j.rank, NULL};
  if (j.opt.progress > 0)
    prog.comm = evf_comm_progress_new(comm, j.nlocal);
  struct evf_runner_config cfg = {
    .kind = kind,
    .opt = &j.opt,
    .rank = j.rank,
    .inflight = j.opt.inflight,
    .tick_interval = prog.comm ? j.opt.progress : 0,
    .tick = progress_tick,
    .tick_arg = &prog,
  };
  cfg.t0 = evf_comm_start_clock(comm);
  double setup = cfg.t0 - t_enter;
  rc = evf_runner_run(&cfg, j.batches, j.nbatches, j.records, j.msg);
  evf_comm_progress_finish(prog.comm, j.nlocal);
  if ((code = agree_or_report(&j, rc, 0)))
    goto done;

  /* 4. Every record to rank 0; the wall time ends when it has them all. */
  evf_comm_gather_records(comm, j.records, (int)j.nlocal, &j.part);
  double wall = evf_clock_now() - cfg.t0;

  /* 5. Rank 0 summarises and writes; every rank returns its verdict. */
  if (j.rank == 0) {
    struct evf_summary s;
    rc = evf_summary_compute(&s, j.records, j.opt.tasks, j.size, j.part.nbatches, wall);
    if (rc) {
      evf_errorf(err, "cannot summarise: %s", evf_strerror(rc));
      code = EVF_EXIT_RUNTIME;
    } else {
      struct rusage ru;
      if (getrusage(RUSAGE_SELF, &ru) == 0) {
        s.rank0_maxrss_kib = ru.ru_maxrss;
        s.rank0_process_cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
                              (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
      }
      s.setup = setup;
      evf_summary_set_placement(&s, (const char(*)[EVF_HOST_LEN])j.hosts, j.cpus);
      evf_placement_slurm(&s.slurm);
      code = s.failed ? EVF_EXIT_TASKS : EVF_EXIT_OK;
      if (!j.opt.quiet)
        evf_report_text(out, &j.opt, &s);
      rc = write_outputs(&j, &s, code);
      if (rc) {
        evf_errorf(err, "%s", j.msg);
        code = EVF_EXIT_RUNTIME;
      }
      if (on_result)
        on_result(arg, &j.opt, &s);
      evf_summary_free(&s);
    }
  }
  code = evf_comm_bcast_int(comm, code);

done:
  job_free(&j);
  return code;
}
