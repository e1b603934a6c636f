/* hash: FNV-1a over bytes, for the open-addressing tables of host names and origins
 * (hosts.c, hostplan.c, owners.c). */
#ifndef EVF_HASH_H
#define EVF_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t evf_hash_bytes(const char *s, size_t n)
{
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

#endif
