/* cspin: a C program that spends three quarters of its time in hot_a and a
   quarter in hot_b, both called from main. Built -O0 so that every function, leaves too, has a
   frame pointer. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

volatile unsigned long sink;

__attribute__((noinline)) void work(unsigned long n) {
	unsigned long s = 0;
	for (unsigned long i = 0; i < n; i++) s += i ^ (s >> 3);
	sink += s;
}
__attribute__((noinline)) void hot_a(void) { work(3000000); }
__attribute__((noinline)) void hot_b(void) { work(1000000); }

int main(int argc, char **argv) {
	double secs = argc > 1 ? atof(argv[1]) : 0;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		hot_a();
		hot_b();
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (secs > 0 && (t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 > secs) break;
	}
	return 0;
}
