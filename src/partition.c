/* Batches of task ids and their assignment to ranks (see partition.h). */
#include "partition.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

void evf_partition_free(struct evf_partition *p)
{
  free(p->batches);
  free(p->batch_count);
  free(p->batch_displ);
  free(p->task_count);
  free(p->batch_len);
  memset(p, 0, sizeof *p);
}

int evf_partition_alloc(struct evf_partition *p)
{
  size_t nb = p->nbatches ? p->nbatches : 1, nr = (size_t)p->nranks;
  p->batches = malloc(nb * sizeof *p->batches);
  p->batch_len = malloc(nb * sizeof *p->batch_len);
  p->batch_count = calloc(nr, sizeof *p->batch_count);
  p->batch_displ = calloc(nr, sizeof *p->batch_displ);
  p->task_count = calloc(nr, sizeof *p->task_count);
  if (!p->batches || !p->batch_len || !p->batch_count || !p->batch_displ || !p->task_count) {
    evf_partition_free(p);
    return EVF_ENOMEM;
  }
  return 0;
}

int evf_partition_layout(struct evf_partition *p, const struct evf_batch *by_index,
                         const int *owner, struct evf_batch *grouped)
{
  int nr = p->nranks;
  int *fill = calloc((size_t)nr, sizeof *fill);
  if (!fill)
    return EVF_ENOMEM;
  memset(p->batch_count, 0, (size_t)nr * sizeof *p->batch_count);
  memset(p->task_count, 0, (size_t)nr * sizeof *p->task_count);
  for (size_t b = 0; b < p->nbatches; b++) {
    p->batch_count[owner[b]]++;
    p->task_count[owner[b]] += by_index[b].count;
  }
  p->batch_displ[0] = 0;
  for (int r = 1; r < nr; r++)
    p->batch_displ[r] = p->batch_displ[r - 1] + p->batch_count[r - 1];
  for (size_t b = 0; b < p->nbatches; b++) {
    int r = owner[b];
    grouped[p->batch_displ[r] + fill[r]++] = by_index[b];
  }
  free(fill);
  return 0;
}

int evf_partition_plan(struct evf_partition *p, uint32_t ntasks, int nranks, uint32_t batch_size)
{
  struct evf_batch all = {1, ntasks, 0};
  memset(p, 0, sizeof *p);
  if (ntasks < 1)
    return EVF_EUSAGE;
  return evf_partition_plan_ranges(p, ntasks, &all, 1, nranks, batch_size, 0, 0);
}

int evf_partition_plan_dynamic(struct evf_partition *p, uint32_t ntasks, int nranks,
                               uint32_t batch_size, uint64_t first_min)
{
  struct evf_batch all = {1, ntasks, 0};
  memset(p, 0, sizeof *p);
  if (ntasks < 1)
    return EVF_EUSAGE;
  return evf_partition_plan_ranges(p, ntasks, &all, 1, nranks, batch_size, 1, first_min);
}

int evf_partition_plan_ranges(struct evf_partition *p, uint32_t ntasks,
                              const struct evf_batch *ranges, size_t nranges, int nranks,
                              uint32_t batch_size, int dynamic, uint64_t first_min)
{
  memset(p, 0, sizeof *p);
  if (nranks < 1 || ntasks > EVF_TASKS_MAX)
    return EVF_EUSAGE;
  uint64_t M = 0, P = (uint64_t)nranks;
  for (size_t k = 0; k < nranges; k++)
    M += ranges[k].count;
  p->ntasks = ntasks;
  p->batch_size = batch_size;
  p->nranks = nranks;
  p->dynamic = dynamic;
  uint64_t share = M ? (M + P - 1) / P : 0, floor_ = M ? (M + 64 * P - 1) / (64 * P) : 0;
  struct evf_batch *by_index = NULL;
  int *owner = NULL;
  /* Targets as for one range of M ids; a target that meets the end of a range becomes a shorter
   * batch (static: the rest of it goes on in the next range, to the same rank). */
  for (int pass = 0; pass < 2; pass++) {
    uint64_t left = M, b = 0, target = 0, targets = 0;
    size_t rg = 0;
    uint32_t off = 0;
    while (left > 0) {
      if (target == 0) {
        if (!dynamic)
          target = batch_size ? batch_size : M / P + (targets < M % P);
        else if (batch_size)
          target = batch_size;
        else {
          target = (left + 2 * P - 1) / (2 * P);
          if (b < P)
            target = target < first_min ? first_min : target;
          if (b < P && target > share)
            target = share;
          else if (b >= P && target < floor_)
            target = floor_;
        }
        if (target > left)
          target = left;
        targets++;
      }
      while (off >= ranges[rg].count) {
        rg++;
        off = 0;
      }
      uint64_t n = ranges[rg].count - off < target ? ranges[rg].count - off : target;
      if (pass == 1) {
        by_index[b] = (struct evf_batch){ranges[rg].first_id + off, (uint32_t)n, (uint32_t)b};
        p->batch_len[b] = (uint32_t)n;
        owner[b] = (int)(!batch_size && !dynamic ? targets - 1 : (targets - 1) % P);
      }
      off += (uint32_t)n;
      left -= n;
      target = dynamic ? 0 : target - n;
      b++;
    }
    if (pass == 0) {
      p->nbatches = b;
      if (evf_partition_alloc(p))
        return EVF_ENOMEM;
      by_index = malloc((b ? b : 1) * sizeof *by_index);
      owner = malloc((b ? b : 1) * sizeof *owner);
      if (!by_index || !owner) {
        free(by_index);
        free(owner);
        evf_partition_free(p);
        return EVF_ENOMEM;
      }
    }
  }
  int rc = 0;
  if (dynamic) { /* in index order; the first share is batch r for rank r */
    memcpy(p->batches, by_index, p->nbatches * sizeof *by_index);
    for (int r = 0; r < nranks && (size_t)r < p->nbatches; r++) {
      p->batch_count[r] = 1;
      p->batch_displ[r] = r;
      p->task_count[r] = p->batches[r].count;
    }
  } else {
    rc = evf_partition_layout(p, by_index, owner, p->batches);
  }
  free(by_index);
  free(owner);
  if (rc)
    evf_partition_free(p);
  return rc;
}

int evf_partition_plan_windows(struct evf_partition *p, uint32_t ntasks, uint64_t window,
                               const struct evf_batch *ranges, size_t nranges, int nranks,
                               uint32_t batch_size, int dynamic, uint64_t first_min)
{
  memset(p, 0, sizeof *p);
  if (ntasks < 1 || nranks < 1 || window < 1)
    return EVF_EUSAGE;
  uint64_t nwin = (ntasks + window - 1) / window;
  struct evf_partition *w = calloc(nwin, sizeof *w);
  struct evf_batch all = {1, ntasks, 0};
  if (!ranges) {
    ranges = &all;
    nranges = 1;
  }
  struct evf_batch *clip = malloc((nranges ? nranges : 1) * sizeof *clip);
  if (!w || !clip) {
    free(w);
    free(clip);
    return EVF_ENOMEM;
  }
  int rc = 0;
  size_t nb = 0, r0 = 0;
  for (uint64_t k = 0; k < nwin && rc == 0; k++) {
    /* The ranges' ids within window k: 1..W, W+1..2W, ... */
    uint64_t lo = k * window + 1, hi = lo - 1 + window < ntasks ? lo - 1 + window : ntasks;
    size_t nclip = 0;
    while (r0 < nranges && (uint64_t)ranges[r0].first_id + ranges[r0].count - 1 < lo)
      r0++;
    for (size_t r = r0; r < nranges && ranges[r].first_id <= hi; r++) {
      uint64_t a = ranges[r].first_id > lo ? ranges[r].first_id : lo;
      uint64_t e = (uint64_t)ranges[r].first_id + ranges[r].count - 1;
      e = e < hi ? e : hi;
      if (a <= e)
        clip[nclip++] = (struct evf_batch){(uint32_t)a, (uint32_t)(e - a + 1), 0};
    }
    rc = evf_partition_plan_ranges(&w[k], ntasks, clip, nclip, nranks, batch_size, dynamic,
                                   first_min);
    nb += w[k].nbatches;
  }
  free(clip);
  struct evf_batch *by_index = NULL;
  int *owner = NULL;
  if (rc == 0) {
    p->ntasks = ntasks;
    p->batch_size = batch_size;
    p->nranks = nranks;
    p->dynamic = dynamic;
    p->nbatches = nb;
    rc = evf_partition_alloc(p);
  }
  if (rc == 0) {
    by_index = malloc((nb ? nb : 1) * sizeof *by_index);
    owner = malloc((nb ? nb : 1) * sizeof *owner);
    rc = by_index && owner ? 0 : EVF_ENOMEM;
  }
  /* Each window's batches, renumbered after the windows before it; static: each keeps the rank
   * its window's plan gave it (batches grouped by rank there, in index order). */
  for (uint64_t k = 0, base = 0; k < nwin && rc == 0; base += w[k].nbatches, k++) {
    for (int r = 0; r < nranks; r++)
      for (int i = 0; !dynamic && i < w[k].batch_count[r]; i++) {
        struct evf_batch b = w[k].batches[w[k].batch_displ[r] + i];
        owner[base + b.index] = r;
      }
    for (size_t i = 0; i < w[k].nbatches; i++) {
      struct evf_batch b = w[k].batches[i];
      b.index += (uint32_t)base;
      by_index[b.index] = b;
      p->batch_len[b.index] = b.count;
    }
  }
  if (rc == 0 && dynamic) { /* the first share: window 0's first batches, batch r for rank r */
    memcpy(p->batches, by_index, nb * sizeof *by_index);
    for (int r = 0; r < nranks && (size_t)r < w[0].nbatches; r++) {
      p->batch_count[r] = 1;
      p->batch_displ[r] = r;
      p->task_count[r] = p->batches[r].count;
    }
  } else if (rc == 0) {
    rc = evf_partition_layout(p, by_index, owner, p->batches);
  }
  for (uint64_t k = 0; k < nwin; k++)
    evf_partition_free(&w[k]);
  free(w);
  free(by_index);
  free(owner);
  if (rc)
    evf_partition_free(p);
  return rc;
}
