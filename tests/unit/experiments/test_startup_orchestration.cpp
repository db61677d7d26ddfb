// SPDX-License-Identifier: MIT
// run_startup's orchestration with a fake tracer and fake guests: every run is traced from
// begin_run to end_run, the spawner is armed only around start(), the guest's pids are tracked,
// and every guest is stopped and its scratch directory removed on every path (ready, timeout,
// death, a start that throws).
#include "core/base/setting.h"
#include "experiments/checkpoint.h"
#include "experiments/startup.h"
#include "fakes.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <algorithm>
#include <filesystem>
#include <fstream>

namespace ht {
namespace {

struct StartupRun {
    const TestTempDir scratch{fake::kTempDir};
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
        EXPECT_NE(m.find("stopped before it was ready"), std::string::npos) << m;
        EXPECT_NE(m.find("out of luck"), std::string::npos) << m;
    }
    EXPECT_EQ(r.tracer.begun, r.tracer.ended);
    EXPECT_EQ(r.driver.stats.destroyed, 1);
    EXPECT_TRUE(r.scratch_empty());
}

// A run whose guest's kernel panicked (seen under TCG in a restored guest) is run once more, said
// as it happens and in the result; the panicked guest is stopped and its run ended all the same.
TEST(StartupOrchestration, ARunWhoseGuestPanickedIsRunOnceMoreAndSaysSo) {
    StartupRun r(fake::Boot::ready, 2, 1);
    r.driver.panic_at = {1};  // the first measured run's guest
    std::vector<std::string> said;
    r.cfg.progress = [&](const std::string& line) { said.push_back(line); };
    StartupResult res = run_startup(r.tracer, HostInfo{}, r.cfg);
    const auto& t = res.techniques.at(0);
    EXPECT_EQ(t.runs.size(), 3u);
    EXPECT_EQ(t.total.n, 2u);
    const std::string why = "Fake run 1: the guest's kernel panicked before it was ready: Kernel panic - not syncing: fake";
    EXPECT_EQ(t.reruns, std::vector<std::string>{why});
    ASSERT_EQ(said.size(), 4u);
    EXPECT_EQ(said[1], why + "; running it once more");
    EXPECT_EQ(said[2].rfind("Fake run 1/2: ready in ", 0), 0u) << said[2];
    EXPECT_EQ(r.driver.stats.created, 4);
    EXPECT_EQ(r.driver.stats.stopped, 4);
    EXPECT_EQ(r.tracer.begun, 4);
    EXPECT_EQ(r.tracer.ended, 4);
    EXPECT_EQ(to_json(res)["techniques"][0]["reruns"], nlohmann::json::array({why}));
    EXPECT_NE(render_text(res).find("  run again: " + why + "\n"), std::string::npos) << render_text(res);
    EXPECT_TRUE(r.scratch_empty());
}

// Named as the progress lines name them: the warm-up, then the measured runs from 1.
TEST(StartupOrchestration, APanickedRunIsNamedAsTheProgressLinesNameIt) {
    StartupRun r(fake::Boot::ready, 2, 1);
    r.driver.panic_at = {0, 3};  // the warm-up's first guest; the second measured run's
    StartupResult res = run_startup(r.tracer, HostInfo{}, r.cfg);
    const std::string tail = ": the guest's kernel panicked before it was ready: Kernel panic - not syncing: fake";
    EXPECT_EQ(res.techniques.at(0).reruns, (std::vector<std::string>{"Fake warm-up" + tail, "Fake run 2" + tail}));
    EXPECT_EQ(res.techniques.at(0).total.n, 2u);
    EXPECT_EQ(r.driver.stats.created, 5);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(StartupOrchestration, SeveralWarmUpsAreNumberedAlikeInProgressAndErrors) {
    StartupRun r(fake::Boot::ready, 1, 2);
    r.driver.panic_at = {1};  // the second warm-up's first guest
    std::vector<std::string> said;
    r.cfg.progress = [&](const std::string& line) { said.push_back(line); };
    StartupResult res = run_startup(r.tracer, HostInfo{}, r.cfg);
    ASSERT_EQ(said.size(), 4u);
    EXPECT_EQ(said[0].rfind("Fake warm-up 1: ready in ", 0), 0u) << said[0];
    EXPECT_EQ(said[1].rfind("Fake warm-up 2: the guest's kernel panicked", 0), 0u) << said[1];
    EXPECT_EQ(said[2].rfind("Fake warm-up 2: ready in ", 0), 0u) << said[2];
    EXPECT_EQ(said[3].rfind("Fake run 1/1: ready in ", 0), 0u) << said[3];
    EXPECT_EQ(res.techniques.at(0).reruns.size(), 1u);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(StartupOrchestration, ARunWhoseGuestPanicsTwiceEndsTheExperiment) {
    StartupRun r(fake::Boot::ready, 2, 1);
    r.driver.panic_at = {1, 2};
    const std::string m = fake::what_of([&] { run_startup(r.tracer, HostInfo{}, r.cfg); });
    EXPECT_EQ(m, "Fake run 1: the guest's kernel panicked before it was ready: Kernel panic - not syncing: fake");
    EXPECT_EQ(r.driver.stats.created, 3);
    EXPECT_EQ(r.driver.stats.stopped, 3);
    EXPECT_EQ(r.tracer.begun, r.tracer.ended);
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

// --restore: the checkpoint is made once (a guest booted, then saved into the cache), each run
// starts from it and is ready when the guest answers a ping; a second invocation reuses it; a
// saved state that changed is found and made again, never loaded.
TEST(StartupOrchestration, RestoreMakesTheCheckpointOnceThenEachRunAnswersAPing) {
    namespace fs = std::filesystem;
    const TestTempDir cache{fake::kTempDir};
    StartupRun r(fake::Boot::ready, 2, 1);
    r.driver.checkpointing.on = true;
    r.driver.checkpointing.answers_after = 2;  // two pings go unanswered first: the guest still loading
    r.cfg.checkpoint_cache = cache.path;
    r.cfg.restore_after_s = 0;
    r.cfg.techniques = {{"fake", "Fake", &r.driver, Variant::app, NAN},
                        {"fake-restore", "Fake restore", &r.driver, Variant::app, 1.5, true}};
    std::vector<std::string> said;
    r.cfg.progress = [&](const std::string& line) { said.push_back(line); };
    StartupResult res = run_startup(r.tracer, HostInfo{}, r.cfg);
    ASSERT_EQ(res.techniques.size(), 2u);
    const auto& t = res.techniques[1];
    ASSERT_TRUE(t.checkpoint.has_value());
    EXPECT_FALSE(t.checkpoint->reused);
    EXPECT_EQ(t.checkpoint->made_why, "none in the cache");
    EXPECT_EQ(t.checkpoint->state_bytes, std::string("fake saved state").size());
    EXPECT_EQ(t.checkpoint->ping_rtt_ms.size(), 9u);  // ten pings, the first waits for the channel
    EXPECT_EQ(r.driver.stats.checkpointed, 1);
    EXPECT_EQ(r.driver.stats.restored, 3);  // the warm-up and two runs, none booted
    EXPECT_EQ(t.runs.size(), 3u);
    for (const auto& run : t.runs) {
        std::vector<std::string> names;
        for (const auto& m : run.marks) names.push_back(m.name);
        EXPECT_EQ(names.front(), "launch");
        EXPECT_EQ(names.back(), "ready");
        EXPECT_NE(std::find(names.begin(), names.end(), "resumed"), names.end());
        EXPECT_NE(std::find(names.begin(), names.end(), "state_load"), names.end());
    }
    // every guest stopped, every scratch directory gone, one entry in the cache
    EXPECT_EQ(r.driver.stats.created, r.driver.stats.destroyed);
    EXPECT_TRUE(r.scratch_empty());
    std::vector<fs::path> entries(fs::directory_iterator(cache.path), fs::directory_iterator{});
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_TRUE(fs::exists(entries[0] / kCheckpointState));
    EXPECT_TRUE(fs::exists(entries[0] / "checkpoint.json"));
    const auto j = to_json(res);
    EXPECT_EQ(j["techniques"][1]["restore"], "eager");
    EXPECT_TRUE(j["techniques"][0]["restore"].is_null());
    EXPECT_EQ(j["techniques"][1]["checkpoint"]["reused"], false);
    const std::string text = render_text(res);
    EXPECT_NE(text.find("From a checkpoint (Table 3's restore rows)"), std::string::npos) << text;
    EXPECT_NE(text.find("Fake restore: "), std::string::npos) << text;
    EXPECT_NE(text.find("of its cold start"), std::string::npos) << text;

    // again: reused, nothing booted
    StartupRun again(fake::Boot::ready, 1, 0);
    again.driver.checkpointing.on = true;
    again.cfg.checkpoint_cache = cache.path;
    again.cfg.restore_after_s = 0;
    again.cfg.techniques = {{"fake-restore", "Fake restore", &again.driver, Variant::app, NAN, true}};
    StartupResult res2 = run_startup(again.tracer, HostInfo{}, again.cfg);
    EXPECT_TRUE(res2.techniques[0].checkpoint->reused);
    EXPECT_EQ(again.driver.stats.checkpointed, 0);
    EXPECT_EQ(res2.techniques[0].checkpoint->ping_rtt_ms.size(), 9u);  // kept in its record

    // its state changed under it: made again
    std::ofstream(entries[0] / kCheckpointState, std::ios::app) << "x";
    StartupRun third(fake::Boot::ready, 1, 0);
    third.driver.checkpointing.on = true;
    third.cfg.checkpoint_cache = cache.path;
    third.cfg.restore_after_s = 0;
    third.cfg.techniques = again.cfg.techniques;
    third.cfg.techniques[0].driver = &third.driver;
    StartupResult res3 = run_startup(third.tracer, HostInfo{}, third.cfg);
    EXPECT_FALSE(res3.techniques[0].checkpoint->reused);
    EXPECT_NE(res3.techniques[0].checkpoint->made_why.find("has 17 bytes, not the 16"), std::string::npos)
        << res3.techniques[0].checkpoint->made_why;
    EXPECT_EQ(third.driver.stats.checkpointed, 1);
}

// A container's CRIU images are a directory: checked as one saved state, its files summed.
TEST(StartupOrchestration, ASavedStateThatIsADirectoryIsCheckedWholeAndRebuiltWhenAFileChanges) {
    const TestTempDir cache{fake::kTempDir}, scratch{fake::kTempDir};
    fake::Driver d(fake::Boot::ready);
    d.checkpointing.on = true;
    d.checkpointing.state_dir = true;
    const GuestSpec spec = make_guest_spec(Variant::app, {}, Accel::tcg);
    const auto made = ensure_checkpoint(d, spec, cache.path, scratch.path, 5, {});
    EXPECT_FALSE(made.reused);
    EXPECT_EQ(made.state_bytes, std::string("fake saved state").size() + std::string("dumped\n").size());
    const auto again = ensure_checkpoint(d, spec, cache.path, scratch.path, 5, {});
    EXPECT_TRUE(again.reused) << again.made_why;
    EXPECT_EQ(again.state_bytes, made.state_bytes);
    EXPECT_EQ(d.stats.checkpointed, 1);
    // one byte of one image changed, its size kept: the hash over the directory notices
    {
        std::fstream f(made.dir / kCheckpointState / "pages-1.img", std::ios::in | std::ios::out);
        f.seekp(0);
        f << 'F';
    }
    const auto third = ensure_checkpoint(d, spec, cache.path, scratch.path, 5, {});
    EXPECT_FALSE(third.reused);
    EXPECT_NE(third.made_why.find("its saved state's content changed"), std::string::npos) << third.made_why;
    // an image gone: its size no longer adds up
    std::filesystem::remove(third.dir / kCheckpointState / "dump.log");
    const auto fourth = ensure_checkpoint(d, spec, cache.path, scratch.path, 5, {});
    EXPECT_FALSE(fourth.reused);
    EXPECT_NE(fourth.made_why.find("its saved state has 16 bytes"), std::string::npos) << fourth.made_why;
    EXPECT_EQ(d.stats.checkpointed, 3);
}

// CRIU failing on a container (what it cannot save here) leaves that row unmeasured with its
// reason, the others measured; the same failure on a VM's restore stops the run.
TEST(StartupOrchestration, AContainerCriuCannotSaveIsNotMeasuredAndTheOthersAre) {
    const TestTempDir cache{fake::kTempDir};
    StartupRun r(fake::Boot::ready, 1, 0);
    r.driver.kind_of = GuestKind::container;
    r.driver.checkpointing.on = true;
    r.driver.checkpointing.save_error = "CRIU could not checkpoint container x: Error (criu/files-ext.c:94): bpf";
    r.cfg.checkpoint_cache = cache.path;
    r.cfg.techniques.push_back({"fake-restore", "Fake restore", &r.driver, Variant::app, NAN, true});
    r.cfg.techniques.push_back({"fake2", "Fake again", &r.driver, Variant::app, NAN});
    const StartupResult res = run_startup(r.tracer, HostInfo{}, r.cfg);
    ASSERT_EQ(res.techniques.size(), 2u);
    EXPECT_EQ(res.techniques[0].technique.label, "Fake");
    EXPECT_EQ(res.techniques[1].technique.label, "Fake again");
    ASSERT_EQ(res.not_measured.size(), 1u);
    EXPECT_EQ(res.not_measured[0].first, "Fake restore");
    EXPECT_NE(res.not_measured[0].second.find("files-ext.c:94"), std::string::npos);
    EXPECT_NE(render_text(res).find("Fake restore: not measured: CRIU could not checkpoint"), std::string::npos);
    EXPECT_TRUE(std::filesystem::is_empty(cache.path)) << "nothing half-made left in the cache";
    EXPECT_EQ(r.driver.stats.created, r.driver.stats.destroyed);
    EXPECT_TRUE(r.scratch_empty());

    StartupRun vm(fake::Boot::ready, 1, 0);
    vm.driver.kind_of = GuestKind::vm;
    vm.driver.checkpointing = r.driver.checkpointing;
    vm.cfg.checkpoint_cache = cache.path;
    vm.cfg.techniques.push_back({"fake-restore", "Fake restore", &vm.driver, Variant::app, NAN, true});
    EXPECT_NE(fake::what_of([&] { run_startup(vm.tracer, HostInfo{}, vm.cfg); }).find("files-ext.c:94"), std::string::npos);
}

TEST(StartupOrchestration, ARestoredGuestThatNeverAnswersTimesOutAndIsStopped) {
    const TestTempDir cache{fake::kTempDir};
    StartupRun r(fake::Boot::ready, 1, 0);
    r.driver.checkpointing.on = true;
    r.cfg.checkpoint_cache = cache.path;
    r.cfg.timeout_s = 0.3;
    r.cfg.techniques = {{"fake-restore", "Fake restore", &r.driver, Variant::app, NAN, true}};
    // the checkpoint is made with pings answered; then its restored guests fall silent
    auto made = ensure_checkpoint(r.driver, make_guest_spec(Variant::app, {}, Accel::tcg), cache.path, r.scratch.path, 5, {});
    EXPECT_FALSE(made.reused);
    r.driver.checkpointing.answers_after = -1;
    const std::string err = fake::what_of([&] { run_startup(r.tracer, HostInfo{}, r.cfg); });
    EXPECT_NE(err.find("not ready after 0 s"), std::string::npos) << err;
    EXPECT_GT(r.driver.stats.pings, 20) << "pinged every 2 ms until the timeout";
    EXPECT_EQ(r.driver.stats.created, r.driver.stats.destroyed);
    EXPECT_EQ(r.tracer.begun, r.tracer.ended);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(StartupOrchestration, AGuestThatDiesBeforeItIsSavedLeavesNoCheckpoint) {
    const TestTempDir cache{fake::kTempDir};
    const TestTempDir scratch{fake::kTempDir};
    fake::Driver d(fake::Boot::dies);
    d.checkpointing.on = true;
    const std::string err = fake::what_of(
        [&] { ensure_checkpoint(d, make_guest_spec(Variant::app, {}, Accel::tcg), cache.path, scratch.path, 5, {}); });
    EXPECT_NE(err.find("stopped before it was ready"), std::string::npos) << err;
    EXPECT_TRUE(std::filesystem::is_empty(cache.path)) << "a half-made checkpoint was left in the cache";
    EXPECT_TRUE(std::filesystem::is_empty(scratch.path));
    EXPECT_EQ(d.stats.checkpointed, 0);
}

TEST(Checkpoint, ItsRecordMustMatchTheGuestAndEveryFileFound) {
    nlohmann::json meta{{"version", 2},
                        {"key", "k1"},
                        {"files", {{"state", {{"bytes", 10}, {"xxh3", "00000000000000ff"}}},
                                   {"ram", {{"bytes", 4096}, {"xxh3", "0000000000000001"}}}}}};
    const std::map<std::string, FileSig> good{{"state", {10, 0xff}}, {"ram", {4096, 1}}};
    EXPECT_EQ(checkpoint_problem(meta, "k1", good), "");
    auto with = [&](const std::string& name, std::optional<FileSig> sig) {
        auto m = good;
        if (sig) m[name] = *sig;
        else m.erase(name);
        return checkpoint_problem(meta, "k1", m);
    };
    EXPECT_NE(checkpoint_problem(meta, "k2", good).find("other images or another guest configuration"), std::string::npos);
    EXPECT_EQ(with("state", std::nullopt), "its saved state is missing");
    EXPECT_EQ(with("ram", std::nullopt), "its RAM file is missing");
    EXPECT_EQ(with("state", FileSig{11, 0xff}), "its saved state has 11 bytes, not the 10 it was saved with");
    EXPECT_EQ(with("ram", FileSig{4096, 2}), "its RAM file's content changed since it was saved");
    EXPECT_EQ(with("state.part", FileSig{1, 1}), "");  // a file it was not saved with is not looked at
    EXPECT_EQ(checkpoint_problem(nlohmann::json("garbage"), "k1", good), "its record is unreadable");
    EXPECT_EQ(checkpoint_problem(nlohmann::json{{"version", 99}, {"key", "k1"}, {"files", meta["files"]}}, "k1", good),
              "its record is unreadable");
    EXPECT_EQ(checkpoint_problem(nlohmann::json{{"version", 2}, {"key", "k1"}, {"files", {{"ram", meta["files"]["ram"]}}}},
                                 "k1", good),
              "its record is unreadable");  // a record without a saved state
}

}  // namespace ht

namespace ht {

// Checkpoints are a cache: cleanup removes only what a killed run left half-made, unless asked to
// remove them all; one a live run is making is always kept.
TEST(Checkpoint, CleanupRemovesHalfMadeOnesOfDeadRunsAndAllOnlyWhenAsked) {
    namespace fs = std::filesystem;
    const TestTempDir cache{fake::kTempDir};
    const fs::path whole = fs::path(cache.path) / "whole", dead = fs::path(cache.path) / "dead",
                   live = fs::path(cache.path) / "live";
    for (const auto& d : {whole, dead, live}) fs::create_directories(d);
    std::ofstream(whole / "checkpoint.json") << "{}";
    std::ofstream(whole / kCheckpointState) << "state";
    pid_t gone = fork();
    if (gone == 0) _exit(0);
    waitpid(gone, nullptr, 0);
    std::ofstream(dead / ("making-" + std::to_string(gone))).flush();
    std::ofstream(dead / "state.part") << "half";
    std::ofstream(live / ("making-" + std::to_string(getpid()))).flush();

    auto r = clean_checkpoints(cache.path, false);
    ASSERT_EQ(r.removed.size(), 1u);
    EXPECT_NE(r.removed[0].find("half-made checkpoint " + dead.string()), std::string::npos) << r.removed[0];
    EXPECT_FALSE(fs::exists(dead));
    EXPECT_TRUE(fs::exists(whole));
    ASSERT_EQ(r.kept.size(), 1u);
    EXPECT_NE(r.kept[0].find("is making it"), std::string::npos) << r.kept[0];

    r = clean_checkpoints(cache.path, true);
    ASSERT_EQ(r.removed.size(), 1u);
    EXPECT_NE(r.removed[0].find("removed the checkpoint " + whole.string()), std::string::npos) << r.removed[0];
    EXPECT_FALSE(fs::exists(whole));
    EXPECT_TRUE(fs::exists(live));
    EXPECT_TRUE(clean_checkpoints(fs::path(cache.path) / "none", true).removed.empty());  // no cache: nothing, no throw
}

// Table 3's headline, also for the single-program guests: how far restoring closes the VM/container gap.
TEST(StartupReport, GapsColdAndRestoredForFullAndSingleProgramGuests) {
    fake::Driver vm(fake::Boot::ready), ct(fake::Boot::ready);
    vm.kind_of = GuestKind::vm;
    ct.kind_of = GuestKind::container;
    StartupResult r;
    auto add = [&](fake::Driver* d, Variant v, bool restore, double mean) {
        TechniqueResult t;
        t.technique = {"t" + std::to_string(r.techniques.size()), "T", d, v, NAN, restore};
        t.total.mean = mean;
        t.total.n = 1;
        if (d == &vm) t.accel = "kvm";
        r.techniques.push_back(t);
    };
    add(&vm, Variant::app, false, 5.0);
    add(&ct, Variant::app, false, 0.25);
    add(&vm, Variant::app, true, 2.8);
    add(&ct, Variant::app, true, 1.4);
    std::string text = render_text(r);
    EXPECT_NE(text.find("KVM-bash/LXC-bash gap, cold: x20.0"), std::string::npos) << text;
    EXPECT_NE(text.find("KVM-bash/LXC-bash gap, both restored: x2.0"), std::string::npos) << text;
    EXPECT_EQ(text.find("VM/container gap"), std::string::npos) << "no full guests ran";
    EXPECT_EQ(text.find("under TCG"), std::string::npos);
    add(&vm, Variant::full, false, 20.0);
    add(&ct, Variant::full, false, 0.5);
    add(&vm, Variant::full, true, 0.7);
    r.techniques.back().accel = "tcg";
    text = render_text(r);
    EXPECT_NE(text.find("VM/container gap, cold: x40.0 (paper x51.7)"), std::string::npos) << text;
    EXPECT_NE(text.find("restored VM vs cold container: x1.4"), std::string::npos) << text;
    EXPECT_NE(text.find("the VM rows ran under TCG"), std::string::npos) << text;
}

}  // namespace ht
