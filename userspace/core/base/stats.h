// SPDX-License-Identifier: MIT
// Sample statistics as the paper reports them: mean and 95 % confidence interval (Student's t).
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace ht {

struct Summary {
    std::size_t n = 0;
    double mean = 0, stddev = 0, ci95 = 0, min = 0, max = 0, median = 0;
};

// Two-sided 95 % critical value of Student's t with `dof` degrees of freedom (dof >= 1).
double t_critical_95(std::size_t dof);

// ci95 is the half-width t * s / sqrt(n); 0 when n < 2.
Summary summarize(const std::vector<double>& xs);

// The noise rule every experiment reports by, one place for all (issue 15: noise said, not hidden).
// A figure is noisy when its 95 % interval is wider than a fifth of its mean: the report flags it
// with the runs that would narrow it. It is settled when the interval is at most a tenth of its
// mean over at least kSettleMinRuns runs: where `runs auto` stops. Both on |mean|; a figure of one
// run has no interval, so it is neither noisy nor settled.
inline constexpr std::size_t kSettleMinRuns = 3;
bool noisy(const Summary& s);
bool settled(const Summary& s);
// Runs that would narrow the interval to a tenth of the mean at this spread: n ~ (1.96 s / (0.1
// mean))^2, never fewer than kSettleMinRuns nor than n + 1 while unsettled; s.n once settled.
// Saturates (a mean of 0 with a spread needs "more than any number").
std::size_t runs_to_settle(const Summary& s);
// What the report says of a noisy figure, after its name: "+-45 % of the mean over 3 runs; about
// 62 runs would narrow it to 10 %".
std::string noise_note(const Summary& s);

// `runs auto`: at least kSettleMinRuns measured runs, then more until every reported figure is
// settled, `max_runs` runs are made or `max_time_s` have passed since the first.
inline constexpr unsigned kAutoMaxRuns = 100;
struct AutoRuns {
    bool on = false;
    double max_time_s = 600;
    unsigned max_runs = kAutoMaxRuns;
};
// Why a series of measured runs ended: the count asked for, or auto's three ways.
enum class RunsEnd { count, settled, time_cap, run_cap };
const char* to_string(RunsEnd e);
// Auto's decision after `runs` measured runs, `elapsed_s` after the first began, with the
// series' reported figures so far: nullopt to run once more, else why it ends. Pure.
std::optional<RunsEnd> auto_runs_end(const AutoRuns& a, std::size_t runs, double elapsed_s,
                                     const std::vector<Summary>& figures);
// What the report says of how an auto series ended ("settled after 7 runs ..."; names the
// settings it was bound by); "" for RunsEnd::count.
std::string runs_end_note(RunsEnd e, std::size_t runs, const AutoRuns& a);

}  // namespace ht
