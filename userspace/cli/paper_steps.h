// SPDX-License-Identifier: MIT
// The steps of `hypetrace paper`: each experiment of the paper as the hypetrace command lines it
// runs at each size, smallest first, with how long each took on this machine kind. The plan and the
// runner are experiments/paper's.
#pragma once
#include "experiments/paper.h"

#include <string>
#include <vector>

namespace ht {

// In the order they run, and in which the budget is spent: earlier ones first.
std::vector<PaperExperiment> paper_experiments();

// --budget: "30m", "2h", "90s", "1h30m", "full" -> seconds (0 for full); a usage error otherwise.
double parse_budget(const std::string& text);

}  // namespace ht
