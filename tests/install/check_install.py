"""Installing evfarm the way a cluster user does: `cmake --install` into a prefix, the man pages
against --help, --version against the MPI and libev the build used, the module file, and libev
found (or refused) under -DLibev_ROOT.  (The unprivileged user's whole build, install and Slurm
job is slurm_user-install in tests/slurm.)

usage: check_install.py --build B --source S --outdir D --case NAME
       check_install.py --list
"""
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from testlib import Check, cases_main, cases_of  # noqa: E402


def cache(build):
    """The build's CMakeCache.txt as a dict."""
    out = {}
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        for line in f:
            m = re.match(r"^([A-Za-z0-9_]+):[A-Z]+=(.*)$", line.rstrip("\n"))
            if m:
                out[m.group(1)] = m.group(2)
    return out


def project_version(source):
    with open(os.path.join(source, "CMakeLists.txt")) as f:
        return re.search(r"project\(evfarm VERSION ([0-9.]+)", f.read()).group(1)


def run(cmd, **kw):
    kw.setdefault("timeout", 300)
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def render(page):
    """`man -l PAGE` as plain text, wide enough that no option line is wrapped into the next."""
    env = dict(os.environ, MANWIDTH="200", MAN_KEEP_FORMATTING="", LANG="C.UTF-8")
    p = run(["man", "-l", page], env=env)
    if p.returncode != 0:
        return None, p.stderr
    text = run(["col", "-bx"], input=p.stdout).stdout
    return text, p.stderr


def tokens(text):
    """Words, compared without case and without a trailing colon (a heading "Exit status:"
    is rendered "EXIT STATUS")."""
    return [w.lower().rstrip(":") for w in text.split()]


# Sections the page adds around --help's text; every other word of the page comes from --help.
ADDED_SECTIONS = {"NAME", "SEE ALSO"}
ADDED_HEADINGS = {"SYNOPSIS", "DESCRIPTION", "OPTIONS", "NOTES"}


def page_words(text):
    lines = [l for l in text.split("\n")]
    nonempty = [i for i, l in enumerate(lines) if l.strip()]
    body = lines[nonempty[0] + 1:nonempty[-1]]  # without the header and footer lines
    keep, skip = [], False
    for l in body:
        if l and not l[0].isspace():  # a section heading
            skip = l.strip() in ADDED_SECTIONS
            if skip or l.strip() in ADDED_HEADINGS:
                continue
        if not skip:
            keep.append(l)
    return tokens("\n".join(keep))


def help_words(text):
    lines = text.split("\n")
    assert lines[0].startswith("Usage: ")
    lines[0] = lines[0][len("Usage: "):]
    return tokens("\n".join(lines))


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def case_man(c):
    """Both man pages render with man -l and hold exactly --help's words, in --help's order
    (besides the NAME and SEE ALSO sections and the headings a man page has)."""
    for prog in ("evfarm", "evfarm-sweep"):
        page = os.path.join(c.a.build, "man", prog + ".1")
        if not c.check(os.path.exists(page), "%s missing (built with -DEVF_MAN=ON?)" % page):
            continue
        text, err = render(page)
        if not c.check(text is not None, "man -l %s failed: %s" % (page, err)):
            continue
        c.check(not err.strip(), "man -l %s warned: %s" % (page, err.strip()))
        h = run([os.path.join(c.a.build, prog), "--help"], env=c.env)
        c.check(h.returncode == 0, "%s --help: exit %d" % (prog, h.returncode))
        want, got = help_words(h.stdout), page_words(text)
        i = first_difference(want, got)
        c.check(want == got, "%s(1) differs from --help at word %d: --help has %r, the page %r"
                % (prog, i, " ".join(want[max(0, i - 5):i + 8]), " ".join(got[max(0, i - 5):i + 8])))
        # Every option of --help is a tagged entry of OPTIONS.
        for opt in re.findall(r"^  (--[a-z][a-z0-9-]*)", h.stdout, re.M):
            c.check(re.search(r"^ {7}%s\b" % re.escape(opt), text, re.M) is not None,
                    "%s(1): option %s is not an entry of OPTIONS" % (prog, opt))
        c.check(re.search(r"^NAME\n +%s - \S" % re.escape(prog), text, re.M) is not None,
                "%s(1): no NAME line 'prog - summary' (whatis/apropos read it)" % prog)


def expected_mpi(cc):
    """What --version must say of the MPI library: from the launcher, asked independently."""
    launcher = cc.get("EVF_MPIEXEC", "mpirun")
    out = run([launcher, "--version"]).stdout + run([launcher, "--version"]).stderr
    m = re.search(r"\((?:Open MPI|OpenRTE)\) ([0-9.]+)", out)
    if m:
        return "Open MPI v" + m.group(1)
    m = re.search(r"HYDRA build details:\s+Version:\s+([0-9.]+)", out)
    if m:
        return "MPICH Version: " + m.group(1)
    return None


def case_version(c):
    """--version: evfarm's version, then the MPI library it runs on (as its launcher names it)
    and libev's version (as the ev.h it was built with says), for evfarm and evfarm-sweep."""
    cc = cache(c.a.build)
    mpi = expected_mpi(cc)
    c.check(mpi is not None, "cannot tell the MPI from %s --version" % cc.get("EVF_MPIEXEC"))
    with open(os.path.join(cc["Libev_INCLUDE_DIR"], "ev.h")) as f:
        evh = f.read()
    ev = "%s.%s" % (re.search(r"#define EV_VERSION_MAJOR (\d+)", evh).group(1),
                    re.search(r"#define EV_VERSION_MINOR (\d+)", evh).group(1))
    version = project_version(c.a.source)
    for prog in ("evfarm", "evfarm-sweep"):
        p = run([c.a.mpirun, "-np", "2", os.path.join(c.a.build, prog), "--version"], env=c.env)
        c.check(p.returncode == 0, "%s --version: exit %d %s" % (prog, p.returncode, p.stderr))
        lines = p.stdout.splitlines()
        c.check(len(lines) == 3, "%s --version: want 3 lines (rank 0 only), got %r" % (prog, lines))
        if len(lines) != 3:
            continue
        c.check(lines[0] == "%s %s" % (prog, version), "line 1: %r" % lines[0])
        c.check(lines[1].startswith("MPI library: ") and mpi is not None and mpi in lines[1],
                "line 2: %r, want it to name %r" % (lines[1], mpi))
        c.check(lines[2] == "libev: " + ev, "line 3: %r, want libev: %s" % (lines[2], ev))


INSTALLED = ["bin/evfarm", "bin/evfarm-sweep", "libexec/evfarm/evfarm-exec-shim",
             "bin/evfarm-report", "bin/evfarm-mpirun", "bin/evfarm-plot",
             "share/evfarm/jobs/evfarm.sbatch", "share/evfarm/jobs/sweep.sbatch",
             "share/evfarm/jobs/exec-farm.sbatch", "share/evfarm/jobs/scaling.sh",
             "share/evfarm/jobs/scaling-strong.sh", "share/evfarm/jobs/scaling-weak.sh"]
DATA = ["share/evfarm/jobs/README.md", "share/doc/evfarm/README.md",
        "share/doc/evfarm/jobs/README.md"] + [
        "share/doc/evfarm/docs/" + d for d in sorted(os.listdir(os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs")))] + [
        "share/man/man1/evfarm.1",
        "share/man/man1/evfarm-sweep.1", "share/evfarm/modulefile"]


def install(c, prefix):
    shutil.rmtree(prefix, ignore_errors=True)
    p = run(["cmake", "--install", c.a.build, "--prefix", prefix])
    c.check(p.returncode == 0, "cmake --install: exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr))
    return p.returncode == 0


def clean_env(c, prefix=None):
    """The environment of a user who has only the installation: no build tree or source
    scripts on PATH, no EVF_MPIEXEC (the installed evfarm-mpirun knows its launcher)."""
    e = dict(c.env)
    e.pop("EVF_MPIEXEC", None)
    for k in list(e):
        if k.startswith("SLURM_"):
            del e[k]
    if prefix:
        e["PATH"] = os.path.join(prefix, "bin") + ":" + e["PATH"]
    return e


def case_install(c):
    """cmake --install --prefix: the programs, job scripts, docs, man pages and module file;
    the installed evfarm-mpirun and evfarm give the oracle's records (check_run.py); the
    installed job script runs the installed evfarm, not one on PATH or in the submit dir."""
    prefix = os.path.join(c.dir, "prefix")
    if not install(c, prefix):
        return
    for f in INSTALLED:
        p = os.path.join(prefix, f)
        c.check(os.path.isfile(p) and os.access(p, os.X_OK), "%s: not an installed program" % f)
    for f in DATA:
        p = os.path.join(prefix, f)
        c.check(os.path.isfile(p) and os.path.getsize(p) > 0, "%s: not installed" % f)
    manifest = open(os.path.join(c.a.build, "install_manifest.txt")).read().split()
    for f in INSTALLED + DATA:
        c.check(os.path.join(prefix, f) in manifest, "%s: not in install_manifest.txt" % f)
    # The installed documentation's links lead to installed files (README.md, docs/ and
    # jobs/README.md keep the source tree's layout under share/doc/evfarm).
    docdir = os.path.join(prefix, "share/doc/evfarm")
    for root, _, names in os.walk(docdir):
        for name in [n for n in names if n.endswith(".md")]:
            page = os.path.join(root, name)
            for link in re.findall(r"\]\(([^)\s]+)\)", open(page).read()):
                if re.match(r"[a-z]+:", link) or link.startswith("#"):
                    continue
                to = os.path.normpath(os.path.join(root, link.split("#")[0]))
                c.check(os.path.isfile(to), "%s: its link %s leads to nothing installed"
                        % (os.path.relpath(page, prefix), link))
    # Nothing installed points into the source or build tree.
    for f in INSTALLED[3:] + ["share/evfarm/modulefile"]:  # (the scripts: after 3 programs)
        text = open(os.path.join(prefix, f)).read().replace(prefix, "PREFIX")
        for tree in (c.a.source, c.a.build):
            c.check(tree not in text, "%s names %s" % (f, tree))
    job = open(os.path.join(prefix, "share/evfarm/jobs/evfarm.sbatch")).read()
    c.check('\nevf_installed_bin="%s/bin"\n' % prefix in job,
            "evfarm.sbatch: the installed bin directory is not written in")
    cc = cache(c.a.build)
    c.check('\nevf_installed_mpiexec="%s"\n' % cc["EVF_MPIEXEC"] in job,
            "evfarm.sbatch: the build's launcher is not written in")

    # The installed programs, started the installed way, against the oracle.
    env = clean_env(c, prefix)
    runner = [sys.executable, os.path.join(c.a.source, "tests", "integration", "check_run.py"),
              "--mpirun", os.path.join(prefix, "bin", "evfarm-mpirun"),
              "--evfarm", os.path.join(prefix, "bin", "evfarm"), "--outdir", c.dir,
              "--name", "installed_np2", "--np", "2", "--", "--tasks", "2000", "--io-max", "0.2",
              "--cpu-max", "20000"]
    p = run(runner, env=env, cwd=c.dir)
    c.check(p.returncode == 0, "installed evfarm against the oracle:\n%s%s" % (p.stdout, p.stderr))

    # The installed job script, run as a batch step runs it, outside Slurm: an `evfarm` on PATH
    # that fails, and a submit directory with no build/: it must run prefix/bin/evfarm.
    fake = os.path.join(c.dir, "fakebin")
    os.makedirs(fake, exist_ok=True)
    for name, text in (("evfarm", "#!/bin/sh\necho WRONG-EVFARM >&2\nexit 99\n"),
                       ("scontrol", "#!/bin/sh\nexit 1\n")):
        with open(os.path.join(fake, name), "w") as f:
            f.write(text)
        os.chmod(os.path.join(fake, name), 0o755)
    submit = os.path.join(c.dir, "submit")
    shutil.rmtree(submit, ignore_errors=True)
    os.makedirs(submit)
    env = clean_env(c)
    env.update(PATH=fake + ":" + env["PATH"], SLURM_JOB_ID="777", SLURM_SUBMIT_DIR=submit,
               EVF_LAUNCHER="mpirun", OMPI_MCA_rmaps_base_oversubscribe="1",
               EVF_OPTIONS="--tasks 50 --io-max 0.01 --cpu-max 100")
    p = run(["bash", os.path.join(prefix, "share/evfarm/jobs/evfarm.sbatch"), "--quiet"],
            env=env, cwd=submit)
    c.check(p.returncode == 0 and "WRONG-EVFARM" not in p.stderr,
            "installed evfarm.sbatch: exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr))
    csv = os.path.join(submit, "evfarm-777.csv")
    c.check(os.path.exists(csv) and len(open(csv).read().splitlines()) == 51,
            "installed evfarm.sbatch: no evfarm-777.csv of 50 records in %s" % os.listdir(submit))
    c.check("%s/bin/evfarm" % prefix in p.stdout,
            "installed evfarm.sbatch does not say it runs %s/bin/evfarm:\n%s" % (prefix, p.stdout))

    # The installed man pages render.
    for page in ("evfarm.1", "evfarm-sweep.1"):
        text, err = render(os.path.join(prefix, "share/man/man1", page))
        c.check(text is not None and "SYNOPSIS" in text, "man -l %s: %s" % (page, err))


def case_module(c):
    """The installed module file loads with environment-modules (Tcl; Lmod reads it too): evfarm
    on PATH is the installed one, `man evfarm` finds the installed page and man still finds the
    system's pages (with MANPATH unset before), it names the MPI, and it unloads."""
    prefix = os.path.join(c.dir, "prefix")
    if not install(c, prefix):
        return
    init = "/usr/share/modules/init/bash"
    if not c.check(os.path.exists(init), "%s missing (environment-modules)" % init):
        return
    mod = os.path.join(prefix, "share/evfarm/modulefile")
    script = ('. %s && module load %s && command -v evfarm && command -v evfarm-sweep && '
              'man -w evfarm && man -w evfarm-sweep && echo "MPI=$EVFARM_MPI" && '
              '(man -w man >/dev/null && echo system-pages-found) && echo "MANPATH=$MANPATH" && '
              'module unload %s && (command -v evfarm || echo gone)' % (init, mod, mod))
    env = clean_env(c)
    env.pop("MANPATH", None)
    p = run(["bash", "--norc", "--noprofile", "-c", script], env=env, cwd=c.dir)
    out = p.stdout.splitlines()
    c.check(p.returncode == 0 and len(out) == 8, "module load: exit %d\n%s%s"
            % (p.returncode, p.stdout, p.stderr))
    if len(out) != 8:
        return
    c.check(out[0] == os.path.join(prefix, "bin/evfarm"), "evfarm on PATH: %r" % out[0])
    c.check(out[1] == os.path.join(prefix, "bin/evfarm-sweep"), "evfarm-sweep: %r" % out[1])
    c.check(out[2] == os.path.join(prefix, "share/man/man1/evfarm.1"), "man -w evfarm: %r" % out[2])
    c.check(out[3] == os.path.join(prefix, "share/man/man1/evfarm-sweep.1"),
            "man -w evfarm-sweep: %r" % out[3])
    cc = cache(c.a.build)
    mpi = expected_mpi(cc)
    vendor = mpi.split(" v")[0].split(" Version")[0] if mpi else "?"
    c.check(out[4].startswith("MPI=%s " % vendor), "EVFARM_MPI: %r, want %s ..." % (out[4], vendor))
    c.check(out[5] == "system-pages-found",
            "with the module loaded, man no longer finds the system's pages (man -w man)")
    # man-db also finds PREFIX/share/man from PATH; other man programs need MANPATH.
    c.check(os.path.join(prefix, "share/man") in out[6][len("MANPATH="):].split(":"),
            "the module file does not put %s/share/man on MANPATH: %r" % (prefix, out[6]))
    c.check(out[7] == "gone", "after module unload, evfarm is still on PATH: %r" % out[7])
    text = open(mod).read()
    c.check(vendor in text and cc["MPI_C_COMPILER"] in text,
            "the module file does not say which MPI (%s, %s) it was built with"
            % (vendor, cc["MPI_C_COMPILER"]))

    # Built under an MPI module: configure takes its name from LOADEDMODULES ...
    env = dict(os.environ, LOADEDMODULES="gcc/12.2:openmpi/4.1.6:python/3.11")
    p, cache_path = configure(c, "cfg-module", env=env)
    c.check(p.returncode == 0 and cache(os.path.dirname(cache_path)).get("EVF_MPI_MODULE") ==
            "openmpi/4.1.6", "EVF_MPI_MODULE from LOADEDMODULES: %r"
            % (cache(os.path.dirname(cache_path)).get("EVF_MPI_MODULE") if p.returncode == 0
               else p.stderr[-1000:]))
    # ... and the module file loads that module first (here a stand-in module of that name).
    modules = os.path.join(c.dir, "modulefiles")
    os.makedirs(os.path.join(modules, "fakempi"), exist_ok=True)
    with open(os.path.join(modules, "fakempi", "1.0"), "w") as f:
        f.write("#%Module1.0\nsetenv FAKEMPI_LOADED yes\n")
    with_mpi = os.path.join(c.dir, "modulefile-with-mpi")
    with open(with_mpi, "w") as f:
        f.write(text.replace('set evf_mpi_module ""', 'set evf_mpi_module "fakempi/1.0"'))
    script = ('. %s && module use %s && module load %s && echo "$FAKEMPI_LOADED" && '
              'command -v evfarm' % (init, modules, with_mpi))
    p = run(["bash", "--norc", "--noprofile", "-c", script], env=clean_env(c), cwd=c.dir)
    c.check(p.returncode == 0 and p.stdout.split() == ["yes", os.path.join(prefix, "bin/evfarm")],
            "a module file built under fakempi/1.0 does not load it: %s%s" % (p.stdout, p.stderr))


def configure(c, name, *args, env=None):
    """Configure the source alone (no build) into DIR/name with the build's MPI; returns the
    completed process and the cache path."""
    cc = cache(c.a.build)
    b = os.path.join(c.dir, name)
    shutil.rmtree(b, ignore_errors=True)
    p = run(["cmake", "-S", c.a.source, "-B", b, "-DBUILD_TESTING=OFF", "-DEVF_MAN=OFF",
             "-DMPI_C_COMPILER=" + cc["MPI_C_COMPILER"]] + list(args), env=env)
    return p, os.path.join(b, "CMakeCache.txt")


def case_libev_root(c):
    """-DLibev_ROOT: a prefix holding libev as `dpkg -x libev-dev` lays it out is used (not the
    system's); a prefix with only the shared libev stops configuring with the MPI_Init clash
    explained; a prefix that does not exist, or lacks ev.h, is named in the error."""
    cc = cache(c.a.build)
    system_a, system_h = cc["Libev_LIBRARY"], os.path.join(cc["Libev_INCLUDE_DIR"], "ev.h")
    arch = run(["gcc", "-print-multiarch"]).stdout.strip() or "x86_64-linux-gnu"
    good = os.path.join(c.dir, "libev-good", "usr")
    shutil.rmtree(os.path.dirname(good), ignore_errors=True)
    os.makedirs(os.path.join(good, "include"))
    os.makedirs(os.path.join(good, "lib", arch))
    shutil.copy(system_h, os.path.join(good, "include"))
    shutil.copy(system_a, os.path.join(good, "lib", arch, "libev.a"))
    p, cache_path = configure(c, "cfg-good", "-DLibev_ROOT=" + good)
    c.check(p.returncode == 0, "Libev_ROOT=%s: configure failed:\n%s" % (good, p.stderr[-2000:]))
    if p.returncode == 0:
        got = cache(os.path.dirname(cache_path))
        c.check(got.get("Libev_LIBRARY") == os.path.join(good, "lib", arch, "libev.a"),
                "Libev_LIBRARY=%r, want the one under Libev_ROOT" % got.get("Libev_LIBRARY"))
        c.check(got.get("Libev_INCLUDE_DIR") == os.path.join(good, "include"),
                "Libev_INCLUDE_DIR=%r, want the one under Libev_ROOT" % got.get("Libev_INCLUDE_DIR"))

    shared = os.path.join(c.dir, "libev-shared")
    shutil.rmtree(shared, ignore_errors=True)
    os.makedirs(os.path.join(shared, "include"))
    os.makedirs(os.path.join(shared, "lib"))
    shutil.copy(system_h, os.path.join(shared, "include"))
    so = os.path.realpath(os.path.join(os.path.dirname(system_a), "libev.so"))
    if not os.path.exists(so):
        so = system_a  # any file named libev.so does: configure only looks for it
    shutil.copy(so, os.path.join(shared, "lib", "libev.so"))
    p, _ = configure(c, "cfg-shared", "-DLibev_ROOT=" + shared)
    err = " ".join(p.stderr.split())
    c.check(p.returncode != 0, "a shared-only libev was accepted")
    c.check("only a shared libev" in err and os.path.join(shared, "lib", "libev.so") in err
            and "MPI_Init" in err and "libevent" in err,
            "the error does not explain the shared libev's clash:\n%s" % p.stderr[-2000:])

    empty = os.path.join(c.dir, "libev-empty")
    os.makedirs(empty, exist_ok=True)
    for name, root, words in (("cfg-missing", os.path.join(c.dir, "no-such-prefix"),
                               ["Libev_ROOT", "is not a directory"]),
                              ("cfg-empty", empty, ["Libev_ROOT=", "ev.h", "libev.a"])):
        p, _ = configure(c, name, "-DLibev_ROOT=" + root)
        err = " ".join(p.stderr.split())
        c.check(p.returncode != 0 and all(w in err for w in words) and root in err,
                "Libev_ROOT=%s: exit %d, want an error naming it:\n%s"
                % (root, p.returncode, p.stderr[-1500:]))


def main():
    class Case:
        pass

    def run_case(a, fn):
        c = Case()
        c.check = Check("check_install " + fn.__name__[5:])
        c.a = a
        c.dir = os.path.join(a.outdir, "install_" + fn.__name__[5:])
        os.makedirs(c.dir, exist_ok=True)
        c.env = dict(os.environ)
        fn(c)
        return c.check.done()
    return cases_main(cases_of(globals()), ["--build", "--source", "--outdir", "--mpirun"],
                      run_case)


if __name__ == "__main__":
    sys.exit(main())
