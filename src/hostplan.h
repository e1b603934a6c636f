/* Host-affine plans (http with per-host limits): the tasks of one host (a group of inputs with
 * one key: a URL's host name, so all its origins) all go to one rank, so its limits hold for
 * the whole job there.
 * Pure arithmetic on rank 0, as partition.c.
 *
 * Batches are ranges of positions, not of ids: within each segment (the ids between two cuts,
 * at every multiple of the window and of the gathered part) the ids to run are reordered and
 * their positions are the segment's first ids (as many as it runs), so a position and its id
 * always share a window and a gathered part, and everything that counts them (the gathers, the
 * limit, the seals) works on positions as on ids.  perm[pos - 1] is the id at position pos.  Within a rank's share (static) or a batch
 * (dynamic) the ids go round-robin over their hosts (the first of each host, then the second,
 * ...), so the tasks in flight spread over the hosts instead of queueing for one. */
#ifndef EVF_HOSTPLAN_H
#define EVF_HOSTPLAN_H

#include <stddef.h>
#include <stdint.h>

#include "partition.h"

/* Number the groups of n keyed inputs: host_of[k] for input k (0-based) in order of first
 * appearance; key(input, buf, cap) writes an input's key (length returned; 0: the empty key).
 * Returns 0 with *nhosts set, or EVF_ENOMEM. */
int evf_hostplan_number(const char *const *line, size_t n,
                        size_t (*key)(const char *input, char *buf, size_t cap), uint32_t *host_of,
                        uint32_t *nhosts);

/* The plan of ids 1..ntasks (or those of `ranges`, a resumed run's, NULL: every id) in windows
 * of `window` ids gathered in parts of `part` ids, host_of[id - 1] the host of each.
 * Static: every host is owned by one rank for the whole job (largest hosts first, each to the
 * rank with the fewest ids so far); in each window rank r's share is the positions of its
 * hosts' ids there, cut into batches of batch_size (0: one batch per segment).
 * Dynamic (one window, gathered whole, only): batches of whole hosts (hosts in order of first appearance), each
 * closed once it holds the target evf_partition_plan_ranges() would give it (batch_size, or
 * guided self-scheduling with first_min), dealt in index order; the first share is batch r for
 * rank r.
 * *perm (malloc'ed, ntasks entries) gets the id of each position, *most_hosts the most hosts
 * with ids to run one rank owns (static) or ceil(hosts / nranks) (dynamic).  Returns 0, EVF_EUSAGE or
 * EVF_ENOMEM. */
int evf_hostplan(struct evf_partition *p, uint32_t **perm, uint32_t ntasks, uint64_t window,
                 uint64_t part, const struct evf_batch *ranges, size_t nranges, int nranks, uint32_t batch_size,
                 int dynamic, uint64_t first_min, const uint32_t *host_of, uint32_t nhosts,
                 uint32_t *most_hosts);

#endif
