"""The journal (--journal DIR, --resume, --retry-failed) under mpirun: every record of a run
reaches the journal, each in the file of the rank that ran it, decoded here by an independent
reader (the documented frame format, XXH3-64 by python3-xxhash) and checked against the oracle;
a journal file cut at every byte offset of its last frame is accepted, the cut record rerun; a run whose rank 1 or rank 0 is killed with SIGKILL
ends within 10 s, and --resume at another rank count and schedule completes it with every id
once, equal to an uninterrupted run; a journal of other tasks is refused; --retry-failed reruns
the failed ids.  One ctest per case (--list, --case); every run under a timeout."""
import csv
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time

import xxhash  # Debian's python3-xxhash (the driver runs under /usr/bin/python3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402
from testlib import Check, cases_main, cases_of, process_rank  # noqa: E402

RECORD = struct.Struct("<QddddIiIIIBBBB")  # record.h, 64 bytes
STATUS = ["ok", "io_error", "not_run", "timeout", "http_error", "truncated", "error", "exit",
          "signal", "spawn_error", "opted_out",
          "robots_disallowed"]
LIMIT = 120  # seconds any one run may take


RUN_FIXED = struct.Struct("<qIIQQ")  # journal.h: struct evf_journal_run's fixed fields


def read_journal_file(path):
    """(version, header words, runs, bytes of the valid part) of one journal file, per the
    docs/long-runs.md's format: each run a dict of its run frame's fields (none for records before any run
    frame: version 1, or a file of a rank other than 0) with its records."""
    d = open(path, "rb").read()
    nl = d.index(b"\n")
    head = d[:nl].decode()
    m = re.match(r"evfarm-journal ([12]) ", head)
    assert m, head
    version = int(m.group(1))
    words = dict(w.split("=", 1) for w in head[m.end():].split(" "))
    size = int(words["record_size"])
    at, runs = nl + 1, []
    while at + 16 <= len(d):
        magic, n = struct.unpack_from("<4sI", d, at)
        body = d[at + 8:at + 8 + n]
        if len(body) != n or at + 16 + n > len(d) or not (
                (magic == b"EVFR" and n == size) or (magic == b"EVFS" and version == 2)):
            break
        if struct.unpack_from("<Q", d, at + 8 + n)[0] != xxhash.xxh3_64_intdigest(body):
            break
        if magic == b"EVFS":
            t0, ranks, nodes, todo, held = RUN_FIXED.unpack_from(body)
            node_of = list(struct.unpack_from("<%dI" % ranks, body, RUN_FIXED.size))
            strings = body[RUN_FIXED.size + 4 * ranks:].split(b"\0")
            assert len(strings) == 3 + nodes and strings[-1] == b"", strings
            runs.append({"t0_unix": t0 * 1e-9, "ranks": ranks, "nodes": nodes, "todo": todo,
                         "held": held, "node_of": node_of, "version": strings[0].decode(),
                         "slurm_job": strings[1].decode(),
                         "node_names": [x.decode() for x in strings[2:-1]], "recs": []})
        else:
            if not runs:
                runs.append({"t0_unix": None, "recs": []})
            v = RECORD.unpack(body[:64])
            runs[-1]["recs"].append({
                "value": v[0], "t_start": v[1], "t_io_done": v[2], "t_end": v[3],
                "cpu_time": v[4], "id": v[5], "rank": v[6], "batch": v[7], "iterations": v[8],
                "io_delay_us": v[11] << 32 | v[9], "status": STATUS[v[10]], "attempts": v[12],
                "last_error": STATUS[v[13]] if v[13] else ""})
        at += 16 + n
    return version, words, runs, at


FILE_RE = re.compile(r"^run-(\d+)\.rank-(\d+)\.journal$")


def journal_files(d):
    """[(run, rank, path)] of a journal directory's files, by run, then rank."""
    out = []
    for f in os.listdir(d):
        m = FILE_RE.match(f)
        if m:
            out.append((int(m.group(1)), int(m.group(2)), os.path.join(d, f)))
    return sorted(out)


def read_journal_runs(d):
    """(version, header words, runs, {path: bytes of its valid part}) of a journal directory:
    its runs in order, each the run frame's fields (from its rank 0's file) with the records of
    all its files.  Every file must carry the same header."""
    runs, ends, words, version = {}, {}, None, 0
    for run, rank, path in journal_files(d):
        v, w, fruns, at = read_journal_file(path)
        assert words is None or w == words, (path, w, words)
        words, version, ends[path] = w, max(version, v), at
        for k, fr in enumerate(fruns):
            e = runs.setdefault((run, k), {"t0_unix": None, "recs": []})
            for key, val in fr.items():
                if key != "recs" and (key != "t0_unix" or val is not None):
                    e[key] = val
            e["recs"] += fr["recs"]
    return version, words, [runs[k] for k in sorted(runs)], ends


def read_journal(d):
    """(header words, [record dicts] of every run, {path: bytes of its valid part})."""
    _, words, runs, ends = read_journal_runs(d)
    return words, [r for run in runs for r in run["recs"]], ends


class Job:
    def __init__(self, a, c, name, opts):
        self.a, self.c, self.opts = a, c, opts
        self.dir = os.path.join(a.outdir, "journal-" + name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.journal = self.path("journal")

    def path(self, f):
        return os.path.join(self.dir, f)

    def cmd(self, np_, extra, out="out.csv"):
        return [self.a.mpirun, "-np", str(np_), self.a.evfarm, "--progress", "0", "--quiet",
                "--journal", self.journal, "--output", self.path(out)] + self.opts + extra

    def run(self, np_, extra, expect=0, out="out.csv", env=None):
        p = subprocess.run(["timeout", "-k", "5", str(LIMIT)] + self.cmd(np_, extra, out),
                           capture_output=True, text=True, env=env)
        self.c(p.returncode == expect, "exit %d, want %d: %s" % (p.returncode, expect,
                                                                 p.stderr[-2000:]))
        return p

    def oracle(self, o, k):
        return oracle.task(o.get("seed", 1), k, o["io_min"], o["io_max"], o["cpu_min"],
                           o["cpu_max"], o.get("fail_rate", 0.0), 0.0, 0.0, o.get("retries", 0))

    def check_output(self, o, n, out="out.csv", what="output"):
        """Every id once, in order, with the oracle's values."""
        rows = list(csv.DictReader(open(self.path(out))))
        self.c([int(r["id"]) for r in rows] == list(range(1, n + 1)),
               "%s: ids not 1..%d once each" % (what, n))
        bad = [r["id"] for r in rows
               if oracle.canonical_line(self.oracle(o, int(r["id"]))) !=
               "%s,%s,%s,%s,%s,%s,%s" % (r["id"], r["iterations"], r["value"], r["io_delay"],
                                         r["status"], r["attempts"], r["last_error"])]
        self.c(not bad, "%s: %d records differ from the oracle, first ids %r" % (what, len(bad),
                                                                               bad[:5]))
        return rows


def wait_journaled(c, path, n, proc, limit=120):
    """Until the journal directory `path` holds `n` records of its last run (the state a test needs
    before it stops the job: the launcher has started every rank and records flow), or the job
    ended, or `limit` seconds passed (a slow launcher takes seconds; never a fixed sleep)."""
    end = time.monotonic() + limit
    got = 0
    while time.monotonic() < end and proc.poll() is None:
        try:
            _, _, runs, _ = read_journal_runs(path)
            got = len(runs[-1]["recs"]) if runs else 0
        except (OSError, ValueError, AssertionError, struct.error, IndexError):
            got = 0
        if got >= n:
            return True
        time.sleep(0.05)
    return c(False, "the journal never held %d records (%d) before the job ended or %d s"
             % (n, got, limit))


def opts_of(o):
    return ["--tasks", str(o["tasks"]), "--io-min", str(o["io_min"]), "--io-max",
            str(o["io_max"]), "--cpu-min", str(o["cpu_min"]), "--cpu-max", str(o["cpu_max"])]


SMALL = {"tasks": 3000, "io_min": 0, "io_max": 0.2, "cpu_min": 0, "cpu_max": 20000}


def is_launcher(argv0):
    """mpirun, mpiexec, or a suffixed one (mpiexec.openmpi: the launcher the build found)."""
    return re.match(rb"^(mpirun|mpiexec|orterun)(\.[a-z]+)?$", os.path.basename(argv0)) is not None


def case_every_record(c, a):
    """np 2: the journal holds every record once, as the output has it, with the oracle's
    values; its header names the task set."""
    j = Job(a, c, "every-record", opts_of(SMALL))
    j.run(2, [])
    words, recs, _ = read_journal(j.journal)
    c(words["kind"] == "sim" and words["tasks"] == "3000" and words["seed"] == "1" and
      words["record_size"] == "64", "header %r" % words)
    c(sorted(r["id"] for r in recs) == list(range(1, 3001)), "journal ids not 1..3000 once")
    rows = {int(r["id"]): r for r in j.check_output(SMALL, 3000)}
    same = all(rows[r["id"]]["rank"] == str(r["rank"]) and rows[r["id"]]["value"] == str(r["value"])
               and abs(float(rows[r["id"]]["t_end"]) - r["t_end"]) < 2e-6 for r in recs)
    c(same, "journal records differ from the output's")
    c({r["rank"] for r in recs} == {0, 1}, "records of both ranks in the journal")
    files = journal_files(j.journal)
    c([(run, rank) for run, rank, _ in files] == [(1, 0), (1, 1)],
      "journal files %r, want run 1 of ranks 0 and 1" % [os.path.basename(f[2]) for f in files])
    for run, rank, path in files:  # each rank wrote its own records, and only those
        _, _, fruns, _ = read_journal_file(path)
        mine = [r for fr in fruns for r in fr["recs"]]
        c(mine and all(r["rank"] == rank for r in mine),
          "%s: %d records, of ranks %r" % (os.path.basename(path), len(mine),
                                           sorted({r["rank"] for r in mine})))
        c(("ranks" in fruns[0]) == (rank == 0) if fruns else False,
          "%s: a run frame in rank %d's file: %r" % (os.path.basename(path), rank,
                                                     "ranks" in fruns[0]))


def case_dynamic_np3(c, a):
    """np 3, dynamic batches of 50 (a rank's ids interleave with the others'): each rank's file
    holds its records, the three together every id once, as the output has them."""
    j = Job(a, c, "dynamic-np3", opts_of(SMALL))
    j.run(3, ["--schedule", "dynamic", "--batch-size", "50"])
    _, recs, _ = read_journal(j.journal)
    ids = sorted(r["id"] for r in recs)
    c(ids == list(range(1, 3001)), "journal: %d records, %d distinct, want ids 1..3000 once"
      % (len(ids), len(set(ids))))
    c({r["rank"] for r in recs} == {0, 1, 2}, "records of all three ranks in the journal")
    rows = {int(r["id"]): r for r in j.check_output(SMALL, 3000)}
    c(all(rows[r["id"]]["rank"] == str(r["rank"]) for r in recs),
      "the journal's ranks differ from the output's")


def case_torn_tail(c, a):
    """The journal cut at every byte offset of its last frame (and right after the header):
    --resume accepts it, drops the cut tail, reruns exactly the missing ids, and the output has
    every id once with the oracle's values."""
    o = {"tasks": 200, "io_min": 0, "io_max": 0, "cpu_min": 0, "cpu_max": 1000}
    j = Job(a, c, "torn", opts_of(o))
    j.run(1, [])
    jfile = journal_files(j.journal)[0][2]
    whole = open(jfile, "rb").read()
    words, recs, ends = read_journal(j.journal)
    end = ends[jfile]
    frame = 16 + int(words["record_size"])
    head = whole.index(b"\n") + 1
    c(whole[head:head + 4] == b"EVFS", "no run frame after the header")
    first = head + 16 + struct.unpack_from("<I", whole, head + 4)[0]  # the first record's frame
    c(end == len(whole) and len(recs) == 200, "the whole journal reads back")
    last = len(whole) - frame
    # -1: whole, but one byte of it changed; cuts in the run frame too
    cuts = list(range(last, len(whole))) + [head, head + 9, first - 1, -1]
    # Every cut resumed inside one launch (test_property runs evf_run once per line on one
    # rank): 84 launches of mpirun took 300 s where each start took seconds (no /etc/hosts).
    spec = os.path.join(j.dir, "cuts.txt")
    with open(spec, "w") as f:
        for k, cut in enumerate(cuts):
            jk = os.path.join(j.dir, "cut%d" % k)
            os.makedirs(jk)
            with open(os.path.join(jk, os.path.basename(jfile)), "wb") as g:
                if cut >= 0:
                    g.write(whole[:cut])
                else:  # a damaged last frame: its hash no longer matches; a torn tail too
                    g.write(whole[:last + 20] + bytes([whole[last + 20] ^ 1]) + whole[last + 21:])
            f.write("1 --progress 0 --quiet --journal %s --resume --json %s %s\n"
                    % (jk, os.path.join(j.dir, "cut%d.json" % k), " ".join(j.opts)))
    p = subprocess.run(["timeout", "-k", "5", str(LIMIT), a.mpirun, "-np", "1", a.driver, spec,
                        j.dir, "60"], capture_output=True, text=True)
    c(p.returncode == 0, "the driver: exit %d %s" % (p.returncode, p.stderr[-1000:]))
    import json
    for kk, ct in enumerate(cuts):
        try:
            code = int(open(os.path.join(j.dir, "prop-%d.code" % kk)).read().split()[0])
        except (OSError, ValueError):
            code = None
        if not c(code == 0, "cut at %d: exit %s" % (ct, code)):
            continue
        s = json.load(open(os.path.join(j.dir, "cut%d.json" % kk)))
        if ct < 0:
            ct = last + frame - 1  # as if cut there: all but the last record kept
        kept = (ct - first) // frame if ct >= first else 0
        torn = (ct - first) % frame if ct >= first else ct - head
        if kk == len(cuts) - 1:
            torn = frame
        c(s["journal"]["resumed"] == kept and s["journal"]["appended"] == 200 - kept and
          s["journal"]["torn_bytes"] == torn,
          "cut at %d: journal summary %r, want %d kept" % (ct, s["journal"], kept))
        j.check_output(o, 200, "prop-%d.csv" % kk, "cut at %d" % ct)
        jk = os.path.join(j.dir, "cut%d" % kk)
        _, again, e2 = read_journal(jk)
        cutfile = os.path.join(jk, os.path.basename(jfile))
        c(sorted(r["id"] for r in again) == list(range(1, 201)) and
          e2[cutfile] == os.path.getsize(cutfile),
          "cut at %d: the journal afterwards is not whole (the torn tail not cut)" % ct)


def killed_run(c, a, name, victim, first=(), again=()):
    """Start np 2 with a journal, SIGKILL rank `victim` (or mpirun for -1) mid-run: the job ends
    within 10 s; --resume at np 3, dynamic with 100 in flight, completes it (`first`, `again`:
    more options for each run)."""
    o = {"tasks": 4000, "io_min": 0, "io_max": 2.0, "cpu_min": 0, "cpu_max": 20000}
    j = Job(a, c, name, opts_of(o))
    p = subprocess.Popen(["timeout", "-k", "5", str(LIMIT)] + j.cmd(2, ["--inflight", "300",
                                                                        "--schedule", "static"]
                                                                    + list(first)),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_journaled(c, j.journal, 500, p)  # of 4000: the rest in flight or waiting
    ranks = subprocess.run(["pgrep", "-f", "--", "--journal " + j.journal],
                           capture_output=True, text=True).stdout.split()
    pids = sorted(int(x) for x in ranks if int(x) != p.pid)
    # the evfarm processes, by start order: mpirun (under timeout), rank 0, rank 1
    evf = [x for x in pids if open("/proc/%d/cmdline" % x, "rb").read().split(b"\0")[0]
           .endswith(b"evfarm")]
    mpirun = [x for x in pids if x not in evf and is_launcher(open("/proc/%d/cmdline" % x,
                                                                   "rb").read().split(b"\0")[0])]
    if not c(len(evf) == 2 and mpirun, "processes: evfarm %r mpirun %r" % (evf, mpirun)):
        p.kill()
        return
    rank_pid = {}
    for x in evf:
        env = open("/proc/%d/environ" % x, "rb").read().split(b"\0")
        for e in env:
            if e.startswith(b"OMPI_COMM_WORLD_RANK="):
                rank_pid[int(e.split(b"=")[1])] = x
    target = mpirun[0] if victim < 0 else rank_pid.get(victim)
    t = time.monotonic()
    os.kill(target, signal.SIGKILL)
    _, err = p.communicate(timeout=LIMIT)
    took = time.monotonic() - t
    c(took < 10, "the job took %.1f s to end after the kill" % took)
    c(p.returncode != 0, "exit %d after a kill" % p.returncode)
    if victim > 0:
        c("rank %d" % victim in err, "no message naming rank %d: %s" % (victim, err[-1500:]))
    # Every process ends within 10 s of the kill (a rank of a killed mpirun gets SIGTERM from
    # the kernel and writes out its journal buffer first; slower under a sanitizer).
    while True:
        left = subprocess.run(["pgrep", "-f", "--", "--journal " + j.journal],
                              capture_output=True, text=True).stdout.split()
        if not left or time.monotonic() - t > 10:
            break
        time.sleep(0.1)
    c(not left, "processes left 10 s after the kill: %r" % left)
    _, recs, _ = read_journal(j.journal)
    c(0 < len(recs) < 4000, "%d records in the journal of a killed run" % len(recs))
    c(len({r["id"] for r in recs}) == len(recs), "an id twice in the journal")
    j.run(3, ["--resume", "--inflight", "100", "--schedule", "dynamic"] + list(again))
    j.check_output(o, 4000, what="resumed")
    _, after, _ = read_journal(j.journal)
    c(sorted(r["id"] for r in after) == list(range(1, 4001)),
      "the journal after --resume does not hold every id once")


def case_rank1_killed(c, a):
    killed_run(c, a, "rank1-killed", 1)


def case_rank0_killed(c, a):
    killed_run(c, a, "rank0-killed", 0)


def case_mpirun_killed(c, a):
    killed_run(c, a, "mpirun-killed", -1)


def case_windows_rank1_killed(c, a):
    """The same with windows: --window 300 (14 windows, gathers in flight when rank 1 dies),
    resumed with --window 700: the held records are read back window by window."""
    killed_run(c, a, "windows-rank1-killed", 1, ["--window", "300"], ["--window", "700"])


def rank_pids(journal):
    """{rank: pid} of the evfarm ranks using `journal`, and mpirun's pid."""
    pids = subprocess.run(["pgrep", "-f", "--", "--journal " + journal], capture_output=True,
                          text=True).stdout.split()
    ranks, mpirun = {}, None
    for x in map(int, pids):
        argv0, rank = process_rank(x)
        if argv0 is None:
            continue
        if argv0.endswith(b"evfarm") and rank is not None:
            ranks[rank] = x
        elif is_launcher(argv0):
            mpirun = x
    return ranks, mpirun


def drained_run(c, a, name, o, extra, send, resume_extra=(), expect_after=0):
    """np 2 with a journal; `send(ranks, mpirun)` once 300 records are journaled: the job drains (exit 4, within
    grace + 2 s), the outputs hold what finished (each with the oracle's values, the summary
    partial with the rest counted not run); --resume at np 3 completes every id."""
    j = Job(a, c, name, opts_of(o))
    summ = j.path("partial.json")
    launched = time.time()
    p = subprocess.Popen(["timeout", "-k", "5", str(LIMIT)] + j.cmd(2, extra + ["--json", summ]),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if send:  # (without one, the job drains itself: --max-fails)
        wait_journaled(c, j.journal, 300, p)
        ranks, mpirun = rank_pids(j.journal)
        if not c(len(ranks) == 2 and mpirun, "processes %r %r" % (ranks, mpirun)):
            p.kill()
            return None
    t, signalled = time.monotonic(), time.time()
    if send:
        send(ranks, mpirun)
    _, err = p.communicate(timeout=LIMIT)
    took = time.monotonic() - t
    if not send:  # the run's t0 lies between the launch and its end
        signalled = time.time()
    c(p.returncode == 4, "exit %d, want 4: %s" % (p.returncode, err[-1500:]))
    c("draining" in err, "no drain message: %s" % err[-500:])
    import json
    s = json.load(open(summ))
    rows = list(csv.DictReader(open(j.path("out.csv"))))
    ids = [int(r["id"]) for r in rows]
    c(ids == sorted(set(ids)) and 0 < len(ids) < o["tasks"], "partial output: %d ids" % len(ids))
    bad = [r["id"] for r in rows if oracle.canonical_line(j.oracle(o, int(r["id"]))) !=
           "%s,%s,%s,%s,%s,%s,%s" % (r["id"], r["iterations"], r["value"], r["io_delay"],
                                     r["status"], r["attempts"], r["last_error"])]
    c(not bad, "partial output: records differ from the oracle: %r" % bad[:5])
    c(s["partial"] is True and s["not_run"] == o["tasks"] - len(ids) and s["tasks"] == len(ids),
      "partial summary: partial %r not_run %r tasks %r (%d rows)" % (s["partial"], s["not_run"],
                                                                    s["tasks"], len(ids)))
    _, recs, _ = read_journal(j.journal)
    c(sorted(r["id"] for r in recs) == ids, "the journal holds other ids than the output")
    resumed = time.time()
    j.run(3, ["--resume", "--inflight", "500"] + list(resume_extra), expect=expect_after,
          out="final.csv")
    ended = time.time()
    final = j.check_output(o, o["tasks"], "final.csv", "resumed")
    check_runs(c, j.journal, [(2, launched, signalled, ids, o["tasks"], 0),
                              (3, resumed, ended, [int(r["id"]) for r in final if r["host"]],
                               o["tasks"] - len(ids), len(ids))], rows[0]["host"])
    c.last_end = max((float(r["t_end"]) for r in rows), default=0.0)
    # when the signal went, in the run's own times: its t0 is in the journal's run frame
    _, _, runs, _ = read_journal_runs(j.journal)
    c.signal_at = signalled - runs[0]["t0_unix"] if runs and runs[0]["t0_unix"] else None
    return took


def check_runs(c, journal, want, host):
    """The journal's run frames: one before each run's records, with its ranks, node, t0 (the
    wall clock between the launch and the end or the signal), the ids it set out to run and those
    it kept; each run's records are the ids its outputs hold as its own."""
    version, _, runs, _ = read_journal_runs(journal)
    c(version == 2 and len(runs) == len(want), "journal version %d with %d runs, want 2 and %d"
      % (version, len(runs), len(want)))
    for k, (run, w) in enumerate(zip(runs, want)):
        ranks, after, before, ids, todo, held = w
        c(run["t0_unix"] is not None and after <= run["t0_unix"] <= before,
          "run %d: t0 %s not within its launch %.3f .. %.3f" % (k + 1, run["t0_unix"], after,
                                                                before))
        c(run.get("ranks") == ranks and run["nodes"] == 1 and run["node_of"] == [0] * ranks and
          run["node_names"] == [host] and run["slurm_job"] == "" and run["version"] != "",
          "run %d: frame %r" % (k + 1, {x: y for x, y in run.items() if x != "recs"}))
        c(run.get("todo") == todo and run.get("held") == held,
          "run %d: todo %r held %r, want %d %d" % (k + 1, run.get("todo"), run.get("held"), todo,
                                                 held))
        c(sorted(r["id"] for r in run["recs"]) == sorted(ids),
          "run %d: %d records, want the %d ids of its output" % (k + 1, len(run["recs"]),
                                                                len(ids)))
        c(all(0 <= r["rank"] < ranks for r in run["recs"]), "run %d: a rank outside" % (k + 1))


def case_drain_sigusr1(c, a):
    """SIGUSR1 to mpirun (which forwards it to every rank): exit 4; tasks in flight past --grace
    (I/O of up to 5 s) are cancelled."""
    o = {"tasks": 3000, "io_min": 0, "io_max": 5.0, "cpu_min": 0, "cpu_max": 20000}
    took = drained_run(c, a, "drain-usr1", o, ["--inflight", "300", "--grace", "0.5"],
                       lambda ranks, mpirun: os.kill(mpirun, signal.SIGUSR1))
    check_cancelled(c, took, 0.5)


def check_cancelled(c, took, grace):
    """Tasks in flight past --grace were cancelled: no finished record ends later than the
    signal (its time since t0, from the run frame's t0) + grace + 1 s, whereas the tasks in
    flight then (I/O up to 5 s) would have ended up to 5 s later.  The whole exit
    (outputs, journal, MPI_Finalize) only has a loose hang bound: under a sanitizer on a loaded
    machine it took 2.8 s once."""
    c(took is not None and took < grace + 6.0, "drained in %s s" % took)
    last, sig = getattr(c, "last_end", None), getattr(c, "signal_at", None)
    c(last is not None and sig is not None and last < sig + grace + 1.0,
      "a record ended at %s s, the signal at %s s: tasks in flight past --grace were not "
      "cancelled" % (last, sig))


def case_drain_rank0(c, a):
    """SIGUSR1 to rank 0 alone: it drains and tells rank 1."""
    o = {"tasks": 3000, "io_min": 0, "io_max": 5.0, "cpu_min": 0, "cpu_max": 20000}
    took = drained_run(c, a, "drain-rank0", o, ["--inflight", "300", "--grace", "0.3"],
                       lambda ranks, mpirun: os.kill(ranks[0], signal.SIGUSR1))
    check_cancelled(c, took, 0.3)


def case_drain_one_rank(c, a):
    """SIGUSR1 to rank 1 alone: it tells rank 0, which drains every rank; tasks in flight past
    --grace (I/O of 4-5 s) are cancelled, left for --resume."""
    o = {"tasks": 3000, "io_min": 0, "io_max": 5.0, "cpu_min": 0, "cpu_max": 20000}
    took = drained_run(c, a, "drain-rank1", o, ["--inflight", "300", "--grace", "0.3"],
                       lambda ranks, mpirun: os.kill(ranks[1], signal.SIGUSR1))
    check_cancelled(c, took, 0.3)


def case_max_fails(c, a):
    """--max-fails 50 with --fail-rate 0.2: the job drains once 50 failed (exit 4), and --resume
    completes it (exit 1: the failures stay)."""
    o = {"tasks": 4000, "io_min": 0, "io_max": 2.0, "cpu_min": 0, "cpu_max": 20000,
         "fail_rate": 0.2}
    drained_run(c, a, "max-fails", o, ["--fail-rate", "0.2", "--max-fails", "50", "--inflight",
                                       "100", "--grace", "0.5"], None, ["--fail-rate", "0.2"],
                expect_after=1)


def case_windows_max_fails(c, a):
    """--max-fails with windows (--window 250: 16 windows): the drained run's output holds what
    finished of every window, none twice, in order; --resume with --window 300 at np 3
    completes it with the journal's records placed window by window."""
    o = {"tasks": 4000, "io_min": 0, "io_max": 0.5, "cpu_min": 0, "cpu_max": 20000,
         "fail_rate": 0.2}
    drained_run(c, a, "windows-max-fails", o,
                ["--fail-rate", "0.2", "--max-fails", "100", "--inflight", "100", "--grace",
                 "0.5", "--window", "250"], None, ["--fail-rate", "0.2", "--window", "300"],
                expect_after=1)


def frames(path):
    """[(offset, magic, id or None)] of a journal's frames, read by their sizes (no checks)."""
    d = open(path, "rb").read()
    at, out = d.index(b"\n") + 1, []
    while at + 8 <= len(d):
        magic, size = d[at:at + 4], struct.unpack_from("<I", d, at + 4)[0]
        out.append((at, magic, RECORD.unpack_from(d, at + 8)[5] if magic == b"EVFR" else None))
        at += 16 + size
    return out


def case_damaged_frames(c, a):
    """One flipped bit in a record of rank 0's file, one in a record's hash in rank 1's: --resume
    skips those two frames only (the valid ones after them are kept, nothing truncated), says so
    on stderr even with --quiet (a line per file: the stretch, 80 bytes, its offset), counts the
    bytes in the summary, and runs just those two ids again."""
    o = {"tasks": 1000, "io_min": 0, "io_max": 0, "cpu_min": 0, "cpu_max": 1000}
    j = Job(a, c, "damaged", opts_of(o))
    j.run(2, [])
    files = [path for _, _, path in journal_files(j.journal)]
    recs = [[f for f in frames(path) if f[1] == b"EVFR"] for path in files]
    if not c(len(files) == 2 and sum(map(len, recs)) == 1000 and min(map(len, recs)) > 300,
             "%r record frames" % [len(r) for r in recs]):
        return
    sizes, flips = [], []
    for k, (path, at, delta) in enumerate(((files[0], 100, 8 + 20), (files[1], 300, 8 + 64 + 3))):
        d = bytearray(open(path, "rb").read())
        off, _, ident = recs[k][at]
        d[off + delta] ^= 0x04 if k == 0 else 0x80  # inside the record / inside its hash
        open(path, "wb").write(d)
        sizes.append(len(d))
        flips.append((path, off, ident))
    summ = j.path("resumed.json")
    p = j.run(2, ["--resume", "--json", summ], out="final.csv")
    for path, off, _ in flips:
        want = ("evfarm: --journal: '%s': 1 damaged stretch of 80 bytes in all skipped (the first "
                "at byte %d" % (path, off))
        c(want in p.stderr, "stderr does not say what was skipped (%r): %s" % (want,
                                                                            p.stderr[-800:]))
    import json
    s = json.load(open(summ))["journal"]
    c((s["resumed"], s["appended"], s["damaged_bytes"], s["torn_bytes"]) == (998, 2, 160, 0),
      "summary journal: %r" % s)
    rows = j.check_output(o, 1000, "final.csv", "resumed")
    ids = sorted(f[2] for f in flips)
    c(sorted(int(r["id"]) for r in rows if r["host"]) == ids,
      "ran again: %r, want the damaged ids %r" % ([r["id"] for r in rows if r["host"]][:10], ids))
    c([os.path.getsize(f[0]) for f in flips] == sizes, "a damaged file was cut or changed")
    # evfarm-plot reads the journal as evfarm does: the damage skipped, not the end of it.
    plot = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                        "evfarm-plot")
    data = j.path("plot.json")
    p = subprocess.run([sys.executable, plot, j.journal, "--run", "1", "--data", data, "-o",
                        j.path("plot.png")], capture_output=True, text=True, timeout=LIMIT)
    if c(p.returncode == 0, "evfarm-plot: exit %d: %s" % (p.returncode, p.stderr[-500:])):
        d = json.load(open(data))["journal"]
        c(d["damaged_bytes"] == 160 and [r["records"] for r in d["runs"]] == [998, 2],
          "evfarm-plot's reading: %r" % d)


def case_max_fails_count(c, a):
    """--max-fails N drains at the Nth failure, wherever it happens: failures spaced in time
    (the oracle's: a failed attempt ends at its planned delay), all in flight from the start on
    2 ranks, --grace 0.  The seed and N are chosen so that the (N+1)th failure comes at least
    0.25 s after the Nth: every failure reaches rank 0 as it happens and the drain reaches the
    ranks within a tick, so exactly N failures are recorded (a count that lagged, or a drain
    that did not reach a rank, would record more)."""
    base = {"tasks": 400, "io_min": 0, "io_max": 4.0, "cpu_min": 0, "cpu_max": 1000,
            "fail_rate": 0.05}
    pick = None
    for seed in range(1, 200):
        o = dict(base, seed=seed)
        times = sorted(oracle.task(seed, k, 0, 4.0, 0, 1000, 0.05)["io_delay_us"] / 1e6
                       for k in range(1, 401)
                       if oracle.task(seed, k, 0, 4.0, 0, 1000, 0.05)["status"] != "ok")
        for n in range(3, min(10, len(times) - 1)):
            if times[n - 1] >= 1.0 and times[n] - times[n - 1] >= 0.25:
                pick = (o, n)
                break
        if pick:
            break
    if not c(pick is not None, "no seed with spaced failures"):
        return
    o, n = pick
    j = Job(a, c, "max-fails-count", opts_of(o) + ["--seed", str(o["seed"])])
    p = j.run(2, ["--fail-rate", "0.05", "--max-fails", str(n), "--grace", "0", "--inflight",
                  "0"], expect=4)
    c("draining (--max-fails)" in p.stderr, "no drain: %s" % p.stderr[-500:])
    rows = list(csv.DictReader(open(j.path("out.csv"))))
    failed = [r for r in rows if r["status"] != "ok"]
    c(len(failed) == n, "seed %d --max-fails %d: %d failures recorded (%r)"
      % (o["seed"], n, len(failed), sorted((float(r["t_end"]), r["rank"]) for r in failed)))


def case_version1(c, a):
    """A version 1 journal file (no run frames: an older evfarm's, made here from a version 2
    one) in the directory: --resume reads its records, runs only the missing ids, and leaves it
    as it was; a file of an unknown version is refused, one line, exit 2, unchanged.  A journal
    file of an evfarm before journal directories, given as --journal: refused with one line
    saying how to go on with it, and going on that way works."""
    o = {"tasks": 500, "io_min": 0, "io_max": 0, "cpu_min": 0, "cpu_max": 1000}
    j = Job(a, c, "version1", opts_of(o))
    j.run(1, [])
    jfile = journal_files(j.journal)[0][2]
    d = open(jfile, "rb").read()
    head = d.index(b"\n") + 1
    first = head + 16 + struct.unpack_from("<I", d, head + 4)[0]
    frame = 16 + 64
    keep = 300
    v1 = b"evfarm-journal 1 " + d[len("evfarm-journal 2 "):head] + d[first:first + keep * frame]
    c(d.startswith(b"evfarm-journal 2 ") and d[head:head + 4] == b"EVFS", "not version 2")
    open(jfile, "wb").write(v1)
    version, _, runs, _ = read_journal_runs(j.journal)
    c(version == 1 and len(runs) == 1 and len(runs[0]["recs"]) == keep and
      runs[0]["t0_unix"] is None, "the version 1 journal made here does not read back")
    before = time.time()
    j.run(2, ["--resume", "--json", j.path("s.json")], out="resumed.csv")
    rows = j.check_output(o, 500, "resumed.csv", "resumed from version 1")
    import json
    s = json.load(open(j.path("s.json")))
    c(s["journal"]["resumed"] == keep and s["journal"]["appended"] == 500 - keep,
      "journal summary %r, want %d resumed" % (s["journal"], keep))
    c(open(jfile, "rb").read() == v1, "the version 1 file changed")
    version, _, runs, ends = read_journal_runs(j.journal)
    c(len(runs) == 2 and runs[0]["t0_unix"] is None and
      len(runs[0]["recs"]) == keep and runs[1].get("ranks") == 2 and
      runs[1]["held"] == keep and runs[1]["todo"] == 500 - keep and
      before <= runs[1]["t0_unix"] <= time.time() and
      sorted(r["id"] for r in runs[1]["recs"]) == [int(r["id"]) for r in rows if r["host"]] and
      all(e == os.path.getsize(f) for f, e in ends.items()), "the journal after: runs %r" %
      ([(r.get("ranks"), len(r["recs"])) for r in runs],))
    # another version: refused, unchanged
    v3 = b"evfarm-journal 3 " + v1[len("evfarm-journal 1 "):]
    open(jfile, "wb").write(v3)
    p = j.run(1, ["--resume"], expect=2, out="v3.csv")
    lines = [x for x in p.stderr.splitlines() if x.startswith("evfarm:")]
    c(len(lines) == 1 and "another version (3)" in lines[0] and "versions 1 and 2" in lines[0],
      "version 3: %r" % lines)
    c(open(jfile, "rb").read() == v3, "a version 3 journal was changed")
    # a single journal file (an evfarm before directories): the message says what to do
    old = j.path("old.journal")
    open(old, "wb").write(d)
    cmd = [a.mpirun, "-np", "1", a.evfarm, "--progress", "0", "--quiet", "--output",
           j.path("old.csv")] + j.opts
    p = subprocess.run(["timeout", "-k", "5", str(LIMIT)] + cmd + ["--journal", old, "--resume"],
                       capture_output=True, text=True)
    lines = [x for x in p.stderr.splitlines() if x.startswith("evfarm:")]
    want = "mkdir DIR && mv '%s' DIR/run-0000.rank-0.journal" % old
    c(p.returncode == 2 and len(lines) == 1 and "earlier evfarm" in lines[0] and want in lines[0],
      "a single-file journal: exit %d %r" % (p.returncode, lines))
    c(open(old, "rb").read() == d, "the single-file journal was changed")
    moved = j.path("moved")
    os.makedirs(moved)
    os.rename(old, os.path.join(moved, "run-0000.rank-0.journal"))
    p = subprocess.run(["timeout", "-k", "5", str(LIMIT)] + cmd + ["--journal", moved, "--resume",
                                                                  "--json", j.path("old.json")],
                       capture_output=True, text=True)
    c(p.returncode == 0 and json.load(open(j.path("old.json")))["journal"]["resumed"] == 500,
      "resumed from the moved file: exit %d %s" % (p.returncode, p.stderr[-300:]))


def case_other_tasks(c, a):
    """A journal of other tasks is refused with one line, exit 2, and left as it was; so is one
    that exists without --resume, and a path that is not a regular file."""
    j = Job(a, c, "other", opts_of(SMALL))
    j.run(1, [])

    def snapshot(d):
        return {f: open(os.path.join(d, f), "rb").read() for f in sorted(os.listdir(d))}

    jfile = journal_files(j.journal)[0][2]
    before = open(jfile, "rb").read()
    was = snapshot(j.journal)
    for extra, want in ((["--resume", "--seed", "2"], "(--seed: 'seed=1' there, 'seed=2' here)"),
                        (["--resume", "--tasks", "3001"], "'tasks=3000' there, 'tasks=3001' here"),
                        (["--resume", "--cpu-skew", "1"], "'cpu_skew=0' there, 'cpu_skew=1' here"),
                        ([], "holds a journal: add --resume")):
        p = j.run(2, extra, expect=2)
        lines = [x for x in p.stderr.splitlines() if x.startswith("evfarm:")]
        c(len(lines) == 1 and "--journal" in lines[0] and want in lines[0],
          "%r: want one line with %r: %r" % (extra, want, lines))
    c(snapshot(j.journal) == was, "a refused journal was changed")
    fifo = j.path("fifo")
    os.mkfifo(fifo)
    p = subprocess.run(["timeout", "-k", "5", str(LIMIT), a.mpirun, "-np", "1", a.evfarm,
                        "--journal", fifo, "--resume", "--tasks", "10"], capture_output=True,
                       text=True)
    c(p.returncode == 2 and "not a directory" in p.stderr, "FIFO journal: %d %s"
      % (p.returncode, p.stderr[-300:]))
    # exec: the same commands file with one line changed is another task set
    cmds = j.path("cmds.txt")
    open(cmds, "w").write("".join("echo %d\n" % k for k in range(20)))
    ej = j.path("exec.journal")
    base = [a.mpirun, "-np", "1", a.evfarm, "--kind", "exec", "--commands", cmds, "--journal", ej,
            "--quiet", "--progress", "0"]
    p = subprocess.run(["timeout", "-k", "5", str(LIMIT)] + base, capture_output=True, text=True)
    c(p.returncode == 0, "exec with a journal: %d %s" % (p.returncode, p.stderr[-300:]))
    open(cmds, "w").write("".join("echo %d\n" % (k + (k == 7)) for k in range(20)))
    p = subprocess.run(["timeout", "-k", "5", str(LIMIT)] + base + ["--resume"],
                       capture_output=True, text=True)
    c(p.returncode == 2 and "(the input file's contents: 'inputs_xxh3=" in p.stderr,
      "changed commands file: %d %s" % (p.returncode, p.stderr[-300:]))
    # --command over the same lines (as --args) is another task set, and the message says how
    same = j.path("same.txt")
    open(same, "w").write("".join("echo %d\n" % k for k in range(20)))
    p = subprocess.run(["timeout", "-k", "5", str(LIMIT), a.mpirun, "-np", "1", a.evfarm, "--kind",
                        "exec", "--command", "echo {}", "--args", same, "--journal", ej,
                        "--quiet", "--progress", "0", "--resume"], capture_output=True, text=True)
    c(p.returncode == 2 and "(--command's template: none there, 'command_xxh3=" in p.stderr,
      "--command against a --commands journal: %d %s" % (p.returncode, p.stderr[-300:]))
    # a file cut inside its first line (a rank stopped while creating it): no records, all of it
    # a torn tail, cut; one cut inside another task set's first line is refused
    cut = j.path("cut")
    os.makedirs(cut)
    half = before[:before.index(b"seed=1 ") + 7]
    open(os.path.join(cut, "run-0001.rank-1.journal"), "wb").write(half)
    base = [a.mpirun, "-np", "1", a.evfarm, "--journal", cut, "--resume", "--quiet",
            "--progress", "0"] + opts_of(SMALL)
    p = subprocess.run(["timeout", "-k", "5", str(LIMIT)] + base + ["--seed", "2"],
                       capture_output=True, text=True)
    c(p.returncode == 2 and "ends inside its first line" in p.stderr,
      "a cut header of another task set: %d %s" % (p.returncode, p.stderr[-300:]))
    p = subprocess.run(["timeout", "-k", "5", str(LIMIT)] + base + ["--json", j.path("cut.json")],
                       capture_output=True, text=True)
    import json
    c(p.returncode == 0 and json.load(open(j.path("cut.json")))["journal"]["torn_bytes"] ==
      len(half) and os.path.getsize(os.path.join(cut, "run-0001.rank-1.journal")) == 0,
      "a cut header: %d %s" % (p.returncode, p.stderr[-300:]))


def case_retry_failed(c, a):
    """--fail-rate 0.2: exit 1 with the failures journaled; --resume alone keeps them (exit 1,
    nothing rerun); --resume --retry-failed --retries 30 reruns exactly them, and they end ok
    with the oracle's attempts; a --resume after that writes each id's later record."""
    o = dict(SMALL, fail_rate=0.2)
    j = Job(a, c, "retry-failed", opts_of(o) + ["--fail-rate", "0.2"])
    times = [time.time()]
    j.run(2, [], expect=1)
    times.append(time.time())
    rows = j.check_output(o, 3000, what="first run")
    failed = sorted(int(r["id"]) for r in rows if r["status"] != "ok")
    c(len(failed) > 300, "%d failed tasks" % len(failed))
    j.run(2, ["--resume"], expect=1, out="again.csv")
    times.append(time.time())
    j.check_output(o, 3000, "again.csv", "resume without --retry-failed")
    _, recs, _ = read_journal(j.journal)
    c(len(recs) == 3000, "--resume alone ran %d tasks again" % (len(recs) - 3000))
    j.run(3, ["--resume", "--retry-failed", "--retries", "30"], out="retried.csv")
    times.append(time.time())
    check_runs(c, j.journal, [(2, times[0], times[1], range(1, 3001), 3000, 0),
                              (2, times[1], times[2], [], 0, 3000),
                              (3, times[2], times[3], failed, len(failed), 3000 - len(failed))],
               rows[0]["host"])
    o2 = dict(o, retries=30)
    got = {int(r["id"]): r for r in csv.DictReader(open(j.path("retried.csv")))}
    c(all(got[k]["status"] == "ok" and int(got[k]["attempts"]) == j.oracle(o2, k)["attempts"]
          for k in failed), "retried ids: not ok with the oracle's attempts")
    c(all(got[k]["status"] == "ok" and got[k]["attempts"] == "1"
          for k in range(1, 3001) if k not in failed), "ids that had succeeded were rerun")
    _, recs, _ = read_journal(j.journal)
    c(len(recs) == 3000 + len(failed), "journal: %d records, want %d" % (len(recs),
                                                                       3000 + len(failed)))
    # Once more with --resume alone: every id held, the retried ones twice (failed in run 1,
    # ok in run 3): the later record is the one written, with --window 500 (6 windows) too.
    for extra, out in (([], "last.csv"), (["--window", "500"], "last-windows.csv")):
        j.run(2, ["--resume"] + extra, out=out)
        last = {int(r["id"]): r for r in csv.DictReader(open(j.path(out)))}
        c(sorted(last) == list(range(1, 3001)) and
          all(last[k]["status"] == "ok" and last[k]["attempts"] == got[k]["attempts"]
              for k in last), "%s: not the retried run's records (the later of an id)" % out)


def run(a, fn):
    c = Check("check_journal " + fn.__name__[5:])
    fn(c, a)
    return c.done()


if __name__ == "__main__":
    sys.exit(cases_main(cases_of(globals()), ["--mpirun", "--evfarm", "--outdir", "--driver"],
                        run))
