#!/usr/bin/env bash
# Submit one evfarm job per node count, for a strong- or weak-scaling series.  Used through
# jobs/scaling-strong.sh and jobs/scaling-weak.sh; see jobs/README.md.
#
#   jobs/scaling.sh strong|weak [--nodes "1 2 4"] [--ranks-per-node R] [--tasks N]
#                   [--tasks-per-rank M] [--out DIR] [--wait] [--timeout SEC]
#                   [--sbatch-args "ARGS"] [-- evfarm options]
#
# strong: every size runs the same N tasks.  weak: every size runs M tasks per rank.
# Every size writes <out>/<mode>-n<nodes>-<jobid>.json (its summary) and .csv, and a line in
# <out>/sweep.tsv (mode, nodes, ranks, tasks, job id, summary file).  With --wait the script
# waits for every job and exits 1 if any did not complete.
set -euo pipefail
set -f  # no word of this script's is ever a glob: '--nodes "?"' is a bad value, not a file name
here=$(cd "$(dirname "$0")" && pwd)

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
die() { echo "scaling.sh: $*" >&2; exit 2; }
trap 'rc=$?; echo "scaling.sh: line $LINENO: \"$BASH_COMMAND\" failed (exit $rc)" >&2; exit 3' ERR

mode=${1:-}
case "$mode" in strong | weak) shift ;; -h | --help) usage 0 ;; *) die "first argument: 'strong' or 'weak' (got '${mode}')" ;; esac
nodes="1 2 4"
rpn=2
tasks=10000
per_rank=5000
out="scaling-$mode-$(date +%Y%m%d-%H%M%S)"
wait=0
timeout=3600
sbatch_args=""
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes=${2:?--nodes: missing value}; shift 2 ;;
    --ranks-per-node) rpn=${2:?--ranks-per-node: missing value}; shift 2 ;;
    --tasks) tasks=${2:?--tasks: missing value}; shift 2 ;;
    --tasks-per-rank) per_rank=${2:?--tasks-per-rank: missing value}; shift 2 ;;
    --out) out=${2:?--out: missing value}; shift 2 ;;
    --wait) wait=1; shift ;;
    --timeout) timeout=${2:?--timeout: missing value}; shift 2 ;;
    --sbatch-args) sbatch_args=${2:?--sbatch-args: missing value}; shift 2 ;;
    --) shift; break ;;
    -h | --help) usage 0 ;;
    *) die "$1: unknown option (try --help)" ;;
  esac
done
# Lists are split on blanks into arrays (globbing is off), and every value is checked before
# the first job is submitted, so a bad value never leaves part of a series queued.
read -r -a node_list <<< "$nodes"
read -r -a sbatch_list <<< "$sbatch_args"
[ "${#node_list[@]}" -gt 0 ] || die "--nodes: empty list"
for v in "${node_list[@]}"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || die "--nodes: '$v' is not a positive whole number"
done
for pair in "--ranks-per-node=$rpn" "--tasks=$tasks" "--tasks-per-rank=$per_rank" "--timeout=$timeout"; do
  v=${pair#*=}
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || die "${pair%%=*}: '$v' is not a positive whole number"
done
command -v sbatch >/dev/null || die "sbatch not found: run this on a Slurm cluster's login node"
# Check every size first: an impossible request would pend forever.
for n in "${node_list[@]}"; do
  if ! msg=$(sbatch --test-only --nodes="$n" --ntasks-per-node="$rpn" \
      ${sbatch_list[@]+"${sbatch_list[@]}"} "$here/evfarm.sbatch" 2>&1); then
    die "$n node(s) x $rpn ranks cannot run here: $msg"
  fi
done

mkdir -p "$out"
out=$(cd "$out" && pwd)
ids=()
outs=()
for n in "${node_list[@]}"; do
  ranks=$((n * rpn))
  if [ "$mode" = strong ]; then t=$tasks; else t=$((per_rank * ranks)); fi
  name="$mode-n$n"
  id=$(EVF_RESULTS="$out" EVF_NAME="$name" sbatch --parsable --nodes="$n" --ntasks-per-node="$rpn" \
    --job-name="evfarm-$name" --output="$out/$name-%j.out" ${sbatch_list[@]+"${sbatch_list[@]}"} \
    "$here/evfarm.sbatch" --tasks "$t" "$@")
  id=${id%%;*}
  ids+=("$id")
  printf '%s\t%d\t%d\t%d\t%s\t%s\n' "$mode" "$n" "$ranks" "$t" "$id" "$out/$name-$id.json" \
    >> "$out/sweep.tsv"
  outs+=("$out/$name-$id.out")
  echo "scaling.sh: $name: $ranks ranks, $t tasks: job $id"
done
echo "scaling.sh: summaries go to $out (listed in $out/sweep.tsv)"
[ "$wait" = 1 ] || exit 0

# A job's state: scontrol while slurmctld remembers the job; once it is purged (MinJobAge),
# sacct where accounting runs; else the job's own output file, whose last line evfarm.sbatch
# writes as "evfarm.sbatch: evfarm exit code N".
job_state() {
  local id=$1 outfile=$2 s code
  s=$(scontrol show job "$id" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p') || s=""
  if [ -z "$s" ] && command -v sacct >/dev/null; then
    s=$(sacct -n -X -P -o State -j "$id" 2>/dev/null | head -1 | sed 's/ .*//') || s=""
  fi
  if [ -z "$s" ] && [ -f "$outfile" ]; then
    code=$(sed -n 's/^evfarm.sbatch: evfarm exit code \([0-9]*\)$/\1/p' "$outfile" | tail -1)
    if [ -n "$code" ]; then
      if [ "$code" = 0 ]; then s=COMPLETED; else s=FAILED; fi
    fi
  fi
  echo "$s"
}

# Wait for every job, polling (faster than sbatch --wait's 2 s), within --timeout.
deadline=$((SECONDS + timeout))
bad=0
for k in "${!ids[@]}"; do
  id=${ids[$k]}
  while :; do
    state=$(job_state "$id" "${outs[$k]}")
    case "$state" in
      COMPLETED) break ;;
      FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED)
        echo "scaling.sh: job $id ended $state" >&2; bad=1; break ;;
    esac
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "scaling.sh: job $id not done after $timeout s (state ${state:-unknown})" >&2
      exit 1
    fi
    sleep 0.2
  done
done
exit "$bad"
