/* evfarm-sweep: one job per size and repetition on sub-communicators, every summary to one JSON
 * file and one CSV table (see sweep.h). */
#include "sweep.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "comm.h"
#include "error.h"
#include "evfarm/evfarm.h"
#include "job.h"
#include "output.h"
#include "partition.h"
#include "placement.h"
#include "report.h"

#define MAX_SIZES 64

/* Workload presets: evfarm options applied before the user's own.  "cpu" makes the CPU phase
 * dominate (about 1 ms of CPU per task after at most 50 ms of I/O), so scaling shows. */
struct preset {
  const char *name;
  const char *args[10];     /* NULL-terminated */
  uint32_t strong_tasks;    /* default total tasks in strong mode */
  uint32_t weak_per_rank;   /* default tasks per rank in weak mode */
};

static const struct preset presets[] = {
  {"default", {NULL}, 10000, 5000},
  {"cpu", {"--io-min", "0", "--io-max", "0.05", "--cpu-min", "2000000", "--cpu-max", "4000000"},
   2000, 1000},
};

struct sweep_options {
  int strong;                /* 1: fixed total tasks; 0: fixed tasks per rank */
  int by_nodes;              /* sizes are node counts, not rank counts */
  int sizes[MAX_SIZES];
  int nsizes;                /* 0: powers of two up to the world (or node count), and it */
  uint32_t tasks;            /* strong: total tasks (0: the preset's) */
  uint32_t tasks_per_rank;   /* weak: tasks per rank (0: the preset's) */
  uint32_t warmup, reps;
  const char *out;           /* prefix of PREFIX.json and PREFIX.csv */
  const struct preset *preset;
  struct evf_options job;    /* evfarm options after "--", preset first */
};

static void usage(FILE *out)
{
  fputs("Usage: mpirun -np RANKS evfarm-sweep [OPTION]... [-- EVFARM-OPTION...]\n"
        "Run the same evfarm workload at a series of sizes inside one mpirun (or allocation):\n"
        "each size runs on the first ranks (or the ranks of the first nodes).  Warm-up rounds\n"
        "then measured rounds each run every size, smallest first, so a drifting machine speed\n"
        "weighs on all sizes alike.  Writes PREFIX.json (every run's summary) and PREFIX.csv\n"
        "(one row per measured run); scripts/evfarm-report draws the report from them.\n"
        "\nOptions:\n"
        "  --mode MODE          strong (same total tasks at every size) or weak (same tasks\n"
        "                       per rank) (default strong)\n"
        "  --sizes LIST         rank counts, e.g. 1,2,4 (default: 1, 2, 4, ... up to all\n"
        "                       ranks, and all ranks)\n"
        "  --nodes LIST         node counts instead: each size uses every rank of its first\n"
        "                       nodes, in rank order\n"
        "  --tasks N            strong mode: tasks per run (default: the preset's; 10000,\n"
        "                       cpu 2000)\n"
        "  --tasks-per-rank M   weak mode: tasks per rank (default: the preset's; 5000, cpu\n"
        "                       1000)\n"
        "  --warmup W           unmeasured rounds before the measured ones (default 1)\n"
        "  --reps R             measured rounds, one run of every size each (default 3)\n"
        "  --preset NAME        default (the simulated crawler: 0.2-1.0 s of I/O, I/O-bound\n"
        "                       beyond a few ranks) or cpu (0-50 ms of I/O, 2-4 million\n"
        "                       iterations per task: CPU-bound, so scaling shows) (default\n"
        "                       default)\n"
        "  --out PREFIX         output files PREFIX.json and PREFIX.csv (default sweep)\n"
        "  --help               print this help and exit\n"
        "\nEvfarm options after -- apply to every run (not --tasks, --output or --json, which\n"
        "the sweep sets).  Exit status as evfarm's: 0 all tasks ok, 1 some task failed, 2 bad\n"
        "input, 3 runtime error.\n",
        out);
}

static int parse_list(const char *name, const char *s, int *v, int *n, char *msg)
{
  char buf[512];
  if (strlen(s) >= sizeof buf)
    return evf_seterr(msg, EVF_EUSAGE, "--%s: list too long", name);
  strcpy(buf, s);
  *n = 0;
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    uint64_t x;
    if (*n == MAX_SIZES)
      return evf_seterr(msg, EVF_EUSAGE, "--%s: more than %d sizes", name, MAX_SIZES);
    int rc = evf_cli_parse_uint(name, tok, 1, 1 << 30, &x, msg);
    if (rc)
      return rc;
    if (*n && (int)x <= v[*n - 1])
      return evf_seterr(msg, EVF_EUSAGE, "--%s: sizes must increase ('%s')", name, s);
    v[(*n)++] = (int)x;
  }
  if (*n == 0)
    return evf_seterr(msg, EVF_EUSAGE, "--%s: empty list", name);
  return 0;
}

static int parse(int argc, char **argv, struct sweep_options *o, int *help, char *msg)
{
  memset(o, 0, sizeof *o);
  o->strong = 1;
  o->warmup = 1;
  o->reps = 3;
  o->out = "sweep";
  o->preset = &presets[0];
  *help = 0;
  int i = 1;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0) {
      *help = 1;
      return 0;
    }
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (strncmp(a, "--", 2) != 0)
      return evf_seterr(msg, EVF_EUSAGE, "'%s': unexpected argument (options start with --)", a);
    if (!val || strcmp(val, "--") == 0)
      return evf_seterr(msg, EVF_EUSAGE, "%s: missing value", a);
    i++;
    uint64_t x = 0;
    int rc = 0;
    if (strcmp(a, "--mode") == 0) {
      if (strcmp(val, "strong") && strcmp(val, "weak"))
        return evf_seterr(msg, EVF_EUSAGE, "--mode: '%s' is not strong or weak", val);
      o->strong = strcmp(val, "strong") == 0;
    } else if (strcmp(a, "--sizes") == 0 || strcmp(a, "--nodes") == 0) {
      if (o->nsizes)
        return evf_seterr(msg, EVF_EUSAGE, "%s: give either --sizes or --nodes, once", a);
      o->by_nodes = strcmp(a, "--nodes") == 0;
      rc = parse_list(a + 2, val, o->sizes, &o->nsizes, msg);
    } else if (strcmp(a, "--tasks") == 0) {
      rc = evf_cli_parse_uint("tasks", val, 1, EVF_TASKS_MAX, &x, msg);
      o->tasks = (uint32_t)x;
    } else if (strcmp(a, "--tasks-per-rank") == 0) {
      rc = evf_cli_parse_uint("tasks-per-rank", val, 1, EVF_TASKS_MAX, &x, msg);
      o->tasks_per_rank = (uint32_t)x;
    } else if (strcmp(a, "--warmup") == 0) {
      rc = evf_cli_parse_uint("warmup", val, 0, 100, &x, msg);
      o->warmup = (uint32_t)x;
    } else if (strcmp(a, "--reps") == 0) {
      rc = evf_cli_parse_uint("reps", val, 1, 1000, &x, msg);
      o->reps = (uint32_t)x;
    } else if (strcmp(a, "--out") == 0) {
      o->out = val;
    } else if (strcmp(a, "--preset") == 0) {
      o->preset = NULL;
      for (size_t k = 0; k < sizeof presets / sizeof presets[0]; k++)
        if (strcmp(val, presets[k].name) == 0)
          o->preset = &presets[k];
      if (!o->preset)
        return evf_seterr(msg, EVF_EUSAGE, "--preset: '%s' is not default or cpu", val);
    } else {
      return evf_seterr(msg, EVF_EUSAGE, "%s: unknown option", a);
    }
    if (rc)
      return rc;
  }
  if (!o->strong && o->tasks)
    return evf_seterr(msg, EVF_EUSAGE, "--tasks: for strong mode; weak mode takes --tasks-per-rank");
  if (o->strong && o->tasks_per_rank)
    return evf_seterr(msg, EVF_EUSAGE, "--tasks-per-rank: for weak mode; strong mode takes --tasks");
  if (!o->tasks)
    o->tasks = o->preset->strong_tasks;
  if (!o->tasks_per_rank)
    o->tasks_per_rank = o->preset->weak_per_rank;

  /* The evfarm options: "evfarm", the preset's, then the user's after "--". */
  char *job_argv[64] = {"evfarm"};
  int job_argc = 1;
  for (int k = 0; o->preset->args[k]; k++)
    job_argv[job_argc++] = (char *)o->preset->args[k];
  for (i++; i < argc; i++) {
    const char *forbidden[] = {"--tasks", "--output", "--json", "--format", "--help", "--version"};
    for (size_t k = 0; k < sizeof forbidden / sizeof forbidden[0]; k++) {
      size_t len = strlen(forbidden[k]);
      if (strncmp(argv[i], forbidden[k], len) == 0 && (argv[i][len] == '\0' || argv[i][len] == '='))
        return evf_seterr(msg, EVF_EUSAGE, "%s: set by the sweep, not after --", forbidden[k]);
    }
    if (job_argc == 63)
      return evf_seterr(msg, EVF_EUSAGE, "too many evfarm options");
    job_argv[job_argc++] = argv[i];
  }
  enum evf_cli_action action;
  return evf_cli_parse(job_argc, job_argv, &o->job, &action, msg);
}

/* State rank 0 keeps while the runs report their summaries. */
struct sweep_ctx {
  const struct sweep_options *o;
  struct evf_outfile json, csv;
  int size, rep, warmup;     /* the run in progress */
  int nruns;                 /* runs written to the JSON so far */
  FILE *out;
};

static void on_result(void *arg, const struct evf_options *opt, const struct evf_summary *s)
{
  struct sweep_ctx *c = arg;
  FILE *j = c->json.fp;
  fprintf(j, "%s\n{\"size\": %d, \"ranks\": %d, \"nodes\": %d, \"rep\": %d, \"warmup\": %s,\n"
             "\"summary\": ",
          c->nruns++ ? "," : "", c->size, s->ranks, s->nodes, c->rep, c->warmup ? "true" : "false");
  evf_report_json(j, opt, s, s->failed ? EVF_EXIT_TASKS : EVF_EXIT_OK);
  fputs("}", j);
  if (!c->warmup)
    fprintf(c->csv.fp, "%s,%d,%d,%d,%d,%llu,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%s,%d,%.6f\n",
            c->o->strong ? "strong" : "weak", c->size, s->nodes, s->ranks, c->rep,
            (unsigned long long)s->tasks, s->wall, s->bound.t_lb, s->efficiency, s->cpu_total,
            s->rank_busy.max, s->rank_busy.mean, s->imbalance, s->setup, s->collect,
            s->io_bound ? "io" : "cpu", s->oversubscribed, s->max_io);
  fprintf(c->out, "evfarm-sweep: size %d (%d node%s, %d rank%s) %s %d: wall %.4f s, T_lb %.4f s, "
                  "efficiency %.2f %%\n",
          c->size, s->nodes, s->nodes == 1 ? "" : "s", s->ranks, s->ranks == 1 ? "" : "s",
          c->warmup ? "warm-up" : "run", c->rep + 1, s->wall, s->bound.t_lb, 100 * s->efficiency);
  fflush(c->out);
}

int evf_sweep_run(int argc, char **argv, MPI_Comm comm, FILE *out, FILE *err)
{
  int rank = evf_comm_rank(comm), size = evf_comm_size(comm);
  struct sweep_options o;
  struct sweep_ctx c = {.o = &o, .out = out};
  char msg[EVF_ERRMSG_LEN] = "";
  int help = 0;
  int rc = parse(argc, argv, &o, &help, msg);

  /* Where every rank runs, to size by nodes and to check the sizes. */
  char host[EVF_HOST_LEN];
  char (*hosts)[EVF_HOST_LEN] = malloc((size_t)size * EVF_HOST_LEN);
  int *node_of = malloc((size_t)size * sizeof *node_of);
  if (!hosts || !node_of) {
    free(hosts);
    free(node_of);
    hosts = NULL;
    node_of = NULL;
    if (!rc)
      rc = evf_seterr(msg, EVF_ENOMEM, "out of memory");
  }
  if (evf_comm_agree(comm, rc == EVF_ENOMEM ? rc : 0)) {
    if (rank == 0)
      fprintf(err, "evfarm-sweep: out of memory\n");
    free(hosts);
    free(node_of);
    return EVF_EXIT_RUNTIME;
  }
  evf_placement_host(host);
  evf_comm_allgather_hosts(comm, host, hosts);
  int nnodes = evf_placement_group((const char(*)[EVF_HOST_LEN])hosts, size, node_of);
  if (nnodes < 0 && !rc)
    rc = evf_seterr(msg, EVF_ENOMEM, "out of memory");
  int limit = o.by_nodes ? nnodes : size;
  if (rc == 0 && !help) {
    if (o.nsizes == 0) /* default: 1, 2, 4, ... and the whole */
      for (int s = 1; s <= limit && o.nsizes < MAX_SIZES; s = s < limit && 2 * s > limit ? limit : 2 * s)
        o.sizes[o.nsizes++] = s;
    if (o.sizes[o.nsizes - 1] > limit)
      rc = evf_seterr(msg, EVF_EUSAGE, "--%s: size %d is more than the %d %s here",
                      o.by_nodes ? "nodes" : "sizes", o.sizes[o.nsizes - 1], limit,
                      o.by_nodes ? "nodes" : "ranks");
    for (int k = 0; rc == 0 && !o.strong && k < o.nsizes; k++) {
      int ranks = 0;
      for (int r = 0; r < size; r++)
        ranks += o.by_nodes ? node_of[r] < o.sizes[k] : r < o.sizes[k];
      if ((uint64_t)o.tasks_per_rank * (uint64_t)ranks > EVF_TASKS_MAX)
        rc = evf_seterr(msg, EVF_EUSAGE, "--tasks-per-rank: %u x %d ranks is more than %u tasks",
                        (unsigned)o.tasks_per_rank, ranks, EVF_TASKS_MAX);
    }
  }
  if (rc == 0 && !help && rank == 0) {
    char path[4096];
    snprintf(path, sizeof path, "%s.json", o.out);
    rc = evf_outfile_open(&c.json, "--out", path, msg);
    snprintf(path, sizeof path, "%s.csv", o.out);
    if (rc == 0)
      rc = evf_outfile_open(&c.csv, "--out", path, msg);
  }
  int all = evf_comm_agree(comm, rc);
  if (all || help) {
    if (rank == 0 && rc)
      fprintf(err, "evfarm-sweep: %s (try 'evfarm-sweep --help')\n", msg);
    else if (rank == 0 && all)
      fprintf(err, "evfarm-sweep: another rank rejected the sweep: %s\n", evf_strerror(all));
    else if (rank == 0 && help)
      usage(out);
    evf_outfile_discard(&c.json);
    evf_outfile_discard(&c.csv);
    free(hosts);
    free(node_of);
    return evf_error_exit_code(all);
  }

  if (rank == 0) {
    fprintf(c.json.fp,
            "{\n\"schema\": \"evfarm.sweep/1\",\n\"evfarm_version\": \"%s\",\n\"mode\": \"%s\",\n"
            "\"preset\": \"%s\",\n\"by\": \"%s\",\n\"world_ranks\": %d,\n\"world_nodes\": %d,\n"
            "\"warmup\": %u,\n\"reps\": %u,\n\"tasks\": %u,\n\"tasks_per_rank\": %u,\n\"sizes\": [",
            evf_version(), o.strong ? "strong" : "weak", o.preset->name,
            o.by_nodes ? "nodes" : "ranks", size, nnodes, (unsigned)o.warmup, (unsigned)o.reps,
            (unsigned)o.tasks, (unsigned)o.tasks_per_rank);
    for (int k = 0; k < o.nsizes; k++)
      fprintf(c.json.fp, "%s%d", k ? ", " : "", o.sizes[k]);
    fputs("],\n\"runs\": [", c.json.fp);
    fputs("mode,size,nodes,ranks,rep,tasks,wall_s,t_lb_s,efficiency,cpu_total_s,busy_max_s,"
          "busy_mean_s,imbalance,setup_s,collect_s,bound_by,oversubscribed,max_io_s\n",
          c.csv.fp);
  }

  /* Rounds: the warm-ups, then the repetitions; every round runs every size, smallest first.
   * Interleaving the sizes this way lets a drifting machine speed (a shared or virtual machine)
   * weigh on every size alike, instead of on whichever size happened to run during a slow
   * spell. */
  int worst = 0;
  MPI_Comm *subs = malloc((size_t)o.nsizes * sizeof *subs);
  rc = subs ? 0 : EVF_ENOMEM;
  if (evf_comm_agree(comm, rc)) {
    if (rank == 0)
      fprintf(err, "evfarm-sweep: out of memory\n");
    free(subs);
    subs = NULL;
    worst = EVF_EXIT_RUNTIME;
  }
  for (int k = 0; subs && k < o.nsizes; k++)
    subs[k] = evf_comm_subset(comm, o.by_nodes ? node_of[rank] < o.sizes[k] : rank < o.sizes[k]);
  for (int round = 0; subs && round < (int)(o.warmup + o.reps) && worst < EVF_EXIT_USAGE; round++) {
    for (int k = 0; k < o.nsizes && worst < EVF_EXIT_USAGE; k++) {
      struct evf_options job = o.job;
      int code = 0;
      job.quiet = 1;
      job.progress = 0;
      c.size = o.sizes[k];
      c.warmup = round < (int)o.warmup;
      c.rep = c.warmup ? round : round - (int)o.warmup;
      if (subs[k] != MPI_COMM_NULL) {
        job.tasks = o.strong ? o.tasks : o.tasks_per_rank * (uint32_t)evf_comm_size(subs[k]);
        code = evf_job_run(&job, subs[k], out, err, on_result, &c);
      }
      /* Idle ranks sleep here rather than spin in a collective on cores the run needs. */
      evf_comm_quiet_barrier(comm);
      code = -evf_comm_agree(comm, -code); /* the worst exit code of any rank */
      if (code > worst)
        worst = code;
    }
  }
  for (int k = 0; subs && k < o.nsizes; k++)
    evf_comm_free(&subs[k]);
  free(subs);

  if (rank == 0) {
    fputs("\n]\n}\n", c.json.fp);
    if (worst >= EVF_EXIT_USAGE) {
      evf_outfile_discard(&c.json);
      evf_outfile_discard(&c.csv);
    } else {
      rc = evf_outfile_commit(&c.json, msg);
      if (rc == 0)
        rc = evf_outfile_commit(&c.csv, msg);
      if (rc) {
        fprintf(err, "evfarm-sweep: %s\n", msg);
        worst = EVF_EXIT_RUNTIME;
      } else {
        fprintf(out, "evfarm-sweep: wrote %s.json and %s.csv\n", o.out, o.out);
      }
      evf_outfile_discard(&c.json);
      evf_outfile_discard(&c.csv);
    }
  }
  free(hosts);
  free(node_of);
  return evf_comm_bcast_int(comm, worst);
}
