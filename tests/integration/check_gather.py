"""Records come back by MPI_Gatherv, one window at a time: every rank is run with a PMPI shim
(pmpi_count.c, preloaded) that counts its MPI_Igatherv calls and the bytes they move and the
bytes of every point-to-point send, and the counts are checked against the run's records:

A window of --window W ids is gathered in 16 parts of ceil(W/16) ids (docs/scaling.md), so N ids past
two windows take ceil(N / ceil(W/16)) gathers; N within two windows, one.  Past two windows
the parts are spread over writers (--writers R, every rank by default): part k is gathered to
rank k mod R, which writes it into the --output file with MPI_File_write_at (the shim counts
those bytes too); within two windows, or with --writers 1, rank 0 gathers and writes them all.

windows_dynamic   np 3, 20,000 tasks, --window 3,000: ceil(20000/188) = 107 gathers on every
                  rank; every rank sends 64 bytes (a sim record, docs/output.md) for each record the
                  output says it ran, rank k mod 3 receives exactly the records of part k, and
                  writes exactly the bytes of part k's lines of the output (and the summary's
                  rank_record_bytes says so); point-to-point traffic (the channel: control only)
                  is under a tenth of the gathered records' bytes.
windows_static    the same at np 2, --schedule static, 5,000 tasks, --window 1,000: 80 gathers.
windows_writers2  np 3 with --writers 2: parts to ranks 0 and 1 only; rank 2 receives and writes
                  nothing.
windows_writers1  np 3 with --writers 1: rank 0 receives every record but its own (placed, not
                  gathered) and writes through its own file, no MPI-IO.
one_window        np 2, 5,000 tasks, the default window: one gather of every record at the end.
two_windows       np 2, 5,000 tasks, --window 3,000 (within two windows: no limit): one gather.
window_one_id     np 3, 50 tasks, --window 1 (the shape that once hung): 50 gathers each.
journal           np 3, 5,000 tasks, --journal DIR: every rank appends to its own file, the
                  records still come back by one gather, and no record crosses MPI twice (the
                  same byte counts as one_window: a journal adds no traffic).
journal_windows   the same with --window 3,000 and 20,000 tasks: 107 gathers spread over the
                  3 ranks, as windows_dynamic.

usage: check_gather.py --mpirun M --evfarm E --shim S --outdir D --case NAME   (--list)
"""
import csv
import glob
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import Check, cases_main, cases_of  # noqa: E402

SIM_RECORD = 64  # bytes of a sim record: "64 MiB of records, 1,048,576 sim records" (docs/scaling.md)


def run(c, a, name, np, args, windows, writers=0):
    """`writers`: R when the parts are spread over R writers, 0 when rank 0 gathers them all."""
    d = os.path.join(a.outdir, "gather_" + name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    out = os.path.join(d, "r.csv")
    env = dict(os.environ, EVF_PMPI_OUT=d)
    p = subprocess.run([a.mpirun, "-np", str(np), "env", "LD_PRELOAD=" + a.shim, a.evfarm,
                        "--io-max", "0.002", "--cpu-max", "100", "--output", out, "--quiet",
                        "--progress", "0", "--json", out + ".json"] + args, env=env, capture_output=True, text=True,
                       timeout=300)
    if not c(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr[-2000:])):
        return
    per_rank = {}
    ids = []
    part = -(-windows_ids(args) // 16) if writers else 0
    got_recs = {r: 0 for r in range(np)}   # records gathered to each rank (spread)
    got_bytes = {r: 0 for r in range(np)}  # bytes of their lines in the output (spread)
    with open(out, "rb") as f:
        f.readline()  # the header: rank 0's
        for line in f:
            row = line.decode().split(",")
            ids.append(int(row[0]))
            per_rank[int(row[1])] = per_rank.get(int(row[1]), 0) + 1
            if writers:
                root = (int(row[0]) - 1) // part % writers
                got_recs[root] += 1
                got_bytes[root] += len(line)
    c(ids == list(range(1, len(ids) + 1)), "output ids not 1..N in order")
    counts = {}
    for path in glob.glob(os.path.join(d, "rank-*.txt")):
        w = open(path).read().split()
        counts[int(os.path.basename(path)[5:-4])] = (int(w[1]), int(w[2]), int(w[3]), int(w[5]),
                                                     int(w[7]))
    if not c(sorted(counts) == list(range(np)), "shim reports from ranks %r" % sorted(counts)):
        return
    p2p = 0
    summary = json.load(open(out + ".json"))["output"]
    c(summary["writers"] == (writers or 1), "summary writers %r, want %d" % (summary, writers or 1))
    for r, (calls, sent, recv, pp, fileio) in sorted(counts.items()):
        p2p += pp
        c(calls == windows, "rank %d: %d MPI_Igatherv calls, want %d (one per window)"
          % (r, calls, windows))
        want_sent = 0 if r == 0 and not writers else per_rank.get(r, 0) * SIM_RECORD
        c(sent == want_sent, "rank %d sent %d bytes by MPI_Igatherv, its records are %d"
          % (r, sent, want_sent))
        if writers:
            want_recv = got_recs[r] * SIM_RECORD
        else:
            want_recv = (len(ids) - per_rank.get(0, 0)) * SIM_RECORD if r == 0 else 0
        c(recv == want_recv, "rank %d received %d bytes by MPI_Igatherv, want %d"
          % (r, recv, want_recv))
        want_file = got_bytes[r] if writers else 0
        c(fileio == want_file, "rank %d wrote %d bytes by MPI_File_write_at, its parts' lines "
          "are %d" % (r, fileio, want_file))
        want_summary = got_bytes[r] if writers else (os.path.getsize(out) - len(
            open(out, "rb").readline()) if r == 0 else 0)
        c(summary["rank_record_bytes"][r] == want_summary, "summary: rank %d wrote %d bytes, "
          "want %d" % (r, summary["rank_record_bytes"][r], want_summary))
    if writers:
        c(all(got_recs[r] > 0 for r in range(writers)), "parts per writer %r" % got_recs)
    gathered = (len(ids) - (0 if writers else per_rank.get(0, 0))) * SIM_RECORD
    if len(ids) >= 5000:  # else the channel's control messages weigh as much as the records
        c(p2p < gathered / 10, "point-to-point bytes %d, the gathered records' %d: records must "
          "not travel on the channel" % (p2p, gathered))
    c(all(per_rank.get(r, 0) > 0 for r in range(np)), "ranks that ran tasks: %r" % per_rank)


def windows_ids(args):
    return int(args[args.index("--window") + 1])


def gathers(n, w):
    """Gathers of N ids past two windows of W: 16 parts a window (docs/scaling.md)."""
    part = -(-w // 16)
    return -(-n // part)


def case_windows_dynamic(c, a):
    run(c, a, "windows_dynamic", 3, ["--tasks", "20000", "--window", "3000"],
        gathers(20000, 3000), 3)


def case_windows_static(c, a):
    run(c, a, "windows_static", 2, ["--tasks", "5000", "--window", "1000", "--schedule",
                                    "static"], gathers(5000, 1000), 2)


def case_windows_writers2(c, a):
    run(c, a, "windows_writers2", 3, ["--tasks", "20000", "--window", "3000", "--writers", "2"],
        gathers(20000, 3000), 2)


def case_windows_writers1(c, a):
    run(c, a, "windows_writers1", 3, ["--tasks", "20000", "--window", "3000", "--writers", "1"],
        gathers(20000, 3000))


def case_one_window(c, a):
    run(c, a, "one_window", 2, ["--tasks", "5000"], 1)


def case_two_windows(c, a):
    run(c, a, "two_windows", 2, ["--tasks", "5000", "--window", "3000"], 1)


def case_window_one_id(c, a):
    run(c, a, "window_one_id", 3, ["--tasks", "50", "--window", "1", "--io-max", "0"], 50, 3)


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
        gathers(20000, 3000), 3)


def main_run(a, fn):
    c = Check("check_gather " + fn.__name__[5:])
    fn(c, a)
    return c.done()


if __name__ == "__main__":
    sys.exit(cases_main(cases_of(globals()), ["--mpirun", "--evfarm", "--shim", "--outdir"],
                        main_run))
