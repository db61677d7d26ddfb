// SPDX-License-Identifier: MIT
// HostSettingsGuard against fake sysfs/procfs files: what it saves, changes and restores.
#include "core/base/error.h"
#include "core/host/host_settings.h"
#include "core/host/proc.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <csignal>
#include <sys/stat.h>
#include <sys/wait.h>
#include <atomic>
#include <thread>
#include <unistd.h>

using namespace ht;
namespace fs = std::filesystem;

namespace {

struct FakeKsm : ::testing::Test {
    fs::path root, sys, state, thp, inotify;
    std::map<std::string, fs::path> extra() const { return {{"thp", thp}, {"inotify_instances", inotify}}; }
    void SetUp() override {
        char tmpl[] = "/tmp/ht-ksm-XXXXXX";
        root = mkdtemp(tmpl);
        sys = root / "ksm";
        state = root / "state";
        thp = root / "thp_enabled";
        inotify = root / "max_user_instances";
        std::ofstream(inotify) << "128\n";
        fs::create_directories(sys);
        put("run", "0\n");
        put("pages_to_scan", "100\n");
        put("sleep_millisecs", "20\n");
        put("advisor_mode", "[none] scan-time\n");
        put("pages_sharing", "0\n", 0444);  // read-only: never saved or written
        std::ofstream(thp) << "always [madvise] never\n";
    }

    void TearDown() override { fs::remove_all(root); }
    void put(const std::string& name, const std::string& v, mode_t mode = 0644) {
        chmod((sys / name).c_str(), 0644);  // writable first (not root: a 0444 file refuses the write)
        std::ofstream(sys / name) << v;
        chmod((sys / name).c_str(), mode);
    }
    std::string get(const std::string& name) {
        std::string s = read_text((sys / name).string()).value_or("?");
        while (!s.empty() && s.back() == '\n') s.pop_back();
        return s;
    }
};

}  // namespace

TEST_F(FakeKsm, ReadsWritableSettingsAndSelectors) {
    KsmSettings s = read_ksm_settings(sys);
    EXPECT_EQ(s.size(), 4u);
    EXPECT_EQ(s["advisor_mode"], "none");
    EXPECT_EQ(s.count("pages_sharing"), 0u);
    EXPECT_EQ(parse_ksm_settings(format_ksm_settings(s)), s);
}

// The kernel refuses pages_to_scan while the advisor is on: the advisor goes back after every scan
// parameter, run last.
TEST(KsmRestoreOrder, ScanParametersThenAdvisorThenRun) {
    KsmSettings s{{"advisor_max_cpu", "70"}, {"advisor_mode", "scan-time"}, {"max_page_sharing", "256"},
                  {"pages_to_scan", "100"}, {"run", "1"}, {"sleep_millisecs", "20"}, {"thp", "madvise"}};
    auto order = ksm_restore_order(s);
    ASSERT_EQ(order.size(), s.size());
    auto pos = [&](const std::string& n) { return std::find(order.begin(), order.end(), n) - order.begin(); };
    EXPECT_LT(pos("pages_to_scan"), pos("advisor_mode"));
    EXPECT_LT(pos("advisor_max_cpu"), pos("advisor_mode"));
    EXPECT_EQ(order[order.size() - 2], "advisor_mode");
    EXPECT_EQ(order.back(), "run");
}

TEST_F(FakeKsm, EnableThenRestorePutsEverythingBack) {
    {
        HostSettingsGuard g(sys, state, extra());
        EXPECT_TRUE(fs::exists(state / "settings.saved"));
        g.enable(5000, 10);
        EXPECT_EQ(get("run"), "1");
        EXPECT_EQ(get("pages_to_scan"), "5000");
        EXPECT_EQ(get("sleep_millisecs"), "10");
    }  // destructor restores
    EXPECT_EQ(get("run"), "0");
    EXPECT_EQ(get("pages_to_scan"), "100");
    EXPECT_EQ(get("sleep_millisecs"), "20");
    EXPECT_FALSE(fs::exists(state / "settings.saved"));
}

// KSM switched on by the guard keeps running at restore until its counters are back to what they
// were at enable(): ksmd alone frees what ended processes had merged, and stopping it first leaves
// pages_shared counting pages nobody maps (later scans then take the slow KSM-possible paths).
// `ksmd` frees the merges after a while and tells what run was then.
struct FakeKsmd {
    FakeKsm& k;
    std::string run_when_freed;
    std::thread t;
    explicit FakeKsmd(FakeKsm& ksm, const char* shared_after = "2\n") : k(ksm) {
        t = std::thread([this, shared_after] {
            std::this_thread::sleep_for(std::chrono::milliseconds(150));
            run_when_freed = k.get("run");
            k.put("pages_shared", shared_after, 0444);
            k.put("pages_sharing", "0\n", 0444);
        });
    }
    // What run was when the merges were freed.
    std::string join() {
        if (t.joinable()) t.join();
        return run_when_freed;
    }
    ~FakeKsmd() { join(); }
};

TEST_F(FakeKsm, RestoreLetsKsmFreeWhatEndedProcessesMergedBeforeStoppingIt) {
    put("pages_shared", "2\n", 0444);
    put("full_scans", "10\n", 0444);
    {
        HostSettingsGuard g(sys, state, extra());
        EXPECT_EQ(g.saved().count("pages_shared") + g.saved().count("full_scans"), 0u) << "counters are not settings";
        g.enable(5000, 10);
        put("pages_shared", "40\n", 0444);  // merges of processes that have ended by restore
        put("pages_sharing", "90\n", 0444);
        {
            FakeKsmd ksmd(*this);
            EXPECT_TRUE(g.restore()) << g.restore_failures();
            EXPECT_TRUE(g.settled());
            EXPECT_EQ(get("pages_shared"), "2") << "restore did not wait for ksmd";
            EXPECT_EQ(ksmd.join(), "1") << "KSM was stopped before ksmd freed the ended processes' merges";
        }
    }
    EXPECT_EQ(get("run"), "0");
    EXPECT_EQ(get("pages_to_scan"), "100");
}

// The same when a run measures "without KSM" after a series with it: the ended guests' merges are
// freed before KSM stops, not counted into the readings without it.
TEST_F(FakeKsm, DisableLetsKsmFreeWhatEndedProcessesMergedBeforeStoppingIt) {
    put("pages_shared", "0\n", 0444);
    HostSettingsGuard g(sys, state, extra());
    g.enable(5000, 10);
    put("pages_shared", "40\n", 0444);
    {
        FakeKsmd ksmd(*this, "0\n");
        g.disable();
        EXPECT_TRUE(g.settled());
        EXPECT_EQ(get("pages_shared"), "0") << "disable did not wait for ksmd";
        EXPECT_EQ(ksmd.join(), "1");
        EXPECT_EQ(get("run"), "0");
    }
}

// Merges of processes still alive stay counted: two full scans (or the timeout) end the wait.
TEST_F(FakeKsm, RestoreStopsWaitingAfterTwoFullScansOrTheTimeout) {
    put("pages_shared", "0\n", 0444);
    put("full_scans", "10\n", 0444);
    {
        HostSettingsGuard g(sys, state, extra());
        g.enable(5000, 10);
        put("pages_shared", "40\n", 0444);
        std::atomic<bool> done{false};
        std::thread ksmd([&] {  // a full scan every 30 ms, however late restore starts
            for (int n = 11; !done; ++n) {
                std::this_thread::sleep_for(std::chrono::milliseconds(30));
                put("full_scans", std::to_string(n) + "\n", 0444);
            }
        });
        const auto t0 = std::chrono::steady_clock::now();
        EXPECT_TRUE(g.restore());
        const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        done = true;
        ksmd.join();
        EXPECT_FALSE(g.settled());
        EXPECT_LT(waited, 4.0) << "did not stop at two full scans";
    }
    EXPECT_EQ(get("run"), "0");
    {
        HostSettingsGuard g(sys, state, extra());
        g.set_settle_timeout(0.2);
        g.enable(5000, 10);
        put("pages_shared", "41\n", 0444);  // more merged since enable(), none of it freed
        const auto t0 = std::chrono::steady_clock::now();
        EXPECT_TRUE(g.restore());
        const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        EXPECT_FALSE(g.settled());
        EXPECT_GE(waited, 0.19);
    }
    EXPECT_EQ(get("run"), "0");
}

// A guard that never switched KSM on does not wait (KSM was not its to run), even where KSM runs.
TEST_F(FakeKsm, RestoreWithoutEnableDoesNotWait) {
    put("pages_shared", "40\n", 0444);
    HostSettingsGuard g(sys, state, extra());
    g.set_settle_timeout(30);
    put("run", "1\n");  // switched on by someone else meanwhile: restore puts 0 back, at once
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(g.restore());
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0);
    EXPECT_TRUE(g.settled());
    EXPECT_EQ(get("run"), "0");
}

// A run killed with KSM on: the next run's recovery stops KSM while the dead run's guests still
// live; once they are reaped, settle_recovered runs KSM again until ksmd freed their merges.
TEST_F(FakeKsm, ARecoveredRunningKsmSettlesOnceTheDeadRunsGuestsAreGone) {
    fs::create_directories(state);
    std::ofstream(state / "settings.saved") << "advisor_mode none\npages_to_scan 100\nrun 0\nsleep_millisecs 20\n";
    put("run", "1\n");
    put("pages_to_scan", "20000\n");
    put("pages_shared", "40\n", 0444);
    HostSettingsGuard g(sys, state, extra());
    EXPECT_TRUE(g.recovered());
    EXPECT_EQ(get("run"), "0") << "recovery stops KSM at once (the dead run's guests may still live)";
    {
        FakeKsmd ksmd(*this, "0\n");
        g.settle_recovered();
        EXPECT_TRUE(g.settled());
        EXPECT_EQ(get("pages_shared"), "0") << "settle_recovered did not wait for ksmd";
        EXPECT_EQ(ksmd.join(), "1") << "KSM did not run while the dead run's merges were freed";
        EXPECT_EQ(get("run"), "0");
    }
    put("pages_shared", "40\n", 0444);
    g.set_settle_timeout(30);
    const auto t0 = std::chrono::steady_clock::now();
    g.settle_recovered();  // once only
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0);
    EXPECT_EQ(get("run"), "0");
}

// Nothing to do where recovery did not stop a running KSM.
TEST_F(FakeKsm, SettleRecoveredWithoutARecoveredKsmDoesNothing) {
    put("pages_shared", "40\n", 0444);
    HostSettingsGuard g(sys, state, extra());
    g.set_settle_timeout(30);
    const auto t0 = std::chrono::steady_clock::now();
    g.settle_recovered();
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0);
    EXPECT_EQ(get("run"), "0");
}

TEST_F(FakeKsm, SecondOwnerIsRefused) {
    HostSettingsGuard first(sys, state, extra());
    first.enable(5000, 10);
    try {
        HostSettingsGuard second(sys, state, extra());
        FAIL() << "a second guard took KSM";
    } catch (const UserError& e) {
        EXPECT_NE(std::string(e.what()).find("owns KSM"), std::string::npos) << e.what();
    }
    EXPECT_EQ(get("pages_to_scan"), "5000");  // the refused one touched nothing
}

TEST_F(FakeKsm, ALockIsNotHeldByChildrenOfAKilledRun) {
    // A run that forked a child (liblxc starting a container) and was then SIGKILLed: the child
    // lives on, but the lock was the run's alone, so the next run gets it.
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    pid_t run = fork();
    if (run == 0) {
        HostSettingsGuard g(sys, state, extra());
        g.enable(4242, 10);
        if (fork() == 0) {  // the child, outliving its parent for a while
            close(ready[0]);
            close(1);  // ctest waits for whoever holds the output open
            close(2);
            sleep(2);
            _exit(0);
        }
        (void)!write(ready[1], "x", 1);
        kill(getpid(), SIGKILL);
    }
    close(ready[1]);
    char c;
    ASSERT_EQ(read(ready[0], &c, 1), 1);
    close(ready[0]);
    waitpid(run, nullptr, 0);
    ASSERT_EQ(get("pages_to_scan"), "4242");
    try {
        HostSettingsGuard next(sys, state, extra());
        EXPECT_TRUE(next.recovered());
        EXPECT_EQ(get("pages_to_scan"), "100");
    } catch (const UserError& e) {
        FAIL() << "the next run was refused while the killed run's child lives: " << e.what();
    }
}

TEST_F(FakeKsm, DeadRunsSettingsAreRestoredByTheNextRun) {
    // A run saved the host's settings, changed them, and was killed before restoring.
    fs::create_directories(state);
    std::ofstream(state / "settings.saved") << "advisor_mode none\npages_to_scan 100\nrun 0\nsleep_millisecs 20\nthp madvise\n";
    std::ofstream(thp) << "always madvise [never]\n";
    put("run", "1\n");
    put("pages_to_scan", "20000\n");
    HostSettingsGuard g(sys, state, extra());
    EXPECT_TRUE(g.recovered());
    EXPECT_EQ(get("run"), "0");
    EXPECT_EQ(get("pages_to_scan"), "100");
    EXPECT_EQ(g.saved().at("pages_to_scan"), "100");  // and the new run saves the repaired state
    EXPECT_EQ(read_text(thp.string()).value_or(""), "madvise");
}

TEST_F(FakeKsm, MissingKsmIsOneClearError) {
    try {
        HostSettingsGuard g(root / "nope", state, extra());
        FAIL();
    } catch (const UserError& e) {
        EXPECT_NE(std::string(e.what()).find("no KSM"), std::string::npos) << e.what();
    }
}

TEST_F(FakeKsm, ThpIsOwnedAndRestoredToo) {
    {
        HostSettingsGuard g(sys, state, extra());
        EXPECT_EQ(g.saved().at("thp"), "madvise");
        g.set_thp("never");
        EXPECT_EQ(g.thp(), "never");
    }
    EXPECT_EQ(read_text(thp.string()).value_or(""), "madvise");
}

TEST_F(FakeKsm, NoThpControlIsOneClearError) {
    HostSettingsGuard g(sys, state, {{"thp", root / "no-thp"}});
    EXPECT_EQ(g.thp(), "");
    EXPECT_THROW(g.set_thp("never"), UserError);
}

TEST_F(FakeKsm, InotifyLimitIsOnlyRaisedAndThenRestored) {
    {
        HostSettingsGuard g(sys, state, extra());
        g.ensure_inotify_instances(100);  // enough already: untouched
        EXPECT_EQ(read_text(inotify.string()).value_or(""), "128\n");
        g.ensure_inotify_instances(400);
        EXPECT_EQ(read_text(inotify.string()).value_or(""), "400");
    }
    EXPECT_EQ(read_text(inotify.string()).value_or(""), "128");
}
