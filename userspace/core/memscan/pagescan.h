// SPDX-License-Identifier: MIT
// Resident pages of a process and a hash of each one's content: the raw material of `hypetrace
// dedup` (issue 4, the paper's Table 1). Sources: /proc/PID/maps (what each range is),
// /proc/PID/pagemap (present, PFN, exclusive, file or shared-anon), /proc/kpagecount and
// /proc/kpageflags (how many mappings a frame has, KSM, zero page), and the content itself read
// with process_vm_readv (or /proc/PID/mem, see visit_range), hashed with XXH3.
#pragma once
#include "core/host/files.h"
#include "core/host/proc.h"

#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>
#include <type_traits>
#include <vector>

namespace ht {

// One /proc/PID/pagemap entry (see Documentation/admin-guide/mm/pagemap.rst).
struct PagemapEntry {
    bool present = false, swapped = false, file_or_shared = false, exclusive = false;
    uint64_t pfn = 0;  // 0 without CAP_SYS_ADMIN
};
PagemapEntry decode_pagemap(uint64_t raw);

// /proc/kpageflags bits hypetrace uses.
inline constexpr uint64_t kKpfAnon = 1ull << 12;
inline constexpr uint64_t kKpfKsm = 1ull << 21;
inline constexpr uint64_t kKpfThp = 1ull << 22;
inline constexpr uint64_t kKpfZeroPage = 1ull << 24;

// One resident page of a process.
struct ScannedPage {
    uint64_t hash = 0;       // XXH3-64 of the 4 KiB content
    uint64_t pfn = 0;
    uint32_t map_index = 0;  // into ProcessScan::maps
    bool anon = false;       // anonymous memory (private or shared), else file-backed
    bool zero = false;       // all zero bytes (or the kernel's zero page)
    bool ksm = false;        // a KSM-merged frame
    uint32_t mapcount = 0;   // from kpagecount (0 if unreadable)
};

struct ProcessScan {
    pid_t pid = 0;
    std::vector<MapRange> maps;
    std::vector<ScannedPage> pages;
    uint64_t unreadable_pages = 0;  // present but not readable (e.g. VM_IO ranges)
};

// Scans every readable mapping of `pid`. Needs root for PFNs, kpageflags and kpagecount;
// nullopt if the process is gone. Reads kpageflags/kpagecount once per page: for tests and small
// processes; `visit_process_pages` is the fast path.
std::optional<ProcessScan> scan_process(pid_t pid);

// One resident page as the fast path sees it: content and pagemap only (no kpageflags).
struct PageVisit {
    uint64_t addr = 0;
    uint64_t pfn = 0;
    uint32_t map_index = 0;
    bool file_or_shared = false;  // pagemap bit 61: a file page or shared anonymous memory
    bool exclusive = false;       // pagemap bit 56: this page mapped exactly once (its mapcount is 1)
    const void* data = nullptr;   // 4 KiB, valid during the call
};

// Reads every resident page of every readable mapping in `maps` (parsed from the process's
// /proc/PID/maps), 256 pages at a time (see AnonReads; KSM frames assumed possible), and calls
// `visit` for each. Returns
// false if the process is gone; `unreadable` counts present pages whose content could not be read.
template <class F>
bool visit_process_pages(pid_t pid, const std::vector<MapRange>& maps, F&& visit, uint64_t* unreadable);
bool visit_process_pages_impl(pid_t pid, const std::vector<MapRange>& maps,
                              void (*fn)(void*, const PageVisit&), void* ctx, uint64_t* unreadable);
template <class F>
bool visit_process_pages(pid_t pid, const std::vector<MapRange>& maps, F&& visit, uint64_t* unreadable) {
    return visit_process_pages_impl(
        pid, maps, [](void* c, const PageVisit& v) { (*static_cast<std::remove_reference_t<F>*>(c))(v); }, &visit,
        unreadable);
}

// Whether the fast path reads mapping `m` at all (readable, not the kernel's vsyscall/vvar pages).
bool scannable(const MapRange& m);

// A process's /proc/PID/pagemap and /proc/PID/mem, open for reading its pages. Without the
// second (attaching refused: Yama, an LSM) the pages that need it are counted unreadable.
struct ProcessPages {
    Fd pagemap, mem;
    static ProcessPages open(pid_t pid);
    explicit operator bool() const { return bool(pagemap); }
};

// How a range's anonymous pages are read without changing the process. process_vm_readv pins
// what it reads, and the kernel unshares (copies) an anonymous page it has not marked exclusive
// before it lets it be pinned: a fork's sharing broken, a KSM merge undone, in the scanned
// process. /proc/PID/mem reads without a pin (one copy more); every other page (file, shared
// memory) is read with process_vm_readv.
enum class AnonReads : uint8_t {
    shared_through_mem,  // those pagemap says are mapped more than once, through /proc/PID/mem
    all_through_mem,     // every one: where KSM frames may be (one mapped once looks exclusive)
    pin_all,             // process_vm_readv only: a device or special mapping, where /proc/PID/mem
                         // would fall back to the driver's own access to pages a pin refuses
};
// For mapping `m`; `ksm_merged`: registered with KSM while KSM runs or holds merged pages.
// Not seen from here: on kernels before 6.16 a large anonymous folio a fork child shared, mapped
// once again since the child ended, is copied a page at a time all the same.
AnonReads anon_reads_for(const MapRange& m, bool ksm_merged);

// The same for part of one mapping: pages [start, end) of maps[map_index]. Safe to run on several
// threads at once (each has its own buffer). The parallel dedup scan splits processes into such
// ranges.
bool visit_range_impl(pid_t pid, const ProcessPages& pp, uint32_t map_index, uint64_t start, uint64_t end,
                      AnonReads how, void (*fn)(void*, const PageVisit&), void* ctx, uint64_t* unreadable);
template <class F>
bool visit_range(pid_t pid, const ProcessPages& pp, uint32_t map_index, uint64_t start, uint64_t end, AnonReads how,
                 F&& visit, uint64_t* unreadable) {
    return visit_range_impl(
        pid, pp, map_index, start, end, how,
        [](void* c, const PageVisit& v) { (*static_cast<std::remove_reference_t<F>*>(c))(v); }, &visit, unreadable);
}

// Hashes the pages of this process's mapping [m, m + n pages) whose `want[i] & 1` is set (mincore's
// answer for a file mapping), into hashes[i]. They are copied 256 at a time by process_vm_readv on
// this process: the kernel reads them through its own mapping of the frames and fills in the
// mapping's page table as it goes (pagemap then has their frames), with no page fault here. Where
// every trap is a hypervisor's round trip (PVM) that is 3 to 4 times cheaper than touching them.
// False when a copy stops short: a page past the end of a file truncated meanwhile fails the copy
// (EFAULT, where touching it would be SIGBUS); the hashes are then incomplete.
bool hash_mapped_pages(const char* m, std::size_t n, const unsigned char* want, uint64_t* hashes);

// XXH3-64 of one page, and whether it is all zeros.
uint64_t page_hash(const void* page);
bool page_is_zero(const void* page);

}  // namespace ht
