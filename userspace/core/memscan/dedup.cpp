// SPDX-License-Identifier: MIT
#include "core/memscan/dedup.h"

#include "core/base/parallel.h"
#include "core/base/text.h"
#include "core/host/proc.h"

#include <algorithm>
#include <cstdlib>
#include <fcntl.h>
#include <functional>
#include <new>
#include <sys/mman.h>
#include <memory>
#include <unistd.h>
#include <xxhash.h>

namespace ht {
namespace {

constexpr unsigned kG = 1u << unsigned(PageOwner::guest);
constexpr unsigned kV = 1u << unsigned(PageOwner::other);
constexpr unsigned kH = 1u << unsigned(PageOwner::host);
constexpr unsigned kC = 1u << unsigned(PageOwner::cache);

}  // namespace

const char* to_string(GuestPart p) {
    switch (p) {
    case GuestPart::guest_ram: return "guest RAM";
    case GuestPart::tcg_cache: return "TCG code cache";
    case GuestPart::anon: return "heap and other anonymous";
    case GuestPart::stack: return "stacks";
    case GuestPart::file: return "binaries, libraries, files";
    case GuestPart::shmem: return "shared memory";
    case GuestPart::none: break;
    }
    return "other";
}

uint64_t zero_page_hash() {
    static const uint64_t h = [] {
        std::vector<char> z(4096, 0);
        return uint64_t(XXH3_64bits(z.data(), z.size()));
    }();
    return h;
}

uint64_t DedupTable::total() const { return row_total(0) + row_total(1) + row_total(2); }

namespace {

// Merges ref `r` (another mapping of the same frame) into frame `f`.
void merge_ref(PageRef& f, const PageRef& r, unsigned& owners) {
    owners |= r.owners ? r.owners : 1u << r.owner;
    f.mergeable = f.mergeable || r.mergeable;
    f.mapcount = std::max(unsigned(f.mapcount), unsigned(r.mapcount));
}

// A frame's owners once all its refs are merged: a frame some process maps is not "cache only".
unsigned frame_owners(unsigned owners) { return owners & (kG | kV | kH) ? owners & ~kC : owners; }

// Frames read with two contents (written between the reads of two of their mappings) are in two
// content groups after the sort: each is merged into its first, under the content seen first.
// `again` holds the positions of the later ones, ascending. Rare: one scan of the frames.
void merge_frames_read_twice(std::vector<PageRef>& frames, const std::vector<std::size_t>& again) {
    std::vector<uint64_t> pfns;
    for (std::size_t k : again) pfns.push_back(frames[k].pfn);
    std::sort(pfns.begin(), pfns.end());
    pfns.erase(std::unique(pfns.begin(), pfns.end()), pfns.end());
    std::vector<std::size_t> first(pfns.size(), SIZE_MAX);
    std::size_t out = 0;
    for (std::size_t k = 0; k < frames.size(); ++k) {
        const PageRef f = frames[k];
        const auto it = f.pfn ? std::lower_bound(pfns.begin(), pfns.end(), uint64_t(f.pfn)) : pfns.end();
        if (it == pfns.end() || *it != f.pfn) {
            frames[out++] = f;
            continue;
        }
        std::size_t& at = first[std::size_t(it - pfns.begin())];
        if (at == SIZE_MAX) {
            at = out;
            frames[out++] = f;
            continue;
        }
        PageRef& into = frames[at];
        unsigned owners = into.owners;
        if (!(owners & kG) && (f.owners & kG)) {  // the guest's part and anon, as a guest ref gives
            into.part = f.part;
            into.anon = f.anon;
        }
        merge_ref(into, f, owners);
        into.owners = frame_owners(owners);
    }
    frames.resize(out);
}

}  // namespace

void collapse_frames(std::vector<PageRef>& refs, const FrameFlagReader& read_flags, bool ksm_frames_possible) {
    const unsigned threads = worker_threads();
    const uint64_t zh = zero_page_hash();
    // One sort serves collapse and classification: by content, then frame. A frame's refs are next
    // to each other (its content, read through each of its mappings), and the frames come out in
    // the order classify_frames wants them. Where KSM frames may be, most registered frames need
    // kpageflags, which is read in PFN order: then by frame, then content (classify_frames sorts
    // again), as a list of hundreds of thousands of frames by PFN would cost as much in fresh memory.
    const bool by_frame = ksm_frames_possible && read_flags;
    parallel_sort(refs.begin(), refs.end(), [by_frame](const PageRef& a, const PageRef& b) {
        if (a.hash != b.hash && (!by_frame || a.pfn == b.pfn)) return a.hash < b.hash;
        if (a.pfn != b.pfn) return a.pfn < b.pfn;
        if (a.owner != b.owner) return a.owner < b.owner;  // a guest ref first: it carries the guest part
        return a.part < b.part;  // the same one kept whatever order the scan's threads left
    }, threads);
    // Frames met before, under another content (written between the reads of two mappings): by
    // frame they follow each other; by content a bit per PFN up to the highest in the index finds
    // them (fresh anonymous memory, resident only where frames are).
    std::size_t seen_bytes = 0;
    if (!by_frame) {
        uint64_t max_pfn = 0;
        for (const PageRef& r : refs) max_pfn = std::max<uint64_t>(max_pfn, r.pfn);
        seen_bytes = std::size_t(max_pfn / 64 + 1) * sizeof(uint64_t);
    }
    void* seen_map = seen_bytes ? mmap(nullptr, seen_bytes, PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
                                : nullptr;
    if (seen_map == MAP_FAILED) throw std::bad_alloc();
    std::unique_ptr<void, std::function<void(void*)>> unmap_seen(seen_map, [&](void* m) {
        if (m) munmap(m, seen_bytes);
    });
    uint64_t* const seen = static_cast<uint64_t*>(seen_map);
    std::vector<std::size_t> again;  // where a frame met before is, after collapse
    std::size_t out = 0;
    for (std::size_t i = 0; i < refs.size();) {
        std::size_t j = i + 1;
        if (refs[i].pfn != 0)
            while (j < refs.size() && refs[j].pfn == refs[i].pfn && refs[j].hash == refs[i].hash) ++j;
        PageRef f = refs[i];
        unsigned owners = 0;
        f.mergeable = false;
        f.mapcount = 0;
        for (std::size_t k = i; k < j; ++k) merge_ref(f, refs[k], owners);
        f.owners = frame_owners(owners);
        if (const uint64_t pfn = f.pfn) {
            if (seen) {
                const std::size_t w = std::size_t(pfn >> 6);
                if (seen[w] & (1ull << (pfn & 63))) again.push_back(out);
                seen[w] |= 1ull << (pfn & 63);
            } else if (out > 0 && refs[out - 1].pfn == pfn) {
                again.push_back(out);
            }
        }
        refs[out++] = f;
        i = j;
    }
    refs.resize(out);  // not shrunk to fit: a copy to fresh memory costs more than the tail it frees
    unmap_seen.reset();
    if (!again.empty()) merge_frames_read_twice(refs, again);
    if (!read_flags) return;
    // kpageflags of the frames pagemap cannot tell about, then kpagecount of the KSM frames, in
    // runs of nearby frames: by frame, over the frames themselves; by content, over a list of the
    // few wanted (the zero page's candidates) sorted by PFN. Each thread its own stretch (a run
    // cut at a stretch's edge is one more read).
    auto wanted = [&](const PageRef& f) {
        const bool may_be_ksm = ksm_frames_possible && f.mergeable && f.anon;
        // The zero page has no struct page in a PTE (pagemap: anonymous), and the huge zero page
        // looks like a file page in a PMD: neither is ever exclusive, nor only in the page cache.
        const bool may_be_zero_page = f.hash == zh && f.mapcount != 1 && f.owners != kC;
        return f.pfn != 0 && (may_be_ksm || may_be_zero_page);
    };
    std::vector<std::pair<uint64_t, std::size_t>> want;  // (PFN, frame), by content only
    if (!by_frame) {
        for (std::size_t k = 0; k < refs.size(); ++k)
            if (wanted(refs[k])) want.push_back({uint64_t(refs[k].pfn), k});
        if (want.empty()) return;
        parallel_sort(want.begin(), want.end(), [](const auto& a, const auto& b) { return a.first < b.first; }, threads);
    }
    const std::size_t n = by_frame ? refs.size() : want.size();
    auto frame_at = [&](std::size_t k) -> PageRef& { return by_frame ? refs[k] : refs[want[k].second]; };
    for_chunks(n, 32768, threads, [&](std::size_t begin, std::size_t end) {
        read_frame_runs(
            begin, end,
            [&](std::size_t k) -> uint64_t {
                if (!by_frame) return want[k].first;  // the list holds only wanted frames
                return wanted(refs[k]) ? uint64_t(refs[k].pfn) : 0;
            },
            read_flags,
            [&](std::size_t k, uint64_t fl, uint64_t) {
                if (!fl) return;
                PageRef& f = frame_at(k);
                f.anon = (fl & kKpfAnon) != 0;
                f.ksm = (fl & kKpfKsm) != 0;
                f.kzero = (fl & kKpfZeroPage) != 0;
            },
            kReadFlags);
        read_frame_runs(
            begin, end, [&](std::size_t k) -> uint64_t { return frame_at(k).ksm ? frame_at(k).pfn : 0; }, read_flags,
            [&](std::size_t k, uint64_t, uint64_t c) { frame_at(k).mapcount = unsigned(std::min<uint64_t>(c, 1023)); },
            kReadCounts);
    });
}

bool ksm_frames_possible(const std::string& ksm_dir) {
    const auto run = read_text(ksm_dir + "/run");
    const auto shared = read_text(ksm_dir + "/pages_shared");
    if (!run || !shared) return true;
    const std::string r = trim(*run);
    if (r != "0" && r != "2") return true;  // running (1), or a value not known here
    return std::strtoull(shared->c_str(), nullptr, 10) > 0;
}

FrameFlagReader kpage_reader() {
    int ff = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
    int fc = open("/proc/kpagecount", O_RDONLY | O_CLOEXEC);
    if (ff < 0 || fc < 0) {
        if (ff >= 0) close(ff);
        if (fc >= 0) close(fc);
        return {};
    }
    auto fds = std::shared_ptr<int[]>(new int[2]{ff, fc}, [](int* p) {
        close(p[0]);
        close(p[1]);
        delete[] p;
    });
    return [fds](uint64_t first, std::size_t n, uint64_t* flags, uint64_t* counts) {
        const off_t off = off_t(first * sizeof(uint64_t));
        const std::size_t bytes = n * sizeof(uint64_t);
        if (flags && pread(fds[0], flags, bytes, off) != ssize_t(bytes)) std::fill(flags, flags + n, 0);
        if (counts && pread(fds[1], counts, bytes, off) != ssize_t(bytes)) std::fill(counts, counts + n, 0);
    };
}

namespace {

// Counts the content groups of frames [from, to) (whole groups) into `t`.
void classify_stretch(const std::vector<PageRef>& frames, std::size_t from, std::size_t to,
                      const std::vector<uint64_t>& image_hashes, const KsmModel& ksm, DedupTable& t,
                      std::vector<uint64_t>* host_hashes, std::vector<uint64_t>* guest_pfns) {
    const uint64_t zh = zero_page_hash();
    const uint64_t mps = std::max<uint64_t>(2, ksm.max_page_sharing);
    for (std::size_t i = from; i < to;) {
        std::size_t j = i + 1;
        while (j < to && frames[j].hash == frames[i].hash) ++j;
        const bool zero = frames[i].hash == zh;

        // What the group holds: the guest's own frames (candidates), and copies elsewhere.
        uint64_t a = 0, f = 0, am = 0;
        bool host_anon = false, host_file = false, other_anon = false, other_file = false;
        bool host_anon_mg = false, other_anon_mg = false;
        uint64_t ksm_mappings = 0;  // for the host-wide KSM estimate
        std::size_t keep = j;       // the candidate that stays when nothing outside has the content
        for (std::size_t k = i; k < j; ++k) {
            const PageRef& p = frames[k];
            if (p.kzero) {
                if (p.owners & kG) ++t.zero_pfn;
                continue;
            }
            if (p.mergeable && p.anon) ksm_mappings += p.ksm && p.mapcount > 1 ? p.mapcount : 1;
            if (p.owners & (kH | kC)) {
                (p.anon ? host_anon : host_file) = true;
                host_anon_mg |= p.anon && p.mergeable;
            }
            if (p.owners & kV) {
                (p.anon ? other_anon : other_file) = true;
                other_anon_mg |= p.anon && p.mergeable;
            }
            if (!(p.owners & kG)) continue;
            const int part = int(p.part);
            ++t.frames;
            ++(p.anon ? t.anon_frames : t.file_frames);
            ++t.part_frames[part];
            if (p.owners & (kH | kC)) {
                ++t.shared_with_host;
                ++t.part_shared[part];
                continue;
            }
            if (p.owners & kV) {
                ++t.shared_with_other;
                ++t.part_shared[part];
                continue;
            }
            if (p.ksm) ++t.ksm_frames;
            else if (p.mapcount > 1) ++t.shared_within;
            if (p.part == uint64_t(GuestPart::guest_ram)) {
                if (zero) ++t.ram_zero;
                else if (std::binary_search(image_hashes.begin(), image_hashes.end(), p.hash)) ++t.ram_image_file;
                else ++t.ram_other;
            }
            if (zero) {
                ++t.zero_frames;
                t.zero_anon += p.anon;
                t.zero_mergeable += p.anon && p.mergeable;
                ++t.part_dup[part];
                continue;
            }
            if (p.anon) {
                ++a;
                am += p.mergeable;
            } else {
                ++f;
            }
            // The frame that stays: a file frame if there is one (KSM cannot replace it), else a
            // KSM frame, else the first.
            if (keep == j || (!p.anon && frames[keep].anon) ||
                (p.anon && frames[keep].anon && p.ksm && !frames[keep].ksm))
                keep = k;
        }

        // Host-wide KSM estimate: every registered anonymous frame of this content.
        if (ksm_mappings >= 2 || (zero && ksm_mappings >= 1 && ksm.use_zero_pages)) {
            t.ksm_candidate_frames += ksm_mappings;
            if (zero && ksm.use_zero_pages) {
                t.ksm_estimated_zero += ksm_mappings;
            } else {
                const uint64_t shared = (ksm_mappings + mps - 1) / mps;
                t.ksm_estimated_shared += shared;
                t.ksm_estimated_sharing += ksm_mappings - shared;
            }
        }

        const uint64_t g = a + f;
        if (!zero && g > 0) {
            // Within the guest: g - 1 of its frames go. Anonymous ones merge among themselves,
            // file ones among themselves, and one anon/file pair joins the two sets.
            if (a >= 1) t.cell[kWithin][kAnonAnon] += a - 1;
            if (f >= 1) t.cell[kWithin][kFileFile] += f - 1;
            if (a >= 1 && f >= 1) t.cell[kWithin][kAnonFile] += 1;
            if (am >= 2) t.ksm_now[kWithin] += am - 1;
            // The last one goes too if the content exists outside the guest: the host first.
            const bool in_host = host_anon || host_file, in_other = other_anon || other_file;
            if (in_host || in_other) {
                const int row = in_host ? kWithHost : kWithOther;
                if (in_host && host_hashes) host_hashes->push_back(frames[i].hash);  // ascending: frames are sorted
                if (in_host && guest_pfns)
                    for (std::size_t k = i; k < j; ++k)
                        if (frames[k].owners & kG) guest_pfns->push_back(frames[k].pfn);
                const bool out_anon = in_host ? host_anon : other_anon;
                const bool out_file = in_host ? host_file : other_file;
                const bool out_mg = in_host ? host_anon_mg : other_anon_mg;
                if (a >= 1 && out_anon) {
                    ++t.cell[row][kAnonAnon];
                    if (am >= 1 && out_mg) ++t.ksm_now[row];
                } else if (f >= 1 && out_file) {
                    ++t.cell[row][kFileFile];
                } else {
                    ++t.cell[row][kAnonFile];
                }
            }
            for (std::size_t k = i; k < j; ++k) {
                const PageRef& p = frames[k];
                if (p.kzero || p.owners != kG) continue;
                if (k != keep || in_host || in_other) ++t.part_dup[p.part];
            }
        }
        i = j;
    }
}


// Adds what one stretch of content groups counted to the table of the others.
void add_counts(DedupTable& t, const DedupTable& o) {
    static_assert(sizeof(DedupTable) == 8 * (9 + 3 + 6 + 5 + 3 * kGuestParts + 3 + 1 + 4), "a field to add here");
    for (int r = 0; r < 3; ++r) {
        for (int c = 0; c < 3; ++c) t.cell[r][c] += o.cell[r][c];
        t.ksm_now[r] += o.ksm_now[r];
    }
    t.frames += o.frames;
    t.anon_frames += o.anon_frames;
    t.file_frames += o.file_frames;
    t.zero_frames += o.zero_frames;
    t.zero_anon += o.zero_anon;
    t.zero_mergeable += o.zero_mergeable;
    t.shared_with_host += o.shared_with_host;
    t.shared_with_other += o.shared_with_other;
    t.shared_within += o.shared_within;
    t.ksm_frames += o.ksm_frames;
    t.zero_pfn += o.zero_pfn;
    for (int p = 0; p < kGuestParts; ++p) {
        t.part_frames[p] += o.part_frames[p];
        t.part_dup[p] += o.part_dup[p];
        t.part_shared[p] += o.part_shared[p];
    }
    t.ram_image_file += o.ram_image_file;
    t.ram_zero += o.ram_zero;
    t.ram_other += o.ram_other;
    t.ksm_candidate_frames += o.ksm_candidate_frames;
    t.ksm_estimated_sharing += o.ksm_estimated_sharing;
    t.ksm_estimated_shared += o.ksm_estimated_shared;
    t.ksm_estimated_zero += o.ksm_estimated_zero;
}

}  // namespace

DedupTable classify_frames(std::vector<PageRef>& frames, const std::vector<uint64_t>& image_hashes,
                           const KsmModel& ksm, std::vector<uint64_t>* host_hashes,
                           std::vector<uint64_t>* guest_pfns, unsigned threads) {
    threads = worker_threads(threads);
    // Content, then frame: within a group the same order whatever came before (which frame stays
    // decides the part a duplicate is counted in).
    auto by_content = [](const PageRef& a, const PageRef& b) { return a.hash != b.hash ? a.hash < b.hash : a.pfn < b.pfn; };
    if (!std::is_sorted(frames.begin(), frames.end(), by_content))  // as collapse_frames leaves them by content
        parallel_sort(frames.begin(), frames.end(), by_content, threads);
    // Content groups are independent: each thread counts a stretch of whole groups in a table of
    // its own, added up after in order (host_hashes stays ascending).
    const std::size_t parts = std::max<std::size_t>(1, std::min<std::size_t>(threads, frames.size() / kClassifyShare));
    std::vector<DedupTable> tables(parts);
    std::vector<std::vector<uint64_t>> hashes(parts), pfns(parts);
    auto group_start = [&](std::size_t k) {  // the first group starting at or after k
        while (k > 0 && k < frames.size() && frames[k].hash == frames[k - 1].hash) ++k;
        return k;
    };
    on_threads(unsigned(parts), [&](unsigned part) {
        classify_stretch(frames, group_start(frames.size() * part / parts), group_start(frames.size() * (part + 1) / parts),
                         image_hashes, ksm, tables[part], host_hashes ? &hashes[part] : nullptr,
                         guest_pfns ? &pfns[part] : nullptr);
    });
    DedupTable t;
    t.image_files_known = !image_hashes.empty();
    for (std::size_t part = 0; part < parts; ++part) {
        add_counts(t, tables[part]);
        if (host_hashes) host_hashes->insert(host_hashes->end(), hashes[part].begin(), hashes[part].end());
        if (guest_pfns) guest_pfns->insert(guest_pfns->end(), pfns[part].begin(), pfns[part].end());
    }
    if (guest_pfns) std::sort(guest_pfns->begin(), guest_pfns->end());
    return t;
}

}  // namespace ht
