#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Regenerates the pinned vmlinux/<arch>/vmlinux.h from this kernel's BTF. The header is pinned in
# the repo on purpose (CO-RE relocates field offsets at load time on other kernels); regenerate it
# only to reach types a newer kernel added, and commit the result.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
case "$(uname -m)" in
  x86_64) arch=x86 ;;
  *) echo "gen-vmlinux.sh: no arch mapping for $(uname -m)" >&2; exit 1 ;;
esac
[ -r /sys/kernel/btf/vmlinux ] || { echo "gen-vmlinux.sh: this kernel has no BTF (/sys/kernel/btf/vmlinux)" >&2; exit 1; }
mkdir -p "$root/vmlinux/$arch"
tmp=$(mktemp "$root/vmlinux/$arch/.vmlinux.h.XXXXXX")
bpftool btf dump file /sys/kernel/btf/vmlinux format c > "$tmp"
mv "$tmp" "$root/vmlinux/$arch/vmlinux.h"
echo "wrote vmlinux/$arch/vmlinux.h from Linux $(uname -r)"
