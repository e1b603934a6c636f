/* robots: RFC 9309's own examples (its group example of 2.2.1, the special characters of 2.2.3,
 * the longest match of 5.2) and the limits (500 KiB, /robots.txt, no group).  With
 *   test_robots --probe FILE AGENT
 * it reads paths on stdin and prints "1 PATH" (allowed) or "0 PATH" for each, then
 * "delay D": tests/integration/check_robots.py compares those with Debian's python3-protego. */
#include <stdlib.h>

#include "check.h"
#include "hosts.h"
#include "robots.h"

static int allowed(const char *text, const char *agent, const char *path)
{
  struct evf_robots *r = evf_robots_parse(text, strlen(text), agent);
  CHECK(r != NULL);
  int a = r ? evf_robots_allowed(r, path) : -1;
  evf_robots_free(r);
  return a;
}

/* RFC 9309 2.2.1: which group each crawler obeys ("ExampleBot" -> the first group, and so on). */
static const char rfc_groups[] =
  "user-agent: ExampleBot\n"
  "disallow: /foo\n"
  "disallow: /bar\n"
  "\n"
  "user-agent: *\n"
  "disallow: /baz\n"
  "\n"
  "user-agent: ExampleBot\n"
  "user-agent: ExampleBot/2.0\n"
  "disallow: /qux\n"
  "user-agent: BarBot\n"
  "user-agent: BazBot\n"
  "disallow: /quux\n"
  "\n"
  "user-agent: FooBot\n"
  "disallow: /quux\n"
  "user-agent: FooBot\n"
  "disallow: /baz\n";

struct pcase {
  const char *rules, *path;
  int want;
};

/* RFC 9309 2.2.3 (special characters) and 5.2 (longest match), with a rule each. */
static const struct pcase special[] = {
  {"User-agent: *\nDisallow: /path/file-with-a-*.html\n", "/path/file-with-a-star.html", 0},
  {"User-agent: *\nDisallow: /path/file-with-a-*.html\n", "/path/file-with-a-.htm", 1},
  {"User-agent: *\nDisallow: /path/foo-$\n", "/path/foo-", 0},
  {"User-agent: *\nDisallow: /path/foo-$\n", "/path/foo-bar", 1},
  {"User-agent: *\nDisallow: /path/foo-%24\n", "/path/foo-$", 0},
  {"User-agent: *\nDisallow: /foo/bar?baz=quz\n", "/foo/bar?baz=quz", 0},
  {"User-agent: *\nDisallow: /foo/bar/\xe3\x83\x84\n", "/foo/bar/%E3%83%84", 0},
  {"User-agent: *\nDisallow: /foo/bar/\xe3\x83\x84\n", "/foo/bar/%e3%83%84", 0},
  {"User-agent: *\nDisallow: /foo/bar/%E3%83%84\n", "/foo/bar/%E3%83%84", 0},
  {"User-agent: *\nDisallow: /foo/bar/%62%61%7A\n", "/foo/bar/baz", 0},
  {"User-agent: *\nDisallow: /foo/bar/baz\n", "/foo/bar/%62%61%7A", 0},
  {"User-agent: *\nDisallow: /a%3cd.html\n", "/a%3Cd.html", 0},
  /* 5.2: the longest match wins; Allow at equal length */
  {"User-Agent: *\nAllow: /example/page/\nDisallow: /example/page/disallowed.gif\n",
   "/example/page/disallowed.gif", 0},
  {"User-Agent: *\nAllow: /example/page/\nDisallow: /example/page/disallowed.gif\n",
   "/example/page/allowed.gif", 1},
  {"User-Agent: *\nDisallow: /example/\nAllow: /example/\n", "/example/x", 1},
  {"User-Agent: *\nDisallow: /\nAllow: /$\n", "/", 1},
  {"User-Agent: *\nDisallow: /\nAllow: /$\n", "/a", 0},
  {"User-Agent: *\nDisallow: /*.php$\n", "/index.php", 0},
  {"User-Agent: *\nDisallow: /*.php$\n", "/index.php?x=1", 1},
  {"User-Agent: *\nDisallow: /*.php\n", "/a/b.phpx", 0},
  {"User-Agent: *\nDisallow: /fish*\n", "/fishheads/yummy.html", 0},
  {"User-Agent: *\nDisallow: /fish*\n", "/Fish.asp", 1},
  {"User-Agent: *\nDisallow: fish\n", "/fish", 0},      /* a path without '/': given one */
  {"User-Agent: *\nDisallow:\n", "/anything", 1},       /* an empty rule: no rule */
  {"User-Agent: *\nDisallow: /\n", "/robots.txt", 1},   /* always allowed */
  {"Disallow: /\nUser-Agent: *\nAllow: /x\n", "/y", 1}, /* a rule before any group: none */
  {"User-agent: *\r\nDisallow: /crlf # comment\r\n", "/crlf/x", 0},
  {"# only a comment\n", "/x", 1},
  {"User-agent: *\nDisallow: /a**b\n", "/a-x-b", 0},
};

int main(int argc, char **argv)
{
  if (argc == 4 && strcmp(argv[1], "--probe") == 0) {
    FILE *f = fopen(argv[2], "rb");
    if (!f)
      return 2;
    static char text[EVF_ROBOTS_MAX_BYTES * 2];
    size_t n = fread(text, 1, sizeof text, f);
    fclose(f);
    struct evf_robots *r = evf_robots_parse(text, n, argv[3]);
    if (!r)
      return 3;
    char line[65536];
    while (fgets(line, sizeof line, stdin)) {
      line[strcspn(line, "\n")] = '\0';
      printf("%d %s\n", evf_robots_allowed(r, line), line);
    }
    printf("delay %.9g\n", evf_robots_crawl_delay(r));
    evf_robots_free(r);
    return 0;
  }

  /* 2.2.1: ExampleBot obeys /foo, /bar and /qux (its two groups combined), not /baz. */
  const char *paths[] = {"/foo", "/bar", "/baz", "/qux", "/quux"};
  const int example[] = {0, 0, 1, 0, 1}, other[] = {1, 1, 0, 1, 1}, bar[] = {1, 1, 1, 1, 0},
            foo[] = {1, 1, 0, 1, 0};
  for (int k = 0; k < 5; k++) {
    CHECK_EQ_U64(allowed(rfc_groups, "ExampleBot/1.0", paths[k]), example[k]);
    CHECK_EQ_U64(allowed(rfc_groups, "examplebot", paths[k]), example[k]);
    CHECK_EQ_U64(allowed(rfc_groups, "OtherBot", paths[k]), other[k]);
    CHECK_EQ_U64(allowed(rfc_groups, "BazBot", paths[k]), bar[k]);
    CHECK_EQ_U64(allowed(rfc_groups, "FooBot", paths[k]), foo[k]);
  }
  for (size_t k = 0; k < sizeof special / sizeof special[0]; k++) {
    int got = allowed(special[k].rules, "evfarm/1.0", special[k].path);
    if (got != special[k].want)
      fprintf(stderr, "case %zu: %s on %s: %d, want %d\n", k, special[k].path, special[k].rules,
              got, special[k].want);
    CHECK_EQ_U64(got, special[k].want);
  }

  /* Crawl-delay: the group's last valid one; none is negative; malformed ones are ignored. */
  struct evf_robots *r = evf_robots_parse(
    "User-agent: evfarm\nCrawl-delay: 2.5\nCrawl-delay: x\nDisallow: /a\n"
    "User-agent: *\nCrawl-delay: 9\n", 80, "evfarm");
  CHECK(r && evf_robots_crawl_delay(r) == 2.5 && evf_robots_rules(r) == 1);
  evf_robots_free(r);
  r = evf_robots_parse("User-agent: *\nDisallow: /a\n", 27, "evfarm");
  CHECK(r && evf_robots_crawl_delay(r) < 0);
  evf_robots_free(r);

  /* 500 KiB are read, no more: a rule past them does not count. */
  size_t big = EVF_ROBOTS_MAX_BYTES + 4096;
  char *text = malloc(big + 64);
  CHECK(text != NULL);
  if (text) {
    memset(text, '#', big);
    memcpy(text, "User-agent: *\nDisallow: /in\n#", 29);
    const char tail[] = "\nDisallow: /out\n";
    memcpy(text + EVF_ROBOTS_MAX_BYTES + 100, tail, sizeof tail - 1);
    memcpy(text + EVF_ROBOTS_MAX_BYTES - 200, tail, sizeof tail - 1);
    memcpy(text + EVF_ROBOTS_MAX_BYTES - 200, "\nDisallow: /edge\n", 17);
    r = evf_robots_parse(text, big, "evfarm");
    CHECK(r && !evf_robots_allowed(r, "/in") && !evf_robots_allowed(r, "/edge") &&
          evf_robots_allowed(r, "/out"));
    evf_robots_free(r);
    free(text);
  }
  /* What one robots.txt covers (an origin: scheme, name, port) and what the plan deals together
   * (the name alone: its origins on every scheme and port). */
  static const struct { const char *url, *origin, *name; } keys[] = {
    {"http://Example.COM/a?b", "http://example.com:80", "example.com"},
    {"HTTPS://example.com", "https://example.com:443", "example.com"},
    {"https://user:pw@example.com:8443/x", "https://example.com:8443", "example.com"},
    {"http://a@b@127.0.0.2:81#f", "http://127.0.0.2:81", "127.0.0.2"},
    {"http://[::1]:8080/p", "http://[::1]:8080", "[::1]"},
    {"http://[::1]/p", "http://[::1]:80", "[::1]"},
    {"ftp://host/f", "ftp://host:80", "host"},
    {"no scheme", "", ""},
    {"http:///path", "", ""},
  };
  for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
    char o[256] = "", n[256] = "";
    size_t lo = evf_url_origin(keys[k].url, o, sizeof o);
    size_t ln = evf_url_host_name(keys[k].url, n, sizeof n);
    if (strcmp(o, keys[k].origin) || strcmp(n, keys[k].name) || lo != strlen(o) ||
        ln != strlen(n))
      fprintf(stderr, "%s: origin %s (%zu), name %s (%zu); want %s, %s\n", keys[k].url, o, lo,
              n, ln, keys[k].origin, keys[k].name);
    CHECK(strcmp(o, keys[k].origin) == 0 && lo == strlen(o));
    CHECK(strcmp(n, keys[k].name) == 0 && ln == strlen(n));
  }
  char small[12] = "untouched";
  CHECK(evf_url_host_name("http://a-long-host-name.example/", small, sizeof small) == 0 &&
        strcmp(small, "untouched") == 0);

  printf("test_robots: %d checks, %d failed\n", check_count, check_failures);
  return check_failures != 0;
}
