/* All MPI calls of evfarm.  A job runs on a duplicate of the caller's communicator with
 * MPI_ERRORS_ARE_FATAL (evf_comm_dup_fatal): a failed collective leaves the ranks unable to
 * agree on anything, so aborting the job is the only state that cannot hang, whatever error
 * handler the caller chose for its own communicator. */
#include "comm.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "error.h"
#include "guard.h"

int evf_comm_rank(MPI_Comm comm)
{
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  return rank;
}

int evf_comm_size(MPI_Comm comm)
{
  int size = 1;
  MPI_Comm_size(comm, &size);
  return size;
}

MPI_Comm evf_comm_dup_fatal(MPI_Comm comm)
{
  MPI_Comm dup = MPI_COMM_NULL;
  MPI_Comm_dup(comm, &dup);
  MPI_Comm_set_errhandler(dup, MPI_ERRORS_ARE_FATAL);
  return dup;
}

void evf_comm_abort(void *comm, int code)
{
  MPI_Abort(*(MPI_Comm *)comm, code);
}

int evf_comm_agree(MPI_Comm comm, int status)
{
  int all = 0;
  MPI_Allreduce(&status, &all, 1, MPI_INT, MPI_MIN, comm);
  return all;
}

MPI_Comm evf_comm_subset(MPI_Comm comm, int member)
{
  MPI_Comm sub = MPI_COMM_NULL;
  MPI_Comm_split(comm, member ? 0 : MPI_UNDEFINED, evf_comm_rank(comm), &sub);
  return sub;
}

void evf_comm_free(MPI_Comm *comm)
{
  if (*comm != MPI_COMM_NULL)
    MPI_Comm_free(comm);
}

void evf_comm_allgather_hosts(MPI_Comm comm, const char mine[EVF_HOST_LEN],
                              char (*all)[EVF_HOST_LEN])
{
  MPI_Allgather(mine, EVF_HOST_LEN, MPI_CHAR, all, EVF_HOST_LEN, MPI_CHAR, comm);
}

void evf_comm_quiet_barrier(MPI_Comm comm)
{
  MPI_Request req;
  int done = 0;
  MPI_Ibarrier(comm, &req);
  for (;;) {
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (done)
      break;
    struct timespec ts = {0, 500000};
    nanosleep(&ts, NULL);
  }
}

/* The channel: one private duplicate communicator, point-to-point only.
 * Other ranks -> rank 0: TAG_PROGRESS (counts, from the progress tick; at most one in flight),
 * TAG_REQUEST (counts; "deal me a batch": at most one outstanding), TAG_FINAL (counts and the
 * rank's worst request latency; the last message), TAG_RECORDS (finished records, back to back,
 * under --journal), TAG_DRAIN (empty: this rank drains; rank 0 then drains every rank).  Rank 0 ->
 * a rank: TAG_DRAIN (empty: drain now), TAG_LIMIT (windows: the highest id that may start now,
 * one unsigned long long; the last one before the close admits every id), and: TAG_DEAL (one
 * batch, then the inputs of its tasks, NUL-terminated, back to back), TAG_CLOSE (empty: no more
 * deals), TAG_BYE (empty; the answer to a rank's final report and the last message to it).
 * A rank reads what rank 0 sends until the BYE, so no message is ever left unreceived (a drain
 * order that crossed a rank's final report, say), and listens for a drain order whatever else
 * it waits for (a closed rank, a static one, still drains).
 * Messages between two ranks arrive in order (MPI's non-overtaking rule; receives use
 * MPI_ANY_TAG), so a rank reads every deal before its close and rank 0 every request before the
 * final report. */
enum { TAG_PROGRESS = 1, TAG_FINAL = 2, TAG_REQUEST = 3, TAG_DEAL = 4, TAG_CLOSE = 5,
       TAG_RECORDS = 6, TAG_DRAIN = 7, TAG_LIMIT = 8, TAG_BYE = 9 };

/* A report is four unsigned long longs: done, failed, in flight, and (final reports) the worst
 * request latency in nanoseconds. */
#define NREPORT 4
_Static_assert(sizeof(struct evf_progress_counts) == 3 * sizeof(unsigned long long),
               "progress counts travel as 3 unsigned long longs");

struct peer {                      /* rank 0: what it knows of another rank */
  struct evf_progress_counts latest;
  MPI_Request deal_req, close_req; /* the deal and the close in flight to it */
  MPI_Request drain_req;           /* the drain order in flight to it */
  int drained;                     /* it was told to drain */
  char *deal_buf;                  /* the deal in flight (deal_small or malloc'ed) */
  char deal_small[sizeof(struct evf_batch)];
  int closed, final;
  MPI_Request bye_req;             /* the answer to its final report */
  MPI_Request limit_req;           /* the limit in flight to it */
  unsigned long long limit_val, limit_sent;
};

struct evf_chan {
  MPI_Comm comm;                   /* private duplicate: never meets other traffic */
  int rank, size;
  unsigned long long total;        /* tasks of the whole job */
  unsigned long long limit;        /* the highest id that may start (windows) */
  unsigned long long last_id;      /* the limit that admits every id */
  int closing;                     /* rank 0: the pool is empty: close every rank once the limit
                                      admits every id (the last limit goes before the close) */
  int limits_pending;              /* rank 0: a limit is still to be sent to some rank */
  int can_ask;                     /* other ranks: dynamic, so requests get batches */
  /* rank 0 */
  struct peer *peers;              /* [size] (peers[0]: rank 0's own counts) */
  int finals;
  const struct evf_partition *part;/* dynamic: the batches, by index; the pool is next..end */
  const struct evf_inputs *inputs; /* their inputs (kinds with an input file), or NULL */
  size_t next;                     /* the next batch to deal */
  int *owner;                      /* [nbatches]: the rank each batch went to */
  int self_closed;                 /* rank 0 took its last batch (or none was left) */
  evf_chan_records_fn on_records;  /* records streamed in (--journal) */
  void *records_arg;
  struct incoming { char *buf; int len; MPI_Request req; double posted; } in[EVF_CHAN_MAX_IN];
  int nin;                         /* records being received (MPI_Irecv): rank 0 never waits in
                                      a receive for a sender to move the message on */
  double records_late;             /* test: seconds a receive of records stays in flight */
  unsigned long long deals, requests;
  double max_latency;
  /* other ranks */
  unsigned long long sending[NREPORT], asking[NREPORT];
  MPI_Request req, ask_req;        /* report, request in flight */
  int final_sent, closed, asked;
  int bye;                         /* rank 0 answered the final report: nothing more comes */
  int drain_requested;             /* a drain came in (any rank), or was asked for here */
  int drain_sent;                  /* other ranks: this rank told rank 0 it drains */
  MPI_Request drain_req;
  double asked_at, worst;          /* when the outstanding request went; worst latency */
  struct evf_batch got;            /* the batch of the last deal */
  char **bufs;                     /* received inputs and their line arrays, kept to the end */
  size_t nbufs, capbufs;
  struct outgoing { char *buf; MPI_Request req; } *out; /* records in flight to rank 0 */
  size_t nout, capout;
};

static void close_all(struct evf_chan *c);

struct evf_chan *evf_chan_new(MPI_Comm comm, unsigned long long total, int dynamic,
                              const struct evf_partition *part, const struct evf_inputs *inputs,
                              unsigned long long limit, unsigned long long last_id)
{
  int gated = limit < last_id;
  const struct evf_partition *dyn = dynamic && evf_comm_rank(comm) == 0 ? part : NULL;
  struct evf_chan *c = calloc(1, sizeof *c);
  int rank = evf_comm_rank(comm), size = evf_comm_size(comm);
  int ok = c != NULL;
  if (ok && rank == 0) {
    c->peers = calloc((size_t)size, sizeof *c->peers);
    ok = c->peers != NULL;
    if (ok && dyn) {
      c->owner = malloc((dyn->nbatches ? dyn->nbatches : 1) * sizeof *c->owner);
      ok = c->owner != NULL;
    }
  }
  if (evf_comm_agree(comm, ok ? 0 : EVF_ENOMEM)) {
    if (c) {
      free(c->peers);
      free(c->owner);
    }
    free(c);
    return NULL;
  }
  c->rank = rank;
  c->size = size;
  c->total = total;
  c->req = c->ask_req = c->drain_req = MPI_REQUEST_NULL;
  c->closed = !dynamic && !gated; /* static: nothing will be dealt (but limits may come) */
  c->can_ask = dynamic;
  c->limit = limit;
  c->last_id = last_id;
  MPI_Comm_dup(comm, &c->comm);
  if (rank == 0) {
    /* For the test of the records-before-final guarantee: on one node a rank's last records
     * are in by the time its final report is, so EVFARM_TEST_RECORDS_LATE=S makes each receive
     * of records take S seconds at least (up to EVF_CHAN_MAX_IN - 1 of them), as on a slow
     * network where the final report overtakes the rest of a large message. */
    const char *late = getenv("EVFARM_TEST_RECORDS_LATE");
    c->records_late = late && *late ? atof(late) : 0;
    for (int r = 0; r < size; r++) {
      c->peers[r].deal_req = c->peers[r].close_req = c->peers[r].drain_req = MPI_REQUEST_NULL;
      c->peers[r].limit_req = c->peers[r].bye_req = MPI_REQUEST_NULL;
      c->peers[r].limit_sent = limit;
      c->peers[r].closed = !dyn && !gated;
    }
    if (dyn) {
      c->part = dyn;
      c->inputs = inputs;
      /* The first share is what the plan gave (batch r to rank r, for the ranks that have one:
       * with windows, only as many ranks as the first window has batches); every other batch
       * is dealt.  The plan is the one source of which batches went out with the scatter. */
      c->next = 0;
      while (c->next < (size_t)size && c->next < dyn->nbatches && dyn->batch_count[c->next] > 0)
        c->next++;
      for (size_t b = 0; b < c->next; b++)
        c->owner[b] = (int)b; /* the first share */
      if (c->next == dyn->nbatches) /* nothing left to deal: as static */
        close_all(c);
    } else {
      c->self_closed = 1;
      if (gated)
        close_all(c); /* once the limit admits every id */
    }
  }
  return c;
}

unsigned long long evf_chan_total(const struct evf_chan *c)
{
  return c->total;
}

/* Rank 0: send rank r the current limit if it has an older one; `wait`: even if its previous
 * limit is still in flight (else try again later).  Returns 0 when r has the current limit. */
static int send_limit(struct evf_chan *c, int r, int wait)
{
  struct peer *p = &c->peers[r];
  if (p->limit_sent >= c->limit)
    return 0;
  int idle = 1;
  if (wait)
    MPI_Wait(&p->limit_req, MPI_STATUS_IGNORE);
  else
    MPI_Test(&p->limit_req, &idle, MPI_STATUS_IGNORE);
  if (!idle)
    return -1;
  p->limit_val = p->limit_sent = c->limit;
  MPI_Isend(&p->limit_val, 1, MPI_UNSIGNED_LONG_LONG, r, TAG_LIMIT, c->comm, &p->limit_req);
  return 0;
}

static void send_limits(struct evf_chan *c)
{
  if (!c->limits_pending)
    return;
  c->limits_pending = 0;
  for (int r = 1; r < c->size; r++)
    if (!c->peers[r].closed && send_limit(c, r, 0))
      c->limits_pending = 1;
}

/* Rank 0: close rank r (no more deals; its last limit goes first). */
static void close_peer(struct evf_chan *c, int r)
{
  struct peer *p = &c->peers[r];
  if (p->closed)
    return;
  send_limit(c, r, 1);
  p->closed = 1;
  MPI_Isend(NULL, 0, MPI_BYTE, r, TAG_CLOSE, c->comm, &p->close_req);
}

/* Rank 0: the pool is empty (or rank 0 stops dealing): close every other rank, once the limit
 * admits every id (until then ranks wait for limits, not batches). */
static void close_all(struct evf_chan *c)
{
  c->closing = 1;
  if (c->limit < c->last_id)
    return;
  for (int r = 1; r < c->size; r++)
    close_peer(c, r);
}

void evf_chan_set_limit(struct evf_chan *c, unsigned long long limit)
{
  if (limit <= c->limit)
    return;
  c->limit = limit;
  if (c->rank != 0)
    return;
  c->limits_pending = 1;
  send_limits(c);
  if (c->closing)
    close_all(c);
}

unsigned long long evf_chan_limit(const struct evf_chan *c)
{
  return c->limit;
}

int evf_chan_all_admitted(const struct evf_chan *c)
{
  return c->limit >= c->last_id;
}

/* Rank 0: deal the next batch to rank r (> 0), with its inputs. */
static void deal(struct evf_chan *c, int r)
{
  struct peer *p = &c->peers[r];
  const struct evf_batch *b = &c->part->batches[c->next];
  /* The previous deal was received: r asks again only after it has read it. */
  MPI_Wait(&p->deal_req, MPI_STATUS_IGNORE);
  if (p->deal_buf != p->deal_small)
    free(p->deal_buf);
  size_t len = sizeof *b;
  if (c->inputs)
    for (uint32_t k = 0; k < b->count; k++)
      len += strlen(c->inputs->line[b->first_id - 1 + k]) + 1;
  p->deal_buf = len == sizeof *b ? p->deal_small : malloc(len);
  if (!p->deal_buf || len > INT_MAX) /* cannot deal it: r gets a close, the batch stays */
    evf_guard_fatal("cannot pack a batch's inputs for a deal");
  memcpy(p->deal_buf, b, sizeof *b);
  size_t at = sizeof *b;
  if (c->inputs)
    for (uint32_t k = 0; k < b->count; k++) {
      const char *s = c->inputs->line[b->first_id - 1 + k];
      size_t n = strlen(s) + 1;
      memcpy(p->deal_buf + at, s, n);
      at += n;
    }
  MPI_Isend(p->deal_buf, (int)len, MPI_BYTE, r, TAG_DEAL, c->comm, &p->deal_req);
  c->owner[c->next++] = r;
  c->deals++;
  if (c->next == c->part->nbatches)
    close_all(c);
}

/* Rank 0: hand over the records whose receives completed. */
static void records_in(struct evf_chan *c)
{
  if (c->nin == 0)
    return;
  if (c->records_late > 0 && c->nin < EVF_CHAN_MAX_IN &&
      evf_clock_now() < c->in[0].posted + c->records_late)
    return;
  MPI_Request reqs[EVF_CHAN_MAX_IN];
  int idx[EVF_CHAN_MAX_IN], ndone = 0;
  for (int i = 0; i < c->nin; i++)
    reqs[i] = c->in[i].req;
  /* A real statuses array, not MPI_STATUSES_IGNORE: MPICH's mpi.h declares the argument's
   * size, and gcc then warns that the "ignore" pointer points at nothing. */
  MPI_Status sts[EVF_CHAN_MAX_IN];
  MPI_Testsome(c->nin, reqs, &ndone, idx, sts);
  if (ndone <= 0)
    return;
  int keep = 0;
  for (int i = 0; i < c->nin; i++) {
    if (reqs[i] == MPI_REQUEST_NULL) {
      if (c->on_records)
        c->on_records(c->records_arg, c->in[i].buf, (size_t)c->in[i].len);
      free(c->in[i].buf);
    } else {
      c->in[keep] = c->in[i];
      c->in[keep++].req = reqs[i];
    }
  }
  c->nin = keep;
}

/* Rank 0: take in every message that has arrived, in order; answer requests.  Records are
 * received without waiting (a message larger than MPI's eager size needs its sender to call into
 * MPI for its rest): at most EVF_CHAN_MAX_IN at a time, and no later message is taken while that
 * many are on their way, so each rank's messages are taken in the order sent.  A receive posted
 * for the probed source and tag matches the probed message: it is the earliest one not yet
 * matched (MPI's order between two ranks; one thread receives). */
static void receive_all(struct evf_chan *c)
{
  send_limits(c);
  records_in(c);
  for (;;) {
    MPI_Status st;
    int flag = 0;
    if (c->nin == EVF_CHAN_MAX_IN)
      return;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, c->comm, &flag, &st);
    if (!flag)
      return;
    if (st.MPI_TAG == TAG_RECORDS) {
      int len = 0;
      MPI_Get_count(&st, MPI_BYTE, &len);
      struct incoming *in = &c->in[c->nin];
      if (!(in->buf = malloc(len > 0 ? (size_t)len : 1)))
        evf_guard_fatal("cannot receive streamed records");
      in->len = len;
      in->posted = evf_clock_now();
      MPI_Irecv(in->buf, len, MPI_BYTE, st.MPI_SOURCE, TAG_RECORDS, c->comm, &in->req);
      c->nin++;
      records_in(c);
      continue;
    }
    if (st.MPI_TAG == TAG_DRAIN) {
      MPI_Recv(NULL, 0, MPI_BYTE, st.MPI_SOURCE, TAG_DRAIN, c->comm, MPI_STATUS_IGNORE);
      c->drain_requested = 1;
      continue;
    }
    unsigned long long v[NREPORT];
    MPI_Recv(v, NREPORT, MPI_UNSIGNED_LONG_LONG, st.MPI_SOURCE, st.MPI_TAG, c->comm,
             MPI_STATUS_IGNORE);
    struct peer *p = &c->peers[st.MPI_SOURCE];
    p->latest = (struct evf_progress_counts){v[0], v[1], v[2]};
    if (st.MPI_TAG == TAG_REQUEST) {
      c->requests++;
      if (p->closed)
        continue; /* crossed its close: nothing to answer */
      if (c->part && c->next < c->part->nbatches)
        deal(c, st.MPI_SOURCE);
      else if (c->limit >= c->last_id)
        close_peer(c, st.MPI_SOURCE);
      /* else: its close comes with the last limit */
    } else if (st.MPI_TAG == TAG_FINAL) {
      c->finals++;
      p->final = 1;
      if (v[3] * 1e-9 > c->max_latency)
        c->max_latency = v[3] * 1e-9;
      close_peer(c, st.MPI_SOURCE); /* ended without its close (a failed loop) */
      MPI_Isend(NULL, 0, MPI_BYTE, st.MPI_SOURCE, TAG_BYE, c->comm, &p->bye_req);
    }
  }
}

static struct evf_progress_counts sum_counts(const struct evf_chan *c)
{
  struct evf_progress_counts sum = {0, 0, 0};
  for (int r = 0; r < c->size; r++) {
    sum.done += c->peers[r].latest.done;
    sum.failed += c->peers[r].latest.failed;
    sum.inflight += c->peers[r].latest.inflight;
  }
  return sum;
}

static void put_counts(unsigned long long *v, const struct evf_progress_counts *m, double extra)
{
  v[0] = m->done;
  v[1] = m->failed;
  v[2] = m->inflight;
  v[3] = (unsigned long long)(extra * 1e9);
}

struct evf_progress_counts evf_chan_update(struct evf_chan *c,
                                           const struct evf_progress_counts *mine)
{
  if (c->rank != 0) {
    int idle = 1;
    if (c->req != MPI_REQUEST_NULL)
      MPI_Test(&c->req, &idle, MPI_STATUS_IGNORE);
    if (idle) {
      put_counts(c->sending, mine, 0);
      MPI_Isend(c->sending, NREPORT, MPI_UNSIGNED_LONG_LONG, 0, TAG_PROGRESS, c->comm, &c->req);
    }
    return *mine;
  }
  receive_all(c);
  c->peers[0].latest = *mine;
  return sum_counts(c);
}

/* Another rank: keep a received buffer to the end (inputs point into it). */
static int keep(struct evf_chan *c, char *buf)
{
  if (c->nbufs == c->capbufs) {
    size_t cap = c->capbufs ? 2 * c->capbufs : 16;
    char **b = realloc(c->bufs, cap * sizeof *b);
    if (!b)
      return -1;
    c->bufs = b;
    c->capbufs = cap;
  }
  c->bufs[c->nbufs++] = buf;
  return 0;
}

/* Another rank: read the next message from rank 0, if one has come.  Returns 0 (none), 1 (a
 * deal: c->got, and *inputs), 2 (something else: a limit, a drain order), or -1 (the close). */
static int receive_deal(struct evf_chan *c, const char *const **inputs)
{
  MPI_Status st;
  int flag = 0;
  MPI_Iprobe(0, MPI_ANY_TAG, c->comm, &flag, &st);
  if (!flag)
    return 0;
  if (st.MPI_TAG == TAG_LIMIT) { /* not an answer to a request */
    MPI_Recv(&c->limit, 1, MPI_UNSIGNED_LONG_LONG, 0, TAG_LIMIT, c->comm, MPI_STATUS_IGNORE);
    return 2;
  }
  if (c->asked) {
    double lat = evf_clock_now() - c->asked_at;
    if (lat > c->worst)
      c->worst = lat;
    c->asked = 0;
  }
  if (st.MPI_TAG == TAG_DRAIN) {
    MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_DRAIN, c->comm, MPI_STATUS_IGNORE);
    c->drain_requested = 1;
    return 2;
  }
  if (st.MPI_TAG == TAG_BYE) {
    MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_BYE, c->comm, MPI_STATUS_IGNORE);
    c->bye = 1;
    return 2;
  }
  if (st.MPI_TAG == TAG_CLOSE) {
    MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_CLOSE, c->comm, MPI_STATUS_IGNORE);
    c->closed = 1;
    return -1;
  }
  int len = 0;
  MPI_Get_count(&st, MPI_BYTE, &len);
  if ((size_t)len == sizeof c->got) {
    MPI_Recv(&c->got, len, MPI_BYTE, 0, TAG_DEAL, c->comm, MPI_STATUS_IGNORE);
    *inputs = NULL;
    return 1;
  }
  char *buf = malloc((size_t)len);
  if (!buf || keep(c, buf))
    evf_guard_fatal("cannot receive a dealt batch");
  MPI_Recv(buf, len, MPI_BYTE, 0, TAG_DEAL, c->comm, MPI_STATUS_IGNORE);
  memcpy(&c->got, buf, sizeof c->got);
  const char **line = malloc((c->got.count ? c->got.count : 1) * sizeof *line);
  if (!line || keep(c, (char *)line))
    evf_guard_fatal("cannot receive a dealt batch");
  size_t at = sizeof c->got;
  for (uint32_t k = 0; k < c->got.count; k++) {
    if (at >= (size_t)len)
      evf_guard_fatal("a dealt batch came with too few inputs");
    line[k] = buf + at;
    at += strlen(buf + at) + 1;
  }
  *inputs = line;
  return 1;
}

int evf_chan_feed(struct evf_chan *c, const struct evf_progress_counts *mine, int hungry,
                  struct evf_batch *batch, const char *const **inputs)
{
  if (c->rank == 0) {
    receive_all(c);
    c->peers[0].latest = *mine;
    if (!hungry)
      return 0;
    if (c->part && c->next < c->part->nbatches) {
      *batch = c->part->batches[c->next];
      *inputs = c->inputs ? c->inputs->line + batch->first_id - 1 : NULL;
      c->owner[c->next++] = 0;
      if (c->next == c->part->nbatches)
        close_all(c);
      return 1;
    }
    c->self_closed = 1;
    close_all(c);
    return -1;
  }
  if (c->closed)
    return -1;
  int got;
  while ((got = receive_deal(c, inputs)) == 2)
    ; /* limits (the caller reads evf_chan_limit) and drain orders: read on */
  if (got > 0)
    *batch = c->got;
  if (got == 0 && hungry && c->can_ask && !c->asked) {
    MPI_Wait(&c->ask_req, MPI_STATUS_IGNORE);
    put_counts(c->asking, mine, 0);
    MPI_Isend(c->asking, NREPORT, MPI_UNSIGNED_LONG_LONG, 0, TAG_REQUEST, c->comm, &c->ask_req);
    c->asked = 1;
    c->asked_at = evf_clock_now();
  }
  return got;
}

void evf_chan_drain(struct evf_chan *c)
{
  c->drain_requested = 1;
  if (c->rank != 0) {
    if (!c->drain_sent && !c->final_sent) {
      MPI_Isend(NULL, 0, MPI_BYTE, 0, TAG_DRAIN, c->comm, &c->drain_req);
      c->drain_sent = 1;
    }
    return;
  }
  for (int r = 1; r < c->size; r++) {
    struct peer *p = &c->peers[r];
    if (!p->drained && !p->final) {
      MPI_Isend(NULL, 0, MPI_BYTE, r, TAG_DRAIN, c->comm, &p->drain_req);
      p->drained = 1;
    }
  }
  c->self_closed = 1; /* nothing more is dealt */
  close_all(c);
}

int evf_chan_drain_requested(struct evf_chan *c)
{
  if (c->rank == 0) {
    receive_all(c);
  } else if (!c->drain_requested && !c->final_sent) {
    /* only the drain order (closed or not: a static rank is closed from the start): deals and
     * the close stay for the feed, in order */
    int flag = 0;
    MPI_Iprobe(0, TAG_DRAIN, c->comm, &flag, MPI_STATUS_IGNORE);
    if (flag) {
      MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_DRAIN, c->comm, MPI_STATUS_IGNORE);
      c->drain_requested = 1;
    }
  }
  return c->drain_requested;
}

void evf_chan_on_records(struct evf_chan *c, evf_chan_records_fn fn, void *arg)
{
  c->on_records = fn;
  c->records_arg = arg;
}

/* Another rank: complete the record sends rank 0 has taken in (MPI_Testsome also moves the
 * others on: a message larger than MPI's eager size goes in fragments, each sent only when the
 * sender calls into MPI).  Only the oldest EVF_CHAN_TEST_OUT are tested: rank 0 takes a rank's
 * messages in the order sent. */
void evf_chan_progress(struct evf_chan *c)
{
  if (c->nout == 0)
    return;
  int n = c->nout < EVF_CHAN_TEST_OUT ? (int)c->nout : EVF_CHAN_TEST_OUT, ndone = 0;
  MPI_Request reqs[EVF_CHAN_TEST_OUT];
  int idx[EVF_CHAN_TEST_OUT];
  for (int i = 0; i < n; i++)
    reqs[i] = c->out[i].req;
  MPI_Status sts[EVF_CHAN_TEST_OUT]; /* not MPI_STATUSES_IGNORE: see records_in */
  MPI_Testsome(n, reqs, &ndone, idx, sts);
  if (ndone <= 0) /* MPI_UNDEFINED: none active */
    return;
  size_t keep = 0;
  for (size_t i = 0; i < c->nout; i++) {
    if (i < (size_t)n && reqs[i] == MPI_REQUEST_NULL) {
      free(c->out[i].buf);
      continue;
    }
    c->out[keep] = c->out[i];
    if (i < (size_t)n)
      c->out[keep].req = reqs[i];
    keep++;
  }
  c->nout = keep;
}

/* Never waits: what a rank holds on its way is bounded by the ids it may run (with windows, two
 * of them; else its own tasks, as an array of its records would be). */
void evf_chan_send_records(struct evf_chan *c, char *buf, size_t len)
{
  evf_chan_progress(c);
  if (c->nout == c->capout) {
    size_t cap = c->capout ? 2 * c->capout : 8;
    struct outgoing *o = realloc(c->out, cap * sizeof *o);
    if (!o)
      evf_guard_fatal("cannot send streamed records");
    c->out = o;
    c->capout = cap;
  }
  if (len > INT_MAX)
    evf_guard_fatal("a batch of streamed records over 2 GiB");
  c->out[c->nout].buf = buf;
  MPI_Isend(buf, (int)len, MPI_BYTE, 0, TAG_RECORDS, c->comm, &c->out[c->nout].req);
  c->nout++;
}

int evf_chan_wait(struct evf_chan *c, const struct evf_progress_counts *mine, double until,
                  struct evf_progress_counts *all)
{
  if (c->rank != 0) {
    if (!c->final_sent) {
      for (size_t i = 0; i < c->nout; i++) {
        MPI_Wait(&c->out[i].req, MPI_STATUS_IGNORE);
        free(c->out[i].buf);
      }
      c->nout = 0;
      MPI_Wait(&c->req, MPI_STATUS_IGNORE);
      MPI_Wait(&c->ask_req, MPI_STATUS_IGNORE);
      MPI_Wait(&c->drain_req, MPI_STATUS_IGNORE);
      put_counts(c->sending, mine, c->worst);
      MPI_Send(c->sending, NREPORT, MPI_UNSIGNED_LONG_LONG, 0, TAG_FINAL, c->comm);
      c->final_sent = 1;
      /* Read what rank 0 still sends (a deal or a limit to a loop that failed, a drain order
       * that crossed the final report), up to its answer: nothing is left unreceived. */
      const char *const *ignored;
      while (!c->bye) {
        if (receive_deal(c, &ignored) == 0) {
          struct timespec ts = {0, 1000000};
          nanosleep(&ts, NULL);
        }
      }
    }
    *all = *mine;
    return 1;
  }
  if (!c->self_closed) { /* rank 0's loop failed: deal nothing more, close every rank now
                           (with windows, a rank still holding ids beyond the limit drains) */
    c->self_closed = 1;
    c->closing = 1;
    for (int r = 1; r < c->size; r++)
      close_peer(c, r);
  }
  c->peers[0].latest = *mine;
  for (;;) {
    receive_all(c);
    *all = sum_counts(c);
    if (c->finals >= c->size - 1 && c->nin == 0) /* a rank's last records are in before */
      return 1;                                     /* its final report is sent */
    if (evf_clock_now() >= until)
      return 0;
    struct timespec ts = {0, 200000}; /* an idle rank 0 sleeps between polls (0.2 ms: the
                                         last rank's final report ends the wall) */
    nanosleep(&ts, NULL);
  }
}

void evf_chan_stats(const struct evf_chan *c, struct evf_chan_stats *s)
{
  s->deals = c->deals;
  s->requests = c->requests;
  s->max_latency = c->max_latency;
  s->owner = c->owner;
}

void evf_chan_free(struct evf_chan *c)
{
  if (!c)
    return;
  if (c->rank == 0)
    for (int r = 0; r < c->size; r++) { /* all received: every rank read up to its close */
      MPI_Wait(&c->peers[r].deal_req, MPI_STATUS_IGNORE);
      MPI_Wait(&c->peers[r].close_req, MPI_STATUS_IGNORE);
      MPI_Wait(&c->peers[r].drain_req, MPI_STATUS_IGNORE);
      MPI_Wait(&c->peers[r].limit_req, MPI_STATUS_IGNORE);
      MPI_Wait(&c->peers[r].bye_req, MPI_STATUS_IGNORE);
      if (c->peers[r].deal_buf != c->peers[r].deal_small)
        free(c->peers[r].deal_buf);
    }
  MPI_Comm_free(&c->comm);
  for (size_t i = 0; i < c->nbufs; i++)
    free(c->bufs[i]);
  free(c->bufs);
  free(c->out);
  free(c->peers);
  free(c->owner);
  free(c);
}

void evf_comm_library_version(char *buf, size_t len)
{
  char v[MPI_MAX_LIBRARY_VERSION_STRING + 1] = "";
  int n = 0;
  if (len == 0)
    return;
  if (MPI_Get_library_version(v, &n) != MPI_SUCCESS)
    n = 0;
  v[n < 0 ? 0 : n > MPI_MAX_LIBRARY_VERSION_STRING ? MPI_MAX_LIBRARY_VERSION_STRING : n] = '\0';
  /* The first line, its runs of blanks (MPICH writes "MPICH Version:\t4.0.2") as one space. */
  size_t k = strcspn(v, "\r\n"), o = 0;
  for (size_t i = 0; i < k && o + 1 < len; i++) {
    int blank = v[i] == ' ' || v[i] == '\t';
    if (blank && (o == 0 || buf[o - 1] == ' '))
      continue;
    buf[o++] = blank ? ' ' : v[i];
  }
  while (o > 0 && buf[o - 1] == ' ')
    o--;
  buf[o] = '\0';
  if (o == 0)
    snprintf(buf, len, "unknown");
}

unsigned long long evf_comm_bcast_u64(MPI_Comm comm, unsigned long long value)
{
  MPI_Bcast(&value, 1, MPI_UNSIGNED_LONG_LONG, 0, comm);
  return value;
}

int evf_comm_bcast_int(MPI_Comm comm, int value)
{
  MPI_Bcast(&value, 1, MPI_INT, 0, comm);
  return value;
}

/* Batches travel as 3 uint32 words each. */
static MPI_Datatype batch_type(void)
{
  MPI_Datatype t;
  _Static_assert(sizeof(struct evf_batch) == 3 * sizeof(uint32_t), "evf_batch must be packed");
  MPI_Type_contiguous(3, MPI_UINT32_T, &t);
  MPI_Type_commit(&t);
  return t;
}

int evf_comm_scatter_batches(MPI_Comm comm, const struct evf_partition *p,
                             struct evf_batch **batches, size_t *nbatches)
{
  int rank = evf_comm_rank(comm);
  int mine = 0;
  MPI_Scatter(rank == 0 ? p->batch_count : NULL, 1, MPI_INT, &mine, 1, MPI_INT, 0, comm);
  struct evf_batch *buf = malloc((size_t)(mine ? mine : 1) * sizeof *buf);
  int rc = evf_comm_agree(comm, buf ? 0 : EVF_ENOMEM);
  if (rc) {
    free(buf);
    return rc;
  }
  MPI_Datatype t = batch_type();
  MPI_Scatterv(rank == 0 ? p->batches : NULL, rank == 0 ? p->batch_count : NULL,
               rank == 0 ? p->batch_displ : NULL, t, buf, mine, t, 0, comm);
  MPI_Type_free(&t);
  *batches = buf;
  *nbatches = (size_t)mine;
  return 0;
}

/* The kernel's boot id: processes that share it share CLOCK_MONOTONIC. "" if unreadable. */
static void boot_id(char id[40])
{
  memset(id, 0, 40);
  FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
  if (!f)
    return;
  if (!fgets(id, 40, f))
    id[0] = '\0';
  fclose(f);
  id[strcspn(id, "\n")] = '\0';
}

double evf_comm_start_clock(MPI_Comm comm)
{
  /* Each rank reads its clock as it leaves the barrier, but a rank the scheduler keeps off its
   * core then reads it a time slice late (milliseconds, on a shared core), and its records'
   * times would all look that much earlier than the other ranks'.  Ranks that share rank 0's
   * clock (the same kernel) therefore take the earliest of their reads as the common t0, so
   * their times compare exactly (and none is negative); a rank on another node keeps its own. */
  char mine[40], root[40];
  boot_id(mine);
  memcpy(root, mine, sizeof root);
  MPI_Bcast(root, (int)sizeof root, MPI_CHAR, 0, comm);
  int same = mine[0] != '\0' && strcmp(mine, root) == 0;
  MPI_Barrier(comm);
  double now = evf_clock_now(), t0 = same ? now : INFINITY;
  MPI_Allreduce(MPI_IN_PLACE, &t0, 1, MPI_DOUBLE, MPI_MIN, comm);
  return same ? t0 : now;
}

void evf_comm_gather_hosts(MPI_Comm comm, const char mine[EVF_HOST_LEN],
                           const unsigned char mask[EVF_CPUMASK_BYTES], char (*all)[EVF_HOST_LEN],
                           unsigned char (*all_masks)[EVF_CPUMASK_BYTES])
{
  MPI_Gather(mine, EVF_HOST_LEN, MPI_CHAR, all, EVF_HOST_LEN, MPI_CHAR, 0, comm);
  MPI_Gather(mask, EVF_CPUMASK_BYTES, MPI_UNSIGNED_CHAR, all_masks, EVF_CPUMASK_BYTES,
             MPI_UNSIGNED_CHAR, 0, comm);
}


int evf_comm_scatter_inputs(MPI_Comm comm, const struct evf_partition *p,
                            const struct evf_inputs *all, const struct evf_batch *batches,
                            size_t nbatches, struct evf_inputs *mine)
{
  int rank = evf_comm_rank(comm), size = evf_comm_size(comm);
  char *packed = NULL;
  int *counts = NULL, *displs = NULL, rc = 0;
  if (rank == 0) {
    counts = calloc((size_t)size, sizeof *counts);
    displs = calloc((size_t)size, sizeof *displs);
    rc = counts && displs ? evf_inputs_pack(all, p, &packed, counts, displs) : EVF_ENOMEM;
  }
  rc = evf_comm_agree(comm, rc);
  int len = 0;
  char *buf = NULL;
  if (rc == 0) {
    MPI_Scatter(counts, 1, MPI_INT, &len, 1, MPI_INT, 0, comm);
    if (rank != 0)
      buf = malloc(len ? (size_t)len : 1);
    rc = evf_comm_agree(comm, rank == 0 || buf ? 0 : EVF_ENOMEM);
  }
  if (rc == 0) {
    /* Rank 0 keeps its own share as pointers into its whole list: no copy, no self-message. */
    MPI_Scatterv(packed, counts, displs, MPI_CHAR, rank == 0 ? MPI_IN_PLACE : buf, len, MPI_CHAR,
                 0, comm);
    size_t n = 0;
    for (size_t b = 0; b < nbatches; b++)
      n += batches[b].count;
    rc = rank == 0 ? evf_inputs_view(mine, all, batches, nbatches)
                   : evf_inputs_adopt(mine, buf, (size_t)len, n);
    buf = NULL;
    rc = evf_comm_agree(comm, rc ? EVF_ENOMEM : 0);
  }
  free(buf);
  free(packed);
  free(counts);
  free(displs);
  return rc;
}

