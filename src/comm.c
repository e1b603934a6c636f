/* All MPI calls of evfarm.  A job runs on a duplicate of the caller's communicator with
 * MPI_ERRORS_ARE_FATAL (evf_comm_dup_fatal): a failed collective leaves the ranks unable to
 * agree on anything, so aborting the job is the only state that cannot hang, whatever error
 * handler the caller chose for its own communicator. */
#include "comm.h"

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "error.h"

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

enum { TAG_PROGRESS = 1, TAG_FINAL = 2 };

struct evf_progress {
  MPI_Comm comm;                   /* private duplicate: progress never meets other traffic */
  int rank, size;
  unsigned long long total;        /* tasks of the whole job */
  struct evf_progress_counts *latest; /* rank 0: the latest counts each rank reported */
  int finals;                      /* rank 0: final reports received */
  struct evf_progress_counts sending; /* other ranks: the counts in flight */
  MPI_Request req;                 /* other ranks: the report in flight, or MPI_REQUEST_NULL */
  int final_sent;                  /* other ranks: the final report went */
};

/* A report is its three counts as unsigned long longs. */
#define NCOUNTS 3
_Static_assert(sizeof(struct evf_progress_counts) == NCOUNTS * sizeof(unsigned long long),
               "progress counts travel as 3 unsigned long longs");

struct evf_progress *evf_comm_progress_new(MPI_Comm comm, unsigned long long local_total)
{
  struct evf_progress *p = calloc(1, sizeof *p);
  int rank = evf_comm_rank(comm), size = evf_comm_size(comm);
  if (p && rank == 0 && !(p->latest = calloc((size_t)size, sizeof *p->latest))) {
    free(p);
    p = NULL;
  }
  if (evf_comm_agree(comm, p ? 0 : EVF_ENOMEM)) {
    if (p)
      free(p->latest);
    free(p);
    return NULL;
  }
  p->rank = rank;
  p->size = size;
  p->req = MPI_REQUEST_NULL;
  MPI_Allreduce(&local_total, &p->total, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, comm);
  MPI_Comm_dup(comm, &p->comm);
  return p;
}

unsigned long long evf_comm_progress_total(const struct evf_progress *p)
{
  return p->total;
}

/* Rank 0: take in every report that has arrived. */
static void progress_receive(struct evf_progress *p)
{
  for (;;) {
    MPI_Status st;
    int flag = 0;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, p->comm, &flag, &st);
    if (!flag)
      return;
    struct evf_progress_counts v;
    MPI_Recv(&v, NCOUNTS, MPI_UNSIGNED_LONG_LONG, st.MPI_SOURCE, st.MPI_TAG, p->comm,
             MPI_STATUS_IGNORE);
    p->latest[st.MPI_SOURCE] = v;
    p->finals += st.MPI_TAG == TAG_FINAL;
  }
}

static struct evf_progress_counts progress_sum(const struct evf_progress *p)
{
  struct evf_progress_counts sum = {0, 0, 0};
  for (int r = 0; r < p->size; r++) {
    sum.done += p->latest[r].done;
    sum.failed += p->latest[r].failed;
    sum.inflight += p->latest[r].inflight;
  }
  return sum;
}

struct evf_progress_counts evf_comm_progress_update(struct evf_progress *p,
                                                    const struct evf_progress_counts *mine)
{
  if (p->rank != 0) {
    int idle = 1;
    if (p->req != MPI_REQUEST_NULL)
      MPI_Test(&p->req, &idle, MPI_STATUS_IGNORE);
    if (idle) {
      p->sending = *mine;
      MPI_Isend(&p->sending, NCOUNTS, MPI_UNSIGNED_LONG_LONG, 0, TAG_PROGRESS, p->comm, &p->req);
    }
    return *mine;
  }
  progress_receive(p);
  p->latest[0] = *mine;
  return progress_sum(p);
}

int evf_comm_progress_wait(struct evf_progress *p, const struct evf_progress_counts *mine,
                           double until, struct evf_progress_counts *all)
{
  if (p->rank != 0) {
    if (!p->final_sent) {
      MPI_Wait(&p->req, MPI_STATUS_IGNORE);
      p->sending = *mine;
      MPI_Send(&p->sending, NCOUNTS, MPI_UNSIGNED_LONG_LONG, 0, TAG_FINAL, p->comm);
      p->final_sent = 1;
    }
    *all = *mine;
    return 1;
  }
  p->latest[0] = *mine;
  for (;;) {
    progress_receive(p);
    *all = progress_sum(p);
    if (p->finals >= p->size - 1)
      return 1;
    if (evf_clock_now() >= until)
      return 0;
    struct timespec ts = {0, 1000000}; /* an idle rank 0 sleeps between polls */
    nanosleep(&ts, NULL);
  }
}

void evf_comm_progress_free(struct evf_progress *p)
{
  if (!p)
    return;
  MPI_Comm_free(&p->comm);
  free(p->latest);
  free(p);
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

double evf_comm_start_clock(MPI_Comm comm)
{
  MPI_Barrier(comm);
  return evf_clock_now();
}

void evf_comm_gather_hosts(MPI_Comm comm, const char mine[EVF_HOST_LEN],
                           const unsigned char mask[EVF_CPUMASK_BYTES], char (*all)[EVF_HOST_LEN],
                           unsigned char (*all_masks)[EVF_CPUMASK_BYTES])
{
  MPI_Gather(mine, EVF_HOST_LEN, MPI_CHAR, all, EVF_HOST_LEN, MPI_CHAR, 0, comm);
  MPI_Gather(mask, EVF_CPUMASK_BYTES, MPI_UNSIGNED_CHAR, all_masks, EVF_CPUMASK_BYTES,
             MPI_UNSIGNED_CHAR, 0, comm);
}

void evf_comm_gather_records(MPI_Comm comm, void *records, size_t rec_size, int count,
                             const struct evf_partition *p)
{
  MPI_Datatype t;
  MPI_Type_contiguous((int)rec_size, MPI_BYTE, &t);
  MPI_Type_commit(&t);
  if (evf_comm_rank(comm) == 0)
    MPI_Gatherv(MPI_IN_PLACE, count, t, records, p->task_count, p->task_displ, t, 0, comm);
  else
    MPI_Gatherv(records, count, t, NULL, NULL, NULL, t, 0, comm);
  MPI_Type_free(&t);
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
