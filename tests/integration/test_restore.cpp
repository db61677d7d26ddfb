// SPDX-License-Identifier: MIT
// hypetrace startup --restore on the real thing, through the binary: a full QEMU VM (TCG here)
// checkpointed once booted, eagerly (its RAM in the saved state) and lazily (its RAM a file the
// restored VM maps and faults in), each restored VM ready only once it answered a ping through
// the guest; the checkpoints kept and reused, then removed by `hypetrace cleanup --checkpoints`.
// Nothing else is left behind: no QEMU, no BPF program, no scratch directory.
// Containers through liblxc's checkpoint/restore (CRIU): restored and proven by a ping where
// `criu check` passes (the nested lab's 6.1 kernel), refused with criu's reason where it fails.
#include "common.h"
#include "host_snapshot.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <map>

namespace {

namespace fs = std::filesystem;

const nlohmann::json* technique(const nlohmann::json& d, const std::string& id) {
    for (const auto& t : d["techniques"])
        if (t["technique"] == id) return &t;
    return nullptr;
}

std::string mark_names(const nlohmann::json& run) {
    std::string s;
    for (const auto& m : run["marks"]) s += m["name"].get<std::string>() + " ";
    return s;
}

}  // namespace

TEST(Restore, AVmRestoredEagerAndLazyAnswersAPingSoonerThanItBootsAndItsCheckpointsAreReused) {
    HT_REQUIRE_ROOT();
    const HostSnapshot before = HostSnapshot::take();
    const TestTempDir tmp("/tmp/ht-restore-XXXXXX");
    const std::string& dir = tmp.path;
    const std::string cache = dir + "/checkpoints", json = dir + "/r.json";
    BinaryResult r = run_hypetrace({"startup", "--kvm", "--accel", "tcg", "--restore", "both", "--runs", "2",
                                    "--warmup", "0", "--checkpoint-dir", cache, "--json", json});
    ASSERT_EQ(r.code, 0) << r.err;
    const auto d = nlohmann::json::parse(ht_slurp(json));
    const auto* cold = technique(d, "kvm");
    const auto* eager = technique(d, "kvm-restore");
    const auto* lazy = technique(d, "kvm-restore-lazy");
    ASSERT_TRUE(cold && eager && lazy) << d["techniques"].dump();
    EXPECT_EQ((*eager)["restore"], "eager");
    EXPECT_EQ((*lazy)["restore"], "lazy");
    EXPECT_EQ((*eager)["paper_s"], 1.192);
    // A restored VM skips the boot: it answers before a cold one is even past its kernel.
    EXPECT_LT((*eager)["mean_s"].get<double>(), (*cold)["mean_s"].get<double>());
    EXPECT_LT((*lazy)["mean_s"].get<double>(), (*cold)["mean_s"].get<double>());
    for (const auto* t : {eager, lazy}) {
        EXPECT_FALSE((*t)["checkpoint"]["reused"].get<bool>());
        EXPECT_EQ((*t)["checkpoint"]["ping_rtt_ms"].size(), 9u);
        for (const auto& run : (*t)["runs"]) {
            const std::string names = mark_names(run);
            // ready is the answer to a ping, after QEMU loaded the state and ran the guest again
            EXPECT_EQ(names, "launch qemu_exec state_load resumed ready ") << (*t)["technique"];
            EXPECT_GT(run["total_s"].get<double>(), 0);
            ASSERT_TRUE(run["ram_resident_at_ready_bytes"].is_number()) << run.dump();
        }
    }
    // Lazy: the guest RAM is faulted in on demand, so it answers with under half of it resident;
    // its saved state holds no RAM, the eager one does.
    for (const auto& run : (*lazy)["runs"])
        EXPECT_LT(run["ram_resident_at_ready_bytes"].get<double>(), 512.0 * (1 << 20)) << run.dump();
    EXPECT_LT((*lazy)["checkpoint"]["state_bytes"].get<double>(), 16.0 * (1 << 20));
    EXPECT_GT((*eager)["checkpoint"]["state_bytes"].get<double>(), 32.0 * (1 << 20));
    EXPECT_GT((*lazy)["checkpoint"]["ram_file_bytes"].get<double>(), 32.0 * (1 << 20));
    EXPECT_NE(r.out.find("From a checkpoint (Table 3's restore rows)"), std::string::npos) << r.out;
    // What QEMU read until it answered (/proc/PID/io): the eager one its whole saved state through
    // the pipe, the lazy one far less (its RAM comes in by page faults on the mapped file instead).
    const double eager_state = (*eager)["checkpoint"]["state_bytes"].get<double>();
    for (const auto& run : (*eager)["runs"]) {
        ASSERT_TRUE(run["main_process_at_ready"].is_object()) << run.dump();
        EXPECT_GE(run["main_process_at_ready"]["rchar_bytes"].get<double>(), eager_state) << run.dump();
    }
    for (const auto& run : (*lazy)["runs"]) {
        ASSERT_TRUE(run["main_process_at_ready"].is_object()) << run.dump();
        EXPECT_LT(run["main_process_at_ready"]["rchar_bytes"].get<double>(), eager_state / 2) << run.dump();
        EXPECT_GT(run["main_process_at_ready"]["minor_faults"].get<double>(), 0) << run.dump();
    }
    EXPECT_NE(r.out.find("QEMU when it answered (mean per run;"), std::string::npos) << r.out;

    // Again: the lazy checkpoint is reused, nothing is booted for it.
    r = run_hypetrace({"startup", "--kvm", "--accel", "tcg", "--restore", "lazy", "--runs", "1", "--warmup", "0",
                       "--checkpoint-dir", cache, "--json", json});
    ASSERT_EQ(r.code, 0) << r.err;
    const auto again = nlohmann::json::parse(ht_slurp(json));
    const auto* reused = technique(again, "kvm-restore-lazy");
    ASSERT_TRUE(reused);
    EXPECT_TRUE((*reused)["checkpoint"]["reused"].get<bool>()) << (*reused)["checkpoint"].dump();
    EXPECT_EQ(r.err.find("booting the guest to save it"), std::string::npos) << r.err;

    // cleanup --checkpoints removes both; nothing else is left
    r = run_hypetrace({"cleanup", "--checkpoints", "--checkpoint-dir", cache});
    EXPECT_EQ(r.code, 0) << r.err;
    std::size_t removed = 0;
    for (std::size_t at = r.out.find("removed the checkpoint"); at != std::string::npos;
         at = r.out.find("removed the checkpoint", at + 1))
        ++removed;
    EXPECT_EQ(removed, 2u) << r.out;
    EXPECT_TRUE(fs::is_empty(cache));
    EXPECT_EQ(HostSnapshot::take().changes_since(before), "");
}

// Cold containers are measured either way. Where `criu check` fails (this machine kind's kernel)
// both restore rows are refused with its reason. Where it passes, LXC-bash is restored by CRIU and
// ready once bash itself answered a ping; the systemd container is either restored the same way or
// refused with what CRIU said it could not save or reopen (never a failure of the whole run); the
// checkpoint is reused by the next run and removed by cleanup.
TEST(Restore, ContainersRestoredByCriuAnswerAPingOrAreRefusedWithCriusReason) {
    HT_REQUIRE_ROOT();
    const HostSnapshot before = HostSnapshot::take();
    const TestTempDir tmp("/tmp/ht-restore-lxc-XXXXXX");
    const std::string cache = tmp.path + "/checkpoints", json = tmp.path + "/r.json";
    BinaryResult r = run_hypetrace({"startup", "--lxc", "--lxc-app", "--restore", "--runs", "2", "--warmup", "1",
                                    "--checkpoint-dir", cache, "--json", json});
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string first_run = r.err;  // its progress lines: what CRIU did, for a failure below
    const auto d = nlohmann::json::parse(ht_slurp(json));
    ASSERT_TRUE(technique(d, "lxc") && technique(d, "lxc-app")) << d["techniques"].dump();
    std::map<std::string, std::string> refused;
    for (const auto& n : d["not_measured"]) refused[n["technique"]] = n["reason"];
    const bool criu_works = std::system("criu check >/dev/null 2>&1") == 0;
    if (!criu_works) {
        for (const std::string label : {"LXC restore", "LXC-bash restore"}) {
            ASSERT_TRUE(refused.count(label)) << label << " " << d["not_measured"].dump();
            EXPECT_EQ(refused[label].rfind("criu check fails on this kernel", 0), 0u) << refused[label];
        }
        EXPECT_NE(r.out.find("LXC-bash restore: not measured: criu check fails"), std::string::npos) << r.out;
        EXPECT_EQ(HostSnapshot::take().changes_since(before), "");
        return;
    }
    const auto* app = technique(d, "lxc-app-restore");
    ASSERT_TRUE(app) << "LXC-bash restore not measured: " << refused["LXC-bash restore"];
    EXPECT_EQ((*app)["paper_s"], 0.072);
    EXPECT_FALSE((*app)["checkpoint"]["reused"].get<bool>());
    EXPECT_EQ((*app)["checkpoint"]["ping_rtt_ms"].size(), 9u);
    ASSERT_EQ((*app)["runs"].size(), 3u);
    for (const auto& run : (*app)["runs"]) {
        // CRIU ran, let bash run again, and bash answered the ping
        EXPECT_EQ(mark_names(run), "launch criu_exec resumed ready ") << run.dump();
        EXPECT_GT(run["total_s"].get<double>(), 0);
    }
    if (const auto* full = technique(d, "lxc-restore")) {
        for (const auto& run : (*full)["runs"]) EXPECT_EQ(mark_names(run), "launch criu_exec resumed ready ");
    } else {
        ASSERT_TRUE(refused.count("LXC restore")) << d["not_measured"].dump();
        EXPECT_NE(refused["LXC restore"].find("CRIU could not"), std::string::npos) << refused["LXC restore"];
    }
    EXPECT_NE(r.out.find("LXC-bash restore: "), std::string::npos) << r.out;

    // Again: reused, nothing booted for it
    r = run_hypetrace({"startup", "--lxc-app", "--restore", "--runs", "1", "--warmup", "0", "--checkpoint-dir", cache,
                       "--json", json});
    ASSERT_EQ(r.code, 0) << r.err;
    const auto again = nlohmann::json::parse(ht_slurp(json));
    const auto* reused = technique(again, "lxc-app-restore");
    ASSERT_TRUE(reused);
    EXPECT_TRUE((*reused)["checkpoint"]["reused"].get<bool>()) << (*reused)["checkpoint"].dump();

    r = run_hypetrace({"cleanup", "--checkpoints", "--checkpoint-dir", cache});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(fs::is_empty(cache));
    EXPECT_EQ(HostSnapshot::take().changes_since(before), "") << first_run;
}
