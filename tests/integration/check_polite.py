"""A polite crawl (--robots, --host-delay, --host-connections) against many hosts on loopback
(127.0.0.2 ...: one test server listening on each, logging every connection and request with
its time), started and stopped here:

  robots_protego_npN  generated robots.txt files: every URL's status is what Debian's
                      python3-protego (Scrapy's parser) decides for evfarm; robots.txt is each
                      host's first request, fetched once per rank; no disallowed path is ever
                      requested, every allowed one once.  Plus the answers RFC 9309 gives rules
                      for: 404 (all allowed), 5xx and 429 (all disallowed), a redirect (followed),
                      no answer (io_error, nothing requested).
  robots_retry        a robots.txt that answers 503, then rules: --retries fetches it again
  robots_ignore       --robots ignore: no robots.txt requested, disallowed paths fetched
  delay               --host-delay with --host-delay-jitter and a Crawl-delay: every gap between
                      two requests to a host at least its delay, the jitter spreads them
  connections         --host-connections 2: never more than 2 connections to the host open
  affine_*_np3        host-affine dealing (static, dynamic, windows with batches): each host
                      on one rank, at most --host-connections open to a host from the job
  same_np123          np 1, 2, 3: the same records and, with --warc, the same stored responses
  delay_np3           --host-delay holds for the whole job at np 3
  skewed              one host with half the URLs: the others end while it runs
  resume_np3          --resume --retry-failed of a host-affine plan at another rank count
  every_host_at_once  with a delay every host starts at once (a slot per host)
  redirects           redirects to other hosts and within one: each hop waits for its host's
                      robots.txt (obeyed) and turn, its deadline stopped while it waits; too
                      many redirects; --header credentials only to the task's own host; the
                      hops kept in the WARC files
  redirect_ranks_*    redirects to hosts other ranks own, or nobody does: each hop waits for
                      its turn where the host is owned, so robots.txt, the delay and the
                      politeness bound hold for the whole job
  redirect_connections_np3  --host-connections counts other ranks' hops
  redirect_no_robots_np3        hops to another rank's hosts whose robots.txt cannot be read
  redirect_robots_retry_np3     their retries have the owner fetch it again, once
  redirect_pending_dynamic_np3  hops to hosts whose batch is still in the pool
  redirect_pending_drain_np3    a drain while such hops wait, then --resume

Runs under Debian's /usr/bin/python3 (python3-protego).  One ctest per case.
"""
import csv
import json
import os
import random
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_robots  # noqa: E402  (its robots.txt and path generators)
from testlib import Check, cases_main, cases_of  # noqa: E402
from webservers import HostsServer  # noqa: E402

from protego import Protego  # noqa: E402  (Debian: python3-protego)

# The server logs a request when its thread reads the head: beside a CPU hog that can come a
# few scheduler slices late, so a gap may look this much shorter to the server than it was (the
# delays tested are 0.2 s and up: a missing delay, or a Crawl-delay of 0.5 s taken as 0.25 s,
# still shows).
SLACK = 0.05


class Run:
    def __init__(self, a, c, name):
        self.a, self.c, self.name = a, c, name
        self.dir = os.path.join(a.outdir, "polite_" + name)
        os.makedirs(self.dir, exist_ok=True)

    def evfarm(self, np_, urls, args, want_exit=None, timeout=240):
        src = os.path.join(self.dir, "urls.txt")
        with open(src, "w") as f:
            f.write("\n".join(urls) + "\n")
        out = os.path.join(self.dir, "records.csv")
        summ = os.path.join(self.dir, "summary.json")
        for p in (out, summ):
            if os.path.exists(p):
                os.unlink(p)
        cmd = [self.a.mpirun, "-np", str(np_), self.a.evfarm, "--kind", "http", "--urls", src,
               "--output", out, "--json", summ, "--quiet"] + args
        t = time.monotonic()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.c(False, "timed out (a hang): %s" % " ".join(cmd))
            return None, None
        self.wall = time.monotonic() - t
        self.stderr = p.stderr
        if want_exit is not None:
            self.c(p.returncode == want_exit, "exit %d, want %d; stderr:\n%s"
                   % (p.returncode, want_exit, p.stderr[-3000:]))
        if not os.path.exists(out):
            self.c(False, "no records; stderr:\n%s" % p.stderr[-3000:])
            return None, None
        recs = list(csv.DictReader(open(out)))
        for r in recs:
            for k in ("id", "rank", "attempts", "http_status", "curl_code"):
                r[k] = int(r[k])
        return recs, json.load(open(summ))


def requests(srv):
    """{ip: [(time, path), ...]} in the order the server read them."""
    by = {}
    for e in srv.events:
        if e[0] == "req":
            by.setdefault(e[2], []).append((e[1], e[4]))
    return by


def protego_hosts(n, seed):
    """n generated robots.txt files (no Crawl-delay: a test of decisions, not of waiting) and
    12 paths for each."""
    rnd = random.Random(seed)
    hosts = []
    for _ in range(n):
        text = "\n".join(x for x in check_robots.robots_file(rnd).split("\n")
                         if not x.lower().startswith("crawl-delay")) + "\n"
        paths = sorted({check_robots.path_of(rnd) for _ in range(12)} - {"/robots.txt"})
        hosts.append((text, paths))
    return hosts


def robots_protego(c, a, np_):
    gen = protego_hosts(30, 25 + np_)
    special = {  # ip index: (robots.txt answer(s), status of every URL, http_status)
        30: ((404, b"gone\n"), "ok", 200),
        31: ((500, b"oops\n"), "robots_disallowed", 500),
        32: ((429, b"slow\n", b"Retry-After: 0\r\n"), "robots_disallowed", 429),
        33: ((301, b"", b"Location: /moved-robots.txt\r\n"), None, None),
    }
    with HostsServer(34) as srv:
        urls, want = [], {}
        for k, (text, paths) in enumerate(gen):
            ip = srv.ips[k]
            srv.files[(ip, "/robots.txt")] = (200, text.encode())
            rp = Protego.parse(text)
            for path in paths:
                u = srv.url(ip, path)
                urls.append(u)
                want[u] = ("ok" if rp.can_fetch("http://example.com" + path, "evfarm")
                           else "robots_disallowed", None)
        for k, (answer, status, code) in special.items():
            ip = srv.ips[k]
            srv.files[(ip, "/robots.txt")] = answer
            for path in ("/a", "/b/c", "/private/x"):
                u = srv.url(ip, path)
                urls.append(u)
                want[u] = (status, code)
        # The redirect's target: rules of its own.
        moved = srv.ips[33]
        srv.files[(moved, "/moved-robots.txt")] = (200, b"User-agent: *\nDisallow: /private\n")
        for path in ("/a", "/b/c", "/private/x"):
            want[srv.url(moved, path)] = ("robots_disallowed" if path == "/private/x" else "ok",
                                          None)
        # No server on this address: nothing answers robots.txt (connection refused).
        dead = "http://127.0.0.250:%d" % srv.port
        for path in ("/a", "/b"):
            urls.append(dead + path)
            want[dead + path] = ("io_error", 0)
        random.Random(7).shuffle(urls)
        r = Run(a, c, "robots_np%d" % np_)
        recs, s = r.evfarm(np_, urls, ["--retries", "0", "--inflight", "16"], want_exit=1)
    if recs is None:
        return
    c(len(recs) == len(urls), "%d records, want %d" % (len(recs), len(urls)))
    allowed = set()
    for x in recs:
        status, code = want[x["url"]]
        c(x["status"] == status, "%s: %s, want %s" % (x["url"], x["status"], status))
        if code is not None:
            c(x["http_status"] == code, "%s: http_status %d, want %d"
              % (x["url"], x["http_status"], code))
        if status == "io_error":
            c(x["curl_code"] == 7, "%s: curl_code %d, want 7" % (x["url"], x["curl_code"]))
        if x["status"] == "ok":
            allowed.add(x["url"])
    c(sum(1 for v in want.values() if v[0] == "robots_disallowed") > 20,
      "too few disallowed URLs for a test")
    # The servers' view: robots.txt first, once per rank that crawled the host; disallowed
    # paths never requested, allowed ones once.
    by = requests(srv)
    ranks = {}
    for x in recs:
        ranks.setdefault(x["url"].split("/")[2].split(":")[0], set()).add(x["rank"])
    for ip, reqs in sorted(by.items()):
        c(reqs[0][1] == "/robots.txt", "%s: the first request is %s" % (ip, reqs[0][1]))
        n = sum(1 for _, p in reqs if p == "/robots.txt")
        c(n == len(ranks.get(ip, ())), "%s: robots.txt requested %d times by %d ranks"
          % (ip, n, len(ranks.get(ip, ()))))
        for _, path in reqs:
            if path in ("/robots.txt", "/moved-robots.txt"):
                continue
            u = srv.url(ip, path)
            c(u in allowed, "%s: %s was requested (%s)" % (ip, path, want.get(u)))
        got = sorted(p for _, p in reqs if p not in ("/robots.txt", "/moved-robots.txt"))
        c(got == sorted("/" + u.split("/", 3)[3] for u in allowed
                        if u.split("/")[2].split(":")[0] == ip),
          "%s: requests %r" % (ip, got))
    c("127.0.0.250" not in by, "the dead host was answered?")
    c(s["kind"]["hosts"] == 35 * 1 if np_ == 1 else s["kind"]["hosts"] >= 35,
      "summary hosts %r" % s["kind"].get("hosts"))
    c(s["status"]["robots_disallowed"] == sum(1 for x in recs if x["status"] ==
                                              "robots_disallowed"), "summary %r" % s["status"])


def case_robots_protego_np1(c, a):
    robots_protego(c, a, 1)


def case_robots_protego_np2(c, a):
    robots_protego(c, a, 2)


def case_robots_retry(c, a):
    """A robots.txt that answers 503 first: the attempts end robots_disallowed (transient,
    http_status 503); --retries fetches it again and obeys what it then says."""
    with HostsServer(1) as srv:
        ip = srv.ips[0]
        srv.files[(ip, "/robots.txt")] = [(503, b"later\n"),
                                          (200, b"User-agent: *\nDisallow: /private\n")]
        urls = [srv.url(ip, "/public/%d" % k) for k in range(5)] + \
            [srv.url(ip, "/private/%d" % k) for k in range(3)]
        r = Run(a, c, "robots_retry")
        recs, s = r.evfarm(1, urls, ["--retries", "2", "--retry-delay", "0.2"], want_exit=1)
    if recs is None:
        return
    for x in recs:
        private = "/private/" in x["url"]
        c(x["status"] == ("robots_disallowed" if private else "ok") and x["attempts"] == 2,
          "%s: %s after %d attempts" % (x["url"], x["status"], x["attempts"]))
    paths = [p for _, p in requests(srv)[ip]]
    c(paths.count("/robots.txt") == 2 and paths[0] == "/robots.txt" and
      not [p for p in paths if p.startswith("/private")], "requests %r" % paths)
    c(s["kind"]["robots"] == {"fetched": 2, "failed": 1}, "summary %r" % s["kind"])


def case_robots_ignore(c, a):
    """--robots ignore: robots.txt is never requested and what it disallows is fetched."""
    with HostsServer(2) as srv:
        urls = []
        for ip in srv.ips:
            srv.files[(ip, "/robots.txt")] = (200, b"User-agent: *\nDisallow: /\n")
            urls += [srv.url(ip, "/p/%d" % k) for k in range(5)]
        r = Run(a, c, "robots_ignore")
        recs, s = r.evfarm(1, urls, ["--robots", "ignore"], want_exit=0)
    if recs is None:
        return
    c(all(x["status"] == "ok" for x in recs), "statuses %r" % {x["status"] for x in recs})
    paths = [p for v in requests(srv).values() for _, p in v]
    c("/robots.txt" not in paths and len(paths) == 10, "requests %r" % paths)


def case_delay(c, a):
    """--host-delay 0.25 --host-delay-jitter 0.1 and one host whose robots.txt says
    Crawl-delay: 0.5: at np 1 every gap between two request starts to a host (robots.txt
    included) is at least its delay, the jitter spreads the gaps, and hosts go in parallel."""
    with HostsServer(4) as srv:
        urls = []
        srv.files[(srv.ips[3], "/robots.txt")] = (200, b"User-agent: *\nCrawl-delay: 0.5\n")
        for k in range(6):  # interleaved: every host's page k, then k + 1
            urls += [srv.url(ip, "/p/%d" % k) for ip in srv.ips]
        r = Run(a, c, "delay")
        recs, s = r.evfarm(1, urls, ["--host-delay", "0.25", "--host-delay-jitter", "0.1",
                                     "--inflight", "24", "--host-connections", "1",
                                     "--progress", "0.2"], want_exit=0)
    if recs is None:
        return
    by = requests(srv)
    # The politeness bound: the largest (requests - 1) x delay of any host, from the server's
    # log, named in the summary and part of T_lb.
    lb = s["lower_bound"]
    want = max((len(v) - 1) * (0.5 if ip == srv.ips[3] else 0.25) for ip, v in by.items())
    c(abs(lb["politeness_term_s"] - want) < 1e-9 and lb["t_lb_s"] >= want and
      lb["politeness_by"].startswith("http://%s:" % srv.ips[3]),
      "lower bound %r, want a politeness term of %g s by %s" % (lb, want, srv.ips[3]))
    c(s["wall_s"] >= lb["politeness_term_s"], "wall %.3f s under the politeness bound"
      % s["wall_s"])
    # Progress counts hosts: never more than there are, those done never fewer.
    lines = [x for x in r.stderr.splitlines() if x.startswith("evfarm: progress:")]
    seen = []
    for x in lines:
        m = re.search(r"; hosts: (\d+) done, (\d+) in progress$", x)
        c(m is not None, "a progress line without hosts: %r" % x)
        if m:
            seen.append((int(m.group(1)), int(m.group(2))))
    c(len(seen) >= 3 and any(a > 0 for _, a in seen) and
      all(d + a <= 4 for d, a in seen) and [d for d, _ in seen] == sorted(d for d, _ in seen),
      "hosts in the progress lines: %r" % seen)
    gaps = []
    for ip, reqs in sorted(by.items()):
        d = 0.5 if ip == srv.ips[3] else 0.25
        c(len(reqs) == 7 and reqs[0][1] == "/robots.txt", "%s: requests %r" % (ip, reqs))
        g = [b[0] - a_[0] for a_, b in zip(reqs, reqs[1:])]
        c(min(g) >= d - SLACK, "%s: gaps %s, want each >= %g" % (ip, ["%.3f" % x for x in g], d))
        if d == 0.25:
            gaps += g
    c(max(gaps) - min(gaps) > 0.03, "the jitter spread no gap: %s" % ["%.3f" % x for x in gaps])
    # The hosts went in parallel: the whole crawl took about the slowest host's 6 gaps.
    starts = [t for v in by.values() for t, _ in v]
    c(max(starts) - min(starts) < 6 * 0.5 + 2.0, "the requests took %.2f s: hosts one at a time?"
      % (max(starts) - min(starts)))
    c(s["kind"]["hosts"] == 4 and s["kind"]["robots"]["fetched"] == 4, "summary %r" % s["kind"])


def case_connections(c, a):
    """--host-connections 2 with 20 slow pages of one host in flight at once: the server never
    sees more than 2 connections open at a time (and sees 2: the limit is what binds)."""
    with HostsServer(1) as srv:
        ip = srv.ips[0]
        urls = [srv.url(ip, "/delay/100/%d" % k) for k in range(20)]
        r = Run(a, c, "connections")
        recs, s = r.evfarm(1, urls, ["--host-connections", "2", "--inflight", "20"],
                           want_exit=0)
    if recs is None:
        return
    open_, most = 0, 0
    for e in srv.events:
        if e[0] == "open":
            open_ += 1
            most = max(most, open_)
        elif e[0] == "close":
            open_ -= 1
    c(most == 2, "at most %d connections open at once, want 2" % most)
    c(all(x["status"] == "ok" for x in recs), "statuses %r" % {x["status"] for x in recs})


def host_of(url):
    return url.split("/")[2].split(":")[0]


def affine(c, a, np_, args, name, warc=False):
    """40 hosts, one with a third of the URLs, --host-connections 2 for the whole job and pages
    that take 30 ms: each host's URLs are all fetched by one rank, the server never sees more
    than 2 connections to a host open at once, robots.txt is each host's first request and is
    fetched once, every id once.  Returns (records, server requests by ip) or None."""
    rnd = random.Random(11)
    with HostsServer(40) as srv:
        urls = [srv.url(srv.ips[0], "/delay/30/big/%d" % k) for k in range(60)]
        for ip in srv.ips[1:]:
            urls += [srv.url(ip, "/delay/30/%d" % k) for k in range(rnd.randint(1, 5))]
        rnd.shuffle(urls)
        r = Run(a, c, name)
        extra = ["--warc", os.path.join(r.dir, "warc")] if warc else []
        if warc:
            os.makedirs(extra[1], exist_ok=True)
            for f in os.listdir(extra[1]):
                os.unlink(os.path.join(extra[1], f))
        recs, s = r.evfarm(np_, urls, ["--host-connections", "2", "--inflight", "24"] + args +
                           extra, want_exit=0)
        events = list(srv.events)
    if recs is None:
        return None
    c([x["id"] for x in recs] == list(range(1, len(urls) + 1)) and
      [x["url"] for x in recs] == urls, "records are not the URLs in id order")
    c(all(x["status"] == "ok" for x in recs), "statuses %r" % {x["status"] for x in recs})
    ranks = {}
    for x in recs:
        ranks.setdefault(host_of(x["url"]), set()).add(x["rank"])
    split = {h: v for h, v in ranks.items() if len(v) > 1}
    c(not split, "hosts fetched by more than one rank: %r" % split)
    c(len({x["rank"] for x in recs}) == np_, "not every rank fetched: %r"
      % sorted({x["rank"] for x in recs}))
    open_, most = {}, {}
    for e in events:
        if e[0] in ("open", "close"):
            open_[e[2]] = open_.get(e[2], 0) + (1 if e[0] == "open" else -1)
            most[e[2]] = max(most.get(e[2], 0), open_[e[2]])
    c(max(most.values()) <= 2, "connections open at once to a host: %r"
      % {k: v for k, v in most.items() if v > 2})
    c(most[srv.ips[0]] == 2, "the big host had at most %d connections: the limit never bound"
      % most[srv.ips[0]])
    by = {}
    for e in events:
        if e[0] == "req":
            by.setdefault(e[2], []).append(e[4])
    for ip, paths in by.items():
        c(paths[0] == "/robots.txt" and paths.count("/robots.txt") == 1,
          "%s: robots.txt at %r of %d requests" % (ip, [k for k, p in enumerate(paths)
                                                        if p == "/robots.txt"], len(paths)))
    c(s["kind"]["hosts"] == 40 and s["kind"]["robots"]["fetched"] == 40,
      "summary %r" % s["kind"])
    return recs, r


def case_affine_static_np3(c, a):
    affine(c, a, 3, ["--schedule", "static"], "affine_static")


def case_affine_dynamic_np3(c, a):
    affine(c, a, 3, ["--schedule", "dynamic"], "affine_dynamic")


def case_affine_windows_np3(c, a):
    """Windows of 37 ids (several: hosts keep one rank for the whole job) and batches of 5."""
    affine(c, a, 3, ["--window", "37", "--batch-size", "5"], "affine_windows")


def case_same_np123(c, a):
    """np 1, 2 and 3 give the same records (but for rank and times) and, with --warc, keep
    the same responses (by URL and payload digest): robots.txt once per host whatever np."""
    import check_warc  # noqa: E402  (its WARC reader)
    sets, rows = [], []
    for np_ in (1, 2, 3):
        got = affine(c, a, np_, [], "same_np%d" % np_, warc=True)
        if got is None:
            return
        recs, r = got
        rows.append([(x["id"], x["url"].split("/", 3)[3], x["status"], x["http_status"],
                      x["bytes"], x["hash"]) for x in recs])
        d = os.path.join(r.dir, "warc")
        kept = []
        for f in sorted(os.listdir(d)):
            for q in check_warc.read_warc(c, os.path.join(d, f)):
                if q.h["warc-type"] == "response":
                    u = q.h["warc-target-uri"]
                    kept.append((host_of(u), u.split("/", 3)[3], q.h["warc-payload-digest"]))
        sets.append(sorted(kept))
        c(sum(1 for k in kept if k[1] == "robots.txt") == 40,
          "np %d: %d robots.txt kept" % (np_, sum(1 for k in kept if k[1] == "robots.txt")))
    c(rows[0] == rows[1] == rows[2], "the records differ between np 1, 2, 3")
    c(sets[0] == sets[1] == sets[2], "the responses kept differ between np 1, 2, 3")


def case_delay_np3(c, a):
    """--host-delay 0.2 at np 3 with 6 hosts of 5 pages: every gap between two requests to a
    host, from the whole job, at least 0.2 s."""
    with HostsServer(6) as srv:
        urls = []
        for k in range(5):
            urls += [srv.url(ip, "/p/%d" % k) for ip in srv.ips]
        r = Run(a, c, "delay_np3")
        recs, s = r.evfarm(3, urls, ["--host-delay", "0.2"], want_exit=0)
    if recs is None:
        return
    c(len({x["rank"] for x in recs}) == 3, "not every rank fetched")
    for ip, reqs in sorted(requests(srv).items()):
        g = [b[0] - a_[0] for a_, b in zip(reqs, reqs[1:])]
        c(len(reqs) == 6 and min(g) >= 0.2 - SLACK, "%s: %d requests, gaps %s"
          % (ip, len(reqs), ["%.3f" % x for x in g]))


def case_redirect_ports_np3(c, a):
    """Two origins of one host name (two ports): at np 3 with --host-delay 0.2, 6 names, each
    with 3 URLs on port P that redirect to port Q of the same name and 3 URLs on Q itself.
    Dealt by name, both origins of a name run on one rank, so the hops to Q are spaced with
    Q's own requests: every gap between two requests to an origin, from the whole job, is at
    least 0.2 s."""
    with HostsServer(6) as p_srv, HostsServer(6) as q_srv:
        urls = []
        for ip in p_srv.ips:
            for k in range(3):
                p_srv.files[(ip, "/r/%d" % k)] = (301, b"moved\n", b"Location: %s\r\n"
                                                  % q_srv.url(ip, "/page/%d" % k).encode())
            urls += [p_srv.url(ip, "/r/%d" % k) for k in range(3)]
            urls += [q_srv.url(ip, "/direct/%d" % k) for k in range(3)]
        r = Run(a, c, "redirect_ports_np3")
        recs, s = r.evfarm(3, urls, ["--host-delay", "0.2"], want_exit=0)
    if recs is None:
        return
    c(len({x["rank"] for x in recs}) == 3, "not every rank fetched")
    c(all(x["status"] == "ok" and int(x["redirects"]) == ("/r/" in x["url"]) for x in recs),
      "statuses %r" % sorted({(x["status"], x["redirects"]) for x in recs}))
    for name, srv, want in (("P", p_srv, 4), ("Q", q_srv, 7)):
        for ip, reqs in sorted(requests(srv).items()):
            g = [b[0] - a_[0] for a_, b in zip(reqs, reqs[1:])]
            c(len(reqs) == want and min(g) >= 0.2 - SLACK, "%s:%s: %d requests, gaps %s"
              % (ip, name, len(reqs), ["%.3f" % x for x in g]))


def redirect_ranks(c, a, np_, args, name):
    """Six listed hosts and one only redirects reach (U), at np_ ranks with --host-delay 0.3:
    each host's pages, redirects to three other hosts (most of them owned by another rank), one
    to U and one to a path the target's robots.txt disallows.  Each hop to another rank's host
    waits for its turn there: robots.txt is every host's first request and comes once; every
    gap between two requests to a host, from the whole job, is at least 0.3 s; the owner counts
    the other ranks' requests (the politeness bound: 12 requests of a host, 11 x 0.3 s); U,
    which no rank owned, is spaced and read once too; no disallowed path is requested."""
    with HostsServer(7) as srv:
        H, U = srv.ips[:6], srv.ips[6]
        moved = lambda ip, path: (301, b"moved\n", b"Location: %s\r\n" % srv.url(ip, path).encode())
        urls = []
        for i, ip in enumerate(H):
            srv.files[(ip, "/robots.txt")] = (200, b"User-agent: *\nDisallow: /private\n")
            for k in range(3):
                srv.files[(ip, "/r/%d" % k)] = moved(H[(i + k + 1) % 6], "/hop/%d/%d" % (i, k))
            srv.files[(ip, "/u")] = moved(U, "/from/%d" % i)
            srv.files[(ip, "/x")] = moved(H[(i + 3) % 6], "/private/%d" % i)
            urls += [srv.url(ip, p) for p in ("/p/0", "/p/1", "/p/2", "/r/0", "/r/1", "/r/2",
                                               "/u", "/x")]
        srv.files[(U, "/robots.txt")] = (200, b"User-agent: *\nDisallow: /from/5\n")
        random.Random(5).shuffle(urls)
        r = Run(a, c, name)
        recs, s = r.evfarm(np_, urls, ["--host-delay", "0.3", "--inflight", "16"] + args,
                           want_exit=1)
        events = list(srv.events)
    if recs is None:
        return
    path = lambda x: "/" + x["url"].split("/", 3)[3]
    owner = {host_of(x["url"]): x["rank"] for x in recs if path(x).startswith("/p/")}
    bad = []
    for x in recs:
        p, i = path(x), H.index(host_of(x["url"]))
        want = ("ok", 0, 200)
        if p.startswith("/r/"):
            want = ("ok", 1, 200)
            body = srv.body(H[(i + int(p[3]) + 1) % 6], "/hop/%d/%s" % (i, p[3]))
            if int(x["bytes"]) != len(body):
                bad.append((p, "bytes", x["bytes"]))
        elif p == "/u":
            want = ("robots_disallowed", 1, 0) if i == 5 else ("ok", 1, 200)
        elif p == "/x":
            want = ("robots_disallowed", 1, 0)
        got = (x["status"], int(x["redirects"]), x["http_status"])
        if got != want:
            bad.append((x["url"], got, want))
    c(not bad, "records: %r" % bad)
    crossed = sum(1 for x in recs if path(x).startswith("/r/") and
                  owner[H[(H.index(host_of(x["url"])) + int(path(x)[3]) + 1) % 6]] != x["rank"])
    c(crossed >= 3 and len(set(owner.values())) == np_,
      "%d redirects to another rank's host (owners %r): the case is not tested" % (crossed, owner))
    reqs = [e for e in events if e[0] == "req"]
    for ip in srv.ips:
        mine = [e for e in reqs if e[2] == ip]
        paths = [e[4] for e in mine]
        want = 6 if ip == U else 12
        c(len(paths) == want and paths[0] == "/robots.txt" and paths.count("/robots.txt") == 1
          and not any(q.startswith("/private") or q == "/from/5" for q in paths),
          "%s: %d requests (want %d), robots.txt at %r, %r" % (
              ip, len(paths), want, [k for k, q in enumerate(paths) if q == "/robots.txt"], paths))
        g = [y[1] - x[1] for x, y in zip(mine, mine[1:])]
        c(g and min(g) >= 0.3 - SLACK, "%s: gaps %s, want each >= 0.3"
          % (ip, ["%.3f" % x for x in g]))
    lb = s["lower_bound"]
    c(abs(lb["politeness_term_s"] - 3.3) < 1e-6, "lower bound %r, want 11 x 0.3 s (a host's 12 "
      "requests, the other ranks' hops counted where it is owned)" % lb)
    c(s["kind"]["hosts"] == 7 and s["kind"]["robots"]["fetched"] == 7, "summary %r" % s["kind"])


def case_redirect_ranks_np3(c, a):
    redirect_ranks(c, a, 3, ["--schedule", "static"], "redirect_ranks_np3")


def case_redirect_ranks_dynamic_np3(c, a):
    redirect_ranks(c, a, 3, ["--schedule", "dynamic", "--batch-size", "8"],
                   "redirect_ranks_dynamic_np3")


def case_redirect_connections_np3(c, a):
    """--host-connections 1 with pages that take 0.3 s, no delay, at np 3: six hosts, each with
    two pages and two redirects to other hosts (most of them another rank's).  A hop to another
    rank's host takes that host's connection there, so no two requests to a host are in flight
    at once from the whole job: consecutive request starts at least 0.3 s apart."""
    with HostsServer(6) as srv:
        H = srv.ips
        urls = []
        for i, ip in enumerate(H):
            for k in range(2):
                srv.files[(ip, "/r/%d" % k)] = (301, b"moved\n", b"Location: %s\r\n" % srv.url(
                    H[(i + k + 1) % 6], "/delay/300/hop/%d/%d" % (i, k)).encode())
            urls += [srv.url(ip, p) for p in ("/delay/300/p/0", "/delay/300/p/1", "/r/0", "/r/1")]
        r = Run(a, c, "redirect_connections_np3")
        recs, s = r.evfarm(3, urls, ["--host-connections", "1", "--inflight", "16",
                                     "--robots", "ignore"], want_exit=0)
        events = list(srv.events)
    if recs is None:
        return
    c(all(x["status"] == "ok" for x in recs), "statuses %r" % {x["status"] for x in recs})
    c(len({x["rank"] for x in recs}) == 3, "not every rank fetched")
    for ip in H:
        t = [e[1] for e in events if e[0] == "req" and e[2] == ip and e[4].startswith("/delay/")]
        g = [y - x for x, y in zip(t, t[1:])]
        c(len(t) == 4 and min(g) >= 0.3 - SLACK, "%s: %d requests, gaps %s: two in flight at once"
          % (ip, len(t), ["%.3f" % x for x in g]))


def case_redirect_pending_dynamic_np3(c, a):
    """--schedule dynamic at np 3, 30 hosts of one batch each (--batch-size 3), --inflight 2,
    --host-connections 1, pages that take 0.2 s: each host's first page redirects to a host
    15 batches on, still in the pool when the hop asks for its turn.  Rank 0 holds the turn
    until that batch is dealt, and a rank whose tasks in flight all wait so asks for batches,
    so the run ends (it hung: every slot waiting, no rank asking); every record ok, each host
    saw robots.txt first and once, its own three pages and the hop, never two at once."""
    n = 30
    with HostsServer(n) as srv:
        H = srv.ips
        urls = []
        for i, ip in enumerate(H):
            srv.files[(ip, "/r")] = (301, b"moved\n", b"Location: %s\r\n" % srv.url(
                H[(i + n // 2) % n], "/delay/200/hop/%d" % i).encode())
            urls += [srv.url(ip, p) for p in ("/r", "/delay/200/p/0", "/delay/200/p/1")]
        r = Run(a, c, "redirect_pending_dynamic_np3")
        recs, s = r.evfarm(3, urls, ["--schedule", "dynamic", "--batch-size", "3", "--inflight",
                                     "2", "--host-connections", "1"], want_exit=0, timeout=120)
        events = list(srv.events)
    if recs is None:
        return
    c(all(x["status"] == "ok" for x in recs) and
      sum(int(x["redirects"]) for x in recs) == n, "statuses %r, %d redirects"
      % ({x["status"] for x in recs}, sum(int(x["redirects"]) for x in recs)))
    for ip in H:
        mine = [e for e in events if e[0] == "req" and e[2] == ip]
        paths = [e[4] for e in mine]
        t = [e[1] for e in mine if e[4].startswith("/delay/")]
        g = [y - x for x, y in zip(t, t[1:])]
        c(len(paths) == 5 and paths[0] == "/robots.txt" and paths.count("/robots.txt") == 1 and
          min(g) >= 0.2 - SLACK, "%s: %r, gaps %s" % (ip, paths, ["%.3f" % x for x in g]))


def case_redirect_pending_drain_np3(c, a):
    """The layout of redirect_pending_dynamic_np3 with a page that fails (404) and --max-fails 1
    --journal: the drain comes while hops wait for hosts still in the pool.  Dealing stops, so
    rank 0 drops those turns: the hops wait out --grace 1 and end not run, the run ends (exit 4:
    it hung, every rank waiting for an end that needed the pool dealt), and --resume fetches
    the rest: every id once, every page but the failing one ok."""
    n = 30
    with HostsServer(n) as srv:
        H = srv.ips
        urls = [srv.url(H[0], "/bad")]
        srv.files[(H[0], "/bad")] = (404, b"gone\n")
        for i, ip in enumerate(H):
            srv.files[(ip, "/r")] = (301, b"moved\n", b"Location: %s\r\n" % srv.url(
                H[(i + n // 2) % n], "/delay/200/hop/%d" % i).encode())
            urls += [srv.url(ip, p) for p in ("/r", "/delay/200/p/0", "/delay/200/p/1")]
        r = Run(a, c, "redirect_pending_drain_np3")
        jdir = os.path.join(r.dir, "journal")
        subprocess.run(["rm", "-rf", jdir])
        args = ["--schedule", "dynamic", "--batch-size", "3", "--inflight", "2",
                "--host-connections", "1", "--journal", jdir, "--grace", "1"]
        recs, s = r.evfarm(3, urls, args + ["--max-fails", "1"], want_exit=4, timeout=120)
        if recs is None:
            return
        c(len(recs) < len(urls), "the drain left nothing to resume (%d records)" % len(recs))
        recs, s = r.evfarm(3, urls, args + ["--resume"], want_exit=1, timeout=120)
    if recs is None:
        return
    c([x["id"] for x in recs] == list(range(1, len(urls) + 1)), "ids %r" % [x["id"] for x in recs])
    c(all((x["status"] == "http_error") == x["url"].endswith("/bad") for x in recs),
      "statuses %r" % sorted({(x["status"], x["url"].split("/", 3)[3]) for x in recs}))


def case_redirect_no_robots_np3(c, a):
    """Hops to hosts whose robots.txt cannot be read, owned by another rank, at np 3 with
    --retries 0: F answers robots.txt with 500, D does not answer (no server).  Six hosts each
    redirect twice to F and once to D.  Each hop ends as the owner's own tasks do, with what
    the owner's one robots.txt fetch said (RFC 9309: a 5xx disallows everything; no answer is
    a failed request): robots_disallowed with http_status 500, io_error with curl_code 7.  F
    sees robots.txt once and nothing else: a failed robots.txt is fetched again only by a
    retry of a task it refused, not by every other rank's hop."""
    with HostsServer(7) as srv:
        H, F = srv.ips[:6], srv.ips[6]
        D = "http://127.0.0.250:%d" % srv.port  # nothing listens on this address
        moved = lambda url: (301, b"moved\n", b"Location: %s\r\n" % url.encode())
        srv.files[(F, "/robots.txt")] = (500, b"oops\n")
        urls = [srv.url(F, "/own/0"), srv.url(F, "/own/1"), D + "/own"]
        for i, ip in enumerate(H):
            for k in range(2):
                srv.files[(ip, "/f/%d" % k)] = moved(srv.url(F, "/page/%d/%d" % (i, k)))
            srv.files[(ip, "/d")] = moved(D + "/page/%d" % i)
            urls += [srv.url(ip, p) for p in ("/p/0", "/p/1", "/f/0", "/f/1", "/d")]
        random.Random(3).shuffle(urls)
        r = Run(a, c, "redirect_no_robots_np3")
        recs, s = r.evfarm(3, urls, ["--retries", "0", "--inflight", "16"], want_exit=1)
        events = list(srv.events)
    if recs is None:
        return
    bad = []
    for x in recs:
        p = "/" + x["url"].split("/", 3)[3]
        want = {"/f/0": ("robots_disallowed", 1, 500, 0), "/f/1": ("robots_disallowed", 1, 500, 0),
                "/d": ("io_error", 1, 0, 7)}.get(p, ("ok", 0, 200, 0))
        if p.startswith("/own"):
            want = ("io_error", 0, 0, 7) if x["url"].startswith(D) else ("robots_disallowed", 0,
                                                                          500, 0)
        got = (x["status"], int(x["redirects"]), x["http_status"], x["curl_code"])
        if got != want:
            bad.append((x["url"], got, want))
    c(not bad, "records: %r" % bad)
    owner = {host_of(x["url"]): x["rank"] for x in recs if "/own" in x["url"]}
    crossed = [x["rank"] for x in recs if x["url"].endswith(("/f/0", "/f/1", "/d")) and
               x["rank"] != owner[F if "/f/" in x["url"] else "127.0.0.250"]]
    c(len(crossed) >= 6, "%d hops to another rank's host (owners %r): the case is not tested"
      % (len(crossed), owner))
    paths = [e[4] for e in events if e[0] == "req" and e[2] == F]
    c(paths == ["/robots.txt"], "%s: requests %r, want robots.txt once and nothing else"
      % (F, paths))
    c(s["kind"]["robots"] == {"fetched": 8, "failed": 2}, "summary %r" % s["kind"])


def case_redirect_robots_retry_np3(c, a):
    """A robots.txt that answers 503, then rules (Disallow: /private), at origin F:P of a host
    name dealt to one rank (its own URL is at another port, Q), reached by redirects from six
    hosts at np 3 with --retries 1 --retry-delay 0.3.  A first run learns the (deterministic)
    plan; in the second, the owner's own hops come 1.5 s late, so the other ranks' retries are
    the first to need robots.txt again: each such retry has the owner fetch it again (which
    fetch refused it travels with the turn), and every hop obeys the rules: /page hops ok,
    /private hops robots_disallowed with http_status 0; F:P sees robots.txt twice, first, and
    no private path."""
    with HostsServer(7) as srv, HostsServer(7) as q_srv:
        H, F = srv.ips[:6], srv.ips[6]
        urls = [q_srv.url(F, "/own")]
        for i, ip in enumerate(H):
            urls += [srv.url(ip, p) for p in ("/p/0", "/f/0", "/f/1")]
        r = Run(a, c, "redirect_robots_retry_np3")
        args = ["--schedule", "static", "--retries", "1", "--retry-delay", "0.3",
                "--inflight", "16"]
        recs, _ = r.evfarm(3, urls, args, want_exit=0)
        if recs is None:
            return
        rank = {host_of(x["url"]): x["rank"] for x in recs}
        late = [ip for ip in H if rank[ip] == rank[F]]
        c(len(late) < 6, "every host on F's owner (%r): the case is not tested" % rank)
        srv.files[(F, "/robots.txt")] = [(503, b"later\n"),
                                         (200, b"User-agent: *\nDisallow: /private\n")]
        for i, ip in enumerate(H):
            for k, path in enumerate(("/page/%d" % i, "/private/%d" % i)):
                srv.files[(ip, "/f/%d" % k)] = (301, b"moved\n", b"Location: %s\r\n"
                                                % srv.url(F, path).encode(),
                                                1.5 if ip in late else 0)
        start = len(srv.events)
        recs, s = r.evfarm(3, urls, args, want_exit=1)
        events = srv.events[start:]
    if recs is None:
        return
    bad = []
    for x in recs:
        want = {"/f/0": ("ok", 1, 200), "/f/1": ("robots_disallowed", 1, 0)}.get(
            x["url"][-4:], ("ok", 0, 200))
        got = (x["status"], int(x["redirects"]), x["http_status"])
        if got != want:
            bad.append((x["url"], got, want))
    c(not bad, "records: %r" % bad)
    paths = [e[4] for e in events if e[0] == "req" and e[2] == F]
    c(paths[:1] == ["/robots.txt"] and paths.count("/robots.txt") == 2 and
      sorted(p for p in paths if p != "/robots.txt") == sorted("/page/%d" % i for i in range(6)),
      "%s: requests %r" % (F, paths))


def case_skewed(c, a):
    """One host with half the URLs (40), 40 hosts with one, --host-delay 0.05 at np 3: the big
    host's 41 requests (robots.txt and its pages) take 40 gaps of 0.05 s; every other host is
    done while it still runs (the other ranks are not held by it), and the wall is printed
    against that bound."""
    with HostsServer(41) as srv:
        urls = [srv.url(srv.ips[0], "/big/%d" % k) for k in range(40)]
        urls += [srv.url(ip, "/one") for ip in srv.ips[1:]]
        random.Random(3).shuffle(urls)
        r = Run(a, c, "skewed")
        recs, s = r.evfarm(3, urls, ["--host-delay", "0.05"], want_exit=0)
    if recs is None:
        return
    big = [x for x in recs if host_of(x["url"]) == srv.ips[0]]
    small = [x for x in recs if host_of(x["url"]) != srv.ips[0]]
    end_big = max(float(x["t_end"]) for x in big)
    end_small = max(float(x["t_end"]) for x in small)
    c(end_small < end_big - 0.5, "the small hosts ended at %.2f s, the big one at %.2f s"
      % (end_small, end_big))
    c(len({x["rank"] for x in big}) == 1, "the big host on ranks %r"
      % sorted({x["rank"] for x in big}))
    bound = 40 * 0.05
    lb = s["lower_bound"]
    c(abs(lb["politeness_term_s"] - bound) < 1e-9 and lb["t_lb_s"] == lb["politeness_term_s"],
      "lower bound %r, want the politeness term %g s" % (lb, bound))
    print("skewed: wall %.3f s, politeness bound %.3f s (%.1f%%)"
          % (s["wall_s"], bound, 100 * bound / s["wall_s"]))


def case_resume_np3(c, a):
    """A journaled run at np 3 whose one host's robots.txt answers 503 (its pages end
    robots_disallowed), then --resume --retry-failed at np 2 once it answers: the resumed plan
    holds only those ids, still one rank per host; every id ends ok once, each page requested
    once over both runs."""
    with HostsServer(10) as srv:
        urls = []
        for k in range(6):
            urls += [srv.url(ip, "/p/%d" % k) for ip in srv.ips]
        sick = srv.ips[0]
        srv.files[(sick, "/robots.txt")] = (503, b"later\n")
        r = Run(a, c, "resume")
        jdir = os.path.join(r.dir, "journal")
        if os.path.exists(jdir):
            subprocess.run(["rm", "-rf", jdir])
        recs, s = r.evfarm(3, urls, ["--journal", jdir, "--host-delay", "0.01"], want_exit=1)
        if recs is None:
            return
        c(sorted(x["url"] for x in recs if x["status"] != "ok") ==
          sorted(u for u in urls if host_of(u) == sick), "the first run's failures: %r"
          % sorted((x["url"], x["status"]) for x in recs if x["status"] != "ok"))
        srv.files[(sick, "/robots.txt")] = (200, b"User-agent: *\nAllow: /\n")
        recs, s = r.evfarm(2, urls, ["--journal", jdir, "--resume", "--retry-failed",
                                     "--host-delay", "0.01"], want_exit=0)
        events = list(srv.events)
    if recs is None:
        return
    c([x["id"] for x in recs] == list(range(1, len(urls) + 1)) and
      all(x["status"] == "ok" for x in recs), "records after the resume: %r"
      % [(x["id"], x["status"]) for x in recs if x["status"] != "ok"][:5])
    again = [x for x in recs if host_of(x["url"]) == sick]
    c(len({x["rank"] for x in again}) == 1, "the resumed host on ranks %r"
      % sorted({x["rank"] for x in again}))
    pages = [(e[2], e[4]) for e in events if e[0] == "req" and e[4] != "/robots.txt"]
    c(sorted(pages) == sorted((host_of(u), "/" + u.split("/", 3)[3]) for u in urls),
      "pages requested over both runs: %d for %d URLs" % (len(pages), len(urls)))


def case_every_host_at_once(c, a):
    """--host-delay 2 over 300 hosts at np 2 with the default --inflight (100): a polite crawl
    gets a slot per host (and one for the page waiting for its turn), so every host's
    robots.txt goes out before any host's first page (due 2 s after it) instead of hosts
    waiting for slots held by pages that wait for their turn."""
    with HostsServer(300) as srv:
        urls = [srv.url(ip, "/p/%d" % k) for k in range(2) for ip in srv.ips]
        r = Run(a, c, "every_host_at_once")
        recs, s = r.evfarm(2, urls, ["--host-delay", "2"], want_exit=0, timeout=300)
    if recs is None:
        return
    by = requests(srv)
    c(len(by) == 300 and all(len(v) == 3 and v[0][1] == "/robots.txt" for v in by.values()),
      "requests per host: %r" % sorted({len(v) for v in by.values()}))
    last_robots = max(v[0][0] for v in by.values())
    first_page = min(v[1][0] for v in by.values())
    c(last_robots < first_page, "a robots.txt went out %.2f s after the first page"
      % (last_robots - first_page))


def case_redirects(c, a):
    """Host A redirects to B (another origin) and to itself; B's robots.txt disallows /private
    and asks for Crawl-delay: 3; a chain bounces between A and C past --max-redirs 3.  At np 1
    with --host-delay 0.5 and --timeout 1: robots.txt is each host's first request (B's and
    C's only reached by redirects); a hop B's rules refuse ends robots_disallowed and is never
    requested; every gap between two requests to a host, hops included, is at least its
    delay, so a hop to B waits about 3 s for its turn, which the 1 s deadline and t_total must
    not count (t_total does count an earlier hop's 0.4 s); B's requests set the politeness
    bound; the chain ends error (curl's 47, too many redirects) without its fourth hop;
    Authorization goes to A only, other --header lines everywhere; with --warc each task's
    hops are kept in order and its record points at the last response."""
    with HostsServer(3) as srv:
        A, B, C = srv.ips
        srv.files[(B, "/robots.txt")] = (200, b"User-agent: *\nDisallow: /private\n"
                                             b"Crawl-delay: 3\n")
        moved = lambda ip, path, code=301: (code, b"moved\n", b"Location: %s\r\n"
                                            % (srv.url(ip, path) if ip else path).encode())
        for k in range(2):
            srv.files[(A, "/r/%d" % k)] = moved(B, "/page/%d" % k)
        srv.files[(A, "/r/1")] += (0.4,)  # its first hop takes 0.4 s
        srv.files[(A, "/same")] = moved(None, "/same-target", 302)
        srv.files[(A, "/priv")] = moved(B, "/private/x")
        for k in range(4):
            srv.files[((A, C)[k % 2], "/loop/%d" % k)] = moved((C, A)[k % 2], "/loop/%d" % (k + 1))
        urls = [srv.url(A, p) for p in ("/r/0", "/r/1", "/same", "/priv", "/loop/0")]
        r = Run(a, c, "redirects")
        wdir = os.path.join(r.dir, "warc")
        subprocess.run(["rm", "-rf", wdir])
        os.makedirs(wdir)
        recs, s = r.evfarm(1, urls, ["--host-delay", "0.5", "--timeout", "1", "--retries", "0",
                                     "--max-redirs", "3", "--warc", wdir,
                                     "--header", "Authorization: Bearer s3cret",
                                     "--header", "X-Evf: yes"], want_exit=1, timeout=120)
        events = list(srv.events)
    if recs is None:
        return
    by = {x["url"].split("/", 3)[3]: x for x in recs}
    want = {"r/0": ("ok", 1, 200), "r/1": ("ok", 1, 200), "same": ("ok", 1, 200),
            "priv": ("robots_disallowed", 1, 0), "loop/0": ("error", 3, 301)}
    for k, (status, redirs, code) in want.items():
        x = by[k]
        c((x["status"], int(x["redirects"]), x["http_status"]) == (status, redirs, code),
          "%s: %s, %s redirects, http_status %d; want %s, %d, %d" % (
              k, x["status"], x["redirects"], x["http_status"], status, redirs, code))
    c(by["loop/0"]["curl_code"] == 47, "loop/0: curl_code %d, want 47 (too many redirects)"
      % by["loop/0"]["curl_code"])
    for k in ("r/0", "r/1"):
        body = srv.body(B, "/page/" + k[2:])
        c(int(by[k]["bytes"]) == len(body), "%s: %s bytes, want %d (B's page)"
          % (k, by[k]["bytes"], len(body)))
    reqs = [e for e in events if e[0] == "req"]
    paths = {ip: [e[4] for e in reqs if e[2] == ip] for ip in srv.ips}
    c(paths[A] == ["/robots.txt", "/r/0", "/r/1", "/same", "/same-target", "/priv", "/loop/0",
                   "/loop/2"] and paths[B] == ["/robots.txt", "/page/0", "/page/1"] and
      paths[C] == ["/robots.txt", "/loop/1", "/loop/3"],
      "requests %r" % paths)
    for ip, delay in ((A, 0.5), (B, 3), (C, 0.5)):
        t = [e[1] for e in reqs if e[2] == ip]
        g = [y - x for x, y in zip(t, t[1:])]
        c(g and min(g) >= delay - SLACK, "%s: gaps %s, want each >= %g"
          % (ip, ["%.3f" % x for x in g], delay))
    # The hop to B waited for its turn far longer than the deadline, and its time on the wire
    # counts its two requests, not the wait.
    t_req = {(e[2], e[4]): e[1] for e in reqs}
    waited = t_req[(B, "/page/0")] - t_req[(A, "/r/0")]
    c(waited > 2, "the hop to B waited %.2f s, want about 3 (its Crawl-delay)" % waited)
    c(float(by["r/0"]["t_total"]) < 1, "r/0: t_total %s s counts the wait" % by["r/0"]["t_total"])
    waited = t_req[(B, "/page/1")] - t_req[(A, "/r/1")]
    c(waited > 2 and 0.4 <= float(by["r/1"]["t_total"]) < 1,
      "r/1: t_total %s s, want its two hops (the first 0.4 s) without its %.2f s wait"
      % (by["r/1"]["t_total"], waited))
    lb = s["lower_bound"]
    c(abs(lb["politeness_term_s"] - 6) < 1e-9 and lb["politeness_by"].startswith("http://%s:" % B),
      "lower bound %r, want 2 x 3 s by %s" % (lb, B))
    c(s["kind"]["hosts"] == 3 and s["kind"]["robots"]["fetched"] == 3, "summary %r" % s["kind"])
    for e in reqs:
        head = e[5].lower()
        c(b"x-evf: yes" in head, "%s %s: without X-Evf" % (e[2], e[4]))
        c((b"authorization: bearer s3cret" in head) == (e[2] == A),
          "%s %s: Authorization %s" % (e[2], e[4], "sent" if e[2] != A else "missing"))
    import check_warc  # noqa: E402  (its WARC reader)
    resp = [(f, q) for f in sorted(os.listdir(wdir))
            for q in check_warc.read_warc(c, os.path.join(wdir, f))
            if q.h["warc-type"] == "response" and not q.h["warc-target-uri"].endswith("robots.txt")]
    uris = ["/".join(q.h["warc-target-uri"].split("/")[2:]) for _, q in resp]
    for k, hops in (("r/0", [(A, "r/0"), (B, "page/0")]),
                    ("same", [(A, "same"), (A, "same-target")])):
        want_uris = ["%s:%d/%s" % (ip, srv.port, p) for ip, p in hops]
        at = [i for i in range(len(uris)) if uris[i:i + 2] == want_uris]
        c(len(at) == 1, "%s: its hops %r not kept once in order in %r" % (k, want_uris, uris))
        if at:
            f, last = resp[at[0] + 1]
            x = by[k]
            c((x["warc_file"], int(x["warc_offset"]), int(x["warc_length"])) ==
              (f, last.offset, last.length),
              "%s: %s@%s+%s; its last response is %s@%d+%d" % (
                  k, x["warc_file"], x["warc_offset"], x["warc_length"], f, last.offset,
                  last.length))


def run(a, fn):
    c = Check("check_polite " + fn.__name__[5:])
    fn(c, a)
    return c.done()


if __name__ == "__main__":
    sys.exit(cases_main(cases_of(globals()), ["--mpirun", "--evfarm", "--outdir"], run))
