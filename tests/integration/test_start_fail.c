/* A rank that cannot start its loop is reported before t0, not after the other ranks' whole
 * workload.  Under mpirun -np 2, rank 1 limits its address space (RLIMIT_AS) so that its
 * records fit but its task slots do not; the job's tasks would take 30 s each.  Every rank
 * must return 3 within seconds, and rank 1 must say what it could not allocate.  (Static: under
 * dynamic scheduling rank 1 would reserve room for every record it could be dealt, and say
 * that.)
 * (Not run under AddressSanitizer, which needs terabytes of address space.) */
#define _GNU_SOURCE
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "evfarm/evfarm.h"

static long vm_bytes(void)
{
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmSize: %ld kB", &kib) == 1)
      break;
  if (f)
    fclose(f);
  return kib * 1024;
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  int rank, size, failures = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  /* Warm up the paths the job's collectives take, so their buffers exist before the limit. */
  int x = 1, y = 0;
  MPI_Allreduce(&x, &y, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  MPI_Barrier(MPI_COMM_WORLD);

  const long tasks = 2000000, records = tasks / 2 * 64; /* rank 1's records: 64 MB */
  if (rank == 1) {
    long vm = vm_bytes();
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = (rlim_t)(vm + records + 40L * 1024 * 1024);
    if (vm <= 0 || setrlimit(RLIMIT_AS, &rl) != 0) {
      fprintf(stderr, "test_start_fail: cannot limit the address space\n");
      failures++;
    }
  }
  char *args[] = {"evfarm", "--tasks", "2000000", "--inflight", "0", "--io-min", "30",
                  "--io-max", "30", "--cpu-max", "0", "--progress", "0", "--quiet", "--schedule", "static", NULL};
  char *text = NULL;
  size_t len = 0;
  FILE *err = open_memstream(&text, &len);
  double t = MPI_Wtime();
  int code = evf_run(16, args, MPI_COMM_WORLD, stdout, err);
  double elapsed = MPI_Wtime() - t;
  fclose(err);
  if (code != EVF_EXIT_RUNTIME) {
    fprintf(stderr, "test_start_fail: rank %d: exit code %d, want 3\n", rank, code);
    failures++;
  }
  if (elapsed > 15) {
    fprintf(stderr, "test_start_fail: rank %d: returned after %.1f s: the failure was not "
                    "reported before the run\n", rank, elapsed);
    failures++;
  }
  if (rank == 1 && !strstr(text, "evfarm: rank 1: cannot allocate 1000000 task slots")) {
    fprintf(stderr, "test_start_fail: rank 1 said: '%s'\n", text);
    failures++;
  }
  if (rank != 1 && len != 0) {
    fprintf(stderr, "test_start_fail: rank %d said: '%s'\n", rank, text);
    failures++;
  }
  free(text);
  int all = 0;
  MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0)
    printf("test_start_fail: %s (%.2f s)\n", all ? "FAILED" : "passed", elapsed);
  MPI_Finalize();
  return all ? 1 : 0;
}
