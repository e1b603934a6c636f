#!/usr/bin/env python3
"""The exec kind against its peers: prints figures, asserts nothing.

  bench/bench_exec.py [--runs 3] [--jobs 5000] [--build build]

Two workloads of --jobs commands each: `true`, and `sha256sum` of a 4 KiB file.  Clients, run
by run in turn (after a warm-up round):

  xargs      xargs -P 2 -I{} sh -c {} (each line run by a shell, as evfarm does)
  parallel   GNU parallel -j 2 (Debian's parallel), output captured as it does by default
  evfarm     np = 1 --inflight 2, np = 2 (--inflight 1 each), output captured (counted and
             hashed), and np = 2 with --outdir (every task's stdout/stderr to files)

Figures: jobs per second over the client's whole process (mpirun and MPI start-up included for
evfarm; its in-program rate too), and evfarm's overhead per task: rank 0's own process CPU
(user + system: spawning, pipes, pidfds, hashing, MPI start-up; not its children's) over the
tasks it ran, in microseconds.
Medians over --runs runs; each measurement is shown on stderr as it ends.
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


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd, stdin=None, env=None):
    c0, t0 = children_cpu(), time.monotonic()
    p = subprocess.run(cmd, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       env=env, timeout=900)
    wall, cpu = time.monotonic() - t0, children_cpu() - c0
    if p.returncode != 0:
        sys.exit("bench_exec: %s failed (%d): %s" % (" ".join(cmd[:6]), p.returncode,
                                                    p.stderr[-2000:].decode(errors="replace")))
    return wall, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=5000)
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="evfarm-bench-exec-")
    data = os.path.join(tmp, "data.bin")
    with open(data, "wb") as f:
        f.write(os.urandom(4096))
    loads = {"true": "true", "sha256sum": "sha256sum %s" % data}
    mpirun = os.path.join(TOP, "scripts", "evfarm-mpirun")
    evfarm = os.path.join(a.build, "evfarm")
    summary = os.path.join(tmp, "summary.json")
    outdir = os.path.join(tmp, "out")
    os.makedirs(outdir)
    print("machine: %s, %d CPUs, %s; %d commands per workload"
          % (platform.processor() or platform.machine(), os.cpu_count(), platform.platform(),
             a.jobs))
    clients = ["xargs -P 2", "parallel -j 2", "evfarm np=1 inflight=2", "evfarm np=2",
               "evfarm np=2 --outdir"]
    res = {(l, k): {"jps": [], "jin": [], "over": []} for l in loads for k in clients}
    for run in range(a.runs + 1):
        for load, line in loads.items():
            cmds = os.path.join(tmp, "cmds-%s.txt" % load)
            with open(cmds, "w") as f:
                f.write((line + "\n") * a.jobs)
            for k in clients:
                jin = over = None
                if k.startswith("xargs"):
                    with open(cmds) as fin:
                        wall, cpu = timed(["xargs", "-P", "2", "-d", "\n", "-I{}", "sh", "-c",
                                           "{}"], stdin=fin)
                elif k.startswith("parallel"):
                    with open(cmds) as fin:
                        wall, cpu = timed(["parallel", "-j", "2"], stdin=fin)
                else:
                    np_ = 1 if "np=1" in k else 2
                    args = [mpirun, "-np", str(np_), evfarm, "--kind", "exec", "--commands", cmds,
                            "--inflight", "2" if np_ == 1 else "1", "--quiet", "--progress", "0",
                            "--json", summary]
                    if "outdir" in k:
                        args += ["--outdir", outdir]
                    wall, cpu = timed(args)
                    s = json.load(open(summary))
                    if s["status"]["ok"] != a.jobs:
                        sys.exit("bench_exec: evfarm: %r" % s["status"])
                    jin = a.jobs / s["wall_s"]
                    over = s["rank0_process_cpu_s"] / s["per_rank"][0]["tasks"] * 1e6
                print("  %s %s %s: %.0f jobs/s" % ("run %d" % run if run else "warm-up", load, k,
                                                   a.jobs / wall), file=sys.stderr, flush=True)
                if run:
                    r = res[(load, k)]
                    r["jps"].append(a.jobs / wall)
                    if jin:
                        r["jin"].append(jin)
                    r["over"].append(over if k.startswith("evfarm") else None)
    shutil.rmtree(tmp, ignore_errors=True)
    print("%-10s %-24s %24s %18s %20s" % ("workload", "client", "jobs/s, median (range)",
                                          "in-program jobs/s", "overhead per task"))
    for load in loads:
        for k in clients:
            r = res[(load, k)]
            jin = "%.0f" % statistics.median(r["jin"]) if r["jin"] else "-"
            over = [x for x in r["over"] if x is not None]
            ov = "%.0f us" % statistics.median(over) if over else "-"
            print("%-10s %-24s %8.0f (%.0f-%.0f) %18s %20s" % (
                load, k, statistics.median(r["jps"]), min(r["jps"]), max(r["jps"]), jin, ov))
    return 0


if __name__ == "__main__":
    sys.exit(main())
