// SPDX-License-Identifier: MIT
#include "core/memscan/memusage.h"

#include <gtest/gtest.h>

using namespace ht;

TEST(MemUsage, ParsesSmapsRollup) {
    const char* text =
        "55d0c0000000-7ffd3c3f1000 ---p 00000000 00:00 0                          [rollup]\n"
        "Rss:               15400 kB\n"
        "Pss:                5201 kB\n"
        "Pss_Dirty:          3000 kB\n"
        "Pss_Anon:           3100 kB\n"
        "Pss_File:           2000 kB\n"
        "Pss_Shmem:           101 kB\n"
        "Shared_Clean:       9000 kB\n"
        "SwapPss:              12 kB\n";
    MemUsage m = parse_smaps_rollup(text);
    EXPECT_EQ(m.rss_kb, 15400u);
    EXPECT_EQ(m.pss_kb, 5201u);  // not confused with Pss_Dirty
    EXPECT_EQ(m.pss_anon_kb, 3100u);
    EXPECT_EQ(m.pss_file_kb, 2000u);
    EXPECT_EQ(m.pss_shmem_kb, 101u);
    EXPECT_EQ(m.swap_pss_kb, 12u);
}

TEST(MemUsage, SumsAddEveryField) {
    MemUsage a, b;
    a.pss_kb = 10;
    a.processes = 1;
    a.ksm_merging_pages = 3;
    b.pss_kb = 5;
    b.processes = 2;
    a += b;
    EXPECT_EQ(a.pss_kb, 15u);
    EXPECT_EQ(a.processes, 3u);
    EXPECT_EQ(a.ksm_merging_pages, 3u);
}

TEST(MemUsage, SplitsAVmIntoGuestRamTcgCacheAndQemu) {
    const char* text =
        "5627b6d66000-5627b72fd000 r-xp 00000000 fe:00 123                        /usr/bin/qemu-system-x86_64\n"
        "Pss:                5412 kB\n"
        "Pss_Dirty:             0 kB\n"
        "7fb63fe00000-7fb67fe00000 rw-p 00000000 00:00 0 \n"
        "Pss:              202752 kB\n"
        "7fb680000000-7fb6bffff000 rwxp 00000000 00:00 0 \n"
        "Pss:              268288 kB\n"
        "7fb6c4000000-7fb6c5ff0000 rw-p 00000000 00:00 0 \n"
        "Pss:               32576 kB\n"
        "7fb700000000-7fb740000000 rw-p 00000000 00:00 0 \n"  // a second 1 GiB mapping: counted as QEMU
        "Pss:                   4 kB\n";
    VmMemParts p = parse_vm_smaps(text, 1ull << 30);
    EXPECT_TRUE(p.guest_ram_found);
    EXPECT_EQ(p.guest_ram_kb, 202752u);
    EXPECT_EQ(p.tcg_cache_kb, 268288u);
    EXPECT_EQ(p.qemu_kb, 5412u + 32576u + 4u);
}

TEST(MemUsage, VmWithoutRamOfThatSizeSaysSo) {
    VmMemParts p = parse_vm_smaps("7fb63fe00000-7fb64fe00000 rw-p 00000000 00:00 0 \nPss: 10 kB\n", 1ull << 30);
    EXPECT_FALSE(p.guest_ram_found);
    EXPECT_EQ(p.qemu_kb, 10u);
}

TEST(MemUsage, KsmMergeableFromKsmStat) {
    EXPECT_TRUE(parse_ksm_mergeable("ksm_rmap_items 0\nksm_mergeable: yes\n"));
    EXPECT_TRUE(parse_ksm_mergeable("ksm_merge_any: yes\n"));
    EXPECT_TRUE(parse_ksm_mergeable("ksm_rmap_items 12\n"));  // kernels before 6.8
    EXPECT_FALSE(parse_ksm_mergeable("ksm_rmap_items 0\nksm_merge_any: no\nksm_mergeable: no\n"));
    EXPECT_FALSE(parse_ksm_mergeable(""));
}

TEST(MemUsage, StatusField) {
    EXPECT_EQ(parse_status_kb("Name:\tx\nVmHWM:\t   2048 kB\nVmRSS:\t 1024 kB\n", "VmHWM"), 2048u);
    EXPECT_EQ(parse_status_kb("VmRSS:\t 1024 kB\n", "VmHWM"), 0u);
}

TEST(MemUsage, ReadsThisProcess) {
    auto m = read_process_memory(getpid());
    ASSERT_TRUE(m.has_value());
    EXPECT_GT(m->pss_kb, 0u);
    EXPECT_GE(m->rss_kb, m->pss_kb);
    EXPECT_FALSE(read_process_memory(-5).has_value());
}
