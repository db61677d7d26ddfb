// SPDX-License-Identifier: MIT
// `hypetrace paper`: the whole paper into one report (experiments/paper runs the steps,
// experiments/paper_report draws report.html).
#include "cli/commands.h"

#include "cli/options.h"
#include "cli/paper_steps.h"
#include "core/base/error.h"
#include "core/base/text.h"
#include "core/host/files.h"
#include "core/host/host.h"
#include "core/host/interrupt.h"
#include "core/host/proc.h"
#include "experiments/paper.h"
#include "experiments/paper_report.h"
#include "core/views/report.h"

#include <filesystem>
#include <iostream>
#include <memory>
#include <unistd.h>

namespace ht {
namespace {

namespace fs = std::filesystem;

struct PaperArgs {
    std::string budget, out = "paper-out", from;
    bool resume = false, dry_run = false, quiet = false;
};

constexpr const char* kDefaultBudget = "30m";

void write_report(const fs::path& dir, bool quiet) {
    PaperInputs in = read_paper_dir(dir);
    if (in.results.empty())
        throw UserError(dir.string() + " holds no experiment's JSON (startup.json, memory.json, ...): nothing to report; "
                                       "`hypetrace paper -o " + dir.string() + "` runs them");
    // The report names settings by their marks (core/base/setting.h): here they become flags.
    write_file_atomic(dir / "report.html", worded(render_paper_html(in)));
    std::cout << worded(render_paper_text(in));
    if (!quiet) std::cerr << "[hypetrace] wrote " << (dir / "report.html").string() << std::endl;
}

std::string plan_text(const PaperPlan& plan) {
    std::vector<std::vector<std::string>> rows{{"step", "sizes", "estimated", "why"}};
    for (const auto& s : plan.steps)
        rows.push_back({s.name, s.left_out ? "(left out)" : s.sizes, s.left_out ? "-" : fmt_duration(s.estimate_s), s.why});
    return "plan for the " + plan.budget + " budget, VMs under " + (plan.kvm ? "KVM" : "TCG") + ": about " +
           fmt_duration(plan.estimate_s) + " in all\n" + render_table(rows, {false, false, true, false});
}

int cmd_paper(const PaperArgs& a) {
    if (!a.from.empty()) {
        if (a.resume || !a.budget.empty() || a.dry_run)
            throw usage_error("--from re-renders a report from its JSON: it takes no --budget, --resume or --dry-run");
        std::error_code ec;
        if (!fs::is_directory(a.from, ec)) throw UserError("--from " + visible(a.from) + ": not a directory");
        write_report(a.from, a.quiet);
        return 0;
    }
    const fs::path dir = a.out;
    nlohmann::json earlier;
    std::error_code ec;
    if (fs::is_regular_file(dir / "paper.json", ec)) {
        auto text = read_text(dir / "paper.json");
        try {
            earlier = nlohmann::json::parse(text.value_or(""));
        } catch (const std::exception&) {
        }
        if (!earlier.is_object() || !earlier.contains("plan") || !earlier["plan"].is_object())
            throw UserError((dir / "paper.json").string() + " is not a run hypetrace wrote: remove it (or choose another -o)");
    }
    HostInfo host = probe_host();
    const AccelChoice accel = choose_accel(parse_accel_request("auto"), host);
    PaperHostFacts facts;
    facts.kvm = accel.accel == Accel::kvm;
    facts.cpus = host.cpus;
    PaperPlan plan;
    if (a.resume) {
        if (earlier.is_null())
            throw UserError("--resume: " + dir.string() + " holds no earlier run (no paper.json); leave out --resume to start one");
        plan = plan_from_json(earlier["plan"]);
        if (!a.budget.empty() && a.budget != plan.budget)
            throw usage_error("--resume: the run in " + dir.string() + " was planned for --budget " + plan.budget +
                              "; resume it with that budget, or start a new run in another -o");
        if (plan.kvm != facts.kvm)
            warn(std::string("the run being resumed planned its VMs under ") + (plan.kvm ? "KVM" : "TCG") + "; they now get " +
                 (facts.kvm ? "KVM" : "TCG") + ": the report will mix the two");
    } else {
        if (!earlier.is_null() && !a.dry_run)
            throw UserError(dir.string() + " holds an earlier run (paper.json): --resume continues it, `--from " + dir.string() +
                            "` re-renders its report; or choose another -o");
        if (!a.dry_run && fs::is_directory(dir, ec) && !fs::is_empty(dir, ec))
            throw UserError("-o " + dir.string() + ": not empty; give a new or empty directory (the run removes and writes files "
                            "there by name)");
        const std::string budget = a.budget.empty() ? kDefaultBudget : a.budget;
        plan = plan_paper(budget, parse_budget(budget), facts, paper_experiments(), fs::absolute(dir));
    }
    if (a.dry_run) {
        std::cout << plan_text(plan);
        return 0;
    }
    require_root("paper");
    fs::create_directories(dir, ec);
    if (ec) throw UserError("-o " + visible(dir.string()) + ": cannot create it: " + ec.message());
    check_writable(dir / "paper.json", "-o");
    auto progress = progress_printer(a.quiet);
    if (!a.quiet) std::cerr << plan_text(plan);
    PaperRunOptions o;
    o.dir = fs::absolute(dir);
    o.self = "/proc/self/exe";  // this very binary, even if the file was rebuilt meanwhile
    o.resume = a.resume;
    o.earlier = earlier;
    o.progress = progress;
    if (!a.quiet) o.child_line = [](const std::string& l) { std::cerr << "    " << l << "\n"; };
    const PaperRunResult r = run_paper(plan, o);
    std::size_t failed = 0, done = 0, kept = 0, left_out = 0;
    for (const auto& s : r.steps) {
        failed += s.status == "failed";
        done += s.status == "done";
        kept += s.status == "done before";
        left_out += s.status == "left out";
    }
    if (done + kept > 0) write_report(dir, a.quiet);
    std::cerr << "hypetrace: paper: " << done << " step(s) done" << (kept ? ", " + std::to_string(kept) + " kept from before" : "")
              << (failed ? ", " + std::to_string(failed) + " failed" : "")
              << (left_out ? ", " + std::to_string(left_out) + " left out" : "") << " in " << fmt_duration(r.seconds) << " (planned "
              << fmt_duration(plan.estimate_s) << ")"
              << (done + kept ? "; report: " + (dir / "report.html").string() : "; no step finished: no report") << std::endl;
    if (r.interrupted) {
        std::cerr << "hypetrace: interrupted by signal " << r.signal << "; the step under way was stopped; `hypetrace paper -o "
                  << dir.string() << " --resume` continues" << std::endl;
        return 128 + r.signal;
    }
    if (failed) {
        std::cerr << "hypetrace: " << failed << " step(s) failed (the report says which and why; their logs are " << dir.string()
                  << "/NAME.log); `--resume` reruns them" << std::endl;
        return 1;
    }
    return 0;
}

}  // namespace

Command add_paper(CLI::App& app) {
    auto a = std::make_shared<PaperArgs>();
    auto* p = app.add_subcommand("paper", "The whole paper reproduced into one report: every experiment at sizes that fit "
                                          "a time budget, then report.html (Tables 1-3, Figures 1-4, ours beside the paper's)");
    p->add_option("--budget", a->budget, "how long the run may take: a duration (30m, 2h, 1h30m) or full (every "
                                         "experiment at its largest size); default 30m, or the resumed run's");
    p->add_option("-o,--out", a->out, "directory for each experiment's JSON, text report and log, and report.html")
        ->capture_default_str();
    p->add_flag("--resume", a->resume, "continue the run in -o DIR: steps whose JSON is there are kept, the others run");
    p->add_option("--from", a->from, "only re-render DIR/report.html from the JSON in DIR (no root, nothing run)");
    p->add_flag("--dry-run", a->dry_run, "print the plan the budget gives (sizes, estimates, why) and exit");
    p->add_flag("-q,--quiet", a->quiet, "no progress lines on stderr");
    p->footer("Examples:\n"
              "  hypetrace paper --budget 30m -o out/paper      # then open out/paper/report.html\n"
              "  hypetrace paper --budget 2h --dry-run           # which sizes 2 hours buy, and why\n"
              "  hypetrace paper -o out/paper --resume           # after Ctrl-C: only what is missing runs\n"
              "  hypetrace paper --from out/paper                # re-render the report, run nothing\n"
              "Each step is `hypetrace EXPERIMENT ...` with --json DIR/NAME.json; its text report is DIR/NAME.txt,\n"
              "its progress DIR/NAME.log. Host settings (KSM, THP) are restored by each step however it ends.\n"
              "Exit: 0 every step planned ran; 1 a step failed (the others ran; --resume reruns it); 2 bad\n"
              "usage; 128+N interrupted by signal N (--resume continues).");
    return {p, [a] { return cmd_paper(*a); }};
}

}  // namespace ht
