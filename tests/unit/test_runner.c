/* The runner alone, with a test-only task kind whose tasks fail to start, finish at once, wait
 * on a timer, or hang (start, then never end): every task gets exactly one record in its place,
 * with its status and ordered times; never more than --inflight tasks run at once; a loop that
 * runs out of events with tasks unfinished is an error, not a silent success; libev's allocator
 * reports, cleans up and exits 3 instead of aborting. */
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
  rec->io_delay_us = rec->id % 4 >= 2 ? (rec->id % 7) * 1000u : 0;
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
  ev_timer_init(w, test_timer_cb, t->rec->io_delay_us * 1e-6, 0.);
  w->data = t;
  ev_timer_start(evf_task_loop(t), w);
  return EVF_STATUS_OK;
}

static int test_cpu_run(struct evf_task *t)
{
  t->rec->value = 2u * t->rec->id;
  return EVF_STATUS_OK;
}

static const struct evf_task_kind test_kind = {
  .name = "test",
  .state_size = sizeof(ev_timer),
  .plan = test_plan,
  .io_start = test_io_start,
  .cpu_run = test_cpu_run,
};

/* Batches {1..30}, {61..100}, {31..60}: records follow the batches' order. */
static const struct evf_batch batches[] = {{1, 30, 0}, {61, 40, 2}, {31, 30, 1}};
#define NTASKS 100

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
      CHECK(r->t_io_done - r->t_start >= r->io_delay_us * 1e-6 - 1e-4);
      CHECK_NEAR(r->cpu_time, r->t_end - r->t_io_done, 1e-8);
    }
  }
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
