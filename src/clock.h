/* The one clock every timing in evfarm uses: CLOCK_MONOTONIC, in seconds. */
#ifndef EVF_CLOCK_H
#define EVF_CLOCK_H

#include <time.h>

static inline double evf_clock_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Seconds as whole microseconds in a record's uint32 field: rounded, and saturated at
 * UINT32_MAX (71.6 minutes) instead of the undefined conversion of a larger double. */
static inline unsigned evf_clock_us32(double seconds)
{
  double us = seconds * 1e6 + 0.5;
  return us <= 0 ? 0u : us >= 4294967295.0 ? 4294967295u : (unsigned)us;
}

#endif
