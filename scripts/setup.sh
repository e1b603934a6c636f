#!/usr/bin/env bash
# Set up evfarm on a Debian 12 machine: install the packages that are missing (as root, or
# through sudo), then configure and build.  Safe to run again: it installs nothing that is
# there and rebuilds only what changed.
#   usage: scripts/setup.sh [BUILD_DIR [extra cmake arguments]]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
shift || true

# What evfarm needs to build, run and test: Open MPI, libev (its static archive), CMake and a C
# compiler, Python for the test oracle, binutils for the static-link check, and Slurm with munge
# for the tests that start a local cluster (the daemons are not started by the install), and
# gnuplot for the scaling report's plot, iproute2 for the multi-host tests (network namespaces),
# clang for the test pass that checks the CPU phase is not folded away; libcurl and xxHash for the
# http kind, nginx and python3-xxhash for its tests (the server and the oracle), wrk,
# python3-aiohttp and GNU parallel for the benchmarks' peers; MPICH for the test pass that builds
# evfarm against a second MPI (Open MPI stays the default: Debian gives it the higher priority),
# man-db and bsdextrautils (col) to render the man pages, environment-modules to load the module
# file; OpenSSL's libcrypto (SHA-1), libdeflate and zlib for --warc, Node.js and npm for webrecorder's warcio
# (the tests' independent WARC reader, installed from npm into the build directory);
# python3-protego, Scrapy's robots.txt parser, the oracle of src/robots.c.
packages=(openmpi-bin libopenmpi-dev libev-dev cmake make gcc libc6-dev python3 binutils
  mpich libmpich-dev man-db bsdextrautils environment-modules
  slurmctld slurmd slurm-client munge gnuplot-nox iproute2 clang
  libcurl4-openssl-dev libxxhash-dev nginx-light python3-xxhash wrk python3-aiohttp curl parallel
  libssl-dev zlib1g-dev libdeflate-dev wget python3-protego)
# Node.js with npm: Debian's packages, unless a node with npm is there already (NodeSource's
# nodejs bundles npm, and Debian's npm package conflicts with it).
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  packages+=(nodejs npm)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null; then
    sudo=(sudo)
  else
    echo "setup: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Packages with daemons (nginx, munge, slurm) must not start them as system services: the
  # tests start their own, as ordinary processes.  policy-rc.d says so to the package scripts.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    trap '"${sudo[@]}" rm -f "$policy"' EXIT
  fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
# webrecorder's warcio, the tests' second WARC reader (a pinned version, from npm).
if [ ! -x "$build/node/node_modules/.bin/warcio" ]; then
  npm install --prefix "$build/node" --no-audit --no-fund --loglevel=error warcio@2.4.11 >/dev/null
fi
