// SPDX-License-Identifier: MIT
// `hypetrace dedup` on live processes with known content (helpers/dedup_child.c): exact Table 1
// counts within a guest, with a second guest and with the host; and on two real TCG VMs, the
// "KSM could merge" estimate against what KSM then merges.
#include "common.h"
#include "core/memscan/dedup_scan.h"
#include "core/memscan/ksm_share.h"
#include "core/host/host_settings.h"
#include "core/host/spawn.h"

#include <algorithm>
#include <csignal>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <sys/mman.h>
#include <thread>
#include <unistd.h>

namespace {

struct Helper {
    ht::Child child;
    std::string dir;
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    Helper(unsigned long seed, int same, int pairs, int anonfile, int zero, int distinct) {
        char tmpl[] = "/var/tmp/ht-dedup-test-XXXXXX";  // on disk: file pages, not shmem
        dir = mkdtemp(tmpl);
        ht::SpawnOptions o;
        o.stdout_path = dir + "/out";
        child = ht::spawn({HT_DEDUP_CHILD, std::to_string(seed), dir, std::to_string(same), std::to_string(pairs),
                           std::to_string(anonfile), std::to_string(zero), std::to_string(distinct)},
                          o);
        std::string text;
        for (int i = 0; i < 500 && text.find("ready") == std::string::npos; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
            text = ht_slurp(dir + "/out");
        }
        std::istringstream in(text);
        std::string lo, hi;
        while (in >> lo && lo != "ready" && in >> hi) ranges.push_back({std::stoull(lo, nullptr, 16), std::stoull(hi, nullptr, 16)});
    }
    ~Helper() {
        kill(child.pid, SIGKILL);
        waitpid(child.pid, nullptr, 0);
        std::filesystem::remove_all(dir);
    }
    bool ok() const { return ranges.size() == 8; }
    bool covers(const ht::MapRange& m) const {
        for (auto [lo, hi] : ranges)
            if (lo < hi && m.start <= lo && hi <= m.end) return true;
        return false;
    }
};

// KSM counts no more merges than it did `before`.
void expect_no_more_merges_counted(const ht::KsmCounters& before) {
    const ht::KsmCounters now = ht::read_ksm_counters();
    EXPECT_LE(now.pages_shared, before.pages_shared);
    EXPECT_LE(now.pages_sharing, before.pages_sharing);
}

// KSM stopped as it was found, and its counters too: once the processes it merged have ended,
// restore lets ksmd free their merges before it stops KSM (a KSM stopped first keeps counting
// merged pages nobody maps, and every later scan on the host takes the KSM-possible paths).
// (Where KSM ran before the test, it runs on and frees them itself.)
void expect_ksm_left_as_found(ht::HostSettingsGuard& ksm, const ht::KsmCounters& before) {
    EXPECT_TRUE(ksm.restore()) << ksm.restore_failures();
    if (ksm.saved().at("run") != "0") return;
    EXPECT_TRUE(ksm.settled());
    expect_no_more_merges_counted(before);
}

// Whether a read of untouched anonymous memory maps the kernel's zero page on this kernel (this
// machine kind's gives such a read a page of its own).
bool reads_map_the_zero_page() {
    const long psz = sysconf(_SC_PAGESIZE);
    char* p = static_cast<char*>(mmap(nullptr, psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (p == MAP_FAILED) return false;
    volatile char sink = p[0];
    (void)sink;
    uint64_t entry = 0, flags = 0;
    const ht::Fd pm = ht::Fd::open_read("/proc/self/pagemap"), kf = ht::Fd::open_read("/proc/kpageflags");
    const bool read = pread(pm.get(), &entry, 8, off_t(reinterpret_cast<uintptr_t>(p) / psz * 8)) == 8 &&
                      pread(kf.get(), &flags, 8, off_t((entry & ((1ull << 55) - 1)) * 8)) == 8;
    munmap(p, psz);
    return read && (flags & ht::kKpfZeroPage);
}

unsigned long fresh_seed() { return std::random_device{}() | 1ul << 20; }

// The first field two tables differ in ("" if none).
std::string table_difference(const ht::DedupTable& a, const ht::DedupTable& b) {
    std::ostringstream d;
    auto cmp = [&](const char* what, uint64_t x, uint64_t y) {
        if (x != y && d.tellp() == 0) d << what << ": " << x << " vs " << y;
    };
    for (int r = 0; r < 3; ++r) {
        for (int c = 0; c < 3; ++c) cmp("cell", a.cell[r][c], b.cell[r][c]);
        cmp("ksm_now", a.ksm_now[r], b.ksm_now[r]);
    }
    cmp("frames", a.frames, b.frames);
    cmp("anon_frames", a.anon_frames, b.anon_frames);
    cmp("file_frames", a.file_frames, b.file_frames);
    cmp("zero_frames", a.zero_frames, b.zero_frames);
    cmp("zero_anon", a.zero_anon, b.zero_anon);
    cmp("zero_mergeable", a.zero_mergeable, b.zero_mergeable);
    cmp("shared_with_host", a.shared_with_host, b.shared_with_host);
    cmp("shared_with_other", a.shared_with_other, b.shared_with_other);
    cmp("shared_within", a.shared_within, b.shared_within);
    cmp("ksm_frames", a.ksm_frames, b.ksm_frames);
    cmp("zero_pfn", a.zero_pfn, b.zero_pfn);
    for (int p = 0; p < ht::kGuestParts; ++p) {
        cmp("part_frames", a.part_frames[p], b.part_frames[p]);
        cmp("part_dup", a.part_dup[p], b.part_dup[p]);
        cmp("part_shared", a.part_shared[p], b.part_shared[p]);
    }
    cmp("ksm_candidate_frames", a.ksm_candidate_frames, b.ksm_candidate_frames);
    cmp("ksm_estimated_sharing", a.ksm_estimated_sharing, b.ksm_estimated_sharing);
    cmp("ksm_estimated_shared", a.ksm_estimated_shared, b.ksm_estimated_shared);
    cmp("ksm_estimated_zero", a.ksm_estimated_zero, b.ksm_estimated_zero);
    return d.str();
}

ht::DedupTable analyse(ht::IndexSources src, const std::vector<const Helper*>& helpers,
                       std::vector<std::pair<std::string, uint64_t>>* host_files = nullptr) {
    src.guest_map_filter = [helpers](pid_t pid, const ht::MapRange& m) {
        for (const Helper* h : helpers)
            if (h->child.pid == pid) return h->covers(m);
        return true;
    };
    src.ksm_frames_possible = ht::ksm_frames_possible();  // as `hypetrace dedup` does
    ht::IndexStats stats;
    std::vector<ht::PageRef> refs = ht::build_page_index(src, &stats);
    // As `hypetrace dedup` does: kpageflags only where pagemap cannot tell, none of it for KSM
    // unless KSM has frames or runs.
    std::vector<ht::PageRef> every = refs;
    ht::collapse_frames(refs, ht::kpage_reader(), ht::ksm_frames_possible());
    std::vector<uint64_t> host_hashes, guest_pfns;
    ht::DedupTable t = ht::classify_frames(refs, {}, ht::KsmModel{}, &host_hashes, &guest_pfns);
    if (host_files) *host_files = ht::pages_in_files(stats.cache_files, host_hashes, guest_pfns);
    // The reference: kpageflags and kpagecount of every frame. The same table.
    ht::collapse_frames(every, {});
    std::sort(every.begin(), every.end(), [](const ht::PageRef& a, const ht::PageRef& b) { return a.pfn < b.pfn; });
    ht::read_frame_runs(
        0, every.size(), [&](std::size_t k) { return uint64_t(every[k].pfn); }, ht::kpage_reader(),
        [&](std::size_t k, uint64_t fl, uint64_t c) {
            if (fl) {
                every[k].anon = (fl & ht::kKpfAnon) != 0;
                every[k].ksm = (fl & ht::kKpfKsm) != 0;
                every[k].kzero = (fl & ht::kKpfZeroPage) != 0;
            }
            every[k].mapcount = unsigned(std::min<uint64_t>(c, 1023));
        });
    // Only without the host: its frames change between the two reads on a live machine.
    const ht::DedupTable reference = ht::classify_frames(every, {}, ht::KsmModel{});
    if (!src.host) {
        EXPECT_EQ(table_difference(t, reference), "") << "the table with kpageflags read where needed, vs with every frame's";
    }
    return t;
}

constexpr int kSame = 30, kPairs = 7, kAnonFile = 5, kZero = 11, kDistinct = 9;

}  // namespace

TEST(Dedup, CountsDuplicatesWithinAGuestExactly) {
    HT_REQUIRE_ROOT();
    Helper a(fresh_seed(), kSame, kPairs, kAnonFile, kZero, kDistinct);
    ASSERT_TRUE(a.ok()) << "helper did not report its regions";
    ht::IndexSources src;
    src.guest = {a.child.pid};
    src.host = false;
    ht::DedupTable t = analyse(src, {&a});
    // The helper's 3 pages only read: the zero page, or zero-filled pages of their own.
    const bool zero_page = reads_map_the_zero_page();
    const uint64_t read_zero = zero_page ? 0 : 3;
    EXPECT_EQ(t.frames, uint64_t(kSame + 2 * kPairs + 2 * kAnonFile + kZero + kDistinct) + read_zero);
    EXPECT_EQ(t.cell[ht::kWithin][ht::kAnonAnon], uint64_t(kSame - 1));
    EXPECT_EQ(t.cell[ht::kWithin][ht::kFileFile], uint64_t(kPairs));
    EXPECT_EQ(t.cell[ht::kWithin][ht::kAnonFile], uint64_t(kAnonFile));
    EXPECT_EQ(t.ksm_now[ht::kWithin], uint64_t(kSame - 1)) << "the SAME region is MADV_MERGEABLE";
    EXPECT_EQ(t.zero_frames, uint64_t(kZero) + read_zero);
    EXPECT_EQ(t.zero_anon, uint64_t(kZero) + read_zero);
    EXPECT_EQ(t.row_total(ht::kWithHost) + t.row_total(ht::kWithOther), 0u);
    EXPECT_EQ(t.anon_frames, uint64_t(kSame + kAnonFile + kZero + kDistinct) + read_zero);
    EXPECT_EQ(t.ksm_estimated_sharing, uint64_t(kSame - 1));
    EXPECT_EQ(t.zero_pfn, zero_page ? 1u : 0u) << "the zero page, found through kpageflags";
    EXPECT_EQ(t.shared_within, 0u) << "every frame of the helper's is mapped once";
}

TEST(Dedup, CountsDuplicatesWithASecondGuestAndWithTheHostExactly) {
    HT_REQUIRE_ROOT();
    const unsigned long seed = fresh_seed();
    Helper a(seed, kSame, kPairs, kAnonFile, kZero, kDistinct);
    Helper b(seed, kSame, kPairs, kAnonFile, kZero, kDistinct);  // same contents, its own files
    ASSERT_TRUE(a.ok() && b.ok());
    // Each content of the guest exists once more in the second guest: its last copy goes there.
    {
        ht::IndexSources src;
        src.guest = {a.child.pid};
        src.other = {b.child.pid};
        src.host = false;
        ht::DedupTable t = analyse(src, {&a, &b});
        EXPECT_EQ(t.cell[ht::kWithin][ht::kAnonAnon], uint64_t(kSame - 1));
        EXPECT_EQ(t.cell[ht::kWithin][ht::kFileFile], uint64_t(kPairs));
        EXPECT_EQ(t.cell[ht::kWithin][ht::kAnonFile], uint64_t(kAnonFile));
        EXPECT_EQ(t.cell[ht::kWithOther][ht::kAnonAnon], uint64_t(1 + kAnonFile + kDistinct));
        EXPECT_EQ(t.cell[ht::kWithOther][ht::kFileFile], uint64_t(kPairs));
        EXPECT_EQ(t.cell[ht::kWithOther][ht::kAnonFile], 0u);
        EXPECT_EQ(t.ksm_now[ht::kWithOther], 1u) << "only the SAME content is registered on both sides";
        EXPECT_EQ(t.row_total(ht::kWithHost), 0u);
        EXPECT_EQ(t.ksm_estimated_sharing, uint64_t(2 * kSame - 1));
    }
    // The same helper as a host process (scanned whole, with the page cache of its files): the
    // host row takes what it explains first.
    {
        ht::IndexSources src;
        src.guest = {a.child.pid};
        src.host = true;
        ht::DedupTable t = analyse(src, {&a});
        EXPECT_EQ(t.cell[ht::kWithin][ht::kAnonAnon], uint64_t(kSame - 1));
        EXPECT_EQ(t.cell[ht::kWithHost][ht::kAnonAnon], uint64_t(1 + kAnonFile + kDistinct));
        EXPECT_EQ(t.cell[ht::kWithHost][ht::kFileFile], uint64_t(kPairs));
        EXPECT_EQ(t.cell[ht::kWithHost][ht::kAnonFile], 0u);
        EXPECT_EQ(t.row_total(ht::kWithOther), 0u);
        EXPECT_EQ(t.shared_with_host, 0u) << "the helpers map different files";
        EXPECT_GE(t.ksm_estimated_sharing, uint64_t(2 * kSame - 1));
    }
}

TEST(Dedup, FileContentOnlyInTheHostPageCacheIsFound) {
    HT_REQUIRE_ROOT();
    const unsigned long seed = fresh_seed();
    Helper a(seed, 1, kPairs, 0, 0, 0);
    ASSERT_TRUE(a.ok());
    // A host file with the content of the guest's file pairs, cached but mapped by nobody: the
    // page-cache pass finds it through a process that holds it open.
    Helper b(seed, 1, kPairs, 0, 0, 0);
    ASSERT_TRUE(b.ok());
    std::string copy = b.dir + "/held";
    std::filesystem::copy_file(b.dir + "/a", copy);
    ht::SpawnOptions o;
    o.stdin_path = copy;  // a process holding the file open, mapping nothing of it
    ht::Child holder = ht::spawn({"sleep", "30"}, o);
    {  // read it into the page cache
        std::string data = ht_slurp(copy);
        ASSERT_EQ(data.size(), std::size_t(kPairs) * 4096);
    }
    kill(b.child.pid, SIGKILL);  // b's own mappings gone: only the held copy remains on the host
    waitpid(b.child.pid, nullptr, 0);
    ht::IndexSources src;
    src.guest = {a.child.pid};
    src.host = true;
    std::vector<std::pair<std::string, uint64_t>> files;
    ht::DedupTable t = analyse(src, {&a}, &files);
    kill(holder.pid, SIGKILL);
    waitpid(holder.pid, nullptr, 0);
    EXPECT_EQ(t.cell[ht::kWithin][ht::kFileFile], uint64_t(kPairs));
    EXPECT_EQ(t.cell[ht::kWithHost][ht::kFileFile], uint64_t(kPairs));
    // And the report can say where the host's copies are: the held file only (the guest's own
    // files have the same content, but their frames are the guest's).
    ASSERT_EQ(files.size(), 1u) << files[0].first << (files.size() > 1 ? " " + files[1].first : "");
    EXPECT_EQ(files[0].first, copy);
    EXPECT_EQ(files[0].second, uint64_t(kPairs));
}

// What real KSM merged, read back from the frames (memory --guest-kernels): two helpers with the
// same SAME content share its frame; a third with other content shares nothing with them.
TEST(KsmFrames, WhatKsmMergedBetweenTwoProcessesAndWithinEach) {
    HT_REQUIRE_ROOT();
    const unsigned long seed = fresh_seed();
    // The guard first: on every way out the helpers end before it stops KSM (see KsmLeftAsFound).
    ht::HostSettingsGuard ksm;
    const ht::KsmCounters before = ht::read_ksm_counters();
    auto a = std::make_unique<Helper>(seed, kSame, 1, 1, kZero, kDistinct);
    auto b = std::make_unique<Helper>(seed, kSame, 1, 1, kZero, kDistinct);
    auto c = std::make_unique<Helper>(seed + 2, kSame, 1, 1, kZero, kDistinct);
    ASSERT_TRUE(a->ok() && b->ok() && c->ok());
    const auto flags = ht::kpage_reader();
    ASSERT_TRUE(bool(flags)) << "/proc/kpageflags unreadable as root";
    ksm.enable(20000, 20);
    std::optional<std::vector<uint64_t>> fa, fb, fc;
    for (int i = 0; i < 600; ++i) {  // up to 60 s for ksmd to merge all three
        fa = ht::read_ksm_frames(a->child.pid, flags);
        fb = ht::read_ksm_frames(b->child.pid, flags);
        fc = ht::read_ksm_frames(c->child.pid, flags);
        ASSERT_TRUE(fa && fb && fc) << "a helper died";
        if (fa->size() == kSame && fb->size() == kSame && fc->size() == kSame) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_EQ(fa->size(), std::size_t(kSame)) << "KSM did not merge a's SAME pages within 60 s";
    const ht::KsmShare ab = ht::ksm_share(*fa, *fb);
    EXPECT_EQ(ab.frames_a, 1u);
    EXPECT_EQ(ab.frames_b, 1u);
    EXPECT_EQ(ab.between, 1u) << "one content, one frame for both";
    EXPECT_EQ(ab.saved(), uint64_t(2 * kSame - 1));
    const ht::KsmShare ac = ht::ksm_share(*fa, *fc);
    EXPECT_EQ(ac.between, 0u) << "c's content is its own";
    EXPECT_EQ(ac.saved_within_b(), uint64_t(kSame - 1));
    // The dedup table of a alone sees the same: one KSM frame behind its SAME pages (KSM runs, so
    // every registered frame's flags are read), with as many mappings as kpagecount gives it
    // (pagemap would only have said "more than one").
    ASSERT_TRUE(ht::ksm_frames_possible());
    uint64_t mappings = 0;
    flags(fa->front(), 1, nullptr, &mappings);
    ASSERT_GE(mappings, uint64_t(kSame));
    ht::IndexSources src;
    src.guest = {a->child.pid};
    src.host = false;
    const ht::DedupTable t = analyse(src, {a.get()});
    const auto after = ht::read_ksm_frames(a->child.pid, flags);
    ASSERT_TRUE(after.has_value());
    EXPECT_EQ(after->size(), std::size_t(kSame)) << "reading a's pages undid KSM's merge of them";
    EXPECT_EQ(t.ksm_frames, 1u);
    EXPECT_EQ(t.ksm_candidate_frames, mappings) << "the KSM frame's mappings, from kpagecount";
    EXPECT_EQ(t.ksm_estimated_sharing, mappings - 1);
    a.reset(), b.reset(), c.reset();
    expect_ksm_left_as_found(ksm, before);
}

TEST(Dedup, CliRefusesAnUnknownGuestInOneLine) {
    HT_REQUIRE_ROOT();
    auto r = run_hypetrace({"dedup", "--guest", "no-such-guest-here"});
    EXPECT_NE(r.code, 0);
    EXPECT_EQ(r.lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("no running guest named 'no-such-guest-here'"), std::string::npos) << r.err;
    auto r2 = run_hypetrace({"dedup", "--pid", "99999999"});
    EXPECT_NE(r2.code, 0);
    EXPECT_EQ(r2.lines(r2.err), 1) << r2.err;
    auto r3 = run_hypetrace({"dedup"});
    EXPECT_EQ(r3.code, 2);
    EXPECT_NE(r3.err.find("choose one guest"), std::string::npos) << r3.err;
}

TEST(Dedup, CliFindsAQemuGuestByNameAndWritesJson) {
    HT_REQUIRE_ROOT();
    // A QEMU that never runs its CPU (-S): a real QEMU process with a 64 MiB RAM mapping.
    const std::string name = "ht-dedup-test-" + std::to_string(getpid());
    ht::Child q = ht::spawn({"qemu-system-x86_64", "-name", "guest=" + name + ",debug-threads=on", "-m", "64", "-S",
                             "-nodefaults", "-display", "none", "-machine", "pc,accel=tcg"},
                            {});
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    const TestTempDir tmp("/tmp/ht-dedup-json-XXXXXX");
    const std::string& dir = tmp.path;
    auto r = run_hypetrace({"dedup", "--guest", name, "--json", dir + "/d.json", "-q"});
    kill(q.pid, SIGKILL);
    waitpid(q.pid, nullptr, 0);
    ASSERT_EQ(r.code, 0) << r.err;
    auto j = nlohmann::json::parse(ht_slurp(dir + "/d.json"));
    EXPECT_EQ(j["schema"], 1);
    EXPECT_EQ(j["guest"]["kind"], "vm");
    EXPECT_EQ(j["guest"]["found_as"], "QEMU -name");
    EXPECT_EQ(j["guest"]["ram_bytes"], 64ull << 20);
    EXPECT_NE(j["scan"]["guest_ram_mapping"].get<std::string>().find("64 MiB"), std::string::npos);
    EXPECT_GT(j["guest_frames"]["all"].get<uint64_t>(), 100u);
    EXPECT_GT(j["scan"]["processes"]["host"].get<unsigned>(), 0u);
    EXPECT_NE(r.out.find("between guest and host"), std::string::npos);
}

// Issue 4's acceptance test: two identical VMs (TCG here) with KSM off; the estimate of what KSM
// could merge, then KSM switched on until it settles.
TEST(Dedup, KsmEstimateForTwoVmsIsWithinTenPercentOfWhatKsmMerges) {
    HT_REQUIRE_ROOT();
    const auto before = ht::read_ksm_settings("/sys/kernel/mm/ksm");
    const ht::KsmCounters counters_before = ht::read_ksm_counters();
    const TestTempDir tmp("/tmp/ht-dedup-vm-XXXXXX");
    const std::string& dir = tmp.path;
    auto r = run_hypetrace({"dedup", "--kvm", "--ksm-check", "--quiesce", "10", "--json", dir + "/d.json"});
    ASSERT_EQ(r.code, 0) << r.err;
    auto j = nlohmann::json::parse(ht_slurp(dir + "/d.json"));
    const double est = j["ksm_check"]["estimate_pages_sharing"].get<double>();
    const double actual = j["ksm_check"]["pages_sharing_after"].get<double>();
    EXPECT_TRUE(j["ksm_check"]["settled"].get<bool>()) << j["ksm_check"].dump();
    ASSERT_GT(actual, 1000) << "KSM merged almost nothing: " << j["ksm_check"].dump();
    EXPECT_NEAR(est, actual, 0.10 * actual) << j["ksm_check"].dump();
    // Table 1 has all three rows for a real VM.
    EXPECT_GT(j["table1"]["within_guest"]["total"].get<uint64_t>(), 0u);
    EXPECT_GT(j["table1"]["guest_guest"]["anon_anon"].get<uint64_t>(), 0u);
    EXPECT_GT(j["scan"]["gb_per_s"].get<double>(), 0.5);
    EXPECT_LE(j["scan"]["index_bytes_per_page"].get<double>(), 17.0);
    // Left as found: KSM settings restored, no VM running.
    EXPECT_EQ(ht::read_ksm_settings("/sys/kernel/mm/ksm"), before);
    if (before.at("run") == "0") {  // --ksm-check ends with run=2: every merge undone, none left counted
        expect_no_more_merges_counted(counters_before);
    }
    EXPECT_TRUE(pids_with("ht-dedup-kvm").empty());
}

TEST(Dedup, FindsARunningContainerByName) {
    HT_REQUIRE_ROOT();
    // hypetrace itself keeps a container running (quiescing); a second hypetrace finds it by name.
    AsyncHypetrace boot({"dedup", "--lxc", "--guests", "1", "--quiesce", "60", "-q"});
    const std::string name = "ht-dedup-lxc-" + std::to_string(boot.pid) + "-1";
    ASSERT_TRUE(wait_for([&] { return !pids_with("[lxc monitor]").empty() && !pids_with(name).empty(); }, 60000))
        << boot.err();
    std::this_thread::sleep_for(std::chrono::seconds(2));
    auto r = run_hypetrace({"dedup", "--guest", name, "--no-host", "-q"});
    kill(boot.pid, SIGTERM);
    boot.wait();
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find(name + " (container, LXC container"), std::string::npos) << r.out;
    EXPECT_TRUE(pids_with(name).empty()) << "the container outlived hypetrace";
}

TEST(Dedup, FindsALibvirtDomainByName) {
    HT_REQUIRE_ROOT();
    // scripts/test.sh starts libvirtd: a missing one is a failure, not a reason to skip
    ASSERT_TRUE(std::filesystem::exists("/run/libvirt/libvirt-sock"))
        << "libvirtd is not running: scripts/start-libvirtd.sh starts it (scripts/test.sh does)";
    const std::string name = "ht-dedup-virsh-" + std::to_string(getpid());
    const TestTempDir tmp("/tmp/ht-dedup-virsh-XXXXXX");
    const std::string& dir = tmp.path;
    std::ofstream(dir + "/d.xml") << "<domain type='qemu'><name>" << name
                                  << "</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
                                     "<os><type arch='x86_64' machine='pc'>hvm</type></os>"
                                     "<devices/></domain>";
    ht::SpawnOptions o;
    o.stdout_path = dir + "/virsh.out";
    o.stderr_path = dir + "/virsh.err";
    ht::Child v = ht::spawn({"virsh", "-c", "qemu:///system", "create", "--paused", dir + "/d.xml"}, o);
    int st = 0;
    waitpid(v.pid, &st, 0);
    ASSERT_EQ(WEXITSTATUS(st), 0) << ht_slurp(dir + "/virsh.err");
    auto r = run_hypetrace({"dedup", "--guest", name, "--no-host", "--json", dir + "/d.json", "-q"});
    ht::Child d = ht::spawn({"virsh", "-c", "qemu:///system", "destroy", name}, o);
    waitpid(d.pid, nullptr, 0);
    ASSERT_EQ(r.code, 0) << r.err;
    auto j = nlohmann::json::parse(ht_slurp(dir + "/d.json"));
    EXPECT_EQ(j["guest"]["found_as"], "libvirt domain");
    EXPECT_EQ(j["guest"]["kind"], "vm");
    EXPECT_GT(j["guest_frames"]["all"].get<uint64_t>(), 100u);
}

TEST(Dedup, SigtermWhileGuestsBootLeavesNothingBehind) {
    HT_REQUIRE_ROOT();
    const auto ksm = ht::read_ksm_settings("/sys/kernel/mm/ksm");
    const std::string thp = thp_mode();
    AsyncHypetrace h({"dedup", "--kvm", "--ksm-check"});
    const std::string needle = "ht-dedup-kvm-" + std::to_string(h.pid) + "-";
    ASSERT_TRUE(wait_for([&] { return !pids_with(needle).empty(); }, 30000)) << h.err();
    kill(h.pid, SIGTERM);
    BinaryResult r = h.wait();
    EXPECT_EQ(r.code, 143) << r.err;
    EXPECT_TRUE(r.out.empty()) << "an interrupted run printed a result";
    EXPECT_TRUE(pids_with(needle).empty()) << "a VM outlived hypetrace";
    EXPECT_EQ(ht::read_ksm_settings("/sys/kernel/mm/ksm"), ksm);
    EXPECT_EQ(thp_mode(), thp);
    EXPECT_FALSE(std::filesystem::exists("/run/hypetrace/settings.saved"));
}

// A KSM frame its other sharer has left is mapped once, and pagemap calls it exclusive; reading it
// with a pin would still copy it (the kernel never reuses a KSM page), so the scan must not.
TEST(KsmFrames, AFrameMappedOnceStaysMergedWhenScanned) {
    HT_REQUIRE_ROOT();
    const unsigned long seed = fresh_seed();
    ht::HostSettingsGuard ksm;
    const ht::KsmCounters before = ht::read_ksm_counters();
    auto a = std::make_unique<Helper>(seed, 1, 1, 1, 0, 0), b = std::make_unique<Helper>(seed, 1, 1, 1, 0, 0);
    ASSERT_TRUE(a->ok() && b->ok());
    const auto flags = ht::kpage_reader();
    ASSERT_TRUE(bool(flags));
    ksm.enable(20000, 20);
    std::optional<std::vector<uint64_t>> fa, fb;
    for (int i = 0; i < 600; ++i) {
        fa = ht::read_ksm_frames(a->child.pid, flags);
        fb = ht::read_ksm_frames(b->child.pid, flags);
        ASSERT_TRUE(fa && fb);
        if (fa->size() == 1 && fb->size() == 1 && fa->front() == fb->front()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(fa->size() == 1 && fb->size() == 1 && fa->front() == fb->front()) << "KSM did not merge the two pages";
    b.reset();  // b's mapping gone: a's page is the KSM frame's only mapping
    uint64_t mappings = 0;
    flags(fa->front(), 1, nullptr, &mappings);
    ASSERT_EQ(mappings, 1u);
    ht::IndexSources src;
    src.guest = {a->child.pid};
    src.host = false;
    const ht::DedupTable t = analyse(src, {a.get()});
    const auto after = ht::read_ksm_frames(a->child.pid, flags);
    ASSERT_TRUE(after.has_value());
    EXPECT_EQ(*after, *fa) << "the scan copied a's KSM page";
    EXPECT_EQ(t.ksm_frames, 1u);
    a.reset();
    expect_ksm_left_as_found(ksm, before);
}
