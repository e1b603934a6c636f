/* owners: a rank's host names, rank 0's owner of every name and its open turns (owners.h). */
#include "owners.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "hash.h"

struct name {
  char *s;
  size_t n;
  int value;
};

struct evf_names {
  struct name *slot; /* open addressing; s == NULL: empty */
  size_t cap, n;
};

struct evf_names *evf_names_new(void)
{
  return calloc(1, sizeof(struct evf_names));
}

void evf_names_free(struct evf_names *m)
{
  if (!m)
    return;
  for (size_t i = 0; i < m->cap; i++)
    free(m->slot[i].s);
  free(m->slot);
  free(m);
}

static struct name *find(const struct evf_names *m, const char *s, size_t n)
{
  if (!m->cap)
    return NULL;
  size_t j = (size_t)evf_hash_bytes(s, n) & (m->cap - 1);
  for (; m->slot[j].s; j = (j + 1) & (m->cap - 1))
    if (m->slot[j].n == n && memcmp(m->slot[j].s, s, n) == 0)
      return &m->slot[j];
  return &m->slot[j];
}

static int grow(struct evf_names *m)
{
  size_t cap = m->cap ? 2 * m->cap : 64;
  struct name *s = calloc(cap, sizeof *s);
  if (!s)
    return -1;
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->slot[i].s)
      continue;
    size_t j = (size_t)evf_hash_bytes(m->slot[i].s, m->slot[i].n) & (cap - 1);
    while (s[j].s)
      j = (j + 1) & (cap - 1);
    s[j] = m->slot[i];
  }
  free(m->slot);
  m->slot = s;
  m->cap = cap;
  return 0;
}

int evf_names_put(struct evf_names *m, const char *s, size_t n, int value)
{
  if (2 * (m->n + 1) > m->cap && grow(m))
    return -1;
  struct name *x = find(m, s, n);
  if (!x->s) {
    if (!(x->s = malloc(n + 1)))
      return -1;
    memcpy(x->s, s, n);
    x->s[n] = '\0';
    x->n = n;
    m->n++;
  }
  x->value = value;
  return 0;
}

int evf_names_find(const struct evf_names *m, const char *s, size_t n, int *value)
{
  const struct name *x = find(m, s, n);
  if (!x || !x->s)
    return 0;
  *value = x->value;
  return 1;
}

struct evf_owners {
  struct evf_names *names;
  const struct evf_inputs *inputs;
  size_t (*key)(const char *input, char *buf, size_t cap);
};

/* A name's value in the table: its rank, or PENDING_AT(b) while its first batch b is in the
 * pool. */
#define PENDING_AT(b) (-2 - (int)(b))

/* The names of batch `b`'s positions are `rank`'s; or, with `rank` PENDING_AT(b), pending at b
 * unless they are in the table already (their first batch is an earlier one). */
static int assign(struct evf_owners *o, const struct evf_batch *b, int rank)
{
  char buf[2048];
  for (uint32_t k = 0; k < b->count; k++) {
    size_t n = o->key(o->inputs->line[b->first_id - 1 + k], buf, sizeof buf);
    int was;
    if (rank <= PENDING_AT(0) && n && evf_names_find(o->names, buf, n, &was))
      continue;
    if (n && evf_names_put(o->names, buf, n, rank))
      return -1;
  }
  return 0;
}

struct evf_owners *evf_owners_new(const struct evf_partition *part,
                                  const struct evf_inputs *inputs,
                                  size_t (*key)(const char *input, char *buf, size_t cap))
{
  struct evf_owners *o = calloc(1, sizeof *o);
  if (!o || !(o->names = evf_names_new())) {
    free(o);
    return NULL;
  }
  o->inputs = inputs;
  o->key = key;
  /* Dynamic: every batch pending first, then the first share's ranks. */
  if (part->dynamic)
    for (size_t b = 0; b < part->nbatches; b++)
      if (b > (size_t)INT_MAX - 2 || assign(o, &part->batches[b], PENDING_AT(b)))
        goto fail;
  for (int r = 0; r < part->nranks; r++)
    for (int k = 0; k < part->batch_count[r]; k++)
      if (assign(o, &part->batches[part->batch_displ[r] + k], r))
        goto fail;
  return o;
fail:
  evf_owners_free(o);
  return NULL;
}

void evf_owners_free(struct evf_owners *o)
{
  if (!o)
    return;
  evf_names_free(o->names);
  free(o);
}

int evf_owners_lookup(struct evf_owners *o, const char *url, int requester, size_t *batch)
{
  char buf[2048];
  size_t n = o->key(url, buf, sizeof buf);
  int owner;
  if (!n)
    return requester;
  if (evf_names_find(o->names, buf, n, &owner)) {
    if (owner > PENDING_AT(0))
      return owner;
    if (batch)
      *batch = (size_t)(PENDING_AT(0) - owner);
    return EVF_OWNER_PENDING;
  }
  if (evf_names_put(o->names, buf, n, requester))
    evf_guard_fatal("cannot note the owner of a host name");
  return requester;
}

void evf_owners_dealt(struct evf_owners *o, const struct evf_batch *b, int rank)
{
  if (assign(o, b, rank))
    evf_guard_fatal("cannot note the owner of a host name");
}

/* ---- rank 0's open turns ---- */

static size_t turn_home(const struct evf_open_turns *t, int requester, uint32_t seq)
{
  uint64_t k = ((uint64_t)(uint32_t)requester << 32 | seq) * 0x9E3779B97F4A7C15ull;
  return (size_t)(k >> 32) & (t->cap - 1);
}

struct evf_open_turn *evf_open_turns_find(struct evf_open_turns *t, int requester, uint32_t seq)
{
  if (!t->cap)
    return NULL;
  for (size_t i = turn_home(t, requester, seq);; i = (i + 1) & (t->cap - 1)) {
    struct evf_open_turn *x = &t->slot[i];
    if (!x->used)
      return NULL;
    if (x->requester == requester && x->seq == seq)
      return x;
  }
}

static void put_turn(struct evf_open_turns *t, const struct evf_open_turn *x)
{
  size_t i = turn_home(t, x->requester, x->seq);
  while (t->slot[i].used)
    i = (i + 1) & (t->cap - 1);
  t->slot[i] = *x;
  t->slot[i].used = 1;
}

int evf_open_turns_add(struct evf_open_turns *t, const struct evf_open_turn *x)
{
  if (4 * (t->n + 1) > 3 * t->cap) { /* at most 3/4 full: twice the room */
    size_t old = t->cap, cap = old ? 2 * old : 64;
    struct evf_open_turn *was = t->slot, *n = calloc(cap, sizeof *n);
    if (!n)
      return -1;
    t->slot = n;
    t->cap = cap;
    for (size_t i = 0; i < old; i++)
      if (was[i].used)
        put_turn(t, &was[i]);
    free(was);
  }
  put_turn(t, x);
  t->n++;
  return 0;
}

/* The turns after the hole in its probe run move back into it when their home is at or before
 * it, so every turn stays reachable from its home, without tombstones. */
void evf_open_turns_remove(struct evf_open_turns *t, struct evf_open_turn *x)
{
  size_t mask = t->cap - 1, hole = (size_t)(x - t->slot);
  for (size_t j = (hole + 1) & mask; t->slot[j].used; j = (j + 1) & mask) {
    size_t home = turn_home(t, t->slot[j].requester, t->slot[j].seq);
    if (((j - home) & mask) >= ((j - hole) & mask)) {
      t->slot[hole] = t->slot[j];
      hole = j;
    }
  }
  t->slot[hole].used = 0;
  t->n--;
}

void evf_open_turns_free(struct evf_open_turns *t)
{
  free(t->slot);
  *t = (struct evf_open_turns){0};
}
