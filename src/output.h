/* output: files written by rank 0 under a temporary name and renamed when complete, and the
 * per-task record formats (CSV with a header, JSON Lines). */
#ifndef EVF_OUTPUT_H
#define EVF_OUTPUT_H

#include <stdio.h>

#include "cli.h"
#include "partition.h"
#include "placement.h"
#include "record.h"

struct evf_outfile {
  char *path;   /* final name */
  char *tmp;    /* temporary name in the same directory, NULL when closed */
  FILE *fp;     /* open on tmp */
};

/* Create the temporary file for `path` before any work, so an unwritable path is bad input.
 * `option` names the option in messages.  Returns 0 or EVF_EUSAGE / EVF_ENOMEM with `msg`. */
int evf_outfile_open(struct evf_outfile *f, const char *option, const char *path, char *msg);
/* Flush, close and rename to the final name.  Returns 0 or EVF_EIO with `msg`. */
int evf_outfile_commit(struct evf_outfile *f, char *msg);
/* Close and remove the temporary file (no-op when none is open). */
void evf_outfile_discard(struct evf_outfile *f);

/* Write a header (CSV) and one line per record, in task-id order: the gathered array is
 * rank-major, so we walk the batches by global index through p->batch_offset.
 * Returns 0 or EVF_EIO. */
int evf_output_records(FILE *fp, enum evf_format fmt, const struct evf_record *recs,
                       const struct evf_partition *p, const char (*hosts)[EVF_HOST_LEN]);
/* One record, no header; `host` is the node name of the record's rank. */
void evf_output_record(FILE *fp, enum evf_format fmt, const struct evf_record *r,
                       const char *host);

/* Write `s` as a JSON string literal, quotes included (NULL gives null). */
void evf_json_string(FILE *out, const char *s);
void evf_output_header(FILE *fp, enum evf_format fmt);

#endif
