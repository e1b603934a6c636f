/* A rank's share of the records' output (see writers.h). */
#include "writers.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "error.h"
#include "guard.h"
#include "output.h"

/* Bytes of one MPI_File_write_at (its count is an int). */
#define WRITE_CHUNK (1u << 30)

/* A window this rank writes, from its records' arrival to its bytes on disk. */
struct win {
  uint64_t w, first, count;      /* ids first .. first + count - 1 */
  char *recs;                    /* [count] by id, until formatted */
  unsigned char *have;           /* [count] */
  uint64_t next;                 /* the next index to format */
  char *bytes;                   /* the window's text, len bytes (room for cap) */
  size_t len, cap;
  int formatted;                 /* len is final */
  int placed_at;                 /* its offset is known (every earlier size) */
  unsigned long long offset;
};

struct size_slot {
  unsigned long long size;
  MPI_Request req;
};

/* Buffers kept from window to window (a fresh one costs a page fault per 4 KiB): records and
 * their flags, and text. */
#define SPARES 2

struct evf_writers {
  struct evf_writers_config cfg;
  struct evf_recwriter rw;       /* formats into a window's text (in memory) */
  char *spare_recs[SPARES];      /* room for a window's records ... */
  unsigned char *spare_have[SPARES]; /* ... and flags */
  int nspare;
  char *spare_text[SPARES];
  size_t spare_cap[SPARES];
  int ntext;
  MPI_Comm comm;                 /* private duplicate: the size broadcasts */
  int rank;
  MPI_File fh;
  int output;                    /* fh is open */
  uint64_t nwin;
  struct win **q;                /* this rank's windows in flight, in window order (each on
                                    its own: its stream holds the addresses of bytes and len) */
  size_t nq, capq;
  struct size_slot slot[EVF_WRITERS_AHEAD];
  uint64_t bposted, bknown;      /* broadcasts posted, and complete (in order) */
  unsigned long long running;    /* the offset of window bknown */
  uint64_t records, missing;
  unsigned long long bytes;
  double seconds;
  int err;                       /* errno of the first failed write */
  char what[MPI_MAX_ERROR_STRING];
};

static int writer_of(const struct evf_writers *wr, uint64_t w)
{
  return (int)(w % (uint64_t)wr->cfg.nwriters);
}

/* An MPI I/O error as the errno a user knows it by (ENOSPC above all). */
static int io_errno(int code)
{
  int cls = MPI_ERR_OTHER;
  MPI_Error_class(code, &cls);
  if (cls == MPI_ERR_NO_SPACE)
    return ENOSPC;
  if (cls == MPI_ERR_QUOTA)
    return EDQUOT;
  if (cls == MPI_ERR_ACCESS || cls == MPI_ERR_READ_ONLY)
    return EACCES;
  if (cls == MPI_ERR_NO_SUCH_FILE)
    return ENOENT;
  return EIO;
}

/* `sys`: errno as the call left it (0 before it).  MPICH's ROMIO says MPI_ERR_IO for a full
 * disk, but its write left errno at ENOSPC: that reason is the one a user needs. */
static void io_failed(struct evf_writers *wr, int code, int sys)
{
  if (wr->err)
    return;
  int len = 0;
  wr->err = io_errno(code);
  if (wr->err == EIO && sys)
    wr->err = sys;
  MPI_Error_string(code, wr->what, &len);
}

int evf_writers_new(MPI_Comm comm, const struct evf_writers_config *cfg, const char *path,
                    unsigned long long base, struct evf_writers **out, char *msg)
{
  *out = NULL;
  struct evf_writers *wr = calloc(1, sizeof *wr);
  int rc = wr && cfg->window > 0 && cfg->nwriters > 0 ? 0 : EVF_ENOMEM;
  if (rc == 0) {
    wr->cfg = *cfg;
    wr->nwin = cfg->ntasks / cfg->window + (cfg->ntasks % cfg->window != 0);
    wr->running = base;
    evf_recwriter_init_mem(&wr->rw, cfg->fmt, cfg->kind);
    wr->fh = MPI_FILE_NULL;
    wr->comm = MPI_COMM_NULL;
    MPI_Comm_rank(comm, &wr->rank);
    for (int k = 0; k < EVF_WRITERS_AHEAD; k++)
      wr->slot[k].req = MPI_REQUEST_NULL;
  }
  /* MPI_File_open is collective: every rank calls it, even one that failed above.  Where it
   * failed on some rank, the others' handles are left open, not closed (MPI_File_close is
   * collective over every rank that opened it: a rank that did not would leave them waiting);
   * the job ends there. */
  if (path) {
    MPI_File fh = MPI_FILE_NULL;
    int code = MPI_File_open(comm, path, MPI_MODE_WRONLY, MPI_INFO_NULL, &fh);
    int ok = code == MPI_SUCCESS, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
    if (!ok && rc == 0) {
      char what[MPI_MAX_ERROR_STRING];
      int len = 0;
      MPI_Error_string(code, what, &len);
      rc = evf_seterr(msg, EVF_EIO,
                      "cannot open the --output file for MPI-IO here ('%s': %s); --writers 1 "
                      "writes it from rank 0 alone", evf_clip(path), what);
    }
    if (wr && all) {
      wr->fh = fh;
      wr->output = 1;
    }
  }
  if (rc == EVF_ENOMEM)
    evf_seterr(msg, rc, "out of memory");
  if (wr)
    MPI_Comm_dup(comm, &wr->comm);
  if (rc) {
    evf_writers_free(wr);
    return rc;
  }
  *out = wr;
  return 0;
}

int evf_writers_take(void *arg, uint64_t w, const void *recs, size_t n)
{
  struct evf_writers *wr = arg;
  double t = evf_clock_now();
  const struct evf_writers_config *c = &wr->cfg;
  if (wr->nq == wr->capq) {
    size_t cap = wr->capq ? 2 * wr->capq : 8;
    struct win **q = realloc(wr->q, cap * sizeof *q);
    if (!q)
      evf_guard_fatal("out of memory taking a window of records");
    wr->q = q;
    wr->capq = cap;
  }
  struct win *x = calloc(1, sizeof *x);
  if (!x)
    evf_guard_fatal("out of memory taking a window of records");
  wr->q[wr->nq] = x;
  x->w = w;
  x->first = w * c->window + 1;
  x->count = x->first - 1 + c->window <= c->ntasks ? c->window : c->ntasks - (x->first - 1);
  if (wr->nspare > 0) { /* every window has at most cfg.window ids */
    x->recs = wr->spare_recs[--wr->nspare];
    x->have = wr->spare_have[wr->nspare];
    memset(x->have, 0, x->count);
  } else {
    x->recs = malloc(c->window * c->rec_size);
    x->have = calloc(c->window, 1);
  }
  if (!x->recs || !x->have)
    evf_guard_fatal("out of memory taking a window of records");
  for (size_t k = 0; k < n; k++) {
    const struct evf_record *r = evf_record_cat(recs, c->rec_size, k);
    uint64_t at = r->id - x->first;
    if (r->id < x->first || at >= x->count || x->have[at])
      evf_guard_fatal("a gathered record with an id out of its window or seen twice");
    memcpy(x->recs + at * c->rec_size, r, c->rec_size);
    x->have[at] = 1;
  }
  wr->nq++;
  wr->seconds += evf_clock_now() - t;
  return 0;
}

/* Format (and add to the sums) up to `max` records of the first window not yet formatted. */
static void format_step(struct evf_writers *wr, uint64_t max)
{
  const struct evf_writers_config *c = &wr->cfg;
  struct win *x = NULL;
  for (size_t k = 0; k < wr->nq && !x; k++)
    if (!wr->q[k]->formatted)
      x = wr->q[k];
  if (!x)
    return;
  if (x->next == 0 && wr->output && wr->ntext > 0) { /* text room kept from a window written */
    x->bytes = wr->spare_text[--wr->ntext];
    x->cap = wr->spare_cap[wr->ntext];
  }
  wr->rw.buf = x->bytes;
  wr->rw.cap = x->cap;
  wr->rw.len = x->len;
  uint64_t stop = x->next + max < x->count ? x->next + max : x->count;
  for (uint64_t i = x->next; i < stop; i++) {
    if (!x->have[i]) {
      wr->missing++;
      continue;
    }
    const struct evf_record *r = (const void *)(x->recs + i * c->rec_size);
    wr->records++;
    if (c->stats)
      evf_stats_add(c->stats, r);
    if (wr->output)
      evf_recwriter_put(&wr->rw, r, r->rank >= 0 ? c->hosts[r->rank] : "", NULL);
  }
  x->bytes = wr->rw.buf;
  x->cap = wr->rw.cap;
  x->len = wr->rw.len;
  wr->rw.buf = NULL;
  x->next = stop;
  if (x->next < x->count)
    return;
  if (wr->nspare < SPARES) {
    wr->spare_recs[wr->nspare] = x->recs;
    wr->spare_have[wr->nspare++] = x->have;
  } else {
    free(x->recs);
    free(x->have);
  }
  x->recs = NULL;
  x->have = NULL;
  x->formatted = 1;
}

static struct win *find(struct evf_writers *wr, uint64_t w)
{
  for (size_t k = 0; k < wr->nq; k++)
    if (wr->q[k]->w == w)
      return wr->q[k];
  return NULL;
}

/* The size broadcasts: post in window order, learn the sizes in order. */
static void sizes_step(struct evf_writers *wr)
{
  while (wr->bknown < wr->bposted) {
    struct size_slot *s = &wr->slot[wr->bknown % EVF_WRITERS_AHEAD];
    int flag = 0;
    MPI_Test(&s->req, &flag, MPI_STATUS_IGNORE);
    if (!flag)
      break;
    if (writer_of(wr, wr->bknown) == wr->rank) {
      struct win *x = find(wr, wr->bknown);
      if (!x)
        evf_guard_fatal("a window's size broadcast without its window");
      x->offset = wr->running;
      x->placed_at = 1;
    }
    wr->running += s->size;
    wr->bknown++;
  }
  while (wr->bposted < wr->nwin && wr->bposted - wr->bknown < EVF_WRITERS_AHEAD) {
    uint64_t w = wr->bposted;
    int root = writer_of(wr, w);
    struct size_slot *s = &wr->slot[w % EVF_WRITERS_AHEAD];
    if (root == wr->rank) {
      struct win *x = find(wr, w);
      if (!x || !x->formatted)
        break;
      s->size = x->len;
    }
    MPI_Ibcast(&s->size, 1, MPI_UNSIGNED_LONG_LONG, root, wr->comm, &s->req);
    wr->bposted++;
  }
}

/* Write the windows whose offsets are known, oldest first (each a few MB: as long as rank 0's
 * fwrite of them would take; MPI_File_write_at waits on the file system, never on a rank). */
static void writes_step(struct evf_writers *wr)
{
  while (wr->nq > 0 && wr->q[0]->placed_at && wr->q[0]->formatted) {
    struct win *x = wr->q[0];
    for (size_t at = 0; wr->output && !wr->err && at < x->len; at += WRITE_CHUNK) {
      int len = (int)(x->len - at < WRITE_CHUNK ? x->len - at : WRITE_CHUNK);
      MPI_Status st;
      int count = 0;
      errno = 0;
      int code = MPI_File_write_at(wr->fh, (MPI_Offset)(x->offset + at), x->bytes + at, len,
                                   MPI_BYTE, &st);
      if (code != MPI_SUCCESS) {
        io_failed(wr, code, errno);
      } else if (MPI_Get_count(&st, MPI_BYTE, &count) == MPI_SUCCESS && count != len) {
        wr->err = ENOSPC; /* a short write: the file system took no more */
        snprintf(wr->what, sizeof wr->what, "wrote %d of %d bytes", count, len);
      }
    }
    if (wr->output && !wr->err)
      wr->bytes += x->len;
    if (x->bytes && wr->ntext < SPARES) {
      wr->spare_text[wr->ntext] = x->bytes;
      wr->spare_cap[wr->ntext++] = x->cap;
    } else {
      free(x->bytes);
    }
    free(x);
    memmove(&wr->q[0], &wr->q[1], (wr->nq - 1) * sizeof *wr->q);
    wr->nq--;
  }
}

void evf_writers_poll(struct evf_writers *wr, uint64_t max)
{
  double t = evf_clock_now();
  int busy = wr->nq > 0;
  format_step(wr, max);
  sizes_step(wr);
  writes_step(wr);
  if (busy)
    wr->seconds += evf_clock_now() - t;
}

uint64_t evf_writers_known(const struct evf_writers *wr)
{
  return wr->bknown;
}

int evf_writers_done(const struct evf_writers *wr)
{
  return wr->bknown >= wr->nwin && wr->nq == 0;
}

uint64_t evf_writers_records(const struct evf_writers *wr)
{
  return wr->records;
}

uint64_t evf_writers_missing(const struct evf_writers *wr)
{
  return wr->missing;
}

unsigned long long evf_writers_bytes(const struct evf_writers *wr)
{
  return wr->bytes;
}

unsigned long long evf_writers_total(const struct evf_writers *wr)
{
  return wr->running;
}

double evf_writers_seconds(const struct evf_writers *wr)
{
  return wr->seconds;
}

int evf_writers_error(const struct evf_writers *wr, const char **what)
{
  if (what)
    *what = wr->what;
  return wr->err;
}

int evf_writers_close(struct evf_writers *wr)
{
  if (wr->output) {
    errno = 0;
    int code = MPI_File_sync(wr->fh);
    if (code != MPI_SUCCESS)
      io_failed(wr, code, errno);
    errno = 0;
    code = MPI_File_close(&wr->fh);
    if (code != MPI_SUCCESS)
      io_failed(wr, code, errno);
    wr->output = 0;
  }
  return wr->err;
}

void evf_writers_free(struct evf_writers *wr)
{
  if (!wr)
    return;
  for (size_t k = 0; k < wr->nq; k++) {
    struct win *x = wr->q[k];
    free(x->recs);
    free(x->have);
    free(x->bytes);
    free(x);
  }
  free(wr->q);
  for (int k = 0; k < wr->nspare; k++) {
    free(wr->spare_recs[k]);
    free(wr->spare_have[k]);
  }
  for (int k = 0; k < wr->ntext; k++)
    free(wr->spare_text[k]);
  evf_recwriter_abandon(&wr->rw);
  if (wr->fh != MPI_FILE_NULL)
    MPI_File_close(&wr->fh);
  if (wr->comm != MPI_COMM_NULL)
    MPI_Comm_free(&wr->comm);
  free(wr);
}
