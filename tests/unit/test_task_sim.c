/* task_sim: the CPU phase computes sum(i, i < n) and really loops.  clang replaces a plain
 * summation loop by n(n-1)/2; the loop's compiler barrier prevents that, and this test would
 * catch its loss: 10^8 iterations take tens of milliseconds of CPU on any real machine (at most
 * 4 additions a cycle at 10 GHz would still be 2.5 ms), a folded loop a microsecond.  The test
 * can only fail on a machine too *fast*, never on a slow one. */
#include <time.h>

#include "check.h"
#include "cli.h"
#include "record.h"
#include "task.h"

static double thread_cpu(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t run_cpu(uint32_t n, double *seconds)
{
  struct evf_record rec = {.id = 1, .iterations = n};
  struct evf_task t = {.runner = NULL, .rec = &rec};
  double t0 = thread_cpu();
  int status = evf_task_kind_sim.cpu_run(&t);
  *seconds = thread_cpu() - t0;
  CHECK_EQ_U64(status, EVF_STATUS_OK);
  return rec.value;
}

int main(void)
{
  double s;
  /* Values, including the remainder loop (n not a multiple of 4) and the edges. */
  const uint32_t ns[] = {0, 1, 2, 3, 4, 5, 7, 100000, 499999, 4294967295u / 65536};
  for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
    uint64_t n = ns[k];
    CHECK_EQ_U64(run_cpu(ns[k], &s), n ? n * (n - 1) / 2 : 0);
  }
  uint64_t n = 100000000;
  CHECK_EQ_U64(run_cpu((uint32_t)n, &s), n * (n - 1) / 2);
  printf("test_task_sim: 10^8 iterations took %.4f s of CPU\n", s);
  CHECK(s > 0.001);

  /* The plan is the generator's: ids 1 and 2 at seed 1 (values the Python oracle computes). */
  struct evf_options o = {.seed = 1, .io_min = 0.2, .io_max = 1.0, .cpu_min = 100000,
                          .cpu_max = 500000};
  struct evf_record r1 = {.id = 1}, r2 = {.id = 2};
  evf_task_kind_sim.plan(&o, &r1);
  evf_task_kind_sim.plan(&o, &r2);
  CHECK_EQ_U64(r1.iterations, 111698);
  CHECK_EQ_U64(evf_record_io_us(&r1), 800000);
  CHECK_EQ_U64(r2.iterations, 243545);
  CHECK_EQ_U64(evf_record_io_us(&r2), 500000);
  CHECK(evf_task_kind_find("sim") == &evf_task_kind_sim);
  CHECK(evf_task_kind_find("http") == &evf_task_kind_http);
  CHECK(evf_task_kind_find("exec") == &evf_task_kind_exec);
  CHECK(evf_task_kind_find("ftp") == NULL);
  return check_done("test_task_sim");
}
