/* gen: fixed values for fixed (seed, id, stream) -- the same values the Python oracle
 * (tests/integration/oracle.py) computes -- and the bounds of the range and unit draws. */
#include "check.h"
#include "gen.h"

struct bits_case {
  uint64_t seed, id;
  uint32_t stream;
  uint64_t want;
};

static const struct bits_case bits_cases[] = {
  {1, 1, 0, 0xbfef8030ddc2d772ULL},
  {1, 1, 1, 0x077ca23776407269ULL},
  {1, 2, 0, 0x5f552ce482f2aa47ULL},
  {42, 7, 2, 0xfd2b0b379f230d4fULL},
  {UINT64_MAX, 2147483647, 1, 0xebee192b7a3bd9aeULL},
};

int main(void)
{
  for (size_t k = 0; k < sizeof bits_cases / sizeof bits_cases[0]; k++) {
    const struct bits_case *c = &bits_cases[k];
    CHECK_EQ_U64(evf_gen_bits(c->seed, c->id, c->stream), c->want);
  }

  /* Ranges: the extremes of `bits` map to the ends of [lo, hi]. */
  CHECK_EQ_U64(evf_gen_range(0, 20, 100), 20);
  CHECK_EQ_U64(evf_gen_range(UINT64_MAX, 20, 100), 100);
  CHECK_EQ_U64(evf_gen_range(UINT64_MAX / 2 + 1, 0, 1), 1);
  CHECK_EQ_U64(evf_gen_range(UINT64_MAX / 2, 0, 1), 0);
  CHECK_EQ_U64(evf_gen_range(12345, 7, 7), 7);
  CHECK_EQ_U64(evf_gen_range(12345, 0, UINT64_MAX), 12345);
  /* The task parameters of ids 1 and 2 at seed 1 (the oracle's values). */
  CHECK_EQ_U64(evf_gen_range(evf_gen_bits(1, 1, 1), 100000, 500000), 111698);
  CHECK_EQ_U64(evf_gen_range(evf_gen_bits(1, 2, 1), 100000, 500000), 243545);
  CHECK_EQ_U64(evf_gen_range(evf_gen_bits(1, 1, 0), 20, 100), 80);

  /* Many draws stay in bounds and reach both ends; their mean is near the middle. */
  uint64_t lo_hits = 0, hi_hits = 0;
  double sum = 0, umin = 1, umax = 0;
  const int n = 200000;
  for (int i = 1; i <= n; i++) {
    uint64_t v = evf_gen_range(evf_gen_bits(9, (uint64_t)i, 1), 10, 20);
    CHECK(v >= 10 && v <= 20);
    lo_hits += v == 10;
    hi_hits += v == 20;
    sum += (double)v;
    double u = evf_gen_unit(evf_gen_bits(9, (uint64_t)i, 2));
    umin = u < umin ? u : umin;
    umax = u > umax ? u : umax;
  }
  CHECK(lo_hits > (uint64_t)n / 22);
  CHECK(hi_hits > (uint64_t)n / 22);
  CHECK_NEAR(sum / n, 15.0, 0.05);
  CHECK(umin >= 0.0 && umin < 0.001);
  CHECK(umax < 1.0 && umax > 0.999);
  /* Streams and seeds are independent: different keys give different bits. */
  CHECK(evf_gen_bits(1, 5, 0) != evf_gen_bits(1, 5, 1));
  CHECK(evf_gen_bits(1, 5, 0) != evf_gen_bits(2, 5, 0));
  return check_done("test_gen");
}
