// SPDX-License-Identifier: MIT
// The CPU profiler on this kernel: a process spinning in known functions is sampled at about the
// asked rate, its user stack names those functions in order (PIE, symbolised after it exited),
// and kernel stacks are named from kallsyms.
#include "common.h"
#include "core/tracing/profiler.h"
#include "core/host/spawn.h"

#include <sys/wait.h>

#include <algorithm>

using namespace ht;

TEST(Profiler, SamplesAKnownProcessAndNamesItsFunctionsAfterItExited) {
    HT_REQUIRE_ROOT();
    ProfileOptions o;
    o.freq_hz = 999;
    Profiler p(o);
    p.start();
    Child c = spawn({HT_SPIN_CHILD, "1.5"}, {});
    int status = 0;
    waitpid(c.pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    Profile prof = p.stop();

    uint64_t mine = 0, in_leaf = 0, chain = 0, with_kernel = 0;
    for (const auto& s : prof.samples) {
        if (s.tgid != uint32_t(c.pid)) continue;
        mine += s.count;
        const auto& u = prof.stacks.at(s.ustack);
        if (!u.empty() && u.back() == "ht_spin_leaf") in_leaf += s.count;
        auto outer = std::find(u.begin(), u.end(), "ht_spin_outer");
        auto middle = std::find(u.begin(), u.end(), "ht_spin_middle");
        if (outer != u.end() && middle != u.end() && outer < middle && !u.empty() && u.back() == "ht_spin_leaf")
            chain += s.count;
        if (s.kstack) with_kernel += s.count;
    }
    // 1.5 s of one busy thread at 999 Hz: about 1500 samples (the host may steal some).
    EXPECT_GT(mine, 800u);
    EXPECT_LT(mine, 1700u);
    EXPECT_GT(in_leaf, mine / 2) << "most of its time is in ht_spin_leaf";
    std::string example;
    for (const auto& s : prof.samples)
        if (s.tgid == uint32_t(c.pid) && example.empty() && !prof.stacks.at(s.ustack).empty() &&
            prof.stacks.at(s.ustack).back() == "ht_spin_leaf")
            for (const auto& f : prof.stacks.at(s.ustack)) example += f + ";";
    EXPECT_GT(chain, in_leaf * 9 / 10) << "ht_spin_outer -> ht_spin_middle -> ht_spin_leaf, root first; e.g. " << example;
    EXPECT_EQ(prof.lost_samples, 0u);
    EXPECT_EQ(prof.lost_stacks, 0u);
    EXPECT_GT(prof.cpus, 0u);
    // Kernel stacks exist (timer interrupts land in the kernel too) and have names from kallsyms.
    bool named_kernel = false;
    for (const auto& s : prof.samples)
        if (s.kstack && prof.stacks.at(s.kstack).front() != "[kernel]") named_kernel = true;
    EXPECT_TRUE(named_kernel);
    (void)with_kernel;
}
