/* Command-line options: a pure parser that never exits and never prints; it fills a struct and
 * returns 0 or EVF_EUSAGE with a one-line message naming the option. */
#ifndef EVF_CLI_H
#define EVF_CLI_H

#include <stdint.h>
#include <stdio.h>

/* Default --inflight: bounded, so memory never grows with N by default, and large enough that
 * the default job (10,000 tasks) keeps every task in flight on one rank. */
#define EVF_INFLIGHT_DEFAULT 65536u
/* Shortest --progress interval, seconds (a smaller one would flood stderr). */
#define EVF_PROGRESS_FLOOR 0.1
#define EVF_PROGRESS_FLOOR_TEXT "0.1 s"

enum evf_format { EVF_FORMAT_AUTO = 0, EVF_FORMAT_CSV, EVF_FORMAT_JSONL };

enum evf_cli_action { EVF_CLI_RUN = 0, EVF_CLI_HELP, EVF_CLI_VERSION };

struct evf_options {
  uint32_t tasks;          /* N: task ids 1..N */
  uint64_t seed;           /* generator seed */
  double io_min, io_max;   /* planned I/O delay range, seconds (rounded to 10 ms) */
  uint32_t cpu_min, cpu_max; /* CPU iterations range */
  uint32_t inflight;       /* tasks in flight per rank; 0 = all of the rank's tasks */
  uint32_t batch_size;     /* 0 = one contiguous batch per rank */
  double fail_rate;        /* fraction of simulated tasks whose I/O phase fails */
  double progress;         /* seconds between progress lines on stderr; 0 = none */
  const char *kind;        /* task kind name (points into argv or a literal) */
  const char *output;      /* --output path or NULL */
  const char *json;        /* --json path or NULL */
  enum evf_format format;  /* format of --output; AUTO is resolved by the parser */
  int quiet;               /* no summary on stdout */
};

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
