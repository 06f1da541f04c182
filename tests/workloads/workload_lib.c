// A shared library with a function the tests probe through `-f libworkload_lib:...`.
#include <stdint.h>

__attribute__((noinline, noclone, visibility("default"))) uint64_t workload_lib_call(uint64_t x)
{
	__asm__ volatile("" : "+r"(x) : : "memory"); /* keep the call and its body */
	return x * 2654435761u + 1;
}
