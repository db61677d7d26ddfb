// SPDX-License-Identifier: MIT
// Owns hypetrace's BPF programs (bpf/trace.bpf.c) for one command: plan (from the per-process probe
// of trace_features.h), open, load, attach on construction; detach and free on destruction. Its
// skeleton (trace.skel.h) is seen only by bpf_tracer.cpp; libbpf only inside core/tracing.
#pragma once
#include "core/tracing/trace_backend.h"
#include "core/tracing/trace_data.h"

#include <cstdint>
#include <memory>
#include <sys/types.h>
#include <vector>

namespace ht {

struct TracerOptions {
    uint64_t bucket_ns = 1'000'000;  // width of the counters' time buckets
    bool verbose = false;            // echo libbpf's messages
    // raw_tp entries even where tp_btf would load: the fallback, forced (tests).
    bool raw_tp_only = false;
    // Also attach kvm:kvm_fpu, which splits each KVM_RUN into KVM's entry work (from the ioctl to
    // the guest's FPU state loaded: vcpu_load...) and the rest (CounterKind::kvm_run_entry_ns).
    // Costs two more program runs per KVM_RUN.
    bool kvm_entry_split = false;
    // Each VT-x/AMD-V exit's time in KVM (kvm:kvm_exit to kvm:kvm_entry, CounterKind::kvm_exit_ns):
    // two clock reads and a task storage lookup per exit, kvm:kvm_entry attached. Off: exits are
    // still counted exactly, by reason (kvm:kvm_exit alone, no clock read).
    bool exit_times = true;
    // The KVM and page-fault programs attach but return at once, counting nothing: what the
    // tracepoints cost by themselves (the overhead benchmarks' floor).
    bool attach_only = false;
    // Also attach the scheduler's tracepoints (sched:sched_switch, sched_wakeup, sched_wakeup_new,
    // sched_migrate_task): run-queue waits, time on a CPU, voluntary and involuntary switches (by
    // who ran next) and migrations of the tracked threads (CounterKind::sched_*, summed by
    // core/tracing/sched_summary.h). Every context switch and wakeup of the host then runs a
    // program (a clock read and two hash lookups for a switch when neither side is tracked).
    bool sched = false;
};

class Tracer : public TraceBackend {
public:
    // Checks root and BTF, mounts tracefs if needed (unmounted again on destruction), loads and
    // attaches. Throws UserError (one line) when the host cannot trace.
    explicit Tracer(const TracerOptions& opts = {});
    ~Tracer() override;
    Tracer(const Tracer&) = delete;
    Tracer& operator=(const Tracer&) = delete;

    // Starts a run: clears what a previous run left, sets the bucket origin to `origin_ns`.
    void begin_run(uint64_t origin_ns) override;
    // While armed, every process this process forks is tracked as `guest` (and so are its
    // descendants). Arm before starting a guest, disarm once it is started.
    void arm_spawner(uint32_t guest) override;
    void disarm_spawner() override;
    // Guests mark phases by writing a byte to `port` (an OUT seen by kvm:kvm_pio): from then on
    // their counters carry that byte as their phase, and a `phase` event records when. 0: off.
    void set_phase_port(uint16_t port) override;
    // Tracks an existing process (and its future descendants) as `guest`.
    void track(pid_t tgid, uint32_t guest) override;

    int events_fd() const override;
    // Consumes ring-buffer records into the pending event list (timeout_ms 0: non-blocking).
    void poll_events(int timeout_ms = 0) override;
    // KSM full scans seen since the last call (consumes them; poll_events() first).
    std::vector<KsmScan> take_ksm_scans() override;
    // Takes (reads and removes) the counters aggregated so far; tracking goes on. For runs that
    // attribute counts to stretches of time more exactly than a bucket.
    std::vector<CounterSample> drain_counters() override;
    // Ends a run: drains events and counters (all guests) and clears tracking.
    RunTrace end_run() override;

    // The map of the vCPU threads' KVM_RUN state (struct ht_run_state), for the profiler to share;
    // with note_exits_handled(true) port I/O and MMIO exits note which access QEMU then handles.
    int run_state_map_fd() const;
    void note_exits_handled(bool on);

    // Every run's trace also goes to `sink` as it ends (null: none). Not owned.
    void set_sink(RunSink* sink) { sink_ = sink; }
    RunSink* sink() const override { return sink_; }

    const std::vector<SourceStatus>& sources() const override { return sources_; }
    uint64_t bucket_ns() const override { return opts_.bucket_ns; }

    struct Impl;

private:
    // `final`: the run's guests have stopped, and the per-CPU pending counts are emptied after.
    std::vector<CounterSample> take_counters(bool final);
    void tracked_changed();
    void clear_tracked();  // and tracked_changed()

    TracerOptions opts_;
    std::unique_ptr<Impl> impl_;
    std::vector<SourceStatus> sources_;
    uint64_t origin_ns_ = 0;
    RunSink* sink_ = nullptr;
};

}  // namespace ht
