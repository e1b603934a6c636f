"""The records of this build's runs against another build's (an Open MPI build's, when this
one links MPICH): every check_run test named must have written its canonical records (id,
planned parameters, value, status: no rank, batch or times) in both builds' test outputs, and
they must be byte-identical.

usage: check_same_records.py REFERENCE_OUTDIR OUTDIR TEST...
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import Check  # noqa: E402


def main():
    ref, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
    check = Check("check_same_records")
    records = 0
    for name in names:
        mine, theirs = (os.path.join(d, name + ".canonical") for d in (out, ref))
        if not check(os.path.isfile(mine) and os.path.getsize(mine) > 0,
                     "%s: this build wrote no records (%s)" % (name, mine)):
            continue
        if not check(os.path.isfile(theirs) and os.path.getsize(theirs) > 0,
                     "%s: the reference build has no records (%s): run its tests first"
                     % (name, theirs)):
            continue
        a, b = open(mine).read(), open(theirs).read()
        diff = next((i for i, (x, y) in enumerate(zip(a.splitlines(), b.splitlines())) if x != y),
                    None)
        check(a == b, "%s: records differ from the reference build's (%d against %d lines; "
              "first difference at line %s)" % (name, a.count("\n"), b.count("\n"), diff))
        records += a.count("\n")
    print("compared %d runs, %d records, against %s" % (len(names), records, ref))
    return check.done()


if __name__ == "__main__":
    sys.exit(main())
