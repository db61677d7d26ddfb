// SPDX-License-Identifier: MIT
// `hypetrace exitcost`: the round-trip cost of each kind of VM exit, experiments/exitcost.
#include "cli/commands.h"

#include "cli/options.h"
#include "cli/trace_cmds.h"
#include "core/base/error.h"
#include "core/host/files.h"
#include "core/host/host.h"
#include "core/host/spawn.h"
#include "core/base/stats.h"
#include "core/base/text.h"
#include "experiments/exitcost.h"
#include "core/views/report.h"

#include <iostream>
#include <memory>

namespace ht {
namespace {

struct ExitcostArgs {
    std::string accel = "auto", json;
    unsigned ops = 10000, sectors = 200, hlts = 1000, runs = 3;
    double timeout = 120;
    bool no_trace = false, attach_only = false, detail = false, quiet = false, verbose = false;
    std::string trace;  // --trace DIR
};

int cmd_exitcost(const ExitcostArgs& a) {
    AccelRequest req = parse_accel_request(a.accel);
    if (req == AccelRequest::tcg)
        throw usage_error("exitcost measures VM exits, and TCG has none: use --accel kvm (or auto)");
    require_root("exitcost");
    if (!a.json.empty()) check_writable(a.json, "--json");
    HostInfo host = probe_host();
    if (!host.kvm_device)
        throw UserError("exitcost needs KVM and /dev/kvm does not open read-write here: load kvm (modprobe kvm_intel or "
                        "kvm_amd) or run on a host with KVM");
    if (which("qemu-system-x86_64").empty())
        throw UserError("qemu-system-x86_64 not found: install qemu-system-x86 (scripts/setup.sh does)");
    auto progress = progress_printer(a.quiet);
    if (!host.virt_extensions)
        progress("notice: no vmx/svm on this CPU: KVM runs the real-mode payload by emulation (e.g. PVM), so each "
                 "exit costs more than on VT-x/AMD-V");
    ExitcostConfig cfg;
    cfg.accel = Accel::kvm;
    cfg.params.ops = a.ops;
    cfg.params.sectors = a.sectors;
    cfg.params.hlts = a.hlts;
    cfg.runs = a.runs;
    cfg.timeout_s = a.timeout;
    cfg.detail = a.detail;
    cfg.progress = progress;
    std::unique_ptr<Tracer> tracer;
    if (!a.no_trace) {
        TracerOptions topts;
        topts.verbose = a.verbose;
        topts.bucket_ns = kExitcostBucketNs;
        topts.attach_only = a.attach_only;
        // --detail: each exit's time in KVM (kvm_entry: two more clock reads per exit) and KVM_RUN's
        // entry work (kvm_fpu: one more per KVM_RUN); without it the counts stay exact and KVM_RUN
        // is still timed
        topts.exit_times = a.detail;
        topts.kvm_entry_split = a.detail;
        tracer = std::make_unique<Tracer>(topts);
    }
    TraceSession trace(a.trace, "exitcost", a.quiet);
    repair_dead_runs(a.quiet, true);
    trace.begin(a.attach_only ? nullptr : tracer.get());
    // --attach-only: the programs stay attached (counting nothing) while only the wall time is kept
    ExitcostResult result = run_exitcost(a.attach_only ? nullptr : tracer.get(), host, cfg);
    trace.finish();
    std::string text;
    if (!a.no_trace && !a.attach_only) {
        text = render_text(result);
    } else {
        Summary s = summarize(result.run_wall_s);
        text = std::string(a.no_trace ? "exitcost without tracing: " : "exitcost with the KVM programs attached, counting nothing: ") +
               std::to_string(result.runs) + " runs, payload " + fmt("%.4f", s.mean) + " s +- " + fmt("%.4f", s.ci95) +
               " (resume to exit)\n";
    }
    finish(a.json, to_json(result), text, a.quiet);
    return 0;
}

}  // namespace

Command add_exitcost(CLI::App& app) {
    auto a = std::make_shared<ExitcostArgs>();
    auto* exitcost = app.add_subcommand("exitcost", "Round-trip cost of each kind of VM exit: a tiny firmware payload "
                                                    "does N port I/O, MMIO, CPUID and disk operations per phase under KVM");
    add_accel_option(exitcost, a->accel);
    exitcost->add_option("--ops", a->ops, "operations per exit phase")->check(CLI::Range(10u, 10000000u))->capture_default_str();
    exitcost->add_option("--sectors", a->sectors, "IDE sectors read in the disk phase")
        ->check(CLI::Range(1u, 100000u))
        ->capture_default_str();
    exitcost->add_option("--hlts", a->hlts, "HLTs in the hlt phase, each woken by a 10 kHz timer tick (0: no hlt phase)")
        ->check(CLI::Range(0u, 10000000u))
        ->capture_default_str();
    exitcost->add_option("--runs", a->runs, "payload runs (a new QEMU each)")->check(CLI::Range(1u, 1000u))->capture_default_str();
    exitcost->add_option("--timeout", a->timeout, "seconds one run may take")->check(kSeconds)->capture_default_str();
    auto* no_trace = exitcost->add_flag("--no-trace", a->no_trace, "run the payload without any BPF program (the overhead baseline)");
    exitcost->add_flag("--attach-only", a->attach_only,
                       "attach the KVM programs but count nothing: what the tracepoints cost by themselves")
        ->excludes(no_trace);
    exitcost->add_flag("--detail", a->detail,
                       "also time each VT-x/AMD-V exit in KVM (kvm_exit to kvm_entry) and KVM_RUN's entry work "
                       "(kvm_fpu): two more clock reads per exit, one more per KVM_RUN; without it every count is exact and KVM_RUN is timed")
        ->excludes(no_trace);
    exitcost->add_option("--json", a->json, "write the result as versioned JSON to FILE (atomically)");
    add_trace_option(exitcost, a->trace);
    exitcost->add_flag("-q,--quiet", a->quiet, "no progress lines on stderr");
    exitcost->add_flag("-v,--verbose", a->verbose, "show libbpf's messages");
    exitcost->footer("Examples:\n"
                     "  hypetrace exitcost                        # 3 runs of 10000 operations per phase\n"
                     "  hypetrace exitcost --ops 100000 --runs 5 --json exits.json\n"
                     "  hypetrace exitcost --no-trace             # the same payload, nothing attached\n"
                     "  hypetrace exitcost --detail               # also each exit's time in KVM, and KVM_RUN's entry work\n"
                     "The payload (drivers/qemu/payload/exitcost.asm) is real-mode firmware: it runs under KVM even\n"
                     "where KVM has no VT-x/AMD-V (PVM emulates it). Ports and addresses are named after the QEMU\n"
                     "device that owns them (QEMU's memory tree over QMP).");
    return {exitcost, [a] { return cmd_exitcost(*a); }};
}

}  // namespace ht
