"""Multi-host runs on this machine: three network-namespace "hosts" h1..h3 (tests/multihost/
netns.sh), Open MPI launching on them through a launch agent, mpirun started inside h1.

  start   create the hosts (a ctest fixture setup); the state directory goes to --state
  stop    delete them (the fixture cleanup: runs even after failures)
  run     evfarm on h1..h3, 2 ranks each: records name the right host, and are identical to a
          single-host run's once placement and times are dropped
  sweep   evfarm-sweep --nodes 1,2,3 across the hosts: each size uses the right hosts

usage: multihost_test.py CMD --state F --evfarm E --outdir D --repo R
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from testlib import Check  # noqa: E402

DEADLINE = 120
HOSTS = ["h1", "h2", "h3"]


def state_dir(a):
    with open(a.state) as f:
        return f.read().strip()


def mpirun_on_hosts(a, nranks, argv):
    """mpirun inside h1, placing 2 ranks on each host, daemons through the launch agent."""
    d = state_dir(a)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    hosts = ",".join("%s:2" % h for h in HOSTS)
    cmd = [os.path.join(d, "on"), "h1", "mpirun", "--oversubscribe", "--host", hosts,
           "-np", str(nranks), "--mca", "plm_rsh_agent", os.path.join(d, "agent"),
           "--mca", "btl_tcp_if_include", "eth0", "--mca", "oob_tcp_if_include", "eth0"] + argv
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=DEADLINE)


TASKS = ["--tasks", "3000", "--io-min", "0", "--io-max", "0.1", "--cpu-max", "20000"]


def cmd_start(a, c):
    d = tempfile.mkdtemp(prefix="evfarm-netns.")
    with open(a.state, "w") as f:
        f.write(d)
    p = subprocess.run(["bash", os.path.join(a.repo, "tests", "multihost", "netns.sh"), "start",
                        d, str(len(HOSTS))], capture_output=True, text=True, timeout=DEADLINE)
    c(p.returncode == 0, "hosts not created: %s" % p.stderr)


def cmd_stop(a, c):
    if not os.path.exists(a.state):
        return
    d = state_dir(a)
    p = subprocess.run(["bash", os.path.join(a.repo, "tests", "multihost", "netns.sh"), "stop", d],
                       capture_output=True, text=True, timeout=DEADLINE)
    c(p.returncode == 0, "hosts not deleted: %s" % p.stderr)
    shutil.rmtree(d, ignore_errors=True)
    os.unlink(a.state)
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    c(os.path.basename(d) not in left, "namespaces left: %s" % left)


def check_records(a, c, name, records, summary, np_, hosts):
    p = subprocess.run([sys.executable, os.path.join(a.repo, "tests", "integration", "check_run.py"),
                        "--records", records, "--summary", summary, "--outdir", a.outdir,
                        "--name", name, "--np", str(np_), "--hosts", ",".join(hosts), "--"]
                       + TASKS, capture_output=True, text=True, timeout=DEADLINE)
    print(p.stdout.strip())
    c(p.returncode == 0, "%s: records fail the oracle" % name)
    return os.path.join(a.outdir, name + ".canonical")


def cmd_run(a, c):
    d = os.path.join(a.outdir, "multihost")
    os.makedirs(d, exist_ok=True)
    rec, summ = os.path.join(d, "run.csv"), os.path.join(d, "run.json")
    p = mpirun_on_hosts(a, 6, [a.evfarm] + TASKS + ["--output", rec, "--json", summ])
    if not c(p.returncode == 0, "mpirun exit %d:\n%s\n%s" % (p.returncode, p.stdout, p.stderr)):
        return
    s = json.load(open(summ))
    c([(h["host"], h["ranks"]) for h in s["hosts"]] == [(h, 2) for h in HOSTS],
      "hosts %r" % s["hosts"])
    c([r["host"] for r in s["per_rank"]] == ["h1", "h1", "h2", "h2", "h3", "h3"],
      "rank placement %r" % [r["host"] for r in s["per_rank"]])
    multi = check_records(a, c, "multihost_run", rec, summ, 6, HOSTS)
    # The same tasks on one host (this machine, no namespaces).
    rec1, summ1 = os.path.join(d, "single.csv"), os.path.join(d, "single.json")
    p = subprocess.run([os.path.join(a.repo, "scripts", "evfarm-mpirun"), "-np", "2", a.evfarm]
                       + TASKS + ["--output", rec1, "--json", summ1], capture_output=True,
                       text=True, timeout=DEADLINE)
    if c(p.returncode == 0, "single-host run failed: %s" % p.stderr):
        import socket
        single = check_records(a, c, "multihost_single", rec1, summ1, 2, [socket.gethostname()[:63]])
        c(open(multi).read() == open(single).read(),
          "multi-host records differ from the single-host run's")


def cmd_sweep(a, c):
    d = os.path.join(a.outdir, "multihost")
    os.makedirs(d, exist_ok=True)
    prefix = os.path.join(d, "sweep")
    p = mpirun_on_hosts(a, 6, [os.path.join(os.path.dirname(a.evfarm), "evfarm-sweep"),
                               "--nodes", "1,2,3", "--preset", "cpu", "--tasks", "300",
                               "--warmup", "0", "--reps", "1", "--out", prefix, "--",
                               "--cpu-min", "50000", "--cpu-max", "100000"])
    if not c(p.returncode == 0, "sweep exit %d:\n%s\n%s" % (p.returncode, p.stdout, p.stderr)):
        return
    s = json.load(open(prefix + ".json"))
    got = [(r["size"], r["ranks"], [h["host"] for h in r["summary"]["hosts"]]) for r in s["runs"]]
    c(got == [(1, 2, ["h1"]), (2, 4, ["h1", "h2"]), (3, 6, ["h1", "h2", "h3"])],
      "sizes by host: %r" % got)
    c(s["world_nodes"] == 3, "world nodes %r" % s["world_nodes"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["start", "stop", "run", "sweep"])
    ap.add_argument("--state", required=True)
    ap.add_argument("--evfarm", required=True)
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--repo", required=True)
    a = ap.parse_args()
    c = Check("multihost " + a.cmd)
    {"start": cmd_start, "stop": cmd_stop, "run": cmd_run, "sweep": cmd_sweep}[a.cmd](a, c)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
