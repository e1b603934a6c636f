/* inputs: the input file of kinds that take one (--urls): one input per line, blank lines and
 * lines starting with '#' skipped, surrounding spaces and tabs trimmed; task id k is the k-th
 * input.  Rank 0 reads the whole file; every other rank gets the inputs of its tasks only
 * (comm.c scatters those of its first share, packed by evf_inputs_pack(); chan.c deals the
 * rest with their batches). */
#ifndef EVF_INPUTS_H
#define EVF_INPUTS_H

#include <stddef.h>
#include <stdint.h>

#include "partition.h"

/* Longest input line, bytes. */
#define EVF_INPUT_MAX 65536

struct evf_inputs {
  char *buf;           /* the inputs, each NUL-terminated, back to back */
  size_t len;          /* bytes of buf in use */
  const char **line;   /* [n] pointers into buf (or into another's buf: see evf_inputs_view) */
  size_t n;
  /* Host-affine plans (hostplan.h): the id of each line (batches are ranges of positions);
   * NULL: line k is the input of the k-th position, which is its id.  Packed inputs then carry
   * each id (4 bytes) before its line. */
  const uint32_t *ids;
  uint32_t *ids_buf;   /* ids when this struct owns them */
};

/* Read `path` (named by --option in messages).  `check` (may be NULL) vets each input: 0, or
 * nonzero with its reason.  Returns 0, EVF_EUSAGE with msg "--option: FILE:LINE: reason" (or
 * "--option: 'FILE': reason" for the file as a whole), or EVF_ENOMEM. */
struct evf_options;
int evf_inputs_read(struct evf_inputs *in, const char *option, const char *path,
                    int (*check)(const struct evf_options *opt, const char *line, char *why),
                    const struct evf_options *opt, char *msg);

/* Rank r's inputs, in the order of its records, packed back to back into one buffer for a
 * scatter: *out (malloc'ed; caller frees) with counts[r] bytes at displs[r] for each of the
 * p->nranks ranks.  Returns 0, EVF_ENOMEM, or EVF_EUSAGE when a rank's share is over INT_MAX
 * bytes (MPI counts are ints). */
int evf_inputs_pack(const struct evf_inputs *all, const struct evf_partition *p, char **out,
                    int *counts, int *displs);

/* Take `buf` (len bytes of n packed inputs: NUL-terminated, each after its id with `ids`;
 * ownership passes to `in`). */
int evf_inputs_adopt(struct evf_inputs *in, char *buf, size_t len, size_t n, int ids);

/* One packed input (position `pos`, 0-based, of `all`): its size, and written to `out`. */
size_t evf_inputs_packed_size(const struct evf_inputs *all, size_t pos);
size_t evf_inputs_put(const struct evf_inputs *all, size_t pos, char *out);
/* Read n packed inputs from buf[0..len) (with their ids when `ids` is not NULL) into line[]
 * and ids[].  Returns 0, or EVF_EUSAGE when they do not fill it. */
int evf_inputs_parse(char *buf, size_t len, size_t n, const char **line, uint32_t *ids);

/* Rank 0's inputs in the order of a host-affine plan's positions: line[k] = all's line of id
 * perm[k] (pointers into all's buffer), ids = perm (not copied: perm must outlive it). */
int evf_inputs_permuted(struct evf_inputs *in, const struct evf_inputs *all, const uint32_t *perm,
                        size_t n);

/* Rank 0's own tasks: pointers into `all` (no copy) for the tasks of rank 0's batches. */
int evf_inputs_view(struct evf_inputs *in, const struct evf_inputs *all,
                    const struct evf_batch *batches, size_t nbatches);

void evf_inputs_free(struct evf_inputs *in);

#endif
