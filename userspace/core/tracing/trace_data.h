// SPDX-License-Identifier: MIT
// What the tracer hands to experiments: plain C++ values, no libbpf types, so experiments and
// their unit tests never depend on BPF. Kinds mirror bpf/hypetrace.h (checked there by static_assert).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ht {

enum class EventType : uint32_t { exec = 1, fork = 2, exit = 3, kvm_run_first = 4, rename = 5, ksm_scan = 6, phase = 7 };

struct ProcEvent {
    EventType type{};
    uint64_t ts_ns = 0;
    uint32_t guest = 0;
    uint32_t pid = 0, tgid = 0, ppid = 0, aux = 0;
    std::string comm, path;
};

enum class CounterKind : uint32_t {
    fault_user = 1,
    fault_kernel = 2,
    exec = 3,
    fork = 4,
    exit = 5,
    kvm_exit = 6,
    kvm_exit_ns = 7,
    kvm_user_exit = 8,
    kvm_pio = 9,
    kvm_mmio = 10,
    kvm_run = 11,
    kvm_run_ns = 12,
    kvm_run_log2 = 13,
    ksm_merge = 15,  // ksmd merged one of the guest's pages
    kvm_run_entry_ns = 16,  // KVM_RUN's entry work: ioctl to the guest's FPU state loaded (opt-in)
    // The shortest and longest KVM_RUN of the (guest, bucket, phase): values to take the min or
    // max of, never to add up. Made by userspace from the kernel's run records.
    kvm_run_min_ns = 17,
    kvm_run_max_ns = 18,
    // The scheduler (TracerOptions::sched), per guest over its threads; core/tracing/sched_summary
    // sums them over a window.
    sched_runq_ns = 19,     // ns runnable but not running: woken (or switched out still runnable) to switched in
    sched_runq_log2 = 20,   // those waits, sub = floor(log2(ns))
    sched_oncpu_ns = 21,    // ns on a CPU: switched in to switched out
    sched_preempted = 22,   // involuntary switch-outs, sub = the next task's guest << 32 | its tgid
                            // (guest 0: a host process; tgid 0: the CPU's idle task)
    sched_switch_vol = 23,  // voluntary switch-outs (blocked: sleep, I/O, exit)
    sched_migrate = 24,     // migrations to another CPU
};

// at = the smaller of at and v, where 0 means "none yet" in either (kvm_run_min_ns values).
inline void keep_min(uint64_t& at, uint64_t v) {
    if (v && (!at || v < at)) at = v;
}

// One full KSM scan, from ksm:ksm_stop_scan: what ksmd merged (over all processes) while it ran.
struct KsmScan {
    uint64_t ts_ns = 0;       // end of the scan
    uint32_t seq = 0;         // ksmd's full-scan number (/sys/kernel/mm/ksm/full_scans counts them too)
    uint32_t rmap_items = 0;  // pages ksmd tracks
    uint32_t merges = 0;      // successful merges during the scan
    uint32_t errors = 0;      // failed merge attempts during it
};

struct CounterSample {
    uint32_t guest = 0;
    uint32_t bucket = 0;
    CounterKind kind{};
    uint64_t sub = 0;
    uint64_t value = 0;
    uint32_t phase = 0;  // the guest's phase when counted (Tracer::set_phase_port), else 0
};

// Everything one traced run produced.
struct RunTrace {
    uint64_t origin_ns = 0;  // bucket 0 starts here
    uint64_t bucket_ns = 1'000'000;
    std::vector<ProcEvent> events;
    std::vector<CounterSample> counters;
    uint64_t lost_counts = 0, lost_events = 0;
    uint64_t lost_tracked = 0;  // forked processes not followed: the `tracked` map was full
};

// What the tracer lost over a result's runs (RunTrace's lost_* summed).
struct Losses {
    uint64_t counts = 0;   // counter updates: the counters map or sched_threads was full
    uint64_t events = 0;   // ring buffer records: it was full
    uint64_t tracked = 0;  // forked processes not followed: the tracked map was full
    bool any() const { return counts || events || tracked; }
    void add(const RunTrace& t) {
        counts += t.lost_counts;
        events += t.lost_events;
        tracked += t.lost_tracked;
    }
    void add(const Losses& o) {
        counts += o.counts;
        events += o.events;
        tracked += o.tracked;
    }
};

// Receives what runs produced, for `--trace DIR` (core/recorder implements it). The tracer hands
// it every RunTrace as the run ends; experiments add their own phases and name their guests.
class RunSink {
public:
    virtual ~RunSink() = default;
    virtual void run_ended(const RunTrace& run, const std::vector<KsmScan>& ksm_scans) = 0;
    // A stretch of the benchmark's own timeline (CLOCK_MONOTONIC ns), on a track named `track`.
    virtual void span(const std::string& track, const std::string& name, uint64_t start_ns, uint64_t end_ns) = 0;
    virtual void name_guest(uint32_t guest, const std::string& name) = 0;
    // The device that owns a port ("0x1f7") or guest-physical address ("0xa0000"): exit flame graphs.
    virtual void name_address(const std::string& key, const std::string& device) = 0;
};

// Status of one trace source, for "which sources were used, which were silent".
struct SourceStatus {
    std::string name;        // e.g. "kvm:kvm_exit"
    std::string attach;      // "tp_btf", "raw_tp", "tp" or "-" when not attached
    bool attached = false;
    std::string note;        // why not attached, if so
};

}  // namespace ht
