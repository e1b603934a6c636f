/* partition: every id in exactly one batch, batches in id order, sizes as specified, counts and
 * displacements consistent, for small, uneven, N < P, N near 2^31 and N = 2^32 - 1 cases; windows. */
#include <stdlib.h>

#include "check.h"
#include "error.h"
#include "partition.h"

/* Structural checks that hold for every partition; returns the number of tasks covered. */
static void check_invariants(const struct evf_partition *p, uint32_t n, int ranks, uint32_t bs)
{
  uint64_t next_id = 1, total = 0;
  CHECK_EQ_U64(p->nranks, ranks);
  /* Walk batches in global order: ids must be consecutive from 1. */
  int *seen = calloc(p->nbatches, sizeof(int));
  for (int r = 0; r < ranks; r++) {
    uint64_t tasks = 0;
    CHECK(r == 0 || p->batch_displ[r] == p->batch_displ[r - 1] + p->batch_count[r - 1]);
    for (int i = 0; i < p->batch_count[r]; i++) {
      const struct evf_batch *b = &p->batches[p->batch_displ[r] + i];
      CHECK(b->index < p->nbatches);
      if (b->index >= p->nbatches)
        continue;
      seen[b->index]++;
      CHECK_EQ_U64(b->index % (uint32_t)ranks, r); /* round-robin (and one per rank) */
      CHECK_EQ_U64(evf_partition_batch_len(p, b->index), b->count);
      CHECK(b->count >= 1);
      if (bs)
        CHECK(b->count <= bs);
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
  uint64_t min_tasks, max_tasks; /* expected per-rank extremes */
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
  /* The largest N (ids are 32-bit): a rank's count passes 2^31, the last id is 2^32 - 1. */
  {4294967295u, 1, 0, 1, 4294967295u, 4294967295u},
  {4294967295u, 2, 0, 2, 2147483647u, 2147483648u},
  {4294967295u, 3, 2147483648u, 2, 0, 2147483648u},
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
    uint64_t mn = p.task_count[0], mx = p.task_count[0];
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
  evf_partition_free(&p);

  /* Dynamic, guided: 1000 ids on 2 ranks with 10 slots each (first share at least 20): batch k
   * takes ceil(left / 4) ids, at least ceil(1000 / 128) = 8 after the first share, written out
   * by hand: 250, 188, 141, 106, 79, 59, 45, 33, 25, 19, 14, 11, then 8 x 3 (30, 22 and 14 left),
   * and the last 6. */
  static const uint32_t guided[] = {250, 188, 141, 106, 79, 59, 45, 33, 25, 19, 14, 11, 8, 8, 8, 6};
  size_t ng = sizeof guided / sizeof guided[0];
  CHECK_EQ_U64(evf_partition_plan_dynamic(&p, 1000, 2, 0, 20), 0);
  CHECK_EQ_U64(p.nbatches, ng);
  uint32_t next = 1;
  for (size_t b = 0; b < ng && b < p.nbatches; b++) {
    CHECK_EQ_U64(p.batches[b].count, guided[b]);
    CHECK_EQ_U64(p.batches[b].first_id, next);
    CHECK_EQ_U64(p.batches[b].index, b);
    CHECK_EQ_U64(evf_partition_batch_len(&p, b), guided[b]);
    next += guided[b];
  }
  /* The first share, as the scatter sends it: batch r to rank r. */
  CHECK(p.batch_count[0] == 1 && p.batch_count[1] == 1 && p.batch_displ[1] == 1);
  CHECK(p.task_count[0] == 250 && p.task_count[1] == 188);
  evf_partition_free(&p);
  /* The first share never exceeds the static share; slots enough for all: one batch a rank. */
  CHECK_EQ_U64(evf_partition_plan_dynamic(&p, 10000, 3, 0, 131072), 0);
  CHECK(p.nbatches == 3 && p.batches[0].count == 3334 && p.batches[2].count == 3332);
  evf_partition_free(&p);
  /* Fixed batches of B, fewer ids than ranks. */
  CHECK_EQ_U64(evf_partition_plan_dynamic(&p, 10, 4, 3, 0), 0);
  CHECK(p.nbatches == 4 && p.batches[3].count == 1 && p.task_count[3] == 1);
  evf_partition_free(&p);
  CHECK_EQ_U64(evf_partition_plan_dynamic(&p, 3, 5, 0, 2), 0);
  CHECK(p.nbatches == 3 && p.batch_count[3] == 0 && p.batch_count[4] == 0);
  evf_partition_free(&p);

  /* Ranges (a resumed run): ids 1..5, 11..20, 31..35 of 40 left.  Static, 2 ranks: shares of
   * 10 ids, cut where a range ends: rank 0 {1..5} {11..15}, rank 1 {16..20} {31..35}. */
  static const struct evf_batch todo[] = {{1, 5, 0}, {11, 10, 1}, {31, 5, 2}};
  CHECK_EQ_U64(evf_partition_plan_ranges(&p, 40, todo, 3, 2, 0, 0, 0), 0);
  static const uint32_t rf[] = {1, 11, 16, 31}, rc_[] = {5, 5, 5, 5};
  CHECK_EQ_U64(p.nbatches, 4);
  for (int i = 0; i < 4 && (size_t)i < p.nbatches; i++)
    CHECK(p.batches[i].first_id == rf[i] && p.batches[i].count == rc_[i] &&
          p.batches[i].index == (uint32_t)i);
  CHECK(p.batch_count[0] == 2 && p.batch_count[1] == 2 && p.task_count[0] == 10 &&
        p.task_count[1] == 10 && p.ntasks == 40);
  evf_partition_free(&p);
  /* Batches of 4 ids, round-robin, each cut where a range ends (by hand): {1..4} r0,
   * {5} {11..13} r1, {14..17} r0, {18..20} {31} r1, {32..35} r0. */
  CHECK_EQ_U64(evf_partition_plan_ranges(&p, 40, todo, 3, 2, 4, 0, 0), 0);
  static const uint32_t bf[] = {1, 5, 11, 14, 18, 31, 32}, bc[] = {4, 1, 3, 4, 3, 1, 4};
  static const int bo[] = {0, 1, 1, 0, 1, 1, 0};
  CHECK_EQ_U64(p.nbatches, 7);
  for (size_t b = 0; b < p.nbatches && b < 7; b++)
    CHECK(evf_partition_batch_len(&p, b) == bc[b]);
  for (int r = 0; r < 2; r++)
    for (int i = p.batch_displ[r]; i < p.batch_displ[r] + p.batch_count[r] && i < 7; i++)
      CHECK(p.batches[i].index < 7 && p.batches[i].first_id == bf[p.batches[i].index] &&
            bo[p.batches[i].index] == r);
  CHECK(p.batch_count[0] == 3 && p.batch_count[1] == 4 && p.task_count[0] == 12);
  evf_partition_free(&p);
  /* Dynamic, guided over 20 ids on 2 ranks (first share >= 2): ceil(20/4) = 5 from {1..5}, then
   * ceil(15/4) = 4 from {11..}, the rest dealt; nothing left: no batch at all. */
  CHECK_EQ_U64(evf_partition_plan_ranges(&p, 40, todo, 3, 2, 0, 1, 2), 0);
  CHECK(p.nbatches >= 4 && p.batches[0].first_id == 1 && p.batches[0].count == 5 &&
        p.batches[1].first_id == 11 && p.batches[1].count == 4 && p.batch_count[0] == 1 &&
        p.batch_count[1] == 1 && p.dynamic);
  evf_partition_free(&p);
  CHECK_EQ_U64(evf_partition_plan_ranges(&p, 40, todo, 0, 3, 0, 1, 2), 0);
  CHECK(p.nbatches == 0 && p.batch_count[0] == 0);
  evf_partition_free(&p);

  /* Windows of 4 ids, 10 ids, static on 2 ranks: a share of each window for each rank. */
  CHECK_EQ_U64(evf_partition_plan_windows(&p, 10, 4, NULL, 0, 2, 0, 0, 0), 0);
  {
    static const uint32_t wf[] = {1, 3, 5, 7, 9, 10}, wc[] = {2, 2, 2, 2, 1, 1};
    CHECK(p.nbatches == 6 && p.batch_count[0] == 3 && p.batch_count[1] == 3 &&
          p.task_count[0] == 5 && p.task_count[1] == 5);
    for (int r = 0; r < 2; r++)
      for (int i = 0; i < 3; i++) {
        const struct evf_batch *b = &p.batches[p.batch_displ[r] + i];
        CHECK(b->index == (uint32_t)(2 * i + r) && b->first_id == wf[b->index] &&
              b->count == wc[b->index] && p.batch_len[b->index] == wc[b->index]);
      }
  }
  evf_partition_free(&p);
  /* Dynamic, windows of 8 over 20 ids on 2 ranks, first share >= 2: each window guided on its
   * own (share ceil(8/2) = 4, floor 1): 2,2,1,1,1,1 twice, then the last 4 ids: 2,2. */
  CHECK_EQ_U64(evf_partition_plan_windows(&p, 20, 8, NULL, 0, 2, 0, 1, 2), 0);
  {
    static const uint32_t sizes[] = {2, 2, 1, 1, 1, 1, 2, 2, 1, 1, 1, 1, 2, 2};
    uint32_t id = 1;
    CHECK_EQ_U64(p.nbatches, 14);
    for (size_t b = 0; b < 14 && b < p.nbatches; b++) {
      CHECK(p.batches[b].index == b && p.batches[b].first_id == id &&
            p.batches[b].count == sizes[b]);
      id += sizes[b];
    }
    CHECK(p.batch_count[0] == 1 && p.batch_count[1] == 1 && p.batch_displ[1] == 1 &&
          p.task_count[0] == 2 && p.task_count[1] == 2 && p.dynamic);
  }
  evf_partition_free(&p);
  /* The largest N in windows of 2^30: four windows, the last ends at id 2^32 - 1. */
  CHECK_EQ_U64(evf_partition_plan_windows(&p, 4294967295u, 1u << 30, NULL, 0, 2, 0, 0, 0), 0);
  CHECK(p.nbatches == 8);
  check_invariants(&p, 4294967295u, 2, 0);
  evf_partition_free(&p);
  CHECK_EQ_U64(evf_partition_plan_windows(&p, 4294967295u, 1u << 30, NULL, 0, 3, 0, 1, 1000), 0);
  {
    uint64_t id = 1;
    for (size_t b = 0; b < p.nbatches; b++) {
      CHECK(p.batches[b].first_id == id && p.batches[b].index == b);
      id += p.batches[b].count;
    }
    CHECK_EQ_U64(id, 4294967296ULL);
  }
  evf_partition_free(&p);
  CHECK_EQ_U64(evf_partition_plan_windows(&p, 10, 0, NULL, 0, 2, 0, 0, 0), (uint64_t)(int64_t)EVF_EUSAGE);
  /* A resumed run in windows of 8 over 20 ids: only the ids of 2-3, 7-12 and 20, each batch
   * within one window and one range (7-12 is cut at 8|9), static and dynamic on 2 ranks. */
  for (int dyn = 0; dyn < 2; dyn++) {
    static const struct evf_batch rs[] = {{2, 2, 0}, {7, 6, 1}, {20, 1, 2}};
    static const int want[21] = {[2] = 1, [3] = 1, [7] = 1, [8] = 1, [9] = 1, [10] = 1,
                                 [11] = 1, [12] = 1, [20] = 1};
    int seen[21] = {0};
    CHECK_EQ_U64(evf_partition_plan_windows(&p, 20, 8, rs, 3, 2, 0, dyn, 1), 0);
    for (size_t b = 0; b < p.nbatches; b++) {
      const struct evf_batch *x = &p.batches[b];
      uint32_t last = x->first_id + x->count - 1;
      CHECK(x->count >= 1 && last <= 20 && (x->first_id - 1) / 8 == (last - 1) / 8);
      for (uint32_t id = x->first_id; id <= last && id <= 20; id++)
        seen[id]++;
    }
    for (int id = 1; id <= 20; id++)
      CHECK_EQ_U64(seen[id], want[id]);
    evf_partition_free(&p);
  }

  /* Impossible arguments are refused, not partitioned. */
  CHECK_EQ_U64(evf_partition_plan(&p, 0, 2, 0), (uint64_t)(int64_t)EVF_EUSAGE);
  CHECK_EQ_U64(evf_partition_plan(&p, 10, 0, 0), (uint64_t)(int64_t)EVF_EUSAGE);
  return check_done("test_partition");
}
