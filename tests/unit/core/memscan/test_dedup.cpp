// SPDX-License-Identifier: MIT
// The pure parts of `hypetrace dedup`: frame collapse, Table 1 classification, KSM estimate, and
// the parsers that find a guest's RAM, its KSM-registered ranges and its name.
#include "../../../temp_dir.h"
#include "core/memscan/dedup.h"
#include "core/memscan/dedup_scan.h"
#include "experiments/dedup.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <stdlib.h>

using namespace ht;

namespace {

PageRef ref(uint64_t hash, uint64_t pfn, PageOwner owner, bool anon, GuestPart part = GuestPart::anon,
            bool mergeable = false) {
    PageRef r;
    r.hash = hash;
    r.pfn = pfn;
    r.owner = unsigned(owner);
    r.anon = anon;
    r.zero = hash == zero_page_hash();
    r.mergeable = mergeable;
    r.part = owner == PageOwner::guest ? unsigned(part) : 0;
    return r;
}

std::vector<PageRef> collapsed(std::vector<PageRef> refs) {
    collapse_frames(refs, {});
    return refs;
}

}  // namespace

TEST(Dedup, PageRefIsSixteenBytes) { EXPECT_EQ(sizeof(PageRef), 16u); }

TEST(Dedup, CollapseMergesRefsOfOneFrameAndKeepsTheGuestPart) {
    auto f = collapsed({ref(7, 100, PageOwner::host, false), ref(7, 100, PageOwner::guest, false, GuestPart::file),
                        ref(7, 100, PageOwner::cache, false), ref(9, 200, PageOwner::cache, false),
                        ref(5, 0, PageOwner::guest, true), ref(5, 0, PageOwner::guest, true)});
    ASSERT_EQ(f.size(), 4u);  // pfn 0: unknown frames stay apart
    const PageRef* lib = nullptr;
    const PageRef* cache = nullptr;
    for (const auto& p : f) {
        if (p.pfn == 100) lib = &p;
        if (p.pfn == 200) cache = &p;
    }
    ASSERT_TRUE(lib && cache);
    EXPECT_EQ(lib->owners, (1u << 0) | (1u << 2)) << "mapped by a process: the cache bit goes";
    EXPECT_EQ(lib->part, unsigned(GuestPart::file));
    EXPECT_EQ(cache->owners, 1u << 3);
}

// kpageflags is read only where pagemap cannot tell (a KSM frame, the zero page), and kpagecount
// only for KSM frames; runs span the frames not read.
TEST(Dedup, CollapseReadsFlagsOnlyWherePagemapCannotTell) {
    const uint64_t zh = zero_page_hash();
    auto refs_with_hints = [&] {
        std::vector<PageRef> r{ref(1, 10, PageOwner::guest, true, GuestPart::guest_ram, true),
                               ref(2, 12, PageOwner::guest, true, GuestPart::guest_ram, true),
                               ref(zh, 5000, PageOwner::guest, true),   // the zero page: no exclusive bit
                               ref(zh, 6000, PageOwner::guest, true),   // zeros written to a page of its own
                               ref(3, 7000, PageOwner::host, true),     // not registered with KSM
                               ref(4, 0, PageOwner::guest, true, GuestPart::anon, true)};  // no PFN
        r[0].mapcount = 1;
        r[1].mapcount = 1;
        r[2].mapcount = 2;
        r[3].mapcount = 1;
        r[4].mapcount = 2;
        r[5].mapcount = 2;
        return r;
    };
    struct Read {
        uint64_t first;
        std::size_t n;
        bool flags, counts;
        bool operator==(const Read&) const = default;
    };
    std::vector<Read> reads;
    FrameFlagReader fake = [&](uint64_t first, std::size_t n, uint64_t* flags, uint64_t* counts) {
        reads.push_back({first, n, flags != nullptr, counts != nullptr});
        for (std::size_t i = 0; i < n; ++i) {
            const uint64_t pfn = first + i;
            if (flags) flags[i] = pfn == 12 ? (kKpfAnon | kKpfKsm) : pfn == 5000 ? kKpfZeroPage : kKpfAnon;
            if (counts) counts[i] = pfn == 12 ? 3 : 1;
        }
    };
    auto at = [](const std::vector<PageRef>& f, uint64_t pfn) {
        for (const PageRef& p : f)
            if (p.pfn == pfn) return p;
        ADD_FAILURE() << "no frame " << pfn;
        return PageRef{};
    };

    std::vector<PageRef> f = refs_with_hints();
    collapse_frames(f, fake, true);
    EXPECT_EQ(reads, (std::vector<Read>{{10, 3, true, false}, {5000, 1, true, false}, {12, 1, false, true}}));
    EXPECT_TRUE(at(f, 12).ksm);
    EXPECT_EQ(at(f, 12).mapcount, 3u) << "a KSM frame's mappings, from kpagecount";
    EXPECT_FALSE(at(f, 10).ksm);
    EXPECT_EQ(at(f, 10).mapcount, 1u) << "pagemap's hint kept where kpagecount was not read";
    EXPECT_TRUE(at(f, 5000).kzero);
    EXPECT_FALSE(at(f, 5000).anon) << "kpageflags: the zero page is not anonymous memory";
    EXPECT_FALSE(at(f, 6000).kzero);
    EXPECT_TRUE(at(f, 6000).anon);
    EXPECT_EQ(at(f, 7000).mapcount, 2u);

    // With no KSM frames anywhere (KSM stopped, none merged) only the zero page is asked about.
    reads.clear();
    f = refs_with_hints();
    collapse_frames(f, fake, false);
    EXPECT_EQ(reads, (std::vector<Read>{{5000, 1, true, false}}));
    EXPECT_FALSE(at(f, 12).ksm);
    EXPECT_EQ(at(f, 12).mapcount, 1u);
    EXPECT_TRUE(at(f, 5000).kzero);
}

TEST(Dedup, CollapseKeepsMappedMoreThanOnceFromAnyRef) {
    std::vector<PageRef> r{ref(7, 100, PageOwner::guest, false, GuestPart::file), ref(7, 100, PageOwner::host, false)};
    r[0].mapcount = 2;
    r[1].mapcount = 2;
    collapse_frames(r, {});
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].mapcount, 2u);
}

// A live frame written between the reads of its mappings comes with several contents: it is
// still one frame (every owner, the guest's part and anon), under the content that sorts first,
// whether collapse sorts by content (frames left in that order for classify_frames) or, where
// KSM frames may be, by frame.
TEST(Dedup, CollapseKeepsAFrameReadWithTwoContentsOnce) {
    const std::vector<PageRef> refs{ref(50, 300, PageOwner::host, true), ref(9, 100, PageOwner::cache, false),
                                    ref(40, 300, PageOwner::cache, false),
                                    ref(60, 300, PageOwner::guest, true, GuestPart::anon),
                                    ref(8, 0, PageOwner::guest, true), ref(8, 0, PageOwner::guest, true)};
    const FrameFlagReader none = [](uint64_t, std::size_t n, uint64_t* flags, uint64_t* counts) {
        if (flags) std::fill(flags, flags + n, 0);
        if (counts) std::fill(counts, counts + n, 0);
    };
    for (const bool ksm_frames_possible : {false, true}) {
        SCOPED_TRACE(ksm_frames_possible ? "by frame" : "by content");
        std::vector<PageRef> f = refs;
        collapse_frames(f, none, ksm_frames_possible);
        ASSERT_EQ(f.size(), 4u);
        if (!ksm_frames_possible) {
            EXPECT_TRUE(std::is_sorted(f.begin(), f.end(), [](const PageRef& a, const PageRef& b) { return a.hash < b.hash; }));
        }
        unsigned frames_300 = 0;
        for (const PageRef& p : f) {
            if (p.pfn != 300) continue;
            ++frames_300;
            EXPECT_EQ(p.hash, 40u) << "the content first in order";
            EXPECT_EQ(p.owners, (1u << 0) | (1u << 2)) << "guest and host map it: not cache only";
            EXPECT_EQ(p.part, unsigned(GuestPart::anon)) << "the guest's part, from its ref";
            EXPECT_TRUE(p.anon) << "anon from the guest's ref too (the cache's said file)";
        }
        EXPECT_EQ(frames_300, 1u);
    }
}

TEST(Dedup, KsmFramesArePossibleWhileKsmRunsOrHoldsMergedPages) {
    const TestTempDir tmp("/tmp/ht-ksm-test-XXXXXX");
    const std::string dir = tmp.path;
    auto set = [&](const char* run, const char* shared) {
        std::ofstream(dir + "/run") << run << "\n";
        std::ofstream(dir + "/pages_shared") << shared << "\n";
    };
    set("0", "0");
    EXPECT_FALSE(ksm_frames_possible(dir));
    set("2", "0");
    EXPECT_FALSE(ksm_frames_possible(dir));
    set("1", "0");
    EXPECT_TRUE(ksm_frames_possible(dir)) << "running: it may merge while the scan reads";
    set("0", "17");
    EXPECT_TRUE(ksm_frames_possible(dir)) << "stopped, but what it merged stays merged";
    std::filesystem::remove(dir + "/pages_shared");
    EXPECT_TRUE(ksm_frames_possible(dir)) << "cannot tell: assume so";
    std::filesystem::remove_all(dir);  // the fake sysfs gone (tmp finds nothing left to remove)
    EXPECT_TRUE(ksm_frames_possible(dir)) << "no sysfs: cannot tell";
}

TEST(Dedup, FrameRunsSpanFramesNotWantedAndStopAt4096) {
    std::vector<uint64_t> pfns{10, 40, 70, 200};
    std::vector<bool> wanted{true, false, true, false};
    for (uint64_t i = 0; i <= 64; ++i) {  // 10000, 10064, ..., 14096: each 64 after the last
        pfns.push_back(10000 + 64 * i);
        wanted.push_back(true);
    }
    std::vector<std::pair<uint64_t, std::size_t>> reads;
    std::vector<std::size_t> visited;
    read_frame_runs(
        0, pfns.size(), [&](std::size_t k) { return wanted[k] ? pfns[k] : 0; },
        [&](uint64_t first, std::size_t n, uint64_t* flags, uint64_t* counts) {
            reads.push_back({first, n});
            EXPECT_NE(flags, nullptr);
            EXPECT_EQ(counts, nullptr);
            for (std::size_t i = 0; i < n; ++i) flags[i] = first + i;
        },
        [&](std::size_t k, uint64_t fl, uint64_t c) {
            visited.push_back(k);
            EXPECT_EQ(fl, pfns[k]) << "frame " << k << " got another frame's flags";
            EXPECT_EQ(c, 0u);
        },
        kReadFlags);
    // 10..70 in one read over the frame not wanted (gaps of 30 and 30, up to 64); 200 not wanted;
    // 10000..14032 in one; 14096 would make it 4097 wide, so it starts a read of its own.
    EXPECT_EQ(reads, (std::vector<std::pair<uint64_t, std::size_t>>{{10, 61}, {10000, 4033}, {14096, 1}}));
    std::vector<std::size_t> expect{0, 2};
    for (std::size_t k = 4; k < pfns.size(); ++k) expect.push_back(k);
    EXPECT_EQ(visited, expect);
}

TEST(Dedup, ClassifiesWithinThenHostThenOtherGuest) {
    std::vector<PageRef> r{
        // content 1: three anonymous copies in the guest, one in the host -> 2 within a/a, 1 host a/a
        ref(1, 1, PageOwner::guest, true), ref(1, 2, PageOwner::guest, true), ref(1, 3, PageOwner::guest, true),
        ref(1, 4, PageOwner::host, true),
        // content 2: guest file + guest anon, other guest anon -> within a/f (the file page), and
        // other a/a (the anonymous page merges with the other guest's, as KSM would)
        ref(2, 5, PageOwner::guest, false, GuestPart::file), ref(2, 6, PageOwner::guest, true),
        ref(2, 7, PageOwner::other, true),
        // content 3: guest anon, only in the host page cache -> host a/f
        ref(3, 8, PageOwner::guest, true), ref(3, 9, PageOwner::cache, false),
        // content 4: guest file, other guest file -> other f/f
        ref(4, 10, PageOwner::guest, false, GuestPart::file), ref(4, 11, PageOwner::other, false),
        // content 5: unique
        ref(5, 12, PageOwner::guest, true),
        // content 6: a library frame mapped by guest and host: already shared, not a duplicate
        ref(6, 13, PageOwner::guest, false, GuestPart::file), ref(6, 13, PageOwner::host, false),
        // zero-filled: apart
        ref(zero_page_hash(), 14, PageOwner::guest, true), ref(zero_page_hash(), 15, PageOwner::guest, true)};
    auto f = collapsed(r);
    DedupTable t = classify_frames(f, {}, {});
    EXPECT_EQ(t.cell[kWithin][kAnonAnon], 2u);
    EXPECT_EQ(t.cell[kWithin][kAnonFile], 1u);
    EXPECT_EQ(t.cell[kWithHost][kAnonAnon], 1u);
    EXPECT_EQ(t.cell[kWithHost][kAnonFile], 1u);
    EXPECT_EQ(t.cell[kWithOther][kAnonAnon], 1u);
    EXPECT_EQ(t.cell[kWithOther][kAnonFile], 0u);
    EXPECT_EQ(t.cell[kWithOther][kFileFile], 1u);
    EXPECT_EQ(t.total(), 7u);
    EXPECT_EQ(t.shared_with_host, 1u);
    EXPECT_EQ(t.zero_frames, 2u);
    EXPECT_EQ(t.frames, 11u);  // the shared library frame once
    EXPECT_EQ(t.part_frames[int(GuestPart::anon)], 8u);
    // unique: content 5 only (content 2's file copy leaves too: the other guest has it)
    const uint64_t unique_anon = t.part_frames[int(GuestPart::anon)] - t.part_dup[int(GuestPart::anon)] -
                                 t.part_shared[int(GuestPart::anon)];
    EXPECT_EQ(unique_anon, 1u);
    EXPECT_EQ(t.part_shared[int(GuestPart::file)], 1u);
}

TEST(Dedup, KsmNowNeedsBothSidesRegistered) {
    std::vector<PageRef> r{ref(1, 1, PageOwner::guest, true, GuestPart::guest_ram, true),
                           ref(1, 2, PageOwner::guest, true, GuestPart::guest_ram, true),
                           ref(1, 3, PageOwner::other, true, GuestPart::none, true),
                           ref(2, 4, PageOwner::guest, true, GuestPart::anon, false),
                           ref(2, 5, PageOwner::other, true, GuestPart::none, true)};
    auto f = collapsed(r);
    DedupTable t = classify_frames(f, {}, {});
    EXPECT_EQ(t.ksm_now[kWithin], 1u);
    EXPECT_EQ(t.ksm_now[kWithOther], 1u);
    EXPECT_EQ(t.cell[kWithOther][kAnonAnon], 2u);
    EXPECT_EQ(t.ksm_estimated_sharing, 2u);  // 3 registered frames of content 1 -> 1 KSM page, 2 sharing
    EXPECT_EQ(t.ksm_estimated_shared, 1u);
}

// Classified on several threads, each a stretch of whole content groups, the table and the lists
// are those of one thread: groups of every kind (guest only, with host, with the other guest,
// image blocks, zero-filled and KSM-registered, KSM frames, the zero page), with a stretch's
// natural cut inside a group, under both KSM models.
TEST(Dedup, ClassifyOnSeveralThreadsCountsWhatOneDoes) {
    std::vector<PageRef> r;
    uint64_t pfn = 1;
    const uint64_t zh = zero_page_hash();
    auto hash_of = [&](uint64_t g) { return g == 777 ? zh : g * 2654435761u + 1; };
    for (uint64_t g = 0; r.size() < 5 * kClassifyShare; ++g) {
        const std::size_t size = g == 777 ? 60 : 1 + g % 7;  // 1..7 frames; 60 zero-filled
        for (std::size_t k = 0; k < size; ++k) {
            const PageOwner owner = k == 0 || g % 3 == 0 ? PageOwner::guest : g % 3 == 1 ? PageOwner::host : PageOwner::other;
            const GuestPart part = g == 777 ? GuestPart::guest_ram : GuestPart(g % 5);
            PageRef p = ref(hash_of(g), pfn++, owner, g == 777 || (g + k) % 4 != 0, part, g == 777 || (g + k) % 2 == 0);
            p.mapcount = 1 + (g % 11 == 0);
            r.push_back(p);
        }
    }
    collapse_frames(r, {});
    ASSERT_GE(r.size(), 5 * kClassifyShare);
    for (PageRef& p : r) {  // as kpageflags would say of a few
        if (p.pfn % 101 == 0 && p.anon && p.mergeable) {
            p.ksm = 1;
            p.mapcount = 3;
        }
    }
    for (PageRef& p : r)  // one zero-filled frame of the guest is the kernel's zero page
        if (p.hash == zh && (p.owners & 1u)) {
            p.kzero = 1;
            break;
        }
    // Where 4 threads' stretches would naturally be cut inside a group, that group is made the
    // guest's own anonymous KSM-registered frames: split, it would count fewer duplicates.
    bool cut_in_a_group = false;
    for (std::size_t t = 1; t < 4; ++t) {
        const std::size_t c = r.size() * t / 4;
        if (r[c - 1].hash != r[c].hash) continue;
        cut_in_a_group = true;
        std::size_t first = c, last = c;
        while (first > 0 && r[first - 1].hash == r[c].hash) --first;
        while (last < r.size() && r[last].hash == r[c].hash) ++last;
        for (std::size_t k = first; k < last; ++k) {
            r[k].owners = 1u << unsigned(PageOwner::guest);
            r[k].anon = 1;
            r[k].mergeable = 1;
        }
    }
    ASSERT_TRUE(cut_in_a_group) << "the test must make a stretch start inside a group";
    std::vector<uint64_t> image{hash_of(11), hash_of(21), hash_of(31), hash_of(41)};  // guest RAM groups
    std::sort(image.begin(), image.end());
    for (const bool use_zero_pages : {false, true}) {
        SCOPED_TRACE(use_zero_pages ? "use_zero_pages" : "zero pages merged like any");
        const KsmModel model{256, use_zero_pages};
        std::vector<uint64_t> hosts1, pfns1, hosts4, pfns4;
        auto one = r, four = r;
        const DedupTable t1 = classify_frames(one, image, model, &hosts1, &pfns1, 1);
        const DedupTable t4 = classify_frames(four, image, model, &hosts4, &pfns4, 4);
        EXPECT_TRUE(t1 == t4) << "total " << t1.total() << " vs " << t4.total() << ", frames " << t1.frames
                              << " vs " << t4.frames;
        EXPECT_GT(t1.row_total(kWithin), 0u);
        EXPECT_GT(t1.row_total(kWithHost), 0u);
        EXPECT_GT(t1.row_total(kWithOther), 0u);
        for (uint64_t v : {t1.ksm_frames, t1.zero_pfn, t1.ram_image_file, t1.ram_zero, t1.zero_mergeable,
                           t1.ksm_now[kWithin], t1.ksm_candidate_frames, t1.shared_within})
            EXPECT_GT(v, 0u);
        EXPECT_GT(use_zero_pages ? t1.ksm_estimated_zero : t1.ksm_estimated_sharing, 0u);
        EXPECT_EQ(hosts1, hosts4);
        EXPECT_FALSE(hosts4.empty());
        EXPECT_TRUE(std::is_sorted(hosts4.begin(), hosts4.end()));
        EXPECT_EQ(pfns1, pfns4);
    }
}

TEST(Dedup, KsmEstimateHonoursMaxPageSharingAndZeroPages) {
    std::vector<PageRef> r;
    for (uint64_t i = 0; i < 600; ++i) r.push_back(ref(42, 100 + i, PageOwner::other, true, GuestPart::none, true));
    for (uint64_t i = 0; i < 10; ++i)
        r.push_back(ref(zero_page_hash(), 1000 + i, PageOwner::other, true, GuestPart::none, true));
    auto f = collapsed(r);
    KsmModel m;
    m.max_page_sharing = 256;
    DedupTable t = classify_frames(f, {}, m);
    EXPECT_EQ(t.ksm_estimated_shared, 3u + 1u);  // ceil(600/256) chains + the zero content
    EXPECT_EQ(t.ksm_estimated_sharing, 600u - 3u + 9u);
    m.use_zero_pages = true;
    t = classify_frames(f, {}, m);
    EXPECT_EQ(t.ksm_estimated_zero, 10u);
    EXPECT_EQ(t.ksm_estimated_sharing, 597u);
}

TEST(Dedup, GuestRamContentIsMatchedAgainstImageBlocks) {
    std::vector<PageRef> r{ref(11, 1, PageOwner::guest, true, GuestPart::guest_ram),
                           ref(12, 2, PageOwner::guest, true, GuestPart::guest_ram),
                           ref(zero_page_hash(), 3, PageOwner::guest, true, GuestPart::guest_ram)};
    auto f = collapsed(r);
    DedupTable t = classify_frames(f, {11, 99}, {});
    EXPECT_TRUE(t.image_files_known);
    EXPECT_EQ(t.ram_image_file, 1u);
    EXPECT_EQ(t.ram_other, 1u);
    EXPECT_EQ(t.ram_zero, 1u);
}

TEST(Dedup, FindsGuestRamAndTcgCacheInQemuMaps) {
    auto maps = parse_maps(
        "55d0a0000000-55d0a0100000 r-xp 00000000 08:01 1234 /usr/bin/qemu-system-x86_64\n"
        "7f0000000000-7f0040000000 rwxp 00000000 00:00 0 \n"
        "7f1000000000-7f1040000000 rw-p 00000000 00:00 0 \n"
        "7f2000000000-7f2002000000 rw-p 00000000 00:00 0 \n"
        "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]\n"
        "7f3000000000-7f3000001000 rw-s 00000000 00:05 77                         /memfd:ram (deleted)\n");
    ASSERT_EQ(maps.size(), 6u);
    EXPECT_EQ(maps[0].dev_major, 8u);
    EXPECT_EQ(maps[0].dev_minor, 1u);
    EXPECT_EQ(find_guest_ram(maps, 1ull << 30), 2) << "exact size, and not the executable TCG buffer";
    EXPECT_EQ(find_guest_ram(maps, 0), 2) << "the largest non-executable anonymous mapping";
    EXPECT_EQ(find_guest_ram(maps, 512ull << 20), -1);
    EXPECT_EQ(classify_mapping(maps[1], true, false), GuestPart::tcg_cache);
    EXPECT_EQ(classify_mapping(maps[1], false, false), GuestPart::anon);
    EXPECT_EQ(classify_mapping(maps[2], true, true), GuestPart::guest_ram);
    EXPECT_EQ(classify_mapping(maps[0], true, false), GuestPart::file);
    EXPECT_EQ(classify_mapping(maps[4], true, false), GuestPart::stack);
    EXPECT_EQ(classify_mapping(maps[5], true, false), GuestPart::shmem);
    auto threads = parse_maps(
        "7f5000000000-7f5000001000 ---p 00000000 00:00 0 \n"
        "7f5000001000-7f5000801000 rw-p 00000000 00:00 0 \n"
        "7f6000000000-7f6000021000 rw-p 00000000 00:00 0 \n"
        "7f6000021000-7f6004000000 ---p 00000000 00:00 0 \n");
    EXPECT_EQ(classify_mapping(threads[1], true, false, &threads[0]), GuestPart::stack) << "above its guard page";
    EXPECT_EQ(classify_mapping(threads[2], true, false, &threads[1]), GuestPart::anon) << "a malloc arena";
}

TEST(Dedup, ParsesKsmRegisteredRangesFromSmaps) {
    auto starts = parse_mergeable_starts(
        "7f1000000000-7f1040000000 rw-p 00000000 00:00 0 \n"
        "Size:            1048576 kB\n"
        "VmFlags: rd wr mr mw me ac sd mg \n"
        "7f2000000000-7f2002000000 rw-p 00000000 00:00 0 \n"
        "Size:              32768 kB\n"
        "VmFlags: rd wr mr mw me ac sd \n");
    ASSERT_EQ(starts.size(), 1u);
    EXPECT_EQ(starts[0], 0x7f1000000000ull);
}

TEST(Dedup, ReadsQemuNameAndRamFromItsCommandLine) {
    using namespace std::string_literals;
    std::string a = "qemu-system-x86_64\0-name\0guest=web1,debug-threads=on\0-m\0size=1048576k\0"s;
    EXPECT_EQ(qemu_name_from_cmdline(a), "web1");
    EXPECT_EQ(qemu_ram_from_cmdline(a), 1ull << 30);
    std::string b = "qemu-system-x86_64\0-name\0plain\0-m\0"s + "512"s + "\0"s;
    EXPECT_EQ(qemu_name_from_cmdline(b), "plain");
    EXPECT_EQ(qemu_ram_from_cmdline(b), 512ull << 20);
    std::string c = "qemu-system-x86_64\0-m\0002G\0"s;
    EXPECT_EQ(qemu_name_from_cmdline(c), "");
    EXPECT_EQ(qemu_ram_from_cmdline(c), 2ull << 30);
}
