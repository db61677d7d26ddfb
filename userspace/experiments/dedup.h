// SPDX-License-Identifier: MIT
// `hypetrace dedup`: page-content deduplication opportunities of a running guest (paper section
// 4.1, Table 1), and the breakdown of its unique memory (section 4). A guest is found by name (a
// libvirt domain, an LXC container, a QEMU -name) or pid, or booted by hypetrace itself; its pages,
// a second guest's and the host's are hashed (core/dedup_scan) and classified (core/dedup).
// Optionally KSM is then switched on to check the "KSM could merge" estimate against what KSM
// actually merges.
#pragma once
#include "core/memscan/dedup.h"
#include "core/memscan/dedup_scan.h"
#include "core/host/host.h"
#include "core/host/host_settings.h"
#include "drivers/guest.h"
#include "experiments/fleet.h"

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace ht {

// A guest found on this host.
struct GuestRef {
    std::string name;  // as asked, or the pid
    std::string kind;  // "vm", "container", "process"
    std::string how;   // how it was found ("libvirt domain", "LXC container", "QEMU -name", the pid setting)
    pid_t main_pid = 0;
    std::vector<pid_t> pids;  // every process of the guest
    uint64_t ram_bytes = 0;   // VMs, when known
};

// Finds a running guest by libvirt domain name, LXC container name, QEMU -name or pid (digits).
// Throws UserError naming what was tried.
GuestRef resolve_guest(const std::string& name_or_pid);
// Running guests hypetrace can find (for --list and error messages).
std::vector<GuestRef> list_guests();
// A process and all its descendants.
std::vector<pid_t> process_tree(pid_t root);
// From `-name guest=NAME,debug-threads=on` or `-name NAME` in a QEMU command line (NUL-separated).
std::string qemu_name_from_cmdline(const std::string& cmdline_nul);
// `-m 1024`, `-m size=1G`, `-m 512M` -> bytes; 0 if absent.
uint64_t qemu_ram_from_cmdline(const std::string& cmdline_nul);

struct DedupConfig {
    GuestRef guest;
    std::optional<GuestRef> other;
    bool host = true;
    std::string image_dir;  // files whose 4 KiB blocks mark guest page cache ("" = not told)
    KsmModel ksm_model;
    std::function<void(const std::string&)> progress;
};

struct KsmCheck {
    bool done = false;
    uint64_t estimate = 0;  // pages_sharing predicted from the scan
    KsmCounters before, after;
    double settle_s = 0;
    bool settled = false;
    std::string note;
};

// The paper's Table 1 (MB; a 1 GiB Ubuntu VM on Linux 3.16): rows within the VM, between VM and
// host, between 2 VMs, total; columns anon/anon, file/file, anon/file, total. And the VM's distinct
// frames it was out of.
inline constexpr double kPaperTable1Mb[4][4] = {{28, 0.5, 0.5, 29}, {18, 2, 12, 32}, {48, 8, 3, 59}, {94, 10.5, 15.5, 120}};
inline constexpr double kPaperTable1VmMb = 235;

struct DedupResult {
    HostInfo host;
    std::string started_at;
    GuestRef guest;
    std::optional<GuestRef> other;
    std::string guest_command;  // when hypetrace booted it
    std::string accel;          // when hypetrace booted it
    bool host_scanned = true;
    DedupTable table;
    IndexStats stats;
    uint64_t index_entries = 0, index_bytes = 0;  // the index at its largest
    uint64_t image_files = 0, image_blocks = 0;
    KsmSettings ksm_at_scan;    // KSM and THP settings while scanning
    std::string thp;
    // Where the host's copies of the "between guest and host" pages are: resident pages of host
    // files with that content, by file (most first).
    std::vector<std::pair<std::string, uint64_t>> host_copies_in_files;
    KsmCheck ksm_check;
    double self_peak_rss_mb = 0;
};

// Scans and classifies. Guests must be running; the host is read, never changed.
DedupResult run_dedup(const DedupConfig& cfg, const HostInfo& host);

// After run_dedup with KSM off: switches KSM on (through `guard`), waits until pages_sharing has
// settled (two full scans in a row within 1 %, or `timeout_s`) and records it against the estimate.
void check_ksm_estimate(DedupResult& r, HostSettingsGuard& guard, double timeout_s,
                        const std::function<void(const std::string&)>& progress);

// Guests hypetrace boots itself to scan (`hypetrace dedup --kvm` or `--lxc`): identical full
// guests, the first scanned, the second the "between the two guests" one, any more part of the host.
struct DedupBootConfig {
    Driver* driver = nullptr;
    bool containers = false;    // LXC containers (shared rootfs); else VMs
    ImageSet images;
    Accel accel = Accel::tcg;   // VMs
    unsigned guests = 2;
    double boot_timeout_s = 0;  // 0: default_ready_timeout_s of the driver's kind
    double quiesce_s = 20;      // after all are ready, before the scan
    std::string thp = "never";  // while they run: never (as the paper), madvise, always; "keep": the host's
    std::function<void(const std::string&)> progress;
};

struct BootedGuests {
    std::unique_ptr<GuestFleet> fleet;  // stops the guests (clear(), or when destroyed)
    GuestRef guest;                     // the first: scanned
    std::optional<GuestRef> other;      // the second, if more than one
    std::string accel;                  // VMs: "kvm"/"tcg"
    std::string image_dir;              // the images' rootfs: the guests' own files
};

// Throws UserError if the driver cannot start these guests here (images, tools missing). Changes
// nothing.
void preflight_dedup_guests(const DedupBootConfig& cfg);
// As the paper: KSM off and THP set (through `guard`, which the caller holds until the scan and
// any --ksm-check are done), then boots cfg.guests guests, waits until they are ready and lets them
// quiesce. A failure stops every guest booted so far.
BootedGuests boot_dedup_guests(HostSettingsGuard& guard, const DedupBootConfig& cfg);

nlohmann::json to_json(const DedupResult& r);
std::string render_text(const DedupResult& r);

inline constexpr int kDedupSchemaVersion = 1;

}  // namespace ht
