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
#   HYPETRACE_LAB_TIMEOUT  seconds for the whole run, a second boot included (default 1500)
#   HYPETRACE_LAB_FROZEN   seconds without a sign of life from the job before the lab counts as
#                          frozen (default 240): stopped, explained, booted once more if time is left
#   HYPETRACE_LAB_VCPUS    the lab's vCPUs (default 1; see below)
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
timeout_s=${HYPETRACE_LAB_TIMEOUT:-1500}
# vCPUs of the lab. With two (TCG's MTTCG, a host thread each) the lab was seen to stop making
# progress while a tracer attached its probes: one vCPU in exc_int3 and __schedule, the other
# spinning in native_queued_spin_lock_slowpath (the kernel patching its own text with int3 while
# the other vCPU runs it). Two vCPUs on one host thread (thread=single) make a nested guest's
# boot 15 times slower (HLT exits of 1 ms). One vCPU has frozen too, once: halted, with no
# timer wake-up. The freeze detection below catches either.
vcpus=${HYPETRACE_LAB_VCPUS:-1}

"$root/scripts/build-lab.sh"
rm -rf "$out"
mkdir -p "$out"
t_begin=$(date +%s)
pid=
mon=$(mktemp -u /tmp/hypetrace-lab-monitor.XXXXXX)  # QEMU's monitor, for the post-mortem
stop() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; pid=; }
trap 'stop; exit 130' INT TERM
trap 'stop; rm -f "$mon"' EXIT
# What the lab was doing, for a run that did not end by itself: the last process snapshot the job
# logged, the job's last lines, the lab kernel's last console lines.
post_mortem() {
  if [ -S "$mon" ]; then
    echo "--- where the lab's vCPUs are (QEMU's monitor, 3 looks 1 s apart):"
    /usr/bin/python3 "$root/scripts/lab-cpus.py" "$mon" "$out/kallsyms" 2>&1 | head -n 5
  fi
  if [ -s "$out/ps.log" ]; then
    echo "--- the lab's processes at its last snapshot ($out/ps.log):"
    awk '/^[0-9][0-9]:[0-9][0-9]:[0-9][0-9]$/ {n = 0} {b[n++] = $0} END {for (i = 0; i < n; i++) print b[i]}' "$out/ps.log" | cut -c1-220
  fi
  [ -f "$out/job.log" ] && { echo "--- the job's last lines:"; tail -n 8 "$out/job.log"; }
  echo "--- the lab's console, last lines:"
  tail -n 15 "$out/console.log" 2>/dev/null
  grep -v "warning: TCG doesn't support" "$out/qemu.err" 2>/dev/null | tail -n 5 | sed "s/^/QEMU: /"
  echo "---"
}
# boot_lab BUDGET: one boot of the lab running the job; streams the job's output. Returns 0 when
# the job left its status, 2 when the lab froze (its job logs a process snapshot every 30 s, in
# $out/ps.log; neither it nor the job's output growing for $frozen_s s means the emulated machine stopped making progress), 3 when the
# budget ran out, 4 when the lab stopped without a status.
frozen_s=${HYPETRACE_LAB_FROZEN:-240}
boot_lab() {
  local budget=$1 start shown=0 n now last
  rm -rf "${out:?}"/*
  start=$(date +%s)
  local qemu=(qemu-system-x86_64 -name hypetrace-lab -machine pc -accel tcg,thread=multi -cpu EPYC,+svm,+npt
    -smp "$vcpus" -m 4096 -nodefaults -no-user-config -display none -no-reboot
    -kernel "$lab/vmlinuz" -initrd "$lab/initrd.img"
    -append "root=/dev/vda rw console=ttyS0 quiet clocksource=tsc tsc=reliable hypetrace.src=$root hypetrace.job=$job hypetrace.budget=$((budget - 30))"
    -drive "file=$lab/lab.img,if=virtio,format=raw,snapshot=on"
    -drive "file=$images/full.img,if=virtio,format=raw,readonly=on"
    -virtfs "local,path=$root,mount_tag=src,security_model=none,readonly=on"
    -virtfs "local,path=$images,mount_tag=images,security_model=none,readonly=on"
    -virtfs "local,path=$out,mount_tag=out,security_model=none"
    -serial "file:$out/console.log" -monitor "unix:$mon,server=on,wait=off")
  "${qemu[@]}" 2>"$out/qemu.err" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    now=$(date +%s)
    if [ $((now - start)) -gt "$budget" ]; then
      echo "test-nested.sh: the lab ran past its ${budget} s; stopped" >&2
      post_mortem; stop; return 3
    fi
    if [ -f "$out/job.log" ]; then  # the job's output as it comes
      n=$(wc -l <"$out/job.log")
      [ "$n" -gt "$shown" ] && sed -n "$((shown + 1)),${n}p" "$out/job.log"
      shown=$n
    fi
    if [ -f "$out/job.log" ] && [ ! -f "$out/status" ]; then
      last=$(stat -c %Y "$out/job.log")
      [ -f "$out/ps.log" ] && [ "$(stat -c %Y "$out/ps.log")" -gt "$last" ] && last=$(stat -c %Y "$out/ps.log")
      if [ $((now - last)) -gt "$frozen_s" ]; then
        echo "test-nested.sh: the lab froze: no sign of life for $((now - last)) s, $((now - start)) s after boot; stopped" >&2
        post_mortem; stop; return 2
      fi
    fi
    sleep 2
  done
  wait "$pid" 2>/dev/null || true
  pid=
  [ -f "$out/job.log" ] && sed -n "$((shown + 1)),\$p" "$out/job.log"
  if [ ! -f "$out/status" ]; then
    echo "test-nested.sh: the lab stopped without a job status after $(( $(date +%s) - start )) s" >&2
    post_mortem; return 4
  fi
  echo "nested lab: job exit status $(cat "$out/status") after $(( $(date +%s) - start )) s (boot to job start: $(sed -n 's/^lab-boot-s: //p' "$out/job.log" 2>/dev/null || true))"
  return 0
}
# A lab that froze is booted once more with the time left (the emulator stopped, not a test
# failed: a test that hangs is killed and named by the job itself, and the lab stays alive).
for attempt in 1 2; do
  left=$((timeout_s - ($(date +%s) - t_begin)))
  echo "nested lab: booting (QEMU TCG, AMD-V emulated, $vcpus vCPU(s), 4 GiB), job $job, budget ${left} s, output in $out"
  rc=0
  boot_lab "$left" || rc=$?
  [ "$rc" = 0 ] && exit "$(cat "$out/status")"
  [ "$rc" = 2 ] && [ "$attempt" = 1 ] && [ $((timeout_s - ($(date +%s) - t_begin))) -ge 600 ] || exit 1
  echo "nested lab: booting it once more"
done
exit 1
