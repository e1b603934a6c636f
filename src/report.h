/* report: the run summary that rank 0 writes, as text for people and as versioned JSON for
 * tools.  Writes only to the FILE * it is given. */
#ifndef EVF_REPORT_H
#define EVF_REPORT_H

#include <stdio.h>

#include "cli.h"
#include "stats.h"

/* Version of the JSON summary's layout; bump on incompatible changes. */
#define EVF_SUMMARY_SCHEMA "evfarm.summary/1"

void evf_report_text(FILE *out, const struct evf_options *opt, const struct evf_summary *s);
void evf_report_json(FILE *out, const struct evf_options *opt, const struct evf_summary *s,
                     int exit_code);

#endif
