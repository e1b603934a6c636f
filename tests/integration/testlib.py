"""Shared by the Python test drivers: a counter of checks that reports each failure and ends
with the 'N passed, N failed' line."""


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
