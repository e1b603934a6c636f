/* evfarm's main: initialise MPI, run one job on MPI_COMM_WORLD, finalise. */
#include <mpi.h>
#include <stdio.h>

#include "evfarm/evfarm.h"

int main(int argc, char **argv)
{
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
    fprintf(stderr, "evfarm: MPI_Init failed\n");
    return EVF_EXIT_RUNTIME;
  }
  int code = evf_run(argc, argv, MPI_COMM_WORLD, stdout, stderr);
  MPI_Finalize();
  return code;
}
