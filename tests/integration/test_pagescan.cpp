// SPDX-License-Identifier: MIT
// The page scanner on a live process with known content (helpers/dup_child.c): exact counts.
#include "common.h"
#include "core/memscan/pagescan.h"
#include "core/host/spawn.h"

#include <csignal>
#include <map>
#include <thread>

TEST(PageScan, CountsAKnownChildsDuplicatesExactly) {
    HT_REQUIRE_ROOT();
    char tmpl[] = "/tmp/ht-dup-XXXXXX";
    std::string dir = mkdtemp(tmpl);
    ht::SpawnOptions o;
    o.stdout_path = dir + "/out";
    ht::Child c = ht::spawn({HT_DUP_CHILD, "40", "25", "12"}, o);
    std::string line;
    for (int i = 0; i < 200 && line.find('\n') == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        line = ht_slurp(dir + "/out");
    }
    ASSERT_NE(line.find('\n'), std::string::npos) << "helper did not report its mapping";
    uint64_t start = std::stoull(line, nullptr, 16);
    auto scan = ht::scan_process(c.pid);
    kill(c.pid, SIGKILL);
    waitpid(c.pid, nullptr, 0);
    std::filesystem::remove_all(dir);
    ASSERT_TRUE(scan.has_value());

    std::map<uint64_t, int> by_hash;
    int zero = 0, pages = 0, anon = 0, with_pfn = 0;
    for (const auto& p : scan->pages) {
        const auto& m = scan->maps[p.map_index];
        if (m.start != start) continue;
        ++pages;
        anon += p.anon;
        with_pfn += p.pfn != 0;
        if (p.zero) ++zero;
        else ++by_hash[p.hash];
    }
    EXPECT_EQ(pages, 40 + 25 + 12);
    EXPECT_EQ(anon, pages);
    EXPECT_EQ(with_pfn, pages) << "no PFNs: not root, or pagemap hides them";
    EXPECT_EQ(zero, 12);
    ASSERT_EQ(by_hash.size(), 26u);  // the 40 identical pages, and 25 distinct ones
    int biggest = 0;
    for (auto [h, n] : by_hash) biggest = std::max(biggest, n);
    EXPECT_EQ(biggest, 40);
    EXPECT_GT(scan->pages.size(), 100u) << "the rest of the process (libc, stack) was scanned too";
}
