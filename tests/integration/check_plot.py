"""evfarm-plot against real runs: a run at np 3 drawn to a PNG of the requested size, and the
numbers behind the picture (--data) against the records (busy per rank = the sum of its CPU
phases, tasks per rank) and the summary (T_lb, wall, the backlog term recomputed by the script);
rows aggregated per node past --rows; bad input: one line, exit 2, no picture.

usage: check_plot.py --mpirun M --evfarm E --plot P --outdir D --case NAME
       check_plot.py --list
"""
import csv
import json
import os
import shutil
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import Check, cases_main, cases_of  # noqa: E402

TASKS = ["--tasks", "3000", "--io-min", "0", "--io-max", "0.3", "--cpu-min", "0",
         "--cpu-max", "200000", "--cpu-skew", "2", "--schedule", "static"]


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


def evfarm_run(c, name, fmt):
    """np 3 with --output and --json; returns (records path, summary path)."""
    out = os.path.join(c.dir, name + "." + fmt)
    js = os.path.join(c.dir, name + ".json")
    p = run([c.a.mpirun, "-np", "3", c.a.evfarm] + TASKS +
            ["--output", out, "--format", fmt, "--json", js, "--quiet"])
    c.check(p.returncode == 0, "evfarm: exit %d %s" % (p.returncode, p.stderr))
    return out, js


def png_size(path):
    """(width, height) from the PNG's signature and IHDR chunk, or None."""
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def records(path):
    if path.endswith(".jsonl"):
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def near(a, b, tol=1e-6):
    return abs(a - b) <= tol * max(1.0, abs(b))


def case_np3(c):
    """np 3: exit 0, a PNG of the requested size; per rank the tasks and the sum of CPU phases
    as the records say, T_lb and the wall as the summary, the backlog term the script computes
    equal to evfarm's."""
    recs_path, js = evfarm_run(c, "np3", "csv")
    png, data = os.path.join(c.dir, "np3.png"), os.path.join(c.dir, "np3.data.json")
    p = run([c.a.plot, recs_path, "--json", js, "-o", png, "--size", "1200x700", "--data", data])
    c.check(p.returncode == 0, "evfarm-plot: exit %d %s" % (p.returncode, p.stderr))
    c.check(os.path.exists(png) and png_size(png) == (1200, 700),
            "not a 1200x700 PNG: %r" % ((png_size(png) if os.path.exists(png) else "missing"),))
    if not c.check(os.path.exists(data), "no --data file"):
        return
    d = json.load(open(data))
    s = json.load(open(js))
    recs = records(recs_path)
    busy, tasks, host = [0.0] * 3, [0] * 3, {}
    for r in recs:
        busy[int(r["rank"])] += float(r["cpu_time"])
        tasks[int(r["rank"])] += 1
        host[int(r["rank"])] = r["host"]
    c.check(d["ranks"] == 3 and len(d["per_rank"]) == 3, "ranks: %r" % d["ranks"])
    for pr in d["per_rank"]:
        k = pr["rank"]
        c.check(pr["tasks"] == tasks[k], "rank %d: %d tasks, the records %d" % (k, pr["tasks"], tasks[k]))
        c.check(near(pr["busy_s"], busy[k], 1e-9),
                "rank %d: busy %r, the sum of its CPU phases %r" % (k, pr["busy_s"], busy[k]))
        c.check(pr["host"] == host[k], "rank %d: host %r, the records' %r" % (k, pr["host"], host[k]))
    # The skewed static run is uneven by construction (its iterations per rank; the measured CPU
    # times follow them only on idle cores), which is what the picture is for.
    work = [0] * 3
    for r in recs:
        work[int(r["rank"])] += int(r["iterations"])
    c.check(max(work) > 1.5 * min(work), "the run was not uneven: iterations %r" % work)
    c.check(d["t_lb_s"] == s["lower_bound"]["t_lb_s"], "T_lb %r, the summary's %r"
            % (d["t_lb_s"], s["lower_bound"]["t_lb_s"]))
    c.check(d["wall_s"] == s["wall_s"], "wall %r, the summary's %r" % (d["wall_s"], s["wall_s"]))
    c.check(near(d["backlog_term_s"], s["lower_bound"]["backlog_term_s"]),
            "backlog term %r, evfarm's %r" % (d["backlog_term_s"], s["lower_bound"]["backlog_term_s"]))
    c.check(d["rule"].startswith("one row per rank") and len(d["rows"]) == 3, "rows: %r" % d["rule"])
    c.check(d["records"] == len(recs) == 3000, "records: %r" % d["records"])
    c.check(near(d["cpu_binned_s"], sum(busy), 1e-6),
            "the timeline holds %r s of CPU work, the records %r" % (d["cpu_binned_s"], sum(busy)))


def case_jsonl_rows(c):
    """JSON Lines records, no summary, more ranks than --rows: one row per node (the mean of its
    ranks), the rule says so; T_lb computed from the records equals evfarm's."""
    recs_path, js = evfarm_run(c, "rows", "jsonl")
    png, data = os.path.join(c.dir, "rows.png"), os.path.join(c.dir, "rows.data.json")
    p = run([c.a.plot, recs_path, "-o", png, "--rows", "2", "--data", data])
    c.check(p.returncode == 0, "evfarm-plot: exit %d %s" % (p.returncode, p.stderr))
    c.check(os.path.exists(png) and png_size(png) == (1600, 1000), "not a default-size PNG")
    if not c.check(os.path.exists(data), "no --data file"):
        return
    d, s = json.load(open(data)), json.load(open(js))
    recs = records(recs_path)
    busy = [0.0] * 3
    for r in recs:
        busy[r["rank"]] += r["cpu_time"]
    c.check(d["rule"].startswith("one row per node") and len(d["rows"]) == 1,
            "rows: %r %r" % (d["rule"], d["rows"]))
    c.check(d["rows"][0]["ranks"] == 3 and near(d["rows"][0]["busy_mean_s"], sum(busy) / 3, 1e-9),
            "the node's row: %r, want the mean %r of its 3 ranks" % (d["rows"][0], sum(busy) / 3))
    c.check(near(d["t_lb_s"], s["lower_bound"]["t_lb_s"]),
            "T_lb from the records %r, evfarm's %r" % (d["t_lb_s"], s["lower_bound"]["t_lb_s"]))
    last_end = max(r["t_end"] for r in recs)
    c.check(d["wall_s"] == last_end, "wall without a summary %r, want the last end %r"
            % (d["wall_s"], last_end))


def case_exec(c):
    """The exec kind (its CPU phase is the parent's work on the child's pipes): per rank the
    tasks and the sum of CPU phases as the records say, and every second of CPU work in the
    timeline's bins (the work-left curve ends at zero)."""
    cmds = os.path.join(c.dir, "cmds.txt")
    with open(cmds, "w") as f:
        f.write("".join("echo line %d; sleep 0.0%d\n" % (k, k % 5) for k in range(300)))
    out, js = os.path.join(c.dir, "exec.csv"), os.path.join(c.dir, "exec.json")
    p = run([c.a.mpirun, "-np", "2", c.a.evfarm, "--kind", "exec", "--commands", cmds,
             "--inflight", "4", "--output", out, "--json", js, "--quiet"])
    c.check(p.returncode == 0, "evfarm --kind exec: exit %d %s" % (p.returncode, p.stderr))
    data = os.path.join(c.dir, "exec.data.json")
    p = run([c.a.plot, out, "--json", js, "-o", os.path.join(c.dir, "exec.png"), "--data", data])
    c.check(p.returncode == 0, "evfarm-plot: exit %d %s" % (p.returncode, p.stderr))
    if not c.check(os.path.exists(data), "no --data file"):
        return
    d, recs = json.load(open(data)), records(out)
    busy, tasks = [0.0] * 2, [0] * 2
    for r in recs:
        busy[int(r["rank"])] += float(r["cpu_time"])
        tasks[int(r["rank"])] += 1
    for pr in d["per_rank"]:
        k = pr["rank"]
        c.check(pr["tasks"] == tasks[k] and near(pr["busy_s"], busy[k], 1e-9),
                "rank %d: %r, the records: %d tasks, busy %r" % (k, pr, tasks[k], busy[k]))
    c.check(near(d["cpu_binned_s"], sum(busy), 1e-6),
            "the timeline holds %r s of CPU work, the records %r" % (d["cpu_binned_s"], sum(busy)))


def bad(c, name, args, want, setup=None):
    png = os.path.join(c.dir, name + ".png")
    if os.path.lexists(png):
        os.unlink(png)
    p = run([c.a.plot] + args + ([] if "-o" in args else ["-o", png]))
    lines = p.stderr.splitlines()
    c.check(p.returncode == 2, "%s: exit %d, want 2 (%s)" % (name, p.returncode, p.stderr))
    c.check(len(lines) == 1 and lines[0].startswith("evfarm-plot: ") and want in lines[0],
            "%s: want one line naming %r, got %r" % (name, want, lines))
    if "-o" not in args:
        c.check(not os.path.exists(png), "%s: a picture was written" % name)
    c.check(not [f for f in os.listdir(c.dir) if f.startswith(".evfarm-plot")],
            "%s: temporary files left" % name)


def case_bad_input(c):
    """A missing file, a file that is not evfarm output, a summary where the records go, an empty
    run, a JSON file that is not a summary or lacks its figures, a bad --size, and -o at a
    symlink: one line, exit 2."""
    d = c.dir
    other = os.path.join(d, "other.csv")
    with open(other, "w") as f:
        f.write("name,value\nx,1\n")
    empty = os.path.join(d, "empty.csv")
    with open(empty, "w") as f:
        f.write("id,rank,host,batch,iterations,value,io_delay,t_start,t_io_done,t_end,cpu_time,"
                "status,attempts,last_error\n")
    summ = os.path.join(d, "summary.json")
    with open(summ, "w") as f:
        f.write('{\n"schema": "evfarm.summary/1"\n}\n')
    notsum = os.path.join(d, "notsummary.json")
    with open(notsum, "w") as f:
        f.write('{"hello": 1}\n')
    one = os.path.join(d, "one.csv")
    with open(one, "w") as f:
        f.write(open(empty).read() + "1,0,vm,0,10,45,0.1,0,0.1,0.11,0.01,ok,1,\n")
    bad(c, "missing", [os.path.join(d, "no-such.csv")], "no-such.csv")
    bad(c, "other", [other], "not evfarm records")
    bad(c, "summary_as_records", [summ], "summary.json")
    bad(c, "empty", [empty], "no records")
    bad(c, "not_summary", [one, "--json", notsum], "not an evfarm summary")
    bad(c, "summary_without_ranks", [one, "--json", summ], "without its ranks")
    bad(c, "size", [one, "--size", "big"], "--size")
    target = os.path.join(d, "keep.txt")
    with open(target, "w") as f:
        f.write("keep me\n")
    link = os.path.join(d, "link.png")
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(target, link)
    bad(c, "symlink", [one, "-o", link], "not a regular file")
    c.check(open(target).read() == "keep me\n" and os.path.islink(link), "the symlink's target changed")
    # The good file draws (so the failures above are the bad input's, not the script's).
    p = run([c.a.plot, one, "-o", os.path.join(d, "one.png")])
    c.check(p.returncode == 0 and png_size(os.path.join(d, "one.png")) == (1600, 1000),
            "a one-record run: exit %d %s" % (p.returncode, p.stderr))


def main():
    class Case:
        pass

    def run_case(a, fn):
        c = Case()
        c.a = a
        c.check = Check("check_plot " + fn.__name__[5:])
        c.dir = os.path.join(a.outdir, "plot_" + fn.__name__[5:])
        shutil.rmtree(c.dir, ignore_errors=True)
        os.makedirs(c.dir)
        fn(c)
        return c.check.done()
    return cases_main(cases_of(globals()), ["--mpirun", "--evfarm", "--plot", "--outdir"], run_case)


if __name__ == "__main__":
    sys.exit(main())
