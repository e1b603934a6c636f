"""Shared by the Python test drivers: a counter of checks that reports each failure and ends
with the 'N passed, N failed' line, and the main() of drivers that hold one ctest per case."""
import argparse


class Check:
    def __init__(self, name):
        self.name, self.passed, self.failed = name, 0, 0

    def __call__(self, cond, what):
        """Count one check; print `what` when it fails.  Returns cond."""
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            if self.failed <= 20:
                print("FAIL %s: %s" % (self.name, what))
        return cond

    def done(self):
        """Print the closing line; the exit status for sys.exit()."""
        print("%s: %d passed, %d failed" % (self.name, self.passed, self.failed))
        return 1 if self.failed else 0


def process_rank(pid):
    """(argv[0] as bytes, its MPI rank from Open MPI's OMPI_COMM_WORLD_RANK or None) of a
    process; (None, None) once it is gone."""
    try:
        argv0 = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\0")[0]
        env = open("/proc/%s/environ" % pid, "rb").read().split(b"\0")
    except OSError:
        return None, None
    for e in env:
        if e.startswith(b"OMPI_COMM_WORLD_RANK="):
            return argv0, int(e.split(b"=")[1])
    return argv0, None


def cases_of(namespace):
    """The functions called case_NAME in a module's namespace, by NAME."""
    return {name[5:]: fn for name, fn in namespace.items() if name.startswith("case_")}


def cases_main(cases, options, run):
    """--list prints the case names (for CMake, ';'-separated); --case NAME calls
    run(args, cases[NAME]) and returns its exit status.  `options` are the driver's own."""
    ap = argparse.ArgumentParser()
    for o in options:
        ap.add_argument(o)
    ap.add_argument("--case", choices=sorted(cases))
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    if a.list:
        print(";".join(cases))
        return 0
    return run(a, cases[a.case])
