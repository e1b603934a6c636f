/* robots.txt per RFC 9309 (see robots.h).  Lines are "field: value" with '#' comments; a group
 * is one or more user-agent lines and the rules after them (a user-agent line after a rule
 * starts the next group); rules before any user-agent line belong to no group.  Paths and
 * patterns are compared after the same normalisation of percent-encodings (normalise()). */
#include "robots.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct rule {
  char *pat;      /* normalised, without a final '$' */
  size_t len;
  size_t weight;  /* octets of the pattern as written after normalisation, '$' included */
  int allow;
  int anchored;   /* ended with '$': the path must end where the pattern does */
};

struct evf_robots {
  struct rule *rule;
  size_t n, cap;
  double delay;
};

static int hexval(int c)
{
  return c >= '0' && c <= '9' ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

static int unreserved(int c)
{
  return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* s[0..n) normalised into a new string (*out_len its length); NULL when out of memory.  Every
 * octet that is not unreserved or '/' is percent-encoded (RFC 9309 2.2.2: reserved and
 * non-ASCII octets are compared encoded), an escape of an unreserved character decoded, other
 * escapes written in upper case; in a pattern '*' stays the wildcard. */
static char *normalise(const char *s, size_t n, int pattern, size_t *out_len)
{
  static const char hex[] = "0123456789ABCDEF";
  char *o = malloc(3 * n + 1);
  if (!o)
    return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    int h, l;
    if (c == '%' && i + 2 < n && (h = hexval(s[i + 1])) >= 0 && (l = hexval(s[i + 2])) >= 0) {
      int v = h * 16 + l;
      if (unreserved(v)) {
        o[k++] = (char)v;
      } else {
        o[k++] = '%';
        o[k++] = hex[v >> 4];
        o[k++] = hex[v & 15];
      }
      i += 2;
    } else if (!(unreserved(c) || c == '/' || c == '%' || (pattern && c == '*'))) {
      o[k++] = '%';
      o[k++] = hex[c >> 4];
      o[k++] = hex[c & 15];
    } else {
      o[k++] = (char)c;
    }
  }
  o[k] = '\0';
  *out_len = k;
  return o;
}

/* Does pattern p[0..pn) ('*': any run) match a prefix of s[0..sn) (all of it when anchored)? */
static int match(const char *p, size_t pn, const char *s, size_t sn, int anchored)
{
  size_t i = 0, j = 0, star = (size_t)-1, mark = 0;
  while (j < sn) {
    if (i == pn && !anchored)
      return 1; /* the pattern is a prefix of what is left */
    if (i < pn && p[i] == '*') {
      star = i++;
      mark = j;
    } else if (i < pn && p[i] == s[j]) {
      i++;
      j++;
    } else if (star != (size_t)-1) {
      i = star + 1;
      j = ++mark;
    } else {
      return 0;
    }
  }
  while (i < pn && p[i] == '*')
    i++;
  return i == pn;
}

static int add_rule(struct evf_robots *r, const char *v, size_t n, int allow)
{
  if (n == 0)
    return 0; /* "Disallow:" with no path: no rule */
  int anchored = v[n - 1] == '$';
  if (anchored)
    n--;
  /* A pattern is a path: one that does not start with '/' gets one (a pattern "*.gif" reads
   * as "/" followed by it, as protego reads it). */
  char *tmp = malloc(n + 2);
  if (!tmp)
    return -1;
  size_t m = 0;
  if (v[0] != '/')
    tmp[m++] = '/';
  memcpy(tmp + m, v, n);
  m += n;
  size_t len;
  char *pat = normalise(tmp, m, 1, &len);
  free(tmp);
  if (!pat)
    return -1;
  if (r->n == r->cap) {
    size_t cap = r->cap ? 2 * r->cap : 16;
    struct rule *x = realloc(r->rule, cap * sizeof *x);
    if (!x) {
      free(pat);
      return -1;
    }
    r->rule = x;
    r->cap = cap;
  }
  r->rule[r->n++] = (struct rule){pat, len, len + (size_t)anchored, allow, anchored};
  return 0;
}

/* The product token of a user-agent value or of our --user-agent: up to '/' or a space. */
static size_t token_len(const char *s, size_t n)
{
  size_t k = 0;
  while (k < n && s[k] != '/' && s[k] != ' ' && s[k] != '\t')
    k++;
  return k;
}

/* One pass over the lines: `want` 1 keeps the rules of the groups naming `agent`, 0 those of
 * "*".  Returns how many groups matched (-1: out of memory). */
static int pass(struct evf_robots *r, const char *text, size_t len, const char *agent,
                size_t alen, int want)
{
  int in_group = 0, applies = 0, last_was_agent = 0, groups = 0;
  size_t at = 0;
  while (at < len) {
    size_t end = at;
    while (end < len && text[end] != '\n' && text[end] != '\r')
      end++;
    const char *line = text + at;
    size_t n = end - at;
    at = end + 1;
    const char *hash = memchr(line, '#', n);
    if (hash)
      n = (size_t)(hash - line);
    const char *colon = memchr(line, ':', n);
    if (!colon)
      continue;
    const char *f = line, *fe = colon, *v = colon + 1, *ve = line + n;
    while (f < fe && (*f == ' ' || *f == '\t'))
      f++;
    while (fe > f && (fe[-1] == ' ' || fe[-1] == '\t'))
      fe--;
    while (v < ve && (*v == ' ' || *v == '\t'))
      v++;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
      ve--;
    size_t fl = (size_t)(fe - f), vl = (size_t)(ve - v);
    if (fl == 10 && strncasecmp(f, "user-agent", 10) == 0) {
      if (!last_was_agent) { /* a new group */
        in_group = 1;
        applies = 0;
      }
      last_was_agent = 1;
      size_t tl = token_len(v, vl);
      int hit = want ? tl > 0 && tl == alen && strncasecmp(v, agent, tl) == 0
                     : vl == 1 && v[0] == '*';
      if (hit && !applies) {
        applies = 1;
        groups++;
      }
      continue;
    }
    int allow = fl == 5 && strncasecmp(f, "allow", 5) == 0;
    int disallow = fl == 8 && strncasecmp(f, "disallow", 8) == 0;
    int delay = fl == 11 && strncasecmp(f, "crawl-delay", 11) == 0;
    if (!allow && !disallow && !delay)
      continue; /* sitemap, host, unknown fields: not part of a group's rules */
    last_was_agent = 0;
    if (!in_group || !applies)
      continue;
    if (delay) {
      char buf[64], *e;
      if (vl > 0 && vl < sizeof buf) {
        memcpy(buf, v, vl);
        buf[vl] = '\0';
        double d = strtod(buf, &e);
        if (*e == '\0' && isfinite(d) && d >= 0)
          r->delay = d;
      }
    } else if (add_rule(r, v, vl, allow)) {
      return -1;
    }
  }
  return groups;
}

struct evf_robots *evf_robots_parse(const char *text, size_t len, const char *agent)
{
  struct evf_robots *r = calloc(1, sizeof *r);
  if (!r)
    return NULL;
  r->delay = -1;
  if (len > EVF_ROBOTS_MAX_BYTES)
    len = EVF_ROBOTS_MAX_BYTES;
  size_t alen = token_len(agent, strlen(agent));
  int g = alen ? pass(r, text, len, agent, alen, 1) : 0;
  if (g == 0)
    g = pass(r, text, len, agent, alen, 0);
  if (g < 0) {
    evf_robots_free(r);
    return NULL;
  }
  return r;
}

int evf_robots_allowed(const struct evf_robots *r, const char *path)
{
  size_t pn = strlen(path);
  if (strcmp(path, "/robots.txt") == 0)
    return 1;
  size_t n;
  char *p = normalise(path, pn, 0, &n);
  if (!p)
    return 0; /* out of memory: not fetched (said as disallowed, never wrongly allowed) */
  size_t best = 0;
  int found = 0, allowed = 1;
  for (size_t k = 0; k < r->n; k++) {
    const struct rule *x = &r->rule[k];
    if (found && (x->weight < best || (x->weight == best && !x->allow)))
      continue;
    if (!match(x->pat, x->len, p, n, x->anchored))
      continue;
    if (!found || x->weight > best || x->allow) {
      best = x->weight;
      allowed = x->allow;
      found = 1;
    }
  }
  free(p);
  return allowed;
}

double evf_robots_crawl_delay(const struct evf_robots *r)
{
  return r->delay;
}

size_t evf_robots_rules(const struct evf_robots *r)
{
  return r->n;
}

void evf_robots_free(struct evf_robots *r)
{
  if (!r)
    return;
  for (size_t k = 0; k < r->n; k++)
    free(r->rule[k].pat);
  free(r->rule);
  free(r);
}
