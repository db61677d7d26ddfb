// SPDX-License-Identifier: MIT
// A QEMU run under --accel kvm (firmware only: a stock Linux guest cannot boot under this host's
// PVM KVM, see shared/HOST.md) is traced, and hypetrace's counts of exits to userspace and of
// port I/O equal what bpftrace counts for the same QEMU process over the same run.
#include "common.h"
#include "core/tracing/bpf_tracer.h"
#include "core/host/host.h"
#include "core/host/proc.h"
#include "core/host/spawn.h"
#include "drivers/qemu/qemu_driver.h"
#include "experiments/startup.h"

#include <csignal>
#include <fstream>
#include <regex>
#include <sstream>
#include <sys/wait.h>
#include <thread>

using namespace ht;

namespace ht {
void PrintTo(const TracerOptions& o, std::ostream* os) {
    *os << (o.raw_tp_only ? "raw_tp" : "tp_btf") << (o.kvm_entry_split ? ", kvm_fpu split" : "");
}
}  // namespace ht

namespace {
std::string slurp(const std::string& p) { return read_text(p).value_or(""); }
}  // namespace

// The preferred sources (tp_btf entries) and the fallback, forced (raw_tp entries), this one with
// KVM_RUN's entry split at kvm:kvm_fpu.
class KvmExits : public ::testing::TestWithParam<TracerOptions> {};

TEST_P(KvmExits, UserspaceExitAndPioCountsEqualBpftrace) {
    HT_REQUIRE_ROOT();
    HostInfo host = probe_host();
    if (!host.kvm_device) GTEST_SKIP() << "no /dev/kvm on this host: nothing runs under KVM";
    ASSERT_FALSE(which("bpftrace").empty()) << "bpftrace missing: scripts/setup.sh installs it";

    const TestTempDir tmp("/tmp/ht-bpftrace-XXXXXX");
    const std::string dir = tmp.path;
    std::string out = dir + "/bpftrace.out";
    SpawnOptions o;
    o.stdout_path = out;
    o.stderr_path = dir + "/bpftrace.err";
    Child bt = spawn({"bpftrace", "-e",
                      "tracepoint:kvm:kvm_userspace_exit { @exits[pid] = count(); } "
                      "tracepoint:kvm:kvm_pio { @pio[pid] = count(); }"},
                     o);
    for (int i = 0; i < 300 && slurp(out).find("Attaching") == std::string::npos; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_NE(slurp(out).find("Attaching"), std::string::npos) << "bpftrace did not start: " << slurp(dir + "/bpftrace.err");

    QemuDriver qemu;
    RunResult run;
    {
        Tracer tracer(GetParam());
        for (const auto& src : tracer.sources()) {
            if (src.name == "kvm:kvm_fpu") {
                EXPECT_EQ(src.attached, GetParam().kvm_entry_split) << src.note;
            }
            if (src.name == "raw_syscalls:sys_enter") {
                EXPECT_TRUE(src.attached) << src.note;
            }
            if (src.attached && src.attach != "tp") {  // classic tracepoints have no twin
                // a kernel whose verifier refuses one tp_btf program (6.1: kvm_pio's void *data)
                // falls back for that source alone, and says so
                if (!GetParam().raw_tp_only && src.note.find("tp_btf refused") != std::string::npos) continue;
                EXPECT_EQ(src.attach == "raw_tp", GetParam().raw_tp_only) << src.name << ": " << src.note;
            }
        }
        StartupConfig cfg;
        cfg.runs = 1;
        cfg.warmup = 0;
        cfg.timeout_s = 60;
        cfg.accel = choose_accel(AccelRequest::kvm, host);
        cfg.techniques.push_back({"it-kvm-bios", "KVM firmware", &qemu, Variant::firmware, NAN});
        StartupResult res = run_startup(tracer, host, cfg);
        run = res.techniques.at(0).runs.at(0);
    }
    kill(bt.pid, SIGINT);
    waitpid(bt.pid, nullptr, 0);
    std::string text = slurp(out);
    auto count_for = [&](const std::string& map) -> long {
        std::regex re("@" + map + "\\[" + std::to_string(run.main_pid) + "\\]: ([0-9]+)");
        std::smatch m;
        return std::regex_search(text, m, re) ? std::stol(m[1]) : -1;
    };
    long bt_exits = count_for("exits"), bt_pio = count_for("pio");

    EXPECT_GT(run.totals.kvm_userspace_exits, 100u) << "SeaBIOS makes hundreds of port I/O exits";
    EXPECT_EQ(long(run.totals.kvm_userspace_exits), bt_exits) << text;
    EXPECT_EQ(long(run.totals.kvm_pio), bt_pio) << text;
    // Every KVM_RUN that returned had its start seen: as many timed KVM_RUNs as exits to userspace.
    EXPECT_EQ(run.totals.kvm_runs, run.totals.kvm_userspace_exits);
    // Most of SeaBIOS's exits are its debug console writes (port 0x402).
    EXPECT_GT(run.totals.pio_ports[0x402], run.totals.kvm_pio / 4);
}

INSTANTIATE_TEST_SUITE_P(Sources, KvmExits,
                         ::testing::Values(TracerOptions{}, TracerOptions{.raw_tp_only = true, .kvm_entry_split = true}),
                         [](const ::testing::TestParamInfo<TracerOptions>& i) {
                             return std::string(i.param.raw_tp_only ? "RawTpWithEntrySplit" : "TpBtf");
                         });
