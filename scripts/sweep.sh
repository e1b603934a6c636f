#!/usr/bin/env bash
# One command for a scaling study on this machine: set up if needed, run evfarm-sweep under
# mpirun (every size inside one mpirun), then draw the report (table on stdout, PNG, JSON).
#   scripts/sweep.sh [-np N] [evfarm-sweep options] [-- evfarm options]
#   scripts/sweep.sh --preset cpu --mode strong --sizes 1,2 --reps 5
# N defaults to the number of cores; results go to --out PREFIX (default sweep-<date>-<time>):
# PREFIX.json, PREFIX.csv, PREFIX.png, PREFIX.report.json.  Under Slurm use jobs/sweep.sbatch.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
np=$(nproc)
if [ "${1:-}" = "-np" ]; then np=${2:?-np: missing value}; shift 2; fi
out=""
prev=""
for a in "$@"; do
  [ "$a" = "--" ] && break
  [ "$prev" = "--out" ] && out=$a
  case "$a" in --help) exec "$here/build/evfarm-sweep" --help ;; esac
  prev=$a
done
args=("$@")
if [ -z "$out" ]; then
  out="sweep-$(date +%Y%m%d-%H%M%S)"
  args=(--out "$out" "$@")
fi
"$here/scripts/setup.sh" "$here/build" >/dev/null
EVF_MPIEXEC=${EVF_MPIEXEC:-$(sed -n 's/^EVF_MPIEXEC:[A-Z]*=//p' "$here/build/CMakeCache.txt")}
export EVF_MPIEXEC  # the launcher of the MPI the build links
"$here/scripts/evfarm-mpirun" -np "$np" "$here/build/evfarm-sweep" "${args[@]}"
exec "$here/scripts/evfarm-report" "$out.json"
