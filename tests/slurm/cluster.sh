#!/usr/bin/env bash
# A throw-away Slurm cluster on this machine for evfarm's tests: munged, slurmctld and one or
# more slurmd ("nodes" n1, n2, ... all on 127.0.0.1), every path under one directory, no systemd.
#
#   tests/slurm/cluster.sh start DIR [NODES] [CPUS]   start, wait until every node is idle
#   tests/slurm/cluster.sh stop DIR                   stop every daemon (SIGTERM, then SIGKILL)
#   tests/slurm/cluster.sh env DIR                    print the environment to use the cluster
#
# Facts this relies on (Debian 12, Slurm 22.05, munge 0.5.15, as root): munged refuses default
# paths as root ("Logfile is insecure"), so every munge path lives in a private directory of
# mode 0711; Slurm finds munged through AuthInfo=socket=...; CPUs beyond the real cores need
# SlurmdParameters=config_overrides; a slurmd that cannot register ignores SIGTERM for 15-20 s.
set -euo pipefail

cmd=${1:?usage: cluster.sh start|stop|env DIR [NODES] [CPUS]}
dir=${2:?usage: cluster.sh start|stop|env DIR [NODES] [CPUS]}
nodes=${3:-1}
cpus=${4:-4}
# Ports: a base per cluster directory, so two suites on one machine do not collide.
base=$((20000 + $(printf '%s' "$dir" | cksum | cut -d' ' -f1) % 20000))

print_env() {
  echo "export SLURM_CONF=$dir/etc/slurm.conf"
}

stop() {
  local pids=()
  for f in "$dir"/run/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill -0 "$pid" 2>/dev/null && pids+=("$pid") && kill -TERM "$pid" 2>/dev/null || true
  done
  # Escalate after 5 s: a slurmd that never registered ignores SIGTERM for much longer.
  for _ in $(seq 50); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -f "$dir"/run/*.pid
}

start() {
  mkdir -p "$dir"/{etc,state,log,run,spool,tmp} "$dir/munge"
  chmod 0711 "$dir/munge"
  local m=$dir/munge
  [ -f "$m/munge.key" ] || { dd if=/dev/urandom of="$m/munge.key" bs=1024 count=1 status=none; }
  chmod 0400 "$m/munge.key"
  # Start each daemon as a simple command, so $! is the daemon itself; they fork into the
  # background themselves and write their pid files.
  munged --key-file="$m/munge.key" --socket="$m/munge.socket" --log-file="$m/munged.log" \
    --pid-file="$dir/run/munged.pid" --seed-file="$m/munged.seed" --force
  for _ in $(seq 50); do [ -S "$m/munge.socket" ] && break; sleep 0.1; done

  local host
  host=$(hostname -s)
  {
    echo "ClusterName=evftest"
    echo "SlurmctldHost=$host(127.0.0.1)"
    echo "SlurmctldPort=$base"
    echo "SlurmdPort=$((base + 1))"
    echo "AuthType=auth/munge"
    echo "CredType=cred/munge"
    echo "AuthInfo=socket=$m/munge.socket"
    echo "SlurmUser=root"
    echo "SlurmdUser=root"
    echo "StateSaveLocation=$dir/state"
    echo "SlurmdSpoolDir=$dir/spool/%n"
    echo "TmpFS=$dir/tmp/%n"
    echo "SlurmctldPidFile=$dir/run/slurmctld.pid"
    echo "SlurmdPidFile=$dir/run/slurmd-%n.pid"
    echo "SlurmctldLogFile=$dir/log/slurmctld.log"
    echo "SlurmdLogFile=$dir/log/slurmd-%n.log"
    echo "ProctrackType=proctrack/linuxproc"
    echo "TaskPlugin=task/none"
    echo "SelectType=select/cons_tres"
    echo "SelectTypeParameters=CR_CPU"
    echo "JobAcctGatherType=jobacct_gather/none"
    echo "AccountingStorageType=accounting_storage/none"
    echo "JobCompType=jobcomp/none"
    echo "MpiDefault=pmix"
    echo "MailProg=/bin/true"
    echo "ReturnToService=2"
    echo "SlurmdParameters=config_overrides"
    echo "SchedulerParameters=sched_interval=1"
    echo "InactiveLimit=0"
    echo "KillWait=2"
    for i in $(seq "$nodes"); do
      echo "NodeName=n$i NodeAddr=127.0.0.1 NodeHostname=$host Port=$((base + 1 + i)) CPUs=$cpus State=UNKNOWN"
      mkdir -p "$dir/spool/n$i" "$dir/tmp/n$i"
    done
    echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO"
  } > "$dir/etc/slurm.conf"
  export SLURM_CONF=$dir/etc/slurm.conf

  slurmctld -i
  for i in $(seq "$nodes"); do
    slurmd -N "n$i"
  done
  # Wait until every node is idle.
  for _ in $(seq 300); do
    idle=$(sinfo -h -N -o '%N %t' 2>/dev/null | grep -c ' idle$' || true)
    [ "$idle" = "$nodes" ] && return 0
    sleep 0.1
  done
  echo "cluster.sh: nodes not idle after 30 s:" >&2
  sinfo -N >&2 || true
  tail -20 "$dir"/log/*.log >&2 || true
  return 1
}

case "$cmd" in
  start) stop; start ;;
  stop) stop ;;
  env) print_env ;;
  *) echo "cluster.sh: unknown command $cmd" >&2; exit 2 ;;
esac
