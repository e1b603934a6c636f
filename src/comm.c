/* All MPI collectives of evfarm.  MPI errors keep the default MPI_ERRORS_ARE_FATAL handler: a
 * failed collective leaves the ranks unable to agree on anything, so aborting the job is the
 * only state that cannot hang. */
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

void evf_comm_gather_hosts(MPI_Comm comm, const char mine[EVF_HOST_LEN], int cpus,
                           char (*all)[EVF_HOST_LEN], int *all_cpus)
{
  MPI_Gather(mine, EVF_HOST_LEN, MPI_CHAR, all, EVF_HOST_LEN, MPI_CHAR, 0, comm);
  MPI_Gather(&cpus, 1, MPI_INT, all_cpus, 1, MPI_INT, 0, comm);
}

void evf_comm_gather_records(MPI_Comm comm, struct evf_record *records, int count,
                             const struct evf_partition *p)
{
  MPI_Datatype t;
  MPI_Type_contiguous((int)sizeof(struct evf_record), MPI_BYTE, &t);
  MPI_Type_commit(&t);
  if (evf_comm_rank(comm) == 0)
    MPI_Gatherv(MPI_IN_PLACE, count, t, records, p->task_count, p->task_displ, t, 0, comm);
  else
    MPI_Gatherv(records, count, t, NULL, NULL, NULL, t, 0, comm);
  MPI_Type_free(&t);
}
