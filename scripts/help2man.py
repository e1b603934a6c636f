#!/usr/bin/env python3
"""Write a program's man page from its own --help, at build time, so the two cannot drift;
or, with --format markdown, the option reference docs/usage.md from several programs' --help.

  help2man.py --program BUILD/evfarm --name evfarm --version 0.1.0 --output evfarm.1
  help2man.py --format markdown --program BUILD/evfarm --name evfarm \
      --program BUILD/evfarm-sweep --name evfarm-sweep --version 0.1.0 --output docs/usage.md

evfarm's --help has one layout (src/cli.c, evf_opt_usage): a "Usage:" line, a description, an
"Options (...):" list of "  --name [METAVAR]  text" entries (continued on lines indented by 22
spaces), then paragraphs, and sections that start with a line "Title:" ("Exit status:",
"Examples:").  Every word of --help lands in the page; tests/install/check_install.py renders
the page with man and checks that against --help.
"""
import argparse
import os
import re
import subprocess
import sys

OPTION = re.compile(r"^  (--[a-z][a-z0-9-]*)(?: ([A-Z][A-Z0-9_]*))?(?:  +| (?=\S))(.*)$")
OPTION_BARE = re.compile(r"^  (--[a-z][a-z0-9-]*)(?: ([A-Z][A-Z0-9_]*))?$")
CONTINUED = re.compile(r"^ {3,}(\S.*)$")
HEADING = re.compile(r"^([A-Z][A-Za-z ]*):$")
SEE_ALSO = {
    "evfarm": [("evfarm-sweep", 1), ("mpirun", 1), ("sbatch", 1)],
    "evfarm-sweep": [("evfarm", 1), ("mpirun", 1), ("sbatch", 1)],
}


def esc(text):
    """Roff-escape running text: backslashes, hyphens and quotes (kept ASCII, as commands and
    options need them to paste), and a leading period that would make a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-").replace("'", "\\(aq")
    text = text.replace("`", "\\(ga")
    if text.startswith("."):
        text = "\\&" + text
    return text


def parse(help_text):
    """Split --help into (usage, description paragraphs, options, sections)."""
    lines = help_text.rstrip("\n").split("\n")
    if not lines or not lines[0].startswith("Usage: "):
        raise ValueError("--help does not start with 'Usage: '")
    usage = lines[0][len("Usage: "):]
    i, desc, para = 1, [], []
    options_title = None
    while i < len(lines):
        line = lines[i]
        if line.startswith("Options") and line.endswith(":"):
            options_title = line[:-1]
            i += 1
            break
        if line.strip():
            para.append(line.strip())
        elif para:
            desc.append(" ".join(para))
            para = []
        i += 1
    if para:
        desc.append(" ".join(para))
    if options_title is None:
        raise ValueError("--help has no 'Options ...:' line")
    options = []
    while i < len(lines) and lines[i].strip():
        line = lines[i]
        m = OPTION.match(line) or OPTION_BARE.match(line)
        if m:
            text = m.group(3) if m.re is OPTION else ""
            options.append([m.group(1), m.group(2), [text] if text else []])
        else:
            c = CONTINUED.match(line)
            if not c or not options:
                raise ValueError(f"--help: cannot read option line {line!r}")
            options[-1][2].append(c.group(1))
        i += 1
    # The rest: paragraphs, and sections that start with "Title:".  Lines indented by two are
    # entries: "  TAG  text" (exit codes) or commands (examples), kept as they are.
    sections = [["NOTES", []]]
    para = []

    def flush():
        if para:
            sections[-1][1].append(("p", " ".join(para)))
            para.clear()

    for line in lines[i:]:
        h = HEADING.match(line)
        if h:
            flush()
            sections.append([h.group(1).upper(), []])
        elif not line.strip():
            flush()
        elif line.startswith("  ") and sections[-1][0] != "NOTES":
            flush()
            body = sections[-1][1]
            if line.startswith("     ") and body and body[-1][0] == "item":
                body[-1][2].append(line.strip())
            else:
                m = re.match(r"^  (\S+)  +(.*)$", line)
                if m and sections[-1][0] != "EXAMPLES":
                    body.append(("item", m.group(1), [m.group(2)]))
                else:
                    body.append(("code", line[2:]))
        elif sections[-1][0] == "NOTES" and re.match(r"^[a-z][a-z0-9_-]*: ", line):
            flush()   # "sim: ...", "http: ...": one paragraph each
            para.append(line.strip())
        else:
            para.append(line.strip())
    flush()
    sections = [s for s in sections if s[1]]
    return usage, desc, options_title, options, sections


def page(name, version, help_text):
    usage, desc, options_title, options, sections = parse(help_text)
    first = desc[0] if desc else name
    summary = first.split(":")[0].split(". ")[0].rstrip(".")
    title = esc(name.upper())
    out = [f'.TH {title} 1 "" "{name} {version}" "User Commands"',
           ".\\\" Generated from `" + name + " --help` by scripts/help2man.py: do not edit.",
           ".nh", ".ad l",
           ".SH NAME", f"{esc(name)} \\- {esc(summary)}",
           ".SH SYNOPSIS", esc(usage),
           ".SH DESCRIPTION"]
    for k, p in enumerate(desc):
        if k:
            out.append(".PP")
        out.append(esc(p))
    out += [".SH OPTIONS", esc(options_title)]
    for opt, metavar, text in options:
        tag = f"\\fB{esc(opt)}\\fR" + (f" \\fI{esc(metavar)}\\fR" if metavar else "")
        out += [".TP", tag]
        if text:
            out.append(esc(" ".join(text)))
    for title, body in sections:
        out.append(f".SH {title}")
        in_code = False
        for part in body:
            if part[0] != "code" and in_code:
                out += [".fi", ".RE"]
                in_code = False
            if part[0] == "p":
                out += [".PP", esc(part[1])]
            elif part[0] == "item":
                out += [".TP", f"\\fB{esc(part[1])}\\fR", esc(" ".join(part[2]))]
            else:
                if not in_code:
                    out += [".PP", ".RS", ".nf"]
                    in_code = True
                out.append(esc(part[1]))
        if in_code:
            out += [".fi", ".RE"]
    out.append(".SH SEE ALSO")
    refs = SEE_ALSO.get(name, [])
    out.append(", ".join(f"\\fB{esc(r)}\\fR({s})" for r, s in refs) +
               ", and the README and docs/ (usage.md, kinds.md, long\\-runs.md, ...) under "
               "share/doc/evfarm of the installation.")
    return "\n".join(out) + "\n"


def md_esc(text):
    """Markdown-escape running text: what would start emphasis, a table cell or a link."""
    return re.sub(r"([\\`*_|<\[\]])", r"\\\1", text)


def markdown_section(name, help_text):
    """One program's part of docs/usage.md: the same words as its man page, in Markdown."""
    usage, desc, options_title, options, sections = parse(help_text)
    out = [f"## {name}", "", "```", usage, "```", ""]
    for p in desc:
        out += [md_esc(p), ""]
    out += [f"### {md_esc(options_title)}", "", "| option | meaning |", "|---|---|"]
    for opt, metavar, text in options:
        tag = f"`{opt}" + (f" {metavar}`" if metavar else "`")
        out.append(f"| {tag} | {md_esc(' '.join(text))} |")
    out.append("")
    for title, body in sections:
        if title != "NOTES":
            out += [f"### {title.capitalize()}", ""]
        in_code = False
        for part in body:
            if part[0] != "code" and in_code:
                out += ["```", ""]
                in_code = False
            if part[0] == "p":
                out += [md_esc(part[1]), ""]
            elif part[0] == "item":
                out += [f"- **{md_esc(part[1])}**: {md_esc(' '.join(part[2]))}", ""]
            else:
                if not in_code:
                    out.append("```sh")
                    in_code = True
                out.append(part[1])
        if in_code:
            out += ["```", ""]
    return out


def markdown(programs, version):
    """docs/usage.md: every program's --help, in Markdown."""
    names = ", ".join(f"`{n}`" for n, _ in programs)
    out = ["# Option reference", "",
           f"<!-- Generated by scripts/help2man.py --format markdown from the --help of {names}"
           " (evfarm " + version + "): do not edit. `cmake --build build --target usage-md`"
           " writes it again; the test docs_reference fails when it differs from --help. -->",
           "",
           f"Every option of {names}, as their `--help` prints it (and their man pages, made"
           " from the same text). How each works in depth: [kinds](kinds.md), [output](output.md),"
           " [long runs](long-runs.md), [scaling](scaling.md).", ""]
    for name, text in programs:
        out += markdown_section(name, text)
    while out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def run_help(program):
    # --help runs the program as an MPI singleton; Open MPI wants leave to do that as root, and
    # a sanitizer build must not fail the build over the MPI library's own leaks.
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               ASAN_OPTIONS="detect_leaks=0")
    try:
        r = subprocess.run([program, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env, timeout=120, text=True)
    except (OSError, subprocess.TimeoutExpired) as e:
        sys.exit(f"help2man.py: cannot run {program} --help: {e} (configure with -DEVF_MAN=OFF "
                 "to build without man pages)")
    if r.returncode != 0:
        sys.exit(f"help2man.py: {program} --help exited {r.returncode}: {r.stderr.strip()} "
                 "(configure with -DEVF_MAN=OFF to build without man pages)")
    return r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--program", required=True, action="append",
                    help="the built program to run with --help (markdown: one or more)")
    ap.add_argument("--name", required=True, action="append",
                    help="its name (the page's title), one per --program")
    ap.add_argument("--version", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--format", choices=("man", "markdown"), default="man")
    a = ap.parse_args()
    if len(a.program) != len(a.name) or (a.format == "man" and len(a.program) != 1):
        ap.error("one --name per --program (and one program for a man page)")
    try:
        if a.format == "markdown":
            text = markdown([(n, run_help(p)) for n, p in zip(a.name, a.program)], a.version)
        else:
            text = page(a.name[0], a.version, run_help(a.program[0]))
    except ValueError as e:
        sys.exit(f"help2man.py: {' '.join(a.name)}: {e}")
    tmp = a.output + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, a.output)


if __name__ == "__main__":
    main()
