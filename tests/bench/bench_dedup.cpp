// SPDX-License-Identifier: MIT
// Issue 4's scan-rate benchmark, in parts, so the scan's overhead over the hash can be read:
//   1. XXH3 over a buffer of our own (the hash alone),
//   2. process_vm_readv of a child's memory into a buffer (the copy alone),
//   3. hypetrace's scan of that child: pagemap + copy + hash + index (build_page_index),
//   4. collapse + classify of that index,
// and the index's bytes per page. The child holds SIZE MiB of random, pairwise-duplicated pages.
// Usage: ht_bench_dedup [SIZE_MIB]   (root: pagemap PFNs and kpageflags)
#include "core/base/clock.h"
#include "core/memscan/dedup.h"
#include "core/memscan/dedup_scan.h"
#include "core/memscan/pagescan.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>
#include <xxhash.h>

using namespace ht;

int main(int argc, char** argv) {
    const uint64_t mib = argc > 1 ? strtoull(argv[1], nullptr, 10) : 1024;
    const uint64_t bytes = mib << 20, pages = bytes / 4096;
    char* mem = static_cast<char*>(mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (mem == MAP_FAILED) return 1;
    madvise(mem, bytes, MADV_NOHUGEPAGE);
    uint64_t x = 88172645463325252ull;
    for (uint64_t p = 0; p < pages; ++p) {  // every content twice: half the pages duplicate the other half
        const uint64_t tag = p / 2;
        uint64_t* w = reinterpret_cast<uint64_t*>(mem + p * 4096);
        x = tag * 0x9E3779B97F4A7C15ull + 1;
        for (int i = 0; i < 512; ++i) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w[i] = x;
        }
    }
    int ready[2];
    if (pipe(ready) != 0) return 1;
    pid_t child = fork();
    if (child == 0) {  // the child dirties its own copy, so every page is its own frame
        for (uint64_t p = 0; p < pages; ++p) mem[p * 4096 + 4095] ^= 0;
        for (uint64_t p = 0; p < pages; ++p) {
            volatile char* c = mem + p * 4096;
            c[0] = c[0];
        }
        char b = 1;
        (void)!write(ready[1], &b, 1);
        for (;;) pause();
    }
    char b;
    (void)!read(ready[0], &b, 1);

    // 1. hash alone
    uint64_t t0 = mono_ns(), sink = 0;
    for (uint64_t p = 0; p < pages; ++p) sink ^= XXH3_64bits(mem + p * 4096, 4096);
    const double hash_s = double(mono_ns() - t0) / 1e9;
    // 2. copy alone (process_vm_readv, 1 MiB at a time)
    std::vector<char> buf(1 << 20);
    t0 = mono_ns();
    for (uint64_t off = 0; off < bytes; off += buf.size()) {
        iovec l{buf.data(), buf.size()}, r{mem + off, buf.size()};
        if (process_vm_readv(child, &l, 1, &r, 1, 0) < 0) break;
        sink ^= uint64_t(buf[7]);
    }
    const double copy_s = double(mono_ns() - t0) / 1e9;
    // 3. + 4. hypetrace's scan of the child, then collapse and classify
    IndexSources src;
    src.guest = {child};
    src.host = false;
    IndexStats st;
    std::vector<PageRef> refs = build_page_index(src, &st);
    const uint64_t entries = refs.size(), index_bytes = refs.capacity() * sizeof(PageRef);
    t0 = mono_ns();
    collapse_frames(refs, kpage_reader());
    DedupTable t = classify_frames(refs, {}, KsmModel{});
    const double classify_s = double(mono_ns() - t0) / 1e9;
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);

    const double gb = double(bytes) / 1e9;
    printf("pages in the child:              %llu (%.2f GB, half of them duplicates)\n", (unsigned long long)pages, gb);
    printf("XXH3 alone:                      %6.2f GB/s\n", gb / hash_s);
    printf("process_vm_readv alone:          %6.2f GB/s\n", gb / copy_s);
    printf("scan (pagemap+copy+hash+index):  %6.2f GB/s  (%.3f s, %llu pages)\n", double(st.bytes()) / 1e9 / st.scan_s,
           st.scan_s, (unsigned long long)entries);
    printf("collapse + classify:             %6.3f s\n", classify_s);
    printf("scan and classify:               %6.2f GB/s   target >= 2 GB/s: %s\n",
           double(st.bytes()) / 1e9 / (st.scan_s + classify_s),
           double(st.bytes()) / 1e9 / (st.scan_s + classify_s) >= 2 ? "met" : "MISSED");
    printf("index:                           %6.2f B/page  target <= 16 B/page: %s\n",
           double(index_bytes) / double(entries), double(index_bytes) / double(entries) <= 16.0 ? "met" : "MISSED");
    printf("check: within-guest duplicates %llu of %llu pages (expect about half)%s\n",
           (unsigned long long)t.row_total(kWithin), (unsigned long long)t.frames, sink == 42 ? " " : "");
    return 0;
}
