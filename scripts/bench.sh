#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Benchmarks with targets (issue 3), printed as figures, never asserted in unit tests:
#  - footprint accounting of 32 guests' processes (every process of 32 full containers plus
#    their LXC monitors, one smaps_rollup each): target under 1 s;
#  - hypetrace's own peak RSS during `hypetrace memory`: target under 50 MB.
# Usage: scripts/bench.sh [--guests N]      (as root; runs scripts/setup.sh first)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
guests=32
[ "${1:-}" = --guests ] && guests=$2
"$root/scripts/setup.sh" >/dev/null
mkdir -p "$root/out"
out="$root/out/bench-memory.txt"
echo "bench: hypetrace memory --lxc --count $guests --ksm off (about a minute)"
"$root/build/hypetrace" memory --lxc --count "$guests" --ksm off -q --json "$root/out/bench-memory.json" >"$out"
line=$(grep '^accounting:' "$out")
ms=$(sed -E 's/.*slowest reading ([0-9.]+) ms.*/\1/' <<<"$line")
procs=$(sed -E 's/.* for ([0-9]+) processes.*/\1/' <<<"$line")
rss=$(sed -E 's/.*peak RSS ([0-9.]+) MB.*/\1/' <<<"$line")
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v < t) ? "met" : "MISSED" }'; }
printf 'footprint accounting, %s guests (%s processes): %8.1f ms   target < 1000 ms: %s\n' \
  "$guests" "$procs" "$ms" "$(verdict "$ms" 1000)"
printf 'hypetrace peak RSS during memory:              %8.1f MB   target < 50 MB:    %s\n' \
  "$rss" "$(verdict "$rss" 50)"
echo "bench: full report in $out, JSON in $root/out/bench-memory.json"
