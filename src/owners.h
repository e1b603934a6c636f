/* owners: which rank owns each host name (http under a host rule, more than one rank), so a
 * redirect to a name this rank does not own waits for its turn at the rank that does.
 *
 * struct evf_names is a set of strings with an int each (open addressing): a rank's own host
 * names, and rank 0's table of every name's owner.  struct evf_owners is rank 0's table, built
 * from the plan: a listed name belongs to the rank its tasks were given (static) or dealt to
 * (dynamic: not yet known while its batch waits in the pool); a name no task has belongs to the
 * first rank that asks for it.  struct evf_open_turns is rank 0's table of the turns asked
 * and not yet ended.  No MPI: the channel asks them (chan.c). */
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
 * dealt yet: *batch, when not NULL, is the first batch that holds the name, whose deal will
 * say), or `requester` (a name no task has, or no name at all: it becomes the requester's). */
int evf_owners_lookup(struct evf_owners *o, const char *url, int requester, size_t *batch);
/* Dynamic: batch `b` went to `rank`: its names are that rank's. */
void evf_owners_dealt(struct evf_owners *o, const struct evf_batch *b, int rank);

/* Rank 0: a turn asked and not yet ended (an answer but GRANT, or the requester's last note). */
struct evf_open_turn {
  int requester, owner;
  uint32_t seq, ticket;
  int granted;
  int used; /* the table's: a slot in use */
};
/* A table of them by (requester, seq): open addressing with linear probing and deletion by
 * backward shift, so a turn message costs O(1) whatever the ranks x --inflight turns open at
 * once.  Zeroed: empty.  To visit every turn, go over slot[0..cap) and skip the unused; after a
 * removal look at the same slot again (another turn may have moved into it). */
struct evf_open_turns {
  struct evf_open_turn *slot;
  size_t cap, n; /* cap: 0 or a power of 2 */
};
struct evf_open_turn *evf_open_turns_find(struct evf_open_turns *t, int requester, uint32_t seq);
/* Add `x` (its key not in the table).  0, or -1 when out of memory. */
int evf_open_turns_add(struct evf_open_turns *t, const struct evf_open_turn *x);
/* Remove `x`, a turn of the table (from find or a visit). */
void evf_open_turns_remove(struct evf_open_turns *t, struct evf_open_turn *x);
void evf_open_turns_free(struct evf_open_turns *t);

#endif
