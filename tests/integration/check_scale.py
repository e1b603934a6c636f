"""Past one rank's memory: rank 0's memory stays bounded whatever N is; --inflight's default is
bounded; --tasks takes the largest 32-bit id.

usage: check_scale.py --mpirun M --evfarm E --outdir D --case NAME   (--list: the cases)

memory           10^7 empty tasks at np 2 with --output: every record once, in id order, and
                 rank 0's peak memory (the summary's rank0_maxrss_kib) under 256 MiB; the
                 records alone are 640 MB.
bounded_default  140,000 tasks of exactly 0.2 s I/O on one rank, --inflight left at its default:
                 65,536 start at once, the rest only as those end (0.2 s later).
journal_memory   the same with --journal, then a rank's file cut in half and --resume: rank 0
                 under 256 MiB both times, every id once.
largest_tasks    --tasks 4294967295 (2^32 - 1) starts at np 2: progress out of 4294967295, and
                 every rank's peak memory stays under 256 MiB while it runs; then stopped.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import Check, cases_main, cases_of  # noqa: E402

BOUND_KIB = 256 * 1024
DEFAULT_INFLIGHT = 65536


def case_memory(c, a):
    n = 10 ** 7
    out = os.path.join(a.outdir, "scale_memory.csv")
    summ = os.path.join(a.outdir, "scale_memory.json")
    p = subprocess.run([a.mpirun, "-np", "2", a.evfarm, "--tasks", str(n), "--io-max", "0",
                        "--cpu-max", "0", "--output", out, "--json", summ, "--quiet"],
                       capture_output=True, text=True, timeout=240)
    if not c(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr)):
        return
    s = json.load(open(summ))
    c(s["rank0_maxrss_kib"] < BOUND_KIB, "rank 0 peaked at %d KiB, bound %d KiB"
      % (s["rank0_maxrss_kib"], BOUND_KIB))
    c(s["tasks"] == n and s["output"]["window"] == 1048576, "summary %r %r"
      % (s["tasks"], s["output"]))
    check_stream(c, out, n)


def check_stream(c, out, n):
    """Every id once, in order, each with a rank that ran it: read as a stream."""
    bad, count, ranks = None, 0, set()
    with open(out) as f:
        c(f.readline().startswith("id,rank,host,"), "no CSV header")
        for count, line in enumerate(f, 1):
            fields = line.split(",", 2)
            if int(fields[0]) != count and bad is None:
                bad = (count, line)
            ranks.add(fields[1])
    os.unlink(out)
    c(bad is None, "line %s" % (bad,))
    c(count == n, "%d records, want %d" % (count, n))
    c(ranks == {"0", "1"}, "ranks %r" % ranks)


def case_journal_memory(c, a):
    """10^7 empty tasks at np 2 with --journal: rank 0 under 256 MiB (the journal's records are
    every rank's own, not rank 0's); rank 1's file cut in half (a rank killed: a torn tail),
    --resume at np 2 places the held records window by window, again under 256 MiB, and the
    output holds every id once, in order."""
    n = 10 ** 7
    d = os.path.join(a.outdir, "scale_journal")
    shutil.rmtree(d, ignore_errors=True)
    out, summ = d + ".csv", d + ".json"
    base = [a.mpirun, "-np", "2", a.evfarm, "--tasks", str(n), "--io-max", "0", "--cpu-max", "0",
            "--journal", d, "--output", out, "--json", summ, "--quiet"]
    for step in ("first", "resumed"):
        if step == "resumed":
            f = os.path.join(d, "run-0001.rank-1.journal")
            os.truncate(f, os.path.getsize(f) // 2 + 37)
        p = subprocess.run(base + (["--resume"] if step == "resumed" else []),
                           capture_output=True, text=True, timeout=240)
        if not c(p.returncode == 0, "%s: exit %d: %s" % (step, p.returncode, p.stderr)):
            break
        s = json.load(open(summ))
        c(s["rank0_maxrss_kib"] < BOUND_KIB, "%s: rank 0 peaked at %d KiB, bound %d KiB"
          % (step, s["rank0_maxrss_kib"], BOUND_KIB))
        held = s["journal"]["resumed"]
        c((held == 0) if step == "first" else (n // 4 < held < n),
          "%s: %d records held by the journal" % (step, held))
        check_stream(c, out, n)
    shutil.rmtree(d, ignore_errors=True)


def case_bounded_default(c, a):
    n = 140000
    out = os.path.join(a.outdir, "scale_default.csv")
    p = subprocess.run([a.mpirun, "-np", "1", a.evfarm, "--tasks", str(n), "--io-min", "0.2",
                        "--io-max", "0.2", "--cpu-max", "0", "--output", out, "--quiet"],
                       capture_output=True, text=True, timeout=240)
    if not c(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr)):
        return
    starts = []
    with open(out) as f:
        f.readline()
        for line in f:
            starts.append(float(line.split(",")[7]))
    c(len(starts) == n, "%d records" % len(starts))
    first = sum(t < 0.1 for t in starts)
    c(first == DEFAULT_INFLIGHT, "%d tasks started in the first 0.1 s, want %d (the default "
      "--inflight)" % (first, DEFAULT_INFLIGHT))
    c(all(t < 0.1 or t >= 0.2 - 2e-3 for t in starts),
      "a task started between 0.1 s and 0.2 s, before any of the first wave ended")


def peak_kib(pid):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def ranks_of(pid, exe):
    """The evfarm processes under mpirun `pid`."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,comm="], capture_output=True,
                         text=True).stdout
    kids = {}
    for line in out.splitlines():
        p, pp, comm = line.split(None, 2)
        kids.setdefault(int(pp), []).append((int(p), comm.strip()))
    found, todo = [], [pid]
    while todo:
        for p, comm in kids.get(todo.pop(), []):
            todo.append(p)
            if comm == os.path.basename(exe)[:15]:
                found.append(p)
    return found


def case_largest_tasks(c, a):
    n = 4294967295
    proc = subprocess.Popen([a.mpirun, "-np", "2", a.evfarm, "--tasks", str(n), "--io-max", "0",
                             "--cpu-max", "0", "--progress", "0.5", "--output", os.devnull,
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    peaks = {}
    # Wait for the state, not a time: both ranks running (a slow launcher -- one that resolves
    # localhost by DNS -- takes seconds to start them), then sample them for 4 s.
    start_by = time.monotonic() + 120
    while (len(ranks_of(proc.pid, a.evfarm)) < 2 and time.monotonic() < start_by and
           proc.poll() is None):
        time.sleep(0.1)
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline and proc.poll() is None:
        for pid in ranks_of(proc.pid, a.evfarm):
            kib = peak_kib(pid)
            if kib:
                peaks[pid] = max(peaks.get(pid, 0), kib)
        time.sleep(0.25)
    still = proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    c(still, "the run ended early: %s" % err)
    import re
    done = [int(m.group(1)) for m in re.finditer(r"progress: (\d+) of 4294967295 tasks done",
                                                 err)]
    c(done and done[-1] > 0, "no progress out of 4294967295 tasks:\n%s" % err[-2000:])
    c(len(peaks) == 2, "rank processes seen: %r" % peaks)
    c(all(k < BOUND_KIB for k in peaks.values()), "peak memory per rank (KiB): %r" % peaks)


def run(a, fn):
    c = Check("check_scale " + fn.__name__[5:])
    fn(c, a)
    return c.done()


if __name__ == "__main__":
    sys.exit(cases_main(cases_of(globals()), ["--mpirun", "--evfarm", "--outdir"], run))
