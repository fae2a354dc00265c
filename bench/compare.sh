#!/usr/bin/env bash
# Arbor vs etcd vs ZooKeeper on this machine: 3-member clusters of each on loopback, default
# durability, same workloads, one side-by-side table (see docs/performance.md).
#   bench/compare.sh [--duration 10s] [--systems arbor,arbor-unary,etcd,zookeeper] [--rows ...] [--json]
# The Node tool (src/bench/compare.ts) starts, kills and removes every cluster itself (temp dirs,
# free ports), also on failure or Ctrl-C; this script only installs the servers and builds.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v etcd >/dev/null || [ ! -e /usr/share/java/zookeeper.jar ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends etcd-server zookeeper
fi
# Debian enables the packaged services; the benchmark runs its own members on free ports.
npm run build >/dev/null

node dist/bench/compare.js "$@" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' INT TERM
wait $pid
