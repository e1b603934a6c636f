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
  free(p->task_displ);
  free(p->batch_offset);
  free(p->batch_len);
  memset(p, 0, sizeof *p);
}

/* Allocate the arrays for p->nbatches batches over p->nranks ranks. */
static int alloc_arrays(struct evf_partition *p)
{
  size_t nb = p->nbatches ? p->nbatches : 1, nr = (size_t)p->nranks;
  p->batches = malloc(nb * sizeof *p->batches);
  p->batch_offset = malloc(nb * sizeof *p->batch_offset);
  p->batch_len = malloc(nb * sizeof *p->batch_len);
  p->batch_count = calloc(nr, sizeof(int));
  p->batch_displ = calloc(nr, sizeof(int));
  p->task_count = calloc(nr, sizeof(int));
  p->task_displ = calloc(nr, sizeof(int));
  if (!p->batches || !p->batch_offset || !p->batch_len || !p->batch_count || !p->batch_displ ||
      !p->task_count || !p->task_displ) {
    evf_partition_free(p);
    return EVF_ENOMEM;
  }
  return 0;
}

/* Group the batches by rank (owner[b] = rank of batch b, each rank's in index order), with
 * counts, displacements and where each batch's records land in the rank-major gathered array.
 * `by_index` holds every batch by global index; `grouped` (not by_index) receives them.
 * Returns 0 or EVF_ENOMEM. */
static int layout(struct evf_partition *p, const struct evf_batch *by_index, const int *owner,
                  struct evf_batch *grouped)
{
  int nr = p->nranks;
  int *fill = calloc((size_t)nr, sizeof *fill);
  size_t *off = calloc((size_t)nr, sizeof *off);
  if (!fill || !off) {
    free(fill);
    free(off);
    return EVF_ENOMEM;
  }
  memset(p->batch_count, 0, (size_t)nr * sizeof(int));
  memset(p->task_count, 0, (size_t)nr * sizeof(int));
  for (size_t b = 0; b < p->nbatches; b++) {
    p->batch_count[owner[b]]++;
    p->task_count[owner[b]] += (int)by_index[b].count;
  }
  p->batch_displ[0] = p->task_displ[0] = 0;
  for (int r = 1; r < nr; r++) {
    p->batch_displ[r] = p->batch_displ[r - 1] + p->batch_count[r - 1];
    p->task_displ[r] = p->task_displ[r - 1] + p->task_count[r - 1];
  }
  for (size_t b = 0; b < p->nbatches; b++) {
    int r = owner[b];
    grouped[p->batch_displ[r] + fill[r]++] = by_index[b];
    p->batch_offset[b] = (size_t)p->task_displ[r] + off[r];
    off[r] += by_index[b].count;
  }
  free(fill);
  free(off);
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

int evf_partition_assign(struct evf_partition *p, const int *owner)
{
  for (size_t b = 0; b < p->nbatches; b++)
    if (owner[b] < 0 || owner[b] >= p->nranks)
      return EVF_EUSAGE;
  /* p->batches is in index order until now (a dynamic plan); group it by rank. */
  struct evf_batch *grouped = malloc((p->nbatches ? p->nbatches : 1) * sizeof *grouped);
  if (!grouped)
    return EVF_ENOMEM;
  if (layout(p, p->batches, owner, grouped)) {
    free(grouped);
    return EVF_ENOMEM;
  }
  free(p->batches);
  p->batches = grouped;
  p->dynamic = 0;
  return 0;
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
        p->batch_offset[b] = 0;
        owner[b] = (int)(!batch_size && !dynamic ? targets - 1 : (targets - 1) % P);
      }
      off += (uint32_t)n;
      left -= n;
      target = dynamic ? 0 : target - n;
      b++;
    }
    if (pass == 0) {
      p->nbatches = b;
      if (alloc_arrays(p))
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
      p->task_count[r] = (int)p->batches[r].count;
    }
  } else {
    rc = layout(p, by_index, owner, p->batches);
  }
  free(by_index);
  free(owner);
  if (rc)
    evf_partition_free(p);
  return rc;
}
