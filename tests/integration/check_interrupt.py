"""A job stopped by a signal: it ends within a deadline, says which signal stopped it, exits
128 + the signal (mpirun itself exits 1 when it is the one interrupted), and leaves neither a
final nor a temporary output file behind.  An ignored signal (nohup's SIGHUP) changes nothing,
and a reader that goes away (SIGPIPE on the summary) costs no results.

usage: check_interrupt.py --mpirun M --evfarm E --outdir D --case NAME
       check_interrupt.py --list
"""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import Check, cases_main, cases_of  # noqa: E402

LONG = ["--tasks", "1000", "--io-min", "20", "--io-max", "30"]
SHORT = ["--tasks", "200", "--io-min", "1", "--io-max", "1.5", "--cpu-max", "1000"]


def start(a, d, launch, job, **kw):
    cmd = launch + [a.evfarm] + job + ["--output", os.path.join(d, "r.csv"), "--json",
                                       os.path.join(d, "s.json")]
    return subprocess.Popen(cmd, stdout=kw.pop("stdout", subprocess.PIPE),
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


def open_in(d):
    """How many files in directory d some process holds open for writing: a temporary file
    with a name (.evfarm-*.tmp) or without one (O_TMPFILE: "d/#123 (deleted)")."""
    n, prefix = 0, os.path.realpath(d) + "/"
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fds = os.listdir("/proc/%s/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                n += os.readlink("/proc/%s/fd/%s" % (pid, fd)).startswith(prefix)
            except OSError:
                pass
    return n


def wait_for_temps(check, p, d):
    """Until rank 0 holds its two temporary files open, then a little more so the loops run."""
    deadline = time.monotonic() + 30
    while open_in(d) < 2 and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.05)
    check(open_in(d) >= 2, "the temporary files were never opened: %r" % os.listdir(d))
    time.sleep(0.5)


def finish(check, p):
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        check(False, "still running 30 s after the signal")
    return out, err


def stopped(a, check, d, launch, sig, want_code, want_name):
    p = start(a, d, launch, LONG)
    wait_for_temps(check, p, d)
    os.kill(p.pid, sig)
    _, err = finish(check, p)
    check(p.returncode == want_code, "exit %s, want %d\n%s" % (p.returncode, want_code, err))
    check(("evfarm: interrupted by %s: no results written" % want_name) in err,
          "no message naming %s in:\n%s" % (want_name, err))
    check(os.listdir(d) == [], "files left behind: %r" % os.listdir(d))


def case_mpirun_sigint(a, check, d):
    """Ctrl-C on mpirun: mpirun sends the ranks SIGTERM and itself exits 1."""
    stopped(a, check, d, [a.mpirun, "-np", "2"], signal.SIGINT, 1, "SIGTERM")


def case_mpirun_sigusr1(a, check, d):
    """mpirun forwards SIGUSR1 (Slurm's --signal=USR1): the ranks end with 128 + 10."""
    stopped(a, check, d, [a.mpirun, "-np", "2"], signal.SIGUSR1, 128 + signal.SIGUSR1, "SIGUSR1")


def case_mpirun_sigusr2(a, check, d):
    stopped(a, check, d, [a.mpirun, "-np", "2"], signal.SIGUSR2, 128 + signal.SIGUSR2, "SIGUSR2")


def case_singleton_sigint(a, check, d):
    """Without mpirun (a singleton MPI process), Ctrl-C gives 130, the shell's convention."""
    stopped(a, check, d, [], signal.SIGINT, 130, "SIGINT")


def case_nohup_sighup(a, check, d):
    """Under nohup SIGHUP is ignored: it must stay ignored, and the job completes."""
    p = start(a, d, [], SHORT, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    wait_for_temps(check, p, d)
    os.kill(p.pid, signal.SIGHUP)
    _, err = finish(check, p)
    check(p.returncode == 0, "exit %s, want 0\n%s" % (p.returncode, err))
    check(sorted(os.listdir(d)) == ["r.csv", "s.json"], "files: %r" % os.listdir(d))


def case_sigpipe(a, check, d):
    """'evfarm ... | head -0': the summary's reader is gone.  The results were committed before
    the summary was printed, so both files are complete and no temporary file is left."""
    r, w = os.pipe()
    p = start(a, d, [], SHORT, stdout=w)
    os.close(w)
    os.close(r)  # the reader goes away at once
    _, err = finish(check, p)
    check(p.returncode in (0, 128 + signal.SIGPIPE), "exit %s\n%s" % (p.returncode, err))
    check(sorted(os.listdir(d)) == ["r.csv", "s.json"], "files: %r" % os.listdir(d))
    if os.path.exists(os.path.join(d, "s.json")):
        s = json.load(open(os.path.join(d, "s.json")))
        n = sum(1 for _ in open(os.path.join(d, "r.csv"))) - 1
        check(s["tasks"] == 200 and n == 200, "summary tasks %r, %d records" % (s["tasks"], n))


def case_fatal_one_rank(a, check, d):
    """A fatal error on one rank (EVFARM_TEST_FATAL=1: rank 1 fails right after t0) ends every
    rank through MPI_Abort, even under a launcher that lets the others run on when one process
    exits (Open MPI told not to abort on a non-zero exit, as a bare srun without
    --kill-on-bad-exit): the job ends within a deadline (an _exit(3) alone left ranks 0 and 2
    waiting for rank 1 forever), exit 3, rank 1 named, no file left behind."""
    env = dict(os.environ, EVFARM_TEST_FATAL="1", OMPI_MCA_orte_abort_on_non_zero_status="0")
    p = start(a, d, [a.mpirun, "-np", "3", "-x", "EVFARM_TEST_FATAL"], LONG, env=env)
    _, err = finish(check, p)
    check(p.returncode == 3, "exit %s, want 3\n%s" % (p.returncode, err[-1500:]))
    check("evfarm: rank 1: EVFARM_TEST_FATAL" in err, "no message from rank 1:\n%s" % err[-1500:])
    check(os.listdir(d) == [], "files left behind: %r" % os.listdir(d))


CASES = cases_of(globals())


def run(a, case):
    d = os.path.join(a.outdir, "interrupt_" + a.case)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    check = Check("check_interrupt " + a.case)
    case(a, check, d)
    return check.done()


if __name__ == "__main__":
    sys.exit(cases_main(CASES, ['--mpirun', '--evfarm', '--outdir'], run))
