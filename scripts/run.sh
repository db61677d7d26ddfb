#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main job: set everything up, then reproduce the whole paper in one command,
# `hypetrace paper`: every experiment at the sizes that fit the budget (30 minutes by default),
# each traced, into out/paper/:
#   report.html  Tables 1-3, Figures 1-4 and section 3's guest kernels, ours beside the paper's,
#                each explained, and the differences from the paper generated from the data
#   NAME.json    each experiment's result (startup, memory, memory-copied, memory-kernels, dedup,
#                devices, density-quantum, density-chess, density-io, io, exitcost, trace), its
#                text report NAME.txt and its progress NAME.log
#   trace/       a traced start-up: flamegraph-cpu.svg, timeline.json
#   paper.json   the plan (which sizes the budget chose, and why) and how each step ended
# Arguments go to `hypetrace paper`: e.g. --budget 2h (or full), --dry-run (the plan only), or
# --resume after an interruption (the steps already done are kept). Without --resume an earlier
# run is kept as out/paper.previous.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
out="$root/out/paper"
resume=0
for a in "$@"; do [ "$a" = --resume ] && resume=1; done
if [ $resume = 0 ] && [ -e "$out" ]; then
  rm -rf "$out.previous"
  mv "$out" "$out.previous"
  echo "run: the earlier run is now in $out.previous"
fi
mkdir -p "$root/out"
"$root/build/hypetrace" paper -o "$out" "$@"
echo "run: the report is $out/report.html (each experiment's JSON and text beside it)"
