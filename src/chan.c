/* The channel (see chan.h): point-to-point messages on a private duplicate communicator, one
 * receive dispatch on each side, and an explicit state for each side of each pair of ranks.
 *
 * Other ranks -> rank 0: TAG_PROGRESS (counts, from the progress tick; at most one in flight),
 * TAG_REQUEST (counts; "deal me a batch": at most one outstanding), TAG_DRAIN (empty: this rank
 * drains; rank 0 then drains every rank), TAG_FINAL (counts and the rank's worst request
 * latency; its last message).  Records never travel here: they are gathered (gather.c).
 * Rank 0 -> a rank: TAG_DEAL (one batch, then the inputs of its tasks, NUL-terminated, back to
 * back), TAG_LIMIT (windows: the highest id that may start now, one unsigned long long; the last
 * one before the close admits every id), TAG_SEAL (windows: every id up to it has been dealt,
 * one unsigned long long, sent when a window more is wholly dealt: a rank's part of it is
 * complete once its tasks there end), TAG_CLOSE (empty: nothing more is dealt), TAG_DRAIN
 * (empty: drain now; nothing more is dealt either), TAG_BYE (empty: the answer to the final
 * report, the last message).
 * Turns (evf_chan_serve, task.h's struct evf_turn): TAG_TURN (r -> 0 -> s: an ASK, ANSWER or
 * NOTE, routed by rank 0 to the host name's owner or back to the requester), TAG_IDLE (r -> 0:
 * r is idle, with the ASKs it had read), TAG_END (0 -> r: every rank is idle and no turn is
 * open: the loops end).
 *
 * Rank 0 keeps one state per other rank (enum peer_state), every other rank one for itself
 * (enum self_state); both only move forward:
 *
 *   OPEN ----CLOSE----> SEALED ----DRAIN----> DRAINING ----FINAL/BYE----> FINAL (rank 0)
 *     \_________________DRAIN_______________/                             DONE  (the rank)
 *
 * OPEN: deals and limits may come.  SEALED: nothing more is dealt and the limit admits every
 * id.  DRAINING: told to drain (which seals it too).  FINAL: its final report is in (rank 0)
 * / sent (the rank), and the rank reads on up to the BYE.  Every message is taken by the one
 * dispatch of its side in every state (a drain order reaches a sealed or static rank), so no
 * state of one concern can mute another, and no message is left unreceived at the end.
 * Messages between two ranks arrive in order (MPI's non-overtaking rule; receives use
 * MPI_ANY_TAG), so a rank reads every deal before its close and rank 0 every request before
 * the final report. */
#include "chan.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "guard.h"
#include "owners.h"
#include "task.h"

enum { TAG_PROGRESS = 1, TAG_FINAL = 2, TAG_REQUEST = 3, TAG_DEAL = 4, TAG_CLOSE = 5,
       TAG_DRAIN = 7, TAG_LIMIT = 8, TAG_BYE = 9, TAG_SEAL = 10, TAG_TURN = 11, TAG_IDLE = 12,
       TAG_END = 13 };

/* A turn message on the wire: TURN_HDR int32s (type, requester, owner, seq, ticket, value,
 * robots_http, robots_curl, robots_gen), then an ASK's URL and its NUL. */
#define TURN_HDR 9

/* A turn message kept: waiting for the kind (a rank's mailbox), held by rank 0 (its owner's
 * batch is in the pool), or in flight (with its request). */
struct mail {
  struct mail *next;
  MPI_Request req;
  int len;
  char buf[]; /* TURN_HDR int32s, then the URL */
};

/* A report is six unsigned long longs: done, failed, in flight, (final reports) the worst
 * request latency in nanoseconds, and the kind's groups done and in progress. */
#define NREPORT 6
_Static_assert(sizeof(struct evf_progress_counts) == 5 * sizeof(unsigned long long),
               "progress counts travel as 5 unsigned long longs");

/* Rank 0's view of another rank. */
enum peer_state { PEER_OPEN, PEER_SEALED, PEER_DRAINING, PEER_FINAL };
/* Another rank's view of itself. */
enum self_state { SELF_OPEN, SELF_SEALED, SELF_DRAINING, SELF_FINAL, SELF_DONE };

struct peer {
  enum peer_state state;
  struct evf_progress_counts latest;
  unsigned long long limit_val, limit_sent;
  unsigned long long seal_val, seal_sent; /* the last "dealt up to" it was sent */
  /* What is in flight to it: each request completes before the next of its kind is sent. */
  MPI_Request deal_req, limit_req, close_req, drain_req, bye_req, seal_req;
  unsigned long long asks_sent;    /* turns asked of it */
  unsigned long long idle_asks;    /* its latest IDLE: the asks it had read then */
  int idle;                        /* it sent an IDLE */
  char *deal_buf;                  /* the deal in flight (deal_small or malloc'ed) */
  char deal_small[sizeof(struct evf_batch)];
};

struct evf_chan {
  MPI_Comm comm;                   /* private duplicate: never meets other traffic */
  int rank, size;
  unsigned long long total;        /* tasks of the whole job */
  unsigned long long limit;        /* the highest id that may start (windows) */
  unsigned long long last_id;      /* the limit that admits every id */
  unsigned long long window;       /* ids per gathered window (seals), or 0 */
  int drain_requested;             /* this rank must drain (its own, or an order) */
  /* rank 0 */
  struct peer *peers;              /* [size] (peers[0]: rank 0's own counts only) */
  int nfinal;                      /* peers in PEER_FINAL */
  int closing;                     /* nothing more will be dealt: seal each open peer once the
                                      limit admits every id (the last limit goes first) */
  int limits_pending;              /* a limit is still to be sent to some open peer */
  int seals_pending;               /* a seal is still to be sent to some open peer */
  int self_sealed;                 /* rank 0 took its last batch, or stopped dealing */
  const struct evf_partition *part;/* dynamic: the batches, by index; the pool is next..end */
  const struct evf_inputs *inputs; /* their inputs (kinds with an input file), or NULL */
  size_t next;                     /* the next batch to deal */
  int *owner;                      /* [nbatches]: the rank each batch went to */
  unsigned long long deals, requests;
  double max_latency;
  /* other ranks */
  enum self_state state;
  int can_ask;                     /* dynamic: requests get batches */
  int asked;                       /* a request is outstanding */
  int drain_sent;                  /* told rank 0 it drains */
  int has_deal;                    /* a deal came and waits for the feed: got, got_inputs */
  unsigned long long dealt;        /* every id up to it has been dealt (TAG_SEAL) */
  struct evf_batch got;
  const char *const *got_inputs;
  const uint32_t *got_ids;         /* host-affine plans: the id of each dealt position */
  int with_ids;                    /* deals carry each input's id (hostplan.h) */
  unsigned long long sending[NREPORT], asking[NREPORT];
  MPI_Request req, ask_req, drain_req; /* report, request, drain in flight */
  double asked_at, worst;          /* when the outstanding request went; worst latency */
  char **bufs;                     /* received inputs and their line arrays, kept to the end */
  size_t nbufs, capbufs;
  /* turns (evf_chan_serve) */
  int serve;
  int ended;                       /* every loop may end (rank 0: END sent; others: read) */
  struct mail *inbox, *inbox_tail; /* for this rank's kind */
  struct mail *taken;              /* the last one evf_chan_turn_next gave */
  struct mail *outbox;             /* sent, not yet known to be complete */
  struct evf_owners *owners;       /* rank 0 */
  struct evf_open_turns turns;     /* rank 0: turns asked and not yet ended */
  struct mail **held_at;           /* rank 0: asks whose name is in a batch not yet dealt, by
                                      the batch whose deal will say its owner (NULL: none
                                      yet; else part->nbatches lists) */
  size_t nheld;
  int self_idle, self_gone;        /* rank 0: its own loop is idle / has ended */
  int dealing_stopped;             /* rank 0: a drain, or its loop ended: the pool stays */
  unsigned long long asks_read;    /* others: asks read */
  unsigned long long idle_sent;    /* others: the asks read when the last IDLE went (+1) */
};

static void owners_dealt(struct evf_chan *c, size_t batch, int r);

static void seal_all(struct evf_chan *c);

struct evf_chan *evf_chan_new(MPI_Comm comm, unsigned long long total, int dynamic,
                              const struct evf_partition *part, const struct evf_inputs *inputs,
                              int ids, unsigned long long limit, unsigned long long last_id,
                              unsigned long long window)
{
  int gated = limit < last_id;
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const struct evf_partition *dyn = dynamic && rank == 0 ? part : NULL;
  struct evf_chan *c = calloc(1, sizeof *c);
  int ok = c != NULL;
  if (ok && rank == 0) {
    c->peers = calloc((size_t)size, sizeof *c->peers);
    ok = c->peers != NULL;
    if (ok && dyn) {
      c->owner = malloc((dyn->nbatches ? dyn->nbatches : 1) * sizeof *c->owner);
      ok = c->owner != NULL;
    }
  }
  int all_ok = 0;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm);
  if (!all_ok) {
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
  c->limit = limit;
  c->last_id = last_id;
  c->window = window;
  c->with_ids = ids;
  c->dealt = dynamic ? 0 : ULLONG_MAX;
  c->req = c->ask_req = c->drain_req = MPI_REQUEST_NULL;
  /* Static without windows: nothing will be dealt and no limit will come. */
  int sealed = !dynamic && !gated;
  c->state = sealed ? SELF_SEALED : SELF_OPEN;
  c->can_ask = dynamic;
  MPI_Comm_dup(comm, &c->comm);
  if (rank != 0)
    return c;
  for (int r = 0; r < size; r++) {
    struct peer *p = &c->peers[r];
    p->deal_req = p->limit_req = p->close_req = p->drain_req = p->bye_req = p->seal_req =
        MPI_REQUEST_NULL;
    p->limit_sent = limit;
    p->state = sealed ? PEER_SEALED : PEER_OPEN;
  }
  if (dyn) {
    c->part = dyn;
    c->inputs = inputs;
    /* The first share is what the plan gave (batch r to rank r, for the ranks that have one:
     * with windows, only as many ranks as the first window has batches); every other batch is
     * dealt.  The plan is the one source of which batches went out with the scatter. */
    while (c->next < (size_t)size && c->next < dyn->nbatches && dyn->batch_count[c->next] > 0)
      c->next++;
    for (size_t b = 0; b < c->next; b++)
      c->owner[b] = (int)b;
    c->seals_pending = window > 0; /* windows the first shares hold whole */
    if (c->next == dyn->nbatches) /* nothing left to deal */
      seal_all(c);
  } else {
    c->self_sealed = 1;
    if (gated)
      seal_all(c); /* once the limit admits every id */
  }
  return c;
}

unsigned long long evf_chan_total(const struct evf_chan *c)
{
  return c->total;
}

/* ---- rank 0 ---- */

/* Send rank r the current limit if it has an older one; `wait`: even if its previous limit is
 * still in flight (else try again later).  Returns 0 when r has the current limit. */
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

/* Rank 0: every id up to this has been dealt (batches are dealt in id order). */
static unsigned long long dealt_to(const struct evf_chan *c)
{
  if (!c->part || c->next >= c->part->nbatches)
    return c->last_id;
  return c->part->batches[c->next].first_id - 1;
}

/* Windows wholly dealt when every id up to `x` has been. */
static unsigned long long windows_dealt(const struct evf_chan *c, unsigned long long x)
{
  return x >= c->last_id ? ULLONG_MAX : x / c->window;
}

/* Seals go to open peers only (a sealed or draining one has had its last deal), when a window
 * more is wholly dealt than the last one each was told. */
static void send_seals(struct evf_chan *c)
{
  if (!c->seals_pending)
    return;
  c->seals_pending = 0;
  unsigned long long to = dealt_to(c);
  for (int r = 1; r < c->size; r++) {
    struct peer *p = &c->peers[r];
    if (p->state != PEER_OPEN || windows_dealt(c, p->seal_sent) >= windows_dealt(c, to))
      continue;
    int idle = 1;
    MPI_Test(&p->seal_req, &idle, MPI_STATUS_IGNORE);
    if (!idle) {
      c->seals_pending = 1;
      continue;
    }
    p->seal_val = p->seal_sent = to;
    MPI_Isend(&p->seal_val, 1, MPI_UNSIGNED_LONG_LONG, r, TAG_SEAL, c->comm, &p->seal_req);
  }
}

/* Limits go to open peers only: a sealed one has the last, a draining one starts nothing. */
static void send_limits(struct evf_chan *c)
{
  if (!c->limits_pending)
    return;
  c->limits_pending = 0;
  for (int r = 1; r < c->size; r++)
    if (c->peers[r].state == PEER_OPEN && send_limit(c, r, 0))
      c->limits_pending = 1;
}

/* OPEN -> SEALED: its last limit, then the close. */
static void seal(struct evf_chan *c, int r)
{
  struct peer *p = &c->peers[r];
  if (p->state != PEER_OPEN)
    return;
  send_limit(c, r, 1);
  p->state = PEER_SEALED;
  MPI_Isend(NULL, 0, MPI_BYTE, r, TAG_CLOSE, c->comm, &p->close_req);
}

/* Nothing more will be dealt: seal every open peer once the limit admits every id (until then
 * they wait for limits, not batches). */
static void seal_all(struct evf_chan *c)
{
  c->closing = 1;
  if (c->limit < c->last_id)
    return;
  for (int r = 1; r < c->size; r++)
    seal(c, r);
}

/* OPEN or SEALED -> DRAINING. */
static void order_drain(struct evf_chan *c, int r)
{
  struct peer *p = &c->peers[r];
  if (p->state != PEER_OPEN && p->state != PEER_SEALED)
    return;
  p->state = PEER_DRAINING;
  MPI_Isend(NULL, 0, MPI_BYTE, r, TAG_DRAIN, c->comm, &p->drain_req);
}

/* Deal the next batch to rank r (open), with its inputs. */
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
      len += evf_inputs_packed_size(c->inputs, b->first_id - 1 + k);
  p->deal_buf = len == sizeof *b ? p->deal_small : malloc(len);
  if (!p->deal_buf || len > INT_MAX)
    evf_guard_fatal("cannot pack a batch's inputs for a deal");
  memcpy(p->deal_buf, b, sizeof *b);
  size_t at = sizeof *b;
  if (c->inputs)
    for (uint32_t k = 0; k < b->count; k++)
      at += evf_inputs_put(c->inputs, b->first_id - 1 + k, p->deal_buf + at);
  MPI_Isend(p->deal_buf, (int)len, MPI_BYTE, r, TAG_DEAL, c->comm, &p->deal_req);
  owners_dealt(c, c->next, r);
  c->owner[c->next++] = r;
  c->deals++;
  c->seals_pending = c->window > 0;
  if (c->next == c->part->nbatches)
    seal_all(c);
}

static void turns_gone(struct evf_chan *c, int r);
static void held_flush(struct evf_chan *c);
static void receive_turn(struct evf_chan *c, const MPI_Status *st);
static void receive_idle(struct evf_chan *c, const MPI_Status *st);
static void check_end(struct evf_chan *c);
static void outbox_test(struct evf_chan *c);

/* A report (progress, request, final) from rank r. */
static void receive_report(struct evf_chan *c, const MPI_Status *st)
{
  int r = st->MPI_SOURCE;
  struct peer *p = &c->peers[r];
  unsigned long long v[NREPORT];
  MPI_Recv(v, NREPORT, MPI_UNSIGNED_LONG_LONG, r, st->MPI_TAG, c->comm, MPI_STATUS_IGNORE);
  if (p->state == PEER_FINAL)
    evf_guard_fatal("a message from a rank after its final report");
  p->latest = (struct evf_progress_counts){v[0], v[1], v[2], v[4], v[5]};
  if (st->MPI_TAG == TAG_REQUEST) {
    c->requests++;
    if (p->state != PEER_OPEN)
      return; /* crossed its close or its drain order: nothing to answer */
    if (c->part && c->next < c->part->nbatches)
      deal(c, r);
    else if (c->limit >= c->last_id)
      seal(c, r);
    /* else: its close comes with the last limit */
  } else if (st->MPI_TAG == TAG_FINAL) {
    if (v[3] * 1e-9 > c->max_latency)
      c->max_latency = v[3] * 1e-9;
    p->state = PEER_FINAL; /* from any state: a rank whose loop failed ends unsealed */
    c->nfinal++;
    turns_gone(c, r);
    MPI_Isend(NULL, 0, MPI_BYTE, r, TAG_BYE, c->comm, &p->bye_req);
  }
}

/* Rank 0's one receive dispatch: take in every message that has arrived, in order, by tag.  A
 * receive posted for the probed source and tag matches the probed message: it is the earliest
 * one not yet matched (MPI's order between two ranks; one thread receives). */
static void receive_all(struct evf_chan *c)
{
  send_limits(c);
  send_seals(c);
  outbox_test(c);
  for (;;) {
    MPI_Status st;
    int flag = 0;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, c->comm, &flag, &st);
    if (!flag) {
      check_end(c);
      return;
    }
    switch (st.MPI_TAG) {
    case TAG_DRAIN:
      MPI_Recv(NULL, 0, MPI_BYTE, st.MPI_SOURCE, TAG_DRAIN, c->comm, MPI_STATUS_IGNORE);
      c->drain_requested = 1; /* the drain itself starts from the caller (drain_check) */
      break;
    case TAG_PROGRESS:
    case TAG_REQUEST:
    case TAG_FINAL:
      receive_report(c, &st);
      break;
    case TAG_TURN:
      receive_turn(c, &st);
      break;
    case TAG_IDLE:
      receive_idle(c, &st);
      break;
    default:
      evf_guard_fatal("a message with an unknown tag on the channel");
    }
  }
}

static struct evf_progress_counts sum_counts(const struct evf_chan *c)
{
  struct evf_progress_counts sum = {0, 0, 0, 0, 0};
  for (int r = 0; r < c->size; r++) {
    sum.done += c->peers[r].latest.done;
    sum.failed += c->peers[r].latest.failed;
    sum.inflight += c->peers[r].latest.inflight;
    sum.groups_done += c->peers[r].latest.groups_done;
    sum.groups_active += c->peers[r].latest.groups_active;
  }
  return sum;
}

/* ---- other ranks ---- */

static void put_counts(unsigned long long *v, const struct evf_progress_counts *m, double extra)
{
  v[0] = m->done;
  v[1] = m->failed;
  v[2] = m->inflight;
  v[3] = (unsigned long long)(extra * 1e9);
  v[4] = m->groups_done;
  v[5] = m->groups_active;
}

/* Keep a received buffer to the end (inputs point into it). */
static void keep(struct evf_chan *c, char *buf)
{
  if (c->nbufs == c->capbufs) {
    size_t cap = c->capbufs ? 2 * c->capbufs : 16;
    char **b = realloc(c->bufs, cap * sizeof *b);
    if (!b)
      evf_guard_fatal("cannot receive a dealt batch");
    c->bufs = b;
    c->capbufs = cap;
  }
  c->bufs[c->nbufs++] = buf;
}

/* A deal: c->got and c->got_inputs, until the feed takes them. */
static void receive_deal(struct evf_chan *c, const MPI_Status *st)
{
  int len = 0;
  MPI_Get_count(st, MPI_BYTE, &len);
  if (c->has_deal || c->state != SELF_OPEN || (size_t)len < sizeof c->got)
    evf_guard_fatal("a deal that breaks the channel's rules");
  c->has_deal = 1;
  if ((size_t)len == sizeof c->got) {
    MPI_Recv(&c->got, len, MPI_BYTE, 0, TAG_DEAL, c->comm, MPI_STATUS_IGNORE);
    c->got_inputs = NULL;
    c->got_ids = NULL;
    return;
  }
  char *buf = malloc((size_t)len);
  if (!buf)
    evf_guard_fatal("cannot receive a dealt batch");
  keep(c, buf);
  MPI_Recv(buf, len, MPI_BYTE, 0, TAG_DEAL, c->comm, MPI_STATUS_IGNORE);
  memcpy(&c->got, buf, sizeof c->got);
  const char **line = malloc((c->got.count ? c->got.count : 1) * sizeof *line);
  uint32_t *ids = c->with_ids ? malloc((c->got.count ? c->got.count : 1) * sizeof *ids) : NULL;
  if (!line || (c->with_ids && !ids))
    evf_guard_fatal("cannot receive a dealt batch");
  keep(c, (char *)line);
  if (ids)
    keep(c, (char *)ids);
  if (evf_inputs_parse(buf + sizeof c->got, (size_t)len - sizeof c->got, c->got.count, line, ids))
    evf_guard_fatal("a dealt batch came with too few inputs");
  c->got_ids = ids;
  c->got_inputs = line;
}

/* The rank's one receive dispatch: take in everything rank 0 has sent, by tag, in any state up
 * to the BYE. */
static void receive_from_root(struct evf_chan *c)
{
  outbox_test(c);
  while (c->state != SELF_DONE) {
    MPI_Status st;
    int flag = 0;
    MPI_Iprobe(0, MPI_ANY_TAG, c->comm, &flag, &st);
    if (!flag)
      return;
    if (c->asked && st.MPI_TAG != TAG_LIMIT && st.MPI_TAG != TAG_SEAL &&
        st.MPI_TAG != TAG_TURN && st.MPI_TAG != TAG_END) { /* the answer (or what makes one
                                                             moot) */
      double lat = evf_clock_now() - c->asked_at;
      if (lat > c->worst)
        c->worst = lat;
      c->asked = 0;
    }
    switch (st.MPI_TAG) {
    case TAG_LIMIT:
      MPI_Recv(&c->limit, 1, MPI_UNSIGNED_LONG_LONG, 0, TAG_LIMIT, c->comm, MPI_STATUS_IGNORE);
      break;
    case TAG_SEAL:
      MPI_Recv(&c->dealt, 1, MPI_UNSIGNED_LONG_LONG, 0, TAG_SEAL, c->comm, MPI_STATUS_IGNORE);
      if (c->state != SELF_OPEN)
        evf_guard_fatal("a seal to a rank that is no longer open");
      break;
    case TAG_DEAL:
      receive_deal(c, &st);
      break;
    case TAG_CLOSE:
      MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_CLOSE, c->comm, MPI_STATUS_IGNORE);
      if (c->state == SELF_OPEN)
        c->state = SELF_SEALED;
      break;
    case TAG_DRAIN:
      MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_DRAIN, c->comm, MPI_STATUS_IGNORE);
      c->drain_requested = 1;
      if (c->state < SELF_DRAINING)
        c->state = SELF_DRAINING;
      break;
    case TAG_TURN:
      receive_turn(c, &st);
      break;
    case TAG_END:
      MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_END, c->comm, MPI_STATUS_IGNORE);
      c->ended = 1;
      break;
    case TAG_BYE:
      MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_BYE, c->comm, MPI_STATUS_IGNORE);
      if (c->state != SELF_FINAL)
        evf_guard_fatal("an answer to a final report that was not sent");
      c->state = SELF_DONE;
      break;
    default:
      evf_guard_fatal("a message with an unknown tag on the channel");
    }
  }
}

/* ---- both ---- */

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
    seal_all(c);
}

unsigned long long evf_chan_limit(const struct evf_chan *c)
{
  return c->limit;
}

unsigned long long evf_chan_sealed_to(const struct evf_chan *c)
{
  if (c->rank == 0)
    return c->self_sealed ? ULLONG_MAX : dealt_to(c);
  if (c->state != SELF_OPEN)
    return ULLONG_MAX; /* nothing more comes */
  /* A deal read but not yet taken by the feed is not this rank's yet: its ids are not sealed. */
  if (c->has_deal && c->got.first_id - 1 < c->dealt)
    return c->got.first_id - 1;
  return c->dealt;
}

int evf_chan_all_admitted(const struct evf_chan *c)
{
  return c->limit >= c->last_id;
}

int evf_chan_report(struct evf_chan *c, const struct evf_progress_counts *mine)
{
  int idle = 1;
  if (c->req != MPI_REQUEST_NULL)
    MPI_Test(&c->req, &idle, MPI_STATUS_IGNORE);
  if (!idle || c->state >= SELF_FINAL)
    return 0;
  put_counts(c->sending, mine, 0);
  MPI_Isend(c->sending, NREPORT, MPI_UNSIGNED_LONG_LONG, 0, TAG_PROGRESS, c->comm, &c->req);
  return 1;
}

struct evf_progress_counts evf_chan_update(struct evf_chan *c,
                                           const struct evf_progress_counts *mine)
{
  if (c->rank != 0) {
    evf_chan_report(c, mine);
    return *mine;
  }
  receive_all(c);
  c->peers[0].latest = *mine;
  return sum_counts(c);
}

int evf_chan_feed(struct evf_chan *c, const struct evf_progress_counts *mine, int hungry,
                  struct evf_batch *batch, const char *const **inputs, const uint32_t **ids)
{
  if (c->rank == 0) {
    receive_all(c);
    c->peers[0].latest = *mine;
    if (!hungry)
      return 0;
    if (!c->self_sealed && c->part && c->next < c->part->nbatches) {
      *batch = c->part->batches[c->next];
      *inputs = c->inputs ? c->inputs->line + batch->first_id - 1 : NULL;
      *ids = c->inputs && c->inputs->ids ? c->inputs->ids + batch->first_id - 1 : NULL;
      owners_dealt(c, c->next, 0);
      c->owner[c->next++] = 0;
      c->seals_pending = c->window > 0;
      if (c->next == c->part->nbatches)
        seal_all(c);
      return 1;
    }
    c->self_sealed = 1;
    seal_all(c);
    return -1;
  }
  receive_from_root(c);
  if (c->has_deal) { /* a deal read before a close is the feed's before the close is */
    c->has_deal = 0;
    *batch = c->got;
    *inputs = c->got_inputs;
    *ids = c->got_ids;
    return 1;
  }
  if (c->state != SELF_OPEN)
    return -1;
  if (hungry && c->can_ask && !c->asked) {
    MPI_Wait(&c->ask_req, MPI_STATUS_IGNORE);
    put_counts(c->asking, mine, 0);
    MPI_Isend(c->asking, NREPORT, MPI_UNSIGNED_LONG_LONG, 0, TAG_REQUEST, c->comm, &c->ask_req);
    c->asked = 1;
    c->asked_at = evf_clock_now();
  }
  return 0;
}

void evf_chan_drain(struct evf_chan *c)
{
  c->drain_requested = 1;
  if (c->rank != 0) {
    if (!c->drain_sent && c->state < SELF_FINAL) {
      MPI_Isend(NULL, 0, MPI_BYTE, 0, TAG_DRAIN, c->comm, &c->drain_req);
      c->drain_sent = 1;
    }
    return;
  }
  for (int r = 1; r < c->size; r++)
    order_drain(c, r);
  c->self_sealed = 1; /* nothing more is dealt */
  c->closing = 1;
  if (c->serve)
    held_flush(c);
}

int evf_chan_drain_requested(struct evf_chan *c)
{
  if (c->rank == 0)
    receive_all(c);
  else
    receive_from_root(c);
  return c->drain_requested;
}

int evf_chan_wait(struct evf_chan *c, const struct evf_progress_counts *mine, double until,
                  struct evf_progress_counts *all)
{
  if (c->rank != 0) {
    if (c->state < SELF_FINAL) {
      MPI_Wait(&c->req, MPI_STATUS_IGNORE);
      MPI_Wait(&c->ask_req, MPI_STATUS_IGNORE);
      MPI_Wait(&c->drain_req, MPI_STATUS_IGNORE);
      put_counts(c->sending, mine, c->worst);
      MPI_Send(c->sending, NREPORT, MPI_UNSIGNED_LONG_LONG, 0, TAG_FINAL, c->comm);
      c->state = SELF_FINAL;
    }
    /* Read what rank 0 still sends (a deal or a limit to a loop that failed, a drain order
     * that crossed the final report), up to its answer: nothing is left unreceived. */
    for (;;) {
      receive_from_root(c);
      if (c->state == SELF_DONE)
        break;
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, NULL);
    }
    *all = *mine;
    return 1;
  }
  if (!c->self_sealed) { /* rank 0's loop failed: deal nothing more, seal every rank now
                            (with windows, a rank still holding ids beyond the limit drains) */
    c->self_sealed = 1;
    c->closing = 1;
    for (int r = 1; r < c->size; r++)
      seal(c, r);
  }
  c->peers[0].latest = *mine;
  if (c->serve && !c->self_gone) { /* its kind serves no turn any more, nothing more is dealt */
    c->self_gone = c->self_idle = 1;
    turns_gone(c, 0);
    held_flush(c);
  }
  for (;;) {
    receive_all(c);
    *all = sum_counts(c);
    if (c->nfinal >= c->size - 1)
      return 1;
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
    for (int r = 0; r < c->size; r++) { /* all received: every rank read up to its BYE */
      struct peer *p = &c->peers[r];
      MPI_Wait(&p->deal_req, MPI_STATUS_IGNORE);
      MPI_Wait(&p->close_req, MPI_STATUS_IGNORE);
      MPI_Wait(&p->drain_req, MPI_STATUS_IGNORE);
      MPI_Wait(&p->limit_req, MPI_STATUS_IGNORE);
      MPI_Wait(&p->bye_req, MPI_STATUS_IGNORE);
      MPI_Wait(&p->seal_req, MPI_STATUS_IGNORE);
      if (p->deal_buf != p->deal_small)
        free(p->deal_buf);
    }
  for (struct mail *m = c->outbox, *next; m; m = next) { /* received: as above */
    next = m->next;
    MPI_Wait(&m->req, MPI_STATUS_IGNORE);
    free(m);
  }
  for (struct mail *lists[] = {c->inbox, c->taken}, **l = lists; l < lists + 2; l++)
    for (struct mail *m = *l, *next; m; m = next) {
      next = m->next;
      free(m);
    }
  for (size_t b = 0; c->held_at && b < c->part->nbatches; b++)
    for (struct mail *m = c->held_at[b], *next; m; m = next) {
      next = m->next;
      free(m);
    }
  free(c->held_at);
  evf_owners_free(c->owners);
  evf_open_turns_free(&c->turns);
  MPI_Comm_free(&c->comm);
  for (size_t i = 0; i < c->nbufs; i++)
    free(c->bufs[i]);
  free(c->bufs);
  free(c->peers);
  free(c->owner);
  free(c);
}

/* ---- turns (evf_chan_serve) ---- */

void evf_chan_serve(struct evf_chan *c, struct evf_owners *owners)
{
  c->serve = 1;
  c->owners = owners;
}

int evf_chan_ended(const struct evf_chan *c)
{
  return c->ended;
}

static struct mail *mail_new(int len)
{
  struct mail *m = malloc(sizeof *m + (size_t)len);
  if (!m)
    evf_guard_fatal("cannot keep a turn message");
  m->next = NULL;
  m->req = MPI_REQUEST_NULL;
  m->len = len;
  return m;
}

static struct mail *pack(const struct evf_turn *t)
{
  size_t ul = t->type == EVF_TURN_ASK && t->url ? strlen(t->url) + 1 : 0;
  struct mail *m = mail_new((int)(TURN_HDR * sizeof(int32_t) + ul));
  int32_t h[TURN_HDR] = {t->type,   t->requester,   (int32_t)t->owner,     (int32_t)t->seq,
                         (int32_t)t->ticket, t->value, t->robots_http, t->robots_curl,
                         (int32_t)t->robots_gen};
  memcpy(m->buf, h, sizeof h);
  if (ul)
    memcpy(m->buf + sizeof h, t->url, ul);
  return m;
}

static void unpack(const struct mail *m, struct evf_turn *t)
{
  int32_t h[TURN_HDR];
  memcpy(h, m->buf, sizeof h);
  *t = (struct evf_turn){.type = h[0], .requester = h[1], .owner = h[2], .seq = (uint32_t)h[3],
                         .ticket = (uint32_t)h[4], .value = h[5], .robots_http = h[6],
                         .robots_curl = h[7], .robots_gen = (uint32_t)h[8]};
  t->url = m->len > (int)sizeof h ? m->buf + sizeof h : NULL;
}

/* Send `m` (taken over) to rank `dest` with `tag`; freed once complete. */
static void post(struct evf_chan *c, struct mail *m, int dest, int tag)
{
  MPI_Isend(m->buf, m->len, MPI_BYTE, dest, tag, c->comm, &m->req);
  m->next = c->outbox;
  c->outbox = m;
}

static void outbox_test(struct evf_chan *c)
{
  for (struct mail **pm = &c->outbox; *pm;) {
    int done = 0;
    MPI_Test(&(*pm)->req, &done, MPI_STATUS_IGNORE);
    if (done) {
      struct mail *m = *pm;
      *pm = m->next;
      free(m);
    } else {
      pm = &(*pm)->next;
    }
  }
}

static void inbox_put(struct evf_chan *c, struct mail *m)
{
  m->next = NULL;
  if (c->inbox_tail)
    c->inbox_tail->next = m;
  else
    c->inbox = m;
  c->inbox_tail = m;
}

int evf_chan_turn_next(struct evf_chan *c, struct evf_turn *t)
{
  free(c->taken);
  c->taken = c->inbox;
  if (!c->taken)
    return 0;
  c->inbox = c->taken->next;
  if (!c->inbox)
    c->inbox_tail = NULL;
  c->taken->next = NULL;
  unpack(c->taken, t);
  return 1;
}

/* Rank 0: has rank r's loop ended (its final report in; rank 0's own: evf_chan_wait)? */
static int gone(const struct evf_chan *c, int r)
{
  return r == 0 ? c->self_gone : c->peers[r].state == PEER_FINAL;
}

/* Rank 0: `t` to rank `dest` (its own kind's inbox for rank 0), unless that rank's loop has
 * ended. */
static void deliver(struct evf_chan *c, int dest, const struct evf_turn *t)
{
  if (gone(c, dest))
    return;
  struct mail *m = pack(t);
  if (dest == 0)
    inbox_put(c, m);
  else
    post(c, m, dest, TAG_TURN);
}

static void answer(struct evf_chan *c, const struct evf_turn *ask, int owner, int value)
{
  struct evf_turn a = {.type = EVF_TURN_ANSWER, .requester = ask->requester, .owner = owner,
                       .seq = ask->seq, .value = value};
  deliver(c, ask->requester, &a);
}

/* Rank 0: an ASK (requester set): to its name's owner, held (answered HELD unless `again`:
 * held before), or answered here. */
static void route_ask(struct evf_chan *c, const struct evf_turn *t, int again)
{
  size_t batch = 0;
  int owner = evf_owners_lookup(c->owners, t->url ? t->url : "", t->requester, &batch);
  if (owner == EVF_OWNER_PENDING && c->dealing_stopped) {
    /* Its batch will not be dealt: in a drain the hop waits out its task's grace (not run:
     * --resume goes on); else (rank 0's loop failed) it fails as an unreachable host would. */
    if (!c->drain_requested)
      answer(c, t, owner, EVF_TURN_GONE);
    return;
  }
  if (owner == EVF_OWNER_PENDING) {
    if (!c->held_at && !(c->held_at = calloc(c->part->nbatches, sizeof *c->held_at)))
      evf_guard_fatal("cannot hold a turn asked");
    struct mail *m = pack(t);
    m->next = c->held_at[batch];
    c->held_at[batch] = m;
    c->nheld++;
    if (!again)
      answer(c, t, owner, EVF_TURN_HELD);
    return;
  }
  if (owner == t->requester) {
    answer(c, t, owner, EVF_TURN_YOURS);
    return;
  }
  if (gone(c, owner)) {
    answer(c, t, owner, EVF_TURN_GONE);
    return;
  }
  if (evf_open_turns_add(&c->turns, &(struct evf_open_turn){.requester = t->requester,
                                                             .owner = owner, .seq = t->seq}))
    evf_guard_fatal("cannot keep a turn asked");
  c->peers[owner].asks_sent++;
  deliver(c, owner, t);
}

/* Rank 0: a turn message from rank `from` (0: its own kind). */
static void route(struct evf_chan *c, struct evf_turn *t, int from)
{
  if (t->type == EVF_TURN_ASK) {
    t->requester = from;
    route_ask(c, t, 0);
    return;
  }
  if (t->type == EVF_TURN_ANSWER)
    t->owner = from;
  else if (t->type == EVF_TURN_NOTE)
    t->requester = from;
  else
    evf_guard_fatal("a turn message of an unknown type");
  struct evf_open_turn *ot = evf_open_turns_find(&c->turns, t->requester, t->seq);
  if (!ot || (t->type == EVF_TURN_ANSWER && ot->owner != from))
    evf_guard_fatal("a turn message for no turn asked");
  if (t->type == EVF_TURN_ANSWER) {
    int grant = t->value == EVF_TURN_GRANT;
    ot->granted = grant;
    ot->ticket = t->ticket;
    if (gone(c, t->requester)) { /* nobody will use it: it ends unsent */
      if (grant) {
        struct evf_turn n = {.type = EVF_TURN_NOTE, .requester = t->requester, .owner = from,
                             .seq = t->seq, .ticket = t->ticket, .value = EVF_TURN_UNSENT};
        deliver(c, from, &n);
      }
      evf_open_turns_remove(&c->turns, ot);
      return;
    }
    deliver(c, t->requester, t);
    if (!grant)
      evf_open_turns_remove(&c->turns, ot);
    return;
  }
  t->owner = ot->owner;
  deliver(c, ot->owner, t); /* dropped when the owner has gone */
  if (t->value != EVF_TURN_BEGUN)
    evf_open_turns_remove(&c->turns, ot);
}

/* Rank 0: rank r's loop has ended.  Turns it owes and has not granted are answered GONE; turns
 * it was granted end unsent at their owners; its held asks are dropped. */
static void turns_gone(struct evf_chan *c, int r)
{
  if (!c->serve)
    return;
  for (size_t i = 0; i < c->turns.cap;) { /* a removal may move another turn into slot i */
    struct evf_open_turn *ot = &c->turns.slot[i];
    if (!ot->used) {
      i++;
    } else if (ot->owner == r && !ot->granted) {
      struct evf_turn ask = {.requester = ot->requester, .seq = ot->seq};
      answer(c, &ask, r, EVF_TURN_GONE);
      evf_open_turns_remove(&c->turns, ot);
    } else if (ot->requester == r && ot->granted) {
      struct evf_turn n = {.type = EVF_TURN_NOTE, .requester = r, .owner = ot->owner,
                           .seq = ot->seq, .ticket = ot->ticket, .value = EVF_TURN_UNSENT};
      deliver(c, ot->owner, &n);
      evf_open_turns_remove(&c->turns, ot);
    } else {
      i++;
    }
  }
  for (size_t b = 0; c->nheld && b < c->part->nbatches; b++)
    for (struct mail **pm = &c->held_at[b]; *pm;) {
      struct evf_turn t;
      unpack(*pm, &t);
      if (t.requester == r) {
        struct mail *m = *pm;
        *pm = m->next;
        free(m);
        c->nheld--;
      } else {
        pm = &(*pm)->next;
      }
    }
  if (r == 0)
    for (struct mail *m = c->inbox, *next; m; m = next) {
      next = m->next;
      free(m);
    }
  if (r == 0)
    c->inbox = c->inbox_tail = NULL;
}

/* Rank 0: the asks held for batch b, routed again in the order they came (one still pending
 * is held again, unanswered). */
static void reroute_held(struct evf_chan *c, size_t b)
{
  if (!c->nheld || !c->held_at[b])
    return;
  struct mail *held = NULL;
  for (struct mail *m = c->held_at[b], *next; m; m = next) { /* newest first: reversed */
    next = m->next;
    m->next = held;
    held = m;
    c->nheld--;
  }
  c->held_at[b] = NULL;
  while (held) {
    struct mail *m = held;
    held = m->next;
    struct evf_turn t;
    unpack(m, &t);
    route_ask(c, &t, 1);
    free(m);
  }
}

/* Rank 0: dealing has stopped with batches left in the pool: the asks held for them go as
 * route_ask() says for such an ask now. */
static void held_flush(struct evf_chan *c)
{
  c->dealing_stopped = 1;
  for (size_t b = 0; c->nheld && b < c->part->nbatches; b++)
    reroute_held(c, b);
}

/* Rank 0: batch `batch` went to rank r: the asks held for it go on. */
static void owners_dealt(struct evf_chan *c, size_t batch, int r)
{
  if (!c->owners)
    return;
  evf_owners_dealt(c->owners, &c->part->batches[batch], r);
  reroute_held(c, batch);
}

void evf_chan_turn_send(struct evf_chan *c, const struct evf_turn *t)
{
  if (c->rank == 0) {
    struct evf_turn x = *t;
    route(c, &x, 0);
    return;
  }
  if (c->state >= SELF_FINAL)
    return;
  post(c, pack(t), 0, TAG_TURN);
}

static void receive_turn(struct evf_chan *c, const MPI_Status *st)
{
  int len = 0;
  MPI_Get_count(st, MPI_BYTE, &len);
  if (len < (int)(TURN_HDR * sizeof(int32_t)) || !c->serve)
    evf_guard_fatal("a turn message that breaks the channel's rules");
  struct mail *m = mail_new(len);
  MPI_Recv(m->buf, len, MPI_BYTE, st->MPI_SOURCE, TAG_TURN, c->comm, MPI_STATUS_IGNORE);
  if (len > (int)(TURN_HDR * sizeof(int32_t)) && m->buf[len - 1] != '\0')
    evf_guard_fatal("a turn message that breaks the channel's rules");
  if (c->rank == 0) {
    struct evf_turn t;
    unpack(m, &t);
    if (gone(c, st->MPI_SOURCE))
      evf_guard_fatal("a message from a rank after its final report");
    route(c, &t, st->MPI_SOURCE);
    free(m);
    return;
  }
  struct evf_turn t;
  unpack(m, &t);
  if (t.type == EVF_TURN_ASK)
    c->asks_read++;
  if (c->state >= SELF_FINAL) { /* its loop has ended: rank 0 answers for it */
    free(m);
    return;
  }
  inbox_put(c, m);
}

static void receive_idle(struct evf_chan *c, const MPI_Status *st)
{
  unsigned long long v = 0;
  MPI_Recv(&v, 1, MPI_UNSIGNED_LONG_LONG, st->MPI_SOURCE, TAG_IDLE, c->comm, MPI_STATUS_IGNORE);
  struct peer *p = &c->peers[st->MPI_SOURCE];
  if (p->state == PEER_FINAL || !c->serve)
    evf_guard_fatal("an idle report that breaks the channel's rules");
  p->idle = 1;
  p->idle_asks = v;
}

void evf_chan_idle(struct evf_chan *c, int idle)
{
  if (!c->serve)
    return;
  if (c->rank == 0) {
    c->self_idle = idle;
    check_end(c);
    return;
  }
  /* An idle rank becomes busy again only by reading an ask: one report per number of asks. */
  if (!idle || c->inbox || c->state >= SELF_FINAL || c->idle_sent == c->asks_read + 1)
    return;
  c->idle_sent = c->asks_read + 1;
  struct mail *m = mail_new((int)sizeof(unsigned long long));
  unsigned long long v = c->asks_read;
  memcpy(m->buf, &v, sizeof v);
  post(c, m, 0, TAG_IDLE);
}

/* Rank 0: every rank idle as of the asks it was sent, and no turn open or held: no rank can
 * ask or owe a turn any more, so every loop may end. */
static void check_end(struct evf_chan *c)
{
  if (!c->serve || c->ended || !c->self_idle || c->inbox || c->turns.n || c->nheld)
    return;
  for (int r = 1; r < c->size; r++) {
    const struct peer *p = &c->peers[r];
    if (p->state != PEER_FINAL && !(p->idle && p->idle_asks == p->asks_sent))
      return;
  }
  c->ended = 1;
  for (int r = 1; r < c->size; r++)
    if (c->peers[r].state != PEER_FINAL)
      post(c, mail_new(0), r, TAG_END);
}
