// SPDX-License-Identifier: MIT
// run_startup's orchestration with a fake tracer and fake guests: every run is traced from
// begin_run to end_run, the spawner is armed only around start(), the guest's pids are tracked,
// and every guest is stopped and its scratch directory removed on every path (ready, timeout,
// death, a start that throws).
#include "core/base/setting.h"
#include "experiments/startup.h"
#include "fakes.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

namespace ht {
namespace {

struct StartupRun {
    fake::TempDir scratch;
    fake::Tracer tracer;
    fake::Driver driver;
    StartupConfig cfg;
    explicit StartupRun(fake::Boot boot, unsigned runs = 2, unsigned warmup = 1) : driver(boot) {
        cfg.runs = runs;
        cfg.warmup = warmup;
        cfg.scratch_parent = scratch.path;
        cfg.techniques = {{"fake", "Fake", &driver, Variant::app, NAN}};
    }
    bool scratch_empty() const { return std::filesystem::is_empty(scratch.path); }
};

}  // namespace

TEST(StartupOrchestration, EveryRunIsTracedFromLaunchToStopAndCleanedUp) {
    StartupRun r(fake::Boot::ready);
    StartupResult res = run_startup(r.tracer, HostInfo{}, r.cfg);
    ASSERT_EQ(res.techniques.size(), 1u);
    const auto& t = res.techniques[0];
    ASSERT_EQ(t.runs.size(), 3u);  // the warm-up, then two measured
    EXPECT_TRUE(t.runs[0].warmup);
    EXPECT_FALSE(t.runs[1].warmup);
    EXPECT_EQ(t.total.n, 2u);      // the warm-up is not in the summary
    for (const auto& run : t.runs) {
        EXPECT_GE(run.total_s, 0);
        EXPECT_GE(run.total_s, run.started_s);
        EXPECT_EQ(run.main_pid, 4242);
    }
    EXPECT_EQ(r.tracer.begun, 3);
    EXPECT_EQ(r.tracer.ended, 3);
    EXPECT_FALSE(r.tracer.armed);
    EXPECT_EQ(r.tracer.armed_for, (std::vector<uint32_t>{1, 2, 3}));  // one trace id per run
    ASSERT_EQ(r.tracer.tracked.size(), 6u);                           // both pids of each guest
    EXPECT_EQ(r.tracer.tracked[0], (std::pair<pid_t, uint32_t>{4242, 1}));
    EXPECT_EQ(r.driver.stats.created, 3);
    EXPECT_EQ(r.driver.stats.prepared, 3);
    EXPECT_EQ(r.driver.stats.stopped, 3);
    EXPECT_EQ(r.driver.stats.destroyed, 3);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(StartupOrchestration, AGuestThatIsNeverReadyIsStoppedAtTheTimeoutAndTheRunEnded) {
    StartupRun r(fake::Boot::never, 1, 0);
    r.cfg.timeout_s = 0.2;
    const auto t0 = std::chrono::steady_clock::now();
    try {
        run_startup(r.tracer, HostInfo{}, r.cfg);
        FAIL() << "a guest that is never ready must fail the run";
    } catch (const UserError& e) {
        EXPECT_NE(std::string(e.what()).find("not ready after 0 s"), std::string::npos) << e.what();
    }
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
    EXPECT_EQ(r.tracer.begun, r.tracer.ended);
    EXPECT_FALSE(r.tracer.armed);
    EXPECT_EQ(r.driver.stats.stopped, 1);
    EXPECT_EQ(r.driver.stats.destroyed, 1);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(StartupOrchestration, AGuestThatDiesIsNamedWithItsLastOutput) {
    StartupRun r(fake::Boot::dies, 1, 0);
    try {
        run_startup(r.tracer, HostInfo{}, r.cfg);
        FAIL() << "a guest that died must fail the run";
    } catch (const UserError& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("exited before it was ready"), std::string::npos) << m;
        EXPECT_NE(m.find("out of luck"), std::string::npos) << m;
    }
    EXPECT_EQ(r.tracer.begun, r.tracer.ended);
    EXPECT_EQ(r.driver.stats.destroyed, 1);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(StartupOrchestration, AStartThatThrowsEndsTheRunAndDisarmsTheSpawner) {
    StartupRun r(fake::Boot::start_fails, 1, 0);
    EXPECT_THROW(run_startup(r.tracer, HostInfo{}, r.cfg), UserError);
    EXPECT_EQ(r.tracer.begun, 1);
    EXPECT_EQ(r.tracer.ended, 1);
    EXPECT_FALSE(r.tracer.armed) << "the spawner stayed armed: hypetrace's next child would be counted as the guest";
    EXPECT_EQ(r.driver.stats.destroyed, 1);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(StartupOrchestration, ANumberOfRunsIsRunAsBefore) {
    StartupRun r(fake::Boot::ready, 2, 1);
    std::vector<std::string> said;
    r.cfg.progress = [&](const std::string& line) { said.push_back(line); };
    StartupResult res = run_startup(r.tracer, HostInfo{}, r.cfg);
    ASSERT_EQ(said.size(), 3u);
    EXPECT_EQ(said[0].rfind("Fake warm-up: ready in ", 0), 0u) << said[0];
    EXPECT_EQ(said[1].rfind("Fake run 1/2: ready in ", 0), 0u) << said[1];
    EXPECT_EQ(said[2].rfind("Fake run 2/2: ready in ", 0), 0u) << said[2];
    EXPECT_EQ(res.techniques[0].runs_end, RunsEnd::count);
    const auto j = to_json(res);
    EXPECT_EQ(j["config"]["runs"], 2);
    EXPECT_TRUE(j["config"]["auto"].is_null());
    EXPECT_EQ(j["techniques"][0]["runs_end"], "count");
    EXPECT_NE(render_text(res).find("Start-up latency (Table 3): 2 runs after 1 discarded warm-up run, mean"),
              std::string::npos) << render_text(res);
}

// Start-up times the fake guests take, each start 250 ms: far above the few milliseconds of
// hypetrace's own jitter, so three runs agree within a tenth.
TEST(StartupOrchestration, RunsAutoStopsOnceTheLatencyIsSettled) {
    StartupRun r(fake::Boot::ready, 0, 1);
    r.cfg.auto_runs = {true, 60, 10};
    r.driver.start_s_each = {0.25};
    std::vector<std::string> said;
    r.cfg.progress = [&](const std::string& line) { said.push_back(line); };
    StartupResult res = run_startup(r.tracer, HostInfo{}, r.cfg);
    const auto& t = res.techniques[0];
    EXPECT_EQ(t.runs_end, RunsEnd::settled);
    EXPECT_GE(t.total.n, 3u);
    EXPECT_LE(t.total.n, 5u) << "three starts of 250 ms each should have settled it";
    EXPECT_TRUE(settled(t.total));
    EXPECT_EQ(t.runs.size(), t.total.n + 1);  // the warm-up, then the measured runs
    EXPECT_EQ(r.driver.stats.stopped, int(t.runs.size()));
    EXPECT_EQ(r.driver.stats.destroyed, int(t.runs.size()));
    EXPECT_EQ(r.tracer.begun, r.tracer.ended);
    EXPECT_TRUE(r.scratch_empty());
    EXPECT_EQ(said[1].rfind("Fake run 1 (until settled): ready in 0.2", 0), 0u) << said[1];
    EXPECT_EQ(said.back(), "Fake: settled after " + std::to_string(t.total.n) +
                               " runs: every interval within a tenth of its mean");
    const auto j = to_json(res);
    EXPECT_EQ(j["config"]["runs"], "auto");
    EXPECT_EQ(j["config"]["auto"]["max_time_s"], 60.0);
    EXPECT_EQ(j["techniques"][0]["runs_end"], "settled");
    EXPECT_EQ(j["techniques"][0]["noisy"], false);
    const std::string text = render_text(res);
    EXPECT_NE(text.find(ref(Setting::runs) + " auto: at least 3, at most 10 or 60 s per technique) after 1 discarded"),
              std::string::npos) << text;
    EXPECT_NE(text.find("  Fake: settled after "), std::string::npos) << text;
}

// Starts of 10 and 150 ms in turn never settle: the time cap ends them, after the minimum
// whatever the cap, and the report says so.
TEST(StartupOrchestration, RunsAutoStopsAtTheTimeCapAfterTheMinimum) {
    {
        StartupRun r(fake::Boot::ready, 0, 0);
        r.cfg.auto_runs = {true, 0.001, 100};
        r.driver.start_s_each = {0.01, 0.15};
        StartupResult res = run_startup(r.tracer, HostInfo{}, r.cfg);
        const auto& t = res.techniques[0];
        EXPECT_EQ(t.runs.size(), 3u) << "the minimum comes first";
        EXPECT_EQ(t.runs_end, RunsEnd::time_cap);
        EXPECT_TRUE(noisy(t.total));
        const std::string text = render_text(res);
        EXPECT_NE(text.find("  ! noisy: Fake: +-"), std::string::npos) << text;
        EXPECT_NE(text.find(" !  "), std::string::npos) << "the mean flagged in the table\n" << text;
        EXPECT_NE(text.find("  Fake: not settled after 3 runs: stopped at the time cap (" + ref(Setting::max_time) +
                            " 0.001 s)\n"),
                  std::string::npos)
            << text;
        const auto j = to_json(res);
        EXPECT_EQ(j["techniques"][0]["runs_end"], "time_cap");
        EXPECT_EQ(j["techniques"][0]["noisy"], true);
    }
    {
        StartupRun r(fake::Boot::ready, 0, 0);
        r.cfg.auto_runs = {true, 0.5, 100};
        r.driver.start_s_each = {0.01, 0.15};
        const auto t0 = std::chrono::steady_clock::now();
        StartupResult res = run_startup(r.tracer, HostInfo{}, r.cfg);
        const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const auto& t = res.techniques[0];
        EXPECT_EQ(t.runs_end, RunsEnd::time_cap);
        EXPECT_GT(t.runs.size(), 3u);   // 0.5 s holds more than three starts of 10 to 150 ms
        EXPECT_LT(t.runs.size(), 12u);  // and not more than 0.5 s of them, and one
        EXPECT_GE(took, 0.5);
        EXPECT_LT(took, 0.5 + 2.0);
        EXPECT_EQ(r.driver.stats.destroyed, int(t.runs.size()));
        EXPECT_TRUE(r.scratch_empty());
    }
}

TEST(StartupOrchestration, RunsAutoStopsAtItsMostRuns) {
    StartupRun r(fake::Boot::ready, 0, 1);
    r.cfg.auto_runs = {true, 60, 5};
    r.driver.start_s_each = {0.01, 0.01, 0.15};  // the warm-up first: measured 10, 150, 10, 10, 150 ms
    StartupResult res = run_startup(r.tracer, HostInfo{}, r.cfg);
    const auto& t = res.techniques[0];
    EXPECT_EQ(t.total.n, 5u);
    EXPECT_EQ(t.runs_end, RunsEnd::run_cap);
    EXPECT_NE(render_text(res).find("  Fake: not settled after 5 runs: the most " + ref(Setting::runs) + " auto makes"),
              std::string::npos) << render_text(res);
}

}  // namespace ht
