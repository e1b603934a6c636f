/* The journal (--journal FILE): every finished record, appended by rank 0 as it arrives, so a
 * run that ends early (walltime, a dead node, a cancel) loses nothing it had received, and
 * --resume runs only the rest.  Rank 0 only; no MPI.
 *
 * Format (version 2), documented in the README:
 *   one text line:  "evfarm-journal 2 " then the task set as KEY=VALUE words (kind, tasks,
 *                   seed, the sim parameters, the input file's size and XXH3-64, the exec
 *                   template's XXH3-64, the record size), then "\n";
 *   then frames:    four bytes of magic, the payload's size (uint32, little-endian), the
 *                   payload, its XXH3-64 (uint64, little-endian).  "EVFR": a record (the same
 *                   bytes as on the channel).  "EVFS": a run starts (struct evf_journal_run,
 *                   below); the records after it, up to the next "EVFS", are that run's, their
 *                   times seconds since its t0.
 * A frame with another hash or a bad magic or size (a flipped bit) is skipped: reading goes on
 * at the next offset where a whole valid frame starts, so one damaged frame costs only its own
 * record, which runs again.  Bytes after the last valid frame that hold none (a crash
 * mid-write) are a torn tail: ignored, never misread, and cut before a resumed run appends.
 * Version 1 had no "EVFS" frames; a resumed run reads it and makes it version 2 (the header's
 * digit) before it appends. */
#ifndef EVF_JOURNAL_H
#define EVF_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

struct evf_journal;

/* Called for every valid record read back, in file order (a later record of an id replaces an
 * earlier one). */
typedef void (*evf_journal_record_fn)(void *arg, const struct evf_record *rec);

/* Damaged frames skipped while reading a journal back: how many stretches of bytes that hold no
 * valid frame were found between valid ones, their bytes in all, and where the first began. */
struct evf_journal_damage {
  uint64_t stretches, bytes, first_at;
};

/* Open `path` (named by --journal in messages) for a run whose task set is `header` (KEY=VALUE
 * words).  Without `resume` the file must not exist.  With it, a missing file starts a new
 * journal, and an existing one must carry the same header: its records are read back through
 * `each` (*nread counts them, *torn the bytes of a cut tail dropped, *dmg the damaged frames
 * skipped between valid ones: reading goes on after them).  A path that exists and is
 * not a regular file is refused (evfarm never appends to a device, FIFO or link).  Returns 0, or
 * EVF_EUSAGE / EVF_EIO / EVF_ENOMEM with msg set. */
int evf_journal_open(struct evf_journal **out, const char *path, const char *header,
                     size_t rec_size, int resume, evf_journal_record_fn each, void *arg,
                     uint64_t *nread, uint64_t *torn, struct evf_journal_damage *dmg,
                     char *msg);
/* Append n records (rec_size bytes each, back to back): framed into a buffer, written out when
 * it fills.  Returns 0 or EVF_EIO (msg set; later calls fail too). */
int evf_journal_append(struct evf_journal *j, const void *recs, size_t n, char *msg);
/* Write out what is buffered; with `durable`, fsync too.  Returns 0 or EVF_EIO. */
int evf_journal_flush(struct evf_journal *j, int durable, char *msg);
/* A run starts: what its "EVFS" frame holds, in this order (integers little-endian):
 * t0_unix_ns (int64: the wall clock at the run's t0, ns since the epoch), ranks, nodes
 * (uint32 each), todo (uint64: ids this run set out to run), held (uint64: ids the journal
 * held that it does not run again), the node of every rank (uint32 each, nodes numbered by
 * their lowest rank), then NUL-terminated strings: evfarm's version, the Slurm job id ("" outside
 * Slurm), the name of every node. */
struct evf_journal_run {
  int64_t t0_unix_ns;
  uint32_t ranks, nodes;
  uint64_t todo, held;
  const int *node_of;
  const char *version, *slurm_job;
  const char *const *node_names;
};
/* Append a run frame (before the run's first record).  Returns 0, EVF_EIO, EVF_ENOMEM, or
 * EVF_EUSAGE (more ranks and node names than a frame holds: 64 MiB). */
int evf_journal_run(struct evf_journal *j, const struct evf_journal_run *r, char *msg);
/* Records appended (this run). */
uint64_t evf_journal_count(const struct evf_journal *j);
/* Flush, fsync, close.  Returns 0 or EVF_EIO (msg set); j is freed either way. */
int evf_journal_close(struct evf_journal *j, char *msg);

#endif
