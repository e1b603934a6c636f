/* A job's records on their way to the output (see job_internal.h): each rank's into its
 * window's part and the window's gather (gather.c), rank 0's own by id into its ring, gathered
 * windows placed, completed windows written in id order and the limit raised (collect.c). */
#define _DEFAULT_SOURCE
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "guard.h"
#include "job_internal.h"

/* From the runner (after the journal, with --journal): every final record of another rank
 * waits in its window's part for the window's gather. */
void evf_job_gather_done(void *arg, const struct evf_record *rec)
{
  struct job *j = arg;
  if (evf_gather_put(j->gather, rec))
    evf_guard_fatal("a record for no task of this rank's open windows, or out of memory");
}

/* A dealt batch's tasks are this rank's: their windows wait for their records. */
void evf_job_expect(struct job *j, const struct evf_batch *b)
{
  if (evf_gather_expect(j->gather, b))
    evf_guard_fatal("a dealt batch for a window already gathered, or out of memory");
}

/* Rank 0: its own record, in its place in the ring already. */
void evf_job_collect_done(void *arg, const struct evf_record *rec)
{
  struct job *j = arg;
  if (evf_collect_take(j->collect, rec))
    evf_guard_fatal("a record with an id out of range or seen twice");
}

/* Rank 0: a gathered window's records go by id into the ring, once it has room for them (the
 * window before the one being written is complete). */
int evf_job_gather_take(void *arg, uint64_t w, const void *recs, size_t n)
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

/* Rank 0: the journal's held records of the windows the ring has taken in (a step of them;
 * all once its loop has `ended`), then write what completed (at most `max` records) and let the
 * next ids start.  Once its loop has ended, a window every gather of which was taken and that
 * is still incomplete gets nothing more (a drained run's, or records lost): it is written with
 * what it has (evf_collect_skip), so the windows after it are taken in. */
void evf_job_write_windows(struct job *j, struct evf_runner *r, uint64_t max, int ended)
{
  double t = evf_clock_now();
  if (evf_job_journal_feed(j, ended ? UINT64_MAX : FEED_STEP))
    evf_guard_fatal(j->msg); /* the journal could not be read again: rank 0 ends the job */
  uint64_t before = evf_collect_written(j->collect);
  uint64_t n = evf_collect_step(j->collect, max);
  if (!n && ended) {
    uint64_t first, last;
    evf_collect_window_of(j->collect, &first, &last);
    if (first <= j->opt.tasks && evf_gather_taken(j->gather) >= last &&
        (!j->reused || j->fed_to >= last))
      evf_collect_skip(j->collect);
  }
  if (evf_collect_written(j->collect) != before) {
    j->output_s += evf_clock_now() - t;
    uint64_t lim = evf_collect_limit(j->collect);
    if (r)
      evf_runner_set_limit(r, lim);
    if (j->chan)
      evf_chan_set_limit(j->chan, lim);
  }
}

/* Spread writers: every rank formats and writes a step of its windows; rank 0 lets more ids
 * start as the windows' sizes come in (the windows before them are written or on their way):
 * ids up to two ring windows past the first whose size it does not know, as collect.c's
 * limit with one writer. */
void evf_job_spread_poll(struct job *j, struct evf_runner *r, uint64_t max)
{
  evf_writers_poll(j->writers, max);
  if (j->rank != 0 || !j->gated)
    return;
  uint64_t n = j->opt.tasks, known = evf_writers_known(j->writers) * j->gather_window;
  if (known > n)
    known = n;
  uint64_t lim = known / j->window * j->window + evf_collect_ring_size(n, j->window);
  if (lim > n)
    lim = n;
  if (lim <= j->spread_limit)
    return;
  j->spread_limit = lim;
  if (r)
    evf_runner_set_limit(r, lim);
  if (j->chan)
    evf_chan_set_limit(j->chan, lim);
}

/* From the feed (windows, or dynamic scheduling): every rank posts the parts of its windows
 * that are ready and moves the gathers on; with windows, rank 0 (or every writer) writes a
 * step of a completed window. */
void evf_job_stream_tick(struct job *j)
{
  evf_gather_poll(j->gather, evf_chan_sealed_to(j->chan), 0);
  if (j->writers)
    evf_job_spread_poll(j, j->runner, WRITE_STEP);
  else if (j->collect && j->gated)
    evf_job_write_windows(j, j->runner, WRITE_STEP, 0);
}
