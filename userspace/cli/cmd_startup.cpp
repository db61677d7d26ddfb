// SPDX-License-Identifier: MIT
// `hypetrace startup`: start-up latency (paper Table 3), experiments/startup.
#include "cli/commands.h"

#include "cli/options.h"
#include "cli/trace_cmds.h"
#include "core/base/error.h"
#include "core/base/text.h"
#include "core/host/files.h"
#include "core/host/host.h"
#include "drivers/libvirt/libvirt_driver.h"
#include "drivers/lxc/lxc_driver.h"
#include "drivers/native/native_driver.h"
#include "drivers/qemu/qemu_driver.h"
#include "experiments/startup.h"

#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>

namespace ht {
namespace {

struct StartupArgs {
    bool kvm = false, kvm_app = false, kvm_bios = false, lxc = false, lxc_app = false, native = false;
    std::string accel = "auto", driver = "qemu";
    std::string runs = "5";  // or auto
    unsigned warmup = 1;
    double timeout = 0, max_time = 0;  // max_time 0: kStartupMaxTimeS
    std::string json, images = default_images();
    bool quiet = false, verbose = false;
    std::string trace;  // --trace DIR
    std::string restore;  // "", eager, lazy, both (--restore given: restore_given)
    bool restore_given = false;
    std::string checkpoints = kDefaultCheckpointCache;
};

// --runs auto's time cap per technique unless --max-time says otherwise: ten minutes, some 20
// full VM starts under TCG.
constexpr double kStartupMaxTimeS = 600;

int cmd_startup(const StartupArgs& a) {
    if (!(a.kvm || a.kvm_app || a.kvm_bios || a.lxc || a.lxc_app || a.native))
        throw usage_error("choose at least one technique: --kvm, --kvm-app, --kvm-bios, --lxc, --lxc-app or --native");
    const RunsChoice runs = parse_runs_options(a.runs, a.max_time, 1000, kStartupMaxTimeS);
    AccelRequest req = parse_accel_request(a.accel);
    require_root("startup");
    if (!a.json.empty()) check_writable(a.json, "--json");

    HostInfo host = probe_host();
    QemuDriver qemu;
    LibvirtDriver libvirt;
    LxcDriver lxc;
    NativeDriver native;
    Driver* vm = a.driver == "libvirt" ? static_cast<Driver*>(&libvirt) : &qemu;
    if (a.driver == "libvirt" && (a.kvm_app || a.kvm_bios))
        throw usage_error("--driver libvirt runs full VMs only: use it with --kvm, not --kvm-app or --kvm-bios");
    StartupConfig cfg;
    cfg.runs = runs.runs;
    cfg.auto_runs = runs.auto_runs;
    cfg.warmup = a.warmup;
    cfg.images.dir = a.images;
    bool any_vm = a.kvm || a.kvm_app || a.kvm_bios;
    if (any_vm) cfg.accel = choose_accel(req, host);
    cfg.timeout_s = a.timeout;  // 0: by technique (default_ready_timeout_s)
    if (a.kvm)
        cfg.techniques.push_back({"kvm", a.driver == "libvirt" ? "KVM libvirt" : "KVM", vm, Variant::full, kPaperStartupKvmS});
    if (a.kvm_app) cfg.techniques.push_back({"kvm-app", "KVM-bash", &qemu, Variant::app, NAN});
    if (a.kvm_bios) cfg.techniques.push_back({"kvm-bios", "KVM firmware", &qemu, Variant::firmware, NAN});
    if (a.lxc) cfg.techniques.push_back({"lxc", "LXC", &lxc, Variant::full, kPaperStartupLxcS});
    if (a.lxc_app) cfg.techniques.push_back({"lxc-app", "LXC-bash", &lxc, Variant::app, kPaperStartupLxcBashS});
    if (a.native) cfg.techniques.push_back({"native", "native bash", &native, Variant::app, NAN});
    if (a.restore_given) {  // Table 3's second half: each guest also started from a checkpoint of itself booted
        if (a.kvm_bios) throw usage_error("--restore: --kvm-bios has no guest state worth saving; use --kvm or --kvm-app");
        if (!(a.kvm || a.kvm_app || a.lxc || a.lxc_app))
            throw usage_error("--restore needs a guest to restore: --kvm, --kvm-app, --lxc or --lxc-app");
        const std::string mode = a.restore.empty() ? "eager" : a.restore;
        std::vector<Technique> restored;
        for (const auto& t : cfg.techniques) {
            if (t.id == "native") continue;
            for (bool lazy : {false, true}) {
                if ((lazy && mode == "eager") || (!lazy && mode == "lazy")) continue;
                Technique r = t;
                r.id += lazy ? "-restore-lazy" : "-restore";
                r.label += lazy ? " lazy restore" : " restore";
                r.restore = true;
                r.lazy = lazy;
                r.paper_s = lazy ? NAN : t.id == "kvm" ? kPaperRestoreKvmS : t.id == "lxc" ? kPaperRestoreLxcS
                                       : t.id == "lxc-app" ? kPaperRestoreLxcBashS : NAN;
                // a container has no lazy restore whatever CRIU can do: that reason first
                std::string why = lazy && t.driver->kind() != GuestKind::vm
                                      ? "a lazy restore maps a VM's RAM from its checkpoint; containers have no such RAM"
                                      : t.driver->restore_problem();
                const bool lazy_only = why.empty() && lazy && !(why = t.driver->lazy_restore_problem()).empty();
                if (!why.empty()) {
                    // the VM rows are the point of --restore; with "both", the eager one can still be measured
                    if (t.driver->kind() == GuestKind::vm && !(lazy_only && mode == "both"))
                        throw UserError("--restore: " + r.label + ": " + why);
                    cfg.not_measured.push_back({r.label, why});
                    continue;
                }
                restored.push_back(r);
            }
        }
        cfg.techniques.insert(cfg.techniques.end(), restored.begin(), restored.end());
        cfg.checkpoint_cache = a.checkpoints;
        if (a.checkpoints.empty() || a.checkpoints.find('\n') != std::string::npos)
            throw usage_error("--checkpoint-dir: give a directory path without newlines (default " +
                              std::string(kDefaultCheckpointCache) + ")");
        std::error_code ec;
        if (std::filesystem::exists(a.checkpoints, ec) && !std::filesystem::is_directory(a.checkpoints, ec))
            throw UserError("--checkpoint-dir " + visible(a.checkpoints) + " is not a directory: give a directory (made if missing)");
    }
    for (auto& t : cfg.techniques)
        if (t.driver == vm && cfg.accel.accel == Accel::tcg) t.label += " (TCG)";
    preflight_startup(cfg);
    if (!a.quiet) cfg.progress = progress_printer(false);
    if (any_vm && cfg.accel.notice) progress_printer(a.quiet)("notice: VM accelerator " + cfg.accel.reason);
    for (const auto& [label, why] : cfg.not_measured) progress_printer(a.quiet)("notice: " + label + " not measured: " + why);

    TracerOptions topts;
    topts.verbose = a.verbose;
    Tracer tracer(topts);
    TraceSession trace(a.trace, "startup", a.quiet);
    repair_dead_runs(a.quiet, true);  // what killed runs left, once this run is known to go ahead
    trace.begin(&tracer);
    StartupResult result = run_startup(tracer, host, cfg);
    trace.finish();
    finish(a.json, to_json(result), render_text(result), a.quiet);
    return 0;
}

}  // namespace

Command add_startup(CLI::App& app) {
    auto a = std::make_shared<StartupArgs>();
    auto* startup = app.add_subcommand("startup", "Start-up latency of VMs, containers and a process (paper Table 3), "
                                                  "each run traced and split into phases");
    startup->add_flag("--kvm", a->kvm, "a full VM: QEMU, Debian 12 with systemd to multi-user");
    startup->add_flag("--kvm-app", a->kvm_app, "a VM that boots kernel + initramfs straight into /bin/bash");
    startup->add_flag("--kvm-bios", a->kvm_bios, "QEMU firmware only (SeaBIOS to its boot prompt), no OS");
    startup->add_flag("--lxc", a->lxc, "a full container: the same Debian 12 rootfs, systemd as init (liblxc)");
    startup->add_flag("--lxc-app", a->lxc_app, "a container running a single /bin/bash (the paper's LXC-bash)");
    startup->add_flag("--native", a->native, "the baseline: /bin/bash started as a plain process");
    add_accel_option(startup, a->accel);
    startup->add_option("--driver", a->driver, "how --kvm VMs are started: qemu (QEMU directly) or libvirt (libvirtd)")
        ->check(CLI::IsMember({"qemu", "libvirt"}))
        ->capture_default_str();
    add_runs_option(startup, a->runs, "measured runs per technique (1 to 1000), or auto: at least 3, then until the "
                                      "95% interval is a tenth of the mean, 100 runs are made or --max-time passes");
    startup->add_option("--warmup", a->warmup, "discarded warm-up runs before them")->check(CLI::Range(0u, 100u))->capture_default_str();
    startup->add_option("--max-time", a->max_time, "with --runs auto: seconds each technique may keep starting guests "
                                                   "once its measured runs began (default: 600)")
        ->check(kSeconds);
    startup->add_option("--timeout", a->timeout, "seconds a guest may take to be ready (default: 600 for a VM under TCG, 180 under KVM, 120 for a container)")
        ->check(kSeconds);
    startup->add_option("--json", a->json, "write the result as versioned JSON to FILE (atomically)");
    add_trace_option(startup, a->trace);
    auto* restore_opt = startup->add_option("--restore", a->restore, "also start each guest from a checkpoint of itself booted (Table 3's "
                                                 "restore rows), ready once it answers a ping through the guest: eager "
                                                 "(the default: its RAM loaded whole), lazy (VMs: RAM mapped from the "
                                                 "checkpoint, faulted in on demand) or both")
        ->expected(0, 1)
        ->check(CLI::IsMember({"", "eager", "lazy", "both"}));
    startup->add_option("--checkpoint-dir", a->checkpoints, "where checkpoints are kept and reused (--restore; hypetrace cleanup --checkpoints removes them)")->capture_default_str();
    startup->add_option("--images", a->images, "guest images directory")->capture_default_str();
    startup->add_flag("-q,--quiet", a->quiet, "no progress lines on stderr");
    startup->add_flag("-v,--verbose", a->verbose, "show libbpf's messages");
    startup->footer("Examples:\n"
                    "  hypetrace startup --kvm --lxc --lxc-app --native            # Table 3, 5 runs each\n"
                    "  hypetrace startup --lxc --runs 20 --json lxc.json          # more runs, JSON result\n"
                    "  hypetrace startup --kvm --lxc --runs auto --max-time 300   # until each interval is 10 % of its mean\n"
                    "  hypetrace startup --kvm-bios --accel kvm                   # firmware under KVM, exits traced\n"
                    "  hypetrace startup --kvm --kvm-app --lxc --restore          # Table 3 with its restore rows\n"
                    "  hypetrace startup --kvm --restore both --runs 5            # cold, eager and lazy restore of a VM");
    return {startup, [a, restore_opt] {
                a->restore_given = restore_opt->count() > 0;
                return cmd_startup(*a);
            }};
}

}  // namespace ht
