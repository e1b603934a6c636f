/* stats: the lower bound and the per-rank summary on hand-made records whose answers are
 * worked out by hand in the comments. */
#include "check.h"
#include "placement.h"
#include "stats.h"

static struct evf_record rec(uint32_t id, int rank, double io, double cpu)
{
  struct evf_record r = {0};
  r.id = id;
  r.rank = rank;
  evf_record_set_io_us(&r, (uint64_t)(io * 1e6 + 0.5));
  r.cpu_time = cpu;
  r.status = EVF_STATUS_OK;
  return r;
}

static double bound(const struct evf_record *r, size_t n, int ranks)
{
  struct evf_bound b;
  CHECK_EQ_U64(evf_bound_compute(r, sizeof *r, n, ranks, &b), 0);
  CHECK_NEAR(b.t_lb, b.task_term > b.backlog_term ? b.task_term : b.backlog_term, 0);
  return b.t_lb;
}

int main(void)
{
  /* Two tasks both ready at 0.2 s with 0.5 s of CPU each: one rank does 1.0 s of CPU after
   * 0.2 s -> 1.2 s; two ranks run them side by side -> 0.7 s (the task term). */
  struct evf_record a[] = {rec(1, 0, 0.2, 0.5), rec(2, 0, 0.2, 0.5)};
  CHECK_NEAR(bound(a, 2, 1), 1.2, 1e-12);
  CHECK_NEAR(bound(a, 2, 2), 0.7, 1e-12);
  CHECK_NEAR(bound(a, 2, 8), 0.7, 1e-12);

  /* A long I/O dominates: io 1.0 + cpu 0.01 beats 0 + (0.3 + 0.01)/1. */
  struct evf_record b[] = {rec(1, 0, 0.0, 0.3), rec(2, 0, 1.0, 0.01)};
  CHECK_NEAR(bound(b, 2, 1), 1.01, 1e-12);

  /* The backlog peaks at an interior t: tasks at t=0.1 (cpu 0.1), t=0.5 (3 x cpu 0.2),
   * t=0.6 (cpu 0.05).  P=1: t=0.1 -> 0.1+0.75=0.85; t=0.5 -> 0.5+0.65=1.15; t=0.6 -> 0.65.
   * Task term: 0.5+0.2 = 0.7.  So 1.15, reached at t=0.5. */
  struct evf_record c[] = {rec(1, 0, 0.1, 0.1), rec(2, 0, 0.5, 0.2), rec(3, 0, 0.5, 0.2),
                           rec(4, 0, 0.5, 0.2), rec(5, 0, 0.6, 0.05)};
  struct evf_bound bc;
  CHECK_EQ_U64(evf_bound_compute(c, sizeof *c, 5, 1, &bc), 0);
  CHECK_NEAR(bc.t_lb, 1.15, 1e-12);
  CHECK_NEAR(bc.backlog_at, 0.5, 1e-12);
  CHECK_NEAR(bc.task_term, 0.7, 1e-12);
  /* P=2: t=0.1 -> 0.1+0.375=0.475; t=0.5 -> 0.5+0.325=0.825; t=0.6 -> 0.625; task term 0.7. */
  CHECK_NEAR(bound(c, 5, 2), 0.825, 1e-12);
  /* P=4: t=0.5 -> 0.6625 < task term 0.7. */
  CHECK_NEAR(bound(c, 5, 4), 0.7, 1e-12);

  /* No CPU at all: the bound is the longest I/O. */
  struct evf_record d[] = {rec(1, 0, 0.3, 0), rec(2, 0, 0.9, 0), rec(3, 0, 0.0, 0)};
  CHECK_NEAR(bound(d, 3, 3), 0.9, 1e-12);
  CHECK_NEAR(bound(d, 0, 3), 0.0, 0);

  /* The summary of c on 2 ranks, records 1-2 on rank 0, 3-5 on rank 1, wall 1.0 s;
   * task 5 failed. */
  c[2].rank = c[3].rank = c[4].rank = 1;
  c[4].status = EVF_STATUS_IO_ERROR;
  struct evf_summary s;
  CHECK_EQ_U64(evf_summary_compute(&s, c, sizeof *c, 5, 2, 2, 1.0), 0);
  CHECK_EQ_U64(s.tasks, 5);
  CHECK_NEAR(s.tasks_per_second, 5.0, 1e-12);
  CHECK_EQ_U64(s.per_rank_tasks[0], 2);
  CHECK_EQ_U64(s.per_rank_tasks[1], 3);
  CHECK_NEAR(s.per_rank_busy[0], 0.3, 1e-12);
  CHECK_NEAR(s.per_rank_busy[1], 0.45, 1e-12);
  CHECK_NEAR(s.rank_busy.min, 0.3, 1e-12);
  CHECK_NEAR(s.rank_busy.mean, 0.375, 1e-12);
  CHECK_NEAR(s.rank_busy.max, 0.45, 1e-12);
  CHECK_NEAR(s.rank_idle.min, 0.55, 1e-12);
  CHECK_NEAR(s.rank_idle.max, 0.7, 1e-12);
  CHECK_NEAR(s.imbalance, 1.2, 1e-12);
  CHECK_NEAR(s.rank_tasks.mean, 2.5, 1e-12);
  CHECK_NEAR(s.bound.t_lb, 0.825, 1e-12);
  CHECK_NEAR(s.efficiency, 0.825, 1e-12);
  /* The model curve: the same tasks on 1, 2, 4, ... ranks (worked out above). */
  CHECK_EQ_U64(s.model_ranks[0], 1);
  CHECK_EQ_U64(s.model_ranks[3], 8);
  CHECK_NEAR(s.model_t_lb[0], 1.15, 1e-12);
  CHECK_NEAR(s.model_t_lb[1], 0.825, 1e-12);
  CHECK_NEAR(s.model_t_lb[2], 0.7, 1e-12);
  CHECK_NEAR(s.model_t_lb[EVF_MODEL_POINTS - 1], 0.7, 1e-12);
  CHECK(!s.io_bound); /* 0.825 is not within 10 % of the longest delay, 0.6 */
  CHECK_NEAR(s.last_end, 0, 0);
  CHECK_NEAR(s.max_io, 0.6, 1e-12);
  CHECK_NEAR(s.cpu_total, 0.75, 1e-12);
  CHECK_EQ_U64(s.status_count[EVF_STATUS_OK], 4);
  CHECK_EQ_U64(s.status_count[EVF_STATUS_IO_ERROR], 1);
  CHECK_EQ_U64(s.failed, 1);

  /* Spread writers: the same records added on three ranks (ids 1 and 4, 2 and 5, 3), their
   * sums reduced as evf_comm_reduce_stats does (vectors summed, maxima taken, the delay tables
   * added to the first), give the summary worked out above. */
  struct evf_stats *part[3];
  for (int k = 0; k < 3; k++)
    part[k] = evf_stats_new(2, NULL);
  evf_stats_add(part[0], &c[0]);
  evf_stats_add(part[0], &c[3]);
  evf_stats_add(part[1], &c[1]);
  evf_stats_add(part[1], &c[4]);
  evf_stats_add(part[2], &c[2]);
  size_t nu = evf_stats_nu(part[0]), nd = evf_stats_nd(part[0]);
  uint64_t u[3][64] = {{0}}, usum[64] = {0};
  double dv[3][64] = {{0}}, dsum[64] = {0}, m[3][EVF_STATS_NM], mmax[EVF_STATS_NM] = {0};
  CHECK(nu <= 64 && nd <= 64);
  for (int k = 0; k < 3; k++) {
    evf_stats_export(part[k], u[k], dv[k], m[k]);
    for (size_t i = 0; i < nu; i++)
      usum[i] += u[k][i];
    for (size_t i = 0; i < nd; i++)
      dsum[i] += dv[k][i];
    for (int i = 0; i < EVF_STATS_NM; i++)
      mmax[i] = m[k][i] > mmax[i] ? m[k][i] : mmax[i];
  }
  evf_stats_import(part[0], usum, dsum, mmax);
  for (int k = 1; k < 3; k++) {
    uint64_t io[8];
    double cpu[8];
    CHECK(evf_stats_ndelays(part[k]) <= 8);
    evf_stats_delays(part[k], io, cpu);
    CHECK_EQ_U64(evf_stats_add_delays(part[0], io, cpu, evf_stats_ndelays(part[k])), 0);
  }
  struct evf_summary sp;
  CHECK_EQ_U64(evf_summary_finish(&sp, part[0], 2, 1.0), 0);
  CHECK_EQ_U64(sp.tasks, 5);
  CHECK_EQ_U64(sp.per_rank_tasks[0], 2);
  CHECK_EQ_U64(sp.per_rank_tasks[1], 3);
  CHECK_NEAR(sp.per_rank_busy[0], 0.3, 1e-12);
  CHECK_NEAR(sp.per_rank_busy[1], 0.45, 1e-12);
  CHECK_NEAR(sp.bound.t_lb, 0.825, 1e-12);
  CHECK_NEAR(sp.bound.task_term, 0.7, 1e-12);
  CHECK_NEAR(sp.model_t_lb[0], 1.15, 1e-12);
  CHECK_NEAR(sp.max_io, 0.6, 1e-12);
  CHECK_NEAR(sp.cpu_total, 0.75, 1e-12);
  CHECK_EQ_U64(sp.status_count[EVF_STATUS_OK], 4);
  CHECK_EQ_U64(sp.status_count[EVF_STATUS_IO_ERROR], 1);
  CHECK_EQ_U64(sp.failed, 1);
  evf_summary_free(&sp);
  for (int k = 0; k < 3; k++)
    evf_stats_free(part[k]);

  /* Placement: 5 ranks on nodes b, a, b, c, a -> nodes numbered by lowest rank (b 0, a 1, c 2);
   * node b's ranks may use CPUs {0} and {0, 1}: 2 CPUs for 2 ranks; node a's both only {3}: 1
   * CPU for 2 ranks, oversubscribed. */
  static const char names[5][EVF_HOST_LEN] = {"b", "a", "b", "c", "a"};
  unsigned char masks[5][EVF_CPUMASK_BYTES] = {{0}};
  masks[0][0] = 0x1;
  masks[2][0] = 0x3;
  masks[1][0] = masks[4][0] = 0x8;
  masks[3][0] = 0xf0;
  int node_of[5], cpus[5];
  CHECK_EQ_U64(evf_placement_group(names, 5, node_of), 3);
  int want_node[5] = {0, 1, 0, 2, 1};
  for (int r = 0; r < 5; r++)
    CHECK_EQ_U64(node_of[r], want_node[r]);
  CHECK_EQ_U64(evf_placement_node_cpus(node_of, 3, 5, (const unsigned char(*)[EVF_CPUMASK_BYTES])masks,
                                       cpus), 0);
  int want_cpus[5] = {2, 1, 2, 4, 1};
  for (int r = 0; r < 5; r++)
    CHECK_EQ_U64(cpus[r], want_cpus[r]);
  s.ranks = 5;
  evf_summary_set_placement(&s, names, cpus);
  CHECK_EQ_U64(s.nodes, 3);
  CHECK(s.oversubscribed);
  cpus[1] = cpus[4] = 2;
  evf_summary_set_placement(&s, names, cpus);
  CHECK(!s.oversubscribed);
  evf_summary_free(&s);
  return check_done("test_stats");
}
