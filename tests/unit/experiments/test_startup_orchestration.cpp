// SPDX-License-Identifier: MIT
// run_startup's orchestration with a fake tracer and fake guests: every run is traced from
// begin_run to end_run, the spawner is armed only around start(), the guest's pids are tracked,
// and every guest is stopped and its scratch directory removed on every path (ready, timeout,
// death, a start that throws).
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

}  // namespace ht
