// SPDX-License-Identifier: MIT
// clean_dead_runs with a backend that could not stop what a dead run left: the line says so, and
// the scratch directory that names the guest is kept for a later cleanup; one it stopped is removed.
#include "experiments/cleanup.h"
#include "fakes.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

using namespace ht;
namespace fs = std::filesystem;

namespace {

class StubbornDriver : public fake::Driver {
public:
    StubbornDriver() : fake::Driver(fake::Boot::ready) {}
    Reaped reap(const fs::path& run_dir) noexcept override {
        Reaped r;
        std::ifstream in(run_dir / "guest");
        std::string name;
        if (!std::getline(in, name)) return r;
        if (name == "stubborn") r.still_running.push_back("guest stubborn would not stop");
        else r.stopped.push_back("stopped guest " + name);
        return r;
    }
};

pid_t dead_pid() {
    const pid_t p = fork();
    if (p == 0) _exit(0);
    waitpid(p, nullptr, 0);
    return p;
}

}  // namespace

TEST(Cleanup, AGuestABackendCouldNotStopKeepsItsScratchDirectory) {
    const TestTempDir parent{fake::kTempDir};
    const pid_t dead = dead_pid();
    const fs::path stubborn = fs::path(parent.path) / ("startup-" + std::to_string(dead) + "-aaaaaa");
    const fs::path meek = fs::path(parent.path) / ("startup-" + std::to_string(dead) + "-bbbbbb");
    for (const auto& [dir, name] : {std::pair{stubborn, "stubborn"}, std::pair{meek, "meek"}}) {
        fs::create_directories(dir);
        std::ofstream(dir / "guest") << name << "\n";
    }
    StubbornDriver d;
    const auto r = clean_dead_runs({&d}, false, {parent.path}, fs::path(parent.path) / "no-checkpoints");
    std::string kept, undone;
    for (const auto& k : r.stuck) kept += k + "\n";
    for (const auto& u : r.undone) undone += u + "\n";
    EXPECT_TRUE(fs::exists(stubborn)) << undone;
    EXPECT_NE(kept.find("guest stubborn would not stop (left by a run that was killed; " + stubborn.string() + " is kept"),
              std::string::npos) << kept;
    EXPECT_FALSE(fs::exists(meek));
    EXPECT_NE(undone.find("stopped guest meek, left by a run that was killed"), std::string::npos) << undone;
    EXPECT_NE(undone.find("removed " + meek.string()), std::string::npos) << undone;
    EXPECT_EQ(undone.find("stubborn"), std::string::npos) << undone;
}
