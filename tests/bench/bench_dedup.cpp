// SPDX-License-Identifier: MIT
// Issue 4's scan-rate benchmark, in parts, so the scan's overhead over the hash can be read:
//   1. XXH3 over a buffer of our own (the hash alone),
//   2. process_vm_readv of a child's memory into a buffer (the copy alone),
//   3. hypetrace's scan of that child: pagemap + copy + hash + index (build_page_index), on one
//      thread and on every CPU,
//   4. collapse + classify of that index,
// and the index's bytes per page. The child holds SIZE MiB of random, pairwise-duplicated pages.
// The scan runs on one thread, then on every CPU (issue 18: at least 5 GB/s scanned and
// classified on 2 cores); each part REPEATS times, medians and ranges.
// Usage: ht_bench_dedup [SIZE_MIB] [REPEATS]   (root: pagemap PFNs and kpageflags)
#include "bench_stats.h"
#include "core/base/clock.h"
#include "core/host/host.h"
#include "core/memscan/dedup.h"
#include "core/memscan/dedup_scan.h"
#include "core/memscan/pagescan.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <string>
#include <vector>
#include <xxhash.h>

using namespace ht;

int main(int argc, char** argv) {
    const uint64_t mib = argc > 1 ? strtoull(argv[1], nullptr, 10) : 1024;
    const int repeats = argc > 2 ? std::max(1, atoi(argv[2])) : 7;
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

    // Each part REPEATS times, interleaved (this machine kind's memory speed varies from second to
    // second): medians and [min, max].
    std::vector<double> hash_gbs, copy_gbs, scan1_gbs, scan_gbs, collapse_ms, classify_ms, total_gbs;
    const double gb = double(bytes) / 1e9;
    uint64_t sink = 0, entries = 0, index_bytes = 0, within = 0, frames = 0;
    unsigned threads = 0;
    std::vector<char> buf(1 << 20);
    for (int rep = 0; rep < repeats; ++rep) {
        // 1. hash alone
        uint64_t t0 = mono_ns();
        for (uint64_t p = 0; p < pages; ++p) sink ^= XXH3_64bits(mem + p * 4096, 4096);
        hash_gbs.push_back(gb / (double(mono_ns() - t0) / 1e9));
        // 2. copy alone (process_vm_readv, 1 MiB at a time)
        t0 = mono_ns();
        for (uint64_t off = 0; off < bytes; off += buf.size()) {
            iovec l{buf.data(), buf.size()}, r{mem + off, buf.size()};
            if (process_vm_readv(child, &l, 1, &r, 1, 0) < 0) break;
            sink ^= uint64_t(buf[7]);
        }
        copy_gbs.push_back(gb / (double(mono_ns() - t0) / 1e9));
        // 3. hypetrace's scan of the child on one thread, then on every CPU; 4. collapse and classify
        IndexSources src;
        src.guest = {child};
        src.host = false;
        src.threads = 1;
        IndexStats one;
        (void)build_page_index(src, &one);
        scan1_gbs.push_back(double(one.bytes()) / 1e9 / one.scan_s);
        src.threads = 0;
        IndexStats st;
        std::vector<PageRef> refs = build_page_index(src, &st);
        threads = st.threads;
        scan_gbs.push_back(double(st.bytes()) / 1e9 / st.scan_s);
        entries = refs.size();
        index_bytes = refs.capacity() * sizeof(PageRef);
        t0 = mono_ns();
        collapse_frames(refs, kpage_reader());
        const double collapse_s = double(mono_ns() - t0) / 1e9;
        t0 = mono_ns();
        DedupTable t = classify_frames(refs, {}, KsmModel{});
        const double classify_s = double(mono_ns() - t0) / 1e9;
        collapse_ms.push_back(collapse_s * 1e3);
        classify_ms.push_back(classify_s * 1e3);
        total_gbs.push_back(double(st.bytes()) / 1e9 / (st.scan_s + collapse_s + classify_s));
        within = t.row_total(kWithin);
        frames = t.frames;
        std::fprintf(stderr, "  repeat %d/%d: scan and classify %.2f GB/s\n", rep + 1, repeats, total_gbs.back());
    }
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);

    auto fig = [](const std::vector<double>& v, const char* unit, int prec) {
        std::vector<double> s = v;
        std::sort(s.begin(), s.end());
        char out[96];
        std::snprintf(out, sizeof out, "%7.*f %s [%.*f, %.*f]", prec, ht_bench::median(v), unit, prec, s.front(), prec,
                      s.back());
        return std::string(out);
    };
    const HostInfo host = probe_host();
    printf("dedup scan of a child's %.2f GB (%llu pages, half of them duplicates), %d repeats, median [min, max]\n", gb,
           (unsigned long long)pages, repeats);
    printf("  on %s x%u, Linux %s\n", host.cpu_model.c_str(), host.cpus, host.kernel.c_str());
    printf("XXH3 alone, one thread:          %s\n", fig(hash_gbs, "GB/s", 2).c_str());
    printf("process_vm_readv alone, one:     %s\n", fig(copy_gbs, "GB/s", 2).c_str());
    printf("scan, one thread:                %s  (pagemap+copy+hash+index)\n", fig(scan1_gbs, "GB/s", 2).c_str());
    printf("scan, %u threads:                 %s  (x%.2f)\n", threads, fig(scan_gbs, "GB/s", 2).c_str(),
           ht_bench::median(scan_gbs) / ht_bench::median(scan1_gbs));
    printf("collapse (kpageflags as needed): %s\n", fig(collapse_ms, "ms", 1).c_str());
    printf("classify:                        %s\n", fig(classify_ms, "ms", 1).c_str());
    printf("scan and classify:               %s   target >= 5 GB/s: %s\n", fig(total_gbs, "GB/s", 2).c_str(),
           ht_bench::median(total_gbs) >= 5 ? "met" : "MISSED");
    printf("index:                           %7.2f B/page  target <= 16 B/page: %s\n",
           double(index_bytes) / double(entries), double(index_bytes) / double(entries) <= 16.0 ? "met" : "MISSED");
    printf("check: within-guest duplicates %llu of %llu frames (expect about half)%s\n", (unsigned long long)within,
           (unsigned long long)frames, sink == 42 ? " " : "");
    return 0;
}
