// SPDX-License-Identifier: MIT
#include "core/memscan/pagescan.h"

#include "core/host/proc.h"

#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <sstream>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

namespace ht {
namespace {

constexpr std::size_t kPage = 4096;
constexpr std::size_t kBatch = 256;  // pages per pagemap read and per process_vm_readv

struct Fd {
    int fd = -1;
    explicit Fd(const std::string& path) : fd(open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
    ~Fd() {
        if (fd >= 0) close(fd);
    }
};

uint64_t read_u64_at(int fd, uint64_t index) {
    uint64_t v = 0;
    if (fd < 0 || pread(fd, &v, sizeof v, off_t(index * sizeof v)) != ssize_t(sizeof v)) return 0;
    return v;
}

}  // namespace

PagemapEntry decode_pagemap(uint64_t raw) {
    PagemapEntry e;
    e.present = raw >> 63 & 1;
    e.swapped = raw >> 62 & 1;
    e.file_or_shared = raw >> 61 & 1;
    e.exclusive = raw >> 56 & 1;
    e.pfn = e.present ? raw & ((1ull << 55) - 1) : 0;
    return e;
}

uint64_t page_hash(const void* page) { return XXH3_64bits(page, kPage); }

bool page_is_zero(const void* page) {
    const auto* p = static_cast<const uint64_t*>(page);
    for (std::size_t i = 0; i < kPage / sizeof(uint64_t); ++i)
        if (p[i]) return false;
    return true;
}

bool visit_process_pages_impl(pid_t pid, const std::vector<MapRange>& maps,
                              void (*fn)(void*, const PageVisit&), void* ctx, uint64_t* unreadable) {
    Fd pagemap("/proc/" + std::to_string(pid) + "/pagemap");
    if (pagemap.fd < 0) return false;
    std::vector<uint64_t> entries(kBatch);
    // Page-aligned: process_vm_readv copies whole pages, and the hash reads 64-byte lines.
    static thread_local std::unique_ptr<char, decltype(&free)> buf(
        static_cast<char*>(aligned_alloc(kPage, kBatch * kPage)), &free);
    std::vector<iovec> local, remote;
    std::vector<std::size_t> which;
    local.reserve(kBatch);
    remote.reserve(kBatch);
    which.reserve(kBatch);
    for (uint32_t mi = 0; mi < maps.size(); ++mi) {
        const MapRange& m = maps[mi];
        if (!m.readable() || m.path == "[vsyscall]" || m.path == "[vvar]" || m.path == "[vvar_vclock]") continue;
        for (uint64_t addr = m.start; addr < m.end; addr += kBatch * kPage) {
            const std::size_t n = std::size_t(std::min<uint64_t>(kBatch, (m.end - addr) / kPage));
            ssize_t got = pread(pagemap.fd, entries.data(), n * sizeof(uint64_t), off_t(addr / kPage * sizeof(uint64_t)));
            if (got != ssize_t(n * sizeof(uint64_t))) {
                if (!process_alive(pid)) return false;
                break;
            }
            // Read the present pages of the batch in one call: an iovec per present page.
            local.clear();
            remote.clear();
            which.clear();
            for (std::size_t i = 0; i < n; ++i) {
                if (!(entries[i] >> 63 & 1)) continue;
                local.push_back({buf.get() + local.size() * kPage, kPage});
                remote.push_back({reinterpret_cast<void*>(addr + i * kPage), kPage});
                which.push_back(i);
            }
            if (which.empty()) continue;
            ssize_t r = process_vm_readv(pid, local.data(), local.size(), remote.data(), remote.size(), 0);
            std::size_t full = r > 0 ? std::size_t(r) / kPage : 0;  // it stops at the first failing page
            for (std::size_t k = 0; k < which.size(); ++k) {
                if (k >= full &&  // past the failure: this page alone
                    process_vm_readv(pid, &local[k], 1, &remote[k], 1, 0) != ssize_t(kPage)) {
                    if (unreadable) ++*unreadable;
                    continue;
                }
                PagemapEntry e = decode_pagemap(entries[which[k]]);
                PageVisit v;
                v.addr = addr + which[k] * kPage;
                v.pfn = e.pfn;
                v.map_index = mi;
                v.file_or_shared = e.file_or_shared;
                v.data = buf.get() + k * kPage;
                fn(ctx, v);
            }
        }
    }
    return true;
}

std::optional<ProcessScan> scan_process(pid_t pid) {
    auto maps_text = read_text("/proc/" + std::to_string(pid) + "/maps");
    if (!maps_text) return std::nullopt;
    ProcessScan scan;
    scan.pid = pid;
    scan.maps = parse_maps(*maps_text);
    Fd kflags("/proc/kpageflags"), kcount("/proc/kpagecount");
    bool ok = visit_process_pages(
        pid, scan.maps,
        [&](const PageVisit& v) {
            ScannedPage p;
            p.hash = page_hash(v.data);
            p.pfn = v.pfn;
            p.map_index = v.map_index;
            uint64_t flags = v.pfn ? read_u64_at(kflags.fd, v.pfn) : 0;
            p.anon = flags ? (flags & kKpfAnon) != 0 : (scan.maps[v.map_index].anonymous() && !v.file_or_shared);
            p.ksm = (flags & kKpfKsm) != 0;
            p.zero = (flags & kKpfZeroPage) != 0 || page_is_zero(v.data);
            p.mapcount = v.pfn ? uint32_t(read_u64_at(kcount.fd, v.pfn)) : 0;
            scan.pages.push_back(p);
        },
        &scan.unreadable_pages);
    if (!ok) return std::nullopt;
    return scan;
}

}  // namespace ht
