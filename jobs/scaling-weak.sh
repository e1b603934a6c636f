#!/usr/bin/env bash
# Weak scaling: the same number of tasks per rank (--tasks-per-rank, default 5000) at every
# node count.   jobs/scaling-weak.sh --nodes "1 2 4 8" --ranks-per-node 32 --wait
exec "$(dirname "$0")/scaling.sh" weak "$@"
