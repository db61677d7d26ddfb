// SPDX-License-Identifier: MIT
// Environment errors and interruption: one line, non-zero exit, nothing left behind.
#include "../run_binary.h"
#include "common.h"
#include "host_snapshot.h"
#include "core/host/proc.h"

#include <csignal>
#include <dirent.h>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
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

// A VM that is not ready in time is stopped, and the error says what QEMU said of it: running
// (stuck inside the guest) or paused (never resumed), beside its console's last lines.
TEST(CliCleanup, AVmNotReadyInTimeIsStoppedAndQemusRunStateIsSaid) {
    HT_REQUIRE_ROOT();
    const HostSnapshot before = HostSnapshot::take();
    BinaryResult r = run_hypetrace({"startup", "--kvm-app", "--accel", "tcg", "--timeout", "1", "--runs", "1",
                                    "--warmup", "0"});
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.err.find("not ready after 1 s"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("QEMU says the VM is running (running)"), std::string::npos) << r.err;
    EXPECT_EQ(HostSnapshot::take().changes_since(before), "");
}

TEST(CliCleanup, CtrlCDuringBootStopsTheVmAndDetaches) {
    HT_REQUIRE_ROOT();
    const TestTempDir tmp("/tmp/ht-int-XXXXXX");
    const std::string dir = tmp.path;
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
}

// A SIGKILLed `startup --lxc` left its daemonized container running for good: its scratch
// directory carried no pid, so no later run matched it. `hypetrace cleanup` stops the container
// and removes the directory; run again, it finds nothing.
TEST(CliCleanup, CleanupStopsTheContainerOfAKilledStartupRun) {
    HT_REQUIRE_ROOT();
    AsyncHypetrace h({"startup", "--lxc", "--runs", "30", "--warmup", "0"});
    const std::string needle = "ht-lxc-" + std::to_string(h.pid) + "-";
    // Kill hypetrace while one of its containers boots on its own: its monitor reparented and its
    // systemd already running services (so liblxc's start() has returned to hypetrace, long
    // before; a container whose start() is still waiting dies with its caller).
    auto booting_on_its_own = [&] {
        std::map<pid_t, pid_t> parent;
        DIR* d = opendir("/proc");
        while (dirent* e = readdir(d)) {
            pid_t p = atoi(e->d_name);
            if (p <= 0) continue;
            if (auto st = ht::parse_proc_stat(ht_slurp("/proc/" + std::string(e->d_name) + "/stat"))) parent[p] = st->ppid;
        }
        closedir(d);
        for (pid_t mon : pids_with(needle)) {
            if (ht_slurp("/proc/" + std::to_string(mon) + "/cmdline").rfind("[lxc monitor]", 0) != 0) continue;
            if (parent[mon] == h.pid) continue;
            std::size_t below = 0;  // the container's processes: descendants of its monitor
            for (const auto& [p, pp] : parent) {
                pid_t up = pp;
                for (int depth = 0; depth < 8 && up > 1 && up != mon; ++depth) up = parent.count(up) ? parent[up] : 0;
                if (up == mon) ++below;
            }
            if (below >= 4) return true;
        }
        return false;
    };
    ASSERT_TRUE(wait_for(booting_on_its_own, 120000)) << h.err();
    kill(h.pid, SIGKILL);
    h.wait();
    ASSERT_FALSE(pids_with(needle).empty()) << "expected the container to outlive SIGKILL";

    BinaryResult r = run_hypetrace({"cleanup"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("stopped container " + needle), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("removed /run/hypetrace/lxc-" + std::to_string(h.pid) + "-"), std::string::npos) << r.out;
    EXPECT_TRUE(wait_for([&] { return pids_with(needle).empty(); }, 10000)) << "the container still runs";
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/run/hypetrace", ec))
        EXPECT_EQ(e.path().filename().string().find("-" + std::to_string(h.pid) + "-"), std::string::npos) << e.path();

    BinaryResult again = run_hypetrace({"cleanup", "--json"});
    EXPECT_EQ(again.code, 0) << again.err;
    auto j = nlohmann::json::parse(again.out);
    EXPECT_TRUE(j["undone"].empty()) << again.out;
}

// Endurance: 100 start/stop cycles of a container and 100 of a VM (firmware only) in one process.
// hypetrace's open descriptors (BPF links and programs included) must be the same after the last
// as after the first; its resident memory may grow only by what the result keeps per run; no
// cgroup, container monitor, QEMU or BPF program is left on the host.
TEST(CliCleanup, HundredStartStopCyclesLeaveNothingBehind) {
    HT_REQUIRE_ROOT();
    auto cgroups = [] {  // liblxc's cgroups of hypetrace's containers, by container name
        std::set<std::string> names;
        std::error_code ec;
        for (auto it = std::filesystem::recursive_directory_iterator("/sys/fs/cgroup", ec);
             !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
            const std::string n = it->path().filename().string();
            if (it->is_directory(ec) && n.find(".ht-") != std::string::npos) names.insert(n.substr(n.find(".ht-") + 1));
        }
        return names;
    };
    const std::set<std::string> cgroups_before = cgroups();
    const TestTempDir tmp("/tmp/ht-endure-XXXXXX");
    const std::string dir = tmp.path;
    BinaryResult r = run_hypetrace({"startup", "--lxc-app", "--kvm-bios", "--accel", "tcg", "--runs", "100", "--warmup",
                                    "0", "-q", "--json", dir + "/r.json"});
    ASSERT_EQ(r.code, 0) << r.err;
    auto j = nlohmann::json::parse(ht_slurp(dir + "/r.json"));
    const auto& self = j["self"];
    const unsigned fds_first = self["open_fds"]["after_first_run"], fds_last = self["open_fds"]["after_last_run"];
    const uint64_t rss_first = self["rss_kb"]["after_first_run"], rss_last = self["rss_kb"]["after_last_run"];
    std::cout << "endurance: " << self["runs_between"] << " start/stop cycles after the first; open fds " << fds_first
              << " -> " << fds_last << "; RSS " << rss_first / 1024.0 << " -> " << rss_last / 1024.0 << " MiB; containers with cgroups left "
              << cgroups_before.size() << " -> " << cgroups().size() << std::endl;
    EXPECT_EQ(self["runs_between"], 199);
    EXPECT_EQ(fds_last, fds_first);
    EXPECT_LT(rss_last, rss_first + 16 * 1024) << "more than 16 MiB kept over 199 runs";
    // liblxc leaves each container's lxc.monitor cgroup (hybrid hosts); every stop removes those
    // it can, the last one's monitor outlives the run: at most that one, gone with the next
    // run's repair (or hypetrace cleanup).
    EXPECT_LE(cgroups().size(), cgroups_before.size() + 1);
    BinaryResult c = run_hypetrace({"cleanup"});
    EXPECT_EQ(c.code, 0) << c.err;
    EXPECT_EQ(cgroups(), cgroups_before) << c.out;
    EXPECT_TRUE(pids_with("[lxc monitor] /run/hypetrace").empty());
    EXPECT_TRUE(pids_with("qemu-system-x86_64 -name ht-").empty());
    EXPECT_EQ(hypetrace_bpf_programs(), 0);
}

// Found by the fault-injection test: a SIGKILLed native `io` run left fio's workers running (the
// runner died by PDEATHSIG, its children were orphaned), writing into a directory cleanup removed.
// Everything hypetrace spawns carries HYPETRACE_RUN_PID; cleanup ends what a dead run's children
// left. And a run killed while it wrote a trace directory leaves DIR.partial-PID, which cleanup
// removes through the note write_trace_dir keeps in /run/hypetrace.
TEST(CliCleanup, CleanupEndsWhatAKilledRunsChildrenLeftAndItsUnfinishedTrace) {
    HT_REQUIRE_ROOT();
    AsyncHypetrace h({"io", "--native", "--runs", "1", "--runtime", "30", "-q"});
    const std::string env = std::string(ht::kRunPidEnv) + "=" + std::to_string(h.pid);
    auto fio_of_run = [&] {
        std::vector<pid_t> out;
        for (pid_t p : pids_with("fio "))
            if (ht_slurp("/proc/" + std::to_string(p) + "/environ").find(env) != std::string::npos) out.push_back(p);
        return out;
    };
    ASSERT_TRUE(wait_for([&] { return fio_of_run().size() >= 2; }, 30000)) << h.err();  // fio and its workers
    kill(h.pid, SIGKILL);
    h.wait();
    ASSERT_FALSE(fio_of_run().empty()) << "expected fio to outlive a SIGKILLed run";

    // A dead run's unfinished trace directory and the note that names it.
    ht::Child gone = ht::spawn({"true"});
    waitpid(gone.pid, nullptr, 0);
    const TestTempDir tmp("/tmp/ht-partial-XXXXXX");
    const std::string parent = tmp.path;
    const std::string partial = parent + "/trace.partial-" + std::to_string(gone.pid);
    std::filesystem::create_directories(partial);
    std::ofstream(partial + "/samples.tsv") << "# cut short\n";
    const std::string note = "/run/hypetrace/trace-" + std::to_string(gone.pid) + "-test01";
    std::filesystem::create_directories(note);
    std::ofstream(note + "/partial") << partial;

    BinaryResult r = run_hypetrace({"cleanup"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("(fio) that run " + std::to_string(h.pid) + " started"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("removed the unfinished trace directory " + partial), std::string::npos) << r.out;
    EXPECT_TRUE(wait_for([&] { return fio_of_run().empty(); }, 3000)) << "fio still runs";
    EXPECT_FALSE(std::filesystem::exists(partial));
    EXPECT_FALSE(std::filesystem::exists(note));
    EXPECT_TRUE(std::filesystem::exists(parent)) << "only the partial directory goes";
}
