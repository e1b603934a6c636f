/* robots.txt (RFC 9309, the Robots Exclusion Protocol): the rules of one file for one crawler,
 * and whether a path may be fetched.  A pure module: text in, decisions out (no I/O, no MPI).
 * The polite crawl (issue 25) fetches each host's /robots.txt on the rank that owns the host
 * and asks this module about every URL of it. */
#ifndef EVF_ROBOTS_H
#define EVF_ROBOTS_H

#include <stddef.h>

/* The most of a robots.txt that is read (RFC 9309 2.5: at least 500 kibibytes). */
#define EVF_ROBOTS_MAX_BYTES (500u * 1024u)

struct evf_robots;

/* The rules of robots.txt `text` (len bytes; past EVF_ROBOTS_MAX_BYTES ignored) that apply to
 * the crawler whose product token is the first word of `agent` (evfarm's --user-agent, up to
 * its first '/' or space): every group naming it (case-insensitively; groups naming it more
 * than once are combined), else every group of "*", else none (everything allowed).  Returns
 * NULL only when out of memory. */
struct evf_robots *evf_robots_parse(const char *text, size_t len, const char *agent);
/* May `path` (a URL's path and query, as it is sent: "/a/b?c=d") be fetched?  The longest
 * matching rule decides (in octets, after percent-encodings are normalised), Allow over
 * Disallow at equal length; "*" matches any run of characters, a final "$" the end; no match:
 * allowed.  /robots.txt is always allowed.  Returns 1 or 0. */
int evf_robots_allowed(const struct evf_robots *r, const char *path);
/* The group's Crawl-delay in seconds (the last valid one), or a negative number when none. */
double evf_robots_crawl_delay(const struct evf_robots *r);
/* Rules kept (for tests and the summary). */
size_t evf_robots_rules(const struct evf_robots *r);
void evf_robots_free(struct evf_robots *r);

#endif
