// SPDX-License-Identifier: MIT
// One clock for everything: CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns().
#pragma once
#include <chrono>
#include <cstdint>
#include <ctime>
#include <thread>

namespace ht {

inline uint64_t mono_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

inline double ns_to_s(int64_t ns) { return double(ns) / 1e9; }

// Asks `done` every `step_ms` for up to `timeout_ms` (at least once, and once more at the end):
// true as soon as it says so. For waits on what another process does, with no event to wait on.
template <class Done>
bool poll_until(Done&& done, int timeout_ms, int step_ms) {
    const uint64_t end = mono_ns() + uint64_t(timeout_ms) * 1'000'000ull;
    for (;;) {
        if (done()) return true;
        if (mono_ns() >= end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(step_ms));
    }
}

}  // namespace ht
