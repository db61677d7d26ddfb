// SPDX-License-Identifier: MIT
// What the benchmarks share: the median of rounds, and the 95 % interval of a slowdown (one arm's
// median against the baseline's, in percent) by bootstrap: rounds resampled 2000 times, fixed seed.
#pragma once
#include <algorithm>
#include <random>
#include <utility>
#include <vector>

namespace ht_bench {

inline double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// The arm's median over the baseline's, minus one, in percent: its 2.5th and 97.5th percentiles.
inline std::pair<double, double> slowdown_interval(const std::vector<double>& arm, const std::vector<double>& base) {
    std::mt19937 rng(1);
    std::uniform_int_distribution<std::size_t> pick_arm(0, arm.size() - 1), pick_base(0, base.size() - 1);
    std::vector<double> r;
    for (int i = 0; i < 2000; ++i) {
        std::vector<double> a, b;
        for (std::size_t k = 0; k < arm.size(); ++k) a.push_back(arm[pick_arm(rng)]);
        for (std::size_t k = 0; k < base.size(); ++k) b.push_back(base[pick_base(rng)]);
        r.push_back(100 * (median(a) / median(b) - 1));
    }
    std::sort(r.begin(), r.end());
    return {r[50], r[1949]};
}

}  // namespace ht_bench
