// SPDX-License-Identifier: MIT
// `--trace DIR` on the experiments, and the commands over trace directories: `record`,
// `flamegraph`, `timeline` (their add_ functions are in cli/commands.h).
#pragma once
#include "core/tracing/bpf_tracer.h"
#include "core/tracing/profiler.h"
#include "core/tracing/trace_dir.h"

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

namespace ht {

// The command line as given (for trace.json).
void remember_command_line(int argc, char** argv);

void add_trace_option(CLI::App* cmd, std::string& dir);

// One experiment's --trace: checks DIR before anything runs, samples CPUs and collects the
// tracer's runs while the experiment runs, writes DIR at finish(). Without --trace it does nothing.
class TraceSession {
public:
    TraceSession(std::string dir, std::string experiment, bool quiet);
    ~TraceSession();
    // Starts sampling; the tracer (may be null: experiments without one) hands over its runs.
    void begin(Tracer* tracer);
    // Stops sampling and writes DIR (atomically). Call after the experiment succeeded.
    void finish();
    bool active() const { return !dir_.empty(); }

private:
    std::string dir_, experiment_;
    bool quiet_;
    Tracer* tracer_ = nullptr;
    std::unique_ptr<Profiler> profiler_;
    Recorder recorder_;
};

}  // namespace ht
