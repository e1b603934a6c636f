/* owners: a rank's host names and rank 0's owner of every name (owners.h). */
#include "owners.h"

#include <stdlib.h>
#include <string.h>

#include "guard.h"

struct name {
  char *s;
  size_t n;
  int value;
};

struct evf_names {
  struct name *slot; /* open addressing; s == NULL: empty */
  size_t cap, n;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

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
  size_t j = (size_t)hash_bytes(s, n) & (m->cap - 1);
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
    size_t j = (size_t)hash_bytes(m->slot[i].s, m->slot[i].n) & (cap - 1);
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

/* The names of batch `b`'s positions are `rank`'s. */
static int assign(struct evf_owners *o, const struct evf_batch *b, int rank)
{
  char buf[2048];
  for (uint32_t k = 0; k < b->count; k++) {
    size_t n = o->key(o->inputs->line[b->first_id - 1 + k], buf, sizeof buf);
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
      if (assign(o, &part->batches[b], EVF_OWNER_PENDING))
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

int evf_owners_lookup(struct evf_owners *o, const char *url, int requester)
{
  char buf[2048];
  size_t n = o->key(url, buf, sizeof buf);
  int owner;
  if (!n)
    return requester;
  if (evf_names_find(o->names, buf, n, &owner))
    return owner;
  if (evf_names_put(o->names, buf, n, requester))
    evf_guard_fatal("cannot note the owner of a host name");
  return requester;
}

void evf_owners_dealt(struct evf_owners *o, const struct evf_batch *b, int rank)
{
  if (assign(o, b, rank))
    evf_guard_fatal("cannot note the owner of a host name");
}
