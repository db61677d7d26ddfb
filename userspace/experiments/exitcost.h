// SPDX-License-Identifier: MIT
// `hypetrace exitcost`: the round-trip cost of each kind of VM exit, measured with a payload that
// performs N exits of one kind per phase (drivers/qemu/payload/exitcost.asm) under KVM. Phases are
// marked by the payload itself (an OUT to a marker port) and tagged in the kernel: every counter
// (exits by reason, port I/O by port, MMIO by address, exits to QEMU by reason, KVM_RUN time and its
// histogram) carries the phase it happened in; nothing is streamed per exit. Ports and addresses
// are mapped to the QEMU device that owns them from QEMU's memory tree (QMP).
#pragma once
#include "core/tracing/trace_backend.h"
#include "core/host/host.h"
#include "core/base/stats.h"
#include "drivers/payload.h"
#include "experiments/exit_counts.h"

#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ht {

struct ExitcostConfig {
    Accel accel = Accel::kvm;
    PayloadParams params;
    unsigned runs = 3;
    double timeout_s = 120;  // per run
    // The tracer also times each VT-x/AMD-V exit in KVM (kvm_exit to kvm_entry) and KVM_RUN's entry
    // work (kvm_fpu): TracerOptions::exit_times and kvm_entry_split, set by whoever makes it. Off,
    // every count is still exact and KVM_RUN is still timed (two clock reads per exit to QEMU).
    bool detail = false;
    std::filesystem::path scratch_parent = "/var/tmp/hypetrace";
    std::function<void(const std::string&)> progress;
};

// The tracer's counter buckets: one, an hour wide: phases, not time, split the counts.
inline constexpr uint64_t kExitcostBucketNs = 3600'000'000'000ULL;

struct PhaseResult {
    PayloadPhase phase{};
    uint32_t ops = 0;                 // operations per run (sectors for disk)
    std::vector<double> duration_ns;  // per run, from its marker to the next one
    Summary us_per_op;
    ExitCounts counts;               // summed over runs
};

struct ExitcostResult {
    HostInfo host;
    std::string started_at;
    Accel accel{};
    PayloadParams params;
    unsigned runs = 0;
    std::vector<std::string> command;
    std::vector<PhaseResult> phases;
    // Everything counted, by phase number, including the payload's set-up (0: reading its
    // parameters) and its end (0xFE: the done marker and isa-debug-exit), summed over runs.
    std::map<uint8_t, ExitCounts> all_phases;
    DeviceMap mtree;  // the payload VM's device map (QEMU: its memory tree)
    std::vector<double> run_wall_s;   // resume -> QEMU exited, per run
    bool kvm_exit_fired = false;      // VT-x/AMD-V: kvm_exit/kvm_entry fire; PVM: they do not
    bool detail = false;              // ExitcostConfig::detail
    Losses lost;  // what the tracer lost (the report's headline says so)
    std::vector<SourceStatus> sources;
};

// `tracer` may be null: then only run_wall_s is measured (the overhead benchmark's baseline).
ExitcostResult run_exitcost(TraceBackend* tracer, const HostInfo& host, const ExitcostConfig& cfg);

// Pure: per-phase durations from the phase events of one run (sorted by time), keyed by phase.
std::map<uint8_t, uint64_t> phase_durations(const std::vector<ProcEvent>& events);

nlohmann::json to_json(const ExitcostResult& r);
std::string render_text(const ExitcostResult& r);

inline constexpr int kExitcostSchemaVersion = 1;

}  // namespace ht
