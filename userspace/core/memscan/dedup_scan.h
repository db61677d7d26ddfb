// SPDX-License-Identifier: MIT
// Builds the page index `classify_frames` works on: every resident page of the guest's processes,
// of a second guest's, and of the host (every other process, and the resident page cache of every
// regular file any of them maps or holds open, found with mincore), 16 bytes per page.
#pragma once
#include "core/memscan/dedup.h"

#include <functional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace ht {

struct IndexSources {
    std::vector<pid_t> guest, other;  // processes of the guest and of the second guest
    bool host = true;                 // every other process, and the page cache
    uint64_t guest_ram_bytes = 0;     // VMs: size of the RAM mapping; 0: the largest anonymous one
    // Which mappings of the guests' processes to scan (default: all). Tests use it to look at a
    // helper's known regions only; the host is always scanned whole. Called from the scan's
    // threads at once: it must only read.
    std::function<bool(pid_t, const MapRange&)> guest_map_filter;
    std::function<void(const std::string&)> progress;
    unsigned threads = 0;             // threads reading and hashing pages (0: one per CPU, at most 16)
    // KSM runs or holds merged pages (ksm_frames_possible()): the anonymous pages of ranges
    // registered with KSM are then all read without a pin (see AnonReads).
    bool ksm_frames_possible = true;
};

struct IndexStats {
    unsigned processes[3] = {};      // guest, other, host
    uint64_t pages[4] = {};          // by PageOwner, as scanned (before collapse)
    uint64_t files = 0, files_skipped = 0;
    uint64_t unreadable_pages = 0;   // present, content not readable (device memory)
    unsigned vanished = 0;           // processes gone before their scan was over (or their pid taken by another)
    uint64_t bytes() const { return (pages[0] + pages[1] + pages[2] + pages[3]) * 4096; }
    double scan_s = 0;               // reading and hashing, of which:
    double maps_s = 0;               //   processes' maps and KSM flags (smaps), on every thread
    double pages_s = 0;              //   processes' pages: pagemap, copy, hash, on every thread
    double cache_find_s = 0;         //   which windows of the mapped and open files are resident (mincore), one thread
    double cache_s = 0;              //   those windows' pages: mapped, hashed, on every thread
    unsigned threads = 0;            // threads that did it
    double classify_s = 0;           // collapse + classify (filled by the caller)
    std::string guest_ram;           // how guest RAM was found ("" if not a VM)
    // The files whose page cache was scanned: how to open each (a /proc/PID/map_files or fd
    // link, valid while that process lives) and its path.
    std::vector<std::pair<std::string, std::string>> cache_files;
};

std::vector<PageRef> build_page_index(const IndexSources& src, IndexStats* stats);

// Which part of a guest a mapping is: `qemu` says whether the process is a QEMU, `is_ram` whether
// this is its guest RAM mapping; `prev` is the mapping just below (or null): a thread's stack is
// private anonymous memory right above its guard page (a PROT_NONE page or few).
GuestPart classify_mapping(const MapRange& m, bool qemu, bool is_ram, const MapRange* prev = nullptr);
// The guest RAM mapping of a QEMU process: the non-executable private anonymous mapping of
// exactly `ram_bytes`, or with 0 the largest one of at least 16 MiB. -1 if none.
int find_guest_ram(const std::vector<MapRange>& maps, uint64_t ram_bytes);
// Start addresses of the ranges flagged `mg` (registered with KSM) in /proc/PID/smaps text.
std::vector<uint64_t> parse_mergeable_starts(const std::string& smaps_text);

// For each file (as in IndexStats::cache_files), how many of its resident pages have one of
// `sorted_hashes` as content, not counting the frames in `skip_pfns` (sorted: the guest's own);
// by path, most first, files with none left out.
std::vector<std::pair<std::string, uint64_t>> pages_in_files(const std::vector<std::pair<std::string, std::string>>& files,
                                                             const std::vector<uint64_t>& sorted_hashes,
                                                             const std::vector<uint64_t>& skip_pfns = {});

// Hashes of every 4 KiB block (the last one zero-padded) of every regular file under `dir`,
// sorted and unique: what the guest's page cache would hold if it cached those files.
std::vector<uint64_t> hash_file_blocks(const std::string& dir, uint64_t* files = nullptr, uint64_t* bytes = nullptr);

}  // namespace ht
