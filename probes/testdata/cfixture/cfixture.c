/* cfixture: the probe tests' C target. Prints "ready", waits for a line on
 * stdin, calls cwork() N times (each also calls malloc and free), prints
 * "done <sum>" and waits for stdin to close. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((noinline)) int cwork(const char *name, int n)
{
	char *p = malloc(64 + (n & 7));
	int r;
	if (!p)
		return -1;
	strcpy(p, name);
	r = (int)strlen(p) + n;
	free(p);
	return r;
}

__attribute__((noinline)) int cslow(int ms)
{
	usleep(ms * 1000);
	return ms;
}

int main(int argc, char **argv)
{
	char line[64];
	int n = argc > 1 ? atoi(argv[1]) : 100;
	long sum = 0;
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof line, stdin))
		return 1;
	for (int i = 0; i < n; i++)
		sum += cwork("cfixture", i);
	sum += cslow(5);
	printf("done %ld\n", sum);
	fflush(stdout);
	while (fgets(line, sizeof line, stdin))
		;
	return 0;
}
