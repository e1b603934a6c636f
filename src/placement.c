/* Node names and the Slurm context, from the environment (see placement.h). */
#include "placement.h"

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

int evf_placement_cpus(void)
{
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
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
