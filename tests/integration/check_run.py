"""Run evfarm under mpirun and check everything it wrote against the oracle.

usage: check_run.py --mpirun M --evfarm E --outdir D --name N --np P [--format csv|jsonl]
                    [--expect-exit C] -- [evfarm options]
       check_run.py --records R --summary S --outdir D --name N --np P [--hosts h1,h2]
                    -- [evfarm options]          (check files a run elsewhere wrote, e.g. Slurm)

Checks: the exit code; every id exactly once, in order; every record's planned parameters,
value and status equal the oracle's (so the records minus rank, batch and times are
byte-identical to the oracle's canonical text, hence across rank counts and batch sizes); ranks
and batches follow the partition rules; times are ordered and the I/O phase lasted at least its
planned delay; the JSON summary parses and agrees with the records; wall >= the largest delay;
every record names its rank's node (this host's name, or one of --hosts) as the summary does.
"""
import argparse
import bisect
import csv
import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402
from testlib import Check  # noqa: E402

EPS = 2e-3  # seconds: clock reads around timers, and the 6 decimals of the output
CPU_FLOOR_S = 5e-11  # seconds per CPU-phase iteration, a generous floor (measured: 3.3e-10)


def evfarm_options(opts):
    """The options that decide the tasks, with evfarm's defaults."""
    o = {"tasks": 10000, "seed": 1, "io-min": 0.2, "io-max": 1.0, "cpu-min": 100000,
         "cpu-max": 500000, "fail-rate": 0.0, "batch-size": 0, "inflight": 65536,
         "progress": 10.0, "hang-rate": 0.0, "timeout": 0.0, "retries": 0, "retry-delay": 1.0,
         "retry-max-delay": 60.0, "cpu-skew": 0.0, "schedule": "dynamic", "window": 0}
    i = 0
    while i < len(opts):
        key, val = opts[i][2:], None
        if "=" in key:
            key, val = key.split("=", 1)
        elif key in o:
            i += 1
            val = opts[i]
        if key in o and isinstance(o[key], str):
            o[key] = val
        elif key in o:
            o[key] = type(o[key])(float(val)) if isinstance(o[key], int) else float(val)
        i += 1
    # A bound left at its default follows the other bound when they cross (evfarm --help).
    given = {x[2:].split("=")[0] for x in opts if x.startswith("--")}
    for lo, hi in (("io-min", "io-max"), ("cpu-min", "cpu-max")):
        if o[lo] > o[hi]:
            if lo not in given:
                o[lo] = o[hi]
            elif hi not in given:
                o[hi] = o[lo]
    return o


def dynamic_batch_sizes(n, np_, batch_size, inflight):
    """Batch sizes in id order under --schedule dynamic, as evfarm --help states the rule:
    batches of B; or guided: ceil(left / 2P) ids, the first share (batch r to rank r) at least
    2 x --inflight (all: N) and at most ceil(N / P), later batches at least ceil(N / 64P)."""
    first_min = 2 * inflight if inflight else n
    share, floor_ = -(-n // np_), -(-n // (64 * np_))
    sizes, left = [], n
    while left > 0:
        if batch_size:
            k = batch_size
        elif len(sizes) < np_:
            k = min(max(-(-left // (2 * np_)), first_min), share)
        else:
            k = max(-(-left // (2 * np_)), floor_)
        sizes.append(min(k, left))
        left -= sizes[-1]
    return sizes


SIM_WINDOW = (64 << 20) // 64  # --window 0: 64 MiB of 64-byte sim records


def window_plan(n, np_, batch_size, inflight, window, dynamic):
    """Every batch in id order as (first id, count, rank or None), as evfarm --help states the
    rules: ids in windows of W (--window; one window when W >= N), each window planned on its own
    (static: a share for each rank, or batches of B round-robin; dynamic: the guided sizes of a
    window of that many ids, the first window's first batch r on rank r, every other batch
    dealt: rank None)."""
    window = window or SIM_WINDOW
    plan, lo = [], 1
    while lo <= n:
        m = min(window, n - lo + 1)
        if dynamic:
            sizes = dynamic_batch_sizes(m, np_, batch_size, inflight)
            ranks = [k if lo == 1 and k < np_ else None for k in range(len(sizes))]
        elif batch_size:
            sizes = [min(batch_size, m - k) for k in range(0, m, batch_size)]
            ranks = [k % np_ for k in range(len(sizes))]
        else:
            nb = min(np_, m)
            sizes = [m // nb + (k < m % nb) for k in range(nb)]
            ranks = list(range(nb))
        for k, r in zip(sizes, ranks):
            plan.append((lo, k, r))
            lo += k
    return plan


def check_progress(check, stderr, n, np_, recs=None):
    """Progress lines: several, counts that never fall, out of the job's N, and at some point
    more than one rank's share (so they are the job's counts, not rank 0's).  With the records:
    rank 0 keeps reporting after its own last task, until the other ranks' last one."""
    import re
    full = list(re.finditer(r"^evfarm: progress: (\d+) of (\d+) tasks done \(\d+%\) at ([0-9.]+) s, "
                            r"([0-9.]+) tasks/s, ETA ([^,]+), (\d+) failed, (\d+) in flight$",
                            stderr, re.M))
    lines = [(int(m.group(1)), int(m.group(2)), float(m.group(3))) for m in full]
    check(any(float(m.group(4)) > 0 for m in full), "no progress line with a rate")
    failed = [int(m.group(6)) for m in full]
    check(failed == sorted(failed), "failed counts went backwards: %r" % failed)
    if recs:
        check(not failed or failed[-1] <= sum(r["status"] != "ok" for r in recs),
              "more failed in progress than in the records: %r" % failed)
    got = [(c, t) for c, t, _ in lines]
    if recs:
        r0_end = max((r["t_end"] for r in recs if r["rank"] == 0), default=0.0)
        last = max(r["t_end"] for r in recs)
        at = [x for _, _, x in lines]
        check(last - r0_end < 1.0 or any(x > r0_end + 0.5 for x in at),
              "no progress line after rank 0's last task (%.2f s; the job's last ended at %.2f s):"
              " %r" % (r0_end, last, at))
    check(len(got) >= 3, "%d progress lines in:\n%s" % (len(got), stderr))
    check(all(total == n for _, total in got), "progress totals %r, want %d" % (got, n))
    counts = [c for c, _ in got]
    check(counts == sorted(counts), "progress went backwards: %r" % counts)
    check(any(c > (n + np_ - 1) // np_ for c in counts), "progress never beyond one rank's share: %r"
          % counts)


def read_records(path, fmt):
    with open(path) as f:
        if fmt == "jsonl":
            rows = [json.loads(line) for line in f]
            for r in rows:
                r["last_error"] = r["last_error"] or ""
            return rows
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in ("id", "rank", "batch", "iterations", "value", "attempts"):
            r[k] = int(r[k])
        for k in ("io_delay", "t_start", "t_io_done", "t_end", "cpu_time"):
            r[k] = float(r[k])
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mpirun")
    ap.add_argument("--evfarm")
    ap.add_argument("--records", help="check this file instead of running evfarm")
    ap.add_argument("--summary")
    ap.add_argument("--hosts", help="comma-separated node names the ranks may run on")
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--np", type=int, required=True)
    ap.add_argument("--format", default="csv")
    ap.add_argument("--expect-exit", type=int, default=0)
    ap.add_argument("--expect-progress", action="store_true",
                    help="stderr must carry job-wide progress lines (run with --progress)")
    ap.add_argument("--expect-uneven", action="store_true",
                    help="dynamic with uneven work: the ranks' task counts must differ")
    ap.add_argument("--expect-fastest-most", action="store_true",
                    help="print each rank's measured speed and work (not asserted: speed)")
    ap.add_argument("--mpirun-args", help="more mpirun options (binding), split on blanks")
    ap.add_argument("--taskset", help="run mpirun under taskset -c CPUS (the ranks inherit it)")
    ap.add_argument("--timeout-slack", type=float,
                    help="a task whose only attempt timed out ends within --timeout + this")
    ap.add_argument("--expect-node-cpus", type=int,
                    help="the summary must give every rank's node this many CPUs")
    ap.add_argument("opts", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    opts = [x for x in a.opts if x != "--"]
    o = evfarm_options(opts)
    check = Check("check_run " + a.name)

    if a.records:
        out, summ = a.records, a.summary
        a.format = "jsonl" if out.endswith(".jsonl") else "csv"
    else:
        out = os.path.join(a.outdir, a.name + ("." + a.format))
        summ = os.path.join(a.outdir, a.name + ".summary.json")
        for p in (out, summ):
            if os.path.exists(p):
                os.unlink(p)
        cmd = [a.mpirun, "-np", str(a.np), a.evfarm] + opts + ["--output", out, "--json", summ]
        if a.mpirun_args:
            cmd = cmd[:1] + a.mpirun_args.split() + cmd[1:]
        if a.taskset:  # mpirun binds ranks itself unless told not to
            cmd = (["taskset", "-c", a.taskset] + cmd[:1] +
                   ([] if a.mpirun_args else ["--bind-to", "none"]) + cmd[1:])
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
        except subprocess.TimeoutExpired:
            check(False, "timed out: " + " ".join(cmd))
            return 1
        check(p.returncode == a.expect_exit,
              "exit %d, want %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, a.expect_exit,
                                                              p.stdout, p.stderr))
        check("efficiency" in p.stdout and "lower bound" in p.stdout, "no summary on stdout")
        if a.expect_progress:
            progress_stderr = p.stderr
    if not check(os.path.exists(out) and os.path.exists(summ), "output files missing"):
        return 1
    hosts = set(a.hosts.split(",")) if a.hosts else {socket.gethostname()[:63]}
    s = json.load(open(summ))
    rank_host = {x["rank"]: x["host"] for x in s.get("per_rank", [])}

    recs = read_records(out, a.format)
    if a.expect_progress and not a.records:
        check_progress(check, progress_stderr, o["tasks"], a.np, recs)
    n = o["tasks"]
    check(len(recs) == n, "%d records, want %d" % (len(recs), n))
    check([r["id"] for r in recs] == list(range(1, len(recs) + 1)), "ids not 1..N in order")

    window = int(o["window"]) or SIM_WINDOW
    plan = window_plan(n, a.np, int(o["batch-size"]), int(o["inflight"]), window,
                       o["schedule"] == "dynamic")
    starts = [p[0] for p in plan]
    batch_rank = {}
    if a.expect_uneven:  # dynamic with uneven work: the faster rank ran more tasks
        per = [sum(r["rank"] == k for r in recs) for k in range(a.np)]
        check(len(set(per)) > 1, "tasks per rank %r: all equal under uneven work" % per)
        if a.expect_fastest_most:
            # Which rank is fastest is measured, not assumed: the binding makes one rank alone on
            # a core, but a load beside the suite (another job, a CPU hog) can turn that around.
            # Each rank's speed: iterations per second of its CPU phases (wall time of the phase,
            # so a rank kept off its core is slower).  Dynamic dealing keeps every rank busy to
            # the end, so the fastest runs the most iterations; checked when it is clearly the
            # fastest (15 % ahead of the next), else only the unevenness above.
            iters = [sum(r["iterations"] for r in recs if r["rank"] == k) for k in range(a.np)]
            busy = [sum(r["cpu_time"] for r in recs if r["rank"] == k) for k in range(a.np)]
            speed = [i / b if b > 0 else 0.0 for i, b in zip(iters, busy)]
            order = sorted(range(a.np), key=lambda k: -speed[k])
            # Said, not asserted: which rank ends up with the most work is a matter of speed, and
            # beside a CPU hog under ASan the fastest rank (5.5e9 iterations/s against 4.2e9)
            # still ran fewer iterations than a slower one, its busy time cut by the load.  The
            # dealing itself is checked above and below (uneven counts, every rank dealt).
            print("check_run: iterations/s per rank %s, iterations %r, tasks %r"
                  % (["%.3g" % x for x in speed], iters, per))
        # Every rank asked and was dealt a batch beyond its first share.
        dealt = [sorted({r["batch"] for r in recs if r["rank"] == k and r["batch"] >= a.np})
                 for k in range(a.np)]
        check(all(dealt) and s["schedule"]["dealt"] >= 1 and s["schedule"]["requests"] >= 1,
              "dealt batches per rank %r, summary %r" % (dealt, s["schedule"]))
    check(s["batches"] == len(plan), "summary batches %r, want %d" % (s["batches"], len(plan)))
    check(s["output"]["window"] == window, "summary window %r, want %d" % (s["output"], window))
    # The oracle: planned parameters, value, status; and the canonical text.
    canon, want_canon, failed, retried = [], [], 0, 0
    for r in recs:
        t = oracle.task(o["seed"], r["id"], o["io-min"], o["io-max"], o["cpu-min"],
                        o["cpu-max"], o["fail-rate"], o["hang-rate"], o["timeout"], o["retries"],
                        o["cpu-skew"], o["tasks"])
        failed += t["status"] != "ok"
        retried += t["attempts"] > 1
        canon.append("%d,%d,%d,%.6f,%s,%d,%s" % (r["id"], r["iterations"], r["value"],
                                                 r["io_delay"], r["status"], r["attempts"],
                                                 r["last_error"]))
        want_canon.append(oracle.canonical_line(t))
        check(r["value"] == r["iterations"] * (r["iterations"] - 1) // 2 or r["status"] != "ok",
              "id %d: value %d is not n(n-1)/2 for n=%d" % (r["id"], r["value"], r["iterations"]))
        # Static: every batch's rank is planned; dynamic: batch r of the first share on rank r,
        # the rest wherever they were dealt, a whole batch on one rank.
        b = bisect.bisect_right(starts, r["id"]) - 1
        rank = plan[b][2] if plan[b][2] is not None else batch_rank.setdefault(b, r["rank"])
        check((r["batch"], r["rank"]) == (b, rank),
              "id %d: batch/rank %s, want %s" % (r["id"], (r["batch"], r["rank"]), (b, rank)))
        check(0 <= r["t_start"] <= r["t_io_done"] <= r["t_end"] + 1e-6,
              "id %d: times out of order" % r["id"])
        # Every attempt lasted its planned delay or, timed out, the timeout; retries waited at
        # least nothing: the I/O phase is at least their sum.
        io_min_s = sum(o["timeout"] if x == "timeout" else r["io_delay"] for x in t["outcomes"])
        check(r["t_io_done"] - r["t_start"] >= io_min_s - EPS,
              "id %d: I/O phase %.6f s shorter than its attempts' %.6f s"
              % (r["id"], r["t_io_done"] - r["t_start"], io_min_s))
        if a.timeout_slack is not None and t["outcomes"] == ["timeout"]:
            check(r["t_io_done"] - r["t_start"] <= o["timeout"] + a.timeout_slack,
                  "id %d: timed out after %.6f s, --timeout %g" % (
                      r["id"], r["t_io_done"] - r["t_start"], o["timeout"]))
        if len(t["outcomes"]) > 1:
            # Between attempts: at most the backoff's cap, plus the attempts' own time, and
            # the loop's latency per attempt.
            waits = sum(oracle.backoff(o["seed"], r["id"], k, o["retry-delay"],
                                       o["retry-max-delay"]) for k in range(1, len(t["outcomes"])))
            spent = r["t_io_done"] - r["t_start"]
            check(spent >= io_min_s + waits - EPS,
                  "id %d: %d attempts in %.6f s: under their delays %.6f s plus backoff %.6f s"
                  % (r["id"], len(t["outcomes"]), spent, io_min_s, waits))
            if a.timeout_slack is not None:
                check(spent <= io_min_s + waits + a.timeout_slack * len(t["outcomes"]),
                      "id %d: %d attempts took %.6f s: over their delays %.6f s, backoff "
                      "%.6f s and %g s a attempt" % (r["id"], len(t["outcomes"]), spent,
                                                     io_min_s, waits, a.timeout_slack))
        check(abs((r["t_end"] - r["t_io_done"]) - r["cpu_time"]) <= EPS,
              "id %d: cpu_time disagrees with its times" % r["id"])
        # Independent of the two clock reads: the CPU phase really ran its iterations, at no
        # more than 20 billion per second (this VM does ~3 billion).
        check(r["status"] != "ok" or r["cpu_time"] >= r["iterations"] * CPU_FLOOR_S - 1e-7,
              "id %d: cpu_time %.9f s for %d iterations (at least %.9f s)"
              % (r["id"], r["cpu_time"], r["iterations"], r["iterations"] * CPU_FLOOR_S))
        check(r["host"] in hosts and r["host"] == rank_host.get(r["rank"]),
              "id %d: host %r of rank %d: summary says %r, allowed %r"
              % (r["id"], r["host"], r["rank"], rank_host.get(r["rank"]), sorted(hosts)))
    # Windows: rank 0 holds two windows of records, so no task of window k starts before every
    # task of window k - 2 has ended (its records were written first).
    ends = {}
    for r in recs:
        w = (r["id"] - 1) // window
        ends[w] = max(ends.get(w, 0.0), r["t_end"])
    early = [r["id"] for r in recs if (r["id"] - 1) // window >= 2 and
             r["t_start"] < ends[(r["id"] - 1) // window - 2] - EPS]
    check(not early, "%d tasks started before the window two back had ended (first: id %s)"
          % (len(early), early[:1]))
    text = "\n".join(canon) + "\n"
    with open(os.path.join(a.outdir, a.name + ".canonical"), "w") as f:
        f.write(text)
    check(text == "\n".join(want_canon) + "\n",
          "records differ from the oracle's (first: %r)"
          % (next(((x, y) for x, y in zip(canon, want_canon) if x != y), None),))

    check(s["schema"] == "evfarm.summary/1", "schema %r" % s.get("schema"))
    check(s["tasks"] == n and s["ranks"] == a.np, "summary tasks/ranks")
    check(s["failed"] == failed, "summary failed %d, oracle %d" % (s["failed"], failed))
    check(s["retried"] == retried, "summary retried %d, oracle %d" % (s["retried"], retried))
    check(s["exit_code"] == a.expect_exit, "summary exit_code")
    max_io = max(r["io_delay"] for r in recs)
    # EPS: each rank starts its clock as it leaves the start barrier, rank 0 not necessarily first.
    check(s["wall_s"] >= max_io - EPS, "wall %.6f < largest I/O delay %.6f" % (s["wall_s"], max_io))
    check(abs(s["max_io_s"] - max_io) < 1e-6, "max_io_s")
    check(s["lower_bound"]["t_lb_s"] <= s["wall_s"] + EPS,
          "lower bound %.6f above wall %.6f" % (s["lower_bound"]["t_lb_s"], s["wall_s"]))
    # --inflight: on no rank did more tasks overlap in time than K.
    k = int(o["inflight"])
    for rank in range(a.np):
        iv = [(r["t_start"], r["t_end"]) for r in recs if r["rank"] == rank]
        most = oracle.max_overlap(iv)
        check(k == 0 or most <= k, "rank %d: %d tasks in flight at once, --inflight %d"
              % (rank, most, k))
    # The summary's figures, derived again from the records by the oracle.
    want = oracle.summary(recs, a.np)
    tol = 2e-6 + 1e-9 * n  # the records' rounding: 1e-9 s for cpu_time, 1e-6 s for times
    lb = s["lower_bound"]
    for key, got in (("t_lb", lb["t_lb_s"]), ("task_term", lb["task_term_s"]),
                     ("backlog_term", lb["backlog_term_s"])):
        check(abs(got - want[key]) <= tol, "summary %s %.9f, records give %.9f"
              % (key, got, want[key]))
    for x in s["per_rank"]:
        check(abs(x["busy_s"] - want["busy"][x["rank"]]) <= tol,
              "rank %d busy %.9f, records give %.9f" % (x["rank"], x["busy_s"],
                                                          want["busy"][x["rank"]]))
    check(abs(s["imbalance"] - want["imbalance"]) <= 1e-4,
          "imbalance %.6f, records give %.6f" % (s["imbalance"], want["imbalance"]))
    check(s["bound_by"] == want["bound_by"] or abs(want["t_lb"] - 1.1 * max_io) < tol,
          "bound_by %s, records give %s" % (s["bound_by"], want["bound_by"]))
    # The run cannot beat the bound, and its CPU phases took at least the floor in all.
    check(s["cpu_total_s"] >= sum(r["iterations"] for r in recs if r["status"] == "ok")
          * CPU_FLOOR_S - 1e-6, "cpu_total_s below the iteration floor")
    per_rank = [0] * a.np
    for r in recs:
        per_rank[r["rank"]] += 1
    check([x["tasks"] for x in s["per_rank"]] == per_rank, "per-rank task counts")
    check(abs(s["cpu_total_s"] - sum(r["cpu_time"] for r in recs)) < 1e-3 + 1e-6 * n,
          "cpu_total_s")
    check(sorted(h["host"] for h in s["hosts"]) == sorted(set(rank_host.values())),
          "summary hosts %r" % s["hosts"])
    check(sum(h["ranks"] for h in s["hosts"]) == a.np, "summary hosts' rank counts")
    if a.expect_node_cpus:
        got = [x.get("node_cpus") for x in s["per_rank"]]
        check(got == [a.expect_node_cpus] * a.np, "node_cpus %r, want %d each (the CPUs the "
              "ranks may run on, not the machine's)" % (got, a.expect_node_cpus))
        check(s["oversubscribed"] == (a.np > a.expect_node_cpus),
              "oversubscribed %r with %d ranks on %d CPUs" % (s["oversubscribed"], a.np,
                                                                a.expect_node_cpus))
    return check.done()


if __name__ == "__main__":
    sys.exit(main())
