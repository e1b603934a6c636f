#!/bin/bash
# The figures that need many cores, as one script (a 16-core machine lent for minutes):
#   bench/many_ranks.sh BIN OUT [OLD_EVFARM]
# BIN holds evfarm and evfarm-sweep (and, for a machine without them, the shared libraries they
# need beside: they are used only for the ones the machine lacks); OUT gets the sweeps' files.
#   1. the CPU-heavy strong-scaling sweep (evfarm-sweep --preset cpu) at 1..P ranks (P = the
#      cores, at most 16), dynamic and static scheduling: efficiency against T_lb per size;
#   2. 10^8 empty tasks at P ranks: wall, the tail after the last task, rank 0's write rate and
#      peak memory, with --output CSV (against cat of the same file) and without; OLD_EVFARM
#      (a build from before the windows) without --output, and at 10^7 with it;
#   2b. records a second as ranks grow: 10^7 empty tasks with --output CSV at 1, 2, 4, ... P
#      ranks, the spread writers (every rank) against --writers 1 (rank 0 alone), alternating;
#   3. start-up: the whole time of a 1-task job at 1..P ranks (mpirun, MPI_Init, finalize);
#   4. the default job at P ranks, this build and OLD_EVFARM alternating, 3 runs each.
# Prints figures; asserts nothing.  BIG=N replaces 10^8 (and 10^7 by N/10), for a quick try.
set -u
bin=$(cd "$1" && pwd)
out=$2
old=${3:-}
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
export OMPI_MCA_rmaps_base_oversubscribe=1
# Only the libraries this machine lacks come from BIN.
missing=$(ldd "$bin/evfarm" | awk '/not found/{print $1}')
if [ -n "$missing" ]; then
  mkdir -p "$out/lib"
  for l in $missing; do ln -sf "$bin/$l" "$out/lib/$l"; done
  export LD_LIBRARY_PATH="$out/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "libraries taken from $bin: $missing"
fi
cores=$(nproc)
P=$((cores < 16 ? cores : 16))
sizes=1
for k in 2 4 8 16; do [ "$k" -le "$P" ] && sizes="$sizes,$k"; done
echo "machine: $cores cores, $(lscpu | sed -n 's/^Model name: *//p'), $(mpirun --version | head -1)"
free -g | sed -n 2p
# Plain tools only (the machine may lack python3 and bc): a summary's keys, times in ms.
json() {
  f=$1
  shift
  for k in "$@"; do printf '%s ' "$(grep -o "\"$k\": [^,}]*" "$f" | head -1)"; done
  echo
}
# Who wrote the records: the output's writers and each rank's bytes.
writers() { grep -o '"writers": [0-9]*, "rank_record_bytes": \[[^]]*\]' "$1"; }
now() { date +%s%N; }
ms() { echo "$(( ($(now) - $1) / 1000000 )) ms"; }

echo "== 1. evfarm-sweep --preset cpu --sizes $sizes --reps 3"
for mode in dynamic static; do
  timeout 300 mpirun -np "$P" "$bin/evfarm-sweep" --preset cpu --sizes "$sizes" --warmup 1 \
    --reps 3 --out "$out/cpu-$mode" -- --schedule "$mode" > /dev/null 2> "$out/cpu-$mode.err" ||
    { echo "sweep $mode failed:"; tail -5 "$out/cpu-$mode.err"; }
  # every run: ranks, wall, T_lb / wall, imbalance (columns 4, 7, 9, 13 of the CSV)
  awk -F, -v m="$mode" 'NR > 1 { printf "%-8s ranks %2d: wall %.4f s, T_lb / wall %.1f %%, imbalance %.3f\n", m, $4, $7, 100 * $9, $13 }' "$out/cpu-$mode.csv"
done

echo "== 2. ${BIG:-10^8} empty tasks at np $P (--inflight 1000)"
n=${BIG:-100000000}
big="--tasks $n --io-max 0 --cpu-max 0 --inflight 1000 --quiet"
keys="wall_s setup_s last_end_s collect_s write_s record_bytes rank0_maxrss_kib"
t=$(now)
mpirun -np "$P" "$bin/evfarm" $big --output "$out/big.csv" --json "$out/big.json"
echo "with --output: whole $(ms "$t"), $(stat -c %s "$out/big.csv") bytes"
json "$out/big.json" $keys
writers "$out/big.json"
t=$(now)
cat "$out/big.csv" > "$out/big2.csv" && sync -f "$out/big2.csv"
echo "cat of it: $(ms "$t")"
rm -f "$out/big.csv" "$out/big2.csv"
t=$(now)
mpirun -np "$P" "$bin/evfarm" $big --json "$out/big-noout.json"
echo "without --output: whole $(ms "$t")"
json "$out/big-noout.json" $keys
if [ -n "$old" ]; then
  t=$(now)
  timeout 200 mpirun -np "$P" "$old" $big --json "$out/big-old.json"
  echo "old build, without --output: whole $(ms "$t")"
  json "$out/big-old.json" $keys
  for b in "$bin/evfarm" "$old"; do
    t=$(now)
    timeout 200 mpirun -np "$P" "$b" --tasks $((n / 10)) --io-max 0 --cpu-max 0 --inflight 1000 \
      --quiet --output "$out/mid.csv" --json "$out/mid.json"
    echo "$b at $((n / 10)) tasks with --output: whole $(ms "$t"), $(stat -c %s "$out/mid.csv") bytes"
    json "$out/mid.json" $keys
    rm -f "$out/mid.csv"
  done
fi

echo "== 2b. $((n / 10)) empty tasks with --output CSV: spread writers against --writers 1"
for p in ${sizes//,/ }; do
  for w in 0 1; do
    t=$(now)
    timeout 200 mpirun -np "$p" "$bin/evfarm" --tasks $((n / 10)) --io-max 0 --cpu-max 0 \
      --inflight 1000 --quiet --writers "$w" --output "$out/mid.csv" --json "$out/mid.json"
    echo "np $p --writers $w: whole $(ms "$t"); $(json "$out/mid.json" wall_s write_s rank0_maxrss_kib)$(writers "$out/mid.json" | cut -c1-14)"
    rm -f "$out/mid.csv"
  done
done

echo "== 3. start-up: a 1-task job, whole time"
for p in ${sizes//,/ }; do
  ts=""
  for k in 1 2 3; do
    t=$(now)
    mpirun -np "$p" "$bin/evfarm" --tasks 1 --quiet
    ts="$ts $(ms "$t")"
  done
  echo "np $p:$ts"
done

echo "== 4. the default job at np $P"
for k in 1 2 3; do
  for b in "$bin/evfarm" $old; do
    mpirun -np "$P" "$b" --quiet --json "$out/def.json"
    echo "$b: $(json "$out/def.json" wall_s t_lb_s efficiency)"
  done
done
