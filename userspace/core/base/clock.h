// SPDX-License-Identifier: MIT
// One clock for everything: CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns().
#pragma once
#include <cstdint>
#include <ctime>

namespace ht {

inline uint64_t mono_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

inline double ns_to_s(int64_t ns) { return double(ns) / 1e9; }

}  // namespace ht
