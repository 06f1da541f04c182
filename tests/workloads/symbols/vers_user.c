// Calls vfn N times: the default version (vfn@@V2), or with -DOLD_VERSION the old one (vfn@V1),
// as a program linked before V2 existed would. Prints the version the calls returned.
#include <stdio.h>
#include <stdlib.h>

#ifdef OLD_VERSION
__asm__(".symver vfn,vfn@V1");
#endif
int vfn(int x);

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000;
	int version = 0;
	for (long i = 0; i < n; i++)
		version = vfn((int)i);
	printf("vfn_calls=%ld version=%d\n", n, version);
	return 0;
}
