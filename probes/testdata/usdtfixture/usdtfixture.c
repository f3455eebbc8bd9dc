/* usdtfixture: a C target with a hand-written SystemTap SDT probe (no
 * sys/sdt.h needed): a NOP site, a .note.stapsdt note with .stapsdt.base,
 * and a semaphore in .probes. Prints "ready", waits for a line, fires
 * fixture:tick N times if the semaphore is raised, prints "done <fired>". */
#include <stdio.h>
#include <stdlib.h>

unsigned short fixture_tick_semaphore __attribute__((section(".probes"), used));
int fixture_global = 4242;

#define FIXTURE_TICK(i, big)                                                   \
	__asm__ __volatile__(                                                  \
		"990: nop\n"                                                   \
		".pushsection .note.stapsdt,\"?\",\"note\"\n"                  \
		".balign 4\n"                                                  \
		".4byte 992f-991f, 994f-993f, 3\n"                             \
		"991: .asciz \"stapsdt\"\n"                                    \
		"992: .balign 4\n"                                             \
		"993: .8byte 990b\n"                                           \
		".8byte _.stapsdt.base\n"                                      \
		".8byte fixture_tick_semaphore\n"                              \
		".asciz \"fixture\"\n"                                         \
		".asciz \"tick\"\n"                                            \
		".asciz \"-4@%[a0] 8@%[a1] -4@%[a2] -4@$7\"\n"                 \
		"994: .balign 4\n"                                             \
		".popsection\n"                                                \
		".pushsection .stapsdt.base,\"aG\",\"progbits\",.stapsdt.base,comdat\n" \
		".weak _.stapsdt.base\n"                                       \
		".hidden _.stapsdt.base\n"                                     \
		"_.stapsdt.base: .space 1\n"                                   \
		".size _.stapsdt.base, 1\n"                                    \
		".popsection\n"                                                \
		:                                                              \
		: [a0] "r"(i), [a1] "r"(big), [a2] "m"(fixture_global))

int main(int argc, char **argv)
{
	char line[64];
	int n = argc > 1 ? atoi(argv[1]) : 10, fired = 0;
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof line, stdin))
		return 1;
	for (int i = 0; i < n; i++) {
		long big = 1000000000000L + i;
		if (fixture_tick_semaphore) {
			FIXTURE_TICK(-i, big);
			fired++;
		}
	}
	printf("done %d\n", fired);
	fflush(stdout);
	while (fgets(line, sizeof line, stdin))
		;
	return 0;
}
