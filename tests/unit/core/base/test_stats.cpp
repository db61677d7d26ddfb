// SPDX-License-Identifier: MIT
#include "core/base/stats.h"
#include "core/base/setting.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

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

namespace {
// A figure as a report holds it, given its spread: ci95 from Student's t as summarize makes it.
Summary figure(std::size_t n, double mean, double stddev) {
    Summary s;
    s.n = n;
    s.mean = mean;
    s.stddev = stddev;
    s.ci95 = n >= 2 ? t_critical_95(n - 1) * stddev / std::sqrt(double(n)) : 0;
    return s;
}
Summary interval(std::size_t n, double mean, double ci95) {
    Summary s;
    s.n = n;
    s.mean = mean;
    s.ci95 = ci95;
    return s;
}
}  // namespace

TEST(Noise, NoisyIsAnIntervalWiderThanAFifthOfTheMean) {
    EXPECT_TRUE(noisy(interval(3, 100, 20.01)));
    EXPECT_FALSE(noisy(interval(3, 100, 20)));        // a fifth exactly: not flagged
    EXPECT_TRUE(noisy(interval(2, 100, 50)));         // two runs have an interval
    EXPECT_FALSE(noisy(interval(1, 100, 50)));        // one run has none
    EXPECT_TRUE(noisy(interval(3, -100, 30)));        // on the mean's size, whatever its sign
    EXPECT_TRUE(noisy(summarize({10, 30, 20})));      // +-24.8 around 20
    EXPECT_FALSE(noisy(summarize({19, 21, 20})));
}

TEST(Noise, SettledIsATenthOfTheMeanOverAtLeastThreeRuns) {
    EXPECT_TRUE(settled(interval(3, 100, 10)));       // a tenth exactly: settled
    EXPECT_FALSE(settled(interval(3, 100, 10.01)));
    EXPECT_FALSE(settled(interval(2, 100, 0)));       // too few runs, however tight
    EXPECT_TRUE(settled(interval(3, 0, 0)));          // three zeros are a settled zero
    EXPECT_TRUE(settled(summarize({0.2, 0.2, 0.2})));
    EXPECT_EQ(kSettleMinRuns, 3u);
}

TEST(Noise, RunsToSettleFromTheSpread) {
    // (1.96 * 30 / (0.1 * 100))^2 = 34.6
    EXPECT_EQ(runs_to_settle(figure(3, 100, 30)), 35u);
    // settled already: the runs made
    EXPECT_EQ(runs_to_settle(figure(4, 100, 1)), 4u);
    // unsettled at 10 runs (ci 10.02) though the normal estimate says 7.6: one more run at least
    const Summary ten = figure(10, 100, 14);
    ASSERT_FALSE(settled(ten));
    EXPECT_EQ(runs_to_settle(ten), 11u);
    // too few runs and no spread: the minimum
    EXPECT_EQ(runs_to_settle(figure(2, 100, 0)), 3u);
    EXPECT_EQ(runs_to_settle(figure(0, 0, 0)), 3u);
    // no mean to be a tenth of
    EXPECT_EQ(runs_to_settle(figure(3, 0, 1)), std::numeric_limits<std::size_t>::max());
}

TEST(Noise, TheNoteSaysHowWideAndTheRunsThatWouldNarrowIt) {
    // io's native fileserver on a main job: 30418 +- 32971 ops/s over 3 runs (sd 13271)
    const Summary io = figure(3, 30418, 13271);
    EXPECT_TRUE(noisy(io));
    EXPECT_EQ(noise_note(io), "+-108 % of the mean over 3 runs; about 74 runs would narrow it to 10 %");
    EXPECT_EQ(noise_note(figure(3, 0, 1)),
              "+-2.48434 around a mean of 0 over 3 runs; no number of runs would narrow it to 10 %");
}

TEST(Noise, AutoRunsRunsTheMinimumThenUntilSettledOrACap) {
    AutoRuns a;
    a.on = true;
    a.max_time_s = 60;
    a.max_runs = 10;
    const Summary wide = figure(3, 100, 30), tight = figure(3, 100, 1);
    // fewer than the minimum: on, past both caps too
    EXPECT_EQ(auto_runs_end(a, 2, 1000, {tight}), std::nullopt);
    EXPECT_EQ(auto_runs_end(a, 0, 0, {}), std::nullopt);
    // every figure settled
    EXPECT_EQ(auto_runs_end(a, 3, 1, {tight, tight}), RunsEnd::settled);
    EXPECT_EQ(auto_runs_end(a, 3, 1, {}), RunsEnd::settled);
    // one figure still wide: on, until a cap
    EXPECT_EQ(auto_runs_end(a, 3, 1, {tight, wide}), std::nullopt);
    EXPECT_EQ(auto_runs_end(a, 9, 59.9, {tight, wide}), std::nullopt);
    EXPECT_EQ(auto_runs_end(a, 3, 60, {tight, wide}), RunsEnd::time_cap);
    EXPECT_EQ(auto_runs_end(a, 10, 1, {wide}), RunsEnd::run_cap);
    // settled wins over a cap reached at the same run
    EXPECT_EQ(auto_runs_end(a, 10, 61, {tight}), RunsEnd::settled);
}

TEST(Noise, HowAnAutoSeriesEndedIsWordedWithItsSettings) {
    AutoRuns a;
    a.max_time_s = 600;
    EXPECT_EQ(runs_end_note(RunsEnd::count, 5, a), "");
    EXPECT_EQ(runs_end_note(RunsEnd::settled, 4, a), "settled after 4 runs: every interval within a tenth of its mean");
    EXPECT_EQ(runs_end_note(RunsEnd::time_cap, 12, a),
              "not settled after 12 runs: stopped at the time cap (" + ref(Setting::max_time) + " 600 s)");
    EXPECT_EQ(runs_end_note(RunsEnd::run_cap, 100, a),
              "not settled after 100 runs: the most " + ref(Setting::runs) + " auto makes");
    EXPECT_STREQ(to_string(RunsEnd::time_cap), "time_cap");
}
