// SPDX-License-Identifier: MIT
#include "core/memscan/ksm_share.h"
#include "core/memscan/pagescan.h"
#include "core/host/files.h"
#include "core/host/proc.h"

#include <algorithm>
#include <fcntl.h>
#include <string>
#include <unistd.h>

namespace ht {

std::optional<std::vector<uint64_t>> read_ksm_frames(pid_t pid, const FrameFlagReader& flags) {
    const std::string proc = "/proc/" + std::to_string(pid);
    auto maps_text = read_text(proc + "/maps");
    if (!maps_text) return std::nullopt;
    const Fd fd = Fd::open_read(proc + "/pagemap");
    if (!fd) return std::nullopt;
    constexpr uint64_t kPage = 4096;
    constexpr std::size_t kBatch = 4096;  // entries per pagemap read (32 KiB)
    std::vector<uint64_t> entries(kBatch), pfns;
    for (const MapRange& m : parse_maps(*maps_text)) {
        if (!m.anonymous() || m.path == "[vsyscall]" || m.path == "[vvar]" || m.path == "[vvar_vclock]") continue;
        for (uint64_t addr = m.start; addr < m.end; addr += kBatch * kPage) {
            const std::size_t n = std::size_t(std::min<uint64_t>(kBatch, (m.end - addr) / kPage));
            const ssize_t got = pread(fd.get(), entries.data(), n * sizeof(uint64_t), off_t(addr / kPage * sizeof(uint64_t)));
            if (got != ssize_t(n * sizeof(uint64_t))) break;  // the mapping went away
            for (std::size_t i = 0; i < n; ++i) {
                const PagemapEntry e = decode_pagemap(entries[i]);
                if (e.present && e.pfn) pfns.push_back(e.pfn);
            }
        }
    }
    if (!process_alive(pid)) return std::nullopt;
    std::sort(pfns.begin(), pfns.end());
    if (!flags) return std::vector<uint64_t>{};
    std::vector<uint64_t> out;
    read_frame_runs(
        0, pfns.size(), [&](std::size_t k) { return pfns[k]; }, flags,
        [&](std::size_t k, uint64_t fl, uint64_t) {
            if (fl & kKpfKsm) out.push_back(pfns[k]);
        },
        kReadFlags);
    return out;
}

KsmShare ksm_share(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
    KsmShare s;
    s.pages_a = a.size();
    s.pages_b = b.size();
    std::size_t i = 0, j = 0;
    while (i < a.size() || j < b.size()) {
        const uint64_t f = j == b.size() || (i < a.size() && a[i] < b[j]) ? a[i] : b[j];
        bool in_a = false, in_b = false;
        while (i < a.size() && a[i] == f) ++i, in_a = true;
        while (j < b.size() && b[j] == f) ++j, in_b = true;
        s.frames_a += in_a;
        s.frames_b += in_b;
        s.between += in_a && in_b;
    }
    return s;
}

}  // namespace ht
