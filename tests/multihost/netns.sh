#!/usr/bin/env bash
# Fake hosts for multi-host tests: network namespaces joined by a bridge that lives in a
# namespace of its own, each host with its own address in 10.231.0.0/24 (reachable only inside
# these namespaces) and, through the launch agent, its own host name.
#
#   tests/multihost/netns.sh start DIR HOSTS   create HOSTS hosts h1..hN; DIR gets the state
#   tests/multihost/netns.sh stop DIR          delete every namespace DIR names
#   DIR/agent HOST CMD...                      run CMD on HOST (Open MPI's plm_rsh_agent)
#   DIR/on HOST CMD...                         run CMD (argv, no shell) on HOST
#
# Open MPI launches its daemons through DIR/agent; mpirun itself must start inside a host
# (DIR/on h1 mpirun ...), since the root namespace cannot reach them.
set -euo pipefail
cmd=${1:?usage: netns.sh start|stop DIR [HOSTS]}
dir=${2:?usage: netns.sh start|stop DIR [HOSTS]}
hosts=${3:-2}

stop() {
  [ -f "$dir/namespaces" ] || return 0
  while read -r ns; do
    # Processes left in a namespace keep it alive; end them first.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done < "$dir/namespaces"
  rm -f "$dir/namespaces"
}

start() {
  mkdir -p "$dir"
  local id
  id=$(printf '%04x' $((RANDOM % 65536)))
  local br="evf$id-br"
  : > "$dir/namespaces"
  ip netns add "$br"
  echo "$br" >> "$dir/namespaces"
  ip -n "$br" link add evfbr type bridge
  ip -n "$br" link set evfbr up
  for i in $(seq "$hosts"); do
    local ns="evf$id-h$i"
    ip netns add "$ns"
    echo "$ns" >> "$dir/namespaces"
    ip link add "ve$id$i" type veth peer name "vb$id$i"
    ip link set "ve$id$i" netns "$ns"
    ip link set "vb$id$i" netns "$br"
    ip -n "$br" link set "vb$id$i" master evfbr up
    ip -n "$ns" link set "ve$id$i" name eth0
    ip -n "$ns" addr add "10.231.0.$i/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
  done
  # Each host gets its own UTS namespace and host name for the command it runs.
  cat > "$dir/on" <<ON
#!/bin/sh
host=\$1; shift
exec ip netns exec "evf$id-\$host" unshare --uts sh -c 'hostname "\$0"; exec "\$@"' "\$host" "\$@"
ON
  # Open MPI's rsh launcher hands the agent a host and a command line for a shell.
  cat > "$dir/agent" <<AGENT
#!/bin/sh
host=\$1; shift
exec ip netns exec "evf$id-\$host" unshare --uts sh -c 'hostname "\$0"; shift; eval "\$*"' "\$host" sh "\$@"
AGENT
  chmod +x "$dir/on" "$dir/agent"
}

case "$cmd" in
  start) stop; start ;;
  stop) stop ;;
  *) echo "netns.sh: unknown command $cmd" >&2; exit 2 ;;
esac
