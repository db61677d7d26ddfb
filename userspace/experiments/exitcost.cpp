// SPDX-License-Identifier: MIT
#include "experiments/exitcost.h"
#include "core/base/setting.h"

#include "core/base/clock.h"
#include "core/base/error.h"
#include "core/host/files.h"
#include "core/host/interrupt.h"
#include "core/tracing/kvm_names.h"
#include "core/base/text.h"
#include "core/views/report.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace ht {
namespace {

constexpr uint32_t kGuest = 1;

const PayloadPhase kMeasured[] = {PayloadPhase::pio_out, PayloadPhase::pio_in, PayloadPhase::pio_kernel,
                                  PayloadPhase::mmio,    PayloadPhase::cpuid,  PayloadPhase::disk,
                                  PayloadPhase::hlt};

std::string what_it_does(PayloadPhase p) {
    switch (p) {
    case PayloadPhase::pio_out: return "OUT to an unassigned port (0x406)";
    case PayloadPhase::pio_in: return "IN from an unassigned port (0x406)";
    case PayloadPhase::pio_kernel: return "IN from the PIC mask register (0x21)";
    case PayloadPhase::mmio: return "byte write to the VGA window (0xA0000)";
    case PayloadPhase::cpuid: return "CPUID leaf 0";
    case PayloadPhase::disk: return "one IDE sector by ATA PIO";
    case PayloadPhase::hlt: return "HLT until the next PIT tick (10 kHz)";
    default: return "";
    }
}

}  // namespace

std::map<uint8_t, uint64_t> phase_durations(const std::vector<ProcEvent>& events) {
    std::vector<const ProcEvent*> marks;
    for (const auto& e : events)
        if (e.type == EventType::phase) marks.push_back(&e);
    std::sort(marks.begin(), marks.end(), [](auto* a, auto* b) { return a->ts_ns < b->ts_ns; });
    std::map<uint8_t, uint64_t> out;
    for (std::size_t i = 0; i + 1 < marks.size(); ++i) out[uint8_t(marks[i]->aux)] = marks[i + 1]->ts_ns - marks[i]->ts_ns;
    return out;
}

ExitcostResult run_exitcost(TraceBackend* tracer, const HostInfo& host, const ExitcostConfig& cfg) {
    ExitcostResult r;
    r.host = host;
    r.started_at = utc_now();
    r.accel = cfg.accel;
    r.params = cfg.params;
    r.runs = cfg.runs;
    r.detail = cfg.detail;
    if (tracer) r.sources = tracer->sources();
    std::map<uint8_t, PhaseResult> phases;
    for (PayloadPhase p : kMeasured) {
        if (p == PayloadPhase::hlt && cfg.params.hlts == 0) continue;  // the payload skips it
        phases[uint8_t(p)].phase = p;
        phases[uint8_t(p)].ops = p == PayloadPhase::disk  ? cfg.params.sectors
                                 : p == PayloadPhase::hlt ? cfg.params.hlts
                                                          : cfg.params.ops;
    }
    for (unsigned run = 1; run <= cfg.runs; ++run) {
        ScratchDir dir(cfg.scratch_parent, "exitcost-" + std::to_string(getpid()));
        auto vm_owner = make_payload_vm(dir.path(), cfg.accel, cfg.params);
        PayloadGuest& vm = *vm_owner;
        if (r.command.empty()) r.command = vm.command_line();
        if (tracer) {
            tracer->begin_run(mono_ns());
            tracer->set_phase_port(kPayloadPhasePort);
            tracer->arm_spawner(kGuest);
        }
        try {
            vm.start();
        } catch (...) {
            if (tracer) tracer->disarm_spawner();
            throw;
        }
        if (tracer) {
            tracer->disarm_spawner();
            tracer->track(vm.pid(), kGuest);
        }
        if (run == 1) r.mtree = vm.device_map();
        const uint64_t t0 = mono_ns();
        vm.resume();
        int status = 0;
        const bool ok = vm.wait(cfg.timeout_s, &status);
        const uint64_t t1 = mono_ns();
        throw_if_interrupted();
        if (!ok) {
            std::string tail = vm.stderr_tail();
            throw UserError(status < 0 ? "the exitcost payload did not finish within " + fmt("%.0f", cfg.timeout_s) +
                                             " s under " + to_string(cfg.accel) + " (" + ref(Setting::timeout) + ")"
                                       : "QEMU exited with status " + std::to_string(status) +
                                             " instead of the payload's 1" + (tail.empty() ? "" : ": " + tail));
        }
        r.run_wall_s.push_back(double(t1 - t0) / 1e9);
        if (!tracer) {
            if (cfg.progress) cfg.progress("run " + std::to_string(run) + ": " + fmt("%.3f", r.run_wall_s.back()) + " s");
            continue;
        }
        tracer->set_phase_port(0);
        RunTrace tr = tracer->end_run();
        r.lost.add(tr);
        auto durations = phase_durations(tr.events);
        if (durations.count(uint8_t(PayloadPhase::bad_params)))
            throw UserError("the exitcost payload could not read its parameters from its disk");
        for (auto& [id, ph] : phases) {
            auto it = durations.find(id);
            if (it == durations.end())
                throw UserError(std::string("no phase marker seen for ") + to_string(ph.phase) +
                                ": kvm:kvm_pio did not fire (is the payload running under KVM?)");
            ph.duration_ns.push_back(double(it->second));
        }
        if (RunSink* sink = tracer->sink()) {  // --trace: the phases of this run, the devices exits went to
            const std::string track = "payload run " + std::to_string(run);
            sink->name_guest(kGuest, "payload");
            uint64_t at = 0;
            std::string name;
            for (const auto& e : tr.events) {
                if (e.type != EventType::phase) continue;
                if (at) sink->span(track, name, at, e.ts_ns);
                at = e.ts_ns;
                name = to_string(PayloadPhase(e.aux));
            }
            for (const auto& c : tr.counters) {
                if (c.kind == CounterKind::kvm_pio) {
                    sink->name_address(hex(c.sub & 0xffff), r.mtree.io_owner(c.sub & 0xffff));
                } else if (c.kind == CounterKind::kvm_mmio) {
                    const uint64_t gpa = c.sub & 0x00ffffffffffffffULL;
                    sink->name_address(hex(gpa), r.mtree.memory_owner(gpa));
                }
            }
        }
        for (const auto& c : tr.counters) {
            if (c.guest != kGuest) continue;
            if (c.kind == CounterKind::kvm_exit) r.kvm_exit_fired = true;
            r.all_phases[uint8_t(c.phase)].add(c);
            auto it = phases.find(uint8_t(c.phase));
            if (it != phases.end()) it->second.counts.add(c);  // not set-up (0) nor the end (0xFE)
        }
        if (cfg.progress) {
            std::string line = "run " + std::to_string(run) + "/" + std::to_string(cfg.runs) + ":";
            for (auto& [id, ph] : phases)
                line += std::string(" ") + to_string(ph.phase) + " " +
                        fmt("%.2f", ph.duration_ns.back() / 1e3 / std::max<uint32_t>(1, ph.ops)) + " us";
            cfg.progress(line);
        }
    }
    for (auto& [id, ph] : phases) {
        std::vector<double> per_op;
        for (double d : ph.duration_ns) per_op.push_back(d / 1e3 / std::max<uint32_t>(1, ph.ops));
        ph.us_per_op = summarize(per_op);
        if (tracer) r.phases.push_back(ph);
    }
    return r;
}

nlohmann::json to_json(const ExitcostResult& r) {
    auto map_json = [](const std::map<uint64_t, uint64_t>& m, auto key) {
        nlohmann::json a = nlohmann::json::array();
        for (auto [k, v] : m) {
            nlohmann::json e = key(k);
            e["count"] = v;
            a.push_back(e);
        }
        return a;
    };
    nlohmann::json phases = nlohmann::json::array();
    for (const auto& p : r.phases) {
        const ExitCounts& c = p.counts;
        phases.push_back({
            {"phase", to_string(p.phase)},
            {"operation", what_it_does(p.phase)},
            {"ops_per_run", p.ops},
            {"duration_ns", p.duration_ns},
            {"us_per_op", {{"mean", p.us_per_op.mean}, {"ci95", p.us_per_op.ci95}, {"min", p.us_per_op.min},
                           {"max", p.us_per_op.max}}},
            {"pio", map_json(c.pio, [&](uint64_t k) {
                 return nlohmann::json{{"port", k & 0xffff}, {"dir", (k >> 16) & 1 ? "out" : "in"},
                                       {"device", r.mtree.io_owner(k & 0xffff)}};
             })},
            {"mmio", map_json(c.mmio, [&](uint64_t k) {
                 const uint64_t gpa = k & 0x00ffffffffffffffULL;
                 return nlohmann::json{{"gpa", gpa}, {"type", k >> 56}, {"device", r.mtree.memory_owner(gpa)}};
             })},
            {"exits_to_qemu", map_json(c.user_exits, [](uint64_t k) {
                 return nlohmann::json{{"reason", k}, {"name", kvm_userspace_exit_name(uint32_t(k))}};
             })},
            {"kvm_exits", map_json(c.kvm_exits, [](uint64_t k) {
                 return nlohmann::json{{"reason", k & 0xffffffff}, {"isa", k >> 32},
                                       {"name", kvm_exit_reason_name(uint32_t(k >> 32), uint32_t(k))},
                                       {"trace_name", kvm_exit_reason_trace_name(uint32_t(k >> 32), uint32_t(k))}};
             })},
            {"kvm_exit_ns", map_json(c.kvm_exit_ns, [](uint64_t k) {
                 return nlohmann::json{{"reason", k & 0xffffffff}, {"isa", k >> 32}};
             })},
            {"kvm_run", {{"count", c.kvm_runs}, {"ns", c.kvm_run_ns}, {"entry_ns", c.kvm_run_entry_ns},
                         {"min_ns", c.kvm_run_min_ns}, {"max_ns", c.kvm_run_max_ns}}},
            {"kvm_run_log2_ns", map_json(c.run_log2, [](uint64_t k) { return nlohmann::json{{"log2_ns", k}}; })},
        });
    }
    nlohmann::json all = nlohmann::json::array();
    for (const auto& [id, c] : r.all_phases)
        all.push_back({{"phase", id},
                       {"pio", map_json(c.pio, [](uint64_t k) {
                            return nlohmann::json{{"port", k & 0xffff}, {"dir", (k >> 16) & 1 ? "out" : "in"}};
                        })},
                       {"mmio", map_json(c.mmio, [](uint64_t k) {
                            return nlohmann::json{{"gpa", k & 0x00ffffffffffffffULL}, {"type", k >> 56}};
                        })},
                       {"exits_to_qemu", map_json(c.user_exits, [](uint64_t k) { return nlohmann::json{{"reason", k}}; })},
                       {"kvm_exits", map_json(c.kvm_exits, [](uint64_t k) { return nlohmann::json{{"key", k}}; })},
                       {"kvm_exit_ns", map_json(c.kvm_exit_ns, [](uint64_t k) { return nlohmann::json{{"key", k}}; })},
                       {"kvm_run", {{"count", c.kvm_runs}, {"ns", c.kvm_run_ns}}}});
    return {{"schema", kExitcostSchemaVersion},
            {"all_phases", all},
            {"tool", "hypetrace exitcost"},
            {"started_at", r.started_at},
            {"host", host_json(r.host)},
            {"accel", to_string(r.accel)},
            {"params", {{"ops", r.params.ops}, {"sectors", r.params.sectors}, {"hlts", r.params.hlts}}},
            {"runs", r.runs},
            {"command", r.command},
            {"kvm_exit_fired", r.kvm_exit_fired},
            {"detail", r.detail},
            {"run_wall_s", r.run_wall_s},
            {"phases", phases},
            {"lost", {{"counts", r.lost.counts}, {"events", r.lost.events}, {"untracked", r.lost.tracked}}},
            {"sources", sources_json(r.sources)}};
}

std::string render_text(const ExitcostResult& r) {
    std::ostringstream o;
    o << loss_headline(r.lost);
    o << "hypetrace exitcost: round-trip cost of each kind of VM exit (payload under " << to_string(r.accel) << ")\n";
    o << host_line(r.host) << "\n";
    o << "payload: " << r.params.ops << " operations per phase, " << r.params.sectors << " disk sectors, "
      << r.params.hlts << " HLTs; "
      << r.runs << " runs; phases marked by the payload, counted per phase in the kernel\n";
    if (!r.detail)
        o << "timed per exit to QEMU: KVM_RUN (two clock reads); not timed: each VT-x/AMD-V exit's time in KVM and\n"
             "KVM_RUN's entry work (" << ref(Setting::detail) << " adds them: two more clock reads per exit, one per KVM_RUN)\n";
    if (!r.kvm_exit_fired)
        o << "kvm:kvm_exit did not fire (KVM without VT-x/AMD-V, e.g. PVM): exits are seen where they leave KVM\n"
             "(kvm_pio, kvm_mmio, kvm_userspace_exit) and costs come from the phases' durations\n";
    o << "\n";
    bool split = false;  // KVM_RUN's entry work measured (kvm:kvm_fpu attached)
    for (const auto& p : r.phases) split = split || p.counts.kvm_run_entry_ns > 0;
    std::vector<std::vector<std::string>> rows{{"phase", "operation", "us/op", "+-95%", "to QEMU/op", "pio/op",
                                                "mmio/op", "exits/op", "KVM_RUN us/op", "in QEMU us/op"}};
    if (split) rows[0].insert(rows[0].begin() + 9, "KVM entry us/op");
    for (const auto& p : r.phases) {
        const double n = double(p.ops) * double(std::max(1u, r.runs));
        const ExitCounts& c = p.counts;
        // The marker OUT that opens the phase is one extra port write (and exit to QEMU) in it.
        const double marker = double(std::max(1u, r.runs));
        double total_ns = 0;
        for (double d : p.duration_ns) total_ns += d;
        const double run_us = double(c.kvm_run_ns) / 1e3 / n;
        rows.push_back({to_string(p.phase), what_it_does(p.phase), fmt("%.2f", p.us_per_op.mean),
                        fmt("%.2f", p.us_per_op.ci95),
                        fmt("%.3f", (double(c.total_user_exits()) - marker) / n),
                        fmt("%.3f", (double(c.total_pio()) - marker) / n), fmt("%.3f", double(c.total_mmio()) / n),
                        r.kvm_exit_fired ? fmt("%.3f", double(c.total_kvm_exits()) / n) : "-",
                        fmt("%.2f", run_us), fmt("%.2f", std::max(0.0, total_ns / 1e3 / n - run_us))});
        if (split) rows.back().insert(rows.back().begin() + 9, fmt("%.2f", double(c.kvm_run_entry_ns) / 1e3 / n));
    }
    std::vector<bool> right{false, false, true, true, true, true, true, true, true, true};
    if (split) right.push_back(true);
    o << render_table(rows, right);
    o << "us/op: the phase's duration / its operations (mean over runs, +- 95 % CI). to QEMU/op: exits that\n"
         "left KVM for QEMU in userspace (KVM_RUN returned); the rest were handled inside KVM. KVM_RUN us/op:\n"
         "time inside the ioctl; in QEMU: the rest of the phase, QEMU handling exits between KVM_RUN calls.\n";
    if (split)
        o << "KVM entry us/op: the part of KVM_RUN from the ioctl to KVM loading the guest's FPU state\n"
             "(kvm:kvm_fpu): vcpu_load and the checks before the vCPU runs, before any guest instruction.\n";

    // Where the exits went, by device (port I/O and MMIO), for every phase.
    o << "\nExits by port and address, per operation, with the QEMU device that owns them (QEMU's memory tree):\n";
    std::vector<std::vector<std::string>> dev{{"phase", "kind", "port/address", "device", "per op", "total"}};
    for (const auto& p : r.phases)
        for (auto row : exit_device_rows(p.counts, r.mtree, double(p.ops) * double(std::max(1u, r.runs)), kPayloadPhasePort)) {
            row.insert(row.begin(), to_string(p.phase));
            dev.push_back(row);
        }
    o << render_table(dev, {false, false, false, false, true, true});
    for (const auto& p : r.phases) {
        if (p.phase != PayloadPhase::mmio) continue;
        const uint64_t mm = p.counts.total_mmio(), ue = p.counts.user_exits.count(6) ? p.counts.user_exits.at(6) : 0;
        if (mm && ue && ue < mm)
            o << "mmio: " << mm << " MMIO writes left KVM only " << ue << " times (KVM_EXIT_MMIO): the VGA window is "
              << "coalesced MMIO, buffered in a ring QEMU drains, " << fmt("%.0f", double(mm) / double(ue))
              << " writes per exit.\n";
    }
    for (const auto& p : r.phases)
        if (p.phase == PayloadPhase::hlt && p.us_per_op.mean > 0) {
            const double period_us = 119.0 / 1193182.0 * 1e6;  // the payload's PIT divisor
            o << "hlt: the PIT ticks every " << fmt("%.1f", period_us) << " us; a HLT took " << fmt("%.1f", p.us_per_op.mean)
              << " us, " << fmt("%.2f", p.us_per_op.mean / period_us)
              << " periods. A HLT ends at the next interrupt, so it lasts at least one period; more means ticks were\n"
                 "missed or merged while the vCPU woke. All of it is handled inside KVM (no exit to QEMU).\n";
        }

    // Time per KVM_RUN (guest entry to the next exit to QEMU), from the in-kernel log2 histogram.
    o << "\nTime per exit to QEMU (one KVM_RUN: guest entry to the exit that returned), in the phases where\n"
         "every operation exits to QEMU: shortest, average, longest, and the log2 histogram's main buckets:\n";
    for (const auto& p : r.phases) {
        const ExitCounts& c = p.counts;
        const double n = double(p.ops) * double(std::max(1u, r.runs));
        if (!c.kvm_runs || c.run_log2.empty() || double(c.total_user_exits()) < 0.5 * n) continue;
        o << "  " << to_string(p.phase) << ": " << kvm_run_time_line(c) << "\n";
    }
    if (r.kvm_exit_fired) {
        // Times in KVM where asked for and kvm:kvm_entry attached (the kernel may refuse it).
        const SourceStatus* entry = nullptr;
        for (const auto& s : r.sources)
            if (s.name == "kvm:kvm_entry") entry = &s;
        const bool timed = r.detail && (!entry || entry->attached);
        o << "\nkvm_exit reasons per phase" << (timed ? " (time from exit to re-entry)" : "") << ":\n";
        if (r.detail && !timed) o << "  (no exit timed in KVM: kvm:kvm_entry not attached: " << entry->note << ")\n";
        for (const auto& p : r.phases)
            for (auto [k, v] : p.counts.kvm_exits) {
                uint64_t ns = p.counts.kvm_exit_ns.count(k) ? p.counts.kvm_exit_ns.at(k) : 0;
                o << "  " << to_string(p.phase) << ": " << kvm_exit_reason_name(uint32_t(k >> 32), uint32_t(k)) << " " << v;
                if (timed) o << " (" << fmt("%.2f", v ? double(ns) / double(v) / 1e3 : 0.0) << " us each in KVM)";
                o << "\n";
            }
    }
    return o.str();
}

}  // namespace ht
