// SPDX-License-Identifier: MIT
// `hypetrace density`: one guest's CPU or I/O benchmark while the others busy-loop (paper Figures
// 1-3), experiments/density.
#include "cli/commands.h"

#include "cli/options.h"
#include "cli/trace_cmds.h"
#include "core/base/error.h"
#include "core/base/text.h"
#include "core/host/files.h"
#include "core/host/host.h"
#include "core/tracing/bpf_tracer.h"
#include "drivers/lxc/lxc_driver.h"
#include "drivers/qemu/qemu_driver.h"
#include "experiments/density.h"

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace ht {
namespace {

struct DensityArgs {
    bool cpu = false, io = false, kvm = false, lxc = false, native = false, no_sched = false, quiet = false, verbose = false;
    std::string per_core = "1,2,4,6", bench, bench_size, accel = "auto", images = default_images(), json, plot, trace;
    std::string runs = "3";  // or auto
    unsigned warmup = 1, cpus = 0;
    double boot_timeout = 0, run_timeout = 0, max_time = 0;  // max_time 0: kDensityMaxTimeS
    const CLI::Option* bench_opt = nullptr;  // given or not: its default depends on --io
};


// --runs auto's time cap per density unless --max-time says otherwise: 5 minutes, some 4 runs of
// a VM under TCG at 6 guests per CPU.
constexpr double kDensityMaxTimeS = 300;

int cmd_density(const DensityArgs& a) {
    if (!(a.kvm || a.lxc || a.native)) throw usage_error("choose at least one technique: --kvm, --lxc or --native");
    DensityConfig cfg;
    cfg.per_core = parse_number_list(a.per_core, "--per-core", 1, 32, "guests per host CPU", "1,2,4,6");
    if (a.cpu && a.io) throw usage_error("--cpu and --io: choose one workload");
    const bool bench_given = a.bench_opt && a.bench_opt->count() > 0;
    const std::string bench_name = bench_given ? a.bench : a.io ? "fileserver" : "quantum";
    const DensityBench* bench = find_density_bench(bench_name);
    if (!bench) throw usage_error("--bench " + (a.bench.empty() ? std::string("(empty)") : visible(a.bench)) + ": quantum or chess (--cpu), fileserver (--io)");
    if (bench->io != a.io)
        throw usage_error("--bench " + bench_name + (bench->io ? " is an I/O benchmark: add --io" : " is a CPU benchmark: drop --io, or use --bench fileserver"));
    if (a.bench_size.find_first_not_of("0123456789") != std::string::npos || (!a.bench_size.empty() && std::stoul(a.bench_size) == 0) ||
        a.bench_size.size() > 6)
        throw usage_error("--bench-size " + a.bench_size +
                          ": a whole number from 1 (quantum: the number to factor; chess: the depth; fileserver: seconds per run)");
    const RunsChoice runs = parse_runs_options(a.runs, a.max_time, 100, kDensityMaxTimeS);
    AccelRequest req = parse_accel_request(a.accel);
    require_root("density");
    if (!a.json.empty()) check_writable(a.json, "--json");
    if (!a.plot.empty()) check_writable(a.plot, "--plot");
    HostInfo host = probe_host();
    cfg.cpus = a.cpus ? a.cpus : std::max(1u, host.cpus);
    if (a.cpus > std::max(1u, host.cpus))
        throw usage_error("--cpus " + std::to_string(a.cpus) + ": this host has " + std::to_string(host.cpus) + " CPUs");
    cfg.bench = bench_name;
    cfg.bench_arg = a.bench_size;
    cfg.runs = runs.runs;
    cfg.auto_runs = runs.auto_runs;
    cfg.warmup = a.warmup;
    cfg.images.dir = a.images;
    cfg.boot_timeout_s = a.boot_timeout;
    cfg.run_timeout_s = a.run_timeout;
    QemuDriver qemu;
    LxcDriver lxc;
    std::string accel_notice;
    // native first: the reference, measured next to the single guest's runs that compare with it
    if (a.native) cfg.techniques.push_back({"native", "native", nullptr});
    if (a.kvm) {
        AccelChoice accel = choose_accel(req, host);
        cfg.accel = accel.accel;
        accel_notice = accel.notice ? "notice: VM accelerator " + accel.reason : "";
        cfg.techniques.push_back({"kvm", accel.accel == Accel::tcg ? "KVM (TCG)" : "KVM", &qemu});
    }
    if (a.lxc) cfg.techniques.push_back({"lxc", "LXC", &lxc});
    preflight_density(cfg);
    auto progress = progress_printer(a.quiet);
    cfg.progress = progress;
    if (!accel_notice.empty()) progress(accel_notice);
    if (a.kvm) {
        const uint64_t most = uint64_t(cfg.per_core.back()) * cfg.cpus;
        if (most * 1024 > host.memory_kb / 1024)
            warn(std::to_string(most) + " VMs of 1 GiB exceed this host's " + std::to_string(host.memory_kb / 1024) +
                 " MiB if they touch all their RAM");
    }
    TracerOptions topts;
    topts.verbose = a.verbose;
    topts.bucket_ns = kDensityBucketNs;
    topts.sched = !a.no_sched;
    Tracer tracer(topts);
    TraceSession trace(a.trace, "density", a.quiet);
    repair_dead_runs(a.quiet, false);
    trace.begin(&tracer);
    DensityResult result = run_density(tracer, host, cfg);
    trace.finish();
    if (!a.plot.empty()) {
        write_file_atomic(a.plot, render_svg(result));
        progress_printer(a.quiet)("wrote " + a.plot);
    }
    finish(a.json, to_json(result), render_text(result), a.quiet);
    return 0;
}

}  // namespace

Command add_density(CLI::App& app) {
    auto a = std::make_shared<DensityArgs>();
    auto* d = app.add_subcommand("density", "One guest's CPU or I/O benchmark while N-1 others busy-loop, at 1, 2, 4, 6 guests "
                                            "per CPU (paper Figures 1-3), and why it slowed, from the scheduler");
    d->add_flag("--cpu", a->cpu, "the CPU-bound workload (the default): Figures 1-2");
    d->add_flag("--io", a->io, "the I/O-bound workload: fio's fileserver ops/s in one guest while the others busy-loop, Figure 3");
    d->add_flag("--kvm", a->kvm, "full VMs (QEMU), each confined to one host CPU");
    d->add_flag("--lxc", a->lxc, "full containers (shared rootfs), each confined to one host CPU by its cpuset");
    d->add_flag("--native", a->native, "the benchmark alone on the host, confined to CPU 0 (one guest only)");
    d->add_option("--per-core", a->per_core, "guests per host CPU to measure, after a single guest")->capture_default_str();
    a->bench_opt = d->add_option("--bench", a->bench, "quantum (libquantum's Shor, for 462.libquantum; the default) or chess (Stockfish, "
                                       "for 438.sjeng); with --io: fileserver (the default)");
    d->add_option("--bench-size", a->bench_size, "the benchmark's size (quantum: the number to factor; chess: the "
                                                 "search depth; fileserver: seconds per run); default: small enough "
                                                 "for a VM under TCG");
    add_runs_option(d, a->runs, "measured runs per density (1 to 100), or auto: at least 3, then until the 95% "
                                "interval is a tenth of the mean, 100 runs are made or --max-time passes");
    d->add_option("--max-time", a->max_time, "with --runs auto: seconds each density may keep running the benchmark "
                                             "once its measured runs began (default: 300)")
        ->check(kSeconds);
    d->add_option("--warmup", a->warmup, "warm-up runs before them (not counted)")->check(CLI::Range(0u, 10u))->capture_default_str();
    d->add_option("--cpus", a->cpus, "host CPUs to spread the guests over (default: all)")->check(CLI::Range(1u, 4096u));
    add_accel_option(d, a->accel);
    d->add_option("--images", a->images, "guest images directory")->capture_default_str();
    d->add_option("--boot-timeout", a->boot_timeout, "seconds a guest may take to start its job")->check(kSeconds);
    d->add_option("--run-timeout", a->run_timeout, "seconds one benchmark run may take (default: by technique and density)")
        ->check(kSeconds);
    d->add_flag("--no-sched", a->no_sched, "do not trace the scheduler (the baseline of tracing's cost)");
    d->add_option("--json", a->json, "write the result as versioned JSON to FILE (atomically)");
    d->add_option("--plot", a->plot, "write the paper's figure (time or ops/s against guests per CPU) as SVG to FILE");
    add_trace_option(d, a->trace);
    d->add_flag("-q,--quiet", a->quiet, "no progress lines on stderr");
    d->add_flag("-v,--verbose", a->verbose, "show libbpf's messages");
    d->footer("Examples:\n"
              "  hypetrace density --kvm --lxc --per-core 1,2,4 --plot fig1.svg  # Figure 1 (quantum) on this host\n"
              "  hypetrace density --lxc --native --bench chess --runs 5  # Figure 2's benchmark\n"
              "  hypetrace density --io --kvm --lxc --per-core 1,2,4     # Figure 3: fileserver ops/s\n"
              "  hypetrace density --lxc --per-core 2 --json d.json --trace out/density\n"
              "Guest i (the benchmark's is 0) runs on host CPU i mod --cpus; the benchmark guest starts last, once\n"
              "every other guest busy-loops. Each density's line says why the benchmark slowed: run-queue wait,\n"
              "who preempted it, CPU received, migrations.");
    return {d, [a] { return cmd_density(*a); }};
}

}  // namespace ht
