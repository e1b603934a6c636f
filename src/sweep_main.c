/* evfarm-sweep's main: initialise MPI, run the sweep on MPI_COMM_WORLD, finalise. */
#include <mpi.h>
#include <stdio.h>

#include "evfarm/evfarm.h"
#include "sweep.h"

int main(int argc, char **argv)
{
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
    fprintf(stderr, "evfarm-sweep: MPI_Init failed\n");
    return EVF_EXIT_RUNTIME;
  }
  int code = evf_sweep_run(argc, argv, MPI_COMM_WORLD, stdout, stderr);
  MPI_Finalize();
  return code;
}
