// SPDX-License-Identifier: MIT
#include "core/base/stats.h"

#include <gtest/gtest.h>

using namespace ht;

TEST(Stats, EmptyAndSingle) {
    EXPECT_EQ(summarize({}).n, 0u);
    Summary one = summarize({2.5});
    EXPECT_EQ(one.n, 1u);
    EXPECT_DOUBLE_EQ(one.mean, 2.5);
    EXPECT_DOUBLE_EQ(one.ci95, 0.0);  // no interval from one sample
}

TEST(Stats, MeanStddevCi95AgainstHandComputation) {
    // x = 1..5: mean 3, sample sd sqrt(2.5), t(4) = 2.776, ci = 2.776 * sqrt(2.5)/sqrt(5)
    Summary s = summarize({3, 1, 4, 5, 2});
    EXPECT_DOUBLE_EQ(s.mean, 3.0);
    EXPECT_NEAR(s.stddev, 1.5811388, 1e-6);
    EXPECT_NEAR(s.ci95, 2.776 * 1.5811388 / 2.2360680, 1e-5);
    EXPECT_DOUBLE_EQ(s.min, 1);
    EXPECT_DOUBLE_EQ(s.max, 5);
    EXPECT_DOUBLE_EQ(s.median, 3);
}

TEST(Stats, TCriticalValues) {
    EXPECT_NEAR(t_critical_95(1), 12.706, 1e-9);
    EXPECT_NEAR(t_critical_95(4), 2.776, 1e-9);
    EXPECT_NEAR(t_critical_95(30), 2.042, 1e-9);
    EXPECT_NEAR(t_critical_95(1000), 1.960, 1e-9);
    // decreasing with more degrees of freedom
    for (std::size_t d = 1; d < 200; ++d) EXPECT_GE(t_critical_95(d), t_critical_95(d + 1));
}

TEST(Stats, IdenticalSamplesHaveZeroInterval) {
    Summary s = summarize({0.2, 0.2, 0.2});
    EXPECT_NEAR(s.ci95, 0.0, 1e-12);
    EXPECT_DOUBLE_EQ(s.median, 0.2);
}
