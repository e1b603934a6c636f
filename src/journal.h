/* The journal (--journal DIR): a directory where every rank appends each of its finished
 * records to its own file as it ends, so a run that ends early (walltime, a dead node, a cancel)
 * loses nothing but the last moments' records, and --resume runs only the rest.  No rank sends
 * another its journal records, and each run writes new files: run-RUN.rank-RANK.journal (RUN
 * counts the runs from 1; a later run's record of an id replaces an earlier one's).  A file
 * "lock" there is held (flock) by rank 0 of the run using it.  No MPI here.
 *
 * Format of each file (version 2), documented in docs/long-runs.md:
 *   one text line:  "evfarm-journal 2 " then the task set as KEY=VALUE words (kind, tasks,
 *                   seed, the sim parameters, the input file's size and XXH3-64, the exec
 *                   template's XXH3-64, the record size), then "\n";
 *   then frames:    four bytes of magic, the payload's size (uint32, little-endian), the
 *                   payload, its XXH3-64 (uint64, little-endian).  "EVFR": a record (the
 *                   record's bytes).  "EVFS" (rank 0's file only): the run starts (struct
 *                   evf_journal_run, below); the records of the run's files are its records,
 *                   their times seconds since its t0.
 * A frame with another hash or a bad magic or size (a flipped bit) is skipped: reading goes on
 * at the next offset where a whole valid frame starts, so one damaged frame costs only its own
 * record, which runs again.  Bytes after the last valid frame that hold none (a crash
 * mid-write) are a torn tail: ignored, never misread, and cut when a resumed run reads it.
 * Version 1 files (an older evfarm's, without "EVFS" frames) are read as well. */
#ifndef EVF_JOURNAL_H
#define EVF_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

struct evf_journal;

/* Called for every valid record read back, in file order (a later record of an id replaces an
 * earlier one), with the offset of its frame in the file. */
typedef void (*evf_journal_record_fn)(void *arg, const struct evf_record *rec, uint64_t at);

/* Damaged frames skipped while reading a journal back: how many stretches of bytes that hold no
 * valid frame were found between valid ones, their bytes in all, and where the first began. */
struct evf_journal_damage {
  uint64_t stretches, bytes, first_at;
};

/* One journal directory, opened by rank 0: created when missing; without `resume` it must
 * hold no journal file.  Its lock is taken (another run holding it is bad input).  `file` lists
 * its journal files by run, then rank; `next_run` is the number of the run starting now.  A path
 * that exists and is not a directory is refused (a journal file of an earlier evfarm with a
 * message saying how to go on with it).  Returns 0, or EVF_EUSAGE / EVF_ENOMEM with msg set. */
struct evf_journal_file {
  char *path;
  uint32_t run, rank;
};
struct evf_journal_dir {
  struct evf_journal_file *file;
  size_t n;
  uint32_t next_run;
  int lock_fd;
};
int evf_journal_dir_open(struct evf_journal_dir *d, const char *dir, int resume, char *msg);
/* Release the list and the lock. */
void evf_journal_dir_close(struct evf_journal_dir *d);
/* The path of run `run`'s file of `rank` in `dir`.  0, or -1 when it does not fit. */
int evf_journal_file_name(char *buf, size_t n, const char *dir, uint32_t run, uint32_t rank);
/* Read the journal file `path` back: it must carry `header` (KEY=VALUE words); its valid records
 * go to `each` in file order (*nread counts them); the bytes of a torn tail are added to *torn
 * (and cut from the file), the damaged frames skipped between valid ones to *dmg; *version
 * (or NULL) gets its format's version.  The file is read through a buffer of 1 MiB, never
 * mapped whole.  Returns 0, or EVF_EUSAGE (not a journal, another task set or version, not a
 * regular file) / EVF_EIO / EVF_ENOMEM with msg set. */
int evf_journal_read(const char *path, const char *header, size_t rec_size,
                     evf_journal_record_fn each, void *arg, uint64_t *nread, uint64_t *torn,
                     struct evf_journal_damage *dmg, int *version, char *msg);
/* Reading a part of a journal file again (after evf_journal_read, which checked its header and
 * cut its torn tail): the records whose frames start at offsets in [from, to), where `from` is
 * the offset of a frame as evf_journal_read gave it (damaged frames skipped, as there).
 * `path` must outlive the reader.  Each returns 0, or EVF_EIO / EVF_ENOMEM with msg set. */
struct evf_journal_reader;
int evf_journal_reader_open(struct evf_journal_reader **r, const char *path, int version,
                            size_t rec_size, char *msg);
int evf_journal_reader_range(struct evf_journal_reader *r, uint64_t from, uint64_t to,
                             evf_journal_record_fn each, void *arg, char *msg);
void evf_journal_reader_close(struct evf_journal_reader *r);
/* Create the journal file `path` (it must not exist; `path` must outlive the journal) with
 * `header` for records of rec_size bytes.  Returns 0, or EVF_EUSAGE / EVF_EIO / EVF_ENOMEM with
 * msg set. */
int evf_journal_create(struct evf_journal **out, const char *path, const char *header,
                       size_t rec_size, char *msg);
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
