// A function the kernel will not probe among ones it will, for the [bpf] tests: spin_locked
// starts with a LOCK-prefixed instruction, as glibc's pthread_spin_lock does. Probing
// 'spin_*' must skip it by name and time the others exactly.
//
//   lock_target N [wait]   calls spin_locked, spin_plain and spin_other N times each; with
//                          "wait", after a line arrives on stdin (the file is mapped first)
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define PROBED __attribute__((noinline, noclone, used))

volatile uint64_t spin_counter;

/* lock incl spin_counter(%rip); ret */
__attribute__((naked, noinline, used)) void spin_locked(void)
{
	__asm__ volatile("lock incl spin_counter(%rip)\n\tret");
}

PROBED void spin_plain(uint64_t i)
{
	spin_counter += i;
}

PROBED void spin_other(uint64_t i)
{
	spin_counter ^= i;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000;
	char line[16];

	if (argc > 2 && !fgets(line, sizeof(line), stdin))
		return 1;

	for (int i = 0; i < n; i++) {
		spin_locked();
		spin_plain((uint64_t)i);
		spin_other((uint64_t)i);
	}
	printf("spin_locked=%d spin_plain=%d spin_other=%d\n", n, n, n);
	return 0;
}
