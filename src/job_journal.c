/* --journal glue of a job (see job_internal.h): rank 0 opens the journal directory and reads
 * the earlier runs' files back (which ids to run; later, their records into the output); every
 * rank appends its own finished records to its own file of this run; the drain (a signal, an
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

/* This rank's journal failed (a write error): said now, on the rank it happened on; the run
 * ends with exit 3. */
static void journal_failed(struct job *j)
{
  if (j->journal_failed)
    return;
  j->journal_failed = 1;
  if (j->size > 1)
    evf_errorf(j->err, "rank %d: %s", j->rank, j->msg);
  else
    evf_errorf(j->err, "%s", j->msg);
}

/* From the runner, --journal: every final record of this rank goes into its journal file, then
 * on its way to the output as without one (rank 0's into its ring, the others' into their
 * windows' gathers).  A task a drain cancelled has no record: it is left for --resume. */
void evf_job_journal_done(void *arg, const struct evf_record *rec)
{
  struct job *j = arg;
  if (rec->status == EVF_STATUS_NOT_RUN)
    return;
  if (!j->journal_failed && evf_journal_append(j->journal, rec, 1, j->msg))
    journal_failed(j);
  if (j->collect)
    evf_job_collect_done(arg, rec);
  else
    evf_job_gather_done(arg, rec);
}

/* From the runner (a kind is about to make final what this rank's records describe): the
 * records so far out of the journal's buffer, into the file. */
void evf_job_journal_sync(void *arg)
{
  struct job *j = arg;
  if (j->journal && !j->journal_failed && evf_journal_flush(j->journal, 0, j->msg))
    journal_failed(j);
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

/* Every JOURNAL_TICK on every rank: act on a drain; write the journal's buffer out (fsync it
 * every JOURNAL_SYNC_EVERY s).  With --max-fails the failures go to rank 0 as they happen (in
 * the progress counts, the channel's report), which drains the job at the count. */
void evf_job_journal_tick(struct job *j, const struct evf_progress_counts *mine, double elapsed)
{
  if (j->opt.max_fails && j->rank == 0)
    j->failed_now = evf_chan_update(j->chan, mine).failed;
  else if (j->opt.max_fails && mine->failed != j->failed_reported &&
           evf_chan_report(j->chan, mine))
    j->failed_reported = mine->failed;
  drain_check(j);
  int durable = elapsed - j->last_sync >= JOURNAL_SYNC_EVERY;
  if (!j->journal_failed && evf_journal_flush(j->journal, durable, j->msg))
    journal_failed(j);
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
  if (rc)
    journal_failed(j);
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

/* Rank 0, reading the journal back, first pass: the last record of each id decides whether
 * this run leaves it (it holds a record; with --retry-failed an ok one) or runs it; each file's
 * index says where its records lie, for the second pass. */
static void journal_read_one(void *arg, const struct evf_record *rec, uint64_t at)
{
  struct job *j = arg;
  if (rec->id < 1 || rec->id > j->opt.tasks)
    return; /* cannot be ours: the header matched, so only damage could do this */
  if (j->kind->resume && j->kind_resume_rc == 0)
    j->kind_resume_rc = j->kind->resume(&j->opt, &j->kind_resume, rec, j->err, j->msg);
  uint64_t k = rec->id - 1, bit = 1ull << (k % 64);
  if (j->opt.retry_failed && rec->status != EVF_STATUS_OK)
    j->held[k / 64] &= ~bit;
  else
    j->held[k / 64] |= bit;
  struct evf_jindex *x = &j->jindex[j->jreading];
  if (x->n == 0 || x->in_last == JOURNAL_CHUNK) {
    if (x->n == x->cap) {
      size_t cap = x->cap ? 2 * x->cap : 16;
      struct evf_jchunk *c = realloc(x->c, cap * sizeof *c);
      if (!c)
        evf_guard_fatal("out of memory reading the journal back");
      x->c = c;
      x->cap = cap;
    }
    x->c[x->n++] = (struct evf_jchunk){at, rec->id, rec->id};
    x->in_last = 0;
  }
  struct evf_jchunk *c = &x->c[x->n - 1];
  if (rec->id < c->lo)
    c->lo = rec->id;
  if (rec->id > c->hi)
    c->hi = rec->id;
  x->in_last++;
}

int evf_job_held(const struct job *j, uint64_t id)
{
  return j->held && (j->held[(id - 1) / 64] >> ((id - 1) % 64) & 1);
}

/* Rank 0: read every file of the journal, in run order (first pass: which ids it holds, and
 * where), saying what was damaged or torn. */
static int read_all(struct job *j)
{
  int rc = 0;
  for (size_t f = 0; rc == 0 && f < j->jdir.n; f++) {
    const char *path = j->jdir.file[f].path;
    uint64_t nread = 0, torn = 0;
    struct evf_journal_damage dmg = {0, 0, 0};
    j->jreading = f;
    rc = evf_journal_read(path, j->jheader, j->rec_size, journal_read_one, j, &nread, &torn,
                          &dmg, &j->jindex[f].version, j->msg);
    if (rc)
      continue;
    j->torn += torn;
    j->damage.bytes += dmg.bytes;
    j->damage.stretches += dmg.stretches;
    /* Said even with --quiet: records were lost, and their ids run again. */
    if (dmg.stretches)
      evf_errorf(j->err, "--journal: '%s': %llu damaged stretch%s of %llu bytes in all skipped "
                         "(the first at byte %llu: a frame whose hash, magic or size is wrong); "
                         "the valid frames after %s kept; the records lost run again",
                 evf_clip(path), (unsigned long long)dmg.stretches,
                 dmg.stretches == 1 ? "" : "es", (unsigned long long)dmg.bytes,
                 (unsigned long long)dmg.first_at, dmg.stretches == 1 ? "it" : "them");
    if (torn)
      evf_errorf(j->err, "--journal: '%s': a torn tail of %llu bytes cut (a run that ended "
                         "mid-write); its records run again",
                 evf_clip(path), (unsigned long long)torn);
  }
  return rc;
}

/* 1c. --journal: rank 0 opens the directory and reads the earlier runs' files (the ids they
 * hold are not run again; those that failed are, with --retry-failed); every rank creates its
 * file of this run, before any work. */
int evf_job_open_journal(struct job *j)
{
  j->ntodo = j->opt.tasks;
  if (!j->opt.journal)
    return 0;
  /* SIGUSR1/SIGTERM drain instead of stopping; a SIGTERM drain gives up (and cleans up) if it
   * has not ended --term-grace + 0.5 s later, before the launcher's SIGKILL. */
  evf_guard_drain(&j->drain_signal, j->opt.term_grace + TERM_MARGIN);
  j->jdir.lock_fd = -1;
  int rc = 0;
  if (j->rank == 0) {
    size_t words = ((size_t)j->opt.tasks + 63) / 64;
    rc = journal_header(j, j->jheader, sizeof j->jheader)
             ? evf_seterr(j->msg, EVF_EUSAGE, "--journal: the task set does not fit a header")
             : 0;
    if (rc == 0)
      rc = evf_journal_dir_open(&j->jdir, j->opt.journal, j->opt.resume, j->msg);
    if (rc == 0 && j->jdir.n &&
        (!(j->held = calloc(words ? words : 1, sizeof *j->held)) ||
         !(j->jindex = calloc(j->jdir.n, sizeof *j->jindex))))
      rc = evf_seterr(j->msg, EVF_ENOMEM, "--journal: out of memory");
    if (rc == 0 && j->jdir.n)
      rc = read_all(j);
    if (rc == 0)
      rc = j->kind_resume_rc;
    if (j->kind->resume && j->opt.resume) { /* what the kind kept past the journal, repaired */
      int krc = j->kind->resume(&j->opt, &j->kind_resume, NULL, j->err,
                                rc ? (char[EVF_ERRMSG_LEN]){0} : j->msg);
      if (rc == 0)
        rc = krc;
    }
    for (size_t w = 0; rc == 0 && j->held && w < words; w++)
      j->reused += (uint64_t)__builtin_popcountll(j->held[w]);
    j->ntodo = j->opt.tasks - j->reused;
  }
  int code = evf_job_agree(j, rc, 1);
  if (code)
    return code;
  j->ntodo = evf_comm_bcast_u64(j->comm, j->ntodo);
  uint32_t run = (uint32_t)evf_comm_bcast_u64(j->comm, j->jdir.next_run);
  evf_comm_bcast_str(j->comm, j->jheader, sizeof j->jheader);
  size_t n = strlen(j->opt.journal) + 64;
  j->jpath = malloc(n);
  rc = j->jpath ? 0 : evf_seterr(j->msg, EVF_ENOMEM, "--journal: out of memory");
  if (rc == 0 && evf_journal_file_name(j->jpath, n, j->opt.journal, run, (uint32_t)j->rank))
    rc = evf_seterr(j->msg, EVF_EUSAGE, "--journal: '%s': the path is too long",
                    evf_clip(j->opt.journal));
  if (rc == 0)
    rc = evf_journal_create(&j->journal, j->jpath, j->jheader, j->rec_size, j->msg);
  return evf_job_agree(j, rc, 0);
}

/* Rank 0, second pass: a held record of the window being fed goes into the ring (files in run
 * order: a later record of an id replaces an earlier one). */
static void feed_one(void *arg, const struct evf_record *rec, uint64_t at)
{
  struct job *j = arg;
  (void)at;
  if (rec->id < j->feed_first || rec->id > j->feed_last || !evf_job_held(j, rec->id))
    return;
  if (evf_collect_held(j->collect, rec))
    evf_guard_fatal("a journaled record outside the ring");
}

int evf_job_journal_feed(struct job *j, uint64_t max_chunks)
{
  if (j->rank != 0 || !j->reused)
    return 0;
  uint64_t limit = evf_collect_limit(j->collect), read = 0;
  while (j->fed_to < limit && j->fed_to < j->opt.tasks) {
    if (!j->feeding) { /* the next window: every file's chunks that reach into it */
      j->feeding = 1;
      j->feed_first = j->fed_to + 1;
      j->feed_last = j->fed_to + j->window < j->opt.tasks ? j->fed_to + j->window
                                                          : j->opt.tasks;
      j->feed_f = j->feed_c = 0;
    }
    for (; j->feed_f < j->jdir.n; j->feed_f++, j->feed_c = 0) {
      const struct evf_jindex *x = &j->jindex[j->feed_f];
      for (; j->feed_c < x->n; j->feed_c++) {
        const struct evf_jchunk *c = &x->c[j->feed_c];
        if (c->lo > j->feed_last || c->hi < j->feed_first)
          continue;
        if (read == max_chunks)
          return 0; /* on the next turn */
        int rc = 0;
        if (!j->feed_rd)
          rc = evf_journal_reader_open(&j->feed_rd, j->jdir.file[j->feed_f].path, x->version,
                                       j->rec_size, j->msg);
        if (rc == 0)
          rc = evf_journal_reader_range(j->feed_rd, c->at,
                                        j->feed_c + 1 < x->n ? x->c[j->feed_c + 1].at
                                                             : UINT64_MAX,
                                        feed_one, j, j->msg);
        if (rc)
          return rc;
        read++;
      }
      evf_journal_reader_close(j->feed_rd);
      j->feed_rd = NULL;
    }
    j->feeding = 0;
    j->fed_to = j->feed_last;
  }
  return 0;
}

/* Every rank, after the loops: its journal written out, fsynced and closed; the ranks' counts
 * summed (records appended; ranks whose journal failed). */
void evf_job_journal_end(struct job *j)
{
  if (!j->opt.journal)
    return;
  uint64_t appended = j->journal ? evf_journal_count(j->journal) : 0;
  if (evf_journal_close(j->journal, j->msg))
    journal_failed(j);
  j->journal = NULL;
  j->appended = evf_comm_sum_u64(j->comm, appended);
  j->journals_failed = evf_comm_sum_u64(j->comm, (unsigned long long)j->journal_failed);
}

/* Rank 0: the ids still to run, as ranges. */
int evf_job_todo_ranges(const struct job *j, struct evf_batch **out, size_t *n)
{
  size_t cap = 16, k = 0;
  struct evf_batch *r = malloc(cap * sizeof *r);
  for (uint32_t i = 0; r && i < j->opt.tasks; i++) {
    if (evf_job_held(j, (uint64_t)i + 1))
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
