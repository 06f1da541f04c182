// Fixture for copies of functions the compiler makes: a constant-propagated clone
// ("scaled.constprop.0") and a hot/cold split ("checked" + "checked.cold", code jumped to from
// inside checked, never called). Built by gcc -O2 whatever compiler the project uses.
#include <stdio.h>

int cxx_checked(int x);

__attribute__((cold, noinline)) void report(int x) { fprintf(stderr, "out of range: %d\n", x); }

/* Every caller passes factor 3, so gcc compiles a copy with the constant folded in. */
static __attribute__((noinline)) int scaled(int x, int factor) { return x * factor + 1; }

__attribute__((noinline)) int checked(int x)
{
	if (x < -1000000) {
		/* A call to a cold function makes this block cold: gcc moves it to checked.cold. */
		report(x);
		fprintf(stderr, "checked: giving up on %d\n", x);
		return -1;
	}
	return x * 2;
}

int main(int argc, char **argv)
{
	(void)argv;
	return scaled(argc, 3) + scaled(argc + 1, 3) + checked(argc) + cxx_checked(argc) > 100;
}
