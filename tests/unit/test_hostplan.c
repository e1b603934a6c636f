/* hostplan: host-affine plans.  For random host layouts, rank counts, windows, batch sizes,
 * resumed ranges and both schedules, checked against what the plan promises:
 *  - every id to run at exactly one position, and a position and its id in one window;
 *  - batches are ranges of positions within one window, numbered in position order, covering
 *    exactly the positions in use;
 *  - static: every host's ids on one rank for the whole job, its largest-first balance within
 *    one largest host of the best; dynamic: a host's ids in one batch, batch r the first share
 *    of rank r;
 *  - within a batch, round-robin over its hosts: the k-th id of a host comes after the
 *    (k-1)-th of every other host of that batch that has k ids.
 * And evf_hostplan_number numbers keys in order of first appearance. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "hostplan.h"
#include "plans.h"

static void check_plan(uint32_t n, uint64_t window, uint64_t part, int ranks, uint32_t bs, int dynamic,
                       const uint32_t *host_of, uint32_t nhosts, const struct evf_batch *ranges,
                       size_t nranges)
{
  struct evf_partition p;
  uint32_t *perm = NULL;
  uint32_t most = 0;
  int rc = evf_hostplan(&p, &perm, n, window, part, ranges, nranges, 0, bs, dynamic, 1,
                        host_of, nhosts, &most);
  CHECK_EQ_U64(rc, (uint64_t)(int64_t)EVF_EUSAGE); /* no ranks */
  rc = evf_hostplan(&p, &perm, n, window, part, ranges, nranges, ranks, bs, dynamic, 1, host_of,
                    nhosts, &most);
  CHECK_EQ_U64(rc, 0);
  if (rc)
    return;
  uint64_t W = window > n ? n : window, G = part > W ? W : part;
  char *run = calloc(n + 1, 1); /* the ids to run */
  if (ranges) {
    for (size_t r = 0; r < nranges; r++)
      for (uint32_t k = 0; k < ranges[r].count; k++)
        run[ranges[r].first_id + k] = 1;
  } else {
    memset(run + 1, 1, n);
  }
  int *pos_rank = malloc((n + 1) * sizeof *pos_rank);   /* the rank of each position */
  uint32_t *pos_batch = malloc((n + 1) * sizeof *pos_batch);
  for (uint32_t i = 0; i <= n; i++)
    pos_rank[i] = -1;
  /* Batches: static grouped by rank, dynamic in index order. */
  uint64_t next_pos = 0;
  for (int r = 0; r < ranks; r++) {
    for (int i = 0; i < p.batch_count[r]; i++) {
      const struct evf_batch *b = &p.batches[p.batch_displ[r] + i];
      CHECK(b->count >= 1);
      CHECK((b->first_id - 1) / W == (b->first_id + b->count - 2) / W);
      CHECK((b->first_id - 1) / G == (b->first_id + b->count - 2) / G);
      if (bs && !dynamic)
        CHECK(b->count <= bs);
      if (dynamic)
        CHECK_EQ_U64(b->index, r);
      for (uint32_t k = 0; k < b->count; k++) {
        CHECK(pos_rank[b->first_id + k] == -1);
        pos_rank[b->first_id + k] = r;
        pos_batch[b->first_id + k] = b->index;
      }
    }
  }
  if (dynamic) /* every batch in index order: positions ascending */
    for (size_t b = 0; b < p.nbatches; b++) {
      CHECK_EQ_U64(p.batches[b].index, b);
      CHECK(p.batches[b].first_id > next_pos);
      next_pos = p.batches[b].first_id + p.batches[b].count - 1;
      for (uint32_t k = 0; k < p.batches[b].count; k++)
        pos_batch[p.batches[b].first_id + k] = (uint32_t)b;
    }
  /* Every id to run once, at a position of its window in use. */
  char *seen = calloc(n + 1, 1);
  uint64_t used = 0;
  for (size_t b = 0; b < p.nbatches; b++)
    used += p.batch_len[b];
  uint64_t want = 0;
  for (uint32_t id = 1; id <= n; id++)
    want += run[id];
  CHECK_EQ_U64(used, want);
  int *host_rank = malloc(nhosts * sizeof *host_rank);
  uint32_t *host_batch = malloc(nhosts * sizeof *host_batch);
  for (uint32_t h = 0; h < nhosts; h++) {
    host_rank[h] = -1;
    host_batch[h] = UINT32_MAX;
  }
  for (size_t b = 0; b < p.nbatches; b++) {
    const struct evf_batch *bt = &p.batches[b];
    for (uint32_t k = 0; k < bt->count; k++) {
      uint32_t pos = bt->first_id + k, id = perm[pos - 1];
      CHECK(id >= 1 && id <= n);
      if (id < 1 || id > n)
        continue;
      CHECK(run[id] && !seen[id]);
      seen[id] = 1;
      CHECK_EQ_U64((pos - 1) / W, (id - 1) / W);
      CHECK_EQ_U64((pos - 1) / G, (id - 1) / G);
      uint32_t h = host_of[id - 1];
      if (!dynamic) { /* one rank per host, whole job */
        if (host_rank[h] == -1)
          host_rank[h] = pos_rank[pos];
        CHECK_EQ_U64(host_rank[h], pos_rank[pos]);
      } else { /* one batch per host */
        if (host_batch[h] == UINT32_MAX)
          host_batch[h] = pos_batch[pos];
        CHECK_EQ_U64(host_batch[h], pos_batch[pos]);
      }
    }
    /* Round-robin within the batch: the k-th id of each host before any (k+1)-th. */
    uint32_t *nth = calloc(nhosts, sizeof *nth);
    uint32_t last_round = 0;
    for (uint32_t k = 0; k < bt->count; k++) {
      uint32_t id = perm[bt->first_id + k - 1];
      uint32_t round = nth[host_of[id - 1]]++;
      CHECK(round >= last_round);
      last_round = round;
    }
    free(nth);
  }
  { /* the most hosts a rank runs: static, those it owns; dynamic, an even share */
    uint32_t *per = calloc((size_t)ranks, sizeof *per), live = 0, top = 0;
    for (uint32_t h = 0; h < nhosts; h++)
      if (host_rank[h] >= 0 || host_batch[h] != UINT32_MAX) {
        live++;
        if (host_rank[h] >= 0 && ++per[host_rank[h]] > top)
          top = per[host_rank[h]];
      }
    CHECK_EQ_U64(most, dynamic ? (live + (uint32_t)ranks - 1) / (uint32_t)ranks : top);
    free(per);
  }
  if (!dynamic) { /* LPT: the busiest rank is within the largest host of the ideal */
    uint64_t *load = calloc((size_t)ranks, sizeof *load), *cnt = calloc(nhosts, sizeof *cnt);
    uint64_t biggest = 0, most = 0;
    for (uint32_t id = 1; id <= n; id++)
      if (run[id])
        cnt[host_of[id - 1]]++;
    for (uint32_t h = 0; h < nhosts; h++) {
      biggest = cnt[h] > biggest ? cnt[h] : biggest;
      if (host_rank[h] >= 0)
        load[host_rank[h]] += cnt[h];
    }
    for (int r = 0; r < ranks; r++)
      most = load[r] > most ? load[r] : most;
    CHECK(most <= (want + (uint64_t)ranks - 1) / (uint64_t)ranks + biggest);
    free(load);
    free(cnt);
  }
  free(host_rank);
  free(host_batch);
  free(seen);
  free(run);
  free(pos_rank);
  free(pos_batch);
  free(perm);
  evf_partition_free(&p);
}

int main(void)
{
  rnd_seed(88172645463325252ull);
  /* Numbering by key, in order of first appearance. */
  const char *lines[] = {"b/1", "a/1", "b/2", "c/9", "a/2", "/x", "/y"};
  uint32_t host_of[7], nh = 0;
  CHECK_EQ_U64(evf_hostplan_number(lines, 7, key_of, host_of, &nh), 0);
  CHECK_EQ_U64(nh, 4);
  static const uint32_t want_h[7] = {0, 1, 0, 2, 1, 3, 3};
  for (int k = 0; k < 7; k++)
    CHECK_EQ_U64(host_of[k], want_h[k]);

  /* A worked example: 2 ranks, hosts A (4 ids), B (2), C (2), static: A to rank 0, B and C to
   * rank 1; rank 1's share round-robin: B, C, B, C. */
  {
    static const uint32_t h8[8] = {0, 1, 0, 2, 0, 1, 2, 0}; /* ids 1..8 */
    struct evf_partition p;
    uint32_t *perm;
    uint32_t most = 0;
    CHECK_EQ_U64(evf_hostplan(&p, &perm, 8, 8, 8, NULL, 0, 2, 0, 0, 1, h8, 3, &most), 0);
    CHECK_EQ_U64(most, 2);
    static const uint32_t want[8] = {1, 3, 5, 8, 2, 4, 6, 7};
    for (int k = 0; k < 8; k++)
      CHECK_EQ_U64(perm[k], want[k]);
    CHECK_EQ_U64(p.batch_count[0], 1);
    CHECK_EQ_U64(p.batches[p.batch_displ[1]].first_id, 5);
    free(perm);
    evf_partition_free(&p);
  }

  /* Random layouts. */
  for (int trial = 0; trial < 400; trial++) {
    uint32_t n = 1 + rnd(trial < 300 ? 200 : 3000);
    uint32_t nhosts = 1 + rnd(n < 60 ? n : 60);
    uint32_t *ho = malloc(n * sizeof *ho);
    for (uint32_t k = 0; k < n; k++) /* skewed: host 0 often */
      ho[k] = rnd(3) == 0 ? 0 : rnd(nhosts);
    /* numbered in order of first appearance, as evf_hostplan_number gives */
    uint32_t *map = malloc(nhosts * sizeof *map), used = 0;
    for (uint32_t h = 0; h < nhosts; h++)
      map[h] = UINT32_MAX;
    for (uint32_t k = 0; k < n; k++) {
      if (map[ho[k]] == UINT32_MAX)
        map[ho[k]] = used++;
      ho[k] = map[ho[k]];
    }
    int ranks = 1 + (int)rnd(6);
    uint32_t bs = rnd(3) ? 0 : 1 + rnd(20);
    int dynamic = (int)rnd(2);
    uint64_t window = dynamic ? n + rnd(5) : 1 + rnd(n + 10);
    uint64_t part = dynamic || rnd(2) ? window : 1 + rnd((uint32_t)window); /* gathered parts */
    struct evf_batch rs[8];
    size_t nrs = 0;
    if (rnd(3) == 0) { /* a resumed run: some ranges */
      uint32_t at = 1;
      while (nrs < 8 && at <= n) {
        uint32_t gap = rnd(10), len = 1 + rnd(30);
        if (at + gap > n)
          break;
        at += gap;
        if (at + len - 1 > n)
          len = n - at + 1;
        rs[nrs] = (struct evf_batch){at, len, (uint32_t)nrs};
        nrs++;
        at += len + 1;
      }
    }
    if (nrs)
      check_plan(n, window, part, ranks, bs, dynamic, ho, used, rs, nrs);
    else
      check_plan(n, window, part, ranks, bs, dynamic, ho, used, NULL, 0);
    free(map);
    free(ho);
  }
  /* Dynamic with more than one window or gathered part is refused (the caller plans static
   * then). */
  {
    struct evf_partition p;
    uint32_t *perm;
    static const uint32_t h4[4] = {0, 1, 0, 1};
    uint32_t most;
    CHECK_EQ_U64(evf_hostplan(&p, &perm, 4, 2, 2, NULL, 0, 2, 0, 1, 1, h4, 2, &most),
                 (uint64_t)(int64_t)EVF_EUSAGE);
    CHECK_EQ_U64(evf_hostplan(&p, &perm, 4, 4, 2, NULL, 0, 2, 0, 1, 1, h4, 2, &most),
                 (uint64_t)(int64_t)EVF_EUSAGE);
  }
  return check_done("test_hostplan");
}
