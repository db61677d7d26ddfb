// SPDX-License-Identifier: MIT
// `hypetrace exitcost` on this host's KVM: every phase runs its N operations, and hypetrace's
// per-port, per-address and per-reason counts equal what bpftrace counts on the same run.
#include "common.h"
#include "core/host/host.h"
#include "core/host/proc.h"
#include "core/host/spawn.h"

#include <csignal>
#include <filesystem>
#include <cmath>
#include <map>
#include <sstream>
#include <set>
#include <nlohmann/json.hpp>
#include <regex>
#include <sys/wait.h>
#include <thread>

using namespace ht;
using json = nlohmann::json;

namespace {

std::string slurp(const std::string& p) { return read_text(p).value_or(""); }

// bpftrace's "@map[a, b]: n" lines -> {"a,b": n}
std::map<std::string, long> bt_map(const std::string& text, const std::string& name) {
    std::map<std::string, long> out;
    std::regex re("@" + name + "\\[([^\\]]+)\\]: ([0-9]+)");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it) {
        std::string key = (*it)[1];
        key.erase(std::remove(key.begin(), key.end(), ' '), key.end());
        out[key] = std::stol((*it)[2]);
    }
    return out;
}

#define HT_REQUIRE_KVM_DEVICE()                                                                    \
    do {                                                                                           \
        if (!probe_host().kvm_device) GTEST_SKIP() << "no /dev/kvm on this host: nothing runs under KVM"; \
    } while (0)

}  // namespace

TEST(Exitcost, CountsEqualBpftraceOnTheSameRun) {
    HT_REQUIRE_ROOT();
    if (!probe_host().kvm_device) GTEST_SKIP() << "no /dev/kvm on this host: nothing runs under KVM";
    ASSERT_FALSE(which("bpftrace").empty()) << "bpftrace missing: scripts/setup.sh installs it";
    ASSERT_TRUE(pids_with("qemu-system").empty()) << "another QEMU is running: its exits would be counted too";
    const TestTempDir tmp("/tmp/ht-exitcost-XXXXXX");
    const std::string dir = tmp.path;
    SpawnOptions o;
    o.stdout_path = dir + "/bt.out";
    o.stderr_path = dir + "/bt.err";
    Child bt = spawn({"bpftrace", "-e",
                      "tracepoint:kvm:kvm_pio { @pio[args->port, args->rw] = count(); } "
                      "tracepoint:kvm:kvm_mmio { @mmio[args->gpa, args->type] = count(); } "
                      "tracepoint:kvm:kvm_userspace_exit { @uexit[args->reason] = count(); }"},
                     o);
    ASSERT_TRUE(wait_for([&] { return slurp(dir + "/bt.out").find("Attaching") != std::string::npos; }, 30000))
        << slurp(dir + "/bt.err");
    auto r = run_hypetrace({"exitcost", "--runs", "1", "--ops", "2000", "--sectors", "50", "--hlts", "200", "--detail",
                            "--json", dir + "/x.json", "-q"});
    kill(bt.pid, SIGINT);
    waitpid(bt.pid, nullptr, 0);
    ASSERT_EQ(r.code, 0) << r.err;
    json j = json::parse(slurp(dir + "/x.json"));
    std::string text = slurp(dir + "/bt.out");

    std::map<std::string, long> pio, mmio, uexit;
    for (const auto& ph : j["all_phases"]) {
        for (const auto& e : ph["pio"])
            pio[std::to_string(e["port"].get<long>()) + "," + (e["dir"] == "out" ? "1" : "0")] += e["count"].get<long>();
        for (const auto& e : ph["mmio"])
            mmio[std::to_string(e["gpa"].get<long>()) + "," + std::to_string(e["type"].get<long>())] += e["count"].get<long>();
        for (const auto& e : ph["exits_to_qemu"]) uexit[std::to_string(e["reason"].get<long>())] += e["count"].get<long>();
    }
    EXPECT_EQ(pio, bt_map(text, "pio")) << text;
    EXPECT_EQ(mmio, bt_map(text, "mmio")) << text;
    EXPECT_EQ(uexit, bt_map(text, "uexit")) << text;

    // Each phase did what the payload says: N operations of its kind.
    std::map<std::string, json> phases;
    for (const auto& ph : j["phases"]) phases[ph["phase"]] = ph;
    ASSERT_EQ(phases.size(), 7u);
    auto pio_count = [&](const std::string& phase, long port, const std::string& dir) {
        long n = 0;
        for (const auto& e : phases[phase]["pio"])
            if (e["port"] == port && e["dir"] == dir) n += e["count"].get<long>();
        return n;
    };
    EXPECT_EQ(pio_count("pio-out", 0x406, "out"), 2000);
    EXPECT_EQ(pio_count("pio-in", 0x406, "in"), 2000);
    EXPECT_EQ(pio_count("pio-kernel", 0x21, "in"), 2000);
    EXPECT_EQ(pio_count("disk", 0x1f0, "in"), 50) << "one string read per sector";
    EXPECT_EQ(pio_count("disk", 0x1f7, "out"), 50) << "one READ SECTORS command per sector";
    long mm = 0;
    for (const auto& e : phases["mmio"]["mmio"]) mm += e["count"].get<long>();
    EXPECT_EQ(mm, 2000);
    for (const auto& e : phases["disk"]["pio"]) {
        if (e["port"] == 0x404) continue;  // the phase marker
        EXPECT_EQ(e["device"], "ide") << e.dump();
    }
    EXPECT_EQ(phases["mmio"]["mmio"][0]["device"], "vga-lowmem");
    // hlt: 200 HLTs, each woken by a timer interrupt the handler acknowledges (EOI to port 0x20);
    // the PIC's first initialisation word goes to the same port. A tick that comes while the vCPU
    // is not halted (its handler and loop slower than the PIT's 99.7 us period: a nested guest's
    // exits take 20 to 260 us) is one interrupt more than HLTs; never more than the ticks in the
    // phase's time.
    const long eoi = pio_count("hlt", 0x20, "out");
    double hlt_ns = 0;  // the phase's time over its runs (one here)
    for (const auto& d : phases["hlt"]["duration_ns"]) hlt_ns += d.get<double>();
    const double ticks = hlt_ns / (119 * 1e9 / 1193182);
    EXPECT_GE(eoi, 200 + 1);
    EXPECT_LE(eoi, std::max(200.0, 1.02 * ticks) + 3) << "more interrupts than HLTs and PIT ticks (" << ticks << ")";
    for (auto& [name, ph] : phases) EXPECT_GT(ph["us_per_op"]["mean"].get<double>(), 0.0) << name;
    // KVM_RUN split at kvm:kvm_fpu (--detail): every pio-out operation goes through a KVM_RUN whose
    // entry work (ioctl to guest state loaded) is a part, not all, of its time.
    const auto& run = phases["pio-out"]["kvm_run"];
    EXPECT_GE(run["count"].get<long>(), 2000);
    EXPECT_GT(run["entry_ns"].get<long>(), 0);
    EXPECT_LT(run["entry_ns"].get<long>(), run["ns"].get<long>());
    // The shortest and longest KVM_RUN are exact: they fall in the histogram's lowest and highest
    // log2 buckets, and (where every operation is a KVM_RUN) around the average. (In the other
    // phases the vCPU stays in one KVM_RUN across the phase marker; its time before the marker
    // counts in the phase, its end in the next, so the average there says nothing.)
    for (auto& [name, ph] : phases) {
        const auto& k = ph["kvm_run"];
        if (k["count"].get<long>() == 0) continue;
        const auto& h = ph["kvm_run_log2_ns"];
        ASSERT_FALSE(h.empty()) << name;
        const double lo = double(h.front()["log2_ns"].get<int>()), hi = double(h.back()["log2_ns"].get<int>());
        const double mn = k["min_ns"].get<double>(), mx = k["max_ns"].get<double>();
        const double avg = k["ns"].get<double>() / k["count"].get<double>();
        EXPECT_GT(mn, 0) << name;
        EXPECT_EQ(std::floor(std::log2(mn)), lo) << name << ": min " << mn << " outside the lowest bucket";
        EXPECT_EQ(std::floor(std::log2(mx)), hi) << name << ": max " << mx << " outside the highest bucket";
        if (name != "pio-out" && name != "pio-in") continue;
        EXPECT_LE(mn, avg) << name;
        EXPECT_GE(mx, avg) << name;
    }
    EXPECT_TRUE(pids_with("qemu-system").empty()) << "QEMU outlived the run";
}

// --hlts 0: the payload skips the timer-bound phase (the overhead benchmark times exits only).
TEST(Exitcost, NoHltPhaseWhenAskedForNone) {
    HT_REQUIRE_ROOT();
    HT_REQUIRE_KVM_DEVICE();
    const TestTempDir dir("/tmp/ht-exitcost-XXXXXX");
    auto r = run_hypetrace({"exitcost", "--runs", "1", "--ops", "100", "--sectors", "5", "--hlts", "0", "--json",
                            dir.path + "/x.json", "-q"});
    ASSERT_EQ(r.code, 0) << r.err;
    json j = json::parse(slurp(dir.path + "/x.json"));
    std::set<std::string> names;
    for (const auto& ph : j["phases"]) names.insert(ph["phase"].get<std::string>());
    EXPECT_EQ(names, (std::set<std::string>{"pio-out", "pio-in", "pio-kernel", "mmio", "cpuid", "disk"}));
    for (const auto& ph : j["all_phases"]) EXPECT_NE(ph["phase"], "hlt") << "counts in a phase that did not run";
    // Without --detail KVM_RUN is timed but its entry work is not split (kvm:kvm_fpu not attached),
    // nor is any exit's time in KVM (kvm:kvm_entry), each saying why.
    EXPECT_EQ(j["detail"], false);
    for (const auto& ph : j["phases"]) {
        EXPECT_EQ(ph["kvm_run"]["entry_ns"].get<long>(), 0) << ph["phase"];
        EXPECT_TRUE(ph["kvm_exit_ns"].empty()) << ph["phase"];
    }
    EXPECT_GT(j["phases"][0]["kvm_run"]["ns"].get<long>(), 0);
    for (const auto& s : j["sources"])
        if (s["name"] == "kvm:kvm_fpu" || s["name"] == "kvm:kvm_entry") {
            EXPECT_FALSE(s["attached"].get<bool>()) << s.dump();
            EXPECT_NE(s["note"].get<std::string>().find("not asked for"), std::string::npos) << s.dump();
        }
}

TEST(Exitcost, RefusesTcgInOneLine) {
    auto r = run_hypetrace({"exitcost", "--accel", "tcg"});
    EXPECT_EQ(r.code, 2);
    EXPECT_EQ(r.lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("TCG has none"), std::string::npos) << r.err;
}

// `hypetrace io`: the same fio job runs in a VM (TCG here), a container and natively, handed to the
// guests through the job channel; every technique reports operations per second, and the VM the
// host side of its I/O.
TEST(Io, RunsTheSameFioJobInAVmAContainerAndNatively) {
    HT_REQUIRE_ROOT();
    ASSERT_FALSE(which("fio").empty()) << "fio missing: scripts/setup.sh installs it";
    const TestTempDir tmp("/tmp/ht-io-XXXXXX");
    const std::string dir = tmp.path;
    auto r = run_hypetrace({"io", "--kvm", "--lxc", "--native", "--runs", "1", "--runtime", "1", "--json",
                            dir + "/io.json", "-q"});
    ASSERT_EQ(r.code, 0) << r.err;
    json j = json::parse(slurp(dir + "/io.json"));
    ASSERT_EQ(j["techniques"].size(), 3u);
    for (const auto& t : j["techniques"]) {
        ASSERT_EQ(t["runs"].size(), 1u) << t["id"];
        for (const char* section : {"fileserver", "randread"})
            EXPECT_GT(t["summary"][section]["ops_per_s"]["mean"].get<double>(), 10.0) << t["id"] << " " << section;
    }
    const auto& vm = j["techniques"][0];
    EXPECT_EQ(vm["id"], "kvm");
    EXPECT_GT(vm["host_side"]["cpu_s"].get<double>(), 0.1) << "QEMU's CPU time over the job";
    EXPECT_GT(vm["host_side"]["syscalls_write"].get<uint64_t>() + vm["host_side"]["syscalls_read"].get<uint64_t>(), 0u);
    EXPECT_NE(r.out.find("vs native"), std::string::npos);
    EXPECT_TRUE(pids_with("ht-io-").empty()) << "a guest outlived the run";
}

TEST(Io, RefusesAMissingJobFileInOneLine) {
    HT_REQUIRE_ROOT();
    auto r = run_hypetrace({"io", "--native", "--job", "/nonexistent/job.fio"});
    EXPECT_EQ(r.code, 2) << r.err;  // a bad option value: usage
    EXPECT_EQ(r.lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("--job /nonexistent/job.fio"), std::string::npos) << r.err;
}

// --trace on exitcost: the exits flame graph hangs QEMU's own stacks (CPU samples of the vCPU
// thread while it handles an exit between KVM_RUN calls) under the port they handled, and the
// exits under that port still add up to what the payload did.
TEST(Exitcost, ExitFlameGraphShowsQemuHandlingThePort) {
    HT_REQUIRE_ROOT();
    HT_REQUIRE_KVM_DEVICE();
    const TestTempDir dir("/tmp/ht-exitcost-XXXXXX");
    auto r = run_hypetrace({"exitcost", "--runs", "1", "--ops", "60000", "--sectors", "20", "--hlts", "0", "--trace",
                            dir.path + "/t", "-q"});
    ASSERT_EQ(r.code, 0) << r.err;
    auto f = run_hypetrace({"flamegraph", dir.path + "/t", "--of", "exits", "--format", "folded"});
    ASSERT_EQ(f.code, 0) << f.err;
    const std::string port = "payload;port I/O out;0x406;unassigned";
    long total = 0, under = 0;
    std::istringstream in(f.out);
    std::string line;
    while (std::getline(in, line)) {
        auto sp = line.rfind(' ');
        std::string stack = line.substr(0, sp);
        // under VT-x/AMD-V the port sits under its exit reason (IO_INSTRUCTION, IOIO); under PVM not
        for (const char* reason : {"payload;IOIO;", "payload;IO_INSTRUCTION;"})
            if (stack.rfind(reason, 0) == 0) stack = "payload;" + stack.substr(std::string(reason).size());
        const long n = std::stol(line.substr(sp + 1));
        if (stack == port) total += n;
        if (stack.rfind(port + ";", 0) == 0) {
            total += n;
            under += n;
        }
    }
    EXPECT_EQ(total, 60000 + 0) << "every OUT of the pio-out phase, once\n" << f.out;
    EXPECT_GT(under, 0) << "no sample of QEMU handling port 0x406\n" << f.out;
}
