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
  memset(p, 0, sizeof *p);
}

uint32_t evf_partition_batch_len(const struct evf_partition *p, size_t b)
{
  if (p->batch_size == 0) /* the first (N mod P) batches take one more */
    return (uint32_t)(p->ntasks / p->nbatches + (b < p->ntasks % p->nbatches));
  uint64_t start = (uint64_t)b * p->batch_size;
  uint64_t left = p->ntasks - start;
  return (uint32_t)(left < p->batch_size ? left : p->batch_size);
}

int evf_partition_plan(struct evf_partition *p, uint32_t ntasks, int nranks, uint32_t batch_size)
{
  memset(p, 0, sizeof *p);
  if (nranks < 1 || ntasks < 1 || ntasks > EVF_TASKS_MAX)
    return EVF_EUSAGE;
  p->ntasks = ntasks;
  p->batch_size = batch_size;
  p->nranks = nranks;
  if (batch_size == 0)
    p->nbatches = (size_t)nranks < ntasks ? (size_t)nranks : ntasks;
  else
    p->nbatches = ntasks / batch_size + (ntasks % batch_size != 0);

  p->batches = malloc(p->nbatches * sizeof *p->batches);
  p->batch_offset = malloc(p->nbatches * sizeof *p->batch_offset);
  p->batch_count = calloc((size_t)nranks, sizeof(int));
  p->batch_displ = calloc((size_t)nranks, sizeof(int));
  p->task_count = calloc((size_t)nranks, sizeof(int));
  p->task_displ = calloc((size_t)nranks, sizeof(int));
  if (!p->batches || !p->batch_offset || !p->batch_count || !p->batch_displ || !p->task_count ||
      !p->task_displ) {
    evf_partition_free(p);
    return EVF_ENOMEM;
  }

  /* Batches per rank first, then the displacements, then fill the batches grouped by rank. */
  for (size_t b = 0; b < p->nbatches; b++)
    p->batch_count[b % (size_t)nranks]++;
  for (int r = 1; r < nranks; r++)
    p->batch_displ[r] = p->batch_displ[r - 1] + p->batch_count[r - 1];

  uint64_t next_id = 1;
  for (size_t b = 0; b < p->nbatches; b++) {
    uint32_t count = evf_partition_batch_len(p, b);
    int r = (int)(b % (size_t)nranks);
    size_t slot = (size_t)p->batch_displ[r] + b / (size_t)nranks;
    p->batches[slot].first_id = (uint32_t)next_id;
    p->batches[slot].count = count;
    p->batches[slot].index = (uint32_t)b;
    p->task_count[r] += (int)count;
    next_id += count;
  }
  for (int r = 1; r < nranks; r++)
    p->task_displ[r] = p->task_displ[r - 1] + p->task_count[r - 1];

  /* Where each batch's records land in the rank-major gathered array. */
  for (int r = 0; r < nranks; r++) {
    size_t off = (size_t)p->task_displ[r];
    for (int i = 0; i < p->batch_count[r]; i++) {
      const struct evf_batch *bt = &p->batches[p->batch_displ[r] + i];
      p->batch_offset[bt->index] = off;
      off += bt->count;
    }
  }
  return 0;
}
