// SPDX-License-Identifier: MIT
// The trace directory (`--trace DIR`, `hypetrace record`): everything a run produced, kept so that
// flame graphs and timelines can be made after the guests are gone. Format version 1, documented
// in docs/trace-format.md: trace.json (what, when, where, guests, spans, profile facts) and four
// tab-separated files (samples, stacks, events, counters), all times CLOCK_MONOTONIC ns.
#pragma once
#include "core/tracing/profiler.h"
#include "core/tracing/trace_data.h"

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ht {

inline constexpr int kTraceFormatVersion = 1;

struct TraceSpan {
    std::string track, name;
    uint64_t start_ns = 0, end_ns = 0;
};

// A counter of one guest over one bucket (CounterSample with its absolute time).
struct TraceCounter {
    uint32_t guest = 0;
    uint64_t start_ns = 0, width_ns = 0;
    CounterKind kind{};
    uint64_t sub = 0;
    uint32_t phase = 0;
    uint64_t value = 0;
};

struct TraceData {
    nlohmann::json meta = nlohmann::json::object();  // experiment, command, host, created (free form)
    std::map<uint32_t, std::string> guests;          // id -> name ("LXC run 1")
    std::vector<TraceSpan> spans;
    std::vector<ProcEvent> events;
    std::vector<TraceCounter> counters;
    std::vector<KsmScan> ksm_scans;
    bool sampled = false;
    Profile profile;

    // tgid -> guest id, from the fork and exec events (0 for the host's own processes).
    std::map<uint32_t, uint32_t> guest_of_process() const;
};

// Writes `dir` atomically: into DIR.partial-PID, renamed to DIR at the end (an empty DIR is
// replaced). Throws UserError; leaves nothing behind on failure. While it writes, a scratch
// directory trace-PID-XXXXXX under kTracePartialParent holds DIR.partial-PID's path in
// kTracePartialFile, for `hypetrace cleanup` to remove it if the run is killed meanwhile.
inline constexpr const char* kTracePartialParent = "/run/hypetrace";
inline constexpr const char* kTracePartialFile = "partial";
void write_trace_dir(const std::string& dir, const TraceData& t);
// Reads a trace directory. Throws UserError (not a trace, newer format, unreadable).
TraceData read_trace_dir(const std::string& dir);
// The texts of a trace directory's files.
struct TraceTexts {
    std::string meta, stacks, samples, events, counters, ksm;  // trace.json, stacks.tsv, ...
};
// Parses them (`dir` names the directory in messages): whatever the files hold, the result or a
// UserError, nothing else (tests/fuzz).
TraceData parse_trace_texts(const TraceTexts& texts, const std::string& dir);
// Refuses (UserError) a `--trace` directory that exists and is not empty, or whose parent is not
// writable; called before any run.
void check_trace_dir(const std::string& dir);

// Collects what the tracer and the experiment report (RunSink) and the profile, then writes.
class Recorder : public RunSink {
public:
    void run_ended(const RunTrace& run, const std::vector<KsmScan>& ksm_scans) override;
    void span(const std::string& track, const std::string& name, uint64_t start_ns, uint64_t end_ns) override;
    void name_guest(uint32_t guest, const std::string& name) override;
    void name_address(const std::string& key, const std::string& device) override;
    TraceData& data() { return data_; }

private:
    TraceData data_;
};

const char* counter_kind_name(CounterKind k);
const char* event_type_name(EventType t);

}  // namespace ht
