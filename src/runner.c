/* One rank's event loop: start up to `inflight` tasks, and each time a task's I/O phase ends,
 * run its CPU phase, complete its record and start the next task in the freed slot. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MAP_NORESERVE */
#include "runner.h"

#include <ev.h>
#include <stdalign.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

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
  int begun;                  /* the attempt's deadline runs (evf_task_io_begun: once only) */
  int paused;                 /* evf_task_io_wait stopped it with `left` seconds to go */
  double left;
  union {
    const char *input;        /* the task's input (kinds with an input file) */
    struct slot *next_idle;   /* an idle slot: the next on the idle list */
  } u;
};

/* Batches added and not yet all started, with the inputs of their tasks. */
struct queued {
  struct evf_batch b;
  const char *const *inputs;  /* one per task of the batch, or NULL */
  const uint32_t *ids;        /* host-affine plans: the id of each task (the batch is a range
                                 of positions, hostplan.h), or NULL: its ids are the range */
};

#define STATE_OFFSET \
  ((sizeof(struct slot) + alignof(max_align_t) - 1) / alignof(max_align_t) * alignof(max_align_t))

struct evf_runner {
  struct ev_loop *loop;
  const struct evf_runner_config *cfg;
  const struct evf_task_kind *kind;
  struct queued *queue;       /* batches added, in order */
  size_t nqueued, cap_queued;
  size_t cur_batch;           /* next task to start: queue[cur_batch], offset cur_offset */
  uint32_t cur_offset;
  char *records;              /* rec_cap records of rec_size bytes */
  size_t rec_size;
  uint64_t rec_cap;
  size_t next_record;         /* index of the next task's record */
  size_t rec_off;             /* records == NULL: where a slot holds its task's record */
  uint64_t limit;             /* the highest id that may start (evf_runner_set_limit) */
  uint64_t max_id;            /* the largest id queued so far */
  uint64_t total, done;       /* tasks added so far, tasks with a final record */
  uint64_t failed, started;   /* final records not ok; tasks started */
  int closed;                 /* no batch will be added */
  int hold;                   /* a kind that asks turns: the loop runs on, every task ended,
                                 until evf_runner_release() (it serves other ranks' turns) */
  int draining;               /* evf_runner_drain(): no task starts; the rest end by grace */
  ev_timer grace;
  double drain_until;         /* when the grace ends */
  int running;                /* evf_runner_run() is in its loop */
  double t0;
  char *slots;                /* nslots slots of `stride` bytes, mapped (untouched until used) */
  size_t slots_bytes;
  uint64_t nslots, slots_used;/* slots, slots initialised so far */
  struct slot *idle;          /* initialised slots with no task */
  size_t stride;
  void *shared;               /* the kind's, from open() */
  int opened;
  ev_timer tick;
  ev_timer feed;              /* open runner with a feed: keeps the loop alive, calls feed */
  int feed_on;
  double last_feed;
  int fail_code;              /* evf_task_fail(): the first failure of the rank */
  char fail_msg[EVF_ERRMSG_LEN];
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
  return slot_of(t)->u.input;
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

/* The id of the next task to start (skipping used-up batches), or 0 when none is left. */
static uint64_t next_id(struct evf_runner *r)
{
  while (r->cur_batch < r->nqueued && r->cur_offset >= r->queue[r->cur_batch].b.count) {
    r->cur_batch++;
    r->cur_offset = 0;
  }
  return r->cur_batch < r->nqueued ? (uint64_t)r->queue[r->cur_batch].b.first_id + r->cur_offset
                                   : 0;
}

/* Tasks wait that may not start yet: the next one is beyond the limit. */
static int held(struct evf_runner *r)
{
  return !r->draining && next_id(r) > r->limit;
}

/* Some task queued, started or not, is beyond the limit: a closed runner keeps its feed (which
 * raises the limit) until none is.  Not held() alone: the next task may be within the limit
 * while a later one of the same batches is not, and once the feed stopped nothing would raise
 * the limit for it (the loop would end with that task unfinished). */
static int waits_for_limit(struct evf_runner *r)
{
  return !r->draining && r->max_id > r->limit;
}

/* A closed runner keeps its feed while a task waits for the limit, or while it is held (a kind
 * that asks turns of other ranks: the feed brings their messages, through a drain too). */
static int keeps_feed(struct evf_runner *r)
{
  return waits_for_limit(r) || r->hold;
}

/* Bind the next unstarted task to slot `s`; 0 when every task has been started (or the next may
 * not start yet). */
static int take_next(struct evf_runner *r, struct slot *s)
{
  if (r->draining)
    return 0;
  uint64_t id = next_id(r);
  if (id == 0 || id > r->limit)
    return 0;
  const struct queued *q = &r->queue[r->cur_batch];
  const struct evf_batch *b = &q->b;
  s->u.input = q->inputs ? q->inputs[r->cur_offset] : NULL;
  if (q->ids) /* the position's id: records and their places go by it, the limit by position */
    id = q->ids[r->cur_offset];
  struct evf_record *rec;
  if (!r->records) /* kept in the slot until the done callback has taken it */
    rec = (struct evf_record *)(void *)((char *)s + r->rec_off);
  else if (r->cfg->by_id)
    rec = evf_record_at(r->records, r->rec_size,
                        r->cfg->ring ? (id - 1) % r->cfg->ring : id - 1);
  else
    rec = evf_record_at(r->records, r->rec_size, r->next_record++);
  memset(rec, 0, r->rec_size);
  rec->id = (uint32_t)id;
  r->cur_offset++;
  rec->rank = r->cfg->rank;
  rec->batch = b->index;
  rec->status = EVF_STATUS_NOT_RUN;
  if (r->kind->plan)
    r->kind->plan(r->cfg->opt, rec);
  s->task.rec = rec;
  r->started++;
  return 1;
}

static void finish(struct evf_runner *r, const struct evf_record *rec, int status)
{
  r->failed += status != EVF_STATUS_OK;
  if (r->cfg->done)
    r->cfg->done(r->cfg->done_arg, rec);
  if (++r->done == r->total && r->closed && !r->hold)
    ev_break(r->loop, EVBREAK_ALL);
}

static void launch_free(struct evf_runner *r);

int evf_runner_hungry(struct evf_runner *r)
{
  return !r->closed && r->total - r->started <= r->nslots && !held(r);
}

void evf_runner_set_limit(struct evf_runner *r, uint64_t limit)
{
  if (limit <= r->limit)
    return;
  r->limit = limit;
  if (r->running)
    launch_free(r);
  if (r->closed && r->feed_on && !keeps_feed(r)) { /* nothing waits for the limit now */
    ev_timer_stop(r->loop, &r->feed);
    r->feed_on = 0;
  }
}

/* Give the feed its turn: at once when the runner is hungry, else at most every
 * cfg->feed_interval / 2 seconds (`now`: the clock, read by the caller anyway). */
static void feed_maybe(struct evf_runner *r, double now)
{
  if (!r->feed_on || (!evf_runner_hungry(r) && now - r->last_feed < r->cfg->feed_interval * 0.5))
    return;
  r->last_feed = now;
  r->cfg->feed(r->cfg->feed_arg, r);
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
  s->begun = s->paused = 0;
  int status = r->kind->io_start(&s->task);
  if (status == EVF_STATUS_OK) {
    if (r->cfg->opt->timeout > 0 && s->phase == SLOT_IO && !r->kind->deadline_on_begun)
      slot_timer(r, s, r->cfg->opt->timeout);
    return 1;
  }
  s->phase = SLOT_IDLE;
  rec->t_io_done = rec->t_end = rec->attempts == 1 ? rec->t_start : evf_clock_now() - r->t0;
  rec->status = (uint8_t)status;
  rec->last_error = (uint8_t)status;
  finish(r, rec, status);
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
  s->u.next_idle = r->idle; /* nothing to start: idle until a batch is added */
  r->idle = s;
}

static void slot_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* An idle slot, or a fresh one while fewer than nslots are in use; NULL when all are busy. */
static struct slot *free_slot(struct evf_runner *r)
{
  struct slot *s = r->idle;
  if (s) {
    r->idle = s->u.next_idle;
    return s;
  }
  if (r->slots_used == r->nslots)
    return NULL;
  s = (struct slot *)(void *)(r->slots + r->slots_used++ * r->stride);
  s->task.runner = r;
  ev_init(&s->timer, slot_timer_cb);
  s->timer.data = s;
  return s;
}

/* Fill the free slots with the tasks not yet started. */
static void launch_free(struct evf_runner *r)
{
  double now = evf_clock_now();
  ev_now_update(r->loop);
  struct slot *s;
  while (r->started < r->total && !held(r) && (s = free_slot(r)))
    launch(r, s, now);
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
    if (r->draining && transient && rec->attempts <= opt->retries) {
      /* it would be retried: not now, the task is left for --resume */
      status = EVF_STATUS_NOT_RUN;
    } else if (transient && rec->attempts <= opt->retries &&
               retry_after <= opt->retry_max_delay) {
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
  if (r->kind->keep && status != EVF_STATUS_NOT_RUN) {
    status = r->kind->keep(t, status);
    t2 = evf_clock_now();
  }
  rec->t_io_done = t1 - r->t0;
  rec->t_end = t2 - r->t0;
  rec->cpu_time = t2 - t1;
  rec->status = (uint8_t)status;
  finish(r, rec, status);
  feed_maybe(r, t2);
  if (r->started < r->total) {
    ev_now_update(r->loop); /* kinds' timers are relative to it; stale after CPU phases */
    launch(r, s, t2);
  } else { /* nothing to start: idle until a batch is added */
    s->u.next_idle = r->idle;
    r->idle = s;
  }
}

void evf_task_io_begun(struct evf_task *t)
{
  struct slot *s = slot_of(t);
  /* One deadline per attempt: a kind may say so more than once (curl's pre-request callback
   * runs again at every redirect), and only the first starts it. */
  if (s->phase == SLOT_IO && !s->begun && t->runner->cfg->opt->timeout > 0)
    slot_timer(t->runner, s, s->paused ? s->left : t->runner->cfg->opt->timeout);
  s->begun = 1;
  s->paused = 0;
}

void evf_task_io_wait(struct evf_task *t)
{
  struct slot *s = slot_of(t);
  struct evf_runner *r = t->runner;
  if (s->phase != SLOT_IO || !s->begun || s->paused)
    return;
  s->begun = 0;
  if (ev_is_active(&s->timer)) {
    s->paused = 1;
    s->left = ev_timer_remaining(r->loop, &s->timer);
    ev_timer_stop(r->loop, &s->timer);
  }
}

void evf_task_sync(struct evf_task *t)
{
  const struct evf_runner_config *cfg = t->runner->cfg;
  if (cfg->sync)
    cfg->sync(cfg->sync_arg);
}

int evf_turn_on(struct ev_loop *loop)
{
  const struct evf_runner *r = ev_userdata(loop);
  return r && r->cfg->turn != NULL;
}

void evf_turn_send(struct ev_loop *loop, const struct evf_turn *m)
{
  const struct evf_runner *r = ev_userdata(loop);
  r->cfg->turn(r->cfg->turn_arg, m);
}

void evf_runner_turn(struct evf_runner *r, const struct evf_turn *m)
{
  if (r->opened && r->kind->turn)
    r->kind->turn(r->shared, m);
}

uint64_t evf_runner_owed(struct evf_runner *r)
{
  return r->opened && r->kind->owed ? r->kind->owed(r->shared) : 0;
}

uint64_t evf_runner_held_turns(struct evf_runner *r)
{
  return r->opened && r->kind->held ? r->kind->held(r->shared) : 0;
}

void evf_task_fail(struct evf_task *t, int code, const char *msg)
{
  struct evf_runner *r = t->runner;
  if (r->fail_code)
    return;
  r->fail_code = code;
  snprintf(r->fail_msg, sizeof r->fail_msg, "%s", msg);
  if (r->cfg->fail)
    r->cfg->fail(r->cfg->sync_arg, code, msg);
  evf_runner_drain(r, 0);
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
    if (!attempt(r, s))
      launch(r, s, evf_clock_now());
  }
}

static void feed_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  (void)loop;
  (void)revents;
  struct evf_runner *r = w->data;
  r->last_feed = evf_clock_now();
  r->cfg->feed(r->cfg->feed_arg, r);
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  (void)loop;
  (void)revents;
  struct evf_runner *r = w->data;
  struct evf_runner_counts c = evf_runner_counts(r);
  r->cfg->tick(r->cfg->tick_arg, &c, evf_clock_now() - r->t0);
}

void evf_runner_libev_version(char *buf, size_t len)
{
  snprintf(buf, len, "%d.%d", ev_version_major(), ev_version_minor());
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

/* Append batches (their tasks' inputs in order, or NULL). */
static int queue_batches(struct evf_runner *r, const struct evf_batch *batches, size_t n,
                         const char *const *inputs, const uint32_t *ids, char *msg)
{
  uint64_t count = 0;
  for (size_t b = 0; b < n; b++)
    count += batches[b].count;
  if (count > r->rec_cap - r->total)
    return evf_seterr(msg, EVF_ENOMEM, "%llu more tasks do not fit in this rank's %llu records",
                      (unsigned long long)count, (unsigned long long)r->rec_cap);
  if (r->nqueued + n > r->cap_queued) {
    size_t cap = r->cap_queued ? r->cap_queued : 16;
    while (cap < r->nqueued + n)
      cap *= 2;
    struct queued *q = realloc(r->queue, cap * sizeof *q);
    if (!q)
      return evf_seterr(msg, EVF_ENOMEM, "cannot queue %zu batches", n);
    r->queue = q;
    r->cap_queued = cap;
  }
  for (size_t b = 0; b < n; b++) {
    r->queue[r->nqueued++] = (struct queued){batches[b], inputs, ids};
    uint64_t last = (uint64_t)batches[b].first_id + batches[b].count - 1;
    if (batches[b].count && last > r->max_id)
      r->max_id = last;
    if (inputs)
      inputs += batches[b].count;
    if (ids)
      ids += batches[b].count;
  }
  r->total += count;
  return 0;
}

/* The kind's queued() for each task of the batches queued from `from` on (with inputs). */
static void tell_queued(struct evf_runner *r, size_t from)
{
  if (!r->opened || !r->kind->queued)
    return;
  for (size_t b = from; b < r->nqueued; b++)
    for (uint32_t k = 0; r->queue[b].inputs && k < r->queue[b].b.count; k++)
      r->kind->queued(r->shared, r->queue[b].inputs[k]);
}

int evf_runner_add(struct evf_runner *r, const struct evf_batch *batches, size_t n,
                   const char *const *inputs, const uint32_t *ids, char *msg)
{
  if (r->closed)
    evf_guard_fatal("a batch was added to a closed runner");
  size_t from = r->nqueued;
  int rc = queue_batches(r, batches, n, inputs, ids, msg);
  if (rc == 0)
    tell_queued(r, from);
  if (rc == 0 && r->running)
    launch_free(r);
  return rc;
}

/* End the task in slot `s` as not run (a drain): no record reaches the journal. */
static void cancel_slot(struct evf_runner *r, struct slot *s)
{
  if (s->phase == SLOT_IO)
    r->kind->cancel(&s->task);
  ev_timer_stop(r->loop, &s->timer);
  s->phase = SLOT_IDLE;
  struct evf_record *rec = s->task.rec;
  rec->t_io_done = rec->t_end = evf_clock_now() - r->t0;
  rec->status = EVF_STATUS_NOT_RUN;
  finish(r, rec, EVF_STATUS_NOT_RUN);
  s->u.next_idle = r->idle;
  r->idle = s;
}

/* The drain's grace is over: cancel what is still in flight. */
static void grace_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  (void)loop;
  (void)revents;
  struct evf_runner *r = w->data;
  for (uint64_t i = 0; i < r->slots_used; i++) {
    struct slot *s = (struct slot *)(void *)(r->slots + i * r->stride);
    if (s->phase == SLOT_IO)
      cancel_slot(r, s);
  }
}

void evf_runner_drain(struct evf_runner *r, double grace)
{
  double until = evf_clock_now() + grace;
  if (r->draining) { /* again: the grace may only get shorter (SIGTERM after another drain) */
    if (ev_is_active(&r->grace) && until < r->drain_until) {
      ev_timer_stop(r->loop, &r->grace);
      ev_timer_set(&r->grace, grace, 0.);
      ev_timer_start(r->loop, &r->grace);
      r->drain_until = until;
    }
    return;
  }
  r->draining = 1;
  r->drain_until = until;
  r->total = r->started; /* what never started never will (here) */
  /* Waiting for a retry: left for --resume at once. */
  for (uint64_t i = 0; i < r->slots_used; i++) {
    struct slot *s = (struct slot *)(void *)(r->slots + i * r->stride);
    if (s->phase == SLOT_WAIT)
      cancel_slot(r, s);
  }
  evf_runner_close(r);
  if (r->done < r->total) {
    ev_timer_init(&r->grace, grace_cb, grace, 0.);
    r->grace.data = r;
    ev_timer_start(r->loop, &r->grace);
  }
}

int evf_runner_draining(const struct evf_runner *r)
{
  return r->draining;
}

void evf_runner_close(struct evf_runner *r)
{
  if (r->closed)
    return;
  r->closed = 1;
  if (r->feed_on && !keeps_feed(r)) { /* no feed from now on (but tasks held back by the
                                          limit keep the feed, which raises it) */
    ev_timer_stop(r->loop, &r->feed);
    r->feed_on = 0;
  }
  if (r->running && r->done == r->total && !r->hold)
    ev_break(r->loop, EVBREAK_ALL);
}

void evf_runner_release(struct evf_runner *r)
{
  if (!r->hold)
    return;
  r->hold = 0;
  if (r->closed && r->feed_on && !keeps_feed(r)) {
    ev_timer_stop(r->loop, &r->feed);
    r->feed_on = 0;
  }
  if (r->running && r->closed && r->done == r->total)
    ev_break(r->loop, EVBREAK_ALL);
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
  r->records = records;
  r->limit = cfg->limit ? cfg->limit : UINT64_MAX;
  uint64_t initial = 0;
  for (size_t b = 0; b < nbatches; b++)
    initial += batches[b].count;
  r->rec_cap = cfg->feed && cfg->capacity > initial ? cfg->capacity : initial;
  if ((*rc = queue_batches(r, batches, nbatches, cfg->inputs, cfg->ids, msg))) {
    free(r);
    return NULL;
  }
  r->closed = !cfg->feed;
  r->hold = cfg->turn != NULL;
  if (r->rec_cap == 0)
    return r;
  r->nslots = cfg->inflight && cfg->inflight < r->rec_cap ? cfg->inflight : r->rec_cap;
  size_t stride = STATE_OFFSET + cfg->kind->state_size;
  if (!records) { /* each slot holds its task's record, on a 64-byte boundary */
    r->rec_off = (stride + 63) / 64 * 64;
    stride = r->rec_off + r->rec_size;
  }
  r->stride = (stride + alignof(max_align_t) - 1) / alignof(max_align_t) * alignof(max_align_t);
  /* Slots mapped, not touched: a page is used once a slot on it is (the slots in use are at
   * most --inflight, or the tasks dealt so far); pages are page-aligned, so a 64-byte slot is
   * one cache line. */
  void *m = MAP_FAILED;
  if (r->nslots <= SIZE_MAX / r->stride) {
    r->slots_bytes = r->nslots * r->stride;
    m = mmap(NULL, r->slots_bytes, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  }
  if (m == MAP_FAILED) {
    *rc = evf_seterr(msg, EVF_ENOMEM, "cannot allocate %llu task slots (--inflight)",
                     (unsigned long long)r->nslots);
    free(r->queue);
    free(r);
    return NULL;
  }
  r->slots = m;
  /* The slots the first tasks take, touched now (before t0), so the run does not pay their page
   * faults; the rest are touched when first used. */
  memset(r->slots, 0, (size_t)(initial < r->nslots ? initial : r->nslots) * r->stride);
  r->loop = ev_loop_new(EVFLAG_AUTO);
  if (!r->loop) {
    *rc = evf_seterr(msg, EVF_ELOOP, "cannot create an event loop");
    evf_runner_free(r);
    return NULL;
  }
  ev_set_userdata(r->loop, r); /* evf_turn_send() finds its runner */
  if (r->kind->open) {
    *rc = r->kind->open(r->loop, cfg->opt, r->nslots, &r->shared, msg);
    if (*rc) {
      evf_runner_free(r);
      return NULL;
    }
    r->opened = 1;
    tell_queued(r, 0);
  }
  *rc = 0;
  return r;
}

int evf_runner_run(struct evf_runner *r, double t0, char *msg)
{
  const struct evf_runner_config *cfg = r->cfg;
  r->t0 = t0;
  if (r->rec_cap == 0) {
    evf_runner_close(r);
    return 0;
  }
  int ticking = cfg->tick && cfg->tick_interval > 0;
  if (ticking) {
    ev_timer_init(&r->tick, tick_cb, cfg->tick_interval, cfg->tick_interval);
    r->tick.data = r;
    ev_timer_start(r->loop, &r->tick);
    ev_unref(r->loop); /* progress ticks alone must not keep the loop alive */
  }
  if (!r->closed || r->hold) { /* fed: the feed timer keeps the loop alive until the runner
                                  is closed (and released) */
    ev_timer_init(&r->feed, feed_cb, cfg->feed_interval, cfg->feed_interval);
    r->feed.data = r;
    ev_timer_start(r->loop, &r->feed);
    r->feed_on = 1;
  }

  r->running = 1;
  launch_free(r);
  r->last_feed = evf_clock_now();
  if (r->feed_on)
    cfg->feed(cfg->feed_arg, r);
  if (r->done < r->total || !r->closed || r->hold)
    ev_run(r->loop, 0);
  r->running = 0;

  if (ticking) {
    ev_ref(r->loop);
    ev_timer_stop(r->loop, &r->tick);
  }
  if (r->draining)
    ev_timer_stop(r->loop, &r->grace);
  if (r->feed_on) { /* the loop ended without a close: tasks unfinished (below) */
    ev_timer_stop(r->loop, &r->feed);
    r->feed_on = 0;
  }
  if (r->fail_code)
    return evf_seterr(msg, r->fail_code, "%s", r->fail_msg);
  if (r->done != r->total)
    return evf_seterr(msg, EVF_ELOOP, "the event loop stopped with %llu of %llu tasks unfinished",
                      (unsigned long long)(r->total - r->done), (unsigned long long)r->total);
  if (!r->closed)
    return evf_seterr(msg, EVF_ELOOP, "the event loop stopped while more tasks could come");
  return 0;
}

int evf_runner_finish(struct evf_runner *r, uint64_t *fig, char *msg)
{
  memset(fig, 0, EVF_KIND_FIGURES * sizeof *fig);
  if (!r->opened || !r->kind->finish)
    return 0;
  return r->kind->finish(r->shared, fig, msg);
}

double evf_runner_bound(struct evf_runner *r, char *what, size_t cap)
{
  what[0] = '\0';
  if (!r->opened || !r->kind->bound)
    return 0;
  return r->kind->bound(r->shared, what, cap);
}

uint64_t evf_runner_done(const struct evf_runner *r)
{
  return r->done;
}

struct evf_runner_counts evf_runner_counts(const struct evf_runner *r)
{
  struct evf_runner_counts c = {r->total, r->done, r->failed, r->started - r->done, 0, 0};
  if (r->opened && r->kind->groups)
    r->kind->groups(r->shared, &c.groups_done, &c.groups_active);
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
  if (r->slots)
    munmap(r->slots, r->slots_bytes);
  free(r->queue);
  free(r);
}
