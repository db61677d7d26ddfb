// SPDX-License-Identifier: MIT
#include "experiments/phases.h"

#include "core/base/text.h"

#include "core/tracing/kvm_names.h"

#include <algorithm>
#include <functional>
#include <optional>

namespace ht {

PhaseCounts& PhaseCounts::operator+=(const PhaseCounts& o) {
    execs += o.execs;
    forks += o.forks;
    exits += o.exits;
    faults_user += o.faults_user;
    faults_kernel += o.faults_kernel;
    kvm_exits += o.kvm_exits;
    kvm_exit_ns += o.kvm_exit_ns;
    kvm_userspace_exits += o.kvm_userspace_exits;
    kvm_pio += o.kvm_pio;
    kvm_mmio += o.kvm_mmio;
    kvm_runs += o.kvm_runs;
    kvm_run_ns += o.kvm_run_ns;
    for (const auto& [k, v] : o.exit_reasons) exit_reasons[k] += v;
    for (const auto& [k, v] : o.userspace_exit_reasons) userspace_exit_reasons[k] += v;
    for (const auto& [k, v] : o.pio_ports) pio_ports[k] += v;
    return *this;
}

namespace {

std::optional<uint64_t> first_event(const std::vector<ProcEvent>& events, EventType type,
                                    const std::function<bool(const ProcEvent&)>& pred = nullptr) {
    std::optional<uint64_t> best;
    for (const auto& e : events)
        if (e.type == type && (!pred || pred(e)) && (!best || e.ts_ns < *best)) best = e.ts_ns;
    return best;
}

std::optional<uint64_t> console_hit(const std::vector<MarkerHit>& hits, const std::string& mark) {
    for (const auto& h : hits)
        if (h.mark == mark) return h.ts_ns;
    return std::nullopt;
}

void add_counter(PhaseCounts& c, const CounterSample& s) {
    switch (s.kind) {
    case CounterKind::fault_user: c.faults_user += s.value; break;
    case CounterKind::fault_kernel: c.faults_kernel += s.value; break;
    case CounterKind::kvm_exit:
        c.kvm_exits += s.value;
        c.exit_reasons[kvm_exit_reason_name(uint32_t(s.sub >> 32), uint32_t(s.sub))] += s.value;
        break;
    case CounterKind::kvm_exit_ns: c.kvm_exit_ns += s.value; break;
    case CounterKind::kvm_user_exit:
        c.kvm_userspace_exits += s.value;
        c.userspace_exit_reasons[kvm_userspace_exit_name(uint32_t(s.sub))] += s.value;
        break;
    case CounterKind::kvm_pio:
        c.kvm_pio += s.value;
        c.pio_ports[uint32_t(s.sub & 0xffff)] += s.value;
        break;
    case CounterKind::kvm_mmio: c.kvm_mmio += s.value; break;
    case CounterKind::kvm_run: c.kvm_runs += s.value; break;
    case CounterKind::kvm_run_ns: c.kvm_run_ns += s.value; break;
    case CounterKind::exec:
    case CounterKind::fork:
    case CounterKind::exit:
    case CounterKind::kvm_run_log2:
    case CounterKind::kvm_run_entry_ns:
    case CounterKind::kvm_run_min_ns:
    case CounterKind::kvm_run_max_ns:
    case CounterKind::ksm_merge:
    case CounterKind::sched_runq_ns:  // the scheduler's: density sums them (core/tracing/sched_summary)
    case CounterKind::sched_runq_log2:
    case CounterKind::sched_oncpu_ns:
    case CounterKind::sched_preempted:
    case CounterKind::sched_switch_vol:
    case CounterKind::sched_migrate: break;  // exec/fork/exit are counted from events (exact times)
    }
}

void add_event(PhaseCounts& c, const ProcEvent& e) {
    if (e.type == EventType::exec) ++c.execs;
    else if (e.type == EventType::fork) ++c.forks;
    else if (e.type == EventType::exit) ++c.exits;
}

}  // namespace

namespace {

struct Candidate {
    std::string name;
    std::optional<uint64_t> ts;
    std::string source, phase;
};

// The candidates found, each no earlier than the one before it.
std::vector<Mark> in_order(const std::vector<Candidate>& c) {
    std::vector<Mark> marks;
    for (const auto& cand : c) {
        if (!cand.ts) continue;
        if (!marks.empty() && *cand.ts < marks.back().ts_ns) continue;
        marks.push_back({cand.name, *cand.ts, cand.source, cand.phase});
    }
    return marks;
}

}  // namespace

std::vector<Mark> derive_marks(GuestKind kind, uint64_t launch_ns, const std::vector<ProcEvent>& events,
                               const std::vector<MarkerHit>& hits, const std::string& init_path) {
    std::vector<Candidate> c;
    c.push_back({"launch", launch_ns, "host", ""});
    switch (kind) {
    case GuestKind::vm: {
        c[0].phase = "launcher";
        c.push_back({"qemu_exec", first_event(events, EventType::exec), "bpf:sched_process_exec", "qemu init"});
        auto run = first_event(events, EventType::kvm_run_first);
        if (run) {
            c.push_back({"vcpu_start", run, "bpf:KVM_RUN ioctl", "firmware"});
        } else {
            auto named = first_event(events, EventType::rename,
                                     [](const ProcEvent& e) { return e.comm.rfind("CPU ", 0) == 0; });
            c.push_back({"vcpu_start", named, "bpf:task_rename (vCPU thread started; no KVM_RUN under TCG)",
                         "firmware"});
        }
        c.push_back({"firmware_done", console_hit(hits, "firmware_done"), "console:firmware", "kernel"});
        c.push_back({"init", console_hit(hits, "init"), "console", "init"});
        break;
    }
    case GuestKind::container:
        c[0].phase = "start call";
        c.push_back({"monitor_fork", first_event(events, EventType::fork), "bpf:sched_process_fork",
                     "namespaces/cgroups"});
        c.push_back({"init_exec",
                     first_event(events, EventType::exec, [&](const ProcEvent& e) { return e.path == init_path; }),
                     "bpf:sched_process_exec", "init"});
        break;
    case GuestKind::process:
        c[0].phase = "fork+exec";
        c.push_back({"exec", first_event(events, EventType::exec), "bpf:sched_process_exec", "program start"});
        break;
    }
    c.push_back({"ready", console_hit(hits, "ready"), "console", ""});
    return in_order(c);
}

std::vector<Mark> derive_restore_marks(GuestKind kind, uint64_t launch_ns, const std::vector<ProcEvent>& events,
                                       const std::vector<MarkerHit>& backend, const std::vector<MarkerHit>& hits) {
    std::vector<Candidate> c;
    c.push_back({"launch", launch_ns, "host", "launcher"});
    auto from_backend = [&](const std::string& name, const std::string& phase) {
        Candidate k{name, console_hit(backend, name), "host", phase};
        for (const auto& b : backend)
            if (b.mark == name) k.source = b.stream;
        return k;
    };
    if (kind == GuestKind::container) {
        const auto criu =
            first_event(events, EventType::exec, [](const ProcEvent& e) { return base_name(e.path) == "criu"; });
        c.push_back({"criu_exec", criu, "bpf:sched_process_exec", "criu restore"});
        c.push_back(from_backend("resumed", "guest answers"));
        c.push_back({"ready", console_hit(hits, "ready"), "console:ping answered", ""});
        return in_order(c);
    }
    c.push_back({"qemu_exec", first_event(events, EventType::exec), "bpf:sched_process_exec", "qemu init"});
    c.push_back(from_backend("state_load", "state load"));
    // The guest runs once the state is loaded: "resumed" where the backend says so, else the end
    // of the load ("state_loaded": QEMU resumes the guest a few microseconds before it says so).
    Candidate resumed = from_backend("resumed", "guest answers");
    if (!resumed.ts) resumed = from_backend("state_loaded", "guest answers");
    c.push_back(resumed);
    c.push_back({"ready", console_hit(hits, "ready"), "console:ping answered", ""});
    return in_order(c);
}

std::vector<Phase> attribute_phases(const std::vector<Mark>& marks, const RunTrace& trace, uint32_t guest) {
    std::vector<Phase> phases;
    for (std::size_t i = 0; i + 1 < marks.size(); ++i)
        phases.push_back({marks[i].phase, marks[i].name, marks[i + 1].name, marks[i].ts_ns, marks[i + 1].ts_ns, {}});
    auto find = [&](uint64_t ts) -> Phase* {
        for (auto& p : phases)
            if (ts >= p.start_ns && ts < p.end_ns) return &p;
        return nullptr;
    };
    for (const auto& e : trace.events)
        if (e.guest == guest)
            if (Phase* p = find(e.ts_ns)) add_event(p->counts, e);
    for (const auto& s : trace.counters) {
        if (s.guest != guest) continue;
        uint64_t mid = trace.origin_ns + uint64_t(s.bucket) * trace.bucket_ns + trace.bucket_ns / 2;
        if (Phase* p = find(mid)) add_counter(p->counts, s);
    }
    return phases;
}

PhaseCounts total_counts(const RunTrace& trace, uint32_t guest) {
    PhaseCounts c;
    for (const auto& e : trace.events)
        if (e.guest == guest) add_event(c, e);
    for (const auto& s : trace.counters)
        if (s.guest == guest) add_counter(c, s);
    return c;
}

}  // namespace ht
