// SPDX-License-Identifier: MIT
#include "experiments/paper.h"

#include "core/base/error.h"
#include "core/base/json_text.h"
#include "core/base/text.h"
#include "core/host/files.h"
#include "core/host/interrupt.h"
#include "core/host/spawn.h"
#include "core/views/report.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fcntl.h>
#include <map>
#include <poll.h>
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

namespace ht {

namespace fs = std::filesystem;

std::string fmt_duration(double s) {
    const long t = std::lround(std::max(0.0, s));
    char b[32];
    if (t >= 3600) {
        const long m = (t + 30) / 60;
        std::snprintf(b, sizeof b, "%ldh%02ldm", m / 60, m % 60);
    } else if (t >= 60) {
        std::snprintf(b, sizeof b, "%ldm%02lds", t / 60, t % 60);
    } else {
        std::snprintf(b, sizeof b, "%lds", t);
    }
    return b;
}

namespace {

// The levels' times were measured on 2 CPUs; a step with guests per CPU has cpus/2 times as many.
double level_cost(const PaperExperiment& e, const PaperLevel& l, const PaperHostFacts& h) {
    const double t = h.kvm ? l.kvm_s : l.tcg_s;
    return e.per_cpu ? t * std::max(1.0, h.cpus / 2.0) : t;
}

std::string expand(const std::string& t, const PaperExperiment& e, const fs::path& dir) {
    if (t == "{json}") return (dir / (e.name + ".json")).string();
    if (t == "{svg}") return (dir / (e.name + ".svg")).string();
    if (t.rfind("{dir}", 0) == 0) return dir.string() + t.substr(5);
    return t;
}

std::vector<std::string> step_args(const PaperExperiment& e, const PaperLevel& l, const fs::path& dir) {
    std::vector<std::string> a;
    for (const auto& t : l.args) a.push_back(expand(t, e, dir));
    for (const auto& t : e.outputs) a.push_back(expand(t, e, dir));
    return a;
}

}  // namespace

PaperPlan plan_paper(const std::string& budget, double budget_s, const PaperHostFacts& host,
                     const std::vector<PaperExperiment>& experiments, const fs::path& out_dir) {
    PaperPlan plan;
    plan.budget = budget;
    plan.budget_s = budget_s;
    plan.kvm = host.kvm;
    const bool full = budget_s <= 0;
    std::vector<int> level(experiments.size(), -1);  // -1: left out
    std::vector<std::string> why(experiments.size());
    double used = 0;
    // First pass: each at its smallest, in order, while it fits.
    for (std::size_t i = 0; i < experiments.size(); ++i) {
        const auto& e = experiments[i];
        if (e.needs_kvm && !host.kvm) {
            why[i] = "needs /dev/kvm, which this host lacks (the nested lab runs it under AMD-V: scripts/test-nested.sh)";
            continue;
        }
        const double c = level_cost(e, e.levels.front(), host);
        if (!full && used + c > budget_s) {
            why[i] = "left out: its smallest size takes about " + fmt_duration(c) + ", and " +
                     fmt_duration(std::max(0.0, budget_s - used)) + " of the " + budget + " budget was left";
            continue;
        }
        level[i] = 0;
        used += c;
    }
    // Then raise sizes one level at a time, in order, while the room lasts.
    for (bool raised = true; raised;) {
        raised = false;
        for (std::size_t i = 0; i < experiments.size(); ++i) {
            const auto& e = experiments[i];
            if (level[i] < 0 || level[i] + 1 >= int(e.levels.size())) continue;
            const double extra = level_cost(e, e.levels[level[i] + 1], host) - level_cost(e, e.levels[level[i]], host);
            if (!full && used + extra > budget_s) continue;
            ++level[i];
            used += extra;
            raised = true;
        }
    }
    for (std::size_t i = 0; i < experiments.size(); ++i) {
        const auto& e = experiments[i];
        PaperStep s;
        s.name = e.name;
        s.what = e.what;
        s.levels = unsigned(e.levels.size());
        if (level[i] < 0) {
            s.left_out = true;
            s.why = why[i];
            s.sizes = e.levels.front().sizes;
            plan.steps.push_back(s);
            continue;
        }
        const auto& l = e.levels[level[i]];
        s.level = unsigned(level[i] + 1);
        s.args = step_args(e, l, out_dir);
        for (const auto& t : e.outputs)
            if (t == "{dir}/" + e.name) s.own_dir = (out_dir / e.name).string();
        for (const auto& cmd : e.after) {
            s.after.emplace_back();
            for (const auto& t : cmd) s.after.back().push_back(expand(t, e, out_dir));
        }
        s.sizes = l.sizes;
        s.estimate_s = level_cost(e, l, host);
        plan.estimate_s += s.estimate_s;
        if (s.level == s.levels)
            s.why = s.levels == 1 ? "its only size" : "its largest size";
        else
            s.why = "the next size (" + e.levels[level[i] + 1].sizes + ") would take about " +
                    fmt_duration(level_cost(e, e.levels[level[i] + 1], host)) + ", more than the " + budget +
                    " budget had left";
        plan.steps.push_back(s);
    }
    return plan;
}

nlohmann::json to_json(const PaperPlan& plan) {
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& s : plan.steps)
        steps.push_back({{"name", s.name},
                         {"what", s.what},
                         {"args", s.args},
                         {"after", s.after},
                         {"own_dir", s.own_dir},
                         {"sizes", s.sizes},
                         {"estimate_s", s.estimate_s},
                         {"level", s.level},
                         {"levels", s.levels},
                         {"why", s.why},
                         {"left_out", s.left_out}});
    return {{"budget", plan.budget},
            {"budget_s", plan.budget_s},
            {"accel", plan.kvm ? "kvm" : "tcg"},
            {"estimate_s", plan.estimate_s},
            {"steps", steps}};
}

PaperPlan plan_from_json(const nlohmann::json& j) {
    PaperPlan p;
    try {
        p.budget = j.at("budget").get<std::string>();
        p.budget_s = j.at("budget_s").get<double>();
        p.kvm = j.at("accel").get<std::string>() == "kvm";
        p.estimate_s = j.at("estimate_s").get<double>();
        for (const auto& s : j.at("steps")) {
            PaperStep st;
            st.name = s.at("name").get<std::string>();
            st.what = s.at("what").get<std::string>();
            st.args = s.at("args").get<std::vector<std::string>>();
            st.after = s.value("after", std::vector<std::vector<std::string>>{});
            st.own_dir = s.value("own_dir", "");
            st.sizes = s.at("sizes").get<std::string>();
            st.estimate_s = s.at("estimate_s").get<double>();
            st.level = s.at("level").get<unsigned>();
            st.levels = s.at("levels").get<unsigned>();
            st.why = s.at("why").get<std::string>();
            st.left_out = s.at("left_out").get<bool>();
            if (st.name.empty() || st.name.find('/') != std::string::npos || (!st.left_out && st.args.empty()))
                throw std::runtime_error("step " + st.name);
            p.steps.push_back(std::move(st));
        }
    } catch (const std::exception& e) {
        throw UserError(std::string("the plan in paper.json is not one hypetrace wrote (") + e.what() + ")");
    }
    return p;
}

std::vector<bool> paper_steps_done(const PaperPlan& plan, const fs::path& dir) {
    std::vector<bool> done;
    for (const auto& s : plan.steps) {
        std::error_code ec;
        done.push_back(!s.left_out && fs::is_regular_file(dir / (s.name + ".json"), ec) &&
                       (s.own_dir.empty() || fs::is_directory(s.own_dir, ec)));
    }
    return done;
}

namespace {

nlohmann::json runs_json(const std::vector<PaperStepRun>& runs) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& r : runs)
        a.push_back({{"name", r.name},
                     {"status", r.status},
                     {"seconds", r.seconds},
                     {"exit_code", r.exit_code},
                     {"error", r.error}});
    return a;
}

// Reads what a child appended to its log since `offset`, hands out each whole line, and keeps the
// last non-empty one (a failed step's error).
struct LogTail {
    fs::path path;
    off_t offset = 0;
    std::string partial, last;
    void pump(const std::function<void(const std::string&)>& out) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return;
        char buf[8192];
        for (;;) {
            const ssize_t n = ::pread(fd, buf, sizeof buf, offset);
            if (n <= 0) break;
            offset += n;
            partial.append(buf, std::size_t(n));
        }
        ::close(fd);
        for (std::size_t nl; (nl = partial.find('\n')) != std::string::npos;) {
            std::string line = partial.substr(0, nl);
            partial.erase(0, nl + 1);
            if (!line.empty()) last = line;
            if (out) out(line);
        }
    }
};

struct ChildEnd {
    int status = 0, exit_code = 0, signal = 0;
    bool interrupted = false, killed = false;
    std::string last;  // its last non-empty line on stderr
};

// Runs one child hypetrace, its stdout appended to `out`, its stderr to `log` (handed out line by
// line as it grows); on a signal to us, the child is stopped (it cleans up on SIGTERM as on
// Ctrl-C: stopping guests and restoring KSM can take a while, so it gets a minute before SIGKILL).
ChildEnd run_child(const std::vector<std::string>& argv, const fs::path& out, const fs::path& log,
                   const std::function<void(const std::string&)>& line,
                   const std::function<void(const std::string&)>& progress) {
    SpawnOptions so;
    so.stdout_path = out.string();
    so.stderr_path = log.string();
    so.own_process_group = true;
    so.die_with_parent = true;
    LogTail tail;
    tail.path = log;
    std::error_code ec;
    tail.offset = off_t(fs::exists(log, ec) ? fs::file_size(log, ec) : 0);
    Child child = spawn(argv, so);
    // However this returns or unwinds, the child is not left running.
    struct Reaper {
        pid_t pid;
        bool reaped = false;
        ~Reaper() {
            if (!reaped) terminate(pid, std::chrono::seconds(60));
        }
    } reaper{child.pid};
    ChildEnd end;
    for (;;) {
        tail.pump(line);
        if (child_exited(child.pid, &end.status)) break;
        if (interrupted()) {
            if (progress) progress("stopping " + argv.at(1) + " (it stops its guests and restores host settings; up to 60 s)");
            end.status = terminate(child.pid, std::chrono::seconds(60));
            end.interrupted = true;
            end.signal = interrupt_signal();
            break;
        }
        pollfd p{interrupt_fd(), POLLIN, 0};
        ::poll(&p, 1, 250);
    }
    reaper.reaped = true;
    tail.pump(line);
    if (!tail.partial.empty()) {
        if (line) line(tail.partial);
        tail.last = tail.partial;
    }
    end.exit_code = WIFEXITED(end.status) ? WEXITSTATUS(end.status) : 128 + WTERMSIG(end.status);
    end.killed = WIFSIGNALED(end.status) && WTERMSIG(end.status) == SIGKILL;
    end.last = tail.last;
    return end;
}

}  // namespace

double paper_eta_s(double left_s, double estimated_s, double took_s, double plan_s) {
    const double prior = std::max(0.0, plan_s) / 2;
    if (estimated_s + prior <= 0) return left_s;
    return left_s * std::clamp((took_s + prior) / (estimated_s + prior), 0.5, 3.0);
}

PaperRunResult run_paper(const PaperPlan& plan, const PaperRunOptions& o) {
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    PaperRunResult result;
    const std::vector<bool> done = o.resume ? paper_steps_done(plan, o.dir) : std::vector<bool>(plan.steps.size(), false);
    const std::string started = utc_now();
    // A resumed run keeps what the earlier one measured of the steps it keeps.
    std::map<std::string, double> earlier_s;
    if (o.resume && o.earlier.is_object() && o.earlier.contains("runs") && o.earlier["runs"].is_array())
        for (const auto& r : o.earlier["runs"])
            if (r.is_object() && step_has_result(r.value("status", "")) &&
                r.contains("seconds") && r["seconds"].is_number())
                earlier_s[r.value("name", "")] = r["seconds"].get<double>();
    auto save = [&] {
        nlohmann::json j{{"schema", 1},
                         {"tool", "hypetrace paper"},
                         {"started_at", started},
                         {"plan", to_json(plan)},
                         {"runs", runs_json(result.steps)},
                         {"seconds", std::chrono::duration<double>(clock::now() - t0).count()}};
        write_file_atomic(o.dir / "paper.json", dump_json(j, 2) + "\n");
    };
    // What is left, in estimated seconds, scaled by how the steps run so far compared with theirs.
    double est_done = 0, took_done = 0, plan_s = 0;
    for (std::size_t k = 0; k < plan.steps.size(); ++k)
        if (!plan.steps[k].left_out && !done[k]) plan_s += plan.steps[k].estimate_s;
    auto eta = [&](std::size_t from) {
        double left = 0;
        for (std::size_t k = from; k < plan.steps.size(); ++k)
            if (!plan.steps[k].left_out && !done[k]) left += plan.steps[k].estimate_s;
        return paper_eta_s(left, est_done, took_done, plan_s);
    };
    std::size_t to_run = 0;
    for (std::size_t k = 0; k < plan.steps.size(); ++k) to_run += !plan.steps[k].left_out && !done[k];
    std::size_t ordinal = 0;
    for (std::size_t k = 0; k < plan.steps.size(); ++k) {
        if (interrupted()) {  // between two steps: the next one is not started
            result.interrupted = true;
            result.signal = interrupt_signal();
            break;
        }
        const PaperStep& s = plan.steps[k];
        PaperStepRun r;
        r.name = s.name;
        if (s.left_out) {
            r.status = "left out";
            r.error = s.why;
            result.steps.push_back(r);
            continue;
        }
        if (done[k]) {
            r.status = "done before";
            if (auto it = earlier_s.find(s.name); it != earlier_s.end()) r.seconds = it->second;
            result.steps.push_back(r);
            if (o.progress) o.progress(s.name + ": kept from the earlier run (" + s.name + ".json)");
            continue;
        }
        ++ordinal;
        if (o.progress) {
            const auto finish_at = std::chrono::system_clock::now() + std::chrono::seconds(long(eta(k)));
            const std::time_t tt = std::chrono::system_clock::to_time_t(finish_at);
            char hhmm[16];
            std::strftime(hhmm, sizeof hhmm, "%H:%M", std::localtime(&tt));
            o.progress("[" + std::to_string(ordinal) + "/" + std::to_string(to_run) + "] " + s.name + ": " + s.sizes +
                       " (about " + fmt_duration(s.estimate_s) + "; all done in about " + fmt_duration(eta(k)) +
                       ", at " + hhmm + ")");
        }
        const fs::path txt = o.dir / (s.name + ".txt"), log = o.dir / (s.name + ".log");
        const fs::path json = o.dir / (s.name + ".json"), svg = o.dir / (s.name + ".svg");
        std::error_code ec;
        // What an earlier run of this step left (cut short, or from another run) is not this run's.
        for (const auto& f : {txt, log, json, svg}) fs::remove(f, ec);
        if (!s.own_dir.empty()) fs::remove_all(s.own_dir, ec);
        const auto ts = clock::now();
        ChildEnd end;
        try {
            std::vector<std::string> argv{o.self};
            argv.insert(argv.end(), s.args.begin(), s.args.end());
            end = run_child(argv, txt, log, o.child_line, o.progress);
            for (std::size_t c = 0; c < s.after.size() && end.exit_code == 0 && !end.interrupted; ++c) {
                std::vector<std::string> more{o.self};
                more.insert(more.end(), s.after[c].begin(), s.after[c].end());
                end = run_child(more, log, log, o.child_line, o.progress);
            }
        } catch (const UserError& e) {  // the binary could not be started
            end.exit_code = 127;
            end.last = e.what();
        }
        if (end.interrupted) {
            result.interrupted = true;
            result.signal = end.signal;
        }
        r.seconds = std::chrono::duration<double>(clock::now() - ts).count();
        r.exit_code = end.exit_code;
        // A step that finished as the signal came keeps its result.
        const bool ok = r.exit_code == 0 && fs::is_regular_file(json, ec);
        if (ok) {
            r.status = "done";
            est_done += s.estimate_s;
            took_done += r.seconds;
        } else {
            r.status = result.interrupted ? "interrupted" : "failed";
            r.error = end.last.empty() ? "exited " + std::to_string(r.exit_code) + " without a word" : end.last;
            if (end.killed)
                r.error += " (killed after 60 s: it may have left guests or host settings; `hypetrace cleanup` repairs)";
            fs::remove(txt, ec);  // no report of a run that did not finish; its log says what happened
            fs::remove(json, ec);
            fs::remove(svg, ec);
            if (!s.own_dir.empty()) fs::remove_all(s.own_dir, ec);
        }
        result.steps.push_back(r);
        save();
        if (o.progress)
            o.progress(s.name + ": " + r.status + " in " + fmt_duration(r.seconds) + " (estimated " +
                       fmt_duration(s.estimate_s) + ")" + (ok ? "" : ": " + r.error));
        if (result.interrupted) break;
    }
    result.seconds = std::chrono::duration<double>(clock::now() - t0).count();
    save();
    return result;
}

}  // namespace ht
