/* The registry of task kinds, the status names shared by all kinds, record sizes. */
#include "task.h"

#include <stdio.h>
#include <sys/resource.h>
#include <string.h>

#include "error.h"
#include "record.h"

static const struct evf_task_kind *const kinds[] = {
  &evf_task_kind_sim,
  &evf_task_kind_http,
  &evf_task_kind_exec,
  NULL,
};

const struct evf_task_kind *evf_task_kind_find(const char *name)
{
  for (size_t i = 0; kinds[i]; i++)
    if (strcmp(kinds[i]->name, name) == 0)
      return kinds[i];
  return NULL;
}

const char *evf_task_kind_names(void)
{
  static char names[128];
  if (!names[0])
    for (size_t i = 0; kinds[i]; i++)
      snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
               kinds[i]->name);
  return names;
}

const char *evf_status_name(int status)
{
  switch (status) {
#define EVF_X_NAME(name, val, str) case name: return str;
  EVF_STATUS_MAP(EVF_X_NAME)
#undef EVF_X_NAME
  }
  return "unknown";
}

size_t evf_task_record_size(const struct evf_task_kind *k)
{
  return sizeof(struct evf_record) + k->ext_size;
}

int evf_task_reserve_files(uint64_t need, uint64_t nslots, const char *what, char *msg)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
    return 0;
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? (rlim_t)need : rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur >= need)
    return 0;
  return evf_seterr(msg, EVF_EUSAGE,
                    "--inflight: %llu %s in flight need about %llu open files, and this rank "
                    "may open %llu (ulimit -n; hard limit %llu): lower --inflight",
                    (unsigned long long)nslots, what, (unsigned long long)need,
                    (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
}
