/* Per-rank load, the lower bound and the efficiency of a run, from its records. */
#include "stats.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

struct io_cpu {
  uint32_t io_us;
  double cpu;
};

static int by_io_desc(const void *a, const void *b)
{
  uint32_t x = ((const struct io_cpu *)a)->io_us, y = ((const struct io_cpu *)b)->io_us;
  return (x < y) - (x > y);
}

int evf_bound_compute(const struct evf_record *recs, size_t n, int nranks, struct evf_bound *b)
{
  memset(b, 0, sizeof *b);
  if (n == 0)
    return 0;
  struct io_cpu *v = malloc(n * sizeof *v);
  if (!v)
    return EVF_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    v[i].io_us = recs[i].io_delay_us;
    v[i].cpu = recs[i].cpu_time;
    double own = recs[i].io_delay_us * 1e-6 + recs[i].cpu_time;
    if (own > b->task_term)
      b->task_term = own;
  }
  qsort(v, n, sizeof *v, by_io_desc);
  /* Sweep t down through the distinct delays, accumulating the CPU work still to do. */
  double work = 0;
  b->backlog_term = -1;
  for (size_t i = 0; i < n;) {
    uint32_t t = v[i].io_us;
    for (; i < n && v[i].io_us == t; i++)
      work += v[i].cpu;
    double cand = t * 1e-6 + work / nranks;
    if (cand > b->backlog_term) {
      b->backlog_term = cand;
      b->backlog_at = t * 1e-6;
    }
  }
  free(v);
  b->t_lb = b->task_term > b->backlog_term ? b->task_term : b->backlog_term;
  return 0;
}

static struct evf_minmax minmax_u64(const uint64_t *x, int n)
{
  struct evf_minmax m = {(double)x[0], 0, (double)x[0]};
  for (int i = 0; i < n; i++) {
    double v = (double)x[i];
    m.mean += v / n;
    m.min = v < m.min ? v : m.min;
    m.max = v > m.max ? v : m.max;
  }
  return m;
}

static struct evf_minmax minmax_f(const double *x, int n, double offset, double sign)
{
  struct evf_minmax m = {offset + sign * x[0], 0, offset + sign * x[0]};
  for (int i = 0; i < n; i++) {
    double v = offset + sign * x[i];
    m.mean += v / n;
    m.min = v < m.min ? v : m.min;
    m.max = v > m.max ? v : m.max;
  }
  return m;
}

void evf_summary_free(struct evf_summary *s)
{
  free(s->per_rank_tasks);
  free(s->per_rank_busy);
  s->per_rank_tasks = NULL;
  s->per_rank_busy = NULL;
}

int evf_summary_compute(struct evf_summary *s, const struct evf_record *recs, size_t n,
                        int nranks, uint64_t batches, double wall)
{
  memset(s, 0, sizeof *s);
  s->tasks = n;
  s->ranks = nranks;
  s->batches = batches;
  s->wall = wall;
  s->tasks_per_second = wall > 0 ? (double)n / wall : 0;
  s->per_rank_tasks = calloc((size_t)nranks, sizeof *s->per_rank_tasks);
  s->per_rank_busy = calloc((size_t)nranks, sizeof *s->per_rank_busy);
  if (!s->per_rank_tasks || !s->per_rank_busy) {
    evf_summary_free(s);
    return EVF_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    const struct evf_record *r = &recs[i];
    if (r->rank >= 0 && r->rank < nranks) {
      s->per_rank_tasks[r->rank]++;
      s->per_rank_busy[r->rank] += r->cpu_time;
    }
    s->cpu_total += r->cpu_time;
    if (r->io_delay_us * 1e-6 > s->max_io)
      s->max_io = r->io_delay_us * 1e-6;
    if (r->status >= 0 && r->status < EVF_STATUS_COUNT)
      s->status_count[r->status]++;
    if (r->status != EVF_STATUS_OK)
      s->failed++;
  }
  s->rank_tasks = minmax_u64(s->per_rank_tasks, nranks);
  s->rank_busy = minmax_f(s->per_rank_busy, nranks, 0, 1);
  s->rank_idle = minmax_f(s->per_rank_busy, nranks, wall, -1);
  s->imbalance = s->rank_busy.mean > 0 ? s->rank_busy.max / s->rank_busy.mean : 1;
  int rc = evf_bound_compute(recs, n, nranks, &s->bound);
  if (rc) {
    evf_summary_free(s);
    return rc;
  }
  s->efficiency = wall > 0 ? s->bound.t_lb / wall : 0;
  return 0;
}
