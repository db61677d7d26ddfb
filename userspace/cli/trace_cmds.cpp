// SPDX-License-Identifier: MIT
#include "cli/trace_cmds.h"

#include "core/clock.h"
#include "core/error.h"
#include "core/files.h"
#include "core/flamegraph.h"
#include "core/host.h"
#include "core/json_text.h"
#include "core/text.h"
#include "core/timeline.h"
#include "experiments/report.h"

#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <set>

namespace ht {

namespace {

std::vector<std::string> g_command;

// The experiments that take --trace.
const std::set<std::string> kTraceable = {"startup", "memory", "devices", "dedup", "io", "exitcost"};

void say(bool quiet, const std::string& line) {
    if (!quiet) std::cerr << "[hypetrace] " << line << std::endl;
}

}  // namespace

void remember_command_line(int argc, char** argv) { g_command.assign(argv, argv + argc); }

void add_trace_option(CLI::App* cmd, std::string& dir) {
    cmd->add_option("--trace", dir,
                    "keep the run's raw material in DIR (a new directory): CPU stack samples, exec/fork/exit, "
                    "exit and fault counters, KSM scans, the benchmark's phases; then hypetrace flamegraph DIR, "
                    "hypetrace timeline DIR");
}

TraceSession::TraceSession(std::string dir, std::string experiment, bool quiet)
    : dir_(std::move(dir)), experiment_(std::move(experiment)), quiet_(quiet) {
    if (!dir_.empty()) check_trace_dir(dir_);
}

TraceSession::~TraceSession() {
    if (tracer_) {
        tracer_->set_sink(nullptr);
        tracer_->note_exits_handled(false);
    }
}

void TraceSession::begin(Tracer* tracer) {
    if (dir_.empty()) return;
    ProfileOptions po;
    if (tracer) po.run_state_map_fd = tracer->run_state_map_fd();
    profiler_ = std::make_unique<Profiler>(po);
    tracer_ = tracer;
    if (tracer_) {
        tracer_->set_sink(&recorder_);
        tracer_->note_exits_handled(true);
    }
    profiler_->start();
}

void TraceSession::finish() {
    if (dir_.empty() || !profiler_) return;
    if (tracer_) {
        tracer_->set_sink(nullptr);
        tracer_->note_exits_handled(false);
    }
    tracer_ = nullptr;
    TraceData& d = recorder_.data();
    d.profile = profiler_->stop();
    profiler_.reset();
    d.sampled = true;
    d.meta["experiment"] = experiment_;
    d.meta["command"] = g_command;
    d.meta["created"] = utc_now();
    const HostInfo host = probe_host();
    d.meta["host"] = {{"kernel", host.kernel}, {"cpus", host.cpus}, {"virt_extensions", host.virt_extensions}};
    write_trace_dir(dir_, d);
    uint64_t samples = 0;
    for (const auto& s : d.profile.samples) samples += s.count;
    say(quiet_, "trace: " + dir_ + " (" + std::to_string(samples) + " CPU samples at " +
                    std::to_string(d.profile.freq_hz) + " Hz on " + std::to_string(d.profile.cpus) + " CPUs, " +
                    std::to_string(d.events.size()) + " events, " + std::to_string(d.counters.size()) +
                    " counters); next: hypetrace flamegraph " + dir_ + ", hypetrace timeline " + dir_);
}

int cmd_record(const RecordArgs& a, const char* self) {
    if (a.out.empty()) throw usage_error("record needs -o DIR: hypetrace record -o DIR -- startup --lxc --runs 2");
    if (a.rest.empty())
        throw usage_error("record needs an experiment after --: hypetrace record -o DIR -- startup --lxc --runs 2");
    if (!kTraceable.count(a.rest[0]))
        throw usage_error("record: '" + a.rest[0] + "' is not an experiment hypetrace can record (one of: startup, "
                          "memory, devices, dedup, io, exitcost)");
    for (const auto& s : a.rest)
        if (s == "--trace" || s.rfind("--trace=", 0) == 0)
            throw usage_error("record: give the directory once, with -o, not --trace");
    check_trace_dir(a.out);
    std::vector<std::string> args{"hypetrace"};
    args.insert(args.end(), a.rest.begin(), a.rest.end());
    args.push_back("--trace");
    args.push_back(a.out);
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    execv(self, argv.data());
    throw UserError(errno_text("cannot run " + std::string(self), errno));
}

int cmd_flamegraph(const FlamegraphArgs& a) {
    FoldOptions fo;
    fo.of = a.of == "exits" ? FlameOf::exits : a.of == "faults" ? FlameOf::faults : FlameOf::cpu;
    fo.guest = a.guest;
    const char* unit = fo.of == FlameOf::exits ? "exits" : "samples";
    SvgOptions so;
    so.unit = unit;
    std::string text, default_out;
    if (!a.diff.empty()) {
        if (a.diff.size() != 2) throw usage_error("--diff takes two trace directories: --diff DIR_A DIR_B");
        if (!a.dir.empty()) throw usage_error("give either a trace directory or --diff DIR_A DIR_B, not both");
        fo.guest_root = false;  // the same process in both runs must line up
        TraceData ta = read_trace_dir(a.diff[0]), tb = read_trace_dir(a.diff[1]);
        Folded fa = fold(ta, fo), fb = fold(tb, fo);
        if (fa.empty() && fb.empty()) throw UserError("nothing to compare: neither trace has " + a.of + " data");
        auto d = diff_folded(fa, fb);
        so.title = a.title.empty() ? "hypetrace differential flame graph (" + a.of + ")" : a.title;
        so.subtitle = "widths: " + a.diff[1] + "; red: more in it than in " + a.diff[0] + ", blue: less (share of all " +
                      unit + ")";
        text = a.format == "folded" ? diff_text(d) : diff_flamegraph_svg(d, so);
        default_out = "flamegraph-diff-" + a.of + ".svg";
    } else {
        if (a.dir.empty()) throw usage_error("flamegraph needs a trace directory (made with --trace DIR) or --diff A B");
        TraceData t = read_trace_dir(a.dir);
        if (fo.of != FlameOf::exits && !t.sampled)
            throw UserError(a.dir + " has no CPU samples (recorded without sampling)");
        Folded f = fold(t, fo);
        if (f.empty())
            throw UserError("nothing to draw: " + a.dir + " has no " +
                            (fo.of == FlameOf::exits   ? std::string("VM exits (no VM under KVM in it?)")
                             : fo.of == FlameOf::faults ? std::string("CPU samples in page-fault handling")
                                                        : std::string("CPU samples")) +
                            (a.guest.empty() ? "" : " of guest " + a.guest));
        uint64_t total = 0;
        for (const auto& s : f) total += s.count;
        so.title = a.title.empty() ? "hypetrace " + a.of + " flame graph: " + t.meta.value("experiment", "") : a.title;
        so.subtitle = std::to_string(total) + " " + unit + (a.guest.empty() ? "" : ", guest " + a.guest) +
                      (fo.of == FlameOf::exits ? "" : ", " + std::to_string(t.profile.freq_hz) + " Hz per CPU");
        text = a.format == "folded" ? folded_text(f) : flamegraph_svg(f, so);
        default_out = (std::filesystem::path(a.dir) / ("flamegraph-" + a.of + ".svg")).string();
    }
    if (a.format == "folded" && a.out.empty()) {
        std::cout << text << std::flush;
        return 0;
    }
    const std::string out = a.out.empty() ? default_out : a.out;
    write_file_atomic(out, text);
    say(a.quiet, "wrote " + out + (a.format == "svg" ? " (open it in a browser: click to zoom, Ctrl-F to search)" : ""));
    return 0;
}

int cmd_timeline(const TimelineArgs& a) {
    if (a.dir.empty()) throw usage_error("timeline needs a trace directory (made with --trace DIR): hypetrace timeline DIR");
    TraceData t = read_trace_dir(a.dir);
    const std::string out = a.out.empty() ? (std::filesystem::path(a.dir) / "timeline.json").string() : a.out;
    write_file_atomic(out, dump_json(chrome_trace(t)) + "\n");
    say(a.quiet, "wrote " + out + " (open it in the Perfetto UI or chrome://tracing)");
    return 0;
}

}  // namespace ht
