// SPDX-License-Identifier: MIT
// core/base/parallel.h: every share runs once, what a thread throws reaches the caller, and the
// parallel sort orders as std::sort does; core/base/clock.h: poll_until.
#include "core/base/clock.h"
#include "core/base/parallel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

using namespace ht;

TEST(Parallel, EveryThreadRunsItsShareOnce) {
    std::vector<std::atomic<int>> ran(5);
    on_threads(5, [&](unsigned t) { ++ran[t]; });
    for (const auto& r : ran) EXPECT_EQ(r.load(), 1);
}

TEST(Parallel, WhatAThreadThrowsReachesTheCallerAfterAllEnded) {
    std::atomic<int> ended{0};
    EXPECT_THROW(on_threads(4,
                            [&](unsigned t) {
                                ++ended;
                                if (t == 2) throw std::runtime_error("share 2 failed");
                            }),
                 std::runtime_error);
    EXPECT_EQ(ended.load(), 4);
    EXPECT_THROW(on_threads(3, [](unsigned t) { if (t == 0) throw std::bad_alloc(); }), std::bad_alloc);
}

TEST(Parallel, ChunksCoverTheRangeOnceAndSmallOnesStayWhole) {
    std::vector<std::atomic<int>> seen(100'003);
    for_chunks(seen.size(), 1000, 4, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) ++seen[i];
    });
    for (const auto& s : seen) ASSERT_EQ(s.load(), 1);
    int calls = 0;
    for_chunks(500, 1000, 4, [&](std::size_t b, std::size_t e) {
        ++calls;
        EXPECT_EQ(b, 0u);
        EXPECT_EQ(e, 500u);
    });
    EXPECT_EQ(calls, 1);
}

TEST(Parallel, SortOrdersAsStdSort) {
    std::mt19937_64 rng(3);
    for (std::size_t n : {std::size_t(10), std::size_t(70'000), std::size_t(300'001)}) {
        std::vector<uint64_t> v(n);
        for (auto& x : v) x = rng() % 5000;  // many equal keys
        for (std::size_t i = 0; i < n / 3; ++i) v[rng() % n] = 7;  // one key over a third: a lopsided cut
        std::vector<uint64_t> want = v;
        std::sort(want.begin(), want.end());
        for (unsigned threads : {1u, 2u, 3u, 8u}) {
            std::vector<uint64_t> got = v;
            parallel_sort(got.begin(), got.end(), std::less<>(), threads);
            ASSERT_EQ(got, want) << n << " elements on " << threads << " threads";
        }
    }
}

// poll_until asks until the answer is yes (then at once true), or until its time is up (false,
// having asked at the end too); an answer that is yes at once costs no wait.
TEST(PollUntil, TrueOnceDoneFalseAfterTheTimeout) {
    int asked = 0;
    EXPECT_TRUE(ht::poll_until([&] { return ++asked == 3; }, 5000, 1));
    EXPECT_EQ(asked, 3);
    asked = 0;
    const uint64_t t0 = ht::mono_ns();
    EXPECT_FALSE(ht::poll_until([&] { return ++asked < 0; }, 30, 5));
    EXPECT_GE(ht::mono_ns() - t0, 30'000'000u);
    EXPECT_GE(asked, 2);
    asked = 0;
    const uint64_t t1 = ht::mono_ns();
    EXPECT_TRUE(ht::poll_until([&] { return ++asked > 0; }, 5000, 1000));
    EXPECT_EQ(asked, 1);
    EXPECT_LT(ht::mono_ns() - t1, 500'000'000u);
}
