/* Command-line options: a pure parser that never exits and never prints; it fills a struct and
 * returns 0 or EVF_EUSAGE with a one-line message naming the option. */
#ifndef EVF_CLI_H
#define EVF_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Default --inflight: bounded, so memory never grows with N by default, and large enough that
 * the default job (10,000 tasks) keeps every task in flight on one rank. */
#define EVF_INFLIGHT_DEFAULT 65536u
/* Shortest --progress interval, seconds (a smaller one would flood stderr). */
#define EVF_PROGRESS_FLOOR 0.1
#define EVF_PROGRESS_FLOOR_TEXT "0.1 s"
/* --retry-on (exec): non-zero exits, deaths by a signal. */
#define EVF_RETRY_ON_EXIT 1
#define EVF_RETRY_ON_SIGNAL 2
/* Most --retries: the attempt count is one byte of the record. */
#define EVF_RETRIES_MAX 100
/* --kind http defaults where the option is not given. */
#define EVF_HTTP_INFLIGHT_DEFAULT 100u
#define EVF_HTTP_TIMEOUT_DEFAULT 60.0

enum evf_format { EVF_FORMAT_AUTO = 0, EVF_FORMAT_CSV, EVF_FORMAT_JSONL };

/* --progress-style: a bar redrawn in place on a terminal, plain lines elsewhere. */
enum evf_schedule { EVF_SCHEDULE_STATIC = 0, EVF_SCHEDULE_DYNAMIC };
enum evf_progress_style { EVF_PROGRESS_AUTO = 0, EVF_PROGRESS_BAR, EVF_PROGRESS_LINES };

/* --robots (http): read each host's robots.txt first and obey it, or not. */
enum evf_robots_mode { EVF_ROBOTS_OBEY = 0, EVF_ROBOTS_IGNORE };
/* Crawl-delay from a robots.txt is obeyed up to this many seconds (as Heritrix caps it). */
#define EVF_CRAWL_DELAY_MAX 300.0

enum evf_cli_action { EVF_CLI_RUN = 0, EVF_CLI_HELP, EVF_CLI_VERSION };

/* --header (http): at most this many. */
#define EVF_HEADERS_MAX 64
struct evf_headers {
  const char *v[EVF_HEADERS_MAX]; /* "Name: value" (points into argv) */
  uint32_t n;
};

struct evf_options {
  uint32_t tasks;          /* N: task ids 1..N */
  uint64_t seed;           /* generator seed */
  double io_min, io_max;   /* planned I/O delay range, seconds (rounded to 10 ms) */
  uint32_t cpu_min, cpu_max; /* CPU iterations range */
  double cpu_skew;         /* sim: task i's iterations times 1 + skew (i-1)/(N-1) */
  uint32_t inflight;       /* tasks in flight per rank; 0 = all of the rank's tasks */
  int inflight_auto;       /* http: --inflight not given (a polite crawl may raise it) */
  uint32_t window;         /* --window: ids per window of records on rank 0; 0 = the default */
  uint32_t writers;        /* --writers: ranks that write the windows; 0 = every rank */
  uint32_t batch_size;     /* static: 0 = one contiguous batch per rank; dynamic: 0 = guided */
  int schedule;            /* enum evf_schedule */
  double fail_rate;        /* fraction of sim attempts whose I/O phase fails (transient) */
  double hang_rate;        /* fraction of sim attempts whose I/O phase never ends */
  double timeout;          /* seconds an I/O attempt may take before it is cancelled; 0 = none */
  uint32_t retries;        /* further attempts after a transient failure */
  double retry_delay;      /* base of the exponential backoff, seconds */
  double retry_max_delay;  /* cap of the backoff and of a server's Retry-After, seconds */
  const char *inputs;      /* the input file of kinds that take one (below); set by the parser */
  const char *inputs_option; /* the option that named it: "urls", "commands" or "args" */
  const char *urls;        /* http: --urls FILE */
  const char *commands;    /* exec: --commands FILE, one shell command per line */
  const char *command;     /* exec: --command TEMPLATE, {} replaced by each --args line */
  const char *args;        /* exec: --args FILE */
  const char *outdir;      /* exec: each task's stdout/stderr to DIR/<id>.out, .err */
  int retry_on;            /* exec: EVF_RETRY_ON_* bits: which failures --retries retries */
  uint32_t host_connections; /* http: most connections per host; 0 = no limit */
  double connect_timeout;  /* http: seconds to connect; 0 = curl's default (300 s) */
  uint32_t max_redirs;     /* http: redirects followed; 0 = none */
  uint64_t max_body;       /* http: bytes kept of a body; a longer one is cut: "truncated" */
  const char *warc;        /* http: --warc DIR: every response kept in WARC files there */
  uint64_t warc_size;      /* http: a WARC file is closed once past this many bytes */
  const char *user_agent;  /* http: the User-Agent header */
  struct evf_headers headers; /* http: --header lines, in order */
  int compressed;          /* http: ask for compressed bodies; the CPU phase sees them decoded */
  int ignore_opt_out;      /* http: keep responses whose X-Robots-Tag opts out */
  int robots;              /* http: enum evf_robots_mode */
  double host_delay;       /* http: seconds between the starts of two requests to one host */
  double host_delay_jitter; /* http: up to this many seconds more, drawn per request */
  double progress;         /* seconds between progress lines on stderr; 0 = none */
  int progress_style;      /* enum evf_progress_style */
  const char *kind;        /* task kind name (points into argv or a literal) */
  const char *output;      /* --output path or NULL */
  const char *json;        /* --json path or NULL */
  enum evf_format format;  /* format of --output; AUTO is resolved by the parser */
  int quiet;               /* no summary on stdout */
  const char *journal;     /* --journal path or NULL */
  int resume;              /* --resume: go on with the journal */
  int retry_failed;        /* --retry-failed: rerun ids whose journaled record failed */
  double grace;            /* --grace: seconds in-flight tasks get in a drain */
  double term_grace;       /* --term-grace: the same for a drain SIGTERM started */
  uint32_t max_fails;      /* --max-fails: drain after this many failures; 0 = never */
};

/* The option tables behind evfarm's and evfarm-sweep's parsers: one row per option, pointing at
 * a field of the struct being filled; parsing, range checks and --help all come from the row.
 * Every option takes --opt VALUE or --opt=VALUE. */
enum evf_opt_type {
  EVF_OPT_U32,       /* uint32_t field, whole number in [min, max] */
  EVF_OPT_U64,       /* uint64_t field, any 64-bit whole number */
  EVF_OPT_SECONDS,   /* double field, in [min, max] */
  EVF_OPT_FRACTION,  /* double field, in [min, max] */
  EVF_OPT_STRING,    /* const char * field, not empty (points into argv) */
  EVF_OPT_CHOICE,    /* int field: the index of the value in `choices` */
  EVF_OPT_CUSTOM,    /* `parse` fills the field */
  EVF_OPT_FLAG,      /* int field set to 1; takes no value */
  EVF_OPT_HELP,      /* sets *action to EVF_CLI_HELP */
  EVF_OPT_VERSION    /* sets *action to EVF_CLI_VERSION */
};

struct evf_optdef {
  const char *name;      /* without the leading "--" */
  enum evf_opt_type type;
  size_t offset;         /* of the field in the struct being filled */
  double min, max;       /* accepted range for numbers */
  const char *metavar;
  const char *help;      /* ends with the default */
  const char *const *choices;  /* EVF_OPT_CHOICE: NULL-terminated */
  int (*parse)(const char *name, const char *val, void *field, char *msg); /* EVF_OPT_CUSTOM */
};

/* Parse options from argv[*next] on into `base` by the table defs[0..n), up to the end or a
 * "--" (*next is then its index, else argc).  set[k] (when not NULL) is set for each option
 * given.  Returns 0 or EVF_EUSAGE with msg "--name: <problem>". */
int evf_opt_parse(const struct evf_optdef *defs, size_t n, int argc, char **argv, int *next,
                  void *base, unsigned char *set, enum evf_cli_action *action, char *msg);
/* The options of a table, one per line, wrapped at 79 columns. */
void evf_opt_usage(FILE *out, const struct evf_optdef *defs, size_t n);
/* The index of `val` in the NULL-terminated `choices`, or -1 with msg
 * "--name: 'val' is not a, b or c". */
int evf_opt_choice(const char *name, const char *val, const char *const *choices, char *msg);

/* Fill `opt` from argv[1..argc-1].  *action tells whether to run, or print help or version.
 * Returns 0, or EVF_EUSAGE with `msg` (EVF_ERRMSG_LEN bytes) set to "<option>: <problem>". */
int evf_cli_parse(int argc, char **argv, struct evf_options *opt, enum evf_cli_action *action,
                  char *msg);

/* A whole number for option --name: decimal digits only, no sign or spaces, within [min, max].
 * Returns 0 or EVF_EUSAGE with msg "--name: '<s>' is not a whole number" (or out of range). */
int evf_cli_parse_uint(const char *name, const char *s, uint64_t min, uint64_t max, uint64_t *out,
                       char *msg);
/* A real number in decimal notation, finite, within [min, max]; messages as above. */
int evf_cli_parse_real(const char *name, const char *s, double min, double max, double *out,
                       char *msg);

/* The --help text. */
void evf_cli_usage(FILE *out);

#endif
