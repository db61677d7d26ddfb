#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sets everything up, then runs the whole test suite: unit tests (no privileges) and integration
# tests (root: real BPF on this kernel, real QEMU, real LXC, bpftrace as a cross-check).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
# The nested lab's image (cached), built here rather than inside ctest's time limit for nested.lab;
# only where the lab runs: hosts without vmx/svm.
grep -qw -E 'vmx|svm' /proc/cpuinfo || "$root/scripts/build-lab.sh"
cd "$root/build"
exec ctest --output-on-failure --timeout 900 "$@"
