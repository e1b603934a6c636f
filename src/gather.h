/* gather: the records come back to rank 0 by MPI_Gatherv, one window of ids at a time
 * (src/gather.c; MPI-3's non-blocking MPI_Igather of the counts, then MPI_Igatherv of the
 * records as one MPI datatype, both tested from the loop's polls, never waited for inside it).
 *
 * Every rank keeps its final records of window w (ids w*W+1 .. (w+1)*W) until w is sealed for
 * it (no batch with ids in w will be dealt to it any more) and every task of it in w has its
 * record; then it posts its part.  Every rank posts every window's gather in window order (an
 * empty part is fine), so the collectives match on every rank.  With all ids in one window (the
 * default job) that is one MPI_Gatherv of every record at the end: the design card's shape.
 * The root hands each gathered window to a callback.  Two shapes:
 *  - roots 0: rank 0 is every window's root; the callback places the records in its ring of
 *    windows (src/collect.c).  Its own records are not gathered (its runner writes them there
 *    by id, so rank 0 holds the ring and one window's buffer, not a part of its own besides),
 *    and its part of every window is empty.
 *  - roots R >= 1: window w's root is rank w % R, the window's writer (src/writers.c), which
 *    gathers its own part with the others' (every rank puts every record of its own). */
#ifndef EVF_GATHER_H
#define EVF_GATHER_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "partition.h"
#include "record.h"

/* Most windows a rank has posted and not yet seen complete (a rank whose loop ended early posts
 * the rest as these complete, not all at once). */
#define EVF_GATHER_MAX_POSTED 8
/* Most ids in a gathered window: a rank's part and the root's total are MPI ints (and the root
 * holds one window's records). */
#define EVF_GATHER_MAX_WINDOW (1u << 24)

struct evf_gather;
/* The root: take a gathered window's `n` records (grouped by rank, each rank's in the order its
 * tasks ended).  Return 0 once taken, 1 for not yet (no room: asked again on the next poll;
 * later windows wait behind it). */
typedef int (*evf_gather_window_fn)(void *arg, uint64_t w, const void *recs, size_t n);

/* Collective.  Records of `rec_size` bytes for ids 1..ntasks in windows of `window` ids; each
 * window's root (above: `roots` 0 or R) hands it to `fn`.  NULL on every rank when one cannot
 * allocate. */
struct evf_gather *evf_gather_new(MPI_Comm comm, size_t rec_size, uint64_t ntasks,
                                  uint64_t window, int roots, evf_gather_window_fn fn, void *arg);
/* The tasks of batch `b` are this rank's (its first share, or a dealt batch): their windows
 * wait for their records (not on rank 0 with roots 0).  Returns 0, or EVF_ENOMEM. */
int evf_gather_expect(struct evf_gather *g, const struct evf_batch *b);
/* A final record of this rank (not rank 0's with roots 0).  Returns 0, or EVF_ENOMEM, or EVF_ELOOP for an id
 * that is no task of this rank's or whose window was already posted (a bug). */
int evf_gather_put(struct evf_gather *g, const struct evf_record *rec);
/* From the loop's polls and after it, never blocking: post the parts that are ready, in window
 * order, and move the gathers on.  `sealed_to`: no id up to it will be dealt to this rank any
 * more.  `ended`: this rank's loop has ended: every window still unposted is posted with what
 * it has (a drained or failed loop leaves tasks without a record). */
void evf_gather_poll(struct evf_gather *g, uint64_t sealed_to, int ended);
/* Every window's gather is complete on this rank (those it is the root of: and taken). */
int evf_gather_done(const struct evf_gather *g);
/* Roots 0, rank 0: every id up to this has had its window's records handed to the callback. */
uint64_t evf_gather_taken(const struct evf_gather *g);
/* Windows in all, and gathers (counts and records) posted so far by this rank. */
uint64_t evf_gather_windows(const struct evf_gather *g);
uint64_t evf_gather_posted(const struct evf_gather *g);
/* After evf_gather_done() (or on an error path, after the job has ended on every rank). */
void evf_gather_free(struct evf_gather *g);

#endif
