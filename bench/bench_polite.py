#!/usr/bin/python3
"""A polite crawl of many hosts: prints figures, asserts nothing.

  bench/bench_polite.py [--hosts 10000] [--pages 10] [--delays 0.1,1] [--np 2] [--runs 3]
                        [--build build] [--old OLD_EVFARM] [--only polite,off,wget,redirects]

Runs in a network namespace of its own (unshare -n, as root): its loopback is the only
interface, nginx listens on every address of it, and host k is 127.1.(k/256).(k%256).  The URL
list holds --pages pages of each of --hosts hosts, shuffled (seed 1).  Interleaved, run by run:

  polite D   evfarm at --np with --host-delay D for each of --delays (robots.txt obeyed: 404,
             so each host takes 1 + pages requests, at least D apart): the summary's wall
             against the politeness bound (pages x D, the term the summary reports) and the
             efficiency bound / wall, the whole process's wall beside it
  off        politeness off (--robots ignore --host-connections 0, no delay: ids dealt as any
             list's) against --old (the build before host-affine dealing, same options) and
             the default (robots.txt obeyed, --host-connections 8: hosts dealt, limits never
             binding): pages/s over the summary's wall
  wget       wget --wait D -i on one host's pages (one process, one request at a time) against
             evfarm with --host-delay D on the same pages: wall against (pages - 1) x D
  redirects  every URL a redirect to a page of another host (nginx answers /go/IP/PATH with a
             301 to http://IP/PATH), most of them owned by another rank: the default (hosts
             dealt, each hop to another rank's host asks that rank for its turn) against --old
             (before turns: such a hop was admitted where it was made): pages/s

Medians over --runs runs.  The machine's limits are printed with the figures: a delay so short
that hosts x pages / D is more requests per second than the machine can serve binds on the CPU,
not on politeness.
"""
import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
from webservers import Nginx, Site  # noqa: E402


def host_ip(k):
    return "127.1.%d.%d" % (k // 256, k % 256)


def mpirun_env():
    env = dict(os.environ)
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_btl="self,vader")
    return env


def evfarm(binary, np_, urls, args, tmp, env):
    """(summary, whole-process wall) of one run."""
    summ = os.path.join(tmp, "summary.json")
    if os.path.exists(summ):
        os.unlink(summ)
    cmd = ["mpirun", "--oversubscribe", "-np", str(np_), binary, "--kind", "http", "--urls",
           urls, "--quiet", "--json", summ, "--progress", "0"] + args
    t = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.monotonic() - t
    if not os.path.exists(summ):
        sys.exit("evfarm failed (exit %d): %s\n%s" % (p.returncode, " ".join(cmd),
                                                       p.stderr[-2000:]))
    return json.load(open(summ)), wall


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def inside(a):
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tmp = tempfile.mkdtemp(prefix="evfarm-bench-polite-")
    site = Site(os.path.join(tmp, "site"), a.pages, 1024, 4096)
    binary = os.path.join(a.build, "evfarm")
    env = mpirun_env()
    delays = [float(x) for x in a.delays.split(",") if x]
    only = set(a.only.split(","))
    res = {}
    # Open files: evfarm asks for two per slot (a socket, an idle connection) and nginx for one
    # per connection, within this machine's hard limit.
    fds = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    # nginx: a worker per 4,000 hosts (each keeps a connection open per host it serves).
    workers = min(max(1, (a.hosts + 3999) // 4000), 4)
    with Nginx(site.root, workers=workers, listen="*",
               connections=min(4 * a.hosts // workers + 1024, fds // 2 - 64),
               server_extra="location /go/ { rewrite ^/go/([0-9.]+)(/.*)$ "
                            "http://$1:$server_port$2 permanent; }") as ng:
        port = ng.port
        urls = ["http://%s:%d/p/%d.html" % (host_ip(h), port, k)
                for h in range(a.hosts) for k in range(1, a.pages + 1)]
        random.Random(1).shuffle(urls)
        url_file = os.path.join(tmp, "urls.txt")
        with open(url_file, "w") as f:
            f.write("\n".join(urls) + "\n")
        one = os.path.join(tmp, "one.txt")
        with open(one, "w") as f:
            f.write("\n".join("http://%s:%d/p/%d.html" % (host_ip(0), port, k)
                              for k in range(1, a.pages + 1)) + "\n")
        hops = os.path.join(tmp, "hops.txt")
        with open(hops, "w") as f:
            f.write("\n".join("http://%s:%d/go/%s/p/%d.html"
                              % (host_ip(h), port, host_ip((h + k) % a.hosts), k)
                              for h in range(a.hosts) for k in range(1, a.pages + 1)) + "\n")
        # Every host in flight at once: its next page waits in its queue for its turn.
        inflight = str(min(2 * a.hosts // a.np + 64, (fds - 64) // 2 - 64))
        for run in range(a.runs):
            if "polite" in only:
                for d in delays:
                    s, w = evfarm(binary, a.np, url_file, ["--host-delay", str(d), "--inflight",
                                                           inflight], tmp, env)
                    lb = s["lower_bound"]
                    res.setdefault("polite %g" % d, []).append(
                        (s["wall_s"], lb["politeness_term_s"], lb["t_lb_s"], s["efficiency"], w,
                         s["status"].get("ok", 0)))
                    bad = {k: v for k, v in s["status"].items() if k != "ok" and v}
                    if bad:
                        print("  (--host-delay %g, run %d: not ok: %r)" % (d, run + 1, bad))
            if "off" in only:
                off = ["--robots", "ignore", "--host-connections", "0", "--inflight", "64"]
                for name, binary_, args in (("off", binary, off),
                                            ("old", a.old, ["--host-connections", "0",
                                                            "--inflight", "64"]),
                                            ("default", binary, ["--inflight", "64"])):
                    if not binary_:
                        continue
                    s, w = evfarm(binary_, a.np, url_file, args, tmp, env)
                    res.setdefault(name, []).append((len(urls) / s["wall_s"], w))
            if "redirects" in only:
                for name, binary_ in (("redirects", binary), ("redirects old", a.old)):
                    if not binary_:
                        continue
                    s, w = evfarm(binary_, a.np, hops, ["--inflight", "64"], tmp, env)
                    res.setdefault(name, []).append((len(urls) / s["wall_s"], w,
                                                     s["status"].get("ok", 0)))
            if "wget" in only:
                for d in delays:
                    t = time.monotonic()
                    subprocess.run(["wget", "-q", "--wait", str(d), "-i", one, "-P",
                                    os.path.join(tmp, "wget")], check=False)
                    res.setdefault("wget %g" % d, []).append(time.monotonic() - t)
                    shutil.rmtree(os.path.join(tmp, "wget"), ignore_errors=True)
                    s, w = evfarm(binary, 1, one, ["--host-delay", str(d), "--robots", "ignore"],
                                  tmp, env)
                    res.setdefault("evfarm one %g" % d, []).append((s["wall_s"], w))
    shutil.rmtree(tmp, ignore_errors=True)
    print("bench_polite: %d hosts x %d pages (%d URLs), np %d, %d runs (medians), %s"
          % (a.hosts, a.pages, a.hosts * a.pages, a.np, a.runs, os.uname().nodename))
    for d in delays:
        r = res.get("polite %g" % d)
        if r:
            wall, term = med([x[0] for x in r]), med([x[1] for x in r])
            print("  polite --host-delay %-5g wall %7.3f s, politeness bound %7.3f s: %5.1f %% of "
                  "the wall (T_lb %.3f s, efficiency %.1f %%); whole process %.3f s; %d of %d ok; "
                  "%.0f requests/s asked"
                  % (d, wall, term, 100 * term / wall, med([x[2] for x in r]),
                     100 * med([x[3] for x in r]), med([x[4] for x in r]),
                     med([x[5] for x in r]), a.hosts * a.pages,
                     a.hosts * (a.pages + 1) / (a.pages * d)))
    for name, what in (("off", "politeness off (--robots ignore --host-connections 0)"),
                       ("old", "the build before (--old, --host-connections 0)"),
                       ("default", "default (robots.txt obeyed, hosts dealt, 8 connections)")):
        r = res.get(name)
        if r:
            print("  %-58s %9.0f pages/s (whole process %.3f s)"
                  % (what, med([x[0] for x in r]), med([x[1] for x in r])))
    for name, what in (("redirects", "redirects to other hosts, turns at their owners"),
                       ("redirects old", "the same, the build before (--old)")):
        r = res.get(name)
        if r:
            print("  %-58s %9.0f pages/s (whole process %.3f s; %d of %d ok)"
                  % (what, med([x[0] for x in r]), med([x[1] for x in r]),
                     med([x[2] for x in r]), len(urls)))
    for d in delays:
        if res.get("wget %g" % d):
            ev = res["evfarm one %g" % d]
            print("  one host, %d pages, --wait/--host-delay %g: bound %.3f s; wget %.3f s, "
                  "evfarm %.3f s (whole process %.3f s)"
                  % (a.pages, d, (a.pages - 1) * d, med(res["wget %g" % d]),
                     med([x[0] for x in ev]), med([x[1] for x in ev])))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=10000)
    ap.add_argument("--pages", type=int, default=10)
    ap.add_argument("--delays", default="0.1,1")
    ap.add_argument("--np", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--old", default="")
    ap.add_argument("--only", default="polite,off,wget,redirects")
    ap.add_argument("--inside", action="store_true")
    a = ap.parse_args()
    if a.hosts > 65536:
        sys.exit("--hosts: at most 65536 (127.1.0.0 - 127.1.255.255)")
    if a.inside:
        return inside(a)
    if os.geteuid() != 0:
        sys.exit("bench_polite: needs root (a network namespace of its own: unshare -n)")
    os.execvp("unshare", ["unshare", "-n", sys.executable, os.path.abspath(__file__),
                          "--inside"] + sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
