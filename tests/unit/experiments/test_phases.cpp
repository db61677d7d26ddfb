// SPDX-License-Identifier: MIT
// Phase attribution from recorded event sequences (what a VM, a container and a process emit).
#include "experiments/phases.h"
#include "experiments/startup.h"

#include <gtest/gtest.h>

using namespace ht;

namespace {
constexpr uint64_t ms = 1'000'000;
constexpr uint64_t T0 = 1'000'000'000;  // launch

ProcEvent ev(EventType t, uint64_t at_ms, std::string comm = "", std::string path = "", uint32_t guest = 7) {
    ProcEvent e;
    e.type = t;
    e.ts_ns = T0 + at_ms * ms;
    e.guest = guest;
    e.comm = std::move(comm);
    e.path = std::move(path);
    return e;
}

CounterSample ctr(CounterKind k, uint32_t bucket, uint64_t v, uint64_t sub = 0, uint32_t guest = 7) {
    return {guest, bucket, k, sub, v};
}
}  // namespace

TEST(Phases, VmUnderTcgUsesThreadRenameForVcpuStart) {
    std::vector<ProcEvent> events{ev(EventType::fork, 0), ev(EventType::exec, 2, "qemu-system-x86", "/usr/bin/qemu"),
                                  ev(EventType::rename, 40, "worker"), ev(EventType::rename, 50, "CPU 0/TCG")};
    std::vector<MarkerHit> hits{{"firmware_done", T0 + 150 * ms, "firmware"},
                                {"init", T0 + 5000 * ms, "console"},
                                {"ready", T0 + 9000 * ms, "console"}};
    auto marks = derive_marks(GuestKind::vm, T0, events, hits, "/usr/bin/qemu");
    std::vector<std::string> names;
    for (const auto& m : marks) names.push_back(m.name);
    EXPECT_EQ(names, (std::vector<std::string>{"launch", "qemu_exec", "vcpu_start", "firmware_done", "init", "ready"}));
    EXPECT_EQ(marks[2].ts_ns, T0 + 50 * ms);  // the vCPU thread, not the first renamed thread
    EXPECT_NE(marks[2].source.find("task_rename"), std::string::npos);

    RunTrace tr;
    tr.origin_ns = T0;
    tr.bucket_ns = ms;
    tr.events = events;
    tr.counters = {ctr(CounterKind::fault_user, 1, 10),     // launcher
                   ctr(CounterKind::fault_user, 10, 100),   // qemu init
                   ctr(CounterKind::fault_user, 100, 5),    // firmware
                   ctr(CounterKind::fault_kernel, 200, 3),  // kernel
                   ctr(CounterKind::fault_user, 6000, 7),   // init
                   ctr(CounterKind::fault_user, 9500, 1000),// after ready: in totals only
                   ctr(CounterKind::fault_user, 10, 999, 0, 8)};  // another guest
    auto phases = attribute_phases(marks, tr, 7);
    ASSERT_EQ(phases.size(), 5u);
    EXPECT_EQ(phases[0].name, "launcher");
    EXPECT_EQ(phases[0].counts.faults_user, 10u);
    EXPECT_EQ(phases[0].counts.forks, 1u);
    EXPECT_EQ(phases[1].name, "qemu init");
    EXPECT_EQ(phases[1].counts.faults_user, 100u);
    EXPECT_EQ(phases[1].counts.execs, 1u);
    EXPECT_EQ(phases[2].name, "firmware");
    EXPECT_EQ(phases[2].counts.faults_user, 5u);
    EXPECT_EQ(phases[3].name, "kernel");
    EXPECT_EQ(phases[3].counts.faults_kernel, 3u);
    EXPECT_EQ(phases[4].name, "init");
    EXPECT_EQ(phases[4].counts.faults_user, 7u);
    EXPECT_EQ(total_counts(tr, 7).faults_user, 1122u);
}

TEST(Phases, VmUnderKvmPrefersFirstKvmRunAndNamesExits) {
    std::vector<ProcEvent> events{ev(EventType::exec, 1, "qemu", "/usr/bin/qemu"),
                                  ev(EventType::rename, 30, "CPU 0/KVM"), ev(EventType::kvm_run_first, 45)};
    std::vector<MarkerHit> hits{{"ready", T0 + 900 * ms, "firmware"}};
    auto marks = derive_marks(GuestKind::vm, T0, events, hits, "/usr/bin/qemu");
    ASSERT_EQ(marks.size(), 4u);
    EXPECT_EQ(marks[2].name, "vcpu_start");
    EXPECT_EQ(marks[2].ts_ns, T0 + 45 * ms);
    RunTrace tr;
    tr.origin_ns = T0;
    tr.bucket_ns = ms;
    tr.counters = {ctr(CounterKind::kvm_user_exit, 100, 40, 2), ctr(CounterKind::kvm_pio, 100, 30, 0x402),
                   ctr(CounterKind::kvm_pio, 101, 10, 0x10000 | 0xcfc), ctr(CounterKind::kvm_exit, 100, 5, (1ull << 32) | 30),
                   ctr(CounterKind::kvm_run, 100, 41), ctr(CounterKind::kvm_run_ns, 100, 600000)};
    auto phases = attribute_phases(marks, tr, 7);
    ASSERT_EQ(phases.size(), 3u);
    const auto& fw = phases[2].counts;
    EXPECT_EQ(phases[2].name, "firmware");
    EXPECT_EQ(fw.kvm_userspace_exits, 40u);
    EXPECT_EQ(fw.userspace_exit_reasons.at("IO"), 40u);
    EXPECT_EQ(fw.kvm_pio, 40u);
    EXPECT_EQ(fw.pio_ports.at(0x402), 30u);
    EXPECT_EQ(fw.pio_ports.at(0xcfc), 10u);  // the rw bit does not split ports
    EXPECT_EQ(fw.exit_reasons.at("IO_INSTRUCTION"), 5u);
    EXPECT_EQ(fw.kvm_runs, 41u);
    EXPECT_EQ(fw.kvm_run_ns, 600000u);
}

TEST(Phases, ContainerUsesForkAndInitExec) {
    std::vector<ProcEvent> events{ev(EventType::fork, 1), ev(EventType::fork, 2),
                                  ev(EventType::exec, 3, "lxc-start", "/usr/libexec/lxc/helper"),
                                  ev(EventType::exec, 8, "hypetrace-init", "/usr/local/sbin/hypetrace-init"),
                                  ev(EventType::exec, 9, "systemd", "/sbin/init")};
    std::vector<MarkerHit> hits{{"init", T0 + 9 * ms, "console"}, {"ready", T0 + 200 * ms, "console"}};
    auto marks = derive_marks(GuestKind::container, T0, events, hits, "/usr/local/sbin/hypetrace-init");
    ASSERT_EQ(marks.size(), 4u);
    EXPECT_EQ(marks[1].name, "monitor_fork");
    EXPECT_EQ(marks[1].ts_ns, T0 + 1 * ms);
    EXPECT_EQ(marks[2].name, "init_exec");
    EXPECT_EQ(marks[2].ts_ns, T0 + 8 * ms);  // the init program, not the helper exec'd before it
    RunTrace tr;
    tr.origin_ns = T0;
    tr.bucket_ns = ms;
    tr.events = events;
    auto phases = attribute_phases(marks, tr, 7);
    ASSERT_EQ(phases.size(), 3u);
    EXPECT_EQ(phases[0].name, "start call");
    EXPECT_EQ(phases[0].counts.forks, 0u);  // a mark's own event opens the phase that starts there
    EXPECT_EQ(phases[1].name, "namespaces/cgroups");
    EXPECT_EQ(phases[1].counts.forks, 2u);
    EXPECT_EQ(phases[1].counts.execs, 1u);
    EXPECT_EQ(phases[2].name, "init");
    EXPECT_EQ(phases[2].counts.execs, 2u);
}

TEST(Phases, MissingOrOutOfOrderMarksMergeIntoPreviousPhase) {
    // App VM: no init marker; firmware hand-off seen *before* the vCPU start (impossible): dropped.
    std::vector<ProcEvent> events{ev(EventType::exec, 1, "qemu"), ev(EventType::rename, 60, "CPU 0/TCG")};
    std::vector<MarkerHit> hits{{"firmware_done", T0 + 20 * ms, "firmware"}, {"ready", T0 + 2000 * ms, "console"}};
    auto marks = derive_marks(GuestKind::vm, T0, events, hits, "");
    std::vector<std::string> names;
    for (const auto& m : marks) names.push_back(m.name);
    EXPECT_EQ(names, (std::vector<std::string>{"launch", "qemu_exec", "vcpu_start", "ready"}));
    auto phases = attribute_phases(marks, RunTrace{}, 7);
    EXPECT_EQ(phases.back().name, "firmware");
    EXPECT_EQ(phases.back().to, "ready");
}

TEST(Phases, SummaryExcludesWarmupAndAveragesCounts) {
    TechniqueResult t;
    auto run = [](double total, uint64_t faults, bool warm) {
        RunResult r;
        r.warmup = warm;
        r.total_s = total;
        r.marks = {{"launch", T0, "host", "init"}, {"ready", T0 + uint64_t(total * 1e9), "console", ""}};
        Phase p{"init", "launch", "ready", T0, T0 + uint64_t(total * 1e9), {}};
        p.counts.faults_user = faults;
        r.phases = {p};
        r.totals.faults_user = faults;
        return r;
    };
    t.runs = {run(5.0, 1000, true), run(0.2, 100, false), run(0.4, 300, false)};
    summarize_technique(t);
    EXPECT_EQ(t.total.n, 2u);
    EXPECT_NEAR(t.total.mean, 0.3, 1e-12);
    ASSERT_EQ(t.phases.size(), 1u);
    EXPECT_EQ(t.phases[0].mean_counts.faults_user, 200u);
    EXPECT_NEAR(t.phases[0].duration_s.mean, 0.3, 1e-9);
    EXPECT_EQ(t.mean_totals.faults_user, 200u);
}

// The marks' names and their phases, in order.
static std::pair<std::vector<std::string>, std::vector<std::string>> names_and_phases(const std::vector<Mark>& marks) {
    std::pair<std::vector<std::string>, std::vector<std::string>> out;
    for (const auto& m : marks) {
        out.first.push_back(m.name);
        out.second.push_back(m.phase);
    }
    return out;
}

// A restored VM: QEMU's exec from the trace, then the backend's restore marks, then the answered
// ping; a mark out of order (a clock step) is left out and its phase merges into the one before.
TEST(Phases, RestoredVmPhasesFromLaunchToTheAnsweredPing) {
    std::vector<ProcEvent> events{ev(EventType::fork, 0), ev(EventType::exec, 2, "qemu-system-x86", "/usr/bin/qemu"),
                                  ev(EventType::exec, 60, "sh", "/bin/sh")};
    std::vector<MarkerHit> backend{{"state_load", T0 + 50 * ms, "host"},
                                   {"resumed", T0 + 400 * ms, "qmp:RESUME"},
                                   {"state_loaded", T0 + 401 * ms, "qmp:MIGRATION completed"}};
    std::vector<MarkerHit> hits{{"ready", T0 + 450 * ms, "marks"}};
    auto marks = derive_restore_marks(GuestKind::vm, T0, events, backend, hits);
    const auto [names, phases] = names_and_phases(marks);
    EXPECT_EQ(names, (std::vector<std::string>{"launch", "qemu_exec", "state_load", "resumed", "ready"}));
    EXPECT_EQ(phases, (std::vector<std::string>{"launcher", "qemu init", "state load", "guest answers", ""}));
    EXPECT_EQ(marks[1].ts_ns, T0 + 2 * ms);  // QEMU's exec, not the state reader's
    EXPECT_EQ(marks[3].source, "qmp:RESUME");

    backend.erase(backend.begin() + 1);  // no RESUME seen: the load's end stands for it
    marks = derive_restore_marks(GuestKind::vm, T0, events, backend, hits);
    ASSERT_EQ(marks.size(), 5u);
    EXPECT_EQ(marks[3].name, "state_loaded");
    EXPECT_EQ(marks[3].phase, "guest answers");
    backend[1].ts_ns = T0 + 10 * ms;  // before the load began (a clock step): left out
    marks = derive_restore_marks(GuestKind::vm, T0, events, backend, hits);
    ASSERT_EQ(marks.size(), 4u);
    EXPECT_EQ(marks[2].name, "state_load");
    EXPECT_EQ(marks[3].name, "ready");
    EXPECT_TRUE(derive_restore_marks(GuestKind::vm, T0, events, {}, {}).size() == 2u);  // launch and exec: nothing else known
}

// A restored container: liblxc's helpers run first (execs of their own), then CRIU's exec, then the
// backend's "resumed" (CRIU let the processes run), then the answered ping.
TEST(Phases, RestoredContainerPhasesSplitAtCriusExecAndItsResume) {
    std::vector<ProcEvent> events{ev(EventType::fork, 0), ev(EventType::exec, 3, "lxc-helper", "/usr/libexec/lxc/x"),
                                  ev(EventType::exec, 20, "criu", "/usr/sbin/criu"),
                                  ev(EventType::exec, 30, "criu", "/usr/sbin/criu")};
    std::vector<MarkerHit> backend{{"resumed", T0 + 300 * ms, "liblxc:restore returned"}};
    std::vector<MarkerHit> hits{{"ready", T0 + 302 * ms, "marks"}};
    auto marks = derive_restore_marks(GuestKind::container, T0, events, backend, hits);
    const auto [names, phases] = names_and_phases(marks);
    EXPECT_EQ(names, (std::vector<std::string>{"launch", "criu_exec", "resumed", "ready"}));
    EXPECT_EQ(phases, (std::vector<std::string>{"launcher", "criu restore", "guest answers", ""}));
    EXPECT_EQ(marks[1].ts_ns, T0 + 20 * ms) << "CRIU's first exec, not liblxc's helper's";
    EXPECT_EQ(marks[2].source, "liblxc:restore returned");
    // no CRIU exec seen (not traced): the launcher runs until the resume
    events.erase(events.begin() + 2, events.end());
    marks = derive_restore_marks(GuestKind::container, T0, events, backend, hits);
    ASSERT_EQ(marks.size(), 3u);
    EXPECT_EQ(marks[1].name, "resumed");
}
