"""Output files never destroy or silently lose data.  Each case runs a small job under mpirun
(2 ranks) in a fresh directory and checks what the files became.

usage: check_outputs.py --mpirun M --evfarm E --outdir D --case NAME
       check_outputs.py --list          (the case names, for CMake)
"""
import csv
import json
import os
import shutil
import stat
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import Check, cases_main, cases_of  # noqa: E402

JOB = ["--tasks", "40", "--io-min", "0", "--io-max", "0.02", "--cpu-max", "1000", "--quiet"]
HEADER = "id,rank,host,batch,iterations,value,io_delay,t_start,t_io_done,t_end,cpu_time,status"


class Case:
    def __init__(self, a, name):
        self.a, self.check = a, Check("check_outputs " + name)
        self.dir = os.path.join(a.outdir, "outputs_" + name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)

    def path(self, *names):
        return os.path.join(self.dir, *names)

    def run(self, args, want, env=None, np_=2):
        cmd = [self.a.mpirun, "-np", str(np_), self.a.evfarm] + JOB + args
        e = dict(os.environ, **(env or {}))
        p = subprocess.run(cmd, capture_output=True, timeout=120, env=e)
        err = p.stderr.decode("utf-8", "replace")
        self.check(p.returncode == want, "exit %d, want %d: %s\n%s"
                   % (p.returncode, want, " ".join(map(str, args)), err))
        return err

    def leftovers(self):
        """Temporary files left in the case's directory."""
        return [f for f in os.listdir(self.dir) if ".tmp" in f]

    def records_ok(self, path):
        if not os.path.exists(path):
            return False
        with open(path) as f:
            rows = list(csv.DictReader(f))
        return [int(r["id"]) for r in rows] == list(range(1, 41))


def case_devices(c):
    """A character device (a copy of /dev/null made with mknod) is written in place, never
    replaced by a regular file; so is a symbolic link to one (/dev/stdout's shape)."""
    os.mknod(c.path("null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.symlink(c.path("null"), c.path("out-link"))
    c.run(["--output", c.path("null"), "--json", c.path("out-link")], 0)
    c.check(stat.S_ISCHR(os.stat(c.path("null")).st_mode), "the device became a regular file")
    c.check(os.path.islink(c.path("out-link")), "the link was replaced")
    c.check(c.leftovers() == [], "files left: %r" % c.leftovers())


def case_stdout(c):
    """/dev/stdout and /dev/fd/1 are the process's own standard output: a pipe gets the records
    (a link in /proc to 'pipe:[N]' is no path to follow), and a file the shell opened with '>>'
    is appended to, the same file, not replaced.  A single MPI process, so that its standard
    output is the test's.  The links are copies made here of /dev/stdout and /dev/fd, so that a
    broken evfarm replaces the copies, never the machine's own."""
    os.symlink("/proc/self/fd/1", c.path("stdout"))
    os.symlink("/proc/self/fd", c.path("fd"))
    p = subprocess.run([c.a.evfarm] + JOB + ["--output", c.path("stdout")], capture_output=True,
                       text=True, timeout=120)
    c.check(p.returncode == 0, "to a pipe: exit %d\n%s" % (p.returncode, p.stderr))
    c.check(p.stdout.startswith(HEADER) and p.stdout.count("\n") == 41,
            "to a pipe: %r" % p.stdout[:200])
    log = c.path("log.csv")
    with open(log, "w") as f:
        f.write("previous\n")
    ino = os.stat(log).st_ino
    with open(log, "a") as f:
        p = subprocess.run([c.a.evfarm] + JOB + ["--output", c.path("fd", "1")], stdout=f,
                           stderr=subprocess.PIPE, text=True, timeout=120)
    c.check(p.returncode == 0, "to '>>': exit %d\n%s" % (p.returncode, p.stderr))
    text = open(log).read()
    c.check(os.stat(log).st_ino == ino, "the file was replaced, not appended to")
    c.check(text.startswith("previous\n" + HEADER) and text.count("\n") == 42,
            "to '>>': %r" % text[:200])
    c.check(os.path.islink(c.path("stdout")) and os.path.islink(c.path("fd")),
            "a link was replaced")
    c.check(c.leftovers() == [], "files left: %r" % c.leftovers())


def case_full_device(c):
    """Writing to a full device (a copy of /dev/full) fails with its real reason (ENOSPC), exit
    3, and the other output, a regular file that existed, keeps its old contents."""
    os.mknod(c.path("full"), 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    with open(c.path("r.csv"), "w") as f:
        f.write("previous results\n")
    err = c.run(["--output", c.path("r.csv"), "--json", c.path("full")], 3)
    c.check("No space left on device" in err, "no reason in: %r" % err)
    c.check(stat.S_ISCHR(os.stat(c.path("full")).st_mode), "the device was replaced")
    c.check(open(c.path("r.csv")).read() == "previous results\n",
            "the records were committed although the summary failed")
    c.check(c.leftovers() == [], "files left: %r" % c.leftovers())


def case_full_device_records(c):
    """The records to a full device fail with the system's reason (ENOSPC, not "Input/output
    error"), exit 3, whether they are written a window at a time (--window: the writer's own
    buffer) or all at the end (--journal: the whole job one window), and the summary file is not
    committed without them."""
    os.mknod(c.path("full"), 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    for extra in (["--tasks", "20000", "--window", "1000"],
                  ["--tasks", "20000", "--journal", c.path("j.journal")]):
        with open(c.path("s.json"), "w") as f:
            f.write("previous summary\n")
        err = c.run(["--output", c.path("full"), "--json", c.path("s.json")] + extra, 3)
        ours = [x for x in err.splitlines() if x.startswith("evfarm:")]
        c.check(any("No space left on device" in x for x in ours) and
                not any("Input/output error" in x for x in ours), "%s: %r" % (extra, ours))
        c.check(open(c.path("s.json")).read() == "previous summary\n",
                "%s: the summary was committed although the records failed" % extra)
        c.check(c.leftovers() == [], "files left: %r" % c.leftovers())


def case_full_fs_writers(c):
    """A file system that fills up under the records (a 2 MiB tmpfs mounted in a mount namespace
    of the test's own) fails the run with the system's reason (ENOSPC), exit 3, whether every
    rank writes its parts at their offsets with MPI-IO (np 3, windows: the default writers) or
    rank 0 writes them all (--writers 1); the file that was there keeps its contents, no
    temporary file is left, and the summary file is not committed."""
    fs = c.path("fs")
    os.makedirs(fs)
    for extra in ([], ["--writers", "1"]):
        with open(c.path("s.json"), "w") as f:
            f.write("previous summary\n")
        script = ('mount -t tmpfs -o size=2m tmpfs "$0" && printf "previous results\\n" > "$0/r.csv" '
                  '&& "$@"; rc=$?; ls -A "$0" > "$0.left"; cat "$0/r.csv" > "$0.after"; exit $rc')
        cmd = ["unshare", "-m", "sh", "-c", script, fs, c.a.mpirun, "-np", "3", c.a.evfarm] + JOB + [
            "--tasks", "200000", "--window", "10000", "--io-max", "0", "--cpu-max", "0",
            "--output", os.path.join(fs, "r.csv"), "--json", c.path("s.json")] + extra
        p = subprocess.run(cmd, capture_output=True, timeout=120)
        err = p.stderr.decode("utf-8", "replace")
        ours = [x for x in err.splitlines() if x.startswith("evfarm:")]
        c.check(p.returncode == 3, "%s: exit %d, want 3\n%s" % (extra, p.returncode, err[-2000:]))
        c.check(any("No space left on device" in x for x in ours), "%s: %r" % (extra, ours))
        c.check(open(fs + ".after").read() == "previous results\n",
                "%s: the records file was replaced: %r" % (extra, open(fs + ".after").read()[:100]))
        c.check(open(fs + ".left").read().split() == ["r.csv"],
                "%s: files left: %r" % (extra, open(fs + ".left").read()))
        c.check(open(c.path("s.json")).read() == "previous summary\n",
                "%s: the summary was committed although the records failed" % extra)


def case_fifo(c):
    """A FIFO is written in place: its reader gets the records, and it stays a FIFO."""
    os.mkfifo(c.path("pipe"))
    got = []
    t = threading.Thread(target=lambda: got.append(open(c.path("pipe")).read()))
    t.start()
    c.run(["--output", c.path("pipe")], 0)
    t.join(30)
    c.check(not t.is_alive(), "the FIFO's reader never saw the end")
    c.check(got and got[0].startswith(HEADER) and got[0].count("\n") == 41,
            "the reader got %r" % (got[0][:200] if got else None))
    c.check(stat.S_ISFIFO(os.stat(c.path("pipe")).st_mode), "the FIFO was replaced")


def case_symlink(c):
    """A symbolic link is followed, as '> link' writes the target: the link stays, the target
    (created where it does not exist yet) gets the records."""
    os.mkdir(c.path("real"))
    os.symlink("real/target.csv", c.path("link.csv"))  # dangling, relative
    c.run(["--output", c.path("link.csv")], 0)
    c.check(os.path.islink(c.path("link.csv")), "the link was replaced")
    c.check(c.records_ok(c.path("real", "target.csv")), "the target lacks the records")
    c.check(c.leftovers() == [] and os.listdir(c.path("real")) == ["target.csv"],
            "files left: %r %r" % (c.leftovers(), os.listdir(c.path("real"))))


def case_same_file(c):
    """Two options naming one file however spelt (./r.csv, a symbolic link, a hard link) are
    bad input, and the file is left as it was."""
    with open(c.path("r.csv"), "w") as f:
        f.write("keep me\n")
    os.link(c.path("r.csv"), c.path("hard.csv"))
    os.symlink("r.csv", c.path("soft.csv"))
    os.makedirs(c.path("sub"))
    for other in (os.path.join(c.dir, ".", "r.csv"), c.path("sub", "..", "r.csv"),
                  c.path("hard.csv"), c.path("soft.csv")):
        err = c.run(["--output", c.path("r.csv"), "--json", other], 2)
        c.check("is also the --output file" in err, "message: %r" % err)
    for name in ("new.csv", "./new.csv"):  # a file that does not exist yet, spelt twice
        err = c.run(["--output", c.path("new.csv"), "--json", os.path.join(c.dir, name)], 2)
        c.check("is also the --output file" in err, "message: %r" % err)
    c.check(open(c.path("r.csv")).read() == "keep me\n", "r.csv changed")
    c.check(not os.path.exists(c.path("new.csv")), "new.csv appeared")
    c.check(c.leftovers() == [], "files left: %r" % c.leftovers())


def case_mode(c):
    """Replacing a file keeps its mode; a new file gets 0666 less the umask."""
    with open(c.path("r.csv"), "w") as f:
        f.write("x\n")
    os.chmod(c.path("r.csv"), 0o640)
    c.run(["--output", c.path("r.csv")], 0)
    c.check(stat.S_IMODE(os.stat(c.path("r.csv")).st_mode) == 0o640,
            "mode %o, want 640" % stat.S_IMODE(os.stat(c.path("r.csv")).st_mode))
    c.check(c.records_ok(c.path("r.csv")), "records not written")
    old = os.umask(0o027)
    try:
        c.run(["--output", c.path("new.csv")], 0)
    finally:
        os.umask(old)
    c.check(stat.S_IMODE(os.stat(c.path("new.csv")).st_mode) == 0o640,
            "new file mode %o, want 640 under umask 027"
            % stat.S_IMODE(os.stat(c.path("new.csv")).st_mode))


def case_long_name(c):
    """Names of 245 to 255 bytes are legal, and must work (the temporary name does not grow
    with them)."""
    for n in (245, 250, 255):
        name = "r" * (n - 4) + ".csv"
        c.run(["--output", c.path(name)], 0)
        c.check(c.records_ok(c.path(name)), "%d-byte name: no records" % n)
    c.check(c.leftovers() == [], "files left: %r" % c.leftovers())


def case_json_bytes(c):
    """Paths that are not UTF-8 still give a summary that parses: each stray byte is written as
    its Latin-1 character; every option is in the summary, numbers that read back exactly."""
    d = os.fsencode(c.dir)
    out = d + b"/r\xff\xfe,\"q\".csv"
    js = d + b"/s\xe9.json"
    c.run(["--output", out, "--json", js, "--io-max", "0.0123456789012345", "--progress", "0.25",
           "--seed", "18446744073709551615"], 0)
    try:
        with open(js, "rb") as f:
            s = json.loads(f.read().decode("utf-8"))
    except ValueError as e:
        c.check(False, "summary does not parse: %s" % e)
        return
    o = s["options"]
    c.check(o["output"] == out.decode("latin-1"), "output %r" % o["output"])
    c.check(o["json"] == js.decode("latin-1"), "json %r" % o.get("json"))
    c.check(o["io_max"] == 0.0123456789012345, "io_max %r does not round-trip" % o["io_max"])
    c.check(o["seed"] == 18446744073709551615, "seed %r" % o["seed"])
    for k in ("kind", "tasks", "io_min", "cpu_min", "cpu_max", "inflight", "batch_size",
              "fail_rate", "progress", "format", "quiet"):
        c.check(k in o, "option %s missing from the summary" % k)
    c.check(o.get("progress") == 0.25 and o.get("format") == "csv" and o.get("quiet") is True,
            "options %r" % o)


def case_csv_host(c):
    """A node name with a comma and quotes (from the environment) is quoted per RFC 4180."""
    host = 'node,"odd"'
    c.run(["--output", c.path("r.csv")], 0, env={"SLURMD_NODENAME": host})
    with open(c.path("r.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    c.check(len(rows) == 40 and all(r["host"] == host for r in rows) and
            all(r["status"] == "ok" for r in rows), "rows: %r" % rows[:2])


def case_read_only(c):
    """A file its owner may not write is not replaced either (as '>' would refuse it); one it
    may write is.  Run as user nobody (root may write anything), as a single MPI process, in a
    directory nobody owns under /tmp."""
    import pwd
    import tempfile
    nobody = pwd.getpwnam("nobody")
    d = tempfile.mkdtemp(prefix="evfarm-ro.")
    try:
        os.chmod(d, 0o755)
        os.chown(d, nobody.pw_uid, nobody.pw_gid)
        for name, mode in (("ro.csv", 0o444), ("rw.csv", 0o640)):
            p = os.path.join(d, name)
            with open(p, "w") as f:
                f.write("keep\n")
            os.chown(p, nobody.pw_uid, nobody.pw_gid)
            os.chmod(p, mode)
        # A copy of the binary: the build tree may not be reachable for nobody.
        prog = os.path.join(d, "evfarm")
        shutil.copy(c.a.evfarm, prog)
        as_nobody = ["setpriv", "--reuid=%d" % nobody.pw_uid, "--regid=%d" % nobody.pw_gid,
                     "--clear-groups", "env", "HOME=" + d]
        err = {}
        for name, want in (("ro.csv", 2), ("rw.csv", 0)):
            p = subprocess.run(as_nobody + [prog] + JOB + ["--output", name], cwd=d,
                               capture_output=True, text=True, timeout=120)
            err[name] = p.stderr
            c.check(p.returncode == want, "%s: exit %d, want %d\n%s" % (name, p.returncode, want,
                                                                       p.stderr))
        c.check(open(os.path.join(d, "ro.csv")).read() == "keep\n", "the read-only file changed")
        c.check("evfarm: --output: cannot write 'ro.csv': Permission denied" in err["ro.csv"],
                "message: %r" % err["ro.csv"])
        c.check(c.records_ok(os.path.join(d, "rw.csv")), "the writable file lacks the records")
        c.check(stat.S_IMODE(os.stat(os.path.join(d, "rw.csv")).st_mode) == 0o640, "mode changed")
    finally:
        shutil.rmtree(d, ignore_errors=True)


CASES = cases_of(globals())


def run(a, case):
    c = Case(a, a.case)
    case(c)
    return c.check.done()


if __name__ == "__main__":
    sys.exit(cases_main(CASES, ['--mpirun', '--evfarm', '--outdir'], run))
