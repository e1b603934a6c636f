/* evfarm's main: initialise MPI, run one job on MPI_COMM_WORLD, finalise. */
#define _GNU_SOURCE /* prctl */
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>

#include "evfarm/evfarm.h"

int main(int argc, char **argv)
{
  /* A rank whose launcher dies (mpirun killed with SIGKILL) gets SIGTERM and stops the way a
   * signal stops it (the journal written out), instead of running on unseen: a later --resume
   * must not share the journal with it. */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
    fprintf(stderr, "evfarm: MPI_Init failed\n");
    return EVF_EXIT_RUNTIME;
  }
  int code = evf_run(argc, argv, MPI_COMM_WORLD, stdout, stderr);
  MPI_Finalize();
  return code;
}
