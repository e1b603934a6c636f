/* The one clock every timing in evfarm uses: CLOCK_MONOTONIC, in seconds. */
#ifndef EVF_CLOCK_H
#define EVF_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline double evf_clock_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Seconds as whole microseconds: rounded, negative as 0, and saturated at 2^53 instead of the
 * undefined conversion of a larger double (a record's field saturates sooner: record.h). */
static inline uint64_t evf_clock_us(double seconds)
{
  double us = seconds * 1e6 + 0.5;
  return us <= 0 ? 0u : us >= 9007199254740992.0 ? UINT64_C(9007199254740992) : (uint64_t)us;
}

#endif
