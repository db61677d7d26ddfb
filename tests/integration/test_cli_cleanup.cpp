// SPDX-License-Identifier: MIT
// Environment errors and interruption: one line, non-zero exit, nothing left behind.
#include "../run_binary.h"
#include "common.h"
#include "core/proc.h"

#include <csignal>
#include <dirent.h>
#include <thread>


TEST(CliCleanup, MissingImagesSayHowToBuildThem) {
    HT_REQUIRE_ROOT();
    BinaryResult r = run_hypetrace({"startup", "--kvm", "--images", "/nonexistent/images"});
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("scripts/build-images.sh"), std::string::npos) << r.err;
    EXPECT_TRUE(pids_with("/nonexistent/images").empty());
}

TEST(CliCleanup, UnwritableJsonIsRefusedBeforeAnyRun) {
    HT_REQUIRE_ROOT();
    BinaryResult r = run_hypetrace({"startup", "--native", "--json", "/nonexistent-dir/x.json"});
    EXPECT_EQ(r.code, 2);
    EXPECT_EQ(r.lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("/nonexistent-dir"), std::string::npos);
}

TEST(CliCleanup, CtrlCDuringBootStopsTheVmAndDetaches) {
    HT_REQUIRE_ROOT();
    char tmpl[] = "/tmp/ht-int-XXXXXX";
    std::string dir = mkdtemp(tmpl);
    ht::SpawnOptions o;
    o.stdout_path = dir + "/out";
    o.stderr_path = dir + "/err";
    o.own_process_group = false;
    std::string json = dir + "/r.json";
    ht::Child c = ht::spawn({HYPETRACE_BIN, "startup", "--kvm", "--accel", "tcg", "--runs", "1", "--warmup", "0",
                             "--json", json},
                            o);
    std::string needle = "ht-kvm-" + std::to_string(c.pid) + "-";
    bool seen = false;
    for (int i = 0; i < 200 && !seen; ++i) {
        seen = !pids_with(needle).empty();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(seen) << "QEMU never started: " << ht_slurp(dir + "/err");
    EXPECT_GE(hypetrace_bpf_programs(), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // mid-boot
    kill(c.pid, SIGINT);
    int st = 0;
    waitpid(c.pid, &st, 0);
    std::string err = ht_slurp(dir + "/err");
    ASSERT_TRUE(WIFEXITED(st)) << err;
    EXPECT_EQ(WEXITSTATUS(st), 130) << err;
    EXPECT_NE(err.find("interrupted"), std::string::npos) << err;
    EXPECT_TRUE(pids_with(needle).empty()) << "QEMU left running after Ctrl-C";
    EXPECT_EQ(hypetrace_bpf_programs(), 0) << "BPF programs still loaded after exit";
    EXPECT_FALSE(std::filesystem::exists(json)) << "a result file was written by an interrupted run";
    std::filesystem::remove_all(dir);
}
