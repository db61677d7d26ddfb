// SPDX-License-Identifier: MIT
// ht-quantum: the CPU-bound "quantum" benchmark of hypetrace density (the paper's 462.libquantum):
// Shor's factoring of one number on libquantum's simulated quantum computer, single-threaded and
// deterministic (fixed seed: every run of the same arguments does the same work).
//   usage: ht-quantum [N [EXTRA_WIDTH]]     N odd, composite, not a prime power (default below)
// On success prints one line "N = P * Q (tries T, base X, period R, width W+E)" and exits 0; after
// MAX_TRIES failed runs of the quantum part it says so on stderr and exits 1 (2: bad arguments).
// Built statically (gcc -O2 -fopenmp -static ... -lquantum -lm) so it runs in any guest unchanged.
#include <limits.h>
#include <omp.h>
#include <quantum.h>
#include <stdio.h>
#include <stdlib.h>

enum { DEFAULT_N = 323, SEED = 2015, MAX_TRIES = 20, MAX_MULTIPLE = 4 };

static unsigned long long pow_mod(unsigned long long base, unsigned long long exp, unsigned long long mod)
{
	unsigned long long result = 1 % mod;
	base %= mod;
	while (exp) {
		if (exp & 1)
			result = result * base % mod;
		base = base * base % mod;
		exp >>= 1;
	}
	return result;
}

// 1 when n is a prime or a power of one prime (Shor's reduction needs two distinct prime factors).
static int prime_or_prime_power(int n)
{
	int p = 2;
	while (p * p <= n && n % p)
		p++;
	if (p * p > n)
		return 1;
	while (n % p == 0)
		n /= p;
	return n == 1;
}

static int parse_int(const char *text, long lo, long hi, const char *what)
{
	char *end;
	long v = strtol(text, &end, 10);
	if (*text == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "ht-quantum: %s must be an integer in [%ld, %ld], got '%s'\n", what, lo, hi, text);
		exit(2);
	}
	return (int)v;
}

// One run of the quantum part for base x: returns a candidate period (the denominator of the
// measured phase's best fraction), 0 when the measurement says nothing (phase 0), -1 on a failed
// measurement.
static int measure_period(int n, int x, int width, int swidth)
{
	quantum_reg reg = quantum_new_qureg(0, width);
	int scratch = 3 * swidth + 2;

	// Input register in uniform superposition; then f(a) = x^a mod n into the scratch bits, which
	// libquantum places below the input register.
	for (int i = 0; i < width; i++)
		quantum_hadamard(i, &reg);
	quantum_addscratch(scratch, &reg);
	quantum_exp_mod_n(n, x, width, swidth, &reg);

	// Measuring the output (bit 0 each time: a measured qubit leaves the register) collapses the
	// input register to a periodic superposition.
	for (int i = 0; i < scratch; i++)
		quantum_bmeasure(0, &reg);

	// Fourier transform; libquantum's leaves the bits in reverse order, so swap them back
	// (each swap three CNOTs).
	quantum_qft(width, &reg);
	for (int lo = 0, hi = width - 1; lo < hi; lo++, hi--) {
		quantum_cnot(lo, hi, &reg);
		quantum_cnot(hi, lo, &reg);
		quantum_cnot(lo, hi, &reg);
	}

	MAX_UNSIGNED c = quantum_measure(reg);
	quantum_delete_qureg(&reg);
	if (c == (MAX_UNSIGNED)-1)
		return -1;
	if (c == 0)
		return 0;

	// c / 2^width is close to k / r: the continued-fraction approximation yields r (or a divisor
	// of it when k and r share a factor).
	int num = (int)c, den = 1 << width;
	quantum_frac_approx(&num, &den, width);
	return den;
}

int main(int argc, char **argv)
{
	if (argc > 3) {
		fprintf(stderr, "usage: ht-quantum [N [EXTRA_WIDTH]]\n");
		return 2;
	}
	int n = argc > 1 ? parse_int(argv[1], 15, 1 << 12, "N") : DEFAULT_N;
	int extra = argc > 2 ? parse_int(argv[2], 0, 16, "EXTRA_WIDTH") : 0;
	if (n % 2 == 0 || prime_or_prime_power(n)) {
		fprintf(stderr, "ht-quantum: %d is even, a prime or a prime power: Shor's algorithm needs an odd "
				"number with two distinct prime factors\n", n);
		return 2;
	}

	// The input register holds n^2 (plus the extra precision bits), the output register n; exp_mod_n
	// needs 3 * swidth + 2 scratch bits, and all of it must fit one 64-bit basis state (and the
	// input register an int, for the fraction).
	int width = quantum_getwidth(n * n) + extra;
	int swidth = quantum_getwidth(n);
	if (width > 30 || width + 3 * swidth + 2 > 64) {
		fprintf(stderr, "ht-quantum: N=%d with extra width %d needs %d input qubits (at most 30) and %d in all "
				"(at most 64)\n", n, extra, width, width + 3 * swidth + 2);
		return 2;
	}

	// The paper's benchmark is single-threaded; libquantum's OpenMP loops stay on one thread.
	omp_set_num_threads(1);
	srand(SEED);

	for (int tries = 1; tries <= MAX_TRIES; tries++) {
		// A base coprime to n (a shared factor would give the answer without the quantum part, so
		// such a base is skipped: every try costs one full quantum run).
		int x;
		do
			x = 2 + rand() % (n - 3);
		while (quantum_gcd(n, x) != 1);

		int r = measure_period(n, x, width, swidth);
		if (r <= 0)
			continue;

		// The fraction may be in lower terms than k / r: accept the first small multiple of the
		// candidate that is a period of x.
		int period = 0;
		for (int m = 1; m <= MAX_MULTIPLE && !period; m++)
			if (pow_mod(x, (unsigned long long)m * r, n) == 1)
				period = m * r;
		if (!period || period % 2)
			continue;

		// x^(r/2) is a square root of 1 mod n; unless it is -1, gcd(x^(r/2) +- 1, n) splits n.
		int y = (int)pow_mod(x, period / 2, n);
		if (y == n - 1)
			continue;
		int f = quantum_gcd(n, y + 1);
		if (f == 1 || f == n)
			f = quantum_gcd(n, y - 1 + n);
		if (f == 1 || f == n)
			continue;

		int p = f < n / f ? f : n / f;
		printf("%d = %d * %d (tries %d, base %d, period %d, width %d+%d)\n", n, p, n / p, tries, x, period,
		       width - extra, extra);
		return 0;
	}
	fprintf(stderr, "ht-quantum: no factors of %d after %d tries\n", n, MAX_TRIES);
	return 1;
}
