/* The simulated crawler: the I/O phase is an ev_timer for the planned delay, the CPU phase a
 * real summation loop.  Parameters come from the counter-based generator (gen.h). */
#include <ev.h>
#include <math.h>
#include <stddef.h>

#include "cli.h"
#include "gen.h"
#include "record.h"
#include "task.h"

#define TICK_US 10000u /* planned delays are whole multiples of 10 ms */

static void sim_plan(const struct evf_options *opt, struct evf_record *rec)
{
  uint64_t lo = (uint64_t)llround(opt->io_min * 100.0);
  uint64_t hi = (uint64_t)llround(opt->io_max * 100.0);
  uint64_t ticks = evf_gen_range(evf_gen_bits(opt->seed, rec->id, EVF_STREAM_IO), lo, hi);
  evf_record_set_io_us(rec, (uint64_t)ticks * TICK_US);
  uint64_t it = evf_gen_range(evf_gen_bits(opt->seed, rec->id, EVF_STREAM_CPU), opt->cpu_min,
                              opt->cpu_max);
  if (opt->cpu_skew > 0) {
    /* Uneven on purpose (a benchmark aid): task id i costs (1 + skew (i-1)/(N-1)) times its
     * draw, so the last task costs 1 + skew times the first, and a contiguous split of the ids
     * is unbalanced. */
    double f = 1.0 + opt->cpu_skew * (double)(rec->id - 1) / (double)(opt->tasks > 1 ? opt->tasks - 1 : 1);
    double x = floor((double)it * f + 0.5);
    it = x < 4294967295.0 ? (uint64_t)x : UINT32_MAX;
  }
  rec->iterations = (uint32_t)it;
}

/* Does the generator decide `what` (EVF_STREAM_FAIL, EVF_STREAM_HANG) with probability `rate`
 * for this attempt of task `id`?  A pure function of (seed, id, attempt). */
static int sim_draw(const struct evf_options *opt, uint32_t id, unsigned attempt,
                    enum evf_gen_stream what, double rate)
{
  return rate > 0 &&
         evf_gen_unit(evf_gen_bits(opt->seed, id, evf_gen_attempt_stream(what, attempt))) < rate;
}

/* The I/O delay is over.  Whether this attempt failed is decided now, as a real fetch would
 * only learn it then: a transient failure, retried under --retries. */
static void sim_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  (void)loop;
  (void)revents;
  struct evf_task *t = w->data;
  const struct evf_options *opt = evf_task_options(t);
  int fails = sim_draw(opt, t->rec->id, t->rec->attempts, EVF_STREAM_FAIL, opt->fail_rate);
  evf_task_io_done(t, fails ? EVF_STATUS_IO_ERROR : EVF_STATUS_OK);
}

/* One attempt: a timer for the planned delay, or, for an attempt the generator hangs, nothing
 * at all (only the runner's deadline ends it). */
static int sim_io_start(struct evf_task *t)
{
  const struct evf_options *opt = evf_task_options(t);
  ev_timer *w = evf_task_state(t);
  ev_timer_init(w, sim_timer_cb, evf_record_io_delay(t->rec), 0.);
  w->data = t;
  if (!sim_draw(opt, t->rec->id, t->rec->attempts, EVF_STREAM_HANG, opt->hang_rate))
    ev_timer_start(evf_task_loop(t), w);
  return EVF_STATUS_OK;
}

static void sim_cancel(struct evf_task *t)
{
  ev_timer_stop(evf_task_loop(t), evf_task_state(t));
}

/* sum(i, 0 <= i < n), one addition per i.  The empty asm makes the partial sums opaque to the
 * optimiser on every step, so neither gcc nor clang can replace the loop by n*(n-1)/2 (clang
 * does, without it): the CPU phase really costs time proportional to n.  Four independent
 * partial sums keep the adder busy, about as fast as gcc's own vectorised loop. */
static uint64_t sim_sum(uint64_t n)
{
  uint64_t a = 0, b = 0, c = 0, d = 0, i = 0;
  for (; i + 4 <= n; i += 4) {
    a += i;
    b += i + 1;
    c += i + 2;
    d += i + 3;
    __asm__ volatile("" : "+r"(a), "+r"(b), "+r"(c), "+r"(d));
  }
  for (; i < n; i++) {
    a += i;
    __asm__ volatile("" : "+r"(a));
  }
  return a + b + c + d;
}

static int sim_cpu_run(struct evf_task *t)
{
  t->rec->value = sim_sum(t->rec->iterations);
  return EVF_STATUS_OK;
}

const struct evf_task_kind evf_task_kind_sim = {
  .name = "sim",
  .state_size = sizeof(ev_timer),
  .plan = sim_plan,
  .io_start = sim_io_start,
  .cancel = sim_cancel,
  .cpu_run = sim_cpu_run,
};
