#!/usr/bin/python3
"""The http kind against its peers: prints figures, asserts nothing.

  bench/bench_http.py [--runs 3] [--fetches 100000] [--build build] [--only evfarm1,evfarm2,...]

One nginx (one worker process, keep-alive), one URL list: --fetches fetches cycling through a
generated site of 10,000 pages of 1-8 KiB.  Clients, interleaved run by run:

  wrk        wrk -t1 -c64 over the same URL list (a Lua script): the loopback ceiling, no body
             processing
  curl       curl --parallel --parallel-max 64 (curl's own parallel mode), bodies to /dev/null
  aiohttp    Python asyncio + aiohttp (Debian's python3-aiohttp), one process per core in a
             ProcessPoolExecutor, 64 connections per process, the same body processing as
             evfarm's (lines, href= links, XXH3-64 with python3-xxhash)
  evfarm1/2  evfarm --kind http at np = 1 and 2, --inflight 64 (at most 64 connections per
             rank), --host-connections 0 --robots ignore (one host: no per-host limit, so its
             URLs spread over the ranks; no robots.txt, as the peers fetch none) (body
             processing on)
  warc1/2    the same with --warc DIR: every response kept in WARC files
  wget       wget --warc-file over the same list (Debian's wget, the classic WARC writer; one
             process, one request at a time), the pages deleted after download

Figures: pages per second (fetches / wall of the client's process, start-up included; for
evfarm also fetches / the summary's in-program wall) and client CPU per page (user + system of
the client's processes from rusage, mpirun included, over fetches); for the WARC writers the MB/s
of WARC written (compressed bytes / wall), beside the disk's own speed: `cat` of the last WARC
set into a new file (page cache, as the writers); medians over --runs runs.
Runs under Debian's /usr/bin/python3 (python3-xxhash, python3-aiohttp).
"""
import argparse
import json
import os
import platform
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

PAGES = 10000
CONNS = 64

AIOHTTP_CLIENT = r'''
import asyncio, sys, time, xxhash
from concurrent.futures import ProcessPoolExecutor
import aiohttp

def figures(body):
    return len(body), body.count(b"\n"), body.lower().count(b"href="), xxhash.xxh3_64_intdigest(body)

async def fetch_all(urls, conns):
    conn = aiohttp.TCPConnector(limit=conns, limit_per_host=conns)
    out = 0
    async with aiohttp.ClientSession(connector=conn) as session:
        it = iter(urls)
        async def worker():
            nonlocal out
            for u in it:
                async with session.get(u) as r:
                    body = await r.read()
                    figures(body)
                    out += r.status == 200
        await asyncio.gather(*[worker() for _ in range(conns)])
    return out

def part(args):
    urls, conns = args
    return asyncio.run(fetch_all(urls, conns))

if __name__ == "__main__":
    urls = open(sys.argv[1]).read().split()
    procs, conns = int(sys.argv[2]), int(sys.argv[3])
    chunks = [urls[k::procs] for k in range(procs)]
    with ProcessPoolExecutor(procs) as ex:
        ok = sum(ex.map(part, [(c, conns) for c in chunks]))
    print(ok)
'''

WRK_SCRIPT = r'''
local paths = {}
for line in io.lines(os.getenv("EVF_PATHS")) do paths[#paths + 1] = line end
local k = 0
request = function()
  k = k % #paths + 1
  return wrk.format("GET", paths[k])
end
'''


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd, env=None):
    """(wall, client CPU, stdout) of one client process tree."""
    c0, t0 = children_cpu(), time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    wall, cpu = time.monotonic() - t0, children_cpu() - c0
    if p.returncode != 0:
        sys.exit("bench_http: %s failed (%d):\n%s" % (" ".join(cmd[:6]), p.returncode,
                                                     p.stderr[-3000:]))
    return wall, cpu, p.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--fetches", type=int, default=100000)
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--only", default="wrk,curl,aiohttp,evfarm1,evfarm2,warc1,warc2,wget")
    ap.add_argument("--wrk-seconds", type=float, default=5.0)
    a = ap.parse_args()
    which = a.only.split(",")
    tmp = tempfile.mkdtemp(prefix="evfarm-bench-http-")
    site = Site(os.path.join(tempfile.gettempdir(), "evfarm-bench-site"), PAGES, 1024, 8192)
    ncpu = os.cpu_count()
    print("machine: %s, %d CPUs, %s; nginx 1 worker; %d fetches of %d pages of 1-8 KiB"
          % (platform.processor() or platform.machine(), ncpu, platform.platform(), a.fetches,
             PAGES))
    res = {k: {"pps": [], "cpu": [], "pps_in": [], "mbps": []} for k in which}
    warc_dir = os.path.join(tmp, "warc")
    disk = []
    with Nginx(site.root, workers=1) as ng:
        urls = [site.urls(ng.base(), [k % PAGES + 1])[0] for k in range(a.fetches)]
        url_file = os.path.join(tmp, "urls.txt")
        with open(url_file, "w") as f:
            f.write("\n".join(urls) + "\n")
        paths_file = os.path.join(tmp, "paths.txt")
        with open(paths_file, "w") as f:
            f.write("\n".join("/" + u.split("/", 3)[3] for u in urls[:PAGES]) + "\n")
        curl_cfg = os.path.join(tmp, "curl.cfg")
        with open(curl_cfg, "w") as f:
            for u in urls:
                f.write('url = "%s"\noutput = "/dev/null"\n' % u)
        wrk_lua = os.path.join(tmp, "wrk.lua")
        with open(wrk_lua, "w") as f:
            f.write(WRK_SCRIPT)
        aio = os.path.join(tmp, "aio.py")
        with open(aio, "w") as f:
            f.write(AIOHTTP_CLIENT)
        summary = os.path.join(tmp, "summary.json")
        mpirun = os.path.join(TOP, "scripts", "evfarm-mpirun")
        evfarm = os.path.join(a.build, "evfarm")
        for run in range(a.runs + 1):  # run 0 warms up (page cache, nginx), not counted
            for k in which:
                if k == "wrk":
                    env = dict(os.environ, EVF_PATHS=paths_file)
                    wall, cpu, out = timed(["wrk", "-t1", "-c%d" % CONNS, "-d%gs" % a.wrk_seconds,
                                            "-s", wrk_lua, ng.base()], env)
                    reqs = float(next(x.split()[1] for x in out.splitlines()
                                      if x.startswith("Requests/sec")))
                    n = reqs * a.wrk_seconds
                    pps, cpp = reqs, cpu / n
                elif k == "curl":
                    wall, cpu, _ = timed(["curl", "-s", "--parallel", "--parallel-max", str(CONNS),
                                          "-K", curl_cfg])
                    pps, cpp = a.fetches / wall, cpu / a.fetches
                elif k == "aiohttp":
                    wall, cpu, out = timed(["/usr/bin/python3", aio, url_file, str(ncpu),
                                            str(CONNS)])
                    if int(out.split()[-1]) != a.fetches:
                        sys.exit("bench_http: aiohttp fetched %s pages" % out.split()[-1])
                    pps, cpp = a.fetches / wall, cpu / a.fetches
                elif k == "wget":
                    shutil.rmtree(warc_dir, ignore_errors=True)
                    os.makedirs(warc_dir)
                    wall, cpu, _ = timed(["wget", "-q", "-i", url_file, "--warc-file",
                                          os.path.join(warc_dir, "wget"), "--no-warc-keep-log",
                                          "--delete-after", "-nd", "-P",
                                          os.path.join(tmp, "wget-pages")])
                    pps, cpp = a.fetches / wall, cpu / a.fetches
                    if run:
                        res[k]["mbps"].append(dir_bytes(warc_dir) / 1e6 / wall)
                        disk.append(disk_speed(warc_dir, tmp))
                else:
                    np_ = int(k[-1])
                    warc = []
                    if k.startswith("warc"):
                        shutil.rmtree(warc_dir, ignore_errors=True)
                        os.makedirs(warc_dir)
                        warc = ["--warc", warc_dir]
                    wall, cpu, _ = timed([mpirun, "-np", str(np_), evfarm, "--kind", "http",
                                          "--urls", url_file, "--inflight", str(CONNS),
                                          "--host-connections", "0", "--robots", "ignore",
                                          "--quiet",
                                          "--progress", "0", "--json", summary] + warc)
                    if warc and run:
                        res[k]["mbps"].append(dir_bytes(warc_dir) / 1e6 / wall)
                        disk.append(disk_speed(warc_dir, tmp))
                    s = json.load(open(summary))
                    if s["status"]["ok"] != a.fetches:
                        sys.exit("bench_http: evfarm: %r" % s["status"])
                    pps, cpp = a.fetches / wall, cpu / a.fetches
                    if run:
                        res[k]["pps_in"].append(a.fetches / s["wall_s"])
                if run:
                    res[k]["pps"].append(pps)
                    res[k]["cpu"].append(cpp)
    shutil.rmtree(tmp, ignore_errors=True)

    print("%-9s %22s %20s %20s %14s" % ("client", "pages/s, median (range)", "in-program pages/s",
                                        "client CPU/page", "WARC MB/s"))
    for k in which:
        r = res[k]
        pin = ("%.0f" % statistics.median(r["pps_in"])) if r["pps_in"] else "-"
        mb = ("%.1f" % statistics.median(r["mbps"])) if r["mbps"] else "-"
        print("%-9s %10.0f (%.0f-%.0f) %20s %17.1f us %14s" % (
            k, statistics.median(r["pps"]), min(r["pps"]), max(r["pps"]), pin,
            statistics.median(r["cpu"]) * 1e6, mb))
    for np_ in (1, 2):
        e, w = "evfarm%d" % np_, "warc%d" % np_
        if e in res and w in res and res[e]["pps"] and res[w]["pps"]:
            print("--warc at np %d: %.1f %% of the pages/s without it (medians)"
                  % (np_, 100 * statistics.median(res[w]["pps"]) / statistics.median(res[e]["pps"])))
    if disk:
        print("disk: cat of a WARC set into a new file: %.0f MB/s, median" %
              statistics.median(disk))
    return 0


def dir_bytes(d):
    return sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d))


def disk_speed(d, tmp):
    """MB/s of `cat` of every file of `d` into a new file (into the page cache, as the writers
    wrote: what the machine's file system takes at most)."""
    out = os.path.join(tmp, "cat.out")
    files = sorted(os.path.join(d, x) for x in os.listdir(d))
    t0 = time.monotonic()
    subprocess.run(["bash", "-c", 'cat "${@:2}" > "$1"', "_", out] + files, check=True)
    wall = time.monotonic() - t0
    n = os.path.getsize(out)
    os.unlink(out)
    return n / 1e6 / wall


if __name__ == "__main__":
    sys.exit(main())
