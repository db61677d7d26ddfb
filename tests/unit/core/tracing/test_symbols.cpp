// SPDX-License-Identifier: MIT
// Symbolisation: ELF symbol tables (a PIE built here), /proc/PID/maps, kallsyms, and a Symbolizer
// over a fake /proc whose process maps the PIE at an address of its own choosing.
#include "../../../temp_dir.h"
#include "core/host/proc.h"
#include "core/tracing/profiler.h"
#include "core/tracing/symbols.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace ht;

TEST(Symbols, ElfFunctionsOfAPieAreFoundByAddress) {
    auto elf = ElfSymbols::load(HT_SPIN_CHILD);
    ASSERT_TRUE(elf.has_value());
    const ElfSymbol* leaf = elf->by_name("ht_spin_leaf");
    ASSERT_NE(leaf, nullptr);
    EXPECT_GT(leaf->size, 0u);
    const ElfSymbol* inside = elf->find(leaf->addr + leaf->size / 2);
    ASSERT_NE(inside, nullptr);
    EXPECT_EQ(inside->name, "ht_spin_leaf");
    auto off = elf->offset_of_vaddr(leaf->addr);
    ASSERT_TRUE(off.has_value());
    EXPECT_EQ(elf->vaddr_of_offset(*off), leaf->addr);
    EXPECT_FALSE(ElfSymbols::parse("not an ELF file at all, just text").has_value());
}

TEST(Symbols, ExecMappingsOnlyWithTheirFileIdentity) {
    auto m = parse_exec_mappings(
        "55d0c0a00000-55d0c0a01000 r--p 00000000 08:01 1234 /usr/bin/x\n"
        "55d0c0a01000-55d0c0a05000 r-xp 00001000 08:01 1234 /usr/bin/x\n"
        "7f0000000000-7f0000001000 r-xp 00000000 00:00 0 [vdso]\n"
        "7f0000002000-7f0000003000 rw-p 00000000 00:00 0\n");
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m[0].start, 0x55d0c0a01000u);
    EXPECT_EQ(m[0].end, 0x55d0c0a05000u);
    EXPECT_EQ(m[0].offset, 0x1000u);
    EXPECT_EQ(m[0].dev_inode, "08:01:1234");
    EXPECT_EQ(m[0].path, "/usr/bin/x");
    EXPECT_EQ(m[1].path, "[vdso]");
    EXPECT_EQ(m[1].dev_inode, "");
}

TEST(Symbols, KallsymsTextSymbolsWithModules) {
    auto k = KernelSymbols::parse(
        "ffffffff81000000 T _stext\n"
        "ffffffff81000100 t helper\n"
        "ffffffff81200000 D some_data\n"
        "ffffffffc0001000 t kvm_thing\t[kvm]\n"
        "0000000000000000 T hidden\n");
    EXPECT_EQ(k.size(), 3u);
    EXPECT_EQ(k.name(0xffffffff81000050), "_stext");
    EXPECT_EQ(k.name(0xffffffff81000180), "helper");
    EXPECT_EQ(k.name(0xffffffffc0001010), "kvm_thing [kvm]");
    EXPECT_EQ(k.name(0x1000), "[kernel]");
}

TEST(Symbols, SymbolizerResolvesAPieLoadedAnywhere) {
    auto elf = ElfSymbols::load(HT_SPIN_CHILD);
    ASSERT_TRUE(elf.has_value());
    const ElfSymbol* leaf = elf->by_name("ht_spin_leaf");
    ASSERT_NE(leaf, nullptr);
    const uint64_t file_off = *elf->offset_of_vaddr(leaf->addr);
    const uint64_t pgoff = file_off & ~0xfffULL;
    const uint64_t base = 0x5600dead0000ULL;  // where this "process" mapped that page

    const TestTempDir tmp("/tmp/ht-sym-XXXXXX");
    const std::filesystem::path root = tmp.path;
    std::filesystem::create_directories(root / "4242");
    std::filesystem::create_directory_symlink("/", root / "4242" / "root");  // no map_files: resolve by path
    char line[512];
    std::snprintf(line, sizeof line, "%lx-%lx r-xp %08lx 08:01 77 %s\n", (unsigned long)base,
                  (unsigned long)(base + 0x10000), (unsigned long)pgoff, HT_SPIN_CHILD);
    std::ofstream(root / "4242" / "maps") << line;

    Symbolizer s(root.string());
    ASSERT_TRUE(s.snapshot(4242));
    EXPECT_FALSE(s.snapshot(4243)) << "no such process";
    const uint64_t ip = base + (file_off - pgoff) + 4;
    EXPECT_EQ(s.user_frame(4242, ip), "ht_spin_leaf");
    EXPECT_EQ(s.user_frame(4242, base + 0x20000), "[unknown]") << "outside every mapping";
    EXPECT_EQ(s.user_frame(4243, ip), "[unknown]");
}

TEST(Symbols, DemanglesCppOnly) {
    EXPECT_EQ(demangle("_ZN2ht3fooEv"), "ht::foo()");
    EXPECT_EQ(demangle("main"), "main");
    EXPECT_EQ(demangle("_Znotvalid"), "_Znotvalid");
}

TEST(Symbols, CpuListsAsTheKernelWritesThem) {
    EXPECT_EQ(parse_cpu_list("0-3,5\n"), (std::vector<int>{0, 1, 2, 3, 5}));
    EXPECT_EQ(parse_cpu_list("0\n"), (std::vector<int>{0}));
    EXPECT_TRUE(parse_cpu_list("").empty());
    // Not CPU numbers: negative (these went to perf_event_open as CPU ids), reversed, beyond
    // NR_CPUS, a range with no end.
    EXPECT_EQ(parse_cpu_list("-1,3-2,9000,4-,1-2,2147483647-2147483999"), (std::vector<int>{1, 2}));
}
