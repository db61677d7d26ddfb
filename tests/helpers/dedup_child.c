// SPDX-License-Identifier: MIT
// Test helper for `hypetrace dedup`: a process whose duplicate pages are known exactly.
// Usage: dedup_child SEED DIR SAME FILEPAIRS ANONFILE ZERO DISTINCT
//   SAME      anonymous pages all with one content (registered with KSM: MADV_MERGEABLE)
//   FILEPAIRS files DIR/a and DIR/b with the same FILEPAIRS distinct pages, both mapped shared
//   ANONFILE  file DIR/c with ANONFILE distinct pages, mapped, and an anonymous copy of each
//   ZERO      anonymous pages written with zeros
//   DISTINCT  anonymous pages each with its own content
// and, whatever the arguments, 3 anonymous pages only ever read: each maps the kernel's zero page.
// Every content is derived from SEED, so two helpers with the same seed hold the same pages and
// nothing else on the host does. Prints the address range of each region ("LO HI" in hex, one
// line each, then "ready") and sleeps until killed.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static long psz;

static void fill(char *page, unsigned long seed, unsigned long kind, unsigned long i) {
	uint64_t x = seed * 0x9E3779B97F4A7C15ull ^ kind * 0xC2B2AE3D27D4EB4Full ^ (i + 1) * 0x165667B19E3779F9ull;
	for (long o = 0; o < psz; o += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(page + o, &x, 8);
	}
}

static char *anon(long pages) {
	char *p = mmap(NULL, pages * psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		exit(10);
	madvise(p, pages * psz, MADV_NOHUGEPAGE);
	return p;
}

static char *file_map(const char *dir, const char *name, unsigned long seed, unsigned long kind, long pages) {
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		exit(11);
	char *buf = malloc(psz);
	for (long i = 0; i < pages; i++) {
		fill(buf, seed, kind, i);
		if (write(fd, buf, psz) != psz)
			exit(12);
	}
	free(buf);
	char *p = mmap(NULL, pages * psz, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		exit(13);
	close(fd);
	volatile char sink = 0;
	for (long i = 0; i < pages; i++)
		sink = p[i * psz];  // map every page
	(void)sink;
	return p;
}

static void show(const char *p, long pages) { printf("%lx %lx\n", (unsigned long)p, (unsigned long)(p + pages * psz)); }

int main(int argc, char **argv) {
	if (argc != 8)
		return 2;
	psz = sysconf(_SC_PAGESIZE);
	unsigned long seed = strtoul(argv[1], NULL, 0);
	const char *dir = argv[2];
	long same = atol(argv[3]), pairs = atol(argv[4]), anonfile = atol(argv[5]), zero = atol(argv[6]),
	     distinct = atol(argv[7]);
	long one = 1;

	char *s = anon(same ? same : one);
	madvise(s, (same ? same : one) * psz, MADV_MERGEABLE);
	for (long i = 0; i < same; i++)
		fill(s + i * psz, seed, 1, 0);
	char *fa = file_map(dir, "a", seed, 2, pairs ? pairs : one);
	char *fb = file_map(dir, "b", seed, 2, pairs ? pairs : one);
	char *fc = file_map(dir, "c", seed, 3, anonfile ? anonfile : one);
	char *ac = anon(anonfile ? anonfile : one);
	for (long i = 0; i < anonfile; i++)
		memcpy(ac + i * psz, fc + i * psz, psz);
	char *z = anon(zero ? zero : one);
	for (long i = 0; i < zero; i++) {
		z[i * psz] = 1;  // a real frame, then zeros
		z[i * psz] = 0;
	}
	char *r = anon(3);
	volatile char rsink = 0;
	for (long i = 0; i < 3; i++)
		rsink += r[i * psz];  // a read fault maps the zero page
	(void)rsink;
	char *d = anon(distinct ? distinct : one);
	for (long i = 0; i < distinct; i++)
		fill(d + i * psz, seed, 4, i);
	show(s, same);
	show(fa, pairs);
	show(fb, pairs);
	show(fc, anonfile);
	show(ac, anonfile);
	show(z, zero);
	show(d, distinct);
	show(r, 3);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
