/* --journal glue of a job (see job_internal.h): rank 0 opens and reads back the journal, takes
 * streamed records in and appends them; other ranks send theirs; the drain (a signal, an
 * order, --max-fails) on every rank. */
#define _DEFAULT_SOURCE
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "clock.h"
#include "comm.h"
#include "guard.h"
#include "job_internal.h"

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

void evf_job_journal_records_in(void *arg, const void *recs, size_t len)
{
  struct job *j = arg;
  for (size_t at = 0; at + j->rec_size <= len; at += j->rec_size)
    journal_take(j, (const struct evf_record *)(const void *)((const char *)recs + at));
}

/* Another rank: send what waits. */
void evf_job_journal_send(struct job *j)
{
  if (!j->npend)
    return;
  evf_chan_send_records(j->chan, j->pend, j->npend * j->rec_size);
  j->pend = NULL;
  j->npend = 0;
}

/* From the runner: every final record of this rank. */
void evf_job_journal_done(void *arg, const struct evf_record *rec)
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
    evf_job_journal_send(j);
  else if (j->npend % 64 == 0) /* the messages on their way need this rank's calls to move */
    evf_chan_progress(j->chan);
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

void evf_job_journal_tick(struct job *j, double elapsed)
{
  drain_check(j);
  if (j->rank != 0) {
    if (j->npend && evf_clock_now() - j->pend_since >= JOURNAL_SEND_DELAY - JOURNAL_TICK)
      evf_job_journal_send(j);
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
void evf_job_journal_mark_run(struct job *j)
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
int evf_job_open_journal(struct job *j)
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
  int code = evf_job_agree(j, rc, 1);
  if (code)
    return code;
  j->ntodo = evf_comm_bcast_u64(j->comm, j->ntodo);
  return 0;
}

/* Rank 0: the ids still to run, as ranges. */
int evf_job_todo_ranges(const struct job *j, struct evf_batch **out, size_t *n)
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
