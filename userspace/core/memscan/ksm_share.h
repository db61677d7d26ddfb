// SPDX-License-Identifier: MIT
// What KSM merged between two processes, as opposed to within each: the frames both map. Two
// guests' QEMUs, one beside the other (`memory --guest-kernels`): a guest that took a kernel
// update beside one that did not, measured by what KSM actually merged, not by content. Sources:
// /proc/PID/pagemap (the frame behind each present page of the anonymous mappings) and
// /proc/kpageflags (which frames are KSM's). Root.
#pragma once
#include "core/memscan/dedup.h"

#include <cstdint>
#include <optional>
#include <sys/types.h>
#include <vector>

namespace ht {

// The KSM frames behind the present pages of `pid`'s anonymous mappings: one entry per page (a
// frame mapped by 5 pages is there 5 times), sorted. nullopt if the process is gone; empty if
// the frames cannot be read (no root) or none is KSM's.
std::optional<std::vector<uint64_t>> read_ksm_frames(pid_t pid, const FrameFlagReader& flags);

// Pages saved by KSM in two processes, split: a KSM frame mapped by n pages of one process saves
// n - 1 pages within it; a frame both map saves one page more, between them (each alone would
// keep one). saved_within_a + saved_within_b + between = pages_a + pages_b - the frames of both.
struct KsmShare {
    uint64_t pages_a = 0, pages_b = 0;    // pages on KSM frames
    uint64_t frames_a = 0, frames_b = 0;  // distinct KSM frames
    uint64_t between = 0;                 // frames both map
    uint64_t saved_within_a() const { return pages_a - frames_a; }
    uint64_t saved_within_b() const { return pages_b - frames_b; }
    uint64_t saved() const { return saved_within_a() + saved_within_b() + between; }
};
// `a` and `b` sorted, as read_ksm_frames returns them.
KsmShare ksm_share(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b);

}  // namespace ht
