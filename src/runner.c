/* One rank's event loop: start up to `inflight` tasks, and each time a task's I/O phase ends,
 * run its CPU phase, complete its record and start the next task in the freed slot. */
#include "runner.h"

#include <ev.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "clock.h"
#include "error.h"
#include "guard.h"

/* A slot is a struct evf_task followed by the kind's private state. */
#define STATE_OFFSET \
  ((sizeof(struct evf_task) + alignof(max_align_t) - 1) / alignof(max_align_t) * alignof(max_align_t))

struct evf_runner {
  struct ev_loop *loop;
  const struct evf_runner_config *cfg;
  const struct evf_batch *batches;
  size_t nbatches;
  size_t cur_batch;           /* next task to start: batches[cur_batch], offset cur_offset */
  uint32_t cur_offset;
  struct evf_record *records;
  size_t next_record;         /* index of the next task's record */
  uint64_t total, done;       /* tasks of this rank, tasks with a final record */
  double t0;
  char *slots;                /* nslots slots of `stride` bytes */
  uint64_t nslots;
  size_t stride;
  ev_timer tick;
};

void *evf_task_state(struct evf_task *t)
{
  return (char *)t + STATE_OFFSET;
}

struct ev_loop *evf_task_loop(struct evf_task *t)
{
  return t->runner->loop;
}

const struct evf_options *evf_task_options(struct evf_task *t)
{
  return t->runner->cfg->opt;
}

/* Bind the next unstarted task to slot `t`; 0 when every task has been started. */
static int take_next(struct evf_runner *r, struct evf_task *t)
{
  while (r->cur_batch < r->nbatches && r->cur_offset >= r->batches[r->cur_batch].count) {
    r->cur_batch++;
    r->cur_offset = 0;
  }
  if (r->cur_batch >= r->nbatches)
    return 0;
  const struct evf_batch *b = &r->batches[r->cur_batch];
  struct evf_record *rec = &r->records[r->next_record++];
  rec->id = b->first_id + r->cur_offset++;
  rec->rank = r->cfg->rank;
  rec->batch = b->index;
  rec->value = 0;
  rec->cpu_time = 0;
  rec->status = EVF_STATUS_NOT_RUN;
  r->cfg->kind->plan(r->cfg->opt, rec);
  t->rec = rec;
  return 1;
}

static void finish(struct evf_runner *r)
{
  if (++r->done == r->total)
    ev_break(r->loop, EVBREAK_ALL);
}

/* Start tasks in slot `t` at time `now` until one is in its I/O phase or none is left.  A
 * kind's io_start() that fails ends its task at once, and the slot takes the next one. */
static void launch(struct evf_runner *r, struct evf_task *t, double now)
{
  double rel = now - r->t0;
  while (take_next(r, t)) {
    struct evf_record *rec = t->rec;
    rec->t_start = rel;
    int status = r->cfg->kind->io_start(t);
    if (status == EVF_STATUS_OK)
      return;
    rec->t_io_done = rec->t_end = rel;
    rec->status = status;
    finish(r);
  }
}

void evf_task_io_done(struct evf_task *t, int status)
{
  struct evf_runner *r = t->runner;
  struct evf_record *rec = t->rec;
  double t0 = r->t0;
  double t1 = evf_clock_now(), t2 = t1;
  if (status == EVF_STATUS_OK) {
    status = r->cfg->kind->cpu_run(t);
    t2 = evf_clock_now();
  }
  rec->t_io_done = t1 - t0;
  rec->t_end = t2 - t0;
  rec->cpu_time = t2 - t1;
  rec->status = status;
  finish(r);
  if (r->cur_batch < r->nbatches) {
    /* Timers are relative to the loop's cached time, which is stale after CPU phases. */
    ev_now_update(r->loop);
    launch(r, t, t2);
  }
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  (void)loop;
  (void)revents;
  struct evf_runner *r = w->data;
  r->cfg->tick(r->cfg->tick_arg, r->done, r->total, evf_clock_now() - r->t0);
}

void *evf_runner_ev_realloc(void *ptr, long size)
{
  if (size == 0) {
    free(ptr);
    return NULL;
  }
  void *p = size > 0 ? realloc(ptr, (size_t)size) : NULL;
  if (!p) /* libev cannot handle NULL: it would abort(), leaving temporary files behind */
    evf_guard_fatal("out of memory in the event loop (libev); no results written");
  return p;
}

struct evf_runner *evf_runner_new(const struct evf_runner_config *cfg,
                                  const struct evf_batch *batches, size_t nbatches,
                                  struct evf_record *records, int *rc, char *msg)
{
  ev_set_allocator(evf_runner_ev_realloc);
  *rc = 0;
  struct evf_runner *r = calloc(1, sizeof *r);
  if (!r) {
    *rc = evf_seterr(msg, EVF_ENOMEM, "cannot allocate the runner");
    return NULL;
  }
  r->cfg = cfg;
  r->batches = batches;
  r->nbatches = nbatches;
  r->records = records;
  for (size_t b = 0; b < nbatches; b++)
    r->total += batches[b].count;
  if (r->total == 0)
    return r;
  r->nslots = cfg->inflight && cfg->inflight < r->total ? cfg->inflight : r->total;
  size_t stride = STATE_OFFSET + cfg->kind->state_size;
  r->stride = (stride + alignof(max_align_t) - 1) / alignof(max_align_t) * alignof(max_align_t);
  /* Slots on cache-line boundaries: a 64-byte slot (sim) is then one line. */
  if (r->nslots > SIZE_MAX / r->stride ||
      posix_memalign((void **)&r->slots, 64, r->nslots * r->stride) != 0)
    r->slots = NULL;
  if (!r->slots) {
    *rc = evf_seterr(msg, EVF_ENOMEM, "cannot allocate %llu task slots (--inflight)",
                     (unsigned long long)r->nslots);
    free(r);
    return NULL;
  }
  r->loop = ev_loop_new(EVFLAG_AUTO);
  if (!r->loop) {
    *rc = evf_seterr(msg, EVF_ELOOP, "cannot create an event loop");
    free(r->slots);
    free(r);
    return NULL;
  }
  *rc = 0;
  return r;
}

int evf_runner_run(struct evf_runner *r, double t0, char *msg)
{
  const struct evf_runner_config *cfg = r->cfg;
  r->t0 = t0;
  if (r->total == 0)
    return 0;
  if (cfg->tick && cfg->tick_interval > 0) {
    ev_timer_init(&r->tick, tick_cb, cfg->tick_interval, cfg->tick_interval);
    r->tick.data = r;
    ev_timer_start(r->loop, &r->tick);
    ev_unref(r->loop); /* progress ticks alone must not keep the loop alive */
  }

  ev_now_update(r->loop);
  double now = evf_clock_now();
  for (uint64_t i = 0; i < r->nslots; i++) {
    struct evf_task *t = (struct evf_task *)(void *)(r->slots + i * r->stride);
    t->runner = r;
    launch(r, t, now);
  }
  if (r->done < r->total)
    ev_run(r->loop, 0);

  if (cfg->tick && cfg->tick_interval > 0) {
    ev_ref(r->loop);
    ev_timer_stop(r->loop, &r->tick);
  }
  if (r->done != r->total)
    return evf_seterr(msg, EVF_ELOOP, "the event loop stopped with %llu of %llu tasks unfinished",
                      (unsigned long long)(r->total - r->done), (unsigned long long)r->total);
  return 0;
}

uint64_t evf_runner_done(const struct evf_runner *r)
{
  return r->done;
}

void evf_runner_free(struct evf_runner *r)
{
  if (!r)
    return;
  if (r->loop)
    ev_loop_destroy(r->loop);
  free(r->slots);
  free(r);
}
