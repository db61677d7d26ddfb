#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sets everything up, then runs the whole test suite: unit tests (no privileges) and integration
# tests (root: real BPF on this kernel, real QEMU, real LXC, bpftrace as a cross-check).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
cd "$root/build"
exec ctest --output-on-failure --timeout 900 "$@"
