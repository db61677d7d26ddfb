// SPDX-License-Identifier: MIT
#include "cli/trace_cmds.h"
#include "cli/options.h"

#include "cli/commands.h"
#include "core/base/clock.h"
#include "core/base/error.h"
#include "core/host/files.h"
#include "core/views/flamegraph.h"
#include "core/host/host.h"
#include "core/base/json_text.h"
#include "core/base/text.h"
#include "core/views/timeline.h"
#include "core/views/report.h"

#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <vector>

namespace ht {

namespace {

std::vector<std::string> g_command;

// The experiments that take --trace.
const std::set<std::string> kTraceable = {"startup", "memory", "devices", "dedup", "io", "exitcost"};

void say(bool quiet, const std::string& line) { progress_printer(quiet)(line); }

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

namespace {

struct RecordArgs {
    std::string out;
    std::vector<std::string> rest;
};

struct FlamegraphArgs {
    std::string dir, of = "cpu", guest, format = "svg", out, title;
    std::vector<std::string> diff;
    bool quiet = false;
};

struct TimelineArgs {
    std::string dir, out;
    bool quiet = false;
};

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

}  // namespace

Command add_record(CLI::App& app) {
    auto a = std::make_shared<RecordArgs>();
    auto* record = app.add_subcommand("record", "Run an experiment with --trace DIR: its raw material kept for flamegraph "
                                                "and timeline");
    record->add_option("-o,--output", a->out, "the trace directory to create (must not exist, or be empty)");
    record->add_option("experiment", a->rest, "the experiment and its arguments, after --");
    record->footer("Examples:\n"
                   "  hypetrace record -o out/ -- startup --lxc --kvm --runs 2\n"
                   "  hypetrace record -o io-trace -- io --kvm --lxc --native --runtime 5\n"
                   "The same as adding --trace DIR to the experiment. Then: hypetrace flamegraph DIR, hypetrace timeline DIR.");
    return {record, [a] { return cmd_record(*a, "/proc/self/exe"); }};
}

Command add_flamegraph(CLI::App& app) {
    auto a = std::make_shared<FlamegraphArgs>();
    auto* flamegraph = app.add_subcommand("flamegraph", "A flame graph of a trace directory: CPU stacks, VM exits or "
                                                        "page-fault handling, folded or as interactive SVG");
    flamegraph->add_option("dir", a->dir, "the trace directory (made with --trace DIR or hypetrace record)");
    flamegraph->add_option("--of", a->of, "what the stacks count: cpu (samples), exits (VM exits by reason, port/address, "
                                          "device, then QEMU's stacks handling them where sampled), faults (samples "
                                          "in page-fault handling)")
        ->check(CLI::IsMember({"cpu", "exits", "faults"}))
        ->capture_default_str();
    flamegraph->add_option("--guest", a->guest, "only this guest: its name or the start of names ('LXC' for 'LXC run 1', ...)");
    flamegraph->add_option("--format", a->format, "folded (a;b;c count: flamegraph.pl, inferno, speedscope) or svg")
        ->check(CLI::IsMember({"folded", "svg"}))
        ->capture_default_str();
    flamegraph->add_option("-o,--output", a->out, "write to FILE (default: DIR/flamegraph-OF.svg; folded: standard output)");
    flamegraph->add_option("--diff", a->diff, "a differential flame graph of two traces: --diff DIR_A DIR_B")->expected(2);
    flamegraph->add_option("--title", a->title, "the SVG's title");
    flamegraph->add_flag("-q,--quiet", a->quiet, "no progress lines on stderr");
    flamegraph->footer("Examples:\n"
                       "  hypetrace flamegraph out/                          # out/flamegraph-cpu.svg\n"
                       "  hypetrace flamegraph out/ --guest LXC --format folded > lxc.folded\n"
                       "  hypetrace flamegraph out/ --of exits               # exits by port/address and device\n"
                       "  hypetrace flamegraph --diff lxc-trace/ vm-trace/ -o diff.svg\n"
                       "Kernel frames end in _[k]. User stacks are unwound by frame pointers: Debian's binaries are\n"
                       "built without them, so their stacks are often one or two frames deep.");
    return {flamegraph, [a] { return cmd_flamegraph(*a); }};
}

Command add_timeline(CLI::App& app) {
    auto a = std::make_shared<TimelineArgs>();
    auto* timeline = app.add_subcommand("timeline", "A trace directory as one timeline: Chrome trace JSON for the "
                                                    "Perfetto UI or chrome://tracing");
    timeline->add_option("dir", a->dir, "the trace directory (made with --trace DIR or hypetrace record)");
    timeline->add_option("-o,--output", a->out, "write to FILE (default: DIR/timeline.json)");
    timeline->add_flag("-q,--quiet", a->quiet, "no progress lines on stderr");
    timeline->footer("Examples:\n"
                     "  hypetrace timeline out/                  # out/timeline.json\n"
                     "  hypetrace timeline out/ -o startup.json\n"
                     "One track per guest and process (its lifetime a slice), the benchmark's phases as slices,\n"
                     "exec and phase marks, counters of exits/s, faults/s, KSM merges/s and CPU per guest.");
    return {timeline, [a] { return cmd_timeline(*a); }};
}

}  // namespace ht
