"""Bad input under mpirun: each case must exit 2 (every rank), print exactly one 'evfarm:'
line naming the option or file, finish within its deadline, and leave no file behind.

usage: check_bad_input.py --mpirun M --evfarm E --outdir D [--case K]
       check_bad_input.py --count        (how many cases there are, for CMake)
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import time

DEADLINE = 60  # seconds per case; a hang is a failure, not a stuck suite


def plain_file(d):
    """A regular file that is no journal, beside the case's directory (whose leftovers are
    checked); written unless only the cases are counted."""
    path = os.path.join(os.path.dirname(d), "plain.txt")
    if d:
        with open(path, "w") as f:
            f.write("not a journal\n")
    return path


def cases(d):
    missing = "/nonexistent-evfarm-dir/r.csv"
    return [
        (2, ["--tasks", "abc"], r"^evfarm: --tasks: 'abc' is not a whole number \(try 'evfarm --help'\)$"),
        (3, ["--tasks", "0"], r"^evfarm: --tasks: '0' is out of range"),
        (2, ["--tasks", "4294967296"], r"^evfarm: --tasks: '4294967296' is out of range"),
        (2, ["--journal", plain_file(d)],
         r"^evfarm: --journal: '.*/plain\.txt' exists and is not a directory"),
        (2, ["--tasks", "-7"], r"^evfarm: --tasks: '-7' must not be negative"),
        (4, ["--io-max", "1.5x"], r"^evfarm: --io-max: '1.5x' is not a number"),
        (2, ["--io-min", "0.8", "--io-max", "0.5"], r"^evfarm: --io-min: 0.8 is greater than --io-max 0.5"),
        (2, ["--cpu-min", "9", "--cpu-max", "4"], r"^evfarm: --cpu-min: 9 is greater than --cpu-max 4"),
        (2, ["--bogus"], r"^evfarm: --bogus: unknown option"),
        (2, ["--tasks"], r"^evfarm: --tasks: missing value"),
        (1, ["extra"], r"^evfarm: 'extra': unexpected argument"),
        (2, ["--format", "xml", "--output", os.path.join(d, "bad.x")], r"^evfarm: --format: 'xml'"),
        # Only rank 0 opens the files: the other ranks learn of it through the agreement.
        (3, ["--output", missing], r"^evfarm: --output: cannot create '%s': No such file" % re.escape(missing)),
        (2, ["--json", d], r"^evfarm: --json: '%s' is a directory" % re.escape(d)),
        (5, ["--tasks", "3", "--output", os.path.join(d, "bad_ok.csv"), "--json", missing],
         r"^evfarm: --json: cannot create"),
        # One file under two names, found by rank 0 alone: one line, every rank exits 2.
        (3, ["--output", os.path.join(d, "same.csv"), "--json", os.path.join(d, ".", "same.csv")],
         r"^evfarm: --json: '.*' is also the --output file"),
        # Deadlines, retries and the kinds' own options.
        (2, ["--hang-rate", "0.1"], r"^evfarm: --hang-rate: needs --timeout"),
        (2, ["--retries", "101"], r"^evfarm: --retries: '101' is out of range \(0 to 100\)"),
        (2, ["--retry-delay", "5", "--retry-max-delay", "2"],
         r"^evfarm: --retry-delay: 5 is greater than --retry-max-delay 2"),
        (2, ["--timeout", "-1"], r"^evfarm: --timeout: '-1' must not be negative"),
        (2, ["--kind", "http"], r"^evfarm: --urls: needed with --kind http"),
        (2, ["--urls", "/etc/hostname"], r"^evfarm: --urls: only for --kind http"),
        (2, ["--kind", "http", "--urls", "/etc/hostname", "--tasks", "5"],
         r"^evfarm: --tasks: only for --kind sim \(the input file gives the tasks\)"),
        (2, ["--kind", "http", "--urls", "/etc/hostname", "--fail-rate", "0.5"],
         r"^evfarm: --fail-rate: only for --kind sim"),
        (3, ["--kind", "http", "--urls", "/nonexistent-evfarm-urls"],
         r"^evfarm: --urls: '/nonexistent-evfarm-urls': No such file"),
        (2, ["--kind", "http", "--urls", d], r"^evfarm: --urls: '%s': Is a directory" % re.escape(d)),
        (2, ["--kind", "http", "--urls", "/dev/null"], r"^evfarm: --urls: '/dev/null': no inputs"),
        (2, ["--warc", d], r"^evfarm: --warc: only for --kind http"),
        (2, ["--compressed"], r"^evfarm: --compressed: only for --kind http"),
        (2, ["--kind", "http", "--urls", "/etc/hostname", "--header", "no colon"],
         r"^evfarm: --header: 'no colon' is not 'Name: value'"),
        (2, ["--kind", "http", "--urls", "/etc/hostname", "--header", "Bad Name: x"],
         r"^evfarm: --header: 'Bad Name: x' is not 'Name: value'"),
        (2, ["--kind", "ftp"], r"^evfarm: --kind: 'ftp' is not a task kind \(sim, http, exec\)"),
        # exec
        (2, ["--kind", "exec"], r"^evfarm: --commands: needed with --kind exec"),
        (3, ["--kind", "exec", "--commands", "/nonexistent-evfarm-cmds"],
         r"^evfarm: --commands: '/nonexistent-evfarm-cmds': No such file"),
        (2, ["--kind", "exec", "--commands", "/dev/null"],
         r"^evfarm: --commands: '/dev/null': no inputs"),
        (2, ["--kind", "exec", "--commands", long_line_file(d)],
         r"^evfarm: --commands: .*long.txt:3: longer than 65536 bytes"),
        (2, ["--kind", "exec", "--command", "gzip -9", "--args", "/etc/hostname"],
         r"^evfarm: --command: 'gzip -9' has no \{\} for the argument"),
        (2, ["--kind", "exec", "--command", "gzip {}"], r"^evfarm: --command: needs --args FILE"),
        (2, ["--kind", "exec", "--commands", "/etc/hostname", "--command", "x {}"],
         r"^evfarm: --command: not with --commands"),
        # a missing --outdir is made (check_exec outdir_refuses); one under a file cannot be
        (3, ["--kind", "exec", "--commands", "/etc/hostname", "--outdir", "/etc/hostname/od"],
         r"^evfarm: --outdir: cannot create files in '/etc/hostname/od' on .*: Not a directory"),
        (2, ["--outdir", "/tmp"], r"^evfarm: --outdir: only for --kind exec"),
        # a line within 65536 bytes whose quoting for {} makes a command over the kernel's
        # 128 KiB for one argument: said at read time with FILE:LINE, not a spawn error mid-run
        (2, ["--kind", "exec", "--command", "echo {}", "--args", quotes_file(d)],
         r"^evfarm: --args: .*quotes.txt:2: the command it makes is 160007 bytes with "
         r"--command's quoting, over the 131071"),
        (2, ["--kind", "exec", "--commands", "/etc/hostname", "--retry-on", "exit,bogus"],
         r"^evfarm: --retry-on: 'exit,bogus' is not exit, signal or exit,signal"),
    ]


def input_file(d, name, text):
    """A file of the cases' (written only when the cases run: d is "" when they are counted)."""
    path = os.path.join(d, "..", "bad_input_%s.txt" % name)
    if d:
        with open(path, "w") as f:
            f.write(text)
    return path


def quotes_file(d):
    """An --args file whose second line is 40,000 single quotes (4 bytes each, quoted)."""
    return input_file(d, "quotes", "plain\n%s\n" % ("'" * 40000))


def long_line_file(d):
    """A commands file whose third line is longer than the documented limit."""
    return input_file(d, "long", "echo a\n# c\necho %s\n" % ("x" * 70000))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mpirun")
    ap.add_argument("--evfarm")
    ap.add_argument("--outdir")
    ap.add_argument("--case", type=int, help="run only case K (0-based)")
    ap.add_argument("--count", action="store_true")
    a = ap.parse_args()
    if a.count:
        print(len(cases("")))
        return 0
    d = os.path.join(a.outdir, "bad_input%s" % ("" if a.case is None else "_%d" % a.case))
    os.makedirs(d, exist_ok=True)
    passed = failed = 0
    todo = cases(d)
    if a.case is not None:
        todo = [todo[a.case]]
    for np_, args, pattern in todo:
        cmd = [a.mpirun, "-np", str(np_), a.evfarm] + args
        t = time.monotonic()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=DEADLINE)
            code, err = p.returncode, p.stderr
        except subprocess.TimeoutExpired:
            code, err = None, "(hung for %d s)" % DEADLINE
        ours = [l for l in err.splitlines() if l.startswith("evfarm:")]
        leftovers = os.listdir(d)
        problems = []
        if code != 2:
            problems.append("exit %s, want 2" % code)
        if len(ours) != 1 or not re.search(pattern, ours[0]):
            problems.append("stderr lines %r do not match %r" % (ours, pattern))
        if leftovers:
            problems.append("files left behind: %r" % leftovers)
        if problems:
            failed += 1
            print("FAIL np=%d %s: %s\nfull stderr:\n%s" % (np_, args, "; ".join(problems), err))
        else:
            passed += 1
            print("ok   np=%d %-50s %.1f s  %s" % (np_, " ".join(args)[:50], time.monotonic() - t,
                                                  ours[0]))
        for f in leftovers:
            os.unlink(os.path.join(d, f))
    print("check_bad_input: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
