/* argv -> struct evf_options.  Options are a table whose rows point at struct fields, so
 * parsing, range checks and --help all come from one place. */
#include "cli.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "partition.h"
#include "task.h"

#define IO_MAX_SECONDS 3600.0 /* planned delays: an hour is plenty for a simulated task */

static int parse_format(const char *name, const char *val, void *field, char *msg)
{
  static const char *const formats[] = {"csv", "jsonl", NULL};
  int k = evf_opt_choice(name, val, formats, msg);
  if (k < 0)
    return EVF_EUSAGE;
  *(enum evf_format *)field = k == 0 ? EVF_FORMAT_CSV : EVF_FORMAT_JSONL;
  return 0;
}

static int parse_retry_on(const char *name, const char *val, void *field, char *msg)
{
  int bits = 0;
  const char *p = val;
  while (*p) {
    size_t n = strcspn(p, ",");
    if (n == 4 && strncmp(p, "exit", 4) == 0)
      bits |= EVF_RETRY_ON_EXIT;
    else if (n == 6 && strncmp(p, "signal", 6) == 0)
      bits |= EVF_RETRY_ON_SIGNAL;
    else
      return evf_seterr(msg, EVF_EUSAGE, "--%s: '%s' is not exit, signal or exit,signal", name,
                        evf_clip(val));
    p += n;
    if (*p == ',' && *++p == '\0')
      return evf_seterr(msg, EVF_EUSAGE, "--%s: '%s' ends with a comma", name, evf_clip(val));
  }
  *(int *)field = bits;
  return 0;
}

/* --header 'Name: value' (repeatable): a field name of token characters, a colon, a value
 * without line breaks. */
static int parse_header(const char *name, const char *val, void *field, char *msg)
{
  struct evf_headers *h = field;
  size_t n = strcspn(val, ":");
  static const char token[] = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  if (val[n] != ':' || n == 0 || strspn(val, token) != n)
    return evf_seterr(msg, EVF_EUSAGE, "--%s: '%s' is not 'Name: value' (a field name of letters, "
                      "digits or !#$%%&'*+-.^_`|~, then a colon)", name, evf_clip(val));
  if (strpbrk(val, "\r\n"))
    return evf_seterr(msg, EVF_EUSAGE, "--%s: '%s' has a line break", name, evf_clip(val));
  if (h->n == EVF_HEADERS_MAX)
    return evf_seterr(msg, EVF_EUSAGE, "--%s: more than %d headers", name, EVF_HEADERS_MAX);
  h->v[h->n++] = val;
  return 0;
}

static const char *const progress_styles[] = {"auto", "bar", "lines", NULL};
static const char *const robots_modes[] = {"obey", "ignore", NULL};
static const char *const schedules[] = {"static", "dynamic", NULL};

#define OFF(f) offsetof(struct evf_options, f)
static const struct evf_optdef opt_table[] = {
  {"tasks", EVF_OPT_U32, OFF(tasks), 1, EVF_TASKS_MAX, "N",
   "number of tasks, ids 1..N, N from 1 to 4294967295 (default 10000)", NULL, NULL},
  {"seed", EVF_OPT_U64, OFF(seed), 0, 0, "S",
   "generator seed; same seed, same tasks at any rank count (default 1)", NULL, NULL},
  {"io-min", EVF_OPT_SECONDS, OFF(io_min), 0, IO_MAX_SECONDS, "SEC",
   "shortest planned I/O delay, seconds, rounded to 10 ms (default 0.2, or --io-max if less)", NULL, NULL},
  {"io-max", EVF_OPT_SECONDS, OFF(io_max), 0, IO_MAX_SECONDS, "SEC",
   "longest planned I/O delay, seconds, rounded to 10 ms (default 1.0, or --io-min if more)", NULL, NULL},
  {"cpu-min", EVF_OPT_U32, OFF(cpu_min), 0, 4294967295.0, "N",
   "fewest CPU-phase iterations per task (default 100000, or --cpu-max if less)", NULL, NULL},
  {"cpu-max", EVF_OPT_U32, OFF(cpu_max), 0, 4294967295.0, "N",
   "most CPU-phase iterations per task (default 500000, or --cpu-min if more)", NULL, NULL},
  {"cpu-skew", EVF_OPT_SECONDS, OFF(cpu_skew), 0, 1000, "S",
   "sim, a benchmark aid: task i's iterations times 1 + S (i-1)/(N-1), so the last task costs "
   "1 + S times the first and a contiguous split of the ids is unbalanced (default 0)", NULL, NULL},
  {"inflight", EVF_OPT_U32, OFF(inflight), 0, 4294967295.0, "K",
   "most tasks in flight per rank; 0 = all of the rank's tasks, however many (default "
   "65536: the default job keeps all its tasks in flight, and memory stays bounded, about "
   "200 bytes a slot; http: 100, each needs an open file, and with --host-delay twice the "
   "hosts a rank owns, as far as open files allow, so each host's next page waits for its "
   "turn in a slot; exec: 1, the children run at once by each rank: 1 with a rank per core, "
   "the cores with a rank per node)", NULL, NULL},
  {"schedule", EVF_OPT_CHOICE, OFF(schedule), 0, 0, "MODE",
   "static: each rank gets its share of the ids before the run.  dynamic: each rank gets a "
   "first share, then asks rank 0 for the next batch whenever it holds no more unstarted tasks "
   "than it has slots (--inflight), so faster ranks run more; with every task in flight at once "
   "(--inflight 0, or the default for the default job) the first share is the whole static "
   "share.  http with --host-delay plans static (a host takes its delays on any rank) "
   "(default dynamic)", schedules, NULL},
  {"batch-size", EVF_OPT_U32, OFF(batch_size), 0, EVF_TASKS_MAX, "B",
   "batches of B tasks: static deals them to ranks round-robin, dynamic on request; 0 = static: "
   "one batch per rank, dynamic: guided sizes, ceil(left / 2P) ids, at least N / 64P (default 0)",
   NULL, NULL},
  {"kind", EVF_OPT_STRING, OFF(kind), 0, 0, "NAME",
   "task kind: sim, the simulated crawler; http, fetch --urls with libcurl; exec, run "
   "--commands (default sim)",
   NULL, NULL},
  {"fail-rate", EVF_OPT_FRACTION, OFF(fail_rate), 0, 1, "P",
   "sim: fraction of I/O attempts that fail (a transient error, retried under --retries), "
   "chosen by the generator per (seed, id, attempt) (default 0)", NULL, NULL},
  {"hang-rate", EVF_OPT_FRACTION, OFF(hang_rate), 0, 1, "P",
   "sim: fraction of I/O attempts that never end unless --timeout cancels them, chosen per "
   "(seed, id, attempt); needs --timeout (default 0)", NULL, NULL},
  {"urls", EVF_OPT_STRING, OFF(urls), 0, 0, "FILE",
   "http: the URLs to fetch, one per line; blank lines and lines starting with # are "
   "skipped; task id = the URL's number among the other lines.  Only rank 0 reads FILE", NULL, NULL},
  {"commands", EVF_OPT_STRING, OFF(commands), 0, 0, "FILE",
   "exec: the commands, one per line, each run as /bin/sh -c LINE; blank lines and lines "
   "starting with # are skipped; task id = the line's number among the others.  Only rank 0 "
   "reads FILE", NULL, NULL},
  {"command", EVF_OPT_STRING, OFF(command), 0, 0, "TEMPLATE",
   "exec: run TEMPLATE once per line of --args, {} replaced by the line shell-quoted (GNU "
   "parallel's convention: --command 'gzip -9 {}').  Write {} bare, never inside quotes: in "
   "'echo \"{}\"' the quoting evfarm adds is undone and the shell expands what the line holds "
   "($(...) runs)", NULL, NULL},
  {"args", EVF_OPT_STRING, OFF(args), 0, 0, "FILE", "exec: the arguments for --command, one per line",
   NULL, NULL},
  {"outdir", EVF_OPT_STRING, OFF(outdir), 0, 0, "DIR",
   "exec: write each task's stdout and stderr to DIR/<id>.out and DIR/<id>.err, from the rank "
   "that ran it: DIR (made with its parents when missing, mode 0777 less the umask) must be "
   "on a filesystem every node sees (checked at start on every rank).  An earlier run's "
   "regular file is rewritten; a symbolic link, FIFO or device there is refused (status "
   "spawn_error, the reason in the error column), never written through.  Without it, output "
   "is counted and hashed, then dropped", NULL, NULL},
  {"retry-on", EVF_OPT_CUSTOM, OFF(retry_on), 0, 0, "LIST",
   "exec: which failures --retries retries besides timeouts: exit (non-zero exit), signal "
   "(killed by a signal), both as exit,signal (default: none)", NULL, parse_retry_on},
  {"timeout", EVF_OPT_SECONDS, OFF(timeout), 0, 86400, "SEC",
   "cancel an I/O attempt not ended SEC seconds after it started: status timeout (a "
   "transient failure); 0 = no deadline (default 0 for sim, 60 for http)", NULL, NULL},
  {"retries", EVF_OPT_U32, OFF(retries), 0, EVF_RETRIES_MAX, "N",
   "retry a transiently failed attempt (sim: --fail-rate, --hang-rate; http: connection "
   "refused or reset, timeouts, 5xx, 429) up to N times, N from 0 to 100 (default 0)", NULL,
   NULL},
  {"retry-delay", EVF_OPT_SECONDS, OFF(retry_delay), 0, 86400, "SEC",
   "backoff before retry k: uniform in [0, min(SEC * 2^(k-1), --retry-max-delay)], drawn "
   "per (seed, id, k) (full jitter); at least a server's Retry-After (default 1)", NULL, NULL},
  {"retry-max-delay", EVF_OPT_SECONDS, OFF(retry_max_delay), 0, 86400, "SEC",
   "cap of the backoff; a Retry-After longer than SEC ends the task instead of waiting "
   "(default 60)", NULL, NULL},
  {"host-connections", EVF_OPT_U32, OFF(host_connections), 0, 4294967295.0, "N",
   "http: most connections to one host from the whole job (scheme, name and port); more "
   "transfers wait for one.  With it (or --host-delay) rank 0 deals hosts, not id ranges: "
   "each host's URLs (those of every scheme and port of its name) go to one rank, "
   "round-robin over its hosts there (static: hosts owned "
   "for the whole job, largest first to the least loaded rank; dynamic: batches of whole "
   "hosts, or as static with more URLs than one --window).  0 = no limit: URLs dealt as any "
   "list's (default 8)", NULL, NULL},
  {"connect-timeout", EVF_OPT_SECONDS, OFF(connect_timeout), 0, 86400, "SEC",
   "http: most seconds to connect: status timeout (default 10)", NULL, NULL},
  {"max-redirs", EVF_OPT_U32, OFF(max_redirs), 0, 1000, "N",
   "http: follow at most N redirects; 0 = none (a 3xx is then an http_error).  With a host "
   "rule (--robots obey, --host-delay or --host-connections) each hop is admitted as a first "
   "request is: its host's robots.txt, connections and turn, at the rank that owns that host "
   "(a hop to another rank's host asks it for the turn); Authorization: and Cookie: of "
   "--header go to the task's own origin only (default 5)", NULL, NULL},
  {"max-body", EVF_OPT_U64, OFF(max_body), 0, 0, "BYTES",
   "http: process at most BYTES of a body; a longer one is cut off there and the task's "
   "status is truncated (default 8388608)", NULL, NULL},
  {"warc", EVF_OPT_STRING, OFF(warc), 0, 0, "DIR",
   "http: keep every response in WARC 1.1 files in DIR (an existing directory every rank "
   "can write): each rank writes its own evfarm-RANK-SEQ.warc.gz, a gzip member per record, "
   "named .open until closed; each fetch adds a request and a response record per hop "
   "(redirects included); the records' warc_file, warc_offset and warc_length find the last "
   "response.  Kept: the last attempt of a task when it got a whole response (any status); not "
   "kept: attempts retried, timeouts, failed connections, truncated bodies, opted-out pages "
   "(default: none)", NULL, NULL},
  {"warc-size", EVF_OPT_U64, OFF(warc_size), 0, 0, "BYTES",
   "http: close a WARC file and start the next once it holds BYTES (default 1000000000)",
   NULL, NULL},
  {"user-agent", EVF_OPT_STRING, OFF(user_agent), 0, 0, "STR",
   "http: the User-Agent header (default evfarm/VERSION)", NULL, NULL},
  {"header", EVF_OPT_CUSTOM, OFF(headers), 0, 0, "HEADER",
   "http: add HEADER, 'Name: value', to every request, or replace curl's ('Name:' removes it); "
   "repeatable, up to 64 (default: none)", NULL, parse_header},
  {"compressed", EVF_OPT_FLAG, OFF(compressed), 0, 0, NULL,
   "http: ask for a compressed body (Accept-Encoding: the gzip, deflate, br and zstd curl "
   "has); the CPU phase and the hash see it decoded, --max-body counts decoded bytes, the WARC "
   "keeps what came (default: off)", NULL, NULL},
  {"ignore-opt-out", EVF_OPT_FLAG, OFF(ignore_opt_out), 0, 0, NULL,
   "http: process and keep pages whose X-Robots-Tag says noai, noindex, noimageai or "
   "noimageindex (for all robots, evfarm or the --user-agent's first word); without it such a "
   "page's status is opted_out and nothing of it is kept (default: off)", NULL, NULL},
  {"robots", EVF_OPT_CHOICE, OFF(robots), 0, 0, "MODE",
   "http: obey: before any other request to a host (scheme, name and port), fetch its "
   "/robots.txt once and obey it (RFC 9309): the group of --user-agent's first word, else *; "
   "a URL it disallows is never requested (status robots_disallowed); its Crawl-delay is a "
   "floor under --host-delay (up to 300 s); a 4xx (not 429) allows everything; a 5xx, a 429 "
   "or no answer disallows everything for now (status robots_disallowed, a transient "
   "failure: --retries fetches it again); with --warc it is kept.  ignore: none of that "
   "(default obey)", robots_modes, NULL},
  {"host-delay", EVF_OPT_SECONDS, OFF(host_delay), 0, 86400, "SEC",
   "http: at least SEC seconds between the starts of two requests to one host from the whole "
   "job (robots.txt and a redirect's hops included); tasks wait "
   "for their turn without a deadline running; the lower bound counts (requests - 1) x delay "
   "of the slowest host; 0 = none (default 0)", NULL, NULL},
  {"host-delay-jitter", EVF_OPT_SECONDS, OFF(host_delay_jitter), 0, 86400, "SEC",
   "http: add a delay drawn uniformly from [0, SEC] to each gap of --host-delay (default 0)",
   NULL, NULL},
  {"output", EVF_OPT_STRING, OFF(output), 0, 0, "FILE",
   "write every task's record to FILE, in task-id order (default: none).  A regular file is "
   "replaced only when the run succeeds (written beside it, then renamed; its mode is kept); "
   "a device or FIFO (/dev/stdout) is written in place; a symbolic link is followed.  '-' is "
   "a file named '-', not standard output: use /dev/stdout with --quiet", NULL, NULL},
  {"format", EVF_OPT_CUSTOM, OFF(format), 0, 0, "FMT",
   "format of --output: csv or jsonl (default: from the extension, in any case; "
   ".jsonl/.ndjson/.json give jsonl, anything else csv)", NULL, parse_format},
  {"json", EVF_OPT_STRING, OFF(json), 0, 0, "FILE",
   "write the run summary as JSON to FILE, written like --output's (default: none)", NULL, NULL},
  {"progress", EVF_OPT_SECONDS, OFF(progress), 0, 86400, "SEC",
   "print the job's progress to stderr every SEC seconds, at least " EVF_PROGRESS_FLOOR_TEXT
   ": tasks done over all ranks, percent, rate over the last 10 s, ETA at that rate, failed "
   "and in-flight counts; 0 = never (default 10)", NULL, NULL},
  {"progress-style", EVF_OPT_CHOICE, OFF(progress_style), 0, 0, "STYLE",
   "auto: a bar redrawn in place when stderr is a terminal (every 0.2 s), else lines; bar; "
   "lines.  Under mpirun the ranks' stderr is a pipe: auto gives lines (default auto)",
   progress_styles, NULL},
  {"window", EVF_OPT_U32, OFF(window), 0, EVF_TASKS_MAX, "W",
   "records reach rank 0 while the loops run and are written in id order a window of W ids "
   "at a time: rank 0 holds two windows (the one being completed and the next), and ids "
   "beyond them wait to start until a window is written, so rank 0's memory does not grow "
   "with N; 0 = the default: 64 MiB of records (1048576 sim records, fewer of http's and "
   "exec's larger ones), so rank 0 holds at most 128 MiB of them, with --journal too "
   "(default 0)", NULL, NULL},
  {"writers", EVF_OPT_U32, OFF(writers), 0, EVF_TASKS_MAX, "R",
   "with more ids than two windows, each sixteenth of a window is gathered to its writer, "
   "rank w mod R, which places its records by id, adds them to the summary's sums and writes "
   "them at their offset in the one --output file with MPI-IO, so writing grows with the "
   "ranks (the file must be on a file system every rank's node sees: a rank that cannot open "
   "it stops the job before any task); 0 = every rank, 1 = rank 0 alone (as do, whatever R, "
   "a --resume, an --output that is no regular file (a FIFO, /dev/stdout) and kinds with an "
   "input file) (default 0)", NULL, NULL},
  {"journal", EVF_OPT_STRING, OFF(journal), 0, 0, "DIR",
   "every rank appends each finished record to its own file in the directory DIR as it ends "
   "(written out every 0.02 s, fsynced every 2 s), so a run that ends early, even a rank "
   "killed, loses at most the last moments' records; no rank sends another its records for "
   "it.  DIR must be on a file system every rank's node sees; it is created, and must hold no "
   "journal unless --resume (default: none)",
   NULL, NULL},
  {"resume", EVF_OPT_FLAG, OFF(resume), 0, 0, NULL,
   "go on with --journal DIR: check it was written for the same tasks, keep the ids it holds, "
   "run the others (at any rank count and schedule), and write outputs with every id once; a "
   "missing DIR starts a new journal", NULL, NULL},
  {"retry-failed", EVF_OPT_FLAG, OFF(retry_failed), 0, 0, NULL,
   "with --resume: run again the ids whose last journaled record failed", NULL, NULL},
  {"grace", EVF_OPT_SECONDS, OFF(grace), 0, 86400, "SEC",
   "with --journal, the first SIGUSR1 or SIGTERM (or --max-fails) drains the job: no task "
   "starts, tasks in flight may end within SEC seconds (then they are cancelled, left for "
   "--resume), the journal and the outputs get what finished, the summary says partial, exit "
   "4; a second signal stops at once (default 10).  A drain that SIGTERM started gets "
   "--term-grace instead", NULL, NULL},
  {"term-grace", EVF_OPT_SECONDS, OFF(term_grace), 0, 86400, "SEC",
   "with --journal: the grace of a drain that SIGTERM starts (Ctrl-C under mpirun, scancel): "
   "launchers follow SIGTERM with SIGKILL (Open MPI's mpirun 1 s later, Slurm after its "
   "KillWait, 30 s by default), and the drain must end, the journal and outputs written, "
   "before that: 0.5 s past SEC, the ranks stop as on a second signal.  SIGUSR1 (mpirun "
   "forwards it; Slurm's --signal) drains with --grace (default 0.3)", NULL, NULL},
  {"max-fails", EVF_OPT_U32, OFF(max_fails), 0, EVF_TASKS_MAX, "N",
   "with --journal: drain once N tasks of this run have failed; 0 = never (default 0)", NULL,
   NULL},
  {"quiet", EVF_OPT_FLAG, OFF(quiet), 0, 0, NULL, "do not print the summary on stdout", NULL, NULL},
  {"help", EVF_OPT_HELP, 0, 0, 0, NULL, "print this help and exit", NULL, NULL},
  {"version", EVF_OPT_VERSION, 0, 0, 0, NULL,
   "print the version, the MPI library and libev's version, and exit", NULL, NULL},
};
#undef OFF
#define NOPTS (sizeof opt_table / sizeof opt_table[0])

static void set_defaults(struct evf_options *o)
{
  memset(o, 0, sizeof *o);
  o->tasks = 10000;
  o->seed = 1;
  o->io_min = 0.2;
  o->io_max = 1.0;
  o->cpu_min = 100000;
  o->cpu_max = 500000;
  o->progress = 10;
  o->inflight = EVF_INFLIGHT_DEFAULT;
  o->schedule = EVF_SCHEDULE_DYNAMIC;
  o->grace = 10;
  o->term_grace = 0.3;
  o->kind = "sim";
  o->retry_delay = 1;
  o->retry_max_delay = 60;
  o->host_connections = 8;
  o->connect_timeout = 10;
  o->max_redirs = 5;
  o->max_body = 8u << 20;
  o->warc_size = 1000000000u;
  o->user_agent = "evfarm/" EVF_VERSION_STRING;
}

int evf_cli_parse_uint(const char *name, const char *s, uint64_t min, uint64_t max, uint64_t *out,
                      char *msg)
{
  if (*s == '-')
    return evf_seterr(msg, EVF_EUSAGE, "--%s: '%s' must not be negative", name, evf_clip(s));
  for (const char *c = s; ; c++) {
    if (*c == '\0' && c != s)
      break;
    if (*c < '0' || *c > '9')
      return evf_seterr(msg, EVF_EUSAGE, "--%s: '%s' is not a whole number", name, evf_clip(s));
  }
  errno = 0;
  unsigned long long v = strtoull(s, NULL, 10);
  if (errno == ERANGE || v > max || v < min)
    return evf_seterr(msg, EVF_EUSAGE, "--%s: '%s' is out of range (%" PRIu64 " to %" PRIu64 ")",
                      name, evf_clip(s), min, max);
  *out = v;
  return 0;
}

int evf_cli_parse_real(const char *name, const char *s, double min, double max, double *out,
                      char *msg)
{
  char *end = NULL;
  if (*s == '\0' || strchr(" \t\n", *s) || strpbrk(s, "xXnNiI"))
    return evf_seterr(msg, EVF_EUSAGE, "--%s: '%s' is not a number", name, evf_clip(s));
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end != '\0')
    return evf_seterr(msg, EVF_EUSAGE, "--%s: '%s' is not a number", name, evf_clip(s));
  if (v < 0 || (v == 0 && *s == '-'))
    return evf_seterr(msg, EVF_EUSAGE, "--%s: '%s' must not be negative", name, evf_clip(s));
  /* ERANGE with a tiny result is underflow (1e-320): the value is that tiny number, not out of
   * range; only overflow is. */
  int overflow = errno == ERANGE && !(v < DBL_MIN);
  if (overflow || !isfinite(v) || v < min || v > max)
    return evf_seterr(msg, EVF_EUSAGE, "--%s: '%s' is out of range (%g to %g)", name, evf_clip(s),
                      min, max);
  *out = v;
  return 0;
}

int evf_opt_choice(const char *name, const char *val, const char *const *choices, char *msg)
{
  char list[256] = "";
  int n = 0;
  for (int k = 0; choices[k]; k++, n++)
    if (strcmp(val, choices[k]) == 0)
      return k;
  for (int k = 0; k < n; k++)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
             k == 0 ? "" : k == n - 1 ? " or " : ", ", choices[k]);
  evf_seterr(msg, EVF_EUSAGE, "--%s: '%s' is not %s", name, evf_clip(val), list);
  return -1;
}

static int set_value(const struct evf_optdef *d, const char *val, void *base, char *msg)
{
  char *field = (char *)base + d->offset;
  uint64_t u = 0;
  double r = 0;
  int rc = 0;
  switch (d->type) {
  case EVF_OPT_U32:
    if ((rc = evf_cli_parse_uint(d->name, val, (uint64_t)d->min, (uint64_t)d->max, &u, msg)) == 0)
      *(uint32_t *)(void *)field = (uint32_t)u;
    break;
  case EVF_OPT_U64:
    if ((rc = evf_cli_parse_uint(d->name, val, 0, UINT64_MAX, &u, msg)) == 0)
      *(uint64_t *)(void *)field = u;
    break;
  case EVF_OPT_SECONDS:
  case EVF_OPT_FRACTION:
    if ((rc = evf_cli_parse_real(d->name, val, d->min, d->max, &r, msg)) == 0)
      *(double *)(void *)field = r;
    break;
  case EVF_OPT_STRING:
    if (*val == '\0')
      return evf_seterr(msg, EVF_EUSAGE, "--%s: empty value", d->name);
    *(const char **)(void *)field = val;
    break;
  case EVF_OPT_CHOICE: {
    int k = evf_opt_choice(d->name, val, d->choices, msg);
    if (k < 0)
      return EVF_EUSAGE;
    *(int *)(void *)field = k;
    break;
  }
  case EVF_OPT_CUSTOM:
    rc = d->parse(d->name, val, field, msg);
    break;
  default:
    break;
  }
  return rc;
}

int evf_opt_parse(const struct evf_optdef *defs, size_t n, int argc, char **argv, int *next,
                  void *base, unsigned char *set, enum evf_cli_action *action, char *msg)
{
  for (int i = *next; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--") == 0) { /* the end of these options: the caller takes the rest */
      *next = i;
      return 0;
    }
    if (strncmp(arg, "--", 2) != 0)
      return evf_seterr(msg, EVF_EUSAGE, "'%s': unexpected argument (options start with --)",
                        evf_clip(arg));
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const struct evf_optdef *d = NULL;
    for (size_t k = 0; k < n; k++)
      if (strlen(defs[k].name) == len && strncmp(defs[k].name, name, len) == 0)
        d = &defs[k];
    if (!d)
      return evf_seterr(msg, EVF_EUSAGE, "--%.*s: unknown option",
                        (int)(len < EVF_CLIP_LEN ? len : EVF_CLIP_LEN), name);
    if (set)
      set[d - defs] = 1;
    if (d->type == EVF_OPT_HELP || d->type == EVF_OPT_VERSION || d->type == EVF_OPT_FLAG) {
      if (eq)
        return evf_seterr(msg, EVF_EUSAGE, "--%s: takes no value", d->name);
      if (d->type == EVF_OPT_FLAG)
        *(int *)(void *)((char *)base + d->offset) = 1;
      else if (*action == EVF_CLI_RUN)
        *action = d->type == EVF_OPT_HELP ? EVF_CLI_HELP : EVF_CLI_VERSION;
      continue;
    }
    const char *val;
    if (eq)
      val = eq + 1;
    else if (i + 1 < argc)
      val = argv[++i];
    else
      return evf_seterr(msg, EVF_EUSAGE, "--%s: missing value", d->name);
    int rc = set_value(d, val, base, msg);
    if (rc)
      return rc;
  }
  *next = argc;
  return 0;
}

static int ends_with(const char *s, const char *suffix)
{
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static int was_set(const unsigned char *set, size_t offset)
{
  for (size_t k = 0; k < NOPTS; k++)
    if (opt_table[k].offset == offset && set[k])
      return 1;
  return 0;
}

/* Options that belong to one kind: given with another kind, they are bad input. */
static const struct {
  const char *kind, *name;
  size_t offset;
} kind_options[] = {
  {"sim", "tasks", offsetof(struct evf_options, tasks)},
  {"sim", "io-min", offsetof(struct evf_options, io_min)},
  {"sim", "io-max", offsetof(struct evf_options, io_max)},
  {"sim", "cpu-min", offsetof(struct evf_options, cpu_min)},
  {"sim", "cpu-max", offsetof(struct evf_options, cpu_max)},
  {"sim", "cpu-skew", offsetof(struct evf_options, cpu_skew)},
  {"sim", "fail-rate", offsetof(struct evf_options, fail_rate)},
  {"sim", "hang-rate", offsetof(struct evf_options, hang_rate)},
  {"http", "urls", offsetof(struct evf_options, urls)},
  {"http", "host-connections", offsetof(struct evf_options, host_connections)},
  {"http", "connect-timeout", offsetof(struct evf_options, connect_timeout)},
  {"http", "max-redirs", offsetof(struct evf_options, max_redirs)},
  {"http", "max-body", offsetof(struct evf_options, max_body)},
  {"http", "warc", offsetof(struct evf_options, warc)},
  {"http", "warc-size", offsetof(struct evf_options, warc_size)},
  {"http", "user-agent", offsetof(struct evf_options, user_agent)},
  {"http", "header", offsetof(struct evf_options, headers)},
  {"http", "compressed", offsetof(struct evf_options, compressed)},
  {"http", "ignore-opt-out", offsetof(struct evf_options, ignore_opt_out)},
  {"http", "robots", offsetof(struct evf_options, robots)},
  {"http", "host-delay", offsetof(struct evf_options, host_delay)},
  {"http", "host-delay-jitter", offsetof(struct evf_options, host_delay_jitter)},
  {"exec", "commands", offsetof(struct evf_options, commands)},
  {"exec", "command", offsetof(struct evf_options, command)},
  {"exec", "args", offsetof(struct evf_options, args)},
  {"exec", "outdir", offsetof(struct evf_options, outdir)},
  {"exec", "retry-on", offsetof(struct evf_options, retry_on)},
};

static int validate_kind(struct evf_options *o, const struct evf_task_kind *kind,
                         const unsigned char *set, char *msg)
{
  for (size_t k = 0; k < sizeof kind_options / sizeof kind_options[0]; k++)
    if (strcmp(kind_options[k].kind, kind->name) != 0 && was_set(set, kind_options[k].offset))
      return evf_seterr(msg, EVF_EUSAGE, "--%s: only for --kind %s%s", kind_options[k].name,
                        kind_options[k].kind,
                        kind->input_option && strcmp(kind_options[k].name, "tasks") == 0
                            ? " (the input file gives the tasks)"
                            : "");
  if (strcmp(kind->name, "http") == 0) {
    o->inputs = o->urls;
    o->inputs_option = "urls";
  } else if (strcmp(kind->name, "exec") == 0) {
    if (o->commands && (o->command || o->args))
      return evf_seterr(msg, EVF_EUSAGE, "--%s: not with --commands (one or the other)",
                        o->command ? "command" : "args");
    if (o->command && !o->args)
      return evf_seterr(msg, EVF_EUSAGE, "--command: needs --args FILE");
    if (o->args && !o->command)
      return evf_seterr(msg, EVF_EUSAGE, "--args: needs --command TEMPLATE");
    if (o->command && !strstr(o->command, "{}"))
      return evf_seterr(msg, EVF_EUSAGE, "--command: '%s' has no {} for the argument",
                        evf_clip(o->command));
    if (!o->commands && !o->command)
      return evf_seterr(msg, EVF_EUSAGE, "--commands: needed with --kind exec (or --command "
                        "and --args)");
    o->inputs = o->commands ? o->commands : o->args;
    o->inputs_option = o->commands ? "commands" : "args";
    if (!was_set(set, offsetof(struct evf_options, inflight)))
      o->inflight = 1;
  }
  if (kind->input_option && !o->inputs)
    return evf_seterr(msg, EVF_EUSAGE, "--%s: needed with --kind %s", kind->input_option,
                      kind->name);
  if (strcmp(kind->name, "http") == 0) {
    if (!was_set(set, offsetof(struct evf_options, inflight))) {
      o->inflight = EVF_HTTP_INFLIGHT_DEFAULT;
      o->inflight_auto = 1;
    }
    if (!was_set(set, offsetof(struct evf_options, timeout)))
      o->timeout = EVF_HTTP_TIMEOUT_DEFAULT;
  }
  return 0;
}

/* Checks that involve more than one option.  A range bound left at its default follows the
 * other bound when they cross (--io-max 0 alone means delays of 0); two explicit bounds that
 * cross are an error. */
static int validate(struct evf_options *o, const unsigned char *set, char *msg)
{
  if (o->io_min > o->io_max && !was_set(set, offsetof(struct evf_options, io_min)))
    o->io_min = o->io_max;
  if (o->io_min > o->io_max && !was_set(set, offsetof(struct evf_options, io_max)))
    o->io_max = o->io_min;
  if (o->cpu_min > o->cpu_max && !was_set(set, offsetof(struct evf_options, cpu_min)))
    o->cpu_min = o->cpu_max;
  if (o->cpu_min > o->cpu_max && !was_set(set, offsetof(struct evf_options, cpu_max)))
    o->cpu_max = o->cpu_min;
  if (o->io_min > o->io_max)
    return evf_seterr(msg, EVF_EUSAGE, "--io-min: %g is greater than --io-max %g", o->io_min,
                      o->io_max);
  if (o->cpu_min > o->cpu_max)
    return evf_seterr(msg, EVF_EUSAGE, "--cpu-min: %u is greater than --cpu-max %u",
                      (unsigned)o->cpu_min, (unsigned)o->cpu_max);
  if (o->resume && !o->journal)
    return evf_seterr(msg, EVF_EUSAGE, "--resume: needs --journal DIR");
  if (o->max_fails && !o->journal)
    return evf_seterr(msg, EVF_EUSAGE, "--max-fails: needs --journal DIR (a drained run is "
                      "resumed from it)");
  if (o->retry_failed && !o->resume)
    return evf_seterr(msg, EVF_EUSAGE, "--retry-failed: needs --resume (and --journal DIR)");
  if (o->progress > 0 && o->progress < EVF_PROGRESS_FLOOR)
    return evf_seterr(msg, EVF_EUSAGE,
                      "--progress: %g s is below the floor of " EVF_PROGRESS_FLOOR_TEXT
                      " (0 turns progress off)", o->progress);
  const struct evf_task_kind *kind = evf_task_kind_find(o->kind);
  if (!kind)
    return evf_seterr(msg, EVF_EUSAGE, "--kind: '%s' is not a task kind (%s)", evf_clip(o->kind),
                      evf_task_kind_names());
  int rc = validate_kind(o, kind, set, msg);
  if (rc)
    return rc;
  if (o->retry_delay > o->retry_max_delay) {
    if (was_set(set, offsetof(struct evf_options, retry_max_delay)))
      return evf_seterr(msg, EVF_EUSAGE, "--retry-delay: %g is greater than --retry-max-delay %g",
                        o->retry_delay, o->retry_max_delay);
    o->retry_max_delay = o->retry_delay;
  }
  if (o->hang_rate > 0 && o->timeout == 0)
    return evf_seterr(msg, EVF_EUSAGE,
                      "--hang-rate: needs --timeout (a hung attempt ends only when cancelled)");
  if (o->timeout > 0 && !kind->cancel)
    return evf_seterr(msg, EVF_EUSAGE, "--timeout: tasks of kind %s cannot be cancelled",
                      kind->name);
  if (o->format != EVF_FORMAT_AUTO && !o->output)
    return evf_seterr(msg, EVF_EUSAGE, "--format: needs --output");
  if (o->output && o->format == EVF_FORMAT_AUTO)
    o->format = (ends_with(o->output, ".jsonl") || ends_with(o->output, ".ndjson") ||
                 ends_with(o->output, ".json"))
                    ? EVF_FORMAT_JSONL
                    : EVF_FORMAT_CSV;
  if (o->output && o->json && strcmp(o->output, o->json) == 0)
    return evf_seterr(msg, EVF_EUSAGE, "--json: '%s' is also the --output file", evf_clip(o->json));
  return 0;
}

int evf_cli_parse(int argc, char **argv, struct evf_options *opt, enum evf_cli_action *action,
                  char *msg)
{
  unsigned char set[NOPTS] = {0}; /* which options the command line gave */
  set_defaults(opt);
  *action = EVF_CLI_RUN;
  int next = 1;
  int rc = evf_opt_parse(opt_table, NOPTS, argc, argv, &next, opt, set, action, msg);
  if (rc == 0 && next < argc) /* a "--": evfarm takes no operands */
    rc = evf_seterr(msg, EVF_EUSAGE, "'--': unexpected argument (options start with --)");
  if (rc || *action != EVF_CLI_RUN)
    return rc;
  return validate(opt, set, msg);
}

void evf_opt_usage(FILE *out, const struct evf_optdef *defs, size_t n)
{
  for (size_t k = 0; k < n; k++) {
    const struct evf_optdef *d = &defs[k];
    char left[48];
    snprintf(left, sizeof left, "--%s%s%s", d->name, d->metavar ? " " : "",
             d->metavar ? d->metavar : "");
    fprintf(out, "  %-20s", left);
    /* Wrap the description at 79 columns, continuation lines under its first word. */
    const char *h = d->help;
    int col = 22;
    while (*h) {
      const char *sp = strchr(h, ' ');
      int w = sp ? (int)(sp - h) : (int)strlen(h);
      if (col + 1 + w > 79) {
        fputs("\n                      ", out);
        col = 22;
      }
      fprintf(out, " %.*s", w, h);
      col += 1 + w;
      h += w;
      while (*h == ' ')
        h++;
    }
    fputc('\n', out);
  }
}

void evf_cli_usage(FILE *out)
{
  fputs("Usage: mpirun -np RANKS evfarm [OPTION]...\n"
        "Run N tasks with one libev event loop per MPI rank: a simulated crawler (--kind\n"
        "sim, the default), HTTP fetches of a file of URLs with libcurl (--kind http),\n"
        "or a file of shell commands (--kind exec). Each task waits on I/O (or its child\n"
        "process), then runs a CPU phase. The records come back by MPI_Gatherv a window\n"
        "at a time to the rank that writes that window (--writers); the output is one\n"
        "file in id order, and rank 0 prints a summary with the wall time, the lower\n"
        "bound and the efficiency.\n"
        "\nOptions (--opt VALUE or --opt=VALUE):\n",
        out);
  evf_opt_usage(out, opt_table, NOPTS);
  fputs("\nsim: task parameters come from a generator keyed by (seed, task id): the\n"
        "planned I/O delay is uniform in [io-min, io-max] in steps of 10 ms, the\n"
        "iterations uniform in [cpu-min, cpu-max]; the CPU phase computes sum(i, 0 <= i\n"
        "< iterations).\n"
        "http: task k fetches the k-th URL of --urls; the CPU phase counts the body's\n"
        "bytes, lines and href= links and hashes it (XXH3-64). Statuses: ok, http_error\n"
        "(final status not 2xx), timeout, io_error (connection failed), truncated\n"
        "(--max-body), opted_out (X-Robots-Tag: noai, ...), robots_disallowed (its\n"
        "host's robots.txt says no, or answered 5xx or 429), error (unsupported scheme,\n"
        "too many redirects, ...). Retried when --retries allows: refused or reset\n"
        "connections, timeouts, 5xx, 429 (after its Retry-After), a robots.txt that\n"
        "could not be read. Polite by default: each host's robots.txt is read first and\n"
        "obeyed (--robots); --host-delay spaces the requests to one host. --warc DIR\n"
        "keeps every response in WARC files, each rank its own.\n"
        "exec: task k runs the k-th line of --commands as /bin/sh -c LINE (or --command\n"
        "with {} replaced by the k-th line of --args, shell-quoted) in its own process\n"
        "group, stdin /dev/null, with EVFARM_TASK_ID, EVFARM_RANK, EVFARM_ATTEMPT and\n"
        "EVFARM_NTASKS set. Statuses: ok (exit 0), exit (non-zero; code in the record),\n"
        "signal, timeout (its whole process group gets SIGTERM, then SIGKILL 2 s later),\n"
        "spawn_error. Processes a command leaves in its group are killed when it exits.\n"
        "Lines are at most 65536 bytes. Layouts: one rank per core with --inflight 1\n"
        "(the default), or one rank per node (mpirun --bind-to none) with --inflight =\n"
        "its cores.\n"
        "\nExit status:\n"
        "  0  every task finished with status ok\n"
        "  1  the job ran, but some task failed (see the status column of --output)\n"
        "  2  bad input: an option, a value or an output file (one line on stderr)\n"
        "  3  runtime error: the job could not run or its results could not be written\n"
        "  4  drained (--journal only): SIGUSR1, SIGTERM or --max-fails stopped it early;\n"
        "     what finished is written (summary: partial), --resume goes on\n"
        "  128+S  stopped by signal S (130 SIGINT, 143 SIGTERM, 138 SIGUSR1, ...):\n"
        "     nothing is written and temporary files are removed; Open MPI's mpirun\n"
        "     exits 1 when it is the one interrupted (Ctrl-C: it sends the ranks SIGTERM),\n"
        "     whatever the ranks return; MPICH's mpiexec passes SIGINT on (130)\n"
        "\nLaunching:\n"
        "Start evfarm with the launcher of the MPI it was built with (--version names it).\n"
        "As root, Open MPI needs --allow-run-as-root, and more ranks than cores need\n"
        "--oversubscribe; evfarm-mpirun (installed beside evfarm, scripts/ in the source)\n"
        "runs the build's launcher and adds both for Open MPI; MPICH needs neither.\n"
        "\nExamples:\n"
        "  mpirun -np 4 evfarm --tasks 100000 --output results.csv --json summary.json\n"
        "  mpirun -np 4 evfarm --kind http --urls urls.txt --retries 3 --output r.csv\n"
        "  mpirun -np 4 evfarm --kind http --urls urls.txt --compressed --warc crawl/\n"
        "  mpirun -np 8 evfarm --kind exec --commands jobs.txt --journal j/ --resume\n",
        out);
}
