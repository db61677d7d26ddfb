// SPDX-License-Identifier: MIT
// `hypetrace cleanup`: undo what killed runs left.
#include "cli/commands.h"

#include "cli/options.h"
#include "core/base/json_text.h"
#include "drivers/libvirt/libvirt_driver.h"
#include "drivers/lxc/lxc_driver.h"
#include "experiments/cleanup.h"

#include <iostream>
#include <memory>

namespace ht {
namespace {

struct CleanupArgs {
    bool json = false;
    bool checkpoints = false;
    std::string checkpoint_dir = kDefaultCheckpointCache;
};

int cmd_cleanup(const CleanupArgs& a) {
    require_root("cleanup");
    LxcDriver lxc;
    LibvirtDriver libvirt;  // connects only for a dead run's restored domain
    CleanupResult r = clean_dead_runs({&lxc, &libvirt}, true, scratch_parents(), a.checkpoint_dir);
    if (a.checkpoints) {  // the cache itself, on request
        auto c = clean_checkpoints(a.checkpoint_dir, true);
        r.undone.insert(r.undone.end(), c.removed.begin(), c.removed.end());
        r.kept.insert(r.kept.end(), c.kept.begin(), c.kept.end());
    }
    if (a.json) {
        std::cout << dump_json(worded_json(nlohmann::json{{"undone", r.undone}, {"kept", r.kept}, {"stuck", r.stuck}}), 2)
                  << "\n";
        return r.stuck.empty() ? 0 : 1;
    }
    for (const auto& l : r.undone) std::cout << "undone: " << worded(l) << "\n";
    for (const auto& l : r.kept) std::cout << "kept:   " << worded(l) << "\n";
    for (const auto& l : r.stuck) std::cout << "stuck:  " << worded(l) << "\n";
    if (r.undone.empty() && r.stuck.empty())
        std::cout << "nothing left by killed runs" << (r.kept.empty() ? "" : " (what is kept belongs to a live run)") << "\n";
    else if (!r.undone.empty())
        std::cout << r.undone.size() << " thing" << (r.undone.size() > 1 ? "s" : "") << " left by killed runs undone\n";
    if (!r.stuck.empty()) {
        std::cout << r.stuck.size() << " guest" << (r.stuck.size() > 1 ? "s" : "")
                  << " of killed runs could not be stopped: stop them by hand, or run hypetrace cleanup again\n";
        return 1;
    }
    return 0;
}

}  // namespace

Command add_cleanup(CLI::App& app) {
    auto a = std::make_shared<CleanupArgs>();
    auto* cleanup = app.add_subcommand("cleanup", "Undo what killed runs left: their containers, scratch directories, "
                                                  "KSM/THP/inotify settings");
    cleanup->add_flag("--json", a->json, "print what was undone and kept as JSON");
    cleanup->add_flag("--checkpoints", a->checkpoints, "also remove every checkpoint kept for startup --restore "
                                                       "(they are made again when next needed)");
    cleanup->add_option("--checkpoint-dir", a->checkpoint_dir, "where the checkpoints are")->capture_default_str();
    cleanup->footer("Examples:\n"
                    "  hypetrace cleanup          # after a run was killed with SIGKILL, or the host crashed\n"
                    "  hypetrace cleanup --json\n"
                    "  hypetrace cleanup --checkpoints   # also the checkpoints startup --restore keeps\n"
                    "Every experiment does the same at its start; a live run's guests, files and settings are kept.\n"
                    "Exit status 0 whether or not anything was found.");
    return {cleanup, [a] { return cmd_cleanup(*a); }};
}

}  // namespace ht
