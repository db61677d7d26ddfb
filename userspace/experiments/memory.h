// SPDX-License-Identifier: MIT
// `hypetrace memory`: memory footprint per guest as identical guests are added, with and without
// KSM (paper section 3, Figure 4). Guests are added one step at a time (1, 2, 4, ... as asked);
// after each step hypetrace waits until memory has settled, then sums the PSS of every process of
// every guest. Settling is read from the KSM tracepoints (merges per full scan) when KSM is on,
// from the footprint itself when it is off. Page faults and KSM merges of each guest are traced.
#pragma once
#include "core/tracing/trace_backend.h"
#include "core/host/host.h"
#include "core/host/host_settings.h"
#include "core/memscan/ksm_share.h"
#include "core/memscan/memusage.h"
#include "core/base/stats.h"
#include "drivers/guest.h"

#include <cmath>
#include <functional>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ht {

struct MemoryTechnique {
    std::string id;     // "kvm", "lxc", "lxc-app"
    std::string label;  // as the paper's Figure 4 names it
    Driver* driver = nullptr;
    Variant variant = Variant::full;
    double paper_single_mb = NAN, paper_limit_mb = NAN;  // the paper's figures, for the report
};

// The paper's Figure 4 (Ubuntu 14.10, KVM with EPT, LXC 1.1), shown beside ours: the footprint per
// guest in MB of one guest alone, and what it comes down to as identical guests are added.
inline constexpr double kPaperMemoryKvmSingleMb = 194, kPaperMemoryKvmLimitMb = 91;
inline constexpr double kPaperMemoryLxcSingleMb = 16, kPaperMemoryLxcLimitMb = 8;
inline constexpr double kPaperMemoryLxcBashSingleMb = 2, kPaperMemoryLxcBashLimitMb = 1.3;

// The paper's section 3, "Deduplicating Different Guest Kernel Versions" (host 3.16): what KSM
// deduplicates for one VM whose kernel is the host's (35 MB), 3.17 (33), 3.15 (26) and 3.2 (23).
struct PaperKernelSaving {
    const char* guest;
    double mb;
};
inline constexpr PaperKernelSaving kPaperKsmKernels[] = {{"3.16 (the host's)", 35}, {"3.17", 33}, {"3.15", 26}, {"3.2", 23}};
// Those figures in words, each against the first: " 3.16 (the host's): 35 MB; 3.17: 33 MB (x0.94); ...".
std::string paper_ksm_kernels_text();
// "6.1.0-57-cloud-amd64" -> "6.1.0-57": a guest kernel as the reports name it.
std::string short_release(const std::string& release);

// The tracer's counter buckets in memory runs: one second, the step of the per-second merge and
// fault series.
inline constexpr uint64_t kMemoryBucketNs = 1'000'000'000;

struct MemoryConfig {
    std::vector<MemoryTechnique> techniques;
    std::vector<unsigned> counts{1, 2, 4, 8};  // ascending, distinct
    std::vector<bool> ksm_modes{true};          // one series per technique and mode
    RootfsMode rootfs = RootfsMode::shared;     // containers
    std::string thp;  // transparent huge pages during the run: "" keeps the host's, else always/madvise/never
    AccelChoice accel;
    ImageSet images;
    // On disk, not tmpfs: a copied rootfs or an overlay's upper dir on tmpfs would be shmem and
    // count as memory.
    std::filesystem::path scratch_parent = "/var/tmp/hypetrace";
    double boot_timeout_s = 0;       // per step, for the new guests to be ready; 0: default_ready_timeout_s
    double settle_timeout_s = 300;   // per step, for memory to settle
    double sample_s = 1.0;           // footprint sampling period while settling
    unsigned ksm_pages_to_scan = 20000, ksm_sleep_ms = 20;
    double settle_window_s = 5;      // KSM on: width of the windows compared (ksm_settled)
    double settle_merges = 0;        // KSM on: merges per full scan under which it has settled; 0 = burndown flat
    double settle_change = 0.01;     // KSM off: relative footprint change over 3 samples under which it has
    double settle_min_s = 3;         // KSM off (or nothing mergeable): not settled sooner after ready
    // `memory --guest-kernels`: each pair a series of two VMs, the first booting pair.first, the
    // second pair.second (releases of images.kernel_releases()); counts {1, 2} and KSM on. After
    // the second settles, the KSM frames both QEMUs map are what KSM merged between the kernels.
    std::vector<std::pair<std::string, std::string>> kernel_pairs;
    std::function<void(const std::string&)> progress;
};

struct GuestFootprint {
    unsigned index = 0;   // 1-based, in the order guests were added
    pid_t main_pid = 0;
    MemUsage mem;         // every process of the guest
    MemUsage helper;      // the backend's processes outside it (LXC monitor)
    std::optional<VmMemParts> vm_parts;  // VMs: guest RAM / TCG code cache / QEMU
    double ready_s = 0;   // launch -> ready
    uint64_t faults = 0;      // traced page faults of the guest since it was launched
    uint64_t ksm_merges = 0;  // traced KSM merges of its pages since then
};

struct MemoryStep {
    unsigned guests = 0;
    double boot_s = 0;            // from the first launch of this step until its last guest was ready
    double settle_s = 0;          // from then until settled
    bool settled = false;
    std::string settle_note;      // how it settled, or why it did not
    std::vector<GuestFootprint> per_guest;
    Summary pss_mb;               // per-guest footprint over the guests
    double total_mb = 0;          // all guests
    double incremental_mb = 0;    // (total - previous total) / guests added
    double helper_mb = 0;         // mean per guest, reported apart
    // VMs, mean per guest (NAN when not a VM or the guest RAM mapping was not found).
    double guest_ram_mb = NAN, tcg_cache_mb = NAN, qemu_mb = NAN;
    double accounting_ms = 0;     // time to read every process's smaps_rollup once
    uint64_t ksm_merging_pages = 0;  // summed over the guests' processes
    KsmCounters ksm;              // host-wide, at measurement
    uint64_t faults = 0;          // page faults of all guests during this step (traced)
    uint64_t ksm_merges = 0;      // KSM merges of the guests' pages during this step (traced)
    double t_s = 0;               // when measured, from the series start
    // Kernel-pair series, 2 guests: what KSM merged within guest 1 (a), guest 2 (b), between them.
    std::optional<KsmShare> ksm_between;
};

struct MemorySample {
    double t_s = 0;
    unsigned guests = 0;
    double total_mb = 0;
    uint64_t pages_sharing = 0;
};

struct MemorySeries {
    MemoryTechnique technique;
    bool ksm = false;
    std::string accel;   // VMs
    std::string rootfs;  // containers
    std::string command; // how the first guest was started
    // Kernel-pair series: each guest's kernel release, in the order added, and its package version.
    std::vector<std::string> kernels, kernel_versions;
    std::vector<MemoryStep> steps;
    std::vector<MemorySample> timeline;
    std::vector<KsmScan> scans;           // ts relative to the series start
    std::vector<std::pair<double, uint64_t>> merges_per_s;  // traced merges of the guests' pages, per second
    std::vector<std::pair<double, uint64_t>> faults_per_s;  // traced page faults of the guests, per second
    Losses lost;  // what the tracer lost (the report's headline says so)
};

struct MemoryResult {
    HostInfo host;
    std::vector<MemorySeries> series;
    KsmSettings ksm_saved;        // host settings before the run (restored after it)
    bool ksm_recovered = false;   // a dead run's settings were restored first
    unsigned ksm_pages_to_scan = 0, ksm_sleep_ms = 0;
    std::string thp;              // THP mode the guests ran with ("" if the kernel has no THP control)
    double self_peak_rss_mb = 0;
    std::vector<SourceStatus> sources;
    std::string started_at;
};

// What a memory run changes and reads on the host, the seam its orchestration tests replace: the
// host settings it holds for the run (KSM, THP, inotify instances: HostSettingsGuard's calls) and
// the readings it settles and measures on (PSS of processes, KSM's counters, which processes KSM
// may merge, a VM's split).
class MemoryHost {
public:
    virtual ~MemoryHost() = default;
    virtual const KsmSettings& saved() const = 0;
    virtual bool recovered() const = 0;
    virtual void set_thp(const std::string& mode) = 0;
    virtual std::string thp() const = 0;
    virtual void ensure_inotify_instances(unsigned n) = 0;
    virtual void enable(unsigned pages_to_scan, unsigned sleep_ms) = 0;  // KSM on
    virtual void disable() = 0;                                          // KSM off
    virtual bool restore() noexcept = 0;
    virtual std::string restore_failures() const = 0;
    // Whether the last stop of KSM found ksmd had freed every ended guest's merges (see
    // HostSettingsGuard::settled).
    virtual bool ksm_settled() const { return true; }

    virtual MemUsage processes_memory(const std::vector<pid_t>& pids) const = 0;
    virtual KsmCounters ksm_counters() const = 0;
    virtual bool ksm_mergeable(pid_t pid) const = 0;
    virtual std::optional<VmMemParts> vm_parts(pid_t qemu_pid, uint64_t guest_ram_bytes) const = 0;
    // The KSM frames behind a process's anonymous memory (read_ksm_frames); nullopt if gone.
    virtual std::optional<std::vector<uint64_t>> ksm_frames(pid_t pid) const = 0;
};

// The real host: settings through a HostSettingsGuard held for the run, readings from /proc and
// /sys (core/memscan/memusage.h, core/host/host_settings.h).
class GuardedMemoryHost final : public MemoryHost {
public:
    explicit GuardedMemoryHost(HostSettingsGuard& guard) : g_(guard) {}
    const KsmSettings& saved() const override { return g_.saved(); }
    bool recovered() const override { return g_.recovered(); }
    void set_thp(const std::string& mode) override { g_.set_thp(mode); }
    std::string thp() const override { return g_.thp(); }
    void ensure_inotify_instances(unsigned n) override { g_.ensure_inotify_instances(n); }
    void enable(unsigned pages_to_scan, unsigned sleep_ms) override { g_.enable(pages_to_scan, sleep_ms); }
    void disable() override { g_.disable(); }
    bool restore() noexcept override { return g_.restore(); }
    std::string restore_failures() const override { return g_.restore_failures(); }
    bool ksm_settled() const override { return g_.settled(); }
    MemUsage processes_memory(const std::vector<pid_t>& pids) const override { return read_processes_memory(pids); }
    KsmCounters ksm_counters() const override { return read_ksm_counters(); }
    bool ksm_mergeable(pid_t pid) const override { return ht::ksm_mergeable(pid); }
    std::optional<VmMemParts> vm_parts(pid_t qemu_pid, uint64_t guest_ram_bytes) const override {
        return read_vm_parts(qemu_pid, guest_ram_bytes);
    }
    std::optional<std::vector<uint64_t>> ksm_frames(pid_t pid) const override {
        return read_ksm_frames(pid, kpage_reader());
    }

private:
    HostSettingsGuard& g_;
};

// Runs every technique x KSM mode. `ksm` must be held for the whole call (it is switched per
// series; restored at the end, and by its owner on every other path). Throws UserError on a
// failed guest (after stopping every guest of the run).
// Checks, before anything runs, that every technique's driver can start its guests here, with
// the spec the runs create. Throws UserError.
void preflight_memory(const MemoryConfig& cfg);
MemoryResult run_memory(TraceBackend& tracer, MemoryHost& ksm, const HostInfo& host, const MemoryConfig& cfg);
// The same on the real host (a GuardedMemoryHost over `ksm`).
MemoryResult run_memory(TraceBackend& tracer, HostSettingsGuard& ksm, const HostInfo& host, const MemoryConfig& cfg);

// Pure helpers, unit-tested.
// KSM on: compares the merges per full scan of the last two windows of `window_ns` (scans ending
// after `since_ns`, at least two in each window). With `threshold` > 0, settled when the last
// window's average is at most that; with 0, when the burndown has flattened: the two averages
// within 25% of each other (or both under 8 pages), a floor that idle guests' page churn keeps
// above zero. Returns the last window's average through `avg` when it can decide.
bool ksm_settled(const std::vector<KsmScan>& scans, uint64_t since_ns, uint64_t window_ns, double threshold,
                 double* avg = nullptr);
// KSM off: settled when the last `window` samples differ by at most `rel` of their mean.
bool footprint_settled(const std::vector<double>& totals, std::size_t window, double rel);
// Per-guest statistics of a step from its per_guest entries and the previous step's total.
void summarize_step(MemoryStep& s, double previous_total_mb, unsigned previous_guests);

// The kernel-pair series side by side: what KSM merged between the two guests, and that against
// the pair of identical kernels (the first pair whose kernels are the same; NAN without one).
struct KernelPairRow {
    std::string label;                 // technique
    std::string kernel_a, kernel_b;    // releases
    std::string version_a, version_b;  // package versions
    double between_mb = NAN, within_a_mb = NAN, within_b_mb = NAN, saved_mb = NAN;
    double vs_identical = NAN;         // between_mb / the identical pair's
    double pss_b_mb = NAN;             // guest 2's footprint beside guest 1
};
std::vector<KernelPairRow> kernel_pair_rows(const MemoryResult& r);

nlohmann::json to_json(const MemoryResult& r);
std::string render_text(const MemoryResult& r);
// Figure 4: footprint per guest vs number of guests, a line per technique and KSM mode.
std::string render_svg(const MemoryResult& r);

inline constexpr int kMemorySchemaVersion = 1;

}  // namespace ht
