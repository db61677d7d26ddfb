#!/bin/sh
# SPDX-License-Identifier: MIT
# The nested suite, run inside the lab by scripts/test-nested.sh (the lab's hypetrace-lab unit runs
# it from the shared tree with HYPETRACE_LAB_OUT set): what the lab is, then
#  1. the nested tests (tests/nested): hypetrace against perf kvm stat on real AMD-V;
#  2. integration tests of the host suite that need what only the lab has: KVM with kvm_exit
#     firing (bpftrace cross-checks), a kvm module, cgroup v2 (containers found, smem PSS), a
#     kernel `criu check` passes on (containers checkpointed and restored).
# Each test runs as its own process under a time limit that ends before the host's budget for the
# lab (hypetrace.budget= on the kernel command line, seconds of lab uptime): a test that hangs is
# killed and named, with what ran at the time, and the others still run. A test whose nested guest's
# vCPU failed under TCG's emulated AMD-V (hypetrace says so) runs once more. The last lines are one
# line per test (PASS/FAIL/TIMEOUT and seconds). Exit status: non-zero if any test did not pass.
set -u
echo "lab-boot-s: $(cut -d' ' -f1 /proc/uptime)"
echo "lab: Linux $(uname -r), $(nproc) vCPUs, $(free -m | awk '/^Mem:/ {print $2}') MiB," \
  "$(grep -m1 -o -w -E 'svm|vmx' /proc/cpuinfo || echo 'no svm'), /dev/kvm $( [ -e /dev/kvm ] && echo present || echo absent)," \
  "cgroup $(stat -fc %T /sys/fs/cgroup)"
root=$(pwd)
out=$HYPETRACE_LAB_OUT
budget=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^hypetrace\.budget=//p' | tail -n1)
budget=${budget:-1500}
uptime_s() { cut -d. -f1 /proc/uptime; }
# The containers' rootfs as a real directory, not the symlink the lab laid: liblxc resolves the
# rootfs without following symlinks and aborts the start on one.
img=/var/cache/hypetrace/images
if [ -L "$img/rootfs" ]; then rm "$img/rootfs" && mkdir "$img/rootfs" && mount --bind /lab/rootfs "$img/rootfs"; fi
"$root/build/hypetrace" host --attach >"$out/host.txt" 2>&1
cat "$out/host.txt"
# the lab kernel's code symbols this boot, for the host's post-mortem of a lab that froze
grep -E ' [tT] ' /proc/kallsyms >"$out/kallsyms" 2>/dev/null
cd /tmp
snapshot() { date +%T; ps -eo pid,ppid,stat,etime,wchan:24,args --sort=start_time | grep -v -E '\[|ps -eo|sleep 30' | tail -n 25; }
# what runs, every 30 s, for a test that hangs (the host keeps $out/ps.log; its growth is also the
# host's sign that the lab is alive)
( while sleep 30; do snapshot >>"$out/ps.log"; done ) &
watch=$!
summary=$out/summary.txt
: >"$summary"
status=0
# run_tests BINARY LIMIT [FILTER]: each test of BINARY (matching FILTER) alone, at most LIMIT s,
# or less if the budget ends sooner.
run_tests() {
  bin=$1 limit=$2 filter=${3:-*}
  for t in $("$bin" --gtest_list_tests --gtest_filter="$filter" | awk '/^[^ ]/ {s=$1} /^  / {print s $1}'); do
    left=$(( budget - 30 - $(uptime_s) ))
    if [ "$left" -lt 20 ]; then
      echo "TIMEOUT $t 0 s (not run: the lab's budget of $budget s is spent)" >>"$summary"; status=1; continue
    fi
    [ "$left" -lt "$limit" ] && lim=$left || lim=$limit
    t0=$(uptime_s)
    base=$out/json/$(echo "$t" | tr / _)  # its gtest JSON and its output
    run_one() {
      timeout -k 10 "$lim" "$bin" --gtest_filter="$t" --gtest_output="json:$base.json" >"$base.log" 2>&1
      rc=$?
      cat "$base.log"
    }
    run_one
    retried=
    # TCG's emulated AMD-V now and then fails a nested guest's vCPU (QEMU: "KVM internal error",
    # register dump; seen in CI on 2026-12-04): hypetrace names it (QEMU stopped the VM ... could
    # not run its vCPU) and the test runs once more, said in the summary. Any other failure stands.
    if [ "$rc" != 0 ] && [ "$rc" != 124 ] && [ "$rc" != 137 ] && grep -q "could not run its vCPU" "$base.log" \
       && [ $(( budget - 30 - $(uptime_s) )) -ge 60 ]; then
      retried=" (passed on its second run: the first one's nested vCPU failed: $(grep -o -m1 'QEMU stopped the VM: "[^"]*"' "$base.log"))"
      echo "lab: $t: the nested guest's vCPU failed under TCG's AMD-V; running it once more"
      left=$(( budget - 30 - $(uptime_s) ))
      [ "$left" -lt "$lim" ] && lim=$left
      run_one
    fi
    took=$(( $(uptime_s) - t0 ))
    if [ "$rc" = 0 ]; then echo "PASS $t $took s$retried" >>"$summary"
    elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
      status=1
      echo "TIMEOUT $t $took s (limit $lim s)" >>"$summary"
      echo "lab: $t ran past its $lim s and was killed; what ran just before:"
      tail -n 26 "$out/ps.log" 2>/dev/null
      echo "lab: the kernel's last messages:"; dmesg | tail -n 15
    else
      status=1
      echo "FAIL $t $took s" >>"$summary"
      # what failed, in the summary too: CI keeps only the head and tail of a long output
      grep -A 6 -E ': Failure$' "$base.log" | head -n 30 | sed 's/^/    /' >>"$summary"
    fi
  done
}
mkdir -p "$out/json"
t0=$(uptime_s)  # not date: the lab's wall clock may be set while the tests run
run_tests "$root/build/tests/ht_nested_tests" 600
t1=$(uptime_s)
echo "lab: nested tests took $((t1 - t0)) s"
run_tests "$root/build/tests/ht_integration_tests" 300 \
  'Sources/KvmExits.*:Exitcost.ExitFlameGraphShowsQemuHandlingThePort:Guests.LxcFullContainerReachesMultiUser:Guests.LxcAppContainerRunsBash:Memory.PssSumsAgreeWithSmem:Restore.Containers*'
# faults in exitcost (issue 13): it needs /dev/kvm, which only the lab has
export HT_FAULT_ONLY=exitcost
run_tests "$root/build/tests/ht_integration_tests" 300 'Faults.*'
unset HT_FAULT_ONLY
echo "lab: integration tests in the lab took $(( $(uptime_s) - t1 )) s"
kill $watch 2>/dev/null
echo "lab: tests, outcome and wall time (budget $budget s of lab uptime, now at $(uptime_s) s):"
sed 's/^/  /' "$summary"
exit $status
