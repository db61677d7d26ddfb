#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The exitcost benchmark (issues 5, 18), run by `scripts/bench.sh exitcost`: on a host with /dev/kvm
# directly, elsewhere inside the nested lab (scripts/test-nested.sh runs this file as its job, with
# HYPETRACE_LAB_OUT set), where KVM runs on AMD-V emulated by TCG and kvm:kvm_exit fires.
# The exitcost payload without its hlt phase (HLTs wait for timer ticks, which no tracer slows
# down), interleaved rounds of six arms, each a new hypetrace and QEMU:
#   bare          nothing attached (--no-trace)
#   floor         hypetrace's programs attached, returning at once (--attach-only): what the
#                 tracepoints cost by themselves, which no program body can go below
#   hypetrace     the default: every exit counted by reason, port and address, KVM_RUN timed
#   floor-detail  --attach-only --detail: the floor of the set --detail attaches (kvm_entry, kvm_fpu too)
#   detail        --detail: each exit's time in KVM and KVM_RUN's entry work timed too
#   bpftrace      bpftrace counting the same events (the peer), KVM_RUN timed per thread
# Prints seconds per run (medians), each arm's slowdown against bare with a bootstrap 95 % interval,
# the points each traced arm costs beyond its floor (target: within 1 point for the default) and
# ns per exit, and the machine it ran on; then, from one more run of each arm with the kernel's BPF
# statistics on, the programs' own time per exit in points of an exit's time (the figure that holds
# where the wall time varies by more than a tracer costs).
# In the lab it prints a line per arm (a job silent for 240 s counts as frozen) and starts no round
# the lab's budget (hypetrace.budget=) cannot hold: the rounds done are analysed.
# Usage: scripts/bench-exitcost.sh [OUTDIR]   (as root, after scripts/setup.sh; OUTDIR default
#        out/bench-exitcost, or $HYPETRACE_LAB_OUT/bench-exitcost in the lab)
# the lab runs its job with sh
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ht="$root/build/hypetrace"
budget=0  # seconds of lab uptime the job may use (0: no limit)
if [ -n "${HYPETRACE_LAB:-}" ]; then
  dir=${1:-${HYPETRACE_LAB_OUT:?the lab sets HYPETRACE_LAB_OUT}/bench-exitcost}
  budget=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^hypetrace\.budget=//p' | tail -n1)
  budget=${budget:-0}
  # each exit costs 50-130 us under the lab's TCG: fewer operations for the same rounds
  rounds=${HT_BENCH_ROUNDS:-6} runs=3 ops=2000 sectors=20
else
  dir=${1:-$root/out/bench-exitcost}
  rounds=${HT_BENCH_ROUNDS:-8} runs=4 ops=20000 sectors=200
fi
[ "$(id -u)" = 0 ] || { echo "bench-exitcost.sh: run as root (it loads BPF programs and starts QEMU under KVM)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench-exitcost.sh: python3 is missing (it analyses the runs): apt-get install python3" >&2; exit 2; }
[ -w /dev/kvm ] || { echo "bench-exitcost.sh: /dev/kvm is missing: run scripts/bench.sh exitcost, which boots the nested lab where the host has no VT-x/AMD-V" >&2; exit 2; }
args=(--runs "$runs" --ops "$ops" --sectors "$sectors" --hlts 0 -q)
rm -rf "$dir"; mkdir -p "$dir"
echo "bench: exitcost payload ($ops operations per phase, $sectors sectors, no HLTs), $rounds rounds of $runs runs in each of six arms: nothing attached, the floor, hypetrace, the floor of --detail, hypetrace --detail, bpftrace (interleaved)"
# start_bpftrace OUT: the peer, counting what hypetrace counts (and timing KVM_RUN per thread), in
# the background ($bt), once it has attached; its output in OUT
start_bpftrace() {
  bpftrace -e '
    tracepoint:kvm:kvm_pio { @pio[args->port, args->rw] = count(); }
    tracepoint:kvm:kvm_mmio { @mmio[args->gpa, args->type] = count(); }
    tracepoint:kvm:kvm_userspace_exit { @uexit[args->reason] = count(); }
    tracepoint:kvm:kvm_exit { @exit[args->exit_reason] = count(); }
    tracepoint:raw_syscalls:sys_enter /args->id == 16 && args->args[1] == 0xAE80/ { @start[tid] = nsecs; }
    tracepoint:raw_syscalls:sys_exit /@start[tid]/ { @run_ns = hist(nsecs - @start[tid]); delete(@start[tid]); }' \
    >"$1" 2>&1 &
  bt=$!
  for _ in $(seq 1200); do grep -q Attaching "$1" 2>/dev/null && break; sleep 0.1; done
  if ! grep -q Attaching "$1"; then
    kill -INT "$bt" 2>/dev/null || true; wait "$bt" 2>/dev/null || true
    echo "bench-exitcost.sh: bpftrace did not attach within 120 s: $(tail -n 3 "$1")" >&2
    exit 1
  fi
  sleep 0.2
}
start=$(date +%s)
uptime_s() { cut -d. -f1 /proc/uptime; }
# arm NAME ARGS...: one hypetrace exitcost run of the round, and a line (the lab counts a job that
# prints nothing for 240 s as frozen)
arm() {
  local name=$1; shift
  "$ht" exitcost "$@" "${args[@]}" --json "$dir/$name-$r.json" >/dev/null
  echo "bench: round $r: $name done ($(( $(date +%s) - start )) s)"
}
done_rounds=0
for r in $(seq "$rounds"); do
  # in the lab, a round not started unless it fits what is left of the budget (the one before's time, and a margin)
  if [ "$budget" -gt 0 ] && [ "$done_rounds" -gt 0 ]; then
    per=$(( ($(date +%s) - start) / done_rounds ))
    if [ $(( $(uptime_s) + per + 60 )) -gt "$budget" ]; then
      echo "bench: the lab's budget ($budget s) leaves no room for round $r: analysing $done_rounds rounds"
      break
    fi
  fi
  arm bare --no-trace
  arm floor --attach-only
  arm hypetrace
  arm floor-detail --attach-only --detail
  arm detail --detail
  bt_out="$dir/bpftrace-$r.txt"
  start_bpftrace "$bt_out"
  arm bpftrace --no-trace
  kill -INT "$bt" 2>/dev/null || true; wait "$bt" 2>/dev/null || true
  done_rounds=$r
  now=$(date +%s)
  echo "bench: round $r of $rounds done, $((now - start)) s; about $(( (now - start) * (rounds - r) / r )) s left"
done
[ "$done_rounds" -ge 2 ] || { echo "bench-exitcost.sh: fewer than 2 rounds ran: nothing to compare" >&2; exit 1; }

# The programs' own time, which the wall time cannot resolve where it varies by more than a tracer
# costs (the lab's TCG: runs vary by a fifth): the kernel's BPF statistics (kernel.bpf_stats_enabled,
# on only for these runs and restored on every exit), summed over the tracer's program fds
# (/proc/PID/fdinfo: run_time_ns, run_cnt), read every 50 ms while it runs, the last reading kept.
stats_was=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || true)
restore_stats() { if [ -n "$stats_was" ]; then sysctl -q -w kernel.bpf_stats_enabled="$stats_was" >/dev/null 2>&1 || true; fi; }
trap restore_stats EXIT
trap 'restore_stats; exit 130' INT TERM
if [ -n "$stats_was" ] && sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null 2>&1; then
  # (awk exits 2 when an fd closed under it: the sums it printed stand)
  prog_time() { awk '/^run_time_ns:/ {t += $2} /^run_cnt:/ {c += $2} END {print t + 0, c + 0}' /proc/"$1"/fdinfo/* 2>/dev/null || true; }
  # progs NAME ARGS...: one hypetrace exitcost run, its programs' time read while it runs
  progs() {
    local name=$1 pid seen; shift
    "$ht" exitcost "$@" "${args[@]}" --json "$dir/progs-$name.json" >/dev/null &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
      seen=$(prog_time "$pid")
      case "$seen" in *" "[1-9]*) echo "$seen" >"$dir/progs-$name.txt" ;; esac
      sleep 0.05
    done
    wait "$pid"
    echo "bench: programs' own time: $name done"
  }
  progs floor --attach-only
  progs hypetrace
  progs floor-detail --attach-only --detail
  progs detail --detail
  start_bpftrace "$dir/progs-bpftrace.out"
  "$ht" exitcost --no-trace "${args[@]}" --json "$dir/progs-bpftrace.json" >/dev/null
  prog_time "$bt" >"$dir/progs-bpftrace.txt"  # bpftrace holds its programs until stopped: an exact reading
  kill -INT "$bt" 2>/dev/null || true; wait "$bt" 2>/dev/null || true
  restore_stats
else
  echo "bench: the programs' own time not read: kernel.bpf_stats_enabled cannot be set here"
fi
python3 - "$dir" <<'PY'
import glob, json, random, statistics, sys
d = sys.argv[1]
def walls(mode):
    w = []
    for f in sorted(glob.glob(f"{d}/{mode}-[0-9]*.json")):
        w += json.load(open(f))["run_wall_s"]
    return w
t = json.load(open(sorted(glob.glob(f"{d}/hypetrace-[0-9]*.json"))[0]))
h = t["host"]
fired = t["kvm_exit_fired"]
# exits per run: every VM exit kvm_exit counted where it fires (VT-x/AMD-V), else every port I/O and
# MMIO access the payload made (PVM: exits are seen where they leave KVM)
if fired:
    exits = sum(e["count"] for ph in t["all_phases"] for e in ph["kvm_exits"]) / t["runs"]
else:
    exits = sum(e["count"] for ph in t["all_phases"] for k in ("pio", "mmio") for e in ph[k]) / t["runs"]
if exits <= 0:
    sys.exit("bench-exitcost.sh: hypetrace counted no exit: nothing to divide by")
to_qemu = sum(e["count"] for ph in t["all_phases"] for e in ph["exits_to_qemu"]) / t["runs"]
print(f"machine: {h['cpu']} x{h['cpus']}, Linux {h['kernel']}, {h['os']}, "
      f"{'VT-x/AMD-V: ' + h['virt_extensions'] if h['virt_extensions'] else 'no VT-x/AMD-V (PVM)'}"
      f"{' (the nested lab: AMD-V emulated by QEMU TCG)' if h['hostname'] == 'hypetrace-lab' else ''}")
modes = (("bare", "nothing attached"), ("floor", "floor (--attach-only)"), ("hypetrace", "hypetrace"),
         ("floor-detail", "floor of --detail"), ("detail", "hypetrace --detail"), ("bpftrace", "bpftrace"))
rows = {}
for mode, _ in modes:
    w = walls(mode)
    rows[mode] = (statistics.median(w), statistics.stdev(w) if len(w) > 1 else 0.0, len(w), w)
bare = rows["bare"][0]
# 95 % intervals by bootstrap (runs resampled, fixed seed): a slowdown against bare, and the points
# an arm costs beyond another (its floor)
rng = random.Random(1)
def med(xs): return statistics.median(rng.choices(xs, k=len(xs)))
def interval(mode, base="bare"):
    b, m, z = rows[base][3], rows[mode][3], rows["bare"][3]
    v = []
    for _ in range(2000):
        mb, mm = med(b), med(m)
        mz = mb if base == "bare" else med(z)
        v.append((mm - mb) / mz * 100)
    v.sort()
    return v[50], v[1949]
print(f"payload: {exits:.0f} exits per run ({to_qemu:.0f} of them to QEMU); median seconds per run, {rows['bare'][2]} runs per arm")
for mode, label in modes:
    m, sd, n, _ = rows[mode]
    line = f"{label:22s} {m:8.4f} s/run (sd {sd:.4f})  {exits / m:9.0f} exits/s"
    if mode != "bare":
        lo, hi = interval(mode)
        line += f"  slowdown {100 * (m / bare - 1):+5.2f} % [{lo:+.2f}, {hi:+.2f}]"
    print(line)
def verdict(pts, target):
    return "" if target is None else f"   target within {target} point: {'met' if pts <= target else 'MISSED'}"
def beyond(mode, floor, target=None):
    pts = (rows[mode][0] - rows[floor][0]) / bare * 100
    lo, hi = interval(mode, floor)
    ns = (rows[mode][0] - rows[floor][0]) / exits * 1e9
    print(f"{mode} beyond {floor}: {pts:+.2f} points [{lo:+.2f}, {hi:+.2f}], {ns:+.0f} ns per exit" + verdict(pts, target))
beyond("hypetrace", "floor", 1)
beyond("detail", "floor-detail")
beyond("detail", "hypetrace")
beyond("bpftrace", "bare")
per_exit = lambda mode: (rows[mode][0] - bare) / exits * 1e9
print(f"per exit against bare: the floor {per_exit('floor'):.0f} ns, hypetrace {per_exit('hypetrace'):.0f} ns, "
      f"the floor of --detail {per_exit('floor-detail'):.0f} ns, --detail {per_exit('detail'):.0f} ns, "
      f"bpftrace {per_exit('bpftrace'):.0f} ns (median differences / exits per run)")
bt_cost, ht_cost = rows["bpftrace"][0] - bare, rows["hypetrace"][0] - rows["floor"][0]
if bt_cost > 0:
    print(f"hypetrace beyond its floor / bpftrace beyond bare: {ht_cost / bt_cost:.2f}")
# The programs' own time per exit (BPF statistics, one run of each arm), in points of an exit's time
# with nothing attached: what each tracer's bodies cost, which no wall-time noise hides.
import os
progs = {}
for mode in ("floor", "hypetrace", "floor-detail", "detail", "bpftrace"):
    f = f"{d}/progs-{mode}.txt"
    if os.path.exists(f):
        t_ns, runs = map(int, open(f).read().split())
        progs[mode] = (t_ns, runs)
if progs:
    exit_ns = bare / exits * 1e9
    n_exits = exits * t["runs"]
    print(f"the programs' own time (BPF statistics; {t['runs']} runs, {n_exits:.0f} exits; an exit takes {exit_ns:.0f} ns with nothing attached):")
    for mode, label in modes[1:]:
        if mode not in progs:
            continue
        t_ns, runs = progs[mode]
        print(f"  {label:22s} {t_ns / n_exits:8.0f} ns per exit ({runs / n_exits:.2f} program runs per exit, "
              f"{t_ns / max(runs, 1):.0f} ns each) = {t_ns / n_exits / exit_ns * 100:5.2f} points")
    def own_beyond(mode, floor, target=None):
        if mode in progs and floor in progs:
            ns = (progs[mode][0] - progs[floor][0]) / n_exits
            pts = ns / exit_ns * 100
            print(f"  {mode} beyond {floor}: {pts:+.2f} points ({ns:+.0f} ns per exit)" + verdict(pts, target))
    own_beyond("hypetrace", "floor", 1)
    own_beyond("detail", "floor-detail")
    own_beyond("detail", "hypetrace")
    if "bpftrace" in progs and "hypetrace" in progs and "floor" in progs and progs["bpftrace"][0] > 0:
        print(f"  hypetrace beyond its floor / bpftrace's programs: "
              f"{(progs['hypetrace'][0] - progs['floor'][0]) / progs['bpftrace'][0]:.2f}")
PY
