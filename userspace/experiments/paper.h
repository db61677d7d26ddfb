// SPDX-License-Identifier: MIT
// `hypetrace paper`: every experiment of the paper, at sizes chosen to fit a time budget, run one
// after another into one directory. Each experiment is hypetrace itself run as a child with its
// own flags and --json DIR/NAME.json: the JSON is that step's checkpoint (written atomically, only
// by a run that finished), so --resume reruns only what has none, and every child restores the
// host settings it changed however it ends. The report is paper_report.h's.
#pragma once
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ht {

// What the plan depends on: the accelerator a VM would get (TCG boots are some 3x slower) and
// whether the host has /dev/kvm at all (exitcost needs it).
struct PaperHostFacts {
    bool kvm = false;  // VMs run under KVM (else TCG)
    unsigned cpus = 1;
};

// One experiment at one size.
struct PaperLevel {
    std::vector<std::string> args;  // hypetrace's arguments, without --json/--plot (the runner adds them)
    std::string sizes;              // the sizes in words: "3 runs each, restored eagerly"
    double tcg_s = 0, kvm_s = 0;    // how long it takes on a 2-CPU host of this kind, measured
};

struct PaperExperiment {
    // File stem in the output directory: NAME.json, NAME.txt, NAME.log, NAME.svg.
    std::string name;
    std::string what;  // "Table 3: start-up latency, cold and from a checkpoint"
    // Appended to every level's args, with "{json}" and "{svg}" standing for DIR/NAME.json and
    // DIR/NAME.svg, and "{dir}/NAME" for a directory the step writes (the CLI knows its flags;
    // this layer does not).
    std::vector<std::string> outputs;
    bool needs_kvm = false;
    std::vector<PaperLevel> levels;  // smallest first
    // hypetrace commands run once the step succeeded (views of what it wrote), "{dir}" standing
    // for the output directory; one failing fails the step.
    std::vector<std::vector<std::string>> after;
    bool per_cpu = false;  // its guests are so many per host CPU: its time grows with the CPUs
};

// The experiments, in the order they run and in which the budget is spent, are the CLI's
// (cli/paper_steps.h): their arguments are its flags.

struct PaperStep {
    std::string name, what;
    std::vector<std::string> args;  // with --json (and --plot) naming files in the output directory
    std::vector<std::vector<std::string>> after;
    std::string own_dir;  // DIR/NAME when the step writes that directory: removed if it fails
    std::string sizes;
    double estimate_s = 0;
    unsigned level = 0, levels = 0;  // 1-based level chosen, of how many
    std::string why;                 // why this size: the next one's cost, or the budget's room
    bool left_out = false;           // not run: `why` says so (no room, or the host lacks a feature)
};

struct PaperPlan {
    std::string budget;    // as given: "30m", "2h", "full"
    double budget_s = 0;   // 0 for full
    bool kvm = false;
    std::vector<PaperStep> steps;
    double estimate_s = 0;  // the steps that run
};

// The largest sizes that fit `budget_s` (0: every experiment at its largest): first each
// experiment at its smallest, in order, while they fit (the rest left out, said so); then the
// room left raises sizes, experiment by experiment in order, one level at a time.
PaperPlan plan_paper(const std::string& budget, double budget_s, const PaperHostFacts& host,
                     const std::vector<PaperExperiment>& experiments, const std::filesystem::path& out_dir);

nlohmann::json to_json(const PaperPlan& plan);
// The plan a run recorded in its paper.json, which --resume carries on (not a new one: the steps
// kept were measured at its sizes). Throws UserError if `j` is not such a plan.
PaperPlan plan_from_json(const nlohmann::json& j);

// How one step ended, as the runner records it in DIR/paper.json.
struct PaperStepRun {
    std::string name;
    std::string status;  // "done", "done before" (--resume), "failed", "left out", "interrupted"
    double seconds = 0;
    int exit_code = 0;
    std::string error;   // a failed step's last line on stderr
};

// Whether a step that ended so left its result: run now ("done") or kept by --resume ("done before").
inline bool step_has_result(std::string_view status) { return status == "done" || status == "done before"; }

struct PaperRunOptions {
    std::filesystem::path dir;
    std::string self;  // the hypetrace binary the steps run
    bool resume = false;
    nlohmann::json earlier;  // with resume: the earlier run's paper.json, whose kept steps' times are kept
    std::function<void(const std::string&)> progress;  // "[3/9] memory ... ETA"
    std::function<void(const std::string&)> child_line; // each line a step prints on stderr
};

struct PaperRunResult {
    std::vector<PaperStepRun> steps;
    double seconds = 0;
    bool interrupted = false;
    int signal = 0;
};

// Which steps of `plan` a resumed run can keep: those whose JSON (and own directory) are in `dir`.
std::vector<bool> paper_steps_done(const PaperPlan& plan, const std::filesystem::path& dir);

// Runs the plan's steps (those not done, with --resume), each as a child hypetrace; a failed step
// is recorded and the next one runs; a signal stops the child (which cleans up) and the run.
// DIR/paper.json is rewritten after each step.
PaperRunResult run_paper(const PaperPlan& plan, const PaperRunOptions& opts);

// "12m40s", "45s", "1h05m".
std::string fmt_duration(double seconds);

// The time the steps left will take: their estimate `left_s`, scaled by how the steps done so far
// compared with theirs (took_s / estimated_s), that evidence weighed against half the whole
// plan's estimate (`plan_s`) taken as on time: early, quick steps (start-up, containers) say
// little about the VM-heavy ones after them. The scale stays within [0.5, 3].
double paper_eta_s(double left_s, double estimated_s, double took_s, double plan_s);

}  // namespace ht
