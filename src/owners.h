/* owners: which rank owns each host name (http under a host rule, more than one rank), so a
 * redirect to a name this rank does not own waits for its turn at the rank that does.
 *
 * struct evf_names is a set of strings with an int each (open addressing): a rank's own host
 * names, and rank 0's table of every name's owner.  struct evf_owners is rank 0's table, built
 * from the plan: a listed name belongs to the rank its tasks were given (static) or dealt to
 * (dynamic: not yet known while its batch waits in the pool); a name no task has belongs to the
 * first rank that asks for it.  No MPI: the channel asks it (chan.c). */
#ifndef EVF_OWNERS_H
#define EVF_OWNERS_H

#include <stddef.h>
#include <stdint.h>

#include "inputs.h"
#include "partition.h"

struct evf_names;
struct evf_names *evf_names_new(void);
void evf_names_free(struct evf_names *m);
/* Set the value of `s` (n bytes), adding it.  0, or -1 when out of memory. */
int evf_names_put(struct evf_names *m, const char *s, size_t n, int value);
/* 1 with *value set when `s` is in the set, else 0. */
int evf_names_find(const struct evf_names *m, const char *s, size_t n, int *value);

/* The owner of a name whose batch is still in the pool (dynamic). */
#define EVF_OWNER_PENDING (-1)

struct evf_owners;
/* Rank 0: the plan `part` (batches of positions; dynamic: only the first share is assigned),
 * the inputs by position `inputs`, and the kind's key() (a URL's host name).  Both must
 * outlive it.  NULL when out of memory. */
struct evf_owners *evf_owners_new(const struct evf_partition *part,
                                  const struct evf_inputs *inputs,
                                  size_t (*key)(const char *input, char *buf, size_t cap));
void evf_owners_free(struct evf_owners *o);
/* The rank that owns the host name of `url`: a rank, EVF_OWNER_PENDING (its batch is not
 * dealt yet), or `requester` (a name no task has, or no name at all: it becomes the
 * requester's). */
int evf_owners_lookup(struct evf_owners *o, const char *url, int requester);
/* Dynamic: batch `b` went to `rank`: its names are that rank's. */
void evf_owners_dealt(struct evf_owners *o, const struct evf_batch *b, int rank);

#endif
