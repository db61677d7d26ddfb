// SPDX-License-Identifier: MIT
#include "core/base/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace ht {

double t_critical_95(std::size_t dof) {
    // Exact table for small samples (where it matters), then the normal limit approached smoothly.
    static const double table[] = {0,      12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                                   2.262,  2.228,  2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110,
                                   2.101,  2.093,  2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
                                   2.052,  2.048,  2.045, 2.042};
    if (dof == 0) return 0;
    if (dof <= 30) return table[dof];
    if (dof <= 40) return 2.042 + (2.021 - 2.042) * double(dof - 30) / 10.0;
    if (dof <= 60) return 2.021 + (2.000 - 2.021) * double(dof - 40) / 20.0;
    if (dof <= 120) return 2.000 + (1.980 - 2.000) * double(dof - 60) / 60.0;
    return 1.960;
}

Summary summarize(const std::vector<double>& xs) {
    Summary s;
    s.n = xs.size();
    if (xs.empty()) return s;
    s.mean = std::accumulate(xs.begin(), xs.end(), 0.0) / double(s.n);
    auto [mn, mx] = std::minmax_element(xs.begin(), xs.end());
    s.min = *mn;
    s.max = *mx;
    std::vector<double> sorted = xs;
    std::sort(sorted.begin(), sorted.end());
    s.median = s.n % 2 ? sorted[s.n / 2] : (sorted[s.n / 2 - 1] + sorted[s.n / 2]) / 2;
    if (s.n >= 2) {
        double ss = 0;
        for (double x : xs) ss += (x - s.mean) * (x - s.mean);
        s.stddev = std::sqrt(ss / double(s.n - 1));
        s.ci95 = t_critical_95(s.n - 1) * s.stddev / std::sqrt(double(s.n));
    }
    return s;
}

}  // namespace ht
