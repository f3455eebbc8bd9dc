/* cfix: C functions for symbolization tests. It prints the run-time
   addresses of two functions, then waits for stdin to close. */
#include <stdio.h>
#include <unistd.h>

__attribute__((noinline)) int leaf_c(int x) { return x * 3 + 1; }
__attribute__((noinline)) int caller_c(int x) { return leaf_c(x) + 2; }

int main(void) {
	printf("%lx leaf_c\n%lx caller_c\nready\n", (unsigned long)&leaf_c, (unsigned long)&caller_c);
	fflush(stdout);
	char buf[64];
	while (read(0, buf, sizeof buf) > 0) {}
	return caller_c(1) == 0;
}
