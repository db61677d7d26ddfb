// SPDX-License-Identifier: MIT
// Real guests start and reach ready, traced: a TCG VM and an LXC container, full and app.
#include "common.h"
#include "core/bpf_tracer.h"
#include "core/proc.h"
#include "drivers/lxc/lxc_driver.h"
#include "drivers/native/native_driver.h"
#include "drivers/qemu/qemu_driver.h"
#include "experiments/startup.h"

#include <cstdlib>
#include <filesystem>

using namespace ht;

namespace {

ImageSet images() {
    const char* env = std::getenv("HYPETRACE_IMAGE_DIR");
    return ImageSet{env && *env ? env : "/var/cache/hypetrace/images"};
}

std::vector<std::string> mark_names(const RunResult& r) {
    std::vector<std::string> n;
    for (const auto& m : r.marks) n.push_back(m.name);
    return n;
}

RunResult run_one(Driver& d, Variant v, Accel accel, const std::string& id) {
    Tracer tracer;
    StartupConfig cfg;
    cfg.runs = 1;
    cfg.warmup = 0;
    cfg.timeout_s = 240;
    cfg.accel.accel = accel;
    cfg.images = images();
    cfg.techniques.push_back({id, id, &d, v, NAN});
    d.preflight({"x", v, cfg.images, "/tmp", accel});
    StartupResult res = run_startup(tracer, probe_host(), cfg);
    EXPECT_EQ(res.techniques.size(), 1u);
    EXPECT_EQ(res.techniques[0].runs.size(), 1u);
    RunResult r = res.techniques.at(0).runs.at(0);
    EXPECT_FALSE(process_alive(r.main_pid)) << "guest process " << r.main_pid << " left running";
    return r;
}

}  // namespace

TEST(Guests, TcgVmFullBootsToMultiUser) {
    HT_REQUIRE_ROOT();
    QemuDriver qemu;
    RunResult r = run_one(qemu, Variant::full, Accel::tcg, "it-kvm");
    EXPECT_EQ(mark_names(r), (std::vector<std::string>{"launch", "qemu_exec", "vcpu_start", "firmware_done", "init", "ready"}));
    EXPECT_GT(r.total_s, 1.0);  // a whole OS boots: seconds, not milliseconds
    EXPECT_GT(r.totals.faults_user, 1000u);
    ASSERT_EQ(r.phases.size(), 5u);
    EXPECT_EQ(r.phases[3].name, "kernel");
    EXPECT_GT(r.phases[3].end_ns - r.phases[3].start_ns, r.phases[0].end_ns - r.phases[0].start_ns);
}

TEST(Guests, TcgVmAppBootsIntoBash) {
    HT_REQUIRE_ROOT();
    QemuDriver qemu;
    RunResult r = run_one(qemu, Variant::app, Accel::tcg, "it-kvm-app");
    EXPECT_EQ(mark_names(r), (std::vector<std::string>{"launch", "qemu_exec", "vcpu_start", "firmware_done", "ready"}));
    EXPECT_GT(r.total_s, 0.2);
}

TEST(Guests, LxcFullContainerReachesMultiUser) {
    HT_REQUIRE_ROOT();
    LxcDriver lxc;
    RunResult r = run_one(lxc, Variant::full, Accel::tcg, "it-lxc");
    EXPECT_EQ(mark_names(r), (std::vector<std::string>{"launch", "monitor_fork", "init_exec", "ready"}));
    EXPECT_LT(r.total_s, 5.0);
    EXPECT_GE(r.totals.execs, 5u);  // systemd starts services: several execs in the container
    EXPECT_GT(r.totals.faults_user, 1000u);
}

TEST(Guests, LxcAppContainerRunsBash) {
    HT_REQUIRE_ROOT();
    LxcDriver lxc;
    RunResult r = run_one(lxc, Variant::app, Accel::tcg, "it-lxc-app");
    EXPECT_EQ(mark_names(r), (std::vector<std::string>{"launch", "monitor_fork", "init_exec", "ready"}));
    EXPECT_LT(r.total_s, 2.0);
    ASSERT_EQ(r.phases.size(), 3u);
    EXPECT_EQ(r.phases[2].counts.execs, 1u);  // bash's own exec opens the init phase
}

TEST(Guests, NativeBaselineStartsBash) {
    HT_REQUIRE_ROOT();
    NativeDriver native;
    RunResult r = run_one(native, Variant::app, Accel::tcg, "it-native");
    EXPECT_EQ(mark_names(r), (std::vector<std::string>{"launch", "exec", "ready"}));
    EXPECT_LT(r.total_s, 1.0);
    EXPECT_EQ(r.totals.execs, 1u);
}
