// SPDX-License-Identifier: MIT
// `hypetrace startup`: start-up latency of VMs, containers and a native process (paper section 5,
// Table 3), every run traced and broken into phases.
#pragma once
#include "core/tracing/trace_backend.h"
#include "core/host/host.h"
#include "core/base/stats.h"
#include "drivers/guest.h"
#include "experiments/checkpoint.h"
#include "experiments/phases.h"

#include <cmath>
#include <functional>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ht {

struct Technique {
    std::string id;     // "kvm", "kvm-app", "kvm-bios", "lxc", "lxc-app", "native"
    std::string label;  // as the paper's Table 3 names it
    Driver* driver = nullptr;
    Variant variant = Variant::full;
    double paper_s = NAN;  // the paper's Table 3 value, where it has one
    // Started from a checkpoint of the booted guest (experiments/checkpoint), ready once it
    // answers a ping, not booted
    bool restore = false;
    bool lazy = false;  // restore: guest RAM mapped from the checkpoint, faulted in on demand
};

// The paper's Table 3 (mean start-up latency in seconds; Ubuntu 14.10, KVM with EPT, LXC 1.1), shown
// beside ours for the techniques it has a value for: a full VM, a full container, LXC-bash.
inline constexpr double kPaperStartupKvmS = 10.342;
inline constexpr double kPaperStartupLxcS = 0.200;
inline constexpr double kPaperStartupLxcBashS = 0.099;
// Its restore rows: the booted guest checkpointed, then restored.
inline constexpr double kPaperRestoreKvmS = 1.192;
inline constexpr double kPaperRestoreLxcS = 0.192;
inline constexpr double kPaperRestoreLxcBashS = 0.072;
// How often a restored guest is pinged until it answers (the proof adds at most this, beside the
// round trip).
inline constexpr uint64_t kPingIntervalNs = 2'000'000;

struct StartupConfig {
    std::vector<Technique> techniques;
    unsigned runs = 5;
    // on: `runs` is not used; each technique runs until its start-up latency settles or a cap
    // (core/base/stats.h), its time counted from its first measured run
    AutoRuns auto_runs;
    unsigned warmup = 1;
    double timeout_s = 0;  // per start; 0: default_ready_timeout_s of the technique's kind
    AccelChoice accel;
    ImageSet images;
    std::filesystem::path scratch_parent = "/run/hypetrace";
    std::filesystem::path checkpoint_cache = kDefaultCheckpointCache;  // restore techniques
    // How long a restored guest is kept running after it answered, to see what it faults in next
    // (RunResult::ram_after_1s); not part of its start-up time.
    double restore_after_s = 1.0;
    // Techniques asked for that cannot run here, and why: reported, the others run.
    std::vector<std::pair<std::string, std::string>> not_measured;
    std::function<void(const std::string&)> progress;  // one line per event of note
};

struct RunResult {
    unsigned index = 0;
    bool warmup = false;
    double total_s = 0;       // launch -> ready
    double started_s = 0;     // launch -> the driver's start() returned
    pid_t main_pid = 0;
    std::string command;      // how the guest was started (the driver's description)
    std::vector<Mark> marks;  // ts relative to launch in JSON
    std::vector<Phase> phases;
    PhaseCounts totals;       // launch until stopped
    Losses lost;  // what the tracer lost (the report's headline says so)
    // restore runs: the guest's RAM resident on the host when it answered, and a second later
    // (Guest::ram_resident_bytes: for a lazy restore, its working set faulted in so far)
    std::optional<uint64_t> ram_at_ready, ram_after_1s;
    // The guest's main process (QEMU; a container's init) when it was ready, from /proc: what it
    // read (rchar: every read, a restore's saved state included; read_bytes: from storage, not
    // the page cache) and its page faults (major: a page read from storage). nullopt when /proc
    // could not tell (the process already gone).
    struct ProcessIo {
        uint64_t rchar = 0, read_bytes = 0, minflt = 0, majflt = 0;
    };
    std::optional<ProcessIo> io_at_ready;
};

struct PhaseSummary {
    std::string name, to;
    Summary start_s, duration_s;
    PhaseCounts mean_counts;  // per run (sums divided by runs, rounded)
    unsigned present_in = 0;  // runs where this phase was seen
};

struct TechniqueResult {
    Technique technique;
    std::string accel;  // "kvm"/"tcg" for VMs, "" otherwise
    std::string command;
    std::vector<RunResult> runs;  // warm-up first
    Summary total;               // over measured runs
    RunsEnd runs_end = RunsEnd::count;  // why its measured runs ended
    std::vector<PhaseSummary> phases;
    PhaseCounts mean_totals;
    std::optional<CheckpointInfo> checkpoint;  // restore techniques: what they restored from
    std::vector<std::string> reruns;  // runs run once more, and why (their guest's kernel panicked)
};

struct StartupResult {
    HostInfo host;
    AccelChoice accel;
    unsigned runs = 0, warmup = 0;
    AutoRuns auto_runs;  // on: runs until settled, `runs` not used
    std::vector<TechniqueResult> techniques;
    std::vector<SourceStatus> sources;
    std::string started_at;  // UTC, ISO 8601
    // hypetrace's own open descriptors and resident memory after the first run (libraries and
    // caches loaded) and after the last: a guest started and stopped must leave nothing behind.
    struct Self {
        unsigned fds = 0;
        uint64_t rss_kb = 0;
    } self_first, self_last;
    unsigned runs_between = 0;  // runs after self_first
    // Techniques asked for that this host cannot run, and why (e.g. container restore where
    // `criu check` fails): the others still ran.
    std::vector<std::pair<std::string, std::string>> not_measured;
};

// Runs every technique; throws UserError on the first run that fails (after stopping its guest).
// Checks, before anything runs, that every technique's driver can start its guest here (images,
// tools), with the same spec the runs create. Throws UserError.
void preflight_startup(const StartupConfig& cfg);
// The seconds one start of technique `t` may take.
double ready_timeout_s(const StartupConfig& cfg, const Technique& t);
StartupResult run_startup(TraceBackend& tracer, const HostInfo& host, const StartupConfig& cfg);

// Pure: aggregates the measured (non-warm-up) runs of one technique.
void summarize_technique(TechniqueResult& t);

nlohmann::json to_json(const StartupResult& r);
std::string render_text(const StartupResult& r);

inline constexpr int kStartupSchemaVersion = 1;

}  // namespace ht
