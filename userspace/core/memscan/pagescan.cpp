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
constexpr std::size_t kBatch = 256;  // pages per pagemap read and per copy

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

namespace {

// A thread's batch of up to kBatch pages: where they are (a remote iovec per stretch of
// consecutive pages), which page of the caller's range each is, and the page-aligned buffer
// (process_vm_readv copies whole pages, and the hash reads 64-byte lines) they are copied to.
struct Batch {
    std::unique_ptr<char, decltype(&free)> buf{static_cast<char*>(aligned_alloc(kPage, kBatch * kPage)), &free};
    std::vector<iovec> remote = std::vector<iovec>(kBatch);
    std::vector<std::size_t> which = std::vector<std::size_t>(kBatch);
    std::size_t pages = 0, stretches = 0;

    static Batch& of_this_thread() {
        static thread_local Batch b;
        return b;
    }
    // Page i of the range, at `addr`: one more page of the last stretch if it follows it.
    void add(std::size_t i, uint64_t addr) {
        if (pages && which[pages - 1] == i - 1) remote[stretches - 1].iov_len += kPage;
        else remote[stretches++] = {reinterpret_cast<void*>(addr), kPage};
        which[pages++] = i;
    }
    // The batch's pages copied from `pid` in one call: the bytes copied (it stops at the first
    // page that fails).
    ssize_t read_from(pid_t pid) const {
        const iovec local{buf.get(), pages * kPage};
        return process_vm_readv(pid, &local, 1, remote.data(), stretches, 0);
    }
    // The same through the process's /proc/PID/mem, a read per stretch.
    ssize_t read_mem(int mem_fd) const {
        std::size_t done = 0;
        for (std::size_t s = 0; s < stretches; ++s) {
            const ssize_t got = pread(mem_fd, buf.get() + done, remote[s].iov_len,
                                      off_t(reinterpret_cast<uint64_t>(remote[s].iov_base)));
            if (got > 0) done += std::size_t(got);
            if (got != ssize_t(remote[s].iov_len)) break;
        }
        return ssize_t(done);
    }
    void clear() { pages = stretches = 0; }
};

}  // namespace

ProcessPages ProcessPages::open(pid_t pid) {
    const std::string base = "/proc/" + std::to_string(pid);
    return {Fd::open_read(base + "/pagemap"), Fd::open_read(base + "/mem")};
}

AnonReads anon_reads_for(const MapRange& m, bool ksm_merged) {
    const bool regular = m.anonymous() || (m.path.rfind("/", 0) == 0 && m.path.rfind("/dev/", 0) != 0);
    if (!regular) return AnonReads::pin_all;
    return ksm_merged ? AnonReads::all_through_mem : AnonReads::shared_through_mem;
}

bool visit_range_impl(pid_t pid, const ProcessPages& pp, uint32_t map_index, uint64_t start, uint64_t end,
                      AnonReads how, void (*fn)(void*, const PageVisit&), void* ctx, uint64_t* unreadable) {
    Batch& b = Batch::of_this_thread();
    static thread_local std::vector<uint64_t> entries(kBatch);
    auto through_mem_for = [how](const PagemapEntry& e) {
        return how != AnonReads::pin_all && !e.file_or_shared && (how == AnonReads::all_through_mem || !e.exclusive);
    };
    for (uint64_t addr = start; addr < end; addr += kBatch * kPage) {
        const std::size_t n = std::size_t(std::min<uint64_t>(kBatch, (end - addr) / kPage));
        ssize_t got = pread(pp.pagemap.get(), entries.data(), n * sizeof(uint64_t), off_t(addr / kPage * sizeof(uint64_t)));
        if (got != ssize_t(n * sizeof(uint64_t))) {
            if (!process_alive(pid)) return false;
            break;
        }
        // The present pages of the batch in one call, packed into the buffer: a remote iovec per
        // stretch of consecutive present pages (one for a fully resident batch); then, if any,
        // the anonymous ones a pin would copy, through /proc/PID/mem (see AnonReads).
        for (const bool through_mem : {false, true}) {
            b.clear();
            for (std::size_t i = 0; i < n; ++i) {
                const PagemapEntry e = decode_pagemap(entries[i]);
                if (e.present && through_mem_for(e) == through_mem) b.add(i, addr + i * kPage);
            }
            if (!b.pages) continue;
            const ssize_t r = through_mem ? b.read_mem(pp.mem.get()) : b.read_from(pid);
            const std::size_t full = r > 0 ? std::size_t(r) / kPage : 0;  // it stops at the first failing page
            for (std::size_t k = 0; k < b.pages; ++k) {
                char* const page = b.buf.get() + k * kPage;
                const uint64_t page_addr = addr + b.which[k] * kPage;
                if (k >= full) {  // past the failure: this page alone
                    iovec one_local{page, kPage}, one_remote{reinterpret_cast<void*>(page_addr), kPage};
                    const ssize_t one = through_mem ? pread(pp.mem.get(), page, kPage, off_t(page_addr))
                                                    : process_vm_readv(pid, &one_local, 1, &one_remote, 1, 0);
                    if (one != ssize_t(kPage)) {
                        if (unreadable) ++*unreadable;
                        continue;
                    }
                }
                PagemapEntry e = decode_pagemap(entries[b.which[k]]);
                PageVisit v;
                v.addr = page_addr;
                v.pfn = e.pfn;
                v.map_index = map_index;
                v.file_or_shared = e.file_or_shared;
                v.exclusive = e.exclusive;
                v.data = page;
                fn(ctx, v);
            }
        }
    }
    return true;
}

bool hash_mapped_pages(const char* m, std::size_t n, const unsigned char* want, uint64_t* hashes) {
    Batch& b = Batch::of_this_thread();
    const pid_t self = getpid();
    auto flush = [&] {
        if (b.read_from(self) != ssize_t(b.pages * kPage)) return false;
        for (std::size_t k = 0; k < b.pages; ++k) hashes[b.which[k]] = page_hash(b.buf.get() + k * kPage);
        b.clear();
        return true;
    };
    b.clear();
    for (std::size_t i = 0; i < n; ++i) {
        if (!(want[i] & 1)) continue;
        b.add(i, reinterpret_cast<uint64_t>(m + i * kPage));
        if (b.pages == kBatch && !flush()) return false;
    }
    return b.pages == 0 || flush();
}

bool visit_process_pages_impl(pid_t pid, const std::vector<MapRange>& maps,
                              void (*fn)(void*, const PageVisit&), void* ctx, uint64_t* unreadable) {
    const ProcessPages pp = ProcessPages::open(pid);
    if (!pp) return false;
    for (uint32_t mi = 0; mi < maps.size(); ++mi)
        if (scannable(maps[mi]) && !visit_range_impl(pid, pp, mi, maps[mi].start, maps[mi].end,
                                                     anon_reads_for(maps[mi], true), fn, ctx, unreadable))
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
