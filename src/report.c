/* The run summary: a text block on stdout and the --json file. */
#include "report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "record.h"
#include "task.h"

_Static_assert(sizeof ((struct evf_summary *)0)->kind_fig == EVF_KIND_FIGURES * sizeof(uint64_t),
               "the summary holds every figure of a kind");

/* Calls fn for each node, in the order of its lowest rank, with its name, rank count, tasks and
 * busy seconds.  Returns 0, or -1 without placement or memory. */
static int for_each_host(const struct evf_summary *s,
                         void (*fn)(void *, int, const char *, int, uint64_t, double), void *arg)
{
  if (!s->node_of || !s->rank_host)
    return -1;
  int *first = malloc((size_t)s->nodes * sizeof *first), *n = calloc((size_t)s->nodes, sizeof *n);
  uint64_t *tasks = calloc((size_t)s->nodes, sizeof *tasks);
  double *busy = calloc((size_t)s->nodes, sizeof *busy);
  int rc = first && n && tasks && busy ? 0 : -1;
  for (int r = 0; rc == 0 && r < s->ranks; r++) {
    int k = s->node_of[r];
    if (n[k]++ == 0)
      first[k] = r;
    tasks[k] += s->per_rank_tasks[r];
    busy[k] += s->per_rank_busy[r];
  }
  for (int k = 0; rc == 0 && k < s->nodes; k++)
    fn(arg, k, s->rank_host[first[k]], n[k], tasks[k], busy[k]);
  free(first);
  free(n);
  free(tasks);
  free(busy);
  return rc;
}

static void text_host(void *arg, int k, const char *h, int n, uint64_t tasks, double busy)
{
  (void)tasks;
  (void)busy;
  if (k < 8)
    fprintf(arg, "%s%s (%d rank%s)", k ? ", " : " ", h, n, n == 1 ? "" : "s");
  else if (k == 8)
    fputs(", ...", arg);
}

static void json_host(void *arg, int k, const char *h, int n, uint64_t tasks, double busy)
{
  fprintf(arg, "%s\n    {\"host\": ", k ? "," : "");
  evf_json_string(arg, h);
  fprintf(arg, ", \"ranks\": %d, \"tasks\": %" PRIu64 ", \"busy_s\": %.9g}", n, tasks, busy);
}

void evf_report_text(FILE *out, const struct evf_options *opt, const struct evf_summary *s)
{
  fprintf(out, "evfarm %s: %" PRIu64 " %s tasks, %d ranks, %" PRIu64 " batches, seed %" PRIu64 "\n",
          EVF_VERSION_STRING, s->tasks, opt->kind, s->ranks, s->batches, opt->seed);
  fprintf(out, "  wall          %10.4f s    t0 (after a barrier) to every record at rank 0\n",
          s->wall);
  fprintf(out, "  throughput    %10.1f tasks/s\n", s->tasks_per_second);
  fprintf(out, "  lower bound   %10.4f s    max(task %.4f s, cpu backlog %.4f s from t=%.2f s",
          s->bound.t_lb, s->bound.task_term, s->bound.backlog_term, s->bound.backlog_at);
  if (s->offloop_cpu > 0)
    fprintf(out, ",\n                                 child cpu %.4f s / %d CPUs = %.4f s",
            s->offloop_cpu, s->job_cpus, s->bound.offloop_term);
  if (s->bound.kind_term > 0)
    fprintf(out, ",\n                                 politeness %.4f s: %s", s->bound.kind_term,
            s->bound.kind_by);
  fputs(")\n", out);
  fprintf(out, "  efficiency    %10.2f %%    lower bound / wall; %s\n", 100 * s->efficiency,
          s->bound.kind_term > 0 && s->bound.t_lb == s->bound.kind_term
              ? "politeness-bound: one host's requests, spaced by its delay, set the pace"
          : s->io_bound ? "I/O-bound: the longest I/O delay sets the pace"
          : s->offloop_cpu > 0 && s->bound.t_lb == s->bound.offloop_term
              ? "CPU-bound: the children's CPU over the job's CPUs sets the pace"
              : "CPU-bound: more ranks would shorten it");
  fprintf(out, "  overheads     %10.4f s    set-up before t0; %.4f s collecting after the last task\n",
          s->setup, s->collect);
  if (s->output_bytes)
    fprintf(out, "  output        %10.1f MB   of records in %.4f s (%.0f MB/s), windows of %" PRIu64
                 " ids, %d writer%s\n",
            s->output_bytes / 1e6, s->output_s,
            s->output_s > 0 ? s->output_bytes / 1e6 / s->output_s : 0.0, s->window,
            s->writers > 1 ? s->writers : 1, s->writers > 1 ? "s" : "");
  const struct evf_task_kind *kind = evf_task_kind_find(opt->kind);
  if (kind && kind->summary_text)
    kind->summary_text(out, opt, s->kind_fig);
  fprintf(out, "  cpu total     %10.4f s    sum of measured CPU phases\n", s->cpu_total);
  fprintf(out, "  tasks/rank    min %.0f  mean %.1f  max %.0f\n", s->rank_tasks.min,
          s->rank_tasks.mean, s->rank_tasks.max);
  fprintf(out, "  busy/rank     min %.4f  mean %.4f  max %.4f s\n", s->rank_busy.min,
          s->rank_busy.mean, s->rank_busy.max);
  fprintf(out, "  idle/rank     min %.4f  mean %.4f  max %.4f s\n", s->rank_idle.min,
          s->rank_idle.mean, s->rank_idle.max);
  fprintf(out, "  imbalance     %10.3f      max busy / mean busy\n", s->imbalance);
  if (s->partial)
    fprintf(out, "  PARTIAL       %" PRIu64 " tasks not run (drained): --resume goes on\n",
            s->not_run);
  if (s->journal)
    fprintf(out, "  journal       %" PRIu64 " records appended, %" PRIu64
                 " from an earlier run, %" PRIu64 " bytes of a torn tail dropped, %" PRIu64
                 " bytes of damaged frames skipped: %s\n",
            s->journal_appended, s->journal_resumed, s->journal_torn, s->journal_damaged,
            s->journal);
  if (s->dynamic)
    fprintf(out, "  schedule      dynamic     %" PRIu64 " batches dealt on request (%" PRIu64
                 " requests), worst wait for an answer %.4f s\n",
            s->dealt, s->requests, s->max_request_latency);
  else
    fprintf(out, "  schedule      static      every rank's share given before the run\n");
  fprintf(out, "  rank 0        %10.1f MiB  peak resident memory, %.3f s process CPU\n",
          s->rank0_maxrss_kib / 1024.0, s->rank0_process_cpu);
  if (s->node_of) {
    fprintf(out, "  nodes         %d    ", s->nodes);
    for_each_host(s, text_host, out);
    fputs(s->oversubscribed ? "; more ranks than CPUs\n" : "\n", out);
  }
  if (s->slurm.job_id)
    fprintf(out, "  slurm         job %s, %s node(s) %s, tasks per node %s\n", s->slurm.job_id,
            s->slurm.nodes ? s->slurm.nodes : "?", s->slurm.node_list ? s->slurm.node_list : "?",
            s->slurm.tasks_per_node ? s->slurm.tasks_per_node : "?");
  fprintf(out, "  status       ");
  for (int k = 0; k < EVF_STATUS_COUNT; k++)
    if (s->status_count[k] || k == EVF_STATUS_OK)
      fprintf(out, " %" PRIu64 " %s", s->status_count[k], evf_status_name(k));
  if (s->retried)
    fprintf(out, "; %" PRIu64 " retried", s->retried);
  fputc('\n', out);
  fflush(out);
}

static void json_minmax(FILE *out, const char *name, struct evf_minmax m)
{
  fprintf(out, "  \"%s\": {\"min\": %.9g, \"mean\": %.9g, \"max\": %.9g},\n", name, m.min, m.mean,
          m.max);
}

void evf_report_json(FILE *out, const struct evf_options *opt, const struct evf_summary *s,
                     int exit_code)
{
  fprintf(out, "{\n  \"schema\": \"%s\",\n  \"evfarm_version\": \"%s\",\n", EVF_SUMMARY_SCHEMA,
          EVF_VERSION_STRING);
  /* Every option, values that read back exactly (%.17g), paths as JSON strings. */
  fprintf(out, "  \"options\": {\"kind\": ");
  evf_json_string(out, opt->kind);
  fprintf(out,
          ", \"tasks\": %" PRIu32 ", \"seed\": %" PRIu64 ", \"io_min\": %.17g, \"io_max\": %.17g"
          ", \"cpu_min\": %" PRIu32 ", \"cpu_max\": %" PRIu32 ", \"inflight\": %" PRIu32
          ", \"batch_size\": %" PRIu32 ", \"fail_rate\": %.17g, \"progress\": %.17g"
          ", \"quiet\": %s, \"format\": \"%s\", \"output\": ",
          opt->tasks, opt->seed, opt->io_min, opt->io_max, opt->cpu_min, opt->cpu_max,
          opt->inflight, opt->batch_size, opt->fail_rate, opt->progress,
          opt->quiet ? "true" : "false",
          opt->format == EVF_FORMAT_JSONL ? "jsonl" : opt->format == EVF_FORMAT_CSV ? "csv" : "none");
  evf_json_string(out, opt->output);
  fprintf(out, ", \"json\": ");
  evf_json_string(out, opt->json);
  fprintf(out,
          ", \"cpu_skew\": %.17g, \"hang_rate\": %.17g, \"timeout\": %.17g, \"retries\": %" PRIu32
          ", \"retry_delay\": %.17g, \"retry_max_delay\": %.17g, \"host_connections\": %" PRIu32
          ", \"connect_timeout\": %.17g, \"max_redirs\": %" PRIu32 ", \"max_body\": %" PRIu64
          ", \"progress_style\": \"%s\", \"retry_on\": \"%s\", \"schedule\": \"%s\"",
          opt->cpu_skew, opt->hang_rate, opt->timeout, opt->retries, opt->retry_delay, opt->retry_max_delay,
          opt->host_connections, opt->connect_timeout, opt->max_redirs, opt->max_body,
          opt->progress_style == EVF_PROGRESS_BAR     ? "bar"
          : opt->progress_style == EVF_PROGRESS_LINES ? "lines"
                                                      : "auto",
          opt->retry_on == (EVF_RETRY_ON_EXIT | EVF_RETRY_ON_SIGNAL) ? "exit,signal"
          : opt->retry_on == EVF_RETRY_ON_EXIT                       ? "exit"
          : opt->retry_on == EVF_RETRY_ON_SIGNAL                     ? "signal"
                                                                     : "",
          opt->schedule == EVF_SCHEDULE_DYNAMIC ? "dynamic" : "static");
  fprintf(out, ", \"window\": %" PRIu32 ", \"writers\": %" PRIu32, opt->window, opt->writers);
  const char *paths[][2] = {{"urls", opt->urls}, {"commands", opt->commands},
                            {"command", opt->command}, {"args", opt->args},
                            {"outdir", opt->outdir}, {"warc", opt->warc},
                            {"user_agent", opt->user_agent}};
  for (size_t k = 0; k < sizeof paths / sizeof paths[0]; k++) {
    fprintf(out, ", \"%s\": ", paths[k][0]);
    evf_json_string(out, paths[k][1]);
  }
  fprintf(out, ", \"warc_size\": %" PRIu64 ", \"compressed\": %s, \"ignore_opt_out\": %s"
               ", \"robots\": \"%s\", \"host_delay\": %.17g, \"host_delay_jitter\": %.17g"
               ", \"headers\": [", opt->warc_size, opt->compressed ? "true" : "false",
          opt->ignore_opt_out ? "true" : "false",
          opt->robots == EVF_ROBOTS_IGNORE ? "ignore" : "obey", opt->host_delay,
          opt->host_delay_jitter);
  for (uint32_t k = 0; k < opt->headers.n; k++) {
    fputs(k ? ", " : "", out);
    evf_json_string(out, opt->headers.v[k]);
  }
  fprintf(out, "]},\n");
  fprintf(out, "  \"tasks\": %" PRIu64 ",\n  \"ranks\": %d,\n  \"batches\": %" PRIu64 ",\n",
          s->tasks, s->ranks, s->batches);
  fprintf(out, "  \"wall_s\": %.9g,\n  \"tasks_per_s\": %.9g,\n", s->wall, s->tasks_per_second);
  fprintf(out,
          "  \"lower_bound\": {\"t_lb_s\": %.9g, \"task_term_s\": %.9g, \"backlog_term_s\": %.9g"
          ", \"backlog_at_s\": %.9g, \"offloop_term_s\": %.9g, \"politeness_term_s\": %.9g"
          ", \"politeness_by\": ",
          s->bound.t_lb, s->bound.task_term, s->bound.backlog_term, s->bound.backlog_at,
          s->bound.offloop_term, s->bound.kind_term);
  evf_json_string(out, s->bound.kind_term > 0 ? s->bound.kind_by : NULL);
  fputs("},\n", out);
  fprintf(out, "  \"offloop_cpu_s\": %.9g,\n  \"job_cpus\": %d,\n", s->offloop_cpu, s->job_cpus);
  fprintf(out, "  \"efficiency\": %.9g,\n  \"cpu_total_s\": %.9g,\n  \"max_io_s\": %.9g,\n",
          s->efficiency, s->cpu_total, s->max_io);
  fprintf(out, "  \"bound_by\": \"%s\",\n", s->io_bound ? "io" : "cpu");
  fprintf(out, "  \"setup_s\": %.9g,\n  \"last_end_s\": %.9g,\n  \"collect_s\": %.9g,\n", s->setup,
          s->last_end, s->collect);
  fprintf(out,
          "  \"output\": {\"window\": %" PRIu64 ", \"record_bytes\": %llu, \"write_s\": %.9g, "
          "\"writers\": %d, \"rank_record_bytes\": [",
          s->window, s->output_bytes, s->output_s, s->writers > 0 ? s->writers : 1);
  for (int r = 0; r < s->ranks; r++)
    fprintf(out, "%s%llu", r ? ", " : "",
            s->rank_output_bytes ? s->rank_output_bytes[r] : r == 0 ? s->output_bytes : 0ULL);
  fprintf(out, "]},\n");
  const struct evf_task_kind *kind = evf_task_kind_find(opt->kind);
  fprintf(out, "  \"kind\": {\"name\": ");
  evf_json_string(out, opt->kind);
  if (kind && kind->summary_json)
    kind->summary_json(out, opt, s->kind_fig);
  fprintf(out, "},\n");
  fprintf(out, "  \"nodes\": %d,\n  \"oversubscribed\": %s,\n", s->nodes,
          s->oversubscribed ? "true" : "false");
  fprintf(out, "  \"model\": {\"ranks\": [");
  for (int k = 0; k < EVF_MODEL_POINTS; k++)
    fprintf(out, "%s%d", k ? ", " : "", s->model_ranks[k]);
  fprintf(out, "], \"t_lb_s\": [");
  for (int k = 0; k < EVF_MODEL_POINTS; k++)
    fprintf(out, "%s%.9g", k ? ", " : "", s->model_t_lb[k]);
  fprintf(out, "]},\n");
  json_minmax(out, "rank_tasks", s->rank_tasks);
  json_minmax(out, "rank_busy_s", s->rank_busy);
  json_minmax(out, "rank_idle_s", s->rank_idle);
  fprintf(out, "  \"imbalance\": %.9g,\n", s->imbalance);
  fprintf(out, "  \"journal\": ");
  if (s->journal) {
    fprintf(out, "{\"path\": ");
    evf_json_string(out, s->journal);
    fprintf(out, ", \"appended\": %" PRIu64 ", \"resumed\": %" PRIu64 ", \"torn_bytes\": %" PRIu64
                 ", \"damaged_bytes\": %" PRIu64 "},\n", s->journal_appended, s->journal_resumed,
            s->journal_torn, s->journal_damaged);
    fprintf(out, "  \"partial\": %s,\n  \"not_run\": %" PRIu64 ",\n",
            s->partial ? "true" : "false", s->not_run);
  } else {
    fprintf(out, "null,\n  \"partial\": false,\n  \"not_run\": 0,\n");
  }
  fprintf(out,
          "  \"schedule\": {\"mode\": \"%s\", \"dealt\": %" PRIu64 ", \"requests\": %" PRIu64
          ", \"max_request_latency_s\": %.9g},\n",
          s->dynamic ? "dynamic" : "static", s->dealt, s->requests, s->max_request_latency);
  fprintf(out, "  \"rank0_maxrss_kib\": %ld,\n  \"rank0_process_cpu_s\": %.9g,\n", s->rank0_maxrss_kib,
          s->rank0_process_cpu);
  fprintf(out, "  \"per_rank\": [");
  for (int r = 0; r < s->ranks; r++) {
    fprintf(out, "%s\n    {\"rank\": %d, \"host\": ", r ? "," : "", r);
    evf_json_string(out, s->rank_host ? s->rank_host[r] : NULL);
    if (s->rank_cpus)
      fprintf(out, ", \"node_cpus\": %d", s->rank_cpus[r]);
    fprintf(out, ", \"tasks\": %" PRIu64 ", \"busy_s\": %.9g, \"idle_s\": %.9g}",
            s->per_rank_tasks[r], s->per_rank_busy[r], s->wall - s->per_rank_busy[r]);
  }
  fprintf(out, "\n  ],\n  \"hosts\": [");
  for_each_host(s, json_host, out);
  fprintf(out, "\n  ],\n  \"slurm\": ");
  if (s->slurm.job_id) {
    const char *keys[] = {"job_id", "job_name", "nodes", "node_list", "tasks_per_node", "ntasks",
                          "partition"};
    const char *vals[] = {s->slurm.job_id, s->slurm.job_name, s->slurm.nodes,
                          s->slurm.node_list, s->slurm.tasks_per_node, s->slurm.ntasks,
                          s->slurm.partition};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
      fprintf(out, "%s\"%s\": ", k ? ", " : "{", keys[k]);
      evf_json_string(out, vals[k]);
    }
    fputs("},\n", out);
  } else {
    fputs("null,\n", out);
  }
  fprintf(out, "  \"status\": {");
  for (int k = 0; k < EVF_STATUS_COUNT; k++)
    fprintf(out, "%s\"%s\": %" PRIu64, k ? ", " : "", evf_status_name(k), s->status_count[k]);
  fprintf(out, "},\n  \"failed\": %" PRIu64 ",\n  \"retried\": %" PRIu64 ",\n  \"exit_code\": %d\n}\n",
          s->failed, s->retried, exit_code);
}
