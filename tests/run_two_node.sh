#!/bin/bash
# A two-node Ray cluster on this machine for tests/test_ray.py, run inside a private network and pid
# namespace (unshare --net --pid --fork --mount-proc): head and worker (one CPU each, token auth) on the
# loopback device, the build CLI joining them by address, then both nodes stopped. Every step is
# bounded; whatever is left dies with the namespace.
# Usage: run_two_node.sh WORKDIR PORT SOURCE...   (PY: the project's python)
set -u
work=$1 port=$2
shift 2
py=${PY:-python}
bin=$(dirname "$py")
ip link set lo up
export RAY_AUTH_MODE=token RAY_USAGE_STATS_ENABLED=0
tmp=$(mktemp -d /tmp/ans-ray-XXXX)
trap 'rm -rf "$tmp"' EXIT
step() { echo "$1" >>"$work/steps"; }
timeout 180 "$bin/ray" start --head --port "$port" --num-cpus 1 --include-dashboard=false \
  --disable-usage-stats --temp-dir "$tmp" >"$work/head.log" 2>&1 || { step "head failed"; exit 3; }
step "head up"
timeout 180 "$bin/ray" start --address "127.0.0.1:$port" --num-cpus 1 >"$work/worker.log" 2>&1 \
  || { step "worker failed"; timeout 60 "$bin/ray" stop --force >/dev/null 2>&1; exit 4; }
step "worker up"
timeout 500 "$py" -m index.build --engine ray --ray-address "127.0.0.1:$port" --workers 2 --worker-cpus 1 \
  --no-cache --quiet --out "$work/ray" "$@" >"$work/build.log" 2>&1
echo $? >"$work/build.rc"
step "build done"
timeout 90 "$bin/ray" stop >"$work/stop.log" 2>&1
echo $? >"$work/stop.rc"
# What is still running in this namespace besides this script (should be nothing).
ps -eo pid=,comm= | awk -v me=$$ '$1 != me && $1 != 1 && $2 != "ps" && $2 != "awk"' >"$work/left.txt"
step "stopped"
