// SPDX-License-Identifier: MIT
#include "experiments/cleanup.h"

#include "core/error.h"
#include "core/files.h"
#include "core/host_settings.h"
#include "core/proc.h"

#include <chrono>
#include <csignal>
#include <thread>

namespace fs = std::filesystem;

namespace ht {

const std::vector<fs::path>& scratch_parents() {
    static const std::vector<fs::path> p{"/var/tmp/hypetrace", HostSettingsGuard::kStateDir};
    return p;
}

namespace {

// Kills what still works in a dead run's directory; "" if nothing did, else what was ended.
std::string end_processes_using(const fs::path& dir) {
    std::vector<pid_t> pids = pids_using(dir.string());
    if (pids.empty()) return "";
    std::string names;
    for (pid_t p : pids) {
        std::string comm = read_text("/proc/" + std::to_string(p) + "/comm").value_or("?");
        while (!comm.empty() && comm.back() == '\n') comm.pop_back();
        if (names.find(comm) == std::string::npos) names += (names.empty() ? "" : ", ") + comm;
        kill(p, SIGKILL);
    }
    for (int i = 0; i < 200; ++i) {  // up to 2 s for them to be gone
        bool any = false;
        for (pid_t p : pids) any = any || process_alive(p);
        if (!any) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return "ended " + std::to_string(pids.size()) + " process" + (pids.size() == 1 ? "" : "es") + " (" + names +
           ") still working in " + dir.string();
}

}  // namespace

CleanupResult clean_dead_runs(const std::vector<Driver*>& reapers, bool ksm, const std::vector<fs::path>& parents) {
    CleanupResult r;
    for (const auto& parent : parents) {
        for (const auto& dir : stale_scratch_dirs(parent)) {
            for (Driver* d : reapers)
                for (auto& what : d->reap(dir)) r.undone.push_back(what + ", left by a run that was killed");
            // What the drivers do not know: a native workload's children (fio, orphaned when its
            // runner died with hypetrace), anything else still working in the directory.
            if (auto what = end_processes_using(dir); !what.empty()) r.undone.push_back(what + ", left by a run that was killed");
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
            if (g.recovered()) r.undone.push_back("restored the KSM, THP and inotify settings a killed run changed");
        } catch (const UserError& e) {
            r.kept.push_back(std::string("host settings: ") + e.what());
        }
    }
    return r;
}

}  // namespace ht
