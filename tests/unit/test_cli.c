/* cli: good command lines give the right options; every kind of bad input gives EVF_EUSAGE
 * and a message that names the option. */
#include <stdlib.h>

#include "check.h"
#include "cli.h"
#include "error.h"

#define MAXARGS 12

static int parse(const char *const *args, struct evf_options *o, enum evf_cli_action *a, char *msg)
{
  char *argv[MAXARGS + 1] = {"evfarm"};
  int argc = 1;
  for (; args[argc - 1]; argc++)
    argv[argc] = (char *)args[argc - 1];
  msg[0] = '\0';
  return evf_cli_parse(argc, argv, o, a, msg);
}

struct bad_case {
  const char *args[MAXARGS];
  const char *want; /* a substring of the message */
};

static const struct bad_case bad[] = {
  {{"--tasks", "abc"}, "--tasks: 'abc' is not a whole number"},
  {{"--tasks", "12x"}, "--tasks: '12x' is not a whole number"},
  {{"--tasks", ""}, "--tasks: '' is not a whole number"},
  {{"--tasks", " 5"}, "--tasks: ' 5' is not a whole number"},
  {{"--tasks", "-5"}, "--tasks: '-5' must not be negative"},
  {{"--tasks", "0"}, "--tasks: '0' is out of range"},
  {{"--tasks", "4294967296"}, "--tasks: '4294967296' is out of range"},
  {{"--tasks", "99999999999999999999999"}, "out of range"},
  {{"--seed", "18446744073709551616"},
   "--seed: '18446744073709551616' is out of range (0 to 18446744073709551615)"},
  {{"--progress", "1e-300"}, "--progress: 1e-300 s is below the floor of 0.1 s"},
  {{"--progress", "0.09"}, "--progress: 0.09 s is below the floor"},
  {{"--cpu-max", "4294967296"}, "--cpu-max: '4294967296' is out of range"},
  {{"--io-min", "-0.1"}, "--io-min: '-0.1' must not be negative"},
  {{"--io-max", "1s"}, "--io-max: '1s' is not a number"},
  {{"--io-max", "nan"}, "--io-max: 'nan' is not a number"},
  {{"--io-max", "inf"}, "--io-max: 'inf' is not a number"},
  {{"--io-max", "0x10"}, "--io-max: '0x10' is not a number"},
  {{"--io-max", "1e999"}, "--io-max: '1e999' is out of range"},
  {{"--io-max", "3601"}, "--io-max: '3601' is out of range"},
  {{"--io-min", "0.8", "--io-max", "0.5"}, "--io-min: 0.8 is greater than --io-max 0.5"},
  {{"--cpu-min", "10", "--cpu-max", "5"}, "--cpu-min: 10 is greater than --cpu-max 5"},
  {{"--fail-rate", "1.5"}, "--fail-rate: '1.5' is out of range"},
  {{"--bogus"}, "--bogus: unknown option"},
  {{"--bogus=3"}, "--bogus: unknown option"},
  {{"-n", "4"}, "'-n': unexpected argument"},
  {{"tasks"}, "'tasks': unexpected argument"},
  {{"--tasks"}, "--tasks: missing value"},
  {{"--tasks", "5", "--output"}, "--output: missing value"},
  {{"--output="}, "--output: empty value"},
  {{"--kind", "ftp"}, "--kind: 'ftp' is not a task kind"},
  {{"--format", "xml", "--output", "a"}, "--format: 'xml' is not csv or jsonl"},
  {{"--format", "csv"}, "--format: needs --output"},
  {{"--quiet=1"}, "--quiet: takes no value"},
  {{"--output", "a.csv", "--json", "a.csv"}, "--json: 'a.csv' is also the --output file"},
};

int main(void)
{
  struct evf_options o;
  enum evf_cli_action a;
  char msg[EVF_ERRMSG_LEN];

  /* Defaults. */
  const char *none[] = {NULL};
  CHECK_EQ_U64(parse(none, &o, &a, msg), 0);
  CHECK_EQ_U64(a, EVF_CLI_RUN);
  CHECK_EQ_U64(o.tasks, 10000);
  CHECK_EQ_U64(o.seed, 1);
  CHECK_NEAR(o.io_min, 0.2, 0);
  CHECK_NEAR(o.io_max, 1.0, 0);
  CHECK_EQ_U64(o.cpu_min, 100000);
  CHECK_EQ_U64(o.cpu_max, 500000);
  CHECK_EQ_U64(o.inflight, EVF_INFLIGHT_DEFAULT); /* bounded, and >= the default job */
  CHECK(EVF_INFLIGHT_DEFAULT >= o.tasks);
  CHECK_EQ_U64(o.batch_size, 0);
  CHECK_STR(o.kind, "sim");
  CHECK(o.output == NULL && o.json == NULL);

  /* Both spellings, limits, and the format from the extension. */
  const char *good[] = {"--tasks", "4294967295", "--seed=18446744073709551615", "--io-min", "0",
                        "--io-max=3600", "--cpu-min", "0", "--cpu-max", "4294967295",
                        "--output", "r.JSONL.jsonl", NULL};
  CHECK_EQ_U64(parse(good, &o, &a, msg), 0);
  CHECK_STR(msg, "");
  CHECK_EQ_U64(o.tasks, 4294967295u); /* the largest 32-bit id */
  CHECK_EQ_U64(o.seed, UINT64_MAX);
  CHECK_NEAR(o.io_max, 3600, 0);
  CHECK_EQ_U64(o.cpu_max, 4294967295u);
  CHECK_EQ_U64(o.format, EVF_FORMAT_JSONL);

  const char *csv[] = {"--output", "out.dat", "--inflight", "64", "--batch-size=100",
                       "--fail-rate", "0.25", "--quiet", "--json", "s.json", NULL};
  CHECK_EQ_U64(parse(csv, &o, &a, msg), 0);
  CHECK_EQ_U64(o.format, EVF_FORMAT_CSV);
  CHECK_EQ_U64(o.inflight, 64);
  CHECK_EQ_U64(o.batch_size, 100);
  CHECK_NEAR(o.fail_rate, 0.25, 0);
  CHECK(o.quiet == 1);
  CHECK_STR(o.json, "s.json");

  const char *fmt[] = {"--output", "x.csv", "--format", "jsonl", "--io-min", "1e-1", NULL};
  CHECK_EQ_U64(parse(fmt, &o, &a, msg), 0);
  CHECK_EQ_U64(o.format, EVF_FORMAT_JSONL);
  CHECK_NEAR(o.io_min, 0.1, 1e-15);

  /* A bound left at its default follows the other one across; explicit crossed bounds fail. */
  const char *empty[] = {"--io-max", "0", "--cpu-max", "0", NULL};
  CHECK_EQ_U64(parse(empty, &o, &a, msg), 0);
  CHECK_NEAR(o.io_min, 0, 0);
  CHECK_EQ_U64(o.cpu_min, 0);
  const char *up[] = {"--io-min", "2", "--cpu-min", "600000", NULL};
  CHECK_EQ_U64(parse(up, &o, &a, msg), 0);
  CHECK_NEAR(o.io_max, 2, 0);
  CHECK_EQ_U64(o.cpu_max, 600000);

  /* --help and --version win over the rest of the line, even over values that are wrong. */
  const char *help[] = {"--tasks", "5", "--help", "--version", NULL};
  CHECK_EQ_U64(parse(help, &o, &a, msg), 0);
  CHECK_EQ_U64(a, EVF_CLI_HELP);
  const char *ver[] = {"--version", "--io-min", "5", "--io-max", "1", NULL};
  CHECK_EQ_U64(parse(ver, &o, &a, msg), 0);
  CHECK_EQ_U64(a, EVF_CLI_VERSION);

  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    int rc = parse(bad[k].args, &o, &a, msg);
    CHECK_EQ_U64(rc, (uint64_t)(int64_t)EVF_EUSAGE);
    if (!strstr(msg, bad[k].want)) {
      check_failures++;
      fprintf(stderr, "bad case %zu: message '%s' lacks '%s'\n", k, msg, bad[k].want);
    }
    CHECK(strchr(msg, '\n') == NULL);
  }

  /* A value that underflows is that tiny value, not "out of range"; the extension's case does
   * not matter. */
  const char *tiny[] = {"--io-min", "1e-320", "--io-max", "1e-320", "--output", "R.JSONL",
                        "--progress", "0.1", NULL};
  CHECK_EQ_U64(parse(tiny, &o, &a, msg), 0);
  CHECK(o.io_min > 0 && o.io_min < 1e-300);
  CHECK_EQ_U64(o.format, EVF_FORMAT_JSONL);
  CHECK_NEAR(o.progress, 0.1, 0);

  /* A long argument does not push the reason out of the message. */
  char *longarg = malloc(100001);
  memset(longarg, 'x', 100000);
  longarg[100000] = '\0';
  const char *big[] = {"--tasks", longarg, NULL};
  CHECK_EQ_U64(parse(big, &o, &a, msg), (uint64_t)(int64_t)EVF_EUSAGE);
  CHECK(strstr(msg, "is not a whole number") != NULL && strstr(msg, "(100000 bytes)") != NULL);
  free(longarg);

  /* The help text names every option. */
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  evf_cli_usage(f);
  fclose(f);
  const char *names[] = {"--tasks", "--seed", "--io-min", "--io-max", "--cpu-min", "--cpu-max",
                         "--inflight", "--batch-size", "--kind", "--fail-rate", "--output",
                         "--format", "--json", "--progress", "--quiet", "--help", "--version",
                         "Exit status"};
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
    CHECK(strstr(text, names[k]) != NULL);
  free(text);
  return check_done("test_cli");
}
