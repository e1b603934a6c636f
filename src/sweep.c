/* evfarm-sweep: one job per size and repetition on sub-communicators, every summary to one JSON
 * file and one CSV table (see sweep.h). */
#include "sweep.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "comm.h"
#include "error.h"
#include "task.h"
#include "guard.h"
#include "evfarm/evfarm.h"
#include "job.h"
#include "output.h"
#include "partition.h"
#include "placement.h"
#include "report.h"

#define MAX_SIZES 64

/* Workload presets: evfarm options applied before the user's own.  "cpu" makes the CPU phase
 * dominate (about 1 ms of CPU per task after at most 50 ms of I/O), so scaling shows; 128 tasks
 * in flight per rank cover 50 ms of I/O at 1 ms of CPU each with room to spare, and leave the
 * rest to be dealt on request (--schedule dynamic), so unequal cores even out. */
struct preset {
  const char *name;
  const char *args[12];     /* NULL-terminated */
  uint32_t strong_tasks;    /* default total tasks in strong mode */
  uint32_t weak_per_rank;   /* default tasks per rank in weak mode */
};

static const struct preset presets[] = {
  {"default", {NULL}, 10000, 5000},
  {"cpu", {"--io-min", "0", "--io-max", "0.05", "--cpu-min", "2000000", "--cpu-max", "4000000",
           "--inflight", "128"},
   2000, 1000},
};

struct size_list {
  int by_nodes;              /* sizes are node counts, not rank counts */
  int n;                     /* 0: powers of two up to the world (or node count), and it */
  int v[MAX_SIZES];
};

struct sweep_options {
  int weak;                  /* 0 strong: fixed total tasks; 1 weak: fixed tasks per rank */
  struct size_list sizes;
  uint32_t tasks;            /* strong: total tasks (0: the preset's) */
  uint32_t tasks_per_rank;   /* weak: tasks per rank (0: the preset's) */
  uint32_t warmup, reps;
  const char *out;           /* prefix of PREFIX.json and PREFIX.csv */
  int preset;                /* index in presets[] */
  struct evf_options job;    /* evfarm options after "--", preset first */
};

static int parse_list(const char *name, const char *s, struct size_list *l, char *msg)
{
  char buf[512];
  if (l->n)
    return evf_seterr(msg, EVF_EUSAGE, "--%s: give either --sizes or --nodes, once", name);
  if (strlen(s) >= sizeof buf)
    return evf_seterr(msg, EVF_EUSAGE, "--%s: list too long", name);
  strcpy(buf, s);
  l->by_nodes = strcmp(name, "nodes") == 0;
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    uint64_t x;
    if (l->n == MAX_SIZES)
      return evf_seterr(msg, EVF_EUSAGE, "--%s: more than %d sizes", name, MAX_SIZES);
    int rc = evf_cli_parse_uint(name, tok, 1, 1 << 30, &x, msg);
    if (rc)
      return rc;
    if (l->n && (int)x <= l->v[l->n - 1])
      return evf_seterr(msg, EVF_EUSAGE, "--%s: sizes must increase ('%s')", name, evf_clip(s));
    l->v[l->n++] = (int)x;
  }
  if (l->n == 0)
    return evf_seterr(msg, EVF_EUSAGE, "--%s: empty list", name);
  return 0;
}

static int parse_sizes(const char *name, const char *val, void *field, char *msg)
{
  return parse_list(name, val, field, msg);
}

static const char *const modes[] = {"strong", "weak", NULL};
static const char *const preset_names[] = {"default", "cpu", NULL};

#define OFF(f) offsetof(struct sweep_options, f)
static const struct evf_optdef sweep_table[] = {
  {"mode", EVF_OPT_CHOICE, OFF(weak), 0, 0, "MODE",
   "strong (same total tasks at every size) or weak (same tasks per rank) (default strong)",
   modes, NULL},
  {"sizes", EVF_OPT_CUSTOM, OFF(sizes), 0, 0, "LIST",
   "rank counts, e.g. 1,2,4 (default: 1, 2, 4, ... up to all ranks, and all ranks)", NULL,
   parse_sizes},
  {"nodes", EVF_OPT_CUSTOM, OFF(sizes), 0, 0, "LIST",
   "node counts instead: each size uses every rank of its first nodes, in rank order", NULL,
   parse_sizes},
  {"tasks", EVF_OPT_U32, OFF(tasks), 1, EVF_TASKS_MAX, "N",
   "strong mode: tasks per run (default: the preset's; 10000, cpu 2000)", NULL, NULL},
  {"tasks-per-rank", EVF_OPT_U32, OFF(tasks_per_rank), 1, EVF_TASKS_MAX, "M",
   "weak mode: tasks per rank (default: the preset's; 5000, cpu 1000)", NULL, NULL},
  {"warmup", EVF_OPT_U32, OFF(warmup), 0, 100, "W",
   "unmeasured rounds before the measured ones (default 1)", NULL, NULL},
  {"reps", EVF_OPT_U32, OFF(reps), 1, 1000, "R",
   "measured rounds, one run of every size each (default 3)", NULL, NULL},
  {"preset", EVF_OPT_CHOICE, OFF(preset), 0, 0, "NAME",
   "default (the simulated crawler: 0.2-1.0 s of I/O, I/O-bound beyond a few ranks) or cpu "
   "(0-50 ms of I/O, 2-4 million iterations per task, 128 in flight per rank: CPU-bound, so "
   "scaling shows) (default "
   "default)", preset_names, NULL},
  {"out", EVF_OPT_STRING, OFF(out), 0, 0, "PREFIX",
   "output files PREFIX.json and PREFIX.csv (default sweep)", NULL, NULL},
  {"help", EVF_OPT_HELP, 0, 0, 0, NULL, "print this help and exit", NULL, NULL},
  {"version", EVF_OPT_VERSION, 0, 0, 0, NULL,
   "print the version, the MPI library and libev's version, and exit", NULL, NULL},
};
#undef OFF
#define NSWEEPOPTS (sizeof sweep_table / sizeof sweep_table[0])

static void usage(FILE *out)
{
  fputs("Usage: mpirun -np RANKS evfarm-sweep [OPTION]... [-- EVFARM-OPTION...]\n"
        "Run the same evfarm workload at a series of sizes inside one mpirun (or allocation):\n"
        "each size runs on the first ranks (or the ranks of the first nodes).  Warm-up rounds\n"
        "then measured rounds each run every size, smallest first, so a drifting machine speed\n"
        "weighs on all sizes alike.  Writes PREFIX.json (every run's summary) and PREFIX.csv\n"
        "(one row per measured run); evfarm-report draws the report from them.\n"
        "\nOptions (--opt VALUE or --opt=VALUE):\n",
        out);
  evf_opt_usage(out, sweep_table, NSWEEPOPTS);
  fputs("\nEvfarm options after -- apply to every run (not --tasks, --output or --json, which\n"
        "the sweep sets).  Exit status as evfarm's: 0 all tasks ok, 1 some task failed, 2 bad\n"
        "input, 3 runtime error, 128+S stopped by signal S.\n",
        out);
}

/* *help: 1 for --help, 2 for --version (the sweep then runs nothing). */
static int parse(int argc, char **argv, struct sweep_options *o, int *help, char *msg)
{
  memset(o, 0, sizeof *o);
  o->warmup = 1;
  o->reps = 3;
  o->out = "sweep";
  enum evf_cli_action action = EVF_CLI_RUN;
  int i = 1;
  int rc = evf_opt_parse(sweep_table, NSWEEPOPTS, argc, argv, &i, o, NULL, &action, msg);
  *help = action == EVF_CLI_HELP ? 1 : action == EVF_CLI_VERSION ? 2 : 0;
  if (rc || *help)
    return rc;
  const struct preset *pre = &presets[o->preset];
  if (o->weak && o->tasks)
    return evf_seterr(msg, EVF_EUSAGE, "--tasks: for strong mode; weak mode takes --tasks-per-rank");
  if (!o->weak && o->tasks_per_rank)
    return evf_seterr(msg, EVF_EUSAGE, "--tasks-per-rank: for weak mode; strong mode takes --tasks");
  int tasks_given = o->tasks != 0;
  if (!o->tasks)
    o->tasks = pre->strong_tasks;
  if (!o->tasks_per_rank)
    o->tasks_per_rank = pre->weak_per_rank;

  /* The evfarm options: "evfarm", the preset's, then the user's after "--". */
  char *job_argv[64] = {"evfarm"};
  int job_argc = 1;
  for (int k = 0; pre->args[k]; k++)
    job_argv[job_argc++] = (char *)pre->args[k];
  for (i++; i < argc; i++) {
    const char *forbidden[] = {"--tasks", "--output", "--json", "--format", "--help",
                               "--version", "--journal", "--resume"};
    for (size_t k = 0; k < sizeof forbidden / sizeof forbidden[0]; k++) {
      size_t len = strlen(forbidden[k]);
      if (strncmp(argv[i], forbidden[k], len) == 0 && (argv[i][len] == '\0' || argv[i][len] == '='))
        return evf_seterr(msg, EVF_EUSAGE, "%s: %s", forbidden[k],
                          k >= 6 ? "not for a sweep (its runs would share one journal)"
                                 : "set by the sweep, not after --");
    }
    if (job_argc == 63)
      return evf_seterr(msg, EVF_EUSAGE, "too many evfarm options");
    job_argv[job_argc++] = argv[i];
  }
  int rc2 = evf_cli_parse(job_argc, job_argv, &o->job, &action, msg);
  if (rc2)
    return rc2;
  /* A kind whose tasks come from a file (http's --urls) has as many tasks as the file has
   * lines, whatever the size: a strong series only. */
  const struct evf_task_kind *kind = evf_task_kind_find(o->job.kind);
  if (kind->input_option && o->weak)
    return evf_seterr(msg, EVF_EUSAGE, "--mode: weak needs tasks per rank; --kind %s takes its "
                      "tasks from --%s (use strong)", kind->name, kind->input_option);
  if (kind->input_option && tasks_given)
    return evf_seterr(msg, EVF_EUSAGE, "--tasks: --kind %s takes its tasks from --%s",
                      kind->name, kind->input_option);
  return 0;
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
    fprintf(c->csv.fp, "%s,%d,%d,%d,%d,%llu,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%s,%d,%.6f,%s\n",
            modes[c->o->weak], c->size, s->nodes, s->ranks, c->rep,
            (unsigned long long)s->tasks, s->wall, s->bound.t_lb, s->efficiency, s->cpu_total,
            s->rank_busy.max, s->rank_busy.mean, s->imbalance, s->setup, s->collect,
            s->io_bound ? "io" : "cpu", s->oversubscribed, s->max_io,
            s->dynamic ? "dynamic" : "static");
  fprintf(c->out, "evfarm-sweep: size %d (%d node%s, %d rank%s) %s %d: wall %.4f s, T_lb %.4f s, "
                  "efficiency %.2f %%\n",
          c->size, s->nodes, s->nodes == 1 ? "" : "s", s->ranks, s->ranks == 1 ? "" : "s",
          c->warmup ? "warm-up" : "run", c->rep + 1, s->wall, s->bound.t_lb, 100 * s->efficiency);
  fflush(c->out);
}

/* Every rank: where each rank runs (node_of, by node name) and the number of nodes; 0 or
 * EVF_ENOMEM, agreed. */
static int sweep_placement(MPI_Comm comm, int **node_of, int *nnodes)
{
  int size = evf_comm_size(comm);
  char host[EVF_HOST_LEN];
  char (*hosts)[EVF_HOST_LEN] = malloc((size_t)size * EVF_HOST_LEN);
  *node_of = malloc((size_t)size * sizeof **node_of);
  int rc = evf_comm_agree(comm, hosts && *node_of ? 0 : EVF_ENOMEM);
  if (rc == 0) {
    evf_placement_host(host);
    evf_comm_allgather_hosts(comm, host, hosts);
    *nnodes = evf_placement_group((const char(*)[EVF_HOST_LEN])hosts, size, *node_of);
    rc = evf_comm_agree(comm, *nnodes < 0 ? EVF_ENOMEM : 0);
  }
  free(hosts);
  if (rc) {
    free(*node_of);
    *node_of = NULL;
  }
  return rc;
}

/* The ranks of size k: the first sizes[k] ranks, or the ranks of the first sizes[k] nodes. */
static int in_size(const struct sweep_options *o, const int *node_of, int rank, int k)
{
  return o->sizes.by_nodes ? node_of[rank] < o->sizes.v[k] : rank < o->sizes.v[k];
}

/* The default sizes (1, 2, 4, ... and the whole), and checks of the sizes against the world. */
static int sweep_sizes(struct sweep_options *o, const int *node_of, int size, int nnodes,
                       char *msg)
{
  struct size_list *l = &o->sizes;
  int limit = l->by_nodes ? nnodes : size;
  if (l->n == 0)
    for (int s = 1; s <= limit && l->n < MAX_SIZES; s = s < limit && 2 * s > limit ? limit : 2 * s)
      l->v[l->n++] = s;
  if (l->v[l->n - 1] > limit)
    return evf_seterr(msg, EVF_EUSAGE, "--%s: size %d is more than the %d %s here",
                      l->by_nodes ? "nodes" : "sizes", l->v[l->n - 1], limit,
                      l->by_nodes ? "nodes" : "ranks");
  for (int k = 0; o->weak && k < l->n; k++) {
    int ranks = 0;
    for (int r = 0; r < size; r++)
      ranks += in_size(o, node_of, r, k);
    if ((uint64_t)o->tasks_per_rank * (uint64_t)ranks > EVF_TASKS_MAX)
      return evf_seterr(msg, EVF_EUSAGE, "--tasks-per-rank: %u x %d ranks is more than %u tasks",
                        (unsigned)o->tasks_per_rank, ranks, EVF_TASKS_MAX);
  }
  return 0;
}

/* Rank 0: create PREFIX.json and PREFIX.csv (bad input if it cannot). */
static int sweep_open(struct sweep_ctx *c, char *msg)
{
  char path[4096];
  snprintf(path, sizeof path, "%s.json", c->o->out);
  int rc = evf_outfile_open(&c->json, "--out", path, msg);
  snprintf(path, sizeof path, "%s.csv", c->o->out);
  if (rc == 0)
    rc = evf_outfile_open(&c->csv, "--out", path, msg);
  if (rc == 0 && evf_outfile_same(&c->json, &c->csv))
    rc = evf_seterr(msg, EVF_EUSAGE, "--out: '%s.json' and '%s.csv' are one file",
                    evf_clip(c->o->out), evf_clip(c->o->out));
  return rc;
}

/* Rank 0: the headers of both files. */
static void sweep_headers(struct sweep_ctx *c, int world_ranks, int nnodes)
{
  const struct sweep_options *o = c->o;
  fprintf(c->json.fp,
          "{\n\"schema\": \"evfarm.sweep/1\",\n\"evfarm_version\": \"%s\",\n\"mode\": \"%s\",\n"
          "\"preset\": \"%s\",\n\"by\": \"%s\",\n\"world_ranks\": %d,\n\"world_nodes\": %d,\n"
          "\"schedule\": \"%s\",\n"
          "\"warmup\": %u,\n\"reps\": %u,\n\"tasks\": %u,\n\"tasks_per_rank\": %u,\n\"sizes\": [",
          evf_version(), modes[o->weak], presets[o->preset].name,
          o->sizes.by_nodes ? "nodes" : "ranks", world_ranks, nnodes,
          o->job.schedule == EVF_SCHEDULE_DYNAMIC ? "dynamic" : "static", (unsigned)o->warmup,
          (unsigned)o->reps, (unsigned)o->tasks, (unsigned)o->tasks_per_rank);
  for (int k = 0; k < o->sizes.n; k++)
    fprintf(c->json.fp, "%s%d", k ? ", " : "", o->sizes.v[k]);
  fputs("],\n\"runs\": [", c->json.fp);
  fputs("mode,size,nodes,ranks,rep,tasks,wall_s,t_lb_s,efficiency,cpu_total_s,busy_max_s,"
        "busy_mean_s,imbalance,setup_s,collect_s,bound_by,oversubscribed,max_io_s,schedule\n",
        c->csv.fp);
}

/* Rounds: the warm-ups, then the repetitions; every round runs every size, smallest first.
 * Interleaving the sizes this way lets a drifting machine speed (a shared or virtual machine)
 * weigh on every size alike, instead of on whichever size happened to run during a slow
 * spell.  Returns the worst exit code of any run, the same on every rank. */
static int sweep_rounds(MPI_Comm comm, struct sweep_ctx *c, const int *node_of, FILE *out,
                        FILE *err)
{
  const struct sweep_options *o = c->o;
  int rank = evf_comm_rank(comm), worst = 0;
  MPI_Comm *subs = malloc((size_t)o->sizes.n * sizeof *subs);
  if (evf_comm_agree(comm, subs ? 0 : EVF_ENOMEM)) {
    if (rank == 0)
      fprintf(err, "evfarm-sweep: out of memory\n");
    free(subs);
    return EVF_EXIT_RUNTIME;
  }
  for (int k = 0; k < o->sizes.n; k++)
    subs[k] = evf_comm_subset(comm, in_size(o, node_of, rank, k));
  for (int round = 0; round < (int)(o->warmup + o->reps) && worst < EVF_EXIT_USAGE; round++) {
    for (int k = 0; k < o->sizes.n && worst < EVF_EXIT_USAGE; k++) {
      struct evf_options job = o->job;
      int code = 0;
      job.quiet = 1;
      job.progress = 0;
      c->size = o->sizes.v[k];
      c->warmup = round < (int)o->warmup;
      c->rep = c->warmup ? round : round - (int)o->warmup;
      if (subs[k] != MPI_COMM_NULL) {
        job.tasks = o->weak ? o->tasks_per_rank * (uint32_t)evf_comm_size(subs[k]) : o->tasks;
        code = evf_job_run(&job, subs[k], out, err, on_result, c);
      }
      /* Idle ranks sleep here rather than spin in a collective on cores the run needs. */
      evf_comm_quiet_barrier(comm);
      code = -evf_comm_agree(comm, -code); /* the worst exit code of any rank */
      if (code > worst)
        worst = code;
    }
  }
  for (int k = 0; k < o->sizes.n; k++)
    evf_comm_free(&subs[k]);
  free(subs);
  return worst;
}

/* Rank 0: close the JSON and commit both files, or discard them after bad input. */
static int sweep_close(struct sweep_ctx *c, int worst, FILE *out, FILE *err)
{
  char msg[EVF_ERRMSG_LEN];
  fputs("\n]\n}\n", c->json.fp);
  if (worst >= EVF_EXIT_USAGE) {
    evf_outfile_discard(&c->json);
    evf_outfile_discard(&c->csv);
    return worst;
  }
  evf_outfile_check(&c->json);
  evf_outfile_check(&c->csv);
  struct evf_outfile *files[] = {&c->json, &c->csv};
  if (evf_outfile_commit_all(files, 2, msg)) {
    fprintf(err, "evfarm-sweep: %s; no results written\n", msg);
    return EVF_EXIT_RUNTIME;
  }
  fprintf(out, "evfarm-sweep: wrote %s.json and %s.csv\n", c->o->out, c->o->out);
  return worst;
}

int evf_sweep_run(int argc, char **argv, MPI_Comm comm, FILE *out, FILE *err)
{
  int rank = evf_comm_rank(comm), size = evf_comm_size(comm);
  struct sweep_options o;
  struct sweep_ctx c = {.o = &o, .out = out};
  char msg[EVF_ERRMSG_LEN] = "";
  int help = 0, nnodes = 0, *node_of = NULL;
  int rc = parse(argc, argv, &o, &help, msg);
  if (sweep_placement(comm, &node_of, &nnodes)) {
    if (rank == 0)
      fprintf(err, "evfarm-sweep: out of memory\n");
    return EVF_EXIT_RUNTIME;
  }
  if (rc == 0 && !help)
    rc = sweep_sizes(&o, node_of, size, nnodes, msg);
  if (rc == 0 && !help && rank == 0)
    rc = sweep_open(&c, msg);
  int all = evf_comm_agree(comm, rc);
  if (all || help) {
    if (rank == 0 && rc)
      fprintf(err, "evfarm-sweep: %s (try 'evfarm-sweep --help')\n", msg);
    else if (rank == 0 && all)
      fprintf(err, "evfarm-sweep: another rank rejected the sweep: %s\n", evf_strerror(all));
    else if (rank == 0 && help == 1)
      usage(out);
    else if (rank == 0 && help == 2)
      evf_print_version(out, "evfarm-sweep");
    evf_outfile_discard(&c.json);
    evf_outfile_discard(&c.csv);
    free(node_of);
    return evf_error_exit_code(all);
  }
  evf_guard_enter(rank);
  if (rank == 0)
    sweep_headers(&c, size, nnodes);
  int worst = sweep_rounds(comm, &c, node_of, out, err);
  if (rank == 0)
    worst = sweep_close(&c, worst, out, err);
  free(node_of);
  evf_guard_leave();
  return evf_comm_bcast_int(comm, worst);
}
