// A shared library with a function the tests probe through `-f libworkload_lib:...`.
#include <stdint.h>

__attribute__((noinline, noclone, visibility("default"))) uint64_t workload_lib_call(uint64_t x)
{
	__asm__ volatile("" : "+r"(x) : : "memory"); /* keep the call and its body */
	return x * 2654435761u + 1;
}

/* Burns CPU inside the shared library, for stack sampling tests. */
__attribute__((noinline, noclone, visibility("default"))) uint64_t workload_lib_spin(uint64_t iterations)
{
	uint64_t x = 0;

	for (uint64_t i = 0; i < iterations; i++)
		__asm__ volatile("" : "+r"(x) : "r"(i) : "memory");
	return x;
}
