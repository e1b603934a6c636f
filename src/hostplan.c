/* Host-affine plans (see hostplan.h). */
#include "hostplan.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hash.h"

int evf_hostplan_number(const char *const *line, size_t n,
                        size_t (*key)(const char *input, char *buf, size_t cap), uint32_t *host_of,
                        uint32_t *nhosts)
{
  /* Open addressing: slot -> host number + 1; the keys themselves kept back to back. */
  size_t cap = 1024;
  uint32_t *slot = calloc(cap, sizeof *slot);
  char **keys = NULL;
  size_t nk = 0, capk = 0;
  int rc = slot ? 0 : EVF_ENOMEM;
  char buf[2048];
  for (size_t k = 0; k < n && rc == 0; k++) {
    size_t len = key(line[k], buf, sizeof buf);
    buf[len < sizeof buf ? len : sizeof buf - 1] = '\0';
    uint64_t h = evf_hash_bytes(buf, strlen(buf));
    size_t j = (size_t)h & (cap - 1);
    while (slot[j] && strcmp(keys[slot[j] - 1], buf) != 0)
      j = (j + 1) & (cap - 1);
    if (slot[j]) {
      host_of[k] = slot[j] - 1;
      continue;
    }
    if (nk == capk) {
      size_t c2 = capk ? 2 * capk : 256;
      char **k2 = realloc(keys, c2 * sizeof *k2);
      if (!k2) {
        rc = EVF_ENOMEM;
        break;
      }
      keys = k2;
      capk = c2;
    }
    if (!(keys[nk] = strdup(buf))) {
      rc = EVF_ENOMEM;
      break;
    }
    slot[j] = (uint32_t)++nk;
    host_of[k] = (uint32_t)(nk - 1);
    if (2 * nk > cap) { /* grow and rehash */
      size_t c2 = 2 * cap;
      uint32_t *s2 = calloc(c2, sizeof *s2);
      if (!s2) {
        rc = EVF_ENOMEM;
        break;
      }
      for (size_t i = 0; i < cap; i++)
        if (slot[i]) {
          const char *kk = keys[slot[i] - 1];
          size_t jj = (size_t)evf_hash_bytes(kk, strlen(kk)) & (c2 - 1);
          while (s2[jj])
            jj = (jj + 1) & (c2 - 1);
          s2[jj] = slot[i];
        }
      free(slot);
      slot = s2;
      cap = c2;
    }
  }
  for (size_t i = 0; i < nk; i++)
    free(keys[i]);
  free(keys);
  free(slot);
  *nhosts = (uint32_t)nk;
  return rc;
}

/* One id of a window being planned: sorted by (a, rr, host, id). */
struct item {
  uint32_t a;    /* static: the owner rank; dynamic: the batch */
  uint32_t rr;   /* its host's rr-th id in the window (round-robin over hosts) */
  uint32_t host;
  uint32_t id;
};

static int item_cmp(const void *x, const void *y)
{
  const struct item *a = x, *b = y;
  if (a->a != b->a)
    return a->a < b->a ? -1 : 1;
  if (a->rr != b->rr)
    return a->rr < b->rr ? -1 : 1;
  if (a->host != b->host)
    return a->host < b->host ? -1 : 1;
  return a->id < b->id ? -1 : a->id > b->id;
}

/* Largest hosts first (ties: the lower number), each to the rank with the fewest ids so far
 * (ties: the lower rank).  owner[h] for every host; 0 or EVF_ENOMEM. */
static int owners_lpt(const uint64_t *cnt, uint32_t nhosts, int nranks, int *owner)
{
  uint32_t *order = malloc((nhosts ? nhosts : 1) * sizeof *order);
  uint64_t *load = calloc((size_t)nranks, sizeof *load);
  int *heap = malloc((size_t)nranks * sizeof *heap); /* ranks by (load, rank) */
  if (!order || !load || !heap) {
    free(order);
    free(load);
    free(heap);
    return EVF_ENOMEM;
  }
  for (uint32_t h = 0; h < nhosts; h++)
    order[h] = h;
  /* Counting would not do for 64-bit counts: a merge sort by (count desc, host asc). */
  uint32_t *tmp = malloc((nhosts ? nhosts : 1) * sizeof *tmp);
  if (!tmp) {
    free(order);
    free(load);
    free(heap);
    return EVF_ENOMEM;
  }
  for (uint32_t w = 1; w < nhosts; w *= 2) {
    for (uint32_t lo = 0; lo < nhosts; lo += 2 * w) {
      uint32_t mid = lo + w < nhosts ? lo + w : nhosts;
      uint32_t hi = lo + 2 * w < nhosts ? lo + 2 * w : nhosts;
      uint32_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi)
        tmp[k++] = cnt[order[j]] > cnt[order[i]] ? order[j++] : order[i++];
      while (i < mid)
        tmp[k++] = order[i++];
      while (j < hi)
        tmp[k++] = order[j++];
    }
    memcpy(order, tmp, nhosts * sizeof *order);
  }
  free(tmp);
  for (int r = 0; r < nranks; r++)
    heap[r] = r; /* all loads 0: in rank order, a valid heap */
#define LESS(x, y) (load[x] < load[y] || (load[x] == load[y] && (x) < (y)))
  for (uint32_t k = 0; k < nhosts; k++) {
    uint32_t h = order[k];
    int r = heap[0];
    owner[h] = r;
    load[r] += cnt[h];
    for (int i = 0;;) { /* sift the root down */
      int l = 2 * i + 1, m = i;
      if (l < nranks && LESS(heap[l], heap[m]))
        m = l;
      if (l + 1 < nranks && LESS(heap[l + 1], heap[m]))
        m = l + 1;
      if (m == i)
        break;
      int t = heap[i];
      heap[i] = heap[m];
      heap[m] = t;
      i = m;
    }
  }
#undef LESS
  free(order);
  free(load);
  free(heap);
  return 0;
}

struct batches {
  struct evf_batch *b;
  int *owner;
  size_t n, cap;
};

static int add_batch(struct batches *bs, uint64_t first, uint64_t count, int owner)
{
  if (bs->n == bs->cap) {
    size_t cap = bs->cap ? 2 * bs->cap : 64;
    struct evf_batch *b = realloc(bs->b, cap * sizeof *b);
    if (!b)
      return EVF_ENOMEM;
    bs->b = b;
    int *o = realloc(bs->owner, cap * sizeof *o);
    if (!o)
      return EVF_ENOMEM;
    bs->owner = o;
    bs->cap = cap;
  }
  bs->b[bs->n] = (struct evf_batch){(uint32_t)first, (uint32_t)count, (uint32_t)bs->n};
  bs->owner[bs->n++] = owner;
  return 0;
}

int evf_hostplan(struct evf_partition *p, uint32_t **perm_out, uint32_t ntasks, uint64_t window,
                 uint64_t part, const struct evf_batch *ranges, size_t nranges, int nranks, uint32_t batch_size,
                 int dynamic, uint64_t first_min, const uint32_t *host_of, uint32_t nhosts,
                 uint32_t *most_hosts)
{
  *most_hosts = 0;
  memset(p, 0, sizeof *p);
  *perm_out = NULL;
  if (ntasks < 1 || nranks < 1 || window < 1 || part < 1 || ntasks > EVF_TASKS_MAX)
    return EVF_EUSAGE;
  if (window > ntasks)
    window = ntasks;
  if (part > window)
    part = window;
  if (dynamic && (window < ntasks || part < ntasks)) /* one segment: a host in two would be in
                                                       two batches, perhaps on two ranks */
    return EVF_EUSAGE;
  struct evf_batch all = {1, ntasks, 0};
  if (!ranges) {
    ranges = &all;
    nranges = 1;
  }
  uint64_t P = (uint64_t)nranks, M = 0;
  uint32_t *perm = calloc(ntasks, sizeof *perm);
  uint64_t *cnt = calloc(nhosts ? nhosts : 1, sizeof *cnt);
  uint32_t *seen = calloc(nhosts ? nhosts : 1, sizeof *seen);
  uint32_t *seen_win = malloc((nhosts ? nhosts : 1) * sizeof *seen_win);
  uint32_t *group = malloc((nhosts ? nhosts : 1) * sizeof *group);
  int *owner = calloc(nhosts ? nhosts : 1, sizeof *owner);
  struct item *it = malloc((size_t)part * sizeof *it);
  struct batches bs = {0};
  int rc = perm && cnt && seen && seen_win && group && owner && it ? 0 : EVF_ENOMEM;
  for (size_t r = 0; rc == 0 && r < nranges; r++)
    for (uint64_t id = ranges[r].first_id; id < (uint64_t)ranges[r].first_id + ranges[r].count;
         id++) {
      cnt[host_of[id - 1]]++;
      M++;
    }
  if (rc == 0 && !dynamic)
    rc = owners_lpt(cnt, nhosts, nranks, owner);
  if (rc == 0) { /* the most hosts a rank runs */
    uint64_t *per = calloc((size_t)nranks, sizeof *per), live = 0;
    for (uint32_t h = 0; per && h < nhosts; h++)
      if (cnt[h]) {
        live++;
        per[owner[h]]++;
      }
    for (int r = 0; per && !dynamic && r < nranks; r++)
      if (per[r] > *most_hosts)
        *most_hosts = (uint32_t)per[r];
    if (dynamic)
      *most_hosts = (uint32_t)((live + P - 1) / P);
    rc = per ? 0 : EVF_ENOMEM;
    free(per);
  }
  if (rc == 0)
    memset(seen_win, 0xff, (nhosts ? nhosts : 1) * sizeof *seen_win);
  uint64_t share = (M + P - 1) / P, floor_ = (M + 64 * P - 1) / (64 * P);
  uint64_t assigned = 0, ngroups = 0, gcount = 0, target = 0;
  size_t r0 = 0;
  /* Segments: the ids between two cuts, at every multiple of `window` and of `part`. */
  uint64_t w = 0;
  for (uint64_t lo = 1, hi; rc == 0 && lo <= ntasks; lo = hi + 1, w++) {
    uint64_t cw = ((lo - 1) / window + 1) * window, cp = ((lo - 1) / part + 1) * part;
    hi = cw < cp ? cw : cp;
    hi = hi < ntasks ? hi : ntasks;
    size_t m = 0;
    while (r0 < nranges && (uint64_t)ranges[r0].first_id + ranges[r0].count - 1 < lo)
      r0++;
    for (size_t r = r0; r < nranges && ranges[r].first_id <= hi; r++) {
      uint64_t a = ranges[r].first_id > lo ? ranges[r].first_id : lo;
      uint64_t e = (uint64_t)ranges[r].first_id + ranges[r].count - 1;
      for (uint64_t id = a; id <= (e < hi ? e : hi); id++) {
        uint32_t h = host_of[id - 1];
        if (seen_win[h] != (uint32_t)w) {
          seen_win[h] = (uint32_t)w;
          seen[h] = 0;
        }
        it[m++] = (struct item){0, seen[h]++, h, (uint32_t)id};
      }
    }
    if (dynamic) {
      /* Hosts in order of first appearance close a batch once it holds its target. */
      for (size_t i = 0; i < m; i++) {
        uint32_t h = it[i].host;
        if (it[i].rr == 0) { /* the host's first id in the window */
          if (target == 0 || gcount >= target) {
            if (target) {
              assigned += gcount;
              ngroups++;
            }
            uint64_t left = M - assigned;
            if (batch_size) {
              target = batch_size;
            } else {
              target = (left + 2 * P - 1) / (2 * P);
              if (ngroups < P)
                target = target < first_min ? first_min : target;
              if (ngroups < P && target > share)
                target = share;
              else if (ngroups >= P && target < floor_)
                target = floor_;
            }
            if (target < 1)
              target = 1;
            gcount = 0;
          }
          group[h] = (uint32_t)ngroups;
          gcount += seen[h]; /* its ids in the window */
        }
        it[i].a = group[h];
      }
    } else {
      for (size_t i = 0; i < m; i++)
        it[i].a = (uint32_t)owner[it[i].host];
    }
    qsort(it, m, sizeof *it, item_cmp);
    for (size_t i = 0; i < m; i++)
      perm[lo - 1 + i] = it[i].id;
    /* The batches: each run of one owner (static: cut into batch_size) or one group. */
    for (size_t i = 0; i < m && rc == 0;) {
      size_t j = i;
      while (j < m && it[j].a == it[i].a)
        j++;
      uint64_t step = !dynamic && batch_size ? batch_size : j - i;
      for (size_t k = i; k < j && rc == 0; k += step) {
        uint64_t n = j - k < step ? j - k : step;
        rc = add_batch(&bs, lo + k, n, dynamic ? 0 : (int)it[i].a);
      }
      i = j;
    }
  }
  if (rc == 0) {
    p->ntasks = ntasks;
    p->batch_size = batch_size;
    p->nranks = nranks;
    p->dynamic = dynamic;
    p->nbatches = bs.n;
    rc = evf_partition_alloc(p);
  }
  if (rc == 0) {
    for (size_t b = 0; b < bs.n; b++)
      p->batch_len[b] = bs.b[b].count;
    if (dynamic) {
      memcpy(p->batches, bs.b, bs.n * sizeof *bs.b);
      for (int r = 0; r < nranks && (size_t)r < bs.n; r++) {
        p->batch_count[r] = 1;
        p->batch_displ[r] = r;
        p->task_count[r] = p->batches[r].count;
      }
    } else {
      rc = evf_partition_layout(p, bs.b, bs.owner, p->batches);
    }
  }
  free(bs.b);
  free(bs.owner);
  free(cnt);
  free(seen);
  free(seen_win);
  free(group);
  free(owner);
  free(it);
  if (rc) {
    evf_partition_free(p);
    free(perm);
    return rc;
  }
  *perm_out = perm;
  return 0;
}
