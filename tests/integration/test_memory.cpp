// SPDX-License-Identifier: MIT
// `hypetrace memory` and `hypetrace devices` on the real host: PSS sums against smem, KSM owned
// and restored on every path, footprints that behave as the paper says, libvirt domains that do
// not outlive hypetrace.
#include "common.h"
#include "core/host/console.h"
#include "core/host/files.h"
#include "core/host/host_settings.h"
#include "core/memscan/memusage.h"
#include "core/host/spawn.h"
#include "drivers/lxc/lxc_driver.h"

#include <fcntl.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sys/file.h>
#include <thread>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const fs::path kKsm = "/sys/kernel/mm/ksm";

std::string images_dir() {
    const char* env = std::getenv("HYPETRACE_IMAGE_DIR");
    return env && *env ? env : "/var/cache/hypetrace/images";
}

#define HT_REQUIRE_KSM()                                                                       \
    do {                                                                                       \
        HT_REQUIRE_ROOT();                                                                     \
        if (!fs::exists(kKsm / "run")) GTEST_SKIP() << "kernel without KSM (CONFIG_KSM)"; \
    } while (0)

std::string ksm_value(const std::string& name) {
    std::string s = ht::read_text((kKsm / name).string()).value_or("?");
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
}

json load(const std::string& path) {
    std::ifstream in(path);
    return json::parse(in);
}

const json& series(const json& j, const std::string& technique, bool ksm) {
    for (const auto& s : j["series"])
        if (s["technique"] == technique && s["ksm"] == ksm) return s;
    throw std::runtime_error("no series " + technique);
}

}  // namespace

// smem (Debian's) sums Pss of /proc/PID/smaps; hypetrace reads smaps_rollup. Same processes, an
// idle full container: the sums must agree within 1%.
TEST(Memory, PssSumsAgreeWithSmem) {
    HT_REQUIRE_ROOT();
    ASSERT_FALSE(ht::which("smem").empty()) << "smem missing: scripts/setup.sh installs it";
    ht::ScratchDir dir("/var/tmp/hypetrace", "smem-test");
    ht::GuestSpec spec;
    spec.name = "ht-smem-" + std::to_string(getpid());
    spec.variant = ht::Variant::full;
    spec.images.dir = images_dir();
    spec.run_dir = dir.path();
    spec.rootfs = ht::RootfsMode::shared;
    ht::LxcDriver lxc;
    lxc.preflight(spec);
    auto guest = lxc.create(spec);
    ht::ConsoleWatcher w(dir.path(), guest->console_files(), guest->milestones());
    guest->start();
    ASSERT_TRUE(wait_for([&] { w.poll(); return w.hit("ready").has_value(); }, 30000)) << guest->failure_hint();
    std::this_thread::sleep_for(std::chrono::seconds(2));  // let the last services go idle
    std::vector<pid_t> pids = guest->pids();
    ASSERT_GE(pids.size(), 3u);

    ht::MemUsage ours = ht::read_processes_memory(pids);
    std::string out = dir.path() / "smem.out";
    ht::SpawnOptions o;
    o.stdout_path = out;
    ASSERT_EQ(ht::run_and_wait({"smem", "-H", "-c", "pid pss"}, o), 0);
    std::map<pid_t, uint64_t> smem;
    std::istringstream in(ht_slurp(out));
    pid_t pid;
    uint64_t pss;
    while (in >> pid >> pss) smem[pid] = pss;
    uint64_t theirs = 0;
    for (pid_t p : pids) {
        ASSERT_TRUE(smem.count(p)) << "smem did not list pid " << p;
        theirs += smem[p];
    }
    guest->stop();
    ASSERT_GT(ours.pss_kb, 1000u);
    double diff = std::fabs(double(ours.pss_kb) - double(theirs)) / double(theirs);
    EXPECT_LT(diff, 0.01) << "hypetrace " << ours.pss_kb << " kB, smem " << theirs << " kB over " << pids.size()
                          << " processes";
}

TEST(Memory, SigtermRestoresKsmAndStopsEveryGuest) {
    HT_REQUIRE_KSM();
    ht::KsmSettings before = ht::read_ksm_settings(kKsm);
    std::string thp = thp_mode();
    std::string other = thp == "never" ? "always" : "never";
    AsyncHypetrace h({"memory", "--lxc", "--count", "1,2,4,8", "--ksm", "on", "--ksm-pages-to-scan", "777", "--thp", other});
    // run=1 is written last, after the scan rate.
    ASSERT_TRUE(wait_for([] { return ksm_value("pages_to_scan") == "777" && ksm_value("run") == "1"; }, 20000))
        << h.err();
    std::string needle = "ht-mem-lxc-" + std::to_string(h.pid) + "-";
    ASSERT_TRUE(wait_for([&] { return !pids_with(needle).empty(); }, 20000)) << h.err();
    kill(h.pid, SIGTERM);
    BinaryResult r = h.wait();
    EXPECT_EQ(r.code, 143) << r.err;
    EXPECT_EQ(ht::read_ksm_settings(kKsm), before) << "KSM settings not restored after SIGTERM";
    EXPECT_EQ(thp_mode(), thp) << "THP mode not restored after SIGTERM";
    EXPECT_FALSE(fs::exists("/run/hypetrace/settings.saved"));
    EXPECT_TRUE(pids_with(needle).empty()) << "a container outlived hypetrace";
    EXPECT_TRUE(r.out.empty()) << "an interrupted run printed a result";
}

TEST(Memory, RefusesWhileAnotherRunOwnsKsm) {
    HT_REQUIRE_KSM();
    ht::KsmSettings before = ht::read_ksm_settings(kKsm);
    fs::create_directories("/run/hypetrace");
    int fd = open("/run/hypetrace/settings.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    ASSERT_EQ(fcntl(fd, F_SETLK, &fl), 0) << "another run holds the lock now";
    BinaryResult r = run_hypetrace({"memory", "--lxc-app", "--count", "1", "--ksm", "on"});
    close(fd);
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_EQ(r.lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("owns KSM"), std::string::npos) << r.err;
    EXPECT_EQ(ht::read_ksm_settings(kKsm), before);
}

TEST(Memory, NextRunRepairsKsmAfterAKilledRun) {
    HT_REQUIRE_KSM();
    ht::KsmSettings before = ht::read_ksm_settings(kKsm);
    // What a SIGKILLed run leaves: its saved copy of the host's settings, and KSM changed.
    fs::create_directories("/run/hypetrace");
    std::ofstream("/run/hypetrace/settings.saved") << ht::format_ksm_settings(before);
    std::ofstream((kKsm / "pages_to_scan").string()) << "4321";
    ASSERT_EQ(ksm_value("pages_to_scan"), "4321");
    BinaryResult r = run_hypetrace({"memory", "--lxc-app", "--count", "1", "--ksm", "off"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("restored"), std::string::npos) << r.err;
    EXPECT_EQ(ht::read_ksm_settings(kKsm), before);
}

// Kernel 6.9+: while KSM's advisor is on (advisor_mode=scan-time) the kernel refuses a write to
// pages_to_scan. A run that found the advisor on turns it off to set its scan rate; restoring must
// write pages_to_scan before the advisor goes back on, or the restore fails and settings.saved
// stays behind (every later run then refuses to start).
TEST(Memory, KsmAdvisorOnIsRestoredAndNothingLeftBehind) {
    HT_REQUIRE_KSM();
    if (!fs::exists(kKsm / "advisor_mode")) GTEST_SKIP() << "this kernel has no KSM advisor (6.9+)";
    const ht::KsmSettings before = ht::read_ksm_settings(kKsm);
    auto put = [](const std::string& name, const std::string& v) { std::ofstream((kKsm / name).string()) << v; };
    put("advisor_mode", "scan-time");
    ASSERT_EQ(ksm_value("advisor_mode"), "none [scan-time]");
    const std::string pages_with_advisor = ksm_value("pages_to_scan");
    const TestTempDir state_dir("/tmp/ht-ksm-state-XXXXXX");
    const fs::path state = state_dir.path;
    std::string failures;
    {
        ht::HostSettingsGuard g(kKsm, state, {});
        g.enable(4321, 20);
        EXPECT_EQ(ksm_value("advisor_mode"), "[none] scan-time");
        EXPECT_EQ(ksm_value("pages_to_scan"), "4321");
        EXPECT_TRUE(g.restore()) << g.restore_failures();
        failures = g.restore_failures();
    }
    EXPECT_EQ(ksm_value("advisor_mode"), "none [scan-time]");
    EXPECT_EQ(ksm_value("run"), before.at("run"));
    EXPECT_EQ(ksm_value("pages_to_scan"), pages_with_advisor);
    EXPECT_FALSE(fs::exists(state / "settings.saved")) << failures;
    // the host as it was
    put("advisor_mode", before.at("advisor_mode"));
    for (const auto& name : ht::ksm_restore_order(before))
        if (ht::read_ksm_settings(kKsm).at(name) != before.at(name)) put(name, before.at(name));
    EXPECT_EQ(ht::read_ksm_settings(kKsm), before);
}

// liblxc daemonizes containers: they outlive a SIGKILLed hypetrace. The next run stops them and
// removes the dead run's scratch directories (and restores what it changed on the host).
TEST(Memory, NextRunStopsContainersAKilledRunLeft) {
    HT_REQUIRE_KSM();
    std::string inotify_before = ht_slurp("/proc/sys/fs/inotify/max_user_instances");
    AsyncHypetrace h({"memory", "--lxc", "--count", "2,8", "--ksm", "off", "--settle-timeout", "60"});
    std::string needle = "ht-mem-lxc-" + std::to_string(h.pid) + "-";
    // Two containers running on their own: hypetrace says both are ready, both monitors reparented.
    ASSERT_TRUE(wait_for([&] { return h.err().find("] 2 ready after") != std::string::npos; }, 30000)) << h.err();
    ASSERT_TRUE(wait_for([&] { return daemonized_lxc_monitors(needle, h.pid) >= 2; }, 30000)) << h.err();
    kill(h.pid, SIGKILL);
    h.wait();
    ASSERT_FALSE(pids_with(needle).empty()) << "expected the containers to outlive SIGKILL";
    BinaryResult next = run_hypetrace({"memory", "--lxc-app", "--count", "1", "--ksm", "off"});
    EXPECT_EQ(next.code, 0) << next.err;
    EXPECT_NE(next.err.find("left by a run that was killed"), std::string::npos) << next.err;
    EXPECT_TRUE(pids_with(needle).empty()) << "a killed run's container still runs after the next run";
    EXPECT_EQ(ht_slurp("/proc/sys/fs/inotify/max_user_instances"), inotify_before);
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/var/tmp/hypetrace", ec))
        EXPECT_EQ(e.path().filename().string().find("-" + std::to_string(h.pid) + "-"), std::string::npos) << e.path();
}

// Containers share their rootfs's page cache: the second one costs less than the first, and the
// mean per container falls. hypetrace's own RSS stays under the 50 MB target.
TEST(Memory, ContainerFootprintFallsAsTheyShareFiles) {
    HT_REQUIRE_KSM();
    const TestTempDir tmp("/tmp/ht-mem-XXXXXX");
    const std::string dir = tmp.path;
    BinaryResult r = run_hypetrace({"memory", "--lxc", "--lxc-app", "--count", "1,3", "--ksm", "off", "--json",
                                    dir + "/m.json", "--plot", dir + "/m.svg"});
    ASSERT_EQ(r.code, 0) << r.err;
    json j = load(dir + "/m.json");
    EXPECT_EQ(j["schema_version"], 1);
    for (const char* t : {"lxc", "lxc-app"}) {
        const json& s = series(j, t, false);
        ASSERT_EQ(s["steps"].size(), 2u);
        double one = s["steps"][0]["per_guest_mb"]["mean"], three = s["steps"][1]["per_guest_mb"]["mean"];
        EXPECT_GT(one, 0.5) << t;
        EXPECT_LT(three, one) << t << ": sharing files did not lower the mean footprint";
        EXPECT_LT(double(s["steps"][1]["incremental_mb"]), one) << t;
        EXPECT_GT(s["steps"][0]["traced_page_faults"].get<uint64_t>(), 100u) << t << ": page faults not traced";
        for (const auto& g : s["steps"][1]["per_guest"]) {
            EXPECT_GT(g["memory"]["processes"].get<int>(), 0);
            EXPECT_TRUE(g.contains("helper")) << "LXC monitor not reported apart";
            EXPECT_GT(g["traced_page_faults"].get<uint64_t>(), 10u) << t << ": a guest's faults not traced";
        }
    }
    EXPECT_LT(double(j["self_peak_rss_mb"]), 50.0);
    EXPECT_NE(r.out.find("LXC monitor"), std::string::npos);
    EXPECT_NE(ht_slurp(dir + "/m.svg").find("<polyline"), std::string::npos);
}

// The paper's point about VMs: with KSM, guest RAM is deduplicated across identical VMs, so the
// per-VM guest-RAM footprint falls as VMs are added; without KSM it does not (anonymous memory is
// never shared).
TEST(Memory, KsmShrinksIdenticalVmsAndNothingElseDoes) {
    HT_REQUIRE_KSM();
    const TestTempDir tmp("/tmp/ht-mem-XXXXXX");
    const std::string dir = tmp.path;
    BinaryResult r = run_hypetrace({"memory", "--kvm", "--accel", "tcg", "--count", "1,2", "--ksm", "both", "--json",
                                    dir + "/m.json"});
    ASSERT_EQ(r.code, 0) << r.err;
    json j = load(dir + "/m.json");
    const json& on = series(j, "kvm", true);
    const json& off = series(j, "kvm", false);
    auto ram = [](const json& s, int i) { return double(s["steps"][i]["vm_parts_mb_per_guest"]["guest_ram"]); };
    EXPECT_LT(ram(on, 1), 0.9 * ram(on, 0)) << "KSM did not shrink guest RAM of 2 identical VMs";
    EXPECT_GT(ram(off, 1), 0.95 * ram(off, 0)) << "guest RAM shrank without KSM";
    EXPECT_GT(on["steps"][1]["ksm_merging_pages"].get<uint64_t>(), 1000u);
    EXPECT_GT(on["steps"][1]["traced_ksm_merges"].get<uint64_t>(), 1000u) << "ksm_merge_* tracepoints silent";
    EXPECT_FALSE(on["ksm_scans"].empty());
    for (const auto& g : on["steps"][1]["per_guest"])
        EXPECT_GT(g["traced_ksm_merges"].get<uint64_t>(), 100u) << "merges not attributed to guest " << g["index"];
    EXPECT_EQ(off["steps"][1]["ksm_merging_pages"].get<uint64_t>(), 0u);
    EXPECT_TRUE(on["steps"][1]["settled"].get<bool>()) << on["steps"][1]["settle_note"];
}
