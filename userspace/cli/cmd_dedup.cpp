// SPDX-License-Identifier: MIT
// `hypetrace dedup`: page-content duplicates (paper Table 1, section 4), experiments/dedup.
#include "cli/commands.h"

#include "cli/options.h"
#include "cli/trace_cmds.h"
#include "core/base/error.h"
#include "core/host/files.h"
#include "core/host/host.h"
#include "core/host/host_settings.h"
#include "core/host/proc.h"
#include "core/base/text.h"
#include "drivers/libvirt/libvirt_driver.h"
#include "drivers/lxc/lxc_driver.h"
#include "drivers/qemu/qemu_driver.h"
#include "experiments/dedup.h"

#include <filesystem>
#include <iostream>
#include <memory>

namespace ht {
namespace {

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
            std::cout << g.name << "\t" << g.kind << "\tpid " << g.main_pid << "\t" << worded(g.how) << "\n";
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
    BootedGuests booted;
    if (a.ksm_check || a.kvm || a.lxc) {
        guard = std::make_unique<HostSettingsGuard>();
        if (guard->recovered()) progress("a previous run died with host settings changed: they were restored");
    }
    if (a.kvm || a.lxc) {
        DedupBootConfig bc;
        bc.driver = a.lxc ? static_cast<Driver*>(&lxc) : a.driver == "libvirt" ? static_cast<Driver*>(&libvirt) : &qemu;
        bc.containers = a.lxc;
        bc.images.dir = a.images;
        AccelChoice accel;
        if (a.kvm) {
            accel = choose_accel(req, host);
            bc.accel = accel.accel;
        }
        bc.guests = a.guests;
        bc.boot_timeout_s = a.boot_timeout;  // 0: by kind (default_ready_timeout_s)
        bc.quiesce_s = a.quiesce;
        bc.thp = a.thp;
        bc.progress = progress;
        preflight_dedup_guests(bc);
        if (a.kvm && accel.notice) progress("notice: VM accelerator " + accel.reason);
        repair_dead_runs(a.quiet, *guard);
        booted = boot_dedup_guests(*guard, bc);
        cfg.guest = booted.guest;
        cfg.other = booted.other;
        if (cfg.image_dir.empty()) cfg.image_dir = booted.image_dir;
    } else {
        cfg.guest = resolve_guest(a.pid.empty() ? a.guest : a.pid);
        if (!a.vs.empty()) cfg.other = resolve_guest(a.vs);
        if (cfg.other && cfg.other->main_pid == cfg.guest.main_pid)
            throw usage_error("--vs-guest names the same guest as the one scanned");
        if (guard) repair_dead_runs(a.quiet, *guard);
        else repair_dead_runs(a.quiet, false);
    }
    if (!cfg.image_dir.empty() && !std::filesystem::is_directory(cfg.image_dir))
        throw UserError("--image-files " + cfg.image_dir + ": not a directory");

    DedupResult result = run_dedup(cfg, host);
    result.accel = booted.accel;
    if (booted.fleet) result.guest_command = booted.fleet->first_command();
    if (a.ksm_check) {
        progress("switching KSM on to check the estimate (" + std::to_string(result.table.ksm_estimated_sharing) +
                 " pages_sharing)");
        check_ksm_estimate(result, *guard, a.ksm_timeout, progress);
    }
    if (booted.fleet) booted.fleet->clear();
    if (guard && !guard->restore())
        warn("KSM is not fully restored: " + guard->restore_failures() +
             "; the next run that takes KSM retries from its saved settings");
    trace.finish();
    finish(a.json, to_json(result), render_text(result), a.quiet);
    return 0;
}

}  // namespace

Command add_dedup(CLI::App& app) {
    auto a = std::make_shared<DedupArgs>();
    auto* dedup = app.add_subcommand("dedup", "Page-content duplicates of a guest within itself, with the host and with "
                                              "a second guest, and what KSM could merge (paper Table 1, section 4)");
    dedup->add_option("--guest", a->guest, "a running guest: libvirt domain, LXC container or QEMU -name");
    dedup->add_option("--pid", a->pid, "a running guest by pid: a QEMU process, or a process and its descendants")
        ->check(pid_validator());
    dedup->add_option("--vs-guest", a->vs, "the second guest (name or pid) for the 'between the two guests' row");
    dedup->add_flag("--kvm", a->kvm, "boot full VMs (1 GiB, idle at multi-user) and scan the first; KSM held off and "
                                     "THP never while they run, as the paper; restored after");
    dedup->add_flag("--lxc", a->lxc, "boot full containers (shared rootfs) and scan the first");
    dedup->add_option("--guests", a->guests, "with --kvm/--lxc: how many to boot: the first is scanned, the second is "
                                             "the second guest, any more are part of the host")
        ->check(CLI::Range(1u, 16u))
        ->capture_default_str();
    dedup->add_option("--quiesce", a->quiesce, "with --kvm/--lxc: seconds to let the guests settle after ready")
        ->check(kSecondsOrZero)
        ->capture_default_str();
    dedup->add_option("--image-files", a->image_files, "a directory holding the guest's files (its rootfs): guest RAM "
                                                       "pages equal to a 4 KiB block of one are counted as page cache "
                                                       "(default with --kvm: the image's rootfs)");
    dedup->add_flag("--no-host", a->no_host, "do not scan the host (other processes, page cache): guest rows only");
    dedup->add_flag("--ksm-check", a->ksm_check, "after the scan, switch KSM on until pages_sharing settles and "
                                                 "compare it with the estimate (host-wide; restored after)");
    dedup->add_option("--ksm-timeout", a->ksm_timeout, "--ksm-check: seconds to wait for KSM to settle")
        ->check(kSeconds)
        ->capture_default_str();
    add_accel_option(dedup, a->accel);
    dedup->add_option("--driver", a->driver, "with --kvm: qemu or libvirt")
        ->check(CLI::IsMember({"qemu", "libvirt"}))
        ->capture_default_str();
    dedup->add_option("--thp", a->thp, "with --kvm/--lxc: transparent huge pages while the guests run (never, as the "
                                       "paper; keep, madvise, always)")
        ->check(CLI::IsMember({"keep", "never", "madvise", "always"}))
        ->capture_default_str();
    dedup->add_option("--boot-timeout", a->boot_timeout, "with --kvm/--lxc: seconds the guests may take to be ready")
        ->check(kSeconds);
    dedup->add_option("--images", a->images, "guest images directory")->capture_default_str();
    dedup->add_option("--json", a->json, "write the result as versioned JSON to FILE (atomically)");
    add_trace_option(dedup, a->trace);
    dedup->add_flag("--list", a->list, "list the running guests hypetrace can find, and exit");
    dedup->add_flag("-q,--quiet", a->quiet, "no progress lines on stderr");
    dedup->footer("Examples:\n"
                  "  hypetrace dedup --kvm                         # boot two VMs, Table 1 for the first\n"
                  "  hypetrace dedup --kvm --ksm-check --json t1.json   # and check the KSM estimate\n"
                  "  hypetrace dedup --guest web1 --vs-guest web2  # two running libvirt domains or containers\n"
                  "  hypetrace dedup --pid 4242 --no-host          # one QEMU process, duplicates within it only\n"
                  "  hypetrace dedup --kvm --guests 4              # a whole-host scan with four VMs running\n"
                  "  hypetrace dedup --list\n"
                  "Reads /proc/PID/pagemap, /proc/kpageflags, /proc/kpagecount and guest memory (root). Scanning\n"
                  "changes nothing; --kvm/--lxc/--ksm-check hold KSM and THP through /run/hypetrace/settings.lock.");
    return {dedup, [a] { return cmd_dedup(*a); }};
}

}  // namespace ht
