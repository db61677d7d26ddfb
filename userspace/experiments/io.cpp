// SPDX-License-Identifier: MIT
#include "experiments/io.h"
#include "experiments/launch.h"

#include "core/base/clock.h"
#include "core/host/console.h"
#include "core/base/error.h"
#include "core/base/setting.h"
#include "core/host/files.h"
#include "core/host/interrupt.h"
#include "core/tracing/kvm_names.h"
#include "core/host/proc.h"
#include "core/host/spawn.h"
#include "core/views/report.h"

#include <algorithm>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace ht {
namespace {

// `until_stopped` (runs auto): `runs` is the most it makes; hypetrace ends it once settled.
std::string run_script(unsigned runs, unsigned runtime_s, bool until_stopped = false) {
    std::ostringstream s;
    s << "#!/bin/sh\n"
         "# hypetrace io: runs job.fio " << (until_stopped ? "up to " : "") << runs
      << " times" << (until_stopped ? " (hypetrace ends it once its figures settle)" : "")
      << " in a scratch directory; each run's fio JSON\n"
         "# goes to stdout between markers. In a VM (its job disk is /dev/vdb) each run is also marked\n"
         "# on port 0x404, which hypetrace's BPF programs see as a phase of the guest under KVM.\n"
         "work=${HT_IO_DIR:-/var/tmp/ht-io}\n"
         "mark() { [ -b /dev/vdb ] && [ -c /dev/port ] && printf \"\\\\$1\" | dd of=/dev/port bs=1 seek=1028 count=1 2>/dev/null; }\n"
         "i=1\n"
         "while [ $i -le " << runs << " ]; do\n"
         "  rm -rf \"$work\"; mkdir -p \"$work\"\n"
         "  mark 001\n"
         "  HT_IO_DIR=\"$work\" HT_IO_RUNTIME=" << runtime_s << " fio --output-format=json --output=\"$work.json\" job.fio >/dev/null 2>\"$work.err\"\n"
         "  rc=$?\n"
         "  mark 002\n"
         "  echo \"" << kIoResultBegin << "$i $rc\"\n"
         "  cat \"$work.json\"; echo\n"
         "  [ $rc = 0 ] || head -c 500 \"$work.err\"\n"
         "  echo \"" << kIoResultEnd << "\"\n"
         "  i=$((i + 1))\n"
         "done\n"
         "rm -rf \"$work\" \"$work.json\" \"$work.err\"\n";
    return s.str();
}

// utime/stime (ticks) of every thread of a process, by tid, with its name.
std::map<pid_t, std::pair<std::string, std::pair<uint64_t, uint64_t>>> thread_times(pid_t pid) {
    std::map<pid_t, std::pair<std::string, std::pair<uint64_t, uint64_t>>> out;
    const std::string base = "/proc/" + std::to_string(pid) + "/task";
    if (DIR* d = opendir(base.c_str())) {
        while (dirent* e = readdir(d)) {
            if (e->d_name[0] == '.') continue;
            if (auto st = read_text(base + "/" + e->d_name + "/stat"))
                if (auto ps = parse_proc_stat(*st)) out[ps->pid] = {ps->comm, {ps->utime_ticks, ps->stime_ticks}};
        }
        closedir(d);
    }
    return out;
}

// The complete results in run.sh's output, as far as it came (a result whose end marker has not
// arrived yet is left for later), in order. A failed fio run throws, named by fio's stderr.
std::vector<std::vector<FioJobResult>> parse_results(std::string output, const std::string& label) {
    std::vector<std::vector<FioJobResult>> runs;
    output.erase(std::remove(output.begin(), output.end(), '\r'), output.end());
    for (std::size_t p = 0; (p = output.find(kIoResultBegin, p)) != std::string::npos;) {
        auto line_end = output.find('\n', p);
        auto end = output.find(kIoResultEnd, line_end);
        if (line_end == std::string::npos || end == std::string::npos) break;
        std::istringstream hdr(output.substr(p + std::strlen(kIoResultBegin), line_end - p));
        int run = 0, rc = -1;
        hdr >> run >> rc;
        std::string body = output.substr(line_end + 1, end - line_end - 1);
        auto jobs = parse_fio_json(body);
        if (rc != 0 || jobs.empty()) {
            // fio's stderr follows its JSON: say that, not the JSON
            auto close = body.rfind("\n}");
            std::string err = close == std::string::npos ? body : body.substr(close + 2);
            while (!err.empty() && (err.front() == '\n' || err.front() == ' ')) err.erase(0, 1);
            std::replace(err.begin(), err.end(), '\n', ' ');
            for (const auto& j : jobs)
                if (j.error) err = "job " + j.name + " error " + std::to_string(j.error) + " (" + std::strerror(j.error) + "); " + err;
            throw UserError(label + ": fio run " + std::to_string(run) + " failed (exit " + std::to_string(rc) +
                            "): " + err.substr(0, 300));
        }
        runs.push_back(jobs);
        p = end;
    }
    return runs;
}

// The figures runs auto settles on: each section's ops/s over `runs`.
std::vector<Summary> ops_figures(const std::vector<std::vector<FioJobResult>>& runs) {
    std::map<std::string, std::vector<double>> ops;
    for (const auto& run : runs)
        for (const auto& j : run) ops[j.name].push_back(j.ops());
    std::vector<Summary> out;
    for (const auto& [k, v] : ops) out.push_back(ht::summarize(v));
    return out;
}

void summarize(IoTechniqueResult& t) {
    std::map<std::string, std::vector<double>> ops, p99;
    for (const auto& run : t.runs)
        for (const auto& j : run) {
            ops[j.name].push_back(j.ops());
            p99[j.name].push_back(j.read_iops > 0 ? j.read_p99_us : j.write_p99_us);
        }
    for (auto& [k, v] : ops) t.ops_per_s[k] = ht::summarize(v);
    for (auto& [k, v] : p99) t.p99_us[k] = ht::summarize(v);
}

}  // namespace

std::string fileserver_fio_job(const std::string& comment) {
    return comment +
           "[global]\n"
           "directory=${HT_IO_DIR}\n"
           "ioengine=psync\n"
           "time_based=1\n"
           "runtime=${HT_IO_RUNTIME}\n"
           "group_reporting=1\n"
           "\n"
           "[fileserver]\n"
           "rw=randrw\n"
           "rwmixread=50\n"
           "bs=16k\n"
           "nrfiles=64\n"
           "filesize=128k\n"
           "file_service_type=random\n"
           "fsync_on_close=1\n"
           "unlink=1\n"
           "numjobs=2\n";
}

std::string default_fio_job() {
    return fileserver_fio_job("; hypetrace io's default workload, shaped like filebench's fileserver personality (many\n"
                              "; small files created, written, read and deleted by a few threads), then small random reads.\n"
                              "; ${HT_IO_DIR} and ${HT_IO_RUNTIME} are set by the runner.\n") +
           "\n"
           "[randread]\n"
           "stonewall\n"
           "rw=randread\n"
           "bs=4k\n"
           "size=32m\n";
}

int run_native_io_job(const std::filesystem::path& job_dir, const std::filesystem::path& output,
                      const std::filesystem::path& work_dir, const std::function<bool()>& go_on) {
    SpawnOptions o;
    o.stdout_path = output.string();
    o.stderr_path = o.stdout_path;
    o.env = {{"HT_IO_DIR", work_dir.string()}};
    const std::vector<std::string> argv{"sh", "-c", "cd \"$1\" && exec sh ./run.sh", "sh", job_dir.string()};
    if (!go_on) return run_and_wait(argv, o);
    // run_and_wait's loop, asking go_on too; the child (its own process group: fio's workers
    // with it) is ended on every way out
    Child c = spawn(argv, o);
    try {
        for (;;) {
            int status = 0;
            if (child_exited(c.pid, &status))
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            throw_if_interrupted();
            if (!go_on()) {
                terminate(c.pid);
                return 0;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    } catch (...) {
        terminate(c.pid);
        throw;
    }
}

GuestSpec io_guest_spec(const IoConfig& cfg) {
    return make_guest_spec(Variant::full, cfg.images, cfg.accel, RootfsMode::shared);
}

void preflight_io(const IoConfig& cfg) {
    for (const auto& t : cfg.techniques)
        if (t.driver) t.driver->preflight(io_guest_spec(cfg));
}

IoResult run_io(TraceBackend& tracer, const HostInfo& host, const IoConfig& cfg) {
    IoResult res;
    res.host = host;
    res.started_at = utc_now();
    res.job_name = cfg.job_name;
    res.job_text = cfg.job_text;
    res.runs = cfg.runs;
    res.runtime_s = cfg.runtime_s;
    res.auto_runs = cfg.auto_runs;
    res.sources = tracer.sources();
    unsigned sections = 0;
    for (std::size_t p = 0; (p = cfg.job_text.find("\n[", p)) != std::string::npos; ++p)
        if (cfg.job_text.compare(p, 9, "\n[global]") != 0) ++sections;
    const bool autorun = cfg.auto_runs.on;
    // runs auto: run.sh loops up to the most it may make; hypetrace ends it before, once settled
    const unsigned script_runs = autorun ? std::max<unsigned>(cfg.auto_runs.max_runs, kSettleMinRuns) : cfg.runs;
    auto job_timeout_for = [&](double runs) { return runs * (double(std::max(1u, sections)) * (cfg.runtime_s + 30.0)) + 120; };
    // auto: its minimum of runs must come back in time, the time cap ends it after that
    const double job_timeout = autorun ? std::max(job_timeout_for(kSettleMinRuns), cfg.auto_runs.max_time_s + 120)
                                       : job_timeout_for(cfg.runs);
    uint32_t guest_id = 1;
    for (const auto& t : cfg.techniques) {
        auto say = [&](const std::string& m) {
            if (cfg.progress) cfg.progress("[" + t.id + "] " + m);
        };
        IoTechniqueResult tr;
        tr.technique = t;
        ScratchDir dir(cfg.scratch_parent, "io-" + t.id + "-" + std::to_string(getpid()));
        const auto job = dir.path() / "job";
        const auto marks_file = dir.path() / kMarksFile;
        std::filesystem::create_directories(job);
        write_file_atomic(job / "job.fio", cfg.job_text);
        write_file_atomic(job / "run.sh", run_script(script_runs, cfg.runtime_s, autorun));
        const uint32_t gid = guest_id++;
        tracer.begin_run(mono_ns());
        std::string output;
        std::unique_ptr<Guest> guest;
        uint64_t begin_ns = 0, end_ns = 0;
        // Runs auto, at every look at the job: the complete runs so far and, each time one more
        // came back, what the host side counted up to it (a VM's /proc figures, the tracer's
        // counters), so that a job ended mid-run is reported over its complete runs only (what
        // the next run did in the poll interval before is counted with them, 20 ms at most).
        std::vector<CounterSample> counted;  // the job's counters, drained run by run (auto)
        std::map<std::string, uint64_t> io0, io_seen;
        std::map<pid_t, std::pair<std::string, std::pair<uint64_t, uint64_t>>> th0, th_seen;
        std::size_t complete = 0;
        std::uintmax_t seen_size = 0;
        bool stopped = false;  // auto ended the job
        auto go_on = [&]() -> bool {
            std::error_code ec;
            const auto size = std::filesystem::file_size(marks_file, ec);
            if (!ec && size != seen_size) {
                seen_size = size;
                std::vector<std::vector<FioJobResult>> runs;
                try {
                    runs = parse_results(read_text(marks_file.string()).value_or(""), t.label);
                } catch (const UserError&) {
                    // a failed fio run: the job is ended and the run too, then the output read
                    // once more says which, as when the job ends by itself
                    stopped = true;
                    if (!end_ns) end_ns = mono_ns();
                    return false;
                }
                if (runs.size() > complete) {
                    complete = runs.size();
                    end_ns = mono_ns();
                    for (auto& c : tracer.drain_counters()) counted.push_back(c);
                    if (guest && guest->kind() == GuestKind::vm) {
                        io_seen = read_proc_io(guest->main_pid());
                        th_seen = thread_times(guest->main_pid());
                    }
                    tr.runs = runs;
                    say("run " + std::to_string(complete) + " done (until settled)");
                }
            }
            const auto end = auto_runs_end(cfg.auto_runs, complete, double(mono_ns() - begin_ns) / 1e9, ops_figures(tr.runs));
            if (!end) return true;
            tr.runs_end = *end;
            stopped = true;
            say(runs_end_note(*end, complete, cfg.auto_runs));
            return false;
        };
        if (!t.driver) {  // native: the runner as a child of hypetrace
            say("running fio natively");
            ArmedSpawner armed(&tracer, gid);
            begin_ns = mono_ns();
            int rc = cfg.native_runner(job, marks_file, dir.path() / "work",
                                       autorun ? std::function<bool()>(go_on) : std::function<bool()>());
            if (!stopped) end_ns = mono_ns();
            armed.disarm();
            if (rc != 0 && !stopped) throw UserError("the native fio runner failed (exit " + std::to_string(rc) + ")");
            output = read_text(marks_file.string()).value_or("");
        } else {
            GuestSpec spec = io_guest_spec(cfg);
            spec.name = "ht-io-" + t.id + "-" + std::to_string(getpid());
            spec.run_dir = dir.path();
            spec.job_dir = job;
            guest = t.driver->create(spec);
            auto marks = guest->milestones();
            marks.push_back({"marks", kJobBeginMarker, "job_begin"});
            marks.push_back({"marks", kJobEndMarker, "job_end"});
            ConsoleWatcher w(spec.run_dir, guest->console_files(), marks);
            guest->prepare();
            say("booting");
            // until the guest starts its job
            const double boot_limit =
                cfg.boot_timeout_s > 0 ? cfg.boot_timeout_s : default_ready_timeout_s(guest->kind(), cfg.accel);
            LaunchOptions boot;
            boot.watcher = &w;
            boot.milestone = "job_begin";
            boot.timeout_s = boot_limit;
            boot.timeout_from = LaunchOptions::From::started;
            boot.pause = [](uint64_t) { std::this_thread::sleep_for(std::chrono::milliseconds(20)); };
            const Launched l = launch_guest(&tracer, gid, *guest, boot);
            if (l.outcome == Launched::Outcome::died) throw UserError(t.label + " guest died: " + l.last_output);
            if (!l.ready())
                throw UserError(t.label + ": the guest did not start its job within " + fmt("%.0f", boot_limit) +
                                " s (" + ref(Setting::boot_timeout) + ")");
            begin_ns = l.ready_ns;
            if (guest->kind() == GuestKind::vm) {
                io0 = read_proc_io(guest->main_pid());
                th0 = thread_times(guest->main_pid());
            }
            if (guest->kind() == GuestKind::vm && cfg.accel == Accel::kvm) {
                // which device owns which port and address, to name the exits after: read
                // now, once the guest has placed its PCI devices' BARs (at start they are
                // not mapped yet, and a virtio disk's notify region reads "unassigned")
                try {
                    if (auto m = guest->device_map()) tr.mtree = *m;
                } catch (const UserError& e) {
                    say(std::string("QEMU's memory tree not read (exits named by address only): ") + e.what());
                }
            }
            tracer.poll_events(0);
            tracer.drain_counters();  // the boot's: not the job's
            say(autorun ? "ready; fio running (until settled: at least " + std::to_string(kSettleMinRuns) +
                              " runs, at most " + std::to_string(script_runs) + ")"
                        : "ready; fio running (" + std::to_string(cfg.runs) + " runs)");
            // until the job ends (auto: or is settled)
            for (;;) {
                if (auto h = w.hit("job_end")) {
                    end_ns = h->ts_ns;
                    break;
                }
                if (!guest->alive()) throw UserError(t.label + " guest died: " + guest->failure_hint());
                if (autorun && !go_on()) break;
                if (double(mono_ns() - begin_ns) / 1e9 > job_timeout)
                    throw UserError(t.label + ": the fio job did not finish within " + fmt("%.0f", job_timeout) + " s");
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                throw_if_interrupted();
                w.poll();
            }
            if (guest->kind() == GuestKind::vm) {
                auto io1 = stopped ? io_seen : read_proc_io(guest->main_pid());
                tr.syscr = io1["syscr"] - io0["syscr"];
                tr.syscw = io1["syscw"] - io0["syscw"];
                tr.read_bytes = io1["read_bytes"] - io0["read_bytes"];
                tr.write_bytes = io1["write_bytes"] - io0["write_bytes"];
                const double hz = double(sysconf(_SC_CLK_TCK));
                std::map<std::string, ThreadCpu> by_name;
                for (const auto& [tid, v] : stopped ? th_seen : thread_times(guest->main_pid())) {
                    auto it = th0.find(tid);
                    uint64_t u0 = it == th0.end() ? 0 : it->second.second.first;
                    uint64_t s0 = it == th0.end() ? 0 : it->second.second.second;
                    ThreadCpu& c = by_name[v.first];
                    c.comm = v.first;
                    c.user_s += double(v.second.first - u0) / hz;
                    c.sys_s += double(v.second.second - s0) / hz;
                }
                for (auto& [n, c] : by_name) {
                    tr.host_cpu_s += c.user_s + c.sys_s;
                    if (c.user_s + c.sys_s > 0) tr.threads.push_back(c);
                }
                std::sort(tr.threads.begin(), tr.threads.end(),
                          [](const ThreadCpu& a, const ThreadCpu& b) { return a.user_s + a.sys_s > b.user_s + b.sys_s; });
                tr.accel = to_string(cfg.accel);
            }
            tracer.poll_events(0);
            output = read_text(marks_file.string()).value_or("");
        }
        tr.job_s = double(end_ns - begin_ns) / 1e9;
        // ended by auto: what was counted after its last complete run is the unfinished run's
        const auto rest = tracer.drain_counters();
        if (!stopped) counted.insert(counted.end(), rest.begin(), rest.end());
        for (const auto& c : counted) {
            if (c.guest != gid) continue;
            if (c.kind == CounterKind::fault_user || c.kind == CounterKind::fault_kernel) tr.faults += c.value;
            else tr.exits.add(c);
        }
        if (RunSink* sink = tracer.sink()) {  // --trace
            sink->name_guest(gid, t.label);
            sink->span(t.label, "fio job", begin_ns, end_ns);
        }
        tr.lost.add(tracer.end_run());
        if (guest) guest->stop();
        tr.runs = parse_results(output, t.label);
        if (stopped) {
            tr.runs.resize(complete);  // one may have come back since: the host side is counted to the last seen
        } else {
            if (tr.runs.size() != script_runs)
                throw UserError(t.label + ": " + std::to_string(tr.runs.size()) + " of " + std::to_string(script_runs) +
                                " fio results came back");
            // auto, the job done before it was seen to settle: how it ended, at its last run
            if (autorun) {
                tr.runs_end = auto_runs_end(cfg.auto_runs, tr.runs.size(), tr.job_s, ops_figures(tr.runs))
                                  .value_or(RunsEnd::run_cap);
                say(runs_end_note(tr.runs_end, tr.runs.size(), cfg.auto_runs));
            }
        }
        summarize(tr);
        std::string line = "done:";
        for (const auto& [k, s] : tr.ops_per_s) line += " " + k + " " + fmt("%.0f", s.mean) + " ops/s";
        say(line);
        res.techniques.push_back(std::move(tr));
    }
    return res;
}

nlohmann::json to_json(const IoResult& r) {
    nlohmann::json techs = nlohmann::json::array();
    for (const auto& t : r.techniques) {
        nlohmann::json runs = nlohmann::json::array();
        for (const auto& run : t.runs) {
            nlohmann::json jobs = nlohmann::json::array();
            for (const auto& j : run)
                jobs.push_back({{"name", j.name}, {"read_iops", j.read_iops}, {"write_iops", j.write_iops},
                                {"read_bw_kib", j.read_bw_kib}, {"write_bw_kib", j.write_bw_kib},
                                {"read_p50_us", j.read_p50_us}, {"read_p99_us", j.read_p99_us},
                                {"write_p50_us", j.write_p50_us}, {"write_p99_us", j.write_p99_us}});
            runs.push_back(jobs);
        }
        nlohmann::json sums = nlohmann::json::object();
        for (const auto& [k, s] : t.ops_per_s)
            sums[k] = {{"ops_per_s", {{"mean", s.mean}, {"ci95", s.ci95}, {"noisy", noisy(s)}}},
                       {"p99_us", {{"mean", t.p99_us.at(k).mean}, {"ci95", t.p99_us.at(k).ci95},
                                   {"noisy", noisy(t.p99_us.at(k))}}}};
        nlohmann::json threads = nlohmann::json::array();
        for (const auto& c : t.threads) threads.push_back({{"thread", c.comm}, {"user_s", c.user_s}, {"sys_s", c.sys_s}});
        auto kv = [](const std::map<uint64_t, uint64_t>& m) {
            nlohmann::json a = nlohmann::json::array();
            for (auto [k, v] : m) a.push_back({{"key", k}, {"count", v}});
            return a;
        };
        techs.push_back({{"id", t.technique.id},
                         {"label", t.technique.label},
                         {"accel", t.accel},
                         {"runs", runs},
                         {"summary", sums},
                         {"runs_end", to_string(t.runs_end)},
                         {"job_s", t.job_s},
                         {"losses", losses_json(t.lost)},
                         {"host_side",
                          {{"cpu_s", t.host_cpu_s},
                           {"threads", threads},
                           {"syscalls_read", t.syscr},
                           {"syscalls_write", t.syscw},
                           {"read_bytes", t.read_bytes},
                           {"write_bytes", t.write_bytes},
                           {"page_faults", t.faults}}},
                         {"exits", {{"pio", kv(t.exits.pio)}, {"mmio", kv(t.exits.mmio)},
                                    {"to_qemu", kv(t.exits.user_exits)}, {"kvm_exit", kv(t.exits.kvm_exits)},
                                    {"kvm_exit_ns", kv(t.exits.kvm_exit_ns)}, {"kvm_runs", t.exits.kvm_runs},
                                    {"kvm_run_ns", t.exits.kvm_run_ns}, {"kvm_run_min_ns", t.exits.kvm_run_min_ns},
                                    {"kvm_run_max_ns", t.exits.kvm_run_max_ns},
                                    {"kvm_run_log2_ns", kv(t.exits.run_log2)}}}});
    }
    return {{"schema", kIoSchemaVersion}, {"tool", "hypetrace io"},       {"started_at", r.started_at},
            {"host", host_json(r.host)},  {"job_name", r.job_name},      {"job", r.job_text},
            {"runs", r.auto_runs.on ? nlohmann::json("auto") : nlohmann::json(r.runs)},
            {"auto", r.auto_runs.on ? nlohmann::json{{"min_runs", kSettleMinRuns},
                                                     {"max_runs", std::max<unsigned>(r.auto_runs.max_runs, kSettleMinRuns)},
                                                     {"max_time_s", r.auto_runs.max_time_s}}
                                    : nlohmann::json(nullptr)},
            {"runtime_s", r.runtime_s},    {"techniques", techs},
            {"sources", sources_json(r.sources)}};
}

std::string render_text(const IoResult& r) {
    std::ostringstream o;
    Losses lost;
    for (const auto& t : r.techniques) lost.add(t.lost);
    o << loss_headline(lost);
    o << "hypetrace io: the same fio workload in each technique (paper section 2.2, Figure 3)\n";
    o << host_line(r.host) << "\n";
    if (r.auto_runs.on)
        o << "job: " << r.job_name << ", " << r.runtime_s << " s per section, run until each section's ops/s "
          << "interval is a tenth of its mean (" << ref(Setting::runs) << " auto: at least " << kSettleMinRuns
          << " runs, at most " << std::max<unsigned>(r.auto_runs.max_runs, kSettleMinRuns) << " or "
          << fmt("%g", r.auto_runs.max_time_s) << " s per technique)\n\n";
    else
        o << "job: " << r.job_name << ", " << r.runs << " runs of " << r.runtime_s << " s per section\n\n";
    const IoTechniqueResult* native = nullptr;
    const IoTechniqueResult* lxc = nullptr;
    for (const auto& t : r.techniques) {
        if (t.technique.id == "native") native = &t;
        if (t.technique.id == "lxc") lxc = &t;
    }
    std::vector<std::vector<std::string>> rows{{"technique", "section", "ops/s", "+-95%", "p99 us", "vs native"}};
    std::vector<std::string> wide;  // the noisy figures, said under the table
    for (const auto& t : r.techniques)
        for (const auto& [k, s] : t.ops_per_s) {
            std::string rel = "-";
            if (native && native->ops_per_s.count(k) && native->ops_per_s.at(k).mean > 0)
                // a ratio of a noisy figure is as noisy: flagged too
                rel = fmt("%.2f", s.mean / native->ops_per_s.at(k).mean) +
                      (noisy(s) || noisy(native->ops_per_s.at(k)) ? " !" : "");
            rows.push_back({t.technique.label, k, fmt("%.0f", s.mean) + (noisy(s) ? " !" : ""),
                            fmt("%.0f", s.ci95), fmt("%.0f", t.p99_us.at(k).mean), rel});
            if (noisy(s)) wide.push_back(t.technique.label + " " + k + " ops/s: " + noise_note(s));
        }
    o << render_table(rows, {false, false, true, true, true, true});
    for (const auto& n : wide) o << "  ! noisy: " << n << "\n";
    for (const auto& t : r.techniques)
        if (t.runs_end != RunsEnd::count)
            o << "  " << t.technique.label << ": " << runs_end_note(t.runs_end, t.runs.size(), r.auto_runs) << "\n";
    for (const auto& t : r.techniques) {
        if (t.threads.empty()) continue;
        double ops = 0;
        for (const auto& run : t.runs)
            for (const auto& j : run) ops += j.ops() * double(r.runtime_s);
        o << "\n" << t.technique.label << " host side over the job (" << fmt("%.1f", t.job_s) << " s): QEMU used "
          << fmt("%.1f", t.host_cpu_s) << " s of CPU";
        if (ops > 0) o << " (" << fmt("%.1f", t.host_cpu_s * 1e6 / ops) << " us per fio operation)";
        o << "; by thread:";
        std::size_t shown = 0;
        for (const auto& c : t.threads) {
            if (shown++ == 6) break;
            o << " " << c.comm << " " << fmt("%.2f", c.user_s) << "+" << fmt("%.2f", c.sys_s) << " s";
        }
        o << ".\n  QEMU's read-type and write-type syscalls (/proc/PID/io): " << t.syscr << " and " << t.syscw
          << (ops > 0 ? " (" + fmt("%.2f", double(t.syscr + t.syscw) / ops) + " per fio operation)" : "")
          << "; storage " << fmt("%.1f", double(t.read_bytes) / 1048576.0) << " MiB read, "
          << fmt("%.1f", double(t.write_bytes) / 1048576.0) << " MiB written; " << t.faults << " page faults.\n";
        const uint64_t exits = t.exits.total_user_exits();
        if (t.accel == "tcg") {
            o << "  Under TCG there are no VM exits: the guest's I/O costs QEMU CPU time instead (above).\n";
        } else if (ops > 0) {
            o << "  Exits to QEMU: " << exits << " (" << fmt("%.2f", double(exits) / ops) << " per fio operation) by reason:";
            for (auto [k, v] : t.exits.user_exits)
                o << " " << kvm_userspace_exit_name(uint32_t(k)) << " " << fmt("%.2f", double(v) / ops);
            const double in_run_us = double(t.exits.kvm_run_ns) / 1e3 / ops;
            o << ".\n  Per fio operation: " << fmt("%.1f", in_run_us) << " us inside KVM_RUN (guest and in-kernel exits)";
            if (t.exits.total_kvm_exits() == 0) {
                o << "; kvm:kvm_exit did not fire (KVM without VT-x/AMD-V, e.g. PVM): exits are seen only as they reach QEMU";
            } else {
                uint64_t ns = 0;
                for (auto [k, v] : t.exits.kvm_exit_ns) ns += v;
                // kvm_exit to the next kvm_entry: KVM's handling, and QEMU's for the exits it handles
                o << "; VM exits account for " << fmt("%.1f", double(ns) / 1e3 / ops) << " us ("
                  << fmt("%.2f", double(t.exits.total_kvm_exits()) / ops)
                  << " exits, each timed from the exit to re-entry, QEMU's handling included)";
            }
            o << ".\n";
            if (t.exits.kvm_runs) o << "  Time per KVM_RUN (guest entry to the exit QEMU handles): " << kvm_run_time_line(t.exits) << "\n";
            auto rows = exit_device_rows(t.exits, t.mtree, ops);
            if (!rows.empty()) {
                rows.insert(rows.begin(), {"kind", "port/address", "device", "per op", "total"});
                o << render_table(rows, {false, false, false, true, true});
            }
        }
    }
    if (lxc) {
        for (const auto& t : r.techniques) {
            if (t.technique.id != "kvm") continue;
            for (const auto& [k, s] : t.ops_per_s) {
                if (!lxc->ops_per_s.count(k) || s.mean <= 0 || lxc->ops_per_s.at(k).mean <= 0) continue;
                const double us_vm = 1e6 / s.mean, us_lxc = 1e6 / lxc->ops_per_s.at(k).mean;
                o << "\n" << k << ": the VM spends " << fmt("%.1f", us_vm - us_lxc) << " us more per operation than the "
                  << "container (" << fmt("%.1f", us_vm) << " vs " << fmt("%.1f", us_lxc) << " us)";
                if (t.accel == "tcg") o << "; no VM exits to attribute it to under TCG.";
                o << "\n";
            }
        }
    }
    return o.str();
}

}  // namespace ht
