/* cfix: C functions for symbolization tests, inlined ones included. It prints the run-time
   addresses of two functions, then waits for stdin to close. */
#include <stdio.h>
#include <unistd.h>

__attribute__((noinline)) int leaf_c(int x) { return x * 3 + 1; }

/* inner_c is inlined into middle_c, which is inlined into caller_c. */
static inline __attribute__((always_inline)) int inner_c(int x) {
	volatile int v = x;
	return v * v + leaf_c(v);
}
static inline __attribute__((always_inline)) int middle_c(int x) {
	volatile int w = inner_c(x + 1);
	return w + leaf_c(w);
}
__attribute__((noinline)) int caller_c(int x) { return middle_c(x) + 2; }

int main(void) {
	printf("%lx leaf_c\n%lx caller_c\nready\n", (unsigned long)&leaf_c, (unsigned long)&caller_c);
	fflush(stdout);
	char buf[64];
	while (read(0, buf, sizeof buf) > 0) {}
	return caller_c(1) == 0;
}
