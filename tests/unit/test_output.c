/* output and report: the CSV header and lines, JSON Lines records, the JSON summary (parsed by
 * a second test, unit_output_json_parses), record order through batches, and the
 * temporary-file-then-rename discipline. */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "error.h"
#include "output.h"
#include "partition.h"
#include "report.h"
#include "stats.h"

/* Entries in directory d, less . and .. */
static unsigned entries(const char *d)
{
  unsigned n = 0;
  DIR *dp = opendir(d);
  for (struct dirent *e; dp && (e = readdir(dp));)
    n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  if (dp)
    closedir(dp);
  return n;
}

static char *capture(void (*fn)(FILE *, void *), void *arg)
{
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  fn(f, arg);
  fclose(f);
  return text;
}

struct rec_arg {
  enum evf_format fmt;
  const struct evf_record *recs;
  const unsigned char *have;
};

static const char hosts[2][EVF_HOST_LEN] = {"node-a", "node-b"};

static void write_recs(FILE *f, void *arg)
{
  struct rec_arg *a = arg;
  CHECK_EQ_U64(evf_output_records(f, a->fmt, &evf_task_kind_sim, a->recs, 5, 2, hosts, NULL, a->have),
               0);
}

int main(int argc, char **argv)
{
  const char *dir = argc > 1 ? argv[1] : ".";
  /* 5 tasks in batches of 2 on 2 ranks: rank 0 ran batches 0 (ids 1,2) and 2 (id 5), rank 1
   * batch 1 (ids 3,4).  Records by id. */
  struct evf_partition p;
  CHECK_EQ_U64(evf_partition_plan(&p, 5, 2, 2), 0);
  struct evf_record recs[5] = {0};
  uint32_t ids[5] = {1, 2, 3, 4, 5};
  for (int i = 0; i < 5; i++) {
    recs[i].id = ids[i];
    recs[i].rank = ids[i] == 3 || ids[i] == 4 ? 1 : 0;
    recs[i].batch = (ids[i] - 1) / 2;
    recs[i].iterations = ids[i] * 10;
    recs[i].value = (uint64_t)recs[i].iterations * (recs[i].iterations - 1) / 2;
    /* id 5: 5,000.25 s, past a uint32 of microseconds (71.6 min) */
    evf_record_set_io_us(&recs[i], ids[i] == 5 ? UINT64_C(5000250000) : 250000);
    recs[i].t_start = 0.5;
    recs[i].t_io_done = 0.75;
    recs[i].t_end = 1.0;
    recs[i].cpu_time = 0.25;
    recs[i].status = ids[i] == 4 ? EVF_STATUS_IO_ERROR : EVF_STATUS_OK;
    recs[i].attempts = ids[i] == 4 ? 3 : 1;
    recs[i].last_error = ids[i] == 4 ? EVF_STATUS_IO_ERROR : ids[i] == 2 ? EVF_STATUS_TIMEOUT : 0;
  }
  /* The delay's 40 bits, and past them the largest (12.7 days), never a wrapped value. */
  struct evf_record big = {0};
  evf_record_set_io_us(&big, UINT64_C(1) << 41);
  CHECK_EQ_U64(evf_record_io_us(&big), EVF_IO_US_MAX);
  CHECK(evf_record_io_delay(&big) > 1099511.6 && evf_record_io_delay(&big) < 1099511.7);
  evf_record_set_io_us(&big, UINT64_C(1) << 32);
  CHECK_EQ_U64(big.io_delay_lo, 0);
  CHECK_EQ_U64(big.io_delay_hi, 1);
  struct rec_arg ra = {EVF_FORMAT_CSV, recs, NULL};
  char *csv = capture(write_recs, &ra);
  CHECK_STR(csv,
            "id,rank,host,batch,iterations,value,io_delay,t_start,t_io_done,t_end,cpu_time,status,"
            "attempts,last_error\n"
            "1,0,node-a,0,10,45,0.250000,0.500000,0.750000,1.000000,0.250000000,ok,1,\n"
            "2,0,node-a,0,20,190,0.250000,0.500000,0.750000,1.000000,0.250000000,ok,1,timeout\n"
            "3,1,node-b,1,30,435,0.250000,0.500000,0.750000,1.000000,0.250000000,ok,1,\n"
            "4,1,node-b,1,40,780,0.250000,0.500000,0.750000,1.000000,0.250000000,io_error,3,io_error\n"
            "5,0,node-a,2,50,1225,5000.250000,0.500000,0.750000,1.000000,0.250000000,ok,1,\n");
  free(csv);
  /* A resumed run: id 2 came from the journal (its node unknown), id 3 did not run. */
  const unsigned char have[5] = {2, 1, 0, 2, 2};
  ra.have = have;
  csv = capture(write_recs, &ra);
  CHECK_STR(csv,
            "id,rank,host,batch,iterations,value,io_delay,t_start,t_io_done,t_end,cpu_time,status,"
            "attempts,last_error\n"
            "1,0,node-a,0,10,45,0.250000,0.500000,0.750000,1.000000,0.250000000,ok,1,\n"
            "2,0,,0,20,190,0.250000,0.500000,0.750000,1.000000,0.250000000,ok,1,timeout\n"
            "4,1,node-b,1,40,780,0.250000,0.500000,0.750000,1.000000,0.250000000,io_error,3,io_error\n"
            "5,0,node-a,2,50,1225,5000.250000,0.500000,0.750000,1.000000,0.250000000,ok,1,\n");
  free(csv);
  ra.have = NULL;
  ra.fmt = EVF_FORMAT_JSONL;
  char *jsonl = capture(write_recs, &ra);
  const char *first = "{\"id\":1,\"rank\":0,\"host\":\"node-a\",\"batch\":0,\"iterations\":10,\"value\":45,";
  CHECK(strncmp(jsonl, first, strlen(first)) == 0);
  CHECK(strstr(jsonl, "\"status\":\"io_error\",\"attempts\":3,\"last_error\":\"io_error\"}\n"
                      "{\"id\":5") != NULL);
  CHECK(strstr(jsonl, "\"status\":\"ok\",\"attempts\":1,\"last_error\":null}\n{\"id\":2") != NULL);

  /* Files: the JSON Lines records and the summary go to `dir` for the parse test. */
  char path[1024], jpath[1024];
  snprintf(path, sizeof path, "%s/unit_output.jsonl", dir);
  snprintf(jpath, sizeof jpath, "%s/unit_output_summary.json", dir);
  unlink(path);
  struct evf_outfile f;
  char msg[EVF_ERRMSG_LEN];
  CHECK_EQ_U64(evf_outfile_open(&f, "--output", path, msg), 0);
  CHECK(access(path, F_OK) != 0); /* nothing under the final name until the commit */
  fputs(jsonl, f.fp);
  CHECK_EQ_U64(evf_outfile_commit(&f, msg), 0);
  CHECK(access(path, F_OK) == 0);
  free(jsonl);

  struct evf_options opt = {.tasks = 5, .seed = 3, .kind = "sim\"quoted\\", .output = "a\tb"};
  struct evf_summary s;
  CHECK_EQ_U64(evf_summary_compute(&s, recs, sizeof *recs, 5, 2, p.nbatches, 2.0), 0);
  evf_summary_set_placement(&s, hosts, NULL);
  s.slurm.job_id = "4242";
  s.slurm.node_list = "node-[a-b]";
  CHECK_EQ_U64(evf_outfile_open(&f, "--json", jpath, msg), 0);
  evf_report_json(f.fp, &opt, &s, 1);
  CHECK_EQ_U64(evf_outfile_commit(&f, msg), 0);

  /* The text summary names the numbers a person looks for. */
  char *text = NULL;
  size_t len = 0;
  FILE *tf = open_memstream(&text, &len);
  evf_report_text(tf, &opt, &s);
  fclose(tf);
  CHECK(strstr(text, "wall") && strstr(text, "lower bound") && strstr(text, "efficiency") &&
        strstr(text, "imbalance") && strstr(text, "4 ok 1 io_error"));
  CHECK(strstr(text, "nodes         2     node-a (1 rank), node-b (1 rank)") != NULL);
  CHECK(strstr(text, "slurm         job 4242") != NULL);
  free(text);
  evf_summary_free(&s);

  /* Unwritable paths are bad input, found at open time; a discarded file leaves nothing. */
  CHECK_EQ_U64(evf_outfile_open(&f, "--output", "/nonexistent-dir/x.csv", msg),
               (uint64_t)(int64_t)EVF_EUSAGE);
  CHECK(strstr(msg, "--output: cannot create '/nonexistent-dir/x.csv'") != NULL);
  CHECK_EQ_U64(evf_outfile_open(&f, "--json", dir, msg), (uint64_t)(int64_t)EVF_EUSAGE);
  CHECK(strstr(msg, "is a directory") != NULL);
  snprintf(path, sizeof path, "%s/unit_output_discarded.csv", dir);
  evf_outfile_named_temps(1); /* as on a file system without O_TMPFILE */
  CHECK_EQ_U64(evf_outfile_open(&f, "--output", path, msg), 0);
  char *tmp = strdup(f.tmp);
  CHECK(access(tmp, F_OK) == 0);
  evf_outfile_discard(&f);
  CHECK(access(tmp, F_OK) != 0 && access(path, F_OK) != 0);
  free(tmp);
  evf_outfile_named_temps(0);

  /* Both kinds of temporary file commit to the final name, with the content written, and leave
   * nothing else in the directory. */
  char sub[512];
  snprintf(sub, sizeof sub, "%s/unit_output_temps", dir);
  mkdir(sub, 0777);
  DIR *old = opendir(sub); /* what an earlier, failed run left */
  for (struct dirent *e; old && (e = readdir(old));)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(path, sizeof path, "%s/%s", sub, e->d_name);
      unlink(path);
    }
  if (old)
    closedir(old);
  for (int named = 0; named < 2; named++) {
    evf_outfile_named_temps(named);
    snprintf(path, sizeof path, "%s/final.csv", sub);
    unlink(path);
    CHECK_EQ_U64(evf_outfile_open(&f, "--output", path, msg), 0);
    CHECK(named ? f.tmp != NULL && !f.anon : f.tmp == NULL && f.anon); /* ext4, tmpfs */
    fputs("committed\n", f.fp);
    CHECK_EQ_U64(evf_outfile_commit(&f, msg), 0);
    char line[64] = "";
    FILE *in = fopen(path, "r");
    CHECK(in && fgets(line, sizeof line, in) && strcmp(line, "committed\n") == 0);
    if (in)
      fclose(in);
    CHECK_EQ_U64(entries(sub), 1);
    evf_outfile_named_temps(0);
  }

  /* A process that dies while writing leaves nothing: killed by SIGKILL (the launcher's, a
   * moment after another rank's MPI_Abort: no handler runs), an anonymous temporary file never
   * had a name; ended by a handled signal, a named one is removed by the handler. */
  for (int named = 0; named < 2; named++) {
    unlink(path);
    pid_t pid = fork();
    if (pid == 0) {
      evf_outfile_named_temps(named);
      if (evf_outfile_open(&f, "--output", path, msg) != 0 || (named && !f.tmp))
        _exit(1);
      fputs("partial\n", f.fp);
      fflush(f.fp);
      raise(named ? SIGTERM : SIGKILL);
      _exit(2);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(named ? WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGTERM
                : WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK_EQ_U64(entries(sub), 0);
  }
  evf_partition_free(&p);
  return check_done("test_output");
}
