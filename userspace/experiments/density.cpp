// SPDX-License-Identifier: MIT
#include "experiments/density.h"
#include "experiments/exit_counts.h"
#include "experiments/fio_result.h"
#include "experiments/fleet.h"
#include "experiments/io.h"
#include "experiments/launch.h"

#include "core/base/clock.h"
#include "core/base/error.h"
#include "core/base/setting.h"
#include "core/host/console.h"
#include "core/host/files.h"
#include "core/host/interrupt.h"
#include "core/host/proc.h"
#include "core/host/spawn.h"
#include "core/tracing/kvm_names.h"
#include "core/tracing/sched_summary.h"
#include "core/views/plot.h"
#include "core/views/report.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sched.h>
#include <sys/resource.h>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace ht {

const std::vector<DensityBench>& density_benches() {
    static const std::vector<DensityBench> b{
        // sizes of about 0.3 and 0.6 s natively here: a few seconds in a VM under TCG
        {"quantum", "Shor's factoring on a simulated quantum computer (libquantum)", "SPEC CPU2006 462.libquantum", "119"},
        {"chess", "a fixed-depth chess search (Stockfish's bench)", "SPEC CPU2006 438.sjeng", "8"},
        // seconds per run: fio's time-based runs; 5 s is long enough for a steady rate under TCG
        {"fileserver", "fio shaped like Filebench's fileserver (small files created, written, read, deleted by two threads)",
         "Filebench fileserver (Figure 3)", "5", true},
    };
    return b;
}

const DensityBench* find_density_bench(const std::string& name) {
    for (const auto& b : density_benches())
        if (b.name == name) return &b;
    return nullptr;
}

std::string density_bench_script(const std::string& bin, const std::string& bench, const std::string& arg,
                                 unsigned total_runs) {
    std::ostringstream s;
    s << "#!/bin/sh\n"
         "# hypetrace density: the benchmark, run " << total_runs << " times (warm-up first), each between\n"
         "# two lines the host timestamps as they arrive.\n"
         "i=1\n"
         "while [ $i -le " << total_runs << " ]; do\n"
         "  echo \"" << kDensityRun << "$i begin\"\n"
         "  " << bin << "/ht-bench " << bench << (arg.empty() ? "" : " " + arg) << "\n"
         "  echo \"" << kDensityRun << "$i end $?\"\n"
         "  i=$((i + 1))\n"
         "done\n";
    return s.str();
}

std::string density_io_script(const std::string& work, unsigned runtime_s, unsigned total_runs) {
    std::ostringstream s;
    s << "#!/bin/sh\n"
         "# hypetrace density: fio's fileserver job, run " << total_runs << " times (warm-up first) for " << runtime_s
      << " s each,\n"
         "# each between two lines the host timestamps as they arrive, its JSON printed before the second.\n"
         "cd \"$(dirname \"$0\")\" || exit 1\n"
         "work=" << work << "\n"
         "i=1\n"
         "while [ $i -le " << total_runs << " ]; do\n"
         "  rm -rf \"$work\"; mkdir -p \"$work\"\n"
         "  echo \"" << kDensityRun << "$i begin\"\n"
         "  HT_IO_DIR=\"$work\" HT_IO_RUNTIME=" << runtime_s
      << " fio --output-format=json --output=\"$work.json\" job.fio >/dev/null 2>\"$work.err\"\n"
         "  rc=$?\n"
         "  echo \"" << kIoResultBegin << "$i $rc\"\n"
         "  cat \"$work.json\"; echo\n"
         "  [ $rc = 0 ] || head -c 300 \"$work.err\"\n"
         "  echo \"" << kIoResultEnd << "\"\n"
         "  echo \"" << kDensityRun << "$i end $rc\"\n"
         "  i=$((i + 1))\n"
         "done\n"
         "rm -rf \"$work\" \"$work.json\" \"$work.err\"\n";
    return s.str();
}

std::string density_fio_job() {
    return fileserver_fio_job("; hypetrace density's I/O workload: Filebench's fileserver shape (many small files created, written,\n"
                              "; read and deleted by two threads). ${HT_IO_DIR} and ${HT_IO_RUNTIME} are set by run.sh.\n");
}

std::string density_busy_script(const std::string& bin) {
    return "#!/bin/sh\n# hypetrace density: the paper's background load, an integer incremented in a loop, forever.\n"
           "exec " + bin + "/ht-bench busy\n";
}

std::vector<BenchRun> parse_bench_output(const std::string& text) {
    std::vector<BenchRun> runs;
    std::istringstream in(text);
    std::string line;
    BenchRun* open = nullptr;
    bool in_json = false;
    std::string json;
    int fio_error = 0;  // the open run's fio section error
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (in_json) {
            if (line.rfind(kIoResultEnd, 0) != 0) {
                json += line + "\n";
                continue;
            }
            in_json = false;
            const auto sections = parse_fio_json(json);
            for (const auto& j : sections) {
                open->ops_per_s += j.ops();
                if (j.error) fio_error = j.error;
            }
            // what fio said: its section's name, or (no JSON) its error
            const std::size_t from = json.find_first_not_of(" \n");
            open->work = !sections.empty() ? sections.front().name : from == std::string::npos ? "" : json.substr(from, 200);
            while (!open->work.empty() && (open->work.back() == '\n' || open->work.back() == ' ')) open->work.pop_back();
            continue;
        }
        if (open && line.rfind(kIoResultBegin, 0) == 0) {
            in_json = true;
            json.clear();
            fio_error = 0;
            continue;
        }
        if (line.rfind(kDensityRun, 0) == 0) {
            std::istringstream f(line.substr(std::strlen(kDensityRun)));
            unsigned i = 0;
            std::string what;
            f >> i >> what;
            if (what == "begin") {
                runs.push_back({});
                runs.back().index = i;
                open = &runs.back();
            } else if (what == "end" && open && open->index == i) {
                f >> open->rc;
                if (open->rc == 0 && fio_error) open->rc = fio_error;
                if (open->rc != 0 || (!open->elapsed_ns && open->ops_per_s <= 0))
                    throw UserError("benchmark run " + std::to_string(i) + " failed (exit " + std::to_string(open->rc) +
                                    ")" + (open->work.empty() ? "" : ": " + open->work));
                open = nullptr;
            }
        } else if (open && line.rfind(kBenchLine, 0) == 0) {
            std::istringstream f(line.substr(std::strlen(kBenchLine)));
            std::string name;
            f >> name >> open->elapsed_ns;
            std::getline(f >> std::ws, open->work);
        } else if (open && !line.empty()) {
            open->work = line.substr(0, 200);  // what a failing benchmark said
        }
    }
    return runs;
}

pid_t spawn_native_bench(const std::filesystem::path& script, const std::filesystem::path& output, int cpu) {
    SpawnOptions o;
    o.stdout_path = output.string();
    o.stderr_path = output.string();
    o.cpu = cpu;
    o.own_process_group = true;  // ended with its benchmark (ht-bench, fio and fio's threads), runs auto mid-run too
    return spawn({"sh", "-c",
                  std::string("echo ") + kJobBeginMarker + "; sh \"$1\"; echo \"" + kJobEndMarker + " $?\"", "sh",
                  script.string()},
                 o)
        .pid;
}

std::vector<unsigned> density_counts(const std::vector<unsigned>& per_core, unsigned cpus) {
    std::set<unsigned> s{1};
    for (unsigned p : per_core) s.insert(p * std::max(1u, cpus));
    return {s.begin(), s.end()};
}

GuestSpec density_guest_spec(const DensityConfig& cfg) {
    return make_guest_spec(Variant::full, cfg.images, cfg.accel, RootfsMode::shared);
}

void preflight_density(const DensityConfig& cfg) {
    const DensityBench* bench = find_density_bench(cfg.bench);
    if (!bench) throw usage_error("unknown benchmark " + cfg.bench + ": quantum, chess or fileserver");
    bool native = false, guests = false;
    for (const auto& t : cfg.techniques) {
        if (t.driver) {
            t.driver->preflight(density_guest_spec(cfg));
            guests = true;
        } else {
            native = true;
        }
    }
    // guests busy-loop with ht-bench whatever the benchmark
    if (guests) cfg.images.require({cfg.images.rootfs() / "usr/local/bin/ht-bench"});
    if (guests && bench->io) cfg.images.require({cfg.images.rootfs() / "usr/bin/fio"});
    if (native && bench->io && which("fio").empty()) throw UserError("fio not found: install fio (scripts/setup.sh does)");
    if (native && !bench->io) cfg.images.require({cfg.images.dir / "bench/ht-bench"});
}

namespace {

// The benchmark guest as a preemptor of itself (QEMU's threads share its CPU).
constexpr const char* kItself = "the benchmark guest";

// Ends the technique's trace run on every path (an error included), once.
struct TraceRun {
    TraceBackend& tracer;
    bool open = true;
    explicit TraceRun(TraceBackend& t, uint64_t origin) : tracer(t) { tracer.begin_run(origin); }
    RunTrace end() {
        open = false;
        return tracer.end_run();
    }
    ~TraceRun() {
        if (open) try {
                tracer.end_run();
            } catch (...) {
            }
    }
};

// The sched counters of the benchmark guest summed over the measured runs' windows.
SchedWhy sched_why(const std::vector<CounterSample>& counters, uint32_t gid,
                   const std::vector<std::pair<uint64_t, uint64_t>>& windows, uint64_t origin, bool traced,
                   const std::map<uint32_t, std::string>& guest_names) {
    SchedWhy w;
    w.traced = traced;
    std::vector<std::pair<uint64_t, uint64_t>> buckets;
    for (auto [b, e] : windows) {
        const uint64_t lo = (b - origin) / kDensityBucketNs, hi = (e - origin) / kDensityBucketNs;
        // one run's last bucket may be the next one's first: counted once
        if (!buckets.empty() && lo <= buckets.back().second) buckets.back().second = std::max(buckets.back().second, hi);
        else buckets.push_back({lo, hi});
    }
    std::map<uint64_t, uint64_t> by_preemptor;
    for (auto [lo, hi] : buckets) {
        // the time the counts cover: whole buckets, so that waiting + running add up to it
        w.wall_ns += double(hi - lo + 1) * double(kDensityBucketNs);
        const SchedSummary one = summarize_sched(counters, gid, lo, hi);
        w.runq_ns += double(one.runq_ns);
        w.oncpu_ns += double(one.oncpu_ns);
        w.involuntary += one.involuntary;
        w.voluntary += one.voluntary;
        w.migrations += one.migrations;
        for (auto [k, v] : one.runq_log2) w.runq_log2[k] += v;
        for (const auto& p : one.preemptors) by_preemptor[preemptor_sub(p.guest, p.tgid)] += p.count;
    }
    for (auto [sub, n] : by_preemptor) {
        SchedWhy::Preemptor p;
        p.guest = preemptor_of(sub).guest;
        p.tgid = preemptor_of(sub).tgid;
        p.count = n;
        if (auto it = guest_names.find(p.guest); p.guest && it != guest_names.end()) p.name = it->second;
        else if (p.guest) p.name = "guest id " + std::to_string(p.guest);
        else if (p.tgid == 0) p.name = "idle";
        else {
            std::string name = process_comm(pid_t(p.tgid));
            while (!name.empty() && name.back() == ' ') name.pop_back();
            p.name = !name.empty() ? name + " (host, pid " + std::to_string(p.tgid) + ")"
                          : "host pid " + std::to_string(p.tgid);
        }
        w.preemptors.push_back(p);
    }
    // The VM's exits in the same buckets (none under TCG or in a container)
    ExitCounts ex;
    for (const auto& c : counters) {
        if (c.guest != gid) continue;
        for (auto [lo, hi] : buckets)
            if (c.bucket >= lo && c.bucket <= hi) {
                ex.add(c);
                break;
            }
    }
    w.exits = ex.total_kvm_exits();
    w.user_exits = ex.total_user_exits();
    std::map<std::string, uint64_t> by_reason;
    for (auto [key, n] : ex.kvm_exits) by_reason[kvm_exit_reason_name(uint32_t(key >> 32), uint32_t(key))] += n;
    w.exit_reasons.assign(by_reason.begin(), by_reason.end());
    std::sort(w.exit_reasons.begin(), w.exit_reasons.end(),
              [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
    // One line per preemptor: the guests' threads (QEMU's several) are one guest.
    std::sort(w.preemptors.begin(), w.preemptors.end(),
              [](const auto& a, const auto& b) { return a.count != b.count ? a.count > b.count : a.name < b.name; });
    return w;
}

// This process's CPU time so far (every thread), ns.
uint64_t self_cpu_ns() {
    struct rusage u {};
    getrusage(RUSAGE_SELF, &u);
    auto ns = [](const timeval& t) { return uint64_t(t.tv_sec) * 1'000'000'000ULL + uint64_t(t.tv_usec) * 1000ULL; };
    return ns(u.ru_utime) + ns(u.ru_stime);
}

// How long one benchmark run may take at this density.
double run_limit_s(const DensityConfig& cfg, const DensityTechnique& t, unsigned guests, unsigned cpus, double io_runtime_s) {
    if (cfg.run_timeout_s > 0) return cfg.run_timeout_s;
    const bool tcg_vm = t.driver && t.driver->kind() == GuestKind::vm && cfg.accel == Accel::tcg;
    const double base = (tcg_vm ? 600 : 120) + 2 * io_runtime_s;
    return base * std::max(1.0, std::ceil(double(guests) / double(std::max(1u, cpus))));
}

// Keeps this process (and what it starts without a CPU of its own) off the benchmark's CPU for
// the run, so that hypetrace's own polling does not preempt the benchmark; restored at the end.
class OffCpu {
public:
    OffCpu(int cpu, unsigned cpus) {
        if (cpus < 2 || sched_getaffinity(0, sizeof old_, &old_) != 0) return;
        cpu_set_t set;
        CPU_ZERO(&set);
        for (unsigned c = 0; c < cpus; ++c)
            if (int(c) != cpu && CPU_ISSET(c, &old_)) CPU_SET(c, &set);
        if (CPU_COUNT(&set) == 0) return;
        // every thread of ours (libbpf's and liblxc's included), not just this one
        std::error_code ec;
        for (const auto& t : std::filesystem::directory_iterator("/proc/self/task", ec)) {
            const pid_t tid = pid_t(std::atoi(t.path().filename().c_str()));
            if (tid > 0 && sched_setaffinity(tid, sizeof set, &set) == 0) moved_.push_back(tid);
        }
    }
    ~OffCpu() {
        for (pid_t tid : moved_) sched_setaffinity(tid, sizeof old_, &old_);
    }
    OffCpu(const OffCpu&) = delete;
    OffCpu& operator=(const OffCpu&) = delete;

private:
    cpu_set_t old_{};
    std::vector<pid_t> moved_;
};

}  // namespace

DensityResult run_density(TraceBackend& tracer, const HostInfo& host, const DensityConfig& cfg) {
    const DensityBench* bench = find_density_bench(cfg.bench);
    if (!bench) throw usage_error("unknown benchmark " + cfg.bench + ": quantum or chess");
    DensityResult res;
    res.host = host;
    res.started_at = utc_now();
    res.bench = *bench;
    res.bench_arg = cfg.bench_arg.empty() ? bench->default_arg : cfg.bench_arg;
    res.cpus = cfg.cpus ? cfg.cpus : std::max(1u, unsigned(host.cpus));
    res.runs = cfg.auto_runs.on ? 0 : cfg.runs;
    res.auto_runs = cfg.auto_runs;
    res.warmup = cfg.warmup;
    res.sources = tracer.sources();
    bool sched_traced = false;
    for (const auto& s : res.sources)
        if (s.name == "sched:sched_switch" && s.attached) sched_traced = true;
    const unsigned cpus = res.cpus;
    // with runs auto the job runs up to the cap; hypetrace ends it once the series settles
    const unsigned total_runs = cfg.warmup + (cfg.auto_runs.on ? cfg.auto_runs.max_runs : cfg.runs);
    uint32_t bench_id = 1;          // the benchmark guests' trace ids: 1, 2, ...
    const uint32_t busy_ids = 1000;  // the background guests': 1000, 1001, ...
    const uint32_t kHelperIds = 500;  // a benchmark guest's backend processes: its id + 500
    OffCpu off(density_cpu(0, cpus), cpus);

    for (const auto& t : cfg.techniques) {
        auto say = [&](const std::string& m) {
            if (cfg.progress) cfg.progress("[" + t.id + "] " + m);
        };
        DensityTechniqueResult tr;
        tr.technique = t;
        const bool vm = t.driver && t.driver->kind() == GuestKind::vm;
        if (vm) tr.accel = to_string(cfg.accel);
        const std::vector<unsigned> counts = t.driver ? density_counts(cfg.per_core, cpus) : std::vector<unsigned>{1};
        const uint64_t origin = mono_ns();
        TraceRun run(tracer, origin);
        ScratchDir jobs(cfg.scratch_parent, "density-" + t.id + "-" + std::to_string(getpid()));
        const auto busy_job = jobs.path() / "busy";
        std::filesystem::create_directories(busy_job);
        write_file_atomic(busy_job / "run.sh", density_busy_script("/usr/local/bin"));
        std::unique_ptr<GuestFleet> fleet;
        std::map<uint32_t, std::string> names;  // trace id -> what the guest is, for preemptors
        if (t.driver) {
            FleetConfig fc;
            fc.driver = t.driver;
            fc.id = t.id;
            fc.label = t.label;
            fc.variant = Variant::full;
            fc.images = cfg.images;
            fc.scratch_parent = cfg.scratch_parent;
            fc.tag = "dens";
            fc.accel = cfg.accel;
            fc.rootfs = RootfsMode::shared;
            fc.boot_timeout_s = cfg.boot_timeout_s > 0 ? cfg.boot_timeout_s : default_ready_timeout_s(t.driver->kind(), cfg.accel);
            fleet = std::make_unique<GuestFleet>(fc, &tracer, busy_ids);
        }
        const DensityStep* alone = nullptr;
        for (unsigned count : counts) {
            const std::string at = std::to_string(count) + (count == 1 ? " guest" : " guests (" + fmt("%g", double(count) / cpus) + "/CPU)");
            // the background guests, added to those already busy
            if (fleet && fleet->size() + 1 < count) {
                const uint64_t since = mono_ns();
                const std::size_t adding = count - 1 - fleet->size();
                say(at + ": booting " + std::to_string(adding) + " more background guest" + (adding == 1 ? "" : "s"));
                while (fleet->size() + 1 < count) {
                    const unsigned index = unsigned(fleet->size()) + 1;  // the benchmark guest is 0
                    const int cpu = density_cpu(index, cpus);
                    FleetMember& m = fleet->add([&](GuestSpec& s) {
                        s.job_dir = busy_job;
                        s.host_cpu = cpu;
                    });
                    names[m.trace_id] = "guest " + std::to_string(index) + " (busy, CPU " + std::to_string(cpu) + ")";
                    fleet->launch(m);
                }
                fleet->wait_ready(since, [&](int ms) {
                    tracer.poll_events(ms);
                    tracer.drain_counters();  // boots fault a lot: the map kept small, their counts not needed
                    throw_if_interrupted();
                });
                tracer.drain_counters();  // the boots': not a measured run's
            }
            // the benchmark guest, started last, on CPU 0
            DensityStep step;
            step.guests = count;
            step.per_cpu = double(count) / cpus;
            const uint32_t gid = bench_id++;
            names[gid] = kItself;
            if (RunSink* sink = tracer.sink()) sink->name_guest(gid, t.label + " benchmark, " + at);
            ScratchDir dir(cfg.scratch_parent, "density-" + t.id + "-b" + std::to_string(count) + "-" + std::to_string(getpid()));
            const auto job = dir.path() / "job";
            std::filesystem::create_directories(job);
            const std::string bin = t.driver ? "/usr/local/bin" : (cfg.images.dir / "bench").string();
            if (bench->io) {
                // fio's files: in the guest's own filesystem (not the job channel), natively in the scratch directory
                const std::string work = t.driver ? "/var/tmp/ht-density-io" : (dir.path() / "io").string();
                write_file_atomic(job / "job.fio", density_fio_job());
                write_file_atomic(job / "run.sh", density_io_script(work, unsigned(std::stoul(res.bench_arg)), total_runs));
            } else {
                write_file_atomic(job / "run.sh", density_bench_script(bin, bench->name, res.bench_arg, total_runs));
            }
            std::vector<MarkerSpec> marks{{"marks", kJobBeginMarker, "job_begin"}, {"marks", kJobEndMarker, "job_end"}};
            for (unsigned i = 1; i <= total_runs; ++i) {
                marks.push_back({"marks", kDensityRun + std::to_string(i) + " begin", "b" + std::to_string(i)});
                marks.push_back({"marks", kDensityRun + std::to_string(i) + " end", "e" + std::to_string(i)});
            }
            std::unique_ptr<Guest> guest;
            std::unique_ptr<ConsoleWatcher> w;
            pid_t native_pid = -1;
            struct NativeChild {  // the native benchmark ends with its step, whatever happens
                pid_t& pid;
                ~NativeChild() {
                    if (pid > 0) terminate(pid, std::chrono::milliseconds(1000));
                }
            } native_child{native_pid};
            const auto output = dir.path() / kMarksFile;
            if (t.driver) {
                GuestSpec spec = density_guest_spec(cfg);
                spec.name = "ht-dens-" + t.id + "-" + std::to_string(getpid()) + "-b" + std::to_string(count);
                spec.run_dir = dir.path();
                spec.job_dir = job;
                spec.host_cpu = density_cpu(0, cpus);
                guest = t.driver->create(spec);
                auto all = guest->milestones();
                all.insert(all.end(), marks.begin(), marks.end());
                w = std::make_unique<ConsoleWatcher>(spec.run_dir, guest->console_files(), all);
                guest->prepare();
                say(at + ": booting the benchmark guest");
                const double boot_limit = cfg.boot_timeout_s > 0 ? cfg.boot_timeout_s
                                                                 : default_ready_timeout_s(guest->kind(), cfg.accel) *
                                                                       std::max(1.0, step.per_cpu);
                uint64_t last_boot_drain = mono_ns();
                LaunchOptions boot;
                boot.watcher = w.get();
                boot.milestone = "job_begin";
                boot.timeout_s = boot_limit;
                boot.timeout_from = LaunchOptions::From::started;
                boot.pause = [&](uint64_t) {
                    tracer.poll_events(20);
                    if (mono_ns() - last_boot_drain > 250'000'000ULL) {
                        tracer.drain_counters();  // the boot's
                        last_boot_drain = mono_ns();
                    }
                };
                const Launched l = launch_guest(&tracer, gid, *guest, boot);
                if (l.outcome == Launched::Outcome::died)
                    throw UserError(t.label + ": the benchmark guest stopped before it was ready: " + l.last_output);
                if (!l.ready())
                    throw UserError(t.label + ": the benchmark guest did not start its job within " + fmt("%.0f", boot_limit) +
                                    " s (" + ref(Setting::boot_timeout) + ")" +
                                    (l.last_output.empty() ? "" : "; last output: " + l.last_output));
                step.boot_s = double(l.ready_ns - l.launch_ns) / 1e9;
                // The backend's own processes for the guest (LXC's monitor, on any CPU) are not the
                // benchmark's: followed apart, so the explanation counts the guest's threads only.
                const uint32_t helper_id = gid + kHelperIds;
                for (pid_t h : guest->helper_pids()) tracer.track(h, helper_id);
                names[helper_id] = "the benchmark guest's " + t.label + " helper";
            } else {
                std::ofstream(output).flush();
                w = std::make_unique<ConsoleWatcher>(dir.path(), std::map<std::string, std::string>{{"marks", kMarksFile}},
                                                     marks);
                ArmedSpawner armed(&tracer, gid);
                native_pid = cfg.native_runner(job / "run.sh", output, density_cpu(0, cpus));
                armed.disarm();
            }
            say(at + ": " + bench->name + " running (" + std::to_string(cfg.warmup) + " warm-up + " +
                (cfg.auto_runs.on ? std::string("runs until its interval settles") : std::to_string(cfg.runs) + " runs") + ")");
            const double limit = run_limit_s(cfg, t, count, cpus, bench->io ? std::stod(res.bench_arg) : 0);
            std::vector<CounterSample> counters;
            uint64_t last_drain = mono_ns(), run_began = mono_ns(), last_alive = mono_ns();
            const uint64_t self0 = self_cpu_ns(), loop0 = mono_ns();
            const auto ticks0 = parse_cpu_ticks(read_text("/proc/stat").value_or(""), density_cpu(0, cpus));
            unsigned seen = 0, complete = total_runs;  // complete: the runs kept (auto may end the job early)
            uint64_t first_measured = 0;
            unsigned judged = 0;  // runs auto: the last run judged
            auto eta = [&](unsigned i) -> std::string {  // the rest of this density, at the pace so far
                auto b1 = w->hit("b1");
                auto ei = w->hit("e" + std::to_string(i));
                if (i >= total_runs || !b1 || !ei) return "";
                const double per = double(ei->ts_ns - b1->ts_ns) / 1e9 / double(i);
                return ", about " + fmt("%.0f", per * double(total_runs - i)) + " s left at this density";
            };
            for (bool ended = false; !ended;) {
                w->poll();
                ended = w->hit("job_end").has_value();
                for (unsigned i = seen + 1; i <= total_runs; ++i) {
                    if (auto e = w->hit("e" + std::to_string(i))) {
                        seen = i;
                        run_began = e->ts_ns;
                        auto b = w->hit("b" + std::to_string(i));
                        say(at + ": run " + std::to_string(i) + "/" + std::to_string(total_runs) +
                            (i <= cfg.warmup ? " (warm-up)" : "") + ": " +
                            fmt("%.2f", b ? double(e->ts_ns - b->ts_ns) / 1e9 : 0) + " s" + eta(i));
                    } else {
                        break;
                    }
                }
                if (cfg.auto_runs.on && seen > cfg.warmup && seen > judged) {
                    judged = seen;
                    // the runs so far, from the benchmark's own lines, judged by the noise rule
                    if (!first_measured)
                        if (auto b = w->hit("b" + std::to_string(cfg.warmup + 1))) first_measured = b->ts_ns;
                    std::vector<double> xs;
                    for (const auto& b : parse_bench_output(read_text(output.string()).value_or("")))
                        if (b.index > cfg.warmup && b.index <= seen) xs.push_back(bench->io ? b.ops_per_s : double(b.elapsed_ns));
                    if (auto end = auto_runs_end(cfg.auto_runs, xs.size(), double(mono_ns() - first_measured) / 1e9, {summarize(xs)})) {
                        step.runs_end = *end;
                        complete = seen;
                        say(at + ": " + runs_end_note(*end, xs.size(), cfg.auto_runs));
                        break;
                    }
                }
                if (ended) break;
                // once a second: liblxc asks the container's monitor over a socket each time
                bool alive = true;
                if (mono_ns() - last_alive > 1'000'000'000ULL) {
                    alive = guest ? guest->alive() : !child_exited(native_pid);
                    last_alive = mono_ns();
                }
                if (!alive) {
                    w->poll();
                    if (w->hit("job_end")) break;
                    throw UserError(t.label + ": the benchmark " + (guest ? "guest exited: " + guest->failure_hint()
                                                                           : std::string("process ended without its last line")));
                }
                if (double(mono_ns() - run_began) / 1e9 > limit)
                    throw UserError(t.label + ", " + at + ": a benchmark run took longer than " + fmt("%.0f", limit) + " s (" + ref(Setting::run_timeout) + ")");
                tracer.poll_events(100);
                throw_if_interrupted();
                // Keep the counter map small: 2 ms buckets of a VM's many threads (TCG's I/O workers)
                // filled its 262144 entries within a second under --io (491699 updates lost)
                if (mono_ns() - last_drain > kDensityDrainNs) {
                    for (auto& c : tracer.drain_counters())
                        if (c.guest == gid) counters.push_back(c);
                    last_drain = mono_ns();
                }
            }
            if (cfg.auto_runs.on && step.runs_end == RunsEnd::count) {
                // the job made every run it may without settling
                step.runs_end = RunsEnd::run_cap;
                complete = seen;
            }
            for (auto& c : tracer.drain_counters())
                if (c.guest == gid) counters.push_back(c);
            step.self_cpu_pct = 100.0 * double(self_cpu_ns() - self0) / double(std::max<uint64_t>(1, mono_ns() - loop0));
            if (const auto ticks1 = parse_cpu_ticks(read_text("/proc/stat").value_or(""), density_cpu(0, cpus));
                ticks0 && ticks1 && ticks1->total > ticks0->total)
                step.steal_pct = 100.0 * double(ticks1->steal - ticks0->steal) / double(ticks1->total - ticks0->total);
            if (native_pid > 0) {
                terminate(native_pid, std::chrono::milliseconds(1000));
                native_pid = -1;
            }
            if (guest) guest->stop();
            step.runs = parse_bench_output(read_text(output.string()).value_or(""));
            if (complete < total_runs) {  // ended by runs auto: the runs it judged, not one begun after
                step.runs.erase(std::remove_if(step.runs.begin(), step.runs.end(), [&](const BenchRun& b) { return b.index > complete; }),
                                step.runs.end());
            }
            if (step.runs.size() != complete)
                throw UserError(t.label + ", " + at + ": " + std::to_string(step.runs.size()) + " of " +
                                std::to_string(complete) + " benchmark runs came back");
            std::vector<double> secs, ops;
            std::vector<std::pair<uint64_t, uint64_t>> windows;
            for (unsigned i = cfg.warmup + 1; i <= complete; ++i) {
                if (bench->io) ops.push_back(step.runs[i - 1].ops_per_s);
                else secs.push_back(double(step.runs[i - 1].elapsed_ns) / 1e9);
                auto b = w->hit("b" + std::to_string(i));
                auto e = w->hit("e" + std::to_string(i));
                if (b && e) {
                    windows.push_back({b->ts_ns, e->ts_ns});
                    step.wall_s.push_back(double(e->ts_ns - b->ts_ns) / 1e9);
                }
            }
            if (bench->io) step.ops = summarize(ops);
            else step.seconds = summarize(secs);
            step.why = sched_why(counters, gid, windows, origin, sched_traced, names);
            for (const auto& win : windows) step.run_why.push_back(sched_why(counters, gid, {win}, origin, sched_traced, names));
            if (RunSink* sink = tracer.sink())
                for (std::size_t i = 0; i < windows.size(); ++i)
                    sink->span(t.label + " benchmark, " + at, "run " + std::to_string(cfg.warmup + 1 + i),
                               windows[i].first, windows[i].second);
            tr.steps.push_back(std::move(step));
            if (!alone) alone = &tr.steps.front();
            const Summary& fig = figure_of(tr.steps.back());
            say(at + ": " + (bench->io ? fmt("%.0f", fig.mean) + " ops/s +- " + fmt("%.0f", fig.ci95)
                                       : fmt("%.3f", fig.mean) + " s +- " + fmt("%.3f", fig.ci95)) +
                "; " + explain_step(tr.steps.back(), &tr.steps.front()));
        }
        if (fleet) {
            say("stopping " + std::to_string(fleet->size()) + " background guests");
            fleet->clear();
        }
        tr.lost.add(run.end());
        res.techniques.push_back(std::move(tr));
    }
    return res;
}

double slowdown_of(const DensityStep& step, const DensityStep& alone) {
    if (is_io(step) != is_io(alone)) return 1;
    if (is_io(step)) return step.ops.mean > 0 && alone.ops.mean > 0 ? alone.ops.mean / step.ops.mean : 1;
    return alone.seconds.mean > 0 ? step.seconds.mean / alone.seconds.mean : 1;
}

SlowdownParts slowdown_parts(const DensityStep& step, const DensityStep& alone) {
    SlowdownParts p;
    p.total = slowdown_of(step, alone);
    const SchedWhy &a = alone.why, &s = step.why;
    // the I/O benchmark sleeps on its I/O: its CPU share is not what bounds it
    if (is_io(step) ||!a.traced || !s.traced || a.wall_ns <= 0 || s.wall_ns <= 0 || a.oncpu_ns <= 0 || s.oncpu_ns <= 0 ||
        alone.seconds.n == 0 || step.seconds.n == 0)
        return p;
    p.share = (a.oncpu_ns / a.wall_ns) / (s.oncpu_ns / s.wall_ns);
    p.cost = (s.oncpu_ns / double(step.seconds.n)) / (a.oncpu_ns / double(alone.seconds.n));
    p.known = true;
    return p;
}

std::string explain_step(const DensityStep& step, const DensityStep* alone) {
    std::ostringstream o;
    const double slow = alone ? slowdown_of(step, *alone) : 1;
    if (alone && &step != alone) o << "slowed x" << fmt("%.2f", slow);
    else o << "alone";
    const SchedWhy& w = step.why;
    if (!w.traced) return o.str() + " (the scheduler was not traced)";
    if (w.wall_ns <= 0) return o.str();
    // A one-thread benchmark: its share of wall time. fio's threads, or a CPU benchmark whose
    // threads wait and run at once (stockfish's search beside its main thread: waiting and running
    // add up to more than the wall time), are said as their sum per second of wall time (1.2: on
    // average 1.2 of them waiting).
    const bool threads = is_io(step) || w.runq_ns + w.oncpu_ns > 1.05 * w.wall_ns;
    auto part = [&](double ns) { return threads ? fmt("%.2f", ns / w.wall_ns) + " s per s" : fmt("%.0f", 100 * ns / w.wall_ns) + " %"; };
    if (threads) o << ": its threads waiting to run " << part(w.runq_ns) << " of wall time";
    else o << ": " << part(w.runq_ns) << " of its wall time waiting to run";
    std::vector<std::string> who;
    uint64_t named = 0;
    for (const auto& p : w.preemptors) {
        if (p.name == kItself) continue;  // its own threads
        if (who.size() == 2) break;
        who.push_back(p.name);
        named += p.count;
    }
    if (!who.empty()) {
        o << ", behind " << who[0];
        if (who.size() > 1) o << " and " << who[1];
    }
    o << "; on a CPU " << part(w.oncpu_ns) << ", " << w.involuntary << " preemptions, "
      << w.migrations << " migrations";
    (void)named;
    if (w.exits > 0) {  // a VM under KVM: what its vCPUs left the guest for, per second of benchmark
        const double secs = w.wall_ns / 1e9;
        o << "; " << fmt("%.0f", double(w.exits) / secs) << " VM exits/s";
        for (std::size_t i = 0; i < w.exit_reasons.size() && i < 3; ++i)
            o << (i ? ", " : " (") << w.exit_reasons[i].first << " " << fmt("%.0f", 100.0 * double(w.exit_reasons[i].second) / double(w.exits)) << " %";
        o << "), " << fmt("%.0f", double(w.user_exits) / secs) << " to QEMU/s";
    }
    // The slowdown the share of CPU does not explain: each run needed more (or less) CPU time.
    if (alone && &step != alone) {
        const SlowdownParts p = slowdown_parts(step, *alone);
        if (p.known && std::abs(p.cost - 1) > 0.1) {
            o << "; x" << fmt("%.2f", p.share) << " of it from its CPU share, x" << fmt("%.2f", p.cost)
              << " from each run needing " << (p.cost > 1 ? "more" : "less") << " CPU time than alone";
            if (p.cost > 1)
                o << " (the CPU itself ran slower: "
                  << (step.steal_pct > 0.5 ? fmt("%.0f", step.steal_pct) + " % steal reported by the hypervisor"
                                           : "what this kernel cannot see, the hypervisor's other tenants, an SMT sibling or the clock")
                  << ")";
        }
    }
    return o.str();
}

namespace {
nlohmann::json exit_reasons_json(const SchedWhy& w) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [name, n] : w.exit_reasons) j[name] = n;
    return j;
}
nlohmann::json summary_json(const Summary& s) {
    return {{"mean", s.mean}, {"ci95", s.ci95}, {"n", s.n}, {"min", s.min}, {"max", s.max}};
}
}  // namespace

nlohmann::json to_json(const DensityResult& r) {
    nlohmann::json techs = nlohmann::json::array();
    for (const auto& t : r.techniques) {
        nlohmann::json steps = nlohmann::json::array();
        const DensityStep* alone = t.steps.empty() ? nullptr : &t.steps.front();
        for (const auto& s : t.steps) {
            nlohmann::json runs = nlohmann::json::array();
            for (const auto& b : s.runs) {
                nlohmann::json run{{"index", b.index}, {"warmup", b.index <= r.warmup}, {"work", b.work}};
                if (r.bench.io) run["ops_per_s"] = b.ops_per_s;
                else run["elapsed_ns"] = b.elapsed_ns;
                const std::size_t m = b.index - r.warmup - 1;  // its place among the measured runs
                if (b.index > r.warmup && m < s.run_why.size()) {
                    const SchedWhy& w = s.run_why[m];
                    run["wall_s"] = m < s.wall_s.size() ? s.wall_s[m] : 0.0;
                    run["sched"] = {{"wall_ns", w.wall_ns}, {"runq_ns", w.runq_ns}, {"oncpu_ns", w.oncpu_ns},
                                    {"involuntary", w.involuntary}, {"migrations", w.migrations},
                                    {"top_preemptor", w.preemptors.empty() ? "" : w.preemptors.front().name}};
                }
                runs.push_back(run);
            }
            nlohmann::json pre = nlohmann::json::array();
            for (const auto& p : s.why.preemptors)
                pre.push_back({{"guest", p.guest}, {"tgid", p.tgid}, {"name", p.name}, {"count", p.count}});
            nlohmann::json hist = nlohmann::json::array();
            for (auto [k, v] : s.why.runq_log2) hist.push_back({{"log2_ns", k}, {"count", v}});
            steps.push_back({{"guests", s.guests},
                             {"per_cpu", s.per_cpu},
                             {is_io(s) ? "ops_per_s" : "seconds", summary_json(figure_of(s))},
                             {"wall_s", s.wall_s},
                             {"slowdown", alone ? slowdown_of(s, *alone) : 1.0},
                             {"benchmark_boot_s", s.boot_s},
                             {"hypetrace_cpu_percent", s.self_cpu_pct},
                             {"steal_percent", s.steal_pct},
                             {"runs_end", to_string(s.runs_end)},
                             {"noisy", noisy(figure_of(s))},
                             {"runs", runs},
                             {"sched", {{"traced", s.why.traced}, {"wall_ns", s.why.wall_ns}, {"runq_ns", s.why.runq_ns},
                                        {"oncpu_ns", s.why.oncpu_ns}, {"involuntary", s.why.involuntary},
                                        {"voluntary", s.why.voluntary}, {"migrations", s.why.migrations},
                                        {"runq_log2", hist}, {"preemptors", pre},
                                        {"vm_exits", s.why.exits}, {"vm_exits_to_qemu", s.why.user_exits},
                                        {"vm_exit_reasons", exit_reasons_json(s.why)}}},
                             {"explained", explain_step(s, alone)}});
            if (alone) {
                const SlowdownParts p = slowdown_parts(s, *alone);
                if (p.known) steps.back()["slowdown_parts"] = {{"share", p.share}, {"cpu_cost", p.cost}};
            }
        }
        techs.push_back({{"id", t.technique.id}, {"label", t.technique.label}, {"accel", t.accel},
                         {"steps", steps}, {"lost", losses_json(t.lost)}});
    }
    return {{"schema", kDensitySchemaVersion},
            {"tool", "hypetrace density"},
            {"started_at", r.started_at},
            {"host", host_json(r.host)},
            {"benchmark", {{"name", r.bench.name}, {"what", r.bench.what}, {"stands_for", r.bench.paper}, {"arg", r.bench_arg},
                           {"workload", r.bench.io ? "io" : "cpu"}, {"figure", r.bench.io ? "ops_per_s" : "seconds"}}},
            {"cpus", r.cpus},
            {"runs", r.auto_runs.on ? nlohmann::json("auto") : nlohmann::json(r.runs)},
            {"auto", r.auto_runs.on ? nlohmann::json{{"max_time_s_per_density", r.auto_runs.max_time_s}, {"max_runs", r.auto_runs.max_runs}}
                                    : nlohmann::json(nullptr)},
            {"warmup", r.warmup},
            {"techniques", techs},
            {"sources", sources_json(r.sources)}};
}

std::string render_text(const DensityResult& r) {
    std::ostringstream o;
    Losses lost;
    for (const auto& t : r.techniques) lost.add(t.lost);
    o << loss_headline(lost);
    o << (r.bench.io ? "hypetrace density: one guest's I/O benchmark while the others busy-loop (paper section 2.2, Figure 3)\n"
                     : "hypetrace density: one guest's CPU benchmark while the others busy-loop (paper section 2.1, Figures 1-2)\n");
    o << host_line(r.host) << "\n";
    o << "benchmark: " << r.bench.name << " (" << r.bench.what << "; stands for " << r.bench.paper << ")"
      << (r.bench_arg.empty() ? "" : r.bench.io ? ", " + r.bench_arg + " s per run" : ", size " + r.bench_arg) << "; "
      << (r.auto_runs.on ? "runs until the 95 % interval is a tenth of the mean (runs auto: at least " + std::to_string(kSettleMinRuns) +
                               ", at most " + std::to_string(r.auto_runs.max_runs) + " or " + fmt("%g", r.auto_runs.max_time_s) + " s per density)"
                         : std::to_string(r.runs) + " runs")
      << " after " << r.warmup
      << " warm-up; every guest confined to one of " << r.cpus << " host CPUs, the benchmark's to CPU 0"
      << (r.cpus > 1 ? " (hypetrace itself kept off it)" : "") << "\n\n";
    // one row per guest count, one column pair per technique
    std::set<unsigned> counts;
    for (const auto& t : r.techniques)
        for (const auto& s : t.steps) counts.insert(s.guests);
    std::vector<std::string> head{"guests", "per CPU"};
    for (const auto& t : r.techniques) {
        head.push_back(t.technique.label + (r.bench.io ? " ops/s" : " s"));
        head.push_back("+-95%");
        head.push_back("x alone");
    }
    std::vector<std::vector<std::string>> rows{head};
    std::vector<std::string> noisy;
    for (unsigned c : counts) {
        std::vector<std::string> row{std::to_string(c), fmt("%g", double(c) / std::max(1u, r.cpus))};
        for (const auto& t : r.techniques) {
            const DensityStep* s = nullptr;
            for (const auto& x : t.steps)
                if (x.guests == c) s = &x;
            if (!s) {
                row.insert(row.end(), {"-", "", ""});
                continue;
            }
            const Summary& f = figure_of(*s);
            const double slow = slowdown_of(*s, t.steps.front());
            const bool wide = ht::noisy(f);  // the shared rule (core/base/stats.h)
            const char* form = r.bench.io ? "%.0f" : "%.3f";
            row.push_back(fmt(form, f.mean) + (wide ? " !" : ""));
            row.push_back(fmt(form, f.ci95));
            row.push_back(fmt("%.2f", slow));
            if (wide) noisy.push_back(t.technique.label + " at " + std::to_string(c) + (c == 1 ? " guest: " : " guests: ") + noise_note(f));
        }
        rows.push_back(row);
    }
    std::vector<bool> right(rows.front().size(), true);
    o << render_table(rows, right);
    for (const auto& n : noisy) o << "  ! noisy: " << n << "\n";
    if (r.auto_runs.on)
        for (const auto& t : r.techniques)
            for (const auto& s : t.steps)
                o << "  " << t.technique.label << " at " << s.guests << (s.guests == 1 ? " guest: " : " guests: ")
                  << runs_end_note(s.runs_end, figure_of(s).n, r.auto_runs) << "\n";
    double self = 0;
    std::size_t steps = 0;
    for (const auto& t : r.techniques)
        for (const auto& s : t.steps) {
            self += s.self_cpu_pct;
            ++steps;
        }
    if (steps) o << "  hypetrace itself used " << fmt("%.2f", self / double(steps)) << " % of one CPU while the benchmark ran\n";
    o << "\nwhy (the benchmark guest's threads over its measured runs, from the scheduler's tracepoints):\n";
    for (const auto& t : r.techniques)
        for (const auto& s : t.steps) {
            o << "  " << t.technique.label << ", " << s.guests << (s.guests == 1 ? " guest: " : " guests: ")
              << explain_step(s, &t.steps.front()) << "\n";
            // a run far slower than its step's median (host clock), and what the scheduler says of it
            std::vector<double> sorted = s.wall_s;
            std::sort(sorted.begin(), sorted.end());
            const double median = sorted.empty() ? 0 : sorted[sorted.size() / 2];
            for (std::size_t i = 0; i < s.wall_s.size() && i < s.run_why.size(); ++i) {
                if (median <= 0 || s.wall_s[i] < 1.3 * median) continue;
                const SchedWhy& w = s.run_why[i];
                o << "    run " << r.warmup + 1 + i << " took " << fmt("%.2f", s.wall_s[i]) << " s ("
                  << fmt("%+.0f", 100 * (s.wall_s[i] / median - 1)) << " % on the median)";
                if (w.traced && w.wall_ns > 0) {
                    o << ": waiting " << fmt("%.0f", 100 * w.runq_ns / w.wall_ns) << " %, on a CPU "
                      << fmt("%.0f", 100 * w.oncpu_ns / w.wall_ns) << " %";
                    for (const auto& p : w.preemptors)
                        if (p.name != kItself) {
                            o << ", most preempted by " << p.name;
                            break;
                        }
                    if (w.oncpu_ns > 0.9 * w.wall_ns)
                        o << " (it ran: the time went on work the host's scheduler cannot see, inside the guest"
                          << (t.technique.id == "kvm" && t.accel == "tcg" ? " or QEMU's TCG translation" : "") << ")";
                }
                o << "\n";
            }
        }
    // VM against container per density, as the paper compares them
    const DensityTechniqueResult *vm = nullptr, *ct = nullptr;
    for (const auto& t : r.techniques) {
        if (t.technique.id == "kvm") vm = &t;
        if (t.technique.id == "lxc") ct = &t;
    }
    if (vm && ct && !vm->steps.empty() && !ct->steps.empty()) {
        if (r.bench.io)
            o << "\nVM vs container (paper, Figure 3: \"the deterioration in performance is proportionate for the KVM and LXC. "
                 "However, KVM performance is lower than LXC by a near-constant factor\"";
        else
            o << "\nVM vs container (paper: \"the differences in execution time are very small, 8.6 % in the worst case\"";
        o << (vm->accel == "tcg" ? "; here the VM runs under TCG, an emulator, so its figures are not comparable with KVM's" : "")
          << "):\n";
        const DensityStep &vm1 = vm->steps.front(), &ct1 = ct->steps.front();
        std::vector<double> factors;
        for (const auto& a : vm->steps)
            for (const auto& b : ct->steps) {
                const double fa = figure_of(a).mean, fb = figure_of(b).mean;
                if (a.guests != b.guests || fa <= 0 || fb <= 0) continue;
                const double sa = slowdown_of(a, vm1), sb = slowdown_of(b, ct1);
                o << "  " << a.guests << (a.guests == 1 ? " guest" : " guests") << ": VM "
                  << fmt("%+.1f", 100 * (fa / fb - 1)) << (r.bench.io ? " % ops/s" : " % time") << " against the container; slowed x"
                  << fmt("%.2f", sa) << " against x" << fmt("%.2f", sb) << " (the slowdowns differ by "
                  << fmt("%+.1f", 100 * (sa / sb - 1)) << " %)\n";
                factors.push_back(fa / fb);
            }
        if (r.bench.io && factors.size() >= 2) {
            // the paper's "near-constant factor": how much the VM's fraction of the container's ops/s moves
            const auto [lo, hi] = std::minmax_element(factors.begin(), factors.end());
            o << "  the VM's ops/s are x" << fmt("%.2f", *lo) << " to x" << fmt("%.2f", *hi)
              << " the container's across densities (a constant factor would keep them equal)\n";
        }
    }
    return o.str();
}

std::string render_svg(const DensityResult& r) {
    PlotSpec p;
    p.title = r.bench.io ? "fileserver: ops/s as guests are added (Figure 3; higher is better)"
                         : r.bench.name + ": seconds per run as guests are added (Figures 1-2; lower is better)";
    p.x_label = "guests per host CPU (" + std::to_string(r.cpus) + " CPUs; the others busy-loop)";
    p.y_label = r.bench.io ? "operations per second (mean, 95 % CI)" : "seconds per run (mean, 95 % CI)";
    double xmin = INFINITY, xmax = -INFINITY;
    for (const auto& t : r.techniques)
        for (const auto& s : t.steps) {
            xmin = std::min(xmin, s.per_cpu);
            xmax = std::max(xmax, s.per_cpu);
        }
    for (const auto& t : r.techniques) {
        PlotLine l;
        l.label = t.technique.label;
        for (const auto& s : t.steps) {
            l.points.push_back({s.per_cpu, figure_of(s).mean});
            l.err.push_back(figure_of(s).ci95);
        }
        // native is measured alone: a level to compare the single guests with
        if (!t.technique.driver && t.technique.id == "native" && l.points.size() == 1 && xmax > xmin) {
            l.label += " (alone)";
            l.dashed = true;
            const double y = l.points.front().second, e = l.err.front();
            l.points = {{xmin, y}, {xmax, y}};
            l.err = {e, 0};
        }
        p.lines.push_back(std::move(l));
    }
    return render_line_plot_svg(p);
}

}  // namespace ht
