"""The job scripts' own failure paths, outside a cluster: jobs/evfarm.sbatch run directly (as a
batch step would run it) and jobs/scaling.sh with stand-ins for Slurm's commands on PATH that
play a controller which has lost or purged the job.  (The real cluster tests are slurm_*.)

usage: check_jobs.py --evfarm E --repo R --outdir D --case NAME
       check_jobs.py --list
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import Check, cases_main, cases_of  # noqa: E402

JOB = "--tasks 20 --io-min 0 --io-max 0.01 --cpu-max 100"

# Stand-ins: a controller that knows no job (as after MinJobAge), no accounting, and an sbatch
# that logs its calls and "runs" each job at once, writing the job's output file as
# evfarm.sbatch ends it.
FAKE = {
    "scontrol": '#!/bin/sh\necho "slurm_load_jobs error: Invalid job id specified" >&2\nexit 1\n',
    "sacct": '#!/bin/sh\necho "sacct: error: Slurm accounting storage is disabled" >&2\nexit 1\n',
    "sbatch": r'''#!/bin/bash
echo "$*" >> "$FAKE_LOG"
for a in "$@"; do [ "$a" = --test-only ] && exit 0; done
n=$(( $(wc -l < "$FAKE_LOG") + 100 ))
for a in "$@"; do
  case "$a" in --output=*) f=${a#--output=}; echo "evfarm.sbatch: evfarm exit code 0" > "${f//%j/$n}" ;; esac
done
echo "$n"
''',
}


class Case:
    def __init__(self, a, name):
        self.a, self.check = a, Check("check_jobs " + name)
        self.dir = os.path.join(a.outdir, "jobs_" + name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(os.path.join(self.dir, "bin"))
        for name, text in FAKE.items():
            p = os.path.join(self.dir, "bin", name)
            with open(p, "w") as f:
                f.write(text)
            os.chmod(p, 0o755)
        self.log = os.path.join(self.dir, "sbatch.log")

    def run(self, cmd, env):
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("SLURM_"):
                del e[k]
        e.update(PATH=os.path.join(self.dir, "bin") + ":" + e["PATH"], FAKE_LOG=self.log,
                 OMPI_MCA_rmaps_base_oversubscribe="1")
        e.update(env)
        return subprocess.run(cmd, cwd=self.dir, env=e, capture_output=True, text=True,
                              timeout=120)

    def sbatch_calls(self):
        return open(self.log).read().splitlines() if os.path.exists(self.log) else []


def case_outside_slurm(c):
    """Run outside a job: one line saying so, exit 2 (not 'unbound variable', not 1)."""
    p = c.run(["bash", os.path.join(c.a.repo, "jobs", "evfarm.sbatch")], {})
    c.check(p.returncode == 2, "exit %d, want 2\n%s%s" % (p.returncode, p.stdout, p.stderr))
    c.check("SLURM_JOB_ID is not set" in p.stderr and "unbound" not in p.stderr,
            "stderr: %r" % p.stderr)


def case_scontrol_fails(c):
    """scontrol fails (the controller lost the job): the job still runs, and its results go to
    the directory it was submitted from."""
    p = c.run(["bash", os.path.join(c.a.repo, "jobs", "evfarm.sbatch"), "--quiet"],
              {"SLURM_JOB_ID": "4242", "SLURM_SUBMIT_DIR": c.dir, "EVF_BIN": c.a.evfarm,
               "EVF_LAUNCHER": "mpirun", "EVF_OPTIONS": JOB})
    c.check(p.returncode == 0, "exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr))
    for f in ("evfarm-4242.csv", "evfarm-4242.json"):
        c.check(os.path.exists(os.path.join(c.dir, f)), "%s missing: %r" % (f, os.listdir(c.dir)))


def case_options_not_globbed(c):
    """EVF_OPTIONS='--kind *' reaches evfarm as '*', not as the names of the files here."""
    open(os.path.join(c.dir, "somefile"), "w").close()
    p = c.run(["bash", os.path.join(c.a.repo, "jobs", "evfarm.sbatch")],
              {"SLURM_JOB_ID": "4243", "SLURM_SUBMIT_DIR": c.dir, "EVF_BIN": c.a.evfarm,
               "EVF_LAUNCHER": "mpirun", "EVF_OPTIONS": JOB + " --kind *"})
    c.check(p.returncode == 2, "exit %d, want 2" % p.returncode)
    c.check("--kind: '*' is not a task kind" in p.stderr, "stderr: %r" % p.stderr)


def case_scaling_bad_nodes(c):
    """A node list with a glob character is bad input before any job is submitted, even when a
    file here would match it."""
    open(os.path.join(c.dir, "7"), "w").close()
    p = c.run([os.path.join(c.a.repo, "jobs", "scaling-strong.sh"), "--nodes", "1 ?",
               "--out", os.path.join(c.dir, "series")], {})
    c.check(p.returncode == 2, "exit %d, want 2\n%s" % (p.returncode, p.stderr))
    c.check("--nodes: '?' is not a positive whole number" in p.stderr, "stderr: %r" % p.stderr)
    c.check(c.sbatch_calls() == [], "sbatch was called: %r" % c.sbatch_calls())


def case_scaling_wait_purged(c):
    """--wait when scontrol no longer knows the jobs and there is no accounting: the jobs' own
    output files say how they ended, so the wait ends at once, with success."""
    out = os.path.join(c.dir, "series")
    p = c.run([os.path.join(c.a.repo, "jobs", "scaling-strong.sh"), "--nodes", "1 2",
               "--out", out, "--wait", "--timeout", "20"], {})
    c.check(p.returncode == 0, "exit %d, want 0\n%s%s" % (p.returncode, p.stdout, p.stderr))
    c.check(len([x for x in c.sbatch_calls() if "--test-only" not in x]) == 2,
            "sbatch calls: %r" % c.sbatch_calls())


CASES = cases_of(globals())


def run(a, case):
    c = Case(a, a.case)
    case(c)
    return c.check.done()


if __name__ == "__main__":
    sys.exit(cases_main(CASES, ['--evfarm', '--repo', '--outdir'], run))
