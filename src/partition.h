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
  uint32_t *batch_len;        /* [nbatches] by global index: tasks in the batch */
  int dynamic;                /* planned by evf_partition_plan_dynamic() */
};

/* Partition ntasks (1..EVF_TASKS_MAX) over nranks (>= 1).  batch_size 0: one contiguous batch per
 * rank, sizes differing by at most one (ranks beyond ntasks get none).  batch_size B > 0: batches
 * of B ids (the last may be shorter) dealt to ranks round-robin, batch b to rank b % nranks.
 * Returns 0, EVF_EUSAGE for impossible arguments, or EVF_ENOMEM. */
int evf_partition_plan(struct evf_partition *p, uint32_t ntasks, int nranks, uint32_t batch_size);
/* Dynamic scheduling (--schedule dynamic): the same ids in batches numbered in id order; the
 * first share is batch r for rank r (r < min(nranks, nbatches)): batch_count/batch_displ/
 * task_count describe only that share until evf_partition_assign().  The other batches are
 * dealt during the run, in index order, to whichever rank asks.
 * batch_size B > 0: batches of B (the last may be shorter).  B = 0: guided self-scheduling:
 * each batch takes ceil(R / 2P) of the R ids left (the first share at least `first_min`, so a
 * rank's slots and its low-water reserve are full from the start, but never more than ceil(N/P),
 * the static share), later ones never fewer than ceil(N / 64P) (a floor: the tail is at most a
 * 64th of a rank's share, and the dealing costs a few dozen messages per rank).
 * Returns 0, EVF_EUSAGE for impossible arguments, or EVF_ENOMEM. */
int evf_partition_plan_dynamic(struct evf_partition *p, uint32_t ntasks, int nranks,
                               uint32_t batch_size, uint64_t first_min);
/* Only some ids (a resumed run): `ranges` (first id, count; in id order, not overlapping) hold
 * the ids to run, out of 1..ntasks.  Batches as the plans above would make for one range of
 * that many ids, cut where a range ends (a batch never spans a gap; static: the rest of a
 * rank's share goes on in the next range).  Zero ids give zero batches.  Returns 0, EVF_EUSAGE
 * or EVF_ENOMEM. */
int evf_partition_plan_ranges(struct evf_partition *p, uint32_t ntasks,
                              const struct evf_batch *ranges, size_t nranges, int nranks,
                              uint32_t batch_size, int dynamic, uint64_t first_min);
/* After a dynamic run: owner[b] is the rank that ran batch b (every rank runs its batches in
 * index order).  Rebuilds the grouping by rank, the counts, displacements and offsets, as a
 * static plan has them.  Returns 0 or EVF_ENOMEM (p unchanged) or EVF_EUSAGE (an owner out of
 * range). */
int evf_partition_assign(struct evf_partition *p, const int *owner);
void evf_partition_free(struct evf_partition *p);

/* Number of tasks in the batch with global index b (b < p->nbatches). */
static inline uint32_t evf_partition_batch_len(const struct evf_partition *p, size_t b)
{
  return p->batch_len[b];
}

#endif
