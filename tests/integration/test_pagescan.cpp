// SPDX-License-Identifier: MIT
// The page scanner on a live process with known content (helpers/dup_child.c): exact counts.
#include "common.h"
#include "core/memscan/pagescan.h"
#include "core/host/spawn.h"

#include <csignal>
#include <cstring>
#include <map>
#include <sys/mman.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

TEST(PageScan, CountsAKnownChildsDuplicatesExactly) {
    HT_REQUIRE_ROOT();
    const TestTempDir tmp("/tmp/ht-dup-XXXXXX");
    const std::string dir = tmp.path;
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

// Reading a process's pages changes nothing in it: pages it shares with its parent since a fork
// stay shared (process_vm_readv would pin them, and the kernel unshares, that is copies, an
// anonymous page that is not exclusive before it lets it be pinned).
TEST(PageScan, PagesSharedSinceAForkStaySharedWhenRead) {
    HT_REQUIRE_ROOT();
    constexpr std::size_t kPages = 64;
    const long psz = sysconf(_SC_PAGESIZE);
    char* mem = static_cast<char*>(mmap(nullptr, kPages * psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(mem, MAP_FAILED);
    madvise(mem, kPages * psz, MADV_NOHUGEPAGE);
    for (std::size_t i = 0; i < kPages; ++i) memset(mem + i * psz, int(i + 1), psz);
    const pid_t child = fork();
    if (child == 0) {
        for (;;) pause();
    }
    ASSERT_GT(child, 0);
    auto frames_of = [&](pid_t pid) {
        std::vector<uint64_t> out(kPages);
        const ht::Fd pm = ht::Fd::open_read("/proc/" + std::to_string(pid) + "/pagemap");
        if (pread(pm.get(), out.data(), kPages * 8, off_t(reinterpret_cast<uintptr_t>(mem) / psz * 8)) != ssize_t(kPages * 8))
            out.clear();
        for (uint64_t& e : out) e = ht::decode_pagemap(e).pfn;
        return out;
    };
    const std::vector<uint64_t> parent = frames_of(getpid()), before = frames_of(child);
    ASSERT_EQ(before.size(), kPages);
    ASSERT_NE(before[0], 0u) << "no PFNs in pagemap";
    ASSERT_EQ(before, parent) << "the fork did not share the pages";
    auto scan = ht::scan_process(child);
    const std::vector<uint64_t> after = frames_of(child);
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    munmap(mem, kPages * psz);
    ASSERT_TRUE(scan.has_value());
    EXPECT_EQ(after, before) << "reading the child's pages gave it copies of its own";
    // And they were read: each of the 64 contents once, each frame mapped twice.
    std::vector<char> page(psz);
    std::size_t found = 0;
    for (std::size_t i = 0; i < kPages; ++i) {
        memset(page.data(), int(i + 1), psz);
        const uint64_t h = ht::page_hash(page.data());
        for (const auto& p : scan->pages)
            if (p.hash == h && p.pfn == before[i]) {
                ++found;
                EXPECT_EQ(p.mapcount, 2u);
                break;
            }
    }
    EXPECT_EQ(found, kPages);
}
