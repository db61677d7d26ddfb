// SPDX-License-Identifier: MIT
// Trace directories (write, read back), folded stacks (round trip, guest filter, exits, faults),
// differential folding, the SVG document and the Chrome trace timeline, on a trace made here.
#include "../../../temp_dir.h"
#include "core/views/report.h"
#include "core//base/error.h"
#include "core/views/flamegraph.h"
#include "core/host/proc.h"
#include "core/base/text.h"
#include "core/views/timeline.h"
#include "core/tracing/trace_dir.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <unistd.h>

using namespace ht;

namespace {

ProcEvent ev(EventType type, uint64_t ts, uint32_t guest, uint32_t tgid, uint32_t aux, std::string comm,
             std::string path = "") {
    ProcEvent e;
    e.type = type;
    e.ts_ns = ts;
    e.guest = guest;
    e.pid = tgid;
    e.tgid = tgid;
    e.aux = aux;
    e.comm = std::move(comm);
    e.path = std::move(path);
    return e;
}

// Guest 1 "KVM run 1" (QEMU, tgid 100), guest 2 "LXC run 1" (lxc-start 200 -> systemd 201), host 300.
TraceData sample_trace() {
    TraceData t;
    t.meta["experiment"] = "startup";
    t.guests = {{1, "KVM run 1"}, {2, "LXC run 1"}};
    t.events = {ev(EventType::fork, 1'000'000, 1, 1, 100, "hypetrace"),
                ev(EventType::exec, 1'100'000, 1, 100, 0, "qemu-system-x86", "/usr/bin/qemu-system-x86_64"),
                ev(EventType::kvm_run_first, 1'500'000, 1, 100, 0, "CPU 0/KVM"),
                ev(EventType::exit, 9'000'000, 1, 100, 0, "qemu-system-x86"),
                ev(EventType::fork, 10'000'000, 2, 1, 200, "hypetrace"),
                ev(EventType::fork, 10'500'000, 2, 200, 201, "lxc-start"),
                ev(EventType::exec, 10'600'000, 2, 201, 0, "systemd", "/sbin/init")};
    t.spans = {{"KVM run 1", "firmware", 1'000'000, 3'000'000}, {"KVM run 1", "kernel", 3'000'000, 8'000'000},
               {"LXC run 1", "init", 10'000'000, 12'000'000}};
    t.counters = {{1, 1'000'000, 1'000'000, CounterKind::kvm_pio, 0x1f7 | (0ull << 16), 0, 40},
                  {1, 1'000'000, 1'000'000, CounterKind::kvm_pio, 0x402 | (1ull << 16), 0, 7},
                  {1, 2'000'000, 1'000'000, CounterKind::kvm_user_exit, 2, 0, 47},
                  {1, 2'000'000, 1'000'000, CounterKind::fault_user, 0, 0, 5},
                  {2, 10'000'000, 1'000'000, CounterKind::fault_user, 0, 0, 9}};
    t.ksm_scans = {{5'000'000, 1, 100, 3, 0}};
    t.meta["devices"] = {{"0x1f7", "ide"}};
    t.sampled = true;
    Profile& p = t.profile;
    p.freq_hz = 999;
    p.cpus = 2;
    p.start_ns = 1'000'000;
    p.end_ns = 20'000'000;
    p.bucket_ns = 100'000'000;
    p.stacks = {{},
                {"main", "vcpu_loop", "cpu_exec"},                                              // 1 user
                {"entry_SYSCALL_64", "do_syscall_64", "__x64_sys_ioctl"},                       // 2 kernel
                {"asm_exc_page_fault", "exc_page_fault", "handle_mm_fault", "clear_page_erms"}, // 3 kernel
                {"main", "manager_loop"}};                                                      // 4 user
    CommIndex c;
    p.samples = {{1'000'000, 100, 101, c.id(p, "CPU 0/KVM"), 1, 0, 50},
                 {1'000'000, 100, 101, c.id(p, "CPU 0/KVM"), 1, 2, 20},
                 {1'000'000, 100, 100, c.id(p, "qemu-system-x86"), 0, 3, 4},
                 {1'000'000, 201, 201, c.id(p, "systemd"), 4, 3, 6},
                 {1'000'000, 201, 201, c.id(p, "systemd"), 4, 0, 10},
                 {1'000'000, 300, 300, c.id(p, "sshd"), 0, 2, 3}};
    return t;
}

uint64_t total(const Folded& f) {
    uint64_t n = 0;
    for (const auto& s : f) n += s.count;
    return n;
}

constexpr const char* kTempDir = "/tmp/ht-trace-XXXXXX";

}  // namespace

TEST(TraceDir, WritesAndReadsBackEverything) {
    const TestTempDir tmp(kTempDir);
    const std::string dir = tmp.path + "/t";
    TraceData t = sample_trace();
    write_trace_dir(dir, t);
    EXPECT_FALSE(std::filesystem::exists(dir + ".partial-" + std::to_string(getpid())));
    TraceData r = read_trace_dir(dir);
    EXPECT_EQ(r.meta["version"], kTraceFormatVersion);
    EXPECT_EQ(r.guests, t.guests);
    ASSERT_EQ(r.spans.size(), t.spans.size());
    EXPECT_EQ(r.spans[1].name, "kernel");
    ASSERT_EQ(r.events.size(), t.events.size());
    EXPECT_EQ(r.events[1].path, "/usr/bin/qemu-system-x86_64");
    EXPECT_EQ(r.events[1].type, EventType::exec);
    ASSERT_EQ(r.counters.size(), t.counters.size());
    EXPECT_EQ(r.counters[1].kind, CounterKind::kvm_pio);
    EXPECT_EQ(r.counters[1].sub, t.counters[1].sub);
    ASSERT_EQ(r.profile.samples.size(), t.profile.samples.size());
    EXPECT_EQ(r.profile.stacks, t.profile.stacks);
    EXPECT_EQ(comm_of(r.profile, r.profile.samples[1]), "CPU 0/KVM");
    EXPECT_EQ(r.ksm_scans.size(), 1u);
    // The same folded stacks from the original and from what was read back.
    EXPECT_EQ(folded_text(fold(r, {})), folded_text(fold(t, {})));
}

TEST(TraceDir, RefusesANonEmptyDirectoryAndFilesThatAreNoTrace) {
    const TestTempDir tmp(kTempDir);
    const std::string parent = tmp.path;
    std::ofstream(parent + "/something") << "x";
    EXPECT_THROW(check_trace_dir(parent), UserError);
    EXPECT_THROW(write_trace_dir(parent, sample_trace()), UserError);
    EXPECT_TRUE(std::filesystem::exists(parent + "/something")) << "nothing overwritten";
    EXPECT_THROW(read_trace_dir(parent), UserError) << "no trace.json";
    std::ofstream(parent + "/trace.json") << R"({"format": "hypetrace-trace", "version": 99})";
    try {
        read_trace_dir(parent);
        FAIL() << "a newer format was read";
    } catch (const UserError& e) {
        EXPECT_NE(std::string(e.what()).find("update hypetrace"), std::string::npos) << e.what();
    }
    check_trace_dir(parent + "/new");  // absent: fine
}

TEST(Flamegraph, FoldedRoundTripKeepsEverySample) {
    TraceData t = sample_trace();
    Folded f = fold(t, {});
    uint64_t samples = 0;
    for (const auto& s : t.profile.samples) samples += s.count;
    EXPECT_EQ(total(f), samples);
    Folded back = parse_folded(folded_text(f));
    ASSERT_EQ(back.size(), f.size());
    for (std::size_t i = 0; i < f.size(); ++i) {
        EXPECT_EQ(back[i].stack, f[i].stack);
        EXPECT_EQ(back[i].count, f[i].count);
    }
    // Root first: guest, thread, user frames, kernel frames marked _[k].
    EXPECT_EQ(f[0].stack.rfind("KVM run 1;CPU 0/KVM;main;vcpu_loop;cpu_exec", 0), 0u) << f[0].stack;
    bool kernel = false, host = false;
    for (const auto& s : f) {
        kernel = kernel || s.stack.find("do_syscall_64_[k]") != std::string::npos;
        host = host || s.stack.rfind("host;sshd;", 0) == 0;
    }
    EXPECT_TRUE(kernel);
    EXPECT_TRUE(host) << "a process no guest owns is the host's";
    EXPECT_EQ(parse_folded("a;b 3\na;b 4\nbad line\nc 1\n").size(), 2u);
    EXPECT_EQ(total(parse_folded("a;b 3\na;b 4\n")), 7u);
}

TEST(Flamegraph, GuestFilterExitsAndFaults) {
    TraceData t = sample_trace();
    FoldOptions o;
    o.guest = "LXC";  // "LXC run 1"
    Folded lxc = fold(t, o);
    EXPECT_EQ(total(lxc), 16u);
    for (const auto& s : lxc) EXPECT_EQ(s.stack.rfind("LXC run 1;systemd;", 0), 0u) << s.stack;
    o.guest = "nope";
    EXPECT_THROW(fold(t, o), UserError);

    FoldOptions ex;
    ex.of = FlameOf::exits;
    Folded exits = fold(t, ex);
    ASSERT_EQ(exits.size(), 2u);
    EXPECT_EQ(exits[0].stack, "KVM run 1;port I/O in;0x1f7;ide");
    EXPECT_EQ(exits[0].count, 40u);
    EXPECT_EQ(exits[1].stack, "KVM run 1;port I/O out;0x402");

    FoldOptions fa;
    fa.of = FlameOf::faults;
    Folded faults = fold(t, fa);
    EXPECT_EQ(total(faults), 10u) << "the samples with a page-fault entry on their kernel stack";
    for (const auto& s : faults)
        EXPECT_NE(s.stack.find(";asm_exc_page_fault_[k];exc_page_fault_[k]"), std::string::npos) << s.stack;
}

TEST(Flamegraph, ExitsOnVtxAreByReasonWithPortIoUnderItsReason) {
    TraceData t;
    t.guests = {{1, "vm"}};
    const uint64_t vmx = 1ull << 32;
    t.counters = {{1, 0, 1, CounterKind::kvm_exit, vmx | 30, 0, 12},  // IO_INSTRUCTION
                  {1, 0, 1, CounterKind::kvm_exit, vmx | 12, 0, 5},   // HLT
                  {1, 0, 1, CounterKind::kvm_pio, 0x1f7, 0, 8},
                  {1, 0, 1, CounterKind::kvm_pio, 0x1f0 | (1ull << 16), 0, 4}};
    FoldOptions o;
    o.of = FlameOf::exits;
    Folded f = fold(t, o);
    ASSERT_EQ(f.size(), 3u);
    EXPECT_EQ(f[0].stack, "vm;HLT");
    EXPECT_EQ(f[1].stack, "vm;IO_INSTRUCTION;port I/O in;0x1f7");
    EXPECT_EQ(f[2].stack, "vm;IO_INSTRUCTION;port I/O out;0x1f0");
    EXPECT_EQ(total(f), 5u + 8u + 4u) << "IO_INSTRUCTION's 12 are the ports' 12, not counted twice";
}

TEST(Flamegraph, ExitsOnSvmPutMmioUnderNpfAndKeepTheRestOfNpfOnce) {
    TraceData t;
    t.guests = {{1, "vm"}};
    const uint64_t svm = 2ull << 32;
    t.counters = {{1, 0, 1, CounterKind::kvm_exit, svm | 0x400, 0, 12},  // NPF: 8 MMIO + 4 page faults
                  {1, 0, 1, CounterKind::kvm_exit, svm | 0x7b, 0, 3},    // IOIO
                  {1, 0, 1, CounterKind::kvm_exit, svm | 0x72, 0, 2},    // CPUID
                  {1, 0, 1, CounterKind::kvm_mmio, 0xfebf0000ull | (2ull << 56), 0, 8},
                  {1, 0, 1, CounterKind::kvm_pio, 0x80 | (1ull << 16), 0, 3}};
    FoldOptions o;
    o.of = FlameOf::exits;
    Folded f = fold(t, o);
    std::map<std::string, uint64_t> by;
    for (const auto& e : f) by[e.stack] = e.count;
    EXPECT_EQ(by["vm;NPF;MMIO;0xfebf0000"], 8u);
    EXPECT_EQ(by["vm;NPF"], 4u) << "the NPFs that were not MMIO stay on NPF";
    EXPECT_EQ(by["vm;IOIO;port I/O out;0x80"], 3u);
    EXPECT_EQ(by.count("vm;IOIO"), 0u);
    EXPECT_EQ(by["vm;CPUID"], 2u);
    EXPECT_EQ(total(f), 12u + 3u + 2u) << "every exit once";
}

TEST(Flamegraph, VmxFlagBitsDoNotSplitAReason) {
    TraceData t;
    t.guests = {{1, "vm"}};
    const uint64_t vmx = 1ull << 32;
    t.counters = {{1, 0, 1, CounterKind::kvm_exit, vmx | 0x80000021u, 0, 2},  // INVALID_STATE | FAILED_VMENTRY
                  {1, 0, 1, CounterKind::kvm_exit, vmx | 33, 0, 1}};
    FoldOptions o;
    o.of = FlameOf::exits;
    Folded f = fold(t, o);
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].stack, "vm;INVALID_STATE");
    EXPECT_EQ(f[0].count, 3u);
}

TEST(Flamegraph, DiffHasBothCountsAndTheSvgItsChange) {
    Folded a = parse_folded("p;x 10\np;y 10\n"), b = parse_folded("p;x 30\np;z 10\n");
    auto d = diff_folded(a, b);
    ASSERT_EQ(d.size(), 3u);
    EXPECT_EQ(diff_text(d), "p;x 10 30\np;y 10 0\np;z 0 10\n");
    std::string svg = diff_flamegraph_svg(d, {});
    EXPECT_NE(svg.find("\"diff\":true"), std::string::npos);
    EXPECT_NE(svg.find("\"delta\":"), std::string::npos);
}

TEST(Flamegraph, SvgIsSelfContainedAndCarriesEveryFrame) {
    TraceData t = sample_trace();
    Folded f = fold(t, {});
    SvgOptions o;
    o.title = "a </title> & \"quoted\" title";
    std::string svg = flamegraph_svg(f, o);
    EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
    EXPECT_NE(svg.find("<svg "), std::string::npos);
    EXPECT_NE(svg.find("</svg>"), std::string::npos);
    EXPECT_EQ(svg.find("href="), std::string::npos) << "no external reference";
    EXPECT_EQ(svg.find("src="), std::string::npos);
    // The title travels as JSON inside CDATA, never as markup.
    EXPECT_EQ(svg.find("a </title>"), std::string::npos);
    // Every distinct frame name is in the document's data.
    for (const char* name : {"cpu_exec", "vcpu_loop", "manager_loop", "clear_page_erms_[k]", "LXC run 1"})
        EXPECT_NE(svg.find(std::string("\"") + name + "\""), std::string::npos) << name;
    // data-frames: root + one per trie node
    EXPECT_NE(svg.find("data-frames=\""), std::string::npos);
}

TEST(Timeline, TracksSlicesAndCountersOfEveryGuest) {
    auto j = chrome_trace(sample_trace());
    ASSERT_TRUE(j.contains("traceEvents"));
    std::set<std::string> processes;
    int slices = 0, counters = 0, phases = 0;
    bool qemu_life = false;
    for (const auto& e : j["traceEvents"]) {
        ASSERT_TRUE(e.contains("ph") && e.contains("pid")) << e.dump();
        const std::string ph = e["ph"];
        if (ph == "M" && e["name"] == "process_name") processes.insert(e["args"]["name"]);
        if (ph == "X") {
            ++slices;
            EXPECT_GE(e["dur"].get<double>(), 0.0);
            if (e["cat"] == "benchmark") ++phases;
            if (e["name"] == "qemu-system-x86_64" && e["pid"] == 1) {
                qemu_life = true;
                EXPECT_DOUBLE_EQ(e["ts"].get<double>(), 0.0);  // forked at 1.0 ms, the trace's start
                EXPECT_DOUBLE_EQ(e["dur"].get<double>(), 8000.0);  // exited at 9.0 ms
            }
        }
        if (ph == "C") ++counters;
    }
    EXPECT_EQ(processes, (std::set<std::string>{"host", "KVM run 1", "LXC run 1"}));
    EXPECT_TRUE(qemu_life);
    EXPECT_EQ(phases, 3);
    EXPECT_GE(counters, 3 * 3) << "exits/s, faults/s, KSM merges/s per guest bucket";
    EXPECT_GT(slices, 4);
}

TEST(Text, SplitKeepsEmptyFieldsAndBaseNameTakesTheLastComponent) {
    std::vector<std::string_view> f;
    split_into("a\tb\t\tc", '\t', f);
    EXPECT_EQ(f, (std::vector<std::string_view>{"a", "b", "", "c"}));
    split_into("", ';', f);
    EXPECT_EQ(f, (std::vector<std::string_view>{""}));
    EXPECT_EQ(base_name("/usr/bin/qemu-system-x86_64"), "qemu-system-x86_64");
    EXPECT_EQ(base_name("bash"), "bash");
}

// Sizes keep the digits that matter: a container's 0.3 MiB of CRIU images is not "0 MiB".
TEST(Report, SizesHaveThePrecisionTheyNeed) {
    EXPECT_EQ(fmt_size(299896), "293 KiB");
    EXPECT_EQ(fmt_size(3546196), "3.4 MiB");
    EXPECT_EQ(fmt_size(113246208), "108 MiB");
    EXPECT_EQ(fmt_size(0), "0 KiB");
}
