/* Rank 0's ring of records by id, written out window by window (see collect.h). */
#include "collect.h"

#include <stdlib.h>
#include <string.h>

struct evf_collect {
  struct evf_collect_config cfg;
  uint64_t ring;          /* records in the ring: two windows, or all ids when fewer */
  char *recs;             /* ring records */
  unsigned char *have;    /* [ring] the id's record is in: 1 of this run, 2 from the journal */
  uint64_t lo;            /* the next id to write */
  uint64_t count[2];      /* records in of the window being written and of the next */
  uint64_t ran, held, held_failed; /* written: this run's, the journal's, of those not ok */
  uint64_t missing;       /* ids of skipped windows that had no record */
};

uint64_t evf_collect_ring_size(uint64_t ntasks, uint64_t window)
{
  uint64_t r = window < (ntasks + 1) / 2 ? 2 * window : ntasks;
  return r ? r : 1;
}

struct evf_collect *evf_collect_new(const struct evf_collect_config *cfg)
{
  struct evf_collect *c = calloc(1, sizeof *c);
  if (!c || cfg->window < 1)
    return free(c), NULL;
  c->cfg = *cfg;
  uint64_t n = cfg->ntasks;
  c->ring = evf_collect_ring_size(n, cfg->window);
  c->lo = 1;
  if (c->ring <= SIZE_MAX / cfg->rec_size &&
      posix_memalign((void **)&c->recs, 64, c->ring * cfg->rec_size) != 0)
    c->recs = NULL;
  c->have = calloc(c->ring, 1);
  if (!c->recs || !c->have) {
    evf_collect_free(c);
    return NULL;
  }
  return c;
}

void evf_collect_free(struct evf_collect *c)
{
  if (!c)
    return;
  free(c->recs);
  free(c->have);
  free(c);
}

void *evf_collect_records(struct evf_collect *c)
{
  return c->recs;
}

uint64_t evf_collect_ring(const struct evf_collect *c)
{
  return c->ring;
}

uint64_t evf_collect_limit(const struct evf_collect *c)
{
  uint64_t start = (c->lo - 1) / c->cfg.window * c->cfg.window; /* ids before the window */
  uint64_t lim = start + c->ring;
  return lim < c->cfg.ntasks ? lim : c->cfg.ntasks;
}

uint64_t evf_collect_written(const struct evf_collect *c)
{
  return c->lo - 1;
}

/* Place a record: `from` 1 (this run's: once) or 2 (the journal's: a later one of an id
 * replaces an earlier one). */
static int put(struct evf_collect *c, const struct evf_record *rec, unsigned char from)
{
  uint64_t id = rec->id;
  if (id < c->lo || id > evf_collect_limit(c))
    return -1;
  uint64_t at = (id - 1) % c->ring;
  if (c->have[at] && (from == 1 || c->have[at] == 1))
    return -1;
  char *slot = c->recs + at * c->cfg.rec_size;
  if ((const char *)rec != slot)
    memcpy(slot, rec, c->cfg.rec_size);
  if (!c->have[at])
    c->count[(id - 1) / c->cfg.window % 2]++;
  c->have[at] = from;
  return 0;
}

int evf_collect_take(struct evf_collect *c, const struct evf_record *rec)
{
  return put(c, rec, 1);
}

int evf_collect_held(struct evf_collect *c, const struct evf_record *rec)
{
  return put(c, rec, 2);
}

uint64_t evf_collect_ran(const struct evf_collect *c)
{
  return c->ran;
}

uint64_t evf_collect_held_failed(const struct evf_collect *c)
{
  return c->held_failed;
}

/* Write the record in slot `at` (of id `id`): this run's go into the stats. */
static void write_one(struct evf_collect *c, uint64_t id, uint64_t at)
{
  const struct evf_collect_config *g = &c->cfg;
  const struct evf_record *r = (const struct evf_record *)(const void *)(c->recs +
                                                                         at * g->rec_size);
  if (c->have[at] == 1) {
    c->ran++;
    if (g->stats)
      evf_stats_add(g->stats, r);
  } else {
    c->held++;
    c->held_failed += r->status != EVF_STATUS_OK;
  }
  if (g->writer) { /* an earlier run's record: its node unknown here (its rank was another
                      run's) */
    int known = c->have[at] == 1 && r->rank >= 0 && r->rank < g->nranks;
    evf_recwriter_put(g->writer, r, known ? g->hosts[r->rank] : "",
                      g->inputs ? g->inputs[id - 1] : NULL);
  }
  c->have[at] = 0;
}

uint64_t evf_collect_skip(struct evf_collect *c)
{
  const struct evf_collect_config *g = &c->cfg;
  if (c->lo > g->ntasks)
    return 0;
  uint64_t k = (c->lo - 1) / g->window, first = k * g->window + 1;
  uint64_t end = first - 1 + g->window < g->ntasks ? first - 1 + g->window : g->ntasks;
  uint64_t n = 0;
  for (uint64_t id = c->lo; id <= end; id++) {
    uint64_t at = (id - 1) % c->ring;
    if (c->have[at]) {
      write_one(c, id, at);
      n++;
    } else {
      c->missing++;
    }
  }
  c->lo = end + 1;
  c->count[k % 2] = 0;
  return n;
}

uint64_t evf_collect_missing(const struct evf_collect *c)
{
  return c->missing;
}

uint64_t evf_collect_step(struct evf_collect *c, uint64_t max)
{
  const struct evf_collect_config *g = &c->cfg;
  uint64_t done = 0;
  while (done < max && c->lo <= g->ntasks) {
    uint64_t k = (c->lo - 1) / g->window, first = k * g->window + 1;
    uint64_t end = first - 1 + g->window < g->ntasks ? first - 1 + g->window : g->ntasks;
    if (c->count[k % 2] < end - first + 1)
      break; /* the window is not complete */
    uint64_t stop = end - c->lo + 1 <= max - done ? end : c->lo + (max - done) - 1;
    for (uint64_t id = c->lo; id <= stop; id++)
      write_one(c, id, (id - 1) % c->ring);
    done += stop - c->lo + 1;
    c->lo = stop + 1;
    if (c->lo > end)
      c->count[k % 2] = 0;
  }
  return done;
}

void evf_collect_window_of(const struct evf_collect *c, uint64_t *first, uint64_t *last)
{
  const struct evf_collect_config *g = &c->cfg;
  uint64_t k = (c->lo - 1) / g->window;
  *first = k * g->window + 1;
  *last = *first - 1 + g->window < g->ntasks ? *first - 1 + g->window : g->ntasks;
}
