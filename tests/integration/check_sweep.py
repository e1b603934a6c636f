"""The scaling sweep end to end: evfarm-sweep under mpirun, then evfarm-report.

usage: check_sweep.py strong|weak|bad-input --mpirun M --sweep S --report R --outdir D

strong     sizes 1,2,4 at np 4, 1 warm-up + 2 runs each: the JSON validates, the CSV has one row
           per size and repetition, the PNG is a valid 1500x500 image, the report's table has a
           row per size; the model, on the sweep's JSON with synthetic walls of known
           coefficients, predicts a size left out of its fit
weak       sizes 1,2 at np 2: tasks grow with the ranks
bad-input  bad sweep options: exit 2, one 'evfarm-sweep:' line, no files
"""
import argparse
import csv
import json
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import Check  # noqa: E402

DEADLINE = 240


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def run_sweep(c, a, np_, args, prefix):
    for ext in (".json", ".csv", ".png", ".report.json"):
        if os.path.exists(prefix + ext):
            os.unlink(prefix + ext)
    cmd = [a.mpirun, "-np", str(np_), a.sweep, "--out", prefix] + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=DEADLINE)
    if not c(p.returncode == 0, "sweep exit %d:\n%s\n%s" % (p.returncode, p.stdout, p.stderr)):
        return None
    r = subprocess.run([a.report, prefix + ".json"], capture_output=True, text=True,
                       timeout=DEADLINE)
    print(r.stdout)
    if not c(r.returncode == 0, "report exit %d: %s" % (r.returncode, r.stderr)):
        return None
    return r.stdout


def check_files(c, prefix, mode, sizes, warmup, reps, tasks_of, schedule="dynamic"):
    s = json.load(open(prefix + ".json"))
    # The schedule passed through (after --) is the one every run used, and every file says so.
    c(s.get("schedule") == schedule and
      all(r["summary"]["options"]["schedule"] == r["summary"]["schedule"]["mode"] == schedule
          for r in s["runs"]), "schedule: header %r, want %s in every run" % (s.get("schedule"),
                                                                              schedule))
    c(s["schema"] == "evfarm.sweep/1" and s["mode"] == mode and s["sizes"] == sizes,
      "sweep header %r" % {k: s.get(k) for k in ("schema", "mode", "sizes")})
    runs = s["runs"]
    c(len(runs) == len(sizes) * (warmup + reps), "%d runs" % len(runs))
    for size in sizes:
        mine = [r for r in runs if r["size"] == size]
        c(sum(r["warmup"] for r in mine) == warmup, "size %d warm-ups" % size)
        c(sorted(r["rep"] for r in mine if not r["warmup"]) == list(range(reps)),
          "size %d repetitions" % size)
        for r in mine:
            m = r["summary"]
            c(m["schema"] == "evfarm.summary/1" and m["ranks"] == size == r["ranks"],
              "size %d: summary ranks %d" % (size, m["ranks"]))
            c(m["tasks"] == tasks_of(size) and m["failed"] == 0 and
              m["status"]["ok"] == tasks_of(size), "size %d: tasks %d" % (size, m["tasks"]))
            c(0 < m["lower_bound"]["t_lb_s"] <= m["wall_s"] + 2e-3, "size %d: T_lb vs wall" % size)
            c(isinstance(m["oversubscribed"], bool) and m["bound_by"] in ("io", "cpu"),
              "size %d: oversubscribed/bound_by" % size)
            c(len(m["model"]["ranks"]) == len(m["model"]["t_lb_s"]) == 13, "model curve")
    rows = list(csv.DictReader(open(prefix + ".csv")))
    c(len(rows) == len(sizes) * reps, "CSV has %d rows, want %d" % (len(rows), len(sizes) * reps))
    c(sorted((int(r["size"]), int(r["rep"])) for r in rows) ==
      sorted((z, k) for z in sizes for k in range(reps)), "CSV rows per size and repetition")
    for r in rows:
        c(int(r["ranks"]) == int(r["size"]) and int(r["tasks"]) == tasks_of(int(r["size"])) and
          r["schedule"] == schedule, "CSV row %r" % r)
    c(png_size(prefix + ".png") == (1500, 500), "PNG size %r" % (png_size(prefix + ".png"),))
    rep = json.load(open(prefix + ".report.json"))
    c([r["size"] for r in rep["rows"]] == sizes, "report rows %r" % rep["rows"])
    c(rep.get("schedule") == schedule, "report schedule %r" % rep.get("schedule"))
    # Fitted points are reproduced by construction when there are no more of them than terms;
    # the report must not claim a check then.
    m = rep["model"]
    if m["spare_points"] <= 0:
        c(m["within_tolerance"] is None, "an exact fit claims a tolerance check: %r" % m)
    c(any(p["ranks"] > sizes[-1] for p in m["predicted"]), "no prediction beyond")


def check_model_holdout(c, a, prefix):
    """The model on a point left out of its fit, against a known truth: the sweep's JSON with
    every wall replaced by T_lb(P) + 0.05 + 0.02 log2 P (the model's own form, coefficients the
    fit cannot know), but the largest size marked time-shared with a wall 5 s off, which must
    leave it out of the fit.  The report must recover the coefficients from the other sizes and
    predict the held-out size and larger ones to 1e-6 s."""
    import math
    s = json.load(open(prefix + ".json"))
    runs = [r for r in s["runs"] if not r["warmup"]]
    base = min(runs, key=lambda r: r["size"])["summary"]["model"]
    curve = dict(zip(base["ranks"], base["t_lb_s"]))
    top = max(r["size"] for r in runs)
    truth = lambda p: curve[p] + 0.05 + 0.02 * math.log2(p)  # noqa: E731
    for r in runs:
        m = r["summary"]
        m["model"] = base
        # The largest size is time-shared: its wall is far off the model and must not be fitted.
        m["wall_s"] = truth(m["ranks"]) + (5.0 if r["size"] == top else 0.0)
        m["oversubscribed"] = r["size"] == top
    synth = prefix + "-holdout"
    with open(synth + ".json", "w") as f:
        json.dump(s, f)
    p = subprocess.run([a.report, "--no-png", synth + ".json"], capture_output=True, text=True,
                       timeout=DEADLINE)
    if not c(p.returncode == 0, "report on the synthetic sweep: %s" % p.stderr):
        return
    m = json.load(open(synth + ".report.json"))["model"]
    c([f["ranks"] for f in m["fitted"]] == sorted(r for r in {x["size"] for x in runs} if r < top),
      "fitted sizes %r should leave out %d" % (m["fitted"], top))
    for q in m["predicted"]:
        if q["ranks"] in curve and q["ranks"] >= top:
            c(abs(q["wall_s"] - truth(q["ranks"])) < 1e-6,
              "held-out %d ranks: model %.9f s, truth %.9f s" % (q["ranks"], q["wall_s"],
                                                                 truth(q["ranks"])))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=["strong", "weak", "bad-input"])
    ap.add_argument("--mpirun", required=True)
    ap.add_argument("--sweep", required=True)
    ap.add_argument("--report", required=True)
    ap.add_argument("--outdir", required=True)
    a = ap.parse_args()
    c = Check("check_sweep " + a.case)
    d = os.path.join(a.outdir, "sweep")
    os.makedirs(d, exist_ok=True)
    small = ["--", "--cpu-min", "50000", "--cpu-max", "150000"]
    if a.case == "strong":
        prefix = os.path.join(d, "strong")
        out = run_sweep(c, a, 4, ["--sizes", "1,2,4", "--preset", "cpu", "--tasks", "200",
                                  "--warmup", "1", "--reps", "2"] + small, prefix)
        if out is not None:
            check_files(c, prefix, "strong", [1, 2, 4], 1, 2, lambda z: 200)
            check_model_holdout(c, a, prefix)
            for z in (1, 2, 4):
                c(any(l.split()[:3] == [str(z), "1", str(z)] for l in out.splitlines()),
                  "no table row for size %d" % z)
    elif a.case == "weak":
        prefix = os.path.join(d, "weak")
        # --opt=value works as in evfarm (one parser table for both)
        out = run_sweep(c, a, 2, ["--mode=weak", "--preset=cpu", "--tasks-per-rank=100",
                                  "--warmup", "0", "--reps", "1"] + small + ["--schedule",
                                                                             "static"], prefix)
        if out is not None:
            check_files(c, prefix, "weak", [1, 2], 0, 1, lambda z: 100 * z, "static")
            c("static schedule" in out.splitlines()[0], "report title: %r" % out[:200])
    else:
        bad = os.path.join(d, "bad")
        cases = [
            (2, ["--sizes", "1,8"], "--sizes: size 8 is more than the 2 ranks here"),
            (2, ["--sizes", "2,1"], "--sizes: sizes must increase"),
            (2, ["--mode", "fast"], "--mode: 'fast' is not strong or weak"),
            (2, ["--reps", "x"], "--reps: 'x' is not a whole number"),
            (2, ["--reps=x"], "--reps: 'x' is not a whole number"),
            (2, ["--preset=gpu"], "--preset: 'gpu' is not default or cpu"),
            (2, ["--", "--tasks", "5"], "--tasks: set by the sweep"),
            (2, ["--", "--journal", "j"], "--journal: not for a sweep"),
            (2, ["--", "--io-max", "-1"], "--io-max: '-1' must not be negative"),
            (2, ["--out", "/nonexistent-evfarm-dir/s"], "--out: cannot create"),
            (2, ["--mode", "weak", "--", "--kind", "http", "--urls", "/etc/hostname"],
             "--mode: weak needs tasks per rank; --kind http takes its tasks from --urls"),
            (2, ["--tasks", "9", "--", "--kind", "http", "--urls", "/etc/hostname"],
             "--tasks: --kind http takes its tasks from --urls"),
        ]
        for np_, args, want in cases:
            cmd = [a.mpirun, "-np", str(np_), a.sweep, "--out", bad] + args
            if "--out" in args:
                cmd = [a.mpirun, "-np", str(np_), a.sweep] + args
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
                code, err = p.returncode, p.stderr
            except subprocess.TimeoutExpired:
                code, err = None, "(hung)"
            ours = [l for l in err.splitlines() if l.startswith("evfarm-sweep:")]
            c(code == 2 and len(ours) == 1 and want in ours[0],
              "%s: exit %s, lines %r, want %r" % (args, code, ours, want))
            left = [f for f in os.listdir(d) if f.startswith("bad")]
            c(not left, "%s left %r" % (args, left))
        # evfarm-report on what is not a sweep's output: one line, exit 2, no traceback
        empty = os.path.join(d, "empty.json")
        open(empty, "w").close()
        summary = os.path.join(d, "a-summary.json")
        with open(summary, "w") as f:
            f.write('{"schema": "evfarm.summary/1", "wall_s": 1.0}\n')
        partial = os.path.join(d, "partial.json")
        with open(partial, "w") as f:
            f.write('{"schema": "evfarm.sweep/1"}\n')
        for path, want in ((empty, "empty.json: not an evfarm-sweep file (not JSON"),
                           (summary, "not an evfarm-sweep file (schema 'evfarm.summary/1') (an "
                                     "evfarm --json summary"),
                           (partial, "an evfarm-sweep file without what a report needs"),
                           (os.path.join(d, "no-such.json"), "no-such.json: No such file")):
            p = subprocess.run([sys.executable, a.report, path, "--no-png"], capture_output=True,
                               text=True, timeout=60)
            lines = p.stderr.splitlines()
            c(p.returncode == 2 and len(lines) == 1 and lines[0].startswith("evfarm-report: ")
              and want in lines[0], "evfarm-report %s: exit %d, %r, want %r"
              % (os.path.basename(path), p.returncode, lines[-3:], want))
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
