"""Live progress: on a pseudo-terminal (a single process under Python's pty) a bar redrawn in
place with a carriage return, rate and ETA, ending on a newline at 100 %; through a pipe (under
mpirun) plain lines at the requested rate, their counts the job's (done, failed, in flight).
One ctest per case (--list, --case)."""
import json
import os
import pty
import re
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import Check, cases_main, cases_of  # noqa: E402

BAR = re.compile(rb"\revfarm: \[[#.]{24}\] (\d+)/(\d+) (\d+)% (\d+) tasks/s ETA ([^,]+), "
                 rb"(\d+) failed, (\d+) in flight\x1b\[K")


def case_pty_bar(c, a):
    """A single process whose stderr is a terminal draws the bar."""
    m, s = pty.openpty()
    p = subprocess.Popen([a.evfarm, "--tasks", "2000", "--io-min", "0.1", "--io-max", "0.6",
                          "--inflight", "200", "--cpu-max", "1000", "--quiet"], stdin=s,
                         stdout=s, stderr=s)
    os.close(s)
    out, end = b"", time.monotonic() + 60
    while time.monotonic() < end:
        r, _, _ = select.select([m], [], [], 1)
        if not r:
            if p.poll() is not None:
                break
            continue
        try:
            d = os.read(m, 65536)
        except OSError:
            break
        if not d:
            break
        out += d
    p.wait(timeout=30)
    os.close(m)
    c(p.returncode == 0, "exit %d" % p.returncode)
    bars = BAR.findall(out)
    c(len(bars) >= 5, "%d bar redraws in %r" % (len(bars), out[-500:]))
    c(b"\n" not in out.split(b"\r")[1] if out.count(b"\r") > 1 else False,
      "the bar is not redrawn in place: %r" % out[:300])
    if bars:
        last = bars[-1]
        c(last[0] == last[1] == b"2000" and last[2] == b"100" and last[6] == b"0",
          "last bar %r" % (last,))
        c(any(eta not in (b"?", b"0 s") and float(rate) > 0 for *_, rate, eta, _f, _i in
              [(b[0], b[1], b[2], b[3], b[4], b[5], b[6]) for b in bars]),
          "no bar with a rate and an ETA: %r" % bars[:3])
        c(all(int(b[6]) <= 200 for b in bars), "more than --inflight in flight: %r" % bars)
    c(out.rstrip(b"\r\n").endswith(b"\x1b[K") and out.endswith(b"\n"),
      "the bar's line is not ended: %r" % out[-100:])


def case_pipe_lines(c, a):
    """Under mpirun (stderr a pipe): plain lines every --progress seconds."""
    summary = os.path.join(a.outdir, "progress_pipe_lines.json")
    p = subprocess.run([a.mpirun, "-np", "2", a.evfarm, "--tasks", "3000", "--io-min", "1",
                        "--io-max", "3", "--cpu-max", "1000", "--progress", "0.25",
                        "--fail-rate", "0.2", "--quiet", "--json", summary],
                       capture_output=True, text=True, timeout=120)
    wall = json.load(open(summary))["wall_s"] if os.path.exists(summary) else 0
    c(p.returncode == 1, "exit %d: %s" % (p.returncode, p.stderr[-1000:]))
    lines = re.findall(r"^evfarm: progress: (\d+) of 3000 tasks done \(\d+%\) at ([0-9.]+) s, "
                       r"([0-9.]+) tasks/s, ETA ([^,]+), (\d+) failed, (\d+) in flight$",
                       p.stderr, re.M)
    c("\r" not in p.stderr, "a carriage return in piped progress")
    at = [float(x[1]) for x in lines]
    # A line at every multiple of 0.25 s from t0 until the loops end (the summary's wall).
    c(abs(len(lines) - int(wall / 0.25)) <= 1 and len(lines) >= 4,
      "%d lines in %.2f s at --progress 0.25: %r" % (len(lines), wall, at))
    c(all(abs(x - 0.25 * round(x / 0.25)) < 0.06 for x in at), "lines off the 0.25 s grid: %r" % at)
    failed = [int(x[4]) for x in lines]
    c(failed == sorted(failed) and failed and failed[-1] > 0, "failed counts %r" % failed)
    c(all(int(x[5]) <= 3000 for x in lines) and int(lines[0][5]) > 0 if lines else False,
      "in-flight counts %r" % [x[5] for x in lines])
    c(any(x[3] not in ("?", "0 s") for x in lines), "no ETA: %r" % [x[3] for x in lines])


def case_bar_forced(c, a):
    """--progress-style bar draws the bar even into a pipe; lines never."""
    p = subprocess.run([a.mpirun, "-np", "2", a.evfarm, "--tasks", "1000", "--io-min", "0.2",
                        "--io-max", "1", "--cpu-max", "1000", "--progress-style", "bar",
                        "--quiet"], capture_output=True, timeout=120)
    c(p.returncode == 0, "exit %d" % p.returncode)
    c(len(BAR.findall(p.stderr)) >= 3 and b"evfarm: progress:" not in p.stderr,
      "stderr %r" % p.stderr[-300:])
    p = subprocess.run([a.mpirun, "-np", "1", a.evfarm, "--tasks", "100", "--io-max", "0.5",
                        "--progress-style", "lines", "--progress", "0.1", "--quiet"],
                       capture_output=True, timeout=120)
    c(b"\r" not in p.stderr and b"evfarm: progress:" in p.stderr, "lines: %r" % p.stderr[-300:])


def run(a, fn):
    c = Check("check_progress " + fn.__name__[5:])
    fn(c, a)
    return c.done()


if __name__ == "__main__":
    sys.exit(cases_main(cases_of(globals()), ["--mpirun", "--evfarm", "--outdir"], run))
