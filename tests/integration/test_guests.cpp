// SPDX-License-Identifier: MIT
// Real guests start and reach ready, traced: a TCG VM and an LXC container, full and app.
#include "common.h"
#include "core/tracing/bpf_tracer.h"
#include "core/host/proc.h"
#include "drivers/lxc/lxc_driver.h"
#include "drivers/native/native_driver.h"
#include "drivers/qemu/qemu_driver.h"
#include "experiments/startup.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <signal.h>
#include <thread>

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
    GuestSpec probe;
    probe.name = "x";
    probe.variant = v;
    probe.images = cfg.images;
    probe.run_dir = "/tmp";
    probe.accel = accel;
    d.preflight(probe);
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
    // a sanity bound (a start that waited for a timeout would pass 30 s), not a speed target: the
    // nested lab, itself under TCG, needs 4-6 s for what takes 0.3 s here
    EXPECT_LT(r.total_s, 30.0);
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

// The job channel (hypetrace io hands its workload to guests this way): a directory given at
// start runs once the guest is ready, its output back on the marks stream, in a VM and a container.
namespace {
// The scratch directory of a job guest: the caller holds it, declared before the guest so that
// the guest goes first.
constexpr const char* kJobDir = "/var/tmp/ht-job-XXXXXX";

// A full guest (a VM under TCG) in the fresh scratch directory `dir` that runs `script` as its job.
GuestSpec job_guest(const std::string& name, const std::string& script, const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir / "job");
    std::ofstream(dir / "job" / "run.sh") << script;
    GuestSpec spec;
    spec.name = name + "-" + std::to_string(getpid());
    spec.variant = Variant::full;
    spec.images = images();
    spec.run_dir = dir;
    spec.accel = Accel::tcg;
    spec.rootfs = RootfsMode::shared;
    spec.job_dir = dir / "job";
    return spec;
}

std::string run_job(Driver& d, const std::string& name) {
    const TestTempDir tmp(kJobDir);
    const std::filesystem::path dir = tmp.path;
    auto g = d.create(job_guest(name, "echo JOB-OK $(cat /proc/1/comm) $(command -v fio)\nexit 3\n", dir));
    g->prepare();
    g->start();
    std::string marks;
    for (int i = 0; i < 1200 && marks.find(kJobEndMarker) == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        marks = read_text((dir / kMarksFile).string()).value_or("");
    }
    g->stop();
    marks.erase(std::remove(marks.begin(), marks.end(), '\r'), marks.end());  // a serial line ends in \r\n
    return marks;
}
}  // namespace

// A VM whose kernel panics (its job crashes it through sysrq) is no longer alive, at once, and
// says why: waits for it end then, not at their timeout. QEMU itself runs on until stopped.
TEST(Guests, AVmWhoseKernelPanicsIsNotAliveAndSaysWhy) {
    HT_REQUIRE_ROOT();
    const TestTempDir tmp(kJobDir);
    const std::filesystem::path dir = tmp.path;
    QemuDriver qemu;
    auto g = qemu.create(job_guest("ht-it-panic", "echo c > /proc/sysrq-trigger\n", dir));
    g->prepare();
    g->start();
    const pid_t pid = g->main_pid();
    EXPECT_TRUE(wait_for([&] { return !g->alive(); }, 120000, 100)) << read_text((dir / "console.log").string()).value_or("");
    EXPECT_EQ(g->kernel_panic(), "Kernel panic - not syncing: sysrq triggered crash");
    EXPECT_EQ(g->failure_hint(), "the guest's kernel panicked: Kernel panic - not syncing: sysrq triggered crash");
    EXPECT_EQ(kill(pid, 0), 0) << "QEMU runs on with the panicked guest";
    g->stop();
    EXPECT_NE(kill(pid, 0), 0) << "stopped";
}

TEST(Guests, JobRunsInAVmAndAContainer) {
    HT_REQUIRE_ROOT();
    QemuDriver qemu;
    LxcDriver lxc;
    for (Driver* d : {static_cast<Driver*>(&qemu), static_cast<Driver*>(&lxc)}) {
        std::string marks = run_job(*d, "ht-it-job-" + d->name());
        EXPECT_NE(marks.find(std::string(kJobBeginMarker) + "\nJOB-OK systemd /usr/bin/fio\n" + kJobEndMarker + " 3"),
                  std::string::npos)
            << d->name() << ": " << marks;
    }
}
