// SPDX-License-Identifier: MIT
// `hypetrace devices`: memory saved by dropping emulated devices (paper Table 2), experiments/devices.
#include "cli/commands.h"

#include "cli/options.h"
#include "cli/trace_cmds.h"
#include "core/base/error.h"
#include "core/host/files.h"
#include "core/host/host.h"
#include "core/host/host_settings.h"
#include "drivers/libvirt/libvirt_driver.h"
#include "experiments/devices.h"
#include "experiments/memory.h"

#include <cmath>
#include <iostream>
#include <memory>

namespace ht {
namespace {

struct DevicesArgs {
    unsigned guests = 3;
    std::string sets = "all", accel = "auto", json, images = default_images(), thp = "never";
    double boot_timeout = 0, settle_timeout = 300;
    bool quiet = false, verbose = false;
    std::string trace;  // --trace DIR
};

std::vector<DeviceSet> parse_device_sets(const std::string& text) {
    std::vector<DeviceSet> all = all_device_sets();
    if (text == "all") return all;
    std::vector<DeviceSet> out{all.front()};  // the default domain is the baseline of every saving
    std::size_t start = 0;
    while (start <= text.size()) {
        auto end = text.find(',', start);
        if (end == std::string::npos) end = text.size();
        std::string item = text.substr(start, end - start);
        bool found = false;
        for (const auto& d : all)
            if (d.name() == item) {
                found = true;
                bool dup = false;
                for (const auto& o : out) dup |= o.name() == item;
                if (!dup) out.push_back(d);
            }
        if (!found) {
            std::string names;
            for (const auto& d : all) names += (names.empty() ? "" : ", ") + d.name();
            throw usage_error("--sets: unknown device set '" + item + "': choose all, or from " + names);
        }
        start = end + 1;
    }
    return out;
}

int cmd_devices(const DevicesArgs& a) {
    std::vector<DeviceSet> sets = parse_device_sets(a.sets);
    AccelRequest req = parse_accel_request(a.accel);
    require_root("devices");
    if (!a.json.empty()) check_writable(a.json, "--json");
    HostInfo host = probe_host();
    MemoryConfig cfg;
    cfg.images.dir = a.images;
    cfg.accel = choose_accel(req, host);
    cfg.counts = {a.guests};
    cfg.ksm_modes = {false};
    if (a.thp != "keep") cfg.thp = a.thp;
    cfg.boot_timeout_s = a.boot_timeout;  // 0: by kind (default_ready_timeout_s)
    cfg.settle_timeout_s = a.settle_timeout;
    std::vector<std::unique_ptr<LibvirtDriver>> drivers;
    for (const auto& d : sets) {
        drivers.push_back(std::make_unique<LibvirtDriver>("qemu:///system", d));
        cfg.techniques.push_back({d.name(), d.name(), drivers.back().get(), Variant::full, NAN, NAN});
    }
    preflight_memory(cfg);
    if (!a.quiet) cfg.progress = progress_printer(false);
    if (cfg.accel.notice) progress_printer(a.quiet)("notice: VM accelerator " + cfg.accel.reason);
    TracerOptions topts;
    topts.verbose = a.verbose;
    topts.bucket_ns = kDevicesBucketNs;
    Tracer tracer(topts);
    TraceSession trace(a.trace, "devices", a.quiet);
    trace.begin(&tracer);
    HostSettingsGuard ksm;  // KSM off for the run: a device's memory must not be merged away
    repair_dead_runs(a.quiet, ksm);
    DevicesResult result;
    result.memory = run_memory(tracer, ksm, host, cfg);
    trace.finish();
    result.rows = summarize_devices(result.memory, sets);
    finish(a.json, to_json(result), render_text(result), a.quiet);
    return 0;
}

}  // namespace

Command add_devices(CLI::App& app) {
    auto a = std::make_shared<DevicesArgs>();
    auto* devices = app.add_subcommand("devices", "Memory saved by dropping video, audio and USB from a libvirt-default "
                                                  "VM (paper Table 2), per device and per combination");
    devices->add_option("--guests", a->guests, "VMs per device set, booted together; savings are differences of means")
        ->check(CLI::Range(1u, 64u))
        ->capture_default_str();
    devices->add_option("--sets", a->sets, "device sets: all (the 8 combinations) or a list of default, no-video, "
                                           "no-audio, no-usb, no-video+audio, no-video+usb, no-audio+usb, none")
        ->capture_default_str();
    add_accel_option(devices, a->accel);
    devices->add_option("--thp", a->thp, "transparent huge pages during the run: never (default: guest RAM in 4 KiB "
                                         "pages, so a device's few MB are not lost in 2 MiB steps), keep, madvise, always")
        ->check(CLI::IsMember({"keep", "never", "madvise", "always"}))
        ->capture_default_str();
    devices->add_option("--json", a->json, "write the result as versioned JSON to FILE (atomically)");
    add_trace_option(devices, a->trace);
    devices->add_option("--images", a->images, "guest images directory")->capture_default_str();
    devices->add_option("--boot-timeout", a->boot_timeout, "seconds a set's VMs may take to be ready "
                                                          "(default 600 under TCG, 180 otherwise)")
        ->check(kSeconds);
    devices->add_option("--settle-timeout", a->settle_timeout, "seconds to wait for memory to settle per set")
        ->check(kSeconds)
        ->capture_default_str();
    devices->add_flag("-q,--quiet", a->quiet, "no progress lines on stderr");
    devices->add_flag("-v,--verbose", a->verbose, "show libbpf's messages");
    devices->footer("Examples:\n"
                    "  hypetrace devices                                  # Table 2: all 8 combinations, 3 VMs each\n"
                    "  hypetrace devices --sets no-video,no-audio,no-usb,none --guests 5 --json table2.json\n"
                    "Needs libvirtd (scripts/start-libvirtd.sh). KSM is held off and THP set for the run, both restored after.");
    return {devices, [a] { return cmd_devices(*a); }};
}

}  // namespace ht
