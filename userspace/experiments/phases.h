// SPDX-License-Identifier: MIT
// Start-up phases, in the spirit of systemd-analyze critical-chain: milestones ("marks") found in
// a run's trace and console, and what happened between consecutive marks. Pure functions over
// recorded data, so they are unit-tested from recorded event sequences.
#pragma once
#include "core/host/console.h"
#include "core/tracing/trace_data.h"
#include "drivers/guest.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ht {

struct Mark {
    std::string name;    // "launch", "qemu_exec", "vcpu_start", "firmware_done", "init", "ready", ...
    uint64_t ts_ns = 0;
    std::string source;  // where it was seen: "host", "bpf:sched_process_exec", "console", ...
    std::string phase;   // the phase that starts here ("" for the last mark)
};

struct PhaseCounts {
    uint64_t execs = 0, forks = 0, exits = 0;
    uint64_t faults_user = 0, faults_kernel = 0;
    uint64_t kvm_exits = 0, kvm_exit_ns = 0;        // kvm:kvm_exit (VT-x/AMD-V hosts)
    uint64_t kvm_userspace_exits = 0;               // kvm:kvm_userspace_exit
    uint64_t kvm_pio = 0, kvm_mmio = 0;
    uint64_t kvm_runs = 0, kvm_run_ns = 0;           // KVM_RUN ioctls that returned, time inside
    std::map<std::string, uint64_t> exit_reasons;           // kvm_exit by reason name
    std::map<std::string, uint64_t> userspace_exit_reasons;  // by KVM_EXIT_* name
    std::map<uint32_t, uint64_t> pio_ports;

    PhaseCounts& operator+=(const PhaseCounts& o);
};

struct Phase {
    std::string name, from, to;
    uint64_t start_ns = 0, end_ns = 0;
    PhaseCounts counts;
};

// Finds a run's marks. launch_ns: when the host started the guest. Marks come, in this order,
// from: the host (launch), the tracer (exec of the guest's first program, first KVM_RUN or the
// naming of a vCPU thread, the container monitor's fork, the exec of the container's init) and the
// console (firmware hand-off, init, ready). A mark that is absent, or earlier than the one before
// it, is left out: its phase then merges into the previous one.
std::vector<Mark> derive_marks(GuestKind kind, uint64_t launch_ns, const std::vector<ProcEvent>& events,
                               const std::vector<MarkerHit>& hits, const std::string& init_path);

// A guest restored from a checkpoint: launch (host), then
// - VM: exec of QEMU (tracer), the backend's restore marks (Guest::restore_marks: state_load, then
//   resumed, or state_loaded where no resume was seen). Phases: launcher, qemu init, state load,
//   guest answers.
// - container: exec of CRIU (tracer), resumed (the backend: CRIU had restored the processes and
//   let them run). Phases: launcher, criu restore, guest answers.
// and ready (the guest answered a ping). Absent or out-of-order marks are left out as in derive_marks.
std::vector<Mark> derive_restore_marks(GuestKind kind, uint64_t launch_ns, const std::vector<ProcEvent>& events,
                                       const std::vector<MarkerHit>& backend, const std::vector<MarkerHit>& hits);

// Splits the trace between consecutive marks. Events count by timestamp; counter buckets by their
// midpoint (so a phase boundary is exact to one bucket width).
std::vector<Phase> attribute_phases(const std::vector<Mark>& marks, const RunTrace& trace, uint32_t guest);

// Everything counted for `guest` in the whole trace (from launch until the guest was stopped).
PhaseCounts total_counts(const RunTrace& trace, uint32_t guest);

}  // namespace ht
