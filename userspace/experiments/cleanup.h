// SPDX-License-Identifier: MIT
// What runs killed with SIGKILL (or a crash) left behind, found and undone: their guests that
// outlive them (liblxc daemonizes containers), their scratch directories (named PREFIX-PID-XXXXXX,
// the PID no longer alive) and the host settings they changed (KSM, THP, inotify: written back from
// /run/hypetrace/settings.saved, which every run writes before it changes one). A live run's files
// and settings are left alone. `hypetrace cleanup` runs it on demand; every experiment runs it at
// start.
#pragma once
#include "drivers/guest.h"
#include "experiments/checkpoint.h"

#include <filesystem>
#include <string>
#include <vector>

namespace ht {

// Where runs keep their scratch directories.
const std::vector<std::filesystem::path>& scratch_parents();

struct CleanupResult {
    std::vector<std::string> undone;  // one line per thing undone
    std::vector<std::string> kept;    // one line per thing found that belongs to a live run
    // one line per guest of a dead run its backend could not stop (its scratch directory is kept,
    // so the next cleanup tries again)
    std::vector<std::string> stuck;
};

// Stops what `reapers` find in each dead run's scratch directory and removes it; with `ksm`,
// restores host settings a dead run left changed (where a run saved them and no live run holds
// them). Never throws for what it finds; each line says what was done.
// Checkpoints a killed run left half-made in `checkpoint_cache` are removed too (whole ones are a
// cache, kept: `hypetrace cleanup --checkpoints` removes them, experiments/checkpoint).
CleanupResult clean_dead_runs(const std::vector<Driver*>& reapers, bool ksm,
                              const std::vector<std::filesystem::path>& parents = scratch_parents(),
                              const std::filesystem::path& checkpoint_cache = kDefaultCheckpointCache);

}  // namespace ht
