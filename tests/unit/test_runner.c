/* The runner alone, with test-only task kinds.  One: tasks fail to start, finish at once, wait
 * on a timer, or hang (start, then never end): every task gets exactly one record in its place,
 * with its status and ordered times; never more than --inflight tasks run at once; a loop that
 * runs out of events with tasks unfinished is an error, not a silent success; libev's allocator
 * reports, cleans up and exits 3 instead of aborting.  The other: attempts that fail
 * transiently, hang until their deadline, or fail for good: attempts, last errors, cancels and
 * backoff waits as --retries, --timeout and --retry-delay say. */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "cli.h"
#include "error.h"
#include "guard.h"
#include "runner.h"

static int inflight, most_inflight, hang_id;

/* id % 4: 0 fails to start, 1 ends at once (a zero timer), 2 and 3 wait (id % 7) ms. */
static void test_plan(const struct evf_options *opt, struct evf_record *rec)
{
  (void)opt;
  rec->iterations = rec->id;
  evf_record_set_io_us(rec, rec->id % 4 >= 2 ? (rec->id % 7) * 1000u : 0);
}

static void test_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  (void)loop;
  (void)revents;
  inflight--;
  evf_task_io_done(w->data, EVF_STATUS_OK);
}

static int test_io_start(struct evf_task *t)
{
  if (t->rec->id % 4 == 0)
    return EVF_STATUS_IO_ERROR;
  if (++inflight > most_inflight)
    most_inflight = inflight;
  if ((int)t->rec->id == hang_id)
    return EVF_STATUS_OK; /* started, and nothing will ever end it */
  ev_timer *w = evf_task_state(t);
  ev_timer_init(w, test_timer_cb, evf_record_io_delay(t->rec), 0.);
  w->data = t;
  ev_timer_start(evf_task_loop(t), w);
  return EVF_STATUS_OK;
}

static int test_cpu_run(struct evf_task *t)
{
  t->rec->value = 2u * t->rec->id;
  return EVF_STATUS_OK;
}

/* Batches {1..30}, {61..100}, {31..60}: records follow the batches' order. */
static const struct evf_batch batches[] = {{1, 30, 0}, {61, 40, 2}, {31, 30, 1}};
#define NTASKS 100

/* A kind with retries and deadlines, by id % 4 (attempt = rec->attempts):
 *   0: fails transiently on attempts 1 and 2, then ends ok after a 1 ms timer
 *   1: hangs on attempt 1 (only the deadline ends it), then ends ok
 *   2: fails for good on attempt 1 (not transient): never retried
 *   3: always fails transiently (runs out of attempts)
 * Every cancel is counted; an attempt that ends after its cancel would be a runner bug. */
static int cancels, io_ends_after_cancel, retry_inflight, retry_most;

struct retry_state {
  ev_timer w;
  int cancelled;
};

static void retry_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  (void)loop;
  (void)revents;
  struct evf_task *t = w->data;
  struct retry_state *st = evf_task_state(t);
  io_ends_after_cancel += st->cancelled;
  retry_inflight--;
  unsigned a = t->rec->attempts;
  switch (t->rec->id % 4) {
  case 0:
    evf_task_io_end(t, a <= 2 ? EVF_STATUS_IO_ERROR : EVF_STATUS_OK, 1, 0);
    break;
  case 2:
    evf_task_io_end(t, EVF_STATUS_HTTP_ERROR, 0, 0);
    break;
  case 3:
    evf_task_io_end(t, EVF_STATUS_HTTP_ERROR, 1, 0);
    break;
  default:
    evf_task_io_end(t, EVF_STATUS_OK, 0, 0);
  }
}

static int retry_io_start(struct evf_task *t)
{
  struct retry_state *st = evf_task_state(t);
  st->cancelled = 0;
  ev_timer_init(&st->w, retry_timer_cb, 0.001, 0.);
  st->w.data = t;
  if (++retry_inflight > retry_most)
    retry_most = retry_inflight;
  if (!(t->rec->id % 4 == 1 && t->rec->attempts == 1))
    ev_timer_start(evf_task_loop(t), &st->w);
  return EVF_STATUS_OK;
}

static void retry_cancel(struct evf_task *t)
{
  struct retry_state *st = evf_task_state(t);
  ev_timer_stop(evf_task_loop(t), &st->w);
  st->cancelled = 1;
  retry_inflight--;
  cancels++;
}

static const struct evf_task_kind retry_kind = {
  .name = "retry",
  .state_size = sizeof(struct retry_state),
  .plan = test_plan,
  .io_start = retry_io_start,
  .cancel = retry_cancel,
  .cpu_run = test_cpu_run,
};

static void check_retries(void)
{
  static struct evf_record recs[NTASKS];
  char msg[EVF_ERRMSG_LEN];
  struct evf_options opt = {.tasks = NTASKS, .kind = "retry", .seed = 5, .timeout = 0.05,
                            .retries = 3, .retry_delay = 0.004, .retry_max_delay = 0.006};
  struct evf_runner_config cfg = {.kind = &retry_kind, .opt = &opt, .rank = 0, .inflight = 7};
  int rc;
  struct evf_runner *r = evf_runner_new(&cfg, batches, 3, recs, &rc, msg);
  CHECK(r != NULL && rc == 0);
  if (!r)
    return;
  CHECK_EQ_U64(evf_runner_run(r, evf_clock_now(), msg), 0);
  evf_runner_free(r);
  int hung = 0;
  for (int i = 0; i < NTASKS; i++) {
    const struct evf_record *x = &recs[i];
    double io = x->t_io_done - x->t_start;
    switch (x->id % 4) {
    case 0: /* two transient failures, then ok: attempt 3, waits of two backoffs */
      CHECK_EQ_U64(x->status, EVF_STATUS_OK);
      CHECK_EQ_U64(x->attempts, 3);
      CHECK_EQ_U64(x->last_error, EVF_STATUS_IO_ERROR);
      CHECK_EQ_U64(x->value, 2u * x->id);
      CHECK(io >= 3 * 0.001 + evf_runner_backoff(&opt, x->id, 1) +
                     evf_runner_backoff(&opt, x->id, 2) - 1e-4);
      break;
    case 1: /* hung, cancelled at its deadline, then ok */
      hung++;
      CHECK_EQ_U64(x->status, EVF_STATUS_OK);
      CHECK_EQ_U64(x->attempts, 2);
      CHECK_EQ_U64(x->last_error, EVF_STATUS_TIMEOUT);
      CHECK(io >= 0.05 + 0.001 - 1e-4);
      break;
    case 2: /* not transient: one attempt, no CPU phase */
      CHECK_EQ_U64(x->status, EVF_STATUS_HTTP_ERROR);
      CHECK_EQ_U64(x->attempts, 1);
      CHECK_EQ_U64(x->last_error, EVF_STATUS_HTTP_ERROR);
      CHECK_EQ_U64(x->value, 0);
      break;
    default: /* transient every time: 1 + --retries attempts */
      CHECK_EQ_U64(x->status, EVF_STATUS_HTTP_ERROR);
      CHECK_EQ_U64(x->attempts, 4);
      CHECK_EQ_U64(x->value, 0);
    }
  }
  CHECK_EQ_U64(cancels, hung);
  CHECK_EQ_U64(io_ends_after_cancel, 0);
  CHECK_EQ_U64(retry_inflight, 0);
  CHECK(retry_most <= 7);

  /* The backoff: full jitter under min(delay * 2^(k-1), max), a pure function of (seed, id,
   * k), spread over its range. */
  double lo = 1, hi = 0;
  for (uint32_t id = 1; id <= 2000; id++)
    for (unsigned k = 1; k <= 4; k++) {
      double cap = k == 1 ? 0.004 : 0.006, b = evf_runner_backoff(&opt, id, k);
      CHECK(b >= 0 && b < cap);
      CHECK(b == evf_runner_backoff(&opt, id, k));
      if (k == 1) {
        lo = b < lo ? b : lo;
        hi = b > hi ? b : hi;
      }
    }
  CHECK(lo < 0.0001 && hi > 0.0039);
  opt.seed = 6;
  CHECK(evf_runner_backoff(&opt, 1, 1) != evf_runner_backoff(&(struct evf_options){
                                                                 .seed = 5, .retry_delay = 0.004,
                                                                 .retry_max_delay = 0.006},
                                                             1, 1));
}

static void test_cancel(struct evf_task *t)
{
  ev_timer_stop(evf_task_loop(t), evf_task_state(t));
  inflight--;
}

static const struct evf_task_kind test_kind = {
  .name = "test",
  .state_size = sizeof(ev_timer),
  .plan = test_plan,
  .io_start = test_io_start,
  .cancel = test_cancel,
  .cpu_run = test_cpu_run,
};


static int run(uint32_t k, struct evf_record *recs, char *msg)
{
  struct evf_options opt = {.tasks = NTASKS, .kind = "test"};
  struct evf_runner_config cfg = {.kind = &test_kind, .opt = &opt, .rank = 3, .inflight = k};
  int rc;
  inflight = most_inflight = 0;
  struct evf_runner *r = evf_runner_new(&cfg, batches, 3, recs, &rc, msg);
  CHECK(r != NULL && rc == 0);
  if (!r)
    return rc;
  rc = evf_runner_run(r, evf_clock_now() - 1.0, msg); /* times from 1 s on */
  evf_runner_free(r);
  return rc;
}

static void check_records(const struct evf_record *recs)
{
  for (int i = 0; i < NTASKS; i++) {
    const struct evf_record *r = &recs[i];
    uint32_t want_id = i < 30 ? (uint32_t)i + 1 : i < 70 ? (uint32_t)i + 31 : (uint32_t)i - 39;
    CHECK_EQ_U64(r->id, want_id);
    CHECK_EQ_U64(r->rank, 3);
    CHECK_EQ_U64(r->batch, i < 30 ? 0 : i < 70 ? 2 : 1);
    CHECK_EQ_U64(r->iterations, r->id);
    if (r->id % 4 == 0) { /* failed to start: ends where it began, no CPU phase */
      CHECK_EQ_U64(r->status, EVF_STATUS_IO_ERROR);
      CHECK(r->t_start == r->t_io_done && r->t_io_done == r->t_end);
      CHECK_EQ_U64(r->value, 0);
    } else {
      CHECK_EQ_U64(r->status, EVF_STATUS_OK);
      CHECK_EQ_U64(r->value, 2u * r->id);
      CHECK(r->t_start >= 1.0 && r->t_start <= r->t_io_done && r->t_io_done <= r->t_end);
      CHECK(r->t_io_done - r->t_start >= evf_record_io_delay(r) - 1e-4);
      CHECK_NEAR(r->cpu_time, r->t_end - r->t_io_done, 1e-8);
    }
  }
}

/* Fed: the runner starts with batch {1..30} and asks its feed for more; the feed answers 30 ms
 * after the runner became hungry (late: by then every task it had has ended, and the open
 * runner's loop must keep waiting, asleep on its feed timer, not end), adds {61..100}, then
 * {31..60}, then closes.  Records land as if all three batches had been given at the start. */
static int feed_calls, feed_step, feed_unhungry_adds;
static double feed_hungry_since;

static void test_feed(void *arg, struct evf_runner *r)
{
  (void)arg;
  feed_calls++;
  if (!evf_runner_hungry(r))
    return;
  struct evf_runner_counts c = evf_runner_counts(r);
  if (feed_hungry_since == 0)
    feed_hungry_since = evf_clock_now();
  if (evf_clock_now() - feed_hungry_since < 0.03)
    return;
  feed_hungry_since = 0;
  CHECK(c.done == c.total); /* the late answer found the loop still running, with nothing to do */
  feed_unhungry_adds += c.total - c.done - c.inflight > 4; /* unstarted above the slots */
  char m[EVF_ERRMSG_LEN];
  if (feed_step < 2)
    CHECK_EQ_U64(evf_runner_add(r, &batches[1 + feed_step++], 1, NULL, NULL, m), 0);
  else
    evf_runner_close(r);
}

static void check_fed(struct evf_record *recs, char *msg)
{
  struct evf_options opt = {.tasks = NTASKS, .kind = "test"};
  struct evf_runner_config cfg = {.kind = &test_kind, .opt = &opt, .rank = 3, .inflight = 4,
                                  .feed = test_feed, .feed_interval = 0.001,
                                  .capacity = NTASKS};
  int rc;
  inflight = most_inflight = 0;
  hang_id = -1;
  memset(recs, 0, NTASKS * sizeof *recs);
  struct evf_runner *r = evf_runner_new(&cfg, batches, 1, recs, &rc, msg);
  CHECK(r != NULL && rc == 0);
  if (!r)
    return;
  CHECK(evf_runner_hungry(r) == 0); /* 30 unstarted, 4 slots */
  CHECK_EQ_U64(evf_runner_run(r, evf_clock_now() - 1.0, msg), 0);
  evf_runner_free(r);
  check_records(recs);
  CHECK_EQ_U64(feed_step, 2);
  CHECK_EQ_U64(most_inflight, 4);
  CHECK_EQ_U64(feed_unhungry_adds, 0);
  CHECK(feed_calls >= 3 * 2); /* at least one call that waits and one that answers, each */

  /* More than the capacity: refused with a message, nothing queued. */
  cfg.capacity = 50;
  r = evf_runner_new(&cfg, batches, 1, recs, &rc, msg);
  CHECK(r != NULL && rc == 0);
  if (r) {
    CHECK_EQ_U64(evf_runner_add(r, &batches[1], 1, NULL, NULL, msg), (uint64_t)(int64_t)EVF_ENOMEM);
    CHECK(strstr(msg, "40 more tasks do not fit in this rank's 50 records") != NULL);
    CHECK_EQ_U64(evf_runner_counts(r).total, 30);
    evf_runner_free(r);
  }
}

/* Drain: at the first tick (3 ms) the runner drains with 20 ms of grace.  Task 5 hangs: it is
 * cancelled when the grace ends, as not run; tasks that had not started never start; the
 * others in flight end normally; the loop ends with every started task accounted for. */
static struct evf_runner *drain_runner;
static int drain_ticks, drain_not_run, drain_done;

static void drain_tick(void *arg, const struct evf_runner_counts *c, double elapsed)
{
  (void)arg;
  (void)c;
  (void)elapsed;
  if (drain_ticks++ == 0)
    evf_runner_drain(drain_runner, 0.02);
}

static void drain_done_cb(void *arg, const struct evf_record *rec)
{
  (void)arg;
  drain_done++;
  drain_not_run += rec->status == EVF_STATUS_NOT_RUN;
}

static void check_drain(struct evf_record *recs, char *msg)
{
  struct evf_options opt = {.tasks = NTASKS, .kind = "test"};
  struct evf_runner_config cfg = {.kind = &test_kind, .opt = &opt, .rank = 3, .inflight = 8,
                                  .tick = drain_tick, .tick_interval = 0.003,
                                  .done = drain_done_cb};
  int rc;
  inflight = most_inflight = 0;
  hang_id = 5;
  memset(recs, 0, NTASKS * sizeof *recs);
  drain_runner = evf_runner_new(&cfg, batches, 3, recs, &rc, msg);
  CHECK(drain_runner != NULL && rc == 0);
  if (!drain_runner)
    return;
  double t = evf_clock_now();
  CHECK_EQ_U64(evf_runner_run(drain_runner, t, msg), 0);
  CHECK(evf_clock_now() - t < 1.0); /* the hung task did not keep the loop */
  struct evf_runner_counts c = evf_runner_counts(drain_runner);
  CHECK(evf_runner_draining(drain_runner) && c.done == c.total && c.total < NTASKS);
  evf_runner_free(drain_runner);
  int started = 0, not_run = 0;
  for (int i = 0; i < NTASKS; i++) {
    if (recs[i].id == 0)
      continue; /* never started */
    started++;
    not_run += recs[i].status == EVF_STATUS_NOT_RUN;
    CHECK(recs[i].status != EVF_STATUS_NOT_RUN || recs[i].id == 5 || recs[i].id % 4 >= 2);
  }
  CHECK_EQ_U64(started, c.total);
  CHECK_EQ_U64(drain_done, started);
  CHECK_EQ_U64(drain_not_run, not_run);
  CHECK(recs[4].id == 5 && recs[4].status == EVF_STATUS_NOT_RUN);
  hang_id = -1;
}

/* Records kept in the slots (none given), handed to the done callback; the ids at the top of the
 * 32-bit range; a limit: the last 5 ids wait until the feed raises it, then the feed closes (a
 * runner whose unstarted tasks are held back is not hungry, though fewer than its slots). */
#define TOP_FIRST 4294967196u /* ids 4294967196 .. 4294967295 = 2^32 - 1 */
static struct evf_runner *limit_runner;
static uint64_t limit_now;
static int limit_seen[100], limit_bad, limit_hungry_held;

static void limit_done(void *arg, const struct evf_record *rec)
{
  (void)arg;
  uint64_t id = rec->id;
  if (id < TOP_FIRST || id > limit_now || rec->rank != 3 ||
      (rec->status == EVF_STATUS_OK && rec->value != 2u * rec->id))
    limit_bad++;
  else
    limit_seen[id - TOP_FIRST]++;
}

static void limit_feed(void *arg, struct evf_runner *r)
{
  (void)arg;
  struct evf_runner_counts c = evf_runner_counts(r);
  if (c.done < 95)
    return;
  if (limit_now < 4294967295u) { /* the first 95 are done, none of the rest started */
    limit_hungry_held += evf_runner_hungry(r) || c.total - c.done - c.inflight != 5;
    limit_now = 4294967295u;
    evf_runner_set_limit(r, limit_now);
  }
  evf_runner_close(r);
}

static void check_limit(char *msg)
{
  static const struct evf_batch top[] = {{TOP_FIRST, 100, 0}};
  struct evf_options opt = {.tasks = 4294967295u, .kind = "test"};
  limit_now = TOP_FIRST + 94;
  struct evf_runner_config cfg = {.kind = &test_kind, .opt = &opt, .rank = 3, .inflight = 8,
                                  .feed = limit_feed, .feed_interval = 0.001, .capacity = 100,
                                  .done = limit_done, .limit = limit_now};
  int rc;
  inflight = most_inflight = 0;
  hang_id = 0; /* no task hangs: (int)4294967295 is -1 */
  limit_runner = evf_runner_new(&cfg, top, 1, NULL, &rc, msg);
  CHECK(limit_runner != NULL && rc == 0);
  if (!limit_runner)
    return;
  CHECK_EQ_U64(evf_runner_run(limit_runner, evf_clock_now(), msg), 0);
  evf_runner_free(limit_runner);
  CHECK_EQ_U64(limit_bad, 0);
  CHECK_EQ_U64(limit_hungry_held, 0);
  CHECK_EQ_U64(limit_now, 4294967295u);
  for (int i = 0; i < 100; i++)
    CHECK_EQ_U64(limit_seen[i], 1);
}

int main(void)
{
  static struct evf_record recs[NTASKS];
  char msg[EVF_ERRMSG_LEN];

  /* At most 4 at a time, and the bound is reached. */
  hang_id = -1;
  CHECK_EQ_U64(run(4, recs, msg), 0);
  check_records(recs);
  CHECK_EQ_U64(most_inflight, 4);
  CHECK_EQ_U64(inflight, 0);

  /* 0: every task of the rank in flight at once (the 75 that start). */
  memset(recs, 0, sizeof recs);
  CHECK_EQ_U64(run(0, recs, msg), 0);
  check_records(recs);
  CHECK_EQ_U64(most_inflight, 75);

  /* A task that never ends: the loop runs dry, and that is an error naming the count. */
  hang_id = 42;
  memset(recs, 0, sizeof recs);
  CHECK_EQ_U64(run(8, recs, msg), (uint64_t)(int64_t)EVF_ELOOP);
  CHECK(strstr(msg, "1 of 100 tasks unfinished") != NULL);

  /* Deadlines, retries, backoff. */
  check_retries();

  /* Batches added while the loop runs. */
  check_fed(recs, msg);

  /* A drain mid-run. */
  check_drain(recs, msg);

  /* Records in the slots, ids up to 2^32 - 1, a limit raised while the loop runs. */
  check_limit(msg);

  /* No tasks at all. */
  struct evf_options opt = {.tasks = 1, .kind = "test"};
  struct evf_runner_config cfg = {.kind = &test_kind, .opt = &opt};
  int rc = -99;
  struct evf_runner *r = evf_runner_new(&cfg, batches, 0, recs, &rc, msg);
  CHECK(r != NULL && rc == 0);
  CHECK_EQ_U64(evf_runner_run(r, 0, msg), 0);
  evf_runner_free(r);

  /* Too many slots to allocate: an error before the run, not a crash. */
  static const struct evf_batch huge[] = {{1, 2000000000u, 0}, {2000000001u, 2000000000u, 1}};
  struct evf_task_kind fat = test_kind;
  fat.state_size = (size_t)1 << 40;
  cfg.kind = &fat;
  r = evf_runner_new(&cfg, huge, 2, recs, &rc, msg);
  CHECK(r == NULL && rc == EVF_ENOMEM && strstr(msg, "task slots") != NULL);

  /* libev's allocator: size 0 frees; a failure ends the process with 3, temporaries gone. */
  CHECK(evf_runner_ev_realloc(malloc(16), 0) == NULL);
  char tmp[] = "/tmp/evf-test-runner-XXXXXX";
  int fd = mkstemp(tmp);
  CHECK(fd >= 0);
  close(fd);
  int errpipe[2];
  CHECK(pipe(errpipe) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(errpipe[1], 2);
    evf_guard_track(tmp);
    evf_runner_ev_realloc(NULL, LONG_MAX);
    _exit(0); /* not reached */
  }
  close(errpipe[1]);
  char said[4096] = ""; /* everything the child wrote (a sanitizer may warn first) */
  size_t got = 0;
  ssize_t n;
  while (got < sizeof said - 1 && (n = read(errpipe[0], said + got, sizeof said - 1 - got)) > 0)
    got += (size_t)n;
  said[got] = '\0';
  close(errpipe[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);
  CHECK(access(tmp, F_OK) != 0 && errno == ENOENT);
  CHECK(strstr(said, "evfarm: rank 0: out of memory in the event loop") != NULL);
  unlink(tmp);
  return check_done("test_runner");
}
