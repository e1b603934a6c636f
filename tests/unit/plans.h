/* Helpers of the plan tests (test_hostplan.c, test_owners.c): a xorshift generator of random
 * layouts, and the host key of their inputs "h<k>/<page>". */
#ifndef EVF_TEST_PLANS_H
#define EVF_TEST_PLANS_H

#include <stdint.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull; /* rnd_seed() sets another */

static inline void rnd_seed(uint64_t seed)
{
  rng = seed;
}

/* A number in [0, n). */
static inline uint32_t rnd(uint32_t n)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng % n);
}

/* "h<k>/<page>": the key is what precedes the first '/' (none for "/x"). */
static inline size_t key_of(const char *input, char *buf, size_t cap)
{
  size_t n = strcspn(input, "/");
  if (n >= cap)
    n = cap - 1;
  memcpy(buf, input, n);
  return n;
}

#endif
