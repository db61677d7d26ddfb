// SPDX-License-Identifier: MIT
// hypetrace's command line: the only place that wires drivers to experiments.
#include "core/bpf_tracer.h"
#include "core/error.h"
#include "core/files.h"
#include "core/host.h"
#include "core/interrupt.h"
#include "drivers/libvirt/libvirt_driver.h"
#include "drivers/lxc/lxc_driver.h"
#include "drivers/native/native_driver.h"
#include "drivers/qemu/kvm_cpu.h"
#include "drivers/qemu/qemu_driver.h"
#include "experiments/cleanup.h"
#include "experiments/dedup.h"
#include "experiments/devices.h"
#include "experiments/exitcost.h"
#include "experiments/io.h"
#include "experiments/fleet.h"
#include "experiments/report.h"
#include "core/clock.h"
#include "core/json_text.h"
#include "core/proc.h"
#include "core/text.h"
#include "experiments/memory.h"
#include "experiments/startup.h"
#include "cli/trace_cmds.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <set>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <thread>
#include <unistd.h>

namespace {

using namespace ht;

constexpr const char* kDefaultImages = "/var/cache/hypetrace/images";

std::string default_images() {
    const char* env = std::getenv("HYPETRACE_IMAGE_DIR");
    return env && *env ? env : kDefaultImages;
}

// Progress lines on stderr ("[hypetrace] ..."), or nothing with -q.
std::function<void(const std::string&)> progress_printer(bool quiet) {
    return [quiet](const std::string& line) {
        if (!quiet) std::cerr << "[hypetrace] " << line << std::endl;
    };
}

// Writes a result's JSON to `path` (atomically) if one was asked for, and says so unless quiet.
void write_json_if_asked(const std::string& path, const nlohmann::json& j, bool quiet) {
    if (path.empty()) return;
    write_file_atomic(path, dump_json(j, 2) + "\n");
    progress_printer(quiet)("wrote " + path);
}

void require_root(const std::string& what) {
    if (geteuid() != 0)
        throw UserError("`hypetrace " + what + "` must run as root: it loads BPF programs and starts guests (try: sudo)");
}

// What killed runs left (their containers, scratch directories and, with `ksm`, the host settings
// they changed), undone before this run starts; each thing undone is said on stderr.
void repair_dead_runs(bool quiet, bool ksm) {
    LxcDriver lxc;
    for (const auto& line : clean_dead_runs({&lxc}, ksm).undone) progress_printer(quiet)(line);
}

struct CleanupArgs {
    bool json = false;
};

int cmd_cleanup(const CleanupArgs& a) {
    require_root("cleanup");
    LxcDriver lxc;
    CleanupResult r = clean_dead_runs({&lxc}, true);
    if (a.json) {
        std::cout << dump_json(nlohmann::json{{"undone", r.undone}, {"kept", r.kept}}, 2) << "\n";
        return 0;
    }
    for (const auto& l : r.undone) std::cout << "undone: " << l << "\n";
    for (const auto& l : r.kept) std::cout << "kept:   " << l << "\n";
    if (r.undone.empty())
        std::cout << "nothing left by killed runs" << (r.kept.empty() ? "" : " (what is kept belongs to a live run)") << "\n";
    else
        std::cout << r.undone.size() << " thing" << (r.undone.size() > 1 ? "s" : "") << " left by killed runs undone\n";
    return 0;
}

struct StartupArgs {
    bool kvm = false, kvm_app = false, kvm_bios = false, lxc = false, lxc_app = false, native = false;
    std::string accel = "auto", driver = "qemu";
    unsigned runs = 5, warmup = 1;
    double timeout = 0;
    std::string json, images = default_images();
    bool quiet = false, verbose = false;
    std::string trace;  // --trace DIR
};

int cmd_startup(const StartupArgs& a) {
    if (!(a.kvm || a.kvm_app || a.kvm_bios || a.lxc || a.lxc_app || a.native))
        throw usage_error("choose at least one technique: --kvm, --kvm-app, --kvm-bios, --lxc, --lxc-app or --native");
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
    cfg.runs = a.runs;
    cfg.warmup = a.warmup;
    cfg.images.dir = a.images;
    bool any_vm = a.kvm || a.kvm_app || a.kvm_bios;
    if (any_vm) cfg.accel = choose_accel(req, host);
    cfg.timeout_s = a.timeout > 0 ? a.timeout : (cfg.accel.accel == Accel::tcg ? 240 : 120);
    if (a.kvm) cfg.techniques.push_back({"kvm", a.driver == "libvirt" ? "KVM libvirt" : "KVM", vm, Variant::full, 10.342});
    if (a.kvm_app) cfg.techniques.push_back({"kvm-app", "KVM-bash", &qemu, Variant::app, NAN});
    if (a.kvm_bios) cfg.techniques.push_back({"kvm-bios", "KVM firmware", &qemu, Variant::firmware, NAN});
    if (a.lxc) cfg.techniques.push_back({"lxc", "LXC", &lxc, Variant::full, 0.200});
    if (a.lxc_app) cfg.techniques.push_back({"lxc-app", "LXC-bash", &lxc, Variant::app, 0.099});
    if (a.native) cfg.techniques.push_back({"native", "native bash", &native, Variant::app, NAN});
    for (auto& t : cfg.techniques) {
        if (t.driver == vm && cfg.accel.accel == Accel::tcg) t.label += " (TCG)";
        GuestSpec spec;
        spec.variant = t.variant;
        spec.images = cfg.images;
        spec.accel = cfg.accel.accel;
        t.driver->preflight(spec);
    }
    if (!a.quiet) {
        cfg.progress = [](const std::string& line) { std::cerr << "[hypetrace] " << line << std::endl; };
        if (any_vm && cfg.accel.notice) std::cerr << "[hypetrace] notice: VM accelerator " << cfg.accel.reason << std::endl;
    }

    TracerOptions topts;
    topts.verbose = a.verbose;
    Tracer tracer(topts);
    TraceSession trace(a.trace, "startup", a.quiet);
    repair_dead_runs(a.quiet, true);  // what killed runs left, once this run is known to go ahead
    trace.begin(&tracer);
    StartupResult result = run_startup(tracer, host, cfg);
    trace.finish();
    write_json_if_asked(a.json, to_json(result), a.quiet);  // first: a view that fails must not lose the run
    std::cout << render_text(result) << std::flush;
    return 0;
}

struct MemoryArgs {
    bool kvm = false, lxc = false, lxc_app = false;
    std::string counts = "1,2,4,8", ksm = "on", rootfs = "shared", accel = "auto", driver = "qemu", thp = "keep";
    std::string json, plot, images = default_images();
    double boot_timeout = 0, settle_timeout = 300;
    double settle_merges = 0, settle_window = 5;
    unsigned pages_to_scan = 20000, sleep_ms = 20;
    bool quiet = false, verbose = false;
    std::string trace;  // --trace DIR
};

std::vector<unsigned> parse_counts(const std::string& text) {
    std::vector<unsigned> v;
    std::size_t start = 0;
    while (start <= text.size()) {
        auto end = text.find(',', start);
        if (end == std::string::npos) end = text.size();
        std::string item = text.substr(start, end - start);
        char* rest = nullptr;
        unsigned long n = std::strtoul(item.c_str(), &rest, 10);
        if (item.empty() || *rest || n == 0 || n > 256)
            throw usage_error("--count " + text + ": give guest counts from 1 to 256 separated by commas, e.g. 1,2,4,8");
        v.push_back(unsigned(n));
        start = end + 1;
    }
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
}

int cmd_memory(const MemoryArgs& a) {
    if (!(a.kvm || a.lxc || a.lxc_app)) throw usage_error("choose at least one technique: --kvm, --lxc or --lxc-app");
    MemoryConfig cfg;
    cfg.counts = parse_counts(a.counts);
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
    if (a.kvm) cfg.accel = choose_accel(req, host);
    cfg.boot_timeout_s = a.boot_timeout > 0 ? a.boot_timeout : !a.kvm ? 120 : cfg.accel.accel == Accel::tcg ? 600 : 180;
    cfg.settle_timeout_s = a.settle_timeout;
    cfg.settle_merges = a.settle_merges;
    cfg.settle_window_s = a.settle_window;
    if (a.thp != "keep") cfg.thp = a.thp;
    cfg.ksm_pages_to_scan = a.pages_to_scan;
    cfg.ksm_sleep_ms = a.sleep_ms;
    if (a.kvm)
        cfg.techniques.push_back({"kvm", std::string(cfg.accel.accel == Accel::tcg ? "KVM (TCG)" : "KVM") +
                                             (a.driver == "libvirt" ? " libvirt" : ""),
                                  vm_driver, Variant::full, 194, 91});
    if (a.lxc) cfg.techniques.push_back({"lxc", "LXC", &lxc, Variant::full, 16, 8});
    if (a.lxc_app) cfg.techniques.push_back({"lxc-app", "LXC-bash", &lxc, Variant::app, 2, 1.3});
    for (auto& t : cfg.techniques) {
        GuestSpec spec;
        spec.variant = t.variant;
        spec.images = cfg.images;
        spec.accel = cfg.accel.accel;
        spec.rootfs = cfg.rootfs;
        t.driver->preflight(spec);
    }
    if (a.kvm) {
        uint64_t need_mb = uint64_t(cfg.counts.back()) * 1024;
        if (need_mb > host.memory_kb / 1024)
            std::cerr << "[hypetrace] warning: " << cfg.counts.back() << " VMs of 1 GiB exceed this host's "
                      << host.memory_kb / 1024 << " MiB if they touch all their RAM" << std::endl;
    }
    if (!a.quiet) {
        cfg.progress = [](const std::string& line) { std::cerr << "[hypetrace] " << line << std::endl; };
        if (a.kvm && cfg.accel.notice) std::cerr << "[hypetrace] notice: VM accelerator " << cfg.accel.reason << std::endl;
    }

    TracerOptions topts;
    topts.verbose = a.verbose;
    topts.bucket_ns = 1'000'000'000;
    Tracer tracer(topts);
    TraceSession trace(a.trace, "memory", a.quiet);
    trace.begin(&tracer);
    HostSettingsGuard ksm;
    if (ksm.recovered() && !a.quiet)
        std::cerr << "[hypetrace] a previous run died with KSM changed: its saved settings were restored" << std::endl;
    repair_dead_runs(a.quiet, false);  // the rest of what killed runs left (KSM: just above)
    MemoryResult result = run_memory(tracer, ksm, host, cfg);
    trace.finish();
    write_json_if_asked(a.json, to_json(result), a.quiet);  // first: a view that fails must not lose the run
    std::cout << render_text(result) << std::flush;
    if (!a.plot.empty()) {
        write_file_atomic(a.plot, render_svg(result));
        if (!a.quiet) std::cerr << "[hypetrace] wrote " << a.plot << std::endl;
    }
    return 0;
}

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

struct DedupArgs {
    std::string guest, pid, vs, images = default_images(), image_files, json, accel = "auto", driver = "qemu";
    std::string thp = "never";
    bool kvm = false, lxc = false, list = false, no_host = false, ksm_check = false, quiet = false;
    unsigned guests = 2;
    double quiesce = 20, boot_timeout = 0, ksm_timeout = 300;
    std::string trace;  // --trace DIR
};

int cmd_dedup(const DedupArgs& a) {
    const int modes = int(!a.guest.empty()) + int(!a.pid.empty()) + int(a.kvm) + int(a.lxc);
    if (a.list) {
        require_root("dedup --list");
        auto all = list_guests();
        if (all.empty()) std::cout << "no running guests found (libvirt domains, LXC containers, QEMU processes)\n";
        for (const auto& g : all)
            std::cout << g.name << "\t" << g.kind << "\tpid " << g.main_pid << "\t" << g.how << "\n";
        return 0;
    }
    if (modes != 1)
        throw usage_error("choose one guest: --guest NAME, --pid PID, or let hypetrace boot guests with --kvm or --lxc");
    if ((a.kvm || a.lxc) && !a.vs.empty())
        throw usage_error("--vs-guest is for a running guest; with --kvm/--lxc the second guest is booted too (--guests 2)");
    AccelRequest req = parse_accel_request(a.accel);
    require_root("dedup");
    if (!a.json.empty()) check_writable(a.json, "--json");
    if (std::error_code ec; !a.image_files.empty() && !std::filesystem::is_directory(a.image_files, ec))
        throw usage_error("--image-files " + visible(a.image_files) + ": not a directory (give the guest's rootfs)");
    auto progress = progress_printer(a.quiet);

    TraceSession trace(a.trace, "dedup", a.quiet);
    trace.begin(nullptr);
    HostInfo host = probe_host();
    DedupConfig cfg;
    cfg.host = !a.no_host;
    cfg.progress = progress;
    cfg.image_dir = a.image_files;
    if (auto v = read_text("/sys/kernel/mm/ksm/max_page_sharing")) cfg.ksm_model.max_page_sharing = std::stoull(*v);
    if (auto v = read_text("/sys/kernel/mm/ksm/use_zero_pages")) cfg.ksm_model.use_zero_pages = v->rfind("1", 0) == 0;

    // Guests hypetrace boots itself (and the host settings it holds while they run).
    QemuDriver qemu;
    LibvirtDriver libvirt;
    LxcDriver lxc;
    std::unique_ptr<HostSettingsGuard> guard;
    std::unique_ptr<GuestFleet> fleet;
    std::string accel_name;
    if (a.ksm_check || a.kvm || a.lxc) {
        guard = std::make_unique<HostSettingsGuard>();
        if (guard->recovered()) progress("a previous run died with host settings changed: they were restored");
    }
    if (a.kvm || a.lxc) {
        FleetConfig fc;
        fc.driver = a.lxc ? static_cast<Driver*>(&lxc) : a.driver == "libvirt" ? static_cast<Driver*>(&libvirt) : &qemu;
        fc.id = a.lxc ? "lxc" : "kvm";
        fc.label = a.lxc ? "LXC" : "KVM";
        fc.tag = "dedup";
        fc.images.dir = a.images;
        fc.rootfs = RootfsMode::shared;
        AccelChoice accel;
        if (a.kvm) {
            accel = choose_accel(req, host);
            fc.accel = accel.accel;
            accel_name = to_string(accel.accel);
        }
        fc.boot_timeout_s = a.boot_timeout > 0 ? a.boot_timeout : a.lxc ? 120 : accel.accel == Accel::tcg ? 600 : 180;
        GuestSpec spec;
        spec.variant = Variant::full;
        spec.images = fc.images;
        spec.accel = fc.accel;
        spec.rootfs = fc.rootfs;
        fc.driver->preflight(spec);
        if (a.kvm && accel.notice) progress("notice: VM accelerator " + accel.reason);
        repair_dead_runs(a.quiet, false);
        // As the paper: KSM and huge pages off, so pages are compared 4 KiB by 4 KiB, unmerged.
        guard->disable();
        if (a.thp != "keep") guard->set_thp(a.thp);
        fleet = std::make_unique<GuestFleet>(fc);
        for (unsigned i = 0; i < a.guests; ++i) fleet->add();
        progress("booting " + std::to_string(a.guests) + " " + fc.label + " guest" + (a.guests > 1 ? "s" : "") +
                 (a.kvm ? " (" + accel_name + ")" : ""));
        const uint64_t t0 = mono_ns();
        for (auto& m : fleet->members()) fleet->launch(*m);
        fleet->wait_ready(t0, [](int ms) {
            std::this_thread::sleep_for(std::chrono::milliseconds(ms));
            throw_if_interrupted();
        });
        progress("ready after " + fmt("%.1f", double(mono_ns() - t0) / 1e9) + " s; letting them quiesce for " +
                 fmt("%.0f", a.quiesce) + " s");
        const uint64_t q_end = mono_ns() + uint64_t(a.quiesce * 1e9);
        while (mono_ns() < q_end) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            throw_if_interrupted();
        }
        auto ref_of = [&](FleetMember& m) {
            GuestRef g;
            g.name = "ht-dedup-" + fc.id + "-" + std::to_string(getpid()) + "-" + std::to_string(m.index);
            g.kind = a.lxc ? "container" : "vm";
            g.how = "booted by hypetrace";
            g.main_pid = m.guest->main_pid();
            g.pids = m.guest->pids();
            g.ram_bytes = a.lxc ? 0 : uint64_t(m.memory_mb) << 20;
            return g;
        };
        cfg.guest = ref_of(*fleet->members()[0]);
        if (fleet->size() > 1) cfg.other = ref_of(*fleet->members()[1]);
        if (cfg.image_dir.empty()) cfg.image_dir = fc.images.rootfs().string();
    } else {
        cfg.guest = resolve_guest(a.pid.empty() ? a.guest : a.pid);
        if (!a.vs.empty()) cfg.other = resolve_guest(a.vs);
        if (cfg.other && cfg.other->main_pid == cfg.guest.main_pid)
            throw usage_error("--vs-guest names the same guest as the one scanned");
        repair_dead_runs(a.quiet, false);
    }
    if (!cfg.image_dir.empty() && !std::filesystem::is_directory(cfg.image_dir))
        throw UserError("--image-files " + cfg.image_dir + ": not a directory");

    DedupResult result = run_dedup(cfg, host);
    result.accel = accel_name;
    if (fleet) result.guest_command = fleet->first_command();
    if (a.ksm_check) {
        progress("switching KSM on to check the estimate (" + std::to_string(result.table.ksm_estimated_sharing) +
                 " pages_sharing)");
        check_ksm_estimate(result, *guard, a.ksm_timeout, progress);
    }
    if (fleet) fleet->clear();
    if (guard && !guard->restore())
        std::cerr << "[hypetrace] warning: KSM is not fully restored: " << guard->restore_failures()
                  << "; the next run that takes KSM retries from its saved settings" << std::endl;
    trace.finish();
    write_json_if_asked(a.json, to_json(result), a.quiet);  // first: a view that fails must not lose the run
    std::cout << render_text(result) << std::flush;
    return 0;
}

struct ExitcostArgs {
    std::string accel = "auto", json;
    unsigned ops = 10000, sectors = 200, hlts = 1000, runs = 3;
    double timeout = 120;
    bool no_trace = false, attach_only = false, quiet = false, verbose = false;
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
    cfg.progress = progress;
    std::unique_ptr<Tracer> tracer;
    if (!a.no_trace) {
        TracerOptions topts;
        topts.verbose = a.verbose;
        topts.bucket_ns = 3600'000'000'000ULL;  // one bucket: phases, not time, split the counts
        topts.attach_only = a.attach_only;
        topts.kvm_entry_split = true;  // explains where an exit's time in KVM goes
        tracer = std::make_unique<Tracer>(topts);
    }
    TraceSession trace(a.trace, "exitcost", a.quiet);
    repair_dead_runs(a.quiet, true);
    trace.begin(a.attach_only ? nullptr : tracer.get());
    // --attach-only: the programs stay attached (counting nothing) while only the wall time is kept
    ExitcostResult result = run_exitcost(a.attach_only ? nullptr : tracer.get(), host, cfg);
    trace.finish();
    write_json_if_asked(a.json, to_json(result), a.quiet);  // first: a view that fails must not lose the run
    if (a.no_trace || a.attach_only) {
        Summary s = summarize(result.run_wall_s);
        std::cout << (a.no_trace ? "exitcost without tracing: " : "exitcost with the KVM programs attached, counting nothing: ")
                  << result.runs << " runs, payload " << fmt("%.4f", s.mean) << " s +- " << fmt("%.4f", s.ci95)
                  << " (resume to exit)\n";
    } else {
        std::cout << render_text(result) << std::flush;
    }
    return 0;
}

struct IoArgs {
    bool kvm = false, lxc = false, native = false, quiet = false, verbose = false;
    std::string job, json, accel = "auto", images = default_images();
    unsigned runs = 3, runtime = 10;
    double boot_timeout = 0;
    std::string trace;  // --trace DIR
};

int cmd_io(const IoArgs& a) {
    if (!(a.kvm || a.lxc || a.native)) throw usage_error("choose at least one technique: --kvm, --lxc or --native");
    AccelRequest req = parse_accel_request(a.accel);
    IoConfig cfg;
    if (!a.job.empty()) {
        std::error_code ec;
        auto text = std::filesystem::is_regular_file(a.job, ec) ? read_text(a.job) : std::nullopt;
        if (!text) throw usage_error("--job " + visible(a.job) + ": not a readable file (give a fio job file)");
        cfg.job_text = *text;
        cfg.job_name = std::filesystem::path(a.job).filename().string();
    } else {
        cfg.job_text = default_fio_job();
    }
    require_root("io");
    if (!a.json.empty()) check_writable(a.json, "--json");
    if (a.native && which("fio").empty()) throw UserError("fio not found: install fio (scripts/setup.sh does)");
    HostInfo host = probe_host();
    QemuDriver qemu;
    LxcDriver lxc;
    cfg.images.dir = a.images;
    cfg.runs = a.runs;
    cfg.runtime_s = a.runtime;
    auto progress = progress_printer(a.quiet);
    cfg.progress = progress;
    std::string accel_notice;  // said once the images are known to be there
    if (a.kvm) {
        AccelChoice accel = choose_accel(req, host);
        cfg.accel = accel.accel;
        accel_notice = accel.notice ? "notice: VM accelerator " + accel.reason : "";
        cfg.techniques.push_back({"kvm", accel.accel == Accel::tcg ? "KVM (TCG)" : "KVM", &qemu});
    }
    if (a.lxc) cfg.techniques.push_back({"lxc", "LXC", &lxc});
    if (a.native) cfg.techniques.push_back({"native", "native", nullptr});
    for (const auto& t : cfg.techniques)
        if (t.driver) {
            GuestSpec spec;
            spec.variant = Variant::full;
            spec.images = cfg.images;
            spec.accel = cfg.accel;
            t.driver->preflight(spec);
        }
    if (!accel_notice.empty()) progress(accel_notice);
    cfg.boot_timeout_s = a.boot_timeout > 0 ? a.boot_timeout : cfg.accel == Accel::tcg ? 600 : 180;
    TracerOptions topts;
    topts.verbose = a.verbose;
    topts.bucket_ns = 3600'000'000'000ULL;
    Tracer tracer(topts);
    TraceSession trace(a.trace, "io", a.quiet);
    repair_dead_runs(a.quiet, true);
    trace.begin(&tracer);
    IoResult result = run_io(tracer, host, cfg);
    trace.finish();
    write_json_if_asked(a.json, to_json(result), a.quiet);  // first: a view that fails must not lose the run
    std::cout << render_text(result) << std::flush;
    return 0;
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
    cfg.boot_timeout_s = a.boot_timeout > 0 ? a.boot_timeout : (cfg.accel.accel == Accel::tcg ? 600 : 180);
    cfg.settle_timeout_s = a.settle_timeout;
    std::vector<std::unique_ptr<LibvirtDriver>> drivers;
    for (const auto& d : sets) {
        drivers.push_back(std::make_unique<LibvirtDriver>("qemu:///system", d));
        cfg.techniques.push_back({d.name(), d.name(), drivers.back().get(), Variant::full, NAN, NAN});
    }
    GuestSpec spec;
    spec.images = cfg.images;
    spec.accel = cfg.accel.accel;
    drivers.front()->preflight(spec);
    if (!a.quiet) {
        cfg.progress = [](const std::string& line) { std::cerr << "[hypetrace] " << line << std::endl; };
        if (cfg.accel.notice) std::cerr << "[hypetrace] notice: VM accelerator " << cfg.accel.reason << std::endl;
    }
    TracerOptions topts;
    topts.verbose = a.verbose;
    topts.bucket_ns = 1'000'000'000;
    Tracer tracer(topts);
    TraceSession trace(a.trace, "devices", a.quiet);
    trace.begin(&tracer);
    HostSettingsGuard ksm;  // KSM off for the run: a device's memory must not be merged away
    repair_dead_runs(a.quiet, false);
    DevicesResult result;
    result.memory = run_memory(tracer, ksm, host, cfg);
    trace.finish();
    result.rows = summarize_devices(result.memory, sets);
    write_json_if_asked(a.json, to_json(result), a.quiet);  // first: a view that fails must not lose the run
    std::cout << render_text(result) << std::flush;
    return 0;
}

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

// A number from `lo` to `hi`; CLI::Range lets NaN through (every comparison with it is false).
CLI::Validator finite_range(double lo, double hi, const std::string& what) {
    return CLI::Validator(
        [lo, hi](std::string& s) -> std::string {
            char* end = nullptr;
            const double v = std::strtod(s.c_str(), &end);
            if (s.empty() || *end || !std::isfinite(v) || v < lo || v > hi)
                return "'" + visible(s) + "' is not a number from " + fmt("%g", lo) + " to " + fmt("%g", hi);
            return "";
        },
        what);
}
// Seconds an option may name: from 1 ms to a day. Nanosecond counts are int64: 1e300 s, or
// 1e12 s, would wrap into a negative deadline.
const CLI::Validator kSeconds = finite_range(0.001, 86400.0, "SECONDS");
const CLI::Validator kSecondsOrZero = finite_range(0.0, 86400.0, "SECONDS");

// A pid of this host: digits, 1 to pid_max - 1 (CLI11's number checks pass 4294967297, which
// would become pid 1).
CLI::Validator pid_validator() {
    return CLI::Validator(
        [](std::string& s) -> std::string {
            const pid_t max = pid_max();
            return parse_pid(s, max) ? "" : not_a_pid(s, max);
        },
        "PID");
}

void add_accel_option(CLI::App* app, std::string& accel) {
    app->add_option("--accel", accel, "VM accelerator: auto (KVM only where the CPU has vmx/svm), kvm, tcg")
        ->check(CLI::IsMember({"auto", "kvm", "tcg"}))
        ->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
    install_interrupt_handlers();
    remember_command_line(argc, argv);
    CLI::App app{"hypetrace: measure and explain the real cost of containers vs virtual machines, traced with eBPF"};
    app.set_version_flag("--version", std::string("hypetrace ") + HYPETRACE_VERSION);
    app.require_subcommand(1);
    app.failure_message([](const CLI::App*, const CLI::Error& e) {
        return std::string("hypetrace: ") + e.what() + " (see hypetrace --help)\n";
    });
    app.footer("Examples:\n"
               "  hypetrace startup --kvm --lxc --lxc-app --native --runs 5 --json startup.json\n"
               "  hypetrace startup --kvm-bios --accel kvm --runs 3\n"
               "  hypetrace memory --kvm --lxc --count 1,2,4,8 --ksm on --plot fig4.svg\n"
               "  hypetrace devices --guests 3 --json table2.json\n"
               "  hypetrace dedup --kvm --ksm-check\n"
               "  hypetrace io --kvm --lxc --native --json io.json\n"
               "  hypetrace exitcost --json exits.json\n"
               "  hypetrace startup --lxc --kvm --runs 2 --trace out/ && hypetrace flamegraph out/ && hypetrace timeline out/\n"
               "  hypetrace host\n"
               "Guest images: scripts/build-images.sh (default location " +
               std::string(kDefaultImages) + ", or $HYPETRACE_IMAGE_DIR).");

    StartupArgs sa;
    auto* startup = app.add_subcommand("startup", "Start-up latency of VMs, containers and a process (paper Table 3), "
                                                  "each run traced and split into phases");
    startup->add_flag("--kvm", sa.kvm, "a full VM: QEMU, Debian 12 with systemd to multi-user");
    startup->add_flag("--kvm-app", sa.kvm_app, "a VM that boots kernel + initramfs straight into /bin/bash");
    startup->add_flag("--kvm-bios", sa.kvm_bios, "QEMU firmware only (SeaBIOS to its boot prompt), no OS");
    startup->add_flag("--lxc", sa.lxc, "a full container: the same Debian 12 rootfs, systemd as init (liblxc)");
    startup->add_flag("--lxc-app", sa.lxc_app, "a container running a single /bin/bash (the paper's LXC-bash)");
    startup->add_flag("--native", sa.native, "the baseline: /bin/bash started as a plain process");
    add_accel_option(startup, sa.accel);
    startup->add_option("--driver", sa.driver, "how --kvm VMs are started: qemu (QEMU directly) or libvirt (libvirtd)")
        ->check(CLI::IsMember({"qemu", "libvirt"}))
        ->capture_default_str();
    startup->add_option("--runs", sa.runs, "measured runs per technique")->check(CLI::Range(1u, 1000u))->capture_default_str();
    startup->add_option("--warmup", sa.warmup, "discarded warm-up runs before them")->check(CLI::Range(0u, 100u))->capture_default_str();
    startup->add_option("--timeout", sa.timeout, "seconds a guest may take to be ready (default 240 under TCG, 120 otherwise)")
        ->check(kSeconds);
    startup->add_option("--json", sa.json, "write the result as versioned JSON to FILE (atomically)");
    add_trace_option(startup, sa.trace);
    startup->add_option("--images", sa.images, "guest images directory")->capture_default_str();
    startup->add_flag("-q,--quiet", sa.quiet, "no progress lines on stderr");
    startup->add_flag("-v,--verbose", sa.verbose, "show libbpf's messages");
    startup->footer("Examples:\n"
                    "  hypetrace startup --kvm --lxc --lxc-app --native            # Table 3, 5 runs each\n"
                    "  hypetrace startup --lxc --runs 20 --json lxc.json          # more runs, JSON result\n"
                    "  hypetrace startup --kvm-bios --accel kvm                   # firmware under KVM, exits traced");

    MemoryArgs ma;
    auto* memory = app.add_subcommand("memory", "Memory footprint per guest as identical guests are added, with or "
                                                "without KSM (paper Figure 4), faults and KSM merges traced");
    memory->add_flag("--kvm", ma.kvm, "full VMs: QEMU, Debian 12 with systemd, idle at multi-user, 1 GiB each");
    memory->add_flag("--lxc", ma.lxc, "full containers: the same rootfs, systemd as init (liblxc)");
    memory->add_flag("--lxc-app", ma.lxc_app, "containers running a single /bin/bash (the paper's LXC-bash)");
    memory->add_option("--count", ma.counts, "guest counts to measure, added step by step")->capture_default_str();
    memory->add_option("--ksm", ma.ksm, "KSM during the run: on, off, or both (one series each); host settings "
                                         "are restored on every exit")
        ->check(CLI::IsMember({"on", "off", "both"}))
        ->capture_default_str();
    memory->add_option("--rootfs", ma.rootfs, "containers: shared (overlayfs over one rootfs) or copied (a private copy each)")
        ->check(CLI::IsMember({"shared", "copied"}))
        ->capture_default_str();
    add_accel_option(memory, ma.accel);
    memory->add_option("--thp", ma.thp, "transparent huge pages during the run: keep (the host's), never (4 KiB "
                                        "accounting, like the paper's page analysis), madvise, always; restored after")
        ->check(CLI::IsMember({"keep", "never", "madvise", "always"}))
        ->capture_default_str();
    memory->add_option("--driver", ma.driver, "how VMs are started: qemu (QEMU directly, minimal devices) or libvirt "
                                              "(libvirtd, a virt-install-like default domain)")
        ->check(CLI::IsMember({"qemu", "libvirt"}))
        ->capture_default_str();
    memory->add_option("--json", ma.json, "write the result as versioned JSON to FILE (atomically)");
    add_trace_option(memory, ma.trace);
    memory->add_option("--plot", ma.plot, "write Figure 4 as an SVG line plot to FILE");
    memory->add_option("--images", ma.images, "guest images directory")->capture_default_str();
    memory->add_option("--boot-timeout", ma.boot_timeout, "seconds a step's new guests may take to be ready "
                                                         "(default: 600 for VMs under TCG, 180 under KVM, 120 for "
                                                         "containers only)")
        ->check(kSeconds);
    memory->add_option("--settle-timeout", ma.settle_timeout, "seconds to wait for memory to settle per step; "
                                                             "measured anyway after it, and flagged")
        ->check(kSeconds)
        ->capture_default_str();
    memory->add_option("--settle-merges", ma.settle_merges, "KSM on: settled when full scans merge at most this many "
                                                           "pages on average over --settle-window (default: when the "
                                                           "burndown has flattened)")
        ->check(finite_range(0.0, 1e9, "PAGES"));
    memory->add_option("--settle-window", ma.settle_window, "KSM on: seconds per window of the burndown comparison")
        ->check(finite_range(1.0, 600.0, "SECONDS"))
        ->capture_default_str();
    memory->add_option("--ksm-pages-to-scan", ma.pages_to_scan, "KSM scan rate while on: pages per wake-up")
        ->check(CLI::Range(1u, 1000000u))
        ->capture_default_str();
    memory->add_option("--ksm-sleep-ms", ma.sleep_ms, "KSM scan rate while on: milliseconds between wake-ups")
        ->check(CLI::Range(1u, 10000u))
        ->capture_default_str();
    memory->add_flag("-q,--quiet", ma.quiet, "no progress lines on stderr");
    memory->add_flag("-v,--verbose", ma.verbose, "show libbpf's messages");
    memory->footer("Examples:\n"
                   "  hypetrace memory --kvm --lxc --count 1,2,4,8 --ksm on      # Figure 4, VMs deduplicated\n"
                   "  hypetrace memory --kvm --ksm both --json mem.json --plot fig4.svg\n"
                   "  hypetrace memory --lxc --rootfs copied --count 1,4,16     # the paper's copied chroot\n"
                   "KSM, THP and the inotify instance limit are host-wide: hypetrace takes\n"
                   "/run/hypetrace/settings.lock for the run and restores every /sys/kernel/mm/ksm setting, the THP\n"
                   "mode and the limit when it ends (error, Ctrl-C, SIGTERM; a killed run's are restored by the next).");

    DevicesArgs da;
    auto* devices = app.add_subcommand("devices", "Memory saved by dropping video, audio and USB from a libvirt-default "
                                                  "VM (paper Table 2), per device and per combination");
    devices->add_option("--guests", da.guests, "VMs per device set, booted together; savings are differences of means")
        ->check(CLI::Range(1u, 64u))
        ->capture_default_str();
    devices->add_option("--sets", da.sets, "device sets: all (the 8 combinations) or a list of default, no-video, "
                                           "no-audio, no-usb, no-video+audio, no-video+usb, no-audio+usb, none")
        ->capture_default_str();
    add_accel_option(devices, da.accel);
    devices->add_option("--thp", da.thp, "transparent huge pages during the run: never (default: guest RAM in 4 KiB "
                                         "pages, so a device's few MB are not lost in 2 MiB steps), keep, madvise, always")
        ->check(CLI::IsMember({"keep", "never", "madvise", "always"}))
        ->capture_default_str();
    devices->add_option("--json", da.json, "write the result as versioned JSON to FILE (atomically)");
    add_trace_option(devices, da.trace);
    devices->add_option("--images", da.images, "guest images directory")->capture_default_str();
    devices->add_option("--boot-timeout", da.boot_timeout, "seconds a set's VMs may take to be ready "
                                                          "(default 600 under TCG, 180 otherwise)")
        ->check(kSeconds);
    devices->add_option("--settle-timeout", da.settle_timeout, "seconds to wait for memory to settle per set")
        ->check(kSeconds)
        ->capture_default_str();
    devices->add_flag("-q,--quiet", da.quiet, "no progress lines on stderr");
    devices->add_flag("-v,--verbose", da.verbose, "show libbpf's messages");
    devices->footer("Examples:\n"
                    "  hypetrace devices                                  # Table 2: all 8 combinations, 3 VMs each\n"
                    "  hypetrace devices --sets no-video,no-audio,no-usb,none --guests 5 --json table2.json\n"
                    "Needs libvirtd (scripts/start-libvirtd.sh). KSM is held off and THP set for the run, both restored after.");

    DedupArgs xa;
    auto* dedup = app.add_subcommand("dedup", "Page-content duplicates of a guest within itself, with the host and with "
                                              "a second guest, and what KSM could merge (paper Table 1, section 4)");
    dedup->add_option("--guest", xa.guest, "a running guest: libvirt domain, LXC container or QEMU -name");
    dedup->add_option("--pid", xa.pid, "a running guest by pid: a QEMU process, or a process and its descendants")
        ->check(pid_validator());
    dedup->add_option("--vs-guest", xa.vs, "the second guest (name or pid) for the 'between the two guests' row");
    dedup->add_flag("--kvm", xa.kvm, "boot full VMs (1 GiB, idle at multi-user) and scan the first; KSM held off and "
                                     "THP never while they run, as the paper; restored after");
    dedup->add_flag("--lxc", xa.lxc, "boot full containers (shared rootfs) and scan the first");
    dedup->add_option("--guests", xa.guests, "with --kvm/--lxc: how many to boot: the first is scanned, the second is "
                                             "the second guest, any more are part of the host")
        ->check(CLI::Range(1u, 16u))
        ->capture_default_str();
    dedup->add_option("--quiesce", xa.quiesce, "with --kvm/--lxc: seconds to let the guests settle after ready")
        ->check(kSecondsOrZero)
        ->capture_default_str();
    dedup->add_option("--image-files", xa.image_files, "a directory holding the guest's files (its rootfs): guest RAM "
                                                       "pages equal to a 4 KiB block of one are counted as page cache "
                                                       "(default with --kvm: the image's rootfs)");
    dedup->add_flag("--no-host", xa.no_host, "do not scan the host (other processes, page cache): guest rows only");
    dedup->add_flag("--ksm-check", xa.ksm_check, "after the scan, switch KSM on until pages_sharing settles and "
                                                 "compare it with the estimate (host-wide; restored after)");
    dedup->add_option("--ksm-timeout", xa.ksm_timeout, "--ksm-check: seconds to wait for KSM to settle")
        ->check(kSeconds)
        ->capture_default_str();
    add_accel_option(dedup, xa.accel);
    dedup->add_option("--driver", xa.driver, "with --kvm: qemu or libvirt")
        ->check(CLI::IsMember({"qemu", "libvirt"}))
        ->capture_default_str();
    dedup->add_option("--thp", xa.thp, "with --kvm/--lxc: transparent huge pages while the guests run (never, as the "
                                       "paper; keep, madvise, always)")
        ->check(CLI::IsMember({"keep", "never", "madvise", "always"}))
        ->capture_default_str();
    dedup->add_option("--boot-timeout", xa.boot_timeout, "with --kvm/--lxc: seconds the guests may take to be ready")
        ->check(kSeconds);
    dedup->add_option("--images", xa.images, "guest images directory")->capture_default_str();
    dedup->add_option("--json", xa.json, "write the result as versioned JSON to FILE (atomically)");
    add_trace_option(dedup, xa.trace);
    dedup->add_flag("--list", xa.list, "list the running guests hypetrace can find, and exit");
    dedup->add_flag("-q,--quiet", xa.quiet, "no progress lines on stderr");
    dedup->footer("Examples:\n"
                  "  hypetrace dedup --kvm                         # boot two VMs, Table 1 for the first\n"
                  "  hypetrace dedup --kvm --ksm-check --json t1.json   # and check the KSM estimate\n"
                  "  hypetrace dedup --guest web1 --vs-guest web2  # two running libvirt domains or containers\n"
                  "  hypetrace dedup --pid 4242 --no-host          # one QEMU process, duplicates within it only\n"
                  "  hypetrace dedup --kvm --guests 4              # a whole-host scan with four VMs running\n"
                  "  hypetrace dedup --list\n"
                  "Reads /proc/PID/pagemap, /proc/kpageflags, /proc/kpagecount and guest memory (root). Scanning\n"
                  "changes nothing; --kvm/--lxc/--ksm-check hold KSM and THP through /run/hypetrace/settings.lock.");

    ExitcostArgs ea;
    auto* exitcost = app.add_subcommand("exitcost", "Round-trip cost of each kind of VM exit: a tiny firmware payload "
                                                    "does N port I/O, MMIO, CPUID and disk operations per phase under KVM");
    add_accel_option(exitcost, ea.accel);
    exitcost->add_option("--ops", ea.ops, "operations per exit phase")->check(CLI::Range(10u, 10000000u))->capture_default_str();
    exitcost->add_option("--sectors", ea.sectors, "IDE sectors read in the disk phase")
        ->check(CLI::Range(1u, 100000u))
        ->capture_default_str();
    exitcost->add_option("--hlts", ea.hlts, "HLTs in the hlt phase, each woken by a 10 kHz timer tick (0: no hlt phase)")
        ->check(CLI::Range(0u, 10000000u))
        ->capture_default_str();
    exitcost->add_option("--runs", ea.runs, "payload runs (a new QEMU each)")->check(CLI::Range(1u, 1000u))->capture_default_str();
    exitcost->add_option("--timeout", ea.timeout, "seconds one run may take")->check(kSeconds)->capture_default_str();
    auto* no_trace = exitcost->add_flag("--no-trace", ea.no_trace, "run the payload without any BPF program (the overhead baseline)");
    exitcost->add_flag("--attach-only", ea.attach_only,
                       "attach the KVM programs but count nothing: what the tracepoints cost by themselves")
        ->excludes(no_trace);
    exitcost->add_option("--json", ea.json, "write the result as versioned JSON to FILE (atomically)");
    add_trace_option(exitcost, ea.trace);
    exitcost->add_flag("-q,--quiet", ea.quiet, "no progress lines on stderr");
    exitcost->add_flag("-v,--verbose", ea.verbose, "show libbpf's messages");
    exitcost->footer("Examples:\n"
                     "  hypetrace exitcost                        # 3 runs of 10000 operations per phase\n"
                     "  hypetrace exitcost --ops 100000 --runs 5 --json exits.json\n"
                     "  hypetrace exitcost --no-trace             # the same payload, nothing attached\n"
                     "The payload (drivers/qemu/payload/exitcost.asm) is real-mode firmware: it runs under KVM even\n"
                     "where KVM has no VT-x/AMD-V (PVM emulates it). Ports and addresses are named after the QEMU\n"
                     "device that owns them (QEMU's memory tree over QMP).");

    IoArgs ia;
    auto* io = app.add_subcommand("io", "The same fio workload in a VM, a container and natively (paper Figure 3), "
                                        "and the host-side cost of the VM's I/O");
    io->add_flag("--kvm", ia.kvm, "a full VM (QEMU, virtio disk); the job is handed to it on a second disk");
    io->add_flag("--lxc", ia.lxc, "a full container (shared rootfs); the job is bind-mounted into it");
    io->add_flag("--native", ia.native, "the host itself");
    io->add_option("--job", ia.job, "a fio job file (default: fileserver-like small files, then 4 KiB random "
                                    "reads; ${HT_IO_DIR} and ${HT_IO_RUNTIME} are set for it)");
    io->add_option("--runs", ia.runs, "fio runs per technique")->check(CLI::Range(1u, 100u))->capture_default_str();
    io->add_option("--runtime", ia.runtime, "seconds per job section")->check(CLI::Range(1u, 3600u))->capture_default_str();
    add_accel_option(io, ia.accel);
    io->add_option("--images", ia.images, "guest images directory")->capture_default_str();
    io->add_option("--boot-timeout", ia.boot_timeout, "seconds a guest may take to start its job")->check(kSeconds);
    io->add_option("--json", ia.json, "write the result as versioned JSON to FILE (atomically)");
    add_trace_option(io, ia.trace);
    io->add_flag("-q,--quiet", ia.quiet, "no progress lines on stderr");
    io->add_flag("-v,--verbose", ia.verbose, "show libbpf's messages");
    io->footer("Examples:\n"
               "  hypetrace io --kvm --lxc --native                 # 3 runs of 2 x 10 s each\n"
               "  hypetrace io --lxc --native --runs 5 --json io.json\n"
               "  hypetrace io --kvm --job my.fio --runtime 30\n"
               "The guests run the job from a directory handed to them at start (scripts/guest/hypetrace-job):\n"
               "no image is rebuilt per job.");

    bool host_json = false, host_verbose = false;
    RecordArgs ra;
    auto* record = app.add_subcommand("record", "Run an experiment with --trace DIR: its raw material kept for flamegraph "
                                                "and timeline");
    record->add_option("-o,--output", ra.out, "the trace directory to create (must not exist, or be empty)");
    record->add_option("experiment", ra.rest, "the experiment and its arguments, after --");
    record->footer("Examples:\n"
                   "  hypetrace record -o out/ -- startup --lxc --kvm --runs 2\n"
                   "  hypetrace record -o io-trace -- io --kvm --lxc --native --runtime 5\n"
                   "The same as adding --trace DIR to the experiment. Then: hypetrace flamegraph DIR, hypetrace timeline DIR.");

    FlamegraphArgs fa;
    auto* flamegraph = app.add_subcommand("flamegraph", "A flame graph of a trace directory: CPU stacks, VM exits or "
                                                        "page-fault handling, folded or as interactive SVG");
    flamegraph->add_option("dir", fa.dir, "the trace directory (made with --trace DIR or hypetrace record)");
    flamegraph->add_option("--of", fa.of, "what the stacks count: cpu (samples), exits (VM exits by reason, port/address, "
                                          "device, then QEMU's stacks handling them where sampled), faults (samples "
                                          "in page-fault handling)")
        ->check(CLI::IsMember({"cpu", "exits", "faults"}))
        ->capture_default_str();
    flamegraph->add_option("--guest", fa.guest, "only this guest: its name or the start of names ('LXC' for 'LXC run 1', ...)");
    flamegraph->add_option("--format", fa.format, "folded (a;b;c count: flamegraph.pl, inferno, speedscope) or svg")
        ->check(CLI::IsMember({"folded", "svg"}))
        ->capture_default_str();
    flamegraph->add_option("-o,--output", fa.out, "write to FILE (default: DIR/flamegraph-OF.svg; folded: standard output)");
    flamegraph->add_option("--diff", fa.diff, "a differential flame graph of two traces: --diff DIR_A DIR_B")->expected(2);
    flamegraph->add_option("--title", fa.title, "the SVG's title");
    flamegraph->add_flag("-q,--quiet", fa.quiet, "no progress lines on stderr");
    flamegraph->footer("Examples:\n"
                       "  hypetrace flamegraph out/                          # out/flamegraph-cpu.svg\n"
                       "  hypetrace flamegraph out/ --guest LXC --format folded > lxc.folded\n"
                       "  hypetrace flamegraph out/ --of exits               # exits by port/address and device\n"
                       "  hypetrace flamegraph --diff lxc-trace/ vm-trace/ -o diff.svg\n"
                       "Kernel frames end in _[k]. User stacks are unwound by frame pointers: Debian's binaries are\n"
                       "built without them, so their stacks are often one or two frames deep.");

    TimelineArgs ta;
    auto* timeline = app.add_subcommand("timeline", "A trace directory as one timeline: Chrome trace JSON for the "
                                                    "Perfetto UI or chrome://tracing");
    timeline->add_option("dir", ta.dir, "the trace directory (made with --trace DIR or hypetrace record)");
    timeline->add_option("-o,--output", ta.out, "write to FILE (default: DIR/timeline.json)");
    timeline->add_flag("-q,--quiet", ta.quiet, "no progress lines on stderr");
    timeline->footer("Examples:\n"
                     "  hypetrace timeline out/                  # out/timeline.json\n"
                     "  hypetrace timeline out/ -o startup.json\n"
                     "One track per guest and process (its lifetime a slice), the benchmark's phases as slices,\n"
                     "exec and phase marks, counters of exits/s, faults/s, KSM merges/s and CPU per guest.");

    CleanupArgs ca;
    auto* cleanup = app.add_subcommand("cleanup", "Undo what killed runs left: their containers, scratch directories, "
                                                  "KSM/THP/inotify settings");
    cleanup->add_flag("--json", ca.json, "print what was undone and kept as JSON");
    cleanup->footer("Examples:\n"
                    "  hypetrace cleanup          # after a run was killed with SIGKILL, or the host crashed\n"
                    "  hypetrace cleanup --json\n"
                    "Every experiment does the same at its start; a live run's guests, files and settings are kept.\n"
                    "Exit status 0 whether or not anything was found.");

    auto* host = app.add_subcommand("host", "What this host can do: accelerator choice, BTF, which trace sources attach");
    host->add_flag("--json", host_json, "print as JSON");
    host->add_flag("-v,--verbose", host_verbose, "show libbpf's messages");

    // CLI11 reports an unknown subcommand as "a subcommand is required": name it instead.
    std::set<std::string> known;
    std::string names;
    for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
        known.insert(sub->get_name());
        names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (argc > 1 && argv[1][0] != '-' && !known.count(argv[1])) {
        std::cerr << "hypetrace: unknown subcommand '" << argv[1] << "': choose one of " << names << " (see hypetrace --help)"
                  << std::endl;
        return 2;
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);  // prints the one-line failure message
        return 2;     // usage errors exit with 2, whatever CLI11's own code
    }

    try {
        if (*startup) return cmd_startup(sa);
        if (*memory) return cmd_memory(ma);
        if (*devices) return cmd_devices(da);
        if (*dedup) return cmd_dedup(xa);
        if (*exitcost) return cmd_exitcost(ea);
        if (*io) return cmd_io(ia);
        if (*host) return cmd_host(host_json, host_verbose);
        if (*cleanup) return cmd_cleanup(ca);
        if (*record) return cmd_record(ra, "/proc/self/exe");
        if (*flamegraph) return cmd_flamegraph(fa);
        if (*timeline) return cmd_timeline(ta);
    } catch (const UserError& e) {
        std::cerr << "hypetrace: " << e.what() << std::endl;
        return e.exit_code;
    } catch (const Interrupted& i) {
        std::cerr << "hypetrace: interrupted by signal " << i.signal << "; guests stopped, programs detached" << std::endl;
        return 128 + i.signal;
    } catch (const std::exception& e) {
        std::cerr << "hypetrace: internal error: " << e.what() << std::endl;
        return 70;
    }
    return 0;
}
