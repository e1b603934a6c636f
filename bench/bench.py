#!/usr/bin/env python3
"""evfarm benchmarks: prints figures, asserts nothing.

  bench/bench.py [--runs 5] [--build build] [--only default,cpu,overhead]

default   the default job (10,000 sim tasks) at np = 1 and 2: median in-program wall, the lower
          bound T_lb, efficiency = T_lb / wall, and the whole-process time including mpirun.
cpu       the CPU phase really runs: CPU time of 2,000 tasks for growing --cpu-max (io 0).
overhead  1,000,000 empty tasks (--io-max 0 --cpu-max 0) on one rank: runtime overhead per task,
          and rank 0's peak memory per task (peak RSS of the run minus that of a 1-task run).
progress  the default job at np = 2 with --progress 0 and 0.1, interleaved: what live progress
          costs (wall / T_lb of each).
schedule  static vs dynamic scheduling, run by run interleaved: the default job at np 1 and 2
          (wall / T_lb); a skewed CPU-heavy job at np 2 (--cpu-skew 3, 32 in flight:
          efficiency); 3 ranks bound to 2 cores (two share one: unequal speed; wall, beside 2
          ranks on 2 cores); 1,000,000 empty tasks at np 2 (us per task); the worst wait of a
          rank for an answer to its request.
journal   --journal on vs off, interleaved: the default job at np 1 and 2 (wall / T_lb); 10^7
          empty tasks at np 2 (records per second into the journal, rank-0 peak memory against
          the same run without a journal); the time from SIGUSR1 to the end of a drained run.
scale     --scale-tasks (10^8) empty tasks at np 2 with --output CSV: whole-process time,
          in-program wall, the tail after the last task (collect and write), rank 0's write
          time and rate, rank-0 peak memory; against `cat` of the same file into a new one (the
          floor for writing those bytes) and, with --baseline BUILD, the same run of another
          build (runs alternate).  The file is written beside --scale-dir (default: a temporary
          directory; it needs twice the CSV's size free).
records   records per second through the gathers: 10^7 empty tasks (--records-tasks) at np 1, 2
          and 4 (4 ranks share 2 cores here), without an output file and with --output CSV:
          tasks / in-program wall, rank-0 peak memory, and with --baseline BUILD the same runs
          of another build, interleaved run by run.
scaling   a CPU-heavy strong-scaling sweep (evfarm-sweep --preset cpu) at 1 and 2 ranks inside
          one mpirun, 1 warm-up and --runs runs per size, and its report (--png FILE keeps the
          plot).
Medians over --runs runs; the spread is min..max.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)


def run(build, np_, args, tmp, mpirun_args=()):
    """One evfarm run; returns (summary dict, whole-process seconds)."""
    summary = os.path.join(tmp, "summary.json")
    cmd = [os.path.join(TOP, "scripts", "evfarm-mpirun"), "-np", str(np_)] + list(mpirun_args) + [
           os.path.join(build, "evfarm"), "--quiet", "--progress", "0", "--json", summary] + args
    t = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    whole = time.monotonic() - t
    if p.returncode != 0:
        sys.exit("bench: %s failed (%d):\n%s" % (" ".join(cmd), p.returncode, p.stderr))
    with open(summary) as f:
        return json.load(f), whole


def med(xs):
    return statistics.median(xs)


def spread(xs, fmt):
    return ("%s..%s" % (fmt, fmt)) % (min(xs), max(xs))


def compiler(build):
    """The C compiler of the build directory, from its CMake cache."""
    try:
        for line in open(os.path.join(build, "CMakeCache.txt")):
            if line.startswith("CMAKE_C_COMPILER:"):
                cc = line.split("=", 1)[1].strip()
                out = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout
                return out.splitlines()[0] if out else cc
    except OSError:
        pass
    return "unknown compiler"


def machine(build):
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mpi = subprocess.run(["mpirun", "--version"], capture_output=True, text=True).stdout
    return "%d cores, %s, Linux %s, %s, built with %s" % (
        os.cpu_count(), cpu, platform.release(), mpi.splitlines()[0] if mpi else "mpirun ?",
        compiler(build))


def bench_default(build, runs, tmp, baseline=None):
    print("\n## Default job: 10,000 sim tasks, io 0.2-1.0 s, cpu 100k-500k iterations%s"
          % (" (this build and --baseline, run by run)" if baseline else ""))
    print("%-4s %-9s %-22s %-10s %-22s %-20s %s" % ("np", "build", "wall s (median, range)",
                                                   "T_lb s", "efficiency (median)",
                                                   "whole process s", "imbalance"))
    builds = [("this", build)] + ([("baseline", baseline)] if baseline else [])
    for np_ in (1, 2):
        got = {name: ([], [], [], [], []) for name, _ in builds}
        for name, b in builds:
            run(b, np_, [], tmp)  # warm-up: page cache, Open MPI's first start
        for _ in range(runs):
            for name, b in builds:
                s, whole = run(b, np_, [], tmp)
                walls, lbs, effs, wholes, imb = got[name]
                walls.append(s["wall_s"])
                lbs.append(s["lower_bound"]["t_lb_s"])
                effs.append(s["efficiency"])
                wholes.append(whole)
                imb.append(s["imbalance"])
        for name, _ in builds:
            walls, lbs, effs, wholes, imb = got[name]
            print("%-4d %-9s %.4f (%-14s) %.4f     %6.2f %% (%-12s) %.3f (%s)  %.3f" % (
                np_, name, med(walls), spread(walls, "%.4f"), med(lbs), 100 * med(effs),
                spread([100 * e for e in effs], "%.2f"), med(wholes), spread(wholes, "%.2f"),
                med(imb)))
            print("               wall / T_lb = %.4f (median of per-run ratios)" % med(
                [w / l for w, l in zip(walls, lbs)]))


def bench_progress(build, runs, tmp):
    """The default job at np = 2 without progress and with lines every 0.1 s (the floor, a
    hundred times the default rate), interleaved run by run: wall / T_lb of each."""
    print("\n## Progress cost: default job, np 2, --progress 0 vs --progress 0.1 (interleaved)")
    ratios = {"0": [], "0.1": []}
    for k in range(runs + 1):
        for iv in ("0", "0.1"):
            s, _ = run(build, 2, ["--progress", iv], tmp)
            if k:
                ratios[iv].append(s["wall_s"] / s["lower_bound"]["t_lb_s"])
    for iv, r in ratios.items():
        print("--progress %-4s wall / T_lb median %.4f (%s)" % (iv, med(r), spread(r, "%.4f")))
    print("cost of progress every 0.1 s: %+.2f %% of wall (difference of the medians)"
          % (100 * (med(ratios["0.1"]) - med(ratios["0"])) / med(ratios["0"])))


def bench_schedule(build, runs, tmp):
    """Static vs dynamic on the same job, alternating run by run (the VM's speed drifts)."""
    heavy = ["--tasks", "3000", "--io-min", "0", "--io-max", "0.05", "--cpu-min", "2000000",
             "--cpu-max", "4000000", "--inflight", "32"]
    bound = ["--bind-to", "core:overload-allowed", "--map-by", "core"]
    jobs = [("default job, np 1", 1, [], ()),
            ("default job, np 2", 2, [], ()),
            ("skewed (--cpu-skew 3), np 2", 2, heavy + ["--cpu-skew", "3"], ()),
            ("3 ranks bound to 2 cores", 3, heavy, bound),
            ("2 ranks on 2 cores (reference)", 2, heavy, bound),
            ("1,000,000 empty tasks, np 2", 2, ["--tasks", "1000000", "--io-max", "0",
                                                "--cpu-max", "0"], ())]
    print("\n## Scheduling: static vs dynamic, interleaved, %d runs each (medians, range)" % runs)
    print("%-32s %-8s %-24s %-10s %-18s %s" % ("job", "schedule", "wall s", "T_lb s",
                                               "T_lb / wall", "tasks/rank max-min"))
    worst = 0.0
    for name, np_, args, margs in jobs:
        got = {"static": [], "dynamic": []}
        for k in range(runs + 1):  # the first round warms up
            for sched in ("static", "dynamic"):
                s, _ = run(build, np_, args + ["--schedule", sched], tmp, margs)
                if k:
                    got[sched].append(s)
                if sched == "dynamic":
                    worst = max(worst, s["schedule"]["max_request_latency_s"])
        for sched, ss in got.items():
            walls = [x["wall_s"] for x in ss]
            effs = [x["efficiency"] for x in ss]
            spreads = [x["rank_tasks"]["max"] - x["rank_tasks"]["min"] for x in ss]
            print("%-32s %-8s %.4f (%-15s) %.4f     %6.2f %% (%s)  %d" % (
                name, sched, med(walls), spread(walls, "%.4f"),
                med([x["lower_bound"]["t_lb_s"] for x in ss]), 100 * med(effs),
                spread([100 * e for e in effs], "%.1f"), med(spreads)))
        ws, wd = med([x["wall_s"] for x in got["static"]]), med([x["wall_s"] for x in got["dynamic"]])
        # wall / T_lb per run cancels the machine's drifting speed (T_lb moves with it)
        rs = med([x["wall_s"] / x["lower_bound"]["t_lb_s"] for x in got["static"]])
        rd = med([x["wall_s"] / x["lower_bound"]["t_lb_s"] for x in got["dynamic"]])
        line = "%-32s dynamic / static: wall %.4f, wall / T_lb %.4f" % ("", wd / ws, rd / rs)
        if "empty" in name:
            line += "; dynamic costs %+.3f us/task over static" % ((wd - ws) / 1e6 * 1e6)
        print(line)
    print("worst wait of a rank for an answer to its request (all dynamic runs): %.4f s" % worst)


def bench_journal(build, runs, tmp):
    journal = os.path.join(tmp, "bench.journal")  # a directory: one file per rank and run

    def fresh():
        shutil.rmtree(journal, ignore_errors=True)
        return ["--journal", journal]

    print("\n## Journal: on vs off, interleaved, %d runs each (medians, range)" % runs)
    for np_ in (1, 2):
        got = {"off": [], "on": []}
        for k in range(runs + 1):
            for mode in ("off", "on"):
                s, _ = run(build, np_, fresh() if mode == "on" else [], tmp)
                if k:
                    got[mode].append(s["wall_s"] / s["lower_bound"]["t_lb_s"])
        print("default job np %d: wall / T_lb off %.4f (%s), on %.4f (%s): %+.2f %%" % (
            np_, med(got["off"]), spread(got["off"], "%.4f"), med(got["on"]),
            spread(got["on"], "%.4f"), 100 * (med(got["on"]) / med(got["off"]) - 1)))
    n = 10000000
    empty = ["--tasks", str(n), "--io-max", "0", "--cpu-max", "0"]
    got = {"off": [], "on": []}
    for k in range(min(runs, 3)):
        for mode in ("off", "on"):
            s, whole = run(build, 2, empty + (fresh() if mode == "on" else []), tmp)
            got[mode].append((s["wall_s"], s["rank0_maxrss_kib"], whole))
    size = sum(os.path.getsize(os.path.join(journal, f)) for f in os.listdir(journal))
    for mode, xs in got.items():
        w = med([x[0] for x in xs])
        print("10^7 empty tasks np 2, journal %-3s: wall %.3f s (%s), %s, rank-0 peak %.0f MiB, "
              "whole process %.2f s" % (mode, w, spread([x[0] for x in xs], "%.3f"),
                                        "%.2f M records/s into the journal (%.0f MB)" %
                                        (n / w / 1e6, size / 1e6) if mode == "on" else "-",
                                        med([x[1] for x in xs]) / 1024.0,
                                        med([x[2] for x in xs])))
    # Drain: SIGUSR1 to mpirun 2 s into a run of 4,000 tasks (0-2 s of I/O, 300 in flight),
    # --grace 0.5: seconds until the job has ended (mpirun included).
    import signal
    times = []
    for _ in range(runs):
        cmd = [os.path.join(TOP, "scripts", "evfarm-mpirun"), "-np", "2",
               os.path.join(build, "evfarm"), "--quiet", "--progress", "0", "--tasks", "4000",
               "--io-min", "0", "--io-max", "2", "--cpu-max", "20000", "--inflight", "300",
               "--grace", "0.5"] + fresh()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2)
        t = time.monotonic()
        p.send_signal(signal.SIGUSR1)  # the wrapper execs mpirun: this is mpirun
        p.wait(timeout=60)
        times.append(time.monotonic() - t)
        if p.returncode != 4:
            sys.exit("bench: drained run exit %d, want 4" % p.returncode)
    print("drain: SIGUSR1 to the end of the job %.3f s median (%s), --grace 0.5" % (
        med(times), spread(times, "%.3f")))


def bench_cpu(build, runs, tmp):
    print("\n## CPU phase: 2,000 tasks, io 0, cpu-min = cpu-max = K iterations, np 1")
    print("%-10s %-14s %-14s %s" % ("K", "cpu total s", "ns/iteration", "ratio to K/2"))
    prev = None
    for k in (0, 62500, 125000, 250000, 500000, 1000000):
        cpus = []
        for _ in range(runs):
            s, _ = run(build, 1, ["--tasks", "2000", "--io-max", "0", "--cpu-min", str(k),
                                  "--cpu-max", str(k)], tmp)
            cpus.append(s["cpu_total_s"])
        c = med(cpus)
        print("%-10d %-14.4f %-14s %s" % (k, c, "%.3f" % (c / (2000.0 * k) * 1e9) if k else "-",
                                          "%.2f" % (c / prev) if prev else "-"))
        prev = c


def bench_overhead(build, runs, tmp):
    n = 1000000
    print("\n## Overhead: %d empty tasks (--io-max 0 --cpu-max 0), np 1" % n)
    base, _ = run(build, 1, ["--tasks", "1", "--io-max", "0", "--cpu-max", "0"], tmp)
    for inflight in (0, 1000):
        walls, rss = [], []
        for _ in range(runs):
            s, _ = run(build, 1, ["--tasks", str(n), "--io-max", "0", "--cpu-max", "0",
                                  "--inflight", str(inflight)], tmp)
            walls.append(s["wall_s"])
            rss.append(s["rank0_maxrss_kib"])
        per_task_us = med(walls) / n * 1e6
        per_task_b = (med(rss) - base["rank0_maxrss_kib"]) * 1024.0 / n
        print("inflight %-6s overhead %.3f us/task (wall %.4f s, range %s); rank-0 peak memory "
              "%.1f bytes/task (records: 64)" % (inflight if inflight else "all", per_task_us,
                                                 med(walls), spread(walls, "%.4f"), per_task_b))


def scale_run(build, n, out, tmp):
    """One 10^8-style run; returns a dict of its figures."""
    s, whole = run(build, 2, ["--tasks", str(n), "--io-max", "0", "--cpu-max", "0",
                              "--inflight", "1000", "--output", out], tmp)
    size = os.path.getsize(out)
    dst = out + ".cat"
    t = time.monotonic()
    subprocess.run("cat '%s' > '%s' && sync -f '%s'" % (out, dst, dst), shell=True, check=True)
    cat_s = time.monotonic() - t
    os.unlink(dst)
    os.unlink(out)
    o = s.get("output") or {}
    return {"whole": whole, "wall": s["wall_s"], "setup": s["setup_s"], "last_end": s["last_end_s"],
            "collect": s["collect_s"], "write": o.get("write_s"), "bytes": size,
            "rss_kib": s["rank0_maxrss_kib"], "cat": cat_s}


def bench_scale(build, runs, tmp, n=10 ** 8, baseline=None, where=None):
    where = where or tmp
    print("\n## Scale: %d empty tasks at np 2, --inflight 1000, --output CSV (%s)" % (n, where))
    builds = [("this", build)] + ([("baseline", baseline)] if baseline else [])
    start = {}
    for name, b in builds:  # mpirun and MPI start-up: a 1-task run's whole time
        start[name] = med([run(b, 2, ["--tasks", "1"], tmp)[1] for _ in range(3)])
    got = {name: [] for name, _ in builds}
    for _ in range(runs):
        for name, b in builds:
            got[name].append(scale_run(b, n, os.path.join(where, "scale-%s.csv" % name), tmp))
    for name, _ in builds:
        rs = got[name]
        f = {k: med([r[k] for r in rs if r[k] is not None]) if any(r[k] is not None for r in rs)
             else None for k in rs[0]}
        tail = f["whole"] - start[name] - f["setup"] - f["last_end"]
        print("%-8s whole %.1f s (start-up %.2f s), wall %.2f s, last task at %.2f s, tail after "
              "it %.2f s (collect %.2f s in the summary)" % (name, f["whole"], start[name],
                                                             f["wall"], f["last_end"], tail,
                                                             f["collect"]))
        if f["write"] is not None:
            print("         %.0f MB written, the busiest writer busy %.2f s: %.0f MB/s; collect + "
                  "write %.2f s = %.2f x cat (%.2f s, %.0f MB/s)" % (f["bytes"] / 1e6, f["write"],
                                                      f["bytes"] / 1e6 / f["write"],
                                                      f["collect"] + f["write"],
                                                      (f["collect"] + f["write"]) / f["cat"],
                                                      f["cat"], f["bytes"] / 1e6 / f["cat"]))
        else:
            print("         %.0f MB written; tail after the last task %.2f s = %.2f x cat (%.2f s, "
                  "%.0f MB/s)" % (f["bytes"] / 1e6, tail, tail / f["cat"], f["cat"],
                                  f["bytes"] / 1e6 / f["cat"]))
        print("         rank-0 peak memory %.1f MiB" % (f["rss_kib"] / 1024.0))


def bench_records(build, runs, tmp, n=10 ** 7, baseline=None):
    print("\n## Records: %d empty tasks (--io-max 0 --cpu-max 0), M records/s = tasks / wall" % n)
    builds = [("this", build)] + ([("baseline", baseline)] if baseline else [])
    out = os.path.join(tmp, "records.csv")
    for np_ in (1, 2, 4):
        for what, extra in (("no output", []), ("--output CSV", ["--output", out])):
            got = {name: [] for name, _ in builds}
            for _ in range(runs):
                for name, b in builds:
                    s, _ = run(b, np_, ["--tasks", str(n), "--io-max", "0", "--cpu-max", "0"] +
                               extra, tmp)
                    got[name].append((n / s["wall_s"] / 1e6, s["rank0_maxrss_kib"] / 1024.0))
                    if extra:
                        os.unlink(out)
            print("np %d, %-12s " % (np_, what) + "; ".join(
                "%s %.2f M/s (%s), rank 0 %.0f MiB" % (
                    name, med([r for r, _ in got[name]]),
                    spread([r for r, _ in got[name]], "%.2f"), med([m for _, m in got[name]]))
                for name, _ in builds))


def bench_scaling(build, runs, tmp, png=None):
    print("\n## CPU-heavy strong scaling: evfarm-sweep --preset cpu --sizes 1,2 (2,000 tasks,"
          " 0-50 ms I/O, 2-4 M iterations)")
    prefix = os.path.join(tmp, "scaling")
    cmd = [os.path.join(TOP, "scripts", "evfarm-mpirun"), "-np", "2",
           os.path.join(build, "evfarm-sweep"), "--preset", "cpu", "--sizes", "1,2",
           "--warmup", "1", "--reps", str(runs), "--out", prefix]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        sys.exit("bench: %s failed:\n%s" % (" ".join(cmd), p.stderr))
    rep = [os.path.join(TOP, "scripts", "evfarm-report"), prefix + ".json"]
    if png:
        rep += ["--png", png]
    r = subprocess.run(rep, capture_output=True, text=True, timeout=120)
    print(r.stdout.rstrip())
    report = json.load(open(prefix + ".report.json"))
    for row in report["rows"]:
        print("ranks %d: wall median %.4f s (%.4f..%.4f), parallel efficiency %.1f %%, "
              "efficiency vs T_lb %.1f %%" % (row["ranks"], row["wall_median_s"], row["wall_min_s"],
                                               row["wall_max_s"], 100 * row["parallel_efficiency"],
                                               100 * row["efficiency_lb"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--only", default="default,cpu,overhead,schedule,scaling")
    ap.add_argument("--png", help="scaling: keep the report's plot here")
    ap.add_argument("--baseline", help="scale, default, records: also run this build, "
                    "interleaved")
    ap.add_argument("--scale-tasks", type=int, default=10 ** 8)
    ap.add_argument("--scale-dir", help="scale: write the CSV here")
    ap.add_argument("--records-tasks", type=int, default=10 ** 7)
    a = ap.parse_args()
    print("# evfarm benchmark, %s" % time.strftime("%Y-%m-%d"))
    print("machine: %s" % machine(a.build))
    print("runs per figure: %d" % a.runs)
    with tempfile.TemporaryDirectory() as tmp:
        for part in a.only.split(","):
            if part == "scaling":
                bench_scaling(a.build, a.runs, tmp, a.png)
            elif part == "default":
                bench_default(a.build, a.runs, tmp, a.baseline)
            elif part == "records":
                bench_records(a.build, a.runs, tmp, a.records_tasks, a.baseline)
            elif part == "scale":
                bench_scale(a.build, a.runs, tmp, a.scale_tasks, a.baseline, a.scale_dir)
            else:
                {"default": bench_default, "cpu": bench_cpu, "overhead": bench_overhead,
                 "progress": bench_progress, "schedule": bench_schedule,
                 "journal": bench_journal}[part](
                    a.build, a.runs, tmp)


if __name__ == "__main__":
    main()
