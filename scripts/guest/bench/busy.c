// SPDX-License-Identifier: MIT
// ht-busy: the paper's background load for hypetrace density: every guest but the measured one
// "increments an integer in a while loop", forever (stop it with a signal). The counter is volatile
// so the compiler keeps the load and store of every iteration. Built statically.
int main(void)
{
	volatile unsigned long counter = 0;

	while (1)
		counter++;
}
