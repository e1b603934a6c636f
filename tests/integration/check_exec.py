"""The exec kind under mpirun: 10,000 commands at np = 1, 2, 3 with --outdir (every output file
equal to the oracle's value, records identical apart from rank and times); failing, killed,
timed-out, chatty, stdin-reading, backgrounding and missing commands; quoting; templates over
file names with spaces; retries on exit; no Open MPI fork warning anywhere.

Runs under Debian's /usr/bin/python3 (python3-xxhash).  One ctest per case (--list, --case).
"""
import csv
import json
import os
import shutil
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import Check, cases_main, cases_of, process_rank  # noqa: E402

import xxhash  # noqa: E402  (Debian: python3-xxhash)

FORK_WARNINGS = ("fork()", "A process has executed an operation involving a call")


def xxh3(data):
    return "%016x" % xxhash.xxh3_64_intdigest(data)


class Run:
    def __init__(self, a, c, name):
        self.a, self.c, self.name = a, c, name
        self.dir = os.path.join(a.outdir, "exec_" + name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)

    def file(self, name, lines):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def outdir(self):
        d = os.path.join(self.dir, "out")
        os.makedirs(d, exist_ok=True)
        return d

    def evfarm(self, np_, args, want_exit, timeout=300):
        out = os.path.join(self.dir, "records.csv")
        self.summary = os.path.join(self.dir, "summary.json")
        for f in (out, self.summary):
            if os.path.exists(f):
                os.unlink(f)
        cmd = [self.a.mpirun, "-np", str(np_), self.a.evfarm, "--kind", "exec", "--output", out,
               "--json", self.summary, "--quiet"] + args
        t = time.monotonic()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.c(False, "timed out (a hang): %s" % " ".join(cmd))
            return None
        self.wall = time.monotonic() - t
        self.c(p.returncode == want_exit, "exit %d, want %d; stderr:\n%s"
               % (p.returncode, want_exit, p.stderr[-3000:]))
        self.c(not any(w in p.stderr for w in FORK_WARNINGS), "a fork warning:\n%s" % p.stderr)
        if not os.path.exists(out):
            return None
        with open(out, newline="") as f:
            recs = list(csv.DictReader(f))
        for r in recs:
            for k in ("id", "rank", "attempts", "exit_code", "signal", "stdout_bytes",
                      "stderr_bytes"):
                r[k] = int(r[k])
            for k in ("t_start", "t_io_done", "t_end", "user_s", "sys_s"):
                r[k] = float(r[k])
        return recs


def echo_case(c, a, np_, extra):
    """10,000 x echo $((EVFARM_TASK_ID * 7)) K with --outdir, K the line's own number: each task
    must run its own line (the ranks get their lines from rank 0, dealt with their batches)."""
    n = 10000
    r = Run(a, c, "echo_np%d" % np_)
    cmds = r.file("cmds.txt", ["# id times 7", ""] +
                  ["echo $((EVFARM_TASK_ID * 7)) %d" % k for k in range(1, n + 1)])
    od = r.outdir()
    recs = r.evfarm(np_, ["--commands", cmds, "--outdir", od] + extra, 0)
    if recs is None:
        return
    c(len(recs) == n and [x["id"] for x in recs] == list(range(1, n + 1)), "ids not 1..N")
    c(len({x["rank"] for x in recs}) == np_, "not every rank ran tasks")
    canon = []
    for x in recs:
        want = b"%d %d\n" % (7 * x["id"], x["id"])
        try:
            got = open(os.path.join(od, "%d.out" % x["id"]), "rb").read()
            err = open(os.path.join(od, "%d.err" % x["id"]), "rb").read()
        except OSError as e:
            c(False, "id %d: %s" % (x["id"], e))
            continue
        c(got == want and err == b"" and x["status"] == "ok" and x["exit_code"] == 0 and
          x["stdout_bytes"] == len(want) and x["stdout_hash"] == xxh3(want) and
          x["stderr_hash"] == xxh3(b""), "id %d: out %r err %r record %r"
          % (x["id"], got, err, {k: x[k] for k in ("status", "exit_code", "stdout_bytes",
                                                     "stdout_hash")}))
        canon.append(",".join(str(x[k]) for k in ("id", "status", "attempts", "last_error",
                                                   "input", "exit_code", "signal",
                                                   "stdout_bytes", "stdout_hash",
                                                   "stderr_bytes", "stderr_hash", "error")))
    with open(os.path.join(a.outdir, "integration_exec_echo_np%d.canonical" % np_), "w") as f:
        f.write("\n".join(canon) + "\n")
    # The bound's third term: the children's CPU (the records' user + system) over the job's
    # CPUs (one node here: the CPUs its ranks may use).
    s = json.load(open(r.summary))
    child = sum(x["user_s"] + x["sys_s"] for x in recs)
    cpus = s["per_rank"][0]["node_cpus"]
    lb = s["lower_bound"]
    c(abs(s["offloop_cpu_s"] - child) <= 2e-6 * n and s["job_cpus"] == cpus,
      "summary child CPU %.6f on %d CPUs; records give %.6f, the node %d" % (
          s["offloop_cpu_s"], s["job_cpus"], child, cpus))
    c(abs(lb["offloop_term_s"] - child / cpus) <= 2e-6 * n and lb["t_lb_s"] >= lb["offloop_term_s"]
      and lb["t_lb_s"] == max(lb["task_term_s"], lb["backlog_term_s"], lb["offloop_term_s"]),
      "lower bound %r, child CPU %.6f / %d CPUs" % (lb, child, cpus))
    c(child > 0.0001 * n, "children's CPU %.6f s for %d commands" % (child, n))


def case_echo_np1(c, a):
    echo_case(c, a, 1, [])


def case_echo_np2(c, a):
    echo_case(c, a, 2, ["--inflight", "2", "--batch-size", "999"])


def case_echo_np3(c, a):
    echo_case(c, a, 3, ["--inflight", "3"])


def running(tag):
    """Processes whose command line holds `tag`."""
    p = subprocess.run(["pgrep", "-f", tag], capture_output=True, text=True)
    return p.stdout.split()


def case_misbehaving(c, a):
    """Each kind of command ends with its status and figures; the others are unaffected."""
    r = Run(a, c, "misbehaving")
    tag = "%d%d" % (os.getpid(), int(time.time()) % 100000)
    odd = "echo \"it's \\\"q\\\" $((6*7)) * \\$HOME é ✓\""
    lines = [
        "exit 3",
        "kill -9 $$",
        "echo oops >&2; exit 2",
        "cat",                                   # stdin is /dev/null: EOF at once
        "no-such-program-evfarm-xyz",
        "head -c 10000000 /dev/zero",
        "sleep 30.%s & echo started" % tag,      # a background grandchild
        odd,
        "echo $EVFARM_TASK_ID $EVFARM_RANK $EVFARM_NTASKS $EVFARM_ATTEMPT",
        "printf 'x%.0s' $(seq 1 300) >&2; exit 1",  # a long stderr: its last bytes kept
        "echo fine",
    ]
    od = r.outdir()
    recs = r.evfarm(2, ["--commands", r.file("cmds.txt", lines), "--outdir", od,
                        "--inflight", "3"], 1, timeout=120)
    if recs is None:
        return
    by = {x["input"]: x for x in recs}

    def want(line, status, exit_code, signal=0):
        x = by[line]
        got = (x["status"], x["exit_code"], x["signal"], x["attempts"])
        c(got == (status, exit_code, signal, 1), "%r: %r, want %r" % (line, got,
                                                                      (status, exit_code,
                                                                       signal, 1)))
        return x
    want("exit 3", "exit", 3)
    want("kill -9 $$", "signal", -1, 9)
    x = want("echo oops >&2; exit 2", "exit", 2)
    c(x["error"] == "oops\n" and x["stderr_bytes"] == 5, "stderr tail %r" % x["error"])
    x = want("cat", "ok", 0)
    c(x["stdout_bytes"] == 0 and x["t_io_done"] - x["t_start"] < 5, "cat: %r" % x)
    x = want("no-such-program-evfarm-xyz", "exit", 127)
    c("not found" in x["error"], "missing program: error %r" % x["error"])
    x = want("head -c 10000000 /dev/zero", "ok", 0)
    c(x["stdout_bytes"] == 10 ** 7 and x["stdout_hash"] == xxh3(b"\0" * 10 ** 7),
      "10 MB of stdout: %d bytes, hash %s" % (x["stdout_bytes"], x["stdout_hash"]))
    c(os.path.getsize(os.path.join(od, "%d.out" % x["id"])) == 10 ** 7, "10 MB file")
    x = want("sleep 30.%s & echo started" % tag, "ok", 0)
    c(x["t_io_done"] - x["t_start"] < 5, "the backgrounding task took %.1f s"
      % (x["t_io_done"] - x["t_start"]))
    c(not running("sleep 30.%s" % tag), "its background sleep outlived it")
    x = want(odd, "ok", 0)
    oracle = subprocess.run(["/bin/sh", "-c", odd], capture_output=True).stdout
    got = open(os.path.join(od, "%d.out" % x["id"]), "rb").read()
    c(got == oracle and b"* $HOME" in got, "quoting: %r, /bin/sh gives %r" % (got, oracle))
    c(x["stdout_hash"] == xxh3(got), "hash of the quoted line's output")
    x = want("echo $EVFARM_TASK_ID $EVFARM_RANK $EVFARM_NTASKS $EVFARM_ATTEMPT", "ok", 0)
    got = open(os.path.join(od, "%d.out" % x["id"]), "rb").read()
    c(got == b"%d %d %d 1\n" % (x["id"], x["rank"], len(lines)), "environment: %r" % got)
    x = want("printf 'x%.0s' $(seq 1 300) >&2; exit 1", "exit", 1)
    c(x["stderr_bytes"] == 300 and x["error"] == "x" * 192, "tail of a long stderr: %r"
      % x["error"])
    want("echo fine", "ok", 0)


def case_timeout(c, a):
    """--timeout 0.5: sleep 100 ends as timeout within 0.2 s of its deadline, one that ignores
    SIGTERM too, a pipeline too; SIGTERM reaches the whole process group; no process of theirs
    is left once the run has ended."""
    r = Run(a, c, "timeout")
    tag = "%d%d" % (os.getpid(), int(time.time()) % 100000)
    marker = os.path.join(r.dir, "got-term")
    lines = ["sleep 100.%s" % tag, "trap '' TERM; sleep 100.%s; echo late" % tag,
             "sleep 100.%s | cat" % tag, "echo quick",
             # a subshell of the group traps SIGTERM: the whole group gets it, not just the shell
             "(trap 'echo term > %s; exit 0' TERM; sleep 100.%s & wait); sleep 100.%s"
             % (marker, tag, tag)]
    recs = r.evfarm(1, ["--commands", r.file("cmds.txt", lines), "--inflight", "5",
                        "--timeout", "0.5"], 1, timeout=120)
    if recs is None:
        return
    c(os.path.exists(marker), "SIGTERM did not reach the whole process group (no trap ran)")
    for x in recs:
        took = x["t_io_done"] - x["t_start"]
        if x["input"] == "echo quick":
            c(x["status"] == "ok", "echo quick: %s" % x["status"])
            continue
        c(x["status"] == "timeout" and 0.5 - 1e-3 <= took <= 0.7, "%r: %s after %.3f s"
          % (x["input"], x["status"], took))
    c(not running("^sleep 100.%s" % tag), "sleep processes left: %r" % running("^sleep 100.%s" % tag))


def case_interrupt(c, a):
    """A job stopped by a signal (SIGUSR1 forwarded by mpirun; Ctrl-C to mpirun) takes its
    running commands with it: no process of theirs is left."""
    import signal
    for sig, want in ((signal.SIGUSR1, 128 + signal.SIGUSR1), (signal.SIGINT, None)):
        r = Run(a, c, "interrupt_%d" % sig)
        tag = "%d%d%d" % (os.getpid(), sig, int(time.time()) % 100000)
        cmds = r.file("cmds.txt", ["sleep 100.%s" % tag, "trap '' TERM; sleep 100.%s" % tag] * 3)
        p = subprocess.Popen([a.mpirun, "-np", "2", a.evfarm, "--kind", "exec", "--commands",
                              cmds, "--inflight", "2", "--quiet"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        end = time.monotonic() + 20
        while len(running("^sleep 100.%s" % tag)) < 4 and time.monotonic() < end:
            time.sleep(0.05)
        c(len(running("^sleep 100.%s" % tag)) >= 4, "the commands did not start")
        p.send_signal(sig)
        try:
            out, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            c(False, "%s: the job did not end" % sig.name)
        if want is not None:
            c(p.returncode == want, "%s: exit %d, want %d: %s" % (sig.name, p.returncode, want,
                                                                   err[-1000:]))
        left = []
        for _ in range(20):  # mpirun may return before its ranks' last moments
            left = running("^sleep 100.%s" % tag)
            if not left:
                break
            time.sleep(0.1)
        c(not left, "%s: commands left running: %r" % (sig.name, left))
        subprocess.run(["pkill", "-9", "-f", "sleep 100.%s" % tag])


def rank_pids(tag):
    """{rank: pid} of the evfarm ranks whose command line holds `tag`."""
    ranks = {}
    for x in running(tag):
        argv0, rank = process_rank(x)
        if argv0 and argv0.endswith(b"evfarm") and rank is not None:
            ranks[rank] = int(x)
    return ranks


def journal_stop(c, a, name, stop):
    """np 2, --journal, 4 commands sleeping 100 s (2 in flight a rank): once all 4 run, `stop`
    (p, tag) stops the job from outside.  Then, whatever the launcher did: no command and no
    sentinel of either rank is left (polled for 10 s: the sentinel ends a killed rank's groups
    0.2 s after SIGTERM), no temporary output file is left, and --resume (the commands now end
    at once) completes the set with every id once."""
    r = Run(a, c, name)
    tag = "%d%d" % (os.getpid(), int(time.time() * 1000) % 10**7)
    stopfile = os.path.join(r.dir, "stop")
    cmds = r.file("cmds.txt", ["test -e %s || sleep 100.%s; echo %d" % (stopfile, tag, k)
                               for k in range(4)])
    journal = os.path.join(r.dir, "j.journal")
    out = os.path.join(r.dir, "records.csv")
    args = [a.evfarm, "--kind", "exec", "--commands", cmds, "--inflight", "2", "--journal",
            journal, "--output", out, "--quiet"]
    p = subprocess.Popen([a.mpirun, "-np", "2"] + args, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 60  # a slow launcher: wait for the state, not a fixed time
    while len(running("^sleep 100.%s" % tag)) < 4 and time.monotonic() < end:
        time.sleep(0.05)
    if not c(len(running("^sleep 100.%s" % tag)) == 4, "the 4 commands did not start"):
        p.kill()
        return
    ranks = rank_pids(journal)
    sentinels = [x for x in running("evfarm-sentinel")
                 if open("/proc/%s/stat" % x).read().rsplit(")", 1)[1].split()[1] in
                 {str(v) for v in ranks.values()}]
    c(len(sentinels) == 2, "sentinels of the ranks: %r" % sentinels)
    t = time.monotonic()
    stop(p, ranks)
    try:
        _, err = p.communicate(timeout=60)
        c.took = time.monotonic() - t
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        c(False, "the job did not end")
    left = running("^sleep 100.%s" % tag)
    end = time.monotonic() + 10
    while left and time.monotonic() < end:
        time.sleep(0.05)
        left = running("^sleep 100.%s" % tag)
    c(not left, "commands outlived their ranks: %r\n%s" % (left, err[-1500:]))
    def alive(x):  # a zombie (an init that has not reaped it yet) has ended
        try:
            return open("/proc/%s/stat" % x).read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False
    end = time.monotonic() + 10
    while (rank_pids(journal) or any(map(alive, sentinels))) and time.monotonic() < end:
        time.sleep(0.05)
    c(not rank_pids(journal) and not any(map(alive, sentinels)),
      "ranks or sentinels left: %r %r" % (rank_pids(journal), [x for x in sentinels if alive(x)]))
    tmp = [f for f in os.listdir(r.dir) if f.startswith(".evfarm-")]
    c(not tmp, "temporary files left: %r\n%s" % (tmp, err[-1500:]))
    subprocess.run(["pkill", "-9", "-f", "sleep 100.%s" % tag])
    open(stopfile, "w").close()
    q = subprocess.run([a.mpirun, "-np", "2"] + args + ["--resume"], capture_output=True,
                       text=True, timeout=120)
    c(q.returncode == 0, "--resume: exit %d: %s" % (q.returncode, q.stderr[-1000:]))
    if os.path.exists(out):
        rows = list(csv.DictReader(open(out)))
        c(sorted(int(x["id"]) for x in rows) == [1, 2, 3, 4] and
          all(x["status"] == "ok" for x in rows), "after --resume: %r"
          % [(x["id"], x["status"]) for x in rows])
    return err


def case_journal_ctrl_c(c, a):
    """Ctrl-C (SIGINT to mpirun, which sends the ranks SIGTERM and SIGKILL 1 s later) on a
    journaled exec job: the SIGTERM drain (--term-grace) ends before the SIGKILL, its commands
    end with it."""
    import signal
    journal_stop(c, a, "journal_ctrl_c", lambda p, ranks: p.send_signal(signal.SIGINT))


def case_journal_sigterm(c, a):
    """SIGTERM to both ranks with the default --grace 10: the drain is --term-grace's (0.3 s),
    the job ends with exit 4 and leaves nothing behind."""
    import signal

    def stop(p, ranks):
        for x in ranks.values():
            os.kill(x, signal.SIGTERM)
    journal_stop(c, a, "journal_sigterm", stop)
    # --grace 10 would be 10 s; --term-grace 0.3 s, plus the exit (a loose hang bound: a
    # sanitizer build on a loaded machine is slow)
    c(getattr(c, "took", 99) < 5, "the SIGTERM drain took %s s" % getattr(c, "took", None))


def case_rank_killed(c, a):
    """kill -9 of rank 1 (no clean-up code can run there): its commands are ended by its
    sentinel, rank 0's by its drain, within the launcher's kill."""
    import signal
    err = journal_stop(c, a, "rank_killed", lambda p, ranks: os.kill(ranks[1], signal.SIGKILL))
    c(err is None or "signal 9" in err, "mpirun did not see rank 1 killed: %s" % (err or "")[-500:])


def case_open_files(c, a):
    """--inflight beyond the open-file limit (6 files a command) is bad input, said once, exit 2,
    before any command runs."""
    import resource
    r = Run(a, c, "open_files")
    marker = os.path.join(r.dir, "ran")
    cmds = r.file("cmds.txt", ["touch %s" % marker] * 500)

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    p = subprocess.run([a.mpirun, "-np", "2", a.evfarm, "--kind", "exec", "--commands", cmds,
                        "--inflight", "100", "--quiet"], capture_output=True, text=True,
                       timeout=120, preexec_fn=limit)
    lines = [x for x in p.stderr.splitlines() if x.startswith("evfarm")]
    c(p.returncode == 2 and len(lines) == 1 and "--inflight: 100 commands" in lines[0] and
      "open files" in lines[0], "exit %d, stderr %r" % (p.returncode, p.stderr[-2000:]))
    c(not os.path.exists(marker), "a command ran")


def case_retry(c, a):
    """--retries with --retry-on exit: a command that fails twice, then succeeds, has attempts
    = 3 and sees EVFARM_ATTEMPT; without --retry-on exits are not retried."""
    r = Run(a, c, "retry")
    cmd = "test $EVFARM_ATTEMPT -ge 3 || exit 4"
    path = r.file("cmds.txt", [cmd] * 20)
    recs = r.evfarm(2, ["--commands", path, "--retries", "4", "--retry-on", "exit",
                        "--retry-delay", "0.01"], 0)
    if recs is not None:
        c(all((x["status"], x["attempts"], x["last_error"]) == ("ok", 3, "exit") for x in recs),
          "with --retry-on exit: %r" % sorted({(x["status"], x["attempts"]) for x in recs}))
    recs = r.evfarm(2, ["--commands", path, "--retries", "4"], 1)
    if recs is not None:
        c(all((x["status"], x["attempts"], x["exit_code"]) == ("exit", 1, 4) for x in recs),
          "without --retry-on: %r" % sorted({(x["status"], x["attempts"]) for x in recs}))


def case_template(c, a):
    """--command 'wc -c < {}' --args FILE: file names with spaces, quotes, $ and * are passed
    intact, one task per name."""
    r = Run(a, c, "template")
    names = ["plain", "with space", "it's", "dollar $HOME", "star *", "tab\there", "ünï ✓"]
    paths = []
    for k, n in enumerate(names):
        p = os.path.join(r.dir, n)
        with open(p, "wb") as f:
            f.write(b"z" * (k * 10 + 1))
        paths.append(p)
    od = r.outdir()
    recs = r.evfarm(2, ["--command", "wc -c < {}", "--args", r.file("args.txt", paths),
                        "--outdir", od], 0)
    if recs is None:
        return
    c(len(recs) == len(names), "%d records" % len(recs))
    for x in recs:
        k = x["id"] - 1
        got = open(os.path.join(od, "%d.out" % x["id"]), "rb").read().strip()
        c(x["input"] == paths[k] and got == b"%d" % (k * 10 + 1),
          "%r: wc says %r, want %d" % (names[k], got, k * 10 + 1))


def case_outdir_refuses(c, a):
    """--outdir never writes through what is not a regular file: a symbolic link to a file
    outside (left as it was), a FIFO (never opened: no reader needed, nothing hangs) end their
    tasks as spawn_error naming the file and why; an earlier run's regular file is rewritten;
    a missing --outdir is made with its parents (mode 0777 less the umask); one that vanishes
    mid-run is named in the error (--inflight 1: task 1 removes it, task 2 finds none)."""
    r = Run(a, c, "outdir_refuses")
    victim = r.file("victim.txt", ["keep me"])
    od = r.outdir()
    os.symlink(victim, os.path.join(od, "1.out"))
    os.mkfifo(os.path.join(od, "2.err"))
    with open(os.path.join(od, "3.out"), "w") as f:
        f.write("an earlier run's output, longer than this one's\n")
    recs = r.evfarm(2, ["--commands", r.file("cmds.txt", ["echo hello"] * 4), "--outdir", od], 1)
    if recs is not None:
        st = {x["id"]: (x["status"], x["error"]) for x in recs}
        c(st.get(1) == ("spawn_error", "evfarm: --outdir: '%s/1.out' is a symbolic link: refused "
                                       "(evfarm never writes through one)" % od), "id 1: %r" % (st.get(1),))
        c(st.get(2) == ("spawn_error", "evfarm: --outdir: '%s/2.err' is not a regular file: "
                                       "refused" % od), "id 2: %r" % (st.get(2),))
        c(st.get(3) == ("ok", "") and st.get(4) == ("ok", ""), "ids 3, 4: %r %r" % (st.get(3),
                                                                                   st.get(4)))
    c(open(victim).read() == "keep me\n", "the link's target was written: %r" % open(victim).read())
    c(os.path.islink(os.path.join(od, "1.out")) and
      stat.S_ISFIFO(os.stat(os.path.join(od, "2.err")).st_mode), "the link or the FIFO was replaced")
    c(open(os.path.join(od, "3.out")).read() == "hello\n", "3.out: %r"
      % open(os.path.join(od, "3.out")).read())
    made = os.path.join(r.dir, "new", "a", "b")
    old = os.umask(0o027)
    try:
        recs = r.evfarm(2, ["--commands", r.file("cmds2.txt", ["echo made"] * 3), "--outdir",
                            made], 0)
    finally:
        os.umask(old)
    c(os.path.isdir(made) and stat.S_IMODE(os.stat(made).st_mode) == 0o750 and
      all(open(os.path.join(made, "%d.out" % k)).read() == "made\n" for k in (1, 2, 3)),
      "--outdir was not made with its parents, mode 0750 under umask 027")
    gone = os.path.join(r.dir, "gone")
    recs = r.evfarm(1, ["--commands", r.file("cmds3.txt", ["rm -rf '%s'" % gone, "echo late"]),
                        "--outdir", gone, "--inflight", "1"], 1)
    if recs is not None:
        st = {x["id"]: (x["status"], x["error"]) for x in recs}
        c(st.get(1, ("",))[0] == "ok" and
          st.get(2) == ("spawn_error", "evfarm: --outdir: '%s' no longer exists" % gone),
          "a vanished --outdir: %r" % st)


def case_maxrss(c, a):
    """maxrss_kib is the command's own peak, not the rank's: a command spawned straight from the
    rank starts out sharing the rank's memory, and Linux counted that as its own (every record
    showed the rank's tens of MB).  `true` stays within a few MB while rank 0 holds far more;
    a command that fills 100 MiB shows at least that; their CPU times are their own too."""
    r = Run(a, c, "maxrss")
    py = "/usr/bin/python3"
    path = r.file("cmds.txt", ["true", "%s -c 'x = bytearray(100 << 20); x[-1] = 1'" % py])
    recs = r.evfarm(1, ["--commands", path], 0)
    if recs is None:
        return
    s = json.load(open(r.summary))
    rank = s["rank0_maxrss_kib"]
    by = {x["id"]: x for x in recs}
    small, big = int(by[1]["maxrss_kib"]), int(by[2]["maxrss_kib"])
    c(small < 8 * 1024 and small < rank / 3,
      "true: maxrss %d KiB, rank 0's peak %d KiB" % (small, rank))
    c(big >= 100 * 1024 and big < 100 * 1024 + 64 * 1024,
      "100 MiB: maxrss %d KiB" % big)
    c(by[2]["user_s"] + by[2]["sys_s"] > 0, "no CPU time for the 100 MiB command")


def case_stderr_nul(c, a):
    """A failed command's stderr tail (the error column) keeps what follows a NUL byte (U+FFFD
    in its place): it used to end there."""
    r = Run(a, c, "stderr_nul")
    path = r.file("cmds.txt", ["printf 'before\\000after\\n' >&2; exit 3"])
    recs = r.evfarm(1, ["--commands", path], 1)
    if recs is not None:
        c(recs[0]["status"] == "exit" and recs[0]["error"] == "before\ufffdafter\n",
          "error column: %r" % recs[0]["error"])


def run(a, fn):
    c = Check("check_exec " + fn.__name__[5:])
    fn(c, a)
    return c.done()


if __name__ == "__main__":
    sys.exit(cases_main(cases_of(globals()), ["--mpirun", "--evfarm", "--outdir"], run))
