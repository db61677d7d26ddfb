// SPDX-License-Identifier: MIT
// The BPF programs load and attach on this kernel and see a known exec and known page faults.
#include "common.h"
#include "core/tracing/bpf_tracer.h"
#include "core/base/clock.h"
#include "core/host/spawn.h"
#include "experiments/phases.h"

#include <atomic>
#include <chrono>
#include <fstream>
#include <sched.h>
#include <sys/mman.h>
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

namespace {

// Touches `pages` fresh pages: one user page fault each (no huge page). In a forked child only.
void storm(long pages) {
    char* p = static_cast<char*>(mmap(nullptr, size_t(pages) * 4096, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (p == MAP_FAILED) _exit(10);
    madvise(p, size_t(pages) * 4096, MADV_NOHUGEPAGE);
    for (long i = 0; i < pages; ++i) p[i * 4096] = 1;
}

// Confines the calling thread to `cpu`; false if it may not run there.
bool to_cpu(int cpu) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return sched_setaffinity(0, sizeof one, &one) == 0;
}

}  // namespace

// A fault looks its process up through a one-entry cache per CPU (trace.bpf.c's cached_guest_of),
// which also remembers "untracked". A process that faulted untracked on a CPU, then was told about
// (track), must be counted from then on, exactly: a stale cache would count none of it.
TEST(Tracer, CountsAProcessFromTheMomentItIsTrackedThoughItFaultedBefore) {
    HT_REQUIRE_ROOT();
    Tracer t;
    const long before = 3000, after = 2000;
    int go[2], done[2];
    ASSERT_EQ(pipe(go), 0);
    ASSERT_EQ(pipe(done), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        if (!to_cpu(0)) _exit(13);  // both storms on one CPU: one cache entry
        char c;
        for (long pages : {before, after}) {
            if (read(go[0], &c, 1) != 1) _exit(11);
            storm(pages);
            if (write(done[1], &c, 1) != 1) _exit(12);
        }
        _exit(0);
    }
    t.begin_run(mono_ns());
    char c = 1;
    ASSERT_EQ(write(go[1], &c, 1), 1);
    ASSERT_EQ(read(done[0], &c, 1), 1);  // faulted untracked
    t.track(child, 7);
    ASSERT_EQ(write(go[1], &c, 1), 1);
    ASSERT_EQ(read(done[0], &c, 1), 1);
    int status = 0;
    waitpid(child, &status, 0);
    RunTrace tr = t.end_run();
    for (int fd : {go[0], go[1], done[0], done[1]}) close(fd);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    const uint64_t n = total_counts(tr, 7).faults_user;
    std::cout << n << " faults counted for the " << after << " pages touched once tracked" << std::endl;
    EXPECT_GE(n, uint64_t(after));
    EXPECT_LE(n, uint64_t(after + 100));  // the pipe's and the exit's few, never the untracked storm's
}

// The other way round, across CPUs: a tracked process faults on CPU 1 (cached there as tracked),
// exits on CPU 0, and an untracked process gets its pid (ns_last_pid) and faults on CPU 1. The
// exit program runs on CPU 0 and must make CPU 1's cached lookup stale too (its bump of
// tracked_gen): a bump CPU 1 did not see would count the newcomer's storm to the dead process's
// guest (without the exit's bump: 4031 faults for 1000). Another process faulting on
// CPU 1 in between would hide such a bug, never fake one.
TEST(Tracer, ForgetsAnExitedProcessOnEveryCpuThoughItsPidComesBack) {
    HT_REQUIRE_ROOT();
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "this host has one CPU: the test needs a second";
    struct Affinity {  // this thread's, back on every way out
        cpu_set_t saved;
        Affinity() { sched_getaffinity(0, sizeof saved, &saved); }
        ~Affinity() { sched_setaffinity(0, sizeof saved, &saved); }
    } affinity;
    if (!to_cpu(1) || !to_cpu(0)) GTEST_SKIP() << "this process may not run on CPUs 0 and 1";
    // this thread, and what it forks, stays off CPU 1 from here
    Tracer t;
    const long tracked_pages = 1000, newcomer_pages = 3000;
    int go[2];
    ASSERT_EQ(pipe(go), 0);
    t.begin_run(mono_ns());
    const pid_t dead = fork();
    ASSERT_GE(dead, 0);
    if (dead == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1 || !to_cpu(1)) _exit(11);
        storm(tracked_pages);
        if (!to_cpu(0)) _exit(12);  // returns on CPU 0: the exit program runs there
        _exit(0);
    }
    close(go[0]);
    t.track(dead, 7);
    char c = 1;
    const bool told = write(go[1], &c, 1) == 1;
    close(go[1]);  // the child's read ends either way
    ASSERT_TRUE(told);
    int status = 0;
    waitpid(dead, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    pid_t newcomer = -1;
    for (int attempt = 0; attempt < 20 && newcomer != dead; ++attempt) {
        if (newcomer > 0) waitpid(newcomer, nullptr, 0);
        {
            std::ofstream last("/proc/sys/kernel/ns_last_pid");
            last << dead - 1 << std::flush;
            if (!last) GTEST_SKIP() << "cannot write /proc/sys/kernel/ns_last_pid (CONFIG_CHECKPOINT_RESTORE)";
        }
        newcomer = fork();
        ASSERT_GE(newcomer, 0);
        if (newcomer == 0) {
            if (getpid() != dead) _exit(0);
            if (!to_cpu(1)) _exit(13);
            storm(newcomer_pages);
            _exit(0);
        }
    }
    waitpid(newcomer, &status, 0);
    RunTrace tr = t.end_run();
    ASSERT_EQ(newcomer, dead) << "no process got pid " << dead << " back in 20 forks (ns_last_pid)";
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the newcomer's storm failed";
    const uint64_t n = total_counts(tr, 7).faults_user;
    std::cout << n << " faults counted to the dead process's guest for its " << tracked_pages
              << " pages; its pid's newcomer touched " << newcomer_pages << " untracked" << std::endl;
    EXPECT_GE(n, uint64_t(tracked_pages));
    EXPECT_LE(n, uint64_t(tracked_pages + 100));  // its exit's and migrations' few, never the newcomer's
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
