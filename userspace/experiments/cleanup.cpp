// SPDX-License-Identifier: MIT
#include "experiments/cleanup.h"

#include "core/error.h"
#include "core/files.h"
#include "core/host_settings.h"

namespace fs = std::filesystem;

namespace ht {

const std::vector<fs::path>& scratch_parents() {
    static const std::vector<fs::path> p{"/var/tmp/hypetrace", HostSettingsGuard::kStateDir};
    return p;
}

CleanupResult clean_dead_runs(const std::vector<Driver*>& reapers, bool ksm, const std::vector<fs::path>& parents) {
    CleanupResult r;
    for (const auto& parent : parents) {
        for (const auto& dir : stale_scratch_dirs(parent)) {
            for (Driver* d : reapers)
                for (auto& what : d->reap(dir)) r.undone.push_back(what + ", left by a run that was killed");
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
