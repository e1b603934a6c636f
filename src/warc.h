/* WARC 1.1 files (ISO 28500:2017) written by one rank: what --kind http fetched, as web
 * archives keep it.  Every WARC record is its own gzip member (any record can be read from its
 * offset, as in Common Crawl's files); each file starts with a warcinfo record, and each fetch
 * adds a request and a response record per hop (redirects included).  A file being written is
 * named NAME.open and renamed NAME when closed (rotation at --warc-size, or the end of the run),
 * so a file without ".open" is complete.  No MPI and no event loop here: blocking writes to a
 * local or shared file system, from the loop thread. */
#ifndef EVF_WARC_H
#define EVF_WARC_H

#include <stddef.h>
#include <stdint.h>

/* One request and its response, as sent and received. */
struct evf_warc_hop {
  const char *uri;       /* the URL requested (WARC-Target-URI) */
  const char *ip;        /* the server's address, or "" (WARC-IP-Address left out) */
  double date;           /* when the request was sent: seconds since the epoch (WARC-Date) */
  const char *req;       /* the request: request line, headers, body */
  size_t req_len;
  const char *resp;      /* the response: status line, headers, body, with its transfer and
                            content encodings as they came */
  size_t resp_len;
};

/* Where a fetch's last response record lies. */
struct evf_warc_loc {
  uint32_t seq;          /* the file: evf_warc_file_name(rank, seq) */
  uint64_t offset;       /* of its gzip member in the file */
  uint64_t length;       /* of the member */
};

/* What one rank wrote. */
struct evf_warc_figures {
  uint64_t files;        /* files created */
  uint64_t bytes;        /* bytes in them (compressed) */
  uint64_t fetches;      /* fetches stored (their last response is what a record points at) */
  uint64_t records;      /* WARC records, warcinfo included */
};

struct evf_warc;

/* "evfarm-RRRRR-SSSSS.warc.gz" (rank and sequence number, at least 5 digits each) into buf
 * (64 bytes are enough). */
void evf_warc_file_name(char *buf, size_t n, uint32_t rank, uint32_t seq);

/* A writer for `rank` into directory `dir`, files rotating once past `max_size` bytes.  The
 * first file is created at the first fetch, numbered after every file of this rank already in
 * `dir` (finished or .open).  `info` is the warcinfo record's body past the fields the writer
 * adds itself ("name: value\r\n" lines).  Returns the writer, or NULL with msg set and *rc an
 * EVF_E* code. */
struct evf_warc *evf_warc_open(const char *dir, uint32_t rank, uint64_t max_size,
                               const char *info, int *rc, char *msg);
/* Store one fetch of `n` hops (n >= 1) and say where its last response record lies.  Before it,
 * `sync` (when not NULL) is called when the current file is about to be closed and renamed
 * (rotation), so that whoever keeps track of what was stored (the journal) has it on disk
 * first.  Returns 0, or EVF_EIO / EVF_ENOMEM with msg set: the file is then cut back to its
 * last complete record and later calls fail too. */
int evf_warc_write(struct evf_warc *w, const struct evf_warc_hop *hops, size_t n,
                   void (*sync)(void *), void *sync_arg, struct evf_warc_loc *loc, char *msg);
/* Close the file being written (renamed to its final name) and free the writer; *fig what it
 * wrote.  Returns 0 or EVF_EIO with msg set.  w may be NULL. */
int evf_warc_close(struct evf_warc *w, struct evf_warc_figures *fig, char *msg);

/* --resume: a file an earlier run left open (killed): keep its first `keep` bytes (the end of
 * the last record the journal knows was stored; 0: none), cut the rest, and give it its final
 * name (or remove it when nothing is kept).  `path` is the .open file.  Returns 0 or EVF_EIO
 * with msg set; *cut the bytes removed. */
int evf_warc_recover(const char *path, uint64_t keep, uint64_t *cut, char *msg);
/* The value of field `name` in the warcinfo record that starts file `path` (its first gzip
 * member), into out[0..n): 1 when found, 0 when not (or the file cannot be read). */
int evf_warc_info_field(const char *path, const char *name, char *out, size_t n);
/* Parse a file name of this writer: 1 with *rank, *seq, *open (ends in ".open") set, else 0. */
int evf_warc_parse_name(const char *name, uint32_t *rank, uint32_t *seq, int *open);

#endif
