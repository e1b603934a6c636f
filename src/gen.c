/* The counter-based generator behind every task parameter (see gen.h for the exact formula). */
#include "gen.h"

static uint64_t mix64(uint64_t z)
{
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t evf_gen_bits(uint64_t seed, uint64_t id, uint32_t stream)
{
  uint64_t key = mix64(seed ^ ((uint64_t)stream * 0xd1b54a32d192ed03ULL));
  return mix64(key + id * 0x9e3779b97f4a7c15ULL);
}

uint64_t evf_gen_range(uint64_t bits, uint64_t lo, uint64_t hi)
{
  uint64_t span = hi - lo + 1; /* 0 means the full 64-bit range */
  if (span == 0)
    return bits;
  /* Lemire's multiply-shift: no division, bias below span / 2^64. */
  return lo + (uint64_t)(((unsigned __int128)bits * span) >> 64);
}

double evf_gen_unit(uint64_t bits)
{
  return (double)(bits >> 11) * 0x1.0p-53;
}
