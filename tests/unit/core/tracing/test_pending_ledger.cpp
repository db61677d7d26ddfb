// SPDX-License-Identifier: MIT
// Draining per-CPU pending counts while the programs run (core/pending_ledger.h): against a model
// of one CPU's slot and its hash map, with the races the old read-then-zero drain lost or doubled
// counts in (a count moved to the map between the two syscalls; increments between them).
#include "core/tracing/pending_ledger.h"

#include <functional>
#include <iostream>
#include <gtest/gtest.h>
#include <map>
#include <random>

using namespace ht;

namespace {

using Key = std::array<uint64_t, 3>;
int one_map(std::size_t) { return 0; }

// One CPU's slot and the map it flushes to, as trace.bpf.c's add() does.
struct Cpu {
    PendingSlot slot;
    std::map<Key, uint64_t> map;
    std::map<Key, uint64_t> truth;
    void add(const Key& k, uint64_t d) {
        truth[k] += d;
        if (slot.count && slot.key == k) {
            slot.count += d;
            return;
        }
        if (slot.count) map[slot.key] += slot.count;
        slot.key = k;
        slot.seq++;
        slot.count = d;
    }
};

// One drain: the map emptied, then the slot read twice; `between` runs between the map drain and
// the first read, `torn` between the two reads (the CPU's program running meanwhile).
void drain(Cpu& cpu, PendingLedger& ledger, std::map<Key, uint64_t>& reported, const std::function<void()>& between,
           const std::function<void()>& torn) {
    auto h = cpu.map;
    cpu.map.clear();
    if (between) between();
    auto a = std::vector<PendingSlot>{cpu.slot};
    if (torn) torn();
    auto b = std::vector<PendingSlot>{cpu.slot};
    auto growth = ledger.advance(a, b, one_map);
    for (auto& [k, v] : h) reported[k] += ledger.settle(0, k, v);
    for (const auto& g : growth)
        if (g.count) reported[g.key] += g.count;
}

const Key K1{1, 0, 0}, K2{2, 0, 0}, K3{3, 0, 0};

}  // namespace

// One CPU whose slot already holds a run of 5 counts of K1, reported by a first drain.
struct LedgerAfterOneDrain : ::testing::Test {
    Cpu cpu;
    PendingLedger ledger;
    std::map<Key, uint64_t> reported;
    void SetUp() override {
        cpu.add(K1, 5);
        drain_now();
        ASSERT_EQ(reported[K1], 5u);
    }
    void drain_now(const std::function<void()>& between = nullptr) { drain(cpu, ledger, reported, between, nullptr); }
};

TEST_F(LedgerAfterOneDrain, ACountMovedToTheMapBetweenDrainsIsNotCountedTwice) {
    cpu.add(K1, 3);  // the same run grows to 8
    cpu.add(K2, 4);  // a new key: the 8 go to the map, whole
    drain_now();
    EXPECT_EQ(reported[K1], 8u);
    EXPECT_EQ(reported[K2], 4u);
    EXPECT_EQ(ledger.owed(), 0u);
}

TEST_F(LedgerAfterOneDrain, AMoveThatReachesTheMapAfterItsDrainIsSettledAtTheNext) {
    cpu.add(K1, 2);
    drain_now([&] { cpu.add(K2, 1); });  // the CPU moves K1's 7 to the map just after the drain emptied it
    EXPECT_EQ(reported[K1], 5u);         // nothing of K1 seen in the map yet
    EXPECT_EQ(ledger.owed(), 5u);        // what was reported of the run that left
    drain_now();
    EXPECT_EQ(reported[K1], 7u);
    EXPECT_EQ(reported[K2], 1u);
    EXPECT_EQ(ledger.owed(), 0u);
}

TEST(PendingLedger, ASlotBeingWrittenWaitsForTheNextDrain) {
    Cpu cpu;
    PendingLedger ledger;
    std::map<Key, uint64_t> reported;
    cpu.add(K1, 5);
    drain(cpu, ledger, reported, nullptr, [&] { cpu.add(K1, 1); });  // the two reads differ
    EXPECT_EQ(reported[K1], 0u);
    drain(cpu, ledger, reported, nullptr, nullptr);
    EXPECT_EQ(reported[K1], 6u);
}

// Seeded random interleavings: every count reported exactly once, whatever the timing.
TEST(PendingLedger, RandomInterleavingsSumExactly) {
    std::mt19937 rng(20261202);
    for (int trial = 0; trial < 200; ++trial) {
        Cpu cpu;
        PendingLedger ledger;
        std::map<Key, uint64_t> reported;
        const Key keys[] = {K1, K2, K3};
        auto some_adds = [&](int n) {
            for (int i = 0; i < n; ++i) cpu.add(keys[rng() % 3], 1 + rng() % 5);
        };
        for (int step = 0; step < 50; ++step) {
            some_adds(int(rng() % 4));
            const int mode = int(rng() % 4);
            drain(cpu, ledger, reported, mode == 1 ? std::function<void()>([&] { some_adds(1 + int(rng() % 3)); }) : nullptr,
                  mode == 2 ? std::function<void()>([&] { some_adds(1); }) : nullptr);
        }
        // the run's end: nothing runs any more; one last drain, as end_run's
        drain(cpu, ledger, reported, nullptr, nullptr);
        drain(cpu, ledger, reported, nullptr, nullptr);
        for (const auto& k : keys) EXPECT_EQ(reported[k], cpu.truth[k]) << "trial " << trial;
        EXPECT_EQ(ledger.owed(), 0u) << "trial " << trial;
    }
}

// The negative control: the drain as it was before the ledger (the map read, then deleted by a
// second syscall; each slot read, then zeroed by another), under the same kind of interleavings,
// loses or doubles counts: the interleavings above do reach the races the ledger closes.
TEST(PendingLedger, TheOldReadThenZeroDrainMiscountsUnderTheSameInterleavings) {
    std::mt19937 rng(20261202);
    int wrong = 0;
    for (int trial = 0; trial < 200; ++trial) {
        Cpu cpu;
        std::map<Key, uint64_t> reported;
        const Key keys[] = {K1, K2, K3};
        auto some_adds = [&](int n) {
            for (int i = 0; i < n; ++i) cpu.add(keys[rng() % 3], 1 + rng() % 5);
        };
        auto old_drain = [&](const std::function<void()>& between, const std::function<void()>& torn) {
            for (auto& [k, v] : cpu.map) reported[k] += v;
            if (between) between();  // counts flushed to the map now are deleted unread
            cpu.map.clear();
            const PendingSlot s = cpu.slot;
            if (torn) torn();  // increments now are zeroed unread; a flush now is read again next time
            if (s.count) reported[s.key] += s.count;
            cpu.slot.count = 0;
        };
        for (int step = 0; step < 50; ++step) {
            some_adds(int(rng() % 4));
            const int mode = int(rng() % 4);
            old_drain(mode == 1 ? std::function<void()>([&] { some_adds(1 + int(rng() % 3)); }) : nullptr,
                      mode == 2 ? std::function<void()>([&] { some_adds(1); }) : nullptr);
        }
        old_drain(nullptr, nullptr);
        old_drain(nullptr, nullptr);
        for (const auto& k : keys)
            if (reported[k] != cpu.truth[k]) {
                ++wrong;
                break;
            }
    }
    std::cout << "the old drain miscounted in " << wrong << " of 200 trials" << std::endl;
    EXPECT_GT(wrong, 100);
}
