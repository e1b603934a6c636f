/* owners: the set of names (evf_names) against a plain list, and rank 0's owner of every host
 * name (evf_owners) against the plans of random layouts: a listed name is the rank whose share
 * holds its positions (static), pending until its batch is dealt and then that batch's rank
 * (dynamic); a name no input has is the first asker's, and stays so; no name: the asker.  Rank
 * 0's open turns (evf_open_turns) against a plain array over random adds, finds, removals and
 * visits that remove as they go (a rank gone), at loads that make the table grow and probe runs
 * wrap around. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hostplan.h"
#include "owners.h"
#include "plans.h"

static void check_names(void)
{
  struct evf_names *m = evf_names_new();
  CHECK(m != NULL);
  enum { N = 5000 };
  char s[32];
  for (int k = 0; k < N; k++) {
    snprintf(s, sizeof s, "host-%d", k);
    CHECK_EQ_U64(evf_names_put(m, s, strlen(s), k), 0);
  }
  for (int k = 0; k < N; k += 7) { /* a value set again */
    snprintf(s, sizeof s, "host-%d", k);
    CHECK_EQ_U64(evf_names_put(m, s, strlen(s), -k), 0);
  }
  int bad = 0;
  for (int k = 0; k < N; k++) {
    int v = 12345;
    snprintf(s, sizeof s, "host-%d", k);
    bad += !evf_names_find(m, s, strlen(s), &v) || v != (k % 7 ? k : -k);
  }
  CHECK_EQ_U64(bad, 0);
  int v;
  CHECK(!evf_names_find(m, "host-5000", 9, &v));
  CHECK(!evf_names_find(m, "host-1", 5, &v));     /* "host-": a prefix is another name */
  CHECK(evf_names_find(m, "host-12x", 7, &v) && v == 12); /* n bytes, not the string */
  CHECK(!evf_names_find(m, "", 0, &v));
  evf_names_free(m);
}

static void check_layout(int dynamic)
{
  uint32_t n = 1 + rnd(300), nh = 1 + rnd(40);
  int ranks = 1 + (int)rnd(6);
  char **lines = malloc(n * sizeof *lines);
  uint32_t *host_of = malloc(n * sizeof *host_of), nhosts = 0;
  for (uint32_t k = 0; k < n; k++) {
    char b[32];
    snprintf(b, sizeof b, "h%u/%u", rnd(nh), k);
    lines[k] = strdup(b);
  }
  CHECK_EQ_U64(evf_hostplan_number((const char *const *)lines, n, key_of, host_of, &nhosts), 0);
  struct evf_partition p;
  uint32_t *perm = NULL, most = 0;
  CHECK_EQ_U64(evf_hostplan(&p, &perm, n, n, n, NULL, 0, ranks, dynamic ? 1 + rnd(20) : 0,
                            dynamic, 1, host_of, nhosts, &most),
               0);
  const char **pos = malloc(n * sizeof *pos);
  for (uint32_t k = 0; k < n; k++)
    pos[k] = lines[perm[k] - 1];
  struct evf_inputs in = {.line = pos, .n = n};
  struct evf_owners *o = evf_owners_new(&p, &in, key_of);
  CHECK(o != NULL);
  /* The oracle: each batch's rank (static: the share it is in; dynamic: the first share's, the
   * rest dealt below to a random rank), by the hosts of its positions. */
  int *want = malloc(nh * sizeof *want);
  for (uint32_t h = 0; h < nh; h++)
    want[h] = -2; /* no input */
  for (int r = 0; r < ranks; r++)
    for (int b = 0; b < p.batch_count[r]; b++) {
      const struct evf_batch *x = &p.batches[p.batch_displ[r] + b];
      for (uint32_t k = 0; k < x->count; k++)
        want[atoi(pos[x->first_id - 1 + k] + 1)] = r;
    }
  int bad = 0;
  char url[64];
  if (dynamic) {
    int *given = calloc(p.nbatches, sizeof *given);
    for (int r = 0; r < ranks; r++)
      if (p.batch_count[r] > 0)
        given[p.batch_displ[r]] = 1;
    for (size_t b = 0; b < p.nbatches; b++) { /* pending until dealt */
      if (given[b])
        continue;
      const struct evf_batch *x = &p.batches[b];
      for (uint32_t k = 0; k < x->count; k++) {
        snprintf(url, sizeof url, "h%d/any", atoi(pos[x->first_id - 1 + k] + 1));
        size_t at = SIZE_MAX;
        bad += evf_owners_lookup(o, url, 0, &at) != EVF_OWNER_PENDING || at != b;
      }
      int r = (int)rnd((uint32_t)ranks);
      evf_owners_dealt(o, x, r);
      for (uint32_t k = 0; k < x->count; k++)
        want[atoi(pos[x->first_id - 1 + k] + 1)] = r;
    }
    free(given);
  }
  for (uint32_t h = 0; h < nh; h++) {
    snprintf(url, sizeof url, "h%u/other/page", h);
    int asker = (int)rnd((uint32_t)ranks);
    int got = evf_owners_lookup(o, url, asker, NULL);
    if (want[h] == -2) /* unlisted: the first asker's, then the same for any asker */
      bad += got != asker || evf_owners_lookup(o, url, (asker + 1) % ranks, NULL) != asker;
    else
      bad += got != want[h];
  }
  CHECK_EQ_U64(bad, 0);
  CHECK_EQ_U64(evf_owners_lookup(o, "/no-name", 3, NULL), 3);
  CHECK_EQ_U64(evf_owners_lookup(o, "/no-name", 4, NULL), 4); /* no name: never noted */
  evf_owners_free(o);
  free(want);
  free(pos);
  free(perm);
  evf_partition_free(&p);
  for (uint32_t k = 0; k < n; k++)
    free(lines[k]);
  free(lines);
  free(host_of);
}

/* Keys (requester < R, seq < S) against want[][] (owner + 1, 0: not open). */
#define R 8
#define S 512
static void check_turns(uint32_t span)
{
  static int want[R][S];
  memset(want, 0, sizeof want);
  struct evf_open_turns t = {0};
  size_t open = 0;
  for (int op = 0; op < 200000; op++) {
    int r = (int)rnd(R);
    uint32_t q = rnd(span), what = rnd(100);
    struct evf_open_turn *x = evf_open_turns_find(&t, r, q);
    CHECK((x != NULL) == (want[r][q] != 0));
    if (x && x->owner + 1 != want[r][q]) {
      CHECK(0);
      break;
    }
    if (!x && what < 55) {
      int owner = (int)rnd(R);
      CHECK(evf_open_turns_add(&t, &(struct evf_open_turn){.requester = r, .owner = owner,
                                                           .seq = q}) == 0);
      want[r][q] = owner + 1;
      open++;
    } else if (x && what < 95) {
      evf_open_turns_remove(&t, x);
      want[r][q] = 0;
      open--;
    } else if (what >= 99) { /* a rank gone: its turns removed in one visit */
      size_t seen = 0;
      for (size_t i = 0; i < t.cap;) {
        struct evf_open_turn *y = &t.slot[i];
        if (y->used && y->requester == r) {
          CHECK(want[y->requester][y->seq] == y->owner + 1);
          want[y->requester][y->seq] = 0;
          evf_open_turns_remove(&t, y);
          open--;
          seen++;
        } else {
          i++;
        }
      }
      for (uint32_t k = 0; k < S; k++)
        CHECK(want[r][k] == 0);
      (void)seen;
    }
    CHECK(t.n == open);
  }
  for (int r = 0; r < R; r++) /* every key still open is found, and nothing else */
    for (uint32_t q = 0; q < S; q++) {
      struct evf_open_turn *x = evf_open_turns_find(&t, r, q);
      CHECK((x != NULL) == (want[r][q] != 0) && (!x || x->owner + 1 == want[r][q]));
    }
  evf_open_turns_free(&t);
  CHECK(t.cap == 0 && t.n == 0 && evf_open_turns_find(&t, 0, 0) == NULL);
}

int main(void)
{
  check_names();
  check_turns(16);  /* a few turns: the first 64 slots, runs wrapping around */
  check_turns(S);   /* thousands: growth */
  for (int trial = 0; trial < 200; trial++)
    check_layout(trial % 2);
  return check_done("test_owners");
}
