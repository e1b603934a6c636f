/* partition: every id in exactly one batch, batches in id order, sizes as specified, counts and
 * displacements consistent, for small, uneven, N < P and N near 2^31 cases. */
#include <stdlib.h>

#include "check.h"
#include "error.h"
#include "partition.h"

/* Structural checks that hold for every partition; returns the number of tasks covered. */
static void check_invariants(const struct evf_partition *p, uint32_t n, int ranks, uint32_t bs)
{
  uint64_t next_id = 1, total = 0;
  CHECK_EQ_U64(p->nranks, ranks);
  /* Walk batches in global order through batch_offset: ids must be consecutive from 1. */
  int *seen = calloc(p->nbatches, sizeof(int));
  for (int r = 0; r < ranks; r++) {
    uint64_t tasks = 0, off = (uint64_t)p->task_displ[r];
    CHECK(r == 0 || p->batch_displ[r] == p->batch_displ[r - 1] + p->batch_count[r - 1]);
    CHECK(r == 0 || p->task_displ[r] == p->task_displ[r - 1] + p->task_count[r - 1]);
    for (int i = 0; i < p->batch_count[r]; i++) {
      const struct evf_batch *b = &p->batches[p->batch_displ[r] + i];
      CHECK(b->index < p->nbatches);
      if (b->index >= p->nbatches)
        continue;
      seen[b->index]++;
      CHECK_EQ_U64(b->index % (uint32_t)ranks, r); /* round-robin (and one per rank) */
      CHECK_EQ_U64(p->batch_offset[b->index], off);
      CHECK_EQ_U64(evf_partition_batch_len(p, b->index), b->count);
      CHECK(b->count >= 1);
      if (bs)
        CHECK(b->count <= bs);
      off += b->count;
      tasks += b->count;
    }
    CHECK_EQ_U64(tasks, p->task_count[r]);
    total += tasks;
  }
  for (size_t b = 0; b < p->nbatches; b++) {
    CHECK_EQ_U64(seen[b], 1);
    int r = (int)(b % (size_t)ranks);
    int pos = p->batch_displ[r] + (int)(b / (size_t)ranks);
    CHECK_EQ_U64(p->batches[pos].first_id, next_id);
    next_id += p->batches[pos].count;
  }
  free(seen);
  CHECK_EQ_U64(total, n);
  CHECK_EQ_U64(next_id, (uint64_t)n + 1);
}

struct plan_case {
  uint32_t n;
  int ranks;
  uint32_t batch_size;
  size_t nbatches;        /* expected */
  int min_tasks, max_tasks; /* expected per-rank extremes */
};

static const struct plan_case cases[] = {
  {10000, 1, 0, 1, 10000, 10000},
  {10000, 2, 0, 2, 5000, 5000},
  {10000, 3, 0, 3, 3333, 3334},
  {10, 4, 0, 4, 2, 3},
  {3, 5, 0, 3, 0, 1},              /* N < P: ranks 3 and 4 get nothing */
  {1, 4, 0, 1, 0, 1},
  {10, 3, 4, 3, 2, 4},             /* batches 4,4,2 */
  {10, 2, 3, 4, 4, 6},             /* batches 3,3,3,1 -> rank 0: 3+3, rank 1: 3+1 */
  {10, 4, 1, 10, 2, 3},
  {7, 3, 100, 1, 0, 7},            /* one batch larger than N */
  {2147483647u, 3, 0, 3, 715827882, 715827883},
  {2147483647u, 7, 1073741824u, 2, 0, 1073741824}, /* near 2^31: batches 2^30 and 2^30-1 */
  {2147483647u, 2, 2147483647u, 1, 0, 2147483647},
};

int main(void)
{
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const struct plan_case *c = &cases[k];
    struct evf_partition p;
    int rc = evf_partition_plan(&p, c->n, c->ranks, c->batch_size);
    CHECK_EQ_U64(rc, 0);
    if (rc)
      continue;
    CHECK_EQ_U64(p.nbatches, c->nbatches);
    int mn = p.task_count[0], mx = p.task_count[0];
    for (int r = 0; r < c->ranks; r++) {
      mn = p.task_count[r] < mn ? p.task_count[r] : mn;
      mx = p.task_count[r] > mx ? p.task_count[r] : mx;
    }
    CHECK_EQ_U64(mn, c->min_tasks);
    CHECK_EQ_U64(mx, c->max_tasks);
    if (c->batch_size == 0)
      CHECK(mx - mn <= 1); /* default: sizes differ by at most one */
    check_invariants(&p, c->n, c->ranks, c->batch_size);
    evf_partition_free(&p);
  }

  /* Exact layout of one uneven round-robin case: 10 ids, batches of 3, 2 ranks. */
  struct evf_partition p;
  CHECK_EQ_U64(evf_partition_plan(&p, 10, 2, 3), 0);
  uint32_t want_first[] = {1, 7, 4, 10}, want_count[] = {3, 3, 3, 1}, want_index[] = {0, 2, 1, 3};
  for (int i = 0; i < 4; i++) {
    CHECK_EQ_U64(p.batches[i].first_id, want_first[i]);
    CHECK_EQ_U64(p.batches[i].count, want_count[i]);
    CHECK_EQ_U64(p.batches[i].index, want_index[i]);
  }
  CHECK_EQ_U64(p.batch_offset[1], 6); /* ids 4..6 follow rank 0's 6 records */
  evf_partition_free(&p);

  /* Impossible arguments are refused, not partitioned. */
  CHECK_EQ_U64(evf_partition_plan(&p, 0, 2, 0), (uint64_t)(int64_t)EVF_EUSAGE);
  CHECK_EQ_U64(evf_partition_plan(&p, 10, 0, 0), (uint64_t)(int64_t)EVF_EUSAGE);
  return check_done("test_partition");
}
