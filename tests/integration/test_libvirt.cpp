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
    char tmpl[] = "/tmp/ht-virsh-XXXXXX";
    std::string dir = mkdtemp(tmpl);
    ht::SpawnOptions o;
    o.stdout_path = dir + "/out";
    int rc = ht::run_and_wait({"virsh", "-c", "qemu:///system", "list", "--name"}, o);
    std::string text = ht_slurp(dir + "/out");
    fs::remove_all(dir);
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
    char tmpl[] = "/tmp/ht-dev-XXXXXX";
    std::string dir = mkdtemp(tmpl);
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
    fs::remove_all(dir);
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
