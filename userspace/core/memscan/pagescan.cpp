// SPDX-License-Identifier: MIT
#include "core/memscan/pagescan.h"

#include "core/host/files.h"
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

bool scannable(const MapRange& m) {
    return m.readable() && m.path != "[vsyscall]" && m.path != "[vvar]" && m.path != "[vvar_vclock]";
}

bool visit_range_impl(pid_t pid, int pagemap_fd, uint32_t map_index, uint64_t start, uint64_t end,
                      void (*fn)(void*, const PageVisit&), void* ctx, uint64_t* unreadable) {
    // Page-aligned: process_vm_readv copies whole pages, and the hash reads 64-byte lines.
    static thread_local std::unique_ptr<char, decltype(&free)> buf(
        static_cast<char*>(aligned_alloc(kPage, kBatch * kPage)), &free);
    static thread_local std::vector<uint64_t> entries(kBatch);
    static thread_local std::vector<iovec> local(1), remote(kBatch);
    static thread_local std::vector<std::size_t> which(kBatch);
    for (uint64_t addr = start; addr < end; addr += kBatch * kPage) {
        const std::size_t n = std::size_t(std::min<uint64_t>(kBatch, (end - addr) / kPage));
        ssize_t got = pread(pagemap_fd, entries.data(), n * sizeof(uint64_t), off_t(addr / kPage * sizeof(uint64_t)));
        if (got != ssize_t(n * sizeof(uint64_t))) {
            if (!process_alive(pid)) return false;
            break;
        }
        // Read the present pages of the batch in one call, packed into the buffer: a remote iovec
        // per stretch of consecutive present pages (one for a fully resident batch).
        std::size_t present = 0, stretches = 0;
        for (std::size_t i = 0; i < n; ++i) {
            if (!(entries[i] >> 63 & 1)) continue;
            if (present && which[present - 1] == i - 1) {
                remote[stretches - 1].iov_len += kPage;
            } else {
                remote[stretches++] = {reinterpret_cast<void*>(addr + i * kPage), kPage};
            }
            which[present++] = i;
        }
        if (!present) continue;
        local[0] = {buf.get(), present * kPage};
        ssize_t r = process_vm_readv(pid, local.data(), 1, remote.data(), stretches, 0);
        std::size_t full = r > 0 ? std::size_t(r) / kPage : 0;  // it stops at the first failing page
        for (std::size_t k = 0; k < present; ++k) {
            iovec one_local{buf.get() + k * kPage, kPage},
                one_remote{reinterpret_cast<void*>(addr + which[k] * kPage), kPage};
            if (k >= full &&  // past the failure: this page alone
                process_vm_readv(pid, &one_local, 1, &one_remote, 1, 0) != ssize_t(kPage)) {
                if (unreadable) ++*unreadable;
                continue;
            }
            PagemapEntry e = decode_pagemap(entries[which[k]]);
            PageVisit v;
            v.addr = addr + which[k] * kPage;
            v.pfn = e.pfn;
            v.map_index = map_index;
            v.file_or_shared = e.file_or_shared;
            v.data = buf.get() + k * kPage;
            fn(ctx, v);
        }
    }
    return true;
}

bool hash_mapped_pages(const char* m, std::size_t n, const unsigned char* want, uint64_t* hashes) {
    static thread_local std::unique_ptr<char, decltype(&free)> buf(
        static_cast<char*>(aligned_alloc(kPage, kBatch * kPage)), &free);
    static thread_local std::vector<iovec> remote(kBatch);
    static thread_local std::vector<std::size_t> which(kBatch);
    const pid_t self = getpid();
    std::size_t count = 0, stretches = 0;
    auto flush = [&] {
        const iovec local{buf.get(), count * kPage};
        if (process_vm_readv(self, &local, 1, remote.data(), stretches, 0) != ssize_t(count * kPage)) return false;
        for (std::size_t k = 0; k < count; ++k) hashes[which[k]] = page_hash(buf.get() + k * kPage);
        count = stretches = 0;
        return true;
    };
    for (std::size_t i = 0; i < n; ++i) {
        if (!(want[i] & 1)) continue;
        if (count && which[count - 1] == i - 1) remote[stretches - 1].iov_len += kPage;
        else remote[stretches++] = {const_cast<char*>(m + i * kPage), kPage};
        which[count++] = i;
        if (count == kBatch && !flush()) return false;
    }
    return count == 0 || flush();
}

bool visit_process_pages_impl(pid_t pid, const std::vector<MapRange>& maps,
                              void (*fn)(void*, const PageVisit&), void* ctx, uint64_t* unreadable) {
    const Fd pagemap = Fd::open_read("/proc/" + std::to_string(pid) + "/pagemap");
    if (!pagemap) return false;
    for (uint32_t mi = 0; mi < maps.size(); ++mi)
        if (scannable(maps[mi]) &&
            !visit_range_impl(pid, pagemap.get(), mi, maps[mi].start, maps[mi].end, fn, ctx, unreadable))
            return false;
    return true;
}

std::optional<ProcessScan> scan_process(pid_t pid) {
    auto maps_text = read_text("/proc/" + std::to_string(pid) + "/maps");
    if (!maps_text) return std::nullopt;
    ProcessScan scan;
    scan.pid = pid;
    scan.maps = parse_maps(*maps_text);
    const Fd kflags = Fd::open_read("/proc/kpageflags"), kcount = Fd::open_read("/proc/kpagecount");
    bool ok = visit_process_pages(
        pid, scan.maps,
        [&](const PageVisit& v) {
            ScannedPage p;
            p.hash = page_hash(v.data);
            p.pfn = v.pfn;
            p.map_index = v.map_index;
            uint64_t flags = v.pfn ? read_u64_at(kflags.get(), v.pfn) : 0;
            p.anon = flags ? (flags & kKpfAnon) != 0 : (scan.maps[v.map_index].anonymous() && !v.file_or_shared);
            p.ksm = (flags & kKpfKsm) != 0;
            p.zero = (flags & kKpfZeroPage) != 0 || page_is_zero(v.data);
            p.mapcount = v.pfn ? uint32_t(read_u64_at(kcount.get(), v.pfn)) : 0;
            scan.pages.push_back(p);
        },
        &scan.unreadable_pages);
    if (!ok) return std::nullopt;
    return scan;
}

}  // namespace ht
