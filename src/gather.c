/* The per-window gathers of records (see gather.h).
 *
 * Each window takes two non-blocking collectives on a private duplicate of the communicator:
 * MPI_Igather of every rank's record count to the root, then MPI_Igatherv of the records (one
 * MPI datatype: rec_size contiguous bytes, a kind's extension included).  Every rank posts them
 * in the same order -- counts(0), records(0), counts(1), records(1), ... -- which is all MPI
 * asks of non-blocking collectives on one communicator.  A rank that is not a window's root
 * posts both of it together as soon as its part is ready, up to EVF_GATHER_MAX_POSTED windows
 * ahead; the window's root posts the records' gather once the counts are in (it sizes its
 * buffer from them), and its next window's counts once this one has been taken, so it holds
 * one window's buffer.  With roots 0, rank 0 is every window's root and its own part is empty
 * (its runner writes its records by id into its ring); with roots R, window w's root is rank
 * w % R and gathers its own part with the others'. */
#include "gather.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "guard.h"

/* A window not yet posted: the tasks of it this rank has, and their records so far. */
struct part {
  uint64_t w;
  uint64_t expected;             /* tasks of this rank in w */
  size_t n, cap;                 /* records in buf, and room */
  char *buf;
};

/* A window posted by this rank, in flight until its collectives complete (and, at its root,
 * until the callback took its records). */
struct posted {
  uint64_t w;
  int root;                      /* this rank is the window's root */
  int count;                     /* the counts' gather reads it: it must not move */
  char *buf;                     /* this rank's part */
  size_t cap;
  MPI_Request req[2];
};

/* Buffers kept for reuse (about the windows a rank holds at once). */
#define GATHER_SPARES 2

/* The root of a window: its counts' gather posted (ROOT_COUNTS), then its records' gather
 * (ROOT_RECORDS), then the records handed to the callback (ROOT_TAKE); one window at a time. */
enum root_phase { ROOT_IDLE, ROOT_COUNTS, ROOT_RECORDS, ROOT_TAKE };

struct evf_gather {
  MPI_Comm comm;                 /* private duplicate: collectives of no one else */
  MPI_Datatype rectype;          /* one record */
  int rank, size;
  size_t rec_size;
  uint64_t ntasks, window, nwin;
  int roots;                     /* window w's root is rank w % roots; 0: rank 0, direct */
  int direct;                    /* this rank is rank 0 with roots 0: it gathers no part */
  evf_gather_window_fn fn;
  void *arg;
  struct part *parts;            /* windows not yet posted that have tasks here, by w */
  size_t nparts, capparts;
  uint64_t next;                 /* the next window to post */
  uint64_t posts;                /* collectives posted */
  uint64_t taken;                /* windows whose records this rank took as their root */
  /* a ring of the windows in flight, in window order */
  struct posted posted[EVF_GATHER_MAX_POSTED];
  int head, nposted;
  /* buffers of parts gathered, kept for the next parts: a window's buffer is tens of MiB,
   * and a fresh one costs a page fault per 4 KiB (a tenth of a second for 32 MiB here) */
  char *spare[GATHER_SPARES];
  size_t spare_cap[GATHER_SPARES];
  int nspare;
  /* as a root: one window at a time (a later window of its own waits for this one's take) */
  enum root_phase phase;
  struct posted *rooted;         /* the entry of that window */
  int *counts, *displs;          /* [size] */
  char *recv;                    /* the window's records, until taken (room for recv_cap) */
  size_t recv_cap;
  size_t total;
};

struct evf_gather *evf_gather_new(MPI_Comm comm, size_t rec_size, uint64_t ntasks,
                                  uint64_t window, int roots, evf_gather_window_fn fn, void *arg)
{
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  struct evf_gather *g = calloc(1, sizeof *g);
  int ok = g != NULL && window > 0 && window <= EVF_GATHER_MAX_WINDOW && rec_size <= INT_MAX &&
           roots >= 0 && roots <= size;
  if (ok && (rank == 0 || rank < roots)) {
    g->counts = calloc((size_t)size, sizeof *g->counts);
    g->displs = calloc((size_t)size, sizeof *g->displs);
    ok = g->counts && g->displs;
  }
  int all_ok = 0;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm);
  if (!all_ok) {
    if (g) {
      free(g->counts);
      free(g->displs);
    }
    free(g);
    return NULL;
  }
  g->rank = rank;
  g->size = size;
  g->rec_size = rec_size;
  g->ntasks = ntasks;
  g->window = window;
  g->nwin = ntasks / window + (ntasks % window != 0);
  g->roots = roots;
  g->direct = roots == 0 && rank == 0;
  g->fn = fn;
  g->arg = arg;
  MPI_Comm_dup(comm, &g->comm);
  MPI_Type_contiguous((int)rec_size, MPI_BYTE, &g->rectype);
  MPI_Type_commit(&g->rectype);
  return g;
}

/* The part of window w (created when `create`), or NULL. */
static struct part *find_part(struct evf_gather *g, uint64_t w, int create)
{
  size_t k = 0;
  while (k < g->nparts && g->parts[k].w < w)
    k++;
  if (k < g->nparts && g->parts[k].w == w)
    return &g->parts[k];
  if (!create)
    return NULL;
  if (g->nparts == g->capparts) {
    size_t cap = g->capparts ? 2 * g->capparts : 8;
    struct part *p = realloc(g->parts, cap * sizeof *p);
    if (!p)
      return NULL;
    g->parts = p;
    g->capparts = cap;
  }
  memmove(&g->parts[k + 1], &g->parts[k], (g->nparts - k) * sizeof *g->parts);
  g->nparts++;
  g->parts[k] = (struct part){.w = w};
  return &g->parts[k];
}

int evf_gather_expect(struct evf_gather *g, const struct evf_batch *b)
{
  if (g->direct)
    return 0; /* rank 0 places its own records */
  uint64_t id = b->first_id, end = (uint64_t)b->first_id + b->count; /* [id, end) */
  while (id < end) {
    uint64_t w = (id - 1) / g->window;
    uint64_t stop = (w + 1) * g->window + 1 < end ? (w + 1) * g->window + 1 : end;
    if (w < g->next)
      return EVF_ELOOP; /* a window already posted: a batch dealt after its seal */
    struct part *p = find_part(g, w, 1);
    if (!p)
      return EVF_ENOMEM;
    p->expected += stop - id;
    id = stop;
  }
  return 0;
}

int evf_gather_put(struct evf_gather *g, const struct evf_record *rec)
{
  uint64_t w = rec->id >= 1 ? (rec->id - 1) / g->window : UINT64_MAX;
  struct part *p = !g->direct && w >= g->next && w < g->nwin ? find_part(g, w, 0) : NULL;
  if (!p || p->n >= p->expected)
    return EVF_ELOOP;
  if (!p->buf && g->nspare > 0) { /* the largest spare (the last kept) */
    p->buf = g->spare[--g->nspare];
    p->cap = g->spare_cap[g->nspare];
  }
  if (p->n == p->cap) {
    size_t cap = p->expected; /* all of them, as far as they are known */
    char *buf = realloc(p->buf, cap * g->rec_size);
    if (!buf)
      return EVF_ENOMEM;
    p->buf = buf;
    p->cap = cap;
  }
  memcpy(p->buf + p->n++ * g->rec_size, rec, g->rec_size);
  return 0;
}

/* Keep a gathered window's buffer for a later part (the largest ones), or free it. */
static void give_back(struct evf_gather *g, char *buf, size_t cap)
{
  if (!buf)
    return;
  if (g->nspare == GATHER_SPARES) {
    if (g->spare_cap[0] >= cap) {
      free(buf);
      return;
    }
    free(g->spare[0]); /* the smallest goes */
    memmove(&g->spare[0], &g->spare[1], (GATHER_SPARES - 1) * sizeof *g->spare);
    memmove(&g->spare_cap[0], &g->spare_cap[1], (GATHER_SPARES - 1) * sizeof *g->spare_cap);
    g->nspare--;
  }
  int k = g->nspare++; /* sorted by size, the largest last */
  while (k > 0 && g->spare_cap[k - 1] > cap) {
    g->spare[k] = g->spare[k - 1];
    g->spare_cap[k] = g->spare_cap[k - 1];
    k--;
  }
  g->spare[k] = buf;
  g->spare_cap[k] = cap;
}

/* The next window's part may go: sealed with every record in, or the loop ended (rank 0's,
 * direct, always empty, at once).  Its part (records, room and count) is taken out of the list. */
static int take_next_part(struct evf_gather *g, uint64_t sealed_to, int ended, char **buf,
                          size_t *cap, int *count)
{
  uint64_t w = g->next;
  uint64_t last = (w + 1) * g->window < g->ntasks ? (w + 1) * g->window : g->ntasks;
  struct part *p = g->nparts && g->parts[0].w == w ? &g->parts[0] : NULL;
  if (!ended && !g->direct && (sealed_to < last || (p && p->n < p->expected)))
    return 0;
  *buf = NULL;
  *cap = 0;
  *count = 0;
  if (p) {
    *buf = p->buf;
    *cap = p->cap;
    *count = (int)p->n; /* at most a window's ids */
    memmove(&g->parts[0], &g->parts[1], (g->nparts - 1) * sizeof *g->parts);
    g->nparts--;
  }
  g->next++;
  return 1;
}

static int root_of(const struct evf_gather *g, uint64_t w)
{
  return g->roots ? (int)(w % (uint64_t)g->roots) : 0;
}

/* The window this rank is the root of: counts, then records, then the records handed over.
 * Returns 1 while the records' gather is not yet posted (no later collective may be posted
 * before it). */
static int poll_rooted(struct evf_gather *g)
{
  struct posted *q = g->rooted;
  for (;;) {
    int flag = 0;
    switch (g->phase) {
    case ROOT_IDLE:
      return 0;
    case ROOT_COUNTS: {
      MPI_Test(&q->req[0], &flag, MPI_STATUS_IGNORE);
      if (!flag)
        return 1;
      size_t total = 0;
      for (int r = 0; r < g->size; r++) {
        g->displs[r] = (int)total;
        total += (size_t)g->counts[r];
      }
      /* The ranks' counts sum to at most a window's ids: more is a bug, not a size. */
      if (total > (size_t)g->window || total > INT_MAX)
        evf_guard_fatal("a window's gather counts more records than the window has ids");
      if (total > g->recv_cap) { /* kept from window to window: mapped once */
        free(g->recv);
        g->recv_cap = 0;
        if (!(g->recv = malloc(total * g->rec_size)))
          evf_guard_fatal("cannot allocate a window's gathered records");
        g->recv_cap = total;
      }
      g->total = total;
      MPI_Igatherv(q->buf ? q->buf : (char *)g, q->count, g->rectype,
                   g->recv ? g->recv : (char *)g, g->counts, g->displs, g->rectype, g->rank,
                   g->comm, &q->req[1]);
      g->posts++;
      g->phase = ROOT_RECORDS;
      break;
    }
    case ROOT_RECORDS:
      MPI_Test(&q->req[1], &flag, MPI_STATUS_IGNORE);
      if (!flag)
        return 0;
      g->phase = ROOT_TAKE;
      break;
    case ROOT_TAKE:
      if (g->fn && g->fn(g->arg, q->w, g->recv, g->total))
        return 0; /* no room yet */
      g->taken++;
      g->phase = ROOT_IDLE;
      g->rooted = NULL;
      return 0;
    }
  }
}

/* Post what is ready, in window order, and release what completed (oldest first).  A window
 * of another root: both collectives at once.  A window of this rank's: its counts, and its
 * records once the counts are in (it sizes its buffer from them); until then nothing later is
 * posted, and a later window of its own waits until this one is taken, so a root holds one
 * window's buffer. */
static void poll_all(struct evf_gather *g, uint64_t sealed_to, int ended)
{
  int blocked = poll_rooted(g);
  while (g->nposted > 0) {
    struct posted *q = &g->posted[g->head];
    if (q->root) {
      if (q == g->rooted)
        break;
    } else {
      int flag = 0;
      MPI_Status st[2]; /* not MPI_STATUSES_IGNORE: see chan.c's records_in */
      MPI_Testall(2, q->req, &flag, st);
      if (!flag)
        break;
    }
    give_back(g, q->buf, q->cap);
    q->buf = NULL;
    g->head = (g->head + 1) % EVF_GATHER_MAX_POSTED;
    g->nposted--;
  }
  while (!blocked && g->nposted < EVF_GATHER_MAX_POSTED && g->next < g->nwin) {
    int root = root_of(g, g->next);
    if (root == g->rank && g->rooted)
      break; /* the window before of its own is not taken yet */
    struct posted *q = &g->posted[(g->head + g->nposted) % EVF_GATHER_MAX_POSTED];
    uint64_t w = g->next;
    if (!take_next_part(g, sealed_to, ended, &q->buf, &q->cap, &q->count))
      break;
    q->w = w;
    q->root = root == g->rank;
    q->req[0] = q->req[1] = MPI_REQUEST_NULL;
    g->nposted++;
    if (q->root) {
      MPI_Igather(&q->count, 1, MPI_INT, g->counts, 1, MPI_INT, root, g->comm, &q->req[0]);
      g->posts++;
      g->rooted = q;
      g->phase = ROOT_COUNTS;
      blocked = poll_rooted(g);
    } else {
      MPI_Igather(&q->count, 1, MPI_INT, NULL, 0, MPI_INT, root, g->comm, &q->req[0]);
      MPI_Igatherv(q->buf ? q->buf : (char *)g, q->count, g->rectype, NULL, NULL, NULL,
                   g->rectype, root, g->comm, &q->req[1]);
      g->posts += 2;
    }
  }
}

void evf_gather_poll(struct evf_gather *g, uint64_t sealed_to, int ended)
{
  poll_all(g, sealed_to, ended);
}

int evf_gather_done(const struct evf_gather *g)
{
  return g->next >= g->nwin && g->nposted == 0;
}

uint64_t evf_gather_taken(const struct evf_gather *g)
{
  uint64_t w = g->taken; /* with roots 0, rank 0 takes every window, in order */
  return w * g->window < g->ntasks ? w * g->window : g->ntasks;
}

uint64_t evf_gather_windows(const struct evf_gather *g)
{
  return g->nwin;
}

uint64_t evf_gather_posted(const struct evf_gather *g)
{
  return g->posts;
}

void evf_gather_free(struct evf_gather *g)
{
  if (!g)
    return;
  for (size_t k = 0; k < g->nparts; k++)
    free(g->parts[k].buf);
  free(g->parts);
  for (int k = 0; k < g->nposted; k++)
    free(g->posted[(g->head + k) % EVF_GATHER_MAX_POSTED].buf);
  for (int k = 0; k < g->nspare; k++)
    free(g->spare[k]);
  free(g->recv);
  free(g->counts);
  free(g->displs);
  MPI_Type_free(&g->rectype);
  MPI_Comm_free(&g->comm);
  free(g);
}
