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
#include <cerrno>
#include <chrono>
#include <cmath>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <poll.h>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace ht {

namespace fs = std::filesystem;

std::string fmt_duration(double s) {
    const long t = std::lround(std::max(0.0, s));
    char b[32];
    if (t >= 3600) std::snprintf(b, sizeof b, "%ldh%02ldm", t / 3600, (t % 3600 + 30) / 60 % 60);
    else if (t >= 60) std::snprintf(b, sizeof b, "%ldm%02lds", t / 60, t % 60);
    else std::snprintf(b, sizeof b, "%lds", t);
    return b;
}

namespace {

double level_cost(const PaperLevel& l, bool kvm) { return kvm ? l.kvm_s : l.tcg_s; }

std::vector<std::string> step_args(const PaperExperiment& e, const PaperLevel& l, const fs::path& dir) {
    std::vector<std::string> a = l.args;
    for (const auto& t : e.outputs)
        a.push_back(t == "{json}" ? (dir / (e.name + ".json")).string() : t == "{svg}" ? (dir / (e.name + ".svg")).string() : t);
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
        const double c = level_cost(e.levels.front(), host.kvm);
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
            const double extra = level_cost(e.levels[level[i] + 1], host.kvm) - level_cost(e.levels[level[i]], host.kvm);
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
        s.sizes = l.sizes;
        s.estimate_s = level_cost(l, host.kvm);
        plan.estimate_s += s.estimate_s;
        if (s.level == s.levels)
            s.why = s.levels == 1 ? "its only size" : "its largest size";
        else
            s.why = "the next size (" + e.levels[level[i] + 1].sizes + ") would take about " +
                    fmt_duration(level_cost(e.levels[level[i] + 1], host.kvm)) + ", more than the " + budget +
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

std::vector<bool> paper_steps_done(const PaperPlan& plan, const fs::path& dir) {
    std::vector<bool> done;
    for (const auto& s : plan.steps) {
        std::error_code ec;
        done.push_back(!s.left_out && fs::is_regular_file(dir / (s.name + ".json"), ec));
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

}  // namespace

PaperRunResult run_paper(const PaperPlan& plan, const PaperRunOptions& o) {
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    PaperRunResult result;
    const std::vector<bool> done = o.resume ? paper_steps_done(plan, o.dir) : std::vector<bool>(plan.steps.size(), false);
    const std::string started = utc_now();
    // A resumed run keeps what the earlier one measured of the steps it keeps.
    std::map<std::string, double> earlier_s;
    if (o.resume) {
        try {
            std::ifstream in(o.dir / "paper.json");
            const auto j = nlohmann::json::parse(in);
            for (const auto& r : j.value("runs", nlohmann::json::array()))
                if (r.value("status", "") == "done" || r.value("status", "") == "done before")
                    earlier_s[r.value("name", "")] = r.value("seconds", 0.0);
        } catch (const std::exception&) {
        }
    }
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
    double est_done = 0, took_done = 0;
    auto eta = [&](std::size_t from) {
        double left = 0;
        for (std::size_t k = from; k < plan.steps.size(); ++k)
            if (!plan.steps[k].left_out && !done[k]) left += plan.steps[k].estimate_s;
        const double scale = est_done > 0 ? std::clamp(took_done / est_done, 0.5, 3.0) : 1.0;
        return left * scale;
    };
    std::size_t to_run = 0;
    for (std::size_t k = 0; k < plan.steps.size(); ++k) to_run += !plan.steps[k].left_out && !done[k];
    std::size_t ordinal = 0;
    for (std::size_t k = 0; k < plan.steps.size(); ++k) {
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
        std::error_code ec;
        fs::remove(txt, ec);
        fs::remove(log, ec);
        SpawnOptions so;
        so.stdout_path = txt.string();
        so.stderr_path = log.string();
        so.own_process_group = true;
        so.die_with_parent = true;
        std::vector<std::string> argv{o.self};
        argv.insert(argv.end(), s.args.begin(), s.args.end());
        const auto ts = clock::now();
        Child child = spawn(argv, so);
        LogTail tail;
        tail.path = log;
        int status = 0;
        for (;;) {
            tail.pump(o.child_line);
            if (child_exited(child.pid, &status)) break;
            if (interrupted()) {
                // The child cleans up on SIGTERM as on Ctrl-C: stopping guests and restoring KSM
                // can take a while, so it gets a minute before SIGKILL.
                status = terminate(child.pid, std::chrono::seconds(60));
                tail.pump(o.child_line);
                result.interrupted = true;
                result.signal = interrupt_signal();
                break;
            }
            pollfd p{interrupt_fd(), POLLIN, 0};
            ::poll(&p, 1, 250);
        }
        tail.pump(o.child_line);
        if (!tail.partial.empty()) {
            if (o.child_line) o.child_line(tail.partial);
            tail.last = tail.partial;
        }
        r.seconds = std::chrono::duration<double>(clock::now() - ts).count();
        r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        const bool ok = r.exit_code == 0 && !result.interrupted && fs::is_regular_file(o.dir / (s.name + ".json"), ec);
        if (ok) {
            r.status = "done";
            est_done += s.estimate_s;
            took_done += r.seconds;
        } else {
            r.status = result.interrupted ? "interrupted" : "failed";
            r.error = tail.last.empty() ? "exited " + std::to_string(r.exit_code) + " without a word" : tail.last;
            fs::remove(txt, ec);  // no report of a run that did not finish; its log says what happened
            fs::remove(o.dir / (s.name + ".json"), ec);
            fs::remove(o.dir / (s.name + ".svg"), ec);
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
