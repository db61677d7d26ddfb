// SPDX-License-Identifier: MIT
// Test helper: touches N fresh anonymous pages (one page fault each: THP disabled on the range),
// then forks a child that touches M pages, waits for it and exits with status 3.
// Usage: fault_child N M
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static void touch(long pages) {
	long psz = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, pages * psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		_exit(10);
	madvise(p, pages * psz, MADV_NOHUGEPAGE);
	for (long i = 0; i < pages; i++)
		p[i * psz] = 1;
}

int main(int argc, char **argv) {
	if (argc != 3)
		return 2;
	touch(atol(argv[1]));
	pid_t c = fork();
	if (c == 0) {
		touch(atol(argv[2]));
		_exit(0);
	}
	waitpid(c, NULL, 0);
	return 3;
}
