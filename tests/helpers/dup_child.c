// SPDX-License-Identifier: MIT
// Test helper for the page scanner: one anonymous mapping (THP off) holding, in order,
//   SAME pages all filled with the byte 0xA5, DISTINCT pages each with its own content,
//   ZERO pages written with zeros (real frames, not the shared zero page),
// then prints "START PAGES\n" (hex address, page count) and sleeps until killed.
// Usage: dup_child SAME DISTINCT ZERO
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 4)
		return 2;
	long same = atol(argv[1]), distinct = atol(argv[2]), zero = atol(argv[3]);
	long psz = sysconf(_SC_PAGESIZE), n = same + distinct + zero;
	char *p = mmap(NULL, n * psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 10;
	madvise(p, n * psz, MADV_NOHUGEPAGE);
	for (long i = 0; i < same; i++)
		memset(p + i * psz, 0xA5, psz);
	for (long i = 0; i < distinct; i++) {
		char *q = p + (same + i) * psz;
		memset(q, 0x11, psz);
		memcpy(q, &i, sizeof i);
	}
	for (long i = 0; i < zero; i++) {
		char *q = p + (same + distinct + i) * psz;
		q[0] = 1;  // fault in a real frame, then make it zero
		q[0] = 0;
	}
	printf("%lx %ld\n", (unsigned long)p, n);
	fflush(stdout);
	for (;;)
		pause();
}
