// SPDX-License-Identifier: MIT
// Page-content deduplication analysis (paper section 4.1, Table 1): an index of every resident
// page of a guest, of a second guest and of the host (other processes and the page cache of the
// files they map or hold open), collapsed to physical frames, grouped by content, and classified
// from the guest's point of view: which of its frames duplicate another frame, where that other
// frame lives (within the guest, in the host, in the other guest) and of which kinds the two are
// (anonymous or file-backed), and which of those KSM could merge.
//
// The index holds 16 bytes per page (PageRef); everything else is per-file or per-mapping.
#pragma once
#include "core/memscan/pagescan.h"

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace ht {

// Who maps a page. `cache` is host page cache no scanned process maps (found with mincore).
enum class PageOwner : uint8_t { guest = 0, other = 1, host = 2, cache = 3 };

// What part of the guest a page belongs to (guest pages only).
enum class GuestPart : uint8_t {
    none = 0,
    guest_ram,   // VM: the anonymous mapping the size of the guest's RAM
    tcg_cache,   // VM under TCG: anonymous executable mappings (translated code)
    anon,        // QEMU's heap and other anonymous memory; a container's anonymous memory
    stack,       // [stack], and thread stacks (anonymous memory right above a guard page)
    file,        // file-backed pages: binaries, libraries, mapped files
    shmem,       // shared anonymous memory, memfd, /dev/shm
};
inline constexpr int kGuestParts = 7;
const char* to_string(GuestPart p);

// One page of one mapping, and after collapse() one physical frame. 16 bytes.
struct PageRef {
    uint64_t hash = 0;        // XXH3-64 of the content
    uint64_t pfn : 40;        // 0 if unknown (each such page is its own frame)
    uint64_t owner : 2;       // PageOwner (before collapse)
    uint64_t anon : 1;        // anonymous memory (private), else file-backed or shared
    uint64_t zero : 1;        // all zero bytes
    uint64_t mergeable : 1;   // in a range registered with KSM (VmFlags mg)
    uint64_t part : 3;        // GuestPart (guest pages)
    uint64_t ksm : 1;         // after collapse: a KSM frame (kpageflags)
    uint64_t kzero : 1;       // after collapse: the kernel's shared zero page
    uint64_t owners : 4;      // after collapse: bit per PageOwner mapping this frame
    uint64_t mapcount : 10;   // 1: mapped once, 2: more (pagemap's exclusive bit), 0: unknown; after
                              // collapse, for KSM frames: kpagecount, capped at 1023
    PageRef() : pfn(0), owner(0), anon(0), zero(0), mergeable(0), part(0), ksm(0), kzero(0), owners(0), mapcount(0) {}
};
static_assert(sizeof(PageRef) == 16, "the index must stay at 16 bytes per page");

uint64_t zero_page_hash();

// Collapses refs of the same PFN into one frame (owners = every owner seen; page-cache-only
// unless a process maps it; guest part and anon from a guest ref; mapped more than once if any
// ref says so), then reads kpageflags where pagemap did not already tell (`read_flags` gets a
// sorted PFN run [first, first+n) and fills what it is given: flags, counts or both; 0 when
// unknown):
//  - whether a frame is a KSM frame: only frames registered with KSM, and only if KSM has frames
//    or may make some meanwhile (`ksm_frames_possible`); their kpagecount too (how many mappings
//    KSM merged into them);
//  - whether it is the kernel's zero page: only zero-filled frames pagemap did not call exclusive
//    and a process maps (pagemap gives the zero page no struct page: neither bit; the huge zero
//    page, the file bit).
// Every other frame's anon and mapcount are pagemap's, which the kernel derives from the same
// page state (its anon bit, its mapcount) as kpageflags and kpagecount. (Kernels built without
// per-page mapcounts (CONFIG_NO_PAGE_MAPCOUNT, 6.15+) set the exclusive bit per large folio, not
// per page: a large folio partly shared counts as mapped more than once in every page.)
// Leaves `refs` holding the frames sorted by content, then PFN (one sort, which classify_frames
// then need not redo), or where KSM frames may be (`read_flags` given), by PFN: most registered
// frames then need kpageflags, read in PFN order. A frame written between the reads of two of its
// mappings (a live host) is one frame, under the content met first in that order (part and anon
// still from a guest ref). The sort and the reads run on every CPU for a large index
// (`read_flags` must then be callable from several threads at once, as kpage_reader's is); small
// ones stay on this thread.
using FrameFlagReader = std::function<void(uint64_t first, std::size_t n, uint64_t* flags, uint64_t* counts)>;
void collapse_frames(std::vector<PageRef>& refs, const FrameFlagReader& read_flags, bool ksm_frames_possible = true);

// Whether any page can be a KSM frame: KSM runs (run = 1: it may merge while we scan) or holds
// merged pages (pages_shared > 0; run = 0 stops KSM but leaves them merged). True if it cannot
// tell (no sysfs, as in some containers: a kernel without KSM has no range registered anyway).
bool ksm_frames_possible(const std::string& ksm_dir = "/sys/kernel/mm/ksm");

// kpageflags and/or kpagecount of frames pfn_at(k), k in [begin, end), sorted by PFN (0: not
// wanted, skipped), read in runs of nearby frames: one read covers wanted frames up to 64 apart,
// at most 4096 wide. visit(k, flags, count) for each wanted one (0 for what was not read).
enum FrameReads : unsigned { kReadFlags = 1, kReadCounts = 2 };
template <class PfnAt, class Visit>
void read_frame_runs(std::size_t begin, std::size_t end, PfnAt&& pfn_at, const FrameFlagReader& read, Visit&& visit,
                     unsigned what = kReadFlags | kReadCounts) {
    std::vector<uint64_t> flags, counts;
    for (std::size_t i = begin; i < end;) {
        const uint64_t first = pfn_at(i);
        if (first == 0) {
            ++i;
            continue;
        }
        uint64_t last = first;
        std::size_t j = i + 1;  // one past the run's last wanted frame
        for (std::size_t k = i + 1; k < end; ++k) {
            const uint64_t p = pfn_at(k);
            if (p == 0) continue;
            if (p - last > 64 || p - first >= 4096) break;
            last = p;
            j = k + 1;
        }
        const std::size_t n = std::size_t(last - first + 1);
        flags.assign(what & kReadFlags ? n : 0, 0);
        counts.assign(what & kReadCounts ? n : 0, 0);
        read(first, n, what & kReadFlags ? flags.data() : nullptr, what & kReadCounts ? counts.data() : nullptr);
        for (std::size_t k = i; k < j; ++k)
            if (const uint64_t p = pfn_at(k))
                visit(k, what & kReadFlags ? flags[p - first] : 0, what & kReadCounts ? counts[p - first] : 0);
        i = j;
    }
}
// The real reader: /proc/kpageflags and /proc/kpagecount. Empty function if not readable.
FrameFlagReader kpage_reader();

// Table 1 rows and columns.
enum DedupRow { kWithin = 0, kWithHost = 1, kWithOther = 2 };
enum DedupCol { kAnonAnon = 0, kFileFile = 1, kAnonFile = 2 };

struct DedupTable {
    // Duplicate frames of the guest (not zero-filled), counted once, in the first row that
    // explains them: within the guest, then with the host, then with the other guest.
    uint64_t cell[3][3] = {};
    // Of cell[r][kAnonAnon]: both frames in ranges registered with KSM, so KSM merges them now.
    uint64_t ksm_now[3] = {};

    // The guest's frames (distinct PFNs mapped by its processes).
    uint64_t frames = 0, anon_frames = 0, file_frames = 0;
    uint64_t zero_frames = 0, zero_anon = 0, zero_mergeable = 0;  // zero-filled, reported apart
    // Already shared, counted once and reported apart (not in the table): frames the guest maps
    // together with the host / the other guest, frames mapped more than once within the guest
    // only (pagemap: not exclusive), KSM frames, and whether it maps the kernel's zero page (one frame).
    uint64_t shared_with_host = 0, shared_with_other = 0, shared_within = 0, ksm_frames = 0, zero_pfn = 0;

    // The guest's frames by part: all, duplicates (any row, and zero-filled), already shared
    // with the host or the other guest; the rest is unique.
    std::array<uint64_t, kGuestParts> part_frames{}, part_dup{}, part_shared{};
    // Guest RAM pages whose content equals a 4 KiB block of a file of the guest's image (page
    // cache, most likely), zero-filled, the rest (anonymous memory, kernel, other caches).
    uint64_t ram_image_file = 0, ram_zero = 0, ram_other = 0;
    bool image_files_known = false;

    // Host-wide KSM estimate over every frame registered with KSM (any process): the
    // pages_sharing KSM would reach once settled, given max_page_sharing and use_zero_pages.
    uint64_t ksm_candidate_frames = 0, ksm_estimated_sharing = 0, ksm_estimated_shared = 0;
    uint64_t ksm_estimated_zero = 0;  // with use_zero_pages: merged into the kernel zero page instead

    uint64_t total() const;
    bool operator==(const DedupTable&) const = default;
    uint64_t row_total(int r) const { return cell[r][0] + cell[r][1] + cell[r][2]; }
    uint64_t col_total(int c) const { return cell[0][c] + cell[1][c] + cell[2][c]; }
};

struct KsmModel {
    uint64_t max_page_sharing = 256;
    bool use_zero_pages = false;
};

// Classifies the collapsed frames (sorts them by content, unless they are already).
// `image_hashes` (sorted) are the hashes of every 4 KiB block of the guest image's files; empty:
// not told.
// `host_hashes` (optional) receives, sorted, the contents of the guest frames counted in the
// "between guest and host" row, and `guest_pfns` the guest's own frames of those contents
// (sorted): to find where the host's copies are, and not take the guest's for them.
// Content groups are counted on `threads` threads (0: one per CPU), one stretch of whole groups
// each, cut about every kClassifyShare frames or more (a group is never split: one large group,
// the zero-filled frames, is on one thread).
inline constexpr std::size_t kClassifyShare = 65536;
DedupTable classify_frames(std::vector<PageRef>& frames, const std::vector<uint64_t>& image_hashes,
                           const KsmModel& ksm, std::vector<uint64_t>* host_hashes = nullptr,
                           std::vector<uint64_t>* guest_pfns = nullptr, unsigned threads = 0);

}  // namespace ht
