"""robots.txt decisions (src/robots.c, through test_robots --probe) against an independent
implementation: Debian's python3-protego (Scrapy's parser), on RFC 9309's group example and on
generated files and paths.

The generated files keep to what RFC 9309 and protego 0.2 read alike: groups of user-agent
lines named by product tokens none of which is part of another (protego matches a group whose
name is a substring of the crawler's name, the RFC the token), rules whose paths hold
unreserved characters, '/', '*', a final '$' and percent-encodings (protego compares the query
string unencoded, so no '?'), no lines without a colon and no other fields between user-agent
lines (protego ends a group's user-agent lines at any field), no index.html (protego allows
'/' when '/index.html' is allowed), and no /robots.txt (always allowed by the RFC).

Runs under Debian's /usr/bin/python3 (python3-protego).  One ctest per case.
"""
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import Check, cases_main, cases_of  # noqa: E402

from protego import Protego  # noqa: E402  (Debian: python3-protego)

AGENTS = ["evfarm", "EvFarm", "otherbot", "googlebot", "*"]
SEGMENTS = ["a", "b", "ab", "fish", "Fish", "x.html", "x.php", "-", "_", "~", "%41", "%7e",
            "%2f", "%2F", "dir", "Dir", "1", "%e3%83%84"]


def probe(c, a, text, agent, paths, name):
    """[(allowed, path)] and the crawl delay from test_robots --probe."""
    path = os.path.join(a.outdir, "robots_" + name + ".txt")
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.run([a.probe, "--probe", path, agent], input="\n".join(paths) + "\n",
                       capture_output=True, text=True, timeout=60)
    c(p.returncode == 0, "test_robots --probe: exit %d %s" % (p.returncode, p.stderr))
    lines = p.stdout.splitlines()
    got = [(x[0] == "1", x[2:]) for x in lines[:-1]]
    delay = float(lines[-1].split()[1]) if lines and lines[-1].startswith("delay ") else None
    return got, delay


def compare(c, a, text, agent, paths, name):
    rp = Protego.parse(text)
    got, delay = probe(c, a, text, agent, paths, name)
    c([p for _, p in got] == paths, "%s: the probe answered other paths" % name)
    bad = []
    for (mine, path) in got:
        theirs = rp.can_fetch("http://example.com" + path, agent)
        if mine != theirs:
            bad.append((path, mine, theirs))
    c(not bad, "%s: %d of %d paths differ from protego (path, ours, protego): %r\n%s"
      % (name, len(bad), len(paths), bad[:5], text))
    want = rp.crawl_delay(agent)
    c((want is None and delay < 0) or (want is not None and abs(want - delay) < 1e-9),
      "%s: crawl delay %r, protego %r\n%s" % (name, delay, want, text))
    return len(bad)


def case_rfc_example(c, a):
    """RFC 9309 2.2.1's groups, for the crawlers it names and one it does not."""
    text = ("user-agent: ExampleBot\ndisallow: /foo\ndisallow: /bar\n\nuser-agent: *\n"
            "disallow: /baz\n\nuser-agent: ExampleBot\nuser-agent: ExampleBot/2.0\n"
            "disallow: /qux\nuser-agent: BarBot\nuser-agent: BazBot\ndisallow: /quux\n\n"
            "user-agent: FooBot\ndisallow: /quux\nuser-agent: FooBot\ndisallow: /baz\n")
    paths = ["/foo", "/bar", "/baz", "/qux", "/quux", "/other", "/foo/x", "/bazz"]
    for agent in ("ExampleBot", "BarBot", "BazBot", "FooBot", "evfarm"):
        compare(c, a, text, agent, paths, "rfc_" + agent)


def pattern(rnd):
    p = "/" + "/".join(rnd.choice(SEGMENTS) for _ in range(rnd.randint(0, 3)))
    if rnd.random() < 0.3:
        k = rnd.randint(0, len(p))
        p = p[:k] + "*" + p[k:]
    if rnd.random() < 0.15:
        p += "$"
    if rnd.random() < 0.1:
        p = p.lstrip("/") or "x"
    return p


def robots_file(rnd):
    lines = []
    if rnd.random() < 0.3:
        lines.append("Disallow: /before-any-group")
    if rnd.random() < 0.2:
        lines.append("Sitemap: http://example.com/sitemap.xml")
    for _ in range(rnd.randint(0, 5)):
        for _ in range(rnd.randint(1, 2)):
            lines.append("%s: %s" % (rnd.choice(["User-agent", "user-agent", "USER-AGENT"]),
                                     rnd.choice(AGENTS)))
        for _ in range(rnd.randint(0, 6)):
            kind = rnd.random()
            if kind < 0.45:
                lines.append("Disallow: " + pattern(rnd))
            elif kind < 0.85:
                lines.append("Allow: " + pattern(rnd))
            elif kind < 0.92:
                lines.append("Disallow:")
            else:
                lines.append("Crawl-delay: %s" % rnd.choice(["1", "0.5", "10", "2.25"]))
            if rnd.random() < 0.1:
                lines[-1] += "  # a comment"
        if rnd.random() < 0.5:
            lines.append("")
    return "\n".join(lines) + "\n"


def path_of(rnd):
    return "/" + "/".join(rnd.choice(SEGMENTS) for _ in range(rnd.randint(0, 4)))


def case_generated(c, a):
    """600 generated files, 40 paths each, for the crawler evfarm: every decision and crawl
    delay equal to protego's."""
    rnd = random.Random(9309)
    differ = 0
    for k in range(600):
        text = robots_file(rnd)
        paths = sorted({path_of(rnd) for _ in range(40)})
        differ += compare(c, a, text, "evfarm", paths, "gen%d" % k) > 0
    c(differ == 0, "%d of 600 files decided differently" % differ)


def run(a, fn):
    c = Check("check_robots " + fn.__name__[5:])
    fn(c, a)
    return c.done()


if __name__ == "__main__":
    sys.exit(cases_main(cases_of(globals()), ["--probe", "--outdir"], run))
