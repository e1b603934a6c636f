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
import re
import shutil
import signal
import struct
import subprocess
import sys
import time

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
    journal = os.path.join(c.dir, "exec-journal")
    p = run([c.a.mpirun, "-np", "2", c.a.evfarm, "--kind", "exec", "--commands", cmds,
             "--inflight", "4", "--output", out, "--json", js, "--quiet", "--journal", journal])
    c.check(p.returncode == 0, "evfarm --kind exec: exit %d %s" % (p.returncode, p.stderr))
    data = os.path.join(c.dir, "exec.data.json")
    p = run([c.a.plot, out, "--json", js, "-o", os.path.join(c.dir, "exec.png"), "--data", data,
             "--view", "timeline"])
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
    # By default exec records are drawn as rates: every job in one bin, per rank as recorded.
    rdata = os.path.join(c.dir, "exec.rates.json")
    p = run([c.a.plot, out, "--json", js, "-o", os.path.join(c.dir, "exec-rates.png"), "--data",
             rdata])
    if c.check(p.returncode == 0 and os.path.exists(rdata), "evfarm-plot --view auto: exit %d %s"
               % (p.returncode, p.stderr)):
        r = json.load(open(rdata))
        c.check(r["schema"] == "evfarm.plot.rates/1" and r["kind"] == "exec" and
                [x["tasks"] for x in r["per_rank"]] == tasks and len(r["slowest"]) == 10,
                "exec rates: %r" % {k: r[k] for k in ("schema", "kind", "per_rank")})
    # Its journal (records of 328 bytes: the exec extension) draws the same run.
    jdata = os.path.join(c.dir, "exec.journal.data.json")
    p = run([c.a.plot, journal, "--json", js, "-o", os.path.join(c.dir, "exec-journal.png"),
             "--data", jdata])
    if c.check(p.returncode == 0 and os.path.exists(jdata), "evfarm-plot of the exec journal: "
               "exit %d %s" % (p.returncode, p.stderr)):
        same_ranks(c, "exec journal", json.load(open(jdata)), own(recs), 2)


def case_http(c):
    """--kind http records drawn as rates (the default view for them): per rank the pages and
    body bytes the records say, every page in one bin of one line, each status counted, and the
    slowest host (a server that waits 80 ms) first with the median of its fetches' times."""
    from webservers import BadServer, Nginx, Site
    import statistics
    site = Site(os.path.join(c.a.outdir, "plot_http_site"), 300, 1000, 20000)
    with Nginx(site.root) as ng, BadServer() as bad:
        urls = (site.urls(ng.base(), range(1, 301)) +
                [bad.base() + "/delay/80/%d" % k for k in range(24)] +
                [bad.base().replace("127.0.0.1", "localhost") + "/status/404"] * 6)
        lst = os.path.join(c.dir, "urls.txt")
        with open(lst, "w") as f:
            f.write("\n".join(urls) + "\n")
        out, js = os.path.join(c.dir, "http.csv"), os.path.join(c.dir, "http.json")
        p = run([c.a.mpirun, "-np", "2", c.a.evfarm, "--kind", "http", "--urls", lst,
                 "--inflight", "8", "--output", out, "--json", js, "--quiet"])
    c.check(p.returncode == 1, "evfarm --kind http: exit %d %s" % (p.returncode, p.stderr))
    data, png = os.path.join(c.dir, "http.data.json"), os.path.join(c.dir, "http.png")
    p = run([c.a.plot, out, "--json", js, "-o", png, "--data", data, "--size", "1200x900"])
    c.check(p.returncode == 0 and png_size(png) == (1200, 900),
            "evfarm-plot: exit %d %s" % (p.returncode, p.stderr))
    if not c.check(os.path.exists(data), "no --data file"):
        return
    d, recs = json.load(open(data)), records(out)
    c.check(d["schema"] == "evfarm.plot.rates/1" and d["kind"] == "http", "view %r" % d["schema"])
    tasks, nbytes, st = [0, 0], [0, 0], {}
    for r in recs:
        tasks[int(r["rank"])] += 1
        nbytes[int(r["rank"])] += int(r["bytes"])
        st[r["status"]] = st.get(r["status"], 0) + 1
    for pr in d["per_rank"]:
        k = pr["rank"]
        c.check(pr["tasks"] == tasks[k] and pr["bytes"] == nbytes[k],
                "rank %d: %r, the records: %d pages, %d bytes" % (k, pr, tasks[k], nbytes[k]))
    c.check(d["status"] == st, "statuses %r, the records' %r" % (d["status"], st))
    binned = sum(v * d["bin_s"] for row in d["tasks_per_s"] for v in row)
    c.check(near(binned, len(recs), 1e-6), "%r pages in the bins, %d records" % (binned, len(recs)))
    mb = sum(v * d["bin_s"] for row in d["mb_per_s"] for v in row)
    c.check(near(mb, sum(nbytes) / 1e6, 1e-6), "%r MB in the bins, %r" % (mb, sum(nbytes) / 1e6))
    slow = bad.base().split("//")[1]
    times = [float(r["t_total"]) for r in recs if "/delay/" in r["url"]]
    top = d["slowest"][0] if d["slowest"] else {}
    c.check(top.get("who") == slow and top.get("tasks") == 24 and
            near(top.get("median_s", -1), statistics.median(times), 1e-9),
            "slowest %r, want %s with median %r" % (top, slow, statistics.median(times)))
    c.check(len(d["slowest"]) == 3, "%d hosts, want 3" % len(d["slowest"]))
    # --view timeline draws the loops' timeline from the same records.
    p = run([c.a.plot, out, "--json", js, "-o", png, "--data", data, "--view", "timeline"])
    c.check(p.returncode == 0 and json.load(open(data))["schema"] == "evfarm.plot/1",
            "--view timeline: exit %d %s" % (p.returncode, p.stderr))


def journal_frames(jdir):
    """(header bytes, [(magic, frame bytes)]) of a journal directory's files, split by the
    frames' own sizes, run after run (each run's rank 0 file first: its run frame, then its
    records, then the other ranks'): the frames of one journal file holding every run, as an
    evfarm before journal directories wrote it."""
    names = sorted((int(m.group(1)), int(m.group(2)), f) for f in os.listdir(jdir)
                   for m in [re.match(r"^run-(\d+)\.rank-(\d+)\.journal$", f)] if m)
    head, frames = None, []
    for _, _, f in names:
        d = open(os.path.join(jdir, f), "rb").read()
        at = d.index(b"\n") + 1
        head = head or d[:at]
        while at + 16 <= len(d):
            n = struct.unpack_from("<I", d, at + 4)[0]
            frames.append((d[at:at + 4], d[at:at + 16 + n]))
            at += 16 + n
    return head, frames


def journal_size(jdir):
    try:
        return sum(os.path.getsize(os.path.join(jdir, f)) for f in os.listdir(jdir))
    except OSError:
        return 0


def own(rows):
    """Per rank (tasks, busy) and the hosts of a run's own records (an output's with a host)."""
    per = {}
    for r in rows:
        if r["host"]:
            t = per.setdefault(int(r["rank"]), [0, 0.0, r["host"]])
            t[0] += 1
            t[1] += float(r["cpu_time"])
    return per


def same_ranks(c, what, d, per, nranks):
    c.check(d["ranks"] == nranks, "%s: %r ranks, want %d" % (what, d["ranks"], nranks))
    for pr in d["per_rank"]:
        tasks, busy, host = per.get(pr["rank"], [0, 0.0, pr["host"]])
        c.check(pr["tasks"] == tasks and near(pr["busy_s"], busy, 1e-6) and pr["host"] == host,
                "%s: rank %d %r, its output's: %d tasks, busy %r, host %r"
                % (what, pr["rank"], pr, tasks, busy, host))


def case_journal(c):
    """A journaled run drained by SIGUSR1 at np 2, then --resume at np 3: the journal's runs
    drawn apart (--run 1, and the last by default), each with the ranks, tasks, busy time and
    hosts of that run's output, T_lb as its summary; the resumed output drawn without the earlier
    run's records; a torn tail ends the journal and a damaged frame is skipped, as evfarm's reader does;
    a version 1 journal (no run frames) draws its records as one run; --run past the runs, and a
    summary of another run: exit 2."""
    journal = os.path.join(c.dir, "journal")
    opts = ["--tasks", "6000", "--io-min", "0", "--io-max", "4", "--cpu-min", "0",
            "--cpu-max", "200000", "--inflight", "300", "--journal", journal, "--quiet",
            "--progress", "0"]
    f = {k: os.path.join(c.dir, k) for k in ("a.csv", "a.json", "b.csv", "b.json")}
    p = subprocess.Popen([c.a.mpirun, "-np", "2", c.a.evfarm] + opts +
                         ["--output", f["a.csv"], "--json", f["a.json"], "--grace", "0.3"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # drain once the run has journaled records (so its handlers are in place)
    deadline = time.time() + 60
    while time.time() < deadline and p.poll() is None and (
            journal_size(journal) < 40000):
        time.sleep(0.05)
    # While the job runs: what reached the journal so far draws (a frame being written is a
    # torn tail, ignored).
    live_data = os.path.join(c.dir, "live.data.json")
    q = run([c.a.plot, journal, "-o", os.path.join(c.dir, "live.png"), "--data", live_data])
    running = p.poll() is None
    p.send_signal(signal.SIGUSR1)
    _, err = p.communicate(timeout=120)
    c.check(running, "the first run ended before the live picture was drawn")
    if c.check(q.returncode == 0, "the running job's journal: exit %d %s" % (q.returncode, q.stderr)):
        live = json.load(open(live_data))
        c.check(len(live["journal"]["runs"]) == 1 and live["records"] >= 300 and
                live["ranks"] == 2, "the running job's journal: %r records on %r ranks, runs %r"
                % (live["records"], live["ranks"], live["journal"]["runs"]))
    # MPICH's Hydra (4.0) sometimes exits 0 whatever its ranks returned (pmodels/mpich#7057):
    # the drain is then read from the summary, which every rank's exit agrees with.
    hydra = "mpich" in os.environ.get("EVF_MPIEXEC", "") or "hydra" in os.environ.get("EVF_MPIEXEC", "")
    c.check(p.returncode == 4 or (hydra and p.returncode == 0),
            "the drained run: exit %d %s" % (p.returncode, err[-800:]))
    r = run([c.a.mpirun, "-np", "3", c.a.evfarm] + opts +
            ["--resume", "--output", f["b.csv"], "--json", f["b.json"]])
    c.check(r.returncode == 0, "the resumed run: exit %d %s" % (r.returncode, r.stderr[-800:]))
    a_rows, b_rows = records(f["a.csv"]), records(f["b.csv"])
    sa, sb = json.load(open(f["a.json"])), json.load(open(f["b.json"]))
    c.check(sa["partial"] is True and sa["exit_code"] == 4, "the first run did not drain: %r %r"
            % (sa["partial"], sa["exit_code"]))
    c.check(0 < len(a_rows) < 6000 and len(b_rows) == 6000 and
            sb["journal"]["resumed"] == len(a_rows), "runs: %d then %d records, resumed %r"
            % (len(a_rows), len(b_rows), sb["journal"]))

    def plot(name, args, want=0):
        data = os.path.join(c.dir, name + ".data.json")
        q = run([c.a.plot] + args + ["--data", data] + ([] if "-o" in args else
                                                        ["-o", os.path.join(c.dir, name + ".png")]))
        c.check(q.returncode == want, "%s: exit %d, want %d: %s" % (name, q.returncode, want,
                                                                   q.stderr))
        return (json.load(open(data)) if want == 0 and os.path.exists(data) else None), q

    # The last run, by default: the resumed run's own records, as its output and summary say.
    d2, q = plot("last", [journal])
    if d2:
        c.check(d2["journal"]["run"] == 2 and [x["records"] for x in d2["journal"]["runs"]] ==
                [len(a_rows), len(b_rows) - len(a_rows)] and
                [x["ranks"] for x in d2["journal"]["runs"]] == [2, 3],
                "the journal's runs: %r" % d2["journal"])
        same_ranks(c, "journal run 2", d2, own(b_rows), 3)
        c.check(near(d2["t_lb_s"], sb["lower_bound"]["t_lb_s"]), "run 2: T_lb %r, its summary's %r"
                % (d2["t_lb_s"], sb["lower_bound"]["t_lb_s"]))
        last = max(float(x["t_end"]) for x in b_rows if x["host"])
        c.check(abs(d2["wall_s"] - last) < 1e-6, "run 2: wall %r, its last end %r"
                % (d2["wall_s"], last))
        t0s = [x["start"] for x in d2["journal"]["runs"]]
        c.check(t0s[0] < t0s[1] <= time.time(), "the runs' starts: %r" % t0s)
    c.check("journal run 2 of 2" in q.stdout, "stdout: %r" % q.stdout)
    # Run 1, the drained one: its own output.
    d1, _ = plot("first", [journal, "--run", "1"])
    if d1:
        same_ranks(c, "journal run 1", d1, own(a_rows), 2)
        c.check(near(d1["t_lb_s"], sa["lower_bound"]["t_lb_s"]), "run 1: T_lb %r, its summary's %r"
                % (d1["t_lb_s"], sa["lower_bound"]["t_lb_s"]))
    # With run 2's summary: its wall.
    dj, _ = plot("with-summary", [journal, "--json", f["b.json"]])
    if dj:
        c.check(dj["wall_s"] == sb["wall_s"], "wall %r, the summary's %r" % (dj["wall_s"], sb["wall_s"]))
    # The resumed output: the earlier run's records left out (its host is empty).
    db, _ = plot("resumed-output", [f["b.csv"], "--json", f["b.json"]])
    if db:
        c.check(db["earlier_runs_records"] == len(a_rows) and
                db["records"] == len(b_rows) - len(a_rows),
                "resumed output: %r records, %r earlier" % (db["records"], db["earlier_runs_records"]))
        same_ranks(c, "resumed output", db, own(b_rows), 3)
    # A torn tail (the last frame cut) ends the journal there; a damaged frame is skipped, as
    # evfarm's reader skips it, and the frames after it are read (one file of every run: an
    # evfarm before journal directories wrote it so, and a file of a directory is read alike).
    head, frames = journal_frames(journal)
    torn = os.path.join(c.dir, "torn.journal")
    body = b"".join(x for _, x in frames)
    with open(torn, "wb") as out:
        out.write(head + body[:-30])
    dt_, _ = plot("torn", [torn])
    if dt_:
        c.check(dt_["journal"]["torn_bytes"] == len(frames[-1][1]) - 30 and
                dt_["records"] == len(b_rows) - len(a_rows) - 1,
                "torn: %r records, torn %r" % (dt_["records"], dt_["journal"]["torn_bytes"]))
    k = 1 + len(a_rows) // 2  # a record frame of run 1: one bit of its record flipped
    bad_ = bytearray(head + b"".join(x for _, x in frames[:k]) + b"".join(x for _, x in frames[k:]))
    at = len(head) + sum(len(x) for _, x in frames[:k]) + 20
    c.check(frames[k][0] == b"EVFR", "frame %d is not a record's" % k)
    bad_[at] ^= 1
    damaged = os.path.join(c.dir, "damaged.journal")
    with open(damaged, "wb") as out:
        out.write(bytes(bad_))
    dd, _ = plot("damaged", [damaged])
    if dd:
        runs_ = dd["journal"]["runs"]
        c.check(len(runs_) == 2 and runs_[0]["records"] == len(a_rows) - 1 and
                dd["records"] == len(b_rows) - len(a_rows) and
                dd["journal"]["damaged_bytes"] == len(frames[k][1]) and
                dd["journal"]["torn_bytes"] == 0,
                "damaged at frame %d: %r records in runs %r, %r" % (
                    k, dd["records"], [r["records"] for r in runs_], dd["journal"]))
    # Version 1: no run frames; its records drawn as one run, ranks from the records.
    v1 = os.path.join(c.dir, "v1.journal")
    with open(v1, "wb") as out:
        out.write(b"evfarm-journal 1 " + head[len("evfarm-journal 2 "):] +
                  b"".join(x for m, x in frames if m == b"EVFR"))
    dv, _ = plot("v1", [v1])
    if dv:
        c.check(len(dv["journal"]["runs"]) == 1 and dv["journal"]["runs"][0]["start"] is None and
                dv["records"] == len(b_rows) and dv["ranks"] == 3,
                "version 1: %r records, %r ranks, runs %r" % (dv["records"], dv["ranks"],
                                                             dv["journal"]["runs"]))
    # Bad input.
    _, q = plot("run3", [journal, "--run", "3"], 2)
    c.check("holds 2 runs" in q.stderr, "--run 3: %r" % q.stderr)
    _, q = plot("other-summary", [journal, "--run", "1", "--json", f["b.json"]], 2)
    c.check("not the summary of run 1" in q.stderr, "another run's summary: %r" % q.stderr)
    _, q = plot("run-csv", [f["b.csv"], "--run", "1"], 2)
    c.check("not a journal" in q.stderr, "--run with records: %r" % q.stderr)
    norec = os.path.join(c.dir, "norec.journal")
    with open(norec, "wb") as out:
        out.write(head + frames[0][1])
    _, q = plot("norec", [norec], 2)
    c.check("no records" in q.stderr, "a journal without records: %r" % q.stderr)
    v3 = os.path.join(c.dir, "v3.journal")
    with open(v3, "wb") as out:
        out.write(b"evfarm-journal 3 " + head[len("evfarm-journal 2 "):] + body)
    _, q = plot("v3", [v3], 2)
    c.check("version 3" in q.stderr, "version 3: %r" % q.stderr)


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
    # a rank number no job has: refused, not an array of a billion ranks (it took 20 GB)
    huge = os.path.join(d, "huge_rank.csv")
    with open(huge, "w") as f:
        f.write(open(empty).read() + "1,1000000000,vm,0,10,45,0.1,0,0.1,0.11,0.01,ok,1,\n")
    bad(c, "huge_rank", [huge], "rank 1000000000: more ranks than evfarm-plot draws")
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
