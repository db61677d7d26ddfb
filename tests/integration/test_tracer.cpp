// SPDX-License-Identifier: MIT
// The BPF programs load and attach on this kernel and see a known exec and known page faults.
#include "common.h"
#include "core/tracing/bpf_tracer.h"
#include "core/base/clock.h"
#include "core/host/spawn.h"
#include "experiments/phases.h"

#include <atomic>
#include <chrono>
#include <sys/wait.h>
#include <thread>

using namespace ht;

TEST(Tracer, AttachesProcessSources) {
    HT_REQUIRE_ROOT();
    Tracer t;
    for (const char* need : {"sched:sched_process_exec", "sched:sched_process_fork", "sched:sched_process_exit",
                             "exceptions:page_fault_user", "exceptions:page_fault_kernel"}) {
        bool found = false;
        for (const auto& s : t.sources())
            if (s.name == need) {
                found = true;
                EXPECT_TRUE(s.attached) << need << ": " << s.note;
            }
        EXPECT_TRUE(found) << need;
    }
}

TEST(Tracer, SeesKnownExecForkExitAndPageFaultsOfChildren) {
    HT_REQUIRE_ROOT();
    Tracer t;
    const long n_parent = 3000, n_child = 2000;
    t.begin_run(mono_ns());
    t.arm_spawner(42);
    Child c = spawn({HT_FAULT_CHILD, std::to_string(n_parent), std::to_string(n_child)});
    t.disarm_spawner();
    int status = 0;
    waitpid(c.pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 3);
    RunTrace tr = t.end_run();

    int execs = 0, forks = 0, exits = 0;
    for (const auto& e : tr.events) {
        ASSERT_EQ(e.guest, 42u);
        if (e.type == EventType::exec && e.tgid == uint32_t(c.pid)) {
            ++execs;
            EXPECT_EQ(e.path, HT_FAULT_CHILD);
        }
        if (e.type == EventType::fork && e.ppid == uint32_t(c.pid)) ++forks;  // the grandchild
        if (e.type == EventType::exit && e.tgid == uint32_t(c.pid)) {
            ++exits;
            EXPECT_EQ(e.aux, 3u);  // exit status
        }
    }
    EXPECT_EQ(execs, 1);
    EXPECT_EQ(forks, 1);
    EXPECT_EQ(exits, 1);
    PhaseCounts total = total_counts(tr, 42);
    // One fault per touched page, plus the loader's and libc's (a few hundred at most).
    EXPECT_GE(total.faults_user, uint64_t(n_parent + n_child));
    EXPECT_LE(total.faults_user, uint64_t(n_parent + n_child + 1500));
    EXPECT_EQ(tr.lost_counts, 0u);
    EXPECT_EQ(tr.lost_events, 0u);
}

// Draining the counters while the programs count (memory's settling, io's job window): drains
// every 100 us during 150000 page faults, and the drains plus the run's end must still hold every
// fault once. The per-CPU pending counts are never written mid-run (core/pending_ledger.h): the
// old read-then-zero drain dropped increments between its two syscalls and counted twice a count
// its CPU moved to the map in between.
TEST(Tracer, DrainingWhileCountingNeitherLosesNorDoubles) {
    HT_REQUIRE_ROOT();
    Tracer t;
    const long n_parent = 100000, n_child = 50000;
    t.begin_run(mono_ns());
    std::atomic<bool> done{false};
    uint64_t drained = 0, drains = 0;
    std::thread drainer([&] {
        while (!done) {
            for (const auto& c : t.drain_counters())
                if (c.guest == 42 && c.kind == CounterKind::fault_user) drained += c.value;
            ++drains;
            std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
    });
    t.arm_spawner(42);
    Child c = spawn({HT_FAULT_CHILD, std::to_string(n_parent), std::to_string(n_child)});
    t.disarm_spawner();
    int status = 0;
    waitpid(c.pid, &status, 0);
    done = true;
    drainer.join();
    RunTrace tr = t.end_run();
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 3);
    const uint64_t total = drained + total_counts(tr, 42).faults_user;
    std::cout << drains << " drains during the run; " << drained << " faults drained during it, "
              << total - drained << " at its end" << std::endl;
    EXPECT_GT(drains, 10u);
    EXPECT_GT(drained, 0u) << "drains during the run saw the counts";
    EXPECT_GE(total, uint64_t(n_parent + n_child));
    EXPECT_LE(total, uint64_t(n_parent + n_child + 1500));
    EXPECT_EQ(tr.lost_counts, 0u);
}

TEST(Tracer, IgnoresProcessesItWasNotToldAbout) {
    HT_REQUIRE_ROOT();
    Tracer t;
    t.begin_run(mono_ns());
    Child c = spawn({HT_FAULT_CHILD, "500", "500"});  // spawner not armed
    waitpid(c.pid, nullptr, 0);
    RunTrace tr = t.end_run();
    EXPECT_TRUE(tr.events.empty());
    EXPECT_TRUE(tr.counters.empty());
}
