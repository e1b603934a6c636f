"""Interrupt a running job (SIGINT to mpirun, as Ctrl-C does): it must end within a deadline,
exit non-zero, and leave neither a final nor a temporary output file behind.

usage: check_interrupt.py --mpirun M --evfarm E --outdir D
"""
import argparse
import os
import signal
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mpirun", required=True)
    ap.add_argument("--evfarm", required=True)
    ap.add_argument("--outdir", required=True)
    a = ap.parse_args()
    d = os.path.join(a.outdir, "interrupt")
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    cmd = [a.mpirun, "-np", "2", a.evfarm, "--tasks", "1000", "--io-min", "20", "--io-max", "30",
           "--output", os.path.join(d, "r.csv"), "--json", os.path.join(d, "s.json")]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    failures = []
    deadline = time.monotonic() + 30
    while len(os.listdir(d)) < 2 and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.05)
    if len(os.listdir(d)) < 2:
        failures.append("the temporary files never appeared: %r" % os.listdir(d))
    time.sleep(0.5)  # let the ranks reach their event loops
    os.kill(p.pid, signal.SIGINT)
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        failures.append("still running 30 s after SIGINT")
    if p.returncode == 0:
        failures.append("exit status 0 after an interrupt")
    left = os.listdir(d)
    if left:
        failures.append("files left behind: %r" % left)
    for f in failures:
        print("FAIL check_interrupt: %s\nstderr:\n%s" % (f, err))
    print("check_interrupt: %d passed, %d failed (exit %s)" % (0 if failures else 1,
                                                              len(failures), p.returncode))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
