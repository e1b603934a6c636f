/* output: the files rank 0 writes, and the per-task record formats (CSV with a header, JSON
 * Lines).
 *
 * A regular file (or a new one) is written as a temporary file beside it and renamed over the
 * final name only when complete, so a failed or interrupted run never leaves a partial file
 * and never destroys the previous one.  Where the file system allows it (O_TMPFILE: ext4, xfs,
 * btrfs, tmpfs), the temporary file has no name until the commit, so not even a SIGKILL (the
 * launcher's, after another rank's MPI_Abort) can leave it behind; elsewhere it is named
 * ".evfarm-<hex>.tmp" from the start and removed on every error and handled signal.  A path that exists and is not a regular file (a
 * device such as /dev/null, a FIFO, a terminal) is written in place, directly, and never
 * replaced.  A symbolic link is followed, as '> link' in a shell: the file written is the
 * link's final target, except a link in /proc (/dev/stdout, /dev/fd/N lead there): that is an
 * open file of the process, written through the link in place (appended to, when it is a
 * regular file: the shell's '>' or '>>' already chose).  Overwriting an existing file keeps its
 * mode (and owner, when the process may set it); a file the user may not write is refused. */
#ifndef EVF_OUTPUT_H
#define EVF_OUTPUT_H

#include <stdio.h>
#include <sys/types.h>

#include "cli.h"
#include "partition.h"
#include "placement.h"
#include "record.h"
#include "task.h"

struct evf_outfile {
  char *path;     /* as given, for messages */
  char *target;   /* the file written: path with its symbolic links followed */
  char *tmp;      /* temporary name beside target; NULL when written in place, closed, or
                   * anonymous and not yet named (only during the commit) */
  int anon;       /* the temporary file has no name yet (O_TMPFILE) */
  FILE *fp;       /* open for writing */
  int err;        /* errno of the first failed write, 0 when none */
  int in_place;   /* a device, FIFO, /dev/stdout...: written directly, never renamed */
  int shareable;  /* a character device (/dev/null): two outputs may both write it */
  dev_t id_dev;   /* identity: the target's device and inode when it exists, else its */
  ino_t id_ino;   /*   directory's, with id_name its name in that directory */
  char *id_name;
};

/* Longest wait for a reader when the path is a FIFO, seconds. */
#define EVF_FIFO_WAIT 10

/* Prepare `path` for writing before any work, so an unwritable path is bad input.  `option`
 * names the option in messages.  Returns 0 or EVF_EUSAGE / EVF_ENOMEM with `msg`. */
int evf_outfile_open(struct evf_outfile *f, const char *option, const char *path, char *msg);
/* Do a and b (both open) name the same file, however spelt (./x, a link, a hard link)?
 * Character devices are never "the same": both outputs may go to /dev/null. */
int evf_outfile_same(const struct evf_outfile *a, const struct evf_outfile *b);
/* Note a write error on f->fp (keeps the errno of the first one). */
void evf_outfile_check(struct evf_outfile *f);
/* Complete every open file of fs[0..n) (flush, fsync, close), and only when all are complete,
 * rename each into place and fsync its directory.  On any failure nothing is renamed, every
 * temporary file is removed, and EVF_EIO is returned with `msg` naming the file and the
 * system's reason.  Files not open (fp NULL) are skipped. */
int evf_outfile_commit_all(struct evf_outfile *const *fs, int n, char *msg);
/* Name the temporary file now (an anonymous one gets its temporary name; a named one has it),
 * so other processes can open it (MPI-IO, src/writers.c).  Returns that name, or NULL for a
 * file written in place or one that could not be named (errno). */
const char *evf_outfile_temp_name(struct evf_outfile *f);
/* One file: evf_outfile_commit_all(&f, 1, msg). */
int evf_outfile_commit(struct evf_outfile *f, char *msg);
/* Close and remove the temporary file (no-op when none is open). */
void evf_outfile_discard(struct evf_outfile *f);
/* Named temporary files from the start, never O_TMPFILE (1), or O_TMPFILE where it works (0,
 * the default): for the tests of the named path, which file systems without O_TMPFILE take. */
void evf_outfile_named_temps(int yes);
/* Can this process create files in directory `dir` (a probe file, created and removed)?  0, or
 * EVF_EUSAGE with msg "--OPTION: cannot create files in 'DIR' on HOST: why (it must be a
 * directory every node can write)". */
int evf_dir_writable(const char *option, const char *dir, char *msg);

/* Write a header (CSV) and one line per record of kind `kind` (records of
 * evf_task_record_size(kind) bytes): `recs` holds the records of ids 1..n by id.  `inputs` (kinds
 * with an input file, else NULL) is the input of every task id, [id - 1].  `have` (or NULL): per
 * id, 1 for a record from an earlier run (--resume), whose node is unknown: its host is left
 * empty; 0 for an id that did not run (a drained run): it is left out.  Returns 0 or EVF_EIO. */
int evf_output_records(FILE *fp, enum evf_format fmt, const struct evf_task_kind *kind,
                       const void *recs, uint64_t n, int nranks,
                       const char (*hosts)[EVF_HOST_LEN], const char *const *inputs,
                       const unsigned char *have);

/* The record writer: records formatted by hand into a buffer of EVF_RECWRITER_BUF bytes (no
 * printf per field), written to `fp` a buffer at a time; the bytes are those printf would give
 * (integers in decimal, times with 6 digits after the point, cpu_time with 9). */
#define EVF_RECWRITER_BUF (1u << 20)
struct evf_recwriter {
  FILE *fp;
  enum evf_format fmt;
  const struct evf_task_kind *kind;
  char *buf;
  size_t len, cap;
  unsigned long long bytes;   /* written to fp so far */
  int err;
  int grow;                   /* in memory: no fp, buf grows and holds every byte */
  const char *host;           /* the last record's node name (its text must not change while */
  char *host_text;            /*   the writer lives) and its escaped bytes */
  size_t host_len;
};
/* Returns 0 or EVF_ENOMEM. */
int evf_recwriter_init(struct evf_recwriter *w, FILE *fp, enum evf_format fmt,
                       const struct evf_task_kind *kind);
/* A writer into memory (spread writers, src/writers.c): no file; buf (NULL, or one the caller
 * puts there with its cap, len 0) grows to hold every record put, and the caller takes it.
 * Kinds whose extension fields have a FILE writer cannot be written this way. */
void evf_recwriter_init_mem(struct evf_recwriter *w, enum evf_format fmt,
                            const struct evf_task_kind *kind);
/* The CSV header line (nothing for JSON Lines). */
void evf_recwriter_header(struct evf_recwriter *w);
/* One record: `host` the node name of its rank ("" when unknown), `input` its input or NULL. */
void evf_recwriter_put(struct evf_recwriter *w, const struct evf_record *r, const char *host,
                       const char *input);
void evf_recwriter_flush(struct evf_recwriter *w);
/* Flush and release: 0, or EVF_EIO when a write failed, with errno its reason. */
int evf_recwriter_free(struct evf_recwriter *w);
/* Release without writing what is buffered (the file is being discarded). */
void evf_recwriter_abandon(struct evf_recwriter *w);
/* x as printf's "%.*f" with prec <= 9 would write it; returns the end (at most EVF_FIXED_MAX
 * bytes: DBL_MAX has 309 digits). */
#define EVF_FIXED_MAX 330
char *evf_put_fixed(char *o, double x, int prec);

/* Write `s` as a JSON string literal, quotes included (NULL gives null).  Valid UTF-8 is copied;
 * a byte that is not part of valid UTF-8 is written as \u00XX, i.e. read as Latin-1, so the
 * output always parses (a path of arbitrary bytes reads back as those bytes' Latin-1 text). */
void evf_json_string(FILE *out, const char *s);
/* Write `s` as one CSV field: quoted per RFC 4180 when it holds a comma, a quote, CR or LF. */
void evf_csv_field(FILE *out, const char *s);

#endif
