// Fixture for symbol resolution: plain C functions, a static one, and a way to print the
// bytes the loaded program really has at a function, so tests can check file offsets.
#include <stdio.h>
#include <string.h>

#define FIXTURE __attribute__((noinline, used))

int sym_lib_add(int a, int b);

FIXTURE int alpha(int x) { return x * 3 + 1; }
FIXTURE int beta_one(int x) { return alpha(x) + 2; }
FIXTURE int beta_two(int x) { return beta_one(x) - 5; }
FIXTURE static int local_helper(int x) { return x ^ 0x5a; }

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "code")) {
		/* The first 16 bytes of alpha as this process has them mapped. */
		const unsigned char *p = (const unsigned char *)(void *)alpha;
		for (int i = 0; i < 16; i++)
			printf("%02x", p[i]);
		printf("\n");
		return 0;
	}
	return beta_two(argc) + local_helper(argc) + sym_lib_add(argc, 1) > 1000;
}
