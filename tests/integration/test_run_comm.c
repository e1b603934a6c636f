/* evf_run() runs on any communicator: under mpirun -np 4, split the world into two halves that
 * run different jobs at the same time, then every rank runs a job alone on MPI_COMM_SELF, then
 * the whole world runs a job with bad input.  Each result is checked against n(n-1)/2.  A job
 * must run on its own communicator with MPI_ERRORS_ARE_FATAL, leaving the caller's (whose
 * handler here is MPI_ERRORS_RETURN) alone: MPI_Comm_set_errhandler is wrapped (the profiling
 * interface) to see on which communicators the library sets which handler. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evfarm/evfarm.h"

static int failures;

/* What evf_run() did with error handlers: set one on the caller's communicator (it must not),
 * set MPI_ERRORS_ARE_FATAL on another one (its duplicate: it must). */
static MPI_Comm callers = MPI_COMM_NULL;
static int touched_callers, fatal_elsewhere;

int MPI_Comm_set_errhandler(MPI_Comm comm, MPI_Errhandler h)
{
  if (callers != MPI_COMM_NULL && comm == callers)
    touched_callers = 1;
  else if (callers != MPI_COMM_NULL && h == MPI_ERRORS_ARE_FATAL)
    fatal_elsewhere = 1;
  return PMPI_Comm_set_errhandler(comm, h);
}

#define EXPECT(cond, ...)                                         \
  do {                                                            \
    if (!(cond)) {                                                \
      failures++;                                                 \
      fprintf(stderr, "test_run_comm: " __VA_ARGS__);             \
      fputc('\n', stderr);                                        \
    }                                                             \
  } while (0)

/* Check a CSV records file: `n` tasks, ids 1..n in order, each value n(n-1)/2, status ok. */
static void check_csv(const char *path, unsigned n)
{
  FILE *f = fopen(path, "r");
  EXPECT(f != NULL, "%s: missing", path);
  if (!f)
    return;
  char line[512];
  unsigned rows = 0;
  EXPECT(fgets(line, sizeof line, f) && strncmp(line, "id,rank,", 8) == 0, "%s: no header", path);
  while (fgets(line, sizeof line, f)) {
    unsigned id, batch;
    int rank;
    char host[64];
    unsigned long long it, value;
    char status[32];
    double d[5];
    int got = sscanf(line, "%u,%d,%63[^,],%u,%llu,%llu,%lf,%lf,%lf,%lf,%lf,%31[^,],", &id, &rank, host,
                     &batch, &it, &value, &d[0], &d[1], &d[2], &d[3], &d[4], status);
    rows++;
    EXPECT(got == 12 && id == rows, "%s: bad row %u: %s", path, rows, line);
    EXPECT(value == it * (it ? it - 1 : 0) / 2, "%s: id %u: value %llu for %llu iterations", path,
           id, value, it);
    EXPECT(strcmp(status, "ok") == 0, "%s: id %u: status %s", path, id, status);
  }
  fclose(f);
  EXPECT(rows == n, "%s: %u rows, want %u", path, rows, n);
}

static int run(MPI_Comm comm, const char *outdir, const char *tag, const char *tasks,
               const char *extra)
{
  char out[1024], sum[1024];
  snprintf(out, sizeof out, "%s/split_%s.csv", outdir, tag);
  snprintf(sum, sizeof sum, "%s/split_%s.txt", outdir, tag);
  char *argv[] = {"evfarm", "--tasks", (char *)tasks, "--io-min", "0", "--io-max", "0.05", "--cpu-max", "1000",
                  "--output", out, (char *)extra, NULL};
  int argc = extra ? 12 : 11;
  int rank;
  MPI_Comm_rank(comm, &rank);
  FILE *o = rank == 0 ? fopen(sum, "w") : NULL;
  int code = evf_run(argc, argv, comm, o ? o : stdout, stderr);
  if (o)
    fclose(o);
  return code;
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  const char *outdir = argc > 1 ? argv[1] : ".";
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  /* Two halves, two different jobs at once; the caller's error handler is MPI_ERRORS_RETURN. */
  MPI_Comm half;
  MPI_Comm_split(MPI_COMM_WORLD, rank % 2, rank, &half);
  MPI_Comm_set_errhandler(half, MPI_ERRORS_RETURN);
  callers = half;
  char tag[32];
  snprintf(tag, sizeof tag, "half%d", rank % 2);
  int code = run(half, outdir, tag, rank % 2 ? "501" : "777", NULL);
  EXPECT(code == 0, "half %d: exit %d", rank % 2, code);
  callers = MPI_COMM_NULL;
  MPI_Errhandler h;
  MPI_Comm_get_errhandler(half, &h);
  EXPECT(h == MPI_ERRORS_RETURN && !touched_callers,
         "the job changed the error handler of the caller's communicator");
  EXPECT(fatal_elsewhere, "the job did not run on a duplicate with MPI_ERRORS_ARE_FATAL");
  MPI_Errhandler_free(&h);
  MPI_Comm_free(&half);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    char path[1024];
    snprintf(path, sizeof path, "%s/split_half0.csv", outdir);
    check_csv(path, 777);
    snprintf(path, sizeof path, "%s/split_half1.csv", outdir);
    check_csv(path, 501);
  }

  /* Every rank alone. */
  snprintf(tag, sizeof tag, "self%d", rank);
  code = run(MPI_COMM_SELF, outdir, tag, "123", "--batch-size=10");
  EXPECT(code == 0, "self %d: exit %d", rank, code);
  char path[1024];
  snprintf(path, sizeof path, "%s/split_self%d.csv", outdir, rank);
  check_csv(path, 123);

  /* Bad input on the world: every rank gets 2 back, nobody hangs -- also when only rank 0
   * can see the problem (it alone opens the output files). */
  char *bad[][4] = {
    {"evfarm", "--tasks", "-3", NULL},
    {"evfarm", "--output", "/nonexistent-evfarm-dir/r.csv", NULL},
    {"evfarm", "--json", (char *)outdir, NULL},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    code = evf_run(3, bad[k], MPI_COMM_WORLD, stdout, stderr);
    EXPECT(code == 2, "bad input %s %s: exit %d on rank %d", bad[k][1], bad[k][2], code, rank);
  }

  int all = 0;
  MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0)
    printf("test_run_comm: %d passed, %d failed\n", all ? 0 : 1, all ? 1 : 0);
  MPI_Finalize();
  return all ? 1 : 0;
}
