#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main job: set everything up, then measure start-up latency (the paper's Table 3) of a VM,
# a full container, a single-application container and a native process, each run traced.
# Extra arguments go to `hypetrace startup` (e.g. --runs 10, --accel kvm).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
mkdir -p "$root/out"
exec "$root/build/hypetrace" startup --kvm --lxc --lxc-app --native --runs 5 --json "$root/out/startup.json" "$@"
