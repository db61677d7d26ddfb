// SPDX-License-Identifier: MIT
// Polling for a condition, shared by the integration tests and the benchmarks.
#pragma once
#include "core/base/clock.h"

#include <functional>

// Asks `cond` every `step_ms` for up to `ms` (core/base's poll_until): true as soon as it holds.
inline bool wait_for(const std::function<bool()>& cond, int ms, int step_ms = 20) {
    return ht::poll_until(cond, ms, step_ms);
}
