// SPDX-License-Identifier: MIT
#include "core/memscan/pagescan.h"

#include <cstring>
#include <gtest/gtest.h>

using namespace ht;

TEST(PageScan, ParsesMapsLines) {
    auto m = parse_maps(
        "55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0                          [heap]\n"
        "7f1c2a000000-7f1c2a200000 r-xp 00002000 fe:00 1234                       /usr/lib/x86_64-linux-gnu/libc.so.6\n"
        "7f1c2b000000-7f1c2b400000 rw-p 00000000 00:00 0 \n"
        "7f1c2c000000-7f1c2c001000 r--s 00000000 00:05 77                         /tmp/my file (deleted)\n");
    ASSERT_EQ(m.size(), 4u);
    EXPECT_EQ(m[0].path, "[heap]");
    EXPECT_TRUE(m[0].anonymous());
    EXPECT_EQ(m[1].perms, "r-xp");
    EXPECT_EQ(m[1].offset, 0x2000u);
    EXPECT_EQ(m[1].inode, 1234u);
    EXPECT_FALSE(m[1].anonymous());
    EXPECT_EQ(m[2].path, "");
    EXPECT_EQ(m[2].end - m[2].start, 0x400000u);
    EXPECT_EQ(m[3].path, "/tmp/my file (deleted)");
    EXPECT_TRUE(m[3].readable());
}

TEST(PageScan, DecodesPagemapBits) {
    PagemapEntry e = decode_pagemap((1ull << 63) | (1ull << 61) | (1ull << 56) | 0x12345);
    EXPECT_TRUE(e.present);
    EXPECT_TRUE(e.file_or_shared);
    EXPECT_TRUE(e.exclusive);
    EXPECT_FALSE(e.swapped);
    EXPECT_EQ(e.pfn, 0x12345u);
    PagemapEntry swapped = decode_pagemap((1ull << 62) | 0x777);
    EXPECT_FALSE(swapped.present);
    EXPECT_EQ(swapped.pfn, 0u);  // bits 0-54 are the swap entry then, not a PFN
}

TEST(PageScan, HashesContentAndSeesZeros) {
    alignas(4096) static char a[4096], b[4096], z[4096];
    memset(a, 7, sizeof a);
    memset(b, 7, sizeof b);
    memset(z, 0, sizeof z);
    EXPECT_EQ(page_hash(a), page_hash(b));
    b[4095] = 8;
    EXPECT_NE(page_hash(a), page_hash(b));
    EXPECT_TRUE(page_is_zero(z));
    EXPECT_FALSE(page_is_zero(a));
}
