// SPDX-License-Identifier: MIT
// A process whose CPU time is spent in known functions (frame pointers kept, built as PIE like
// Debian's binaries): spin_child SECONDS. ht_spin_outer -> ht_spin_middle -> ht_spin_leaf.
// ht_spin_leaf calls ht_spin_tick so that it is no leaf: GCC 12 gives leaf functions no frame
// whatever -mno-omit-leaf-frame-pointer says, and a frame-pointer unwinder then loses the caller
// of the function it was sampled in.
#include <stdlib.h>
#include <time.h>

volatile unsigned long sink;

__attribute__((noinline)) void ht_spin_tick(void) { sink ^= 2; }

__attribute__((noinline)) void ht_spin_leaf(unsigned long n) {
    for (unsigned long i = 0; i < n; ++i) sink += i * i;
    ht_spin_tick();
    sink ^= 1;
}

__attribute__((noinline)) void ht_spin_middle(unsigned long n) {
    ht_spin_leaf(n);
    sink ^= 1;
}

__attribute__((noinline)) void ht_spin_outer(double seconds) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do {
        ht_spin_middle(100000);
        clock_gettime(CLOCK_MONOTONIC, &b);
    } while ((double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9 < seconds);
}

int main(int argc, char** argv) {
    ht_spin_outer(argc > 1 ? atof(argv[1]) : 1.0);
    return 0;
}
