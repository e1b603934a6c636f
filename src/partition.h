/* Partition of the task ids 1..N into batches and of the batches onto ranks.  Pure
 * arithmetic: rank 0 computes it, comm.c scatters the batch descriptors. */
#ifndef EVF_PARTITION_H
#define EVF_PARTITION_H

#include <stddef.h>
#include <stdint.h>

/* Largest task count: Gatherv counts and displacements are C ints. */
#define EVF_TASKS_MAX 2147483647u

/* One batch: a contiguous range of task ids.  Sent to ranks as three uint32 words. */
struct evf_batch {
  uint32_t first_id;  /* first task id of the batch (>= 1) */
  uint32_t count;     /* number of tasks; ids first_id .. first_id+count-1 */
  uint32_t index;     /* global batch index, 0-based, batches numbered in task-id order */
};

struct evf_partition {
  uint32_t ntasks;
  uint32_t batch_size;        /* as requested; 0 = one batch per rank */
  int nranks;
  size_t nbatches;            /* total number of batches */
  struct evf_batch *batches;  /* all batches grouped by rank: rank r owns
                                 batches[batch_displ[r] .. batch_displ[r]+batch_count[r]-1] */
  int *batch_count;           /* [nranks] */
  int *batch_displ;           /* [nranks] */
  int *task_count;            /* [nranks] tasks owned by each rank */
  int *task_displ;            /* [nranks] offset of each rank's records in the gathered array */
  size_t *batch_offset;       /* [nbatches] by global index: offset of the batch's first record
                                 in the gathered array (records are rank-major) */
};

/* Partition ntasks (1..EVF_TASKS_MAX) over nranks (>= 1).  batch_size 0: one contiguous batch per
 * rank, sizes differing by at most one (ranks beyond ntasks get none).  batch_size B > 0: batches
 * of B ids (the last may be shorter) dealt to ranks round-robin, batch b to rank b % nranks.
 * Returns 0, EVF_EUSAGE for impossible arguments, or EVF_ENOMEM. */
int evf_partition_plan(struct evf_partition *p, uint32_t ntasks, int nranks, uint32_t batch_size);
void evf_partition_free(struct evf_partition *p);

/* Number of tasks in the batch with global index b (b < p->nbatches). */
uint32_t evf_partition_batch_len(const struct evf_partition *p, size_t b);

#endif
