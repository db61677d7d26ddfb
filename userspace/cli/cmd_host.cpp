// SPDX-License-Identifier: MIT
// `hypetrace host`: what this host can do (accelerator choice, BTF, trace sources).
#include "cli/commands.h"

#include "core/tracing/bpf_tracer.h"
#include "core/base/error.h"
#include "core/host/host.h"
#include "core/base/json_text.h"
#include "core/host/proc.h"
#include "core/host/spawn.h"
#include "drivers/qemu/kvm_cpu.h"

#include <iostream>
#include <memory>
#include <unistd.h>

namespace ht {
namespace {

struct HostArgs {
    bool json = false, verbose = false;
};

int cmd_host(bool json, bool verbose) {
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
    nlohmann::json sources = nlohmann::json::array();
    std::string tracer_error;
    if (geteuid() == 0) {
        try {
            TracerOptions o;
            o.verbose = verbose;
            Tracer t(o);
            for (const auto& s : t.sources())
                sources.push_back({{"name", s.name}, {"attach", s.attach}, {"attached", s.attached}, {"note", s.note}});
        } catch (const UserError& e) {
            tracer_error = e.what();
        }
    } else {
        tracer_error = "not root: trace sources not probed";
    }
    j["trace_sources"] = sources;
    if (!tracer_error.empty()) j["trace_error"] = tracer_error;
    if (json) {
        std::cout << dump_json(j, 2) << "\n";
        return 0;
    }
    std::cout << "host:      " << h.hostname << " (" << h.os << ")\n"
              << "kernel:    Linux " << h.kernel << " " << h.arch << (h.btf ? ", BTF" : ", no BTF") << "\n"
              << "cpu:       " << h.cpu_model << " x" << h.cpus
              << (h.virt_flag.empty() ? ", no vmx/svm" : ", " + h.virt_flag) << "\n"
              << "memory:    " << h.memory_kb / 1024 << " MiB\n"
              << "/dev/kvm:  " << (h.kvm_device ? "opens" : "absent or not accessible") << "\n"
              << "VM accel:  " << auto_choice.reason << "\n"
              << (kvm_cpu.empty() ? "" : "KVM CPU:   " + kvm_cpu + "\n")
              << "trace sources:";
    if (!tracer_error.empty()) std::cout << " " << tracer_error;
    std::cout << "\n";
    for (const auto& s : sources)
        std::cout << "  " << s["name"].get<std::string>() << ": "
                  << (s["attached"].get<bool>() ? "attached via " + s["attach"].get<std::string>()
                                                : "not attached (" + s["note"].get<std::string>() + ")")
                  << "\n";
    return 0;
}


}  // namespace

Command add_host(CLI::App& app) {
    auto a = std::make_shared<HostArgs>();
    auto* host = app.add_subcommand("host", "What this host can do: accelerator choice, BTF, which trace sources attach");
    host->add_flag("--json", a->json, "print as JSON");
    host->add_flag("-v,--verbose", a->verbose, "show libbpf's messages");
    return {host, [a] { return cmd_host(a->json, a->verbose); }};
}

}  // namespace ht
