#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The nested lab: real hardware-style KVM on a host without VT-x/AMD-V. Boots the lab image
# (scripts/build-lab.sh: Debian 12's stock kernel, kvm_amd as a module, cgroup v2) under QEMU TCG,
# which emulates AMD-V with nested paging, shares this tree (read-only, at the same path), the
# guest images and an output directory with it over 9p, and runs a job inside; the lab powers
# itself off when the job ends. The default job is the nested suite (tests/nested/run-in-lab.sh):
# hypetrace's hardware exit path, cgroup v2 and a kernel without ksm:* tracepoints, each checked
# against perf kvm stat, bpftrace or smem on the same run.
# The lab's clock is the TSC: under TCG the default HPET is an emulated device, and every clock read
# by a tracer (BPF's or perf's) would cost microseconds and skew the times it measures.
# Usage: scripts/test-nested.sh [JOB]     (as root, after scripts/setup.sh; JOB relative to the tree)
#   HYPETRACE_LAB_OUT      where the job's output goes (default build/nested; emptied first)
#   HYPETRACE_LAB_TIMEOUT  seconds before the lab is stopped (default 1800)
#   HYPETRACE_LAB_FORCE=1  run even where the host has vmx/svm (otherwise skipped, exit 77)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "test-nested.sh: run as root (it boots a VM sharing this tree)" >&2; exit 1; }
job=${1:-tests/nested/run-in-lab.sh}
[ -f "$root/$job" ] || { echo "test-nested.sh: no job $job in $root" >&2; exit 2; }
[ -x "$root/build/hypetrace" ] || { echo "test-nested.sh: build/hypetrace missing: run scripts/setup.sh first" >&2; exit 2; }
if grep -qw -E 'vmx|svm' /proc/cpuinfo && [ -z "${HYPETRACE_LAB_FORCE:-}" ]; then
  echo "test-nested.sh: skipped: this host has $(grep -m1 -ow -E 'vmx|svm' /proc/cpuinfo), so the integration suite" \
    "runs the hardware exit path on it directly (HYPETRACE_LAB_FORCE=1 runs the lab anyway)"
  exit 77
fi
lab=${HYPETRACE_LAB_DIR:-/var/cache/hypetrace/lab}
images=${HYPETRACE_IMAGE_DIR:-/var/cache/hypetrace/images}
[ -f "$images/full.img" ] || { echo "test-nested.sh: guest images missing in $images: run scripts/setup.sh" >&2; exit 2; }
out=${HYPETRACE_LAB_OUT:-$root/build/nested}
timeout_s=${HYPETRACE_LAB_TIMEOUT:-1800}

"$root/scripts/build-lab.sh"
rm -rf "$out"
mkdir -p "$out"
echo "nested lab: booting (QEMU TCG, AMD-V emulated, 2 vCPUs, 4 GiB), job $job, output in $out"
start=$(date +%s)
qemu=(qemu-system-x86_64 -name hypetrace-lab -machine pc -accel tcg,thread=multi -cpu EPYC,+svm,+npt
  -smp 2 -m 4096 -nodefaults -no-user-config -display none -no-reboot
  -kernel "$lab/vmlinuz" -initrd "$lab/initrd.img"
  -append "root=/dev/vda rw console=ttyS0 quiet clocksource=tsc tsc=reliable hypetrace.src=$root hypetrace.job=$job"
  -drive "file=$lab/lab.img,if=virtio,format=raw,snapshot=on"
  -drive "file=$images/full.img,if=virtio,format=raw,readonly=on"
  -virtfs "local,path=$root,mount_tag=src,security_model=none,readonly=on"
  -virtfs "local,path=$images,mount_tag=images,security_model=none,readonly=on"
  -virtfs "local,path=$out,mount_tag=out,security_model=none"
  -serial "file:$out/console.log")
"${qemu[@]}" 2>"$out/qemu.err" &
pid=$!
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
trap 'stop; exit 130' INT TERM
trap stop EXIT
shown=0
while kill -0 "$pid" 2>/dev/null; do
  if [ $(( $(date +%s) - start )) -gt "$timeout_s" ]; then
    echo "test-nested.sh: the lab ran past ${timeout_s} s; stopped (console: $out/console.log)" >&2
    stop
    exit 1
  fi
  if [ -f "$out/job.log" ]; then  # the job's output as it comes
    n=$(wc -l <"$out/job.log")
    [ "$n" -gt "$shown" ] && sed -n "$((shown + 1)),${n}p" "$out/job.log"
    shown=$n
  fi
  sleep 2
done
wait "$pid" 2>/dev/null || true
trap - EXIT
[ -f "$out/job.log" ] && sed -n "$((shown + 1)),\$p" "$out/job.log"
elapsed=$(( $(date +%s) - start ))
if [ ! -f "$out/status" ]; then
  echo "test-nested.sh: the lab stopped without a job status after ${elapsed} s; last console lines:" >&2
  tail -n 15 "$out/console.log" >&2
  [ -s "$out/qemu.err" ] && tail -n 5 "$out/qemu.err" >&2
  exit 1
fi
status=$(cat "$out/status")
echo "nested lab: job exit status $status after ${elapsed} s (boot to job start: $(sed -n 's/^lab-boot-s: //p' "$out/job.log" 2>/dev/null || true))"
exit "$status"
