// SPDX-License-Identifier: MIT
#include "core/views/timeline.h"

#include "core/base/text.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>

namespace ht {

namespace {

constexpr int kBenchmarkPid = 1'000'000;  // the process group of the benchmark's own phases

}  // namespace

nlohmann::json chrome_trace(const TraceData& t) {
    // Time zero: the earliest thing recorded.
    uint64_t t0 = std::numeric_limits<uint64_t>::max(), tend = 0;
    auto see = [&](uint64_t ts) {
        if (!ts) return;
        t0 = std::min(t0, ts);
        tend = std::max(tend, ts);
    };
    for (const auto& e : t.events) see(e.ts_ns);
    for (const auto& s : t.spans) {
        see(s.start_ns);
        see(s.end_ns);
    }
    for (const auto& c : t.counters) see(c.start_ns);
    if (t.sampled) {
        see(t.profile.start_ns);
        see(t.profile.end_ns);
    }
    if (t0 == std::numeric_limits<uint64_t>::max()) t0 = tend = 0;
    auto us = [&](uint64_t ns) { return double(ns - std::min(ns, t0)) / 1e3; };

    nlohmann::json ev = nlohmann::json::array();
    auto meta = [&](const char* what, int pid, int64_t tid, const std::string& name) {
        nlohmann::json m = {{"ph", "M"}, {"name", what}, {"pid", pid}, {"args", {{"name", name}}}};
        if (tid >= 0) m["tid"] = tid;
        ev.push_back(std::move(m));
    };
    std::map<uint32_t, std::string> guests = t.guests;
    guests[0] = "host";
    std::set<uint32_t> used_guests;
    const auto guest_of = t.guest_of_process();

    // Processes: a track each, their lifetime a slice (fork or exec to exit, or the trace's end).
    struct Life {
        uint32_t guest = 0;
        uint64_t start = 0, end = 0;
        std::string name;
    };
    std::map<uint32_t, Life> lives;
    for (const auto& e : t.events) {
        if (e.type == EventType::fork) {
            auto& l = lives[e.aux];
            l.guest = e.guest;
            if (!l.start) l.start = e.ts_ns;
            if (l.name.empty()) l.name = e.comm;
        } else if (e.type == EventType::exec) {
            auto& l = lives[e.tgid];
            l.guest = e.guest;
            if (!l.start) l.start = e.ts_ns;
            l.name = base_name(e.path.empty() ? e.comm : e.path);
        } else if (e.type == EventType::exit) {
            auto& l = lives[e.tgid];
            l.guest = e.guest;
            l.end = e.ts_ns;
            if (l.name.empty()) l.name = e.comm;
        }
    }
    for (auto& [tgid, l] : lives) {
        if (!l.start) l.start = t0;
        if (!l.end) l.end = tend;
        used_guests.insert(l.guest);
        meta("thread_name", int(l.guest), tgid, l.name + " (" + std::to_string(tgid) + ")");
        ev.push_back({{"ph", "X"}, {"name", l.name}, {"cat", "process"}, {"pid", l.guest}, {"tid", tgid},
                      {"ts", us(l.start)}, {"dur", us(l.end) - us(l.start)}});
    }
    // Marks: execs and guest phase markers as instants on their process's track.
    for (const auto& e : t.events) {
        if (e.type == EventType::exec)
            ev.push_back({{"ph", "i"}, {"s", "t"}, {"name", "exec " + base_name(e.path)}, {"cat", "exec"},
                          {"pid", e.guest}, {"tid", e.tgid}, {"ts", us(e.ts_ns)}, {"args", {{"path", e.path}}}});
        if (e.type == EventType::phase)
            ev.push_back({{"ph", "i"}, {"s", "p"}, {"name", "phase " + std::to_string(e.aux)}, {"cat", "phase"},
                          {"pid", e.guest}, {"tid", e.tgid}, {"ts", us(e.ts_ns)}});
        if (e.type == EventType::kvm_run_first)
            ev.push_back({{"ph", "i"}, {"s", "t"}, {"name", "first KVM_RUN"}, {"cat", "kvm"}, {"pid", e.guest},
                          {"tid", e.tgid}, {"ts", us(e.ts_ns)}});
    }
    // The benchmark's phases: on the guest's own group when the track is a guest's name.
    std::map<std::string, int> bench_tracks;
    for (const auto& s : t.spans) {
        int pid = kBenchmarkPid, tid = 0;
        for (const auto& [id, name] : guests)
            if (name == s.track) pid = int(id);
        if (pid == kBenchmarkPid) {
            auto [it, fresh] = bench_tracks.emplace(s.track, int(bench_tracks.size()) + 1);
            tid = it->second;
            if (fresh) meta("thread_name", pid, tid, s.track);
        } else {
            used_guests.insert(uint32_t(pid));
        }
        ev.push_back({{"ph", "X"}, {"name", s.name}, {"cat", "benchmark"}, {"pid", pid}, {"tid", tid},
                      {"ts", us(s.start_ns)}, {"dur", us(std::max(s.end_ns, s.start_ns)) - us(s.start_ns)}});
    }
    for (const auto& [id, name] : guests)
        if (used_guests.count(id)) {
            meta("thread_name", int(id), 0, "phases");
        }
    if (!bench_tracks.empty()) meta("process_name", kBenchmarkPid, -1, "benchmark");

    // Counters per guest and bucket, as rates.
    struct Rates {
        double exits = 0, kvm_exits = 0, faults = 0, ksm = 0;
        uint64_t width = 0;
    };
    std::map<std::pair<uint32_t, uint64_t>, Rates> rates;
    for (const auto& c : t.counters) {
        auto& r = rates[{c.guest, c.start_ns}];
        r.width = c.width_ns;
        switch (c.kind) {
        case CounterKind::kvm_user_exit: r.exits += double(c.value); break;
        case CounterKind::kvm_exit: r.kvm_exits += double(c.value); break;
        case CounterKind::fault_user:
        case CounterKind::fault_kernel: r.faults += double(c.value); break;
        case CounterKind::ksm_merge: r.ksm += double(c.value); break;
        default: break;
        }
    }
    for (const auto& [k, r] : rates) {
        if (!r.width) continue;
        used_guests.insert(k.first);
        const double per_s = 1e9 / double(r.width);
        // VT-x/AMD-V: every exit (kvm_exit); elsewhere the exits that reached QEMU.
        const double exits = r.kvm_exits > 0 ? r.kvm_exits : r.exits;
        ev.push_back({{"ph", "C"}, {"name", "exits/s"}, {"pid", k.first}, {"ts", us(k.second)}, {"args", {{"exits", exits * per_s}}}});
        ev.push_back({{"ph", "C"}, {"name", "faults/s"}, {"pid", k.first}, {"ts", us(k.second)}, {"args", {{"faults", r.faults * per_s}}}});
        ev.push_back({{"ph", "C"}, {"name", "KSM merges/s"}, {"pid", k.first}, {"ts", us(k.second)},
                      {"args", {{"merges", r.ksm * per_s}}}});
    }
    // CPU per guest from the samples: the share of one CPU, per bucket.
    if (t.sampled && t.profile.freq_hz && t.profile.bucket_ns) {
        std::map<std::pair<uint32_t, uint64_t>, uint64_t> cpu;
        for (const auto& s : t.profile.samples) {
            auto it = guest_of.find(s.tgid);
            cpu[{it == guest_of.end() ? 0 : it->second, s.bucket_start_ns}] += s.count;
        }
        const double per_bucket = double(t.profile.freq_hz) * double(t.profile.bucket_ns) / 1e9;
        for (const auto& [k, n] : cpu) {
            used_guests.insert(k.first);
            ev.push_back({{"ph", "C"}, {"name", "CPU (cores)"}, {"pid", k.first}, {"ts", us(k.second)},
                          {"args", {{"cores", double(n) / per_bucket}}}});
        }
    }
    for (const auto& [id, name] : guests)
        if (used_guests.count(id)) meta("process_name", int(id), -1, id == 0 ? "host" : name);

    nlohmann::json out = nlohmann::json::object();
    out["traceEvents"] = std::move(ev);  // not copied: a main job's trace has hundreds of thousands
    out["displayTimeUnit"] = "ms";
    out["otherData"] = {{"tool", "hypetrace timeline"}, {"experiment", t.meta.value("experiment", "")},
                        {"t0_monotonic_ns", t0}};
    return out;
}

}  // namespace ht
