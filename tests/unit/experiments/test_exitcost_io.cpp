// SPDX-License-Identifier: MIT
// Pure parts of exitcost and io: QEMU's memory tree, the payload's disk, phase durations from
// phase events, exit counts and the time per KVM_RUN, fio's JSON.
#include "drivers/payload.h"
#include "core/base/setting.h"
#include "core/tracing/kvm_names.h"
#include "drivers/qemu/qmp.h"
#include "experiments/exitcost.h"
#include "experiments/io.h"

#include <cstring>
#include <gtest/gtest.h>

using namespace ht;

TEST(Exitcost, ParsesQemusFlatMemoryTree) {
    const std::string text =
        "FlatView #0\r\n"
        " AS \"I/O\", root: io\r\n"
        " Root memory region: io\r\n"
        "  0000000000000000-0000000000000007 (prio 0, i/o): dma-chan\r\n"
        "  0000000000000010-000000000000001f (prio 0, i/o): io @0000000000000010\r\n"
        "  0000000000000071-0000000000000071 (prio 0, i/o): rtc @0000000000000001\r\n"
        "  00000000000001f0-00000000000001f7 (prio 0, i/o): ide\r\n"
        "\r\n"
        "FlatView #1\r\n"
        " AS \"memory\", root: system\r\n"
        " AS \"cpu-memory-0\", root: system\r\n"
        " Root memory region: system\r\n"
        "  0000000000000000-000000000009ffff (prio 0, ram): pc.ram\r\n"
        "  00000000000a0000-00000000000bffff (prio 1, i/o): vga-lowmem\r\n";
    Mtree m = parse_mtree(text);
    EXPECT_EQ(m.io_owner(0x1f3), "ide");
    EXPECT_EQ(m.io_owner(0x12), "unassigned") << "a hole of the I/O root";
    EXPECT_EQ(m.io_owner(0x71), "rtc");
    EXPECT_EQ(m.io_owner(0x404), "unassigned");
    EXPECT_EQ(m.memory_owner(0xa0000), "vga-lowmem");
    EXPECT_EQ(m.memory_owner(0x1000), "pc.ram");
    EXPECT_EQ(m.memory_owner(0xfee00000), "unassigned");
}

TEST(Exitcost, PayloadDiskCarriesItsParameters) {
    PayloadParams p;
    p.ops = 12345;
    p.sectors = 7;
    p.hlts = 3;
    std::string d = payload_disk_image(p);
    ASSERT_EQ(d.size(), 512u * 8);
    EXPECT_EQ(d.substr(0, 4), "HTXC");
    uint32_t ops = 0, sectors = 0, hlts = 0;
    std::memcpy(&ops, d.data() + 4, 4);
    std::memcpy(&sectors, d.data() + 8, 4);
    std::memcpy(&hlts, d.data() + 12, 4);
    EXPECT_EQ(ops, 12345u);
    EXPECT_EQ(sectors, 7u);
    EXPECT_EQ(hlts, 3u);
}

TEST(Exitcost, PhaseDurationsRunFromOneMarkerToTheNext) {
    std::vector<ProcEvent> ev;
    auto mark = [&](uint64_t ts, uint32_t phase) {
        ProcEvent e;
        e.type = EventType::phase;
        e.ts_ns = ts;
        e.aux = phase;
        ev.push_back(e);
    };
    mark(300, 2);
    mark(100, 1);
    mark(1000, 0xFE);
    ProcEvent other;
    other.type = EventType::exec;
    other.ts_ns = 200;
    ev.push_back(other);
    auto d = phase_durations(ev);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[1], 200u);
    EXPECT_EQ(d[2], 700u);
    EXPECT_EQ(d.count(0xFE), 0u) << "the last marker ends the last phase";
}

TEST(Io, ParsesFioJson) {
    const std::string text = R"(fio-3.33 noise before the JSON
{
  "fio version" : "fio-3.33",
  "jobs" : [
    {"jobname" : "fileserver", "error" : 0,
     "read" : {"iops" : 100.5, "bw" : 1608, "clat_ns" : {"percentile" : {"50.000000" : 2000, "99.000000" : 9000}}},
     "write" : {"iops" : 99.5, "bw" : 1592, "clat_ns" : {"percentile" : {"50.000000" : 3000, "99.000000" : 12000}}}},
    {"jobname" : "randread", "error" : 5,
     "read" : {"iops" : 4000, "bw" : 16000, "clat_ns" : {"percentile" : {"99.000000" : 500}}},
     "write" : {"iops" : 0, "bw" : 0}}
  ]
})";
    auto jobs = parse_fio_json(text);
    ASSERT_EQ(jobs.size(), 2u);
    EXPECT_EQ(jobs[0].name, "fileserver");
    EXPECT_DOUBLE_EQ(jobs[0].ops(), 200.0);
    EXPECT_DOUBLE_EQ(jobs[0].read_p99_us, 9.0);
    EXPECT_DOUBLE_EQ(jobs[0].write_p50_us, 3.0);
    EXPECT_EQ(jobs[1].error, 5);
    EXPECT_DOUBLE_EQ(jobs[1].read_p50_us, 0.0) << "absent percentile";
    EXPECT_TRUE(parse_fio_json("no json here").empty());
}

TEST(Io, DefaultJobUsesTheRunnersVariables) {
    std::string job = default_fio_job();
    EXPECT_NE(job.find("directory=${HT_IO_DIR}"), std::string::npos);
    EXPECT_NE(job.find("runtime=${HT_IO_RUNTIME}"), std::string::npos);
    EXPECT_NE(job.find("[fileserver]"), std::string::npos);
    EXPECT_NE(job.find("[randread]"), std::string::npos);
}

// Counts add up; the shortest and longest KVM_RUN are taken, never added, and a drain that saw
// none (0) does not lower the minimum.
TEST(Exitcost, ExitCountsAddCountsAndKeepRunExtremes) {
    ExitCounts c;
    auto sample = [](CounterKind k, uint64_t v, uint64_t sub = 0) {
        CounterSample s;
        s.kind = k;
        s.sub = sub;
        s.value = v;
        return s;
    };
    EXPECT_TRUE(c.add(sample(CounterKind::kvm_run, 3)));
    EXPECT_TRUE(c.add(sample(CounterKind::kvm_run, 2)));
    EXPECT_TRUE(c.add(sample(CounterKind::kvm_run_ns, 5000)));
    EXPECT_TRUE(c.add(sample(CounterKind::kvm_pio, 4, 0x406 | 1 << 16)));
    EXPECT_TRUE(c.add(sample(CounterKind::kvm_run_min_ns, 900)));
    EXPECT_TRUE(c.add(sample(CounterKind::kvm_run_min_ns, 700)));
    EXPECT_TRUE(c.add(sample(CounterKind::kvm_run_min_ns, 0)));
    EXPECT_TRUE(c.add(sample(CounterKind::kvm_run_max_ns, 1500)));
    EXPECT_TRUE(c.add(sample(CounterKind::kvm_run_max_ns, 1200)));
    EXPECT_TRUE(c.add(sample(CounterKind::kvm_run_log2, 5, 9)));
    EXPECT_FALSE(c.add(sample(CounterKind::fault_user, 1)));
    EXPECT_EQ(c.kvm_runs, 5u);
    EXPECT_EQ(c.kvm_run_ns, 5000u);
    EXPECT_EQ(c.total_pio(), 4u);
    EXPECT_EQ(c.kvm_run_min_ns, 700u);
    EXPECT_EQ(c.kvm_run_max_ns, 1500u);
    EXPECT_EQ(kvm_run_time_line(c), "5 runs, min 0.70 us, avg 1.00 us, max 1.50 us; 512ns-1.0us 100%");
}

// Without --detail the report counts each exit reason and says what it did not time (and which
// setting would); with it, each reason's time in KVM per exit. The JSON says which it was.
namespace {

// A one-phase result under AMD-V: `n` IOIO exits, `ns` in KVM in all.
ExitcostResult one_phase_result(uint64_t n, uint64_t ns) {
    ExitcostResult r;
    r.kvm_exit_fired = true;
    r.runs = 1;
    PhaseResult p;
    p.phase = PayloadPhase::cpuid;
    p.ops = uint32_t(n);
    p.duration_ns = {double(n) * 50};
    const uint64_t key = uint64_t(kSvmIoio) | uint64_t(kIsaSvm) << 32;
    p.counts.kvm_exits[key] = n;
    if (ns) p.counts.kvm_exit_ns[key] = ns;
    r.phases.push_back(p);
    return r;
}

}  // namespace

TEST(Exitcost, ReportTimesExitsInKvmOnlyWithDetail) {
    ExitcostResult r = one_phase_result(100, 250000);
    const std::string plain = render_text(r);
    EXPECT_NE(plain.find(ref(Setting::detail) + " adds them"), std::string::npos) << plain;
    EXPECT_NE(plain.find(": " + kvm_exit_reason_name(kIsaSvm, kSvmIoio) + " 100\n"), std::string::npos) << plain;
    EXPECT_EQ(plain.find("us each in KVM"), std::string::npos) << plain;
    EXPECT_EQ(to_json(r)["detail"], false);
    r.detail = true;
    const std::string detail = render_text(r);
    EXPECT_EQ(detail.find(ref(Setting::detail)), std::string::npos) << detail;
    EXPECT_NE(detail.find(kvm_exit_reason_name(kIsaSvm, kSvmIoio) + " 100 (2.50 us each in KVM)"), std::string::npos)
        << detail;
    EXPECT_EQ(to_json(r)["detail"], true);
}

// --detail asked, but the kernel refused kvm:kvm_entry: no "0.00 us each in KVM" as if measured;
// the report says why there are no times.
TEST(Exitcost, NoTimeInKvmPrintedWhenKvmEntryDidNotAttach) {
    ExitcostResult r = one_phase_result(10, 0);
    r.detail = true;
    r.sources.push_back({"kvm:kvm_entry", "-", false, "not loaded: the kernel refused it (x)"});
    const std::string text = render_text(r);
    EXPECT_EQ(text.find("us each in KVM"), std::string::npos) << text;
    EXPECT_NE(text.find("no exit timed in KVM: kvm:kvm_entry not attached: not loaded: the kernel refused it (x)"),
              std::string::npos)
        << text;
}
