"""The documentation against the programs and the tree, so the two cannot drift apart.  One ctest
per case (docs_<case>):

  reference  docs/usage.md is what scripts/help2man.py makes of `evfarm --help` and
             `evfarm-sweep --help` now, and has a row for every option of both; --help names
             every value evfarm accepts for an option with a fixed set (asked of evfarm itself:
             its message for a bad value lists them)
  commands   every command line of the README, docs/*.md and jobs/README.md that starts evfarm,
             the sweep, a job script, a script of scripts/ or bench/ (in a ```sh block, after a
             `$ ` prompt, or a code span that starts with one) parses: evfarm's and the sweep's
             arguments are given to the program itself with --help added (it parses every
             option and value first and exits 2 on a bad one), the others' options are looked up
             in their --help; every program and file of this tree a command names exists
  paths      every code span or command word that names a file of this tree (scripts/, src/,
             tests/, jobs/, docs/, bench/, cmake/, include/) names one that exists
  links      every relative link and picture resolves to a file, and every #anchor to a heading
             of it (GitHub's rules)
  layout     docs/design.md's Layout names every source file of src/
  packages   docs/install.md names every package scripts/setup.sh installs
  readme     README.md is at most 300 lines, its first commands are scripts/run.sh and
             scripts/test.sh, and .ci/run calls that test command

  usage: check_docs.py --build BUILD --source SRC --case NAME"""
import concurrent.futures
import difflib
import os
import re
import shlex
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import Check, cases_main, cases_of  # noqa: E402

CHOICES = ("kind", "schedule", "format", "progress-style", "retry-on", "robots")
TREE = ("scripts", "src", "tests", "jobs", "docs", "bench", "cmake", "include")
# Programs a documented command may start, by the name it is called by: how its arguments are
# checked ("evfarm": parsed by evfarm; "sweep": by evfarm-sweep, and what follows -- by evfarm;
# "help": options looked up in its --help; None: only that it exists).
PROGRAMS = {
    "evfarm": "evfarm", "run.sh": "evfarm", "evfarm.sbatch": "evfarm",
    "exec-farm.sbatch": "exec", "evfarm-sweep": "sweep", "sweep.sh": "sweep",
    "sweep.sbatch": "sweep", "evfarm-plot": "help", "evfarm-report": "help",
    "scaling-strong.sh": "help", "scaling-weak.sh": "help", "scaling.sh": "help",
    "bench.py": "help", "bench_http.py": "help", "bench_polite.py": "help",
    "bench_exec.py": "help", "help2man.py": "help", "test.sh": None, "setup.sh": None,
    "many_ranks.sh": None, "evfarm-mpirun": None,
}
LAUNCHERS = {"mpirun", "mpiexec", "mpiexec.mpich", "srun", "evfarm-mpirun", "sbatch", "time",
             "nohup", "sudo", "exec"}


def docs(src):
    """The documents checked, as paths relative to SRC."""
    names = ["README.md", "jobs/README.md"]
    names += ["docs/" + f for f in sorted(os.listdir(os.path.join(src, "docs")))
              if f.endswith(".md")]
    return names


def blocks(text):
    """(fenced blocks [(language, [lines])], the text outside them)."""
    out, prose, cur, lang = [], [], None, None
    for line in text.split("\n"):
        m = re.match(r"^\s*```(\w*)\s*$", line)
        if m and cur is None:
            cur, lang = [], m.group(1)
        elif m:
            out.append((lang, cur))
            cur = None
        elif cur is not None:
            cur.append(line)
        else:
            prose.append(line)
    return out, "\n".join(prose)


def code_spans(prose):
    """The text of every `code span` (one may run over a line break)."""
    return [re.sub(r"\s*\n\s*", " ", s) for s in re.findall(r"(?<!`)`([^`]+)`(?!`)", prose)]


def command_lines(text):
    """The command lines of a document: the lines of ```sh/bash blocks (continuations joined),
    lines after a `$ ` prompt in any block, and code spans that start with a program."""
    bl, prose = blocks(text)
    cmds = []
    for lang, lines in bl:
        prompt = any(l.startswith("$ ") for l in lines)
        if not prompt and lang not in ("sh", "bash", "shell"):
            continue
        cur = None
        for line in lines:
            if cur is not None:
                cur += " " + line.strip()
            elif prompt:
                if not line.startswith("$ "):
                    continue
                cur = line[2:]
            else:
                cur = line
            if cur.rstrip().endswith("\\"):
                cur = cur.rstrip()[:-1]
                continue
            try:
                shlex.split(cur, comments=True)
            except ValueError:  # a quoted string that goes on on the next line
                cur += "\n"
                continue
            cmds.append(cur.strip())
            cur = None
    for span in code_spans(prose):
        words = span.split()
        if words and program_of(words[0].split("=")[0] if "=" in words[0] else words[0]):
            cmds.append(span)
    return [c for c in cmds if c and not c.startswith("#")]


def program_of(word):
    """The PROGRAMS key of a command word, or None."""
    base = word.rstrip("/").split("/")[-1]
    if base in PROGRAMS or base in LAUNCHERS:
        return base
    return None


def segments(cmd):
    """A command line's simple commands, as word lists (split at pipes, ;, &&, ||)."""
    try:
        lex = shlex.shlex(cmd, posix=True, punctuation_chars=";&|")
        lex.whitespace_split = True
        lex.commenters = "#"
        words = list(lex)
    except ValueError as e:
        return None, str(e)
    segs, cur = [], []
    for w in words:
        if w in (";", "&&", "||", "|", "&"):
            segs.append(cur)
            cur = []
        else:
            cur.append(w)
    segs.append(cur)
    return [s for s in segs if s], None


def placeholder(word):
    return word in ("...", "…") or re.match(r"^\[.*|.*\]\.*$", word) is not None


class Docs:
    def __init__(self, a, c):
        self.a, self.c = a, c
        self.src, self.build = os.path.abspath(a.source), os.path.abspath(a.build)
        self.env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                        ASAN_OPTIONS="detect_leaks=0")
        self.helps = {}
        self.parses = []

    def text(self, rel):
        return open(os.path.join(self.src, rel), encoding="utf-8").read()

    def prog_path(self, name):
        """The program to run for a PROGRAMS name."""
        built = {"evfarm": "evfarm", "evfarm-sweep": "evfarm-sweep", "run.sh": "evfarm",
                 "evfarm.sbatch": "evfarm", "exec-farm.sbatch": "evfarm",
                 "sweep.sh": "evfarm-sweep", "sweep.sbatch": "evfarm-sweep"}
        if name in built:
            return [os.path.join(self.build, built[name])]
        for d in ("scripts", "jobs", "bench"):
            p = os.path.join(self.src, d, name)
            if os.path.exists(p):
                return [sys.executable, p] if p.endswith(".py") else [p]
        return None

    def run(self, argv):
        return subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=120)

    def help_text(self, name):
        if name not in self.helps:
            p = self.run(self.prog_path(name) + ["--help"])
            self.helps[name] = p.stdout + p.stderr
        return self.helps[name]

    def exists(self, word):
        """None when `word` names no file of this tree or build; else whether it exists."""
        w = word.rstrip(",.;:)")
        if w.startswith("./"):
            w = w[2:]
        if w.startswith("build/"):
            return os.path.exists(os.path.join(self.build, w[len("build/"):]))
        if not re.match(r"^(%s)/[\w.\-/]*$" % "|".join(TREE), w) or "*" in w:
            return None
        return os.path.exists(os.path.join(self.src, w))


def check_parse(d, c, where, prog, args):
    """Give evfarm (or evfarm-sweep) the documented arguments and --help later (parse_all):
    0 if they parse."""
    d.parses.append((where, prog, tuple(args)))


def parse_all(d, c):
    """Run every distinct check_parse at once (each program starts as an MPI singleton)."""
    todo = sorted({(prog, args) for _, prog, args in d.parses})
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        done = dict(zip(todo, ex.map(lambda t: d.run(d.prog_path(t[0]) + list(t[1]) + ["--help"]),
                                     todo)))
    for where, prog, args in d.parses:
        p = done[(prog, args)]
        c(p.returncode == 0, "%s: %s %s does not parse: %s" % (where, prog, " ".join(args),
                                                               p.stderr.strip()[:300]))


def check_command(d, c, where, cmd):
    segs, err = segments(cmd)
    if segs is None:
        c(False, "%s: cannot split %r: %s" % (where, cmd, err))
        return
    for words in segs:
        while words and re.match(r"^[A-Za-z_]\w*=", words[0]):
            words = words[1:]
        k = 0
        while k < len(words) and program_of(words[k]) in LAUNCHERS:
            # a launcher: its options up to the program it starts
            j = k + 1
            while j < len(words) and program_of(words[j]) in (None,) + tuple(LAUNCHERS):
                j += 1
            if j == len(words):
                break
            k = j
        if k >= len(words) or not program_of(words[k]):
            continue
        word, name = words[k], program_of(words[k])
        if name in LAUNCHERS:
            continue
        args = [w for w in words[k + 1:] if not placeholder(w)]
        if "/" in word and word.split("/")[0] in TREE + ("build",):
            c(d.exists(word), "%s: %s names %s, which does not exist" % (where, cmd, word))
        how = PROGRAMS[name]
        if how == "evfarm":
            check_parse(d, c, where, "evfarm", args)
        elif how == "exec":
            ev = ["--kind", "exec"]
            if args and not args[0].startswith("-"):  # exec-farm.sbatch FILE [options]
                ev.append("--commands")
            check_parse(d, c, where, "evfarm", ev + args)
        elif how == "sweep":
            if args[:1] == ["-np"]:
                args = args[2:]
            own, rest = (args[:args.index("--")], args[args.index("--") + 1:]) if "--" in args \
                else (args, None)
            check_parse(d, c, where, "evfarm-sweep", own)
            if rest is not None:
                check_parse(d, c, where, "evfarm", rest)
        elif how == "help":
            if "--" in args:
                check_parse(d, c, where, "evfarm", args[args.index("--") + 1:])
                args = args[:args.index("--")]
            helped = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", d.help_text(name)))
            for w in args:
                opt = w.split("=")[0]
                if re.match(r"^--[a-z]", opt):
                    c(opt in helped, "%s: %s: %s is not an option of %s (its --help)"
                      % (where, cmd, opt, name))


def case_reference(a, c):
    d = Docs(a, c)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "usage.md")
        version = re.search(r"project\(evfarm VERSION ([\d.]+)", d.text("CMakeLists.txt")).group(1)
        p = d.run([sys.executable, os.path.join(d.src, "scripts", "help2man.py"), "--format",
                   "markdown", "--program", os.path.join(d.build, "evfarm"), "--name", "evfarm",
                   "--program", os.path.join(d.build, "evfarm-sweep"), "--name", "evfarm-sweep",
                   "--version", version, "--output", out])
        if not c(p.returncode == 0, "help2man.py --format markdown: %s" % p.stderr):
            return
        want, have = open(out).read(), d.text("docs/usage.md")
    diff = list(difflib.unified_diff(have.splitlines(), want.splitlines(), "docs/usage.md",
                                     "from --help", lineterm="", n=1))
    c(not diff, "docs/usage.md differs from --help (cmake --build build --target usage-md "
      "writes it again):\n" + "\n".join(diff[:40]))
    rows = set(re.findall(r"^\| `(--[a-z][a-z0-9-]*)", have, re.M))
    for prog in ("evfarm", "evfarm-sweep"):
        text = d.run([os.path.join(d.build, prog), "--help"]).stdout
        opts = re.findall(r"^  (--[a-z][a-z0-9-]*)", text, re.M)
        c(len(opts) > 10, "%s --help lists %d options" % (prog, len(opts)))
        for o in opts:
            c(o in rows, "%s %s is in --help but has no row in docs/usage.md" % (prog, o))
    text = d.run([os.path.join(d.build, "evfarm"), "--help"]).stdout
    for name in CHOICES:
        m = re.search(r"^  --%s [A-Z]+\s+(.*?)(?=^  --|\Z)" % re.escape(name), text, re.M | re.S)
        if not c(m, "--%s is not in --help" % name):
            continue
        err = d.run([os.path.join(d.build, "evfarm"), "--" + name, "zzz-not-a-value"]).stderr
        e = re.search(r"is not (?:a [a-z ]+ \(([^)]*)\)|(.*?)) \(try", err)
        if not c(e, "--%s: no list of values in evfarm's message for a bad one: %s" % (name, err)):
            continue
        vals = [x for x in re.split(r", | or ", e.group(1) or e.group(2)) if x]
        for v in vals:
            c(re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(v), m.group(1)),
              "--%s accepts %r, which its --help does not name" % (name, v))


def case_commands(a, c):
    d = Docs(a, c)
    n = 0
    for rel in docs(d.src):
        for cmd in command_lines(d.text(rel)):
            n += 1
            check_command(d, c, rel, cmd)
    parse_all(d, c)
    c(n >= 30, "only %d command lines found in the documents" % n)
    c(len(d.parses) >= 20, "only %d command lines parsed by evfarm or evfarm-sweep" % len(d.parses))


def case_paths(a, c):
    d = Docs(a, c)
    for rel in docs(d.src):
        bl, prose = blocks(d.text(rel))
        words = [w for s in code_spans(prose) for w in s.split()]
        words += [w for lang, lines in bl if lang in ("sh", "bash", "")
                  for line in lines for w in line.split()]
        for w in words:
            w = w.strip("'\"()`")
            e = d.exists(w)
            c(e is None or e, "%s names %s, which is not in the tree" % (rel, w))


def slug(heading):
    h = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return h.replace(" ", "-")


def case_links(a, c):
    d = Docs(a, c)
    anchors = {}

    def of(rel):
        if rel not in anchors:
            bl, prose = blocks(d.text(rel))
            anchors[rel] = {slug(m) for m in re.findall(r"^#{1,6} (.*)$", prose, re.M)}
        return anchors[rel]
    n = 0
    for rel in docs(d.src):
        _, prose = blocks(d.text(rel))
        for target in re.findall(r"\]\(([^)\s]+)\)", prose):
            if re.match(r"^[a-z]+:", target):
                continue
            n += 1
            path, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(rel), path)) if path else rel
            if not c(os.path.exists(os.path.join(d.src, dest)),
                     "%s links to %s, which does not exist" % (rel, target)):
                continue
            if anchor:
                c(dest.endswith(".md") and anchor in of(dest),
                  "%s links to %s: %s has no heading #%s" % (rel, target, dest, anchor))
    c(n >= 20, "only %d links found" % n)


def case_layout(a, c):
    d = Docs(a, c)
    text = d.text("docs/design.md")
    i = text.find("## Layout")
    if not c(i >= 0, "docs/design.md has no Layout section"):
        return
    layout = text[i:]
    j = layout.find("\n## ", 5)
    layout = layout if j < 0 else layout[:j]
    for f in sorted(os.listdir(os.path.join(d.src, "src"))):
        if f.endswith(".c"):
            c(re.search(r"(?<![\w.])%s(?![\w])" % re.escape(f), layout),
              "docs/design.md's Layout does not name src/%s" % f)


def case_packages(a, c):
    d = Docs(a, c)
    setup = d.text("scripts/setup.sh")
    pkgs = re.findall(r"[a-z0-9][a-z0-9.+-]+", " ".join(re.findall(r"packages(?:\+)?=\(([^)]*)\)",
                                                                   setup)))
    c(len(pkgs) > 20, "found %d packages in scripts/setup.sh" % len(pkgs))
    install = d.text("docs/install.md")
    for p in pkgs:
        c(re.search(r"(?<![\w.+-])%s(?![\w.+-])" % re.escape(p), install),
          "scripts/setup.sh installs %s, which docs/install.md does not name" % p)


def case_readme(a, c):
    d = Docs(a, c)
    text = d.text("README.md")
    lines = text.count("\n")
    c(lines <= 300, "README.md has %d lines (at most 300)" % lines)
    bl, _ = blocks(text)
    first = next((l for lang, l in bl if lang == "sh"), [])
    progs = [l.split()[0] for l in first if l.strip()]
    c(progs == ["scripts/run.sh", "scripts/test.sh"],
      "the README's first commands are %s, not scripts/run.sh and scripts/test.sh" % progs)
    ci = d.text(".ci/run")
    c(re.search(r"^[^#]*scripts/test\.sh", ci, re.M), ".ci/run does not call scripts/test.sh")


def main():
    cases = cases_of(globals())

    def run(a, fn):
        c = Check("docs_" + a.case)
        fn(a, c)
        return c.done()
    return cases_main(cases, ["--build", "--source"], run)


if __name__ == "__main__":
    sys.exit(main())
