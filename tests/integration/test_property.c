/* The property test's runner: many jobs in one mpirun, each on the first np ranks of the world
 * (evf_run() on a sub-communicator), so a few hundred settings cost one launch.
 *   usage: test_property SETTINGS OUTDIR DEADLINE_S
 * SETTINGS has one job a line: "NP ARG ARG ..." (evfarm's options, separated by blanks).  Job k
 * (from 0) writes its records to OUTDIR/prop-k.csv and its exit code to OUTDIR/prop-k.code
 * and its seconds (rank 0 of the job).  Every job runs under a deadline (alarm): one that has not ended within
 * DEADLINE_S seconds is a hang, reported by its line, and the process exits 124 (mpirun ends
 * the others).  Ranks outside a job wait asleep (Ibarrier + nanosleep), off the cores the job
 * needs.  The checks against the oracle are check_property.py's. */
#define _GNU_SOURCE
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evfarm/evfarm.h"

#define MAX_ARGS 64

static char hung_msg[5120];

static void on_alarm(int sig)
{
  (void)sig;
  ssize_t w = write(2, hung_msg, strlen(hung_msg));
  (void)w;
  _exit(124);
}

static void quiet_barrier(MPI_Comm comm)
{
  MPI_Request req;
  int done = 0;
  MPI_Ibarrier(comm, &req);
  while (MPI_Test(&req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done) {
    struct timespec ts = {0, 500000};
    nanosleep(&ts, NULL);
  }
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc != 4) {
    if (rank == 0)
      fprintf(stderr, "usage: test_property SETTINGS OUTDIR DEADLINE_S\n");
    MPI_Finalize();
    return 2;
  }
  unsigned deadline = (unsigned)atoi(argv[3]);
  FILE *f = fopen(argv[1], "r");
  if (!f) {
    perror(argv[1]);
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  FILE *devnull = fopen("/dev/null", "w");
  signal(SIGALRM, on_alarm);
  char line[4096];
  int k = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    snprintf(hung_msg, sizeof hung_msg,
             "test_property: job %d did not end within %u s (a hang): %s\n", k, deadline, line);
    char *args[MAX_ARGS + 4];
    int n = 0;
    char *save = NULL;
    char *tok = strtok_r(line, " ", &save);
    int np = tok ? atoi(tok) : 0;
    args[n++] = "evfarm";
    while ((tok = strtok_r(NULL, " ", &save)) && n < MAX_ARGS)
      args[n++] = tok;
    char out[1024];
    snprintf(out, sizeof out, "%s/prop-%d.csv", argv[2], k);
    args[n++] = "--output";
    args[n++] = out;
    args[n] = NULL;
    if (np < 1 || np > size) {
      if (rank == 0)
        fprintf(stderr, "test_property: job %d wants %d ranks of %d\n", k, np, size);
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
    MPI_Comm sub;
    MPI_Comm_split(MPI_COMM_WORLD, rank < np ? 0 : MPI_UNDEFINED, rank, &sub);
    if (sub != MPI_COMM_NULL) {
      alarm(deadline);
      double t = MPI_Wtime();
      int code = evf_run(n, args, sub, devnull, stderr);
      alarm(0);
      if (rank == 0) {
        char path[1100];
        snprintf(path, sizeof path, "%s/prop-%d.code", argv[2], k);
        FILE *c = fopen(path, "w");
        if (c) {
          fprintf(c, "%d %.3f\n", code, MPI_Wtime() - t);
          fclose(c);
        }
      }
      MPI_Comm_free(&sub);
    }
    quiet_barrier(MPI_COMM_WORLD);
    k++;
  }
  fclose(f);
  fclose(devnull);
  MPI_Finalize();
  return 0;
}
