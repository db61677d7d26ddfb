// SPDX-License-Identifier: MIT
// `hypetrace io`: the same fio workload in a VM, a container and natively (paper Figure 3), experiments/io.
#include "cli/commands.h"

#include "cli/options.h"
#include "cli/trace_cmds.h"
#include "core/base/error.h"
#include "core/host/files.h"
#include "core/host/host.h"
#include "core/host/proc.h"
#include "core/host/spawn.h"
#include "core/base/text.h"
#include "drivers/lxc/lxc_driver.h"
#include "drivers/qemu/qemu_driver.h"
#include "experiments/io.h"
#include "core/views/report.h"

#include <filesystem>
#include <iostream>
#include <memory>

namespace ht {
namespace {

struct IoArgs {
    bool kvm = false, lxc = false, native = false, quiet = false, verbose = false;
    std::string job, json, accel = "auto", images = default_images();
    std::string runs = "3";  // or auto
    unsigned runtime = 10;
    double boot_timeout = 0, max_time = 0;  // max_time 0: kIoMaxTimeS
    std::string trace;  // --trace DIR
};

// --runs auto's time cap per technique unless --max-time says otherwise: fifteen minutes, some 40
// runs of the default job.
constexpr double kIoMaxTimeS = 900;

int cmd_io(const IoArgs& a) {
    if (!(a.kvm || a.lxc || a.native)) throw usage_error("choose at least one technique: --kvm, --lxc or --native");
    const RunsChoice runs = parse_runs_options(a.runs, a.max_time, 100, kIoMaxTimeS);
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
    cfg.runs = runs.runs;
    cfg.auto_runs = runs.auto_runs;
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
    preflight_io(cfg);
    if (!accel_notice.empty()) progress(accel_notice);
    cfg.boot_timeout_s = a.boot_timeout;  // 0: by kind (default_ready_timeout_s)
    TracerOptions topts;
    topts.verbose = a.verbose;
    topts.bucket_ns = kIoBucketNs;
    Tracer tracer(topts);
    TraceSession trace(a.trace, "io", a.quiet);
    repair_dead_runs(a.quiet, true);
    trace.begin(&tracer);
    IoResult result = run_io(tracer, host, cfg);
    trace.finish();
    finish(a.json, to_json(result), render_text(result), a.quiet);
    return 0;
}

}  // namespace

Command add_io(CLI::App& app) {
    auto a = std::make_shared<IoArgs>();
    auto* io = app.add_subcommand("io", "The same fio workload in a VM, a container and natively (paper Figure 3), "
                                        "and the host-side cost of the VM's I/O");
    io->add_flag("--kvm", a->kvm, "a full VM (QEMU, virtio disk); the job is handed to it on a second disk");
    io->add_flag("--lxc", a->lxc, "a full container (shared rootfs); the job is bind-mounted into it");
    io->add_flag("--native", a->native, "the host itself");
    io->add_option("--job", a->job, "a fio job file (default: fileserver-like small files, then 4 KiB random "
                                    "reads; ${HT_IO_DIR} and ${HT_IO_RUNTIME} are set for it)");
    add_runs_option(io, a->runs, "fio runs per technique (1 to 100), or auto: at least 3, then until each "
                                 "section's ops/s interval is a tenth of its mean, 100 runs are made or --max-time passes");
    io->add_option("--max-time", a->max_time, "with --runs auto: seconds each technique's job may run once started "
                                              "(default: 900); the run under way then is left out")
        ->check(kSeconds);
    io->add_option("--runtime", a->runtime, "seconds per job section")->check(CLI::Range(1u, 3600u))->capture_default_str();
    add_accel_option(io, a->accel);
    io->add_option("--images", a->images, "guest images directory")->capture_default_str();
    io->add_option("--boot-timeout", a->boot_timeout, "seconds a guest may take to start its job")->check(kSeconds);
    io->add_option("--json", a->json, "write the result as versioned JSON to FILE (atomically)");
    add_trace_option(io, a->trace);
    io->add_flag("-q,--quiet", a->quiet, "no progress lines on stderr");
    io->add_flag("-v,--verbose", a->verbose, "show libbpf's messages");
    io->footer("Examples:\n"
               "  hypetrace io --kvm --lxc --native                 # 3 runs of 2 x 10 s each\n"
               "  hypetrace io --lxc --native --runs 5 --json io.json\n"
               "  hypetrace io --kvm --job my.fio --runtime 30\n"
               "  hypetrace io --lxc --native --runs auto              # until each interval is 10 % of its mean\n"
               "The guests run the job from a directory handed to them at start (scripts/guest/hypetrace-job):\n"
               "no image is rebuilt per job.");
    return {io, [a] { return cmd_io(*a); }};
}

}  // namespace ht
