// SPDX-License-Identifier: MIT
// --trace on a real start-up run of a TCG VM and a container: the trace directory has both guests'
// samples, processes and phases, and flamegraph and timeline make their files from it; `record`
// is the same; bad --trace directories are refused before anything runs.
#include "common.h"
#include "core/base/error.h"
#include "core/views/flamegraph.h"
#include "core/host/proc.h"
#include "core/tracing/trace_dir.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>

using namespace ht;
using json = nlohmann::json;

namespace {
std::string slurp(const std::string& p) { return read_text(p).value_or(""); }
constexpr const char* kTempDir = "/tmp/ht-trace-it-XXXXXX";
}  // namespace

TEST(TraceDir, StartupOfAVmAndAContainerIsExplorableAfterwards) {
    HT_REQUIRE_ROOT();
    const TestTempDir tmp(kTempDir);
    const std::string parent = tmp.path, dir = parent + "/out";
    auto r = run_hypetrace({"startup", "--lxc", "--kvm", "--accel", "tcg", "--runs", "1", "--warmup", "0", "--trace", dir,
                            "-q"});
    ASSERT_EQ(r.code, 0) << r.err;
    TraceData t = read_trace_dir(dir);
    std::set<std::string> names;
    for (const auto& [id, n] : t.guests) names.insert(n);
    EXPECT_EQ(names, (std::set<std::string>{"KVM (TCG) run 1", "LXC run 1"}));
    ASSERT_TRUE(t.sampled);
    EXPECT_EQ(t.profile.freq_hz, 999u);
    EXPECT_EQ(t.profile.lost_samples, 0u);
    // Samples of both guests: QEMU's TCG threads and the container's processes ran on the CPUs.
    FoldOptions o;
    o.guest = "KVM (TCG)";
    uint64_t vm = 0, ct = 0;
    bool qemu = false;
    for (const auto& s : fold(t, o)) {
        vm += s.count;
        qemu = qemu || s.stack.find("qemu-system-x86") != std::string::npos || s.stack.find("CPU 0/TCG") != std::string::npos;
    }
    o.guest = "LXC";
    for (const auto& s : fold(t, o)) ct += s.count;
    EXPECT_GT(vm, 1000u) << "a TCG boot keeps a CPU busy for seconds";
    EXPECT_GT(ct, 10u);
    EXPECT_TRUE(qemu);
    // Phases of both runs are on their guests' tracks.
    std::set<std::string> tracks;
    for (const auto& s : t.spans) tracks.insert(s.track);
    EXPECT_TRUE(tracks.count("KVM (TCG) run 1") && tracks.count("LXC run 1"));

    auto fg = run_hypetrace({"flamegraph", dir, "-q"});
    ASSERT_EQ(fg.code, 0) << fg.err;
    std::string svg = slurp(dir + "/flamegraph-cpu.svg");
    EXPECT_NE(svg.find("</svg>"), std::string::npos);
    EXPECT_NE(svg.find("KVM (TCG) run 1"), std::string::npos);

    auto tl = run_hypetrace({"timeline", dir, "-o", parent + "/trace.json", "-q"});
    ASSERT_EQ(tl.code, 0) << tl.err;
    json j = json::parse(slurp(parent + "/trace.json"));
    std::set<std::string> processes;
    std::set<std::string> phase_tracks;
    bool exits_counter = false, cpu_counter = false;
    for (const auto& e : j["traceEvents"]) {
        if (e["ph"] == "M" && e["name"] == "process_name") processes.insert(e["args"]["name"]);
        if (e["ph"] == "C" && e["name"] == "faults/s") exits_counter = true;
        if (e["ph"] == "C" && e["name"] == "CPU (cores)") cpu_counter = true;
        if (e["ph"] == "X" && e["cat"] == "benchmark") phase_tracks.insert(std::to_string(e["pid"].get<int>()));
    }
    EXPECT_TRUE(processes.count("KVM (TCG) run 1") && processes.count("LXC run 1")) << j.dump().substr(0, 400);
    EXPECT_EQ(phase_tracks.size(), 2u) << "phases on each guest's own process group";
    EXPECT_TRUE(exits_counter);
    EXPECT_TRUE(cpu_counter);
}

TEST(TraceDir, RecordIsTheSameAsTrace) {
    HT_REQUIRE_ROOT();
    const TestTempDir tmp(kTempDir);
    const std::string parent = tmp.path, dir = parent + "/rec";
    auto r = run_hypetrace({"record", "-o", dir, "--", "startup", "--native", "--runs", "1", "--warmup", "0", "-q"});
    ASSERT_EQ(r.code, 0) << r.err;
    TraceData t = read_trace_dir(dir);
    ASSERT_EQ(t.guests.size(), 1u);
    EXPECT_EQ(t.guests.begin()->second, "native bash run 1");
    EXPECT_EQ(t.meta["experiment"], "startup");
    auto cmd = t.meta["command"].get<std::vector<std::string>>();
    EXPECT_EQ(cmd.back(), dir);
}

TEST(TraceDir, BadDirectoriesAreRefusedInOneLineBeforeAnyRun) {
    HT_REQUIRE_ROOT();
    const TestTempDir tmp(kTempDir);
    const std::string parent = tmp.path;
    std::ofstream(parent + "/keep") << "x";
    auto r = run_hypetrace({"startup", "--native", "--runs", "1", "--trace", parent});
    EXPECT_EQ(r.code, 2);
    EXPECT_EQ(r.lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("not empty"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "") << "nothing ran";
    EXPECT_TRUE(std::filesystem::exists(parent + "/keep"));
    auto f = run_hypetrace({"flamegraph", parent});
    EXPECT_EQ(f.code, 1);
    EXPECT_EQ(f.lines(f.err), 1) << f.err;
    auto rec = run_hypetrace({"record", "-o", parent + "/x", "--", "host"});
    EXPECT_EQ(rec.code, 2);
    EXPECT_NE(rec.err.find("not an experiment"), std::string::npos) << rec.err;
    // A missing argument says which and how, in one line.
    for (const auto& [args, says] : std::vector<std::pair<std::vector<std::string>, std::string>>{
             {{"timeline"}, "timeline needs a trace directory"},
             {{"flamegraph"}, "flamegraph needs a trace directory"},
             {{"record", "--", "startup", "--native"}, "record needs -o DIR"},
             {{"record", "-o", parent + "/y"}, "record needs an experiment after --"}}) {
        auto m = run_hypetrace(args);
        EXPECT_EQ(m.code, 2) << args[0];
        EXPECT_EQ(m.lines(m.err), 1) << m.err;
        EXPECT_NE(m.err.find(says), std::string::npos) << m.err;
    }
    EXPECT_FALSE(std::filesystem::exists(parent + "/y"));
}

// A disk that fills while the trace is written: the directory is complete or absent. Before,
// only samples.tsv had its stream checked (and not its final flush), so a trace whose events did
// not fit was renamed into place truncated and read as complete.
TEST(TraceDir, AFullDiskLeavesNoTraceDirectory) {
    HT_REQUIRE_ROOT();
    const TestTempDir tmp(kTempDir);
    const std::string mnt = tmp.path;
    ASSERT_EQ(std::system(("mount -t tmpfs -o size=256k ht-full " + mnt).c_str()), 0);
    struct Unmount {  // before tmp removes the mount point, however the test ends
        std::string at;
        ~Unmount() { std::system(("umount " + at).c_str()); }
    } unmount{mnt};
    TraceData t;
    t.meta["experiment"] = "test";
    t.guests[1] = "KVM run 1";
    for (uint32_t i = 0; i < 20000; ++i) {  // about 1.5 MB of events.tsv
        ProcEvent e;
        e.type = EventType::exec;
        e.ts_ns = 1000000 + i;
        e.guest = 1;
        e.pid = e.tgid = 1000 + i;
        e.comm = "bash";
        e.path = "/usr/bin/some-long-program-name-" + std::to_string(i);
        t.events.push_back(e);
    }
    const std::string dir = mnt + "/trace";
    std::string err;
    try {
        write_trace_dir(dir, t);
    } catch (const UserError& e) {
        err = e.what();
    }
    std::vector<std::string> left;
    for (const auto& e : std::filesystem::directory_iterator(mnt)) left.push_back(e.path().filename().string());
    EXPECT_NE(err.find("events.tsv"), std::string::npos) << "the write must fail, naming the stream: '" << err << "'";
    EXPECT_TRUE(left.empty()) << "left behind: " << left.front();
}
