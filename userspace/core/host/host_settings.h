// SPDX-License-Identifier: MIT
// Host-wide settings a memory run needs: Kernel Samepage Merging, transparent huge pages (which
// decide how finely anonymous memory is accounted and merged) and the inotify instance limit (each
// full container's systemd takes five; 128 by default). HostSettingsGuard owns them for one run:
//  - takes an exclusive lock (a POSIX record lock on state_dir/settings.lock, which forked children
//    never inherit), so two runs never fight over KSM;
//  - saves every writable setting (state_dir/settings.saved, written before anything changes), so a
//    run killed with SIGKILL is repaired by the next run that takes the lock;
//  - restores every setting that differs on destruction (error, Ctrl-C and SIGTERM all unwind).
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace ht {

using KsmSettings = std::map<std::string, std::string>;

// Writable settings of a KSM sysfs directory, by file name (settings.saved also holds the extra
// files the guard owns, by their names: "thp", "inotify_instances"). A selector file such as advisor_mode
// ("[none] scan-time") is read as its selected value ("none").
KsmSettings read_ksm_settings(const std::filesystem::path& dir);
// Serialisation of settings.saved: "name value" lines.
std::string format_ksm_settings(const KsmSettings& s);
KsmSettings parse_ksm_settings(const std::string& text);

// The order restore() writes settings in: scan parameters, then advisor_mode (while the advisor is
// on, the kernel refuses pages_to_scan), then run.
std::vector<std::string> ksm_restore_order(const KsmSettings& s);

struct KsmCounters {
    uint64_t pages_shared = 0, pages_sharing = 0, pages_unshared = 0, pages_volatile = 0, full_scans = 0;
};
KsmCounters read_ksm_counters(const std::filesystem::path& dir = "/sys/kernel/mm/ksm");

class HostSettingsGuard {
public:
    // Throws UserError (one line) if KSM is missing, if another run owns it, or if the state
    // directory cannot be written. `recovered` tells whether a dead run's settings were restored.
    static constexpr const char* kStateDir = "/run/hypetrace";
    // Where a run keeps the settings it will restore (a dead run's stay there for the next).
    static std::filesystem::path saved_path(const std::filesystem::path& state_dir = kStateDir) {
        return state_dir / "settings.saved";
    }
    explicit HostSettingsGuard(std::filesystem::path sysfs_dir = "/sys/kernel/mm/ksm",
                               std::filesystem::path state_dir = kStateDir,
                               std::map<std::string, std::filesystem::path> extra = default_extra());
    static std::map<std::string, std::filesystem::path> default_extra() {
        return {{"thp", "/sys/kernel/mm/transparent_hugepage/enabled"},
                {"inotify_instances", "/proc/sys/fs/inotify/max_user_instances"}};
    }
    ~HostSettingsGuard();
    HostSettingsGuard(const HostSettingsGuard&) = delete;
    HostSettingsGuard& operator=(const HostSettingsGuard&) = delete;

    // run=1 with the given scan rate (advisor off so that pages_to_scan holds).
    void enable(unsigned pages_to_scan, unsigned sleep_ms);
    // run=0: no new merges while the run measures "without KSM". If this guard switched KSM on (and
    // the settings it restores do not run it), KSM first settles as in restore(): the ended guests'
    // merges are not counted into the "without KSM" readings.
    void disable();
    // run=2: unmerges every KSM page (returns when done), leaving KSM stopped.
    void unmerge();
    // Transparent huge pages for new anonymous memory: "always", "madvise" or "never". Throws
    // UserError if this kernel has no THP control.
    void set_thp(const std::string& mode);
    // The THP mode now ("" if the kernel has no THP control).
    std::string thp() const;
    // Raises fs.inotify.max_user_instances to at least `n` (never lowers it).
    void ensure_inotify_instances(unsigned n);
    // Writes back every saved setting that differs now; removes settings.saved. Never throws; returns
    // false (and leaves settings.saved for the next run) if a setting could not be written.
    // If this guard switched KSM on and restore is about to stop it, KSM first runs until its counters
    // are back to what they were at enable() or two more full scans are done (at most
    // the settle timeout): ksmd alone frees what processes that ended while it ran had merged, and a
    // KSM stopped before that keeps pages_shared/pages_sharing counted for pages nobody maps any more.
    bool restore() noexcept;
    void set_settle_timeout(double seconds) { settle_timeout_s_ = seconds; }  // 5 s unless set
    // Whether the last restore() found KSM's counters back where they were at enable() (false if it
    // gave up at the timeout or after two full scans with merges still counted).
    bool settled() const { return settled_; }

    const KsmSettings& saved() const { return saved_; }
    // What the last restore() could not write back ("file=value (reason)", comma-separated).
    const std::string& restore_failures() const { return failed_; }
    bool recovered() const { return recovered_; }
    // A dead run's KSM stopped by recovery (constructor) while that run's guests still lived: once
    // they are gone (after repair_dead_runs), KSM runs again until ksmd has freed their merges (no
    // merge left counted, or two full scans, at most the settle timeout), then stops. Nothing if
    // recovery did not stop a running KSM.
    void settle_recovered() noexcept;
    const std::filesystem::path& sysfs_dir() const { return sysfs_; }

private:
    void set(const std::string& name, const std::string& value);
    KsmSettings current() const;  // KSM settings, plus the extra files that exist
    void release_lock() noexcept;
    void settle() noexcept;  // see restore()
    bool owns_running_ksm() const;  // this guard ran KSM, it runs now, and the saved run is not 1
    std::filesystem::path file_of(const std::string& name) const;
    std::filesystem::path sysfs_, state_;
    std::map<std::string, std::filesystem::path> extra_;
    KsmSettings saved_;
    std::string failed_;
    int lock_fd_ = -1;
    std::string lock_path_;
    bool recovered_ = false;
    bool restored_ = false;
    bool enabled_ = false;  // enable() was called: KSM ran for this guard
    bool settled_ = true;
    bool restore_settled_ = false;  // restore() let KSM settle once already (a retry does not wait again)
    bool recovered_ksm_run_ = false;  // recovery stopped a dead run's running KSM
    KsmCounters at_enable_;
    double settle_timeout_s_ = 5.0;
};

}  // namespace ht
