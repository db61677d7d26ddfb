#!/bin/sh
# SPDX-License-Identifier: MIT
# The nested suite, run inside the lab by scripts/test-nested.sh (the lab's hypetrace-lab unit runs
# it from the shared tree with HYPETRACE_LAB_OUT set): what the lab is, then
#  1. the nested tests (tests/nested): hypetrace against perf kvm stat on real AMD-V;
#  2. integration tests of the host suite that need what only the lab has: KVM with kvm_exit
#     firing (bpftrace cross-checks), a kvm module, cgroup v2 (containers found, smem PSS).
# Exit status: non-zero if any test failed.
set -u
echo "lab-boot-s: $(cut -d' ' -f1 /proc/uptime)"
echo "lab: Linux $(uname -r), $(nproc) vCPUs, $(free -m | awk '/^Mem:/ {print $2}') MiB," \
  "$(grep -m1 -o -w -E 'svm|vmx' /proc/cpuinfo || echo 'no svm'), /dev/kvm $( [ -e /dev/kvm ] && echo present || echo absent)," \
  "cgroup $(stat -fc %T /sys/fs/cgroup)"
root=$(pwd)
out=$HYPETRACE_LAB_OUT
# The containers' rootfs as a real directory, not the symlink the lab laid: liblxc resolves the
# rootfs without following symlinks and aborts the start on one.
img=/var/cache/hypetrace/images
if [ -L "$img/rootfs" ]; then rm "$img/rootfs" && mkdir "$img/rootfs" && mount --bind /lab/rootfs "$img/rootfs"; fi
"$root/build/hypetrace" host >"$out/host.txt" 2>&1
cat "$out/host.txt"
cd /tmp
# what runs, every 30 s, for a test that hangs (the host keeps $out/ps.log)
( while sleep 30; do
    { date +%T; ps -eo pid,ppid,stat,etime,wchan:24,args --sort=start_time | grep -v -E '\[|ps -eo|sleep 30' | tail -n 25; } >>"$out/ps.log"
  done ) &
watch=$!
status=0
t0=$(date +%s)
# each binary under a time limit: a test that hangs fails with what it printed, well before the
# host's limit for the whole lab
timeout -k 10 600 "$root/build/tests/ht_nested_tests" --gtest_output="json:$out/nested.json" || status=1
t1=$(date +%s)
echo "lab: nested tests took $((t1 - t0)) s"
timeout -k 10 900 "$root/build/tests/ht_integration_tests" --gtest_output="json:$out/integration.json" \
  --gtest_filter='Sources/KvmExits.*:Exitcost.ExitFlameGraphShowsQemuHandlingThePort:Guests.LxcFullContainerReachesMultiUser:Guests.LxcAppContainerRunsBash:Memory.PssSumsAgreeWithSmem' \
  || status=1
echo "lab: integration tests in the lab took $(( $(date +%s) - t1 )) s"
kill $watch 2>/dev/null
exit $status
