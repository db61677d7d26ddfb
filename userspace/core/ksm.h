// SPDX-License-Identifier: MIT
// Kernel Samepage Merging (and transparent huge pages, which decide how finely anonymous memory
// is accounted and merged) are global host state. KsmGuard owns both for one hypetrace run:
//  - takes an exclusive lock (state_dir/ksm.lock), so two runs never fight over KSM;
//  - saves every writable setting (state_dir/ksm.saved, written before anything changes), so a
//    run killed with SIGKILL is repaired by the next run that takes the lock;
//  - restores every setting that differs on destruction (error, Ctrl-C and SIGTERM all unwind).
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

namespace ht {

using KsmSettings = std::map<std::string, std::string>;

// Writable settings of a KSM sysfs directory, by file name (ksm.saved also holds "thp", the
// transparent_hugepage/enabled mode). A selector file such as advisor_mode
// ("[none] scan-time") is read as its selected value ("none").
KsmSettings read_ksm_settings(const std::filesystem::path& dir);
// Serialisation of ksm.saved: "name value" lines.
std::string format_ksm_settings(const KsmSettings& s);
KsmSettings parse_ksm_settings(const std::string& text);

struct KsmCounters {
    uint64_t pages_shared = 0, pages_sharing = 0, pages_unshared = 0, pages_volatile = 0, full_scans = 0;
};
KsmCounters read_ksm_counters(const std::filesystem::path& dir = "/sys/kernel/mm/ksm");

class KsmGuard {
public:
    // Throws UserError (one line) if KSM is missing, if another run owns it, or if the state
    // directory cannot be written. `recovered` tells whether a dead run's settings were restored.
    explicit KsmGuard(std::filesystem::path sysfs_dir = "/sys/kernel/mm/ksm",
                      std::filesystem::path state_dir = "/run/hypetrace",
                      std::filesystem::path thp_file = "/sys/kernel/mm/transparent_hugepage/enabled");
    ~KsmGuard();
    KsmGuard(const KsmGuard&) = delete;
    KsmGuard& operator=(const KsmGuard&) = delete;

    // run=1 with the given scan rate (advisor off so that pages_to_scan holds).
    void enable(unsigned pages_to_scan, unsigned sleep_ms);
    // run=0: no new merges while the run measures "without KSM".
    void disable();
    // Transparent huge pages for new anonymous memory: "always", "madvise" or "never". Throws
    // UserError if this kernel has no THP control.
    void set_thp(const std::string& mode);
    // The THP mode now ("" if the kernel has no THP control).
    std::string thp() const;
    // Writes back every saved setting that differs now; removes ksm.saved. Never throws; returns
    // false (and leaves ksm.saved for the next run) if a setting could not be written.
    bool restore() noexcept;

    const KsmSettings& saved() const { return saved_; }
    bool recovered() const { return recovered_; }
    const std::filesystem::path& sysfs_dir() const { return sysfs_; }

private:
    void set(const std::string& name, const std::string& value);
    KsmSettings current() const;  // KSM settings, plus "thp" where the kernel has THP
    std::filesystem::path file_of(const std::string& name) const;
    std::filesystem::path sysfs_, state_, thp_;
    KsmSettings saved_;
    int lock_fd_ = -1;
    bool recovered_ = false;
    bool restored_ = false;
};

}  // namespace ht
