/* Partition of the task ids 1..N into batches and of the batches onto ranks.  Pure
 * arithmetic: rank 0 computes it, comm.c scatters the batch descriptors. */
#ifndef EVF_PARTITION_H
#define EVF_PARTITION_H

#include <stddef.h>
#include <stdint.h>

/* Largest task count: a task id is a record's 32-bit field (and a batch's), 1..2^32 - 1.  Counts
 * of tasks are 64-bit everywhere else; no MPI call takes a count of tasks (a gathered window
 * holds at most 2^24 ids). */
#define EVF_TASKS_MAX 4294967295u

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
  uint64_t *task_count;       /* [nranks] tasks owned by each rank (dynamic: its first share) */
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
/* Windows (--window W): the ids in windows of W (1..W, W+1..2W, ...), each planned on its own as
 * the plans above plan one range of that many ids (with `ranges`, a resumed run's: the ids of
 * those ranges in the window, as evf_partition_plan_ranges plans them; NULL: every id), the
 * batches numbered in id order across them.  Static: every window has a share for each rank (batches grouped by rank as above: a
 * rank runs its share of one window, then of the next).  Dynamic: the first share is the first
 * window's first batches; every other batch is dealt in index order.  So the ids in flight at
 * any time span about one window whatever N is.  Returns 0, EVF_EUSAGE or EVF_ENOMEM. */
int evf_partition_plan_windows(struct evf_partition *p, uint32_t ntasks, uint64_t window,
                               const struct evf_batch *ranges, size_t nranges, int nranks,
                               uint32_t batch_size, int dynamic, uint64_t first_min);
void evf_partition_free(struct evf_partition *p);
/* For planners (hostplan.c): allocate the arrays for p->nbatches batches over p->nranks ranks;
 * group the batches by rank (owner[b] = rank of batch b, each rank's in index order) with counts
 * and displacements, `by_index` holding every batch by global index and `grouped` (not
 * by_index) receiving them.  Return 0 or EVF_ENOMEM (p freed). */
int evf_partition_alloc(struct evf_partition *p);
int evf_partition_layout(struct evf_partition *p, const struct evf_batch *by_index,
                         const int *owner, struct evf_batch *grouped);

/* Number of tasks in the batch with global index b (b < p->nbatches). */
static inline uint32_t evf_partition_batch_len(const struct evf_partition *p, size_t b)
{
  return p->batch_len[b];
}

#endif
