/* One rank's event loop: start up to `inflight` tasks, and each time a task's I/O phase ends,
 * run its CPU phase, complete its record and start the next task in the freed slot. */
#include "runner.h"

#include <ev.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "error.h"
#include "gen.h"
#include "guard.h"

/* A slot: the task the kind sees, the runner's timer (the deadline of the I/O attempt in
 * flight, or the backoff before the next attempt), then the kind's private state. */
enum slot_phase { SLOT_IDLE = 0, SLOT_IO, SLOT_WAIT };

struct slot {
  struct evf_task task;       /* first: a struct evf_task * is a struct slot * */
  ev_timer timer;
  int phase;
  size_t index;               /* the task's index in the rank's records (and inputs) */
};

#define STATE_OFFSET \
  ((sizeof(struct slot) + alignof(max_align_t) - 1) / alignof(max_align_t) * alignof(max_align_t))

struct evf_runner {
  struct ev_loop *loop;
  const struct evf_runner_config *cfg;
  const struct evf_task_kind *kind;
  const struct evf_batch *batches;
  size_t nbatches;
  size_t cur_batch;           /* next task to start: batches[cur_batch], offset cur_offset */
  uint32_t cur_offset;
  char *records;              /* records of rec_size bytes */
  size_t rec_size;
  size_t next_record;         /* index of the next task's record */
  uint64_t total, done;       /* tasks of this rank, tasks with a final record */
  uint64_t failed, started;   /* final records not ok; tasks started */
  double t0;
  char *slots;                /* nslots slots of `stride` bytes */
  uint64_t nslots;
  size_t stride;
  void *shared;               /* the kind's, from open() */
  int opened;
  ev_timer tick;
};

static struct slot *slot_of(struct evf_task *t)
{
  return (struct slot *)(void *)t;
}

void *evf_task_state(struct evf_task *t)
{
  return (char *)t + STATE_OFFSET;
}

void *evf_task_ext(struct evf_task *t)
{
  return t->rec + 1;
}

void *evf_task_shared(struct evf_task *t)
{
  return t->runner->shared;
}

const char *evf_task_input(struct evf_task *t)
{
  const char *const *in = t->runner->cfg->inputs;
  return in ? in[slot_of(t)->index] : NULL;
}

struct ev_loop *evf_task_loop(struct evf_task *t)
{
  return t->runner->loop;
}

const struct evf_options *evf_task_options(struct evf_task *t)
{
  return t->runner->cfg->opt;
}

double evf_runner_backoff(const struct evf_options *opt, uint32_t id, unsigned attempt)
{
  double cap = opt->retry_delay * ldexp(1.0, (int)(attempt ? attempt - 1 : 0));
  if (cap > opt->retry_max_delay)
    cap = opt->retry_max_delay;
  uint64_t bits = evf_gen_bits(opt->seed, id, evf_gen_attempt_stream(EVF_STREAM_RETRY, attempt));
  return evf_gen_unit(bits) * cap;
}

/* Bind the next unstarted task to slot `s`; 0 when every task has been started. */
static int take_next(struct evf_runner *r, struct slot *s)
{
  while (r->cur_batch < r->nbatches && r->cur_offset >= r->batches[r->cur_batch].count) {
    r->cur_batch++;
    r->cur_offset = 0;
  }
  if (r->cur_batch >= r->nbatches)
    return 0;
  const struct evf_batch *b = &r->batches[r->cur_batch];
  s->index = r->next_record++;
  struct evf_record *rec = evf_record_at(r->records, r->rec_size, s->index);
  memset(rec, 0, r->rec_size);
  rec->id = b->first_id + r->cur_offset++;
  rec->rank = r->cfg->rank;
  rec->batch = b->index;
  rec->status = EVF_STATUS_NOT_RUN;
  if (r->kind->plan)
    r->kind->plan(r->cfg->opt, rec);
  s->task.rec = rec;
  r->started++;
  return 1;
}

static void finish(struct evf_runner *r, int status)
{
  r->failed += status != EVF_STATUS_OK;
  if (++r->done == r->total)
    ev_break(r->loop, EVBREAK_ALL);
}

/* (Re)arm the slot's timer for `after` seconds from the loop's time, which is refreshed first:
 * it is stale after CPU phases. */
static void slot_timer(struct evf_runner *r, struct slot *s, double after)
{
  ev_now_update(r->loop);
  if (after > 0) {
    s->timer.repeat = after;
    ev_timer_again(r->loop, &s->timer);
  } else { /* ev_timer_again with a repeat of 0 would stop the timer, not fire it */
    ev_timer_stop(r->loop, &s->timer);
    ev_timer_set(&s->timer, 0., 0.);
    ev_timer_start(r->loop, &s->timer);
  }
}

/* Start the next attempt of the task in slot `s`.  Returns 1 when it is in flight, 0 when it
 * ended at once (io_start failed: its status is final, never retried). */
static int attempt(struct evf_runner *r, struct slot *s)
{
  struct evf_record *rec = s->task.rec;
  rec->attempts++;
  s->phase = SLOT_IO;
  int status = r->kind->io_start(&s->task);
  if (status == EVF_STATUS_OK) {
    if (r->cfg->opt->timeout > 0 && s->phase == SLOT_IO && !r->kind->deadline_on_begun)
      slot_timer(r, s, r->cfg->opt->timeout);
    return 1;
  }
  s->phase = SLOT_IDLE;
  rec->t_io_done = rec->t_end = rec->attempts == 1 ? rec->t_start : evf_clock_now() - r->t0;
  rec->status = (int16_t)status;
  rec->last_error = (uint8_t)status;
  finish(r, status);
  return 0;
}

/* Start tasks in slot `s` at time `now` until one is in its I/O phase or none is left. */
static void launch(struct evf_runner *r, struct slot *s, double now)
{
  double rel = now - r->t0;
  while (take_next(r, s)) {
    s->task.rec->t_start = rel;
    if (attempt(r, s))
      return;
  }
}

void evf_task_io_end(struct evf_task *t, int status, int transient, double retry_after)
{
  struct evf_runner *r = t->runner;
  struct slot *s = slot_of(t);
  struct evf_record *rec = t->rec;
  const struct evf_options *opt = r->cfg->opt;
  if (s->phase != SLOT_IO) /* an end from a kind after its cancel: a bug, never a double end */
    evf_guard_fatal("a task kind ended an I/O attempt that was not in flight");
  s->phase = SLOT_IDLE;
  ev_timer_stop(r->loop, &s->timer);
  if (status != EVF_STATUS_OK) {
    rec->last_error = (uint8_t)status;
    if (transient && rec->attempts <= opt->retries && retry_after <= opt->retry_max_delay) {
      double wait = evf_runner_backoff(opt, rec->id, rec->attempts);
      s->phase = SLOT_WAIT;
      slot_timer(r, s, wait > retry_after ? wait : retry_after);
      return;
    }
  }
  double t1 = evf_clock_now(), t2 = t1;
  if (status == EVF_STATUS_OK) {
    status = r->kind->cpu_run(t);
    t2 = evf_clock_now();
  }
  rec->t_io_done = t1 - r->t0;
  rec->t_end = t2 - r->t0;
  rec->cpu_time = t2 - t1;
  rec->status = (int16_t)status;
  finish(r, status);
  if (r->cur_batch < r->nbatches) {
    ev_now_update(r->loop); /* kinds' timers are relative to it; stale after CPU phases */
    launch(r, s, t2);
  }
}

void evf_task_io_begun(struct evf_task *t)
{
  struct slot *s = slot_of(t);
  if (s->phase == SLOT_IO && t->runner->cfg->opt->timeout > 0)
    slot_timer(t->runner, s, t->runner->cfg->opt->timeout);
}

void evf_task_io_done(struct evf_task *t, int status)
{
  evf_task_io_end(t, status, status == EVF_STATUS_IO_ERROR || status == EVF_STATUS_TIMEOUT, 0);
}

/* The slot's timer: the attempt's deadline passed (cancel it: a transient timeout), or the
 * backoff is over (the next attempt). */
static void slot_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  (void)loop;
  (void)revents;
  struct slot *s = w->data;
  struct evf_runner *r = s->task.runner;
  ev_timer_stop(r->loop, w);
  if (s->phase == SLOT_IO) {
    r->kind->cancel(&s->task);
    evf_task_io_end(&s->task, EVF_STATUS_TIMEOUT, 1, 0);
  } else if (s->phase == SLOT_WAIT) {
    if (!attempt(r, s) && r->cur_batch < r->nbatches)
      launch(r, s, evf_clock_now());
  }
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  (void)loop;
  (void)revents;
  struct evf_runner *r = w->data;
  struct evf_runner_counts c = evf_runner_counts(r);
  r->cfg->tick(r->cfg->tick_arg, &c, evf_clock_now() - r->t0);
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
                                  void *records, int *rc, char *msg)
{
  ev_set_allocator(evf_runner_ev_realloc);
  *rc = 0;
  struct evf_runner *r = calloc(1, sizeof *r);
  if (!r) {
    *rc = evf_seterr(msg, EVF_ENOMEM, "cannot allocate the runner");
    return NULL;
  }
  r->cfg = cfg;
  r->kind = cfg->kind;
  r->rec_size = evf_task_record_size(cfg->kind);
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
  memset(r->slots, 0, r->nslots * r->stride); /* kinds' state starts zeroed */
  r->loop = ev_loop_new(EVFLAG_AUTO);
  if (!r->loop) {
    *rc = evf_seterr(msg, EVF_ELOOP, "cannot create an event loop");
    free(r->slots);
    free(r);
    return NULL;
  }
  if (r->kind->open) {
    *rc = r->kind->open(r->loop, cfg->opt, r->nslots, &r->shared, msg);
    if (*rc) {
      evf_runner_free(r);
      return NULL;
    }
    r->opened = 1;
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
    struct slot *s = (struct slot *)(void *)(r->slots + i * r->stride);
    s->task.runner = r;
    ev_init(&s->timer, slot_timer_cb);
    s->timer.data = s;
  }
  for (uint64_t i = 0; i < r->nslots; i++)
    launch(r, (struct slot *)(void *)(r->slots + i * r->stride), now);
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

struct evf_runner_counts evf_runner_counts(const struct evf_runner *r)
{
  struct evf_runner_counts c = {r->total, r->done, r->failed, r->started - r->done};
  return c;
}

void evf_runner_free(struct evf_runner *r)
{
  if (!r)
    return;
  if (r->opened)
    r->kind->close(r->shared);
  if (r->loop)
    ev_loop_destroy(r->loop);
  free(r->slots);
  free(r);
}
