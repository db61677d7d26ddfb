// SPDX-License-Identifier: MIT
// ksm_share: the pages KSM saved in two processes, split into within each and between them.
#include "core/memscan/ksm_share.h"

#include <gtest/gtest.h>

TEST(KsmShare, AFrameBothMapSavesOnePageBetweenThemAndTheRestWithin) {
    // Frame 10: 3 pages of a, 2 of b. Frame 20: a only, twice. Frame 30: b only, once (no saving).
    // Frame 40: one page each.
    const std::vector<uint64_t> a{10, 10, 10, 20, 20, 40}, b{10, 10, 30, 40};
    const ht::KsmShare s = ht::ksm_share(a, b);
    EXPECT_EQ(s.pages_a, 6u);
    EXPECT_EQ(s.pages_b, 4u);
    EXPECT_EQ(s.frames_a, 3u);
    EXPECT_EQ(s.frames_b, 3u);
    EXPECT_EQ(s.between, 2u);           // frames 10 and 40
    EXPECT_EQ(s.saved_within_a(), 3u);  // 2 on frame 10, 1 on frame 20
    EXPECT_EQ(s.saved_within_b(), 1u);  // 1 on frame 10
    // What the union of frames says: 10 pages on 4 frames.
    EXPECT_EQ(s.saved(), 10u - 4u);
}

TEST(KsmShare, NothingInCommonOrNothingAtAll) {
    EXPECT_EQ(ht::ksm_share({1, 2, 2}, {3, 4}).between, 0u);
    EXPECT_EQ(ht::ksm_share({1, 2, 2}, {3, 4}).saved(), 1u);
    const ht::KsmShare none = ht::ksm_share({}, {});
    EXPECT_EQ(none.saved(), 0u);
    EXPECT_EQ(ht::ksm_share({}, {5, 5}).saved_within_b(), 1u);
    EXPECT_EQ(ht::ksm_share({7}, {}).frames_a, 1u);
}
