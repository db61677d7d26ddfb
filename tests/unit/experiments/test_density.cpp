// SPDX-License-Identifier: MIT
// hypetrace density: the guest counts and CPUs, the job's lines read back, the explanation
// sentence, and run_density's orchestration with fakes (background guests added from one density
// to the next and confined to CPU i mod cpus, a new benchmark guest on CPU 0 at each density,
// started last, one trace run per technique, every guest stopped and its scratch directory
// removed, on success and on a failed run or a guest that never starts its job).
#include "core/base/error.h"
#include "core/base/setting.h"
#include "core/host/spawn.h"
#include "experiments/density.h"
#include "experiments/io.h"
#include "fakes.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace ht {
namespace {

TEST(DensityCounts, ASingleGuestThenPerCpuTimesCpusAscendingOnce) {
    EXPECT_EQ(density_counts({1, 2, 4, 6}, 2), (std::vector<unsigned>{1, 2, 4, 8, 12}));
    EXPECT_EQ(density_counts({6, 1, 2, 4}, 4), (std::vector<unsigned>{1, 4, 8, 16, 24}));  // the paper's 4-core host
    EXPECT_EQ(density_counts({1}, 1), (std::vector<unsigned>{1}));
    EXPECT_EQ(density_cpu(0, 2), 0);
    EXPECT_EQ(density_cpu(1, 2), 1);
    EXPECT_EQ(density_cpu(2, 2), 0);
    EXPECT_EQ(density_cpu(7, 4), 3);
}

std::string run_lines(unsigned i, uint64_t ns, int rc = 0, const std::string& extra = "") {
    return std::string(kDensityRun) + std::to_string(i) + " begin\n" + extra +
           (rc == 0 ? std::string(kBenchLine) + "quantum " + std::to_string(ns) + " 15=3*5\n" : "") + kDensityRun +
           std::to_string(i) + " end " + std::to_string(rc) + "\n";
}

TEST(DensityOutput, EachRunsElapsedAndWorkReadBack) {
    auto runs = parse_bench_output("noise\n" + run_lines(1, 2'000'000'000) + run_lines(2, 1'500'000'000) + "\r\n");
    ASSERT_EQ(runs.size(), 2u);
    EXPECT_EQ(runs[0].index, 1u);
    EXPECT_EQ(runs[0].elapsed_ns, 2'000'000'000u);
    EXPECT_EQ(runs[1].elapsed_ns, 1'500'000'000u);
    EXPECT_EQ(runs[1].work, "15=3*5");
    EXPECT_EQ(runs[1].rc, 0);
}

TEST(DensityOutput, AFailedRunIsNamedWithWhatTheBenchmarkSaid) {
    try {
        parse_bench_output(run_lines(1, 1000) + run_lines(2, 0, 3, "ht-bench: stockfish not found\n"));
        FAIL() << "a failed run must throw";
    } catch (const UserError& e) {
        EXPECT_STREQ(e.what(), "benchmark run 2 failed (exit 3): ht-bench: stockfish not found");
    }
    // a run whose HT-BENCH line is missing failed too, whatever its exit code
    EXPECT_THROW(parse_bench_output(std::string(kDensityRun) + "1 begin\n" + kDensityRun + "1 end 0\n"), UserError);
}

TEST(DensityScripts, TheBenchmarkRunsEachTimeBetweenItsLinesAndTheBusyLoopForever) {
    const std::string s = density_bench_script("/opt/b", "chess", "9", 4);
    EXPECT_NE(s.find("while [ $i -le 4 ]"), std::string::npos) << s;
    EXPECT_NE(s.find("/opt/b/ht-bench chess 9\n"), std::string::npos) << s;
    EXPECT_NE(s.find(std::string("echo \"") + kDensityRun + "$i begin\""), std::string::npos) << s;
    EXPECT_NE(s.find(std::string("echo \"") + kDensityRun + "$i end $?\""), std::string::npos) << s;
    EXPECT_NE(density_busy_script("/usr/local/bin").find("exec /usr/local/bin/ht-bench busy"), std::string::npos);
}

DensityStep step_of(double mean_s, double wall_ns, double runq_ns, double oncpu_ns);

// One run of the I/O benchmark as its run.sh prints it: fio's JSON between the result lines.
std::string io_run_lines(unsigned i, double read_iops, double write_iops, int rc = 0, int error = 0) {
    const std::string json = "{\n  \"fio version\" : \"fio-3.33\",\n  \"jobs\" : [\n    {\"jobname\" : \"fileserver\", \"error\" : " +
                             std::to_string(error) + ",\n     \"read\" : {\"iops\" : " + std::to_string(read_iops) +
                             "},\n     \"write\" : {\"iops\" : " + std::to_string(write_iops) + "}}\n  ]\n}\n";
    return std::string(kDensityRun) + std::to_string(i) + " begin\n" + kIoResultBegin + std::to_string(i) + " " +
           std::to_string(rc) + "\n" + (rc == 0 ? json : "fio: no space left on device\n") + kIoResultEnd + "\n" +
           kDensityRun + std::to_string(i) + " end " + std::to_string(rc) + "\n";
}

TEST(DensityOutput, TheIoBenchmarksOpsPerSecondAreFiosReadsAndWrites) {
    auto runs = parse_bench_output(io_run_lines(1, 100.5, 99.5) + "noise\n" + io_run_lines(2, 300, 100));
    ASSERT_EQ(runs.size(), 2u);
    EXPECT_DOUBLE_EQ(runs[0].ops_per_s, 200);
    EXPECT_DOUBLE_EQ(runs[1].ops_per_s, 400);
    EXPECT_EQ(runs[1].work, "fileserver");
    EXPECT_EQ(runs[1].elapsed_ns, 0u);
    // fio failed: its exit code and what it said
    try {
        parse_bench_output(io_run_lines(1, 1, 1) + io_run_lines(2, 0, 0, 1));
        FAIL() << "a failed fio run must throw";
    } catch (const UserError& e) {
        EXPECT_STREQ(e.what(), "benchmark run 2 failed (exit 1): fio: no space left on device");
    }
    // fio exited 0 but a section failed (its errno)
    EXPECT_THROW(parse_bench_output(io_run_lines(1, 5, 5, 0, 28)), UserError);
    // no operation at all is no result
    EXPECT_THROW(parse_bench_output(io_run_lines(1, 0, 0)), UserError);
}

TEST(DensityScripts, TheIoBenchmarkRunsFioInItsScratchDirectoryAndPrintsItsJsonInsideTheRun) {
    const std::string s = density_io_script("/var/tmp/w", 7, 3);
    EXPECT_NE(s.find("cd \"$(dirname \"$0\")\""), std::string::npos) << "job.fio beside run.sh, natively too\n" << s;
    EXPECT_NE(s.find("work=/var/tmp/w\n"), std::string::npos) << s;
    EXPECT_NE(s.find("while [ $i -le 3 ]"), std::string::npos) << s;
    EXPECT_NE(s.find("HT_IO_RUNTIME=7 fio --output-format=json"), std::string::npos) << s;
    const auto json_at = s.find(std::string("echo \"") + kIoResultBegin), end_at = s.find(std::string(kDensityRun) + "$i end $rc");
    ASSERT_NE(json_at, std::string::npos) << s;
    EXPECT_LT(json_at, end_at) << "the JSON belongs to its run";
    const std::string job = density_fio_job();
    EXPECT_NE(job.find("[fileserver]"), std::string::npos);
    EXPECT_EQ(job.find("[randread]"), std::string::npos) << "Figure 3 is the fileserver alone";
    EXPECT_NE(job.find("runtime=${HT_IO_RUNTIME}"), std::string::npos);
}

TEST(DensityExplain, AnIoStepSlowsByItsOpsAndItsThreadsTimesArePerSecond) {
    DensityStep alone, busy;
    alone.ops = summarize({1000, 1000, 1000});
    busy.ops = summarize({400, 400, 400});
    EXPECT_DOUBLE_EQ(slowdown_of(busy, alone), 2.5) << "half the ops/s is twice as slow";
    EXPECT_FALSE(slowdown_parts(busy, alone).known) << "I/O is not bound by its CPU share";
    busy.why.traced = true;
    busy.why.wall_ns = 1e9;
    busy.why.runq_ns = 1.11e9;
    busy.why.oncpu_ns = 0.35e9;
    const std::string said = explain_step(busy, &alone);
    EXPECT_EQ(said.rfind("slowed x2.50: its threads waiting to run 1.11 s per s of wall time; on a CPU 0.35 s per s", 0), 0u)
        << said;
    DensityStep cpu = step_of(2.0, 1e9, 0.5e9, 0.5e9);
    EXPECT_DOUBLE_EQ(slowdown_of(cpu, alone), 1) << "a CPU step is not compared with an I/O one";
}

DensityStep step_of(double mean_s, double wall_ns, double runq_ns, double oncpu_ns) {
    DensityStep s;
    s.seconds.mean = mean_s;
    s.seconds.n = 3;
    s.why.traced = true;
    s.why.wall_ns = wall_ns;
    s.why.runq_ns = runq_ns;
    s.why.oncpu_ns = oncpu_ns;
    return s;
}

TEST(DensityExplain, SlowdownWaitShareAndTheTwoMainPreemptorsButNeverItself) {
    DensityStep alone = step_of(1.0, 1e9, 0, 1e9);
    DensityStep busy = step_of(1.9, 1.9e9, 0.893e9, 1.0e9);
    busy.why.involuntary = 40;
    busy.why.migrations = 0;
    busy.why.preemptors = {{1, 10, "the benchmark guest", 50}, {1003, 20, "guest 3 (busy, CPU 0)", 25},
                           {1005, 21, "guest 5 (busy, CPU 0)", 14}, {0, 99, "kworker/0:1 (host, pid 99)", 1}};
    EXPECT_EQ(explain_step(busy, &alone),
              "slowed x1.90: 47 % of its wall time waiting to run, behind guest 3 (busy, CPU 0) and guest 5 (busy, "
              "CPU 0); on a CPU 53 %, 40 preemptions, 0 migrations");
    EXPECT_EQ(explain_step(alone, &alone).rfind("alone: 0 %", 0), 0u) << explain_step(alone, &alone);
    // A CPU benchmark whose threads wait and run at once (stockfish's search beside its main
    // thread) waits and runs for more than the wall time: said per second, never "109 %".
    const DensityStep threads = step_of(4.0, 4e9, 4.36e9, 1e9);
    EXPECT_NE(explain_step(threads, &alone).find("its threads waiting to run 1.09 s per s of wall time"), std::string::npos)
        << explain_step(threads, &alone);
    EXPECT_NE(explain_step(threads, &alone).find("on a CPU 0.25 s per s"), std::string::npos) << explain_step(threads, &alone);
    // a VM under KVM: its exits per second of the runs, the three main reasons
    busy.why.exits = 3800;
    busy.why.user_exits = 190;
    busy.why.exit_reasons = {{"NPF", 1900}, {"HLT", 950}, {"IOIO", 570}, {"MSR", 380}};
    EXPECT_NE(explain_step(busy, &alone).find("; 2000 VM exits/s (NPF 50 %, HLT 25 %, IOIO 15 %), 100 to QEMU/s"),
              std::string::npos)
        << explain_step(busy, &alone);
    busy.why.traced = false;
    EXPECT_EQ(explain_step(busy, &alone), "slowed x1.90 (the scheduler was not traced)");
}

TEST(DensityExplain, TheSlowdownSplitsIntoCpuShareAndCpuCostAndTheCostIsSaidOnlyWhenItMatters) {
    DensityStep alone = step_of(1.0, 3e9, 0, 3e9);  // 3 runs of 1 s, always on a CPU
    // 2.7x slower: half its wall time waiting (share x2), each run needing 1.35 s of CPU
    DensityStep slow = step_of(2.7, 8.1e9, 4.05e9, 4.05e9);
    const SlowdownParts p = slowdown_parts(slow, alone);
    ASSERT_TRUE(p.known);
    EXPECT_NEAR(p.total, 2.7, 1e-9);
    EXPECT_NEAR(p.share, 2.0, 1e-9);
    EXPECT_NEAR(p.cost, 1.35, 1e-9);
    EXPECT_NEAR(p.share * p.cost, p.total, 1e-9);
    std::string said = explain_step(slow, &alone);
    EXPECT_NE(said.find("; x2.00 of it from its CPU share, x1.35 from each run needing more CPU time than alone (the CPU "
                        "itself ran slower: what this kernel cannot see"),
              std::string::npos)
        << said;
    slow.steal_pct = 26;
    said = explain_step(slow, &alone);
    EXPECT_NE(said.find("(the CPU itself ran slower: 26 % steal reported by the hypervisor)"), std::string::npos) << said;
    // within a tenth of alone's CPU time: only the share is said
    DensityStep shared = step_of(2.1, 6.3e9, 3.15e9, 3.15e9);
    EXPECT_NEAR(slowdown_parts(shared, alone).cost, 1.05, 1e-9);
    EXPECT_EQ(explain_step(shared, &alone).find("CPU share"), std::string::npos) << explain_step(shared, &alone);
    // untraced: not known, the total still is
    shared.why.traced = false;
    EXPECT_FALSE(slowdown_parts(shared, alone).known);
    EXPECT_NEAR(slowdown_parts(shared, alone).total, 2.1, 1e-9);
}

// A density run with fake guests: a busy guest's job prints nothing; the benchmark guest's prints
// its runs, each taking `seconds` (as ht-bench reports them).
struct DensityRun {
    const TestTempDir scratch{fake::kTempDir};
    fake::Tracer tracer;
    fake::Driver driver;
    DensityConfig cfg;
    std::vector<std::string> said;
    int bench_jobs = 0, busy_jobs = 0;
    std::string jobs;  // B, b per job run
    int fail_run = 0;  // > 0: that run exits 1
    unsigned printed = 0;  // > 0: the runs the job prints (runs auto), else warmup + runs
    std::function<uint64_t(unsigned)> ns_of;  // a run's time, else one per job and run
    explicit DensityRun(fake::Boot boot = fake::Boot::ready) : driver(boot) {
        cfg.techniques = {{"fake", "Fake", &driver}};
        cfg.per_core = {1, 2};
        cfg.cpus = 2;
        cfg.runs = 2;
        cfg.warmup = 1;
        cfg.scratch_parent = scratch.path;
        cfg.boot_timeout_s = 2;
        cfg.progress = [this](const std::string& line) { said.push_back(line); };
        driver.job = [this](const std::filesystem::path& dir) {
            std::ifstream f(dir / "run.sh");
            const std::string script{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
            if (script.find("ht-bench busy") != std::string::npos) {
                ++busy_jobs;
                jobs += "b";
                return std::pair<std::string, int>{"", 0};
            }
            ++bench_jobs;
            jobs += "B";
            EXPECT_TRUE(tracer.armed) << "the benchmark guest starts with the spawner armed";
            std::string out;
            for (unsigned i = 1; i <= (printed ? printed : cfg.warmup + cfg.runs); ++i)
                out += run_lines(i, ns_of ? ns_of(i) : uint64_t(bench_jobs) * 1'000'000'000ULL + i, int(i) == fail_run ? 1 : 0);
            return std::pair<std::string, int>{out, 0};
        };
    }
    DensityResult run() { return run_density(tracer, HostInfo{}, cfg); }
    bool scratch_empty() const { return std::filesystem::is_empty(scratch.path); }
};

TEST(DensityOrchestration, RunsAutoKeepsTheJudgedRunsAndSaysWhyEachSeriesEnded) {
    {  // steady runs: settled, on the runs that came back
        DensityRun r;
        r.cfg.per_core = {1};
        r.cfg.runs = 0;
        r.cfg.auto_runs.on = true;
        r.printed = 6;  // 1 warm-up + 5
        r.ns_of = [](unsigned) { return 1'000'000'000ULL; };
        // the job prints its runs at once and ends: judged then, all kept
        DensityResult res = r.run();
        const auto& s = res.techniques[0].steps[0];
        EXPECT_EQ(s.runs_end, RunsEnd::settled);
        EXPECT_EQ(s.runs.size(), 6u);
        EXPECT_EQ(s.seconds.n, 5u);
        const auto j = to_json(res);
        EXPECT_EQ(j["runs"], "auto");
        EXPECT_EQ(j["techniques"][0]["steps"][0]["runs_end"], "settled");
        EXPECT_NE(render_text(res).find("Fake at 1 guest: settled after 5 runs"), std::string::npos) << render_text(res);
        EXPECT_TRUE(r.scratch_empty());
    }
    {  // runs far apart: never settled, the job's every run made
        DensityRun r;
        r.cfg.per_core = {1};
        r.cfg.runs = 0;
        r.cfg.auto_runs.on = true;
        r.cfg.auto_runs.max_runs = 6;
        r.printed = 7;
        r.ns_of = [](unsigned i) { return i % 2 ? 1'000'000'000ULL : 3'000'000'000ULL; };
        DensityResult res = r.run();
        const auto& s = res.techniques[0].steps[0];
        EXPECT_EQ(s.runs_end, RunsEnd::run_cap);
        EXPECT_EQ(s.seconds.n, 6u);
        EXPECT_TRUE(noisy(s.seconds));
        EXPECT_NE(render_text(res).find("! noisy: Fake at 1 guest: "), std::string::npos) << render_text(res);
    }
    {  // a number of runs: as before, no word of auto
        DensityRun r;
        r.cfg.per_core = {1};
        DensityResult res = r.run();
        EXPECT_EQ(res.techniques[0].steps[0].runs_end, RunsEnd::count);
        EXPECT_EQ(res.techniques[0].steps[0].seconds.n, 2u);
        EXPECT_EQ(to_json(res)["runs"], 2);
        EXPECT_EQ(render_text(res).find("settled"), std::string::npos);
    }
}

TEST(DensityOrchestration, BackgroundGuestsAreAddedAndSpreadTheBenchmarkGuestIsNewOnCpu0StartedLast) {
    DensityRun r;
    DensityResult res = r.run();
    ASSERT_EQ(res.techniques.size(), 1u);
    const auto& steps = res.techniques[0].steps;
    ASSERT_EQ(steps.size(), 3u);  // 1, 2, 4 guests
    EXPECT_EQ(steps[0].guests, 1u);
    EXPECT_EQ(steps[1].guests, 2u);
    EXPECT_EQ(steps[2].guests, 4u);
    // guests in creation order: bench(1); busy 1, bench(2); busy 2, busy 3, bench(4)
    const auto& specs = r.driver.specs;
    ASSERT_EQ(specs.size(), 6u);
    std::vector<int> cpus;
    for (const auto& s : specs) cpus.push_back(s.host_cpu);
    EXPECT_EQ(cpus, (std::vector<int>{0, 1, 0, 0, 1, 0}));
    EXPECT_EQ(r.jobs, "BbBbbB") << "B: a benchmark guest's job, b: a busy one's, in the order the guests started";
    EXPECT_EQ(r.bench_jobs, 3);
    EXPECT_EQ(r.busy_jobs, 3);
    // the benchmark's own timings, warm-up left out: runs 2 and 3 of the k-th benchmark guest
    EXPECT_EQ(steps[2].runs.size(), 3u);
    EXPECT_EQ(steps[2].seconds.n, 2u);
    EXPECT_NEAR(steps[2].seconds.mean, 3.0000000025, 1e-9);
    EXPECT_NEAR(steps[0].seconds.mean, 1.0000000025, 1e-9);
    // one trace run for the technique, every guest stopped, nothing left
    EXPECT_EQ(r.tracer.begun, 1);
    EXPECT_EQ(r.tracer.ended, 1);
    EXPECT_EQ(r.tracer.armed_for.size(), 6u);
    EXPECT_FALSE(r.tracer.armed);
    EXPECT_EQ(r.driver.stats.started, 6);
    EXPECT_EQ(r.driver.stats.stopped, 6);
    EXPECT_EQ(r.driver.stats.destroyed, 6);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(DensityOrchestration, AFailedRunEndsTheRunStopsEveryGuestAndLeavesNothing) {
    DensityRun r;
    r.fail_run = 2;
    const std::string m = fake::what_of([&] { r.run(); });
    EXPECT_NE(m.find("benchmark run 2 failed (exit 1)"), std::string::npos) << m;
    EXPECT_EQ(r.tracer.begun, r.tracer.ended);
    EXPECT_EQ(r.driver.stats.started, r.driver.stats.stopped);
    EXPECT_EQ(r.driver.stats.created, r.driver.stats.destroyed);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(DensityOrchestration, ABenchmarkGuestThatNeverStartsItsJobFailsAtTheBootTimeout) {
    DensityRun r(fake::Boot::never);
    r.cfg.boot_timeout_s = 0.2;
    const std::string m = fake::what_of([&] { r.run(); });
    EXPECT_NE(m.find("did not start its job within 0 s (" + ref(Setting::boot_timeout) + ")"), std::string::npos) << m;
    EXPECT_EQ(r.tracer.begun, r.tracer.ended);
    EXPECT_EQ(r.driver.stats.created, r.driver.stats.destroyed);
    EXPECT_FALSE(r.tracer.armed);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(DensityOrchestration, NativeRunsTheBenchmarkAloneOnCpu0ThroughItsRunner) {
    DensityRun r;
    r.cfg.techniques = {{"native", "native", nullptr}};
    r.cfg.images.dir = "/img";
    int runner_calls = 0;
    r.cfg.native_runner = [&](const std::filesystem::path& script, const std::filesystem::path& out, int cpu) {
        ++runner_calls;
        EXPECT_EQ(cpu, 0);
        EXPECT_TRUE(r.tracer.armed) << "the native benchmark starts with the spawner armed";
        std::ifstream f(script);
        const std::string s{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
        EXPECT_NE(s.find("/img/bench/ht-bench quantum 119"), std::string::npos) << s;
        std::ofstream(out, std::ios::app) << kJobBeginMarker << "\n"
                                          << run_lines(1, 7) << run_lines(2, 8) << run_lines(3, 9) << kJobEndMarker << " 0\n";
        return spawn({"true"}).pid;  // a real child that ends at once
    };
    DensityResult res = r.run();
    EXPECT_EQ(runner_calls, 1);
    ASSERT_EQ(res.techniques[0].steps.size(), 1u) << "native: one guest only";
    EXPECT_NEAR(res.techniques[0].steps[0].seconds.mean, 8.5e-9, 1e-12);
    EXPECT_EQ(r.driver.stats.created, 0);
    EXPECT_TRUE(r.scratch_empty());
}

}  // namespace
}  // namespace ht
