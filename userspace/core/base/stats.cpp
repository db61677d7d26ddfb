// SPDX-License-Identifier: MIT
#include "core/base/stats.h"
#include "core/base/setting.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
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

bool noisy(const Summary& s) { return s.n >= 2 && s.ci95 > 0.2 * std::fabs(s.mean); }

bool settled(const Summary& s) { return s.n >= kSettleMinRuns && s.ci95 <= 0.1 * std::fabs(s.mean); }

std::size_t runs_to_settle(const Summary& s) {
    if (settled(s)) return s.n;
    const std::size_t at_least = std::max(kSettleMinRuns, s.n + 1);
    if (s.stddev <= 0) return at_least;  // no spread yet: only the minimum is missing
    // the normal limit for t: the estimate of how many runs, not a promise
    const double want = std::pow(1.96 * s.stddev / (0.1 * std::fabs(s.mean)), 2);
    if (!std::isfinite(want) || want > 1e9) return std::numeric_limits<std::size_t>::max();
    return std::max(at_least, std::size_t(std::ceil(want)));
}

std::string noise_note(const Summary& s) {
    char buf[160];
    const std::size_t want = runs_to_settle(s);
    if (s.mean == 0 || want == std::numeric_limits<std::size_t>::max())
        snprintf(buf, sizeof buf, "+-%g around a mean of %g over %zu runs; no number of runs would narrow it to 10 %%",
                 s.ci95, s.mean, s.n);
    else
        snprintf(buf, sizeof buf, "+-%.0f %% of the mean over %zu runs; about %zu runs would narrow it to 10 %%",
                 100 * s.ci95 / std::fabs(s.mean), s.n, want);
    return buf;
}

const char* to_string(RunsEnd e) {
    switch (e) {
    case RunsEnd::count: return "count";
    case RunsEnd::settled: return "settled";
    case RunsEnd::time_cap: return "time_cap";
    case RunsEnd::run_cap: return "run_cap";
    }
    return "?";
}

std::optional<RunsEnd> auto_runs_end(const AutoRuns& a, std::size_t runs, double elapsed_s,
                                     const std::vector<Summary>& figures) {
    if (runs < kSettleMinRuns) return std::nullopt;  // the minimum comes first, past the caps too
    if (std::all_of(figures.begin(), figures.end(), [](const Summary& s) { return settled(s); }))
        return RunsEnd::settled;
    if (runs >= a.max_runs) return RunsEnd::run_cap;
    if (elapsed_s >= a.max_time_s) return RunsEnd::time_cap;
    return std::nullopt;
}

std::string runs_end_note(RunsEnd e, std::size_t runs, const AutoRuns& a) {
    const std::string n = std::to_string(runs) + (runs == 1 ? " run" : " runs");
    char cap[64];
    snprintf(cap, sizeof cap, "%g s", a.max_time_s);
    switch (e) {
    case RunsEnd::count: return "";
    case RunsEnd::settled: return "settled after " + n + ": every interval within a tenth of its mean";
    case RunsEnd::time_cap:
        return "not settled after " + n + ": stopped at the time cap (" + ref(Setting::max_time) + " " + cap + ")";
    case RunsEnd::run_cap:
        return "not settled after " + n + ": the most " + ref(Setting::runs) + " auto makes";
    }
    return "";
}

}  // namespace ht
