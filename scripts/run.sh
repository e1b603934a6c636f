#!/usr/bin/env bash
# Set up if needed, then run the default job (10,000 simulated-crawler tasks) with one rank per
# core.  Extra arguments go to evfarm, e.g.  scripts/run.sh --tasks 100000 --output r.csv
#   EVF_NP=4 scripts/run.sh    runs 4 ranks instead.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh" "$here/build" >/dev/null
# The launcher of the MPI the build links (configure found it), unless EVF_MPIEXEC says otherwise.
EVF_MPIEXEC=${EVF_MPIEXEC:-$(sed -n 's/^EVF_MPIEXEC:[A-Z]*=//p' "$here/build/CMakeCache.txt")}
export EVF_MPIEXEC
exec "$here/scripts/evfarm-mpirun" -np "${EVF_NP:-$(nproc)}" "$here/build/evfarm" "$@"
