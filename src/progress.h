/* progress: what rank 0 shows of a running job on stderr (src/progress.c): tasks done of the
 * job's, percent, the rate over the last EVF_PROGRESS_RATE_WINDOW seconds, the ETA at that rate,
 * failed and in-flight counts.  As plain lines, or as one bar redrawn in place.  The counts come
 * from the channel (chan.h); this file only keeps the rate's samples and prints. */
#ifndef EVF_PROGRESS_H
#define EVF_PROGRESS_H

#include <stdio.h>

#include "chan.h"

#define EVF_PROGRESS_RATE_WINDOW 10.0
#define EVF_PROGRESS_SAMPLES 128
/* A bar is redrawn every this many seconds (at most --progress). */
#define EVF_PROGRESS_BAR_INTERVAL 0.2

struct evf_progress_view {
  FILE *err;
  unsigned long long total;   /* the job's task count */
  const char *groups;         /* the kind's groups ("hosts"): their counts shown; NULL: none */
  int bar;                    /* redraw one line in place */
  int drawn;                  /* a bar is on the screen (end it with a newline) */
  double sample_t[EVF_PROGRESS_SAMPLES];
  unsigned long long sample_done[EVF_PROGRESS_SAMPLES];
  int nsamples, next;
};

/* Print the job's counts at `elapsed` seconds; `last`: the bar's final state (ends its line). */
void evf_progress_print(struct evf_progress_view *v, const struct evf_progress_counts *c,
                        double elapsed, int last);

#endif
