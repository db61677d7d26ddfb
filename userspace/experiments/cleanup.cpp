// SPDX-License-Identifier: MIT
#include "experiments/cleanup.h"

#include "core/base/error.h"
#include "core/host/files.h"
#include "core/host/host_settings.h"
#include "core/host/proc.h"
#include "core/host/spawn.h"
#include "core/tracing/trace_dir.h"

#include <chrono>
#include <csignal>

namespace fs = std::filesystem;

namespace ht {

const std::vector<fs::path>& scratch_parents() {
    static const std::vector<fs::path> p{"/var/tmp/hypetrace", HostSettingsGuard::kStateDir};
    return p;
}

namespace {

// Ends what a dead run's spawned children left running (their environment names the run: a native
// runner's fio workers, orphaned when PDEATHSIG ended the runner); "" if there was nothing.
std::string end_processes_of_run(pid_t run) {
    std::vector<pid_t> pids = pids_with_env(kRunPidEnv, std::to_string(run));
    if (pids.empty()) return "";
    std::string names;
    for (pid_t p : pids) {
        std::string comm = process_comm(p);
        if (comm.empty()) comm = "?";
        if (names.find(comm) == std::string::npos) names += (names.empty() ? "" : ", ") + comm;
    }
    kill_processes(pids);  // up to 2 s for them to be gone
    return "ended " + std::to_string(pids.size()) + " process" + (pids.size() == 1 ? "" : "es") + " (" + names +
           ") that run " + std::to_string(run) + " started";
}

// A trace directory a killed run was writing (write_trace_dir's note): removed if its name is
// DIR.partial-PID of the run that wrote it; "" if there was none.
std::string remove_partial_trace(const fs::path& dir, pid_t run) {
    const auto path = read_text((dir / kTracePartialFile).string());
    if (!path || path->empty() || (*path)[0] != '/') return "";
    const fs::path partial(*path);
    const std::string suffix = ".partial-" + std::to_string(run);
    const std::string name = partial.filename().string();
    if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) return "";
    std::error_code ec;
    if (!fs::exists(partial, ec)) return "";
    fs::remove_all(partial, ec);
    return ec ? "" : "removed the unfinished trace directory " + partial.string();
}

}  // namespace

CleanupResult clean_dead_runs(const std::vector<Driver*>& reapers, bool ksm, const std::vector<fs::path>& parents,
                              const fs::path& checkpoint_cache) {
    CleanupResult r;
    auto half_made = clean_checkpoints(checkpoint_cache, false);
    r.undone.insert(r.undone.end(), half_made.removed.begin(), half_made.removed.end());
    r.kept.insert(r.kept.end(), half_made.kept.begin(), half_made.kept.end());
    for (const auto& parent : parents) {
        for (const auto& dir : stale_scratch_dirs(parent)) {
            bool keep = false;
            for (Driver* d : reapers) {
                auto reaped = d->reap(dir);
                for (auto& what : reaped.stopped) r.undone.push_back(what + ", left by a run that was killed");
                for (auto& what : reaped.still_running)
                    r.stuck.push_back(what + " (left by a run that was killed; " + dir.string() +
                                      " is kept so that a later cleanup tries again)");
                keep = keep || !reaped.still_running.empty();
            }
            // What the drivers do not know: a native workload's children (fio, orphaned when its
            // runner died with hypetrace).
            if (auto run = scratch_dir_owner(dir))  // stale_scratch_dirs found one for each
                for (const auto& what : {end_processes_of_run(*run), remove_partial_trace(dir, *run)})
                    if (!what.empty()) r.undone.push_back(what + ", left by a run that was killed");
            if (keep) continue;
            std::error_code ec;
            fs::remove_all(dir, ec);
            if (ec) r.kept.push_back("cannot remove " + dir.string() + ": " + ec.message());
            else r.undone.push_back("removed " + dir.string() + ", left by a run that was killed");
        }
    }
    for (Driver* d : reapers)
        for (auto& what : d->reap_host()) r.undone.push_back(what + ", left by runs that were killed or by liblxc");
    std::error_code ec;
    if (ksm && fs::exists(HostSettingsGuard::saved_path(), ec)) {
        try {
            HostSettingsGuard g;  // takes the lock; restores a dead run's saved settings
            g.settle_recovered();  // its guests were reaped above: ksmd frees their merges
            if (g.recovered()) r.undone.push_back("restored the KSM, THP and inotify settings a killed run changed");
        } catch (const UserError& e) {
            r.kept.push_back(std::string("host settings: ") + e.what());
        }
    }
    return r;
}

}  // namespace ht
