// SPDX-License-Identifier: MIT
// `hypetrace paper` without root: the budget's plan (which sizes fit, what is left out and why),
// the runner with a stand-in for hypetrace (a script that writes the JSON it is asked for, or
// fails), --resume, and the report: every number of ours in it is the one in its JSON.
#include "core/base/error.h"
#include "core/views/report.h"
#include "cli/paper_steps.h"
#include "experiments/paper.h"
#include "experiments/paper_report.h"
#include "fakes.h"
#include "../../report_cells.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sys/stat.h>

using namespace ht;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    return {std::istreambuf_iterator<char>(in), {}};
}

// Three experiments: a (100 s, 200 s, 400 s), b (50 s, 300 s), k (needs KVM, 10 s).
std::vector<PaperExperiment> toy() {
    return {{"a", "A", {"--json", "{json}", "--plot", "{svg}"}, false, {{{"a", "--n", "1"}, "small", 100, 100}, {{"a", "--n", "2"}, "mid", 200, 200},
                                     {{"a", "--n", "3"}, "large", 400, 400}}, {}, false},
            {"b", "B", {"--json", "{json}"}, false, {{{"b", "--n", "1"}, "small", 50, 50}, {{"b", "--n", "2"}, "large", 300, 300}}, {}, false},
            {"k", "K", {"--json", "{json}"}, true, {{{"k"}, "only", 10, 10}}, {}, false}};
}

const PaperStep& step(const PaperPlan& p, const std::string& name) {
    for (const auto& s : p.steps)
        if (s.name == name) return s;
    throw std::runtime_error("no step " + name);
}

}  // namespace

TEST(PaperBudget, DurationsAndFull) {
    EXPECT_EQ(parse_budget("30m"), 1800);
    EXPECT_EQ(parse_budget("2h"), 7200);
    EXPECT_EQ(parse_budget("1h30m"), 5400);
    EXPECT_EQ(parse_budget("900s"), 900);
    EXPECT_EQ(parse_budget("full"), 0);
    for (const char* bad : {"", "30", "m", "5x", "30m5", "-3m", "1.5h", "30s", "9999999h"}) {
        try {
            parse_budget(bad);
            ADD_FAILURE() << "accepted " << bad;
        } catch (const UserError& e) {
            EXPECT_EQ(e.exit_code, 2) << bad;
            EXPECT_NE(std::string(e.what()).find("--budget"), std::string::npos) << e.what();
        }
    }
}

TEST(PaperPlan, SmallestFirstThenRaisedInOrderWhileTheRoomLasts) {
    // 400 s: a small (100) + b small (50) = 150; then a -> mid (+100) = 250; b -> large (+250)
    // does not fit; a -> large (+200) does not fit.
    PaperPlan p = plan_paper("400s", 400, {false, 2}, toy(), "/out");
    EXPECT_EQ(step(p, "a").level, 2u);
    EXPECT_EQ(step(p, "a").sizes, "mid");
    EXPECT_EQ(step(p, "b").level, 1u);
    EXPECT_NE(step(p, "b").why.find("large"), std::string::npos) << step(p, "b").why;
    EXPECT_TRUE(step(p, "k").left_out);
    EXPECT_NE(step(p, "k").why.find("/dev/kvm"), std::string::npos);
    EXPECT_DOUBLE_EQ(p.estimate_s, 250);
    // The runner's arguments name files in the output directory; a plot only where the step draws one.
    const auto& a = step(p, "a").args;
    EXPECT_EQ(std::vector<std::string>(a.begin(), a.begin() + 3), (std::vector<std::string>{"a", "--n", "2"}));
    EXPECT_NE(std::find(a.begin(), a.end(), "/out/a.json"), a.end());
    EXPECT_NE(std::find(a.begin(), a.end(), "/out/a.svg"), a.end());
    const auto& b = step(p, "b").args;
    EXPECT_EQ(std::find(b.begin(), b.end(), "--plot"), b.end());
}

TEST(PaperPlan, WhatDoesNotFitAtAllIsLeftOutWithTheTimeItNeeded) {
    PaperPlan p = plan_paper("2m", 120, {true, 2}, toy(), "/out");
    EXPECT_FALSE(step(p, "a").left_out);
    EXPECT_TRUE(step(p, "b").left_out);
    EXPECT_NE(step(p, "b").why.find("50s"), std::string::npos) << step(p, "b").why;
    EXPECT_TRUE(step(p, "b").args.empty());
    EXPECT_FALSE(step(p, "k").left_out) << "under KVM it runs";
    EXPECT_DOUBLE_EQ(p.estimate_s, 110);
}

TEST(PaperPlan, FullRunsEverythingAtItsLargest) {
    PaperPlan p = plan_paper("full", 0, {true, 2}, toy(), "/out");
    EXPECT_EQ(step(p, "a").sizes, "large");
    EXPECT_EQ(step(p, "b").sizes, "large");
    EXPECT_EQ(step(p, "a").why, "its largest size");
    EXPECT_DOUBLE_EQ(p.estimate_s, 710);
}

TEST(PaperPlan, TheRealPlanFitsItsBudgetAndEveryStepWritesItsJson) {
    for (bool kvm : {false, true})
        for (double budget : {1800.0, 7200.0}) {
            PaperPlan p = plan_paper("b", budget, {kvm, 2}, paper_experiments(), "/o");
            EXPECT_LE(p.estimate_s, budget);
            std::size_t run = 0;
            for (const auto& s : p.steps) {
                if (s.left_out) continue;
                ++run;
                const auto j = std::find(s.args.begin(), s.args.end(), "--json");
                ASSERT_TRUE(j != s.args.end() && j + 1 != s.args.end()) << s.name;
                EXPECT_EQ(j[1], "/o/" + s.name + ".json");
            }
            EXPECT_GE(run, 7u) << "a 30 min budget runs most of the paper";
        }
}

namespace {

// A stand-in for hypetrace: writes {"ok":STEP} to the path after --json, unless its first
// argument is "fail"; counts its runs in DIR/calls.
fs::path fake_hypetrace(const fs::path& dir) {
    const fs::path p = dir / "fake-hypetrace";
    std::ofstream(p) << "#!/bin/sh\n"
                        "echo \"$1\" >> '" << (dir / "calls").string() << "'\n"
                        "echo \"[hypetrace] working on $1\" >&2\n"
                        "if [ \"$1\" = fail ]; then echo 'hypetrace: the guest image is missing' >&2; exit 1; fi\n"
                        "while [ $# -gt 0 ]; do if [ \"$1\" = --json ]; then echo '{\"ok\":1}' > \"$2\"; fi; shift; done\n"
                        "echo report\n";
    chmod(p.c_str(), 0755);
    return p;
}

PaperPlan three_steps(const fs::path& out) {
    std::vector<PaperExperiment> e{{"one", "1", {"--json", "{json}"}, false, {{{"one"}, "s", 10, 10}}, {}, false},
                                   {"fail", "2", {"--json", "{json}"}, false, {{{"fail"}, "s", 10, 10}}, {}, false},
                                   {"three", "3", {"--json", "{json}", "--plot", "{svg}"}, false, {{{"three"}, "s", 10, 10}}, {}, false}};
    return plan_paper("full", 0, {false, 2}, e, out);
}

}  // namespace

TEST(PaperRun, AFailedStepIsRecordedAndTheNextRunsThenResumeRerunsOnlyWhatIsMissing) {
    const TestTempDir tmp{fake::kTempDir};
    const fs::path root = tmp.path;
    const fs::path out = root / "out";
    fs::create_directories(out);
    PaperRunOptions o;
    o.dir = out;
    o.self = fake_hypetrace(root).string();
    std::vector<std::string> lines;
    o.child_line = [&](const std::string& l) { lines.push_back(l); };
    const PaperPlan plan = three_steps(out);
    PaperRunResult r = run_paper(plan, o);
    ASSERT_EQ(r.steps.size(), 3u);
    EXPECT_EQ(r.steps[0].status, "done");
    EXPECT_EQ(r.steps[1].status, "failed");
    EXPECT_EQ(r.steps[1].exit_code, 1);
    EXPECT_EQ(r.steps[1].error, "hypetrace: the guest image is missing");
    EXPECT_EQ(r.steps[2].status, "done");
    EXPECT_FALSE(r.interrupted);
    EXPECT_TRUE(fs::exists(out / "one.json"));
    EXPECT_EQ(slurp(out / "one.txt"), "report\n");
    EXPECT_FALSE(fs::exists(out / "fail.json"));
    EXPECT_FALSE(fs::exists(out / "fail.txt")) << "no report of a step that did not finish";
    EXPECT_NE(slurp(out / "fail.log").find("guest image is missing"), std::string::npos) << "its log is kept";
    EXPECT_NE(std::find(lines.begin(), lines.end(), "[hypetrace] working on three"), lines.end());
    const json saved = json::parse(slurp(out / "paper.json"));
    EXPECT_EQ(saved["runs"][1]["status"], "failed");
    EXPECT_EQ(saved["plan"]["steps"].size(), 3u);

    // --resume: only the failed step runs again.
    fs::remove(root / "calls");
    o.resume = true;
    r = run_paper(plan, o);
    EXPECT_EQ(r.steps[0].status, "done before");
    EXPECT_EQ(r.steps[1].status, "failed");
    EXPECT_EQ(r.steps[2].status, "done before");
    EXPECT_EQ(slurp(root / "calls"), "fail\n");
}

namespace {

// Results shaped as the experiments write them (the fields the report reads).
PaperInputs inputs() {
    PaperInputs in;
    const json host{{"hostname", "h"}, {"kernel", "6.18.1"}, {"os", "Debian"}, {"cpu", "AMD EPYC"}, {"cpus", 2},
                    {"memory_mb", 24000}, {"accel", "tcg"}};
    in.results["startup"] = {
        {"host", host},
        {"config", {{"runs", 5}}},
        {"techniques",
         {{{"technique", "kvm"}, {"label", "KVM (TCG)"}, {"driver", "qemu"}, {"variant", "full"}, {"accel", "tcg"},
           {"restore", nullptr}, {"mean_s", 15.682}, {"ci95_s", 2.253}, {"noisy", false}, {"paper_s", 10.342},
           {"phases", {{{"name", "launcher"}, {"mean_s", 0.05}}, {{"name", "kernel"}, {"mean_s", 7.5}}}},
           {"totals_per_run", {{"page_faults_user", 1000}, {"page_faults_kernel", 20}, {"kvm_exits", 0}}}},
          {{"technique", "lxc"}, {"label", "LXC"}, {"driver", "lxc"}, {"variant", "full"}, {"accel", nullptr},
           {"restore", nullptr}, {"mean_s", 0.586}, {"ci95_s", 0.057}, {"noisy", false}, {"paper_s", 0.2}},
          {{"technique", "kvm-restore"}, {"label", "KVM restore (TCG)"}, {"driver", "qemu"}, {"variant", "full"},
           {"accel", "tcg"}, {"restore", "eager"}, {"mean_s", 1.048}, {"ci95_s", 0.449}, {"noisy", true},
           {"paper_s", 1.192}}}},
        {"not_measured", {{{"technique", "LXC restore"}, {"reason", "criu check fails: vdso"}}}}};
    in.results["memory"] = {
        {"host", host},
        {"series",
         {{{"technique", "kvm"}, {"label", "KVM (TCG)"}, {"ksm", true}, {"accel", "tcg"}, {"rootfs", nullptr},
           {"paper", {{"single_mb", 194}, {"limit_mb", 91}}},
           {"steps",
            {{{"guests", 1}, {"per_guest_mb", {{"mean", 300.5}, {"ci95", 0}}}, {"incremental_mb", 300.5},
              {"ksm_host", {{"pages_sharing", 1000}}}, {"vm_parts_mb_per_guest", {{"guest_ram", 150}, {"qemu", 30}}}},
             {{"guests", 2}, {"per_guest_mb", {{"mean", 250.25}, {"ci95", 4.5}}}, {"incremental_mb", 200.125},
              {"ksm_host", {{"pages_sharing", 9000}}}, {"vm_parts_mb_per_guest", {{"guest_ram", 120}, {"qemu", 30}}}}}}},
          {{"technique", "lxc"}, {"label", "LXC"}, {"ksm", true}, {"accel", nullptr}, {"rootfs", "shared"},
           {"paper", {{"single_mb", 16}, {"limit_mb", 8}}},
           {"steps",
            {{{"guests", 1}, {"per_guest_mb", {{"mean", 14.75}, {"ci95", 0}}}, {"incremental_mb", 14.75}},
             {{"guests", 2}, {"per_guest_mb", {{"mean", 9.25}, {"ci95", 1.25}}}, {"incremental_mb", 3.75}}}}}}}};
    in.results["dedup"] = {{"host", host},
                           {"guest_frames", {{"all", 60000}}},
                           {"table1",
                            {{"within_guest", {{"anon_anon", 7000}, {"file_file", 100}, {"anon_file", 150}, {"total", 7250}}},
                             {"guest_host", {{"anon_anon", 4000}, {"file_file", 500}, {"anon_file", 3000}, {"total", 7500}}},
                             {"guest_guest", {{"anon_anon", 12000}, {"file_file", 2000}, {"anon_file", 800}, {"total", 14800}}}}}};
    json dev_default{{"devices", "default"}, {"saving_mb", 0}, {"saving_ci95_mb", 0}, {"paper_saving_mb", nullptr}};
    json dev_video{{"devices", "no-video"},       {"saving_mb", 12.25},      {"saving_ci95_mb", 1.5},
                   {"saving_without_tcg_cache_mb", 11.5}, {"paper_saving_mb", 13.5}};
    // A saving lost in guest RAM's noise, whose QEMU part is resolved.
    json dev_audio{{"devices", "no-audio"}, {"guests", 3}, {"saving_mb", -5.75}, {"saving_ci95_mb", 15.5},
                   {"saving_without_tcg_cache_mb", -6.0}, {"saving_without_tcg_cache_ci95_mb", 15.0},
                   {"saving_in_qemu_mb", 0.25}, {"saving_in_qemu_ci95_mb", 0.125}, {"paper_saving_mb", 5.3}};
    in.results["devices"] = {{"host", host},
                             {"series", json::array({json{{"technique", "default"}, {"accel", "tcg"}}})},
                             {"devices", json::array({dev_default, dev_video, dev_audio})}};
    in.results["memory-kernels"] = {
        {"host", host},
        {"series", json::array({json{{"technique", "kvm"}, {"accel", "tcg"}}})},
        {"guest_kernels",
         {{{"technique", "KVM (TCG)"}, {"kernels", {"6.1.0-57-cloud-amd64", "6.1.0-57-cloud-amd64"}},
           {"versions", {"6.1.192-3", "6.1.192-3"}}, {"merged_between_mb", 54.875}, {"saved_within_mb", {38.125, 32.0}},
           {"saved_mb", 125.0}, {"between_vs_identical", 1.0}},
          {{"technique", "KVM (TCG)"}, {"kernels", {"6.1.0-57-cloud-amd64", "6.1.0-47-cloud-amd64"}},
           {"versions", {"6.1.192-3", "6.1.170-3"}}, {"merged_between_mb", 18.5}, {"saved_within_mb", {41.0, 31.25}},
           {"saved_mb", 90.75}, {"between_vs_identical", 0.337}}}}};
    in.results["density-quantum"] = {
        {"host", host},
        {"benchmark", {{"name", "quantum"}, {"what", "Shor"}, {"stands_for", "462.libquantum"}, {"figure", "seconds"}}},
        {"techniques",
         {{{"id", "kvm"}, {"label", "KVM (TCG)"}, {"accel", "tcg"},
           {"steps",
            {{{"guests", 1}, {"per_cpu", 0.5}, {"seconds", {{"mean", 0.97}, {"ci95", 0.087}}}, {"slowdown", 1.0},
              {"explained", "alone"}},
             {{"guests", 4}, {"per_cpu", 2}, {"seconds", {{"mean", 2.226}, {"ci95", 1.24}}}, {"slowdown", 2.29},
              {"noisy", true}, {"explained", "slowed x2.29: 52 % waiting"}}}}},
          {{"id", "lxc"}, {"label", "LXC"}, {"accel", ""},
           {"steps",
            {{{"guests", 1}, {"per_cpu", 0.5}, {"seconds", {{"mean", 0.191}, {"ci95", 0.005}}}, {"slowdown", 1.0}},
             {{"guests", 4}, {"per_cpu", 2}, {"seconds", {{"mean", 0.422}, {"ci95", 0.115}}}, {"slowdown", 2.21}}}}}}}};
    return in;
}

}  // namespace

TEST(PaperReport, EveryNumberOfOursIsTheOneInItsJson) {
    const PaperInputs in = inputs();
    const std::string html = render_paper_html(in);
    std::size_t cells = 0;
    std::set<std::string> files;
    for (const auto& c : ht_test::report_cells(html)) {
        ++cells;
        const std::string step = c.file.substr(0, c.file.size() - 5);  // "startup.json" -> "startup"
        files.insert(step);
        EXPECT_EQ(ht_test::check_cell(c, in.results.at(step)), "");
    }
    EXPECT_EQ(files, (std::set<std::string>{"startup", "memory", "memory-kernels", "dedup", "devices", "density-quantum"}));
    EXPECT_GE(cells, 25u);
    // Table 1's totals are the sums of its rows, in MB.
    EXPECT_NE(html.find("data-value=\"23000\" data-scale=\"0.00390625\">89.8<"), std::string::npos);
    // Figure 4 draws the paper's line beside ours; TCG rows are marked; what was refused says why.
    EXPECT_NE(html.find("paper: KVM (194 MB, then 91 each)"), std::string::npos);
    EXPECT_NE(html.find("<svg"), std::string::npos);
    EXPECT_NE(html.find("badge tcg"), std::string::npos);
    EXPECT_NE(html.find("not measured: criu check fails: vdso"), std::string::npos);
    // Self-contained: no script, nothing fetched.
    EXPECT_EQ(html.find("<script"), std::string::npos);
    EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));
    EXPECT_EQ(html.find("https://"), std::string::npos);
    // Section 3's kernels, by their short release and version; a saving within the noise is badged.
    EXPECT_NE(html.find("6.1.0-47 <span class=\"ci\">(6.1.170-3)</span>"), std::string::npos);
    EXPECT_NE(html.find("Audio <span class=\"badge noisy\">within the noise</span>"), std::string::npos);
    EXPECT_EQ(html.find("Video and Graphics <span class=\"badge noisy\">"), std::string::npos);
    // Sections whose JSON is missing say so.
    EXPECT_NE(html.find("No result (density-io.json)"), std::string::npos);
}

// Table 2's badge and the differences judge the same figure: under TCG the saving without TCG's
// code cache, whose interval can exclude zero while the whole saving's holds it, and the reverse.
TEST(PaperReport, Table2BadgesTheSavingTheDifferencesCompare) {
    PaperInputs in = inputs();
    json& rows = in.results["devices"]["devices"];
    rows[1]["saving_ci95_mb"] = 20.0;  // no-video: the whole saving within the noise,
    rows[1]["saving_without_tcg_cache_ci95_mb"] = 1.0;  // without TCG's cache resolved
    rows[2]["saving_mb"] = 8.0;  // no-audio: the whole saving resolved, without the cache -6.0 +- 15.0
    rows[2]["saving_ci95_mb"] = 1.0;
    const std::string html = render_paper_html(in);
    EXPECT_EQ(html.find("Video and Graphics <span class=\"badge noisy\">"), std::string::npos);
    EXPECT_NE(html.find("Audio <span class=\"badge noisy\">within the noise</span>"), std::string::npos);
    EXPECT_NE(html.find("saving set beside the paper's (without TCG's code cache) holds zero"), std::string::npos);
    const auto d = paper_differences(in);
    auto has = [&](const std::string& a) {
        for (const auto& l : d)
            if (l.find(a) != std::string::npos) return true;
        return false;
    };
    EXPECT_TRUE(has("Removing no-audio (without TCG's code cache) saves an amount within the noise here"))
        << ::testing::PrintToString(d);
    EXPECT_FALSE(has("Removing no-video (without TCG's code cache) saves an amount within the noise"))
        << ::testing::PrintToString(d);
}

TEST(PaperReport, DifferencesComeFromTheDataWithTheirCause) {
    const auto d = paper_differences(inputs());
    auto has = [&](const std::string& a, const std::string& b) {
        for (const auto& l : d)
            if (l.find(a) != std::string::npos && l.find(b) != std::string::npos) return true;
        return false;
    };
    EXPECT_TRUE(has("KVM (TCG) starts slower here: x1.5", "TCG")) << ::testing::PrintToString(d);
    EXPECT_TRUE(has("LXC starts slower here: x2.9", "Linux 6.18.1")) << ::testing::PrintToString(d);
    EXPECT_TRUE(has("LXC costs per added guest less here: x2.1", "Linux 6.18.1")) << ::testing::PrintToString(d);
    // KVM restore: 1.048 vs 1.192 is within x1.5: not a difference.
    EXPECT_FALSE(has("KVM restore", "")) << ::testing::PrintToString(d);
    // A saving whose interval holds zero is noise, not "x55.9 less"; QEMU's resolved part said.
    EXPECT_TRUE(has("Removing no-audio (without TCG's code cache) saves an amount within the noise here: -6.0 ± 15.0 MB",
                    "What QEMU itself saves is resolved: 0.2 ± 0.1 MB"))
        << ::testing::PrintToString(d);
    EXPECT_FALSE(has("no-audio", "less here")) << ::testing::PrintToString(d);
    // The VM/container gap: 26.8 vs 51.7.
    EXPECT_TRUE(has("gap is narrower here: x1.9", "")) << ::testing::PrintToString(d);
}

TEST(PaperReport, ReadsADirectoryAndSaysWhatItCouldNotRead) {
    const TestTempDir tmp{fake::kTempDir};
    const fs::path root = tmp.path;
    std::ofstream(root / "startup.json") << inputs().results["startup"].dump();
    std::ofstream(root / "memory.json") << "{ not json";
    const PaperInputs in = read_paper_dir(root);
    EXPECT_EQ(in.results.size(), 1u);
    ASSERT_EQ(in.problems.size(), 1u);
    EXPECT_NE(in.problems[0].find("memory.json: not valid JSON"), std::string::npos);
    EXPECT_NE(render_paper_html(in).find("memory.json: not valid JSON"), std::string::npos);
}

TEST(PaperPlan, ResumeCarriesOnTheRecordedPlanAndRefusesAForeignOne) {
    PaperPlan p = plan_paper("400s", 400, {false, 2}, toy(), "/out");
    const PaperPlan back = plan_from_json(to_json(p));
    ASSERT_EQ(back.steps.size(), p.steps.size());
    for (std::size_t i = 0; i < p.steps.size(); ++i) {
        EXPECT_EQ(back.steps[i].args, p.steps[i].args);
        EXPECT_EQ(back.steps[i].left_out, p.steps[i].left_out);
        EXPECT_EQ(back.steps[i].sizes, p.steps[i].sizes);
    }
    EXPECT_EQ(back.budget, "400s");
    json bad = to_json(p);
    bad["steps"][0]["name"] = "../etc";
    EXPECT_THROW(plan_from_json(bad), UserError);
    EXPECT_THROW(plan_from_json(json::array()), UserError);
}

TEST(PaperPlan, GuestsPerCpuCostMoreOnMoreCpus) {
    auto e = toy();
    e[1].per_cpu = true;  // b: 50 s on 2 CPUs
    EXPECT_DOUBLE_EQ(step(plan_paper("full", 0, {false, 2}, e, "/o"), "b").estimate_s, 300);
    EXPECT_DOUBLE_EQ(step(plan_paper("full", 0, {false, 16}, e, "/o"), "b").estimate_s, 2400);
    EXPECT_DOUBLE_EQ(step(plan_paper("full", 0, {false, 16}, e, "/o"), "a").estimate_s, 400) << "not per CPU";
}

TEST(PaperRun, AStepsOwnDirectoryGoesWithItsFailureAndNothingElse) {
    const TestTempDir tmp{fake::kTempDir};
    const fs::path root = tmp.path;
    const fs::path out = root / "out";
    fs::create_directories(out / "keep");
    std::ofstream(out / "keep" / "mine") << "x";
    const fs::path self = fake_hypetrace(root);
    // "fail" declares DIR/fail as its own, which the fake leaves half made before failing.
    std::vector<PaperExperiment> e{{"fail", "2", {"--json", "{json}", "--trace", "{dir}/fail"}, false, {{{"fail"}, "s", 1, 1}}, {}, false},
                                   {"keep", "3", {"--json", "{json}"}, false, {{{"keep"}, "s", 1, 1}}, {}, false}};
    fs::create_directories(out / "fail");
    const PaperPlan plan = plan_paper("full", 0, {false, 2}, e, out);
    EXPECT_EQ(plan.steps[0].own_dir, (out / "fail").string());
    EXPECT_EQ(plan.steps[1].own_dir, "");
    PaperRunOptions o;
    o.dir = out;
    o.self = self.string();
    run_paper(plan, o);
    EXPECT_FALSE(fs::exists(out / "fail"));
    EXPECT_TRUE(fs::exists(out / "keep" / "mine")) << "a directory that is not a step's own is never touched";
}

TEST(PaperReport, OnlyTheStepsTheRunDidAreReportedAndLeftOutOnesSayWhy) {
    const TestTempDir tmp{fake::kTempDir};
    const fs::path root = tmp.path;
    const PaperInputs full = inputs();
    std::ofstream(root / "startup.json") << full.results.at("startup").dump();
    std::ofstream(root / "memory.json") << full.results.at("memory").dump();  // from another run
    const json paper{{"plan", {{"budget", "30m"}, {"estimate_s", 100},
                               {"steps", {{{"name", "startup"}, {"left_out", false}},
                                          {{"name", "exitcost"}, {"left_out", true}, {"why", "needs /dev/kvm"}}}}}},
                     {"runs", {{{"name", "startup"}, {"status", "done"}, {"seconds", 90}},
                               {{"name", "exitcost"}, {"status", "left out"}}}}};
    std::ofstream(root / "paper.json") << paper.dump();
    const PaperInputs in = read_paper_dir(root);
    EXPECT_EQ(in.results.size(), 1u);
    EXPECT_TRUE(in.results.count("startup"));
    const std::string html = render_paper_html(in);
    EXPECT_NE(html.find("Not run in this report: needs /dev/kvm"), std::string::npos);
    EXPECT_NE(html.find("No result (memory.json): not run"), std::string::npos);
}

// The run of 2026-12-05 (30m budget, 27m45s planned): after startup, memory, memory-copied and dedup
// (9m30s estimated, 6m13s taken) the rest took 17m22s, estimated 18m15s. The plain ratio said
// 11m56s; weighed against half the plan, the ETA is within 15 % of what it took.
TEST(PaperEta, EarlyQuickStepsMoveTheEtaLessThanTheirRatio) {
    const double eta = ht::paper_eta_s(18 * 60 + 15, 9 * 60 + 30, 6 * 60 + 13, 27 * 60 + 45);
    EXPECT_NEAR(eta, 17 * 60 + 22, 0.15 * (17 * 60 + 22));
    EXPECT_GT(eta, 13.5 * 60) << "not the plain ratio's 11m56s";
    // Nothing done yet: the estimate as it is; everything late: at most 3 times it.
    EXPECT_DOUBLE_EQ(ht::paper_eta_s(600, 0, 0, 1200), 600);
    EXPECT_DOUBLE_EQ(ht::paper_eta_s(600, 60, 6000, 120), 1800);
    EXPECT_DOUBLE_EQ(ht::paper_eta_s(600, 600, 60, 0), 300);
}
