/* Counter-based generator: every task parameter is a pure function of (seed, task id,
 * stream), never of rank-local state, so any rank count or batch size yields the same tasks. */
#ifndef EVF_GEN_H
#define EVF_GEN_H

#include <stdint.h>

/* Independent streams of the generator, one per task parameter. */
enum evf_gen_stream {
  EVF_STREAM_IO = 0,    /* the planned I/O delay */
  EVF_STREAM_CPU = 1,   /* the number of CPU iterations */
  EVF_STREAM_FAIL = 2,  /* whether a simulated attempt fails */
  EVF_STREAM_HANG = 3,  /* whether a simulated attempt hangs */
  EVF_STREAM_RETRY = 4  /* the backoff before a retry */
};

/* The stream of a per-attempt decision: attempt 1 uses `stream` itself (so a task's first
 * attempt is what it was before retries existed), attempt k the stream + 256 * (k - 1). */
static inline uint32_t evf_gen_attempt_stream(uint32_t stream, unsigned attempt)
{
  return stream + 256u * (attempt ? attempt - 1 : 0);
}

/* 64 random bits for (seed, id, stream).  Specification (also implemented by the test oracle):
 *   mix(z)  = splitmix64's finaliser: z ^= z>>30; z *= 0xbf58476d1ce4e5b9; z ^= z>>27;
 *             z *= 0x94d049bb133111eb; z ^= z>>31        (all arithmetic mod 2^64)
 *   key     = mix(seed ^ (stream * 0xd1b54a32d192ed03))
 *   result  = mix(key + id * 0x9e3779b97f4a7c15) */
uint64_t evf_gen_bits(uint64_t seed, uint64_t id, uint32_t stream);

/* An integer uniform in [lo, hi] (lo <= hi) drawn from `bits`: lo + floor(bits * (hi-lo+1) / 2^64). */
uint64_t evf_gen_range(uint64_t bits, uint64_t lo, uint64_t hi);

/* A double uniform in [0, 1) drawn from `bits`: (bits >> 11) * 2^-53. */
double evf_gen_unit(uint64_t bits);

#endif
