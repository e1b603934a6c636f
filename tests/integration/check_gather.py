"""Records come back by MPI_Gatherv, one window at a time: every rank is run with a PMPI shim
(pmpi_count.c, preloaded) that counts its MPI_Igatherv calls and the bytes they move and the
bytes of every point-to-point send, and the counts are checked against the run's records:

A window of --window W ids is gathered in 16 parts of ceil(W/16) ids (README), so N ids past
two windows take ceil(N / ceil(W/16)) gathers; N within two windows, one.

windows_dynamic   np 3, 20,000 tasks, --window 3,000: ceil(20000/188) = 107 gathers on every
                  rank; each other rank sends 64 bytes (a sim record, README) for each record
                  the output says it ran, rank 0 receives exactly those (its own records are
                  placed, not gathered); point-to-point traffic (the channel: control only) is
                  under a tenth of the gathered records' bytes.
windows_static    the same at np 2, --schedule static, 5,000 tasks, --window 1,000: 80 gathers.
one_window        np 2, 5,000 tasks, the default window: one gather of every record at the end.
two_windows       np 2, 5,000 tasks, --window 3,000 (within two windows: no limit): one gather.
window_one_id     np 3, 50 tasks, --window 1 (the shape that once hung): 50 gathers each.
journal           np 3, 5,000 tasks, --journal DIR: every rank appends to its own file, the
                  records still come back by one gather, and no record crosses MPI twice (the
                  same byte counts as one_window: a journal adds no traffic).
journal_windows   the same with --window 3,000 and 20,000 tasks: 107 gathers, as
                  windows_dynamic.

usage: check_gather.py --mpirun M --evfarm E --shim S --outdir D --case NAME   (--list)
"""
import csv
import glob
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import Check, cases_main, cases_of  # noqa: E402

SIM_RECORD = 64  # bytes of a sim record: "64 MiB of records, 1,048,576 sim records" (README)


def run(c, a, name, np, args, windows):
    d = os.path.join(a.outdir, "gather_" + name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    out = os.path.join(d, "r.csv")
    env = dict(os.environ, EVF_PMPI_OUT=d)
    p = subprocess.run([a.mpirun, "-np", str(np), "env", "LD_PRELOAD=" + a.shim, a.evfarm,
                        "--io-max", "0.002", "--cpu-max", "100", "--output", out, "--quiet",
                        "--progress", "0"] + args, env=env, capture_output=True, text=True,
                       timeout=300)
    if not c(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr[-2000:])):
        return
    per_rank = {}
    ids = []
    with open(out) as f:
        for row in csv.DictReader(f):
            ids.append(int(row["id"]))
            per_rank[int(row["rank"])] = per_rank.get(int(row["rank"]), 0) + 1
    c(ids == list(range(1, len(ids) + 1)), "output ids not 1..N in order")
    counts = {}
    for path in glob.glob(os.path.join(d, "rank-*.txt")):
        w = open(path).read().split()
        counts[int(os.path.basename(path)[5:-4])] = (int(w[1]), int(w[2]), int(w[3]), int(w[5]))
    if not c(sorted(counts) == list(range(np)), "shim reports from ranks %r" % sorted(counts)):
        return
    p2p = 0
    for r, (calls, sent, recv, pp) in sorted(counts.items()):
        p2p += pp
        c(calls == windows, "rank %d: %d MPI_Igatherv calls, want %d (one per window)"
          % (r, calls, windows))
        want_sent = 0 if r == 0 else per_rank.get(r, 0) * SIM_RECORD
        c(sent == want_sent, "rank %d sent %d bytes by MPI_Igatherv, its records are %d"
          % (r, sent, want_sent))
        want_recv = (len(ids) - per_rank.get(0, 0)) * SIM_RECORD if r == 0 else 0
        c(recv == want_recv, "rank %d received %d bytes by MPI_Igatherv, want %d"
          % (r, recv, want_recv))
    gathered = (len(ids) - per_rank.get(0, 0)) * SIM_RECORD
    if len(ids) >= 5000:  # else the channel's control messages weigh as much as the records
        c(p2p < gathered / 10, "point-to-point bytes %d, the gathered records' %d: records must "
          "not travel on the channel" % (p2p, gathered))
    c(all(per_rank.get(r, 0) > 0 for r in range(np)), "ranks that ran tasks: %r" % per_rank)


def gathers(n, w):
    """Gathers of N ids past two windows of W: 16 parts a window (README)."""
    part = -(-w // 16)
    return -(-n // part)


def case_windows_dynamic(c, a):
    run(c, a, "windows_dynamic", 3, ["--tasks", "20000", "--window", "3000"],
        gathers(20000, 3000))


def case_windows_static(c, a):
    run(c, a, "windows_static", 2, ["--tasks", "5000", "--window", "1000", "--schedule",
                                    "static"], gathers(5000, 1000))


def case_one_window(c, a):
    run(c, a, "one_window", 2, ["--tasks", "5000"], 1)


def case_two_windows(c, a):
    run(c, a, "two_windows", 2, ["--tasks", "5000", "--window", "3000"], 1)


def case_window_one_id(c, a):
    run(c, a, "window_one_id", 3, ["--tasks", "50", "--window", "1", "--io-max", "0"], 50)


def case_journal(c, a):
    jdir = os.path.join(a.outdir, "gather_journal.dir")
    shutil.rmtree(jdir, ignore_errors=True)
    run(c, a, "journal", 3, ["--tasks", "5000", "--journal", jdir], 1)
    files = sorted(os.listdir(jdir))
    c([f for f in files if f.endswith(".journal")] ==
      ["run-0001.rank-%d.journal" % r for r in range(3)], "journal files %r" % files)


def case_journal_windows(c, a):
    jdir = os.path.join(a.outdir, "gather_journal_windows.dir")
    shutil.rmtree(jdir, ignore_errors=True)
    run(c, a, "journal_windows", 3, ["--tasks", "20000", "--window", "3000", "--journal", jdir],
        gathers(20000, 3000))


def main_run(a, fn):
    c = Check("check_gather " + fn.__name__[5:])
    fn(c, a)
    return c.done()


if __name__ == "__main__":
    sys.exit(cases_main(cases_of(globals()), ["--mpirun", "--evfarm", "--shim", "--outdir"],
                        main_run))
