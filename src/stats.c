/* Per-rank load, the lower bound and the efficiency of a run, from its records. */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "placement.h"

/* The CPU work of all tasks that share one planned I/O delay.  The bound only needs these sums,
 * one per distinct delay: the sim kind has at most (io-max - io-min) / 10 ms + 1 of them, so
 * the table stays tiny even for millions of records (no per-task copy on rank 0). */
struct io_work {
  uint64_t io_us;
  uint64_t used;
  double cpu;
};

struct io_table {
  struct io_work *slot;
  size_t cap, len;  /* cap is a power of two, kept at least twice len */
};

static size_t io_hash(uint64_t io_us, size_t cap)
{
  return (size_t)((io_us * 0x9e3779b97f4a7c15ULL) >> 20) & (cap - 1);
}

static int io_table_add(struct io_table *t, uint64_t io_us, double cpu)
{
  if (2 * (t->len + 1) > t->cap) {
    struct io_table g = {calloc(t->cap ? 2 * t->cap : 256, sizeof *g.slot), t->cap ? 2 * t->cap : 256, 0};
    if (!g.slot)
      return EVF_ENOMEM;
    for (size_t i = 0; i < t->cap; i++)
      if (t->slot[i].used)
        io_table_add(&g, t->slot[i].io_us, t->slot[i].cpu);
    free(t->slot);
    *t = g;
  }
  size_t i = io_hash(io_us, t->cap);
  while (t->slot[i].used && t->slot[i].io_us != io_us)
    i = (i + 1) & (t->cap - 1);
  if (!t->slot[i].used) {
    t->slot[i].used = 1;
    t->slot[i].io_us = io_us;
    t->len++;
  }
  t->slot[i].cpu += cpu;
  return 0;
}

static int by_io_desc(const void *a, const void *b)
{
  uint64_t x = ((const struct io_work *)a)->io_us, y = ((const struct io_work *)b)->io_us;
  return (x < y) - (x > y);
}

/* The table's entries compacted to the front and sorted by delay, longest first; the table is
 * consumed (its slot array is returned).  Returns the number of entries. */
static long io_table_sorted(struct io_table *t, struct io_work **out)
{
  size_t d = 0;
  for (size_t i = 0; i < t->cap; i++)
    if (t->slot[i].used)
      t->slot[d++] = t->slot[i];
  if (d)
    qsort(t->slot, d, sizeof *t->slot, by_io_desc);
  *out = t->slot;
  t->slot = NULL;
  t->cap = t->len = 0;
  return (long)d;
}

/* The distinct delays with their summed CPU work, longest delay first, and the task term.
 * Returns the number of entries (in *out, caller frees) or a negative EVF_E* code. */
static long io_work_sorted(const void *recs, size_t stride, size_t n, struct io_work **out,
                           double *task_term)
{
  struct io_table t = {0};
  *task_term = 0;
  for (size_t i = 0; i < n; i++) {
    const struct evf_record *r = evf_record_cat(recs, stride, i);
    double own = evf_record_io_delay(r) + r->cpu_time;
    if (own > *task_term)
      *task_term = own;
    if (io_table_add(&t, evf_record_io_us(r), r->cpu_time)) {
      free(t.slot);
      return EVF_ENOMEM;
    }
  }
  return io_table_sorted(&t, out);
}

/* Sweep t down through the distinct delays, accumulating the CPU work still to do. */
static void backlog(const struct io_work *w, long d, int nranks, double *term, double *at)
{
  double work = 0;
  *term = 0;
  *at = 0;
  for (long i = 0; i < d; i++) {
    work += w[i].cpu;
    double cand = w[i].io_us * 1e-6 + work / nranks;
    if (i == 0 || cand > *term) {
      *term = cand;
      *at = w[i].io_us * 1e-6;
    }
  }
}

/* The bound at nranks ranks from the table of distinct delays (w, d) and the task term. */
static void bound_at(const struct io_work *w, long d, double task_term, int nranks,
                     struct evf_bound *b)
{
  b->task_term = task_term;
  backlog(w, d, nranks, &b->backlog_term, &b->backlog_at);
  b->t_lb = b->task_term > b->backlog_term ? b->task_term : b->backlog_term;
}

int evf_bound_compute(const void *recs, size_t stride, size_t n, int nranks, struct evf_bound *b)
{
  memset(b, 0, sizeof *b);
  if (n == 0)
    return 0;
  struct io_work *w = NULL;
  double task_term;
  long d = io_work_sorted(recs, stride, n, &w, &task_term);
  if (d < 0)
    return (int)d;
  bound_at(w, d, task_term, nranks, b);
  free(w);
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
  free(s->node_of);
  s->per_rank_tasks = NULL;
  s->per_rank_busy = NULL;
  s->node_of = NULL;
}

struct evf_stats {
  int nranks;
  double (*offloop)(const struct evf_record *);
  uint64_t n;
  uint64_t *per_rank_tasks;
  double *per_rank_busy;
  uint64_t status_count[EVF_STATUS_COUNT];
  uint64_t failed, retried;
  double cpu_total, max_io, last_end, task_term, offloop_cpu;
  struct io_table io;
  int nomem;
};

struct evf_stats *evf_stats_new(int nranks, double (*offloop)(const struct evf_record *))
{
  struct evf_stats *a = calloc(1, sizeof *a);
  if (!a)
    return NULL;
  a->nranks = nranks;
  a->offloop = offloop;
  a->per_rank_tasks = calloc((size_t)nranks, sizeof *a->per_rank_tasks);
  a->per_rank_busy = calloc((size_t)nranks, sizeof *a->per_rank_busy);
  if (!a->per_rank_tasks || !a->per_rank_busy) {
    evf_stats_free(a);
    return NULL;
  }
  return a;
}

void evf_stats_free(struct evf_stats *a)
{
  if (!a)
    return;
  free(a->per_rank_tasks);
  free(a->per_rank_busy);
  free(a->io.slot);
  free(a);
}

void evf_stats_add(struct evf_stats *a, const struct evf_record *r)
{
  a->n++;
  if (r->attempts > 1)
    a->retried++;
  if (r->rank >= 0 && r->rank < a->nranks) {
    a->per_rank_tasks[r->rank]++;
    a->per_rank_busy[r->rank] += r->cpu_time;
  }
  a->cpu_total += r->cpu_time;
  if (evf_record_io_delay(r) > a->max_io)
    a->max_io = evf_record_io_delay(r);
  if (r->status < EVF_STATUS_COUNT)
    a->status_count[r->status]++;
  if (r->status != EVF_STATUS_OK)
    a->failed++;
  if (r->t_end > a->last_end)
    a->last_end = r->t_end;
  double own = evf_record_io_delay(r) + r->cpu_time;
  if (own > a->task_term)
    a->task_term = own;
  if (a->offloop)
    a->offloop_cpu += a->offloop(r);
  if (io_table_add(&a->io, evf_record_io_us(r), r->cpu_time))
    a->nomem = 1;
}

double evf_stats_offloop(const struct evf_stats *a)
{
  return a->offloop_cpu;
}

/* The vectors: u = n, retried, failed, nomem, status_count[], per_rank_tasks[];
 * d = cpu_total, offloop_cpu, per_rank_busy[]; m = max_io, last_end, task_term. */
size_t evf_stats_nu(const struct evf_stats *a)
{
  return 4 + EVF_STATUS_COUNT + (size_t)a->nranks;
}

size_t evf_stats_nd(const struct evf_stats *a)
{
  return 2 + (size_t)a->nranks;
}

void evf_stats_export(const struct evf_stats *a, uint64_t *u, double *d, double *m)
{
  u[0] = a->n;
  u[1] = a->retried;
  u[2] = a->failed;
  u[3] = (uint64_t)a->nomem;
  memcpy(u + 4, a->status_count, sizeof a->status_count);
  memcpy(u + 4 + EVF_STATUS_COUNT, a->per_rank_tasks, (size_t)a->nranks * sizeof *u);
  d[0] = a->cpu_total;
  d[1] = a->offloop_cpu;
  memcpy(d + 2, a->per_rank_busy, (size_t)a->nranks * sizeof *d);
  m[0] = a->max_io;
  m[1] = a->last_end;
  m[2] = a->task_term;
}

void evf_stats_import(struct evf_stats *a, const uint64_t *u, const double *d, const double *m)
{
  a->n = u[0];
  a->retried = u[1];
  a->failed = u[2];
  a->nomem = u[3] != 0;
  memcpy(a->status_count, u + 4, sizeof a->status_count);
  memcpy(a->per_rank_tasks, u + 4 + EVF_STATUS_COUNT, (size_t)a->nranks * sizeof *u);
  a->cpu_total = d[0];
  a->offloop_cpu = d[1];
  memcpy(a->per_rank_busy, d + 2, (size_t)a->nranks * sizeof *d);
  a->max_io = m[0];
  a->last_end = m[1];
  a->task_term = m[2];
}

size_t evf_stats_ndelays(const struct evf_stats *a)
{
  return a->io.len;
}

void evf_stats_delays(const struct evf_stats *a, uint64_t *io_us, double *cpu)
{
  size_t k = 0;
  for (size_t i = 0; i < a->io.cap; i++)
    if (a->io.slot[i].used) {
      io_us[k] = a->io.slot[i].io_us;
      cpu[k++] = a->io.slot[i].cpu;
    }
}

int evf_stats_add_delays(struct evf_stats *a, const uint64_t *io_us, const double *cpu, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (io_table_add(&a->io, io_us[i], cpu[i])) {
      a->nomem = 1;
      return EVF_ENOMEM;
    }
  return 0;
}

int evf_summary_finish(struct evf_summary *s, struct evf_stats *a, uint64_t batches, double wall)
{
  memset(s, 0, sizeof *s);
  if (a->nomem)
    return EVF_ENOMEM;
  int nranks = a->nranks;
  uint64_t n = a->n;
  s->tasks = n;
  s->ranks = nranks;
  s->batches = batches;
  s->wall = wall;
  s->tasks_per_second = wall > 0 ? (double)n / wall : 0;
  s->per_rank_tasks = malloc((size_t)nranks * sizeof *s->per_rank_tasks);
  s->per_rank_busy = malloc((size_t)nranks * sizeof *s->per_rank_busy);
  if (!s->per_rank_tasks || !s->per_rank_busy) {
    evf_summary_free(s);
    return EVF_ENOMEM;
  }
  memcpy(s->per_rank_tasks, a->per_rank_tasks, (size_t)nranks * sizeof *s->per_rank_tasks);
  memcpy(s->per_rank_busy, a->per_rank_busy, (size_t)nranks * sizeof *s->per_rank_busy);
  memcpy(s->status_count, a->status_count, sizeof s->status_count);
  s->failed = a->failed;
  s->retried = a->retried;
  s->cpu_total = a->cpu_total;
  s->max_io = a->max_io;
  s->rank_tasks = minmax_u64(s->per_rank_tasks, nranks);
  s->rank_busy = minmax_f(s->per_rank_busy, nranks, 0, 1);
  s->rank_idle = minmax_f(s->per_rank_busy, nranks, wall, -1);
  s->imbalance = s->rank_busy.mean > 0 ? s->rank_busy.max / s->rank_busy.mean : 1;
  /* The bound at this run's rank count and, for the model, at 1, 2, 4, ... ranks: one table of
   * the CPU work per distinct delay serves them all. */
  struct io_work *w = NULL;
  long d = io_table_sorted(&a->io, &w);
  bound_at(w, d, n ? a->task_term : 0, nranks, &s->bound);
  if (n == 0)
    memset(&s->bound, 0, sizeof s->bound);
  for (int k = 0; k < EVF_MODEL_POINTS; k++) {
    struct evf_bound at;
    s->model_ranks[k] = 1 << k;
    bound_at(w, d, a->task_term, s->model_ranks[k], &at);
    s->model_t_lb[k] = n ? at.t_lb : 0;
  }
  free(w);
  s->efficiency = wall > 0 ? s->bound.t_lb / wall : 0;
  s->io_bound = s->bound.t_lb < 1.1 * s->max_io;
  s->last_end = a->last_end;
  s->collect = wall - s->last_end;
  return 0;
}

int evf_summary_compute(struct evf_summary *s, const void *recs, size_t stride, size_t n,
                        int nranks, uint64_t batches, double wall)
{
  memset(s, 0, sizeof *s);
  struct evf_stats *a = evf_stats_new(nranks, NULL);
  if (!a)
    return EVF_ENOMEM;
  for (size_t i = 0; i < n; i++)
    evf_stats_add(a, evf_record_cat(recs, stride, i));
  int rc = evf_summary_finish(s, a, batches, wall);
  evf_stats_free(a);
  return rc;
}

void evf_summary_set_placement(struct evf_summary *s, const char (*hosts)[EVF_HOST_LEN],
                               const int *cpus)
{
  s->rank_host = hosts;
  s->rank_cpus = cpus;
  s->nodes = 0;
  s->oversubscribed = 0;
  free(s->node_of);
  s->node_of = malloc((size_t)s->ranks * sizeof *s->node_of);
  int *count = calloc((size_t)s->ranks, sizeof *count);
  int nodes = s->node_of && count ? evf_placement_group(hosts, s->ranks, s->node_of) : -1;
  if (nodes < 0) {
    free(s->node_of);
    s->node_of = NULL;
  } else {
    s->nodes = nodes;
    for (int r = 0; r < s->ranks; r++)
      if (++count[s->node_of[r]] > (cpus ? cpus[r] : s->ranks))
        s->oversubscribed = 1;
  }
  free(count);
}

void evf_summary_set_kind_bound(struct evf_summary *s, double term, const char *by)
{
  if (term <= 0)
    return;
  s->bound.kind_term = term;
  snprintf(s->bound.kind_by, sizeof s->bound.kind_by, "%s", by);
  if (term > s->bound.t_lb)
    s->bound.t_lb = term;
  s->efficiency = s->wall > 0 ? s->bound.t_lb / s->wall : 0;
  s->io_bound = s->bound.t_lb < 1.1 * s->max_io;
}

void evf_summary_set_offloop(struct evf_summary *s, double cpu, int job_cpus)
{
  s->offloop_cpu = cpu;
  s->job_cpus = job_cpus;
  if (job_cpus <= 0 || cpu <= 0)
    return;
  s->bound.offloop_term = cpu / job_cpus;
  if (s->bound.offloop_term > s->bound.t_lb)
    s->bound.t_lb = s->bound.offloop_term;
  s->efficiency = s->wall > 0 ? s->bound.t_lb / s->wall : 0;
  s->io_bound = s->bound.t_lb < 1.1 * s->max_io;
}
