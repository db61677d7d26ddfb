// SPDX-License-Identifier: MIT
// The BPF programs load and attach on this kernel and see a known exec and known page faults.
#include "common.h"
#include "core/bpf_tracer.h"
#include "core/clock.h"
#include "core/spawn.h"
#include "experiments/phases.h"

#include <sys/wait.h>

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
