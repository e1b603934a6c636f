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

void evf_comm_bcast_str(MPI_Comm comm, char *buf, size_t len)
{
  MPI_Bcast(buf, (int)len, MPI_CHAR, 0, comm);
  buf[len - 1] = '\0';
}

unsigned long long evf_comm_sum_u64(MPI_Comm comm, unsigned long long value)
{
  unsigned long long all = 0;
  MPI_Allreduce(&value, &all, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, comm);
  return all;
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
                            size_t nbatches, int ids, struct evf_inputs *mine)
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
                   : evf_inputs_adopt(mine, buf, (size_t)len, n, ids);
    buf = NULL;
    rc = evf_comm_agree(comm, rc ? EVF_ENOMEM : 0);
  }
  free(buf);
  free(packed);
  free(counts);
  free(displs);
  return rc;
}


int evf_comm_reduce_stats(MPI_Comm comm, struct evf_stats *a)
{
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  size_t nu = evf_stats_nu(a), nd = evf_stats_nd(a);
  uint64_t *u = malloc(2 * nu * sizeof *u);
  double *d = malloc(2 * nd * sizeof *d);
  double m[2 * EVF_STATS_NM];
  int nomem = !u || !d, any = 0;
  MPI_Allreduce(&nomem, &any, 1, MPI_INT, MPI_MAX, comm);
  if (any) {
    free(u);
    free(d);
    return EVF_ENOMEM;
  }
  evf_stats_export(a, u, d, m);
  MPI_Reduce(u, u + nu, (int)nu, MPI_UINT64_T, MPI_SUM, 0, comm);
  MPI_Reduce(d, d + nd, (int)nd, MPI_DOUBLE, MPI_SUM, 0, comm);
  MPI_Reduce(m, m + EVF_STATS_NM, EVF_STATS_NM, MPI_DOUBLE, MPI_MAX, 0, comm);
  if (rank == 0)
    evf_stats_import(a, u + nu, d + nd, m + EVF_STATS_NM);
  free(u);
  free(d);
  /* The CPU work per distinct delay: every other rank's table to rank 0, added to its own. */
  int n = (int)evf_stats_ndelays(a);
  int *counts = rank == 0 ? calloc((size_t)size, sizeof *counts) : NULL;
  int *displs = rank == 0 ? calloc((size_t)size, sizeof *displs) : NULL;
  MPI_Gather(&n, 1, MPI_INT, counts, 1, MPI_INT, 0, comm);
  long total = 0;
  for (int r = 0; rank == 0 && r < size; r++) {
    displs[r] = (int)total;
    total += r == 0 ? 0 : counts[r];
  }
  if (rank == 0)
    counts[0] = 0;
  uint64_t *io = malloc(((size_t)n + (size_t)total) * sizeof *io);
  double *cpu = malloc(((size_t)n + (size_t)total) * sizeof *cpu);
  nomem = !io || !cpu || (rank == 0 && (!counts || !displs)) || total > INT_MAX;
  MPI_Allreduce(&nomem, &any, 1, MPI_INT, MPI_MAX, comm);
  int rc = 0;
  if (!any) {
    evf_stats_delays(a, io, cpu);
    int send = rank == 0 ? 0 : n;
    MPI_Gatherv(io, send, MPI_UINT64_T, io + n, counts, displs, MPI_UINT64_T, 0, comm);
    MPI_Gatherv(cpu, send, MPI_DOUBLE, cpu + n, counts, displs, MPI_DOUBLE, 0, comm);
    if (rank == 0)
      rc = evf_stats_add_delays(a, io + n, cpu + n, (size_t)total);
  } else {
    rc = EVF_ENOMEM;
  }
  free(io);
  free(cpu);
  free(counts);
  free(displs);
  return rc;
}

void evf_comm_sum_u64s(MPI_Comm comm, uint64_t *v, int n)
{
  MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_UINT64_T, MPI_SUM, comm);
}

double evf_comm_max_named(MPI_Comm comm, double value, char *name, size_t cap)
{
  struct {
    double v;
    int rank;
  } mine = {value, evf_comm_rank(comm)}, all;
  MPI_Allreduce(&mine, &all, 1, MPI_DOUBLE_INT, MPI_MAXLOC, comm);
  MPI_Bcast(name, (int)cap, MPI_CHAR, all.rank, comm);
  name[cap - 1] = '\0';
  return all.v;
}

double evf_comm_max_double(MPI_Comm comm, double value)
{
  double all = value;
  MPI_Allreduce(&value, &all, 1, MPI_DOUBLE, MPI_MAX, comm);
  return all;
}

void evf_comm_gather_u64(MPI_Comm comm, unsigned long long value, unsigned long long *all)
{
  MPI_Gather(&value, 1, MPI_UNSIGNED_LONG_LONG, all, 1, MPI_UNSIGNED_LONG_LONG, 0, comm);
}
