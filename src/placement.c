/* Node names and the Slurm context, from the environment (see placement.h). */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "placement.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void evf_placement_host(char name[EVF_HOST_LEN])
{
  const char *slurm = getenv("SLURMD_NODENAME");
  name[0] = '\0';
  if (slurm && *slurm)
    strncpy(name, slurm, EVF_HOST_LEN - 1);
  else if (gethostname(name, EVF_HOST_LEN - 1) != 0)
    strcpy(name, "unknown");
  name[EVF_HOST_LEN - 1] = '\0';
}

void evf_placement_cpumask(unsigned char mask[EVF_CPUMASK_BYTES])
{
  /* The CPUs this process may run on: a cpuset, Slurm's allocation, taskset or mpirun's
   * binding count; the machine's online CPUs do not. */
  cpu_set_t set;
  memset(mask, 0, EVF_CPUMASK_BYTES);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) {
    for (int c = 0; c < EVF_CPUMASK_BYTES * 8 && c < CPU_SETSIZE; c++)
      if (CPU_ISSET(c, &set))
        mask[c / 8] |= (unsigned char)(1u << (c % 8));
    return;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  for (long c = 0; c < (n > 0 ? n : 1) && c < EVF_CPUMASK_BYTES * 8; c++)
    mask[c / 8] |= (unsigned char)(1u << (c % 8));
}

/* qsort has no context argument in C11: the names being sorted. */
static const char (*sort_hosts)[EVF_HOST_LEN];

static int by_host_then_rank(const void *a, const void *b)
{
  int x = *(const int *)a, y = *(const int *)b;
  int c = strcmp(sort_hosts[x], sort_hosts[y]);
  return c ? c : (x > y) - (x < y);
}

int evf_placement_group(const char (*hosts)[EVF_HOST_LEN], int n, int *node_of)
{
  int *order = malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
  if (!order)
    return -1;
  for (int r = 0; r < n; r++)
    order[r] = r;
  sort_hosts = hosts;
  qsort(order, (size_t)n, sizeof *order, by_host_then_rank);
  /* Each run of equal names is one node; its first entry is its lowest rank, the leader. */
  for (int i = 0, lead = 0; i < n; i++) {
    if (i == 0 || strcmp(hosts[order[i]], hosts[order[i - 1]]) != 0)
      lead = order[i];
    node_of[order[i]] = lead;
  }
  free(order);
  /* Number the nodes by their leaders in rank order: node_of[leader] == leader marks one. */
  int nodes = 0;
  for (int r = 0; r < n; r++)
    node_of[r] = node_of[r] == r ? nodes++ : node_of[node_of[r]];
  return nodes;
}

int evf_placement_node_cpus(const int *node_of, int nnodes, int n,
                            const unsigned char (*masks)[EVF_CPUMASK_BYTES], int *cpus)
{
  unsigned char (*u)[EVF_CPUMASK_BYTES] = calloc((size_t)(nnodes > 0 ? nnodes : 1), sizeof *u);
  if (!u)
    return -1;
  for (int r = 0; r < n; r++)
    for (int b = 0; b < EVF_CPUMASK_BYTES; b++)
      u[node_of[r]][b] |= masks[r][b];
  for (int r = 0; r < n; r++) {
    int c = 0;
    for (int b = 0; b < EVF_CPUMASK_BYTES; b++)
      c += __builtin_popcount(u[node_of[r]][b]);
    cpus[r] = c > 0 ? c : 1;
  }
  free(u);
  return 0;
}

void evf_placement_slurm(struct evf_slurm *s)
{
  memset(s, 0, sizeof *s);
  s->job_id = getenv("SLURM_JOB_ID");
  if (!s->job_id)
    return;
  s->job_name = getenv("SLURM_JOB_NAME");
  s->nodes = getenv("SLURM_JOB_NUM_NODES");
  s->node_list = getenv("SLURM_JOB_NODELIST");
  s->tasks_per_node = getenv("SLURM_TASKS_PER_NODE");
  s->ntasks = getenv("SLURM_NTASKS");
  s->partition = getenv("SLURM_JOB_PARTITION");
}
