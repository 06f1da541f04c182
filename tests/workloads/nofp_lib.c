// The shared-library half of nofp_target's call chain, built like Debian's libraries: without
// frame pointers, so only its .eh_frame says where each caller's frame is.
#include <stdint.h>

#include "nofp_lib.h"

// Big enough locals that each frame moves the stack pointer, as real code does.
__attribute__((noinline, visibility("default"))) uint64_t nofp_lib_middle(uint64_t n, uint64_t (*next)(uint64_t))
{
	volatile uint64_t scratch[24];

	for (int i = 0; i < 24; i++)
		scratch[i] = n + (uint64_t)i;
	return next(n) + scratch[n % 24];
}

__attribute__((noinline, visibility("default"))) uint64_t nofp_lib_leaf(uint64_t n)
{
	volatile uint64_t acc = n;

	for (uint64_t i = 0; i < 200000; i++)
		acc = acc * 6364136223846793005ull + 1442695040888963407ull;
	return acc;
}
