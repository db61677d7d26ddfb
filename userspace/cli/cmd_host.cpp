// SPDX-License-Identifier: MIT
// `hypetrace host`: what this host can do (accelerator choice, BTF, trace sources: how each would
// attach, from the cached probe; with --attach, how each did).
#include "cli/commands.h"
#include "cli/options.h"

#include "core/tracing/bpf_tracer.h"
#include "core/tracing/trace_features.h"
#include "core/base/error.h"
#include "core/host/host.h"
#include "core/base/json_text.h"
#include "core/host/proc.h"
#include "core/host/spawn.h"
#include "drivers/qemu/kvm_cpu.h"

#include <iostream>
#include <memory>
#include <sstream>
#include <unistd.h>

namespace ht {
namespace {

struct HostArgs {
    bool json = false, verbose = false, attach = false;
};

// The trace sources: each one's plan from the cached probe (nothing loaded); with `attach`, the
// tracer loaded and attached as an experiment would, and what each source did. Sets `error` when
// the host cannot trace (the sources then are whatever was probed).
nlohmann::json trace_sources(bool attach, bool verbose, std::string* error) {
    nlohmann::json sources = nlohmann::json::array();
    if (geteuid() != 0) {
        *error = "not root: trace sources not probed";
        return sources;
    }
    const TraceFeatures& f = trace_features();
    if (verbose) std::cerr << f.libbpf_log;  // what libbpf said while the probe read BTF
    if (!f.btf) {
        *error = no_btf_message();
        return sources;
    }
    if (f.tracefs == TraceFeatures::Tracefs::unavailable) {
        *error = f.tracefs_error + " (mount it with: mount -t tracefs nodev /sys/kernel/tracing)";
        return sources;
    }
    for (const auto& s : f.sources)
        sources.push_back({{"name", s.name}, {"planned", to_string(s.planned)}, {"tracepoint", s.tracepoint},
                           {"note", s.note}});
    if (!attach) return sources;
    try {
        TracerOptions o;
        o.verbose = verbose;
        Tracer t(o);
        for (const auto& s : t.sources())
            for (auto& j : sources)
                if (j["name"] == s.name) {
                    j["attach"] = s.attach;
                    j["attached"] = s.attached;
                    j["note"] = s.note;
                }
    } catch (const UserError& e) {
        *error = e.what();
    }
    return sources;
}

int cmd_host(const HostArgs& a) {
    HostInfo h = probe_host();
    AccelChoice auto_choice = choose_accel(AccelRequest::auto_, h);
    nlohmann::json j{{"hostname", h.hostname}, {"kernel", h.kernel},     {"arch", h.arch},
                     {"os", h.os},             {"cpu", h.cpu_model},     {"cpus", h.cpus},
                     {"memory_mb", h.memory_kb / 1024}, {"virt_extensions", h.virt_flag},
                     {"kvm_device", h.kvm_device}, {"btf", h.btf},      {"accel_auto", to_string(auto_choice.accel)},
                     {"accel_reason", auto_choice.reason}};
    // Under KVM, the QEMU CPU model that starts here (probed: some KVMs refuse part of "host").
    std::string kvm_cpu;
    if (h.kvm_device && !which("qemu-system-x86_64").empty()) {
        try {
            kvm_cpu = kvm_cpu_model().why;
        } catch (const UserError& e) {
            kvm_cpu = e.what();
        }
        j["kvm_cpu"] = kvm_cpu;
    }
    std::string tracer_error;
    const nlohmann::json sources = trace_sources(a.attach, a.verbose, &tracer_error);
    if (geteuid() == 0) j["tracefs"] = to_string(trace_features().tracefs);  // at the probe
    j["trace_sources"] = sources;
    if (!tracer_error.empty()) j["trace_error"] = tracer_error;
    if (a.json) {
        std::cout << dump_json(worded_json(j), 2) << "\n";
        return 0;
    }
    // Lower layers' reasons name settings, not flags: worded here, the whole text at once.
    std::ostringstream out;
    out << "host:      " << h.hostname << " (" << h.os << ")\n"
              << "kernel:    Linux " << h.kernel << " " << h.arch << (h.btf ? ", BTF" : ", no BTF") << "\n"
              << "cpu:       " << h.cpu_model << " x" << h.cpus
              << (h.virt_flag.empty() ? ", no vmx/svm" : ", " + h.virt_flag) << "\n"
              << "memory:    " << h.memory_kb / 1024 << " MiB\n"
              << "/dev/kvm:  " << (h.kvm_device ? "opens" : "absent or not accessible") << "\n"
              << "VM accel:  " << auto_choice.reason << "\n"
              << (kvm_cpu.empty() ? "" : "KVM CPU:   " + kvm_cpu + "\n")
              << "trace sources" << (a.attach || sources.empty() ? "" : " (probed, nothing loaded; --attach loads them)")
              << ":";
    if (!tracer_error.empty()) out << " " << tracer_error;
    out << "\n";
    for (const auto& s : sources) {
        out << "  " << s["name"].get<std::string>() << ": ";
        const std::string note = s["note"].get<std::string>();
        if (s.contains("attached"))
            out << (s["attached"].get<bool>() ? "attached via " + s["attach"].get<std::string>()
                                                    : "not attached (" + note + ")");
        else if (s["planned"] != "-")
            out << s["planned"].get<std::string>() << " (planned" << (note.empty() ? "" : ": " + note) << ")";
        else
            out << "not planned (" << note << ")";
        out << "\n";
    }
    std::cout << worded(out.str());
    return 0;
}

}  // namespace

Command add_host(CLI::App& app) {
    auto a = std::make_shared<HostArgs>();
    auto* host = app.add_subcommand("host", "What this host can do: accelerator choice, BTF, how each trace source "
                                            "would attach (--attach: which do)");
    host->add_flag("--json", a->json, "print as JSON");
    host->add_flag("--attach", a->attach,
                   "also load and attach hypetrace's BPF programs, as an experiment does, and say what attached");
    host->add_flag("-v,--verbose", a->verbose, "show libbpf's messages");
    host->footer("Examples:\n"
                 "  hypetrace host                   # how each trace source would attach, from a probe (nothing loaded)\n"
                 "  hypetrace host --attach          # load and attach the programs: what attached, and why not\n"
                 "  hypetrace host --attach --json   # each source's \"planned\", \"attach\", \"attached\", \"note\"");
    return {host, [a] { return cmd_host(*a); }};
}

}  // namespace ht
