"""The property test: a few hundred random settings (seeded: the same every run, and any seed
reproduces its own), each checked against the oracle.  Dimensions: 1-5 ranks, static and dynamic
schedules, --window from 1 to past N (or none), --batch-size (none, 1, up to N), --inflight
(0, small, large), --writers (every rank, 1, 2, 3), failures with retries, hangs ended by
--timeout.  Every job must end within
its deadline (test_property's alarm: a hang is a failure naming its settings), exit 0 or 1 as
its statuses say, and its records must hold every id once in order, with the oracle's
iterations, value, delay, status, attempts and last error: no not_run (nothing here asks for a
drain), no id lost or run twice.  All jobs run inside one mpirun (evf_run on the first np ranks),
so a few hundred cost one launch.
  usage: check_property.py --mpirun M --driver test_property --outdir D [--seed S] [--jobs N]"""
import argparse
import csv
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402
from testlib import Check  # noqa: E402

MAX_NP = 5


def settings(rng):
    """One random job: (np, options, oracle parameters)."""
    np_ = rng.randint(1, MAX_NP)
    n = rng.choice([1, 2, 3, 7, rng.randint(1, 60), rng.randint(60, 400), rng.randint(400, 1500)])
    seed = rng.randint(1, 10**6)
    io_max = rng.choice([0, 0, 0.01, 0.02])
    cpu_max = rng.choice([0, 1000, 5000])
    o = {"seed": seed, "io_min": 0, "io_max": io_max, "cpu_min": 0, "cpu_max": cpu_max}
    args = ["--tasks", str(n), "--seed", str(seed), "--io-min", "0", "--io-max", str(io_max),
            "--cpu-min", "0", "--cpu-max", str(cpu_max), "--quiet"]
    args += ["--schedule", rng.choice(["static", "dynamic"])]
    w = rng.choice([None, None, 1, 2, 3, rng.randint(1, max(1, n // 3)), rng.randint(1, n),
                    n, n + 5])
    if w is not None:
        args += ["--window", str(w)]
    b = rng.choice([None, None, 1, 2, rng.randint(1, 64), rng.randint(1, max(1, n))])
    if b is not None:
        args += ["--batch-size", str(b)]
    k = rng.choice([None, 0, 1, 2, 5, rng.randint(1, 200)])
    if k is not None:
        args += ["--inflight", str(k)]
    # Serial settings (a window of a few ids, one or two tasks in flight) run a window or a
    # task at a time: fewer tasks there keep the whole test within a minute.
    if (w is not None and w < 10) or (k in (1, 2) and io_max > 0):
        n = min(n, rng.randint(1, 120))
        args[1] = str(n)
        if w is not None:
            args[args.index("--window") + 1] = str(min(w, n + 5))
        if b is not None:
            args[args.index("--batch-size") + 1] = str(min(b, n + 2))
    if rng.random() < 0.3:
        o["fail_rate"] = rng.choice([0.1, 0.3])
        o["retries"] = rng.randint(0, 3)
        args += ["--fail-rate", str(o["fail_rate"]), "--retries", str(o["retries"]),
                 "--retry-delay", "0.001", "--retry-max-delay", "0.004"]
    if rng.random() < 0.15:
        o["hang_rate"] = 0.05
        o["timeout"] = 0.05
        args += ["--hang-rate", "0.05", "--timeout", "0.05"]
    wr = rng.choice([None, None, 1, 2, 3])  # past two windows: who writes each part
    if wr is not None:
        args += ["--writers", str(wr)]
    return np_, args, n, o


def check_job(c, k, np_, args, n, o, outdir):
    what = "job %d (np %d: %s)" % (k, np_, " ".join(args))
    try:
        code = int(open(os.path.join(outdir, "prop-%d.code" % k)).read().split()[0])
    except (OSError, ValueError):
        return c(False, "%s: no exit code" % what)
    want = [oracle.task(o["seed"], i, o["io_min"], o["io_max"], o["cpu_min"], o["cpu_max"],
                        o.get("fail_rate", 0.0), o.get("hang_rate", 0.0), o.get("timeout", 0.0),
                        o.get("retries", 0)) for i in range(1, n + 1)]
    failed = any(t["status"] != "ok" for t in want)
    if not c(code == (1 if failed else 0), "%s: exit %d, want %d" % (what, code, 1 if failed else 0)):
        return False
    try:
        rows = list(csv.DictReader(open(os.path.join(outdir, "prop-%d.csv" % k))))
    except OSError as e:
        return c(False, "%s: no records: %s" % (what, e))
    ids = [int(r["id"]) for r in rows]
    if not c(ids == list(range(1, n + 1)), "%s: ids %s, want 1..%d once each in order"
             % (what, ids[:20], n)):
        return False
    for r, t in zip(rows, want):
        got = "%s,%s,%s,%s,%s,%s,%s" % (r["id"], r["iterations"], r["value"], r["io_delay"],
                                        r["status"], r["attempts"], r["last_error"])
        if not c(got == oracle.canonical_line(t), "%s: record %s, oracle %s"
                 % (what, got, oracle.canonical_line(t))):
            return False
        if not c(0 <= int(r["rank"]) < np_, "%s: id %s on rank %s" % (what, r["id"], r["rank"])):
            return False
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mpirun", required=True)
    ap.add_argument("--driver", required=True)
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--seed", type=int, default=20261204)
    ap.add_argument("--jobs", type=int, default=400)
    ap.add_argument("--deadline", type=int, default=60, help="seconds one job may take")
    a = ap.parse_args()
    c = Check("check_property seed %d" % a.seed)
    rng = random.Random(a.seed)
    jobs = [settings(rng) for _ in range(a.jobs)]
    d = os.path.join(a.outdir, "property-%d" % a.seed)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    spec = os.path.join(d, "settings.txt")
    with open(spec, "w") as f:
        for np_, args, _, _ in jobs:
            f.write("%d %s\n" % (np_, " ".join(args)))
    t = time.monotonic()
    p = subprocess.run([a.mpirun, "-np", str(MAX_NP), a.driver, spec, d, str(a.deadline)],
                       capture_output=True, text=True)
    took = time.monotonic() - t
    print("check_property: %d jobs in %.1f s (seed %d; settings in %s)" % (len(jobs), took,
                                                                          a.seed, spec))
    c(p.returncode == 0, "the driver exited %d: %s" % (p.returncode, (p.stderr or "")[-3000:]))
    for k, (np_, args, n, o) in enumerate(jobs):
        check_job(c, k, np_, args, n, o, d)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
