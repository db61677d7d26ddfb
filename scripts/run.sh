#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main job: set everything up, then reproduce the paper's start-up and memory results, each
# traced, reports and JSON in out/:
#   startup  Table 3: start-up latency of a VM, a full container, an app container, a process
#   memory   Figure 4: footprint per guest as 1, 2, 4, 8 guests are added, KSM on
#   devices  Table 2: memory saved by dropping video, audio and USB from a libvirt-default VM
#   dedup    Table 1: duplicate pages of a VM within itself, with the host, with a second VM
#   io       Figure 3's question: one fio job in a VM, a container and natively, the VM's host cost
#   density  Figures 1-3: a CPU benchmark, then fio's fileserver, in one guest while 1 or 2 per CPU
#            busy-loop, and why it slowed (density.svg, density-io.svg: the figures)
#   exitcost what each kind of VM exit costs (a firmware payload under KVM)
#   trace    a start-up of a VM and a container recorded with --trace, its CPU flame graph and
#            its timeline (out/trace/flamegraph-cpu.svg, out/trace/timeline.json)
# Extra arguments go to `hypetrace startup` (e.g. --runs 10, --accel kvm).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
out="$root/out"
mkdir -p "$out"
ht="$root/build/hypetrace"
"$ht" startup --kvm --lxc --lxc-app --native --runs 5 --json "$out/startup.json" "$@" | tee "$out/startup.txt"
"$ht" memory --kvm --lxc --lxc-app --count 1,2,4,8 --ksm on --json "$out/memory.json" --plot "$out/memory.svg" |
  tee "$out/memory.txt"
"$ht" devices --guests 3 --json "$out/devices.json" | tee "$out/devices.txt"
"$ht" dedup --kvm --ksm-check --json "$out/dedup.json" | tee "$out/dedup.txt"
"$ht" io --kvm --lxc --native --runtime 5 --json "$out/io.json" | tee "$out/io.txt"
"$ht" density --kvm --lxc --native --per-core 1,2 --runs 5 --json "$out/density.json" --plot "$out/density.svg" |
  tee "$out/density.txt"
"$ht" density --io --kvm --lxc --native --per-core 1,2 --runs 3 --json "$out/density-io.json" \
  --plot "$out/density-io.svg" | tee "$out/density-io.txt"
if [ -e /dev/kvm ]; then
  "$ht" exitcost --json "$out/exitcost.json" | tee "$out/exitcost.txt"
else  # some machines of this kind have no KVM at all; the nested lab has (scripts/test-nested.sh)
  echo "run: exitcost skipped: this host has no /dev/kvm (scripts/test-nested.sh runs it under nested AMD-V)" |
    tee "$out/exitcost.txt"
fi
rm -rf "$out/trace"
"$ht" startup --lxc --kvm --runs 2 --trace "$out/trace" >"$out/trace-startup.txt"
"$ht" flamegraph "$out/trace"
"$ht" timeline "$out/trace"
echo "run: reports in $out (startup, memory, devices, dedup, io, density, density-io, exitcost: .txt and .json;" \
  "memory.svg, density.svg, density-io.svg;" \
  "trace/: flamegraph-cpu.svg, timeline.json)"
