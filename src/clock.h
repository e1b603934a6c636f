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

#endif
