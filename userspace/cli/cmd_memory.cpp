// SPDX-License-Identifier: MIT
// `hypetrace memory`: footprint per guest as guests are added (paper Figure 4), experiments/memory.
#include "cli/commands.h"

#include "cli/options.h"
#include "cli/trace_cmds.h"
#include "core/base/error.h"
#include "core/base/text.h"
#include "core/host/files.h"
#include "core/host/host.h"
#include "core/host/host_settings.h"
#include "drivers/libvirt/libvirt_driver.h"
#include "drivers/lxc/lxc_driver.h"
#include "drivers/qemu/qemu_driver.h"
#include "experiments/memory.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>

namespace ht {
namespace {

struct MemoryArgs {
    bool kvm = false, lxc = false, lxc_app = false;
    std::string counts = "1,2,4,8", ksm = "on", rootfs = "shared", accel = "auto", driver = "qemu", thp = "keep";
    std::string json, plot, images = default_images();
    double boot_timeout = 0, settle_timeout = 300;
    double settle_merges = 0, settle_window = 5;
    unsigned pages_to_scan = 20000, sleep_ms = 20;
    bool quiet = false, verbose = false;
    std::string trace;  // --trace DIR
    std::string guest_kernels;
    const CLI::Option* count_opt = nullptr;
    const CLI::Option* kernels_opt = nullptr;  // given at all, even as ""
};

// --guest-kernels A,B[,C...] (or "all"): releases, the first the reference, each named once.
std::vector<std::string> guest_kernel_list(const std::string& text, const ImageSet& images) {
    std::vector<std::string> out;
    if (text == "all") {
        std::string def;
        try {
            def = images.resolve_kernel("default");
        } catch (const UserError& e) {
            throw usage_error("--guest-kernels all: " + std::string(e.what()));
        }
        out.push_back(def);
        for (const auto& r : images.kernel_releases())
            if (r != def) out.push_back(r);
    } else {
        std::size_t start = 0;
        while (start <= text.size()) {
            std::size_t end = text.find(',', start);
            if (end == std::string::npos) end = text.size();
            std::string release;
            try {
                release = images.resolve_kernel(text.substr(start, end - start));
            } catch (const UserError& e) {
                throw usage_error("--guest-kernels " + visible(text) + ": " + e.what());
            }
            if (std::find(out.begin(), out.end(), release) != out.end())
                throw usage_error("--guest-kernels " + visible(text) + ": " + release + " is named twice");
            out.push_back(release);
            start = end + 1;
        }
    }
    if (out.size() < 2) {
        std::string have;
        for (const auto& r : images.kernel_releases()) have += (have.empty() ? "" : ", ") + r;
        throw usage_error("--guest-kernels " + visible(text) + ": name at least two kernels, the first the reference (e.g. "
                          "default,6.1.0-47, or all); the images have " + (have.empty() ? "none" : have));
    }
    return out;
}


int cmd_memory(const MemoryArgs& a) {
    if (!(a.kvm || a.lxc || a.lxc_app)) throw usage_error("choose at least one technique: --kvm, --lxc or --lxc-app");
    MemoryConfig cfg;
    cfg.counts = parse_number_list(a.counts, "--count", 1, 256, "guest counts", "1,2,4,8");
    const bool kernel_pairs = a.kernels_opt && a.kernels_opt->count();
    if (kernel_pairs) {
        if (!a.kvm || a.lxc || a.lxc_app)
            throw usage_error("--guest-kernels boots VMs with different kernels: use it with --kvm alone "
                              "(containers run the host's kernel)");
        if (a.count_opt && a.count_opt->count())
            throw usage_error("--guest-kernels runs two VMs per pair of kernels: leave out --count");
        if (a.ksm != "on") throw usage_error("--guest-kernels measures what KSM merges: leave --ksm at on");
        cfg.counts = {1, 2};
    }
    AccelRequest req = parse_accel_request(a.accel);
    if (a.ksm == "on") cfg.ksm_modes = {true};
    else if (a.ksm == "off") cfg.ksm_modes = {false};
    else cfg.ksm_modes = {true, false};
    cfg.rootfs = a.rootfs == "copied" ? RootfsMode::copied : RootfsMode::shared;
    require_root("memory");
    if (!a.json.empty()) check_writable(a.json, "--json");
    if (!a.plot.empty()) check_writable(a.plot, "--plot");

    HostInfo host = probe_host();
    QemuDriver qemu;
    LibvirtDriver libvirt;
    LxcDriver lxc;
    Driver* vm_driver = a.driver == "libvirt" ? static_cast<Driver*>(&libvirt) : &qemu;
    cfg.images.dir = a.images;
    if (kernel_pairs) {
        const auto kernels = guest_kernel_list(a.guest_kernels, cfg.images);
        for (const auto& k : kernels) cfg.kernel_pairs.push_back({kernels[0], k});
    }
    if (a.kvm) cfg.accel = choose_accel(req, host);
    cfg.boot_timeout_s = a.boot_timeout;  // 0: by kind (default_ready_timeout_s)
    cfg.settle_timeout_s = a.settle_timeout;
    cfg.settle_merges = a.settle_merges;
    cfg.settle_window_s = a.settle_window;
    if (a.thp != "keep") cfg.thp = a.thp;
    cfg.ksm_pages_to_scan = a.pages_to_scan;
    cfg.ksm_sleep_ms = a.sleep_ms;
    if (a.kvm)
        cfg.techniques.push_back({"kvm", std::string(cfg.accel.accel == Accel::tcg ? "KVM (TCG)" : "KVM") +
                                             (a.driver == "libvirt" ? " libvirt" : ""),
                                  vm_driver, Variant::full, kPaperMemoryKvmSingleMb, kPaperMemoryKvmLimitMb});
    if (a.lxc)
        cfg.techniques.push_back({"lxc", "LXC", &lxc, Variant::full, kPaperMemoryLxcSingleMb, kPaperMemoryLxcLimitMb});
    if (a.lxc_app)
        cfg.techniques.push_back(
            {"lxc-app", "LXC-bash", &lxc, Variant::app, kPaperMemoryLxcBashSingleMb, kPaperMemoryLxcBashLimitMb});
    preflight_memory(cfg);
    if (a.kvm) {
        uint64_t need_mb = uint64_t(cfg.counts.back()) * 1024;
        if (need_mb > host.memory_kb / 1024)
            warn(std::to_string(cfg.counts.back()) + " VMs of 1 GiB exceed this host's " +
                 std::to_string(host.memory_kb / 1024) + " MiB if they touch all their RAM");
    }
    if (!a.quiet) cfg.progress = progress_printer(false);
    if (a.kvm && cfg.accel.notice) progress_printer(a.quiet)("notice: VM accelerator " + cfg.accel.reason);

    TracerOptions topts;
    topts.verbose = a.verbose;
    topts.bucket_ns = kMemoryBucketNs;
    Tracer tracer(topts);
    TraceSession trace(a.trace, "memory", a.quiet);
    trace.begin(&tracer);
    HostSettingsGuard ksm;
    if (ksm.recovered()) progress_printer(a.quiet)("a previous run died with KSM changed: its saved settings were restored");
    repair_dead_runs(a.quiet, ksm);  // the rest of what killed runs left (KSM: just above)
    MemoryResult result = run_memory(tracer, ksm, host, cfg);
    trace.finish();
    finish(a.json, to_json(result), render_text(result), a.quiet);
    if (!a.plot.empty()) {
        write_file_atomic(a.plot, render_svg(result));
        progress_printer(a.quiet)("wrote " + a.plot);
    }
    return 0;
}

}  // namespace

Command add_memory(CLI::App& app) {
    auto a = std::make_shared<MemoryArgs>();
    auto* memory = app.add_subcommand("memory", "Memory footprint per guest as identical guests are added, with or "
                                                "without KSM (paper Figure 4), faults and KSM merges traced");
    memory->add_flag("--kvm", a->kvm, "full VMs: QEMU, Debian 12 with systemd, idle at multi-user, 1 GiB each");
    memory->add_flag("--lxc", a->lxc, "full containers: the same rootfs, systemd as init (liblxc)");
    memory->add_flag("--lxc-app", a->lxc_app, "containers running a single /bin/bash (the paper's LXC-bash)");
    a->count_opt = memory->add_option("--count", a->counts, "guest counts to measure, added step by step")->capture_default_str();
    memory->add_option("--ksm", a->ksm, "KSM during the run: on, off, or both (one series each); host settings "
                                         "are restored on every exit")
        ->check(CLI::IsMember({"on", "off", "both"}))
        ->capture_default_str();
    a->kernels_opt = memory->add_option("--guest-kernels", a->guest_kernels,
                       "with --kvm: KSM across guest kernel versions (paper section 3). KERNELS: two or more of the "
                       "images' guest kernels (\"default\", a release or its unique start, e.g. default,6.1.0-47,6.12; "
                       "or all); the first is the reference. For each, two VMs: the reference, then that kernel; what "
                       "KSM merged between them is read from the frames both map")
        ->type_name("KERNELS");
    memory->add_option("--rootfs", a->rootfs, "containers: shared (overlayfs over one rootfs) or copied (a private copy each)")
        ->check(CLI::IsMember({"shared", "copied"}))
        ->capture_default_str();
    add_accel_option(memory, a->accel);
    memory->add_option("--thp", a->thp, "transparent huge pages during the run: keep (the host's), never (4 KiB "
                                        "accounting, like the paper's page analysis), madvise, always; restored after")
        ->check(CLI::IsMember({"keep", "never", "madvise", "always"}))
        ->capture_default_str();
    memory->add_option("--driver", a->driver, "how VMs are started: qemu (QEMU directly, minimal devices) or libvirt "
                                              "(libvirtd, a virt-install-like default domain)")
        ->check(CLI::IsMember({"qemu", "libvirt"}))
        ->capture_default_str();
    memory->add_option("--json", a->json, "write the result as versioned JSON to FILE (atomically)");
    add_trace_option(memory, a->trace);
    memory->add_option("--plot", a->plot, "write Figure 4 as an SVG line plot to FILE");
    memory->add_option("--images", a->images, "guest images directory")->capture_default_str();
    memory->add_option("--boot-timeout", a->boot_timeout, "seconds a step's new guests may take to be ready "
                                                         "(default: 600 for VMs under TCG, 180 under KVM, 120 for "
                                                         "containers only)")
        ->check(kSeconds);
    memory->add_option("--settle-timeout", a->settle_timeout, "seconds to wait for memory to settle per step; "
                                                             "measured anyway after it, and flagged")
        ->check(kSeconds)
        ->capture_default_str();
    memory->add_option("--settle-merges", a->settle_merges, "KSM on: settled when full scans merge at most this many "
                                                           "pages on average over --settle-window (default: when the "
                                                           "burndown has flattened)")
        ->check(finite_range(0.0, 1e9, "PAGES"));
    memory->add_option("--settle-window", a->settle_window, "KSM on: seconds per window of the burndown comparison")
        ->check(finite_range(1.0, 600.0, "SECONDS"))
        ->capture_default_str();
    memory->add_option("--ksm-pages-to-scan", a->pages_to_scan, "KSM scan rate while on: pages per wake-up")
        ->check(CLI::Range(1u, 1000000u))
        ->capture_default_str();
    memory->add_option("--ksm-sleep-ms", a->sleep_ms, "KSM scan rate while on: milliseconds between wake-ups")
        ->check(CLI::Range(1u, 10000u))
        ->capture_default_str();
    memory->add_flag("-q,--quiet", a->quiet, "no progress lines on stderr");
    memory->add_flag("-v,--verbose", a->verbose, "show libbpf's messages");
    memory->footer("Examples:\n"
                   "  hypetrace memory --kvm --lxc --count 1,2,4,8 --ksm on      # Figure 4, VMs deduplicated\n"
                   "  hypetrace memory --kvm --ksm both --json mem.json --plot fig4.svg\n"
                   "  hypetrace memory --lxc --rootfs copied --count 1,4,16     # the paper's copied chroot\n"
                   "  hypetrace memory --kvm --guest-kernels default,6.1.0-47   # a guest that missed updates\n"
                   "KSM, THP and the inotify instance limit are host-wide: hypetrace takes\n"
                   "/run/hypetrace/settings.lock for the run and restores every /sys/kernel/mm/ksm setting, the THP\n"
                   "mode and the limit when it ends (error, Ctrl-C, SIGTERM; a killed run's are restored by the next).");
    return {memory, [a] { return cmd_memory(*a); }};
}

}  // namespace ht
