#!/usr/bin/env bash
# Strong scaling: the same number of tasks (--tasks, default 10000) at every node count.
#   jobs/scaling-strong.sh --nodes "1 2 4 8" --ranks-per-node 32 --tasks 1000000 --wait
exec "$(dirname "$0")/scaling.sh" strong "$@"
