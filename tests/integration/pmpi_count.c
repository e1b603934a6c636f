/* A PMPI shim for check_gather.py: preloaded into every rank (LD_PRELOAD), it counts what
 * crosses MPI -- the MPI_Igatherv calls and the bytes they move, the bytes of every
 * point-to-point send, and the bytes written by MPI_File_write_at -- and writes them at
 * MPI_Finalize to $EVF_PMPI_OUT/rank-R.txt as one line:
 * "igatherv CALLS SENT_BYTES RECV_BYTES p2p P2P_BYTES fileio FILE_BYTES".  It is MPI's profiling
 * interface: each wrapper counts, then calls the PMPI_ entry of the library. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static long long igatherv_calls, igatherv_sent, igatherv_recv, p2p_bytes, file_bytes;

static long long bytes_of(int count, MPI_Datatype t)
{
  int size = 0;
  PMPI_Type_size(t, &size);
  return (long long)count * size;
}

int MPI_Igatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                 const int recvcounts[], const int displs[], MPI_Datatype recvtype, int root,
                 MPI_Comm comm, MPI_Request *request)
{
  int rank, size;
  PMPI_Comm_rank(comm, &rank);
  PMPI_Comm_size(comm, &size);
  igatherv_calls++;
  igatherv_sent += bytes_of(sendcount, sendtype);
  if (rank == root)
    for (int r = 0; r < size; r++)
      igatherv_recv += bytes_of(recvcounts[r], recvtype);
  return PMPI_Igatherv(sendbuf, sendcount, sendtype, recvbuf, recvcounts, displs, recvtype, root,
                       comm, request);
}

int MPI_Isend(const void *buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm comm,
              MPI_Request *request)
{
  p2p_bytes += bytes_of(count, t);
  return PMPI_Isend(buf, count, t, dest, tag, comm, request);
}

int MPI_Send(const void *buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm comm)
{
  p2p_bytes += bytes_of(count, t);
  return PMPI_Send(buf, count, t, dest, tag, comm);
}

int MPI_File_write_at(MPI_File fh, MPI_Offset offset, const void *buf, int count,
                      MPI_Datatype t, MPI_Status *status)
{
  file_bytes += bytes_of(count, t);
  return PMPI_File_write_at(fh, offset, buf, count, t, status);
}

int MPI_Finalize(void)
{
  int rank = 0;
  PMPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const char *dir = getenv("EVF_PMPI_OUT");
  if (dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/rank-%d.txt", dir, rank);
    FILE *f = fopen(path, "w");
    if (f) {
      fprintf(f, "igatherv %lld %lld %lld p2p %lld fileio %lld\n", igatherv_calls,
              igatherv_sent, igatherv_recv, p2p_bytes, file_bytes);
      fclose(f);
    }
  }
  return PMPI_Finalize();
}
