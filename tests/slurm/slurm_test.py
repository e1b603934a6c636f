"""evfarm's Slurm tests, on a throw-away cluster that tests/slurm/cluster.sh starts on this
machine (two slurmd "nodes" n1 and n2 of 4 CPUs each).  One subcommand per ctest:

  start       start the cluster (a ctest fixture setup); its directory goes to --state
  stop        stop it and remove its directory (the fixture cleanup: runs even after failures)
  single      sbatch jobs/evfarm.sbatch on one node: COMPLETED, records checked by the oracle,
              the summary names the job and the node
  two-nodes   the same job on two nodes: ranks on both, records identical to the one-node run's
  mpirun      the same job launched by mpirun inside the allocation instead of srun
  bad-input   a bad option: the job ends FAILED with exit code 2 and evfarm's line in its output,
              and no job is left
  scaling     jobs/scaling-strong.sh and jobs/scaling-weak.sh at 1 and 2 nodes: one summary per size
  sweep       jobs/sweep.sbatch: one allocation of 2 nodes, sizes of 1 and 2 nodes, the report
  user-install  as an unprivileged user made for the test (no sudo): libev unpacked from
              Debian's libev-dev with dpkg -x into the home, configure with -DLibev_ROOT, build,
              cmake --install into the home; the installed evfarm (through the installed
              evfarm-mpirun) and the installed job script on this cluster, against the oracle
  drain       jobs/evfarm.sbatch with EVF_JOURNAL and EVF_RESUBMIT: scancel --signal=USR1 --batch
              mid-run; the job drains (exit 4), submits itself again, and the next job completes
              the set from the journal: every id once, the oracle's values; the journal's run
              frames name the two jobs (evfarm-plot --data)

Every wait has a deadline.  usage: slurm_test.py CMD --state F --evfarm E --outdir D --repo R
"""
import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import oracle  # noqa: E402
from testlib import Check  # noqa: E402

DEADLINE = 60  # seconds for any one job
TASKS = ["--tasks", "1500", "--io-min", "0", "--io-max", "0.2", "--cpu-max", "50000"]


class Ctx:
    def __init__(self, a):
        self.a = a
        self.check = Check("slurm_test " + a.cmd)

    def cluster_dir(self):
        with open(self.a.state) as f:
            return f.read().strip()

    def env(self):
        e = dict(os.environ)
        e["SLURM_CONF"] = os.path.join(self.cluster_dir(), "etc", "slurm.conf")
        e["EVF_BIN"] = self.a.evfarm
        # Two slurmd "nodes" on one host share /dev/shm and the host name: keep Open MPI off its
        # shared-memory transport between them.
        e["OMPI_MCA_btl"] = "self,tcp"
        return e

    def run(self, cmd, timeout=DEADLINE, **kw):
        return subprocess.run(cmd, env=self.env(), capture_output=True, text=True,
                              timeout=timeout, **kw)

    def sbatch(self, args, workdir, extra_env=None):
        env = self.env()
        env.update(extra_env or {})
        p = subprocess.run(["sbatch", "--parsable"] + args, env=env, cwd=workdir,
                           capture_output=True, text=True, timeout=DEADLINE)
        if not self.check(p.returncode == 0, "sbatch failed: %s" % p.stderr):
            return None
        return p.stdout.strip().split(";")[0]

    def wait(self, job):
        """Poll scontrol until the job ends; returns (state, exit code string)."""
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            out = self.run(["scontrol", "show", "job", job]).stdout
            fields = dict(kv.split("=", 1) for kv in out.split() if "=" in kv)
            state = fields.get("JobState", "")
            if state in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL",
                         "OUT_OF_MEMORY", "BOOT_FAIL"):
                return state, fields.get("ExitCode", "")
            time.sleep(0.1)
        self.run(["scancel", job])
        return "STILL RUNNING after %d s (cancelled)" % DEADLINE, ""

    def job_dir(self, name):
        d = os.path.join(self.a.outdir, "slurm", name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        return d


def sbatch_script(a):
    return os.path.join(a.repo, "jobs", "evfarm.sbatch")


def run_job(c, name, sbatch_args, evfarm_args, np_, hosts, extra_env=None):
    """Submit evfarm.sbatch, wait, and check its results with the oracle.  `hosts` is where
    Slurm places the ranks, per rank (block layout: the first node's ranks first)."""
    d = c.job_dir(name)
    sched = (extra_env or {}).get("EVF_SCHEDULE")  # the job script adds --schedule
    job = c.sbatch(sbatch_args + [sbatch_script(c.a)] + evfarm_args, d, extra_env)
    if not job:
        return None
    state, code = c.wait(job)
    out = os.path.join(d, "evfarm-%s.out" % job)
    log = open(out).read() if os.path.exists(out) else "(no output file)"
    c.check(state == "COMPLETED" and code == "0:0",
            "job %s ended %s %s:\n%s" % (job, state, code, log))
    records = os.path.join(d, "evfarm-%s.csv" % job)
    summary = os.path.join(d, "evfarm-%s.json" % job)
    p = subprocess.run([sys.executable, os.path.join(a_repo_tests(c), "check_run.py"),
                        "--records", records, "--summary", summary, "--outdir", d,
                        "--name", name, "--np", str(np_), "--hosts", ",".join(sorted(set(hosts))),
                        "--"]
                       + evfarm_args + (["--schedule", sched] if sched else []),
                       capture_output=True, text=True, timeout=DEADLINE)
    print(p.stdout.strip())
    c.check(p.returncode == 0, "records of job %s fail the oracle" % job)
    if os.path.exists(summary):
        s = json.load(open(summary))
        slurm = s.get("slurm") or {}
        c.check(s["schedule"]["mode"] == (sched or "dynamic"),
                "schedule %r, want %s" % (s["schedule"], sched or "dynamic"))
        c.check(slurm.get("job_id") == job, "summary job id %r, want %s" % (slurm.get("job_id"), job))
        # Which rank ran where, rank by rank, as Slurm placed them (the records' host of each
        # rank equals the summary's: check_run.py).
        got = [x["host"] for x in sorted(s["per_rank"], key=lambda x: x["rank"])]
        c.check(got == hosts, "ranks ran on %r, Slurm placed them on %r" % (got, hosts))
        nodes = sorted(set(hosts))
        c.check(sorted(h["host"] for h in s["hosts"]) == nodes,
                "summary hosts %r, want %r" % (s["hosts"], nodes))
        c.check(slurm.get("nodes") == str(len(nodes)), "summary nodes %r" % slurm.get("nodes"))
        want = "n1" if len(nodes) == 1 else "n[1-%d]" % len(nodes)
        c.check(slurm.get("node_list") == want, "node list %r, want %r" % (slurm.get("node_list"), want))
    return os.path.join(d, name + ".canonical")


def a_repo_tests(c):
    return os.path.join(c.a.repo, "tests", "integration")


def cmd_start(c):
    d = tempfile.mkdtemp(prefix="evfarm-slurm.")  # short path: munge's socket name is limited
    with open(c.a.state, "w") as f:
        f.write(d)
    p = subprocess.run(["bash", os.path.join(c.a.repo, "tests", "slurm", "cluster.sh"), "start",
                        d, "2", "4"], capture_output=True, text=True, timeout=DEADLINE)
    print(p.stdout + p.stderr)
    c.check(p.returncode == 0, "cluster did not start")


def cmd_stop(c):
    if not os.path.exists(c.a.state):
        return
    d = c.cluster_dir()
    p = subprocess.run(["bash", os.path.join(c.a.repo, "tests", "slurm", "cluster.sh"), "stop", d],
                       capture_output=True, text=True, timeout=DEADLINE)
    print(p.stdout + p.stderr)
    c.check(p.returncode == 0, "cluster did not stop")
    shutil.rmtree(d, ignore_errors=True)
    os.unlink(c.a.state)


def cmd_single(c):
    run_job(c, "single", ["--nodes=1", "--ntasks-per-node=4"], TASKS, 4, ["n1"] * 4)


def cmd_two_nodes(c):
    one = run_job(c, "two-nodes-ref", ["--nodes=1", "--ntasks-per-node=2"], TASKS, 2, ["n1"] * 2)
    two = run_job(c, "two-nodes", ["--nodes=2", "--ntasks-per-node=2"], TASKS, 4,
                  ["n1", "n1", "n2", "n2"])
    if one and two and os.path.exists(one) and os.path.exists(two):
        c.check(open(one).read() == open(two).read(),
                "two-node records differ from the one-node run's")


def cmd_mpirun(c):
    run_job(c, "mpirun", ["--nodes=2", "--ntasks-per-node=2"], TASKS, 4, ["n1", "n1", "n2", "n2"],
            {"EVF_LAUNCHER": "mpirun", "EVF_SCHEDULE": "static"})


def cmd_bad_input(c):
    d = c.job_dir("bad-input")
    job = c.sbatch([sbatch_script(c.a), "--tasks", "abc"], d)
    if not job:
        return
    state, code = c.wait(job)
    out = os.path.join(d, "evfarm-%s.out" % job)
    log = open(out).read() if os.path.exists(out) else ""
    c.check(state == "FAILED" and code == "2:0", "job ended %s %s, want FAILED 2:0" % (state, code))
    line = "evfarm: --tasks: 'abc' is not a whole number (try 'evfarm --help')"
    c.check(log.splitlines().count(line) == 1, "want one line %r in the output:\n%s" % (line, log))
    left = c.run(["squeue", "-h", "-o", "%i %T"]).stdout.strip()
    c.check(left == "", "jobs left in the queue: %s" % left)
    c.check(not any(f.endswith((".csv", ".json")) or ".tmp." in f for f in os.listdir(d)),
            "result files left: %r" % os.listdir(d))


def cmd_scaling(c):
    for mode, sizes in (("strong", ["--tasks", "600"]), ("weak", ["--tasks-per-rank", "150"])):
        d = c.job_dir("scaling-" + mode)
        p = c.run([os.path.join(c.a.repo, "jobs", "scaling-%s.sh" % mode), "--nodes", "1 2",
                   "--ranks-per-node", "2", "--out", d, "--wait", "--timeout", str(DEADLINE)]
                  + sizes + ["--", "--io-min", "0", "--io-max", "0.1", "--cpu-max", "20000"],
                  timeout=3 * DEADLINE)
        if not c.check(p.returncode == 0, "%s sweep failed: %s %s" % (mode, p.stdout, p.stderr)):
            continue
        rows = [l.split("\t") for l in open(os.path.join(d, "sweep.tsv")).read().splitlines()]
        c.check([(r[0], r[1], r[2]) for r in rows] == [(mode, "1", "2"), (mode, "2", "4")],
                "sweep.tsv rows %r" % rows)
        for r in rows:
            want_tasks = 600 if mode == "strong" else 150 * int(r[2])
            ok = os.path.exists(r[5])
            if c.check(ok, "summary %s missing" % r[5]):
                s = json.load(open(r[5]))
                c.check(s["ranks"] == int(r[2]) and s["tasks"] == want_tasks == int(r[3]),
                        "%s: ranks %d tasks %d" % (r[5], s["ranks"], s["tasks"]))
                c.check(s["slurm"]["job_id"] == r[4] and s["slurm"]["nodes"] == r[1],
                        "%s: slurm context %r" % (r[5], s["slurm"]))
        c.check(len([f for f in os.listdir(d) if f.endswith(".json")]) == 2,
                "want one summary per size in %s: %r" % (d, os.listdir(d)))


def cmd_exec(c):
    """jobs/exec-farm.sbatch on 2 nodes: one rank per node, --inflight = the node's CPUs, every
    command's output in EVF_OUTDIR equal to the oracle's value."""
    d = c.job_dir("exec")
    n = 300
    cmds = os.path.join(d, "cmds.txt")
    with open(cmds, "w") as f:
        f.write("echo $((EVFARM_TASK_ID * 7)) $EVFARM_RANK\n" * n)
    od = os.path.join(d, "out")
    os.makedirs(od)
    job = c.sbatch(["--nodes=2", os.path.join(c.a.repo, "jobs", "exec-farm.sbatch"), cmds], d,
                   {"EVF_OUTDIR": od, "EVF_JOBS": os.path.join(c.a.repo, "jobs")})
    if not job:
        return
    state, code = c.wait(job)
    out = os.path.join(d, "evfarm-exec-%s.out" % job)
    log = open(out).read() if os.path.exists(out) else "(no output)"
    c.check(state == "COMPLETED" and code == "0:0", "exec job ended %s %s:\n%s" % (state, code, log))
    summary = os.path.join(d, "exec-%s.json" % job)
    if not c.check(os.path.exists(summary), "no summary:\n%s" % log):
        return
    s = json.load(open(summary))
    cpus = int(c.run(["scontrol", "show", "node", "n1"]).stdout.split("CPUTot=")[1].split()[0])
    c.check(s["ranks"] == 2 and sorted(x["host"] for x in s["per_rank"]) == ["n1", "n2"],
            "ranks %r" % s["per_rank"])
    c.check(s["options"]["inflight"] == cpus and s["options"]["kind"] == "exec",
            "inflight %r, the nodes have %d CPUs" % (s["options"]["inflight"], cpus))
    with open(os.path.join(d, "exec-%s.csv" % job)) as f:
        recs = list(csv.DictReader(f))
    c.check(len(recs) == n and all(r["status"] == "ok" for r in recs), "records: %d" % len(recs))
    for r in recs:
        got = open(os.path.join(od, "%s.out" % r["id"])).read()
        c.check(got == "%d %s\n" % (7 * int(r["id"]), r["rank"]),
                "task %s: %r" % (r["id"], got))


def cmd_sweep(c):
    d = c.job_dir("sweep")
    sweep_bin = os.path.join(os.path.dirname(c.a.evfarm), "evfarm-sweep")
    job = c.sbatch(["--nodes=2", "--ntasks-per-node=2", os.path.join(c.a.repo, "jobs", "sweep.sbatch"),
                    "--nodes", "1,2", "--preset", "cpu", "--tasks", "200", "--warmup", "0",
                    "--reps", "1", "--", "--cpu-min", "50000", "--cpu-max", "100000"], d,
                   {"EVF_SWEEP_BIN": sweep_bin, "EVF_SCHEDULE": "static",
                    "EVF_REPORT": os.path.join(c.a.repo, "scripts", "evfarm-report")})
    if not job:
        return
    state, code = c.wait(job)
    out = os.path.join(d, "evfarm-sweep-%s.out" % job)
    log = open(out).read() if os.path.exists(out) else "(no output)"
    c.check(state == "COMPLETED" and code == "0:0", "sweep job ended %s %s:\n%s" % (state, code, log))
    base = os.path.join(d, "sweep-%s" % job)
    if not c.check(os.path.exists(base + ".json"), "no sweep JSON:\n%s" % log):
        return
    s = json.load(open(base + ".json"))
    got = [(r["size"], r["nodes"], r["ranks"], sorted(h["host"] for h in r["summary"]["hosts"]))
           for r in s["runs"]]
    c.check(got == [(1, 1, 2, ["n1"]), (2, 2, 4, ["n1", "n2"])], "sizes by node: %r" % got)
    c.check(s["by"] == "nodes" and s["world_nodes"] == 2, "sweep header %r" % s["by"])
    c.check(s["schedule"] == "static" and
            all(r["summary"]["schedule"]["mode"] == "static" for r in s["runs"]),
            "EVF_SCHEDULE=static: sweep schedule %r" % s["schedule"])
    c.check(os.path.getsize(base + ".png") > 1000 and "T_lb" in log, "report missing:\n%s" % log)


def journal_bytes(d):
    """The bytes of a journal directory's files so far (0 before it exists)."""
    try:
        return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    except OSError:
        return 0


def cmd_drain(c):
    d = c.job_dir("drain")
    journal = os.path.join(d, "journal")
    n = 3000
    args = ["--tasks", str(n), "--io-min", "0", "--io-max", "3", "--cpu-max", "20000",
            "--inflight", "200", "--grace", "0.5"]
    job = c.sbatch(["--nodes=1", "--ntasks-per-node=2", sbatch_script(c.a)] + args, d,
                   {"EVF_JOURNAL": journal, "EVF_RESUBMIT": "2"})
    if not job:
        return
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:  # running, with some records journaled
        if journal_bytes(journal) > 200 * 80:
            break
        time.sleep(0.1)
    sig = c.run(["scancel", "--signal=USR1", "--batch", job])
    c.check(sig.returncode == 0, "scancel --signal: %s" % sig.stderr)
    state, code = c.wait(job)
    log = open(os.path.join(d, "evfarm-%s.out" % job)).read()
    c.check(state == "FAILED" and code == "4:0", "drained job ended %s %s:\n%s" % (state, code, log))
    c.check("USR1: passed on" in log and "draining (SIGUSR1)" in log, "no drain in:\n%s" % log)
    first = json.load(open(os.path.join(d, "evfarm-%s.json" % job)))
    c.check(first["partial"] is True and 0 < first["tasks"] < n, "first job's summary: partial %r "
            "tasks %r" % (first["partial"], first["tasks"]))
    nxt = [ln.split("submitted job ")[1].split()[0] for ln in log.splitlines()
           if "submitted job " in ln]
    if not c.check(len(nxt) == 1, "no resubmission in:\n%s" % log):
        return
    state, code = c.wait(nxt[0])
    log2 = open(os.path.join(d, "evfarm-%s.out" % nxt[0])).read()
    c.check(state == "COMPLETED" and code == "0:0", "next job ended %s %s:\n%s" % (state, code, log2))
    rows = list(csv.DictReader(open(os.path.join(d, "evfarm-%s.csv" % nxt[0]))))
    c.check([int(r["id"]) for r in rows] == list(range(1, n + 1)), "final ids not 1..%d" % n)
    bad = [r["id"] for r in rows
           if oracle.canonical_line(oracle.task(1, int(r["id"]), 0.0, 3.0, 20000, 20000)) !=
           "%s,%s,%s,%s,%s,%s,%s" % (r["id"], r["iterations"], r["value"], r["io_delay"],
                                     r["status"], r["attempts"], r["last_error"])]
    c.check(not bad, "final records differ from the oracle: %r" % bad[:5])
    s = json.load(open(os.path.join(d, "evfarm-%s.json" % nxt[0])))
    c.check(s["partial"] is False and s["journal"]["resumed"] == first["tasks"] and
            s["tasks"] == n - first["tasks"], "next job's summary: %r" % s["journal"])
    # The journal tells the two jobs apart: a run frame each, with its Slurm job and node.
    plot = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                        "evfarm-plot")
    data = os.path.join(d, "plot.json")
    p = c.run([plot, journal, "--run", "1", "-o", os.path.join(d, "first.png"), "--data", data])
    if c.check(p.returncode == 0, "evfarm-plot of the journal: %s" % p.stderr):
        runs = json.load(open(data))["journal"]["runs"]
        got = [(r["slurm_job"], r["ranks"], r["records"]) for r in runs]
        c.check(got == [(job, 2, first["tasks"]), (nxt[0], 2, n - first["tasks"])],
                "the journal's runs %r, want jobs %s and %s" % (got, job, nxt[0]))
    left = c.run(["squeue", "-h", "-o", "%i"]).stdout.split()
    c.check(not left, "jobs left: %r" % left)


USER = "evfarm-user"


def find_libev_deb(c, where):
    """Debian's libev-dev package file: apt's cache, else apt-get download (from the mirror,
    as any user may), else None."""
    cache = "/var/cache/apt/archives"
    debs = sorted(f for f in os.listdir(cache) if f.startswith("libev-dev_") and f.endswith(".deb")) \
        if os.path.isdir(cache) else []
    if debs:
        shutil.copy(os.path.join(cache, debs[-1]), os.path.join(where, "libev-dev.deb"))
        return os.path.join(where, "libev-dev.deb")
    p = subprocess.run(["apt-get", "download", "libev-dev"], cwd=where, capture_output=True,
                       text=True, timeout=300)
    debs = [f for f in os.listdir(where) if f.startswith("libev-dev_") and f.endswith(".deb")]
    if p.returncode == 0 and debs:
        os.rename(os.path.join(where, debs[0]), os.path.join(where, "libev-dev.deb"))
        return os.path.join(where, "libev-dev.deb")
    c.check(False, "no libev-dev .deb in %s and apt-get download failed: %s" % (cache, p.stderr))
    return None


def remove_user():
    subprocess.run(["pkill", "-KILL", "-u", USER], capture_output=True)
    subprocess.run(["userdel", "-r", "-f", USER], capture_output=True)


def cmd_user_install(c):
    """Everything a cluster user without root does, as such a user."""
    remove_user()
    p = subprocess.run(["useradd", "-m", "-s", "/bin/bash", USER], capture_output=True, text=True)
    if not c.check(p.returncode == 0, "useradd: %s" % p.stderr):
        return
    try:
        user_install(c)
    finally:
        remove_user()


def user_install(c):
    import pwd
    pw = pwd.getpwnam(USER)
    home = pw.pw_dir
    c.check(pw.pw_uid != 0, "the test user is root")
    # What root provides once, as a site would: the package file and the source, then the
    # user owns them.  The cluster's configuration must be readable by every user.
    deb = find_libev_deb(c, home)
    if not deb:
        return
    src = os.path.join(home, "evfarm-src")
    shutil.copytree(c.a.repo, src, ignore=shutil.ignore_patterns(".git", "build", "build-*"))
    subprocess.run(["chown", "-R", "%d:%d" % (pw.pw_uid, pw.pw_gid), home], check=True)
    os.chmod(c.cluster_dir(), 0o755)
    slurm_conf = os.path.join(c.cluster_dir(), "etc", "slurm.conf")

    runuser = shutil.which("runuser") or "/usr/sbin/runuser"

    def as_user(script, timeout=600):
        env = {"HOME": home, "USER": USER, "LOGNAME": USER, "PATH": "/usr/local/bin:/usr/bin:/bin",
               "SLURM_CONF": slurm_conf, "OMPI_MCA_btl": "self,tcp", "LANG": "C.UTF-8"}
        return subprocess.run([runuser, "-u", USER, "--", "bash", "-c", "set -euo pipefail\n" + script],
                              env=env, cwd=home, capture_output=True, text=True, timeout=timeout)

    prefix = os.path.join(home, ".local", "evfarm")
    p = as_user("""
test "$(id -u)" != 0
! sudo -n true 2>/dev/null
dpkg -x libev-dev.deb "$HOME/libev"
cmake -S "$HOME/evfarm-src" -B "$HOME/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
      -DLibev_ROOT="$HOME/libev/usr" > "$HOME/configure.log"
cmake --build "$HOME/build" -j"$(nproc)" > "$HOME/build.log"
cmake --install "$HOME/build" --prefix "$HOME/.local/evfarm" > "$HOME/install.log"
grep '^Libev_LIBRARY:' "$HOME/build/CMakeCache.txt"
""")
    if not c.check(p.returncode == 0, "as %s: build and install failed (exit %d):\n%s%s" %
                   (USER, p.returncode, p.stdout[-3000:], p.stderr[-3000:])):
        for log in ("configure.log", "build.log", "install.log"):
            f = os.path.join(home, log)
            if os.path.exists(f):
                print("--- %s:\n%s" % (log, open(f).read()[-3000:]))
        return
    c.check(p.stdout.strip().startswith("Libev_LIBRARY:FILEPATH=%s/libev/usr/lib/" % home),
            "the user's build did not take libev from Libev_ROOT: %r" % p.stdout)
    evfarm = os.path.join(prefix, "bin", "evfarm")
    q = subprocess.run(["sh", os.path.join(a_repo_tests(c), "check_static_libev.sh"), evfarm],
                       capture_output=True, text=True)
    c.check(q.returncode == 0, "the user's evfarm: %s" % q.stdout)

    # The installed evfarm, started by the installed evfarm-mpirun, as the user.
    run_dir = os.path.join(home, "run")
    p = as_user("""
mkdir -p "$HOME/run"
"$HOME/.local/evfarm/bin/evfarm-mpirun" -np 2 "$HOME/.local/evfarm/bin/evfarm" %s \
    --output "$HOME/run/r.csv" --json "$HOME/run/s.json" --quiet
""" % " ".join(TASKS), timeout=DEADLINE)
    c.check(p.returncode == 0, "the installed evfarm as %s: exit %d\n%s" % (USER, p.returncode, p.stderr))
    q = subprocess.run([sys.executable, os.path.join(a_repo_tests(c), "check_run.py"),
                        "--records", os.path.join(run_dir, "r.csv"), "--summary",
                        os.path.join(run_dir, "s.json"), "--outdir", run_dir, "--name",
                        "user-mpirun", "--np", "2", "--"] + TASKS,
                       capture_output=True, text=True, timeout=DEADLINE)
    print(q.stdout.strip())
    c.check(q.returncode == 0, "the user's mpirun run fails the oracle")

    # The installed job script, submitted by the user: it must run the user's installed evfarm.
    p = as_user("""
mkdir -p "$HOME/jobs" && cd "$HOME/jobs"
sbatch --parsable --nodes=2 --ntasks-per-node=2 "$HOME/.local/evfarm/share/evfarm/jobs/evfarm.sbatch" %s
""" % " ".join(TASKS), timeout=DEADLINE)
    if not c.check(p.returncode == 0, "sbatch as %s: %s" % (USER, p.stderr)):
        return
    job = p.stdout.strip().split(";")[0]
    state, code = c.wait(job)
    jobs_dir = os.path.join(home, "jobs")
    out = os.path.join(jobs_dir, "evfarm-%s.out" % job)
    log = open(out).read() if os.path.exists(out) else "(no output file)"
    c.check(state == "COMPLETED" and code == "0:0", "job %s ended %s %s:\n%s" % (job, state, code, log))
    c.check("evfarm.sbatch: running %s\n" % evfarm in log,
            "the job did not run the installed %s:\n%s" % (evfarm, log))
    owner = c.run(["scontrol", "show", "job", job]).stdout
    c.check("UserId=%s(" % USER in owner, "the job was not the user's: %s" % owner[:300])
    q = subprocess.run([sys.executable, os.path.join(a_repo_tests(c), "check_run.py"),
                        "--records", os.path.join(jobs_dir, "evfarm-%s.csv" % job), "--summary",
                        os.path.join(jobs_dir, "evfarm-%s.json" % job), "--outdir", jobs_dir,
                        "--name", "user-sbatch", "--np", "4", "--hosts", "n1,n2", "--"] + TASKS,
                       capture_output=True, text=True, timeout=DEADLINE)
    print(q.stdout.strip())
    c.check(q.returncode == 0, "the user's job fails the oracle")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["start", "stop", "single", "two-nodes", "mpirun", "exec",
                                    "bad-input", "scaling", "sweep", "drain", "user-install"])
    ap.add_argument("--state", required=True)
    ap.add_argument("--evfarm", required=True)
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--repo", required=True)
    a = ap.parse_args()
    c = Ctx(a)
    {"start": cmd_start, "stop": cmd_stop, "single": cmd_single, "two-nodes": cmd_two_nodes,
     "mpirun": cmd_mpirun, "exec": cmd_exec, "bad-input": cmd_bad_input, "scaling": cmd_scaling,
     "sweep": cmd_sweep, "drain": cmd_drain, "user-install": cmd_user_install}[a.cmd](c)
    return c.check.done()


if __name__ == "__main__":
    sys.exit(main())
