// SPDX-License-Identifier: MIT
#include "experiments/startup.h"
#include "experiments/launch.h"

#include "core/views/report.h"

#include "core/base/clock.h"
#include "core/host/console.h"
#include "core/base/error.h"
#include "core/base/setting.h"
#include "core/host/files.h"
#include "core/host/interrupt.h"
#include "core/host/proc.h"
#include "core/memscan/memusage.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <poll.h>
#include <sstream>
#include <unistd.h>

namespace ht {
namespace {

std::optional<RunResult::ProcessIo> process_io(pid_t pid) {
    if (pid <= 0) return std::nullopt;
    const auto stat_text = read_text("/proc/" + std::to_string(pid) + "/stat");
    const auto io = read_proc_io(pid);
    const auto st = stat_text ? parse_proc_stat(*stat_text) : std::nullopt;
    if (!st || !io.count("rchar")) return std::nullopt;
    RunResult::ProcessIo p;
    p.rchar = io.at("rchar");
    p.read_bytes = io.count("read_bytes") ? io.at("read_bytes") : 0;
    p.minflt = st->minflt;
    p.majflt = st->majflt;
    return p;
}

PhaseCounts scaled(const PhaseCounts& c, unsigned n) {
    if (n <= 1) return c;
    auto d = [n](uint64_t v) { return (v + n / 2) / n; };
    PhaseCounts r;
    r.execs = d(c.execs);
    r.forks = d(c.forks);
    r.exits = d(c.exits);
    r.faults_user = d(c.faults_user);
    r.faults_kernel = d(c.faults_kernel);
    r.kvm_exits = d(c.kvm_exits);
    r.kvm_exit_ns = d(c.kvm_exit_ns);
    r.kvm_userspace_exits = d(c.kvm_userspace_exits);
    r.kvm_pio = d(c.kvm_pio);
    r.kvm_mmio = d(c.kvm_mmio);
    r.kvm_runs = d(c.kvm_runs);
    r.kvm_run_ns = d(c.kvm_run_ns);
    for (const auto& [k, v] : c.exit_reasons) r.exit_reasons[k] = d(v);
    for (const auto& [k, v] : c.userspace_exit_reasons) r.userspace_exit_reasons[k] = d(v);
    for (const auto& [k, v] : c.pio_ports) r.pio_ports[k] = d(v);
    return r;
}

std::string timeout_hint(const Technique& t, const StartupConfig& cfg, const HostInfo& host) {
    if (t.driver->kind() == GuestKind::vm && cfg.accel.accel == Accel::kvm && !host.virt_extensions &&
        t.variant != Variant::firmware)
        return " (KVM without vmx/svm, e.g. PVM, cannot boot a stock Linux guest: use " +
               ref(Setting::accel) + " tcg, or " + ref(Setting::kvm_bios) + " for a firmware-only VM under KVM)";
    return "";
}

// A run whose guest kernel panicked (seen under TCG, now and then, in a guest restored from its
// checkpoint): measure_technique runs it once more, and says so.
struct GuestPanicked : UserError {
    using UserError::UserError;
};

// `index` counts from 0, warm-ups first (the guest's name, the JSON's index); `what` names the run
// as its progress line does ("warm-up", "warm-up 2" of several, "run 3"), for its errors.
RunResult run_once(TraceBackend& tracer, const HostInfo& host, const StartupConfig& cfg, const Technique& t,
                   unsigned index, const std::string& what, uint32_t guest_id, const std::filesystem::path& checkpoint_dir) {
    // PREFIX-PID-XXXXXX: a killed run's directory (and the container liblxc keeps running from it)
    // is found by the next run's repair, or by `hypetrace cleanup`.
    ScratchDir dir(cfg.scratch_parent, t.id + "-" + std::to_string(getpid()));
    GuestSpec spec = make_guest_spec(t.variant, cfg.images, cfg.accel.accel);
    spec.name = "ht-" + t.id + "-" + std::to_string(getpid()) + "-" + std::to_string(index);
    spec.run_dir = dir.path();
    if (t.restore) {
        spec.checkpoint_dir = checkpoint_dir;
        spec.restore = true;
        spec.lazy = t.lazy;
    }
    std::unique_ptr<Guest> guest = t.driver->create(spec);
    ConsoleWatcher watcher(dir.path(), guest->console_files(), guest->milestones());

    guest->prepare();
    RunResult r;
    r.index = index;
    tracer.begin_run(mono_ns());
    const double timeout_s = ready_timeout_s(cfg, t);
    LaunchOptions wait;
    wait.watcher = &watcher;
    wait.timeout_s = timeout_s;
    uint64_t token = 0, pinged_ns = 0;
    wait.pause = [&](uint64_t left_ns) {
        int wait_ms = int(std::min<uint64_t>(left_ns / 1'000'000 + 1, 50));
        if (t.restore) {  // ready is its answer to a ping: pinged every kPingIntervalNs until then
            const uint64_t now = mono_ns();
            if (now - pinged_ns >= kPingIntervalNs && guest->ping(++token)) pinged_ns = now;
            wait_ms = 1;
        }
        pollfd fds[3] = {{watcher.fd(), POLLIN, 0}, {tracer.events_fd(), POLLIN, 0}, {interrupt_fd(), POLLIN, 0}};
        poll(fds, 3, wait_ms);
        tracer.poll_events(0);
    };
    wait.on_start_failure = [&] { tracer.end_run(); };
    const Launched l = launch_guest(&tracer, guest_id, *guest, wait);
    r.main_pid = guest->main_pid();
    r.command = guest->describe();
    if (!l.ready()) {
        guest->stop();
        tracer.end_run();
        if (!l.panic.empty())
            throw GuestPanicked(t.label + " " + what + ": the guest's kernel panicked before it was ready: " +
                                l.panic);
        if (l.outcome == Launched::Outcome::died)
            throw UserError(t.label + " " + what + ": the guest stopped before it was ready: " +
                            l.last_output);
        throw UserError(t.label + " " + what + ": not ready after " +
                        fmt("%.0f", timeout_s) + " s (" + ref(Setting::timeout) + ")" + timeout_hint(t, cfg, host) +
                        (l.last_output.empty() ? "" : "; last output: " + l.last_output));
    }
    r.io_at_ready = process_io(r.main_pid);
    std::vector<MarkerHit> restored;
    if (t.restore) {
        r.ram_at_ready = guest->ram_resident_bytes();
        restored = guest->restore_marks();
        // what it brings in during the next second: not part of its start-up time
        const uint64_t until = mono_ns() + uint64_t(cfg.restore_after_s * 1e9);
        for (uint64_t now = mono_ns(); now < until; now = mono_ns()) {  // pings stopped: it answered
            throw_if_interrupted();
            pollfd fds[2] = {{tracer.events_fd(), POLLIN, 0}, {interrupt_fd(), POLLIN, 0}};
            poll(fds, 2, int(std::min<uint64_t>((until - now) / 1'000'000 + 1, 50)));
            tracer.poll_events(0);
        }
        r.ram_after_1s = guest->ram_resident_bytes();
    }
    guest->stop();
    RunTrace trace = tracer.end_run();

    r.total_s = ns_to_s(int64_t(l.ready_ns - l.launch_ns));
    r.started_s = ns_to_s(int64_t(l.started_ns - l.launch_ns));
    r.marks = t.restore ? derive_restore_marks(guest->kind(), l.launch_ns, trace.events, restored, watcher.hits())
                        : derive_marks(guest->kind(), l.launch_ns, trace.events, watcher.hits(), guest->init_path());
    r.phases = attribute_phases(r.marks, trace, guest_id);
    r.totals = total_counts(trace, guest_id);
    r.lost.add(trace);
    return r;
}

const char* kind_of_source(const std::string& name) {
    static const std::pair<const char*, const char*> m[] = {
        {"sched:sched_process_exec", "execs"},     {"sched:sched_process_fork", "forks"},
        {"sched:sched_process_exit", "exits"},     {"exceptions:page_fault_user", "faults_user"},
        {"exceptions:page_fault_kernel", "faults_kernel"}, {"raw_syscalls:sys_enter", "kvm_runs"},
        {"raw_syscalls:sys_exit", "kvm_runs"},     {"kvm:kvm_userspace_exit", "kvm_userspace_exits"},
        {"kvm:kvm_pio", "kvm_pio"},               {"kvm:kvm_mmio", "kvm_mmio"},
        {"kvm:kvm_exit", "kvm_exits"},            {"kvm:kvm_entry", "kvm_exit_ns"},
        {"task:task_rename", ""}};
    for (const auto& [s, k] : m)
        if (name == s) return k;
    return "";
}

uint64_t field(const PhaseCounts& c, const std::string& k) {
    if (k == "execs") return c.execs;
    if (k == "forks") return c.forks;
    if (k == "exits") return c.exits;
    if (k == "faults_user") return c.faults_user;
    if (k == "faults_kernel") return c.faults_kernel;
    if (k == "kvm_runs") return c.kvm_runs;
    if (k == "kvm_userspace_exits") return c.kvm_userspace_exits;
    if (k == "kvm_pio") return c.kvm_pio;
    if (k == "kvm_mmio") return c.kvm_mmio;
    if (k == "kvm_exits") return c.kvm_exits;
    if (k == "kvm_exit_ns") return c.kvm_exit_ns;
    return 0;
}

nlohmann::json counts_json(const PhaseCounts& c) {
    nlohmann::json j{{"execs", c.execs},
                     {"forks", c.forks},
                     {"exits", c.exits},
                     {"page_faults_user", c.faults_user},
                     {"page_faults_kernel", c.faults_kernel},
                     {"kvm_exits", c.kvm_exits},
                     {"kvm_exit_time_s", ns_to_s(int64_t(c.kvm_exit_ns))},
                     {"kvm_exit_reasons", c.exit_reasons},
                     {"kvm_userspace_exits", c.kvm_userspace_exits},
                     {"kvm_userspace_exit_reasons", c.userspace_exit_reasons},
                     {"kvm_pio", c.kvm_pio},
                     {"kvm_mmio", c.kvm_mmio},
                     {"kvm_run_calls", c.kvm_runs},
                     {"kvm_run_time_s", ns_to_s(int64_t(c.kvm_run_ns))}};
    nlohmann::json ports = nlohmann::json::object();
    for (const auto& [p, n] : c.pio_ports) {
        char buf[16];
        snprintf(buf, sizeof buf, "0x%x", p);
        ports[buf] = n;
    }
    j["kvm_pio_ports"] = ports;
    return j;
}

nlohmann::json summary_json(const Summary& s) {
    return {{"n", s.n}, {"mean", s.mean}, {"ci95", s.ci95}, {"stddev", s.stddev},
            {"min", s.min}, {"max", s.max}, {"median", s.median}, {"noisy", noisy(s)}};
}

std::string count_str(uint64_t v) {
    if (v >= 10'000'000) return std::to_string(v / 1'000'000) + "M";
    if (v >= 100'000) return std::to_string(v / 1000) + "k";
    return std::to_string(v);
}


}  // namespace

void summarize_technique(TechniqueResult& t) {
    std::vector<double> totals;
    std::vector<std::string> order;
    std::map<std::string, std::vector<double>> durations, starts;
    std::map<std::string, PhaseCounts> sums;
    std::map<std::string, std::string> to;
    PhaseCounts all;
    unsigned measured = 0;
    for (const auto& r : t.runs) {
        if (r.warmup) continue;
        ++measured;
        totals.push_back(r.total_s);
        all += r.totals;
        uint64_t launch = r.marks.empty() ? 0 : r.marks.front().ts_ns;
        for (const auto& p : r.phases) {
            if (!durations.count(p.name)) order.push_back(p.name);
            durations[p.name].push_back(ns_to_s(int64_t(p.end_ns - p.start_ns)));
            starts[p.name].push_back(ns_to_s(int64_t(p.start_ns - launch)));
            sums[p.name] += p.counts;
            to[p.name] = p.to;
        }
    }
    t.total = summarize(totals);
    t.mean_totals = scaled(all, measured);
    t.phases.clear();
    for (const auto& name : order) {
        PhaseSummary ps;
        ps.name = name;
        ps.to = to[name];
        ps.duration_s = summarize(durations[name]);
        ps.start_s = summarize(starts[name]);
        ps.present_in = unsigned(durations[name].size());
        ps.mean_counts = scaled(sums[name], ps.present_in);
        t.phases.push_back(ps);
    }
    std::stable_sort(t.phases.begin(), t.phases.end(),
                     [](const PhaseSummary& a, const PhaseSummary& b) { return a.start_s.mean < b.start_s.mean; });
}

double ready_timeout_s(const StartupConfig& cfg, const Technique& t) {
    return cfg.timeout_s > 0 ? cfg.timeout_s : default_ready_timeout_s(t.driver->kind(), cfg.accel.accel);
}

void preflight_startup(const StartupConfig& cfg) {
    for (const auto& t : cfg.techniques) {
        GuestSpec spec = make_guest_spec(t.variant, cfg.images, cfg.accel.accel);
        if (t.restore) {  // what making its checkpoint needs, checked before anything runs
            spec.checkpoint_dir = cfg.checkpoint_cache;
            spec.lazy = t.lazy;
        }
        t.driver->preflight(spec);
        if (t.restore && !t.driver->create(spec)->can_checkpoint())
            throw UserError(t.label + ": this guest cannot be checkpointed, so it cannot be restored");
    }
}

namespace {
TechniqueResult measure_technique(TraceBackend& tracer, const HostInfo& host, const StartupConfig& cfg,
                                  const Technique& t, uint32_t& guest_id, StartupResult& res);
}  // namespace

StartupResult run_startup(TraceBackend& tracer, const HostInfo& host, const StartupConfig& cfg) {
    StartupResult res;
    res.host = host;
    res.accel = cfg.accel;
    res.runs = cfg.runs;
    res.warmup = cfg.warmup;
    res.auto_runs = cfg.auto_runs;
    res.sources = tracer.sources();
    res.started_at = utc_now();
    res.not_measured = cfg.not_measured;
    uint32_t guest_id = 1;
    for (const auto& t : cfg.techniques) {
        // A container CRIU could not checkpoint or restore here (what it cannot save, e.g. a systemd
        // container's inotify watches on its cgroup files) is not measured, with CRIU's reason; the
        // other techniques still are. A VM's restore failing is an error (--restore is for them).
        if (t.restore && t.driver->kind() == GuestKind::container) {
            try {
                res.techniques.push_back(measure_technique(tracer, host, cfg, t, guest_id, res));
            } catch (const UserError& e) {
                res.not_measured.push_back({t.label, e.what()});
                if (cfg.progress) cfg.progress(t.label + ": not measured: " + e.what());
            }
            continue;
        }
        res.techniques.push_back(measure_technique(tracer, host, cfg, t, guest_id, res));
    }
    res.self_last = {self_open_fds(), self_rss_kb()};
    return res;
}

namespace {

// One technique's warm-up and measured runs (its checkpoint first, for a restore technique).
TechniqueResult measure_technique(TraceBackend& tracer, const HostInfo& host, const StartupConfig& cfg,
                                  const Technique& t, uint32_t& guest_id, StartupResult& res) {
    TechniqueResult tr;
    tr.technique = t;
    if (t.driver->kind() == GuestKind::vm) tr.accel = to_string(cfg.accel.accel);
    std::filesystem::path checkpoint_dir;
    if (t.restore) {
        auto say = [&](const std::string& line) {
            if (cfg.progress) cfg.progress(t.label + ": " + line);
        };
        GuestSpec base = make_guest_spec(t.variant, cfg.images, cfg.accel.accel);
        base.lazy = t.lazy;
        tr.checkpoint = ensure_checkpoint(*t.driver, base, cfg.checkpoint_cache, cfg.scratch_parent,
                                          ready_timeout_s(cfg, t), say);
        if (tr.checkpoint->reused)
            say("checkpoint reused from " + tr.checkpoint->dir.string() + " (" +
                fmt_size(tr.checkpoint->state_bytes) + " of saved state)");
        checkpoint_dir = tr.checkpoint->dir;
    }
    const unsigned total = cfg.warmup + cfg.runs;
    std::vector<double> measured;  // auto: the figure it settles on, so far
    uint64_t first_ns = 0;         // auto: when the first measured run began
    for (unsigned i = 0; cfg.auto_runs.on || i < total; ++i) {
        bool warm = i < cfg.warmup;
        if (i == cfg.warmup) first_ns = mono_ns();
        uint32_t gid = guest_id++;
        // warm-ups, then the measured runs from 1: in its progress line, its errors and its --trace track
        const std::string run_name = warm ? (cfg.warmup > 1 ? "warm-up " + std::to_string(i + 1) : std::string("warm-up"))
                                          : "run " + std::to_string(i - cfg.warmup + 1);
        RunResult r;
        try {
            r = run_once(tracer, host, cfg, t, i, run_name, gid, checkpoint_dir);
        } catch (const GuestPanicked& e) {  // once per run: a second panic ends the experiment
            tr.reruns.push_back(e.what());
            if (cfg.progress) cfg.progress(std::string(e.what()) + "; running it once more");
            if (RunSink* sink = tracer.sink()) sink->name_guest(gid, t.label + " " + run_name + " (its kernel panicked; run again)");
            gid = guest_id++;
            r = run_once(tracer, host, cfg, t, i, run_name, gid, checkpoint_dir);
        }
        r.warmup = warm;
        if (RunSink* sink = tracer.sink()) {  // --trace: the run's phases on the guest's track
            const std::string name = t.label + " " + run_name;
            sink->name_guest(gid, name);
            for (const auto& ph : r.phases) sink->span(name, ph.name, ph.start_ns, ph.end_ns);
        }
        if (cfg.progress) {
            const std::string what =
                warm ? run_name : run_name + (cfg.auto_runs.on ? " (until settled)" : "/" + std::to_string(cfg.runs));
            cfg.progress(t.label + " " + what + ": ready in " + fmt("%.3f", r.total_s) + " s" +
                         (warm ? " (discarded)" : ""));
        }
        if (!warm) measured.push_back(r.total_s);
        tr.runs.push_back(std::move(r));
        if (res.techniques.empty() && i == 0) res.self_first = {self_open_fds(), self_rss_kb()};
        else ++res.runs_between;
        if (!cfg.auto_runs.on || warm) continue;
        // the figure Table 3 reports: the start-up latency (phases explain it, they are not settled on)
        if (auto end = auto_runs_end(cfg.auto_runs, measured.size(), ns_to_s(int64_t(mono_ns() - first_ns)),
                                     {summarize(measured)})) {
            tr.runs_end = *end;
            if (cfg.progress) cfg.progress(t.label + ": " + runs_end_note(*end, measured.size(), cfg.auto_runs));
            break;
        }
    }
    tr.command = tr.runs.back().command;
    summarize_technique(tr);
    return tr;
}

}  // namespace

namespace {

Losses losses(const StartupResult& r) {
    Losses l;
    for (const auto& t : r.techniques)
        for (const auto& run : t.runs) l.add(run.lost);
    return l;
}

// The cold technique a restore technique restores (same backend, same guest); nullptr if not run.
const TechniqueResult* cold_of(const StartupResult& r, const TechniqueResult& restored) {
    for (const auto& t : r.techniques)
        if (!t.technique.restore && t.technique.driver == restored.technique.driver &&
            t.technique.variant == restored.technique.variant)
            return &t;
    return nullptr;
}

const TechniqueResult* find_technique(const StartupResult& r, GuestKind kind, Variant v, bool restore) {
    for (const auto& t : r.techniques)
        if (t.technique.driver->kind() == kind && t.technique.variant == v && t.technique.restore == restore) return &t;
    return nullptr;
}

std::string render_restore(const StartupResult& r) {
    std::ostringstream o;
    bool any = false;
    for (const auto& t : r.techniques) {
        if (!t.technique.restore) continue;
        if (!any) o << "\nFrom a checkpoint (Table 3's restore rows): ready once the guest answers a ping\n";
        any = true;
        o << "  " << t.technique.label << ": " << fmt("%.3f", t.total.mean) << " s";
        if (const auto* c = cold_of(r, t))
            o << ", x" << fmt("%.3f", t.total.mean / c->total.mean) << " of its cold start (" << fmt("%.3f", c->total.mean)
              << " s)";
        if (!std::isnan(t.technique.paper_s)) {
            o << "; paper " << fmt("%.3f", t.technique.paper_s) << " s";
            const double paper_cold = t.technique.variant == Variant::full
                                          ? (t.technique.driver->kind() == GuestKind::vm ? kPaperStartupKvmS : kPaperStartupLxcS)
                                          : kPaperStartupLxcBashS;
            o << ", x" << fmt("%.3f", t.technique.paper_s / paper_cold);
        }
        o << "\n";
        std::vector<double> at_ready, after;
        for (const auto& run : t.runs) {
            if (run.warmup) continue;
            if (run.ram_at_ready) at_ready.push_back(double(*run.ram_at_ready) / (1 << 20));
            if (run.ram_after_1s) after.push_back(double(*run.ram_after_1s) / (1 << 20));
        }
        if (!at_ready.empty()) {
            const double guest_mib = double(make_guest_spec(t.technique.variant, {}, Accel::tcg).memory_mb);
            const double m = summarize(at_ready).mean;
            o << "    guest RAM resident when it answered: " << fmt("%.0f", m) << " MiB of " << fmt("%.0f", guest_mib)
              << " (" << fmt("%.0f", 100 * m / guest_mib) << " %)";
            if (!after.empty()) o << ", " << fmt("%.0f", summarize(after).mean) << " MiB a second later";
            o << (t.technique.lazy ? " (faulted in from the checkpoint's RAM file on demand)"
                                   : " (loaded whole from the saved state)") << "\n";
        }
        std::vector<double> rchar, storage, majflt, minflt;
        for (const auto& run : t.runs) {
            if (run.warmup || !run.io_at_ready) continue;
            rchar.push_back(double(run.io_at_ready->rchar) / (1 << 20));
            storage.push_back(double(run.io_at_ready->read_bytes) / (1 << 20));
            majflt.push_back(double(run.io_at_ready->majflt));
            minflt.push_back(double(run.io_at_ready->minflt));
        }
        if (!rchar.empty()) {
            const bool vm = t.technique.driver->kind() == GuestKind::vm;
            const double read_mib = summarize(rchar).mean;
            o << "    " << (vm ? "QEMU" : "its init") << " when it answered (mean per run; /proc/PID/io, which counts the "
              << "children it reaped, and its own faults from /proc/PID/stat): read " << fmt("%.1f", read_mib) << " MiB";
            // read twice over: the state streamed to QEMU through a pipe by a child it reaped
            if (t.checkpoint && t.checkpoint->state_bytes &&
                read_mib >= 2 * double(t.checkpoint->state_bytes) / (1 << 20))
                o << " (the saved state counts twice: a child of QEMU read the file, QEMU the pipe)";
            o << ", " << fmt("%.1f", summarize(storage).mean) << " MiB of it from storage (the rest from the page cache or pipes); "
              << fmt("%.0f", summarize(majflt).mean) << " major and " << fmt("%.0f", summarize(minflt).mean)
              << " minor page faults\n";
        }
        if (const auto& c = t.checkpoint) {
            o << "    checkpoint: " << fmt_size(c->state_bytes) << " of saved state";
            if (c->ram_file_bytes) o << " + " << fmt("%.0f", double(c->ram_file_bytes) / (1 << 20)) << " MiB RAM file";
            o << " in " << c->dir.string();
            if (c->reused) o << " (reused)";
            else o << " (made now: " << c->made_why << "; booted in " << fmt("%.1f", c->boot_s) << " s, saved in "
                   << fmt("%.2f", c->save_s) << " s)";
            o << "\n";
            if (!c->ping_rtt_ms.empty()) {
                const Summary p = summarize(c->ping_rtt_ms);
                o << "    the proof: a ping's round trip on the running guest took " << fmt("%.2f", p.median) << " ms (median of "
                  << p.n << ", max " << fmt("%.2f", p.max) << "); restored guests are pinged every "
                  << fmt("%g", double(kPingIntervalNs) / 1e6) << " ms, so it adds at most about "
                  << fmt("%.1f", p.median + double(kPingIntervalNs) / 1e6) << " ms\n";
            }
        }
    }
    if (!any) return "";
    // The paper's headline: the VM/container gap, cold and restored (50x -> 6x)
    const auto* vm_cold = find_technique(r, GuestKind::vm, Variant::full, false);
    const auto* vm_rest = find_technique(r, GuestKind::vm, Variant::full, true);
    const auto* ct_cold = find_technique(r, GuestKind::container, Variant::full, false);
    const auto* ct_rest = find_technique(r, GuestKind::container, Variant::full, true);
    if (vm_cold && ct_cold)
        o << "  VM/container gap, cold: x" << fmt("%.1f", vm_cold->total.mean / ct_cold->total.mean) << " (paper x"
          << fmt("%.1f", kPaperStartupKvmS / kPaperStartupLxcS) << ")\n";
    if (vm_rest && ct_rest)
        o << "  VM/container gap, both restored: x" << fmt("%.1f", vm_rest->total.mean / ct_rest->total.mean)
          << " (paper x" << fmt("%.1f", kPaperRestoreKvmS / kPaperRestoreLxcS) << ")\n";
    else if (vm_rest && ct_cold)
        o << "  restored VM vs cold container: x" << fmt("%.1f", vm_rest->total.mean / ct_cold->total.mean)
          << " (paper, restored VM vs restored container: x" << fmt("%.1f", kPaperRestoreKvmS / kPaperRestoreLxcS) << ")\n";
    // The same for the single-program guests (KVM-bash, LXC-bash): the paper has no KVM-bash row
    const auto* vm_app_cold = find_technique(r, GuestKind::vm, Variant::app, false);
    const auto* vm_app_rest = find_technique(r, GuestKind::vm, Variant::app, true);
    const auto* ct_app_cold = find_technique(r, GuestKind::container, Variant::app, false);
    const auto* ct_app_rest = find_technique(r, GuestKind::container, Variant::app, true);
    if (vm_app_cold && ct_app_cold)
        o << "  KVM-bash/LXC-bash gap, cold: x" << fmt("%.1f", vm_app_cold->total.mean / ct_app_cold->total.mean) << "\n";
    if (vm_app_rest && ct_app_rest)
        o << "  KVM-bash/LXC-bash gap, both restored: x" << fmt("%.1f", vm_app_rest->total.mean / ct_app_rest->total.mean)
          << "\n";
    if ((vm_rest && vm_rest->accel == "tcg") || (vm_app_rest && vm_app_rest->accel == "tcg"))
        o << "  the VM rows ran under TCG (no hardware virtualization here): not comparable with the paper's KVM\n";
    return o.str();
}

}  // namespace

nlohmann::json to_json(const StartupResult& r) {
    bool any_vm = false;
    for (const auto& t : r.techniques) any_vm |= !t.accel.empty();
    nlohmann::json j;
    j["schema_version"] = kStartupSchemaVersion;
    j["experiment"] = "startup";
    j["tool"] = {{"name", "hypetrace"}, {"version", HYPETRACE_VERSION}};
    j["started_at"] = r.started_at;
    j["host"] = host_json(r.host);
    j["host"]["accel"] = any_vm ? nlohmann::json(to_string(r.accel.accel)) : nlohmann::json(nullptr);
    j["host"]["accel_reason"] = any_vm ? r.accel.reason : "no VM in this run";
    j["config"] = {{"runs", r.auto_runs.on ? nlohmann::json("auto") : nlohmann::json(r.runs)},
                   {"warmup", r.warmup},
                   {"auto", r.auto_runs.on ? nlohmann::json{{"min_runs", kSettleMinRuns},
                                                            {"max_runs", r.auto_runs.max_runs},
                                                            {"max_time_s", r.auto_runs.max_time_s}}
                                           : nlohmann::json(nullptr)}};
    j["trace_sources"] = sources_json(r.sources);
    nlohmann::json techs = nlohmann::json::array();
    for (const auto& t : r.techniques) {
        nlohmann::json tj;
        tj["technique"] = t.technique.id;
        tj["label"] = t.technique.label;
        tj["driver"] = t.technique.driver->name();
        tj["variant"] = to_string(t.technique.variant);
        tj["accel"] = t.accel.empty() ? nlohmann::json(nullptr) : nlohmann::json(t.accel);
        tj["command"] = t.command;
        std::vector<double> runs_s;
        for (const auto& run : t.runs)
            if (!run.warmup) runs_s.push_back(run.total_s);
        tj["runs_s"] = runs_s;
        tj["mean_s"] = t.total.mean;
        tj["ci95_s"] = t.total.ci95;
        tj["noisy"] = noisy(t.total);
        tj["runs_end"] = to_string(t.runs_end);
        tj["reruns"] = t.reruns;
        tj["stddev_s"] = t.total.stddev;
        tj["min_s"] = t.total.min;
        tj["max_s"] = t.total.max;
        tj["paper_s"] = std::isnan(t.technique.paper_s) ? nlohmann::json(nullptr) : nlohmann::json(t.technique.paper_s);
        tj["restore"] = t.technique.restore ? nlohmann::json(t.technique.lazy ? "lazy" : "eager") : nlohmann::json(nullptr);
        if (t.checkpoint) {
            const auto& c = *t.checkpoint;
            tj["checkpoint"] = {{"dir", c.dir.string()},
                                {"key", c.key},
                                {"reused", c.reused},
                                {"made_because", c.reused ? nlohmann::json(nullptr) : nlohmann::json(c.made_why)},
                                {"boot_s", c.reused ? nlohmann::json(nullptr) : nlohmann::json(c.boot_s)},
                                {"save_s", c.reused ? nlohmann::json(nullptr) : nlohmann::json(c.save_s)},
                                {"state_bytes", c.state_bytes},
                                {"ram_file_bytes", c.ram_file_bytes},
                                {"ping_rtt_ms", c.ping_rtt_ms},
                                {"ping_interval_ms", double(kPingIntervalNs) / 1e6}};
        }
        nlohmann::json phases = nlohmann::json::array();
        for (const auto& p : t.phases)
            phases.push_back({{"name", p.name},
                              {"until", p.to},
                              {"runs_seen", p.present_in},
                              {"start_s", summary_json(p.start_s)},
                              {"duration_s", summary_json(p.duration_s)},
                              {"mean_s", p.duration_s.mean},
                              {"ci95_s", p.duration_s.ci95},
                              {"counts_per_run", counts_json(p.mean_counts)}});
        tj["phases"] = phases;
        tj["totals_per_run"] = counts_json(t.mean_totals);
        nlohmann::json runs = nlohmann::json::array();
        for (const auto& run : t.runs) {
            uint64_t launch = run.marks.empty() ? 0 : run.marks.front().ts_ns;
            nlohmann::json marks = nlohmann::json::array();
            for (const auto& m : run.marks)
                marks.push_back({{"name", m.name}, {"t_s", ns_to_s(int64_t(m.ts_ns - launch))}, {"source", m.source}});
            nlohmann::json rp = nlohmann::json::array();
            for (const auto& p : run.phases)
                rp.push_back({{"name", p.name},
                              {"start_s", ns_to_s(int64_t(p.start_ns - launch))},
                              {"duration_s", ns_to_s(int64_t(p.end_ns - p.start_ns))},
                              {"counts", counts_json(p.counts)}});
            runs.push_back({{"index", run.index},
                            {"warmup", run.warmup},
                            {"total_s", run.total_s},
                            {"start_call_s", run.started_s},
                            {"main_pid", run.main_pid},
                            {"marks", marks},
                            {"phases", rp},
                            {"totals", counts_json(run.totals)},
                            {"ram_resident_at_ready_bytes", run.ram_at_ready ? nlohmann::json(*run.ram_at_ready) : nlohmann::json(nullptr)},
                            {"ram_resident_after_1s_bytes", run.ram_after_1s ? nlohmann::json(*run.ram_after_1s) : nlohmann::json(nullptr)},
                            {"main_process_at_ready",
                             run.io_at_ready ? nlohmann::json{{"rchar_bytes", run.io_at_ready->rchar},
                                                              {"read_bytes", run.io_at_ready->read_bytes},
                                                              {"minor_faults", run.io_at_ready->minflt},
                                                              {"major_faults", run.io_at_ready->majflt}}
                                             : nlohmann::json(nullptr)},
                            {"lost_counter_updates", run.lost.counts},
                            {"lost_events", run.lost.events},
                            {"lost_untracked_processes", run.lost.tracked}});
        }
        tj["runs"] = runs;
        techs.push_back(tj);
    }
    j["techniques"] = techs;
    nlohmann::json nm = nlohmann::json::array();
    for (const auto& [label, why] : r.not_measured) nm.push_back({{"technique", label}, {"reason", why}});
    j["not_measured"] = nm;
    j["losses"] = losses_json(losses(r));
    j["self"] = {{"runs_between", r.runs_between},
                 {"open_fds", {{"after_first_run", r.self_first.fds}, {"after_last_run", r.self_last.fds}}},
                 {"rss_kb", {{"after_first_run", r.self_first.rss_kb}, {"after_last_run", r.self_last.rss_kb}}}};
    return j;
}

std::string render_text(const StartupResult& r) {
    std::ostringstream o;
    o << loss_headline(losses(r));
    o << host_line(r.host) << "\n";
    bool any_vm = false;
    for (const auto& t : r.techniques) any_vm |= !t.accel.empty();
    if (any_vm) o << "VM accelerator: " << r.accel.reason << "\n";
    o << "\nStart-up latency (Table 3): ";
    if (r.auto_runs.on)
        o << "runs until the 95% interval is a tenth of the mean (" << ref(Setting::runs) << " auto: at least "
          << kSettleMinRuns << ", at most " << r.auto_runs.max_runs << " or " << fmt("%g", r.auto_runs.max_time_s)
          << " s per technique)";
    else
        o << r.runs << " runs";
    if (r.warmup) o << " after " << r.warmup << " discarded warm-up run" << (r.warmup > 1 ? "s" : "");
    o << ", mean and 95% confidence interval\n\n";
    std::vector<std::vector<std::string>> rows{{"technique", "accel", "mean (s)", "95% CI", "min", "max", "paper (s)"}};
    for (const auto& t : r.techniques)
        rows.push_back({t.technique.label, t.accel.empty() ? "-" : t.accel,
                        fmt("%.3f", t.total.mean) + (noisy(t.total) ? " !" : ""), "±" + fmt("%.3f", t.total.ci95),
                        fmt("%.3f", t.total.min), fmt("%.3f", t.total.max),
                        std::isnan(t.technique.paper_s) ? "-" : fmt("%.3f", t.technique.paper_s)});
    o << render_table(rows, {false, false, true, true, true, true, true});
    for (const auto& t : r.techniques)
        if (noisy(t.total)) o << "  ! noisy: " << t.technique.label << ": " << noise_note(t.total) << "\n";
    for (const auto& t : r.techniques)
        if (t.runs_end != RunsEnd::count)
            o << "  " << t.technique.label << ": " << runs_end_note(t.runs_end, t.total.n, r.auto_runs) << "\n";
    for (const auto& t : r.techniques)
        for (const auto& why : t.reruns) o << "  run again: " << why << "\n";
    for (const auto& [label, why] : r.not_measured) o << "  " << label << ": not measured: " << why << "\n";
    o << render_restore(r);

    for (const auto& t : r.techniques) {
        o << "\n" << t.technique.label << ": where start-up time goes (mean of " << t.total.n << " runs)\n";
        bool vm = !t.accel.empty();
        std::vector<std::vector<std::string>> pr;
        std::vector<std::string> head{"phase", "until", "at (s)", "took (s)", "95% CI", "execs", "forks", "faults u/k"};
        if (vm) head.insert(head.end(), {"KVM_RUN", "exits->user", "VM exits"});
        pr.push_back(head);
        for (const auto& p : t.phases) {
            const auto& c = p.mean_counts;
            std::vector<std::string> row{p.name, p.to, "+" + fmt("%.3f", p.start_s.mean),
                                         fmt("%.3f", p.duration_s.mean), "±" + fmt("%.3f", p.duration_s.ci95),
                                         count_str(c.execs), count_str(c.forks),
                                         count_str(c.faults_user) + "/" + count_str(c.faults_kernel)};
            if (vm)
                row.insert(row.end(), {count_str(c.kvm_runs), count_str(c.kvm_userspace_exits), count_str(c.kvm_exits)});
            if (p.present_in < t.total.n) row[0] += " (" + std::to_string(p.present_in) + "/" + std::to_string(t.total.n) + " runs)";
            pr.push_back(row);
        }
        o << render_table(pr, {false, false, true, true, true, true, true, true, true, true, true});
        const auto& c = t.mean_totals;
        if (vm && c.kvm_userspace_exits) {
            o << "  exits to QEMU by reason (per run, until stopped):";
            for (const auto& [k, v] : c.userspace_exit_reasons) o << " " << k << "=" << v;
            o << "\n";
            std::vector<std::pair<uint64_t, uint32_t>> ports;
            for (const auto& [p, n] : c.pio_ports) ports.push_back({n, p});
            std::sort(ports.rbegin(), ports.rend());
            if (!ports.empty()) {
                o << "  busiest I/O ports:";
                for (std::size_t i = 0; i < ports.size() && i < 5; ++i) {
                    char buf[48];
                    snprintf(buf, sizeof buf, " 0x%x=%llu", ports[i].second, (unsigned long long)ports[i].first);
                    o << buf;
                }
                o << "\n";
            }
        }
        if (vm && c.kvm_exits) {
            o << "  VM exits by reason (per run):";
            for (const auto& [k, v] : c.exit_reasons) o << " " << k << "=" << v;
            o << "\n";
        }
    }

    // Which trace sources spoke, and which stayed silent (and why).
    PhaseCounts all;
    bool any_kvm = false;
    for (const auto& t : r.techniques) {
        all += t.mean_totals;
        any_kvm |= t.accel == "kvm";
    }
    o << "\ntrace sources:";
    std::string silent;
    for (const auto& s : r.sources) {
        if (s.name.rfind("ksm:", 0) == 0) continue;  // KSM is `hypetrace memory`'s, not start-up's
        std::string k = kind_of_source(s.name);
        if (!s.attached) {
            silent += "\n  " + s.name + ": not attached (" + s.note + ")";
            continue;
        }
        if (k.empty() || field(all, k) > 0) {
            o << " " << s.name << "[" << s.attach << "]";
        } else {
            std::string why;
            if (s.name.rfind("kvm:", 0) == 0 || s.name.rfind("raw_syscalls:", 0) == 0) {
                if (!any_vm) why = "no VM in this run";
                else if (!any_kvm) why = "VMs ran under TCG, which has no VM exits or KVM_RUN";
                else if ((s.name == "kvm:kvm_exit" || s.name == "kvm:kvm_entry") && !r.host.virt_extensions)
                    why = "KVM without vmx/svm (PVM) does not fire it";
                else why = "no such event in these runs";
            } else {
                why = "no such event in these runs";
            }
            silent += "\n  " + s.name + "[" + s.attach + "]: silent (" + why + ")";
        }
    }
    o << silent << "\n";
    if (r.runs_between >= 20)  // a long series: did guests started and stopped leave anything in us?
        o << "hypetrace itself over " << r.runs_between << " more runs: open files " << r.self_first.fds << " -> "
          << r.self_last.fds << ", resident " << fmt("%.1f", double(r.self_first.rss_kb) / 1024) << " -> "
          << fmt("%.1f", double(r.self_last.rss_kb) / 1024) << " MiB\n";
    return o.str();
}

}  // namespace ht
