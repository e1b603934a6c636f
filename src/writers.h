/* writers: the records' output spread over ranks.  With --writers R (R >= 2, the default: every
 * rank) each gathered window w of records has a writer, rank w % R, which is its gather's root
 * (gather.c): it places the window's records by id, adds them to its own summary sums
 * (stats.c), formats them (CSV or JSON Lines, output.c's record writer) and writes them into
 * the one --output file at their byte offset, with MPI-IO (MPI_File_write_at), so placing,
 * formatting and writing grow with the ranks and rank 0 does a share, not all of it.
 *
 * A window's offset is the header's bytes plus the sizes of every window before it.  Each size
 * travels by MPI_Ibcast from its writer, once it has formatted the window, to every rank, on a
 * private duplicate of the communicator: every rank posts the broadcasts in window order (a
 * window of another writer's at once, up to EVF_WRITERS_AHEAD ahead; one of its own once its
 * size is known) and learns the sizes in order.  A writer writes a window once it knows every
 * earlier size; rank 0 lets more ids start as the sizes come in (the windows before are
 * written or on their way), which bounds what every writer holds.  The sums of every rank are
 * reduced to rank 0 after the loops (evf_comm_reduce_stats).  Inside a loop nothing waits on
 * another rank: the broadcasts are tested from its polls; a write (MPI_File_write_at, a part
 * of a few MB) waits on the file system only, as rank 0's own fwrite does.  (Open MPI 4.1's
 * MPI_File_iwrite_at crashes in MPI_Test when the write fails, ENOSPC: measured here.) */
#ifndef EVF_WRITERS_H
#define EVF_WRITERS_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "placement.h"
#include "stats.h"
#include "task.h"

/* Size broadcasts a rank posts ahead of the windows it writes. */
#define EVF_WRITERS_AHEAD 64

struct evf_writers_config {
  uint64_t ntasks;                      /* ids 1..ntasks */
  uint64_t window;                      /* ids per gathered window */
  int nwriters;                         /* window w's writer is rank w % nwriters */
  size_t rec_size;
  const struct evf_task_kind *kind;     /* a kind without an input file or a FILE writer of
                                           its extension fields */
  enum evf_format fmt;
  const char (*hosts)[EVF_HOST_LEN];    /* [size] every rank's node (the records' host) */
  struct evf_stats *stats;              /* this rank's sums: its windows' records are added */
};

struct evf_writers;
/* Collective.  `path` (the same on every rank, or NULL for no --output) is opened for MPI-IO
 * on every rank; `base` is the bytes already there (the header rank 0 wrote).  Returns 0, or
 * EVF_EIO / EVF_ENOMEM with `msg` (then *out is NULL on this rank; the caller agrees, and the
 * job stops: with --writers 1 rank 0 writes the file alone). */
int evf_writers_new(MPI_Comm comm, const struct evf_writers_config *cfg, const char *path,
                    unsigned long long base, struct evf_writers **out, char *msg);
/* The gather's callback (gather.h) on a window's writer: take its `n` records (copied). */
int evf_writers_take(void *wr, uint64_t w, const void *recs, size_t n);
/* From the loop's polls and after it: format at most `max` records, post and test the size
 * broadcasts and the writes.  Never blocks. */
void evf_writers_poll(struct evf_writers *wr, uint64_t max);
/* Windows whose sizes this rank knows, in order (rank 0: the windows before are formatted;
 * their bytes written or on their way). */
uint64_t evf_writers_known(const struct evf_writers *wr);
/* Every window is known here and every write of this rank's completed. */
int evf_writers_done(const struct evf_writers *wr);
/* What this rank did: records written (and added to its sums), ids of its windows that had no
 * record (a drained or failed loop), bytes written, seconds placing, formatting and writing. */
uint64_t evf_writers_records(const struct evf_writers *wr);
uint64_t evf_writers_missing(const struct evf_writers *wr);
unsigned long long evf_writers_bytes(const struct evf_writers *wr);
unsigned long long evf_writers_total(const struct evf_writers *wr); /* every rank's: the file */
double evf_writers_seconds(const struct evf_writers *wr);
/* The first write error of this rank's (an errno value), 0 when none; `what` its MPI text. */
int evf_writers_error(const struct evf_writers *wr, const char **what);
/* Collective, after evf_writers_done() on every rank (or on an error path, after the loops):
 * sync and close the file.  Returns this rank's write error (errno), 0 when none. */
int evf_writers_close(struct evf_writers *wr);
void evf_writers_free(struct evf_writers *wr);

#endif
