// SPDX-License-Identifier: MIT
// run_memory's orchestration with a fake tracer, fake guests and a fake host (experiments/memory.h
// MemoryHost: the host settings it switches, the footprints and KSM counters it reads): series and
// steps in order, host settings switched per series and restored once every guest is stopped, the
// settle rules (footprint flat, KSM burndown flat, the settle timeout), and every guest stopped and
// its scratch directory removed, the spawner disarmed, on every path (ready, a guest never ready,
// one that dies, a start that throws).
#include "core/base/setting.h"
#include "experiments/memory.h"
#include "fakes.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace ht {
namespace {

// The host as run_memory sees it: settings calls logged in order, readings made up.
class FakeHost : public MemoryHost {
public:
    explicit FakeHost(const fake::Stats& guests) : guests_(guests) {}

    const KsmSettings& saved() const override { return saved_; }
    bool recovered() const override { return false; }
    void set_thp(const std::string& mode) override {
        log.push_back("thp " + mode);
        thp_ = mode;
    }
    std::string thp() const override { return thp_; }
    void ensure_inotify_instances(unsigned n) override { log.push_back("inotify " + std::to_string(n)); }
    void enable(unsigned pages, unsigned sleep_ms) override {
        log.push_back("ksm on " + std::to_string(pages) + " " + std::to_string(sleep_ms));
        ksm_on_ = true;
    }
    void disable() override {
        log.push_back("ksm off");
        ksm_on_ = false;
    }
    bool restore() noexcept override {
        // restored only once no guest of the run is left running
        log.push_back("restore, " + std::to_string(guests_.started - guests_.stopped) + " guests running");
        return true;
    }
    std::string restore_failures() const override { return {}; }

    // Every guest's processes: `pss_mb`, plus `growth_mb` more at each reading.
    MemUsage processes_memory(const std::vector<pid_t>& pids) const override {
        MemUsage m;
        if (pids.empty()) return m;
        m.pss_kb = uint64_t((pss_mb + growth_mb * double(readings_++)) * 1024);
        m.processes = unsigned(pids.size());
        return m;
    }
    // While KSM is on: `scans_per_reading` more full scans at each reading, each merging
    // `merges_per_scan` pages (a flat burndown).
    KsmCounters ksm_counters() const override {
        if (ksm_on_) {
            k_.full_scans += scans_per_reading;
            k_.pages_sharing += scans_per_reading * merges_per_scan;
        }
        return k_;
    }
    bool ksm_mergeable(pid_t) const override { return mergeable; }
    std::optional<VmMemParts> vm_parts(pid_t, uint64_t) const override { return std::nullopt; }
    // The KSM frames of each read in turn, cycled (none: the process is gone).
    std::optional<std::vector<uint64_t>> ksm_frames(pid_t) const override {
        if (frames.empty()) return std::nullopt;
        return frames[frame_reads_++ % frames.size()];
    }

    std::vector<std::string> log;
    double pss_mb = 10, growth_mb = 0;
    bool mergeable = false;
    uint64_t scans_per_reading = 0, merges_per_scan = 0;
    std::vector<std::vector<uint64_t>> frames;

private:
    const fake::Stats& guests_;
    KsmSettings saved_{{"run", "0"}, {"pages_to_scan", "100"}};
    std::string thp_ = "madvise";
    bool ksm_on_ = false;
    mutable unsigned readings_ = 0, frame_reads_ = 0;
    mutable KsmCounters k_;
};

struct MemoryRun {
    const TestTempDir scratch{fake::kTempDir};
    fake::Tracer tracer;
    fake::Driver driver;
    FakeHost host{driver.stats};
    MemoryConfig cfg;
    std::vector<std::string> said;
    explicit MemoryRun(fake::Boot boot, std::vector<unsigned> counts = {1, 2}) : driver(boot) {
        cfg.techniques = {{"fake", "Fake", &driver, Variant::app, NAN, NAN}};
        cfg.counts = std::move(counts);
        cfg.ksm_modes = {false};
        cfg.scratch_parent = scratch.path;
        cfg.boot_timeout_s = 5;
        cfg.settle_timeout_s = 5;
        cfg.sample_s = 0.05;  // a sample at every turn of the settle loop (100 ms)
        cfg.settle_min_s = 0;
        cfg.settle_window_s = 0.2;
        cfg.progress = [this](const std::string& line) { said.push_back(line); };
    }
    MemoryResult run() { return run_memory(tracer, host, HostInfo{}, cfg); }
    bool scratch_empty() const { return std::filesystem::is_empty(scratch.path); }
    // The lines said, each beginning with one of `prefixes`, in this order (others in between).
    bool said_in_order(const std::vector<std::string>& prefixes) const {
        std::size_t i = 0;
        for (const auto& line : said)
            if (i < prefixes.size() && line.rfind(prefixes[i], 0) == 0) ++i;
        return i == prefixes.size();
    }
};

}  // namespace

TEST(MemoryOrchestration, SeriesAndStepsRunInOrderThenEveryGuestIsStoppedAndTheHostRestored) {
    MemoryRun r(fake::Boot::ready);
    r.cfg.ksm_modes = {true, false};
    r.cfg.thp = "never";
    std::vector<int> running_at_end_run;
    r.tracer.on_end_run = [&] { running_at_end_run.push_back(r.driver.stats.started - r.driver.stats.stopped); };
    MemoryResult res = r.run();

    // host settings: THP and inotify first, KSM switched per series, restored last with no guest left
    EXPECT_EQ(r.host.log, (std::vector<std::string>{"thp never", "inotify 144", "ksm on 20000 20", "ksm off",
                                                    "restore, 0 guests running"}));
    EXPECT_EQ(res.thp, "never");
    EXPECT_EQ(res.ksm_saved.at("pages_to_scan"), "100");

    ASSERT_EQ(res.series.size(), 2u);
    EXPECT_TRUE(res.series[0].ksm);
    EXPECT_FALSE(res.series[1].ksm);
    for (const auto& s : res.series) {
        ASSERT_EQ(s.steps.size(), 2u);
        EXPECT_EQ(s.command, "fake guest ht-mem-fake-" + std::to_string(getpid()) + "-1");
        for (std::size_t i = 0; i < 2; ++i) {
            const MemoryStep& st = s.steps[i];
            EXPECT_EQ(st.guests, i + 1);
            ASSERT_EQ(st.per_guest.size(), i + 1);
            EXPECT_TRUE(st.settled) << st.settle_note;
            EXPECT_NE(st.settle_note.find("footprint changed under 1.0% over the last 3 samples"), std::string::npos)
                << st.settle_note;
            EXPECT_DOUBLE_EQ(st.pss_mb.mean, 10.0);
            EXPECT_DOUBLE_EQ(st.incremental_mb, 10.0);
            EXPECT_EQ(st.per_guest[i].main_pid, 4242);
        }
    }
    // KSM on, but nothing the guests have is mergeable: settled on the footprint, and said so
    EXPECT_EQ(res.series[0].steps[0].settle_note.rfind("no KSM-mergeable memory in these guests; ", 0), 0u);
    EXPECT_TRUE(r.said_in_order({"[fake KSM on] adding 1 guest -> 1", "[fake KSM on] 1 ready after",
                                 "[fake KSM on] 1 guests: 10.0 MB per guest", "[fake KSM on] adding 1 guest -> 2",
                                 "[fake KSM on] 2 guests: 10.0 MB per guest", "[fake KSM off] adding 1 guest -> 1",
                                 "[fake KSM off] 2 guests: 10.0 MB per guest"}));

    // one traced run per series, ended once its guests were stopped; a trace id per guest
    EXPECT_EQ(r.tracer.begun, 2);
    EXPECT_EQ(r.tracer.ended, 2);
    EXPECT_EQ(running_at_end_run, (std::vector<int>{0, 0}));
    EXPECT_FALSE(r.tracer.armed);
    EXPECT_EQ(r.tracer.armed_for, (std::vector<uint32_t>{1, 2, 3, 4}));
    ASSERT_EQ(r.tracer.tracked.size(), 8u);
    EXPECT_EQ(r.tracer.tracked[6], (std::pair<pid_t, uint32_t>{4242, 4}));
    EXPECT_EQ(r.driver.stats.created, 4);
    EXPECT_EQ(r.driver.stats.stopped, 4);
    EXPECT_EQ(r.driver.stats.destroyed, 4);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(MemoryOrchestration, KsmOnSettlesWhenTheBurndownReadFromSysfsIsFlat) {
    MemoryRun r(fake::Boot::ready, {1});
    r.cfg.ksm_modes = {true};
    r.host.mergeable = true;
    r.host.scans_per_reading = 2;
    r.host.merges_per_scan = 100;
    MemoryResult res = r.run();
    ASSERT_EQ(res.series.size(), 1u);
    ASSERT_EQ(res.series[0].steps.size(), 1u);
    const MemoryStep& st = res.series[0].steps[0];
    EXPECT_TRUE(st.settled) << st.settle_note;
    // the fake tracer has no ksm:ksm_stop_scan: full scans come from /sys/kernel/mm/ksm's counters
    EXPECT_EQ(st.settle_note.rfind("KSM burndown flat at 100 merges per full scan over 0 s", 0), 0u) << st.settle_note;
    EXPECT_NE(st.settle_note.find("from /sys/kernel/mm/ksm"), std::string::npos) << st.settle_note;
    EXPECT_GE(res.series[0].scans.size(), 8u);  // two windows of at least two scans each
    for (const auto& k : res.series[0].scans) EXPECT_EQ(k.merges, 100u);
    EXPECT_GT(st.ksm.pages_sharing, 0u);
    EXPECT_EQ(r.host.log.back(), "restore, 0 guests running");
    EXPECT_EQ(r.tracer.begun, r.tracer.ended);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(MemoryOrchestration, AFootprintThatNeverSettlesIsMeasuredAnywayAtTheSettleTimeout) {
    MemoryRun r(fake::Boot::ready, {1});
    r.host.growth_mb = 1;  // 10 % more at every sample
    r.cfg.settle_timeout_s = 0.3;
    MemoryResult res = r.run();
    ASSERT_EQ(res.series.size(), 1u);
    ASSERT_EQ(res.series[0].steps.size(), 1u);
    const MemoryStep& st = res.series[0].steps[0];
    EXPECT_FALSE(st.settled);
    EXPECT_EQ(st.settle_note, "not settled after 0 s (" + ref(Setting::settle_timeout) + ")");
    EXPECT_EQ(st.per_guest.size(), 1u) << "measured anyway";
    EXPECT_GE(res.series[0].timeline.size(), 3u);
    EXPECT_TRUE(r.said_in_order({"[fake KSM off] warning: not settled after 0 s (" + ref(Setting::settle_timeout) + "); measuring anyway",
                                 "[fake KSM off] 1 guests: "}));
    EXPECT_EQ(r.host.log.back(), "restore, 0 guests running");
    EXPECT_EQ(r.driver.stats.stopped, 1);
    EXPECT_EQ(r.tracer.begun, r.tracer.ended);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(MemoryOrchestration, GuestsNeverReadyFailTheStepAtTheBootTimeoutAndAreAllStopped) {
    MemoryRun r(fake::Boot::never, {2});
    r.cfg.boot_timeout_s = 0.2;
    const std::string m = fake::what_of([&] { r.run(); });
    EXPECT_NE(m.find("Fake: 2 guests not all ready after 0 s (" + ref(Setting::boot_timeout) + ")"), std::string::npos) << m;
    EXPECT_FALSE(r.tracer.armed);
    EXPECT_EQ(r.tracer.armed_for, (std::vector<uint32_t>{1, 2}));  // both launched
    EXPECT_EQ(r.driver.stats.started, 2);
    EXPECT_EQ(r.driver.stats.stopped, 2);
    EXPECT_EQ(r.driver.stats.destroyed, 2);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(MemoryOrchestration, AGuestThatDiesIsNamedWithItsLastOutputAndEveryGuestStopped) {
    {  // before it was ready
        MemoryRun r(fake::Boot::dies, {1});
        const std::string m = fake::what_of([&] { r.run(); });
        EXPECT_EQ(m, "Fake guest 1 stopped before it was ready: out of luck");
        EXPECT_FALSE(r.tracer.armed);
        EXPECT_EQ(r.driver.stats.destroyed, 1);
        EXPECT_TRUE(r.scratch_empty());
    }
    {  // while memory settles
        MemoryRun r(fake::Boot::ready_then_dies, {1});
        const std::string m = fake::what_of([&] { r.run(); });
        EXPECT_EQ(m, "Fake guest 1 died while memory settled: out of luck");
        EXPECT_EQ(r.driver.stats.stopped, 1);
        EXPECT_EQ(r.driver.stats.destroyed, 1);
        EXPECT_TRUE(r.scratch_empty());
    }
}

TEST(MemoryOrchestration, AStartThatThrowsDisarmsTheSpawnerAndCleansUpEveryGuestCreated) {
    MemoryRun r(fake::Boot::start_fails, {2});
    const std::string m = fake::what_of([&] { r.run(); });
    EXPECT_EQ(m, "fake guest: start refused");
    EXPECT_FALSE(r.tracer.armed) << "the spawner stayed armed: hypetrace's next child would be counted as the guest";
    EXPECT_EQ(r.driver.stats.created, 2);
    EXPECT_EQ(r.driver.stats.started, 1);  // the first start threw
    EXPECT_EQ(r.driver.stats.destroyed, 2);
    EXPECT_TRUE(r.scratch_empty());
}

}  // namespace ht

namespace ht {

TEST(MemoryOrchestration, KernelPairsBootEachGuestOnItsKernelAndSplitWhatKsmMergedBetweenThem) {
    MemoryRun r(fake::Boot::ready, {1, 2});
    r.cfg.ksm_modes = {true};
    r.cfg.kernel_pairs = {{"k-a", "k-a"}, {"k-a", "k-b"}};
    // Read after each pair's second guest settled, guest 1 then guest 2. First pair: frames 1 and 3
    // in common; second pair: frame 6 only.
    r.host.frames = {{1, 1, 2, 3}, {1, 3, 9}, {5, 5, 6}, {6, 7}};
    MemoryResult res = r.run();
    ASSERT_EQ(res.series.size(), 2u);
    ASSERT_EQ(r.driver.specs.size(), 4u);
    EXPECT_EQ(r.driver.specs[0].kernel, "k-a");
    EXPECT_EQ(r.driver.specs[1].kernel, "k-a");
    EXPECT_EQ(r.driver.specs[2].kernel, "k-a");
    EXPECT_EQ(r.driver.specs[3].kernel, "k-b") << "the second guest of a pair boots the pair's second kernel";
    EXPECT_EQ(res.series[1].kernels, (std::vector<std::string>{"k-a", "k-b"}));
    EXPECT_FALSE(res.series[0].steps[0].ksm_between) << "one guest: nothing between guests yet";
    ASSERT_TRUE(res.series[0].steps[1].ksm_between);
    const KsmShare& k = *res.series[0].steps[1].ksm_between;
    EXPECT_EQ(k.between, 2u);
    EXPECT_EQ(k.saved_within_a(), 1u);
    EXPECT_EQ(k.saved_within_b(), 0u);
    EXPECT_EQ(r.host.log, (std::vector<std::string>{"inotify 144", "ksm on 20000 20", "ksm on 20000 20",
                                                    "restore, 0 guests running"}));
    EXPECT_TRUE(r.said_in_order({"[fake k-a+k-a KSM on] adding 1 guest -> 1", "[fake k-a+k-b KSM on] adding 1 guest -> 2"}));

    const auto rows = kernel_pair_rows(res);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_DOUBLE_EQ(rows[0].between_mb, 2 * 4096.0 / 1048576.0);
    EXPECT_DOUBLE_EQ(rows[0].vs_identical, 1.0);
    EXPECT_DOUBLE_EQ(rows[1].between_mb, 4096.0 / 1048576.0);
    EXPECT_DOUBLE_EQ(rows[1].vs_identical, 0.5) << "against the pair of identical kernels";
    const auto j = to_json(res);
    EXPECT_EQ(j["guest_kernels"][1]["kernels"][1], "k-b");
    EXPECT_DOUBLE_EQ(j["guest_kernels"][1]["between_vs_identical"].get<double>(), 0.5);
    EXPECT_EQ(j["series"][0]["steps"][1]["ksm_between_guests_1_and_2"]["frames_in_common"], 2u);
    EXPECT_TRUE(j["series"][0]["steps"][0]["ksm_between_guests_1_and_2"].is_null());
    EXPECT_NE(render_text(res).find("KSM across guest kernels"), std::string::npos);
    EXPECT_TRUE(r.scratch_empty());
}

}  // namespace ht
