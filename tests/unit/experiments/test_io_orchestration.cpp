// SPDX-License-Identifier: MIT
// run_io's orchestration with a fake tracer, fake guests that run their job the way the guest job
// channel does (the job directory handed over at create, the job's output on the "marks" stream
// between HYPETRACE-JOB-BEGIN and -END) and a fake native runner, both playing fio: each
// technique traced from begin_run to end_run, the spawner armed only around a start (or the
// native runner), fio's results read back per run and section, and every guest stopped and
// destroyed, its scratch directory removed, on every path (done, a guest that never starts its
// job, one that dies, a start that throws, a failed fio run, a native runner that fails).
#include "core/base/setting.h"
#include "experiments/io.h"
#include "fakes.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace ht {
namespace {

const std::string kJob = "[global]\ntime_based=1\n\n[a]\nrw=randrw\n\n[b]\nrw=randread\n";

// One run's fio JSON: sections a (100 reads + 200 writes per second) and b (300 reads).
std::string fio_json() {
    return R"({"jobs": [{"jobname": "a", "error": 0,
                 "read": {"iops": 100, "bw": 400, "clat_ns": {"percentile": {"50.000000": 1000, "99.000000": 9000}}},
                 "write": {"iops": 200, "bw": 800}},
                {"jobname": "b", "error": 0, "read": {"iops": 300, "bw": 1200}}]
})";  // fio's closing brace on a line of its own, as fio prints it
}

// What run.sh prints for `runs` runs (the first with fio's exit code `rc` and its stderr).
std::string job_output(unsigned runs, int rc = 0, const std::string& err = "") {
    std::string out;
    for (unsigned i = 1; i <= runs; ++i) {
        out += std::string(kIoResultBegin) + std::to_string(i) + " " + std::to_string(i == 1 ? rc : 0) + "\n";
        out += fio_json() + "\n";
        if (i == 1) out += err;
        out += std::string(kIoResultEnd) + "\n";
    }
    return out;
}

struct IoRun {
    fake::TempDir scratch;
    fake::Tracer tracer;
    fake::Driver driver;
    IoConfig cfg;
    std::vector<std::string> said;
    std::vector<std::string> jobs_seen;  // job.fio as each guest or the native runner found it
    explicit IoRun(fake::Boot boot) : driver(boot) {
        cfg.techniques = {{"fake", "Fake", &driver}};
        cfg.job_text = kJob;
        cfg.runs = 2;
        cfg.runtime_s = 1;
        cfg.scratch_parent = scratch.path;
        cfg.boot_timeout_s = 5;
        cfg.progress = [this](const std::string& line) { said.push_back(line); };
        driver.job = [this](const std::filesystem::path& dir) {
            take_job(dir);
            return std::pair<std::string, int>{job_output(cfg.runs), 0};
        };
        cfg.native_runner = [this](const std::filesystem::path& dir, const std::filesystem::path& out,
                                   const std::filesystem::path&) {
            EXPECT_TRUE(tracer.armed) << "the native runner must run with the spawner armed";
            take_job(dir);
            std::ofstream(out, std::ios::app) << job_output(cfg.runs);
            return 0;
        };
    }
    void take_job(const std::filesystem::path& dir) {
        std::ifstream f(dir / "job.fio");
        jobs_seen.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
        std::ifstream s(dir / "run.sh");
        const std::string script{std::istreambuf_iterator<char>(s), std::istreambuf_iterator<char>()};
        EXPECT_NE(script.find("fio --output-format=json"), std::string::npos) << "run.sh runs fio";
        EXPECT_NE(script.find(std::string("echo \"") + kIoResultBegin), std::string::npos) << script;
    }
    IoResult run() { return run_io(tracer, HostInfo{}, cfg); }
    bool scratch_empty() const { return std::filesystem::is_empty(scratch.path); }
};

}  // namespace

TEST(IoOrchestration, EachTechniqueRunsItsJobTracedAndIsStoppedWithItsResultsReadBack) {
    IoRun r(fake::Boot::ready);
    r.cfg.techniques.push_back({"native", "native", nullptr});
    IoResult res = r.run();

    EXPECT_EQ(r.jobs_seen, (std::vector<std::string>{kJob, kJob}));  // the job handed to each, as given
    ASSERT_EQ(res.techniques.size(), 2u);
    for (const auto& t : res.techniques) {
        ASSERT_EQ(t.runs.size(), 2u) << t.technique.id;
        ASSERT_EQ(t.runs[0].size(), 2u);
        EXPECT_EQ(t.runs[0][0].name, "a");
        EXPECT_DOUBLE_EQ(t.ops_per_s.at("a").mean, 300);
        EXPECT_DOUBLE_EQ(t.ops_per_s.at("b").mean, 300);
        EXPECT_DOUBLE_EQ(t.p99_us.at("a").mean, 9);
        EXPECT_GE(t.job_s, 0);
    }
    EXPECT_EQ(r.said, (std::vector<std::string>{"[fake] booting", "[fake] ready; fio running (2 runs)",
                                                "[fake] done: a 300 ops/s b 300 ops/s", "[native] running fio natively",
                                                "[native] done: a 300 ops/s b 300 ops/s"}));
    // a run per technique, the spawner armed for the guest's start and the native runner only
    EXPECT_EQ(r.tracer.begun, 2);
    EXPECT_EQ(r.tracer.ended, 2);
    EXPECT_FALSE(r.tracer.armed);
    EXPECT_EQ(r.tracer.armed_for, (std::vector<uint32_t>{1, 2}));
    EXPECT_EQ(r.tracer.tracked, (std::vector<std::pair<pid_t, uint32_t>>{{4242, 1}, {4243, 1}}));
    EXPECT_EQ(r.driver.stats.created, 1);
    EXPECT_EQ(r.driver.stats.stopped, 1);
    EXPECT_EQ(r.driver.stats.destroyed, 1);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(IoOrchestration, AGuestThatNeverStartsItsJobFailsAtTheBootTimeoutAndIsDestroyed) {
    IoRun r(fake::Boot::never);
    r.cfg.boot_timeout_s = 0.2;
    const std::string m = fake::what_of([&] { r.run(); });
    EXPECT_EQ(m, "Fake: the guest did not start its job within 0 s (" + ref(Setting::boot_timeout) + ")");
    EXPECT_FALSE(r.tracer.armed);
    EXPECT_EQ(r.driver.stats.started, 1);
    EXPECT_EQ(r.driver.stats.destroyed, 1);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(IoOrchestration, AGuestThatDiesIsNamedWithItsLastOutput) {
    IoRun r(fake::Boot::dies);
    const std::string m = fake::what_of([&] { r.run(); });
    EXPECT_EQ(m, "Fake guest died: out of luck");
    EXPECT_FALSE(r.tracer.armed);
    EXPECT_EQ(r.driver.stats.destroyed, 1);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(IoOrchestration, AStartThatThrowsDisarmsTheSpawner) {
    IoRun r(fake::Boot::start_fails);
    const std::string m = fake::what_of([&] { r.run(); });
    EXPECT_EQ(m, "fake guest: start refused");
    EXPECT_FALSE(r.tracer.armed) << "the spawner stayed armed: hypetrace's next child would be counted as the guest";
    EXPECT_EQ(r.driver.stats.destroyed, 1);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(IoOrchestration, AFailedFioRunIsNamedWithFiosErrorOnceTheRunIsEndedAndTheGuestStopped) {
    IoRun r(fake::Boot::ready);
    int stopped_at_end_run = -1;
    r.tracer.on_end_run = [&] { stopped_at_end_run = r.driver.stats.stopped; };
    r.driver.job = [&](const std::filesystem::path&) {
        return std::pair<std::string, int>{job_output(2, 1, "fio: No space left on device\n"), 0};
    };
    const std::string m = fake::what_of([&] { r.run(); });
    EXPECT_EQ(m, "Fake: fio run 1 failed (exit 1): fio: No space left on device ");  // fio's stderr, not its JSON
    EXPECT_EQ(r.tracer.ended, 1);
    EXPECT_EQ(stopped_at_end_run, 0) << "the run is ended while the guest still runs (its exits are the job's)";
    EXPECT_EQ(r.driver.stats.stopped, 1);
    EXPECT_EQ(r.driver.stats.destroyed, 1);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(IoOrchestration, MissingResultsAreCounted) {
    IoRun r(fake::Boot::ready);
    r.driver.job = [&](const std::filesystem::path&) { return std::pair<std::string, int>{job_output(1), 0}; };
    EXPECT_EQ(fake::what_of([&] { r.run(); }), "Fake: 1 of 2 fio results came back");
    EXPECT_EQ(r.driver.stats.stopped, 1);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(IoOrchestration, TheNativeRunnerIsDisarmedOnEveryPath) {
    {  // it fails
        IoRun r(fake::Boot::ready);
        r.cfg.techniques = {{"native", "native", nullptr}};
        r.cfg.native_runner = [](const std::filesystem::path&, const std::filesystem::path&,
                                 const std::filesystem::path&) { return 3; };
        EXPECT_EQ(fake::what_of([&] { r.run(); }), "the native fio runner failed (exit 3)");
        EXPECT_FALSE(r.tracer.armed);
        EXPECT_TRUE(r.scratch_empty());
    }
    {  // it throws (hypetrace interrupted while fio runs)
        IoRun r(fake::Boot::ready);
        r.cfg.techniques = {{"native", "native", nullptr}};
        r.cfg.native_runner = [](const std::filesystem::path&, const std::filesystem::path&,
                                 const std::filesystem::path&) -> int { throw UserError("runner gone"); };
        EXPECT_EQ(fake::what_of([&] { r.run(); }), "runner gone");
        EXPECT_FALSE(r.tracer.armed) << "the spawner stayed armed after the native runner threw";
        EXPECT_TRUE(r.scratch_empty());
    }
}

}  // namespace ht
