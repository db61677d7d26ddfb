// SPDX-License-Identifier: MIT
// VMs through libvirtd: `hypetrace devices` end to end, and domains that die with hypetrace.
#include "common.h"
#include "core/host/spawn.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

namespace fs = std::filesystem;

namespace {

// Names of running libvirt domains (virsh), or nullopt if libvirtd does not answer.
std::optional<std::vector<std::string>> domains() {
    const TestTempDir tmp("/tmp/ht-virsh-XXXXXX");
    const std::string dir = tmp.path;
    ht::SpawnOptions o;
    o.stdout_path = dir + "/out";
    int rc = ht::run_and_wait({"virsh", "-c", "qemu:///system", "list", "--name"}, o);
    std::string text = ht_slurp(dir + "/out");
    if (rc != 0) return std::nullopt;
    std::vector<std::string> names;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) names.push_back(line);
    return names;
}

bool has_domain_with(const std::string& needle) {
    auto d = domains();
    if (!d) return false;
    for (const auto& n : *d)
        if (n.find(needle) != std::string::npos) return true;
    return false;
}

#define HT_REQUIRE_LIBVIRT()                                                                          \
    do {                                                                                              \
        HT_REQUIRE_ROOT();                                                                            \
        ASSERT_TRUE(domains()) << "libvirtd not running: scripts/start-libvirtd.sh starts it (scripts/test.sh does)"; \
    } while (0)

}  // namespace

TEST(Libvirt, DevicesMeasuresEachSetAndLeavesNoDomain) {
    HT_REQUIRE_LIBVIRT();
    const TestTempDir tmp("/tmp/ht-dev-XXXXXX");
    const std::string dir = tmp.path;
    BinaryResult r = run_hypetrace({"devices", "--guests", "1", "--sets", "none", "--json", dir + "/d.json"});
    ASSERT_EQ(r.code, 0) << r.err;
    std::ifstream in(dir + "/d.json");
    nlohmann::json j = nlohmann::json::parse(in);
    ASSERT_EQ(j["devices"].size(), 2u);  // the default domain is always the baseline
    EXPECT_EQ(j["devices"][0]["devices"], "default");
    EXPECT_EQ(j["devices"][1]["devices"], "none");
    for (const auto& d : j["devices"]) EXPECT_GT(double(d["per_vm_mb"]["mean"]), 50.0);
    EXPECT_TRUE(j["devices"][1]["saving_mb"].is_number());
    EXPECT_NE(r.out.find("Table 2"), std::string::npos);
    EXPECT_FALSE(has_domain_with("ht-mem-"));
}

// AUTODESTROY: even SIGKILL, which hypetrace cannot catch, leaves no domain running.
TEST(Libvirt, DomainDiesWithAKilledHypetrace) {
    HT_REQUIRE_LIBVIRT();
    std::string inotify_before = ht_slurp("/proc/sys/fs/inotify/max_user_instances");
    AsyncHypetrace h({"memory", "--kvm", "--driver", "libvirt", "--count", "1", "--ksm", "off"});
    std::string needle = "ht-mem-kvm-" + std::to_string(h.pid) + "-";
    bool seen = false;
    for (int i = 0; i < 300 && !seen; ++i) {
        seen = has_domain_with(needle);
        if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(seen) << "the domain never started: " << h.err();
    kill(h.pid, SIGKILL);
    h.wait();
    bool gone = false;
    for (int i = 0; i < 100 && !gone; ++i) {
        gone = !has_domain_with(needle);
        if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(gone) << "domain still running 10 s after hypetrace was killed";
    EXPECT_TRUE(pids_with(needle).empty()) << "its QEMU still runs";
    // SIGKILL also left the host settings it raised (the inotify limit) and its scratch directory:
    // the next run repairs both.
    BinaryResult next = run_hypetrace({"memory", "--lxc-app", "--count", "1", "--ksm", "off", "-q"});
    EXPECT_EQ(next.code, 0) << next.err;
    EXPECT_EQ(ht_slurp("/proc/sys/fs/inotify/max_user_instances"), inotify_before);
    EXPECT_FALSE(fs::exists("/run/hypetrace/settings.saved"));
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/var/tmp/hypetrace", ec))
        EXPECT_EQ(e.path().filename().string().find("-" + std::to_string(h.pid) + "-"), std::string::npos)
            << "scratch directory of the killed run still there: " << e.path();
}

// Table 3's KVM restore row through libvirt: virDomainSave of the booted domain, virDomainRestore
// per run, ready once the guest answers a ping. A restored domain cannot be auto-destroyed, so a
// run killed while one runs leaves it: `hypetrace cleanup` stops it. The lazy restore is refused
// in one line (libvirt names the RAM file itself).
TEST(Libvirt, RestoredDomainAnswersAPingAndAKilledRunsDomainIsStoppedByCleanup) {
    HT_REQUIRE_LIBVIRT();
    ASSERT_FALSE(has_domain_with("ht-checkpoint-")) << "a restored domain of another run is running";
    const TestTempDir tmp("/tmp/ht-lvrestore-XXXXXX");
    const std::string& dir = tmp.path;
    const std::string cache = dir + "/checkpoints", json = dir + "/r.json";
    BinaryResult lazy = run_hypetrace({"startup", "--kvm", "--driver", "libvirt", "--accel", "tcg", "--restore", "lazy",
                                       "--checkpoint-dir", cache});
    EXPECT_NE(lazy.code, 0);
    EXPECT_NE(lazy.err.find("--driver qemu"), std::string::npos) << lazy.err;
    EXPECT_FALSE(fs::exists(cache));

    BinaryResult r = run_hypetrace({"startup", "--kvm", "--driver", "libvirt", "--accel", "tcg", "--restore", "--runs", "2",
                                    "--warmup", "0", "--checkpoint-dir", cache, "--json", json});
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(ht_slurp(json));
    const nlohmann::json *cold = nullptr, *restored = nullptr;
    for (const auto& t : j["techniques"]) {
        if (t["technique"] == "kvm") cold = &t;
        if (t["technique"] == "kvm-restore") restored = &t;
    }
    ASSERT_TRUE(cold && restored) << j.dump().substr(0, 2000);
    ASSERT_EQ((*restored)["runs"].size(), 2u);
    for (const auto& run : (*restored)["runs"]) {
        std::string marks;
        for (const auto& m : run["marks"]) marks += m["name"].get<std::string>() + " ";
        EXPECT_NE(marks.find("state_load"), std::string::npos) << marks;
        EXPECT_NE(marks.find("resumed"), std::string::npos) << marks;
        EXPECT_NE(marks.find("ready"), std::string::npos) << marks;
        EXPECT_GT(run["ram_resident_at_ready_bytes"].get<double>(), 32.0 * (1 << 20)) << run.dump();
    }
    EXPECT_LT((*restored)["mean_s"].get<double>(), (*cold)["mean_s"].get<double>());
    EXPECT_GT((*restored)["checkpoint"]["state_bytes"].get<double>(), 32.0 * (1 << 20));
    EXPECT_FALSE(has_domain_with("ht-kvm-"));
    EXPECT_FALSE(has_domain_with("ht-checkpoint-"));

    // Killed while a restored domain runs (it keeps the checkpointed domain's name): it outlives
    // hypetrace until the next run or cleanup.
    AsyncHypetrace h({"startup", "--kvm", "--driver", "libvirt", "--accel", "tcg", "--restore", "--runs", "1", "--warmup",
                      "0", "--checkpoint-dir", cache});
    const std::string needle = "ht-checkpoint-";
    // The run names its restored domain in its scratch directory before asking libvirt for it;
    // the domain then runs for a second after it answered.
    const std::string prefix = "kvm-restore-" + std::to_string(h.pid) + "-";
    bool named = false, seen = false;
    for (int i = 0; i < 3000 && !named; ++i) {
        for (const char* parent : {"/run/hypetrace", "/var/tmp/hypetrace"}) {  // startup's, and the others'
            std::error_code ec;
            for (const auto& e : fs::directory_iterator(parent, ec))
                named = named || (e.path().filename().string().rfind(prefix, 0) == 0 && fs::exists(e.path() / "libvirt-domain"));
        }
        if (!named) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    for (int i = 0; i < 600 && named && !seen; ++i) {
        seen = has_domain_with(needle);
        if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_TRUE(seen) << "no restored domain appeared: " << h.err();
    kill(h.pid, SIGKILL);
    h.wait();
    BinaryResult c = run_hypetrace({"cleanup", "--checkpoints", "--checkpoint-dir", cache});
    EXPECT_EQ(c.code, 0) << c.err;
    EXPECT_NE(c.out.find("stopped libvirt domain " + needle), std::string::npos) << c.out;
    EXPECT_FALSE(has_domain_with(needle));
    EXPECT_TRUE(pids_with(needle).empty()) << "its QEMU still runs";
}
