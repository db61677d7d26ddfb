// SPDX-License-Identifier: MIT
// Sample statistics as the paper reports them: mean and 95 % confidence interval (Student's t).
#pragma once
#include <cstddef>
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

}  // namespace ht
