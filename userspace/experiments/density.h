// SPDX-License-Identifier: MIT
// `hypetrace density`: one guest's CPU or I/O benchmark while the other guests compete (paper
// section 2.1, Figures 1-3), and why it slowed. At each density (1 guest, then N per host CPU), N-1 background
// guests run the paper's busy loop (scripts/guest/bench: ht-bench busy), each confined to one host
// CPU and spread evenly over them; one more guest, confined to CPU 0 and started last (so every
// neighbour is busy when it starts), runs the benchmark `warmup + runs` times through the guest
// job channel. The background guests stay up from one density to the next (more are added); the
// benchmark guest is a new one at each density. The tracer follows every guest for the whole
// technique (one trace run), so a preemptor is named by its guest; what the scheduler did to the
// benchmark guest in each measured run (run-queue wait, who preempted it, CPU received,
// migrations) comes from in-kernel counters (the tracer's sched source).
#pragma once
#include "core/base/stats.h"
#include "core/host/host.h"
#include "core/tracing/trace_backend.h"
#include "drivers/guest.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ht {

struct DensityTechnique {
    std::string id;            // "kvm", "lxc", "native"
    std::string label;         // "KVM (TCG)", "LXC", "native"
    Driver* driver = nullptr;  // null: native (the benchmark alone, a child of hypetrace)
};

// A benchmark of the guest images: CPU ones are scripts/guest/bench/ht-bench NAME [ARG], timed
// (seconds per run); the I/O one is fio with density_fio_job(), ARG seconds per run (ops/s).
struct DensityBench {
    std::string name;         // "quantum", "chess", "fileserver"
    std::string what;         // for reports
    std::string paper;        // the paper's benchmark it stands for
    std::string default_arg;  // its size: small enough for a VM under TCG
    bool io = false;          // an I/O benchmark: ops/s, higher is better
};
const std::vector<DensityBench>& density_benches();
const DensityBench* find_density_bench(const std::string& name);

// The job lines: the benchmark job prints "HYPETRACE-DENSITY-RUN <i> begin" before run i and
// "HYPETRACE-DENSITY-RUN <i> end <exit code>" after it, between them ht-bench's own line
// "HT-BENCH <name> <elapsed ns> <work>".
inline constexpr const char* kDensityRun = "HYPETRACE-DENSITY-RUN ";
inline constexpr const char* kBenchLine = "HT-BENCH ";

// The benchmark job's run.sh and the background guests' one (`bin`: where ht-bench is).
std::string density_bench_script(const std::string& bin, const std::string& bench, const std::string& arg,
                                 unsigned total_runs);
std::string density_busy_script(const std::string& bin);
// The I/O benchmark's run.sh: job.fio (beside it) run `total_runs` times for `runtime_s` each in
// the scratch directory `work`, each run's fio JSON printed between kIoResultBegin and
// kIoResultEnd lines (experiments/io.h) inside its begin and end lines.
std::string density_io_script(const std::string& work, unsigned runtime_s, unsigned total_runs);
// Figure 3's workload: the fileserver section of `hypetrace io`'s default job, on its own.
std::string density_fio_job();

// One run of the benchmark as its job printed it (pure, for tests): per run index, the elapsed
// ns ht-bench measured, its work figure and exit code. Throws UserError on a run that failed.
struct BenchRun {
    unsigned index = 0;
    int rc = -1;
    uint64_t elapsed_ns = 0;  // as the benchmark measured it (in the guest)
    std::string work;         // factors found, nodes searched; I/O: the fio section's name
    double ops_per_s = 0;     // I/O benchmark: fio's read + write operations per second
};
std::vector<BenchRun> parse_bench_output(const std::string& text);

// The runner of the native benchmark: `script` (a run.sh) under sh, in `dir`, confined to `cpu`,
// its output appended to `output`; returns the child's pid (hypetrace waits for the end line).
using DensityNativeRunner =
    std::function<pid_t(const std::filesystem::path& script, const std::filesystem::path& output, int cpu)>;
pid_t spawn_native_bench(const std::filesystem::path& script, const std::filesystem::path& output, int cpu);

struct DensityConfig {
    std::vector<DensityTechnique> techniques;
    std::vector<unsigned> per_core{1, 2, 4, 6};  // guests per host CPU; a single guest is always measured first
    unsigned cpus = 0;                            // host CPUs the guests spread over (0: all online)
    std::string bench = "quantum";
    std::string bench_arg;                        // "": the bench's default size
    unsigned runs = 3, warmup = 1;
    // runs auto: each density's series of runs goes on until its figure settles (core/base/stats),
    // auto_runs.max_runs are made or auto_runs.max_time_s pass from its first measured run.
    AutoRuns auto_runs;
    Accel accel = Accel::tcg;
    ImageSet images;
    std::filesystem::path scratch_parent = "/var/tmp/hypetrace";
    double boot_timeout_s = 0;  // per guest until it runs its job; 0: default_ready_timeout_s of its kind
    double run_timeout_s = 0;   // per benchmark run; 0: 600 s under TCG, else 120 s, times the density
    std::function<void(const std::string&)> progress;
    DensityNativeRunner native_runner = spawn_native_bench;
};

// The guest counts measured: 1, then per_core[i] * cpus, ascending, each once.
std::vector<unsigned> density_counts(const std::vector<unsigned>& per_core, unsigned cpus);
// The host CPU of the guest with 0-based index i (the benchmark guest is 0): i mod cpus.
inline int density_cpu(unsigned index, unsigned cpus) { return int(index % (cpus ? cpus : 1)); }

// How often a benchmark run's counters are drained from the kernel's map while it runs.
inline constexpr uint64_t kDensityDrainNs = 200'000'000;
// The tracer's bucket width: a measured run is at least a few hundred ms; 2 ms buckets place its
// window within 1 % (the counts of whole buckets are taken, and the time they cover).
inline constexpr uint64_t kDensityBucketNs = 2'000'000ULL;

// What the scheduler did to the benchmark guest over the measured runs of one density.
struct SchedWhy {
    bool traced = false;        // the sched source was attached
    double wall_ns = 0;         // the time the counts cover: the measured runs' windows in whole buckets
    double runq_ns = 0;         // its threads' time runnable but not running
    double oncpu_ns = 0;        // and running
    uint64_t involuntary = 0, voluntary = 0, migrations = 0;
    std::map<uint64_t, uint64_t> runq_log2;  // floor(log2(wait ns)) -> waits
    struct Preemptor {
        uint32_t guest = 0;     // 0: a host process
        uint32_t tgid = 0;
        std::string name;       // "guest 3 (busy, CPU 0)", "kworker/0:1"
        uint64_t count = 0;
    };
    std::vector<Preemptor> preemptors;  // most first
    // And, for a VM under KVM, its exits over the same windows (kvm:kvm_exit, by reason, most first;
    // exits to QEMU): what its vCPUs did besides running.
    uint64_t exits = 0, user_exits = 0;
    std::vector<std::pair<std::string, uint64_t>> exit_reasons;
};

struct DensityStep {
    unsigned guests = 0;       // in all, the benchmark guest included
    double per_cpu = 0;        // guests / cpus
    std::vector<BenchRun> runs;  // warm-up runs first (index <= warmup)
    std::vector<double> wall_s;  // measured runs, host clock (begin to end line)
    Summary seconds;             // measured runs, as the benchmark timed them (CPU benchmarks)
    Summary ops;                 // measured runs' ops/s (the I/O benchmark; n = 0 otherwise)
    double boot_s = 0;           // the benchmark guest's, until its job began
    SchedWhy why;                // over all measured runs
    std::vector<SchedWhy> run_why;  // per measured run, in order
    double self_cpu_pct = 0;     // hypetrace's own CPU while the benchmark ran, % of one CPU
    double steal_pct = -1;       // steal on the benchmark's CPU meanwhile (/proc/stat), -1: not reported
    RunsEnd runs_end = RunsEnd::count;  // why its series ended (runs auto)
};

// A density's slowdown against the single guest, as two factors whose product it is (up to the
// difference between the benchmark's own clock and the scheduler's whole buckets):
//   share: the CPU it was given: the single guest's fraction of wall time on a CPU over this one's
//          (2 when it shares its CPU with one busy neighbour);
//   cost:  the CPU time one run needed, over the single guest's: above 1 the CPU itself ran slower,
//          which this kernel cannot see (the hypervisor's other tenants, an SMT sibling, the clock).
// known: both steps were traced and ran.
struct SlowdownParts {
    double total = 1, share = 1, cost = 1;
    bool known = false;
};
SlowdownParts slowdown_parts(const DensityStep& step, const DensityStep& alone);

// The figure a step is judged by: its ops/s for the I/O benchmark, else its seconds per run.
inline bool is_io(const DensityStep& s) { return s.ops.n > 0; }
inline const Summary& figure_of(const DensityStep& s) { return is_io(s) ? s.ops : s.seconds; }
// How many times slower than alone: seconds over alone's, or alone's ops/s over these (1: unknown).
double slowdown_of(const DensityStep& step, const DensityStep& alone);

struct DensityTechniqueResult {
    DensityTechnique technique;
    std::string accel;  // VMs
    std::vector<DensityStep> steps;
    Losses lost;
};

struct DensityResult {
    HostInfo host;
    std::string started_at;
    DensityBench bench;
    std::string bench_arg;
    unsigned cpus = 0, runs = 0, warmup = 0;  // runs 0: auto
    AutoRuns auto_runs;
    std::vector<DensityTechniqueResult> techniques;
    std::vector<SourceStatus> sources;
};

// The spec of every guest of a density run (name, run_dir, job_dir and host_cpu added per guest).
GuestSpec density_guest_spec(const DensityConfig& cfg);
void preflight_density(const DensityConfig& cfg);
DensityResult run_density(TraceBackend& tracer, const HostInfo& host, const DensityConfig& cfg);

// The one-sentence explanation of a step against the technique's single-guest step:
// "slowed x1.9: 47 % of its wall time waiting to run, behind guest 3 (busy, CPU 0) and guest 5".
std::string explain_step(const DensityStep& step, const DensityStep* alone);

inline constexpr int kDensitySchemaVersion = 1;
nlohmann::json to_json(const DensityResult& r);
std::string render_text(const DensityResult& r);
// The paper's figure: the benchmark's seconds per run (Figures 1-2) or ops/s (Figure 3) against
// guests per host CPU, a line per technique with its 95 % intervals, native as a dashed level.
std::string render_svg(const DensityResult& r);

}  // namespace ht
