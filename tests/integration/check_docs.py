"""The README's option table against `evfarm --help`, so the two cannot drift apart: every
option of --help (but --help and --version) has a row and every row an option of --help, with
the same value name; a default --help states is in the row; every number the row states is one
--help states for that option (a limit written once as 2,147,483,647 when it was 4,294,967,295);
and an option with a fixed set of values (--kind, --schedule...) names each value evfarm accepts
(asked of evfarm itself: its message for a bad value lists them).  And the README's Layout names
every source file.
  usage: check_docs.py --evfarm E --readme README.md --src SRC_DIR"""
import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import Check  # noqa: E402

CHOICES = ("kind", "schedule", "format", "progress-style", "retry-on")


def help_options(evfarm):
    """{name: (value name or None, the option's whole help text)} from --help."""
    text = subprocess.run([evfarm, "--help"], capture_output=True, text=True, check=True).stdout
    opts, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"^  (--[a-z-]+)(?: ([A-Z][A-Z|]*))?(?:\s|$)", line)
        if m:
            cur = m.group(1)
            opts[cur] = [m.group(2), line[len(m.group(0)):]]
        elif cur and line.startswith("    "):
            opts[cur][1] += " " + line.strip()
        else:
            cur = None
    return {k: (v[0], re.sub(r"\s+", " ", v[1]).strip()) for k, v in opts.items()}


def readme_rows(path):
    """[(["--opt", ...], {"--opt": value name or None}, meaning)] of the table that follows
    "lists every option"."""
    lines = open(path, encoding="utf-8").read().splitlines()
    start = next(i for i, l in enumerate(lines) if "lists every option" in l)
    rows = []
    for l in lines[start + 1:]:
        if not l.startswith("|"):
            if rows:
                break
            continue
        cells = [x.strip() for x in re.split(r"(?<!\\)\|", l)[1:-1]]
        if len(cells) != 2 or cells[0] in ("option", "---"):
            continue
        names, metas = [], {}
        for code in re.findall(r"`([^`]+)`", cells[0]):
            m = re.match(r"^(--[a-z-]+)(?: (\S+))?$", code.replace("\\|", "|"))
            if m:
                names.append(m.group(1))
                metas[m.group(1)] = m.group(2)
        rows.append((names, metas, cells[1].replace("`", "")))
    return rows


def numbers(text):
    """The numbers a text states (1,048,576 as 1048576; 2^32 as is ignored)."""
    return {n.rstrip(",").replace(",", "")
            for n in re.findall(r"(?<![\w.^])\d[\d,]*(?:\.\d+)?(?![\w^])", text)}


def choices(evfarm, opt):
    """The values evfarm accepts for `opt`, from its message for a bad one."""
    err = subprocess.run([evfarm, opt, "zzz-not-a-value"], capture_output=True, text=True).stderr
    m = re.search(r"is not (?:a [a-z ]+ \(([^)]*)\)|(.*?)) \(try", err)
    if not m:
        return None
    listed = m.group(1) or m.group(2)
    return [x for x in re.split(r", | or ", listed) if x]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--evfarm", required=True)
    ap.add_argument("--readme", required=True)
    ap.add_argument("--src", required=True)
    a = ap.parse_args()
    c = Check("check_docs")
    helped = help_options(a.evfarm)
    helped.pop("--help", None)
    helped.pop("--version", None)
    rows = readme_rows(a.readme)
    in_table = {n: (metas[n], meaning, names) for names, metas, meaning in rows for n in names}
    for name in sorted(set(helped) - set(in_table)):
        c(False, "%s is in --help but not in the README's option table" % name)
    for name in sorted(set(in_table) - set(helped)):
        c(False, "%s is in the README's option table but not in --help" % name)
    for name in sorted(set(helped) & set(in_table)):
        meta, text = helped[name]
        rmeta, meaning, names = in_table[name]
        c(meta == rmeta, "%s: value name %r in --help, %r in the README" % (name, meta, rmeta))
        d = re.search(r"\(default ([^,:;)]+)", text)
        if d:
            c(d.group(1).strip() in meaning, "%s: --help's default %r is not in the README row: %s"
              % (name, d.group(1).strip(), meaning))
        stated = set().union(*(numbers(helped[n][1]) for n in names if n in helped))
        extra = numbers(meaning) - stated
        c(not extra, "%s: the README row states %s, which --help does not: %s"
          % (name, sorted(extra), meaning))
        if name[2:] in CHOICES:
            vals = choices(a.evfarm, name)
            c(vals, "%s: no list of values in evfarm's message for a bad one" % name)
            for v in vals or []:
                c(re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(v), meaning),
                  "%s: the README row does not name the value %r: %s" % (name, v, meaning))
    layout = open(a.readme, encoding="utf-8").read()
    layout = layout[layout.index("## Layout"):]
    layout = layout[:layout.find("\n## ", 5) if "\n## " in layout[5:] else len(layout)]
    for f in sorted(os.listdir(a.src)):
        if f.endswith(".c"):
            c(f in layout, "the README's Layout does not name src/%s" % f)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
