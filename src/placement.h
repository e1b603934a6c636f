/* placement: where a rank runs -- its node's name and, under Slurm, the job's context -- read
 * from the process environment, so results can be grouped by node. */
#ifndef EVF_PLACEMENT_H
#define EVF_PLACEMENT_H

#define EVF_HOST_LEN 64 /* bytes per node name, NUL included; longer names are cut */

/* The node this process runs on: Slurm's name for it (SLURMD_NODENAME) inside a Slurm job step,
 * else the host name.  The two agree on ordinary clusters; the Slurm name also tells apart
 * several slurmd "nodes" on one host. */
void evf_placement_host(char name[EVF_HOST_LEN]);

/* The Slurm job around this process, or all NULL outside Slurm.  Pointers into the
 * environment; valid while it is not changed. */
struct evf_slurm {
  const char *job_id;          /* SLURM_JOB_ID */
  const char *job_name;        /* SLURM_JOB_NAME */
  const char *nodes;           /* SLURM_JOB_NUM_NODES */
  const char *node_list;       /* SLURM_JOB_NODELIST, e.g. "n[1-2]" */
  const char *tasks_per_node;  /* SLURM_TASKS_PER_NODE, e.g. "2(x2)" */
  const char *ntasks;          /* SLURM_NTASKS */
  const char *partition;       /* SLURM_JOB_PARTITION */
};

void evf_placement_slurm(struct evf_slurm *s);

/* The CPUs this process may run on, as a bitmap of CPU numbers (its affinity mask: cpusets,
 * Slurm's allocation and mpirun's binding count, not every CPU online). */
#define EVF_CPUMASK_BYTES 128 /* CPUs 0..1023 */
void evf_placement_cpumask(unsigned char mask[EVF_CPUMASK_BYTES]);

/* Group n ranks by node name: node_of[r] is the node of rank r, nodes numbered 0, 1, ... in the
 * order of their lowest rank.  Returns the number of nodes, or -1 (out of memory).  O(n log n). */
int evf_placement_group(const char (*hosts)[EVF_HOST_LEN], int n, int *node_of);

/* The CPUs the job's ranks may use on each rank's node: the size of the union of the masks of
 * the ranks on that node (so ranks bound to one core each count one CPU each, and two ranks
 * bound to one core count one).  Returns 0 or -1 (out of memory). */
int evf_placement_node_cpus(const int *node_of, int nnodes, int n,
                            const unsigned char (*masks)[EVF_CPUMASK_BYTES], int *cpus);

#endif
